package model

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"net/netip"
	"strings"
	"time"
)

// VirtualService is a load-balanced service as configured: an address
// (VIP:port over a protocol) or a firewall mark, a scheduler, and the real
// servers it spreads connections over. It is the spec the manager turns,
// with health, into every director's IPVS table.
type VirtualService struct {
	Name     string
	Protocol string         // "tcp", "udp" or "sctp"; "" with FWMark
	Address  netip.AddrPort // zero with FWMark
	FWMark   uint32         // non-zero for a firewall-mark service
	Family   string         // "inet" or "inet6" (config fills it for address services too)

	Scheduler      string   // rr, wrr, lc, wlc, lblc, lblcr, dh, sh, sed, nq, mh, fo, ovf, twos
	SchedulerFlags []string // sh-port, sh-fallback, mh-port, mh-fallback

	// Persistence keeps a client on one real server for Timeout after its
	// last connection; Netmask groups clients (prefix length).
	Persistence *Persistence

	// OnFailure says what a failed real server becomes: OnFailureQuiescent
	// (weight 0, established connections drain) or OnFailureRemove.
	OnFailure string

	// Quorum is the least total weight of healthy real servers the service
	// needs; below it the sorry server (if any) takes the traffic. Zero
	// means any healthy server will do.
	Quorum     int
	Hysteresis int // the quorum is regained at Quorum+Hysteresis

	Sorry *RealServer // answers when nothing healthy remains; nil for none

	Check       Check // the default check of the real servers
	RealServers []RealServer
}

// OnFailure values.
const (
	OnFailureQuiescent = "quiescent"
	OnFailureRemove    = "remove"
)

// Persistence is IPVS persistence (ipvsadm -p and -M).
type Persistence struct {
	Timeout time.Duration
	Netmask int // prefix length: 1..32 for IPv4, 1..128 for IPv6
}

// RealServer is one destination of a virtual service.
type RealServer struct {
	Address netip.AddrPort
	Weight  int
	Forward string // "nat", "dr" or "tunnel"
	// Node is the agent that runs on the real server, if any; it reports
	// its own services' health over the bus.
	Node  string
	Check *Check // overrides the service's check; nil for the service's
}

// Administrative states of a real server, set by an operator (as ipvsadm
// users do by hand with weight 0 or -d; ldirectord and keepalived call the
// middle one quiescing).
const (
	AdminEnabled  = "enabled"  // in the table as its health says (the default)
	AdminQuiesced = "quiesced" // weight 0: no new connections, existing ones finish
	AdminDisabled = "disabled" // out of the directors' tables
)

// ValidAdmin reports whether s is an administrative state.
func ValidAdmin(s string) bool {
	return s == AdminEnabled || s == AdminQuiesced || s == AdminDisabled
}

// Forwarding methods.
const (
	ForwardNAT    = "nat"
	ForwardDR     = "dr"
	ForwardTunnel = "tunnel"
)

// Check says how a real server is probed. Kind picks the probe; the other
// fields apply to the kinds that name them.
type Check struct {
	Kind     string // tcp, http, https, smtp, ftp, imap, pop3, ldap, nntp, dns, exec, none
	Port     uint16 // probe this port instead of the real server's
	Interval time.Duration
	Timeout  time.Duration
	Rise     int // consecutive successes to become healthy
	Fall     int // consecutive failures to become unhealthy

	// http, https
	Method        string
	Path          string
	Host          string // Host header
	Status        []int  // accepted status codes; empty: 200..399
	BodyRegex     string
	SNI           string
	TLSSkipVerify bool
	CAFile        string

	// dns
	QueryName string
	QueryType string // A, AAAA, MX, TXT, NS, CNAME, SOA, PTR, SRV
	Expect    string // an answer that must be present; "" for any answer

	// exec: argv; the real server's address and port are in the
	// environment as DROVER_RS_ADDR and DROVER_RS_PORT.
	Command []string
}

// ServiceView is a virtual service as the cluster view shows it: the
// manager's decision (weights from health) and the directors' counters.
type ServiceView struct {
	Name        string            `json:"name"`
	Key         string            `json:"key"` // as ipvsadm prints it: "TCP 192.0.2.10:80", "FWM 5"
	Scheduler   string            `json:"scheduler"`
	Flags       []string          `json:"flags,omitempty"`
	Persistence string            `json:"persistence,omitempty"` // "300s/24"
	Quorum      QuorumView        `json:"quorum"`
	SorryActive bool              `json:"sorry_active,omitempty"`
	Reason      string            `json:"reason"`
	Since       time.Time         `json:"since"`
	Epoch       uint64            `json:"epoch"`
	RealServers []RealServerView  `json:"real_servers"`
	Directors   []DirectorCounter `json:"directors,omitempty"`
}

