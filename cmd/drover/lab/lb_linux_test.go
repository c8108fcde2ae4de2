package lab

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"
)

// lbTopology is one director (a single-node cluster: it holds the VIPs of
// group lb alone), three real servers, a sorry server and a client on one
// bridge. Services, all checked over HTTP every second (timeout 1s, rise
// 2, fall 3: the kernel lab VM is slow under load):
//
//	nat-rr   192.0.2.50:80  rr   NAT, sorry server 192.0.2.29:80
//	nat-wrr  192.0.2.50:81  wrr  NAT, weights 1:2:3, to port 80
//	nat-sh   192.0.2.50:82  sh   NAT
//	dr-rr    192.0.2.60:80  rr   DR
//	dr-wrr   192.0.2.61:80  wrr  DR, weights 1:2:3
//
// 192.0.2.254 is the NAT real servers' gateway to the client's outside
// address 203.0.113.100 (see LBNet).
func lbTopology(name string) *Topology {
	rs := func(port string, forward string, weights ...int) string {
		var b strings.Builder
		for i, w := range weights {
			fmt.Fprintf(&b, "        - {address: 192.0.2.2%d%s, forward: %s, weight: %d}\n", i+1, port, forward, w)
		}
		return b.String()
	}
	t, err := ParseTopology([]byte(`
name: ` + name + `
subnet: 192.0.2.0/24
hosts:
  - {name: dir1, addr: 192.0.2.11, agent: true}
  - {name: rs1, addr: 192.0.2.21}
  - {name: rs2, addr: 192.0.2.22}
  - {name: rs3, addr: 192.0.2.23}
  - {name: sorry, addr: 192.0.2.29}
  - {name: client, addr: 192.0.2.100}
agent:
  log: {level: debug}
  vip_groups:
    - name: lb
      interface: eth0
      addresses: [192.0.2.50/24, 192.0.2.60/24, 192.0.2.61/24, 192.0.2.254/24]
      candidates: [{node: dir1, priority: 200}]
  services:
    - name: nat-rr
      address: 192.0.2.50:80
      scheduler: rr
      check: {kind: http, path: /health, interval: 1s, timeout: 1s, fall: 3}
      sorry_server: {address: "192.0.2.29:80", forward: nat}
      real_servers:
` + rs(":80", "nat", 1, 1, 1) + `
    - name: nat-wrr
      address: 192.0.2.50:81
      scheduler: wrr
      check: {kind: http, path: /health, interval: 1s, timeout: 1s, fall: 3}
      real_servers:
` + rs(":80", "nat", 1, 2, 3) + `
    - name: nat-sh
      address: 192.0.2.50:82
      scheduler: sh
      check: {kind: http, path: /health, interval: 1s, timeout: 1s, fall: 3}
      real_servers:
` + rs(":80", "nat", 1, 1, 1) + `
    - name: dr-rr
      address: 192.0.2.60:80
      scheduler: rr
      check: {kind: http, path: /health, interval: 1s, timeout: 1s, fall: 3}
      real_servers:
` + rs("", "dr", 1, 1, 1) + `
    - name: dr-wrr
      address: 192.0.2.61:80
      scheduler: wrr
      check: {kind: http, path: /health, interval: 1s, timeout: 1s, fall: 3}
      real_servers:
` + rs("", "dr", 1, 2, 3)))
	if err != nil {
		panic(err)
	}
	return t
}

var lbNet = LBNet{
	Directors:   []string{"dir1"},
	RealServers: []string{"rs1", "rs2", "rs3", "sorry"},
	Client:      "client",
	ClientAddr:  netip.MustParseAddr("203.0.113.100"),
	NATVIPs:     []netip.Addr{netip.MustParseAddr("192.0.2.50")},
	Gateway:     netip.MustParseAddr("192.0.2.254"),
	DRVIPs:      []netip.Addr{netip.MustParseAddr("192.0.2.60"), netip.MustParseAddr("192.0.2.61")},
}

