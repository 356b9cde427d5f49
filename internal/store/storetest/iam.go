package storetest

import (
	"strings"
	"testing"

	"github.com/podid/podid/internal/store"
)

const acct = "111122223333"

func newRole(name, path string) *store.Role {
	return &store.Role{
		Account:            acct,
		ID:                 "AROA" + strings.ToUpper(name) + "X",
		Name:               name,
		Path:               path,
		ARN:                "arn:aws:iam::" + acct + ":role" + path + name,
		AssumeRolePolicy:   `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"pods.eks.amazonaws.com"},"Action":["sts:AssumeRole","sts:TagSession"]}]}`,
		Description:        "role " + name,
		MaxSessionDuration: 3600,
		Tags:               []store.Tag{{Key: "team", Value: "a"}, {Key: "env", Value: "dev"}},
		CreatedAt:          at(0),
	}
}

func newUser(name, path string) *store.User {
	return &store.User{
		Account:   acct,
		ID:        "AIDA" + strings.ToUpper(name) + "X",
		Name:      name,
		Path:      path,
		ARN:       "arn:aws:iam::" + acct + ":user" + path + name,
		Tags:      []store.Tag{{Key: "k", Value: "v"}},
		CreatedAt: at(1),
	}
}

func newPolicy(name, path string) *store.ManagedPolicy {
	return &store.ManagedPolicy{
		Account:          acct,
		ID:               "ANPA" + strings.ToUpper(name) + "X",
		Name:             name,
		Path:             path,
		ARN:              policyARN(name, path),
		DefaultVersionID: "v1",
		Description:      "policy " + name,
		CreatedAt:        at(2),
		UpdatedAt:        at(2),
	}
}

func policyARN(name, path string) string {
	return "arn:aws:iam::" + acct + ":policy" + path + name
}

func testRoles(t *testing.T, s store.Store) {
	r := newRole("Deployer", "/ci/")
	r.PermissionsBoundary = "arn:aws:iam::" + acct + ":policy/boundary"
	update(t, s, func(tx store.Tx) error { return tx.CreateRole(r) })

	for _, name := range []string{"Deployer", "deployer", "DEPLOYER"} {
		got, err := get(t, s, func(tx store.Tx) (*store.Role, error) { return tx.GetRole(acct, name) })
		wantErr(t, "GetRole "+name, err, nil)
		checkEqual(t, "GetRole "+name, got, r)
	}
	got := mustGet(t, s, func(tx store.Tx) (*store.Role, error) { return tx.GetRoleByID(r.ID) })
	checkEqual(t, "GetRoleByID", got, r)

	_, err := get(t, s, func(tx store.Tx) (*store.Role, error) { return tx.GetRole(acct, "nobody") })
	wantErr(t, "GetRole missing", err, store.ErrNotFound)
	_, err = get(t, s, func(tx store.Tx) (*store.Role, error) { return tx.GetRoleByID("AROAMISSING") })
	wantErr(t, "GetRoleByID missing", err, store.ErrNotFound)
	_, err = get(t, s, func(tx store.Tx) (*store.Role, error) { return tx.GetRoleByID(strings.ToLower(r.ID)) })
	wantErr(t, "GetRoleByID is exact", err, store.ErrNotFound)

	conflicts := []struct {
		name string
		role *store.Role
	}{
		{"same name", func() *store.Role { c := newRole("Deployer", "/"); c.ID = "AROAOTHER1"; return c }()},
		{"name differs in case", func() *store.Role { c := newRole("DEPLOYER", "/other/"); c.ID = "AROAOTHER2"; return c }()},
		{"same ID", func() *store.Role { c := newRole("Other", "/"); c.ID = r.ID; return c }()},
	}
	for _, c := range conflicts {
		err := write(t, s, func(tx store.Tx) error { return tx.CreateRole(c.role) })
		wantErr(t, "CreateRole "+c.name, err, store.ErrConflict)
	}

	// UpdateRole replaces the mutable fields and keeps the identity.
	upd := *r
	upd.Name = "deployer" // matched case-insensitively; the stored name stays
	upd.ID, upd.Path, upd.ARN, upd.CreatedAt = "AROAIGNORED", "/ignored/", "arn:ignored", at(99)
	upd.AssumeRolePolicy = `{"Version":"2012-10-17","Statement":[]}`
	upd.Description = ""
	upd.MaxSessionDuration = 43200
	upd.PermissionsBoundary = ""
	upd.Tags = []store.Tag{{Key: "only", Value: "one"}}
	upd.LastUsedAt = at(30)
	upd.LastUsedRegion = "eu-west-1"
	update(t, s, func(tx store.Tx) error { return tx.UpdateRole(&upd) })
	want := *r
	want.AssumeRolePolicy, want.Description, want.MaxSessionDuration = upd.AssumeRolePolicy, "", 43200
	want.PermissionsBoundary, want.Tags = "", upd.Tags
	want.LastUsedAt, want.LastUsedRegion = at(30), "eu-west-1"
	got = mustGet(t, s, func(tx store.Tx) (*store.Role, error) { return tx.GetRole(acct, "Deployer") })
	checkEqual(t, "after UpdateRole", got, &want)

	err = write(t, s, func(tx store.Tx) error { return tx.UpdateRole(newRole("Ghost", "/")) })
	wantErr(t, "UpdateRole missing", err, store.ErrNotFound)

	update(t, s, func(tx store.Tx) error { return tx.DeleteRole(acct, "DEPLOYER") })
	_, err = get(t, s, func(tx store.Tx) (*store.Role, error) { return tx.GetRole(acct, "Deployer") })
	wantErr(t, "GetRole after delete", err, store.ErrNotFound)
	err = write(t, s, func(tx store.Tx) error { return tx.DeleteRole(acct, "Deployer") })
	wantErr(t, "DeleteRole missing", err, store.ErrNotFound)

	// The name is free again.
	update(t, s, func(tx store.Tx) error { return tx.CreateRole(newRole("deployer", "/")) })
}

