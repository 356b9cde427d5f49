package sqlite

import (
	"database/sql"
	"path/filepath"
	"testing"

	_ "modernc.org/sqlite"

	"github.com/podid/podid/internal/store"
)

// TestMigrationAccounts: a store written at schema 3 (one account) gets
// its IAM records' account from 0004: from their ARNs, the user's
// account for users' keys, and the store's account record for root keys.
func TestMigrationAccounts(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "old.db")
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	ms, err := loadMigrations(migrationFiles)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, `CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL) STRICT`); err != nil {
		t.Fatal(err)
	}
	for _, m := range ms[:3] {
		if _, err := db.ExecContext(ctx, m.sql); err != nil {
			t.Fatalf("%04d: %v", m.version, err)
		}
		if _, err := db.ExecContext(ctx, "INSERT INTO schema_migrations VALUES (?, ?, 0)", m.version, m.name); err != nil {
			t.Fatal(err)
		}
	}
	const acct = "210987654321"
	for _, q := range []string{
		`INSERT INTO roles (id, name, path, arn, assume_role_policy, description, max_session_duration, permissions_boundary, last_used_region)
			VALUES ('AROA1', 'app', '/', 'arn:aws:iam::` + acct + `:role/app', '{}', '', 3600, '', '')`,
		`INSERT INTO users (id, name, path, arn, permissions_boundary) VALUES ('AIDA1', 'dev', '/x/', 'arn:aws-cn:iam::` + acct + `:user/x/dev', '')`,
		`INSERT INTO policies (id, arn, name, path, default_version_id, description) VALUES ('ANPA1', 'arn:aws:iam::` + acct + `:policy/p', 'p', '/', 'v1', '')`,
		`INSERT INTO oidc_providers (arn, url) VALUES ('arn:aws:iam::` + acct + `:oidc-provider/o.example', 'o.example')`,
		`INSERT INTO access_keys (id, user_pk, sealed_secret, status) VALUES ('AKIAUSER', (SELECT pk FROM users), x'00', 'Active')`,
		`INSERT INTO access_keys (id, user_pk, sealed_secret, status) VALUES ('AKIAROOT', NULL, x'00', 'Active')`,
		`INSERT INTO server_keys (id, purpose, sealed, active) VALUES ('` + acct + `', 'podid-account', x'00', 1)`,
	} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	s, err := Open(ctx, path)
	if err != nil {
		t.Fatalf("Open migrates: %v", err)
	}
	defer s.Close()
	err = s.View(ctx, func(tx store.Tx) error {
		r, err := tx.GetRole(acct, "app")
		if err != nil {
			return err
		}
		u, err := tx.GetUser(acct, "dev")
		if err != nil {
			return err
		}
		p, err := tx.GetPolicy("arn:aws:iam::" + acct + ":policy/p")
		if err != nil {
			return err
		}
		os, err := tx.ListOIDCProviders(acct)
		if err != nil {
			return err
		}
		uk, err := tx.GetAccessKey("AKIAUSER")
		if err != nil {
			return err
		}
		rk, err := tx.ListAccessKeys(acct, "")
		if err != nil {
			return err
		}
		for what, got := range map[string]string{"role": r.Account, "user": u.Account, "policy": p.Account, "user key": uk.Account} {
			if got != acct {
				t.Errorf("%s account = %q, want %s", what, got, acct)
			}
		}
		if len(os) != 1 || os[0].Account != acct {
			t.Errorf("OIDC providers of %s: %+v", acct, os)
		}
		if len(rk) != 1 || rk[0].ID != "AKIAROOT" {
			t.Errorf("root keys of %s: %+v", acct, rk)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
