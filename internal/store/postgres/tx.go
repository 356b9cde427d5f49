package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/podid/podid/internal/store"
)

var (
	errTxDone     = errors.New("postgres: transaction already finished (a Tx must not outlive its View or Update callback)")
	errReadOnlyTx = errors.New("postgres: write in a read-only transaction (use Update)")
)

// tx implements store.Tx on one pgx transaction. The Tx interface has no
// context parameters, so the context of the View or Update call bounds every
// statement. A tx may be shared by goroutines inside the callback; its
// statements run one at a time. It refuses all use once the callback has
// returned.
type tx struct {
	ctx context.Context
	pt  querier
	// pendingBegin is View's BEGIN, sent with the first query (under mu;
	// empty once sent).
	pendingBegin string
	s            *Store
	write        bool
	mu           sync.Mutex
	done         atomic.Bool
	wroteEvents  bool // under mu
	eventLock    bool // under mu
	// deadConn: View's first round trip (BEGIN and the first query) found
	// the connection dead, so the callback has read nothing and View may
	// run it again on another connection (under mu).
	deadConn bool
}

var _ store.Tx = (*tx)(nil)

// querier is the connection a transaction runs on.
type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
}

// query runs a query, sending a pending BEGIN in the same batch. The
// returned done must be called after the rows are read. Callers hold mu.
func (t *tx) query(q string, args ...any) (pgx.Rows, func() error, error) {
	if t.pendingBegin == "" {
		rows, err := t.pt.Query(t.ctx, sqlText(q), args...)
		return rows, func() error { return nil }, err
	}
	b := &pgx.Batch{}
	b.Queue(t.pendingBegin)
	b.Queue(sqlText(q), args...)
	br := t.pt.SendBatch(t.ctx, b)
	t.pendingBegin = ""
	if _, err := br.Exec(); err != nil {
		_ = br.Close()
		t.deadConn = connectionLost(err)
		return nil, nil, err
	}
	rows, err := br.Query()
	if err != nil {
		_ = br.Close()
		return nil, nil, err
	}
	return rows, br.Close, nil
}

// queryRow runs a single-row query and scans it with scan (callers hold mu).
func queryRow[T any](t *tx, scan func(scanner) (T, error), q string, args ...any) (T, error) {
	var zero T
	rows, done, err := t.query(q, args...)
	if err != nil {
		return zero, err
	}
	v, err := scan(&rowOf{rows: rows})
	rows.Close()
	if derr := done(); err == nil && derr != nil {
		return zero, derr
	}
	return v, err
}

// rowOf scans the first row of rows as pgx.Row does: pgx.ErrNoRows when
// there is none.
type rowOf struct{ rows pgx.Rows }

// Scan reads the first row.
func (r *rowOf) Scan(dest ...any) error {
	if !r.rows.Next() {
		if err := r.rows.Err(); err != nil {
			return err
		}
		return pgx.ErrNoRows
	}
	if err := r.rows.Scan(dest...); err != nil {
		return err
	}
	r.rows.Close()
	return r.rows.Err()
}

// scanner is pgx.Row or pgx.Rows.
type scanner interface {
	Scan(dest ...any) error
}

