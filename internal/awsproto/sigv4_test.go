package awsproto

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// Test credentials (AWS documentation examples, not real keys).
const (
	testAKID       = "AKIAIOSFODNN7EXAMPLE"
	testSecret     = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
	testTempAKID   = "ASIAIOSFODNN7EXAMPLE"
	testTempSecret = "je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY"
	testToken      = "IQoJb3JpZ2luX2VjEXAMPLETOKENzZXNzaW9uLXRva2Vu"
	testOldAKID    = "ASIAOLDEXPIREDEXAMPL"
)

// testNow is the verifier's clock in deterministic tests.
var testNow = time.Date(2026, 11, 25, 10, 30, 0, 0, time.UTC)

// fakeLookup resolves the test keys the way the real lookup does: unknown
// keys and wrong tokens are InvalidClientTokenId, an expired session is
// ExpiredToken.
type fakeLookup struct{}

func (fakeLookup) LookupSecret(_ context.Context, akid, token string) (string, any, error) {
	switch {
	case akid == testAKID && token == "":
		return testSecret, "user:" + akid, nil
	case akid == testTempAKID && token == testToken:
		return testTempSecret, "session:" + akid, nil
	case akid == testOldAKID:
		return "", nil, ExpiredToken()
	}
	return "", nil, InvalidClientTokenID()
}

func newTestVerifier() *Verifier {
	return &Verifier{
		Lookup: fakeLookup{},
		Now:    func() time.Time { return testNow },
		AllowRegion: func(service, region string) bool {
			return region == "us-east-1" || region == "us-west-2" || region == "eu-central-1"
		},
	}
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// reqSpec describes a request to sign.
type reqSpec struct {
	method  string
	url     string // may contain a raw, percent-encoded path
	headers map[string][]string
	body    string
}

func (s reqSpec) build(t testing.TB) *http.Request {
	t.Helper()
	method := s.method
	if method == "" {
		method = http.MethodPost
	}
	var body *strings.Reader
	if s.body != "" {
		body = strings.NewReader(s.body)
	}
	var r *http.Request
	var err error
	if body != nil {
		r, err = http.NewRequest(method, s.url, body)
	} else {
		r, err = http.NewRequest(method, s.url, nil)
	}
	if err != nil {
		t.Fatalf("building request: %v", err)
	}
	for k, vs := range s.headers {
		for _, v := range vs {
			r.Header.Add(k, v)
		}
	}
	return r
}

type signOpts struct {
	akid, secret, token string
	service, region     string
	at                  time.Time
	payloadHash         string // default: SHA-256 of the body
}

func (o signOpts) withDefaults() signOpts {
	if o.akid == "" {
		o.akid, o.secret = testAKID, testSecret
	}
	if o.service == "" {
		o.service = "iam"
	}
	if o.region == "" {
		o.region = "us-east-1"
	}
	if o.at.IsZero() {
		o.at = testNow.Add(-2 * time.Minute)
	}
	return o
}

// sdkSign signs r in place with the AWS SDK for Go v2 signer.
func sdkSign(t testing.TB, r *http.Request, body string, o signOpts) {
	t.Helper()
	o = o.withDefaults()
	ph := o.payloadHash
	if ph == "" {
		ph = sha256Hex([]byte(body))
	}
	creds := aws.Credentials{AccessKeyID: o.akid, SecretAccessKey: o.secret, SessionToken: o.token}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, r, ph, o.service, o.region, o.at, s3PathRule(o.service)); err != nil {
		t.Fatalf("SignHTTP: %v", err)
	}
}

// sdkPresign presigns r with the AWS SDK for Go v2 signer and returns the
// request a client would send with the presigned URL.
func sdkPresign(t testing.TB, r *http.Request, body string, o signOpts) *http.Request {
	t.Helper()
	o = o.withDefaults()
	creds := aws.Credentials{AccessKeyID: o.akid, SecretAccessKey: o.secret, SessionToken: o.token}
	ph := o.payloadHash
	if ph == "" {
		ph = sha256Hex([]byte(body))
	}
	u, hdr, err := v4.NewSigner().PresignHTTP(context.Background(), creds, r, ph, o.service, o.region, o.at, s3PathRule(o.service))
	if err != nil {
		t.Fatalf("PresignHTTP: %v", err)
	}
	out, err := http.NewRequest(r.Method, u, strings.NewReader(body))
	if err != nil {
		t.Fatalf("building presigned request: %v", err)
	}
	for k, vs := range hdr {
		if k == "Host" {
			continue
		}
		out.Header[k] = vs
	}
	return out
}

// s3PathRule makes the SDK signer sign the path as S3 clients do (as sent,
// no second encoding) when service is s3.
func s3PathRule(service string) func(*v4.SignerOptions) {
	return func(o *v4.SignerOptions) { o.DisableURIPathEscaping = service == "s3" }
}

const iamBody = "Action=GetRole&RoleName=eks-workshop-carts-dynamo&Version=2010-05-08"

func iamRequest(t testing.TB) *http.Request {
	return reqSpec{
		url:     "http://127.0.0.1:8443/",
		headers: map[string][]string{"Content-Type": {"application/x-www-form-urlencoded; charset=utf-8"}},
		body:    iamBody,
	}.build(t)
}

