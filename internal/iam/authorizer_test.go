package iam

import (
	"context"
	"testing"

	"github.com/podid/podid/internal/auth"
	"github.com/podid/podid/internal/policy"
)

// TestWithAuthorizer runs the service with the real authorizer: resources
// are authorized by their ARNs with paths, denials carry the authorizer's
// sentence, and the service's writes invalidate the authorizer's cache.
func TestWithAuthorizer(t *testing.T) {
	env := newTestEnv(t, func(c *Config) {
		c.Authorizer = auth.NewAuthorizer(auth.AuthorizerConfig{
			Store: c.Store, Engine: policy.NewEngine(100), AccountID: testAccount, CacheTTL: 3600e9,
		})
	})
	env.createRole(t, "inside", "/svc/")
	env.createRole(t, "outside", "/")
	alice, err := env.svc.CreateUser(env.ctx, &CreateUserInput{UserName: "alice"})
	must(t, err)
	ctx := auth.WithPrincipal(env.ctx, auth.UserPrincipal(alice.User, testAccount, "AKIAEXAMPLEEXAMPLE01"))

	_, err = env.svc.GetRole(ctx, &GetRoleInput{RoleName: "inside"})
	wantErr(t, err, 403, "AccessDenied", "User: arn:aws:iam::123456789012:user/alice is not authorized to perform: iam:GetRole on resource: arn:aws:iam::123456789012:role/svc/inside because no identity-based policy allows the iam:GetRole action")

	// Granting takes effect at once, although the authorizer caches for an hour.
	must(t, env.svc.PutUserPolicy(env.ctx, &PutInlinePolicyInput{Name: "alice", PolicyName: "svc-roles", PolicyDocument: `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["iam:GetRole","iam:ListRoles"],"Resource":"arn:aws:iam::123456789012:role/svc/*"}]}`}))
	_, err = env.svc.GetRole(ctx, &GetRoleInput{RoleName: "inside"})
	must(t, err)
	_, err = env.svc.GetRole(ctx, &GetRoleInput{RoleName: "outside"})
	wantErr(t, err, 403, "AccessDenied", "User: arn:aws:iam::123456789012:user/alice is not authorized to perform: iam:GetRole on resource: arn:aws:iam::123456789012:role/outside because no identity-based policy allows the iam:GetRole action")
	list, err := env.svc.ListRoles(ctx, &ListRolesInput{PathPrefix: "/svc/"})
	must(t, err)
	if len(list.Roles) != 1 || list.Roles[0].Name != "inside" {
		t.Fatalf("ListRoles = %+v", list.Roles)
	}
	_, err = env.svc.ListRoles(ctx, &ListRolesInput{})
	wantErr(t, err, 403, "AccessDenied", "User: arn:aws:iam::123456789012:user/alice is not authorized to perform: iam:ListRoles on resource: arn:aws:iam::123456789012:role/ because no identity-based policy allows the iam:ListRoles action")

	// Revoking takes effect at once too.
	must(t, env.svc.DeleteUserPolicy(env.ctx, &InlinePolicyInput{Name: "alice", PolicyName: "svc-roles"}))
	_, err = env.svc.GetRole(ctx, &GetRoleInput{RoleName: "inside"})
	if err == nil {
		t.Fatalf("GetRole allowed after the policy was deleted")
	}
}

