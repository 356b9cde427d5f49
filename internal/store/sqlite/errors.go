package sqlite

import (
	"database/sql"
	"errors"
	"fmt"

	sqlite "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/podid/podid/internal/store"
)

// mapErr is the one place driver errors become store sentinels:
//
//   - sql.ErrNoRows → store.ErrNotFound
//   - a UNIQUE or PRIMARY KEY violation → store.ErrConflict
//   - a FOREIGN KEY violation → store.ErrConflict. Inserts check their parent
//     first and report a missing one as ErrNotFound, so a foreign key failure
//     means a delete of a row that is still referenced (IAM's DeleteConflict).
//
// The sentinel is wrapped with %w and the driver error kept as text, so
// errors.Is matches only the sentinel. Any other error is wrapped as is.
// SQLite's constraint messages name columns, never values, so no record
// content (such as sealed secrets) reaches the message. mapErr(nil) is nil.
func mapErr(err error, format string, args ...any) error {
	if err == nil {
		return nil
	}
	what := fmt.Sprintf(format, args...)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%s: %w", what, store.ErrNotFound)
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() {
		case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY, sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
			return fmt.Errorf("%s: %w (%v)", what, store.ErrConflict, err)
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
	return fmt.Errorf("sqlite: %s: nil record", what)
}
