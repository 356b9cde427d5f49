package e2e

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// dev is a running `podid dev` process.
type dev struct {
	*server
	state    devState
	out      *bytes.Buffer
	cmd      *exec.Cmd
	exited   chan error
	stopOnce sync.Once
}

// devState is the part of DATA-DIR/dev.json the tests read.
type devState struct {
	PID      int    `json:"pid"`
	Endpoint string `json:"endpoint"`
	Region   string `json:"region"`
	Clusters []struct {
		Name     string `json:"name"`
		AgentURL string `json:"agentUrl"`
	} `json:"clusters"`
	AccessKeyID     string `json:"accessKeyId"`
	SecretAccessKey string `json:"secretAccessKey"`
}

// startDev starts `podid dev --fresh` on free loopback ports with its own
// data directory.
func startDev(t *testing.T) *dev {
	t.Helper()
	return launchDev(t, t.TempDir(), "--fresh", "--listen", "127.0.0.1:0")
}

// launchDev starts `podid dev` on dataDir, waits for its env file and
// stops it when the test ends (see stop).
func launchDev(t *testing.T, dataDir string, args ...string) *dev {
	t.Helper()
	return launchDevEnv(t, dataDir, nil, args...)
}

// launchDevEnv is launchDev with env added to dev's environment (which
// otherwise holds only PATH and HOME).
func launchDevEnv(t *testing.T, dataDir string, env []string, args ...string) *dev {
	t.Helper()
	d := &dev{out: &bytes.Buffer{}, exited: make(chan error, 1),
		server: &server{DataDir: dataDir, AccountID: "123456789012", Region: "us-west-2", logs: &syncBuffer{}}}
	d.cmd = exec.Command(podidBin, append([]string{"dev", "--data-dir", dataDir, "--log-level", "info"}, args...)...)
	d.cmd.Stdout, d.cmd.Stderr = d.out, d.logs
	d.cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}, env...)
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { d.exited <- d.cmd.Wait() }()
	t.Cleanup(func() {
		d.stop(t)
		if t.Failed() {
			t.Logf("podid dev log:\n%s", d.logs.String())
		}
	})
	envFile := filepath.Join(dataDir, "dev.env")
	deadline := time.Now().Add(30 * time.Second)
	for {
		if st, err := os.Stat(envFile); err == nil && st.Size() > 0 {
			break
		}
		select {
		case err := <-d.exited:
			d.exited <- err
			t.Fatalf("podid dev exited before it was ready: %v\n%s", err, d.logs.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("podid dev was not ready within 30 s\n%s", d.logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	b, err := os.ReadFile(filepath.Join(dataDir, "dev.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &d.state); err != nil {
		t.Fatal(err)
	}
	d.URL, d.RootKey, d.RootSec = d.state.Endpoint, d.state.AccessKeyID, d.state.SecretAccessKey
	return d
}

// stop sends SIGINT (Ctrl-C) and checks that dev exits 0 and removes its
// state and env files. Only the first call does anything.
func (d *dev) stop(t *testing.T) {
	t.Helper()
	d.stopOnce.Do(func() {
		d.cmd.Process.Signal(os.Interrupt)
		select {
		case err := <-d.exited:
			if err != nil {
				t.Errorf("podid dev did not stop cleanly on SIGINT: %v", err)
			}
		case <-time.After(20 * time.Second):
			d.cmd.Process.Kill()
			t.Errorf("podid dev did not stop within 20 s of SIGINT")
		}
		for _, f := range []string{"dev.json", "dev.env"} {
			if _, err := os.Stat(filepath.Join(d.DataDir, f)); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("%s left after a clean stop: %v", f, err)
			}
		}
	})
}

// devFails runs `podid dev` expecting it to exit with an error, and
// returns its stderr.
func devFails(t *testing.T, dataDir string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, podidBin, append([]string{"dev", "--data-dir", dataDir}, args...)...)
	var e bytes.Buffer
	cmd.Stderr = &e
	if err := cmd.Run(); err == nil || ctx.Err() != nil {
		t.Fatalf("podid dev %v: %v, want it to fail at once", args, err)
	}
	return e.String()
}

// leakyEnv is the environment of a caller whose own AWS settings must not
// reach the command: the root key, a session token, a profile, web
// identity and ECS container settings.
func (d *dev) leakyEnv() []string {
	return append(d.clientEnv(d.root()),
		"AWS_SESSION_TOKEN=IQoJleakedsessiontoken",
		"AWS_PROFILE=admin",
		"AWS_ROLE_ARN=arn:aws:iam::123456789012:role/leaked",
		"AWS_WEB_IDENTITY_TOKEN_FILE=/nonexistent/token",
		"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI=/v2/credentials/leaked",
		"AWS_CA_BUNDLE=/nonexistent/ca.pem",
	)
}

// exec runs `podid exec` against d with env and returns its outputs and
// exit code.
func (d *dev) exec(t *testing.T, env []string, timeout time.Duration, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	needFor(t, args...)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, podidBin, append([]string{"exec", "--data-dir", d.DataDir}, args...)...)
	cmd.Env = env
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		code = ee.ExitCode()
	default:
		t.Fatalf("podid exec: %v", err)
	}
	if ctx.Err() != nil {
		t.Fatalf("podid exec did not finish within %v\nstdout: %s\nstderr: %s", timeout, o.String(), e.String())
	}
	return o.String(), e.String(), code
}

