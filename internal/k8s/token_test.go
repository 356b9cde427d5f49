package k8s

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

const testIssuer = "https://issuer.example/clusters/eks-workshop"

var testNow = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

type fixture struct {
	key  *rsa.PrivateKey
	kid  string
	keys *StaticKeys
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{key: k, kid: "key-1"}
	f.keys = &StaticKeys{Set: jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &k.PublicKey, KeyID: f.kid, Algorithm: "RS256", Use: "sig"}}}}
	return f
}

// podClaims returns the claims a kube-apiserver puts in a pod-bound token.
func podClaims() map[string]any {
	return map[string]any{
		"iss": testIssuer,
		"sub": "system:serviceaccount:carts:carts",
		"aud": []string{PodIdentityAudience},
		"exp": testNow.Add(time.Hour).Unix(),
		"iat": testNow.Add(-time.Minute).Unix(),
		"nbf": testNow.Add(-time.Minute).Unix(),
		"jti": "c1a3",
		"kubernetes.io": map[string]any{
			"namespace":      "carts",
			"pod":            map[string]any{"name": "carts-7c9d8b6d4-x2x8p", "uid": "0b5e4e0a-1111-2222-3333-444455556666"},
			"serviceaccount": map[string]any{"name": "carts", "uid": "4f1a0000-aaaa-bbbb-cccc-ddddeeeeffff"},
			"node":           map[string]any{"name": "node-1", "uid": "n-1"},
		},
	}
}

func sign(t testing.TB, key any, alg jose.SignatureAlgorithm, kid string, claims map[string]any) string {
	t.Helper()
	opts := (&jose.SignerOptions{}).WithType("JWT")
	if kid != "" {
		opts = opts.WithHeader("kid", kid)
	}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, opts)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := jwt.Signed(s).Claims(claims).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func b64(v any) string {
	b, _ := json.Marshal(v)
	return base64.RawURLEncoding.EncodeToString(b)
}

func TestVerifyAcceptsPodBoundToken(t *testing.T) {
	f := newFixture(t)
	tok := sign(t, f.key, jose.RS256, f.kid, podClaims())
	c, err := Verify(context.Background(), tok, f.keys, Expect{Issuer: testIssuer, Audience: PodIdentityAudience, Now: testNow, Leeway: DefaultLeeway})
	if err != nil {
		t.Fatal(err)
	}
	want := Claims{Namespace: "carts", ServiceAccountName: "carts", PodName: "carts-7c9d8b6d4-x2x8p", PodUID: "0b5e4e0a-1111-2222-3333-444455556666", NodeName: "node-1"}
	if c.Namespace != want.Namespace || c.ServiceAccountName != want.ServiceAccountName || c.PodName != want.PodName || c.PodUID != want.PodUID || c.NodeName != want.NodeName {
		t.Errorf("claims = %+v", c)
	}
}

