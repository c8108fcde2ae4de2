package vip

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"runtime"
	"time"

	"github.com/mdlayher/packet"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

type linuxClient struct {
	nl *netlink.Handle
	ns netns.NsHandle // -1: current
}

var _ Client = (*linuxClient)(nil)

// New returns the netlink-backed client.
func New(o Options) (Client, error) {
	c := &linuxClient{ns: -1}
	if o.NetNS != "" {
		ns, err := netns.GetFromPath(o.NetNS)
		if err != nil {
			return nil, fmt.Errorf("opening network namespace %s: %w", o.NetNS, err)
		}
		c.ns = ns
		c.nl, err = netlink.NewHandleAt(ns, unix.NETLINK_ROUTE)
		if err != nil {
			return nil, fmt.Errorf("netlink in %s: %w", o.NetNS, err)
		}
		return c, nil
	}
	// Route netlink only: with no protocol named, the library also opens
	// XFRM and netfilter sockets, and a kernel without xfrm_user (or a
	// container that cannot load it) would stop the agent from starting.
	h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("netlink: %w", err)
	}
	c.nl = h
	return c, nil
}

// inNS runs fn on a thread inside the client's namespace: packet sockets
// and /proc/sys writes belong to the namespace of the thread that makes
// them.
func (c *linuxClient) inNS(fn func() error) error {
	if c.ns < 0 {
		return fn()
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := netns.Get()
	if err != nil {
		return err
	}
	defer orig.Close()
	if err := netns.Set(c.ns); err != nil {
		return err
	}
	defer netns.Set(orig) //nolint:errcheck // restoring our own namespace
	return fn()
}

// addrLink is the link that carries g's addresses: the macvlan in MAC mode,
// the interface itself otherwise.
func (c *linuxClient) addrLink(g Group, create bool) (netlink.Link, error) {
	parent, err := c.nl.LinkByName(g.Interface)
	if err != nil {
		return nil, fmt.Errorf("interface %s: %w", g.Interface, err)
	}
	if g.VirtualMAC == nil {
		return parent, nil
	}
	name := LinkName(g.Name)
	l, err := c.nl.LinkByName(name)
	if err == nil {
		if l.Attrs().HardwareAddr.String() != g.VirtualMAC.String() || l.Attrs().ParentIndex != parent.Attrs().Index {
			// Not what we want (changed config, or stale): recreate.
			if err := c.nl.LinkDel(l); err != nil {
				return nil, fmt.Errorf("removing stale %s: %w", name, err)
			}
		} else {
			if l.Attrs().Flags&net.FlagUp == 0 {
				if err := c.nl.LinkSetUp(l); err != nil {
					return nil, fmt.Errorf("setting %s up: %w", name, err)
				}
			}
			return l, nil
		}
	}
	if !create {
		return nil, nil
	}
	// The parent must not answer ARP for addresses it does not carry, or
	// two MACs would answer for the VIP (arp_ignore=1); and it should pick
	// the best local source for its own ARP requests (arp_announce=2).
	if err := c.setARPQuiet(g.Interface); err != nil {
		return nil, err
	}
	mv := &netlink.Macvlan{
		LinkAttrs: netlink.LinkAttrs{Name: name, ParentIndex: parent.Attrs().Index, HardwareAddr: g.VirtualMAC},
		Mode:      netlink.MACVLAN_MODE_BRIDGE,
	}
	if err := c.nl.LinkAdd(mv); err != nil && !errors.Is(err, unix.EEXIST) {
		return nil, fmt.Errorf("adding macvlan %s with %s on %s: %w", name, g.VirtualMAC, g.Interface, err)
	}
	l, err = c.nl.LinkByName(name)
	if err != nil {
		return nil, fmt.Errorf("macvlan %s: %w", name, err)
	}
	// The macvlan must answer ARP only for its own addresses too: by
	// default Linux answers on any interface for any local address, and
	// the virtual MAC would answer for the host's other VIPs.
	if err := c.setARPQuiet(name); err != nil {
		return nil, err
	}
	if err := c.nl.LinkSetUp(l); err != nil {
		return nil, fmt.Errorf("setting %s up: %w", name, err)
	}
	return l, nil
}

func (c *linuxClient) present(l netlink.Link) (map[netip.Addr]bool, error) {
	addrs, err := c.nl.AddrList(l, netlink.FAMILY_ALL)
	if err != nil {
		return nil, fmt.Errorf("listing addresses of %s: %w", l.Attrs().Name, err)
	}
	out := map[netip.Addr]bool{}
	for _, a := range addrs {
		if ip, ok := netip.AddrFromSlice(a.IP); ok {
			out[ip.Unmap()] = true
		}
	}
	return out, nil
}

func toNetlinkAddr(p netip.Prefix) *netlink.Addr {
	a := &netlink.Addr{IPNet: &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}}
	if p.Addr().Is6() {
		// Skip duplicate address detection: the address must answer now,
		// and the manager already guarantees a single owner.
		a.Flags = unix.IFA_F_NODAD
	}
	return a
}

