// Package eksauth implements EKS Auth's AssumeRoleForPodIdentity: a pod's
// service-account token in, AWS credentials for the associated role out.
// It verifies the token against the cluster's keys, finds the association,
// and asks a credential Issuer for the session (first hop, and the target
// role's second hop), recording every issuance and refusal for audit.
package eksauth

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/podid/podid/internal/auth"
	"github.com/podid/podid/internal/awsproto"
	"github.com/podid/podid/internal/k8s"
	"github.com/podid/podid/internal/store"
)

// ServicePrincipal is the principal EKS Auth assumes roles as.
const ServicePrincipal = "pods.eks.amazonaws.com"

// Defaults.
const (
	// DefaultSessionDuration is how long first-hop credentials last, as EKS
	// documents ("credentials last for 6 hours").
	DefaultSessionDuration = 6 * time.Hour
	// TargetSessionDuration caps the chained target-role session, as STS
	// caps role chaining.
	TargetSessionDuration = time.Hour
	// NodeNameTag is the principal tag that binds a calling agent to a
	// node: when the caller carries it and the token names a node, the two
	// must match.
	NodeNameTag = "podid:node-name"
)

// The six session tags EKS Pod Identity attaches, in EKS's order.
var sessionTagKeys = []string{"eks-cluster-arn", "eks-cluster-name", "kubernetes-namespace", "kubernetes-service-account", "kubernetes-pod-name", "kubernetes-pod-uid"}

// Tag is a session tag.
type Tag struct{ Key, Value string }

// AssumeInput is one AssumeRole the Issuer performs.
type AssumeInput struct {
	RoleARN           string
	SessionName       string
	Tags              []Tag
	TransitiveTagKeys []string
	Policy            string
	ExternalID        string
	Duration          time.Duration
	// SourceARN and SourceAccount describe the cluster the request is for
	// (aws:SourceArn / aws:SourceAccount in the trust policy).
	SourceARN     string
	SourceAccount string
}

// Credentials are issued temporary credentials.
type Credentials struct {
	AccessKeyID     string
	SecretAccessKey string
	SessionToken    string
	Expiration      time.Time
	AssumedRoleARN  string
	AssumedRoleID   string
}

// Issuer issues role sessions. The local issuer mints podid sessions; a
// broker issuer calls real AWS STS. Errors are *awsproto.Error (for example
// AccessDenied when a trust policy refuses).
type Issuer interface {
	// AssumeAsService assumes a role as the pods.eks.amazonaws.com service.
	AssumeAsService(ctx context.Context, in *AssumeInput) (*Credentials, error)
	// AssumeFromSession assumes a role with the credentials of an existing
	// session (role chaining, for targetRoleArn).
	AssumeFromSession(ctx context.Context, from *Credentials, in *AssumeInput) (*Credentials, error)
}

// Associations finds the association of a service account.
type Associations interface {
	Lookup(cluster, namespace, serviceAccount string) (*store.Association, bool)
}

// Authorizer decides whether a caller may call the API.
type Authorizer interface {
	Authorize(ctx context.Context, p *auth.Principal, action, resource string, extra map[string][]string) error
}

// KeySources returns the signing keys of a cluster's service-account issuer.
type KeySources interface {
	KeySource(ctx context.Context, c *store.Cluster) (k8s.KeySource, error)
}

// Config configures the service.
type Config struct {
	Store        store.Store
	Associations Associations
	Authorizer   Authorizer
	Issuer       Issuer
	Keys         KeySources
	AccountID    string
	Region       string
	Partition    string
	Now          func() time.Time
	Logger       *slog.Logger
	// SessionDuration of first-hop credentials (DefaultSessionDuration if 0).
	SessionDuration time.Duration
	// Leeway for token times (k8s.DefaultLeeway if 0).
	Leeway time.Duration
	// RateLimit is the per-cluster sustained exchanges per second (0: no limit).
	RateLimit float64
	// Burst is the per-cluster burst (RateLimit*2 if 0).
	Burst float64
	// Audit receives a record of every issuance and refusal (may be nil).
	Audit *Auditor
}

