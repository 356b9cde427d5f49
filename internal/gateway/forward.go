package gateway

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// upstream is a configured upstream store.
type upstream struct {
	service string // SigV4 service name: dynamodb or s3
	name    string // for messages: DynamoDB or S3
	base    *url.URL
	creds   aws.Credentials
	region  string
	timeout time.Duration
	rt      http.RoundTripper
	signer  *v4.Signer
	metrics *Metrics // nil: none
}

func newUpstream(service string, u *Upstream, region string, rt http.RoundTripper) (*upstream, error) {
	base, err := url.Parse(u.URL)
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return nil, fmt.Errorf("gateway: %s upstream URL %q must be http(s)://HOST[:PORT][/PATH]", service, u.URL)
	}
	if base.RawQuery != "" || base.Fragment != "" || base.User != nil {
		return nil, fmt.Errorf("gateway: %s upstream URL %q must not carry a query, fragment or user", service, u.URL)
	}
	if u.Credentials.AccessKeyID == "" || u.Credentials.SecretAccessKey == "" {
		return nil, fmt.Errorf("gateway: %s upstream needs an access key ID and a secret access key", service)
	}
	if u.Region != "" {
		region = u.Region
	}
	t := u.Timeout
	if t <= 0 {
		t = DefaultUpstreamTimeout
	}
	name := "DynamoDB"
	if service == "s3" {
		name = "S3"
	}
	return &upstream{
		service: service,
		name:    name,
		base:    base,
		creds: aws.Credentials{
			AccessKeyID: u.Credentials.AccessKeyID, SecretAccessKey: u.Credentials.SecretAccessKey,
			SessionToken: u.Credentials.SessionToken, Source: "podid-gateway",
		},
		region:  region,
		timeout: t,
		rt:      rt,
		signer:  v4.NewSigner(),
	}, nil
}

// hopHeaders are the hop-by-hop headers a proxy does not forward
// (RFC 9110 §7.6.1).
var hopHeaders = map[string]bool{
	"Connection": true, "Proxy-Connection": true, "Keep-Alive": true, "Proxy-Authenticate": true,
	"Proxy-Authorization": true, "Te": true, "Trailer": true, "Transfer-Encoding": true, "Upgrade": true,
}

// clientOnlyHeaders carry the client's signature or are rebuilt for the
// upstream.
var clientOnlyHeaders = map[string]bool{
	"Authorization": true, "X-Amz-Date": true, "X-Amz-Security-Token": true, "X-Amz-Content-Sha256": true,
	"Expect": true, "Host": true, "Content-Length": true, "X-Forwarded-For": true,
}

// presignParams are the query parameters of a presigned request; they
// are dropped before re-signing.
var presignParams = map[string]bool{
	"X-Amz-Algorithm": true, "X-Amz-Credential": true, "X-Amz-Date": true, "X-Amz-Expires": true,
	"X-Amz-SignedHeaders": true, "X-Amz-Signature": true, "X-Amz-Security-Token": true,
}

// stripPresign removes SigV4's own parameters from a raw query, keeping the
// others in their original order and encoding.
func stripPresign(raw string) string {
	if raw == "" || (!strings.Contains(raw, "X-Amz-") && !strings.Contains(raw, "%")) {
		return raw
	}
	parts := strings.Split(raw, "&")
	out := parts[:0]
	for _, p := range parts {
		name, _, _ := strings.Cut(p, "=")
		if n, err := url.QueryUnescape(name); err == nil && presignParams[n] {
			continue
		}
		out = append(out, p)
	}
	return strings.Join(out, "&")
}

// outbound describes a request to forward.
type outbound struct {
	method   string
	rawPath  string // escaped path, as the client sent it (path style)
	rawQuery string
	header   http.Header // the client's headers
	// body is the bytes to send when buffered; stream is used otherwise.
	body   []byte
	stream io.Reader
	length int64 // of stream; -1 unknown
	// payloadHash is the hex SHA-256 of the body or UNSIGNED-PAYLOAD ("":
	// compute it from body).
	payloadHash string
}

