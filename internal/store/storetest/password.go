package storetest

import (
	"fmt"
	"testing"

	"github.com/podid/podid/internal/store"
)

// testLoginProfiles checks that a user's login profile is stored with the
// user: created with it, replaced and removed by UpdateUser, kept by
// updates of other fields and by a rename, listed, and gone with the user.
func testLoginProfiles(t *testing.T, s store.Store) {
	u := newUser("Dana", "/")
	u.LoginProfile = &store.LoginProfile{
		PasswordHash:  "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA",
		CreatedAt:     at(2),
		PasswordSetAt: at(2),
		ResetRequired: true,
	}
	update(t, s, func(tx store.Tx) error { return tx.CreateUser(u) })
	got := mustGet(t, s, func(tx store.Tx) (*store.User, error) { return tx.GetUser(acct, "dana") })
	checkEqual(t, "created with a login profile", got, u)

	// Replace it: the history and the reset flag round-trip, and the last
	// sign-in with the user.
	history := make([]string, store.MaxPasswordHistory)
	for i := range history {
		history[i] = fmt.Sprintf("$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$old%02d", i)
	}
	got.LoginProfile = &store.LoginProfile{
		PasswordHash:   "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$bmV3",
		CreatedAt:      at(2),
		PasswordSetAt:  at(9),
		PreviousHashes: history,
	}
	got.PasswordLastUsed = at(10)
	update(t, s, func(tx store.Tx) error { return tx.UpdateUser(got) })
	again := mustGet(t, s, func(tx store.Tx) (*store.User, error) { return tx.GetUser(acct, "Dana") })
	checkEqual(t, "login profile replaced", again, got)

	// An update of other fields read from the store keeps the profile, and
	// the profile follows a rename.
	again.Tags = []store.Tag{{Key: "team", Value: "b"}}
	again.Name, again.ARN = "Danielle", "arn:aws:iam::"+acct+":user/Danielle"
	update(t, s, func(tx store.Tx) error { return tx.UpdateUser(again) })
	renamed := mustGet(t, s, func(tx store.Tx) (*store.User, error) { return tx.GetUser(acct, "danielle") })
	checkEqual(t, "login profile after rename", renamed.LoginProfile, got.LoginProfile)

	listed := mustGet(t, s, func(tx store.Tx) ([]*store.User, error) { return tx.ListUsers(acct, "/", store.Page{}) })
	if len(listed) != 1 || listed[0].LoginProfile == nil || listed[0].LoginProfile.PasswordHash != got.LoginProfile.PasswordHash {
		t.Errorf("ListUsers: login profile not listed with its user: %s", dump(listed))
	}

	// Deleting the profile is an update without it; the last sign-in stays.
	renamed.LoginProfile = nil
	update(t, s, func(tx store.Tx) error { return tx.UpdateUser(renamed) })
	none := mustGet(t, s, func(tx store.Tx) (*store.User, error) { return tx.GetUser(acct, "danielle") })
	if none.LoginProfile != nil {
		t.Errorf("login profile after removal = %s, want none", dump(none.LoginProfile))
	}
	checkEqual(t, "last sign-in after the profile's removal", none.PasswordLastUsed, at(10))

	// A user without a profile stays without one.
	plain := newUser("Eve", "/")
	update(t, s, func(tx store.Tx) error { return tx.CreateUser(plain) })
	if p := mustGet(t, s, func(tx store.Tx) (*store.User, error) { return tx.GetUser(acct, "eve") }); p.LoginProfile != nil || !p.PasswordLastUsed.IsZero() {
		t.Errorf("user created without a login profile has %s, last used %v", dump(p.LoginProfile), p.PasswordLastUsed)
	}
}

// testPasswordPolicies checks the per-account password policy record.
func testPasswordPolicies(t *testing.T, s store.Store) {
	_, err := get(t, s, func(tx store.Tx) (*store.PasswordPolicy, error) { return tx.GetPasswordPolicy(acct) })
	wantErr(t, "GetPasswordPolicy before any", err, store.ErrNotFound)
	wantErr(t, "DeletePasswordPolicy before any",
		write(t, s, func(tx store.Tx) error { return tx.DeletePasswordPolicy(acct) }), store.ErrNotFound)

	hard := false
	p := &store.PasswordPolicy{
		AccountID: acct, MinimumPasswordLength: 14, RequireSymbols: true, RequireNumbers: true,
		RequireUppercaseCharacters: true, RequireLowercaseCharacters: false, AllowUsersToChangePassword: true,
		MaxPasswordAge: 90, PasswordReusePrevention: 24, HardExpiry: &hard,
	}
	update(t, s, func(tx store.Tx) error { return tx.PutPasswordPolicy(p) })
	got := mustGet(t, s, func(tx store.Tx) (*store.PasswordPolicy, error) { return tx.GetPasswordPolicy(acct) })
	checkEqual(t, "password policy", got, p)
	if got.HardExpiry == nil || *got.HardExpiry {
		t.Errorf("HardExpiry = %v, want explicit false", got.HardExpiry)
	}

	// Put replaces every field; an unset HardExpiry stays unset.
	q := &store.PasswordPolicy{AccountID: acct, MinimumPasswordLength: 6}
	update(t, s, func(tx store.Tx) error { return tx.PutPasswordPolicy(q) })
	got = mustGet(t, s, func(tx store.Tx) (*store.PasswordPolicy, error) { return tx.GetPasswordPolicy(acct) })
	checkEqual(t, "password policy replaced", got, q)

	// Policies are per account.
	other := &store.PasswordPolicy{AccountID: "444455556666", MinimumPasswordLength: 20, RequireNumbers: true}
	update(t, s, func(tx store.Tx) error { return tx.PutPasswordPolicy(other) })
	got = mustGet(t, s, func(tx store.Tx) (*store.PasswordPolicy, error) { return tx.GetPasswordPolicy(acct) })
	checkEqual(t, "policy of the first account", got, q)

	update(t, s, func(tx store.Tx) error { return tx.DeletePasswordPolicy(acct) })
	_, err = get(t, s, func(tx store.Tx) (*store.PasswordPolicy, error) { return tx.GetPasswordPolicy(acct) })
	wantErr(t, "GetPasswordPolicy after delete", err, store.ErrNotFound)
	got = mustGet(t, s, func(tx store.Tx) (*store.PasswordPolicy, error) { return tx.GetPasswordPolicy("444455556666") })
	checkEqual(t, "other account's policy after delete", got, other)
}
