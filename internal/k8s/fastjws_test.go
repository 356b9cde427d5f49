package k8s

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/go-jose/go-jose/v4"

	"github.com/podid/podid/internal/cputime"
)

// rawSign builds a compact token from a header and a payload as given,
// signed RS256 with key (the signature is flipped when tamper is set).
func rawSign(t testing.TB, key *rsa.PrivateKey, header, payload string, tamper bool) string {
	t.Helper()
	in := base64.RawURLEncoding.EncodeToString([]byte(header)) + "." + base64.RawURLEncoding.EncodeToString([]byte(payload))
	sum := sha256.Sum256([]byte(in))
	sig, err := rsa.SignPKCS1v15(nil, key, crypto.SHA256, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	if tamper {
		sig[len(sig)/2] ^= 1
	}
	return in + "." + base64.RawURLEncoding.EncodeToString(sig)
}

// podPayload is podClaims as JSON, in the order a kube-apiserver writes.
func podPayload() string {
	return `{"aud":["pods.eks.amazonaws.com"],"exp":` + itoa(testNow.Add(60*60e9).Unix()) + `,"iat":` + itoa(testNow.Add(-60e9).Unix()) +
		`,"iss":"` + testIssuer + `","jti":"c1a3","kubernetes.io":{"namespace":"carts","node":{"name":"node-1","uid":"n-1"},` +
		`"pod":{"name":"carts-7c9d8b6d4-x2x8p","uid":"0b5e4e0a-1111-2222-3333-444455556666"},` +
		`"serviceaccount":{"name":"carts","uid":"4f1a0000-aaaa-bbbb-cccc-ddddeeeeffff"},"warnafter":1764072000},` +
		`"nbf":` + itoa(testNow.Add(-60e9).Unix()) + `,"sub":"system:serviceaccount:carts:carts"}`
}

func itoa(n int64) string { b, _ := json.Marshal(n); return string(b) }

// fastFixture is the fixture's key set with an EC key under the same key
// ID too, so the fast path meets a key it hands to go-jose.
func fastFixture(t testing.TB) (*fixture, *StaticKeys) {
	f := newFixture(t)
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	both := &StaticKeys{Set: jose.JSONWebKeySet{Keys: []jose.JSONWebKey{
		{Key: &ec.PublicKey, KeyID: f.kid, Use: "sig"},
		{Key: &f.key.PublicKey, KeyID: f.kid, Use: "sig"},
	}}}
	return f, both
}

// sameVerdict checks that the fast path and the go-jose path agree on
// raw: the same claims, or the same error.
func sameVerdict(t *testing.T, raw string, keys KeySource) {
	t.Helper()
	want := Expect{Issuer: testIssuer, Audience: PodIdentityAudience, Now: testNow, Leeway: DefaultLeeway}
	fc, ferr := verify(context.Background(), raw, keys, want, true)
	jc, jerr := verify(context.Background(), raw, keys, want, false)
	if (ferr == nil) != (jerr == nil) || (ferr != nil && ferr.Error() != jerr.Error()) {
		t.Fatalf("token %q: fast path %v, go-jose path %v", raw, ferr, jerr)
	}
	if !reflect.DeepEqual(fc, jc) {
		t.Fatalf("token %q: fast path read %+v, go-jose path %+v", raw, fc, jc)
	}
}

// TestFastPathTaken: a kube-apiserver's token is read by the fast path
// (else the benchmarks measure the fallback), and verifies.
func TestFastPathTaken(t *testing.T) {
	f := newFixture(t)
	for name, header := range map[string]string{
		"kube-apiserver": `{"alg":"RS256","kid":"key-1"}`,
		"go-jose signer": `{"alg":"RS256","kid":"key-1","typ":"JWT"}`,
	} {
		tok := rawSign(t, f.key, header, podPayload(), false)
		ft, ok := parseFastJWS(tok)
		if !ok {
			t.Fatalf("%s: parseFastJWS declined", name)
		}
		if _, ok := fastClaims(ft.payload); !ok {
			t.Fatalf("%s: fastClaims declined", name)
		}
		c, err := Verify(context.Background(), tok, f.keys, Expect{Issuer: testIssuer, Audience: PodIdentityAudience, Now: testNow})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if c.PodName != "carts-7c9d8b6d4-x2x8p" || c.NodeName != "node-1" || c.ServiceAccountUID != "4f1a0000-aaaa-bbbb-cccc-ddddeeeeffff" {
			t.Fatalf("%s: claims %+v", name, c)
		}
	}
	if _, ok := parseFastJWS(sign(t, f.key, jose.RS256, f.kid, podClaims())); !ok {
		t.Fatal("a go-jose-signed token was declined")
	}
}

// fastCases are headers and payloads where a careless reader would differ
// from go-jose or json/v2. testdata/fuzz holds none of them: they are the
// seeds of FuzzFastVerify and run as TestFastVerifyAgrees's table.
func fastCases() []struct{ name, header, payload string } {
	p := podPayload()
	h := `{"alg":"RS256","kid":"key-1"}`
	return []struct{ name, header, payload string }{
		{"kubelet token", h, p},
		{"no kid", `{"alg":"RS256"}`, p},
		{"unknown kid", `{"alg":"RS256","kid":"key-2"}`, p},
		{"whitespace", " {\n\"alg\" : \"RS256\",\t\"kid\":\"key-1\" } ", " " + p + "\n"},
		{"duplicate alg", `{"alg":"none","alg":"RS256","kid":"key-1"}`, p},
		{"duplicate kid", `{"alg":"RS256","kid":"x","kid":"key-1"}`, p},
		{"case-folded ALG", `{"ALG":"RS256","alg":"RS256","kid":"key-1"}`, p},
		{"escaped alg", `{"alg":"RS\u0032\u0035\u0036","kid":"key-1"}`, p},
		{"crit", `{"alg":"RS256","kid":"key-1","crit":["exp"]}`, p},
		{"b64 false", `{"alg":"RS256","kid":"key-1","b64":false,"crit":["b64"]}`, p},
		{"jwk in header", `{"alg":"RS256","kid":"key-1","jwk":{"kty":"oct","k":"AA"}}`, p},
		{"typ number", `{"alg":"RS256","kid":"key-1","typ":1}`, p},
		{"kid number", `{"alg":"RS256","kid":1}`, p},
		{"PS256", `{"alg":"PS256","kid":"key-1"}`, p},
		{"ES256", `{"alg":"ES256","kid":"key-1"}`, p},
		{"header array", `["alg","RS256"]`, p},
		{"header trailing", h + `x`, p},
		{"duplicate iss", h, `{"iss":"https://evil.example",` + p[1:]},
		{"duplicate unknown", h, `{"x":1,"x":2,` + p[1:]},
		{"duplicate in nested unknown", h, `{"x":{"a":1,"a":2},` + p[1:]},
		{"upper-case ISS", h, strings.Replace(p, `"iss"`, `"ISS"`, 1)},
		{"escaped iss", h, strings.Replace(p, `"iss":"https:`, `"iss":"https\u003a`, 1)},
		{"non-ASCII namespace", h, strings.Replace(p, `"namespace":"carts"`, `"namespace":"cärts"`, 1)},
		{"invalid UTF-8", h, strings.Replace(p, `"jti":"c1a3"`, "\"jti\":\"c1\xffa3\"", 1)},
		{"null kubernetes.io", h, `{"kubernetes.io":null,` + p[1:]},
		{"null pod", h, strings.Replace(p, `"pod":{`, `"pod":null,"x":{`, 1)},
		{"null iss", h, strings.Replace(p, `"iss":"`+testIssuer+`"`, `"iss":null`, 1)},
		{"aud string", h, strings.Replace(p, `"aud":["pods.eks.amazonaws.com"]`, `"aud":"pods.eks.amazonaws.com"`, 1)},
		{"aud empty", h, strings.Replace(p, `"aud":["pods.eks.amazonaws.com"]`, `"aud":[]`, 1)},
		{"aud number", h, strings.Replace(p, `"aud":["pods.eks.amazonaws.com"]`, `"aud":[1]`, 1)},
		{"exp string", h, strings.Replace(p, `"exp":`, `"exp":"1"`+`,"y":`, 1)},
		{"exp float", h, strings.Replace(p, `"exp":`, `"exp":1.5e9,"y":`, 1)},
		{"exp huge", h, strings.Replace(p, `"exp":`, `"exp":1e300,"y":`, 1)},
		{"exp overflow", h, strings.Replace(p, `"exp":`, `"exp":1e400,"y":`, 1)},
		{"exp -0", h, strings.Replace(p, `"exp":`, `"exp":-0,"y":`, 1)},
		{"bad number", h, strings.Replace(p, `"exp":`, `"exp":01,"y":`, 1)},
		{"no exp", h, `{"zz":1,` + strings.Replace(p[1:], `"exp"`, `"pxe"`, 1)},
		{"deep unknown", h, `{"d":` + strings.Repeat("[", 40) + strings.Repeat("]", 40) + `,` + p[1:]},
		{"trailing data", h, p + `{}`},
		{"two objects", h, p + p},
		{"not an object", h, `["a"]`},
		{"empty payload", h, ``},
		{"pod without uid", h, strings.Replace(p, `,"uid":"0b5e4e0a-1111-2222-3333-444455556666"`, ``, 1)},
		{"subject mismatch", h, strings.Replace(p, `serviceaccount:carts:carts`, `serviceaccount:carts:other`, 1)},
		{"literals", h, `{"t":true,"f":false,"n":null,"a":[1,"b",{"c":[]}],` + p[1:]},
	}
}

// TestFastVerifyAgrees runs the fast path and the go-jose path on the
// table, signed, tampered, and with the EC key beside the RSA key.
func TestFastVerifyAgrees(t *testing.T) {
	f, both := fastFixture(t)
	for _, c := range fastCases() {
		t.Run(c.name, func(t *testing.T) {
			for _, tamper := range []bool{false, true} {
				tok := rawSign(t, f.key, c.header, c.payload, tamper)
				sameVerdict(t, tok, f.keys)
				sameVerdict(t, tok, both)
			}
		})
	}
	good := rawSign(t, f.key, `{"alg":"RS256","kid":"key-1"}`, podPayload(), false)
	parts := strings.Split(good, ".")
	for name, tok := range map[string]string{
		"padded signature":    good + "==",
		"padded header":       parts[0] + "=." + parts[1] + "." + parts[2],
		"newline in payload":  parts[0] + "." + parts[1][:10] + "\n" + parts[1][10:] + "." + parts[2],
		"four parts":          good + ".x",
		"two parts":           parts[0] + "." + parts[1],
		"empty signature":     parts[0] + "." + parts[1] + ".",
		"short signature":     parts[0] + "." + parts[1] + "." + parts[2][:100],
		"standard base64 sig": parts[0] + "." + parts[1] + "." + strings.NewReplacer("-", "+", "_", "/").Replace(parts[2]),
		"non-canonical bits":  parts[0] + "." + parts[1] + "." + parts[2][:len(parts[2])-1] + string(parts[2][len(parts[2])-1]^1),
	} {
		t.Run(name, func(t *testing.T) { sameVerdict(t, tok, f.keys) })
	}
}

// FuzzFastVerify: whatever header and payload are signed, and whatever
// string arrives, the fast path reaches the go-jose path's verdict.
func FuzzFastVerify(f *testing.F) {
	fx, both := fastFixture(f)
	for _, c := range fastCases() {
		f.Add(c.header, c.payload, false, "")
	}
	f.Add("", "", false, "a.b.c")
	f.Add("", "", false, "eyJhbGciOiJSUzI1NiJ9.e30.AAAA")
	f.Fuzz(func(t *testing.T, header, payload string, tamper bool, raw string) {
		if raw == "" {
			raw = rawSign(t, fx.key, header, payload, tamper)
		}
		sameVerdict(t, raw, fx.keys)
		sameVerdict(t, raw, both)
	})
}

// BenchmarkVerifyPaths: the same kube-apiserver token through the fast
// path and through go-jose and json/v2, in one run.
func BenchmarkVerifyPaths(b *testing.B) {
	f := newFixture(b)
	tok := rawSign(b, f.key, `{"alg":"RS256","kid":"key-1"}`, podPayload(), false)
	want := Expect{Issuer: testIssuer, Audience: PodIdentityAudience, Now: testNow, Leeway: DefaultLeeway}
	for _, fast := range []bool{true, false} {
		name := map[bool]string{true: "fast", false: "go-jose"}[fast]
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			cpu := cputime.Start()
			for b.Loop() {
				if _, err := verify(context.Background(), tok, f.keys, want, fast); err != nil {
					b.Fatal(err)
				}
			}
			cpu.Report(b)
		})
	}
}
