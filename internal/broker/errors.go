package broker

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"

	"github.com/podid/podid/internal/awsproto"
	"github.com/podid/podid/internal/eksauth"
	"github.com/podid/podid/internal/policy"
)

// deniedRE reads AWS's AccessDenied sentence: "User: ARN is not
// authorized to perform: ACTION on resource: ARN[ because …| with …]".
var deniedRE = regexp.MustCompile(`User: (\S+) is not authorized to perform: (\S+) on resource: (\S+?)(?:\s|$)`)

// parseDenied returns the caller and action of an AccessDenied message.
func parseDenied(msg string) (caller, action string, ok bool) {
	m := deniedRE.FindStringSubmatch(msg)
	if m == nil {
		return "", "", false
	}
	return m[1], m[2], true
}

// credentialCodes are errors that mean AWS refused the credentials the
// call was signed with.
var credentialCodes = map[string]bool{
	"InvalidClientTokenId": true, "SignatureDoesNotMatch": true, "ExpiredToken": true,
	"ExpiredTokenException": true, "UnrecognizedClientException": true, "IncompleteSignature": true,
	"MissingAuthenticationToken": true, "InvalidAccessKeyId": true, "AuthFailure": true,
}

// refusal turns an AssumeRole failure into the error EKS Auth maps for
// the pod: an *awsproto.Error whose message names the cause. Refusals of
// the broker's own credentials and AWS-side failures are logged and
// answered as 503 (their detail is for the operator, not the pod).
func (b *Broker) refusal(ctx context.Context, h *hop, err error) error {
	role := h.in.RoleARN
	if errors.Is(err, errThrottled) || classify(err) == kindThrottled {
		return awsproto.Errorf(http.StatusBadRequest, "Throttling", "AWS throttled the broker while it assumed role %s; try again later.", role)
	}
	ae, ok := errorInfo(err)
	if !ok {
		b.cfg.Logger.WarnContext(ctx, "broker: AWS STS unreachable", "role", role, "err", err)
		return &awsproto.Error{Code: "ServiceUnavailable", Status: http.StatusServiceUnavailable, Message: "The broker could not reach AWS STS.", Cause: err}
	}
	prefix := "The broker could not assume role " + role + ": "
	switch {
	case ae.code == "AccessDenied" || ae.code == "AccessDeniedException":
		return awsproto.Errorf(http.StatusForbidden, "AccessDenied", "%s%s.", prefix, b.explainDenied(ctx, h, ae.message))
	case ae.code == "PackedPolicyTooLarge":
		return awsproto.Errorf(http.StatusBadRequest, "PackedPolicyTooLarge", "%sAWS found its session tags and session policy too large (%s). Set disableSessionTags on the association or shorten its policy.", prefix, strings.TrimSpace(ae.message))
	case ae.code == "MalformedPolicyDocument":
		return awsproto.Errorf(http.StatusBadRequest, "MalformedPolicyDocument", "%sAWS refused the association's session policy: %s", prefix, ae.message)
	case ae.code == "RegionDisabledException":
		return awsproto.Errorf(http.StatusForbidden, "AccessDenied", "%sSTS is not activated in region %s for the role's account (%s).", prefix, b.region, ae.message)
	case credentialCodes[ae.code] && h.from == nil:
		b.cfg.Logger.ErrorContext(ctx, "broker: AWS refused the broker's own credentials", "code", ae.code, "message", ae.message)
		return &awsproto.Error{Code: "ServiceUnavailable", Status: http.StatusServiceUnavailable, Message: "AWS refused the broker's own credentials.", Cause: fmt.Errorf("%s: %s", ae.code, ae.message)}
	case ae.status >= 500 || classify(err) == kindServer:
		b.cfg.Logger.WarnContext(ctx, "broker: AWS STS failed", "role", role, "code", ae.code, "message", ae.message)
		return &awsproto.Error{Code: "ServiceUnavailable", Status: http.StatusServiceUnavailable, Message: "AWS STS is unavailable.", Cause: err}
	case ae.code == "ValidationError" || ae.code == "InvalidParameterValue":
		return awsproto.Errorf(http.StatusBadRequest, "ValidationError", "%s%s", prefix, ae.message)
	}
	return awsproto.Errorf(http.StatusBadRequest, ae.code, "%s%s", prefix, ae.message)
}

// explainDenied says why STS refused h. It reads the role's trust policy
// (iam:GetRole, when the role is in the broker's account and the broker
// may read it) and evaluates the refused request against it; otherwise it
// goes by the action STS named.
func (b *Broker) explainDenied(ctx context.Context, h *hop, stsMessage string) string {
	caller, action, parsed := parseDenied(stsMessage)
	if !parsed {
		caller = ""
		if h.from != nil {
			caller = h.from.AssumedRoleARN
		} else if id, err := b.Identity(ctx); err == nil {
			caller = id.CallerARN
		}
	}
	req := b.replay(h, caller)
	who := callerName(req.caller)
	if who == "" {
		who = "the broker"
	}
	role, err := b.roleForDiagnosis(ctx, h.in.RoleARN)
	switch {
	case errors.Is(err, ErrRoleNotFound):
		_, acct, _, _ := roleParts(h.in.RoleARN)
		return "the role does not exist in account " + acct
	case err == nil:
		c, cerr := policy.Compile(role.TrustPolicy)
		if cerr != nil {
			return "its trust policy cannot be parsed"
		}
		if ref := evaluate(c, req, b.cfg.Now()); ref != nil {
			return ref.reason + actionHint(ref.action, Use{})
		}
		if parsed {
			return fmt.Sprintf("its trust policy allows it, but AWS refused %s %s on it: %s's identity-based policies (or a permissions boundary or SCP) must allow %s on the role", who, action, who, action)
		}
	}
	switch action {
	case "sts:AssumeRole":
		return fmt.Sprintf("the role does not exist, or its trust policy does not allow %s to perform sts:AssumeRole", who)
	case "sts:TagSession", "sts:SetSourceIdentity":
		return fmt.Sprintf("its trust policy does not allow %s to perform %s%s", who, action, actionHint(action, Use{}))
	}
	return strings.TrimSuffix(stsMessage, ".")
}

// replay rebuilds the refused request as the trust policy saw it.
func (b *Broker) replay(h *hop, caller string) *assumeReq {
	r := &assumeReq{
		roleARN:        h.in.RoleARN,
		tags:           h.in.Tags,
		transitive:     h.in.TransitiveTagKeys,
		sourceIdentity: h.sourceIdentity,
		externalID:     h.in.ExternalID,
		sessionName:    h.in.SessionName,
	}
	if caller != "" {
		r.caller = policyPrincipal(Principal{AWS: caller})
	}
	if h.from != nil {
		if s, ok := b.sessionOf(h.from.AccessKeyID); ok {
			r.principalTags = s.tags
			r.tags = append(append([]eksauth.Tag(nil), s.tags...), h.in.Tags...)
			r.sourceIdentity = s.sourceIdentity
		}
	}
	return r
}
