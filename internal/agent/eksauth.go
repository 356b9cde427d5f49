package agent

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/podid/podid/internal/arn"
)

// signingName is EKS Auth's SigV4 service name.
const signingName = "eks-auth"

// maxUpstreamBody bounds how much of an EKS Auth response is read.
const maxUpstreamBody = 1 << 20

// minAttemptBudget is the least time left in a call's deadline for which
// another attempt is still worth starting.
const minAttemptBudget = 50 * time.Millisecond

// clusterNamePattern is EKS Auth's model constraint on clusterName.
var clusterNamePattern = regexp.MustCompile(`^[0-9A-Za-z][A-Za-z0-9\-_]*$`)

// callKind says why the agent calls EKS Auth; it labels the upstream
// metrics.
type callKind int

const (
	callRequest callKind = iota // a pod's request missed the cache
	callRefresh                 // background refresh of a cached entry
	callProbe                   // readiness check of EKS Auth reachability
)

func (k callKind) String() string {
	switch k {
	case callRefresh:
		return "refresh"
	case callProbe:
		return "probe"
	default:
		return "request"
	}
}

// assumer exchanges a service-account token for credentials. The EKS Auth
// client implements it; cache tests substitute a function.
type assumer interface {
	assume(ctx context.Context, token string, kind callKind) (*assumeResult, error)
}

// assumeResult is a successful AssumeRoleForPodIdentity answer, reduced to
// what the agent keeps.
type assumeResult struct {
	Namespace       string
	ServiceAccount  string
	AssociationID   string
	AccountID       string
	AccessKeyID     string
	SecretAccessKey string
	SessionToken    string
	Expiration      time.Time
}

// upstreamError is an error answer from EKS Auth. Its text is what the
// official agent sends to the pod; it carries no secret.
type upstreamError struct {
	Status    int
	Code      string
	Message   string
	RequestID string
}

func (e *upstreamError) Error() string {
	fault := "client"
	if e.Status >= 500 {
		fault = "server"
	}
	return fmt.Sprintf("[%s]: (%s): %s, fault: %s", e.RequestID, e.Code, e.Message, fault)
}

// irrecoverable reports whether a refresh that failed with err will keep
// failing, so the entry should be dropped (as the official agent decides).
func irrecoverable(err error) bool {
	var ue *upstreamError
	if !errors.As(err, &ue) {
		return false
	}
	switch ue.Code {
	case "ResourceNotFoundException", "ExpiredTokenException", "InvalidTokenException", "AccessDeniedException":
		return true
	}
	return false
}

// isThrottle reports whether err is EKS Auth (or anything in front of it)
// asking the agent to slow down.
func isThrottle(err error) bool {
	var ue *upstreamError
	if !errors.As(err, &ue) {
		return false
	}
	switch ue.Code {
	case "ThrottlingException", "Throttling", "TooManyRequestsException", "RequestLimitExceeded", "SlowDown":
		return true
	}
	return ue.Status == http.StatusTooManyRequests
}

// retryable reports whether another attempt of the same call may succeed.
func retryable(err error) bool {
	if errors.Is(err, context.Canceled) || errors.Is(err, errInvalidResponse) {
		return false
	}
	var ue *upstreamError
	if errors.As(err, &ue) {
		return ue.Status >= 500 || isThrottle(err) || strings.HasPrefix(ue.Code, "RequestTimeout")
	}
	// Transport failures, per-attempt timeouts, credential retrieval.
	return true
}

// podSafeError is an error whose full text (for logs) may name internal
// addresses; public is what a pod may be told, with status (500 when 0).
type podSafeError struct {
	public string
	status int
	err    error
}

func (e *podSafeError) Error() string { return e.err.Error() }
func (e *podSafeError) Unwrap() error { return e.err }

// errInvalidResponse marks a 200 answer the agent cannot use.
var errInvalidResponse = errors.New("invalid response from EKS Auth")

