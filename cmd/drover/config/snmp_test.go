package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// defaultSNMP is the snmp section with nothing set, on node n.
func defaultSNMP(n string) SNMP {
	return SNMP{AgentX: AgentX{Network: "unix", Address: "/var/agentx/master"}, SysName: n}
}

// fullSNMP is what testdata/snmp_full.yaml gives.
func fullSNMP() SNMP {
	return SNMP{
		AgentX: AgentX{Enabled: true, Network: "tcp", Address: "127.0.0.1:705"},
		Standalone: Standalone{
			Listen:      "0.0.0.0:1161",
			Communities: []string{"public", "n0t-so-public"},
			Users: []SNMPUser{
				{Name: "monitor", AuthProtocol: "SHA-256", AuthPassphrase: "monitor-auth-secret", PrivProtocol: "AES-256", PrivPassphrase: "monitor-priv-secret"},
				{Name: "backup", AuthProtocol: "SHA", AuthPassphrase: "backup-auth-secret", PrivProtocol: "AES", PrivPassphrase: "backup-priv-secret"},
			},
		},
		Receivers: []SNMPReceiver{
			{Address: "192.0.2.50:162", Version: "2c", Community: "public"},
			{Address: "192.0.2.51:162", Version: "3", User: "monitor", Inform: true},
			{Address: "[2001:db8::52]:162", Version: "2c", Community: "trap-community"},
			{Address: "traps.example.com:162", Version: "3", User: "backup"},
		},
		SysName:     "director-1",
		SysContact:  "ops@example.com",
		SysLocation: "rack 4",
	}
}

// monitor is the user of testdata/snmp.toml and snmp.json.
var monitor = SNMPUser{Name: "monitor", AuthProtocol: "SHA", AuthPassphrase: "monitor-auth-secret", PrivProtocol: "AES", PrivPassphrase: "monitor-priv-secret"}

func TestLoadSNMP(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   testLoad
		want func(s *SNMP)
	}{
		{"nothing set", testLoad{}, func(s *SNMP) {}},
		{"sys_name follows node", testLoad{env: map[string]string{"DROVER_NODE": "dir7"}}, func(s *SNMP) {
			s.SysName = "dir7"
		}},
		{"every key", testLoad{file: "testdata/snmp_full.yaml"}, func(s *SNMP) { *s = fullSNMP() }},
		{"toml, version a number", testLoad{file: "testdata/snmp.toml"}, func(s *SNMP) {
			s.Standalone = Standalone{Listen: ":1161", Users: []SNMPUser{monitor}}
			s.Receivers = []SNMPReceiver{{Address: "192.0.2.51:1162", Version: "3", User: "monitor"}}
			s.SysName = "dir1"
		}},
		{"json, version a number", testLoad{file: "testdata/snmp.json"}, func(s *SNMP) {
			s.Standalone = Standalone{Listen: ":1161", Users: []SNMPUser{monitor}}
			s.Receivers = []SNMPReceiver{{Address: "[2001:db8::51]:162", Version: "3", User: "monitor", Inform: true}}
			s.SysName = "dir1"
		}},
		{"env over file", testLoad{file: "testdata/snmp_full.yaml", env: map[string]string{
			"DROVER_SNMP_AGENTX_SOCKET":          "unix:/run/snmp/agentx",
			"DROVER_SNMP_STANDALONE_LISTEN":      "127.0.0.1:161",
			"DROVER_SNMP_STANDALONE_COMMUNITIES": "from-env, other ",
			"DROVER_SNMP_SYS_CONTACT":            "noc@example.com",
			"DROVER_SNMP_SYS_LOCATION":           "", // empty is unset
			"DROVER_SNMP_STANDALONE_USERS":       "ignored: file only",
			"DROVER_SNMP_RECEIVERS":              "ignored: file only",
			"DROVER_SNMP_RECEIVERS_0_COMMUNITY":  "ignored: not a key",
		}}, func(s *SNMP) {
			*s = fullSNMP()
			s.AgentX = AgentX{Enabled: true, Network: "unix", Address: "/run/snmp/agentx"}
			s.Standalone.Listen = "127.0.0.1:161"
			s.Standalone.Communities = []string{"from-env", "other"}
			s.SysContact = "noc@example.com"
		}},
		{"env alone", testLoad{env: map[string]string{
			"DROVER_SNMP_AGENTX_ENABLED":         "TRUE",
			"DROVER_SNMP_STANDALONE_LISTEN":      ":1161",
			"DROVER_SNMP_STANDALONE_COMMUNITIES": "public",
			"DROVER_SNMP_SYS_NAME":               "lb-1",
			"DROVER_SNMP_SYS_LOCATION":           "rack 4, row 2",
		}}, func(s *SNMP) {
			s.AgentX.Enabled = true
			s.Standalone = Standalone{Listen: ":1161", Communities: []string{"public"}}
			s.SysName = "lb-1"
			s.SysLocation = "rack 4, row 2"
		}},
		{"env turns the subagent off", testLoad{file: "testdata/snmp.toml", env: map[string]string{"DROVER_SNMP_AGENTX_ENABLED": "false"}}, func(s *SNMP) {
			s.Standalone = Standalone{Listen: ":1161", Users: []SNMPUser{monitor}}
			s.Receivers = []SNMPReceiver{{Address: "192.0.2.51:1162", Version: "3", User: "monitor"}}
			s.SysName = "dir1"
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := tc.in.load(t)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			want := defaultSNMP("n1")
			tc.want(&want)
			if diff := cmp.Diff(want, c.SNMP); diff != "" {
				t.Errorf("SNMP (-want +got):\n%s", diff)
			}
		})
	}
}