// Service is the EKS Auth service.
type Service struct {
	cfg      Config
	clusters clusterCache
	limiters sync.Map // cluster name → *bucket
}

// New returns the service.
func New(cfg Config) (*Service, error) {
	if cfg.Store == nil || cfg.Associations == nil || cfg.Issuer == nil || cfg.Keys == nil || cfg.Authorizer == nil {
		return nil, errors.New("eksauth: Store, Associations, Authorizer, Issuer and Keys are required")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Partition == "" {
		cfg.Partition = "aws"
	}
	if cfg.SessionDuration == 0 {
		cfg.SessionDuration = DefaultSessionDuration
	}
	if cfg.Leeway == 0 {
		cfg.Leeway = k8s.DefaultLeeway
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Service{cfg: cfg}
	s.clusters = clusterCache{st: cfg.Store, ttl: time.Second, now: cfg.Now, m: map[string]clusterEntry{}}
	return s, nil
}

// Input is AssumeRoleForPodIdentity's input.
type Input struct {
	ClusterName string
	Token       string
}

// Output is AssumeRoleForPodIdentity's output, in the wire's shape.
type Output struct {
	Subject                Subject                `json:"subject"`
	Audience               string                 `json:"audience"`
	PodIdentityAssociation PodIdentityAssociation `json:"podIdentityAssociation"`
	AssumedRoleUser        AssumedRoleUser        `json:"assumedRoleUser"`
	Credentials            WireCredentials        `json:"credentials"`
}

// Subject names the pod's service account.
type Subject struct {
	Namespace      string `json:"namespace"`
	ServiceAccount string `json:"serviceAccount"`
}

// PodIdentityAssociation names the association used.
type PodIdentityAssociation struct {
	AssociationARN string `json:"associationArn"`
	AssociationID  string `json:"associationId"`
}

// AssumedRoleUser is the STS identity of the credentials.
type AssumedRoleUser struct {
	ARN          string `json:"arn"`
	AssumeRoleID string `json:"assumeRoleId"`
}

// WireCredentials are credentials as EKS Auth sends them (expiration in
// epoch seconds, a JSON number).
type WireCredentials struct {
	SessionToken    string `json:"sessionToken"`
	SecretAccessKey string `json:"secretAccessKey"`
	AccessKeyID     string `json:"accessKeyId"`
	Expiration      int64  `json:"expiration"`
}

var (
	clusterNameRE = regexp.MustCompile(`^[0-9A-Za-z][A-Za-z0-9\-_]*$`)
)

func errf(status int, code, format string, args ...any) *awsproto.Error {
	return awsproto.Errorf(status, code, format, args...)
}

// Errors as EKS Auth names them.
func invalidToken() *awsproto.Error {
	return errf(http.StatusBadRequest, "InvalidTokenException", "The specified Kubernetes service account token is invalid.")
}

func expiredToken() *awsproto.Error {
	return errf(http.StatusBadRequest, "ExpiredTokenException", "The specified Kubernetes service account token is expired.")
}

// AssumeRoleForPodIdentity exchanges a pod's token for credentials.
func (s *Service) AssumeRoleForPodIdentity(ctx context.Context, in *Input) (*Output, error) {
	now := s.cfg.Now()
	rec := &auditFields{Cluster: in.ClusterName}
	caller := auth.PrincipalFrom(ctx)
	if caller != nil {
		rec.Caller = caller.ARN
	}
	out, err := s.assume(ctx, in, now, caller, rec)
	s.audit(now, rec, err)
	return out, err
}

func (s *Service) assume(ctx context.Context, in *Input, now time.Time, caller *auth.Principal, rec *auditFields) (*Output, error) {
	if len(in.ClusterName) < 1 || len(in.ClusterName) > 100 || !clusterNameRE.MatchString(in.ClusterName) {
		return nil, errf(http.StatusBadRequest, "InvalidParameterException", "The cluster name %q is not valid. It must be 1-100 characters, start with an alphanumeric character and contain only alphanumerics, hyphens and underscores.", truncate(in.ClusterName, 100))
	}
	clusterARN := fmt.Sprintf("arn:%s:eks:%s:%s:cluster/%s", s.cfg.Partition, s.cfg.Region, s.cfg.AccountID, in.ClusterName)
	if caller == nil {
		return nil, errf(http.StatusBadRequest, "AccessDeniedException", "Request is missing Authentication Token")
	}
	cluster, err := s.clusters.get(ctx, in.ClusterName)
	var extra map[string][]string
	if err == nil && len(cluster.Tags) > 0 {
		extra = make(map[string][]string, len(cluster.Tags))
		for k, v := range cluster.Tags {
			extra["aws:ResourceTag/"+k] = []string{v}
		}
	}
	if aerr := s.cfg.Authorizer.Authorize(ctx, caller, "eks-auth:AssumeRoleForPodIdentity", clusterARN, extra); aerr != nil {
		var d *auth.DeniedError
		if errors.As(aerr, &d) {
			return nil, errf(http.StatusBadRequest, "AccessDeniedException", "%s", d.Message)
		}
		return nil, awsproto.Internal("InternalServerException", aerr)
	}
	if !s.allow(in.ClusterName, now) {
		return nil, errf(http.StatusTooManyRequests, "ThrottlingException", "Rate exceeded for cluster %s.", in.ClusterName)
	}
	if in.Token == "" || !k8s.LooksLikeJWT(in.Token) {
		return nil, errf(http.StatusBadRequest, "InvalidParameterException", "The token must be a JSON Web Token of three base64url segments no longer than %d bytes.", k8s.MaxTokenBytes)
	}
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, errf(http.StatusNotFound, "ResourceNotFoundException", "No cluster found for name: %s.", in.ClusterName)
		}
		return nil, awsproto.Internal("InternalServerException", err)
	}
	keys, err := s.cfg.Keys.KeySource(ctx, cluster)
	if err != nil {
		return nil, awsproto.Internal("InternalServerException", fmt.Errorf("keys of cluster %s: %w", cluster.Name, err))
	}
	claims, err := k8s.Verify(ctx, in.Token, keys, k8s.Expect{Issuer: cluster.IssuerURL, Audience: k8s.PodIdentityAudience, Now: now, Leeway: s.cfg.Leeway})
	if err != nil {
		rec.Reason = err.Error()
		switch {
		case errors.Is(err, k8s.ErrExpiredToken):
			return nil, expiredToken()
		case errors.Is(err, k8s.ErrInvalidToken):
			return nil, invalidToken()
		}
		return nil, errf(http.StatusServiceUnavailable, "ServiceUnavailableException", "The cluster's signing keys could not be fetched. Try again later.")
	}
	rec.Namespace, rec.ServiceAccount, rec.PodName, rec.PodUID, rec.Node = claims.Namespace, claims.ServiceAccountName, claims.PodName, claims.PodUID, claims.NodeName
	if node := callerNode(caller); node != "" && claims.NodeName != "" && node != claims.NodeName {
		rec.Reason = "token's node does not match the calling agent's node"
		return nil, errf(http.StatusBadRequest, "AccessDeniedException", "The calling agent runs on node %s, but the token belongs to a pod on another node.", node)
	}
	assoc, ok := s.cfg.Associations.Lookup(cluster.Name, claims.Namespace, claims.ServiceAccountName)
	if !ok {
		return nil, errf(http.StatusNotFound, "ResourceNotFoundException", "No Pod Identity Association found for cluster %s, namespace %s and service account %s.", cluster.Name, claims.Namespace, claims.ServiceAccountName)
	}
	rec.AssociationID, rec.Role, rec.TargetRole = assoc.ID, assoc.RoleARN, assoc.TargetRoleARN

	sessionName := SessionName(cluster.Name, claims.PodName, newUUID())
	first := &AssumeInput{
		RoleARN:       assoc.RoleARN,
		SessionName:   sessionName,
		Duration:      s.cfg.SessionDuration,
		SourceARN:     clusterARN,
		SourceAccount: s.cfg.AccountID,
	}
	if !assoc.DisableSessionTags {
		first.Tags = []Tag{
			{"eks-cluster-arn", clusterARN},
			{"eks-cluster-name", cluster.Name},
			{"kubernetes-namespace", claims.Namespace},
			{"kubernetes-service-account", claims.ServiceAccountName},
			{"kubernetes-pod-name", claims.PodName},
			{"kubernetes-pod-uid", claims.PodUID},
		}
		first.TransitiveTagKeys = sessionTagKeys
	}
	if assoc.TargetRoleARN == "" {
		first.Policy = assoc.Policy
	}
	creds, err := s.cfg.Issuer.AssumeAsService(ctx, first)
	if err != nil {
		rec.Reason = "first hop: " + errorText(err)
		return nil, mapIssuerError(err)
	}
	if assoc.TargetRoleARN != "" {
		second := &AssumeInput{
			RoleARN:       assoc.TargetRoleARN,
			SessionName:   sessionName,
			Duration:      TargetSessionDuration,
			ExternalID:    assoc.ExternalID,
			Policy:        assoc.Policy,
			SourceARN:     clusterARN,
			SourceAccount: s.cfg.AccountID,
		}
		creds, err = s.cfg.Issuer.AssumeFromSession(ctx, creds, second)
		if err != nil {
			rec.Reason = "target role: " + errorText(err)
			return nil, mapIssuerError(err)
		}
	}
	rec.SessionName, rec.AccessKeyID, rec.Expires = sessionName, creds.AccessKeyID, creds.Expiration
	return &Output{
		Subject:                Subject{Namespace: claims.Namespace, ServiceAccount: claims.ServiceAccountName},
		Audience:               k8s.PodIdentityAudience,
		PodIdentityAssociation: PodIdentityAssociation{AssociationARN: assoc.ARN, AssociationID: assoc.ID},
		AssumedRoleUser:        AssumedRoleUser{ARN: creds.AssumedRoleARN, AssumeRoleID: creds.AssumedRoleID},
		Credentials: WireCredentials{
			SessionToken:    creds.SessionToken,
			SecretAccessKey: creds.SecretAccessKey,
			AccessKeyID:     creds.AccessKeyID,
			Expiration:      creds.Expiration.Unix(),
		},
	}, nil
}

