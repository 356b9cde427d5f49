package postgres

import (
	"fmt"
	"github.com/jackc/pgx/v5/pgtype"
	"time"

	"github.com/podid/podid/internal/store"
)

// ---- Idempotency tokens ----

const (
	sqlTokenPut = `INSERT INTO idempotency_tokens (scope, token, resource_id, created_at) VALUES (?, ?, ?, ?)
	ON CONFLICT DO NOTHING`
	sqlTokenGet = `SELECT resource_id FROM idempotency_tokens WHERE scope = ? AND token = ?`
)

// PutIdempotencyToken remembers token within scope; ErrConflict if it exists.
func (t *tx) PutIdempotencyToken(scope, token, resourceID string) error {
	// ON CONFLICT DO NOTHING reports a taken token as no row inserted,
	// without aborting the transaction, so no savepoint is needed.
	tag, err := t.execPlain(sqlTokenPut, scope, token, resourceID, encTime(t.s.opts.now()))
	if err == nil && tag.RowsAffected() == 0 {
		return fmt.Errorf("postgres: put idempotency token in scope %q: %w", scope, store.ErrConflict)
	}
	return mapErr(err, "postgres: put idempotency token in scope %q", scope)
}

// GetIdempotencyToken returns the resource a token created.
func (t *tx) GetIdempotencyToken(scope, token string) (string, error) {
	var id string
	r, err := t.row(sqlTokenGet, scope, token)
	if err == nil {
		err = r.Scan(&id)
	}
	return id, mapErr(err, "postgres: get idempotency token in scope %q", scope)
}

// ---- Audit ----

const auditCols = `id, time, kind, decision, reason, fields, count, last_time`

const (
	sqlAuditInsert    = `INSERT INTO audit (` + auditCols + `) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`
	sqlAuditList      = `SELECT ` + auditCols + ` FROM audit WHERE time >= ? ORDER BY time NULLS FIRST, id LIMIT ?`
	sqlAuditListAll   = `SELECT ` + auditCols + ` FROM audit ORDER BY time NULLS FIRST, id LIMIT ?`
	sqlAuditDeleteOld = `DELETE FROM audit WHERE time < ?`
	sqlAuditAddCount  = `UPDATE audit SET count = count + ?, last_time = greatest(coalesce(last_time, time), ?) WHERE id = ?`
)

func scanAudit(sc scanner) (*store.AuditRecord, error) {
	var r store.AuditRecord
	var at, last pgtype.Timestamptz
	var count int64
	if err := sc.Scan(&r.ID, &at, &r.Kind, &r.Decision, &r.Reason, &r.Fields, &count, &last); err != nil {
		return nil, err
	}
	r.Time, r.LastTime, r.Count = decTime(at), decTime(last), int(count)
	return &r, nil
}

// AppendAudit inserts an audit record; ErrConflict if the ID exists.
func (t *tx) AppendAudit(r *store.AuditRecord) error {
	if r == nil {
		return errNil("append audit")
	}
	tag, err := t.execPlain(sqlAuditInsert, r.ID, encTime(r.Time), r.Kind, r.Decision, r.Reason, r.Fields, int64(max(r.Count, 1)), encTime(r.LastTime))
	if err == nil && tag.RowsAffected() == 0 {
		return fmt.Errorf("postgres: append audit %q: %w", r.ID, store.ErrConflict)
	}
	return mapErr(err, "postgres: append audit %q", r.ID)
}

// AddAuditCount adds n to record id's count and moves its last time to
// last when later; ErrNotFound if id does not exist.
func (t *tx) AddAuditCount(id string, n int, last time.Time) error {
	if n < 1 {
		return fmt.Errorf("postgres: add audit count %q: n must be at least 1, not %d", id, n)
	}
	tag, err := t.exec(sqlAuditAddCount, int64(n), encTime(last), id)
	if err != nil {
		return mapErr(err, "postgres: add audit count %q", id)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("postgres: add audit count %q: %w", id, store.ErrNotFound)
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
		rs, err = list(t, scanAudit, sqlAuditList, since, limit(n))
	}
	return rs, mapErr(err, "postgres: list audit")
}

// DeleteAuditBefore deletes records strictly older than before and reports
// how many it deleted.
func (t *tx) DeleteAuditBefore(before time.Time) (int, error) {
	tag, err := t.exec(sqlAuditDeleteOld, encTime(before))
	if err != nil {
		return 0, mapErr(err, "postgres: delete audit before %s", before.Format(time.RFC3339))
	}
	return int(tag.RowsAffected()), nil
}
