// Package policy parses, validates, compiles and evaluates AWS IAM policy
// documents the way IAM and STS do.
//
// The package is pure: it does no I/O and keeps no package-level mutable
// state. A document is parsed once ([Parse]), checked against the rules IAM
// applies when a policy is created or updated ([Validate]), and compiled
// into a form that evaluates without allocating ([Compile],
// [Engine.Compile]). [Evaluate] decides a [Request] against the [Set] of
// policies that applies to it; [Explain] says why.
//
// docs/policy.md describes the semantics and the decision taken for every
// point the AWS documentation leaves open.
package policy

import "strconv"

// Kind says what a policy document is used for. IAM's validation rules and
// size quotas differ per kind.
type Kind int

// Policy kinds.
const (
	// KindManaged is an identity-based customer managed policy.
	KindManaged Kind = iota + 1
	// KindInline is an identity-based inline policy of a user, group or role.
	KindInline
	// KindTrust is a role's trust (assume-role) policy.
	KindTrust
	// KindResource is another resource-based policy.
	KindResource
	// KindSession is a session policy passed to AssumeRole*.
	KindSession
	// KindBoundary is a managed policy used as a permissions boundary.
	KindBoundary
)

// String names the kind.
func (k Kind) String() string {
	switch k {
	case KindManaged:
		return "managed"
	case KindInline:
		return "inline"
	case KindTrust:
		return "trust"
	case KindResource:
		return "resource"
	case KindSession:
		return "session"
	case KindBoundary:
		return "boundary"
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}

// Error codes of a ValidationError.
const (
	// CodeMalformed is IAM's MalformedPolicyDocument (HTTP 400).
	CodeMalformed = "MalformedPolicyDocument"
	// CodeLimitExceeded is IAM's LimitExceeded (HTTP 409).
	CodeLimitExceeded = "LimitExceeded"
)

// ValidationError is a rejected policy document. Code is one of the Code*
// constants and Message is the text AWS sends to the client.
type ValidationError struct {
	Code    string
	Message string
}

// Error implements error.
func (e *ValidationError) Error() string { return e.Code + ": " + e.Message }

// Effect is a statement's Effect.
type Effect uint8

// Statement effects.
const (
	EffectAllow Effect = iota + 1
	EffectDeny
)

// String returns "Allow" or "Deny".
func (e Effect) String() string {
	switch e {
	case EffectAllow:
		return "Allow"
	case EffectDeny:
		return "Deny"
	}
	return "Effect(" + strconv.Itoa(int(e)) + ")"
}

// Result is the outcome of an evaluation.
type Result uint8

// Evaluation results. The zero value is ImplicitDeny.
const (
	// ImplicitDeny: no applicable policy allows the request.
	ImplicitDeny Result = iota
	// Allow: the request is allowed.
	Allow
	// ExplicitDeny: a Deny statement matched.
	ExplicitDeny
)

// String returns "Allow", "ExplicitDeny" or "ImplicitDeny".
func (r Result) String() string {
	switch r {
	case ImplicitDeny:
		return "ImplicitDeny"
	case Allow:
		return "Allow"
	case ExplicitDeny:
		return "ExplicitDeny"
	}
	return "Result(" + strconv.Itoa(int(r)) + ")"
}

// PolicyType names the layer of a Set that decided.
type PolicyType uint8

// Policy types.
const (
	// PolicyTypeNone: no policy decided (for example the root user).
	PolicyTypeNone PolicyType = iota
	// PolicyTypeIdentity: Set.Identity.
	PolicyTypeIdentity
	// PolicyTypeResource: Set.Resource when it is not a trust policy.
	PolicyTypeResource
	// PolicyTypeTrust: Set.Resource when Set.ResourceIsTrust is true.
	PolicyTypeTrust
	// PolicyTypeBoundary: Set.Boundary.
	PolicyTypeBoundary
	// PolicyTypeSession: Set.Session.
	PolicyTypeSession
)

// String names the policy type the way AWS's messages do
// ("identity-based policy", "permissions boundary", …).
func (t PolicyType) String() string {
	switch t {
	case PolicyTypeNone:
		return "none"
	case PolicyTypeIdentity:
		return "identity-based policy"
	case PolicyTypeResource:
		return "resource-based policy"
	case PolicyTypeTrust:
		return "role trust policy"
	case PolicyTypeBoundary:
		return "permissions boundary"
	case PolicyTypeSession:
		return "session policy"
	}
	return "PolicyType(" + strconv.Itoa(int(t)) + ")"
}

// Decision is the outcome of Evaluate.
type Decision struct {
	// Result is Allow, ExplicitDeny or ImplicitDeny.
	Result Result
	// By is the layer that decided: for ExplicitDeny the layer holding the
	// matching Deny; for ImplicitDeny the first layer (in the order
	// documented in docs/policy.md) that did not allow; for Allow the layer
	// whose Allow granted (identity or resource/trust).
	By PolicyType
	// Policy is the index of the deciding document within its layer
	// (Set.Identity or Set.Session; 0 for Resource and Boundary), or -1.
	Policy int
	// Statement is the index of the deciding statement within that
	// document, or -1 (always -1 for ImplicitDeny).
	Statement int
}

// Allowed reports whether the result is Allow.
func (d Decision) Allowed() bool { return d.Result == Allow }

// PrincipalType is the kind of caller a Request is made by.
type PrincipalType uint8

// Principal types.
const (
	// PrincipalAnonymous is an unsigned caller.
	PrincipalAnonymous PrincipalType = iota
	// PrincipalRoot is the account root user.
	PrincipalRoot
	// PrincipalUser is an IAM user (also with GetSessionToken credentials).
	PrincipalUser
	// PrincipalRole is a role acting as itself (no session), as in
	// SimulatePrincipalPolicy on a role ARN.
	PrincipalRole
	// PrincipalAssumedRole is a role session.
	PrincipalAssumedRole
	// PrincipalFederatedUser is a GetFederationToken session.
	PrincipalFederatedUser
	// PrincipalService is an AWS service principal such as
	// pods.eks.amazonaws.com.
	PrincipalService
	// PrincipalWebIdentity is a caller authenticated by a web identity or
	// SAML provider (the Federated principal of AssumeRoleWith*).
	PrincipalWebIdentity
)

// String names the principal type as aws:PrincipalType does where one
// exists.
func (t PrincipalType) String() string {
	switch t {
	case PrincipalAnonymous:
		return "Anonymous"
	case PrincipalRoot:
		return "Account"
	case PrincipalUser:
		return "User"
	case PrincipalRole:
		return "Role"
	case PrincipalAssumedRole:
		return "AssumedRole"
	case PrincipalFederatedUser:
		return "FederatedUser"
	case PrincipalService:
		return "Service"
	case PrincipalWebIdentity:
		return "WebIdentity"
	}
	return "PrincipalType(" + strconv.Itoa(int(t)) + ")"
}

// Principal is the caller of a Request, as Principal and NotPrincipal
// elements see it.
type Principal struct {
	Type PrincipalType
	// ARN is the caller's ARN: arn:aws:iam::ACCT:user/PATH/NAME,
	// arn:aws:iam::ACCT:root, arn:aws:sts::ACCT:assumed-role/ROLE/SESSION,
	// arn:aws:sts::ACCT:federated-user/NAME, arn:aws:iam::ACCT:role/PATH/NAME
	// for PrincipalRole. For PrincipalService it is the service name
	// (pods.eks.amazonaws.com); for PrincipalWebIdentity the provider
	// (an oidc-provider/saml-provider ARN or a well-known name such as
	// accounts.google.com).
	ARN string
	// AccountID is the caller's account (empty for services, web
	// identities and anonymous callers).
	AccountID string
	// RoleARN is the role of an assumed-role session, with its path
	// (arn:aws:iam::ACCT:role/PATH/NAME). A Principal naming this ARN
	// matches the session.
	RoleARN string
	// CanonicalUser is the caller's S3 canonical user ID, if it has one.
	CanonicalUser string
	// UserID is aws:userid (AIDA… for users, AROA…:SESSION for sessions,
	// the account ID for root). Used only by Context.SetPrincipalKeys.
	UserID string
	// UserName is aws:username (IAM users only). Used only by
	// Context.SetPrincipalKeys.
	UserName string
}

// Request is one authorization question: may Principal perform Action on
// Resource, given Context?
type Request struct {
	Principal Principal
	// Action is "service:Name", matched case-insensitively.
	Action string
	// Resource is the resource ARN, or "*" for actions without
	// resource-level permissions.
	Resource string
	// ResourceAccount is the account that owns Resource. Empty means the
	// principal's own account. A different account makes the request
	// cross-account: the resource policy must then allow as well.
	ResourceAccount string
	// Context holds the condition keys; nil is an empty context.
	Context *Context
}

// Set is the policies that apply to one request.
type Set struct {
	// Identity are the caller's identity-based policies (managed and
	// inline, plus group policies for users).
	Identity []*Compiled
	// Resource is the resource-based policy of the target, e.g. a role's
	// trust policy for sts:AssumeRole*; nil when there is none.
	Resource *Compiled
	// ResourceIsTrust marks Resource as a role trust policy: it must then
	// allow the caller explicitly; an identity-policy Allow alone is not
	// enough.
	ResourceIsTrust bool
	// Boundary is the caller's permissions boundary; nil means none.
	Boundary *Compiled
	// Session are the session policies of the caller's session (inline and
	// managed session policies, together a union); empty means none.
	Session []*Compiled
}
