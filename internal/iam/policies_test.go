package iam

import (
	"context"
	"fmt"
	"testing"

	"github.com/podid/podid/internal/store"
)

func TestCreatePolicyErrors(t *testing.T) {
	env := newTestEnv(t)
	env.createPolicy(t, "taken", "/x/")
	big := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"` + repeat("a", 6200) + `"}]}`
	tests := []struct {
		name   string
		in     CreatePolicyInput
		status int
		code   string
		msg    string
	}{
		{"name taken under another path", CreatePolicyInput{PolicyName: "taken", PolicyDocument: permDoc},
			409, "EntityAlreadyExists", "A policy called taken already exists. Duplicate names are not allowed."},
		{"name taken in another case", CreatePolicyInput{PolicyName: "TAKEN", Path: "/x/", PolicyDocument: permDoc},
			409, "EntityAlreadyExists", "A policy called TAKEN already exists. Duplicate names are not allowed."},
		{"bad path", CreatePolicyInput{PolicyName: "p", Path: "/a b/", PolicyDocument: permDoc},
			400, "ValidationError", `1 validation error detected: Value '/a b/' at 'path' failed to satisfy constraint: Member must satisfy regular expression pattern: ((/[A-Za-z0-9\.,\+@=_-]+)*)/`},
		{"name too long", CreatePolicyInput{PolicyName: repeat("p", 129), PolicyDocument: permDoc},
			400, "ValidationError", "1 validation error detected: Value '" + repeat("p", 129) + "' at 'policyName' failed to satisfy constraint: Member must have length less than or equal to 128"},
		{"malformed", CreatePolicyInput{PolicyName: "p", PolicyDocument: "{"},
			400, "MalformedPolicyDocument", "Syntax errors in policy."},
		{"too large", CreatePolicyInput{PolicyName: "p", PolicyDocument: big},
			409, "LimitExceeded", "Cannot exceed quota for PolicySize: 6144"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := env.svc.CreatePolicy(env.ctx, &tc.in)
			wantErr(t, err, tc.status, tc.code, tc.msg)
		})
	}
}

func TestPolicyVersions(t *testing.T) {
	env := newTestEnv(t)
	p := env.createPolicy(t, "carts-dynamo", "/")
	arn := env.policyARN("carts-dynamo")
	if p.ARN != arn || p.DefaultVersionID != "v1" || p.ID[:4] != "ANPA" || !p.UpdatedAt.Equal(testStart) {
		t.Fatalf("created = %+v", p.ManagedPolicy)
	}
	v1, err := env.svc.GetPolicyVersion(env.ctx, &GetPolicyVersionInput{PolicyARN: arn, VersionID: "v1"})
	must(t, err)
	if v1.PolicyVersion.Document != permDoc || !v1.PolicyVersion.IsDefault {
		t.Fatalf("v1 = %+v", v1.PolicyVersion)
	}

	// Versions v2..v5; v3 becomes the default.
	for i := 2; i <= 5; i++ {
		env.advance(60e9)
		doc := fmt.Sprintf(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::b%d/*"}]}`, i)
		out, err := env.svc.CreatePolicyVersion(env.ctx, &CreatePolicyVersionInput{PolicyARN: arn, PolicyDocument: doc, SetAsDefault: i == 3})
		must(t, err)
		if out.PolicyVersion.VersionID != fmt.Sprintf("v%d", i) || out.PolicyVersion.IsDefault != (i == 3) {
			t.Fatalf("version %d = %+v", i, out.PolicyVersion)
		}
	}
	_, err = env.svc.CreatePolicyVersion(env.ctx, &CreatePolicyVersionInput{PolicyARN: arn, PolicyDocument: permDoc})
	wantErr(t, err, 409, "LimitExceeded", "A managed policy can have up to 5 versions. Before you create a new version, you must delete an existing version.")

	got, err := env.svc.GetPolicy(env.ctx, &GetPolicyInput{PolicyARN: arn})
	must(t, err)
	if got.Policy.DefaultVersionID != "v3" || !got.Policy.UpdatedAt.Equal(testStart.Add(4*60e9)) {
		t.Fatalf("policy = %+v", got.Policy.ManagedPolicy)
	}

	list, err := env.svc.ListPolicyVersions(env.ctx, &ListPolicyVersionsInput{PolicyARN: arn})
	must(t, err)
	var ids []string
	for _, v := range list.Versions {
		ids = append(ids, fmt.Sprintf("%s:%v", v.VersionID, v.IsDefault))
	}
	if fmt.Sprint(ids) != "[v5:false v4:false v3:true v2:false v1:false]" {
		t.Fatalf("versions = %v", ids)
	}
	page, err := env.svc.ListPolicyVersions(env.ctx, &ListPolicyVersionsInput{PolicyARN: arn, MaxItems: ptr(3)})
	must(t, err)
	page2, err := env.svc.ListPolicyVersions(env.ctx, &ListPolicyVersionsInput{PolicyARN: arn, MaxItems: ptr(3), Marker: page.Marker})
	must(t, err)
	if len(page.Versions) != 3 || !page.IsTruncated || len(page2.Versions) != 2 || page2.IsTruncated || page2.Versions[0].VersionID != "v2" {
		t.Fatalf("version pages = %+v / %+v", page, page2)
	}

	wantErr(t, env.svc.DeletePolicyVersion(env.ctx, &DeletePolicyVersionInput{PolicyARN: arn, VersionID: "v3"}),
		409, "DeleteConflict", "Cannot delete the default version of a policy.")
	wantErr(t, env.svc.DeletePolicyVersion(env.ctx, &DeletePolicyVersionInput{PolicyARN: arn, VersionID: "v9"}),
		404, "NoSuchEntity", "Policy arn:aws:iam::123456789012:policy/carts-dynamo version v9 does not exist or is not attachable.")
	_, err = env.svc.GetPolicyVersion(env.ctx, &GetPolicyVersionInput{PolicyARN: arn, VersionID: "v9"})
	wantErr(t, err, 404, "NoSuchEntity", "Policy arn:aws:iam::123456789012:policy/carts-dynamo version v9 does not exist or is not attachable.")
	_, err = env.svc.GetPolicyVersion(env.ctx, &GetPolicyVersionInput{PolicyARN: arn, VersionID: "1"})
	wantErr(t, err, 400, "ValidationError", `1 validation error detected: Value '1' at 'versionId' failed to satisfy constraint: Member must satisfy regular expression pattern: v[1-9][0-9]*(\.[A-Za-z0-9-]*)?`)
	wantErr(t, env.svc.SetDefaultPolicyVersion(env.ctx, &SetDefaultPolicyVersionInput{PolicyARN: arn, VersionID: "v8"}),
		404, "NoSuchEntity", "Policy arn:aws:iam::123456789012:policy/carts-dynamo version v8 does not exist or is not attachable.")

	// With more than one version the policy cannot be deleted.
	wantErr(t, env.svc.DeletePolicy(env.ctx, &DeletePolicyInput{PolicyARN: arn}), 409, "DeleteConflict",
		"This policy has more than one version. Before you delete a policy, you must delete the policy's versions. The default version is deleted with the policy.")

	must(t, env.svc.SetDefaultPolicyVersion(env.ctx, &SetDefaultPolicyVersionInput{PolicyARN: arn, VersionID: "v5"}))
	for _, v := range []string{"v1", "v2", "v3", "v4"} {
		must(t, env.svc.DeletePolicyVersion(env.ctx, &DeletePolicyVersionInput{PolicyARN: arn, VersionID: v}))
	}
	// The next version number continues after the highest left.
	out, err := env.svc.CreatePolicyVersion(env.ctx, &CreatePolicyVersionInput{PolicyARN: arn, PolicyDocument: permDoc})
	must(t, err)
	if out.PolicyVersion.VersionID != "v6" {
		t.Fatalf("next version = %s", out.PolicyVersion.VersionID)
	}
	must(t, env.svc.DeletePolicyVersion(env.ctx, &DeletePolicyVersionInput{PolicyARN: arn, VersionID: "v6"}))
	must(t, env.svc.DeletePolicy(env.ctx, &DeletePolicyInput{PolicyARN: arn}))
	_, err = env.svc.GetPolicy(env.ctx, &GetPolicyInput{PolicyARN: arn})
	wantErr(t, err, 404, "NoSuchEntity", "Policy arn:aws:iam::123456789012:policy/carts-dynamo was not found.")
	_, err = env.svc.GetPolicyVersion(env.ctx, &GetPolicyVersionInput{PolicyARN: arn, VersionID: "v5"})
	wantErr(t, err, 404, "NoSuchEntity", "Policy arn:aws:iam::123456789012:policy/carts-dynamo was not found.")
}

