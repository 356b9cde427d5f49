package audit

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/podid/podid/internal/arn"
	"github.com/podid/podid/internal/auth"
	"github.com/podid/podid/internal/awsproto"
	"github.com/podid/podid/internal/store"
)

// Path is the REST extension that lists audit records: GET with the query
// parameters since, until (RFC 3339), cluster, namespace, serviceAccount,
// decision, kind, maxResults (1-1000) and nextToken. It answers
// {"records":[…],"nextToken":"…","more":bool}, each record in the JSON
// form of the audit log (RecordJSON). Signed with SigV4 for service eks.
const Path = "/podid/v1/audit"

// Action is the IAM action that guards Path: on the cluster's ARN when
// the request names a cluster, else on "*".
const Action = "podid:ListAuditRecords"

// Operation names Path in metrics and the access log.
const Operation = "ListAuditRecords"

// MaxResults bounds a page.
const MaxResults = 1000

// Authorizer decides whether a caller may read.
type Authorizer interface {
	Authorize(ctx context.Context, p *auth.Principal, action, resource string, extra map[string][]string) error
}

// Handler serves Path.
type Handler struct {
	Store      store.Store
	Authorizer Authorizer
	// Partition, Region and AccountID make cluster ARNs.
	Partition, Region, AccountID string
	// JSON turns a record into its JSON form (the audit log's).
	JSON func(*store.AuditRecord) map[string]any
}

// Response is the answer of Path.
type Response struct {
	Records   []map[string]any `json:"records"`
	NextToken string           `json:"nextToken,omitempty"`
	More      bool             `json:"more"`
}

func invalid(msg string) *awsproto.Error {
	return awsproto.Errorf(http.StatusBadRequest, "InvalidParameterException", "%s", msg)
}

// ParseQuery reads a filter, cursor and page size from query parameters.
func ParseQuery(q url.Values) (Filter, Cursor, int, error) {
	var f Filter
	for name, dst := range map[string]*time.Time{"since": &f.Since, "until": &f.Until} {
		if v := q.Get(name); v != "" {
			t, err := time.Parse(time.RFC3339Nano, v)
			if err != nil {
				return f, Cursor{}, 0, invalid("The " + name + " parameter must be an RFC 3339 time.")
			}
			*dst = t
		}
	}
	f.Cluster, f.Namespace, f.ServiceAccount = q.Get("cluster"), q.Get("namespace"), q.Get("serviceAccount")
	f.Decision, f.Kind = q.Get("decision"), q.Get("kind")
	if err := f.Validate(); err != nil {
		return f, Cursor{}, 0, invalid("Invalid filter: " + err.Error() + ".")
	}
	c, err := ParseToken(q.Get("nextToken"))
	if err != nil {
		return f, Cursor{}, 0, invalid("The nextToken parameter is not valid.")
	}
	limit := MaxResults
	if v := q.Get("maxResults"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > MaxResults {
			return f, Cursor{}, 0, invalid("The maxResults parameter must be between 1 and 1000.")
		}
		limit = n
	}
	return f, c, limit, nil
}

// ServeHTTP answers a page of records in restJson1.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	reqID := awsproto.RequestIDFrom(r.Context())
	resp, err := h.serve(r)
	if err != nil {
		var ae *awsproto.Error
		if !errors.As(err, &ae) {
			ae = awsproto.Internal("InternalFailure", err)
		}
		awsproto.WriteJSONError(w, reqID, ae)
		return
	}
	awsproto.WriteJSON(w, http.StatusOK, reqID, resp)
}

func (h *Handler) serve(r *http.Request) (*Response, error) {
	if r.Method != http.MethodGet {
		return nil, awsproto.Errorf(http.StatusMethodNotAllowed, "UnknownOperationException", "%s requires GET.", Path)
	}
	f, c, limit, err := ParseQuery(r.URL.Query())
	if err != nil {
		return nil, err
	}
	if err := h.authorize(r, f.Cluster); err != nil {
		return nil, err
	}
	p, err := Read(r.Context(), h.Store, f, c, limit)
	if err != nil {
		return nil, err
	}
	out := &Response{Records: make([]map[string]any, 0, len(p.Records)), NextToken: p.Next.Token(), More: p.More}
	for _, rec := range p.Records {
		out.Records = append(out.Records, h.JSON(rec))
	}
	return out, nil
}

func (h *Handler) authorize(r *http.Request, cluster string) error {
	p := auth.PrincipalFrom(r.Context())
	if p == nil {
		return awsproto.Errorf(http.StatusForbidden, "AccessDeniedException", "Request is missing Authentication Token")
	}
	resource := "*"
	if cluster != "" {
		resource = arn.Cluster(h.Partition, h.Region, h.AccountID, cluster).String()
	} else if p.AccountID != h.AccountID {
		// The records are the server's (its primary account's): a caller
		// of another hosted account is asked for them as a cross-account
		// resource, which the authorizer refuses.
		resource = arn.Cluster(h.Partition, h.Region, h.AccountID, "*").String()
	}
	err := h.Authorizer.Authorize(r.Context(), p, Action, resource, nil)
	if err == nil {
		return nil
	}
	var d *auth.DeniedError
	if errors.As(err, &d) {
		return awsproto.Errorf(http.StatusForbidden, "AccessDeniedException", "%s", d.Message)
	}
	return awsproto.Internal("InternalFailure", err)
}
