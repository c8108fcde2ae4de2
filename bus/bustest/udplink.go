package bustest

import (
	"net"
	"sync"
)

// UDPLink relays datagrams from its address to a target, and the replies
// back, until Cut. It makes a path of direct UDP heartbeats cuttable.
type UDPLink struct {
	conn   *net.UDPConn
	target *net.UDPAddr

	mu  sync.Mutex // guards cut
	cut bool
}

// NewUDPLink listens on 127.0.0.1 and forwards every datagram to target.
func NewUDPLink(target string) (*UDPLink, error) {
	t, err := net.ResolveUDPAddr("udp", target)
	if err != nil {
		return nil, err
	}
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return nil, err
	}
	l := &UDPLink{conn: c, target: t}
	go l.run()
	return l, nil
}

// Addr is the address to send to instead of the target.
func (l *UDPLink) Addr() string { return l.conn.LocalAddr().String() }

// Cut drops datagrams until Heal.
func (l *UDPLink) Cut() { l.mu.Lock(); l.cut = true; l.mu.Unlock() }

// Heal lets datagrams through again.
func (l *UDPLink) Heal() { l.mu.Lock(); l.cut = false; l.mu.Unlock() }

// Close stops the link.
func (l *UDPLink) Close() { l.conn.Close() }

func (l *UDPLink) run() {
	buf := make([]byte, 64<<10)
	for {
		n, _, err := l.conn.ReadFromUDP(buf)
		if err != nil {
			return
		}
		l.mu.Lock()
		cut := l.cut
		l.mu.Unlock()
		if !cut {
			_, _ = l.conn.WriteToUDP(buf[:n], l.target)
		}
	}
}
