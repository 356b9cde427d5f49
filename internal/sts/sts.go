// Package sts implements podid's AWS Security Token Service: GetCallerIdentity,
// AssumeRole (trust policies, session tags, session policies, role
// chaining, source identity), AssumeRoleWithWebIdentity (OIDC tokens checked
// against the IAM OpenID Connect providers in the store) and GetSessionToken.
//
// Credentials are temporary: ASIA… access key IDs whose session travels
// sealed in the session token (package sessiontoken), so any replica
// verifies them without a store read.
//
// AssumeRoleAs and ChainAssume (issuer.go) obtain credentials for a role
// on behalf of a service principal (EKS Auth as pods.eks.amazonaws.com);
// they back podid's local credential issuer.
//
// wire.go adapts the typed methods to the awsQuery protocol.
package sts

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/podid/podid/internal/arn"
	"github.com/podid/podid/internal/auth"
	"github.com/podid/podid/internal/awsproto"
	"github.com/podid/podid/internal/policy"
	"github.com/podid/podid/internal/store"
)

// Minter issues temporary credentials for a session. *sessiontoken.Minter
// implements it.
type Minter interface {
	Mint(s *auth.Session) (accessKeyID, secretAccessKey, sessionToken string, err error)
}

// SessionOpener opens the session token of temporary credentials.
// *sessiontoken.Minter implements it. It is needed only by ChainAssume.
type SessionOpener interface {
	Open(accessKeyID, token string, now time.Time) (*auth.Session, string, error)
}

// AuditFunc records a credential issuance or refusal. It must not block for
// long (buffer and write in the background if the store is slow).
type AuditFunc func(ctx context.Context, r *store.AuditRecord)

// Config configures the STS service.
type Config struct {
	// Store holds roles, managed policies and OIDC providers. Required.
	Store store.Store
	// Roles, when set, caches the roles read by assumes without managed
	// session policies (every credential exchange). The services that
	// write roles must then use Roles.InvalidatingStore. Nil reads the
	// store on every assume.
	Roles *RoleCache
	// AccountID is the server's primary account. Required.
	AccountID string
	// Accounts are the further accounts this server hosts: roles of the
	// primary account and of these may be assumed (each role in its own
	// account's IAM namespace). A role ARN of any other account is
	// refused as AWS refuses a role that does not exist, with the refusal
	// saying that this podid does not host the account.
	Accounts []string
	// Partition is the ARN partition ("aws" when empty).
	Partition string
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	// Authorizer supplies callers' identity policies and request context.
	// Required.
	Authorizer *auth.Authorizer
	// Engine compiles trust and session policies (with its cache).
	// Required.
	Engine *policy.Engine
	// Minter issues the credentials. Required.
	Minter Minter
	// Sessions opens session tokens for ChainAssume (optional; ChainAssume
	// fails without it).
	Sessions SessionOpener
	// Audit, when set, is told of every issuance and refusal.
	Audit AuditFunc

	// OIDCHTTPClient fetches identity providers' discovery documents and
	// key sets. When nil, podid builds a client that verifies the server
	// against OIDCRootCAs (the system roots when nil) or, failing that,
	// against the provider's thumbprints.
	OIDCHTTPClient *http.Client
	// OIDCRootCAs are the trusted roots for identity providers.
	OIDCRootCAs *x509.CertPool
	// AllowHTTPLoopbackIssuers accepts http:// issuers on loopback hosts
	// (tests and local development).
	AllowHTTPLoopbackIssuers bool
	// KeySets, when set, is asked first for an issuer's key set (for
	// issuers podid itself serves).
	KeySets KeySetSource
}

// Service is the STS API.
type Service struct {
	store     store.Store
	roles     *RoleCache
	account   string
	hosted    map[string]bool
	partition string
	now       func() time.Time
	authz     *auth.Authorizer
	engine    *policy.Engine
	minter    Minter
	sessions  SessionOpener
	audit     AuditFunc
	keys      *keyFetcher
	handlers  map[string]queryHandler
	ctxPool   sync.Pool // *policy.Context, Reset, for trust checks
}