func errorText(err error) string {
	var ae *awsproto.Error
	if errors.As(err, &ae) {
		return ae.Code + ": " + ae.Message
	}
	return err.Error()
}

// mapIssuerError turns an STS-side refusal into EKS Auth's error.
func mapIssuerError(err error) error {
	var ae *awsproto.Error
	if !errors.As(err, &ae) {
		return awsproto.Internal("InternalServerException", err)
	}
	switch ae.Code {
	case "AccessDenied", "NoSuchEntity", "AccessDeniedException":
		return errf(http.StatusBadRequest, "AccessDeniedException", "%s", ae.Message)
	case "ValidationError", "MalformedPolicyDocument", "PackedPolicyTooLarge", "InvalidParameterValue":
		return errf(http.StatusBadRequest, "InvalidParameterException", "%s", ae.Message)
	case "Throttling", "ThrottlingException":
		return errf(http.StatusTooManyRequests, "ThrottlingException", "%s", ae.Message)
	}
	if ae.Status >= 500 {
		return errf(http.StatusServiceUnavailable, "ServiceUnavailableException", "The credential issuer is unavailable. Try again later.")
	}
	return errf(http.StatusBadRequest, "InvalidRequestException", "%s", ae.Message)
}

// callerNode returns the node the calling agent is bound to, if any.
func callerNode(p *auth.Principal) string {
	if p == nil || p.Session == nil {
		return ""
	}
	return p.Session.Tags[NodeNameTag]
}

