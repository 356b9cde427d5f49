package agent

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestSingleFlight(t *testing.T) {
	for _, tc := range []struct {
		name   string
		reply  *fakeReply
		status int
	}{
		{"success shared", nil, 200},
		{"error shared", &fakeReply{status: 404, code: "ResourceNotFoundException", msg: "no association"}, 404},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeEKSAuth(t)
			gate := make(chan struct{})
			f.set(func(f *fakeEKSAuth) {
				f.gate = gate
				if tc.reply != nil {
					f.script = []fakeReply{*tc.reply}
				}
			})
			a := newTestAgent(t, f)
			tok := podToken("ns", "sa", "uid", time.Now().Add(time.Hour), "sig")
			const callers = 50
			var wg sync.WaitGroup
			codes := make([]int, callers)
			bodies := make([]string, callers)
			for i := range callers {
				wg.Go(func() {
					w := get(a, "169.254.170.23", tok)
					codes[i], bodies[i] = w.Code, w.Body.String()
				})
			}
			waitFor(t, "49 callers to join the call", func() bool {
				return counterValue(a.metrics.joins) == callers-1 && f.calls.Load() == 1
			})
			close(gate)
			wg.Wait()
			if n := f.calls.Load(); n != 1 {
				t.Errorf("%d EKS Auth calls, want 1", n)
			}
			for i := range callers {
				if codes[i] != tc.status || bodies[i] != bodies[0] {
					t.Fatalf("caller %d: %d %q, caller 0: %d %q", i, codes[i], bodies[i], codes[0], bodies[0])
				}
			}
		})
	}
}

func TestForgedTokenGetsNothing(t *testing.T) {
	f := newFakeEKSAuth(t)
	a := newTestAgent(t, f)
	exp := time.Now().Add(time.Hour)
	real := podToken("ns", "sa", "victim-uid", exp, "real-signature")
	forged := podToken("ns", "sa", "victim-uid", exp, "forged-signature")
	f.set(func(f *fakeEKSAuth) {
		f.reject[forged] = fakeReply{status: 400, code: "InvalidTokenException", msg: "The specified Kubernetes service account token is invalid."}
	})
	if w := get(a, "169.254.170.23", real); w.Code != 200 {
		t.Fatalf("real token: %d %q", w.Code, w.Body)
	}
	// The forgery claims the same pod; it must be checked by EKS Auth
	// (not served from the victim's entry), and refused.
	w := get(a, "169.254.170.23", forged)
	if w.Code != 400 || strings.Contains(w.Body.String(), "secret-victim-uid") {
		t.Errorf("forged token: %d %q", w.Code, w.Body)
	}
	if n := f.calls.Load(); n != 2 {
		t.Errorf("%d EKS Auth calls, want 2", n)
	}
	// Concurrent forgeries never join the real token's call either: a
	// flight is keyed by the token's hash.
	if w := get(a, "169.254.170.23", real); w.Code != 200 || f.calls.Load() != 2 {
		t.Errorf("real token after forgery: %d, %d calls", w.Code, f.calls.Load())
	}
}

func TestRotatedTokenIsVerifiedOnce(t *testing.T) {
	f := newFakeEKSAuth(t)
	a := newTestAgent(t, f)
	exp := time.Now().Add(time.Hour)
	t1 := podToken("ns", "sa", "uid", exp, "one")
	t2 := podToken("ns", "sa", "uid", exp.Add(time.Minute), "two")
	t3 := podToken("ns", "sa", "uid", exp.Add(2*time.Minute), "three")
	steps := []struct {
		token string
		calls int64
	}{
		{t1, 1}, {t1, 1}, // first exchange, then hits
		{t2, 2}, {t2, 2}, {t1, 2}, // rotation verified by EKS Auth; both recognized
		{t3, 3}, {t3, 3}, {t2, 3}, // a third token pushes out the oldest
		{t1, 4},
	}
	for i, s := range steps {
		if w := get(a, "169.254.170.23", s.token); w.Code != 200 {
			t.Fatalf("step %d: %d %q", i, w.Code, w.Body)
		}
		if n := f.calls.Load(); n != s.calls {
			t.Fatalf("step %d: %d calls, want %d", i, n, s.calls)
		}
	}
	if n := a.cache.size(); n != 1 {
		t.Errorf("%d entries for one pod", n)
	}
}

// verifierFunc adapts a function to TokenVerifier.
type verifierFunc func(ctx context.Context, token string) (PodIdentity, error)

func (v verifierFunc) VerifyToken(ctx context.Context, token string) (PodIdentity, error) {
	return v(ctx, token)
}

