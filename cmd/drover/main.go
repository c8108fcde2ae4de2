// Command drover is the Drover high-availability and load-balancing agent
// and its command-line client.
package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/droverha/drover/cmd/drover/config"
)

// Set at build time with -ldflags "-X main.version=... -X main.commit=...".
var (
	version = "dev"
	commit  = "unknown"
)

// exitError carries an exit status and an already-formatted message.
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return e.msg }

func exitf(code int, format string, args ...any) error {
	return &exitError{code: code, msg: fmt.Sprintf(format, args...)}
}

func main() {
	root := newRootCmd()
	err := root.Execute()
	if err == nil {
		return
	}
	var ee *exitError
	var probs config.Problems
	switch {
	case errors.As(err, &probs):
		for _, p := range probs {
			fmt.Fprintln(os.Stderr, p.String())
		}
		os.Exit(2)
	case errors.As(err, &ee):
		if ee.msg != "" {
			fmt.Fprintln(os.Stderr, "drover: "+ee.msg)
		}
		os.Exit(ee.code)
	default:
		// cobra's own usage errors (unknown flag, wrong arguments)
		fmt.Fprintln(os.Stderr, "drover: "+err.Error())
		os.Exit(2)
	}
}

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "drover",
		Short: "High availability and load balancing for Linux server farms",
		Long: `Drover runs one agent on every host of a server farm. The agents talk over a
NATS bus (embedded by default), elect one manager, and keep virtual IPs, IPVS
tables and services where the manager puts them.

Configuration comes from a file (--config, $DROVER_CONFIG or
/etc/drover/drover.yaml), DROVER_* environment variables and flags; flags win
over the environment, which wins over the file. See docs/config.md.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       version,
	}
	root.SetVersionTemplate("drover {{.Version}}\n")
	config.BindFlags(root.PersistentFlags())
	root.AddCommand(newAgentCmd(), newStatusCmd(), newServicesCmd(), newEventsCmd(), newConfigCmd(), newVersionCmd(),
		newNodeCmd(), newVIPCmd(), newRealServerCmd(), newVIPGuardCmd(), newLabCmd(), newMIBCmd(), newCIMCmd())
	return root
}

// loadConfig reads the configuration the way every command does.
func loadConfig(cmd *cobra.Command) (*config.Config, error) {
	return config.Load(config.Options{Flags: cmd.Flags()})
}
