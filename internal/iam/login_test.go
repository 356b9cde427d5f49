package iam

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/podid/podid/internal/auth"
	"github.com/podid/podid/internal/password"
	"github.com/podid/podid/internal/store"
)

const (
	goodPassword  = "Correct-Horse-9"
	otherPassword = "Battery-Staple-7"
)

func (e *testEnv) createUser(t *testing.T, name string) *store.User {
	t.Helper()
	out, err := e.svc.CreateUser(e.ctx, &CreateUserInput{UserName: name})
	must(t, err)
	return out.User
}

func (e *testEnv) storedUser(t *testing.T, name string) *store.User {
	t.Helper()
	var u *store.User
	must(t, e.store.View(context.Background(), func(tx store.Tx) (err error) { u, err = tx.GetUser(testAccount, name); return err }))
	return u
}

// noPasswordIn fails when an error's text contains a password.
func noPasswordIn(t *testing.T, err error, passwords ...string) {
	t.Helper()
	for _, pw := range passwords {
		if pw != "" && err != nil && strings.Contains(err.Error(), pw) {
			t.Fatalf("error %q contains the password", err)
		}
	}
}

func TestLoginProfiles(t *testing.T) {
	env := newTestEnv(t)
	alice := env.createUser(t, "alice")

	_, err := env.svc.GetLoginProfile(env.ctx, &LoginProfileInput{UserName: "alice"})
	wantErr(t, err, 404, "NoSuchEntity", "Login Profile for User alice cannot be found.")

	// Parameter constraints: the password's value never appears.
	for _, tc := range []struct {
		in  CreateLoginProfileInput
		msg string
	}{
		{CreateLoginProfileInput{UserName: "alice"}, "1 validation error detected: Value null at 'password' failed to satisfy constraint: Member must not be null"},
		{CreateLoginProfileInput{UserName: "alice", Password: "Bad\x01Password-1"}, "1 validation error detected: Value at 'password' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\u0009\\u000A\\u000D\\u0020-\\u00FF]+"},
		{CreateLoginProfileInput{UserName: "alice", Password: "Bad€Password-1"}, "1 validation error detected: Value at 'password' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\u0009\\u000A\\u000D\\u0020-\\u00FF]+"},
		{CreateLoginProfileInput{UserName: "alice", Password: repeat("Aa1!", 32) + "x"}, "1 validation error detected: Value at 'password' failed to satisfy constraint: Member must have length less than or equal to 128"},
		{CreateLoginProfileInput{UserName: "a/b", Password: goodPassword}, "1 validation error detected: Value 'a/b' at 'userName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]+"},
	} {
		_, err := env.svc.CreateLoginProfile(env.ctx, &tc.in)
		wantErr(t, err, 400, "ValidationError", tc.msg)
		noPasswordIn(t, err, tc.in.Password)
	}

	// Without an account policy, AWS's default one applies.
	for pw, msg := range map[string]string{
		"Ab1!":      "Password should have a minimum length of 8",
		"abcdefgh1": "Password should have at least three of the following character types: uppercase letters, lowercase letters, numbers and symbols",
	} {
		_, err := env.svc.CreateLoginProfile(env.ctx, &CreateLoginProfileInput{UserName: "alice", Password: pw})
		wantErr(t, err, 400, "PasswordPolicyViolation", msg)
	}
	_, err = env.svc.CreateLoginProfile(env.ctx, &CreateLoginProfileInput{UserName: "bob", Password: goodPassword})
	wantErr(t, err, 404, "NoSuchEntity", "The user with name bob cannot be found.")

	env.authz.reset()
	out, err := env.svc.CreateLoginProfile(env.ctx, &CreateLoginProfileInput{UserName: "ALICE", Password: goodPassword, PasswordResetRequired: true})
	must(t, err)
	if lp := out.LoginProfile; lp.UserName != "alice" || !lp.CreateDate.Equal(testStart) || !lp.PasswordResetRequired {
		t.Fatalf("CreateLoginProfile = %+v", lp)
	}
	if c := env.authz.last(); c.Action != "iam:CreateLoginProfile" || c.Resource != alice.ARN {
		t.Fatalf("authorized %+v", c)
	}
	// Stored as an argon2id hash, never as the password.
	lp := env.storedUser(t, "alice").LoginProfile
	if lp == nil || !strings.HasPrefix(lp.PasswordHash, "$argon2id$v=19$") || strings.Contains(lp.PasswordHash, goodPassword) ||
		!lp.CreatedAt.Equal(testStart) || !lp.PasswordSetAt.Equal(testStart) || !lp.ResetRequired {
		t.Fatalf("stored login profile = %+v", lp)
	}

	_, err = env.svc.CreateLoginProfile(env.ctx, &CreateLoginProfileInput{UserName: "alice", Password: otherPassword})
	wantErr(t, err, 409, "EntityAlreadyExists", "Login Profile for user alice already exists.")

	// GetLoginProfile: by name, or the calling user's own.
	env.advance(time.Hour)
	got, err := env.svc.GetLoginProfile(env.ctx, &LoginProfileInput{UserName: "alice"})
	must(t, err)
	if got.LoginProfile != out.LoginProfile {
		t.Fatalf("GetLoginProfile = %+v, want %+v", got.LoginProfile, out.LoginProfile)
	}
	self, err := env.svc.GetLoginProfile(env.userCtx("alice"), &LoginProfileInput{})
	must(t, err)
	if self.LoginProfile.UserName != "alice" {
		t.Fatalf("own GetLoginProfile = %+v", self.LoginProfile)
	}
	if c := env.authz.last(); c.Action != "iam:GetLoginProfile" || c.Resource != alice.ARN || c.Principal != "arn:aws:iam::123456789012:user/alice" {
		t.Fatalf("authorized %+v", c)
	}
	_, err = env.svc.GetLoginProfile(env.roleCtx("r"), &LoginProfileInput{})
	wantErr(t, err, 400, "ValidationError", "Must specify userName when calling with non-User credentials")
	_, err = env.svc.GetLoginProfile(env.ctx, &LoginProfileInput{})
	wantErr(t, err, 400, "ValidationError", "Must specify userName when calling with non-User credentials")

	// Each action is authorized on the user's ARN.
	for _, action := range []string{"iam:CreateLoginProfile", "iam:GetLoginProfile", "iam:UpdateLoginProfile", "iam:DeleteLoginProfile"} {
		env.authz.deny[action] = true
	}
	caller := env.userCtx("mallory")
	deniedMsg := func(action string) string {
		return "User: arn:aws:iam::123456789012:user/mallory is not authorized to perform: " + action + " on resource: " + alice.ARN + " because no identity-based policy allows the " + action + " action"
	}
	_, err = env.svc.CreateLoginProfile(caller, &CreateLoginProfileInput{UserName: "alice", Password: goodPassword})
	wantErr(t, err, 403, "AccessDenied", deniedMsg("iam:CreateLoginProfile"))
	_, err = env.svc.GetLoginProfile(caller, &LoginProfileInput{UserName: "alice"})
	wantErr(t, err, 403, "AccessDenied", deniedMsg("iam:GetLoginProfile"))
	err = env.svc.UpdateLoginProfile(caller, &UpdateLoginProfileInput{UserName: "alice", Password: ptr(otherPassword)})
	wantErr(t, err, 403, "AccessDenied", deniedMsg("iam:UpdateLoginProfile"))
	err = env.svc.DeleteLoginProfile(caller, &LoginProfileInput{UserName: "alice"})
	wantErr(t, err, 403, "AccessDenied", deniedMsg("iam:DeleteLoginProfile"))
	env.authz.deny = map[string]bool{}

	// UpdateLoginProfile: the flag alone, then a new password.
	err = env.svc.UpdateLoginProfile(env.ctx, &UpdateLoginProfileInput{})
	wantErr(t, err, 400, "ValidationError", "1 validation error detected: Value null at 'userName' failed to satisfy constraint: Member must not be null")
	err = env.svc.UpdateLoginProfile(env.ctx, &UpdateLoginProfileInput{UserName: "alice", Password: ptr("")})
	wantErr(t, err, 400, "ValidationError", "1 validation error detected: Value null at 'password' failed to satisfy constraint: Member must not be null")
	must(t, env.svc.UpdateLoginProfile(env.ctx, &UpdateLoginProfileInput{UserName: "alice", PasswordResetRequired: ptr(false)}))
	if lp := env.storedUser(t, "alice").LoginProfile; lp.ResetRequired || lp.PasswordHash == "" {
		t.Fatalf("after clearing the flag: %+v", lp)
	}
	err = env.svc.UpdateLoginProfile(env.ctx, &UpdateLoginProfileInput{UserName: "alice", Password: ptr("short")})
	wantErr(t, err, 400, "PasswordPolicyViolation", "Password should have a minimum length of 8")
	must(t, env.svc.UpdateLoginProfile(env.ctx, &UpdateLoginProfileInput{UserName: "alice", Password: ptr(otherPassword)}))
	lp = env.storedUser(t, "alice").LoginProfile
	if !lp.PasswordSetAt.Equal(testStart.Add(time.Hour)) || !lp.CreatedAt.Equal(testStart) || lp.ResetRequired || len(lp.PreviousHashes) != 1 {
		t.Fatalf("after a new password: %+v", lp)
	}
	if _, err := env.svc.CheckConsolePassword(context.Background(), testAccount, "alice", otherPassword); err != nil {
		t.Fatalf("sign-in with the new password: %v", err)
	}
	if _, err := env.svc.CheckConsolePassword(context.Background(), testAccount, "alice", goodPassword); !errors.Is(err, ErrBadCredentials) {
		t.Fatalf("sign-in with the old password = %v, want ErrBadCredentials", err)
	}

	env.createUser(t, "carol")
	err = env.svc.UpdateLoginProfile(env.ctx, &UpdateLoginProfileInput{UserName: "carol", PasswordResetRequired: ptr(true)})
	wantErr(t, err, 404, "NoSuchEntity", "Login Profile for User carol cannot be found.")
	err = env.svc.UpdateLoginProfile(env.ctx, &UpdateLoginProfileInput{UserName: "nobody", PasswordResetRequired: ptr(true)})
	wantErr(t, err, 404, "NoSuchEntity", "The user with name nobody cannot be found.")

	// A user with a login profile cannot be deleted until it is.
	err = env.svc.DeleteUser(env.ctx, &DeleteUserInput{UserName: "alice"})
	wantErr(t, err, 409, "DeleteConflict", "Cannot delete entity, must delete login profile first.")
	must(t, env.svc.DeleteLoginProfile(env.ctx, &LoginProfileInput{UserName: "alice"}))
	err = env.svc.DeleteLoginProfile(env.ctx, &LoginProfileInput{UserName: "alice"})
	wantErr(t, err, 404, "NoSuchEntity", "Login Profile for User alice cannot be found.")
	if _, err := env.svc.CheckConsolePassword(context.Background(), testAccount, "alice", otherPassword); !errors.Is(err, ErrBadCredentials) {
		t.Fatalf("sign-in without a login profile = %v, want ErrBadCredentials", err)
	}
	must(t, env.svc.DeleteUser(env.ctx, &DeleteUserInput{UserName: "alice"}))
}

