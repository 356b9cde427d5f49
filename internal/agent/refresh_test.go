package agent

import (
	"context"
	"crypto/sha256"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// scriptedUpstream answers assume calls on the bubble's fake clock.
type scriptedUpstream struct {
	mu       sync.Mutex
	lifetime time.Duration
	calls    []callKind
	fail     map[callKind]error // answer for every call of that kind
}

func (s *scriptedUpstream) assume(_ context.Context, tok string, kind callKind) (*assumeResult, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, kind)
	if err := s.fail[kind]; err != nil {
		return nil, err
	}
	cl, err := parseToken(tok)
	if err != nil {
		return nil, err
	}
	return &assumeResult{
		Namespace: cl.Namespace, ServiceAccount: cl.ServiceAccount, AssociationID: "a-1", AccountID: "111122223333",
		AccessKeyID: fmt.Sprintf("ASIA%d", len(s.calls)), SecretAccessKey: "s", SessionToken: "t",
		Expiration: time.Now().Add(s.lifetime),
	}, nil
}

func (s *scriptedUpstream) count(kind callKind) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, k := range s.calls {
		if k == kind {
			n++
		}
	}
	return n
}

func (s *scriptedUpstream) setFail(kind callKind, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fail[kind] = err
}

// newTestCache builds a cache on the bubble's clock and starts its
// scheduler; the returned stop ends it.
func newTestCache(t *testing.T, up assumer, qps float64) (*cache, func()) {
	cfg, err := Config{ClusterName: "c", Region: "r", Credentials: testNodeCreds, MaxServiceQPS: qps}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	c := newCache(up, &cfg, newMetrics(func() float64 { return 0 }), slog.New(slog.DiscardHandler))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		c.runScheduler(ctx, 2, newLimiter(cfg.MaxServiceQPS))
		close(done)
	}()
	return c, func() { cancel(); <-done }
}

// fetch runs a token through the cache as the handler does.
func fetch(t *testing.T, c *cache, tok string) *credSet {
	t.Helper()
	h := tokenHash(sha256.Sum256([]byte(tok)))
	if cs := c.lookup(&h, time.Now()); cs != nil {
		return cs
	}
	cl, err := parseToken(tok)
	if err != nil {
		t.Fatal(err)
	}
	cs, _, err := c.get(context.Background(), tok, h, cl)
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

// cached is what the hit path serves for tok; the fast index and the
// SHA-256 index must agree on it.
func cached(c *cache, tok string) *credSet {
	h := tokenHash(sha256.Sum256([]byte(tok)))
	now := time.Now()
	cs := c.lookup(&h, now)
	if fast := c.lookupToken(tok, now); fast != cs {
		panic(fmt.Sprintf("fast index answers %p, SHA-256 index %p", fast, cs))
	}
	return cs
}

func TestRefreshAhead(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		up := &scriptedUpstream{lifetime: 6 * time.Hour, fail: map[callKind]error{}}
		c, stop := newTestCache(t, up, 0)
		defer stop()
		tok := podToken("ns", "sa", "uid", time.Now().Add(24*time.Hour), "s")
		first := fetch(t, c, tok)

		// Half the 6 h lifetime is capped at the 3 h retention, minus up
		// to a quarter of jitter: no refresh before 2h15m, one by 3h.
		time.Sleep(2*time.Hour + 14*time.Minute)
		synctest.Wait()
		if n := up.count(callRefresh); n != 0 {
			t.Fatalf("refreshed %d times before 2h15m", n)
		}
		time.Sleep(46 * time.Minute)
		synctest.Wait()
		if n := up.count(callRefresh); n != 1 {
			t.Fatalf("refreshed %d times by 3h, want 1", n)
		}
		if cs := cached(c, tok); cs == nil || cs == first || cs.expires <= first.expires {
			t.Errorf("refresh did not replace the credentials")
		}
		if n := up.count(callRequest); n != 1 {
			t.Errorf("%d request calls, want 1", n)
		}
	})
}