const trustPods = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"pods.eks.amazonaws.com"},"Action":["sts:AssumeRole","sts:TagSession"]}]}`

// associate creates a role trusting pods.eks.amazonaws.com and associates
// it with ns/sa on the dev cluster; it returns the role ARN.
func (d *dev) associate(t *testing.T, role, ns, sa string) string {
	t.Helper()
	arn := str(d.awsJSON(t, d.root(), "iam", "create-role", "--role-name", role, "--assume-role-policy-document", trustPods), "Role", "Arn")
	d.aws(t, d.root(), "eks", "create-pod-identity-association", "--cluster-name", "eks-workshop",
		"--namespace", ns, "--service-account", sa, "--role-arn", arn)
	return arn
}

// claims decodes a JWT's payload.
func claims(t *testing.T, jwt string) map[string]any {
	t.Helper()
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		t.Fatalf("token %q is not a JWT", jwt)
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// TestExecMissingAssociation: without an association, exec fails before
// running the command, with EKS Auth's answer and the command that fixes
// it.
func TestExecMissingAssociation(t *testing.T) {
	t.Parallel()
	d := startDev(t)
	out, errOut, code := d.exec(t, d.leakyEnv(), time.Minute, "-n", "carts", "-s", "carts", "--", "sh", "-c", "echo COMMAND-RAN")
	if code == 0 || strings.Contains(out, "COMMAND-RAN") {
		t.Fatalf("exec ran the command without an association: code %d, stdout %q", code, out)
	}
	want := `podid: no Pod Identity association for service account carts/carts of cluster eks-workshop, so its pods get no AWS credentials.
EKS Auth answered ResourceNotFoundException: No Pod Identity Association found for cluster eks-workshop, namespace carts and service account carts.
Create one with a role that trusts pods.eks.amazonaws.com:
  aws eks create-pod-identity-association --cluster-name eks-workshop --namespace carts --service-account carts --role-arn arn:aws:iam::123456789012:role/ROLE-NAME
