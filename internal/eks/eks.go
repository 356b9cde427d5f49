// Package eks serves podid's EKS API (restJson1, SigV4 service "eks"):
// pod identity associations, clusters (podid-hosted and external), the
// eks-pod-identity-agent add-on and resource tags, in the wire shapes the
// AWS SDKs and CLI expect. It also serves two podid extensions under
// /podid/v1: a streaming change feed of a cluster's associations (see
// package feed for the client) and a token endpoint that mints pod-bound
// service-account tokens for hosted clusters (podid exec).
//
// Index is the in-memory (cluster, namespace, service account) lookup that
// EKS Auth and the webhook use on their hot paths.
package eks

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/podid/podid/internal/arn"
	"github.com/podid/podid/internal/auth"
	"github.com/podid/podid/internal/eks/issuer"
	"github.com/podid/podid/internal/store"
)

// Authorizer decides whether a principal may perform an action on a
// resource. *auth.Authorizer satisfies it. A denial is an *auth.DeniedError.
type Authorizer interface {
	Authorize(ctx context.Context, p *auth.Principal, action, resource string, extra map[string][]string) error
}

// AgentHealth is what an AgentProbe knows of a cluster's pod identity agent.
type AgentHealth struct {
	// Serving is true once an agent of the cluster has been seen working:
	// its DaemonSet ready, or, where podid cannot look into the cluster, a
	// recent call of an agent to EKS Auth.
	Serving bool
	// Issues are the agent's health problems; any issue makes the add-on
	// DEGRADED.
	Issues []AddonIssue
}

// AgentProbe reports the health of a cluster's pod identity agent.
// access is the cluster's API access, nil when podid has none (hosted
// clusters, external clusters registered without kubernetesApi).
// *agentinstall.Installer implements it from the agent DaemonSet's status.
type AgentProbe interface {
	AgentHealth(ctx context.Context, cluster string, access *ClusterAccess) (AgentHealth, error)
}

// AgentInstaller installs and removes the eks-pod-identity-agent DaemonSet
// on an external cluster podid can reach. It is the hook for
// CreateAddon/DeleteAddon on such clusters; installation itself is done
// outside this package.
type AgentInstaller interface {
	InstallAgent(ctx context.Context, cluster *ClusterAccess, addon *store.Addon) error
	UninstallAgent(ctx context.Context, cluster *ClusterAccess, addon *store.Addon) error
}

// AddonConfigSchema describes and checks the agent add-on's
// configurationValues. *agentinstall.Installer implements it.
type AddonConfigSchema interface {
	// ConfigurationSchema is the JSON schema DescribeAddonConfiguration
	// returns.
	ConfigurationSchema() string
	// ValidateConfiguration refuses values CreateAddon and UpdateAddon must
	// not accept; its message is the InvalidParameterException's.
	ValidateConfiguration(values string) error
}

// InstallError is an installer failure with the health issue the add-on
// shows for it (by default ClusterUnreachable).
type InstallError struct {
	Issue AddonIssue
	Err   error
}

func (e *InstallError) Error() string { return e.Err.Error() }
func (e *InstallError) Unwrap() error { return e.Err }

// Config configures the EKS service.
type Config struct {
	// Store is the persistence backend.
	Store store.Store
	// Authorizer authorizes every operation.
	Authorizer Authorizer
	// Keyring seals hosted-cluster signing keys and external-cluster
	// credentials (*secrets.Keyring).
	Keyring issuer.Keyring
	// AccountID and Region make ARNs (arn:aws:eks:REGION:ACCOUNT:…).
	AccountID string
	Region    string
	// PublicBaseURL is the server's public base URL; hosted clusters'
	// issuer URLs are PublicBaseURL + "/clusters/NAME/oidc".
	PublicBaseURL string
	// Issuer is the hosted-cluster token issuer; New creates one from
	// Store, Keyring and PublicBaseURL when nil.
	Issuer *issuer.Issuer
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Logger receives server-side failures (default: discard).
	Logger *slog.Logger
	// AgentProbe reports agent health for add-on status. When nil, an
	// add-on is ACTIVE from its first DescribeAddon.
	AgentProbe AgentProbe
	// AgentInstaller installs the agent on external clusters with API
	// access. When nil, CreateAddon records the add-on only.
	AgentInstaller AgentInstaller
	// AddonConfig validates and describes configurationValues. When nil,
	// any value within the length limit is stored.
	AddonConfig AddonConfigSchema
	// SkipRoleValidation turns off the checks that roleArn names an
	// existing role of this account whose trust policy admits
	// pods.eks.amazonaws.com (for setups whose roles live elsewhere).
	SkipRoleValidation bool
	// RoleValidator, when set, decides per cluster whether association
	// roles live outside podid (broker mode: in AWS). For such clusters
	// roleArn may name any account and RoleValidator replaces the
	// built-in role checks.
	RoleValidator RoleValidator
	// MaxAssociationsPerCluster caps associations per cluster; 0 means no
	// limit (EKS's documented quota is 1,000).
	MaxAssociationsPerCluster int
	// FeedHeartbeat is the interval of heartbeat lines on the change feed
	// (default 15 s).
	FeedHeartbeat time.Duration
	// FeedMaxDuration ends change-feed streams after this long (default
	// 30 min); clients reconnect and resume, so long-lived connections are
	// rebalanced and server shutdown is never blocked for longer.
	FeedMaxDuration time.Duration
	// FeedWaitsFor, when set, is waited on before a change is sent on the
	// feed, so that subscribers who act on it (an agent re-asking EKS Auth
	// after a purge) see the change already applied there. The server
	// passes the association Index EKS Auth reads.
	FeedWaitsFor interface {
		WaitFor(ctx context.Context, rev int64) error
	}
	// DefaultKubernetesVersion is the version of clusters created without
	// one (default "1.33").
	DefaultKubernetesVersion string
}

