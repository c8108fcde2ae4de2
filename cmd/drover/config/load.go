package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"math"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pelletier/go-toml/v2"
	"github.com/spf13/pflag"
	"github.com/spf13/viper"
	"go.yaml.in/yaml/v3"

	"github.com/droverha/drover/model"
)

// Options says where Load finds configuration besides the defaults.
type Options struct {
	// File is the config file. "" means the --config flag, else
	// DROVER_CONFIG, else /etc/drover/drover.yaml if it exists, else none.
	File string
	// Flags are the flags BindFlags registered; only changed flags count.
	// Nil means no flags.
	Flags *pflag.FlagSet
	// Env looks up environment variables; nil means os.LookupEnv.
	Env func(string) (string, bool)
	// Hostname gives the default node name; nil means os.Hostname.
	Hostname func() (string, error)
	// Interfaces gives the addresses, with their prefix lengths, of a
	// network interface of this host, or an error matching
	// ErrNoInterface when there is none of that name. Load asks it about
	// the interfaces of the VIP groups this node is a candidate for. Nil
	// means the host's own interfaces.
	Interfaces func(name string) ([]netip.Prefix, error)

	geteuid     func() int          // nil means os.Geteuid; tests pick root or not
	defaultFile string              // "" means /etc/drover/drover.yaml; tests point it elsewhere
	nameHash    func(string) uint32 // nil means droverNameHash; tests make names collide
}

// BindFlags registers the flags Load understands on fs, typically the root
// command's persistent flags. Every flag is a string (or a repeatable
// string) so that a bad value is reported by Load with the other problems,
// in the same words as a bad value from the file.
func BindFlags(fs *pflag.FlagSet) {
	fs.String("config", "", "config `file` (default $DROVER_CONFIG, else "+defaultFile+" if it exists)")
	for _, s := range settings {
		if s.flag == "" {
			continue
		}
		switch s.field(&Config{}).(type) {
		case *[]string, *[]Peer:
			fs.StringSlice(s.flag, nil, s.usage)
		default:
			fs.String(s.flag, "", s.usage)
		}
	}
}

// LoadFile validates the file at path on its own, as `drover config
// validate` does: no flags, and no DROVER_ environment variables. The
// file is checked for the host LoadFile runs on: the interfaces of the
// VIP groups its node is a candidate for must exist here.
func LoadFile(path string) (*Config, error) {
	return Load(Options{File: path, Env: func(name string) (string, bool) {
		if strings.HasPrefix(name, "DROVER_") {
			return "", false
		}
		return os.LookupEnv(name)
	}})
}

// Load layers defaults, the config file, the environment and flags, and
// validates the result. When anything is wrong the error is Problems,
// listing all of it.
func Load(o Options) (*Config, error) {
	if o.Env == nil {
		o.Env = os.LookupEnv
	}
	if o.Hostname == nil {
		o.Hostname = os.Hostname
	}
	if o.geteuid == nil {
		o.geteuid = os.Geteuid
	}
	if o.defaultFile == "" {
		o.defaultFile = defaultFile
	}
	if o.Interfaces == nil {
		o.Interfaces = hostInterfaces
	}
	if o.nameHash == nil {
		o.nameHash = droverNameHash
	}
	l := &loader{o: o, origins: map[string]origin{}, bad: map[string]bool{}, given: map[string]bool{}}
	v := viper.New()
	path, from := l.configFile()
	if path != "" {
		if ps := l.read(v, path, from); ps != nil {
			return nil, ps
		}
	}
	l.layer(v)
	c := &Config{File: path}
	l.decode(v, c)
	l.derive(c)
	l.validate(c)
	if len(l.problems) > 0 {
		return nil, l.sorted()
	}
	return c, nil
}

type originKind int

const (
	fromDefault originKind = iota
	fromFile
	fromEnv
	fromFlag
)

// origin is where a setting's value came from.
type origin struct {
	kind originKind
	name string // DROVER_X or --x
}

// loader is the state of one Load.
type loader struct {
	o        Options
	file     string
	lines    map[string]int    // YAML key path to line; nil for TOML and JSON
	origins  map[string]origin // by setting key; absent means default
	bad      map[string]bool   // keys and file sections already reported
	given    map[string]bool   // keys inside the file's list items that have a value, as "services[0].check.timeout"
	problems []problem
}

