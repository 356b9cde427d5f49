package gateway

import (
	"context"
	"encoding/xml"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/podid/podid/internal/arn"
	"github.com/podid/podid/internal/awsproto"
)

// s3Addr is where an S3 request points.
type s3Addr struct {
	bucket string
	key    string
	// rawPath is the client's escaped path; fwdPath the path-style path
	// sent upstream.
	rawPath string
	fwdPath string
}

// requestRawPath returns the path as the client sent it, still escaped.
func requestRawPath(r *http.Request) string {
	if uri := r.RequestURI; uri != "" && uri[0] == '/' {
		if i := strings.IndexByte(uri, '?'); i >= 0 {
			uri = uri[:i]
		}
		return uri
	}
	if r.URL.Opaque != "" {
		return r.URL.Opaque
	}
	p := r.URL.EscapedPath()
	if p == "" {
		p = "/"
	}
	return p
}

// s3Address reads the bucket and key of a path-style request
// (/BUCKET/KEY) or, when configured, a virtual-hosted-style one
// (BUCKET.SUFFIX/KEY).
func (g *Gateway) s3Address(r *http.Request) (s3Addr, *s3Error) {
	raw := requestRawPath(r)
	a := s3Addr{rawPath: raw, fwdPath: raw}
	if suffix := g.cfg.S3VirtualHostSuffix; suffix != "" {
		host := r.Host
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		host = strings.ToLower(host)
		if b, ok := strings.CutSuffix(host, "."+suffix); ok && b != "" {
			key, err := url.PathUnescape(strings.TrimPrefix(raw, "/"))
			if err != nil {
				return a, badURI()
			}
			if !validBucket(b) {
				return a, badBucket()
			}
			a.bucket, a.key = b, key
			a.fwdPath = "/" + b + raw
			return a, nil
		}
	}
	seg, rest, _ := strings.Cut(strings.TrimPrefix(raw, "/"), "/")
	bucket, err := url.PathUnescape(seg)
	if err != nil {
		return a, badURI()
	}
	key, err := url.PathUnescape(rest)
	if err != nil {
		return a, badURI()
	}
	if bucket != "" && !validBucket(bucket) {
		return a, badBucket()
	}
	a.bucket, a.key = bucket, key
	return a, nil
}

// validBucket reports whether s can be a bucket name: 3 to 255 of
// [a-zA-Z0-9._-] (S3's current rules are stricter; the legacy ones allowed
// these). Anything else, notably a decoded '/', is refused before it
// becomes an ARN.
func validBucket(s string) bool {
	if len(s) < 3 || len(s) > 255 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '.' || c == '-') {
			return false
		}
	}
	return true
}

func badBucket() *s3Error {
	return &s3Error{status: http.StatusBadRequest, code: "InvalidBucketName", msg: "The specified bucket is not valid."}
}

func badURI() *s3Error {
	return &s3Error{status: http.StatusBadRequest, code: "InvalidURI", msg: "Couldn't parse the specified URI."}
}

// checkS3Path refuses paths whose meaning depends on the upstream: empty,
// "." and ".." segments. S3 keeps them as part of the key, but many
// S3-compatible stores clean paths, and a store that served
// "carts/../orders/a" as "orders/a" or "carts//secret/a" as
// "carts/secret/a" would serve a key other than the one the policy was
// asked about. Encoded '?' and '#' are kept: they cannot move a key.
// (awsproto verifies S3 signatures on the path as sent.)
func checkS3Path(raw string) *s3Error {
	decoded, err := url.PathUnescape(raw)
	if err != nil {
		return badURI()
	}
	if awsproto.PathNeedsNormalize(decoded) {
		return &s3Error{status: http.StatusBadRequest, code: "InvalidRequest",
			msg: "podid gateway refuses S3 keys with '//', '.' or '..' segments: an upstream that cleans paths would serve another key than the one authorized"}
	}
	return nil
}

// isSigV2 reports whether r is signed with AWS's retired Signature
// Version 2 (header "AWS AKID:sig" or presigned AWSAccessKeyId=).
func isSigV2(r *http.Request) bool {
	if strings.HasPrefix(r.Header.Get("Authorization"), "AWS ") {
		return true
	}
	_, ok := r.URL.Query()["AWSAccessKeyId"]
	return ok
}

