package iam

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/podid/podid/internal/ids"
	"github.com/podid/podid/internal/store"
)

func TestUsers(t *testing.T) {
	env := newTestEnv(t)
	created, err := env.svc.CreateUser(env.ctx, &CreateUserInput{UserName: "alice", Path: "/eng/", Tags: []store.Tag{{Key: "team", Value: "a"}}})
	must(t, err)
	u := created.User
	if u.ARN != "arn:aws:iam::123456789012:user/eng/alice" || !ids.IsUserID(u.ID) || !u.CreatedAt.Equal(testStart) {
		t.Fatalf("created = %+v", u)
	}
	_, err = env.svc.CreateUser(env.ctx, &CreateUserInput{UserName: "Alice"})
	wantErr(t, err, 409, "EntityAlreadyExists", "User with name Alice already exists.")
	_, err = env.svc.CreateUser(env.ctx, &CreateUserInput{UserName: repeat("u", 65)})
	wantErr(t, err, 400, "ValidationError", "1 validation error detected: Value '"+repeat("u", 65)+"' at 'userName' failed to satisfy constraint: Member must have length less than or equal to 64")

	got, err := env.svc.GetUser(env.ctx, &GetUserInput{UserName: "alice"})
	must(t, err)
	if got.User.ID != u.ID || len(got.User.Tags) != 1 {
		t.Fatalf("GetUser = %+v", got.User)
	}
	_, err = env.svc.GetUser(env.ctx, &GetUserInput{UserName: "bob"})
	wantErr(t, err, 404, "NoSuchEntity", "The user with name bob cannot be found.")

	// Without a name GetUser answers about the caller.
	root, err := env.svc.GetUser(env.ctx, &GetUserInput{})
	must(t, err)
	if root.User.ARN != "arn:aws:iam::123456789012:root" || root.User.ID != testAccount || root.User.Name != "" {
		t.Fatalf("root = %+v", root.User)
	}
	self, err := env.svc.GetUser(env.userCtx("alice"), &GetUserInput{})
	must(t, err)
	if self.User.ID != u.ID {
		t.Fatalf("self = %+v", self.User)
	}
	if c := env.authz.last(); c.Action != "iam:GetUser" || c.Resource != u.ARN || fmt.Sprint(c.Extra["aws:ResourceTag/team"]) != "[a]" {
		t.Fatalf("authorized %+v", c)
	}
	_, err = env.svc.GetUser(env.roleCtx("r"), &GetUserInput{})
	wantErr(t, err, 400, "ValidationError", "Must specify userName when calling with non-User credentials")

	must(t, env.svc.TagUser(env.ctx, &TagUserInput{UserName: "alice", Tags: []store.Tag{{Key: "TEAM", Value: "b"}, {Key: "cost", Value: "1"}}}))
	must(t, env.svc.UntagUser(env.ctx, &UntagUserInput{UserName: "alice", TagKeys: []string{"cost"}}))
	tags, err := env.svc.ListUserTags(env.ctx, &ListUserTagsInput{UserName: "alice"})
	must(t, err)
	if fmt.Sprint(tags.Tags) != "[{TEAM b}]" {
		t.Fatalf("user tags = %v", tags.Tags)
	}
	_, err = env.svc.ListUserTags(env.ctx, &ListUserTagsInput{UserName: "bob"})
	wantErr(t, err, 404, "NoSuchEntity", "The user with name bob cannot be found.")

	list, err := env.svc.ListUsers(env.ctx, &ListUsersInput{PathPrefix: "/eng/"})
	must(t, err)
	if len(list.Users) != 1 || list.Users[0].Name != "alice" {
		t.Fatalf("ListUsers = %+v", list)
	}
}

