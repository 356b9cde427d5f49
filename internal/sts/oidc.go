package sts

import (
	"context"
	"crypto/sha1"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
	"golang.org/x/sync/singleflight"
)

// OIDC key fetching. The key set of an issuer is found through its discovery
// document (ISSUER/.well-known/openid-configuration → jwks_uri), cached, and
// fetched again when it is older than keySetTTL or when a token names a key
// ID the cached set lacks (at most once per minRefetch per issuer, so a
// stream of tokens with bogus key IDs cannot turn into a stream of fetches).
const (
	keySetTTL      = time.Hour
	minRefetch     = 10 * time.Second
	fetchTimeout   = 5 * time.Second
	maxOIDCDocSize = 1 << 20
)

// errThumbprint marks a TLS connection refused because the server's
// certificate chain is neither trusted nor matches a configured thumbprint.
var errThumbprint = errors.New("oidc: certificate matches no configured thumbprint")

// KeySetSource supplies an issuer's key set without a network fetch, e.g.
// for clusters whose service-account issuer is podid itself. ok is false
// when the source does not know the issuer.
type KeySetSource interface {
	KeySet(ctx context.Context, issuer string) (jwks []byte, ok bool, err error)
}

type keySetEntry struct {
	keys      jose.JSONWebKeySet
	fetched   time.Time
	lastFetch time.Time
}

// keyFetcher caches issuers' key sets.
type keyFetcher struct {
	client        *http.Client // injected; nil to build one per fetch
	rootCAs       *x509.CertPool
	allowLoopback bool
	local         KeySetSource
	now           func() time.Time

	mu      sync.Mutex
	entries map[string]*keySetEntry
	group   singleflight.Group
}

// issuerURL checks an iss claim and returns it parsed. Issuers are https
// URLs; http is accepted only for loopback hosts when allowed (tests, dev).
func (f *keyFetcher) issuerURL(iss string) (*url.URL, bool) {
	u, err := url.Parse(iss)
	if err != nil || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return nil, false
	}
	switch u.Scheme {
	case "https":
		return u, true
	case "http":
		if f.allowLoopback && isLoopbackHost(u.Hostname()) {
			return u, true
		}
	}
	return nil, false
}

func isLoopbackHost(h string) bool {
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// keys returns the verification keys of issuer with key ID kid (all keys
// when kid is empty), fetching or refreshing the set as needed.
func (f *keyFetcher) keys(ctx context.Context, issuer, kid string, thumbprints []string) ([]jose.JSONWebKey, error) {
	now := f.now()
	f.mu.Lock()
	e := f.entries[issuer]
	f.mu.Unlock()
	if e != nil && now.Sub(e.fetched) < keySetTTL {
		if ks := pick(&e.keys, kid); len(ks) > 0 {
			return ks, nil
		}
		if now.Sub(e.lastFetch) < minRefetch {
			return nil, nil
		}
	}
	v, err, _ := f.group.Do(issuer, func() (any, error) {
		set, err := f.fetch(ctx, issuer, thumbprints)
		f.mu.Lock()
		defer f.mu.Unlock()
		if f.entries == nil {
			f.entries = map[string]*keySetEntry{}
		}
		old := f.entries[issuer]
		if err != nil {
			// Remember the attempt so that failures are not retried in a
			// loop; entries are replaced, never modified, as readers hold
			// them without the lock.
			if old != nil {
				cp := *old
				cp.lastFetch = now
				f.entries[issuer] = &cp
			}
			return old, err
		}
		ne := &keySetEntry{keys: *set, fetched: now, lastFetch: now}
		f.entries[issuer] = ne
		return ne, nil
	})
	if err != nil {
		// An identity provider that cannot be reached does not invalidate
		// the keys it published before.
		if old, _ := v.(*keySetEntry); old != nil {
			if ks := pick(&old.keys, kid); len(ks) > 0 {
				return ks, nil
			}
		}
		return nil, err
	}
	return pick(&v.(*keySetEntry).keys, kid), nil
}

func pick(set *jose.JSONWebKeySet, kid string) []jose.JSONWebKey {
	if kid == "" {
		var out []jose.JSONWebKey
		for _, k := range set.Keys {
			if k.Use == "" || k.Use == "sig" {
				out = append(out, k)
			}
		}
		return out
	}
	return set.Key(kid)
}

// fetch reads the discovery document and the key set of issuer.
func (f *keyFetcher) fetch(ctx context.Context, issuer string, thumbprints []string) (*jose.JSONWebKeySet, error) {
	ctx, cancel := context.WithTimeout(ctx, fetchTimeout)
	defer cancel()
	if f.local != nil {
		b, ok, err := f.local.KeySet(ctx, issuer)
		if err != nil {
			return nil, fmt.Errorf("oidc: local key set of %s: %w", issuer, err)
		}
		if ok {
			return parseKeySet(b)
		}
	}
	client := f.client
	if client == nil {
		tr := &http.Transport{
			DialTLSContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				return f.dialTLS(ctx, network, addr, thumbprints)
			},
			TLSHandshakeTimeout: fetchTimeout,
		}
		defer tr.CloseIdleConnections()
		client = &http.Client{Transport: tr, CheckRedirect: noRedirects}
	}
	var doc struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	discovery := strings.TrimSuffix(issuer, "/") + "/.well-known/openid-configuration"
	b, err := get(ctx, client, discovery)
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("oidc: discovery document of %s: %w", issuer, err)
	}
	if strings.TrimSuffix(doc.Issuer, "/") != strings.TrimSuffix(issuer, "/") {
		return nil, fmt.Errorf("oidc: discovery document of %s names issuer %q", issuer, doc.Issuer)
	}
	ju, err := url.Parse(doc.JWKSURI)
	if err != nil || ju.Host == "" || (ju.Scheme != "https" && !(ju.Scheme == "http" && f.allowLoopback && isLoopbackHost(ju.Hostname()))) {
		return nil, fmt.Errorf("oidc: discovery document of %s has an unusable jwks_uri", issuer)
	}
	b, err = get(ctx, client, doc.JWKSURI)
	if err != nil {
		return nil, err
	}
	return parseKeySet(b)
}

