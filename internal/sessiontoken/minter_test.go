package sessiontoken

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/podid/podid/internal/auth"
	"github.com/podid/podid/internal/awsproto"
	"github.com/podid/podid/internal/ids"
)

var t0 = time.Date(2024, 1, 9, 16, 16, 38, 0, time.UTC)

// testKey returns a key with a fixed ID and secret.
func testKey(t testing.TB, id string, fill byte) Key {
	t.Helper()
	k, err := UnmarshalKey(id, append([]byte{keyVersion1}, bytes.Repeat([]byte{fill}, KeySize)...))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func testMinter(t testing.TB, keys ...Key) *Minter {
	t.Helper()
	if len(keys) == 0 {
		keys = []Key{testKey(t, "st-00000001", 1)}
	}
	m, err := NewMinter(keys[0], keys[1:]...)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// podIdentitySession is what EKS Auth's first hop carries: six session
// tags, all transitive.
func podIdentitySession() *auth.Session {
	tags := map[string]string{
		"eks-cluster-arn":            "arn:aws:eks:us-west-2:123456789000:cluster/eks-workshop",
		"eks-cluster-name":           "eks-workshop",
		"kubernetes-namespace":       "carts",
		"kubernetes-service-account": "carts",
		"kubernetes-pod-name":        "carts-7c9d8b6f5-x2x7z",
		"kubernetes-pod-uid":         "0b6c2f0e-5d0b-4c3c-9b8e-2c6a1e0f4d3a",
	}
	return &auth.Session{
		RoleARN:           "arn:aws:iam::123456789000:role/eks-workshop-carts-dynamo",
		RoleID:            "AROAXYZP66II6MSBPLOUU",
		RoleName:          "eks-workshop-carts-dynamo",
		Type:              auth.AssumedRole,
		SessionName:       "eks-eks-worksh-carts-7c9d-5af5e7ac-5754-49ea-b28f-2c2a2eb95fbb",
		Tags:              tags,
		TransitiveTagKeys: []string{"eks-cluster-arn", "eks-cluster-name", "kubernetes-namespace", "kubernetes-service-account", "kubernetes-pod-name", "kubernetes-pod-uid"},
		Issued:            t0,
		Expires:           t0.Add(6 * time.Hour),
		SourceARN:         "arn:aws:iam::123456789000:role/podid-eks-auth",
	}
}

func TestMintOpenRoundTrip(t *testing.T) {
	m := testMinter(t)
	tests := []struct {
		name string
		s    *auth.Session
	}{
		{"pod identity", podIdentitySession()},
		{"expiry only", &auth.Session{Expires: t0.Add(time.Hour)}},
		{"user session", &auth.Session{Type: auth.User, UserName: "alice", Issued: t0, Expires: t0.Add(12 * time.Hour)}},
		{"root session", &auth.Session{Type: auth.Root, Issued: t0, Expires: t0.Add(time.Hour)}},
		{"root session of a further account", &auth.Session{Account: "210987654321", Type: auth.Root, Issued: t0, Expires: t0.Add(time.Hour)}},
		{"chained with policies", &auth.Session{
			RoleARN: "arn:aws:iam::123456789000:role/target", RoleID: "AROAAAAAAAAAAAAAAAAAA", RoleName: "target",
			Type: auth.AssumedRole, SessionName: "s", Chained: true,
			Policies:       []string{`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}`, ""},
			SourceIdentity: "alice@example.com", Tags: map[string]string{"": "empty key", "k": ""},
			Issued: t0, Expires: t0.Add(59 * time.Minute), SourceARN: "arn:aws:sts::123456789000:assumed-role/first/s"}},
		{"nanoseconds and pre-1970", &auth.Session{Issued: time.Unix(-5, 999_999_999).UTC(), Expires: t0.Add(123456789 * time.Nanosecond)}},
		{"unicode", &auth.Session{SessionName: "s\u00e9ance-\U0001f600", Tags: map[string]string{"t\u00e4g": "w\u00e9rt"}, Expires: t0.Add(time.Hour)}},
		{"large policy", &auth.Session{Policies: []string{strings.Repeat("x", 60_000)}, Expires: t0.Add(time.Hour)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			akid, secret, token, err := m.Mint(tt.s)
			if err != nil {
				t.Fatal(err)
			}
			if !ids.IsSessionAccessKeyID(akid) || !strings.HasPrefix(akid, "ASIA") {
				t.Errorf("access key ID %q is not ASIA + 16", akid)
			}
			if strings.Trim(akid[4:], "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567") != "" {
				t.Errorf("access key ID %q is not base32", akid)
			}
			if !ids.IsSecretAccessKey(secret) {
				t.Errorf("secret %q is not 40 base64 characters", secret)
			}
			if _, err := base64.StdEncoding.Strict().DecodeString(token); err != nil {
				t.Errorf("token is not standard base64: %v", err)
			}
			got, gotSecret, err := m.Open(akid, token, t0)
			if err != nil {
				t.Fatal(err)
			}
			if gotSecret != secret {
				t.Errorf("Open derived a different secret")
			}
			assertSameSession(t, got, tt.s)
		})
	}
}

// assertSameSession compares sessions, treating empty and nil collections
// alike and times by instant.
func assertSameSession(t *testing.T, got, want *auth.Session) {
	t.Helper()
	norm := func(s *auth.Session) auth.Session {
		c := *s
		if len(c.Tags) == 0 {
			c.Tags = nil
		}
		if len(c.TransitiveTagKeys) == 0 {
			c.TransitiveTagKeys = nil
		}
		if len(c.Policies) == 0 {
			c.Policies = nil
		}
		c.Issued, c.Expires = c.Issued.UTC(), c.Expires.UTC()
		return c
	}
	if g, w := norm(got), norm(want); !reflect.DeepEqual(g, w) {
		t.Fatalf("session differs:\n got %+v\nwant %+v", g, w)
	}
}

func TestTokenSize(t *testing.T) {
	_, _, token, err := testMinter(t).Mint(podIdentitySession())
	if err != nil {
		t.Fatal(err)
	}
	// The pod identity session encodes to 634 bytes; with the 45-byte
	// envelope that is 679 bytes, 908 base64 characters.
	if len(token) != 908 {
		t.Errorf("pod identity token is %d characters, want 908", len(token))
	}
	if len(token) > 2048 {
		t.Errorf("pod identity token is %d characters, over the 2 KB budget", len(token))
	}
}

func TestMintRefuses(t *testing.T) {
	m := testMinter(t)
	tests := []struct {
		name string
		s    *auth.Session
	}{
		{"nil", nil},
		{"no expiry", &auth.Session{Type: auth.Root}},
		{"too large", &auth.Session{Policies: []string{strings.Repeat("x", MaxTokenLen)}, Expires: t0}},
	}
	for _, tt := range tests {
		if _, _, _, err := m.Mint(tt.s); err == nil {
			t.Errorf("%s: Mint succeeded", tt.name)
		}
	}
	_, _, _, err := m.Mint(tests[2].s)
	if !errors.Is(err, ErrSessionTooLarge) {
		t.Errorf("too large: err = %v, want ErrSessionTooLarge", err)
	}
}

func TestMintIsUnique(t *testing.T) {
	m := testMinter(t)
	seen := map[string]bool{}
	for range 100 {
		akid, secret, token, err := m.Mint(podIdentitySession())
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range []string{akid, secret, token} {
			if seen[v] {
				t.Fatalf("value repeated across mints")
			}
			seen[v] = true
		}
	}
}

// wantAWSError checks a refusal's exact wire fields and cause, and that it
// leaks neither the token nor the secret.
func wantAWSError(t *testing.T, err error, code, message string, cause error, secrets ...string) {
	t.Helper()
	var ae *awsproto.Error
	if !errors.As(err, &ae) {
		t.Fatalf("err = %v (%T), want *awsproto.Error", err, err)
	}
	if ae.Code != code || ae.Message != message || ae.Status != 403 || !ae.Sender {
		t.Fatalf("got %s %d %q sender=%v, want %s 403 %q sender", ae.Code, ae.Status, ae.Message, ae.Sender, code, message)
	}
	if cause != nil && !errors.Is(err, cause) {
		t.Fatalf("cause = %v, want %v", ae.Cause, cause)
	}
	for _, s := range secrets {
		if s != "" && strings.Contains(err.Error(), s) {
			t.Fatalf("error text leaks a secret: %v", err)
		}
	}
}

const (
	codeInvalid = "InvalidClientTokenId"
	msgInvalid  = "The security token included in the request is invalid."
	codeExpired = "ExpiredToken"
	msgExpired  = "The security token included in the request is expired"
)

func TestOpenRefuses(t *testing.T) {
	m := testMinter(t)
	akid, secret, token, err := m.Mint(podIdentitySession())
	if err != nil {
		t.Fatal(err)
	}
	akid2, _, token2, _ := m.Mint(podIdentitySession())
	otherKey := testMinter(t, testKey(t, "st-00000002", 2))
	_, _, foreign, _ := otherKey.Mint(podIdentitySession())
	sameIDOtherSecret := testMinter(t, testKey(t, "st-00000001", 3))
	env, _ := base64.StdEncoding.DecodeString(token)
	reencode := func(mut func([]byte) []byte) string {
		return base64.StdEncoding.EncodeToString(mut(bytes.Clone(env)))
	}
	// Set a padding bit of the last data character: the same bytes under
	// a lax decoder, refused by the strict one.
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	last := strings.IndexByte(token, '=') - 1
	if last < 0 {
		t.Fatal("test session must give a padded token")
	}
	nonCanonical := token[:last] + string(alphabet[strings.IndexByte(alphabet, token[last])^1]) + token[last+1:]
	if lax, err := base64.StdEncoding.DecodeString(nonCanonical); err != nil || !bytes.Equal(lax, env) {
		t.Fatal("non-canonical variant does not decode to the same bytes")
	}

	tests := []struct {
		name  string
		m     *Minter
		akid  string
		token string
		now   time.Time
		code  string
		cause error
	}{
		{"other token's access key", m, akid2, token, t0, codeInvalid, ErrAccessKeyMismatch},
		{"access key of other token swapped", m, akid, token2, t0, codeInvalid, ErrAccessKeyMismatch},
		{"long-term prefix", m, "AKIA" + akid[4:], token, t0, codeInvalid, ErrAccessKeyMismatch},
		{"lowercase access key", m, strings.ToLower(akid), token, t0, codeInvalid, ErrAccessKeyMismatch},
		{"empty access key", m, "", token, t0, codeInvalid, ErrAccessKeyMismatch},
		{"unknown key ID", m, akid, foreign, t0, codeInvalid, ErrUnknownKey},
		{"same key ID, other secret", sameIDOtherSecret, akid, token, t0, codeInvalid, ErrAccessKeyMismatch},
		{"empty token", m, akid, "", t0, codeInvalid, ErrMalformed},
		{"not base64", m, akid, strings.Repeat("!", 100), t0, codeInvalid, ErrMalformed},
		{"url-safe alphabet", m, akid, strings.NewReplacer("+", "-", "/", "_").Replace(token) + "-_", t0, codeInvalid, ErrMalformed},
		{"unpadded", m, akid, strings.TrimRight(token, "=") + "A", t0, codeInvalid, ErrMalformed},
		{"non-canonical base64", m, akid, nonCanonical, t0, codeInvalid, ErrMalformed},
		{"trailing newline", m, akid, token + "\n", t0, codeInvalid, ErrMalformed},
		{"embedded CRLF", m, akid, token[:76] + "\r\n" + token[76:], t0, codeInvalid, ErrMalformed},
		{"too long", m, akid, strings.Repeat("A", MaxTokenLen+4), t0, codeInvalid, ErrMalformed},
		{"envelope too short", m, akid, reencode(func(b []byte) []byte { return b[:envelopeMin-1] }), t0, codeInvalid, ErrMalformed},
		{"bad version", m, akid, reencode(func(b []byte) []byte { b[0] = 2; return b }), t0, codeInvalid, ErrMalformed},
		{"truncated tag", m, akid, reencode(func(b []byte) []byte { return b[:len(b)-1] }), t0, codeInvalid, ErrAccessKeyMismatch},
		{"appended byte", m, akid, reencode(func(b []byte) []byte { return append(b, 0) }), t0, codeInvalid, ErrAccessKeyMismatch},
		{"expired at the instant", m, akid, token, t0.Add(6 * time.Hour), codeExpired, ErrExpired},
		{"expired later", m, akid, token, t0.Add(7 * time.Hour), codeExpired, ErrExpired},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, sec, err := tt.m.Open(tt.akid, tt.token, tt.now)
			if s != nil || sec != "" {
				t.Fatal("Open returned a session or secret with an error")
			}
			msg := msgInvalid
			if tt.code == codeExpired {
				msg = msgExpired
			}
			wantAWSError(t, err, tt.code, msg, tt.cause, token, secret)
		})
	}
	if _, _, err := m.Open(akid, token, t0.Add(6*time.Hour-time.Nanosecond)); err != nil {
		t.Fatalf("token refused just before expiry: %v", err)
	}
}