func TestRotatedTokenWithVerifier(t *testing.T) {
	f := newFakeEKSAuth(t)
	var verified []string
	var mu sync.Mutex
	a := newTestAgent(t, f, func(c *Config) {
		c.TokenVerifier = verifierFunc(func(_ context.Context, tok string) (PodIdentity, error) {
			mu.Lock()
			verified = append(verified, tok)
			mu.Unlock()
			cl, err := parseToken(tok)
			if err != nil || !strings.HasSuffix(tok, ".Z29vZA") { // base64url("good")
				return PodIdentity{}, errors.New("bad signature")
			}
			return PodIdentity{Namespace: cl.Namespace, ServiceAccount: cl.ServiceAccount, PodUID: cl.PodUID}, nil
		})
	})
	exp := time.Now().Add(time.Hour)
	first := podToken("ns", "sa", "uid", exp, "first")
	good := podToken("ns", "sa", "uid", exp.Add(time.Minute), "good")
	bad := podToken("ns", "sa", "uid", exp.Add(2*time.Minute), "bad")
	other := podToken("ns", "sa", "other-uid", exp, "good")

	w1 := get(a, "169.254.170.23", first)
	if w1.Code != 200 || f.calls.Load() != 1 {
		t.Fatalf("first: %d, %d calls", w1.Code, f.calls.Load())
	}
	// Rotated token, accepted by the verifier: served from the entry.
	w2 := get(a, "169.254.170.23", good)
	if w2.Code != 200 || w2.Body.String() != w1.Body.String() || f.calls.Load() != 1 {
		t.Errorf("verified rotation: %d, %d calls", w2.Code, f.calls.Load())
	}
	// Refused by the verifier: EKS Auth decides.
	f.set(func(f *fakeEKSAuth) {
		f.reject[bad] = fakeReply{status: 400, code: "InvalidTokenException", msg: "invalid"}
	})
	if w := get(a, "169.254.170.23", bad); w.Code != 400 || f.calls.Load() != 2 {
		t.Errorf("refused rotation: %d, %d calls", w.Code, f.calls.Load())
	}
	// Another pod has no entry: EKS Auth.
	if w := get(a, "169.254.170.23", other); w.Code != 200 || f.calls.Load() != 3 {
		t.Errorf("other pod: %d, %d calls", w.Code, f.calls.Load())
	}
	// The verified token is now a plain hit: not verified again.
	mu.Lock()
	n := len(verified)
	mu.Unlock()
	get(a, "169.254.170.23", good)
	mu.Lock()
	defer mu.Unlock()
	if len(verified) != n {
		t.Errorf("a recognized token was verified again")
	}
}

func TestEvictsLeastRecentlyUsed(t *testing.T) {
	f := newFakeEKSAuth(t)
	now := time.Now()
	clock := func() time.Time { return now }
	a := newTestAgent(t, f, func(c *Config) { c.MaxCacheSize = 3; c.Now = clock })
	exp := now.Add(24 * time.Hour)
	tok := func(uid string) string { return podToken("ns", "sa", uid, exp, "s") }
	steps := []struct {
		uid     string
		advance time.Duration
		calls   int64
	}{
		{"p1", 0, 1}, {"p2", time.Second, 2}, {"p3", time.Second, 3},
		{"p1", time.Second, 3}, // hit: p1 is now the most recent
		{"p4", time.Second, 4}, // full: evicts p2, the least recently used
		{"p1", 0, 4}, {"p3", 0, 4}, {"p4", 0, 4},
		{"p2", 0, 5},
	}
	for i, s := range steps {
		now = now.Add(s.advance)
		if w := get(a, "169.254.170.23", tok(s.uid)); w.Code != 200 {
			t.Fatalf("step %d: %d", i, w.Code)
		}
		if n := f.calls.Load(); n != s.calls {
			t.Fatalf("step %d (%s): %d calls, want %d", i, s.uid, n, s.calls)
		}
	}
	if n := a.cache.size(); n != 3 {
		t.Errorf("size %d, want 3", n)
	}
	if got := counterValue(a.metrics.evictions.WithLabelValues("size")); got != 2 {
		t.Errorf("%v size evictions, want 2", got)
	}
}

