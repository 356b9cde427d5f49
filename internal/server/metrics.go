package server

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Label values the edge's metrics use for what podid does not serve. Every
// label value comes from podid's own tables, never from request input: a
// caller who makes up services, actions or operations moves one counter,
// not the number of series (issue 13).
const (
	// LabelUnknown is the service or action label of a request naming a
	// service or action podid does not serve, or none.
	LabelUnknown = "unknown"
	// LabelOther is the code label of a status outside the fixed set.
	LabelOther = "other"
	// servicePublic labels the unauthenticated issuer documents.
	servicePublic = "public"
	// maxOperationLabel bounds an operation name a restJson1 handler
	// reports (the longest EKS operation is well below it).
	maxOperationLabel = 64
)

// servedServices are the only values of the service label.
var servedServices = map[string]bool{"iam": true, "sts": true, "eks": true, "eks-auth": true, servicePublic: true}

// statusLabels are the only values of the code label (LabelOther for the
// rest): the statuses podid's services and edge write.
var statusLabels = func() map[int]string {
	m := map[int]string{}
	for _, c := range []int{200, 201, 202, 204, 206, 301, 302, 304, 400, 401, 403, 404, 405, 409, 411, 413, 415, 429, 431, 500, 501, 502, 503, 504} {
		m[c] = strconv.Itoa(c)
	}
	return m
}()

// Metrics are the edge's Prometheus metrics, registered on a registry the
// caller owns (no global registry).
type Metrics struct {
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	refused  *prometheus.CounterVec
}

// NewMetrics registers the edge's metrics on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "podid_api_requests_total",
			Help: "API requests by service, action (operation) and HTTP status. Services and actions podid does not serve count as \"unknown\".",
		}, []string{"service", "action", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "podid_api_request_duration_seconds",
			Help:    "API request latency by service.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"service"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "podid_api_limit_refusals_total",
			Help: "Requests refused by a limit on untrusted input before authentication, by limit.",
		}, []string{"limit"}),
	}
	reg.MustRegister(m.requests, m.latency, m.refused)
	return m
}

// observe counts one request. service and action must already be bounded
// (see labels); the status is mapped to a fixed set here.
func (m *Metrics) observe(service, action string, status int, d time.Duration) {
	m.requests.WithLabelValues(service, action, statusLabel(status)).Inc()
	m.latency.WithLabelValues(service).Observe(d.Seconds())
}

// limitRefused counts one refusal by a limit named by a constant.
func (m *Metrics) limitRefused(limit string) {
	if m != nil {
		m.refused.WithLabelValues(limit).Inc()
	}
}

func statusLabel(status int) string {
	if s, ok := statusLabels[status]; ok {
		return s
	}
	return LabelOther
}

// actionLister is what an awsQuery service tells the edge about the
// actions it serves (iam.Service and sts.Service implement it), so the
// action label cannot drift from the dispatch tables.
type actionLister interface {
	Actions() []string
}

// labeler bounds the edge's label values to what podid serves.
type labeler struct {
	actions map[string]map[string]bool // service → served awsQuery actions
}

func newLabeler(cfg Config) labeler {
	l := labeler{actions: map[string]map[string]bool{}}
	for svc, s := range map[string]QueryService{"iam": cfg.IAM, "sts": cfg.STS} {
		set := map[string]bool{}
		if al, ok := s.(actionLister); ok {
			for _, a := range al.Actions() {
				set[a] = true
			}
		}
		l.actions[svc] = set
	}
	return l
}

// service returns the service label: the service when podid serves it,
// else LabelUnknown.
func (l labeler) service(s string) string {
	if servedServices[s] {
		return s
	}
	return LabelUnknown
}

// action returns the action label of a request to service. For awsQuery
// services it is the action when that service serves it; for restJson1
// services it is the operation the service's router reported (a name from
// its own table). Everything else is LabelUnknown; a request that named no
// action at all has "".
func (l labeler) action(service, action, operation string) string {
	if set, ok := l.actions[service]; ok {
		switch {
		case action == "":
			return ""
		case set[action]:
			return action
		}
		return LabelUnknown
	}
	if operation == "" {
		return ""
	}
	if len(operation) > maxOperationLabel || !isIdentifier(operation) {
		return LabelUnknown
	}
	return operation
}

// isIdentifier reports whether s is made of ASCII letters and digits only
// (every operation name is).
func isIdentifier(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9') {
			return false
		}
	}
	return true
}

// MetricsHandler serves the registry in Prometheus' text format.
func MetricsHandler(g prometheus.Gatherer) http.Handler {
	return promhttp.HandlerFor(g, promhttp.HandlerOpts{})
}
