package sessiontoken

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/podid/podid/internal/secrets"
	"github.com/podid/podid/internal/store"
)

// ErrNoKeys is returned by Load when the store holds no active session-token key.
var ErrNoKeys = errors.New("sessiontoken: no active session-token key in the store")

// LoadOrCreate returns a Minter over the session-token keys in the store,
// first creating (in the same transaction) an active key if there is none.
// Keys are sealed by kr with secrets.ServerKeyAD(Purpose, ID).
func LoadOrCreate(ctx context.Context, st store.Store, kr *secrets.Keyring, now func() time.Time) (*Minter, error) {
	var recs []*store.ServerKey
	err := st.Update(ctx, func(tx store.Tx) error {
		var err error
		recs, err = tx.ListServerKeys(Purpose)
		if err != nil {
			return fmt.Errorf("list session-token keys: %w", err)
		}
		if activeRecord(recs) != nil {
			return nil
		}
		rec, err := newRecord(kr, now())
		if err != nil {
			return err
		}
		if err := tx.PutServerKey(rec); err != nil {
			return fmt.Errorf("store session-token key: %w", err)
		}
		recs = append(recs, rec)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("sessiontoken: load or create keys: %w", err)
	}
	return minterFromRecords(kr, recs)
}

// Load returns a Minter over the session-token keys in the store, reading
// only. It returns ErrNoKeys when there is no active key.
func Load(ctx context.Context, st store.Store, kr *secrets.Keyring) (*Minter, error) {
	var recs []*store.ServerKey
	err := st.View(ctx, func(tx store.Tx) error {
		var err error
		recs, err = tx.ListServerKeys(Purpose)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("sessiontoken: load keys: %w", err)
	}
	return minterFromRecords(kr, recs)
}

// Rotate adds a new active session-token key and marks the others
// inactive; they keep opening the tokens they minted until those expire.
// Other replicas learn the new key when a Keeper meets a token sealed by
// it, or when they restart.
func Rotate(ctx context.Context, st store.Store, kr *secrets.Keyring, now func() time.Time) (*Minter, error) {
	var recs []*store.ServerKey
	err := st.Update(ctx, func(tx store.Tx) error {
		var err error
		recs, err = tx.ListServerKeys(Purpose)
		if err != nil {
			return fmt.Errorf("list session-token keys: %w", err)
		}
		for _, r := range recs {
			if r.Active {
				r.Active = false
				if err := tx.PutServerKey(r); err != nil {
					return fmt.Errorf("deactivate session-token key %s: %w", r.ID, err)
				}
			}
		}
		rec, err := newRecord(kr, now())
		if err != nil {
			return err
		}
		if err := tx.PutServerKey(rec); err != nil {
			return fmt.Errorf("store session-token key: %w", err)
		}
		recs = append(recs, rec)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("sessiontoken: rotate keys: %w", err)
	}
	return minterFromRecords(kr, recs)
}

func newRecord(kr *secrets.Keyring, now time.Time) (*store.ServerKey, error) {
	k, err := NewKey()
	if err != nil {
		return nil, err
	}
	raw, err := MarshalKey(k)
	if err != nil {
		return nil, err
	}
	sealed, err := kr.Seal(raw, secrets.ServerKeyAD(Purpose, k.ID))
	if err != nil {
		return nil, fmt.Errorf("seal session-token key: %w", err)
	}
	return &store.ServerKey{ID: k.ID, Purpose: Purpose, Sealed: sealed, Active: true, CreatedAt: now}, nil
}

// activeRecord picks the active key: the newest active record (by
// CreatedAt, then ID), so that replicas agree even if a race left two.
func activeRecord(recs []*store.ServerKey) *store.ServerKey {
	var best *store.ServerKey
	for _, r := range recs {
		if !r.Active {
			continue
		}
		if best == nil || r.CreatedAt.After(best.CreatedAt) ||
			(r.CreatedAt.Equal(best.CreatedAt) && r.ID > best.ID) {
			best = r
		}
	}
	return best
}

// minterFromRecords unseals every key. A key that does not open fails the
// whole load: skipping it would reject valid tokens without saying why.
func minterFromRecords(kr *secrets.Keyring, recs []*store.ServerKey) (*Minter, error) {
	active := activeRecord(recs)
	if active == nil {
		return nil, ErrNoKeys
	}
	recs = slices.Clone(recs)
	slices.SortFunc(recs, func(a, b *store.ServerKey) int { return cmp.Compare(a.ID, b.ID) })
	var activeKey Key
	var others []Key
	for _, r := range recs {
		raw, err := kr.Open(r.Sealed, secrets.ServerKeyAD(Purpose, r.ID))
		if err != nil {
			return nil, fmt.Errorf("sessiontoken: unseal key %s: %w", r.ID, err)
		}
		k, err := UnmarshalKey(r.ID, raw)
		if err != nil {
			return nil, err
		}
		if r == active {
			activeKey = k
		} else {
			others = append(others, k)
		}
	}
	return NewMinter(activeKey, others...)
}
