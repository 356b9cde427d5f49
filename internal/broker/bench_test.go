package broker

import (
	"context"
	"strconv"
	"testing"
)

// BenchmarkAssumeCached: a pod's repeated request answered from the
// broker's cache (no AWS call).
func BenchmarkAssumeCached(b *testing.B) {
	e := newEnv(b)
	in := firstInput("carts-7d9f8-x2v4q", "6f0c3a1e-5b7d-4c2a-9e8f-0a1b2c3d4e5f")
	ctx := context.Background()
	if _, err := e.b.AssumeAsService(ctx, in); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := e.b.AssumeAsService(ctx, in); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkAssumeMiss: a new pod each time: key, single-flight, one
// (fake, in-memory) STS call, cache insert.
func BenchmarkAssumeMiss(b *testing.B) {
	e := newEnv(b)
	ctx := context.Background()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if _, err := e.b.AssumeAsService(ctx, firstInput("p", strconv.Itoa(i))); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCheckTrust: podid doctor's check of one role for one use.
func BenchmarkCheckTrust(b *testing.B) {
	doc, err := TrustPolicy(ModeBroker, brokerP, roleA, []Use{useCarts})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if f := CheckTrust(string(doc), roleA, ModeBroker, brokerP, useCarts, t0); len(f) != 0 {
			b.Fatal(f)
		}
	}
}
