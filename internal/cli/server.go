package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/podid/podid/internal/app"
	"github.com/podid/podid/internal/broker"
	"github.com/podid/podid/internal/eksauth"
	"github.com/podid/podid/internal/server"
	"github.com/podid/podid/internal/store/backend"
)

// serverFlags are the flags `podid server` and `podid dev` share.
type serverFlags struct {
	listen, dataDir, accountID, region, publicURL            string
	databaseURL                                              string
	masterKeyFile, bootstrapCreds                            string
	logFormat, logLevel                                      string
	podSessionDuration                                       time.Duration
	agentSessionDuration                                     time.Duration
	rateLimit                                                float64
	callerRefusalRate, callerRefusalBurst, podRate, podBurst float64
	auditRetention                                           time.Duration
	auditLog                                                 string
	agentImage, agentEndpoint                                string
	// accounts are further hosted accounts (--account, PODID_ACCOUNTS).
	accounts []string
	// Limits on untrusted input (docs/security.md).
	limits    server.Limits
	accessLog bool
	// Broker mode (docs/broker.md).
	credentialIssuer, brokerSTSEndpoint, brokerIAMEndpoint, brokerRegion string
}

func (f *serverFlags) register(cmd *cobra.Command, defaultListen, defaultDataDir string) {
	fl := cmd.Flags()
	fl.StringVar(&f.listen, "listen", defaultListen, "HOST:PORT of the one API port")
	fl.StringVar(&f.dataDir, "data-dir", defaultDataDir, "directory for the SQLite database, master key and root credentials")
	fl.StringVar(&f.databaseURL, "database-url", "", "PostgreSQL URL (postgres://…) shared by every replica instead of SQLite in --data-dir (default $"+backend.EnvURL+"; prefer the variable: command lines are visible to other users)")
	fl.StringVar(&f.accountID, "account-id", app.DefaultAccountID, "the 12-digit account podid serves")
	fl.StringArrayVar(&f.accounts, "account", nil, "a further 12-digit account to host beside --account-id, with its own IAM and root key (DATA-DIR/root-credentials-ACCOUNT); repeatable (default: $PODID_ACCOUNTS, comma-separated)")
	fl.StringVar(&f.region, "region", app.DefaultRegion, "the region in ARNs and EKS endpoints")
	fl.StringVar(&f.publicURL, "public-url", "", "base URL clients and clusters reach the server at (default http://LISTEN)")
	fl.StringVar(&f.masterKeyFile, "master-key-file", "", "master key for secrets at rest (default: $PODID_MASTER_KEY, else DATA-DIR/master.key, created if absent)")
	fl.StringVar(&f.bootstrapCreds, "bootstrap-credentials", "", "shared-credentials file whose [default] key becomes the root key on first start")
	fl.StringVar(&f.logFormat, "log-format", "text", "log format: text or json")
	fl.StringVar(&f.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	fl.DurationVar(&f.podSessionDuration, "pod-session-duration", 6*time.Hour, "lifetime of credentials EKS Auth issues to pods")
	fl.DurationVar(&f.agentSessionDuration, "agent-session-duration", time.Hour, "lifetime of the node agents' own credentials (the agent exchange); also how long a deleted agent pod's last credentials stay usable (15m-12h)")
	fl.Float64Var(&f.rateLimit, "eks-auth-rate-limit", 0, "per-cluster AssumeRoleForPodIdentity calls per second (0: unlimited)")
	fl.Float64Var(&f.callerRefusalRate, "eks-auth-caller-refusal-rate", eksauth.DefaultCallerRefusalRate, "refused AssumeRoleForPodIdentity calls per second one calling agent (node) may cause per cluster before its calls are throttled (0: unlimited)")
	fl.Float64Var(&f.callerRefusalBurst, "eks-auth-caller-refusal-burst", eksauth.DefaultCallerRefusalBurst, "burst of --eks-auth-caller-refusal-rate")
	fl.Float64Var(&f.podRate, "eks-auth-pod-rate", eksauth.DefaultPodRate, "credentials issued per second to one pod (its token's pod UID) (0: unlimited)")
	fl.Float64Var(&f.podBurst, "eks-auth-pod-burst", eksauth.DefaultPodBurst, "burst of --eks-auth-pod-rate")
	fl.DurationVar(&f.auditRetention, "audit-retention", 30*24*time.Hour, "how long audit records are kept (0: forever)")
	fl.StringVar(&f.auditLog, "audit-log", "", "also append every EKS Auth audit record to this file as JSON lines (- for standard output)")
	fl.StringVar(&f.agentImage, "agent-image", app.DefaultAgentImage, "image of the agent DaemonSet that create-addon installs on external clusters with API access")
	fl.StringVar(&f.agentEndpoint, "agent-endpoint", "", "server URL that installed agents call (default: --public-url)")
	fl.Int64Var(&f.limits.MaxBodyBytes, "max-body-bytes", server.DefaultMaxBodyBytes, "largest request body the API port reads (413 RequestEntityTooLarge beyond)")
	fl.Int64Var(&f.limits.MaxInflightBodyBytes, "max-inflight-body-bytes", server.DefaultMaxInflightBodyBytes, "request-body bytes held at once over all requests (503 ServiceUnavailable beyond)")
	fl.IntVar(&f.limits.MaxConnections, "max-connections", server.DefaultMaxConnections, "open connections to the API port at once (more wait to be accepted)")
	fl.DurationVar(&f.limits.ReadHeaderTimeout, "read-header-timeout", server.DefaultReadHeaderTimeout, "time a connection has to send a request's headers")
	fl.DurationVar(&f.limits.ReadTimeout, "read-timeout", server.DefaultReadTimeout, "time a connection has to send a whole request, body included")
	fl.DurationVar(&f.limits.IdleTimeout, "idle-timeout", server.DefaultIdleTimeout, "time a keep-alive connection may stay idle between requests")
	fl.BoolVar(&f.accessLog, "access-log", false, "log one line per API request (request ID, caller, operation, status, latency; never secrets)")
	fl.StringVar(&f.credentialIssuer, "credential-issuer", broker.IssuerLocal, "how EKS Auth issues pod credentials: local (podid's STS) or aws-sts (broker mode: real AWS STS with podid's AWS credentials); clusters may override it with the tag "+broker.ClusterTag)
	fl.StringVar(&f.brokerSTSEndpoint, "broker-sts-endpoint", "", "broker mode: AWS STS endpoint URL (default: AWS's regional endpoint, or $AWS_ENDPOINT_URL_STS)")
	fl.StringVar(&f.brokerIAMEndpoint, "broker-iam-endpoint", "", "broker mode: AWS IAM endpoint URL for role checks (default: AWS's, or $AWS_ENDPOINT_URL_IAM)")
	fl.StringVar(&f.brokerRegion, "broker-region", "", "broker mode: AWS region of STS calls (default: the AWS SDK's region, else --region)")
}

// hostedAccounts are the --account flags, else PODID_ACCOUNTS split at
// commas.
func (f *serverFlags) hostedAccounts(getenv func(string) string) []string {
	if len(f.accounts) > 0 {
		return f.accounts
	}
	var out []string
	for _, a := range strings.Split(getenv(EnvAccounts), ",") {
		if a = strings.TrimSpace(a); a != "" {
			out = append(out, a)
		}
	}
	return out
}

// EnvAccounts names the further hosted accounts when --account is not given.
const EnvAccounts = "PODID_ACCOUNTS"

func (f *serverFlags) logger(w *os.File) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(f.logLevel)); err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	opts := &slog.HandlerOptions{Level: level}
	switch f.logFormat {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log-format must be text or json, not %q", f.logFormat)
}