func TestAccountPasswordPolicy(t *testing.T) {
	env := newTestEnv(t)
	const missing = "The Password Policy with domain name 123456789012 cannot be found."
	_, err := env.svc.GetAccountPasswordPolicy(env.ctx)
	wantErr(t, err, 404, "NoSuchEntity", missing)
	wantErr(t, env.svc.DeleteAccountPasswordPolicy(env.ctx), 404, "NoSuchEntity", missing)

	err = env.svc.UpdateAccountPasswordPolicy(env.ctx, &UpdateAccountPasswordPolicyInput{MinimumPasswordLength: ptr(5)})
	wantErr(t, err, 400, "ValidationError", "1 validation error detected: Value '5' at 'minimumPasswordLength' failed to satisfy constraint: Member must have value greater than or equal to 6")
	err = env.svc.UpdateAccountPasswordPolicy(env.ctx, &UpdateAccountPasswordPolicyInput{
		MinimumPasswordLength: ptr(129), MaxPasswordAge: ptr(0), PasswordReusePrevention: ptr(25)})
	wantErr(t, err, 400, "ValidationError", "3 validation errors detected: "+
		"Value '129' at 'minimumPasswordLength' failed to satisfy constraint: Member must have value less than or equal to 128; "+
		"Value '0' at 'maxPasswordAge' failed to satisfy constraint: Member must have value greater than or equal to 1; "+
		"Value '25' at 'passwordReusePrevention' failed to satisfy constraint: Member must have value less than or equal to 24")

	// Nothing given: every parameter takes its default.
	env.authz.reset()
	must(t, env.svc.UpdateAccountPasswordPolicy(env.ctx, &UpdateAccountPasswordPolicyInput{}))
	if c := env.authz.last(); c.Action != "iam:UpdateAccountPasswordPolicy" || c.Resource != "*" {
		t.Fatalf("authorized %+v", c)
	}
	got, err := env.svc.GetAccountPasswordPolicy(env.ctx)
	must(t, err)
	if want := (PasswordPolicy{MinimumPasswordLength: 6}); got.PasswordPolicy != want {
		t.Fatalf("default policy = %+v", got.PasswordPolicy)
	}

	hard := true
	full := &UpdateAccountPasswordPolicyInput{
		MinimumPasswordLength: ptr(12), RequireSymbols: true, RequireNumbers: true, RequireUppercaseCharacters: true,
		RequireLowercaseCharacters: true, AllowUsersToChangePassword: true, MaxPasswordAge: ptr(90),
		PasswordReusePrevention: ptr(5), HardExpiry: &hard,
	}
	must(t, env.svc.UpdateAccountPasswordPolicy(env.ctx, full))
	got, err = env.svc.GetAccountPasswordPolicy(env.ctx)
	must(t, err)
	pp := got.PasswordPolicy
	if pp.MinimumPasswordLength != 12 || !pp.RequireSymbols || !pp.RequireNumbers || !pp.RequireUppercaseCharacters ||
		!pp.RequireLowercaseCharacters || !pp.AllowUsersToChangePassword || !pp.ExpirePasswords || pp.MaxPasswordAge != 90 ||
		pp.PasswordReusePrevention != 5 || pp.HardExpiry == nil || !*pp.HardExpiry {
		t.Fatalf("policy = %+v", pp)
	}
	if c := env.authz.last(); c.Action != "iam:GetAccountPasswordPolicy" || c.Resource != "*" {
		t.Fatalf("authorized %+v", c)
	}

	// The policy's rules, in the order IAM checks them.
	env.createUser(t, "alice")
	for pw, msg := range map[string]string{
		"Aa1!Aa1!Aa1":   "Password should have a minimum length of 12",
		"AAAA1111!!!!":  "Password should have at least one lowercase letter",
		"aaaa1111!!!!":  "Password should have at least one uppercase letter",
		"aaaaAAAA!!!!":  "Password should have at least one number",
		"aaaaAAAA1111":  "Password should have at least one symbol",
		"aaaaAAAA1111€": "Password should have at least one symbol",
	} {
		_, err := env.svc.CreateLoginProfile(env.ctx, &CreateLoginProfileInput{UserName: "alice", Password: pw})
		if strings.ContainsRune(pw, '€') {
			wantErr(t, err, 400, "ValidationError", "1 validation error detected: Value at 'password' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\u0009\\u000A\\u000D\\u0020-\\u00FF]+")
			continue
		}
		wantErr(t, err, 400, "PasswordPolicyViolation", msg)
		noPasswordIn(t, err, pw)
	}
	for _, sym := range passwordSymbols {
		_, err := env.svc.CreateLoginProfile(env.ctx, &CreateLoginProfileInput{UserName: "alice", Password: "aaaaAAAA1111" + string(sym)})
		must(t, err)
		must(t, env.svc.DeleteLoginProfile(env.ctx, &LoginProfileInput{UserName: "alice"}))
	}

	// Denied callers; deletion brings the default policy back.
	env.authz.deny["iam:UpdateAccountPasswordPolicy"] = true
	env.authz.deny["iam:DeleteAccountPasswordPolicy"] = true
	err = env.svc.UpdateAccountPasswordPolicy(env.userCtx("mallory"), full)
	wantErr(t, err, 403, "AccessDenied", "User: arn:aws:iam::123456789012:user/mallory is not authorized to perform: iam:UpdateAccountPasswordPolicy on resource: * because no identity-based policy allows the iam:UpdateAccountPasswordPolicy action")
	err = env.svc.DeleteAccountPasswordPolicy(env.userCtx("mallory"))
	wantErr(t, err, 403, "AccessDenied", "User: arn:aws:iam::123456789012:user/mallory is not authorized to perform: iam:DeleteAccountPasswordPolicy on resource: * because no identity-based policy allows the iam:DeleteAccountPasswordPolicy action")
	must(t, env.svc.DeleteAccountPasswordPolicy(env.ctx))
	_, err = env.svc.GetAccountPasswordPolicy(env.ctx)
	wantErr(t, err, 404, "NoSuchEntity", missing)
	_, err = env.svc.CreateLoginProfile(env.ctx, &CreateLoginProfileInput{UserName: "alice", Password: "aaaaaaaaaaaa"})
	wantErr(t, err, 400, "PasswordPolicyViolation", "Password should have at least three of the following character types: uppercase letters, lowercase letters, numbers and symbols")
	_, err = env.svc.CreateLoginProfile(env.ctx, &CreateLoginProfileInput{UserName: "alice", Password: "Abcdefg1"})
	must(t, err)
}

