// Package pgtest runs a throwaway PostgreSQL server for tests: Debian's
// binaries (/usr/lib/postgresql/*/bin), initdb in a temporary directory as an
// unprivileged user (initdb refuses root), a server on a free 127.0.0.1 port
// with its unix socket in the same directory, and a fresh database per test.
//
// A test package starts one server in TestMain and asks it for a database in
// each test:
//
//	var pg *pgtest.Server
//
//	func TestMain(m *testing.M) { os.Exit(pgtest.Main(m, &pg)) }
//
//	func TestX(t *testing.T) { url := pg.NewDatabase(t); … }
//
// Without the binaries the tests skip with the install command, except under
// CI=true, where they fail.
package pgtest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/podid/podid/internal/testtools"
)

// InstallHint is how to get the binaries the helper needs.
const InstallHint = "apt-get install postgresql (or run scripts/install-deps.sh)"

// ErrNoBinaries means no PostgreSQL server binaries were found.
var ErrNoBinaries = errors.New("pgtest: no PostgreSQL binaries in /usr/lib/postgresql/*/bin (" + InstallHint + ")")

// Superuser and Password are the credentials of the test cluster's superuser.
const (
	Superuser = "podid"
	Password  = "podid-test-password"
)

// Server is a running throwaway PostgreSQL cluster.
type Server struct {
	// BinDir holds initdb, pg_ctl, postgres, pg_basebackup.
	BinDir string
	// Dir is the temporary directory holding the data directory and socket.
	Dir string
	// DataDir is the cluster's data directory.
	DataDir string
	// Port is the TCP port on 127.0.0.1.
	Port int

	cred *syscall.Credential
	cmd  *exec.Cmd
	log  *syncBuffer
	mu   sync.Mutex
	done chan struct{}
	n    int
}

// FindBinDir returns the newest /usr/lib/postgresql/N/bin holding initdb and
// postgres, or ErrNoBinaries.
func FindBinDir() (string, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return version(dirs[i]) > version(dirs[j]) })
	for _, d := range dirs {
		if isExec(filepath.Join(d, "initdb")) && isExec(filepath.Join(d, "postgres")) {
			return d, nil
		}
	}
	return "", ErrNoBinaries
}

func version(binDir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return n
}

func isExec(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0
}

// Options configure Start.
type Options struct {
	// Settings are extra postgresql.conf lines (e.g. "wal_level = replica").
	Settings []string
	// DataDir, when set, starts an existing data directory (a standby made by
	// pg_basebackup) instead of running initdb.
	DataDir string
	// Dir is the temporary directory to use with DataDir.
	Dir string
}

// Start runs initdb and starts the server. Stop it with Stop.
func Start(ctx context.Context, o Options) (*Server, error) {
	bin, err := FindBinDir()
	if err != nil {
		return nil, err
	}
	s := &Server{BinDir: bin}
	if s.cred, err = unprivileged(); err != nil {
		return nil, err
	}
	if o.DataDir != "" {
		s.Dir, s.DataDir = o.Dir, o.DataDir
	} else {
		if s.Dir, err = os.MkdirTemp(tempParent(s.cred), "podid-pg-"); err != nil {
			return nil, fmt.Errorf("pgtest: %w", err)
		}
		if err := s.chown(s.Dir); err != nil {
			s.cleanup()
			return nil, err
		}
		s.DataDir = filepath.Join(s.Dir, "data")
		if err := s.initdb(ctx); err != nil {
			s.cleanup()
			return nil, err
		}
	}
	conf := append([]string{
		"listen_addresses = '127.0.0.1'",
		"unix_socket_directories = '" + s.Dir + "'",
		"max_connections = 300",
		// Durability of the test cluster's files does not matter; the server
		// process is never killed by the tests that care about commits.
		"fsync = off",
		"full_page_writes = off",
		"log_min_messages = warning",
	}, o.Settings...)
	if err := appendFile(filepath.Join(s.DataDir, "postgresql.auto.conf"), strings.Join(conf, "\n")+"\n"); err != nil {
		s.cleanup()
		return nil, err
	}
	if err := s.start(ctx); err != nil {
		if o.DataDir == "" {
			s.cleanup()
		}
		return nil, err
	}
	return s, nil
}

// unprivileged returns the credential to run PostgreSQL as: nil when not
// root, else the postgres user if it exists, else nobody.
func unprivileged() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	for _, name := range []string{"postgres", "nobody"} {
		u, err := user.Lookup(name)
		if err != nil {
			continue
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
	}
	return nil, errors.New("pgtest: running as root and neither a postgres nor a nobody user exists")
}

// tempParent is where the cluster's directory goes: the usual temporary
// directory, unless the server runs as another user who could not reach it
// (a TMPDIR private to root); then /tmp.
func tempParent(cred *syscall.Credential) string {
	dir := os.TempDir()
	if cred == nil {
		return dir
	}
	for d := dir; ; d = filepath.Dir(d) {
		st, err := os.Stat(d)
		if err != nil || st.Mode().Perm()&0o001 == 0 {
			return "/tmp"
		}
		if d == filepath.Dir(d) {
			return dir
		}
	}
}

