package app

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/podid/podid/internal/sharedcreds"
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
	// Its file was written by the earlier start (the test's key is not
	// sealed with a real master key, so it could not be written again).
	if err := os.WriteFile(filepath.Join(dir, RootCredentialsFile), []byte("[default]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	a, err := New(ctx, Config{DataDir: dir, AccountID: "333333333333", Getenv: noEnv, PublicURL: "http://127.0.0.1:1"})
	if err != nil {
		t.Fatalf("older store, its account: %v", err)
	}
	a.Close()
}

// TestRootKeysAdopted: root keys that migration 0004 could not assign (a
// store with neither an account record nor IAM entities) become the
// primary account's, the same key.
func TestRootKeysAdopted(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st, err := sqlite.Open(ctx, filepath.Join(dir, DatabaseFile))
	if err != nil {
		t.Fatal(err)
	}
	err = st.Update(ctx, func(tx store.Tx) error {
		return tx.CreateAccessKey(&store.AccessKey{ID: "AKIAOLDROOTKEY000001", SealedSecret: []byte("x"), Status: "Active", CreatedAt: time.Now()})
	})
	st.Close()
	if err != nil {
		t.Fatal(err)
	}
	// Its file was written by the earlier start (the test's key is not
	// sealed with a real master key, so it could not be written again).
	if err := os.WriteFile(filepath.Join(dir, RootCredentialsFile), []byte("[default]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	a, err := New(ctx, Config{DataDir: dir, AccountID: "333333333333", Getenv: noEnv, PublicURL: "http://127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if a.RootAccessKeyID != "AKIAOLDROOTKEY000001" {
		t.Errorf("root key %s, want the adopted AKIAOLDROOTKEY000001", a.RootAccessKeyID)
	}
	err = a.Store.View(ctx, func(tx store.Tx) error {
		k, err := tx.GetAccessKey("AKIAOLDROOTKEY000001")
		if err == nil && k.Account != "333333333333" {
			t.Errorf("adopted key's account %q", k.Account)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestHostedAccounts: --account hosts a further account with its own root
// key file; it stays hosted after a restart without the flag; the primary
// account or a malformed ID is refused as a further account.
func TestHostedAccounts(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	start := func(accounts ...string) (*App, error) {
		return New(ctx, Config{DataDir: dir, AccountID: "111111111111", Accounts: accounts, Getenv: noEnv, PublicURL: "http://127.0.0.1:1"})
	}
	a, err := start("222222222222")
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(a.Accounts) != "[222222222222]" {
		t.Errorf("hosted %v", a.Accounts)
	}
	path := a.AccountCredentialsPaths["222222222222"]
	if path != filepath.Join(dir, "root-credentials-222222222222") {
		t.Errorf("root key file of B: %q", path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	k, err := sharedcreds.Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	err = a.Store.View(ctx, func(tx store.Tx) error {
		got, err := tx.GetAccessKey(k.AccessKeyID)
		if err == nil && (got.Account != "222222222222" || got.UserName != "") {
			t.Errorf("B's root key: account %q user %q", got.Account, got.UserName)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if k.AccessKeyID == a.RootAccessKeyID {
		t.Error("B's root key is A's")
	}
	a.Close()

	a, err = start()
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(a.Accounts) != "[222222222222]" {
		t.Errorf("after a restart without --account: hosted %v", a.Accounts)
	}
	a.Close()
	for _, bad := range []struct{ account, want string }{
		{"111111111111", "--account 111111111111 is the primary account (--account-id); name further accounts only"},
		{"12345", `--account "12345" must be 12 digits`},
	} {
		if _, err := start(bad.account); err == nil || err.Error() != bad.want {
			t.Errorf("--account %s: %v, want %q", bad.account, err, bad.want)
		}
	}
}
