// Package secrets seals podid's secrets at rest with a master key: secret
// access keys of IAM users, session-token keys and cluster signing keys are
// stored as ciphertext produced here, never as plaintext.
//
// A Keyring holds one active master key, which seals new data, and any
// number of older keys, which only open data sealed before a rotation.
// Sealed blobs name the key that sealed them, so rotation is: add a new
// active key (Rotate, RotateFile), re-seal stored blobs at leisure (Reseal),
// then drop the old key (Retire). docs/security.md describes the procedure.
//
// Sealing uses XChaCha20-Poly1305 (golang.org/x/crypto/chacha20poly1305).
// Its 192-bit nonces are drawn at random for every message, so there is no
// practical limit on how many blobs one key seals and no counter to keep.
//
// Sealed format, version 1:
//
//	offset 0     version byte (0x01)
//	offset 1–4   key ID (first 4 bytes of SHA-256 over a label and the key)
//	offset 5–28  nonce (24 random bytes)
//	offset 29–   ciphertext followed by the 16-byte Poly1305 tag
//
// The version byte and key ID, followed by the caller's associated data,
// are authenticated as the AEAD's additional data. Associated data binds a
// blob to the record that holds it (AccessKeyAD, ServerKeyAD): a blob moved
// to another record no longer opens.
//
// A Keyring is immutable and safe for concurrent use. Its String and
// LogValue methods print key IDs only.
package secrets

import (
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"golang.org/x/crypto/chacha20poly1305"
)

// KeySize is the size of a master key in bytes.
const KeySize = 32

const (
	version1   = 0x01
	keyIDSize  = 4
	headerSize = 1 + keyIDSize
	nonceSize  = chacha20poly1305.NonceSizeX
	tagSize    = chacha20poly1305.Overhead
	// Overhead is how many bytes Seal adds to a plaintext.
	Overhead = headerSize + nonceSize + tagSize

	keyIDLabel = "podid master key id v1\x00"
	sealInfo   = "podid secrets seal v1"
)

// Errors returned by Open and the parsers. They never carry key material,
// plaintext or ciphertext.
var (
	// ErrMalformed means a sealed blob is too short or of an unknown version.
	ErrMalformed = errors.New("secrets: malformed sealed data")
	// ErrUnknownKey means a blob was sealed by a key the keyring does not hold.
	ErrUnknownKey = errors.New("secrets: sealed by a master key not in the keyring")
	// ErrAuthentication means the blob was altered, or its associated data
	// does not match the record it was sealed for.
	ErrAuthentication = errors.New("secrets: message authentication failed")
	// ErrNoMasterKey means no master key was configured.
	ErrNoMasterKey = errors.New("secrets: no master key configured")
)

// masterKey is one key of a keyring.
type masterKey struct {
	id   [keyIDSize]byte
	raw  [KeySize]byte // kept for Marshal
	aead cipher.AEAD   // XChaCha20-Poly1305 under a key derived from raw
}

// Keyring is a set of master keys: the active one seals, all of them open.
type Keyring struct {
	keys []*masterKey // keys[0] is active
	byID map[[keyIDSize]byte]*masterKey
}

// GenerateKey returns a new random master key.
func GenerateKey() []byte {
	k := make([]byte, KeySize)
	rand.Read(k)
	return k
}

// New returns a keyring whose active key is active; older keys only open
// data they sealed. Every key must be KeySize bytes and appear once.
func New(active []byte, older ...[]byte) (*Keyring, error) {
	all := append([][]byte{active}, older...)
	k := &Keyring{byID: make(map[[keyIDSize]byte]*masterKey, len(all))}
	for i, raw := range all {
		mk, err := newMasterKey(raw)
		if err != nil {
			return nil, fmt.Errorf("secrets: key %d: %w", i+1, err)
		}
		if _, dup := k.byID[mk.id]; dup {
			return nil, fmt.Errorf("secrets: key %d: key %s appears twice", i+1, hex.EncodeToString(mk.id[:]))
		}
		k.byID[mk.id] = mk
		k.keys = append(k.keys, mk)
	}
	return k, nil
}

