package config

import (
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/droverha/drover/model"
)

// Config is the agent's configuration after layering and validation.
type Config struct {
	File      string // path of the config file used, "" if none
	Node      string
	Cluster   string
	DataDir   string
	Log       Log
	Bus       Bus
	Heartbeat Heartbeat
	Election  Election
	Events    Events
	VIPGroups []VIPGroup
	Fence     Fence
	// Services are the IPVS virtual services, with every default
	// filled in: a consumer need not know any.
	Services []model.VirtualService
	SNMP     SNMP
	CIM      CIM
}

// Log selects what the agent logs and how.
type Log struct {
	Level  string // debug, info, warn or error
	Format string // text or json
}

// Bus says where the NATS bus is: embedded (Listen, Cluster) or External.
type Bus struct {
	Listen   string // host:port of the embedded server's client listener
	Cluster  BusCluster
	External External
}

// BusCluster joins the embedded servers of several nodes into one NATS
// cluster.
type BusCluster struct {
	Listen    string // host:port for routes from the other peers
	Advertise string // host:port the other peers should dial, if not Listen
	Peers     []Peer // every voter, this node included
}

// Peer is one voting node; Route is normalised to nats-route://host:port.
type Peer struct {
	Name  string
	Route string
}

// External points the agent at a NATS deployment it does not run.
type External struct {
	URLs          []string
	Credentials   string // path of a .creds file
	TLS           TLS
	ExpectedNodes int // voting agents, for the quorum count
}

// TLS configures the client side of connections to an external bus.
type TLS struct {
	CA, Cert, Key      string // file paths
	ServerName         string
	InsecureSkipVerify bool
}

// Heartbeat sets how often nodes announce themselves and when silence
// makes a node suspect, then dead.
type Heartbeat struct {
	Interval     time.Duration
	SuspectAfter time.Duration
	DeadAfter    time.Duration
	UDP          UDPHeartbeat
}

// UDPHeartbeat sends heartbeats straight to named peers besides those on
// the bus, so that a director still hears the others when the bus does
// not carry them. Listen is empty when it is off.
type UDPHeartbeat struct {
	Listen string    // host:port (UDP)
	Peers  []UDPPeer // the other nodes, never this one
}

// UDPPeer is a node that heartbeats go to over UDP.
type UDPPeer struct {
	Name string
	Addr string // host:port
}

// Fence bounds how long a node that hears no other keeps its VIPs.
type Fence struct {
	// SelfFenceAfter is how long a node holding VIPs may be cut off
	// from the cluster before it releases them, so that it has let go
	// before the others declare it dead (heartbeat.dead_after) and take
	// them over.
	SelfFenceAfter time.Duration
}

// VIPGroup is a set of virtual addresses that move together between the
// candidate nodes, the way a keepalived VRRP instance does: the
// candidate with the highest priority among those alive holds them.
type VIPGroup struct {
	Name      string
	Interface string
	// Addresses keep their host bits: 192.0.2.100/24 is the address
	// 192.0.2.100, added with a /24.
	Addresses    []netip.Prefix
	Candidates   []Candidate
	Preempt      bool          // a higher-priority candidate that returns takes the group back
	PreemptDelay time.Duration // how long it waits before it does
	VirtualMACID int           // 1..255; 0 means the holder's own MAC answers for the VIPs
	GARP         GARP
}

// Candidate is a node that may hold a VIP group.
type Candidate struct {
	Node     string
	Priority int // 1..255, higher wins
}

// GARP says how a new holder announces a group's addresses: gratuitous ARP
// (RFC 5227) for IPv4, unsolicited neighbour advertisements (RFC 4861) for
// IPv6.
type GARP struct {
	Count       int           // announcements per burst
	Interval    time.Duration // between the announcements of a burst
	RepeatAfter time.Duration // a second burst this long after the first; 0 means none
	Refresh     time.Duration // re-announce this often while held; 0 means never
	Mode        string        // request, reply or both (ARP opcodes; IPv6 ignores it)
}

// VirtualMAC is the group's virtual router MAC, 00:00:5e:00:01:<id>
// (RFC 5798, section 7.3), or nil when the group has none. The IPv4 form
// serves the group's IPv6 addresses too: one group moves one MAC.
func (g VIPGroup) VirtualMAC() net.HardwareAddr {
	if g.VirtualMACID < 1 || g.VirtualMACID > 255 {
		return nil
	}
	return net.HardwareAddr{0x00, 0x00, 0x5e, 0x00, 0x01, byte(g.VirtualMACID)}
}

// Election sets the leader lease.
type Election struct {
	LeaseTTL time.Duration
}

// Events bounds the event stream's retention.
type Events struct {
	MaxAge   time.Duration
	MaxBytes int64
}

// Voters is the number of agents whose votes make a quorum.
func (c *Config) Voters() int {
	switch {
	case len(c.Bus.Cluster.Peers) > 0:
		return len(c.Bus.Cluster.Peers)
	case len(c.Bus.External.URLs) > 0:
		return c.Bus.External.ExpectedNodes
	default:
		return 1
	}
}