func TestVerifyRefusals(t *testing.T) {
	f := newFixture(t)
	other := newFixture(t)
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	pubDER, _ := x509.MarshalPKIXPublicKey(&f.key.PublicKey)

	mutate := func(fn func(m map[string]any)) string {
		c := podClaims()
		fn(c)
		return sign(t, f.key, jose.RS256, f.kid, c)
	}
	k8sPart := func(m map[string]any) map[string]any { return m["kubernetes.io"].(map[string]any) }
	good := sign(t, f.key, jose.RS256, f.kid, podClaims())
	parts := strings.Split(good, ".")

	cases := []struct {
		name string
		tok  string
		want error
	}{
		{"empty", "", ErrInvalidToken},
		{"not a JWT", "hello", ErrInvalidToken},
		{"oversized", strings.Repeat("a", MaxTokenBytes+1), ErrInvalidToken},
		{"signed by another cluster's key", sign(t, other.key, jose.RS256, f.kid, podClaims()), ErrInvalidToken},
		{"unknown kid", sign(t, other.key, jose.RS256, "key-9", podClaims()), ErrInvalidToken},
		{"alg none", b64(map[string]string{"alg": "none", "kid": f.kid}) + "." + parts[1] + ".", ErrInvalidToken},
		{"alg HS256 keyed with the public key", sign(t, pubDER, jose.HS256, f.kid, podClaims()), ErrInvalidToken},
		{"ES256 key not in the set", sign(t, ecKey, jose.ES256, f.kid, podClaims()), ErrInvalidToken},
		{"tampered payload", parts[0] + "." + b64(mutate0(podClaims(), "sub", "system:serviceaccount:kube-system:admin")) + "." + parts[2], ErrInvalidToken},
		{"tampered signature", parts[0] + "." + parts[1] + "." + strings.Repeat("A", len(parts[2])), ErrInvalidToken},
		{"truncated", good[:len(good)-10], ErrInvalidToken},
		{"wrong issuer", mutate(func(m map[string]any) { m["iss"] = "https://evil.example" }), ErrInvalidToken},
		{"wrong audience", mutate(func(m map[string]any) { m["aud"] = []string{"sts.amazonaws.com"} }), ErrInvalidToken},
		{"no audience", mutate(func(m map[string]any) { delete(m, "aud") }), ErrInvalidToken},
		{"expired", mutate(func(m map[string]any) { m["exp"] = testNow.Add(-2 * time.Minute).Unix() }), ErrExpiredToken},
		{"not yet valid", mutate(func(m map[string]any) { m["nbf"] = testNow.Add(5 * time.Minute).Unix() }), ErrExpiredToken},
		{"issued in the future", mutate(func(m map[string]any) { m["iat"] = testNow.Add(5 * time.Minute).Unix() }), ErrExpiredToken},
		{"no exp", mutate(func(m map[string]any) { delete(m, "exp") }), ErrInvalidToken},
		{"no kubernetes.io", mutate(func(m map[string]any) { delete(m, "kubernetes.io") }), ErrInvalidToken},
		{"no pod claim", mutate(func(m map[string]any) { delete(k8sPart(m), "pod") }), ErrInvalidToken},
		{"no pod uid", mutate(func(m map[string]any) { k8sPart(m)["pod"] = map[string]any{"name": "p"} }), ErrInvalidToken},
		{"no namespace", mutate(func(m map[string]any) { delete(k8sPart(m), "namespace") }), ErrInvalidToken},
		{"no service account", mutate(func(m map[string]any) { delete(k8sPart(m), "serviceaccount") }), ErrInvalidToken},
		{"subject disagrees with claims", mutate(func(m map[string]any) { m["sub"] = "system:serviceaccount:other:carts" }), ErrInvalidToken},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Verify(context.Background(), tc.tok, f.keys, Expect{Issuer: testIssuer, Audience: PodIdentityAudience, Now: testNow, Leeway: DefaultLeeway})
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if err != nil && tc.tok != "" && len(tc.tok) > 20 && strings.Contains(err.Error(), tc.tok) {
				t.Fatal("error message contains the token")
			}
		})
	}
}

func mutate0(m map[string]any, k string, v any) map[string]any {
	m[k] = v
	return m
}

func TestLeewayAllowsSmallSkew(t *testing.T) {
	f := newFixture(t)
	c := podClaims()
	c["exp"] = testNow.Add(-30 * time.Second).Unix()
	tok := sign(t, f.key, jose.RS256, f.kid, c)
	if _, err := Verify(context.Background(), tok, f.keys, Expect{Issuer: testIssuer, Audience: PodIdentityAudience, Now: testNow, Leeway: DefaultLeeway}); err != nil {
		t.Fatalf("30s past exp within 60s leeway: %v", err)
	}
}

func TestRemoteKeysDiscoveryAndRotation(t *testing.T) {
	f := newFixture(t)
	rotated := newFixture(t)
	rotated.kid = "key-2"
	var current atomic.Pointer[fixture]
	current.Store(f)
	var fetches atomic.Int32
	mux := http.NewServeMux()
	var srv *httptest.Server
	mux.HandleFunc("/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(map[string]string{"issuer": srv.URL, "jwks_uri": srv.URL + "/openid/v1/jwks"})
	})
	mux.HandleFunc("/openid/v1/jwks", func(w http.ResponseWriter, r *http.Request) {
		fetches.Add(1)
		cur := current.Load()
		json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &cur.key.PublicKey, KeyID: cur.kid, Algorithm: "RS256", Use: "sig"}}})
	})
	srv = httptest.NewServer(mux)
	defer srv.Close()

	clock := testNow
	rk := NewRemoteKeys(srv.URL, srv.Client())
	rk.Now = func() time.Time { return clock }
	claims := podClaims()
	claims["iss"] = srv.URL
	want := Expect{Issuer: srv.URL, Audience: PodIdentityAudience, Now: testNow, Leeway: DefaultLeeway}

	if _, err := Verify(context.Background(), sign(t, f.key, jose.RS256, f.kid, claims), rk, want); err != nil {
		t.Fatal(err)
	}
	// The cluster rotates its key: an unknown kid triggers one refresh.
	current.Store(rotated)
	clock = clock.Add(time.Minute)
	if _, err := Verify(context.Background(), sign(t, rotated.key, jose.RS256, rotated.kid, claims), rk, want); err != nil {
		t.Fatalf("after rotation: %v", err)
	}
	n := fetches.Load()
	forger := newFixture(t)
	// A burst of tokens with forged kids within MinRefresh causes no fetch.
	for i := 0; i < 20; i++ {
		if _, err := Verify(context.Background(), sign(t, forger.key, jose.RS256, "forged", claims), rk, want); !errors.Is(err, ErrInvalidToken) {
			t.Fatalf("forged kid: %v", err)
		}
	}
	if got := fetches.Load(); got != n {
		t.Errorf("forged kids caused %d extra JWKS fetches, want 0", got-n)
	}
}

