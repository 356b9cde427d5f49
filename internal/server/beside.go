package server

import (
	"net/http"
	"time"

	"github.com/podid/podid/internal/auth"
	"github.com/podid/podid/internal/awsproto"
)

// Beside returns h, a handler served on the API's port beside the AWS
// services (the web console), counted in the edge's metrics and written
// to its access log like an API request. Its labels stay bounded: service
// is the constant the caller names (it must not be a registered service's
// signing name, nor "public" or "unknown": Beside panics, as New does on a
// conflicting registration); the operation is what h reports with
// awsproto.SetOperation when it is one of operations, LabelUnknown for
// anything else or for none (a path h does not serve), never the path.
// h may report the caller it authenticated with auth.ReportCaller; the
// access log names it as it names an API caller. Each request gets a
// request ID (awsproto.RequestIDFrom), written to the access log.
func (e *Edge) Beside(service string, operations []string, h http.Handler) http.Handler {
	if service == "" || e.labels.served[service] || service == LabelUnknown {
		panic("server: Beside: service label " + service + " is empty or taken")
	}
	ops := make(map[string]bool, len(operations))
	for _, op := range operations {
		ops[op] = true
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		ctx := awsproto.WithRequestID(r.Context(), awsproto.NewRequestID())
		ctx, operation := awsproto.WithOperationSlot(ctx)
		ctx, caller := auth.WithCallerSlot(ctx)
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		h.ServeHTTP(rec, r.WithContext(ctx))

		op := LabelUnknown
		if ops[*operation] {
			op = *operation
		}
		d := time.Since(start)
		if e.cfg.Metrics != nil {
			e.cfg.Metrics.observe(service, op, rec.status, d)
		}
		if e.cfg.AccessLog {
			if *caller != nil {
				ctx = auth.WithPrincipal(ctx, *caller)
			}
			e.accessLog(ctx, r, service, op, rec.status, d)
		}
	})
}
