package iam

import (
	"fmt"
	"strconv"
	"testing"

	"github.com/podid/podid/internal/store"
)

func TestCreateRoleErrors(t *testing.T) {
	env := newTestEnv(t)
	env.createRole(t, "taken", "/")
	env.createPolicy(t, "boundary", "/")
	fiftyOne := make([]store.Tag, 51)
	for i := range fiftyOne {
		fiftyOne[i] = store.Tag{Key: "k" + strconv.Itoa(i), Value: "v"}
	}
	tests := []struct {
		name   string
		in     CreateRoleInput
		status int
		code   string
		msg    string
	}{
		{"bad name", CreateRoleInput{RoleName: "x y", AssumeRolePolicyDocument: trustDoc},
			400, "ValidationError", `1 validation error detected: Value 'x y' at 'roleName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\w+=,.@-]+`},
		{"name too long", CreateRoleInput{RoleName: repeat("a", 65), AssumeRolePolicyDocument: trustDoc},
			400, "ValidationError", "1 validation error detected: Value '" + repeat("a", 65) + "' at 'roleName' failed to satisfy constraint: Member must have length less than or equal to 64"},
		{"missing name", CreateRoleInput{AssumeRolePolicyDocument: trustDoc},
			400, "ValidationError", "1 validation error detected: Value null at 'roleName' failed to satisfy constraint: Member must not be null"},
		{"missing document", CreateRoleInput{RoleName: "r"},
			400, "ValidationError", "1 validation error detected: Value null at 'assumeRolePolicyDocument' failed to satisfy constraint: Member must not be null"},
		{"two errors", CreateRoleInput{RoleName: "a b", Path: "nopath", AssumeRolePolicyDocument: trustDoc},
			400, "ValidationError", `2 validation errors detected: Value 'a b' at 'roleName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\w+=,.@-]+; Value 'nopath' at 'path' failed to satisfy constraint: Member must satisfy regular expression pattern: (\u002F)|(\u002F[\u0021-\u007E]+\u002F)`},
		{"path without trailing slash", CreateRoleInput{RoleName: "r", Path: "/a", AssumeRolePolicyDocument: trustDoc},
			400, "ValidationError", `1 validation error detected: Value '/a' at 'path' failed to satisfy constraint: Member must satisfy regular expression pattern: (\u002F)|(\u002F[\u0021-\u007E]+\u002F)`},
		{"session too short", CreateRoleInput{RoleName: "r", AssumeRolePolicyDocument: trustDoc, MaxSessionDuration: ptr(3599)},
			400, "ValidationError", "1 validation error detected: Value '3599' at 'maxSessionDuration' failed to satisfy constraint: Member must have value greater than or equal to 3600"},
		{"session too long", CreateRoleInput{RoleName: "r", AssumeRolePolicyDocument: trustDoc, MaxSessionDuration: ptr(43201)},
			400, "ValidationError", "1 validation error detected: Value '43201' at 'maxSessionDuration' failed to satisfy constraint: Member must have value less than or equal to 43200"},
		{"document outside the character set", CreateRoleInput{RoleName: "r", AssumeRolePolicyDocument: "{\"a\":\"\u0100\"}"},
			400, "ValidationError", "1 validation error detected: Value '{\"a\":\"\u0100\"}' at 'assumeRolePolicyDocument' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\u0009\\u000A\\u000D\\u0020-\\u00FF]+"},
		{"description too long", CreateRoleInput{RoleName: "r", AssumeRolePolicyDocument: trustDoc, Description: repeat("d", 1001)},
			400, "ValidationError", "1 validation error detected: Value '" + repeat("d", 1001) + "' at 'description' failed to satisfy constraint: Member must have length less than or equal to 1000"},
		{"malformed trust policy", CreateRoleInput{RoleName: "r", AssumeRolePolicyDocument: "{nope"},
			400, "MalformedPolicyDocument", "Syntax errors in policy."},
		{"exists", CreateRoleInput{RoleName: "taken", AssumeRolePolicyDocument: trustDoc},
			409, "EntityAlreadyExists", "Role with name taken already exists."},
		{"exists in another case", CreateRoleInput{RoleName: "TAKEN", AssumeRolePolicyDocument: trustDoc},
			409, "EntityAlreadyExists", "Role with name TAKEN already exists."},
		{"too many tags", CreateRoleInput{RoleName: "r", AssumeRolePolicyDocument: trustDoc, Tags: fiftyOne},
			400, "ValidationError", "1 validation error detected: Value '" + renderTags(fiftyOne) + "' at 'tags' failed to satisfy constraint: Member must have length less than or equal to 50"},
		{"tag key too long", CreateRoleInput{RoleName: "r", AssumeRolePolicyDocument: trustDoc, Tags: []store.Tag{{Key: repeat("k", 129), Value: ""}}},
			400, "ValidationError", "1 validation error detected: Value '" + repeat("k", 129) + "' at 'tags.1.member.key' failed to satisfy constraint: Member must have length less than or equal to 128"},
		{"tag value too long", CreateRoleInput{RoleName: "r", AssumeRolePolicyDocument: trustDoc, Tags: []store.Tag{{Key: "a", Value: "v"}, {Key: "k", Value: repeat("v", 257)}}},
			400, "ValidationError", "1 validation error detected: Value '" + repeat("v", 257) + "' at 'tags.2.member.value' failed to satisfy constraint: Member must have length less than or equal to 256"},
		{"tag key characters", CreateRoleInput{RoleName: "r", AssumeRolePolicyDocument: trustDoc, Tags: []store.Tag{{Key: "a*b", Value: ""}}},
			400, "ValidationError", `1 validation error detected: Value 'a*b' at 'tags.1.member.key' failed to satisfy constraint: Member must satisfy regular expression pattern: [\p{L}\p{Z}\p{N}_.:/=+\-@]+`},
		{"duplicate tag keys", CreateRoleInput{RoleName: "r", AssumeRolePolicyDocument: trustDoc, Tags: []store.Tag{{Key: "Env", Value: "a"}, {Key: "env", Value: "b"}}},
			400, "InvalidInput", "Duplicate tag keys found. Please note that Tag keys are case insensitive."},
		{"reserved tag prefix", CreateRoleInput{RoleName: "r", AssumeRolePolicyDocument: trustDoc, Tags: []store.Tag{{Key: "AWS:x", Value: "a"}}},
			400, "InvalidInput", "The tag key AWS:x is reserved: tag keys that begin with aws: are reserved for AWS use."},
		{"boundary missing", CreateRoleInput{RoleName: "r", AssumeRolePolicyDocument: trustDoc, PermissionsBoundary: "arn:aws:iam::123456789012:policy/none"},
			404, "NoSuchEntity", "Scope ARN: arn:aws:iam::123456789012:policy/none does not exist or is not attachable."},
		{"boundary not a policy", CreateRoleInput{RoleName: "r", AssumeRolePolicyDocument: trustDoc, PermissionsBoundary: "arn:aws:iam::123456789012:role/none"},
			400, "InvalidInput", "ARN arn:aws:iam::123456789012:role/none is not valid."},
		{"boundary of another account", CreateRoleInput{RoleName: "r", AssumeRolePolicyDocument: trustDoc, PermissionsBoundary: "arn:aws:iam::aws:policy/PowerUserAccess"},
			404, "NoSuchEntity", "Scope ARN: arn:aws:iam::aws:policy/PowerUserAccess does not exist or is not attachable."},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := env.svc.CreateRole(env.ctx, &tc.in)
			wantErr(t, err, tc.status, tc.code, tc.msg)
		})
	}
	// Nothing was created by the refused calls.
	out, err := env.svc.ListRoles(env.ctx, &ListRolesInput{})
	must(t, err)
	if len(out.Roles) != 1 {
		t.Fatalf("roles after refused creates = %d, want 1", len(out.Roles))
	}
}