func testRoleListing(t *testing.T, s store.Store) {
	// Byte order: upper case sorts before lower case.
	roles := []*store.Role{
		newRole("b-role", "/"), newRole("A-role", "/"), newRole("c-role", "/team/"),
		newRole("a-role2", "/team/sub/"), newRole("Z-role", "/teams/"), newRole("d-role", "/Team/"),
	}
	update(t, s, func(tx store.Tx) error {
		for _, r := range roles {
			if err := tx.CreateRole(r); err != nil {
				return err
			}
		}
		return nil
	})
	name := func(r *store.Role) string { return r.Name }
	cases := []struct {
		prefix string
		want   []string
	}{
		{"", []string{"A-role", "Z-role", "a-role2", "b-role", "c-role", "d-role"}},
		{"/", []string{"A-role", "Z-role", "a-role2", "b-role", "c-role", "d-role"}},
		{"/team/", []string{"a-role2", "c-role"}},
		{"/team", []string{"Z-role", "a-role2", "c-role"}},
		{"/Team/", []string{"d-role"}},
		{"/team/sub/", []string{"a-role2"}},
		{"/nothing/", nil},
		{"%", nil},
		{"/_eam/", nil},
	}
	for _, c := range cases {
		all := mustGet(t, s, func(tx store.Tx) ([]*store.Role, error) { return tx.ListRoles(acct, c.prefix, store.Page{}) })
		checkEqual(t, "ListRoles "+c.prefix, keysOf(all, name), c.want)
		for _, n := range []int{1, 2, 5} {
			paged := pageThrough(t, s, n, func(tx store.Tx, p store.Page) ([]*store.Role, error) { return tx.ListRoles(acct, c.prefix, p) }, name)
			checkEqual(t, "paged ListRoles "+c.prefix, keysOf(paged, name), c.want)
		}
	}
	full := mustGet(t, s, func(tx store.Tx) ([]*store.Role, error) { return tx.ListRoles(acct, "/team/", store.Page{}) })
	checkEqual(t, "ListRoles records", full, []*store.Role{roles[3], roles[2]})
	after := mustGet(t, s, func(tx store.Tx) ([]*store.Role, error) { return tx.ListRoles(acct, "", store.Page{After: "d-role"}) })
	checkEqual(t, "ListRoles after the last", after, []*store.Role(nil))
	mid := mustGet(t, s, func(tx store.Tx) ([]*store.Role, error) {
		return tx.ListRoles(acct, "", store.Page{After: "a", Limit: 2})
	})
	checkEqual(t, "ListRoles after a non-existent key", keysOf(mid, name), []string{"a-role2", "b-role"})
}