// configFile picks the config file and says who named it, for messages.
func (l *loader) configFile() (path, from string) {
	if l.o.File != "" {
		return l.o.File, ""
	}
	if f := l.flag("config"); f != nil && f.Changed {
		return f.Value.String(), "flag --config"
	}
	if p, ok := l.o.Env("DROVER_CONFIG"); ok && p != "" {
		return p, "env DROVER_CONFIG"
	}
	if _, err := os.Stat(l.o.defaultFile); !errors.Is(err, fs.ErrNotExist) {
		return l.o.defaultFile, ""
	}
	return "", ""
}

func (l *loader) flag(name string) *pflag.Flag {
	if l.o.Flags == nil || name == "" {
		return nil
	}
	return l.o.Flags.Lookup(name)
}

// read loads the file into v and checks its keys. The bytes are read once
// and given both to viper and to the line mapper, so lines match values.
func (l *loader) read(v *viper.Viper, path, from string) Problems {
	ext := strings.ToLower(strings.TrimPrefix(filepath.Ext(path), "."))
	if !slices.Contains([]string{"yaml", "yml", "toml", "json"}, ext) {
		return Problems{{Source: path, Reason: fmt.Sprintf("unsupported config file type %q: use .yaml, .yml, .toml or .json", ext)}}
	}
	data, err := os.ReadFile(path)
	if err != nil {
		reason := "cannot read config file: " + cause(err)
		if errors.Is(err, fs.ErrNotExist) {
			reason = "config file does not exist"
		}
		if from != "" {
			reason += " (named by " + from + ")"
		}
		return Problems{{Source: path, Reason: reason}}
	}
	v.SetConfigType(ext)
	if err := v.ReadConfig(bytes.NewReader(data)); err != nil {
		return parseProblems(path, ext, data, err)
	}
	l.file = path
	if ext == "yaml" || ext == "yml" {
		l.lines = yamlLines(data)
	}
	l.walk("", v.AllSettings())
	return nil
}

var yamlLineRE = regexp.MustCompile(`^line (\d+): (.*)$`)

// parseProblems turns a parser's error into problems with the line the
// parser names, if it names one.
func parseProblems(path, ext string, data []byte, err error) Problems {
	at := func(line int, reason string) Problem {
		src := path
		if line > 0 {
			src += ":" + strconv.Itoa(line)
		}
		return Problem{Source: src, Reason: oneLine(reason)}
	}
	switch ext {
	case "toml":
		var de *toml.DecodeError
		if errors.As(err, &de) {
			row, _ := de.Position()
			return Problems{at(row, "invalid TOML: "+strings.TrimPrefix(de.Error(), "toml: "))}
		}
	case "json":
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return Problems{at(lineAt(data, se.Offset), "invalid JSON: "+se.Error())}
		}
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return Problems{at(lineAt(data, te.Offset), "invalid JSON: the top level must be an object")}
		}
	default:
		var (
			msgs []string
			te   *yaml.TypeError
		)
		if errors.As(err, &te) {
			msgs = te.Errors
		} else if inner := errors.Unwrap(err); inner != nil {
			msgs = []string{strings.TrimPrefix(inner.Error(), "yaml: ")}
		}
		var ps Problems
		for _, msg := range msgs {
			line := 0
			if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
				line, _ = strconv.Atoi(m[1])
				msg = m[2]
			}
			if strings.HasSuffix(msg, "into map[string]interface {}") {
				msg = "the top level must be a mapping of keys"
			}
			ps = append(ps, at(line, "invalid YAML: "+msg))
		}
		if len(ps) > 0 {
			return ps
		}
	}
	return Problems{at(0, "cannot parse: "+err.Error())}
}

func lineAt(data []byte, offset int64) int {
	offset = min(max(offset, 0), int64(len(data)))
	return 1 + bytes.Count(data[:offset], []byte("\n"))
}

// walk records which settings the file sets, and reports keys that are
// not settings and sections that are not mappings.
func (l *loader) walk(prefix string, m map[string]any) {
	for _, k := range slices.Sorted(maps.Keys(m)) {
		path, val := join(prefix, k), m[k]
		switch {
		case isSetting(path):
			if val != nil {
				l.origins[path] = origin{kind: fromFile}
			}
			if items, ok := val.([]any); ok {
				l.walkItems(path, items, itemShapes[path])
			}
		case isSection(path):
			sub, ok := val.(map[string]any)
			switch {
			case val == nil:
			case ok:
				l.walk(path, sub)
			default:
				l.add(path, "expected a mapping, got "+describe(val))
			}
		default:
			l.add(path, unknownKey(nearest(prefix, k, children(prefix), true)))
		}
	}
}

