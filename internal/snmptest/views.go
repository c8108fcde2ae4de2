package snmptest

import (
	"fmt"
	"time"

	"github.com/droverha/drover/model"
)

// ViewTime is the instant of ThreeNodeView; Zero, an hour before, is when
// sysUpTime was 0 for the tests that serve it.
var (
	ViewTime = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	Zero     = ViewTime.Add(-time.Hour)
)

// ThreeNodeView is the view of node dir1 of the three-node cluster "farm":
// dir1 (manager) and dir2 direct, web1 is a real server whose agent died.
// It has a VIP group with an IPv4 and an IPv6 address, one without an
// owner, an address service with persistence, a sorry server and three
// real servers (one down, one quiesced by an operator), an IPv6 UDP
// service and a firewall-mark service.
func ThreeNodeView() model.View {
	t := ViewTime
	ago := func(d time.Duration) time.Time { return t.Add(-d) }
	counters := func(n uint64) model.Counters {
		return model.Counters{Connections: n, PacketsIn: 10 * n, PacketsOut: 9 * n, BytesIn: 1000 * n, BytesOut: 20000 * n}
	}
	return model.View{
		V: model.ViewVersion, Cluster: "farm", Observer: "dir1", Time: t,
		Manager: "dir1", Epoch: 17,
		Quorum: model.Quorum{Have: true, Present: 2, Voters: 3, Needed: 2},
		Nodes: []model.Node{
			{Name: "dir1", State: model.NodeAlive, Since: ago(50 * time.Minute), LastHeartbeat: ago(40 * time.Millisecond),
				HeartbeatAgeMS: 40, Manager: true, Quorum: true, Boot: "5f1c9a0b2e7d", Version: "0.4.0", Held: []string{"web"}, UDP: true},
			{Name: "dir2", State: model.NodeAlive, Since: ago(49 * time.Minute), LastHeartbeat: ago(70 * time.Millisecond),
				HeartbeatAgeMS: 70, Quorum: true, Boot: "0c9d8e7f6a5b", Version: "0.4.0", UDP: true, Drained: true},
			{Name: "web1", State: model.NodeDead, Since: ago(2 * time.Minute), LastHeartbeat: ago(2*time.Minute + 700*time.Millisecond),
				HeartbeatAgeMS: 120700, Boot: "a1b2c3d4e5f6", Version: "0.4.0", Reason: "no heartbeat for 700ms"},
		},
		VIPGroups: []model.VIPGroupView{
			{Name: "web", Addresses: []string{"192.0.2.10/24", "2001:db8::10/64"}, VirtualMAC: "00:00:5e:00:01:0a",
				Owner: "dir1", Reason: "highest priority alive candidate", Since: ago(48 * time.Minute), Epoch: 17, HeldBy: []string{"dir1"},
				Candidates: []model.CandidateView{{Node: "dir1", Priority: 200}, {Node: "dir2", Priority: 100}}},
			{Name: "mail", Addresses: []string{"198.51.100.25/24"},
				Reason: "no alive candidate", Since: ago(2 * time.Hour), Epoch: 17,
				Candidates: []model.CandidateView{{Node: "web1", Priority: 100}}},
		},
		Services: []model.ServiceView{
			{Name: "web-http", Key: "TCP 192.0.2.10:80", Scheduler: "wrr", Persistence: "5m0s/24",
				Quorum: model.QuorumView{Have: true, HealthyWeight: 100, Needed: 100, RegainAt: 120},
				Reason: "healthy weight 100 of 100 needed (1 of 3 real servers quiesced or disabled by an operator)", Since: ago(45 * time.Minute), Epoch: 17,
				RealServers: []model.RealServerView{
					{Address: "198.51.100.21:80", Forward: "nat", Weight: 100, Applied: 100, Healthy: true, Known: true,
						Reason: "HTTP 200", Since: ago(45 * time.Minute), Probes: []model.ProbeView{
							{Node: "dir1", Healthy: true, Known: true, Reason: "HTTP 200", Since: ago(45 * time.Minute)},
							{Node: "dir2", Healthy: true, Known: true, Reason: "HTTP 200", Since: ago(44 * time.Minute)},
						}},
					{Address: "198.51.100.22:80", Forward: "nat", Weight: 50, Applied: 0, Admin: model.AdminQuiesced, Healthy: true, Known: true,
						Reason: "quiesced by an operator; HTTP 200", Since: ago(40 * time.Minute), Probes: []model.ProbeView{
							{Node: "dir1", Healthy: true, Known: true, Reason: "HTTP 200", Since: ago(40 * time.Minute)},
						}},
					{Address: "198.51.100.23:80", Forward: "nat", Weight: 100, Node: "web1", Applied: 0, Known: true,
						Reason: "connect: connection refused", Since: ago(2 * time.Minute), Probes: []model.ProbeView{
							{Node: "dir1", Known: true, Reason: "connect: connection refused", Since: ago(2 * time.Minute)},
							{Node: "dir2", Known: true, Reason: "connect: connection refused", Since: ago(2 * time.Minute)},
						}},
					{Address: "203.0.113.99:80", Forward: "nat", Weight: 1, Applied: -1, Sorry: true, Reason: "sorry server"},
				},
				Directors: []model.DirectorCounter{
					{Node: "dir1", At: ago(time.Second), Stats: counters(3000), Dests: []model.DestCounter{
						{Address: "198.51.100.21:80", Weight: 100, Active: 12, Inactive: 30, Stats: counters(2000)},
						{Address: "198.51.100.22:80", Weight: 0, Active: 6, Inactive: 15, Stats: counters(1000)},
						{Address: "198.51.100.23:80", Weight: 0, Stats: counters(0)},
					}},
					{Node: "dir2", At: ago(time.Second), Stats: counters(5), Dests: []model.DestCounter{
						{Address: "198.51.100.21:80", Weight: 100, Active: 1, Stats: counters(5)},
					}},
				}},
			{Name: "dns", Key: "UDP [2001:db8::53]:53", Scheduler: "sh", Flags: []string{"sh-port"},
				Quorum: model.QuorumView{Have: false, HealthyWeight: 0, Needed: 1, RegainAt: 1},
				Reason: "no healthy real server", Since: ago(30 * time.Minute), Epoch: 17,
				RealServers: []model.RealServerView{
					{Address: "[2001:db8::21]:53", Forward: "dr", Weight: 1, Applied: -1, Reason: "no decision yet"},
				}},
			{Name: "mark5", Key: "FWM 5", Scheduler: "mh",
				Quorum: model.QuorumView{Have: true, HealthyWeight: 1, Needed: 1, RegainAt: 1},
				Reason: "healthy weight 1 of 1 needed", Since: ago(90 * time.Minute), Epoch: 16,
				RealServers: []model.RealServerView{
					{Address: "198.51.100.31:0", Forward: "tunnel", Weight: 1, Applied: 1, Healthy: true, Known: true,
						Reason: "exit 0", Since: ago(90 * time.Minute)},
				}},
		},
	}
}

// LargeView is ThreeNodeView with one more service, "big" (TCP
// 192.0.2.200:443), with rows real servers. Their addresses come from the
// documentation ranges 198.51.100.0/24 and 203.0.113.0/24, on ports from
// 1024 up, so rows may be up to 2×256×64000.
func LargeView(rows int) model.View {
	v := ThreeNodeView()
	s := model.ServiceView{Name: "big", Key: "TCP 192.0.2.200:443", Scheduler: "wlc",
		Quorum: model.QuorumView{Have: true, HealthyWeight: rows, Needed: 1, RegainAt: 1},
		Reason: "healthy", Since: ViewTime.Add(-time.Minute), Epoch: 17}
	nets := []string{"198.51.100", "203.0.113"}
	for i := range rows {
		addr := fmt.Sprintf("%s.%d:%d", nets[i%2], (i/2)%256, 1024+i/512)
		s.RealServers = append(s.RealServers, model.RealServerView{Address: addr, Forward: "dr", Weight: 1, Applied: 1,
			Healthy: true, Known: true, Reason: "connect ok", Since: ViewTime.Add(-time.Minute)})
	}
	v.Services = append(v.Services, s)
	return v
}
