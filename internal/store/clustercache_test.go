package store_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/podid/podid/internal/store"
	"github.com/podid/podid/internal/store/sqlite"
	"github.com/podid/podid/internal/testclock"
)

// TestClusterCache: answers, misses included, are kept for the TTL and
// read again after it; a store error is returned as is.
func TestClusterCache(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "podid.db"))
	if err != nil {
		t.Fatal(err)
	}
	clock := testclock.New(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	cc := store.NewClusterCache(st, time.Second, clock.Now)
	put := func(c *store.Cluster) {
		t.Helper()
		if err := st.Update(ctx, func(tx store.Tx) error { return tx.CreateCluster(c) }); err != nil {
			t.Fatal(err)
		}
	}
	steps := []struct {
		name    string
		do      func()
		cluster string
		wantTag string // "" with wantErr
		wantErr error
	}{
		{name: "miss", cluster: "c1", wantErr: store.ErrNotFound},
		{name: "created within the TTL: still a miss", do: func() {
			put(&store.Cluster{Name: "c1", Kind: store.ClusterExternal, CreatedAt: clock.Now(), Tags: map[string]string{"k": "v1"}})
		}, cluster: "c1", wantErr: store.ErrNotFound},
		{name: "after the TTL: read again", do: func() { clock.Advance(time.Second) }, cluster: "c1", wantTag: "v1"},
		{name: "deleted within the TTL: still cached", do: func() {
			if err := st.Update(ctx, func(tx store.Tx) error { return tx.DeleteCluster("c1") }); err != nil {
				t.Fatal(err)
			}
			clock.Advance(999 * time.Millisecond)
		}, cluster: "c1", wantTag: "v1"},
		{name: "deleted after the TTL", do: func() { clock.Advance(time.Millisecond) }, cluster: "c1", wantErr: store.ErrNotFound},
		{name: "clock set back: read again", do: func() {
			put(&store.Cluster{Name: "c1", Kind: store.ClusterExternal, CreatedAt: clock.Now(), Tags: map[string]string{"k": "v2"}})
			clock.Advance(-time.Hour)
		}, cluster: "c1", wantTag: "v2"},
	}
	for _, s := range steps {
		if s.do != nil {
			s.do()
		}
		c, err := cc.Get(ctx, s.cluster)
		switch {
		case s.wantErr != nil:
			if !errors.Is(err, s.wantErr) || c != nil {
				t.Fatalf("%s: Get = %+v, %v; want %v", s.name, c, err, s.wantErr)
			}
		case err != nil || c.Tags["k"] != s.wantTag:
			t.Fatalf("%s: Get = %+v, %v; want tag %q", s.name, c, err, s.wantTag)
		}
	}

	// A store error (here: the store is closed) is returned as is.
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Hour)
	for i := 0; i < 2; i++ {
		if _, err := cc.Get(ctx, "c1"); err == nil || errors.Is(err, store.ErrNotFound) {
			t.Fatalf("Get on a closed store = %v, want its error", err)
		}
	}
}