The whole chain: podid explain --cluster eks-workshop --namespace carts --service-account carts
`
	if errOut != want {
		t.Errorf("stderr =\n%s\nwant\n%s", errOut, want)
	}
	// An association for another service account does not help.
	d.associate(t, "orders", "carts", "orders")
	if _, errOut, code := d.exec(t, d.leakyEnv(), time.Minute, "-n", "carts", "-s", "carts", "--", "true"); code == 0 || !strings.Contains(errOut, "namespace carts and service account carts.") {
		t.Errorf("with another service account's association: code %d, stderr %s", code, errOut)
	}
}

// TestExecTrustForbidsPods: a role whose trust policy denies
// pods.eks.amazonaws.com (changed after the association was made) makes
// exec fail with EKS Auth's AccessDeniedException, naming the role and the
// fix; once the trust is fixed, exec runs the command.
func TestExecTrustForbidsPods(t *testing.T) {
	t.Parallel()
	d := startDev(t)
	role := d.associate(t, "carts-forbidden", "carts", "carts")
	d.aws(t, d.root(), "iam", "update-assume-role-policy", "--role-name", "carts-forbidden", "--policy-document",
		`{"Version":"2012-10-17","Statement":[`+
			`{"Effect":"Allow","Principal":{"Service":"pods.eks.amazonaws.com"},"Action":["sts:AssumeRole","sts:TagSession"]},`+
			`{"Effect":"Deny","Principal":{"Service":"pods.eks.amazonaws.com"},"Action":"sts:AssumeRole"}]}`)
	out, errOut, code := d.exec(t, d.leakyEnv(), time.Minute, "-n", "carts", "-s", "carts", "--", "sh", "-c", "echo COMMAND-RAN")
	if code == 0 || strings.Contains(out, "COMMAND-RAN") {
		t.Fatalf("exec ran the command with a forbidding trust policy: code %d, stdout %q", code, out)
	}
	for _, want := range []string{
		"podid: EKS Auth refused to issue credentials for service account carts/carts of cluster eks-workshop: role " + role + " may not be assumed by pods.\n",
		"EKS Auth answered AccessDeniedException: ",
		"arn:aws:iam::123456789012:role/carts-forbidden",
		"The role's trust policy must allow the service principal pods.eks.amazonaws.com the actions sts:AssumeRole and sts:TagSession, with no Deny for them:\n",
		"  aws iam update-assume-role-policy --role-name carts-forbidden --policy-document '" + trustPods + "'\n",
	} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}
	// The suggested fix works.
	d.aws(t, d.root(), "iam", "update-assume-role-policy", "--role-name", "carts-forbidden", "--policy-document", trustPods)
	out, errOut, code = d.exec(t, d.leakyEnv(), time.Minute, "-n", "carts", "-s", "carts", "--", "aws", "sts", "get-caller-identity", "--query", "Arn", "--output", "text")
	if code != 0 || !strings.HasPrefix(out, "arn:aws:sts::123456789012:assumed-role/carts-forbidden/eks-eks-worksh-carts-") {
		t.Errorf("after fixing the trust: code %d, stdout %q, stderr %s", code, out, errOut)
	}
}

// TestExecTargetRoleRefuses: when the association's target role refuses
// the second hop, exec names the target role (not the association's role)
// and the trust statement it lacks, with the documented externalId; the
// printed fix works, and the command then runs as the target role.
func TestExecTargetRoleRefuses(t *testing.T) {
	t.Parallel()
	d := startDev(t)
	first := str(d.awsJSON(t, d.root(), "iam", "create-role", "--role-name", "carts-first", "--assume-role-policy-document", trustPods), "Role", "Arn")
	d.aws(t, d.root(), "iam", "put-role-policy", "--role-name", "carts-first", "--policy-name", "assume-target", "--policy-document",
		`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["sts:AssumeRole","sts:TagSession"],"Resource":"*"}]}`)
	// The target trusts the first role but without sts:TagSession.
	target := str(d.awsJSON(t, d.root(), "iam", "create-role", "--role-name", "carts-target", "--assume-role-policy-document",
		`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"`+first+`"},"Action":"sts:AssumeRole"}]}`), "Role", "Arn")
	a := d.awsJSON(t, d.root(), "eks", "create-pod-identity-association", "--cluster-name", "eks-workshop",
		"--namespace", "carts", "--service-account", "carts", "--role-arn", first, "--target-role-arn", target)
	ext := str(a, "association", "externalId")
	if ext != "us-west-2/123456789012/eks-workshop/carts/carts" {
		t.Errorf("externalId %q", ext)
	}
	out, errOut, code := d.exec(t, d.leakyEnv(), time.Minute, "-n", "carts", "-s", "carts", "--", "sh", "-c", "echo COMMAND-RAN")
	if code == 0 || strings.Contains(out, "COMMAND-RAN") {
		t.Fatalf("exec ran the command with a refusing target role: code %d, stdout %q", code, out)
	}
	fix := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"` + first + `"},"Action":["sts:AssumeRole","sts:TagSession"],"Condition":{"StringEquals":{"sts:ExternalId":"` + ext + `"}}}]}`
	for _, want := range []string{
		"podid: EKS Auth refused to issue credentials for service account carts/carts of cluster eks-workshop: the target role " + target + " refused the second hop (sts:TagSession by " + first + ").\n",
		"The target role's trust policy must allow the association's role " + first + " the actions sts:AssumeRole and sts:TagSession on condition sts:ExternalId = " + ext + ", with no Deny for them:\n",
		"  aws iam update-assume-role-policy --role-name carts-target --policy-document '" + fix + "'\n",
	} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}
	if strings.Contains(errOut, "--role-name carts-first") {
		t.Errorf("stderr blames the association's role:\n%s", errOut)
	}
	d.aws(t, d.root(), "iam", "update-assume-role-policy", "--role-name", "carts-target", "--policy-document", fix)
	out, errOut, code = d.exec(t, d.leakyEnv(), time.Minute, "-n", "carts", "-s", "carts", "--", "aws", "sts", "get-caller-identity", "--query", "Arn", "--output", "text")
	if code != 0 || !strings.HasPrefix(out, "arn:aws:sts::123456789012:assumed-role/carts-target/") {
		t.Errorf("after fixing the target's trust: code %d, stdout %q, stderr %s", code, out, errOut)
	}
}

