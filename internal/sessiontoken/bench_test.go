package sessiontoken

import (
	"encoding/json"
	"syscall"
	"testing"
	"time"

	"github.com/podid/podid/internal/auth"
)

// Results and the command that produced them: docs/perf-creds.md.

// cpuPerOp reports the process's CPU time (user + system, all threads, so
// garbage collection included) per operation as "cpu-ns/op". On a shared
// machine ns/op counts time spent waiting for a core; cpu-ns/op does not.
// Call it after the timed loop with the rusage taken before it.
func cpuPerOp(b *testing.B, before syscall.Rusage) {
	var after syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &after); err != nil {
		return
	}
	used := func(r syscall.Rusage) time.Duration {
		return time.Duration(r.Utime.Nano() + r.Stime.Nano())
	}
	b.ReportMetric(float64(used(after)-used(before))/float64(b.N), "cpu-ns/op")
}

func rusage() syscall.Rusage {
	var r syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &r)
	return r
}

func BenchmarkMint(b *testing.B) {
	m := testMinter(b)
	s := podIdentitySession()
	b.ReportAllocs()
	r := rusage()
	for b.Loop() {
		if _, _, _, err := m.Mint(s); err != nil {
			b.Fatal(err)
		}
	}
	cpuPerOp(b, r)
}

func BenchmarkOpen(b *testing.B) {
	m := testMinter(b)
	akid, _, token, err := m.Mint(podIdentitySession())
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	r := rusage()
	for b.Loop() {
		if _, _, err := m.Open(akid, token, t0); err != nil {
			b.Fatal(err)
		}
	}
	cpuPerOp(b, r)
}

// BenchmarkOpenRefused measures the cost of a forged token (right key ID,
// wrong access key): what an attacker can make a replica spend.
func BenchmarkOpenRefused(b *testing.B) {
	m := testMinter(b)
	_, _, token, _ := m.Mint(podIdentitySession())
	b.ReportAllocs()
	r := rusage()
	for b.Loop() {
		if _, _, err := m.Open("ASIAAAAAAAAAAAAAAAAA", token, t0); err == nil {
			b.Fatal("forged token opened")
		}
	}
	cpuPerOp(b, r)
}

func BenchmarkMintParallel(b *testing.B) {
	m := testMinter(b)
	s := podIdentitySession()
	b.ReportAllocs()
	r := rusage()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, _, _, err := m.Mint(s); err != nil {
				b.Fatal(err)
			}
		}
	})
	cpuPerOp(b, r)
}

func BenchmarkOpenParallel(b *testing.B) {
	m := testMinter(b)
	akid, _, token, _ := m.Mint(podIdentitySession())
	b.ReportAllocs()
	r := rusage()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, _, err := m.Open(akid, token, t0); err != nil {
				b.Fatal(err)
			}
		}
	})
	cpuPerOp(b, r)
}

// BenchmarkCodec compares the session codec with encoding/json, the
// alternative the envelope could have used.
func BenchmarkCodec(b *testing.B) {
	s := podIdentitySession()
	bin := appendSession(nil, s)
	js, _ := json.Marshal(s)
	b.Run("encode/binary", func(b *testing.B) {
		b.ReportAllocs()
		buf := make([]byte, 0, 1024)
		for b.Loop() {
			buf = appendSession(buf[:0], s)
		}
		b.ReportMetric(float64(len(bin)), "bytes")
	})
	b.Run("encode/json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := json.Marshal(s); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(len(js)), "bytes")
	})
	b.Run("decode/binary", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := decodeSession(bin); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("decode/json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var out auth.Session
			if err := json.Unmarshal(js, &out); err != nil {
				b.Fatal(err)
			}
		}
	})
}
