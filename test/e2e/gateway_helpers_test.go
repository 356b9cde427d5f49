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
	"strconv"
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
		if _, err := os.Stat(p); err == nil || toolNPM.Missing() != nil {
			return
		}
		cmd := exec.Command("npm", "install", "--prefix", npmDir(), "--no-audit", "--no-fund", "dynalite@4.0.0", "s3rver@3.7.1")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Logf("npm install: %v\n%s", err, out)
		}
	})
	need(t, toolNode, tool{Name: p, Install: installDeps, Missing: func() error { _, err := os.Stat(p); return err }})
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
	needFor(t, bin)
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

// auditLog is a gateway's --gateway-audit-log file.
type auditLog string

// records reads the JSON-lines audit log, waiting until want(records)
// holds (the auditor writes in batches).
func (a auditLog) records(t *testing.T, want func([]map[string]any) bool) []map[string]any {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var recs []map[string]any
		if f, err := os.Open(string(a)); err == nil {
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

// gatewayProc is a running `podid gateway`.
type gatewayProc struct {
	// via is the server seen through the gateway: the same identities, the
	// gateway's URL as every client's endpoint.
	via   *server
	audit auditLog
	logs  *proc
}

// startGateway runs a standalone `podid gateway` on s's data directory
// with the given upstream flags. Upstream requests are signed with
// S3RVER/S3RVER (dynalite accepts any key).
func startGateway(t *testing.T, s *server, args ...string) *gatewayProc {
	t.Helper()
	return startGatewayOn(t, s, "127.0.0.1", args...)
}

// startGatewayOn is startGateway listening on host (a loopback address, or
// an address on a link the test created).
func startGatewayOn(t *testing.T, s *server, host string, args ...string) *gatewayProc {
	t.Helper()
	port := freePort(t)
	audit := filepath.Join(t.TempDir(), "audit.jsonl")
	full := append([]string{"gateway", "--listen", fmt.Sprintf("%s:%d", host, port), "--data-dir", s.DataDir,
		"--account-id", s.AccountID, "--region", s.Region, "--gateway-audit-log", audit, "--log-level", "debug"}, args...)
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"),
		"AWS_ACCESS_KEY_ID=" + s3rverCreds, "AWS_SECRET_ACCESS_KEY=" + s3rverCreds}
	p := startProc(t, "podid gateway", env, podidBin, full...)
	via := *s
	via.URL = fmt.Sprintf("http://%s:%d", host, port)
	waitHTTP(t, "podid gateway", via.URL, p)
	return &gatewayProc{via: &via, audit: auditLog(audit), logs: p}
}

// devGateway is a `podid dev` running the gateway (--gateway-listen).
type devGateway struct {
	*dev
	// url is the gateway's; via is the server seen through it (the root's
	// CLI with the gateway as its endpoint).
	url   string
	via   *server
	audit auditLog
}

// startDevGateway starts `podid dev --fresh` with the gateway on a free
// loopback port, its audit log in a file and the given upstream flags.
// Upstream requests are signed with S3RVER/S3RVER from a shared-credentials
// file (dynalite accepts any key).
func startDevGateway(t *testing.T, upstreams ...string) *devGateway {
	t.Helper()
	dir := t.TempDir()
	credsFile := filepath.Join(dir, "upstream-credentials")
	if err := os.WriteFile(credsFile, []byte("[default]\naws_access_key_id = "+s3rverCreds+"\naws_secret_access_key = "+s3rverCreds+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	audit := filepath.Join(dir, "audit.jsonl")
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	args := append([]string{"--fresh", "--listen", "127.0.0.1:0", "--gateway-listen", addr, "--gateway-audit-log", audit,
		"--dynamodb-upstream-credentials", credsFile, "--s3-upstream-credentials", credsFile}, upstreams...)
	d := launchDev(t, filepath.Join(dir, "data"), args...)
	g := &devGateway{dev: d, url: "http://" + addr, audit: auditLog(audit)}
	via := *d.server
	via.URL = g.url
	g.via = &via
	return g
}

// reassociate points the association of namespace/serviceAccount in the
// dev's cluster at another role, as `aws eks update-pod-identity-association`
// does on EKS; the pods exec starts afterwards get the new role.
func (g *devGateway) reassociate(t *testing.T, namespace, serviceAccount, role string) {
	t.Helper()
	l := g.awsJSON(t, g.root(), "eks", "list-pod-identity-associations", "--cluster-name", "eks-workshop",
		"--namespace", namespace, "--service-account", serviceAccount)
	as, _ := l["associations"].([]any)
	if len(as) != 1 {
		t.Fatalf("associations of %s/%s: %v", namespace, serviceAccount, l)
	}
	id, _ := as[0].(map[string]any)["associationId"].(string)
	g.aws(t, g.root(), "eks", "update-pod-identity-association", "--cluster-name", "eks-workshop", "--association-id", id,
		"--role-arn", "arn:aws:iam::"+g.AccountID+":role/"+role)
}

// podCall is one command a pod ran and what came of it.
type podCall struct {
	args     []string
	out, err string
	code     int
}

// ok returns the command's stdout, failing the test if the command failed.
func (c podCall) ok(t *testing.T) string {
	t.Helper()
	if c.code != 0 {
		t.Fatalf("in the pod, %s exited %d\nstderr: %s", strings.Join(c.args, " "), c.code, c.err)
	}
	return c.out
}

// json decodes the stdout of a command that succeeded.
func (c podCall) json(t *testing.T) map[string]any {
	t.Helper()
	out := c.ok(t)
	var m map[string]any
	if strings.TrimSpace(out) == "" {
		return m
	}
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		t.Fatalf("in the pod, %s: output is not JSON: %v\n%s", strings.Join(c.args, " "), err, out)
	}
	return m
}

// failed returns the stderr of a command that must have failed.
func (c podCall) failed(t *testing.T) string {
	t.Helper()
	if c.code == 0 {
		t.Fatalf("in the pod, %s succeeded, want failure; stdout: %s", strings.Join(c.args, " "), c.out)
	}
	return c.err
}

// awsCLI is an AWS CLI command with JSON output.
func awsCLI(args ...string) []string {
	return append(append([]string{"aws"}, args...), "--output", "json")
}

// boto3 is a Python program.
func boto3(program string) []string { return []string{"python3", "-c", program} }

// shellQuote quotes s for sh.
func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// inPod runs cmds one after another in one pod of namespace/serviceAccount
// of the dev's cluster, the way issue 9 describes it:
//
//	podid exec -n NS -s SA --env AWS_ENDPOINT_URL_DYNAMODB=GATEWAY --env AWS_ENDPOINT_URL_S3=GATEWAY -- sh SCRIPT
//
// so the CLI and boto3 get the pod's credentials from the dev's agent,
// call IAM, STS and EKS at podid (AWS_ENDPOINT_URL) and DynamoDB and S3
// through the gateway. The caller's environment holds the root key, which
// exec keeps out. The commands share the pod's token and so one session,
// whose ARN (from `aws sts get-caller-identity`, run first) is returned.
func (g *devGateway) inPod(t *testing.T, namespace, serviceAccount string, cmds ...[]string) (arn string, calls []podCall) {
	t.Helper()
	need(t, toolAWSCLI) // the pod's script starts with aws sts get-caller-identity
	for _, c := range cmds {
		needFor(t, c...)
	}
	dir := t.TempDir()
	var script strings.Builder
	script.WriteString(`cd "$1" || exit 1
aws sts get-caller-identity --query Arn --output text >arn || exit 1
run() { n=$1; shift; "$@" >"$n.out" 2>"$n.err"; echo $? >"$n.code"; }
`)
	for i, c := range cmds {
		fmt.Fprintf(&script, "run %d", i)
		for _, a := range c {
			script.WriteString(" " + shellQuote(a))
		}
		script.WriteString("\n")
	}
	scriptFile := filepath.Join(dir, "pod.sh")
	if err := os.WriteFile(scriptFile, []byte(script.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := g.exec(t, g.clientEnv(g.root()), 3*time.Minute, "-n", namespace, "-s", serviceAccount,
		"--env", "AWS_ENDPOINT_URL_DYNAMODB="+g.url, "--env", "AWS_ENDPOINT_URL_S3="+g.url, "--", "sh", scriptFile, dir)
	if code != 0 {
		t.Fatalf("podid exec -n %s -s %s: exit %d\nstdout: %s\nstderr: %s", namespace, serviceAccount, code, out, errOut)
	}
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatalf("pod output: %v", err)
		}
		return string(b)
	}
	for i, c := range cmds {
		n := fmt.Sprint(i)
		status, err := strconv.Atoi(strings.TrimSpace(read(n + ".code")))
		if err != nil {
			t.Fatalf("exit status of %v: %v", c, err)
		}
		calls = append(calls, podCall{args: c, out: read(n + ".out"), err: read(n + ".err"), code: status})
	}
	return strings.TrimSpace(read("arn")), calls
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