func TestVerifyAcceptsSDKSignedRequests(t *testing.T) {
	tests := []struct {
		name    string
		spec    reqSpec
		opts    signOpts
		presign bool
		// expires, when set, is added as X-Amz-Expires before presigning.
		expires      int
		wantAKID     string
		wantIdentity string
	}{
		{
			name: "iam form post",
			spec: reqSpec{url: "http://127.0.0.1:8443/", body: iamBody,
				headers: map[string][]string{"Content-Type": {"application/x-www-form-urlencoded; charset=utf-8"}}},
			wantAKID: testAKID, wantIdentity: "user:" + testAKID,
		},
		{
			name: "sts with session token",
			spec: reqSpec{url: "http://localhost:8443/", body: "Action=GetCallerIdentity&Version=2011-06-15",
				headers: map[string][]string{"Content-Type": {"application/x-www-form-urlencoded; charset=utf-8"}}},
			opts:     signOpts{akid: testTempAKID, secret: testTempSecret, token: testToken, service: "sts", region: "us-west-2"},
			wantAKID: testTempAKID, wantIdentity: "session:" + testTempAKID,
		},
		{
			name:     "eks get with encoded labels and query",
			spec:     reqSpec{method: http.MethodGet, url: "http://127.0.0.1:8443/clusters/eks-workshop/pod-identity-associations?maxResults=10&namespace=carts&nextToken=a%2Fb%20c%2Bd"},
			opts:     signOpts{service: "eks", region: "us-west-2"},
			wantAKID: testAKID, wantIdentity: "user:" + testAKID,
		},
		{
			name:     "eks tag resource with percent-encoded arn in path",
			spec:     reqSpec{url: "http://127.0.0.1:8443/tags/arn%3Aaws%3Aeks%3Aus-west-2%3A111122223333%3Apodidentityassociation%2Fmy-cluster%2Fa-abcdefghijklmnop1", body: `{"tags":{"team":"carts"}}`, headers: map[string][]string{"Content-Type": {"application/json"}}},
			opts:     signOpts{service: "eks", region: "us-west-2"},
			wantAKID: testAKID, wantIdentity: "user:" + testAKID,
		},
		{
			name:     "eks untag with repeated query keys",
			spec:     reqSpec{method: http.MethodDelete, url: "http://127.0.0.1:8443/tags/arn%3Aaws%3Aeks%3Aus-west-2%3A111122223333%3Acluster%2Fc?tagKeys=b&tagKeys=a&tagKeys=a%2Fz"},
			opts:     signOpts{service: "eks", region: "us-west-2"},
			wantAKID: testAKID, wantIdentity: "user:" + testAKID,
		},
		{
			name:     "eks-auth post json with session token",
			spec:     reqSpec{url: "http://127.0.0.1:8443/clusters/eks-workshop/assume-role-for-pod-identity", body: `{"token":"eyJhbGciOi.x.y"}`, headers: map[string][]string{"Content-Type": {"application/json"}}},
			opts:     signOpts{akid: testTempAKID, secret: testTempSecret, token: testToken, service: "eks-auth", region: "us-west-2"},
			wantAKID: testTempAKID, wantIdentity: "session:" + testTempAKID,
		},
		{
			name: "header values with extra spaces and repeats",
			spec: reqSpec{url: "http://127.0.0.1:8443/", body: iamBody, headers: map[string][]string{
				"Content-Type": {"application/x-www-form-urlencoded;   charset=utf-8"},
				"X-Custom":     {"  a   b  ", "c"},
			}},
			wantAKID: testAKID, wantIdentity: "user:" + testAKID,
		},
		{
			name: "unsigned payload for s3",
			spec: reqSpec{method: http.MethodPut, url: "http://127.0.0.1:8443/bucket/key", body: "object", headers: map[string][]string{
				"X-Amz-Content-Sha256": {UnsignedPayload},
			}},
			opts:     signOpts{service: "s3", region: "us-west-2", payloadHash: UnsignedPayload},
			wantAKID: testAKID, wantIdentity: "user:" + testAKID,
		},
		{
			name: "declared payload hash",
			spec: reqSpec{url: "http://127.0.0.1:8443/", body: iamBody, headers: map[string][]string{
				"Content-Type":         {"application/x-www-form-urlencoded; charset=utf-8"},
				"X-Amz-Content-Sha256": {sha256Hex([]byte(iamBody))},
			}},
			wantAKID: testAKID, wantIdentity: "user:" + testAKID,
		},
		{
			name:     "signed 14 minutes ago",
			spec:     reqSpec{url: "http://127.0.0.1:8443/", body: iamBody},
			opts:     signOpts{at: testNow.Add(-14 * time.Minute)},
			wantAKID: testAKID, wantIdentity: "user:" + testAKID,
		},
		{
			name:     "signed 14 minutes ahead",
			spec:     reqSpec{url: "http://127.0.0.1:8443/", body: iamBody},
			opts:     signOpts{at: testNow.Add(14 * time.Minute)},
			wantAKID: testAKID, wantIdentity: "user:" + testAKID,
		},
		{
			name:     "presigned sts get without expires",
			spec:     reqSpec{method: http.MethodGet, url: "http://127.0.0.1:8443/?Action=GetCallerIdentity&Version=2011-06-15"},
			opts:     signOpts{service: "sts"},
			presign:  true,
			wantAKID: testAKID, wantIdentity: "user:" + testAKID,
		},
		{
			name:     "presigned with expires and session token",
			spec:     reqSpec{method: http.MethodGet, url: "http://127.0.0.1:8443/?Action=GetCallerIdentity&Version=2011-06-15", headers: map[string][]string{"X-K8s-Aws-Id": {"eks-workshop"}}},
			opts:     signOpts{akid: testTempAKID, secret: testTempSecret, token: testToken, service: "sts", at: testNow.Add(-50 * time.Minute)},
			presign:  true,
			expires:  3600,
			wantAKID: testTempAKID, wantIdentity: "session:" + testTempAKID,
		},
		{
			name:     "presigned post with body",
			spec:     reqSpec{url: "http://127.0.0.1:8443/", body: "Action=GetCallerIdentity&Version=2011-06-15", headers: map[string][]string{"Content-Type": {"application/x-www-form-urlencoded"}}},
			opts:     signOpts{service: "sts"},
			presign:  true,
			wantAKID: testAKID, wantIdentity: "user:" + testAKID,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := tt.spec.build(t)
			if tt.expires != 0 {
				q := r.URL.Query()
				q.Set("X-Amz-Expires", strconv.Itoa(tt.expires))
				r.URL.RawQuery = q.Encode()
			}
			if tt.presign {
				r = sdkPresign(t, r, tt.spec.body, tt.opts)
			} else {
				sdkSign(t, r, tt.spec.body, tt.opts)
			}
			if !IsSigned(r) {
				t.Fatalf("IsSigned = false for a signed request")
			}
			o := tt.opts.withDefaults()
			svc, region, ok := ScopeOf(r)
			if !ok || svc != o.service || region != o.region {
				t.Fatalf("ScopeOf = %q, %q, %v; want %q, %q, true", svc, region, ok, o.service, o.region)
			}
			got, err := newTestVerifier().Verify(context.Background(), r, []byte(tt.spec.body))
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			want := Verified{AccessKeyID: tt.wantAKID, Service: o.service, Region: o.region, Identity: tt.wantIdentity}
			if *got != want {
				t.Fatalf("Verify = %+v, want %+v", *got, want)
			}
		})
	}
}

