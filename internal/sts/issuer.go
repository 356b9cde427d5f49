package sts

import (
	"context"
	"errors"
	"net/http"

	"github.com/podid/podid/internal/auth"
	"github.com/podid/podid/internal/awscreds"
	"github.com/podid/podid/internal/awsproto"
)

// AssumeRoleAs and ChainAssume obtain role credentials on behalf of an
// AWS service principal: podid's local credential issuer
// (eksauth.CredentialIssuer, adapted in package app) assumes an
// association's role as pods.eks.amazonaws.com with AssumeRoleAs and, for a
// target role, chains from that session with ChainAssume. The aws-sts
// credential issuer (package broker) calls real AWS STS instead and does
// not use them.
//
// Errors are *awsproto.Error with STS's codes (AccessDenied,
// ValidationError, MalformedPolicyDocument, PackedPolicyTooLarge); callers
// map them to their own protocol.

// ServiceAssumeInput asks for a role session on behalf of a service.
type ServiceAssumeInput struct {
	// ServicePrincipal is the service assuming the role, as trust policies
	// name it ({"Service": "pods.eks.amazonaws.com"}).
	ServicePrincipal string
	RoleARN          string
	SessionName      string
	// Tags are session tags; the trust policy must then allow
	// sts:TagSession, and sees them as aws:RequestTag/KEY and aws:TagKeys.
	Tags              []Tag
	TransitiveTagKeys []string
	// Policy is an inline session policy (optional).
	Policy string
	// DurationSeconds is the session's lifetime (900..43200; 0 for one
	// hour). It is checked against the role's MaxSessionDuration unless
	// BypassMaxSessionDuration is set (EKS Pod Identity's sessions are not
	// tied to it).
	DurationSeconds          int
	BypassMaxSessionDuration bool
	// ExternalID becomes sts:ExternalId.
	ExternalID string
	// SourceIdentity is set on the session (the trust policy must allow
	// sts:SetSourceIdentity).
	SourceIdentity string
	// SourceARN and SourceAccount are the resource the service acts for
	// (aws:SourceArn, aws:SourceAccount), e.g. the EKS cluster.
	SourceARN     string
	SourceAccount string
}

// ChainAssumeInput asks for a role session from an existing one.
type ChainAssumeInput struct {
	// From are the credentials of the calling role session.
	From *IssuedCredentials
	// RoleARN is the role to assume.
	RoleARN     string
	SessionName string
	// Tags are additional session tags (the calling session's transitive
	// tags pass on by themselves and cannot be overridden).
	Tags              []Tag
	TransitiveTagKeys []string
	Policy            string
	// DurationSeconds is at most 3600 (0 for one hour).
	DurationSeconds int
	ExternalID      string
	SourceIdentity  string
}

// IssuedCredentials are credentials issued by AssumeRoleAs or ChainAssume:
// the one role-session credential type, which EKS Auth's credential issuers
// return as is.
type IssuedCredentials = awscreds.Credentials

func issued(res *assumeResult) *IssuedCredentials {
	out := &IssuedCredentials{
		AccessKeyID:     res.creds.AccessKeyID,
		SecretAccessKey: res.creds.SecretAccessKey,
		SessionToken:    res.creds.SessionToken,
		Expiration:      res.creds.Expiration,
		AssumedRoleARN:  res.user.Arn,
		AssumedRoleID:   res.user.AssumedRoleID,
	}
	if res.packed != nil {
		out.PackedPolicySize = *res.packed
	}
	return out
}