func (s *Server) chown(p string) error {
	if s.cred == nil {
		return nil
	}
	if err := os.Chown(p, int(s.cred.Uid), int(s.cred.Gid)); err != nil {
		return fmt.Errorf("pgtest: %w", err)
	}
	return nil
}

func appendFile(p, text string) error {
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("pgtest: %w", err)
	}
	_, err = f.WriteString(text)
	return errors.Join(err, f.Close())
}

// Command returns a command running a PostgreSQL binary as the cluster's
// user, in its directory.
func (s *Server) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, filepath.Join(s.BinDir, name), args...)
	cmd.Dir = s.Dir
	cmd.Env = append(os.Environ(), "LC_ALL=C", "PGPASSWORD="+Password)
	if s.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred}
	}
	return cmd
}

func (s *Server) initdb(ctx context.Context) error {
	pw := filepath.Join(s.Dir, "pwfile")
	if err := os.WriteFile(pw, []byte(Password+"\n"), 0o600); err != nil {
		return fmt.Errorf("pgtest: %w", err)
	}
	if err := s.chown(pw); err != nil {
		return err
	}
	out, err := s.Command(ctx, "initdb", "-D", s.DataDir, "-U", Superuser, "--pwfile="+pw,
		"--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8", "--locale=C", "--no-sync").CombinedOutput()
	if err != nil {
		return fmt.Errorf("pgtest: initdb: %w\n%s", err, out)
	}
	// Replication connections from loopback (pg_basebackup for standbys).
	return appendFile(filepath.Join(s.DataDir, "pg_hba.conf"), "host replication all 127.0.0.1/32 scram-sha-256\n")
}

// start launches postgres on a free port, retrying when another process
// takes the port first.
func (s *Server) start(ctx context.Context) error {
	var lastErr error
	for range 5 {
		port, err := freePort()
		if err != nil {
			return err
		}
		s.Port = port
		s.log = &syncBuffer{}
		cmd := s.Command(context.Background(), "postgres", "-D", s.DataDir, "-p", strconv.Itoa(port))
		cmd.Stdout, cmd.Stderr = s.log, s.log
		cmd.SysProcAttr = withSetpgid(cmd.SysProcAttr)
		if err := cmd.Start(); err != nil {
			return fmt.Errorf("pgtest: start postgres: %w", err)
		}
		s.cmd = cmd
		s.done = make(chan struct{})
		go func() { _ = cmd.Wait(); close(s.done) }()
		if lastErr = s.waitReady(ctx); lastErr == nil {
			return nil
		}
		s.kill()
	}
	return lastErr
}

func withSetpgid(a *syscall.SysProcAttr) *syscall.SysProcAttr {
	if a == nil {
		a = &syscall.SysProcAttr{}
	}
	a.Setpgid = true
	return a
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("pgtest: free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func (s *Server) waitReady(ctx context.Context) error {
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-s.done:
			return fmt.Errorf("pgtest: postgres exited:\n%s", s.log.String())
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		c, err := pgx.Connect(ctx, s.URL("postgres"))
		if err == nil {
			_ = c.Close(ctx)
			return nil
		}
	}
	return fmt.Errorf("pgtest: postgres not ready after 60s:\n%s", s.log.String())
}

// URL is the connection URL of database db as the superuser.
func (s *Server) URL(db string) string {
	u := url.URL{
		Scheme:   "postgres",
		User:     url.UserPassword(Superuser, Password),
		Host:     net.JoinHostPort("127.0.0.1", strconv.Itoa(s.Port)),
		Path:     "/" + db,
		RawQuery: "sslmode=disable",
	}
	return u.String()
}

// Exec runs SQL statements on database db.
func (s *Server) Exec(ctx context.Context, db string, sql ...string) error {
	c, err := pgx.Connect(ctx, s.URL(db))
	if err != nil {
		return fmt.Errorf("pgtest: connect: %w", err)
	}
	defer c.Close(context.Background())
	for _, q := range sql {
		if _, err := c.Exec(ctx, q); err != nil {
			return fmt.Errorf("pgtest: %s: %w", q, err)
		}
	}
	return nil
}

// NewDatabase creates an empty database for t and returns its URL; the
// database is dropped when t ends. On a nil Server (no binaries) it skips t,
// or fails it under CI=true.
func (s *Server) NewDatabase(t testing.TB) string {
	t.Helper()
	if s == nil {
		Unavailable(t)
	}
	s.mu.Lock()
	s.n++
	var b [4]byte
	_, _ = rand.Read(b[:])
	name := fmt.Sprintf("t%d_%s", s.n, hex.EncodeToString(b[:]))
	s.mu.Unlock()
	if err := s.Exec(t.Context(), "postgres", "CREATE DATABASE "+name+" STRATEGY FILE_COPY"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = s.Exec(ctx, "postgres", "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
	})
	return s.URL(name)
}

// Unavailable skips t with the install command, or fails it in CI
// (testtools.Need, the one such check).
func Unavailable(t testing.TB) {
	t.Helper()
	testtools.Need(t, testtools.Tool{Name: "PostgreSQL", Install: testtools.InstallDeps, Missing: func() error { return ErrNoBinaries }})
}