// TestPrivilegedLB runs a director's agent with five virtual services in
// front of three `drover lab serve` real servers, NAT and DR, and checks
// what a client sees: rr spreads evenly, wrr by weight, sh keeps a client
// on one server; a stopped real server leaves the table and gets nothing,
// comes back when restarted; with all of them down the sorry server
// answers. The kernel's table is compared with testdata/lb-ipvsadm-Sn.golden.
func TestPrivilegedLB(t *testing.T) {
	ipvsLab(t)
	bin := labBinary(t)
	l := up(t, lbTopology("lbt"), bin)
	dumpOnFailure(t, l, "dir1")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := l.SetupLB(ctx, lbNet); err != nil {
		t.Fatal(err)
	}
	servers := map[string]*Proc{}
	for _, h := range []string{"rs1", "rs2", "rs3", "sorry"} {
		p, err := l.Serve(ctx, h, h, 80)
		if err != nil {
			t.Fatal(err)
		}
		servers[h] = p
	}
	all := func(tbl string) bool {
		for key, n := range map[string]int{"-t 192.0.2.50:80": 3, "-t 192.0.2.50:81": 3, "-t 192.0.2.50:82": 3, "-t 192.0.2.60:80": 3, "-t 192.0.2.61:80": 3} {
			if len(realServersIn(tbl, key)) != n {
				return false
			}
		}
		return true
	}
	tbl := waitTable(t, l, "dir1", time.Minute, "every real server in the table", all)
	goldenFile(t, "lb-ipvsadm-Sn.golden", tbl)

	v := findService(t, services(t, l, "dir1"), "nat-rr")
	for _, r := range v.RealServers {
		if r.Sorry {
			if r.Applied >= 0 {
				t.Errorf("drover services: sorry server %s applied with weight %d while every real server is up", r.Address, r.Applied)
			}
			continue
		}
		if !r.Healthy || r.Applied != 1 {
			t.Errorf("drover services: %s healthy %v applied %d (%s), want healthy with weight 1", r.Address, r.Healthy, r.Applied, r.Reason)
		}
	}

	// The client reaches the NAT VIP from 203.0.113.100, the DR VIPs from
	// 192.0.2.100: its routes say so (LBNet).
	c, err := l.HTTPClient("client", 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	// Each service schedules on its own: a round robin starts wherever the
	// previous requests left it, so only the totals are exact.
	t.Run("nat-rr", func(t *testing.T) {
		got, slack := askScheduled(t, l, c, "192.0.2.50:80", 300, counts("rs1", 100, "rs2", 100, "rs3", 100), 1)
		spread(t, "NAT rr, 300 requests", got, counts("rs1", 100, "rs2", 100, "rs3", 100), slack)
	})
	t.Run("nat-wrr", func(t *testing.T) {
		got, slack := askScheduled(t, l, c, "192.0.2.50:81", 300, counts("rs1", 50, "rs2", 100, "rs3", 150), 1)
		spread(t, "NAT wrr 1:2:3, 300 requests", got, counts("rs1", 50, "rs2", 100, "rs3", 150), slack)
	})
	t.Run("nat-sh", func(t *testing.T) {
		got := ask(t, c, vipPort("192.0.2.50:82"), 30)
		if len(got) != 1 {
			t.Errorf("NAT sh: one client's 30 requests answered by %v, want a single server", got)
		} else {
			t.Logf("NAT sh: answers by server %v", got)
		}
	})
	t.Run("dr-rr", func(t *testing.T) {
		got, slack := askScheduled(t, l, c, "192.0.2.60:80", 300, counts("rs1", 100, "rs2", 100, "rs3", 100), 1)
		spread(t, "DR rr, 300 requests", got, counts("rs1", 100, "rs2", 100, "rs3", 100), slack)
	})
	t.Run("dr-wrr", func(t *testing.T) {
		got, slack := askScheduled(t, l, c, "192.0.2.61:80", 300, counts("rs1", 50, "rs2", 100, "rs3", 150), 1)
		spread(t, "DR wrr 1:2:3, 300 requests", got, counts("rs1", 50, "rs2", 100, "rs3", 150), slack)
	})
	if t.Failed() {
		return
	}

	// rs2 dies: after fall × interval its probe fails and the manager takes
	// it out of every service; no new connection reaches it.
	t.Run("real-server-down", func(t *testing.T) {
		if err := servers["rs2"].Kill(); err != nil {
			t.Fatal(err)
		}
		waitTable(t, l, "dir1", 30*time.Second, "rs2 out of nat-rr and dr-rr", func(tbl string) bool {
			return !slices.Contains(realServersIn(tbl, "-t 192.0.2.50:80"), "192.0.2.22:80") &&
				!slices.Contains(realServersIn(tbl, "-t 192.0.2.60:80"), "192.0.2.22:80")
		})
		for _, addr := range []string{"192.0.2.50:80", "192.0.2.60:80"} {
			got := ask(t, c, vipPort(addr), 30)
			if got["rs2"] > 0 || got["rs1"]+got["rs3"] != 30 {
				t.Errorf("%s with rs2 down: answers by server %v, want rs1 and rs3 only", addr, got)
			}
		}
		r := findService(t, services(t, l, "dir1"), "nat-rr").RealServers[1]
		if r.Address != "192.0.2.22:80" || r.Healthy || r.Applied != -1 {
			t.Errorf("drover services: %s healthy %v applied %d (%s), want down and out of the table", r.Address, r.Healthy, r.Applied, r.Reason)
		} else {
			t.Logf("drover services: %s is down: %s", r.Address, r.Reason)
		}
	})

	// rs2 is back: after rise × interval it is in the table again, and
	// takes its share.
	t.Run("real-server-back", func(t *testing.T) {
		p, err := l.Serve(ctx, "rs2", "rs2", 80)
		if err != nil {
			t.Fatal(err)
		}
		servers["rs2"] = p
		waitTable(t, l, "dir1", 30*time.Second, "rs2 back in nat-rr and dr-rr", func(tbl string) bool {
			return slices.Contains(realServersIn(tbl, "-t 192.0.2.50:80"), "192.0.2.22:80") &&
				slices.Contains(realServersIn(tbl, "-t 192.0.2.60:80"), "192.0.2.22:80")
		})
		spread(t, "NAT rr with rs2 back, 30 requests", ask(t, c, vipPort("192.0.2.50:80"), 30), counts("rs1", 10, "rs2", 10, "rs3", 10), 1)
	})

	// Every real server down: nat-rr's sorry server takes the traffic.
	t.Run("sorry-server", func(t *testing.T) {
		for _, h := range []string{"rs1", "rs2", "rs3"} {
			if err := servers[h].Kill(); err != nil {
				t.Fatal(err)
			}
		}
		waitTable(t, l, "dir1", 30*time.Second, "nat-rr served by the sorry server alone", func(tbl string) bool {
			return slices.Equal(realServersIn(tbl, "-t 192.0.2.50:80"), []string{"192.0.2.29:80"})
		})
		spread(t, "NAT rr with every real server down, 10 requests", ask(t, c, vipPort("192.0.2.50:80"), 10), counts("sorry", 10), 0)
		if v := findService(t, services(t, l, "dir1"), "nat-rr"); !v.SorryActive {
			t.Errorf("drover services: nat-rr sorry_active false (%s), want true", v.Reason)
		}
	})
}
