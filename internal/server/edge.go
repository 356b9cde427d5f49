// Package server is podid's HTTP edge: one port for every AWS API podid
// serves. It reads the body under a size limit, verifies SigV4, puts the
// caller and request ID in the context, routes by the service in the
// credential scope (falling back to the path for unsigned requests) and
// writes responses and errors in each service's own protocol.
// It knows nothing of the services' internals.
package server

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/podid/podid/internal/auth"
	"github.com/podid/podid/internal/awsproto"
)

// Verifier verifies a request's SigV4 signature.
type Verifier interface {
	Verify(ctx context.Context, r *http.Request, body []byte) (*awsproto.Verified, error)
}

// Config assembles the edge.
type Config struct {
	Verifier Verifier
	// Services are the AWS services served, one descriptor each (see
	// awsproto.Service): the edge routes, checks and counts requests by
	// these alone. New panics on an invalid or conflicting registration,
	// as http.ServeMux does.
	Services awsproto.Services
	// Public serves unauthenticated paths (OIDC discovery documents and
	// key sets of podid-hosted clusters). PublicMatch says which paths.
	Public      http.Handler
	PublicMatch func(path string) bool
	// Extra serves operational endpoints (/metrics, /healthz, /readyz).
	Extra   map[string]http.Handler
	Logger  *slog.Logger
	Metrics *Metrics
	// MaxBodyBytes bounds one request's body (DefaultMaxBodyBytes when 0).
	MaxBodyBytes int64
	// MaxInflightBodyBytes bounds the bodies held at once over all requests
	// (DefaultMaxInflightBodyBytes when 0); a request that does not fit is
	// refused with 503.
	MaxInflightBodyBytes int64
	// AccessLog writes one structured line per API request at info level:
	// request ID, caller, service, operation, status, latency (never a
	// secret; see accessLog).
	AccessLog bool
	// Region is the server's region; requests to global services are
	// accepted with any region in their scope (clients sign global
	// services with their configured region).
	Region string
}

// Edge is the http.Handler that fronts every service.
type Edge struct {
	cfg    Config
	labels labeler
	budget *bodyBudget
	// unsigned maps an unsigned request's path to its service: a
	// ServeMux of the services' UnsignedPaths patterns.
	unsigned *http.ServeMux
	// byPattern: unsigned pattern → service.
	byPattern map[string]*awsproto.Service
	// anonymous: the unsigned patterns whose service answers them itself
	// (awsproto.Service.AnonymousPaths).
	anonymous map[string]bool
}

// DefaultMaxBodyBytes bounds request bodies. IAM's largest input (a policy
// document of 131,072 characters, URL-encoded) fits well within it.
const DefaultMaxBodyBytes = 1 << 20

// New returns the edge handler.
func New(cfg Config) *Edge {
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.MaxInflightBodyBytes <= 0 {
		cfg.MaxInflightBodyBytes = DefaultMaxInflightBodyBytes
	}
	e := &Edge{cfg: cfg, labels: newLabeler(cfg), budget: &bodyBudget{limit: cfg.MaxInflightBodyBytes},
		unsigned: http.NewServeMux(), byPattern: map[string]*awsproto.Service{}, anonymous: map[string]bool{}}
	seen := map[string]bool{}
	for i := range e.cfg.Services {
		s := &e.cfg.Services[i]
		if err := s.Validate(); err != nil {
			panic("server: " + err.Error())
		}
		if seen[s.SigningName] {
			panic("server: service " + s.SigningName + " registered twice")
		}
		seen[s.SigningName] = true
		for _, p := range s.UnsignedPaths {
			e.unsigned.Handle(p, http.NotFoundHandler()) // panics on a conflicting pattern
			e.byPattern[p] = s
		}
		for _, p := range s.AnonymousPaths {
			e.anonymous[p] = true
		}
	}
	return e
}

// protocol says how a request's errors must be written.
type protocol int

const (
	protoQuery protocol = iota
	protoJSON
)

