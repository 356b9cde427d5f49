package sts

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/podid/podid/internal/auth"
)

// idp is a test OpenID Connect issuer: a discovery document and a key set
// served over TLS, and a signer for tokens.
type idp struct {
	srv     *httptest.Server
	issuer  string
	mu      sync.Mutex
	keys    map[string]any // kid → private key
	served  []string       // kids in the served key set
	fetches atomic.Int32
}

func newIDP(t *testing.T, tls bool, issuerHost string) *idp {
	t.Helper()
	p := &idp{keys: map[string]any{}}
	mux := http.NewServeMux()
	mux.HandleFunc("/id/TEST/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(map[string]string{"issuer": p.issuer, "jwks_uri": p.issuer + "/keys"})
	})
	mux.HandleFunc("/id/TEST/keys", func(w http.ResponseWriter, r *http.Request) {
		p.fetches.Add(1)
		p.mu.Lock()
		defer p.mu.Unlock()
		var set jose.JSONWebKeySet
		for _, kid := range p.served {
			var pub any
			switch k := p.keys[kid].(type) {
			case *rsa.PrivateKey:
				pub = k.Public()
			case *ecdsa.PrivateKey:
				pub = k.Public()
			}
			set.Keys = append(set.Keys, jose.JSONWebKey{Key: pub, KeyID: kid, Use: "sig"})
		}
		json.NewEncoder(w).Encode(set)
	})
	if tls {
		p.srv = httptest.NewTLSServer(mux)
	} else {
		p.srv = httptest.NewServer(mux)
	}
	t.Cleanup(p.srv.Close)
	host := issuerHost
	if host == "" {
		host = p.srv.Listener.Addr().String()
	}
	scheme := "http"
	if tls {
		scheme = "https"
	}
	p.issuer = scheme + "://" + host + "/id/TEST"
	p.addKey(t, "k1", true)
	return p
}

// addKey creates a key; served says whether the key set publishes it.
func (p *idp) addKey(t *testing.T, kid string, served bool) {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	p.mu.Lock()
	p.keys[kid] = k
	if served {
		p.served = append(p.served, kid)
	}
	p.mu.Unlock()
}

func (p *idp) addECKey(t *testing.T, kid string) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	p.mu.Lock()
	p.keys[kid] = k
	p.served = append(p.served, kid)
	p.mu.Unlock()
}

