package lab

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"strings"
	"time"
)

// LBNet says how packets of a load-balanced farm flow on the lab's one
// bridge, for both of IPVS's forwarding methods that work on one LAN:
//
//   - NAT (masquerading): the director rewrites the destination to a real
//     server, which must send its answer back through the director to be
//     rewritten again. So the client is "outside": it reaches the NAT VIPs
//     from ClientAddr, an address of another documentation range (its own
//     /32 on the client's eth0, with a host route to each NAT VIP using
//     it as the source), the directors route that range onto the LAN, and
//     the real servers route it via Gateway, an address the VIP group
//     moves together with the VIPs, so answers follow the active
//     director. The directors forward (ip_forward=1) and, since answers
//     leave through the interface they came in by, send no ICMP
//     redirects, which would tell the real servers to bypass them.
//   - DR (direct routing): the director only changes the frame's
//     destination MAC. The real servers carry the DR VIPs on lo, so they
//     accept the packets, and neither answer nor use them in ARP
//     (arp_ignore=1, arp_announce=2); they answer the client directly.
type LBNet struct {
	Directors   []string
	RealServers []string // every host behind a VIP, the sorry server too
	Client      string
	ClientAddr  netip.Addr   // the client's outside address, e.g. 203.0.113.100
	NATVIPs     []netip.Addr // reached from ClientAddr
	Gateway     netip.Addr   // the real servers' route to ClientAddr's range
	DRVIPs      []netip.Addr // on the real servers' lo
}

// clientRange is the /24 around ClientAddr: "the outside".
func (n LBNet) clientRange() netip.Prefix {
	p, _ := n.ClientAddr.Prefix(24)
	return p
}

// SetupLB configures the lab's hosts for n. Namespaces go with the lab, so
// nothing needs undoing.
func (l *Lab) SetupLB(ctx context.Context, n LBNet) error {
	nat := len(n.NATVIPs) > 0
	if nat && (!n.ClientAddr.Is4() || !n.Gateway.Is4()) {
		return fmt.Errorf("NAT VIPs need an IPv4 client address and gateway")
	}
	outside := ""
	if nat {
		outside = n.clientRange().String()
	}
	for _, d := range n.Directors {
		kv := map[string]string{
			"ipv4/ip_forward":                   "1",
			"ipv4/conf/all/send_redirects":      "0",
			"ipv4/conf/default/send_redirects":  "0",
			"ipv4/conf/eth0/send_redirects":     "0",
			"ipv4/conf/all/rp_filter":           "0",
			"ipv4/conf/eth0/rp_filter":          "0",
			"ipv4/vs/expire_nodest_conn":        "1",
			"ipv4/vs/expire_quiescent_template": "1",
		}
		if err := sysctls(l.NS(d), kv); err != nil {
			return err
		}
		if nat {
			if _, err := ip(ctx, "-n", l.NS(d), "route", "replace", outside, "dev", "eth0"); err != nil {
				return err
			}
		}
		l.logf("director %s: forwarding, no redirects; route %s on eth0", d, outside)
	}
	for _, rs := range n.RealServers {
		kv := map[string]string{
			"ipv4/conf/all/accept_redirects":  "0",
			"ipv4/conf/eth0/accept_redirects": "0",
		}
		if len(n.DRVIPs) > 0 {
			for _, dev := range []string{"all", "eth0", "lo"} {
				kv["ipv4/conf/"+dev+"/arp_ignore"] = "1"
				kv["ipv4/conf/"+dev+"/arp_announce"] = "2"
			}
		}
		if err := sysctls(l.NS(rs), kv); err != nil {
			return err
		}
		for _, v := range n.DRVIPs {
			if _, err := ip(ctx, "-n", l.NS(rs), "addr", "replace", netip.PrefixFrom(v, v.BitLen()).String(), "dev", "lo"); err != nil {
				return err
			}
		}
		if nat {
			if _, err := ip(ctx, "-n", l.NS(rs), "route", "replace", outside, "via", n.Gateway.String()); err != nil {
				return err
			}
		}
		l.logf("real server %s: DR VIPs %v on lo; route %s via %s", rs, n.DRVIPs, outside, n.Gateway)
	}
	if nat {
		c := l.NS(n.Client)
		if _, err := ip(ctx, "-n", c, "addr", "replace", netip.PrefixFrom(n.ClientAddr, 32).String(), "dev", "eth0"); err != nil {
			return err
		}
		for _, v := range n.NATVIPs {
			if _, err := ip(ctx, "-n", c, "route", "replace", netip.PrefixFrom(v, 32).String(), "dev", "eth0", "src", n.ClientAddr.String()); err != nil {
				return err
			}
		}
		l.logf("client %s: %s on eth0, the source towards %v", n.Client, n.ClientAddr, n.NATVIPs)
	}
	return nil
}

// HTTPClient is an HTTP client in a host's namespace that opens a fresh
// connection, from a source port not used before, for every request and
// asks the server to close it, so that the load balancer schedules every
// request anew.
type HTTPClient struct {
	d *Dialer
	c *http.Client
}

// HTTPClient starts a client in host's namespace; timeout bounds each
// request. Close it when done.
func (l *Lab) HTTPClient(host string, timeout time.Duration) (*HTTPClient, error) {
	d, err := l.Dialer(host)
	if err != nil {
		return nil, err
	}
	d.FreshPorts = true // a reused port may not be scheduled anew
	tr := &http.Transport{DialContext: d.DialContext, DisableKeepAlives: true, Proxy: nil}
	return &HTTPClient{d: d, c: &http.Client{Transport: tr, Timeout: timeout}}, nil
}

// Close stops the client's dialer.
func (c *HTTPClient) Close() {
	c.c.CloseIdleConnections()
	c.d.Close()
}

// Get asks http://addr/ and returns the first word of the answer, the
// name of the `drover lab serve` that answered.
func (c *HTTPClient) Get(ctx context.Context, addr netip.AddrPort) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr.String()+"/", nil)
	if err != nil {
		return "", err
	}
	req.Close = true // Connection: close
	resp, err := c.c.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	line, err := bufio.NewReader(io.LimitReader(resp.Body, 512)).ReadString('\n')
	if err != nil && line == "" {
		return "", fmt.Errorf("reading the answer of %s: %w", addr, err)
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("%s answered %s", addr, resp.Status)
	}
	name, _, _ := strings.Cut(strings.TrimSpace(line), " ")
	return name, nil
}
