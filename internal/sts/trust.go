package sts

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/podid/podid/internal/auth"
	"github.com/podid/podid/internal/awsproto"
	"github.com/podid/podid/internal/policy"
	"github.com/podid/podid/internal/store"
)

// setTrustKeys sets the condition keys of a role assumption on pc, over
// the caller's global keys: the request's tags (aws:RequestTag/*,
// aws:TagKeys, sts:TransitiveTagKeys), sts:ExternalId,
// sts:RoleSessionName, sts:SourceIdentity and the request's extra keys,
// which win. Each key replaces what pc held for it.
func setTrustKeys(pc *policy.Context, r *assumeRequest, tags *sessionTags, si string) {
	pc.Set("sts:RoleSessionName", r.sessionName)
	if len(tags.Request) > 0 {
		pc.Delete("aws:TagKeys")
	}
	for _, t := range tags.Request {
		pc.Set("aws:RequestTag/"+t.Key, t.Value)
		pc.Add("aws:TagKeys", t.Key)
	}
	if len(r.transitive) > 0 {
		pc.Set("sts:TransitiveTagKeys", r.transitive...)
	}
	if r.externalID != "" {
		pc.Set("sts:ExternalId", r.externalID)
	}
	if si != "" {
		pc.Set("sts:SourceIdentity", si)
	}
	for k, v := range r.extra {
		pc.Set(k, v...)
	}
}

// checkTrust evaluates each of actions on the role: against the role's
// trust policy and, for IAM callers, the caller's identity policies,
// permissions boundary and session policies, with AWS's rule that a trust
// policy must allow the caller explicitly (naming the account alone
// delegates to the caller's identity policies), and that a caller of
// another account than the role's also needs its identity policies'
// Allow. The first action denied
// gives AccessDenied: for IAM callers with the policy engine's sentence
// (bare for a trust-policy refusal, with the reason for an identity,
// boundary or session policy), otherwise the request's own.
func (s *Service) checkTrust(ctx context.Context, r *assumeRequest, role *store.Role, actions []string, tags *sessionTags, si string) error {
	if r.caller != nil && r.caller.IsRoot() {
		return accessDenied("Roles may not be assumed by root accounts.")
	}
	trust, err := s.engine.Compile(role.AssumeRolePolicy)
	if err != nil {
		// A stored trust policy that no longer compiles allows nobody.
		return r.denied(actions[0])
	}
	set := &policy.Set{Resource: trust, ResourceIsTrust: true}
	pc, _ := s.ctxPool.Get().(*policy.Context)
	if pc == nil {
		pc = policy.NewContext()
	}
	defer func() {
		pc.Reset()
		s.ctxPool.Put(pc)
	}()
	var principal policy.Principal
	switch {
	case r.caller != nil:
		ps, err := s.authz.PolicySet(ctx, r.caller)
		if err != nil {
			return awsproto.Internal("InternalFailure", fmt.Errorf("sts: policies of %s: %w", r.caller.ARN, err))
		}
		set.Identity, set.Boundary, set.Session = ps.Identity, ps.Boundary, ps.Session
		s.authz.FillContext(ctx, pc, r.caller, ps)
		principal = auth.PolicyPrincipal(r.caller)
	case r.service != "":
		principal = policy.Principal{Type: policy.PrincipalService, ARN: r.service}
		s.serviceContext(pc, r.service)
	default:
		principal = policy.Principal{Type: policy.PrincipalWebIdentity, ARN: r.federated}
		s.serviceContext(pc, "")
	}
	setTrustKeys(pc, r, tags, si)
	for _, action := range actions {
		// The role's account owns the resource: a caller of another
		// account needs both the trust policy's Allow and its own
		// identity policies' (AWS's cross-account evaluation), whatever
		// the trust policy names.
		req := &policy.Request{Principal: principal, Action: action, Resource: role.ARN, Context: pc}
		if r.caller != nil {
			req.ResourceAccount = role.Account
		}
		if policy.Evaluate(set, req).Allowed() {
			continue
		}
		if r.caller == nil || r.deniedMessage != "" {
			return r.denied(action)
		}
		return accessDenied(policy.Explain(set, req).DenialMessage(r.caller.ARN, action, role.ARN))
	}
	return nil
}

// serviceContext sets the global keys of a request made by an AWS service
// principal (service != "") or a web identity.
func (s *Service) serviceContext(pc *policy.Context, service string) {
	now := s.now().UTC()
	pc.Set("aws:CurrentTime", now.Format(time.RFC3339))
	pc.Set("aws:EpochTime", strconv.FormatInt(now.Unix(), 10))
	pc.Set("aws:SecureTransport", "true")
	if service != "" {
		pc.Set("aws:PrincipalServiceName", service)
		pc.Set("aws:PrincipalIsAWSService", "true")
	} else {
		pc.Set("aws:PrincipalIsAWSService", "false")
	}
}

// validateSessionPolicy checks an inline session policy with the policy
// engine's rules for session policies.
func (s *Service) validateSessionPolicy(doc string) error {
	err := policy.Validate(doc, policy.KindSession)
	if err == nil {
		return nil
	}
	var ve *policy.ValidationError
	if errors.As(err, &ve) {
		status := http.StatusBadRequest
		return awsproto.Errorf(status, ve.Code, "%s", ve.Message)
	}
	return awsproto.Errorf(http.StatusBadRequest, "MalformedPolicyDocument", "Syntax errors in policy.")
}