// ClientURL is what a NATS client on this node dials: the embedded server's
// listener (a wildcard listen address becomes loopback) or the external URLs
// joined by ",", as nats.Connect accepts them.
func (c *Config) ClientURL() string {
	if len(c.Bus.External.URLs) > 0 {
		return strings.Join(c.Bus.External.URLs, ",")
	}
	host, port, err := net.SplitHostPort(c.Bus.Listen)
	if err != nil {
		return "nats://" + c.Bus.Listen
	}
	if host == "" {
		host = "127.0.0.1"
	} else if ip, err := netip.ParseAddr(host); err == nil && ip.IsUnspecified() {
		host = "127.0.0.1"
		if ip.Is6() {
			host = "::1"
		}
	}
	return "nats://" + net.JoinHostPort(host, port)
}

// Defaults that do not depend on the host or on other values.
const (
	defaultFile          = "/etc/drover/drover.yaml"
	defaultCluster       = "drover"
	defaultBusListen     = "127.0.0.1:4222"
	defaultInterval      = 100 * time.Millisecond
	defaultDeadAfter     = 700 * time.Millisecond
	defaultSelfFence     = 400 * time.Millisecond
	defaultLeaseTTL      = 3 * time.Second
	defaultMaxAge        = 168 * time.Hour
	defaultMaxBytes      = int64(256 << 20)
	defaultExpectedNodes = 1
	suspectFactor        = 3 // suspect_after defaults to 3 times interval

	// A VIP group's keys.
	defaultPriority     = 100
	defaultGARPCount    = 3
	defaultGARPInterval = 100 * time.Millisecond
	defaultGARPRepeat   = 2 * time.Second
	defaultGARPMode     = "both"

	// A service's keys: ipvsadm's defaults where it has them (wlc,
	// -g), keepalived's for what a failed real server becomes.
	defaultProtocol  = "tcp"
	defaultFamily    = "inet"
	defaultScheduler = "wlc"
	defaultOnFailure = model.OnFailureRemove
	defaultWeight    = 1
	defaultForward   = model.ForwardDR

	// A check's keys.
	defaultCheckKind     = "tcp"
	defaultCheckInterval = 500 * time.Millisecond
	defaultCheckTimeout  = 500 * time.Millisecond // or the interval, if shorter
	defaultRise          = 2
	defaultFall          = 2
	defaultMethod        = "GET"
	defaultPath          = "/"
	defaultQueryType     = "A"
)

// setting is one configuration key: the field it decodes into (whose type
// says how to decode it), its flag, and its default. def is nil when there
// is none or when Load derives it (node, data_dir, suspect_after).
type setting struct {
	key   string
	flag  string
	def   any
	usage string
	field func(*Config) any
}

// env is the environment variable that sets the key, "" for the lists of
// mappings that have no text form and so are set in the file only.
func (s setting) env() string {
	switch s.field(&Config{}).(type) {
	case *[]UDPPeer, *[]VIPGroup, *[]model.VirtualService, *[]SNMPUser, *[]SNMPReceiver:
		return ""
	}
	return "DROVER_" + strings.ToUpper(strings.ReplaceAll(s.key, ".", "_"))
}

