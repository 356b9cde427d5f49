package gateway

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/podid/podid/internal/auth"
	"github.com/podid/podid/internal/auth/authtest"
	"github.com/podid/podid/internal/awsproto"
	"github.com/podid/podid/internal/store"
)

const (
	region  = "us-west-2"
	account = authtest.Account
	// upstreamKey signs forwarded requests in the tests.
	upstreamKey    = "UPSTREAMKEY"
	upstreamSecret = "upstream-secret"
)

// staticLookup resolves only the upstream's key: the fake upstreams verify
// the gateway's re-signed requests with it.
type staticLookup struct{}

func (staticLookup) LookupSecret(_ context.Context, akid, _ string) (string, any, error) {
	if akid != upstreamKey {
		return "", nil, awsproto.InvalidClientTokenID()
	}
	return upstreamSecret, "upstream", nil
}

// seen is a request an upstream received.
type seen struct {
	Method, Path, RawQuery string
	Header                 http.Header
	Body                   []byte
}

// fakeUpstream records requests, verifies that the gateway signed them
// with the upstream's key (S3's canonical form for S3) and answers with
// handle.
type fakeUpstream struct {
	t      testing.TB
	srv    *httptest.Server
	s3     bool
	clock  func() time.Time
	handle func(w http.ResponseWriter, r *http.Request, body []byte)

	mu   sync.Mutex
	reqs []seen
}

func newFakeUpstream(t testing.TB, s3 bool, clock func() time.Time, handle func(w http.ResponseWriter, r *http.Request, body []byte)) *fakeUpstream {
	f := &fakeUpstream{t: t, s3: s3, clock: clock, handle: handle}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeUpstream) serve(w http.ResponseWriter, r *http.Request) {
	var body []byte
	streamed := f.s3 && r.Header.Get("X-Amz-Content-Sha256") == awsproto.UnsignedPayload
	if !streamed {
		body, _ = io.ReadAll(r.Body)
	}
	if r.Method == http.MethodGet && r.URL.Path == "/" && r.Header.Get("Authorization") == "" && r.URL.RawQuery == "" {
		// The gateway's readiness probe: refused, as real stores do.
		http.Error(w, "unsigned", http.StatusBadRequest)
		return
	}
	v := &awsproto.Verifier{Lookup: staticLookup{}, Now: f.clock}
	if _, err := v.Verify(r.Context(), r, body); err != nil {
		f.t.Errorf("upstream: the gateway's signature does not verify: %v", err)
		http.Error(w, "bad upstream signature", http.StatusForbidden)
		return
	}
	f.mu.Lock()
	f.reqs = append(f.reqs, seen{Method: r.Method, Path: r.URL.EscapedPath(), RawQuery: r.URL.RawQuery, Header: r.Header.Clone(), Body: body})
	f.mu.Unlock()
	f.handle(w, r, body)
}

// requests returns what the upstream received, less DescribeTable calls
// (the gateway's own schema look-ups).
func (f *fakeUpstream) requests() []seen {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []seen
	for _, s := range f.reqs {
		if s.Header.Get("X-Amz-Target") == ddbTargetPrefix+"DescribeTable" && s.Header.Get("X-Test-Client") == "" {
			continue
		}
		out = append(out, s)
	}
	return out
}

// describeCalls counts the gateway's DescribeTable look-ups.
func (f *fakeUpstream) describeCalls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, s := range f.reqs {
		if s.Header.Get("X-Amz-Target") == ddbTargetPrefix+"DescribeTable" && s.Header.Get("X-Test-Client") == "" {
			n++
		}
	}
	return n
}

// ddbTables are the fake DynamoDB's tables: carts (partition key id, index
// by customerId) and orders (partition pk, sort sk).
func fakeDynamoDB(w http.ResponseWriter, r *http.Request, body []byte) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	if r.Header.Get("X-Amz-Target") != ddbTargetPrefix+"DescribeTable" {
		w.Write([]byte(`{"upstream":true}`))
		return
	}
	var in struct{ TableName string }
	json.Unmarshal(body, &in)
	switch in.TableName {
	case "carts":
		w.Write([]byte(`{"Table":{"TableName":"carts","KeySchema":[{"AttributeName":"id","KeyType":"HASH"}],
			"GlobalSecondaryIndexes":[{"IndexName":"idx_global_customerId","KeySchema":[{"AttributeName":"customerId","KeyType":"HASH"}]}]}}`))
	case "orders":
		w.Write([]byte(`{"Table":{"TableName":"orders","KeySchema":[{"AttributeName":"sk","KeyType":"RANGE"},{"AttributeName":"pk","KeyType":"HASH"}],
			"LocalSecondaryIndexes":[{"IndexName":"by-date","KeySchema":[{"AttributeName":"pk","KeyType":"HASH"},{"AttributeName":"date","KeyType":"RANGE"}]}]}}`))
	default:
		w.WriteHeader(http.StatusBadRequest)
		w.Write([]byte(`{"__type":"com.amazonaws.dynamodb.v20120810#ResourceNotFoundException","message":"Requested resource not found"}`))
	}
}

// recordingAuditor keeps the records it receives.
type recordingAuditor struct {
	mu   sync.Mutex
	recs []*store.AuditRecord
}

func (a *recordingAuditor) Record(r *store.AuditRecord) {
	a.mu.Lock()
	a.recs = append(a.recs, r)
	a.mu.Unlock()
}

func (a *recordingAuditor) records() []*store.AuditRecord {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]*store.AuditRecord(nil), a.recs...)
}

