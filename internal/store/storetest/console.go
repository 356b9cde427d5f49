package storetest

import (
	"testing"
	"time"

	"github.com/podid/podid/internal/store"
)

// testConsoleRevocations checks console session revocations: recorded by
// exact ID, idempotent (keeping the later expiry), deleted only once their
// session expired strictly before the cutoff, refused without an ID or
// expiry and in a read-only transaction.
func testConsoleRevocations(t *testing.T, s store.Store) {
	revoked := func(id string) bool {
		t.Helper()
		return mustGet(t, s, func(tx store.Tx) (bool, error) { return tx.ConsoleSessionRevoked(id) })
	}
	if revoked("session-a") {
		t.Fatal("ConsoleSessionRevoked before any revocation = true")
	}
	update(t, s, func(tx store.Tx) error {
		if err := tx.RevokeConsoleSession("session-a", at(10)); err != nil {
			return err
		}
		return tx.RevokeConsoleSession("session-b", at(20))
	})
	for _, c := range []struct {
		id   string
		want bool
	}{{"session-a", true}, {"session-b", true}, {"SESSION-A", false}, {"session", false}, {"", false}} {
		if got := revoked(c.id); got != c.want {
			t.Errorf("ConsoleSessionRevoked(%q) = %v, want %v", c.id, got, c.want)
		}
	}

	// Revoking again is no error and keeps the later expiry: an earlier
	// one does not shorten the revocation, a later one extends it.
	update(t, s, func(tx store.Tx) error { return tx.RevokeConsoleSession("session-a", at(5)) })
	deleted := func(before int) int {
		t.Helper()
		var n int
		update(t, s, func(tx store.Tx) (err error) {
			n, err = tx.DeleteConsoleRevocationsBefore(at(before))
			return err
		})
		return n
	}
	if n := deleted(10); n != 0 || !revoked("session-a") {
		t.Errorf("after a second revocation with an earlier expiry, deleting before its first expiry removed %d (revoked: %v), want 0 and still revoked", n, revoked("session-a"))
	}
	update(t, s, func(tx store.Tx) error { return tx.RevokeConsoleSession("session-a", at(30)) })

	// The cutoff is strict: a revocation expiring at it stays.
	if n := deleted(20); n != 0 {
		t.Errorf("DeleteConsoleRevocationsBefore(expiry of session-b) deleted %d, want 0 (strictly before)", n)
	}
	if n := deleted(21); n != 1 {
		t.Errorf("DeleteConsoleRevocationsBefore(after session-b's expiry) deleted %d, want 1", n)
	}
	if revoked("session-b") || !revoked("session-a") {
		t.Errorf("after deleting before minute 21: session-b revoked %v (want false), session-a (extended to minute 30) %v (want true)",
			revoked("session-b"), revoked("session-a"))
	}
	if n := deleted(31); n != 1 || revoked("session-a") {
		t.Errorf("DeleteConsoleRevocationsBefore(after session-a's extended expiry) deleted %d, want 1", n)
	}

	for name, call := range map[string]func(tx store.Tx) error{
		"without an ID":     func(tx store.Tx) error { return tx.RevokeConsoleSession("", at(10)) },
		"without an expiry": func(tx store.Tx) error { return tx.RevokeConsoleSession("session-c", time.Time{}) },
	} {
		if err := write(t, s, call); err == nil || isSentinel(err) {
			t.Errorf("RevokeConsoleSession %s = %v, want a non-sentinel error", name, err)
		}
	}
	err := s.View(t.Context(), func(tx store.Tx) error { return tx.RevokeConsoleSession("session-d", at(10)) })
	if err == nil {
		t.Error("RevokeConsoleSession inside View succeeded")
	}
	for _, id := range []string{"session-c", "session-d"} {
		if revoked(id) {
			t.Errorf("%s revoked by a refused call", id)
		}
	}
}
