package agent

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/droverha/drover/agent/ipvs"
	"github.com/droverha/drover/agent/vip"
	"github.com/droverha/drover/internal/snmptest"
	"github.com/droverha/drover/mib"
	"github.com/droverha/drover/model"
)

// snmpNode is one node's SNMP faces, as `drover agent` wires them: a
// subagent under the node's own snmpd, and a standalone agent.
type snmpNode struct {
	agent      atomic.Pointer[running]
	notifier   *mib.Notifier
	snmpd      *snmptest.Snmpd
	subagent   *mib.Subagent
	standalone *mib.Standalone
}

func (n *snmpNode) view() model.View {
	if a := n.agent.Load(); a != nil {
		return a.View()
	}
	return model.View{}
}

const (
	testUser = "monitor"
	testAuth = "auth-passphrase-1"
	testPriv = "priv-passphrase-1"
)

// TestSNMPClusterNotifications runs a three-node cluster (two directors
// sharing VIP group "web" and load-balancing "web-http" to two real HTTP
// servers, and a witness), each node with its own snmpd and subagent and a
// standalone agent. snmpd forwards the subagents' notifications to one
// snmptrapd; the standalone agents send SNMPv2c traps to a second and
// SNMPv3 informs to a third. Walks through both faces show the cluster; a
// real server's failure and the VIP owner's death arrive as notifications
// with the right varbinds at all three receivers.
func TestSNMPClusterNotifications(t *testing.T) {
	snmptest.Need(t, "snmpd", "snmptrapd", "snmpwalk", "snmpget")
	dir := t.TempDir()
	viaSnmpd := snmptest.StartTrapd(t, dir+"/t1", snmptest.TrapdConfig{Community: "public"})
	v2c := snmptest.StartTrapd(t, dir+"/t2", snmptest.TrapdConfig{Community: "public"})
	const trapdEngine = "0x80001f8804747261706433" // snmptrapd's own engine ID: informs go to it
	v3 := snmptest.StartTrapd(t, dir+"/t3", snmptest.TrapdConfig{Extra: []string{
		"engineID " + trapdEngine,
		fmt.Sprintf("createUser %s SHA %s AES %s", testUser, testAuth, testPriv),
		"authUser log " + testUser + " priv",
	}})

	rs := []*realServer{newRealServer(t), newRealServer(t)}
	check := model.Check{Kind: "http", Method: "GET", Path: "/", Interval: 50 * time.Millisecond, Timeout: 50 * time.Millisecond, Rise: 2, Fall: 2}
	svc := model.VirtualService{Name: "web-http", Protocol: "tcp", Address: netip.MustParseAddrPort("192.0.2.10:80"),
		Scheduler: "wrr", OnFailure: model.OnFailureQuiescent, Check: check}
	for _, r := range rs {
		svc.RealServers = append(svc.RealServers, model.RealServer{Address: r.addr, Weight: 1, Forward: "nat"})
	}
	web := VIPGroup{
		VIPGroup: model.VIPGroup{Name: "web", Interface: "eth0", Preempt: true,
			Addresses:  []netip.Prefix{netip.MustParsePrefix("192.0.2.10/24")},
			Candidates: []model.Candidate{{Node: "n1", Priority: 200}, {Node: "n2", Priority: 100}}},
		GARP: vip.GARP{Count: 1, Mode: vip.ModeBoth},
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	nodes := make([]*snmpNode, 3)
	for i := range nodes {
		n := &snmpNode{}
		nodes[i] = n
		ndir := fmt.Sprintf("%s/n%d", dir, i+1)
		n.snmpd = snmptest.StartSnmpd(t, ndir, snmptest.SnmpdConfig{TrapSinks: []string{viaSnmpd.Addr}})
		n.subagent = mib.NewSubagent(mib.SubagentConfig{Network: "unix", Address: n.snmpd.Socket, View: n.view})
		var err error
		n.standalone, err = mib.NewStandalone(mib.StandaloneConfig{
			Listen: "127.0.0.1:0", Communities: []string{"public"},
			Users:    []mib.USMUser{{Name: testUser, AuthProtocol: "SHA", AuthPassphrase: testAuth, PrivProtocol: "AES", PrivPassphrase: testPriv}},
			EngineID: fmt.Sprintf("test/n%d", i+1),
			Receivers: []mib.Receiver{
				{Address: v2c.Addr, Version: "2c", Community: "public"},
				{Address: v3.Addr, Version: "3", User: testUser, Inform: true},
			},
			View: n.view, SysName: fmt.Sprintf("n%d", i+1),
		})
		if err != nil {
			t.Fatal(err)
		}
		n.notifier = mib.NewNotifier(n.view, nil, n.subagent, n.standalone)
		done := make(chan struct{})
		stopped := make(chan struct{}, 3)
		go func() { n.subagent.Run(ctx); stopped <- struct{}{} }()
		go func() { n.standalone.Run(ctx); stopped <- struct{}{} }()
		go func() { n.notifier.Run(done); stopped <- struct{}{} }()
		t.Cleanup(func() {
			cancel()
			close(done)
			for range 3 {
				select {
				case <-stopped:
				case <-time.After(5 * time.Second):
					t.Error("an SNMP face did not stop within 5s")
				}
			}
		})
	}
	vc := &vipCluster{hosts: []*vip.Fake{vip.NewFake(), vip.NewFake(), vip.NewFake()}}
	vc.testCluster = newTestClusterWith(t, 3, func(i int, cfg *Config) {
		cfg.VIP.Groups = []VIPGroup{web}
		cfg.VIP.Client = vc.hosts[i]
		cfg.VIP.SelfFenceAfter = 400 * time.Millisecond
		cfg.Services = []model.VirtualService{svc}
		cfg.Director = i < 2
		cfg.IPVS = ipvs.NewFake()
		cfg.OnEvent = nodes[i].notifier.Event
	})
	for i, n := range nodes {
		n.agent.Store(vc.agents[i])
	}
	manager, _ := vc.waitAgreed(15*time.Second, all(3))
	waitFor(t, 15*time.Second, "both real servers up in the view", func() bool {
		v := nodes[0].view()
		return len(v.Services) == 1 && v.Services[0].Quorum.HealthyWeight == 2
	})

	walk := func(args ...string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		out, err := snmptest.Tool(ctx, dir, args...)
		if err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		return out
	}
	// Through snmpd and the subagent of n1, and through n2's standalone
	// agent over SNMPv3: the same cluster.
	wantLines := []string{
		`.1.3.6.1.4.1.99999.1.1.1.0 = STRING: "test"`,
		fmt.Sprintf(`.1.3.6.1.4.1.99999.1.1.3.0 = STRING: "%s"`, manager),
		`.1.3.6.1.4.1.99999.1.1.9.0 = Gauge32: 3`,
		`.1.3.6.1.4.1.99999.1.1.10.0 = Gauge32: 3`,
		`.1.3.6.1.4.1.99999.1.1.13.0 = Gauge32: 1`,
	}
	waitFor(t, 10*time.Second, "the subagent of n1 registered with its snmpd", func() bool {
		return nodes[0].subagent.Stats().Connected
	})
	viaSub := walk("snmpwalk", "-v2c", "-c", "public", "-On", nodes[0].snmpd.Addr, "1.3.6.1.4.1.99999")
	viaV3 := walk("snmpwalk", "-v3", "-l", "authPriv", "-u", testUser, "-a", "SHA", "-A", testAuth, "-x", "AES", "-X", testPriv,
		"-On", nodes[1].standalone.Addr().String(), "1.3.6.1.4.1.99999")
	for _, w := range wantLines {
		if !strings.Contains(viaSub, w+"\n") {
			t.Errorf("walk through snmpd lacks %q:\n%s", w, viaSub)
		}
		if !strings.Contains(viaV3, w+"\n") {
			t.Errorf("SNMPv3 walk of the standalone agent lacks %q:\n%s", w, viaV3)
		}
	}
	rsRows := func(walk string) int { return strings.Count(walk, ".1.3.6.1.4.1.99999.1.6.1.4.") }
	if rsRows(viaSub) != 2 || rsRows(viaV3) != 2 {
		t.Errorf("realServerTable rows: %d through snmpd, %d standalone; want 2", rsRows(viaSub), rsRows(viaV3))
	}

	// The manager announced its election at start, maybe before its faces
	// were connected: the notification waited for them.
	managerElected := "1.3.6.1.4.1.99999.0.3"
	for _, r := range []struct {
		name string
		td   *snmptest.Trapd
	}{{"snmpd", viaSnmpd}, {"v2c", v2c}, {"v3 inform", v3}} {
		tr, ok := r.td.Wait(t, managerElected, 10*time.Second)
		if !ok {
			t.Errorf("%s: no droverManagerElected", r.name)
			continue
		}
		want := fmt.Sprintf(`.1.3.6.1.4.1.99999.1.1.3.0 = STRING: "%s"`, manager)
		if len(tr.VarBinds) < 4 || tr.VarBinds[2] != want || !strings.HasPrefix(tr.VarBinds[3], ".1.3.6.1.4.1.99999.1.1.4.0 = Counter64: ") {
			t.Errorf("%s: droverManagerElected varbinds %q", r.name, tr.VarBinds)
		}
	}

	// A real server fails: droverRealServerDown from the manager's host.
	rs[1].stop()
	rsDown := "1.3.6.1.4.1.99999.0.8"
	ri, _ := mib.RealServerIndex(mib.NameHash("web-http"), rs[1].addr.String())
	for _, r := range []struct {
		name string
		td   *snmptest.Trapd
	}{{"snmpd", viaSnmpd}, {"v2c", v2c}, {"v3 inform", v3}} {
		tr, ok := r.td.Wait(t, rsDown, 10*time.Second)
		if !ok {
			t.Errorf("%s: no droverRealServerDown", r.name)
			continue
		}
		want := []string{
			fmt.Sprintf(`.1.3.6.1.4.1.99999.1.5.1.2.%d = STRING: "web-http"`, mib.NameHash("web-http")),
			fmt.Sprintf(`.1.3.6.1.4.1.99999.1.6.1.4.%s = STRING: "%s"`, ri, rs[1].addr),
			fmt.Sprintf(`.1.3.6.1.4.1.99999.1.6.1.7.%s = INTEGER: 2`, ri),
		}
		if len(tr.VarBinds) != 6 || tr.VarBinds[2] != want[0] || tr.VarBinds[3] != want[1] || tr.VarBinds[4] != want[2] ||
			!strings.HasPrefix(tr.VarBinds[5], fmt.Sprintf(".1.3.6.1.4.1.99999.1.6.1.12.%s = STRING: ", ri)) {
			t.Errorf("%s: droverRealServerDown varbinds %q, want %q and a reason", r.name, tr.VarBinds, want)
		}
	}

	// The VIP owner dies: droverNodeDown, and droverVipGroupMoved to n2.
	if manager == "n1" {
		t.Skip("n1 became manager; the VIP owner's death would take the notifying manager with it")
	}
	vc.crash(0)
	nodeDown, moved := "1.3.6.1.4.1.99999.0.2", "1.3.6.1.4.1.99999.0.6"
	web1 := mib.NameHash("web")
	for _, r := range []struct {
		name string
		td   *snmptest.Trapd
	}{{"snmpd", viaSnmpd}, {"v2c", v2c}, {"v3 inform", v3}} {
		tr, ok := r.td.Wait(t, nodeDown, 10*time.Second)
		n1 := mib.NameHash("n1")
		if !ok {
			t.Errorf("%s: no droverNodeDown", r.name)
		} else if len(tr.VarBinds) != 5 || tr.VarBinds[2] != fmt.Sprintf(`.1.3.6.1.4.1.99999.1.2.1.2.%d = STRING: "n1"`, n1) ||
			tr.VarBinds[3] != fmt.Sprintf(`.1.3.6.1.4.1.99999.1.2.1.3.%d = INTEGER: 4`, n1) {
			t.Errorf("%s: droverNodeDown varbinds %q", r.name, tr.VarBinds)
		}
		// The group was placed on n1 at start: wait for the move away.
		tr, ok = r.td.WaitMatch(t, 10*time.Second, func(tr snmptest.Trap) bool {
			return tr.TrapOID() == moved && len(tr.VarBinds) > 4 && strings.HasSuffix(tr.VarBinds[4], `"n1"`)
		})
		if !ok {
			t.Errorf("%s: no droverVipGroupMoved", r.name)
		} else if len(tr.VarBinds) != 7 || tr.VarBinds[2] != fmt.Sprintf(`.1.3.6.1.4.1.99999.1.3.1.2.%d = STRING: "web"`, web1) ||
			tr.VarBinds[3] != fmt.Sprintf(`.1.3.6.1.4.1.99999.1.3.1.4.%d = STRING: "n2"`, web1) ||
			tr.VarBinds[4] != fmt.Sprintf(`.1.3.6.1.4.1.99999.1.3.1.5.%d = STRING: "n1"`, web1) {
			t.Errorf("%s: droverVipGroupMoved varbinds %q", r.name, tr.VarBinds)
		}
	}
}
