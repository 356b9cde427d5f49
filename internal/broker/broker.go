// Package broker is podid's broker mode: a credential issuer behind EKS
// Auth that turns an authorized pod request into real AWS credentials.
// After EKS Auth has verified the pod's token and found its association,
// the broker calls AWS STS AssumeRole with podid's own AWS credentials
// (the SDK's default chain: environment, shared files, IRSA web identity,
// container credentials, instance role), with EKS's session name, the six
// session tags as transitive tags, a stable SourceIdentity naming the
// workload, and the association's session policy; for a target role it
// makes the second hop with the first session and the external ID.
//
// The broker caches and single-flights credentials per (association, pod),
// backs off when AWS throttles it, exposes its AWS calls as Prometheus
// metrics, and explains refusals: an AccessDenied from STS becomes a
// message naming the missing permission or condition in the role's trust
// policy (read with iam:GetRole when the broker may). Package broker also
// renders and checks the trust policies roles need (podid trust-policy,
// podid doctor) and chooses an issuer per cluster (Dispatch).
package broker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	ststypes "github.com/aws/aws-sdk-go-v2/service/sts/types"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/singleflight"

	"github.com/podid/podid/internal/arn"
	"github.com/podid/podid/internal/eksauth"
)

// Issuer names, the values of --credential-issuer and of the ClusterTag.
const (
	// IssuerLocal is podid's own STS (pods.eks.amazonaws.com in podid).
	IssuerLocal = "local"
	// IssuerAWSSTS is broker mode: real AWS STS with podid's AWS principal.
	IssuerAWSSTS = "aws-sts"
)

// Defaults of Config.
const (
	DefaultReuseWindow  = 15 * time.Minute
	DefaultExpiryMargin = 5 * time.Minute
	DefaultMaxEntries   = 100_000
	DefaultMaxAttempts  = 4
	DefaultBaseBackoff  = 200 * time.Millisecond
	DefaultMaxBackoff   = 5 * time.Second
	DefaultCallTimeout  = 10 * time.Second
	// DefaultFlightTimeout bounds one credential fetch (its retries
	// included) that several callers may be waiting for.
	DefaultFlightTimeout = 30 * time.Second
)

// STS's duration limits.
const (
	minDuration   = 15 * time.Minute
	maxDuration   = 12 * time.Hour
	chainDuration = time.Hour
	// defaultRoleMax is IAM's default MaxSessionDuration, assumed when a
	// role refuses the requested duration and its own cannot be read.
	defaultRoleMax = time.Hour
)

// Config configures the broker.
type Config struct {
	// AWS is the SDK configuration (credentials, region, HTTP client).
	// When nil, New loads the SDK's default configuration, so the default
	// credential chain applies. The generic AWS_ENDPOINT_URL is ignored
	// (in podid's environment it usually names podid itself);
	// AWS_ENDPOINT_URL_STS and AWS_ENDPOINT_URL_IAM are honoured.
	AWS *aws.Config
	// Region is the AWS region of STS calls; when empty the SDK's region,
	// else FallbackRegion.
	Region         string
	FallbackRegion string
	// STSEndpoint and IAMEndpoint override the service endpoints (empty:
	// AWS's, or the service-specific environment variables).
	STSEndpoint string
	IAMEndpoint string
	// Registerer receives the broker's metrics (nil: not registered).
	Registerer prometheus.Registerer
	Logger     *slog.Logger
	Now        func() time.Time
	// Sleep waits for d or until ctx ends (tests replace it).
	Sleep func(ctx context.Context, d time.Duration) error
	// ReuseWindow is how long issued credentials are handed out again to
	// the same (association, pod); ExpiryMargin is the least lifetime they
	// must have left to be.
	ReuseWindow  time.Duration
	ExpiryMargin time.Duration
	// MaxEntries bounds the credential cache.
	MaxEntries int
	// MaxAttempts is how many times one AWS call is tried when AWS
	// throttles it or fails on its side.
	MaxAttempts int
	// BaseBackoff and MaxBackoff bound the exponential backoff.
	BaseBackoff time.Duration
	MaxBackoff  time.Duration
	// CallTimeout bounds one attempt; FlightTimeout one fetch.
	CallTimeout   time.Duration
	FlightTimeout time.Duration
}

