package main

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/spf13/cobra"

	"github.com/droverha/drover/bus"
	"github.com/droverha/drover/cmd/drover/config"
	"github.com/droverha/drover/model"
)

func newStatusCmd() *cobra.Command {
	return newViewCmd("status", "Show the cluster: manager, epoch, quorum and every node",
		`Show the cluster as one agent sees it: the manager and its epoch, whether
there is a quorum, and each node's state and heartbeat age.

The agent on the bus server this command connects to answers (with the
embedded bus, the local agent); --from asks a named node instead.
-o json prints the view as documented in docs/bus.md ("Status view").`,
		func(v model.View) any { return v }, renderStatus)
}

// fetchView asks the nearest agent (or node from) for its cluster view.
func fetchView(cfg *config.Config, from string, timeout time.Duration) (model.View, error) {
	nc, err := connectCLI(cfg)
	if err != nil {
		return model.View{}, err
	}
	defer nc.Close()
	s := bus.Subjects{Cluster: cfg.Cluster}
	subj := s.Status()
	if from != "" {
		subj = s.StatusOf(from)
	}
	req, _ := bus.Encode(bus.StatusRequest{V: bus.Version})
	msg, err := nc.Request(subj, req, timeout)
	if err != nil {
		who := "no drover agent of cluster " + cfg.Cluster
		if from != "" {
			who = "node " + from + " of cluster " + cfg.Cluster
		}
		if errors.Is(err, nats.ErrNoResponders) || errors.Is(err, nats.ErrTimeout) {
			return model.View{}, exitf(1, "%s answered on the bus at %s", who, nc.ConnectedUrl())
		}
		return model.View{}, exitf(1, "asking for status: %v", err)
	}
	v, err := bus.DecodeView(msg.Data)
	if err != nil {
		return model.View{}, exitf(1, "unreadable status reply: %v", err)
	}
	return v, nil
}

func renderStatus(w io.Writer, v model.View) {
	mgr := "none"
	if v.Manager != "" {
		mgr = fmt.Sprintf("%s (epoch %d)", v.Manager, v.Epoch)
	} else if !v.Quorum.Have {
		mgr = "none (no quorum)"
	}
	q := "no quorum"
	if v.Quorum.Have {
		q = "yes"
	}
	fmt.Fprintf(w, "cluster:  %s\n", v.Cluster)
	fmt.Fprintf(w, "manager:  %s\n", mgr)
	fmt.Fprintf(w, "quorum:   %s (%d of %d voters present, %d needed)\n", q, v.Quorum.Present, v.Quorum.Voters, v.Quorum.Needed)
	d := v.Dropped
	fmt.Fprintf(w, "dropped:  %d messages (%d malformed, %d unknown version, %d stale epoch, %d late)\n", d.Total(), d.Malformed, d.UnknownVersion, d.StaleEpoch, d.Late)
	fmt.Fprintf(w, "seen by:  %s at %s\n\n", v.Observer, v.Time.Format(time.RFC3339))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tSTATE\tSINCE\tHEARTBEAT\tROLE\tQUORUM\tHOLDS\tVERSION\tREASON")
	for _, n := range v.Nodes {
		role := "-"
		if n.Manager {
			role = "manager"
		}
		hb := "never"
		if n.HeartbeatAgeMS >= 0 {
			hb = age(time.Duration(n.HeartbeatAgeMS)*time.Millisecond) + " ago"
		}
		nq := "no"
		if n.Quorum {
			nq = "yes"
		}
		state := n.State.String()
		if n.BusIsolated {
			state = "bus-isolated"
		}
		if n.Drained {
			state += ",drained"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", n.Name, state, age(v.Time.Sub(n.Since)), hb, role, nq,
			orDash(strings.Join(n.Held, ",")), orDash(n.Version), orDash(n.Reason))
	}
	tw.Flush()
	renderVIPGroups(w, v)
	renderServiceSummary(w, v)
}

func renderVIPGroups(w io.Writer, v model.View) {
	if len(v.VIPGroups) == 0 {
		return
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "VIP GROUP\tADDRESSES\tOWNER\tHELD BY\tSINCE\tREASON")
	for _, g := range v.VIPGroups {
		owner := orDash(g.Owner)
		if g.From != "" {
			owner += " (from " + g.From + ")"
		}
		since := "-"
		if !g.Since.IsZero() {
			since = age(v.Time.Sub(g.Since))
		}
		addrs := strings.Join(g.Addresses, ",")
		if g.VirtualMAC != "" {
			addrs += " mac " + g.VirtualMAC
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", g.Name, addrs, owner, orDash(strings.Join(g.HeldBy, ",")), since, g.Reason)
	}
	tw.Flush()
}

// age renders a duration the way an operator reads it at a glance.
func age(d time.Duration) string {
	switch {
	case d < 0:
		return "0s"
	case d < 10*time.Second:
		return d.Round(100 * time.Millisecond).String()
	case d < time.Hour:
		return d.Round(time.Second).String()
	default:
		return strings.TrimSuffix(d.Round(time.Minute).String(), "0s")
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