func parseKeySet(b []byte) (*jose.JSONWebKeySet, error) {
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(b, &set); err != nil {
		return nil, fmt.Errorf("oidc: key set: %w", err)
	}
	return &set, nil
}

func noRedirects(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

func get(ctx context.Context, client *http.Client, u string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("oidc: request %s: %w", u, err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("oidc: get %s: %w", u, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("oidc: get %s: status %d", u, resp.StatusCode)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxOIDCDocSize+1))
	if err != nil {
		return nil, fmt.Errorf("oidc: read %s: %w", u, err)
	}
	if len(b) > maxOIDCDocSize {
		return nil, fmt.Errorf("oidc: %s is larger than %d bytes", u, maxOIDCDocSize)
	}
	return b, nil
}

// dialTLS connects to an identity provider and verifies its server the
// way IAM documents it: a chain that verifies against the trusted roots is
// accepted whatever the thumbprints say; otherwise the SHA-1 thumbprint of
// the last certificate the server presents (the top of its chain) must be
// one of the provider's thumbprints, and the leaf must still name the host.
func (f *keyFetcher) dialTLS(ctx context.Context, network, addr string, thumbprints []string) (net.Conn, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("oidc: dial %s: %w", addr, err)
	}
	raw, err := (&net.Dialer{}).DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	roots := f.rootCAs
	c := tls.Client(raw, &tls.Config{
		ServerName: host,
		MinVersion: tls.VersionTLS12,
		// Verification happens in VerifyConnection, which must see the
		// chain even when it does not verify against the roots.
		InsecureSkipVerify: true,
		VerifyConnection: func(cs tls.ConnectionState) error {
			return verifyIdPChain(cs.PeerCertificates, host, roots, thumbprints)
		},
	})
	if err := c.HandshakeContext(ctx); err != nil {
		raw.Close()
		return nil, err
	}
	return c, nil
}

// verifyIdPChain is the check of tlsConfig, separate for testing.
func verifyIdPChain(certs []*x509.Certificate, host string, roots *x509.CertPool, thumbprints []string) error {
	if len(certs) == 0 {
		return errors.New("oidc: server presented no certificate")
	}
	inter := x509.NewCertPool()
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	_, err := certs[0].Verify(x509.VerifyOptions{DNSName: host, Roots: roots, Intermediates: inter})
	if err == nil {
		return nil
	}
	if herr := certs[0].VerifyHostname(host); herr != nil {
		return herr
	}
	sum := sha1.Sum(certs[len(certs)-1].Raw)
	got := hex.EncodeToString(sum[:])
	for _, t := range thumbprints {
		if strings.EqualFold(t, got) {
			return nil
		}
	}
	return errThumbprint
}
