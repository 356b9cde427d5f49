package console

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/podid/podid/internal/audit"
)

// feedRecord is one audit record as the feed shows it (from the JSON
// form GET /podid/v1/audit answers).
type feedRecord struct {
	ID             string `json:"id"`
	Time           string `json:"time"`
	Kind           string `json:"kind"`
	Decision       string `json:"decision"`
	Cluster        string `json:"cluster,omitempty"`
	Namespace      string `json:"namespace,omitempty"`
	ServiceAccount string `json:"serviceAccount,omitempty"`
	Pod            string `json:"podName,omitempty"`
	Role           string `json:"roleArn,omitempty"`
	Action         string `json:"action,omitempty"`
	Resource       string `json:"resource,omitempty"`
	Code           string `json:"errorCode,omitempty"`
	Reason         string `json:"reason,omitempty"`
	Count          int    `json:"count,omitempty"`
}

// auditPage is GET /podid/v1/audit's answer.
type auditPage struct {
	Records   []feedRecord `json:"records"`
	NextToken string       `json:"nextToken"`
	More      bool         `json:"more"`
}

type feedFilter struct {
	Cluster, Namespace, ServiceAccount, Decision, Kind string
}

func readFeedFilter(q url.Values) feedFilter {
	return feedFilter{Cluster: strings.TrimSpace(q.Get("cluster")), Namespace: strings.TrimSpace(q.Get("namespace")),
		ServiceAccount: strings.TrimSpace(q.Get("serviceAccount")), Decision: strings.TrimSpace(q.Get("decision")), Kind: strings.TrimSpace(q.Get("kind"))}
}

func (f feedFilter) values() url.Values {
	v := url.Values{}
	for k, s := range map[string]string{"cluster": f.Cluster, "namespace": f.Namespace, "serviceAccount": f.ServiceAccount, "decision": f.Decision, "kind": f.Kind} {
		if s != "" {
			v.Set(k, s)
		}
	}
	return v
}

type feedData struct {
	Filter    feedFilter
	Decisions []string
	Records   []feedRecord
	// Cursor is where the live stream continues (the audit API's
	// nextToken after the records shown).
	Cursor string
	// Window is how far back the page looked.
	Window string
	// Query is the filter as a query string (for the stream's URL).
	Query string
}

// Feed bounds: the first render shows the last feedShown records of the
// last feedWindow, reading at most feedPages API pages.
const (
	feedWindow = 15 * time.Minute
	feedShown  = 100
	feedPages  = 20
)

// feed shows recent audit records (GET /podid/v1/audit, authorized as
// podid:ListAuditRecords) with filters; the page's script then follows
// feed/events for new ones.
func (c *Console) feed(w http.ResponseWriter, r *request) {
	f := readFeedFilter(r.URL.Query())
	d := &feedData{Filter: f, Decisions: audit.Decisions, Window: feedWindow.String(), Query: f.values().Encode()}
	p := signedPage(r, "feed", "Live feed", d)
	q := f.values()
	q.Set("since", c.cfg.Now().Add(-feedWindow).UTC().Format(time.RFC3339Nano))
	q.Set("maxResults", "1000")
	status := http.StatusOK
	for range feedPages {
		var page auditPage
		if err := c.rest(r.ctx, http.MethodGet, rawPath(audit.Path), q, nil, &page); err != nil {
			p.Error = c.apiError(r.ctx, audit.Operation, err)
			status = statusOf(err)
			break
		}
		d.Records = append(d.Records, page.Records...)
		if len(d.Records) > feedShown {
			d.Records = d.Records[len(d.Records)-feedShown:]
		}
		d.Cursor = page.NextToken
		if !page.More {
			break
		}
		q.Set("nextToken", page.NextToken)
	}
	// Newest first on the page.
	for i, j := 0, len(d.Records)-1; i < j; i, j = i+1, j-1 {
		d.Records[i], d.Records[j] = d.Records[j], d.Records[i]
	}
	if d.Cursor == "" && p.Error == nil {
		// No record yet: the stream starts at the window's start.
		d.Cursor = audit.Cursor{Time: c.cfg.Now().Add(-feedWindow), ID: " "}.Token()
	}
	c.render(w, r.Request, status, "feed", p)
}

// feedHeartbeat is how often an idle stream sends a comment (keeps
// proxies from closing it and notices a gone browser).
const feedHeartbeat = 15 * time.Second

// feedEvents streams new audit records as server-sent events: each record
// an "audit" event whose id is the cursor after it (a reconnecting
// EventSource sends it back as Last-Event-ID). Every read is the audit
// API's, authorized for the signed-in caller; the stream ends when the
// session does (sign-out anywhere, or its lifetime).
func (c *Console) feedEvents(w http.ResponseWriter, r *request) {
	f := readFeedFilter(r.URL.Query())
	cursor := r.URL.Query().Get("after")
	if id := r.Header.Get("Last-Event-ID"); id != "" {
		cursor = id
	}
	q := f.values()
	q.Set("maxResults", "100")
	// The first read answers errors as a status, before the stream starts.
	if cursor != "" {
		q.Set("nextToken", cursor)
	}
	var first auditPage
	if err := c.rest(r.ctx, http.MethodGet, rawPath(audit.Path), q, nil, &first); err != nil {
		ae := c.apiError(r.ctx, audit.Operation, err)
		http.Error(w, ae.Code+": "+ae.Message, statusOf(err))
		return
	}
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	ctx := r.Context()
	page := &first
	lastBeat, lastCheck := time.Now(), time.Now()
	for {
		_ = rc.SetWriteDeadline(time.Now().Add(2 * feedHeartbeat))
		for _, rec := range page.Records {
			b, _ := json.Marshal(rec)
			if _, err := fmt.Fprintf(w, "event: audit\ndata: %s\n\n", b); err != nil {
				return
			}
		}
		if page.NextToken != "" {
			cursor = page.NextToken
			if len(page.Records) > 0 {
				fmt.Fprintf(w, "id: %s\n\n", cursor)
			}
		}
		if time.Since(lastBeat) >= feedHeartbeat {
			if _, err := fmt.Fprint(w, ": keep-alive\n\n"); err != nil {
				return
			}
			lastBeat = time.Now()
		}
		if rc.Flush() != nil {
			return
		}
		if !page.More {
			select {
			case <-ctx.Done():
				return
			case <-time.After(c.cfg.FeedPoll):
			}
		}
		if time.Since(lastCheck) >= 5*time.Second {
			if !c.sessionLive(ctx, r.sess) {
				fmt.Fprint(w, "event: end\ndata: signed out\n\n")
				rc.Flush()
				return
			}
			lastCheck = time.Now()
		}
		if cursor != "" {
			q.Set("nextToken", cursor)
		}
		var next auditPage
		if err := c.rest(r.ctx, http.MethodGet, rawPath(audit.Path), q, nil, &next); err != nil {
			ae := c.apiError(r.ctx, audit.Operation, err)
			b, _ := json.Marshal(ae)
			fmt.Fprintf(w, "event: failure\ndata: %s\n\n", b)
			rc.Flush()
			return
		}
		page = &next
	}
}

// sessionLive reports whether a streaming request's session still holds:
// within its lifetime and not signed out.
func (c *Console) sessionLive(ctx context.Context, sess *session) bool {
	if c.cfg.Now().Sub(time.Unix(sess.Issued, 0)) >= c.sessions.abs {
		return false
	}
	revoked, err := c.sessions.revocations.Revoked(ctx, sess.ID)
	return err == nil && !revoked
}
