package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/droverha/drover/mib"
	"github.com/spf13/cobra"
)

func newMIBCmd() *cobra.Command {
	var dir string
	cmd := &cobra.Command{
		Use:   "mib",
		Short: "Print DROVER-MIB, the SNMP MIB of the agent",
		Long: `Print DROVER-MIB (SMIv2), the MIB the agent serves as an AgentX subagent of
net-snmp's snmpd or as a standalone SNMP agent, so managers can load it:

  drover mib > /usr/share/snmp/mibs/DROVER-MIB.txt
  drover mib --dir ~/.snmp/mibs

It imports SNMPv2-SMI, SNMPv2-TC, SNMPv2-CONF and INET-ADDRESS-MIB, which
Debian ships in the snmp-mibs-downloader package. The MIB sits under the
placeholder enterprise number 99999 until one is registered (docs/snmp.md).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if dir == "" {
				_, err := fmt.Fprint(cmd.OutOrStdout(), mib.Text)
				return err
			}
			path := filepath.Join(dir, "DROVER-MIB.txt")
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return exitf(1, "drover mib: %v", err)
			}
			if err := os.WriteFile(path, []byte(mib.Text), 0o644); err != nil {
				return exitf(1, "drover mib: %v", err)
			}
			fmt.Fprintln(cmd.ErrOrStderr(), "wrote", path)
			return nil
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "", "write DROVER-MIB.txt into this directory instead of printing it")
	return cmd
}
