// Package postgres implements [store.Store] on PostgreSQL with pgx and its
// connection pool, for running several podid servers on one database.
//
// Concurrency model: View runs in a REPEATABLE READ READ ONLY transaction (a
// consistent snapshot) and never waits for writers. Update runs in READ
// COMMITTED after taking a transaction-scoped advisory lock shared by every
// replica, so writers run one at a time, as SQLite's single write connection
// makes them: each statement sees every earlier commit, read-then-write
// callbacks cannot race, and change-feed revisions become visible strictly
// in order. Every write statement runs under a savepoint so that a not-found
// or conflict result leaves the transaction usable, as the store contract
// requires.
//
// Change notifications: the transaction that appends an association event
// also runs pg_notify on the channel [EventChannel]; a dedicated listening
// connection wakes WaitEvents in every replica. When that connection drops,
// the Store reconnects, and wakes every waiter and every [Store.Subscribe]r
// once it listens again (a resync: anything notified while it was away is
// then read from the tables). The poll interval bounds how stale a waiter
// can be if notifications are lost.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/podid/podid/internal/store"
)

// ErrClosed is returned by every method of a Store after Close.
var ErrClosed = errors.New("postgres: store is closed")

// EventChannel is the LISTEN/NOTIFY channel that carries association event
// revisions.
const EventChannel = "podid_association_events"

// ChangeChannel is the LISTEN/NOTIFY channel that carries other changes
// replicas cache (see [Store.NotifyChange]); the payload names the topic.
const ChangeChannel = "podid_changes"

// Advisory lock keys (64-bit, "podid" in ASCII in the high bytes).
const (
	lockMigrate int64 = 0x706f646964_000001
	lockWrite   int64 = 0x706f646964_000002
)

// Defaults for the options.
const (
	DefaultPollInterval = time.Second
	DefaultMaxConns     = 16
)

// Option configures Open.
type Option func(*options)

type options struct {
	pollInterval time.Duration
	maxConns     int32
	now          func() time.Time
}

// WithPollInterval sets how long WaitEvents waits before returning when no
// notification wakes it. Default 1s.
func WithPollInterval(d time.Duration) Option {
	return func(o *options) {
		if d > 0 {
			o.pollInterval = d
		}
	}
}

// WithMaxConns sets the pool's maximum number of connections (the URL's
// pool_max_conns wins when given). Default 16.
func WithMaxConns(n int) Option {
	return func(o *options) {
		if n > 0 {
			o.maxConns = int32(n)
		}
	}
}

// WithNow sets the clock used for event, token and migration timestamps.
func WithNow(now func() time.Time) Option {
	return func(o *options) {
		if now != nil {
			o.now = now
		}
	}
}

// Store is a [store.Store] on a PostgreSQL database. It is safe for
// concurrent use.
type Store struct {
	pool  *pgxpool.Pool
	opts  options
	kinds map[store.PrincipalKind]*kindSQL
	where string // the redacted URL, for error messages

	events notifier

	subMu sync.Mutex
	subs  map[int]func(topic string)
	nsub  int

	done       chan struct{}
	stopListen context.CancelFunc
	listenWG   sync.WaitGroup
	closeOnce  sync.Once
}

var _ store.Store = (*Store)(nil)

// IsURL reports whether dsn selects PostgreSQL: a postgres:// or
// postgresql:// URL.
func IsURL(dsn string) bool {
	l := strings.ToLower(dsn)
	return strings.HasPrefix(l, "postgres://") || strings.HasPrefix(l, "postgresql://")
}

// Redact returns dsn with its password (in the user info or a password
// query parameter) replaced by "xxxxx", for logs and errors. A string that
// does not parse as a URL is replaced entirely.
func Redact(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		return "postgres://(unparsable URL)"
	}
	if u.User != nil {
		if _, ok := u.User.Password(); ok {
			u.User = url.UserPassword(u.User.Username(), "xxxxx")
		}
	}
	q := u.Query()
	if q.Has("password") {
		q.Set("password", "xxxxx")
		u.RawQuery = q.Encode()
	}
	return u.String()
}