// settings is read-only. Its order is the order of docs/config.md.
var settings = []setting{
	{"node", "node", nil, "node `name` (default: the hostname's first label)",
		func(c *Config) any { return &c.Node }},
	{"cluster", "cluster", defaultCluster, "cluster `name` (default \"drover\")",
		func(c *Config) any { return &c.Cluster }},
	{"data_dir", "data-dir", nil, "state `directory` (default /var/lib/drover as root, else $XDG_STATE_HOME/drover)",
		func(c *Config) any { return &c.DataDir }},
	{"log.level", "log-level", "info", "log `level`: debug, info, warn or error (default info)",
		func(c *Config) any { return &c.Log.Level }},
	{"log.format", "log-format", "text", "log `format`: text or json (default text)",
		func(c *Config) any { return &c.Log.Format }},
	{"bus.listen", "bus-listen", defaultBusListen, "embedded NATS client listener `host:port` (default \"127.0.0.1:4222\")",
		func(c *Config) any { return &c.Bus.Listen }},
	{"bus.cluster.listen", "cluster-listen", nil, "embedded NATS route listener `host:port`",
		func(c *Config) any { return &c.Bus.Cluster.Listen }},
	{"bus.cluster.advertise", "", nil, "",
		func(c *Config) any { return &c.Bus.Cluster.Advertise }},
	{"bus.cluster.peers", "peer", nil, "voting peer as `name=host:port`, repeatable, this node included",
		func(c *Config) any { return &c.Bus.Cluster.Peers }},
	{"bus.external.urls", "bus-url", nil, "external NATS `url` (nats://, tls://, ws://, wss://), repeatable; no embedded server runs",
		func(c *Config) any { return &c.Bus.External.URLs }},
	{"bus.external.credentials", "bus-credentials", nil, "credentials `file` for the external NATS",
		func(c *Config) any { return &c.Bus.External.Credentials }},
	{"bus.external.tls.ca", "", nil, "",
		func(c *Config) any { return &c.Bus.External.TLS.CA }},
	{"bus.external.tls.cert", "", nil, "",
		func(c *Config) any { return &c.Bus.External.TLS.Cert }},
	{"bus.external.tls.key", "", nil, "",
		func(c *Config) any { return &c.Bus.External.TLS.Key }},
	{"bus.external.tls.server_name", "", nil, "",
		func(c *Config) any { return &c.Bus.External.TLS.ServerName }},
	{"bus.external.tls.insecure_skip_verify", "", false, "",
		func(c *Config) any { return &c.Bus.External.TLS.InsecureSkipVerify }},
	{"bus.external.expected_nodes", "", defaultExpectedNodes, "",
		func(c *Config) any { return &c.Bus.External.ExpectedNodes }},
	{"heartbeat.interval", "heartbeat-interval", defaultInterval, "heartbeat `interval`, 10ms..10s (default 100ms)",
		func(c *Config) any { return &c.Heartbeat.Interval }},
	{"heartbeat.suspect_after", "", nil, "",
		func(c *Config) any { return &c.Heartbeat.SuspectAfter }},
	{"heartbeat.dead_after", "dead-after", defaultDeadAfter, "declare a silent node dead after this `duration` (default 700ms)",
		func(c *Config) any { return &c.Heartbeat.DeadAfter }},
	{"heartbeat.udp.listen", "", nil, "",
		func(c *Config) any { return &c.Heartbeat.UDP.Listen }},
	{"heartbeat.udp.peers", "", nil, "",
		func(c *Config) any { return &c.Heartbeat.UDP.Peers }},
	{"election.lease_ttl", "lease-ttl", defaultLeaseTTL, "leader lease `ttl`, 500ms..1m (default 3s)",
		func(c *Config) any { return &c.Election.LeaseTTL }},
	{"events.max_age", "", defaultMaxAge, "",
		func(c *Config) any { return &c.Events.MaxAge }},
	{"events.max_bytes", "", defaultMaxBytes, "",
		func(c *Config) any { return &c.Events.MaxBytes }},
	{"self_fence_after", "self-fence-after", defaultSelfFence, "release held VIPs when cut off from the cluster for this `duration`, 20ms..1m (default 400ms)",
		func(c *Config) any { return &c.Fence.SelfFenceAfter }},
	{"vip_groups", "", nil, "",
		func(c *Config) any { return &c.VIPGroups }},
	{"services", "", nil, "",
		func(c *Config) any { return &c.Services }},
	{"snmp.agentx.enabled", "", false, "",
		func(c *Config) any { return &c.SNMP.AgentX.Enabled }},
	{"snmp.agentx.socket", "", defaultAgentXSocket, "",
		func(c *Config) any { return (*agentxSocket)(&c.SNMP.AgentX) }},
	{"snmp.standalone.listen", "", nil, "",
		func(c *Config) any { return &c.SNMP.Standalone.Listen }},
	{"snmp.standalone.communities", "", nil, "",
		func(c *Config) any { return &c.SNMP.Standalone.Communities }},
	{"snmp.standalone.users", "", nil, "",
		func(c *Config) any { return &c.SNMP.Standalone.Users }},
	{"snmp.receivers", "", nil, "",
		func(c *Config) any { return &c.SNMP.Receivers }},
	{"snmp.sys_name", "", nil, "",
		func(c *Config) any { return &c.SNMP.SysName }},
	{"snmp.sys_contact", "", nil, "",
		func(c *Config) any { return &c.SNMP.SysContact }},
	{"snmp.sys_location", "", nil, "",
		func(c *Config) any { return &c.SNMP.SysLocation }},
	{"cim.listen", "", nil, "",
		func(c *Config) any { return &c.CIM.Listen }},
	{"cim.tls.cert_file", "", nil, "",
		func(c *Config) any { return &c.CIM.TLS.CertFile }},
	{"cim.tls.key_file", "", nil, "",
		func(c *Config) any { return &c.CIM.TLS.KeyFile }},
	{"cim.tls.client_ca_file", "", nil, "",
		func(c *Config) any { return &c.CIM.TLS.ClientCAFile }},
	{"cim.allow_plain_http", "", false, "",
		func(c *Config) any { return &c.CIM.AllowPlainHTTP }},
	{"cim.users_file", "", nil, "",
		func(c *Config) any { return &c.CIM.UsersFile }},
	{"cim.audit_file", "", nil, "",
		func(c *Config) any { return &c.CIM.AuditFile }},
	{"cim.metrics_public", "", false, "",
		func(c *Config) any { return &c.CIM.MetricsPublic }},
}