func TestRoleLifecycle(t *testing.T) {
	env := newTestEnv(t)
	bnd := env.createPolicy(t, "boundary", "/b/")
	created, err := env.svc.CreateRole(env.ctx, &CreateRoleInput{
		RoleName:                 "carts",
		Path:                     "/eks/",
		AssumeRolePolicyDocument: trustDoc,
		Description:              "cart service",
		MaxSessionDuration:       ptr(7200),
		PermissionsBoundary:      bnd.ARN,
		Tags:                     []store.Tag{{Key: "team", Value: "shop"}},
	})
	must(t, err)
	r := created.Role
	if r.ARN != "arn:aws:iam::123456789012:role/eks/carts" || r.Path != "/eks/" || len(r.ID) != 21 || r.ID[:4] != "AROA" {
		t.Fatalf("created role = %+v", r)
	}
	if !r.CreatedAt.Equal(testStart) || r.MaxSessionDuration != 7200 {
		t.Fatalf("created role = %+v", r)
	}

	got, err := env.svc.GetRole(env.ctx, &GetRoleInput{RoleName: "carts"})
	must(t, err)
	if got.Role.AssumeRolePolicy != trustDoc || got.Role.ID != r.ID || got.Role.PermissionsBoundary != bnd.ARN {
		t.Fatalf("GetRole = %+v", got.Role)
	}
	_, err = env.svc.GetRole(env.ctx, &GetRoleInput{RoleName: "nope"})
	wantErr(t, err, 404, "NoSuchEntity", "The role with name nope cannot be found.")

	// UpdateRole changes only what is sent.
	must(t, env.svc.UpdateRole(env.ctx, &UpdateRoleInput{RoleName: "carts", MaxSessionDuration: ptr(43200)}))
	got, _ = env.svc.GetRole(env.ctx, &GetRoleInput{RoleName: "carts"})
	if got.Role.Description != "cart service" || got.Role.MaxSessionDuration != 43200 {
		t.Fatalf("after UpdateRole = %+v", got.Role)
	}
	must(t, env.svc.UpdateRole(env.ctx, &UpdateRoleInput{RoleName: "carts", Description: ptr("")}))
	got, _ = env.svc.GetRole(env.ctx, &GetRoleInput{RoleName: "carts"})
	if got.Role.Description != "" {
		t.Fatalf("description not cleared: %q", got.Role.Description)
	}
	wantErr(t, env.svc.UpdateRole(env.ctx, &UpdateRoleInput{RoleName: "nope"}), 404, "NoSuchEntity", "The role with name nope cannot be found.")

	// The trust policy is kept byte for byte.
	odd := "{ \"Version\" : \"2012-10-17\",\n\t\"Statement\": [ ] }"
	must(t, env.svc.UpdateAssumeRolePolicy(env.ctx, &UpdateAssumeRolePolicyInput{RoleName: "carts", PolicyDocument: odd}))
	got, _ = env.svc.GetRole(env.ctx, &GetRoleInput{RoleName: "carts"})
	if got.Role.AssumeRolePolicy != odd {
		t.Fatalf("trust policy = %q, want %q", got.Role.AssumeRolePolicy, odd)
	}
	wantErr(t, env.svc.UpdateAssumeRolePolicy(env.ctx, &UpdateAssumeRolePolicyInput{RoleName: "carts", PolicyDocument: "[["}),
		400, "MalformedPolicyDocument", "Syntax errors in policy.")

	// Boundary removal and re-set.
	must(t, env.svc.DeleteRolePermissionsBoundary(env.ctx, &DeleteRolePermissionsBoundaryInput{RoleName: "carts"}))
	got, _ = env.svc.GetRole(env.ctx, &GetRoleInput{RoleName: "carts"})
	if got.Role.PermissionsBoundary != "" {
		t.Fatalf("boundary not removed")
	}
	wantErr(t, env.svc.PutRolePermissionsBoundary(env.ctx, &PutRolePermissionsBoundaryInput{RoleName: "carts", PermissionsBoundary: env.policyARN("none")}),
		404, "NoSuchEntity", "Scope ARN: arn:aws:iam::123456789012:policy/none does not exist or is not attachable.")
	must(t, env.svc.PutRolePermissionsBoundary(env.ctx, &PutRolePermissionsBoundaryInput{RoleName: "carts", PermissionsBoundary: bnd.ARN}))

	// Delete.
	must(t, env.svc.PutRolePermissionsBoundary(env.ctx, &PutRolePermissionsBoundaryInput{RoleName: "carts", PermissionsBoundary: bnd.ARN}))
	must(t, env.svc.DeleteRole(env.ctx, &DeleteRoleInput{RoleName: "carts"}))
	wantErr(t, env.svc.DeleteRole(env.ctx, &DeleteRoleInput{RoleName: "carts"}), 404, "NoSuchEntity", "The role with name carts cannot be found.")
}

