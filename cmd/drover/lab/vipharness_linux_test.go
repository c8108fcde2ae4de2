package lab

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"os/exec"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mdlayher/packet"

	"github.com/droverha/drover/agent/vip"
)

// vipTopology: two directors, a witness and a client; group web
// (192.0.2.50) prefers dir1, group mac (192.0.2.51, virtual MAC id 7)
// prefers dir2.
func vipTopology(name string) *Topology { return vipTopologyWith(name, "") }

// vipTopologyWith adds extra, indented YAML under the topology's agent: map.
func vipTopologyWith(name, extra string) *Topology {
	t, err := ParseTopology([]byte(fmt.Sprintf(`
name: %s
subnet: 192.0.2.0/24
subnet6: 2001:db8:0:1::/64
hosts:
  - {name: dir1, addr: 192.0.2.11, addr6: "2001:db8:0:1::11", agent: true}
  - {name: dir2, addr: 192.0.2.12, addr6: "2001:db8:0:1::12", agent: true}
  - {name: wit1, addr: 192.0.2.13, agent: true}
  - {name: client, addr: 192.0.2.100, addr6: "2001:db8:0:1::100"}
agent:
  log: {level: debug}
  vip_groups:
    - name: web
      interface: eth0
      addresses: [192.0.2.50/24, "2001:db8:0:1::50/64"]
      candidates: [{node: dir1, priority: 200}, {node: dir2, priority: 100}]
    - name: mac
      interface: eth0
      addresses: [192.0.2.51/24]
      virtual_mac_id: 7
      candidates: [{node: dir2, priority: 200}, {node: dir1, priority: 100}]
%s`, name, extra)))
	if err != nil {
		panic(err)
	}
	return t
}

var (
	webVIP6 = netip.MustParseAddr("2001:db8:0:1::50")
	webVIP  = netip.MustParseAddr("192.0.2.50")
	macVIP  = netip.MustParseAddr("192.0.2.51")
)

