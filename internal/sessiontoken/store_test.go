package sessiontoken

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/podid/podid/internal/auth"
	"github.com/podid/podid/internal/secrets"
	"github.com/podid/podid/internal/store"
	"github.com/podid/podid/internal/testclock"
)

func testKeyring(t *testing.T) *secrets.Keyring {
	t.Helper()
	kr, err := secrets.New(bytes.Repeat([]byte{0x42}, secrets.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	return kr
}

func TestLoadOrCreate(t *testing.T) {
	ctx := context.Background()
	st := newKeyStore(t)
	kr := testKeyring(t)
	clk := testclock.New(t0)

	if _, err := Load(ctx, st, kr); !errors.Is(err, ErrNoKeys) {
		t.Fatalf("Load on an empty store: err = %v, want ErrNoKeys", err)
	}
	m1, err := LoadOrCreate(ctx, st, kr, clk.Now)
	if err != nil {
		t.Fatal(err)
	}
	recs := st.serverKeys(t)
	if len(recs) != 1 {
		t.Fatalf("store holds %d keys, want 1", len(recs))
	}
	rec := recs[m1.ActiveKeyID()]
	if rec.Purpose != Purpose || !rec.Active || !rec.CreatedAt.Equal(t0) {
		t.Fatalf("stored key %+v", rec)
	}
	// The store holds the key sealed for exactly this record.
	raw, err := kr.Open(rec.Sealed, secrets.ServerKeyAD(Purpose, rec.ID))
	if err != nil {
		t.Fatalf("stored key does not open with its record's associated data: %v", err)
	}
	if _, err := kr.Open(rec.Sealed, secrets.ServerKeyAD(Purpose, "st-ffffffff")); err == nil {
		t.Fatal("stored key opens under another record's associated data")
	}
	if len(raw) != 1+KeySize {
		t.Fatalf("stored key plaintext is %d bytes", len(raw))
	}

	m2, err := LoadOrCreate(ctx, st, kr, clk.Now)
	if err != nil {
		t.Fatal(err)
	}
	if m2.ActiveKeyID() != m1.ActiveKeyID() || len(st.serverKeys(t)) != 1 {
		t.Fatalf("second LoadOrCreate made a new key")
	}
	akid, secret, token, _ := m1.Mint(podIdentitySession())
	if _, sec, err := m2.Open(akid, token, t0); err != nil || sec != secret {
		t.Fatalf("a replica loading the same keys cannot open: %v", err)
	}

	// A wrong master key fails the load loudly.
	other, _ := secrets.New(bytes.Repeat([]byte{0x43}, secrets.KeySize))
	if _, err := Load(ctx, st, other); !errors.Is(err, secrets.ErrUnknownKey) {
		t.Fatalf("Load with another master key: err = %v", err)
	}
}

func TestRotateInStore(t *testing.T) {
	ctx := context.Background()
	st := newKeyStore(t)
	kr := testKeyring(t)
	clk := testclock.New(t0)
	m1, err := LoadOrCreate(ctx, st, kr, clk.Now)
	if err != nil {
		t.Fatal(err)
	}
	akid, _, token, _ := m1.Mint(podIdentitySession())
	clk.Advance(time.Minute)
	m2, err := Rotate(ctx, st, kr, clk.Now)
	if err != nil {
		t.Fatal(err)
	}
	if m2.ActiveKeyID() == m1.ActiveKeyID() {
		t.Fatal("Rotate kept the active key")
	}
	active := 0
	keys := st.serverKeys(t)
	for _, r := range keys {
		if r.Active {
			active++
		}
	}
	if len(keys) != 2 || active != 1 {
		t.Fatalf("after rotation: %d keys, %d active; want 2 and 1", len(keys), active)
	}
	if _, _, err := m2.Open(akid, token, t0); err != nil {
		t.Fatalf("rotated minter refuses a token of the old key: %v", err)
	}
	m3, err := Load(ctx, st, kr)
	if err != nil || m3.ActiveKeyID() != m2.ActiveKeyID() {
		t.Fatalf("Load after rotation: active %v, err %v", m3, err)
	}
}

func TestActiveRecordTieBreak(t *testing.T) {
	recs := []*store.ServerKey{
		{ID: "st-00000003", Active: true, CreatedAt: t0},
		{ID: "st-00000009", Active: false, CreatedAt: t0.Add(time.Hour)},
		{ID: "st-00000002", Active: true, CreatedAt: t0.Add(time.Second)},
		{ID: "st-00000001", Active: true, CreatedAt: t0.Add(time.Second)},
	}
	if got := activeRecord(recs); got.ID != "st-00000002" {
		t.Fatalf("activeRecord = %s, want the newest active, highest ID: st-00000002", got.ID)
	}
	if activeRecord(recs[1:2]) != nil {
		t.Fatal("activeRecord picked an inactive key")
	}
}

func TestKeeperReloadsOnUnknownKey(t *testing.T) {
	ctx := context.Background()
	st := newKeyStore(t)
	kr := testKeyring(t)
	clk := testclock.New(t0)
	replicaA, err := NewKeeper(ctx, st, kr, clk.Now)
	if err != nil {
		t.Fatal(err)
	}
	replicaB, err := NewKeeper(ctx, st, kr, clk.Now)
	if err != nil {
		t.Fatal(err)
	}

	// Ordinary verification reads nothing from the store.
	akid, _, token, _ := replicaA.Mint(podIdentitySession())
	reads := st.readCount()
	for range 10 {
		if _, _, err := replicaB.Open(akid, token, t0); err != nil {
			t.Fatal(err)
		}
	}
	if st.readCount() != reads {
		t.Fatal("opening known-key tokens read the store")
	}

	// Replica A rotates and mints with the new key: B reloads once and opens.
	clk.Advance(time.Hour)
	if _, err := Rotate(ctx, st, kr, clk.Now); err != nil {
		t.Fatal(err)
	}
	if err := replicaA.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	akid2, secret2, token2, _ := replicaA.Mint(podIdentitySession())
	if _, sec, err := replicaB.Open(akid2, token2, t0); err != nil || sec != secret2 {
		t.Fatalf("replica B after rotation: %v", err)
	}
	if replicaB.Minter().ActiveKeyID() != replicaA.Minter().ActiveKeyID() {
		t.Fatal("replica B did not adopt the new active key")
	}

	// Forged key IDs cause at most one store read per interval.
	m := testMinter(t, testKey(t, "st-0badc0de", 9))
	fakeAKID, _, fake, _ := m.Mint(podIdentitySession())
	clk.Advance(time.Hour)
	reads = st.readCount()
	for range 50 {
		_, _, err := replicaB.Open(fakeAKID, fake, t0)
		wantAWSError(t, err, codeInvalid, msgInvalid, ErrUnknownKey)
	}
	if got := st.readCount() - reads; got != 1 {
		t.Fatalf("50 forged tokens caused %d store reads, want 1", got)
	}
	clk.Advance(DefaultReloadInterval)
	replicaB.Open(fakeAKID, fake, t0)
	if got := st.readCount() - reads; got != 2 {
		t.Fatalf("after the interval: %d store reads, want 2", got)
	}
}

// TestLoadOrCreateConcurrent starts several replicas at once on one store:
// they must agree on a single active key.
func TestLoadOrCreateConcurrent(t *testing.T) {
	ctx := context.Background()
	st := newKeyStore(t)
	kr := testKeyring(t)
	clk := testclock.New(t0)
	const n = 4
	ms := make([]*Minter, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { ms[i], errs[i] = LoadOrCreate(ctx, st, kr, clk.Now) })
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("replica %d: %v", i, errs[i])
		}
		if ms[i].ActiveKeyID() != ms[0].ActiveKeyID() {
			t.Fatalf("replicas disagree: %s vs %s", ms[i].ActiveKeyID(), ms[0].ActiveKeyID())
		}
	}
	if keys := st.serverKeys(t); len(keys) != 1 {
		t.Fatalf("%d keys stored, want 1", len(keys))
	}
}

// Both Minter and Keeper plug into the SigV4 resolver.
var (
	_ auth.SessionOpener = (*Minter)(nil)
	_ auth.SessionOpener = (*Keeper)(nil)
)
