// Package e2e runs podid's real binary and drives it with real AWS clients:
// the AWS CLI and boto3 installed on the machine, and the Go SDK v2.
package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// podidBin is the podid binary built once for the whole package.
var podidBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "podid-e2e-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	podidBin = filepath.Join(dir, "podid")
	build := exec.Command("go", "build", "-o", podidBin, "github.com/podid/podid/cmd/podid")
	build.Stdout, build.Stderr = os.Stdout, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building podid:", err)
		os.Exit(1)
	}
	code := m.Run()
	pgLazy.Stop()
	os.RemoveAll(dir)
	if imageDir != "" {
		os.RemoveAll(imageDir)
	}
	os.Exit(code)
}

// server is a running `podid server` process.
type server struct {
	URL       string
	DataDir   string
	AccountID string
	Region    string
	RootKey   string
	RootSec   string
	logs      *syncBuffer
}

// freePort returns a loopback port that was free a moment ago.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startServer starts `podid server` on a loopback port with a fresh data
// directory and waits until it answers /readyz.
func startServer(t *testing.T, extraArgs ...string) *server {
	t.Helper()
	return startServerEnv(t, nil, extraArgs...)
}

// startServerEnv is startServer with the process environment given (nil:
// the test's own).
func startServerEnv(t *testing.T, env []string, extraArgs ...string) *server {
	t.Helper()
	return startServerIn(t, t.TempDir(), env, extraArgs...)
}

// startServerIn is startServerEnv on a given data directory.
func startServerIn(t *testing.T, dataDir string, env []string, extraArgs ...string) *server {
	t.Helper()
	return startServerOn(t, "127.0.0.1", dataDir, env, extraArgs...)
}

// startServerOn is startServerIn listening on host (a loopback address, or
// an address on a link the test created).
func startServerOn(t *testing.T, host, dataDir string, env []string, extraArgs ...string) *server {
	t.Helper()
	port := freePort(t)
	s := &server{URL: fmt.Sprintf("http://%s:%d", host, port), DataDir: dataDir, AccountID: "123456789012", Region: "us-west-2", logs: &syncBuffer{}}
	args := append([]string{"server", "--listen", fmt.Sprintf("%s:%d", host, port), "--data-dir", dataDir,
		"--account-id", s.AccountID, "--region", s.Region}, extraArgs...)
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, podidBin, args...)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = s.logs, s.logs
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 10 * time.Second
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		cmd.Wait()
		if t.Failed() {
			t.Logf("podid server log:\n%s", s.logs.String())
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(s.URL + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("podid server did not become ready: %v\n%s", err, s.logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.RootKey, s.RootSec = readSharedCredentials(t, filepath.Join(dataDir, "root-credentials"))
	return s
}

// readSharedCredentials reads the [default] profile of an AWS
// shared-credentials file.
func readSharedCredentials(t testing.TB, path string) (key, secret string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("root credentials: %v", err)
	}
	defer f.Close()
	st, _ := f.Stat()
	if st.Mode().Perm() != 0o600 {
		t.Errorf("root credentials file mode = %v, want 0600", st.Mode().Perm())
	}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), "=")
		if !ok {
			continue
		}
		switch strings.TrimSpace(k) {
		case "aws_access_key_id":
			key = strings.TrimSpace(v)
		case "aws_secret_access_key":
			secret = strings.TrimSpace(v)
		}
	}
	if key == "" || secret == "" {
		t.Fatalf("root credentials file %s lacks keys", path)
	}
	return key, secret
}

// creds is a set of AWS credentials for a client process.
type creds struct {
	Key, Secret, Token string
}

func (s *server) root() creds { return creds{Key: s.RootKey, Secret: s.RootSec} }

