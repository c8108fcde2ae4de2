package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/cobra"

	"github.com/droverha/drover/bus"
	"github.com/droverha/drover/model"
)

// putDesired records an operator request in the desired bucket, where the
// manager (any future one too) finds it.
func putDesired(nc *nats.Conn, cluster, key string, d bus.Desired) error {
	js, err := jetstream.New(nc)
	if err != nil {
		return exitf(1, "%v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if h, err := os.Hostname(); err == nil {
		d.By = h
	}
	if err := bus.PutDesired(ctx, js, cluster, key, d); err != nil {
		return exitf(1, "%v", err)
	}
	return nil
}

func askView(nc *nats.Conn, cluster string) (model.View, error) {
	req, _ := bus.Encode(bus.StatusRequest{V: bus.Version})
	m, err := nc.Request(bus.Subjects{Cluster: cluster}.Status(), req, 2*time.Second)
	if err != nil {
		return model.View{}, err
	}
	return bus.DecodeView(m.Data)
}

// waitView polls the cluster view until done says so or wait passes.
func waitView(nc *nats.Conn, cluster string, wait time.Duration, done func(model.View) bool) (model.View, error) {
	deadline := time.Now().Add(wait)
	var last model.View
	for {
		v, err := askView(nc, cluster)
		if err == nil {
			last = v
			if done(v) {
				return v, nil
			}
		}
		if time.Now().After(deadline) {
			return last, errors.New("timed out")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func newNodeCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "node", Short: "Drain and undrain nodes"}
	var wait time.Duration
	drain := func(on bool) *cobra.Command {
		use, short := "drain NODE", "Move every VIP group off NODE gracefully and give it none until undrained"
		if !on {
			use, short = "undrain NODE", "Let NODE own VIP groups again"
		}
		c := &cobra.Command{
			Use: use, Short: short, Args: cobra.ExactArgs(1),
			Long: short + `.

The request is kept by the cluster (it survives manager changes) and applied by
the manager: each group NODE owns moves to the best other candidate, which
brings the addresses up and announces them before NODE drops them, so no
packet is lost. The command waits until that is done (--wait).`,
			RunE: func(cmd *cobra.Command, args []string) error {
				cfg, err := loadConfig(cmd)
				if err != nil {
					return err
				}
				if !model.ValidName(args[0]) {
					return exitf(2, "invalid node name %q", args[0])
				}
				nc, err := connectCLI(cfg)
				if err != nil {
					return err
				}
				defer nc.Close()
				if err := putDesired(nc, cfg.Cluster, "drain."+args[0], bus.Desired{Drained: on}); err != nil {
					return err
				}
				if !on || wait == 0 {
					fmt.Fprintf(cmd.OutOrStdout(), "%s: %s recorded\n", args[0], map[bool]string{true: "drain", false: "undrain"}[on])
					return nil
				}
				v, err := waitView(nc, cfg.Cluster, wait, func(v model.View) bool {
					for _, g := range v.VIPGroups {
						if stuckOn(g, args[0]) {
							continue // nobody else can take it; reported below
						}
						if g.Owner == args[0] || slices.Contains(g.HeldBy, args[0]) {
							return false
						}
					}
					return true
				})
				if err != nil {
					return exitf(1, "%s still owns VIP groups after %v (the drain stays recorded): %s", args[0], wait, ownedBy(v, args[0]))
				}
				for _, g := range v.VIPGroups {
					if stuckOn(g, args[0]) {
						return exitf(1, "%s drained, but %s stays on it: %s", args[0], g.Name, g.Reason)
					}
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s drained: it owns no VIP groups\n", args[0])
				return nil
			},
		}
		c.Flags().DurationVar(&wait, "wait", 10*time.Second, "how long to wait for the groups to move (0: do not wait)")
		return c
	}
	cmd.AddCommand(drain(true), drain(false))
	return cmd
}

// stuckOn: g stays on a drained node because no other candidate is alive.
func stuckOn(g model.VIPGroupView, node string) bool {
	return g.Owner == node && strings.Contains(g.Reason, "no other candidate")
}

func ownedBy(v model.View, node string) string {
	var out []string
	for _, g := range v.VIPGroups {
		if g.Owner == node || slices.Contains(g.HeldBy, node) {
			out = append(out, g.Name+" ("+g.Reason+")")
		}
	}
	return fmt.Sprint(out)
}

func newVIPCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "vip", Short: "Show and move VIP groups"}
	var wait time.Duration
	move := &cobra.Command{
		Use:   "move GROUP NODE",
		Short: "Move a VIP group to NODE gracefully",
		Long: `Move a VIP group to NODE: NODE brings the addresses up and announces them
before the current owner drops them. The group then stays on NODE (it is not
preempted back) until NODE fails or is drained.`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := loadConfig(cmd)
			if err != nil {
				return err
			}
			group, node := args[0], args[1]
			if !model.ValidName(group) || !model.ValidName(node) {
				return exitf(2, "invalid group or node name")
			}
			nc, err := connectCLI(cfg)
			if err != nil {
				return err
			}
			defer nc.Close()
			v, err := askView(nc, cfg.Cluster)
			if err != nil {
				return exitf(1, "asking for status: %v", err)
			}
			if !slices.ContainsFunc(v.VIPGroups, func(g model.VIPGroupView) bool { return g.Name == group }) {
				return exitf(2, "no VIP group %q in cluster %s", group, cfg.Cluster)
			}
			if !slices.ContainsFunc(v.Nodes, func(n model.Node) bool { return n.Name == node && n.State == model.NodeAlive }) {
				return exitf(2, "node %q is not an alive member of cluster %s; see drover status", node, cfg.Cluster)
			}
			if err := putDesired(nc, cfg.Cluster, "move."+group, bus.Desired{Node: node}); err != nil {
				return err
			}
			v, err = waitView(nc, cfg.Cluster, wait, func(v model.View) bool {
				for _, g := range v.VIPGroups {
					if g.Name == group {
						return g.Owner == node && g.From == "" && slices.Equal(g.HeldBy, []string{node})
					}
				}
				return false
			})
			if err != nil {
				for _, g := range v.VIPGroups {
					if g.Name == group {
						return exitf(1, "%s is on %q after %v: %s", group, g.Owner, wait, g.Reason)
					}
				}
				return exitf(1, "%s did not move within %v", group, wait)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s moved to %s\n", group, node)
			return nil
		},
	}
	move.Flags().DurationVar(&wait, "wait", 10*time.Second, "how long to wait for the move")
	cmd.AddCommand(move)
	return cmd
}
