package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/podid/podid/internal/store"
)

// eventView is what the suite compares of an event; revisions and times are
// checked separately.
type eventView struct {
	Type        string
	Cluster     string
	Association store.Association
}

func viewsOf(es []*store.AssociationEvent) []eventView {
	out := make([]eventView, 0, len(es))
	for _, e := range es {
		out = append(out, eventView{e.Type, e.Cluster, e.Association})
	}
	return out
}

func listEvents(t *testing.T, s store.Store, cluster string, after int64, limit int) []*store.AssociationEvent {
	t.Helper()
	return mustGet(t, s, func(tx store.Tx) ([]*store.AssociationEvent, error) {
		return tx.ListAssociationEvents(cluster, after, limit)
	})
}

func latest(t *testing.T, s store.Store) int64 {
	t.Helper()
	return mustGet(t, s, func(tx store.Tx) (int64, error) { return tx.LatestRevision() })
}

func testEvents(t *testing.T, s store.Store) {
	if rev := latest(t, s); rev != 0 {
		t.Errorf("LatestRevision of an empty store = %d, want 0", rev)
	}
	if es := listEvents(t, s, "", 0, 0); len(es) != 0 {
		t.Errorf("events of an empty store: %d", len(es))
	}
	createAll(t, s, createCluster, newCluster("c1"), newCluster("c2"))
	if rev := latest(t, s); rev != 0 {
		t.Errorf("clusters must not produce association events; LatestRevision = %d", rev)
	}

	a1 := newAssociation("c1", 1, "default", "app")
	a2 := newAssociation("c2", 2, "kube-system", "agent")
	a1b := *a1
	a1b.RoleARN, a1b.ModifiedAt = "arn:aws:iam::"+acct+":role/v2", at(30)
	a3 := newAssociation("c1", 3, "default", "worker")
	update(t, s, func(tx store.Tx) error { return tx.CreateAssociation(a1) })
	update(t, s, func(tx store.Tx) error { return tx.CreateAssociation(a2) })
	update(t, s, func(tx store.Tx) error { return tx.UpdateAssociation(&a1b) })
	// Several changes in one transaction.
	update(t, s, func(tx store.Tx) error {
		if err := tx.DeleteAssociation("c2", a2.ID); err != nil {
			return err
		}
		return tx.CreateAssociation(a3)
	})

	want := []eventView{
		{store.EventCreated, "c1", *a1},
		{store.EventCreated, "c2", *a2},
		{store.EventUpdated, "c1", a1b},
		{store.EventDeleted, "c2", *a2},
		{store.EventCreated, "c1", *a3},
	}
	all := listEvents(t, s, "", 0, 0)
	checkEqual(t, "events", viewsOf(all), want)
	for i, e := range all {
		if i > 0 && e.Revision <= all[i-1].Revision {
			t.Errorf("revision %d follows %d", e.Revision, all[i-1].Revision)
		}
		if e.Revision <= 0 {
			t.Errorf("revision %d is not positive", e.Revision)
		}
		if e.Time.IsZero() {
			t.Errorf("event %d has no time", e.Revision)
		}
	}
	if len(all) != len(want) {
		return
	}
	if rev := latest(t, s); rev != all[len(all)-1].Revision {
		t.Errorf("LatestRevision = %d, want %d", rev, all[len(all)-1].Revision)
	}

	// Resuming after a revision, per cluster and with a limit.
	checkEqual(t, "after the 2nd", viewsOf(listEvents(t, s, "", all[1].Revision, 0)), want[2:])
	checkEqual(t, "after the 2nd, limit 2", viewsOf(listEvents(t, s, "", all[1].Revision, 2)), want[2:4])
	checkEqual(t, "cluster c1", viewsOf(listEvents(t, s, "c1", 0, 0)), []eventView{want[0], want[2], want[4]})
	checkEqual(t, "cluster c1 after the 3rd", viewsOf(listEvents(t, s, "c1", all[2].Revision, 0)), []eventView{want[4]})
	checkEqual(t, "cluster c2, limit 1", viewsOf(listEvents(t, s, "c2", 0, 1)), []eventView{want[1]})
	checkEqual(t, "after the last", viewsOf(listEvents(t, s, "", all[4].Revision, 0)), []eventView{})
	checkEqual(t, "unknown cluster", viewsOf(listEvents(t, s, "ghost", 0, 0)), []eventView{})

	// Paging through the feed in steps of 2 yields every event once.
	var paged []*store.AssociationEvent
	for after := int64(0); ; {
		page := listEvents(t, s, "", after, 2)
		if len(page) == 0 {
			break
		}
		paged = append(paged, page...)
		after = page[len(page)-1].Revision
	}
	checkEqual(t, "paged feed", viewsOf(paged), want)

	// Failed writes add no events.
	before := latest(t, s)
	wantErr(t, "conflicting create", write(t, s, func(tx store.Tx) error {
		return tx.CreateAssociation(newAssociation("c1", 9, "default", "app"))
	}), store.ErrConflict)
	wantErr(t, "update of a missing association", write(t, s, func(tx store.Tx) error {
		return tx.UpdateAssociation(newAssociation("c1", 8, "x", "y"))
	}), store.ErrNotFound)
	if rev := latest(t, s); rev != before {
		t.Errorf("LatestRevision after failed writes = %d, want %d", rev, before)
	}
}

