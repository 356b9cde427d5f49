package storetest

import (
	"testing"

	"github.com/podid/podid/internal/store"
)

// acctB is a second account in the same store.
const acctB = "444455556666"

// inAccount returns copies of the suite's records in account b, with
// their own IDs and ARNs.
func roleIn(b, name string) *store.Role {
	r := newRole(name, "/")
	r.Account, r.ID, r.ARN = b, r.ID+b, "arn:aws:iam::"+b+":role/"+name
	return r
}

func userIn(b, name string) *store.User {
	u := newUser(name, "/")
	u.Account, u.ID, u.ARN = b, u.ID+b, "arn:aws:iam::"+b+":user/"+name
	return u
}

func policyIn(b, name string) *store.ManagedPolicy {
	p := newPolicy(name, "/")
	p.Account, p.ID, p.ARN = b, p.ID+b, "arn:aws:iam::"+b+":policy/"+name
	return p
}

// testAccounts: two accounts in one store each have their own IAM
// namespace: the same role, user and policy names exist in both, a
// lookup or listing in one account never sees the other's records, a
// write in one never touches the other's, and names stay unique (case-
// insensitively) within each account.
func testAccounts(t *testing.T, s store.Store) {
	update(t, s, func(tx store.Tx) error {
		for _, a := range []string{acct, acctB} {
			if err := tx.CreateRole(roleIn(a, "app")); err != nil {
				return err
			}
			if err := tx.CreateUser(userIn(a, "dev")); err != nil {
				return err
			}
			if err := tx.CreatePolicy(policyIn(a, "read")); err != nil {
				return err
			}
			if err := tx.CreateAccessKey(&store.AccessKey{Account: a, ID: "AKIAROOT" + a, SealedSecret: []byte(a), Status: "Active", CreatedAt: at(1)}); err != nil {
				return err
			}
			if err := tx.CreateAccessKey(&store.AccessKey{Account: a, ID: "AKIADEV" + a, UserName: "dev", SealedSecret: []byte(a), Status: "Active", CreatedAt: at(1)}); err != nil {
				return err
			}
			if err := tx.CreateOIDCProvider(&store.OIDCProvider{Account: a, ARN: "arn:aws:iam::" + a + ":oidc-provider/issuer.example", URL: "issuer.example", CreatedAt: at(1)}); err != nil {
				return err
			}
		}
		// Only account B's role gets a policy.
		if err := tx.AttachPolicy(store.KindRole, acctB, "app", policyIn(acctB, "read").ARN); err != nil {
			return err
		}
		return tx.PutInlinePolicy(&store.InlinePolicy{Account: acctB, Kind: store.KindRole, PrincipalName: "APP", PolicyName: "inline", Document: "{}"})
	})

	for _, a := range []string{acct, acctB} {
		got := mustGet(t, s, func(tx store.Tx) (*store.Role, error) { return tx.GetRole(a, "APP") })
		checkEqual(t, "GetRole in "+a, got, roleIn(a, "app"))
		u := mustGet(t, s, func(tx store.Tx) (*store.User, error) { return tx.GetUser(a, "dev") })
		checkEqual(t, "GetUser in "+a, u, userIn(a, "dev"))
		roles := mustGet(t, s, func(tx store.Tx) ([]*store.Role, error) { return tx.ListRoles(a, "", store.Page{}) })
		checkEqual(t, "ListRoles in "+a, roles, []*store.Role{roleIn(a, "app")})
		users := mustGet(t, s, func(tx store.Tx) ([]*store.User, error) { return tx.ListUsers(a, "", store.Page{}) })
		checkEqual(t, "ListUsers in "+a, users, []*store.User{userIn(a, "dev")})
		pols := mustGet(t, s, func(tx store.Tx) ([]*store.ManagedPolicy, error) { return tx.ListPolicies(a, "", store.Page{}) })
		checkEqual(t, "ListPolicies in "+a, pols, []*store.ManagedPolicy{policyIn(a, "read")})
		root := mustGet(t, s, func(tx store.Tx) ([]*store.AccessKey, error) { return tx.ListAccessKeys(a, "") })
		if len(root) != 1 || root[0].ID != "AKIAROOT"+a || root[0].Account != a {
			t.Errorf("ListAccessKeys(%s, root) = %+v, want only AKIAROOT%s", a, root, a)
		}
		devKeys := mustGet(t, s, func(tx store.Tx) ([]*store.AccessKey, error) { return tx.ListAccessKeys(a, "dev") })
		if len(devKeys) != 1 || devKeys[0].ID != "AKIADEV"+a || devKeys[0].Account != a || devKeys[0].UserName != "dev" {
			t.Errorf("ListAccessKeys(%s, dev) = %+v, want only AKIADEV%s", a, devKeys, a)
		}
		k := mustGet(t, s, func(tx store.Tx) (*store.AccessKey, error) { return tx.GetAccessKey("AKIADEV" + a) })
		if k.Account != a {
			t.Errorf("GetAccessKey(AKIADEV%s).Account = %q", a, k.Account)
		}
		ps := mustGet(t, s, func(tx store.Tx) ([]*store.OIDCProvider, error) { return tx.ListOIDCProviders(a) })
		if len(ps) != 1 || ps[0].Account != a {
			t.Errorf("ListOIDCProviders(%s) = %+v", a, ps)
		}
	}

	accts := mustGet(t, s, func(tx store.Tx) ([]string, error) { return tx.IAMAccounts() })
	checkEqual(t, "IAMAccounts", accts, []string{acct, acctB})

	// Policies of account B's role are not account A's role's.
	attA := mustGet(t, s, func(tx store.Tx) ([]string, error) {
		return tx.ListAttachedPolicies(store.KindRole, acct, "app", store.Page{})
	})
	checkEqual(t, "attached in A", len(attA), 0)
	attB := mustGet(t, s, func(tx store.Tx) ([]string, error) {
		return tx.ListAttachedPolicies(store.KindRole, acctB, "app", store.Page{})
	})
	checkEqual(t, "attached in B", attB, []string{policyIn(acctB, "read").ARN})
	_, err := get(t, s, func(tx store.Tx) (*store.InlinePolicy, error) {
		return tx.GetInlinePolicy(store.KindRole, acct, "app", "inline")
	})
	wantErr(t, "inline policy of A's role", err, store.ErrNotFound)
	ip := mustGet(t, s, func(tx store.Tx) (*store.InlinePolicy, error) {
		return tx.GetInlinePolicy(store.KindRole, acctB, "app", "inline")
	})
	checkEqual(t, "inline policy of B's role", ip, &store.InlinePolicy{Account: acctB, Kind: store.KindRole, PrincipalName: "app", PolicyName: "inline", Document: "{}"})

	// Unknown names in one account are not found through another.
	_, err = get(t, s, func(tx store.Tx) (*store.Role, error) { return tx.GetRole("999999999999", "app") })
	wantErr(t, "GetRole in an empty account", err, store.ErrNotFound)

	// Writes stay in their account.
	upd := roleIn(acctB, "app")
	upd.Description = "changed in B"
	update(t, s, func(tx store.Tx) error { return tx.UpdateRole(upd) })
	got := mustGet(t, s, func(tx store.Tx) (*store.Role, error) { return tx.GetRole(acct, "app") })
	checkEqual(t, "A's role after B's update", got, roleIn(acct, "app"))

	// Names are unique within an account, in any case.
	dup := roleIn(acctB, "APP")
	dup.ID = "AROADUPB"
	err = write(t, s, func(tx store.Tx) error { return tx.CreateRole(dup) })
	wantErr(t, "CreateRole same name in B", err, store.ErrConflict)
	dupU := userIn(acct, "DEV")
	dupU.ID = "AIDADUPA"
	err = write(t, s, func(tx store.Tx) error { return tx.CreateUser(dupU) })
	wantErr(t, "CreateUser same name in A", err, store.ErrConflict)
	dupP := policyIn(acct, "READ")
	dupP.ID, dupP.ARN = "ANPADUPA", "arn:aws:iam::"+acct+":policy/other/READ"
	err = write(t, s, func(tx store.Tx) error { return tx.CreatePolicy(dupP) })
	wantErr(t, "CreatePolicy same name in A", err, store.ErrConflict)

	// A user's key must name its user's account.
	err = write(t, s, func(tx store.Tx) error {
		return tx.CreateAccessKey(&store.AccessKey{Account: "999999999999", ID: "AKIAWRONG", UserName: "dev", SealedSecret: []byte("x"), Status: "Active"})
	})
	wantErr(t, "CreateAccessKey for a user of another account", err, store.ErrNotFound)

	// Deleting in one account leaves the other's.
	update(t, s, func(tx store.Tx) error {
		if err := tx.DeleteAccessKey("AKIADEV" + acct); err != nil {
			return err
		}
		if err := tx.DeleteUser(acct, "dev"); err != nil {
			return err
		}
		return tx.DeleteRole(acct, "app")
	})
	got = mustGet(t, s, func(tx store.Tx) (*store.Role, error) { return tx.GetRole(acctB, "app") })
	if got.Description != "changed in B" {
		t.Errorf("B's role after deleting A's: %+v", got)
	}
	_ = mustGet(t, s, func(tx store.Tx) (*store.User, error) { return tx.GetUser(acctB, "dev") })
	err = write(t, s, func(tx store.Tx) error { return tx.DeleteRole(acct, "app") })
	wantErr(t, "DeleteRole already deleted in A", err, store.ErrNotFound)
}