// shape is the keys of the mappings in a list setting's items.
type shape struct {
	keys  []string
	lists map[string]shape // keys whose values are lists of mappings
	maps  map[string]shape // keys whose values are mappings
}

// itemShapes is read-only: the settings whose values are lists of
// mappings.
var itemShapes = map[string]shape{
	"bus.cluster.peers":   {keys: []string{"name", "route"}},
	"heartbeat.udp.peers": {keys: []string{"name", "addr"}},
	"vip_groups": {
		keys:  []string{"name", "interface", "addresses", "candidates", "preempt", "preempt_delay", "virtual_mac_id", "garp"},
		lists: map[string]shape{"candidates": {keys: []string{"node", "priority"}}},
		maps:  map[string]shape{"garp": {keys: []string{"count", "interval", "repeat_after", "refresh", "mode"}}},
	},
	"snmp.standalone.users": {keys: []string{"name", "auth_protocol", "auth_passphrase", "priv_protocol", "priv_passphrase"}},
	"snmp.receivers":        {keys: []string{"address", "version", "community", "user", "inform"}},
	"services": {
		keys: []string{"name", "address", "fwmark", "family", "protocol", "scheduler", "scheduler_flags", "persistence",
			"on_failure", "quorum", "hysteresis", "sorry_server", "check", "real_servers"},
		lists: map[string]shape{"real_servers": {
			keys: []string{"address", "weight", "forward", "node", "check"},
			maps: map[string]shape{"check": checkShape},
		}},
		maps: map[string]shape{
			"persistence":  {keys: []string{"timeout", "netmask"}},
			"sorry_server": {keys: []string{"address", "forward"}},
			"check":        checkShape,
		},
	},
}

// checkShape is the keys of a health check.
var checkShape = shape{keys: []string{"kind", "port", "interval", "timeout", "rise", "fall",
	"method", "path", "host", "status", "body_regex", "sni", "tls_skip_verify", "ca_file",
	"query_name", "query_type", "expect", "command"}}

// walkItems reports unknown keys in the mappings of a list. It runs on the
// file's lists even when the environment or a flag replaces them, as walk
// reports unknown keys whatever overrides them. Items that are not
// mappings are left to decode, which reports them if the file's list is
// used.
func (l *loader) walkItems(path string, items []any, sh shape) {
	if sh.keys == nil {
		return
	}
	for i, item := range items {
		if m, ok := item.(map[string]any); ok {
			l.walkKeys(fmt.Sprintf("%s[%d]", path, i), m, sh)
		}
	}
}

func (l *loader) walkKeys(at string, m map[string]any, sh shape) {
	for _, k := range slices.Sorted(maps.Keys(m)) {
		if slices.Contains(sh.keys, k) {
			if m[k] != nil {
				l.given[at+"."+k] = true
			}
			if sub, ok := sh.lists[k]; ok {
				items, _ := m[k].([]any)
				l.walkItems(at+"."+k, items, sub)
			}
			if sub, ok := sh.maps[k]; ok {
				if mm, ok := m[k].(map[string]any); ok {
					l.walkKeys(at+"."+k, mm, sub)
				}
			}
			continue
		}
		meant := nearest(at, k, sh.keys, false)
		l.add(at+"."+k, unknownKey(meant))
		if _, given := m[strings.TrimPrefix(meant, at+".")]; meant != "" && !given {
			l.bad[meant] = true // a misspelt name is not also missing
		}
	}
}

// layer gives viper the defaults, flags and environment. Viper reads the
// process environment itself, but Options.Env may be a test's map, so env
// values go in through Set; Set outranks flags in viper, hence only for
// keys that no flag gave.
func (l *loader) layer(v *viper.Viper) {
	for _, s := range settings {
		if s.def != nil {
			v.SetDefault(s.key, s.def)
		}
		if f := l.flag(s.flag); f != nil {
			_ = v.BindPFlag(s.key, f) // fails only for a nil flag
			if f.Changed {
				l.origins[s.key] = origin{fromFlag, "--" + s.flag}
				continue
			}
		}
		if s.env() == "" {
			continue
		}
		if val, ok := l.o.Env(s.env()); ok && val != "" {
			v.Set(s.key, val)
			l.origins[s.key] = origin{fromEnv, s.env()}
		}
	}
}

