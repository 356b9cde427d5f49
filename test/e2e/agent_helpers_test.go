package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/go-jose/go-jose/v4"
	"golang.org/x/sys/unix"
)

// The node agent's tests run the agent and unmodified SDK clients inside a
// network namespace the test creates, where 169.254.170.23 is a local
// address, so the clients use the workshop's environment
// (AWS_CONTAINER_CREDENTIALS_FULL_URI=http://169.254.170.23/v1/credentials)
// unchanged. podid server runs in the test's own namespace (the harness's
// startServer); a bridge listening on 127.0.0.1:8080 inside the namespace
// forwards to it, and taking the bridge down is an EKS Auth outage as the
// node sees it. The test process reaches into the namespace (the agent's
// listeners, its metrics) with sockets created there (setns on a locked
// thread), and runs clients there with `ip netns exec`.

const (
	// agentHost is the address SDKs call for Pod Identity credentials.
	agentHost = "169.254.170.23"
	// agentHost6 is its IPv6 twin.
	agentHost6 = "fd00:ec2::23"
	// agentURL is the workshop's AWS_CONTAINER_CREDENTIALS_FULL_URI.
	agentURL = "http://" + agentHost + "/v1/credentials"
	// nsEndpoint is where podid server is reached from inside the namespace.
	nsEndpoint = "http://127.0.0.1:8080"
	// agentMetrics serves the agent's /metrics (and /readyz) in the namespace.
	agentMetrics = "http://127.0.0.1:2705"
	// agentProbe serves the agent's /healthz and /readyz in the namespace.
	agentProbe = "http://127.0.0.1:2703"

	agentCluster    = "eks-workshop"
	workshopRole    = "eks-workshop-carts-dynamo"
	workshopPodName = "carts-7d9fc6b5d8-x2kq9"
)

// workshopARNRE matches the assumed-role ARN a carts pod of eks-workshop gets.
const workshopARNRE = `^arn:aws:sts::123456789012:assumed-role/eks-workshop-carts-dynamo/eks-eks-worksh-carts-7d9f-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`

// netns is a network namespace owned by one test.
type netns struct {
	name string
	fd   *os.File
}

// newNetns creates a network namespace with its loopback up; it is deleted
// when the test ends (after the processes started in it have stopped). The
// test fails, never skips, when namespaces cannot be created.
func newNetns(t *testing.T) *netns {
	t.Helper()
	need(t, toolIP, toolRoot)
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	name := "podid-e2e-" + hex.EncodeToString(b[:])
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Fatalf("cannot create a network namespace (the agent's end-to-end tests run as root with `ip netns`): %v: %s", err, out)
	}
	n := &netns{name: name}
	t.Cleanup(func() {
		if n.fd != nil {
			n.fd.Close()
		}
		if out, err := exec.Command("ip", "netns", "del", name).CombinedOutput(); err != nil {
			t.Errorf("deleting network namespace %s: %v: %s", name, err, out)
		}
	})
	fd, err := os.Open(filepath.Join("/run/netns", name))
	if err != nil {
		t.Fatalf("opening network namespace %s: %v", name, err)
	}
	n.fd = fd
	n.ip(t, "link", "set", "lo", "up")
	return n
}

