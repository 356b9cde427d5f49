package storetest

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/podid/podid/internal/store"
)

var errBoom = errors.New("boom")

// testRollback: an error from fn undoes every write of the transaction,
// including association events, and comes back from Update unchanged.
func testRollback(t *testing.T, s store.Store) {
	update(t, s, func(tx store.Tx) error { return tx.CreateCluster(newCluster("kept")) })
	cases := []struct {
		name string
		err  error
	}{
		{"caller error", errBoom},
		{"wrapped caller error", fmt.Errorf("service: %w", errBoom)},
	}
	for _, c := range cases {
		err := s.Update(t.Context(), func(tx store.Tx) error {
			steps := []error{
				tx.CreateRole(newRole("Temp", "/")),
				tx.CreateUser(newUser("temp", "/")),
				tx.CreatePolicy(newPolicy("Temp", "/")),
				tx.CreateCluster(newCluster("temp")),
				tx.CreateAssociation(newAssociation("kept", 1, "ns", "sa")),
				tx.CreateAccessKey(&store.AccessKey{Account: acct, ID: "AKIATEMP", SealedSecret: []byte("x"), Status: "Active"}),
				tx.PutIdempotencyToken("scope", "tok", "res"),
				tx.AppendAudit(&store.AuditRecord{ID: "a1", Time: at(0), Kind: "k", Decision: "issued", Fields: "{}"}),
				tx.DeleteCluster("kept"),
			}
			if err := errors.Join(steps...); err != nil {
				return fmt.Errorf("setup inside the transaction: %w", err)
			}
			return c.err
		})
		if !errors.Is(err, errBoom) {
			t.Fatalf("%s: Update = %v, want the callback's error", c.name, err)
		}
		view(t, s, func(tx store.Tx) error {
			checks := []struct {
				what string
				err  error
			}{
				{"role", second(tx.GetRole(acct, "Temp"))},
				{"user", second(tx.GetUser(acct, "temp"))},
				{"policy", second(tx.GetPolicy(policyARN("Temp", "/")))},
				{"cluster", second(tx.GetCluster("temp"))},
				{"association", second(tx.FindAssociation("kept", "ns", "sa"))},
				{"access key", second(tx.GetAccessKey("AKIATEMP"))},
				{"token", second(tx.GetIdempotencyToken("scope", "tok"))},
			}
			for _, ch := range checks {
				wantErr(t, c.name+": "+ch.what+" after rollback", ch.err, store.ErrNotFound)
			}
			if _, err := tx.GetCluster("kept"); err != nil {
				t.Errorf("%s: cluster deleted inside the rolled-back transaction: %v", c.name, err)
			}
			rev, err := tx.LatestRevision()
			if err != nil || rev != 0 {
				t.Errorf("%s: LatestRevision after rollback = %d, %v; want 0", c.name, rev, err)
			}
			audit, err := tx.ListAudit(at(-60), 0)
			if err != nil || len(audit) != 0 {
				t.Errorf("%s: audit after rollback = %d records, %v", c.name, len(audit), err)
			}
			return nil
		})
	}
}

func second[T any](_ T, err error) error { return err }

// testTxUsableAfterSentinel: a not-found or conflict result inside a
// transaction does not poison it (idempotent creates look up the token after
// a conflict and then commit).
func testTxUsableAfterSentinel(t *testing.T, s store.Store) {
	update(t, s, func(tx store.Tx) error {
		if err := tx.CreateCluster(newCluster("c")); err != nil {
			return err
		}
		return tx.PutIdempotencyToken("eks/c", "tok-1", "a-1")
	})
	update(t, s, func(tx store.Tx) error {
		if err := tx.PutIdempotencyToken("eks/c", "tok-1", "a-2"); !errors.Is(err, store.ErrConflict) {
			return fmt.Errorf("second put: %v, want ErrConflict", err)
		}
		id, err := tx.GetIdempotencyToken("eks/c", "tok-1")
		if err != nil || id != "a-1" {
			return fmt.Errorf("token after conflict: %q, %v", id, err)
		}
		if _, err := tx.GetRole(acct, "missing"); !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("GetRole missing: %v, want ErrNotFound", err)
		}
		if err := tx.CreateCluster(newCluster("c")); !errors.Is(err, store.ErrConflict) {
			return fmt.Errorf("duplicate cluster: %v, want ErrConflict", err)
		}
		return tx.CreateAssociation(newAssociation("c", 1, "ns", "sa"))
	})
	a := mustGet(t, s, func(tx store.Tx) (*store.Association, error) { return tx.FindAssociation("c", "ns", "sa") })
	if a.ID != assocID(1) {
		t.Errorf("association after a transaction with sentinels: %+v", a)
	}
}

