package sts_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/podid/podid/internal/app"
	"github.com/podid/podid/internal/cputime"
)

// httpEnv is a whole podid server (app.New: edge, SigV4, IAM, STS,
// SQLite) called in process through its handler, on a frozen clock so
// that a request signed once stays valid.
type httpEnv struct {
	app  *app.App
	now  time.Time
	root aws.Credentials
}

func newHTTPEnv(b *testing.B) *httpEnv {
	b.Helper()
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	a, err := app.New(context.Background(), app.Config{DataDir: b.TempDir(), Now: func() time.Time { return now },
		AccountID: "123456789012", Region: "us-west-2", PublicURL: "http://127.0.0.1:8080", Getenv: func(string) string { return "" }})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { a.Close() })
	secret, err := a.RootSecret(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	return &httpEnv{app: a, now: now, root: aws.Credentials{AccessKeyID: a.RootAccessKeyID, SecretAccessKey: secret}}
}

// signed returns an awsQuery POST for service signed with creds.
func (e *httpEnv) signed(b *testing.B, creds aws.Credentials, service string, params url.Values) (*http.Request, []byte) {
	b.Helper()
	body := []byte(params.Encode())
	req, _ := http.NewRequest(http.MethodPost, "http://"+service+".amazonaws.com/", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	sum := sha256.Sum256(body)
	region := "us-west-2"
	if service == "iam" {
		region = "us-east-1"
	}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, hex.EncodeToString(sum[:]), service, region, e.now); err != nil {
		b.Fatal(err)
	}
	return req, body
}

// call sends the request through the handler and decodes the answer.
func (e *httpEnv) call(b *testing.B, creds aws.Credentials, service string, params url.Values, out any) {
	b.Helper()
	req, body := e.signed(b, creds, service, params)
	r := httptest.NewRequest(http.MethodPost, req.URL.String(), bytes.NewReader(body))
	r.Header = req.Header
	w := httptest.NewRecorder()
	e.app.Handler.ServeHTTP(w, r)
	if w.Code != http.StatusOK {
		b.Fatalf("%s %s: HTTP %d %s", service, params.Get("Action"), w.Code, w.Body.String())
	}
	if out != nil {
		if err := xml.Unmarshal(w.Body.Bytes(), out); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAssumeRoleHTTP is AssumeRole end to end as a client sends it:
// an IAM user's SigV4-signed awsQuery POST through the server's handler
// (body limit, SigV4 verification with the key's secret from the store,
// routing, form parsing, the user's identity policy and the role's trust
// policy, session minting, XML encoding), in process without a socket.
// The role is the workshop's shape: its trust allows the account and six
// session tags are passed, as EKS Auth's STS hop does.
func BenchmarkAssumeRoleHTTP(b *testing.B) {
	e := newHTTPEnv(b)
	e.call(b, e.root, "iam", url.Values{"Action": {"CreateRole"}, "Version": {"2010-05-08"}, "RoleName": {"carts"},
		"AssumeRolePolicyDocument": {`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:root"},"Action":["sts:AssumeRole","sts:TagSession"]}]}`}}, nil)
	e.call(b, e.root, "iam", url.Values{"Action": {"CreateUser"}, "Version": {"2010-05-08"}, "UserName": {"app"}}, nil)
	e.call(b, e.root, "iam", url.Values{"Action": {"PutUserPolicy"}, "Version": {"2010-05-08"}, "UserName": {"app"}, "PolicyName": {"assume"},
		"PolicyDocument": {`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["sts:AssumeRole","sts:TagSession"],"Resource":"arn:aws:iam::123456789012:role/carts"}]}`}}, nil)
	var key struct {
		ID     string `xml:"CreateAccessKeyResult>AccessKey>AccessKeyId"`
		Secret string `xml:"CreateAccessKeyResult>AccessKey>SecretAccessKey"`
	}
	e.call(b, e.root, "iam", url.Values{"Action": {"CreateAccessKey"}, "Version": {"2010-05-08"}, "UserName": {"app"}}, &key)
	params := url.Values{"Action": {"AssumeRole"}, "Version": {"2011-06-15"}, "RoleArn": {"arn:aws:iam::123456789012:role/carts"}, "RoleSessionName": {"bench"}}
	for i, kv := range [][2]string{{"eks-cluster-arn", "arn:aws:eks:us-west-2:123456789012:cluster/eks-workshop"}, {"eks-cluster-name", "eks-workshop"},
		{"kubernetes-namespace", "carts"}, {"kubernetes-service-account", "carts"}, {"kubernetes-pod-name", "carts-7c9d8b6d4-x2x8p"}, {"kubernetes-pod-uid", "6f0c3a1e-5b7d-4c2a-9e8f-0a1b2c3d4e5f"}} {
		n := string(rune('1' + i))
		params.Set("Tags.member."+n+".Key", kv[0])
		params.Set("Tags.member."+n+".Value", kv[1])
	}
	req, body := e.signed(b, aws.Credentials{AccessKeyID: key.ID, SecretAccessKey: key.Secret}, "sts", params)
	serve := func() int {
		r := httptest.NewRequest(http.MethodPost, req.URL.String(), bytes.NewReader(body))
		r.Header = req.Header.Clone()
		w := &statusWriter{h: http.Header{}}
		e.app.Handler.ServeHTTP(w, r)
		return w.status
	}
	if st := serve(); st != http.StatusOK {
		w := httptest.NewRecorder()
		r := httptest.NewRequest(http.MethodPost, req.URL.String(), bytes.NewReader(body))
		r.Header = req.Header.Clone()
		e.app.Handler.ServeHTTP(w, r)
		b.Fatalf("AssumeRole: HTTP %d %s", st, strings.TrimSpace(w.Body.String()))
	}
	b.ReportAllocs()
	cpu := cputime.Start()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if st := serve(); st != http.StatusOK {
				b.Fatalf("HTTP %d", st)
			}
		}
	})
	b.StopTimer()
	cpu.Report(b)
}

// statusWriter is a ResponseWriter that keeps only the status.
type statusWriter struct {
	h      http.Header
	status int
}

func (s *statusWriter) Header() http.Header { return s.h }
func (s *statusWriter) Write(p []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return len(p), nil
}
func (s *statusWriter) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
}

var _ io.Writer = (*statusWriter)(nil)
