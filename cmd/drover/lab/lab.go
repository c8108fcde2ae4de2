package lab

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Options say where a lab keeps its state and which drover it runs.
type Options struct {
	// StateDir is the lab's own directory: topology, agent configs, logs,
	// PID files and data directories. "" means DefaultStateDir(name).
	StateDir string
	// Binary is the drover binary the agents run. "" means this
	// executable, which is wrong in a test binary: build drover (see
	// Build) and name it here.
	Binary string
	// Log receives one line per step; nil means none.
	Log io.Writer
}

// DefaultStateDir is where a lab keeps its state unless told otherwise.
func DefaultStateDir(name string) string { return filepath.Join("/run/drover-lab", name) }

const topologyFile = "topology.yaml"

// Lab is a lab that is up (or was found by Open). Its methods may be
// called from several goroutines.
type Lab struct {
	t        *Topology
	stateDir string
	binary   string
	log      io.Writer

	mu    sync.Mutex       // guards procs
	procs map[string]*proc // agents this process started, by host
}

func newLab(t *Topology, o Options) (*Lab, error) {
	dir := o.StateDir
	if dir == "" {
		dir = DefaultStateDir(t.Name)
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("state directory: %w", err)
	}
	return &Lab{t: t, stateDir: dir, binary: o.Binary, log: o.Log, procs: map[string]*proc{}}, nil
}

// resolveBinary finds the drover binary the agents run.
func (l *Lab) resolveBinary() error {
	if l.binary == "" {
		exe, err := os.Executable()
		if err != nil {
			return fmt.Errorf("finding the drover binary: %w", err)
		}
		if strings.HasSuffix(exe, ".test") {
			return fmt.Errorf("Options.Binary is empty and this executable is a test binary (%s); build drover (lab.Build) and set Options.Binary", exe)
		}
		l.binary = exe
	}
	p, err := exec.LookPath(l.binary)
	if err != nil {
		return fmt.Errorf("drover binary: %w", err)
	}
	if l.binary, err = filepath.Abs(p); err != nil {
		return fmt.Errorf("drover binary: %w", err)
	}
	return nil
}

func (l *Lab) logf(format string, args ...any) {
	if l.log != nil {
		fmt.Fprintf(l.log, "lab %s: %s\n", l.t.Name, fmt.Sprintf(format, args...))
	}
}

// Up builds the lab t describes and starts its agents, after removing any
// lab of the same name (see Down). It returns once every agent process is
// running, not once the cluster has formed. When a step fails, what was
// built is removed again.
func Up(ctx context.Context, t *Topology, o Options) (*Lab, error) {
	if err := t.Validate(); err != nil {
		return nil, err
	}
	if runtime.GOOS != "linux" {
		return nil, fmt.Errorf("drover lab needs Linux network namespaces, not %s/%s", runtime.GOOS, runtime.GOARCH)
	}
	if os.Geteuid() != 0 {
		return nil, ErrNotRoot
	}
	if _, err := exec.LookPath("ip"); err != nil {
		return nil, fmt.Errorf("drover lab needs iproute2's ip command: %w", err)
	}
	l, err := newLab(t, o)
	if err != nil {
		return nil, err
	}
	if len(t.AgentHosts()) > 0 {
		if err := l.resolveBinary(); err != nil {
			return nil, err
		}
	}
	if err := down(ctx, t.Name, []string{l.stateDir}, hostNames(t), l.logf); err != nil {
		return nil, fmt.Errorf("removing the previous lab %s: %w", t.Name, err)
	}
	err = l.build(ctx)
	if err == nil {
		err = l.startAgents(ctx)
	}
	if err != nil {
		if derr := l.Down(); derr != nil {
			err = errors.Join(err, fmt.Errorf("removing the half-built lab: %w", derr))
		}
		return nil, err
	}
	return l, nil
}