func testUsers(t *testing.T, s store.Store) {
	u := newUser("Alice", "/people/")
	update(t, s, func(tx store.Tx) error { return tx.CreateUser(u) })
	for _, name := range []string{"Alice", "alice"} {
		got, err := get(t, s, func(tx store.Tx) (*store.User, error) { return tx.GetUser(acct, name) })
		wantErr(t, "GetUser "+name, err, nil)
		checkEqual(t, "GetUser "+name, got, u)
	}
	_, err := get(t, s, func(tx store.Tx) (*store.User, error) { return tx.GetUser(acct, "bob") })
	wantErr(t, "GetUser missing", err, store.ErrNotFound)

	dupName := newUser("ALICE", "/")
	dupName.ID = "AIDAOTHER"
	wantErr(t, "CreateUser same name other case", write(t, s, func(tx store.Tx) error { return tx.CreateUser(dupName) }), store.ErrConflict)
	dupID := newUser("Carol", "/")
	dupID.ID = u.ID
	wantErr(t, "CreateUser same ID", write(t, s, func(tx store.Tx) error { return tx.CreateUser(dupID) }), store.ErrConflict)

	// A user's access key and policies follow a rename (IAM UpdateUser).
	key := &store.AccessKey{Account: acct, ID: "AKIAALICE", UserName: "alice", SealedSecret: []byte{1, 2, 3}, Status: "Active", CreatedAt: at(3)}
	update(t, s, func(tx store.Tx) error {
		if err := tx.CreateAccessKey(key); err != nil {
			return err
		}
		if err := tx.AttachPolicy(store.KindUser, acct, "Alice", policyARN("ReadOnly", "/")); err != nil {
			return err
		}
		return tx.PutInlinePolicy(&store.InlinePolicy{Account: acct, Kind: store.KindUser, PrincipalName: "Alice", PolicyName: "p", Document: "{}"})
	})
	renamed := *u
	renamed.Name, renamed.Path = "Alicia", "/moved/"
	renamed.ARN = "arn:aws:iam::" + acct + ":user/moved/Alicia"
	renamed.PermissionsBoundary = "arn:aws:iam::" + acct + ":policy/b"
	renamed.Tags = nil
	renamed.CreatedAt = at(50) // never changes
	update(t, s, func(tx store.Tx) error { return tx.UpdateUser(&renamed) })
	want := renamed
	want.CreatedAt = u.CreatedAt
	got := mustGet(t, s, func(tx store.Tx) (*store.User, error) { return tx.GetUser(acct, "alicia") })
	checkEqual(t, "after rename", got, &want)
	_, err = get(t, s, func(tx store.Tx) (*store.User, error) { return tx.GetUser(acct, "Alice") })
	wantErr(t, "old name after rename", err, store.ErrNotFound)
	gotKey := mustGet(t, s, func(tx store.Tx) (*store.AccessKey, error) { return tx.GetAccessKey("AKIAALICE") })
	if gotKey.UserName != "Alicia" {
		t.Errorf("access key user after rename = %q, want Alicia", gotKey.UserName)
	}
	arns := mustGet(t, s, func(tx store.Tx) ([]string, error) {
		return tx.ListAttachedPolicies(store.KindUser, acct, "Alicia", store.Page{})
	})
	checkEqual(t, "attachments after rename", arns, []string{policyARN("ReadOnly", "/")})
	ip := mustGet(t, s, func(tx store.Tx) (*store.InlinePolicy, error) {
		return tx.GetInlinePolicy(store.KindUser, acct, "alicia", "p")
	})
	checkEqual(t, "inline policy after rename", ip, &store.InlinePolicy{Account: acct, Kind: store.KindUser, PrincipalName: "Alicia", PolicyName: "p", Document: "{}"})

	// Without an ID, UpdateUser matches by name (case-insensitively).
	byName := want
	byName.ID = ""
	byName.Name = "ALICIA"
	byName.Tags = []store.Tag{{Key: "x", Value: "y"}}
	update(t, s, func(tx store.Tx) error { return tx.UpdateUser(&byName) })
	got = mustGet(t, s, func(tx store.Tx) (*store.User, error) { return tx.GetUser(acct, "alicia") })
	if got.ID != u.ID || len(got.Tags) != 1 {
		t.Errorf("UpdateUser by name: got %+v", got)
	}

	update(t, s, func(tx store.Tx) error { return tx.CreateUser(newUser("Bob", "/")) })
	onto := want
	onto.Name = "bob"
	wantErr(t, "rename onto a taken name", write(t, s, func(tx store.Tx) error { return tx.UpdateUser(&onto) }), store.ErrConflict)
	ghost := newUser("Ghost", "/")
	wantErr(t, "UpdateUser missing", write(t, s, func(tx store.Tx) error { return tx.UpdateUser(ghost) }), store.ErrNotFound)
	ghost.ID = ""
	wantErr(t, "UpdateUser missing by name", write(t, s, func(tx store.Tx) error { return tx.UpdateUser(ghost) }), store.ErrNotFound)

	update(t, s, func(tx store.Tx) error { return tx.DeleteUser(acct, "BOB") })
	wantErr(t, "DeleteUser missing", write(t, s, func(tx store.Tx) error { return tx.DeleteUser(acct, "bob") }), store.ErrNotFound)
}

func testUserListing(t *testing.T, s store.Store) {
	update(t, s, func(tx store.Tx) error {
		for _, u := range []*store.User{newUser("carol", "/a/"), newUser("Bob", "/a/b/"), newUser("alice", "/"), newUser("dave", "/ab/")} {
			if err := tx.CreateUser(u); err != nil {
				return err
			}
		}
		return nil
	})
	name := func(u *store.User) string { return u.Name }
	for _, c := range []struct {
		prefix string
		want   []string
	}{
		{"", []string{"Bob", "alice", "carol", "dave"}},
		{"/a/", []string{"Bob", "carol"}},
		{"/a", []string{"Bob", "carol", "dave"}},
		{"/A/", nil},
	} {
		paged := pageThrough(t, s, 1, func(tx store.Tx, p store.Page) ([]*store.User, error) { return tx.ListUsers(acct, c.prefix, p) }, name)
		checkEqual(t, "ListUsers "+c.prefix, keysOf(paged, name), c.want)
	}
}

