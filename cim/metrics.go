package cim

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/droverha/drover/model"
)

// ViewCollector is a Prometheus collector that reads the cluster view at
// every scrape, so the metrics hold no state of their own
// (docs/security.md lists them). Counters of IPVS are summed over the
// directors that report them; a director that leaves the view takes its
// share with it, which Prometheus reads as a counter reset.
type ViewCollector struct {
	view func() model.View
}

var _ prometheus.Collector = (*ViewCollector)(nil)

// NewViewCollector collects from view.
func NewViewCollector(view func() model.View) *ViewCollector {
	return &ViewCollector{view: view}
}

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(name, help, labels, nil)
}

// The metrics' descriptions; read-only.
var (
	descNodeUp         = desc("drover_node_up", "Whether the node is alive or suspect (1) or dead, left or unknown (0), as the observer sees it.", "node")
	descNodeState      = desc("drover_node_state", "The node's membership state: 1 for the current state, 0 for the others.", "node", "state")
	descManager        = desc("drover_manager", "Whether the node is the elected manager (1) or not (0).", "node")
	descEpoch          = desc("drover_epoch", "The manager's fencing epoch (the revision of its election lease); 0 without a manager.")
	descQuorum         = desc("drover_quorum", "Whether the observer sees a majority of the voters (1) or not (0).")
	descQuorumPresent  = desc("drover_quorum_present_voters", "Voters alive or suspect, the observer included.")
	descQuorumVoters   = desc("drover_quorum_voters", "Voting nodes in the cluster.")
	descQuorumNeeded   = desc("drover_quorum_needed_voters", "Voters needed for a majority.")
	descVIPOwner       = desc("drover_vip_group_owner", "1 for the node the manager gave the VIP group to.", "group", "node")
	descVIPOwned       = desc("drover_vip_group_owned", "Whether the VIP group has an owner (1) or not (0).", "group")
	descSvcQuorum      = desc("drover_service_quorum", "Whether the service has its quorum of healthy weight (1) or not (0).", "service")
	descSvcHealthy     = desc("drover_service_healthy_weight", "The total weight of the service's healthy real servers.", "service")
	descSvcNeeded      = desc("drover_service_needed_weight", "The healthy weight the service needs for its quorum.", "service")
	descSvcSorry       = desc("drover_service_sorry_active", "Whether the sorry server takes the service's traffic (1) or not (0).", "service")
	descSvcConns       = desc("drover_service_connections_total", "Connections the directors scheduled for the service.", "service")
	descSvcPktsIn      = desc("drover_service_packets_in_total", "Packets in to the service, over the directors.", "service")
	descSvcPktsOut     = desc("drover_service_packets_out_total", "Packets out of the service, over the directors.", "service")
	descSvcBytesIn     = desc("drover_service_bytes_in_total", "Bytes in to the service, over the directors.", "service")
	descSvcBytesOut    = desc("drover_service_bytes_out_total", "Bytes out of the service, over the directors.", "service")
	descRSUp           = desc("drover_realserver_up", "Whether the real server is healthy (1) or not (0).", "service", "address")
	descRSWeight       = desc("drover_realserver_weight", "The real server's configured weight.", "service", "address")
	descRSApplied      = desc("drover_realserver_applied_weight", "The real server's weight in the directors' tables; -1 when it is out of them.", "service", "address")
	descRSConns        = desc("drover_realserver_connections_total", "Connections the directors scheduled to the real server.", "service", "address")
	descRSActive       = desc("drover_realserver_active_connections", "The real server's active connections, over the directors.", "service", "address")
	descRSInactive     = desc("drover_realserver_inactive_connections", "The real server's inactive connections, over the directors.", "service", "address")
	descRSPktsIn       = desc("drover_realserver_packets_in_total", "Packets in to the real server, over the directors.", "service", "address")
	descRSPktsOut      = desc("drover_realserver_packets_out_total", "Packets out of the real server, over the directors.", "service", "address")
	descRSBytesIn      = desc("drover_realserver_bytes_in_total", "Bytes in to the real server, over the directors.", "service", "address")
	descRSBytesOut     = desc("drover_realserver_bytes_out_total", "Bytes out of the real server, over the directors.", "service", "address")
	descDropped        = desc("drover_bus_dropped_messages_total", "Bus messages this node received and dropped, by reason.", "reason")
	viewCollectorDescs = []*prometheus.Desc{
		descNodeUp, descNodeState, descManager, descEpoch, descQuorum, descQuorumPresent, descQuorumVoters, descQuorumNeeded,
		descVIPOwner, descVIPOwned,
		descSvcQuorum, descSvcHealthy, descSvcNeeded, descSvcSorry, descSvcConns, descSvcPktsIn, descSvcPktsOut, descSvcBytesIn, descSvcBytesOut,
		descRSUp, descRSWeight, descRSApplied, descRSConns, descRSActive, descRSInactive, descRSPktsIn, descRSPktsOut, descRSBytesIn, descRSBytesOut,
		descDropped,
	}
)

