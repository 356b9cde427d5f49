package agent

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

const (
	testCluster = "test-cluster"
	testRegion  = "us-west-2"
	testAKID    = "AKIDNODE"
	testSecret  = "node-secret"
)

var testNodeCreds = credentials.NewStaticCredentialsProvider(testAKID, testSecret, "")

// podToken builds an unsigned-looking service-account token for a pod; sig
// distinguishes tokens with the same claims (a forgery has a different one).
func podToken(ns, sa, podUID string, exp time.Time, sig string) string {
	payload := map[string]any{
		"aud": []string{"pods.eks.amazonaws.com"},
		"exp": exp.Unix(),
		"iat": exp.Add(-24 * time.Hour).Unix(),
		"nbf": exp.Add(-24 * time.Hour).Unix(),
		"iss": "https://oidc.example/id/TEST",
		"sub": "system:serviceaccount:" + ns + ":" + sa,
		"kubernetes.io": map[string]any{
			"namespace":      ns,
			"pod":            map[string]any{"name": "p-" + podUID, "uid": podUID},
			"serviceaccount": map[string]any{"name": sa, "uid": "sa-uid"},
		},
	}
	return jwt(map[string]any{"alg": "RS256", "kid": "k1"}, payload, sig)
}

func jwt(header, payload any, sig string) string {
	enc := func(v any) string {
		b, err := json.Marshal(v)
		if err != nil {
			panic(err)
		}
		return base64.RawURLEncoding.EncodeToString(b)
	}
	return enc(header) + "." + enc(payload) + "." + base64.RawURLEncoding.EncodeToString([]byte(sig))
}

// fakeEKSAuth is an EKS Auth stand-in on 127.0.0.1. It checks each
// request's SigV4 signature by re-signing it with the SDK signer, and
// answers with credentials unless a test scripts something else.
type fakeEKSAuth struct {
	t   testing.TB
	srv *httptest.Server

	calls     atomic.Int64
	badSigned atomic.Int64
	serial    atomic.Int64

	mu       sync.Mutex
	now      func() time.Time
	lifetime time.Duration
	gate     chan struct{} // if set, each call waits for it to be closed
	delay    time.Duration
	script   []fakeReply // consumed one per call before the default
	reject   map[string]fakeReply
	refuse   *fakeReply // if set, the answer to every token not otherwise scripted
	tokens   []string
	assocID  string
}

type fakeReply struct {
	status int
	code   string
	msg    string
	body   string // raw body overriding everything else
}