// authHeaderParts splits a signed request's Authorization header.
func authHeaderParts(t *testing.T, r *http.Request) (cred, signed, sig string) {
	t.Helper()
	h := r.Header.Get("Authorization")
	rest, ok := strings.CutPrefix(h, "AWS4-HMAC-SHA256 ")
	if !ok {
		t.Fatalf("unexpected Authorization %q", h)
	}
	for _, p := range strings.Split(rest, ", ") {
		k, v, _ := strings.Cut(p, "=")
		switch k {
		case "Credential":
			cred = v
		case "SignedHeaders":
			signed = v
		case "Signature":
			sig = v
		}
	}
	return cred, signed, sig
}

func TestVerifyRejects(t *testing.T) {
	type mutate func(t *testing.T, r *http.Request) (body string)
	signed := func(o signOpts) func(t *testing.T) *http.Request {
		return func(t *testing.T) *http.Request {
			r := iamRequest(t)
			sdkSign(t, r, iamBody, o)
			return r
		}
	}
	presigned := func(o signOpts, expires int) func(t *testing.T) *http.Request {
		return func(t *testing.T) *http.Request {
			r := reqSpec{method: http.MethodGet, url: "http://127.0.0.1:8443/?Action=GetCallerIdentity&Version=2011-06-15"}.build(t)
			if expires != 0 {
				r.URL.RawQuery += "&X-Amz-Expires=" + strconv.Itoa(expires)
			}
			o.service = "sts"
			return sdkPresign(t, r, "", o)
		}
	}
	setAuth := func(f func(cred, signed, sig string) string) mutate {
		return func(t *testing.T, r *http.Request) string {
			r.Header.Set("Authorization", f(authHeaderParts(t, r)))
			return iamBody
		}
	}
	setQuery := func(f func(q url.Values)) mutate {
		return func(t *testing.T, r *http.Request) string {
			q := r.URL.Query()
			f(q)
			r.URL.RawQuery = q.Encode()
			return ""
		}
	}
	keep := func(body string) mutate {
		return func(*testing.T, *http.Request) string { return body }
	}

	tests := []struct {
		name       string
		req        func(t *testing.T) *http.Request
		mutate     mutate
		wantCode   string
		wantStatus int
		// wantMsg, when set, is the exact message.
		wantMsg string
	}{
		{
			name: "no authorization at all",
			req: func(t *testing.T) *http.Request {
				return iamRequest(t)
			},
			mutate:   keep(iamBody),
			wantCode: "MissingAuthenticationToken", wantStatus: 403,
			wantMsg: "Request is missing Authentication Token",
		},
		{
			name:     "wrong secret",
			req:      signed(signOpts{akid: testAKID, secret: "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}),
			mutate:   keep(iamBody),
			wantCode: "SignatureDoesNotMatch", wantStatus: 403, wantMsg: msgSignatureMismatch,
		},
		{
			name: "tampered signed header",
			req:  signed(signOpts{}),
			mutate: func(t *testing.T, r *http.Request) string {
				r.Header.Set("Content-Type", "application/json")
				return iamBody
			},
			wantCode: "SignatureDoesNotMatch", wantStatus: 403, wantMsg: msgSignatureMismatch,
		},
		{
			name:     "tampered body",
			req:      signed(signOpts{}),
			mutate:   keep(strings.Replace(iamBody, "GetRole", "DeleteRole", 1)),
			wantCode: "SignatureDoesNotMatch", wantStatus: 403, wantMsg: msgSignatureMismatch,
		},
		{
			name: "tampered query",
			req:  signed(signOpts{}),
			mutate: func(t *testing.T, r *http.Request) string {
				r.URL.RawQuery = "Action=DeleteRole"
				return iamBody
			},
			wantCode: "SignatureDoesNotMatch", wantStatus: 403, wantMsg: msgSignatureMismatch,
		},
		{
			name: "tampered path",
			req:  signed(signOpts{}),
			mutate: func(t *testing.T, r *http.Request) string {
				r.URL.Path = "/admin"
				return iamBody
			},
			wantCode: "SignatureDoesNotMatch", wantStatus: 403, wantMsg: msgSignatureMismatch,
		},
		{
			name: "tampered host",
			req:  signed(signOpts{}),
			mutate: func(t *testing.T, r *http.Request) string {
				r.Host = "evil.example:8443"
				return iamBody
			},
			wantCode: "SignatureDoesNotMatch", wantStatus: 403, wantMsg: msgSignatureMismatch,
		},
		{
			name: "declared payload hash differs from body",
			req: func(t *testing.T) *http.Request {
				r := iamRequest(t)
				r.Header.Set("X-Amz-Content-Sha256", sha256Hex([]byte("other")))
				sdkSign(t, r, iamBody, signOpts{payloadHash: sha256Hex([]byte("other"))})
				return r
			},
			mutate:   keep(iamBody),
			wantCode: "SignatureDoesNotMatch", wantStatus: 403, wantMsg: msgSignatureMismatch,
		},
		{
			name: "missing Credential",
			req:  signed(signOpts{}),
			mutate: setAuth(func(cred, signed, sig string) string {
				return "AWS4-HMAC-SHA256 SignedHeaders=" + signed + ", Signature=" + sig
			}),
			wantCode: "IncompleteSignature", wantStatus: 400,
			wantMsg: "Authorization header requires 'Credential' parameter. Authorization=AWS4-HMAC-SHA256 SignedHeaders=content-length;content-type;host;x-amz-date, Signature=<redacted>",
		},
		{
			name: "missing SignedHeaders",
			req:  signed(signOpts{}),
			mutate: setAuth(func(cred, signed, sig string) string {
				return "AWS4-HMAC-SHA256 Credential=" + cred + ", Signature=" + sig
			}),
			wantCode: "IncompleteSignature", wantStatus: 400,
			wantMsg: "Authorization header requires 'SignedHeaders' parameter. Authorization=AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20261125/us-east-1/iam/aws4_request, Signature=<redacted>",
		},
		{
			name: "missing Signature and date",
			req:  signed(signOpts{}),
			mutate: func(t *testing.T, r *http.Request) string {
				cred, signed, _ := authHeaderParts(t, r)
				r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential="+cred+", SignedHeaders="+signed)
				r.Header.Del("X-Amz-Date")
				return iamBody
			},
			wantCode: "IncompleteSignature", wantStatus: 400,
			wantMsg: "Authorization header requires 'Signature' parameter. Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. " +
				"Authorization=AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20261125/us-east-1/iam/aws4_request, SignedHeaders=content-length;content-type;host;x-amz-date",
		},
		{
			name: "pair without equal sign",
			req:  signed(signOpts{}),
			mutate: setAuth(func(cred, signed, sig string) string {
				return "AWS4-HMAC-SHA256 Credential= " + cred + ", SignedHeaders=" + signed + ", Signature=" + sig
			}),
			wantCode: "IncompleteSignature", wantStatus: 400,
			wantMsg: "'AKIAIOSFODNN7EXAMPLE/20261125/us-east-1/iam/aws4_request' not a valid key=value pair (missing equal-sign) in Authorization header: " +
				"'AWS4-HMAC-SHA256 Credential= AKIAIOSFODNN7EXAMPLE/20261125/us-east-1/iam/aws4_request, SignedHeaders=content-length;content-type;host;x-amz-date, Signature=<redacted>'.",
		},
		{
			name: "credential with four elements",
			req:  signed(signOpts{}),
			mutate: setAuth(func(cred, signed, sig string) string {
				return "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20261125/us-east-1/aws4_request, SignedHeaders=" + signed + ", Signature=" + sig
			}),
			wantCode: "IncompleteSignature", wantStatus: 400,
			wantMsg: "Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, got 'AKIAIOSFODNN7EXAMPLE/20261125/us-east-1/aws4_request'",
		},
		{
			name: "malformed X-Amz-Date",
			req:  signed(signOpts{}),
			mutate: func(t *testing.T, r *http.Request) string {
				r.Header.Set("X-Amz-Date", "2026-11-25T10:28:00Z")
				return iamBody
			},
			wantCode: "IncompleteSignature", wantStatus: 400,
			wantMsg: "Date must be in ISO-8601 'basic format'. Got '2026-11-25T10:28:00Z'. See http://en.wikipedia.org/wiki/ISO_8601",
		},
		{
			name: "impossible X-Amz-Date",
			req:  signed(signOpts{}),
			mutate: func(t *testing.T, r *http.Request) string {
				r.Header.Set("X-Amz-Date", "20261131T102800Z")
				return iamBody
			},
			wantCode: "IncompleteSignature", wantStatus: 400,
			wantMsg: "Date must be in ISO-8601 'basic format'. Got '20261131T102800Z'. See http://en.wikipedia.org/wiki/ISO_8601",
		},
		{
			name:     "signed 16 minutes ago",
			req:      signed(signOpts{at: testNow.Add(-16 * time.Minute)}),
			mutate:   keep(iamBody),
			wantCode: "SignatureDoesNotMatch", wantStatus: 403,
			wantMsg: "Signature expired: 20261125T101400Z is now earlier than 20261125T101500Z (20261125T103000Z - 15 min.)",
		},
		{
			name:     "signed 16 minutes ahead",
			req:      signed(signOpts{at: testNow.Add(16 * time.Minute)}),
			mutate:   keep(iamBody),
			wantCode: "SignatureDoesNotMatch", wantStatus: 403,
			wantMsg: "Signature not yet current: 20261125T104600Z is still later than 20261125T104500Z (20261125T103000Z + 15 min.)",
		},
		{
			name: "old Date header without X-Amz-Date",
			req:  signed(signOpts{}),
			mutate: func(t *testing.T, r *http.Request) string {
				r.Header.Del("X-Amz-Date")
				r.Header.Set("Date", "Wed, 25 Nov 2026 10:10:10 GMT")
				return iamBody
			},
			wantCode: "SignatureDoesNotMatch", wantStatus: 403,
			wantMsg: "Signature expired: 20261125T101010Z is now earlier than 20261125T101500Z (20261125T103000Z - 15 min.)",
		},
		{
			name:     "expired presigned url",
			req:      presigned(signOpts{at: testNow.Add(-2 * time.Minute)}, 60),
			mutate:   keep(""),
			wantCode: "RequestExpired", wantStatus: 400, wantMsg: "Request has expired.",
		},
		{
			name:     "presigned without expires older than 15 minutes",
			req:      presigned(signOpts{at: testNow.Add(-20 * time.Minute)}, 0),
			mutate:   keep(""),
			wantCode: "SignatureDoesNotMatch", wantStatus: 403,
			wantMsg: "Signature expired: 20261125T101000Z is now earlier than 20261125T101500Z (20261125T103000Z - 15 min.)",
		},
		{
			name:     "presigned expires beyond a week",
			req:      presigned(signOpts{}, 604801),
			mutate:   keep(""),
			wantCode: "IncompleteSignature", wantStatus: 400,
			wantMsg: "X-Amz-Expires must be less than a week (in seconds) that is 604800",
		},
		{
			name:     "presigned expires negative",
			req:      presigned(signOpts{}, -5),
			mutate:   keep(""),
			wantCode: "IncompleteSignature", wantStatus: 400, wantMsg: "X-Amz-Expires must be non-negative",
		},
		{
			name:     "presigned expires not a number",
			req:      presigned(signOpts{}, 0),
			mutate:   setQuery(func(q url.Values) { q.Set("X-Amz-Expires", "soon") }),
			wantCode: "IncompleteSignature", wantStatus: 400, wantMsg: "X-Amz-Expires should be a number",
		},
		{
			name: "presigned missing signature and date",
			req:  presigned(signOpts{}, 0),
			mutate: setQuery(func(q url.Values) {
				q.Del("X-Amz-Signature")
				q.Del("X-Amz-Date")
			}),
			wantCode: "IncompleteSignature", wantStatus: 400,
			wantMsg: "AWS query-string parameters must include 'X-Amz-Signature'. AWS query-string parameters must include 'X-Amz-Date'. Re-examine the query-string parameters.",
		},
		{
			name:     "presigned tampered query",
			req:      presigned(signOpts{}, 0),
			mutate:   setQuery(func(q url.Values) { q.Set("Action", "AssumeRole") }),
			wantCode: "SignatureDoesNotMatch", wantStatus: 403, wantMsg: msgSignatureMismatch,
		},
		{
			name:     "presigned wrong algorithm",
			req:      presigned(signOpts{}, 0),
			mutate:   setQuery(func(q url.Values) { q.Set("X-Amz-Algorithm", "AWS4-HMAC-SHA512") }),
			wantCode: "IncompleteSignature", wantStatus: 400, wantMsg: "Unsupported AWS 'algorithm': 'AWS4-HMAC-SHA512'.",
		},
		{
			name: "host not signed",
			req:  signed(signOpts{}),
			mutate: setAuth(func(cred, signed, sig string) string {
				return "AWS4-HMAC-SHA256 Credential=" + cred + ", SignedHeaders=content-type;x-amz-date, Signature=" + sig
			}),
			wantCode: "IncompleteSignature", wantStatus: 400,
			wantMsg: "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.",
		},
		{
			name:     "unknown access key",
			req:      signed(signOpts{akid: "AKIAUNKNOWNKEY000000", secret: testSecret}),
			mutate:   keep(iamBody),
			wantCode: "InvalidClientTokenId", wantStatus: 403, wantMsg: "The security token included in the request is invalid.",
		},
		{
			name:     "temporary key with wrong token",
			req:      signed(signOpts{akid: testTempAKID, secret: testTempSecret, token: "forged"}),
			mutate:   keep(iamBody),
			wantCode: "InvalidClientTokenId", wantStatus: 403, wantMsg: "The security token included in the request is invalid.",
		},
		{
			name:     "expired session token",
			req:      signed(signOpts{akid: testOldAKID, secret: testTempSecret, token: testToken}),
			mutate:   keep(iamBody),
			wantCode: "ExpiredToken", wantStatus: 403, wantMsg: "The security token included in the request is expired",
		},
		{
			name: "scope date differs from X-Amz-Date",
			req:  signed(signOpts{}),
			mutate: setAuth(func(cred, signed, sig string) string {
				return "AWS4-HMAC-SHA256 Credential=" + strings.Replace(cred, "20261125", "20261124", 1) + ", SignedHeaders=" + signed + ", Signature=" + sig
			}),
			wantCode: "SignatureDoesNotMatch", wantStatus: 403,
			wantMsg: "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '20261124' != '20261125', from '20261125T102800Z'.",
		},
		{
			name: "wrong terminator",
			req:  signed(signOpts{}),
			mutate: setAuth(func(cred, signed, sig string) string {
				return "AWS4-HMAC-SHA256 Credential=" + strings.Replace(cred, "aws4_request", "aws5_request", 1) + ", SignedHeaders=" + signed + ", Signature=" + sig
			}),
			wantCode: "SignatureDoesNotMatch", wantStatus: 403,
			wantMsg: "Credential should be scoped with a valid terminator: 'aws4_request', not 'aws5_request'. ",
		},
		{
			name: "wrong algorithm",
			req:  signed(signOpts{}),
			mutate: setAuth(func(cred, signed, sig string) string {
				return "AWS4-HMAC-SHA512 Credential=" + cred + ", SignedHeaders=" + signed + ", Signature=" + sig
			}),
			wantCode: "IncompleteSignature", wantStatus: 400, wantMsg: "Unsupported AWS 'algorithm': 'AWS4-HMAC-SHA512'.",
		},
		{
			name: "bearer token is not echoed",
			req:  signed(signOpts{}),
			mutate: func(t *testing.T, r *http.Request) string {
				r.Header.Set("Authorization", "eyJhbGciOiJSUzI1NiJ9.c2VjcmV0.c2lnbmF0dXJl")
				return iamBody
			},
			wantCode: "IncompleteSignature", wantStatus: 400,
			wantMsg: "Authorization header requires 'Credential' parameter. Authorization header requires 'Signature' parameter. " +
				"Authorization header requires 'SignedHeaders' parameter. Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.",
		},
		{
			name:     "unsupported region",
			req:      signed(signOpts{region: "ap-south-2"}),
			mutate:   keep(iamBody),
			wantCode: "SignatureDoesNotMatch", wantStatus: 403,
			wantMsg: "Credential should be scoped to a valid region, not 'ap-south-2'. ",
		},
		{
			name: "signature of the wrong length",
			req:  signed(signOpts{}),
			mutate: setAuth(func(cred, signed, sig string) string {
				return "AWS4-HMAC-SHA256 Credential=" + cred + ", SignedHeaders=" + signed + ", Signature=" + sig[:63]
			}),
			wantCode: "SignatureDoesNotMatch", wantStatus: 403, wantMsg: msgSignatureMismatch,
		},
		{
			name: "uppercase signature",
			req:  signed(signOpts{}),
			mutate: setAuth(func(cred, signed, sig string) string {
				return "AWS4-HMAC-SHA256 Credential=" + cred + ", SignedHeaders=" + signed + ", Signature=" + strings.ToUpper(sig)
			}),
			wantCode: "SignatureDoesNotMatch", wantStatus: 403, wantMsg: msgSignatureMismatch,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := tt.req(t)
			var sig string
			if h := r.Header.Get("Authorization"); strings.HasPrefix(h, "AWS4-") {
				_, _, sig = authHeaderParts(t, r)
			} else {
				sig = r.URL.Query().Get("X-Amz-Signature")
			}
			body := tt.mutate(t, r)
			_, err := newTestVerifier().Verify(context.Background(), r, []byte(body))
			var ae *Error
			if !errors.As(err, &ae) {
				t.Fatalf("Verify error = %v (%T), want *Error %s", err, err, tt.wantCode)
			}
			if ae.Code != tt.wantCode || ae.Status != tt.wantStatus || !ae.Sender {
				t.Fatalf("Verify error = %s/%d sender=%v, want %s/%d sender", ae.Code, ae.Status, ae.Sender, tt.wantCode, tt.wantStatus)
			}
			if tt.wantMsg != "" && ae.Message != tt.wantMsg {
				t.Fatalf("message:\n got %q\nwant %q", ae.Message, tt.wantMsg)
			}
			for _, secret := range []string{testSecret, testTempSecret, testToken, "c2VjcmV0"} {
				if strings.Contains(ae.Message, secret) {
					t.Fatalf("message leaks a secret: %q", ae.Message)
				}
			}
			if len(sig) >= 16 && strings.Contains(strings.ToLower(ae.Message), sig[:16]) {
				t.Fatalf("message echoes the signature: %q", ae.Message)
			}
		})
	}
}

// TestVerifyDateHeader checks the Date header as the signing time, with a
// request signed by a plain reference implementation of the SigV4
// algorithm (the SDKs always send X-Amz-Date).
func TestVerifyDateHeader(t *testing.T) {
	const date = "Wed, 25 Nov 2026 10:25:00 GMT"
	r := iamRequest(t)
	r.Header.Set("Date", date)
	r.Host = "iam.amazonaws.com"
	canonical := "POST\n/\n\n" +
		"content-type:application/x-www-form-urlencoded; charset=utf-8\n" +
		"date:" + date + "\n" +
		"host:iam.amazonaws.com\n\n" +
		"content-type;date;host\n" + sha256Hex([]byte(iamBody))
	scope := "20261125/us-east-1/iam/aws4_request"
	sts := "AWS4-HMAC-SHA256\n20261125T102500Z\n" + scope + "\n" + sha256Hex([]byte(canonical))
	key := refHMAC([]byte("AWS4"+testSecret), "20261125")
	key = refHMAC(key, "us-east-1")
	key = refHMAC(key, "iam")
	key = refHMAC(key, "aws4_request")
	sig := hex.EncodeToString(refHMAC(key, sts))
	r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential="+testAKID+"/"+scope+",SignedHeaders=content-type;date;host,Signature="+sig)

	v, err := newTestVerifier().Verify(context.Background(), r, []byte(iamBody))
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if v.AccessKeyID != testAKID || v.Service != "iam" || v.Region != "us-east-1" {
		t.Fatalf("Verify = %+v", v)
	}
}

func TestScopeOfAndIsSigned(t *testing.T) {
	tests := []struct {
		name          string
		header        string
		query         string
		wantSigned    bool
		wantService   string
		wantRegion    string
		wantScopeOkay bool
	}{
		{name: "unsigned", wantSigned: false},
		{name: "unsigned with query", query: "Action=AssumeRoleWithWebIdentity&Version=2011-06-15"},
		{name: "header", header: "AWS4-HMAC-SHA256 Credential=AKID/20261125/us-west-2/eks-auth/aws4_request, SignedHeaders=host, Signature=00",
			wantSigned: true, wantService: "eks-auth", wantRegion: "us-west-2", wantScopeOkay: true},
		{name: "header without spaces", header: "AWS4-HMAC-SHA256 Credential=AKID/20261125/us-west-2/iam/aws4_request,SignedHeaders=host,Signature=00",
			wantSigned: true, wantService: "iam", wantRegion: "us-west-2", wantScopeOkay: true},
		{name: "bearer", header: "Bearer abc", wantSigned: true},
		{name: "short credential", header: "AWS4-HMAC-SHA256 Credential=AKID/us-west-2/iam/aws4_request", wantSigned: true},
		{name: "presigned", query: "Action=GetCallerIdentity&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKID%2F20261125%2Fus-east-1%2Fsts%2Faws4_request",
			wantSigned: true, wantService: "sts", wantRegion: "us-east-1", wantScopeOkay: true},
		{name: "presigned signature only", query: "X-Amz-Signature=00", wantSigned: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &http.Request{Method: http.MethodGet, URL: &url.URL{Path: "/", RawQuery: tt.query}, Header: http.Header{}}
			if tt.header != "" {
				r.Header.Set("Authorization", tt.header)
			}
			if got := IsSigned(r); got != tt.wantSigned {
				t.Errorf("IsSigned = %v, want %v", got, tt.wantSigned)
			}
			svc, region, ok := ScopeOf(r)
			if svc != tt.wantService || region != tt.wantRegion || ok != tt.wantScopeOkay {
				t.Errorf("ScopeOf = %q, %q, %v; want %q, %q, %v", svc, region, ok, tt.wantService, tt.wantRegion, tt.wantScopeOkay)
			}
		})
	}
}

