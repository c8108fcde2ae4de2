package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"
)

// newLabServeCmd is the real server of the lab and the demo: a small HTTP
// server that answers every request with its own name, so a client can see
// where the load balancer sent it.
func newLabServeCmd() *cobra.Command {
	var (
		name   string
		listen []string
	)
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run a tiny HTTP real server that answers with its name (for labs and the demo)",
		Long: `Run a tiny HTTP server that answers every request with its name and the
client's address, one line: "rs1 203.0.113.100:41234". GET /health answers
"ok". It stops on SIGINT or SIGTERM.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if name == "" {
				return exitf(2, "--name is required")
			}
			mux := http.NewServeMux()
			mux.HandleFunc("/health", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
			mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Connection", "close")
				fmt.Fprintf(w, "%s %s\n", name, r.RemoteAddr)
			})
			srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			errs := make(chan error, len(listen))
			for _, l := range listen {
				ln, err := net.Listen("tcp", l)
				if err != nil {
					return exitf(1, "%v", err)
				}
				go func() { errs <- srv.Serve(ln) }()
			}
			select {
			case <-ctx.Done():
			case err := <-errs:
				if !errors.Is(err, http.ErrServerClosed) {
					return exitf(1, "%v", err)
				}
			}
			sctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			return srv.Shutdown(sctx)
		},
	}
	cmd.Flags().StringVar(&name, "name", "", "the `name` to answer with")
	cmd.Flags().StringSliceVar(&listen, "listen", []string{":80"}, "`host:port` to listen on, repeatable")
	return cmd
}
