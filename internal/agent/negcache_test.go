package agent

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/podid/podid/internal/testclock"
)

// refusedTokens is a flood of made-up tokens: valid shape, distinct claims.
func refusedTokens(n int, exp time.Time) []string {
	toks := make([]string, n)
	for i := range toks {
		toks[i] = podToken("ns", "sa", fmt.Sprintf("made-up-%d", i), exp, fmt.Sprintf("sig-%d", i))
	}
	return toks
}

func TestNegativeCacheFloodOfDistinctTokens(t *testing.T) {
	f := newFakeEKSAuth(t)
	f.set(func(f *fakeEKSAuth) {
		f.refuse = &fakeReply{status: 400, code: "InvalidTokenException", msg: "The specified Kubernetes service account token is invalid."}
	})
	const size = 64
	const n = 200
	a := newTestAgent(t, f, func(c *Config) { c.NegativeCacheSize = size })
	toks := refusedTokens(n, time.Now().Add(time.Hour))
	want := "[req-1]: (InvalidTokenException): The specified Kubernetes service account token is invalid., fault: client\n"
	// Each token three times in a row: one EKS Auth call, then the same
	// answer from memory.
	for _, tok := range toks {
		for range 3 {
			if w := get(a, "169.254.170.23", tok); w.Code != 400 || w.Body.String() != want {
				t.Fatalf("got %d %q, want 400 %q", w.Code, w.Body, want)
			}
		}
	}
	if got := f.calls.Load(); got != n {
		t.Errorf("%d EKS Auth calls for %d distinct refused tokens asked 3 times each, want %d", got, n, n)
	}
	if got := a.cache.neg.len(); got > size {
		t.Errorf("negative cache holds %d refusals, more than its bound %d", got, size)
	}
	// The newest refusals are held, the oldest were evicted.
	get(a, "169.254.170.23", toks[n-1])
	if got := f.calls.Load(); got != n {
		t.Errorf("the newest refusal was not answered from memory (%d calls)", got)
	}
	get(a, "169.254.170.23", toks[0])
	if got := f.calls.Load(); got != n+1 {
		t.Errorf("the oldest refusal, evicted, made %d calls in all, want %d", got, n+1)
	}
	// A valid token is unaffected by the flood.
	f.set(func(f *fakeEKSAuth) { f.refuse = nil })
	if w := get(a, "169.254.170.23", podToken("ns", "sa", "good", time.Now().Add(time.Hour), "sig")); w.Code != 200 {
		t.Errorf("valid token after the flood: %d %q", w.Code, w.Body)
	}
}

func TestNegativeCacheOneCallPerTTL(t *testing.T) {
	clk := testclock.New(time.Now())
	f := newFakeEKSAuth(t)
	f.set(func(f *fakeEKSAuth) {
		f.refuse = &fakeReply{status: 404, code: "ResourceNotFoundException", msg: "no association"}
	})
	a := newTestAgent(t, f, func(c *Config) { c.Now = clk.Now; c.NegativeCacheTTL = 5 * time.Second })
	bad := podToken("ns", "sa", "uid", clk.Now().Add(time.Hour), "sig")
	for range 50 {
		if w := get(a, "169.254.170.23", bad); w.Code != 404 {
			t.Fatalf("got %d %q", w.Code, w.Body)
		}
	}
	if got := f.calls.Load(); got != 1 {
		t.Fatalf("%d EKS Auth calls for one refused token asked 50 times within the TTL, want 1", got)
	}
	clk.Advance(5 * time.Second)
	for range 50 {
		get(a, "169.254.170.23", bad)
	}
	if got := f.calls.Load(); got != 2 {
		t.Fatalf("%d EKS Auth calls after the TTL, want 2", got)
	}
	// An association change clears the refusals: the pod may be served now.
	f.set(func(f *fakeEKSAuth) { f.refuse = nil })
	a.HandleEvent(Event{Type: AssociationCreated, Namespace: "ns", ServiceAccount: "sa"})
	if w := get(a, "169.254.170.23", bad); w.Code != 200 {
		t.Errorf("after AssociationCreated: %d %q, want 200", w.Code, w.Body)
	}
	// A valid token was never affected.
	good := podToken("ns", "sa", "uid2", clk.Now().Add(time.Hour), "sig")
	if w := get(a, "169.254.170.23", good); w.Code != 200 {
		t.Errorf("valid token: %d %q", w.Code, w.Body)
	}
}

