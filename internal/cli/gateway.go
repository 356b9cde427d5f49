package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/spf13/cobra"

	"github.com/podid/podid/internal/app"
	"github.com/podid/podid/internal/auth"
	"github.com/podid/podid/internal/awsproto"
	"github.com/podid/podid/internal/eksauth"
	"github.com/podid/podid/internal/gateway"
	"github.com/podid/podid/internal/policy"
	"github.com/podid/podid/internal/secrets"
	"github.com/podid/podid/internal/sessiontoken"
	"github.com/podid/podid/internal/sharedcreds"
	"github.com/podid/podid/internal/store"
	"github.com/podid/podid/internal/store/backend"
)

// gatewayFlags are the flags of the gateway, shared by `podid gateway` and
// (under --gateway-listen) `podid server` and `podid dev`.
type gatewayFlags struct {
	listen                       string
	dynamoUpstream, s3Upstream   string
	dynamoCredsFile, s3CredsFile string
	upstreamRegion               string
	upstreamTimeout              time.Duration
	soft                         bool
	audit                        string
	auditLog                     string
	virtualHostSuffix            string
	maxBody                      int64
	policyCacheTTL               time.Duration
	// dynamoCreds and s3Creds are the upstreams' keys, resolved by
	// checkUpstreams before anything is opened or bound.
	dynamoCreds, s3Creds *gateway.Credentials
	// getenv reads the environment (os.Getenv when nil).
	getenv func(string) string
	// Only for `podid gateway` (the server has its own).
	dataDir, accountID, region    string
	databaseURL                   string
	masterKeyFile, logFmt, logLvl string
	auditRetention                time.Duration
}

// register adds the gateway's own flags. listenFlag names the listen
// flag: "listen" for `podid gateway`, "gateway-listen" when embedded in
// the server.
func (f *gatewayFlags) register(cmd *cobra.Command, listenFlag, defaultListen string) {
	fl := cmd.Flags()
	fl.StringVar(&f.listen, listenFlag, defaultListen, "HOST:PORT of the gateway (DynamoDB and S3 on one port)")
	fl.StringVar(&f.dynamoUpstream, "dynamodb-upstream", "", "URL of the DynamoDB-compatible store requests are forwarded to (e.g. http://127.0.0.1:8000)")
	fl.StringVar(&f.s3Upstream, "s3-upstream", "", "URL of the S3-compatible store requests are forwarded to (path-style)")
	fl.StringVar(&f.dynamoCredsFile, "dynamodb-upstream-credentials", "", "shared-credentials file whose [default] key signs forwarded DynamoDB requests (default: $AWS_ACCESS_KEY_ID, $AWS_SECRET_ACCESS_KEY, $AWS_SESSION_TOKEN)")
	fl.StringVar(&f.s3CredsFile, "s3-upstream-credentials", "", "shared-credentials file whose [default] key signs forwarded S3 requests (default: the AWS_* environment variables)")
	fl.StringVar(&f.upstreamRegion, "upstream-region", "", "region forwarded requests are signed for (default: --region)")
	fl.DurationVar(&f.upstreamTimeout, "upstream-timeout", gateway.DefaultUpstreamTimeout, "how long to wait for an upstream's response headers")
	fl.BoolVar(&f.soft, "soft", false, "log and record what would be denied, and forward it anyway")
	fl.StringVar(&f.audit, "gateway-audit", "all", "which decisions are recorded in the audit log: all, denied or none")
	fl.StringVar(&f.auditLog, "gateway-audit-log", "", "also write every recorded decision as a JSON line to this file (- for standard output)")
	fl.StringVar(&f.virtualHostSuffix, "s3-virtual-host-suffix", "", "also accept virtual-hosted-style S3 requests to BUCKET.SUFFIX")
	fl.Int64Var(&f.maxBody, "gateway-max-body-bytes", gateway.DefaultMaxBodyBytes, "largest DynamoDB request or signed S3 payload the gateway buffers")
	fl.DurationVar(&f.policyCacheTTL, "gateway-policy-cache-ttl", auth.DefaultPolicyCacheTTL, "how long the gateway reuses a principal's policies read from the store")
}

