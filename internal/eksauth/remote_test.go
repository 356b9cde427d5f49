package eksauth

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/podid/podid/internal/k8s"
	"github.com/podid/podid/internal/store"
)

// oidcServer is an external cluster's issuer: discovery document and
// JWKS over plain http on 127.0.0.1, with swappable keys.
type oidcServer struct {
	srv     *httptest.Server
	mu      sync.Mutex
	keys    []jose.JSONWebKey
	jwksURI string
	status  int
	fetches atomic.Int64
}

func newOIDCServer(t *testing.T) *oidcServer {
	o := &oidcServer{status: http.StatusOK}
	o.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		o.fetches.Add(1)
		o.mu.Lock()
		defer o.mu.Unlock()
		if o.status != http.StatusOK {
			w.WriteHeader(o.status)
			return
		}
		switch r.URL.Path {
		case "/.well-known/openid-configuration":
			uri := o.jwksURI
			if uri == "" {
				uri = o.srv.URL + "/openid/v1/jwks"
			}
			json.NewEncoder(w).Encode(map[string]any{"issuer": o.srv.URL, "jwks_uri": uri})
		case "/openid/v1/jwks":
			json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: o.keys})
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(o.srv.Close)
	return o
}

func (o *oidcServer) set(f func(o *oidcServer)) {
	o.mu.Lock()
	defer o.mu.Unlock()
	f(o)
}

type signingKey struct {
	key *rsa.PrivateKey
	kid string
}

func newSigningKey(t *testing.T, kid string) *signingKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return &signingKey{key: k, kid: kid}
}

func (k *signingKey) public() jose.JSONWebKey {
	return jose.JSONWebKey{Key: &k.key.PublicKey, KeyID: k.kid, Algorithm: "RS256", Use: "sig"}
}

