package agent

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	josejwt "github.com/go-jose/go-jose/v4/jwt"

	"github.com/podid/podid/internal/k8s"
)

func signedPodToken(t *testing.T, key *ecdsa.PrivateKey, iss, uid string, exp time.Time) string {
	t.Helper()
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: key}, (&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", "k1"))
	if err != nil {
		t.Fatal(err)
	}
	tok, err := josejwt.Signed(s).Claims(map[string]any{
		"iss": iss, "aud": []string{"pods.eks.amazonaws.com"}, "sub": "system:serviceaccount:ns:sa",
		"exp": exp.Unix(), "iat": time.Now().Unix(), "nbf": time.Now().Unix(),
		"kubernetes.io": map[string]any{
			"namespace":      "ns",
			"pod":            map[string]any{"name": "p", "uid": uid},
			"serviceaccount": map[string]any{"name": "sa", "uid": "sa-uid"},
		},
	}).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestK8sVerifier(t *testing.T) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	const iss = "https://issuer.example"
	v := K8sVerifier{Keys: &k8s.StaticKeys{Set: jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: "k1", Algorithm: "ES256", Use: "sig"}}}}, Issuer: iss}
	exp := time.Now().Add(time.Hour)

	id, err := v.VerifyToken(t.Context(), signedPodToken(t, key, iss, "uid-1", exp))
	if err != nil || id != (PodIdentity{Namespace: "ns", ServiceAccount: "sa", PodUID: "uid-1"}) {
		t.Errorf("valid token: %+v, %v", id, err)
	}
	for name, tok := range map[string]string{
		"other key":    signedPodToken(t, other, iss, "uid-1", exp),
		"other issuer": signedPodToken(t, key, "https://evil.example", "uid-1", exp),
		"expired":      signedPodToken(t, key, iss, "uid-1", time.Now().Add(-time.Hour)),
		"unsigned":     podToken("ns", "sa", "uid-1", exp, "sig"),
	} {
		if _, err := v.VerifyToken(t.Context(), tok); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}

	// In the agent: a rotated, properly signed token is served from the
	// pod's entry without an EKS Auth call; a forged one is not.
	f := newFakeEKSAuth(t)
	a := newTestAgent(t, f, func(c *Config) { c.TokenVerifier = v })
	get(a, "169.254.170.23", signedPodToken(t, key, iss, "uid-1", exp))
	if w := get(a, "169.254.170.23", signedPodToken(t, key, iss, "uid-1", exp.Add(time.Minute))); w.Code != 200 || f.calls.Load() != 1 {
		t.Errorf("rotated token: %d, %d calls", w.Code, f.calls.Load())
	}
	forged := signedPodToken(t, other, iss, "uid-1", exp.Add(2*time.Minute))
	f.set(func(f *fakeEKSAuth) {
		f.reject[forged] = fakeReply{status: 400, code: "InvalidTokenException", msg: "invalid"}
	})
	if w := get(a, "169.254.170.23", forged); w.Code != 400 || f.calls.Load() != 2 {
		t.Errorf("forged token: %d %q, %d calls", w.Code, w.Body, f.calls.Load())
	}
}