func newGatewayCommand() *cobra.Command {
	f := &gatewayFlags{}
	cmd := &cobra.Command{
		Use:   "gateway",
		Short: "Authorizing DynamoDB/S3 proxy: verify podid credentials, decide with IAM policies, forward to an upstream store",
		Long: `podid gateway verifies the SigV4 signature of DynamoDB and S3 requests made with podid's
credentials, decides each with the caller's IAM policies (session tags, session policies and
permissions boundaries included), records the decision and forwards allowed requests to an
upstream store re-signed with the upstream's own credentials.

It reads the identities of an existing podid data directory (the same one ` + "`podid server`" + `
uses; both may run at once). See docs/gateway.md.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return f.runStandalone(cmd.Context())
		},
	}
	f.register(cmd, "listen", "127.0.0.1:8090")
	fl := cmd.Flags()
	fl.StringVar(&f.dataDir, "data-dir", "./podid-data", "the podid server's data directory")
	fl.StringVar(&f.databaseURL, "database-url", "", "the podid servers' PostgreSQL URL (postgres://…) instead of the SQLite database in --data-dir (default $"+backend.EnvURL+")")
	fl.StringVar(&f.accountID, "account-id", app.DefaultAccountID, "the account podid serves (as given to podid server)")
	fl.StringVar(&f.region, "region", app.DefaultRegion, "the region of DynamoDB ARNs and of accepted signatures (as given to podid server)")
	fl.StringVar(&f.masterKeyFile, "master-key-file", "", "master key for secrets at rest (default: $PODID_MASTER_KEY, else DATA-DIR/master.key)")
	fl.StringVar(&f.logFmt, "log-format", "text", "log format: text or json")
	fl.StringVar(&f.logLvl, "log-level", "info", "log level: debug, info, warn or error")
	fl.DurationVar(&f.auditRetention, "audit-retention", 0, "delete audit records older than this (0: leave pruning to podid server)")
	return cmd
}

// runStandalone opens the data directory and serves the gateway until ctx
// ends.
func (f *gatewayFlags) runStandalone(ctx context.Context) error {
	sf := serverFlags{logFormat: f.logFmt, logLevel: f.logLvl}
	logger, err := sf.logger(os.Stderr)
	if err != nil {
		return err
	}
	if f.dynamoUpstream == "" && f.s3Upstream == "" {
		return errors.New("give at least one of --dynamodb-upstream and --s3-upstream")
	}
	if err := f.checkUpstreams(); err != nil {
		return err
	}
	getenv := f.env()
	bc := backend.Config{URL: backend.URL(f.databaseURL, getenv), DataDir: f.dataDir, MustExist: true}
	kind, err := backend.Select(bc)
	if err != nil {
		return err
	}
	keyDir := f.dataDir
	if kind == backend.PostgreSQL {
		keyDir = "" // the servers' shared key, never a new one
	} else if err := backend.CheckExists(bc); err != nil {
		return err // before a master key could be created in an empty directory
	}
	kr, _, err := secrets.Resolve(getenv, f.masterKeyFile, keyDir)
	if err != nil {
		return fmt.Errorf("master key: %w", err)
	}
	st, opened, err := backend.Open(ctx, bc)
	if err != nil {
		return fmt.Errorf("opening the store: %w", err)
	}
	defer st.Close()
	logger.Info("store opened", "backend", string(opened.Kind), "database", opened.Where)
	if err := app.CheckAccount(ctx, st, kr, f.accountID, time.Now()); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", f.listen)
	if err != nil {
		return err
	}
	return f.serve(ctx, ln, st, kr, f.accountID, f.region, logger)
}

// listenEmbedded checks the flags of a gateway embedded in a server
// (--gateway-listen) and binds its address, so that a busy port fails
// before the server starts. It returns nil when no address is set.
func (f *gatewayFlags) listenEmbedded() (net.Listener, error) {
	if f.listen == "" {
		return nil, nil
	}
	if f.dynamoUpstream == "" && f.s3Upstream == "" {
		return nil, errors.New("--gateway-listen needs --dynamodb-upstream or --s3-upstream")
	}
	if err := f.checkUpstreams(); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", f.listen)
	if err != nil {
		return nil, fmt.Errorf("gateway: %w", err)
	}
	return ln, nil
}

// start assembles the gateway on a's store and keyring and serves it on
// ln in the background until ctx ends or stop is called. stop waits until
// the gateway has stopped and its audit records are written, so call it
// before the store closes. A gateway that cannot be assembled is an
// error here, not in the background.
func (f *gatewayFlags) start(ctx context.Context, ln net.Listener, a *app.App, accountID, region string, logger *slog.Logger) (stop func(), err error) {
	gw, auditor, err := f.build(ctx, a.Store, a.Keyring, accountID, region, logger)
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("gateway: %w", err)
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- f.run(ctx, ln, gw, auditor, logger) }()
	var once sync.Once
	return func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				logger.Error("gateway stopped", "err", err)
			}
		})
	}, nil
}

func (f *gatewayFlags) env() func(string) string {
	if f.getenv != nil {
		return f.getenv
	}
	return os.Getenv
}

// serve runs the gateway on ln with identities from st and kr until ctx
// ends.
func (f *gatewayFlags) serve(ctx context.Context, ln net.Listener, st store.Store, kr *secrets.Keyring, accountID, region string, logger *slog.Logger) error {
	gw, auditor, err := f.build(ctx, st, kr, accountID, region, logger)
	if err != nil {
		ln.Close()
		return err
	}
	return f.run(ctx, ln, gw, auditor, logger)
}

// run serves gw on ln until ctx ends, then shuts it down and waits for
// the auditor to write what it holds.
func (f *gatewayFlags) run(ctx context.Context, ln net.Listener, gw *gateway.Gateway, auditor *eksauth.Auditor, logger *slog.Logger) error {
	defer ln.Close()
	defer gw.Close()
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	if auditor != nil {
		go auditor.Run(runCtx)
	}
	srv := &http.Server{
		Handler:           gw,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	logger.Info("podid gateway listening", "address", ln.Addr().String(), "dynamodbUpstream", f.dynamoUpstream,
		"s3Upstream", f.s3Upstream, "soft", f.soft)
	select {
	case <-ctx.Done():
	case err := <-serveErr:
		cancel()
		if auditor != nil {
			<-auditor.Flushed()
		}
		return err
	}
	shutdownCtx, done := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer done()
	err := srv.Shutdown(shutdownCtx)
	cancel()
	if auditor != nil {
		<-auditor.Flushed()
	}
	return err
}

// build assembles the gateway: a credential resolver and an authorizer of
// its own over the store (temporary credentials open from their session
// token without a store read; policy sets are cached for
// --gateway-policy-cache-ttl), the upstreams and the auditor.
func (f *gatewayFlags) build(ctx context.Context, st store.Store, kr *secrets.Keyring, accountID, region string, logger *slog.Logger) (*gateway.Gateway, *eksauth.Auditor, error) {
	keeper, err := sessiontoken.NewKeeper(ctx, st, kr, time.Now)
	if err != nil {
		return nil, nil, fmt.Errorf("session-token keys: %w", err)
	}
	resolver, err := auth.NewResolver(auth.ResolverConfig{Store: st, Keyring: kr, Sessions: keeper, AccountID: accountID})
	if err != nil {
		return nil, nil, err
	}
	authz := auth.NewAuthorizer(auth.AuthorizerConfig{Store: st, Engine: policy.NewEngine(policy.DefaultMaxCached),
		AccountID: accountID, CacheTTL: f.policyCacheTTL})
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	cfg := gateway.Config{
		Metrics:  gateway.NewMetrics(reg),
		Gatherer: reg,
		StoreReady: func(ctx context.Context) error {
			return st.View(ctx, func(tx store.Tx) error {
				_, err := tx.LatestRevision()
				return err
			})
		},
		Verifier: &awsproto.Verifier{Lookup: resolver, ServedRegion: region, AllowRegion: func(service, r string) bool {
			return (service == "dynamodb" || service == "s3") && r == region
		}},
		Authorizer:          authz,
		AccountID:           accountID,
		Region:              region,
		Soft:                f.soft,
		Logger:              logger,
		MaxBodyBytes:        f.maxBody,
		S3VirtualHostSuffix: f.virtualHostSuffix,
	}
	if err := f.checkUpstreams(); err != nil {
		return nil, nil, err
	}
	if f.dynamoUpstream != "" {
		cfg.DynamoDB = &gateway.Upstream{URL: f.dynamoUpstream, Credentials: *f.dynamoCreds, Region: f.upstreamRegion, Timeout: f.upstreamTimeout}
	}
	if f.s3Upstream != "" {
		cfg.S3 = &gateway.Upstream{URL: f.s3Upstream, Credentials: *f.s3Creds, Region: f.upstreamRegion, Timeout: f.upstreamTimeout}
	}
	var auditor *eksauth.Auditor
	switch f.audit {
	case "all", "denied":
		lines, err := f.auditLines()
		if err != nil {
			return nil, nil, err
		}
		auditor = eksauth.NewAuditor(eksauth.AuditorConfig{Store: st, Lines: lines, Retention: f.auditRetention, Logger: logger})
		cfg.Audit = auditor
		cfg.AuditDenialsOnly = f.audit == "denied"
	case "none":
	default:
		return nil, nil, fmt.Errorf("--gateway-audit must be all, denied or none, not %q", f.audit)
	}
	gw, err := gateway.New(cfg)
	if err != nil {
		return nil, nil, err
	}
	return gw, auditor, nil
}

// auditLines opens --gateway-audit-log.
func (f *gatewayFlags) auditLines() (io.Writer, error) {
	switch f.auditLog {
	case "":
		return nil, nil
	case "-":
		return os.Stdout, nil
	}
	file, err := os.OpenFile(f.auditLog, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("--gateway-audit-log: %w", err)
	}
	return file, nil
}

// LoopbackUpstreamKey signs requests to a loopback upstream given no
// credentials: local emulators need a signature but no real key
// (dynalite and DynamoDB Local accept any; s3rver expects S3RVER/S3RVER).
const LoopbackUpstreamKey = "S3RVER"

// checkUpstreams resolves each upstream's credentials once, so that a
// gateway that cannot sign fails before a store is opened or a port
// bound, with the flag that fixes it.
func (f *gatewayFlags) checkUpstreams() error {
	for _, u := range []struct {
		name, url, file, flag string
		dst                   **gateway.Credentials
	}{
		{"DynamoDB", f.dynamoUpstream, f.dynamoCredsFile, "--dynamodb-upstream-credentials", &f.dynamoCreds},
		{"S3", f.s3Upstream, f.s3CredsFile, "--s3-upstream-credentials", &f.s3Creds},
	} {
		if u.url == "" || *u.dst != nil {
			continue
		}
		c, err := f.upstreamCredentials(u.url, u.file)
		if err != nil {
			return fmt.Errorf("the %s upstream %s: %w: give %s FILE (a shared-credentials file) or set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (a loopback upstream needs none)",
				u.name, u.url, err, u.flag)
		}
		*u.dst = &c
	}
	return nil
}

// upstreamCredentials reads an upstream's key from a shared-credentials
// file, or from the standard AWS_* environment variables; a loopback
// upstream without either is signed with LoopbackUpstreamKey.
func (f *gatewayFlags) upstreamCredentials(upstream, file string) (gateway.Credentials, error) {
	if file != "" {
		return readUpstreamCredentials(file)
	}
	getenv := f.env()
	c := gateway.Credentials{AccessKeyID: getenv("AWS_ACCESS_KEY_ID"), SecretAccessKey: getenv("AWS_SECRET_ACCESS_KEY"), SessionToken: getenv("AWS_SESSION_TOKEN")}
	if c.AccessKeyID != "" && c.SecretAccessKey != "" {
		return c, nil
	}
	if isLoopbackURL(upstream) {
		return gateway.Credentials{AccessKeyID: LoopbackUpstreamKey, SecretAccessKey: LoopbackUpstreamKey}, nil
	}
	return c, errors.New("no credentials to sign forwarded requests with")
}

// isLoopbackURL reports whether u's host is a loopback address or
// localhost.
func isLoopbackURL(u string) bool {
	parsed, err := url.Parse(u)
	if err != nil {
		return false
	}
	h := parsed.Hostname()
	if h == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(h)
	return err == nil && ip.IsLoopback()
}

// readUpstreamCredentials reads the [default] profile of a
// shared-credentials file (any access key format: upstreams are not podid).
func readUpstreamCredentials(path string) (gateway.Credentials, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return gateway.Credentials{}, err
	}
	k, err := sharedcreds.Parse(data)
	if err != nil {
		return gateway.Credentials{}, fmt.Errorf("%s: %w", path, err)
	}
	return gateway.Credentials{AccessKeyID: k.AccessKeyID, SecretAccessKey: k.SecretAccessKey, SessionToken: k.SessionToken}, nil
}

// services names the services the gateway forwards, for messages.
func (f *gatewayFlags) services() string {
	switch {
	case f.dynamoUpstream != "" && f.s3Upstream != "":
		return "DynamoDB and S3"
	case f.s3Upstream != "":
		return "S3"
	}
	return "DynamoDB"
}

// execEnvFlags are the `podid exec` flags that point a pod's SDK at the
// gateway at url for the services it forwards, each after a space.
func (f *gatewayFlags) execEnvFlags(url string) string {
	var b strings.Builder
	if f.dynamoUpstream != "" {
		b.WriteString(" --env AWS_ENDPOINT_URL_DYNAMODB=" + url)
	}
	if f.s3Upstream != "" {
		b.WriteString(" --env AWS_ENDPOINT_URL_S3=" + url)
	}
	return b.String()
}
