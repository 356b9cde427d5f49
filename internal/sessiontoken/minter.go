// Package sessiontoken mints and verifies podid's temporary credentials
// (the ASIA… access key ID, secret access key and session token that STS
// AssumeRole, GetSessionToken and EKS Auth hand out) so that any server
// replica verifies them without a database read.
//
// The session token is the whole session, sealed: an authenticated,
// encrypted envelope, standard base64 with padding like AWS's tokens.
//
//	offset 0     version byte (0x01)
//	offset 1–4   session-token key ID
//	offset 5–28  nonce (24 random bytes)
//	offset 29–   XChaCha20-Poly1305 ciphertext of the encoded auth.Session,
//	             then the 16-byte tag; bytes 0–4 are the additional data
//
// The access key ID and the secret access key are not stored anywhere:
// both are HMAC-SHA256 values over the envelope's identity (version, key
// ID, nonce and AEAD tag; the tag covers the ciphertext), under two keys
// derived (HKDF-SHA256) from the session-token key. They are bound to
// exactly one token and any replica holding the key recomputes them. The
// token alone, which travels with every request, does not reveal the
// secret. Opening a token checks, in constant time, that it belongs to the
// presented access key ID.
//
// Keys live in the store as store.ServerKey{Purpose: "session-token"},
// sealed by the master keyring (LoadOrCreate, Rotate, Keeper).
package sessiontoken

import (
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/chacha20poly1305"

	"github.com/podid/podid/internal/auth"
	"github.com/podid/podid/internal/awsproto"
	"github.com/podid/podid/internal/ids"
)

const (
	tokenVersion1 = 0x01
	headerSize    = 1 + keyIDSize
	nonceSize     = chacha20poly1305.NonceSizeX
	tagSize       = chacha20poly1305.Overhead
	envelopeMin   = headerSize + nonceSize + tagSize

	// MaxTokenLen is the longest session token Mint produces and Open
	// reads, in characters. It leaves room for ten 6,144-character session
	// policy documents; typical pod identity tokens are about 1 KB.
	MaxTokenLen = 128 << 10

	secretBytes = 30 // 40 base64 characters
	akidBytes   = 10 // 16 base32 characters

	infoEncrypt = "podid session-token v1 encrypt"
	infoAKID    = "podid session-token v1 access-key-id"
	infoSecret  = "podid session-token v1 secret-access-key"
)

// Causes of a refusal, reachable with errors.Is through the
// *awsproto.Error that Open returns. They are for logs and metrics; the
// client sees only AWS's code and message.
var (
	// ErrMalformed: not base64, too short or too long, unknown version.
	ErrMalformed = errors.New("sessiontoken: malformed token")
	// ErrUnknownKey: sealed by a key this Minter does not hold (another
	// replica may have rotated; see Keeper).
	ErrUnknownKey = errors.New("sessiontoken: token names an unknown key")
	// ErrAccessKeyMismatch: the token belongs to another access key ID.
	ErrAccessKeyMismatch = errors.New("sessiontoken: token does not belong to the access key ID")
	// ErrAuthentication: the envelope was altered or forged.
	ErrAuthentication = errors.New("sessiontoken: token failed authentication")
	// ErrExpired: authentic but past its expiry.
	ErrExpired = errors.New("sessiontoken: token expired")

	// ErrSessionTooLarge is returned by Mint when the token would exceed
	// MaxTokenLen (STS can answer PackedPolicyTooLarge).
	ErrSessionTooLarge = errors.New("sessiontoken: session too large for a token")
)

// AWS's messages for refused temporary credentials.
const (
	invalidMessage = "The security token included in the request is invalid."
	expiredMessage = "The security token included in the request is expired"
)

func invalidToken(cause error) error {
	return &awsproto.Error{Code: "InvalidClientTokenId", Message: invalidMessage,
		Status: http.StatusForbidden, Sender: true, Cause: cause}
}

func expiredToken() error {
	return &awsproto.Error{Code: "ExpiredToken", Message: expiredMessage,
		Status: http.StatusForbidden, Sender: true, Cause: ErrExpired}
}

// sessionKey is a Key ready for use.
type sessionKey struct {
	id     [keyIDSize]byte
	name   string
	aead   cipher.AEAD
	akid   *hmacPool
	secret *hmacPool
}

// Minter mints and opens session tokens with one active key and any number
// of older keys (kept so tokens minted before a rotation stay valid until
// they expire). It is immutable and safe for concurrent use.
type Minter struct {
	active *sessionKey
	byID   map[[keyIDSize]byte]*sessionKey
	bufs   bufPool
}

