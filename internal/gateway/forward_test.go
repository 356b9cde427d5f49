package gateway

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/podid/podid/internal/awsproto"
)

// TestStreamingResponse: the first bytes of a large object reach the
// client while the upstream is still sending (nothing is buffered).
func TestStreamingResponse(t *testing.T) {
	h := newHarness(t)
	pod, _ := h.role("assets", assetsDoc, podTags("carts", "assets"))
	release := make(chan struct{})
	h.s3.handle = func(w http.ResponseWriter, r *http.Request, _ []byte) {
		w.Write(bytes.Repeat([]byte("a"), 1000))
		w.(http.Flusher).Flush()
		<-release
		w.Write([]byte("end"))
	}
	resp := h.s3Call(pod, "GET", "/assets/carts/big", nil, nil)
	first := make([]byte, 1000)
	done := make(chan error, 1)
	go func() {
		_, err := io.ReadFull(resp.Body, first)
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(20 * time.Second):
		close(release)
		t.Fatal("the first kilobyte did not arrive before the upstream finished: the response is buffered")
	}
	close(release)
	rest, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(rest) != "end" {
		t.Errorf("rest = %q", rest)
	}
}

// TestStreamingRequest: an UNSIGNED-PAYLOAD upload reaches the upstream
// while the client is still sending it.
func TestStreamingRequest(t *testing.T) {
	h := newHarness(t)
	pod, _ := h.role("assets", assetsDoc, podTags("carts", "assets"))
	got := make(chan []byte, 1)
	h.s3.handle = func(w http.ResponseWriter, r *http.Request, _ []byte) {
		first := make([]byte, 5)
		io.ReadFull(r.Body, first)
		got <- first
		rest, _ := io.ReadAll(r.Body)
		w.Write(rest)
	}
	pr, pw := io.Pipe()
	req, _ := http.NewRequest("PUT", h.srv.URL+"/assets/carts/stream.bin", pr)
	req.ContentLength = 10
	req.Header.Set("X-Amz-Content-Sha256", awsproto.UnsignedPayload)
	req.Header.Set("X-Amz-Server-Side-Encryption", "AES256")
	if err := v4.NewSigner().SignHTTP(context.Background(), pod, req, awsproto.UnsignedPayload, "s3", region, h.env.Clock.Now(),
		func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true }); err != nil {
		t.Fatal(err)
	}
	respc := make(chan *http.Response, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Error(err)
		}
		respc <- resp
	}()
	pw.Write([]byte("first"))
	select {
	case b := <-got:
		if string(b) != "first" {
			t.Errorf("upstream read %q", b)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the upstream did not get the first bytes while the client was still sending")
	}
	pw.Write([]byte("-last"))
	pw.Close()
	resp := <-respc
	if resp == nil {
		return
	}
	if body := readAll(t, resp); resp.StatusCode != 200 || body != "-last" {
		t.Errorf("HTTP %d %q", resp.StatusCode, body)
	}
}

// TestUpstreamFailures: an upstream that is down, or that does not answer
// in time, gives a clear error in the service's format.
func TestUpstreamFailures(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + l.Addr().String()
	l.Close()
	h := newHarness(t, func(c *Config) {
		c.DynamoDB.URL = closed
		c.S3.Timeout = 100 * time.Millisecond
	})
	root := h.root()
	resp := h.ddbCall(root, "ListTables", `{}`)
	body := readAll(t, resp)
	want := `{"__type":"com.amazon.coral.availability#ServiceUnavailableException","message":"podid gateway: the DynamoDB upstream at ` + closed + ` is unreachable: `
	if resp.StatusCode != 503 || !strings.HasPrefix(body, want) || !strings.Contains(body, "connection refused") {
		t.Errorf("down: HTTP %d %s", resp.StatusCode, body)
	}

	// A decision that needs the key schema is not made without it.
	pod, _ := h.role("leading", leadingDoc, podTags("carts", "leading"))
	resp = h.ddbCall(pod, "PutItem", `{"TableName":"orders","Item":{"pk":{"S":"carts"},"sk":{"S":"1"}}}`)
	body = readAll(t, resp)
	if resp.StatusCode != 503 || !strings.HasPrefix(body, want) {
		t.Errorf("schema look-up down: HTTP %d %s", resp.StatusCode, body)
	}
	if n := len(h.audit.records()); n != 1 {
		t.Errorf("%d audit records, want 1 (the root's ListTables; no decision without the schema)", n)
	}

	block := make(chan struct{})
	t.Cleanup(func() { close(block) })
	h.s3.handle = func(w http.ResponseWriter, r *http.Request, _ []byte) { <-block }
	resp = h.s3Call(root, "GET", "/bkt/k", nil, nil)
	body = readAll(t, resp)
	if resp.StatusCode != 504 || !strings.Contains(body, "<Code>ServiceUnavailable</Code><Message>podid gateway: the S3 upstream at "+h.s3.srv.URL+" did not answer within 100ms</Message>") {
		t.Errorf("timeout: HTTP %d %s", resp.StatusCode, body)
	}
}

