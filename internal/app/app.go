// Package app assembles podid's server from its parts: store, keyring,
// session tokens, policy engine, authorizer, the four services and the
// HTTP edge. `podid server` and `podid dev` both build on it, and tests run
// it in process with an injected clock.
package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/podid/podid/internal/agentinstall"
	"github.com/podid/podid/internal/arn"
	"github.com/podid/podid/internal/audit"
	"github.com/podid/podid/internal/auth"
	"github.com/podid/podid/internal/awsproto"
	"github.com/podid/podid/internal/broker"
	"github.com/podid/podid/internal/console"
	"github.com/podid/podid/internal/eks"
	"github.com/podid/podid/internal/eksauth"
	"github.com/podid/podid/internal/explain"
	"github.com/podid/podid/internal/iam"
	"github.com/podid/podid/internal/ids"
	"github.com/podid/podid/internal/podevents"
	"github.com/podid/podid/internal/policy"
	"github.com/podid/podid/internal/secrets"
	"github.com/podid/podid/internal/server"
	"github.com/podid/podid/internal/sessiontoken"
	"github.com/podid/podid/internal/sharedcreds"
	"github.com/podid/podid/internal/store"
	"github.com/podid/podid/internal/store/backend"
	"github.com/podid/podid/internal/sts"
)

// Defaults documented in the README.
const (
	DefaultAccountID = "123456789012"
	DefaultRegion    = "us-west-2"
	// RootCredentialsFile is the name, under the data directory, of the
	// root access key in AWS shared-credentials format.
	RootCredentialsFile = "root-credentials"
	// DatabaseFile is the SQLite database's name under the data directory.
	DatabaseFile = backend.DatabaseFile
	// DefaultAgentImage is the image of agents CreateAddon installs.
	DefaultAgentImage = "ghcr.io/podid/podid:latest"
)

// Config configures a server.
type Config struct {
	DataDir string
	// DatabaseURL selects PostgreSQL (a postgres:// URL, shared by every
	// replica); empty keeps SQLite in DataDir. See docs/high-availability.md.
	DatabaseURL string
	AccountID   string
	// Accounts are further accounts the server hosts beside AccountID
	// (--account, PODID_ACCOUNTS): each has its own IAM namespace and its
	// own root key, written to DataDir/root-credentials-ACCOUNT. Accounts
	// named by earlier starts stay hosted.
	Accounts  []string
	Region    string
	Partition string
	// PublicURL is the base URL clients and clusters reach the server at;
	// hosted clusters' issuer URLs are built from it.
	PublicURL string
	// MasterKeyFile names the master key file (PODID_MASTER_KEY or
	// DataDir/master.key when empty).
	MasterKeyFile string
	// BootstrapCredentials names a shared-credentials file whose [default]
	// key becomes the root access key on first start (Kubernetes Secrets).
	BootstrapCredentials string
	// Getenv reads the environment (os.Getenv when nil).
	Getenv func(string) string
	Logger *slog.Logger
	Now    func() time.Time
	// PodSessionDuration is how long EKS Auth's credentials last
	// (eksauth.DefaultSessionDuration when 0).
	PodSessionDuration time.Duration
	// AgentSessionDuration is how long the node agents' own credentials
	// (the agent exchange) last (eksauth.DefaultAgentSessionDuration when 0).
	AgentSessionDuration time.Duration
	// EKSAuthRateLimit is the per-cluster exchanges per second (0: none).
	EKSAuthRateLimit float64
	// EKSAuthFairLimits are EKS Auth's per-caller and per-pod limits
	// (zero values: eksauth's defaults).
	EKSAuthFairLimits eksauth.FairLimits
	// AuditRetention deletes audit records older than this (0: keep).
	AuditRetention time.Duration
	// AuditLines, if set, also receives every EKS Auth audit record as a
	// JSON line.
	AuditLines io.Writer
	// Issuer replaces the credential issuer behind EKS Auth (tests); nil
	// uses CredentialIssuer.
	Issuer eksauth.CredentialIssuer
	// CredentialIssuer is EKS Auth's credential issuer for clusters without
	// a podid:credential-issuer tag: "local" (podid's own STS, the
	// default) or "aws-sts" (broker mode: real AWS STS with podid's AWS
	// credentials; see docs/broker.md). The broker exists only when it is
	// "aws-sts"; clusters may then opt out with the tag.
	CredentialIssuer string
	// Broker configures broker mode. New fills in its Registerer, Logger,
	// Now and FallbackRegion.
	Broker broker.Config
	// AgentImage is the podid image CreateAddon installs as the agent
	// DaemonSet on external clusters with API access (DefaultAgentImage
	// when empty).
	AgentImage string
	// AgentEndpoint is the server URL installed agents call (PublicURL
	// when empty); it must be reachable from the clusters' nodes.
	AgentEndpoint string
	// Limits bound untrusted input at the edge (body sizes, connections,
	// timeouts); zero fields take server's defaults. The HTTP server that
	// serves Handler applies the connection and timeout limits.
	Limits server.Limits
	// AccessLog logs one line per API request (server.Config.AccessLog).
	AccessLog bool
	// AllowHTTPLoopbackIssuers lets STS and EKS Auth fetch OIDC discovery
	// documents over plain HTTP from loopback addresses (local mode, tests).
	AllowHTTPLoopbackIssuers bool
}

