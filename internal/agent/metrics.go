package agent

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// metrics are the agent's Prometheus metrics, on a registry the agent owns.
type metrics struct {
	reg *prometheus.Registry

	requests  [numOutcomes]prometheus.Observer // latency by outcome
	responses *prometheus.CounterVec           // by HTTP status
	codeCache [600]prometheus.Counter          // responses by status, resolved once

	hits      prometheus.Counter
	misses    prometheus.Counter
	joins     prometheus.Counter
	evictions *prometheus.CounterVec

	upstreamCalls   *prometheus.CounterVec
	upstreamLatency *prometheus.HistogramVec
	throttles       prometheus.Counter

	refreshes *prometheus.CounterVec
	backlog   prometheus.Gauge

	listenerUp *prometheus.GaugeVec
	lastReach  prometheus.Gauge
	events     *prometheus.CounterVec
	feedUp     prometheus.Gauge
}

func newMetrics(cacheSize func() float64) *metrics {
	reg := prometheus.NewRegistry()
	m := &metrics{reg: reg}
	latency := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "podid_agent_request_duration_seconds",
		Help:    "Time to answer /v1/credentials, by outcome (hit, miss, joined, verified, rejected, error, canceled).",
		Buckets: []float64{.00005, .0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
	}, []string{"outcome"})
	for i := range m.requests {
		m.requests[i] = latency.WithLabelValues(outcomeNames[i])
	}
	m.responses = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "podid_agent_responses_total",
		Help: "Responses to /v1/credentials by HTTP status code.",
	}, []string{"code"})
	for _, code := range []int{200, 400, 403, 404, 429, 500, 503} {
		m.codeCache[code] = m.responses.WithLabelValues(strconv.Itoa(code))
	}
	m.hits = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "podid_agent_cache_hits_total", Help: "Requests answered from the cache.",
	})
	m.misses = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "podid_agent_cache_misses_total", Help: "Requests that started an EKS Auth call.",
	})
	m.joins = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "podid_agent_singleflight_joins_total", Help: "Requests that waited on an EKS Auth call another request started for the same token.",
	})
	m.evictions = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "podid_agent_cache_evictions_total", Help: "Cache entries removed, by reason (size, expired, irrecoverable, association_changed, pod_deleted).",
	}, []string{"reason"})
	size := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "podid_agent_cache_entries", Help: "Pods with cached credentials.",
	}, cacheSize)
	m.upstreamCalls = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "podid_agent_eksauth_calls_total", Help: "EKS Auth attempts by purpose (request, refresh, probe) and result code (OK, an AWS error code, transport, credentials).",
	}, []string{"kind", "code"})
	m.upstreamLatency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "podid_agent_eksauth_duration_seconds",
		Help:    "EKS Auth attempt latency by purpose.",
		Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
	}, []string{"kind"})
	m.throttles = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "podid_agent_eksauth_throttled_total", Help: "Throttling answers from EKS Auth (each starts or extends an agent-wide backoff).",
	})
	m.refreshes = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "podid_agent_refreshes_total", Help: "Background refreshes by result (ok, failed, dropped, skipped_token_expired).",
	}, []string{"result"})
	m.backlog = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "podid_agent_refresh_backlog", Help: "Refreshes due but not yet started.",
	})
	m.listenerUp = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "podid_agent_listener_up", Help: "1 when the listener on this address is bound.",
	}, []string{"role", "address"})
	m.lastReach = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "podid_agent_eksauth_last_reached_timestamp_seconds", Help: "When EKS Auth last answered (a 2xx or a client error).",
	})
	m.events = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "podid_agent_change_events_total", Help: "Change-feed events received, by type.",
	}, []string{"type"})
	m.feedUp = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "podid_agent_change_feed_connected", Help: "Number of change feeds currently connected.",
	})
	reg.MustRegister(latency, m.responses, m.hits, m.misses, m.joins, m.evictions, size,
		m.upstreamCalls, m.upstreamLatency, m.throttles, m.refreshes, m.backlog,
		m.listenerUp, m.lastReach, m.events, m.feedUp,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// response counts one answer with the given status.
func (m *metrics) response(code int) {
	if code > 0 && code < len(m.codeCache) && m.codeCache[code] != nil {
		m.codeCache[code].Inc()
		return
	}
	m.responses.WithLabelValues(strconv.Itoa(code)).Inc()
}

// Label values come only from the agent's own tables: a code or event type
// sent by the upstream (or anything in between) moves the "other" series
// instead of creating one, and bytes that are not UTF-8 never reach the
// Prometheus client (issue 13).
const labelOther = "other"

// upstreamCodes are the EKS Auth outcomes the upstream-call metric names:
// the agent's own ("OK", "transport", …) and EKS Auth's error codes.
var upstreamCodes = map[string]bool{
	"OK": true, "transport": true, "credentials": true, "signing": true, "InvalidResponse": true,
	"AccessDeniedException": true, "ExpiredTokenException": true, "InternalServerException": true,
	"InvalidParameterException": true, "InvalidRequestException": true, "InvalidTokenException": true,
	"ResourceNotFoundException": true, "ServiceUnavailableException": true, "ThrottlingException": true,
	"UnrecognizedClientException": true, "InvalidSignatureException": true, "IncompleteSignatureException": true,
	"MissingAuthenticationTokenException": true, "UnknownOperationException": true,
}

func upstreamCodeLabel(code string) string {
	if upstreamCodes[code] {
		return code
	}
	return labelOther
}

func eventLabel(t EventType) string {
	switch t {
	case AssociationCreated, AssociationUpdated, AssociationDeleted, PodDeleted, Resync:
		return string(t)
	}
	return labelOther
}
