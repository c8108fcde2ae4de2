package config

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/spf13/pflag"

	"github.com/droverha/drover/internal/golden"
	"github.com/droverha/drover/model"
)

var update = flag.Bool("update", false, "rewrite golden files")

// testLoad loads like the agent would with a flag set parsed from args, an
// environment of env and a host named n1.example.com with testInterfaces,
// as root.
type testLoad struct {
	file     string
	env      map[string]string
	args     []string
	hostname func() (string, error)
	euid     int
	nameHash func(string) uint32 // nil: the real DroverNameHash
}

// testInterfaces is a host with eth0 on 192.0.2.1/24 and 2001:db8::1/64,
// eth1 with no addresses, and eth2 holding VIP 198.51.100.200/24 besides
// its own 192.0.2.1/24.
func testInterfaces(name string) ([]netip.Prefix, error) {
	switch name {
	case "eth0":
		return []netip.Prefix{netip.MustParsePrefix("192.0.2.1/24"), netip.MustParsePrefix("2001:db8::1/64")}, nil
	case "eth1":
		return nil, nil
	case "eth2":
		return []netip.Prefix{netip.MustParsePrefix("192.0.2.1/24"), netip.MustParsePrefix("198.51.100.200/24")}, nil
	}
	return nil, fmt.Errorf("%w: %s", ErrNoInterface, name)
}

// comparePrefixes lets cmp compare netip values, whose fields are
// unexported.
var comparePrefixes = cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })

func (tl testLoad) load(t *testing.T) (*Config, error) {
	t.Helper()
	fs := pflag.NewFlagSet("drover", pflag.ContinueOnError)
	BindFlags(fs)
	if err := fs.Parse(tl.args); err != nil {
		t.Fatalf("parsing %q: %v", tl.args, err)
	}
	hostname := tl.hostname
	if hostname == nil {
		hostname = func() (string, error) { return "n1.example.com", nil }
	}
	return Load(Options{
		File:  tl.file,
		Flags: fs,
		Env: func(name string) (string, bool) {
			v, ok := tl.env[name]
			return v, ok
		},
		Hostname:    hostname,
		Interfaces:  testInterfaces,
		geteuid:     func() int { return tl.euid },
		defaultFile: filepath.Join(t.TempDir(), "absent.yaml"),
		nameHash:    tl.nameHash,
	})
}

// defaults is what Load gives with nothing set, as root on n1.
func defaults() Config {
	return Config{
		Node:      "n1",
		Cluster:   "drover",
		DataDir:   "/var/lib/drover",
		Log:       Log{Level: "info", Format: "text"},
		Bus:       Bus{Listen: "127.0.0.1:4222", External: External{ExpectedNodes: 1}},
		Heartbeat: Heartbeat{Interval: 100 * time.Millisecond, SuspectAfter: 300 * time.Millisecond, DeadAfter: 700 * time.Millisecond},
		Election:  Election{LeaseTTL: 3 * time.Second},
		Events:    Events{MaxAge: 168 * time.Hour, MaxBytes: 256 << 20},
		Fence:     Fence{SelfFenceAfter: 400 * time.Millisecond},
		SNMP:      SNMP{AgentX: AgentX{Network: "unix", Address: "/var/agentx/master"}, SysName: "n1"},
	}
}

// defaultGARPs is what a VIP group without garp settings gets.
var defaultGARPs = GARP{Count: 3, Interval: 100 * time.Millisecond, RepeatAfter: 2 * time.Second, Mode: "both"}

// full is what testdata/full.yaml sets.
func full(c *Config) {
	c.File = "testdata/full.yaml"
	c.Node = "dir1"
	c.SNMP.SysName = "dir1"
	c.Cluster = "prod"
	c.Log.Format = "json"
	c.Bus.Cluster = BusCluster{Listen: "0.0.0.0:6222", Advertise: "192.0.2.1:6222", Peers: []Peer{
		{"dir1", "nats-route://192.0.2.1:6222"},
		{"dir2", "nats-route://192.0.2.2:6222"},
		{"dir3", "nats-route://192.0.2.3:6222"},
	}}
	c.Heartbeat.UDP = UDPHeartbeat{Listen: "192.0.2.1:6300", Peers: []UDPPeer{
		{"dir2", "192.0.2.2:6300"},
		{"dir3", "192.0.2.3:6300"},
	}}
	c.VIPGroups = []VIPGroup{{
		Name:         "web",
		Interface:    "eth0",
		Addresses:    []netip.Prefix{netip.MustParsePrefix("192.0.2.100/24"), netip.MustParsePrefix("2001:db8::100/64")},
		Candidates:   []Candidate{{"dir1", 200}, {"dir2", 100}},
		Preempt:      true,
		VirtualMACID: 1,
		GARP:         defaultGARPs,
	}}
	c.Services = []model.VirtualService{{
		Name:        "web",
		Protocol:    "tcp",
		Address:     netip.MustParseAddrPort("192.0.2.100:80"),
		Family:      "inet",
		Scheduler:   "wlc",
		Persistence: &model.Persistence{Timeout: 300 * time.Second, Netmask: 32},
		OnFailure:   model.OnFailureRemove,
		Check: model.Check{Kind: "http", Interval: 500 * time.Millisecond, Timeout: 500 * time.Millisecond, Rise: 2, Fall: 2,
			Method: "GET", Path: "/health"},
		RealServers: []model.RealServer{
			{Address: netip.MustParseAddrPort("198.51.100.11:80"), Weight: 1, Forward: model.ForwardDR},
			{Address: netip.MustParseAddrPort("198.51.100.12:80"), Weight: 2, Forward: model.ForwardDR},
		},
	}}
}

var threePeers = []Peer{
	{"n1", "nats-route://192.0.2.1:6222"},
	{"n2", "nats-route://192.0.2.2:6222"},
	{"n3", "nats-route://192.0.2.3:6222"},
}