func testPolicies(t *testing.T, s store.Store) {
	p := newPolicy("ReadBuckets", "/app/")
	p.Tags = []store.Tag{{Key: "a", Value: "1"}}
	update(t, s, func(tx store.Tx) error { return tx.CreatePolicy(p) })
	got := mustGet(t, s, func(tx store.Tx) (*store.ManagedPolicy, error) { return tx.GetPolicy(p.ARN) })
	checkEqual(t, "GetPolicy", got, p)
	_, err := get(t, s, func(tx store.Tx) (*store.ManagedPolicy, error) { return tx.GetPolicy(policyARN("Nope", "/")) })
	wantErr(t, "GetPolicy missing", err, store.ErrNotFound)

	for _, c := range []struct {
		name string
		p    *store.ManagedPolicy
	}{
		{"same ARN", func() *store.ManagedPolicy { c := newPolicy("ReadBuckets", "/app/"); c.ID = "ANPA2"; return c }()},
		{"same name other case and path", func() *store.ManagedPolicy { c := newPolicy("readbuckets", "/"); c.ID = "ANPA3"; return c }()},
		{"same ID", func() *store.ManagedPolicy { c := newPolicy("Other", "/"); c.ID = p.ID; return c }()},
	} {
		wantErr(t, "CreatePolicy "+c.name, write(t, s, func(tx store.Tx) error { return tx.CreatePolicy(c.p) }), store.ErrConflict)
	}

	upd := *p
	upd.ID, upd.Name, upd.Path, upd.CreatedAt = "ANPAIGNORED", "Ignored", "/ignored/", at(77)
	upd.DefaultVersionID = "v3"
	upd.Description = "changed"
	upd.Tags = nil
	upd.UpdatedAt = at(10)
	update(t, s, func(tx store.Tx) error { return tx.UpdatePolicy(&upd) })
	want := *p
	want.DefaultVersionID, want.Description, want.Tags, want.UpdatedAt = "v3", "changed", nil, at(10)
	got = mustGet(t, s, func(tx store.Tx) (*store.ManagedPolicy, error) { return tx.GetPolicy(p.ARN) })
	checkEqual(t, "after UpdatePolicy", got, &want)
	wantErr(t, "UpdatePolicy missing", write(t, s, func(tx store.Tx) error { return tx.UpdatePolicy(newPolicy("Ghost", "/")) }), store.ErrNotFound)

	update(t, s, func(tx store.Tx) error {
		for _, q := range []*store.ManagedPolicy{newPolicy("Zeta", "/"), newPolicy("alpha", "/app/"), newPolicy("Beta", "/app/sub/")} {
			if err := tx.CreatePolicy(q); err != nil {
				return err
			}
		}
		return nil
	})
	arn := func(p *store.ManagedPolicy) string { return p.ARN }
	for _, c := range []struct {
		prefix string
		want   []string
	}{
		{"", sorted([]string{policyARN("Zeta", "/"), policyARN("alpha", "/app/"), policyARN("Beta", "/app/sub/"), p.ARN})},
		{"/app/", sorted([]string{policyARN("alpha", "/app/"), policyARN("Beta", "/app/sub/"), p.ARN})},
		{"/app/sub/", []string{policyARN("Beta", "/app/sub/")}},
	} {
		paged := pageThrough(t, s, 2, func(tx store.Tx, pg store.Page) ([]*store.ManagedPolicy, error) {
			return tx.ListPolicies(acct, c.prefix, pg)
		}, arn)
		checkEqual(t, "ListPolicies "+c.prefix, keysOf(paged, arn), c.want)
	}

	update(t, s, func(tx store.Tx) error { return tx.DeletePolicy(p.ARN) })
	_, err = get(t, s, func(tx store.Tx) (*store.ManagedPolicy, error) { return tx.GetPolicy(p.ARN) })
	wantErr(t, "GetPolicy after delete", err, store.ErrNotFound)
	wantErr(t, "DeletePolicy missing", write(t, s, func(tx store.Tx) error { return tx.DeletePolicy(p.ARN) }), store.ErrNotFound)
}

func testPolicyVersions(t *testing.T, s store.Store) {
	p := newPolicy("Versioned", "/")
	update(t, s, func(tx store.Tx) error { return tx.CreatePolicy(p) })
	vs := []*store.PolicyVersion{
		{PolicyARN: p.ARN, VersionID: "v1", Document: `{"v":1}`, IsDefault: false, CreatedAt: at(1)},
		{PolicyARN: p.ARN, VersionID: "v2", Document: `{"v":2}`, IsDefault: false, CreatedAt: at(2)},
		{PolicyARN: p.ARN, VersionID: "v10", Document: `{"v":10}`, IsDefault: true, CreatedAt: at(3)},
	}
	update(t, s, func(tx store.Tx) error {
		for _, v := range vs {
			if err := tx.PutPolicyVersion(v); err != nil {
				return err
			}
		}
		return nil
	})
	got := mustGet(t, s, func(tx store.Tx) (*store.PolicyVersion, error) { return tx.GetPolicyVersion(p.ARN, "v2") })
	checkEqual(t, "GetPolicyVersion", got, vs[1])
	list := mustGet(t, s, func(tx store.Tx) ([]*store.PolicyVersion, error) { return tx.ListPolicyVersions(p.ARN) })
	checkEqual(t, "ListPolicyVersions newest first", list, []*store.PolicyVersion{vs[2], vs[1], vs[0]})

	// Put replaces by (PolicyARN, VersionID).
	repl := &store.PolicyVersion{PolicyARN: p.ARN, VersionID: "v1", Document: `{"v":"1b"}`, IsDefault: true, CreatedAt: at(1)}
	update(t, s, func(tx store.Tx) error { return tx.PutPolicyVersion(repl) })
	got = mustGet(t, s, func(tx store.Tx) (*store.PolicyVersion, error) { return tx.GetPolicyVersion(p.ARN, "v1") })
	checkEqual(t, "replaced version", got, repl)

	missing := &store.PolicyVersion{PolicyARN: policyARN("Ghost", "/"), VersionID: "v1", Document: "{}", CreatedAt: at(1)}
	wantErr(t, "PutPolicyVersion for a missing policy", write(t, s, func(tx store.Tx) error { return tx.PutPolicyVersion(missing) }), store.ErrNotFound)
	_, err := get(t, s, func(tx store.Tx) (*store.PolicyVersion, error) { return tx.GetPolicyVersion(p.ARN, "v9") })
	wantErr(t, "GetPolicyVersion missing", err, store.ErrNotFound)
	_, err = get(t, s, func(tx store.Tx) ([]*store.PolicyVersion, error) { return tx.ListPolicyVersions(missing.PolicyARN) })
	wantErr(t, "ListPolicyVersions of a missing policy", err, store.ErrNotFound)

	update(t, s, func(tx store.Tx) error { return tx.DeletePolicyVersion(p.ARN, "v2") })
	wantErr(t, "DeletePolicyVersion again", write(t, s, func(tx store.Tx) error { return tx.DeletePolicyVersion(p.ARN, "v2") }), store.ErrNotFound)
	wantErr(t, "DeletePolicyVersion of a missing policy", write(t, s, func(tx store.Tx) error { return tx.DeletePolicyVersion(missing.PolicyARN, "v1") }), store.ErrNotFound)
	list = mustGet(t, s, func(tx store.Tx) ([]*store.PolicyVersion, error) { return tx.ListPolicyVersions(p.ARN) })
	checkEqual(t, "versions after delete", keysOf(list, func(v *store.PolicyVersion) string { return v.VersionID }), []string{"v10", "v1"})

	// Deleting the policy deletes its versions; a new policy with the same
	// ARN starts empty.
	update(t, s, func(tx store.Tx) error { return tx.DeletePolicy(p.ARN) })
	update(t, s, func(tx store.Tx) error { return tx.CreatePolicy(newPolicy("Versioned", "/")) })
	list = mustGet(t, s, func(tx store.Tx) ([]*store.PolicyVersion, error) { return tx.ListPolicyVersions(p.ARN) })
	checkEqual(t, "versions of a re-created policy", list, []*store.PolicyVersion(nil))
}

