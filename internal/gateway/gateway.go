// Package gateway is podid's authorizing proxy for data-plane services:
// clients sign DynamoDB and S3 requests with podid's credentials (a pod's
// temporary credentials from EKS Auth, a user's access key), the gateway
// verifies the SigV4 signature, maps the request to the IAM actions,
// resource ARNs and condition keys AWS documents for it, asks the policy
// engine, records the decision, and forwards allowed requests to an
// upstream store (dynalite, DynamoDB Local, MinIO, s3rver, real AWS)
// re-signed with the upstream's own credentials.
//
// The gateway never passes a request it cannot map: unknown operations are
// denied. Denials are answered in the service's own error format with AWS's
// sentence naming the principal, action and resource. In soft mode the
// gateway logs and records what it would deny and forwards anyway.
package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/podid/podid/internal/auth"
	"github.com/podid/podid/internal/awsproto"
	"github.com/podid/podid/internal/store"
)

// Verifier verifies a request's SigV4 signature and returns the caller.
// *awsproto.Verifier (with an *auth.Resolver as its lookup) implements it;
// Verified.Identity must be an *auth.Principal.
type Verifier interface {
	Verify(ctx context.Context, r *http.Request, body []byte) (*awsproto.Verified, error)
}

// Authorizer decides one action on one resource. *auth.Authorizer
// implements it: nil means allowed, *auth.DeniedError a refusal carrying
// AWS's sentence, any other error a failure to decide.
type Authorizer interface {
	Authorize(ctx context.Context, p *auth.Principal, action, resource string, extra map[string][]string) error
}

// Auditor receives one record per decision. *eksauth.Auditor implements
// it (batched store writes, optional JSON lines).
type Auditor interface {
	Record(r *store.AuditRecord)
}

// Credentials are an upstream's static AWS credentials.
type Credentials struct {
	AccessKeyID     string
	SecretAccessKey string
	SessionToken    string
}

// Upstream is the store the gateway forwards one service's requests to.
type Upstream struct {
	// URL is the upstream's base URL (scheme and host, optionally a path
	// prefix), e.g. http://127.0.0.1:8000.
	URL string
	// Credentials sign forwarded requests.
	Credentials Credentials
	// Region is the signing region (the gateway's Region when empty).
	Region string
	// Timeout bounds the wait for the upstream's response headers
	// (DefaultUpstreamTimeout when 0). Bodies stream without a deadline
	// other than the client's.
	Timeout time.Duration
}

// Defaults.
const (
	// DefaultUpstreamTimeout bounds the wait for an upstream's response
	// headers.
	DefaultUpstreamTimeout = 30 * time.Second
	// DefaultDialTimeout bounds connecting to an upstream.
	DefaultDialTimeout = 5 * time.Second
	// DefaultMaxBodyBytes bounds the bodies the gateway reads before
	// forwarding: DynamoDB requests (at most 16 MiB in AWS) and S3 bodies
	// whose SHA-256 is part of the signature. S3 bodies sent with
	// UNSIGNED-PAYLOAD stream without a bound.
	DefaultMaxBodyBytes = 32 << 20
	// DefaultSchemaTTL is how long a DynamoDB table's key schema, read from
	// the upstream for dynamodb:LeadingKeys, is reused.
	DefaultSchemaTTL = 5 * time.Minute
)

