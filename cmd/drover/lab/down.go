package lab

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Down removes the lab called name from its name alone, the way to clean
// up after a crash: it kills every process in the namespaces named
// drl-<name>-* (SIGKILL: the lab is going away, nothing needs a graceful
// leave), deletes those namespaces (and with them their veth pairs and
// the bridge), and removes what it made in the state directory: the
// default one, and the one a running agent of the lab names if it holds
// the lab's topology. It is idempotent: a lab that is not there is no
// error.
func Down(name string) error { return DownWith(name, Options{}) }

// DownWith is Down for a lab whose state directory is o.StateDir, with
// progress lines on o.Log.
func DownWith(name string, o Options) error {
	if !ValidLabName(name) {
		return fmt.Errorf("%q is not a lab name: %s", name, labNameRule)
	}
	l := &Lab{t: &Topology{Name: name}, log: o.Log}
	dir := o.StateDir
	if dir == "" {
		dir = DefaultStateDir(name)
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return down(ctx, name, []string{dir}, nil, l.logf)
}

// down is Down with the state directories (trusted: the default one, or
// one the caller named) and host names known so far; more of both are
// learnt from the namespaces, the agents' command lines and the topology
// files found.
func down(ctx context.Context, name string, dirs, hosts []string, logf func(string, ...any)) error {
	if logf == nil {
		logf = func(string, ...any) {}
	}
	nss, err := listNS(ctx, name)
	if err != nil {
		return err
	}
	var errs []error
	hostSet := map[string]bool{}
	for _, h := range hosts {
		hostSet[h] = true
	}
	dirSet := map[string]bool{}
	for _, d := range dirs {
		dirSet[d] = true
	}
	// Processes: everything in the lab's namespaces, and agents named in
	// PID files whose command line still says they are ours.
	kill := map[int]string{}
	for _, ns := range nss {
		host := strings.TrimPrefix(ns, nsPrefix(name))
		if host != switchHost {
			hostSet[host] = true
		}
		pids, err := nsPIDs(ctx, ns)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, pid := range pids {
			if pid == os.Getpid() {
				continue
			}
			kill[pid] = describeProc(pid) + " in " + ns
			// An agent's state directory is the lab's to remove only if
			// it holds this lab's topology: someone may have run an agent
			// of their own in here.
			if cfg := agentConfigArg(cmdline(pid)); filepath.Base(cfg) == host+".yaml" && holdsLab(filepath.Dir(cfg), name) {
				dirSet[filepath.Dir(cfg)] = true
			}
		}
	}
	for d := range dirSet {
		if t, err := LoadTopology(filepath.Join(d, topologyFile)); err == nil && t.Name == name {
			for _, h := range t.Hosts {
				hostSet[h.Name] = true
			}
		}
	}
	for d := range dirSet {
		for h := range hostSet {
			b, err := os.ReadFile(filepath.Join(d, h+".pid"))
			if err != nil {
				continue
			}
			pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
			if _, seen := kill[pid]; !seen && err == nil && alive(pid) && agentConfigArg(cmdline(pid)) == filepath.Join(d, h+".yaml") {
				kill[pid] = describeProc(pid) + " from " + filepath.Join(d, h+".pid")
			}
		}
	}
	for pid, what := range kill {
		if err := killWait(pid, syscall.SIGKILL, 5*time.Second, nil); err != nil {
			errs = append(errs, fmt.Errorf("killing pid %d %s: %w", pid, what, err))
			continue
		}
		logf("killed pid %d %s", pid, what)
	}
	// Hosts first, then the switch: deleting a namespace destroys its
	// veth ends, and with them their peers on the bridge.
	slices.SortFunc(nss, func(a, b string) int {
		return boolCmp(a == nsName(name, switchHost), b == nsName(name, switchHost))
	})
	for _, ns := range nss {
		if _, err := ip(ctx, "netns", "del", ns); err != nil {
			if _, serr := os.Stat(filepath.Join(netnsDir, ns)); errors.Is(serr, fs.ErrNotExist) {
				continue // removed meanwhile
			}
			errs = append(errs, err)
			continue
		}
		logf("deleted namespace %s", ns)
	}
	for d := range dirSet {
		if err := removeState(d, hostSet); err != nil {
			errs = append(errs, err)
		}
		if d == DefaultStateDir(name) {
			_ = os.Remove(filepath.Dir(d)) // /run/drover-lab, when no other lab is left
		}
	}
	return errors.Join(errs...)
}

// holdsLab reports whether dir is the state directory of lab name.
func holdsLab(dir, name string) bool {
	t, err := LoadTopology(filepath.Join(dir, topologyFile))
	return err == nil && t.Name == name
}

// describeProc is a process's command line for the progress log.
func describeProc(pid int) string {
	what := strings.Join(cmdline(pid), " ")
	if len(what) > 80 {
		what = what[:77] + "..."
	}
	return "(" + what + ")"
}

func boolCmp(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return 1
	}
	return -1
}

// removeState removes the files a lab keeps in dir, by name, and dir
// itself if that leaves it empty; other files are left alone.
func removeState(dir string, hosts map[string]bool) error {
	var errs []error
	rm := func(p string, all bool) {
		var err error
		if all {
			err = os.RemoveAll(p)
		} else {
			err = os.Remove(p)
		}
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	for h := range hosts {
		for _, ext := range []string{".yaml", ".log", ".pid"} {
			rm(filepath.Join(dir, h+ext), false)
		}
		rm(filepath.Join(dir, h, "data"), true)
		rm(filepath.Join(dir, h, "logs"), true)
		if err := os.Remove(filepath.Join(dir, h)); err != nil && !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, syscall.ENOTEMPTY) {
			errs = append(errs, err)
		}
	}
	rm(filepath.Join(dir, topologyFile), false)
	if err := os.Remove(dir); err != nil && !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, syscall.ENOTEMPTY) && !errors.Is(err, syscall.EEXIST) {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