func testAttachments(t *testing.T, s store.Store) {
	update(t, s, func(tx store.Tx) error {
		if err := tx.CreateRole(newRole("Runner", "/")); err != nil {
			return err
		}
		return tx.CreateUser(newUser("Dana", "/"))
	})
	awsManaged := "arn:aws:iam::aws:policy/ReadOnlyAccess"
	arns := []string{policyARN("p2", "/"), awsManaged, policyARN("p1", "/"), policyARN("p3", "/x/")}
	update(t, s, func(tx store.Tx) error {
		for _, a := range arns {
			if err := tx.AttachPolicy(store.KindRole, acct, "runner", a); err != nil {
				return err
			}
		}
		return tx.AttachPolicy(store.KindUser, acct, "Dana", policyARN("p1", "/"))
	})
	wantErr(t, "attach twice", write(t, s, func(tx store.Tx) error { return tx.AttachPolicy(store.KindRole, acct, "RUNNER", awsManaged) }), store.ErrConflict)
	wantErr(t, "attach to a missing role", write(t, s, func(tx store.Tx) error { return tx.AttachPolicy(store.KindRole, acct, "ghost", awsManaged) }), store.ErrNotFound)
	wantErr(t, "attach to a missing user", write(t, s, func(tx store.Tx) error { return tx.AttachPolicy(store.KindUser, acct, "Runner", awsManaged) }), store.ErrNotFound)

	want := sorted(arns)
	got := mustGet(t, s, func(tx store.Tx) ([]string, error) {
		return tx.ListAttachedPolicies(store.KindRole, acct, "Runner", store.Page{})
	})
	checkEqual(t, "ListAttachedPolicies", got, want)
	paged := pageThrough(t, s, 3, func(tx store.Tx, p store.Page) ([]string, error) {
		return tx.ListAttachedPolicies(store.KindRole, acct, "Runner", p)
	}, func(s string) string { return s })
	checkEqual(t, "paged ListAttachedPolicies", paged, want)
	_, err := get(t, s, func(tx store.Tx) ([]string, error) {
		return tx.ListAttachedPolicies(store.KindRole, acct, "ghost", store.Page{})
	})
	wantErr(t, "ListAttachedPolicies of a missing role", err, store.ErrNotFound)

	for _, c := range []struct {
		arn  string
		want int
	}{{policyARN("p1", "/"), 2}, {awsManaged, 1}, {policyARN("none", "/"), 0}} {
		n := mustGet(t, s, func(tx store.Tx) (int, error) { return tx.CountPolicyAttachments(c.arn) })
		if n != c.want {
			t.Errorf("CountPolicyAttachments(%s) = %d, want %d", c.arn, n, c.want)
		}
	}

	update(t, s, func(tx store.Tx) error { return tx.DetachPolicy(store.KindUser, acct, "dana", policyARN("p1", "/")) })
	wantErr(t, "detach again", write(t, s, func(tx store.Tx) error { return tx.DetachPolicy(store.KindUser, acct, "dana", policyARN("p1", "/")) }), store.ErrNotFound)
	wantErr(t, "detach from a missing role", write(t, s, func(tx store.Tx) error { return tx.DetachPolicy(store.KindRole, acct, "ghost", awsManaged) }), store.ErrNotFound)
	got = mustGet(t, s, func(tx store.Tx) ([]string, error) {
		return tx.ListAttachedPolicies(store.KindUser, acct, "Dana", store.Page{})
	})
	checkEqual(t, "user attachments after detach", got, []string(nil))
	n := mustGet(t, s, func(tx store.Tx) (int, error) { return tx.CountPolicyAttachments(policyARN("p1", "/")) })
	if n != 1 {
		t.Errorf("CountPolicyAttachments after detach = %d, want 1", n)
	}
	err = write(t, s, func(tx store.Tx) error { return tx.AttachPolicy("group", acct, "x", awsManaged) })
	if err == nil || isSentinel(err) {
		t.Errorf("AttachPolicy with an unknown kind: error = %v, want a non-sentinel error", err)
	}
}