// Config configures a Gateway.
type Config struct {
	// Verifier checks signatures. Required.
	Verifier Verifier
	// Authorizer decides. Required.
	Authorizer Authorizer
	// DynamoDB and S3 are the upstreams; a service without one is not
	// served (its requests get the service's own "unknown operation"
	// answer). At least one is required.
	DynamoDB *Upstream
	S3       *Upstream
	// AccountID and Region go into DynamoDB ARNs (the account owns every
	// table) and s3:ResourceAccount. Required.
	AccountID string
	Region    string
	// Partition is the ARN partition ("aws" when empty).
	Partition string
	// Soft logs and records what would be denied and forwards anyway.
	// Authentication failures and unmapped operations are refused in
	// either mode.
	Soft bool
	// Audit receives a record per decision (nil: none).
	Audit Auditor
	// AuditDenialsOnly records only denials (and soft-mode would-be
	// denials), not allowed requests.
	AuditDenialsOnly bool
	// Logger receives decisions (debug), denials (info), soft denials
	// (warn) and upstream failures (error).
	Logger *slog.Logger
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	// MaxBodyBytes bounds buffered bodies (DefaultMaxBodyBytes when 0).
	MaxBodyBytes int64
	// Transport sends upstream requests (a transport built from the
	// upstreams' timeouts when nil).
	Transport http.RoundTripper
	// S3VirtualHostSuffix, when set (e.g. "s3.localhost"), also accepts
	// virtual-hosted-style S3 requests to BUCKET.SUFFIX; they are forwarded
	// in path style.
	S3VirtualHostSuffix string
	// SchemaTTL is how long DynamoDB key schemas are cached
	// (DefaultSchemaTTL when 0).
	SchemaTTL time.Duration
	// Metrics counts decisions and times upstream calls (nil: none).
	Metrics *Metrics
	// Gatherer is served at /metrics (nil: no /metrics).
	Gatherer prometheus.Gatherer
	// StoreReady reports whether the store answers, for /readyz (nil:
	// not checked).
	StoreReady func(context.Context) error
}

// Gateway is the http.Handler of the gateway. It is safe for concurrent
// use.
type Gateway struct {
	cfg     Config
	ddb     *upstream
	s3      *upstream
	schemas *schemaCache
	log     *slog.Logger
	// transport is closed by Close when the gateway built it.
	ownTransport *http.Transport
}

