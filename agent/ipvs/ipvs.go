package ipvs

import (
	"fmt"
	"math"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// Address families as the kernel numbers them (AF_INET, AF_INET6 on Linux),
// defined here so the package builds everywhere.
const (
	FamilyIPv4 uint16 = 2
	FamilyIPv6 uint16 = 10
)

// Protocol is the layer-4 protocol of a virtual service (IPPROTO_*).
type Protocol uint16

// Protocols IPVS balances.
const (
	ProtocolTCP  Protocol = 6
	ProtocolUDP  Protocol = 17
	ProtocolSCTP Protocol = 132
)

func (p Protocol) String() string {
	switch p {
	case ProtocolTCP:
		return "tcp"
	case ProtocolUDP:
		return "udp"
	case ProtocolSCTP:
		return "sctp"
	}
	return "proto(" + strconv.Itoa(int(p)) + ")"
}

// ForwardMethod is how packets reach a destination (IP_VS_CONN_F_*).
type ForwardMethod uint32

// Forwarding methods.
const (
	ForwardNAT    ForwardMethod = 0 // masquerading
	ForwardLocal  ForwardMethod = 1 // the director itself
	ForwardTunnel ForwardMethod = 2 // IP-in-IP
	ForwardDR     ForwardMethod = 3 // direct routing
)

func (f ForwardMethod) String() string {
	switch f {
	case ForwardNAT:
		return "nat"
	case ForwardLocal:
		return "local"
	case ForwardTunnel:
		return "tunnel"
	case ForwardDR:
		return "dr"
	}
	return "fwd(" + strconv.Itoa(int(f)) + ")"
}

// Flags are virtual service flags (IP_VS_SVC_F_*).
type Flags uint32

// Service flags. The meaning of the scheduler flags depends on the
// scheduler: for sh and mh, Sched1 is fallback and Sched2 is port.
const (
	FlagPersistent Flags = 0x1
	FlagHashed     Flags = 0x2 // kernel-internal; dropped when read, never sent
	FlagOnePacket  Flags = 0x4
	FlagSched1     Flags = 0x8
	FlagSched2     Flags = 0x10
	FlagSched3     Flags = 0x20

	FlagSHFallback = FlagSched1
	FlagSHPort     = FlagSched2
	FlagMHFallback = FlagSched1
	FlagMHPort     = FlagSched2

	schedFlags = FlagSched1 | FlagSched2 | FlagSched3
)

func (f Flags) String() string {
	if f == 0 {
		return "0"
	}
	var parts []string
	for _, n := range []struct {
		f    Flags
		name string
	}{
		{FlagPersistent, "persistent"}, {FlagHashed, "hashed"}, {FlagOnePacket, "onepacket"},
		{FlagSched1, "sched1"}, {FlagSched2, "sched2"}, {FlagSched3, "sched3"},
	} {
		if f&n.f != 0 {
			parts = append(parts, n.name)
			f &^= n.f
		}
	}
	if f != 0 {
		parts = append(parts, fmt.Sprintf("%#x", uint32(f)))
	}
	return strings.Join(parts, "|")
}

// DefaultScheduler is what an empty Service.Scheduler means (ipvsadm's
// default).
const DefaultScheduler = "wlc"

// ServiceKey identifies a virtual service. A service is either addressed
// (Protocol, Address, Port) or marked (FWMark != 0, matching packets that
// netfilter marked), never both: for a fwmark service the kernel ignores
// protocol, address and port, and so does this package.
type ServiceKey struct {
	Family   uint16 // FamilyIPv4 or FamilyIPv6; 0: from Address (IPv4 for a fwmark)
	Protocol Protocol
	Address  netip.Addr
	Port     uint16
	FWMark   uint32
}

// Normalize returns k as the kernel reports it: a fwmark key keeps only
// its family and mark, an IPv4-mapped address is unmapped, a zero family
// is filled in from the address.
func (k ServiceKey) Normalize() ServiceKey {
	if k.FWMark != 0 {
		if k.Family == 0 {
			k.Family = FamilyIPv4
		}
		return ServiceKey{Family: k.Family, FWMark: k.FWMark}
	}
	k.Address = k.Address.Unmap()
	if k.Family == 0 {
		k.Family = familyOf(k.Address)
	}
	return k
}

func familyOf(a netip.Addr) uint16 {
	switch {
	case a.Is4():
		return FamilyIPv4
	case a.Is6():
		return FamilyIPv6
	}
	return 0
}

// String names the service as ipvsadm -L does: "TCP 192.0.2.10:80",
// "UDP [2001:db8::10]:53", "FWM 5", "FWM 5 IPv6".
func (k ServiceKey) String() string {
	k = k.Normalize()
	if k.FWMark != 0 {
		if k.Family == FamilyIPv6 {
			return "FWM " + strconv.FormatUint(uint64(k.FWMark), 10) + " IPv6"
		}
		return "FWM " + strconv.FormatUint(uint64(k.FWMark), 10)
	}
	return strings.ToUpper(k.Protocol.String()) + " " + netip.AddrPortFrom(k.Address, k.Port).String()
}

// Service is a virtual service and its scheduling options.
type Service struct {
	ServiceKey
	Scheduler string // rr, wrr, lc, wlc, sh, mh, ...; "": DefaultScheduler
	Flags     Flags
	Timeout   uint32 // persistence timeout in seconds (with FlagPersistent)
	// Netmask is the persistence granularity as a prefix length: clients in
	// the same prefix stick to the same destination. 0 means a host mask
	// (32 or 128).
	Netmask int
}

// Normalize returns s as the kernel reports it (see ServiceKey.Normalize;
// also the default scheduler, a host netmask for 0, no FlagHashed).
func (s Service) Normalize() Service {
	s.ServiceKey = s.ServiceKey.Normalize()
	if s.Scheduler == "" {
		s.Scheduler = DefaultScheduler
	}
	s.Flags &^= FlagHashed
	if s.Netmask == 0 {
		s.Netmask = hostBits(s.Family)
	}
	return s
}

func hostBits(family uint16) int {
	if family == FamilyIPv6 {
		return 128
	}
	return 32
}

// DestKey identifies a destination within its service.
type DestKey struct {
	Address netip.Addr
	Port    uint16
}

func (k DestKey) String() string { return netip.AddrPortFrom(k.Address, k.Port).String() }

// Destination is a real server behind a virtual service.
type Destination struct {
	DestKey
	Forward ForwardMethod
	Weight  int // 0 stops new connections to the destination
	// Connection thresholds: above UpperThreshold active connections the
	// destination gets no new ones until it drops to LowerThreshold. 0: none.
	UpperThreshold, LowerThreshold uint32
}

// Normalize returns d as the kernel reports it (an IPv4-mapped address
// unmapped).
func (d Destination) Normalize() Destination {
	d.Address = d.Address.Unmap()
	return d
}

// Stats are the kernel's counters and rate estimates of a service or
// destination.
type Stats struct {
	Connections, PacketsIn, PacketsOut, BytesIn, BytesOut uint64
	CPS, PPSIn, PPSOut, BPSIn, BPSOut                     uint64 // per second, estimated
}

// ServiceInfo is a service as read from the kernel.
type ServiceInfo struct {
	Service
	Stats Stats
}

// DestinationInfo is a destination as read from the kernel.
type DestinationInfo struct {
	Destination
	ActiveConns, InactiveConns, PersistConns uint32
	Stats                                    Stats
}

// VirtualService is one entry of a Table: a service and its destinations.
type VirtualService struct {
	Service
	Destinations []Destination
}

// Table is an IPVS table: what the kernel holds, or what it should hold.
type Table []VirtualService

// Client reads and writes one IPVS table (one network namespace's).
// Errors for a missing service or destination match fs.ErrNotExist, for
// one that already exists fs.ErrExist.
type Client interface {
	Services() ([]ServiceInfo, error)
	Destinations(ServiceKey) ([]DestinationInfo, error)
	CreateService(Service) error
	UpdateService(Service) error
	RemoveService(ServiceKey) error
	CreateDestination(ServiceKey, Destination) error
	UpdateDestination(ServiceKey, Destination) error
	RemoveDestination(ServiceKey, DestKey) error
	Close() error
}

// Applier is implemented by clients that apply a list of operations with
// fewer round trips than one call each; Reconcile uses it when the Client
// has it. Apply attempts every op, in order, and returns those that
// succeeded; an op that fails does not stop the others (one broken service
// must not keep the rest of the table from converging), and err is then an
// *ApplyError. A failure to reach the kernel at all stops it, with an
// error that is not (only) an *ApplyError.
type Applier interface {
	Apply(ops []Op) (applied []Op, err error)
}

// Options configure the Linux client.
type Options struct {
	// NetNS is a network namespace path (/var/run/netns/NAME,
	// /proc/PID/ns/net) whose table to work on; empty means the agent's own.
	NetNS string
	// Timeout bounds the wait for the kernel's answer to one request or
	// batch; 0 means 30 s.
	Timeout time.Duration
}

// OpKind is what an Op does.
type OpKind uint8

// Operation kinds, named after ipvsadm's -A -E -D -a -e -d.
const (
	OpCreateService OpKind = iota + 1
	OpUpdateService
	OpRemoveService
	OpCreateDestination
	OpUpdateDestination
	OpRemoveDestination
)

func (k OpKind) String() string {
	switch k {
	case OpCreateService:
		return "create-service"
	case OpUpdateService:
		return "update-service"
	case OpRemoveService:
		return "remove-service"
	case OpCreateDestination:
		return "create-destination"
	case OpUpdateDestination:
		return "update-destination"
	case OpRemoveDestination:
		return "remove-destination"
	}
	return "op(" + strconv.Itoa(int(k)) + ")"
}

// Op is one change to an IPVS table. Dest is unused by service operations;
// a destination operation names its service in Service.
type Op struct {
	Kind    OpKind
	Service Service
	Dest    Destination
}

// String renders op as an ipvsadm command line, e.g.
// "-A -t 192.0.2.10:80 -s rr" or "-e -t 192.0.2.10:80 -r 198.51.100.1:80 -m -w 3".
func (op Op) String() string {
	var b strings.Builder
	switch op.Kind {
	case OpCreateService:
		b.WriteString("-A ")
		writeServiceRule(&b, op.Service.Normalize())
	case OpUpdateService:
		b.WriteString("-E ")
		writeServiceRule(&b, op.Service.Normalize())
	case OpRemoveService:
		b.WriteString("-D ")
		writeServiceArg(&b, op.Service.ServiceKey.Normalize())
	case OpCreateDestination:
		b.WriteString("-a ")
		writeDestRule(&b, op.Service.ServiceKey.Normalize(), op.Dest.Normalize(), true)
	case OpUpdateDestination:
		b.WriteString("-e ")
		writeDestRule(&b, op.Service.ServiceKey.Normalize(), op.Dest.Normalize(), true)
	case OpRemoveDestination:
		b.WriteString("-d ")
		writeServiceArg(&b, op.Service.ServiceKey.Normalize())
		b.WriteString(" -r ")
		b.WriteString(op.Dest.Normalize().DestKey.String())
	default:
		return op.Kind.String()
	}
	return b.String()
}

// OpError is the failure of one operation.
type OpError struct {
	Op  Op
	Err error
}

func (e *OpError) Error() string { return fmt.Sprintf("ipvs %s: %v", e.Op, e.Err) }
func (e *OpError) Unwrap() error { return e.Err }

// schedNameMax is IP_VS_SCHEDNAME_MAXLEN less the terminating NUL.
const schedNameMax = 15

// Validate reports what the kernel would refuse in s, before asking it.
func (s Service) Validate() error {
	n := s.Normalize()
	if n.FWMark == 0 && !n.Address.IsValid() {
		return fmt.Errorf("service %s: needs an address or a fwmark", n.ServiceKey)
	}
	switch n.Family {
	case FamilyIPv4, FamilyIPv6:
	default:
		return fmt.Errorf("service %s: address family %d is neither IPv4 nor IPv6", n.ServiceKey, n.Family)
	}
	if n.FWMark == 0 {
		if familyOf(n.Address) != n.Family {
			return fmt.Errorf("service %s: address is not of family %d", n.ServiceKey, n.Family)
		}
		switch n.Protocol {
		case ProtocolTCP, ProtocolUDP, ProtocolSCTP:
		default:
			return fmt.Errorf("service %s: protocol %d is not tcp, udp or sctp", n.ServiceKey, n.Protocol)
		}
	}
	if len(n.Scheduler) > schedNameMax || strings.IndexByte(n.Scheduler, 0) >= 0 {
		return fmt.Errorf("service %s: bad scheduler name %q", n.ServiceKey, n.Scheduler)
	}
	if n.Netmask < 1 || n.Netmask > hostBits(n.Family) {
		return fmt.Errorf("service %s: netmask /%d out of range", n.ServiceKey, n.Netmask)
	}
	return nil
}

// Validate reports what the kernel would refuse in d as a destination of s.
func (d Destination) Validate(s ServiceKey) error {
	s, d = s.Normalize(), d.Normalize()
	if !d.Address.IsValid() {
		return fmt.Errorf("service %s: destination without an address", s)
	}
	if familyOf(d.Address) != s.Family && d.Forward != ForwardTunnel {
		return fmt.Errorf("service %s: destination %s of another address family needs tunnel forwarding", s, d.DestKey)
	}
	if d.Forward > ForwardDR {
		return fmt.Errorf("service %s: destination %s: unknown forwarding method %d", s, d.DestKey, d.Forward)
	}
	if d.Weight < 0 || d.Weight > math.MaxInt32 {
		return fmt.Errorf("service %s: destination %s: weight %d out of range", s, d.DestKey, d.Weight)
	}
	if d.LowerThreshold > d.UpperThreshold {
		return fmt.Errorf("service %s: destination %s: lower threshold %d above upper %d", s, d.DestKey, d.LowerThreshold, d.UpperThreshold)
	}
	return nil
}

// Validate checks a service and its destinations.
func (vs VirtualService) Validate() error {
	if err := vs.Service.Validate(); err != nil {
		return err
	}
	for _, d := range vs.Destinations {
		if err := d.Validate(vs.ServiceKey); err != nil {
			return err
		}
	}
	return nil
}

// Diff returns the minimal list of operations that turns the observed
// table into the desired one, in an order in which they always apply.
//
//   - A service of observed that desired does not name is removed only if
//     owned reports true for its key, which it is given normalised (owned
//     nil: every service is owned): what an operator or another program
//     created is left alone. Removing a service takes its destinations with
//     it, so they get no operations of their own. Removals come first.
//   - Then, in desired's order: a missing service is created, followed by
//     its destinations; a service whose key stays but whose scheduler,
//     flags, timeout or netmask differ is updated in place (connections
//     survive), then its destinations are created, updated and removed, in
//     that order, so a service whose destinations are replaced never goes
//     without one. A service of desired that exists is desired's, owned or
//     not.
//   - Both sides are compared normalised (Service.Normalize), so a desired
//     entry written with defaults matches what the kernel reports. A key
//     or destination named twice in desired counts once, the first time.
//
// Diff does not validate desired (see VirtualService.Validate).
func Diff(observed, desired Table, owned func(ServiceKey) bool) []Op {
	ops, _ := diff(newIndex(normalizedCopy(observed)), desired, owned)
	return ops
}

// normalizedCopy copies t with every service and destination normalised.
func normalizedCopy(t Table) Table {
	out := make(Table, len(t))
	for i := range t {
		out[i].Service = t[i].Service.Normalize()
		if len(t[i].Destinations) > 0 {
			out[i].Destinations = make([]Destination, len(t[i].Destinations))
			for j, d := range t[i].Destinations {
				out[i].Destinations[j] = d.Normalize()
			}
		}
	}
	return out
}

// index is an observed table, normalised, with its services findable by
// key.
type index struct {
	table Table
	pos   map[ServiceKey]int
}

// newIndex indexes t, which must be normalised and is kept, not copied.
func newIndex(t Table) *index {
	ix := &index{table: t, pos: make(map[ServiceKey]int, len(t))}
	for i := range t {
		ix.pos[t[i].ServiceKey] = i
	}
	return ix
}

const (
	unmatched = -1
	duplicate = -2
)

// diff is Diff on an index; clean reports that desired names no key twice.
func diff(ix *index, desired Table, owned func(ServiceKey) bool) (ops []Op, clean bool) {
	clean = true
	// match[i] is where desired[i] is in the observed table. One pass
	// finds them all, so removals can be listed first.
	match := make([]int, len(desired))
	seen := make([]bool, len(ix.table))
	var fresh map[ServiceKey]struct{} // desired keys not observed, made on the first
	for i := range desired {
		k := desired[i].ServiceKey.Normalize()
		if j, ok := ix.pos[k]; ok {
			if seen[j] {
				match[i], clean = duplicate, false
			} else {
				seen[j], match[i] = true, j
			}
			continue
		}
		if fresh == nil {
			fresh = make(map[ServiceKey]struct{})
		}
		if _, dup := fresh[k]; dup {
			match[i], clean = duplicate, false
			continue
		}
		fresh[k] = struct{}{}
		match[i] = unmatched
	}
	for j := range ix.table {
		if !seen[j] && (owned == nil || owned(ix.table[j].ServiceKey)) {
			ops = append(ops, Op{Kind: OpRemoveService, Service: ix.table[j].Service})
		}
	}
	for i := range desired {
		want := desired[i].Service.Normalize()
		switch match[i] {
		case duplicate:
			continue
		case unmatched:
			ops = append(ops, Op{Kind: OpCreateService, Service: want})
			ops = diffDests(ops, want, nil, desired[i].Destinations)
			continue
		}
		have := &ix.table[match[i]]
		if have.Service != want {
			ops = append(ops, Op{Kind: OpUpdateService, Service: want})
		}
		ops = diffDests(ops, want, have.Destinations, desired[i].Destinations)
	}
	return ops, clean
}

// smallDests is the size up to which destination lists are searched
// pair by pair rather than through a map: typical services have a handful.
const smallDests = 16

// diffDests appends the operations that turn service s's destinations
// from have (normalised) into want: creates and updates in want's order,
// then removals in have's.
func diffDests(ops []Op, s Service, have, want []Destination) []Op {
	if len(have) > smallDests || len(want) > smallDests {
		return diffManyDests(ops, s, have, want)
	}
	for i := range want {
		d := want[i].Normalize()
		if indexDest(want[:i], d.DestKey) >= 0 {
			continue // named before
		}
		switch j := indexDest(have, d.DestKey); {
		case j < 0:
			ops = append(ops, Op{Kind: OpCreateDestination, Service: s, Dest: d})
		case have[j] != d:
			ops = append(ops, Op{Kind: OpUpdateDestination, Service: s, Dest: d})
		}
	}
	for j := range have {
		if indexDest(want, have[j].DestKey) < 0 {
			ops = append(ops, Op{Kind: OpRemoveDestination, Service: s, Dest: have[j]})
		}
	}
	return ops
}

// indexDest returns the index of the first destination of ds with key k
// (normalised), or -1.
func indexDest(ds []Destination, k DestKey) int {
	for i := range ds {
		if ds[i].Port == k.Port && ds[i].Address.Unmap() == k.Address {
			return i
		}
	}
	return -1
}

// diffManyDests is diffDests through maps.
func diffManyDests(ops []Op, s Service, have, want []Destination) []Op {
	h := make(map[DestKey]int, len(have))
	for j := range have {
		h[have[j].DestKey] = j
	}
	w := make(map[DestKey]struct{}, len(want))
	for i := range want {
		d := want[i].Normalize()
		if _, dup := w[d.DestKey]; dup {
			continue
		}
		w[d.DestKey] = struct{}{}
		switch j, ok := h[d.DestKey]; {
		case !ok:
			ops = append(ops, Op{Kind: OpCreateDestination, Service: s, Dest: d})
		case have[j] != d:
			ops = append(ops, Op{Kind: OpUpdateDestination, Service: s, Dest: d})
		}
	}
	for j := range have {
		if _, ok := w[have[j].DestKey]; !ok {
			ops = append(ops, Op{Kind: OpRemoveDestination, Service: s, Dest: have[j]})
		}
	}
	return ops
}

func (k DestKey) normalize() DestKey { k.Address = k.Address.Unmap(); return k }