// AllowUsersToChangePassword lets every IAM user change their own password
// and read the policy, short of an explicit deny.
func TestSelfServiceGrant(t *testing.T) {
	env := newTestEnv(t)
	env.createUser(t, "alice")
	_, err := env.svc.CreateLoginProfile(env.ctx, &CreateLoginProfileInput{UserName: "alice", Password: goodPassword})
	must(t, err)
	alice := env.userCtx("alice")
	env.authz.deny["iam:ChangePassword"] = true
	env.authz.deny["iam:GetAccountPasswordPolicy"] = true

	// No policy: the caller's own permissions decide.
	err = env.svc.ChangePassword(alice, &ChangePasswordInput{OldPassword: goodPassword, NewPassword: otherPassword})
	wantErr(t, err, 403, "AccessDenied", "User: arn:aws:iam::123456789012:user/alice is not authorized to perform: iam:ChangePassword on resource: arn:aws:iam::123456789012:user/alice because no identity-based policy allows the iam:ChangePassword action")
	_, err = env.svc.GetAccountPasswordPolicy(alice)
	wantErr(t, err, 403, "AccessDenied", "User: arn:aws:iam::123456789012:user/alice is not authorized to perform: iam:GetAccountPasswordPolicy on resource: * because no identity-based policy allows the iam:GetAccountPasswordPolicy action")

	// A policy without the grant: still the caller's permissions.
	must(t, env.svc.UpdateAccountPasswordPolicy(env.ctx, &UpdateAccountPasswordPolicyInput{MinimumPasswordLength: ptr(8)}))
	err = env.svc.ChangePassword(alice, &ChangePasswordInput{OldPassword: goodPassword, NewPassword: otherPassword})
	wantErr(t, err, 403, "AccessDenied", "User: arn:aws:iam::123456789012:user/alice is not authorized to perform: iam:ChangePassword on resource: arn:aws:iam::123456789012:user/alice because no identity-based policy allows the iam:ChangePassword action")

	// With the grant, an implicit deny no longer refuses.
	must(t, env.svc.UpdateAccountPasswordPolicy(env.ctx, &UpdateAccountPasswordPolicyInput{MinimumPasswordLength: ptr(8), AllowUsersToChangePassword: true}))
	if _, err := env.svc.GetAccountPasswordPolicy(alice); err != nil {
		t.Fatalf("GetAccountPasswordPolicy with the grant: %v", err)
	}
	must(t, env.svc.ChangePassword(alice, &ChangePasswordInput{OldPassword: goodPassword, NewPassword: otherPassword}))
	// Role sessions get nothing from the grant.
	_, err = env.svc.GetAccountPasswordPolicy(env.roleCtx("r"))
	wantErr(t, err, 403, "AccessDenied", "User: arn:aws:sts::123456789012:assumed-role/r/s is not authorized to perform: iam:GetAccountPasswordPolicy on resource: * because no identity-based policy allows the iam:GetAccountPasswordPolicy action")

	// An explicit deny still refuses.
	env.authz.explicit = true
	err = env.svc.ChangePassword(alice, &ChangePasswordInput{OldPassword: otherPassword, NewPassword: goodPassword})
	wantErr(t, err, 403, "AccessDenied", "User: arn:aws:iam::123456789012:user/alice is not authorized to perform: iam:ChangePassword on resource: arn:aws:iam::123456789012:user/alice with an explicit deny in an identity-based policy")
}