// Kill stops the server at once (SIGKILL to its process group), as a
// crashed database host would.
func (s *Server) Kill() { s.kill() }

func (s *Server) kill() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
	<-s.done
}

// Stop shuts the server down (fast shutdown) and removes its directory.
func (s *Server) Stop() {
	if s == nil {
		return
	}
	if s.cmd != nil && s.cmd.Process != nil {
		_ = s.cmd.Process.Signal(syscall.SIGINT)
		select {
		case <-s.done:
		case <-time.After(30 * time.Second):
			s.kill()
		}
	}
	s.cleanup()
}

func (s *Server) cleanup() {
	if s.Dir != "" {
		_ = os.RemoveAll(s.Dir)
	}
}

// Main starts one server for a test package, runs its tests and stops the
// server; use it as os.Exit(pgtest.Main(m, &srv)). Without PostgreSQL
// binaries *srv stays nil and NewDatabase skips (fails under CI=true).
func Main(m *testing.M, srv **Server) int {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	s, err := Start(ctx, Options{})
	cancel()
	switch {
	case errors.Is(err, ErrNoBinaries):
		fmt.Fprintln(os.Stderr, err)
	case err != nil:
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	*srv = s
	defer s.Stop()
	return m.Run()
}

// syncBuffer is a bytes.Buffer safe for the writing process and a reader.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// Lazy starts a server on first use, for test packages where only a few
// tests or benchmarks need PostgreSQL. Stop it from TestMain after m.Run.
type Lazy struct {
	once sync.Once
	s    *Server
	err  error
}

// Get returns the server, starting it on the first call. Without PostgreSQL
// binaries it skips t (fails it under CI=true).
func (l *Lazy) Get(t testing.TB) *Server {
	t.Helper()
	l.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		l.s, l.err = Start(ctx, Options{})
	})
	if errors.Is(l.err, ErrNoBinaries) {
		Unavailable(t)
	}
	if l.err != nil {
		t.Fatal(l.err)
	}
	return l.s
}

// Stop stops the server if Get started one.
func (l *Lazy) Stop() {
	if l.s != nil {
		l.s.Stop()
	}
}

// ReplicationSettings are the primary's settings for streaming standbys.
var ReplicationSettings = []string{"wal_level = replica", "max_wal_senders = 10", "hot_standby = on"}

// StartStandby makes a streaming standby of s with pg_basebackup (-R: it
// follows s as application name name) and starts it on its own port. Make
// it synchronous with SetSynchronousStandby. s must run with
// ReplicationSettings.
func (s *Server) StartStandby(ctx context.Context, name string) (*Server, error) {
	dir, err := os.MkdirTemp(tempParent(s.cred), "podid-pg-standby-")
	if err != nil {
		return nil, fmt.Errorf("pgtest: %w", err)
	}
	st := &Server{BinDir: s.BinDir, Dir: dir, DataDir: filepath.Join(dir, "data"), cred: s.cred}
	if err := st.chown(dir); err != nil {
		st.cleanup()
		return nil, err
	}
	conn := fmt.Sprintf("host=127.0.0.1 port=%d user=%s password=%s application_name=%s", s.Port, Superuser, Password, name)
	out, err := st.Command(ctx, "pg_basebackup", "-D", st.DataDir, "-d", conn, "-R", "-X", "stream", "-c", "fast", "--no-sync").CombinedOutput()
	if err != nil {
		st.cleanup()
		return nil, fmt.Errorf("pgtest: pg_basebackup: %w\n%s", err, out)
	}
	started, err := Start(ctx, Options{DataDir: st.DataDir, Dir: dir})
	if err != nil {
		st.cleanup()
		return nil, err
	}
	return started, nil
}

// SetSynchronousStandby makes commits on s wait for the standby named name
// (synchronous_standby_names), and waits until it is streaming in sync.
func (s *Server) SetSynchronousStandby(ctx context.Context, name string) error {
	if err := s.Exec(ctx, "postgres", "ALTER SYSTEM SET synchronous_standby_names = '"+name+"'", "SELECT pg_reload_conf()"); err != nil {
		return err
	}
	c, err := pgx.Connect(ctx, s.URL("postgres"))
	if err != nil {
		return fmt.Errorf("pgtest: connect: %w", err)
	}
	defer c.Close(context.Background())
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		var state string
		err := c.QueryRow(ctx, "SELECT sync_state FROM pg_stat_replication WHERE application_name = $1", name).Scan(&state)
		if err == nil && state == "sync" {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("pgtest: standby %s is not a synchronous standby after 60s", name)
}

// Promote turns a standby into a primary (pg_ctl promote, waiting for it).
func (s *Server) Promote(ctx context.Context) error {
	out, err := s.Command(ctx, "pg_ctl", "promote", "-w", "-D", s.DataDir).CombinedOutput()
	if err != nil {
		return fmt.Errorf("pgtest: pg_ctl promote: %w\n%s", err, out)
	}
	return nil
}
