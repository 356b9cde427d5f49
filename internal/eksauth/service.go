// Package eksauth implements EKS Auth's AssumeRoleForPodIdentity: a pod's
// service-account token in, AWS credentials for the associated role out.
//
// The pipeline of one exchange (spec §4.2): the cluster name and the
// caller's eks-auth:AssumeRoleForPodIdentity permission on the cluster ARN,
// the token's shape, the cluster, the per-cluster rate limit, the token
// (signature against the cluster's keys, issuer, audience, validity window
// and pod claims; optionally the cluster's TokenReview API), the calling
// agent's node binding, the association of (cluster, namespace, service
// account), then the CredentialIssuer: the role assumed as
// pods.eks.amazonaws.com with six transitive session tags and, for a target
// role, a second AssumeRole from that session. Every issuance and every
// refusal is recorded for audit.
package eksauth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/podid/podid/internal/arn"
	"github.com/podid/podid/internal/auth"
	"github.com/podid/podid/internal/awscreds"
	"github.com/podid/podid/internal/awsproto"
	"github.com/podid/podid/internal/ids"
	"github.com/podid/podid/internal/k8s"
	"github.com/podid/podid/internal/store"
)

// ServicePrincipal is the principal EKS Auth assumes roles as.
const ServicePrincipal = "pods.eks.amazonaws.com"

// Action is the IAM action a caller needs on the cluster ARN.
const Action = "eks-auth:AssumeRoleForPodIdentity"

// Defaults and limits.
const (
	// DefaultSessionDuration is how long first-hop credentials last, as EKS
	// documents ("credentials last for 6 hours").
	DefaultSessionDuration = 6 * time.Hour
	// MinSessionDuration and MaxSessionDuration bound
	// Config.SessionDuration (STS's DurationSeconds range).
	MinSessionDuration = 15 * time.Minute
	MaxSessionDuration = 12 * time.Hour
	// TargetSessionDuration caps the chained target-role session, as STS
	// caps role chaining.
	TargetSessionDuration = time.Hour
	// NodeNameTag is the session tag that binds a calling agent to a node:
	// when the caller's credentials are a role session carrying it and the
	// token names a node, the two must be equal.
	NodeNameTag = "podid:node-name"
	// TokenReviewTag, set to "true" on an external cluster that podid can
	// reach (RegisterCluster with kubernetesApi), makes EKS Auth confirm
	// every token with the cluster's TokenReview API in addition to the
	// signature check, so tokens of deleted pods are refused at once.
	// Clusters registered with kubernetesApi and no issuer are always
	// checked with TokenReview alone.
	TokenReviewTag = "podid:token-review"
)

// SessionTagKeys are the six session tags EKS Pod Identity attaches, in
// EKS's order. All are transitive.
var SessionTagKeys = []string{"eks-cluster-arn", "eks-cluster-name", "kubernetes-namespace", "kubernetes-service-account", "kubernetes-pod-name", "kubernetes-pod-uid"}

// Tag is a session tag.
type Tag = awscreds.Tag

// AssumeInput is one AssumeRole the CredentialIssuer performs.
type AssumeInput struct {
	RoleARN           string
	SessionName       string
	Tags              []Tag
	TransitiveTagKeys []string
	Policy            string
	ExternalID        string
	Duration          time.Duration
	// ServicePrincipal is the service the role is assumed as (empty:
	// ServicePrincipal, pods.eks.amazonaws.com); the agent exchange asks
	// for AgentServicePrincipal.
	ServicePrincipal string
	// SourceARN and SourceAccount describe the cluster the request is for
	// (aws:SourceArn / aws:SourceAccount in the trust policy).
	SourceARN     string
	SourceAccount string
}

// Credentials are issued temporary credentials (the type STS issues).
type Credentials = awscreds.Credentials

