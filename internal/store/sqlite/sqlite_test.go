package sqlite

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/podid/podid/internal/store"
	"github.com/podid/podid/internal/store/storetest"
)

func openTest(t *testing.T, opts ...Option) *Store {
	t.Helper()
	// A long poll interval: WaitEvents must be woken by commits.
	opts = append([]Option{WithPollInterval(time.Hour)}, opts...)
	s, err := Open(t.Context(), filepath.Join(t.TempDir(), "podid.db"), opts...)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return openTest(t) })
}

func TestOneReadConn(t *testing.T) {
	// The suite must also pass with a single reader (WaitEvents and View
	// share it).
	storetest.Run(t, func(t *testing.T) store.Store { return openTest(t, WithReadConns(1)) })
}

func TestPragmasAndFileMode(t *testing.T) {
	path := filepath.Join(t.TempDir(), "p.db")
	s, err := Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	c := <-s.writer
	defer func() { s.writer <- c }()
	for _, p := range []struct{ pragma, want string }{
		{"journal_mode", "wal"},
		{"foreign_keys", "1"},
		{"busy_timeout", "5000"},
		{"synchronous", "2"},
	} {
		var got string
		if err := c.c.QueryRowContext(t.Context(), "PRAGMA "+p.pragma).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != p.want {
			t.Errorf("PRAGMA %s = %q, want %q", p.pragma, got, p.want)
		}
	}
	r := <-s.readers
	defer func() { s.readers <- r }()
	var qo int
	if err := r.c.QueryRowContext(t.Context(), "PRAGMA query_only").Scan(&qo); err != nil || qo != 1 {
		t.Errorf("reader query_only = %d, %v; want 1", qo, err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if mode := st.Mode().Perm(); mode != 0o600 {
		t.Errorf("database file mode = %o, want 600", mode)
	}
}

func TestReopenKeepsDataAndSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "p.db")
	ctx := t.Context()
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Update(ctx, func(tx store.Tx) error {
		return tx.CreateCluster(&store.Cluster{Name: "c", Kind: store.ClusterHosted})
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = Open(ctx, path)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer s.Close()
	if err := s.View(ctx, func(tx store.Tx) error { _, err := tx.GetCluster("c"); return err }); err != nil {
		t.Errorf("cluster after reopen: %v", err)
	}
	c := <-s.writer
	defer func() { s.writer <- c }()
	var n, max int
	if err := c.c.QueryRowContext(ctx, "SELECT count(*), max(version) FROM schema_migrations").Scan(&n, &max); err != nil {
		t.Fatal(err)
	}
	if n != LatestSchemaVersion() || max != LatestSchemaVersion() {
		t.Errorf("schema_migrations has %d rows up to %d, want %d", n, max, LatestSchemaVersion())
	}
}

func TestNewerSchemaRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "p.db")
	ctx := t.Context()
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	c := <-s.writer
	if _, err := c.c.ExecContext(ctx, "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, 'future', 0)",
		LatestSchemaVersion()+1); err != nil {
		t.Fatal(err)
	}
	s.writer <- c
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	_, err = Open(ctx, path)
	if !errors.Is(err, ErrSchemaTooNew) {
		t.Fatalf("Open of a newer schema = %v, want ErrSchemaTooNew", err)
	}
	if !strings.Contains(err.Error(), "newer podid") {
		t.Errorf("error does not tell the operator what to do: %v", err)
	}
}

func TestLoadMigrations(t *testing.T) {
	cases := []struct {
		name    string
		files   []string
		want    []int
		wantErr string
	}{
		{"ordered", []string{"0002_b.sql", "0001_a.sql", "0003_c.sql"}, []int{1, 2, 3}, ""},
		{"gap", []string{"0001_a.sql", "0003_c.sql"}, nil, "without gaps"},
		{"duplicate", []string{"0001_a.sql", "1_b.sql"}, nil, "without gaps"},
		{"no number", []string{"initial.sql"}, nil, "NNNN_description"},
		{"bad number", []string{"x1_a.sql"}, nil, "bad version"},
		{"zero", []string{"0000_a.sql"}, nil, "bad version"},
		{"none", nil, nil, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			fsys := fstest.MapFS{}
			for _, f := range c.files {
				fsys["migrations/"+f] = &fstest.MapFile{Data: []byte("SELECT 1;")}
			}
			ms, err := loadMigrations(fsys)
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("error = %v, want one containing %q", err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []int
			for _, m := range ms {
				got = append(got, m.version)
			}
			if len(got) != len(c.want) {
				t.Fatalf("versions = %v, want %v", got, c.want)
			}
			for i := range got {
				if got[i] != c.want[i] {
					t.Fatalf("versions = %v, want %v", got, c.want)
				}
			}
		})
	}
	if LatestSchemaVersion() < 1 {
		t.Errorf("embedded migrations: LatestSchemaVersion = %d", LatestSchemaVersion())
	}
}

func TestOpenRejectsNonFilePaths(t *testing.T) {
	for _, p := range []string{"", ":memory:", "file:x.db?mode=memory"} {
		if s, err := Open(t.Context(), p); err == nil {
			s.Close()
			t.Errorf("Open(%q) succeeded", p)
		}
	}
	if _, err := Open(t.Context(), filepath.Join(t.TempDir(), "missing-dir", "x.db")); err == nil {
		t.Error("Open in a missing directory succeeded")
	}
}

