package store

import (
	"context"
	"errors"
	"sync"
	"time"
)

// maxCachedClusters bounds a ClusterCache (names of unknown clusters are
// cached too, as misses); a full cache starts over empty.
const maxCachedClusters = 10_000

// ClusterCache reads clusters through a short-lived cache, so that a hot
// path (EKS Auth's issuance, the broker's per-cluster issuer choice) reads
// the store at most once per TTL per cluster name. A created, deleted or
// re-tagged cluster is seen within one TTL. It is safe for concurrent use.
type ClusterCache struct {
	st  Store
	ttl time.Duration
	now func() time.Time

	mu sync.Mutex
	m  map[string]clusterEntry
}

type clusterEntry struct {
	c       *Cluster
	err     error // nil or ErrNotFound
	fetched time.Time
}

// NewClusterCache returns a cache over st keeping each answer for ttl, on
// the clock now (time.Now when nil).
func NewClusterCache(st Store, ttl time.Duration, now func() time.Time) *ClusterCache {
	if now == nil {
		now = time.Now
	}
	return &ClusterCache{st: st, ttl: ttl, now: now, m: map[string]clusterEntry{}}
}

// Get returns the cluster named name, or ErrNotFound (cached as well).
// Other store errors are returned and not cached. The returned cluster is
// shared: callers must not modify it.
func (cc *ClusterCache) Get(ctx context.Context, name string) (*Cluster, error) {
	now := cc.now()
	cc.mu.Lock()
	e, ok := cc.m[name]
	cc.mu.Unlock()
	if ok && now.Sub(e.fetched) < cc.ttl && now.Sub(e.fetched) >= 0 {
		return e.c, e.err
	}
	var c *Cluster
	err := cc.st.View(ctx, func(tx Tx) error {
		var err error
		c, err = tx.GetCluster(name)
		return err
	})
	if err != nil && !errors.Is(err, ErrNotFound) {
		return nil, err
	}
	if err != nil {
		c, err = nil, ErrNotFound
	}
	cc.mu.Lock()
	if len(cc.m) >= maxCachedClusters {
		clear(cc.m)
	}
	cc.m[name] = clusterEntry{c: c, err: err, fetched: now}
	cc.mu.Unlock()
	return c, err
}
