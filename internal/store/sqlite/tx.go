package sqlite

import (
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/podid/podid/internal/store"
)

var (
	errTxDone     = errors.New("sqlite: transaction already finished (a Tx must not outlive its View or Update callback)")
	errReadOnlyTx = errors.New("sqlite: write in a read-only transaction (use Update)")
)

// scanner is *sql.Row or *sql.Rows.
type scanner interface {
	Scan(dest ...any) error
}

func (t *tx) stmt(q string) (*sql.Stmt, error) {
	if t.done.Load() {
		return nil, errTxDone
	}
	return t.c.stmt(t.ctx, q)
}

// exec runs a write statement.
func (t *tx) exec(q string, args ...any) (sql.Result, error) {
	if !t.write {
		return nil, errReadOnlyTx
	}
	st, err := t.stmt(q)
	if err != nil {
		return nil, err
	}
	return st.ExecContext(t.ctx, args...)
}

// execOne runs a write statement that must affect a row; none is ErrNotFound.
func (t *tx) execOne(what string, q string, args ...any) error {
	res, err := t.exec(q, args...)
	if err != nil {
		return mapErr(err, "%s", what)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return mapErr(err, "%s", what)
	}
	if n == 0 {
		return notFound("%s", what)
	}
	return nil
}

// row runs a query returning at most one row; scan it with a scanX function.
// A missing row surfaces as sql.ErrNoRows from Scan.
func (t *tx) row(q string, args ...any) (*sql.Row, error) {
	st, err := t.stmt(q)
	if err != nil {
		return nil, err
	}
	return st.QueryRowContext(t.ctx, args...), nil
}

// query runs a query returning rows.
func (t *tx) query(q string, args ...any) (*sql.Rows, error) {
	st, err := t.stmt(q)
	if err != nil {
		return nil, err
	}
	return st.QueryContext(t.ctx, args...)
}

// one fetches a single record with scan.
func one[T any](t *tx, scan func(scanner) (T, error), q string, args ...any) (T, error) {
	r, err := t.row(q, args...)
	if err != nil {
		var zero T
		return zero, err
	}
	return scan(r)
}

// list fetches every row of a query with scan.
func list[T any](t *tx, scan func(scanner) (T, error), q string, args ...any) ([]T, error) {
	rows, err := t.query(q, args...)
	if err != nil {
		return nil, err
	}
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

// limit converts a Page or call limit to SQLite's LIMIT (-1: none).
func limit(n int) int {
	if n <= 0 {
		return -1
	}
	return n
}

// Times are stored as Unix nanoseconds; the zero time as NULL.

func encTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixNano()
}

func decTime(n sql.NullInt64) time.Time {
	if !n.Valid {
		return time.Time{}
	}
	return time.Unix(0, n.Int64).UTC()
}

// Lists and tag sets are stored as JSON text; empty ones as NULL.

func encJSON[T any](v []T) (any, error) {
	if len(v) == 0 {
		return nil, nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return string(b), nil
}

func decJSON[T any](s sql.NullString) ([]T, error) {
	if !s.Valid || s.String == "" {
		return nil, nil
	}
	var v []T
	if err := json.Unmarshal([]byte(s.String), &v); err != nil {
		return nil, fmt.Errorf("decode JSON column: %w", err)
	}
	return v, nil
}

func encMap(m map[string]string) (any, error) {
	if len(m) == 0 {
		return nil, nil
	}
	b, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	return string(b), nil
}

func decMap(s sql.NullString) (map[string]string, error) {
	if !s.Valid || s.String == "" {
		return nil, nil
	}
	if m, ok := decFlatMap(s.String); ok {
		return m, nil
	}
	var m map[string]string
	if err := json.Unmarshal([]byte(s.String), &m); err != nil {
		return nil, fmt.Errorf("decode JSON column: %w", err)
	}
	return m, nil
}

// decFlatMap is a fast path for the JSON encMap writes: an object of string
// values with no escapes and no whitespace, e.g. {"env":"prod","team":"a"}.
// Keys and values share the column string's memory. Anything else reports
// !ok and goes to encoding/json, which is several times slower; building the
// in-memory association index decodes one such map per association.
func decFlatMap(s string) (map[string]string, bool) {
	if len(s) < 2 || s[0] != '{' || s[len(s)-1] != '}' || !utf8.ValidString(s) {
		return nil, false
	}
	for k := range len(s) {
		if s[k] == '\\' || s[k] < 0x20 {
			return nil, false
		}
	}
	m := make(map[string]string, strings.Count(s, `":"`))
	i := 1
	if s[i] == '}' {
		return m, i == len(s)-1
	}
	// str reads a quoted string starting at s[i].
	str := func() (string, bool) {
		if i >= len(s) || s[i] != '"' {
			return "", false
		}
		j := strings.IndexByte(s[i+1:], '"')
		if j < 0 {
			return "", false
		}
		v := s[i+1 : i+1+j]
		i += j + 2
		return v, true
	}
	for {
		k, ok := str()
		if !ok || i >= len(s) || s[i] != ':' {
			return nil, false
		}
		i++
		v, ok := str()
		if !ok || i >= len(s) {
			return nil, false
		}
		if _, dup := m[k]; dup {
			return nil, false // let encoding/json apply its rule
		}
		m[k] = v
		switch s[i] {
		case ',':
			i++
		case '}':
			return m, i == len(s)-1
		default:
			return nil, false
		}
	}
}

func encTags(tags []store.Tag) (any, error) { return encJSON(tags) }

func decTags(s sql.NullString) ([]store.Tag, error) { return decJSON[store.Tag](s) }

// blob keeps a nil byte slice from becoming NULL in a NOT NULL column.
func blob(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}
