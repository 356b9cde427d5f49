package sts

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/podid/podid/internal/auth"
	"github.com/podid/podid/internal/auth/authtest"
	"github.com/podid/podid/internal/awsproto"
	"github.com/podid/podid/internal/store"
)

// Trust and identity policies used across the tests.
const (
	trustAccount = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:root"},"Action":["sts:AssumeRole","sts:TagSession","sts:SetSourceIdentity"]}]}`
	trustAlice   = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:user/alice"},"Action":"sts:AssumeRole"}]}`
	trustNoTags  = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"123456789012"},"Action":"sts:AssumeRole"}]}`
	trustExtID   = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"123456789012"},"Action":"sts:AssumeRole","Condition":{"StringEquals":{"sts:ExternalId":"ext-123"}}}]}`
	trustTagCond = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"123456789012"},"Action":"sts:AssumeRole"},{"Effect":"Allow","Principal":{"AWS":"123456789012"},"Action":"sts:TagSession","Condition":{"StringEquals":{"aws:RequestTag/team":"blue"},"ForAllValues:StringEquals":{"aws:TagKeys":["team","env"]}}}]}`
	trustEKS     = `{"Version":"2012-10-17","Statement":[{"Sid":"AllowEksAuthToAssumeRoleForPodIdentity","Effect":"Allow","Principal":{"Service":"pods.eks.amazonaws.com"},"Action":["sts:AssumeRole","sts:TagSession"]}]}`
	trustEKSNoTS = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"pods.eks.amazonaws.com"},"Action":"sts:AssumeRole"}]}`
	trustEKSNS   = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"pods.eks.amazonaws.com"},"Action":["sts:AssumeRole","sts:TagSession"],"Condition":{"StringEquals":{"aws:RequestTag/kubernetes-namespace":"carts","aws:SourceAccount":"123456789012"}}}]}`
	allowAssume  = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["sts:AssumeRole","sts:TagSession","sts:SetSourceIdentity"],"Resource":"*"}]}`
	denyAssume   = `{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"sts:AssumeRole","Resource":"arn:aws:iam::123456789012:role/admin"}]}`
	sessionDoc   = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}`
)

// fixture is an STS service over a real store with a few principals.
type fixture struct {
	env   *authtest.Env
	svc   *Service
	alice *store.User // may assume roles (identity policy)
	bob   *store.User // no identity policy
	mu    sync.Mutex
	audit []*store.AuditRecord
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	env := authtest.New(t)
	f := &fixture{env: env}
	svc, err := New(Config{
		Store: env.Store, AccountID: authtest.Account, Now: env.Clock.Now,
		Authorizer: env.Authorizer, Engine: env.Engine, Minter: env.Minter, Sessions: env.Minter,
		Audit: func(_ context.Context, r *store.AuditRecord) {
			f.mu.Lock()
			f.audit = append(f.audit, r)
			f.mu.Unlock()
		},
	})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	f.svc = svc
	f.alice = env.AddUser(t, "alice", store.Tag{Key: "team", Value: "blue"})
	env.Attach(t, store.KindUser, "alice", env.AddPolicy(t, "assume", allowAssume))
	env.PutInline(t, store.KindUser, "alice", "no-admin", denyAssume)
	f.bob = env.AddUser(t, "bob")
	return f
}

func (f *fixture) as(p *auth.Principal) context.Context {
	return auth.WithPrincipal(context.Background(), p)
}

// wantErr checks that err is an *awsproto.Error with code, status and (when
// not empty) message.
func wantErr(t *testing.T, err error, code string, status int, msg string) {
	t.Helper()
	var ae *awsproto.Error
	if !errors.As(err, &ae) {
		t.Fatalf("err = %v, want %s", err, code)
	}
	if ae.Code != code || ae.Status != status || (msg != "" && ae.Message != msg) {
		t.Fatalf("err = %s %d %q\nwant %s %d %q", ae.Code, ae.Status, ae.Message, code, status, msg)
	}
}

func manyTags(n int) []Tag {
	out := make([]Tag, n)
	for i := range out {
		out[i] = Tag{Key: "k" + strings.Repeat("x", i%5) + itoa(i), Value: "v"}
	}
	return out
}
