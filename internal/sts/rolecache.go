package sts

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/podid/podid/internal/store"
)

// DefaultRoleCacheTTL is the recommended RoleCache time-to-live: how long a
// role written by another replica (or another process on the same
// database) may be seen as it was.
const DefaultRoleCacheTTL = time.Second

// maxCachedRoles bounds a RoleCache (unknown names are cached too, as
// misses); a full cache starts over empty.
const maxCachedRoles = 10_000

// RoleCache keeps the roles that AssumeRoleAs reads on every credential
// exchange, so that a storm of exchanges reads each role from the store at
// most once per TTL. Writes through this process invalidate it at once:
// the IAM service's store is wrapped by InvalidatingStore, and STS forgets
// a role it touches. Writes through other replicas are seen within the TTL.
// It is safe for concurrent use.
type RoleCache struct {
	ttl time.Duration
	now func() time.Time

	gen atomic.Uint64
	mu  sync.Mutex
	m   map[string]roleEntry
}

type roleEntry struct {
	role    *store.Role // nil: no such role
	gen     uint64
	fetched time.Time
}

// NewRoleCache returns a cache keeping each role for ttl, on the clock now
// (time.Now when nil).
func NewRoleCache(ttl time.Duration, now func() time.Time) *RoleCache {
	if now == nil {
		now = time.Now
	}
	return &RoleCache{ttl: ttl, now: now, m: map[string]roleEntry{}}
}

// Invalidate drops every cached role.
func (rc *RoleCache) Invalidate() {
	rc.gen.Add(1)
	rc.mu.Lock()
	clear(rc.m)
	rc.mu.Unlock()
}

// roleKey is a role's cache key: its account and name.
func roleKey(account, name string) string { return account + "/" + name }

// forget drops one role.
func (rc *RoleCache) forget(account, name string) {
	rc.mu.Lock()
	delete(rc.m, roleKey(account, name))
	rc.mu.Unlock()
}

// get returns account's role named name, nil if there is none. The role is
// shared: callers must not modify it.
func (rc *RoleCache) get(ctx context.Context, st store.Store, account, name string) (*store.Role, error) {
	now := rc.now()
	gen := rc.gen.Load()
	key := roleKey(account, name)
	rc.mu.Lock()
	e, ok := rc.m[key]
	rc.mu.Unlock()
	if ok && e.gen == gen && now.Sub(e.fetched) < rc.ttl && now.Sub(e.fetched) >= 0 {
		return e.role, nil
	}
	var role *store.Role
	err := st.View(ctx, func(tx store.Tx) error {
		var err error
		role, err = tx.GetRole(account, name)
		if errors.Is(err, store.ErrNotFound) {
			role, err = nil, nil
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	rc.mu.Lock()
	// A write that invalidated the cache while this read ran may not be in
	// what it read: keep it only if no invalidation happened since.
	if rc.gen.Load() == gen {
		if len(rc.m) >= maxCachedRoles {
			clear(rc.m)
		}
		rc.m[key] = roleEntry{role: role, gen: gen, fetched: now}
	}
	rc.mu.Unlock()
	return role, nil
}

// InvalidatingStore returns st wrapped so that every Update drops the
// cached roles once the transaction has ended. Give it to the services
// that write roles (the IAM service).
func (rc *RoleCache) InvalidatingStore(st store.Store) store.Store {
	return &invalidatingStore{Store: st, rc: rc}
}

type invalidatingStore struct {
	store.Store
	rc *RoleCache
}

// Update runs the transaction, then invalidates the cache (whatever the
// outcome: a failed transaction changes nothing, and an extra invalidation
// only costs a re-read).
func (s *invalidatingStore) Update(ctx context.Context, fn func(store.Tx) error) error {
	err := s.Store.Update(ctx, fn)
	s.rc.Invalidate()
	return err
}
