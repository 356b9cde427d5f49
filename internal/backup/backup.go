// Package backup copies podid's SQLite store consistently while a server
// runs (SQLite's VACUUM INTO, one read transaction) and restores such a
// copy into a data directory. The master key is never inside a backup: it
// is written to a file of its own only when asked, and every backup and
// restore proves that the key at hand opens the store's sealed records.
package backup

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"modernc.org/sqlite"

	"github.com/podid/podid/internal/secrets"
)

// accountPurpose and accountAD are the store's account record (see
// app.AccountPurpose): its sealed value proves a key opens the store.
const (
	accountPurpose = "podid-account"
	accountAD      = "podid-account"
)

// dsn is a SQLite DSN for path with the given query.
func dsn(path, query string) string {
	u := url.URL{Scheme: "file", Path: path}
	s := u.String()
	if query != "" {
		s += "?" + query
	}
	return s
}

func open(path, query string) (*sql.DB, error) {
	c, err := sqlite.NewConnector(dsn(path, query))
	if err != nil {
		return nil, err
	}
	return sql.OpenDB(c), nil
}

// Copy writes a consistent copy of the SQLite database at dbPath to out
// (which must not exist) with VACUUM INTO: one read transaction, so the
// copy is the store as of one moment while a server keeps writing. The
// copy is checked (integrity_check) before Copy returns.
func Copy(ctx context.Context, dbPath, out string) error {
	if _, err := os.Stat(dbPath); err != nil {
		return fmt.Errorf("no store at %s: %w", dbPath, err)
	}
	if _, err := os.Stat(out); err == nil {
		return fmt.Errorf("%s exists: give a new file", out)
	}
	db, err := open(dbPath, "_pragma=busy_timeout(10000)")
	if err != nil {
		return err
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, "VACUUM INTO ?", out); err != nil {
		os.Remove(out)
		return fmt.Errorf("copying the store: %w", err)
	}
	if err := os.Chmod(out, 0o600); err != nil {
		return err
	}
	if err := Check(ctx, out); err != nil {
		os.Remove(out)
		return err
	}
	return nil
}

// Check runs SQLite's integrity check on the database file at path.
func Check(ctx context.Context, path string) error {
	db, err := open(path, "_query_only=1")
	if err != nil {
		return err
	}
	defer db.Close()
	var res string
	if err := db.QueryRowContext(ctx, "PRAGMA integrity_check").Scan(&res); err != nil {
		return fmt.Errorf("checking %s: %w", path, err)
	}
	if res != "ok" {
		return fmt.Errorf("%s fails SQLite's integrity check: %s", path, res)
	}
	return nil
}

// ErrKeyMismatch is a master key that does not open a store's records.
var ErrKeyMismatch = errors.New("the master key does not open this store's sealed records")

// CheckKey proves that kr opens the store at path: it opens the account
// record (every store podid has started on has one). It returns the
// store's account.
func CheckKey(ctx context.Context, path string, kr *secrets.Keyring) (string, error) {
	db, err := open(path, "_query_only=1")
	if err != nil {
		return "", err
	}
	defer db.Close()
	var id string
	var sealed []byte
	err = db.QueryRowContext(ctx, "SELECT id, sealed FROM server_keys WHERE purpose = ? LIMIT 1", accountPurpose).Scan(&id, &sealed)
	if errors.Is(err, sql.ErrNoRows) {
		return "", errors.New("the store has no account record: start podid server on it once (it writes one), then back it up")
	}
	if err != nil {
		return "", fmt.Errorf("reading the account record: %w", err)
	}
	got, err := kr.Open(sealed, []byte(accountAD))
	if err != nil || string(got) != id {
		return "", ErrKeyMismatch
	}
	return id, nil
}

// InUse reports whether a SQLite database at dbPath may be open in a
// process: in WAL mode the last connection to close removes the -wal and
// -shm files, so their presence means a running server (or one that
// crashed, which its next start recovers).
func InUse(dbPath string) bool {
	for _, suffix := range []string{"-wal", "-shm"} {
		if _, err := os.Stat(dbPath + suffix); err == nil {
			return true
		}
	}
	return false
}

// Install moves the checked copy at src into place as dbPath: the old
// database (if any) is renamed to dbPath.before-restore-N, never deleted.
// It refuses while the database may be in use.
func Install(dbPath, src string) (previous string, err error) {
	if InUse(dbPath) {
		return "", fmt.Errorf("%s may be in use (its -wal or -shm file exists): stop podid server (or dev) on this data directory first", dbPath)
	}
	if _, err := os.Stat(dbPath); err == nil {
		for i := 1; ; i++ {
			previous = fmt.Sprintf("%s.before-restore-%d", dbPath, i)
			if _, err := os.Stat(previous); errors.Is(err, os.ErrNotExist) {
				break
			}
		}
		if err := os.Rename(dbPath, previous); err != nil {
			return "", fmt.Errorf("keeping the current store: %w", err)
		}
	}
	if err := os.Rename(src, dbPath); err != nil {
		return previous, fmt.Errorf("installing the restored store: %w", err)
	}
	return previous, nil
}

// TempPath is a temporary file next to dbPath for a restore in progress.
func TempPath(dbPath string) string {
	return filepath.Join(filepath.Dir(dbPath), "."+strings.TrimPrefix(filepath.Base(dbPath), ".")+".restore")
}