func TestAccessKeys(t *testing.T) {
	env := newTestEnv(t)
	_, err := env.svc.CreateUser(env.ctx, &CreateUserInput{UserName: "alice"})
	must(t, err)

	k1, err := env.svc.CreateAccessKey(env.ctx, &CreateAccessKeyInput{UserName: "alice"})
	must(t, err)
	ak := k1.AccessKey
	if !ids.IsAccessKeyID(ak.AccessKeyID) || !ids.IsSecretAccessKey(ak.SecretAccessKey) || ak.Status != "Active" || ak.UserName != "alice" {
		t.Fatalf("key = %+v", ak)
	}
	// The secret is stored sealed with the key ID as associated data.
	must(t, env.store.View(context.Background(), func(tx store.Tx) error {
		k, err := tx.GetAccessKey(ak.AccessKeyID)
		if err != nil {
			return err
		}
		if string(k.SealedSecret) == ak.SecretAccessKey {
			t.Fatalf("secret stored in clear")
		}
		plain, err := env.keyring.Open(k.SealedSecret, []byte(ak.AccessKeyID))
		if err != nil || string(plain) != ak.SecretAccessKey {
			t.Fatalf("unseal = %q, %v", plain, err)
		}
		return nil
	}))

	// The caller's own keys when UserName is left out.
	k2, err := env.svc.CreateAccessKey(env.userCtx("alice"), &CreateAccessKeyInput{})
	must(t, err)
	_, err = env.svc.CreateAccessKey(env.ctx, &CreateAccessKeyInput{UserName: "alice"})
	wantErr(t, err, 409, "LimitExceeded", "Cannot exceed quota for AccessKeysPerUser: 2")
	_, err = env.svc.CreateAccessKey(env.ctx, &CreateAccessKeyInput{UserName: "bob"})
	wantErr(t, err, 404, "NoSuchEntity", "The user with name bob cannot be found.")
	_, err = env.svc.CreateAccessKey(env.roleCtx("r"), &CreateAccessKeyInput{})
	wantErr(t, err, 400, "ValidationError", "Must specify userName when calling with non-User credentials")

	list, err := env.svc.ListAccessKeys(env.userCtx("alice"), &ListAccessKeysInput{})
	must(t, err)
	if len(list.AccessKeyMetadata) != 2 {
		t.Fatalf("keys = %+v", list)
	}
	for _, m := range list.AccessKeyMetadata {
		if m.UserName != "alice" || m.Status != "Active" || !m.CreateDate.Equal(testStart) {
			t.Fatalf("metadata = %+v", m)
		}
	}

	must(t, env.svc.UpdateAccessKey(env.ctx, &UpdateAccessKeyInput{UserName: "alice", AccessKeyID: ak.AccessKeyID, Status: "Inactive"}))
	wantErr(t, env.svc.UpdateAccessKey(env.ctx, &UpdateAccessKeyInput{UserName: "alice", AccessKeyID: ak.AccessKeyID, Status: "Off"}),
		400, "ValidationError", "1 validation error detected: Value 'Off' at 'status' failed to satisfy constraint: Member must satisfy enum value set: [Active, Inactive, Expired]")

	// Root's own keys live apart from any user's.
	rootKey, err := env.svc.CreateAccessKey(env.ctx, &CreateAccessKeyInput{})
	must(t, err)
	if rootKey.AccessKey.UserName != "" {
		t.Fatalf("root key user = %q", rootKey.AccessKey.UserName)
	}
	wantErr(t, env.svc.DeleteAccessKey(env.ctx, &DeleteAccessKeyInput{UserName: "alice", AccessKeyID: rootKey.AccessKey.AccessKeyID}),
		404, "NoSuchEntity", "The Access Key with id "+rootKey.AccessKey.AccessKeyID+" cannot be found")

	wantErr(t, env.svc.DeleteUser(env.ctx, &DeleteUserInput{UserName: "alice"}), 409, "DeleteConflict", "Cannot delete entity, must delete access keys first.")
	must(t, env.svc.DeleteAccessKey(env.ctx, &DeleteAccessKeyInput{UserName: "alice", AccessKeyID: ak.AccessKeyID}))
	must(t, env.svc.DeleteAccessKey(env.userCtx("alice"), &DeleteAccessKeyInput{AccessKeyID: k2.AccessKey.AccessKeyID}))
	wantErr(t, env.svc.DeleteAccessKey(env.ctx, &DeleteAccessKeyInput{UserName: "alice", AccessKeyID: ak.AccessKeyID}),
		404, "NoSuchEntity", "The Access Key with id "+ak.AccessKeyID+" cannot be found")
	wantErr(t, env.svc.DeleteAccessKey(env.ctx, &DeleteAccessKeyInput{UserName: "alice", AccessKeyID: "short"}),
		400, "ValidationError", "1 validation error detected: Value 'short' at 'accessKeyId' failed to satisfy constraint: Member must have length greater than or equal to 16")
	must(t, env.svc.DeleteUser(env.ctx, &DeleteUserInput{UserName: "alice"}))
}