// NewMinter returns a Minter that mints with active and opens tokens of
// active and others. Keys must have valid, distinct IDs.
func NewMinter(active Key, others ...Key) (*Minter, error) {
	m := &Minter{byID: make(map[[keyIDSize]byte]*sessionKey, 1+len(others))}
	for _, k := range append([]Key{active}, others...) {
		sk, err := newSessionKey(k)
		if err != nil {
			return nil, err
		}
		if _, dup := m.byID[sk.id]; dup {
			return nil, fmt.Errorf("sessiontoken: key %s given twice", k.ID)
		}
		m.byID[sk.id] = sk
		if m.active == nil {
			m.active = sk
		}
	}
	return m, nil
}

func newSessionKey(k Key) (*sessionKey, error) {
	id, err := parseKeyID(k.ID)
	if err != nil {
		return nil, err
	}
	derive := func(info string) ([]byte, error) {
		return hkdf.Key(sha256.New, k.secret[:], nil, info, 32)
	}
	encKey, err := derive(infoEncrypt)
	if err != nil {
		return nil, fmt.Errorf("sessiontoken: derive keys: %w", err)
	}
	akidKey, err := derive(infoAKID)
	if err != nil {
		return nil, fmt.Errorf("sessiontoken: derive keys: %w", err)
	}
	secretKey, err := derive(infoSecret)
	if err != nil {
		return nil, fmt.Errorf("sessiontoken: derive keys: %w", err)
	}
	aead, err := chacha20poly1305.NewX(encKey)
	if err != nil {
		return nil, fmt.Errorf("sessiontoken: init cipher: %w", err)
	}
	return &sessionKey{id: id, name: k.ID, aead: aead, akid: newHMACPool(akidKey), secret: newHMACPool(secretKey)}, nil
}

// ActiveKeyID returns the ID of the key new tokens are sealed with.
func (m *Minter) ActiveKeyID() string { return m.active.name }

// KeyIDs returns the IDs of every key the Minter opens tokens with, sorted.
func (m *Minter) KeyIDs() []string {
	out := make([]string, 0, len(m.byID))
	for _, k := range m.byID {
		out = append(out, k.name)
	}
	slices.Sort(out)
	return out
}

// String names the Minter's keys without their secrets.
func (m *Minter) String() string {
	return "sessiontoken.Minter{active: " + m.active.name + ", keys: " + strings.Join(m.KeyIDs(), ",") + "}"
}

// GoString is String, so that %#v does not print key material.
func (m *Minter) GoString() string { return m.String() }

// Mint seals s into a session token and returns the credentials that go
// with it. s.Expires must be set; the caller decides the session's
// contents and lifetime. A session whose token would exceed MaxTokenLen
// fails with ErrSessionTooLarge.
func (m *Minter) Mint(s *auth.Session) (accessKeyID, secretAccessKey, sessionToken string, err error) {
	if s == nil || s.Expires.IsZero() {
		return "", "", "", errors.New("sessiontoken: mint: session without an expiry")
	}
	k := m.active
	const prefix = headerSize + nonceSize
	bp := m.bufs.get(prefix + sizeHint(s) + tagSize)
	defer m.bufs.put(bp)
	buf := (*bp)[:prefix]
	buf[0] = tokenVersion1
	copy(buf[1:headerSize], k.id[:])
	rand.Read(buf[headerSize:prefix])
	buf = appendSession(buf, s)
	if base64.StdEncoding.EncodedLen(len(buf)+tagSize) > MaxTokenLen {
		return "", "", "", fmt.Errorf("%w (%d bytes encoded)", ErrSessionTooLarge, len(buf)-prefix)
	}
	// Seal in place: the ciphertext overwrites the plaintext exactly.
	env := k.aead.Seal(buf[:prefix], buf[headerSize:prefix], buf[prefix:], buf[:headerSize])
	*bp = env
	akid, secret := k.credentials(env)
	tp := m.bufs.get(base64.StdEncoding.EncodedLen(len(env)))
	defer m.bufs.put(tp)
	*tp = base64.StdEncoding.AppendEncode((*tp)[:0], env)
	return string(akid[:]), string(secret[:]), string(*tp), nil
}

