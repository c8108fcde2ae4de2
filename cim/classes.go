package cim

import "strings"

// The class model: CIM schema 2.49 classes (only the properties Drover
// fills, with their CIM names, types, keys and value maps) and the DRV_
// classes derived from them. Every class lists its inherited properties
// too, in the order of the chain (CIM_ManagedElement first), so an
// instance carries every declared property of its class.

// Classes returns every class of the model, superclasses first. The slice
// is new on every call.
func Classes() []Class {
	return append([]Class(nil), classList...)
}

// Value maps, shared by the declarations and Build.

// OperationalStatus (CIM_ManagedSystemElement).
const (
	OpUnknown           uint16 = 0
	OpOK                uint16 = 2
	OpDegraded          uint16 = 3
	OpError             uint16 = 6
	OpStopped           uint16 = 10
	OpNoContact         uint16 = 12
	OpLostCommunication uint16 = 13
	OpDormant           uint16 = 15
)

var opStatusMap = valueMapOf(
	"0", "Unknown", "1", "Other", "2", "OK", "3", "Degraded", "4", "Stressed", "5", "Predictive Failure",
	"6", "Error", "7", "Non-Recoverable Error", "8", "Starting", "9", "Stopping", "10", "Stopped",
	"11", "In Service", "12", "No Contact", "13", "Lost Communication", "14", "Aborted", "15", "Dormant",
	"16", "Supporting Entity in Error", "17", "Completed", "18", "Power Mode", "19", "Relocating")

// HealthState (CIM_ManagedSystemElement).
const (
	HealthUnknown  uint16 = 0
	HealthOK       uint16 = 5
	HealthDegraded uint16 = 10
	HealthMajor    uint16 = 20
	HealthCritical uint16 = 25
)

var healthMap = valueMapOf("0", "Unknown", "5", "OK", "10", "Degraded/Warning", "15", "Minor failure",
	"20", "Major failure", "25", "Critical failure", "30", "Non-recoverable error")

// CommunicationStatus (CIM_ManagedSystemElement).
const (
	CommUnknown uint16 = 0
	CommOK      uint16 = 2
	CommLost    uint16 = 3
	CommNone    uint16 = 4
)

var commMap = valueMapOf("0", "Unknown", "1", "Not Available", "2", "Communication OK", "3", "Lost Communication", "4", "No Contact")

// EnabledState (CIM_EnabledLogicalElement).
const (
	EnabledUnknown       uint16 = 0
	Enabled              uint16 = 2
	Disabled             uint16 = 3
	EnabledNotApplicable uint16 = 5
	EnabledButOffline    uint16 = 6
	EnabledQuiesce       uint16 = 9
)

var enabledStateMap = valueMapOf("0", "Unknown", "1", "Other", "2", "Enabled", "3", "Disabled", "4", "Shutting Down",
	"5", "Not Applicable", "6", "Enabled but Offline", "7", "In Test", "8", "Deferred", "9", "Quiesce", "10", "Starting")

// RequestedState (CIM_EnabledLogicalElement) and RequestStateChange's
// RequestedState parameter.
const (
	ReqEnabled       uint16 = 2
	ReqDisabled      uint16 = 3
	ReqShutDown      uint16 = 4
	ReqNoChange      uint16 = 5
	ReqOffline       uint16 = 6
	ReqTest          uint16 = 7
	ReqDeferred      uint16 = 8
	ReqQuiesce       uint16 = 9
	ReqReboot        uint16 = 10
	ReqReset         uint16 = 11
	ReqNotApplicable uint16 = 12
)

var requestedStateMap = valueMapOf("0", "Unknown", "2", "Enabled", "3", "Disabled", "4", "Shut Down", "5", "No Change",
	"6", "Offline", "7", "Test", "8", "Deferred", "9", "Quiesce", "10", "Reboot", "11", "Reset", "12", "Not Applicable")

// RedundancyStatus (CIM_RedundancySet).
const (
	RedundancyUnknown  uint16 = 0
	RedundancyFull     uint16 = 2
	RedundancyDegraded uint16 = 3
	RedundancyLost     uint16 = 4
	RedundancyFailure  uint16 = 5
)

var redundancyStatusMap = valueMapOf("0", "Unknown", "1", "DMTF Reserved", "2", "Fully Redundant", "3", "Degraded Redundancy",
	"4", "Redundancy Lost", "5", "Overall Failure")