func (c *Config) defaults() {
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Sleep == nil {
		c.Sleep = sleepCtx
	}
	if c.ReuseWindow <= 0 {
		c.ReuseWindow = DefaultReuseWindow
	}
	if c.ExpiryMargin <= 0 {
		c.ExpiryMargin = DefaultExpiryMargin
	}
	if c.MaxEntries <= 0 {
		c.MaxEntries = DefaultMaxEntries
	}
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = DefaultMaxAttempts
	}
	if c.BaseBackoff <= 0 {
		c.BaseBackoff = DefaultBaseBackoff
	}
	if c.MaxBackoff <= 0 {
		c.MaxBackoff = DefaultMaxBackoff
	}
	if c.CallTimeout <= 0 {
		c.CallTimeout = DefaultCallTimeout
	}
	if c.FlightTimeout <= 0 {
		c.FlightTimeout = DefaultFlightTimeout
	}
}

// stsAPI is the part of the STS client the broker uses.
type stsAPI interface {
	AssumeRole(ctx context.Context, in *sts.AssumeRoleInput, optFns ...func(*sts.Options)) (*sts.AssumeRoleOutput, error)
	GetCallerIdentity(ctx context.Context, in *sts.GetCallerIdentityInput, optFns ...func(*sts.Options)) (*sts.GetCallerIdentityOutput, error)
}

// iamAPI is the part of the IAM client the broker uses.
type iamAPI interface {
	GetRole(ctx context.Context, in *iam.GetRoleInput, optFns ...func(*iam.Options)) (*iam.GetRoleOutput, error)
}

// Broker is the aws-sts credential issuer. It implements eksauth.CredentialIssuer
// and is safe for concurrent use.
type Broker struct {
	cfg     Config
	sts     stsAPI
	iam     iamAPI
	region  string
	cache   *cache
	flights singleflight.Group
	gate    gate
	m       *metrics

	idMu sync.Mutex
	id   *Identity

	maxMu  sync.Mutex
	maxDur map[string]time.Duration // role ARN → its MaxSessionDuration, once learned

	sessMu   sync.Mutex
	sessions map[string]sessionInfo // first-hop access key ID → what it carries

	diagMu sync.Mutex
	diag   map[string]diagEntry // role ARN → its last read for explaining refusals
}

// diagTTL is how long a role read to explain a refusal is reused, so a
// misconfigured role refused for many pods costs one iam:GetRole per
// role and period, not one per refusal.
const diagTTL = 10 * time.Second

type diagEntry struct {
	role *Role
	err  error
	at   time.Time
}

// sessionInfo is what a first-hop session carries into role chaining,
// kept to explain refusals of the second hop.
type sessionInfo struct {
	tags           []eksauth.Tag
	sourceIdentity string
	expires        time.Time
}

var _ eksauth.CredentialIssuer = (*Broker)(nil)