// route is where a request goes.
type route struct {
	service string // the signing name (iam, sts, eks, eks-auth)
	proto   protocol
	svc     *awsproto.Service // nil: a service podid does not serve
	// anonymous: an unsigned request to one of svc's AnonymousPaths,
	// which the service answers itself.
	anonymous bool
}

func (e *Edge) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	reqID := awsproto.NewRequestID()
	ctx := awsproto.WithRequestID(r.Context(), reqID)
	r = r.WithContext(ctx)
	rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}

	if h, ok := e.cfg.Extra[r.URL.Path]; ok {
		h.ServeHTTP(w, r)
		return
	}
	if e.cfg.PublicMatch != nil && e.cfg.Public != nil && r.Method == http.MethodGet && e.cfg.PublicMatch(r.URL.Path) {
		rec.Header().Set("x-amzn-RequestId", reqID)
		e.cfg.Public.ServeHTTP(rec, r)
		e.observe(ctx, r, servicePublic, "", "", rec.status, start)
		return
	}

	rt := e.classify(r)
	defer e.recoverPanic(ctx, rec, &rt, reqID)
	action := ""
	ctx, operation := awsproto.WithOperationSlot(ctx)
	r = r.WithContext(ctx)
	fail := func(err error) {
		ae := toAWSError(err)
		// A refusal by a limit (503, no cause) is counted in metrics, not
		// logged at error level: a flood must not become a log flood.
		if ae.Status >= 500 && ae.Cause != nil {
			e.cfg.Logger.ErrorContext(ctx, "request failed", "requestId", reqID, "service", clip(rt.service), "action", clip(action), "code", ae.Code, "err", ae.Cause)
		} else {
			e.cfg.Logger.DebugContext(ctx, "request refused", "requestId", reqID, "service", clip(rt.service), "action", clip(action), "code", ae.Code)
		}
		e.writeError(rec, rt, reqID, ae)
		e.observe(ctx, r, rt.service, action, *operation, rec.status, start)
	}

	// Header-first checks: refuse what needs no body to refuse before
	// reading (and holding) the body.
	// Such a refusal closes the connection: net/http would otherwise read
	// (up to 256 KiB of) the unread body before replying.
	if err := e.precheck(r, rt); err != nil {
		rec.Header().Set("Connection", "close")
		fail(err)
		return
	}
	need := reservation(r, e.cfg.MaxBodyBytes)
	if !e.budget.acquire(need) {
		e.cfg.Metrics.limitRefused(limitBodyInflight)
		rec.Header().Set("Connection", "close")
		rec.Header().Set("Retry-After", "1")
		fail(errBusy(rt.proto))
		return
	}
	defer e.budget.release(need)

	body, err := readBody(w, r, e.cfg.MaxBodyBytes)
	if err != nil {
		fail(err)
		return
	}

	var params awsproto.Params
	if rt.proto == protoQuery {
		params, err = queryParams(r, body)
		if err != nil {
			fail(err)
			return
		}
		action = params.Get("Action")
	}

	if awsproto.IsSigned(r) {
		v, err := e.cfg.Verifier.Verify(ctx, r, body)
		if err != nil {
			fail(authError(rt, err))
			return
		}
		p, ok := v.Identity.(*auth.Principal)
		if !ok || p == nil {
			fail(awsproto.Internal("InternalFailure", errors.New("verifier returned no principal")))
			return
		}
		ctx = auth.WithPrincipal(ctx, p)
		ctx = auth.WithRequestInfo(ctx, auth.RequestInfo{
			Region:          v.Region,
			SecureTransport: r.TLS != nil,
			SourceIP:        sourceIP(r),
			UserAgent:       r.UserAgent(),
		})
	} else if rt.anonymous {
		// The service authenticates the request by its body; it still
		// learns where the request came from.
		ctx = auth.WithRequestInfo(ctx, auth.RequestInfo{SecureTransport: r.TLS != nil, SourceIP: sourceIP(r), UserAgent: r.UserAgent()})
	} else if !(rt.svc != nil && slices.Contains(rt.svc.UnsignedActions, action)) {
		fail(missingAuth(rt))
		return
	}
	r = r.WithContext(ctx)

	switch {
	case rt.svc == nil:
		fail(unknownService(rt.service))
		return
	case rt.svc.Protocol == awsproto.ProtocolQuery:
		if action == "" {
			fail(awsproto.Errorf(http.StatusBadRequest, "MissingAction", "Missing Action"))
			return
		}
		result, err := rt.svc.Query.HandleQuery(ctx, action, params)
		if err != nil {
			fail(err)
			return
		}
		awsproto.WriteQueryResponse(rec, action, rt.svc.Namespace, reqID, result)
	default:
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.ContentLength = int64(len(body))
		rec.Header().Set("x-amzn-RequestId", reqID)
		rt.svc.Handler.ServeHTTP(rec, r)
	}
	e.observe(ctx, r, rt.service, action, *operation, rec.status, start)
}

