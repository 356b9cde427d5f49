package gateway

import (
	"context"
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/podid/podid/internal/auth"
	"github.com/podid/podid/internal/awsproto"
)

// commonS3Keys are set on every S3 check; TestS3Checks compares the rest.
var commonS3Keys = []string{"s3:signatureversion", "s3:ResourceAccount", "s3:authType", "s3:signatureAge", "s3:x-amz-content-sha256", "s3:TlsVersion"}

// TestS3Checks pins the operation, actions, resources and request
// condition keys of S3 requests.
func TestS3Checks(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.S3VirtualHostSuffix = "s3.podid.local" })
	type want struct {
		action, resource string
		keys             map[string][]string
	}
	cases := []struct {
		method, target string
		host           string
		hdr            map[string]string
		body           string
		op             string
		checks         []want // nil: unmapped
	}{
		{"GET", "/", "", nil, "", "ListAllMyBuckets", []want{{"s3:ListAllMyBuckets", "arn:aws:s3:::*", nil}}},
		{"PUT", "/bkt", "", map[string]string{"X-Amz-Acl": "private"}, "", "CreateBucket", []want{{"s3:CreateBucket", "arn:aws:s3:::bkt", map[string][]string{"s3:x-amz-acl": {"private"}}}}},
		{"DELETE", "/bkt", "", nil, "", "DeleteBucket", []want{{"s3:DeleteBucket", "arn:aws:s3:::bkt", nil}}},
		{"HEAD", "/bkt", "", nil, "", "ListBucket", []want{{"s3:ListBucket", "arn:aws:s3:::bkt", nil}}},
		{"GET", "/bkt?list-type=2&prefix=home%2Falice%2F&delimiter=%2F&max-keys=10", "", nil, "", "ListBucket",
			[]want{{"s3:ListBucket", "arn:aws:s3:::bkt", map[string][]string{"s3:prefix": {"home/alice/"}, "s3:delimiter": {"/"}, "s3:max-keys": {"10"}}}}},
		{"GET", "/bkt?versions&prefix=x", "", nil, "", "ListBucketVersions", []want{{"s3:ListBucketVersions", "arn:aws:s3:::bkt", map[string][]string{"s3:prefix": {"x"}}}}},
		{"GET", "/bkt?location", "", nil, "", "GetBucketLocation", []want{{"s3:GetBucketLocation", "arn:aws:s3:::bkt", nil}}},
		{"GET", "/bkt?uploads", "", nil, "", "ListBucketMultipartUploads", []want{{"s3:ListBucketMultipartUploads", "arn:aws:s3:::bkt", nil}}},
		{"DELETE", "/bkt?tagging", "", nil, "", "PutBucketTagging", []want{{"s3:PutBucketTagging", "arn:aws:s3:::bkt", nil}}},
		{"PUT", "/bkt?policy", "", nil, "{}", "PutBucketPolicy", []want{{"s3:PutBucketPolicy", "arn:aws:s3:::bkt", nil}}},
		{"GET", "/bkt/a/b%20c.txt", "", nil, "", "GetObject", []want{{"s3:GetObject", "arn:aws:s3:::bkt/a/b c.txt", nil}}},
		{"HEAD", "/bkt/k?versionId=v1", "", nil, "", "HeadObject", []want{{"s3:GetObjectVersion", "arn:aws:s3:::bkt/k", map[string][]string{"s3:versionid": {"v1"}}}}},
		{"GET", "/k", "bkt.s3.podid.local:9000", nil, "", "GetObject", []want{{"s3:GetObject", "arn:aws:s3:::bkt/k", nil}}},
		{"PUT", "/bkt/k", "", map[string]string{"X-Amz-Server-Side-Encryption": "AES256", "X-Amz-Storage-Class": "STANDARD_IA", "X-Amz-Tagging": "team=carts&env=dev"}, "data", "PutObject",
			[]want{{"s3:PutObject", "arn:aws:s3:::bkt/k", map[string][]string{"s3:x-amz-server-side-encryption": {"AES256"}, "s3:x-amz-storage-class": {"STANDARD_IA"},
				"s3:RequestObjectTag/env": {"dev"}, "s3:RequestObjectTag/team": {"carts"}, "s3:RequestObjectTagKeys": {"env", "team"}}}}},
		{"PUT", "/bkt/dst", "", map[string]string{"X-Amz-Copy-Source": "/src-bucket/a%2Fb.txt?versionId=3", "X-Amz-Metadata-Directive": "REPLACE"}, "", "CopyObject",
			[]want{
				{"s3:PutObject", "arn:aws:s3:::bkt/dst", map[string][]string{"s3:x-amz-copy-source": {"/src-bucket/a%2Fb.txt?versionId=3"}, "s3:x-amz-metadata-directive": {"REPLACE"}}},
				{"s3:GetObjectVersion", "arn:aws:s3:::src-bucket/a/b.txt", nil},
			}},
		{"POST", "/bkt/k?uploads", "", map[string]string{"X-Amz-Server-Side-Encryption": "aws:kms", "X-Amz-Server-Side-Encryption-Aws-Kms-Key-Id": "key-1"}, "", "CreateMultipartUpload",
			[]want{{"s3:PutObject", "arn:aws:s3:::bkt/k", map[string][]string{"s3:x-amz-server-side-encryption": {"aws:kms"}, "s3:x-amz-server-side-encryption-aws-kms-key-id": {"key-1"}}}}},
		{"PUT", "/bkt/k?partNumber=2&uploadId=u1", "", nil, "part", "UploadPart", []want{{"s3:PutObject", "arn:aws:s3:::bkt/k", nil}}},
		{"POST", "/bkt/k?uploadId=u1", "", nil, "<x/>", "CompleteMultipartUpload", []want{{"s3:PutObject", "arn:aws:s3:::bkt/k", nil}}},
		{"DELETE", "/bkt/k?uploadId=u1", "", nil, "", "AbortMultipartUpload", []want{{"s3:AbortMultipartUpload", "arn:aws:s3:::bkt/k", nil}}},
		{"GET", "/bkt/k?uploadId=u1", "", nil, "", "ListMultipartUploadParts", []want{{"s3:ListMultipartUploadParts", "arn:aws:s3:::bkt/k", nil}}},
		{"DELETE", "/bkt/k?versionId=v2", "", nil, "", "DeleteObject", []want{{"s3:DeleteObjectVersion", "arn:aws:s3:::bkt/k", map[string][]string{"s3:versionid": {"v2"}}}}},
		{"PUT", "/bkt/k?tagging", "", nil, "<Tagging/>", "PutObjectTagging", []want{{"s3:PutObjectTagging", "arn:aws:s3:::bkt/k", nil}}},
		{"PUT", "/bkt/k?acl", "", map[string]string{"X-Amz-Grant-Read": "id=x"}, "", "PutObjectAcl", []want{{"s3:PutObjectAcl", "arn:aws:s3:::bkt/k", map[string][]string{"s3:x-amz-grant-read": {"id=x"}}}}},
		{"POST", "/bkt?delete", "", nil, `<Delete><Object><Key>a</Key></Object><Object><Key>b/c</Key><VersionId>v9</VersionId></Object></Delete>`, "DeleteObjects",
			[]want{{"s3:DeleteObject", "arn:aws:s3:::bkt/a", nil}, {"s3:DeleteObjectVersion", "arn:aws:s3:::bkt/b/c", map[string][]string{"s3:versionid": {"v9"}}}}},
		{"POST", "/bkt/k?restore", "", nil, "", "RestoreObject", []want{{"s3:RestoreObject", "arn:aws:s3:::bkt/k", nil}}},
		{"PATCH", "/bkt/k", "", nil, "", "PATCH ", nil},
		{"GET", "/bkt?analytics", "", nil, "", "GET analytics", nil},
		{"PUT", "/", "", nil, "", "PUT", nil},
	}
	for _, c := range cases {
		t.Run(c.method+" "+c.target, func(t *testing.T) {
			r := httptest.NewRequest(c.method, c.target, strings.NewReader(c.body))
			if c.host != "" {
				r.Host = c.host
			}
			for k, v := range c.hdr {
				r.Header.Set(k, v)
			}
			a, serr := h.gw.s3Address(r)
			if serr != nil {
				t.Fatal(serr)
			}
			op, checks, serr := h.gw.s3Checks(r, a, s3Subresource(r.URL.Query()), []byte(c.body), false)
			if serr != nil {
				t.Fatal(serr)
			}
			if op != c.op {
				t.Errorf("operation %q, want %q", op, c.op)
			}
			var got []want
			for _, ch := range checks {
				keys := map[string][]string{}
				for k, v := range ch.extra {
					if !contains(commonS3Keys, k) {
						keys[k] = v
					}
				}
				if len(keys) == 0 {
					keys = nil
				}
				got = append(got, want{ch.action, ch.resource, keys})
			}
			if !reflect.DeepEqual(got, c.checks) {
				t.Errorf("checks\n got %+v\nwant %+v", got, c.checks)
			}
		})
	}

	// The common keys.
	r := httptest.NewRequest("GET", "/bkt/k", nil)
	r.Header.Set("X-Amz-Date", h.env.Clock.Now().Add(-2*time.Second).UTC().Format("20060102T150405Z"))
	r.Header.Set("X-Amz-Content-Sha256", awsproto.UnsignedPayload)
	r.TLS = &tls.ConnectionState{Version: tls.VersionTLS13}
	a, _ := h.gw.s3Address(r)
	_, checks, _ := h.gw.s3Checks(r, a, "", nil, false)
	wantKeys := map[string][]string{
		"s3:signatureversion": {"AWS4-HMAC-SHA256"}, "s3:ResourceAccount": {account}, "s3:authType": {"REST-HEADER"},
		"s3:signatureAge": {"2000"}, "s3:x-amz-content-sha256": {"UNSIGNED-PAYLOAD"}, "s3:TlsVersion": {"1.3"},
	}
	if !reflect.DeepEqual(checks[0].extra, wantKeys) {
		t.Errorf("common keys %v, want %v", checks[0].extra, wantKeys)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

const (
	// assetsDoc: list, read and encrypted writes under the caller's
	// namespace prefix of one bucket.
	assetsDoc = `{"Version":"2012-10-17","Statement":[
 {"Effect":"Allow","Action":"s3:ListBucket","Resource":"arn:aws:s3:::assets","Condition":{"StringLike":{"s3:prefix":"${aws:PrincipalTag/kubernetes-namespace}/*"}}},
 {"Effect":"Allow","Action":["s3:GetObject","s3:DeleteObject"],"Resource":"arn:aws:s3:::assets/${aws:PrincipalTag/kubernetes-namespace}/*"},
 {"Effect":"Allow","Action":"s3:PutObject","Resource":"arn:aws:s3:::assets/${aws:PrincipalTag/kubernetes-namespace}/*","Condition":{"StringEquals":{"s3:x-amz-server-side-encryption":"AES256"}}}]}`
)

// s3Sentence is S3's denial sentence (the resource in quotes).
func s3Sentence(p *auth.Principal, action, resource string) string {
	return "User: " + p.ARN + " is not authorized to perform: " + action + ` on resource: "` + resource +
		`" because no identity-based policy allows the ` + action + " action"
}

const dotSegmentsMsg = "podid gateway refuses S3 keys with '//', '.' or '..' segments: an upstream that cleans paths would serve another key than the one authorized"

// TestS3Decisions sends real signed requests (header, presigned, unsigned
// payload) through the gateway.
func TestS3Decisions(t *testing.T) {
	h := newHarness(t)
	pod, p := h.role("assets", assetsDoc, podTags("carts", "assets"))
	enc := map[string]string{"X-Amz-Server-Side-Encryption": "AES256"}
	cases := []struct {
		name         string
		method, path string
		body         string
		hdr          map[string]string
		status       int
		code, msg    string // for errors
	}{
		{"encrypted put", "PUT", "/assets/carts/a.txt", "hello", enc, 200, "", ""},
		{"get", "GET", "/assets/carts/a.txt", "", nil, 200, "", ""},
		{"key with spaces and unicode", "GET", "/assets/carts/caf%C3%A9%20menu%2B1.txt", "", nil, 200, "", ""},
		{"list own prefix", "GET", "/assets?list-type=2&prefix=carts%2F", "", nil, 200, "", ""},
		{"unencrypted put", "PUT", "/assets/carts/b.txt", "x", nil, 403, "AccessDenied", s3Sentence(p, "s3:PutObject", "arn:aws:s3:::assets/carts/b.txt")},
		{"other prefix", "GET", "/assets/orders/a.txt", "", nil, 403, "AccessDenied", s3Sentence(p, "s3:GetObject", "arn:aws:s3:::assets/orders/a.txt")},
		{"list other prefix", "GET", "/assets?prefix=orders%2F", "", nil, 403, "AccessDenied", s3Sentence(p, "s3:ListBucket", "arn:aws:s3:::assets")},
		{"list without prefix", "GET", "/assets", "", nil, 403, "AccessDenied", s3Sentence(p, "s3:ListBucket", "arn:aws:s3:::assets")},
		{"copy from other prefix", "PUT", "/assets/carts/copy.txt", "", map[string]string{"X-Amz-Server-Side-Encryption": "AES256", "X-Amz-Copy-Source": "assets/orders/a.txt"},
			403, "AccessDenied", s3Sentence(p, "s3:GetObject", "arn:aws:s3:::assets/orders/a.txt")},
		{"copy within prefix", "PUT", "/assets/carts/copy.txt", "", map[string]string{"X-Amz-Server-Side-Encryption": "AES256", "X-Amz-Copy-Source": "/assets/carts/a.txt"}, 200, "", ""},
		{"multi-delete with a foreign key", "POST", "/assets?delete", `<Delete><Object><Key>carts/a.txt</Key></Object><Object><Key>orders/a.txt</Key></Object></Delete>`, nil,
			403, "AccessDenied", s3Sentence(p, "s3:DeleteObject", "arn:aws:s3:::assets/orders/a.txt")},
		{"multi-delete own keys", "POST", "/assets?delete", `<Delete><Object><Key>carts/a.txt</Key></Object></Delete>`, nil, 200, "", ""},
		{"another bucket", "PUT", "/other/carts/a.txt", "x", enc, 403, "AccessDenied", s3Sentence(p, "s3:PutObject", "arn:aws:s3:::other/carts/a.txt")},
		{"unmapped", "GET", "/assets?analytics", "", nil, 403, "AccessDenied",
			"User: " + p.ARN + " is not authorized to perform: GET /assets?analytics because the podid gateway does not map this request to an S3 action"},
		{"slash in a bucket name", "DELETE", "/assets%2Fcarts", "", nil, 400, "InvalidBucketName", "The specified bucket is not valid."},
		{"key with encoded ? and #", "GET", "/assets/carts/what%3Fnow%23frag.txt", "", nil, 200, "", ""},
		{"encoded ? cannot leave the prefix", "GET", "/assets/orders%3F/a.txt", "", nil, 403, "AccessDenied", s3Sentence(p, "s3:GetObject", "arn:aws:s3:::assets/orders?/a.txt")},
		{"dot segments", "GET", "/assets/carts/../orders/a.txt", "", nil, 400, "InvalidRequest", dotSegmentsMsg},
		{"encoded dot segments", "GET", "/assets/carts/%2E%2E/orders/a.txt", "", nil, 400, "InvalidRequest", dotSegmentsMsg},
		{"double slash", "GET", "/assets/carts//secret/a.txt", "", nil, 400, "InvalidRequest", dotSegmentsMsg},
		{"aws-chunked", "PUT", "/assets/carts/a.txt", "x", map[string]string{"X-Amz-Content-Sha256": "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"}, 501, "NotImplemented",
			"podid gateway does not accept aws-chunked payloads (STREAMING-AWS4-HMAC-SHA256-PAYLOAD); sign the payload's SHA-256 or send UNSIGNED-PAYLOAD"},
		{"bad payload hash", "PUT", "/assets/carts/a.txt", "x", map[string]string{"X-Amz-Content-Sha256": "abc"}, 400, "InvalidArgument",
			"x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-AWS4-HMAC-SHA256-PAYLOAD, or a valid sha256 value."},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := len(h.s3.requests())
			var body []byte
			if c.body != "" {
				body = []byte(c.body)
			}
			resp := h.s3Call(pod, c.method, c.path, body, c.hdr)
			got := readAll(t, resp)
			forwarded := len(h.s3.requests()) - before
			if c.status == 200 {
				if resp.StatusCode != 200 || forwarded != 1 {
					t.Fatalf("HTTP %d %s (forwarded %d)", resp.StatusCode, got, forwarded)
				}
				return
			}
			if forwarded != 0 {
				t.Error("refused request reached the upstream")
			}
			id := resp.Header.Get("x-amz-request-id")
			want := `<?xml version="1.0" encoding="UTF-8"?>` + "\n" + `<Error><Code>` + c.code + `</Code><Message>` + xmlEscape(c.msg) +
				`</Message><RequestId>` + id + `</RequestId><HostId>` + id + `</HostId></Error>`
			if resp.StatusCode != c.status || got != want || resp.Header.Get("Content-Type") != "application/xml" {
				t.Errorf("got HTTP %d\n%s\nwant HTTP %d\n%s", resp.StatusCode, got, c.status, want)
			}
		})
	}

	// What the upstream received for the allowed PUT: the client's own
	// headers, the gateway's signature (checked by the fake), the body.
	var put *seen
	for _, s := range h.s3.requests() {
		if s.Method == "PUT" && s.Path == "/assets/carts/a.txt" {
			put = &s
			break
		}
	}
	// A key with encoded '?' and '#' reaches the upstream as the client
	// sent it.
	found := false
	for _, s := range h.s3.requests() {
		found = found || s.Path == "/assets/carts/what%3Fnow%23frag.txt"
	}
	if !found {
		t.Errorf("no upstream request for the key with '?' and '#' in its raw form; got %+v", h.s3.requests())
	}
	if put == nil || string(put.Body) != "hello" || put.Header.Get("X-Amz-Server-Side-Encryption") != "AES256" ||
		!strings.Contains(put.Header.Get("Authorization"), "Credential="+upstreamKey+"/") || put.Header.Get("X-Amz-Security-Token") != "" {
		t.Errorf("upstream PUT: %+v", put)
	}
}

