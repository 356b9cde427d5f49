package sqlite

import (
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// ---- Console session revocations ----

const (
	// A second revocation keeps the later expiry, so a revocation never
	// ends before its session.
	sqlRevocationPut = `INSERT INTO console_revocations (session_id, expires_at) VALUES (?, ?)
	ON CONFLICT (session_id) DO UPDATE SET expires_at = max(expires_at, excluded.expires_at)`
	sqlRevocationGet       = `SELECT 1 FROM console_revocations WHERE session_id = ?`
	sqlRevocationDeleteOld = `DELETE FROM console_revocations WHERE expires_at < ?`
)

// RevokeConsoleSession records console session id as ended until expires.
func (t *tx) RevokeConsoleSession(id string, expires time.Time) error {
	if id == "" || expires.IsZero() {
		return fmt.Errorf("sqlite: revoke console session: the session ID and its expiry are required")
	}
	_, err := t.exec(sqlRevocationPut, id, encTime(expires))
	return mapErr(err, "sqlite: revoke console session")
}

// ConsoleSessionRevoked reports whether console session id was revoked.
func (t *tx) ConsoleSessionRevoked(id string) (bool, error) {
	var one int
	r, err := t.row(sqlRevocationGet, id)
	if err == nil {
		err = r.Scan(&one)
	}
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, mapErr(err, "sqlite: read console session revocation")
	}
	return true, nil
}

// DeleteConsoleRevocationsBefore deletes the revocations of sessions that
// expired strictly before before and reports how many it deleted.
func (t *tx) DeleteConsoleRevocationsBefore(before time.Time) (int, error) {
	res, err := t.exec(sqlRevocationDeleteOld, encTime(before))
	if err != nil {
		return 0, mapErr(err, "sqlite: delete console revocations before %s", before.Format(time.RFC3339))
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("sqlite: delete console revocations: %w", err)
	}
	return int(n), nil
}