func TestRoleTags(t *testing.T) {
	env := newTestEnv(t)
	_, err := env.svc.CreateRole(env.ctx, &CreateRoleInput{RoleName: "r", AssumeRolePolicyDocument: trustDoc,
		Tags: []store.Tag{{Key: "Env", Value: "dev"}, {Key: "team", Value: "a"}}})
	must(t, err)

	// Tag keys are case-insensitive: "env" replaces "Env".
	must(t, env.svc.TagRole(env.ctx, &TagRoleInput{RoleName: "r", Tags: []store.Tag{{Key: "env", Value: "prod"}, {Key: "cost", Value: ""}}}))
	tags, err := env.svc.ListRoleTags(env.ctx, &ListRoleTagsInput{RoleName: "r"})
	must(t, err)
	want := []store.Tag{{Key: "env", Value: "prod"}, {Key: "team", Value: "a"}, {Key: "cost", Value: ""}}
	if fmt.Sprint(tags.Tags) != fmt.Sprint(want) || tags.IsTruncated {
		t.Fatalf("tags = %v, want %v", tags.Tags, want)
	}

	// Paging through tags.
	page1, err := env.svc.ListRoleTags(env.ctx, &ListRoleTagsInput{RoleName: "r", MaxItems: ptr(2)})
	must(t, err)
	if len(page1.Tags) != 2 || !page1.IsTruncated || page1.Marker == "" {
		t.Fatalf("page1 = %+v", page1)
	}
	page2, err := env.svc.ListRoleTags(env.ctx, &ListRoleTagsInput{RoleName: "r", MaxItems: ptr(2), Marker: page1.Marker})
	must(t, err)
	if len(page2.Tags) != 1 || page2.IsTruncated || page2.Marker != "" || page2.Tags[0].Key != "cost" {
		t.Fatalf("page2 = %+v", page2)
	}

	must(t, env.svc.UntagRole(env.ctx, &UntagRoleInput{RoleName: "r", TagKeys: []string{"TEAM", "absent"}}))
	tags, _ = env.svc.ListRoleTags(env.ctx, &ListRoleTagsInput{RoleName: "r"})
	if len(tags.Tags) != 2 {
		t.Fatalf("after untag = %v", tags.Tags)
	}

	// At most 50 tags in all.
	many := make([]store.Tag, 49)
	for i := range many {
		many[i] = store.Tag{Key: "k" + strconv.Itoa(i), Value: "v"}
	}
	wantErr(t, env.svc.TagRole(env.ctx, &TagRoleInput{RoleName: "r", Tags: many}), 409, "LimitExceeded", "The number of tags has reached the maximum limit.")
	wantErr(t, env.svc.TagRole(env.ctx, &TagRoleInput{RoleName: "r"}), 400, "ValidationError",
		"1 validation error detected: Value null at 'tags' failed to satisfy constraint: Member must not be null")
	wantErr(t, env.svc.TagRole(env.ctx, &TagRoleInput{RoleName: "nope", Tags: []store.Tag{{Key: "a"}}}), 404, "NoSuchEntity", "The role with name nope cannot be found.")
	wantErr(t, env.svc.UntagRole(env.ctx, &UntagRoleInput{RoleName: "r"}), 400, "ValidationError",
		"1 validation error detected: Value null at 'tagKeys' failed to satisfy constraint: Member must not be null")
	_, err = env.svc.ListRoleTags(env.ctx, &ListRoleTagsInput{RoleName: "r", Marker: "!!"})
	wantErr(t, err, 400, "InvalidInput", "The specified value for marker is not valid.")
}