func TestCanonicalURI(t *testing.T) {
	tests := []struct{ raw, want string }{
		{"", "/"},
		{"/", "/"},
		{"/clusters/c/pod-identity-associations", "/clusters/c/pod-identity-associations"},
		{"/tags/arn%3Aaws%3Aeks%3Aus-west-2%3A1%3Acluster%2Fc", "/tags/arn%253Aaws%253Aeks%253Aus-west-2%253A1%253Acluster%252Fc"},
		{"/a b/~x", "/a%20b/~x"},
		{"/a//b/./c/../d/", "/a/b/d/"},
		{"/..", "/"},
		{"//", "/"},
		{"/a/.", "/a"},
	}
	for _, tt := range tests {
		if got := string(appendCanonicalURI(nil, tt.raw)); got != tt.want {
			t.Errorf("canonical URI of %q = %q, want %q", tt.raw, got, tt.want)
		}
	}
}

// TestVerifyS3SignsThePathAsSent: for the s3 service the canonical URI is
// the path as the client sent it, so keys with encoded '?' and '#', "//"
// and dot segments verify, and a path that differs from the signed one in
// any way, even one a normalizing service would treat as the same, does
// not.
func TestVerifyS3SignsThePathAsSent(t *testing.T) {
	v := newTestVerifier()
	opts := signOpts{service: "s3", region: "us-west-2", payloadHash: UnsignedPayload}
	hdr := map[string][]string{"X-Amz-Content-Sha256": {UnsignedPayload}}
	paths := []string{
		"/assets/carts/a%3Fb%23c.txt",
		"/assets/carts//double/slash",
		"/assets/carts/./dot/../segments",
		"/assets/carts/space%20plus%2B~tilde",
		"/assets",
	}
	for _, p := range paths {
		r := reqSpec{method: http.MethodGet, url: "http://127.0.0.1:8443" + p, headers: hdr}.build(t)
		sdkSign(t, r, "", opts)
		if _, err := v.Verify(context.Background(), r, nil); err != nil {
			t.Errorf("header-signed GET %s: %v", p, err)
		}
		pr := sdkPresign(t, reqSpec{method: http.MethodGet, url: "http://127.0.0.1:8443" + p}.build(t), "", opts)
		if _, err := v.Verify(context.Background(), pr, nil); err != nil {
			t.Errorf("presigned GET %s: %v", p, err)
		}
	}
	// Signed for one path, sent with another that means the same to a
	// normalizing service, or that differs only in its encoding.
	for signed, sent := range map[string]string{
		"/assets/carts/../orders/a": "/assets/orders/a",
		"/assets/carts//a":          "/assets/carts/a",
		"/assets/carts/a%3Fb":       "/assets/carts/a%3fb",
		"/assets/carts/%7Etilde":    "/assets/carts/~tilde",
		"/assets/carts/a%2Fb":       "/assets/carts/a/b",
	} {
		r := reqSpec{method: http.MethodGet, url: "http://127.0.0.1:8443" + signed, headers: hdr}.build(t)
		sdkSign(t, r, "", opts)
		r.RequestURI = sent
		_, err := v.Verify(context.Background(), r, nil)
		var aerr *Error
		if !errors.As(err, &aerr) || aerr.Code != "SignatureDoesNotMatch" {
			t.Errorf("signed %s, sent %s: err = %v, want SignatureDoesNotMatch", signed, sent, err)
		}
	}
}