// TestExecEnvironment: the command sees the pod's variables and none of
// the caller's AWS settings; its SDK gets the role's credentials from the
// agent even though the caller's environment holds the root key; the
// token file holds a pod-bound token, with no trailing newline, mode 0600,
// and is removed when exec ends.
func TestExecEnvironment(t *testing.T) {
	t.Parallel()
	d := startDev(t)
	role := d.associate(t, "carts-env", "carts", "carts")
	script := `env | grep '^AWS_' | sort
f=$AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE
echo "TOKEN $(cat "$f")"
echo "SIZES $(wc -c < "$f") $(printf %s "$(cat "$f")" | wc -c)"
echo "MODE $(stat -c %a "$f")"
echo "IDENTITY $(aws sts get-caller-identity --query Arn --output text)"`
	out, errOut, code := d.exec(t, d.leakyEnv(), 2*time.Minute, "-n", "carts", "-s", "carts", "--pod", "carts-7d9f8b6c5d-x2x4q", "--", "sh", "-c", script)
	if code != 0 {
		t.Fatalf("exec: code %d\nstderr: %s", code, errOut)
	}
	var env []string
	lines := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if strings.HasPrefix(l, "AWS_") {
			env = append(env, l)
			continue
		}
		k, v, _ := strings.Cut(l, " ")
		lines[k] = v
	}
	tokenFile := ""
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE="); ok {
			tokenFile = v
		}
	}
	want := []string{
		"AWS_CONFIG_FILE=/dev/null",
		"AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE=" + tokenFile,
		"AWS_CONTAINER_CREDENTIALS_FULL_URI=" + d.state.Clusters[0].AgentURL,
		"AWS_DEFAULT_REGION=us-west-2",
		"AWS_EC2_METADATA_DISABLED=true",
		"AWS_ENDPOINT_URL=" + d.URL,
		"AWS_REGION=us-west-2",
		"AWS_SHARED_CREDENTIALS_FILE=/dev/null",
		"AWS_STS_REGIONAL_ENDPOINTS=regional",
	}
	if strings.Join(env, "\n") != strings.Join(want, "\n") {
		t.Errorf("the command's AWS_ variables:\n%s\nwant\n%s", strings.Join(env, "\n"), strings.Join(want, "\n"))
	}
	if !regexp.MustCompile(`^http://127\.0\.0\.1:[0-9]+/v1/credentials$`).MatchString(d.state.Clusters[0].AgentURL) {
		t.Errorf("agent URL %q is not on loopback", d.state.Clusters[0].AgentURL)
	}
	if !regexp.MustCompile(`^/.+/podid-exec-[0-9]+/eks-pod-identity-token$`).MatchString(tokenFile) {
		t.Errorf("token file %q", tokenFile)
	}
	if _, err := os.Stat(filepath.Dir(tokenFile)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("token directory left after exec: %v", err)
	}
	if sizes := strings.Fields(lines["SIZES"]); len(sizes) != 2 || sizes[0] != sizes[1] {
		t.Errorf("token file sizes (file, without trailing newlines) = %v: the file ends with a newline", sizes)
	}
	if lines["MODE"] != "600" {
		t.Errorf("token file mode %s, want 600", lines["MODE"])
	}
	if !strings.HasPrefix(lines["IDENTITY"], "arn:aws:sts::123456789012:assumed-role/carts-env/eks-eks-worksh-carts-7d9f-") {
		t.Errorf("identity %q: want the association's role (%s), not the caller's root key", lines["IDENTITY"], role)
	}
	c := claims(t, lines["TOKEN"])
	k8s, _ := c["kubernetes.io"].(map[string]any)
	pod, _ := k8s["pod"].(map[string]any)
	node, _ := k8s["node"].(map[string]any)
	sa, _ := k8s["serviceaccount"].(map[string]any)
	iat, _ := c["iat"].(float64)
	exp, _ := c["exp"].(float64)
	if c["iss"] != d.URL+"/clusters/eks-workshop/oidc" || c["sub"] != "system:serviceaccount:carts:carts" ||
		fmt.Sprint(c["aud"]) != "[pods.eks.amazonaws.com]" || k8s["namespace"] != "carts" ||
		pod["name"] != "carts-7d9f8b6c5d-x2x4q" || pod["uid"] == "" || node["name"] != "podid-dev" || sa["name"] != "carts" ||
		exp-iat != 86400 {
		t.Errorf("token claims %v", c)
	}
}