func TestExpiryOnTheHitPath(t *testing.T) {
	f := newFakeEKSAuth(t)
	now := time.Now()
	f.set(func(f *fakeEKSAuth) { f.lifetime = time.Minute; f.now = func() time.Time { return now } })
	a := newTestAgent(t, f, func(c *Config) { c.Now = func() time.Time { return now } })
	tok := podToken("ns", "sa", "uid", now.Add(30*time.Minute), "s")
	get(a, "169.254.170.23", tok)
	now = now.Add(40 * time.Second) // 20 s of credentials left: still served
	if w := get(a, "169.254.170.23", tok); w.Code != 200 || f.calls.Load() != 1 {
		t.Fatalf("with 20s left: %d, %d calls", w.Code, f.calls.Load())
	}
	now = now.Add(6 * time.Second) // 14 s left: fetched again
	if w := get(a, "169.254.170.23", tok); w.Code != 200 || f.calls.Load() != 2 {
		t.Fatalf("with 14s left: %d, %d calls", w.Code, f.calls.Load())
	}
	now = now.Add(31 * time.Minute) // the token itself expired
	if w := get(a, "169.254.170.23", tok); w.Code != 400 || f.calls.Load() != 2 {
		t.Fatalf("expired token: %d %q, %d calls", w.Code, w.Body, f.calls.Load())
	}
}

func TestCacheDisabled(t *testing.T) {
	for _, mod := range []func(*Config){
		func(c *Config) { c.MaxCacheSize = -1 },
		func(c *Config) { c.MaxRetention = -1 },
	} {
		f := newFakeEKSAuth(t)
		a := newTestAgent(t, f, mod)
		tok := podToken("ns", "sa", "uid", time.Now().Add(time.Hour), "s")
		for range 3 {
			if w := get(a, "169.254.170.23", tok); w.Code != 200 {
				t.Fatalf("%d", w.Code)
			}
		}
		if n := f.calls.Load(); n != 3 {
			t.Errorf("%d calls with the cache disabled, want 3", n)
		}
	}
}

func TestEventsPurge(t *testing.T) {
	exp := time.Now().Add(time.Hour)
	pods := []struct{ ns, sa, uid string }{{"a", "x", "u1"}, {"a", "x", "u2"}, {"a", "y", "u3"}, {"b", "x", "u4"}}
	tests := []struct {
		name  string
		event Event
		gone  []string
	}{
		{"association updated", Event{Type: AssociationUpdated, Cluster: testCluster, Namespace: "a", ServiceAccount: "x", AssociationID: "a-1"}, []string{"u1", "u2"}},
		{"association deleted, no cluster", Event{Type: AssociationDeleted, Namespace: "b", ServiceAccount: "x"}, []string{"u4"}},
		{"association created", Event{Type: AssociationCreated, Namespace: "a", ServiceAccount: "y"}, []string{"u3"}},
		{"other cluster", Event{Type: AssociationDeleted, Cluster: "other", Namespace: "a", ServiceAccount: "x"}, nil},
		{"pod deleted", Event{Type: PodDeleted, Namespace: "a", PodUID: "u2"}, []string{"u2"}},
		{"pod deleted, wrong namespace", Event{Type: PodDeleted, Namespace: "b", PodUID: "u2"}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeEKSAuth(t)
			a := newTestAgent(t, f)
			for _, p := range pods {
				get(a, "169.254.170.23", podToken(p.ns, p.sa, p.uid, exp, "s"))
			}
			a.HandleEvent(tc.event)
			before := f.calls.Load()
			var missed []string
			for _, p := range pods {
				n := f.calls.Load()
				get(a, "169.254.170.23", podToken(p.ns, p.sa, p.uid, exp, "s"))
				if f.calls.Load() != n {
					missed = append(missed, p.uid)
				}
			}
			if strings.Join(missed, ",") != strings.Join(tc.gone, ",") {
				t.Errorf("purged %v, want %v (calls before %d)", missed, tc.gone, before)
			}
		})
	}
}

func TestPurgeDuringCallIsNotCached(t *testing.T) {
	f := newFakeEKSAuth(t)
	gate := make(chan struct{})
	f.set(func(f *fakeEKSAuth) { f.gate = gate })
	a := newTestAgent(t, f)
	tok := podToken("ns", "sa", "uid", time.Now().Add(time.Hour), "s")
	done := make(chan int)
	go func() { done <- get(a, "169.254.170.23", tok).Code }()
	waitFor(t, "the call to start", func() bool { return f.calls.Load() == 1 })
	a.HandleEvent(Event{Type: AssociationDeleted, Namespace: "ns", ServiceAccount: "sa"})
	f.set(func(f *fakeEKSAuth) { f.gate = nil })
	close(gate)
	if code := <-done; code != 200 {
		t.Fatalf("in-flight caller got %d", code)
	}
	get(a, "169.254.170.23", tok)
	if n := f.calls.Load(); n != 2 {
		t.Errorf("%d calls: the answer from before the purge was cached", n)
	}
}