// build makes the switch, the hosts and the state directory.
func (l *Lab) build(ctx context.Context) error {
	t, sw := l.t, nsName(l.t.Name, switchHost)
	if err := os.MkdirAll(l.stateDir, 0o755); err != nil {
		return fmt.Errorf("state directory: %w", err)
	}
	b, err := t.marshal()
	if err != nil {
		return fmt.Errorf("writing the topology: %w", err)
	}
	if err := os.WriteFile(filepath.Join(l.stateDir, topologyFile), b, 0o644); err != nil {
		return fmt.Errorf("writing the topology: %w", err)
	}
	if _, err := ip(ctx, "netns", "add", sw); err != nil {
		return err
	}
	// The switch has no addresses; without IPv6 its bridge and ports send
	// no router solicitations or MLD reports onto the lab's LAN.
	if err := sysctls(sw, map[string]string{"ipv6/conf/all/disable_ipv6": "1", "ipv6/conf/default/disable_ipv6": "1"}); err != nil {
		return err
	}
	// No STP and no multicast snooping: a port forwards as soon as it is
	// up, and IPv6 neighbour discovery is flooded like on a plain hub.
	for _, c := range [][]string{
		{"-n", sw, "link", "set", "lo", "up"},
		{"-n", sw, "link", "add", "br0", "type", "bridge", "stp_state", "0", "forward_delay", "0", "mcast_snooping", "0"},
		{"-n", sw, "link", "set", "br0", "up"},
	} {
		if _, err := ip(ctx, c...); err != nil {
			return err
		}
	}
	l.logf("switch: namespace %s, bridge br0", sw)
	for _, h := range t.Hosts {
		if err := l.buildHost(ctx, h); err != nil {
			return err
		}
	}
	return nil
}

func (l *Lab) buildHost(ctx context.Context, h Host) error {
	t, sw, ns := l.t, nsName(l.t.Name, switchHost), nsName(l.t.Name, h.Name)
	if _, err := ip(ctx, "netns", "add", ns); err != nil {
		return err
	}
	// Addresses are usable at once: no duplicate address detection, also
	// for the link-local address eth0 gets when it comes up.
	if err := sysctls(ns, map[string]string{"ipv6/conf/all/accept_dad": "0", "ipv6/conf/default/accept_dad": "0"}); err != nil {
		return err
	}
	mac := HostMAC(t.Name, h.Name).String()
	cmds := [][]string{
		{"-n", ns, "link", "set", "lo", "up"},
		{"-n", ns, "link", "add", "eth0", "address", mac, "type", "veth", "peer", "name", bridgePort(h.Name), "netns", sw},
		{"-n", sw, "link", "set", bridgePort(h.Name), "master", "br0", "up"},
		{"-n", ns, "addr", "add", netip.PrefixFrom(h.Addr, t.Subnet.Bits()).String(), "dev", "eth0"},
	}
	addrs := netip.PrefixFrom(h.Addr, t.Subnet.Bits()).String()
	if h.Addr6.IsValid() {
		p6 := netip.PrefixFrom(h.Addr6, t.Subnet6.Bits()).String()
		cmds = append(cmds, []string{"-n", ns, "addr", "add", p6, "dev", "eth0", "nodad"})
		addrs += " " + p6
	}
	cmds = append(cmds, []string{"-n", ns, "link", "set", "eth0", "up"})
	for _, c := range cmds {
		if _, err := ip(ctx, c...); err != nil {
			return err
		}
	}
	l.logf("host %s: namespace %s, eth0 %s %s, bridge port %s", h.Name, ns, mac, addrs, bridgePort(h.Name))
	return nil
}

// Name is the lab's name.
func (l *Lab) Name() string { return l.t.Name }

// Topology is what the lab was built from.
func (l *Lab) Topology() *Topology { return l.t }

// StateDir is the lab's state directory.
func (l *Lab) StateDir() string { return l.stateDir }

// Binary is the drover binary the agents run ("" when the lab has none).
func (l *Lab) Binary() string { return l.binary }

// NS is the name of host's network namespace, drl-<lab>-<host>.
func (l *Lab) NS(host string) string { return nsName(l.t.Name, host) }

// NSPath is the file of host's network namespace, for setns(2) or
// nsenter --net.
func (l *Lab) NSPath(host string) string { return filepath.Join(netnsDir, l.NS(host)) }

// SwitchNS is the name of the namespace that holds the bridge.
func (l *Lab) SwitchNS() string { return nsName(l.t.Name, switchHost) }

