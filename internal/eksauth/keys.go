package eksauth

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/podid/podid/internal/k8s"
	"github.com/podid/podid/internal/store"
)

// ClusterKeys resolves a cluster's token-signing keys: podid's own keys for
// hosted clusters, the inline JWKS or the issuer's discovery document for
// external ones. Remote key sets are cached per issuer (for MaxAge), and
// refetched when a token names an unknown key ID, at most once per
// MinRefresh. Discovery documents and key sets are fetched over https
// only; plain http is accepted for loopback hosts when AllowHTTPLoopbackIssuers
// is set (local mode, tests).
type ClusterKeys struct {
	// Hosted returns the key source of a podid-hosted cluster.
	Hosted func(ctx context.Context, cluster string) (k8s.KeySource, error)
	// Client fetches discovery documents and key sets (its Timeout bounds
	// each fetch; nil: a client with a 5 s timeout).
	Client *http.Client
	// AllowHTTPLoopbackIssuers accepts http:// issuer and jwks_uri URLs whose
	// host is a loopback address or "localhost".
	AllowHTTPLoopbackIssuers bool
	// MinRefresh and MaxAge tune the remote caches (defaults: 10 s, 1 h).
	MinRefresh time.Duration
	MaxAge     time.Duration
	// Now is the clock of the remote caches (time.Now when nil).
	Now func() time.Time

	mu     sync.Mutex
	client *http.Client
	remote map[string]*k8s.RemoteKeys
	inline map[string]inlineKeys
}

type inlineKeys struct {
	sum  [32]byte
	keys *k8s.StaticKeys
}

// maxRemoteIssuers bounds the remote caches (one per distinct issuer URL).
const maxRemoteIssuers = 4096

// KeySource implements KeySources.
func (ck *ClusterKeys) KeySource(ctx context.Context, c *store.Cluster) (k8s.KeySource, error) {
	if c.Kind == store.ClusterHosted {
		if ck.Hosted == nil {
			return nil, errors.New("no key source for hosted clusters")
		}
		return ck.Hosted(ctx, c.Name)
	}
	ck.mu.Lock()
	defer ck.mu.Unlock()
	if c.JWKS != "" {
		sum := sha256.Sum256([]byte(c.JWKS))
		if e, ok := ck.inline[c.Name]; ok && e.sum == sum {
			return e.keys, nil
		}
		keys, err := k8s.ParseJWKS([]byte(c.JWKS))
		if err != nil {
			return nil, fmt.Errorf("inline JWKS of cluster %s: %w", c.Name, err)
		}
		if ck.inline == nil || len(ck.inline) >= maxRemoteIssuers {
			ck.inline = map[string]inlineKeys{}
		}
		ck.inline[c.Name] = inlineKeys{sum: sum, keys: keys}
		return keys, nil
	}
	if c.IssuerURL == "" {
		return nil, errors.New("cluster has neither an issuer URL nor a JWKS")
	}
	if err := ck.checkURL(c.IssuerURL); err != nil {
		return nil, err
	}
	rk, ok := ck.remote[c.IssuerURL]
	if !ok {
		if ck.client == nil {
			base := ck.Client
			if base == nil {
				base = &http.Client{Timeout: 5 * time.Second}
			}
			guarded := *base
			guarded.Transport = &schemeGuard{base: base.Transport, allowLoopback: ck.AllowHTTPLoopbackIssuers}
			ck.client = &guarded
		}
		rk = k8s.NewRemoteKeys(c.IssuerURL, ck.client)
		if ck.MinRefresh > 0 {
			rk.MinRefresh = ck.MinRefresh
		}
		if ck.MaxAge > 0 {
			rk.MaxAge = ck.MaxAge
		}
		if ck.Now != nil {
			rk.Now = ck.Now
		}
		if ck.remote == nil || len(ck.remote) >= maxRemoteIssuers {
			ck.remote = map[string]*k8s.RemoteKeys{}
		}
		ck.remote[c.IssuerURL] = rk
	}
	return rk, nil
}

func (ck *ClusterKeys) checkURL(raw string) error {
	return checkFetchURL(raw, ck.AllowHTTPLoopbackIssuers)
}

// checkFetchURL allows https URLs, and http URLs of loopback hosts when
// allowLoopback is set.
func checkFetchURL(raw string, allowLoopback bool) error {
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return fmt.Errorf("%q is not an absolute URL", raw)
	}
	switch strings.ToLower(scheme) {
	case "https":
		return nil
	case "http":
		host := rest
		if i := strings.IndexAny(host, "/?#"); i >= 0 {
			host = host[:i]
		}
		if i := strings.LastIndexByte(host, '@'); i >= 0 {
			host = host[i+1:]
		}
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		host = strings.Trim(host, "[]")
		if allowLoopback && isLoopbackHost(host) {
			return nil
		}
		return fmt.Errorf("refusing to fetch signing keys over plain http from %s (https is required)", host)
	}
	return fmt.Errorf("unsupported URL scheme %q", scheme)
}

func isLoopbackHost(h string) bool {
	if strings.EqualFold(h, "localhost") {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// schemeGuard refuses requests (including redirects and the jwks_uri a
// discovery document names) that checkFetchURL does not allow.
type schemeGuard struct {
	base          http.RoundTripper
	allowLoopback bool
}

func (g *schemeGuard) RoundTrip(r *http.Request) (*http.Response, error) {
	if err := checkFetchURL(r.URL.String(), g.allowLoopback); err != nil {
		if r.Body != nil {
			r.Body.Close()
		}
		return nil, err
	}
	base := g.base
	if base == nil {
		base = http.DefaultTransport
	}
	return base.RoundTrip(r)
}
