package agent

import (
	"container/heap"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// minRemaining is the least credential lifetime the agent serves or
// stores: with less left, an SDK would refresh again at once (the official
// agent uses the same 15 s).
const minRemaining = 15 * time.Second

// tokensPerEntry is how many verified tokens of one pod stay recognized:
// the current one and the one kubelet rotated away from.
const tokensPerEntry = 2

// indexShards spreads the token index over independently locked maps.
const indexShards = 16

// errShortLived is returned when EKS Auth hands out credentials that are
// (nearly) expired.
var errShortLived = errors.New("fetched credentials are expired or will expire within the next 15 seconds")

// credSet is one set of credentials, serialized once for every hit. It is
// immutable after construction.
type credSet struct {
	body          []byte
	contentLength [1]string // a header value, shared by every hit
	expires       int64     // Unix nanoseconds
	associationID string
}

// credentialsJSON is the body the official agent sends, field for field.
type credentialsJSON struct {
	AccessKeyID     string `json:"AccessKeyId,omitempty"`
	SecretAccessKey string `json:"SecretAccessKey,omitempty"`
	Token           string `json:"Token,omitempty"`
	AccountID       string `json:"AccountId,omitempty"`
	Expiration      string `json:"Expiration,omitempty"`
}

// newCredSet serializes an EKS Auth answer for pods.
func newCredSet(res *assumeResult, now time.Time) (*credSet, error) {
	if !res.Expiration.After(now.Add(minRemaining)) {
		return nil, errShortLived
	}
	body, err := json.Marshal(credentialsJSON{
		AccessKeyID:     res.AccessKeyID,
		SecretAccessKey: res.SecretAccessKey,
		Token:           res.SessionToken,
		AccountID:       res.AccountID,
		Expiration:      res.Expiration.UTC().Format(time.RFC3339Nano),
	})
	if err != nil {
		return nil, fmt.Errorf("encode credentials: %w", err)
	}
	return &credSet{
		body:          body,
		contentLength: [1]string{strconv.Itoa(len(body))},
		expires:       res.Expiration.UnixNano(),
		associationID: res.AssociationID,
	}, nil
}

// usable reports whether cs may be served at now (Unix nanoseconds).
func (cs *credSet) usable(now int64) bool {
	return cs != nil && now+int64(minRemaining) < cs.expires
}

// tokenHash is the SHA-256 of a token that EKS Auth (or the configured
// verifier) accepted. It keys the index that single-flight calls, the
// negative cache and a token missing from the fast index (fastShard) use.
type tokenHash [32]byte

// tokenRef points a verified token at its entry.
type tokenRef struct {
	entry *entry
	exp   int64  // the token's exp, Unix seconds; 0 if it has none
	tok   string // the verified token itself, compared in constant time on a hit
	fast  uint64 // its key in the fast index
}

// entry is the cache's record for one pod.
type entry struct {
	key  podKey
	cur  atomic.Pointer[credSet] // nil once removed
	used atomic.Int64            // Unix seconds of the last hit

	// Guarded by cache.mu.
	token      string // the newest verified token, used to refresh
	tokenExp   int64
	hashes     [tokensPerEntry]tokenHash // verified tokens, oldest first
	nhashes    int
	due        int64 // Unix nanoseconds the scheduler next looks at it
	heapIdx    int
	refreshing bool
}

// touch records a hit without writing the shared cache line on every one.
func (e *entry) touch(sec int64) {
	if e.used.Load() != sec {
		e.used.Store(sec)
	}
}

type indexShard struct {
	mu sync.RWMutex
	m  map[tokenHash]*tokenRef
	_  [40]byte // keep shards on separate cache lines
}

// fastShard indexes the same tokenRefs by a keyed 64-bit hash of the
// token (hash/maphash, a per-process random seed), for the hit path: it
// costs a fraction of SHA-256 over a 1.1 KB token. The key only picks a
// candidate; a hit still requires the request's token to equal the
// verified token byte for byte, compared in constant time (tokenEqual).
// A colliding token falls through to the SHA-256 index.
type fastShard struct {
	mu sync.RWMutex
	m  map[uint64]*tokenRef
	_  [32]byte // keep shards on separate cache lines
}

// flight is one EKS Auth call that every caller with the same token waits
// for. Its result fields are written before done is closed.
type flight struct {
	done     chan struct{}
	cs       *credSet
	err      error
	purgeSeq uint64
}

// outcome classifies how a request was answered; it labels metrics.
type outcome int

const (
	outcomeHit      outcome = iota // served from the cache
	outcomeMiss                    // this request's EKS Auth call
	outcomeJoined                  // waited on another request's call
	outcomeVerified                // rotated token verified locally, served from the cache
	outcomeRejected                // refused locally (Host, token shape)
	outcomeError                   // EKS Auth or transport error
	outcomeCanceled                // the caller went away first
	numOutcomes
)

var outcomeNames = [numOutcomes]string{"hit", "miss", "joined", "verified", "rejected", "error", "canceled"}

// cache holds credentials per pod, shared by every listener.
type cache struct {
	up              assumer
	verifier        TokenVerifier
	now             func() time.Time
	maxSize         int
	maxRetention    time.Duration
	upstreamTimeout time.Duration
	metrics         *metrics
	log             *slog.Logger
	neg             *negativeCache // nil: refusals are not remembered

	index    [indexShards]indexShard
	fast     [indexShards]fastShard
	fastSeed maphash.Seed

	mu      sync.Mutex
	pods    map[podKey]*entry
	flights map[tokenHash]*flight
	sched   entryHeap
	purges  uint64

	wake     chan struct{}
	refreshQ chan *entry
}

func newCache(up assumer, cfg *Config, m *metrics, log *slog.Logger) *cache {
	c := &cache{
		up:              up,
		verifier:        cfg.TokenVerifier,
		now:             cfg.Now,
		maxSize:         cfg.MaxCacheSize,
		maxRetention:    cfg.MaxRetention,
		upstreamTimeout: cfg.UpstreamTimeout,
		metrics:         m,
		log:             log,
		pods:            make(map[podKey]*entry),
		flights:         make(map[tokenHash]*flight),
		wake:            make(chan struct{}, 1),
		refreshQ:        make(chan *entry, 1024),
		neg:             newNegativeCache(cfg.NegativeCacheTTL, cfg.NegativeCacheSize, m),
	}
	if c.maxRetention <= 0 {
		c.maxSize = 0 // the official agent: zero retention disables the cache
	}
	for i := range c.index {
		c.index[i].m = make(map[tokenHash]*tokenRef)
		c.fast[i].m = make(map[uint64]*tokenRef)
	}
	c.fastSeed = maphash.MakeSeed()
	return c
}

func (c *cache) shard(h *tokenHash) *indexShard { return &c.index[h[0]%indexShards] }

// fastKey is tok's key in the fast index.
func (c *cache) fastKey(tok string) uint64 { return maphash.String(c.fastSeed, tok) }

func (c *cache) fastShard(k uint64) *fastShard { return &c.fast[k%indexShards] }

// lookupToken is the hit path without SHA-256: the fast index proposes a
// verified token, and only an exact match (constant-time) is served. It
// answers nil when the token is not there or its credentials are not
// usable; the caller then falls back to the SHA-256 index.
func (c *cache) lookupToken(tok string, now time.Time) *credSet {
	k := c.fastKey(tok)
	s := c.fastShard(k)
	s.mu.RLock()
	ref := s.m[k]
	s.mu.RUnlock()
	if ref == nil || !tokenEqual(ref.tok, tok) {
		return nil
	}
	return ref.serve(now)
}

// tokenEqual reports whether a and b are the same token, in time that
// depends only on their lengths (which are not secret).
func tokenEqual(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	var v uint64
	i := 0
	for ; i+8 <= len(a); i += 8 {
		v |= le64(a[i:]) ^ le64(b[i:])
	}
	for ; i < len(a); i++ {
		v |= uint64(a[i] ^ b[i])
	}
	return v == 0
}

func le64(s string) uint64 {
	_ = s[7]
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
}

// lookup is the hit path: a verified token whose entry holds usable
// credentials. It takes no cache-wide lock.
func (c *cache) lookup(h *tokenHash, now time.Time) *credSet {
	s := c.shard(h)
	s.mu.RLock()
	ref := s.m[*h]
	s.mu.RUnlock()
	if ref == nil {
		return nil
	}
	return ref.serve(now)
}

// serve returns ref's credentials if the token has not expired and they
// are usable at now.
func (ref *tokenRef) serve(now time.Time) *credSet {
	sec := now.Unix()
	if ref.exp != 0 && sec >= ref.exp {
		return nil
	}
	cs := ref.entry.cur.Load()
	if !cs.usable(now.UnixNano()) {
		return nil
	}
	ref.entry.touch(sec)
	return cs
}

// get answers a request whose token missed the index: it joins the call
// already in flight for this exact token, serves a rotated token the
// verifier accepts, or starts the call. Callers are keyed by the token's
// hash, never by its unverified claims, so a forged token cannot share
// another token's call or entry.
func (c *cache) get(ctx context.Context, tok string, h tokenHash, cl *claims) (*credSet, outcome, error) {
	if cs, ok := c.tryVerified(ctx, tok, &h, cl); ok {
		return cs, outcomeVerified, nil
	}
	c.mu.Lock()
	if cs := c.lookup(&h, c.now()); cs != nil {
		c.mu.Unlock()
		return cs, outcomeHit, nil
	}
	if f := c.flights[h]; f != nil {
		c.mu.Unlock()
		c.metrics.joins.Inc()
		return c.wait(ctx, f, outcomeJoined)
	}
	f := &flight{done: make(chan struct{}), purgeSeq: c.purges}
	c.flights[h] = f
	c.mu.Unlock()
	c.metrics.misses.Inc()

	// The call outlives a caller that gives up, so that its answer is
	// cached for the SDK's retry; it keeps the caller's values, not its
	// cancellation.
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.upstreamTimeout)
	go func() {
		defer cancel()
		c.runFlight(fctx, f, tok, &h, cl)
	}()
	return c.wait(ctx, f, outcomeMiss)
}

