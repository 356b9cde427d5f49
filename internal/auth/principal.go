// Package auth holds the identity of an authenticated caller and decides
// whether that caller may perform an action, using package policy.
package auth

import (
	"context"
	"time"

	"github.com/podid/podid/internal/arn"
)

// PrincipalType is the kind of IAM identity that signed a request.
type PrincipalType string

// Principal types.
const (
	Root        PrincipalType = "root"
	User        PrincipalType = "user"
	AssumedRole PrincipalType = "assumed-role"
	// FederatedUser is the caller of credentials from GetSessionToken-like
	// flows that keep the long-term identity (GetSessionToken keeps the
	// user's own type; this is reserved for GetFederationToken later).
	FederatedUser PrincipalType = "federated-user"
)

// Principal is an authenticated caller, as established by SigV4 verification.
type Principal struct {
	Type      PrincipalType
	AccountID string
	// ARN is the caller's ARN as GetCallerIdentity prints it
	// (arn:aws:iam::ACCT:root, arn:aws:iam::ACCT:user/PATH/NAME,
	// arn:aws:sts::ACCT:assumed-role/ROLE/SESSION).
	ARN string
	// UserID is GetCallerIdentity's UserId (the account ID for root, AIDA…
	// for users, AROA…:SESSION for assumed roles).
	UserID      string
	AccessKeyID string
	// Name is the user name, or the role name for assumed roles.
	Name string
	// Session is set for temporary credentials.
	Session *Session
}

// IsRoot reports whether the caller is the account root.
func (p *Principal) IsRoot() bool { return p.Type == Root }

// Session describes temporary credentials: what they were issued for and
// what travels with them. It is what the session token envelope carries.
type Session struct {
	// RoleARN, RoleID and RoleName are set for assumed-role sessions.
	RoleARN  string `json:"ra,omitempty"`
	RoleID   string `json:"ri,omitempty"`
	RoleName string `json:"rn,omitempty"`
	// Account is the account of the session's principal (the role's
	// account for role sessions) when it is not the server's primary
	// account; empty for the primary account and in tokens minted before
	// it was recorded (AccountOr).
	Account string `json:"ac,omitempty"`
	// UserName is set for GetSessionToken sessions of IAM users
	// ("" with Type root for the root's session tokens).
	UserName    string        `json:"un,omitempty"`
	Type        PrincipalType `json:"t"`
	SessionName string        `json:"sn,omitempty"`
	// Tags are the session tags (principal tags of the session).
	Tags map[string]string `json:"tg,omitempty"`
	// TransitiveTagKeys are the tag keys that pass on when this session
	// assumes another role (lowercase-insensitive in AWS; stored as given).
	TransitiveTagKeys []string `json:"tt,omitempty"`
	// Policies are session policy documents (inline Policy and the
	// documents of PolicyArns at issuance time), intersected with the
	// role's permissions.
	Policies       []string  `json:"sp,omitempty"`
	SourceIdentity string    `json:"si,omitempty"`
	Issued         time.Time `json:"ia"`
	Expires        time.Time `json:"ex"`
	// Chained is true when this session was created by a role session
	// assuming a role (role chaining caps the duration at one hour).
	Chained bool `json:"ch,omitempty"`
	// SourceARN is the ARN of the principal that created this session.
	SourceARN string `json:"sa,omitempty"`
}

// AccountOr returns the session's account: Account, else the account in
// RoleARN, else primary (tokens from before sessions carried it).
func (s *Session) AccountOr(primary string) string {
	if s.Account != "" {
		return s.Account
	}
	if a, err := arn.Parse(s.RoleARN); err == nil && a.AccountID != "" {
		return a.AccountID
	}
	return primary
}

type principalKey struct{}

// WithPrincipal returns a context carrying the authenticated caller.
func WithPrincipal(ctx context.Context, p *Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// PrincipalFrom returns the authenticated caller, or nil for an unsigned request.
func PrincipalFrom(ctx context.Context) *Principal {
	p, _ := ctx.Value(principalKey{}).(*Principal)
	return p
}

type callerSlotKey struct{}

// WithCallerSlot returns a context in which a handler that authenticates
// its callers itself (the web console, by its session cookie) can report
// who the caller was (ReportCaller), and the slot the edge reads it from
// for its access log once the handler returns.
func WithCallerSlot(ctx context.Context) (context.Context, **Principal) {
	slot := new(*Principal)
	return context.WithValue(ctx, callerSlotKey{}, slot), slot
}

// ReportCaller records p as the request's authenticated caller when ctx
// carries a slot (WithCallerSlot); otherwise it does nothing.
func ReportCaller(ctx context.Context, p *Principal) {
	if slot, ok := ctx.Value(callerSlotKey{}).(**Principal); ok {
		*slot = p
	}
}
