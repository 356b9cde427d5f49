// Package sqlite implements [store.Store] on a single SQLite database file
// with the pure-Go driver modernc.org/sqlite (no cgo).
//
// Concurrency model: the database runs in WAL mode. The Store owns exactly
// one write connection and a small pool of read connections. Update takes the
// write connection for the whole transaction (BEGIN IMMEDIATE … COMMIT), so
// writers inside one process queue in Go instead of failing with SQLITE_BUSY;
// a busy timeout covers other processes writing the same file. View runs on a
// read connection (PRAGMA query_only) and sees a consistent snapshot without
// blocking the writer. Each connection keeps its own prepared statements.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	sqlite "modernc.org/sqlite"

	"github.com/podid/podid/internal/store"
)

// ErrClosed is returned by every method of a Store after Close.
var ErrClosed = errors.New("sqlite: store is closed")

// Defaults for the options.
const (
	DefaultPollInterval = time.Second
	DefaultBusyTimeout  = 5 * time.Second
	DefaultReadConns    = 4
)

// Option configures Open.
type Option func(*options)

type options struct {
	pollInterval time.Duration
	busyTimeout  time.Duration
	readConns    int
	now          func() time.Time
}

// WithPollInterval sets how long WaitEvents waits before returning when no
// commit in this process wakes it. The fallback lets a replica notice events
// written by another process sharing the database. Default 1s.
func WithPollInterval(d time.Duration) Option {
	return func(o *options) {
		if d > 0 {
			o.pollInterval = d
		}
	}
}

// WithBusyTimeout sets how long a statement waits for a lock held by another
// process before failing. Default 5s.
func WithBusyTimeout(d time.Duration) Option {
	return func(o *options) {
		if d > 0 {
			o.busyTimeout = d
		}
	}
}

// WithReadConns sets the number of read connections (concurrent View calls).
// Default 4.
func WithReadConns(n int) Option {
	return func(o *options) {
		if n > 0 {
			o.readConns = n
		}
	}
}

// WithNow sets the clock used for association event and idempotency token
// timestamps. Default time.Now.
func WithNow(now func() time.Time) Option {
	return func(o *options) {
		if now != nil {
			o.now = now
		}
	}
}

// Store is a [store.Store] backed by a SQLite database file. It is safe for
// concurrent use.
type Store struct {
	path string
	opts options

	wdb, rdb *sql.DB
	writer   chan *conn // holds the single write connection while idle
	readers  chan *conn // idle read connections
	nreaders int

	kinds map[store.PrincipalKind]*kindSQL

	events notifier

	done      chan struct{}
	closeOnce sync.Once
	closeErr  error
}

var _ store.Store = (*Store)(nil)

// conn is one dedicated database connection and the statements prepared on
// it. It belongs to whoever took it from its pool; the mutex only guards the
// statement map against a caller sharing its Tx between goroutines.
type conn struct {
	c     *sql.Conn
	mu    sync.Mutex
	stmts map[string]*sql.Stmt
}

func newConn(c *sql.Conn) *conn {
	return &conn{c: c, stmts: make(map[string]*sql.Stmt)}
}

// stmt returns the statement for q prepared on this connection, preparing it
// on first use.
func (c *conn) stmt(ctx context.Context, q string) (*sql.Stmt, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if s, ok := c.stmts[q]; ok {
		return s, nil
	}
	s, err := c.c.PrepareContext(ctx, q)
	if err != nil {
		return nil, err
	}
	c.stmts[q] = s
	return s, nil
}

// control runs a transaction control statement (BEGIN, COMMIT, ROLLBACK)
// through the connection's prepared statements.
func (c *conn) control(ctx context.Context, q string) error {
	st, err := c.stmt(ctx, q)
	if err != nil {
		return err
	}
	_, err = st.ExecContext(ctx)
	return err
}

func (c *conn) close() error {
	var errs []error
	for _, s := range c.stmts {
		errs = append(errs, s.Close())
	}
	errs = append(errs, c.c.Close())
	return errors.Join(errs...)
}

// Open opens (creating if needed) the SQLite database at path, applies any
// pending schema migrations and returns a ready Store. A database whose
// schema is newer than this binary knows is refused with [ErrSchemaTooNew].
// ctx bounds the opening and migration work only.
func Open(ctx context.Context, path string, opts ...Option) (*Store, error) {
	o := options{
		pollInterval: DefaultPollInterval,
		busyTimeout:  DefaultBusyTimeout,
		readConns:    DefaultReadConns,
		now:          time.Now,
	}
	for _, opt := range opts {
		opt(&o)
	}
	if path == "" || path == ":memory:" || strings.HasPrefix(path, "file:") {
		return nil, fmt.Errorf("sqlite: open %q: a database file path is required", path)
	}
	// Create the file ourselves so it (and the WAL and shared-memory files,
	// which SQLite creates with the database's mode) is private to the owner.
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %q: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("sqlite: open %q: %w", path, err)
	}

	s := &Store{
		path:     path,
		opts:     o,
		writer:   make(chan *conn, 1),
		readers:  make(chan *conn, o.readConns),
		nreaders: o.readConns,
		kinds:    principalKinds(),
		done:     make(chan struct{}),
	}
	s.events.init()
	if err := s.open(ctx); err != nil {
		s.abandon()
		return nil, err
	}
	return s, nil
}

