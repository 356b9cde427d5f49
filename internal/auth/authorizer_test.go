package auth_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/podid/podid/internal/auth"
	"github.com/podid/podid/internal/auth/authtest"
	"github.com/podid/podid/internal/store"
)

const (
	allowCreateRole = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iam:CreateRole","Resource":"*"}]}`
	allowIAMAll     = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iam:*","Resource":"*"}]}`
	denyCreateRole  = `{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"iam:CreateRole","Resource":"*"}]}`
	allowGetRole    = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iam:GetRole","Resource":"*"}]}`
	ownUserOnly     = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iam:GetUser","Resource":"arn:aws:iam::123456789012:user/${aws:username}"}]}`
	teamTag         = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iam:GetRole","Resource":"*","Condition":{"StringEquals":{"aws:PrincipalTag/team":"blue"}}}]}`
	denyInsecure    = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iam:*","Resource":"*"},{"Effect":"Deny","Action":"*","Resource":"*","Condition":{"Bool":{"aws:SecureTransport":"false"}}}]}`
	denyNoMFA       = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iam:*","Resource":"*"},{"Effect":"Deny","Action":"*","Resource":"*","Condition":{"Bool":{"aws:MultiFactorAuthPresent":"false"}}}]}`
	regionOnly      = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iam:*","Resource":"*","Condition":{"StringEquals":{"aws:RequestedRegion":"eu-west-1"}}}]}`
	extraKey        = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iam:AttachRolePolicy","Resource":"*","Condition":{"ArnEquals":{"iam:PolicyARN":"arn:aws:iam::123456789012:policy/ok"}}}]}`
	beforeDate      = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iam:*","Resource":"*","Condition":{"DateLessThan":{"aws:CurrentTime":"2026-01-02T04:00:00Z"}}}]}`
)