// TestOpenRefusesEveryAlteration flips each bit of the envelope and cuts it
// at every length: nothing but the original opens, and nothing reports
// "expired" for a token that is not authentic.
func TestOpenRefusesEveryAlteration(t *testing.T) {
	m := testMinter(t)
	akid, _, token, err := m.Mint(podIdentitySession())
	if err != nil {
		t.Fatal(err)
	}
	env, _ := base64.StdEncoding.DecodeString(token)
	late := t0.Add(24 * time.Hour) // would be expired if it were authentic
	for i := range env {
		for bit := range 8 {
			b := bytes.Clone(env)
			b[i] ^= 1 << bit
			_, _, err := m.Open(akid, base64.StdEncoding.EncodeToString(b), late)
			wantAWSError(t, err, codeInvalid, msgInvalid, nil)
		}
	}
	for n := range len(env) {
		_, _, err := m.Open(akid, base64.StdEncoding.EncodeToString(env[:n]), t0)
		wantAWSError(t, err, codeInvalid, msgInvalid, nil)
	}
}

// TestOpenRefusesAlteredPayload checks that the AEAD, not only the access
// key binding, rejects an altered ciphertext: the change leaves the
// header, nonce and tag alone, so the access key ID still matches.
func TestOpenRefusesAlteredPayload(t *testing.T) {
	m := testMinter(t)
	_, _, token, _ := m.Mint(podIdentitySession())
	env, _ := base64.StdEncoding.DecodeString(token)
	env[headerSize+nonceSize+3] ^= 0x20
	akid, _ := m.active.credentials(env)
	_, _, err := m.Open(string(akid[:]), base64.StdEncoding.EncodeToString(env), t0)
	wantAWSError(t, err, codeInvalid, msgInvalid, ErrAuthentication)
}

