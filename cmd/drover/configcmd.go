package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/droverha/drover/cmd/drover/config"
)

func newConfigCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "config",
		Short: "Work with drover configuration files",
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "validate FILE",
		Short: "Check a configuration file without starting anything",
		Long: `Check a configuration file on its own (no flags, no DROVER_* environment).
Every problem is printed on its own line as FILE:LINE: KEY: REASON and the
exit status is 2; a good file prints a summary and exits 0.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := config.LoadFile(args[0])
			if err != nil {
				return err
			}
			mode := "embedded bus on " + cfg.Bus.Listen
			switch {
			case len(cfg.Bus.External.URLs) > 0:
				mode = fmt.Sprintf("external bus (%d URLs)", len(cfg.Bus.External.URLs))
			case len(cfg.Bus.Cluster.Peers) > 0:
				mode += fmt.Sprintf(", clustered with %d peers", len(cfg.Bus.Cluster.Peers))
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: ok: node %s, cluster %s, %s, %d voters\n", args[0], cfg.Node, cfg.Cluster, mode, cfg.Voters())
			return nil
		},
	})
	return cmd
}