// eksAuthClient calls AssumeRoleForPodIdentity over restJson1, signed with
// SigV4 by the SDK's signer. It is safe for concurrent use.
type eksAuthClient struct {
	url            string
	region         string
	creds          aws.CredentialsProvider
	signer         *v4.Signer
	http           *http.Client
	attemptTimeout time.Duration
	maxAttempts    int
	userAgent      string
	metrics        *metrics
	// onContact is told about every answer: reached is false for transport
	// failures, 5xx, and a probe whose signature EKS Auth refused.
	onContact func(reached bool, detail string)

	mu             sync.Mutex
	throttledUntil time.Time
	throttleDelay  time.Duration
}

// maxUpstreamConns bounds the connections to EKS Auth (each carries one
// HTTP/1.1 exchange at a time, or many HTTP/2 streams), all of which stay
// in the idle pool between bursts.
const maxUpstreamConns = 64

// newTransport builds the pooled upstream transport: keep-alive sized for
// bursts, HTTP/2 over TLS when the endpoint offers it, a proxy from the
// environment, and connect and handshake limits that fit the call deadline.
func newTransport(roots *x509.CertPool) *http.Transport {
	d := &net.Dialer{Timeout: 500 * time.Millisecond, KeepAlive: 30 * time.Second}
	t := &http.Transport{
		Proxy:               http.ProxyFromEnvironment,
		DialContext:         d.DialContext,
		ForceAttemptHTTP2:   true,
		MaxIdleConns:        128,
		MaxIdleConnsPerHost: maxUpstreamConns,
		// Bounded concurrency: a storm of first requests (thousands of
		// pods starting at once) queues for these connections instead of
		// dialling one per pod and closing all but the idle pool's share
		// afterwards; that churn was a fifth of the agent's CPU and of the
		// server's under a 5,000-pod storm (docs/performance.md).
		MaxConnsPerHost:       maxUpstreamConns,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   time.Second,
		ResponseHeaderTimeout: 0, // bounded by the attempt context
		// Find dead HTTP/2 connections instead of hanging calls on them.
		HTTP2: &http.HTTP2Config{SendPingTimeout: 10 * time.Second, PingTimeout: 2 * time.Second},
	}
	if roots != nil {
		t.TLSClientConfig = &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
	}
	return t
}

func (c *eksAuthClient) assume(ctx context.Context, token string, kind callKind) (*assumeResult, error) {
	var lastErr error
	for attempt := 1; attempt <= c.maxAttempts; attempt++ {
		if err := c.waitThrottle(ctx); err != nil {
			if lastErr != nil {
				return nil, lastErr
			}
			return nil, err
		}
		res, err := c.once(ctx, token, kind)
		if err == nil {
			c.throttleReset()
			return res, nil
		}
		lastErr = err
		if isThrottle(err) {
			c.throttleBump()
		}
		if attempt == c.maxAttempts || !retryable(err) || ctx.Err() != nil {
			return nil, err
		}
		delay := backoff(attempt)
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < delay+minAttemptBudget {
			return nil, err
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, err
		case <-t.C:
		}
	}
	return nil, lastErr
}

// backoff is a full-jitter exponential delay before attempt n+1.
func backoff(n int) time.Duration {
	base := 25 * time.Millisecond << min(n, 6)
	return time.Duration(rand.Int64N(int64(base))) + 5*time.Millisecond
}

