package sts

import (
	"context"
	"testing"

	"github.com/podid/podid/internal/auth"
	"github.com/podid/podid/internal/auth/authtest"
	"github.com/podid/podid/internal/store"
)

// TestCrossAccountAssumeRole: AWS's rules for AssumeRole between two
// accounts hosted by one podid. Within one account, a trust policy that
// names the caller's principal ARN grants by itself, and one that names
// the account only delegates to the caller's identity policies. Across
// accounts, the role's trust policy AND the caller's identity policies
// must both allow, whatever the trust policy names (IAM User Guide,
// "Cross-account policy evaluation logic"). A role session of the target
// account's role carries the target account.
func TestCrossAccountAssumeRole(t *testing.T) {
	const a, b = authtest.Account, authtest.OtherAccount
	env := authtest.New(t)
	svc, err := New(Config{Store: env.Store, AccountID: a, Accounts: []string{b}, Now: env.Clock.Now,
		Authorizer: env.Authorizer, Engine: env.Engine, Minter: env.Minter, Sessions: env.Minter})
	if err != nil {
		t.Fatal(err)
	}
	trust := func(principal string) string {
		return `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":` + principal + `},"Action":"sts:AssumeRole"}]}`
	}
	allow := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sts:AssumeRole","Resource":"*"}]}`
	// Callers in account A: dev may assume roles (identity policy), plain
	// may not; app is a role of A whose sessions may.
	dev := env.AddUserIn(t, a, "dev")
	env.PutInlineIn(t, store.KindUser, a, "dev", "assume", allow)
	plain := env.AddUserIn(t, a, "plain")
	app := env.AddRoleIn(t, a, "app", "/", trust(`"`+a+`"`), 0)
	env.PutInlineIn(t, store.KindRole, a, "app", "assume", allow)
	// A user of B with an identity policy (same-account cases in B).
	bdev := env.AddUserIn(t, b, "dev")
	env.PutInlineIn(t, store.KindUser, b, "dev", "assume", allow)

	userARN := func(acct, name string) string { return `"arn:aws:iam::` + acct + `:user/` + name + `"` }
	roles := map[string]string{ // role name → trust policy (in both accounts)
		"trusts-a-root":    trust(`"arn:aws:iam::` + a + `:root"`),
		"trusts-a-bare":    trust(`"` + a + `"`),
		"trusts-dev":       trust(userARN(a, "dev")),
		"trusts-plain":     trust(userARN(a, "plain")),
		"trusts-app":       trust(`"arn:aws:iam::` + a + `:role/app"`),
		"trusts-other":     trust(`"999999999999"`),
		"trusts-b-root":    trust(`"arn:aws:iam::` + b + `:root"`),
		"trusts-b-dev":     trust(userARN(b, "dev")),
		"trusts-b-plain-a": trust(`["` + b + `",` + userARN(a, "plain") + `]`),
	}
	for name, doc := range roles {
		env.AddRoleIn(t, a, name, "/", doc, 0)
		env.AddRoleIn(t, b, name, "/", doc, 0)
	}
	appSession := auth.RoleSessionPrincipal("aws", a, "ASIAAPPSESSION000001", &auth.Session{
		Account: a, RoleARN: app.ARN, RoleID: app.ID, RoleName: "app", Type: auth.AssumedRole, SessionName: "s", Issued: env.Clock.Now(), Expires: env.Clock.Now().Add(3600e9)})
	callers := map[string]*auth.Principal{
		"dev":   auth.UserPrincipal(dev, a, "AKIADEV"),
		"plain": auth.UserPrincipal(plain, a, "AKIAPLAIN"),
		"app":   appSession,
		"b-dev": auth.UserPrincipal(bdev, b, "AKIABDEV"),
	}
	cases := []struct {
		caller, account, role string
		ok                    bool
	}{
		// Same account (A): the trust naming the principal suffices;
		// naming the account needs the identity policy.
		{"dev", a, "trusts-a-root", true},
		{"dev", a, "trusts-a-bare", true},
		{"plain", a, "trusts-a-root", false},
		{"plain", a, "trusts-a-bare", false},
		{"plain", a, "trusts-plain", true},
		{"dev", a, "trusts-plain", false},
		{"dev", a, "trusts-other", false},
		// Cross account (A → B): both must allow.
		{"dev", b, "trusts-a-root", true},
		{"dev", b, "trusts-a-bare", true},
		{"dev", b, "trusts-dev", true},
		{"plain", b, "trusts-a-root", false},
		{"plain", b, "trusts-plain", false}, // names the principal, but no identity policy
		{"plain", b, "trusts-b-plain-a", false},
		{"dev", b, "trusts-plain", false}, // identity allows, trust does not name dev
		{"dev", b, "trusts-other", false},
		{"dev", b, "trusts-b-root", false}, // B's own account is not A
		{"app", b, "trusts-app", true},     // a role session, chained across
		{"app", b, "trusts-a-root", true},
		{"app", b, "trusts-dev", false},
		// Same account (B): B's principal, trust naming B.
		{"b-dev", b, "trusts-b-root", true},
		{"b-dev", b, "trusts-b-dev", true},
		{"b-dev", b, "trusts-a-root", false},
		// Cross account (B → A).
		{"b-dev", a, "trusts-b-dev", true},
		{"b-dev", a, "trusts-dev", false},
	}
	for _, c := range cases {
		name := c.caller + " assumes " + c.account + "/" + c.role
		t.Run(name, func(t *testing.T) {
			caller := callers[c.caller]
			roleARN := "arn:aws:iam::" + c.account + ":role/" + c.role
			out, err := svc.AssumeRole(auth.WithPrincipal(context.Background(), caller), &AssumeRoleInput{RoleArn: roleARN, RoleSessionName: "xs"})
			if !c.ok {
				if err == nil {
					t.Fatalf("allowed, want AccessDenied")
				}
				wantErr(t, err, "AccessDenied", 403, "")
				return
			}
			if err != nil {
				t.Fatalf("refused: %v", err)
			}
			want := "arn:aws:sts::" + c.account + ":assumed-role/" + c.role + "/xs"
			if out.AssumedRoleUser.Arn != want {
				t.Errorf("AssumedRoleUser.Arn = %s, want %s", out.AssumedRoleUser.Arn, want)
			}
			// The session's own caller identity is in the role's account.
			_, p, err := env.Resolver.LookupSecret(context.Background(), out.Credentials.AccessKeyID, out.Credentials.SessionToken)
			if err != nil {
				t.Fatal(err)
			}
			if got := p.(*auth.Principal); got.AccountID != c.account || got.ARN != want {
				t.Errorf("session principal %s in %s, want %s in %s", got.ARN, got.AccountID, want, c.account)
			}
		})
	}
}