// New returns a broker. It makes no AWS call: credentials are resolved
// on first use.
func New(ctx context.Context, cfg Config) (*Broker, error) {
	cfg.defaults()
	var ac aws.Config
	if cfg.AWS != nil {
		ac = cfg.AWS.Copy()
	} else {
		var opts []func(*awsconfig.LoadOptions) error
		if cfg.Region != "" {
			opts = append(opts, awsconfig.WithRegion(cfg.Region))
		}
		loaded, err := awsconfig.LoadDefaultConfig(ctx, opts...)
		if err != nil {
			return nil, fmt.Errorf("broker: loading the AWS SDK configuration: %w", err)
		}
		ac = loaded
		ac.BaseEndpoint = nil
	}
	if cfg.Region != "" {
		ac.Region = cfg.Region
	}
	if ac.Region == "" {
		ac.Region = cfg.FallbackRegion
	}
	if ac.Region == "" {
		return nil, errors.New("broker: no AWS region (set --broker-region or AWS_REGION)")
	}
	for _, ep := range []string{cfg.STSEndpoint, cfg.IAMEndpoint} {
		if ep == "" {
			continue
		}
		if u, err := url.Parse(ep); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return nil, fmt.Errorf("broker: endpoint %q is not an http(s) URL", ep)
		}
	}
	b := newBroker(cfg,
		sts.NewFromConfig(ac, func(o *sts.Options) {
			o.Retryer = aws.NopRetryer{}
			if cfg.STSEndpoint != "" {
				o.BaseEndpoint = aws.String(cfg.STSEndpoint)
			}
		}),
		iam.NewFromConfig(ac, func(o *iam.Options) {
			o.Retryer = aws.NopRetryer{}
			if cfg.IAMEndpoint != "" {
				o.BaseEndpoint = aws.String(cfg.IAMEndpoint)
			}
		}))
	b.region = ac.Region
	return b, nil
}

// newBroker assembles a broker over the given clients (tests pass fakes).
func newBroker(cfg Config, s stsAPI, i iamAPI) *Broker {
	cfg.defaults()
	b := &Broker{
		cfg:      cfg,
		sts:      s,
		iam:      i,
		region:   cfg.Region,
		cache:    newCache(cfg.ReuseWindow, cfg.ExpiryMargin, cfg.MaxEntries),
		maxDur:   map[string]time.Duration{},
		sessions: map[string]sessionInfo{},
		diag:     map[string]diagEntry{},
	}
	b.m = newMetrics(cfg.Registerer, func() float64 { return float64(b.cache.len()) })
	return b
}

// Region is the AWS region the broker calls STS in.
func (b *Broker) Region() string { return b.region }

// STSEndpoint is the configured STS endpoint ("" for AWS's).
func (b *Broker) STSEndpoint() string { return b.cfg.STSEndpoint }

// AssumeAsService assumes the association's role with the broker's own
// AWS credentials (first hop).
func (b *Broker) AssumeAsService(ctx context.Context, in *eksauth.AssumeInput) (*eksauth.Credentials, error) {
	si := SourceIdentity(subjectOf(in))
	c, err := b.cached(ctx, firstHopKey(in, si), func(ctx context.Context) (*eksauth.Credentials, error) {
		return b.assume(ctx, &hop{in: in, sourceIdentity: si})
	})
	if err == nil {
		b.rememberSession(c.AccessKeyID, sessionInfo{tags: in.Tags, sourceIdentity: si, expires: c.Expiration})
	}
	return c, err
}

func (b *Broker) rememberSession(accessKeyID string, s sessionInfo) {
	now := b.cfg.Now()
	b.sessMu.Lock()
	defer b.sessMu.Unlock()
	if _, ok := b.sessions[accessKeyID]; !ok && len(b.sessions) >= b.cfg.MaxEntries {
		for k, v := range b.sessions {
			if !v.expires.After(now) {
				delete(b.sessions, k)
			}
		}
		trim(b.sessions, b.cfg.MaxEntries)
	}
	b.sessions[accessKeyID] = s
}

func (b *Broker) sessionOf(accessKeyID string) (sessionInfo, bool) {
	b.sessMu.Lock()
	defer b.sessMu.Unlock()
	s, ok := b.sessions[accessKeyID]
	return s, ok
}

// AssumeFromSession assumes the target role with the first hop's
// credentials (role chaining). The source identity and the transitive
// session tags carry over from the first session.
func (b *Broker) AssumeFromSession(ctx context.Context, from *eksauth.Credentials, in *eksauth.AssumeInput) (*eksauth.Credentials, error) {
	if from == nil {
		return nil, errors.New("broker: AssumeFromSession without a first session")
	}
	return b.cached(ctx, secondHopKey(from.AccessKeyID, in), func(ctx context.Context) (*eksauth.Credentials, error) {
		return b.assume(ctx, &hop{in: in, from: from})
	})
}