// New returns a Gateway.
func New(cfg Config) (*Gateway, error) {
	switch {
	case cfg.Verifier == nil:
		return nil, errors.New("gateway: Config.Verifier is required")
	case cfg.Authorizer == nil:
		return nil, errors.New("gateway: Config.Authorizer is required")
	case cfg.DynamoDB == nil && cfg.S3 == nil:
		return nil, errors.New("gateway: at least one upstream (DynamoDB or S3) is required")
	case cfg.AccountID == "":
		return nil, errors.New("gateway: Config.AccountID is required")
	case cfg.Region == "":
		return nil, errors.New("gateway: Config.Region is required")
	}
	if cfg.Partition == "" {
		cfg.Partition = "aws"
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if cfg.SchemaTTL <= 0 {
		cfg.SchemaTTL = DefaultSchemaTTL
	}
	cfg.S3VirtualHostSuffix = strings.ToLower(strings.Trim(cfg.S3VirtualHostSuffix, "."))
	g := &Gateway{cfg: cfg, log: cfg.Logger}
	rt := cfg.Transport
	if rt == nil {
		g.ownTransport = newTransport(cfg)
		rt = g.ownTransport
	}
	var err error
	if cfg.DynamoDB != nil {
		if g.ddb, err = newUpstream("dynamodb", cfg.DynamoDB, cfg.Region, rt); err != nil {
			return nil, err
		}
	}
	if cfg.S3 != nil {
		if g.s3, err = newUpstream("s3", cfg.S3, cfg.Region, rt); err != nil {
			return nil, err
		}
	}
	for _, u := range []*upstream{g.ddb, g.s3} {
		if u != nil {
			u.metrics = cfg.Metrics
		}
	}
	g.schemas = newSchemaCache(g.ddb, cfg.SchemaTTL, cfg.Now)
	return g, nil
}

// newTransport returns the upstream transport: connection reuse, a dial
// timeout and the longest of the upstreams' header timeouts (each request
// also carries its own).
func newTransport(cfg Config) *http.Transport {
	hdr := time.Duration(0)
	for _, u := range []*Upstream{cfg.DynamoDB, cfg.S3} {
		if u == nil {
			continue
		}
		t := u.Timeout
		if t <= 0 {
			t = DefaultUpstreamTimeout
		}
		hdr = max(hdr, t)
	}
	return &http.Transport{
		Proxy:                 nil,
		DialContext:           (&net.Dialer{Timeout: DefaultDialTimeout, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:          256,
		MaxIdleConnsPerHost:   128,
		IdleConnTimeout:       90 * time.Second,
		ResponseHeaderTimeout: hdr,
		ExpectContinueTimeout: time.Second,
		DisableCompression:    true,
	}
}

// Close releases idle upstream connections.
func (g *Gateway) Close() {
	if g.ownTransport != nil {
		g.ownTransport.CloseIdleConnections()
	}
}

// ServeHTTP routes a request by the service of its SigV4 credential scope.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if g.serveOps(w, r) {
		return
	}
	reqID := awsproto.NewRequestID()
	ctx := awsproto.WithRequestID(r.Context(), reqID)
	r = r.WithContext(ctx)
	svc, _, signed := awsproto.ScopeOf(r)
	if !signed {
		svc = guessService(r)
	}
	switch svc {
	case "dynamodb":
		if g.ddb == nil {
			writeDDBError(w, reqID, &ddbError{status: http.StatusBadRequest, typ: coralService + "UnknownOperationException", msg: "podid gateway: no DynamoDB upstream is configured"})
			return
		}
		g.serveDynamoDB(w, r, reqID, signed)
	case "s3":
		if g.s3 == nil {
			writeS3Error(w, r, reqID, &s3Error{status: http.StatusBadRequest, code: "InvalidRequest", msg: "podid gateway: no S3 upstream is configured"})
			return
		}
		g.serveS3(w, r, reqID, signed)
	default:
		writeDDBError(w, reqID, &ddbError{status: http.StatusBadRequest, typ: coralService + "UnknownOperationException",
			msg: fmt.Sprintf("podid gateway serves the dynamodb and s3 services, not %q", echo(svc))})
	}
}

// guessService routes an unsigned request: DynamoDB requests name their
// operation in X-Amz-Target; everything else is taken for S3 (anonymous
// S3 access).
func guessService(r *http.Request) string {
	if strings.HasPrefix(r.Header.Get("X-Amz-Target"), "DynamoDB_") {
		return "dynamodb"
	}
	return "s3"
}

// check is one authorization question a request raises.
type check struct {
	action   string
	resource string
	extra    map[string][]string
}

// decision is the outcome of a request's checks.
type decision struct {
	checks []check
	// denied is the index of the first denied check, -1 when all allowed.
	denied int
	// message is the denial sentence of checks[denied].
	message string
}

// decide authorizes every check in order and stops at the first denial
// (AWS reports one action per error). A failure to decide is returned as
// an error and never becomes an allow.
func (g *Gateway) decide(ctx context.Context, p *auth.Principal, checks []check) (decision, error) {
	d := decision{checks: checks, denied: -1}
	for i := range checks {
		c := &checks[i]
		err := g.cfg.Authorizer.Authorize(ctx, p, c.action, c.resource, c.extra)
		if err == nil {
			continue
		}
		var de *auth.DeniedError
		if errors.As(err, &de) {
			d.denied = i
			d.message = de.Message
			return d, nil
		}
		return d, fmt.Errorf("gateway: authorize %s on %s: %w", c.action, c.resource, err)
	}
	return d, nil
}

// withRequestInfo puts what policy conditions may test about the request
// into the context (aws:SourceIp, aws:UserAgent, aws:SecureTransport,
// aws:RequestedRegion).
func withRequestInfo(ctx context.Context, r *http.Request, region string) context.Context {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	return auth.WithRequestInfo(ctx, auth.RequestInfo{
		Region:          region,
		SecureTransport: r.TLS != nil,
		SourceIP:        host,
		UserAgent:       r.UserAgent(),
	})
}

// principalOf returns the caller a verification established.
func principalOf(v *awsproto.Verified) (*auth.Principal, error) {
	p, ok := v.Identity.(*auth.Principal)
	if !ok || p == nil {
		return nil, errors.New("gateway: the verifier returned no principal")
	}
	return p, nil
}

// echo makes client input safe to quote in a message: at most 128 bytes of
// printable ASCII.
func echo(s string) string {
	if len(s) > 128 {
		s = s[:128] + "..."
	}
	b := []byte(s)
	for i, c := range b {
		if c < 0x20 || c > 0x7e {
			b[i] = '?'
		}
	}
	return string(b)
}

// joinURL joins an upstream base URL and a raw (escaped) request path.
func joinURL(base *url.URL, rawPath, rawQuery string) *url.URL {
	u := *base
	prefix := strings.TrimSuffix(base.EscapedPath(), "/")
	raw := prefix + rawPath
	if raw == "" {
		raw = "/"
	}
	p, err := url.PathUnescape(raw)
	if err != nil {
		p = raw
	}
	u.Path, u.RawPath = p, raw
	u.RawQuery = rawQuery
	u.Fragment, u.RawFragment = "", ""
	return &u
}
