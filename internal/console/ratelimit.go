package console

import (
	"sync"
	"time"
)

// Sign-in limits: every attempt (successful or not) takes a token from its
// source address's bucket and from its user's bucket. A bucket holds burst
// tokens and regains one every per.
const (
	sourceBurst = 10
	sourcePer   = 6 * time.Second // 10 per minute sustained
	userBurst   = 5
	userPer     = 30 * time.Second // 2 per minute sustained
	// maxBuckets bounds each limiter's memory; past it, full buckets are
	// dropped and, if none is, the oldest half.
	maxBuckets = 10000
)

// limiter is a set of token buckets by key. It is per replica: with N
// replicas behind a load balancer an attacker gets at most N times the
// rate, which the user buckets' low rate still makes useless for guessing.
type limiter struct {
	burst float64
	per   time.Duration
	now   func() time.Time

	mu      sync.Mutex
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	at     time.Time
}

func newLimiter(burst int, per time.Duration, now func() time.Time) *limiter {
	return &limiter{burst: float64(burst), per: per, now: now, buckets: map[string]*bucket{}}
}

// allow takes a token from key's bucket; when it is empty it returns false
// and how long until the next token.
func (l *limiter) allow(key string) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	b := l.buckets[key]
	if b == nil {
		if len(l.buckets) >= maxBuckets {
			l.prune(now)
		}
		b = &bucket{tokens: l.burst, at: now}
		l.buckets[key] = b
	}
	l.refill(b, now)
	if b.tokens < 1 {
		wait := time.Duration((1 - b.tokens) * float64(l.per))
		return false, wait
	}
	b.tokens--
	return true, 0
}

func (l *limiter) refill(b *bucket, now time.Time) {
	if el := now.Sub(b.at); el > 0 {
		b.tokens = min(l.burst, b.tokens+float64(el)/float64(l.per))
		b.at = now
	}
}

// prune drops full buckets (they hold no information), then, if the map
// is still full, the least recently refilled half.
func (l *limiter) prune(now time.Time) {
	for k, b := range l.buckets {
		l.refill(b, now)
		if b.tokens >= l.burst {
			delete(l.buckets, k)
		}
	}
	if len(l.buckets) < maxBuckets {
		return
	}
	var oldest time.Time
	for _, b := range l.buckets {
		if oldest.IsZero() || b.at.Before(oldest) {
			oldest = b.at
		}
	}
	mid := oldest.Add(now.Sub(oldest) / 2)
	for k, b := range l.buckets {
		if !b.at.After(mid) {
			delete(l.buckets, k)
		}
	}
}
