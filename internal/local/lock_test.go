//go:build unix

package local

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestLock: one holder at a time; release removes the lock file, and the
// directory can be locked again afterwards.
func TestLock(t *testing.T) {
	dir := t.TempDir()
	release, err := Lock(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Lock(dir); err == nil || !strings.Contains(err.Error(), "another podid dev uses "+dir) {
		t.Fatalf("second Lock: %v, want another podid dev uses %s", err, dir)
	}
	if err := release(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, LockFile)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("lock file after release: %v, want it removed", err)
	}
	release, err = Lock(dir)
	if err != nil {
		t.Fatalf("Lock after release: %v", err)
	}
	if err := release(); err != nil {
		t.Fatal(err)
	}
}