// xmlEscape escapes the quotes and angle brackets S3 messages carry.
func xmlEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&#34;", "'", "&#39;").Replace(s)
}

// TestS3Authentication covers presigned URLs, unsigned payloads, SigV2,
// anonymous requests and S3's authentication error codes.
func TestS3Authentication(t *testing.T) {
	h := newHarness(t)
	pod, _ := h.role("assets", assetsDoc, podTags("carts", "assets"))

	// A presigned GET (no X-Amz-Content-Sha256: S3 signs UNSIGNED-PAYLOAD).
	req, _ := http.NewRequest("GET", h.srv.URL+"/assets/carts/a%20b.txt?X-Amz-Expires=300", nil)
	url, _, err := v4.NewSigner().PresignHTTP(context.Background(), pod, req, awsproto.UnsignedPayload, "s3", region, h.env.Clock.Now(),
		func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true })
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	if body := readAll(t, resp); resp.StatusCode != 200 || body != "object body" {
		t.Errorf("presigned GET: HTTP %d %s", resp.StatusCode, body)
	}
	reqs := h.s3.requests()
	last := reqs[len(reqs)-1]
	if strings.Contains(last.RawQuery, "X-Amz-") || last.Path != "/assets/carts/a%20b.txt" {
		t.Errorf("upstream got %s?%s, want the presign parameters stripped", last.Path, last.RawQuery)
	}

	// UNSIGNED-PAYLOAD: the body streams through.
	resp = h.s3Call(pod, "PUT", "/assets/carts/u.bin", []byte("streamed"), map[string]string{"X-Amz-Content-Sha256": awsproto.UnsignedPayload, "X-Amz-Server-Side-Encryption": "AES256"})
	if readAll(t, resp); resp.StatusCode != 200 {
		t.Errorf("unsigned payload PUT: HTTP %d", resp.StatusCode)
	}

	bad := pod
	bad.SecretAccessKey = "wrong"
	cases := []struct {
		name   string
		send   func() *http.Response
		status int
		code   string
		msg    string
	}{
		{"bad signature", func() *http.Response { return h.s3Call(bad, "GET", "/assets/carts/a.txt", nil, nil) }, 403, "SignatureDoesNotMatch",
			"The request signature we calculated does not match the signature you provided. Check your key and signing method."},
		{"unknown key", func() *http.Response {
			return h.s3Call(aws.Credentials{AccessKeyID: "AKIAIOSFODNN7EXAMPLE", SecretAccessKey: "x"}, "GET", "/assets/carts/a.txt", nil, nil)
		}, 403, "InvalidAccessKeyId", "The AWS Access Key Id you provided does not exist in our records."},
		{"bad token", func() *http.Response {
			c := pod
			c.SessionToken = "garbage"
			return h.s3Call(c, "GET", "/assets/carts/a.txt", nil, nil)
		}, 400, "InvalidToken", "The provided token is malformed or otherwise invalid."},
		{"anonymous", func() *http.Response {
			resp, _ := http.Get(h.srv.URL + "/assets/carts/a.txt")
			return resp
		}, 403, "AccessDenied", "Access Denied"},
		{"sigv2", func() *http.Response {
			resp, _ := http.Get(h.srv.URL + "/assets/carts/a.txt?AWSAccessKeyId=AKIA&Signature=x&Expires=1")
			return resp
		}, 400, "InvalidRequest", "The authorization mechanism you have provided is not supported. Please use AWS4-HMAC-SHA256."},
		{"missing payload hash", func() *http.Response {
			req, _ := http.NewRequest("GET", h.srv.URL+"/assets/carts/a.txt", nil)
			v4.NewSigner().SignHTTP(context.Background(), pod, req, awsproto.UnsignedPayload, "s3", region, h.env.Clock.Now())
			resp, _ := http.DefaultClient.Do(req)
			return resp
		}, 400, "InvalidRequest", "Missing required header for this request: x-amz-content-sha256"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp := c.send()
			body := readAll(t, resp)
			if resp.StatusCode != c.status || !strings.Contains(body, "<Code>"+c.code+"</Code><Message>"+xmlEscape(c.msg)+"</Message>") {
				t.Errorf("HTTP %d %s\nwant HTTP %d %s %s", resp.StatusCode, body, c.status, c.code, c.msg)
			}
		})
	}
	// The session expires: S3's ExpiredToken.
	h.env.Clock.Advance(2 * time.Hour)
	resp = h.s3Call(pod, "GET", "/assets/carts/a.txt", nil, nil)
	if body := readAll(t, resp); resp.StatusCode != 400 || !strings.Contains(body, "<Code>ExpiredToken</Code><Message>The provided token has expired.</Message>") {
		t.Errorf("expired: HTTP %d %s", resp.StatusCode, body)
	}
	// HEAD errors carry no body.
	resp = h.s3Call(pod, "HEAD", "/assets/carts/a.txt", nil, nil)
	if body := readAll(t, resp); resp.StatusCode != 400 || body != "" {
		t.Errorf("HEAD error: HTTP %d %q", resp.StatusCode, body)
	}
}
