package password

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/podid/podid/internal/cputime"
)

// cheap are parameters small enough for unit tests; the encoding, salt
// and comparison are the same as with the defaults.
var cheap = Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

func newHasher(t testing.TB, p Params) *Hasher {
	t.Helper()
	h, err := New(p, 1)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestHashVerify(t *testing.T) {
	h := newHasher(t, cheap)
	ctx := t.Context()
	enc, err := h.Hash(ctx, "correct horse")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(enc, "$argon2id$v=19$m=64,t=1,p=1$") {
		t.Errorf("encoding %q does not carry its parameters", enc)
	}
	if strings.Contains(enc, "correct horse") {
		t.Fatal("encoding contains the password")
	}
	for _, tc := range []struct {
		pw   string
		want bool
	}{
		{"correct horse", true},
		{"correct hors", false},
		{"Correct horse", false},
		{"", false},
		{"correct horse ", false},
	} {
		ok, err := h.Verify(ctx, enc, tc.pw)
		if err != nil || ok != tc.want {
			t.Errorf("Verify(%q) = %v, %v; want %v", tc.pw, ok, err, tc.want)
		}
	}
	// Each hash has its own salt.
	enc2, err := h.Hash(ctx, "correct horse")
	if err != nil {
		t.Fatal(err)
	}
	if enc2 == enc {
		t.Error("two hashes of one password are equal: salt not random")
	}
}

// A hash made with other parameters still verifies (they travel in the
// encoding), and NeedsRehash says it should be re-made.
func TestParametersTravelWithTheHash(t *testing.T) {
	old := newHasher(t, Params{Memory: 32, Time: 2, Threads: 2, SaltLen: 8, KeyLen: 16})
	enc, err := old.Hash(t.Context(), "pw")
	if err != nil {
		t.Fatal(err)
	}
	cur := newHasher(t, cheap)
	ok, err := cur.Verify(t.Context(), enc, "pw")
	if err != nil || !ok {
		t.Fatalf("Verify with other parameters = %v, %v", ok, err)
	}
	if !cur.NeedsRehash(enc) {
		t.Error("NeedsRehash = false for a hash with other parameters")
	}
	if old.NeedsRehash(enc) {
		t.Error("NeedsRehash = true for a hash with the hasher's own parameters")
	}
	if !cur.NeedsRehash("garbage") {
		t.Error("NeedsRehash = false for a malformed encoding")
	}
}

func TestDefaultParams(t *testing.T) {
	if testing.Short() {
		t.Skip("one 64 MiB hash")
	}
	h := newHasher(t, DefaultParams())
	enc, err := h.Hash(t.Context(), "pw")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(enc, "$argon2id$v=19$m=65536,t=3,p=4$") {
		t.Errorf("default encoding = %q", enc)
	}
	p, salt, key, err := decode(enc)
	if err != nil || p != DefaultParams() || len(salt) != 16 || len(key) != 32 {
		t.Errorf("decode(default) = %+v, %d-byte salt, %d-byte key, %v", p, len(salt), len(key), err)
	}
}

func TestMalformed(t *testing.T) {
	h := newHasher(t, cheap)
	good, err := h.Hash(t.Context(), "pw")
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(good, "$")
	salt, key := parts[4], parts[5]
	for _, enc := range []string{
		"",
		"plain",
		"$argon2i$v=19$m=64,t=1,p=1$" + salt + "$" + key,
		"$argon2id$v=16$m=64,t=1,p=1$" + salt + "$" + key,
		"$argon2id$v=19$m=64,t=1$" + salt + "$" + key,
		"$argon2id$v=19$t=1,m=64,p=1$" + salt + "$" + key,
		"$argon2id$v=19$m=064,t=1,p=1$" + salt + "$" + key,
		"$argon2id$v=19$m=64,t=1,p=1,x=2$" + salt + "$" + key,
		"$argon2id$v=19$m=64,t=0,p=1$" + salt + "$" + key,
		"$argon2id$v=19$m=64,t=1,p=0$" + salt + "$" + key,
		"$argon2id$v=19$m=64,t=1,p=256$" + salt + "$" + key,
		"$argon2id$v=19$m=4,t=1,p=1$" + salt + "$" + key,
		"$argon2id$v=19$m=4294967295,t=1,p=1$" + salt + "$" + key,
		"$argon2id$v=19$m=64,t=65,p=1$" + salt + "$" + key,
		"$argon2id$v=19$m=64,t=1,p=1$" + salt + "=$" + key,
		"$argon2id$v=19$m=64,t=1,p=1$" + salt + "$" + key + "$",
		"$argon2id$v=19$m=64,t=1,p=1$AAAA$" + key,
		"$argon2id$v=19$m=64,t=1,p=1$" + salt + "$AAAA",
		"$argon2id$v=19$m=64,t=1,p=1$" + salt + "$" + strings.Repeat("A", 600),
	} {
		ok, err := h.Verify(t.Context(), enc, "pw")
		if ok || !errors.Is(err, ErrMalformed) {
			t.Errorf("Verify(%q) = %v, %v; want ErrMalformed", enc, ok, err)
		}
	}
}

func TestNewRejectsBadParams(t *testing.T) {
	for _, p := range []Params{
		{},
		{Memory: 64, Time: 1, Threads: 0, SaltLen: 16, KeyLen: 32},
		{Memory: 7, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32},
		{Memory: 16, Time: 1, Threads: 4, SaltLen: 16, KeyLen: 32},
		{Memory: 64, Time: 0, Threads: 1, SaltLen: 16, KeyLen: 32},
		{Memory: 64, Time: 1, Threads: 1, SaltLen: 4, KeyLen: 32},
		{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 8},
		{Memory: maxMemory + 1, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32},
	} {
		if _, err := New(p, 1); err == nil {
			t.Errorf("New(%+v) succeeded", p)
		}
	}
}

func TestVerifyDummy(t *testing.T) {
	h := newHasher(t, cheap)
	if err := h.VerifyDummy(t.Context(), "anything"); err != nil {
		t.Fatal(err)
	}
	if h.NeedsRehash(h.dummy) {
		t.Error("the dummy hash is not made with the hasher's parameters (timing would differ)")
	}
}

// A caller waiting for a hashing slot gives up when its context ends.
func TestWaitRespectsContext(t *testing.T) {
	h := newHasher(t, cheap)
	h.slots <- struct{}{} // the only slot is busy
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := h.Hash(ctx, "pw"); !errors.Is(err, context.Canceled) {
		t.Errorf("Hash with a cancelled context while busy = %v, want context.Canceled", err)
	}
	<-h.slots
}

// FuzzDecode: no stored string makes decode panic or accept parameters
// outside the bounds, and whatever it accepts re-encodes to itself.
func FuzzDecode(f *testing.F) {
	f.Add("$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHRzYWx0c2FsdA$a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2U")
	f.Add("$argon2id$v=19$m=64,t=1,p=1$AAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAA")
	f.Add("$argon2id$v=19$m=,t=,p=$$")
	f.Fuzz(func(t *testing.T, s string) {
		p, salt, key, err := decode(s)
		if err != nil {
			return
		}
		if p.check() != nil {
			t.Fatalf("decode accepted out-of-bounds parameters %+v", p)
		}
		if got := encode(p, salt, key); got != s {
			t.Fatalf("decode/encode round trip: %q -> %q", s, got)
		}
	})
}

// BenchmarkHashDefault is one hash with DefaultParams (what CreateLoginProfile,
// ChangePassword and each console sign-in pay); BenchmarkHashCheap is the
// baseline of the same code with the unit tests' parameters.
func BenchmarkHashDefault(b *testing.B) { benchHash(b, DefaultParams()) }

// BenchmarkHashCheap is the baseline for BenchmarkHashDefault.
func BenchmarkHashCheap(b *testing.B) { benchHash(b, cheap) }

func benchHash(b *testing.B, p Params) {
	h := newHasher(b, p)
	b.ReportAllocs()
	cpu := cputime.Start()
	for b.Loop() {
		if _, err := h.Hash(b.Context(), "correct horse battery staple"); err != nil {
			b.Fatal(err)
		}
	}
	cpu.Report(b)
}