// token signs claims with key kid.
func (p *idp) token(t *testing.T, kid string, claims map[string]any) string {
	t.Helper()
	p.mu.Lock()
	key := p.keys[kid]
	p.mu.Unlock()
	alg := jose.RS256
	if _, ok := key.(*ecdsa.PrivateKey); ok {
		alg = jose.ES256
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, (&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", kid))
	if err != nil {
		t.Fatal(err)
	}
	tok, err := jwt.Signed(signer).Claims(claims).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// dialTo returns a client that trusts the server's certificate and sends
// every connection to it, whatever the host name.
func dialTo(srv *httptest.Server) *http.Client {
	tr := srv.Client().Transport.(*http.Transport).Clone()
	addr := srv.Listener.Addr().String()
	tr.DialContext = func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, addr)
	}
	return &http.Client{Transport: tr}
}

func webFixture(t *testing.T, cfg func(*Config)) (*fixture, *Service) {
	t.Helper()
	f := newFixture(t)
	c := Config{Store: f.env.Store, AccountID: acct, Now: f.env.Clock.Now, Authorizer: f.env.Authorizer, Engine: f.env.Engine, Minter: f.env.Minter}
	cfg(&c)
	svc, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	return f, svc
}

func TestAssumeRoleWithWebIdentity(t *testing.T) {
	p := newIDP(t, true, "example.com")
	f, svc := webFixture(t, func(c *Config) { c.OIDCHTTPClient = dialTo(p.srv) })
	env := f.env
	now := env.Clock.Now()
	provURL := "example.com/id/TEST"
	provARN := env.AddOIDCProvider(t, provURL, []string{"sts.amazonaws.com", "other-client"}, nil)
	trust := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Federated":"` + provARN + `"},"Action":["sts:AssumeRoleWithWebIdentity","sts:TagSession"],` +
		`"Condition":{"StringEquals":{"` + provURL + `:sub":"system:serviceaccount:default:app","` + provURL + `:aud":"sts.amazonaws.com"}}}]}`
	role := env.AddRole(t, "web", "", trust, 0)
	noTags := env.AddRole(t, "web-notags", "", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Federated":"`+provARN+`"},"Action":"sts:AssumeRoleWithWebIdentity"}]}`, 0)
	p.addKey(t, "unpublished", false)
	p.addECKey(t, "ec1")

	base := func() map[string]any {
		return map[string]any{"iss": p.issuer, "sub": "system:serviceaccount:default:app", "aud": "sts.amazonaws.com",
			"iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}
	}
	with := func(kv ...any) map[string]any {
		c := base()
		for i := 0; i < len(kv); i += 2 {
			if kv[i+1] == nil {
				delete(c, kv[i].(string))
			} else {
				c[kv[i].(string)] = kv[i+1]
			}
		}
		return c
	}
	// forged is a token whose header names k1 but which another key signed.
	forged := func() string {
		good := p.token(t, "k1", base())
		other := p.token(t, "unpublished", base())
		return strings.Join(append(strings.Split(good, ".")[:2], strings.Split(other, ".")[2]), ".")
	}()
	hs256 := func() string {
		s, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: []byte("0123456789abcdef0123456789abcdef")}, nil)
		tok, _ := jwt.Signed(s).Claims(base()).Serialize()
		return tok
	}()

	tests := []struct {
		name      string
		in        AssumeRoleWithWebIdentityInput
		code, msg string
		status    int
		check     func(t *testing.T, out *AssumeRoleWithWebIdentityOutput, sess *auth.Session)
	}{
		{name: "valid token", in: AssumeRoleWithWebIdentityInput{RoleArn: role.ARN, RoleSessionName: "pod", WebIdentityToken: p.token(t, "k1", base())},
			check: func(t *testing.T, out *AssumeRoleWithWebIdentityOutput, sess *auth.Session) {
				if out.SubjectFromWebIdentityToken != "system:serviceaccount:default:app" || out.Audience != "sts.amazonaws.com" || out.Provider != provARN {
					t.Errorf("out = %+v", out)
				}
				if out.AssumedRoleUser.Arn != "arn:aws:sts::123456789012:assumed-role/web/pod" || out.AssumedRoleUser.AssumedRoleID != role.ID+":pod" {
					t.Errorf("AssumedRoleUser = %+v", out.AssumedRoleUser)
				}
				if !out.Credentials.Expiration.Equal(now.Add(time.Hour)) || out.PackedPolicySize != nil {
					t.Errorf("Expiration = %v, PackedPolicySize = %v", out.Credentials.Expiration, out.PackedPolicySize)
				}
				if sess.SourceARN != provARN || sess.Chained || sess.Type != auth.AssumedRole {
					t.Errorf("session = %+v", sess)
				}
			}},
		{name: "ECDSA key", in: AssumeRoleWithWebIdentityInput{RoleArn: role.ARN, RoleSessionName: "pod", WebIdentityToken: p.token(t, "ec1", base())}},
		{name: "azp is the audience", in: AssumeRoleWithWebIdentityInput{RoleArn: role.ARN, RoleSessionName: "pod",
			WebIdentityToken: p.token(t, "k1", with("aud", []string{"x", "y"}, "azp", "sts.amazonaws.com"))},
			check: func(t *testing.T, out *AssumeRoleWithWebIdentityOutput, _ *auth.Session) {
				if out.Audience != "sts.amazonaws.com" {
					t.Errorf("Audience = %q", out.Audience)
				}
			}},
		{name: "session tags and source identity from claims", in: AssumeRoleWithWebIdentityInput{RoleArn: role.ARN, RoleSessionName: "pod",
			WebIdentityToken: p.token(t, "k1", with(claimTags, map[string]any{"principal_tags": map[string]any{"team": []string{"blue"}}, "transitive_tag_keys": []string{"team"}},
				claimSourceIdentity, "alice"))},
			code: "AccessDenied", status: 403, msg: msgWebDenied}, // the trust policy lacks sts:SetSourceIdentity
		{name: "session tags from claims", in: AssumeRoleWithWebIdentityInput{RoleArn: role.ARN, RoleSessionName: "pod",
			WebIdentityToken: p.token(t, "k1", with(claimTags, map[string]any{"principal_tags": map[string]any{"team": []string{"blue"}}, "transitive_tag_keys": []string{"team"}}))},
			check: func(t *testing.T, out *AssumeRoleWithWebIdentityOutput, sess *auth.Session) {
				if !reflect.DeepEqual(sess.Tags, map[string]string{"team": "blue"}) || !reflect.DeepEqual(sess.TransitiveTagKeys, []string{"team"}) || out.PackedPolicySize == nil {
					t.Errorf("tags = %v / %v, packed %v", sess.Tags, sess.TransitiveTagKeys, out.PackedPolicySize)
				}
			}},
		{name: "session tags need sts:TagSession", in: AssumeRoleWithWebIdentityInput{RoleArn: noTags.ARN, RoleSessionName: "pod",
			WebIdentityToken: p.token(t, "k1", with(claimTags, map[string]any{"principal_tags": map[string]any{"team": []string{"blue"}}}))},
			code: "AccessDenied", status: 403, msg: msgWebDenied},
		{name: "malformed tags claim", in: AssumeRoleWithWebIdentityInput{RoleArn: role.ARN, RoleSessionName: "pod",
			WebIdentityToken: p.token(t, "k1", with(claimTags, "team=blue"))},
			code: "IDPRejectedClaim", status: 403, msg: "The session tags claim of the web identity token is not valid."},
		{name: "subject not allowed", in: AssumeRoleWithWebIdentityInput{RoleArn: role.ARN, RoleSessionName: "pod",
			WebIdentityToken: p.token(t, "k1", with("sub", "system:serviceaccount:default:other"))},
			code: "AccessDenied", status: 403, msg: msgWebDenied},
		{name: "other registered client ID fails the aud condition", in: AssumeRoleWithWebIdentityInput{RoleArn: role.ARN, RoleSessionName: "pod",
			WebIdentityToken: p.token(t, "k1", with("aud", "other-client"))},
			code: "AccessDenied", status: 403, msg: msgWebDenied},
		{name: "unregistered audience", in: AssumeRoleWithWebIdentityInput{RoleArn: role.ARN, RoleSessionName: "pod",
			WebIdentityToken: p.token(t, "k1", with("aud", "someone-else"))},
			code: "InvalidIdentityToken", status: 400, msg: "Incorrect token audience"},
		{name: "expired", in: AssumeRoleWithWebIdentityInput{RoleArn: role.ARN, RoleSessionName: "pod",
			WebIdentityToken: p.token(t, "k1", with("exp", now.Add(-time.Second).Unix()))},
			code: "ExpiredTokenException", status: 400,
			msg: "Token expired: current date/time 1767323045 must be before the expiration date/time 1767323044"},
		{name: "no expiry", in: AssumeRoleWithWebIdentityInput{RoleArn: role.ARN, RoleSessionName: "pod",
			WebIdentityToken: p.token(t, "k1", with("exp", nil))},
			code: "InvalidIdentityToken", status: 400, msg: "Missing expiration claim in the web identity token."},
		{name: "not yet valid", in: AssumeRoleWithWebIdentityInput{RoleArn: role.ARN, RoleSessionName: "pod",
			WebIdentityToken: p.token(t, "k1", with("nbf", now.Add(time.Hour).Unix()))},
			code: "InvalidIdentityToken", status: 400, msg: "The web identity token is not valid yet."},
		{name: "unknown issuer", in: AssumeRoleWithWebIdentityInput{RoleArn: role.ARN, RoleSessionName: "pod",
			WebIdentityToken: p.token(t, "k1", with("iss", "https://example.com/id/OTHER"))},
			code: "InvalidIdentityToken", status: 400, msg: "No OpenIDConnect provider found in your account for https://example.com/id/OTHER"},
		{name: "http issuer", in: AssumeRoleWithWebIdentityInput{RoleArn: role.ARN, RoleSessionName: "pod",
			WebIdentityToken: p.token(t, "k1", with("iss", "http://example.com/id/TEST"))},
			code: "InvalidIdentityToken", status: 400, msg: "No OpenIDConnect provider found in your account for http://example.com/id/TEST"},
		{name: "forged signature", in: AssumeRoleWithWebIdentityInput{RoleArn: role.ARN, RoleSessionName: "pod", WebIdentityToken: forged},
			code: "InvalidIdentityToken", status: 400, msg: msgBadSignature},
		{name: "unpublished key", in: AssumeRoleWithWebIdentityInput{RoleArn: role.ARN, RoleSessionName: "pod", WebIdentityToken: p.token(t, "unpublished", base())},
			code: "InvalidIdentityToken", status: 400, msg: msgNoKey},
		{name: "HMAC token", in: AssumeRoleWithWebIdentityInput{RoleArn: role.ARN, RoleSessionName: "pod", WebIdentityToken: hs256},
			code: "InvalidIdentityToken", status: 400, msg: msgNotJWT},
		{name: "not a JWT", in: AssumeRoleWithWebIdentityInput{RoleArn: role.ARN, RoleSessionName: "pod", WebIdentityToken: "an-access-token"},
			code: "InvalidIdentityToken", status: 400, msg: msgNotJWT},
		{name: "ProviderId", in: AssumeRoleWithWebIdentityInput{RoleArn: role.ARN, RoleSessionName: "pod", WebIdentityToken: p.token(t, "k1", base()), ProviderID: "www.amazon.com"},
			code: "InvalidIdentityToken", status: 400},
		{name: "duration over the role's maximum", in: AssumeRoleWithWebIdentityInput{RoleArn: role.ARN, RoleSessionName: "pod", WebIdentityToken: p.token(t, "k1", base()), DurationSeconds: 3601},
			code: "ValidationError", status: 400, msg: "The requested DurationSeconds exceeds the MaxSessionDuration set for this role."},
		{name: "no token", in: AssumeRoleWithWebIdentityInput{RoleArn: role.ARN, RoleSessionName: "pod"},
			code: "ValidationError", status: 400, msg: "1 validation error detected: Value null at 'webIdentityToken' failed to satisfy constraint: Member must not be null"},
		{name: "role the provider may not assume", in: AssumeRoleWithWebIdentityInput{RoleArn: env.AddRole(t, "other", "", trustAccount, 0).ARN, RoleSessionName: "pod", WebIdentityToken: p.token(t, "k1", base())},
			code: "AccessDenied", status: 403, msg: msgWebDenied},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, err := svc.AssumeRoleWithWebIdentity(context.Background(), &tc.in)
			if tc.code != "" {
				wantErr(t, err, tc.code, tc.status, tc.msg)
				return
			}
			if err != nil {
				t.Fatalf("AssumeRoleWithWebIdentity: %v", err)
			}
			sess, _, err := env.Minter.Open(out.Credentials.AccessKeyID, out.Credentials.SessionToken, now)
			if err != nil {
				t.Fatal(err)
			}
			if tc.check != nil {
				tc.check(t, out, sess)
			}
		})
	}
	if n := p.fetches.Load(); n != 1 {
		t.Errorf("key set fetched %d times, want 1 (cached; refetches for unknown kids are rate-limited)", n)
	}

	t.Run("key rotation", func(t *testing.T) {
		p.addKey(t, "k2", true)
		in := &AssumeRoleWithWebIdentityInput{RoleArn: role.ARN, RoleSessionName: "pod", WebIdentityToken: p.token(t, "k2", base())}
		// Within minRefetch of the last fetch the cached set is kept.
		_, err := svc.AssumeRoleWithWebIdentity(context.Background(), in)
		wantErr(t, err, "InvalidIdentityToken", 400, msgNoKey)
		env.Clock.Advance(minRefetch)
		if _, err := svc.AssumeRoleWithWebIdentity(context.Background(), in); err != nil {
			t.Fatalf("after rotation: %v", err)
		}
		if n := p.fetches.Load(); n != 2 {
			t.Errorf("key set fetched %d times, want 2", n)
		}
	})
}

