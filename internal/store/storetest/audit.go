package storetest

import (
	"testing"
	"time"

	"github.com/podid/podid/internal/store"
)

func testIdempotencyTokens(t *testing.T, s store.Store) {
	update(t, s, func(tx store.Tx) error {
		if err := tx.PutIdempotencyToken("eks:c1:CreatePodIdentityAssociation", "tok", "a-1"); err != nil {
			return err
		}
		// The same token in another scope is another token.
		return tx.PutIdempotencyToken("eks:c2:CreatePodIdentityAssociation", "tok", "a-2")
	})
	for _, c := range []struct{ scope, want string }{
		{"eks:c1:CreatePodIdentityAssociation", "a-1"},
		{"eks:c2:CreatePodIdentityAssociation", "a-2"},
	} {
		got := mustGet(t, s, func(tx store.Tx) (string, error) { return tx.GetIdempotencyToken(c.scope, "tok") })
		if got != c.want {
			t.Errorf("GetIdempotencyToken(%s) = %q, want %q", c.scope, got, c.want)
		}
	}
	wantErr(t, "PutIdempotencyToken twice", write(t, s, func(tx store.Tx) error {
		return tx.PutIdempotencyToken("eks:c1:CreatePodIdentityAssociation", "tok", "a-3")
	}), store.ErrConflict)
	_, err := get(t, s, func(tx store.Tx) (string, error) {
		return tx.GetIdempotencyToken("eks:c1:CreatePodIdentityAssociation", "TOK")
	})
	wantErr(t, "tokens are exact", err, store.ErrNotFound)
	got := mustGet(t, s, func(tx store.Tx) (string, error) {
		return tx.GetIdempotencyToken("eks:c1:CreatePodIdentityAssociation", "tok")
	})
	if got != "a-1" {
		t.Errorf("token after a conflicting put = %q, want a-1", got)
	}
}

func testAudit(t *testing.T, s store.Store) {
	rec := func(id string, minute int) *store.AuditRecord {
		return &store.AuditRecord{
			ID: id, Time: at(minute), Kind: "eks-auth:AssumeRoleForPodIdentity", Decision: "issued",
			Reason: "association " + id, Fields: `{"cluster":"c1","namespace":"default"}`, Count: 1,
		}
	}
	recs := []*store.AuditRecord{rec("e", 4), rec("b", 1), rec("d", 3), rec("a", 0), rec("c2", 2), rec("c1", 2)}
	recs[0].Decision, recs[0].Reason = "refused", "no association"
	update(t, s, func(tx store.Tx) error {
		for _, r := range recs {
			if err := tx.AppendAudit(r); err != nil {
				return err
			}
		}
		return nil
	})
	wantErr(t, "AppendAudit same ID", write(t, s, func(tx store.Tx) error { return tx.AppendAudit(rec("a", 9)) }), store.ErrConflict)

	id := func(r *store.AuditRecord) string { return r.ID }
	cases := []struct {
		name  string
		since time.Time
		limit int
		want  []string
	}{
		{"all", time.Time{}, 0, []string{"a", "b", "c1", "c2", "d", "e"}},
		{"since before all", at(-1), 0, []string{"a", "b", "c1", "c2", "d", "e"}},
		{"since is inclusive", at(2), 0, []string{"c1", "c2", "d", "e"}},
		{"limit", at(0), 3, []string{"a", "b", "c1"}},
		{"since after all", at(5), 0, nil},
	}
	for _, c := range cases {
		got := mustGet(t, s, func(tx store.Tx) ([]*store.AuditRecord, error) { return tx.ListAudit(c.since, c.limit) })
		checkEqual(t, "ListAudit "+c.name, keysOf(got, id), c.want)
	}
	got := mustGet(t, s, func(tx store.Tx) ([]*store.AuditRecord, error) { return tx.ListAudit(at(4), 0) })
	checkEqual(t, "ListAudit record", got, []*store.AuditRecord{recs[0]})

	// Aggregation: a record's count grows and its last time moves forward
	// only.
	update(t, s, func(tx store.Tx) error {
		if err := tx.AddAuditCount("e", 5, at(4).Add(30*time.Second)); err != nil {
			return err
		}
		return tx.AddAuditCount("e", 4, at(4).Add(10*time.Second))
	})
	agg := *recs[0]
	agg.Count, agg.LastTime = 10, at(4).Add(30*time.Second)
	got = mustGet(t, s, func(tx store.Tx) ([]*store.AuditRecord, error) { return tx.ListAudit(at(4), 0) })
	checkEqual(t, "ListAudit aggregated record", got, []*store.AuditRecord{&agg})
	wantErr(t, "AddAuditCount of a missing record", write(t, s, func(tx store.Tx) error {
		return tx.AddAuditCount("missing", 1, at(4))
	}), store.ErrNotFound)
	// A count below 1 is stored as 1; a record appended with its count
	// and last time keeps them.
	update(t, s, func(tx store.Tx) error {
		if err := tx.AppendAudit(&store.AuditRecord{ID: "z0", Time: at(50), Kind: "k", Decision: "refused"}); err != nil {
			return err
		}
		return tx.AppendAudit(&store.AuditRecord{ID: "z1", Time: at(51), Kind: "k", Decision: "refused", Count: 7, LastTime: at(52)})
	})
	got = mustGet(t, s, func(tx store.Tx) ([]*store.AuditRecord, error) { return tx.ListAudit(at(50), 0) })
	checkEqual(t, "ListAudit counts", got, []*store.AuditRecord{
		{ID: "z0", Time: at(50), Kind: "k", Decision: "refused", Count: 1},
		{ID: "z1", Time: at(51), Kind: "k", Decision: "refused", Count: 7, LastTime: at(52)},
	})

	// Retention: strictly older records go.
	var n int
	update(t, s, func(tx store.Tx) error {
		var err error
		n, err = tx.DeleteAuditBefore(at(2))
		return err
	})
	if n != 2 {
		t.Errorf("DeleteAuditBefore deleted %d, want 2", n)
	}
	left := mustGet(t, s, func(tx store.Tx) ([]*store.AuditRecord, error) { return tx.ListAudit(time.Time{}, 0) })
	checkEqual(t, "audit after retention", keysOf(left, id), []string{"c1", "c2", "d", "e", "z0", "z1"})
	update(t, s, func(tx store.Tx) error {
		var err error
		n, err = tx.DeleteAuditBefore(at(2))
		return err
	})
	if n != 0 {
		t.Errorf("second DeleteAuditBefore deleted %d, want 0", n)
	}
	update(t, s, func(tx store.Tx) error {
		var err error
		n, err = tx.DeleteAuditBefore(at(60 * 24))
		return err
	})
	if n != 6 {
		t.Errorf("DeleteAuditBefore(all) deleted %d, want 6", n)
	}
}
