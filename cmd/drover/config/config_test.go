package config

import "testing"

func TestVoters(t *testing.T) {
	for _, tc := range []struct {
		name string
		bus  Bus
		want int
	}{
		{"single node", Bus{Listen: "127.0.0.1:4222"}, 1},
		{"peers", Bus{Cluster: BusCluster{Peers: []Peer{{"n1", "r1"}, {"n2", "r2"}, {"n3", "r3"}}}}, 3},
		{"external", Bus{External: External{URLs: []string{"nats://192.0.2.10:4222"}, ExpectedNodes: 5}}, 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &Config{Bus: tc.bus}
			if got := c.Voters(); got != tc.want {
				t.Errorf("Voters() = %d, want %d", got, tc.want)
			}
		})
	}
}

func TestClientURL(t *testing.T) {
	for _, tc := range []struct {
		bus  Bus
		want string
	}{
		{Bus{Listen: "127.0.0.1:4222"}, "nats://127.0.0.1:4222"},
		{Bus{Listen: "192.0.2.1:4333"}, "nats://192.0.2.1:4333"},
		{Bus{Listen: "nats.example.com:4222"}, "nats://nats.example.com:4222"},
		{Bus{Listen: "0.0.0.0:4222"}, "nats://127.0.0.1:4222"},
		{Bus{Listen: ":4222"}, "nats://127.0.0.1:4222"},
		{Bus{Listen: "[::]:4222"}, "nats://[::1]:4222"},
		{Bus{Listen: "[2001:db8::1]:4222"}, "nats://[2001:db8::1]:4222"},
		{Bus{External: External{URLs: []string{"tls://192.0.2.10:4222", "tls://192.0.2.11:4222"}}},
			"tls://192.0.2.10:4222,tls://192.0.2.11:4222"},
	} {
		c := &Config{Bus: tc.bus}
		if got := c.ClientURL(); got != tc.want {
			t.Errorf("ClientURL() of %+v = %q, want %q", tc.bus, got, tc.want)
		}
	}
}

func TestProblemsError(t *testing.T) {
	ps := Problems{
		{Source: "drover.yaml:3", Key: "node", Reason: "bad"},
		{Source: "drover.yaml", Reason: "invalid YAML: oops"},
	}
	want := "drover.yaml:3: node: bad\ndrover.yaml: invalid YAML: oops"
	if got := ps.Error(); got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}

func TestVirtualMAC(t *testing.T) {
	for _, tc := range []struct {
		id   int
		want string
	}{
		{0, ""},
		{1, "00:00:5e:00:01:01"},
		{42, "00:00:5e:00:01:2a"},
		{255, "00:00:5e:00:01:ff"},
		{256, ""},
		{-1, ""},
	} {
		mac := VIPGroup{VirtualMACID: tc.id}.VirtualMAC()
		if got := mac.String(); got != tc.want || (tc.want == "") != (mac == nil) {
			t.Errorf("VirtualMAC() with id %d = %q, want %q", tc.id, got, tc.want)
		}
	}
}