func TestLoad(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   testLoad
		want func(c *Config)
	}{
		{"nothing set", testLoad{}, func(c *Config) {}},
		{"empty file", testLoad{file: "testdata/empty.yaml"}, func(c *Config) { c.File = "testdata/empty.yaml" }},
		{"full file", testLoad{file: "testdata/full.yaml"}, full},
		{"toml", testLoad{file: "testdata/full.toml"}, func(c *Config) {
			c.File = "testdata/full.toml"
			c.Cluster = "prod"
			c.Bus.Cluster = BusCluster{Listen: "0.0.0.0:6222", Peers: threePeers}
			c.Events.MaxBytes = 1 << 30
		}},
		{"json", testLoad{file: "testdata/full.json"}, func(c *Config) {
			c.File = "testdata/full.json"
			c.Heartbeat.Interval = 100 * time.Millisecond
			c.Heartbeat.SuspectAfter = 300 * time.Millisecond
			c.Bus.External = External{URLs: []string{"nats://192.0.2.10:4222"}, ExpectedNodes: 3}
		}},
		{"external with files relative to the config", testLoad{file: "testdata/external_ok.yaml"}, func(c *Config) {
			c.File = "testdata/external_ok.yaml"
			c.Bus.External = External{
				URLs:        []string{"tls://nats-1.example.com:4222", "tls://nats-2.example.com:4222"},
				Credentials: "testdata/external/drover.creds",
				TLS: TLS{
					CA:         "testdata/external/ca.pem",
					Cert:       "testdata/external/cert.pem",
					Key:        "testdata/external/key.pem",
					ServerName: "nats.example.com",
				},
				ExpectedNodes: 3,
			}
		}},
		{"env over file", testLoad{file: "testdata/full.yaml", env: map[string]string{
			"DROVER_LOG_FORMAT":           "TEXT",
			"DROVER_HEARTBEAT_INTERVAL":   "150ms",
			"DROVER_HEARTBEAT_UDP_LISTEN": "0.0.0.0:6300",
			"DROVER_EVENTS_MAX_BYTES":     "1GiB",
			"DROVER_SELF_FENCE_AFTER":     "300ms",
			"DROVER_NOT_A_KEY":            "ignored",
			"DROVER_CLUSTER":              "", // empty is unset
			"DROVER_VIP_GROUPS":           "ignored: file only",
			"DROVER_HEARTBEAT_UDP_PEERS":  "ignored: file only",
			"DROVER_SERVICES":             "ignored: file only",
		}}, func(c *Config) {
			full(c)
			c.Log.Format = "text"
			c.Heartbeat.Interval = 150 * time.Millisecond
			c.Heartbeat.UDP.Listen = "0.0.0.0:6300"
			c.Events.MaxBytes = 1 << 30
			c.Fence.SelfFenceAfter = 300 * time.Millisecond
		}},
		{"flags over env", testLoad{
			file: "testdata/full.yaml",
			// dir2 is among the UDP peers, so the file is wrong for it.
			env: map[string]string{"DROVER_NODE": "dir2", "DROVER_HEARTBEAT_INTERVAL": "fast", "DROVER_SELF_FENCE_AFTER": "1s"},
			args: []string{"--node=dir1", "--heartbeat-interval=50ms", "--dead-after=1s", "--log-level=debug",
				"--self-fence-after=800ms"},
		}, func(c *Config) {
			full(c)
			c.Log.Level = "debug"
			c.Heartbeat.Interval = 50 * time.Millisecond
			c.Heartbeat.DeadAfter = time.Second
			c.Fence.SelfFenceAfter = 800 * time.Millisecond
		}},
		{"vip groups: defaults, and host checks only where this node is a candidate", testLoad{file: "testdata/vip_elsewhere.yaml"}, func(c *Config) {
			c.File = "testdata/vip_elsewhere.yaml"
			c.Node = "dir1"
			c.SNMP.SysName = "dir1"
			c.VIPGroups = []VIPGroup{{
				Name:       "web",
				Interface:  "eth0",
				Addresses:  []netip.Prefix{netip.MustParsePrefix("192.0.2.100/24"), netip.MustParsePrefix("2001:db8::100/128")},
				Candidates: []Candidate{{"dir1", 100}, {"dir2", 50}},
				Preempt:    true,
				GARP:       defaultGARPs,
			}, {
				Name:       "db",
				Interface:  "bond9",
				Addresses:  []netip.Prefix{netip.MustParsePrefix("198.51.100.7/24")},
				Candidates: []Candidate{{"dir2", 100}, {"dir3", 100}},
				GARP:       GARP{Count: 5, Interval: 100 * time.Millisecond, RepeatAfter: 2 * time.Second, Refresh: time.Minute, Mode: "reply"},
			}}
		}},
		{"vip groups in toml", testLoad{file: "testdata/vip.toml"}, func(c *Config) {
			c.File = "testdata/vip.toml"
			c.Node = "dir1"
			c.SNMP.SysName = "dir1"
			c.VIPGroups = []VIPGroup{{
				Name:         "web",
				Interface:    "eth0",
				Addresses:    []netip.Prefix{netip.MustParsePrefix("192.0.2.100/24")},
				Candidates:   []Candidate{{"dir1", 200}},
				Preempt:      true,
				VirtualMACID: 3,
				GARP:         GARP{Count: 3, Interval: 50 * time.Millisecond, RepeatAfter: 2 * time.Second, Mode: "both"},
			}}
		}},
		{"self_fence_after without vip groups", testLoad{args: []string{"--self-fence-after=1s"}}, func(c *Config) {
			c.Fence.SelfFenceAfter = time.Second
		}},
		{"peers from env", testLoad{env: map[string]string{
			"DROVER_BUS_CLUSTER_LISTEN": ":6222",
			"DROVER_BUS_CLUSTER_PEERS":  "n1=192.0.2.1:6222, n2=nats://192.0.2.2:6222,n3=nats-route://192.0.2.3:6222",
		}}, func(c *Config) {
			c.Bus.Cluster = BusCluster{Listen: ":6222", Peers: threePeers}
		}},
		{"peers and urls from flags", testLoad{args: []string{
			"--peer", "n1=192.0.2.1:6222", "--peer", "n2=192.0.2.2:6222,n3=192.0.2.3:6222", "--cluster-listen", "[::]:6222",
			"--bus-listen", "[::1]:4222",
		}}, func(c *Config) {
			c.Bus.Listen = "[::1]:4222"
			c.Bus.Cluster = BusCluster{Listen: "[::]:6222", Peers: threePeers}
		}},
		{"external from flags and env", testLoad{
			env:  map[string]string{"DROVER_BUS_EXTERNAL_EXPECTED_NODES": "3", "DROVER_BUS_EXTERNAL_TLS_INSECURE_SKIP_VERIFY": "true"},
			args: []string{"--bus-url", "wss://nats.example.com/ws", "--bus-url", "nats://[2001:db8::1]:4222"},
		}, func(c *Config) {
			c.Bus.External = External{
				URLs:          []string{"wss://nats.example.com/ws", "nats://[2001:db8::1]:4222"},
				TLS:           TLS{InsecureSkipVerify: true},
				ExpectedNodes: 3,
			}
		}},
		{"config named by env", testLoad{env: map[string]string{"DROVER_CONFIG": "testdata/empty.yaml"}}, func(c *Config) {
			c.File = "testdata/empty.yaml"
		}},
		{"config named by flag", testLoad{args: []string{"--config", "testdata/empty.yaml"}}, func(c *Config) {
			c.File = "testdata/empty.yaml"
		}},
		{"hostname sanitised", testLoad{hostname: func() (string, error) { return "Web 01.example.com", nil }}, func(c *Config) {
			c.Node = "Web-01"
			c.SNMP.SysName = "Web-01"
		}},
		{"user with XDG_STATE_HOME", testLoad{euid: 1000, env: map[string]string{"XDG_STATE_HOME": "/home/u/state", "HOME": "/home/u"}}, func(c *Config) {
			c.DataDir = "/home/u/state/drover"
		}},
		{"user with a relative XDG_STATE_HOME", testLoad{euid: 1000, env: map[string]string{"XDG_STATE_HOME": "state", "HOME": "/home/u"}}, func(c *Config) {
			c.DataDir = "/home/u/.local/state/drover"
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.in.load(t)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			want := defaults()
			tc.want(&want)
			if diff := cmp.Diff(&want, got, comparePrefixes, compareAddrPorts); diff != "" {
				t.Errorf("Load (-want +got):\n%s", diff)
			}
		})
	}
}

func TestLoadDefaultFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "drover.yaml")
	if err := os.WriteFile(path, []byte("cluster: from-default-file\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := Load(Options{
		Env:         func(string) (string, bool) { return "", false },
		Hostname:    func() (string, error) { return "n1", nil },
		geteuid:     func() int { return 0 },
		defaultFile: path,
	})
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if c.File != path || c.Cluster != "from-default-file" {
		t.Errorf("Load gave File %q, Cluster %q; want %q, %q", c.File, c.Cluster, path, "from-default-file")
	}
}

// TestLoadFileIgnoresEnv loads a file without VIP groups, as LoadFile
// checks those against the host it runs on.
func TestLoadFileIgnoresEnv(t *testing.T) {
	t.Setenv("DROVER_NODE", "not a name")
	t.Setenv("DROVER_HEARTBEAT_INTERVAL", "fast")
	c, err := LoadFile("testdata/full.toml")
	if err != nil {
		t.Fatalf("LoadFile: %v", err)
	}
	if c.Node != "n1" || c.Heartbeat.Interval != 100*time.Millisecond {
		t.Errorf("LoadFile took the environment: node %q, interval %v", c.Node, c.Heartbeat.Interval)
	}
}

func TestLoadFileChecksHost(t *testing.T) {
	const ifname = "drover-absent0"
	if _, err := net.InterfaceByName(ifname); err == nil {
		t.Skipf("this host has an interface %s", ifname)
	}
	path := filepath.Join(t.TempDir(), "drover.yaml")
	data := "node: dir1\nvip_groups:\n  - name: web\n    interface: " + ifname +
		"\n    addresses: [192.0.2.100/24]\n    candidates: [{node: dir1}]\n"
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := LoadFile(path)
	want := path + `:4: vip_groups[0].interface: no interface "drover-absent0" on this host`
	if err == nil || err.Error() != want {
		t.Errorf("LoadFile = %v, want %q", err, want)
	}
}

func TestHostInterfaces(t *testing.T) {
	if _, err := hostInterfaces("drover-absent0"); !errors.Is(err, ErrNoInterface) || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("hostInterfaces(a missing interface) = %v, want ErrNoInterface", err)
	}
	lo, err := net.InterfaceByName("lo")
	if err != nil {
		t.Skipf("no lo: %v", err)
	}
	if addrs, err := lo.Addrs(); err != nil || !slices.ContainsFunc(addrs, func(a net.Addr) bool { return a.String() == "127.0.0.1/8" }) {
		t.Skipf("lo lacks 127.0.0.1/8: %v %v", addrs, err)
	}
	got, err := hostInterfaces("lo")
	if err != nil || !slices.Contains(got, netip.MustParsePrefix("127.0.0.1/8")) {
		t.Errorf("hostInterfaces(lo) = %v, %v; want 127.0.0.1/8 among them", got, err)
	}
}

