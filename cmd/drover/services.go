package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/droverha/drover/model"
)

func newServicesCmd() *cobra.Command {
	return newViewCmd("services", "Show the load-balanced services: real servers, weights, health, counters",
		`Show every virtual service the way ipvsadm -Ln does, with what ipvsadm
cannot know: each real server's health and the reason for it, the weight the
manager gave it, the service's quorum, and the connection counters summed
over the directors.

Weight is the configured weight; Applied is the weight the manager told the
directors to program ("-": out of their tables); Admin is the operator's
state of the real server (enabled, quiesced or disabled: drover realserver). -o json prints the
services part of the status view (docs/bus.md, "Status view").`,
		func(v model.View) any { return v.Services }, renderServices)
}

// newViewCmd is a command that asks an agent for its view and renders
// part of it: as text, or as the JSON of what part picks.
func newViewCmd(use, short, long string, part func(model.View) any, render func(io.Writer, model.View)) *cobra.Command {
	var (
		output  string
		from    string
		timeout time.Duration
	)
	cmd := &cobra.Command{
		Use: use, Short: short, Long: long,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if output != "text" && output != "json" {
				return exitf(2, "--output %q: want text or json", output)
			}
			cfg, err := loadConfig(cmd)
			if err != nil {
				return err
			}
			v, err := fetchView(cfg, from, timeout)
			if err != nil {
				return err
			}
			if output == "json" {
				b, _ := json.MarshalIndent(part(v), "", "  ")
				fmt.Fprintln(cmd.OutOrStdout(), string(b))
				return nil
			}
			render(cmd.OutOrStdout(), v)
			return nil
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "text", "output format: text or json")
	cmd.Flags().StringVar(&from, "from", "", "ask this node's agent rather than the nearest one")
	cmd.Flags().DurationVar(&timeout, "timeout", 2*time.Second, "how long to wait for an answer")
	return cmd
}

// renderServiceSummary is the one-line-per-service part of `drover status`.
func renderServiceSummary(w io.Writer, v model.View) {
	if len(v.Services) == 0 {
		return
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SERVICE\tVIRTUAL\tSCHED\tHEALTHY\tQUORUM\tREASON")
	for _, s := range v.Services {
		up := 0
		total := 0
		for _, r := range s.RealServers {
			if r.Sorry {
				continue
			}
			total++
			if r.Healthy {
				up++
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d/%d\t%s\t%s\n", s.Name, s.Key, s.Scheduler, up, total, quorumWord(s), orDash(s.Reason))
	}
	tw.Flush()
}

func quorumWord(s model.ServiceView) string {
	switch {
	case s.Quorum.Have:
		return "yes"
	case s.SorryActive:
		return "no (sorry server)"
	default:
		return "no"
	}
}

// forwardWord is ipvsadm's name of a forwarding method.
func forwardWord(f string) string {
	switch f {
	case model.ForwardNAT:
		return "Masq"
	case model.ForwardDR:
		return "Route"
	case model.ForwardTunnel:
		return "Tunnel"
	}
	return f
}

func renderServices(w io.Writer, v model.View) {
	if len(v.Services) == 0 {
		fmt.Fprintln(w, "no services configured")
		return
	}
	// Like ipvsadm -Ln: a heading line per service, its real servers
	// below, the columns aligned across all services.
	header := []string{"  -> RemoteAddress:Port", "Forward", "Weight", "Applied", "ActiveConn", "InActConn", "Conns", "Health", "Admin", "Since", "Reason"}
	type block struct {
		head string
		rows [][]string
	}
	var blocks []block
	widths := make([]int, len(header))
	grow := func(row []string) {
		for i, c := range row {
			widths[i] = max(widths[i], len(c))
		}
	}
	grow(header)
	for _, s := range v.Services {
		b := block{head: strings.Replace(s.Key, " ", "  ", 1) + " " + s.Scheduler}
		if len(s.Flags) > 0 {
			b.head += " (" + strings.Join(s.Flags, ",") + ")"
		}
		if s.Persistence != "" {
			b.head += " persistent " + s.Persistence
		}
		b.head += fmt.Sprintf("   [%s] quorum %s, healthy weight %d of %d needed", s.Name, quorumWord(s), s.Quorum.HealthyWeight, s.Quorum.Needed)
		for _, r := range s.RealServers {
			var active, inactive uint32
			var conns uint64
			for _, d := range s.Directors {
				for _, dc := range d.Dests {
					if dc.Address == r.Address {
						active += dc.Active
						inactive += dc.Inactive
						conns += dc.Stats.Connections
					}
				}
			}
			applied := "-"
			if r.Applied >= 0 {
				applied = fmt.Sprint(r.Applied)
			}
			health := "down"
			switch {
			case r.Sorry && r.Applied >= 0:
				health = "sorry"
			case r.Sorry:
				health = "standby"
			case r.Healthy:
				health = "up"
			case !r.Known:
				health = "unknown"
			}
			admin := "-"
			switch {
			case r.Admin != "":
				admin = r.Admin
			case !r.Sorry:
				admin = model.AdminEnabled
			}
			since := "-"
			if !r.Since.IsZero() {
				since = age(v.Time.Sub(r.Since))
			}
			row := []string{"  -> " + r.Address, forwardWord(r.Forward), fmt.Sprint(r.Weight), applied,
				fmt.Sprint(active), fmt.Sprint(inactive), fmt.Sprint(conns), health, admin, since, orDash(r.Reason)}
			grow(row)
			b.rows = append(b.rows, row)
		}
		blocks = append(blocks, b)
	}
	line := func(row []string) {
		var sb strings.Builder
		for i, c := range row {
			if i == len(row)-1 {
				sb.WriteString(c)
				break
			}
			fmt.Fprintf(&sb, "%-*s  ", widths[i], c)
		}
		fmt.Fprintln(w, sb.String())
	}
	fmt.Fprintln(w, "Prot LocalAddress:Port Scheduler Flags")
	line(header)
	for _, b := range blocks {
		fmt.Fprintln(w, b.head)
		for _, r := range b.rows {
			line(r)
		}
	}
}