// Open connects to the database at dsn (a postgres:// URL; multi-host URLs
// and target_session_attrs=read-write work), applies pending schema
// migrations under an advisory lock (so servers starting together apply each
// exactly once) and starts listening for change notifications. ctx bounds the
// opening and migration work only. Errors never contain the password.
func Open(ctx context.Context, dsn string, opts ...Option) (*Store, error) {
	o := options{pollInterval: DefaultPollInterval, maxConns: DefaultMaxConns, now: time.Now}
	for _, opt := range opts {
		opt(&o)
	}
	where := Redact(dsn)
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// pgx redacts the password in its parse errors; the URL itself is
		// not repeated.
		return nil, fmt.Errorf("postgres: open %s: %w", where, err)
	}
	if !strings.Contains(dsn, "pool_max_conns") {
		cfg.MaxConns = o.maxConns
	}
	// A replica that stops mid-transaction (a hung process, a partition)
	// must not hold the write lock for long.
	if _, ok := cfg.ConnConfig.RuntimeParams["idle_in_transaction_session_timeout"]; !ok {
		cfg.ConnConfig.RuntimeParams["idle_in_transaction_session_timeout"] = "30000"
	}
	if cfg.HealthCheckPeriod > 5*time.Second {
		cfg.HealthCheckPeriod = 5 * time.Second
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: open %s: %w", where, err)
	}
	s := &Store{
		pool:  pool,
		opts:  o,
		kinds: principalKinds(),
		where: where,
		subs:  make(map[int]func(string)),
		done:  make(chan struct{}),
	}
	s.events.init()
	if err := migrate(ctx, pool, o.now()); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: open %s: %w", where, err)
	}
	lctx, cancel := context.WithCancel(context.Background())
	s.stopListen = cancel
	ready := make(chan error, 1)
	s.listenWG.Add(1)
	go s.listen(lctx, cfg.ConnConfig, ready)
	select {
	case err := <-ready:
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("postgres: open %s: listen: %w", where, err)
		}
	case <-ctx.Done():
		s.Close()
		return nil, fmt.Errorf("postgres: open %s: %w", where, ctx.Err())
	}
	return s, nil
}

// Pool returns the store's connection pool, for backend-specific work such
// as leader leases ([Store.Lease]).
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// closed reports ErrClosed after Close, and ctx's error when it has ended.
func (s *Store) check(ctx context.Context) error {
	select {
	case <-s.done:
		return ErrClosed
	default:
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	return nil
}

// Transaction control statements. View's BEGIN travels in one batch with
// the callback's first query, so a one-statement View costs two round trips
// (query, ROLLBACK) instead of three; Update's BEGIN and the write lock go
// in one simple-protocol message.
const (
	sqlBeginRead  = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"
	sqlBeginWrite = "BEGIN ISOLATION LEVEL READ COMMITTED; SELECT pg_advisory_xact_lock(" + lockWriteText + ")"
	lockWriteText = "8101804658474876930" // lockWrite in decimal (checked by TestLockKeys)
)

// release ends a connection's use: a connection whose transaction could not
// be ended cleanly is closed rather than returned to the pool.
func release(c *pgxpool.Conn, inTx bool) {
	if inTx {
		if _, err := c.Exec(context.Background(), "ROLLBACK"); err != nil {
			_ = c.Conn().Close(context.Background())
		}
	}
	c.Release()
}

// View runs fn in a read-only transaction on a consistent snapshot
// (REPEATABLE READ READ ONLY). The Tx must not be used after fn returns.
//
// When fn's first statement finds its pooled connection dead (the server
// it was opened to has gone, as after a failover to a standby), fn has
// read nothing: the pool's connections are dropped and fn runs again on a
// new one, at most maxAttempts times in all, so a failover costs callers
// no error once the new primary accepts connections.
func (s *Store) View(ctx context.Context, fn func(store.Tx) error) error {
	for attempt := 1; ; attempt++ {
		dead, err := s.view(ctx, fn)
		if !dead || attempt == maxAttempts || ctx.Err() != nil {
			return err
		}
		s.pool.Reset()
	}
}

// maxAttempts bounds View's and Update's runs when a connection turns out
// to be dead before anything ran on it.
const maxAttempts = 3

// view is one attempt of View; dead reports that the connection was dead
// before fn read anything.
func (s *Store) view(ctx context.Context, fn func(store.Tx) error) (dead bool, err error) {
	if err := s.check(ctx); err != nil {
		return false, err
	}
	c, err := s.pool.Acquire(ctx)
	if err != nil {
		return false, fmt.Errorf("postgres: begin read transaction: %w", err)
	}
	t := &tx{ctx: ctx, pt: c, s: s, pendingBegin: sqlBeginRead}
	defer func() {
		t.done.Store(true)
		t.mu.Lock()
		begun := t.pendingBegin == ""
		dead = err != nil && t.deadConn
		t.mu.Unlock()
		release(c, begun && !dead)
	}()
	return false, fn(t)
}

// connectionLost reports whether err means the connection is gone (closed,
// reset, or its server shutting down), as opposed to an error of the
// statement itself.
func connectionLost(err error) bool {
	if err == nil {
		return false
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		// Class 08: connection exception; 57P01-57P03: the server is
		// shutting down, crashed, or not accepting connections yet.
		return strings.HasPrefix(pe.Code, "08") || pe.Code == "57P01" || pe.Code == "57P02" || pe.Code == "57P03"
	}
	return pgconn.SafeToRetry(err) || (!pgconn.Timeout(err) && isNetworkError(err))
}

// isNetworkError reports a transport failure under a pgx error.
func isNetworkError(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed)
}

