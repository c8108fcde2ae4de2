package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/droverha/drover/cmd/drover/config"
	"github.com/droverha/drover/cmd/drover/lab"
)

func newLabCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "lab",
		Short: "Build a virtual LAN of network namespaces that runs drover agents",
		Long: `A lab is a small server farm on this one Linux host, made of network
namespaces: a switch namespace holding a bridge, and one namespace per host
joined to it by a veth pair, with addresses from a documentation range
(192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24, 2001:db8::/32). Hosts marked
agent: true run "drover agent" with a generated configuration, so the agents
form a real cluster over a real (virtual) LAN. Tests use labs to cut links and
kill agents; people use them to try drover without a farm.

Everything a lab makes is named drl-<lab>-...: the switch namespace
drl-<lab>-sw (bridge br0, one port v-<host> per host), each host's namespace
drl-<lab>-<host> (interface eth0). "drover lab down NAME" finds it all by
these names, so it also cleans up after a crash.

Labs need root and iproute2. The topology file format and examples are in
docs/lab.md and deploy/lab/.`,
	}
	cmd.AddCommand(newLabUpCmd(), newLabDownCmd(), newLabStatusCmd(), newLabServeCmd(), newLabDemoCmd())
	return cmd
}

func newLabUpCmd() *cobra.Command {
	var stateDir string
	cmd := &cobra.Command{
		Use:   "up FILE",
		Short: "Build the lab a topology file describes and start its agents",
		Long: `Build the lab FILE describes: the switch namespace with its bridge, a
namespace per host with eth0 addressed and a MAC derived from the lab and host
names, then one "drover agent" per host marked agent: true, running in the
host's namespace with a configuration generated from the topology.

A lab of the same name that is already there is removed first. The command
returns once every agent process runs (the cluster forms a few seconds
later) and leaves the agents running in the background; their
configurations, logs and PID files are in the state directory
(/run/drover-lab/<lab> by default).

The topology is checked first: problems are printed one per line as
FILE:LINE: KEY: REASON and the exit status is 2.`,
		Example: `  drover lab up deploy/lab/demo.yaml
  ip netns exec drl-demo-dir1 drover status --config /run/drover-lab/demo/dir1.yaml
  drover lab down demo`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			t, err := lab.LoadTopology(args[0])
			if err != nil {
				return labError(err)
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			out := cmd.OutOrStdout()
			l, err := lab.Up(ctx, t, lab.Options{StateDir: stateDir, Log: out})
			if err != nil {
				return labError(err)
			}
			agents := t.AgentHosts()
			fmt.Fprintf(out, "\nlab %s is up: %d hosts on %s, %d agents; state in %s\n", t.Name, len(t.Hosts), t.Subnet, len(agents), l.StateDir())
			if len(agents) > 0 {
				fmt.Fprintln(out, "\nAsk an agent (its bus listens on 127.0.0.1 inside its namespace):")
				for _, h := range agents {
					fmt.Fprintf(out, "  ip netns exec %s %s status --config %s\n", l.NS(h.Name), l.Binary(), l.ConfigPath(h.Name))
				}
			}
			fmt.Fprintf(out, "\nA shell on a host:  ip netns exec %s bash\n", l.NS(t.Hosts[len(t.Hosts)-1].Name))
			down := "drover lab down " + t.Name
			if stateDir != "" {
				down += " --state-dir " + l.StateDir()
			}
			fmt.Fprintf(out, "Remove the lab:     %s\n", down)
			return nil
		},
	}
	cmd.Flags().StringVar(&stateDir, "state-dir", "", "keep the lab's configs, logs and data here (default /run/drover-lab/<lab>)")
	return cmd
}

func newLabDownCmd() *cobra.Command {
	var stateDir string
	cmd := &cobra.Command{
		Use:   "down NAME|FILE",
		Short: "Kill a lab's agents and delete its namespaces and state",
		Long: `Remove the lab called NAME (or the one FILE describes): kill every process
running in its namespaces (its agents, and anything else started there),
delete the namespaces drl-<lab>-* with their veth pairs and bridge, and remove
the lab's files from its state directory.

Down works from the name alone, so it also cleans up after "drover lab up" or
a test died halfway; a lab that is not there is not an error. Pass
--state-dir if the lab was brought up with one and its agents no longer run.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, err := labName(args[0])
			if err != nil {
				return err
			}
			if err := lab.DownWith(name, lab.Options{StateDir: stateDir, Log: cmd.OutOrStdout()}); err != nil {
				return exitf(1, "%v", err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "lab %s is down\n", name)
			return nil
		},
	}
	cmd.Flags().StringVar(&stateDir, "state-dir", "", "the lab's state directory (default /run/drover-lab/<lab>)")
	return cmd
}

func newLabStatusCmd() *cobra.Command {
	var stateDir, output string
	cmd := &cobra.Command{
		Use:   "status NAME|FILE",
		Short: "Show a lab's hosts, namespaces, addresses, MACs and agents",
		Long: `Show each host of the lab called NAME (or the one FILE describes) as the
kernel and the process table have it: its namespace, eth0's MAC and
addresses, whether its switch port is up, and its agent's PID and whether it
runs. A lab whose state directory is gone (a crash) is shown from its
namespaces. -o json prints the same as a JSON object.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if output != "text" && output != "json" {
				return exitf(2, "--output %q: want text or json", output)
			}
			name, err := labName(args[0])
			if err != nil {
				return err
			}
			l, err := lab.Open(name, lab.Options{StateDir: stateDir})
			if err != nil {
				return exitf(1, "%v", err)
			}
			hosts, err := l.Status()
			if err != nil {
				return exitf(1, "%v", err)
			}
			if output == "json" {
				b, _ := json.MarshalIndent(labStatus{Lab: name, StateDir: l.StateDir(), Switch: l.SwitchNS(), Hosts: hosts}, "", "  ")
				fmt.Fprintln(cmd.OutOrStdout(), string(b))
				return nil
			}
			renderLabStatus(cmd.OutOrStdout(), l, hosts)
			return nil
		},
	}
	cmd.Flags().StringVar(&stateDir, "state-dir", "", "the lab's state directory (default /run/drover-lab/<lab>)")
	cmd.Flags().StringVarP(&output, "output", "o", "text", "output format: text or json")
	return cmd
}