func TestPathWithURICharacters(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a?b#c%d e&f=g")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "podid.db")
	s, err := Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := os.Stat(path + "-wal"); err != nil {
		t.Errorf("WAL file not next to the database: %v", err)
	}
}

func TestPollFallback(t *testing.T) {
	// With no commit in this process, WaitEvents returns after the poll
	// interval so the caller re-reads the feed (another replica may have
	// written it).
	s := openTest(t, WithPollInterval(10*time.Millisecond))
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	if err := s.WaitEvents(ctx, 0); err != nil {
		t.Errorf("WaitEvents = %v, want nil after the poll interval", err)
	}
}

func TestSecondProcessWritesAreSeen(t *testing.T) {
	// Two Stores on one file stand in for two replicas: a write through one
	// is visible through the other, and the other's poll wakes its waiter.
	path := filepath.Join(t.TempDir(), "shared.db")
	ctx := t.Context()
	a, err := Open(ctx, path, WithPollInterval(20*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := b.Update(ctx, func(tx store.Tx) error {
		if err := tx.CreateCluster(&store.Cluster{Name: "c"}); err != nil {
			return err
		}
		return tx.CreateAssociation(&store.Association{Cluster: "c", ID: "a-1", Namespace: "n", ServiceAccount: "s"})
	}); err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for {
		if err := a.WaitEvents(wctx, 0); err != nil {
			t.Fatalf("WaitEvents on the other store: %v", err)
		}
		var rev int64
		if err := a.View(ctx, func(tx store.Tx) (err error) { rev, err = tx.LatestRevision(); return }); err != nil {
			t.Fatal(err)
		}
		if rev > 0 {
			break
		}
	}
}

func TestClosed(t *testing.T) {
	s, err := Open(t.Context(), filepath.Join(t.TempDir(), "c.db"))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.WaitEvents(context.Background(), 0) }()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; !errors.Is(err, ErrClosed) {
		t.Errorf("WaitEvents across Close = %v, want ErrClosed", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := s.View(t.Context(), func(store.Tx) error { return nil }); !errors.Is(err, ErrClosed) {
		t.Errorf("View after Close = %v, want ErrClosed", err)
	}
	if err := s.Update(t.Context(), func(store.Tx) error { return nil }); !errors.Is(err, ErrClosed) {
		t.Errorf("Update after Close = %v, want ErrClosed", err)
	}
}

func TestTxAfterCallback(t *testing.T) {
	s := openTest(t)
	var leaked store.Tx
	if err := s.Update(t.Context(), func(tx store.Tx) error { leaked = tx; return nil }); err != nil {
		t.Fatal(err)
	}
	if err := leaked.CreateCluster(&store.Cluster{Name: "late"}); !errors.Is(err, errTxDone) {
		t.Errorf("write through a finished Tx = %v, want errTxDone", err)
	}
	if _, err := leaked.GetCluster("late"); !errors.Is(err, errTxDone) {
		t.Errorf("read through a finished Tx = %v, want errTxDone", err)
	}
}

func TestPanicRollsBack(t *testing.T) {
	s := openTest(t)
	func() {
		defer func() {
			if recover() == nil {
				t.Error("panic not propagated")
			}
		}()
		_ = s.Update(t.Context(), func(tx store.Tx) error {
			if err := tx.CreateCluster(&store.Cluster{Name: "p"}); err != nil {
				return err
			}
			panic("callback panic")
		})
	}()
	// The write connection is usable and the write is gone.
	if err := s.Update(t.Context(), func(tx store.Tx) error {
		if _, err := tx.GetCluster("p"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("cluster after panic: %v", err)
		}
		return tx.CreateCluster(&store.Cluster{Name: "p"})
	}); err != nil {
		t.Fatalf("Update after a panic: %v", err)
	}
}

func TestMapErr(t *testing.T) {
	s := openTest(t)
	err := s.Update(t.Context(), func(tx store.Tx) error {
		if err := tx.CreateAccessKey(&store.AccessKey{ID: "AKIA1", SealedSecret: []byte("TOP-SECRET-BYTES"), Status: "Active"}); err != nil {
			return err
		}
		return tx.CreateAccessKey(&store.AccessKey{ID: "AKIA1", SealedSecret: []byte("TOP-SECRET-BYTES"), Status: "Active"})
	})
	if !errors.Is(err, store.ErrConflict) {
		t.Fatalf("duplicate key = %v, want ErrConflict", err)
	}
	if strings.Contains(err.Error(), "TOP-SECRET") {
		t.Errorf("error message leaks the sealed secret: %v", err)
	}
	if mapErr(nil, "x") != nil {
		t.Error("mapErr(nil) != nil")
	}
	if err := mapErr(errors.New("disk on fire"), "op %d", 1); err.Error() != "op 1: disk on fire" || isSentinel(err) {
		t.Errorf("mapErr(other) = %v", err)
	}
}

func isSentinel(err error) bool {
	return errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrConflict)
}
