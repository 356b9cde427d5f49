package postgres

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/podid/podid/internal/store"
	"github.com/podid/podid/internal/store/postgres/pgtest"
	"github.com/podid/podid/internal/store/storetest"
)

// pgsrv is the package's throwaway PostgreSQL server (nil without binaries).
var pgsrv *pgtest.Server

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m, &pgsrv)) }

func openTest(t *testing.T, url string, opts ...Option) *Store {
	t.Helper()
	// A long poll interval: WaitEvents must be woken by notifications.
	opts = append([]Option{WithPollInterval(time.Hour)}, opts...)
	s, err := Open(t.Context(), url, opts...)
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
	storetest.Run(t, func(t *testing.T) store.Store { return openTest(t, pgsrv.NewDatabase(t)) })
}

func TestLoadMigrations(t *testing.T) {
	ms, err := loadMigrations(migrationFiles)
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) == 0 || ms[0].version != 1 || LatestSchemaVersion() != len(ms) {
		t.Fatalf("migrations: %d, latest %d", len(ms), LatestSchemaVersion())
	}
	bad := []struct {
		name  string
		files fstest.MapFS
	}{
		{"gap", fstest.MapFS{"migrations/0001_a.sql": {}, "migrations/0003_c.sql": {}}},
		{"duplicate", fstest.MapFS{"migrations/0001_a.sql": {}, "migrations/0001_b.sql": {}}},
		{"no name", fstest.MapFS{"migrations/0001.sql": {}}},
		{"bad number", fstest.MapFS{"migrations/x_a.sql": {}}},
	}
	for _, b := range bad {
		if _, err := loadMigrations(b.files); err == nil {
			t.Errorf("%s: loadMigrations accepted it", b.name)
		}
	}
}

// TestConcurrentOpen: servers starting together on an empty database apply
// each migration exactly once (the advisory lock), and all of them work.
func TestConcurrentOpen(t *testing.T) {
	url := pgsrv.NewDatabase(t)
	const n = 4
	stores := make([]*Store, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { stores[i], errs[i] = Open(t.Context(), url, WithPollInterval(time.Hour)) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("Open %d: %v", i, err)
		}
		t.Cleanup(func() { stores[i].Close() })
	}
	var rows, max int
	if err := stores[0].pool.QueryRow(t.Context(), "SELECT count(*), max(version) FROM schema_migrations").Scan(&rows, &max); err != nil {
		t.Fatal(err)
	}
	if rows != LatestSchemaVersion() || max != LatestSchemaVersion() {
		t.Errorf("schema_migrations has %d rows up to %d, want %d", rows, max, LatestSchemaVersion())
	}
	for i, s := range stores {
		if err := s.Update(t.Context(), func(tx store.Tx) error {
			return tx.CreateRole(&store.Role{ID: fmt.Sprintf("AROA%d", i), Name: fmt.Sprintf("r%d", i), Path: "/"})
		}); err != nil {
			t.Errorf("store %d: %v", i, err)
		}
	}
}

func TestSchemaTooNew(t *testing.T) {
	url := pgsrv.NewDatabase(t)
	openTest(t, url)
	if err := pgsrv.Exec(t.Context(), dbName(t, url),
		fmt.Sprintf("INSERT INTO schema_migrations VALUES (%d, 'future', now())", LatestSchemaVersion()+1)); err != nil {
		t.Fatal(err)
	}
	_, err := Open(t.Context(), url)
	if !errors.Is(err, ErrSchemaTooNew) {
		t.Fatalf("Open of a newer schema = %v, want ErrSchemaTooNew", err)
	}
	if strings.Contains(err.Error(), pgtest.Password) {
		t.Errorf("error contains the password: %v", err)
	}
}

// TestFailedMigrationKeepsSchema: a migration that fails leaves the
// previous version and no trace of its own statements.
func TestFailedMigrationKeepsSchema(t *testing.T) {
	url := pgsrv.NewDatabase(t)
	s := openTest(t, url)
	ms, err := loadMigrations(migrationFiles)
	if err != nil {
		t.Fatal(err)
	}
	ms = append(ms, migration{version: len(ms) + 1, name: "broken", sql: "CREATE TABLE half (x int); SELECT no_such_function();"})
	if err := migrateWith(t.Context(), s.pool, ms, time.Now()); err == nil {
		t.Fatal("a failing migration succeeded")
	}
	var v int
	var half *string
	if err := s.pool.QueryRow(t.Context(), "SELECT max(version), to_regclass('half')::text FROM schema_migrations").Scan(&v, &half); err != nil {
		t.Fatal(err)
	}
	if v != LatestSchemaVersion() || half != nil {
		t.Errorf("after a failed migration: version %d, table half %v", v, half)
	}
}

func dbName(t *testing.T, url string) string {
	t.Helper()
	i := strings.LastIndex(url, "/")
	j := strings.Index(url, "?")
	return url[i+1 : j]
}