// ip runs `ip -n NS args...`.
func (n *netns) ip(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("ip", append([]string{"-n", n.name}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("ip -n %s %s: %v: %s", n.name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// do runs fn on an OS thread that has entered the namespace; sockets fn
// creates belong to the namespace for good. The thread returns to the
// test's namespace afterwards, or is discarded if it cannot.
func (n *netns) do(fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			errc <- fmt.Errorf("opening the thread's network namespace: %w", err)
			return // still locked: the thread exits with the goroutine
		}
		defer orig.Close()
		if err := unix.Setns(int(n.fd.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("entering network namespace %s: %w", n.name, err)
			return
		}
		ferr := fn()
		if unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET) == nil {
			runtime.UnlockOSThread()
		}
		errc <- ferr
	}()
	return <-errc
}

// dial connects from inside the namespace.
func (n *netns) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	var c net.Conn
	err := n.do(func() error {
		var err error
		c, err = (&net.Dialer{Timeout: 5 * time.Second}).DialContext(ctx, network, addr)
		return err
	})
	return c, err
}

// listen listens inside the namespace.
func (n *netns) listen(addr string) (net.Listener, error) {
	var l net.Listener
	err := n.do(func() error {
		var err error
		l, err = net.Listen("tcp", addr)
		return err
	})
	return l, err
}

// httpClient is an HTTP client whose connections are made inside the
// namespace.
func (n *netns) httpClient() *http.Client {
	return &http.Client{
		Timeout:   15 * time.Second,
		Transport: &http.Transport{DialContext: n.dial, DisableKeepAlives: true},
	}
}

// bridge forwards connections made to an address inside a namespace to an
// address in the test's namespace. down closes the listener and every
// forwarded connection: the far side is unreachable (connection refused)
// until up.
type bridge struct {
	n        *netns
	addr     string
	target   string
	mu       sync.Mutex
	ln       net.Listener
	conns    map[net.Conn]struct{}
	accepted sync.WaitGroup
}

func newBridge(t *testing.T, n *netns, addr, target string) *bridge {
	t.Helper()
	b := &bridge{n: n, addr: addr, target: target, conns: map[net.Conn]struct{}{}}
	b.up(t)
	t.Cleanup(b.down)
	return b
}

func (b *bridge) up(t *testing.T) {
	t.Helper()
	ln, err := b.n.listen(b.addr)
	if err != nil {
		t.Fatalf("bridge: listening on %s in %s: %v", b.addr, b.n.name, err)
	}
	b.mu.Lock()
	b.ln = ln
	b.mu.Unlock()
	b.accepted.Add(1)
	go func() {
		defer b.accepted.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go b.forward(c)
		}
	}()
}

func (b *bridge) forward(c net.Conn) {
	u, err := net.DialTimeout("tcp", b.target, 5*time.Second)
	if err != nil {
		c.Close()
		return
	}
	b.mu.Lock()
	if b.ln == nil { // went down meanwhile
		b.mu.Unlock()
		c.Close()
		u.Close()
		return
	}
	b.conns[c], b.conns[u] = struct{}{}, struct{}{}
	b.mu.Unlock()
	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		_, _ = io.Copy(dst, src)
		if tc, ok := dst.(*net.TCPConn); ok {
			_ = tc.CloseWrite()
		}
		done <- struct{}{}
	}
	go pipe(u, c)
	go pipe(c, u)
	<-done
	<-done
	c.Close()
	u.Close()
	b.mu.Lock()
	delete(b.conns, c)
	delete(b.conns, u)
	b.mu.Unlock()
}

func (b *bridge) down() {
	b.mu.Lock()
	ln := b.ln
	b.ln = nil
	for c := range b.conns {
		c.Close()
	}
	b.mu.Unlock()
	if ln != nil {
		ln.Close()
	}
	b.accepted.Wait()
}

// pod is the pod a token is bound to.
type pod struct {
	Namespace, ServiceAccount, Name, UID string
}

// newPod names a pod with a fresh UID, as the API server gives one.
func newPod(ns, sa, name string) pod {
	return pod{Namespace: ns, ServiceAccount: sa, Name: name, UID: newUUID()}
}

// newUUID returns a random (version 4) UUID.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6], b[8] = b[6]&0x0f|0x40, b[8]&0x3f|0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// agentEnv is a podid server, a node agent in a namespace and the
// workshop's carts association.
type agentEnv struct {
	ns      *netns
	srv     *server
	f       *eaFixture
	bridge  *bridge
	cluster string
	// assoc is the carts/carts association's ID.
	assoc string
	node  creds
	agent *proc
	http  *http.Client
	dir   string
	// issuer signs the tokens of an external cluster (nil: hosted).
	issuer *ecdsa.PrivateKey
}