func TestCanonicalQuery(t *testing.T) {
	tests := []struct {
		raw       string
		presigned bool
		want      string
	}{
		{"", false, ""},
		{"b=2&a=1", false, "a=1&b=2"},
		{"a=2&a=1&a=10", false, "a=1&a=10&a=2"},
		{"k=a%2Fb&k=a-b", false, "k=a%2Fb&k=a-b"},
		{"x=a+b&y=%7e&z=%zz&flag", false, "flag=&x=a%20b&y=~&z=%25zz"},
		{"&&a=1&", false, "a=1"},
		{"X-Amz-Signature=abc&X-Amz-Date=1", true, "X-Amz-Date=1"},
		{"X-Amz-Signature=abc&X-Amz-Date=1", false, "X-Amz-Date=1&X-Amz-Signature=abc"},
	}
	for _, tt := range tests {
		if got := string(appendCanonicalQuery(nil, tt.raw, tt.presigned)); got != tt.want {
			t.Errorf("canonical query of %q = %q, want %q", tt.raw, got, tt.want)
		}
	}
}

func TestRestJSONAuthError(t *testing.T) {
	tests := []struct {
		in         *Error
		code, msg  string
		wantStatus int
	}{
		{errSignatureMismatch(msgSignatureMismatch), "InvalidSignatureException", msgSignatureMismatch, 403},
		{InvalidClientTokenID(), "UnrecognizedClientException", "The security token included in the request is invalid.", 403},
		{ExpiredToken(), "ExpiredTokenException", "The security token included in the request is expired", 403},
		{errIncomplete("x"), "IncompleteSignatureException", "x", 400},
		{errMissingAuth(), "MissingAuthenticationTokenException", "Missing Authentication Token", 403},
		{errRequestExpired(), "InvalidSignatureException", "Request has expired.", 403},
		{Errorf(400, "ValidationException", "v"), "ValidationException", "v", 400},
	}
	for _, tt := range tests {
		got := RestJSONAuthError(tt.in)
		if got.Code != tt.code || got.Message != tt.msg || got.Status != tt.wantStatus {
			t.Errorf("RestJSONAuthError(%s) = %s/%q/%d, want %s/%q/%d", tt.in.Code, got.Code, got.Message, got.Status, tt.code, tt.msg, tt.wantStatus)
		}
	}
}