// cached answers from the cache or runs fetch once for all concurrent
// callers of the same key. fetch runs under its own deadline, so one
// caller giving up does not fail the others.
func (b *Broker) cached(ctx context.Context, key string, fetch func(context.Context) (*eksauth.Credentials, error)) (*eksauth.Credentials, error) {
	if c, ok := b.cache.get(key, b.cfg.Now()); ok {
		b.m.hits.Inc()
		return c, nil
	}
	ch := b.flights.DoChan(key, func() (any, error) {
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), b.cfg.FlightTimeout)
		defer cancel()
		c, err := fetch(fctx)
		if err != nil {
			return nil, err
		}
		b.cache.put(key, c, b.cfg.Now())
		return c, nil
	})
	select {
	case r := <-ch:
		if r.Shared {
			b.m.joins.Inc()
		} else {
			b.m.misses.Inc()
		}
		if r.Err != nil {
			return nil, r.Err
		}
		cp := *r.Val.(*eksauth.Credentials)
		return &cp, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("broker: waiting for credentials: %w", ctx.Err())
	}
}

// hop is one AssumeRole the broker makes.
type hop struct {
	in             *eksauth.AssumeInput
	from           *eksauth.Credentials // nil for the first hop
	sourceIdentity string
}

// assume makes the AssumeRole call of h. A duration above the role's
// MaxSessionDuration is lowered to it (learned once per role) instead of
// failing: EKS's 6-hour sessions exceed IAM's default of one hour.
func (b *Broker) assume(ctx context.Context, h *hop) (*eksauth.Credentials, error) {
	in := h.in
	d := in.Duration
	if h.from != nil && (d <= 0 || d > chainDuration) {
		d = chainDuration
	}
	if max, ok := b.learnedMax(in.RoleARN); ok && d > max {
		d = max
	}
	d = min(max(d, minDuration), maxDuration)
	req := &sts.AssumeRoleInput{
		RoleArn:         aws.String(in.RoleARN),
		RoleSessionName: aws.String(in.SessionName),
		DurationSeconds: aws.Int32(int32(d / time.Second)),
	}
	for _, t := range in.Tags {
		req.Tags = append(req.Tags, ststypes.Tag{Key: aws.String(t.Key), Value: aws.String(t.Value)})
	}
	req.TransitiveTagKeys = append(req.TransitiveTagKeys, in.TransitiveTagKeys...)
	if in.Policy != "" {
		req.Policy = aws.String(in.Policy)
	}
	if in.ExternalID != "" {
		req.ExternalId = aws.String(in.ExternalID)
	}
	if h.sourceIdentity != "" {
		req.SourceIdentity = aws.String(h.sourceIdentity)
	}
	var opts []func(*sts.Options)
	if h.from != nil {
		static := credentials.NewStaticCredentialsProvider(h.from.AccessKeyID, h.from.SecretAccessKey, h.from.SessionToken)
		opts = append(opts, func(o *sts.Options) { o.Credentials = static })
	}
	out, err := b.assumeRole(ctx, req, opts)
	if err != nil && isMaxDurationError(err) {
		roleMax := b.roleMaxDuration(ctx, in.RoleARN)
		if roleMax < d {
			b.cfg.Logger.Info("role refuses the session duration; using its MaxSessionDuration", "role", in.RoleARN, "requested", d, "using", roleMax)
			retry := *req
			retry.DurationSeconds = aws.Int32(int32(roleMax / time.Second))
			out, err = b.assumeRole(ctx, &retry, opts)
		}
	}
	if err != nil {
		return nil, b.refusal(ctx, h, err)
	}
	return credsOf(out)
}