func TestChangePassword(t *testing.T) {
	env := newTestEnv(t)
	env.createUser(t, "alice")
	alice := env.userCtx("alice")
	change := func(ctx context.Context, old, new string) error {
		return env.svc.ChangePassword(ctx, &ChangePasswordInput{OldPassword: old, NewPassword: new})
	}

	wantErr(t, change(alice, "", ""), 400, "ValidationError", "2 validation errors detected: "+
		"Value null at 'oldPassword' failed to satisfy constraint: Member must not be null; "+
		"Value null at 'newPassword' failed to satisfy constraint: Member must not be null")
	wantErr(t, change(env.ctx, goodPassword, otherPassword), 400, "InvalidUserType", "Only IAM users can change their own password.")
	wantErr(t, change(env.roleCtx("r"), goodPassword, otherPassword), 400, "InvalidUserType", "Only IAM users can change their own password.")
	wantErr(t, change(alice, goodPassword, otherPassword), 404, "NoSuchEntity", "Login Profile for User alice cannot be found.")
	wantErr(t, change(env.userCtx("ghost"), goodPassword, otherPassword), 404, "NoSuchEntity", "The user with name ghost cannot be found.")

	_, err := env.svc.CreateLoginProfile(env.ctx, &CreateLoginProfileInput{UserName: "alice", Password: goodPassword, PasswordResetRequired: true})
	must(t, err)
	err = change(alice, otherPassword, otherPassword)
	wantErr(t, err, 403, "AccessDenied", "The old password is incorrect.")
	noPasswordIn(t, err, otherPassword)
	wantErr(t, change(alice, goodPassword, "weak"), 400, "PasswordPolicyViolation", "Password should have a minimum length of 8")

	env.authz.reset()
	env.advance(time.Minute)
	must(t, change(alice, goodPassword, otherPassword))
	if c := env.authz.last(); c.Action != "iam:ChangePassword" || c.Resource != "arn:aws:iam::123456789012:user/alice" {
		t.Fatalf("authorized %+v", c)
	}
	lp := env.storedUser(t, "alice").LoginProfile
	if lp.ResetRequired || !lp.PasswordSetAt.Equal(testStart.Add(time.Minute)) || len(lp.PreviousHashes) != 1 {
		t.Fatalf("after ChangePassword: %+v", lp)
	}

	// PasswordReusePrevention N: the current password and the N-1 before
	// it cannot be set again; older ones can.
	must(t, env.svc.UpdateAccountPasswordPolicy(env.ctx, &UpdateAccountPasswordPolicyInput{MinimumPasswordLength: ptr(8), PasswordReusePrevention: ptr(2)}))
	reuse := "Password should not be one of your 2 most recent passwords"
	wantErr(t, change(alice, otherPassword, otherPassword), 400, "PasswordPolicyViolation", reuse)
	wantErr(t, change(alice, otherPassword, goodPassword), 400, "PasswordPolicyViolation", reuse)
	must(t, change(alice, otherPassword, "Third-Password-3"))
	must(t, change(alice, "Third-Password-3", goodPassword)) // two back: allowed with N=2
	// An administrator's UpdateLoginProfile is held to the same rule.
	err = env.svc.UpdateLoginProfile(env.ctx, &UpdateLoginProfileInput{UserName: "alice", Password: ptr("Third-Password-3")})
	wantErr(t, err, 400, "PasswordPolicyViolation", reuse)

	// The history is bounded.
	must(t, env.svc.UpdateAccountPasswordPolicy(env.ctx, &UpdateAccountPasswordPolicyInput{MinimumPasswordLength: ptr(8)}))
	cur := goodPassword
	for i := range store.MaxPasswordHistory + 3 {
		next := "Rotated-Password-" + string(rune('a'+i))
		must(t, change(alice, cur, next))
		cur = next
	}
	if n := len(env.storedUser(t, "alice").LoginProfile.PreviousHashes); n != store.MaxPasswordHistory {
		t.Fatalf("history length = %d, want %d", n, store.MaxPasswordHistory)
	}
}