func TestWebIdentityLoopbackHTTP(t *testing.T) {
	p := newIDP(t, false, "")
	for _, allow := range []bool{false, true} {
		f, svc := webFixture(t, func(c *Config) { c.AllowHTTPLoopbackIssuers = allow })
		url := strings.TrimPrefix(p.issuer, "http://")
		provARN := f.env.AddOIDCProvider(t, url, []string{"sts.amazonaws.com"}, nil)
		role := f.env.AddRole(t, "web", "", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Federated":"`+provARN+`"},"Action":"sts:AssumeRoleWithWebIdentity"}]}`, 0)
		now := f.env.Clock.Now()
		tok := p.token(t, "k1", map[string]any{"iss": p.issuer, "sub": "s", "aud": "sts.amazonaws.com", "exp": now.Add(time.Minute).Unix()})
		_, err := svc.AssumeRoleWithWebIdentity(context.Background(), &AssumeRoleWithWebIdentityInput{RoleArn: role.ARN, RoleSessionName: "pod", WebIdentityToken: tok})
		if allow && err != nil {
			t.Errorf("loopback http issuer allowed: %v", err)
		}
		if !allow {
			wantErr(t, err, "InvalidIdentityToken", 400, "No OpenIDConnect provider found in your account for "+p.issuer)
		}
	}
}

func TestWebIdentityThumbprints(t *testing.T) {
	p := newIDP(t, true, "")
	sum := sha1.Sum(p.srv.Certificate().Raw)
	thumb := strings.ToUpper(hex.EncodeToString(sum[:]))
	trusted := x509.NewCertPool()
	trusted.AddCert(p.srv.Certificate())

	tests := []struct {
		name        string
		roots       *x509.CertPool
		thumbprints []string
		code, msg   string
	}{
		{name: "chain trusted, thumbprint ignored", roots: trusted, thumbprints: []string{strings.Repeat("0", 40)}},
		{name: "untrusted chain, thumbprint matches", roots: x509.NewCertPool(), thumbprints: []string{strings.Repeat("0", 40), thumb}},
		{name: "untrusted chain, thumbprint differs", roots: x509.NewCertPool(), thumbprints: []string{strings.Repeat("0", 40)},
			code: "InvalidIdentityToken", msg: msgThumbprint},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, svc := webFixture(t, func(c *Config) { c.OIDCRootCAs = tc.roots })
			url := strings.TrimPrefix(p.issuer, "https://")
			provARN := f.env.AddOIDCProvider(t, url, []string{"sts.amazonaws.com"}, tc.thumbprints)
			role := f.env.AddRole(t, "web", "", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Federated":"`+provARN+`"},"Action":"sts:AssumeRoleWithWebIdentity"}]}`, 0)
			now := f.env.Clock.Now()
			tok := p.token(t, "k1", map[string]any{"iss": p.issuer, "sub": "s", "aud": "sts.amazonaws.com", "exp": now.Add(time.Minute).Unix()})
			_, err := svc.AssumeRoleWithWebIdentity(context.Background(), &AssumeRoleWithWebIdentityInput{RoleArn: role.ARN, RoleSessionName: "pod", WebIdentityToken: tok})
			if tc.code == "" {
				if err != nil {
					t.Fatalf("AssumeRoleWithWebIdentity: %v", err)
				}
				return
			}
			wantErr(t, err, tc.code, 400, tc.msg)
		})
	}

	t.Run("host name must match even with a thumbprint", func(t *testing.T) {
		err := verifyIdPChain([]*x509.Certificate{p.srv.Certificate()}, "idp.example.org", x509.NewCertPool(), []string{thumb})
		if err == nil {
			t.Fatal("a certificate for other names was accepted")
		}
	})
	t.Run("no certificate", func(t *testing.T) {
		if err := verifyIdPChain(nil, "x", nil, []string{thumb}); err == nil {
			t.Fatal("accepted an empty chain")
		}
	})
}

