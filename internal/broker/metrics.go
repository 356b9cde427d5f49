package broker

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Outcomes of an AWS call, the outcome label of podid_broker_aws_requests_total.
const (
	outcomeOK          = "ok"
	outcomeThrottled   = "throttled"
	outcomeDenied      = "denied"
	outcomeClientError = "client_error"
	outcomeServerError = "server_error"
	outcomeNetwork     = "network_error"
)

// metrics are the broker's Prometheus metrics.
type metrics struct {
	calls   *prometheus.CounterVec
	latency *prometheus.HistogramVec
	retries *prometheus.CounterVec
	cache   *prometheus.CounterVec
	backoff prometheus.Counter

	hits, misses, joins prometheus.Counter
}

func newMetrics(reg prometheus.Registerer, entries func() float64) *metrics {
	m := &metrics{
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "podid_broker_aws_requests_total",
			Help: "AWS API calls the broker made, by operation (AssumeRole, GetRole, GetCallerIdentity) and outcome (ok, throttled, denied, client_error, server_error, network_error).",
		}, []string{"operation", "outcome"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "podid_broker_aws_request_duration_seconds",
			Help:    "Latency of the broker's AWS API calls, by operation.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"operation"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "podid_broker_aws_retries_total",
			Help: "AWS API calls the broker retried, by operation and reason (throttled, server_error, network_error).",
		}, []string{"operation", "reason"}),
		cache: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "podid_broker_cache_requests_total",
			Help: "Credential requests by how the broker's cache answered: hit, miss (an AWS call) or joined (waited for a call already in flight).",
		}, []string{"result"}),
		backoff: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "podid_broker_throttle_wait_seconds_total",
			Help: "Time the broker held AWS calls back after STS or IAM throttled it.",
		}),
	}
	m.hits, m.misses, m.joins = m.cache.WithLabelValues("hit"), m.cache.WithLabelValues("miss"), m.cache.WithLabelValues("joined")
	if reg != nil {
		reg.MustRegister(m.calls, m.latency, m.retries, m.cache, m.backoff,
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Name: "podid_broker_cache_entries",
				Help: "Credential sets the broker holds for reuse.",
			}, entries))
	}
	return m
}

func (m *metrics) observe(op, outcome string, d time.Duration) {
	m.calls.WithLabelValues(op, outcome).Inc()
	m.latency.WithLabelValues(op).Observe(d.Seconds())
}