func TestPolicyARNErrors(t *testing.T) {
	env := newTestEnv(t)
	tests := []struct {
		arn    string
		status int
		code   string
		msg    string
	}{
		{"arn:aws:iam::123456789012:role/carts", 400, "InvalidInput", "ARN arn:aws:iam::123456789012:role/carts is not valid."},
		{"not-an-arn-at-all-xx", 400, "InvalidInput", "ARN not-an-arn-at-all-xx is not valid."},
		{"short", 400, "ValidationError", "1 validation error detected: Value 'short' at 'policyArn' failed to satisfy constraint: Member must have length greater than or equal to 20"},
		{"", 400, "ValidationError", "1 validation error detected: Value null at 'policyArn' failed to satisfy constraint: Member must not be null"},
		{"arn:aws:iam::aws:policy/ReadOnlyAccess", 404, "NoSuchEntity", "Policy arn:aws:iam::aws:policy/ReadOnlyAccess was not found."},
		{"arn:aws:iam::123456789012:policy/a/b/missing", 404, "NoSuchEntity", "Policy arn:aws:iam::123456789012:policy/a/b/missing was not found."},
	}
	for _, tc := range tests {
		t.Run(tc.arn, func(t *testing.T) {
			_, err := env.svc.GetPolicy(env.ctx, &GetPolicyInput{PolicyARN: tc.arn})
			wantErr(t, err, tc.status, tc.code, tc.msg)
		})
	}
}

