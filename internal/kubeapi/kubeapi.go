// Package kubeapi is how podid reaches the API servers of external
// clusters registered with kubernetesApi: their access (endpoint, CA,
// podid's bearer token) and one client-go client per cluster, rebuilt only
// when that access changes. EKS Auth's TokenReview and the agent add-on's
// installer use it. It is apart from internal/k8s so that token
// verification (which the node agent links) stays free of client-go.
package kubeapi

import (
	"crypto/sha256"
	"fmt"
	"sync"

	"k8s.io/client-go/rest"
)

// Access is how podid reaches an external cluster's API server. It holds
// a credential: never log it.
type Access struct {
	// Endpoint is the API server's https URL.
	Endpoint string
	// CAData is the PEM CA bundle of the API server (nil: the system roots).
	CAData []byte
	// BearerToken authenticates podid to the API server.
	BearerToken string
}

// RESTConfig returns a client-go configuration for the access, sending
// userAgent. Callers set timeouts, rate limits and content types.
func (a *Access) RESTConfig(userAgent string) *rest.Config {
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
func (a *Access) fingerprint() [32]byte {
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
func (c *ClientCache[C]) Get(cluster string, access *Access, build func(*Access) (C, error)) (C, error) {
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