func TestUnknownCriticalField(t *testing.T) {
	m := testMinter(t)
	// Seal a payload carrying a critical field from the future, and one
	// carrying a skippable one.
	for _, tc := range []struct {
		field  []byte
		opens  bool
		reason string
	}{
		{[]byte{0x81, 1, 'x'}, false, "critical"},
		// The account: critical, known; given twice it is refused.
		{append([]byte{fAccount, 12}, "210987654321"...), true, "account once"},
		{append(append([]byte{fAccount, 12}, "210987654321"...), append([]byte{fAccount, 12}, "210987654321"...)...), false, "account twice"},
		{[]byte{0x41, 1, 'x'}, true, "skippable"},
	} {
		payload := appendSession(nil, podIdentitySession())
		payload = append(payload, tc.field...)
		token, akid := sealRaw(m, payload)
		_, _, err := m.Open(akid, token, t0)
		if (err == nil) != tc.opens {
			t.Errorf("%s unknown field: err = %v, want opens=%v", tc.reason, err, tc.opens)
		}
		if err != nil {
			wantAWSError(t, err, codeInvalid, msgInvalid, ErrMalformed)
		}
	}
}

// sealRaw builds a token around an arbitrary payload with m's active key.
func sealRaw(m *Minter, payload []byte) (token, akid string) {
	k := m.active
	env := make([]byte, headerSize+nonceSize)
	env[0] = tokenVersion1
	copy(env[1:], k.id[:])
	env = k.aead.Seal(env, env[headerSize:], payload, env[:headerSize])
	a, _ := k.credentials(env)
	return base64.StdEncoding.EncodeToString(env), string(a[:])
}