// echo answers UDP probes on port 7007 in a host's namespace with the
// host's name, so the client knows who served it.
func echo(t testing.TB, l *Lab, host string) {
	t.Helper()
	var conn net.PacketConn
	if err := InNS(l.NS(host), func() (err error) {
		conn, err = net.ListenPacket("udp", ":7007")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	go func() {
		buf := make([]byte, 64)
		for {
			n, from, err := conn.ReadFrom(buf)
			if err != nil {
				return
			}
			if n >= 8 {
				_, _ = conn.WriteTo(append(buf[:8:8], host...), from)
			}
		}
	}()
}

type reply struct {
	seq  uint64
	host string
	at   time.Time
}

// prober sends a UDP probe to a VIP every 5 ms from the client and records
// which host answered each.
type prober struct {
	conn net.PacketConn
	dst  net.Addr
	mu   sync.Mutex // guards sent, replies
	sent []time.Time
	rep  map[uint64]reply
	stop chan struct{}
	wg   sync.WaitGroup
}

func probe(t testing.TB, l *Lab, addr netip.Addr) *prober {
	t.Helper()
	p := &prober{dst: net.UDPAddrFromAddrPort(netip.AddrPortFrom(addr, 7007)), rep: map[uint64]reply{}, stop: make(chan struct{})}
	if err := InNS(l.NS("client"), func() (err error) {
		p.conn, err = net.ListenPacket("udp", ":0")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	p.wg.Go(func() {
		buf := make([]byte, 64)
		for {
			n, _, err := p.conn.ReadFrom(buf)
			if err != nil {
				return
			}
			if n >= 8 {
				seq := binary.BigEndian.Uint64(buf[:8])
				p.mu.Lock()
				p.rep[seq] = reply{seq: seq, host: string(buf[8:n]), at: time.Now()}
				p.mu.Unlock()
			}
		}
	})
	p.wg.Go(func() {
		tk := time.NewTicker(5 * time.Millisecond)
		defer tk.Stop()
		var b [8]byte
		for {
			select {
			case <-p.stop:
				return
			case <-tk.C:
			}
			p.mu.Lock()
			seq := uint64(len(p.sent))
			p.sent = append(p.sent, time.Now())
			p.mu.Unlock()
			binary.BigEndian.PutUint64(b[:], seq)
			_, _ = p.conn.WriteTo(b[:], p.dst)
		}
	})
	t.Cleanup(p.close)
	return p
}

func (p *prober) close() {
	select {
	case <-p.stop:
	default:
		close(p.stop)
		p.conn.Close()
		p.wg.Wait()
	}
}

// mark returns the next probe's sequence number.
func (p *prober) mark() uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return uint64(len(p.sent))
}

// gap is the longest time without an answered probe from the sending of
// probe from (the event) up to the last probe answered, who answered
// last, and how many probes in that stretch went unanswered.
func (p *prober) gap(from uint64) (time.Duration, string, int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var (
		worst    time.Duration
		lastOK   = int(from) - 1 // the event: as if the probe before it was answered
		lastHost string
		lost     int
	)
	if lastOK < 0 || lastOK >= len(p.sent) {
		return 0, "", 0
	}
	for i := int(from); i < len(p.sent); i++ {
		r, ok := p.rep[uint64(i)]
		if !ok {
			lost++
			continue
		}
		if d := p.sent[i].Sub(p.sent[lastOK]); d > worst {
			worst = d
		}
		lastOK, lastHost = i, r.host
	}
	// Probes lost after the last answer are not counted as lost yet.
	for i := lastOK + 1; i < len(p.sent); i++ {
		if _, ok := p.rep[uint64(i)]; !ok {
			lost--
		}
	}
	return worst, lastHost, lost
}

// waitServed waits until probes sent after seq from are answered by host.
func (p *prober) waitServed(t testing.TB, from uint64, host string, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		p.mu.Lock()
		n := uint64(len(p.sent))
		ok := 0
		for i := max(from, n-10); i < n; i++ {
			if r, found := p.rep[i]; found && r.host == host {
				ok++
			}
		}
		p.mu.Unlock()
		if ok >= 5 {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	_, last, _ := p.gap(from)
	t.Fatalf("probes to %s not answered by %s within %v (last answer from %q)", p.dst, host, d, last)
}

// arpWatch sends an ARP request for each VIP every 10 ms from the client,
// each from its own sender address (192.0.2.150–199) so that every reply
// names the request it answers, and fails the test if one request is
// answered by two different MACs.
type arpWatch struct {
	conn  *packet.Conn
	mu    sync.Mutex // guards owner, twice, asked
	owner map[[2]netip.Addr]string
	twice []string
	asked int
	stop  chan struct{}
	wg    sync.WaitGroup
}

func watchARP(t testing.TB, l *Lab, vips ...netip.Addr) *arpWatch {
	t.Helper()
	w := &arpWatch{owner: map[[2]netip.Addr]string{}, stop: make(chan struct{})}
	if err := InNS(l.NS("client"), func() error {
		ifi, err := net.InterfaceByName("eth0")
		if err != nil {
			return err
		}
		w.conn, err = packet.Listen(ifi, packet.Raw, 0x0806, nil)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	mac := l.MAC("client")
	w.wg.Go(func() {
		buf := make([]byte, 1500)
		for {
			n, _, err := w.conn.ReadFrom(buf)
			if err != nil {
				return
			}
			_, a, err := vip.ParseARPFrame(buf[:n])
			if err != nil || a.Op != vip.ARPReply || a.TargetMAC.String() != mac.String() {
				continue
			}
			key := [2]netip.Addr{a.SenderIP, a.TargetIP}
			w.mu.Lock()
			if prev, ok := w.owner[key]; ok && prev != a.SenderMAC.String() {
				w.twice = append(w.twice, fmt.Sprintf("%s answered by %s and %s at %s", a.SenderIP, prev, a.SenderMAC, time.Now().Format("15:04:05.000")))
			}
			w.owner[key] = a.SenderMAC.String()
			w.mu.Unlock()
		}
	})
	w.wg.Go(func() {
		tk := time.NewTicker(10 * time.Millisecond)
		defer tk.Stop()
		for k := 0; ; k++ {
			select {
			case <-w.stop:
				return
			case <-tk.C:
			}
			src := netip.AddrFrom4([4]byte{192, 0, 2, byte(150 + k%50)})
			w.mu.Lock()
			for _, v := range vips {
				delete(w.owner, [2]netip.Addr{v, src}) // a new request with this tag
			}
			w.asked++
			w.mu.Unlock()
			for _, v := range vips {
				f, _ := vip.ARP{Op: vip.ARPRequest, SenderMAC: mac, SenderIP: src,
					TargetMAC: make(net.HardwareAddr, 6), TargetIP: v}.Frame(net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
				_, _ = w.conn.WriteTo(f, &packet.Addr{HardwareAddr: net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}})
			}
		}
	})
	t.Cleanup(w.close)
	return w
}

func (w *arpWatch) close() {
	select {
	case <-w.stop:
	default:
		close(w.stop)
		w.conn.Close()
		w.wg.Wait()
	}
}

// check fails the test if two MACs ever answered one request.
func (w *arpWatch) check(t testing.TB) {
	t.Helper()
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.twice) > 0 {
		t.Errorf("two owners in %d of %d ARP rounds; first: %s", len(w.twice), w.asked, strings.Join(w.twice[:min(5, len(w.twice))], "; "))
	}
}

// neighbour returns the client's ARP (or, for IPv6, neighbour) entry for
// addr.
func neighbour(l *Lab, addr netip.Addr) string {
	out, _ := exec.Command("ip", "-n", l.NS("client"), "neigh", "show", addr.String(), "dev", "eth0").Output()
	f := strings.Fields(string(out))
	for i, x := range f {
		if x == "lladdr" && i+1 < len(f) {
			return f[i+1]
		}
	}
	return ""
}

func waitNeighbour(t testing.TB, l *Lab, addr netip.Addr, mac string, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for neighbour(l, addr) != mac {
		if time.Now().After(deadline) {
			t.Fatalf("client's neighbour entry for %s is %q, want %s", addr, neighbour(l, addr), mac)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// partition cuts host's bus (NATS client and route ports) with nftables,
// leaving its UDP heartbeats alone.
func partition(t testing.TB, l *Lab, host string) {
	t.Helper()
	rules := "table inet drovertest {\n chain in { type filter hook input priority 0; tcp dport { 4222, 6222 } drop; tcp sport 6222 drop; }\n" +
		" chain out { type filter hook output priority 0; tcp dport 6222 drop; tcp sport 6222 drop; }\n}\n"
	cmd := exec.Command("ip", "netns", "exec", l.NS(host), "nft", "-f", "-")
	cmd.Stdin = strings.NewReader(rules)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("nft: %v\n%s", err, out)
	}
}

func unpartition(t testing.TB, l *Lab, host string) {
	t.Helper()
	_ = exec.Command("ip", "netns", "exec", l.NS(host), "nft", "delete", "table", "inet", "drovertest").Run()
}

// gaps summarises service gaps.
func gaps(ds []time.Duration) string {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	pct := func(p float64) time.Duration {
		i := int(float64(len(s))*p+0.999999) - 1
		return s[min(max(i, 0), len(s)-1)]
	}
	return fmt.Sprintf("p50 %v p95 %v p99 %v max %v (n=%d)", pct(.5).Round(time.Millisecond), pct(.95).Round(time.Millisecond),
		pct(.99).Round(time.Millisecond), s[len(s)-1].Round(time.Millisecond), len(s))
}

// sentAt is when probe seq went out.
func (p *prober) sentAt(seq uint64) time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	if int(seq) < len(p.sent) {
		return p.sent[seq]
	}
	return time.Time{}
}
