package postgres

import (
	"fmt"
	"time"
)

// ---- Console session revocations ----

const (
	// A second revocation keeps the later expiry, so a revocation never
	// ends before its session.
	sqlRevocationPut = `INSERT INTO console_revocations (session_id, expires_at) VALUES (?, ?)
	ON CONFLICT (session_id) DO UPDATE SET expires_at = greatest(console_revocations.expires_at, excluded.expires_at)`
	sqlRevocationGet       = `SELECT EXISTS (SELECT 1 FROM console_revocations WHERE session_id = ?)`
	sqlRevocationDeleteOld = `DELETE FROM console_revocations WHERE expires_at < ?`
)

// RevokeConsoleSession records console session id as ended until expires.
func (t *tx) RevokeConsoleSession(id string, expires time.Time) error {
	if id == "" || expires.IsZero() {
		return fmt.Errorf("postgres: revoke console session: the session ID and its expiry are required")
	}
	// ON CONFLICT … DO UPDATE cannot violate a constraint: no savepoint.
	_, err := t.execPlain(sqlRevocationPut, id, encTime(expires))
	return mapErr(err, "postgres: revoke console session")
}

// ConsoleSessionRevoked reports whether console session id was revoked.
func (t *tx) ConsoleSessionRevoked(id string) (bool, error) {
	var revoked bool
	r, err := t.row(sqlRevocationGet, id)
	if err == nil {
		err = r.Scan(&revoked)
	}
	return revoked, mapErr(err, "postgres: read console session revocation")
}

// DeleteConsoleRevocationsBefore deletes the revocations of sessions that
// expired strictly before before and reports how many it deleted.
func (t *tx) DeleteConsoleRevocationsBefore(before time.Time) (int, error) {
	tag, err := t.execPlain(sqlRevocationDeleteOld, encTime(before))
	if err != nil {
		return 0, mapErr(err, "postgres: delete console revocations before %s", before.Format(time.RFC3339))
	}
	return int(tag.RowsAffected()), nil
}
