package broker

import (
	"crypto/sha256"
	"encoding/binary"
	"sync"
	"time"

	"github.com/podid/podid/internal/eksauth"
)

// cache keeps issued credentials for reuse by the same workload: while an
// entry is younger than the reuse window and further than the margin from
// expiring, the same request gets the same credentials without an AWS
// call. Keys are hashes of every input of the AssumeRole call except the
// session name, so they are per (association, pod): the role, the six
// session tags (cluster, namespace, service account, pod name and UID),
// the session policy and, for the second hop, the first hop's key.
type cache struct {
	mu      sync.Mutex
	m       map[string]cacheEntry
	reuse   time.Duration
	margin  time.Duration
	max     int
	inserts int
}

type cacheEntry struct {
	creds  *eksauth.Credentials
	issued time.Time
}

func newCache(reuse, margin time.Duration, max int) *cache {
	return &cache{m: map[string]cacheEntry{}, reuse: reuse, margin: margin, max: max}
}

// fresh reports whether an entry may still be handed out at now.
func (c *cache) fresh(e cacheEntry, now time.Time) bool {
	age := now.Sub(e.issued)
	return age >= 0 && age < c.reuse && e.creds.Expiration.Sub(now) > c.margin
}

// get returns a copy of the fresh entry for key.
func (c *cache) get(key string, now time.Time) (*eksauth.Credentials, bool) {
	c.mu.Lock()
	e, ok := c.m[key]
	c.mu.Unlock()
	if !ok || !c.fresh(e, now) {
		return nil, false
	}
	cp := *e.creds
	return &cp, true
}

// put stores creds issued at now. Every 1024 inserts, and whenever the
// cache is full, it drops the entries that are no longer fresh; if it is
// still more than 7/8 full it then drops arbitrary ones down to 7/8, so
// a full cache pays for one sweep per max/8 inserts.
func (c *cache) put(key string, creds *eksauth.Credentials, now time.Time) {
	cp := *creds
	c.mu.Lock()
	defer c.mu.Unlock()
	c.inserts++
	if len(c.m) >= c.max || c.inserts%1024 == 0 {
		for k, e := range c.m {
			if !c.fresh(e, now) {
				delete(c.m, k)
			}
		}
		trim(c.m, c.max)
	}
	c.m[key] = cacheEntry{creds: &cp, issued: now}
}

// trim deletes arbitrary entries of a map that is more than 7/8 of max
// full, down to 7/8.
func trim[V any](m map[string]V, max int) {
	keep := max - max/8 - 1
	if len(m) <= keep {
		return
	}
	for k := range m {
		delete(m, k)
		if len(m) <= keep {
			return
		}
	}
}

func (c *cache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m)
}

// keyHasher builds cache keys: the SHA-256 of length-prefixed fields, so
// no two different field lists collide by concatenation.
type keyHasher struct{ buf []byte }

func newKey(kind string) *keyHasher {
	k := &keyHasher{buf: make([]byte, 0, 512)}
	return k.add(kind)
}

func (k *keyHasher) add(fields ...string) *keyHasher {
	for _, f := range fields {
		k.buf = binary.BigEndian.AppendUint64(k.buf, uint64(len(f)))
		k.buf = append(k.buf, f...)
	}
	return k
}

func (k *keyHasher) sum() string {
	s := sha256.Sum256(k.buf)
	return string(s[:])
}

// firstHopKey is the cache key of a first-hop AssumeRole.
func firstHopKey(in *eksauth.AssumeInput, sourceIdentity string) string {
	k := newKey("first").add(in.RoleARN, in.Policy, in.ExternalID, in.SourceARN, sourceIdentity, in.Duration.String())
	k.add(tagFields(in)...)
	return k.sum()
}

// secondHopKey is the cache key of a chained AssumeRole made with the
// session whose access key is fromKey.
func secondHopKey(fromKey string, in *eksauth.AssumeInput) string {
	k := newKey("second").add(fromKey, in.RoleARN, in.Policy, in.ExternalID, in.Duration.String())
	k.add(tagFields(in)...)
	return k.sum()
}

func tagFields(in *eksauth.AssumeInput) []string {
	f := make([]string, 0, 2*len(in.Tags)+len(in.TransitiveTagKeys)+2)
	f = append(f, "tags")
	for _, t := range in.Tags {
		f = append(f, t.Key, t.Value)
	}
	f = append(f, "transitive")
	f = append(f, in.TransitiveTagKeys...)
	return f
}
