// Package backend opens the store a configuration selects: PostgreSQL for a
// postgres:// or postgresql:// URL, else SQLite in the data directory. It is
// the one place commands and the app turn configuration into a store.Store.
package backend

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/podid/podid/internal/store"
	"github.com/podid/podid/internal/store/postgres"
	"github.com/podid/podid/internal/store/sqlite"
)

// EnvURL is the environment variable --database-url defaults to. Prefer it
// (or a pgpass file) to the flag: command lines are visible to every user of
// the machine.
const EnvURL = "PODID_DATABASE_URL"

// DatabaseFile is the SQLite database's name under the data directory.
const DatabaseFile = "podid.db"

// Config selects and tunes the backend.
type Config struct {
	// URL is a postgres:// or postgresql:// URL (multi-host URLs with
	// target_session_attrs=read-write work). Empty selects SQLite.
	URL string
	// DataDir holds the SQLite database (DataDir/podid.db).
	DataDir string
	// Now is the store's clock (default time.Now).
	Now func() time.Time
	// MustExist refuses to create a new SQLite database (a standalone
	// gateway reading a server's data directory).
	MustExist bool
}

// Kind names a backend.
type Kind string

// Backends.
const (
	SQLite     Kind = "sqlite"
	PostgreSQL Kind = "postgres"
)

// Opened describes an opened store for logs: the backend and where it is,
// with any password redacted.
type Opened struct {
	Kind  Kind
	Where string
}

// URL returns the database URL from the flag value, else from getenv(EnvURL).
func URL(flag string, getenv func(string) string) string {
	if flag != "" || getenv == nil {
		return flag
	}
	return getenv(EnvURL)
}

// Select reports which backend cfg selects, refusing a URL of another
// scheme (a mistyped URL must not fall back to a local SQLite file when the
// operator meant a shared database).
func Select(cfg Config) (Kind, error) {
	switch {
	case cfg.URL == "":
		if cfg.DataDir == "" {
			return "", fmt.Errorf("no database: give --database-url or a data directory")
		}
		return SQLite, nil
	case postgres.IsURL(cfg.URL):
		return PostgreSQL, nil
	}
	scheme := "no scheme"
	if i := strings.Index(cfg.URL, "://"); i > 0 {
		scheme = "scheme " + cfg.URL[:i]
	}
	return "", fmt.Errorf("--database-url (%s) must be a postgres:// or postgresql:// URL; leave it empty for SQLite in the data directory", scheme)
}

// Open opens the store cfg selects. Errors and the returned description
// never contain the URL's password.
func Open(ctx context.Context, cfg Config) (store.Store, Opened, error) {
	kind, err := Select(cfg)
	if err != nil {
		return nil, Opened{}, err
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	switch kind {
	case PostgreSQL:
		st, err := postgres.Open(ctx, cfg.URL, postgres.WithNow(now))
		if err != nil {
			return nil, Opened{}, err
		}
		return st, Opened{Kind: PostgreSQL, Where: postgres.Redact(cfg.URL)}, nil
	default:
		path := filepath.Join(cfg.DataDir, DatabaseFile)
		if cfg.MustExist {
			if err := CheckExists(cfg); err != nil {
				return nil, Opened{}, err
			}
		}
		st, err := sqlite.Open(ctx, path, sqlite.WithNow(now))
		if err != nil {
			return nil, Opened{}, err
		}
		return st, Opened{Kind: SQLite, Where: path}, nil
	}
}

// CheckExists reports an error unless the SQLite database cfg names exists
// (a standalone gateway reads a server's data directory and must not create
// one).
func CheckExists(cfg Config) error {
	if _, err := os.Stat(filepath.Join(cfg.DataDir, DatabaseFile)); err != nil {
		return fmt.Errorf("no podid data in %s (%v): start `podid server --data-dir %s` first, or give --database-url", cfg.DataDir, err, cfg.DataDir)
	}
	return nil
}