// TestExecLongRun: a command that runs across several tokens keeps
// working. exec replaces the token file early (--token-refresh 3s; the
// server's shortest token lifetime, 10 minutes, is too long for a test),
// and each replacement is a new pod-bound token of the same pod that the
// command's SDK sends and the agent exchanges anew.
func TestExecLongRun(t *testing.T) {
	t.Parallel()
	d := startDev(t)
	d.associate(t, "carts-long", "carts", "carts")
	script := `f=$AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE
changes=0 last="" end=$((SECONDS + 150))
while [ $SECONDS -lt $end ]; do
	before=$(cat "$f")
	arn=$(aws sts get-caller-identity --query Arn --output text) || exit 1
	after=$(cat "$f")
	[ "$before" = "$after" ] || continue
	echo "SAMPLE $before $arn"
	if [ "$before" != "$last" ]; then changes=$((changes + 1)); last=$before; fi
	[ $changes -lt 3 ] || exit 0
done
echo "saw only $changes tokens" >&2
exit 1`
	out, errOut, code := d.exec(t, d.leakyEnv(), 4*time.Minute,
		"-n", "carts", "-s", "carts", "--token-expiration", "10m", "--token-refresh", "3s", "--", "bash", "-c", script)
	if code != 0 {
		t.Fatalf("long run: code %d\nstdout: %s\nstderr: %s", code, out, errOut)
	}
	arnOf := map[string]string{}
	tokenOf := map[string]string{}
	var order []string
	arnRE := regexp.MustCompile(`^arn:aws:sts::123456789012:assumed-role/carts-long/eks-eks-worksh-carts-[a-z0-9]{4}-[0-9a-f-]{36}$`)
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.Fields(l)
		if len(f) != 3 || f[0] != "SAMPLE" {
			t.Fatalf("unexpected output line %q", l)
		}
		tok, arn := f[1], f[2]
		if !arnRE.MatchString(arn) {
			t.Errorf("identity %q", arn)
		}
		if prev, ok := arnOf[tok]; ok && prev != arn {
			t.Errorf("one token gave two sessions: %s and %s (the agent should serve a token's credentials from its cache)", prev, arn)
		}
		if prev, ok := tokenOf[arn]; ok && prev != tok {
			t.Errorf("two tokens gave one session %s: the agent did not exchange the new token", arn)
		}
		if _, ok := arnOf[tok]; !ok {
			order = append(order, tok)
		}
		arnOf[tok], tokenOf[arn] = arn, tok
	}
	if len(order) < 3 {
		t.Fatalf("the command used %d tokens, want at least 3", len(order))
	}
	first := claims(t, order[0])
	firstPod := first["kubernetes.io"].(map[string]any)["pod"]
	lastIat := 0.0
	for i, tok := range order {
		c := claims(t, tok)
		iat, exp := c["iat"].(float64), c["exp"].(float64)
		if exp-iat != 600 {
			t.Errorf("token %d lives %v s, want 600", i, exp-iat)
		}
		if iat < lastIat {
			t.Errorf("token %d was issued before token %d", i, i-1)
		}
		lastIat = iat
		if pod := c["kubernetes.io"].(map[string]any)["pod"]; fmt.Sprint(pod) != fmt.Sprint(firstPod) {
			t.Errorf("token %d is bound to pod %v, token 0 to %v: rotation must keep the pod", i, pod, firstPod)
		}
		if c["jti"] == first["jti"] && i > 0 {
			t.Errorf("token %d repeats token 0's jti", i)
		}
	}
}