func TestVerifyLookupFailureIsInternal(t *testing.T) {
	r := iamRequest(t)
	sdkSign(t, r, iamBody, signOpts{})
	v := newTestVerifier()
	v.Lookup = lookupFunc(func(context.Context, string, string) (string, any, error) {
		return "", nil, errors.New("database is locked")
	})
	_, err := v.Verify(context.Background(), r, []byte(iamBody))
	var ae *Error
	if !errors.As(err, &ae) || ae.Status != 500 || ae.Code != "InternalFailure" || strings.Contains(ae.Message, "database") {
		t.Fatalf("Verify error = %v", err)
	}
}

type lookupFunc func(ctx context.Context, akid, token string) (string, any, error)

func (f lookupFunc) LookupSecret(ctx context.Context, akid, token string) (string, any, error) {
	return f(ctx, akid, token)
}

// TestVerifyChecksTimeBeforeLookup makes sure a stale or malformed
// request never reaches the key store, as with AWS.
func TestVerifyChecksTimeBeforeLookup(t *testing.T) {
	r := iamRequest(t)
	sdkSign(t, r, iamBody, signOpts{at: testNow.Add(-time.Hour)})
	v := newTestVerifier()
	called := false
	v.Lookup = lookupFunc(func(context.Context, string, string) (string, any, error) {
		called = true
		return testSecret, nil, nil
	})
	if _, err := v.Verify(context.Background(), r, []byte(iamBody)); err == nil {
		t.Fatal("Verify accepted a request signed an hour ago")
	}
	if called {
		t.Fatal("the secret was looked up before the clock check")
	}
}