func TestWebIdentityIdPDown(t *testing.T) {
	p := newIDP(t, true, "")
	p.srv.Close()
	f, svc := webFixture(t, func(c *Config) { c.OIDCHTTPClient = &http.Client{Timeout: time.Second} })
	url := strings.TrimPrefix(p.issuer, "https://")
	provARN := f.env.AddOIDCProvider(t, url, []string{"sts.amazonaws.com"}, nil)
	role := f.env.AddRole(t, "web", "", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Federated":"`+provARN+`"},"Action":"sts:AssumeRoleWithWebIdentity"}]}`, 0)
	tok := p.token(t, "k1", map[string]any{"iss": p.issuer, "sub": "s", "aud": "sts.amazonaws.com", "exp": f.env.Clock.Now().Add(time.Minute).Unix()})
	_, err := svc.AssumeRoleWithWebIdentity(context.Background(), &AssumeRoleWithWebIdentityInput{RoleArn: role.ARN, RoleSessionName: "pod", WebIdentityToken: tok})
	wantErr(t, err, "IDPCommunicationError", 400, "")
}

func TestWebIdentityStaleKeysSurviveOutage(t *testing.T) {
	p := newIDP(t, true, "example.com")
	f, svc := webFixture(t, func(c *Config) { c.OIDCHTTPClient = dialTo(p.srv) })
	provARN := f.env.AddOIDCProvider(t, "example.com/id/TEST", []string{"sts.amazonaws.com"}, nil)
	role := f.env.AddRole(t, "web", "", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Federated":"`+provARN+`"},"Action":"sts:AssumeRoleWithWebIdentity"}]}`, 0)
	assume := func() error {
		tok := p.token(t, "k1", map[string]any{"iss": p.issuer, "sub": "s", "aud": "sts.amazonaws.com", "exp": f.env.Clock.Now().Add(time.Minute).Unix()})
		_, err := svc.AssumeRoleWithWebIdentity(context.Background(), &AssumeRoleWithWebIdentityInput{RoleArn: role.ARN, RoleSessionName: "pod", WebIdentityToken: tok})
		return err
	}
	if err := assume(); err != nil {
		t.Fatal(err)
	}
	p.srv.Close()
	f.env.Clock.Advance(keySetTTL + time.Minute)
	if err := assume(); err != nil {
		t.Fatalf("with the provider down and the key set stale: %v", err)
	}
	p.addKey(t, "k9", true)
	tok := p.token(t, "k9", map[string]any{"iss": p.issuer, "sub": "s", "aud": "sts.amazonaws.com", "exp": f.env.Clock.Now().Add(time.Minute).Unix()})
	_, err := svc.AssumeRoleWithWebIdentity(context.Background(), &AssumeRoleWithWebIdentityInput{RoleArn: role.ARN, RoleSessionName: "pod", WebIdentityToken: tok})
	wantErr(t, err, "IDPCommunicationError", 400, "")
}
