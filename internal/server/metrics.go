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
)

// statusLabels are the only values of the code label (LabelOther for the
// rest): the statuses podid's services and edge write.
var statusLabels = func() map[int]string {
	m := map[int]string{}
	for _, c := range []int{200, 201, 202, 204, 206, 301, 302, 303, 304, 400, 401, 403, 404, 405, 409, 411, 413, 415, 429, 431, 500, 501, 502, 503, 504} {
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

// labeler bounds the edge's label values to what podid serves: the
// registered services and the operations each descriptor lists.
type labeler struct {
	served  map[string]bool            // registered signing names, and "public"
	actions map[string]map[string]bool // service → its operations
}

func newLabeler(cfg Config) labeler {
	l := labeler{served: map[string]bool{servicePublic: true}, actions: map[string]map[string]bool{}}
	for _, s := range cfg.Services {
		l.served[s.SigningName] = true
		set := map[string]bool{}
		for _, op := range s.Operations {
			set[op] = true
		}
		l.actions[s.SigningName] = set
	}
	return l
}

// service returns the service label: the service when podid serves it,
// else LabelUnknown.
func (l labeler) service(s string) string {
	if l.served[s] {
		return s
	}
	return LabelUnknown
}

// action returns the action label of a request to service: the awsQuery
// action, or the operation a restJson1 service's router reported, when it
// is one of the operations the service's descriptor lists; LabelUnknown
// for anything else; "" when the request named no action at all.
func (l labeler) action(service, action, operation string) string {
	name := action
	if name == "" {
		name = operation
	}
	if name == "" {
		return ""
	}
	if l.actions[service][name] {
		return name
	}
	return LabelUnknown
}

// MetricsHandler serves the registry in Prometheus' text format.
func MetricsHandler(g prometheus.Gatherer) http.Handler {
	return promhttp.HandlerFor(g, promhttp.HandlerOpts{})
}