func TestListPolicies(t *testing.T) {
	env := newTestEnv(t)
	a := env.createPolicy(t, "a", "/")
	b := env.createPolicy(t, "b", "/team/")
	c := env.createPolicy(t, "c", "/")
	env.createRole(t, "r", "/")
	_, err := env.svc.CreateUser(env.ctx, &CreateUserInput{UserName: "u", PermissionsBoundary: c.ARN})
	must(t, err)
	must(t, env.svc.AttachRolePolicy(env.ctx, &AttachPolicyInput{Name: "r", PolicyARN: b.ARN}))
	must(t, env.svc.AttachUserPolicy(env.ctx, &AttachPolicyInput{Name: "u", PolicyARN: b.ARN}))

	names := func(out *ListPoliciesOutput) string {
		var s []string
		for _, p := range out.Policies {
			s = append(s, fmt.Sprintf("%s:%d:%d", p.Name, p.AttachmentCount, p.PermissionsBoundaryUsageCount))
		}
		return fmt.Sprint(s)
	}
	tests := []struct {
		name string
		in   ListPoliciesInput
		want string
	}{
		{"all", ListPoliciesInput{}, "[a:0:0 c:0:1 b:2:0]"},
		{"local", ListPoliciesInput{Scope: ScopeLocal}, "[a:0:0 c:0:1 b:2:0]"},
		{"aws", ListPoliciesInput{Scope: ScopeAWS}, "[]"},
		{"only attached", ListPoliciesInput{OnlyAttached: true}, "[c:0:1 b:2:0]"},
		{"only attached as permissions", ListPoliciesInput{OnlyAttached: true, PolicyUsageFilter: UsagePermissionsPolicy}, "[b:2:0]"},
		{"only attached as boundary", ListPoliciesInput{OnlyAttached: true, PolicyUsageFilter: UsagePermissionsBoundary}, "[c:0:1]"},
		{"path prefix", ListPoliciesInput{PathPrefix: "/team/"}, "[b:2:0]"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, err := env.svc.ListPolicies(env.ctx, &tc.in)
			must(t, err)
			if got := names(out); got != tc.want || out.IsTruncated {
				t.Fatalf("got %s (truncated %v), want %s", got, out.IsTruncated, tc.want)
			}
		})
	}
	// Filtering and paging together: one attached policy per page.
	p1, err := env.svc.ListPolicies(env.ctx, &ListPoliciesInput{OnlyAttached: true, MaxItems: ptr(1)})
	must(t, err)
	p2, err := env.svc.ListPolicies(env.ctx, &ListPoliciesInput{OnlyAttached: true, MaxItems: ptr(1), Marker: p1.Marker})
	must(t, err)
	if names(p1) != "[c:0:1]" || !p1.IsTruncated || names(p2) != "[b:2:0]" || p2.IsTruncated {
		t.Fatalf("pages %s %v / %s %v", names(p1), p1.IsTruncated, names(p2), p2.IsTruncated)
	}
	_, err = env.svc.ListPolicies(env.ctx, &ListPoliciesInput{Scope: "Mine"})
	wantErr(t, err, 400, "ValidationError", "1 validation error detected: Value 'Mine' at 'scope' failed to satisfy constraint: Member must satisfy enum value set: [All, AWS, Local]")

	// A policy in use cannot be deleted.
	wantErr(t, env.svc.DeletePolicy(env.ctx, &DeletePolicyInput{PolicyARN: b.ARN}), 409, "DeleteConflict", "Cannot delete a policy attached to entities.")
	wantErr(t, env.svc.DeletePolicy(env.ctx, &DeletePolicyInput{PolicyARN: c.ARN}), 409, "DeleteConflict", "Cannot delete a policy attached to entities.")
	must(t, env.svc.DeletePolicy(env.ctx, &DeletePolicyInput{PolicyARN: a.ARN}))
}

