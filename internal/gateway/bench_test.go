package gateway

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/podid/podid/internal/auth/authtest"
	"github.com/podid/podid/internal/awsproto"
	"github.com/podid/podid/internal/cputime"
	"github.com/podid/podid/internal/store"
)

// memTransport is an upstream in memory: it drains the request and
// answers 200 with a small DynamoDB-like body (or the key schema for
// DescribeTable), so that a benchmark measures the gateway alone.
type memTransport struct{}

var (
	memBody     = []byte(`{"Item":{"id":{"S":"cart-1"}}}`)
	memDescribe = []byte(`{"Table":{"KeySchema":[{"AttributeName":"id","KeyType":"HASH"}],"GlobalSecondaryIndexes":[{"IndexName":"idx_global_customerId","KeySchema":[{"AttributeName":"customerId","KeyType":"HASH"}]}]}}`)
)

func (memTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		io.Copy(io.Discard, r.Body)
		r.Body.Close()
	}
	body := memBody
	if r.Header.Get("X-Amz-Target") == ddbTargetPrefix+"DescribeTable" {
		body = memDescribe
	}
	return &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {"application/x-amz-json-1.0"}},
		Body: io.NopCloser(bytes.NewReader(body)), ContentLength: int64(len(body)), Request: r}, nil
}

type discardAuditor struct{}

func (discardAuditor) Record(*store.AuditRecord) {}

// signedRequest is a request signed once; each iteration replays it as
// the server would hand it to the handler (the gateway does not modify
// request headers, so they are shared).
type signedRequest struct {
	method, target string
	header         http.Header
	body           []byte
	url            *url.URL
}

func (s *signedRequest) request() *http.Request {
	if s.url == nil {
		s.url, _ = url.ParseRequestURI(s.target)
	}
	u := *s.url
	return &http.Request{
		Method: s.method, URL: &u, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: s.header, Body: io.NopCloser(bytes.NewReader(s.body)), ContentLength: int64(len(s.body)),
		Host: "gateway.local", RemoteAddr: "127.0.0.1:40000", RequestURI: u.RequestURI(),
	}
}

func signDDB(b testing.TB, c aws.Credentials, now time.Time, op, body string) *signedRequest {
	req, _ := http.NewRequest(http.MethodPost, "http://gateway.local/", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/x-amz-json-1.0")
	req.Header.Set("X-Amz-Target", ddbTargetPrefix+op)
	req.Header.Set("User-Agent", "aws-cli/1.45.11 md/Botocore#1.43.11 botocore/1.43.11")
	sum := sha256.Sum256([]byte(body))
	if err := v4.NewSigner().SignHTTP(context.Background(), c, req, hex.EncodeToString(sum[:]), "dynamodb", region, now); err != nil {
		b.Fatal(err)
	}
	return &signedRequest{method: http.MethodPost, target: "/", header: req.Header, body: []byte(body)}
}

func signS3(b testing.TB, c aws.Credentials, now time.Time, method, path string, body []byte, hdr map[string]string) *signedRequest {
	req, _ := http.NewRequest(method, "http://gateway.local"+path, bytes.NewReader(body))
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	sum := sha256.Sum256(body)
	hash := hex.EncodeToString(sum[:])
	req.Header.Set("X-Amz-Content-Sha256", hash)
	if err := v4.NewSigner().SignHTTP(context.Background(), c, req, hash, "s3", region, now, func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true }); err != nil {
		b.Fatal(err)
	}
	return &signedRequest{method: method, target: path, header: req.Header, body: body}
}

// benchEnv is the workshop's carts pod against a gateway whose upstream
// lives in memory.
func benchEnv(b *testing.B, transport http.RoundTripper) (*Gateway, *authtest.Env, aws.Credentials) {
	env := authtest.New(b)
	h := &harness{t: b, env: env}
	creds, _ := h.role("carts", workshopDoc, podTags("carts", "carts"))
	env.PutInline(b, store.KindRole, "carts", "assets", assetsDoc)
	up := func() *Upstream {
		return &Upstream{URL: "http://upstream.local", Credentials: Credentials{AccessKeyID: upstreamKey, SecretAccessKey: upstreamSecret}}
	}
	gw, err := New(Config{
		Verifier:   &awsproto.Verifier{Lookup: env.Resolver, Now: env.Clock.Now},
		Authorizer: env.Authorizer, DynamoDB: up(), S3: up(), AccountID: account, Region: region,
		Audit: discardAuditor{}, Now: env.Clock.Now, Transport: transport,
	})
	if err != nil {
		b.Fatal(err)
	}
	return gw, env, creds
}