// labStatus is `drover lab status -o json`.
type labStatus struct {
	Lab      string           `json:"lab"`
	StateDir string           `json:"state_dir"`
	Switch   string           `json:"switch"`
	Hosts    []lab.HostStatus `json:"hosts"`
}

func renderLabStatus(w io.Writer, l *lab.Lab, hosts []lab.HostStatus) {
	t := l.Topology()
	subnets := "unknown: no topology in the state directory"
	if t.Subnet.IsValid() {
		subnets = t.Subnet.String()
		if t.Subnet6.IsValid() {
			subnets += ", " + t.Subnet6.String()
		}
	}
	fmt.Fprintf(w, "lab:     %s (%s)\n", t.Name, subnets)
	fmt.Fprintf(w, "switch:  %s, bridge br0\n", l.SwitchNS())
	fmt.Fprintf(w, "state:   %s\n\n", l.StateDir())
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "HOST\tNAMESPACE\tMAC\tADDRESSES\tLINK\tAGENT")
	for _, h := range hosts {
		ns := h.Namespace
		if !h.Present {
			ns += " (missing)"
		}
		var addrs []string
		for _, a := range h.Addrs {
			addrs = append(addrs, a.String())
		}
		link := "down"
		if h.LinkUp {
			link = "up"
		}
		agent := "-"
		switch {
		case h.Running:
			agent = "running, pid " + strconv.Itoa(h.PID)
		case h.Agent:
			agent = "not running"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", h.Host, ns, orDash(h.MAC), orDash(strings.Join(addrs, " ")), link, agent)
	}
	tw.Flush()
}

// labName takes a lab name, or a topology file and reads the name from it.
func labName(arg string) (string, error) {
	if fi, err := os.Stat(arg); err == nil && !fi.IsDir() {
		t, err := lab.LoadTopology(arg)
		if err != nil {
			return "", labError(err)
		}
		return t.Name, nil
	}
	if !lab.ValidLabName(arg) {
		return "", exitf(2, "%q is neither a topology file nor a lab name (1 to 8 lower-case letters or digits)", arg)
	}
	return arg, nil
}

// labError maps lab errors to exit statuses: a bad topology is 2, with
// one problem per line as drover prints configuration problems.
func labError(err error) error {
	var ps lab.Problems
	if errors.As(err, &ps) {
		out := make(config.Problems, len(ps))
		for i, p := range ps {
			src := p.File
			if p.Line > 0 {
				src = fmt.Sprintf("%s:%d", p.File, p.Line)
			}
			if src == "" {
				src = "topology"
			}
			out[i] = config.Problem{Source: src, Key: p.Key, Reason: p.Reason}
		}
		return out
	}
	if errors.Is(err, fs.ErrNotExist) {
		return exitf(2, "%v", err)
	}
	return exitf(1, "%v", err)
}

func newLabDemoCmd() *cobra.Command {
	var (
		stateDir string
		verbose  bool
	)
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Show load balancing and a director failover in a throwaway lab",
		Long: `Build a lab of two directors sharing a VIP, three real servers (one of
them also the cluster's third voter) and a client; balance http://192.0.2.50/
over the real servers with NAT; show drover status and drover services, a
dozen answers from the client, then kill the active director's agent and show
the client carrying on through the other director, with how long answers
stopped. The lab is removed at the end, also on Ctrl-C.

Needs root, iproute2 and a kernel with IPVS (ip_vs). On a machine whose
kernel has none, "make demo" runs it in the kernel lab VM. See docs/demo.md.
The exit status is 0 when every step worked, 1 when one failed.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			err := lab.Demo(ctx, lab.DemoOptions{StateDir: stateDir, Out: cmd.OutOrStdout(), Verbose: verbose})
			switch {
			case err == nil:
				fmt.Fprintln(cmd.OutOrStdout(), "\ndemo finished: every step worked")
				return nil
			case ctx.Err() != nil:
				return exitf(130, "demo interrupted; the lab is removed")
			case errors.Is(err, lab.ErrNoIPVS):
				return exitf(1, "%v; run \"make demo\", which runs the demo in the kernel lab VM", err)
			}
			return exitf(1, "demo failed: %v", err)
		},
	}
	cmd.Flags().StringVar(&stateDir, "state-dir", "", "keep the lab's configs and logs here while it runs (default /run/drover-lab/"+lab.DemoName+")")
	cmd.Flags().BoolVarP(&verbose, "verbose", "v", false, "also print each step of building the lab")
	return cmd
}