func TestNegativeCacheKeepsOnlyRefusals(t *testing.T) {
	for _, tc := range []struct {
		name  string
		reply fakeReply
		calls int64 // after two requests, MaxAttempts 1
	}{
		{"access denied", fakeReply{status: 400, code: "AccessDeniedException", msg: "node mismatch"}, 1},
		{"expired", fakeReply{status: 400, code: "ExpiredTokenException", msg: "expired"}, 1},
		{"throttled", fakeReply{status: 429, code: "ThrottlingException", msg: "Rate exceeded"}, 2},
		{"throttled as 400", fakeReply{status: 400, code: "ThrottlingException", msg: "Rate exceeded"}, 2},
		{"unavailable", fakeReply{status: 503, code: "ServiceUnavailableException", msg: "busy"}, 2},
		{"internal", fakeReply{status: 500, code: "InternalServerException", msg: "oops"}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeEKSAuth(t)
			f.set(func(f *fakeEKSAuth) { f.refuse = &tc.reply })
			a := newTestAgent(t, f, func(c *Config) { c.MaxAttempts = 1 })
			tok := podToken("ns", "sa", "uid", time.Now().Add(time.Hour), "sig")
			first := get(a, "169.254.170.23", tok)
			if isThrottle(&upstreamError{Status: tc.reply.status, Code: tc.reply.code}) {
				// The agent-wide backoff would hold the second call.
				a.up.throttleReset()
				a.up.mu.Lock()
				a.up.throttledUntil = time.Time{}
				a.up.mu.Unlock()
			}
			second := get(a, "169.254.170.23", tok)
			if got := f.calls.Load(); got != tc.calls {
				t.Errorf("%d EKS Auth calls, want %d", got, tc.calls)
			}
			if first.Code != second.Code || first.Body.String() != second.Body.String() {
				t.Errorf("answers differ: %d %q then %d %q", first.Code, first.Body, second.Code, second.Body)
			}
		})
	}
}

func TestNegativeCacheDisabled(t *testing.T) {
	f := newFakeEKSAuth(t)
	f.set(func(f *fakeEKSAuth) { f.refuse = &fakeReply{status: 400, code: "InvalidTokenException", msg: "bad"} })
	a := newTestAgent(t, f, func(c *Config) { c.NegativeCacheTTL = -1 })
	tok := podToken("ns", "sa", "uid", time.Now().Add(time.Hour), "sig")
	get(a, "169.254.170.23", tok)
	get(a, "169.254.170.23", tok)
	if got := f.calls.Load(); got != 2 {
		t.Errorf("%d calls with the negative cache disabled, want 2", got)
	}
}

// The pod is never told internal addresses: not EKS Auth's URL nor the
// address a transport error names.
func TestErrorBodyNamesNoUpstreamAddress(t *testing.T) {
	f := newFakeEKSAuth(t)
	for _, endpoint := range []string{"http://127.0.0.1:1", "http://127.0.0.77:9/internal-eks-auth"} {
		a := newTestAgent(t, f, func(c *Config) { c.Endpoint = endpoint; c.MaxAttempts = 1 })
		w := get(a, "169.254.170.23", podToken("ns", "sa", "uid", time.Now().Add(time.Hour), "sig"))
		body := w.Body.String()
		if w.Code != 500 || body != "call EKS Auth: connection failed\n" {
			t.Errorf("%s: got %d %q, want 500 %q", endpoint, w.Code, body, "call EKS Auth: connection failed\n")
		}
		for _, leak := range []string{"127.0.0.", "http://", "internal-eks-auth", "clusters/"} {
			if strings.Contains(body, leak) {
				t.Errorf("%s: body %q names %q", endpoint, body, leak)
			}
		}
	}
}
