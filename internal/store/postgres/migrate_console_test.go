package postgres

import (
	"fmt"
	"testing"
	"time"

	"github.com/podid/podid/internal/store"
)

// TestMigrationConsoleRevocations: sign-outs a schema-5 database kept as
// idempotency tokens (scope podid-console/signed-out, expiry as RFC 3339)
// move to console_revocations in 0006 with their expiry, an unreadable
// expiry fails closed (revoked for 12 hours from the migration), and other
// idempotency tokens stay.
func TestMigrationConsoleRevocations(t *testing.T) {
	url := pgsrv.NewDatabase(t)
	db := dbName(t, url)
	ms, err := loadMigrations(migrationFiles)
	if err != nil {
		t.Fatal(err)
	}
	stmts := []string{`CREATE TABLE schema_migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL)`}
	for _, m := range ms[:5] {
		stmts = append(stmts, m.sql, fmt.Sprintf("INSERT INTO schema_migrations VALUES (%d, '%s', now())", m.version, m.name))
	}
	stmts = append(stmts,
		`INSERT INTO idempotency_tokens VALUES ('podid-console/signed-out', 'session-one', '2026-03-04T05:06:07Z', now())`,
		`INSERT INTO idempotency_tokens VALUES ('podid-console/signed-out', 'session-two', '2026-03-04T07:00:00Z', now())`,
		`INSERT INTO idempotency_tokens VALUES ('podid-console/signed-out', 'session-odd', 'tomorrow', now())`,
		`INSERT INTO idempotency_tokens VALUES ('eks:c1:CreatePodIdentityAssociation', 'tok', 'a-1', now())`,
	)
	if err := pgsrv.Exec(t.Context(), db, stmts...); err != nil {
		t.Fatal(err)
	}
	migrated := time.Now()
	checkMigratedRevocations(t, openTest(t, url), migrated)
}

// checkMigratedRevocations checks the store TestMigrationConsoleRevocations
// migrated at about migrated.
func checkMigratedRevocations(t *testing.T, s store.Store, migrated time.Time) {
	t.Helper()
	ctx := t.Context()
	err := s.View(ctx, func(tx store.Tx) error {
		for _, id := range []string{"session-one", "session-two", "session-odd"} {
			if ok, err := tx.ConsoleSessionRevoked(id); err != nil || !ok {
				t.Errorf("ConsoleSessionRevoked(%s) after migration = %v, %v; want true", id, ok, err)
			}
		}
		if _, err := tx.GetIdempotencyToken("podid-console/signed-out", "session-one"); err == nil {
			t.Error("the sign-out is still an idempotency token after migration")
		}
		if id, err := tx.GetIdempotencyToken("eks:c1:CreatePodIdentityAssociation", "tok"); err != nil || id != "a-1" {
			t.Errorf("another idempotency token after migration = %q, %v; want a-1", id, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// The expiries came along: pruning at each one's second removes what
	// expired strictly before; the unreadable one lasts 12 hours.
	for _, c := range []struct {
		before time.Time
		want   int
		gone   string
	}{
		{time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC), 0, ""},
		{time.Date(2026, 3, 4, 5, 6, 8, 0, time.UTC), 1, "session-one"},
		{time.Date(2026, 3, 4, 7, 0, 1, 0, time.UTC), 1, "session-two"},
		{migrated.Add(11 * time.Hour), 0, ""},
		{time.Now().Add(12*time.Hour + time.Minute), 1, "session-odd"},
	} {
		var n int
		err := s.Update(ctx, func(tx store.Tx) (err error) {
			n, err = tx.DeleteConsoleRevocationsBefore(c.before)
			return err
		})
		if err != nil || n != c.want {
			t.Errorf("DeleteConsoleRevocationsBefore(%s) = %d, %v; want %d", c.before.Format(time.RFC3339), n, err, c.want)
		}
		if c.gone != "" {
			err := s.View(ctx, func(tx store.Tx) error {
				ok, err := tx.ConsoleSessionRevoked(c.gone)
				if ok {
					t.Errorf("%s still revoked after pruning before %s", c.gone, c.before.Format(time.RFC3339))
				}
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
		}
	}
}
