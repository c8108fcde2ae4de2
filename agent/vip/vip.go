package vip

import (
	"context"
	"fmt"
	"hash/fnv"
	"net"
	"net/netip"
	"time"
)

// Mode chooses the gratuitous ARP forms sent (RFC 5227 allows both).
type Mode string

// GARP modes.
const (
	ModeRequest Mode = "request"
	ModeReply   Mode = "reply"
	ModeBoth    Mode = "both"
)

// Group is a set of addresses that move together between hosts.
type Group struct {
	Name      string
	Interface string
	Addresses []netip.Prefix
	// VirtualMAC, when set, is carried by a macvlan interface on Interface
	// that holds the addresses, so clients' ARP entries never change.
	VirtualMAC net.HardwareAddr
	GARP       GARP
}

// GARP is the announcement schedule of a group.
type GARP struct {
	Count       int           // frames per burst, per address and form
	Interval    time.Duration // between frames of a burst
	RepeatAfter time.Duration // a second burst this long after takeover; 0: none
	Refresh     time.Duration // a burst every so often while held; 0: never
	Mode        Mode
}

// Client is what the agent needs of a host's address machinery.
type Client interface {
	// Acquire brings g's addresses (and virtual MAC) up on this host. It is
	// idempotent and restores an address removed by hand. It reports
	// whether anything had to change.
	Acquire(ctx context.Context, g Group) (changed bool, err error)
	// Release removes g's addresses (and its macvlan). Idempotent.
	Release(ctx context.Context, g Group) error
	// Held reports whether all of g's addresses are up on this host.
	Held(g Group) (bool, error)
	// Yield keeps g's addresses answering traffic but stops this host
	// answering ARP and neighbour solicitations for them, so a new owner can
	// take over with no probe lost and never two MACs answering.
	Yield(ctx context.Context, g Group) error
	// Unyield undoes Yield (the group came back before it was released).
	Unyield(ctx context.Context, g Group) error
	// Announce sends one burst of gratuitous ARP / unsolicited NA for g.
	Announce(ctx context.Context, g Group) error
}

// LinkName is the macvlan interface that carries g's virtual MAC: "dv-",
// up to 8 characters of the group name and a hash, within the kernel's 15.
func LinkName(g string) string {
	h := fnv.New32a()
	h.Write([]byte(g))
	short := g
	if len(short) > 8 {
		short = short[:8]
	}
	return fmt.Sprintf("dv-%s-%03x", short, h.Sum32()&0xfff)
}

// Options configure the client.
type Options struct {
	// NetNS is a network namespace path (/var/run/netns/NAME) to work in;
	// empty means the agent's own. Tests use it.
	NetNS string
}
