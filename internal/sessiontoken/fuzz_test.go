package sessiontoken

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/podid/podid/internal/auth"
)

// katToken reads the token minted by an earlier build (testdata/token-v1.txt).
func katToken(t testing.TB) (m *Minter, akid, secret, token string) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "token-v1.txt"))
	if err != nil {
		t.Fatal(err)
	}
	f := map[string]string{}
	for _, line := range strings.Split(string(data), "\n") {
		if name, value, ok := strings.Cut(line, ": "); ok {
			f[name] = value
		}
	}
	raw, err := hex.DecodeString(f["key"])
	if err != nil {
		t.Fatal(err)
	}
	k, err := UnmarshalKey(f["key-id"], append([]byte{keyVersion1}, raw...))
	if err != nil {
		t.Fatal(err)
	}
	m, err = NewMinter(k)
	if err != nil {
		t.Fatal(err)
	}
	return m, f["access-key-id"], f["secret-access-key"], f["token"]
}

// TestFormatV1 pins the token format and the key derivations: a token
// minted by an earlier build opens to the same session and secret.
func TestFormatV1(t *testing.T) {
	m, akid, secret, token := katToken(t)
	s, gotSecret, err := m.Open(akid, token, t0)
	if err != nil {
		t.Fatal(err)
	}
	if gotSecret != secret {
		t.Fatalf("secret %q, want %q", gotSecret, secret)
	}
	assertSameSession(t, s, podIdentitySession())
}

// FuzzOpen feeds arbitrary access key IDs, tokens and times to Open. It must
// never panic, must refuse with AWS's codes, and may accept only the
// testdata token with its own access key ID.
func FuzzOpen(f *testing.F) {
	m, akid, secret, token := katToken(f)
	env, _ := base64.StdEncoding.DecodeString(token)
	f.Add(akid, token, t0.Unix())
	f.Add(akid, token, t0.Add(7*time.Hour).Unix())
	f.Add(akid, token[:len(token)-4], t0.Unix())
	f.Add("ASIAAAAAAAAAAAAAAAAA", token, t0.Unix())
	f.Add(akid, base64.StdEncoding.EncodeToString(env[:envelopeMin]), t0.Unix())
	f.Add(akid, base64.StdEncoding.EncodeToString(append([]byte{1, 0, 0, 0, 1}, make([]byte, 60)...)), t0.Unix())
	f.Add("", "", int64(0))
	f.Add(akid, "AAAA\n====", int64(-1))
	f.Fuzz(func(t *testing.T, a, tok string, unix int64) {
		s, sec, err := m.Open(a, tok, time.Unix(unix, 0))
		if err != nil {
			if s != nil || sec != "" {
				t.Fatal("session or secret returned with an error")
			}
			code := err.Error()
			if !strings.HasPrefix(code, "InvalidClientTokenId: ") && !strings.HasPrefix(code, "ExpiredToken: ") {
				t.Fatalf("unexpected refusal %v", err)
			}
			if strings.HasPrefix(code, "ExpiredToken: ") && (a != akid || tok != token) {
				t.Fatalf("expired reported for a token that is not authentic")
			}
			return
		}
		if a != akid || tok != token || sec != secret {
			t.Fatalf("Open accepted a token it did not mint")
		}
	})
}

// FuzzDecodeSession drives the session codec directly (the AEAD keeps
// random bytes from reaching it through Open). Whatever decodes must
// re-encode to something that decodes to the same session.
func FuzzDecodeSession(f *testing.F) {
	f.Add(appendSession(nil, podIdentitySession()))
	f.Add(appendSession(nil, richSession()))
	f.Add([]byte{fExpires, 2, 0, 0})
	f.Add([]byte{fExpires, 0})
	f.Add([]byte{fTags, 3, 1, 'a', 5})
	f.Add([]byte{0x81, 0})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, p []byte) {
		s, err := decodeSession(p)
		if err != nil {
			return
		}
		again := appendSession(nil, s)
		s2, err := decodeSession(again)
		if err != nil {
			t.Fatalf("re-encoded session does not decode: %v", err)
		}
		assertSameSession(t, s2, s)
		if len(again) > len(p)+16 {
			t.Fatalf("re-encoding grew from %d to %d bytes", len(p), len(again))
		}
	})
}

// richSession sets every field of auth.Session.
func richSession() *auth.Session {
	s := podIdentitySession()
	s.UserName = "alice"
	s.Policies = []string{`{"Version":"2012-10-17"}`, ""}
	s.SourceIdentity = "alice@example.com"
	s.Chained = true
	s.Issued = time.Unix(-1, 5)
	return s
}

func TestCodecRejects(t *testing.T) {
	good := appendSession(nil, podIdentitySession())
	tests := []struct {
		name string
		p    []byte
	}{
		{"empty (no expiry)", nil},
		{"no expiry", []byte{fRoleName, 1, 'r'}},
		{"truncated", good[:len(good)-1]},
		{"length past end", []byte{fRoleName, 5, 'r'}},
		{"overlong varint", append([]byte{fRoleName}, bytes.Repeat([]byte{0xff}, 11)...)},
		{"duplicate field", append(bytes.Clone(good), fRoleName, 1, 'x')},
		{"unknown critical", append(bytes.Clone(good), 0x90, 0)},
		{"odd tag list", []byte{fExpires, 2, 2, 0, fTags, 2, 1, 'k'}},
		{"duplicate tag key", []byte{fExpires, 2, 2, 0, fTags, 6, 1, 'k', 0, 1, 'k', 0}},
		{"nanoseconds out of range", append([]byte{fExpires, 6, 2}, binary.AppendUvarint(nil, 1e9)...)},
		{"time with extra byte", []byte{fExpires, 3, 2, 0, 0}},
		{"chained with a value", []byte{fExpires, 2, 2, 0, fChained, 1, 1}},
		{"list element past end", []byte{fExpires, 2, 2, 0, fPolicies, 2, 5, 'x'}},
	}
	for _, tt := range tests {
		if s, err := decodeSession(tt.p); err == nil {
			t.Errorf("%s: decoded %+v", tt.name, s)
		}
	}
}