func TestAuthorize(t *testing.T) {
	env := authtest.New(t)
	ctx := context.Background()
	now := env.Clock.Now()

	users := map[string]*store.User{}
	addUser := func(name string, tags ...store.Tag) *store.User {
		u := env.AddUser(t, name, tags...)
		users[name] = u
		return u
	}
	addUser("nobody")
	addUser("creator")
	env.Attach(t, store.KindUser, "creator", env.AddPolicy(t, "create-role", allowCreateRole))
	addUser("denied")
	env.Attach(t, store.KindUser, "denied", env.AddPolicy(t, "iam-all", allowIAMAll))
	env.PutInline(t, store.KindUser, "denied", "no-create", denyCreateRole)
	addUser("bounded")
	env.Attach(t, store.KindUser, "bounded", PolicyARNOf("iam-all"))
	env.SetBoundary(t, store.KindUser, "bounded", env.AddPolicy(t, "get-role", allowGetRole))
	addUser("lostboundary")
	env.Attach(t, store.KindUser, "lostboundary", PolicyARNOf("iam-all"))
	env.SetBoundary(t, store.KindUser, "lostboundary", authtest.PolicyARN("does-not-exist"))
	addUser("self")
	env.PutInline(t, store.KindUser, "self", "own", ownUserOnly)
	addUser("blue", store.Tag{Key: "team", Value: "blue"})
	env.PutInline(t, store.KindUser, "blue", "abac", teamTag)
	addUser("secure")
	env.PutInline(t, store.KindUser, "secure", "tls", denyInsecure)
	addUser("mfa")
	env.PutInline(t, store.KindUser, "mfa", "mfa", denyNoMFA)
	addUser("region")
	env.PutInline(t, store.KindUser, "region", "region", regionOnly)
	addUser("extra")
	env.PutInline(t, store.KindUser, "extra", "extra", extraKey)
	addUser("dated")
	env.PutInline(t, store.KindUser, "dated", "dated", beforeDate)

	appRole := env.AddRole(t, "app", "/team/", `{"Version":"2012-10-17","Statement":[]}`, 0, store.Tag{Key: "Team", Value: "red"})
	env.Attach(t, store.KindRole, "app", PolicyARNOf("iam-all"))
	env.PutInline(t, store.KindRole, "app", "abac", teamTag)
	roleSession := func(policies []string, tags map[string]string) *auth.Principal {
		return env.Session(t, &auth.Session{RoleARN: appRole.ARN, RoleID: appRole.ID, RoleName: "app", Type: auth.AssumedRole,
			SessionName: "s", Policies: policies, Tags: tags, Issued: now, Expires: now.Add(time.Hour)})
	}
	staleSession := env.Session(t, &auth.Session{RoleARN: appRole.ARN, RoleID: "AROAOLDOLDOLDOLDOLDOL", RoleName: "app", Type: auth.AssumedRole,
		SessionName: "old", Issued: now, Expires: now.Add(time.Hour)})
	mfaSession := env.Session(t, &auth.Session{Type: auth.User, UserName: "mfa", SourceARN: users["mfa"].ARN, Issued: now, Expires: now.Add(time.Hour)})

	const roleRes = "arn:aws:iam::123456789012:role/x"
	userARN := func(n string) string { return "arn:aws:iam::123456789012:user/" + n }
	head := func(who, action, res string) string {
		return "User: " + who + " is not authorized to perform: " + action + " on resource: " + res
	}
	tests := []struct {
		name   string
		p      *auth.Principal
		ri     *auth.RequestInfo
		action string
		res    string
		extra  map[string][]string
		denied string // "" means allowed
	}{
		{name: "root", p: env.Root(), action: "iam:DeleteRole", res: roleRes},
		{name: "no policy", p: env.User(users["nobody"]), action: "iam:CreateRole", res: roleRes,
			denied: head(userARN("nobody"), "iam:CreateRole", roleRes) + " because no identity-based policy allows the iam:CreateRole action"},
		{name: "managed allow", p: env.User(users["creator"]), action: "iam:CreateRole", res: roleRes},
		{name: "managed allow, other action", p: env.User(users["creator"]), action: "iam:DeleteRole", res: roleRes,
			denied: head(userARN("creator"), "iam:DeleteRole", roleRes) + " because no identity-based policy allows the iam:DeleteRole action"},
		{name: "inline deny", p: env.User(users["denied"]), action: "iam:CreateRole", res: roleRes,
			denied: head(userARN("denied"), "iam:CreateRole", roleRes) + " with an explicit deny in an identity-based policy"},
		{name: "inline deny, other action", p: env.User(users["denied"]), action: "iam:GetRole", res: roleRes},
		{name: "boundary allows", p: env.User(users["bounded"]), action: "iam:GetRole", res: roleRes},
		{name: "boundary blocks", p: env.User(users["bounded"]), action: "iam:CreateRole", res: roleRes,
			denied: head(userARN("bounded"), "iam:CreateRole", roleRes) + " because no permissions boundary allows the iam:CreateRole action"},
		{name: "missing boundary policy allows nothing", p: env.User(users["lostboundary"]), action: "iam:GetRole", res: roleRes,
			denied: head(userARN("lostboundary"), "iam:GetRole", roleRes) + " because no permissions boundary allows the iam:GetRole action"},
		{name: "aws:username variable, own user", p: env.User(users["self"]), action: "iam:GetUser", res: userARN("self")},
		{name: "aws:username variable, other user", p: env.User(users["self"]), action: "iam:GetUser", res: userARN("bob"),
			denied: head(userARN("self"), "iam:GetUser", userARN("bob")) + " because no identity-based policy allows the iam:GetUser action"},
		{name: "user tag", p: env.User(users["blue"]), action: "iam:GetRole", res: roleRes},
		{name: "role tag does not match", p: roleSession([]string{teamTag}, nil), action: "iam:GetRole", res: roleRes,
			denied: head("arn:aws:sts::123456789012:assumed-role/app/s", "iam:GetRole", roleRes) + " because no session policy allows the iam:GetRole action"},
		{name: "session tag overrides role tag", p: roleSession([]string{teamTag}, map[string]string{"TEAM": "blue"}), action: "iam:GetRole", res: roleRes},
		{name: "session policy allows", p: roleSession([]string{allowGetRole}, nil), action: "iam:GetRole", res: roleRes},
		{name: "session policy blocks", p: roleSession([]string{allowGetRole}, nil), action: "iam:CreateRole", res: roleRes,
			denied: head("arn:aws:sts::123456789012:assumed-role/app/s", "iam:CreateRole", roleRes) + " because no session policy allows the iam:CreateRole action"},
		{name: "session policies are a union", p: roleSession([]string{allowGetRole, allowCreateRole}, nil), action: "iam:CreateRole", res: roleRes},
		{name: "role re-created under the same name", p: staleSession, action: "iam:GetRole", res: roleRes,
			denied: head("arn:aws:sts::123456789012:assumed-role/app/old", "iam:GetRole", roleRes) + " because no identity-based policy allows the iam:GetRole action"},
		{name: "secure transport", p: env.User(users["secure"]), ri: &auth.RequestInfo{SecureTransport: true}, action: "iam:GetRole", res: roleRes},
		{name: "insecure transport", p: env.User(users["secure"]), ri: &auth.RequestInfo{}, action: "iam:GetRole", res: roleRes,
			denied: head(userARN("secure"), "iam:GetRole", roleRes) + " with an explicit deny in an identity-based policy"},
		{name: "MFA key absent for long-term keys", p: env.User(users["mfa"]), action: "iam:GetRole", res: roleRes},
		{name: "MFA false for session credentials", p: mfaSession, action: "iam:GetRole", res: roleRes,
			denied: head(userARN("mfa"), "iam:GetRole", roleRes) + " with an explicit deny in an identity-based policy"},
		{name: "requested region", p: env.User(users["region"]), ri: &auth.RequestInfo{Region: "eu-west-1"}, action: "iam:GetRole", res: roleRes},
		{name: "other region", p: env.User(users["region"]), ri: &auth.RequestInfo{Region: "us-east-1"}, action: "iam:GetRole", res: roleRes,
			denied: head(userARN("region"), "iam:GetRole", roleRes) + " because no identity-based policy allows the iam:GetRole action"},
		{name: "extra key matches", p: env.User(users["extra"]), action: "iam:AttachRolePolicy", res: roleRes,
			extra: map[string][]string{"iam:PolicyARN": {"arn:aws:iam::123456789012:policy/ok"}}},
		{name: "extra key differs", p: env.User(users["extra"]), action: "iam:AttachRolePolicy", res: roleRes,
			extra:  map[string][]string{"iam:PolicyARN": {"arn:aws:iam::123456789012:policy/admin"}},
			denied: head(userARN("extra"), "iam:AttachRolePolicy", roleRes) + " because no identity-based policy allows the iam:AttachRolePolicy action"},
		{name: "current time before", p: env.User(users["dated"]), action: "iam:GetRole", res: roleRes},
		{name: "anonymous", p: nil, action: "iam:GetRole", res: roleRes, denied: "Anonymous user is not authorized to perform: iam:GetRole on resource: " + roleRes},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := ctx
			if tc.ri != nil {
				c = auth.WithRequestInfo(ctx, *tc.ri)
			}
			err := env.Authorizer.Authorize(c, tc.p, tc.action, tc.res, tc.extra)
			if tc.denied == "" {
				if err != nil {
					t.Fatalf("Authorize: %v", err)
				}
				return
			}
			var de *auth.DeniedError
			if !errors.As(err, &de) {
				t.Fatalf("Authorize = %v, want a denial", err)
			}
			if de.Message != tc.denied {
				t.Errorf("message:\n got %q\nwant %q", de.Message, tc.denied)
			}
			if explicit := strings.Contains(tc.denied, "explicit deny"); de.Explicit != explicit {
				t.Errorf("Explicit = %v, want %v", de.Explicit, explicit)
			}
		})
	}

	t.Run("time moves on", func(t *testing.T) {
		env.Clock.Advance(time.Hour)
		err := env.Authorizer.Authorize(ctx, env.User(users["dated"]), "iam:GetRole", roleRes, nil)
		var de *auth.DeniedError
		if !errors.As(err, &de) {
			t.Fatalf("Authorize after the date = %v, want a denial", err)
		}
	})
}