func (c *cache) wait(ctx context.Context, f *flight, o outcome) (*credSet, outcome, error) {
	select {
	case <-f.done:
		if f.err != nil {
			return nil, outcomeError, f.err
		}
		return f.cs, o, nil
	case <-ctx.Done():
		return nil, outcomeCanceled, ctx.Err()
	}
}

func (c *cache) runFlight(ctx context.Context, f *flight, tok string, h *tokenHash, cl *claims) {
	res, err := c.up.assume(ctx, tok, callRequest)
	var cs *credSet
	if err == nil {
		cs, err = newCredSet(res, c.now())
	}
	c.mu.Lock()
	delete(c.flights, *h)
	// A purge that ran during the call may concern this pod: answer the
	// waiters, but do not cache what may already be stale.
	if err == nil && c.maxSize > 0 && c.purges == f.purgeSeq {
		c.storeLocked(res, cs, tok, h, cl)
	}
	if ue, ok := cacheableRefusal(err); ok && c.purges == f.purgeSeq {
		c.neg.put(h, ue, c.now())
	}
	c.mu.Unlock()
	f.cs, f.err = cs, err
	close(f.done)
}

// tryVerified serves a token that is not yet in the index from its pod's
// entry when the configured TokenVerifier accepts it. Without a verifier
// it never succeeds: an unverified token is always sent to EKS Auth.
func (c *cache) tryVerified(ctx context.Context, tok string, h *tokenHash, cl *claims) (*credSet, bool) {
	if c.verifier == nil || c.maxSize == 0 || cl.PodUID == "" {
		return nil, false
	}
	c.mu.Lock()
	e := c.pods[cl.key()]
	c.mu.Unlock()
	if e == nil || !e.cur.Load().usable(c.now().UnixNano()) {
		return nil, false
	}
	id, err := c.verifier.VerifyToken(ctx, tok)
	if err != nil {
		c.log.Debug("token verifier refused a rotated token", "namespace", cl.Namespace, "serviceAccount", cl.ServiceAccount, "error", err)
		return nil, false
	}
	if id.PodUID == "" || podKey(id) != e.key {
		return nil, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	cs := e.cur.Load()
	if c.pods[e.key] != e || !cs.usable(c.now().UnixNano()) {
		return nil, false
	}
	c.addTokenLocked(e, h, tok, cl.Exp)
	return cs, true
}

// storeLocked records a successful exchange of tok.
func (c *cache) storeLocked(res *assumeResult, cs *credSet, tok string, h *tokenHash, cl *claims) {
	key := cl.key()
	// EKS Auth's answer names the subject authoritatively.
	if res.Namespace != "" && res.ServiceAccount != "" {
		key.Namespace, key.ServiceAccount = res.Namespace, res.ServiceAccount
	}
	e := c.pods[key]
	if e == nil {
		if len(c.pods) >= c.maxSize {
			c.evictOneLocked()
		}
		e = &entry{key: key, heapIdx: -1}
		c.pods[key] = e
	}
	e.cur.Store(cs)
	now := c.now()
	e.touch(now.Unix())
	c.addTokenLocked(e, h, tok, cl.Exp)
	c.scheduleLocked(e, c.refreshAt(cs, now))
}

// addTokenLocked makes h a recognized token of e, forgetting the oldest
// one beyond tokensPerEntry.
func (c *cache) addTokenLocked(e *entry, h *tokenHash, tok string, exp int64) {
	known := false
	for _, x := range e.hashes[:e.nhashes] {
		if x == *h {
			known = true
		}
	}
	if !known {
		if e.nhashes == tokensPerEntry {
			c.unindex(e, &e.hashes[0])
			copy(e.hashes[:], e.hashes[1:])
			e.nhashes--
		}
		e.hashes[e.nhashes] = *h
		e.nhashes++
	}
	ref := &tokenRef{entry: e, exp: exp, tok: tok, fast: c.fastKey(tok)}
	s := c.shard(h)
	s.mu.Lock()
	old := s.m[*h]
	s.m[*h] = ref
	s.mu.Unlock()
	if old != nil {
		c.unindexFast(old)
	}
	f := c.fastShard(ref.fast)
	f.mu.Lock()
	if cur := f.m[ref.fast]; cur == nil || cur == old || cur.tok == tok {
		f.m[ref.fast] = ref // else another token collides: it keeps the slot
	}
	f.mu.Unlock()
	if e.token == "" || exp == 0 || exp >= e.tokenExp {
		e.token, e.tokenExp = tok, exp
	}
}

func (c *cache) unindex(e *entry, h *tokenHash) {
	s := c.shard(h)
	s.mu.Lock()
	ref := s.m[*h]
	if ref != nil && ref.entry == e {
		delete(s.m, *h)
	} else {
		ref = nil
	}
	s.mu.Unlock()
	if ref != nil {
		c.unindexFast(ref)
	}
}

// unindexFast removes ref from the fast index if it still holds the slot.
func (c *cache) unindexFast(ref *tokenRef) {
	f := c.fastShard(ref.fast)
	f.mu.Lock()
	if f.m[ref.fast] == ref {
		delete(f.m, ref.fast)
	}
	f.mu.Unlock()
}

// removeLocked drops e and everything that points at it.
func (c *cache) removeLocked(e *entry, reason string) {
	if c.pods[e.key] == e {
		delete(c.pods, e.key)
	}
	for i := range e.nhashes {
		c.unindex(e, &e.hashes[i])
	}
	e.nhashes = 0
	e.token = ""
	if e.heapIdx >= 0 {
		heap.Remove(&c.sched, e.heapIdx)
	}
	e.cur.Store(nil)
	c.metrics.evictions.WithLabelValues(reason).Inc()
}

// evictOneLocked drops the least recently used of a sample of entries
// (map iteration starts at a random point), so eviction costs the same at
// any cache size and a busy entry outlives an idle one.
func (c *cache) evictOneLocked() {
	var victim *entry
	n := 0
	for _, e := range c.pods {
		if victim == nil || e.used.Load() < victim.used.Load() {
			victim = e
		}
		if n++; n == 32 {
			break
		}
	}
	if victim != nil {
		c.removeLocked(victim, "size")
	}
}

// purge removes every entry match selects and voids the calls in flight,
// so nothing fetched before the change is cached after it.
func (c *cache) purge(match func(*entry) bool, reason string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.purges++
	n := 0
	for _, e := range c.pods {
		if match(e) {
			c.removeLocked(e, reason)
			n++
		}
	}
	return n
}

// size returns the number of cached pods.
func (c *cache) size() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.pods)
}

