//go:build unix

package agent

import (
	"context"
	"crypto/sha256"
	"fmt"
	"log/slog"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/podid/podid/internal/cputime"
)

// realisticToken is shaped like a kubelet-projected token: RS256 header
// with a key ID, node-bound claims, a 2048-bit signature (about 1.1 KB).
func realisticToken(i int, exp time.Time) string {
	payload := map[string]any{
		"aud": []string{"pods.eks.amazonaws.com"},
		"exp": exp.Unix(), "iat": exp.Add(-24 * time.Hour).Unix(), "nbf": exp.Add(-24 * time.Hour).Unix(),
		"iss": "https://oidc.eks.us-west-2.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE",
		"jti": fmt.Sprintf("7f6c1a2b-%04d-4c1d-9e8f-0123456789ab", i%10000),
		"sub": "system:serviceaccount:carts:carts",
		"kubernetes.io": map[string]any{
			"namespace":      "carts",
			"node":           map[string]any{"name": "ip-10-42-1-23.us-west-2.compute.internal", "uid": "6b1c7a9e-1111-4b7e-8f0a-0123456789ab"},
			"pod":            map[string]any{"name": fmt.Sprintf("carts-7c9d8b6d4-%05d", i), "uid": fmt.Sprintf("0b5e%04x-2222-4c3d-8e9f-%012d", i&0xffff, i)},
			"serviceaccount": map[string]any{"name": "carts", "uid": "4f1a2b3c-3333-4d5e-9f60-0123456789ab"},
		},
	}
	return jwt(map[string]any{"alg": "RS256", "kid": "Z3Vlc3Mgd2hhdCB0aGlzIGlzIGEga2V5IGlkIG9r"}, payload, strings.Repeat("s", 256))
}

// fastUpstream answers instantly without I/O.
var fastUpstream = assumeFunc(func(_ context.Context, tok string, _ callKind) (*assumeResult, error) {
	cl, err := parseToken(tok)
	if err != nil {
		return nil, err
	}
	return &assumeResult{
		Namespace: cl.Namespace, ServiceAccount: cl.ServiceAccount, AssociationID: "a-abcdefghijklmnop1", AccountID: "111122223333",
		AccessKeyID: "ASIAIOSFODNN7EXAMPLE", SecretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
		SessionToken: "IQoJb3JpZ2luX2VjEXAMPLE", Expiration: time.Now().Add(6 * time.Hour),
	}, nil
})

func newBenchAgent(b *testing.B) *Agent {
	a, err := New(Config{ClusterName: "bench", Region: "us-west-2", Credentials: testNodeCreds, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	a.cache.up = fastUpstream
	return a
}

// benchWriter is a minimal ResponseWriter that keeps no body.
type benchWriter struct {
	h    http.Header
	code int
}

func (w *benchWriter) Header() http.Header         { return w.h }
func (w *benchWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w *benchWriter) WriteHeader(c int)           { w.code = c }

// BenchmarkHandlerHit measures the cache-hit path of the handler alone
// (no network): Host check, token hash, lookup, metrics, write.
func BenchmarkHandlerHit(b *testing.B) {
	a := newBenchAgent(b)
	tok := realisticToken(1, time.Now().Add(24*time.Hour))
	r, _ := http.NewRequest("GET", "http://169.254.170.23/v1/credentials", nil)
	r.Header.Set("Authorization", tok)
	w := &benchWriter{h: http.Header{}}
	a.ServeHTTP(w, r)
	if w.code != 200 {
		b.Fatalf("warm-up: %d", w.code)
	}
	b.ReportAllocs()
	cpu := cputime.Start()
	for b.Loop() {
		clear(w.h)
		a.ServeHTTP(w, r)
	}
	cpu.Report(b)
	if w.code != 200 {
		b.Fatalf("status %d", w.code)
	}
}

// BenchmarkHandlerHitParallel is the same on every core at once.
func BenchmarkHandlerHitParallel(b *testing.B) {
	a := newBenchAgent(b)
	tok := realisticToken(1, time.Now().Add(24*time.Hour))
	warm, _ := http.NewRequest("GET", "http://169.254.170.23/v1/credentials", nil)
	warm.Header.Set("Authorization", tok)
	a.ServeHTTP(&benchWriter{h: http.Header{}}, warm)
	b.ReportAllocs()
	cpu := cputime.Start()
	defer cpu.Report(b)
	b.RunParallel(func(pb *testing.PB) {
		r := warm.Clone(context.Background())
		w := &benchWriter{h: http.Header{}}
		for pb.Next() {
			clear(w.h)
			a.ServeHTTP(w, r)
		}
	})
}

// BenchmarkHandlerMiss is a new token per request against an instant
// upstream: parsing, single-flight bookkeeping, serialization, caching.
func BenchmarkHandlerMiss(b *testing.B) {
	a := newBenchAgent(b)
	exp := time.Now().Add(24 * time.Hour)
	toks := make([]string, 4096)
	for i := range toks {
		toks[i] = realisticToken(i, exp)
	}
	w := &benchWriter{h: http.Header{}}
	b.ReportAllocs()
	cpu := cputime.Start()
	defer cpu.Report(b)
	i := 0
	for b.Loop() {
		r, _ := http.NewRequest("GET", "http://169.254.170.23/v1/credentials", nil)
		r.Header.Set("Authorization", toks[i%len(toks)]+strings.Repeat("A", i/len(toks)%7))
		i++
		clear(w.h)
		a.ServeHTTP(w, r)
	}
}

// BenchmarkCachedPodMemory reports the heap held per cached pod, with a
// 1.1 KB token (kept to refresh with) and a 190-byte credentials body.
func BenchmarkCachedPodMemory(b *testing.B) {
	const pods = 2000
	exp := time.Now().Add(24 * time.Hour)
	toks := make([]string, pods)
	for i := range toks {
		toks[i] = realisticToken(i, exp)
	}
	tokLen := len(toks[0])
	var perPod, body float64
	for b.Loop() {
		a := newBenchAgent(b)
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		for _, t := range toks {
			tok := strings.Clone(t) // as a request's header would be
			h := tokenHash(sha256.Sum256([]byte(tok)))
			cl, _ := parseToken(tok)
			cs, _, err := a.cache.get(context.Background(), tok, h, cl)
			if err != nil {
				b.Fatal(err)
			}
			body = float64(len(cs.body))
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		if a.cache.size() != pods {
			b.Fatalf("%d cached", a.cache.size())
		}
		perPod = float64(after.HeapAlloc-before.HeapAlloc) / pods
		runtime.KeepAlive(a)
	}
	b.ReportMetric(perPod, "B/pod")
	b.ReportMetric(perPod-float64(tokLen)-body, "B/pod-overhead")
	b.ReportMetric(float64(tokLen), "B/token")
}
