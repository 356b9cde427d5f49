package sqlite

import (
	"database/sql"
	"fmt"
	"time"

	"github.com/podid/podid/internal/store"
)

// ---- Idempotency tokens ----

const (
	sqlTokenPut = `INSERT INTO idempotency_tokens (scope, token, resource_id, created_at) VALUES (?, ?, ?, ?)`
	sqlTokenGet = `SELECT resource_id FROM idempotency_tokens WHERE scope = ? AND token = ?`
)

// PutIdempotencyToken remembers token within scope; ErrConflict if it exists.
func (t *tx) PutIdempotencyToken(scope, token, resourceID string) error {
	_, err := t.exec(sqlTokenPut, scope, token, resourceID, encTime(t.s.opts.now()))
	return mapErr(err, "sqlite: put idempotency token in scope %q", scope)
}

// GetIdempotencyToken returns the resource a token created.
func (t *tx) GetIdempotencyToken(scope, token string) (string, error) {
	var id string
	r, err := t.row(sqlTokenGet, scope, token)
	if err == nil {
		err = r.Scan(&id)
	}
	return id, mapErr(err, "sqlite: get idempotency token in scope %q", scope)
}

// ---- Audit ----

const auditCols = `id, time, kind, decision, reason, fields, count, last_time`

const (
	sqlAuditInsert    = `INSERT INTO audit (` + auditCols + `) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`
	sqlAuditList      = `SELECT ` + auditCols + ` FROM audit WHERE time >= ? ORDER BY time, id LIMIT ?`
	sqlAuditListAll   = `SELECT ` + auditCols + ` FROM audit ORDER BY time, id LIMIT ?`
	sqlAuditDeleteOld = `DELETE FROM audit WHERE time < ?`
	sqlAuditAddCount  = `UPDATE audit SET count = count + ?, last_time = max(coalesce(last_time, time), coalesce(?, time)) WHERE id = ?`
)

func scanAudit(sc scanner) (*store.AuditRecord, error) {
	var r store.AuditRecord
	var at, last sql.NullInt64
	if err := sc.Scan(&r.ID, &at, &r.Kind, &r.Decision, &r.Reason, &r.Fields, &r.Count, &last); err != nil {
		return nil, err
	}
	r.Time, r.LastTime = decTime(at), decTime(last)
	return &r, nil
}

// AppendAudit inserts an audit record; ErrConflict if the ID exists.
func (t *tx) AppendAudit(r *store.AuditRecord) error {
	if r == nil {
		return errNil("append audit")
	}
	_, err := t.exec(sqlAuditInsert, r.ID, encTime(r.Time), r.Kind, r.Decision, r.Reason, r.Fields, max(r.Count, 1), encTime(r.LastTime))
	return mapErr(err, "sqlite: append audit %q", r.ID)
}

// AddAuditCount adds n to record id's count and moves its last time to
// last when later; ErrNotFound if id does not exist.
func (t *tx) AddAuditCount(id string, n int, last time.Time) error {
	if n < 1 {
		return fmt.Errorf("sqlite: add audit count %q: n must be at least 1, not %d", id, n)
	}
	res, err := t.exec(sqlAuditAddCount, n, encTime(last), id)
	if err != nil {
		return mapErr(err, "sqlite: add audit count %q", id)
	}
	if k, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("sqlite: add audit count: %w", err)
	} else if k == 0 {
		return fmt.Errorf("sqlite: add audit count %q: %w", id, store.ErrNotFound)
	}
	return nil
}

// ListAudit lists records at or after since, by time then ID, at most limit
// of them (limit <= 0: all). A zero since lists from the beginning.
func (t *tx) ListAudit(since time.Time, n int) ([]*store.AuditRecord, error) {
	var rs []*store.AuditRecord
	var err error
	if since.IsZero() {
		rs, err = list(t, scanAudit, sqlAuditListAll, limit(n))
	} else {
		rs, err = list(t, scanAudit, sqlAuditList, since.UnixNano(), limit(n))
	}
	return rs, mapErr(err, "sqlite: list audit")
}

// DeleteAuditBefore deletes records strictly older than before and reports
// how many it deleted.
func (t *tx) DeleteAuditBefore(before time.Time) (int, error) {
	res, err := t.exec(sqlAuditDeleteOld, encTime(before))
	if err != nil {
		return 0, mapErr(err, "sqlite: delete audit before %s", before.Format(time.RFC3339))
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("sqlite: delete audit: %w", err)
	}
	return int(n), nil
}