func TestLooksLikeJWT(t *testing.T) {
	for s, want := range map[string]bool{
		"a.b.c": true, "eyJ.eyJ.sig_-=": true, "a.b": false, "a..c": false, ".b.c": false, "a.b.": false,
		"a.b.c.d": false, "a b.c.d": false, "Bearer a.b.c": false, "": false,
	} {
		if got := LooksLikeJWT(s); got != want {
			t.Errorf("LooksLikeJWT(%q) = %v, want %v", s, got, want)
		}
	}
}

// looksLikeJWTReference is LooksLikeJWT as first written (a range test
// per byte), kept as FuzzLooksLikeJWT's reference for the table scan.
func looksLikeJWTReference(s string) bool {
	if len(s) == 0 || len(s) > MaxTokenBytes {
		return false
	}
	parts := 0
	segLen := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '.':
			if segLen == 0 {
				return false
			}
			parts++
			segLen = 0
		case 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '-', c == '_', c == '=':
			segLen++
		default:
			return false
		}
	}
	return parts == 2 && segLen > 0 && !strings.HasPrefix(s, ".")
}

// FuzzLooksLikeJWT: the table scan agrees with the reference on any input.
func FuzzLooksLikeJWT(f *testing.F) {
	f.Add("a.b.c")
	f.Add("eyJ.eyJ.sig_-=")
	f.Add(".b.c")
	f.Add("a.b.c\x00")
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := LooksLikeJWT(s), looksLikeJWTReference(s); got != want {
			t.Fatalf("LooksLikeJWT(%q) = %v, reference %v", s, got, want)
		}
	})
}

// BenchmarkLooksLikeJWT: the shape check of a 1.1 KB token, table scan
// against the reference.
func BenchmarkLooksLikeJWT(b *testing.B) {
	tok := strings.Repeat("eyJhbGciOiJSUzI1NiJ9", 20) + "." + strings.Repeat("eyJzdWIiOiJ4In0", 30) + "." + strings.Repeat("c2lnbmF0dXJl_-", 25)
	for _, bc := range []struct {
		name string
		fn   func(string) bool
	}{{"table", LooksLikeJWT}, {"reference", looksLikeJWTReference}} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				if !bc.fn(tok) {
					b.Fatal("not a JWT")
				}
			}
		})
	}
}

func FuzzVerify(f *testing.F) {
	fx := newFixture(f)
	f.Add(sign(f, fx.key, jose.RS256, fx.kid, podClaims()))
	f.Add("a.b.c")
	f.Add("eyJhbGciOiJub25lIn0.e30.")
	f.Fuzz(func(t *testing.T, tok string) {
		Verify(context.Background(), tok, fx.keys, Expect{Issuer: testIssuer, Audience: PodIdentityAudience, Now: testNow})
		_ = LooksLikeJWT(tok) // must not panic on any input
	})
}

// BenchmarkVerify is one RS256 pod-token verification with a static key
// set: signature, claims decoding and checks.
func BenchmarkVerify(b *testing.B) {
	f := newFixture(b)
	tok := sign(b, f.key, jose.RS256, f.kid, podClaims())
	want := Expect{Issuer: testIssuer, Audience: PodIdentityAudience, Now: testNow, Leeway: DefaultLeeway}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Verify(ctx, tok, f.keys, want); err != nil {
			b.Fatal(err)
		}
	}
}

// TestVerifyReadsClaimsExactly: the claims podid acts on are the token's
// only reading. A duplicated name is refused (readers that keep the first
// or the last would disagree), and names match exactly ("ISS" is not iss).
func TestVerifyReadsClaimsExactly(t *testing.T) {
	f := newFixture(t)
	signRaw := func(payload string) string {
		s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: f.key}, (&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", f.kid))
		if err != nil {
			t.Fatal(err)
		}
		jws, err := s.Sign([]byte(payload))
		if err != nil {
			t.Fatal(err)
		}
		tok, err := jws.CompactSerialize()
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	base, err := json.Marshal(podClaims())
	if err != nil {
		t.Fatal(err)
	}
	want := Expect{Issuer: testIssuer, Audience: PodIdentityAudience, Now: testNow, Leeway: DefaultLeeway}
	if _, err := Verify(context.Background(), signRaw(string(base)), f.keys, want); err != nil {
		t.Fatalf("well-formed claims: %v", err)
	}
	for name, payload := range map[string]string{
		"duplicate iss":  `{"iss":"https://evil.example",` + string(base[1:]),
		"upper-case ISS": strings.Replace(string(base), `"iss"`, `"ISS"`, 1),
		"not an object":  `["a"]`,
	} {
		_, err := Verify(context.Background(), signRaw(payload), f.keys, want)
		if !errors.Is(err, ErrInvalidToken) {
			t.Errorf("%s: %v, want ErrInvalidToken", name, err)
		}
	}
}
