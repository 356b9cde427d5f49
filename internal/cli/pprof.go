package cli

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/spf13/cobra"
)

// pprofFlag is the root's --pprof-listen: an opt-in Go profiling endpoint
// (net/http/pprof) for any subcommand, used by the storm benchmark
// (docs/performance.md). It binds to loopback only: profiles reveal memory
// contents and cost CPU, so they are never offered to the network.
type pprofFlag struct{ addr string }

func (p *pprofFlag) register(root *cobra.Command) {
	root.PersistentFlags().StringVar(&p.addr, "pprof-listen", "", "serve Go's /debug/pprof/ on this loopback HOST:PORT (empty: off; for profiling only)")
	root.PersistentPreRunE = func(cmd *cobra.Command, _ []string) error { return p.start(cmd.Context()) }
}

// start listens on p.addr when set, refusing any address that is not
// loopback, and serves pprof until ctx ends.
func (p *pprofFlag) start(ctx context.Context) error {
	if p.addr == "" {
		return nil
	}
	host, _, err := net.SplitHostPort(p.addr)
	if err != nil {
		return fmt.Errorf("--pprof-listen: %w", err)
	}
	ip := net.ParseIP(host)
	if host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("--pprof-listen: %q is not a loopback address", host)
	}
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		return fmt.Errorf("--pprof-listen: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	if ctx == nil {
		ctx = context.Background()
	}
	go func() { <-ctx.Done(); srv.Close() }()
	return nil
}