func newMasterKey(raw []byte) (*masterKey, error) {
	if len(raw) != KeySize {
		return nil, fmt.Errorf("master key is %d bytes, want %d", len(raw), KeySize)
	}
	mk := &masterKey{}
	copy(mk.raw[:], raw)
	sum := sha256.Sum256(append([]byte(keyIDLabel), raw...))
	copy(mk.id[:], sum[:keyIDSize])
	sub, err := hkdf.Key(sha256.New, raw, nil, sealInfo, chacha20poly1305.KeySize)
	if err != nil {
		return nil, fmt.Errorf("derive sealing key: %w", err)
	}
	mk.aead, err = chacha20poly1305.NewX(sub)
	if err != nil {
		return nil, fmt.Errorf("init cipher: %w", err)
	}
	return mk, nil
}

// ActiveKeyID returns the ID (8 hex digits) of the key that seals new data.
func (k *Keyring) ActiveKeyID() string {
	if k == nil || len(k.keys) == 0 {
		return ""
	}
	return hex.EncodeToString(k.keys[0].id[:])
}

// KeyIDs returns the IDs of all keys, the active one first.
func (k *Keyring) KeyIDs() []string {
	if k == nil {
		return nil
	}
	out := make([]string, len(k.keys))
	for i, mk := range k.keys {
		out[i] = hex.EncodeToString(mk.id[:])
	}
	return out
}

// Seal encrypts plaintext under the active key, binding it to
// associatedData, which Open must be given unchanged.
func (k *Keyring) Seal(plaintext, associatedData []byte) ([]byte, error) {
	if k == nil || len(k.keys) == 0 {
		return nil, ErrNoMasterKey
	}
	mk := k.keys[0]
	out := make([]byte, headerSize+nonceSize, Overhead+len(plaintext))
	out[0] = version1
	copy(out[1:headerSize], mk.id[:])
	rand.Read(out[headerSize:])
	ad := additionalData(out[:headerSize], associatedData)
	return mk.aead.Seal(out, out[headerSize:headerSize+nonceSize], plaintext, ad), nil
}

// Open decrypts a blob produced by Seal with any key of the keyring. It
// fails with ErrMalformed, ErrUnknownKey or ErrAuthentication (wrong
// associated data or tampering).
func (k *Keyring) Open(sealed, associatedData []byte) ([]byte, error) {
	if k == nil {
		return nil, ErrNoMasterKey
	}
	mk, err := k.keyFor(sealed)
	if err != nil {
		return nil, err
	}
	ad := additionalData(sealed[:headerSize], associatedData)
	nonce := sealed[headerSize : headerSize+nonceSize]
	pt, err := mk.aead.Open(nil, nonce, sealed[headerSize+nonceSize:], ad)
	if err != nil {
		return nil, ErrAuthentication
	}
	return pt, nil
}

// Reseal opens sealed and, when it was sealed by a key other than the
// active one, seals its plaintext again under the active key with the same
// associated data. changed reports whether out differs from sealed.
func (k *Keyring) Reseal(sealed, associatedData []byte) (out []byte, changed bool, err error) {
	pt, err := k.Open(sealed, associatedData)
	if err != nil {
		return nil, false, err
	}
	if [keyIDSize]byte(sealed[1:headerSize]) == k.keys[0].id {
		return sealed, false, nil
	}
	out, err = k.Seal(pt, associatedData)
	if err != nil {
		return nil, false, err
	}
	return out, true, nil
}

// SealedKeyID returns the ID of the master key that sealed a blob, without
// opening it.
func SealedKeyID(sealed []byte) (string, error) {
	if len(sealed) < Overhead || sealed[0] != version1 {
		return "", ErrMalformed
	}
	return hex.EncodeToString(sealed[1:headerSize]), nil
}

func (k *Keyring) keyFor(sealed []byte) (*masterKey, error) {
	if len(sealed) < Overhead || sealed[0] != version1 {
		return nil, ErrMalformed
	}
	id := [keyIDSize]byte(sealed[1:headerSize])
	mk, ok := k.byID[id]
	if !ok {
		return nil, fmt.Errorf("%w (key %s)", ErrUnknownKey, hex.EncodeToString(id[:]))
	}
	return mk, nil
}

// additionalData is the blob header followed by the caller's associated
// data. The header has a fixed length, so the concatenation is unambiguous.
func additionalData(header, associatedData []byte) []byte {
	ad := make([]byte, 0, len(header)+len(associatedData))
	return append(append(ad, header...), associatedData...)
}

// Rotate returns a keyring with a fresh random active key; the current keys,
// the active one included, stay to open older data.
func (k *Keyring) Rotate() (*Keyring, error) {
	if k == nil {
		return nil, ErrNoMasterKey
	}
	older := make([][]byte, len(k.keys))
	for i, mk := range k.keys {
		older[i] = mk.raw[:]
	}
	return New(GenerateKey(), older...)
}

