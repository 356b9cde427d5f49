package iam

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/podid/podid/internal/auth"
	"github.com/podid/podid/internal/awsproto"
	"github.com/podid/podid/internal/password"
	"github.com/podid/podid/internal/policy"
	"github.com/podid/podid/internal/secrets"
	"github.com/podid/podid/internal/store"
	"github.com/podid/podid/internal/store/sqlite"
)

const testAccount = "123456789012"

// testStart is the fixed clock of the tests.
var testStart = time.Date(2024, 1, 9, 16, 10, 2, 0, time.UTC)

// authCall is one question put to the authorizer.
type authCall struct {
	Principal string
	Action    string
	Resource  string
	Extra     map[string][]string
}

// fakeAuthz allows the root and any action not listed in deny; it records
// every call.
type fakeAuthz struct {
	mu       sync.Mutex
	deny     map[string]bool // action → denied for non-root callers
	explicit bool            // denials are explicit (a Deny statement)
	calls    []authCall
	fail     error // returned for every call when set
}

func (f *fakeAuthz) Authorize(_ context.Context, p *auth.Principal, action, resource string, extra map[string][]string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, authCall{Principal: p.ARN, Action: action, Resource: resource, Extra: extra})
	if f.fail != nil {
		return f.fail
	}
	if p.IsRoot() || !f.deny[action] {
		return nil
	}
	if f.explicit {
		return &auth.DeniedError{Explicit: true, Message: fmt.Sprintf("User: %s is not authorized to perform: %s on resource: %s with an explicit deny in an identity-based policy", p.ARN, action, resource)}
	}
	return &auth.DeniedError{Message: fmt.Sprintf("User: %s is not authorized to perform: %s on resource: %s because no identity-based policy allows the %s action", p.ARN, action, resource, action)}
}

func (f *fakeAuthz) last() authCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.calls) == 0 {
		return authCall{}
	}
	return f.calls[len(f.calls)-1]
}

func (f *fakeAuthz) reset() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = nil
}

// testValidator stands in for the policy engine in service tests: it
// checks JSON syntax and the managed policy size quota, which is all the
// service itself must map correctly. The engine's own rules are tested in
// package policy; TestPolicyValidator runs the real one.
func testValidator(doc string, kind policy.Kind) error {
	if !json.Valid([]byte(doc)) {
		return &awsproto.Error{Code: codeMalformedPolicy, Message: "Syntax errors in policy.", Status: 400, Sender: true}
	}
	if kind == policy.KindManaged && policy.NonWhitespaceLen(doc) > 6144 {
		return &awsproto.Error{Code: codeLimitExceeded, Message: "Cannot exceed quota for PolicySize: 6144", Status: 409, Sender: true}
	}
	return nil
}

type testEnv struct {
	svc     *Service
	hasher  *countingHasher
	authz   *fakeAuthz
	store   store.Store
	keyring *secrets.Keyring
	now     *time.Time
	ctx     context.Context // the root caller
}

// countingHasher counts the argon2id runs of the service's password
// hasher (hashes and verifications, dummy ones included).
type countingHasher struct {
	*password.Hasher
	mu   sync.Mutex
	runs int
	// beforeHash runs before each Hash when set (a concurrent writer).
	beforeHash func()
}

func (c *countingHasher) count() {
	c.mu.Lock()
	c.runs++
	c.mu.Unlock()
}

func (c *countingHasher) Hash(ctx context.Context, pw string) (string, error) {
	c.count()
	if c.beforeHash != nil {
		c.beforeHash()
	}
	return c.Hasher.Hash(ctx, pw)
}

func (c *countingHasher) Verify(ctx context.Context, enc, pw string) (bool, error) {
	c.count()
	return c.Hasher.Verify(ctx, enc, pw)
}

func (c *countingHasher) VerifyDummy(ctx context.Context, pw string) error {
	c.count()
	return c.Hasher.VerifyDummy(ctx, pw)
}

// take returns the runs counted since the last take.
func (c *countingHasher) take() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.runs
	c.runs = 0
	return n
}

type envOption func(*Config)

