package eksauth

import (
	"context"
	"crypto/sha256"
	"errors"
	"net/http"
	"sync"

	"github.com/podid/podid/internal/k8s"
	"github.com/podid/podid/internal/store"
)

// ClusterKeys resolves a cluster's token-signing keys: podid's own keys for
// hosted clusters, the inline JWKS or the issuer's discovery document for
// external ones. Remote key sets are cached per issuer.
type ClusterKeys struct {
	// Hosted returns the key source of a podid-hosted cluster.
	Hosted func(ctx context.Context, cluster string) (k8s.KeySource, error)
	// Client fetches discovery documents and key sets.
	Client *http.Client

	mu     sync.Mutex
	remote map[string]*k8s.RemoteKeys
	inline map[string]inlineKeys
}

type inlineKeys struct {
	sum  [32]byte
	keys *k8s.StaticKeys
}

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
			return nil, err
		}
		if ck.inline == nil {
			ck.inline = map[string]inlineKeys{}
		}
		ck.inline[c.Name] = inlineKeys{sum: sum, keys: keys}
		return keys, nil
	}
	if c.IssuerURL == "" {
		return nil, errors.New("cluster has neither an issuer URL nor a JWKS")
	}
	rk, ok := ck.remote[c.IssuerURL]
	if !ok {
		rk = k8s.NewRemoteKeys(c.IssuerURL, ck.Client)
		if ck.remote == nil {
			ck.remote = map[string]*k8s.RemoteKeys{}
		}
		ck.remote[c.IssuerURL] = rk
	}
	return rk, nil
}
