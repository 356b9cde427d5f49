package auth

import "context"

// RequestInfo is what the server's edge knows about a request that policy
// conditions may test: it becomes aws:RequestedRegion, aws:SecureTransport,
// aws:SourceIp and aws:UserAgent.
type RequestInfo struct {
	// Region is the region of the SigV4 credential scope.
	Region string
	// SecureTransport is true when the request arrived over TLS.
	SecureTransport bool
	// SourceIP is the client's IP address (no port).
	SourceIP string
	// UserAgent is the User-Agent header.
	UserAgent string
}

type requestInfoKey struct{}

// WithRequestInfo returns a context carrying the request's info.
func WithRequestInfo(ctx context.Context, ri RequestInfo) context.Context {
	return context.WithValue(ctx, requestInfoKey{}, ri)
}

// RequestInfoFrom returns the request's info (the zero value when the edge
// set none).
func RequestInfoFrom(ctx context.Context) RequestInfo {
	ri, _ := ctx.Value(requestInfoKey{}).(RequestInfo)
	return ri
}