// Open verifies sessionToken against accessKeyID and returns the session
// it carries and the secret access key for verifying the request's
// signature. Every refusal is an *awsproto.Error: 403 InvalidClientTokenId
// for anything not minted by this Minter's keys for accessKeyID, 403
// ExpiredToken for an authentic token at or past its expiry. The error's
// Cause (ErrMalformed, ErrUnknownKey, ...) is for logs.
func (m *Minter) Open(accessKeyID, sessionToken string, now time.Time) (*auth.Session, string, error) {
	if !ids.IsSessionAccessKeyID(accessKeyID) {
		return nil, "", invalidToken(ErrAccessKeyMismatch)
	}
	if len(sessionToken) > MaxTokenLen || len(sessionToken) < base64.StdEncoding.EncodedLen(envelopeMin) {
		return nil, "", invalidToken(ErrMalformed)
	}
	bp := m.bufs.get(base64.StdEncoding.DecodedLen(len(sessionToken)))
	defer m.bufs.put(bp)
	env, ok := decodeCanonical(sessionToken, bp)
	if !ok || len(env) < envelopeMin {
		return nil, "", invalidToken(ErrMalformed)
	}
	if env[0] != tokenVersion1 {
		return nil, "", invalidToken(ErrMalformed)
	}
	k, ok := m.byID[[keyIDSize]byte(env[1:headerSize])]
	if !ok {
		return nil, "", invalidToken(ErrUnknownKey)
	}
	// The access key binding is checked first: it is cheaper than decrypting.
	akid, secret := k.credentials(env)
	if subtle.ConstantTimeCompare(akid[:], []byte(accessKeyID)) != 1 {
		return nil, "", invalidToken(ErrAccessKeyMismatch)
	}
	const prefix = headerSize + nonceSize
	payload, err := k.aead.Open(env[prefix:prefix], env[headerSize:prefix], env[prefix:], env[:headerSize])
	if err != nil {
		return nil, "", invalidToken(ErrAuthentication)
	}
	s, err := decodeSession(payload)
	if err != nil {
		// Authentic but undecodable: a newer replica's critical field.
		return nil, "", invalidToken(fmt.Errorf("%w: %w", ErrMalformed, err))
	}
	if !now.Before(s.Expires) {
		return nil, "", expiredToken()
	}
	return s, string(secret[:]), nil
}

// decodeCanonical decodes standard, padded base64 and accepts only the
// canonical spelling, so that one token has exactly one: the strict decoder
// refuses non-zero padding bits, and the length check refuses the CR and LF
// characters it would otherwise skip.
func decodeCanonical(s string, bp *[]byte) ([]byte, bool) {
	if len(s)%4 != 0 {
		return nil, false
	}
	want := len(s) / 4 * 3
	if strings.HasSuffix(s, "==") {
		want -= 2
	} else if strings.HasSuffix(s, "=") {
		want--
	}
	b := (*bp)[:base64.StdEncoding.DecodedLen(len(s))]
	n, err := base64.StdEncoding.Strict().Decode(b, []byte(s))
	if err != nil || n != want {
		return nil, false
	}
	return b[:n], true
}

// credentials derives the access key ID and secret access key of an
// envelope (at least envelopeMin bytes) from its identity: version, key
// ID, nonce and AEAD tag. The tag is the Poly1305 MAC of the ciphertext
// under a one-time key of (key, nonce), so the derivation depends on every
// byte of the token. Hashing these 45 bytes rather than the whole envelope
// keeps the cost independent of the session's size; it is sound because
// Open returns the secret only for an envelope the AEAD authenticates, and
// the AEAD authenticates only envelopes Mint produced, each with its own
// random 192-bit nonce.
func (k *sessionKey) credentials(env []byte) (akid [ids.AccessKeyIDLen]byte, secret [ids.SecretAccessKeyLen]byte) {
	var in [headerSize + nonceSize + tagSize]byte
	copy(in[:], env[:headerSize+nonceSize])
	copy(in[headerSize+nonceSize:], env[len(env)-tagSize:])
	var sum [sha256.Size]byte
	k.akid.sum(in[:], sum[:0])
	copy(akid[:], ids.PrefixSessionAccessKey)
	base32.StdEncoding.Encode(akid[len(ids.PrefixSessionAccessKey):], sum[:akidBytes])
	k.secret.sum(in[:], sum[:0])
	base64.StdEncoding.Encode(secret[:], sum[:secretBytes])
	return akid, secret
}

// bufPool holds envelope buffers: every token would otherwise allocate one
// (about 700 bytes for a pod identity session) only to drop it at once.
// Nothing returned by Mint or Open refers to a pooled buffer, and buffers
// are cleared before reuse so decrypted sessions do not linger.
type bufPool struct{ p sync.Pool }

const maxPooledBuf = 4 << 10

func (bp *bufPool) get(n int) *[]byte {
	b, _ := bp.p.Get().(*[]byte)
	if b == nil || cap(*b) < n {
		nb := make([]byte, 0, max(n, 1024))
		return &nb
	}
	return b
}

func (bp *bufPool) put(b *[]byte) {
	if cap(*b) <= maxPooledBuf {
		clear((*b)[:cap(*b)])
		*b = (*b)[:0]
		bp.p.Put(b)
	}
}

// hmacPool reuses keyed HMAC-SHA256 states: keying costs two compression
// rounds and an allocation that every token would otherwise pay.
type hmacPool struct{ pool sync.Pool }

func newHMACPool(key []byte) *hmacPool {
	return &hmacPool{pool: sync.Pool{New: func() any { return hmac.New(sha256.New, key) }}}
}

func (p *hmacPool) sum(data, out []byte) []byte {
	h := p.pool.Get().(hash.Hash)
	h.Reset()
	h.Write(data)
	out = h.Sum(out)
	p.pool.Put(h)
	return out
}