func TestRefreshFailures(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		up := &scriptedUpstream{lifetime: 6 * time.Hour, fail: map[callKind]error{}}
		c, stop := newTestCache(t, up, 0)
		defer stop()
		tok := podToken("ns", "sa", "uid", time.Now().Add(24*time.Hour), "s")
		first := fetch(t, c, tok)

		// EKS Auth down: the cached credentials keep being served, and the
		// refresh is retried within two minutes.
		up.setFail(callRefresh, &upstreamError{Status: 503, Code: "ServiceUnavailableException"})
		time.Sleep(2 * time.Hour)
		for up.count(callRefresh) == 0 {
			if time.Since(time.Unix(0, first.expires)) > -3*time.Hour {
				t.Fatal("no refresh by 3h")
			}
			time.Sleep(time.Second)
			synctest.Wait()
		}
		if cached(c, tok) != first {
			t.Fatal("credentials not served while EKS Auth is down")
		}
		time.Sleep(2 * time.Minute)
		synctest.Wait()
		if n := up.count(callRefresh); n != 2 {
			t.Fatalf("%d refreshes, want a retry within 2 minutes", n)
		}

		// The association is gone: the entry is dropped at once.
		up.setFail(callRefresh, &upstreamError{Status: 404, Code: "ResourceNotFoundException"})
		time.Sleep(2 * time.Minute)
		synctest.Wait()
		if cached(c, tok) != nil || c.size() != 0 {
			t.Errorf("entry kept after ResourceNotFoundException")
		}
	})
}

func TestNoRefreshForGonePods(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		up := &scriptedUpstream{lifetime: 6 * time.Hour, fail: map[callKind]error{}}
		c, stop := newTestCache(t, up, 0)
		defer stop()
		// The token expires in an hour and no newer one arrives: the pod
		// is gone. Nothing is refreshed; the entry goes when its
		// credentials expire.
		tok := podToken("ns", "sa", "uid", time.Now().Add(time.Hour), "s")
		fetch(t, c, tok)
		time.Sleep(5*time.Hour + 59*time.Minute)
		synctest.Wait()
		if n := up.count(callRefresh); n != 0 {
			t.Errorf("%d refreshes for a pod whose token expired", n)
		}
		if c.size() != 1 {
			t.Fatalf("entry dropped before its credentials expired")
		}
		time.Sleep(time.Minute)
		synctest.Wait()
		if c.size() != 0 {
			t.Errorf("entry kept after its credentials expired")
		}
	})
}

func TestResyncRefreshesEverything(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		up := &scriptedUpstream{lifetime: 6 * time.Hour, fail: map[callKind]error{}}
		c, stop := newTestCache(t, up, -1)
		defer stop()
		for i := range 10 {
			fetch(t, c, podToken("ns", "sa", fmt.Sprint("uid", i), time.Now().Add(24*time.Hour), "s"))
		}
		c.resync(resyncSpread)
		time.Sleep(resyncSpread)
		synctest.Wait()
		if n := up.count(callRefresh); n != 10 {
			t.Errorf("%d refreshes after a resync, want 10", n)
		}
	})
}

func TestRefreshPacing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		up := &scriptedUpstream{lifetime: 6 * time.Hour, fail: map[callKind]error{}}
		c, stop := newTestCache(t, up, 2) // 2 per second, burst 2
		defer stop()
		for i := range 10 {
			fetch(t, c, podToken("ns", "sa", fmt.Sprint("uid", i), time.Now().Add(24*time.Hour), "s"))
		}
		c.resync(0) // all due now
		time.Sleep(time.Millisecond)
		synctest.Wait()
		if n := up.count(callRefresh); n != 2 {
			t.Errorf("%d refreshes at once, want the burst of 2", n)
		}
		time.Sleep(2 * time.Second)
		synctest.Wait()
		if n := up.count(callRefresh); n != 6 {
			t.Errorf("%d refreshes after 2s, want 6", n)
		}
	})
}