// isHexSHA256 reports whether s is 64 hex digits.
func isHexSHA256(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// serveS3 verifies, authorizes, records and forwards one S3 request.
func (g *Gateway) serveS3(w http.ResponseWriter, r *http.Request, reqID string, signed bool) {
	ctx := r.Context()
	addr, serr := g.s3Address(r)
	if serr != nil {
		writeS3Error(w, r, reqID, serr)
		return
	}
	if !signed && isSigV2(r) {
		writeS3Error(w, r, reqID, &s3Error{status: http.StatusBadRequest, code: "InvalidRequest",
			msg: "The authorization mechanism you have provided is not supported. Please use AWS4-HMAC-SHA256."})
		return
	}
	if !signed {
		// Anonymous access would need bucket policies or ACLs, which the
		// gateway does not evaluate.
		writeS3Error(w, r, reqID, s3AccessDenied("Access Denied"))
		return
	}
	presigned := r.Header.Get("Authorization") == ""
	declared := r.Header.Get("X-Amz-Content-Sha256")
	if declared == "" && presigned {
		declared = r.URL.Query().Get("X-Amz-Content-Sha256")
	}
	unsigned := declared == awsproto.UnsignedPayload || (presigned && declared == "")
	switch {
	case strings.HasPrefix(declared, "STREAMING-"):
		writeS3Error(w, r, reqID, &s3Error{status: http.StatusNotImplemented, code: "NotImplemented",
			msg: "podid gateway does not accept aws-chunked payloads (" + echo(declared) + "); sign the payload's SHA-256 or send UNSIGNED-PAYLOAD"})
		return
	case declared == "" && !presigned:
		writeS3Error(w, r, reqID, &s3Error{status: http.StatusBadRequest, code: "InvalidRequest", msg: "Missing required header for this request: x-amz-content-sha256"})
		return
	case !unsigned && !isHexSHA256(declared):
		writeS3Error(w, r, reqID, &s3Error{status: http.StatusBadRequest, code: "InvalidArgument",
			msg: "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-AWS4-HMAC-SHA256-PAYLOAD, or a valid sha256 value."})
		return
	}
	sub := s3Subresource(r.URL.Query())
	multiDelete := r.Method == http.MethodPost && sub == "delete" && addr.key == ""
	var body []byte
	buffered := !unsigned || multiDelete
	if buffered {
		b, derr := readBody(r, g.cfg.MaxBodyBytes)
		if derr != nil {
			if derr.status == http.StatusRequestEntityTooLarge {
				writeS3Error(w, r, reqID, &s3Error{status: http.StatusRequestEntityTooLarge, code: "EntityTooLarge",
					msg: "Your proposed upload exceeds the gateway's limit for signed payloads (" + strconv.FormatInt(g.cfg.MaxBodyBytes, 10) + " bytes); use multipart upload or UNSIGNED-PAYLOAD"})
			} else {
				writeS3Error(w, r, reqID, &s3Error{status: http.StatusBadRequest, code: "IncompleteBody", msg: "The request body could not be read"})
			}
			return
		}
		body = b
	}
	if serr := checkS3Path(addr.rawPath); serr != nil {
		writeS3Error(w, r, reqID, serr)
		return
	}
	v, err := g.cfg.Verifier.Verify(ctx, r, body)
	if err != nil {
		g.logAuthFailure(ctx, "s3", reqID, err)
		hasToken := r.Header.Get("X-Amz-Security-Token") != "" || r.URL.Query().Get("X-Amz-Security-Token") != ""
		writeS3Error(w, r, reqID, s3AuthError(err, hasToken))
		return
	}
	p, err := principalOf(v)
	if err != nil {
		g.log.ErrorContext(ctx, "gateway: verification without a caller", "requestId", reqID, "err", err)
		writeS3Error(w, r, reqID, s3Internal())
		return
	}
	ctx = withRequestInfo(ctx, r, v.Region)

	op, checks, serr := g.s3Checks(r, addr, sub, body, presigned)
	if serr != nil {
		writeS3Error(w, r, reqID, serr)
		return
	}
	rec := &auditEntry{service: "s3", operation: op, principal: p, reqID: reqID, r: r}
	if checks == nil {
		what := r.Method + " " + addr.rawPath
		if sub != "" {
			what += "?" + sub
		}
		msg := "User: " + p.ARN + " is not authorized to perform: " + echo(what) +
			" because the podid gateway does not map this request to an S3 action"
		rec.operation = "unmapped"
		g.record(ctx, rec, decision{checks: []check{{action: "s3:" + echo(what), resource: "*"}}, denied: 0, message: msg}, false)
		writeS3Error(w, r, reqID, s3AccessDenied(msg))
		return
	}
	d, err := g.decide(ctx, p, checks)
	if err != nil {
		g.log.ErrorContext(ctx, "gateway: decision failed", "requestId", reqID, "operation", op, "err", err)
		writeS3Error(w, r, reqID, s3Internal())
		return
	}
	g.record(ctx, rec, d, d.denied >= 0 && g.cfg.Soft)
	if d.denied >= 0 && !g.cfg.Soft {
		writeS3Error(w, r, reqID, s3AccessDenied(s3DeniedMessage(d.message, checks[d.denied].resource)))
		return
	}

	o := &outbound{method: r.Method, rawPath: addr.fwdPath, rawQuery: r.URL.RawQuery, header: r.Header}
	if buffered {
		o.body = body
		if o.body == nil {
			o.body = []byte{}
		}
		o.payloadHash = strings.ToLower(declared)
		if unsigned {
			o.payloadHash = awsproto.UnsignedPayload
		}
	} else {
		o.stream, o.length = r.Body, r.ContentLength
		if r.Body == nil || r.Body == http.NoBody {
			o.stream, o.length = nil, 0
			o.body = []byte{}
		}
		o.payloadHash = awsproto.UnsignedPayload
	}
	resp, err := g.s3.roundTrip(ctx, func(ctx context.Context) (*http.Request, error) {
		return g.s3.newRequest(ctx, o, g.cfg.Now())
	})
	if err != nil {
		g.upstreamFailed(ctx, reqID, err, func(msg string, status int) {
			writeS3Error(w, r, reqID, &s3Error{status: status, code: "ServiceUnavailable", msg: msg})
		})
		return
	}
	defer resp.Body.Close()
	if err := copyResponse(w, resp); err != nil && ctx.Err() == nil {
		g.log.WarnContext(ctx, "gateway: copying the upstream response", "requestId", reqID, "err", err)
	}
}

// s3Subresources are the query parameters that select an S3 operation
// (as opposed to options such as prefix or versionId).
var s3Subresources = []string{
	"uploadId", "uploads", "delete", "tagging", "acl", "policy", "versioning", "versions", "location", "cors",
	"lifecycle", "encryption", "website", "notification", "logging", "ownershipControls", "publicAccessBlock",
	"object-lock", "requestPayment", "accelerate", "replication", "policyStatus", "attributes", "retention",
	"legal-hold", "torrent", "restore", "select", "analytics", "inventory", "metrics", "intelligent-tiering",
	"session", "renameObject",
}

// s3Subresource returns the operation-selecting parameter of a query
// ("" for none). uploadId wins over the others it combines with
// (partNumber, uploads' markers).
func s3Subresource(q url.Values) string {
	for _, s := range s3Subresources {
		if _, ok := q[s]; ok {
			return s
		}
	}
	return ""
}

// s3BucketOps maps (method, subresource) of bucket requests to actions.
var s3BucketOps = map[string]string{
	"GET ":                     "ListBucket",
	"HEAD ":                    "ListBucket",
	"PUT ":                     "CreateBucket",
	"DELETE ":                  "DeleteBucket",
	"GET location":             "GetBucketLocation",
	"GET versions":             "ListBucketVersions",
	"GET uploads":              "ListBucketMultipartUploads",
	"GET policy":               "GetBucketPolicy",
	"PUT policy":               "PutBucketPolicy",
	"DELETE policy":            "DeleteBucketPolicy",
	"GET policyStatus":         "GetBucketPolicyStatus",
	"GET tagging":              "GetBucketTagging",
	"PUT tagging":              "PutBucketTagging",
	"DELETE tagging":           "PutBucketTagging",
	"GET versioning":           "GetBucketVersioning",
	"PUT versioning":           "PutBucketVersioning",
	"GET cors":                 "GetBucketCORS",
	"PUT cors":                 "PutBucketCORS",
	"DELETE cors":              "PutBucketCORS",
	"GET lifecycle":            "GetLifecycleConfiguration",
	"PUT lifecycle":            "PutLifecycleConfiguration",
	"DELETE lifecycle":         "PutLifecycleConfiguration",
	"GET acl":                  "GetBucketAcl",
	"PUT acl":                  "PutBucketAcl",
	"GET encryption":           "GetEncryptionConfiguration",
	"PUT encryption":           "PutEncryptionConfiguration",
	"DELETE encryption":        "PutEncryptionConfiguration",
	"GET website":              "GetBucketWebsite",
	"PUT website":              "PutBucketWebsite",
	"DELETE website":           "DeleteBucketWebsite",
	"GET notification":         "GetBucketNotification",
	"PUT notification":         "PutBucketNotification",
	"GET logging":              "GetBucketLogging",
	"PUT logging":              "PutBucketLogging",
	"GET ownershipControls":    "GetBucketOwnershipControls",
	"PUT ownershipControls":    "PutBucketOwnershipControls",
	"DELETE ownershipControls": "PutBucketOwnershipControls",
	"GET publicAccessBlock":    "GetBucketPublicAccessBlock",
	"PUT publicAccessBlock":    "PutBucketPublicAccessBlock",
	"DELETE publicAccessBlock": "PutBucketPublicAccessBlock",
	"GET object-lock":          "GetBucketObjectLockConfiguration",
	"PUT object-lock":          "PutBucketObjectLockConfiguration",
	"GET requestPayment":       "GetBucketRequestPayment",
	"PUT requestPayment":       "PutBucketRequestPayment",
	"GET accelerate":           "GetAccelerateConfiguration",
	"PUT accelerate":           "PutAccelerateConfiguration",
	"GET replication":          "GetReplicationConfiguration",
	"PUT replication":          "PutReplicationConfiguration",
	"DELETE replication":       "PutReplicationConfiguration",
}

// s3ObjectOps maps (method, subresource) of object requests to actions;
// versioned forms are chosen by s3Checks.
var s3ObjectOps = map[string]string{
	"GET ":            "GetObject",
	"HEAD ":           "GetObject",
	"PUT ":            "PutObject",
	"DELETE ":         "DeleteObject",
	"GET uploadId":    "ListMultipartUploadParts",
	"PUT uploadId":    "PutObject", // UploadPart, UploadPartCopy
	"POST uploadId":   "PutObject", // CompleteMultipartUpload
	"DELETE uploadId": "AbortMultipartUpload",
	"POST uploads":    "PutObject", // CreateMultipartUpload
	"GET tagging":     "GetObjectTagging",
	"PUT tagging":     "PutObjectTagging",
	"DELETE tagging":  "DeleteObjectTagging",
	"GET acl":         "GetObjectAcl",
	"PUT acl":         "PutObjectAcl",
	"GET attributes":  "GetObjectAttributes",
	"GET retention":   "GetObjectRetention",
	"PUT retention":   "PutObjectRetention",
	"GET legal-hold":  "GetObjectLegalHold",
	"PUT legal-hold":  "PutObjectLegalHold",
	"GET torrent":     "GetObjectTorrent",
	"POST restore":    "RestoreObject",
	"POST select":     "GetObject",
}

// s3Versioned are the actions with a distinct action for a specific
// version (?versionId=).
var s3Versioned = map[string]string{
	"GetObject": "GetObjectVersion", "DeleteObject": "DeleteObjectVersion",
	"GetObjectTagging": "GetObjectVersionTagging", "PutObjectTagging": "PutObjectVersionTagging",
	"DeleteObjectTagging": "DeleteObjectVersionTagging", "GetObjectAcl": "GetObjectVersionAcl",
	"PutObjectAcl": "PutObjectVersionAcl", "GetObjectAttributes": "GetObjectVersionAttributes",
}

// s3ARN is the ARN of an S3 bucket or object (resource "BUCKET" or
// "BUCKET/KEY"; S3 ARNs have no region or account).
func (g *Gateway) s3ARN(resource string) string {
	return arn.ARN{Partition: g.cfg.Partition, Service: "s3", Resource: resource}.String()
}

// s3Checks maps a request to its operation name (for the audit) and its
// checks; nil checks mean the request is not mapped.
func (g *Gateway) s3Checks(r *http.Request, a s3Addr, sub string, body []byte, presigned bool) (string, []check, *s3Error) {
	q := r.URL.Query()
	method := r.Method
	common := g.s3CommonKeys(r, presigned)
	if a.bucket == "" {
		if method == http.MethodGet && a.key == "" && sub == "" {
			return "ListAllMyBuckets", []check{{action: "s3:ListAllMyBuckets", resource: g.s3ARN("*"), extra: common}}, nil
		}
		return method, nil, nil
	}
	bucketARN := g.s3ARN(a.bucket)
	if a.key == "" {
		if method == http.MethodPost && sub == "delete" {
			return g.s3DeleteObjects(bucketARN, body, common)
		}
		op, ok := s3BucketOps[method+" "+sub]
		if !ok {
			return method + " " + sub, nil, nil
		}
		extra := cloneKeys(common)
		switch op {
		case "ListBucket", "ListBucketVersions":
			for _, k := range []string{"prefix", "delimiter", "max-keys"} {
				if vs, ok := q[k]; ok {
					extra["s3:"+k] = vs
				}
			}
		case "CreateBucket", "PutBucketAcl":
			g.s3ACLKeys(r, extra)
			if v := r.Header.Get("X-Amz-Object-Ownership"); v != "" {
				extra["s3:x-amz-object-ownership"] = []string{v}
			}
		}
		return op, []check{{action: "s3:" + op, resource: bucketARN, extra: extra}}, nil
	}
	op, ok := s3ObjectOps[method+" "+sub]
	if !ok {
		return method + " " + sub, nil, nil
	}
	objectARN := bucketARN + "/" + a.key
	extra := cloneKeys(common)
	action := op
	if vid, ok := q["versionId"]; ok && sub != "uploadId" && sub != "uploads" {
		if v, ok := s3Versioned[op]; ok {
			action = v
		}
		extra["s3:versionid"] = vid
	}
	checks := []check{{action: "s3:" + action, resource: objectARN, extra: extra}}
	switch op {
	case "PutObject":
		g.s3PutKeys(r, extra)
		if src := r.Header.Get("X-Amz-Copy-Source"); src != "" {
			c, serr := g.s3CopySource(src)
			if serr != nil {
				return op, nil, serr
			}
			c.extra = common
			checks = append(checks, c)
		}
	case "PutObjectAcl":
		g.s3ACLKeys(r, extra)
	}
	name := op
	switch {
	case method == http.MethodPost && sub == "uploads":
		name = "CreateMultipartUpload"
	case method == http.MethodPut && sub == "uploadId":
		name = "UploadPart"
	case method == http.MethodPost && sub == "uploadId":
		name = "CompleteMultipartUpload"
	case method == http.MethodHead:
		name = "HeadObject"
	case method == http.MethodPost && sub == "select":
		name = "SelectObjectContent"
	case op == "PutObject" && r.Header.Get("X-Amz-Copy-Source") != "":
		name = "CopyObject"
	}
	return name, checks, nil
}

// cloneKeys copies a condition-key map so that one check's keys do not
// leak into another's.
func cloneKeys(m map[string][]string) map[string][]string {
	out := make(map[string][]string, len(m)+4)
	for k, v := range m {
		out[k] = v
	}
	return out
}

// s3CommonKeys are the condition keys of every S3 request:
// s3:authType, s3:signatureversion, s3:signatureAge,
// s3:x-amz-content-sha256, s3:TlsVersion and s3:ResourceAccount.
func (g *Gateway) s3CommonKeys(r *http.Request, presigned bool) map[string][]string {
	m := map[string][]string{
		"s3:signatureversion": {"AWS4-HMAC-SHA256"},
		"s3:ResourceAccount":  {g.cfg.AccountID},
	}
	date := r.Header.Get("X-Amz-Date")
	if presigned {
		m["s3:authType"] = []string{"REST-QUERY-STRING"}
		date = r.URL.Query().Get("X-Amz-Date")
	} else {
		m["s3:authType"] = []string{"REST-HEADER"}
	}
	if t, err := time.Parse("20060102T150405Z", date); err == nil {
		age := g.cfg.Now().Sub(t).Milliseconds()
		m["s3:signatureAge"] = []string{strconv.FormatInt(max(age, 0), 10)}
	}
	if v := r.Header.Get("X-Amz-Content-Sha256"); v != "" {
		m["s3:x-amz-content-sha256"] = []string{v}
	}
	if r.TLS != nil {
		m["s3:TlsVersion"] = []string{tlsVersion(r.TLS.Version)}
	}
	return m
}

func tlsVersion(v uint16) string {
	switch v {
	case 0x0304:
		return "1.3"
	case 0x0303:
		return "1.2"
	case 0x0302:
		return "1.1"
	}
	return "1.0"
}

// s3ACLKeys sets s3:x-amz-acl and the s3:x-amz-grant-* keys.
func (g *Gateway) s3ACLKeys(r *http.Request, m map[string][]string) {
	for _, h := range []string{"x-amz-acl", "x-amz-grant-read", "x-amz-grant-write", "x-amz-grant-read-acp", "x-amz-grant-write-acp", "x-amz-grant-full-control"} {
		if v := r.Header.Values(h); len(v) > 0 {
			m["s3:"+h] = v
		}
	}
}

// s3PutKeys sets the condition keys of object writes: encryption, ACL,
// storage class, copy source, metadata directive, object lock and the
// tags of x-amz-tagging (s3:RequestObjectTag/K, s3:RequestObjectTagKeys).
func (g *Gateway) s3PutKeys(r *http.Request, m map[string][]string) {
	g.s3ACLKeys(r, m)
	for _, h := range []string{
		"x-amz-server-side-encryption", "x-amz-server-side-encryption-aws-kms-key-id",
		"x-amz-server-side-encryption-customer-algorithm", "x-amz-storage-class", "x-amz-copy-source",
		"x-amz-metadata-directive", "x-amz-website-redirect-location",
	} {
		if v := r.Header.Values(h); len(v) > 0 {
			m["s3:"+h] = v
		}
	}
	for h, k := range map[string]string{
		"x-amz-object-lock-mode": "s3:object-lock-mode", "x-amz-object-lock-retain-until-date": "s3:object-lock-retain-until-date",
		"x-amz-object-lock-legal-hold": "s3:object-lock-legal-hold",
	} {
		if v := r.Header.Get(h); v != "" {
			m[k] = []string{v}
		}
	}
	if t := r.Header.Get("X-Amz-Tagging"); t != "" {
		if tags, err := url.ParseQuery(t); err == nil {
			keys := sortedKeys(tags)
			for _, k := range keys {
				m["s3:RequestObjectTag/"+k] = tags[k]
			}
			if len(keys) > 0 {
				m["s3:RequestObjectTagKeys"] = keys
			}
		}
	}
}

// s3CopySource is the read check of a copy: s3:GetObject (or
// s3:GetObjectVersion) on x-amz-copy-source ("[/]bucket/key[?versionId=]",
// URL-encoded).
func (g *Gateway) s3CopySource(src string) (check, *s3Error) {
	path, query, _ := strings.Cut(src, "?")
	dec, err := url.PathUnescape(strings.TrimPrefix(path, "/"))
	bucket, key, ok := strings.Cut(dec, "/")
	if err != nil || !ok || !validBucket(bucket) || key == "" {
		return check{}, &s3Error{status: http.StatusBadRequest, code: "InvalidArgument", msg: "Invalid copy source object key"}
	}
	action := "s3:GetObject"
	if q, err := url.ParseQuery(query); err == nil && q.Get("versionId") != "" {
		action = "s3:GetObjectVersion"
	}
	return check{action: action, resource: g.s3ARN(bucket + "/" + key)}, nil
}

// deleteRequest is the body of DeleteObjects.
type deleteRequest struct {
	Objects []struct {
		Key       string `xml:"Key"`
		VersionID string `xml:"VersionId"`
	} `xml:"Object"`
}

// maxDeleteObjects is S3's limit of keys per DeleteObjects request.
const maxDeleteObjects = 1000

// s3DeleteObjects checks s3:DeleteObject (s3:DeleteObjectVersion with a
// version) on every key of a DeleteObjects request, as S3 does.
func (g *Gateway) s3DeleteObjects(bucketARN string, body []byte, common map[string][]string) (string, []check, *s3Error) {
	var req deleteRequest
	dec := xml.NewDecoder(strings.NewReader(string(body)))
	if err := dec.Decode(&req); err != nil && err != io.EOF {
		return "DeleteObjects", nil, &s3Error{status: http.StatusBadRequest, code: "MalformedXML",
			msg: "The XML you provided was not well-formed or did not validate against our published schema"}
	}
	if len(req.Objects) == 0 || len(req.Objects) > maxDeleteObjects {
		return "DeleteObjects", nil, &s3Error{status: http.StatusBadRequest, code: "MalformedXML",
			msg: "The XML you provided was not well-formed or did not validate against our published schema"}
	}
	checks := make([]check, 0, len(req.Objects))
	for _, o := range req.Objects {
		action := "s3:DeleteObject"
		extra := common
		if o.VersionID != "" {
			action = "s3:DeleteObjectVersion"
			extra = cloneKeys(common)
			extra["s3:versionid"] = []string{o.VersionID}
		}
		checks = append(checks, check{action: action, resource: bucketARN + "/" + o.Key, extra: extra})
	}
	return "DeleteObjects", checks, nil
}