func TestProblems(t *testing.T) {
	const nameRule = `use 1 to 63 letters, digits, '-' or '_', starting with a letter or digit`
	for _, tc := range []struct {
		name string
		in   testLoad
		want []string
	}{
		{"unknown keys", testLoad{file: "testdata/unknown.yaml"}, []string{
			`testdata/unknown.yaml:2: clustr: unknown key; did you mean cluster?`,
			`testdata/unknown.yaml:4: heartbeat.intervall: unknown key; did you mean heartbeat.interval?`,
			`testdata/unknown.yaml:6: listen: unknown key`,
			`testdata/unknown.yaml:13: bus.cluster.peers[1].nmae: unknown key; did you mean bus.cluster.peers[1].name?`,
			`testdata/unknown.yaml:15: bus.cluster.peers[1].weight: unknown key`,
			`testdata/unknown.yaml:18: frobnicate: unknown key`,
		}},
		{"unknown key in json", testLoad{file: "testdata/unknown.json"}, []string{
			`testdata/unknown.json: nod: unknown key; did you mean node?`,
			`testdata/unknown.json: bus.external.expected_nodes: 2.5 is not a whole number`,
		}},
		{"wrong types", testLoad{file: "testdata/types.yaml"}, []string{
			`testdata/types.yaml:1: node: expected a string, got a list`,
			`testdata/types.yaml:2: cluster: expected a string, got a number; put it in quotes`,
			`testdata/types.yaml:3: log: expected a mapping, got a string`,
			`testdata/types.yaml:6: bus.external.urls: expected a list, got a string`,
			`testdata/types.yaml:7: bus.external.expected_nodes: expected a whole number, got a string`,
			`testdata/types.yaml:9: bus.external.tls.insecure_skip_verify: expected true or false, got a string`,
			`testdata/types.yaml:11: heartbeat.interval: expected a duration such as 250ms, got a mapping`,
			`testdata/types.yaml:14: events.max_bytes: expected a size such as 256MiB, got a boolean`,
			`testdata/types.yaml:15: self_fence_after: 1 needs a unit, e.g. 250ms`,
			`testdata/types.yaml:16: vip_groups: expected a list of VIP groups, got a string`,
		}},
		{"section not a mapping", testLoad{file: "testdata/sections.yaml"}, []string{
			`testdata/sections.yaml:2: bus: expected a mapping, got a string`,
			`testdata/sections.yaml:4: heartbeat.interval: 1s makes heartbeat.suspect_after 3s, which must be shorter than heartbeat.dead_after (700ms); set those too`,
		}},
		{"durations and sizes", testLoad{file: "testdata/durations.yaml"}, []string{
			`testdata/durations.yaml:2: heartbeat.interval: 5ms is out of range (10ms..10s)`,
			`testdata/durations.yaml:3: heartbeat.suspect_after: 750 needs a unit, e.g. 250ms`,
			`testdata/durations.yaml:4: heartbeat.dead_after: "fast" is not a duration (e.g. 250ms, 2s, 1m)`,
			`testdata/durations.yaml:6: election.lease_ttl: 2m is out of range (500ms..1m)`,
			`testdata/durations.yaml:8: events.max_age: 30s is out of range (1m..87600h)`,
			`testdata/durations.yaml:9: events.max_bytes: 1000 bytes is out of range (at least 1MiB)`,
		}},
		{"timing relations", testLoad{file: "testdata/relations.yaml"}, []string{
			`testdata/relations.yaml:3: heartbeat.suspect_after: 400ms must be longer than heartbeat.interval (500ms)`,
			`testdata/relations.yaml:3: heartbeat.suspect_after: 400ms must be shorter than heartbeat.dead_after (300ms)`,
			`testdata/relations.yaml:6: election.lease_ttl: 900ms must be longer than twice heartbeat.interval (500ms)`,
		}},
		{"dead_after under the default suspect_after", testLoad{args: []string{"--heartbeat-interval=500ms", "--dead-after=1s"}}, []string{
			`flag --dead-after: heartbeat.dead_after: 1s must be longer than heartbeat.suspect_after (1.5s (3 times heartbeat.interval))`,
		}},
		{"interval too long for the default lease", testLoad{env: map[string]string{
			"DROVER_HEARTBEAT_INTERVAL":   "2s",
			"DROVER_HEARTBEAT_DEAD_AFTER": "10s",
		}}, []string{
			`env DROVER_HEARTBEAT_INTERVAL: heartbeat.interval: 2s must be under half of election.lease_ttl (3s)`,
		}},
		{"addresses", testLoad{file: "testdata/addresses.yaml"}, []string{
			`testdata/addresses.yaml:2: bus.listen: "localhost:99999": port must be 1..65535`,
			`testdata/addresses.yaml:4: bus.cluster.listen: "nohost" is not host:port`,
			`testdata/addresses.yaml:5: bus.cluster.advertise: "0.0.0.0:6222": 0.0.0.0 is not an address others can dial`,
		}},
		{"names and words", testLoad{file: "testdata/names.yaml"}, []string{
			`testdata/names.yaml:1: node: "-n1" is not a valid name: ` + nameRule,
			`testdata/names.yaml:2: cluster: "prod cluster" is not a valid name: ` + nameRule,
			`testdata/names.yaml:3: data_dir: "var/lib/drover" is not an absolute path`,
			`testdata/names.yaml:5: log.level: "loud" is not one of debug, info, warn, error`,
			`testdata/names.yaml:6: log.format: "xml" is not one of text, json`,
		}},
		{"duplicate peers, node not among them", testLoad{file: "testdata/peers_dup.yaml"}, []string{
			`testdata/peers_dup.yaml:5: bus.cluster.peers: this node ("n4") is not among the peers; list every voter, this one included`,
			`testdata/peers_dup.yaml:9: bus.cluster.peers[1].route: nats-route://192.0.2.1:6222 is already the route of bus.cluster.peers[0]`,
			`testdata/peers_dup.yaml:10: bus.cluster.peers[2].name: "n1" is already the name of bus.cluster.peers[0]`,
		}},
		{"two peers", testLoad{file: "testdata/peers_two.yaml"}, []string{
			`testdata/peers_two.yaml:5: bus.cluster.peers: 2 peers cannot keep a majority when one fails; add a third voter (a witness)`,
		}},
		{"eight peers", testLoad{file: "testdata/peers_eight.yaml"}, []string{
			`testdata/peers_eight.yaml:5: bus.cluster.peers: 8 peers: drover supports at most 7 voters (JetStream Raft groups above that are not supported)`,
		}},
		{"peers without cluster listen", testLoad{file: "testdata/peers_nolisten.yaml"}, []string{
			`testdata/peers_nolisten.yaml:4: bus.cluster.peers: needs bus.cluster.listen, where the other peers' routes connect`,
		}},
		{"bad peer items", testLoad{file: "testdata/peers_items.yaml"}, []string{
			`testdata/peers_items.yaml:8: bus.cluster.peers[1]: expected a mapping with name and route, got a string`,
			`testdata/peers_items.yaml:9: bus.cluster.peers[2].name: missing`,
			`testdata/peers_items.yaml:11: bus.cluster.peers[3].route: "http://192.0.2.4:6222": scheme must be nats-route:// or nats://`,
			`testdata/peers_items.yaml:12: bus.cluster.peers[4].route: missing`,
			`testdata/peers_items.yaml:14: bus.cluster.peers[5].route: "192.0.2.6" is not host:port`,
		}},
		{"external with embedded settings", testLoad{file: "testdata/external_conflict.yaml"}, []string{
			`testdata/external_conflict.yaml:5: bus.external.urls: cannot be combined with bus.listen, bus.cluster.listen, bus.cluster.peers: with an external bus no embedded server runs`,
			`testdata/external_conflict.yaml:7: bus.external.urls[1]: "http://192.0.2.11:4222": scheme must be nats, tls, ws or wss`,
		}},
		{"external files", testLoad{file: "testdata/external_files.yaml"}, []string{
			`testdata/external_files.yaml:5: bus.external.credentials: "testdata/external/missing.creds" does not exist`,
			`testdata/external_files.yaml:6: bus.external.expected_nodes: 65 is out of range (1..64)`,
			`testdata/external_files.yaml:8: bus.external.tls.ca: "testdata/external" is a directory`,
			`testdata/external_files.yaml:9: bus.external.tls.cert: needs bus.external.tls.key as well`,
		}},
		{"external settings without urls", testLoad{file: "testdata/external_unused.yaml"}, []string{
			`testdata/external_unused.yaml:4: bus.external.credentials: only applies with bus.external.urls`,
			`testdata/external_unused.yaml:5: bus.external.expected_nodes: only applies with bus.external.urls`,
		}},
		{"env values", testLoad{env: map[string]string{
			"DROVER_NODE":                                  "bad name",
			"DROVER_HEARTBEAT_INTERVAL":                    "250",
			"DROVER_BUS_EXTERNAL_URLS":                     "nats://192.0.2.10:4222, ftp://192.0.2.11",
			"DROVER_BUS_EXTERNAL_EXPECTED_NODES":           "three",
			"DROVER_BUS_EXTERNAL_TLS_INSECURE_SKIP_VERIFY": "maybe",
			"DROVER_BUS_EXTERNAL_CREDENTIALS":              "testdata/external/missing.creds",
			"DROVER_EVENTS_MAX_BYTES":                      "lots",
			"DROVER_EVENTS_MAX_AGE":                        "1y",
			"DROVER_HEARTBEAT_UDP_LISTEN":                  "nohost",
			"DROVER_SELF_FENCE_AFTER":                      "2m",
		}}, []string{
			`env DROVER_NODE: node: "bad name" is not a valid name: ` + nameRule,
			`env DROVER_BUS_EXTERNAL_URLS: bus.external.urls[1]: "ftp://192.0.2.11": scheme must be nats, tls, ws or wss`,
			`env DROVER_BUS_EXTERNAL_CREDENTIALS: bus.external.credentials: "testdata/external/missing.creds" does not exist`,
			`env DROVER_BUS_EXTERNAL_TLS_INSECURE_SKIP_VERIFY: bus.external.tls.insecure_skip_verify: "maybe" is not true or false`,
			`env DROVER_BUS_EXTERNAL_EXPECTED_NODES: bus.external.expected_nodes: "three" is not a whole number`,
			`env DROVER_HEARTBEAT_INTERVAL: heartbeat.interval: 250 needs a unit, e.g. 250ms`,
			`env DROVER_HEARTBEAT_UDP_LISTEN: heartbeat.udp.listen: "nohost" is not host:port`,
			`env DROVER_EVENTS_MAX_AGE: events.max_age: "1y" is not a duration (e.g. 250ms, 2s, 1m)`,
			`env DROVER_EVENTS_MAX_BYTES: events.max_bytes: "lots" is not a size (e.g. 256MiB, 1GiB, 500MB)`,
			`env DROVER_SELF_FENCE_AFTER: self_fence_after: 2m is out of range (20ms..1m)`,
		}},
		{"flag values", testLoad{args: []string{
			"--peer", "n1=192.0.2.1:6222", "--peer", "n2", "--cluster-listen", ":6222",
			"--lease-ttl", "1h", "--log-level", "LOUD", "--bus-listen", "0.0.0.0:0", "--data-dir", "relative",
		}}, []string{
			`flag --data-dir: data_dir: "relative" is not an absolute path`,
			`flag --log-level: log.level: "LOUD" is not one of debug, info, warn, error`,
			`flag --bus-listen: bus.listen: "0.0.0.0:0": port must be 1..65535`,
			`flag --peer: bus.cluster.peers[1]: "n2" is not name=route`,
			`flag --peer: bus.cluster.peers: 2 peers cannot keep a majority when one fails; add a third voter (a witness)`,
			`flag --lease-ttl: election.lease_ttl: 1h is out of range (500ms..1m)`,
		}},
		{"flag over a bad env value", testLoad{
			env:  map[string]string{"DROVER_LOG_LEVEL": "loud", "DROVER_LOG_FORMAT": "xml"},
			args: []string{"--log-level", "warn"},
		}, []string{
			`env DROVER_LOG_FORMAT: log.format: "xml" is not one of text, json`,
		}},
		{"overlapping vip groups", testLoad{file: "testdata/vip_overlap.yaml"}, []string{
			`testdata/vip_overlap.yaml:10: vip_groups[1].addresses[0]: 192.0.2.100 is already in group "web" (vip_groups[0])`,
			`testdata/vip_overlap.yaml:12: vip_groups[1].addresses[2]: 192.0.2.101 is already vip_groups[1].addresses[1]`,
		}},
		{"unknown interface", testLoad{file: "testdata/vip_interface.yaml"}, []string{
			`testdata/vip_interface.yaml:4: vip_groups[0].interface: no interface "eth9" on this host`,
			`testdata/vip_interface.yaml:8: vip_groups[1].interface: "eth0:1" is not an interface name: use 1 to 15 characters other than '/', ':' and white space`,
			`testdata/vip_interface.yaml:12: vip_groups[2].interface: "a-very-long-name" is not an interface name: use 1 to 15 characters other than '/', ':' and white space`,
		}},
		{"vip outside every subnet", testLoad{file: "testdata/vip_outside.yaml"}, []string{
			`testdata/vip_outside.yaml:6: vip_groups[0].addresses[0]: 198.51.100.100 is outside every subnet of eth0 (192.0.2.1/24, 2001:db8::1/64)`,
			`testdata/vip_outside.yaml:8: vip_groups[0].addresses[2]: 2001:db8:1::100 is outside every subnet of eth0 (192.0.2.1/24, 2001:db8::1/64)`,
			`testdata/vip_outside.yaml:12: vip_groups[1].addresses[0]: 192.0.2.101 is outside every subnet of eth1 (eth1 has no addresses)`,
			`testdata/vip_outside.yaml:17: vip_groups[2].addresses[0]: 198.51.100.200 is outside every subnet of eth2 (192.0.2.1/24)`,
		}},
		{"duplicate virtual mac id", testLoad{file: "testdata/vip_mac.yaml"}, []string{
			`testdata/vip_mac.yaml:12: vip_groups[1].virtual_mac_id: 7 (00:00:5e:00:01:07) is already the virtual MAC of group "web" (vip_groups[0])`,
			`testdata/vip_mac.yaml:17: vip_groups[2].virtual_mac_id: 256 is out of range (1..255)`,
		}},
		{"bad prefixes", testLoad{file: "testdata/vip_prefix.yaml"}, []string{
			`testdata/vip_prefix.yaml:6: vip_groups[0].addresses[0]: "192.0.2.100" needs the length of its prefix, e.g. 192.0.2.100/24`,
			`testdata/vip_prefix.yaml:7: vip_groups[0].addresses[1]: "2001:db8::100" needs the length of its prefix, e.g. 2001:db8::100/64`,
			`testdata/vip_prefix.yaml:8: vip_groups[0].addresses[2]: "192.0.2.300/24" is not an IP address with a prefix length (e.g. 192.0.2.100/24, 2001:db8::100/64)`,
			`testdata/vip_prefix.yaml:9: vip_groups[0].addresses[3]: "192.0.2.100/33" is not an IP address with a prefix length (e.g. 192.0.2.100/24, 2001:db8::100/64)`,
			`testdata/vip_prefix.yaml:10: vip_groups[0].addresses[4]: "fe80::100%eth0/64": leave out the zone; the group's interface is the zone`,
			`testdata/vip_prefix.yaml:11: vip_groups[0].addresses[5]: "::ffff:192.0.2.100/120": write an IPv4 address as IPv4, e.g. 192.0.2.100/24`,
			`testdata/vip_prefix.yaml:12: vip_groups[0].addresses[6]: "127.0.0.2/8": a VIP cannot be a loopback address`,
			`testdata/vip_prefix.yaml:13: vip_groups[0].addresses[7]: "224.0.0.18/24": a VIP cannot be a multicast address`,
			`testdata/vip_prefix.yaml:14: vip_groups[0].addresses[8]: expected an address such as 192.0.2.100/24, got a number`,
		}},
		{"network address", testLoad{file: "testdata/vip_network.yaml"}, []string{
			`testdata/vip_network.yaml:6: vip_groups[0].addresses[0]: "192.0.2.0/24": 192.0.2.0 is the network address of its prefix`,
			`testdata/vip_network.yaml:7: vip_groups[0].addresses[1]: "192.0.2.255/24": 192.0.2.255 is the broadcast address of its prefix`,
			`testdata/vip_network.yaml:8: vip_groups[0].addresses[2]: "2001:db8::/64": 2001:db8:: is the network address of its prefix`,
		}},
		{"unknown candidate", testLoad{file: "testdata/vip_unknown_candidate.yaml"}, []string{
			`testdata/vip_unknown_candidate.yaml:15: vip_groups[0].candidates[1].node: unknown node "dir4": not in bus.cluster.peers`,
		}},
		{"duplicate candidate", testLoad{file: "testdata/vip_dup_candidate.yaml"}, []string{
			`testdata/vip_dup_candidate.yaml:10: vip_groups[0].candidates[2].node: "dir1" is already a candidate (vip_groups[0].candidates[0])`,
		}},
		{"priority out of range", testLoad{file: "testdata/vip_priority.yaml"}, []string{
			`testdata/vip_priority.yaml:8: vip_groups[0].candidates[0].priority: 0 is out of range (1..255)`,
			`testdata/vip_priority.yaml:10: vip_groups[0].candidates[1].priority: 256 is out of range (1..255)`,
			`testdata/vip_priority.yaml:12: vip_groups[0].candidates[2].priority: expected a whole number, got a string`,
		}},
		{"bad garp mode, and ranges", testLoad{file: "testdata/vip_garp.yaml"}, []string{
			`testdata/vip_garp.yaml:8: vip_groups[0].garp.mode: "gratuitous" is not one of request, reply, both`,
			`testdata/vip_garp.yaml:13: vip_groups[1].preempt_delay: 2h is out of range (0s..1h)`,
			`testdata/vip_garp.yaml:15: vip_groups[1].garp.count: 0 is out of range (1..100)`,
			`testdata/vip_garp.yaml:16: vip_groups[1].garp.interval: 5ms is out of range (10ms..10s)`,
			`testdata/vip_garp.yaml:17: vip_groups[1].garp.repeat_after: -1s is out of range (0s..1h)`,
			`testdata/vip_garp.yaml:18: vip_groups[1].garp.refresh: 500ms is out of range (1s..24h, or 0s for never)`,
			`testdata/vip_garp.yaml:24: vip_groups[2].preempt_delay: only applies with preempt: true`,
		}},
		{"unknown keys in vip groups", testLoad{file: "testdata/vip_unknown.yaml"}, []string{
			`testdata/vip_unknown.yaml:4: vip_groups[0].interfce: unknown key; did you mean vip_groups[0].interface?`,
			`testdata/vip_unknown.yaml:8: vip_groups[0].candidates[0].prio: unknown key`,
			`testdata/vip_unknown.yaml:9: vip_groups[0].candidates[1].nod: unknown key; did you mean vip_groups[0].candidates[1].node?`,
			`testdata/vip_unknown.yaml:11: vip_groups[0].garp.modes: unknown key; did you mean vip_groups[0].garp.mode?`,
			`testdata/vip_unknown.yaml:12: vip_groups[0].vmac: unknown key`,
		}},
		{"vip group shapes", testLoad{file: "testdata/vip_shapes.yaml"}, []string{
			`testdata/vip_shapes.yaml:3: vip_groups[0]: expected a mapping with name, interface, addresses and candidates, got a string`,
			`testdata/vip_shapes.yaml:6: vip_groups[1].addresses: expected a list of addresses such as 192.0.2.100/24, got a string`,
			`testdata/vip_shapes.yaml:7: vip_groups[1].candidates: expected a list of candidates (node and priority), got a string`,
			`testdata/vip_shapes.yaml:8: vip_groups[1].preempt: expected true or false, got a string`,
			`testdata/vip_shapes.yaml:9: vip_groups[1].garp: expected a mapping, got a string`,
			`testdata/vip_shapes.yaml:10: vip_groups[2].name: "-db" is not a valid name: ` + nameRule,
			`testdata/vip_shapes.yaml:11: vip_groups[2].interface: missing`,
			`testdata/vip_shapes.yaml:12: vip_groups[2].addresses: needs at least one address`,
			`testdata/vip_shapes.yaml:13: vip_groups[2].candidates: needs at least one candidate`,
			`testdata/vip_shapes.yaml:14: vip_groups[3].name: "api" is already the name of vip_groups[1]`,
			`testdata/vip_shapes.yaml:14: vip_groups[3].interface: missing`,
			`testdata/vip_shapes.yaml:14: vip_groups[3].addresses: missing`,
			`testdata/vip_shapes.yaml:14: vip_groups[3].candidates: missing`,
		}},
		{"udp peers without listen", testLoad{file: "testdata/udp_nolisten.yaml"}, []string{
			`testdata/udp_nolisten.yaml:4: heartbeat.udp.peers: needs heartbeat.udp.listen, where the peers' heartbeats arrive`,
		}},
		{"bad udp peers", testLoad{file: "testdata/udp_peers.yaml"}, []string{
			`testdata/udp_peers.yaml:6: heartbeat.udp.peers[0].name: "dir1" is this node; list only the others`,
			`testdata/udp_peers.yaml:9: heartbeat.udp.peers[1].addr: "192.0.2.2" is not host:port`,
			`testdata/udp_peers.yaml:10: heartbeat.udp.peers[2].name: "dir2" is already the name of heartbeat.udp.peers[1]`,
			`testdata/udp_peers.yaml:11: heartbeat.udp.peers[2].addr: "0.0.0.0:6300": 0.0.0.0 is not an address others can dial`,
			`testdata/udp_peers.yaml:15: heartbeat.udp.peers[4].adr: unknown key; did you mean heartbeat.udp.peers[4].addr?`,
			`testdata/udp_peers.yaml:17: heartbeat.udp.peers[5].addr: 192.0.2.2:6300 is already the addr of heartbeat.udp.peers[3]`,
		}},
		{"dead_after too short for self_fence_after", testLoad{file: "testdata/vip_fence.yaml"}, []string{
			`testdata/vip_fence.yaml:3: heartbeat.dead_after: 500ms must exceed self_fence_after (400ms) by two heartbeat intervals, ` +
				`so a cut-off owner has released its VIPs before another node takes them; make it at least 600ms`,
		}},
		{"self_fence_after too long for the default dead_after", testLoad{file: "testdata/vip_minimal.yaml", args: []string{"--self-fence-after=600ms"}}, []string{
			`flag --self-fence-after: self_fence_after: 600ms is too long for heartbeat.dead_after (700ms), which must exceed self_fence_after by two heartbeat intervals (100ms each), ` +
				`so a cut-off owner has released its VIPs before another node takes them; set heartbeat.dead_after too`,
		}},
		{"interval too long for the default dead_after with vip groups", testLoad{file: "testdata/vip_minimal.yaml", env: map[string]string{"DROVER_HEARTBEAT_INTERVAL": "200ms"}}, []string{
			`env DROVER_HEARTBEAT_INTERVAL: heartbeat.interval: 200ms is too long for heartbeat.dead_after (700ms), which must exceed self_fence_after (400ms) by two heartbeat intervals, ` +
				`so a cut-off owner has released its VIPs before another node takes them; set heartbeat.dead_after too`,
		}},
		{"hostname unavailable", testLoad{hostname: func() (string, error) { return "", errors.New("no uts namespace") }}, []string{
			`default: node: cannot default to the hostname: no uts namespace; set node`,
		}},
		{"no home", testLoad{euid: 1000}, []string{
			`default: data_dir: no default without HOME or XDG_STATE_HOME; set data_dir`,
		}},
		{"missing file", testLoad{file: "testdata/absent.yaml"}, []string{
			`testdata/absent.yaml: config file does not exist`,
		}},
		{"missing file from env", testLoad{env: map[string]string{"DROVER_CONFIG": "testdata/absent.yaml"}}, []string{
			`testdata/absent.yaml: config file does not exist (named by env DROVER_CONFIG)`,
		}},
		{"missing file from flag", testLoad{args: []string{"--config=testdata/absent.yaml"}}, []string{
			`testdata/absent.yaml: config file does not exist (named by flag --config)`,
		}},
		{"unsupported type", testLoad{file: "testdata/drover.conf"}, []string{
			`testdata/drover.conf: unsupported config file type "conf": use .yaml, .yml, .toml or .json`,
		}},
		{"yaml syntax", testLoad{file: "testdata/broken.yaml"}, []string{
			`testdata/broken.yaml:3: invalid YAML: did not find expected key`,
		}},
		{"yaml duplicate key", testLoad{file: "testdata/dupkey.yaml"}, []string{
			`testdata/dupkey.yaml:3: invalid YAML: mapping key "node" already defined at line 1`,
		}},
		{"yaml list at the top", testLoad{file: "testdata/toplist.yaml"}, []string{
			`testdata/toplist.yaml:1: invalid YAML: the top level must be a mapping of keys`,
		}},
		{"toml syntax", testLoad{file: "testdata/broken.toml"}, []string{
			`testdata/broken.toml:2: invalid TOML: expected character =`,
		}},
		{"json syntax", testLoad{file: "testdata/broken.json"}, []string{
			`testdata/broken.json:3: invalid JSON: invalid character 'p' looking for beginning of value`,
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := tc.in.load(t)
			var ps Problems
			if !errors.As(err, &ps) {
				t.Fatalf("Load = %+v, %v; want Problems", c, err)
			}
			if diff := cmp.Diff(tc.want, strings.Split(ps.Error(), "\n")); diff != "" {
				t.Errorf("problems (-want +got):\n%s", diff)
			}
		})
	}
}