func TestSigningKeyCacheIsBounded(t *testing.T) {
	var c signingKeyCache
	for i := range signingKeyCacheSize + 10 {
		c.get(testSecret, "20261125", "r"+strconv.Itoa(i), "iam")
	}
	if n := len(c.m); n > signingKeyCacheSize {
		t.Fatalf("cache holds %d entries, bound is %d", n, signingKeyCacheSize)
	}
	want := deriveSigningKey(testSecret, "20261125", "us-east-1", "iam")
	if got := c.get(testSecret, "20261125", "us-east-1", "iam"); got != want {
		t.Fatal("cached key differs from the derived key")
	}
	if got := c.get(testSecret, "20261125", "us-east-1", "iam"); got != want {
		t.Fatal("cache hit returned a different key")
	}
}

func TestHMACMatchesReference(t *testing.T) {
	for _, n := range []int{0, 1, 63, 64, 65, 200, 1000} {
		key := []byte(strings.Repeat("k", n))
		msg := strings.Repeat("m", n*3)
		got := hmacSHA256(key, []byte(msg))
		if want := refHMAC(key, msg); hex.EncodeToString(got[:]) != hex.EncodeToString(want) {
			t.Errorf("hmacSHA256 with %d-byte key differs from crypto/hmac", n)
		}
	}
}

// refHMAC is crypto/hmac's HMAC-SHA256, the reference for hmacSHA256.
func refHMAC(key []byte, msg string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(msg))
	return m.Sum(nil)
}