// report takes a problem with a value; suffix extends the key to a list
// item or one of its fields, as "[1].name".
type report func(suffix, reason string)

// under reports on a part of the value, as "[1]" or ".name".
func (bad report) under(part string) report {
	return func(suffix, reason string) { bad(part+suffix, reason) }
}

// decode converts each layered value to its field's type. Text from the
// environment or flags is parsed; a file's values must already have the
// right type, because YAML's guesses (0123 is a number, not a string) are
// better reported than repaired.
func (l *loader) decode(v *viper.Viper, c *Config) {
	for _, s := range settings {
		o := l.origins[s.key]
		if l.shadowed(s.key) {
			l.bad[s.key] = true
			continue
		}
		if o.kind == fromDefault && s.def == nil {
			continue
		}
		raw, text := v.Get(s.key), o.kind == fromEnv || o.kind == fromFlag
		bad := func(suffix, reason string) { l.add(s.key+suffix, reason) }
		switch p := s.field(c).(type) {
		case *string:
			*p = toString(raw, bad)
		case *bool:
			*p = toBool(raw, text, bad)
		case *int:
			*p = toInt(raw, text, bad)
		case *int64:
			*p = toBytes(raw, bad)
		case *time.Duration:
			*p = toDuration(raw, bad)
		case *[]string:
			*p = toList(raw, text, bad)
		case *[]Peer:
			*p = toPeers(raw, text, bad)
		case *[]UDPPeer:
			*p = toUDPPeers(raw, bad)
		case *[]VIPGroup:
			*p = toVIPGroups(raw, bad)
		case *[]model.VirtualService:
			*p = toServices(raw, bad)
		case *agentxSocket:
			toSocket(raw, p, bad)
		case *[]SNMPUser:
			*p = toSNMPUsers(raw, bad)
		case *[]SNMPReceiver:
			*p = toSNMPReceivers(raw, bad)
		}
	}
}

// shadowed says whether a section holding key was reported as not a
// mapping, so that key's value is meaningless.
func (l *loader) shadowed(key string) bool {
	for i := range len(key) {
		if key[i] == '.' && l.bad[key[:i]] {
			return true
		}
	}
	return false
}

// derive fills the defaults that depend on the host or on other values.
func (l *loader) derive(c *Config) {
	if !l.explicit("node") {
		c.Node = l.defaultNode()
	}
	if !l.explicit("data_dir") {
		c.DataDir = l.defaultDataDir()
	}
	if !l.explicit("heartbeat.suspect_after") {
		c.Heartbeat.SuspectAfter = suspectFactor * c.Heartbeat.Interval
	}
	if !l.explicit("snmp.sys_name") {
		c.SNMP.SysName = c.Node
	}
	if !l.explicit("cim.audit_file") && c.CIM.Listen != "" && c.DataDir != "" {
		c.CIM.AuditFile = filepath.Join(c.DataDir, defaultAuditFile)
	}
}

func (l *loader) explicit(key string) bool { return l.origins[key].kind != fromDefault }

func (l *loader) defaultNode() string {
	h, err := l.o.Hostname()
	if err != nil {
		l.add("node", fmt.Sprintf("cannot default to the hostname: %s; set node", oneLine(err.Error())))
		return ""
	}
	n := sanitiseHostname(h)
	if n == "" {
		l.add("node", fmt.Sprintf("cannot default to the hostname %q; set node", h))
	}
	return n
}

// sanitiseHostname makes a node name of a hostname's first label.
func sanitiseHostname(h string) string {
	h, _, _ = strings.Cut(h, ".")
	n := strings.Map(func(r rune) rune {
		if r < 0x80 && isNameByte(byte(r)) {
			return r
		}
		return '-'
	}, h)
	n = strings.TrimLeft(n, "-_")
	return n[:min(len(n), 63)]
}

func isNameByte(ch byte) bool {
	return 'a' <= ch && ch <= 'z' || 'A' <= ch && ch <= 'Z' || '0' <= ch && ch <= '9' || ch == '-' || ch == '_'
}

// defaultDataDir follows the XDG base directory spec for users other than
// root, which ignores relative XDG_STATE_HOME values.
func (l *loader) defaultDataDir() string {
	if l.o.geteuid() == 0 {
		return "/var/lib/drover"
	}
	if x, ok := l.o.Env("XDG_STATE_HOME"); ok && filepath.IsAbs(x) {
		return filepath.Join(x, "drover")
	}
	if h, ok := l.o.Env("HOME"); ok && filepath.IsAbs(h) {
		return filepath.Join(h, ".local", "state", "drover")
	}
	l.add("data_dir", "no default without HOME or XDG_STATE_HOME; set data_dir")
	return ""
}