// TypeOfSet (CIM_RedundancySet).
const (
	SetLoadBalanced uint16 = 3
	SetSparing      uint16 = 4
)

var typeOfSetMap = valueMapOf("0", "Unknown", "1", "Other", "2", "N+1", "3", "Load Balanced", "4", "Sparing", "5", "Limited Sparing")

// LoadBalanceAlgorithm (CIM_RedundancySet).
const (
	LBOther      uint16 = 1
	LBNone       uint16 = 2
	LBRoundRobin uint16 = 3
)

var lbAlgorithmMap = valueMapOf("0", "Unknown", "1", "Other", "2", "No Load Balancing", "3", "Round Robin", "4", "Least Blocks",
	"5", "Least Common Media", "6", "Address Region", "7", "Product Specific")

var clusterTypesMap = valueMapOf("0", "Unknown", "1", "Other", "2", "Failover", "3", "Performance", "4", "Distributed OS",
	"5", "Node Grouping", "6", "Load Balancing")

var clusterStateMap = valueMapOf("0", "Unknown", "1", "Other", "2", "On-line", "3", "Degraded", "4", "Off-line")

// ProtocolIFType (CIM_ProtocolEndpoint): IPv4 and IPv6.
const (
	IFTypeIPv4 uint16 = 4096
	IFTypeIPv6 uint16 = 4097
)

var protocolIFTypeMap = valueMapOf("1", "Other", "4096", "IPv4", "4097", "IPv6", "4098", "IPv4/v6")

var addressOriginMap = valueMapOf("0", "Unknown", "1", "Other", "2", "Not Applicable", "3", "Static", "4", "DHCP", "5", "BOOTP",
	"6", "IPv4 Link Local", "7", "DHCPv6", "8", "IPv6AutoConfig", "9", "Stateless", "10", "Link Local")

// InfoFormat (CIM_RemoteServiceAccessPoint).
const (
	InfoIPv4 uint16 = 3
	InfoIPv6 uint16 = 4
)

var infoFormatMap = valueMapOf("1", "Other", "2", "Host Name", "3", "IPv4 Address", "4", "IPv6 Address", "200", "URL", "201", "FQDN")

var accessContextMap = valueMapOf("0", "Unknown", "1", "Other", "2", "Default Gateway", "3", "DNS Server",
	"4", "SNMP Trap Destination", "5", "MPLS Tunnel Destination", "6", "DHCP Server", "7", "SMTP Server",
	"8", "LDAP Server", "9", "Network Time Protocol (NTP) Server", "10", "Management Service")

// Return codes of RequestStateChange (CIM_EnabledLogicalElement, DSP1054).
const (
	RSCCompleted          uint32 = 0
	RSCNotSupported       uint32 = 1
	RSCUnknownError       uint32 = 2
	RSCTimeout            uint32 = 3
	RSCFailed             uint32 = 4
	RSCInvalidParameter   uint32 = 5
	RSCInUse              uint32 = 6
	RSCJobStarted         uint32 = 4096
	RSCInvalidTransition  uint32 = 4097
	RSCTimeoutUnsupported uint32 = 4098
	RSCBusy               uint32 = 4099
)

// Return codes of Failover (CIM_RedundancySet).
const (
	FailoverCompleted    uint32 = 0
	FailoverNotSupported uint32 = 1
	FailoverUnknownError uint32 = 2
	FailoverBusy         uint32 = 3
	FailoverParamError   uint32 = 4
)

type valueMap struct{ codes, names []string }

func valueMapOf(pairs ...string) valueMap {
	var m valueMap
	for i := 0; i+1 < len(pairs); i += 2 {
		m.codes = append(m.codes, pairs[i])
		m.names = append(m.names, pairs[i+1])
	}
	return m
}

func plainProp(name, typ, desc string) PropertyDecl {
	return PropertyDecl{Name: name, Type: typ, Description: desc}
}

func keyProp(name, typ, desc string) PropertyDecl {
	return PropertyDecl{Name: name, Type: typ, Key: true, Description: desc}
}

func arrayProp(name, typ, desc string) PropertyDecl {
	return PropertyDecl{Name: name, Type: typ, Array: true, Description: desc}
}

func enumProp(p PropertyDecl, m valueMap) PropertyDecl {
	p.ValueMap, p.Values = m.codes, m.names
	return p
}

