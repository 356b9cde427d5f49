// Package password hashes and verifies IAM users' console passwords with
// argon2id (RFC 9106), a memory-hard function, and a random salt per
// password.
//
// A hash is stored in the PHC string format, with the parameters it was
// made with:
//
//	$argon2id$v=19$m=65536,t=3,p=4$<salt>$<key>
//
// (salt and key in unpadded standard base64), so the parameters can change
// later: Verify reads them from the encoding, and NeedsRehash tells a
// caller to re-hash a password made with other parameters after it has
// been verified.
//
// Hashing costs memory (Params.Memory per call), so a Hasher runs at most
// a fixed number of hashes at once and queues the rest. Passwords are
// never logged or kept: callers pass them in and get only hashes and
// verdicts back.
package password

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/crypto/argon2"
)

// Params are argon2id's cost parameters.
type Params struct {
	// Memory is the memory cost in KiB.
	Memory uint32
	// Time is the number of passes over the memory.
	Time uint32
	// Threads is the degree of parallelism (lanes).
	Threads uint8
	// SaltLen and KeyLen are the salt and derived key lengths in bytes.
	SaltLen uint32
	KeyLen  uint32
}

// DefaultParams are RFC 9106's second recommended option (section 4): 64
// MiB of memory, 3 passes, 4 lanes, a 128-bit salt and a 256-bit key.
// docs/performance.md records what one hash costs.
func DefaultParams() Params {
	return Params{Memory: 64 * 1024, Time: 3, Threads: 4, SaltLen: 16, KeyLen: 32}
}

// Bounds on parameters, for New and for the encodings Verify accepts (a
// corrupted or hostile record must not make Verify allocate without limit).
const (
	minMemory  = 8          // KiB; argon2 needs at least 8 per lane
	maxMemory  = 1 << 20    // 1 GiB
	maxTime    = 64         // passes
	minSaltLen = 8          // bytes (RFC 9106: 16 recommended)
	maxSaltLen = 64         // bytes
	minKeyLen  = 16         // bytes
	maxKeyLen  = 64         // bytes
	maxEncoded = 64 + 4*128 // characters of an encoding with the largest salt and key
)

// ErrMalformed is returned by Verify for a stored hash that is not an
// argon2id encoding within the bounds this package accepts.
var ErrMalformed = errors.New("password: malformed hash encoding")

func (p Params) check() error {
	switch {
	case p.Threads == 0:
		return errors.New("password: Threads must be at least 1")
	case p.Memory < minMemory*uint32(p.Threads) || p.Memory > maxMemory:
		return fmt.Errorf("password: Memory must be %d..%d KiB (at least 8 per thread)", minMemory*uint32(p.Threads), maxMemory)
	case p.Time == 0 || p.Time > maxTime:
		return fmt.Errorf("password: Time must be 1..%d", maxTime)
	case p.SaltLen < minSaltLen || p.SaltLen > maxSaltLen:
		return fmt.Errorf("password: SaltLen must be %d..%d bytes", minSaltLen, maxSaltLen)
	case p.KeyLen < minKeyLen || p.KeyLen > maxKeyLen:
		return fmt.Errorf("password: KeyLen must be %d..%d bytes", minKeyLen, maxKeyLen)
	}
	return nil
}

// Hasher hashes new passwords with its parameters and verifies any
// argon2id encoding. It is safe for concurrent use.
type Hasher struct {
	params Params
	// slots bounds the hashes running at once (each holds Params.Memory).
	slots chan struct{}

	dummyOnce sync.Once
	dummy     string
	dummyErr  error
}

// New returns a Hasher that hashes with p and runs at most concurrency
// hashes at once (runtime.GOMAXPROCS(0) when concurrency <= 0).
func New(p Params, concurrency int) (*Hasher, error) {
	if err := p.check(); err != nil {
		return nil, err
	}
	if concurrency <= 0 {
		concurrency = runtime.GOMAXPROCS(0)
	}
	return &Hasher{params: p, slots: make(chan struct{}, concurrency)}, nil
}