// pg rewrites ? placeholders as $1, $2, … (no statement here has a ? inside
// a literal).
func pg(q string) string {
	var b strings.Builder
	n := 0
	for _, r := range q {
		if r == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// exec runs a write statement under a savepoint, so that a constraint
// violation (a sentinel for the caller) leaves the transaction usable. On
// success it costs one round trip (the three statements go in one batch).
func (t *tx) exec(q string, args ...any) (pgconn.CommandTag, error) {
	if t.done.Load() {
		return pgconn.CommandTag{}, errTxDone
	}
	if !t.write {
		return pgconn.CommandTag{}, errReadOnlyTx
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	b := &pgx.Batch{}
	b.Queue("SAVEPOINT w")
	b.Queue(sqlText(q), args...)
	b.Queue("RELEASE SAVEPOINT w")
	br := t.pt.SendBatch(t.ctx, b)
	_, err := br.Exec()
	var tag pgconn.CommandTag
	if err == nil {
		tag, err = br.Exec()
		if err == nil {
			_, err = br.Exec()
		}
	}
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		var pe *pgconn.PgError
		if errors.As(err, &pe) && t.ctx.Err() == nil {
			// Without arguments pgx uses the simple protocol, which an
			// aborted transaction still accepts (a prepare would not).
			if _, rerr := t.pt.Exec(t.ctx, "ROLLBACK TO SAVEPOINT w; RELEASE SAVEPOINT w"); rerr != nil {
				return tag, errors.Join(err, fmt.Errorf("roll back to savepoint: %w", rerr))
			}
		}
		return tag, err
	}
	return tag, nil
}

// execPlain runs a write statement that cannot fail with a constraint
// violation (ON CONFLICT DO NOTHING, an insert with a generated key), without
// a savepoint: one statement, one round trip.
func (t *tx) execPlain(q string, args ...any) (pgconn.CommandTag, error) {
	if t.done.Load() {
		return pgconn.CommandTag{}, errTxDone
	}
	if !t.write {
		return pgconn.CommandTag{}, errReadOnlyTx
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.pt.Exec(t.ctx, sqlText(q), args...)
}

// execOne runs a write statement that must affect a row; none is ErrNotFound.
func (t *tx) execOne(what string, q string, args ...any) error {
	tag, err := t.exec(q, args...)
	if err != nil {
		return mapErr(err, "%s", what)
	}
	if tag.RowsAffected() == 0 {
		return notFound("%s", what)
	}
	return nil
}

// one fetches a single record with scan; a missing row is pgx.ErrNoRows.
func one[T any](t *tx, scan func(scanner) (T, error), q string, args ...any) (T, error) {
	var zero T
	if t.done.Load() {
		return zero, errTxDone
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return queryRow(t, scan, q, args...)
}

// list fetches every row of a query with scan.
func list[T any](t *tx, scan func(scanner) (T, error), q string, args ...any) ([]T, error) {
	if t.done.Load() {
		return nil, errTxDone
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	rows, done, err := t.query(q, args...)
	if err != nil {
		return nil, err
	}
	defer func() { _ = done() }()
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// lockEvents makes sure the transaction holds the write lock before an
// association write (Update takes it first, so this only checks): revisions
// are then allocated and committed one writer at a time, so they become
// visible in order.
func (t *tx) lockEvents() error {
	if t.done.Load() {
		return errTxDone
	}
	if !t.write {
		return errReadOnlyTx
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.eventLock {
		return nil
	}
	if _, err := t.pt.Exec(t.ctx, "SELECT pg_advisory_xact_lock($1)", lockWrite); err != nil {
		return fmt.Errorf("postgres: lock the change feed: %w", err)
	}
	t.eventLock = true
	return nil
}

// limit converts a Page or call limit to a LIMIT argument (NULL: none).
func limit(n int) any {
	if n <= 0 {
		return nil
	}
	return n
}

// Times are timestamptz; the zero time is NULL.

func encTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t
}

func decTime(ts pgtype.Timestamptz) time.Time {
	if !ts.Valid {
		return time.Time{}
	}
	return ts.Time.UTC()
}

// Lists and tag sets are jsonb; empty ones NULL.

func encJSON[T any](v []T) (any, error) {
	if len(v) == 0 {
		return nil, nil
	}
	return json.Marshal(v)
}

func decJSON[T any](b []byte) ([]T, error) {
	if len(b) == 0 {
		return nil, nil
	}
	var v []T
	if err := json.Unmarshal(b, &v); err != nil {
		return nil, fmt.Errorf("decode JSON column: %w", err)
	}
	return v, nil
}

func encMap(m map[string]string) (any, error) {
	if len(m) == 0 {
		return nil, nil
	}
	return json.Marshal(m)
}

func decMap(b []byte) (map[string]string, error) {
	if len(b) == 0 {
		return nil, nil
	}
	var m map[string]string
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("decode JSON column: %w", err)
	}
	return m, nil
}

func encTags(tags []store.Tag) (any, error) { return encJSON(tags) }

func decTags(b []byte) ([]store.Tag, error) { return decJSON[store.Tag](b) }

// blob keeps a nil byte slice from becoming NULL in a NOT NULL column.
func blob(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// mapErr is the one place driver errors become store sentinels:
//
//   - pgx.ErrNoRows → store.ErrNotFound
//   - SQLSTATE 23505 (unique violation) → store.ErrConflict
//   - SQLSTATE 23503 (foreign key violation) → store.ErrConflict: inserts
//     check their parent first and report a missing one as ErrNotFound, so
//     a foreign key failure is a delete of a still-referenced row (IAM's
//     DeleteConflict).
//
// The sentinel is wrapped with %w and the driver error kept as text.
// PostgreSQL's error message names the constraint; the values are in the
// error's Detail, which is never included, so no record content reaches the
// message. mapErr(nil) is nil.
func mapErr(err error, format string, args ...any) error {
	if err == nil {
		return nil
	}
	what := fmt.Sprintf(format, args...)
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("%s: %w", what, store.ErrNotFound)
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case "23505", "23503":
			return fmt.Errorf("%s: %w (%s, SQLSTATE %s)", what, store.ErrConflict, pe.Message, pe.Code)
		}
	}
	return fmt.Errorf("%s: %w", what, err)
}

// notFound reports a missing record found by a statement that affected or
// returned no rows.
func notFound(format string, args ...any) error {
	return fmt.Errorf("%s: %w", fmt.Sprintf(format, args...), store.ErrNotFound)
}

// errNil is returned when a nil record is passed to a write method.
func errNil(what string) error {
	return fmt.Errorf("postgres: %s: nil record", what)
}

// sqlCache holds the $n form of every statement written with ? placeholders.
var sqlCache sync.Map

// sqlText returns q with $n placeholders, converting it once.
func sqlText(q string) string {
	if v, ok := sqlCache.Load(q); ok {
		return v.(string)
	}
	p := pg(q)
	sqlCache.Store(q, p)
	return p
}

// lazyRow runs its query when scanned, under the transaction's lock.
type lazyRow struct {
	t    *tx
	q    string
	args []any
}

// Scan runs the query and scans its single row.
func (r *lazyRow) Scan(dest ...any) error {
	r.t.mu.Lock()
	defer r.t.mu.Unlock()
	_, err := queryRow(r.t, func(sc scanner) (struct{}, error) { return struct{}{}, sc.Scan(dest...) }, r.q, r.args...)
	return err
}

// row returns a single-row query to scan; a missing row is pgx.ErrNoRows.
func (t *tx) row(q string, args ...any) (scanner, error) {
	if t.done.Load() {
		return nil, errTxDone
	}
	return &lazyRow{t: t, q: q, args: args}, nil
}