func TestCallerGoneCallStillCached(t *testing.T) {
	f := newFakeEKSAuth(t)
	gate := make(chan struct{})
	f.set(func(f *fakeEKSAuth) { f.gate = gate })
	a := newTestAgent(t, f)
	tok := podToken("ns", "sa", "uid", time.Now().Add(time.Hour), "s")
	ctx, cancel := context.WithCancel(context.Background())
	r, _ := http.NewRequestWithContext(ctx, "GET", "http://169.254.170.23/v1/credentials", nil)
	r.Header.Set("Authorization", tok)
	done := make(chan struct{})
	go func() {
		a.ServeHTTP(nopWriter{}, r)
		close(done)
	}()
	waitFor(t, "the call to start", func() bool { return f.calls.Load() == 1 })
	cancel() // the SDK timed out
	<-done
	f.set(func(f *fakeEKSAuth) { f.gate = nil })
	close(gate)
	waitFor(t, "the answer to be cached", func() bool { return a.cache.size() == 1 })
	if w := get(a, "169.254.170.23", tok); w.Code != 200 || f.calls.Load() != 1 {
		t.Errorf("retry: %d, %d calls", w.Code, f.calls.Load())
	}
}

type nopWriter struct{}

func (nopWriter) Header() http.Header         { return http.Header{} }
func (nopWriter) Write(b []byte) (int, error) { return len(b), nil }
func (nopWriter) WriteHeader(int)             {}

func TestTokenEqual(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want bool
	}{
		{"", "", true},
		{"a", "a", true},
		{"a", "b", false},
		{"abcdefgh", "abcdefgh", true},
		{"abcdefgh", "abcdefgX", false},
		{"Xbcdefgh", "abcdefgh", false},
		{"abcdefghijk", "abcdefghijk", true},
		{"abcdefghijk", "abcdefghijX", false},
		{"abcdefghijk", "abcdefghij", false},
		{strings.Repeat("x", 1100) + "y", strings.Repeat("x", 1100) + "z", false},
		{strings.Repeat("x", 1101), strings.Repeat("x", 1101), true},
	} {
		if got := tokenEqual(tc.a, tc.b); got != tc.want {
			t.Errorf("tokenEqual(%.12q…, %.12q…) = %v, want %v", tc.a, tc.b, got, tc.want)
		}
	}
}

// TestFastIndexCollision plants a forged token's fast key on a verified
// token's entry, as a 64-bit collision would: the forgery must not be
// served, and the verified token is still found through SHA-256.
func TestFastIndexCollision(t *testing.T) {
	f := newFakeEKSAuth(t)
	a := newTestAgent(t, f)
	exp := time.Now().Add(time.Hour)
	real := podToken("ns", "sa", "victim-uid", exp, "real-signature")
	forged := podToken("ns", "sa", "victim-uid", exp, "forged-signature")
	f.set(func(f *fakeEKSAuth) {
		f.reject[forged] = fakeReply{status: 400, code: "InvalidTokenException", msg: "The specified Kubernetes service account token is invalid."}
	})
	if w := get(a, "169.254.170.23", real); w.Code != 200 {
		t.Fatalf("real token: %d %q", w.Code, w.Body)
	}
	c := a.cache
	rk, fk := c.fastKey(real), c.fastKey(forged)
	s := c.fastShard(rk)
	s.mu.Lock()
	ref := s.m[rk]
	delete(s.m, rk)
	s.mu.Unlock()
	if ref == nil || ref.tok != real {
		t.Fatalf("fast index holds %v for the verified token", ref)
	}
	c.mu.Lock()
	ref.fast = fk // as if both tokens hashed to fk
	c.mu.Unlock()
	s = c.fastShard(fk)
	s.mu.Lock()
	s.m[fk] = ref // the forgery's key now proposes the victim's entry
	s.mu.Unlock()

	if cs := c.lookupToken(forged, time.Now()); cs != nil {
		t.Fatal("fast index served a forged token whose key collides")
	}
	w := get(a, "169.254.170.23", forged)
	if w.Code != 400 || strings.Contains(w.Body.String(), "secret-victim-uid") {
		t.Errorf("forged token: %d %q", w.Code, w.Body)
	}
	if w := get(a, "169.254.170.23", real); w.Code != 200 || f.calls.Load() != 2 {
		t.Errorf("real token through the SHA-256 index: %d, %d calls", w.Code, f.calls.Load())
	}
	// Removing the entry clears both indexes.
	c.purge(func(*entry) bool { return true }, "test")
	for i := range c.fast {
		if n := len(c.fast[i].m); n != 0 {
			t.Errorf("fast shard %d keeps %d refs after purge", i, n)
		}
		if n := len(c.index[i].m); n != 0 {
			t.Errorf("index shard %d keeps %d refs after purge", i, n)
		}
	}
}
