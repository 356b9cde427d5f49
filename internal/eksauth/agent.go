package eksauth

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/podid/podid/internal/arn"
	"github.com/podid/podid/internal/auth"
	"github.com/podid/podid/internal/awsproto"
	"github.com/podid/podid/internal/k8s"
	"github.com/podid/podid/internal/store"
)

// The agent exchange (AssumeRoleForAgent): a node agent's own projected
// service-account token in, short-lived credentials of the cluster's agent
// role out, their session tagged with the node the token's signed claims
// name (NodeNameTag). It is podid's, not AWS's: unsigned (the token is the
// proof), at POST /podid/v1/clusters/NAME/assume-role-for-agent, with the
// body {"token": "..."} of AssumeRoleForPodIdentity. See docs/eks-auth.md.
const (
	// AgentOperation is the exchange's operation name (metrics, audit).
	AgentOperation = "AssumeRoleForAgent"
	// AgentPathPattern is the exchange's ServeMux pattern.
	AgentPathPattern = "/podid/v1/clusters/{name}/assume-role-for-agent"
	// AgentAuditKind is the kind of the exchange's audit records.
	AgentAuditKind = "podid:AssumeRoleForAgent"
	// AgentServicePrincipal is the service the agent role is assumed as.
	// It is podid's own: an agent role's trust policy names it, and no pod
	// identity association (whose roles trust pods.eks.amazonaws.com) can
	// hand an agent role to a pod, nor can this exchange assume a pod's role.
	AgentServicePrincipal = "agent.podid.dev"
	// AgentNamespace and AgentServiceAccount name the service account the
	// agent DaemonSet runs as (the chart's and CreateAddon's); the exchange
	// accepts only its tokens.
	AgentNamespace      = "kube-system"
	AgentServiceAccount = "eks-pod-identity-agent"
	// AgentRolePath is the IAM path of agent roles.
	AgentRolePath = "/podid/"
	// DefaultAgentSessionDuration is how long agents' credentials last:
	// also how long a deleted agent pod's last credentials stay usable.
	DefaultAgentSessionDuration = time.Hour
)

// AgentRoleName is the name of a cluster's agent role: podid-agent-CLUSTER,
// or, past IAM's 64 characters, its first 35 characters of the cluster's
// name and a hash of the whole name.
func AgentRoleName(cluster string) string {
	name := "podid-agent-" + cluster
	if len(name) <= arn.MaxRoleNameLen {
		return name
	}
	sum := sha256.Sum256([]byte(cluster))
	return "podid-agent-" + cluster[:35] + "-" + hex.EncodeToString(sum[:8])
}

// AgentRoleARN is the ARN of a cluster's agent role.
func AgentRoleARN(partition, account, cluster string) string {
	return arn.Role(partition, account, AgentRolePath, AgentRoleName(cluster)).String()
}