// Params returns the parameters new hashes are made with.
func (h *Hasher) Params() Params { return h.params }

// key runs argon2id once a slot is free (or ctx ends).
func (h *Hasher) key(ctx context.Context, pw, salt []byte, p Params) ([]byte, error) {
	select {
	case h.slots <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("password: waiting to hash: %w", ctx.Err())
	}
	defer func() { <-h.slots }()
	return argon2.IDKey(pw, salt, p.Time, p.Memory, p.Threads, p.KeyLen), nil
}

// Hash returns the encoding of password's hash with a fresh random salt.
func (h *Hasher) Hash(ctx context.Context, password string) (string, error) {
	salt := make([]byte, h.params.SaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("password: salt: %w", err)
	}
	key, err := h.key(ctx, []byte(password), salt, h.params)
	if err != nil {
		return "", err
	}
	return encode(h.params, salt, key), nil
}

// Verify reports whether password matches the encoded hash, comparing
// keys in constant time. A malformed encoding is ErrMalformed (never a
// match).
func (h *Hasher) Verify(ctx context.Context, encoded, password string) (bool, error) {
	p, salt, want, err := decode(encoded)
	if err != nil {
		return false, err
	}
	got, err := h.key(ctx, []byte(password), salt, p)
	if err != nil {
		return false, err
	}
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

// VerifyDummy does the work of verifying password against a hash made
// with the Hasher's parameters, and reports false: callers run it when
// there is no hash to check (no such user), so that an answer takes as
// long whether the user exists or not.
func (h *Hasher) VerifyDummy(ctx context.Context, password string) error {
	h.dummyOnce.Do(func() {
		h.dummy, h.dummyErr = h.Hash(context.WithoutCancel(ctx), "podid dummy password")
	})
	if h.dummyErr != nil {
		return h.dummyErr
	}
	_, err := h.Verify(ctx, h.dummy, password)
	return err
}

// NeedsRehash reports whether encoded was made with other parameters than
// the Hasher's (or is malformed).
func (h *Hasher) NeedsRehash(encoded string) bool {
	p, _, _, err := decode(encoded)
	return err != nil || p != h.params
}

var b64 = base64.RawStdEncoding

func encode(p Params, salt, key []byte) string {
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.Memory, p.Time, p.Threads, b64.EncodeToString(salt), b64.EncodeToString(key))
}

// decode parses an encoding made by encode, within the package's bounds.
func decode(s string) (Params, []byte, []byte, error) {
	var p Params
	// Go's base64 decoders skip CR and LF even in strict mode: refuse
	// them, so one hash has exactly one encoding.
	if len(s) > maxEncoded || strings.ContainsAny(s, "\r\n") {
		return p, nil, nil, ErrMalformed
	}
	parts := strings.Split(s, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" || parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return p, nil, nil, ErrMalformed
	}
	var m, t, threads uint64
	for i, kv := range strings.Split(parts[3], ",") {
		name, val, ok := strings.Cut(kv, "=")
		want := [...]string{"m", "t", "p"}
		if !ok || i >= len(want) || name != want[i] || val == "" || (len(val) > 1 && val[0] == '0') {
			return p, nil, nil, ErrMalformed
		}
		n, err := strconv.ParseUint(val, 10, 32)
		if err != nil {
			return p, nil, nil, ErrMalformed
		}
		switch name {
		case "m":
			m = n
		case "t":
			t = n
		case "p":
			threads = n
		}
	}
	if threads > 255 {
		return p, nil, nil, ErrMalformed
	}
	salt, err := b64.Strict().DecodeString(parts[4])
	if err != nil {
		return p, nil, nil, ErrMalformed
	}
	key, err := b64.Strict().DecodeString(parts[5])
	if err != nil {
		return p, nil, nil, ErrMalformed
	}
	p = Params{Memory: uint32(m), Time: uint32(t), Threads: uint8(threads), SaltLen: uint32(len(salt)), KeyLen: uint32(len(key))}
	if p.check() != nil {
		return Params{}, nil, nil, ErrMalformed
	}
	return p, salt, key, nil
}
