package server

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/podid/podid/internal/auth"
	"github.com/podid/podid/internal/awsproto"
)

const (
	testKey    = "AKIAEDGETESTKEY00001"
	testSecret = "edge-test-secret"
)

// lookup knows one access key, whose caller is an IAM user.
type lookup struct{}

func (lookup) LookupSecret(_ context.Context, akid, _ string) (string, any, error) {
	if akid != testKey {
		return "", nil, awsproto.Errorf(http.StatusForbidden, "InvalidClientTokenId", "The security token included in the request is invalid.")
	}
	return testSecret, &auth.Principal{Type: auth.User, AccountID: "123456789012", ARN: "arn:aws:iam::123456789012:user/edge", AccessKeyID: akid}, nil
}

// recorder is a query service or handler that records what reached it.
type recorder struct {
	name   string
	calls  []string
	caller []string // the principal's ARN, "" when unsigned
}

func (rec *recorder) HandleQuery(ctx context.Context, action string, _ awsproto.Params) (any, error) {
	rec.calls = append(rec.calls, action)
	rec.caller = append(rec.caller, arnOf(ctx))
	return struct{}{}, nil
}

func (rec *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rec.calls = append(rec.calls, r.Method+" "+r.URL.Path+" "+string(body))
	rec.caller = append(rec.caller, arnOf(r.Context()))
	w.Header().Set("Content-Type", "application/json")
	io.WriteString(w, `{}`)
}

func arnOf(ctx context.Context) string {
	if p := auth.PrincipalFrom(ctx); p != nil {
		return p.ARN
	}
	return ""
}

type edgeFixture struct {
	srv                    *httptest.Server
	iam, sts, eks, eksAuth *recorder
}

func newEdge(t *testing.T, maxBody int64) *edgeFixture {
	t.Helper()
	f := &edgeFixture{iam: &recorder{name: "iam"}, sts: &recorder{name: "sts"}, eks: &recorder{name: "eks"}, eksAuth: &recorder{name: "eks-auth"}}
	e := New(Config{
		Verifier: &awsproto.Verifier{Lookup: lookup{}},
		// The four services' registrations, with recorders as handlers.
		Services: awsproto.Services{
			{SigningName: "iam", Protocol: awsproto.ProtocolQuery, Global: true, Namespace: "https://iam.amazonaws.com/doc/2010-05-08/", Query: f.iam, Operations: []string{"GetUser", "ListRoles"}},
			{SigningName: "sts", Protocol: awsproto.ProtocolQuery, Global: true, Namespace: "https://sts.amazonaws.com/doc/2011-06-15/", Query: f.sts, Operations: []string{"GetCallerIdentity", "AssumeRoleWithWebIdentity"},
				UnsignedActions: []string{"AssumeRoleWithWebIdentity", "AssumeRoleWithSAML"}, UnsignedPaths: []string{"/{$}"}},
			{SigningName: "eks", Protocol: awsproto.ProtocolRestJSON, Handler: f.eks, Operations: []string{"ListClusters"}, UnsignedPaths: []string{"/"}},
			{SigningName: "eks-auth", Protocol: awsproto.ProtocolRestJSON, Handler: f.eksAuth, Operations: []string{"AssumeRoleForPodIdentity"}, UnsignedPaths: []string{"/clusters/{name}/assume-role-for-pod-identity"}},
		},
		Region:       "us-west-2",
		MaxBodyBytes: maxBody,
	})
	f.srv = httptest.NewServer(e)
	t.Cleanup(f.srv.Close)
	return f
}

// do sends a request, signed for service when service is not "".
func (f *edgeFixture) do(t *testing.T, service, method, path, contentType, body string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, f.srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if service != "" {
		sum := sha256.Sum256([]byte(body))
		region := "us-west-2"
		if service == "iam" {
			region = "us-east-1"
		}
		creds := aws.Credentials{AccessKeyID: testKey, SecretAccessKey: testSecret}
		if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, hex.EncodeToString(sum[:]), service, region, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b)
}

const form = "application/x-www-form-urlencoded; charset=utf-8"

var uuidRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