func (c *linuxClient) Acquire(_ context.Context, g Group) (bool, error) {
	l, err := c.addrLink(g, true)
	if err != nil {
		return false, err
	}
	have, err := c.present(l)
	if err != nil {
		return false, err
	}
	changed := false
	for _, p := range g.Addresses {
		if have[p.Addr()] {
			continue
		}
		if err := c.nl.AddrAdd(l, toNetlinkAddr(p)); err != nil && !errors.Is(err, unix.EEXIST) {
			return changed, fmt.Errorf("adding %s to %s: %w", p, l.Attrs().Name, err)
		}
		changed = true
	}
	return changed, nil
}

// hostPrefix is p as a host route: /32 or /128.
func hostPrefix(p netip.Prefix) netip.Prefix {
	return netip.PrefixFrom(p.Addr(), p.Addr().BitLen())
}

func (c *linuxClient) setARPQuiet(ifname string) error {
	return c.inNS(func() error {
		for k, v := range map[string]string{"arp_ignore": "1", "arp_announce": "2"} {
			p := "/proc/sys/net/ipv4/conf/" + ifname + "/" + k
			if err := os.WriteFile(p, []byte(v), 0o644); err != nil {
				return fmt.Errorf("setting %s: %w", p, err)
			}
		}
		return nil
	})
}

// Yield moves the addresses to lo as host routes, the way LVS direct-routing
// real servers carry a VIP: the host still accepts traffic for them, but
// with arp_ignore=1 on the interface it no longer answers ARP (and IPv6
// answers neighbour solicitations only for addresses on the receiving
// interface).
func (c *linuxClient) Yield(_ context.Context, g Group) error {
	if g.VirtualMAC != nil {
		return nil // both hosts answer with the same MAC: nothing to quiet
	}
	l, err := c.addrLink(g, false)
	if err != nil {
		return err
	}
	lo, err := c.nl.LinkByName("lo")
	if err != nil {
		return fmt.Errorf("lo: %w", err)
	}
	if err := c.setARPQuiet(g.Interface); err != nil {
		return err
	}
	onLo, err := c.present(lo)
	if err != nil {
		return err
	}
	have, err := c.present(l)
	if err != nil {
		return err
	}
	for _, p := range g.Addresses {
		if !onLo[p.Addr()] {
			if err := c.nl.AddrAdd(lo, toNetlinkAddr(hostPrefix(p))); err != nil && !errors.Is(err, unix.EEXIST) {
				return fmt.Errorf("adding %s to lo: %w", p.Addr(), err)
			}
		}
		if have[p.Addr()] {
			if err := c.nl.AddrDel(l, toNetlinkAddr(p)); err != nil && !errors.Is(err, unix.EADDRNOTAVAIL) {
				return fmt.Errorf("removing %s from %s: %w", p, g.Interface, err)
			}
		}
	}
	return nil
}