func newTestEnv(t testing.TB, opts ...envOption) *testEnv {
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
	now := testStart
	// Cheap argon2id parameters: the hashing code is the same, and
	// package password tests the defaults.
	hasher, err := password.New(password.Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}, 2)
	if err != nil {
		t.Fatalf("password hasher: %v", err)
	}
	counted := &countingHasher{Hasher: hasher}
	env := &testEnv{hasher: counted, authz: &fakeAuthz{deny: map[string]bool{}}, store: st, keyring: kr, now: &now}
	cfg := Config{
		Store:          st,
		AccountID:      testAccount,
		Now:            func() time.Time { return *env.now },
		Authorizer:     env.authz,
		Keyring:        kr,
		ValidatePolicy: testValidator,
		AccountCreated: time.Date(2020, 5, 1, 12, 0, 0, 0, time.UTC),
		Passwords:      counted,
	}
	for _, o := range opts {
		o(&cfg)
	}
	svc, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	env.svc = svc
	env.ctx = auth.WithPrincipal(ctx, auth.RootPrincipal("aws", testAccount, "AKIAROOTROOTROOTROOT"))
	return env
}

// advance moves the clock.
func (e *testEnv) advance(d time.Duration) { *e.now = e.now.Add(d) }

// userCtx is the context of an IAM user caller.
func (e *testEnv) userCtx(name string) context.Context {
	return auth.WithPrincipal(context.Background(), &auth.Principal{
		Type: auth.User, AccountID: testAccount, ARN: "arn:aws:iam::" + testAccount + ":user/" + name,
		UserID: "AIDAEXAMPLEEXAMPLE1", AccessKeyID: "AKIAEXAMPLEEXAMPLE01", Name: name,
	})
}

// roleCtx is the context of a role session caller.
func (e *testEnv) roleCtx(role string) context.Context {
	return auth.WithPrincipal(context.Background(), &auth.Principal{
		Type: auth.AssumedRole, AccountID: testAccount, ARN: "arn:aws:sts::" + testAccount + ":assumed-role/" + role + "/s",
		UserID: "AROAEXAMPLEEXAMPLE1:s", AccessKeyID: "ASIAEXAMPLEEXAMPLE01", Name: role,
		Session: &auth.Session{RoleName: role, Type: auth.AssumedRole, SessionName: "s"},
	})
}

// wantErr checks an error's code, status and exact message.
func wantErr(t *testing.T, err error, status int, code, msg string) {
	t.Helper()
	var ae *awsproto.Error
	if !errors.As(err, &ae) {
		t.Fatalf("error = %v (%T), want %s %d %q", err, err, code, status, msg)
	}
	if ae.Code != code || ae.Status != status || ae.Message != msg {
		t.Fatalf("error = %d %s %q\n want %d %s %q", ae.Status, ae.Code, ae.Message, status, code, msg)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("unexpected error: %v", err)
	}
}

func ptr[T any](v T) *T { return &v }

const trustDoc = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"pods.eks.amazonaws.com"},"Action":["sts:AssumeRole","sts:TagSession"]}]}`

const permDoc = `{"Statement":[{"Action":"dynamodb:*","Effect":"Allow","Resource":["arn:aws:dynamodb:us-west-2:123456789012:table/eks-workshop-carts"],"Sid":"AllAPIActionsOnCart"}],"Version":"2012-10-17"}`

func (e *testEnv) createRole(t *testing.T, name, path string) *store.Role {
	t.Helper()
	out, err := e.svc.CreateRole(e.ctx, &CreateRoleInput{RoleName: name, Path: path, AssumeRolePolicyDocument: trustDoc})
	must(t, err)
	return out.Role
}

func (e *testEnv) createPolicy(t *testing.T, name, path string) *Policy {
	t.Helper()
	out, err := e.svc.CreatePolicy(e.ctx, &CreatePolicyInput{PolicyName: name, Path: path, PolicyDocument: permDoc})
	must(t, err)
	return out.Policy
}

func (e *testEnv) policyARN(name string) string {
	return "arn:aws:iam::" + testAccount + ":policy/" + name
}

// repeat returns s repeated n times.
func repeat(s string, n int) string { return strings.Repeat(s, n) }
