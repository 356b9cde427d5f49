package secrets

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func TestLoadOrCreate(t *testing.T) {
	dataDir := filepath.Join(t.TempDir(), "data", "podid")
	k1, err := LoadOrCreate(dataDir)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dataDir, FileName)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Errorf("master.key mode %04o, want 0600", perm)
	}
	di, err := os.Stat(dataDir)
	if err != nil {
		t.Fatal(err)
	}
	if perm := di.Mode().Perm(); perm != 0o700 {
		t.Errorf("data dir mode %04o, want 0700", perm)
	}
	entries, _ := os.ReadDir(dataDir)
	if len(entries) != 1 {
		t.Errorf("data dir holds %d entries, want only master.key", len(entries))
	}

	k2, err := LoadOrCreate(dataDir)
	if err != nil {
		t.Fatal(err)
	}
	if k1.ActiveKeyID() != k2.ActiveKeyID() {
		t.Fatalf("second load gave key %s, first %s", k2.ActiveKeyID(), k1.ActiveKeyID())
	}
	sealed, _ := k1.Seal([]byte("x"), nil)
	if _, err := k2.Open(sealed, nil); err != nil {
		t.Fatalf("reloaded keyring cannot open: %v", err)
	}
}

func TestLoadOrCreateConcurrent(t *testing.T) {
	dataDir := t.TempDir()
	const n = 8
	got := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			k, err := LoadOrCreate(dataDir)
			errs[i] = err
			if err == nil {
				got[i] = k.ActiveKeyID()
			}
		})
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("caller %d: %v", i, errs[i])
		}
		if got[i] != got[0] {
			t.Fatalf("callers disagree on the key: %v", got)
		}
	}
}

func TestLoadOrCreateRefusesLooseMode(t *testing.T) {
	dataDir := t.TempDir()
	if _, err := LoadOrCreate(dataDir); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dataDir, FileName)
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := LoadOrCreate(dataDir)
	if err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("err = %v, want a refusal mentioning chmod 600", err)
	}
}

func TestLoadOrCreateCorruptFile(t *testing.T) {
	dataDir := t.TempDir()
	path := filepath.Join(dataDir, FileName)
	if err := os.WriteFile(path, []byte("garbage!\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := LoadOrCreate(dataDir)
	if err == nil || !strings.Contains(err.Error(), "not valid base64") {
		t.Fatalf("err = %v, want a parse error (and no new key)", err)
	}
	data, _ := os.ReadFile(path)
	if string(data) != "garbage!\n" {
		t.Fatal("LoadOrCreate overwrote an unreadable key file")
	}
}

func TestRotateFile(t *testing.T) {
	dataDir := t.TempDir()
	k1, err := LoadOrCreate(dataDir)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dataDir, FileName)
	old, _ := k1.Seal([]byte("before"), []byte("ad"))
	k2, err := RotateFile(path)
	if err != nil {
		t.Fatal(err)
	}
	k3, err := LoadOrCreate(dataDir) // also checks the mode stayed 0600
	if err != nil {
		t.Fatal(err)
	}
	if k3.ActiveKeyID() != k2.ActiveKeyID() || k3.ActiveKeyID() == k1.ActiveKeyID() {
		t.Fatalf("after RotateFile active = %s, rotated %s, original %s", k3.ActiveKeyID(), k2.ActiveKeyID(), k1.ActiveKeyID())
	}
	if pt, err := k3.Open(old, []byte("ad")); err != nil || string(pt) != "before" {
		t.Fatalf("rotated file cannot open old data: %v", err)
	}
}

func TestFromEnvOrFile(t *testing.T) {
	dir := t.TempDir()
	kFile := mustNew(t, fixedKey(1))
	file := filepath.Join(dir, "mounted")
	if err := os.WriteFile(file, kFile.Marshal(), 0o644); err != nil { // Kubernetes default mode
		t.Fatal(err)
	}
	kEnv := mustNew(t, fixedKey(2), fixedKey(1))
	envValue := EncodeKey(fixedKey(2)) + "," + EncodeKey(fixedKey(1))

	tests := []struct {
		name       string
		env        map[string]string
		path       string
		dataDir    string
		wantActive string
		wantOrigin string
		wantErr    error
		errText    string
	}{
		{name: "env value", env: map[string]string{EnvMasterKey: envValue}, wantActive: kEnv.ActiveKeyID(), wantOrigin: "environment variable PODID_MASTER_KEY"},
		{name: "path argument", path: file, wantActive: kFile.ActiveKeyID(), wantOrigin: "file " + file},
		{name: "file from env", env: map[string]string{EnvMasterKeyFile: file}, wantActive: kFile.ActiveKeyID(), wantOrigin: "file " + file},
		{name: "both", env: map[string]string{EnvMasterKey: envValue}, path: file, errText: "set only one"},
		{name: "neither", wantErr: ErrNoMasterKey},
		{name: "bad env value", env: map[string]string{EnvMasterKey: "c2VjcmV0"}, errText: "PODID_MASTER_KEY: secrets: line 1: master key decodes to 6 bytes"},
		{name: "missing file", path: filepath.Join(dir, "nope"), wantErr: os.ErrNotExist},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			getenv := func(name string) string { return tt.env[name] }
			k, err := FromEnvOrFile(getenv, tt.path)
			_, origin, rerr := Resolve(getenv, tt.path, "")
			switch {
			case tt.wantErr != nil:
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
			case tt.errText != "":
				if err == nil || !strings.Contains(err.Error(), tt.errText) {
					t.Fatalf("err = %v, want %q", err, tt.errText)
				}
				if strings.Contains(err.Error(), envValue) {
					t.Fatalf("error quotes the key: %v", err)
				}
			default:
				if err != nil || rerr != nil {
					t.Fatal(err, rerr)
				}
				if k.ActiveKeyID() != tt.wantActive {
					t.Fatalf("active %s, want %s", k.ActiveKeyID(), tt.wantActive)
				}
				if origin != tt.wantOrigin {
					t.Fatalf("origin %q, want %q", origin, tt.wantOrigin)
				}
			}
		})
	}
}

func TestResolveFallsBackToDataDir(t *testing.T) {
	dataDir := t.TempDir()
	getenv := func(string) string { return "" }
	k1, origin, err := Resolve(getenv, "", dataDir)
	if err != nil {
		t.Fatal(err)
	}
	want := "file " + filepath.Join(dataDir, FileName)
	if origin != want+" (created)" {
		t.Fatalf("origin %q, want %q", origin, want+" (created)")
	}
	k2, origin, err := Resolve(getenv, "", dataDir)
	if err != nil || origin != want || k2.ActiveKeyID() != k1.ActiveKeyID() {
		t.Fatalf("second Resolve: %q %v (key %s vs %s)", origin, err, k2.ActiveKeyID(), k1.ActiveKeyID())
	}
	if _, _, err := Resolve(getenv, "", ""); !errors.Is(err, ErrNoMasterKey) {
		t.Fatalf("no source: err = %v, want ErrNoMasterKey", err)
	}
}