// clientEnv is the whole environment of a client process: nothing from the
// test's own environment leaks in but PATH, HOME and Python's settings.
// startAgent runs `podid agent` for cluster on loopback ports with c's
// credentials, as a node would, and waits until it is ready: its readiness
// probe has called EKS Auth, which is how podid learns that an agent
// serves a cluster it cannot look into (the add-on turns ACTIVE).
func (s *server) startAgent(t *testing.T, cluster string, c creds) {
	t.Helper()
	port, probe, metrics := freePort(t), freePort(t), freePort(t)
	startProcess(t, "agent "+cluster, s.clientEnv(c), "agent", "--cluster-name", cluster, "--endpoint", s.URL,
		"--bind-hosts", "127.0.0.1", "--port", fmt.Sprint(port), "--allowed-hosts", "127.0.0.1",
		"--probe-address", "127.0.0.1", "--probe-port", fmt.Sprint(probe), "--metrics-address", "127.0.0.1", "--metrics-port", fmt.Sprint(metrics))
	waitReady(t, http.DefaultClient, fmt.Sprintf("http://127.0.0.1:%d/readyz", probe), 30*time.Second)
}

func (s *server) clientEnv(c creds) []string {
	env := []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + os.Getenv("HOME"),
		"AWS_ENDPOINT_URL=" + s.URL,
		"AWS_DEFAULT_REGION=" + s.Region,
		"AWS_REGION=" + s.Region,
		"AWS_CONFIG_FILE=/dev/null",
		"AWS_SHARED_CREDENTIALS_FILE=/dev/null",
		"AWS_EC2_METADATA_DISABLED=true",
		"AWS_PAGER=",
		"AWS_ACCESS_KEY_ID=" + c.Key,
		"AWS_SECRET_ACCESS_KEY=" + c.Secret,
	}
	if c.Token != "" {
		env = append(env, "AWS_SESSION_TOKEN="+c.Token)
	}
	for _, k := range []string{"PYENV_ROOT", "PYENV_VERSION", "PYTHONPATH"} {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	return env
}

// aws runs the AWS CLI with c's credentials and returns its stdout; it
// fails the test when the CLI fails.
func (s *server) aws(t *testing.T, c creds, args ...string) string {
	t.Helper()
	need(t, toolAWSCLI)
	out, errOut, err := s.awsRun(c, args...)
	if err != nil {
		t.Fatalf("aws %s: %v\nstderr: %s", strings.Join(args, " "), err, errOut)
	}
	return out
}

// awsErr runs the AWS CLI expecting it to fail and returns its stderr.
func (s *server) awsErr(t *testing.T, c creds, args ...string) string {
	t.Helper()
	need(t, toolAWSCLI)
	out, errOut, err := s.awsRun(c, args...)
	if err == nil {
		t.Fatalf("aws %s succeeded, want failure; stdout: %s", strings.Join(args, " "), out)
	}
	return errOut
}

func (s *server) awsRun(c creds, args ...string) (stdout, stderr string, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "aws", append(args, "--output", "json")...)
	cmd.Env = s.clientEnv(c)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err = cmd.Run()
	return o.String(), e.String(), err
}

// awsJSON runs the AWS CLI and decodes its JSON output.
func (s *server) awsJSON(t *testing.T, c creds, args ...string) map[string]any {
	t.Helper()
	out := s.aws(t, c, args...)
	var m map[string]any
	if strings.TrimSpace(out) == "" {
		return m
	}
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		t.Fatalf("aws %s: output is not JSON: %v\n%s", strings.Join(args, " "), err, out)
	}
	return m
}

// python runs a Python program (boto3) with c's credentials.
func (s *server) python(t *testing.T, c creds, program string) string {
	t.Helper()
	need(t, toolBoto3)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "python3", "-c", program)
	cmd.Env = s.clientEnv(c)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	if err := cmd.Run(); err != nil {
		t.Fatalf("python: %v\nstderr: %s", err, e.String())
	}
	return o.String()
}

// wantCode asserts that a CLI error output names the AWS error code.
func wantCode(t *testing.T, stderr, code string) {
	t.Helper()
	if !strings.Contains(stderr, "("+code+")") {
		t.Errorf("want error code %s, got: %s", code, stderr)
	}
}

// str digs a string out of decoded JSON by path.
func str(m map[string]any, path ...string) string {
	var cur any = m
	for _, p := range path {
		mm, ok := cur.(map[string]any)
		if !ok {
			return ""
		}
		cur = mm[p]
	}
	s, _ := cur.(string)
	return s
}
