package k8s

import (
	"crypto/sha256"
	"fmt"
	"sync"

	"k8s.io/client-go/rest"
)

// APIAccess is how podid reaches an external cluster's API server.
type APIAccess struct {
	// Endpoint is the API server's https URL.
	Endpoint string
	// CAData is the PEM CA bundle of the API server (nil: the system roots).
	CAData []byte
	// BearerToken authenticates podid to the API server.
	BearerToken string
}

// RESTConfig returns a client-go configuration for the access, sending
// userAgent. Callers set timeouts, rate limits and content types.
func (a *APIAccess) RESTConfig(userAgent string) *rest.Config {
	return &rest.Config{
		Host:            a.Endpoint,
		BearerToken:     a.BearerToken,
		TLSClientConfig: rest.TLSClientConfig{CAData: a.CAData},
		UserAgent:       userAgent,
	}
}

// fingerprint identifies the access: a changed endpoint, CA or token gives
// another fingerprint. Each part is length-prefixed so parts cannot run
// into each other.
func (a *APIAccess) fingerprint() [32]byte {
	h := sha256.New()
	for _, p := range [][]byte{[]byte(a.Endpoint), a.CAData, []byte(a.BearerToken)} {
		fmt.Fprintf(h, "%d:", len(p))
		h.Write(p)
	}
	var out [32]byte
	h.Sum(out[:0])
	return out
}

// ClientCache keeps one client of type C per cluster and builds a new one
// only when the cluster's access changes (a moved endpoint, a new CA, a
// rotated token), so connections to an API server are reused across calls.
// The zero value is ready to use.
type ClientCache[C any] struct {
	mu      sync.Mutex
	clients map[string]cachedClient[C]
}

type cachedClient[C any] struct {
	fingerprint [32]byte
	client      C
}

// Get returns the cluster's client for access, calling build when there is
// none yet or the access changed since it was built.
func (c *ClientCache[C]) Get(cluster string, access *APIAccess, build func(*APIAccess) (C, error)) (C, error) {
	fp := access.fingerprint()
	c.mu.Lock()
	defer c.mu.Unlock()
	if cc, ok := c.clients[cluster]; ok && cc.fingerprint == fp {
		return cc.client, nil
	}
	client, err := build(access)
	if err != nil {
		var zero C
		return zero, fmt.Errorf("client for cluster %s: %w", cluster, err)
	}
	if c.clients == nil {
		c.clients = map[string]cachedClient[C]{}
	}
	c.clients[cluster] = cachedClient[C]{fingerprint: fp, client: client}
	return client, nil
}
