package awsproto

import (
	"context"
	"fmt"
	"net/http"
	"slices"
)

// Protocol is the wire protocol of an AWS service.
type Protocol string

// The protocols podid speaks.
const (
	// ProtocolQuery is awsQuery: form-encoded Action and parameters, XML
	// responses (IAM, STS).
	ProtocolQuery Protocol = "awsQuery"
	// ProtocolRestJSON is restJson1: method and path select the
	// operation, JSON bodies (EKS, EKS Auth).
	ProtocolRestJSON Protocol = "restJson1"
)

// QueryHandler serves an awsQuery service: one action with its parameters
// in, a result struct (written as <ActionResult>) out.
type QueryHandler interface {
	HandleQuery(ctx context.Context, action string, p Params) (any, error)
}

// Service describes one AWS service podid serves. It is the only thing the
// edge, the region check and the request metrics know of a service: a new
// service is one more Service in the server's registration list
// (internal/app), built by the service's own Descriptor method.
type Service struct {
	// SigningName is the service in SigV4 credential scopes ("iam",
	// "sts", "eks", "eks-auth"), which routes signed requests; it is also
	// the metrics' service label.
	SigningName string
	Protocol    Protocol
	// Global services (IAM, STS) are signed with whatever region the
	// client is configured with; regional ones only with the server's.
	Global bool
	// Namespace is the XML namespace of an awsQuery service's responses.
	Namespace string
	// Query serves an awsQuery service; Handler a restJson1 service (the
	// body is restored for it after the edge has read and verified it).
	Query   QueryHandler
	Handler http.Handler
	// Operations are the action (awsQuery) or operation (restJson1) names
	// the service serves: the only values of the metrics' action label.
	Operations []string
	// UnsignedActions are awsQuery actions AWS serves without a signature
	// (STS's AssumeRoleWithWebIdentity and AssumeRoleWithSAML).
	UnsignedActions []string
	// UnsignedPaths are net/http ServeMux patterns (paths only) of the
	// unsigned requests that belong to this service: an unsigned request
	// has no credential scope, so its path says whose refusal (or, for
	// UnsignedActions, whose answer) it gets. "/" makes the service the
	// fallback.
	UnsignedPaths []string
	// AnonymousPaths are those of the UnsignedPaths whose unsigned
	// requests the service answers itself (restJson1 only): requests that
	// authenticate by what their body carries, such as podid's agent
	// exchange (a projected service-account token). The handler then sees
	// no caller in the context, only the request information.
	AnonymousPaths []string
}

// Validate checks a descriptor for what the edge relies on.
func (s Service) Validate() error {
	switch {
	case s.SigningName == "":
		return fmt.Errorf("a service needs a signing name")
	case s.Protocol == ProtocolQuery && (s.Query == nil || s.Namespace == ""):
		return fmt.Errorf("awsQuery service %q needs a query handler and a namespace", s.SigningName)
	case s.Protocol == ProtocolRestJSON && s.Handler == nil:
		return fmt.Errorf("restJson1 service %q needs a handler", s.SigningName)
	case s.Protocol != ProtocolQuery && s.Protocol != ProtocolRestJSON:
		return fmt.Errorf("service %q has unknown protocol %q", s.SigningName, s.Protocol)
	case len(s.UnsignedActions) > 0 && s.Protocol != ProtocolQuery:
		return fmt.Errorf("service %q: only awsQuery actions can be unsigned", s.SigningName)
	case len(s.Operations) == 0:
		return fmt.Errorf("service %q lists no operations", s.SigningName)
	case len(s.AnonymousPaths) > 0 && s.Protocol != ProtocolRestJSON:
		return fmt.Errorf("service %q: only restJson1 paths can be anonymous", s.SigningName)
	}
	for _, p := range s.AnonymousPaths {
		if !slices.Contains(s.UnsignedPaths, p) {
			return fmt.Errorf("service %q: anonymous path %q is not one of its unsigned paths", s.SigningName, p)
		}
	}
	return nil
}

// Services is a server's registration list, looked up by signing name.
type Services []Service

// Lookup returns the service signed as name.
func (ss Services) Lookup(name string) (*Service, bool) {
	for i := range ss {
		if ss[i].SigningName == name {
			return &ss[i], true
		}
	}
	return nil, false
}

// AllowRegion reports whether a request for service may be signed with
// region when the server serves served: any region for global services,
// only the served one for regional services (and for services podid does
// not serve, which the edge then refuses by name).
func (ss Services) AllowRegion(served string) func(service, region string) bool {
	return func(service, region string) bool {
		if s, ok := ss.Lookup(service); ok && s.Global {
			return true
		}
		return region == served
	}
}
