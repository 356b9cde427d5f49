package postgres

import (
	"fmt"
	"testing"

	"github.com/podid/podid/internal/store"
)

// TestMigrationAccounts: a database written at schema 3 (one account)
// gets its IAM records' account from 0004: from their ARNs, the user's
// account for users' keys, and the store's account record for root keys.
func TestMigrationAccounts(t *testing.T) {
	url := pgsrv.NewDatabase(t)
	db := dbName(t, url)
	ms, err := loadMigrations(migrationFiles)
	if err != nil {
		t.Fatal(err)
	}
	stmts := []string{`CREATE TABLE schema_migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL)`}
	for _, m := range ms[:3] {
		stmts = append(stmts, m.sql, fmt.Sprintf("INSERT INTO schema_migrations VALUES (%d, '%s', now())", m.version, m.name))
	}
	const acct = "210987654321"
	stmts = append(stmts,
		`INSERT INTO roles (id, name, path, arn, assume_role_policy, description, max_session_duration, permissions_boundary, last_used_region)
			VALUES ('AROA1', 'app', '/', 'arn:aws:iam::`+acct+`:role/app', '{}', '', 3600, '', '')`,
		`INSERT INTO users (id, name, path, arn, permissions_boundary) VALUES ('AIDA1', 'dev', '/x/', 'arn:aws-cn:iam::`+acct+`:user/x/dev', '')`,
		`INSERT INTO policies (id, arn, name, path, default_version_id, description) VALUES ('ANPA1', 'arn:aws:iam::`+acct+`:policy/p', 'p', '/', 'v1', '')`,
		`INSERT INTO oidc_providers (arn, url) VALUES ('arn:aws:iam::`+acct+`:oidc-provider/o.example', 'o.example')`,
		`INSERT INTO access_keys (id, user_pk, sealed_secret, status) VALUES ('AKIAUSER', (SELECT pk FROM users), '\x00', 'Active')`,
		`INSERT INTO access_keys (id, user_pk, sealed_secret, status) VALUES ('AKIAROOT', NULL, '\x00', 'Active')`,
		`INSERT INTO server_keys (id, purpose, sealed, active) VALUES ('`+acct+`', 'podid-account', '\x00', true)`,
	)
	if err := pgsrv.Exec(t.Context(), db, stmts...); err != nil {
		t.Fatal(err)
	}
	s := openTest(t, url)
	err = s.View(t.Context(), func(tx store.Tx) error {
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
