package cli

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/spf13/cobra"

	"github.com/podid/podid/internal/agent"
	"github.com/podid/podid/internal/eks/feed"
	"github.com/podid/podid/internal/k8s"
	"github.com/podid/podid/internal/version"
)

// agentOptions are `podid agent`'s flags. The first group has the names,
// defaults and meaning of eks-pod-identity-agent's `server` flags, so a
// manifest written for it needs only its image and command changed.
type agentOptions struct {
	clusterName    string
	port           int
	bindHosts      []string
	probePort      int
	metricsAddress string
	metricsPort    int
	endpoint       string
	maxCacheSize   int
	retention      time.Duration
	maxServiceQPS  float64
	rotateCreds    bool
	verbosity      string

	region             string
	allowedHosts       []string
	probeAddress       string
	manageAddresses    bool
	linkName           string
	refreshConcurrency int
	upstreamTimeout    time.Duration
	readyWindow        time.Duration
	drainDelay         time.Duration
	changeFeed         string
	tokenIssuer        string
	negativeCacheTTL   time.Duration
	negativeCacheSize  int
	identityTokenFile  string
}

func newAgentCommand() *cobra.Command {
	var o agentOptions
	cmd := &cobra.Command{
		Use:   "agent",
		Short: "Run the node agent (a drop-in for eks-pod-identity-agent server)",
		Long: `Serve container credentials to pods on 169.254.170.23:80 and [fd00:ec2::23]:80,
exchanging each pod's service-account token with EKS Auth. Accepts the flags of
eks-pod-identity-agent's "server" command with the same meaning. With CAP_NET_ADMIN
the agent adds its addresses to a dummy link itself; no init container is needed.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runAgent(cmd.Context(), cmd, &o)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&o.clusterName, "cluster-name", "c", "", "cluster name sent to EKS Auth (required)")
	f.IntVarP(&o.port, "port", "p", agent.DefaultPort, "credential listener port")
	f.StringSliceVarP(&o.bindHosts, "bind-hosts", "b", agent.DefaultBindHosts, "credential listener addresses (repeatable)")
	f.IntVar(&o.probePort, "probe-port", agent.DefaultProbePort, "port of the /healthz and /readyz server on --probe-address")
	f.StringVar(&o.metricsAddress, "metrics-address", "0.0.0.0", "metrics server address (empty disables it)")
	f.IntVar(&o.metricsPort, "metrics-port", agent.DefaultMetricsPort, "metrics server port")
	f.StringVar(&o.endpoint, "endpoint", "", "EKS Auth endpoint URL (default https://eks-auth.<region>.api.aws)")
	f.IntVar(&o.maxCacheSize, "max-cache-size", agent.DefaultMaxCacheSize, "maximum cached pods (0 disables the cache)")
	f.DurationVar(&o.retention, "max-credential-retention-before-renewal", agent.DefaultMaxRetention, "longest time before cached credentials are renewed (0 disables the cache)")
	f.Float64Var(&o.maxServiceQPS, "max-service-qps", agent.DefaultMaxServiceQPS, "background refresh calls per second to EKS Auth")
	f.BoolVar(&o.rotateCreds, "rotate-credentials", false, "re-read the node's shared credentials file every minute (hybrid nodes)")
	f.StringVarP(&o.verbosity, "verbosity", "v", "info", "log level: panic, error, warn, info, debug or trace")

	f.StringVar(&o.region, "region", "", "AWS region for signing (default from the SDK configuration, e.g. AWS_REGION)")
	f.StringSliceVar(&o.allowedHosts, "allowed-hosts", agent.DefaultAllowedHosts, "accepted Host header values")
	f.StringVar(&o.probeAddress, "probe-address", "localhost", "probe server address (empty disables it)")
	f.BoolVar(&o.manageAddresses, "manage-addresses", true, "add bind addresses that are not local to --link-name (needs CAP_NET_ADMIN)")
	f.StringVar(&o.linkName, "link-name", agent.DefaultLinkName, "link that carries the bind addresses; created as a dummy link if missing")
	f.IntVar(&o.refreshConcurrency, "refresh-concurrency", agent.DefaultRefreshConcurrency, "background refreshes in progress at once")
	f.DurationVar(&o.upstreamTimeout, "upstream-timeout", agent.DefaultUpstreamTimeout, "deadline of one EKS Auth exchange, retries included")
	f.DurationVar(&o.readyWindow, "ready-window", agent.DefaultReadyWindow, "ready only if EKS Auth answered within this window")
	f.DurationVar(&o.drainDelay, "drain-delay", agent.DefaultDrainDelay, "keep serving this long after SIGTERM so a successor can take over")
	f.StringVar(&o.changeFeed, "change-feed-endpoint", "", "podid server URL whose association change feed purges cached credentials at once (empty: none)")
	f.StringVar(&o.tokenIssuer, "token-issuer", "", "service-account issuer URL; its OIDC keys verify rotated tokens locally, so they are served from the cache (empty: EKS Auth verifies them)")
	f.DurationVar(&o.negativeCacheTTL, "negative-cache-ttl", agent.DefaultNegativeCacheTTL, "answer EKS Auth's refusal of a token (4xx other than throttling) from memory for this long (0 disables)")
	f.IntVar(&o.negativeCacheSize, "negative-cache-size", agent.DefaultNegativeCacheSize, "most refusals remembered; the oldest go first (0 disables)")
	f.StringVar(&o.identityTokenFile, "identity-token-file", "", "the agent's projected service-account token (audience "+k8s.AgentAudience+"); exchanged with podid for credentials bound to this node, renewed before they expire, instead of the SDK's credential chain (needs --endpoint: the podid server)")
	_ = cmd.MarkFlagRequired("cluster-name")

	cmd.AddCommand(newAgentInitializeCommand())
	return cmd
}

func runAgent(ctx context.Context, cmd *cobra.Command, o *agentOptions) error {
	level, err := parseVerbosity(o.verbosity)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewJSONHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: level}))

	var loadOpts []func(*config.LoadOptions) error
	if o.region != "" {
		loadOpts = append(loadOpts, config.WithRegion(o.region))
	}
	awsCfg, err := config.LoadDefaultConfig(ctx, loadOpts...)
	if err != nil {
		return fmt.Errorf("agent: load AWS configuration: %w", err)
	}
	creds := awsCfg.Credentials
	if o.rotateCreds {
		creds = aws.NewCredentialsCache(rereadingCredentials{opts: loadOpts})
	}
	roots, err := caBundle(os.Getenv("AWS_CA_BUNDLE"))
	if err != nil {
		return err
	}
	var identity *agent.Identity
	if o.identityTokenFile != "" {
		if o.rotateCreds {
			return errors.New("agent: --identity-token-file and --rotate-credentials exclude each other")
		}
		if o.endpoint == "" {
			return errors.New("agent: --identity-token-file needs --endpoint, the podid server's URL")
		}
		ic := &http.Client{Timeout: 10 * time.Second}
		if roots != nil {
			ic.Transport = &http.Transport{Proxy: http.ProxyFromEnvironment, TLSClientConfig: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}}
		}
		identity, err = agent.NewIdentity(agent.IdentityConfig{Endpoint: o.endpoint, ClusterName: o.clusterName, TokenFile: o.identityTokenFile,
			HTTPClient: ic, UserAgent: "podid-agent/" + version.Get().Version, Logger: log})
		if err != nil {
			return err
		}
		// The agent's own node-bound credentials sign its calls to EKS
		// Auth and the change feed; the SDK's chain is not consulted.
		creds = identity
		log.Info("agent identity: exchanging the projected token for node-bound credentials", "tokenFile", o.identityTokenFile)
	}

	cfg := agent.Config{
		ClusterName:        o.clusterName,
		BindHosts:          o.bindHosts,
		Port:               o.port,
		AllowedHosts:       o.allowedHosts,
		Endpoint:           o.endpoint,
		Region:             awsCfg.Region,
		Credentials:        creds,
		Identity:           identity,
		RootCAs:            roots,
		UserAgent:          "podid-agent/" + version.Get().Version,
		MaxCacheSize:       o.maxCacheSize,
		MaxRetention:       o.retention,
		MaxServiceQPS:      o.maxServiceQPS,
		RefreshConcurrency: o.refreshConcurrency,
		UpstreamTimeout:    o.upstreamTimeout,
		ReadyWindow:        o.readyWindow,
		DrainDelay:         o.drainDelay,
		NegativeCacheTTL:   o.negativeCacheTTL,
		NegativeCacheSize:  o.negativeCacheSize,
		ManageAddresses:    o.manageAddresses,
		LinkName:           o.linkName,
		Logger:             log,
	}
	// The official agent's 0 means "no cache"; the library's is "default".
	if o.maxCacheSize == 0 {
		cfg.MaxCacheSize = -1
	}
	if o.retention == 0 {
		cfg.MaxRetention = -1
	}
	if o.maxServiceQPS == 0 {
		cfg.MaxServiceQPS = -1
	}
	if o.drainDelay == 0 {
		cfg.DrainDelay = -1
	}
	if o.negativeCacheTTL <= 0 || o.negativeCacheSize <= 0 {
		cfg.NegativeCacheTTL, cfg.NegativeCacheSize = -1, -1
	}
	if o.probeAddress != "" {
		cfg.ProbeAddr = net.JoinHostPort(o.probeAddress, strconv.Itoa(o.probePort))
	}
	if o.metricsAddress != "" {
		cfg.MetricsAddr = net.JoinHostPort(o.metricsAddress, strconv.Itoa(o.metricsPort))
	}
	if o.changeFeed != "" {
		var hc *http.Client
		if roots != nil {
			hc = &http.Client{Transport: &http.Transport{Proxy: http.ProxyFromEnvironment, TLSClientConfig: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}}}
		}
		fc, err := feed.New(feed.Config{
			Endpoint: o.changeFeed, Cluster: o.clusterName, Region: awsCfg.Region,
			Credentials: creds, HTTPClient: hc, Logger: log,
		})
		if err != nil {
			return fmt.Errorf("agent: change feed: %w", err)
		}
		cfg.Events = []agent.EventSource{agent.FeedSource{Client: fc}}
	}
	if o.tokenIssuer != "" {
		kc := &http.Client{Timeout: 5 * time.Second}
		if roots != nil {
			kc.Transport = &http.Transport{Proxy: http.ProxyFromEnvironment, TLSClientConfig: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}}
		}
		cfg.TokenVerifier = agent.K8sVerifier{Keys: k8s.NewRemoteKeys(o.tokenIssuer, kc), Issuer: o.tokenIssuer}
	}
	a, err := agent.New(cfg)
	if err != nil {
		return err
	}
	return a.Run(ctx)
}

// parseVerbosity maps the official agent's logrus levels onto slog's.
func parseVerbosity(v string) (slog.Level, error) {
	switch strings.ToLower(v) {
	case "panic", "fatal", "error":
		return slog.LevelError, nil
	case "warn", "warning":
		return slog.LevelWarn, nil
	case "info":
		return slog.LevelInfo, nil
	case "debug", "trace":
		return slog.LevelDebug, nil
	}
	return 0, fmt.Errorf("agent: unknown verbosity %q (panic, error, warn, info, debug, trace)", v)
}

// caBundle loads extra trust roots from AWS_CA_BUNDLE, as the SDK does.
func caBundle(path string) (*x509.CertPool, error) {
	if path == "" {
		return nil, nil
	}
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("agent: read AWS_CA_BUNDLE: %w", err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("agent: AWS_CA_BUNDLE %s holds no PEM certificate", path)
	}
	return pool, nil
}

// rereadingCredentials resolves the SDK's default chain afresh on every
// retrieval and caps the result at a minute, so a credentials file that a
// node process rotates is re-read (the official --rotate-credentials).
type rereadingCredentials struct {
	opts []func(*config.LoadOptions) error
}

func (r rereadingCredentials) Retrieve(ctx context.Context) (aws.Credentials, error) {
	cfg, err := config.LoadDefaultConfig(ctx, r.opts...)
	if err != nil {
		return aws.Credentials{}, fmt.Errorf("reload AWS configuration: %w", err)
	}
	if cfg.Credentials == nil {
		return aws.Credentials{}, errors.New("no AWS credentials configured")
	}
	c, err := cfg.Credentials.Retrieve(ctx)
	if err != nil {
		return aws.Credentials{}, err
	}
	if limit := time.Now().Add(time.Minute); !c.CanExpire || c.Expires.After(limit) {
		c.CanExpire, c.Expires = true, limit
	}
	return c, nil
}

func newAgentInitializeCommand() *cobra.Command {
	var hosts []string
	var link string
	cmd := &cobra.Command{
		Use:   "initialize",
		Short: "Add the agent addresses to a dummy link and exit (for an init container; `podid agent` does this itself)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var errs []error
			for _, h := range hosts {
				ip, err := netipOf(h)
				if err != nil {
					return err
				}
				if err := agent.EnsureAddress(link, ip); err != nil {
					if ip.Is4() {
						errs = append(errs, err)
						continue
					}
					// As the official agent: IPv6 is optional.
					fmt.Fprintln(cmd.ErrOrStderr(), "podid agent initialize: skipping", h+":", err)
				}
			}
			return errors.Join(errs...)
		},
	}
	cmd.Flags().StringSliceVarP(&hosts, "bind-hosts", "b", agent.DefaultBindHosts, "addresses to add")
	cmd.Flags().StringVar(&link, "link-name", agent.DefaultLinkName, "link to add them to")
	return cmd
}

// netipOf parses a bind host, with or without IPv6 brackets.
func netipOf(h string) (netip.Addr, error) {
	ip, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(h, "["), "]"))
	if err != nil {
		return netip.Addr{}, fmt.Errorf("agent: bind host %q is not an IP address", h)
	}
	return ip, nil
}