func refProp(name, class, desc string) PropertyDecl {
	return PropertyDecl{Name: name, Type: TypeRef, Key: true, RefClass: class, Description: desc}
}

func concat(lists ...[]PropertyDecl) []PropertyDecl {
	var out []PropertyDecl
	for _, l := range lists {
		out = append(out, l...)
	}
	return out
}

// Property lists of each level of the CIM chains.
var (
	managedElementProps = []PropertyDecl{
		plainProp("Caption", TypeString, "A short textual description of the object."),
		plainProp("Description", TypeString, "A textual description of the object."),
		plainProp("ElementName", TypeString, "A user-friendly name for the object."),
	}
	managedSystemElementProps = []PropertyDecl{
		enumProp(arrayProp("OperationalStatus", TypeUint16, "The current statuses of the element."), opStatusMap),
		arrayProp("StatusDescriptions", TypeString, "Strings describing the values of OperationalStatus (Drover: the reason)."),
		enumProp(plainProp("HealthState", TypeUint16, "The current health of the element."), healthMap),
		enumProp(plainProp("CommunicationStatus", TypeUint16, "The ability to communicate with the element."), commMap),
	}
	enabledLogicalElementProps = []PropertyDecl{
		enumProp(plainProp("EnabledState", TypeUint16, "The enabled and disabled states of the element."), enabledStateMap),
		enumProp(plainProp("RequestedState", TypeUint16, "The last requested or desired state for the element."), requestedStateMap),
		plainProp("TimeOfLastStateChange", TypeDatetime, "When EnabledState last changed."),
	}
	systemKeys = []PropertyDecl{
		keyProp("CreationClassName", TypeString, "The name of the concrete class of the instance."),
		keyProp("Name", TypeString, "The name of the system (Drover: the cluster or node name)."),
		plainProp("NameFormat", TypeString, "How Name is generated."),
	}
	// scopedKeys are the weak keys of CIM_Service and CIM_ServiceAccessPoint:
	// scoped by the hosting system (Drover: the DRV_Cluster).
	scopedKeys = []PropertyDecl{
		keyProp("SystemCreationClassName", TypeString, "The CreationClassName of the scoping system (DRV_Cluster)."),
		keyProp("SystemName", TypeString, "The Name of the scoping system (the cluster)."),
		keyProp("CreationClassName", TypeString, "The name of the concrete class of the instance."),
		keyProp("Name", TypeString, "The name of the element, unique within its system and class."),
	}
	instanceIDKey = []PropertyDecl{
		keyProp("InstanceID", TypeString, `Opaque, unique within the namespace: "Drover:<cluster>:<kind>:<name>".`),
	}
	clusterProps = []PropertyDecl{
		plainProp("Interconnect", TypeString, "The interconnect of the cluster (Drover: NATS)."),
		plainProp("InterconnectAddress", TypeString, "The address of the interconnect (Drover: the cluster name on the bus)."),
		enumProp(arrayProp("Types", TypeUint16, "The kinds of cluster."), clusterTypesMap),
		plainProp("MaxNumberOfNodes", TypeUint32, "The most nodes the cluster supports; 0 for no limit."),
		enumProp(plainProp("ClusterState", TypeUint16, "The state of the cluster."), clusterStateMap),
	}
	protocolEndpointProps = []PropertyDecl{
		plainProp("NameFormat", TypeString, "How Name is generated."),
		enumProp(plainProp("ProtocolIFType", TypeUint16, "The type of the endpoint (IANA ifType extended)."), protocolIFTypeMap),
	}
	ipEndpointProps = []PropertyDecl{
		plainProp("IPv4Address", TypeString, "The IPv4 address; NULL for an IPv6 endpoint."),
		plainProp("IPv6Address", TypeString, "The IPv6 address; NULL for an IPv4 endpoint."),
		plainProp("SubnetMask", TypeString, "The IPv4 subnet mask; NULL for IPv6."),
		enumProp(plainProp("AddressOrigin", TypeUint16, "How the address was assigned."), addressOriginMap),
	}
	remoteSAPProps = []PropertyDecl{
		plainProp("AccessInfo", TypeString, "The address of the remote access point (the real server's IP address)."),
		enumProp(plainProp("InfoFormat", TypeUint16, "The format of AccessInfo."), infoFormatMap),
		enumProp(plainProp("AccessContext", TypeUint16, "What the remote access point is for."), accessContextMap),
		plainProp("OtherAccessContext", TypeString, "What it is for when AccessContext is 1 (Other)."),
	}
	redundancySetProps = []PropertyDecl{
		enumProp(plainProp("RedundancyStatus", TypeUint16, "The redundancy of the set now."), redundancyStatusMap),
		enumProp(arrayProp("TypeOfSet", TypeUint16, "The kind of redundancy."), typeOfSetMap),
		plainProp("MinNumberNeeded", TypeUint32, "The fewest members that must be working; 0 for no minimum."),
		plainProp("MaxNumberSupported", TypeUint32, "The most members the set supports; 0 for no limit."),
		enumProp(plainProp("LoadBalanceAlgorithm", TypeUint16, "How load is spread over the members."), lbAlgorithmMap),
		plainProp("OtherLoadBalanceAlgorithm", TypeString, "The algorithm when LoadBalanceAlgorithm is 1 (Other)."),
	}
	statisticalDataProps = []PropertyDecl{
		plainProp("StartStatisticTime", TypeDatetime, "When the counters started (NULL: unknown, e.g. at the director's boot)."),
		plainProp("StatisticTime", TypeDatetime, "When the counters were last taken."),
	}
)