// describe names a decoded value's type for "expected X, got Y".
func describe(v any) string {
	switch v.(type) {
	case nil:
		return "nothing"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case int, int64, uint64, float64:
		return "a number"
	case []any, []string:
		return "a list"
	case map[string]any:
		return "a mapping"
	case time.Time, toml.LocalDate, toml.LocalDateTime, toml.LocalTime:
		return "a date or time"
	default:
		return fmt.Sprintf("a %T", v)
	}
}

func toString(raw any, bad report) string {
	switch v := raw.(type) {
	case nil:
	case string:
		return v
	case bool, int, int64, uint64, float64:
		bad("", fmt.Sprintf("expected a string, got %s; put it in quotes", describe(v)))
	default:
		bad("", "expected a string, got "+describe(v))
	}
	return ""
}

func toBool(raw any, text bool, bad report) bool {
	switch v := raw.(type) {
	case nil:
	case bool:
		return v
	case string:
		if !text {
			bad("", "expected true or false, got a string")
			break
		}
		b, err := strconv.ParseBool(strings.TrimSpace(v))
		if err != nil {
			bad("", fmt.Sprintf("%q is not true or false", v))
		}
		return b
	default:
		bad("", "expected true or false, got "+describe(v))
	}
	return false
}

func toInt(raw any, text bool, bad report) int {
	switch v := raw.(type) {
	case nil:
	case int:
		return v
	case int64:
		if v >= math.MinInt && v <= math.MaxInt {
			return int(v)
		}
		bad("", fmt.Sprintf("%d is too large", v))
	case uint64:
		bad("", fmt.Sprintf("%d is too large", v))
	case float64:
		if v == math.Trunc(v) && math.Abs(v) < 1<<53 {
			return int(v)
		}
		bad("", fmt.Sprintf("%v is not a whole number", v))
	case string:
		if !text {
			bad("", "expected a whole number, got a string")
			break
		}
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil {
			bad("", fmt.Sprintf("%q is not a whole number", v))
		}
		return n
	default:
		bad("", "expected a whole number, got "+describe(v))
	}
	return 0
}

func toDuration(raw any, bad report) time.Duration {
	switch v := raw.(type) {
	case nil:
	case time.Duration:
		return v
	case string:
		s := strings.TrimSpace(v)
		if _, err := strconv.ParseFloat(s, 64); err == nil {
			bad("", fmt.Sprintf("%s needs a unit, e.g. 250ms", s))
			break
		}
		d, err := time.ParseDuration(s)
		if err != nil {
			bad("", fmt.Sprintf("%q is not a duration (e.g. 250ms, 2s, 1m)", v))
		}
		return d
	case int, int64, uint64, float64:
		bad("", fmt.Sprintf("%v needs a unit, e.g. 250ms", v))
	default:
		bad("", "expected a duration such as 250ms, got "+describe(v))
	}
	return 0
}

// toBytes reads a size: a number of bytes, or a string with a decimal
// (kB, MB, GB, TB) or binary (KiB, MiB, GiB, TiB) unit.
func toBytes(raw any, bad report) int64 {
	switch v := raw.(type) {
	case nil:
	case int64:
		return v
	case int:
		return int64(v)
	case uint64:
		bad("", fmt.Sprintf("%d is too large", v))
	case float64:
		if v == math.Trunc(v) && math.Abs(v) < 1<<53 {
			return int64(v)
		}
		bad("", fmt.Sprintf("%v is not a whole number of bytes", v))
	case string:
		n, err := parseSize(v)
		if err != "" {
			bad("", err)
		}
		return n
	default:
		bad("", "expected a size such as 256MiB, got "+describe(v))
	}
	return 0
}

