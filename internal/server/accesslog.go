package server

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/podid/podid/internal/auth"
	"github.com/podid/podid/internal/awsproto"
)

// accessLog writes the access-log line of one request (issue 17): its
// request ID, the caller once authenticated (ARN and access key ID, which
// AWS CloudTrail records too), the service and operation as the metrics
// name them (bounded: never raw input), the status, the latency, and the
// client's address and user agent (clipped). Never the Authorization
// header, a session token, a signature, a query string or a body.
func (e *Edge) accessLog(ctx context.Context, r *http.Request, service, operation string, status int, d time.Duration) {
	attrs := []slog.Attr{
		slog.String("requestId", awsproto.RequestIDFrom(ctx)),
		slog.String("service", service),
		slog.String("operation", operation),
		slog.Int("status", status),
		slog.Float64("latencyMs", float64(d.Microseconds())/1000),
		slog.String("sourceIp", sourceIP(r)),
		slog.String("userAgent", clip(r.UserAgent())),
	}
	if p := auth.PrincipalFrom(ctx); p != nil {
		attrs = append(attrs, slog.String("caller", p.ARN), slog.String("accessKeyId", p.AccessKeyID))
	}
	e.cfg.Logger.LogAttrs(ctx, slog.LevelInfo, "access", attrs...)
}