// agentOptions shape an agentEnv.
type agentOptions struct {
	// external registers the cluster as an external one whose tokens the
	// test signs itself (so it controls their lifetime), instead of a
	// podid-hosted cluster.
	external bool
	// agentAddsAddress leaves 169.254.170.23 to the agent, which adds it
	// to lo itself (--link-name lo); otherwise the test adds it.
	agentAddsAddress bool
	// agentArgs are extra `podid agent` flags.
	agentArgs []string
}

const (
	externalCluster = "onprem-workshop"
	externalIssuer  = "https://oidc.onprem.example.com/workshop"
)

// newAgentEnv sets up the workshop (cluster, role, carts association), a
// node user, the namespace with its bridge to the server, and starts
// `podid agent` in the namespace.
func newAgentEnv(t *testing.T, o agentOptions) *agentEnv {
	t.Helper()
	// The agent's tests drive the AWS CLI, boto3 and the JS SDK v3 in a
	// network namespace.
	need(t, toolIP, toolRoot, toolAWSCLI, toolBoto3, toolNode)
	e := &agentEnv{ns: newNetns(t), srv: startServer(t), dir: t.TempDir()}
	e.http = e.ns.httpClient()
	e.f = newEAFixture(t, e.srv)
	if o.external {
		e.cluster = externalCluster
		e.registerExternal(t)
	} else {
		e.cluster = agentCluster
		e.f.cluster(t, e.cluster)
	}
	roleARN := e.f.role(t, workshopRole, trustPods)
	e.assoc = e.associate(t, "carts", "carts", roleARN)
	// The node's identity: what the node role of an EKS node has.
	e.node = e.f.user(t, "node", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["eks-auth:AssumeRoleForPodIdentity","eks:ListPodIdentityAssociations"],"Resource":"*"}]}`)

	if !o.agentAddsAddress {
		e.ns.ip(t, "addr", "add", agentHost+"/32", "dev", "lo")
	}
	e.bridge = newBridge(t, e.ns, "127.0.0.1:8080", strings.TrimPrefix(e.srv.URL, "http://"))

	credFile := filepath.Join(e.dir, "node-credentials")
	if err := os.WriteFile(credFile, []byte(fmt.Sprintf("[default]\naws_access_key_id = %s\naws_secret_access_key = %s\n", e.node.Key, e.node.Secret)), 0o600); err != nil {
		t.Fatal(err)
	}
	env := []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"),
		"AWS_SHARED_CREDENTIALS_FILE=" + credFile, "AWS_CONFIG_FILE=/dev/null",
		"AWS_REGION=" + e.srv.Region, "AWS_EC2_METADATA_DISABLED=true",
	}
	args := []string{"netns", "exec", e.ns.name, podidBin, "agent",
		"--cluster-name", e.cluster, "--endpoint", nsEndpoint, "--change-feed-endpoint", nsEndpoint,
		"--bind-hosts", agentHost, "--port", "80",
		"--probe-address", "127.0.0.1", "--probe-port", "2703",
		"--metrics-address", "127.0.0.1", "--metrics-port", "2705",
		"--drain-delay", "0", "-v", "debug"}
	if o.agentAddsAddress {
		args = append(args, "--link-name", "lo")
	}
	args = append(args, o.agentArgs...)
	e.agent = startProc(t, "podid agent", env, "ip", args...)

	// Up: the credential listener answers (a request without a token is
	// refused locally), and the change feed has delivered its first
	// reset, so no Resync re-check is pending when a test starts.
	e.waitFor(t, "the agent's credential listener", 30*time.Second, func() (bool, string) {
		st, _, body, err := e.fetchErr("")
		return err == nil && st == http.StatusBadRequest, fmt.Sprint(st, " ", body, " ", err)
	})
	e.waitMetric(t, `podid_agent_change_events_total{type="Resync"}`, 30*time.Second, func(v float64) bool { return v >= 1 })
	return e
}

// associate creates a pod identity association on the env's cluster.
func (e *agentEnv) associate(t *testing.T, ns, sa, roleARN string) string {
	t.Helper()
	a := e.f.associate(t, &eks.CreatePodIdentityAssociationInput{ClusterName: aws.String(e.cluster), Namespace: aws.String(ns),
		ServiceAccount: aws.String(sa), RoleArn: aws.String(roleARN)})
	return aws.ToString(a.AssociationId)
}

// registerExternal registers the external cluster with an inline JWKS of
// a key the test holds.
func (e *agentEnv) registerExternal(t *testing.T) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	e.issuer = key
	jwks, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: "onprem-1", Algorithm: "ES256", Use: "sig"}}})
	if err != nil {
		t.Fatal(err)
	}
	st, body := e.srv.signedJSON(t, e.srv.root(), "eks", http.MethodPost, "/cluster-registrations", map[string]any{
		"name": externalCluster, "oidcIssuerUrl": externalIssuer, "jwks": string(jwks),
	})
	if st != http.StatusOK {
		t.Fatalf("RegisterCluster: HTTP %d %s", st, body)
	}
}

// token returns a service-account token for p living ttl: minted by podid
// for a hosted cluster (ttl 0: its default), or signed by the test as the
// external cluster's API server would.
func (e *agentEnv) token(t *testing.T, p pod, ttl time.Duration) string {
	t.Helper()
	if e.issuer == nil {
		req := map[string]any{"namespace": p.Namespace, "serviceAccount": p.ServiceAccount, "podName": p.Name, "podUid": p.UID, "nodeName": "ip-10-42-0-17.us-west-2.compute.internal"}
		if ttl > 0 {
			req["expirationSeconds"] = int64(ttl / time.Second)
		}
		st, body := e.srv.signedJSON(t, e.srv.root(), "eks", http.MethodPost, "/podid/v1/clusters/"+e.cluster+"/tokens", req)
		var out struct {
			Token string `json:"token"`
		}
		if st != http.StatusOK || json.Unmarshal(body, &out) != nil || out.Token == "" {
			t.Fatalf("minting a pod token: HTTP %d %s", st, body)
		}
		return out.Token
	}
	now := time.Now()
	claims := map[string]any{
		"aud": []string{"pods.eks.amazonaws.com"}, "iss": externalIssuer,
		"sub": "system:serviceaccount:" + p.Namespace + ":" + p.ServiceAccount,
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(ttl).Unix(), "jti": newUUID(),
		"kubernetes.io": map[string]any{
			"namespace":      p.Namespace,
			"pod":            map[string]string{"name": p.Name, "uid": p.UID},
			"serviceaccount": map[string]string{"name": p.ServiceAccount, "uid": "5b2f6d1e-0c3a-4d8e-9f1a-2b3c4d5e6f70"},
			"node":           map[string]string{"name": "worker-1", "uid": "0d7c3b2a-1e4f-4a5b-8c6d-7e8f9a0b1c2d"},
		},
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: e.issuer, KeyID: "onprem-1"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// writeToken writes a projected token file as kubelet does: replaced
// atomically, no trailing newline.
func writeToken(t *testing.T, path, token string) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(token), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// agentCreds is the agent's credentials answer.
type agentCreds struct {
	AccessKeyID     string `json:"AccessKeyId"`
	SecretAccessKey string `json:"SecretAccessKey"`
	Token           string `json:"Token"`
	AccountID       string `json:"AccountId"`
	Expiration      string `json:"Expiration"`
}

// fetchErr calls the agent as an SDK does (GET FULL_URI, the token as the
// raw Authorization header) from inside the namespace.
func (e *agentEnv) fetchErr(token string) (int, http.Header, string, error) {
	req, err := http.NewRequest(http.MethodGet, agentURL, nil)
	if err != nil {
		return 0, nil, "", err
	}
	if token != "" {
		req.Header.Set("Authorization", token)
	}
	resp, err := e.http.Do(req)
	if err != nil {
		return 0, nil, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b), err
}

// fetch is fetchErr that fails the test on a transport error.
func (e *agentEnv) fetch(t *testing.T, token string) (int, http.Header, string) {
	t.Helper()
	st, h, body, err := e.fetchErr(token)
	if err != nil {
		t.Fatalf("GET %s: %v", agentURL, err)
	}
	return st, h, body
}

// creds fetches credentials and fails the test unless the agent serves
// them.
func (e *agentEnv) creds(t *testing.T, token string) agentCreds {
	t.Helper()
	st, h, body := e.fetch(t, token)
	if st != http.StatusOK {
		t.Fatalf("agent answered %d (%s): %s", st, h.Get("Content-Type"), body)
	}
	// A 200's body holds secrets: it is never printed.
	if ct := h.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("agent answered 200 with Content-Type %q, want application/json", ct)
	}
	var c agentCreds
	if err := json.Unmarshal([]byte(body), &c); err != nil || c.AccessKeyID == "" || c.SecretAccessKey == "" || c.Token == "" {
		t.Fatalf("agent's 200 answer (%d bytes) is not credentials: %v", len(body), err)
	}
	if c.AccountID != e.srv.AccountID {
		t.Errorf("AccountId = %q, want %q", c.AccountID, e.srv.AccountID)
	}
	if exp, err := time.Parse(time.RFC3339, c.Expiration); err != nil || !strings.HasSuffix(c.Expiration, "Z") || time.Until(exp) < 5*time.Hour {
		t.Errorf("Expiration = %q (%v), want RFC 3339 UTC about 6 h ahead", c.Expiration, err)
	}
	return c
}

// callerARN asks podid's STS (from the test's namespace) whom c is.
func (e *agentEnv) callerARN(t *testing.T, c agentCreds) string {
	t.Helper()
	client := sts.NewFromConfig(aws.Config{Region: e.srv.Region, BaseEndpoint: aws.String(e.srv.URL),
		Credentials: credentials.NewStaticCredentialsProvider(c.AccessKeyID, c.SecretAccessKey, c.Token)})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := client.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatalf("GetCallerIdentity with the agent's credentials: %v", err)
	}
	return aws.ToString(out.Arn)
}

// metrics scrapes the agent's /metrics: sample ("name{labels}") → value.
func (e *agentEnv) metrics() (map[string]float64, error) {
	resp, err := e.http.Get(agentMetrics + "/metrics")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("/metrics: HTTP %d", resp.StatusCode)
	}
	m := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			return nil, fmt.Errorf("/metrics line %q: %w", line, err)
		}
		m[line[:i]] = v
	}
	return m, sc.Err()
}

// metric returns one sample (0 when absent, as for a counter not yet
// incremented).
func (e *agentEnv) metric(t *testing.T, sample string) float64 {
	t.Helper()
	m, err := e.metrics()
	if err != nil {
		t.Fatalf("scraping the agent: %v", err)
	}
	return m[sample]
}

// waitMetric polls a sample until ok holds; it returns how long that took.
func (e *agentEnv) waitMetric(t *testing.T, sample string, d time.Duration, ok func(float64) bool) time.Duration {
	t.Helper()
	return e.waitFor(t, sample, d, func() (bool, string) {
		m, err := e.metrics()
		if err != nil {
			return false, err.Error()
		}
		return ok(m[sample]), fmt.Sprint(m[sample])
	})
}

// waitFor polls cond until it holds or d passes; it returns how long it
// took.
func (e *agentEnv) waitFor(t *testing.T, what string, d time.Duration, cond func() (bool, string)) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		ok, last := cond()
		if ok {
			return time.Since(start)
		}
		if time.Since(start) > d {
			t.Fatalf("waited %v for %s; last: %s", d, what, last)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// clientEnv is a pod's environment as EKS Pod Identity's webhook and the
// workshop set it: the agent's URI and the token file, a region, podid's
// endpoint, and no other credentials anywhere.
func (e *agentEnv) clientEnv(tokenFile string) []string {
	env := []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + os.Getenv("HOME"),
		"AWS_CONTAINER_CREDENTIALS_FULL_URI=" + agentURL,
		"AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE=" + tokenFile,
		"AWS_REGION=" + e.srv.Region,
		"AWS_DEFAULT_REGION=" + e.srv.Region,
		"AWS_ENDPOINT_URL=" + nsEndpoint,
		"AWS_CONFIG_FILE=/dev/null",
		"AWS_SHARED_CREDENTIALS_FILE=/dev/null",
		"AWS_EC2_METADATA_DISABLED=true",
		"AWS_PAGER=",
		"NODE_PATH=" + filepath.Join(npmDir(), "node_modules"),
	}
	for _, k := range []string{"PYENV_ROOT", "PYENV_VERSION", "PYTHONPATH"} {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	return env
}

// run runs a client program inside the namespace with the pod environment.
func (e *agentEnv) run(tokenFile, bin string, args ...string) (stdout, stderr string, err error) {
	return e.runEnv(e.clientEnv(tokenFile), bin, args...)
}

// runEnv runs a client program inside the namespace with env.
func (e *agentEnv) runEnv(env []string, bin string, args ...string) (stdout, stderr string, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", e.ns.name, bin}, args...)...)
	cmd.Env = env
	var o, se bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &se
	err = cmd.Run()
	return strings.TrimSpace(o.String()), se.String(), err
}

// mustRun is run that fails the test when the client fails.
func (e *agentEnv) mustRun(t *testing.T, tokenFile, bin string, args ...string) string {
	t.Helper()
	needFor(t, append([]string{bin}, args...)...)
	out, errOut, err := e.run(tokenFile, bin, args...)
	if err != nil {
		t.Fatalf("%s %s: %v\nstdout: %s\nstderr: %s", bin, strings.Join(args, " "), err, out, errOut)
	}
	return out
}

// The SDK clients, each unmodified and configured only by the environment.
const (
	// pyIdentity is boto3 calling STS.
	pyIdentity = `import boto3; print(boto3.client("sts").get_caller_identity()["Arn"])`
	// pyCredentials resolves boto3's credential chain and calls nothing.
	pyCredentials = `import boto3
