package lab

import (
	"crypto/sha256"
	"errors"
	"flag"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/droverha/drover/internal/golden"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

func TestLoadDemo(t *testing.T) {
	got, err := LoadTopology("../../../deploy/lab/demo.yaml")
	if err != nil {
		t.Fatal(err)
	}
	want := &Topology{
		Name:    "demo",
		Subnet:  netip.MustParsePrefix("192.0.2.0/24"),
		Subnet6: netip.MustParsePrefix("2001:db8:0:1::/64"),
		Hosts: []Host{
			{Name: "dir1", Addr: netip.MustParseAddr("192.0.2.11"), Addr6: netip.MustParseAddr("2001:db8:0:1::11"), Agent: true},
			{Name: "dir2", Addr: netip.MustParseAddr("192.0.2.12"), Addr6: netip.MustParseAddr("2001:db8:0:1::12"), Agent: true},
			{Name: "wit1", Addr: netip.MustParseAddr("192.0.2.13"), Agent: true},
			{Name: "client", Addr: netip.MustParseAddr("192.0.2.100"), Addr6: netip.MustParseAddr("2001:db8:0:1::100")},
		},
		Agent: map[string]any{"vip_groups": []any{map[string]any{
			"name":       "web",
			"interface":  "eth0",
			"addresses":  []any{"192.0.2.50/24"},
			"candidates": []any{map[string]any{"node": "dir1", "priority": 200}, map[string]any{"node": "dir2", "priority": 100}},
		}}},
	}
	if diff := cmp.Diff(want, got, cmpopts.IgnoreUnexported(Topology{}), cmpopts.EquateComparable(netip.Addr{}, netip.Prefix{})); diff != "" {
		t.Errorf("demo.yaml (-want +got):\n%s", diff)
	}
	// What Up keeps in the state directory reads back the same.
	b, err := got.marshal()
	if err != nil {
		t.Fatal(err)
	}
	again, err := ParseTopology(b)
	if err != nil {
		t.Fatalf("re-reading the marshalled topology: %v\n%s", err, b)
	}
	if diff := cmp.Diff(got, again, cmpopts.IgnoreUnexported(Topology{}), cmpopts.EquateComparable(netip.Addr{}, netip.Prefix{})); diff != "" {
		t.Errorf("marshal round trip (-want +got):\n%s", diff)
	}
}

func TestLoadExamples(t *testing.T) {
	files, _ := filepath.Glob("../../../deploy/lab/*.yaml")
	if len(files) < 2 {
		t.Fatalf("examples: %v", files)
	}
	for _, f := range files {
		if _, err := LoadTopology(f); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
}

func TestParseTopologyProblems(t *testing.T) {
	const ok = "name: lab1\nsubnet: 192.0.2.0/24\n"
	for _, tc := range []struct {
		name, yaml string
		want       []string
	}{
		{"minimal", ok + "hosts: [{name: a, addr: 192.0.2.1}]\n", nil},
		{"empty", "", []string{"empty topology: it needs name, subnet and hosts"}},
		{"not a mapping", "- a\n", []string{"line 1: expected a mapping with name, subnet and hosts, got a list"}},
		{"bad yaml", "name: [\n", []string{"line 1: invalid YAML: did not find expected node content"}},
		{"missing everything", "subnet6: 2001:db8::/64\n", []string{
			"name: missing",
			"subnet: missing; use a part of 192.0.2.0/24, 198.51.100.0/24 or 203.0.113.0/24",
			"hosts: missing; a lab needs at least one host",
		}},
		{"unknown and repeated keys", ok + "name: lab2\nhost: []\nhosts:\n  - {name: a, addr: 192.0.2.1, adr6: x}\n", []string{
			"line 3: name: already set on line 1",
			"line 4: host: unknown key; the keys here are name, subnet, subnet6, hosts, agent",
			"line 6: hosts[0].adr6: unknown key; the keys here are name, addr, addr6, agent",
		}},
		{"bad names", "name: Lab_1\nsubnet: 192.0.2.0/24\nhosts:\n  - {name: director1, addr: 192.0.2.1}\n  - {name: sw, addr: 192.0.2.2}\n  - {name: 7, addr: 192.0.2.3}\n", []string{
			`line 1: name: "Lab_1" is not a lab name: use 1 to 8 lower-case letters or digits`,
			`line 4: hosts[0].name: "director1" is not a host name: use 1 to 6 lower-case letters or digits`,
			`line 5: hosts[1].name: "sw" is taken by the switch namespace drl-<lab>-sw; choose another`,
			`line 6: hosts[2].name: expected a string, got a number (7); quote it ("7")`,
		}},
		{"subnet outside the documentation ranges", "name: l\nsubnet: 10.0.0.0/24\nhosts: [{name: a, addr: 10.0.0.1}]\n", []string{
			"line 2: subnet: 10.0.0.0/24 is outside the documentation ranges 192.0.2.0/24, 198.51.100.0/24 and 203.0.113.0/24 (RFC 5737)",
		}},
		{"subnet larger than a range", "name: l\nsubnet: 192.0.0.0/16\nhosts: [{name: a, addr: 192.0.2.1}]\n", []string{
			"line 2: subnet: 192.0.0.0/16 is outside the documentation ranges 192.0.2.0/24, 198.51.100.0/24 and 203.0.113.0/24 (RFC 5737)",
		}},
		{"subnet host bits and IPv6", "name: l\nsubnet: 198.51.100.7/25\nsubnet6: 2001:db9::/64\nhosts: [{name: a, addr: 198.51.100.1}]\n", []string{
			"line 2: subnet: 198.51.100.7/25 has host bits set; the subnet is 198.51.100.0/25",
			"line 3: subnet6: 2001:db9::/64 is outside the documentation range 2001:db8::/32 (RFC 3849)",
		}},
		{"subnet not a prefix", "name: l\nsubnet: 192.0.2.0\nsubnet6: 192.0.2.0/24\nhosts: [{name: a, addr: 192.0.2.1}]\n", []string{
			`line 2: subnet: "192.0.2.0" is not an address/length such as 192.0.2.0/24`,
			"line 3: subnet6: 192.0.2.0/24 is not IPv6",
		}},
		{"host addresses", ok + "subnet6: 2001:db8:1::/64\nhosts:\n" +
			"  - {name: a, addr: 192.0.2.0}\n" +
			"  - {name: b, addr: 192.0.2.255}\n" +
			"  - {name: c, addr: 198.51.100.1}\n" +
			"  - {name: d, addr: 192.0.2.4/24}\n" +
			"  - {name: e, addr: 192.0.2.5, addr6: \"2001:db8:2::5\"}\n" +
			"  - {name: f, addr: 192.0.2.5, addr6: \"2001:db8:1::\"}\n" +
			"  - {name: g, addr: \"2001:db8:1::7\"}\n" +
			"  - {name: a}\n", []string{
			"line 5: hosts[0].addr: 192.0.2.0 is the network address of 192.0.2.0/24",
			"line 6: hosts[1].addr: 192.0.2.255 is the broadcast address of 192.0.2.0/24",
			"line 7: hosts[2].addr: 198.51.100.1 is outside subnet 192.0.2.0/24",
			`line 8: hosts[3].addr: "192.0.2.4/24" is not an IP address; leave out the /length, the subnet gives it`,
			"line 9: hosts[4].addr6: 2001:db8:2::5 is outside subnet6 2001:db8:1::/64",
			"line 10: hosts[5].addr: 192.0.2.5 is already the address of hosts[4].addr",
			"line 10: hosts[5].addr6: 2001:db8:1:: is the subnet-router anycast address of 2001:db8:1::/64",
			"line 11: hosts[6].addr: 2001:db8:1::7 is not IPv4; IPv6 goes in addr6",
			`line 12: hosts[7].name: "a" is already the name of hosts[0]`,
			"line 12: hosts[7].addr: missing",
		}},
		{"addr6 without subnet6", ok + "hosts: [{name: a, addr: 192.0.2.1, addr6: \"2001:db8::1\"}]\n", []string{
			"line 3: hosts[0].addr6: needs subnet6",
		}},
		{"agent flags and map", ok + "hosts:\n  - {name: a, addr: 192.0.2.1, agent: yes}\n  - b\nagent: [x]\n", []string{
			`line 4: hosts[0].agent: expected true or false, got "yes"`,
			`line 5: hosts[1]: expected a mapping with name and addr, got "b"`,
			"line 6: agent: expected a mapping of agent configuration keys, got a list",
		}},
		{"hosts not a list", ok + "hosts: {name: a}\n", []string{
			"line 3: hosts: expected a list of hosts, got a mapping",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseTopology([]byte(tc.yaml))
			var got []string
			var ps Problems
			if errors.As(err, &ps) {
				for _, p := range ps {
					got = append(got, p.String())
				}
			} else if err != nil {
				t.Fatalf("error %v is not Problems", err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("problems (-want +got):\n%s", diff)
			}
		})
	}
}

func TestLoadTopologyNamesFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(path, []byte("name: x\nsubnet: 192.0.2.0/24\nhosts: [{name: a, addr: 192.0.2.300}]\n"), 0o644)
	_, err := LoadTopology(path)
	want := path + `:3: hosts[0].addr: "192.0.2.300" is not an IP address`
	if err == nil || err.Error() != want {
		t.Errorf("error = %v, want %s", err, want)
	}
}

func TestValidateGoTopology(t *testing.T) {
	topo := &Topology{Name: "x", Subnet: netip.MustParsePrefix("192.0.2.0/24"),
		Hosts: []Host{{Name: "a", Addr: netip.MustParseAddr("192.0.2.1")}, {Name: "b"}}}
	err := topo.Validate()
	if err == nil || err.Error() != "hosts[1].addr: missing" {
		t.Errorf("Validate() = %v, want hosts[1].addr: missing", err)
	}
}

func TestHostMAC(t *testing.T) {
	// The documented rule, spelt out again: 02:00 and the first four
	// bytes of SHA-256("<lab>/<host>").
	sum := sha256.Sum256([]byte("demo/dir1"))
	want := net.HardwareAddr{2, 0, sum[0], sum[1], sum[2], sum[3]}
	if got := HostMAC("demo", "dir1"); got.String() != want.String() || got.String() != "02:00:7c:d7:66:6b" {
		t.Errorf("HostMAC(demo, dir1) = %s, want %s", got, want)
	}
	if HostMAC("demo", "dir1").String() == HostMAC("demo", "dir2").String() {
		t.Error("dir1 and dir2 have the same MAC")
	}
}

func TestAgentConfigGolden(t *testing.T) {
	demo, err := LoadTopology("../../../deploy/lab/demo.yaml")
	if err != nil {
		t.Fatal(err)
	}
	single, err := ParseTopology([]byte("name: one\nsubnet: 203.0.113.0/24\nhosts:\n  - {name: n1, addr: 203.0.113.1, agent: true}\n  - {name: c, addr: 203.0.113.2}\n"))
	if err != nil {
		t.Fatal(err)
	}
	override, err := ParseTopology([]byte(`name: ovr
subnet: 198.51.100.0/24
hosts:
  - {name: a, addr: 198.51.100.1, agent: true}
  - {name: b, addr: 198.51.100.2, agent: true}
  - {name: c, addr: 198.51.100.3, agent: true}
agent:
  cluster: other            # replaces a generated value
  Bus: {listen: "127.0.0.1:14222", cluster: {listen: "0.0.0.0:6222"}}  # merged, any case
  heartbeat: {interval: 100ms, udp: null}                             # null removes
  log: {level: debug}
`))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		golden string
		t      *Topology
		host   string
	}{
		{"demo-dir1.yaml", demo, "dir1"},
		{"demo-wit1.yaml", demo, "wit1"},
		{"single-n1.yaml", single, "n1"},
		{"override-b.yaml", override, "b"},
	} {
		t.Run(tc.golden, func(t *testing.T) {
			got, err := tc.t.AgentConfig(tc.host, "/run/drover-lab/"+tc.t.Name)
			if err != nil {
				t.Fatal(err)
			}
			golden.Compare(t, *update, filepath.Join("testdata", tc.golden), got)
		})
	}
	if _, err := demo.AgentConfig("client", "/run/drover-lab/demo"); err == nil {
		t.Error("AgentConfig for a host without agent: no error")
	}
	if _, err := demo.AgentConfig("dir1", "relative"); err == nil {
		t.Error("AgentConfig with a relative state directory: no error")
	}
	// Merging copies: the topology's own map is left as it was.
	if _, ok := override.Agent["heartbeat"].(map[string]any)["udp"]; !ok {
		t.Error("merging changed the topology's agent map")
	}
	// A change a Go caller makes to the parsed map counts.
	override.Agent["log"] = map[string]any{"level": "warn"}
	if b, _ := override.AgentConfig("a", "/run/drover-lab/ovr"); !strings.Contains(string(b), "log:\n  level: warn\n") {
		t.Errorf("after changing Agent:\n%s", b)
	}
}

func TestClientURL(t *testing.T) {
	topo, err := ParseTopology([]byte("name: x\nsubnet: 192.0.2.0/24\nhosts: [{name: a, addr: 192.0.2.1, agent: true}]\nagent: {bus: {listen: \"127.0.0.1:5222\"}}\n"))
	if err != nil {
		t.Fatal(err)
	}
	l, err := newLab(topo, Options{StateDir: "/run/x"})
	if err != nil {
		t.Fatal(err)
	}
	if got := l.ClientURL("a"); got != "nats://127.0.0.1:5222" {
		t.Errorf("ClientURL = %s", got)
	}
	if l.NS("a") != "drl-x-a" || l.NSPath("a") != "/var/run/netns/drl-x-a" || l.SwitchNS() != "drl-x-sw" {
		t.Errorf("names: %s %s %s", l.NS("a"), l.NSPath("a"), l.SwitchNS())
	}
}

func TestAgentConfigArg(t *testing.T) {
	for _, tc := range []struct {
		argv []string
		want string
	}{
		{[]string{"/bin/drover", "agent", "--config", "/run/drover-lab/x/a.yaml"}, "/run/drover-lab/x/a.yaml"},
		{[]string{"/bin/drover", "agent", "--config=/s/a.yaml"}, "/s/a.yaml"},
		{[]string{"/bin/drover", "status", "--config", "/s/a.yaml"}, ""},
		{[]string{"sleep", "30"}, ""},
		{nil, ""},
	} {
		if got := agentConfigArg(tc.argv); got != tc.want {
			t.Errorf("agentConfigArg(%q) = %q, want %q", tc.argv, got, tc.want)
		}
	}
}

func FuzzParseTopology(f *testing.F) {
	demo, _ := os.ReadFile("../../../deploy/lab/demo.yaml")
	f.Add(demo)
	f.Add([]byte("name: a\nsubnet: 192.0.2.0/30\nhosts: [{name: a, addr: 192.0.2.1}, {name: b, addr: 192.0.2.2}]\n"))
	f.Add([]byte("name: [\n"))
	f.Add([]byte("hosts: [[], {}, null, {name: &x a, addr: *x}]\nagent: {1: 2}\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		topo, err := ParseTopology(b)
		if err != nil {
			var ps Problems
			if !errors.As(err, &ps) || len(ps) == 0 || strings.TrimSpace(err.Error()) == "" {
				t.Fatalf("error %v is not a list of problems", err)
			}
			return
		}
		// A topology that parses validates, and survives being written
		// to the state directory and read back.
		if err := topo.Validate(); err != nil {
			t.Fatalf("parsed but does not validate: %v", err)
		}
		out, err := topo.marshal()
		if err != nil {
			t.Fatal(err)
		}
		again, err := ParseTopology(out)
		if err != nil {
			t.Fatalf("re-reading %q: %v", out, err)
		}
		if diff := cmp.Diff(topo, again, cmpopts.IgnoreUnexported(Topology{}), cmpopts.EquateComparable(netip.Addr{}, netip.Prefix{})); diff != "" {
			t.Fatalf("round trip (-want +got):\n%s", diff)
		}
		for _, h := range topo.AgentHosts() {
			if _, err := topo.AgentConfig(h.Name, "/run/drover-lab/"+topo.Name); err != nil {
				t.Fatalf("AgentConfig(%s): %v", h.Name, err)
			}
		}
	})
}