func (f *serverFlags) appConfig(logger *slog.Logger, publicURL string) app.Config {
	return app.Config{
		DataDir:              f.dataDir,
		DatabaseURL:          backend.URL(f.databaseURL, os.Getenv),
		AccountID:            f.accountID,
		Accounts:             f.hostedAccounts(os.Getenv),
		Region:               f.region,
		PublicURL:            publicURL,
		MasterKeyFile:        f.masterKeyFile,
		BootstrapCredentials: f.bootstrapCreds,
		Logger:               logger,
		PodSessionDuration:   f.podSessionDuration,
		AgentSessionDuration: f.agentSessionDuration,
		EKSAuthRateLimit:     f.rateLimit,
		EKSAuthFairLimits:    f.fairLimits(),
		AuditRetention:       f.auditRetention,
		CredentialIssuer:     f.credentialIssuer,
		AgentImage:           f.agentImage,
		AgentEndpoint:        f.agentEndpoint,
		Limits:               f.limits,
		AccessLog:            f.accessLog,
		Broker: broker.Config{
			STSEndpoint: f.brokerSTSEndpoint,
			IAMEndpoint: f.brokerIAMEndpoint,
			Region:      f.brokerRegion,
		},
	}
}

// fairLimits maps the flags onto eksauth's limits: a rate of 0 on the
// command line means unlimited (negative for the library).
func (f *serverFlags) fairLimits() eksauth.FairLimits {
	l := eksauth.FairLimits{CallerRefusalRate: f.callerRefusalRate, CallerRefusalBurst: f.callerRefusalBurst, PodRate: f.podRate, PodBurst: f.podBurst}
	if l.CallerRefusalRate <= 0 {
		l.CallerRefusalRate = -1
	}
	if l.PodRate <= 0 {
		l.PodRate = -1
	}
	return l
}