// TestAgentXSocket loads every form of snmp.agentx.socket from the
// environment: the network and address it gives, or the problem.
func TestAgentXSocket(t *testing.T) {
	for _, tc := range []struct {
		socket string
		want   string // network address, or the problem
	}{
		{"/var/agentx/master", "unix /var/agentx/master"},
		{"/run/agentx//sock/", "unix /run/agentx/sock"},
		{"unix:/var/agentx/master", "unix /var/agentx/master"},
		{"UNIX:/run/agentx", "unix /run/agentx"},
		{"tcp:127.0.0.1:705", "tcp 127.0.0.1:705"},
		{"tcp:localhost:705", "tcp localhost:705"},
		{"TCP:[::1]:705", "tcp [::1]:705"},
		{"127.0.0.1:705", "tcp 127.0.0.1:705"},
		{" [::1]:705 ", "tcp [::1]:705"},
		{"Master.Example.com.:705", "tcp master.example.com:705"},
		{"unix:var/agentx", `"unix:var/agentx": the socket path must be absolute`},
		{"udp:127.0.0.1:705", `"udp:127.0.0.1:705": AgentX runs over tcp or a unix socket (RFC 2741), not udp`},
		{"tcp:127.0.0.1", `"127.0.0.1" is not host:port`},
		{"tcp:0.0.0.0:705", `"0.0.0.0:705": 0.0.0.0 is not an address others can dial`},
		{"127.0.0.1:70000", `"127.0.0.1:70000": port must be 1..65535`},
		{":705", `":705" needs a host`},
		{"master", `"master" is not a socket path such as /var/agentx/master, unix:PATH, tcp:HOST:PORT or HOST:PORT`},
		{"var/agentx/master", `"var/agentx/master" is not a socket path such as /var/agentx/master, unix:PATH, tcp:HOST:PORT or HOST:PORT`},
	} {
		t.Run(tc.socket, func(t *testing.T) {
			c, err := testLoad{env: map[string]string{"DROVER_SNMP_AGENTX_ENABLED": "true", "DROVER_SNMP_AGENTX_SOCKET": tc.socket}}.load(t)
			var got string
			var ps Problems
			switch {
			case err == nil:
				got = c.SNMP.AgentX.Network + " " + c.SNMP.AgentX.Address
			case errors.As(err, &ps) && len(ps) == 1 && ps[0].Source == "env DROVER_SNMP_AGENTX_SOCKET" && ps[0].Key == "snmp.agentx.socket":
				got = ps[0].Reason
			default:
				t.Fatalf("Load: %v", err)
			}
			if got != tc.want {
				t.Errorf("socket %q gives %q, want %q", tc.socket, got, tc.want)
			}
		})
	}
}

