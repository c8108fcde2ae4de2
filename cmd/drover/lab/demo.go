package lab

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"strings"
	"time"

	"github.com/droverha/drover/model"
)

// DemoName is the lab `drover lab demo` builds.
const DemoName = "lbdemo"

// demoTopology: two directors sharing VIP group web (192.0.2.50, and the
// real servers' gateway 192.0.2.254), three real servers of which rs1 also
// runs an agent, the third voter, and a client. Service web balances
// 192.0.2.50:80 round robin over the real servers with NAT, checked over
// HTTP every second.
const demoTopology = `
name: ` + DemoName + `
subnet: 192.0.2.0/24
hosts:
  - {name: dir1, addr: 192.0.2.11, agent: true}
  - {name: dir2, addr: 192.0.2.12, agent: true}
  - {name: rs1, addr: 192.0.2.21, agent: true}
  - {name: rs2, addr: 192.0.2.22}
  - {name: rs3, addr: 192.0.2.23}
  - {name: client, addr: 192.0.2.100}
agent:
  vip_groups:
    - name: web
      interface: eth0
      addresses: [192.0.2.50/24, 192.0.2.254/24]
      candidates: [{node: dir1, priority: 200}, {node: dir2, priority: 100}]
  services:
    - name: web
      address: 192.0.2.50:80
      scheduler: rr
      check: {kind: http, path: /health, interval: 1s, timeout: 1s}
      real_servers:
        - {address: 192.0.2.21:80, forward: nat}
        - {address: 192.0.2.22:80, forward: nat}
        - {address: 192.0.2.23:80, forward: nat}
`

// DemoTopology is the lab of `drover lab demo`.
func DemoTopology() *Topology {
	t, err := ParseTopology([]byte(demoTopology))
	if err != nil {
		panic(err) // a constant: TestDemoTopology parses it
	}
	return t
}

var (
	demoVIP     = netip.MustParseAddrPort("192.0.2.50:80")
	demoClient  = netip.MustParseAddr("203.0.113.100")
	demoServers = []string{"rs1", "rs2", "rs3"}
	demoNet     = LBNet{
		Directors:   []string{"dir1", "dir2"},
		RealServers: demoServers,
		Client:      "client",
		ClientAddr:  demoClient,
		NATVIPs:     []netip.Addr{demoVIP.Addr()},
		Gateway:     netip.MustParseAddr("192.0.2.254"),
	}
)

// DemoOptions configure Demo.
type DemoOptions struct {
	Binary   string    // the drover binary; "" is this executable
	StateDir string    // "" is DefaultStateDir(DemoName)
	Out      io.Writer // the story
	Verbose  bool      // also the lab's progress lines
}

// demo is one run of the story.
type demo struct {
	l   *Lab
	out io.Writer
	c   *HTTPClient
}

// Demo builds the demo lab, shows load balancing and a director failover
// to whoever reads Out, and removes the lab again, also when ctx is
// cancelled (Ctrl-C). It returns the first step that failed.
func Demo(ctx context.Context, o DemoOptions) (err error) {
	if err := HaveIPVS(); err != nil {
		return err
	}
	start := time.Now()
	d := &demo{out: o.Out}
	lo := Options{StateDir: o.StateDir, Binary: o.Binary}
	if o.Verbose {
		lo.Log = o.Out
	}
	d.head("Building the lab: 2 directors, 3 real servers, 1 client, each in its own network namespace")
	d.say(`dir1, dir2   directors; they share the VIP 192.0.2.50 (and 192.0.2.254, the
             real servers' gateway); dir1 is preferred
rs1 rs2 rs3  real servers: "drover lab serve" answers HTTP with its name;
             rs1 also runs an agent, the cluster's third voter
client       asks http://192.0.2.50/ from 203.0.113.100 (the "internet")
service web  192.0.2.50:80, round robin, NAT, HTTP check of /health every 1s`)
	up, cancel := context.WithTimeout(ctx, time.Minute)
	d.l, err = Up(up, DemoTopology(), lo)
	cancel()
	if err != nil {
		return fmt.Errorf("building the lab: %w", err)
	}
	defer func() {
		d.head("Tearing down")
		if derr := d.l.Down(); derr != nil {
			err = errors.Join(err, fmt.Errorf("removing the lab: %w", derr))
			return
		}
		d.say("lab %s removed: namespaces, processes, state (%s)", DemoName, time.Since(start).Round(100*time.Millisecond))
	}()
	if err := d.l.SetupLB(ctx, demoNet); err != nil {
		return err
	}
	for _, h := range demoServers {
		sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		_, err := d.l.Serve(sctx, h, h, 80)
		cancel()
		if err != nil {
			return err
		}
	}
	if d.c, err = d.l.HTTPClient("client", 2*time.Second); err != nil {
		return err
	}
	defer d.c.Close()

	d.head("Waiting for the cluster to form and the real servers to pass their checks")
	t0 := time.Now()
	owner, err := d.waitReady(ctx, 2*time.Minute)
	if err != nil {
		return err
	}
	d.say("ready after %s: manager elected, %s holds the VIP, 3 of 3 real servers healthy", time.Since(t0).Round(100*time.Millisecond), owner)
	other := "dir2"
	if owner == "dir2" {
		other = "dir1"
	}

	if err := d.show(ctx, owner, "status"); err != nil {
		return err
	}
	if err := d.show(ctx, owner, "services"); err != nil {
		return err
	}
	d.ipvsadm(ctx, owner)

	d.head(fmt.Sprintf("12 requests from the client to http://%s/ (a new connection each)", demoVIP))
	counts := map[string]int{}
	for i := range 12 {
		name, err := d.get(ctx, 10*time.Second)
		if err != nil {
			return fmt.Errorf("request %d: %w", i+1, err)
		}
		counts[name]++
		d.say("%2d  answered by %s", i+1, name)
	}
	d.say("%s", countLine(counts))

	if err := d.failover(ctx, owner, other); err != nil {
		return err
	}
	if err := d.show(ctx, other, "status"); err != nil {
		return err
	}
	return d.show(ctx, other, "services")
}