func newServerCommand() *cobra.Command {
	var f serverFlags
	cmd := &cobra.Command{
		Use:   "server",
		Short: "Serve podid's AWS-compatible APIs (IAM, STS, EKS, EKS Auth) on one port",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			logger, err := f.logger(os.Stderr)
			if err != nil {
				return err
			}
			ln, err := net.Listen("tcp", f.listen)
			if err != nil {
				return err
			}
			public := f.publicURL
			if public == "" {
				public = "http://" + ln.Addr().String()
			}
			cfg := f.appConfig(logger, public)
			lines, closeLog, err := f.openAuditLog(cmd.OutOrStdout())
			if err != nil {
				ln.Close()
				return err
			}
			defer closeLog()
			cfg.AuditLines = lines
			return serve(cmd.Context(), ln, cfg, logger, nil)
		},
	}
	f.register(cmd, "127.0.0.1:8080", "./podid-data")
	return cmd
}

// openAuditLog opens --audit-log for appending (nil when unset).
func (f *serverFlags) openAuditLog(stdout io.Writer) (io.Writer, func(), error) {
	switch f.auditLog {
	case "":
		return nil, func() {}, nil
	case "-":
		return stdout, func() {}, nil
	}
	file, err := os.OpenFile(f.auditLog, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, nil, fmt.Errorf("--audit-log: %w", err)
	}
	return file, func() { file.Close() }, nil
}

// serve runs a podid server on ln until ctx ends. ready, when set, is
// called once the server accepts requests.
func serve(ctx context.Context, ln net.Listener, cfg app.Config, logger *slog.Logger, ready func(*app.App) error) error {
	a, err := app.New(ctx, cfg)
	if err != nil {
		ln.Close()
		return err
	}
	defer a.Close()
	srv := cfg.Limits.HTTPServer(a.Handler, slog.NewLogLogger(logger.Handler(), slog.LevelWarn))
	ln = cfg.Limits.Listener(ln)
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	bg := make(chan error, 1)
	go func() { bg <- a.Run(runCtx) }()
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	logger.Info("podid server listening", "address", ln.Addr().String(), "account", cfg.AccountID, "region", cfg.Region, "rootCredentials", a.RootCredentialsPath)
	for _, acct := range a.Accounts {
		logger.Info("hosting account", "account", acct, "rootCredentials", a.AccountCredentialsPaths[acct])
	}
	if ready != nil {
		if err := ready(a); err != nil {
			cancel()
			srv.Close()
			return err
		}
	}
	select {
	case <-ctx.Done():
	case err := <-serveErr:
		cancel()
		return err
	case err := <-bg:
		if err != nil {
			srv.Close()
			return fmt.Errorf("background work stopped: %w", err)
		}
	}
	logger.Info("shutting down")
	shutdownCtx, done := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer done()
	err = srv.Shutdown(shutdownCtx)
	cancel()
	if bgErr := <-bg; bgErr != nil && err == nil && !errors.Is(bgErr, context.Canceled) {
		err = bgErr
	}
	return err
}
