package sessiontoken

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// Purpose is the store.ServerKey purpose of session-token keys.
const Purpose = "session-token"

// KeySize is the size of a session-token key's secret in bytes.
const KeySize = 32

const (
	keyIDPrefix = "st-"
	keyIDSize   = 4 // bytes of key ID carried in every token
	keyVersion1 = 0x01
)

// Key is one session-token key: 32 random bytes and an ID that tokens
// carry. Its String method prints the ID only.
type Key struct {
	// ID is "st-" followed by 8 lowercase hex digits. It is also the
	// store.ServerKey ID, so it is unique among all server keys.
	ID     string
	secret [KeySize]byte
}

// NewKey returns a new random key.
func NewKey() (Key, error) {
	var id [keyIDSize]byte
	var k Key
	rand.Read(id[:])
	rand.Read(k.secret[:])
	k.ID = keyIDPrefix + hex.EncodeToString(id[:])
	return k, nil
}

// MarshalKey encodes a key's secret for storage (a version byte and the 32
// bytes). The output is secret: seal it with secrets.Keyring before it
// reaches the store. The ID is stored beside it (store.ServerKey.ID).
func MarshalKey(k Key) ([]byte, error) {
	if _, err := parseKeyID(k.ID); err != nil {
		return nil, err
	}
	out := make([]byte, 1+KeySize)
	out[0] = keyVersion1
	copy(out[1:], k.secret[:])
	return out, nil
}

// UnmarshalKey decodes what MarshalKey produced for the key named id.
func UnmarshalKey(id string, data []byte) (Key, error) {
	if _, err := parseKeyID(id); err != nil {
		return Key{}, err
	}
	if len(data) != 1+KeySize || data[0] != keyVersion1 {
		return Key{}, fmt.Errorf("sessiontoken: key %s: stored key has an unknown format", id)
	}
	k := Key{ID: id}
	copy(k.secret[:], data[1:])
	return k, nil
}

// String names the key without its secret.
func (k Key) String() string { return "sessiontoken.Key{ID: " + k.ID + "}" }

// GoString is String, so that %#v does not print the secret.
func (k Key) GoString() string { return k.String() }

// parseKeyID turns "st-0a1b2c3d" into the 4 bytes tokens carry.
func parseKeyID(id string) ([keyIDSize]byte, error) {
	var out [keyIDSize]byte
	h, ok := strings.CutPrefix(id, keyIDPrefix)
	if !ok || len(h) != 2*keyIDSize || strings.ToLower(h) != h {
		return out, fmt.Errorf("sessiontoken: key ID %q is not st- and 8 lowercase hex digits", id)
	}
	if _, err := hex.Decode(out[:], []byte(h)); err != nil {
		return out, errors.New("sessiontoken: key ID " + id + " is not hex")
	}
	return out, nil
}
