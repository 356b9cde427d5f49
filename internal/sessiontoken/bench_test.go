package sessiontoken

import (
	"encoding/json"
	"testing"

	"github.com/podid/podid/internal/auth"
	"github.com/podid/podid/internal/cputime"
)

// Results and the command that produced them: docs/perf-creds.md.

func BenchmarkMint(b *testing.B) {
	m := testMinter(b)
	s := podIdentitySession()
	b.ReportAllocs()
	cpu := cputime.Start()
	for b.Loop() {
		if _, _, _, err := m.Mint(s); err != nil {
			b.Fatal(err)
		}
	}
	cpu.Report(b)
}

func BenchmarkOpen(b *testing.B) {
	m := testMinter(b)
	akid, _, token, err := m.Mint(podIdentitySession())
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	cpu := cputime.Start()
	for b.Loop() {
		if _, _, err := m.Open(akid, token, t0); err != nil {
			b.Fatal(err)
		}
	}
	cpu.Report(b)
}

// BenchmarkOpenRefused measures the cost of a forged token (right key ID,
// wrong access key): what an attacker can make a replica spend.
func BenchmarkOpenRefused(b *testing.B) {
	m := testMinter(b)
	_, _, token, _ := m.Mint(podIdentitySession())
	b.ReportAllocs()
	cpu := cputime.Start()
	for b.Loop() {
		if _, _, err := m.Open("ASIAAAAAAAAAAAAAAAAA", token, t0); err == nil {
			b.Fatal("forged token opened")
		}
	}
	cpu.Report(b)
}

func BenchmarkMintParallel(b *testing.B) {
	m := testMinter(b)
	s := podIdentitySession()
	b.ReportAllocs()
	cpu := cputime.Start()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, _, _, err := m.Mint(s); err != nil {
				b.Fatal(err)
			}
		}
	})
	cpu.Report(b)
}

func BenchmarkOpenParallel(b *testing.B) {
	m := testMinter(b)
	akid, _, token, _ := m.Mint(podIdentitySession())
	b.ReportAllocs()
	cpu := cputime.Start()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, _, err := m.Open(akid, token, t0); err != nil {
				b.Fatal(err)
			}
		}
	})
	cpu.Report(b)
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
