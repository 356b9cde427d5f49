// Package iam implements podid's IAM API: roles, customer managed policies
// and their versions, attachments, inline policies, users, access keys,
// console passwords (login profiles) with the account password policy, and
// OpenID Connect providers, with AWS's identifiers, ARNs, validation rules,
// error codes and messages. CheckConsolePassword verifies a console
// password for the web console's sign-in.
//
// The typed methods (CreateRole, GetPolicyVersion, …) take the caller from
// the context (auth.PrincipalFrom), authorize it for the IAM action on the
// resource's ARN before acting, and run every write in one store.Update
// transaction. wire.go adapts them to the awsQuery protocol.
package iam

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"time"

	"github.com/podid/podid/internal/arn"
	"github.com/podid/podid/internal/auth"
	"github.com/podid/podid/internal/awsproto"
	"github.com/podid/podid/internal/password"
	"github.com/podid/podid/internal/policy"
	"github.com/podid/podid/internal/store"
)

// Authorizer decides whether a caller may perform an IAM action on a
// resource. *auth.Authorizer implements it. A refusal is an
// *auth.DeniedError carrying AWS's sentence.
type Authorizer interface {
	Authorize(ctx context.Context, p *auth.Principal, action, resource string, extra map[string][]string) error
}

// Invalidator is implemented by authorizers that cache what they read
// from the store (*auth.Authorizer). After every successful write the
// service calls Invalidate, so a change of policies, attachments, tags,
// boundaries or entities takes effect on the next request.
type Invalidator interface {
	Invalidate()
}

// Sealer seals secrets at rest. *secrets.Keyring implements it.
type Sealer interface {
	Seal(plaintext, ad []byte) ([]byte, error)
}

// PasswordHasher hashes and verifies console passwords. *password.Hasher
// implements it; see package password for each method's contract.
type PasswordHasher interface {
	Hash(ctx context.Context, password string) (string, error)
	Verify(ctx context.Context, encoded, password string) (bool, error)
	VerifyDummy(ctx context.Context, password string) error
	NeedsRehash(encoded string) bool
}

// Config configures the IAM service.
type Config struct {
	// Store holds every IAM entity.
	Store store.Store
	// AccountID is the 12-digit account every entity belongs to.
	AccountID string
	// Partition is the ARN partition ("aws" when empty).
	Partition string
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	// Authorizer authorizes each operation. Required.
	Authorizer Authorizer
	// Keyring seals the secret access keys CreateAccessKey creates, with the
	// key ID as associated data. Required.
	Keyring Sealer
	// ValidatePolicy replaces the policy engine's document validation
	// (optional; nil runs policy.ValidateWith with this installation's
	// partition, trust-policy quota and principal existence checks). It
	// returns a *policy.ValidationError or *awsproto.Error carrying AWS's
	// code and message.
	ValidatePolicy func(doc string, kind policy.Kind) error
	// TrustPolicyMaxSize is the quota of a role trust policy in
	// non-whitespace characters (policy.TrustPolicyDefaultMaxSize, 2048,
	// when 0; AWS lets accounts raise it to 4096).
	TrustPolicyMaxSize int
	// AccountCreated is the root user's CreateDate in GetUser (optional).
	AccountCreated time.Time
	// Passwords hashes and verifies IAM users' console passwords (nil: a
	// *password.Hasher with password.DefaultParams, as many hashes at once
	// as GOMAXPROCS).
	Passwords PasswordHasher
	// AllowHTTPLoopbackIssuers accepts http:// OIDC provider URLs whose
	// host is a loopback address or "localhost" (local mode: the issuers
	// of podid dev's hosted clusters). AWS accepts only https.
	AllowHTTPLoopbackIssuers bool
}

// Service is the IAM API.
type Service struct {
	store     store.Store
	account   string
	partition string
	now       func() time.Time
	authz     Authorizer
	keyring   Sealer
	validate  func(doc string, kind policy.Kind) error
	trustMax  int
	created   time.Time
	passwords PasswordHasher
	// allowHTTPLoopbackIssuers accepts http loopback OIDC provider URLs.
	allowHTTPLoopbackIssuers bool
	handlers                 map[string]queryHandler
}

