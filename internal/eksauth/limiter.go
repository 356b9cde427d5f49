package eksauth

import (
	"sync"
	"time"
)

// limiters are the per-cluster token buckets of the exchange rate limit.
// Buckets exist only for clusters that exist (the check comes after the
// cluster lookup), so the map is bounded by the number of clusters.
type limiters struct {
	rate  float64 // tokens per second; 0: unlimited
	burst float64
	mu    sync.Mutex
	m     map[string]*bucket
}

// bucket is one cluster's token bucket.
type bucket struct {
	mu     sync.Mutex
	tokens float64
	last   time.Time
}

// allow takes one token from cluster's bucket.
func (l *limiters) allow(cluster string, now time.Time) bool {
	if l.rate <= 0 {
		return true
	}
	l.mu.Lock()
	b := l.m[cluster]
	if b == nil {
		b = &bucket{tokens: l.burst, last: now}
		l.m[cluster] = b
	}
	l.mu.Unlock()
	b.mu.Lock()
	defer b.mu.Unlock()
	if el := now.Sub(b.last).Seconds(); el > 0 {
		b.tokens = min(l.burst, b.tokens+el*l.rate)
		b.last = now
	}
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}
