package auth

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/podid/podid/internal/arn"
	"github.com/podid/podid/internal/policy"
	"github.com/podid/podid/internal/store"
)

// AuthorizerConfig configures an Authorizer.
type AuthorizerConfig struct {
	// Store holds users, roles and their policies. Required.
	Store store.Store
	// Engine compiles policy documents (and caches the compiled forms).
	// Required.
	Engine *policy.Engine
	// AccountID is the server's primary account and Accounts the further
	// accounts it hosts. Each principal's policies are read in its own
	// account; a resource of another hosted account is cross-account.
	AccountID string
	Accounts  []string
	// Partition is the ARN partition ("aws" when empty).
	Partition string
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	// CacheTTL, when positive, caches a principal's policies gathered from
	// the store for that long. Writes must then go through a store wrapped
	// by InvalidatingStore (or be followed by Invalidate), so that the TTL
	// only bounds the staleness of writes made by other replicas. 0 or a
	// negative value disables the cache: every decision reads the store.
	CacheTTL time.Duration
}

// DefaultPolicyCacheTTL is the recommended CacheTTL.
const DefaultPolicyCacheTTL = 2 * time.Second

// Authorizer decides whether a principal may perform an action on a
// resource, evaluating the principal's policies from the store with the
// policy engine. It is safe for concurrent use.
type Authorizer struct {
	store     store.Store
	engine    *policy.Engine
	account   string
	hosted    map[string]bool
	partition string
	now       func() time.Time
	ttl       time.Duration

	gen   atomic.Uint64
	mu    sync.Mutex
	cache map[string]*principalPolicies

	ctxPool sync.Pool
}

// NewAuthorizer returns an Authorizer. It panics only on a programming
// error (a missing Store or Engine).
func NewAuthorizer(cfg AuthorizerConfig) *Authorizer {
	if cfg.Store == nil || cfg.Engine == nil {
		panic("auth: NewAuthorizer needs a Store and an Engine")
	}
	a := &Authorizer{
		store:     cfg.Store,
		engine:    cfg.Engine,
		account:   cfg.AccountID,
		hosted:    map[string]bool{cfg.AccountID: true},
		partition: cfg.Partition,
		now:       cfg.Now,
		ttl:       cfg.CacheTTL,
		cache:     map[string]*principalPolicies{},
	}
	for _, acct := range cfg.Accounts {
		a.hosted[acct] = true
	}
	if a.partition == "" {
		a.partition = "aws"
	}
	if a.now == nil {
		a.now = time.Now
	}
	a.ctxPool.New = func() any { return policy.NewContext() }
	return a
}

// Invalidate drops every cached policy set. The IAM service calls it after
// each write that changes a user's or role's policies, tags or boundary.
func (a *Authorizer) Invalidate() {
	a.gen.Add(1)
	a.mu.Lock()
	clear(a.cache)
	a.mu.Unlock()
}

// InvalidatingStore returns st wrapped so that every Update drops the
// Authorizer's cached policy sets once the transaction has ended. Give it to
// the services that write IAM entities (the IAM service) when CacheTTL is
// set.
func (a *Authorizer) InvalidatingStore(st store.Store) store.Store {
	return &invalidatingStore{Store: st, a: a}
}

type invalidatingStore struct {
	store.Store
	a *Authorizer
}

// Update runs the transaction, then invalidates the policy-set cache
// (whatever the outcome: a failed transaction changes nothing, and an
// extra invalidation only costs a re-read).
func (s *invalidatingStore) Update(ctx context.Context, fn func(store.Tx) error) error {
	err := s.Store.Update(ctx, fn)
	s.a.Invalidate()
	return err
}

// principalPolicies are the stored policies of a user or role.
type principalPolicies struct {
	gen      uint64
	loaded   time.Time
	identity []*policy.Compiled
	boundary *policy.Compiled
	tags     []store.Tag
	// arn is the user's or role's ARN (with its path).
	arn string
}

