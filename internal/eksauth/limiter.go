package eksauth

import (
	"hash/maphash"
	"sync"
	"time"
)

// Fair-limit defaults (see limits below and docs/eks-auth.md).
const (
	// DefaultCallerRefusalRate and DefaultCallerRefusalBurst bound the
	// refused exchanges one calling agent (one node) may cause per
	// cluster: past the burst, its calls are throttled until the bucket
	// refills. Issuances never draw on it, so a legitimate storm from one
	// agent is never throttled by it.
	DefaultCallerRefusalRate  = 20
	DefaultCallerRefusalBurst = 200
	// DefaultPodRate and DefaultPodBurst bound the issuances to one pod
	// (a verified token's pod UID): an agent caches a pod's credentials
	// for hours, so a pod asks a few times per hour at most.
	DefaultPodRate  = 1
	DefaultPodBurst = 20
	// maxBucketsPerShard bounds each keyed limiter's memory: 16 shards of
	// 8,192 buckets (about 100 bytes each with the key).
	maxBucketsPerShard = 8192
	bucketShards       = 16
)

// limits are EKS Auth's fair limits, all per cluster:
//
//   - callers: refusals per calling agent, keyed by the caller's node tag
//     when its session has one, else by its ARN and source address. A call
//     is throttled while its caller's bucket is empty; only refused
//     exchanges take a token, after the fact. A node flooding made-up
//     tokens exhausts its own bucket, never another node's, and
//     legitimate first credentials (issuances) cost it nothing.
//   - cluster: the optional overall cap (Config.RateLimit), taken by
//     every call that passes its caller's check.
//   - pods: issuances per pod UID of a verified token, so that replaying
//     one pod's token cannot make credentials without bound. Keyed only
//     by verified claims: a forged token cannot spend another pod's
//     budget.
type limits struct {
	callers *keyedBuckets
	cluster *keyedBuckets
	pods    *keyedBuckets
}

func newLimits(cfg *Config) limits {
	return limits{
		callers: newKeyedBuckets(cfg.CallerRefusalRate, cfg.CallerRefusalBurst),
		cluster: newKeyedBuckets(cfg.RateLimit, cfg.Burst),
		pods:    newKeyedBuckets(cfg.PodRate, cfg.PodBurst),
	}
}

// keyedBuckets are token buckets by key, sharded, bounded in number:
// a bucket that has refilled to its burst is the same as no bucket, so
// when a shard is full the full (idle) ones are dropped. Should a shard
// still be full of active buckets, a new key goes unlimited rather than
// evicting a bucket that is limiting someone.
type keyedBuckets struct {
	rate  float64 // tokens per second; <= 0: unlimited
	burst float64
	seed  maphash.Seed
	shard [bucketShards]bucketShard
}

type bucketShard struct {
	mu        sync.Mutex
	m         map[string]*bucket
	lastSweep time.Time
	_         [32]byte
}

// bucket is one key's token bucket.
type bucket struct {
	tokens float64
	last   time.Time
}

func newKeyedBuckets(rate, burst float64) *keyedBuckets {
	k := &keyedBuckets{rate: rate, burst: burst, seed: maphash.MakeSeed()}
	for i := range k.shard {
		k.shard[i].m = map[string]*bucket{}
	}
	return k
}

func (k *keyedBuckets) enabled() bool { return k.rate > 0 }

// refill brings b up to now.
func (k *keyedBuckets) refill(b *bucket, now time.Time) {
	if el := now.Sub(b.last).Seconds(); el > 0 {
		b.tokens = min(k.burst, b.tokens+el*k.rate)
		b.last = now
	}
}

// lookup returns key's bucket, creating it (full) when create is set and
// there is room; nil means the key is unlimited (absent or no room).
func (k *keyedBuckets) lookup(s *bucketShard, key string, now time.Time, create bool) *bucket {
	b := s.m[key]
	if b != nil || !create {
		return b
	}
	if len(s.m) >= maxBucketsPerShard {
		if now.Sub(s.lastSweep) < time.Second {
			return nil
		}
		s.lastSweep = now
		for key, b := range s.m {
			if k.refill(b, now); b.tokens >= k.burst {
				delete(s.m, key)
			}
		}
		if len(s.m) >= maxBucketsPerShard {
			return nil
		}
	}
	b = &bucket{tokens: k.burst, last: now}
	s.m[key] = b
	return b
}

func (k *keyedBuckets) shardOf(key string) *bucketShard {
	return &k.shard[maphash.String(k.seed, key)%bucketShards]
}

// has reports whether key's bucket holds a token, taking none.
func (k *keyedBuckets) has(key string, now time.Time) bool {
	if !k.enabled() {
		return true
	}
	s := k.shardOf(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	b := k.lookup(s, key, now, false)
	if b == nil {
		return true
	}
	k.refill(b, now)
	return b.tokens >= 1
}

// take takes a token from key's bucket and reports whether there was one.
func (k *keyedBuckets) take(key string, now time.Time) bool {
	if !k.enabled() {
		return true
	}
	s := k.shardOf(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	b := k.lookup(s, key, now, true)
	if b == nil {
		return true
	}
	k.refill(b, now)
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// charge takes a token from key's bucket, if it has one.
func (k *keyedBuckets) charge(key string, now time.Time) { k.take(key, now) }

// len is the number of buckets held.
func (k *keyedBuckets) len() int {
	n := 0
	for i := range k.shard {
		s := &k.shard[i]
		s.mu.Lock()
		n += len(s.m)
		s.mu.Unlock()
	}
	return n
}
