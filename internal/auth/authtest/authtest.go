// Package authtest builds a real identity environment for tests: a SQLite
// store in a temporary directory, the policy engine, a master keyring, a
// session-token minter, an Authorizer and a Resolver, all on a settable
// clock, with helpers to create users, roles, policies and access keys
// directly in the store. Service tests (STS, IAM, EKS Auth) use it instead
// of mocks.
package authtest

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/podid/podid/internal/arn"
	"github.com/podid/podid/internal/auth"
	"github.com/podid/podid/internal/ids"
	"github.com/podid/podid/internal/policy"
	"github.com/podid/podid/internal/secrets"
	"github.com/podid/podid/internal/sessiontoken"
	"github.com/podid/podid/internal/store"
	"github.com/podid/podid/internal/store/sqlite"
	"github.com/podid/podid/internal/testclock"
)

// Account is the account ID of every Env's records unless a helper's
// In variant names another; OtherAccount is a second account in the same
// store (cross-account tests).
const (
	Account      = "123456789012"
	OtherAccount = "210987654321"
)

// Start is the initial time of an Env's clock.
var Start = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// Env is an identity environment backed by a real store.
type Env struct {
	// Store is the SQLite store wrapped by Authorizer.InvalidatingStore.
	Store      store.Store
	Engine     *policy.Engine
	Keyring    *secrets.Keyring
	Minter     *sessiontoken.Minter
	Authorizer *auth.Authorizer
	Resolver   *auth.Resolver
	Clock      *testclock.Clock
}

// New returns an Env whose store lives in t.TempDir() and is closed at the
// end of the test.
func New(t testing.TB) *Env {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "podid.db"))
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	kr, err := secrets.New(secrets.GenerateKey())
	if err != nil {
		t.Fatalf("keyring: %v", err)
	}
	key, err := sessiontoken.NewKey()
	if err != nil {
		t.Fatalf("session-token key: %v", err)
	}
	m, err := sessiontoken.NewMinter(key)
	if err != nil {
		t.Fatalf("minter: %v", err)
	}
	clk := testclock.New(Start)
	eng := policy.NewEngine(0)
	e := &Env{Engine: eng, Keyring: kr, Minter: m, Clock: clk}
	e.Authorizer = auth.NewAuthorizer(auth.AuthorizerConfig{Store: st, Engine: eng, AccountID: Account, Accounts: []string{OtherAccount}, Now: clk.Now, CacheTTL: auth.DefaultPolicyCacheTTL})
	// Writes through Env.Store (by the helpers or by a service under test)
	// invalidate the Authorizer's cache, as in the server.
	e.Store = e.Authorizer.InvalidatingStore(st)
	e.Resolver, err = auth.NewResolver(auth.ResolverConfig{Store: e.Store, Keyring: kr, Sessions: m, AccountID: Account, Now: clk.Now})
	if err != nil {
		t.Fatalf("resolver: %v", err)
	}
	return e
}

func (e *Env) update(t testing.TB, fn func(store.Tx) error) {
	t.Helper()
	if err := e.Store.Update(context.Background(), fn); err != nil {
		t.Fatalf("store update: %v", err)
	}
}

// UserARN returns the ARN of user name at path "/".
func UserARN(name string) string { return arn.User("aws", Account, "/", name).String() }

// RoleARN returns the ARN of role name at path "/".
func RoleARN(name string) string { return arn.Role("aws", Account, "/", name).String() }

// PolicyARN returns the ARN of customer managed policy name at path "/".
func PolicyARN(name string) string { return arn.Policy("aws", Account, "/", name).String() }

// AddUser creates an IAM user at path "/" with tags.
func (e *Env) AddUser(t testing.TB, name string, tags ...store.Tag) *store.User {
	t.Helper()
	return e.AddUserIn(t, Account, name, tags...)
}

// AddUserIn creates an IAM user of account at path "/" with tags.
func (e *Env) AddUserIn(t testing.TB, account, name string, tags ...store.Tag) *store.User {
	t.Helper()
	u := &store.User{Account: account, ID: ids.NewUserID(), Name: name, Path: "/", ARN: arn.User("aws", account, "/", name).String(), Tags: tags, CreatedAt: e.Clock.Now()}
	e.update(t, func(tx store.Tx) error { return tx.CreateUser(u) })
	return u
}

// AddRole creates a role with the given path ("/" when empty), trust
// policy and MaxSessionDuration (3600 when 0).
func (e *Env) AddRole(t testing.TB, name, path, trust string, maxSession int, tags ...store.Tag) *store.Role {
	t.Helper()
	return e.AddRoleIn(t, Account, name, path, trust, maxSession, tags...)
}

// AddRoleIn is AddRole in account.
func (e *Env) AddRoleIn(t testing.TB, account, name, path, trust string, maxSession int, tags ...store.Tag) *store.Role {
	t.Helper()
	if path == "" {
		path = "/"
	}
	if maxSession == 0 {
		maxSession = 3600
	}
	r := &store.Role{
		Account: account, ID: ids.NewRoleID(), Name: name, Path: path,
		ARN:              arn.Role("aws", account, path, name).String(),
		AssumeRolePolicy: trust, MaxSessionDuration: maxSession, Tags: tags, CreatedAt: e.Clock.Now(),
	}
	e.update(t, func(tx store.Tx) error { return tx.CreateRole(r) })
	return r
}