// TestDevRestart: a restart keeps the state and the cluster's tokens stay
// valid; one dev at a time per data directory; a restart on another
// address is refused (the cluster's token issuer names the first one);
// --fresh starts empty.
func TestDevRestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	listen := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	d := launchDev(t, dir, "--listen", listen)
	d.associate(t, "carts-kept", "carts", "carts")
	d.stop(t)

	d2 := launchDev(t, dir, "--listen", listen)
	if d2.RootKey != d.RootKey {
		t.Errorf("root key changed across a restart: %s, then %s", d.RootKey, d2.RootKey)
	}
	out, errOut, code := d2.exec(t, d2.leakyEnv(), time.Minute, "-n", "carts", "-s", "carts", "--", "aws", "sts", "get-caller-identity", "--query", "Arn", "--output", "text")
	if code != 0 || !strings.HasPrefix(out, "arn:aws:sts::123456789012:assumed-role/carts-kept/") {
		t.Errorf("after a restart: code %d, stdout %q, stderr %s", code, out, errOut)
	}
	if msg := devFails(t, dir, "--listen", "127.0.0.1:0"); !strings.Contains(msg, "another podid dev uses "+dir) {
		t.Errorf("second dev on one data directory: %s", msg)
	}
	d2.stop(t)

	msg := devFails(t, dir, "--listen", "127.0.0.1:0")
	if want := "podid: cluster eks-workshop was created when podid dev served http://" + listen + " (its token issuer is http://" + listen + "/clusters/eks-workshop/oidc); start with --listen " + listen + ", or with --fresh to start empty"; !strings.Contains(msg, want) {
		t.Errorf("restart on another address:\n%s\nwant %s", msg, want)
	}
	d3 := launchDev(t, dir, "--fresh", "--listen", "127.0.0.1:0")
	if d3.RootKey == d.RootKey {
		t.Error("--fresh kept the root key")
	}
	stderr := d3.awsErr(t, d3.root(), "iam", "get-role", "--role-name", "carts-kept")
	wantCode(t, stderr, "NoSuchEntity")
}