// TestLoginProfilesWithAuthorizer: the real policy engine decides the
// console-password actions. AWS's IAMUserChangePassword-style policy
// (iam:ChangePassword on the caller's own user through ${aws:username})
// lets a user change their own password and nobody else's; an explicit
// Deny wins over the password policy's AllowUsersToChangePassword.
func TestLoginProfilesWithAuthorizer(t *testing.T) {
	env := newTestEnv(t, func(c *Config) {
		c.Authorizer = auth.NewAuthorizer(auth.AuthorizerConfig{
			Store: c.Store, Engine: policy.NewEngine(100), AccountID: testAccount, CacheTTL: 3600e9,
		})
	})
	users := map[string]context.Context{}
	for _, name := range []string{"alice", "bob"} {
		out, err := env.svc.CreateUser(env.ctx, &CreateUserInput{UserName: name})
		must(t, err)
		_, err = env.svc.CreateLoginProfile(env.ctx, &CreateLoginProfileInput{UserName: name, Password: "First-Passw0rd"})
		must(t, err)
		users[name] = auth.WithPrincipal(env.ctx, auth.UserPrincipal(out.User, testAccount, "AKIAEXAMPLEEXAMPLE01"))
	}
	must(t, env.svc.PutUserPolicy(env.ctx, &PutInlinePolicyInput{Name: "alice", PolicyName: "own-password", PolicyDocument: `{"Version":"2012-10-17","Statement":[
		{"Effect":"Allow","Action":["iam:ChangePassword","iam:GetLoginProfile"],"Resource":"arn:aws:iam::*:user/${aws:username}"},
		{"Effect":"Allow","Action":"iam:GetAccountPasswordPolicy","Resource":"*"}]}`}))

	must(t, env.svc.ChangePassword(users["alice"], &ChangePasswordInput{OldPassword: "First-Passw0rd", NewPassword: "Second-Passw0rd"}))
	_, err := env.svc.GetLoginProfile(users["alice"], &LoginProfileInput{})
	must(t, err)
	_, err = env.svc.GetLoginProfile(users["alice"], &LoginProfileInput{UserName: "bob"})
	wantErr(t, err, 403, "AccessDenied", "User: arn:aws:iam::123456789012:user/alice is not authorized to perform: iam:GetLoginProfile on resource: arn:aws:iam::123456789012:user/bob because no identity-based policy allows the iam:GetLoginProfile action")
	err = env.svc.UpdateLoginProfile(users["alice"], &UpdateLoginProfileInput{UserName: "bob", Password: ptr("Stolen-Passw0rd")})
	wantErr(t, err, 403, "AccessDenied", "User: arn:aws:iam::123456789012:user/alice is not authorized to perform: iam:UpdateLoginProfile on resource: arn:aws:iam::123456789012:user/bob because no identity-based policy allows the iam:UpdateLoginProfile action")
	_, err = env.svc.GetAccountPasswordPolicy(users["alice"])
	wantErr(t, err, 404, "NoSuchEntity", "The Password Policy with domain name 123456789012 cannot be found.")
	err = env.svc.UpdateAccountPasswordPolicy(users["alice"], &UpdateAccountPasswordPolicyInput{})
	wantErr(t, err, 403, "AccessDenied", "User: arn:aws:iam::123456789012:user/alice is not authorized to perform: iam:UpdateAccountPasswordPolicy on resource: * because no identity-based policy allows the iam:UpdateAccountPasswordPolicy action")

	// bob has no policy: refused, until the account policy lets users
	// change their own password; then an explicit Deny refuses again.
	bobChange := func(old, new string) error {
		return env.svc.ChangePassword(users["bob"], &ChangePasswordInput{OldPassword: old, NewPassword: new})
	}
	wantErr(t, bobChange("First-Passw0rd", "Second-Passw0rd"), 403, "AccessDenied", "User: arn:aws:iam::123456789012:user/bob is not authorized to perform: iam:ChangePassword on resource: arn:aws:iam::123456789012:user/bob because no identity-based policy allows the iam:ChangePassword action")
	must(t, env.svc.UpdateAccountPasswordPolicy(env.ctx, &UpdateAccountPasswordPolicyInput{AllowUsersToChangePassword: true}))
	must(t, bobChange("First-Passw0rd", "Second-Passw0rd"))
	must(t, env.svc.PutUserPolicy(env.ctx, &PutInlinePolicyInput{Name: "bob", PolicyName: "frozen", PolicyDocument: `{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"iam:ChangePassword","Resource":"*"}]}`}))
	wantErr(t, bobChange("Second-Passw0rd", "Third-Passw0rd"), 403, "AccessDenied", "User: arn:aws:iam::123456789012:user/bob is not authorized to perform: iam:ChangePassword on resource: arn:aws:iam::123456789012:user/bob with an explicit deny in an identity-based policy")
}
