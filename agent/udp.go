package agent

import (
	"errors"
	"fmt"
	"net"
	"sort"
	"time"

	"github.com/droverha/drover/bus"
)

// udpPath is the direct heartbeat between directors: one datagram per
// interval to each configured peer, so that trouble on the bus is not taken
// for a dead director.
type udpPath struct {
	conn  net.PacketConn
	peers map[string]*net.UDPAddr
}

func (a *Agent) startUDP() error {
	v := a.cfg.VIP
	if v.UDPListen == "" {
		return nil
	}
	conn, err := net.ListenPacket("udp", v.UDPListen)
	if err != nil {
		return fmt.Errorf("udp heartbeat listener %s: %w", v.UDPListen, err)
	}
	p := &udpPath{conn: conn, peers: map[string]*net.UDPAddr{}}
	for name, addr := range v.UDPPeers {
		ua, err := net.ResolveUDPAddr("udp", addr)
		if err != nil {
			conn.Close()
			return fmt.Errorf("udp heartbeat peer %s at %s: %w", name, addr, err)
		}
		p.peers[name] = ua
	}
	a.udp = p
	go a.readUDP(p)
	return nil
}

func (a *Agent) readUDP(p *udpPath) {
	buf := make([]byte, 2048)
	for {
		n, from, err := p.conn.ReadFrom(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		h, err := bus.DecodeUDPHeartbeat(buf[:n])
		if err == nil && h.Cluster != a.cfg.Cluster {
			err = fmt.Errorf("%w: udp heartbeat for cluster %q", bus.ErrMalformed, h.Cluster)
		}
		if err == nil {
			if _, known := p.peers[h.Node]; !known {
				err = fmt.Errorf("%w: udp heartbeat from unknown peer %q at %s", bus.ErrMalformed, h.Node, from)
			}
		}
		if a.drops.Count(err) {
			continue
		}
		a.mu.Lock()
		a.udpSeen[h.Node] = time.Now()
		a.mu.Unlock()
	}
}

func (a *Agent) sendUDP(seq uint64) {
	p := a.udp
	if p == nil {
		return
	}
	b, err := bus.Encode(bus.UDPHeartbeat{V: bus.Version, Cluster: a.cfg.Cluster, Node: a.cfg.Node, Boot: a.boot, Seq: seq})
	if err != nil {
		return
	}
	names := make([]string, 0, len(p.peers))
	for n := range p.peers {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		_, _ = p.conn.WriteTo(b, p.peers[n])
	}
}

// udpAgesLocked returns the peers heard over UDP within window, with the
// age of the latest heartbeat in milliseconds.
func (a *Agent) udpAgesLocked(now time.Time, window time.Duration) map[string]int64 {
	var out map[string]int64
	for n, t := range a.udpSeen {
		if age := now.Sub(t); age <= window {
			if out == nil {
				out = map[string]int64{}
			}
			out[n] = age.Milliseconds()
		}
	}
	return out
}