func newFakeEKSAuth(t testing.TB) *fakeEKSAuth {
	f := &fakeEKSAuth{t: t, now: time.Now, lifetime: 6 * time.Hour, reject: map[string]fakeReply{}, assocID: "a-abcdefghijklmnop1"}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeEKSAuth) serve(w http.ResponseWriter, r *http.Request) {
	f.calls.Add(1)
	body, _ := io.ReadAll(r.Body)
	if !f.signatureOK(r, body) {
		f.badSigned.Add(1)
	}
	f.mu.Lock()
	gate, delay := f.gate, f.delay
	var rep *fakeReply
	if len(f.script) > 0 {
		rep = &f.script[0]
		f.script = f.script[1:]
	}
	var req struct {
		Token string `json:"token"`
	}
	_ = json.Unmarshal(body, &req)
	f.tokens = append(f.tokens, req.Token)
	if rj, ok := f.reject[req.Token]; ok && rep == nil {
		rep = &rj
	}
	if rep == nil && f.refuse != nil {
		rep = f.refuse
	}
	now, life, assoc := f.now(), f.lifetime, f.assocID
	f.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-r.Context().Done():
			return
		}
	}
	if delay > 0 {
		select {
		case <-time.After(delay):
		case <-r.Context().Done():
			return
		}
	}
	w.Header().Set("x-amzn-RequestId", "req-1")
	if rep != nil {
		if rep.body != "" {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(rep.status)
			io.WriteString(w, rep.body)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("x-amzn-ErrorType", rep.code)
		w.WriteHeader(rep.status)
		json.NewEncoder(w).Encode(map[string]string{"__type": rep.code, "message": rep.msg})
		return
	}
	cl, err := parseToken(req.Token)
	if err != nil {
		w.Header().Set("x-amzn-ErrorType", "InvalidTokenException")
		w.WriteHeader(400)
		io.WriteString(w, `{"message":"The specified Kubernetes service account token is invalid."}`)
		return
	}
	n := f.serial.Add(1)
	out := map[string]any{
		"subject":  map[string]string{"namespace": cl.Namespace, "serviceAccount": cl.ServiceAccount},
		"audience": "pods.eks.amazonaws.com",
		"podIdentityAssociation": map[string]string{
			"associationArn": "arn:aws:eks:us-west-2:111122223333:podidentityassociation/" + testCluster + "/" + assoc,
			"associationId":  assoc,
		},
		"assumedRoleUser": map[string]string{
			"arn":          "arn:aws:sts::111122223333:assumed-role/r/eks-test-" + cl.PodUID,
			"assumeRoleId": "AROAEXAMPLE:eks-test",
		},
		"credentials": map[string]any{
			"accessKeyId":     fmt.Sprintf("ASIA%016d", n),
			"secretAccessKey": "secret-" + cl.PodUID,
			"sessionToken":    "session-" + cl.PodUID,
			"expiration":      float64(now.Add(life).UnixMilli()) / 1000,
		},
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(out)
}

// signatureOK re-signs a copy of the request with the node credentials at
// the request's own time and compares the Authorization headers.
func (f *fakeEKSAuth) signatureOK(r *http.Request, body []byte) bool {
	auth := r.Header.Get("Authorization")
	if !strings.Contains(auth, "/"+testRegion+"/eks-auth/aws4_request") {
		return false
	}
	when, err := time.Parse("20060102T150405Z", r.Header.Get("X-Amz-Date"))
	if err != nil {
		return false
	}
	c := r.Clone(context.Background())
	c.Header.Del("Authorization")
	c.URL.Scheme, c.URL.Host = "http", r.Host
	c.Header.Del("X-Amz-Date")
	c.Header.Del("Accept-Encoding")
	c.Header.Del("Content-Length")
	sum := sha256Hex(body)
	creds, _ := testNodeCreds.Retrieve(context.Background())
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, c, sum, "eks-auth", testRegion, when); err != nil {
		return false
	}
	return c.Header.Get("Authorization") == auth
}

func (f *fakeEKSAuth) set(fn func(f *fakeEKSAuth)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

func (f *fakeEKSAuth) seenTokens() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.tokens...)
}

// testConfig returns a Config pointing at f, serving on 127.0.0.1.
func testConfig(f *fakeEKSAuth) Config {
	return Config{
		ClusterName:  testCluster,
		BindHosts:    []string{"127.0.0.1"},
		Endpoint:     f.srv.URL,
		Region:       testRegion,
		Credentials:  testNodeCreds,
		MaxRetention: DefaultMaxRetention,
		Logger:       slog.New(slog.DiscardHandler),
		DrainDelay:   -1,
	}
}

func newTestAgent(t testing.TB, f *fakeEKSAuth, mod ...func(*Config)) *Agent {
	t.Helper()
	cfg := testConfig(f)
	for _, m := range mod {
		m(&cfg)
	}
	a, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return a
}

// get calls the agent's handler in-process with the given token.
func get(a *Agent, host, token string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(http.MethodGet, "http://169.254.170.23/v1/credentials", nil)
	r.Host = host
	if token != "" {
		r.Header.Set("Authorization", token)
	}
	w := httptest.NewRecorder()
	a.ServeHTTP(w, r)
	return w
}

// assumeFunc adapts a function to the assumer interface for cache tests
// that run on a fake clock.
type assumeFunc func(ctx context.Context, token string, kind callKind) (*assumeResult, error)

func (f assumeFunc) assume(ctx context.Context, token string, kind callKind) (*assumeResult, error) {
	return f(ctx, token, kind)
}

// waitFor polls cond until it holds or the test times out.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

var _ aws.CredentialsProvider = testNodeCreds

// counterValue reads a counter or gauge.
func counterValue(c prometheus.Collector) float64 {
	ch := make(chan prometheus.Metric, 1)
	c.Collect(ch)
	var d dto.Metric
	if err := (<-ch).Write(&d); err != nil {
		panic(err)
	}
	if d.Counter != nil {
		return d.Counter.GetValue()
	}
	return d.Gauge.GetValue()
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}