func (b *Broker) assumeRole(ctx context.Context, req *sts.AssumeRoleInput, opts []func(*sts.Options)) (*sts.AssumeRoleOutput, error) {
	var out *sts.AssumeRoleOutput
	err := b.call(ctx, "AssumeRole", func(ctx context.Context) error {
		var err error
		out, err = b.sts.AssumeRole(ctx, req, opts...)
		return err
	})
	return out, err
}

func credsOf(out *sts.AssumeRoleOutput) (*eksauth.Credentials, error) {
	if out == nil || out.Credentials == nil || out.Credentials.Expiration == nil || out.AssumedRoleUser == nil {
		return nil, errors.New("broker: STS answered AssumeRole without credentials")
	}
	c := out.Credentials
	return &eksauth.Credentials{
		AccessKeyID:     aws.ToString(c.AccessKeyId),
		SecretAccessKey: aws.ToString(c.SecretAccessKey),
		SessionToken:    aws.ToString(c.SessionToken),
		Expiration:      c.Expiration.UTC(),
		AssumedRoleARN:  aws.ToString(out.AssumedRoleUser.Arn),
		AssumedRoleID:   aws.ToString(out.AssumedRoleUser.AssumedRoleId),
	}, nil
}

func (b *Broker) learnedMax(role string) (time.Duration, bool) {
	b.maxMu.Lock()
	defer b.maxMu.Unlock()
	d, ok := b.maxDur[role]
	return d, ok
}

// roleMaxDuration reads the role's MaxSessionDuration (best effort; IAM's
// default of one hour when it cannot) and remembers it.
func (b *Broker) roleMaxDuration(ctx context.Context, role string) time.Duration {
	d := defaultRoleMax
	if r, err := b.getRole(ctx, role); err == nil && r.MaxSessionDuration > 0 {
		d = r.MaxSessionDuration
	}
	b.maxMu.Lock()
	if len(b.maxDur) < b.cfg.MaxEntries {
		b.maxDur[role] = d
	}
	b.maxMu.Unlock()
	return d
}

// Identity is the AWS principal the broker acts as.
type Identity struct {
	// CallerARN is what sts:GetCallerIdentity answers for the broker's
	// credentials (an assumed-role session ARN for IRSA or instance roles).
	CallerARN string `json:"callerArn"`
	// PrincipalARN is the ARN a trust policy names to admit the broker:
	// the user, or the role behind an assumed-role session.
	PrincipalARN string `json:"principal"`
	// Account is the broker principal's account.
	Account string `json:"account"`
}

