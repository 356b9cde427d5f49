package eks

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/podid/podid/internal/store"
)

// Index is an in-memory map from (cluster, namespace, service account) to
// the association, for EKS Auth's and the webhook's hot paths. It is built
// from the store's associations and kept current from the store's
// association events (Run). Lookups are a map read under a read lock.
//
// The associations it returns are shared and must not be modified.
type Index struct {
	st store.Store

	mu      sync.RWMutex
	m       map[indexKey]*store.Association
	rev     int64         // the last event revision applied
	changed chan struct{} // closed and replaced whenever rev advances
}

type indexKey struct {
	cluster, namespace, serviceAccount string
}

// indexBatch is how many events one catch-up read applies.
const indexBatch = 1000

// NewIndex loads every association of every cluster. Call Run to keep the
// index current.
func NewIndex(ctx context.Context, st store.Store) (*Index, error) {
	x := &Index{st: st, changed: make(chan struct{})}
	var all []*store.Association
	var rev int64
	err := st.View(ctx, func(tx store.Tx) error {
		var err error
		if rev, err = tx.LatestRevision(); err != nil {
			return err
		}
		all, err = tx.ListAllAssociations()
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("eks: loading association index: %w", err)
	}
	x.m = make(map[indexKey]*store.Association, len(all))
	for _, a := range all {
		x.m[indexKey{a.Cluster, a.Namespace, a.ServiceAccount}] = a
	}
	x.rev = rev
	return x, nil
}

// Lookup returns the association of a service account in a cluster.
func (x *Index) Lookup(cluster, namespace, serviceAccount string) (*store.Association, bool) {
	x.mu.RLock()
	a, ok := x.m[indexKey{cluster, namespace, serviceAccount}]
	x.mu.RUnlock()
	return a, ok
}

// Len returns the number of associations in the index.
func (x *Index) Len() int {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return len(x.m)
}

// Revision returns the revision of the last change the index applied.
func (x *Index) Revision() int64 {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return x.rev
}

// Run applies association events as the store records them, until ctx
// ends (it then returns ctx.Err()) or the store fails. A store failure is
// retried after a short pause, so a transient error does not stop the
// index; Run returns only when ctx ends.
func (x *Index) Run(ctx context.Context) error {
	for {
		if err := x.CatchUp(ctx); err != nil && ctx.Err() == nil {
			// Transient store failure: pause, then retry.
			t := time.NewTimer(200 * time.Millisecond)
			select {
			case <-ctx.Done():
				t.Stop()
				return ctx.Err()
			case <-t.C:
			}
			continue
		}
		if err := x.st.WaitEvents(ctx, x.Revision()); err != nil && ctx.Err() != nil {
			return ctx.Err()
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
}

// CatchUp applies every event recorded after the index's revision.
func (x *Index) CatchUp(ctx context.Context) error {
	for {
		from := x.Revision()
		var events []*store.AssociationEvent
		err := x.st.View(ctx, func(tx store.Tx) error {
			var err error
			events, err = tx.ListAssociationEvents("", from, indexBatch)
			return err
		})
		if err != nil {
			return fmt.Errorf("eks: reading association events: %w", err)
		}
		if len(events) == 0 {
			return nil
		}
		x.apply(events)
		if len(events) < indexBatch {
			return nil
		}
	}
}

// apply applies events in order.
func (x *Index) apply(events []*store.AssociationEvent) {
	x.mu.Lock()
	for _, ev := range events {
		if ev.Revision <= x.rev {
			continue
		}
		a := ev.Association // a copy owned by the index
		k := indexKey{a.Cluster, a.Namespace, a.ServiceAccount}
		switch ev.Type {
		case store.EventCreated, store.EventUpdated:
			x.m[k] = &a
		case store.EventDeleted:
			if cur, ok := x.m[k]; ok && cur.ID == a.ID {
				delete(x.m, k)
			}
		}
		x.rev = ev.Revision
	}
	close(x.changed)
	x.changed = make(chan struct{})
	x.mu.Unlock()
}

// WaitFor blocks until the index has applied revision rev (or a later
// one), or ctx ends. It lets a caller that just changed an association
// read its own write from the index.
func (x *Index) WaitFor(ctx context.Context, rev int64) error {
	for {
		x.mu.RLock()
		done, ch := x.rev >= rev, x.changed
		x.mu.RUnlock()
		if done {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-ch:
		}
	}
}