// waitThrottle holds a call while EKS Auth has recently throttled the
// agent. If the pause outlasts the call's deadline it fails at once with a
// throttling error instead of spending the caller's time.
func (c *eksAuthClient) waitThrottle(ctx context.Context) error {
	c.mu.Lock()
	until := c.throttledUntil
	c.mu.Unlock()
	wait := time.Until(until)
	if wait <= 0 {
		return nil
	}
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < wait+minAttemptBudget {
		return &upstreamError{Status: http.StatusTooManyRequests, Code: "ThrottlingException", Message: "EKS Auth is throttling this node; the agent is backing off"}
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// throttleBump doubles the agent-wide pause after a throttling answer
// (100 ms up to 5 s, jittered).
func (c *eksAuthClient) throttleBump() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.throttleDelay = min(max(2*c.throttleDelay, 100*time.Millisecond), 5*time.Second)
	d := c.throttleDelay/2 + time.Duration(rand.Int64N(int64(c.throttleDelay/2)+1))
	if u := time.Now().Add(d); u.After(c.throttledUntil) {
		c.throttledUntil = u
	}
	c.metrics.throttles.Inc()
}

func (c *eksAuthClient) throttleReset() {
	c.mu.Lock()
	c.throttleDelay = 0
	c.mu.Unlock()
}

// once makes one signed attempt.
func (c *eksAuthClient) once(ctx context.Context, token string, kind callKind) (res *assumeResult, err error) {
	start := time.Now()
	code := "transport"
	defer func() {
		c.metrics.upstreamCalls.WithLabelValues(kind.String(), upstreamCodeLabel(code)).Inc()
		c.metrics.upstreamLatency.WithLabelValues(kind.String()).Observe(time.Since(start).Seconds())
	}()

	actx, cancel := context.WithTimeout(ctx, c.attemptTimeout)
	defer cancel()

	body := make([]byte, 0, len(token)+12)
	body = append(body, `{"token":"`...)
	body = append(body, token...) // tokenShapeOK: nothing to escape
	body = append(body, `"}`...)
	req, err := http.NewRequestWithContext(actx, http.MethodPost, c.url, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("build EKS Auth request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", c.userAgent)
	creds, err := c.creds.Retrieve(actx)
	if err != nil {
		code = "credentials"
		c.onContact(false, "node credentials unavailable")
		return nil, &podSafeError{public: "retrieve node credentials: unavailable", err: fmt.Errorf("retrieve node credentials: %w", err)}
	}
	sum := sha256.Sum256(body)
	if err := c.signer.SignHTTP(actx, creds, req, hex.EncodeToString(sum[:]), signingName, c.region, time.Now()); err != nil {
		code = "signing"
		return nil, &podSafeError{public: "sign EKS Auth request: failed", err: fmt.Errorf("sign EKS Auth request: %w", err)}
	}
	resp, err := c.http.Do(req)
	if err != nil {
		c.onContact(false, "EKS Auth unreachable")
		switch {
		case ctx.Err() != nil && errors.Is(ctx.Err(), context.DeadlineExceeded):
			msg := "call EKS Auth: no answer before the deadline"
			return nil, &podSafeError{public: msg, status: http.StatusServiceUnavailable, err: errors.New(msg)}
		case ctx.Err() == nil && actx.Err() != nil:
			msg := fmt.Sprintf("call EKS Auth: attempt timed out after %v", c.attemptTimeout)
			return nil, &podSafeError{public: msg, status: http.StatusServiceUnavailable, err: errors.New(msg)}
		}
		return nil, &podSafeError{public: "call EKS Auth: connection failed", err: fmt.Errorf("call EKS Auth: %w", err)}
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxUpstreamBody))
	if err != nil {
		c.onContact(false, "EKS Auth connection failed")
		return nil, &podSafeError{public: "read EKS Auth response: connection failed", err: fmt.Errorf("read EKS Auth response: %w", err)}
	}
	if resp.StatusCode == http.StatusOK {
		code = "OK"
		c.onContact(true, "")
		res, err := decodeAssumeOutput(data)
		if err != nil {
			code = "InvalidResponse"
		}
		return res, err
	}
	ue := decodeUpstreamError(resp, data)
	code = ue.Code
	switch {
	case resp.StatusCode >= 500:
		c.onContact(false, "EKS Auth answered "+ue.Code)
	case kind == callProbe && ue.Code == "AccessDeniedException":
		c.onContact(false, "EKS Auth refused the node's credentials")
	default:
		c.onContact(true, "")
	}
	return nil, ue
}

// decodeUpstreamError reads a restJson1 error the way the SDKs do: the
// X-Amzn-ErrorType header, else the body's __type or code, sanitized to
// the bare shape name.
func decodeUpstreamError(resp *http.Response, data []byte) *upstreamError {
	var body struct {
		Type    string `json:"__type"`
		Code    string `json:"code"`
		Message string `json:"message"`
	}
	_ = json.Unmarshal(data, &body) // a non-JSON body leaves the fields empty
	code := resp.Header.Get("X-Amzn-ErrorType")
	if code == "" {
		code = body.Type
	}
	if code == "" {
		code = body.Code
	}
	code = sanitizeErrorCode(code)
	if code == "" {
		code = http.StatusText(resp.StatusCode)
		if code == "" {
			code = fmt.Sprintf("HTTP%d", resp.StatusCode)
		}
	}
	return &upstreamError{
		Status:    resp.StatusCode,
		Code:      code,
		Message:   truncate(body.Message, 512),
		RequestID: truncate(resp.Header.Get("X-Amzn-RequestId"), 128),
	}
}

// sanitizeErrorCode cuts "Code:uri" and "namespace#Code" down to Code.
func sanitizeErrorCode(s string) string {
	if i := strings.IndexByte(s, ':'); i >= 0 {
		s = s[:i]
	}
	if i := strings.LastIndexByte(s, '#'); i >= 0 {
		s = s[i+1:]
	}
	return truncate(strings.TrimSpace(s), 128)
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// assumeOutput is the part of EKS Auth's answer the agent reads.
type assumeOutput struct {
	Subject struct {
		Namespace      string `json:"namespace"`
		ServiceAccount string `json:"serviceAccount"`
	} `json:"subject"`
	PodIdentityAssociation struct {
		AssociationID string `json:"associationId"`
	} `json:"podIdentityAssociation"`
	AssumedRoleUser struct {
		Arn string `json:"arn"`
	} `json:"assumedRoleUser"`
	Credentials struct {
		AccessKeyID     string          `json:"accessKeyId"`
		SecretAccessKey string          `json:"secretAccessKey"`
		SessionToken    string          `json:"sessionToken"`
		Expiration      json.RawMessage `json:"expiration"`
	} `json:"credentials"`
}

// decodeAssumeOutput decodes a 200 answer. Every member the agent relies on
// must be present; the account comes from the assumed-role ARN.
func decodeAssumeOutput(data []byte) (*assumeResult, error) {
	out, ok := fastAssumeOutput(data)
	if !ok {
		out = new(assumeOutput)
		if err := json.Unmarshal(data, out); err != nil {
			return nil, fmt.Errorf("%w: body is not the expected JSON", errInvalidResponse)
		}
	}
	cr := out.Credentials
	if cr.AccessKeyID == "" || cr.SecretAccessKey == "" || cr.SessionToken == "" {
		return nil, fmt.Errorf("%w: credentials missing", errInvalidResponse)
	}
	exp, ok := epochSeconds(cr.Expiration)
	if !ok {
		return nil, fmt.Errorf("%w: credentials.expiration is not epoch seconds", errInvalidResponse)
	}
	acct, ok := accountFromARN(out.AssumedRoleUser.Arn)
	if !ok {
		return nil, fmt.Errorf("%w: assumedRoleUser.arn is not an ARN", errInvalidResponse)
	}
	if out.PodIdentityAssociation.AssociationID == "" {
		return nil, fmt.Errorf("%w: podIdentityAssociation.associationId missing", errInvalidResponse)
	}
	return &assumeResult{
		Namespace:       out.Subject.Namespace,
		ServiceAccount:  out.Subject.ServiceAccount,
		AssociationID:   out.PodIdentityAssociation.AssociationID,
		AccountID:       acct,
		AccessKeyID:     cr.AccessKeyID,
		SecretAccessKey: cr.SecretAccessKey,
		SessionToken:    cr.SessionToken,
		Expiration:      exp,
	}, nil
}

// epochSeconds parses a restJson1 timestamp: a JSON number of seconds,
// possibly fractional, kept at millisecond precision in UTC.
func epochSeconds(raw json.RawMessage) (time.Time, bool) {
	var f float64
	if len(raw) == 0 || raw[0] == '"' || json.Unmarshal(raw, &f) != nil {
		return time.Time{}, false
	}
	if math.IsNaN(f) || f <= 0 || f > 1e12 {
		return time.Time{}, false
	}
	ms := int64(math.Round(f * 1000))
	return time.UnixMilli(ms).UTC(), true
}

// accountFromARN returns the account field of an ARN
// (arn:partition:service:region:account:resource).
func accountFromARN(s string) (string, bool) {
	a, err := arn.Parse(s)
	if err != nil {
		return "", false
	}
	return a.AccountID, true
}