func TestUserPolicies(t *testing.T) {
	env := newTestEnv(t)
	_, err := env.svc.CreateUser(env.ctx, &CreateUserInput{UserName: "u"})
	must(t, err)
	p := env.createPolicy(t, "p", "/")
	must(t, env.svc.AttachUserPolicy(env.ctx, &AttachPolicyInput{Name: "u", PolicyARN: p.ARN}))
	att, err := env.svc.ListAttachedUserPolicies(env.ctx, &ListAttachedPoliciesInput{Name: "u"})
	must(t, err)
	if len(att.AttachedPolicies) != 1 {
		t.Fatalf("attached = %+v", att)
	}
	wantErr(t, env.svc.DeleteUser(env.ctx, &DeleteUserInput{UserName: "u"}), 409, "DeleteConflict", "Cannot delete entity, must detach all policies first.")
	must(t, env.svc.DetachUserPolicy(env.ctx, &AttachPolicyInput{Name: "u", PolicyARN: p.ARN}))

	must(t, env.svc.PutUserPolicy(env.ctx, &PutInlinePolicyInput{Name: "u", PolicyName: "inline", PolicyDocument: permDoc}))
	got, err := env.svc.GetUserPolicy(env.ctx, &InlinePolicyInput{Name: "u", PolicyName: "inline"})
	must(t, err)
	if got.Policy.Document != permDoc {
		t.Fatalf("document = %q", got.Policy.Document)
	}
	_, err = env.svc.GetUserPolicy(env.ctx, &InlinePolicyInput{Name: "u", PolicyName: "x"})
	wantErr(t, err, 404, "NoSuchEntity", "The user policy with name x cannot be found.")
	large := `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:*","Resource":"arn:aws:s3:::` + repeat("b", 1900) + `"}}`
	wantErr(t, env.svc.PutUserPolicy(env.ctx, &PutInlinePolicyInput{Name: "u", PolicyName: "big", PolicyDocument: large}),
		409, "LimitExceeded", "Maximum policy size of 2048 bytes exceeded for user u")
	wantErr(t, env.svc.DeleteUser(env.ctx, &DeleteUserInput{UserName: "u"}), 409, "DeleteConflict", "Cannot delete entity, must delete policies first.")
	names, err := env.svc.ListUserPolicies(env.ctx, &ListInlinePoliciesInput{Name: "u"})
	must(t, err)
	if fmt.Sprint(names.PolicyNames) != "[inline]" {
		t.Fatalf("names = %v", names.PolicyNames)
	}
	must(t, env.svc.DeleteUserPolicy(env.ctx, &InlinePolicyInput{Name: "u", PolicyName: "inline"}))

	must(t, env.svc.PutUserPermissionsBoundary(env.ctx, &PutUserPermissionsBoundaryInput{UserName: "u", PermissionsBoundary: p.ARN}))
	wantErr(t, env.svc.DeletePolicy(env.ctx, &DeletePolicyInput{PolicyARN: p.ARN}), 409, "DeleteConflict", "Cannot delete a policy attached to entities.")
	must(t, env.svc.DeleteUserPermissionsBoundary(env.ctx, &DeleteUserPermissionsBoundaryInput{UserName: "u"}))
	must(t, env.svc.DeleteUser(env.ctx, &DeleteUserInput{UserName: "u"}))
	must(t, env.svc.DeletePolicy(env.ctx, &DeletePolicyInput{PolicyARN: p.ARN}))
}