// counterProps are IPVS counters (totals are Counter64-like: they only
// grow until a director restarts; rates are per second).
var counterProps = []PropertyDecl{
	plainProp("Connections", TypeUint64, "Connections scheduled (total)."),
	plainProp("PacketsIn", TypeUint64, "Packets received (total)."),
	plainProp("PacketsOut", TypeUint64, "Packets sent (total)."),
	plainProp("BytesIn", TypeUint64, "Bytes received (total)."),
	plainProp("BytesOut", TypeUint64, "Bytes sent (total)."),
	plainProp("ConnectionsPerSecond", TypeUint64, "Connection rate."),
	plainProp("PacketsInPerSecond", TypeUint64, "Incoming packet rate."),
	plainProp("PacketsOutPerSecond", TypeUint64, "Outgoing packet rate."),
	plainProp("BytesInPerSecond", TypeUint64, "Incoming byte rate."),
	plainProp("BytesOutPerSecond", TypeUint64, "Outgoing byte rate."),
}

// Method declarations.
var (
	requestStateChange = MethodDecl{
		Name: "RequestStateChange",
		Description: "Requests a change of EnabledState. DRV_Node: 2 (Enabled) undrains, 6 (Offline) and 9 (Quiesce) drain; " +
			"the change is recorded in the cluster and happens asynchronously (4096). DRV_RealServer: not supported (1).",
		Params: []ParamDecl{
			{Name: "RequestedState", Type: TypeUint16, In: true},
			{Name: "Job", Type: TypeRef, Out: true, RefClass: "CIM_ConcreteJob"},
			{Name: "TimeoutPeriod", Type: TypeDatetime, In: true},
		},
		Role: "operator",
	}
	failover = MethodDecl{
		Name: "Failover",
		Description: "Moves the VIP group to FailoverTo (a DRV_Node reference; default the best other alive candidate). " +
			"Returns 0 once the move is recorded; it happens asynchronously (vip.moved event, DRV_VIP.Owner).",
		Params: []ParamDecl{
			{Name: "FailoverFrom", Type: TypeRef, In: true, RefClass: "CIM_ManagedElement"},
			{Name: "FailoverTo", Type: TypeRef, In: true, RefClass: "CIM_ManagedElement"},
		},
		Role: "operator",
	}
)

func assocClass(name, super, desc string, refs ...PropertyDecl) Class {
	return Class{Name: name, Super: super, Description: desc, Association: true, Properties: refs}
}