func (s *Store) open(ctx context.Context) error {
	var err error
	s.wdb, err = openDB(s.path, s.opts, false)
	if err != nil {
		return err
	}
	s.wdb.SetMaxOpenConns(1)
	s.wdb.SetMaxIdleConns(1)
	wc, err := s.wdb.Conn(ctx)
	if err != nil {
		return fmt.Errorf("sqlite: open %q: %w", s.path, err)
	}
	w := newConn(wc)
	if err := checkPragmas(ctx, wc); err != nil {
		_ = w.close()
		return fmt.Errorf("sqlite: open %q: %w", s.path, err)
	}
	if err := migrate(ctx, wc, s.opts.now()); err != nil {
		_ = w.close()
		return fmt.Errorf("sqlite: open %q: %w", s.path, err)
	}
	s.writer <- w

	s.rdb, err = openDB(s.path, s.opts, true)
	if err != nil {
		return err
	}
	s.rdb.SetMaxOpenConns(s.nreaders)
	s.rdb.SetMaxIdleConns(s.nreaders)
	for range s.nreaders {
		rc, err := s.rdb.Conn(ctx)
		if err == nil {
			err = rc.PingContext(ctx)
			if err != nil {
				_ = rc.Close()
			}
		}
		if err != nil {
			return fmt.Errorf("sqlite: open %q: read connection: %w", s.path, err)
		}
		s.readers <- newConn(rc)
	}
	return nil
}

// openDB returns a database handle whose connections are configured by DSN
// parameters (applied by the driver to every new connection).
func openDB(path string, o options, readOnly bool) (*sql.DB, error) {
	q := []string{
		"_pragma=busy_timeout(" + strconv.FormatInt(o.busyTimeout.Milliseconds(), 10) + ")",
		"_pragma=foreign_keys(1)",
		"_pragma=synchronous(FULL)",
	}
	if readOnly {
		q = append(q, "_query_only=1")
	} else {
		// WAL mode persists in the file; the size limit truncates the WAL
		// after a checkpoint so one large write does not leave it large.
		q = append(q, "_pragma=journal_mode(WAL)", "_pragma=journal_size_limit(67108864)")
	}
	dsn := "file:" + escapePath(path) + "?" + strings.Join(q, "&")
	c, err := sqlite.NewConnector(dsn)
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %q: %w", path, err)
	}
	db := sql.OpenDB(c)
	db.SetConnMaxIdleTime(0)
	db.SetConnMaxLifetime(0)
	return db, nil
}

// escapePath makes a file path safe inside a SQLite URI.
func escapePath(p string) string {
	return strings.NewReplacer("%", "%25", "?", "%3F", "#", "%23").Replace(p)
}

// checkPragmas verifies the connection settings the store relies on.
func checkPragmas(ctx context.Context, c *sql.Conn) error {
	var mode string
	if err := c.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		return fmt.Errorf("read journal_mode: %w", err)
	}
	if !strings.EqualFold(mode, "wal") {
		return fmt.Errorf("journal_mode is %q, want wal (is the file on a local file system?)", mode)
	}
	var fk int
	if err := c.QueryRowContext(ctx, "PRAGMA foreign_keys").Scan(&fk); err != nil {
		return fmt.Errorf("read foreign_keys: %w", err)
	}
	if fk != 1 {
		return errors.New("foreign keys are not enabled")
	}
	return nil
}

// acquire takes a connection from pool, waiting until one is free, ctx ends
// or the store closes.
func (s *Store) acquire(ctx context.Context, pool chan *conn) (*conn, error) {
	select {
	case <-s.done:
		return nil, ErrClosed
	default:
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: waiting for a connection: %w", err)
	}
	select {
	case c := <-pool:
		select {
		case <-s.done:
			pool <- c
			return nil, ErrClosed
		default:
			return c, nil
		}
	case <-ctx.Done():
		return nil, fmt.Errorf("sqlite: waiting for a connection: %w", ctx.Err())
	case <-s.done:
		return nil, ErrClosed
	}
}

// View runs fn in a read-only transaction on a consistent snapshot. Writes
// inside fn fail. The Tx must not be used after fn returns.
func (s *Store) View(ctx context.Context, fn func(store.Tx) error) error {
	c, err := s.acquire(ctx, s.readers)
	if err != nil {
		return err
	}
	defer func() { s.readers <- c }()
	if err := c.control(ctx, "BEGIN"); err != nil {
		return mapErr(err, "sqlite: begin read transaction")
	}
	t := &tx{ctx: ctx, c: c, s: s}
	defer func() {
		t.done.Store(true)
		// A read transaction has nothing to keep; rolling back also ends it
		// when fn panics.
		_ = c.control(context.Background(), "ROLLBACK")
	}()
	return fn(t)
}