func (k *signingKey) sign(t *testing.T, claims map[string]any) string {
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: k.key}, (&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", k.kid))
	if err != nil {
		t.Fatal(err)
	}
	tok, err := jwt.Signed(s).Claims(claims).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// TestRemoteKeys: an external cluster whose keys come from its issuer's
// discovery document. Keys are cached, refetched when a token names an
// unknown kid (key rotation), and refetched at most once per MinRefresh
// however many forged kids arrive.
func TestRemoteKeys(t *testing.T) {
	o := newOIDCServer(t)
	k1, k2 := newSigningKey(t, "k1"), newSigningKey(t, "k2")
	o.set(func(o *oidcServer) { o.keys = []jose.JSONWebKey{k1.public()} })
	var now atomic.Pointer[time.Time]
	now.Store(&unitNow)
	clock := func() time.Time { return *now.Load() }
	keys := &ClusterKeys{AllowHTTPLoopbackIssuers: true, MinRefresh: 10 * time.Second, Now: clock}
	u := newUnit(t, func(c *Config) { c.Keys = keys; c.Now = clock })
	putCluster(t, u.st, &store.Cluster{Name: "remote", Kind: store.ClusterExternal, IssuerURL: o.srv.URL})
	u.svc.cfg.Associations.(fakeAssocs)[[3]string{"remote", "carts", "carts"}] = &store.Association{ID: "a-r", RoleARN: "arn:aws:iam::123456789012:role/pod"}
	claims := func() map[string]any {
		c := podClaims(clock(), "carts")
		c["iss"] = o.srv.URL
		return c
	}
	exchange := func(tok string) string {
		_, err := u.svc.AssumeRoleForPodIdentity(agentCtx("agent", nil), &Input{ClusterName: "remote", Token: tok})
		return code(err)
	}
	if got := exchange(k1.sign(t, claims())); got != "" {
		t.Fatalf("first exchange: %s", got)
	}
	if n := o.fetches.Load(); n != 2 {
		t.Errorf("%d fetches, want 2 (discovery and JWKS)", n)
	}
	exchange(k1.sign(t, claims()))
	if n := o.fetches.Load(); n != 2 {
		t.Errorf("%d fetches after a cached exchange, want 2", n)
	}
	// Rotation: the issuer now signs with k2; the unknown kid triggers a
	// refresh (the last fetch was long enough ago).
	now.Store(ptr(unitNow.Add(11 * time.Second)))
	o.set(func(o *oidcServer) { o.keys = []jose.JSONWebKey{k2.public(), k1.public()} })
	if got := exchange(k2.sign(t, claims())); got != "" {
		t.Fatalf("rotated key: %s", got)
	}
	if n := o.fetches.Load(); n != 4 {
		t.Errorf("%d fetches after rotation, want 4", n)
	}
	// Forged kids: refused, and no refetch within MinRefresh.
	forger := newSigningKey(t, "forged")
	for i := 0; i < 20; i++ {
		if got := exchange(forger.sign(t, claims())); got != "InvalidTokenException" {
			t.Fatalf("forged kid: %s", got)
		}
	}
	if n := o.fetches.Load(); n != 4 {
		t.Errorf("%d fetches after forged kids, want 4", n)
	}
	now.Store(ptr(unitNow.Add(22 * time.Second)))
	exchange(forger.sign(t, claims()))
	exchange(forger.sign(t, claims()))
	if n := o.fetches.Load(); n != 6 {
		t.Errorf("%d fetches after MinRefresh, want 6 (one refresh)", n)
	}
	// The issuer failing keeps the last good keys.
	o.set(func(o *oidcServer) { o.status = http.StatusInternalServerError })
	now.Store(ptr(unitNow.Add(2 * time.Hour)))
	if got := exchange(k2.sign(t, claims())); got != "" {
		t.Errorf("last good keys not kept: %s", got)
	}
}

func ptr[T any](v T) *T { return &v }

// TestRemoteKeysRefused: plain http needs AllowHTTPLoopbackIssuers, and a
// discovery document may not send podid to plain http elsewhere. An
// unreachable issuer is ServiceUnavailableException, never a 500.
func TestRemoteKeysRefused(t *testing.T) {
	o := newOIDCServer(t)
	k1 := newSigningKey(t, "k1")
	o.set(func(o *oidcServer) { o.keys = []jose.JSONWebKey{k1.public()} })
	for _, c := range []struct {
		name     string
		loopback bool
		setup    func(o *oidcServer)
	}{
		{"http issuer without AllowHTTPLoopbackIssuers", false, nil},
		{"jwks_uri over http to another host", true, func(o *oidcServer) { o.jwksURI = "http://jwks.example.invalid/keys" }},
		{"issuer answering 500", true, func(o *oidcServer) { o.status = http.StatusInternalServerError }},
	} {
		t.Run(c.name, func(t *testing.T) {
			o.set(func(o *oidcServer) { o.jwksURI, o.status = "", http.StatusOK })
			if c.setup != nil {
				o.set(c.setup)
			}
			u := newUnit(t, func(cfg *Config) { cfg.Keys = &ClusterKeys{AllowHTTPLoopbackIssuers: c.loopback} })
			putCluster(t, u.st, &store.Cluster{Name: "remote", Kind: store.ClusterExternal, IssuerURL: o.srv.URL})
			claims := podClaims(u.now, "carts")
			claims["iss"] = o.srv.URL
			_, err := u.svc.AssumeRoleForPodIdentity(agentCtx("agent", nil), &Input{ClusterName: "remote", Token: k1.sign(t, claims)})
			if code(err) != "ServiceUnavailableException" {
				t.Errorf("got %v, want ServiceUnavailableException", err)
			}
		})
	}
}

// TestHostedIssuerURL: for hosted clusters the issuer the key source
// names (podid's current URL) is expected, not the one stored at creation.
func TestHostedIssuerURL(t *testing.T) {
	k := newSigningKey(t, "k1")
	src := &namedKeys{issuer: "https://podid.new.example/clusters/h/oidc", set: jose.JSONWebKeySet{Keys: []jose.JSONWebKey{k.public()}}}
	u := newUnit(t, func(c *Config) {
		c.Keys = &ClusterKeys{Hosted: func(context.Context, string) (k8s.KeySource, error) { return src, nil }}
	})
	putCluster(t, u.st, &store.Cluster{Name: "h", Kind: store.ClusterHosted, IssuerURL: "https://podid.old.example/clusters/h/oidc"})
	u.svc.cfg.Associations.(fakeAssocs)[[3]string{"h", "carts", "carts"}] = &store.Association{ID: "a-h", RoleARN: "arn:aws:iam::123456789012:role/pod"}
	for iss, want := range map[string]string{src.issuer: "", "https://podid.old.example/clusters/h/oidc": "InvalidTokenException"} {
		c := podClaims(u.now, "carts")
		c["iss"] = iss
		_, err := u.svc.AssumeRoleForPodIdentity(agentCtx("agent", nil), &Input{ClusterName: "h", Token: k.sign(t, c)})
		if code(err) != want {
			t.Errorf("iss %s: %v, want %q", iss, err, want)
		}
	}
}

// namedKeys is a static key source that names its issuer.
type namedKeys struct {
	issuer string
	set    jose.JSONWebKeySet
}

func (n *namedKeys) Keys(_ context.Context, kid string, _ bool) ([]jose.JSONWebKey, error) {
	return n.set.Key(kid), nil
}

func (n *namedKeys) Issuer() string { return n.issuer }