func PolicyARNOf(name string) string { return authtest.PolicyARN(name) }

func TestAuthorizerCache(t *testing.T) {
	env := authtest.New(t)
	ctx := context.Background()
	u := env.AddUser(t, "carol")
	a := auth.NewAuthorizer(auth.AuthorizerConfig{Store: env.Store, Engine: env.Engine, AccountID: authtest.Account, Now: env.Clock.Now, CacheTTL: time.Minute})
	p := env.User(u)
	allowed := func() bool {
		err := a.Authorize(ctx, p, "iam:CreateRole", "*", nil)
		var de *auth.DeniedError
		if err != nil && !errors.As(err, &de) {
			t.Fatalf("Authorize: %v", err)
		}
		return err == nil
	}
	if allowed() {
		t.Fatal("allowed before any policy")
	}
	env.PutInline(t, store.KindUser, "carol", "p", allowCreateRole) // invalidates env.Authorizer, not a
	if allowed() {
		t.Fatal("cached set not used within the TTL")
	}
	a.Invalidate()
	if !allowed() {
		t.Fatal("Invalidate did not drop the cached set")
	}
	env.PutInline(t, store.KindUser, "carol", "p", denyCreateRole)
	if !allowed() {
		t.Fatal("cached set not used within the TTL")
	}
	env.Clock.Advance(time.Minute)
	if allowed() {
		t.Fatal("cached set used past the TTL")
	}

	// Writes through the invalidating store are seen at once.
	wrapped := a.InvalidatingStore(env.Store)
	err := wrapped.Update(ctx, func(tx store.Tx) error {
		return tx.PutInlinePolicy(&store.InlinePolicy{Account: authtest.Account, Kind: store.KindUser, PrincipalName: "carol", PolicyName: "p", Document: allowCreateRole})
	})
	if err != nil {
		t.Fatal(err)
	}
	if !allowed() {
		t.Fatal("a write through InvalidatingStore did not invalidate the cache")
	}

	noCache := auth.NewAuthorizer(auth.AuthorizerConfig{Store: env.Store, Engine: env.Engine, AccountID: authtest.Account, Now: env.Clock.Now})
	if err := noCache.Authorize(ctx, p, "iam:CreateRole", "*", nil); err != nil {
		t.Fatalf("uncached Authorize: %v", err)
	}
	wrapped.Update(ctx, func(tx store.Tx) error {
		return tx.PutInlinePolicy(&store.InlinePolicy{Account: authtest.Account, Kind: store.KindUser, PrincipalName: "carol", PolicyName: "p", Document: denyCreateRole})
	})
	if err := noCache.Authorize(ctx, p, "iam:CreateRole", "*", nil); err == nil {
		t.Fatal("uncached Authorize did not see the write")
	}
}

