package bustest

import (
	"io"
	"net"
	"sync"
)

// Link is a TCP forwarder on loopback from Addr to a target resolved at
// each connection, so the target may restart on another port. Cut drops
// every connection through it and refuses new ones until Heal.
type Link struct {
	ln     net.Listener
	target func() string

	mu     sync.Mutex // guards cut, conns, closed
	cut    bool
	conns  map[net.Conn]struct{}
	closed bool
}

// NewLink listens on 127.0.0.1 and forwards to target().
func NewLink(target func() string) (*Link, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	l := &Link{ln: ln, target: target, conns: map[net.Conn]struct{}{}}
	go l.accept()
	return l, nil
}

// Addr is the address to dial instead of the target.
func (l *Link) Addr() string { return l.ln.Addr().String() }

// Cut drops all connections and refuses new ones.
func (l *Link) Cut() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.cut = true
	for c := range l.conns {
		c.Close()
	}
}

// Heal lets connections through again.
func (l *Link) Heal() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.cut = false
}

// Close stops the link.
func (l *Link) Close() {
	l.mu.Lock()
	l.closed = true
	l.mu.Unlock()
	l.ln.Close()
	l.Cut()
}

func (l *Link) accept() {
	for {
		c, err := l.ln.Accept()
		if err != nil {
			return
		}
		go l.serve(c)
	}
}

func (l *Link) track(cs ...net.Conn) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.cut || l.closed {
		return false
	}
	for _, c := range cs {
		l.conns[c] = struct{}{}
	}
	return true
}

func (l *Link) untrack(cs ...net.Conn) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, c := range cs {
		delete(l.conns, c)
		c.Close()
	}
}

func (l *Link) serve(c net.Conn) {
	t := l.target()
	if t == "" || !l.track(c) {
		c.Close()
		return
	}
	up, err := net.Dial("tcp", t)
	if err != nil {
		l.untrack(c)
		return
	}
	if !l.track(up) {
		l.untrack(c, up)
		return
	}
	var wg sync.WaitGroup
	wg.Go(func() { _, _ = io.Copy(up, c); l.untrack(c, up) })
	wg.Go(func() { _, _ = io.Copy(c, up); l.untrack(c, up) })
	wg.Wait()
}
