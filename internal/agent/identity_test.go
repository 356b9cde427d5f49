package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/podid/podid/internal/testclock"
)

func TestRefreshDelay(t *testing.T) {
	now := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		life, want time.Duration
	}{
		{time.Hour, 48 * time.Minute},       // 80% of the lifetime
		{12 * time.Hour, 576 * time.Minute}, // still 80%
		{20 * time.Minute, 15 * time.Minute},
		{15 * time.Minute, 10 * time.Minute}, // 5 minutes before expiry comes first
		{5 * time.Minute, time.Second},       // never sooner than a second
		{-time.Minute, time.Second},
	} {
		if got := refreshDelay(now, now.Add(c.life)); got != c.want {
			t.Errorf("refreshDelay(%v) = %v, want %v", c.life, got, c.want)
		}
	}
}

// fakeExchange is podid's agent exchange: it records the tokens it gets
// and answers with the status and body it is given.
type fakeExchange struct {
	mu     sync.Mutex
	tokens []string
	paths  []string
	status int
	body   string
	srv    *httptest.Server
}

func newFakeExchange(t *testing.T, exp time.Time) *fakeExchange {
	f := &fakeExchange{status: 200, body: identityBody(exp)}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var in struct{ Token string }
		b, _ := io.ReadAll(r.Body)
		json.Unmarshal(b, &in)
		f.mu.Lock()
		defer f.mu.Unlock()
		f.tokens = append(f.tokens, in.Token)
		f.paths = append(f.paths, r.Method+" "+r.URL.Path+" "+r.Header.Get("Authorization"))
		w.Header().Set("Content-Type", "application/json")
		if f.status != 200 {
			w.Header().Set("x-amzn-ErrorType", "ServiceUnavailableException")
		}
		w.WriteHeader(f.status)
		io.WriteString(w, f.body)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func identityBody(exp time.Time) string {
	return fmt.Sprintf(`{"nodeName":"node-1","podName":"eks-pod-identity-agent-x7k2p","assumedRoleUser":{"arn":"arn:aws:sts::123456789012:assumed-role/podid-agent-c1/node-node-1","assumeRoleId":"AROA:node-node-1"},`+
		`"credentials":{"accessKeyId":"ASIAAGENT","secretAccessKey":"s3cret","sessionToken":"tok","expiration":%d}}`, exp.Unix())
}

func (f *fakeExchange) set(status int, body string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.status, f.body = status, body
}

// TestIdentity: the first exchange, the token file read again on each
// renewal, a failed renewal that keeps the held credentials until they
// expire, and the metrics.
func TestIdentity(t *testing.T) {
	clock := testclock.New(time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC))
	ex := newFakeExchange(t, clock.Now().Add(time.Hour))
	tokenFile := filepath.Join(t.TempDir(), "token")
	os.WriteFile(tokenFile, []byte("aaa.bbb.ccc\n"), 0o600)
	id, err := NewIdentity(IdentityConfig{Endpoint: ex.srv.URL + "/", ClusterName: "c1", TokenFile: tokenFile, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	id.register(reg)
	if _, err := id.Retrieve(context.Background()); err == nil || !strings.Contains(err.Error(), "not obtained yet") {
		t.Errorf("before the first exchange: %v", err)
	}
	next, err := id.Refresh(context.Background())
	if err != nil || next != 48*time.Minute {
		t.Fatalf("first exchange: %v, next in %v", err, next)
	}
	c, err := id.Retrieve(context.Background())
	if err != nil || c.AccessKeyID != "ASIAAGENT" || c.SecretAccessKey != "s3cret" || c.SessionToken != "tok" || !c.CanExpire || !c.Expires.Equal(clock.Now().Add(time.Hour)) || id.Node() != "node-1" {
		t.Errorf("credentials %+v, %v, node %s", c, err, id.Node())
	}
	select {
	case <-id.Obtained():
	default:
		t.Error("Obtained not closed")
	}
	// The kubelet rotates the token: the next exchange sends the new one.
	os.WriteFile(tokenFile, []byte("ddd.eee.fff"), 0o600)
	clock.Advance(48 * time.Minute)
	ex.set(503, `{"message":"The API server of cluster c1 could not review the token. Try again later."}`)
	if _, err := id.Refresh(context.Background()); err == nil || !strings.Contains(err.Error(), "ServiceUnavailableException") {
		t.Errorf("failed renewal: %v", err)
	}
	if c, err := id.Retrieve(context.Background()); err != nil || c.AccessKeyID != "ASIAAGENT" {
		t.Errorf("held credentials after a failed renewal: %v", err)
	}
	clock.Advance(12 * time.Minute) // expired
	if _, err := id.Retrieve(context.Background()); err == nil || !strings.Contains(err.Error(), "expired") || !strings.Contains(err.Error(), "ServiceUnavailableException") {
		t.Errorf("after expiry: %v", err)
	}
	if ok, why := id.status(); ok || !strings.Contains(why, "expired") {
		t.Errorf("status %v %s", ok, why)
	}
	ex.set(200, identityBody(clock.Now().Add(time.Hour)))
	if _, err := id.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := id.Retrieve(context.Background()); err != nil {
		t.Errorf("after renewal: %v", err)
	}
	ex.mu.Lock()
	want := []string{"aaa.bbb.ccc", "ddd.eee.fff", "ddd.eee.fff"}
	if strings.Join(ex.tokens, ",") != strings.Join(want, ",") || ex.paths[0] != "POST /podid/v1/clusters/c1/assume-role-for-agent " {
		t.Errorf("exchange saw tokens %v, requests %v (unsigned POSTs)", ex.tokens, ex.paths)
	}
	ex.mu.Unlock()
	if ok := metricValue(id.exchanges.WithLabelValues("ok")); ok != 2 {
		t.Errorf("ok exchanges %v", ok)
	}
	if n := metricValue(id.exchanges.WithLabelValues("ServiceUnavailableException")); n != 1 {
		t.Errorf("failed exchanges %v", n)
	}
	if e := metricValue(id.expiry); e != float64(clock.Now().Add(time.Hour).Unix()) {
		t.Errorf("expiry gauge %v", e)
	}
	// A token file that holds no token is not sent.
	os.WriteFile(tokenFile, []byte(""), 0o600)
	if _, err := id.Refresh(context.Background()); err == nil || !strings.Contains(err.Error(), "holds no JWT") {
		t.Errorf("empty token file: %v", err)
	}
}

// TestIdentityRunRetries: Run exchanges at once and retries a failure.
func TestIdentityRunRetries(t *testing.T) {
	ex := newFakeExchange(t, time.Now().Add(time.Hour))
	ex.set(503, `{}`)
	tokenFile := filepath.Join(t.TempDir(), "token")
	os.WriteFile(tokenFile, []byte("aaa.bbb.ccc"), 0o600)
	id, _ := NewIdentity(IdentityConfig{Endpoint: ex.srv.URL, ClusterName: "c1", TokenFile: tokenFile})
	id.register(prometheus.NewRegistry())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); id.Run(ctx) }()
	time.AfterFunc(100*time.Millisecond, func() { ex.set(200, identityBody(time.Now().Add(time.Hour))) })
	select {
	case <-id.Obtained():
	case <-time.After(10 * time.Second):
		t.Fatal("no credentials after the exchange recovered")
	}
	cancel()
	<-done
}