// App is an assembled podid server.
type App struct {
	cfg      Config
	Store    store.Store
	Keyring  *secrets.Keyring
	Handler  http.Handler
	Registry *prometheus.Registry
	IAM      *iam.Service
	STS      *sts.Service
	EKS      *eks.Service
	EKSAuth  *eksauth.Service
	Index    *eks.Index
	// Broker is the aws-sts issuer (nil unless CredentialIssuer is
	// "aws-sts"); Issuers chooses between it and the local issuer.
	Broker  *broker.Broker
	Issuers *broker.Dispatch

	// RootAccessKeyID is the account root's access key ID.
	RootAccessKeyID string
	// RootCredentialsPath is where the root key is written for users.
	RootCredentialsPath string
	// Accounts are the further accounts hosted (sorted), and
	// AccountCredentialsPaths where each one's root key is written.
	Accounts                []string
	AccountCredentialsPaths map[string]string

	auditor *eksauth.Auditor
	events  *podevents.Recorder
	keeper  *sessiontoken.Keeper
	logger  *slog.Logger
}

// New opens the store and assembles every part. Call Run to start the
// background work and Close when done.
func New(ctx context.Context, cfg Config) (*App, error) {
	if cfg.DataDir == "" {
		return nil, errors.New("a data directory is required")
	}
	if cfg.AccountID == "" {
		cfg.AccountID = DefaultAccountID
	}
	if cfg.Region == "" {
		cfg.Region = DefaultRegion
	}
	if cfg.Partition == "" {
		cfg.Partition = "aws"
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Getenv == nil {
		cfg.Getenv = os.Getenv
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.CredentialIssuer == "" {
		cfg.CredentialIssuer = broker.IssuerLocal
	}
	if !broker.ValidIssuer(cfg.CredentialIssuer) {
		return nil, fmt.Errorf("credential issuer %q must be %s or %s", cfg.CredentialIssuer, broker.IssuerLocal, broker.IssuerAWSSTS)
	}
	if !arn.IsValidAccountID(cfg.AccountID) {
		return nil, fmt.Errorf("account ID %q must be 12 digits", cfg.AccountID)
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("data directory: %w", err)
	}
	st, kr, err := openStore(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if err := CheckAccount(ctx, st, kr, cfg.AccountID, cfg.Now()); err != nil {
		st.Close()
		return nil, err
	}
	hosted, err := HostAccounts(ctx, st, kr, cfg.AccountID, cfg.Accounts, cfg.Now())
	if err != nil {
		st.Close()
		return nil, err
	}
	a := &App{cfg: cfg, Store: st, Keyring: kr, logger: cfg.Logger, Accounts: hosted}
	if err := a.assemble(ctx); err != nil {
		st.Close()
		return nil, err
	}
	return a, nil
}

// openStore opens the backend cfg selects and the master keyring. With
// PostgreSQL every replica must unseal what any other sealed, so the master
// key must come from PODID_MASTER_KEY or a file shared by the replicas; it is
// never generated into one replica's data directory.
func openStore(ctx context.Context, cfg Config) (store.Store, *secrets.Keyring, error) {
	kind, err := backend.Select(backend.Config{URL: cfg.DatabaseURL, DataDir: cfg.DataDir})
	if err != nil {
		return nil, nil, err
	}
	keyDir := cfg.DataDir
	if kind == backend.PostgreSQL {
		keyDir = ""
	}
	kr, origin, err := secrets.Resolve(cfg.Getenv, cfg.MasterKeyFile, keyDir)
	if err != nil {
		if kind == backend.PostgreSQL {
			return nil, nil, fmt.Errorf("master key: with --database-url every replica needs the same master key (--master-key-file or %s): %w", secrets.EnvMasterKey, err)
		}
		return nil, nil, fmt.Errorf("master key: %w", err)
	}
	cfg.Logger.Info("master key loaded", "from", origin)
	st, opened, err := backend.Open(ctx, backend.Config{URL: cfg.DatabaseURL, DataDir: cfg.DataDir, Now: cfg.Now})
	if err != nil {
		return nil, nil, fmt.Errorf("opening store: %w", err)
	}
	cfg.Logger.Info("store opened", "backend", string(opened.Kind), "database", opened.Where)
	return st, kr, nil
}

func (a *App) assemble(ctx context.Context) error {
	cfg := a.cfg
	keeper, err := sessiontoken.NewKeeper(ctx, a.Store, a.Keyring, cfg.Now)
	if err != nil {
		return fmt.Errorf("session-token keys: %w", err)
	}
	a.keeper = keeper
	sessions := keeper
	engine := policy.NewEngine(policy.DefaultMaxCached)
	// Policy sets are cached for a short time; IAM writes through this
	// process invalidate the cache at once (other replicas' writes are seen
	// within auth.DefaultPolicyCacheTTL).
	authz := auth.NewAuthorizer(auth.AuthorizerConfig{Store: a.Store, Engine: engine, AccountID: cfg.AccountID, Accounts: a.Accounts, Partition: cfg.Partition, Now: cfg.Now, CacheTTL: auth.DefaultPolicyCacheTTL})
	resolver, err := auth.NewResolver(auth.ResolverConfig{Store: a.Store, Keyring: a.Keyring, Sessions: sessions, AccountID: cfg.AccountID, Partition: cfg.Partition, Now: cfg.Now})
	if err != nil {
		return err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	a.Registry = reg
	a.Issuers = &broker.Dispatch{Default: cfg.CredentialIssuer, Clusters: broker.StoreClusters(a.Store, cfg.Now)}
	if cfg.CredentialIssuer == broker.IssuerAWSSTS {
		bc := cfg.Broker
		bc.Registerer, bc.Logger, bc.Now = reg, cfg.Logger, cfg.Now
		if bc.FallbackRegion == "" {
			bc.FallbackRegion = cfg.Region
		}
		a.Broker, err = broker.New(ctx, bc)
		if err != nil {
			return err
		}
		a.Issuers.Broker = a.Broker
	}
	roles := sts.NewRoleCache(sts.DefaultRoleCacheTTL, cfg.Now)
	a.IAM, err = iam.New(iam.Config{Store: roles.InvalidatingStore(authz.InvalidatingStore(a.Store)), AccountID: cfg.AccountID, Partition: cfg.Partition, Now: cfg.Now, Authorizer: authz, Keyring: a.Keyring,
		AllowHTTPLoopbackIssuers: cfg.AllowHTTPLoopbackIssuers})
	if err != nil {
		return fmt.Errorf("iam: %w", err)
	}
	a.Index, err = eks.NewIndex(ctx, a.Store)
	if err != nil {
		return fmt.Errorf("association index: %w", err)
	}
	agentCalls := &eksauth.CallLog{}
	agentEndpoint := cfg.AgentEndpoint
	if agentEndpoint == "" {
		agentEndpoint = strings.TrimSuffix(cfg.PublicURL, "/")
	}
	agentImage := cfg.AgentImage
	if agentImage == "" {
		agentImage = DefaultAgentImage
	}
	installer, err := agentinstall.New(agentinstall.Config{
		Image: agentImage, Endpoint: agentEndpoint, Region: cfg.Region, Logger: cfg.Logger,
		Keys:  agentKeys{iam: a.IAM, partition: cfg.Partition, region: cfg.Region, account: cfg.AccountID},
		Roles: agentKeys{iam: a.IAM, partition: cfg.Partition, region: cfg.Region, account: cfg.AccountID},
		// EKS Auth, made below, records agents' calls in this log; the
		// installer reads the same log, so neither needs the other first.
		LastAgentCall: agentCalls.LastCall,
		Now:           cfg.Now,
	})
	if err != nil {
		return err
	}
	a.EKS, err = eks.New(eks.Config{Store: a.Store, Authorizer: authz, Keyring: a.Keyring, AccountID: cfg.AccountID, Region: cfg.Region, PublicBaseURL: strings.TrimSuffix(cfg.PublicURL, "/"), Now: cfg.Now, Logger: cfg.Logger,
		// CreateAddon installs the agent on external clusters podid can
		// reach, and the add-on's status follows the agent DaemonSet.
		AgentInstaller: installer, AgentProbe: installer, AddonConfig: installer,
		// Broker clusters' roles live in AWS; the broker checks them there.
		RoleValidator: a.Issuers,
		// A change reaches feed subscribers only once EKS Auth's index has it.
		FeedWaitsFor: a.Index})
	if err != nil {
		return fmt.Errorf("eks: %w", err)
	}
	a.STS, err = sts.New(sts.Config{
		Store: a.Store, Roles: roles, AccountID: cfg.AccountID, Accounts: a.Accounts, Partition: cfg.Partition, Now: cfg.Now,
		Authorizer: authz, Engine: engine, Minter: keeper, Sessions: sessions,
		AllowHTTPLoopbackIssuers: cfg.AllowHTTPLoopbackIssuers,
		// Hosted clusters' key sets come from the issuer, not the network.
		KeySets: a.EKS.Issuer(),
	})
	if err != nil {
		return fmt.Errorf("sts: %w", err)
	}
	a.auditor = eksauth.NewAuditor(eksauth.AuditorConfig{Store: a.Store, Lines: cfg.AuditLines, Retention: cfg.AuditRetention, Now: cfg.Now, Logger: cfg.Logger})
	a.Issuers.Local = localIssuer{a.STS}
	issuer := cfg.Issuer
	if issuer == nil {
		issuer = a.Issuers
	}
	httpClient := &http.Client{Timeout: 5 * time.Second}
	// Refusals of verified pods become Events on the pod where podid
	// reaches the cluster's API server (rate-limited per pod).
	a.events = podevents.New(podevents.Config{APIs: clusterAPIs{a.EKS}, AccountID: cfg.AccountID, Logger: cfg.Logger, Now: cfg.Now})
	hosted := a.EKS.Issuer()
	a.EKSAuth, err = eksauth.New(eksauth.Config{
		Store: a.Store, Associations: indexWithFallback{a.Index, a.Store}, Authorizer: authz, CredentialIssuer: issuer,
		Keys: &eksauth.ClusterKeys{
			Hosted: func(_ context.Context, cluster string) (k8sKeySource, error) {
				return hosted.KeySource(cluster), nil
			},
			Client:                   httpClient,
			AllowHTTPLoopbackIssuers: cfg.AllowHTTPLoopbackIssuers,
		},
		Reviewer:  eksauth.NewKubeReviewer(clusterAPIs{a.EKS}),
		AccountID: cfg.AccountID, Region: cfg.Region, Partition: cfg.Partition, Now: cfg.Now, Logger: cfg.Logger,
		SessionDuration: cfg.PodSessionDuration, RateLimit: cfg.EKSAuthRateLimit, FairLimits: cfg.EKSAuthFairLimits, Audit: a.auditor,
		Events: a.events, Calls: agentCalls,
		// Agents' own credentials (the agent exchange) are always podid's:
		// the agents present them to podid, whatever issues pods'.
		AgentIssuer: localIssuer{a.STS}, AgentSessionDuration: cfg.AgentSessionDuration,
	})
	if err != nil {
		return fmt.Errorf("eks-auth: %w", err)
	}

	a.RootCredentialsPath = filepath.Join(cfg.DataDir, RootCredentialsFile)
	a.RootAccessKeyID, err = a.bootstrapRoot(ctx, cfg.AccountID, a.RootCredentialsPath, cfg.BootstrapCredentials)
	if err != nil {
		return err
	}
	a.AccountCredentialsPaths = map[string]string{}
	for _, acct := range a.Accounts {
		path := filepath.Join(cfg.DataDir, RootCredentialsFile+"-"+acct)
		if _, err := a.bootstrapRoot(ctx, acct, path, ""); err != nil {
			return err
		}
		a.AccountCredentialsPaths[acct] = path
	}

	explainer, err := explain.New(explain.Config{Store: a.Store, Policies: authz, AccountID: cfg.AccountID, Region: cfg.Region, Partition: cfg.Partition, Now: cfg.Now,
		// --pod reads the live pod where podid reaches the cluster.
		Pods: &explain.KubePods{APIs: clusterAPIs{a.EKS}}})
	if err != nil {
		return fmt.Errorf("explain: %w", err)
	}
	iss := hosted
	// podid's REST extensions (/podid/v1) that other packages implement,
	// served by the one ServeMux of the EKS API (signed as "eks"). EKS's
	// own extensions (tokens, association-events) are in eks.routes.
	// Adding an extension is one line here.
	a.EKS.HandleExtension(broker.InfoPath, broker.InfoOperation, &broker.InfoHandler{Dispatch: a.Issuers, Authorizer: authz})
	a.EKS.HandleExtension(explain.Path, explain.Operation, &explain.Handler{Explainer: explainer, Authorizer: authz})
	a.EKS.HandleExtension(audit.Path, audit.Operation, &audit.Handler{Store: a.Store, Authorizer: authz, Partition: cfg.Partition, Region: cfg.Region, AccountID: cfg.AccountID, JSON: eksauth.RecordJSON})

	// The AWS services served: one registration each. The edge routes,
	// checks regions and labels metrics by these descriptors alone.
	services := awsproto.Services{
		a.IAM.Descriptor(),
		a.STS.Descriptor(),
		a.EKS.Descriptor(),
		a.EKSAuth.Descriptor(),
	}
	edge := server.New(server.Config{
		Verifier: &awsproto.Verifier{Lookup: resolver, Now: cfg.Now, ServedRegion: cfg.Region,
			// Global services are signed with the client's own region.
			AllowRegion: services.AllowRegion(cfg.Region)},
		Services: services,
		Public:   iss, PublicMatch: iss.IsPublicPath,
		Extra: map[string]http.Handler{
			"/metrics": server.MetricsHandler(reg),
			"/healthz": http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("ok\n")) }),
			"/readyz":  http.HandlerFunc(a.ready),
		},
		Logger:               cfg.Logger,
		Metrics:              server.NewMetrics(reg),
		Region:               cfg.Region,
		MaxBodyBytes:         cfg.Limits.MaxBodyBytes,
		MaxInflightBodyBytes: cfg.Limits.MaxInflightBodyBytes,
		AccessLog:            cfg.AccessLog,
	})
	// The web console at /console/, beside the APIs on the same port: its
	// pages call the services above in process as the signed-in principal.
	web, err := console.New(console.Config{EKS: a.EKS, IAM: a.IAM, Keys: resolver, Passwords: a.IAM, PasswordChanger: a.IAM, Sealer: a.Keyring,
		Revocations: console.StoreRevocations{Store: a.Store}, AccountID: cfg.AccountID, Region: cfg.Region,
		Partition: cfg.Partition, PublicURL: cfg.PublicURL, Now: cfg.Now, Logger: cfg.Logger})
	if err != nil {
		return err
	}
	a.Handler = console.Mount(edge, web)
	return a.checkWired()
}

// checkWired fails loudly if assemble left a part unset: every closure and
// adapter above captures parts that already exist, and this makes a
// reordering that breaks that an error at startup, not a nil at request
// time.
func (a *App) checkWired() error {
	parts := []struct {
		name string
		set  bool
	}{
		{"store", a.Store != nil}, {"keyring", a.Keyring != nil}, {"registry", a.Registry != nil},
		{"session keeper", a.keeper != nil}, {"auditor", a.auditor != nil}, {"issuers", a.Issuers != nil && a.Issuers.Local != nil},
		{"iam", a.IAM != nil}, {"sts", a.STS != nil}, {"eks", a.EKS != nil}, {"eks-auth", a.EKSAuth != nil},
		{"association index", a.Index != nil}, {"handler", a.Handler != nil},
		{"broker", a.Broker != nil || a.cfg.CredentialIssuer != broker.IssuerAWSSTS},
	}
	for _, p := range parts {
		if !p.set {
			return fmt.Errorf("app: assembling left the %s unset", p.name)
		}
	}
	return nil
}

// Run runs the background work (association index, audit writer) until
// ctx ends.
func (a *App) Run(ctx context.Context) error {
	done := make(chan struct{})
	go func() {
		defer close(done)
		a.auditor.Run(ctx)
	}()
	err := a.Index.Run(ctx)
	<-done
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// Close stops the pod event recorder and releases the store.
func (a *App) Close() error {
	if a.events != nil {
		a.events.Close()
	}
	return a.Store.Close()
}

func (a *App) ready(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	err := a.Store.View(ctx, func(tx store.Tx) error {
		_, err := tx.LatestRevision()
		return err
	})
	if err != nil {
		http.Error(w, "store unavailable", http.StatusServiceUnavailable)
		return
	}
	w.Write([]byte("ok\n"))
}

// bootstrapRoot makes sure account has a root access key (from the
// shared-credentials file bootstrap when set, on first start) and that
// its credentials file at path exists (mode 0600); it returns the key's ID.
func (a *App) bootstrapRoot(ctx context.Context, account, path, bootstrap string) (string, error) {
	var key *store.AccessKey
	err := a.Store.Update(ctx, func(tx store.Tx) error {
		keys, err := tx.ListAccessKeys(account, "")
		if err != nil {
			return err
		}
		for _, k := range keys {
			if k.Status == "Active" {
				key = k
				return nil
			}
		}
		id, secret := ids.NewAccessKeyID(), ids.NewSecretAccessKey()
		if bootstrap != "" {
			id, secret, err = readSharedCredentials(bootstrap)
			if err != nil {
				return fmt.Errorf("bootstrap credentials: %w", err)
			}
		}
		sealed, err := a.Keyring.Seal([]byte(secret), secrets.AccessKeyAD(id))
		if err != nil {
			return err
		}
		key = &store.AccessKey{Account: account, ID: id, SealedSecret: sealed, Status: "Active", CreatedAt: a.cfg.Now().UTC()}
		return tx.CreateAccessKey(key)
	})
	if err != nil {
		return "", fmt.Errorf("root access key of account %s: %w", account, err)
	}
	if _, err := os.Stat(path); err == nil {
		return key.ID, nil
	}
	secret, err := a.Keyring.Open(key.SealedSecret, secrets.AccessKeyAD(key.ID))
	if err != nil {
		return "", fmt.Errorf("opening root key: %w", err)
	}
	body := sharedcreds.Format(sharedcreds.Key{AccessKeyID: key.ID, SecretAccessKey: string(secret)})
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, body, 0o600); err != nil {
		return "", fmt.Errorf("writing root credentials: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return "", fmt.Errorf("writing root credentials: %w", err)
	}
	a.logger.Info("wrote the account's root access key", "account", account, "path", path, "accessKeyId", key.ID)
	return key.ID, nil
}

// RootSecret returns the root access key's secret (for `podid dev`).
func (a *App) RootSecret(ctx context.Context) (string, error) {
	var key *store.AccessKey
	err := a.Store.View(ctx, func(tx store.Tx) error {
		var err error
		key, err = tx.GetAccessKey(a.RootAccessKeyID)
		return err
	})
	if err != nil {
		return "", err
	}
	b, err := a.Keyring.Open(key.SealedSecret, secrets.AccessKeyAD(key.ID))
	return string(b), err
}

// readSharedCredentials reads the [default] key of a shared-credentials
// file, which must be a long-term (AKIA) key.
func readSharedCredentials(path string) (id, secret string, err error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", "", err
	}
	k, err := sharedcreds.Parse(data)
	if err != nil {
		return "", "", fmt.Errorf("%s: %w", path, err)
	}
	if !ids.IsAccessKeyID(k.AccessKeyID) {
		return "", "", fmt.Errorf("%s: %q is not an AKIA access key ID", path, k.AccessKeyID)
	}
	return k.AccessKeyID, k.SecretAccessKey, nil
}
