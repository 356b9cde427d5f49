package server

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics are the edge's Prometheus metrics, registered on a registry the
// caller owns (no global registry).
type Metrics struct {
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
}

// NewMetrics registers the edge's metrics on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "podid_api_requests_total",
			Help: "API requests by service, action and HTTP status.",
		}, []string{"service", "action", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "podid_api_request_duration_seconds",
			Help:    "API request latency by service.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"service"}),
	}
	reg.MustRegister(m.requests, m.latency)
	return m
}

func (m *Metrics) observe(service, action string, status int, d time.Duration) {
	m.requests.WithLabelValues(service, action, strconv.Itoa(status)).Inc()
	m.latency.WithLabelValues(service).Observe(d.Seconds())
}

// MetricsHandler serves the registry in Prometheus' text format.
func MetricsHandler(g prometheus.Gatherer) http.Handler {
	return promhttp.HandlerFor(g, promhttp.HandlerOpts{})
}
