package eks

import (
	"context"
	"errors"
	"net/http"
	"sort"

	"github.com/podid/podid/internal/auth"
	"github.com/podid/podid/internal/awsproto"
)

// Service names passed in iam:PassedToService when a role is passed.
const (
	passedToPods = "pods.eks.amazonaws.com"
	passedToEKS  = "eks.amazonaws.com"
)

// authorize checks that the caller may perform action on resource. A
// denial is 403 AccessDeniedException with the authorizer's sentence.
func (s *Service) authorize(ctx context.Context, action, resource string, extra map[string][]string) error {
	p := auth.PrincipalFrom(ctx)
	if p == nil {
		return &Error{AWS: awsproto.Errorf(http.StatusForbidden, CodeAccessDenied, "Missing Authentication Token")}
	}
	err := s.cfg.Authorizer.Authorize(ctx, p, action, resource, extra)
	if err == nil {
		return nil
	}
	var denied *auth.DeniedError
	if errors.As(err, &denied) {
		return &Error{AWS: &awsproto.Error{Code: CodeAccessDenied, Message: denied.Message, Status: http.StatusForbidden, Sender: true}}
	}
	var ae *awsproto.Error
	if errors.As(err, &ae) {
		return err
	}
	return internalf("authorizing %s: %w", action, err)
}

// authorizePassRole checks iam:PassRole on role for service.
func (s *Service) authorizePassRole(ctx context.Context, role, service string) error {
	return s.authorize(ctx, "iam:PassRole", role, map[string][]string{"iam:PassedToService": {service}})
}

// authorizePassTargetRole checks iam:PassRole on an association's target
// role when it is in the caller's own account. A target role of another
// account is not passed by the caller (IAM's PassRole covers roles of the
// caller's account only): it is guarded by its own trust policy, which
// must allow the association's role with the association's external ID,
// and by that role's identity policy.
func (s *Service) authorizePassTargetRole(ctx context.Context, role string) error {
	if p := auth.PrincipalFrom(ctx); p != nil {
		if acct, _, ok := roleARNParts(role); ok && acct != p.AccountID {
			return nil
		}
	}
	return s.authorizePassRole(ctx, role, passedToPods)
}

// tagContext is the request-tag condition context of a tagging request:
// aws:RequestTag/KEY for each tag and aws:TagKeys.
func tagContext(tags map[string]string) map[string][]string {
	if len(tags) == 0 {
		return nil
	}
	out := make(map[string][]string, len(tags)+1)
	keys := make([]string, 0, len(tags))
	for k, v := range tags {
		out["aws:RequestTag/"+k] = []string{v}
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out["aws:TagKeys"] = keys
	return out
}