// harness is a gateway over a real identity environment and fake
// upstreams.
type harness struct {
	t     testing.TB
	env   *authtest.Env
	ddb   *fakeUpstream
	s3    *fakeUpstream
	gw    *Gateway
	srv   *httptest.Server
	audit *recordingAuditor
}

type harnessOpt func(*Config)

func newHarness(t testing.TB, opts ...harnessOpt) *harness {
	env := authtest.New(t)
	h := &harness{t: t, env: env, audit: &recordingAuditor{}}
	h.ddb = newFakeUpstream(t, false, env.Clock.Now, fakeDynamoDB)
	h.s3 = newFakeUpstream(t, true, env.Clock.Now, func(w http.ResponseWriter, r *http.Request, body []byte) {
		w.Header().Set("ETag", `"etag"`)
		if r.Method == http.MethodGet {
			w.Write([]byte("object body"))
		}
	})
	cfg := Config{
		Verifier:   &awsproto.Verifier{Lookup: env.Resolver, Now: env.Clock.Now},
		Authorizer: env.Authorizer,
		DynamoDB:   &Upstream{URL: h.ddb.srv.URL, Credentials: Credentials{AccessKeyID: upstreamKey, SecretAccessKey: upstreamSecret}},
		S3:         &Upstream{URL: h.s3.srv.URL, Credentials: Credentials{AccessKeyID: upstreamKey, SecretAccessKey: upstreamSecret}},
		AccountID:  account,
		Region:     region,
		Audit:      h.audit,
		Now:        env.Clock.Now,
	}
	for _, o := range opts {
		o(&cfg)
	}
	gw, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(gw.Close)
	h.gw = gw
	h.srv = httptest.NewServer(gw)
	t.Cleanup(h.srv.Close)
	return h
}

// podTags are the session tags EKS Auth gives the carts pod.
func podTags(namespace, sa string) map[string]string {
	return map[string]string{
		"eks-cluster-arn": "arn:aws:eks:us-west-2:" + account + ":cluster/eks-workshop", "eks-cluster-name": "eks-workshop",
		"kubernetes-namespace": namespace, "kubernetes-service-account": sa,
		"kubernetes-pod-name": sa + "-pod", "kubernetes-pod-uid": "0b3c4d5e-0000-4000-8000-000000000001",
	}
}

// role creates a role with an inline policy and returns the credentials
// of a session of it carrying tags (and session policies).
func (h *harness) role(name, policyDoc string, tags map[string]string, sessionPolicies ...string) (aws.Credentials, *auth.Principal) {
	h.t.Helper()
	r := h.env.AddRole(h.t, name, "/", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"pods.eks.amazonaws.com"},"Action":["sts:AssumeRole","sts:TagSession"]}]}`, 0)
	if policyDoc != "" {
		h.env.PutInline(h.t, store.KindRole, name, "data", policyDoc)
	}
	now := h.env.Clock.Now()
	s := &auth.Session{RoleARN: r.ARN, RoleID: r.ID, RoleName: name, Type: auth.AssumedRole, SessionName: "eks-eks-worksh-" + name,
		Tags: tags, Policies: sessionPolicies, Issued: now, Expires: now.Add(time.Hour)}
	akid, secret, token, err := h.env.Minter.Mint(s)
	if err != nil {
		h.t.Fatal(err)
	}
	return aws.Credentials{AccessKeyID: akid, SecretAccessKey: secret, SessionToken: token}, auth.RoleSessionPrincipal("aws", account, akid, s)
}

// root returns the account root's long-term credentials.
func (h *harness) root() aws.Credentials {
	id, secret := h.env.AddAccessKey(h.t, "")
	return aws.Credentials{AccessKeyID: id, SecretAccessKey: secret}
}

// ddbCall sends a signed DynamoDB request through the gateway.
func (h *harness) ddbCall(c aws.Credentials, op, body string) *http.Response {
	h.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, h.srv.URL+"/", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/x-amz-json-1.0")
	req.Header.Set("X-Amz-Target", ddbTargetPrefix+op)
	req.Header.Set("X-Test-Client", "1")
	sum := sha256.Sum256([]byte(body))
	if err := v4.NewSigner().SignHTTP(context.Background(), c, req, hex.EncodeToString(sum[:]), "dynamodb", region, h.env.Clock.Now()); err != nil {
		h.t.Fatal(err)
	}
	return h.do(req)
}

// s3Call sends a signed S3 request (path style, payload hash in
// X-Amz-Content-Sha256 as S3 clients send it) through the gateway.
func (h *harness) s3Call(c aws.Credentials, method, pathAndQuery string, body []byte, hdr map[string]string) *http.Response {
	h.t.Helper()
	req, err := http.NewRequest(method, h.srv.URL+pathAndQuery, bytes.NewReader(body))
	if err != nil {
		h.t.Fatal(err)
	}
	if body == nil {
		req.Body = http.NoBody
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	hash := req.Header.Get("X-Amz-Content-Sha256")
	if hash == "" {
		sum := sha256.Sum256(body)
		hash = hex.EncodeToString(sum[:])
		req.Header.Set("X-Amz-Content-Sha256", hash)
	}
	if err := v4.NewSigner().SignHTTP(context.Background(), c, req, hash, "s3", region, h.env.Clock.Now(), func(o *v4.SignerOptions) {
		o.DisableURIPathEscaping = true
	}); err != nil {
		h.t.Fatal(err)
	}
	return h.do(req)
}

func (h *harness) do(req *http.Request) *http.Response {
	h.t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	return resp
}

// readAll reads and closes a response body.
func readAll(t testing.TB, resp *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