// New returns the IAM service.
func New(cfg Config) (*Service, error) {
	switch {
	case cfg.Store == nil:
		return nil, errors.New("iam: Config.Store is required")
	case !arn.IsValidAccountID(cfg.AccountID):
		return nil, fmt.Errorf("iam: Config.AccountID %q is not a 12-digit account ID", cfg.AccountID)
	case cfg.Authorizer == nil:
		return nil, errors.New("iam: Config.Authorizer is required")
	case cfg.Keyring == nil:
		return nil, errors.New("iam: Config.Keyring is required")
	}
	s := &Service{
		store:     cfg.Store,
		account:   cfg.AccountID,
		partition: cfg.Partition,
		now:       cfg.Now,
		authz:     cfg.Authorizer,
		keyring:   cfg.Keyring,
		validate:  cfg.ValidatePolicy,
		trustMax:  cfg.TrustPolicyMaxSize,
		created:   cfg.AccountCreated,
		passwords: cfg.Passwords,

		allowHTTPLoopbackIssuers: cfg.AllowHTTPLoopbackIssuers,
	}
	if s.partition == "" {
		s.partition = "aws"
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.passwords == nil {
		h, err := password.New(password.DefaultParams(), 0)
		if err != nil {
			return nil, fmt.Errorf("iam: password hasher: %w", err)
		}
		s.passwords = h
	}
	s.handlers = s.queryHandlers()
	maps.Copy(s.handlers, s.simulatorHandlers())
	return s, nil
}

// forCaller returns the service as seen by the request's caller: a copy
// whose account is the caller's (the account of the key that signed the
// request), so that every name the operation reads or writes is in that
// account's IAM namespace and every ARN it builds carries that account.
// A request is never served in another account. Without a caller (an
// unsigned request, refused by authorize) it keeps the configured one.
func (s *Service) forCaller(ctx context.Context) *Service {
	p := auth.PrincipalFrom(ctx)
	if p == nil || p.AccountID == "" || p.AccountID == s.account {
		return s
	}
	c := *s
	c.account = p.AccountID
	return &c
}

// clock returns the current time in UTC at IAM's one-second precision.
func (s *Service) clock() time.Time {
	return s.now().UTC().Truncate(time.Second)
}

// authorize asks the authorizer whether the caller may perform action on
// resource. A refusal becomes 403 AccessDenied with the authorizer's
// sentence; a failure to decide is a ServiceFailure (never an allow).
func (s *Service) authorize(ctx context.Context, action, resource string, extra map[string][]string) error {
	p := auth.PrincipalFrom(ctx)
	if p == nil {
		return awsproto.Errorf(http.StatusForbidden, "MissingAuthenticationToken", "Request is missing Authentication Token")
	}
	err := s.authz.Authorize(ctx, p, action, resource, extra)
	if err == nil {
		return nil
	}
	return denial(action, err)
}

// denial maps an authorizer error to the error the client sees.
func denial(action string, err error) error {
	var de *auth.DeniedError
	if errors.As(err, &de) {
		return &awsproto.Error{Code: "AccessDenied", Message: de.Message, Status: http.StatusForbidden, Sender: true}
	}
	var ae *awsproto.Error
	if errors.As(err, &ae) {
		return ae
	}
	return serviceFailure(fmt.Errorf("iam: authorize %s: %w", action, err))
}

// view runs fn in a read-only transaction, mapping unexpected store
// failures to ServiceFailure.
func (s *Service) view(ctx context.Context, fn func(store.Tx) error) error {
	return storeErr(s.store.View(ctx, fn))
}

// update runs fn in a read-write transaction, mapping unexpected store
// failures to ServiceFailure. After a successful write it invalidates the
// authorizer's cache.
func (s *Service) update(ctx context.Context, fn func(store.Tx) error) error {
	if err := s.store.Update(ctx, fn); err != nil {
		return storeErr(err)
	}
	if inv, ok := s.authz.(Invalidator); ok {
		inv.Invalidate()
	}
	return nil
}

// storeErr passes client errors through and turns anything else into a
// ServiceFailure whose cause is kept for the log.
func storeErr(err error) error {
	if err == nil {
		return nil
	}
	var ae *awsproto.Error
	if errors.As(err, &ae) {
		return ae
	}
	return serviceFailure(fmt.Errorf("iam: store: %w", err))
}

func serviceFailure(cause error) *awsproto.Error {
	return awsproto.Internal("ServiceFailure", cause)
}