// TestAuthorizeAcrossAccounts: a caller is authorized in its own account
// only. A resource of another hosted account (podid's authorized
// resources have no resource policies) is refused to every caller, the
// other account's root included; the caller's own account's resources,
// and resources of accounts podid does not host, are decided by its
// policies as usual.
func TestAuthorizeAcrossAccounts(t *testing.T) {
	env := authtest.New(t)
	ctx := context.Background()
	const allowAll = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}`
	admin := env.AddUserIn(t, authtest.OtherAccount, "admin")
	env.PutInlineIn(t, store.KindUser, authtest.OtherAccount, "admin", "all", allowAll)
	rootA := auth.RootPrincipal("aws", authtest.Account, "AKIAROOTA")
	rootB := auth.RootPrincipal("aws", authtest.OtherAccount, "AKIAROOTB")
	adminB := auth.UserPrincipal(admin, authtest.OtherAccount, "AKIAADMINB")
	clusterA := "arn:aws:eks:us-west-2:" + authtest.Account + ":cluster/prod"
	clusterB := "arn:aws:eks:us-west-2:" + authtest.OtherAccount + ":cluster/prod"
	cases := []struct {
		name     string
		p        *auth.Principal
		resource string
		allowed  bool
	}{
		{"A's root on A's cluster", rootA, clusterA, true},
		{"B's root on A's cluster", rootB, clusterA, false},
		{"A's root on B's cluster", rootA, clusterB, false},
		{"B's root on B's cluster", rootB, clusterB, true},
		{"B's admin on B's cluster", adminB, clusterB, true},
		{"B's admin on A's cluster", adminB, clusterA, false},
		{"B's admin on *", adminB, "*", true},
		{"B's admin on an AWS managed policy", adminB, "arn:aws:iam::aws:policy/ReadOnlyAccess", true},
		{"B's admin on A's role", adminB, authtest.RoleARN("app"), false},
		// An account podid does not host (a role in AWS, broker mode):
		// decided by the caller's own policies, as before.
		{"A's root on a role in AWS", rootA, "arn:aws:iam::999999999999:role/in-aws", true},
		{"B's admin on a role in AWS", adminB, "arn:aws:iam::999999999999:role/in-aws", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := env.Authorizer.Authorize(ctx, c.p, "eks:DescribeCluster", c.resource, nil)
			if c.allowed {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			var de *auth.DeniedError
			if !errors.As(err, &de) {
				t.Fatalf("err = %v, want a denial", err)
			}
			want := "User: " + c.p.ARN + " is not authorized to perform: eks:DescribeCluster on resource: " + c.resource + " because no resource-based policy allows the eks:DescribeCluster action"
			if de.Message != want {
				t.Errorf("message %q\nwant %q", de.Message, want)
			}
		})
	}
}