// CredentialIssuer issues role sessions: podid's credential issuer
// ("local": podid's own STS mints the sessions; "aws-sts": the broker calls
// real AWS STS). Not to be confused with a cluster's token issuer (the OIDC
// issuer of its service-account tokens, package eks/issuer). Errors are *awsproto.Error (for example
// AccessDenied when a trust policy refuses).
type CredentialIssuer interface {
	// AssumeAsService assumes a role as the pods.eks.amazonaws.com service.
	AssumeAsService(ctx context.Context, in *AssumeInput) (*Credentials, error)
	// AssumeFromSession assumes a role with the credentials of an existing
	// session (role chaining, for targetRoleArn).
	AssumeFromSession(ctx context.Context, from *Credentials, in *AssumeInput) (*Credentials, error)
}

// Associations finds the association of a service account.
type Associations interface {
	Lookup(ctx context.Context, cluster, namespace, serviceAccount string) (*store.Association, bool)
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
	Store            store.Store
	Associations     Associations
	Authorizer       Authorizer
	CredentialIssuer CredentialIssuer
	Keys             KeySources
	// Reviewer checks tokens with a cluster's TokenReview API (nil: clusters
	// that need it are refused with ServiceUnavailableException).
	Reviewer  TokenReviewer
	AccountID string
	Region    string
	Partition string
	Now       func() time.Time
	Logger    *slog.Logger
	// SessionDuration of first-hop credentials (DefaultSessionDuration if
	// 0; MinSessionDuration..MaxSessionDuration).
	SessionDuration time.Duration
	// Leeway for token times (k8s.DefaultLeeway if 0; negative: none).
	Leeway time.Duration
	// RateLimit is the per-cluster sustained exchanges per second (0: no limit).
	RateLimit float64
	// Burst is the per-cluster burst (max(1, RateLimit*2) if 0).
	Burst float64
	// FairLimits are the per-caller and per-pod limits (zero: defaults).
	FairLimits
	// Audit receives a record of every issuance and refusal (may be nil).
	Audit *Auditor
	// Events, when set, is told of each refusal of a verified pod's token
	// (the pod is then known), to record it where the pod's owner looks
	// (Kubernetes Events). It must not block.
	Events RefusalSink
	// Calls records each cluster's last allowed call (a new log if nil);
	// readers built before the service share it.
	Calls *CallLog
	// AgentIssuer issues the node agents' own credentials (the agent
	// exchange, AssumeRoleForAgent): always podid's own STS, since the
	// agents call podid with them, never the broker. nil: the exchange
	// answers ServiceUnavailableException.
	AgentIssuer CredentialIssuer
	// AgentSessionDuration is how long agents' credentials last
	// (DefaultAgentSessionDuration when 0; MinSessionDuration..MaxSessionDuration).
	AgentSessionDuration time.Duration
}

// RefusalSink receives the refusals of verified pods.
type RefusalSink interface {
	PodRefused(ctx context.Context, r *Refusal)
}

// Refusal is a refused exchange of a verified pod's token. Code and
// Message are the error EKS Auth returned.
type Refusal struct {
	Cluster, Namespace, ServiceAccount, Pod, PodUID string
	Code, Message                                   string
}

// FairLimits bound what one calling agent and one pod may cost EKS Auth
// (see limits). Zero values take the defaults; a negative rate disables
// that limit.
type FairLimits struct {
	// CallerRefusalRate and CallerRefusalBurst bound, per cluster, the
	// refused exchanges one calling agent may cause (keyed by its session's
	// NodeNameTag, else by its ARN and source address); while its bucket
	// is empty its calls are throttled. Issuances take nothing from it.
	// 0: DefaultCallerRefusalRate / DefaultCallerRefusalBurst; a negative
	// rate disables the limit.
	CallerRefusalRate  float64
	CallerRefusalBurst float64
	// PodRate and PodBurst bound the issuances per pod (the verified
	// token's pod UID) per cluster. 0: DefaultPodRate / DefaultPodBurst;
	// a negative rate disables the limit.
	PodRate  float64
	PodBurst float64
}

// Service is the EKS Auth service.
type Service struct {
	cfg      Config
	clusters *store.ClusterCache // at most one store read a second per cluster
	limits   limits
	// calls is cfg.Calls (or the service's own log).
	calls *CallLog
}

