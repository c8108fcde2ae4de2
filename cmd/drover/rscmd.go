package main

import (
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/spf13/cobra"

	"github.com/droverha/drover/bus"
	"github.com/droverha/drover/model"
)

func newRealServerCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "realserver", Aliases: []string{"rs"}, Short: "Quiesce, disable and enable real servers"}
	var wait time.Duration
	admin := func(verb, state, short string) *cobra.Command {
		c := &cobra.Command{
			Use: verb + " SERVICE ADDRESS", Short: short, Args: cobra.ExactArgs(2),
			Long: short + `.

ADDRESS is the real server's IP:port as drover services prints it
(198.51.100.21:80, [2001:db8::21]:53). quiesce sets its weight to 0 in the
directors' tables: it takes no new connections and the ones it has finish
(ipvsadm's weight 0, ldirectord's quiescent). disable takes it out of the
tables (ipvsadm -d). enable gives it back to its health: in the table at its
weight when healthy. A quiesced or disabled real server does not count toward
the service's quorum. The request is kept by the cluster (it survives manager
changes and restarts) and applied by the manager, whatever the real server's
health. The command waits until the view shows it (--wait).`,
			RunE: func(cmd *cobra.Command, args []string) error {
				cfg, err := loadConfig(cmd)
				if err != nil {
					return err
				}
				service := args[0]
				ap, err := netip.ParseAddrPort(args[1])
				if err != nil {
					return exitf(2, "real server address %q: want IP:port, [IPv6]:port for IPv6", args[1])
				}
				key, err := bus.RealServerKey(service, ap)
				if err != nil {
					return exitf(2, "%v", err)
				}
				addr := ap.String()
				nc, err := connectCLI(cfg)
				if err != nil {
					return err
				}
				defer nc.Close()
				v, err := askView(nc, cfg.Cluster)
				if err != nil {
					return exitf(1, "asking for status: %v", err)
				}
				i := slices.IndexFunc(v.Services, func(s model.ServiceView) bool { return s.Name == service })
				if i < 0 {
					return exitf(2, "no service %q in cluster %s; see drover services", service, cfg.Cluster)
				}
				if !slices.ContainsFunc(v.Services[i].RealServers, func(r model.RealServerView) bool { return r.Address == addr && !r.Sorry }) {
					return exitf(2, "%s is not a real server of %s; see drover services", addr, service)
				}
				if err := putDesired(nc, cfg.Cluster, key, bus.Desired{Admin: state}); err != nil {
					return err
				}
				if wait == 0 {
					fmt.Fprintf(cmd.OutOrStdout(), "%s %s: %s recorded\n", service, addr, state)
					return nil
				}
				shown := func(v model.View) (model.RealServerView, bool) {
					for _, s := range v.Services {
						if s.Name != service {
							continue
						}
						for _, r := range s.RealServers {
							if r.Address == addr && !r.Sorry {
								want := state
								if want == model.AdminEnabled {
									want = ""
								}
								return r, r.Admin == want
							}
						}
					}
					return model.RealServerView{}, false
				}
				v, err = waitView(nc, cfg.Cluster, wait, func(v model.View) bool { _, ok := shown(v); return ok })
				r, _ := shown(v)
				if err != nil {
					return exitf(1, "%s %s not %s in the view after %v (the request stays recorded): %s", service, addr, state, wait, orDash(r.Reason))
				}
				applied := "out of the table"
				if r.Applied >= 0 {
					applied = fmt.Sprintf("weight %d", r.Applied)
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s %s %s: %s\n", service, addr, state, applied)
				return nil
			},
		}
		c.Flags().DurationVar(&wait, "wait", 10*time.Second, "how long to wait for the view to show it (0: do not wait)")
		return c
	}
	cmd.AddCommand(
		admin("quiesce", model.AdminQuiesced, "Give a real server weight 0: no new connections, existing ones finish"),
		admin("disable", model.AdminDisabled, "Take a real server out of the directors' tables"),
		admin("enable", model.AdminEnabled, "Give a real server back to its health (undo quiesce or disable)"))
	return cmd
}
