package local

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"
)

func testState() *State {
	return &State{
		PID:             4242,
		Endpoint:        "http://127.0.0.1:8080",
		AccountID:       "123456789012",
		Region:          "us-west-2",
		Clusters:        []ClusterState{{Name: "eks-workshop", AgentURL: "http://127.0.0.1:40001/v1/credentials"}, {Name: "other", AgentURL: "http://127.0.0.1:40002/v1/credentials"}},
		AccessKeyID:     "AKIAEXAMPLEEXAMPLE12",
		SecretAccessKey: "secret/with+chars",
		EnvFile:         "/data/dev.env",
		StartedAt:       time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC),
	}
}

func TestStateRoundTrip(t *testing.T) {
	dir := t.TempDir()
	want := testState()
	if err := WriteState(dir, want); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(filepath.Join(dir, StateFile))
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("state file mode = %v, want 0600", st.Mode().Perm())
	}
	got, err := ReadState(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ReadState = %+v, want %+v", got, want)
	}
	// No temporary file is left behind.
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("directory holds %d entries, want only %s", len(entries), StateFile)
	}
}

func TestReadStateErrors(t *testing.T) {
	for _, tc := range []struct {
		name, content string
		notRunning    bool
		wantErr       string
	}{
		{name: "missing", notRunning: true, wantErr: "podid dev is not running: no "},
		{name: "not JSON", content: "nope", wantErr: "is not a podid dev state file"},
		{name: "no clusters", content: `{"endpoint":"http://x","region":"r","accessKeyId":"A","secretAccessKey":"S","clusters":[]}`, wantErr: "lacks the endpoint, region, credentials or clusters"},
		{name: "no credentials", content: `{"endpoint":"http://x","region":"r","clusters":[{"name":"c"}]}`, wantErr: "lacks the endpoint"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if tc.content != "" {
				if err := os.WriteFile(filepath.Join(dir, StateFile), []byte(tc.content), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			_, err := ReadState(dir)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.wantErr)
			}
			if errors.Is(err, ErrNotRunning) != tc.notRunning {
				t.Errorf("errors.Is(err, ErrNotRunning) = %v, want %v", !tc.notRunning, tc.notRunning)
			}
		})
	}
}

func TestStateCluster(t *testing.T) {
	s := testState()
	for _, tc := range []struct {
		name, want, wantErr string
	}{
		{name: "", want: "eks-workshop"},
		{name: "eks-workshop", want: "eks-workshop"},
		{name: "other", want: "other"},
		{name: "nope", wantErr: `podid dev does not serve cluster "nope" (it serves eks-workshop, other); start it with --cluster nope`},
	} {
		c, err := s.Cluster(tc.name)
		if tc.wantErr != "" {
			if err == nil || err.Error() != tc.wantErr {
				t.Errorf("Cluster(%q) err = %v, want %q", tc.name, err, tc.wantErr)
			}
			continue
		}
		if err != nil || c.Name != tc.want {
			t.Errorf("Cluster(%q) = %v, %v; want %s", tc.name, c, err, tc.want)
		}
	}
	if _, err := (&State{}).Cluster(""); err == nil {
		t.Error("Cluster on a state without clusters succeeded")
	}
}

func TestEnvScript(t *testing.T) {
	got := testState().EnvScript("/home/me/.cache/podid/dev")
	want := `unset AWS_SESSION_TOKEN AWS_PROFILE
export AWS_ACCESS_KEY_ID=AKIAEXAMPLEEXAMPLE12
export AWS_ACCOUNT_ID=123456789012
export AWS_DEFAULT_REGION=us-west-2
export AWS_ENDPOINT_URL=http://127.0.0.1:8080
export AWS_REGION=us-west-2
export AWS_SECRET_ACCESS_KEY=secret/with+chars
export EKS_CLUSTER_NAME=eks-workshop
export PODID_DEV_DATA_DIR=/home/me/.cache/podid/dev
`
	if got != want {
		t.Errorf("EnvScript =\n%s\nwant\n%s", got, want)
	}
	names := []string{}
	for _, kv := range testState().Exports("d") {
		names = append(names, kv[0])
	}
	if !sort.StringsAreSorted(names) {
		t.Errorf("Exports not sorted: %v", names)
	}
}

func TestShellQuote(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"plain", "plain"},
		{"http://127.0.0.1:8080/x", "http://127.0.0.1:8080/x"},
		{"a+b/c=d", "a+b/c=d"},
		{"", "''"},
		{"with space", "'with space'"},
		{"it's", `'it'\''s'`},
		{"$(rm -rf /)", "'$(rm -rf /)'"},
		{"back`tick`", "'back`tick`'"},
		{"new\nline", "'new\nline'"},
	} {
		if got := ShellQuote(tc.in); got != tc.want {
			t.Errorf("ShellQuote(%q) = %s, want %s", tc.in, got, tc.want)
		}
	}
}

func TestFresh(t *testing.T) {
	dir := t.TempDir()
	remove := []string{"podid.db", "podid.db-wal", "podid.db-shm", "master.key", "root-credentials", StateFile, EnvFileName}
	keep := []string{"notes.txt", "podid.db.bak", LockFile}
	for _, n := range append(append([]string{}, remove...), keep...) {
		if err := os.WriteFile(filepath.Join(dir, n), []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := Fresh(dir, "podid.db", "root-credentials", "master.key"); err != nil {
		t.Fatal(err)
	}
	var left []string
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		left = append(left, e.Name())
	}
	sort.Strings(left)
	sort.Strings(keep)
	if !reflect.DeepEqual(left, keep) {
		t.Errorf("after Fresh: %v, want %v", left, keep)
	}
	// An empty directory is fine.
	if err := Fresh(t.TempDir(), "podid.db"); err != nil {
		t.Errorf("Fresh on an empty directory: %v", err)
	}
}

func TestDefaultDataDir(t *testing.T) {
	got, err := DefaultDataDir(func(k string) string {
		if k == DataDirEnv {
			return "/from/env"
		}
		return ""
	})
	if err != nil || got != "/from/env" {
		t.Errorf("with %s: %q, %v", DataDirEnv, got, err)
	}
	t.Setenv("XDG_CACHE_HOME", "/xdg-cache")
	t.Setenv("HOME", "/home/me")
	got, err = DefaultDataDir(func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	if base, _ := os.UserCacheDir(); got != filepath.Join(base, "podid", "dev") {
		t.Errorf("DefaultDataDir = %q, want under %q", got, base)
	}
}

func TestWriteFileAtomicReplaces(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f")
	for _, content := range []string{"first", "second, longer", "3"} {
		if err := WriteFileAtomic(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(path)
		if err != nil || string(b) != content {
			t.Errorf("content = %q, %v; want %q", b, err, content)
		}
	}
	if err := WriteFileAtomic(filepath.Join(t.TempDir(), "missing", "f"), nil, 0o600); err == nil {
		t.Error("writing into a missing directory succeeded")
	}
}