// Authorize returns nil when p may perform action on resource, a
// *DeniedError carrying AWS's sentence when it may not, and another error
// when the decision could not be made (never an allow). The root user is
// always allowed in its own account. A resource of another account this
// server hosts (by the account in its ARN) is refused to every caller,
// root included: no resource podid authorizes this way has a resource
// policy, so AWS's cross-account rule (both sides must allow) cannot be
// met. extra adds request-specific condition keys.
func (a *Authorizer) Authorize(ctx context.Context, p *Principal, action, resource string, extra map[string][]string) error {
	if p == nil {
		return &DeniedError{Message: "Anonymous user is not authorized to perform: " + action + " on resource: " + resource}
	}
	racct := resourceAccount(resource)
	if racct == p.AccountID || !a.hosted[racct] {
		// Same account; or an account podid does not host (a role in
		// AWS that broker mode passes, say), which podid's own policies
		// decide as before.
		racct = ""
	}
	if p.IsRoot() && racct == "" {
		return nil
	}
	set, err := a.PolicySet(ctx, p)
	if err != nil {
		return err
	}
	pc := a.ctxPool.Get().(*policy.Context)
	defer func() {
		pc.Reset()
		a.ctxPool.Put(pc)
	}()
	a.FillContext(ctx, pc, p, set)
	for k, v := range extra {
		pc.Set(k, v...)
	}
	req := &policy.Request{
		Principal: PolicyPrincipal(p),
		Action:    action,
		Resource:  resource,
		// A resource of another account is cross-account: without a
		// resource policy (none of podid's authorized resources has one)
		// it is refused, to the root too, as in AWS.
		ResourceAccount: racct,
		Context:         pc,
	}
	d := policy.Evaluate(&set.Set, req)
	if d.Allowed() {
		return nil
	}
	return &DeniedError{Message: policy.Explain(&set.Set, req).DenialMessage(p.ARN, action, resource), Explicit: d.Result == policy.ExplicitDeny}
}

// resourceAccount is the 12-digit account in a resource ARN ("" for "*",
// for ARNs without an account and for AWS's own, such as managed
// policies).
func resourceAccount(resource string) string {
	if !strings.HasPrefix(resource, "arn:") {
		return "" // "*", without parsing (an error would allocate)
	}
	a, err := arn.Parse(resource)
	if err != nil || !arn.IsValidAccountID(a.AccountID) {
		return ""
	}
	return a.AccountID
}

// PrincipalSet is a principal's policy set with what the request context
// needs from the store.
type PrincipalSet struct {
	policy.Set
	// Tags are the principal's IAM tags (user tags, or the role's tags for
	// a role session), before session tags override them.
	Tags []store.Tag
	// ARN is the IAM ARN of the user or role (with path); empty for root.
	ARN string
}

// PolicySet gathers the policies that apply to p's requests: identity
// policies (attached managed policies' default versions and inline
// policies of the user, or of the role for a role session), the
// permissions boundary, and the session's policies.
func (a *Authorizer) PolicySet(ctx context.Context, p *Principal) (*PrincipalSet, error) {
	out := &PrincipalSet{}
	var pp *principalPolicies
	var err error
	switch p.Type {
	case Root:
		return out, nil
	case User:
		pp, err = a.load(ctx, store.KindUser, p.AccountID, p.Name, "")
	case AssumedRole:
		if p.Session == nil {
			return nil, errors.New("auth: assumed-role principal without a session")
		}
		pp, err = a.load(ctx, store.KindRole, p.AccountID, p.Session.RoleName, p.Session.RoleID)
	default:
		return nil, fmt.Errorf("auth: unsupported principal type %q", p.Type)
	}
	if err != nil {
		return nil, err
	}
	out.Identity = pp.identity
	out.Boundary = pp.boundary
	out.Tags = pp.tags
	out.ARN = pp.arn
	if p.Session != nil {
		for i, doc := range p.Session.Policies {
			c, err := a.engine.Compile(doc)
			if err != nil {
				return nil, fmt.Errorf("auth: compile session policy %d: %w", i, err)
			}
			out.Session = append(out.Session, c)
		}
	}
	return out, nil
}