// SessionName builds the role session name EKS uses:
// eks-CLUSTER-POD-UUID with cluster and pod each truncated to 10
// characters, and any character STS does not allow replaced by '-'.
func SessionName(cluster, pod, uuid string) string {
	name := "eks-" + truncate(cluster, 10) + "-" + truncate(pod, 10) + "-" + uuid
	b := []byte(name)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("_+=,.@-", c) >= 0) {
			b[i] = '-'
		}
	}
	if len(b) > 64 {
		b = b[:64]
	}
	return string(b)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

func newUUID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// ServeHTTP serves POST /clusters/{clusterName}/assume-role-for-pod-identity.
func (s *Service) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	reqID := awsproto.RequestIDFrom(r.Context())
	segs, ok := awsproto.PathSegments(r)
	if !ok || len(segs) != 3 || segs[0] != "clusters" || segs[2] != "assume-role-for-pod-identity" {
		awsproto.WriteJSONError(w, reqID, errf(http.StatusNotFound, "UnknownOperationException", "The requested operation is not supported by EKS Auth."))
		return
	}
	if r.Method != http.MethodPost {
		awsproto.WriteJSONError(w, reqID, errf(http.StatusMethodNotAllowed, "UnknownOperationException", "AssumeRoleForPodIdentity requires POST."))
		return
	}
	var body struct {
		Token *string `json:"token"`
	}
	dec := json.NewDecoder(r.Body)
	if err := dec.Decode(&body); err != nil {
		awsproto.WriteJSONError(w, reqID, errf(http.StatusBadRequest, "InvalidParameterException", "The request body is not valid JSON."))
		return
	}
	if body.Token == nil {
		awsproto.WriteJSONError(w, reqID, errf(http.StatusBadRequest, "InvalidParameterException", "The token parameter is required."))
		return
	}
	out, err := s.AssumeRoleForPodIdentity(r.Context(), &Input{ClusterName: segs[1], Token: *body.Token})
	if err != nil {
		var ae *awsproto.Error
		if !errors.As(err, &ae) {
			ae = awsproto.Internal("InternalServerException", err)
		}
		if ae.Status >= 500 {
			s.cfg.Logger.ErrorContext(r.Context(), "AssumeRoleForPodIdentity failed", "requestId", reqID, "cluster", segs[1], "err", ae.Cause)
		}
		awsproto.WriteJSONError(w, reqID, ae)
		return
	}
	awsproto.WriteJSON(w, http.StatusOK, reqID, out)
}

