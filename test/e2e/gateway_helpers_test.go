package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// npmDir is where scripts/install-deps.sh installs the npm packages the
// gateway tests run as upstream stores (dynalite, s3rver).
func npmDir() string {
	if d := os.Getenv("PODID_NPM_DIR"); d != "" {
		return d
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".cache", "podid", "npm")
}

var npmOnce sync.Once

// npmScript returns the path of an installed npm package's script,
// installing the packages once (as scripts/install-deps.sh does) when they
// are missing. The test fails, never skips, when they cannot be had.
func npmScript(t *testing.T, rel string) string {
	t.Helper()
	p := filepath.Join(npmDir(), "node_modules", rel)
	npmOnce.Do(func() {
		if _, err := os.Stat(p); err == nil {
			return
		}
		cmd := exec.Command("npm", "install", "--prefix", npmDir(), "--no-audit", "--no-fund", "dynalite@4.0.0", "s3rver@3.7.1")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Logf("npm install: %v\n%s", err, out)
		}
	})
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("%s is not installed (run scripts/install-deps.sh): %v", p, err)
	}
	return p
}

// proc is a background process owned by a test.
type proc struct {
	logs *bytes.Buffer
	mu   sync.Mutex
}

func (p *proc) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.logs.Write(b)
}

func (p *proc) String() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.logs.String()
}

// startProc starts a process that runs until the test ends; its output is
// shown when the test fails.
func startProc(t *testing.T, name string, env []string, bin string, args ...string) *proc {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, args...)
	p := &proc{logs: &bytes.Buffer{}}
	cmd.Stdout, cmd.Stderr = p, p
	if env != nil {
		cmd.Env = env
	}
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 10 * time.Second
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("starting %s: %v", name, err)
	}
	t.Cleanup(func() {
		cancel()
		cmd.Wait()
		if t.Failed() {
			t.Logf("%s output:\n%s", name, p.String())
		}
	})
	return p
}

// waitHTTP polls url until it answers anything (any status).
func waitHTTP(t *testing.T, what, url string, p *proc) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not start at %s: %v\n%s", what, url, err, p.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// startDynalite runs dynalite (a DynamoDB implementation from npm) on a
// loopback port, in memory, with instant table creation.
func startDynalite(t *testing.T) string {
	t.Helper()
	cli := npmScript(t, "dynalite/cli.js")
	port := freePort(t)
	p := startProc(t, "dynalite", nil, "node", cli, "--host", "127.0.0.1", "--port", fmt.Sprint(port),
		"--createTableMs", "0", "--deleteTableMs", "0", "--updateTableMs", "0")
	url := fmt.Sprintf("http://127.0.0.1:%d", port)
	waitHTTP(t, "dynalite", url, p)
	return url
}

// s3rverCreds are s3rver's built-in credentials.
const s3rverCreds = "S3RVER"

// startS3rver runs s3rver (an S3 implementation from npm) on a loopback
// port with a fresh directory. It verifies signatures with S3RVER/S3RVER.
func startS3rver(t *testing.T) string {
	t.Helper()
	bin := npmScript(t, "s3rver/bin/s3rver.js")
	port := freePort(t)
	p := startProc(t, "s3rver", nil, "node", bin, "--address", "127.0.0.1", "--port", fmt.Sprint(port),
		"--directory", t.TempDir(), "--silent")
	url := fmt.Sprintf("http://127.0.0.1:%d", port)
	waitHTTP(t, "s3rver", url, p)
	return url
}

// gatewayProc is a running `podid gateway`.
type gatewayProc struct {
	// via is the server seen through the gateway: the same identities, the
	// gateway's URL as every client's endpoint.
	via      *server
	auditLog string
	logs     *proc
}