func testInlinePolicies(t *testing.T, s store.Store) {
	update(t, s, func(tx store.Tx) error { return tx.CreateRole(newRole("Builder", "/")) })
	ips := []*store.InlinePolicy{
		{Account: acct, Kind: store.KindRole, PrincipalName: "Builder", PolicyName: "s3", Document: `{"s3":1}`},
		{Account: acct, Kind: store.KindRole, PrincipalName: "Builder", PolicyName: "Logs", Document: `{"logs":1}`},
		{Account: acct, Kind: store.KindRole, PrincipalName: "Builder", PolicyName: "ecr", Document: `{"ecr":1}`},
	}
	update(t, s, func(tx store.Tx) error {
		for _, ip := range ips {
			c := *ip
			c.PrincipalName = "builder" // any case; results carry the stored name
			if err := tx.PutInlinePolicy(&c); err != nil {
				return err
			}
		}
		return nil
	})
	got := mustGet(t, s, func(tx store.Tx) (*store.InlinePolicy, error) {
		return tx.GetInlinePolicy(store.KindRole, acct, "BUILDER", "s3")
	})
	checkEqual(t, "GetInlinePolicy", got, ips[0])
	_, err := get(t, s, func(tx store.Tx) (*store.InlinePolicy, error) {
		return tx.GetInlinePolicy(store.KindRole, acct, "Builder", "S3")
	})
	wantErr(t, "inline policy names are exact", err, store.ErrNotFound)
	_, err = get(t, s, func(tx store.Tx) (*store.InlinePolicy, error) {
		return tx.GetInlinePolicy(store.KindUser, acct, "Builder", "s3")
	})
	wantErr(t, "GetInlinePolicy of a missing user", err, store.ErrNotFound)

	name := func(ip *store.InlinePolicy) string { return ip.PolicyName }
	all := pageThrough(t, s, 2, func(tx store.Tx, p store.Page) ([]*store.InlinePolicy, error) {
		return tx.ListInlinePolicies(store.KindRole, acct, "Builder", p)
	}, name)
	checkEqual(t, "ListInlinePolicies", all, []*store.InlinePolicy{ips[1], ips[2], ips[0]})

	repl := &store.InlinePolicy{Account: acct, Kind: store.KindRole, PrincipalName: "Builder", PolicyName: "s3", Document: `{"s3":2}`}
	update(t, s, func(tx store.Tx) error { return tx.PutInlinePolicy(repl) })
	got = mustGet(t, s, func(tx store.Tx) (*store.InlinePolicy, error) {
		return tx.GetInlinePolicy(store.KindRole, acct, "Builder", "s3")
	})
	checkEqual(t, "replaced inline policy", got, repl)

	ghost := &store.InlinePolicy{Account: acct, Kind: store.KindUser, PrincipalName: "nobody", PolicyName: "x", Document: "{}"}
	wantErr(t, "PutInlinePolicy for a missing user", write(t, s, func(tx store.Tx) error { return tx.PutInlinePolicy(ghost) }), store.ErrNotFound)
	_, err = get(t, s, func(tx store.Tx) ([]*store.InlinePolicy, error) {
		return tx.ListInlinePolicies(store.KindUser, acct, "nobody", store.Page{})
	})
	wantErr(t, "ListInlinePolicies of a missing user", err, store.ErrNotFound)

	update(t, s, func(tx store.Tx) error { return tx.DeleteInlinePolicy(store.KindRole, acct, "Builder", "s3") })
	wantErr(t, "DeleteInlinePolicy again", write(t, s, func(tx store.Tx) error { return tx.DeleteInlinePolicy(store.KindRole, acct, "Builder", "s3") }), store.ErrNotFound)
	all = mustGet(t, s, func(tx store.Tx) ([]*store.InlinePolicy, error) {
		return tx.ListInlinePolicies(store.KindRole, acct, "Builder", store.Page{})
	})
	checkEqual(t, "inline policies after delete", keysOf(all, name), []string{"Logs", "ecr"})
}

// testPrincipalDeleteConflicts pins IAM's DeleteConflict: a role or user
// with attached or inline policies (or, for a user, access keys) cannot be
// deleted; the store reports ErrConflict and keeps everything.
func testPrincipalDeleteConflicts(t *testing.T, s store.Store) {
	cases := []struct {
		name   string
		setup  func(tx store.Tx) error
		delete func(tx store.Tx) error
		clear  func(tx store.Tx) error
	}{
		{
			"role with an attached policy",
			func(tx store.Tx) error { return tx.AttachPolicy(store.KindRole, acct, "r1", policyARN("p", "/")) },
			func(tx store.Tx) error { return tx.DeleteRole(acct, "r1") },
			func(tx store.Tx) error { return tx.DetachPolicy(store.KindRole, acct, "r1", policyARN("p", "/")) },
		},
		{
			"role with an inline policy",
			func(tx store.Tx) error {
				return tx.PutInlinePolicy(&store.InlinePolicy{Account: acct, Kind: store.KindRole, PrincipalName: "r2", PolicyName: "i", Document: "{}"})
			},
			func(tx store.Tx) error { return tx.DeleteRole(acct, "r2") },
			func(tx store.Tx) error { return tx.DeleteInlinePolicy(store.KindRole, acct, "r2", "i") },
		},
		{
			"user with an attached policy",
			func(tx store.Tx) error { return tx.AttachPolicy(store.KindUser, acct, "u1", policyARN("p", "/")) },
			func(tx store.Tx) error { return tx.DeleteUser(acct, "u1") },
			func(tx store.Tx) error { return tx.DetachPolicy(store.KindUser, acct, "u1", policyARN("p", "/")) },
		},
		{
			"user with an inline policy",
			func(tx store.Tx) error {
				return tx.PutInlinePolicy(&store.InlinePolicy{Account: acct, Kind: store.KindUser, PrincipalName: "u2", PolicyName: "i", Document: "{}"})
			},
			func(tx store.Tx) error { return tx.DeleteUser(acct, "u2") },
			func(tx store.Tx) error { return tx.DeleteInlinePolicy(store.KindUser, acct, "u2", "i") },
		},
		{
			"user with an access key",
			func(tx store.Tx) error {
				return tx.CreateAccessKey(&store.AccessKey{Account: acct, ID: "AKIAU3", UserName: "u3", SealedSecret: []byte("x"), Status: "Active"})
			},
			func(tx store.Tx) error { return tx.DeleteUser(acct, "u3") },
			func(tx store.Tx) error { return tx.DeleteAccessKey("AKIAU3") },
		},
	}
	update(t, s, func(tx store.Tx) error {
		for _, n := range []string{"r1", "r2"} {
			if err := tx.CreateRole(newRole(n, "/")); err != nil {
				return err
			}
		}
		for _, n := range []string{"u1", "u2", "u3"} {
			if err := tx.CreateUser(newUser(n, "/")); err != nil {
				return err
			}
		}
		return nil
	})
	for _, c := range cases {
		update(t, s, c.setup)
		wantErr(t, "delete "+c.name, write(t, s, c.delete), store.ErrConflict)
		update(t, s, c.clear)
		wantErr(t, "delete "+c.name+" after clearing", write(t, s, c.delete), nil)
	}
}