// refreshAt picks when to renew cs, fetched at now: half its lifetime,
// capped by the retention limit, minus up to a quarter as jitter so that
// entries fetched together do not renew together.
func (c *cache) refreshAt(cs *credSet, now time.Time) int64 {
	life := time.Duration(cs.expires - now.UnixNano())
	d := min(life/2, c.maxRetention)
	d -= time.Duration(rand.Int64N(int64(d/4) + 1))
	return now.Add(d).UnixNano()
}

// scheduleLocked sets when the scheduler next looks at e.
func (c *cache) scheduleLocked(e *entry, due int64) {
	e.due = due
	if e.heapIdx >= 0 {
		heap.Fix(&c.sched, e.heapIdx)
	} else {
		heap.Push(&c.sched, e)
	}
	if c.sched[0] == e {
		select {
		case c.wake <- struct{}{}:
		default:
		}
	}
}

// entryHeap orders entries by due time.
type entryHeap []*entry

func (h entryHeap) Len() int           { return len(h) }
func (h entryHeap) Less(i, j int) bool { return h[i].due < h[j].due }
func (h entryHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].heapIdx = i
	h[j].heapIdx = j
}
func (h *entryHeap) Push(x any) {
	e := x.(*entry)
	e.heapIdx = len(*h)
	*h = append(*h, e)
}
func (h *entryHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	e.heapIdx = -1
	return e
}