// TestSessionTokenKeepsAccount: GetSessionToken credentials of a user or
// root of a further hosted account resolve to that account's principal.
func TestSessionTokenKeepsAccount(t *testing.T) {
	b := authtest.OtherAccount
	env := authtest.New(t)
	svc, err := New(Config{Store: env.Store, AccountID: authtest.Account, Accounts: []string{b}, Now: env.Clock.Now,
		Authorizer: env.Authorizer, Engine: env.Engine, Minter: env.Minter, Sessions: env.Minter})
	if err != nil {
		t.Fatal(err)
	}
	dev := env.AddUserIn(t, b, "dev")
	for _, p := range []*auth.Principal{auth.UserPrincipal(dev, b, "AKIADEVB"), auth.RootPrincipal("aws", b, "AKIAROOTB")} {
		out, err := svc.GetSessionToken(auth.WithPrincipal(context.Background(), p), &GetSessionTokenInput{})
		if err != nil {
			t.Fatal(err)
		}
		_, got, err := env.Resolver.LookupSecret(context.Background(), out.Credentials.AccessKeyID, out.Credentials.SessionToken)
		if err != nil {
			t.Fatal(err)
		}
		if g := got.(*auth.Principal); g.AccountID != b || g.ARN != p.ARN {
			t.Errorf("session of %s resolves to %s in %s", p.ARN, g.ARN, g.AccountID)
		}
	}
}
