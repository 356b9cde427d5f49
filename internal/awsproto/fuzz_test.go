package awsproto

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"
)

// constLookup answers every key with the test secret, so fuzzed requests
// reach the signature computation.
type constLookup struct{}

func (constLookup) LookupSecret(context.Context, string, string) (string, any, error) {
	return testSecret, nil, nil
}

// FuzzVerify feeds arbitrary Authorization headers, query strings, extra
// headers, paths and bodies to Verify. It must never panic, must fail only
// with a client *Error, and must never quote the secret.
func FuzzVerify(f *testing.F) {
	// Seeds: real signed requests, header form and presigned.
	seed := func(r *http.Request, body string) {
		var k, v string
		for name, vals := range r.Header {
			if name != "Authorization" {
				k, v = name, vals[0]
				break
			}
		}
		f.Add(r.Method, r.URL.EscapedPath(), r.URL.RawQuery, r.Header.Get("Authorization"), r.Header.Get("X-Amz-Date"), k, v, body)
	}
	r := iamRequest(f)
	sdkSign(f, r, iamBody, signOpts{at: testNow})
	seed(r, iamBody)
	r = reqSpec{method: http.MethodGet, url: "http://127.0.0.1:8443/clusters/c/pod-identity-associations?maxResults=5&nextToken=a%2Fb"}.build(f)
	sdkSign(f, r, "", signOpts{service: "eks", region: "us-west-2", at: testNow})
	seed(r, "")
	r = reqSpec{method: http.MethodGet, url: "http://127.0.0.1:8443/?Action=GetCallerIdentity&Version=2011-06-15&X-Amz-Expires=60"}.build(f)
	seed(sdkPresign(f, r, "", signOpts{service: "sts", token: "tok", at: testNow}), "")
	r = reqSpec{method: http.MethodGet, url: "http://127.0.0.1:8443/bucket/a%3Fb//c/../d"}.build(f)
	seed(sdkPresign(f, r, "", signOpts{service: "s3", region: "us-west-2", payloadHash: UnsignedPayload, at: testNow}), "")
	f.Add("POST", "/a//./../b", "x=%zz&&=&+=+", "AWS4-HMAC-SHA256 Credential=/////, SignedHeaders=;;host;, Signature=", "20261125T103000Z", "X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD", "")
	f.Add("GET", "/", "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=a%2F20261125%2Fus-east-1%2Fs%2Faws4_request&X-Amz-Signature=&X-Amz-SignedHeaders=host&X-Amz-Date=20261125T103000Z&X-Amz-Expires=99999999999999999999", "", "", "Date", "Wed, 25 Nov 2026 10:30:00 GMT", "")
	f.Add("GET", "/", "", "Signature= Credential=\x00\xff,,,", "x", "Host", "h", "b")

	v := &Verifier{Lookup: constLookup{}, Now: func() time.Time { return testNow }}
	f.Fuzz(func(t *testing.T, method, path, query, authz, amzDate, hk, hv, body string) {
		r := &http.Request{
			Method: method,
			URL:    &url.URL{Path: path, RawPath: path, RawQuery: query},
			Header: http.Header{},
			Host:   "127.0.0.1:8443",
		}
		if authz != "" {
			r.Header["Authorization"] = []string{authz}
		}
		if amzDate != "" {
			r.Header["X-Amz-Date"] = []string{amzDate}
		}
		if hk != "" {
			r.Header[hk] = append(r.Header[hk], hv)
		}
		IsSigned(r)
		ScopeOf(r)
		_, err := v.Verify(context.Background(), r, []byte(body))
		if err == nil {
			return
		}
		var ae *Error
		if !errors.As(err, &ae) {
			t.Fatalf("Verify returned %T, want *Error", err)
		}
		if ae.Status != http.StatusBadRequest && ae.Status != http.StatusForbidden {
			t.Fatalf("Verify returned status %d (%s)", ae.Status, ae.Code)
		}
		if strings.Contains(ae.Message, testSecret) {
			t.Fatalf("message quotes the secret: %q", ae.Message)
		}
	})
}

// FuzzParseParams checks that no awsQuery body makes the parameter
// accessors panic, that what ParseParams accepts reads back, and that the
// linear Structs agrees with the former quadratic decoding.
func FuzzParseParams(f *testing.F) {
	f.Add("Action=GetRole&RoleName=x&Version=2010-05-08")
	f.Add("Action=AssumeRole&Tags.member.1.Key=a&Tags.member.1.Value=b&Tags.member.2.Key=c&PolicyArns.member.1.arn=arn%3Aaws%3Aiam%3A%3Aaws%3Apolicy%2FX")
	f.Add("DurationSeconds=900&Enabled=TRUE&MaxItems=-1&x=%zz")
	f.Add("a;b=c&&=&%=")
	f.Add("L.member.1=a&L.member.3=c&L.member.2=b")
	f.Add("Action=%FF&Tags.member.1.Key=%FF%FE&Tags.member.01.Key=z&Tags.member.1.=e&T.member.2.a.b=c&T.member.1.x=y")
	f.Fuzz(func(t *testing.T, body string) {
		p, err := ParseParams(body)
		if err != nil {
			var ae *Error
			if !errors.As(err, &ae) || ae.Status != http.StatusBadRequest {
				t.Fatalf("ParseParams error %v", err)
			}
			return
		}
		for k, vs := range p.Values {
			if !p.Has(k) || p.Get(k) != vs[0] {
				t.Fatalf("parameter %q does not read back", k)
			}
			name, _, _ := strings.Cut(k, ".")
			p.List(name)
			if got, ref := p.Structs(name), structsReference(p, name); !reflect.DeepEqual(got, ref) {
				t.Fatalf("Structs(%q) = %v, reference %v", name, got, ref)
			}
			p.Int(k)
			p.Bool(k)
		}
	})
}

// FuzzPathSegments checks that PathSegments never panics and splits a raw
// path on its literal slashes only.
func FuzzPathSegments(f *testing.F) {
	f.Add("/tags/arn%3Aaws%3Aeks%3Aus-west-2%3A111122223333%3Apodidentityassociation%2Fmy-cluster%2Fa-abc")
	f.Add("/clusters/c/pod-identity-associations/")
	f.Add("//a/%zz/")
	f.Add("")
	f.Add("/%2F%2f/%")
	f.Fuzz(func(t *testing.T, raw string) {
		u, err := url.ParseRequestURI("/" + strings.TrimLeft(raw, "/"))
		if err != nil {
			return
		}
		r := &http.Request{URL: u}
		segs, ok := PathSegments(r)
		if !ok {
			return
		}
		trimmed := strings.Trim(u.EscapedPath(), "/")
		want := 0
		if trimmed != "" {
			want = strings.Count(trimmed, "/") + 1
		}
		if len(segs) != want {
			t.Fatalf("PathSegments(%q) = %d segments, want %d", u.EscapedPath(), len(segs), want)
		}
	})
}