// AgentTrustPolicy is the trust policy of a cluster's agent role: the agent
// exchange, for that cluster only (aws:SourceArn), may assume it and tag
// the session with the agent's node.
func AgentTrustPolicy(partition, region, account, cluster string) string {
	if partition == "" {
		partition = "aws"
	}
	return fmt.Sprintf(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"%s"},"Action":["sts:AssumeRole","sts:TagSession"],"Condition":{"StringEquals":{"aws:SourceArn":"%s","aws:SourceAccount":"%s"}}}]}`,
		AgentServicePrincipal, arn.Cluster(partition, region, account, cluster).String(), account)
}

// AgentOutput is AssumeRoleForAgent's answer. Every member is present.
type AgentOutput struct {
	// NodeName and PodName are the agent token's signed claims: the node
	// the credentials are bound to, and the agent's pod.
	NodeName        string          `json:"nodeName"`
	PodName         string          `json:"podName"`
	AssumedRoleUser AssumedRoleUser `json:"assumedRoleUser"`
	Credentials     WireCredentials `json:"credentials"`
}

// AssumeRoleForAgent exchanges a node agent's own token for credentials of
// the cluster's agent role, bound to the token's node. The request is
// unsigned: the token is verified in full against the cluster (its issuer's
// keys and/or TokenReview, as for pods' tokens) with audience
// k8s.AgentAudience, must belong to the agent's service account, a pod and
// a node. Nothing the caller says but the cluster's name and the token is
// used. Every issuance and refusal is audited (AgentAuditKind).
func (s *Service) AssumeRoleForAgent(ctx context.Context, in *Input) (*AgentOutput, error) {
	now := s.cfg.Now()
	rec := &auditFields{kind: AgentAuditKind, Cluster: truncate(in.ClusterName, 100), RequestID: awsproto.RequestIDFrom(ctx), SourceIP: auth.RequestInfoFrom(ctx).SourceIP}
	out, err := s.assumeAgent(ctx, in, now, rec)
	if rec.callerKey != "" && isRefusal(err) {
		s.limits.callers.charge(rec.callerKey, now)
	}
	if aerr := s.audit(ctx, now, rec, err); aerr != nil {
		return nil, aerr
	}
	return out, err
}

func (s *Service) assumeAgent(ctx context.Context, in *Input, now time.Time, rec *auditFields) (*AgentOutput, error) {
	if !validClusterName(in.ClusterName) {
		return nil, invalidParameter("The cluster name is not valid: it must be 1-100 characters, start with an alphanumeric character and contain only alphanumerics, hyphens and underscores.")
	}
	if in.Token == "" || !k8s.LooksLikeJWT(in.Token) {
		rec.Reason = fmt.Sprintf("token of %d bytes is not a compact JWS", len(in.Token))
		return nil, invalidParameter("The token must be a JSON Web Token of three base64url segments, at most %d bytes long.", k8s.MaxTokenBytes)
	}
	if s.cfg.AgentIssuer == nil {
		rec.Reason = "the agent exchange has no credential issuer"
		return nil, unavailable("podid's agent exchange is not configured on this server.")
	}
	cluster, cerr := s.clusters.Get(ctx, in.ClusterName)
	if cerr != nil && !errors.Is(cerr, store.ErrNotFound) {
		return nil, awsproto.Internal("InternalServerException", fmt.Errorf("reading cluster %s: %w", in.ClusterName, cerr))
	}
	if cluster == nil {
		return nil, errf(http.StatusNotFound, "ResourceNotFoundException", "No cluster found for name: %s.", in.ClusterName)
	}
	// Unsigned callers are told apart by their address: a source that
	// keeps sending refused tokens is throttled, as a signed agent is.
	ckey := cluster.Name + "\x00agent\x00" + rec.SourceIP
	if !s.limits.callers.has(ckey, now) {
		rec.Reason = "the caller's refusal budget is spent"
		return nil, throttled("Rate exceeded: too many refused requests from this caller for cluster %s.", cluster.Name)
	}
	rec.callerKey = ckey
	if !s.limits.cluster.take(cluster.Name, now) {
		return nil, throttled("Rate exceeded for cluster %s.", cluster.Name)
	}
	claims, aerr := s.verifyAudience(ctx, cluster, in.Token, now, rec, k8s.AgentAudience)
	if aerr != nil {
		return nil, aerr
	}
	rec.Namespace, rec.ServiceAccount, rec.PodName, rec.PodUID, rec.Node = claims.Namespace, claims.ServiceAccountName, claims.PodName, claims.PodUID, claims.NodeName
	rec.Caller = "system:serviceaccount:" + claims.Namespace + ":" + claims.ServiceAccountName
	if claims.Namespace != AgentNamespace || claims.ServiceAccountName != AgentServiceAccount {
		rec.Reason = fmt.Sprintf("service account %s/%s is not the agent's %s/%s", claims.Namespace, claims.ServiceAccountName, AgentNamespace, AgentServiceAccount)
		return nil, accessDenied("The token belongs to service account %s/%s; only the agent's service account %s/%s may call %s.",
			truncate(claims.Namespace, 63), truncate(claims.ServiceAccountName, 253), AgentNamespace, AgentServiceAccount, AgentOperation)
	}
	if claims.NodeName == "" {
		rec.Reason = "the agent's token names no node"
		return nil, accessDenied("The agent's token names no node: project the token of a pod scheduled on a node (Kubernetes 1.30 or later puts the node in it).")
	}
	if !s.limits.pods.take(cluster.Name+"\x00agent\x00"+claims.PodUID, now) {
		rec.Reason = "the agent pod's issuance budget is spent"
		return nil, throttled("Rate exceeded for pod %s.", truncate(claims.PodName, 253))
	}
	clusterARN := arn.Cluster(s.cfg.Partition, s.cfg.Region, s.cfg.AccountID, cluster.Name).String()
	role := AgentRoleARN(s.cfg.Partition, s.cfg.AccountID, cluster.Name)
	rec.Role = role
	rec.SessionName = agentSessionName(claims.NodeName)
	creds, err := s.cfg.AgentIssuer.AssumeAsService(ctx, &AssumeInput{
		ServicePrincipal: AgentServicePrincipal,
		RoleARN:          role,
		SessionName:      rec.SessionName,
		// The node comes from the token's signed claim, never from the
		// request: EKS Auth compares it with each pod token's node.
		Tags:          []Tag{{Key: NodeNameTag, Value: claims.NodeName}},
		Duration:      s.cfg.AgentSessionDuration,
		SourceARN:     clusterARN,
		SourceAccount: s.cfg.AccountID,
	})
	if err != nil {
		rec.Reason = "agent role " + role + ": " + errorText(err)
		return nil, mapIssuerError(err)
	}
	rec.AccessKeyID, rec.Expires = creds.AccessKeyID, creds.Expiration.UTC()
	return &AgentOutput{
		NodeName:        claims.NodeName,
		PodName:         claims.PodName,
		AssumedRoleUser: AssumedRoleUser{ARN: creds.AssumedRoleARN, AssumeRoleID: creds.AssumedRoleID},
		Credentials: WireCredentials{
			SessionToken:    creds.SessionToken,
			SecretAccessKey: creds.SecretAccessKey,
			AccessKeyID:     creds.AccessKeyID,
			Expiration:      creds.Expiration.Unix(),
		},
	}, nil
}

// agentSessionName is the agent session's name: node-NODE, at most 64
// characters, characters STS does not allow replaced by '-'.
func agentSessionName(node string) string {
	b := []byte(truncate("node-"+node, 64))
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("_+=,.@-", c) >= 0) {
			b[i] = '-'
		}
	}
	return string(b)
}

// serveAgent serves POST /podid/v1/clusters/{name}/assume-role-for-agent.
func (s *Service) serveAgent(w http.ResponseWriter, r *http.Request, cluster string) {
	reqID := awsproto.RequestIDFrom(r.Context())
	awsproto.SetOperation(r.Context(), AgentOperation)
	if r.Method != http.MethodPost {
		awsproto.WriteJSONError(w, reqID, errf(http.StatusMethodNotAllowed, "UnknownOperationException", "%s requires POST.", AgentOperation))
		return
	}
	in, aerr := decodeInput(r.Body, r.ContentLength, cluster)
	if aerr != nil {
		f := &auditFields{kind: AgentAuditKind, Cluster: truncate(cluster, 100), RequestID: reqID, SourceIP: auth.RequestInfoFrom(r.Context()).SourceIP}
		_ = s.audit(r.Context(), s.cfg.Now(), f, aerr) // a refusal: never waits, never fails
		awsproto.WriteJSONError(w, reqID, aerr)
		return
	}
	out, err := s.AssumeRoleForAgent(r.Context(), in)
	if err != nil {
		var ae *awsproto.Error
		if !errors.As(err, &ae) {
			ae = awsproto.Internal("InternalServerException", err)
		}
		if ae.Status >= 500 {
			s.cfg.Logger.ErrorContext(r.Context(), AgentOperation+" failed", "requestId", reqID, "cluster", truncate(cluster, 100), "code", ae.Code, "err", ae.Cause)
		}
		awsproto.WriteJSONError(w, reqID, ae)
		return
	}
	awsproto.WriteJSON(w, http.StatusOK, reqID, out)
}
