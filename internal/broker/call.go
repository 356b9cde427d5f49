package broker

import (
	"context"
	"errors"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/aws/smithy-go"
)

// apiError is an AWS error as the broker sees it.
type apiError struct {
	code    string
	message string
	status  int
}

// errorInfo extracts code, message and HTTP status from an SDK error.
func errorInfo(err error) (apiError, bool) {
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		return apiError{}, false
	}
	out := apiError{code: ae.ErrorCode(), message: ae.ErrorMessage()}
	var hs interface{ HTTPStatusCode() int }
	if errors.As(err, &hs) {
		out.status = hs.HTTPStatusCode()
	}
	return out, true
}

// throttleCodes are the error codes AWS services use for throttling.
var throttleCodes = map[string]bool{
	"Throttling": true, "ThrottlingException": true, "ThrottledException": true,
	"RequestThrottledException": true, "TooManyRequestsException": true,
	"RequestLimitExceeded": true, "RequestThrottled": true, "SlowDown": true,
	"PriorRequestNotComplete": true, "BandwidthLimitExceeded": true,
}

// errKind is how the retry loop treats an error.
type errKind int

const (
	kindNone errKind = iota
	kindThrottled
	kindServer
	kindNetwork
	kindDenied
	kindClient
	kindCanceled
)

func classify(err error) errKind {
	if err == nil {
		return kindNone
	}
	if ae, ok := errorInfo(err); ok {
		switch {
		case throttleCodes[ae.code] || ae.status == http.StatusTooManyRequests:
			return kindThrottled
		case ae.status >= 500 || ae.code == "InternalFailure" || ae.code == "ServiceUnavailable" || ae.code == "InternalError":
			return kindServer
		case ae.code == "AccessDenied" || ae.code == "AccessDeniedException":
			return kindDenied
		}
		return kindClient
	}
	if errors.Is(err, context.Canceled) {
		return kindCanceled
	}
	return kindNetwork
}

func (k errKind) outcome() string {
	switch k {
	case kindNone:
		return outcomeOK
	case kindThrottled:
		return outcomeThrottled
	case kindServer:
		return outcomeServerError
	case kindDenied:
		return outcomeDenied
	case kindClient:
		return outcomeClientError
	}
	return outcomeNetwork
}

// gate holds every AWS call back after a throttling answer: the next call
// may start only at until, which moves out exponentially (with jitter) for
// each throttle in a row and resets on success. All callers share it, so a
// throttled broker slows down as a whole instead of hammering STS.
type gate struct {
	mu     sync.Mutex
	until  time.Time
	streak int
}

// delay returns how long a call starting at now must wait.
func (g *gate) delay(now time.Time) time.Duration {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.until.Sub(now)
}

// throttled records a throttle at now and returns the new wait.
func (g *gate) throttled(now time.Time, base, max time.Duration) time.Duration {
	g.mu.Lock()
	defer g.mu.Unlock()
	d := backoff(g.streak, base, max)
	g.streak++
	if t := now.Add(d); t.After(g.until) {
		g.until = t
	}
	return g.until.Sub(now)
}

func (g *gate) ok() {
	g.mu.Lock()
	g.streak = 0
	g.mu.Unlock()
}

// backoff is base·2^n capped at max, with "equal jitter": a uniformly
// random point in its upper half.
func backoff(n int, base, max time.Duration) time.Duration {
	d := base
	for i := 0; i < n && d < max; i++ {
		d *= 2
	}
	if d > max {
		d = max
	}
	half := d / 2
	return half + time.Duration(rand.Int64N(int64(half)+1))
}

// sleepCtx waits d or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// errThrottled is returned when the broker gives up on a throttled call.
var errThrottled = errors.New("AWS throttled the broker")

// call runs one AWS operation with the broker's retry policy: it waits
// for the throttle gate, retries throttling, server errors and network
// errors up to MaxAttempts with exponential backoff, and records every
// attempt in the metrics. It returns the last error.
func (b *Broker) call(ctx context.Context, op string, fn func(ctx context.Context) error) error {
	var err error
	for attempt := 1; ; attempt++ {
		if d := b.gate.delay(b.cfg.Now()); d > 0 {
			if dl, ok := ctx.Deadline(); ok && time.Until(dl) < d {
				if err != nil {
					return err
				}
				return errThrottled
			}
			b.m.backoff.Add(d.Seconds())
			if serr := b.cfg.Sleep(ctx, d); serr != nil {
				return serr
			}
		}
		actx, cancel := context.WithTimeout(ctx, b.cfg.CallTimeout)
		start := time.Now()
		err = fn(actx)
		cancel()
		kind := classify(err)
		b.m.observe(op, kind.outcome(), time.Since(start))
		var wait time.Duration
		switch kind {
		case kindNone:
			b.gate.ok()
			return nil
		case kindThrottled:
			b.gate.throttled(b.cfg.Now(), b.cfg.BaseBackoff, b.cfg.MaxBackoff)
		case kindServer, kindNetwork:
			wait = backoff(attempt-1, b.cfg.BaseBackoff, b.cfg.MaxBackoff)
		default:
			return err
		}
		if attempt >= b.cfg.MaxAttempts || ctx.Err() != nil {
			return err
		}
		b.m.retries.WithLabelValues(op, kind.outcome()).Inc()
		if wait > 0 {
			if serr := b.cfg.Sleep(ctx, wait); serr != nil {
				return err
			}
		}
	}
}

// isMaxDurationError reports STS's refusal of a DurationSeconds above the
// role's MaxSessionDuration.
func isMaxDurationError(err error) bool {
	ae, ok := errorInfo(err)
	return ok && ae.code == "ValidationError" && strings.Contains(ae.message, "MaxSessionDuration")
}
