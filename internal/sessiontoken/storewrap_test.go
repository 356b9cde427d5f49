package sessiontoken

import (
	"context"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/podid/podid/internal/store"
	"github.com/podid/podid/internal/store/sqlite"
)

// countingStore is a real SQLite store that counts transactions, so tests
// can assert that verifying tokens does not touch the database.
type countingStore struct {
	store.Store
	txs atomic.Int64
}

func (s *countingStore) View(ctx context.Context, fn func(store.Tx) error) error {
	s.txs.Add(1)
	return s.Store.View(ctx, fn)
}

func (s *countingStore) Update(ctx context.Context, fn func(store.Tx) error) error {
	s.txs.Add(1)
	return s.Store.Update(ctx, fn)
}

func (s *countingStore) readCount() int { return int(s.txs.Load()) }

// serverKeys lists the session-token keys as stored.
func (s *countingStore) serverKeys(t *testing.T) map[string]*store.ServerKey {
	t.Helper()
	out := map[string]*store.ServerKey{}
	err := s.Store.View(context.Background(), func(tx store.Tx) error {
		ks, err := tx.ListServerKeys(Purpose)
		for _, k := range ks {
			out[k.ID] = k
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func newKeyStore(t *testing.T) *countingStore {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "podid.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return &countingStore{Store: st}
}