// clusterCache keeps clusters for a short time so the hot path reads the
// store at most once a second per cluster.
type clusterCache struct {
	st  store.Store
	ttl time.Duration
	now func() time.Time
	mu  sync.Mutex
	m   map[string]clusterEntry
}

type clusterEntry struct {
	c       *store.Cluster
	err     error
	fetched time.Time
}

func (cc *clusterCache) get(ctx context.Context, name string) (*store.Cluster, error) {
	now := cc.now()
	cc.mu.Lock()
	e, ok := cc.m[name]
	cc.mu.Unlock()
	if ok && now.Sub(e.fetched) < cc.ttl && now.Sub(e.fetched) >= 0 {
		return e.c, e.err
	}
	var c *store.Cluster
	err := cc.st.View(ctx, func(tx store.Tx) error {
		var err error
		c, err = tx.GetCluster(name)
		return err
	})
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	cc.mu.Lock()
	if len(cc.m) > 10000 {
		clear(cc.m)
	}
	cc.m[name] = clusterEntry{c: c, err: err, fetched: now}
	cc.mu.Unlock()
	return c, err
}

// bucket is a token bucket rate limiter.
type bucket struct {
	mu     sync.Mutex
	tokens float64
	last   time.Time
}

func (s *Service) allow(cluster string, now time.Time) bool {
	if s.cfg.RateLimit <= 0 {
		return true
	}
	burst := s.cfg.Burst
	if burst <= 0 {
		burst = s.cfg.RateLimit * 2
	}
	v, _ := s.limiters.LoadOrStore(cluster, &bucket{tokens: burst, last: now})
	b := v.(*bucket)
	b.mu.Lock()
	defer b.mu.Unlock()
	if el := now.Sub(b.last).Seconds(); el > 0 {
		b.tokens = min(burst, b.tokens+el*s.cfg.RateLimit)
		b.last = now
	}
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}