func parseSize(s string) (int64, string) {
	num, unit := strings.TrimSpace(s), ""
	if i := strings.IndexFunc(num, func(r rune) bool { return (r < '0' || r > '9') && r != '.' }); i >= 0 {
		num, unit = num[:i], strings.TrimSpace(num[i:])
	}
	var mult float64
	switch strings.ToLower(unit) {
	case "", "b":
		mult = 1
	case "kb":
		mult = 1e3
	case "mb":
		mult = 1e6
	case "gb":
		mult = 1e9
	case "tb":
		mult = 1e12
	case "kib":
		mult = 1 << 10
	case "mib":
		mult = 1 << 20
	case "gib":
		mult = 1 << 30
	case "tib":
		mult = 1 << 40
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil || mult == 0 {
		return 0, fmt.Sprintf("%q is not a size (e.g. 256MiB, 1GiB, 500MB)", s)
	}
	if f *= mult; f >= math.MaxInt64 {
		return 0, fmt.Sprintf("%q is too large", s)
	}
	return int64(f), ""
}

func toList(raw any, text bool, bad report) []string {
	switch v := raw.(type) {
	case nil:
	case []string: // a repeatable flag
		return splitList(strings.Join(v, ","))
	case string:
		if text {
			return splitList(v)
		}
		bad("", "expected a list, got a string")
	case []any:
		// Items keep their index, even bad ones, so later problems
		// name the right item.
		out := make([]string, len(v))
		for i, item := range v {
			out[i] = toString(item, func(_, reason string) { bad(fmt.Sprintf("[%d]", i), reason) })
		}
		return out
	default:
		bad("", "expected a list, got "+describe(v))
	}
	return nil
}

// splitList splits comma-separated text, as in DROVER_BUS_EXTERNAL_URLS.
func splitList(s string) []string {
	var out []string
	for item := range strings.SplitSeq(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

// toPeers reads peers from a file's list of mappings (walkPeers has
// checked their keys), or from name=route text.
func toPeers(raw any, text bool, bad report) []Peer {
	var items []string
	switch v := raw.(type) {
	case nil:
		return nil
	case []string:
		items = splitList(strings.Join(v, ","))
	case string:
		if !text {
			bad("", "expected a list of peers (name and route), got a string")
			return nil
		}
		items = splitList(v)
	case []any:
		out := make([]Peer, len(v))
		for i, item := range v {
			at := fmt.Sprintf("[%d]", i)
			m, ok := item.(map[string]any)
			if !ok {
				bad(at, "expected a mapping with name and route, got "+describe(item))
				continue
			}
			out[i].Name = toString(m["name"], func(_, reason string) { bad(at+".name", reason) })
			out[i].Route = toString(m["route"], func(_, reason string) { bad(at+".route", reason) })
		}
		return out
	default:
		bad("", "expected a list of peers (name and route), got "+describe(v))
		return nil
	}
	out := make([]Peer, len(items))
	for i, item := range items {
		name, route, ok := strings.Cut(item, "=")
		if !ok {
			bad(fmt.Sprintf("[%d]", i), fmt.Sprintf("%q is not name=route", item))
		}
		out[i] = Peer{Name: strings.TrimSpace(name), Route: strings.TrimSpace(route)}
	}
	return out
}

// toUDPPeers reads the file's list of {name, addr}; walk has checked
// the items' keys.
func toUDPPeers(raw any, bad report) []UDPPeer {
	items, ok := raw.([]any)
	if !ok {
		if raw != nil {
			bad("", "expected a list of peers (name and addr), got "+describe(raw))
		}
		return nil
	}
	out := make([]UDPPeer, len(items))
	for i, item := range items {
		at := bad.under(fmt.Sprintf("[%d]", i))
		m, ok := item.(map[string]any)
		if !ok {
			at("", "expected a mapping with name and addr, got "+describe(item))
			continue
		}
		out[i].Name = toString(m["name"], at.under(".name"))
		out[i].Addr = toString(m["addr"], at.under(".addr"))
	}
	return out
}

func cause(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

// oneLine keeps a parser's message on the one line a problem gets.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

func join(prefix, k string) string {
	if prefix == "" {
		return k
	}
	return prefix + "." + k
}

func isSetting(key string) bool {
	return slices.ContainsFunc(settings, func(s setting) bool { return s.key == key })
}

func isSection(key string) bool {
	return slices.ContainsFunc(settings, func(s setting) bool { return strings.HasPrefix(s.key, key+".") })
}

// children lists the keys directly below section prefix ("" for the top).
func children(prefix string) []string {
	lead := ""
	if prefix != "" {
		lead = prefix + "."
	}
	var out []string
	for _, s := range settings {
		rest, ok := strings.CutPrefix(s.key, lead)
		if first, _, _ := strings.Cut(rest, "."); ok && !slices.Contains(out, first) {
			out = append(out, first)
		}
	}
	return out
}
