package backup

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/podid/podid/internal/app"
	"github.com/podid/podid/internal/secrets"
	"github.com/podid/podid/internal/store"
	"github.com/podid/podid/internal/store/sqlite"
)

// TestCopyWhileOpen: a store held open by a writer is copied whole and
// checked; its master key opens the copy and another key does not; the
// copy never overwrites a file.
func TestCopyWhileOpen(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	dbPath := filepath.Join(dir, "podid.db")
	st, err := sqlite.Open(ctx, dbPath)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	kr, err := secrets.New(secrets.GenerateKey())
	if err != nil {
		t.Fatal(err)
	}
	if err := app.CheckAccount(ctx, st, kr, "123456789012", time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := st.Update(ctx, func(tx store.Tx) error {
		return tx.CreateRole(&store.Role{Account: "123456789012", ID: "AROABACKUPTEST000001", Name: "carts", Path: "/", ARN: "arn:aws:iam::123456789012:role/carts",
			AssumeRolePolicy: "{}", MaxSessionDuration: 3600, CreatedAt: time.Now()})
	}); err != nil {
		t.Fatal(err)
	}
	if !InUse(dbPath) {
		t.Error("an open WAL store is not reported in use")
	}
	out := filepath.Join(t.TempDir(), "copy.db")
	if err := Copy(ctx, dbPath, out); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(out); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("copy: %v %v", err, fi.Mode())
	}
	if err := Copy(ctx, dbPath, out); err == nil || !strings.Contains(err.Error(), "exists") {
		t.Errorf("copy over an existing file: %v", err)
	}
	if acct, err := CheckKey(ctx, out, kr); err != nil || acct != "123456789012" {
		t.Errorf("CheckKey with the store's key: %q %v", acct, err)
	}
	other, _ := secrets.New(secrets.GenerateKey())
	if _, err := CheckKey(ctx, out, other); !errors.Is(err, ErrKeyMismatch) {
		t.Errorf("CheckKey with another key: %v", err)
	}
	// The copy is a store: its role is there.
	cp, err := sqlite.Open(ctx, out)
	if err != nil {
		t.Fatal(err)
	}
	err = cp.View(ctx, func(tx store.Tx) error { _, err := tx.GetRole("123456789012", "carts"); return err })
	cp.Close()
	if err != nil {
		t.Errorf("the copy lacks the role: %v", err)
	}
}

// TestInstall: a restore keeps the store it replaces and refuses while
// that store may be open.
func TestInstall(t *testing.T) {
	dir := t.TempDir()
	dbPath := filepath.Join(dir, "podid.db")
	os.WriteFile(dbPath, []byte("old"), 0o600)
	src := TempPath(dbPath)
	os.WriteFile(src, []byte("new"), 0o600)
	os.WriteFile(dbPath+"-shm", nil, 0o600)
	if _, err := Install(dbPath, src); err == nil || !strings.Contains(err.Error(), "may be in use") {
		t.Fatalf("install over an open store: %v", err)
	}
	os.Remove(dbPath + "-shm")
	prev, err := Install(dbPath, src)
	if err != nil || prev != dbPath+".before-restore-1" {
		t.Fatalf("install: %q %v", prev, err)
	}
	if b, _ := os.ReadFile(dbPath); string(b) != "new" {
		t.Errorf("installed %q", b)
	}
	if b, _ := os.ReadFile(prev); string(b) != "old" {
		t.Errorf("kept %q", b)
	}
}