func TestDecodeIdentityOutput(t *testing.T) {
	exp := time.Date(2026, 12, 6, 11, 0, 0, 0, time.UTC)
	r, err := decodeIdentityOutput([]byte(identityBody(exp)))
	if err != nil || r.NodeName != "node-1" || !r.Expiration.Equal(exp) || r.SessionARN != "arn:aws:sts::123456789012:assumed-role/podid-agent-c1/node-node-1" {
		t.Errorf("%+v %v", r, err)
	}
	for _, bad := range []string{
		``, `[]`, `{"nodeName":"n"}`,
		`{"nodeName":"n","credentials":{"accessKeyId":"a","secretAccessKey":"s","sessionToken":"t","expiration":"soon"}}`,
		`{"credentials":{"accessKeyId":"a","secretAccessKey":"s","sessionToken":"t","expiration":1}}`,
	} {
		if _, err := decodeIdentityOutput([]byte(bad)); !errors.Is(err, errInvalidResponse) {
			t.Errorf("%s: %v", bad, err)
		}
	}
}

func TestAgentReadyWaitsForIdentity(t *testing.T) {
	tokenFile := filepath.Join(t.TempDir(), "token")
	id, _ := NewIdentity(IdentityConfig{Endpoint: "http://127.0.0.1:1", ClusterName: "c1", TokenFile: tokenFile})
	a, err := New(Config{ClusterName: "c1", Region: "us-west-2", Identity: id, BindHosts: []string{"127.0.0.1"}, Port: 0})
	if err != nil {
		t.Fatal(err)
	}
	if a.cfg.Credentials != id {
		t.Error("the identity is not the agent's credentials")
	}
	_, reasons := a.Ready()
	if !strings.Contains(strings.Join(reasons, "; "), "no agent identity: the agent's own credentials are not obtained yet") {
		t.Errorf("reasons %v", reasons)
	}
}

// FuzzDecodeIdentityOutput: the agent exchange's answer never panics the
// agent, and what it accepts is complete.
func FuzzDecodeIdentityOutput(f *testing.F) {
	f.Add([]byte(identityBody(time.Unix(1800000000, 0))))
	f.Add([]byte(`{"nodeName":"","credentials":{}}`))
	f.Add([]byte(`{"credentials":{"expiration":1e300}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := decodeIdentityOutput(b)
		if err == nil && (r.NodeName == "" || r.AccessKeyID == "" || r.SecretAccessKey == "" || r.SessionToken == "" || r.Expiration.IsZero()) {
			t.Fatalf("accepted an incomplete answer %+v", r)
		}
	})
}

// metricValue reads a counter's or gauge's value.
func metricValue(m prometheus.Metric) float64 {
	var d dto.Metric
	m.Write(&d)
	if d.Counter != nil {
		return d.Counter.GetValue()
	}
	return d.Gauge.GetValue()
}