// ErrNoIPVS is returned, wrapped, by HaveIPVS.
var ErrNoIPVS = errors.New("this kernel has no IPVS (ip_vs)")

// HaveIPVS checks that this host's kernel has IPVS, loading the module
// when it is not there yet.
func HaveIPVS() error {
	if _, err := os.Stat("/proc/net/ip_vs"); err == nil {
		return nil
	}
	out, err := exec.Command("modprobe", "ip_vs").CombinedOutput()
	if _, serr := os.Stat("/proc/net/ip_vs"); serr == nil {
		return nil
	}
	if err != nil {
		return fmt.Errorf("%w: modprobe ip_vs: %v: %s", ErrNoIPVS, err, strings.TrimSpace(string(out)))
	}
	return ErrNoIPVS
}

func (d *demo) head(s string) { fmt.Fprintf(d.out, "\n==> %s\n\n", s) }

func (d *demo) say(format string, args ...any) {
	for _, line := range strings.Split(fmt.Sprintf(format, args...), "\n") {
		fmt.Fprintf(d.out, "    %s\n", line)
	}
}

// get asks the VIP once; a refused or timed out request is retried until
// d passes (IPVS may not be programmed yet).
func (d *demo) get(ctx context.Context, within time.Duration) (string, error) {
	deadline := time.Now().Add(within)
	for {
		rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		name, err := d.c.Get(rctx, demoVIP)
		cancel()
		if err == nil || time.Now().After(deadline) || ctx.Err() != nil {
			return name, err
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// view asks host's agent for the cluster view.
func (d *demo) view(ctx context.Context, host string) (model.View, error) {
	vctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	out, err := d.l.Drover(vctx, host, "status", "-o", "json", "--timeout", "3s")
	if err != nil {
		return model.View{}, err
	}
	var v model.View
	err = json.Unmarshal(out, &v)
	return v, err
}

// waitReady waits until the witness rs1 sees three alive nodes, a manager,
// group web held by its owner alone, and every real server of service web
// healthy and in the table; it returns the owner.
func (d *demo) waitReady(ctx context.Context, within time.Duration) (string, error) {
	deadline := time.Now().Add(within)
	why := "no answer yet"
	for {
		if v, err := d.view(ctx, "rs1"); err != nil {
			why = err.Error()
		} else if why = notReady(v); why == "" {
			return v.VIPGroups[0].Owner, nil
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("the cluster is not ready after %s: %s", within, why)
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// notReady says what the demo still waits for in v, "" for nothing.
func notReady(v model.View) string {
	alive := 0
	for _, n := range v.Nodes {
		if n.State == model.NodeAlive {
			alive++
		}
	}
	switch {
	case alive != 3:
		return fmt.Sprintf("%d of 3 agents alive", alive)
	case v.Manager == "":
		return "no manager yet"
	case len(v.VIPGroups) != 1 || v.VIPGroups[0].Owner == "":
		return "no VIP owner yet"
	case !slices.Equal(v.VIPGroups[0].HeldBy, []string{v.VIPGroups[0].Owner}):
		return fmt.Sprintf("VIP held by %v, owner %s", v.VIPGroups[0].HeldBy, v.VIPGroups[0].Owner)
	case len(v.Services) != 1:
		return "no service web in the view yet"
	}
	for _, r := range v.Services[0].RealServers {
		if !r.Healthy || r.Applied < 1 {
			return fmt.Sprintf("real server %s not up yet (%s)", r.Address, r.Reason)
		}
	}
	return ""
}

// show prints `drover CMD` run in host's namespace.
func (d *demo) show(ctx context.Context, host, cmd string) error {
	what := map[string]string{
		"status":   "the cluster: nodes, manager, VIP owner",
		"services": "the load balancer: real servers, weights, health, connections",
	}[cmd]
	d.head(fmt.Sprintf("drover %s, on %s: %s", cmd, host, what))
	var out []byte
	var err error
	for range 3 { // a view can miss an answer while the cluster changes
		sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		out, err = d.l.Drover(sctx, host, cmd, "--from", host, "--timeout", "3s")
		cancel()
		if err == nil || ctx.Err() != nil {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	if err != nil {
		return err
	}
	d.say("%s", strings.TrimRight(string(out), "\n"))
	return nil
}

// ipvsadm prints the director's kernel table when ipvsadm is installed.
func (d *demo) ipvsadm(ctx context.Context, host string) {
	if _, err := exec.LookPath("ipvsadm"); err != nil {
		return
	}
	ictx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	out, err := d.l.Exec(ictx, host, "ipvsadm", "-Ln")
	if err != nil {
		return
	}
	d.head(fmt.Sprintf("ipvsadm -Ln, on %s: the table drover programmed into its kernel", host))
	d.say("%s", strings.TrimRight(string(out), "\n"))
}

// probeResult is one request of the failover phase.
type probeResult struct {
	seq  int
	sent time.Time
	took time.Duration
	name string
	err  error
}

// event is something that happened during the failover, shown among the
// requests in time order.
type event struct {
	at   time.Time
	text string
}

// failover kills owner's agent while the client sends a request every
// 100ms (each on its own, with a 1s limit, so that an unanswered one does
// not hold up the next), watches the VIP leave owner and reach other, and
// waits for a dozen answers after the kill.
func (d *demo) failover(ctx context.Context, owner, other string) error {
	const (
		every   = 100 * time.Millisecond
		limit   = time.Second
		warmup  = 5  // requests before the kill
		enough  = 12 // answers after the kill
		maxWait = time.Minute
	)
	d.head(fmt.Sprintf("Killing the active director %s (SIGKILL of its agent) while the client sends a request every 100 ms", owner))
	results := make(chan probeResult, 64)
	events := make(chan event, 8)
	var (
		killedAt   time.Time
		sent       int
		inFlight   int
		pending    = map[int]probeResult{}
		next       int
		shown      []event
		firstAfter time.Time // sent time of the first answered request after the kill
		firstDone  time.Time // when the first request sent after the kill was answered
		nEvents    int
		answered   int // after the kill
		lost       int // after the kill, before firstAfter
		lostLater  int // after firstAfter
		counts     = map[string]int{}
	)
	printEvents := func(until time.Time) {
		for len(shown) > 0 && !shown[0].at.After(until) {
			d.say("%s  %s", stamp(shown[0].at), shown[0].text)
			shown = shown[1:]
		}
	}
	show := func(r probeResult) {
		printEvents(r.sent)
		switch {
		case r.err != nil:
			d.say("%s  no answer within %s", stamp(r.sent), limit)
		default:
			d.say("%s  answered by %s in %s", stamp(r.sent), r.name, r.took.Round(time.Millisecond))
		}
	}
	tick := time.NewTicker(every)
	defer tick.Stop()
	deadline := time.Now().Add(maxWait)
	for answered < enough || inFlight > 0 {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case ev := <-events:
			nEvents++
			shown = append(shown, ev)
			slices.SortFunc(shown, func(a, b event) int { return a.at.Compare(b.at) })
		case r := <-results:
			inFlight--
			pending[r.seq] = r
			for {
				r, ok := pending[next]
				if !ok {
					break
				}
				delete(pending, next)
				next++
				after := !killedAt.IsZero() && r.sent.After(killedAt)
				switch {
				case !after && r.err != nil:
					return fmt.Errorf("request before the failover: %w", r.err)
				case !after:
				case r.err != nil && firstAfter.IsZero():
					lost++
				case r.err != nil:
					lostLater++
				default:
					if firstAfter.IsZero() {
						firstAfter = r.sent
					}
					if done := r.sent.Add(r.took); firstDone.IsZero() || done.Before(firstDone) {
						firstDone = done
					}
					answered++
					counts[r.name]++
				}
				show(r)
			}
		case <-tick.C:
			if time.Now().After(deadline) {
				return fmt.Errorf("fewer than %d answers through %s within %s of the kill (%d requests lost)", enough, other, maxWait, lost)
			}
			if sent == warmup && killedAt.IsZero() {
				if err := d.l.Kill(owner); err != nil {
					return err
				}
				killedAt = time.Now()
				shown = append(shown, event{killedAt, "killed the agent of " + owner})
				go d.watchVIP(ctx, owner, other, killedAt, events)
			}
			if answered+inFlight >= enough && !firstAfter.IsZero() || sent >= warmup && killedAt.IsZero() {
				continue
			}
			seq := sent
			sent++
			inFlight++
			go func() {
				start := time.Now()
				rctx, cancel := context.WithTimeout(ctx, limit)
				name, err := d.c.Get(rctx, demoVIP)
				cancel()
				results <- probeResult{seq: seq, sent: start, took: time.Since(start), name: name, err: err}
			}()
		}
	}
	// The VIP's moves, if they came after the last request.
	wait := time.After(5 * time.Second)
	for nEvents < 2 {
		select {
		case ev := <-events:
			nEvents++
			shown = append(shown, ev)
		case <-wait:
			return fmt.Errorf("the VIP did not move from %s to %s", owner, other)
		}
	}
	printEvents(time.Now().Add(time.Hour))
	v, err := d.view(ctx, "rs1")
	if err != nil {
		return err
	}
	if g := v.VIPGroups[0]; g.Owner != other {
		return fmt.Errorf("the VIP's owner is %q (%s), want %s", g.Owner, g.Reason, other)
	}
	d.head("The client carried on through " + other)
	d.say("no answer for %s: from the kill (%s) to the first answer through %s (%s)",
		firstDone.Sub(killedAt).Round(10*time.Millisecond), stamp(killedAt), other, stamp(firstDone))
	d.say("%s sent meanwhile got no answer within %s; %s failed after that", plural(lost, "request"), limit, plural(lostLater, "request"))
	d.say("%s", countLine(counts))
	return nil
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}

// watchVIP reports when owner's eth0 no longer has the VIP and when
// other's has it, looking every 5ms from inside their namespaces. The
// agent's VIP guard drops the VIP as soon as the agent dies; if it is
// still on owner after 3s, owner's link is taken down so that two hosts
// never answer for it.
func (d *demo) watchVIP(ctx context.Context, owner, other string, since time.Time, events chan<- event) {
	go func() {
		at, err := d.waitAddr(ctx, owner, false, 3*time.Second)
		switch {
		case err == nil:
			events <- event{at, fmt.Sprintf("the VIP left %s, %s after the kill: its VIP guard dropped it", owner, at.Sub(since).Round(time.Millisecond))}
		case ctx.Err() == nil:
			lerr := d.l.LinkDown(owner)
			events <- event{time.Now(), fmt.Sprintf("the VIP is still on %s 3s after the kill (%v): took its link down (%v)", owner, err, lerr)}
		}
	}()
	go func() {
		at, err := d.waitAddr(ctx, other, true, time.Minute)
		if err == nil {
			events <- event{at, fmt.Sprintf("%s holds the VIP, %s after the kill", other, at.Sub(since).Round(time.Millisecond))}
		} else if ctx.Err() == nil {
			events <- event{time.Now(), fmt.Sprintf("%s does not hold the VIP: %v", other, err)}
		}
	}()
}

// waitAddr waits until host's eth0 has (or, with want false, no longer
// has) the VIP, and says when.
func (d *demo) waitAddr(ctx context.Context, host string, want bool, within time.Duration) (time.Time, error) {
	var at time.Time
	err := InNS(d.l.NS(host), func() error {
		deadline := time.Now().Add(within)
		for {
			ifi, err := net.InterfaceByName("eth0")
			if err != nil {
				return err
			}
			addrs, err := ifi.Addrs()
			if err != nil {
				return err
			}
			has := false
			for _, a := range addrs {
				if p, err := netip.ParsePrefix(a.String()); err == nil && p.Addr() == demoVIP.Addr() {
					has = true
				}
			}
			now := time.Now()
			if has == want {
				at = now
				return nil
			}
			if now.After(deadline) {
				return fmt.Errorf("not within %s", within)
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			time.Sleep(5 * time.Millisecond)
		}
	})
	return at, err
}

func stamp(t time.Time) string { return t.Format("15:04:05.000") }

// countLine is "answers: rs1 4, rs2 4, rs3 4".
func countLine(m map[string]int) string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	slices.Sort(names)
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = fmt.Sprintf("%s %d", n, m[n])
	}
	return "answers: " + strings.Join(parts, ", ")
}