func TestLoadDirectory(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "drover.yaml")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	_, err := LoadFile(dir)
	want := dir + ": cannot read config file: is a directory"
	if err == nil || err.Error() != want {
		t.Errorf("LoadFile(a directory) = %v, want %q", err, want)
	}
}

func TestFlagUsage(t *testing.T) {
	fs := pflag.NewFlagSet("drover", pflag.ContinueOnError)
	BindFlags(fs)
	goldenFile(t, "testdata/flags.golden", fs.FlagUsages())
}

func goldenFile(t *testing.T, path, got string) {
	t.Helper()
	golden.Compare(t, *update, path, []byte(got))
}

func TestSanitiseHostname(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"n1", "n1"},
		{"web-01.example.com", "web-01"},
		{"Web_01", "Web_01"},
		{"db 1", "db-1"},
		{"-lead.example", "lead"},
		{"ünïcode", "n-code"},
		{strings.Repeat("a", 70), strings.Repeat("a", 63)},
		{"", ""},
		{".example.com", ""},
	} {
		if got := sanitiseHostname(tc.in); got != tc.want {
			t.Errorf("sanitiseHostname(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestParseSize(t *testing.T) {
	for _, tc := range []struct {
		in     string
		want   int64
		reason string
	}{
		{"256MiB", 256 << 20, ""},
		{"1GiB", 1 << 30, ""},
		{"1.5 GiB", 3 << 29, ""},
		{"500MB", 500e6, ""},
		{"2kb", 2000, ""},
		{"4096", 4096, ""},
		{"64B", 64, ""},
		{"1TiB", 1 << 40, ""},
		{"lots", 0, `"lots" is not a size (e.g. 256MiB, 1GiB, 500MB)`},
		{"1PB", 0, `"1PB" is not a size (e.g. 256MiB, 1GiB, 500MB)`},
		{"", 0, `"" is not a size (e.g. 256MiB, 1GiB, 500MB)`},
		{"-1MiB", 0, `"-1MiB" is not a size (e.g. 256MiB, 1GiB, 500MB)`},
		{"99999999TiB", 0, `"99999999TiB" is too large`},
	} {
		got, reason := parseSize(tc.in)
		if got != tc.want || reason != tc.reason {
			t.Errorf("parseSize(%q) = %d, %q; want %d, %q", tc.in, got, reason, tc.want, tc.reason)
		}
	}
}

func TestNearest(t *testing.T) {
	for _, tc := range []struct{ prefix, key, want string }{
		{"", "nod", "node"},
		{"", "data-dir", "data_dir"},
		{"heartbeat", "deadafter", "heartbeat.dead_after"},
		{"heartbeat", "intrevals", "heartbeat.interval"}, // a swap and an insertion
		{"bus.external", "url", "bus.external.urls"},
		{"", "lease_ttl", "election.lease_ttl"}, // in another section
		{"", "listen", ""},                      // bus.listen or bus.cluster.listen
		{"", "zzz", ""},
		{"", "vip_group", "vip_groups"},
		{"", "self_fence", ""},
		{"", "service", "services"},
		{"heartbeat.udp", "peer", "heartbeat.udp.peers"},
		{"heartbeat", "listen", ""},                      // heartbeat.udp.listen, but bus has two
		{"", "udp", ""},                                  // a section, not a setting
		{"", "suspect_after", "heartbeat.suspect_after"}, // in another section
	} {
		if got := nearest(tc.prefix, tc.key, children(tc.prefix), true); got != tc.want {
			t.Errorf("nearest(%q, %q) = %q, want %q", tc.prefix, tc.key, got, tc.want)
		}
	}
}

// FuzzLoadYAML feeds Load arbitrary YAML: it must give a Config or
// Problems, one line each, and never panic.
func FuzzLoadYAML(f *testing.F) {
	seeds, err := filepath.Glob("testdata/*.yaml")
	if err != nil {
		f.Fatal(err)
	}
	for _, path := range seeds {
		data, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	for _, seed := range []string{
		"base: &b {interval: 1s}\nheartbeat:\n  <<: *b\n",              // anchors and merge keys
		"heartbeat: 5\nheartbeat.interval: 1s\n",                       // a dotted key under a scalar
		"1: x\nbus: {2: y}\n",                                          // keys that are not strings
		"bus: {cluster: {peers: [{name: n1, route: [1]}, 7, null]}}\n", // odd peer items
		"Node: N1\nHEARTBEAT: {Interval: 1s}\n",                        // keys in upper case
		"events: {max_bytes: 1e400, max_age: -1h}\n",
		"\"a\\nb\": 1\n",
		"node: n1\nvip_groups: [{name: w, interface: eth0, addresses: [192.0.2.1/24, 1, 0.0.0.0/0], candidates: [{node: n1, priority: 1e9}, x], garp: {mode: 1, count: 1.5}}]\n",
		"vip_groups: [{addresses: [\"::ffff:1.2.3.4/96\"]}, {garp: [1]}, {candidates: {node: n1}}, {interface: \"eth0\\n\"}]\n",
		"heartbeat: {udp: {peers: [{name: n1}, 3, {addr: \"[::1]:1\"}], listen: 5}}\n",
		"vip_groups: [{name: a, interface: eth0, addresses: [192.0.2.9/24], candidates: [{node: n1}], virtual_mac_id: 9}, {name: a, interface: eth1, addresses: [192.0.2.9/32], candidates: [{node: n1}], virtual_mac_id: 9}]\n",
		// Services: odd shapes, a check merged over another kind, ports and families that conflict.
		"services: [{name: s, address: 192.0.2.1:80, real_servers: [{address: \"[::1]\", check: {kind: DNS, status: [1e9]}}, 7], check: [1]}, {fwmark: -1}, x]\n",
		"services: [{name: s, fwmark: 4294967295, family: INET6, persistence: {netmask: \"255.255.255.0\"}, scheduler_flags: [MH-PORT, 1], sorry_server: {}, real_servers: [{address: 192.0.2.1, forward: TUNNEL}]}]\n",
		"services: [{name: a, address: \"[2001:db8::1]:1\", quorum: 9223372036854775807, hysteresis: 1, real_servers: [{address: \"2001:db8::2\", weight: 65535}], check: {kind: https, ca_file: /, status: []}}]\n",
		// SNMP: odd shapes, numbers for strings, users and receivers that refer to each other.
		"snmp: {agentx: {enabled: 1, socket: [tcp]}, standalone: {listen: \"[::]:0\", communities: [null, 1, \"a\\tb\"], users: [{name: \"\"}, 3, {name: u, auth_protocol: [SHA]}]}, receivers: [{address: \"[::1\", version: 3.5, user: u}, x], sys_name: {a: 1}}\n",
		"snmp: {standalone: {listen: :1, users: [{name: u, auth_passphrase: 12345678, priv_passphrase: \"12345678\"}]}, receivers: [{address: \"::1\", version: 3, user: u, community: \"\"}, {address: \"[::1]:162\", version: 2C}]}\n",
		"snmp: {agentx: {socket: \"unix:\"}, receivers: []}\nvip_groups: [{name: a}, {name: b}]\nservices: [{name: a}, {name: a}]\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(t.TempDir(), "drover.yaml")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		c, err := Load(Options{
			File:       path,
			Env:        func(string) (string, bool) { return "", false },
			Hostname:   func() (string, error) { return "n1", nil },
			Interfaces: testInterfaces,
			geteuid:    func() int { return 0 },
		})
		if err == nil {
			if c == nil {
				t.Fatal("Load gave neither a Config nor an error")
			}
			return
		}
		var ps Problems
		if !errors.As(err, &ps) || len(ps) == 0 {
			t.Fatalf("Load error is %T %v, want Problems", err, err)
		}
		for _, p := range ps {
			if p.Source == "" || p.Reason == "" || strings.Contains(p.String(), "\n") {
				t.Errorf("malformed problem %#v", p)
			}
		}
	})
}