func testAccessKeys(t *testing.T, s store.Store) {
	update(t, s, func(tx store.Tx) error { return tx.CreateUser(newUser("Erin", "/")) })
	keys := []*store.AccessKey{
		{Account: acct, ID: "AKIAB", UserName: "Erin", SealedSecret: []byte{0, 1, 2, 255}, Status: "Active", CreatedAt: at(1)},
		{Account: acct, ID: "AKIAA", UserName: "Erin", SealedSecret: []byte("sealed-a"), Status: "Inactive", CreatedAt: at(2)},
		{Account: acct, ID: "AKIAROOT2", SealedSecret: []byte("root2"), Status: "Active", CreatedAt: at(3)},
		{Account: acct, ID: "AKIAROOT1", SealedSecret: []byte("root1"), Status: "Active", CreatedAt: at(4)},
	}
	update(t, s, func(tx store.Tx) error {
		for _, k := range keys {
			c := *k
			if c.UserName != "" {
				c.UserName = "erin"
			}
			if err := tx.CreateAccessKey(&c); err != nil {
				return err
			}
		}
		return nil
	})
	got := mustGet(t, s, func(tx store.Tx) (*store.AccessKey, error) { return tx.GetAccessKey("AKIAB") })
	checkEqual(t, "GetAccessKey", got, keys[0])
	got = mustGet(t, s, func(tx store.Tx) (*store.AccessKey, error) { return tx.GetAccessKey("AKIAROOT1") })
	checkEqual(t, "GetAccessKey root", got, keys[3])
	_, err := get(t, s, func(tx store.Tx) (*store.AccessKey, error) { return tx.GetAccessKey("AKIAMISSING") })
	wantErr(t, "GetAccessKey missing", err, store.ErrNotFound)

	dup := &store.AccessKey{Account: acct, ID: "AKIAA", SealedSecret: []byte("x"), Status: "Active"}
	wantErr(t, "CreateAccessKey same ID", write(t, s, func(tx store.Tx) error { return tx.CreateAccessKey(dup) }), store.ErrConflict)
	orphan := &store.AccessKey{Account: acct, ID: "AKIAORPHAN", UserName: "nobody", SealedSecret: []byte("x"), Status: "Active"}
	wantErr(t, "CreateAccessKey for a missing user", write(t, s, func(tx store.Tx) error { return tx.CreateAccessKey(orphan) }), store.ErrNotFound)

	list := mustGet(t, s, func(tx store.Tx) ([]*store.AccessKey, error) { return tx.ListAccessKeys(acct, "ERIN") })
	checkEqual(t, "ListAccessKeys user", list, []*store.AccessKey{keys[1], keys[0]})
	list = mustGet(t, s, func(tx store.Tx) ([]*store.AccessKey, error) { return tx.ListAccessKeys(acct, "") })
	checkEqual(t, "ListAccessKeys root", list, []*store.AccessKey{keys[3], keys[2]})
	_, err = get(t, s, func(tx store.Tx) ([]*store.AccessKey, error) { return tx.ListAccessKeys(acct, "nobody") })
	wantErr(t, "ListAccessKeys of a missing user", err, store.ErrNotFound)

	// Update changes Status and SealedSecret (re-sealing), nothing else.
	upd := *keys[0]
	upd.Status = "Inactive"
	upd.SealedSecret = []byte("resealed")
	upd.UserName = ""
	upd.CreatedAt = at(60)
	update(t, s, func(tx store.Tx) error { return tx.UpdateAccessKey(&upd) })
	want := *keys[0]
	want.Status, want.SealedSecret = "Inactive", []byte("resealed")
	got = mustGet(t, s, func(tx store.Tx) (*store.AccessKey, error) { return tx.GetAccessKey("AKIAB") })
	checkEqual(t, "after UpdateAccessKey", got, &want)
	wantErr(t, "UpdateAccessKey missing", write(t, s, func(tx store.Tx) error { return tx.UpdateAccessKey(orphan) }), store.ErrNotFound)

	update(t, s, func(tx store.Tx) error { return tx.DeleteAccessKey("AKIAB") })
	wantErr(t, "DeleteAccessKey again", write(t, s, func(tx store.Tx) error { return tx.DeleteAccessKey("AKIAB") }), store.ErrNotFound)
	list = mustGet(t, s, func(tx store.Tx) ([]*store.AccessKey, error) { return tx.ListAccessKeys(acct, "Erin") })
	checkEqual(t, "keys after delete", keysOf(list, func(k *store.AccessKey) string { return k.ID }), []string{"AKIAA"})
}