func TestCheckConsolePassword(t *testing.T) {
	env := newTestEnv(t)
	alice := env.createUser(t, "alice")
	env.createUser(t, "nopass")
	_, err := env.svc.CreateLoginProfile(env.ctx, &CreateLoginProfileInput{UserName: "alice", Password: goodPassword})
	must(t, err)
	ctx := context.Background()

	env.hasher.take()
	env.advance(time.Minute)
	p, err := env.svc.CheckConsolePassword(ctx, testAccount, "alice", goodPassword)
	must(t, err)
	want := auth.UserPrincipal(alice, testAccount, "")
	if *p != *want {
		t.Fatalf("principal = %+v, want %+v", p, want)
	}
	if n := env.hasher.take(); n != 1 {
		t.Fatalf("a sign-in ran %d hashes, want 1", n)
	}
	// The sign-in is GetUser's PasswordLastUsed.
	res, err := env.query(t, "GetUser", url.Values{"UserName": {"alice"}})
	must(t, err)
	if !strings.Contains(res, "<CreateDate>2024-01-09T16:10:02Z</CreateDate>\n      <PasswordLastUsed>2024-01-09T16:11:02Z</PasswordLastUsed>") {
		t.Fatalf("GetUser after a sign-in:\n%s", res)
	}
	res, err = env.query(t, "ListUsers", nil)
	must(t, err)
	if strings.Count(res, "<PasswordLastUsed>") != 1 || !strings.Contains(res, "<PasswordLastUsed>2024-01-09T16:11:02Z</PasswordLastUsed>") {
		t.Fatalf("ListUsers after a sign-in:\n%s", res)
	}

	// Every failure is the same error, and runs exactly one hash.
	for _, tc := range []struct{ what, account, user, pw string }{
		{"wrong password", testAccount, "alice", otherPassword},
		{"empty password", testAccount, "alice", ""},
		{"unknown user", testAccount, "bob", goodPassword},
		{"user without a login profile", testAccount, "nopass", goodPassword},
		{"other account", "210987654321", "alice", goodPassword},
		{"invalid user name", testAccount, "a/b", goodPassword},
		{"empty user name", testAccount, "", goodPassword},
	} {
		p, err := env.svc.CheckConsolePassword(ctx, tc.account, tc.user, tc.pw)
		if p != nil || !errors.Is(err, ErrBadCredentials) {
			t.Errorf("%s: %v, %v; want ErrBadCredentials", tc.what, p, err)
		}
		if n := env.hasher.take(); n != 1 {
			t.Errorf("%s: ran %d hashes, want 1 (timing must not tell the cases apart)", tc.what, n)
		}
	}

	// A reset required: the principal comes back with the error, and the
	// user can change the password and then sign in.
	must(t, env.svc.UpdateLoginProfile(env.ctx, &UpdateLoginProfileInput{UserName: "alice", PasswordResetRequired: ptr(true)}))
	p, err = env.svc.CheckConsolePassword(ctx, testAccount, "alice", goodPassword)
	if !errors.Is(err, ErrPasswordResetRequired) || p == nil || p.ARN != alice.ARN {
		t.Fatalf("reset required: %v, %v", p, err)
	}
	if _, err := env.svc.CheckConsolePassword(ctx, testAccount, "alice", otherPassword); !errors.Is(err, ErrBadCredentials) {
		t.Fatalf("reset required, wrong password = %v", err)
	}
	must(t, env.svc.ChangePassword(auth.WithPrincipal(ctx, p), &ChangePasswordInput{OldPassword: goodPassword, NewPassword: otherPassword}))
	if _, err := env.svc.CheckConsolePassword(ctx, testAccount, "alice", otherPassword); err != nil {
		t.Fatalf("after the change: %v", err)
	}

	// MaxPasswordAge counts from when the password was set.
	must(t, env.svc.UpdateAccountPasswordPolicy(env.ctx, &UpdateAccountPasswordPolicyInput{MinimumPasswordLength: ptr(8), MaxPasswordAge: ptr(1)}))
	env.advance(24*time.Hour - time.Second)
	if _, err := env.svc.CheckConsolePassword(ctx, testAccount, "alice", otherPassword); err != nil {
		t.Fatalf("a second before expiry: %v", err)
	}
	env.advance(time.Second)
	p, err = env.svc.CheckConsolePassword(ctx, testAccount, "alice", otherPassword)
	if !errors.Is(err, ErrPasswordExpired) || p == nil || p.ARN != alice.ARN {
		t.Fatalf("expired: %v, %v", p, err)
	}
	if _, err := env.svc.CheckConsolePassword(ctx, testAccount, "alice", goodPassword); !errors.Is(err, ErrBadCredentials) {
		t.Fatalf("expired, wrong password = %v (an expired password must not reveal itself to a wrong guess)", err)
	}
	// HardExpiry: out until an administrator resets the password.
	must(t, env.svc.UpdateAccountPasswordPolicy(env.ctx, &UpdateAccountPasswordPolicyInput{MinimumPasswordLength: ptr(8), MaxPasswordAge: ptr(1), HardExpiry: ptr(true)}))
	p, err = env.svc.CheckConsolePassword(ctx, testAccount, "alice", otherPassword)
	if !errors.Is(err, ErrPasswordHardExpired) || p != nil {
		t.Fatalf("hard expiry: %v, %v", p, err)
	}
	must(t, env.svc.UpdateLoginProfile(env.ctx, &UpdateLoginProfileInput{UserName: "alice", Password: ptr(goodPassword)}))
	if _, err := env.svc.CheckConsolePassword(ctx, testAccount, "alice", goodPassword); err != nil {
		t.Fatalf("after an administrator's reset: %v", err)
	}

	// The last sign-in outlives the login profile.
	last := env.storedUser(t, "alice").PasswordLastUsed
	if !last.Equal(env.now.UTC().Truncate(time.Second)) {
		t.Fatalf("PasswordLastUsed = %v, want %v", last, *env.now)
	}
	must(t, env.svc.DeleteLoginProfile(env.ctx, &LoginProfileInput{UserName: "alice"}))
	u, err := env.svc.GetUser(env.ctx, &GetUserInput{UserName: "alice"})
	must(t, err)
	if !u.User.PasswordLastUsed.Equal(last) {
		t.Fatalf("PasswordLastUsed after the profile's deletion = %v, want %v", u.User.PasswordLastUsed, last)
	}
}

