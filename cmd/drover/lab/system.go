package lab

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/vishvananda/netns"
)

// netnsDir is where `ip netns` keeps its named namespaces.
const netnsDir = "/var/run/netns"

// nsName is the namespace of host in lab; the switch is host "sw".
func nsName(lab, host string) string { return "drl-" + lab + "-" + host }

// nsPrefix starts the name of every namespace of lab. Lab and host names
// have no '-', so one lab's prefix never matches another lab's namespaces.
func nsPrefix(lab string) string { return "drl-" + lab + "-" }

// bridgePort is the switch-side end of host's veth pair.
func bridgePort(host string) string { return "v-" + host }

// ip runs iproute2's ip and returns its standard output; the error carries
// what ip said.
func ip(ctx context.Context, args ...string) ([]byte, error) {
	var out, errb bytes.Buffer
	cmd := exec.CommandContext(ctx, "ip", args...)
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(errb.String())
		if msg == "" {
			msg = err.Error()
		}
		return out.Bytes(), fmt.Errorf("ip %s: %s", strings.Join(args, " "), msg)
	}
	return out.Bytes(), nil
}

// listNS returns the named namespaces of lab (switch included).
func listNS(ctx context.Context, lab string) ([]string, error) {
	out, err := ip(ctx, "netns", "list")
	if err != nil {
		return nil, err
	}
	var names []string
	for _, line := range strings.Split(string(out), "\n") {
		// "drl-demo-dir1 (id: 3)" or just the name
		f := strings.Fields(line)
		if len(f) > 0 && strings.HasPrefix(f[0], nsPrefix(lab)) {
			names = append(names, f[0])
		}
	}
	return names, nil
}

// nsPIDs returns the processes whose network namespace is ns.
func nsPIDs(ctx context.Context, ns string) ([]int, error) {
	out, err := ip(ctx, "netns", "pids", ns)
	if err != nil {
		return nil, err
	}
	var pids []int
	for _, f := range strings.Fields(string(out)) {
		if pid, err := strconv.Atoi(f); err == nil {
			pids = append(pids, pid)
		}
	}
	return pids, nil
}

// InNS runs fn on an OS thread switched into the named network namespace
// ns (as `ip netns` names it), so that sockets fn opens live there; they
// stay there after fn returns. fn runs on a goroutine of its own: report
// failures through its error, not with t.Fatal. The thread is never
// switched back: it ends with that goroutine, so no other code ever runs
// in ns by accident.
func InNS(ns string, fn func() error) error {
	h, err := netns.GetFromName(ns)
	if err != nil {
		return fmt.Errorf("opening network namespace %s: %w", ns, err)
	}
	defer h.Close()
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked, see above
		returned := false
		defer func() {
			if !returned {
				errc <- fmt.Errorf("function run in namespace %s did not return (runtime.Goexit, e.g. t.Fatal)", ns)
			}
		}()
		if err := netns.Set(h); err != nil {
			returned = true
			errc <- fmt.Errorf("entering network namespace %s: %w", ns, err)
			return
		}
		err := fn()
		returned = true
		errc <- err
	}()
	return <-errc
}

// sysctls writes /proc/sys/net values inside ns; a key the kernel does not
// have (IPv6 compiled out) is skipped.
func sysctls(ns string, kv map[string]string) error {
	return InNS(ns, func() error {
		for k, v := range kv {
			err := os.WriteFile(filepath.Join("/proc/sys/net", k), []byte(v), 0o644)
			if err != nil && !errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("setting net.%s=%s in %s: %w", strings.ReplaceAll(k, "/", "."), v, ns, err)
			}
		}
		return nil
	})
}

// procStat returns a process's state letter and process group, ok false
// when there is no such process.
func procStat(pid int) (state byte, pgrp int, ok bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, 0, false
	}
	// "pid (comm) S ppid pgrp ...": comm may hold spaces and parentheses.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, 0, false
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 3 {
		return 0, 0, false
	}
	pgrp, _ = strconv.Atoi(f[2])
	return f[0][0], pgrp, true
}

// alive reports whether pid exists and is not a zombie.
func alive(pid int) bool {
	st, _, ok := procStat(pid)
	return ok && st != 'Z' && st != 'X'
}

func cmdline(pid int) []string {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	if err != nil || len(b) == 0 {
		return nil
	}
	return strings.Split(strings.TrimSuffix(string(b), "\x00"), "\x00")
}

// agentConfigArg returns the --config argument of a `drover agent`
// command line, "" if argv is not one.
func agentConfigArg(argv []string) string {
	if len(argv) < 2 || argv[1] != "agent" {
		return ""
	}
	for i, a := range argv {
		if a == "--config" && i+1 < len(argv) {
			return argv[i+1]
		}
		if v, ok := strings.CutPrefix(a, "--config="); ok {
			return v
		}
	}
	return ""
}

// killWait sends sig to pid (to its whole process group when it leads
// one) and waits up to d for it to be gone. done, if not nil, closes when
// this process has reaped it.
func killWait(pid int, sig syscall.Signal, d time.Duration, done <-chan struct{}) error {
	if pid <= 1 || pid == os.Getpid() {
		return fmt.Errorf("refusing to signal pid %d", pid)
	}
	target := pid
	if _, pgrp, ok := procStat(pid); ok && pgrp == pid && pgrp != syscall.Getpgrp() {
		target = -pid
	}
	if err := syscall.Kill(target, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("signalling pid %d: %w", pid, err)
	}
	return waitGone(pid, d, done)
}

func waitGone(pid int, d time.Duration, done <-chan struct{}) error {
	deadline := time.Now().Add(d)
	for {
		if done != nil {
			select {
			case <-done:
				return nil
			default:
			}
		} else if !alive(pid) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("pid %d still running %v after the signal", pid, d)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
