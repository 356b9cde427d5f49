package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/eks"

	"github.com/podid/podid/internal/store/postgres/pgtest"
)

// pgLazy is the package's throwaway PostgreSQL server, started by the first
// test that needs it and stopped by TestMain.
var pgLazy pgtest.Lazy

// postgresServer returns the package's PostgreSQL server, starting it on
// first use. Without PostgreSQL binaries the test skips (fails under
// CI=true).
func postgresServer(t testing.TB) *pgtest.Server {
	t.Helper()
	return pgLazy.Get(t)
}

// newMasterKey returns a master keyring in PODID_MASTER_KEY's format, the
// key every replica of a deployment shares.
func newMasterKey(t testing.TB) string {
	t.Helper()
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(k)
}

// replica is a `podid server` process the test can kill.
type replica struct {
	*server
	cmd  *exec.Cmd
	done chan struct{}
}

// launchReplica starts `podid server` with env added to the test's
// environment, on a fresh port, without waiting for it.
func launchReplica(t testing.TB, dataDir string, env []string, extraArgs ...string) *replica {
	t.Helper()
	if dataDir == "" {
		dataDir = t.TempDir()
	}
	port := freePort(t)
	s := &server{URL: fmt.Sprintf("http://127.0.0.1:%d", port), DataDir: dataDir, AccountID: "123456789012", Region: "us-west-2", logs: &syncBuffer{}}
	args := append([]string{"server", "--listen", fmt.Sprintf("127.0.0.1:%d", port), "--data-dir", dataDir,
		"--account-id", s.AccountID, "--region", s.Region}, extraArgs...)
	cmd := exec.Command(podidBin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = s.logs, s.logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	r := &replica{server: s, cmd: cmd, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(r.done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-r.done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-r.done
		}
		if t.Failed() {
			t.Logf("podid server %s log:\n%s", s.URL, s.logs.String())
		}
	})
	return r
}

// waitReady waits for /readyz and reads the root credentials the replica
// wrote into its data directory.
func (r *replica) waitReady(t testing.TB) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(r.URL + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		select {
		case <-r.done:
			t.Fatalf("podid server exited:\n%s", r.logs.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("podid server did not become ready: %v\n%s", err, r.logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	r.RootKey, r.RootSec = readSharedCredentials(t, filepath.Join(r.DataDir, "root-credentials"))
}

// kill ends the replica with SIGKILL, as a lost machine would.
func (r *replica) kill(t *testing.T) {
	t.Helper()
	if err := r.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-r.done
}

// eksClient is an EKS client of r without SDK retries, so that every
// acknowledged call is one the server answered.
func (r *replica) eksClient(c creds) *eks.Client {
	cfg := r.goConfig(c)
	cfg.Retryer = func() aws.Retryer { return aws.NopRetryer{} }
	cfg.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	return eks.NewFromConfig(cfg)
}

// assumeForPod calls EKS Auth's AssumeRoleForPodIdentity on r over HTTP,
// signed with c as a node agent would, and returns the status and body.
func assumeForPod(r *server, c creds, cluster, token string) (int, []byte, error) {
	body, _ := json.Marshal(map[string]string{"token": token})
	req, err := http.NewRequest(http.MethodPost, r.URL+"/clusters/"+cluster+"/assume-role-for-pod-identity", bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	sum := sha256.Sum256(body)
	if err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: c.Key, SecretAccessKey: c.Secret, SessionToken: c.Token},
		req, hex.EncodeToString(sum[:]), "eks-auth", r.Region, time.Now()); err != nil {
		return 0, nil, err
	}
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// staticCreds is an SDK credentials provider for c.
func staticCreds(c creds) aws.CredentialsProvider {
	return credentials.NewStaticCredentialsProvider(c.Key, c.Secret, c.Token)
}

// noPassword fails t if a replica's log shows the database password.
func noPassword(t *testing.T, rs ...*replica) {
	t.Helper()
	for _, r := range rs {
		if strings.Contains(r.logs.String(), pgtest.Password) {
			t.Errorf("the log of %s contains the database password", r.URL)
		}
	}
}
