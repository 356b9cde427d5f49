package explain

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"regexp"

	"github.com/podid/podid/internal/arn"
	"github.com/podid/podid/internal/auth"
	"github.com/podid/podid/internal/awsproto"
)

// Path is the REST extension that serves explanations: POST with a JSON
// Request, or GET with the query parameters cluster, namespace,
// serviceAccount, pod and repeated action/resource pairs.
const Path = "/podid/v1/explain"

// Operation names Path's operation in request metrics.
const Operation = "Explain"

// Action is the IAM action that guards Path, on the cluster's ARN.
const Action = "podid:Explain"

// Authorizer decides whether a caller may ask.
type Authorizer interface {
	Authorize(ctx context.Context, p *auth.Principal, action, resource string, extra map[string][]string) error
}

// Handler serves Path.
type Handler struct {
	Explainer  *Explainer
	Authorizer Authorizer
}

var (
	clusterRE = regexp.MustCompile(`^[0-9A-Za-z][A-Za-z0-9\-_]{0,99}$`)
	// Kubernetes DNS-1123 names (namespaces are labels; service accounts
	// and pods subdomains).
	dnsLabelRE     = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$`)
	dnsSubdomainRE = regexp.MustCompile(`^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$`)
)

// maxChecks bounds the actions of one explanation.
const maxChecks = 100

func invalid(format string, args ...any) *awsproto.Error {
	return awsproto.Errorf(http.StatusBadRequest, "InvalidParameterException", format, args...)
}

// Validate checks a request's names and checks.
func (r *Request) Validate() error {
	switch {
	case !clusterRE.MatchString(r.Cluster):
		return invalid("The cluster name is not valid.")
	case !dnsLabelRE.MatchString(r.Namespace):
		return invalid("The namespace is not a valid Kubernetes namespace name.")
	case !dnsSubdomainRE.MatchString(r.ServiceAccount):
		return invalid("The service account is not a valid Kubernetes name.")
	case r.Pod != "" && !dnsSubdomainRE.MatchString(r.Pod):
		return invalid("The pod is not a valid Kubernetes name.")
	case len(r.Checks) > maxChecks:
		return invalid("At most %d action checks are allowed.", maxChecks)
	}
	for _, c := range r.Checks {
		if len(c.Action) < 3 || len(c.Action) > 128 || len(c.Resource) < 1 || len(c.Resource) > 2048 {
			return invalid("Each check needs an action (3-128 characters) and a resource (1-2048 characters).")
		}
	}
	return nil
}

// ServeHTTP answers an explanation in restJson1.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	reqID := awsproto.RequestIDFrom(r.Context())
	req, err := decodeRequest(r)
	if err == nil {
		err = req.Validate()
	}
	if err == nil {
		err = h.authorize(r, req)
	}
	var e *Explanation
	if err == nil {
		e, err = h.Explainer.Explain(r.Context(), req)
	}
	if err != nil {
		var ae *awsproto.Error
		if !errors.As(err, &ae) {
			ae = awsproto.Internal("InternalFailure", err)
		}
		awsproto.WriteJSONError(w, reqID, ae)
		return
	}
	awsproto.WriteJSON(w, http.StatusOK, reqID, e)
}

func (h *Handler) authorize(r *http.Request, req *Request) error {
	p := auth.PrincipalFrom(r.Context())
	if p == nil {
		return awsproto.Errorf(http.StatusForbidden, "AccessDeniedException", "Request is missing Authentication Token")
	}
	cfg := h.Explainer.cfg
	clusterARN := arn.Cluster(cfg.Partition, cfg.Region, cfg.AccountID, req.Cluster).String()
	err := h.Authorizer.Authorize(r.Context(), p, Action, clusterARN, nil)
	var d *auth.DeniedError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &d):
		return awsproto.Errorf(http.StatusForbidden, "AccessDeniedException", "%s", d.Message)
	}
	return awsproto.Internal("InternalFailure", err)
}

// maxBody bounds a POST body.
const maxBody = 256 << 10

func decodeRequest(r *http.Request) (*Request, error) {
	switch r.Method {
	case http.MethodGet:
		q := r.URL.Query()
		req := &Request{Cluster: q.Get("cluster"), Namespace: q.Get("namespace"), ServiceAccount: q.Get("serviceAccount"), Pod: q.Get("pod")}
		actions, resources := q["action"], q["resource"]
		if len(actions) != len(resources) {
			return nil, invalid("Each action needs a resource (repeat action and resource in pairs).")
		}
		for i := range actions {
			req.Checks = append(req.Checks, Check{Action: actions[i], Resource: resources[i]})
		}
		return req, nil
	case http.MethodPost:
		body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
		if err != nil || len(body) > maxBody {
			return nil, invalid("The request body could not be read or is larger than %d bytes.", maxBody)
		}
		var req Request
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil {
			return nil, awsproto.Errorf(http.StatusBadRequest, "SerializationException", "The request body is not a valid explain request.")
		}
		return &req, nil
	}
	return nil, awsproto.Errorf(http.StatusMethodNotAllowed, "UnknownOperationException", "%s requires GET or POST.", Path)
}
