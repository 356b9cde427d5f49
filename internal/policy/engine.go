package policy

import (
	"container/list"
	"hash/maphash"
	"sync"
)

// DefaultMaxCached is the cache bound NewEngine uses for maxCached <= 0.
const DefaultMaxCached = 4096

// Engine compiles policy documents and caches the results by content, with
// a least-recently-used bound. It is safe for concurrent use.
//
// The cache is keyed by a seeded 64-bit hash of the text (hash/maphash,
// with a seed chosen per Engine) and every hit is confirmed by comparing the
// full text, so two different documents never share an entry. A hit costs a
// hash of the text and one comparison; Compiled.Hash (SHA-256) is computed
// once, on a miss.
type Engine struct {
	seed         maphash.Seed
	mu           sync.Mutex
	max          int
	byHash       map[uint64]*list.Element
	lru          *list.List // of *cacheEntry, most recent first
	hits, misses uint64
}

type cacheEntry struct {
	key uint64
	c   *Compiled
}

// NewEngine returns an Engine that keeps at most maxCached compiled
// policies (DefaultMaxCached when maxCached <= 0).
func NewEngine(maxCached int) *Engine {
	if maxCached <= 0 {
		maxCached = DefaultMaxCached
	}
	return &Engine{seed: maphash.MakeSeed(), max: maxCached, byHash: make(map[uint64]*list.Element), lru: list.New()}
}

// Compile returns the compiled form of doc, from the cache when the same
// text was compiled before. Parse errors are *ValidationError and are not
// cached.
func (e *Engine) Compile(doc string) (*Compiled, error) {
	key := maphash.String(e.seed, doc)
	e.mu.Lock()
	if el, ok := e.byHash[key]; ok {
		if ent := el.Value.(*cacheEntry); ent.c.policy.Text == doc {
			e.lru.MoveToFront(el)
			e.hits++
			e.mu.Unlock()
			return ent.c, nil
		}
	}
	e.misses++
	e.mu.Unlock()

	// Compile outside the lock; a concurrent compile of the same text
	// yields an equivalent value and the first one stored wins.
	c, err := Compile(doc)
	if err != nil {
		return nil, err
	}

	e.mu.Lock()
	defer e.mu.Unlock()
	if el, ok := e.byHash[key]; ok {
		ent := el.Value.(*cacheEntry)
		if ent.c.policy.Text == doc {
			e.lru.MoveToFront(el)
			return ent.c, nil
		}
		// A 64-bit collision between different texts: keep the newer.
		e.lru.Remove(el)
	}
	e.byHash[key] = e.lru.PushFront(&cacheEntry{key: key, c: c})
	for e.lru.Len() > e.max {
		old := e.lru.Back()
		e.lru.Remove(old)
		delete(e.byHash, old.Value.(*cacheEntry).key)
	}
	return c, nil
}

// Len returns the number of cached policies.
func (e *Engine) Len() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.lru.Len()
}

// Stats returns the cache hits and misses so far.
func (e *Engine) Stats() (hits, misses uint64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.hits, e.misses
}