var classList = []Class{
	{Name: "CIM_ManagedElement", Description: "The root of the CIM class hierarchy.", Properties: managedElementProps},
	{Name: "CIM_ManagedSystemElement", Super: "CIM_ManagedElement", Description: "A system component with a status.",
		Properties: concat(managedElementProps, managedSystemElementProps)},
	{Name: "CIM_LogicalElement", Super: "CIM_ManagedSystemElement", Description: "A logical (not physical) element.",
		Properties: concat(managedElementProps, managedSystemElementProps)},
	{Name: "CIM_EnabledLogicalElement", Super: "CIM_LogicalElement", Description: "A logical element that can be enabled and disabled.",
		Properties: concat(managedElementProps, managedSystemElementProps, enabledLogicalElementProps)},
	{Name: "CIM_System", Super: "CIM_EnabledLogicalElement", Description: "An aggregation of elements that functions as a whole.",
		Properties: concat(managedElementProps, managedSystemElementProps, enabledLogicalElementProps, systemKeys)},
	{Name: "CIM_ComputerSystem", Super: "CIM_System", Description: "A computer system.",
		Properties: concat(managedElementProps, managedSystemElementProps, enabledLogicalElementProps, systemKeys)},
	{Name: "CIM_Cluster", Super: "CIM_ComputerSystem", Description: "A computer system made of other computer systems.",
		Properties: concat(managedElementProps, managedSystemElementProps, enabledLogicalElementProps, systemKeys, clusterProps)},
	{Name: "CIM_Service", Super: "CIM_EnabledLogicalElement", Description: "Functionality a system provides.",
		Properties: concat(managedElementProps, managedSystemElementProps, enabledLogicalElementProps, scopedKeys,
			[]PropertyDecl{plainProp("Started", TypeBoolean, "Whether the service has been started.")})},
	{Name: "CIM_ClusteringService", Super: "CIM_Service", Description: "The service that makes a set of systems a cluster.",
		Properties: concat(managedElementProps, managedSystemElementProps, enabledLogicalElementProps, scopedKeys,
			[]PropertyDecl{plainProp("Started", TypeBoolean, "Whether the service has been started.")})},
	{Name: "CIM_ServiceAccessPoint", Super: "CIM_EnabledLogicalElement", Description: "A way to reach a service.",
		Properties: concat(managedElementProps, managedSystemElementProps, enabledLogicalElementProps, scopedKeys)},
	{Name: "CIM_ProtocolEndpoint", Super: "CIM_ServiceAccessPoint", Description: "A communication endpoint.",
		Properties: concat(managedElementProps, managedSystemElementProps, enabledLogicalElementProps, scopedKeys,
			protocolEndpointProps)},
	{Name: "CIM_IPProtocolEndpoint", Super: "CIM_ProtocolEndpoint", Description: "An IP address endpoint.",
		Properties: concat(managedElementProps, managedSystemElementProps, enabledLogicalElementProps, scopedKeys,
			protocolEndpointProps, ipEndpointProps)},
	{Name: "CIM_RemoteServiceAccessPoint", Super: "CIM_ServiceAccessPoint", Description: "An access point on another system.",
		Properties: concat(managedElementProps, managedSystemElementProps, enabledLogicalElementProps, scopedKeys, remoteSAPProps)},
	{Name: "CIM_Collection", Super: "CIM_ManagedElement", Description: "A collection of elements.",
		Properties: managedElementProps},
	{Name: "CIM_SystemSpecificCollection", Super: "CIM_Collection", Description: "A collection scoped by one system.",
		Properties: concat(instanceIDKey, managedElementProps)},
	{Name: "CIM_RedundancySet", Super: "CIM_SystemSpecificCollection", Description: "A set of redundant elements.",
		Properties: concat(instanceIDKey, managedElementProps, redundancySetProps)},
	{Name: "CIM_StatisticalData", Super: "CIM_ManagedElement", Description: "Statistics of an element.",
		Properties: concat(instanceIDKey, managedElementProps, statisticalDataProps)},

	// DRV_ classes.
	{Name: "DRV_Cluster", Super: "CIM_Cluster", Description: "The Drover cluster: one instance, named after the cluster.",
		Properties: concat(managedElementProps, managedSystemElementProps, enabledLogicalElementProps, systemKeys, clusterProps, []PropertyDecl{
			plainProp("Observer", TypeString, "The node whose view this is (the agent that answered)."),
			plainProp("ViewTime", TypeDatetime, "When the view was taken."),
			plainProp("ManagerNode", TypeString, "The elected manager; NULL when none or the observer has no quorum."),
			plainProp("Epoch", TypeUint64, "The manager's fencing token (the revision of its election lease); 0 when none."),
			plainProp("HasQuorum", TypeBoolean, "Whether the observer sees a majority of the voters."),
			plainProp("VotersPresent", TypeUint32, "Voters alive or suspect, the observer included."),
			plainProp("Voters", TypeUint32, "The number of voters."),
			plainProp("VotersNeeded", TypeUint32, "The majority."),
			plainProp("DroppedMessages", TypeUint64, "Bus messages the observer received and dropped (malformed, unknown version, stale, late)."),
		})},
	{Name: "DRV_Node", Super: "CIM_ComputerSystem", Description: "A host running the Drover agent: a director, a real server or a witness.",
		Properties: concat(managedElementProps, managedSystemElementProps, enabledLogicalElementProps, systemKeys, []PropertyDecl{
			plainProp("NodeState", TypeString, "The membership state: alive, suspect, dead, left or unknown."),
			plainProp("IsManager", TypeBoolean, "Whether the node is the elected manager."),
			plainProp("Drained", TypeBoolean, "Whether an operator drained the node: it is given no VIP groups."),
			plainProp("Quorum", TypeBoolean, "What the node last said about its own quorum."),
			plainProp("LastHeartbeat", TypeDatetime, "When the observer last heard from the node; NULL if never."),
			plainProp("HeartbeatAgeMS", TypeSint64, "Milliseconds since the last heartbeat; -1 if never."),
			plainProp("UDPHeard", TypeBoolean, "Whether some node hears its direct UDP heartbeats."),
			plainProp("BusIsolated", TypeBoolean, "Silent on the bus but heard over UDP: not dead."),
			arrayProp("HeldVIPGroups", TypeString, "The VIP groups the node says it holds."),
			plainProp("Boot", TypeString, "The agent's incarnation: changes on every start."),
			plainProp("AgentVersion", TypeString, "The agent's version."),
		}), Methods: []MethodDecl{requestStateChange}},
	{Name: "DRV_ClusteringService", Super: "CIM_ClusteringService", Description: "Drover's membership, election and placement service of the cluster.",
		Properties: concat(managedElementProps, managedSystemElementProps, enabledLogicalElementProps, scopedKeys, []PropertyDecl{
			plainProp("Started", TypeBoolean, "Whether the service has been started."),
			plainProp("ManagerNode", TypeString, "The elected manager; NULL when none."),
			plainProp("Epoch", TypeUint64, "The manager's fencing token; 0 when none."),
		})},
	{Name: "DRV_VIP", Super: "CIM_IPProtocolEndpoint", Description: "One virtual IP address of a VIP group.",
		Properties: concat(managedElementProps, managedSystemElementProps, enabledLogicalElementProps, scopedKeys,
			protocolEndpointProps, ipEndpointProps, []PropertyDecl{
				plainProp("Prefix", TypeString, "The address with its prefix length, as configured (192.0.2.10/24)."),
				plainProp("VIPGroup", TypeString, "The VIP group the address moves with."),
				plainProp("VirtualMAC", TypeString, "The group's virtual MAC address; NULL without MAC takeover."),
				plainProp("Owner", TypeString, "The node the manager gave the group to; NULL for none."),
				plainProp("PreviousOwner", TypeString, "The previous owner during a graceful handover; NULL otherwise."),
				arrayProp("HeldBy", TypeString, "The nodes that report holding the group (two only during a handover)."),
			})},
	{Name: "DRV_VIPRedundancySet", Super: "CIM_RedundancySet", Description: "A VIP group: its candidate nodes (members), one active, the others spares. Failover moves the group.",
		Properties: concat(instanceIDKey, managedElementProps, redundancySetProps, []PropertyDecl{
			plainProp("VIPGroup", TypeString, "The VIP group's name."),
			plainProp("Owner", TypeString, "The node the manager gave the group to; NULL for none."),
			plainProp("PreviousOwner", TypeString, "The previous owner during a graceful handover; NULL otherwise."),
			arrayProp("HeldBy", TypeString, "The nodes that report holding the group."),
			arrayProp("Candidates", TypeString, "The candidate nodes, best first."),
			plainProp("Reason", TypeString, "Why the group is where it is."),
			plainProp("Since", TypeDatetime, "When the owner last changed."),
			plainProp("Epoch", TypeUint64, "The epoch of the manager that decided."),
		}), Methods: []MethodDecl{failover}},
	{Name: "DRV_VirtualService", Super: "CIM_Service", Description: "A load-balanced virtual service (an IPVS virtual server).",
		Properties: concat(managedElementProps, managedSystemElementProps, enabledLogicalElementProps, scopedKeys, []PropertyDecl{
			plainProp("Started", TypeBoolean, "Whether the service has been started."),
			plainProp("ServiceKey", TypeString, `The service as ipvsadm prints it: "TCP 192.0.2.10:80", "FWM 5".`),
			plainProp("Protocol", TypeString, "tcp, udp, sctp; NULL for a firewall-mark service."),
			plainProp("Address", TypeString, "The virtual address and port; NULL for a firewall-mark service."),
			plainProp("FirewallMark", TypeUint32, "The firewall mark; NULL for an address service."),
			plainProp("Scheduler", TypeString, "The IPVS scheduler (rr, wrr, lc, wlc, sh, mh, ...)."),
			arrayProp("SchedulerFlags", TypeString, "Scheduler flags (sh-port, mh-fallback, ...)."),
			plainProp("Persistence", TypeString, `Persistence timeout and netmask ("5m0s/24"); NULL for none.`),
			plainProp("HasQuorum", TypeBoolean, "Whether the healthy weight reaches the service's quorum."),
			plainProp("HealthyWeight", TypeUint32, "The total weight of the healthy real servers."),
			plainProp("QuorumWeight", TypeUint32, "The healthy weight the service needs."),
			plainProp("RegainWeight", TypeUint32, "The healthy weight at which a lost quorum is regained."),
			plainProp("SorryActive", TypeBoolean, "Whether the sorry server takes the traffic."),
			plainProp("Epoch", TypeUint64, "The epoch of the manager that decided the weights."),
		})},
	{Name: "DRV_RealServerPool", Super: "CIM_RedundancySet", Description: "The real servers of one virtual service: a load-balanced set.",
		Properties: concat(instanceIDKey, managedElementProps, redundancySetProps, []PropertyDecl{
			plainProp("VirtualService", TypeString, "The virtual service's name."),
			plainProp("HealthyMembers", TypeUint32, "Real servers judged healthy (the sorry server not counted)."),
			plainProp("Members", TypeUint32, "Real servers (the sorry server not counted)."),
		})},
	{Name: "DRV_RealServer", Super: "CIM_RemoteServiceAccessPoint", Description: "One real server (destination) of a virtual service.",
		Properties: concat(managedElementProps, managedSystemElementProps, enabledLogicalElementProps, scopedKeys, remoteSAPProps, []PropertyDecl{
			plainProp("VirtualService", TypeString, "The virtual service's name."),
			plainProp("Address", TypeString, "The real server's address and port, as configured."),
			plainProp("Port", TypeUint16, "The real server's port (0 for a firewall-mark service's any port)."),
			plainProp("Forward", TypeString, "The forwarding method: nat, dr or tunnel."),
			plainProp("Weight", TypeUint32, "The configured weight."),
			plainProp("AppliedWeight", TypeSint64, "The weight in the directors' tables; -1 when out of the table."),
			plainProp("Healthy", TypeBoolean, "Whether the real server is judged healthy."),
			plainProp("Known", TypeBoolean, "Whether some probe has decided yet."),
			plainProp("Sorry", TypeBoolean, "Whether this is the service's sorry server."),
			plainProp("AgentNode", TypeString, "The Drover agent running on the real server, reporting its own health; NULL for none."),
			arrayProp("Probes", TypeString, `Each prober's latest result: "<node>: up|down|unknown: <reason>".`),
		}), Methods: []MethodDecl{requestStateChange}},
	{Name: "DRV_ServiceStatistics", Super: "CIM_StatisticalData", Description: "A virtual service's IPVS counters, summed over the directors.",
		Properties: concat(instanceIDKey, managedElementProps, statisticalDataProps, []PropertyDecl{
			plainProp("Directors", TypeUint32, "The directors whose counters are summed."),
		}, counterProps)},
	{Name: "DRV_RealServerStatistics", Super: "CIM_StatisticalData", Description: "A real server's IPVS counters, summed over the directors.",
		Properties: concat(instanceIDKey, managedElementProps, statisticalDataProps, []PropertyDecl{
			plainProp("Directors", TypeUint32, "The directors whose counters are summed."),
			plainProp("ActiveConnections", TypeUint64, "Active connections now."),
			plainProp("InactiveConnections", TypeUint64, "Inactive connections now."),
		}, counterProps)},

	// Associations.
	assocClass("CIM_Dependency", "", "A dependency of one element on another.",
		refProp("Antecedent", "CIM_ManagedElement", "The element depended on."),
		refProp("Dependent", "CIM_ManagedElement", "The element that depends.")),
	assocClass("CIM_ParticipatingCS", "CIM_Dependency", "A computer system that takes part in a cluster.",
		refProp("Antecedent", "CIM_ComputerSystem", "The node."),
		refProp("Dependent", "CIM_Cluster", "The cluster.")),
	assocClass("CIM_HostedDependency", "CIM_Dependency", "An element hosted by another.",
		refProp("Antecedent", "CIM_ManagedElement", "The host."),
		refProp("Dependent", "CIM_ManagedElement", "The hosted element.")),
	assocClass("CIM_HostedService", "CIM_HostedDependency", "A service hosted by a system.",
		refProp("Antecedent", "CIM_System", "The hosting system."),
		refProp("Dependent", "CIM_Service", "The service.")),
	assocClass("CIM_HostedAccessPoint", "CIM_HostedDependency", "An access point hosted by a system.",
		refProp("Antecedent", "CIM_System", "The hosting system."),
		refProp("Dependent", "CIM_ServiceAccessPoint", "The access point.")),
	assocClass("CIM_HostedCollection", "CIM_HostedDependency", "A collection scoped by a system.",
		refProp("Antecedent", "CIM_System", "The scoping system."),
		refProp("Dependent", "CIM_SystemSpecificCollection", "The collection.")),
	assocClass("CIM_ServiceAccessBySAP", "CIM_Dependency", "A service reached through an access point.",
		refProp("Antecedent", "CIM_Service", "The service."),
		refProp("Dependent", "CIM_ServiceAccessPoint", "The access point.")),
	assocClass("DRV_VIPGroupDependency", "CIM_Dependency", "A virtual IP address depends on its VIP group's redundancy set.",
		refProp("Antecedent", "DRV_VIPRedundancySet", "The VIP group."),
		refProp("Dependent", "DRV_VIP", "The address.")),
	assocClass("DRV_ServicePoolDependency", "CIM_Dependency", "A virtual service depends on its pool of real servers.",
		refProp("Antecedent", "DRV_RealServerPool", "The pool."),
		refProp("Dependent", "DRV_VirtualService", "The virtual service.")),
	assocClass("CIM_MemberOfCollection", "", "Membership of an element in a collection.",
		refProp("Collection", "CIM_Collection", "The collection."),
		refProp("Member", "CIM_ManagedElement", "The member.")),
	assocClass("CIM_ElementStatisticalData", "", "An element and its statistics.",
		refProp("ManagedElement", "CIM_ManagedElement", "The element."),
		refProp("Stats", "CIM_StatisticalData", "Its statistics.")),
}