// SetBoundary sets the permissions boundary of a user or role.
func (e *Env) SetBoundary(t testing.TB, kind store.PrincipalKind, name, policyARN string) {
	t.Helper()
	e.update(t, func(tx store.Tx) error {
		if kind == store.KindUser {
			u, err := tx.GetUser(Account, name)
			if err != nil {
				return err
			}
			u.PermissionsBoundary = policyARN
			return tx.UpdateUser(u)
		}
		r, err := tx.GetRole(Account, name)
		if err != nil {
			return err
		}
		r.PermissionsBoundary = policyARN
		return tx.UpdateRole(r)
	})
}

// AddPolicy creates a customer managed policy at path "/" whose default
// version v1 is doc, and returns its ARN.
func (e *Env) AddPolicy(t testing.TB, name, doc string) string {
	t.Helper()
	return e.AddPolicyIn(t, Account, name, doc)
}

// AddPolicyIn is AddPolicy in account.
func (e *Env) AddPolicyIn(t testing.TB, account, name, doc string) string {
	t.Helper()
	arn := arn.Policy("aws", account, "/", name).String()
	now := e.Clock.Now()
	e.update(t, func(tx store.Tx) error {
		if err := tx.CreatePolicy(&store.ManagedPolicy{Account: account, ID: ids.NewPolicyID(), Name: name, Path: "/", ARN: arn, DefaultVersionID: "v1", CreatedAt: now, UpdatedAt: now}); err != nil {
			return err
		}
		return tx.PutPolicyVersion(&store.PolicyVersion{PolicyARN: arn, VersionID: "v1", Document: doc, IsDefault: true, CreatedAt: now})
	})
	return arn
}

// Attach attaches a managed policy to a user or role.
func (e *Env) Attach(t testing.TB, kind store.PrincipalKind, name, policyARN string) {
	t.Helper()
	e.AttachIn(t, kind, Account, name, policyARN)
}

// AttachIn attaches a managed policy to account's user or role.
func (e *Env) AttachIn(t testing.TB, kind store.PrincipalKind, account, name, policyARN string) {
	t.Helper()
	e.update(t, func(tx store.Tx) error { return tx.AttachPolicy(kind, account, name, policyARN) })
}

// PutInline sets an inline policy of a user or role.
func (e *Env) PutInline(t testing.TB, kind store.PrincipalKind, name, policyName, doc string) {
	t.Helper()
	e.PutInlineIn(t, kind, Account, name, policyName, doc)
}

// PutInlineIn sets an inline policy of account's user or role.
func (e *Env) PutInlineIn(t testing.TB, kind store.PrincipalKind, account, name, policyName, doc string) {
	t.Helper()
	e.update(t, func(tx store.Tx) error {
		return tx.PutInlinePolicy(&store.InlinePolicy{Account: account, Kind: kind, PrincipalName: name, PolicyName: policyName, Document: doc})
	})
}

// AddAccessKey creates an active access key for user (the root when
// user is "") and returns its ID and secret.
func (e *Env) AddAccessKey(t testing.TB, user string) (id, secret string) {
	t.Helper()
	return e.AddAccessKeyIn(t, Account, user)
}

// AddAccessKeyIn creates an active access key for account's user (its
// root when user is "") and returns its ID and secret.
func (e *Env) AddAccessKeyIn(t testing.TB, account, user string) (id, secret string) {
	t.Helper()
	id, secret = ids.NewAccessKeyID(), ids.NewSecretAccessKey()
	sealed, err := e.Keyring.Seal([]byte(secret), []byte(id))
	if err != nil {
		t.Fatalf("seal: %v", err)
	}
	e.update(t, func(tx store.Tx) error {
		return tx.CreateAccessKey(&store.AccessKey{Account: account, ID: id, UserName: user, SealedSecret: sealed, Status: "Active", CreatedAt: e.Clock.Now()})
	})
	return id, secret
}

// SetAccessKeyStatus sets an access key's status (Active or Inactive).
func (e *Env) SetAccessKeyStatus(t testing.TB, id, status string) {
	t.Helper()
	e.update(t, func(tx store.Tx) error {
		k, err := tx.GetAccessKey(id)
		if err != nil {
			return err
		}
		k.Status = status
		return tx.UpdateAccessKey(k)
	})
}

// AddOIDCProvider registers an OIDC provider (url without scheme).
func (e *Env) AddOIDCProvider(t testing.TB, url string, clientIDs, thumbprints []string) string {
	t.Helper()
	a := arn.OIDCProvider("aws", Account, url).String()
	e.update(t, func(tx store.Tx) error {
		return tx.CreateOIDCProvider(&store.OIDCProvider{ARN: a, URL: url, ClientIDs: clientIDs, Thumbprints: thumbprints, CreatedAt: e.Clock.Now()})
	})
	return a
}

// Root returns the account root as a caller (long-term credentials).
func (e *Env) Root() *auth.Principal {
	return auth.RootPrincipal("aws", Account, ids.NewAccessKeyID())
}

// User returns user u as a caller with long-term credentials.
func (e *Env) User(u *store.User) *auth.Principal {
	return auth.UserPrincipal(u, Account, ids.NewAccessKeyID())
}

// Session mints s and resolves the credentials back into a principal, as
// the server's edge would for a request signed with them.
func (e *Env) Session(t testing.TB, s *auth.Session) *auth.Principal {
	t.Helper()
	akid, _, token, err := e.Minter.Mint(s)
	if err != nil {
		t.Fatalf("mint: %v", err)
	}
	_, id, err := e.Resolver.LookupSecret(context.Background(), akid, token)
	if err != nil {
		t.Fatalf("resolve session: %v", err)
	}
	return id.(*auth.Principal)
}
