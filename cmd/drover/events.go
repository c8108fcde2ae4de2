package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/cobra"

	"github.com/droverha/drover/bus"
)

func newEventsCmd() *cobra.Command {
	var (
		output  string
		follow  bool
		since   time.Duration
		fromSeq uint64
		types   []string
	)
	cmd := &cobra.Command{
		Use:   "events",
		Short: "Print the cluster's events",
		Long: `Print the cluster's events (CloudEvents 1.0) from the durable event stream.

Without options every kept event is printed. --since 10m starts ten minutes
ago; --from-seq N starts at stream sequence N, so a subscriber that saw N
resumes with --from-seq N+1 and sees every later event exactly once.
--follow keeps printing new events until interrupted. -o json prints one
CloudEvent per line with its sequence in the "droverseq" attribute.`,
		Example: `  drover events --since 1h
  drover events --follow -o json --type node.dead --type manager.elected
  drover events --from-seq 1042 -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if output != "text" && output != "json" {
				return exitf(2, "--output %q: want text or json", output)
			}
			if since != 0 && fromSeq != 0 {
				return exitf(2, "--since and --from-seq choose the start twice; give one")
			}
			cfg, err := loadConfig(cmd)
			if err != nil {
				return err
			}
			nc, err := connectCLI(cfg)
			if err != nil {
				return err
			}
			defer nc.Close()
			js, err := jetstream.New(nc)
			if err != nil {
				return exitf(1, "%v", err)
			}
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			o := bus.ReadOptions{FromSeq: fromSeq, Follow: follow, Types: types}
			if since > 0 {
				o.Since = time.Now().Add(-since)
			}
			var drops bus.Drops
			out := cmd.OutOrStdout()
			err = bus.ReadEvents(ctx, js, bus.Subjects{Cluster: cfg.Cluster}, o, &drops, func(e bus.Event) error {
				return printEvent(out, output, e)
			})
			if err != nil {
				return exitf(1, "%v", err)
			}
			if d := drops.Snapshot(); d.Total() > 0 {
				fmt.Fprintf(cmd.ErrOrStderr(), "drover: skipped %d unreadable events\n", d.Total())
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "text", "output format: text or json")
	cmd.Flags().BoolVarP(&follow, "follow", "f", false, "keep printing new events")
	cmd.Flags().DurationVar(&since, "since", 0, "start this long ago, e.g. 10m")
	cmd.Flags().Uint64Var(&fromSeq, "from-seq", 0, "start at this stream sequence")
	cmd.Flags().StringSliceVar(&types, "type", nil, "only events of this type, e.g. node.dead (repeatable)")
	return cmd
}

func printEvent(w io.Writer, output string, e bus.Event) error {
	if output == "json" {
		b, err := json.Marshal(e)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintln(w, string(b))
		return err
	}
	d, _ := e.Payload()
	line := fmt.Sprintf("%6d  %s  %-17s %-10s", e.Seq, e.Time.Local().Format("2006-01-02 15:04:05.000"), e.DroverType(), e.Subject)
	if d.State != "" {
		line += " " + d.Previous + " -> " + d.State
	}
	if d.Epoch != 0 {
		line += fmt.Sprintf(" epoch=%d", d.Epoch)
	}
	if d.Voters != 0 {
		line += fmt.Sprintf(" present=%d/%d", d.Present, d.Voters)
	}
	if d.Reason != "" {
		line += "  (" + d.Reason + ")"
	}
	if e.DroverType() != "" && d.Reporter != "" && d.Reporter != e.Subject {
		line += "  by " + d.Reporter
	}
	_, err := fmt.Fprintln(w, line)
	return err
}
