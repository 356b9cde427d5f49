package gateway

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics are the gateway's Prometheus metrics. Every label takes values
// from a fixed set: services, the operations the gateway knows (anything
// else counts as "other"), outcomes.
type Metrics struct {
	decisions *prometheus.CounterVec
	upstream  *prometheus.HistogramVec
}

// Outcomes of an upstream call, the label of podid_gateway_upstream_seconds.
const (
	upstreamOK    = "ok"    // the upstream answered (any HTTP status)
	upstreamError = "error" // unreachable, or no answer in time
)

// NewMetrics registers the gateway's metrics with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "podid_gateway_decisions_total",
			Help: "Authorization decisions of the gateway by service (dynamodb, s3), operation (\"other\" for an operation the gateway does not know) and outcome (allowed, denied, would-deny).",
		}, []string{"service", "action", "outcome"}),
		upstream: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "podid_gateway_upstream_seconds",
			Help:    "Time until an upstream's response headers, by service and outcome (ok: an answer of any status; error: unreachable or timed out).",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"service", "outcome"}),
	}
	reg.MustRegister(m.decisions, m.upstream)
	// Every series exists from the start (at zero), so rates and alerts
	// need no absent() guards.
	for _, svc := range []string{"dynamodb", "s3"} {
		for _, o := range []string{upstreamOK, upstreamError} {
			m.upstream.WithLabelValues(svc, o)
		}
	}
	return m
}

// knownActions is the bounded set of operation labels.
var knownActions = func() map[string]bool {
	m := map[string]bool{"unmapped": true}
	for op := range ddbOps {
		m[op] = true
	}
	for op := range ddbUnmapped {
		m[op] = true
	}
	for _, op := range s3BucketOps {
		m[op] = true
	}
	for _, op := range s3ObjectOps {
		m[op] = true
	}
	for _, op := range s3Versioned {
		m[op] = true
	}
	for _, op := range []string{"ListAllMyBuckets", "CreateMultipartUpload", "UploadPart", "UploadPartCopy", "CompleteMultipartUpload",
		"HeadObject", "HeadBucket", "SelectObjectContent", "CopyObject", "DeleteObjects"} {
		m[op] = true
	}
	return m
}()

// decision counts one decision.
func (m *Metrics) decision(service, op, outcome string) {
	if m == nil {
		return
	}
	if service != "dynamodb" && service != "s3" {
		service = "other"
	}
	if !knownActions[op] {
		op = "other"
	}
	m.decisions.WithLabelValues(service, op, outcome).Inc()
}

// upstreamCall observes one upstream round trip.
func (m *Metrics) upstreamCall(service string, d time.Duration, err error) {
	if m == nil {
		return
	}
	o := upstreamOK
	if err != nil {
		o = upstreamError
	}
	m.upstream.WithLabelValues(service, o).Observe(d.Seconds())
}

// opsPaths are the operational endpoints. An S3 bucket cannot be named
// after them to any effect: they are served only to unsigned GETs, which
// the gateway refuses for S3 anyway (no anonymous access).
var opsPaths = map[string]bool{"/healthz": true, "/readyz": true, "/metrics": true}

// serveOps serves the operational endpoints and reports whether r was one.
func (g *Gateway) serveOps(w http.ResponseWriter, r *http.Request) bool {
	if (r.Method != http.MethodGet && r.Method != http.MethodHead) || !opsPaths[r.URL.Path] || r.URL.RawQuery != "" ||
		r.Header.Get("Authorization") != "" || r.Header.Get("X-Amz-Target") != "" {
		return false
	}
	switch r.URL.Path {
	case "/healthz":
		w.Write([]byte("ok\n"))
	case "/readyz":
		g.serveReady(w, r)
	case "/metrics":
		if g.cfg.Gatherer == nil {
			http.NotFound(w, r)
			return true
		}
		promhttp.HandlerFor(g.cfg.Gatherer, promhttp.HandlerOpts{}).ServeHTTP(w, r)
	}
	return true
}

// ReadyTimeout bounds each readiness check.
const ReadyTimeout = 2 * time.Second

// serveReady answers 200 when the store and every upstream answer, else
// 503 naming what does not (never credentials or bodies).
func (g *Gateway) serveReady(w http.ResponseWriter, r *http.Request) {
	var problems []string
	if g.cfg.StoreReady != nil {
		ctx, cancel := context.WithTimeout(r.Context(), ReadyTimeout)
		err := g.cfg.StoreReady(ctx)
		cancel()
		if err != nil {
			problems = append(problems, "store unavailable")
		}
	}
	for _, u := range []*upstream{g.ddb, g.s3} {
		if u == nil {
			continue
		}
		if err := g.probeUpstream(r.Context(), u); err != nil {
			problems = append(problems, u.name+" upstream "+u.base.String()+" unreachable")
		}
	}
	if len(problems) > 0 {
		http.Error(w, strings.Join(problems, "; "), http.StatusServiceUnavailable)
		return
	}
	w.Write([]byte("ok\n"))
}

// probeUpstream reports whether u answers HTTP at all: any status counts
// (an unsigned GET of the base URL is refused by every store).
func (g *Gateway) probeUpstream(ctx context.Context, u *upstream) error {
	ctx, cancel := context.WithTimeout(ctx, ReadyTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.base.String(), nil)
	if err != nil {
		return err
	}
	resp, err := u.rt.RoundTrip(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	return nil
}