// Identity returns the broker's AWS principal, asking STS once.
func (b *Broker) Identity(ctx context.Context) (*Identity, error) {
	b.idMu.Lock()
	id := b.id
	b.idMu.Unlock()
	if id != nil {
		cp := *id
		return &cp, nil
	}
	v, err, _ := b.flights.Do("\x00identity", func() (any, error) {
		var out *sts.GetCallerIdentityOutput
		err := b.call(ctx, "GetCallerIdentity", func(ctx context.Context) error {
			var err error
			out, err = b.sts.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("broker: sts:GetCallerIdentity: %w", err)
		}
		id := identityOf(aws.ToString(out.Arn), aws.ToString(out.Account))
		if id.PrincipalARN != id.CallerARN {
			// A role session: the role's path is part of the role's
			// ARN, and only IAM knows it.
			if r, err := b.getRole(ctx, id.PrincipalARN); err == nil {
				id.PrincipalARN = r.ARN
			}
		}
		b.idMu.Lock()
		b.id = id
		b.idMu.Unlock()
		return id, nil
	})
	if err != nil {
		return nil, err
	}
	cp := *v.(*Identity)
	return &cp, nil
}

// identityOf derives the trust-policy principal of a caller ARN.
func identityOf(callerARN, account string) *Identity {
	id := &Identity{CallerARN: callerARN, PrincipalARN: callerARN, Account: account}
	a, err := arn.Parse(callerARN)
	if err != nil {
		return id
	}
	if id.Account == "" {
		id.Account = a.AccountID
	}
	if role, ok := a.AssumedRoleRole(); ok {
		id.PrincipalARN = role.String()
	}
	return id
}

// Role is what the broker reads of a role with iam:GetRole.
type Role struct {
	ARN                string
	TrustPolicy        string
	MaxSessionDuration time.Duration
}

// Errors of GetRole.
var (
	// ErrRoleNotFound: IAM answered NoSuchEntity.
	ErrRoleNotFound = errors.New("role not found")
	// ErrOtherAccount: the role is not in the broker's account, whose
	// roles are the only ones iam:GetRole can read.
	ErrOtherAccount = errors.New("role is in another account than the broker")
)

// roleParts splits a role ARN into partition, account and name.
func roleParts(s string) (partition, account, name string, ok bool) {
	a, err := arn.Parse(s)
	if err != nil {
		return "", "", "", false
	}
	if name, ok = a.RoleName(); !ok {
		return "", "", "", false
	}
	return a.Partition, a.AccountID, name, true
}

// roleForDiagnosis is GetRole, reused for diagTTL.
func (b *Broker) roleForDiagnosis(ctx context.Context, roleARN string) (*Role, error) {
	now := b.cfg.Now()
	b.diagMu.Lock()
	e, ok := b.diag[roleARN]
	b.diagMu.Unlock()
	if ok && now.Sub(e.at) < diagTTL && now.Sub(e.at) >= 0 {
		return e.role, e.err
	}
	r, err := b.GetRole(ctx, roleARN)
	b.diagMu.Lock()
	if len(b.diag) >= b.cfg.MaxEntries {
		trim(b.diag, b.cfg.MaxEntries)
	}
	b.diag[roleARN] = diagEntry{role: r, err: err, at: now}
	b.diagMu.Unlock()
	return r, err
}

// GetRole reads a role of the broker's account with the broker's
// credentials. It returns ErrOtherAccount without calling IAM for roles
// of other accounts, and ErrRoleNotFound when IAM has no such role.
func (b *Broker) GetRole(ctx context.Context, roleARN string) (*Role, error) {
	_, account, _, ok := roleParts(roleARN)
	if !ok {
		return nil, fmt.Errorf("%q is not a role ARN", roleARN)
	}
	id, err := b.Identity(ctx)
	if err != nil {
		return nil, err
	}
	if id.Account != account {
		return nil, ErrOtherAccount
	}
	return b.getRole(ctx, roleARN)
}

func (b *Broker) getRole(ctx context.Context, roleARN string) (*Role, error) {
	_, _, name, ok := roleParts(roleARN)
	if !ok {
		return nil, fmt.Errorf("%q is not a role ARN", roleARN)
	}
	var out *iam.GetRoleOutput
	err := b.call(ctx, "GetRole", func(ctx context.Context) error {
		var err error
		out, err = b.iam.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String(name)})
		return err
	})
	if ae, ok := errorInfo(err); ok && ae.code == "NoSuchEntity" {
		return nil, ErrRoleNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("iam:GetRole %s: %w", name, err)
	}
	if out.Role == nil {
		return nil, fmt.Errorf("iam:GetRole %s: empty answer", name)
	}
	r := &Role{
		ARN:         aws.ToString(out.Role.Arn),
		TrustPolicy: DecodePolicyDocument(aws.ToString(out.Role.AssumeRolePolicyDocument)),
	}
	if out.Role.MaxSessionDuration != nil {
		r.MaxSessionDuration = time.Duration(*out.Role.MaxSessionDuration) * time.Second
	}
	return r, nil
}

// DecodePolicyDocument undoes IAM's URL-encoding of a policy document; a
// document that is not encoded is returned as is.
func DecodePolicyDocument(s string) string {
	t := strings.TrimSpace(s)
	if strings.HasPrefix(t, "{") {
		return s
	}
	if d, err := url.PathUnescape(s); err == nil {
		return d
	}
	return s
}