// Retire returns a keyring without the older key keyID. Call it only after
// every blob sealed by that key has been re-sealed (Reseal): what it sealed
// can no longer be opened. The active key cannot be retired.
func (k *Keyring) Retire(keyID string) (*Keyring, error) {
	if k == nil {
		return nil, ErrNoMasterKey
	}
	if keyID == k.ActiveKeyID() {
		return nil, fmt.Errorf("secrets: key %s is active; rotate first", keyID)
	}
	var keep [][]byte
	found := false
	for _, mk := range k.keys {
		if hex.EncodeToString(mk.id[:]) == keyID {
			found = true
			continue
		}
		keep = append(keep, mk.raw[:])
	}
	if !found {
		return nil, fmt.Errorf("secrets: no key %q in the keyring", keyID)
	}
	return New(keep[0], keep[1:]...)
}

// String describes the keyring by key IDs only.
func (k *Keyring) String() string {
	if k == nil {
		return "secrets.Keyring(nil)"
	}
	return fmt.Sprintf("secrets.Keyring{active: %s, keys: %s}", k.ActiveKeyID(), strings.Join(k.KeyIDs(), ","))
}

// GoString is String, so that %#v does not print key material.
func (k *Keyring) GoString() string { return k.String() }

// LogValue implements slog.LogValuer with key IDs only.
func (k *Keyring) LogValue() slog.Value {
	return slog.GroupValue(slog.String("active", k.ActiveKeyID()), slog.Any("keys", k.KeyIDs()))
}

// AccessKeyAD is the associated data for sealing the secret of the access
// key accessKeyID (store.AccessKey.SealedSecret): the key ID itself, as the
// IAM service and the SigV4 resolver use it. It cannot collide with the
// other associated data podid uses, which all begin with "podid/".
func AccessKeyAD(accessKeyID string) []byte {
	return []byte(accessKeyID)
}

// ServerKeyAD is the associated data for sealing server key material
// (store.ServerKey.Sealed) of the given purpose and ID.
func ServerKeyAD(purpose, id string) []byte {
	b := make([]byte, 0, 20+len(purpose)+8+len(id))
	b = append(b, "podid/server-key/"...)
	// Length-prefix the purpose so that no (purpose, id) pair collides with another.
	b = binary.AppendUvarint(b, uint64(len(purpose)))
	b = append(b, purpose...)
	return append(b, id...)
}

// Marshal returns the keyring in the text format Parse reads: one base64
// key per line, the active key first, with comments naming key IDs. The
// output is secret.
func (k *Keyring) Marshal() []byte {
	if k == nil {
		return nil
	}
	var b strings.Builder
	b.WriteString("# podid master keyring. Secret: keep it readable by podid only (mode 0600).\n")
	b.WriteString("# The first key seals new data; the others only open data sealed before a rotation.\n")
	for i, mk := range k.keys {
		fmt.Fprintf(&b, "# key %s", hex.EncodeToString(mk.id[:]))
		if i == 0 {
			b.WriteString(" (active)")
		}
		b.WriteString("\n")
		b.WriteString(base64.StdEncoding.EncodeToString(mk.raw[:]))
		b.WriteString("\n")
	}
	return []byte(b.String())
}

// Parse reads a keyring from text: base64 (standard alphabet) 32-byte keys
// separated by newlines, commas or spaces, the active key first. Lines
// starting with '#' are comments. Errors never quote the input.
func Parse(text []byte) (*Keyring, error) {
	var raws [][]byte
	for lineNo, line := range strings.Split(string(text), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.FieldsFunc(line, func(r rune) bool {
			return r == ',' || r == ' ' || r == '\t' || r == '\r'
		})
		for _, f := range fields {
			raw, err := base64.StdEncoding.Strict().DecodeString(f)
			if err != nil {
				return nil, fmt.Errorf("secrets: line %d: master key is not valid base64", lineNo+1)
			}
			if len(raw) != KeySize {
				return nil, fmt.Errorf("secrets: line %d: master key decodes to %d bytes, want %d", lineNo+1, len(raw), KeySize)
			}
			raws = append(raws, raw)
		}
	}
	if len(raws) == 0 {
		return nil, ErrNoMasterKey
	}
	return New(raws[0], raws[1:]...)
}

// EncodeKey returns a master key in the base64 form Parse and
// PODID_MASTER_KEY accept.
func EncodeKey(key []byte) string { return base64.StdEncoding.EncodeToString(key) }
