package agent

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// Defaults, matching the official agent where it has the same setting.
const (
	// DefaultPort is the credential listeners' port.
	DefaultPort = 80
	// DefaultProbePort is the port of the probe server on localhost.
	DefaultProbePort = 2703
	// DefaultMetricsPort is the port of the metrics server.
	DefaultMetricsPort = 2705
	// DefaultMaxCacheSize bounds the number of cached pods.
	DefaultMaxCacheSize = 2000
	// DefaultMaxRetention caps how long cached credentials go unrenewed.
	DefaultMaxRetention = 3 * time.Hour
	// DefaultMaxServiceQPS paces background refreshes.
	DefaultMaxServiceQPS = 3
	// DefaultRefreshConcurrency is the number of refreshes run at once.
	DefaultRefreshConcurrency = 4
	// DefaultUpstreamTimeout is the deadline of one EKS Auth exchange,
	// retries included: inside the AWS CLI's 2 s and the Go SDK's
	// timeouts, and long enough that the JS SDK's second try (1 s after a
	// 1 s timeout) finds the answer cached.
	DefaultUpstreamTimeout = 2 * time.Second
	// DefaultMaxAttempts bounds attempts per exchange.
	DefaultMaxAttempts = 3
	// DefaultReadyWindow is how recently EKS Auth must have answered for
	// the agent to be ready.
	DefaultReadyWindow = 5 * time.Minute
	// DefaultDrainDelay is how long listeners keep serving after the stop
	// signal, so that a successor bound with SO_REUSEPORT takes over.
	DefaultDrainDelay = 3 * time.Second
	// DefaultShutdownTimeout bounds waiting for requests in progress.
	DefaultShutdownTimeout = 20 * time.Second
	// DefaultRebindInterval is how often an address that could not be
	// bound is tried again.
	DefaultRebindInterval = 10 * time.Second
	// DefaultLinkName is the dummy link that carries the agent addresses.
	DefaultLinkName = "pod-id-link0"
)

// DefaultBindHosts are the addresses SDKs in pods call.
var DefaultBindHosts = []string{"169.254.170.23", "[fd00:ec2::23]"}

// DefaultAllowedHosts are the Host header values the official agent
// accepts.
var DefaultAllowedHosts = []string{"169.254.170.23", "fd00:ec2::23"}

// TokenVerifier verifies a service-account token locally: signature,
// issuer, audience and time claims. When configured, a rotated token for a
// pod whose credentials are cached is served from the cache once the
// verifier accepts it, without an EKS Auth call (and while EKS Auth is
// down). Without one, every token the agent has not seen EKS Auth accept
// is sent to EKS Auth.
type TokenVerifier interface {
	VerifyToken(ctx context.Context, token string) (PodIdentity, error)
}

// PodIdentity is what a verified token says about its pod.
type PodIdentity struct {
	Namespace      string
	ServiceAccount string
	PodUID         string
}

// Config configures an Agent. Zero values take the defaults above unless
// a field says otherwise.
type Config struct {
	// ClusterName is sent to EKS Auth as clusterName. Required.
	ClusterName string
	// BindHosts are the credential listeners' addresses (IPv6 in brackets
	// or bare). Default DefaultBindHosts.
	BindHosts []string
	// Port is the credential listeners' port; 0 picks an ephemeral port.
	Port int
	// AllowedHosts are the accepted Host header values (port and brackets
	// removed). Default DefaultAllowedHosts.
	AllowedHosts []string
	// ProbeAddr serves /healthz and /readyz; empty disables it.
	ProbeAddr string
	// MetricsAddr serves /metrics, /healthz and /readyz; empty disables it.
	MetricsAddr string

	// Endpoint is EKS Auth's base URL. Default https://eks-auth.<Region>.api.aws.
	Endpoint string
	// Region signs requests to EKS Auth. Required.
	Region string
	// Credentials sign requests to EKS Auth (the node's). Required unless
	// Identity is set.
	Credentials aws.CredentialsProvider
	// Identity, when set, is the agent's own node-bound identity (its
	// projected token exchanged with podid's agent exchange): Run obtains
	// and renews it, readiness waits for it, its metrics join the agent's,
	// and it is the Credentials when those are unset.
	Identity *Identity
	// RootCAs, if set, replaces the system roots for EKS Auth's TLS.
	RootCAs *x509.CertPool
	// HTTPClient, if set, replaces the pooled transport the agent builds.
	HTTPClient *http.Client
	// UserAgent is sent to EKS Auth.
	UserAgent string

	// MaxCacheSize bounds cached pods; negative disables caching.
	MaxCacheSize int
	// MaxRetention caps how long credentials go unrenewed; negative
	// disables caching (as 0 does for the official agent's flag).
	MaxRetention time.Duration
	// MaxServiceQPS paces background refreshes; negative is unlimited.
	MaxServiceQPS float64
	// RefreshConcurrency bounds refreshes in progress.
	RefreshConcurrency int
	// UpstreamTimeout is the deadline of one exchange, retries included.
	UpstreamTimeout time.Duration
	// AttemptTimeout bounds one attempt. Default UpstreamTimeout: a slow
	// EKS Auth gets the whole deadline, and only fast failures (5xx,
	// throttling, refused connections) are retried.
	AttemptTimeout time.Duration
	// MaxAttempts bounds attempts per exchange.
	MaxAttempts int
	// NegativeCacheTTL is how long EKS Auth's refusal of a token (a 4xx
	// other than throttling) is answered from memory, the same status and
	// body, without another call. Default DefaultNegativeCacheTTL;
	// negative disables it.
	NegativeCacheTTL time.Duration
	// NegativeCacheSize bounds the refusals remembered (the oldest go
	// first). Default DefaultNegativeCacheSize; negative disables it.
	NegativeCacheSize int

	// ReadyWindow is how recently EKS Auth must have answered.
	ReadyWindow time.Duration
	// DrainDelay: serving continues this long after Run's context ends;
	// negative means none.
	DrainDelay time.Duration
	// ShutdownTimeout bounds waiting for requests in progress.
	ShutdownTimeout time.Duration
	// ManageAddresses adds each bind address that is not yet local to
	// LinkName (created as a dummy link if missing). It needs
	// CAP_NET_ADMIN; failures are reported, not fatal.
	ManageAddresses bool
	// LinkName is the link ManageAddresses uses. Default DefaultLinkName.
	LinkName string
	// RebindInterval is how often a failed bind is retried.
	RebindInterval time.Duration

	// Events are change feeds whose events purge cached entries.
	Events []EventSource
	// TokenVerifier, if set, verifies rotated tokens locally.
	TokenVerifier TokenVerifier
	// Logger receives the agent's logs; default slog.Default(). No line
	// is logged per request above Debug.
	Logger *slog.Logger
	// Now is the clock for credential and token expiry. Default time.Now.
	// The scheduler's timers run on real time, so a custom clock must
	// agree with it (as testing/synctest's does).
	Now func() time.Time
}

