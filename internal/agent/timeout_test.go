package agent

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// TestUpstreamTimeoutIs503: when EKS Auth gives no answer in time (a
// storm queued behind the connection bound, an overloaded server), the
// pod gets 503 with a fixed text, which every SDK retries; a connection
// that fails outright stays 500 (TestErrorBodyNamesNoUpstreamAddress).
func TestUpstreamTimeoutIs503(t *testing.T) {
	f := newFakeEKSAuth(t)
	release := make(chan struct{})
	silent := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select { // hold the request until the agent gives up
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer silent.Close()
	defer close(release)
	for _, c := range []struct {
		name     string
		mod      func(*Config)
		wantBody string
	}{
		{"exchange deadline", func(c *Config) { c.UpstreamTimeout = 300 * time.Millisecond; c.MaxAttempts = 3 },
			"call EKS Auth: no answer before the deadline\n"},
		{"attempt timeout", func(c *Config) {
			c.UpstreamTimeout = 5 * time.Second
			c.AttemptTimeout = 200 * time.Millisecond
			c.MaxAttempts = 1
		}, "call EKS Auth: attempt timed out after 200ms\n"},
	} {
		t.Run(c.name, func(t *testing.T) {
			a := newTestAgent(t, f, func(cfg *Config) { cfg.Endpoint = silent.URL; c.mod(cfg) })
			w := get(a, "169.254.170.23", podToken("ns", "sa", "uid-"+c.name, time.Now().Add(time.Hour), "sig"))
			if w.Code != http.StatusServiceUnavailable || w.Body.String() != c.wantBody {
				t.Fatalf("got %d %q, want 503 %q", w.Code, w.Body.String(), c.wantBody)
			}
			if ct := w.Header().Get("Content-Type"); ct != "text/plain; charset=utf-8" {
				t.Errorf("Content-Type %q", ct)
			}
		})
	}
}