// Unyield removes the lo copies that Yield made.
func (c *linuxClient) Unyield(_ context.Context, g Group) error {
	if g.VirtualMAC != nil {
		return nil
	}
	lo, err := c.nl.LinkByName("lo")
	if err != nil {
		return fmt.Errorf("lo: %w", err)
	}
	onLo, err := c.present(lo)
	if err != nil {
		return err
	}
	var errs []error
	for _, p := range g.Addresses {
		if onLo[p.Addr()] {
			if err := c.nl.AddrDel(lo, toNetlinkAddr(hostPrefix(p))); err != nil && !errors.Is(err, unix.EADDRNOTAVAIL) {
				errs = append(errs, fmt.Errorf("removing %s from lo: %w", p.Addr(), err))
			}
		}
	}
	return errors.Join(errs...)
}

func (c *linuxClient) Release(ctx context.Context, g Group) error {
	if err := c.Unyield(ctx, g); err != nil {
		return err
	}
	l, err := c.addrLink(g, false)
	if err != nil {
		return err
	}
	if l == nil {
		return nil
	}
	if g.VirtualMAC != nil {
		if err := c.nl.LinkDel(l); err != nil && !errors.Is(err, unix.ENODEV) {
			return fmt.Errorf("removing %s: %w", l.Attrs().Name, err)
		}
		return nil
	}
	have, err := c.present(l)
	if err != nil {
		return err
	}
	var errs []error
	for _, p := range g.Addresses {
		if !have[p.Addr()] {
			continue
		}
		if err := c.nl.AddrDel(l, toNetlinkAddr(p)); err != nil && !errors.Is(err, unix.EADDRNOTAVAIL) {
			errs = append(errs, fmt.Errorf("removing %s from %s: %w", p, l.Attrs().Name, err))
		}
	}
	return errors.Join(errs...)
}

func (c *linuxClient) Held(g Group) (bool, error) {
	l, err := c.addrLink(g, false)
	if err != nil || l == nil {
		return false, err
	}
	have, err := c.present(l)
	if err != nil {
		return false, err
	}
	for _, p := range g.Addresses {
		if !have[p.Addr()] {
			return false, nil
		}
	}
	return true, nil
}

func (c *linuxClient) Announce(ctx context.Context, g Group) error {
	l, err := c.addrLink(g, false)
	if err != nil {
		return err
	}
	if l == nil {
		return fmt.Errorf("announcing %s: its macvlan %s is missing", g.Name, LinkName(g.Name))
	}
	ifi := &net.Interface{Index: l.Attrs().Index, Name: l.Attrs().Name, HardwareAddr: l.Attrs().HardwareAddr, MTU: l.Attrs().MTU}
	mac := l.Attrs().HardwareAddr
	var frames [][]byte
	for _, p := range g.Addresses {
		ip := p.Addr()
		if ip.Is4() {
			for _, op := range arpOps(g.GARP.Mode) {
				f, err := GratuitousARP(op, mac, ip).Frame(broadcastMAC)
				if err != nil {
					return err
				}
				frames = append(frames, f)
			}
			continue
		}
		f, err := UnsolicitedNA(mac, ip)
		if err != nil {
			return err
		}
		frames = append(frames, f)
	}
	var conn *packet.Conn
	if err := c.inNS(func() (err error) {
		conn, err = packet.Listen(ifi, packet.Raw, etherTypeARP, nil)
		return err
	}); err != nil {
		return fmt.Errorf("opening a packet socket on %s: %w", ifi.Name, err)
	}
	defer conn.Close()
	count := max(g.GARP.Count, 1)
	for i := range count {
		for _, f := range frames {
			if _, err := conn.WriteTo(f, &packet.Addr{HardwareAddr: net.HardwareAddr(f[0:6])}); err != nil {
				return fmt.Errorf("sending announcement on %s: %w", ifi.Name, err)
			}
		}
		if i+1 < count && g.GARP.Interval > 0 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(g.GARP.Interval):
			}
		}
	}
	return nil
}

func arpOps(m Mode) []uint16 {
	switch m {
	case ModeRequest:
		return []uint16{ARPRequest}
	case ModeReply:
		return []uint16{ARPReply}
	default:
		return []uint16{ARPRequest, ARPReply}
	}
}