// TestForwardedHeaders: hop-by-hop headers, the client's signature and
// its token stay behind; the rest goes through, signed by the gateway.
func TestForwardedHeaders(t *testing.T) {
	h := newHarness(t)
	carts, _ := h.role("carts", workshopDoc, podTags("carts", "carts"))
	body := `{"TableName":"carts","Key":{"id":{"S":"c1"}}}`
	req, _ := http.NewRequest(http.MethodPost, h.srv.URL+"/", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/x-amz-json-1.0")
	req.Header.Set("X-Amz-Target", ddbTargetPrefix+"GetItem")
	req.Header.Set("X-Test-Client", "1")
	req.Header.Set("Connection", "X-Hop")
	req.Header.Set("X-Hop", "1")
	req.Header.Set("X-Forwarded-For", "10.1.2.3")
	req.Header.Set("Amz-Sdk-Invocation-Id", "inv-1")
	sum := sha256.Sum256([]byte(body))
	if err := v4.NewSigner().SignHTTP(context.Background(), carts, req, hex.EncodeToString(sum[:]), "dynamodb", region, h.env.Clock.Now()); err != nil {
		t.Fatal(err)
	}
	resp := h.do(req)
	if readAll(t, resp); resp.StatusCode != 200 {
		t.Fatalf("HTTP %d", resp.StatusCode)
	}
	reqs := h.ddb.requests()
	up := reqs[len(reqs)-1]
	for _, k := range []string{"X-Hop", "X-Forwarded-For", "X-Amz-Security-Token"} {
		if v := up.Header.Get(k); v != "" {
			t.Errorf("upstream got %s: %q", k, v)
		}
	}
	if up.Header.Get("Amz-Sdk-Invocation-Id") != "inv-1" || up.Header.Get("X-Amz-Target") != ddbTargetPrefix+"GetItem" || string(up.Body) != body {
		t.Errorf("upstream request: %+v", up)
	}
	if a := up.Header.Get("Authorization"); !strings.HasPrefix(a, "AWS4-HMAC-SHA256 Credential="+upstreamKey+"/20260102/us-west-2/dynamodb/aws4_request") {
		t.Errorf("upstream Authorization = %q", a)
	}
}

func TestStripPresign(t *testing.T) {
	for in, want := range map[string]string{
		"":                                 "",
		"uploads":                          "uploads",
		"X-Amz-Signature=abc&partNumber=1": "partNumber=1",
		"a=1&X-Amz-Credential=K%2F1&X-Amz-Date=x&b=%20": "a=1&b=%20",
		"X%2DAmz%2DExpires=5&versionId=3":               "versionId=3",
		"x-amz-checksum-mode=ENABLED":                   "x-amz-checksum-mode=ENABLED",
	} {
		if got := stripPresign(in); got != want {
			t.Errorf("stripPresign(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestNewValidatesUpstreams(t *testing.T) {
	h := newHarness(t)
	base := h.gw.cfg
	for name, mutate := range map[string]func(*Config){
		"no verifier": func(c *Config) { c.Verifier = nil },
		"no upstream": func(c *Config) { c.DynamoDB, c.S3 = nil, nil },
		"bad URL": func(c *Config) {
			c.DynamoDB = &Upstream{URL: "ftp://x", Credentials: Credentials{AccessKeyID: "a", SecretAccessKey: "b"}}
		},
		"query in URL": func(c *Config) {
			c.S3 = &Upstream{URL: "http://x/?a=1", Credentials: Credentials{AccessKeyID: "a", SecretAccessKey: "b"}}
		},
		"no secret":     func(c *Config) { c.S3 = &Upstream{URL: "http://x"} },
		"no account ID": func(c *Config) { c.AccountID = "" },
	} {
		cfg := base
		cfg.DynamoDB = &Upstream{URL: "http://127.0.0.1:1", Credentials: Credentials{AccessKeyID: "a", SecretAccessKey: "b"}}
		cfg.S3 = nil
		mutate(&cfg)
		if _, err := New(cfg); err == nil {
			t.Errorf("%s: New accepted the configuration", name)
		}
	}
}
