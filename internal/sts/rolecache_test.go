package sts

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/podid/podid/internal/auth/authtest"
	"github.com/podid/podid/internal/store"
)

// countingStore counts read transactions and can run a hook inside one.
type countingStore struct {
	store.Store
	views  atomic.Int64
	inView func()
}

func (s *countingStore) View(ctx context.Context, fn func(store.Tx) error) error {
	s.views.Add(1)
	return s.Store.View(ctx, func(tx store.Tx) error {
		err := fn(tx)
		if s.inView != nil {
			s.inView()
		}
		return err
	})
}

// TestRoleCache: writes through this process (the invalidating store) are
// seen at once, writes through another replica (the bare store) within the
// TTL, and a read that raced an invalidation is not kept.
func TestRoleCache(t *testing.T) {
	env := authtest.New(t)
	env.AddRole(t, "app", "/", trustAccount, 3600)
	rc := NewRoleCache(time.Second, env.Clock.Now)
	reads := &countingStore{Store: env.Store}
	local := rc.InvalidatingStore(env.Store) // this process's IAM writes
	ctx := context.Background()
	setMax := func(st store.Store, max int) {
		t.Helper()
		err := st.Update(ctx, func(tx store.Tx) error {
			r, err := tx.GetRole(authtest.Account, "app")
			if err != nil {
				return err
			}
			r.MaxSessionDuration = max
			return tx.UpdateRole(r)
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	get := func(name string) *store.Role {
		t.Helper()
		r, err := rc.get(ctx, reads, authtest.Account, name)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	maxOf := func(r *store.Role) int {
		if r == nil {
			return -1
		}
		return r.MaxSessionDuration
	}

	for _, step := range []struct {
		name  string
		do    func()
		role  string
		max   int   // seconds; -1: no such role
		views int64 // store reads so far
	}{
		{"first read", func() {}, "app", 3600, 1},
		{"cached", func() {}, "app", 3600, 1},
		{"unknown role, read", func() {}, "ghost", -1, 2},
		{"unknown role, cached", func() {}, "ghost", -1, 2},
		{"another replica's write: stale within the TTL", func() { setMax(env.Store, 7200) }, "app", 3600, 2},
		{"another replica's write: seen after the TTL", func() { env.Clock.Advance(time.Second) }, "app", 7200, 3},
		{"this process's write: seen at once", func() { setMax(local, 10800) }, "app", 10800, 4},
		{"this process's delete: seen at once", func() {
			if err := local.Update(ctx, func(tx store.Tx) error { return tx.DeleteRole(authtest.Account, "app") }); err != nil {
				t.Fatal(err)
			}
		}, "app", -1, 5},
		{"this process's create: seen at once", func() {
			env.AddRole(t, "app", "/", trustAccount, 3600)
			rc.Invalidate() // env.AddRole writes through the bare store
		}, "app", 3600, 6},
	} {
		step.do()
		if got := maxOf(get(step.role)); got != step.max {
			t.Errorf("%s: MaxSessionDuration %v, want %v", step.name, got, step.max)
		}
		if n := reads.views.Load(); n != step.views {
			t.Errorf("%s: %d store reads, want %d", step.name, n, step.views)
		}
	}

	// A read during which a local write invalidates the cache may predate
	// the write: it is served but not kept.
	reads.inView = func() { rc.Invalidate() }
	env.Clock.Advance(time.Second)
	get("app")
	reads.inView = nil
	before := reads.views.Load()
	get("app")
	if reads.views.Load() != before+1 {
		t.Error("a read that raced an invalidation was cached")
	}
}

// TestAssumeSeesLocalTrustChangeAtOnce: with the cache on, a trust policy
// changed through the invalidating store refuses the next exchange.
func TestAssumeSeesLocalTrustChangeAtOnce(t *testing.T) {
	f := newFixture(t)
	rc := NewRoleCache(time.Minute, f.env.Clock.Now) // long TTL: only invalidation can explain a refusal
	f.svc.roles = rc
	f.env.AddRole(t, "pod", "/", trustEKS, 3600)
	local := rc.InvalidatingStore(f.env.Store)
	ctx := context.Background()
	in := &ServiceAssumeInput{RoleARN: "arn:aws:iam::123456789012:role/pod", SessionName: "s1", ServicePrincipal: "pods.eks.amazonaws.com"}
	setTrust := func(st store.Store, trust string) {
		t.Helper()
		err := st.Update(ctx, func(tx store.Tx) error {
			r, err := tx.GetRole(authtest.Account, "pod")
			if err != nil {
				return err
			}
			r.AssumeRolePolicy = trust
			return tx.UpdateRole(r)
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	// The first assume records the role's last use (and forgets the
	// cached copy); the second caches it.
	for i := range 2 {
		if _, err := f.svc.AssumeRoleAs(ctx, in); err != nil {
			t.Fatalf("assume %d: %v", i, err)
		}
	}
	// Another replica's change is not seen within the TTL: the cache is
	// what answers.
	setTrust(f.env.Store, trustAccount)
	if _, err := f.svc.AssumeRoleAs(ctx, in); err != nil {
		t.Fatalf("assume from the cache: %v", err)
	}
	// This process's change is seen at once.
	setTrust(local, trustAccount) // no longer trusts EKS Auth
	if _, err := f.svc.AssumeRoleAs(ctx, in); err == nil {
		t.Fatal("assume after the trust policy stopped trusting the service: allowed")
	}
}