// A password set between a change's checks and its write makes the change
// EntityTemporarilyUnmodifiable: its reuse check ran against a stale
// password, so it is not written.
func TestConcurrentPasswordChange(t *testing.T) {
	env := newTestEnv(t)
	env.createUser(t, "alice")
	_, err := env.svc.CreateLoginProfile(env.ctx, &CreateLoginProfileInput{UserName: "alice", Password: goodPassword})
	must(t, err)
	meanwhile := func() {
		env.hasher.beforeHash = nil
		must(t, env.svc.UpdateLoginProfile(env.ctx, &UpdateLoginProfileInput{UserName: "alice", Password: ptr("Meanwhile-Set-1")}))
	}
	env.hasher.beforeHash = meanwhile
	err = env.svc.UpdateLoginProfile(env.ctx, &UpdateLoginProfileInput{UserName: "alice", Password: ptr(otherPassword)})
	wantErr(t, err, 409, "EntityTemporarilyUnmodifiable", "Login Profile for User alice cannot be modified while another change to it is in progress.")
	env.hasher.beforeHash = meanwhile
	err = env.svc.ChangePassword(env.userCtx("alice"), &ChangePasswordInput{OldPassword: "Meanwhile-Set-1", NewPassword: otherPassword})
	wantErr(t, err, 409, "EntityTemporarilyUnmodifiable", "Login Profile for User alice cannot be modified while another change to it is in progress.")
	// The concurrent writer's password is the one that stands.
	if _, err := env.svc.CheckConsolePassword(context.Background(), testAccount, "alice", "Meanwhile-Set-1"); err != nil {
		t.Fatalf("sign-in with the concurrent writer's password: %v", err)
	}
	// Once the other change is done, a retry succeeds.
	must(t, env.svc.ChangePassword(env.userCtx("alice"), &ChangePasswordInput{OldPassword: "Meanwhile-Set-1", NewPassword: otherPassword}))
}