// New returns the STS service.
func New(cfg Config) (*Service, error) {
	switch {
	case cfg.Store == nil:
		return nil, errors.New("sts: Config.Store is required")
	case !arn.IsValidAccountID(cfg.AccountID):
		return nil, fmt.Errorf("sts: Config.AccountID %q is not a 12-digit account ID", cfg.AccountID)
	case cfg.Authorizer == nil:
		return nil, errors.New("sts: Config.Authorizer is required")
	case cfg.Engine == nil:
		return nil, errors.New("sts: Config.Engine is required")
	case cfg.Minter == nil:
		return nil, errors.New("sts: Config.Minter is required")
	}
	s := &Service{
		store:     cfg.Store,
		roles:     cfg.Roles,
		account:   cfg.AccountID,
		hosted:    map[string]bool{cfg.AccountID: true},
		partition: cfg.Partition,
		now:       cfg.Now,
		authz:     cfg.Authorizer,
		engine:    cfg.Engine,
		minter:    cfg.Minter,
		sessions:  cfg.Sessions,
		audit:     cfg.Audit,
	}
	for _, a := range cfg.Accounts {
		if !arn.IsValidAccountID(a) {
			return nil, fmt.Errorf("sts: Config.Accounts: %q is not a 12-digit account ID", a)
		}
		s.hosted[a] = true
	}
	if s.partition == "" {
		s.partition = "aws"
	}
	if s.now == nil {
		s.now = time.Now
	}
	s.keys = &keyFetcher{
		client:        cfg.OIDCHTTPClient,
		rootCAs:       cfg.OIDCRootCAs,
		allowLoopback: cfg.AllowHTTPLoopbackIssuers,
		local:         cfg.KeySets,
		now:           s.now,
	}
	s.handlers = s.queryHandlers()
	return s, nil
}

// clock returns the current time in UTC at one-second precision (the
// precision of STS expirations).
func (s *Service) clock() time.Time {
	return s.now().UTC().Truncate(time.Second)
}

// Credentials are temporary security credentials.
type Credentials struct {
	AccessKeyID     string
	SecretAccessKey string
	SessionToken    string
	Expiration      time.Time
}

// AssumedRoleUser identifies a role session.
type AssumedRoleUser struct {
	// Arn is arn:P:sts::ACCT:assumed-role/ROLE/SESSION.
	Arn string
	// AssumedRoleID is ROLEID:SESSION.
	AssumedRoleID string
}

// mint issues credentials for sess.
func (s *Service) mint(sess *auth.Session) (*Credentials, error) {
	akid, secret, token, err := s.minter.Mint(sess)
	if err != nil {
		return nil, awsproto.Internal("InternalFailure", fmt.Errorf("sts: mint credentials: %w", err))
	}
	return &Credentials{AccessKeyID: akid, SecretAccessKey: secret, SessionToken: token, Expiration: sess.Expires}, nil
}

// caller returns the authenticated caller or MissingAuthenticationToken.
func caller(ctx context.Context) (*auth.Principal, error) {
	p := auth.PrincipalFrom(ctx)
	if p == nil {
		return nil, awsproto.Errorf(http.StatusForbidden, "MissingAuthenticationToken", "Request is missing Authentication Token")
	}
	return p, nil
}

// accessDenied is STS's AccessDenied with message msg.
func accessDenied(msg string) *awsproto.Error {
	return &awsproto.Error{Code: "AccessDenied", Message: msg, Status: http.StatusForbidden, Sender: true}
}

// storeErr passes client errors through and turns anything else into an
// InternalFailure whose cause is kept for the log.
func storeErr(err error) error {
	if err == nil {
		return nil
	}
	var ae *awsproto.Error
	if errors.As(err, &ae) {
		return ae
	}
	return awsproto.Internal("InternalFailure", fmt.Errorf("sts: store: %w", err))
}

// recordAudit sends an audit record when auditing is configured.
func (s *Service) recordAudit(ctx context.Context, kind, decision, reason, fields string) {
	if s.audit == nil {
		return
	}
	s.audit(ctx, &store.AuditRecord{Time: s.now().UTC(), Kind: kind, Decision: decision, Reason: reason, Fields: fields})
}