// BenchmarkGatewayOverhead is the gateway's own cost per request: SigV4
// verification (opening the pod's session token, no store read), mapping
// to IAM checks, the policy decision (cached policy set), the audit record
// and re-signing for the upstream, with the upstream in memory and no
// sockets.
func BenchmarkGatewayOverhead(b *testing.B) {
	gw, env, creds := benchEnv(b, memTransport{})
	now := env.Clock.Now()
	cases := []struct {
		name string
		req  *signedRequest
	}{
		{"dynamodb-GetItem", signDDB(b, creds, now, "GetItem", `{"TableName":"carts","Key":{"id":{"S":"cart-1"}}}`)},
		{"dynamodb-PutItem", signDDB(b, creds, now, "PutItem", `{"TableName":"carts","Item":{"id":{"S":"cart-1"},"customerId":{"S":"cust-1"},"items":{"L":[{"M":{"sku":{"S":"sock-1"},"qty":{"N":"2"}}}]},"total":{"N":"19.98"},"updated":{"S":"2026-01-02T03:04:05Z"}}}`)},
		{"dynamodb-Query-index", signDDB(b, creds, now, "Query", `{"TableName":"carts","IndexName":"idx_global_customerId","KeyConditionExpression":"customerId = :c","ExpressionAttributeValues":{":c":{"S":"cust-1"}}}`)},
		{"s3-GetObject", signS3(b, creds, now, "GET", "/assets/carts/logo.png", nil, nil)},
		{"s3-PutObject-1KiB", signS3(b, creds, now, "PUT", "/assets/carts/a.bin", bytes.Repeat([]byte("x"), 1024), map[string]string{"X-Amz-Server-Side-Encryption": "AES256"})},
	}
	for _, c := range cases {
		// The decision is checked once, so the benchmark never measures a
		// refusal.
		w := httptest.NewRecorder()
		gw.ServeHTTP(w, c.req.request())
		if w.Code != 200 {
			b.Fatalf("%s: HTTP %d %s", c.name, w.Code, w.Body.String())
		}
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			cpu := cputime.Start()
			for b.Loop() {
				w := httptest.NewRecorder()
				gw.ServeHTTP(w, c.req.request())
			}
			cpu.Report(b)
		})
	}
}

// BenchmarkGatewayVsDirect measures, in the same run and alternating call
// by call, a client's GetItem sent directly to an upstream and through
// the gateway, over loopback HTTP with keep-alive connections. It reports
// both latencies and their difference (the gateway's overhead including
// its extra HTTP hop). The client signs every request, as SDKs do.
func BenchmarkGatewayVsDirect(b *testing.B) {
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/x-amz-json-1.0")
		if r.Header.Get("X-Amz-Target") == ddbTargetPrefix+"DescribeTable" {
			w.Write(memDescribe)
			return
		}
		w.Write(memBody)
	}))
	defer upstream.Close()
	env := authtest.New(b)
	h := &harness{t: b, env: env}
	creds, _ := h.role("carts", workshopDoc, podTags("carts", "carts"))
	gw, err := New(Config{
		Verifier:   &awsproto.Verifier{Lookup: env.Resolver, Now: env.Clock.Now},
		Authorizer: env.Authorizer,
		DynamoDB:   &Upstream{URL: upstream.URL, Credentials: Credentials{AccessKeyID: upstreamKey, SecretAccessKey: upstreamSecret}},
		AccountID:  account, Region: region, Audit: discardAuditor{}, Now: env.Clock.Now,
	})
	if err != nil {
		b.Fatal(err)
	}
	defer gw.Close()
	gateway := httptest.NewServer(gw)
	defer gateway.Close()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
	body := []byte(`{"TableName":"carts","Key":{"id":{"S":"cart-1"}}}`)
	sum := sha256.Sum256(body)
	hash := hex.EncodeToString(sum[:])
	signer := v4.NewSigner()
	call := func(url string) {
		req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/x-amz-json-1.0")
		req.Header.Set("X-Amz-Target", ddbTargetPrefix+"GetItem")
		signer.SignHTTP(context.Background(), creds, req, hash, "dynamodb", region, env.Clock.Now())
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			b.Fatalf("HTTP %d from %s", resp.StatusCode, url)
		}
	}
	call(upstream.URL)
	call(gateway.URL)
	// Alternate blocks of direct and gateway calls, timing each block in
	// wall-clock and process CPU (client, gateway and upstream all run in
	// this process, so the CPU difference is what the gateway adds).
	const block = 32
	var direct, via, directCPU, viaCPU time.Duration
	calls := 0
	for b.Loop() {
		c0 := cputime.Process()
		t0 := time.Now()
		for range block {
			call(upstream.URL)
		}
		t1 := time.Now()
		c1 := cputime.Process()
		for range block {
			call(gateway.URL)
		}
		t2 := time.Now()
		c2 := cputime.Process()
		direct += t1.Sub(t0)
		via += t2.Sub(t1)
		directCPU += c1 - c0
		viaCPU += c2 - c1
		calls += block
	}
	per := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / float64(calls) }
	b.ReportMetric(per(direct), "direct-ns/call")
	b.ReportMetric(per(via), "gateway-ns/call")
	b.ReportMetric(per(via-direct), "overhead-ns/call")
	b.ReportMetric(per(directCPU), "direct-cpu-ns/call")
	b.ReportMetric(per(viaCPU), "gateway-cpu-ns/call")
	b.ReportMetric(per(viaCPU-directCPU), "overhead-cpu-ns/call")
}
