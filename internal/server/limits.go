package server

import (
	"context"
	"fmt"
	"log"
	"net"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"golang.org/x/net/netutil"

	"github.com/podid/podid/internal/awsproto"
)

// Limits on untrusted input at the edge (docs/security.md, "Limits on
// untrusted input"). Every request is untrusted until its signature is
// verified, and the signature covers the body, so bodies are read before
// authentication: what they may hold is bounded here.
const (
	// DefaultMaxInflightBodyBytes bounds the request bodies the edge holds
	// at once, over all connections.
	DefaultMaxInflightBodyBytes = 64 << 20
	// maxLoggedInput bounds a client-supplied value in a log line.
	maxLoggedInput = 256
)

// Names of limits in podid_api_limit_refusals_total.
const (
	limitBodySize     = "body_size"
	limitBodyInflight = "body_inflight"
	limitUnsigned     = "unsigned"
	limitAuthHeader   = "auth_header"
)

// Prechecker is implemented by a Verifier that can check a request's
// authorization data (its shape, duplicated headers, scope and signing
// time) before the body is read, so that malformed or stale requests are
// refused without reading their bodies.
type Prechecker interface {
	Precheck(r *http.Request) error
}

// bodyBudget is the total of request-body bytes the edge may hold at once.
// A request reserves its Content-Length (the per-request limit when the
// length is unknown) before reading and gives it back when answered; a
// request that does not fit is refused at once rather than queued, so a
// flood of slow bodies cannot hold more than the budget.
type bodyBudget struct {
	limit int64
	used  atomic.Int64
}

func (b *bodyBudget) acquire(n int64) bool {
	if n <= 0 {
		return true
	}
	for {
		u := b.used.Load()
		if u+n > b.limit {
			return false
		}
		if b.used.CompareAndSwap(u, u+n) {
			return true
		}
	}
}

func (b *bodyBudget) release(n int64) {
	if n > 0 {
		b.used.Add(-n)
	}
}

// reservation is how many body bytes a request may need: its declared
// length, or the per-request limit when it declares none.
func reservation(r *http.Request, limit int64) int64 {
	if r.Body == nil || r.Body == http.NoBody {
		return 0
	}
	if r.ContentLength >= 0 {
		return min(r.ContentLength, limit)
	}
	return limit
}

func errBodyTooLarge(limit int64) *awsproto.Error {
	return awsproto.Errorf(http.StatusRequestEntityTooLarge, "RequestEntityTooLarge", "Request body is larger than %d bytes", limit)
}

// errBusy answers a request refused because the edge already holds its
// budget of request bodies: 503, retryable, in the protocol's own words.
func errBusy(proto protocol) *awsproto.Error {
	if proto == protoJSON {
		return awsproto.Errorf(http.StatusServiceUnavailable, "ServiceUnavailableException", "The service is busy; retry the request.")
	}
	return &awsproto.Error{Code: "ServiceUnavailable", Message: "The request has failed due to a temporary failure of the server.", Status: http.StatusServiceUnavailable, Sender: false}
}

// clip bounds a client-supplied value for a log line: at most
// maxLoggedInput bytes, cut on a rune boundary, with a marker giving the
// full length.
func clip(s string) string {
	if len(s) <= maxLoggedInput {
		return s
	}
	cut := maxLoggedInput
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…(" + strconv.Itoa(len(s)) + " bytes)"
}

// recoverPanic turns a panic in a handler into a 500 InternalFailure in the
// request's protocol and one log line (no stack: a panic must never be a
// way for a client to fill the log). http.ErrAbortHandler is passed on.
func (e *Edge) recoverPanic(ctx context.Context, w *statusRecorder, rt *route, reqID string) {
	v := recover()
	if v == nil {
		return
	}
	if v == http.ErrAbortHandler {
		panic(v)
	}
	e.cfg.Logger.ErrorContext(ctx, "request handler panicked", "requestId", reqID, "service", e.labels.service(rt.service), "panic", clip(fmt.Sprint(v)))
	if !w.wroteHeader {
		e.writeError(w, *rt, reqID, awsproto.Internal("InternalFailure", fmt.Errorf("panic: %v", v)))
	}
}

// Defaults of the HTTP server's limits (flags of `podid server` and `podid
// dev`; docs/security.md).
const (
	DefaultMaxConnections    = 1024
	DefaultReadHeaderTimeout = 10 * time.Second
	DefaultReadTimeout       = 30 * time.Second
	DefaultIdleTimeout       = 120 * time.Second
	// DefaultMaxHeaderBytes bounds a request's header block.
	DefaultMaxHeaderBytes = 64 << 10
)

// Limits are the bounds the server puts on untrusted input before any
// request is authenticated. The zero value of a field means its default.
type Limits struct {
	// MaxBodyBytes bounds one request's body.
	MaxBodyBytes int64
	// MaxInflightBodyBytes bounds the bodies held at once.
	MaxInflightBodyBytes int64
	// MaxConnections bounds the open connections; further connections wait
	// in the kernel's accept queue.
	MaxConnections int
	// ReadHeaderTimeout, ReadTimeout and IdleTimeout bound how long a
	// connection may take to send its headers, its whole request, and how
	// long it may stay idle between requests.
	ReadHeaderTimeout, ReadTimeout, IdleTimeout time.Duration
}

// WithDefaults returns l with every zero field set to its default.
func (l Limits) WithDefaults() Limits {
	if l.MaxBodyBytes <= 0 {
		l.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if l.MaxInflightBodyBytes <= 0 {
		l.MaxInflightBodyBytes = DefaultMaxInflightBodyBytes
	}
	if l.MaxConnections <= 0 {
		l.MaxConnections = DefaultMaxConnections
	}
	if l.ReadHeaderTimeout <= 0 {
		l.ReadHeaderTimeout = DefaultReadHeaderTimeout
	}
	if l.ReadTimeout <= 0 {
		l.ReadTimeout = DefaultReadTimeout
	}
	if l.IdleTimeout <= 0 {
		l.IdleTimeout = DefaultIdleTimeout
	}
	return l
}

// HTTPServer returns an http.Server for h with the limits' timeouts. No
// write timeout: the association change feed is a long-lived response.
func (l Limits) HTTPServer(h http.Handler, errorLog *log.Logger) *http.Server {
	l = l.WithDefaults()
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: l.ReadHeaderTimeout,
		ReadTimeout:       l.ReadTimeout,
		IdleTimeout:       l.IdleTimeout,
		MaxHeaderBytes:    DefaultMaxHeaderBytes,
		ErrorLog:          errorLog,
	}
}

// Listener bounds ln to MaxConnections open connections at once.
func (l Limits) Listener(ln net.Listener) net.Listener {
	return netutil.LimitListener(ln, l.WithDefaults().MaxConnections)
}