func TestRotationKeepsOldTokens(t *testing.T) {
	k1 := testKey(t, "st-00000001", 1)
	k2 := testKey(t, "st-00000002", 2)
	m1 := testMinter(t, k1)
	akid, secret, token, _ := m1.Mint(podIdentitySession())

	m2 := testMinter(t, k2, k1)
	if m2.ActiveKeyID() != "st-00000002" {
		t.Fatalf("active %s", m2.ActiveKeyID())
	}
	const want = "sessiontoken.Minter{active: st-00000002, keys: st-00000001,st-00000002}"
	for _, got := range []string{fmt.Sprint(m2), fmt.Sprintf("%+v", m2), fmt.Sprintf("%#v", m2)} {
		if got != want {
			t.Errorf("formatted Minter = %q, want %q", got, want)
		}
	}
	if _, sec, err := m2.Open(akid, token, t0); err != nil || sec != secret {
		t.Fatalf("rotated minter refuses an old token: %v", err)
	}
	akid2, _, token2, _ := m2.Mint(podIdentitySession())
	env, _ := base64.StdEncoding.DecodeString(token2)
	if !bytes.Equal(env[1:headerSize], []byte{0, 0, 0, 2}) {
		t.Fatalf("new token sealed with key %x", env[1:headerSize])
	}
	_, _, err := m1.Open(akid2, token2, t0)
	wantAWSError(t, err, codeInvalid, msgInvalid, ErrUnknownKey)
}