// testEventsOnClusterDelete: deleting a cluster deletes its associations and
// reports each deletion in the feed, so in-memory indexes drop them.
func testEventsOnClusterDelete(t *testing.T, s store.Store) {
	createAll(t, s, createCluster, newCluster("doomed"), newCluster("kept"))
	a := newAssociation("doomed", 1, "ns", "sa1")
	b := newAssociation("doomed", 2, "ns", "sa2")
	k := newAssociation("kept", 3, "ns", "sa1")
	createAll(t, s, createAssociation, a, b, k)
	rev := latest(t, s)
	update(t, s, func(tx store.Tx) error { return tx.DeleteCluster("doomed") })
	checkEqual(t, "events of DeleteCluster", viewsOf(listEvents(t, s, "", rev, 0)), []eventView{
		{store.EventDeleted, "doomed", *a},
		{store.EventDeleted, "doomed", *b},
	})
	rest := mustGet(t, s, func(tx store.Tx) ([]*store.Association, error) { return tx.ListAllAssociations() })
	checkEqual(t, "associations after DeleteCluster", rest, []*store.Association{k})
	_, err := get(t, s, func(tx store.Tx) (*store.Cluster, error) { return tx.GetCluster("doomed") })
	wantErr(t, "GetCluster after delete", err, store.ErrNotFound)
}

func testWaitEvents(t *testing.T, s store.Store) {
	createAll(t, s, createCluster, newCluster("w"))

	// Nothing newer than 0 yet: a cancelled wait reports the context error.
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := s.WaitEvents(ctx, 0); !errors.Is(err, context.Canceled) {
		t.Errorf("WaitEvents with a cancelled context and no events = %v, want context.Canceled", err)
	}

	// An event newer than after already exists: returns nil at once.
	createAll(t, s, createAssociation, newAssociation("w", 1, "ns", "sa1"))
	rev := latest(t, s)
	if err := s.WaitEvents(ctxWithTimeout(t, time.Minute), rev-1); err != nil {
		t.Errorf("WaitEvents with a newer event = %v, want nil", err)
	}

	// A commit wakes a waiter.
	done := make(chan error, 1)
	go func() { done <- s.WaitEvents(ctxWithTimeout(t, 30*time.Second), rev) }()
	createAll(t, s, createAssociation, newAssociation("w", 2, "ns", "sa2"))
	if err := <-done; err != nil {
		t.Errorf("WaitEvents after a commit = %v, want nil (woken by the commit)", err)
	}
	es := listEvents(t, s, "", rev, 0)
	if len(es) != 1 || es[0].Association.ServiceAccount != "sa2" {
		t.Errorf("events after the wake-up: %+v", viewsOf(es))
	}

	// Several waiters wake on one commit.
	rev = latest(t, s)
	const waiters = 5
	results := make(chan error, waiters)
	for range waiters {
		go func() { results <- s.WaitEvents(ctxWithTimeout(t, 30*time.Second), rev) }()
	}
	createAll(t, s, createAssociation, newAssociation("w", 3, "ns", "sa3"))
	for range waiters {
		if err := <-results; err != nil {
			t.Errorf("waiter: %v", err)
		}
	}
}