func TestListRolesPaging(t *testing.T) {
	env := newTestEnv(t)
	for _, n := range []string{"e", "a", "d", "b", "c"} {
		path := "/"
		if n == "b" || n == "d" {
			path = "/team/"
		}
		env.createRole(t, n, path)
	}
	var names []string
	marker := ""
	pages := 0
	for {
		out, err := env.svc.ListRoles(env.ctx, &ListRolesInput{MaxItems: ptr(2), Marker: marker})
		must(t, err)
		pages++
		for _, r := range out.Roles {
			names = append(names, r.Name)
		}
		if !out.IsTruncated {
			if out.Marker != "" {
				t.Fatalf("last page has marker %q", out.Marker)
			}
			break
		}
		if out.Marker == marker {
			t.Fatalf("marker repeated")
		}
		marker = out.Marker
	}
	if fmt.Sprint(names) != "[a b c d e]" || pages != 3 {
		t.Fatalf("names = %v in %d pages", names, pages)
	}
	team, err := env.svc.ListRoles(env.ctx, &ListRolesInput{PathPrefix: "/team/"})
	must(t, err)
	if len(team.Roles) != 2 || team.Roles[0].Name != "b" || team.Roles[1].Name != "d" {
		t.Fatalf("team roles = %v", team.Roles)
	}
	if c := env.authz.last(); c.Action != "iam:ListRoles" || c.Resource != "arn:aws:iam::123456789012:role/team/" {
		t.Fatalf("authorized %+v", c)
	}
	exact, err := env.svc.ListRoles(env.ctx, &ListRolesInput{MaxItems: ptr(5)})
	must(t, err)
	if len(exact.Roles) != 5 || exact.IsTruncated {
		t.Fatalf("MaxItems=5 of 5: %d roles, truncated %v", len(exact.Roles), exact.IsTruncated)
	}
	for _, tc := range []struct {
		in  ListRolesInput
		msg string
	}{
		{ListRolesInput{MaxItems: ptr(0)}, "1 validation error detected: Value '0' at 'maxItems' failed to satisfy constraint: Member must have value greater than or equal to 1"},
		{ListRolesInput{MaxItems: ptr(1001)}, "1 validation error detected: Value '1001' at 'maxItems' failed to satisfy constraint: Member must have value less than or equal to 1000"},
		{ListRolesInput{PathPrefix: "team"}, `1 validation error detected: Value 'team' at 'pathPrefix' failed to satisfy constraint: Member must satisfy regular expression pattern: \u002F[\u0021-\u007F]*`},
	} {
		_, err := env.svc.ListRoles(env.ctx, &tc.in)
		wantErr(t, err, 400, "ValidationError", tc.msg)
	}
}