// classIndex finds classes by name, case-insensitively, and answers
// subclass questions.
type classIndex struct {
	byName map[string]int            // lower-case name → index in classList
	keys   map[string][]string       // class → its key properties, in order
	props  map[string]map[string]int // class → property → position
}

var classes = newClassIndex(classList)

func newClassIndex(cs []Class) classIndex {
	ci := classIndex{byName: map[string]int{}, keys: map[string][]string{}, props: map[string]map[string]int{}}
	for i, c := range cs {
		ci.byName[strings.ToLower(c.Name)] = i
		ci.props[c.Name] = map[string]int{}
		for j, p := range c.Properties {
			ci.props[c.Name][p.Name] = j
			if p.Key {
				ci.keys[c.Name] = append(ci.keys[c.Name], p.Name)
			}
		}
	}
	return ci
}

func (ci classIndex) class(name string) (Class, bool) {
	i, ok := ci.byName[strings.ToLower(name)]
	if !ok {
		return Class{}, false
	}
	return classList[i], true
}

// isA reports whether class is super or one of its subclasses.
func (ci classIndex) isA(class, super string) bool {
	for class != "" {
		if strings.EqualFold(class, super) {
			return true
		}
		c, ok := ci.class(class)
		if !ok {
			return false
		}
		class = c.Super
	}
	return false
}

// propIndex returns the position of property name in class, -1 if undeclared.
func (ci classIndex) propIndex(class, name string) int {
	j, ok := ci.props[class][name]
	if !ok {
		return -1
	}
	return j
}