// MAC is the MAC address of host's eth0 (HostMAC).
func (l *Lab) MAC(host string) net.HardwareAddr { return HostMAC(l.t.Name, host) }

// Addr is host's IPv4 address, the zero Addr for an unknown host.
func (l *Lab) Addr(host string) netip.Addr {
	h, _ := l.t.Host(host)
	return h.Addr
}

// Addr6 is host's IPv6 address, the zero Addr if it has none.
func (l *Lab) Addr6(host string) netip.Addr {
	h, _ := l.t.Host(host)
	return h.Addr6
}

// ConfigPath is the generated configuration of host's agent.
func (l *Lab) ConfigPath(host string) string { return filepath.Join(l.stateDir, host+".yaml") }

// LogPath is where host's agent writes its output.
func (l *Lab) LogPath(host string) string { return filepath.Join(l.stateDir, host+".log") }

func (l *Lab) pidPath(host string) string { return filepath.Join(l.stateDir, host+".pid") }

// ClientURL is the NATS URL of host's embedded bus, nats://127.0.0.1:4222
// unless the topology's agent map moved it. It is reachable only from
// inside host's namespace (Exec, Drover, InNS).
func (l *Lab) ClientURL(host string) string {
	listen := "127.0.0.1:" + strconv.Itoa(busClientPort)
	if m, err := l.t.agentConfig(host, l.stateDir); err == nil {
		if v, ok := m.lookup("bus", "listen"); ok {
			if s, ok := v.(string); ok {
				listen = s
			}
		}
	}
	return "nats://" + listen
}

// Exec runs a command in host's namespace (ip netns exec) and returns its
// standard output; the error carries its standard error.
func (l *Lab) Exec(ctx context.Context, host string, args ...string) ([]byte, error) {
	return ip(ctx, append([]string{"netns", "exec", l.NS(host)}, args...)...)
}

// Drover runs the lab's drover binary in host's namespace with host's
// agent configuration, e.g. Drover(ctx, "dir1", "status", "-o", "json").
func (l *Lab) Drover(ctx context.Context, host string, args ...string) ([]byte, error) {
	if l.binary == "" {
		if err := l.resolveBinary(); err != nil {
			return nil, err
		}
	}
	argv := append([]string{"netns", "exec", l.NS(host), l.binary}, args...)
	cmd := exec.CommandContext(ctx, "ip", append(argv, "--config", l.ConfigPath(host))...)
	cmd.Env = agentEnv() // DROVER_* would override the configuration
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return out, fmt.Errorf("drover %s in %s: %w: %s", strings.Join(args, " "), l.NS(host), err, strings.TrimSpace(stderr.String()))
	}
	return out, nil
}

// LinkDown takes host's switch port (v-<host>) down: host is cut off the
// LAN, as if its cable were pulled, but keeps running.
func (l *Lab) LinkDown(host string) error { return l.setLink(host, "down") }

// LinkUp puts host's switch port back up.
func (l *Lab) LinkUp(host string) error { return l.setLink(host, "up") }

func (l *Lab) setLink(host, state string) error {
	if _, ok := l.t.Host(host); !ok {
		return fmt.Errorf("lab %s has no host %q", l.t.Name, host)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := ip(ctx, "-n", l.SwitchNS(), "link", "set", bridgePort(host), state)
	return err
}

// Down kills the lab's agents and removes its namespaces, links and state
// directory. It is idempotent.
func (l *Lab) Down() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// Reap our own children first, so that they are gone, not zombies.
	l.mu.Lock()
	procs := slices.Collect(maps.Values(l.procs))
	l.mu.Unlock()
	var errs []error
	for _, p := range procs {
		select {
		case <-p.done:
		default:
			if err := killWait(p.pid, syscall.SIGKILL, 5*time.Second, p.done); err != nil {
				errs = append(errs, err)
			}
		}
	}
	errs = append(errs, down(ctx, l.t.Name, []string{l.stateDir}, hostNames(l.t), l.logf))
	return errors.Join(errs...)
}

func hostNames(t *Topology) []string {
	var out []string
	for _, h := range t.Hosts {
		out = append(out, h.Name)
	}
	return out
}
