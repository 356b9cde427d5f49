package agent

import (
	"context"
	"crypto/sha256"
	"errors"
	"net/http"
	"strings"
	"time"
	"unsafe"
)

// credentialsPath is the only path the credential listeners serve.
const credentialsPath = "/v1/credentials"

// maxEchoedHost bounds the Host value echoed in a 403.
const maxEchoedHost = 256

var (
	jsonContentType = []string{"application/json"}
	textContentType = []string{"text/plain; charset=utf-8"}
	nosniff         = []string{"nosniff"}
)

// ServeHTTP answers GET /v1/credentials (any method, as the official agent
// does). Other paths get 404.
func (a *Agent) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != credentialsPath {
		http.NotFound(w, r)
		return
	}
	start := time.Now()
	o, code := a.serveCredentials(w, r, start)
	a.metrics.requests[o].Observe(time.Since(start).Seconds())
	a.metrics.response(code)
}

// serveCredentials answers one request; start is when it arrived (the
// clock is read as rarely as possible: on some virtual machines each read
// is a system call).
func (a *Agent) serveCredentials(w http.ResponseWriter, r *http.Request, start time.Time) (outcome, int) {
	host := stripPort(r.Host)
	if !a.hostAllowed(host) {
		a.log.Debug("refused request: Host not allowed", "remote", r.RemoteAddr)
		return outcomeRejected, writeText(w, http.StatusForbidden, a.deniedPrefix+truncate(host, maxEchoedHost))
	}
	var tok string
	if v := r.Header["Authorization"]; len(v) > 1 {
		// Which copy would be the pod's token is anyone's guess: refuse.
		return outcomeRejected, writeText(w, http.StatusBadRequest, "Service account token cannot be parsed: the request has more than one Authorization header")
	} else if len(v) == 1 {
		tok = v[0]
	}
	if tok == "" {
		return outcomeRejected, writeText(w, http.StatusBadRequest, "Service account token cannot be empty")
	}
	if len(tok) > MaxTokenBytes {
		return outcomeRejected, writeText(w, http.StatusBadRequest, "Service account token cannot be parsed: token is too large")
	}

	// Hit path: a token already exchanged successfully, found by a keyed
	// 64-bit hash and compared whole, in constant time.
	now := start
	if !a.realClock {
		now = a.cfg.Now()
	}
	if cs := a.cache.lookupToken(tok, now); cs != nil {
		a.metrics.hits.Inc()
		writeCreds(w, cs)
		return outcomeHit, http.StatusOK
	}
	// The SHA-256 index: a token whose fast key collides with another's.
	h := tokenHash(sha256.Sum256(unsafe.Slice(unsafe.StringData(tok), len(tok))))
	if cs := a.cache.lookup(&h, now); cs != nil {
		a.metrics.hits.Inc()
		writeCreds(w, cs)
		return outcomeHit, http.StatusOK
	}

	// EKS Auth refused this exact token a moment ago: the same answer,
	// as cheaply as a hit, without asking again.
	if ue, ok := a.cache.neg.get(&h, now); ok {
		return outcomeError, writeText(w, ue.Status, ue.Error())
	}

	cl, err := parseToken(tok)
	if err != nil {
		a.log.Debug("refused request: token not a JWT", "remote", r.RemoteAddr, "error", err)
		return outcomeRejected, writeText(w, http.StatusBadRequest, "Service account token cannot be parsed: "+err.Error())
	}
	if err := cl.validAt(now); err != nil {
		a.log.Debug("refused request: token time claims", "remote", r.RemoteAddr, "error", err)
		return outcomeRejected, writeText(w, http.StatusBadRequest, "Service account token failed basic claim validations: "+err.Error())
	}
	cs, o, err := a.cache.get(r.Context(), tok, h, cl)
	if err != nil {
		if o == outcomeCanceled {
			// The caller hung up; the answer is best effort. Metrics
			// count it as 499 (client closed request).
			writeText(w, http.StatusServiceUnavailable, "request canceled")
			return o, 499
		}
		status := podStatus(err)
		a.log.Debug("EKS Auth exchange failed", "namespace", truncate(cl.Namespace, 256), "serviceAccount", truncate(cl.ServiceAccount, 256), "status", status, "error", err)
		return o, writeText(w, status, podMessage(err))
	}
	a.log.Debug("served credentials", "outcome", outcomeNames[o], "namespace", cl.Namespace, "serviceAccount", cl.ServiceAccount)
	writeCreds(w, cs)
	return o, http.StatusOK
}

// podStatus is the HTTP status a pod gets for a failed exchange: EKS
// Auth's own, 503 when EKS Auth gave no answer in time (a storm queued
// behind the connection bound, an overloaded server), 500 otherwise.
// Every SDK retries both 500 and 503 (Go v2: 500, 502, 503, 504 and 429;
// JS and botocore: any error); 503 says the failure is temporary and
// not the pod's, and keeps timeouts apart from faults in the agent's
// request metrics. The official agent answers 500 to every network error.
func podStatus(err error) int {
	var ue *upstreamError
	var pe *podSafeError
	switch {
	case errors.As(err, &ue) && ue.Status >= 400 && ue.Status <= 599:
		return ue.Status
	case errors.As(err, &pe) && pe.status != 0:
		return pe.status
	case errors.Is(err, context.DeadlineExceeded):
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// podMessage is what a pod is told about a failed exchange: EKS Auth's
// own answer, or one of the agent's fixed texts. Transport and node
// credential errors name internal addresses (EKS Auth's URL, a proxy, the
// instance metadata service), so pods get only their kind; the detail is
// logged.
func podMessage(err error) string {
	var ue *upstreamError
	var pe *podSafeError
	switch {
	case errors.As(err, &ue):
		return ue.Error()
	case errors.As(err, &pe):
		return pe.public
	case errors.Is(err, errInvalidResponse), errors.Is(err, errShortLived):
		return err.Error() // fixed texts
	case errors.Is(err, context.DeadlineExceeded):
		return "call EKS Auth: no answer before the deadline"
	}
	return "call EKS Auth: the exchange failed"
}

func writeCreds(w http.ResponseWriter, cs *credSet) {
	hdr := w.Header()
	hdr["Content-Type"] = jsonContentType
	hdr["Content-Length"] = cs.contentLength[:]
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(cs.body)
}

// writeText answers like http.Error, which the official agent uses.
func writeText(w http.ResponseWriter, status int, msg string) int {
	hdr := w.Header()
	hdr["Content-Type"] = textContentType
	hdr["X-Content-Type-Options"] = nosniff
	w.WriteHeader(status)
	_, _ = w.Write([]byte(msg + "\n"))
	return status
}

// stripPort removes an optional port and IPv6 brackets from a Host value.
func stripPort(h string) string {
	if strings.HasPrefix(h, "[") {
		if i := strings.IndexByte(h, ']'); i > 0 {
			return h[1:i]
		}
		return h
	}
	if i := strings.IndexByte(h, ':'); i >= 0 && strings.IndexByte(h[i+1:], ':') < 0 {
		return h[:i]
	}
	return h
}

func (a *Agent) hostAllowed(host string) bool {
	for _, h := range a.cfg.AllowedHosts {
		if host == h {
			return true
		}
	}
	return false
}
