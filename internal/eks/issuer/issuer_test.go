package issuer

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/podid/podid/internal/k8s"
	"github.com/podid/podid/internal/secrets"
	"github.com/podid/podid/internal/store"
	"github.com/podid/podid/internal/store/sqlite"
)

var t0 = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

func newIssuer(t testing.TB) (*Issuer, store.Store) {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	kr, err := secrets.New(secrets.GenerateKey())
	if err != nil {
		t.Fatal(err)
	}
	iss, err := New(Config{Store: st, Keyring: kr, BaseURL: "https://podid.example:8443/", Now: func() time.Time { return t0 }})
	if err != nil {
		t.Fatal(err)
	}
	return iss, st
}

// addKey generates and stores a signing key for cluster.
func addKey(t testing.TB, iss *Issuer, st store.Store, cluster string) *store.ServerKey {
	t.Helper()
	k, err := iss.GenerateKey(cluster)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Update(context.Background(), func(tx store.Tx) error { return tx.PutServerKey(k) }); err != nil {
		t.Fatal(err)
	}
	iss.Forget(cluster)
	return k
}

// TestMintedTokenVerifies: a minted token has kube-apiserver's header and
// claims and verifies with k8s.Verify against the KeySource.
func TestMintedTokenVerifies(t *testing.T) {
	iss, st := newIssuer(t)
	key := addKey(t, iss, st, "c1")
	if key.Purpose != "cluster-signing/c1" || !key.Active || len(key.Sealed) == 0 {
		t.Fatalf("stored key = %+v", key)
	}
	tok, err := iss.MintPodToken(context.Background(), "c1", "carts", "carts", "carts-7c9d8b6d4-x2x8p", "0b5e6d2c-1111-4222-8333-444455556666", "node-1", []string{"pods.eks.amazonaws.com"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(tok, ".")
	var header, claims map[string]any
	decodeSeg(t, parts[0], &header)
	decodeSeg(t, parts[1], &claims)
	if !reflect.DeepEqual(header, map[string]any{"alg": "RS256", "kid": key.ID}) {
		t.Errorf("header = %v", header)
	}
	want := map[string]any{
		"aud": []any{"pods.eks.amazonaws.com"},
		"exp": float64(t0.Add(time.Hour).Unix()), "iat": float64(t0.Unix()), "nbf": float64(t0.Unix()),
		"iss": "https://podid.example:8443/clusters/c1/oidc",
		"sub": "system:serviceaccount:carts:carts",
		"jti": claims["jti"],
		"kubernetes.io": map[string]any{
			"namespace":      "carts",
			"pod":            map[string]any{"name": "carts-7c9d8b6d4-x2x8p", "uid": "0b5e6d2c-1111-4222-8333-444455556666"},
			"serviceaccount": map[string]any{"name": "carts", "uid": stableUID("serviceaccount", "c1", "carts", "carts")},
			"node":           map[string]any{"name": "node-1", "uid": stableUID("node", "c1", "node-1")},
		},
	}
	if !reflect.DeepEqual(claims, want) {
		t.Errorf("claims =\n%v\nwant\n%v", claims, want)
	}
	ks := iss.KeySource("c1")
	c, err := k8s.Verify(context.Background(), tok, ks, k8s.Expect{Issuer: ks.Issuer(), Audience: k8s.PodIdentityAudience, Now: t0.Add(time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	if c.Namespace != "carts" || c.ServiceAccountName != "carts" || c.PodName != "carts-7c9d8b6d4-x2x8p" || c.NodeName != "node-1" {
		t.Errorf("verified claims = %+v", c)
	}
	// Another cluster's keys do not verify it.
	addKey(t, iss, st, "c2")
	if _, err := k8s.Verify(context.Background(), tok, iss.KeySource("c2"), k8s.Expect{Now: t0}); !errors.Is(err, k8s.ErrInvalidToken) {
		t.Errorf("verified with another cluster's keys: %v", err)
	}
	// Without a node the node claim is absent; without a pod UID one is made.
	tok, err = iss.MintPodToken(context.Background(), "c1", "ns", "sa", "pod", "", "", []string{"a", "b"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	decodeSeg(t, strings.Split(tok, ".")[1], &claims)
	k := claims["kubernetes.io"].(map[string]any)
	if _, ok := k["node"]; ok || k["pod"].(map[string]any)["uid"] == "" || claims["exp"] != float64(t0.Add(DefaultTokenTTL).Unix()) || len(claims["aud"].([]any)) != 2 {
		t.Errorf("claims = %v", claims)
	}
}

func decodeSeg(t *testing.T, seg string, v any) {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatal(err)
	}
}

func TestMintRefusals(t *testing.T) {
	iss, st := newIssuer(t)
	addKey(t, iss, st, "c1")
	ok := PodToken{Namespace: "ns", ServiceAccount: "sa", PodName: "p", Audiences: []string{"x"}}
	for _, tc := range []struct {
		name string
		edit func(*PodToken)
	}{
		{"namespace", func(p *PodToken) { p.Namespace = "Bad" }},
		{"service account", func(p *PodToken) { p.ServiceAccount = "" }},
		{"pod", func(p *PodToken) { p.PodName = "a/b" }},
		{"node", func(p *PodToken) { p.Node = "UPPER" }},
		{"no audience", func(p *PodToken) { p.Audiences = nil }},
		{"empty audience", func(p *PodToken) { p.Audiences = []string{""} }},
		{"too short", func(p *PodToken) { p.TTL = time.Minute }},
		{"too long", func(p *PodToken) { p.TTL = 72 * time.Hour }},
		{"pod uid", func(p *PodToken) { p.PodUID = strings.Repeat("u", 200) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := ok
			tc.edit(&p)
			if _, _, err := iss.Mint(context.Background(), "c1", p); !errors.Is(err, ErrInvalidArgument) {
				t.Errorf("err = %v", err)
			}
		})
	}
	if _, _, err := iss.Mint(context.Background(), "none", ok); !errors.Is(err, ErrNoKeys) {
		t.Errorf("unknown cluster: %v", err)
	}
}

// TestDiscoveryAndJWKS serves the OIDC documents; unknown clusters and
// other paths are JSON 404s.
func TestDiscoveryAndJWKS(t *testing.T) {
	iss, st := newIssuer(t)
	key := addKey(t, iss, st, "c1")
	srv := httptest.NewServer(iss)
	defer srv.Close()
	get := func(path string) (int, string, map[string]any) {
		t.Helper()
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("%s: not JSON: %q", path, b)
		}
		return resp.StatusCode, resp.Header.Get("Content-Type"), m
	}
	status, _, doc := get("/clusters/c1/oidc/.well-known/openid-configuration")
	want := map[string]any{
		"issuer":                                "https://podid.example:8443/clusters/c1/oidc",
		"jwks_uri":                              "https://podid.example:8443/clusters/c1/oidc/keys",
		"response_types_supported":              []any{"id_token"},
		"subject_types_supported":               []any{"public"},
		"id_token_signing_alg_values_supported": []any{"RS256"},
		"claims_supported":                      []any{"sub", "iss"},
	}
	if status != 200 || !reflect.DeepEqual(doc, want) {
		t.Errorf("discovery: %d %v", status, doc)
	}
	for _, p := range []string{"/clusters/c1/oidc/keys", "/clusters/c1/oidc/openid/v1/jwks"} {
		status, ct, set := get(p)
		keys, _ := set["keys"].([]any)
		if status != 200 || ct != "application/jwk-set+json" || len(keys) != 1 {
			t.Fatalf("%s: %d %s %v", p, status, ct, set)
		}
		k := keys[0].(map[string]any)
		var names []string
		for n := range k {
			names = append(names, n)
		}
		sort.Strings(names)
		if k["kid"] != key.ID || k["alg"] != "RS256" || k["use"] != "sig" || k["kty"] != "RSA" || !reflect.DeepEqual(names, []string{"alg", "e", "kid", "kty", "n", "use"}) {
			t.Errorf("%s: key = %v", p, k)
		}
	}
	for _, p := range []string{"/clusters/none/oidc/keys", "/clusters/c1/oidc/other", "/clusters/-x/oidc/keys", "/elsewhere"} {
		if status, _, _ := get(p); status != 404 {
			t.Errorf("%s: %d", p, status)
		}
	}
	if !iss.IsPublicPath("/clusters/c1/oidc/keys") || iss.IsPublicPath("/clusters/c1/pod-identity-associations") {
		t.Error("IsPublicPath")
	}
	resp, err := http.Post(srv.URL+"/clusters/c1/oidc/keys", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST: %d", resp.StatusCode)
	}
}

// TestRetireAndRotate: a second key signs new tokens while the first
// still verifies; retired keys vanish from the JWKS.
func TestRetireAndRotate(t *testing.T) {
	iss, st := newIssuer(t)
	k1 := addKey(t, iss, st, "c1")
	old, err := iss.MintPodToken(context.Background(), "c1", "ns", "sa", "p", "", "", []string{"x"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	// Rotate: a newer active key, the old one kept for verification.
	iss.cfg.Now = func() time.Time { return t0.Add(time.Hour) }
	k2 := addKey(t, iss, st, "c1")
	k1.Active = false
	if err := st.Update(context.Background(), func(tx store.Tx) error { return tx.PutServerKey(k1) }); err != nil {
		t.Fatal(err)
	}
	iss.Forget("c1")
	set, err := iss.JWKS(context.Background(), "c1")
	if err != nil || len(set.Keys) != 2 || set.Keys[0].KeyID != k2.ID {
		t.Fatalf("JWKS after rotation: %v %+v", err, set)
	}
	fresh, _ := iss.MintPodToken(context.Background(), "c1", "ns", "sa", "p", "", "", []string{"x"}, 0)
	if kid := headerKID(t, fresh); kid != k2.ID {
		t.Errorf("new tokens signed with %s, want %s", kid, k2.ID)
	}
	if _, err := k8s.Verify(context.Background(), old, iss.KeySource("c1"), k8s.Expect{Now: t0.Add(2 * time.Hour)}); err != nil {
		t.Errorf("old token after rotation: %v", err)
	}
	if err := st.Update(context.Background(), func(tx store.Tx) error { return iss.Retire(tx, "c1") }); err != nil {
		t.Fatal(err)
	}
	iss.Forget("c1")
	if _, err := iss.JWKS(context.Background(), "c1"); !errors.Is(err, ErrNoKeys) {
		t.Errorf("JWKS after retire: %v", err)
	}
	keys, _ := iss.KeySource("c1").Keys(context.Background(), "", true)
	if len(keys) != 0 {
		t.Errorf("KeySource after retire: %d keys", len(keys))
	}
}

func headerKID(t *testing.T, tok string) string {
	t.Helper()
	var h map[string]any
	decodeSeg(t, strings.Split(tok, ".")[0], &h)
	kid, _ := h["kid"].(string)
	return kid
}

// TestKeySourceUnknownKid: an unknown kid rereads the store, so a key
// added by another replica is found without waiting for the cache TTL.
// TestKeySet: the key set of a hosted cluster by its issuer URL (with or
// without a trailing slash), nothing for other issuers.
func TestKeySet(t *testing.T) {
	iss, st := newIssuer(t)
	addKey(t, iss, st, "c1")
	for _, tc := range []struct {
		url  string
		keys int
	}{
		{"https://podid.example:8443/clusters/c1/oidc", 1},
		{"https://podid.example:8443/clusters/c1/oidc/", 1},
		{"https://podid.example:8443/clusters/c2/oidc", -1},
		{"https://other.example/clusters/c1/oidc", -1},
		{"https://podid.example:8443/clusters/c1", -1},
		{"https://oidc.eks.us-west-2.amazonaws.com/id/ABC", -1},
	} {
		b, ok, err := iss.KeySet(context.Background(), tc.url)
		if err != nil {
			t.Fatalf("%s: %v", tc.url, err)
		}
		if tc.keys < 0 {
			if ok {
				t.Errorf("%s: a key set %s for an issuer podid does not host", tc.url, b)
			}
			continue
		}
		var set struct{ Keys []map[string]any }
		if !ok || json.Unmarshal(b, &set) != nil || len(set.Keys) != tc.keys {
			t.Errorf("%s: ok %v, %s", tc.url, ok, b)
		}
	}
}

func TestKeySourceUnknownKid(t *testing.T) {
	iss, st := newIssuer(t)
	addKey(t, iss, st, "c1")
	ks := iss.KeySource("c1")
	if keys, err := ks.Keys(context.Background(), "", false); err != nil || len(keys) != 1 {
		t.Fatalf("keys: %v %d", err, len(keys))
	}
	// A key written behind the issuer's back (no Forget).
	k2, _ := iss.GenerateKey("c1")
	if err := st.Update(context.Background(), func(tx store.Tx) error { return tx.PutServerKey(k2) }); err != nil {
		t.Fatal(err)
	}
	if keys, _ := ks.Keys(context.Background(), k2.ID, false); len(keys) != 0 {
		t.Fatal("cache was not used")
	}
	// The cached set was read at t0 (the fixed clock): a forced refresh
	// within the same second is rate-limited...
	if keys, _ := ks.Keys(context.Background(), k2.ID, true); len(keys) != 0 {
		t.Fatal("refresh was not rate-limited")
	}
	// ...and allowed a second later.
	iss.cfg.Now = func() time.Time { return t0.Add(2 * time.Second) }
	keys, err := ks.Keys(context.Background(), k2.ID, true)
	if err != nil || len(keys) != 1 || keys[0].KeyID != k2.ID || !keys[0].IsPublic() {
		t.Fatalf("after refresh: %v %+v", err, keys)
	}
	var _ jose.JSONWebKey = keys[0]
}