// A hash made with older parameters is replaced at the next sign-in.
func TestSignInRehashes(t *testing.T) {
	env := newTestEnv(t)
	env.createUser(t, "alice")
	old, err := password.New(password.Params{Memory: 32, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 32}, 1)
	must(t, err)
	h, err := old.Hash(context.Background(), goodPassword)
	must(t, err)
	must(t, env.store.Update(context.Background(), func(tx store.Tx) error {
		u, err := tx.GetUser(testAccount, "alice")
		if err != nil {
			return err
		}
		u.LoginProfile = &store.LoginProfile{PasswordHash: h, CreatedAt: testStart, PasswordSetAt: testStart}
		return tx.UpdateUser(u)
	}))
	if _, err := env.svc.CheckConsolePassword(context.Background(), testAccount, "alice", goodPassword); err != nil {
		t.Fatal(err)
	}
	lp := env.storedUser(t, "alice").LoginProfile
	if lp.PasswordHash == h || !strings.HasPrefix(lp.PasswordHash, "$argon2id$v=19$m=64,t=1,p=1$") || len(lp.PreviousHashes) != 0 {
		t.Fatalf("after sign-in the hash is %q (history %d), want the current parameters", lp.PasswordHash, len(lp.PreviousHashes))
	}
	if _, err := env.svc.CheckConsolePassword(context.Background(), testAccount, "alice", goodPassword); err != nil {
		t.Fatalf("sign-in with the re-made hash: %v", err)
	}
}