// newRequest builds the upstream request and signs it with the upstream's
// credentials.
func (u *upstream) newRequest(ctx context.Context, o *outbound, now time.Time) (*http.Request, error) {
	target := joinURL(u.base, o.rawPath, stripPresign(o.rawQuery))
	req, err := http.NewRequestWithContext(ctx, o.method, target.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("gateway: building the upstream request: %w", err)
	}
	req.URL = target
	connHeaders := connectionTokens(o.header)
	for k, vs := range o.header {
		if hopHeaders[k] || clientOnlyHeaders[k] || connHeaders[strings.ToLower(k)] {
			continue
		}
		req.Header[k] = vs
	}
	switch {
	case o.body != nil:
		b := o.body
		req.Body = io.NopCloser(bytes.NewReader(b))
		req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
		req.ContentLength = int64(len(b))
		if len(b) == 0 {
			req.Body, req.GetBody = http.NoBody, nil
		}
	case o.stream != nil:
		req.Body = io.NopCloser(o.stream)
		req.ContentLength = o.length
		if o.length == 0 {
			req.Body = http.NoBody
		}
	}
	hash := o.payloadHash
	if hash == "" {
		sum := sha256.Sum256(o.body)
		hash = hex.EncodeToString(sum[:])
	}
	if u.service == "s3" {
		req.Header.Set("X-Amz-Content-Sha256", hash)
	}
	err = u.signer.SignHTTP(ctx, u.creds, req, hash, u.service, u.region, now, func(o *v4.SignerOptions) {
		// S3 signs the path as sent (no second encoding, no normalization).
		o.DisableURIPathEscaping = u.service == "s3"
	})
	if err != nil {
		return nil, fmt.Errorf("gateway: signing the upstream request: %w", err)
	}
	return req, nil
}

// connectionTokens returns the (lowercased) header names listed in the
// Connection header, which are hop-by-hop too.
func connectionTokens(h http.Header) map[string]bool {
	vs := h["Connection"]
	if len(vs) == 0 {
		return nil
	}
	m := map[string]bool{}
	for _, v := range vs {
		for _, t := range strings.Split(v, ",") {
			if t = strings.TrimSpace(t); t != "" {
				m[strings.ToLower(t)] = true
			}
		}
	}
	return m
}

// errUpstream is an upstream that could not be reached or did not answer
// in time.
type errUpstream struct {
	name, url string
	timeout   time.Duration // set when the header timeout fired
	cause     error
}

func (e *errUpstream) Error() string {
	if e.timeout > 0 {
		return fmt.Sprintf("podid gateway: the %s upstream at %s did not answer within %s", e.name, e.url, e.timeout)
	}
	return fmt.Sprintf("podid gateway: the %s upstream at %s is unreachable: %v", e.name, e.url, e.cause)
}

func (e *errUpstream) Unwrap() error { return e.cause }

// roundTrip sends req, giving up when the response headers have not come
// within the upstream's timeout. The response body stays tied to ctx (the
// client's request), not to the timeout.
func (u *upstream) roundTrip(ctx context.Context, build func(context.Context) (*http.Request, error)) (*http.Response, error) {
	ctx, cancel := context.WithCancel(ctx)
	var fired atomic.Bool
	timer := time.AfterFunc(u.timeout, func() {
		fired.Store(true)
		cancel()
	})
	req, err := build(ctx)
	if err != nil {
		timer.Stop()
		cancel()
		return nil, err
	}
	start := time.Now()
	resp, err := u.rt.RoundTrip(req)
	timer.Stop()
	if err == nil || fired.Load() || ctx.Err() == nil {
		// A client that went away is no upstream failure.
		u.metrics.upstreamCall(u.service, time.Since(start), err)
	}
	if err != nil {
		cancel()
		if fired.Load() {
			return nil, &errUpstream{name: u.name, url: u.base.String(), timeout: u.timeout, cause: err}
		}
		if ctx.Err() != nil && errors.Is(err, context.Canceled) {
			return nil, err
		}
		return nil, &errUpstream{name: u.name, url: u.base.String(), cause: err}
	}
	if fired.Load() {
		// The timer fired after the headers came but before Stop: the
		// body's context is cancelled, so treat it as a timeout.
		resp.Body.Close()
		cancel()
		return nil, &errUpstream{name: u.name, url: u.base.String(), timeout: u.timeout, cause: context.DeadlineExceeded}
	}
	resp.Body = &cancelBody{ReadCloser: resp.Body, cancel: cancel}
	return resp, nil
}

// cancelBody releases the request's context when the body is closed.
type cancelBody struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (b *cancelBody) Close() error {
	err := b.ReadCloser.Close()
	b.cancel()
	return err
}

// copyResponse streams an upstream response to the client: status,
// end-to-end headers and the body, flushed as it arrives.
func copyResponse(w http.ResponseWriter, resp *http.Response) error {
	h := w.Header()
	conn := connectionTokens(resp.Header)
	for k, vs := range resp.Header {
		if hopHeaders[k] || conn[strings.ToLower(k)] {
			continue
		}
		h[k] = vs
	}
	w.WriteHeader(resp.StatusCode)
	bp := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(bp)
	_, err := io.CopyBuffer(flushWriter{w}, resp.Body, *bp)
	return err
}

var copyBufs = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// flushWriter flushes after each write so that a slow upstream's bytes
// reach the client as they come.
type flushWriter struct{ w http.ResponseWriter }

func (f flushWriter) Write(p []byte) (int, error) {
	n, err := f.w.Write(p)
	if fl, ok := f.w.(http.Flusher); ok {
		fl.Flush()
	}
	return n, err
}