// Update runs fn in a read-write transaction. Writers are serialized: the
// call waits (honouring ctx) for the single write connection. If fn returns
// an error, or panics, the transaction is rolled back and fn's error is
// returned unchanged. The Tx must not be used after fn returns.
func (s *Store) Update(ctx context.Context, fn func(store.Tx) error) error {
	c, err := s.acquire(ctx, s.writer)
	if err != nil {
		return err
	}
	defer func() { s.writer <- c }()
	if err := c.control(ctx, "BEGIN IMMEDIATE"); err != nil {
		return mapErr(err, "sqlite: begin write transaction")
	}
	t := &tx{ctx: ctx, c: c, s: s, write: true}
	committed := false
	defer func() {
		t.done.Store(true)
		if !committed {
			// Also runs when fn panics, so the connection goes back to the
			// pool outside any transaction. A failed COMMIT may already
			// have ended the transaction; the error is then expected.
			_ = c.control(context.Background(), "ROLLBACK")
		}
	}()
	if err := fn(t); err != nil {
		return err
	}
	t.done.Store(true)
	if err := c.control(ctx, "COMMIT"); err != nil {
		return mapErr(err, "sqlite: commit")
	}
	committed = true
	if t.wroteEvents.Load() {
		s.events.broadcast()
	}
	return nil
}

// WaitEvents blocks until an association event with a revision greater than
// after exists, ctx ends (returning its error), the store closes, or the poll
// interval passes (returning nil). Commits in this process wake it at once.
func (s *Store) WaitEvents(ctx context.Context, after int64) error {
	timer := time.NewTimer(s.opts.pollInterval)
	defer timer.Stop()
	for {
		// Take the channel before reading the revision so a commit between
		// the two cannot be missed.
		wake := s.events.wait()
		rev, err := s.latestRevision(ctx)
		if err != nil {
			return err
		}
		if rev > after {
			return nil
		}
		select {
		case <-wake:
		case <-timer.C:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		case <-s.done:
			return ErrClosed
		}
	}
}

func (s *Store) latestRevision(ctx context.Context) (int64, error) {
	c, err := s.acquire(ctx, s.readers)
	if err != nil {
		return 0, err
	}
	defer func() { s.readers <- c }()
	st, err := c.stmt(ctx, sqlLatestRevision)
	if err != nil {
		return 0, mapErr(err, "sqlite: latest revision")
	}
	var rev int64
	if err := st.QueryRowContext(ctx).Scan(&rev); err != nil {
		return 0, mapErr(err, "sqlite: latest revision")
	}
	return rev, nil
}

// Close waits for running transactions to finish, then releases the
// connections. Blocked WaitEvents calls return ErrClosed. Close is
// idempotent.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		close(s.done)
		var errs []error
		for range s.nreaders {
			errs = append(errs, (<-s.readers).close())
		}
		errs = append(errs, (<-s.writer).close())
		errs = append(errs, s.closeDBs())
		if err := errors.Join(errs...); err != nil {
			s.closeErr = fmt.Errorf("sqlite: close %q: %w", s.path, err)
		}
	})
	return s.closeErr
}

// abandon releases whatever a failed Open had acquired.
func (s *Store) abandon() {
	for {
		select {
		case c := <-s.readers:
			_ = c.close()
		case c := <-s.writer:
			_ = c.close()
		default:
			_ = s.closeDBs()
			return
		}
	}
}

// closeDBs closes the database handles.
func (s *Store) closeDBs() error {
	var errs []error
	if s.rdb != nil {
		errs = append(errs, s.rdb.Close())
	}
	if s.wdb != nil {
		errs = append(errs, s.wdb.Close())
	}
	return errors.Join(errs...)
}

// notifier is a broadcast: wait returns a channel that is closed by the next
// broadcast.
type notifier struct {
	mu sync.Mutex
	ch chan struct{}
}

func (n *notifier) init() { n.ch = make(chan struct{}) }

func (n *notifier) wait() <-chan struct{} {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.ch
}

func (n *notifier) broadcast() {
	n.mu.Lock()
	defer n.mu.Unlock()
	close(n.ch)
	n.ch = make(chan struct{})
}

// tx implements store.Tx on one connection inside BEGIN … COMMIT/ROLLBACK.
// The Tx interface has no context parameters, so the context of the View or
// Update call that created the transaction bounds every statement. A tx may
// be shared by goroutines inside the callback; its statements run one at a
// time. It refuses all use once the callback has returned.
type tx struct {
	ctx         context.Context
	c           *conn
	s           *Store
	write       bool
	wroteEvents atomic.Bool
	done        atomic.Bool
}

var _ store.Tx = (*tx)(nil)
