package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// TestBackupRestore: podid backup copies the store while the server runs
// and writes (the copy is one moment's store, checked, with the master key
// in a file of its own); podid restore brings it into a new data
// directory, where a server serves the backed-up roles and the root key
// (sealed under the master key) still signs; a restore with another key,
// or into a directory whose server runs, is refused.
func TestBackupRestore(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	root := s.root()
	s.aws(t, root, "iam", "create-role", "--role-name", "before-backup", "--assume-role-policy-document", writeFile(t, "trust.json", workshopTrust))

	// Writes go on during the backup.
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			s.aws(t, root, "iam", "create-user", "--user-name", "busy-"+strings.Repeat("x", i%3)+string(rune('a'+i%26))+string(rune('a'+i/26%26)))
		}
	})
	dir := t.TempDir()
	copyPath, keyPath := filepath.Join(dir, "podid.backup"), filepath.Join(dir, "master.key")
	run := func(args ...string) (string, error) {
		cmd := exec.Command(podidBin, args...)
		cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	out, err := run("backup", "--data-dir", s.DataDir, "--output", copyPath, "--master-key-out", keyPath)
	close(stop)
	wg.Wait()
	if err != nil || !strings.Contains(out, "wrote "+copyPath+": the store of account 123456789012 (checked)") || !strings.Contains(out, "wrote the master key to "+keyPath) {
		t.Fatalf("podid backup: %v\n%s", err, out)
	}
	for _, p := range []string{copyPath, keyPath} {
		if st, err := os.Stat(p); err != nil || st.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v mode %v, want 0600", p, err, st.Mode().Perm())
		}
	}
	s.aws(t, root, "iam", "create-role", "--role-name", "after-backup", "--assume-role-policy-document", writeFile(t, "trust.json", workshopTrust))

	// Into the running server's directory: refused.
	if out, err := run("restore", "--data-dir", s.DataDir, "--input", copyPath); err == nil || !strings.Contains(out, "may be in use") {
		t.Errorf("restore under a running server: %v\n%s", err, out)
	}
	// With another master key: refused before anything changes.
	fresh := filepath.Join(t.TempDir(), "data")
	otherKey := filepath.Join(t.TempDir(), "other.key")
	if out, err := run("backup", "--data-dir", t.TempDir(), "--output", filepath.Join(t.TempDir(), "x")); err == nil || !strings.Contains(out, "master key") {
		t.Errorf("backup of an empty directory: %v\n%s", err, out)
	}
	if err := os.WriteFile(otherKey, []byte(strings.Repeat("QUFB", 10)+"QUE=\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := run("restore", "--data-dir", fresh, "--input", copyPath, "--master-key-in", otherKey); err == nil {
		t.Errorf("restore with another key succeeded:\n%s", out)
	} else if _, statErr := os.Stat(filepath.Join(fresh, "podid.db")); statErr == nil {
		t.Errorf("a refused restore left a store behind (%s)", out)
	}
	out, err = run("restore", "--data-dir", fresh, "--input", copyPath, "--master-key-in", keyPath)
	if err != nil || !strings.Contains(out, "restored the store of account 123456789012 into "+filepath.Join(fresh, "podid.db")) {
		t.Fatalf("podid restore: %v\n%s", err, out)
	}

	r := startServerIn(t, fresh, nil)
	if r.RootKey != s.RootKey {
		t.Errorf("restored root key %s, want %s", r.RootKey, s.RootKey)
	}
	// The root key opens (its secret is sealed under the restored key).
	if got := r.aws(t, r.root(), "iam", "get-role", "--role-name", "before-backup", "--query", "Role.RoleName", "--output", "text"); strings.Trim(got, "\" \n") != "before-backup" {
		t.Errorf("restored get-role: %q", got)
	}
	if msg := r.awsErr(t, r.root(), "iam", "get-role", "--role-name", "after-backup"); !strings.Contains(msg, "NoSuchEntity") {
		t.Errorf("a role created after the backup is in the copy: %s", msg)
	}
}
