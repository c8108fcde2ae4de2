package lab

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

// Proc is a process the lab runs in a host's namespace besides the
// agents: a real server, say. Down kills it with everything else in the
// lab's namespaces; Kill and Stop end it earlier.
type Proc struct {
	Host, Name string
	pid        int
	log        string
	done       chan struct{}
}

// Spawn starts argv in host's namespace (ip netns exec), in a process
// group of its own, with its output appended to <state>/<host>/logs/<name>.log.
func (l *Lab) Spawn(host, name string, argv ...string) (*Proc, error) {
	if _, ok := l.t.Host(host); !ok {
		return nil, fmt.Errorf("lab %s has no host %q", l.t.Name, host)
	}
	if len(argv) == 0 {
		return nil, errors.New("spawn: no command")
	}
	dir := filepath.Join(l.stateDir, host, "logs")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("state directory: %w", err)
	}
	p := &Proc{Host: host, Name: name, log: filepath.Join(dir, name+".log"), done: make(chan struct{})}
	logf, err := os.OpenFile(p.log, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	fmt.Fprintf(logf, "--- drover lab: starting %s at %s\n", strings.Join(argv, " "), time.Now().Format(time.RFC3339Nano))
	cmd := exec.Command("ip", append([]string{"netns", "exec", l.NS(host)}, argv...)...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Env = agentEnv()
	cmd.Dir = "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s in %s: %w", argv[0], l.NS(host), err)
	}
	p.pid = cmd.Process.Pid
	go func() {
		_ = cmd.Wait() // reaps it, whoever kills it
		close(p.done)
	}()
	l.logf("%s on %s: pid %d, log %s", name, host, p.pid, p.log)
	return p, nil
}

// PID is the process's ID.
func (p *Proc) PID() int { return p.pid }

// LogPath is where the process's output goes.
func (p *Proc) LogPath() string { return p.log }

// Running reports whether the process has not ended yet.
func (p *Proc) Running() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// Done is closed when the process has ended.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Kill ends the process group with SIGKILL and waits for it.
func (p *Proc) Kill() error {
	if !p.Running() {
		return nil
	}
	return killWait(p.pid, syscall.SIGKILL, 5*time.Second, p.done)
}

// Stop ends the process group with SIGTERM, then SIGKILL after 5s.
func (p *Proc) Stop() error {
	if !p.Running() {
		return nil
	}
	if err := killWait(p.pid, syscall.SIGTERM, 5*time.Second, p.done); err != nil {
		return errors.Join(err, killWait(p.pid, syscall.SIGKILL, 5*time.Second, p.done))
	}
	return nil
}

// Serve runs `drover lab serve --name NAME --listen :PORT` in host's
// namespace and waits until it accepts connections on 127.0.0.1:port.
func (l *Lab) Serve(ctx context.Context, host, name string, port uint16) (*Proc, error) {
	if l.binary == "" {
		if err := l.resolveBinary(); err != nil {
			return nil, err
		}
	}
	p, err := l.Spawn(host, "serve-"+name, l.binary, "lab", "serve", "--name", name, "--listen", fmt.Sprintf(":%d", port))
	if err != nil {
		return nil, err
	}
	d, err := l.Dialer(host)
	if err != nil {
		_ = p.Kill()
		return nil, err
	}
	defer d.Close()
	addr := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), port).String()
	for {
		dctx, cancel := context.WithTimeout(ctx, time.Second)
		c, err := d.DialContext(dctx, "tcp", addr)
		cancel()
		if err == nil {
			c.Close()
			return p, nil
		}
		select {
		case <-p.done:
			b, _ := os.ReadFile(p.log)
			return nil, fmt.Errorf("%s on %s exited at once: %s", name, host, strings.TrimSpace(string(b)))
		case <-ctx.Done():
			_ = p.Kill()
			return nil, fmt.Errorf("%s on %s is not listening on %s: %w", name, host, addr, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Dialer opens connections from inside a host's namespace: its sockets
// are made on an OS thread that stays in the namespace, so it also works
// as the DialContext of an http.Transport, whose dials run on goroutines
// of their own.
type Dialer struct {
	ns   string
	reqs chan dialReq
	stop chan struct{}
	// LocalAddr, when valid, is the source address of every connection.
	LocalAddr netip.Addr
	// FreshPorts makes every TCP connection use a source port no earlier
	// connection of this process used (see freshPort).
	FreshPorts bool
}

// freshPorts hands out source ports from 20000 up to, not including, the
// kernel's default ephemeral range (32768), so that each connection of a
// lab's client is new to IPVS. A reused port can meet IPVS's entry for the
// previous connection on it, which lingers for minutes, and the new
// connection then goes where the old one went without being scheduled:
// in the kernel lab, DR wrr 1:2:3 got 290 schedulings for 300 requests and
// answers 53:99:148.
var freshPorts atomic.Uint32

const (
	freshPortBase  = 20000
	freshPortCount = 32768 - freshPortBase
)

func freshPort() int { return freshPortBase + int((freshPorts.Add(1)-1)%freshPortCount) }

type dialReq struct {
	ctx           context.Context
	network, addr string
	local         netip.Addr
	fresh         bool
	res           chan dialRes
}

type dialRes struct {
	c   net.Conn
	err error
}

// Dialer starts a Dialer for host. Close it when done.
func (l *Lab) Dialer(host string) (*Dialer, error) {
	d := &Dialer{ns: l.NS(host), reqs: make(chan dialReq), stop: make(chan struct{})}
	ready := make(chan error, 1)
	go func() {
		// The thread stays in the namespace until the goroutine ends, and
		// then Go discards it (InNS).
		err := InNS(d.ns, func() error {
			ready <- nil
			for {
				select {
				case <-d.stop:
					return nil
				case r := <-d.reqs:
					var (
						c   net.Conn
						err error
					)
					// A fresh port may be taken by a socket of another
					// process: try the next few.
					for try := 0; try < 10; try++ {
						var nd net.Dialer
						la := &net.TCPAddr{}
						if r.local.IsValid() {
							la.IP = r.local.AsSlice()
						}
						if r.fresh {
							la.Port = freshPort()
						}
						if la.IP != nil || la.Port != 0 {
							nd.LocalAddr = la
						}
						c, err = nd.DialContext(r.ctx, r.network, r.addr)
						if !r.fresh || !errors.Is(err, syscall.EADDRINUSE) {
							break
						}
					}
					r.res <- dialRes{c, err}
				}
			}
		})
		if err != nil {
			select {
			case ready <- err:
			default:
			}
		}
	}()
	if err := <-ready; err != nil {
		return nil, err
	}
	return d, nil
}

// DialContext connects to addr from the Dialer's namespace. Dials are
// made one at a time.
func (d *Dialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	r := dialReq{ctx: ctx, network: network, addr: addr, local: d.LocalAddr, fresh: d.FreshPorts && strings.HasPrefix(network, "tcp"), res: make(chan dialRes, 1)}
	select {
	case d.reqs <- r:
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-d.stop:
		return nil, errors.New("dialer closed")
	}
	res := <-r.res
	return res.c, res.err
}

// Close stops the Dialer's thread.
func (d *Dialer) Close() {
	select {
	case <-d.stop:
	default:
		close(d.stop)
	}
}