// load returns the stored policies of account's user or role, from the
// cache when fresh. A role whose ID differs from wantID (deleted and re-created under
// the same name) has no policies for the old session.
func (a *Authorizer) load(ctx context.Context, kind store.PrincipalKind, account, name, wantID string) (*principalPolicies, error) {
	key := string(kind) + "\x00" + account + "\x00" + strings.ToLower(name) + "\x00" + wantID
	gen := a.gen.Load()
	now := a.now()
	if a.ttl > 0 {
		a.mu.Lock()
		pp := a.cache[key]
		a.mu.Unlock()
		if pp != nil && pp.gen == gen && now.Sub(pp.loaded) < a.ttl && !now.Before(pp.loaded) {
			return pp, nil
		}
	}
	var (
		docs     []string
		boundary string
		hasBound bool
		tags     []store.Tag
		arn      string
	)
	err := a.store.View(ctx, func(tx store.Tx) error {
		switch kind {
		case store.KindUser:
			u, err := tx.GetUser(account, name)
			if err != nil {
				return err
			}
			tags, arn = u.Tags, u.ARN
			if u.PermissionsBoundary != "" {
				hasBound = true
				boundary, err = defaultDocument(tx, u.PermissionsBoundary)
				if err != nil && !errors.Is(err, store.ErrNotFound) {
					return err
				}
			}
		case store.KindRole:
			r, err := tx.GetRole(account, name)
			if err != nil {
				return err
			}
			if wantID != "" && r.ID != wantID {
				return store.ErrNotFound
			}
			tags, arn = r.Tags, r.ARN
			if r.PermissionsBoundary != "" {
				hasBound = true
				boundary, err = defaultDocument(tx, r.PermissionsBoundary)
				if err != nil && !errors.Is(err, store.ErrNotFound) {
					return err
				}
			}
		}
		attached, err := tx.ListAttachedPolicies(kind, account, name, store.Page{})
		if err != nil {
			return err
		}
		for _, pa := range attached {
			doc, err := defaultDocument(tx, pa)
			if errors.Is(err, store.ErrNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			docs = append(docs, doc)
		}
		inline, err := tx.ListInlinePolicies(kind, account, name, store.Page{})
		if err != nil {
			return err
		}
		for _, ip := range inline {
			docs = append(docs, ip.Document)
		}
		return nil
	})
	pp := &principalPolicies{gen: gen, loaded: now, tags: tags, arn: arn}
	switch {
	case errors.Is(err, store.ErrNotFound):
		// The user or role is gone: no policy grants anything.
	case err != nil:
		return nil, fmt.Errorf("auth: read policies of %s %s: %w", kind, name, err)
	default:
		for i, doc := range docs {
			c, err := a.engine.Compile(doc)
			if err != nil {
				return nil, fmt.Errorf("auth: compile policy %d of %s %s: %w", i, kind, name, err)
			}
			pp.identity = append(pp.identity, c)
		}
		if hasBound {
			if boundary == "" {
				// A boundary that no longer exists allows nothing.
				boundary = allowNothing
			}
			c, err := a.engine.Compile(boundary)
			if err != nil {
				return nil, fmt.Errorf("auth: compile permissions boundary of %s %s: %w", kind, name, err)
			}
			pp.boundary = c
		}
	}
	if a.ttl > 0 {
		a.mu.Lock()
		if a.gen.Load() == gen {
			a.cache[key] = pp
		}
		a.mu.Unlock()
	}
	return pp, nil
}

// allowNothing is a policy that allows no action, standing in for a
// permissions boundary whose managed policy was deleted.
const allowNothing = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"podid:NoAction","Resource":"arn:aws:podid:::none"}]}`

// DefaultPolicyDocument returns a managed policy and the document of its
// default version: the one lookup every authorization (this package, STS's
// session policies, IAM's simulator) makes of a managed policy.
// store.ErrNotFound when the policy or its default version is missing.
func DefaultPolicyDocument(tx store.Tx, policyARN string) (*store.ManagedPolicy, string, error) {
	mp, err := tx.GetPolicy(policyARN)
	if err != nil {
		return nil, "", err
	}
	v, err := tx.GetPolicyVersion(policyARN, mp.DefaultVersionID)
	if err != nil {
		return nil, "", err
	}
	return mp, v.Document, nil
}

func defaultDocument(tx store.Tx, policyARN string) (string, error) {
	_, doc, err := DefaultPolicyDocument(tx, policyARN)
	return doc, err
}

// PolicyPrincipal describes p to the policy engine (Principal and
// NotPrincipal matching, aws:Principal* keys).
func PolicyPrincipal(p *Principal) policy.Principal {
	out := policy.Principal{ARN: p.ARN, AccountID: p.AccountID, UserID: p.UserID}
	switch p.Type {
	case Root:
		out.Type = policy.PrincipalRoot
	case User:
		out.Type = policy.PrincipalUser
		out.UserName = p.Name
	case AssumedRole:
		out.Type = policy.PrincipalAssumedRole
		if p.Session != nil {
			out.RoleARN = p.Session.RoleARN
		}
	case FederatedUser:
		out.Type = policy.PrincipalFederatedUser
	}
	return out
}

// FillContext sets the global condition keys of a request by p:
// aws:PrincipalArn, aws:PrincipalAccount, aws:PrincipalType, aws:userid,
// aws:username, aws:PrincipalTag/* (IAM tags overridden by session tags),
// aws:CurrentTime, aws:EpochTime, aws:SecureTransport, aws:SourceIp,
// aws:UserAgent, aws:RequestedRegion, aws:PrincipalIsAWSService,
// aws:ViaAWSService and, for temporary credentials, aws:TokenIssueTime,
// aws:MultiFactorAuthPresent (false) and aws:SourceIdentity. set may be nil
// (no IAM tags).
func (a *Authorizer) FillContext(ctx context.Context, pc *policy.Context, p *Principal, set *PrincipalSet) {
	pol := PolicyPrincipal(p)
	pc.SetPrincipalKeys(&pol)
	now := a.now().UTC()
	pc.Set("aws:CurrentTime", now.Format(time.RFC3339))
	pc.Set("aws:EpochTime", strconv.FormatInt(now.Unix(), 10))
	pc.Set("aws:PrincipalIsAWSService", "false")
	pc.Set("aws:ViaAWSService", "false")
	ri := RequestInfoFrom(ctx)
	pc.Set("aws:SecureTransport", strconv.FormatBool(ri.SecureTransport))
	if ri.SourceIP != "" {
		pc.Set("aws:SourceIp", ri.SourceIP)
	}
	if ri.UserAgent != "" {
		pc.Set("aws:UserAgent", ri.UserAgent)
	}
	if ri.Region != "" {
		pc.Set("aws:RequestedRegion", ri.Region)
	}
	if set != nil {
		for _, t := range set.Tags {
			pc.Set("aws:PrincipalTag/"+t.Key, t.Value)
		}
	}
	if s := p.Session; s != nil {
		// Session tags override IAM tags with the same key (keys compare
		// case-insensitively in the context).
		for k, v := range s.Tags {
			pc.Set("aws:PrincipalTag/"+k, v)
		}
		if !s.Issued.IsZero() {
			pc.Set("aws:TokenIssueTime", s.Issued.UTC().Format(time.RFC3339))
		}
		pc.Set("aws:MultiFactorAuthPresent", "false")
		if s.SourceIdentity != "" {
			pc.Set("aws:SourceIdentity", s.SourceIdentity)
		}
	}
}