func TestOIDCProviders(t *testing.T) {
	env := newTestEnv(t)
	url := "https://oidc.eks.us-west-2.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE"
	thumb := repeat("9e", 20)
	out, err := env.svc.CreateOpenIDConnectProvider(env.ctx, &CreateOpenIDConnectProviderInput{
		URL: url, ClientIDList: []string{"sts.amazonaws.com", "sts.amazonaws.com"}, ThumbprintList: []string{thumb},
		Tags: []store.Tag{{Key: "cluster", Value: "eks-workshop"}},
	})
	must(t, err)
	arn := "arn:aws:iam::123456789012:oidc-provider/oidc.eks.us-west-2.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE"
	if out.OpenIDConnectProviderARN != arn {
		t.Fatalf("arn = %s", out.OpenIDConnectProviderARN)
	}
	got, err := env.svc.GetOpenIDConnectProvider(env.ctx, &OpenIDConnectProviderInput{OpenIDConnectProviderARN: arn})
	must(t, err)
	p := got.Provider
	if p.URL != "oidc.eks.us-west-2.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE" || fmt.Sprint(p.ClientIDs) != "[sts.amazonaws.com]" ||
		fmt.Sprint(p.Thumbprints) != "["+thumb+"]" || !p.CreatedAt.Equal(testStart) || len(p.Tags) != 1 {
		t.Fatalf("provider = %+v", p)
	}
	list, err := env.svc.ListOpenIDConnectProviders(env.ctx, &ListOpenIDConnectProvidersInput{})
	must(t, err)
	if fmt.Sprint(list.ARNs) != "["+arn+"]" {
		t.Fatalf("list = %v", list.ARNs)
	}

	tests := []struct {
		name   string
		in     CreateOpenIDConnectProviderInput
		status int
		code   string
		msg    string
	}{
		{"exists", CreateOpenIDConnectProviderInput{URL: url}, 409, "EntityAlreadyExists", "Provider with url " + url + " already exists."},
		{"http", CreateOpenIDConnectProviderInput{URL: "http://example.com"}, 400, "ValidationError", "Invalid Open ID Connect Provider URL"},
		{"http loopback, not allowed", CreateOpenIDConnectProviderInput{URL: "http://127.0.0.1:8080/clusters/c/oidc"}, 400, "ValidationError", "Invalid Open ID Connect Provider URL"},
		{"no scheme", CreateOpenIDConnectProviderInput{URL: "example.com"}, 400, "ValidationError", "Invalid Open ID Connect Provider URL"},
		{"no url", CreateOpenIDConnectProviderInput{}, 400, "ValidationError", "1 validation error detected: Value null at 'url' failed to satisfy constraint: Member must not be null"},
		{"short thumbprint", CreateOpenIDConnectProviderInput{URL: "https://x.example", ThumbprintList: []string{"abc"}}, 400, "ValidationError",
			"1 validation error detected: Value 'abc' at 'thumbprintList.1.member' failed to satisfy constraint: Member must have length greater than or equal to 40"},
		{"six thumbprints", CreateOpenIDConnectProviderInput{URL: "https://x.example", ThumbprintList: []string{thumb, thumb, thumb, thumb, thumb, thumb}}, 400, "InvalidInput",
			"Thumbprint list must contain fewer than 5 entries."},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := env.svc.CreateOpenIDConnectProvider(env.ctx, &tc.in)
			wantErr(t, err, tc.status, tc.code, tc.msg)
		})
	}
	_, err = env.svc.GetOpenIDConnectProvider(env.ctx, &OpenIDConnectProviderInput{OpenIDConnectProviderARN: arn + "x"})
	wantErr(t, err, 404, "NoSuchEntity", "OpenIDConnect Provider not found for arn "+arn+"x")
	_, err = env.svc.GetOpenIDConnectProvider(env.ctx, &OpenIDConnectProviderInput{OpenIDConnectProviderARN: "arn:aws:iam::123456789012:role/x"})
	wantErr(t, err, 400, "InvalidInput", "ARN arn:aws:iam::123456789012:role/x is not valid.")
	must(t, env.svc.DeleteOpenIDConnectProvider(env.ctx, &OpenIDConnectProviderInput{OpenIDConnectProviderARN: arn}))
	wantErr(t, env.svc.DeleteOpenIDConnectProvider(env.ctx, &OpenIDConnectProviderInput{OpenIDConnectProviderARN: arn}),
		404, "NoSuchEntity", "OpenIDConnect Provider not found for arn "+arn)
}

// TestOIDCProviderHTTPLoopback: with AllowHTTPLoopbackIssuers (podid
// dev), the http issuer of a hosted cluster on loopback can be an OIDC
// provider; any other http URL still cannot.
func TestOIDCProviderHTTPLoopback(t *testing.T) {
	env := newTestEnv(t, func(c *Config) { c.AllowHTTPLoopbackIssuers = true })
	for _, u := range []string{"http://127.0.0.1:8080/clusters/c/oidc", "http://localhost:9/x", "http://[::1]:80/y"} {
		out, err := env.svc.CreateOpenIDConnectProvider(env.ctx, &CreateOpenIDConnectProviderInput{URL: u, ClientIDList: []string{"sts.amazonaws.com"}})
		if err != nil {
			t.Errorf("%s: %v", u, err)
			continue
		}
		host := strings.TrimPrefix(u, "http://")
		if out.OpenIDConnectProviderARN != "arn:aws:iam::123456789012:oidc-provider/"+host {
			t.Errorf("%s: ARN %s", u, out.OpenIDConnectProviderARN)
		}
	}
	_, err := env.svc.CreateOpenIDConnectProvider(env.ctx, &CreateOpenIDConnectProviderInput{URL: "http://10.0.0.1/oidc"})
	wantErr(t, err, 400, "ValidationError", "Invalid Open ID Connect Provider URL")
}