// nodeStates are the states drover_node_state has a series for.
var nodeStates = []model.NodeState{model.NodeUnknown, model.NodeAlive, model.NodeSuspect, model.NodeDead, model.NodeLeft}

// Describe sends every metric's description.
func (c *ViewCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range viewCollectorDescs {
		ch <- d
	}
}

// Collect reads the view once and sends its metrics.
func (c *ViewCollector) Collect(ch chan<- prometheus.Metric) {
	v := c.view()
	gauge := func(d *prometheus.Desc, val float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, val, labels...)
	}
	counter := func(d *prometheus.Desc, val uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(val), labels...)
	}

	seenNode := map[string]bool{}
	for _, n := range v.Nodes {
		if seenNode[n.Name] {
			continue // a duplicate would make the scrape fail
		}
		seenNode[n.Name] = true
		gauge(descNodeUp, b2f(n.State.Present()), n.Name)
		for _, s := range nodeStates {
			gauge(descNodeState, b2f(n.State == s), n.Name, s.String())
		}
		gauge(descManager, b2f(n.Manager || n.Name == v.Manager && v.Manager != ""), n.Name)
	}
	gauge(descEpoch, float64(v.Epoch))
	gauge(descQuorum, b2f(v.Quorum.Have))
	gauge(descQuorumPresent, float64(v.Quorum.Present))
	gauge(descQuorumVoters, float64(v.Quorum.Voters))
	gauge(descQuorumNeeded, float64(v.Quorum.Needed))

	seenGroup := map[string]bool{}
	for _, g := range v.VIPGroups {
		if seenGroup[g.Name] {
			continue
		}
		seenGroup[g.Name] = true
		gauge(descVIPOwned, b2f(g.Owner != ""), g.Name)
		if g.Owner != "" {
			gauge(descVIPOwner, 1, g.Name, g.Owner)
		}
	}

	seenService := map[string]bool{}
	for _, s := range v.Services {
		if seenService[s.Name] {
			continue
		}
		seenService[s.Name] = true
		gauge(descSvcQuorum, b2f(s.Quorum.Have), s.Name)
		gauge(descSvcHealthy, float64(s.Quorum.HealthyWeight), s.Name)
		gauge(descSvcNeeded, float64(s.Quorum.Needed), s.Name)
		gauge(descSvcSorry, b2f(s.SorryActive), s.Name)
		var total model.Counters
		dests := map[string]*destSum{}
		for _, d := range s.Directors {
			addCounters(&total, d.Stats)
			for _, dc := range d.Dests {
				sum := dests[dc.Address]
				if sum == nil {
					sum = &destSum{}
					dests[dc.Address] = sum
				}
				sum.active += uint64(dc.Active)
				sum.inactive += uint64(dc.Inactive)
				addCounters(&sum.stats, dc.Stats)
			}
		}
		counter(descSvcConns, total.Connections, s.Name)
		counter(descSvcPktsIn, total.PacketsIn, s.Name)
		counter(descSvcPktsOut, total.PacketsOut, s.Name)
		counter(descSvcBytesIn, total.BytesIn, s.Name)
		counter(descSvcBytesOut, total.BytesOut, s.Name)

		seenRS := map[string]bool{}
		for _, r := range s.RealServers {
			if seenRS[r.Address] {
				continue
			}
			seenRS[r.Address] = true
			gauge(descRSUp, b2f(r.Healthy), s.Name, r.Address)
			gauge(descRSWeight, float64(r.Weight), s.Name, r.Address)
			gauge(descRSApplied, float64(r.Applied), s.Name, r.Address)
			sum := dests[r.Address]
			if sum == nil {
				sum = &destSum{}
			}
			counter(descRSConns, sum.stats.Connections, s.Name, r.Address)
			gauge(descRSActive, float64(sum.active), s.Name, r.Address)
			gauge(descRSInactive, float64(sum.inactive), s.Name, r.Address)
			counter(descRSPktsIn, sum.stats.PacketsIn, s.Name, r.Address)
			counter(descRSPktsOut, sum.stats.PacketsOut, s.Name, r.Address)
			counter(descRSBytesIn, sum.stats.BytesIn, s.Name, r.Address)
			counter(descRSBytesOut, sum.stats.BytesOut, s.Name, r.Address)
		}
	}

	counter(descDropped, v.Dropped.Malformed, "malformed")
	counter(descDropped, v.Dropped.UnknownVersion, "unknown_version")
	counter(descDropped, v.Dropped.StaleEpoch, "stale_epoch")
	counter(descDropped, v.Dropped.Late, "late")
}

// destSum is one real server's counters over the directors.
type destSum struct {
	active, inactive uint64
	stats            model.Counters
}

// addCounters adds src's totals to dst; rates are left out, since
// Prometheus derives its own.
func addCounters(dst *model.Counters, src model.Counters) {
	dst.Connections += src.Connections
	dst.PacketsIn += src.PacketsIn
	dst.PacketsOut += src.PacketsOut
	dst.BytesIn += src.BytesIn
	dst.BytesOut += src.BytesOut
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