// testViewIsReadOnly: writes inside View fail and leave nothing.
func testViewIsReadOnly(t *testing.T, s store.Store) {
	err := s.View(t.Context(), func(tx store.Tx) error {
		if err := tx.CreateRole(newRole("Sneaky", "/")); err == nil {
			return errors.New("CreateRole inside View succeeded")
		} else if isSentinel(err) {
			return fmt.Errorf("CreateRole inside View: %v, want a non-sentinel error", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	_, err = get(t, s, func(tx store.Tx) (*store.Role, error) { return tx.GetRole(acct, "Sneaky") })
	wantErr(t, "role written in View", err, store.ErrNotFound)

	// View returns fn's error unchanged.
	if err := s.View(t.Context(), func(store.Tx) error { return errBoom }); !errors.Is(err, errBoom) {
		t.Errorf("View = %v, want the callback's error", err)
	}
}

// testContext: a cancelled context stops View and Update before fn runs
// and leaves nothing behind.
func testContext(t *testing.T, s store.Store) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	ran := false
	err := s.Update(ctx, func(tx store.Tx) error {
		ran = true
		return tx.CreateRole(newRole("Late", "/"))
	})
	if err == nil && ran {
		t.Errorf("Update with a cancelled context committed")
	}
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Update with a cancelled context = %v, want context.Canceled", err)
	}
	err = s.View(ctx, func(tx store.Tx) error {
		_, err := tx.ListRoles(acct, "", store.Page{})
		return err
	})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("View with a cancelled context = %v, want context.Canceled", err)
	}
	_, err = get(t, s, func(tx store.Tx) (*store.Role, error) { return tx.GetRole(acct, "Late") })
	wantErr(t, "role after cancelled Update", err, store.ErrNotFound)

	// Cancelling during fn aborts the transaction.
	ctx, cancel = context.WithCancel(t.Context())
	err = s.Update(ctx, func(tx store.Tx) error {
		if err := tx.CreateRole(newRole("Mid", "/")); err != nil {
			return err
		}
		cancel()
		return nil
	})
	if err == nil {
		t.Errorf("Update cancelled inside fn committed")
	}
	_, err = get(t, s, func(tx store.Tx) (*store.Role, error) { return tx.GetRole(acct, "Mid") })
	wantErr(t, "role after Update cancelled inside fn", err, store.ErrNotFound)
}

// testNilRecords: nil records are an error, not a panic.
func testNilRecords(t *testing.T, s store.Store) {
	calls := map[string]func(tx store.Tx) error{
		"CreateRole":         func(tx store.Tx) error { return tx.CreateRole(nil) },
		"UpdateRole":         func(tx store.Tx) error { return tx.UpdateRole(nil) },
		"CreatePolicy":       func(tx store.Tx) error { return tx.CreatePolicy(nil) },
		"UpdatePolicy":       func(tx store.Tx) error { return tx.UpdatePolicy(nil) },
		"PutPolicyVersion":   func(tx store.Tx) error { return tx.PutPolicyVersion(nil) },
		"PutInlinePolicy":    func(tx store.Tx) error { return tx.PutInlinePolicy(nil) },
		"CreateUser":         func(tx store.Tx) error { return tx.CreateUser(nil) },
		"UpdateUser":         func(tx store.Tx) error { return tx.UpdateUser(nil) },
		"CreateAccessKey":    func(tx store.Tx) error { return tx.CreateAccessKey(nil) },
		"UpdateAccessKey":    func(tx store.Tx) error { return tx.UpdateAccessKey(nil) },
		"CreateOIDCProvider": func(tx store.Tx) error { return tx.CreateOIDCProvider(nil) },
		"UpdateOIDCProvider": func(tx store.Tx) error { return tx.UpdateOIDCProvider(nil) },
		"PutServerKey":       func(tx store.Tx) error { return tx.PutServerKey(nil) },
		"CreateCluster":      func(tx store.Tx) error { return tx.CreateCluster(nil) },
		"UpdateCluster":      func(tx store.Tx) error { return tx.UpdateCluster(nil) },
		"CreateAddon":        func(tx store.Tx) error { return tx.CreateAddon(nil) },
		"UpdateAddon":        func(tx store.Tx) error { return tx.UpdateAddon(nil) },
		"CreateAssociation":  func(tx store.Tx) error { return tx.CreateAssociation(nil) },
		"UpdateAssociation":  func(tx store.Tx) error { return tx.UpdateAssociation(nil) },
		"AppendAudit":        func(tx store.Tx) error { return tx.AppendAudit(nil) },
		"PutUpdate":          func(tx store.Tx) error { return tx.PutUpdate(nil) },
		"PutPasswordPolicy":  func(tx store.Tx) error { return tx.PutPasswordPolicy(nil) },
	}
	for name, call := range calls {
		if err := write(t, s, call); err == nil {
			t.Errorf("%s(nil) succeeded", name)
		}
	}
}