func TestSNMPProblems(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   testLoad
		want []string
	}{
		{"users", testLoad{file: "testdata/snmp_users.yaml"}, []string{
			`testdata/snmp_users.yaml:7: snmp.standalone.users[0].auth_protocol: "MD5" is not one of SHA, SHA-256`,
			`testdata/snmp_users.yaml:8: snmp.standalone.users[0].auth_passphrase: is shorter than 8 bytes, which RFC 3414 asks for at least`,
			`testdata/snmp_users.yaml:9: snmp.standalone.users[0].priv_protocol: "DES" is not one of AES, AES-256`,
			`testdata/snmp_users.yaml:10: snmp.standalone.users[0].priv_passphrase: is shorter than 8 bytes, which RFC 3414 asks for at least`,
			`testdata/snmp_users.yaml:11: snmp.standalone.users[1].name: "monitor" is already the name of snmp.standalone.users[0]`,
			`testdata/snmp_users.yaml:14: snmp.standalone.users[2].name: "a-user-name-that-is-longer-than-32" is 34 bytes long; a USM user name has 1 to 32 (RFC 3414)`,
			`testdata/snmp_users.yaml:15: snmp.standalone.users[2].auth_passphrase: expected a string, got a number; put it in quotes`,
			`testdata/snmp_users.yaml:17: snmp.standalone.users[3].name: missing`,
			`testdata/snmp_users.yaml:17: snmp.standalone.users[3].auth_passphrase: missing: users are authPriv, with both passphrases`,
			`testdata/snmp_users.yaml:17: snmp.standalone.users[3].priv_passphrase: missing: users are authPriv, with both passphrases`,
			`testdata/snmp_users.yaml:21: snmp.standalone.users[4].priv_pasphrase: unknown key; did you mean snmp.standalone.users[4].priv_passphrase?`,
			`testdata/snmp_users.yaml:22: snmp.standalone.users[5]: expected a mapping with name, auth_protocol, auth_passphrase, priv_protocol and priv_passphrase, got a string`,
		}},
		{"receivers", testLoad{file: "testdata/snmp_receivers.yaml"}, []string{
			`testdata/snmp_receivers.yaml:11: snmp.receivers[0].address: "192.0.2.50:70000": port must be 1..65535`,
			`testdata/snmp_receivers.yaml:15: snmp.receivers[1].version: "1" is not one of 2c, 3`,
			`testdata/snmp_receivers.yaml:16: snmp.receivers[2].address: "0.0.0.0:162": 0.0.0.0 is not an address others can dial`,
			`testdata/snmp_receivers.yaml:18: snmp.receivers[2].user: unknown user "nobody": not in snmp.standalone.users`,
			`testdata/snmp_receivers.yaml:19: snmp.receivers[3].address: "a:b:c" is not host:port or a host`,
			`testdata/snmp_receivers.yaml:19: snmp.receivers[3].community: missing: version 2c needs a community`,
			`testdata/snmp_receivers.yaml:21: snmp.receivers[3].user: only applies with version 3; version 2c sends with a community`,
			`testdata/snmp_receivers.yaml:22: snmp.receivers[4].address: 192.0.2.51:162 is already the address of snmp.receivers[1]`,
			`testdata/snmp_receivers.yaml:22: snmp.receivers[4].user: missing: version 3 needs a user, one of snmp.standalone.users`,
			`testdata/snmp_receivers.yaml:24: snmp.receivers[4].community: only applies with version 2c; version 3 sends as a user`,
			`testdata/snmp_receivers.yaml:25: snmp.receivers[5].address: missing`,
			`testdata/snmp_receivers.yaml:25: snmp.receivers[5].user: missing: version 3 needs a user, one of snmp.standalone.users`,
			`testdata/snmp_receivers.yaml:28: snmp.receivers[6].community: holds white space or a control character`,
			`testdata/snmp_receivers.yaml:30: snmp.receivers[7].version: expected 2c or 3, got a list`,
			`testdata/snmp_receivers.yaml:31: snmp.receivers[7].inform: expected true or false, got a string`,
			`testdata/snmp_receivers.yaml:34: snmp.receivers[8].community: is empty`,
			`testdata/snmp_receivers.yaml:35: snmp.receivers[9].address: "[2001:db8::1]:": port must be 1..65535`,
			`testdata/snmp_receivers.yaml:37: snmp.receivers[9].user: missing: version 3 needs a user, one of snmp.standalone.users`,
		}},
		{"standalone listen and communities", testLoad{file: "testdata/snmp_standalone.yaml"}, []string{
			`testdata/snmp_standalone.yaml:4: snmp.standalone.listen: "0.0.0.0:99999": port must be 1..65535`,
			// The type is checked as the list is read, before the values.
			`testdata/snmp_standalone.yaml:5: snmp.standalone.communities[2]: expected a string, got a number; put it in quotes`,
			`testdata/snmp_standalone.yaml:5: snmp.standalone.communities[0]: is empty`,
			`testdata/snmp_standalone.yaml:5: snmp.standalone.communities[1]: holds white space or a control character`,
			`testdata/snmp_standalone.yaml:6: snmp.sys_name: "dir1\tdirector" holds a control character`,
		}},
		{"listen not host:port, location too long", testLoad{file: "testdata/snmp_listen.yaml"}, []string{
			`testdata/snmp_listen.yaml:4: snmp.standalone.listen: "nohost" is not host:port`,
			`testdata/snmp_listen.yaml:5: snmp.sys_location: is 256 bytes long; the system group's strings hold at most 255 (RFC 3418)`,
		}},
		{"a listener that answers nobody", testLoad{file: "testdata/snmp_nobody.yaml"}, []string{
			`testdata/snmp_nobody.yaml:4: snmp.standalone.listen: answers nobody: give snmp.standalone.communities (SNMPv2c) or snmp.standalone.users (SNMPv3)`,
		}},
		{"keys of modes that are off", testLoad{file: "testdata/snmp_unused.yaml"}, []string{
			`testdata/snmp_unused.yaml:4: snmp.agentx.socket: only applies with snmp.agentx.enabled: true`,
			`testdata/snmp_unused.yaml:6: snmp.standalone.communities: only applies with snmp.standalone.listen`,
			`testdata/snmp_unused.yaml:7: snmp.standalone.users: only applies with snmp.standalone.listen`,
			`testdata/snmp_unused.yaml:11: snmp.receivers: only applies with snmp.standalone.listen: a subagent's notifications go through snmpd, ` +
				`to the trap2sink, informsink and trapsess lines of snmpd.conf`,
			`testdata/snmp_unused.yaml:15: snmp.sys_name: only applies with snmp.standalone.listen`,
			`testdata/snmp_unused.yaml:16: snmp.sys_contact: only applies with snmp.standalone.listen`,
			`testdata/snmp_unused.yaml:17: snmp.sys_location: only applies with snmp.standalone.listen`,
		}},
		{"shapes and types", testLoad{file: "testdata/snmp_shapes.yaml"}, []string{
			`testdata/snmp_shapes.yaml:4: snmp.agentx.enabled: expected true or false, got a string`,
			`testdata/snmp_shapes.yaml:5: snmp.agentx.socket: "udp:127.0.0.1:705": AgentX runs over tcp or a unix socket (RFC 2741), not udp`,
			`testdata/snmp_shapes.yaml:7: snmp.standalone.listen: expected a string, got a number; put it in quotes`,
			`testdata/snmp_shapes.yaml:8: snmp.standalone.communities: expected a list, got a string`,
			`testdata/snmp_shapes.yaml:9: snmp.standalone.users: expected a list of users (name, auth_protocol, auth_passphrase, priv_protocol, priv_passphrase), got a mapping`,
			`testdata/snmp_shapes.yaml:10: snmp.receivers: expected a list of receivers (address, version, community or user, inform), got a string`,
			`testdata/snmp_shapes.yaml:11: snmp.sys_name: expected a string, got a number; put it in quotes`,
		}},
		{"unknown keys", testLoad{file: "testdata/snmp_unknown.yaml"}, []string{
			`testdata/snmp_unknown.yaml:4: snmp.agentx.enable: unknown key; did you mean snmp.agentx.enabled?`,
			`testdata/snmp_unknown.yaml:10: snmp.standalone.users[0].auth_pass: unknown key`,
			`testdata/snmp_unknown.yaml:14: snmp.receivers[0].adress: unknown key; did you mean snmp.receivers[0].address?`,
			`testdata/snmp_unknown.yaml:17: snmp.sysname: unknown key; did you mean snmp.sys_name?`,
			`testdata/snmp_unknown.yaml:18: snmp.trap_sinks: unknown key`,
		}},
		{"env values", testLoad{env: map[string]string{
			"DROVER_SNMP_AGENTX_ENABLED":         "maybe",
			"DROVER_SNMP_STANDALONE_COMMUNITIES": "public",
			"DROVER_SNMP_SYS_CONTACT":            "ops@example.com",
		}}, []string{
			`env DROVER_SNMP_AGENTX_ENABLED: snmp.agentx.enabled: "maybe" is not true or false`,
			`env DROVER_SNMP_STANDALONE_COMMUNITIES: snmp.standalone.communities: only applies with snmp.standalone.listen`,
			`env DROVER_SNMP_SYS_CONTACT: snmp.sys_contact: only applies with snmp.standalone.listen`,
		}},
		{"env socket without the file's enabled", testLoad{file: "testdata/snmp.toml", env: map[string]string{
			"DROVER_SNMP_AGENTX_SOCKET": "/run/agentx",
		}}, []string{
			`env DROVER_SNMP_AGENTX_SOCKET: snmp.agentx.socket: only applies with snmp.agentx.enabled: true`,
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

// TestProblemsHideSecrets loads files with bad secrets: no problem may
// print one.
func TestProblemsHideSecrets(t *testing.T) {
	for file, secrets := range map[string][]string{
		"testdata/snmp_users.yaml":      {"s3cr", "1234567", "12345678", "long enough"},
		"testdata/snmp_receivers.yaml":  {"has space", "auth-pass-1", "priv-pass-1"},
		"testdata/snmp_standalone.yaml": {"pub lic", "12345"},
	} {
		_, err := testLoad{file: file}.load(t)
		if err == nil {
			t.Fatalf("Load(%s) gave no problems", file)
		}
		for _, s := range secrets {
			if strings.Contains(err.Error(), s) {
				t.Errorf("Load(%s) problems show the secret %q:\n%v", file, s, err)
			}
		}
	}
}

func TestDroverNameHash(t *testing.T) {
	// From Python: int.from_bytes(hashlib.sha256(name).digest()[:4], "big").
	for name, want := range map[string]uint32{"dir1": 1277124965, "web-http": 4029152373} {
		if got := droverNameHash(name); got != want {
			t.Errorf("droverNameHash(%q) = %d, want %d", name, got, want)
		}
	}
}

// TestNameHashCollisions loads a file under a hash that makes api hash
// as web, sql as db, dir3 as dir1 and rs9 as dir2.
func TestNameHashCollisions(t *testing.T) {
	const file = "testdata/names_hash.yaml"
	if _, err := (testLoad{file: file}).load(t); err == nil || strings.Contains(err.Error(), "DroverNameHash") {
		t.Fatalf("Load(%s) with the real hash = %v; want only the duplicate service name", file, err)
	}
	aliases := map[string]string{"api": "web", "sql": "db", "dir3": "dir1", "rs9": "dir2"}
	hash := func(name string) uint32 {
		if a, ok := aliases[name]; ok {
			name = a
		}
		return droverNameHash(name)
	}
	_, err := testLoad{file: file, nameHash: hash}.load(t)
	want := []string{
		`testdata/names_hash.yaml:11: bus.cluster.peers[2].name: "dir3" has the same DroverNameHash (1277124965) as this node, "dir1": ` +
			`the SNMP tables index nodes by it, so one would hide the other; rename one`,
		`testdata/names_hash.yaml:17: vip_groups[1].name: "api" has the same DroverNameHash (1264474102) as group "web" (vip_groups[0]): ` +
			`the SNMP tables index VIP groups by it, so one would hide the other; rename one`,
		`testdata/names_hash.yaml:25: services[1].name: "api" has the same DroverNameHash (1264474102) as service "web" (services[0]): ` +
			`the SNMP tables index services by it, so one would hide the other; rename one`,
		`testdata/names_hash.yaml:30: services[2].real_servers[0].node: "rs9" has the same DroverNameHash (2327218178) as node "dir2" (bus.cluster.peers[1].name): ` +
			`the SNMP tables index nodes by it, so one would hide the other; rename one`,
		`testdata/names_hash.yaml:31: services[3].name: "db" is already the name of services[2]`,
		`testdata/names_hash.yaml:34: services[4].name: "sql" has the same DroverNameHash (2078025169) as service "db" (services[2]): ` +
			`the SNMP tables index services by it, so one would hide the other; rename one`,
	}
	if diff := cmp.Diff(want, strings.Split(fmt.Sprint(err), "\n")); diff != "" {
		t.Errorf("problems (-want +got):\n%s", diff)
	}
}

// TestRedacted prints a configuration every way cmd/drover might: no
// secret may show.
func TestRedacted(t *testing.T) {
	c, err := testLoad{file: "testdata/snmp_full.yaml"}.load(t)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	secrets := []string{"public", "n0t-so-public", "monitor-auth-secret", "monitor-priv-secret",
		"backup-auth-secret", "backup-priv-secret", "trap-community"}
	r := c.Redacted()
	js, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var logged strings.Builder
	slog.New(slog.NewTextHandler(&logged, nil)).Info("loaded", "snmp", c.SNMP)
	for how, out := range map[string]string{
		"Redacted, %+v":   fmt.Sprintf("%+v", *r),
		"Redacted, json":  string(js),
		"%v":              fmt.Sprintf("%v", *c),
		"%+v":             fmt.Sprintf("%+v", *c),
		"%+v of the SNMP": fmt.Sprintf("%+v", c.SNMP),
		"a user's String": c.SNMP.Standalone.Users[0].String(),
		"slog text":       logged.String(),
	} {
		for _, s := range secrets {
			if strings.Contains(out, s) {
				t.Errorf("%s shows the secret %q:\n%s", how, s, out)
			}
		}
	}

	want := fullSNMP()
	if diff := cmp.Diff(want, c.SNMP); diff != "" {
		t.Errorf("Redacted changed the config (-want +got):\n%s", diff)
	}
	want.Standalone.Communities = []string{"********", "********"}
	for i := range want.Standalone.Users {
		want.Standalone.Users[i].AuthPassphrase = "********"
		want.Standalone.Users[i].PrivPassphrase = "********"
	}
	want.Receivers[0].Community = "********"
	want.Receivers[2].Community = "********"
	if diff := cmp.Diff(want, r.SNMP); diff != "" {
		t.Errorf("Redacted().SNMP (-want +got):\n%s", diff)
	}
	if r.Node != c.Node || r.SNMP.Receivers[1] != c.SNMP.Receivers[1] {
		t.Errorf("Redacted changed what is not secret")
	}
}