// withDefaults validates cfg and fills in defaults.
func (cfg Config) withDefaults() (Config, error) {
	if !clusterNamePattern.MatchString(cfg.ClusterName) || len(cfg.ClusterName) > 100 {
		return cfg, fmt.Errorf("agent: cluster name %q must be 1-100 characters of [A-Za-z0-9-_], starting with a letter or digit", cfg.ClusterName)
	}
	if cfg.Region == "" {
		return cfg, errors.New("agent: no AWS region for signing EKS Auth requests (set AWS_REGION)")
	}
	if cfg.Credentials == nil && cfg.Identity != nil {
		cfg.Credentials = cfg.Identity
	}
	if cfg.Credentials == nil {
		return cfg, errors.New("agent: no AWS credentials provider for EKS Auth requests")
	}
	if cfg.Port < 0 || cfg.Port > 65535 {
		return cfg, fmt.Errorf("agent: port %d out of range", cfg.Port)
	}
	if len(cfg.BindHosts) == 0 {
		cfg.BindHosts = DefaultBindHosts
	}
	for _, h := range cfg.BindHosts {
		if strings.TrimSpace(h) == "" {
			return cfg, errors.New("agent: empty bind host")
		}
	}
	if len(cfg.AllowedHosts) == 0 {
		cfg.AllowedHosts = DefaultAllowedHosts
	}
	if cfg.Endpoint == "" {
		cfg.Endpoint = "https://eks-auth." + cfg.Region + ".api.aws"
	}
	if !strings.HasPrefix(cfg.Endpoint, "https://") && !strings.HasPrefix(cfg.Endpoint, "http://") {
		return cfg, fmt.Errorf("agent: endpoint %q must be an http or https URL", cfg.Endpoint)
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	switch {
	case cfg.MaxCacheSize == 0:
		cfg.MaxCacheSize = DefaultMaxCacheSize
	case cfg.MaxCacheSize < 0:
		cfg.MaxCacheSize = 0
	}
	def(&cfg.MaxRetention, DefaultMaxRetention)
	if cfg.MaxServiceQPS == 0 {
		cfg.MaxServiceQPS = DefaultMaxServiceQPS
	}
	if cfg.RefreshConcurrency <= 0 {
		cfg.RefreshConcurrency = DefaultRefreshConcurrency
	}
	def(&cfg.UpstreamTimeout, DefaultUpstreamTimeout)
	def(&cfg.AttemptTimeout, cfg.UpstreamTimeout)
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = DefaultMaxAttempts
	}
	def(&cfg.NegativeCacheTTL, DefaultNegativeCacheTTL)
	if cfg.NegativeCacheSize == 0 {
		cfg.NegativeCacheSize = DefaultNegativeCacheSize
	}
	def(&cfg.ReadyWindow, DefaultReadyWindow)
	def(&cfg.DrainDelay, DefaultDrainDelay)
	def(&cfg.ShutdownTimeout, DefaultShutdownTimeout)
	def(&cfg.RebindInterval, DefaultRebindInterval)
	if cfg.LinkName == "" {
		cfg.LinkName = DefaultLinkName
	}
	if cfg.UserAgent == "" {
		cfg.UserAgent = "podid-agent"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return cfg, nil
}

// bindIP returns the IP literal of a bind host, if it is one.
func bindIP(host string) (netip.Addr, bool) {
	a, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(host, "["), "]"))
	return a, err == nil
}