// startGateway runs `podid gateway` on s's data directory with the given
// upstream flags. Upstream requests are signed with S3RVER/S3RVER (dynalite
// accepts any key).
func startGateway(t *testing.T, s *server, args ...string) *gatewayProc {
	t.Helper()
	port := freePort(t)
	audit := filepath.Join(t.TempDir(), "audit.jsonl")
	full := append([]string{"gateway", "--listen", fmt.Sprintf("127.0.0.1:%d", port), "--data-dir", s.DataDir,
		"--account-id", s.AccountID, "--region", s.Region, "--gateway-audit-log", audit, "--log-level", "debug"}, args...)
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"),
		"AWS_ACCESS_KEY_ID=" + s3rverCreds, "AWS_SECRET_ACCESS_KEY=" + s3rverCreds}
	p := startProc(t, "podid gateway", env, podidBin, full...)
	via := *s
	via.URL = fmt.Sprintf("http://127.0.0.1:%d", port)
	waitHTTP(t, "podid gateway", via.URL, p)
	return &gatewayProc{via: &via, auditLog: audit, logs: p}
}

// auditRecords reads the gateway's JSON-lines audit log, waiting until
// want(records) holds (the auditor writes in batches).
func (g *gatewayProc) auditRecords(t *testing.T, want func([]map[string]any) bool) []map[string]any {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var recs []map[string]any
		if f, err := os.Open(g.auditLog); err == nil {
			sc := bufio.NewScanner(f)
			for sc.Scan() {
				var m map[string]any
				if json.Unmarshal(sc.Bytes(), &m) == nil {
					recs = append(recs, m)
				}
			}
			f.Close()
		}
		if want(recs) {
			return recs
		}
		if time.Now().After(deadline) {
			t.Fatalf("audit log never matched; %d records:\n%v", len(recs), recs)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// signedJSON sends a SigV4-signed JSON request to s with c's credentials.
func (s *server) signedJSON(t *testing.T, c creds, service, method, path string, body any) (int, []byte) {
	t.Helper()
	data, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(method, s.URL+path, bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	sum := sha256.Sum256(data)
	err = v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: c.Key, SecretAccessKey: c.Secret, SessionToken: c.Token},
		req, hex.EncodeToString(sum[:]), service, s.Region, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, out
}

// podCredentials gets the credentials a pod of (namespace, service
// account) in a podid-hosted cluster gets: a pod token minted by podid
// (POST /podid/v1/clusters/NAME/tokens) exchanged with EKS Auth by the AWS
// CLI. This is what `podid exec -n NS -s SA` hands its command.
func podCredentials(t *testing.T, s *server, cluster, namespace, serviceAccount string) creds {
	t.Helper()
	status, body := s.signedJSON(t, s.root(), "eks", http.MethodPost, "/podid/v1/clusters/"+cluster+"/tokens", map[string]any{
		"namespace": namespace, "serviceAccount": serviceAccount, "podName": serviceAccount + "-7d9f8b6c5d-x2k4q",
	})
	if status != http.StatusOK {
		t.Fatalf("minting a pod token: HTTP %d %s", status, body)
	}
	var tok struct {
		Token string `json:"token"`
	}
	if err := json.Unmarshal(body, &tok); err != nil || tok.Token == "" {
		t.Fatalf("token response: %v %s", err, body)
	}
	out := s.awsJSON(t, s.root(), "eks-auth", "assume-role-for-pod-identity", "--cluster-name", cluster, "--token", tok.Token)
	c := creds{Key: str(out, "credentials", "accessKeyId"), Secret: str(out, "credentials", "secretAccessKey"), Token: str(out, "credentials", "sessionToken")}
	if !strings.HasPrefix(c.Key, "ASIA") || c.Token == "" {
		t.Fatalf("assume-role-for-pod-identity returned %v", out)
	}
	return c
}

// callerARN returns the ARN GetCallerIdentity gives for c.
func callerARN(t *testing.T, s *server, c creds) string {
	t.Helper()
	return str(s.awsJSON(t, c, "sts", "get-caller-identity"), "Arn")
}

// freeClosedPort returns a loopback address nothing listens on.
func freeClosedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}
