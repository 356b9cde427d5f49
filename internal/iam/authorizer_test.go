package iam

import (
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