func TestAuthorization(t *testing.T) {
	env := newTestEnv(t)
	env.createRole(t, "existing", "/svc/")
	env.authz.deny = map[string]bool{"iam:CreateRole": true, "iam:GetRole": true, "iam:TagRole": true, "iam:DeleteRole": true}
	alice := env.userCtx("alice")

	_, err := env.svc.CreateRole(alice, &CreateRoleInput{RoleName: "r", Path: "/p/", AssumeRolePolicyDocument: trustDoc})
	wantErr(t, err, 403, "AccessDenied", "User: arn:aws:iam::123456789012:user/alice is not authorized to perform: iam:CreateRole on resource: arn:aws:iam::123456789012:role/p/r because no identity-based policy allows the iam:CreateRole action")

	// An existing role is authorized on its ARN with its path; a missing
	// one on the path-less ARN, so a refused caller learns nothing.
	_, err = env.svc.GetRole(alice, &GetRoleInput{RoleName: "existing"})
	wantErr(t, err, 403, "AccessDenied", "User: arn:aws:iam::123456789012:user/alice is not authorized to perform: iam:GetRole on resource: arn:aws:iam::123456789012:role/svc/existing because no identity-based policy allows the iam:GetRole action")
	_, err = env.svc.GetRole(alice, &GetRoleInput{RoleName: "missing"})
	wantErr(t, err, 403, "AccessDenied", "User: arn:aws:iam::123456789012:user/alice is not authorized to perform: iam:GetRole on resource: arn:aws:iam::123456789012:role/missing because no identity-based policy allows the iam:GetRole action")
	wantErr(t, env.svc.DeleteRole(alice, &DeleteRoleInput{RoleName: "existing"}), 403, "AccessDenied",
		"User: arn:aws:iam::123456789012:user/alice is not authorized to perform: iam:DeleteRole on resource: arn:aws:iam::123456789012:role/svc/existing because no identity-based policy allows the iam:DeleteRole action")

	// Creating with tags needs iam:TagRole as well, with the request tags in context.
	env.authz.deny = map[string]bool{"iam:TagRole": true}
	env.authz.reset()
	_, err = env.svc.CreateRole(alice, &CreateRoleInput{RoleName: "r2", AssumeRolePolicyDocument: trustDoc, Tags: []store.Tag{{Key: "team", Value: "x"}}})
	wantErr(t, err, 403, "AccessDenied", "User: arn:aws:iam::123456789012:user/alice is not authorized to perform: iam:TagRole on resource: arn:aws:iam::123456789012:role/r2 because no identity-based policy allows the iam:TagRole action")
	c := env.authz.last()
	if fmt.Sprint(c.Extra["aws:RequestTag/team"]) != "[x]" || fmt.Sprint(c.Extra["aws:TagKeys"]) != "[team]" {
		t.Fatalf("tag context = %v", c.Extra)
	}
	// Refused writes leave nothing behind.
	env.authz.deny = nil
	_, err = env.svc.GetRole(alice, &GetRoleInput{RoleName: "r2"})
	wantErr(t, err, 404, "NoSuchEntity", "The role with name r2 cannot be found.")

	// A failure to decide is a server fault, never an allow.
	env.authz.fail = fmt.Errorf("policy store unavailable")
	_, err = env.svc.GetRole(alice, &GetRoleInput{RoleName: "existing"})
	wantErr(t, err, 500, "ServiceFailure", "We encountered an internal error. Please try again.")

	// Unsigned calls are refused before anything else.
	_, err = env.svc.GetRole(context.Background(), &GetRoleInput{RoleName: "existing"})
	wantErr(t, err, 403, "MissingAuthenticationToken", "Request is missing Authentication Token")
}

func TestNewRequiresDependencies(t *testing.T) {
	env := newTestEnv(t)
	base := Config{Store: env.store, AccountID: testAccount, Authorizer: env.authz, Keyring: env.keyring, ValidatePolicy: testValidator}
	tests := []struct {
		name string
		edit func(*Config)
	}{
		{"store", func(c *Config) { c.Store = nil }},
		{"account", func(c *Config) { c.AccountID = "12345" }},
		{"authorizer", func(c *Config) { c.Authorizer = nil }},
		{"keyring", func(c *Config) { c.Keyring = nil }},
	}
	for _, tc := range tests {
		cfg := base
		tc.edit(&cfg)
		if _, err := New(cfg); err == nil {
			t.Errorf("New without %s succeeded", tc.name)
		}
	}
	if _, err := New(base); err != nil {
		t.Fatalf("New: %v", err)
	}
}