// TestRouting: signed requests go to the service of their credential
// scope with the caller in the context; unsigned ones by path, and only
// STS's web-identity actions may be unsigned. Every answer carries a
// request ID, the same in the header and in the body.
func TestRouting(t *testing.T) {
	f := newEdge(t, 0)
	const user = "arn:aws:iam::123456789012:user/edge"
	for _, tc := range []struct {
		name                       string
		service, method, path, ct  string
		body                       string
		status                     int
		to                         *recorder // nil: refused by the edge
		call, caller               string
		errCode, errType, errShape string // errShape: "xml" or "json"
	}{
		{name: "signed IAM", service: "iam", method: "POST", path: "/", ct: form, body: "Action=ListRoles&Version=2010-05-08",
			status: 200, to: f.iam, call: "ListRoles", caller: user},
		{name: "signed STS", service: "sts", method: "POST", path: "/", ct: form, body: "Action=GetCallerIdentity&Version=2011-06-15",
			status: 200, to: f.sts, call: "GetCallerIdentity", caller: user},
		{name: "signed STS with GET", service: "sts", method: "GET", path: "/?Action=GetCallerIdentity&Version=2011-06-15",
			status: 200, to: f.sts, call: "GetCallerIdentity", caller: user},
		{name: "signed EKS", service: "eks", method: "GET", path: "/clusters", status: 200, to: f.eks, call: "GET /clusters ", caller: user},
		{name: "signed EKS Auth", service: "eks-auth", method: "POST", path: "/clusters/c/assume-role-for-pod-identity", ct: "application/json", body: `{"token":"t"}`,
			status: 200, to: f.eksAuth, call: `POST /clusters/c/assume-role-for-pod-identity {"token":"t"}`, caller: user},
		{name: "unsigned web identity", method: "POST", path: "/", ct: form, body: "Action=AssumeRoleWithWebIdentity&Version=2011-06-15&RoleArn=x&RoleSessionName=s&WebIdentityToken=t",
			status: 200, to: f.sts, call: "AssumeRoleWithWebIdentity", caller: ""},
		{name: "unsigned GetCallerIdentity", method: "POST", path: "/", ct: form, body: "Action=GetCallerIdentity&Version=2011-06-15",
			status: 403, errCode: "MissingAuthenticationToken", errShape: "xml"},
		{name: "unsigned EKS", method: "GET", path: "/clusters", status: 403, errType: "MissingAuthenticationTokenException", errShape: "json"},
		{name: "unsigned EKS Auth", method: "POST", path: "/clusters/c/assume-role-for-pod-identity", ct: "application/json", body: `{"token":"t"}`,
			status: 403, errType: "MissingAuthenticationTokenException", errShape: "json"},
		{name: "service podid does not serve", service: "s3", method: "GET", path: "/bucket/key",
			status: 400, errType: "UnknownOperationException", errShape: "json"},
		{name: "awsQuery without a form body", service: "iam", method: "POST", path: "/", ct: "application/json", body: `{"Action":"ListRoles"}`,
			status: 400, errCode: "InvalidParameterValue", errShape: "xml"},
		{name: "awsQuery without an action", service: "iam", method: "POST", path: "/", ct: form, body: "Version=2010-05-08",
			status: 400, errCode: "MissingAction", errShape: "xml"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var before int
			if tc.to != nil {
				before = len(tc.to.calls)
			}
			total := len(f.iam.calls) + len(f.sts.calls) + len(f.eks.calls) + len(f.eksAuth.calls)
			resp, body := f.do(t, tc.service, tc.method, tc.path, tc.ct, tc.body)
			if resp.StatusCode != tc.status {
				t.Fatalf("HTTP %d, want %d: %s", resp.StatusCode, tc.status, body)
			}
			id := resp.Header.Get("x-amzn-RequestId")
			if !uuidRE.MatchString(id) {
				t.Errorf("x-amzn-RequestId = %q", id)
			}
			if tc.to != nil {
				if len(tc.to.calls) != before+1 || tc.to.calls[before] != tc.call || tc.to.caller[before] != tc.caller {
					t.Fatalf("%s got %q (callers %q), want %q from %q", tc.to.name, tc.to.calls[before:], tc.to.caller[before:], tc.call, tc.caller)
				}
				if tc.to == f.iam || tc.to == f.sts {
					if !strings.Contains(body, "<RequestId>"+id+"</RequestId>") {
						t.Errorf("body lacks the header's request ID %s:\n%s", id, body)
					}
				}
				return
			}
			if now := len(f.iam.calls) + len(f.sts.calls) + len(f.eks.calls) + len(f.eksAuth.calls); now != total {
				t.Fatal("a refused request reached a service")
			}
			switch tc.errShape {
			case "xml":
				if !strings.Contains(body, "<Code>"+tc.errCode+"</Code>") || !strings.Contains(body, "<RequestId>"+id+"</RequestId>") || !strings.Contains(body, "<Message>") {
					t.Errorf("XML error lacks code %s or request ID %s:\n%s", tc.errCode, id, body)
				}
			case "json":
				var e struct {
					Type    string `json:"__type"`
					Message string `json:"message"`
				}
				if err := json.Unmarshal([]byte(body), &e); err != nil || e.Type != tc.errType || e.Message == "" || resp.Header.Get("x-amzn-ErrorType") != tc.errType {
					t.Errorf("JSON error = %s (x-amzn-ErrorType %q), want type %s", body, resp.Header.Get("x-amzn-ErrorType"), tc.errType)
				}
			}
		})
	}
}

// TestBodyLimit: a body over the limit is refused with 413 before any
// service or signature check, whether its length is declared or not.
func TestBodyLimit(t *testing.T) {
	f := newEdge(t, 1024)
	big := "Action=ListRoles&Version=2010-05-08&Pad=" + strings.Repeat("x", 2048)
	resp, body := f.do(t, "iam", "POST", "/", form, big)
	if resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(body, "<Code>RequestEntityTooLarge</Code>") {
		t.Errorf("declared length: HTTP %d %s", resp.StatusCode, body)
	}
	// Chunked: no Content-Length, the limit is found while reading (the
	// unsigned web-identity route is the one whose body is read unsigned).
	req, err := http.NewRequest("POST", f.srv.URL+"/", io.MultiReader(strings.NewReader(`Action=AssumeRoleWithWebIdentity&Pad=`), strings.NewReader(strings.Repeat("x", 4096))))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", form)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(string(b), `<Code>RequestEntityTooLarge</Code>`) {
		t.Errorf("chunked: HTTP %d %s", resp.StatusCode, b)
	}
	if len(f.iam.calls)+len(f.sts.calls)+len(f.eksAuth.calls) != 0 {
		t.Error("an oversized request reached a service")
	}
}
