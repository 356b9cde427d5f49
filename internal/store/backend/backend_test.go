package backend

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/podid/podid/internal/store"
	"github.com/podid/podid/internal/store/postgres/pgtest"
)

var pgsrv *pgtest.Server

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m, &pgsrv)) }

func TestSelect(t *testing.T) {
	cases := []struct {
		name    string
		cfg     Config
		want    Kind
		wantErr string
	}{
		{"data dir", Config{DataDir: "/d"}, SQLite, ""},
		{"postgres", Config{URL: "postgres://h/db", DataDir: "/d"}, PostgreSQL, ""},
		{"postgresql", Config{URL: "postgresql://h/db"}, PostgreSQL, ""},
		{"multi-host", Config{URL: "postgres://a:5432,b:5432/db?target_session_attrs=read-write"}, PostgreSQL, ""},
		{"upper case scheme", Config{URL: "POSTGRES://h/db"}, PostgreSQL, ""},
		{"nothing", Config{}, "", "no database"},
		{"other scheme", Config{URL: "mysql://u:secret@h/db", DataDir: "/d"}, "", "scheme mysql"},
		{"mistyped", Config{URL: "postgress://u:secret@h/db"}, "", "scheme postgress"},
		{"a path", Config{URL: "/var/lib/podid/podid.db"}, "", "no scheme"},
	}
	for _, c := range cases {
		got, err := Select(c.cfg)
		if c.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Errorf("%s: Select = %v, %v; want error with %q", c.name, got, err, c.wantErr)
			}
			if err != nil && strings.Contains(err.Error(), "secret") {
				t.Errorf("%s: error shows the password: %v", c.name, err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("%s: Select = %v, %v; want %v", c.name, got, err, c.want)
		}
	}
}

func TestURLFromEnv(t *testing.T) {
	env := map[string]string{EnvURL: "postgres://env/db"}
	getenv := func(k string) string { return env[k] }
	if got := URL("", getenv); got != "postgres://env/db" {
		t.Errorf("URL from env = %q", got)
	}
	if got := URL("postgres://flag/db", getenv); got != "postgres://flag/db" {
		t.Errorf("the flag must win over the environment: %q", got)
	}
}

func TestOpenSQLite(t *testing.T) {
	dir := t.TempDir()
	if _, _, err := Open(t.Context(), Config{DataDir: dir, MustExist: true}); err == nil ||
		!strings.Contains(err.Error(), "no podid data") {
		t.Fatalf("MustExist on an empty directory = %v", err)
	}
	st, opened, err := Open(t.Context(), Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if opened.Kind != SQLite || opened.Where != filepath.Join(dir, DatabaseFile) {
		t.Errorf("opened %+v", opened)
	}
	roundTrip(t, st, "c")
}

func TestOpenPostgres(t *testing.T) {
	url := pgsrv.NewDatabase(t)
	st, opened, err := Open(t.Context(), Config{URL: url, DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if opened.Kind != PostgreSQL || strings.Contains(opened.Where, pgtest.Password) || !strings.Contains(opened.Where, "xxxxx") {
		t.Errorf("opened %+v: want the PostgreSQL backend with a redacted URL", opened)
	}
	roundTrip(t, st, "first")

	// A multi-host URL whose first host refuses connections: pgx tries the
	// next one, and target_session_attrs=read-write picks the primary.
	multi := strings.Replace(url, "127.0.0.1:", "127.0.0.1:1,127.0.0.1:", 1) + "&target_session_attrs=read-write"
	st2, _, err := Open(t.Context(), Config{URL: multi})
	if err != nil {
		t.Fatalf("multi-host URL: %v", err)
	}
	defer st2.Close()
	roundTrip(t, st2, "second")
}

func roundTrip(t *testing.T, st store.Store, name string) {
	t.Helper()
	if err := st.Update(t.Context(), func(tx store.Tx) error {
		return tx.CreateCluster(&store.Cluster{Name: name})
	}); err != nil {
		t.Fatal(err)
	}
	n, err := func() (int, error) {
		var cs []*store.Cluster
		err := st.View(t.Context(), func(tx store.Tx) (err error) { cs, err = tx.ListClusters(store.Page{}); return })
		return len(cs), err
	}()
	if err != nil || n == 0 {
		t.Fatalf("clusters after a write: %d, %v", n, err)
	}
}
