package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/spf13/cobra"

	"github.com/podid/podid/internal/agent"
	"github.com/podid/podid/internal/app"
	"github.com/podid/podid/internal/broker"
	"github.com/podid/podid/internal/eks/feed"
	"github.com/podid/podid/internal/local"
	"github.com/podid/podid/internal/secrets"
	"github.com/podid/podid/internal/store/backend"
	"github.com/podid/podid/internal/version"
)

// devOptions are `podid dev`'s flags: the server's, plus the clusters,
// the agent and the gateway.
type devOptions struct {
	serverFlags
	clusters    []string
	fresh       bool
	agentListen string
	gateway     gatewayFlags
}

func newDevCommand() *cobra.Command {
	var o devOptions
	cmd := &cobra.Command{
		Use:   "dev",
		Short: "Run podid on this machine: server, hosted cluster and agent in one process",
		Long: `Start a podid server (SQLite in --data-dir), a podid-hosted cluster and a node
agent on loopback for it, then print the export lines that point the AWS CLI and
SDKs at the server as the account root (also written to DATA-DIR/dev.env).
Run commands as a pod of a service account with "podid exec". With
--gateway-listen and an upstream, the DynamoDB/S3 gateway runs too (see
docs/gateway.md). Ctrl-C stops everything; a restart with the same --data-dir
keeps the state.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runDev(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), &o, time.Now())
		},
	}
	defaultDir, _ := local.DefaultDataDir(os.Getenv)
	o.register(cmd, "127.0.0.1:8080", defaultDir)
	f := cmd.Flags()
	// A terminal session wants the export lines, not a line per request.
	if lf := f.Lookup("log-level"); lf != nil {
		_ = lf.Value.Set("warn")
		lf.DefValue = "warn"
	}
	f.StringSliceVar(&o.clusters, "cluster", []string{local.DefaultCluster}, "podid-hosted cluster to create if absent and serve with an agent (repeatable; the first is the default of podid exec)")
	f.BoolVar(&o.fresh, "fresh", false, "start empty: remove the store, keys and root credentials of an earlier run in --data-dir")
	f.StringVar(&o.agentListen, "agent-listen", "127.0.0.1:0", "loopback HOST:PORT of the first cluster's agent (port 0: any free port; further clusters take the next ports)")
	o.gateway.register(cmd, "gateway-listen", "")
	if lf := f.Lookup("gateway-listen"); lf != nil {
		lf.Usage = "HOST:PORT of the DynamoDB/S3 gateway (default: no gateway; needs --dynamodb-upstream or --s3-upstream)"
	}
	return cmd
}

// devAgent is one cluster's running agent.
type devAgent struct {
	cluster string
	url     string
}

func runDev(ctx context.Context, stdout, stderr io.Writer, o *devOptions, start time.Time) error {
	if o.dataDir == "" {
		return errors.New("no data directory: give --data-dir")
	}
	if len(o.clusters) == 0 {
		return errors.New("give at least one --cluster")
	}
	if o.fresh && backend.URL(o.databaseURL, os.Getenv) != "" {
		// --fresh removes files; it never drops a shared database.
		return errors.New("--fresh empties the SQLite store in --data-dir; with --database-url, use a new (or dropped and re-created) database instead")
	}
	seen := map[string]bool{}
	for _, c := range o.clusters {
		if seen[c] {
			return fmt.Errorf("--cluster %s is given twice", c)
		}
		seen[c] = true
	}
	agentHost, agentPort, err := loopbackHostPort(o.agentListen)
	if err != nil {
		return fmt.Errorf("--agent-listen: %w", err)
	}
	logger, err := o.logger(stderrFile(stderr))
	if err != nil {
		return err
	}
	// Flags and ports first: a dev that cannot start leaves nothing
	// behind in the data directory.
	gwLn, err := o.gateway.listenEmbedded()
	if err != nil {
		return err
	}
	apiLn, err := net.Listen("tcp", o.listen)
	if err != nil {
		if gwLn != nil {
			gwLn.Close()
		}
		return busyHint("--listen", o.listen, err)
	}
	fail := func(err error) error {
		apiLn.Close()
		if gwLn != nil {
			gwLn.Close()
		}
		return err
	}
	if err := os.MkdirAll(o.dataDir, 0o700); err != nil {
		return fail(fmt.Errorf("data directory: %w", err))
	}
	release, err := local.Lock(o.dataDir)
	if err != nil {
		return fail(err)
	}
	defer release()
	if o.fresh {
		files := []string{app.DatabaseFile, app.RootCredentialsFile, secrets.FileName}
		// The root keys of further hosted accounts (--account) too.
		more, _ := filepath.Glob(filepath.Join(o.dataDir, app.RootCredentialsFile+"-*"))
		for _, m := range more {
			if !strings.HasSuffix(m, ".tmp") {
				files = append(files, filepath.Base(m))
			}
		}
		if err := local.Fresh(o.dataDir, files...); err != nil {
			return fail(fmt.Errorf("--fresh: %w", err))
		}
	}
	// serve closes its listener on every way out, before it closes the
	// store; the gateway stops there, so its last audit records are
	// written while the store is open.
	ln := &stopFirstListener{Listener: apiLn}
	endpoint := "http://" + clientAddr(ln.Addr())
	public := o.publicURL
	if public == "" {
		public = endpoint
	}
	cfg := o.appConfig(logger, public)
	cfg.AllowHTTPLoopbackIssuers = true
	auditLines, closeAuditLog, err := o.openAuditLog(os.Stdout)
	if err != nil {
		ln.Close()
		return err
	}
	defer closeAuditLog()
	cfg.AuditLines = auditLines

	agentCtx, stopAgents := context.WithCancel(ctx)
	defer stopAgents()
	var running sync.WaitGroup
	defer running.Wait()
	statePath := filepath.Join(o.dataDir, local.StateFile)
	envPath := filepath.Join(o.dataDir, local.EnvFileName)
	published := false

	ready := func(a *app.App) error {
		logger.Debug("server assembled", "elapsed", time.Since(start))
		secret, err := a.RootSecret(ctx)
		if err != nil {
			return fmt.Errorf("reading the root key: %w", err)
		}
		root := aws.Credentials{AccessKeyID: a.RootAccessKeyID, SecretAccessKey: secret}
		prov := &local.Provision{Endpoint: endpoint, Issuer: public, Region: cfg.Region, AccountID: cfg.AccountID, Root: root, Clusters: o.clusters}
		res, err := prov.Run(ctx)
		if err != nil {
			return err
		}
		for _, c := range res.Created {
			logger.Info("created podid-hosted cluster", "cluster", c)
		}
		logger.Debug("clusters and agent user provisioned", "elapsed", time.Since(start))
		agents, err := startAgents(agentCtx, &running, o.clusters, agentHost, agentPort, endpoint, cfg.Region, res.AgentCredentials, logger)
		if err != nil {
			return err
		}
		gatewayURL := ""
		if gwLn != nil {
			gatewayURL = "http://" + clientAddr(gwLn.Addr())
			stop, err := o.gateway.start(ctx, gwLn, a, cfg.AccountID, cfg.Region, logger.With("component", "gateway"))
			gwLn = nil // start closes it on failure
			if err != nil {
				return err
			}
			ln.setStop(stop)
		}
		st := &local.State{
			PID: os.Getpid(), Endpoint: endpoint, AccountID: cfg.AccountID, Region: cfg.Region,
			AccessKeyID: root.AccessKeyID, SecretAccessKey: root.SecretAccessKey, EnvFile: envPath, StartedAt: start.UTC(),
		}
		for _, ag := range agents {
			st.Clusters = append(st.Clusters, local.ClusterState{Name: ag.cluster, AgentURL: ag.url})
		}
		// The state first: whoever waits for the env file may run exec.
		if err := local.WriteState(o.dataDir, st); err != nil {
			return err
		}
		published = true
		script := st.EnvScript(o.dataDir)
		if err := local.WriteFileAtomic(envPath, []byte(script), 0o600); err != nil {
			return err
		}
		elapsed := time.Since(start)
		logger.Info("podid dev ready", "endpoint", endpoint, "clusters", strings.Join(o.clusters, ","), "gateway", gatewayURL, "elapsed", elapsed)
		var b strings.Builder
		fmt.Fprintf(&b, "# podid dev is ready in %v: %s at %s (account %s, region %s)\n", elapsed.Round(time.Millisecond), clusterList(agents), endpoint, cfg.AccountID, cfg.Region)
		fmt.Fprintf(&b, "# These lines are in %s; load them with: source %s\n", envPath, local.ShellQuote(envPath))
		b.WriteString(script)
		fmt.Fprintf(&b, "# Then run a command as a pod: podid exec -n NAMESPACE -s SERVICE-ACCOUNT -- aws sts get-caller-identity\n")
		for _, acct := range a.Accounts {
			fmt.Fprintf(&b, "# Account %s is hosted too; its root key is in %s (AWS_SHARED_CREDENTIALS_FILE=%s)\n",
				acct, a.AccountCredentialsPaths[acct], local.ShellQuote(a.AccountCredentialsPaths[acct]))
		}
		if a.Broker != nil {
			idCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
			id, err := a.Broker.Identity(idCtx)
			cancel()
			b.WriteString(brokerBanner(o.clusters[0], a.Broker.Region(), a.Broker.STSEndpoint(), id, err))
		}
		if gatewayURL != "" {
			fmt.Fprintf(&b, "# The gateway is at %s; send a pod's %s calls through it with: podid exec -n NAMESPACE -s SERVICE-ACCOUNT%s -- COMMAND\n",
				gatewayURL, o.gateway.services(), o.gateway.execEnvFlags(gatewayURL))
		}
		_, err = io.WriteString(stdout, b.String())
		return err
	}
	err = serve(ctx, ln, cfg, logger, ready)
	if gwLn != nil {
		gwLn.Close() // ready never ran
	}
	if err != nil && errors.Is(err, context.Canceled) && ctx.Err() != nil {
		err = nil // Ctrl-C while starting
	}
	stopAgents()
	running.Wait()
	if published {
		for _, p := range []string{statePath, envPath} {
			if rmErr := os.Remove(p); rmErr != nil && !errors.Is(rmErr, os.ErrNotExist) {
				logger.Warn("removing dev state", "path", p, "error", rmErr)
			}
		}
	}
	return err
}

// brokerBanner is dev's banner paragraph in broker mode: where pods'
// credentials come from, the principal their roles must trust and the
// command that prints that trust policy.
func brokerBanner(cluster, region, stsEndpoint string, id *broker.Identity, idErr error) string {
	if stsEndpoint == "" {
		stsEndpoint = "AWS's own"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# Broker mode (--credential-issuer aws-sts): pods get real AWS credentials from STS (region %s, endpoint %s), and their commands call AWS, not podid.\n", region, stsEndpoint)
	if idErr != nil || id == nil {
		fmt.Fprintf(&b, "# podid's AWS identity is unknown (%v): check the AWS credentials podid dev runs with; pods will get no credentials until STS accepts them.\n", idErr)
		return b.String()
	}
	fmt.Fprintf(&b, "# The broker acts as %s (account %s); each association's role in AWS must trust it:\n", id.PrincipalARN, id.Account)
	fmt.Fprintf(&b, "#   podid trust-policy --cluster %s --namespace NAMESPACE --service-account SERVICE-ACCOUNT\n", local.ShellQuote(cluster))
	return b.String()
}

// busyHint turns a failed bind of addr (given by flag) into an error that
// names the flag, and says what to do when the port is taken.
func busyHint(flag, addr string, err error) error {
	if errors.Is(err, syscall.EADDRINUSE) {
		return fmt.Errorf("%s %s is in use (another podid dev or server?): stop it, or give %s with a free port (%s 127.0.0.1:0 picks one): %w", flag, addr, flag, flag, err)
	}
	return fmt.Errorf("%s %s: %w", flag, addr, err)
}

// stopFirstListener is the server's listener in a dev with a gateway: its
// Close stops the gateway first.
type stopFirstListener struct {
	net.Listener
	mu     sync.Mutex
	stop   func()
	closed bool
}

// setStop sets the function Close calls first, or calls it now if the
// listener is already closed (the server failed while starting).
func (l *stopFirstListener) setStop(stop func()) {
	l.mu.Lock()
	closed := l.closed
	if !closed {
		l.stop = stop
	}
	l.mu.Unlock()
	if closed {
		stop()
	}
}

// Close stops the gateway (once), then closes the listener.
func (l *stopFirstListener) Close() error {
	l.mu.Lock()
	stop := l.stop
	l.stop, l.closed = nil, true
	l.mu.Unlock()
	if stop != nil {
		stop()
	}
	return l.Listener.Close()
}

// startAgents runs one loopback agent per cluster until ctx ends and
// returns once each is bound.
func startAgents(ctx context.Context, running *sync.WaitGroup, clusters []string, host string, port int, endpoint, region string, creds aws.Credentials, logger *slog.Logger) ([]devAgent, error) {
	var out []devAgent
	for i, name := range clusters {
		p := port
		if p != 0 {
			p += i
			// The agent binds with SO_REUSEPORT, which would share the
			// port with a stale agent; a plain bind first detects one.
			probe, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(p)))
			if err != nil {
				return nil, fmt.Errorf("agent of cluster %s: %w", name, err)
			}
			probe.Close()
		}
		// The association change feed purges cached credentials at once,
		// as for a standalone agent with --change-feed-endpoint.
		fc, err := feed.New(feed.Config{Endpoint: endpoint, Cluster: name, Region: region,
			Credentials: staticCredentials(creds), Logger: logger.With("component", "agent-feed", "cluster", name)})
		if err != nil {
			return nil, fmt.Errorf("agent of cluster %s: change feed: %w", name, err)
		}
		ag, err := agent.New(agent.Config{
			Events:          []agent.EventSource{agent.FeedSource{Client: fc}},
			ClusterName:     name,
			BindHosts:       []string{host},
			Port:            p,
			AllowedHosts:    []string{host},
			Endpoint:        endpoint,
			Region:          region,
			Credentials:     staticCredentials(creds),
			UserAgent:       "podid-dev/" + version.Get().Version,
			DrainDelay:      -1,
			ShutdownTimeout: 5 * time.Second,
			Logger:          logger.With("component", "agent", "cluster", name),
		})
		if err != nil {
			return nil, err
		}
		running.Go(func() {
			if err := ag.Run(ctx); err != nil {
				logger.Warn("agent stopped", "cluster", name, "error", err)
			}
		})
		select {
		case <-ag.Started():
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		var bound net.Addr
		var bindErr string
		for _, l := range ag.Listeners() {
			if l.Role == "credentials" {
				bound, bindErr = l.Addr, l.Err
			}
		}
		if bound == nil {
			return nil, fmt.Errorf("agent of cluster %s cannot listen on %s: %s", name, net.JoinHostPort(host, strconv.Itoa(p)), bindErr)
		}
		out = append(out, devAgent{cluster: name, url: "http://" + bound.String() + "/v1/credentials"})
	}
	return out, nil
}

func clusterList(agents []devAgent) string {
	parts := make([]string, len(agents))
	for i, a := range agents {
		parts[i] = "cluster " + a.cluster + " (agent " + a.url + ")"
	}
	return strings.Join(parts, ", ")
}

// loopbackHostPort parses a loopback HOST:PORT.
func loopbackHostPort(hp string) (string, int, error) {
	h, p, err := net.SplitHostPort(hp)
	if err != nil {
		return "", 0, err
	}
	ip, err := netip.ParseAddr(h)
	if err != nil || !ip.IsLoopback() {
		return "", 0, fmt.Errorf("%q is not a loopback address (SDKs accept plain-HTTP container credentials only from loopback)", h)
	}
	port, err := strconv.Atoi(p)
	if err != nil || port < 0 || port > 65535 {
		return "", 0, fmt.Errorf("bad port %q", p)
	}
	return ip.String(), port, nil
}

// clientAddr is the address a local client dials to reach a listener:
// an unspecified bind address is reached through loopback.
func clientAddr(a net.Addr) string {
	ta, ok := a.(*net.TCPAddr)
	if !ok || !ta.IP.IsUnspecified() {
		return a.String()
	}
	if ta.IP.To4() != nil {
		return net.JoinHostPort("127.0.0.1", strconv.Itoa(ta.Port))
	}
	return net.JoinHostPort("::1", strconv.Itoa(ta.Port))
}

// stderrFile returns w as a file for the logger, or os.Stderr.
func stderrFile(w io.Writer) *os.File {
	if f, ok := w.(*os.File); ok {
		return f
	}
	return os.Stderr
}

// staticCredentials is a fixed credentials provider.
type staticCredentials aws.Credentials

func (c staticCredentials) Retrieve(context.Context) (aws.Credentials, error) {
	return aws.Credentials(c), nil
}