// precheck refuses, from the headers alone, a request the edge would refuse
// after reading its body: an unsigned request to anything but STS's
// unsigned actions, malformed or stale authorization data (when the
// verifier can tell before the body), and a declared length over the
// per-request limit.
func (e *Edge) precheck(r *http.Request, rt route) error {
	if r.ContentLength > e.cfg.MaxBodyBytes {
		e.cfg.Metrics.limitRefused(limitBodySize)
		return errBodyTooLarge(e.cfg.MaxBodyBytes)
	}
	if rt.svc == nil {
		return unknownService(rt.service)
	}
	if !awsproto.IsSigned(r) {
		// Only a service's unsigned actions (awsQuery on "/") may come
		// without a signature; their action is in the body.
		if rt.svc != nil && len(rt.svc.UnsignedActions) > 0 && (r.URL.Path == "/" || r.URL.Path == "") {
			return nil
		}
		if rt.anonymous {
			return nil
		}
		e.cfg.Metrics.limitRefused(limitUnsigned)
		return missingAuth(rt)
	}
	if pc, ok := e.cfg.Verifier.(Prechecker); ok {
		if err := pc.Precheck(r); err != nil {
			e.cfg.Metrics.limitRefused(limitAuthHeader)
			return authError(rt, err)
		}
	}
	return nil
}

// authError puts a SigV4 error in the protocol's words.
func authError(rt route, err error) error {
	if rt.proto == protoJSON {
		var ae *awsproto.Error
		if errors.As(err, &ae) {
			return awsproto.RestJSONAuthError(ae)
		}
	}
	return err
}

func missingAuth(rt route) *awsproto.Error {
	missing := awsproto.Errorf(http.StatusForbidden, "MissingAuthenticationToken", "Request is missing Authentication Token")
	if rt.proto == protoJSON {
		missing = awsproto.RestJSONAuthError(missing)
	}
	return missing
}

func unknownService(s string) *awsproto.Error {
	switch s {
	case "dynamodb", "s3":
		// A pod's data call sent to the server: name where it belongs.
		env := "AWS_ENDPOINT_URL_DYNAMODB"
		if s == "s3" {
			env = "AWS_ENDPOINT_URL_S3"
		}
		return awsproto.Errorf(http.StatusBadRequest, "UnknownOperationException",
			"podid does not serve the service %q on this port: send %s calls to podid's gateway (podid gateway, or --gateway-listen), e.g. podid exec --env %s=GATEWAY-URL -- COMMAND", s, s, env)
	}
	return awsproto.Errorf(http.StatusBadRequest, "UnknownOperationException", "podid does not serve the service %q", s)
}

// classify decides the service and protocol of a request: from the SigV4
// credential scope when signed (a service podid does not serve answers in
// restJson1), else from the path by the services' UnsignedPaths.
func (e *Edge) classify(r *http.Request) route {
	if name, _, ok := awsproto.ScopeOf(r); ok {
		if s, ok := e.cfg.Services.Lookup(name); ok {
			return routeOf(s)
		}
		return route{service: name, proto: protoJSON}
	}
	probe := r
	if r.URL.Path == "" {
		probe = r.Clone(r.Context())
		probe.URL.Path = "/"
	}
	if _, pattern := e.unsigned.Handler(probe); pattern != "" {
		if s, ok := e.byPattern[pattern]; ok {
			rt := routeOf(s)
			rt.anonymous = e.anonymous[pattern]
			return rt
		}
	}
	// A path ServeMux would redirect (unclean): the fallback service's.
	if s, ok := e.byPattern["/"]; ok {
		return routeOf(s)
	}
	return route{service: LabelUnknown, proto: protoJSON}
}