// QuorumView is a service's quorum: the healthy weight against what it needs.
type QuorumView struct {
	Have          bool `json:"have"`
	HealthyWeight int  `json:"healthy_weight"`
	Needed        int  `json:"needed"`
	RegainAt      int  `json:"regain_at"`
}

// RealServerView is one real server of a service in the cluster view.
type RealServerView struct {
	Address string `json:"address"`
	Forward string `json:"forward"`
	Weight  int    `json:"weight"` // configured
	// Node is the agent that runs on the real server and reports its own
	// health; empty for none.
	Node string `json:"node,omitempty"`
	// Applied is the weight in the directors' tables; -1 when the real
	// server is out of the table (down, on_failure: remove).
	Applied int  `json:"applied"`
	Healthy bool `json:"healthy"`
	Known   bool `json:"known"` // some probe has decided; false until then
	Sorry   bool `json:"sorry,omitempty"`
	// Admin is the operator's administrative state as the manager applies
	// it: AdminQuiesced or AdminDisabled; empty when enabled.
	Admin  string    `json:"admin,omitempty"`
	Reason string    `json:"reason"`
	Since  time.Time `json:"since"`
	// Probes are the fresh check results the decision was made from.
	Probes []ProbeView `json:"probes,omitempty"`
}

// ProbeView is one node's latest check of a real server.
type ProbeView struct {
	Node    string    `json:"node"`
	Self    bool      `json:"self,omitempty"` // the real server's own agent
	Healthy bool      `json:"healthy"`
	Known   bool      `json:"known"`
	Reason  string    `json:"reason"`
	Since   time.Time `json:"since"`
}

// DirectorCounter is one director's IPVS counters for a service.
type DirectorCounter struct {
	Node  string    `json:"node"`
	At    time.Time `json:"at"`
	Stats Counters  `json:"stats"`
	// Dests are per real server: active and inactive connections and
	// counters, keyed by address.
	Dests []DestCounter `json:"dests,omitempty"`
}

// DestCounter is one real server's counters on one director.
type DestCounter struct {
	Address  string   `json:"address"`
	Weight   int      `json:"weight"` // in the director's kernel table
	Active   uint32   `json:"active"`
	Inactive uint32   `json:"inactive"`
	Stats    Counters `json:"stats"`
}

// Counters are IPVS totals and rates (per second).
type Counters struct {
	Connections uint64 `json:"connections"`
	PacketsIn   uint64 `json:"packets_in"`
	PacketsOut  uint64 `json:"packets_out"`
	BytesIn     uint64 `json:"bytes_in"`
	BytesOut    uint64 `json:"bytes_out"`
	CPS         uint64 `json:"cps"`
	PPSIn       uint64 `json:"pps_in"`
	PPSOut      uint64 `json:"pps_out"`
	BPSIn       uint64 `json:"bps_in"`
	BPSOut      uint64 `json:"bps_out"`
}

// Key renders the service's identity as ipvsadm does.
func (s VirtualService) Key() string {
	if s.FWMark != 0 {
		return fmt.Sprintf("FWM %d", s.FWMark)
	}
	return strings.ToUpper(s.Protocol) + " " + s.Address.String()
}

// IsIPv6 is whether the service is an IPv6 one.
func (s VirtualService) IsIPv6() bool {
	if s.FWMark != 0 {
		return s.Family == "inet6"
	}
	return s.Address.Addr().Is6() && !s.Address.Addr().Is4In6()
}

// Target is the address a check of r probes: its own, or Check.Port.
func (c Check) Target(r netip.AddrPort) netip.AddrPort {
	if c.Port != 0 {
		return netip.AddrPortFrom(r.Addr(), c.Port)
	}
	return r
}

// ID names the probe of c against target on the bus: every node derives
// the same ID from the same configuration, and two services that check one
// real server the same way share it (and the probe).
func (c Check) ID(target netip.AddrPort) string {
	b, _ := json.Marshal(c)
	h := sha256.Sum256(b)
	return fmt.Sprintf("%s/%s/%x", target, c.Kind, h[:6])
}

// EffectiveCheck is r's check: its own, or the service's.
func (s VirtualService) EffectiveCheck(r RealServer) Check {
	if r.Check != nil {
		return *r.Check
	}
	return s.Check
}
