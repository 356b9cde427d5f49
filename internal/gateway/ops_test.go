package gateway

import (
	"context"
	"errors"
	"hash/crc32"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// counter reads one counter of a vector.
func counter(t *testing.T, v *prometheus.CounterVec, labels ...string) float64 {
	t.Helper()
	var m dto.Metric
	if err := v.WithLabelValues(labels...).Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

// series counts the series of the metric family name in reg.
func series(t *testing.T, reg *prometheus.Registry, name string) int {
	t.Helper()
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() == name {
			return len(f.GetMetric())
		}
	}
	return 0
}

// opsHarness is a gateway with metrics and a store check that fails when
// storeDown is set.
func opsHarness(t *testing.T, storeDown *bool) (*harness, *prometheus.Registry) {
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg)
	h := newHarness(t, func(c *Config) {
		c.Metrics, c.Gatherer = m, reg
		c.StoreReady = func(context.Context) error {
			if *storeDown {
				return errors.New("database is locked")
			}
			return nil
		}
	})
	return h, reg
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, readAll(t, resp)
}

// TestOpsEndpoints: /healthz answers while the process runs; /readyz
// only while the store and every upstream answer, naming what does not;
// /metrics serves the registry. Signed requests to those paths stay S3
// requests.
func TestOpsEndpoints(t *testing.T) {
	down := false
	h, _ := opsHarness(t, &down)
	if code, body := get(t, h.srv.URL+"/healthz"); code != 200 || body != "ok\n" {
		t.Errorf("/healthz: %d %q", code, body)
	}
	if code, body := get(t, h.srv.URL+"/readyz"); code != 200 || body != "ok\n" {
		t.Errorf("/readyz: %d %q", code, body)
	}
	if code, body := get(t, h.srv.URL+"/metrics"); code != 200 || !strings.Contains(body, "podid_gateway_upstream_seconds") {
		t.Errorf("/metrics: %d %q", code, body)
	}
	down = true
	if code, body := get(t, h.srv.URL+"/readyz"); code != 503 || body != "store unavailable\n" {
		t.Errorf("/readyz with the store down: %d %q", code, body)
	}
	down = false
	ddbURL := h.ddb.srv.URL
	h.ddb.srv.Close()
	if code, body := get(t, h.srv.URL+"/readyz"); code != 503 || body != "DynamoDB upstream "+ddbURL+" unreachable\n" {
		t.Errorf("/readyz with DynamoDB down: %d %q", code, body)
	}
	// A signed GET /metrics is S3's ListObjects of bucket "metrics".
	creds, _ := h.role("lister", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:ListBucket","Resource":"*"}]}`, nil)
	resp := h.s3Call(creds, http.MethodGet, "/metrics", nil, nil)
	body := readAll(t, resp)
	if resp.StatusCode != 200 || strings.Contains(body, "podid_gateway") || len(h.s3.requests()) != 1 {
		t.Errorf("signed GET /metrics: %d %q, %d upstream requests", resp.StatusCode, body, len(h.s3.requests()))
	}
}

// TestDecisionMetrics: each decision counts once under its service,
// operation and outcome; operations outside the gateway's tables count as
// "other", never as the client's string; upstream calls are timed.
func TestDecisionMetrics(t *testing.T) {
	down := false
	h, reg := opsHarness(t, &down)
	carts, _ := h.role("carts", workshopDoc, podTags("carts", "carts"))
	readAll(t, h.ddbCall(carts, "GetItem", `{"TableName":"carts","Key":{"id":{"S":"1"}}}`))
	readAll(t, h.ddbCall(carts, "GetItem", `{"TableName":"carts","Key":{"id":{"S":"2"}}}`))
	readAll(t, h.ddbCall(carts, "GetItem", `{"TableName":"orders","Key":{"pk":{"S":"1"},"sk":{"S":"1"}}}`))
	readAll(t, h.s3Call(carts, http.MethodGet, "/bucket/key", nil, nil))
	if got := series(t, reg, "podid_gateway_decisions_total"); got != 3 {
		t.Errorf("%d decision series, want 3", got)
	}
	for _, c := range []struct {
		service, action, outcome string
		want                     float64
	}{
		{"dynamodb", "GetItem", DecisionAllowed, 2},
		{"dynamodb", "GetItem", DecisionDenied, 1},
		{"s3", "GetObject", DecisionDenied, 1},
	} {
		v := counter(t, mustMetrics(t, h).decisions, c.service, c.action, c.outcome)
		if v != c.want {
			t.Errorf("decisions{%s,%s,%s} = %v, want %v", c.service, c.action, c.outcome, v, c.want)
		}
	}
	if n := series(t, reg, "podid_gateway_upstream_seconds"); n != 4 {
		t.Errorf("%d upstream series, want 4 (two services, two outcomes)", n)
	}
	// Allowed calls went upstream: the DynamoDB "ok" histogram counted them.
	var hm dto.Metric
	if err := mustMetrics(t, h).upstream.WithLabelValues("dynamodb", upstreamOK).(prometheus.Histogram).Write(&hm); err != nil || hm.GetHistogram().GetSampleCount() < 2 {
		t.Errorf("DynamoDB upstream calls observed: %d (%v), want at least 2", hm.GetHistogram().GetSampleCount(), err)
	}
	var m2 = mustMetrics(t, h)
	m2.decision("dynamodb", "NotAnOperation\x00", DecisionDenied)
	m2.decision("smtp", "GetItem", DecisionDenied)
	if v := counter(t, m2.decisions, "dynamodb", "other", DecisionDenied); v != 1 {
		t.Errorf("unknown operation counted as other: %v", v)
	}
	if v := counter(t, m2.decisions, "other", "GetItem", DecisionDenied); v != 1 {
		t.Errorf("unknown service counted as other: %v", v)
	}
}

func mustMetrics(t *testing.T, h *harness) *Metrics {
	t.Helper()
	if h.gw.cfg.Metrics == nil {
		t.Fatal("no metrics")
	}
	return h.gw.cfg.Metrics
}

// TestUpstreamARNsRewritten: the ARNs of an upstream's answer (dynalite's
// us-east-1 and 000000000000) reach the client with podid's region and
// account, under a recomputed X-Amz-Crc32 and Content-Length, so that
// the SDKs accept the body and a policy written from it matches.
func TestUpstreamARNsRewritten(t *testing.T) {
	down := false
	h, _ := opsHarness(t, &down)
	const upstreamBody = `{"Table":{"TableArn":"arn:aws:dynamodb:us-east-1:000000000000:table/carts","TableName":"carts",` +
		`"GlobalSecondaryIndexes":[{"IndexArn":"arn:aws:dynamodb:us-east-1:000000000000:table/carts/index/idx_global_customerId"}],` +
		`"LatestStreamArn":"arn:aws:dynamodb:ddblocal:000000000000:table/carts/stream/2026-12-06T00:00:00.000","Note":"arn:aws:s3:::bucket"}}`
	inner := h.ddb.handle
	h.ddb.handle = func(w http.ResponseWriter, r *http.Request, body []byte) {
		if r.Header.Get("X-Test-Client") == "" {
			inner(w, r, body)
			return
		}
		if r.Header.Get("Accept-Encoding") != "" {
			t.Errorf("forwarded with Accept-Encoding %q", r.Header.Get("Accept-Encoding"))
		}
		w.Header().Set("Content-Type", "application/x-amz-json-1.0")
		w.Header().Set("X-Amz-Crc32", strconv.FormatUint(uint64(crc32.ChecksumIEEE([]byte(upstreamBody))), 10))
		w.Write([]byte(upstreamBody))
	}
	carts, _ := h.role("carts", workshopDoc, podTags("carts", "carts"))
	resp := h.ddbCall(carts, "DescribeTable", `{"TableName":"carts"}`)
	body := readAll(t, resp)
	want := `{"Table":{"TableArn":"arn:aws:dynamodb:us-west-2:` + account + `:table/carts","TableName":"carts",` +
		`"GlobalSecondaryIndexes":[{"IndexArn":"arn:aws:dynamodb:us-west-2:` + account + `:table/carts/index/idx_global_customerId"}],` +
		`"LatestStreamArn":"arn:aws:dynamodb:us-west-2:` + account + `:table/carts/stream/2026-12-06T00:00:00.000","Note":"arn:aws:s3:::bucket"}}`
	if resp.StatusCode != 200 || body != want {
		t.Fatalf("DescribeTable: %d\n got %s\nwant %s", resp.StatusCode, body, want)
	}
	if got, want := resp.Header.Get("X-Amz-Crc32"), strconv.FormatUint(uint64(crc32.ChecksumIEEE([]byte(want))), 10); got != want {
		t.Errorf("X-Amz-Crc32 %s, want %s", got, want)
	}
	if resp.ContentLength != int64(len(want)) {
		t.Errorf("Content-Length %d, want %d", resp.ContentLength, len(want))
	}
}