func TestAttachments(t *testing.T) {
	env := newTestEnv(t)
	env.createRole(t, "r", "/")
	p := env.createPolicy(t, "p", "/team/")
	missing := env.policyARN("missing")

	wantErr(t, env.svc.AttachRolePolicy(env.ctx, &AttachPolicyInput{Name: "r", PolicyARN: missing}),
		404, "NoSuchEntity", "Policy arn:aws:iam::123456789012:policy/missing does not exist or is not attachable.")
	wantErr(t, env.svc.AttachRolePolicy(env.ctx, &AttachPolicyInput{Name: "r", PolicyARN: "arn:aws:iam::aws:policy/AdministratorAccess"}),
		404, "NoSuchEntity", "Policy arn:aws:iam::aws:policy/AdministratorAccess does not exist or is not attachable.")
	wantErr(t, env.svc.AttachRolePolicy(env.ctx, &AttachPolicyInput{Name: "nope", PolicyARN: p.ARN}),
		404, "NoSuchEntity", "The role with name nope cannot be found.")
	wantErr(t, env.svc.AttachRolePolicy(env.ctx, &AttachPolicyInput{Name: "r", PolicyARN: "arn:aws:iam::123456789012:user/x"}),
		400, "InvalidInput", "ARN arn:aws:iam::123456789012:user/x is not valid.")

	must(t, env.svc.AttachRolePolicy(env.ctx, &AttachPolicyInput{Name: "r", PolicyARN: p.ARN}))
	must(t, env.svc.AttachRolePolicy(env.ctx, &AttachPolicyInput{Name: "r", PolicyARN: p.ARN})) // idempotent
	if c := env.authz.last(); c.Action != "iam:AttachRolePolicy" || c.Resource != "arn:aws:iam::123456789012:role/r" || fmt.Sprint(c.Extra["iam:PolicyARN"]) != "["+p.ARN+"]" {
		t.Fatalf("authorized %+v", c)
	}
	att, err := env.svc.ListAttachedRolePolicies(env.ctx, &ListAttachedPoliciesInput{Name: "r"})
	must(t, err)
	if len(att.AttachedPolicies) != 1 || att.AttachedPolicies[0] != (AttachedPolicy{PolicyName: "p", PolicyARN: p.ARN}) {
		t.Fatalf("attached = %+v", att.AttachedPolicies)
	}
	none, err := env.svc.ListAttachedRolePolicies(env.ctx, &ListAttachedPoliciesInput{Name: "r", PathPrefix: "/other/"})
	must(t, err)
	if len(none.AttachedPolicies) != 0 {
		t.Fatalf("path filter kept %+v", none.AttachedPolicies)
	}
	_, err = env.svc.ListAttachedRolePolicies(env.ctx, &ListAttachedPoliciesInput{Name: "nope"})
	wantErr(t, err, 404, "NoSuchEntity", "The role with name nope cannot be found.")

	wantErr(t, env.svc.DeleteRole(env.ctx, &DeleteRoleInput{RoleName: "r"}), 409, "DeleteConflict", "Cannot delete entity, must detach all policies first.")
	must(t, env.svc.DetachRolePolicy(env.ctx, &AttachPolicyInput{Name: "r", PolicyARN: p.ARN}))
	wantErr(t, env.svc.DetachRolePolicy(env.ctx, &AttachPolicyInput{Name: "r", PolicyARN: p.ARN}),
		404, "NoSuchEntity", "Policy arn:aws:iam::123456789012:policy/team/p was not found.")

	// Ten managed policies at most.
	var arns []string
	for i := range 11 {
		arns = append(arns, env.createPolicy(t, fmt.Sprintf("q%02d", i), "/").ARN)
	}
	for _, a := range arns[:10] {
		must(t, env.svc.AttachRolePolicy(env.ctx, &AttachPolicyInput{Name: "r", PolicyARN: a}))
	}
	wantErr(t, env.svc.AttachRolePolicy(env.ctx, &AttachPolicyInput{Name: "r", PolicyARN: arns[10]}), 409, "LimitExceeded", "Cannot exceed quota for PoliciesPerRole: 10")
	must(t, env.svc.AttachRolePolicy(env.ctx, &AttachPolicyInput{Name: "r", PolicyARN: arns[0]})) // already there: fine

	// Pages of attached policies.
	pg, err := env.svc.ListAttachedRolePolicies(env.ctx, &ListAttachedPoliciesInput{Name: "r", MaxItems: ptr(4)})
	must(t, err)
	seen := len(pg.AttachedPolicies)
	for pg.IsTruncated {
		pg, err = env.svc.ListAttachedRolePolicies(env.ctx, &ListAttachedPoliciesInput{Name: "r", MaxItems: ptr(4), Marker: pg.Marker})
		must(t, err)
		seen += len(pg.AttachedPolicies)
	}
	if seen != 10 {
		t.Fatalf("paged %d attached policies, want 10", seen)
	}
}