func TestKeys(t *testing.T) {
	k, err := NewKey()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := parseKeyID(k.ID); err != nil {
		t.Fatalf("NewKey ID %q: %v", k.ID, err)
	}
	raw, err := MarshalKey(k)
	if err != nil {
		t.Fatal(err)
	}
	back, err := UnmarshalKey(k.ID, raw)
	if err != nil || back != k {
		t.Fatalf("round trip: %v", err)
	}
	for _, out := range []string{fmt.Sprint(k), fmt.Sprintf("%+v", k), fmt.Sprintf("%#v", k), fmt.Sprint([]Key{k})} {
		if !strings.Contains(out, "sessiontoken.Key{ID: "+k.ID+"}") || strings.Contains(out, "secret") {
			t.Errorf("formatted key %q: want the ID only", out)
		}
	}
	for _, id := range []string{"", "st-", "st-0000000", "st-000000001", "st-0000000G", "st-ABCDEF01", "xx-00000001", "00000001"} {
		if _, err := UnmarshalKey(id, raw); err == nil {
			t.Errorf("UnmarshalKey accepted ID %q", id)
		}
		if _, err := NewMinter(Key{ID: id}); err == nil {
			t.Errorf("NewMinter accepted ID %q", id)
		}
	}
	for _, data := range [][]byte{nil, raw[:KeySize], append([]byte{2}, raw[1:]...), append(raw, 0)} {
		if _, err := UnmarshalKey(k.ID, data); err == nil {
			t.Errorf("UnmarshalKey accepted %d bytes starting %x", len(data), data[:min(1, len(data))])
		}
	}
	if _, err := NewMinter(k, k); err == nil {
		t.Error("NewMinter accepted a duplicate key")
	}
}