// TestDevPrintsExportLines: `podid dev` prints, once ready, a summary, the
// file holding its export lines, the lines themselves (exactly the file's
// content) and how to run a command as a pod.
func TestDevPrintsExportLines(t *testing.T) {
	t.Parallel()
	d := startDev(t)
	envFile := filepath.Join(d.DataDir, "dev.env")
	script, err := os.ReadFile(envFile)
	if err != nil {
		t.Fatal(err)
	}
	d.stop(t) // the output is complete, and no longer written to
	out := d.out.String()
	head := regexp.MustCompile(`^# podid dev is ready in [0-9.]+m?s: cluster eks-workshop \(agent http://127\.0\.0\.1:[0-9]+/v1/credentials\) at ` +
		regexp.QuoteMeta(d.URL) + ` \(account 123456789012, region us-west-2\)\n`)
	want := "# These lines are in " + envFile + "; load them with: source " + envFile + "\n" + string(script) +
		"# Then run a command as a pod: podid exec -n NAMESPACE -s SERVICE-ACCOUNT -- aws sts get-caller-identity\n"
	loc := head.FindStringIndex(out)
	if loc == nil || out[loc[1]:] != want {
		t.Errorf("podid dev printed:\n%s\nwant a ready line, then:\n%s", out, want)
	}
	if !strings.Contains(string(script), "export AWS_ENDPOINT_URL="+d.URL+"\n") {
		t.Errorf("dev.env lacks the endpoint:\n%s", script)
	}
}

// TestDevSeveralClusters: `podid dev --cluster a --cluster b` serves two
// hosted clusters, each with its own agent; exec runs as a pod of the
// first by default and of another with --cluster, whose association alone
// decides. SIGTERM stops dev as cleanly as Ctrl-C.
func TestDevSeveralClusters(t *testing.T) {
	t.Parallel()
	d := launchDev(t, t.TempDir(), "--fresh", "--listen", "127.0.0.1:0", "--cluster", "shop", "--cluster", "billing")
	if len(d.state.Clusters) != 2 || d.state.Clusters[0].Name != "shop" || d.state.Clusters[1].Name != "billing" ||
		d.state.Clusters[0].AgentURL == d.state.Clusters[1].AgentURL {
		t.Fatalf("dev.json clusters = %+v", d.state.Clusters)
	}
	root := d.root()
	arn := str(d.awsJSON(t, root, "iam", "create-role", "--role-name", "invoices", "--assume-role-policy-document", trustPods), "Role", "Arn")
	d.aws(t, root, "eks", "create-pod-identity-association", "--cluster-name", "billing", "--namespace", "billing", "--service-account", "invoices", "--role-arn", arn)

	out, errOut, code := d.exec(t, d.clientEnv(root), time.Minute, "--cluster", "billing", "-n", "billing", "-s", "invoices", "--",
		"sh", "-c", `aws sts get-caller-identity --query Arn --output text; echo "$AWS_CONTAINER_CREDENTIALS_FULL_URI"`)
	want := regexp.MustCompile(`^arn:aws:sts::123456789012:assumed-role/invoices/eks-billing-invoices-[a-z0-9]+-[0-9a-f-]{36}\n` +
		regexp.QuoteMeta(d.state.Clusters[1].AgentURL) + "\n$")
	if code != 0 || !want.MatchString(out) {
		t.Errorf("exec --cluster billing: exit %d\n%s%s", code, out, errOut)
	}
	// The default cluster (shop) has no association for it.
	_, errOut, code = d.exec(t, d.clientEnv(root), time.Minute, "-n", "billing", "-s", "invoices", "--", "true")
	if code == 0 || !strings.Contains(errOut, "no Pod Identity association for service account billing/invoices of cluster shop") {
		t.Errorf("exec on the default cluster: exit %d\n%s", code, errOut)
	}

	// SIGTERM: dev exits 0 and removes its state, as with Ctrl-C.
	d.stopOnce.Do(func() {
		d.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-d.exited:
			if err != nil {
				t.Errorf("podid dev did not stop cleanly on SIGTERM: %v", err)
			}
		case <-time.After(20 * time.Second):
			d.cmd.Process.Kill()
			t.Errorf("podid dev did not stop within 20 s of SIGTERM")
		}
		for _, f := range []string{"dev.json", "dev.env"} {
			if _, err := os.Stat(filepath.Join(d.DataDir, f)); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("%s left after SIGTERM: %v", f, err)
			}
		}
	})
}
