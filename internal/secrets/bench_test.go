package secrets

import "testing"

// Results and the command that produced them: docs/perf-creds.md.

func BenchmarkSeal(b *testing.B) {
	k, err := New(fixedKey(1))
	if err != nil {
		b.Fatal(err)
	}
	pt := []byte("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
	ad := AccessKeyAD("AKIAIOSFODNN7EXAMPLE")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := k.Seal(pt, ad); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkOpen is the cost of unsealing a long-term secret access key,
// which SigV4 verification of an AKIA request needs unless cached.
func BenchmarkOpen(b *testing.B) {
	k, err := New(fixedKey(1), fixedKey(2))
	if err != nil {
		b.Fatal(err)
	}
	ad := AccessKeyAD("AKIAIOSFODNN7EXAMPLE")
	sealed, err := k.Seal([]byte("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"), ad)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := k.Open(sealed, ad); err != nil {
			b.Fatal(err)
		}
	}
}