func TestRedact(t *testing.T) {
	cases := []struct{ in, want string }{
		{"postgres://u:secret@db:5432/podid?sslmode=require", "postgres://u:xxxxx@db:5432/podid?sslmode=require"},
		{"postgresql://u@db/podid", "postgresql://u@db/podid"},
		{"postgres://db1,db2/podid?password=secret&target_session_attrs=read-write",
			"postgres://db1,db2/podid?password=xxxxx&target_session_attrs=read-write"},
		{"postgres://u:sec%20ret@h/p", "postgres://u:xxxxx@h/p"},
		{"postgres://u:secret@10.0.0.1:5432,10.0.0.2:5432/podid?target_session_attrs=read-write",
			"postgres://u:xxxxx@10.0.0.1:5432,10.0.0.2:5432/podid?target_session_attrs=read-write"},
		{"postgres://u:secret@[::1/x", "postgres://(unparsable URL)"},
	}
	for _, c := range cases {
		if got := Redact(c.in); got != c.want {
			t.Errorf("Redact(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	for _, u := range []string{"postgres://x", "POSTGRESQL://x", "postgresql://x"} {
		if !IsURL(u) {
			t.Errorf("IsURL(%q) = false", u)
		}
	}
	for _, u := range []string{"", "/var/lib/podid", "file:x.db", "mysql://x"} {
		if IsURL(u) {
			t.Errorf("IsURL(%q) = true", u)
		}
	}
}

// TestOpenErrorsHideThePassword: connection and parse failures never echo
// the password.
func TestOpenErrorsHideThePassword(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	const secret = "s3cr3t-pw"
	for _, dsn := range []string{
		"postgres://podid:" + secret + "@127.0.0.1:1/podid?sslmode=disable&connect_timeout=2",
		"postgres://podid:" + secret + "@127.0.0.1:" + strconv.Itoa(pgsrv.Port) + "/podid?sslmode=disable",
		"postgres://podid:" + secret + "@127.0.0.1:5432/podid?sslmode=bogus",
		"postgres://podid:" + secret + "@127.0.0.1:5432/podid?pool_max_conns=x",
	} {
		_, err := Open(ctx, dsn)
		if err == nil {
			t.Errorf("Open(%s) succeeded", Redact(dsn))
			continue
		}
		if strings.Contains(err.Error(), secret) {
			t.Errorf("Open error contains the password: %v", err)
		}
	}
}

// TestWaitEventsAcrossStores: a commit through one Store wakes WaitEvents in
// another Store on the same database (LISTEN/NOTIFY), with a poll interval
// far too long to explain the wake-up.
func TestWaitEventsAcrossStores(t *testing.T) {
	url := pgsrv.NewDatabase(t)
	a, b := openTest(t, url), openTest(t, url)
	mustUpdate(t, a, func(tx store.Tx) error { return tx.CreateCluster(&store.Cluster{Name: "c"}) })
	done := make(chan error, 1)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	go func() { done <- b.WaitEvents(ctx, 0) }()
	mustUpdate(t, a, func(tx store.Tx) error {
		return tx.CreateAssociation(&store.Association{ID: "a-1", Cluster: "c", Namespace: "n", ServiceAccount: "s"})
	})
	if err := <-done; err != nil {
		t.Fatalf("WaitEvents in the other store = %v", err)
	}
}

// TestSubscribeAndResync: NotifyChange reaches subscribers of every Store;
// when the listening connection is cut, the Store reconnects and tells
// subscribers to resynchronize (topic "").
func TestSubscribeAndResync(t *testing.T) {
	url := pgsrv.NewDatabase(t)
	a, b := openTest(t, url), openTest(t, url)
	got := make(chan string, 16)
	cancelSub := b.Subscribe(func(topic string) { got <- topic })
	defer cancelSub()
	if err := a.NotifyChange(t.Context(), "roles"); err != nil {
		t.Fatal(err)
	}
	wantTopic(t, got, "roles")

	// Cut b's listening connection (every backend LISTENing on this
	// database except a's).
	wake := b.events.wait() // what WaitEvents blocks on
	if _, err := a.pool.Exec(t.Context(), `SELECT pg_terminate_backend(l.pid) FROM pg_stat_activity l
		WHERE l.datname = current_database() AND l.query LIKE 'LISTEN%' AND l.pid <> pg_backend_pid()`); err != nil {
		t.Fatal(err)
	}
	wantTopic(t, got, "")
	select {
	case <-wake: // the resync wakes event waiters before subscribers
	default:
		t.Error("event waiters not woken by the resync")
	}
	// Notifications flow again after the reconnect.
	if err := a.NotifyChange(t.Context(), "server-keys"); err != nil {
		t.Fatal(err)
	}
	wantTopic(t, got, "server-keys")
}

func wantTopic(t *testing.T, got <-chan string, want string) {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		select {
		case topic := <-got:
			if topic == want {
				return
			}
		case <-deadline:
			t.Fatalf("no %q notification within 30s", want)
		}
	}
}

func mustUpdate(t *testing.T, s store.Store, fn func(store.Tx) error) {
	t.Helper()
	if err := s.Update(t.Context(), fn); err != nil {
		t.Fatal(err)
	}
}

// TestClosed: a closed Store refuses work and wakes waiters.
func TestClosed(t *testing.T) {
	s, err := Open(t.Context(), pgsrv.NewDatabase(t), WithPollInterval(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.WaitEvents(t.Context(), 0) }()
	time.Sleep(100 * time.Millisecond)
	s.Close()
	if err := <-done; !errors.Is(err, ErrClosed) {
		t.Errorf("WaitEvents after Close = %v, want ErrClosed", err)
	}
	if err := s.View(t.Context(), func(store.Tx) error { return nil }); !errors.Is(err, ErrClosed) {
		t.Errorf("View after Close = %v, want ErrClosed", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}
}

// TestWritersSerializedAcrossStores: "create if none exists" callbacks run
// through two Stores on one database at once create exactly one record, as
// with SQLite's single writer (bootstrap of root and session-token keys
// relies on it when replicas start together).
func TestWritersSerializedAcrossStores(t *testing.T) {
	url := pgsrv.NewDatabase(t)
	stores := []*Store{openTest(t, url), openTest(t, url)}
	const n = 20
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			errs[i] = stores[i%2].Update(t.Context(), func(tx store.Tx) error {
				ks, err := tx.ListServerKeys("bootstrap")
				if err != nil || len(ks) > 0 {
					return err
				}
				return tx.PutServerKey(&store.ServerKey{ID: fmt.Sprintf("k%02d", i), Purpose: "bootstrap", Sealed: []byte("x"), Active: true})
			})
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("writer %d: %v", i, err)
		}
	}
	var ks []*store.ServerKey
	if err := stores[0].View(t.Context(), func(tx store.Tx) (err error) { ks, err = tx.ListServerKeys("bootstrap"); return }); err != nil {
		t.Fatal(err)
	}
	if len(ks) != 1 {
		t.Errorf("%d keys created, want 1", len(ks))
	}
}

// TestLockKeys: the write lock's key spelled in Update's BEGIN message is
// the one the rest of the code uses.
func TestLockKeys(t *testing.T) {
	if lockWriteText != strconv.FormatInt(lockWrite, 10) {
		t.Fatalf("lockWriteText = %s, want %d", lockWriteText, lockWrite)
	}
}

// TestDeadConnectionsReplaced: after the server ends every connection of
// the store (as a failover to a standby does), the next reads and writes
// succeed on new connections instead of failing once per pooled
// connection.
func TestDeadConnectionsReplaced(t *testing.T) {
	dbURL := pgsrv.NewDatabase(t)
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	db := strings.TrimPrefix(u.Path, "/")
	s := openTest(t, dbURL)
	ctx := t.Context()
	read := func() error {
		return s.View(ctx, func(tx store.Tx) error { _, err := tx.ListAudit(time.Time{}, 10); return err })
	}
	// Several pooled connections, all idle afterwards.
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			if err := s.View(ctx, func(tx store.Tx) error {
				_, err := tx.ListAudit(time.Time{}, 10)
				time.Sleep(50 * time.Millisecond)
				return err
			}); err != nil {
				t.Errorf("warm-up read: %v", err)
			}
		})
	}
	wg.Wait()
	for round := range 2 {
		if err := pgsrv.Exec(ctx, "postgres", "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '"+db+"' AND pid <> pg_backend_pid()"); err != nil {
			t.Fatal(err)
		}
		for i := range 3 {
			if err := read(); err != nil {
				t.Fatalf("round %d read %d after the connections were ended: %v", round, i, err)
			}
		}
		if round == 1 {
			continue
		}
		if err := pgsrv.Exec(ctx, "postgres", "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '"+db+"' AND pid <> pg_backend_pid()"); err != nil {
			t.Fatal(err)
		}
		if err := s.Update(ctx, func(tx store.Tx) error {
			return tx.AppendAudit(&store.AuditRecord{ID: "after-terminate", Time: time.Now(), Kind: "test", Decision: "issued"})
		}); err != nil {
			t.Fatalf("write after the connections were ended: %v", err)
		}
	}
	// A statement's own error is not retried: it comes back once.
	calls := 0
	err = s.View(ctx, func(tx store.Tx) error { calls++; _, err := tx.GetCluster("no-such-cluster"); return err })
	if !errors.Is(err, store.ErrNotFound) || calls != 1 {
		t.Errorf("missing cluster: err %v after %d calls, want ErrNotFound after 1", err, calls)
	}
}