func TestLoginProfileWire(t *testing.T) {
	env := newTestEnv(t)
	env.createUser(t, "alice")
	res, err := env.query(t, "CreateLoginProfile", url.Values{"UserName": {"alice"}, "Password": {goodPassword}, "PasswordResetRequired": {"true"}})
	must(t, err)
	golden(t, "CreateLoginProfile.xml", res, nil)
	res, err = env.query(t, "GetLoginProfile", url.Values{"UserName": {"alice"}})
	must(t, err)
	golden(t, "GetLoginProfile.xml", res, nil)
	_, err = env.query(t, "UpdateLoginProfile", url.Values{"UserName": {"alice"}, "PasswordResetRequired": {"maybe"}})
	wantErr(t, err, 400, "ValidationError", "Value 'maybe' at 'passwordResetRequired' failed to satisfy constraint: Member must be a boolean")
	_, err = env.query(t, "UpdateLoginProfile", url.Values{"UserName": {"alice"}, "PasswordResetRequired": {"false"}})
	must(t, err)
	if env.storedUser(t, "alice").LoginProfile.ResetRequired {
		t.Fatal("PasswordResetRequired=false not applied")
	}

	res, err = env.query(t, "UpdateAccountPasswordPolicy", url.Values{
		"MinimumPasswordLength": {"14"}, "RequireSymbols": {"true"}, "RequireNumbers": {"true"},
		"RequireUppercaseCharacters": {"true"}, "RequireLowercaseCharacters": {"false"},
		"AllowUsersToChangePassword": {"true"}, "MaxPasswordAge": {"90"}, "PasswordReusePrevention": {"24"}, "HardExpiry": {"false"},
	})
	must(t, err)
	golden(t, "UpdateAccountPasswordPolicy.xml", res, nil)
	res, err = env.query(t, "GetAccountPasswordPolicy", nil)
	must(t, err)
	golden(t, "GetAccountPasswordPolicy.xml", res, nil)
	// Left out, the optional members are absent from the answer.
	_, err = env.query(t, "UpdateAccountPasswordPolicy", url.Values{"MinimumPasswordLength": {"8"}})
	must(t, err)
	res, err = env.query(t, "GetAccountPasswordPolicy", nil)
	must(t, err)
	golden(t, "GetAccountPasswordPolicyDefaults.xml", res, nil)
	_, err = env.query(t, "UpdateAccountPasswordPolicy", url.Values{"MaxPasswordAge": {"x"}})
	wantErr(t, err, 400, "ValidationError", "Value 'x' at 'maxPasswordAge' failed to satisfy constraint: Member must be a number")
}

// Login profiles and password policies belong to an account: the same
// user name in two accounts has two passwords, each account has its own
// policy, and a sign-in names the account whose user it is.
func TestLoginProfilesPerAccount(t *testing.T) {
	env := newTestEnv(t)
	ctxB := auth.WithPrincipal(context.Background(), auth.RootPrincipal("aws", otherAccount, "AKIAROOTOFACCOUNTBBB"))
	env.createUser(t, "alice")
	_, err := env.svc.CreateUser(ctxB, &CreateUserInput{UserName: "alice"})
	must(t, err)
	_, err = env.svc.CreateLoginProfile(env.ctx, &CreateLoginProfileInput{UserName: "alice", Password: goodPassword})
	must(t, err)
	_, err = env.svc.GetLoginProfile(ctxB, &LoginProfileInput{UserName: "alice"})
	wantErr(t, err, 404, "NoSuchEntity", "Login Profile for User alice cannot be found.")
	_, err = env.svc.CreateLoginProfile(ctxB, &CreateLoginProfileInput{UserName: "alice", Password: otherPassword})
	must(t, err)

	must(t, env.svc.UpdateAccountPasswordPolicy(ctxB, &UpdateAccountPasswordPolicyInput{MinimumPasswordLength: ptr(20)}))
	_, err = env.svc.GetAccountPasswordPolicy(env.ctx)
	wantErr(t, err, 404, "NoSuchEntity", "The Password Policy with domain name 123456789012 cannot be found.")
	err = env.svc.UpdateLoginProfile(ctxB, &UpdateLoginProfileInput{UserName: "alice", Password: ptr("Fifteen-Chars-1")})
	wantErr(t, err, 400, "PasswordPolicyViolation", "Password should have a minimum length of 20")
	must(t, env.svc.UpdateLoginProfile(env.ctx, &UpdateLoginProfileInput{UserName: "alice", Password: ptr("Fifteen-Chars-1")}))

	pA, err := env.svc.CheckConsolePassword(context.Background(), testAccount, "alice", "Fifteen-Chars-1")
	must(t, err)
	pB, err := env.svc.CheckConsolePassword(context.Background(), otherAccount, "alice", otherPassword)
	must(t, err)
	if pA.AccountID != testAccount || pA.ARN != "arn:aws:iam::"+testAccount+":user/alice" ||
		pB.AccountID != otherAccount || pB.ARN != "arn:aws:iam::"+otherAccount+":user/alice" {
		t.Fatalf("principals: %+v, %+v", pA, pB)
	}
	if _, err := env.svc.CheckConsolePassword(context.Background(), otherAccount, "alice", "Fifteen-Chars-1"); !errors.Is(err, ErrBadCredentials) {
		t.Fatalf("account A's password in account B = %v, want ErrBadCredentials", err)
	}
	if _, err := env.svc.CheckConsolePassword(context.Background(), "not-an-account", "alice", otherPassword); !errors.Is(err, ErrBadCredentials) {
		t.Fatalf("malformed account = %v, want ErrBadCredentials", err)
	}
}
