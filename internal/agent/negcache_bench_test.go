//go:build unix

package agent

import (
	"context"
	"log/slog"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/podid/podid/internal/cputime"
)

// BenchmarkRefusedToken is a pod repeating a token EKS Auth refuses, with
// and without the negative cache, against an instant in-process upstream
// (a real EKS Auth call costs a network round trip and the server's
// verification on top). It reports EKS Auth calls per request.
func BenchmarkRefusedToken(b *testing.B) {
	for _, tc := range []struct {
		name string
		ttl  time.Duration
	}{{"negative-cache", DefaultNegativeCacheTTL}, {"no-negative-cache", -1}} {
		b.Run(tc.name, func(b *testing.B) {
			a, err := New(Config{ClusterName: "bench", Region: "us-west-2", Credentials: testNodeCreds, NegativeCacheTTL: tc.ttl, MaxAttempts: 1, Logger: slog.New(slog.DiscardHandler)})
			if err != nil {
				b.Fatal(err)
			}
			var calls atomic.Int64
			a.cache.up = assumeFunc(func(context.Context, string, callKind) (*assumeResult, error) {
				calls.Add(1)
				return nil, &upstreamError{Status: 400, Code: "InvalidTokenException", Message: "The specified Kubernetes service account token is invalid.", RequestID: "r"}
			})
			r, _ := http.NewRequest("GET", "http://169.254.170.23/v1/credentials", nil)
			r.Header.Set("Authorization", realisticToken(1, time.Now().Add(24*time.Hour)))
			w := &benchWriter{h: http.Header{}}
			b.ReportAllocs()
			cpu := cputime.Start()
			for b.Loop() {
				clear(w.h)
				a.ServeHTTP(w, r)
			}
			cpu.Report(b)
			if w.code != 400 {
				b.Fatalf("status %d", w.code)
			}
			b.ReportMetric(float64(calls.Load())/float64(b.N), "upstream-calls/op")
		})
	}
}
