package app

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/podid/podid/internal/store"
	"github.com/podid/podid/internal/store/sqlite"
)

func noEnv(string) string { return "" }

// TestAccountIsKept: a data directory keeps the account it was created
// with; a restart with another --account-id is refused naming the stored
// account, and the same account starts again.
func TestAccountIsKept(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	start := func(account string) error {
		a, err := New(ctx, Config{DataDir: dir, AccountID: account, Getenv: noEnv, PublicURL: "http://127.0.0.1:1"})
		if err == nil {
			a.Close()
		}
		return err
	}
	if err := start("111111111111"); err != nil {
		t.Fatal(err)
	}
	const want = "the store in this data directory serves account 111111111111, not 222222222222: start with --account-id 111111111111 (or use another data directory)"
	if err := start("222222222222"); err == nil || err.Error() != want {
		t.Fatalf("restart with another account: %v, want %q", err, want)
	}
	if err := start("111111111111"); err != nil {
		t.Fatalf("restart with the same account: %v", err)
	}
}

// TestAccountOfOlderStore: a store written before the account record
// existed is checked against its roles' ARNs.
func TestAccountOfOlderStore(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st, err := sqlite.Open(ctx, filepath.Join(dir, DatabaseFile))
	if err != nil {
		t.Fatal(err)
	}
	err = st.Update(ctx, func(tx store.Tx) error {
		return tx.CreateRole(&store.Role{Account: "333333333333", ID: "AROAOLDSTORE00000001", Name: "carts", Path: "/", ARN: "arn:aws:iam::333333333333:role/carts",
			AssumeRolePolicy: "{}", MaxSessionDuration: 3600, CreatedAt: time.Now()})
	})
	st.Close()
	if err != nil {
		t.Fatal(err)
	}
	_, err = New(ctx, Config{DataDir: dir, AccountID: DefaultAccountID, Getenv: noEnv, PublicURL: "http://127.0.0.1:1"})
	const want = "the store in this data directory serves account 333333333333, not 123456789012: start with --account-id 333333333333 (or use another data directory)"
	if err == nil || err.Error() != want {
		t.Fatalf("older store, another account: %v, want %q", err, want)
	}
	a, err := New(ctx, Config{DataDir: dir, AccountID: "333333333333", Getenv: noEnv, PublicURL: "http://127.0.0.1:1"})
	if err != nil {
		t.Fatalf("older store, its account: %v", err)
	}
	a.Close()
}