func testOIDCProviders(t *testing.T, s store.Store) {
	mk := func(host string) *store.OIDCProvider {
		return &store.OIDCProvider{
			Account:     acct,
			ARN:         "arn:aws:iam::" + acct + ":oidc-provider/" + host,
			URL:         host,
			ClientIDs:   []string{"sts.amazonaws.com", "another"},
			Thumbprints: []string{"9e99a48a9960b14926bb7f3b02e22da2b0ab7280"},
			Tags:        []store.Tag{{Key: "cluster", Value: host}},
			CreatedAt:   at(5),
		}
	}
	ps := []*store.OIDCProvider{mk("oidc.example.com/id/B"), mk("oidc.example.com/id/A"), mk("issuer.local")}
	update(t, s, func(tx store.Tx) error {
		for _, p := range ps {
			if err := tx.CreateOIDCProvider(p); err != nil {
				return err
			}
		}
		return nil
	})
	got := mustGet(t, s, func(tx store.Tx) (*store.OIDCProvider, error) { return tx.GetOIDCProvider(ps[0].ARN) })
	checkEqual(t, "GetOIDCProvider", got, ps[0])
	wantErr(t, "CreateOIDCProvider same ARN", write(t, s, func(tx store.Tx) error { return tx.CreateOIDCProvider(mk("issuer.local")) }), store.ErrConflict)
	_, err := get(t, s, func(tx store.Tx) (*store.OIDCProvider, error) { return tx.GetOIDCProvider(ps[0].ARN + "x") })
	wantErr(t, "GetOIDCProvider missing", err, store.ErrNotFound)

	all := mustGet(t, s, func(tx store.Tx) ([]*store.OIDCProvider, error) { return tx.ListOIDCProviders(acct) })
	checkEqual(t, "ListOIDCProviders", all, []*store.OIDCProvider{ps[2], ps[1], ps[0]})

	upd := *ps[0]
	upd.URL = "ignored.example.com"
	upd.CreatedAt = at(70)
	upd.ClientIDs = []string{"only"}
	upd.Thumbprints = nil
	upd.Tags = nil
	update(t, s, func(tx store.Tx) error { return tx.UpdateOIDCProvider(&upd) })
	want := *ps[0]
	want.ClientIDs, want.Thumbprints, want.Tags = []string{"only"}, nil, nil
	got = mustGet(t, s, func(tx store.Tx) (*store.OIDCProvider, error) { return tx.GetOIDCProvider(ps[0].ARN) })
	checkEqual(t, "after UpdateOIDCProvider", got, &want)
	wantErr(t, "UpdateOIDCProvider missing", write(t, s, func(tx store.Tx) error { return tx.UpdateOIDCProvider(mk("ghost")) }), store.ErrNotFound)

	update(t, s, func(tx store.Tx) error { return tx.DeleteOIDCProvider(ps[0].ARN) })
	wantErr(t, "DeleteOIDCProvider again", write(t, s, func(tx store.Tx) error { return tx.DeleteOIDCProvider(ps[0].ARN) }), store.ErrNotFound)
	all = mustGet(t, s, func(tx store.Tx) ([]*store.OIDCProvider, error) { return tx.ListOIDCProviders(acct) })
	checkEqual(t, "providers after delete", all, []*store.OIDCProvider{ps[2], ps[1]})
}

func testServerKeys(t *testing.T, s store.Store) {
	ks := []*store.ServerKey{
		{ID: "k3", Purpose: "session-token", Sealed: []byte{3}, Active: true, CreatedAt: at(3)},
		{ID: "k1", Purpose: "session-token", Sealed: []byte{1}, Active: false, CreatedAt: at(1)},
		{ID: "k2", Purpose: "cluster-signing/dev", Sealed: []byte{2}, Active: true, CreatedAt: at(2)},
	}
	update(t, s, func(tx store.Tx) error {
		for _, k := range ks {
			if err := tx.PutServerKey(k); err != nil {
				return err
			}
		}
		return nil
	})
	got := mustGet(t, s, func(tx store.Tx) ([]*store.ServerKey, error) { return tx.ListServerKeys("session-token") })
	checkEqual(t, "ListServerKeys session-token", got, []*store.ServerKey{ks[1], ks[0]})
	got = mustGet(t, s, func(tx store.Tx) ([]*store.ServerKey, error) { return tx.ListServerKeys("") })
	checkEqual(t, "ListServerKeys all", got, []*store.ServerKey{ks[1], ks[2], ks[0]})
	got = mustGet(t, s, func(tx store.Tx) ([]*store.ServerKey, error) { return tx.ListServerKeys("nothing") })
	checkEqual(t, "ListServerKeys unknown purpose", got, []*store.ServerKey(nil))

	repl := &store.ServerKey{ID: "k3", Purpose: "session-token", Sealed: []byte{33}, Active: false, CreatedAt: at(3)}
	update(t, s, func(tx store.Tx) error { return tx.PutServerKey(repl) })
	got = mustGet(t, s, func(tx store.Tx) ([]*store.ServerKey, error) { return tx.ListServerKeys("session-token") })
	checkEqual(t, "PutServerKey replaces", got, []*store.ServerKey{ks[1], repl})
}
