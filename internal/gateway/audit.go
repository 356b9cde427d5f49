package gateway

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net"
	"net/http"

	"github.com/podid/podid/internal/auth"
	"github.com/podid/podid/internal/awsproto"
	"github.com/podid/podid/internal/explain"
	"github.com/podid/podid/internal/store"
)

// Audit record kinds and decisions.
const (
	// AuditKindDynamoDB and AuditKindS3 are the Kind of the gateway's
	// audit records.
	AuditKindDynamoDB = "gateway:dynamodb"
	AuditKindS3       = "gateway:s3"
	// DecisionAllowed, DecisionDenied and DecisionWouldDeny are their
	// Decision: allowed and forwarded, denied and refused, denied but
	// forwarded because the gateway runs in soft mode.
	DecisionAllowed   = "allowed"
	DecisionDenied    = "denied"
	DecisionWouldDeny = "would-deny"
)

// auditEntry is what the serving code knows of a request when it records
// the decision.
type auditEntry struct {
	service   string
	operation string
	principal *auth.Principal
	reqID     string
	r         *http.Request
}

// auditFields are the JSON fields of a gateway audit record.
type auditFields struct {
	Service        string `json:"service"`
	Operation      string `json:"operation"`
	Principal      string `json:"principal"`
	AccessKeyID    string `json:"accessKeyId,omitempty"`
	Cluster        string `json:"cluster,omitempty"`
	Namespace      string `json:"namespace,omitempty"`
	ServiceAccount string `json:"serviceAccount,omitempty"`
	Pod            string `json:"podName,omitempty"`
	// Action and Resource are the denied check's, or the first check's
	// when allowed.
	Action    string `json:"action"`
	Resource  string `json:"resource"`
	Checks    int    `json:"checks"`
	Enforced  bool   `json:"enforced"`
	SourceIP  string `json:"sourceIp,omitempty"`
	RequestID string `json:"requestId"`
}

// record logs a decision and hands it to the auditor. soft says a denial
// was not enforced.
func (g *Gateway) record(ctx context.Context, e *auditEntry, d decision, soft bool) {
	f := auditFields{
		Service: e.service, Operation: e.operation, Principal: e.principal.ARN, AccessKeyID: e.principal.AccessKeyID,
		Checks: len(d.checks), Enforced: !g.cfg.Soft, RequestID: e.reqID,
	}
	if host, _, err := net.SplitHostPort(e.r.RemoteAddr); err == nil {
		f.SourceIP = host
	}
	if s := e.principal.Session; s != nil {
		f.Cluster = s.Tags["eks-cluster-name"]
		f.Namespace = s.Tags["kubernetes-namespace"]
		f.ServiceAccount = s.Tags["kubernetes-service-account"]
		f.Pod = s.Tags["kubernetes-pod-name"]
	}
	i := d.denied
	if i < 0 {
		i = 0
	}
	if i < len(d.checks) {
		f.Action, f.Resource = d.checks[i].action, d.checks[i].resource
	}
	decisionName := DecisionAllowed
	switch {
	case d.denied >= 0 && soft:
		decisionName = DecisionWouldDeny
		g.log.WarnContext(ctx, "gateway: would deny (soft mode, forwarded)", "requestId", e.reqID, "principal", f.Principal,
			"action", f.Action, "resource", f.Resource, "reason", d.message, "explain", explainCommand(&f))
	case d.denied >= 0:
		decisionName = DecisionDenied
		g.log.InfoContext(ctx, "gateway: denied", "requestId", e.reqID, "principal", f.Principal,
			"action", f.Action, "resource", f.Resource, "explain", explainCommand(&f))
	default:
		g.log.DebugContext(ctx, "gateway: allowed", "requestId", e.reqID, "principal", f.Principal,
			"operation", e.operation, "checks", len(d.checks))
	}
	g.cfg.Metrics.decision(e.service, e.operation, decisionName)
	if g.cfg.Audit == nil || (decisionName == DecisionAllowed && g.cfg.AuditDenialsOnly) {
		return
	}
	fields, _ := json.Marshal(f)
	var id [8]byte
	rand.Read(id[:])
	kind := AuditKindDynamoDB
	if e.service == "s3" {
		kind = AuditKindS3
	}
	reason := ""
	if d.denied >= 0 {
		reason = d.message
	}
	g.cfg.Audit.Record(&store.AuditRecord{
		ID:       hex.EncodeToString(id[:]),
		Time:     g.cfg.Now().UTC(),
		Kind:     kind,
		Decision: decisionName,
		Reason:   reason,
		Fields:   string(fields),
	})
}

// explainCommand is the `podid explain` command that explains a pod
// session's denial, or "" for callers that are not pods.
func explainCommand(f *auditFields) string {
	if f.Cluster == "" || f.Namespace == "" || f.ServiceAccount == "" {
		return ""
	}
	return explain.Command(explain.Subject{Cluster: f.Cluster, Namespace: f.Namespace, ServiceAccount: f.ServiceAccount,
		Pod: f.Pod, Action: f.Action, Resource: f.Resource})
}

// unmappedMessage is the denial of an operation the gateway does not map.
func unmappedMessage(p *auth.Principal, action string) string {
	return "User: " + p.ARN + " is not authorized to perform: " + action +
		" because the podid gateway does not map this operation to IAM resources and condition keys"
}

// logAuthFailure logs a failed verification (its code only: messages may
// quote request data).
func (g *Gateway) logAuthFailure(ctx context.Context, service, reqID string, err error) {
	var ae *awsproto.Error
	if errors.As(err, &ae) {
		if ae.Status >= 500 {
			g.log.ErrorContext(ctx, "gateway: verification failed", "requestId", reqID, "service", service, "code", ae.Code, "err", ae.Cause)
			return
		}
		g.log.DebugContext(ctx, "gateway: authentication refused", "requestId", reqID, "service", service, "code", ae.Code)
		return
	}
	g.log.ErrorContext(ctx, "gateway: verification failed", "requestId", reqID, "service", service, "err", err)
}