// AssumeRoleAs assumes in.RoleARN as the service principal
// in.ServicePrincipal. The role's trust policy alone decides
// (the service principal has no identity policies), for sts:AssumeRole,
// sts:TagSession when tags are present and sts:SetSourceIdentity when a
// source identity is set.
func (s *Service) AssumeRoleAs(ctx context.Context, in *ServiceAssumeInput) (*IssuedCredentials, error) {
	var v validation
	v.str("servicePrincipal", in.ServicePrincipal, in.ServicePrincipal != "", true, 1, 256, nil, "")
	v.arn("roleArn", in.RoleARN, in.RoleARN != "", true)
	v.str("roleSessionName", in.SessionName, in.SessionName != "", true, 2, 64, reSessionName, patSessionName)
	v.intRange("durationSeconds", in.DurationSeconds, in.DurationSeconds != 0, roleMin, roleMax)
	v.policyText("policy", in.Policy, in.Policy != "", 0)
	v.str("externalId", in.ExternalID, in.ExternalID != "", false, 2, 1224, reExternalID, patExternalID)
	v.str("sourceIdentity", in.SourceIdentity, in.SourceIdentity != "", false, 2, 64, reSourceIdentity, patSourceIdentity)
	validateTags(&v, in.Tags, in.TransitiveTagKeys)
	if err := v.err(); err != nil {
		return nil, err
	}
	extra := map[string][]string{}
	if in.SourceARN != "" {
		extra["aws:SourceArn"] = []string{in.SourceARN}
	}
	if in.SourceAccount != "" {
		extra["aws:SourceAccount"] = []string{in.SourceAccount}
	}
	res, err := s.assume(ctx, &assumeRequest{
		kind:           "sts:AssumeRole",
		service:        in.ServicePrincipal,
		action:         "sts:AssumeRole",
		roleARN:        in.RoleARN,
		sessionName:    in.SessionName,
		duration:       in.DurationSeconds,
		bypassMax:      in.BypassMaxSessionDuration,
		policy:         in.Policy,
		tags:           in.Tags,
		transitive:     in.TransitiveTagKeys,
		externalID:     in.ExternalID,
		sourceIdentity: in.SourceIdentity,
		extra:          extra,
		sourceARN:      in.ServicePrincipal,
	})
	if err != nil {
		return nil, err
	}
	return issued(res), nil
}

// ChainAssume assumes in.RoleARN with the credentials of an existing role
// session (role chaining: at most one hour; the session's transitive tags
// pass on). The calling session is opened from its
// token and assumes the role exactly as AssumeRole called with those
// credentials would.
func (s *Service) ChainAssume(ctx context.Context, in *ChainAssumeInput) (*IssuedCredentials, error) {
	if in.From == nil {
		return nil, validationError("ChainAssume needs the credentials of the calling session.")
	}
	if s.sessions == nil {
		return nil, awsproto.Internal("InternalFailure", errors.New("sts: ChainAssume needs Config.Sessions"))
	}
	sess, _, err := s.sessions.Open(in.From.AccessKeyID, in.From.SessionToken, s.now())
	if err != nil {
		var ae *awsproto.Error
		if errors.As(err, &ae) {
			return nil, ae
		}
		return nil, awsproto.Errorf(http.StatusForbidden, "InvalidClientTokenId", "The security token included in the request is invalid.")
	}
	if sess.Type != auth.AssumedRole {
		return nil, validationError("ChainAssume needs the credentials of a role session.")
	}
	p := auth.RoleSessionPrincipal(s.partition, sess.AccountOr(s.account), in.From.AccessKeyID, sess)
	out, err := s.AssumeRole(auth.WithPrincipal(ctx, p), &AssumeRoleInput{
		RoleArn:           in.RoleARN,
		RoleSessionName:   in.SessionName,
		DurationSeconds:   in.DurationSeconds,
		Policy:            in.Policy,
		Tags:              in.Tags,
		TransitiveTagKeys: in.TransitiveTagKeys,
		ExternalID:        in.ExternalID,
		SourceIdentity:    in.SourceIdentity,
	})
	if err != nil {
		return nil, err
	}
	res := &IssuedCredentials{
		AccessKeyID:     out.Credentials.AccessKeyID,
		SecretAccessKey: out.Credentials.SecretAccessKey,
		SessionToken:    out.Credentials.SessionToken,
		Expiration:      out.Credentials.Expiration,
		AssumedRoleARN:  out.AssumedRoleUser.Arn,
		AssumedRoleID:   out.AssumedRoleUser.AssumedRoleID,
	}
	if out.PackedPolicySize != nil {
		res.PackedPolicySize = *out.PackedPolicySize
	}
	return res, nil
}