// LastCall reports when a caller allowed eks-auth:AssumeRoleForPodIdentity
// on cluster last asked for it (see CallLog).
func (s *Service) LastCall(cluster string) (time.Time, bool) {
	return s.calls.LastCall(cluster)
}

// New returns the service.
func New(cfg Config) (*Service, error) {
	if cfg.Store == nil || cfg.Associations == nil || cfg.CredentialIssuer == nil || cfg.Keys == nil || cfg.Authorizer == nil {
		return nil, errors.New("eksauth: Store, Associations, Authorizer, CredentialIssuer and Keys are required")
	}
	if cfg.AccountID == "" || cfg.Region == "" {
		return nil, errors.New("eksauth: AccountID and Region are required")
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
	if cfg.SessionDuration < MinSessionDuration || cfg.SessionDuration > MaxSessionDuration {
		return nil, fmt.Errorf("eksauth: session duration %s is outside %s..%s", cfg.SessionDuration, MinSessionDuration, MaxSessionDuration)
	}
	if cfg.AgentSessionDuration == 0 {
		cfg.AgentSessionDuration = DefaultAgentSessionDuration
	}
	if cfg.AgentSessionDuration < MinSessionDuration || cfg.AgentSessionDuration > MaxSessionDuration {
		return nil, fmt.Errorf("eksauth: agent session duration %s is outside %s..%s", cfg.AgentSessionDuration, MinSessionDuration, MaxSessionDuration)
	}
	switch {
	case cfg.Leeway == 0:
		cfg.Leeway = k8s.DefaultLeeway
	case cfg.Leeway < 0:
		cfg.Leeway = 0
	}
	if cfg.RateLimit < 0 {
		return nil, errors.New("eksauth: RateLimit must not be negative")
	}
	if cfg.Burst <= 0 {
		cfg.Burst = max(1, cfg.RateLimit*2)
	}
	if cfg.CallerRefusalRate == 0 {
		cfg.CallerRefusalRate = DefaultCallerRefusalRate
	}
	if cfg.CallerRefusalBurst <= 0 {
		cfg.CallerRefusalBurst = max(DefaultCallerRefusalBurst, cfg.CallerRefusalRate)
	}
	if cfg.PodRate == 0 {
		cfg.PodRate = DefaultPodRate
	}
	if cfg.PodBurst <= 0 {
		cfg.PodBurst = max(DefaultPodBurst, cfg.PodRate)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Service{cfg: cfg, calls: cfg.Calls}
	if s.calls == nil {
		s.calls = &CallLog{}
	}
	s.clusters = store.NewClusterCache(cfg.Store, time.Second, cfg.Now)
	s.limits = newLimits(&cfg)
	return s, nil
}

// Input is AssumeRoleForPodIdentity's input.
type Input struct {
	ClusterName string
	Token       string
}

// Output is AssumeRoleForPodIdentity's output, in the wire's shape. Every
// member is always present (the real agent dereferences them unchecked).
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

// AssumedRoleUser is the STS identity of the credentials: the assumed-role
// ARN (arn:P:sts::ACCT:assumed-role/ROLE/SESSION) and ROLEID:SESSION.
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

func errf(status int, code, format string, args ...any) *awsproto.Error {
	return awsproto.Errorf(status, code, format, args...)
}

// Errors as EKS Auth names them (spec §1.4: AccessDeniedException is 400).
func invalidToken() *awsproto.Error {
	return errf(http.StatusBadRequest, "InvalidTokenException", "The specified Kubernetes service account token is invalid.")
}

func expiredToken() *awsproto.Error {
	return errf(http.StatusBadRequest, "ExpiredTokenException", "The specified Kubernetes service account token is expired.")
}

func accessDenied(format string, args ...any) *awsproto.Error {
	return errf(http.StatusBadRequest, "AccessDeniedException", format, args...)
}

func invalidParameter(format string, args ...any) *awsproto.Error {
	return errf(http.StatusBadRequest, "InvalidParameterException", format, args...)
}

func unavailable(format string, args ...any) *awsproto.Error {
	return errf(http.StatusServiceUnavailable, "ServiceUnavailableException", format, args...)
}

// AssumeRoleForPodIdentity exchanges a pod's token for credentials. The
// caller comes from the context (auth.PrincipalFrom).
func (s *Service) AssumeRoleForPodIdentity(ctx context.Context, in *Input) (*Output, error) {
	now := s.cfg.Now()
	rec := &auditFields{Cluster: truncate(in.ClusterName, 100), RequestID: awsproto.RequestIDFrom(ctx), SourceIP: auth.RequestInfoFrom(ctx).SourceIP}
	caller := auth.PrincipalFrom(ctx)
	if caller != nil {
		rec.Caller = caller.ARN
	}
	out, err := s.assume(ctx, in, now, caller, rec)
	if rec.callerKey != "" && isRefusal(err) {
		// Refusals are charged to the caller that asked, after the fact.
		s.limits.callers.charge(rec.callerKey, now)
	}
	if aerr := s.audit(ctx, now, rec, err); aerr != nil {
		return nil, aerr
	}
	var ae *awsproto.Error
	if err != nil && s.cfg.Events != nil && rec.PodName != "" && errors.As(err, &ae) {
		s.cfg.Events.PodRefused(ctx, &Refusal{Cluster: rec.Cluster, Namespace: rec.Namespace, ServiceAccount: rec.ServiceAccount,
			Pod: rec.PodName, PodUID: rec.PodUID, Code: ae.Code, Message: ae.Message})
	}
	return out, err
}

// isRefusal reports whether err refuses the request for what it asked (a
// client error other than throttling).
func isRefusal(err error) bool {
	var ae *awsproto.Error
	return errors.As(err, &ae) && ae.Status >= 400 && ae.Status < 500 && ae.Code != "ThrottlingException"
}

func throttled(format string, args ...any) *awsproto.Error {
	return errf(http.StatusTooManyRequests, "ThrottlingException", format, args...)
}

// callerLimitKey names the calling agent for the fair limits: its node
// (the session's NodeNameTag) when bound to one, else its ARN and source
// address (agents sharing credentials are told apart by their node's IP).
func callerLimitKey(cluster string, caller *auth.Principal, sourceIP string) string {
	if node := CallerNode(caller); node != "" {
		return cluster + "\x00node\x00" + node
	}
	return cluster + "\x00arn\x00" + caller.ARN + "\x00" + sourceIP
}

func (s *Service) assume(ctx context.Context, in *Input, now time.Time, caller *auth.Principal, rec *auditFields) (*Output, error) {
	if !validClusterName(in.ClusterName) {
		return nil, invalidParameter("The cluster name is not valid: it must be 1-100 characters, start with an alphanumeric character and contain only alphanumerics, hyphens and underscores.")
	}
	clusterARN := arn.Cluster(s.cfg.Partition, s.cfg.Region, s.cfg.AccountID, in.ClusterName).String()
	if caller == nil {
		return nil, accessDenied("Request is missing Authentication Token")
	}
	cluster, cerr := s.clusters.Get(ctx, in.ClusterName)
	if cerr != nil && !errors.Is(cerr, store.ErrNotFound) {
		return nil, awsproto.Internal("InternalServerException", fmt.Errorf("reading cluster %s: %w", in.ClusterName, cerr))
	}
	// The caller's permission comes first, as in AWS: an unknown cluster is
	// only revealed to callers allowed on its ARN. Cluster tags are
	// aws:ResourceTag/* keys.
	var extra map[string][]string
	if cluster != nil && len(cluster.Tags) > 0 {
		extra = make(map[string][]string, len(cluster.Tags))
		for k, v := range cluster.Tags {
			extra["aws:ResourceTag/"+k] = []string{v}
		}
	}
	if err := s.cfg.Authorizer.Authorize(ctx, caller, Action, clusterARN, extra); err != nil {
		var d *auth.DeniedError
		if errors.As(err, &d) {
			return nil, accessDenied("%s", d.Message)
		}
		return nil, awsproto.Internal("InternalServerException", fmt.Errorf("authorizing %s: %w", caller.ARN, err))
	}
	if in.Token == "" || !k8s.LooksLikeJWT(in.Token) {
		rec.Reason = fmt.Sprintf("token of %d bytes is not a compact JWS", len(in.Token))
		return nil, invalidParameter("The token must be a JSON Web Token of three base64url segments, at most %d bytes long.", k8s.MaxTokenBytes)
	}
	if cluster == nil {
		return nil, errf(http.StatusNotFound, "ResourceNotFoundException", "No cluster found for name: %s.", in.ClusterName)
	}
	s.calls.mark(cluster.Name, now)
	ckey := callerLimitKey(cluster.Name, caller, rec.SourceIP)
	if !s.limits.callers.has(ckey, now) {
		rec.Reason = "the calling agent's refusal budget is spent"
		return nil, throttled("Rate exceeded: too many refused requests from this caller for cluster %s.", cluster.Name)
	}
	rec.callerKey = ckey
	if !s.limits.cluster.take(cluster.Name, now) {
		return nil, throttled("Rate exceeded for cluster %s.", cluster.Name)
	}

	claims, aerr := s.verify(ctx, cluster, in.Token, now, rec)
	if aerr != nil {
		return nil, aerr
	}
	rec.Namespace, rec.ServiceAccount, rec.PodName, rec.PodUID, rec.Node = claims.Namespace, claims.ServiceAccountName, claims.PodName, claims.PodUID, claims.NodeName
	if node := CallerNode(caller); node != "" {
		// A node-bound agent serves only pods on its node; a token that
		// names no node (a pod not scheduled yet, or a cluster whose tokens
		// carry no node claim) cannot be shown to be one of them.
		switch {
		case claims.NodeName == "":
			rec.Reason = fmt.Sprintf("the calling agent is bound to node %s, the token names no node", node)
			return nil, accessDenied("The calling agent runs on node %s, but the token names no node.", node)
		case node != claims.NodeName:
			rec.Reason = fmt.Sprintf("the calling agent is bound to node %s, the token to node %s", node, claims.NodeName)
			return nil, accessDenied("The calling agent runs on node %s, but the token belongs to a pod on another node.", node)
		}
	}
	assoc, ok := s.cfg.Associations.Lookup(ctx, cluster.Name, claims.Namespace, claims.ServiceAccountName)
	if !ok {
		return nil, errf(http.StatusNotFound, "ResourceNotFoundException", "No Pod Identity Association found for cluster %s, namespace %s and service account %s.", cluster.Name, claims.Namespace, claims.ServiceAccountName)
	}
	rec.AssociationID, rec.Role, rec.TargetRole = assoc.ID, assoc.RoleARN, assoc.TargetRoleARN
	podKey := claims.PodUID
	if podKey == "" {
		podKey = claims.Namespace + "/" + claims.ServiceAccountName + "/" + claims.PodName
	}
	if !s.limits.pods.take(cluster.Name+"\x00"+podKey, now) {
		rec.Reason = "the pod's issuance budget is spent"
		return nil, throttled("Rate exceeded for pod %s.", truncate(claims.PodName, 253))
	}

	sessionName := SessionName(cluster.Name, claims.PodName, ids.NewUUID())
	rec.SessionName = sessionName
	first := &AssumeInput{
		RoleARN:       assoc.RoleARN,
		SessionName:   sessionName,
		Duration:      s.cfg.SessionDuration,
		SourceARN:     clusterARN,
		SourceAccount: s.cfg.AccountID,
	}
	if !assoc.DisableSessionTags {
		first.Tags = []Tag{
			{Key: "eks-cluster-arn", Value: clusterARN},
			{Key: "eks-cluster-name", Value: cluster.Name},
			{Key: "kubernetes-namespace", Value: claims.Namespace},
			{Key: "kubernetes-service-account", Value: claims.ServiceAccountName},
			{Key: "kubernetes-pod-name", Value: claims.PodName},
			{Key: "kubernetes-pod-uid", Value: claims.PodUID},
		}
		first.TransitiveTagKeys = SessionTagKeys
	}
	if assoc.TargetRoleARN == "" {
		// With a target role the session policy applies to the target
		// session only (spec §7.2).
		first.Policy = assoc.Policy
	}
	creds, err := s.cfg.CredentialIssuer.AssumeAsService(ctx, first)
	if err != nil {
		rec.Reason = "role " + assoc.RoleARN + ": " + errorText(err)
		return nil, mapIssuerError(err)
	}
	if assoc.TargetRoleARN != "" {
		second := &AssumeInput{
			RoleARN:       assoc.TargetRoleARN,
			SessionName:   sessionName,
			Duration:      min(TargetSessionDuration, s.cfg.SessionDuration),
			ExternalID:    assoc.ExternalID,
			Policy:        assoc.Policy,
			SourceARN:     clusterARN,
			SourceAccount: s.cfg.AccountID,
		}
		creds, err = s.cfg.CredentialIssuer.AssumeFromSession(ctx, creds, second)
		if err != nil {
			rec.Reason = "target role " + assoc.TargetRoleARN + ": " + errorText(err)
			return nil, mapIssuerError(err)
		}
	}
	rec.AccessKeyID, rec.Expires = creds.AccessKeyID, creds.Expiration.UTC()
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

// validClusterName is the model's ClusterName: 1..100 characters matching
// ^[0-9A-Za-z][A-Za-z0-9\-_]*$.
func validClusterName(s string) bool { return arn.IsValidClusterName(s) }

func errorText(err error) string {
	var ae *awsproto.Error
	if errors.As(err, &ae) {
		return ae.Code + ": " + ae.Message
	}
	return err.Error()
}

// mapIssuerError turns an STS-side refusal into EKS Auth's error: a trust
// or identity policy refusal is AccessDeniedException (HTTP 400), a bad
// session policy or an oversized packed policy InvalidParameterException,
// an unavailable issuer ServiceUnavailableException.
func mapIssuerError(err error) error {
	var ae *awsproto.Error
	if !errors.As(err, &ae) {
		return awsproto.Internal("InternalServerException", err)
	}
	switch ae.Code {
	case "AccessDenied", "AccessDeniedException", "NoSuchEntity", "RegionDisabledException":
		return accessDenied("%s", ae.Message)
	case "ValidationError", "MalformedPolicyDocument", "PackedPolicyTooLarge", "InvalidParameterValue", "InvalidParameterException":
		return invalidParameter("%s", ae.Message)
	case "Throttling", "ThrottlingException":
		return errf(http.StatusTooManyRequests, "ThrottlingException", "%s", ae.Message)
	case "ExpiredToken", "InvalidClientTokenId":
		// The first hop's session could not be used for the second: a
		// server-side fault, not the caller's.
		return awsproto.Internal("InternalServerException", err)
	}
	if ae.Status >= 500 {
		return &awsproto.Error{Code: "ServiceUnavailableException", Message: "The credential issuer is unavailable. Try again later.", Status: http.StatusServiceUnavailable, Cause: err}
	}
	return errf(http.StatusBadRequest, "InvalidRequestException", "%s", ae.Message)
}

// CallerNode returns the node the calling agent is bound to: the value of
// its session's NodeNameTag, or "" when it is not bound.
func CallerNode(p *auth.Principal) string {
	if p == nil || p.Session == nil {
		return ""
	}
	if v, ok := p.Session.Tags[NodeNameTag]; ok {
		return v
	}
	// Tag keys are case-insensitive in IAM.
	for k, v := range p.Session.Tags {
		if strings.EqualFold(k, NodeNameTag) {
			return v
		}
	}
	return ""
}

// SessionName builds the role session name EKS uses (spec §7.2):
// eks-CLUSTER-POD-UUID with cluster and pod each truncated to 10
// characters, any character STS does not allow replaced by '-', and the
// whole at most 64 characters.
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