// TestVerifyConcurrent shares one Verifier (and its key cache) between
// goroutines; run with -race.
func TestVerifyConcurrent(t *testing.T) {
	v := newTestVerifier()
	v.AllowRegion = nil
	regions := []string{"us-east-1", "us-west-2", "eu-central-1", "ap-south-1"}
	reqs := make([]*http.Request, len(regions))
	for i, region := range regions {
		reqs[i] = iamRequest(t)
		sdkSign(t, reqs[i], iamBody, signOpts{region: region})
	}
	errs := make(chan error, 8)
	for g := range 8 {
		go func() {
			var err error
			for i := range 50 {
				r := reqs[(g+i)%len(reqs)]
				if _, e := v.Verify(context.Background(), r, []byte(iamBody)); e != nil {
					err = e
					break
				}
			}
			errs <- err
		}()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}

func TestEchoAndRedaction(t *testing.T) {
	tests := []struct {
		fn       func(string) string
		in, want string
	}{
		{echo, "plain", "plain"},
		{echo, "a\x00b\nc\xffd", "a?b?c?d"},
		{echo, strings.Repeat("x", 300), strings.Repeat("x", 256) + "..."},
		{redactAuthorization, "AWS4-HMAC-SHA256 Credential=A/B, SignedHeaders=host, Signature=abcdef", "AWS4-HMAC-SHA256 Credential=A/B, SignedHeaders=host, Signature=<redacted>"},
		{redactAuthorization, "AWS4-HMAC-SHA256 Signature= abcdef,Signature=x Credential=y", "AWS4-HMAC-SHA256 Signature=<redacted>,Signature=<redacted> Credential=y"},
		{redactAuthorization, "Signature=", "Signature=<redacted>"},
	}
	for _, tt := range tests {
		if got := tt.fn(tt.in); got != tt.want {
			t.Errorf("got %q, want %q", got, tt.want)
		}
	}
}

// TestVerifyRefusesUnsignedPayloadOutsideS3: only S3 takes UNSIGNED-PAYLOAD.
// For IAM, STS, EKS, EKS Auth (and DynamoDB) the signature must cover the
// body, so a body swapped under a signature made with UNSIGNED-PAYLOAD
// (ListRoles signed, ListUsers sent) is refused, and so is the unswapped
// request.
func TestVerifyRefusesUnsignedPayloadOutsideS3(t *testing.T) {
	v := newTestVerifier()
	for _, tc := range []struct{ service, region, url, signed, sent string }{
		{"iam", "us-east-1", "http://127.0.0.1:8443/", "Action=ListRoles&Version=2010-05-08", "Action=ListUsers&Version=2010-05-08"},
		{"iam", "us-east-1", "http://127.0.0.1:8443/", "Action=ListRoles&Version=2010-05-08", "Action=ListRoles&Version=2010-05-08"},
		{"sts", "us-east-1", "http://127.0.0.1:8443/", "Action=GetCallerIdentity&Version=2011-06-15", "Action=AssumeRole&Version=2011-06-15&RoleArn=x&RoleSessionName=s"},
		{"eks", "us-west-2", "http://127.0.0.1:8443/clusters", `{"name":"a"}`, `{"name":"b"}`},
		{"eks-auth", "us-west-2", "http://127.0.0.1:8443/clusters/c/assume-role-for-pod-identity", `{"token":"a"}`, `{"token":"b"}`},
		{"dynamodb", "us-west-2", "http://127.0.0.1:8443/", `{"TableName":"a"}`, `{"TableName":"b"}`},
	} {
		r := reqSpec{url: tc.url, body: tc.sent, headers: map[string][]string{"X-Amz-Content-Sha256": {UnsignedPayload}}}.build(t)
		sdkSign(t, r, tc.signed, signOpts{service: tc.service, region: tc.region, payloadHash: UnsignedPayload})
		_, err := v.Verify(context.Background(), r, []byte(tc.sent))
		var aerr *Error
		if !errors.As(err, &aerr) || aerr.Code != CodeSignatureDoesNotMatch || aerr.Status != http.StatusForbidden {
			t.Errorf("%s with UNSIGNED-PAYLOAD, body %q: err = %v, want 403 SignatureDoesNotMatch", tc.service, tc.sent, err)
		}
	}
}

// TestVerifyRefusesRepeatedHeaders: a request with two Authorization,
// X-Amz-Date, X-Amz-Security-Token, Date or X-Amz-Content-Sha256 headers is
// refused with IncompleteSignature, by Precheck (before any body is read)
// and by Verify, even when the first copy carries a valid signature.
func TestVerifyRefusesRepeatedHeaders(t *testing.T) {
	v := newTestVerifier()
	for _, name := range []string{"Authorization", "X-Amz-Date", "X-Amz-Security-Token", "Date", "X-Amz-Content-Sha256"} {
		r := iamRequest(t)
		sdkSign(t, r, iamBody, signOpts{at: testNow})
		if _, err := v.Verify(context.Background(), r, []byte(iamBody)); err != nil {
			t.Fatalf("unmodified request: %v", err)
		}
		first := r.Header.Get(name)
		if first == "" {
			first = "x"
		}
		r.Header[name] = []string{first, "AWS4-HMAC-SHA256 Credential=other"}
		for what, err := range map[string]error{"Precheck": v.Precheck(r), "Verify": func() error { _, err := v.Verify(context.Background(), r, []byte(iamBody)); return err }()} {
			var aerr *Error
			if !errors.As(err, &aerr) || aerr.Code != CodeIncompleteSignature || aerr.Status != http.StatusBadRequest || !strings.Contains(aerr.Message, name) {
				t.Errorf("two %s headers: %s = %v, want 400 IncompleteSignature naming the header", name, what, err)
			}
		}
	}
}

// TestWrongRegionNamesServedRegion: with ServedRegion set, a request
// signed for another region gets AWS's sentence followed by the region
// the endpoint serves; a request for the served region verifies.
func TestWrongRegionNamesServedRegion(t *testing.T) {
	v := newTestVerifier()
	v.ServedRegion = "us-west-2"
	v.AllowRegion = func(_, region string) bool { return region == "us-west-2" }
	r := iamRequest(t)
	sdkSign(t, r, iamBody, signOpts{region: "us-east-1"})
	_, err := v.Verify(context.Background(), r, []byte(iamBody))
	var ae *Error
	if !errors.As(err, &ae) {
		t.Fatalf("Verify error = %v, want *Error", err)
	}
	const want = "Credential should be scoped to a valid region, not 'us-east-1'. This endpoint serves region 'us-west-2' (AWS_REGION=us-west-2). "
	if ae.Code != "SignatureDoesNotMatch" || ae.Status != 403 || ae.Message != want {
		t.Fatalf("got %s/%d %q, want SignatureDoesNotMatch/403 %q", ae.Code, ae.Status, ae.Message, want)
	}
	r = iamRequest(t)
	sdkSign(t, r, iamBody, signOpts{region: "us-west-2"})
	if _, err := v.Verify(context.Background(), r, []byte(iamBody)); err != nil {
		t.Fatalf("served region refused: %v", err)
	}
}
