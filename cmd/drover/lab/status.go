package lab

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// HostStatus is one host of a lab as the kernel and the process table
// show it.
type HostStatus struct {
	Host      string         `json:"host"`
	Namespace string         `json:"namespace"`
	Present   bool           `json:"present"`    // the namespace exists
	MAC       string         `json:"mac"`        // of eth0, "" when absent
	Addrs     []netip.Prefix `json:"addrs"`      // global addresses on eth0
	LinkUp    bool           `json:"link_up"`    // the switch port v-<host> is up
	Agent     bool           `json:"agent"`      // the topology runs an agent here
	PID       int            `json:"pid"`        // the running agent, 0 if none
	Running   bool           `json:"running"`    // an agent is running
	Config    string         `json:"config"`     // the agent's configuration file
	ClientURL string         `json:"client_url"` // the agent's bus, inside the namespace
	Log       string         `json:"log"`        // the agent's output
}

// Open finds a lab that is up, by name, through its state directory
// (o.StateDir, else DefaultStateDir). A lab whose state directory is gone
// (a crash) is still found by its namespaces; its addresses then come
// from the kernel and its agents cannot be started. The error wraps
// ErrNoLab when there is neither.
func Open(name string, o Options) (*Lab, error) {
	if !ValidLabName(name) {
		return nil, fmt.Errorf("%q is not a lab name: %s", name, labNameRule)
	}
	l, err := newLab(&Topology{Name: name}, o)
	if err != nil {
		return nil, err
	}
	t, err := LoadTopology(filepath.Join(l.stateDir, topologyFile))
	switch {
	case err == nil && t.Name == name:
		l.t = t
		return l, nil
	case err == nil:
		return nil, fmt.Errorf("%s holds lab %s, not %s", l.stateDir, t.Name, name)
	case !errors.Is(err, fs.ErrNotExist):
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	nss, err := listNS(ctx, name)
	if err != nil {
		return nil, err
	}
	if len(nss) == 0 {
		return nil, fmt.Errorf("lab %s: %w (no %s and no namespaces %s*)", name, ErrNoLab, filepath.Join(l.stateDir, topologyFile), nsPrefix(name))
	}
	slices.Sort(nss)
	for _, ns := range nss {
		if h := strings.TrimPrefix(ns, nsPrefix(name)); h != switchHost {
			l.t.Hosts = append(l.t.Hosts, Host{Name: h})
		}
	}
	return l, nil
}

// ipLink is what `ip -j addr show` says about a link.
type ipLink struct {
	IfName   string   `json:"ifname"`
	Flags    []string `json:"flags"`
	Address  string   `json:"address"`
	AddrInfo []struct {
		Local     string `json:"local"`
		PrefixLen int    `json:"prefixlen"`
		Scope     string `json:"scope"`
	} `json:"addr_info"`
}

func ipLinks(ctx context.Context, args ...string) ([]ipLink, error) {
	out, err := ip(ctx, append([]string{"-j"}, args...)...)
	if err != nil {
		return nil, err
	}
	var links []ipLink
	if err := json.Unmarshal(out, &links); err != nil {
		return nil, fmt.Errorf("reading ip -j %s: %w", strings.Join(args, " "), err)
	}
	return links, nil
}

// Status shows each host of the lab: in the topology, or found as a
// namespace.
func (l *Lab) Status() ([]HostStatus, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	nss, err := listNS(ctx, l.t.Name)
	if err != nil {
		return nil, err
	}
	hosts := hostNames(l.t)
	for _, ns := range nss {
		if h := strings.TrimPrefix(ns, nsPrefix(l.t.Name)); h != switchHost && !slices.Contains(hosts, h) {
			hosts = append(hosts, h)
		}
	}
	ports := map[string]bool{}
	if slices.Contains(nss, l.SwitchNS()) {
		links, err := ipLinks(ctx, "-n", l.SwitchNS(), "link", "show")
		if err != nil {
			return nil, err
		}
		for _, k := range links {
			ports[k.IfName] = slices.Contains(k.Flags, "UP")
		}
	}
	var out []HostStatus
	for _, h := range hosts {
		th, _ := l.t.Host(h)
		s := HostStatus{Host: h, Namespace: l.NS(h), Present: slices.Contains(nss, l.NS(h)), LinkUp: ports[bridgePort(h)], Agent: th.Agent}
		if s.Present {
			links, err := ipLinks(ctx, "-n", s.Namespace, "addr", "show", "dev", "eth0")
			if err == nil && len(links) == 1 {
				s.MAC = links[0].Address
				for _, a := range links[0].AddrInfo {
					if p, err := netip.ParsePrefix(fmt.Sprintf("%s/%d", a.Local, a.PrefixLen)); err == nil && a.Scope == "global" {
						s.Addrs = append(s.Addrs, p)
					}
				}
			}
		}
		if _, err := os.Stat(l.ConfigPath(h)); err == nil {
			s.Config, s.Log, s.ClientURL = l.ConfigPath(h), l.LogPath(h), l.ClientURL(h)
		}
		s.PID, s.Running = l.agentPID(h)
		out = append(out, s)
	}
	return out, nil
}