func TestInlinePolicies(t *testing.T) {
	env := newTestEnv(t)
	env.createRole(t, "r", "/")
	doc := "{\n  \"Version\": \"2012-10-17\",\n  \"Statement\": {\"Effect\": \"Allow\", \"Action\": \"s3:*\", \"Resource\": \"*\"}\n}"
	must(t, env.svc.PutRolePolicy(env.ctx, &PutInlinePolicyInput{Name: "r", PolicyName: "s3", PolicyDocument: doc}))
	must(t, env.svc.PutRolePolicy(env.ctx, &PutInlinePolicyInput{Name: "r", PolicyName: "a", PolicyDocument: permDoc}))
	got, err := env.svc.GetRolePolicy(env.ctx, &InlinePolicyInput{Name: "r", PolicyName: "s3"})
	must(t, err)
	if got.Policy.Document != doc || got.Policy.PrincipalName != "r" || got.Policy.PolicyName != "s3" {
		t.Fatalf("GetRolePolicy = %+v", got.Policy)
	}
	names, err := env.svc.ListRolePolicies(env.ctx, &ListInlinePoliciesInput{Name: "r"})
	must(t, err)
	if fmt.Sprint(names.PolicyNames) != "[a s3]" {
		t.Fatalf("names = %v", names.PolicyNames)
	}
	_, err = env.svc.GetRolePolicy(env.ctx, &InlinePolicyInput{Name: "r", PolicyName: "zz"})
	wantErr(t, err, 404, "NoSuchEntity", "The role policy with name zz cannot be found.")
	wantErr(t, env.svc.PutRolePolicy(env.ctx, &PutInlinePolicyInput{Name: "nope", PolicyName: "p", PolicyDocument: doc}),
		404, "NoSuchEntity", "The role with name nope cannot be found.")
	wantErr(t, env.svc.PutRolePolicy(env.ctx, &PutInlinePolicyInput{Name: "r", PolicyName: "p", PolicyDocument: "nope"}),
		400, "MalformedPolicyDocument", "Syntax errors in policy.")

	// The role's inline policies together stay under 10,240 non-whitespace characters.
	large := `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:*","Resource":"arn:aws:s3:::` + repeat("b", 9900) + `"}}`
	wantErr(t, env.svc.PutRolePolicy(env.ctx, &PutInlinePolicyInput{Name: "r", PolicyName: "big", PolicyDocument: large}),
		409, "LimitExceeded", "Maximum policy size of 10240 bytes exceeded for role r")
	// Replacing a policy counts only its new text.
	must(t, env.svc.PutRolePolicy(env.ctx, &PutInlinePolicyInput{Name: "r", PolicyName: "a", PolicyDocument: `{"Statement":[]}`}))

	wantErr(t, env.svc.DeleteRole(env.ctx, &DeleteRoleInput{RoleName: "r"}), 409, "DeleteConflict", "Cannot delete entity, must delete policies first.")
	must(t, env.svc.DeleteRolePolicy(env.ctx, &InlinePolicyInput{Name: "r", PolicyName: "a"}))
	must(t, env.svc.DeleteRolePolicy(env.ctx, &InlinePolicyInput{Name: "r", PolicyName: "s3"}))
	wantErr(t, env.svc.DeleteRolePolicy(env.ctx, &InlinePolicyInput{Name: "r", PolicyName: "s3"}), 404, "NoSuchEntity", "The role policy with name s3 cannot be found.")
	must(t, env.svc.DeleteRole(env.ctx, &DeleteRoleInput{RoleName: "r"}))
}