// RoleValidator validates the roles of clusters whose credentials are
// issued from roles outside podid's IAM (broker mode).
type RoleValidator interface {
	// ExternalRoles reports whether cluster's roles live outside podid.
	// It must be cheap (no call to AWS): it runs before authorization is
	// complete.
	ExternalRoles(ctx context.Context, cluster string) bool
	// ValidateRole checks an external role after the caller has been
	// authorized; a non-nil error's message is the
	// InvalidParameterException the caller sees.
	ValidateRole(ctx context.Context, cluster, roleARN string) error
}

// Service is the EKS API. It is safe for concurrent use.
type Service struct {
	cfg    Config
	issuer *issuer.Issuer
	log    *slog.Logger
	mux    *http.ServeMux  // the REST routes and extensions (buildMux)
	ops    map[string]bool // operation names the mux serves
	muxMu  sync.Mutex      // guards ops and HandleExtension
}

// New returns the EKS service.
func New(cfg Config) (*Service, error) {
	if cfg.Store == nil {
		return nil, errors.New("eks: Config.Store is required")
	}
	if cfg.Authorizer == nil {
		return nil, errors.New("eks: Config.Authorizer is required")
	}
	if !arn.IsValidAccountID(cfg.AccountID) {
		return nil, fmt.Errorf("eks: Config.AccountID %q is not a 12-digit account ID", cfg.AccountID)
	}
	if cfg.Region == "" {
		return nil, errors.New("eks: Config.Region is required")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.FeedHeartbeat <= 0 {
		cfg.FeedHeartbeat = 15 * time.Second
	}
	if cfg.FeedMaxDuration <= 0 {
		cfg.FeedMaxDuration = 30 * time.Minute
	}
	if cfg.DefaultKubernetesVersion == "" {
		cfg.DefaultKubernetesVersion = "1.33"
	}
	if cfg.Keyring == nil {
		return nil, errors.New("eks: Config.Keyring is required")
	}
	s := &Service{cfg: cfg, issuer: cfg.Issuer, log: cfg.Logger}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.issuer == nil {
		iss, err := issuer.New(issuer.Config{Store: cfg.Store, Keyring: cfg.Keyring, BaseURL: cfg.PublicBaseURL, Now: cfg.Now})
		if err != nil {
			return nil, fmt.Errorf("eks: %w", err)
		}
		s.issuer = iss
	}
	s.buildMux()
	return s, nil
}

// Issuer returns the hosted-cluster token issuer (for EKS Auth's
// KeySource and the public OIDC documents).
func (s *Service) Issuer() *issuer.Issuer { return s.issuer }

// now returns the current time in UTC at the millisecond precision EKS
// timestamps carry, so stored and shown times are equal.
func (s *Service) now() time.Time { return s.cfg.Now().UTC().Truncate(time.Millisecond) }

// ARN builders.

func (s *Service) eksARN(resource string) string {
	return arn.ARN{Partition: "aws", Service: "eks", Region: s.cfg.Region, AccountID: s.cfg.AccountID, Resource: resource}.String()
}

func (s *Service) clusterARN(name string) string {
	return arn.Cluster("aws", s.cfg.Region, s.cfg.AccountID, name).String()
}

func (s *Service) associationARN(cluster, id string) string {
	return arn.PodIdentityAssociation("aws", s.cfg.Region, s.cfg.AccountID, cluster, id).String()
}

func (s *Service) addonARN(cluster, name, suffix string) string {
	return s.eksARN("addon/" + cluster + "/" + name + "/" + suffix)
}