// Update runs fn in a read-write transaction (READ COMMITTED). If fn
// returns an error, or panics, the transaction is rolled back and fn's error
// is returned unchanged. The Tx must not be used after fn returns.
func (s *Store) Update(ctx context.Context, fn func(store.Tx) error) error {
	if err := s.check(ctx); err != nil {
		return err
	}
	// One writer at a time across every replica, as with SQLite's single
	// write connection: a read-then-write inside fn (bootstrap "create if
	// none", idempotent creates) sees every earlier commit and cannot race
	// another replica's, and change-feed revisions commit in order. A
	// connection found dead at BEGIN (before fn runs) is replaced, as in
	// View.
	var c *pgxpool.Conn
	for attempt := 1; ; attempt++ {
		var err error
		c, err = s.pool.Acquire(ctx)
		if err != nil {
			return fmt.Errorf("postgres: begin write transaction: %w", err)
		}
		_, err = c.Exec(ctx, sqlBeginWrite)
		if err == nil {
			break
		}
		c.Release()
		if !connectionLost(err) || attempt == maxAttempts || ctx.Err() != nil {
			return fmt.Errorf("postgres: begin write transaction and take the write lock: %w", err)
		}
		s.pool.Reset()
	}
	t := &tx{ctx: ctx, pt: c, s: s, write: true, eventLock: true}
	inTx := true
	defer func() {
		t.done.Store(true)
		release(c, inTx)
	}()
	if err := fn(t); err != nil {
		return err
	}
	t.done.Store(true)
	tag, err := c.Exec(ctx, "COMMIT")
	if err != nil {
		return fmt.Errorf("postgres: commit: %w", err)
	}
	inTx = false
	if tag.String() != "COMMIT" {
		// COMMIT of a transaction a failed statement aborted rolls back.
		return fmt.Errorf("postgres: commit: the transaction was rolled back (%s)", tag.String())
	}
	if t.wroteEvents {
		s.events.broadcast()
	}
	return nil
}

// WaitEvents blocks until an association event with a revision greater than
// after exists, ctx ends (returning its error), the store closes, or the poll
// interval passes (returning nil). Commits in any replica wake it through
// LISTEN/NOTIFY.
func (s *Store) WaitEvents(ctx context.Context, after int64) error {
	timer := time.NewTimer(s.opts.pollInterval)
	defer timer.Stop()
	for {
		wake := s.events.wait()
		if err := s.check(ctx); err != nil {
			return err
		}
		var rev int64
		if err := s.pool.QueryRow(ctx, sqlLatestRevision).Scan(&rev); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("postgres: latest revision: %w", err)
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

// Subscribe registers fn to be called (on the listener's goroutine; it must
// not block) with the topic of every change notified through [Store.NotifyChange]
// by any replica, and with the topic "" after the listening connection was
// re-established (notifications may have been missed: resynchronize
// everything). The returned function unsubscribes.
func (s *Store) Subscribe(fn func(topic string)) (cancel func()) {
	s.subMu.Lock()
	defer s.subMu.Unlock()
	s.nsub++
	id := s.nsub
	s.subs[id] = fn
	return func() {
		s.subMu.Lock()
		defer s.subMu.Unlock()
		delete(s.subs, id)
	}
}

func (s *Store) publish(topic string) {
	s.subMu.Lock()
	fns := make([]func(string), 0, len(s.subs))
	for _, fn := range s.subs {
		fns = append(fns, fn)
	}
	s.subMu.Unlock()
	for _, fn := range fns {
		fn(topic)
	}
}

// NotifyChange tells every replica (this one included) that topic changed,
// e.g. "roles" or "server-keys". Call it after the change committed.
func (s *Store) NotifyChange(ctx context.Context, topic string) error {
	if err := s.check(ctx); err != nil {
		return err
	}
	if _, err := s.pool.Exec(ctx, "SELECT pg_notify($1, $2)", ChangeChannel, topic); err != nil {
		return fmt.Errorf("postgres: notify %q: %w", topic, err)
	}
	return nil
}

// listen keeps one connection LISTENing on the notification channels,
// reconnecting with a backoff. ready gets the first connection's outcome.
func (s *Store) listen(ctx context.Context, cc *pgx.ConnConfig, ready chan<- error) {
	defer s.listenWG.Done()
	first := true
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		err := s.listenOnce(ctx, cc, func() {
			backoff = 100 * time.Millisecond
			if first {
				first = false
				ready <- nil
				return
			}
			// Back after a disconnect: whatever was notified meanwhile is
			// lost; wake everyone to re-read.
			s.events.broadcast()
			s.publish("")
		})
		if first {
			ready <- err
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 2*time.Second)
	}
}

func (s *Store) listenOnce(ctx context.Context, cc *pgx.ConnConfig, listening func()) error {
	conn, err := pgx.ConnectConfig(ctx, cc.Copy())
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	for _, ch := range []string{EventChannel, ChangeChannel} {
		if _, err := conn.Exec(ctx, "LISTEN "+ch); err != nil {
			return err
		}
	}
	listening()
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		switch n.Channel {
		case EventChannel:
			s.events.broadcast()
		case ChangeChannel:
			s.publish(n.Payload)
		}
	}
}

// Close stops listening and closes the pool, waiting for running
// transactions. Blocked WaitEvents calls return ErrClosed. Close is
// idempotent.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		close(s.done)
		if s.stopListen != nil {
			s.stopListen()
		}
		s.listenWG.Wait()
		s.pool.Close()
	})
	return nil
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