// failingStore makes PutPolicyVersion fail inside Update, to show that a
// failed write leaves nothing behind.
type failingStore struct {
	store.Store
}

type failingTx struct {
	store.Tx
}

func (f failingTx) PutPolicyVersion(*store.PolicyVersion) error { return fmt.Errorf("disk full") }

func (f failingStore) Update(ctx context.Context, fn func(store.Tx) error) error {
	return f.Store.Update(ctx, func(tx store.Tx) error { return fn(failingTx{tx}) })
}

func TestCreatePolicyIsAtomic(t *testing.T) {
	env := newTestEnv(t)
	svc, err := New(Config{
		Store: failingStore{env.store}, AccountID: testAccount, Authorizer: env.authz,
		Keyring: env.keyring, ValidatePolicy: testValidator,
	})
	must(t, err)
	_, err = svc.CreatePolicy(env.ctx, &CreatePolicyInput{PolicyName: "p", PolicyDocument: permDoc})
	wantErr(t, err, 500, "ServiceFailure", "We encountered an internal error. Please try again.")
	_, err = env.svc.GetPolicy(env.ctx, &GetPolicyInput{PolicyARN: env.policyARN("p")})
	wantErr(t, err, 404, "NoSuchEntity", "Policy arn:aws:iam::123456789012:policy/p was not found.")
}