func routeOf(s *awsproto.Service) route {
	rt := route{service: s.SigningName, proto: protoJSON, svc: s}
	if s.Protocol == awsproto.ProtocolQuery {
		rt.proto = protoQuery
	}
	return rt
}

// queryParams returns the awsQuery parameters of a request: the form body
// for POST, the URL query (less SigV4's own parameters) for GET.
func queryParams(r *http.Request, body []byte) (awsproto.Params, error) {
	if r.Method == http.MethodGet {
		if err := awsproto.CheckQueryLimits(r.URL.RawQuery); err != nil {
			return awsproto.Params{}, err
		}
		q := r.URL.Query()
		for k := range q {
			if strings.HasPrefix(k, "X-Amz-") {
				q.Del(k)
			}
		}
		return awsproto.Params{Values: q}, nil
	}
	ct := r.Header.Get("Content-Type")
	if ct != "" && !strings.HasPrefix(strings.ToLower(ct), "application/x-www-form-urlencoded") {
		return awsproto.Params{}, awsproto.Errorf(http.StatusBadRequest, "InvalidParameterValue", "Unsupported Content-Type for an awsQuery request")
	}
	return awsproto.ParseParams(string(body))
}

func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	if r.Body == nil {
		return nil, nil
	}
	if r.ContentLength > limit {
		return nil, errBodyTooLarge(limit)
	}
	// A declared length (within the limit, and reserved in the budget) is
	// read into one buffer of that size (net/http ends the body there):
	// no growth, no copies.
	body := http.MaxBytesReader(w, r.Body, limit)
	var b []byte
	var err error
	if r.ContentLength > 0 {
		b = make([]byte, r.ContentLength)
		_, err = io.ReadFull(body, b)
	} else {
		b, err = io.ReadAll(body)
	}
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, errBodyTooLarge(limit)
		}
		return nil, awsproto.Errorf(http.StatusBadRequest, "IncompleteBody", "The request body could not be read")
	}
	return b, nil
}

func toAWSError(err error) *awsproto.Error {
	var ae *awsproto.Error
	if errors.As(err, &ae) {
		return ae
	}
	return awsproto.Internal("InternalFailure", err)
}

func (e *Edge) writeError(w http.ResponseWriter, rt route, reqID string, ae *awsproto.Error) {
	if rt.proto == protoQuery {
		awsproto.WriteQueryError(w, rt.svc.Namespace, reqID, ae)
		return
	}
	awsproto.WriteJSONError(w, reqID, ae)
}

// observe counts a request with labels bounded to what podid serves and,
// when the access log is on, writes its line.
func (e *Edge) observe(ctx context.Context, r *http.Request, service, action, operation string, status int, start time.Time) {
	d := time.Since(start)
	svc := e.labels.service(service)
	op := e.labels.action(svc, action, operation)
	if e.cfg.Metrics != nil {
		e.cfg.Metrics.observe(svc, op, status, d)
	}
	if e.cfg.AccessLog {
		e.accessLog(ctx, r, svc, op, status, d)
	}
}

type statusRecorder struct {
	http.ResponseWriter
	status      int
	wroteHeader bool
}

func (s *statusRecorder) WriteHeader(code int) {
	if !s.wroteHeader {
		s.status = code
		s.wroteHeader = true
	}
	s.ResponseWriter.WriteHeader(code)
}

// Flush lets streaming handlers (the association change feed) flush.
func (s *statusRecorder) Flush() {
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap exposes the underlying writer to http.ResponseController.
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// sourceIP is the client's address without its port.
func sourceIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