c = boto3.Session().get_credentials()
print(c.get_frozen_credentials().access_key, c.method)`
)

var goClientOnce sync.Once

// goClient returns the Go SDK v2 client program (testdata/goclient, a
// module of its own), built once next to the podid binary.
func goClient(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(filepath.Dir(podidBin), "goclient")
	goClientOnce.Do(func() {
		cmd := exec.Command("go", "build", "-o", bin, ".")
		cmd.Dir = filepath.Join("testdata", "goclient")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Logf("building testdata/goclient: %v\n%s", err, out)
		}
	})
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("the Go SDK client was not built: %v", err)
	}
	return bin
}

var jsSDKOnce sync.Once

// jsClient returns the JS SDK v3 client program (testdata/js/client.js),
// installing its npm packages (testdata/js/package.json) into npmDir as
// scripts/install-deps.sh does when they are missing. The test fails,
// never skips, when they cannot be had.
func jsClient(t *testing.T) string {
	t.Helper()
	script, err := filepath.Abs("testdata/js/client.js")
	if err != nil {
		t.Fatal(err)
	}
	var pkg struct {
		Dependencies map[string]string `json:"dependencies"`
	}
	raw, err := os.ReadFile("testdata/js/package.json")
	if err != nil || json.Unmarshal(raw, &pkg) != nil || len(pkg.Dependencies) == 0 {
		t.Fatalf("testdata/js/package.json: %v", err)
	}
	installed := func() error {
		for name, version := range pkg.Dependencies {
			raw, err := os.ReadFile(filepath.Join(npmDir(), "node_modules", name, "package.json"))
			if err != nil {
				return err
			}
			var p struct {
				Version string `json:"version"`
			}
			if json.Unmarshal(raw, &p) != nil || p.Version != version {
				return fmt.Errorf("%s is %q, want %s", name, p.Version, version)
			}
		}
		return nil
	}
	jsSDKOnce.Do(func() {
		if installed() == nil || toolNPM.Missing() != nil {
			return
		}
		args := []string{"install", "--prefix", npmDir(), "--no-audit", "--no-fund", "--loglevel=error"}
		for name, version := range pkg.Dependencies {
			args = append(args, name+"@"+version)
		}
		if out, err := exec.Command("npm", args...).CombinedOutput(); err != nil {
			t.Logf("npm %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	})
	need(t, toolNode, tool{Name: "the JS SDK v3 in " + npmDir(), Install: installDeps, Missing: installed})
	return script
}
