package postgres

import (
	"os"
	"testing"
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
