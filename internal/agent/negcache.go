package agent

import (
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Negative cache defaults.
const (
	// DefaultNegativeCacheTTL is how long EKS Auth's refusal of a token is
	// answered from memory: long enough that a pod retrying a bad token
	// (or a flood of made-up ones) costs EKS Auth one call per token per
	// TTL, short enough that a fixed association or rotated token is
	// noticed soon (association changes clear it at once).
	DefaultNegativeCacheTTL = 10 * time.Second
	// DefaultNegativeCacheSize bounds the refusals kept. At most about
	// 1 KiB each (the message is cut at 512 bytes), so 4 MiB in all.
	DefaultNegativeCacheSize = 4096
)

// negativeCache remembers EKS Auth's refusals of tokens (4xx answers other
// than throttling), keyed by the token's SHA-256 like the positive cache,
// for a fixed TTL. Every entry lives the same TTL, so insertion order is
// expiry order: a ring of the keys in insertion order evicts the oldest
// (the soonest to expire) when the cache is full, at O(1) per insertion,
// and memory is bounded by size whatever the number of distinct tokens.
type negativeCache struct {
	ttl  time.Duration
	hits prometheus.Counter

	size int

	mu   sync.Mutex
	m    map[tokenHash]negEntry
	ring []negSlot // grows to size, then is reused oldest first
	next int       // the slot the next insertion takes once full
	seq  uint64
}

type negEntry struct {
	err     *upstreamError
	expires int64 // Unix nanoseconds
	seq     uint64
}

type negSlot struct {
	h   tokenHash
	seq uint64
}

// newNegativeCache returns a cache of at most size refusals kept for ttl;
// a zero ttl or size returns nil (disabled), which every method accepts.
func newNegativeCache(ttl time.Duration, size int, m *metrics) *negativeCache {
	if ttl <= 0 || size <= 0 {
		return nil
	}
	n := &negativeCache{ttl: ttl, size: size, m: make(map[tokenHash]negEntry)}
	n.hits = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "podid_agent_negative_cache_hits_total",
		Help: "Requests answered with a refusal EKS Auth gave the same token within the negative cache's TTL.",
	})
	if m != nil && m.reg != nil {
		m.reg.MustRegister(n.hits)
	}
	return n
}

// cacheableRefusal reports whether err is a refusal worth remembering: a
// client error from EKS Auth (invalid, expired or unknown token, access
// denied, no association) and not a request to slow down. Server faults,
// transport failures and throttling are never cached.
func cacheableRefusal(err error) (*upstreamError, bool) {
	var ue *upstreamError
	if !errors.As(err, &ue) {
		return nil, false
	}
	if ue.Status < 400 || ue.Status >= 500 || ue.Status == http.StatusTooManyRequests || isThrottle(err) || ue.Status == http.StatusRequestTimeout {
		return nil, false
	}
	return ue, true
}

// get returns the refusal remembered for h at now, if any.
func (n *negativeCache) get(h *tokenHash, now time.Time) (*upstreamError, bool) {
	if n == nil {
		return nil, false
	}
	n.mu.Lock()
	e, ok := n.m[*h]
	n.mu.Unlock()
	if !ok || now.UnixNano() >= e.expires {
		return nil, false
	}
	n.hits.Inc()
	return e.err, true
}

// put remembers ue for h from now on.
func (n *negativeCache) put(h *tokenHash, ue *upstreamError, now time.Time) {
	if n == nil {
		return
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	n.seq++
	slot := negSlot{h: *h, seq: n.seq}
	if len(n.ring) < n.size {
		n.ring = append(n.ring, slot)
	} else {
		if old := n.ring[n.next]; n.m[old.h].seq == old.seq {
			// The oldest insertion's key still holds that insertion: drop it.
			delete(n.m, old.h)
		}
		n.ring[n.next] = slot
		n.next = (n.next + 1) % n.size
	}
	n.m[*h] = negEntry{err: ue, expires: now.Add(n.ttl).UnixNano(), seq: n.seq}
}

// clear forgets every refusal (an association changed: a token refused for
// want of one may be accepted now).
func (n *negativeCache) clear() {
	if n == nil {
		return
	}
	n.mu.Lock()
	clear(n.m)
	n.mu.Unlock()
}

// len returns the number of refusals held (expired ones included until
// their slot is reused).
func (n *negativeCache) len() int {
	if n == nil {
		return 0
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	return len(n.m)
}
