package iam

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/podid/podid/internal/arn"
	"github.com/podid/podid/internal/auth"
	"github.com/podid/podid/internal/awsproto"
	"github.com/podid/podid/internal/store"
)

// Console passwords of IAM users (login profiles). The password is hashed
// by package password before it reaches the store and is never returned,
// logged or kept in an error.

// CreateLoginProfileInput is CreateLoginProfile's request; an empty
// UserName means the calling IAM user.
type CreateLoginProfileInput struct {
	UserName              string
	Password              string
	PasswordResetRequired bool
}

// LoginProfileInput names the user of GetLoginProfile and
// DeleteLoginProfile; empty means the calling IAM user.
type LoginProfileInput struct {
	UserName string
}

// UpdateLoginProfileInput is UpdateLoginProfile's request: a new
// password, a new PasswordResetRequired, or both (nil leaves it as is).
type UpdateLoginProfileInput struct {
	UserName              string
	Password              *string
	PasswordResetRequired *bool
}

// ChangePasswordInput is ChangePassword's request (the caller's own).
type ChangePasswordInput struct {
	OldPassword string
	NewPassword string
}

// LoginProfile is the result of CreateLoginProfile and GetLoginProfile.
type LoginProfile struct {
	UserName              string
	CreateDate            time.Time
	PasswordResetRequired bool
}

// LoginProfileOutput wraps a LoginProfile.
type LoginProfileOutput struct {
	LoginProfile LoginProfile
}

func noSuchLoginProfile(name string) *awsproto.Error {
	return noSuchEntity("Login Profile for User %s cannot be found.", name)
}

// profileBusy is the answer when a login profile changed between the
// checks of a new password (policy, reuse) and its write: IAM's
// EntityTemporarilyUnmodifiable, to be retried.
func profileBusy(name string) *awsproto.Error {
	return awsproto.Errorf(http.StatusConflict, codeEntityTemporarilyUnmodifiable,
		"Login Profile for User %s cannot be modified while another change to it is in progress.", name)
}

// addSensitive records a constraint failure of a sensitive member (a
// password) without its value, as AWS words it.
func (v *violations) addSensitive(member, constraint string) {
	v.msgs = append(v.msgs, fmt.Sprintf("Value at '%s' failed to satisfy constraint: %s", member, constraint))
}

// password checks a passwordType member: 1..128 characters of
// [\t\n\r\x20-\xFF]. Its value never appears in the message.
func (v *violations) password(value, member string) {
	if value == "" {
		v.null(member)
		return
	}
	if javaLen(value) > maxPasswordParamLen {
		v.addSensitive(member, maxLen(maxPasswordParamLen))
	}
	if !runesIn(value, func(r rune) bool { return r == '\t' || r == '\n' || r == '\r' || r >= 0x20 && r <= 0xFF }) {
		v.addSensitive(member, pattern(`[\u0009\u000A\u000D\u0020-\u00FF]+`))
	}
}

// profileUser resolves the user a login-profile operation is about (the
// named one, or the calling IAM user), validates the name and authorizes
// action on it.
func (s *Service) profileUser(ctx context.Context, action, name string) (string, error) {
	if name == "" {
		caller, root, err := callerUserName(ctx)
		if err != nil {
			return "", err
		}
		if root {
			return "", nonUser()
		}
		name = caller
	}
	if _, err := s.authorizeUser(ctx, action, name, nil); err != nil {
		return "", err
	}
	return name, nil
}

// loginState is what a password change reads before hashing: the user,
// the account's policy (nil: the default one).
type loginState struct {
	user   *store.User
	policy *store.PasswordPolicy
}

func (s *Service) readLoginState(ctx context.Context, name string) (*loginState, error) {
	st := &loginState{}
	err := s.view(ctx, func(tx store.Tx) error {
		var err error
		if st.user, err = getUserTx(tx, s.account, name); err != nil {
			return err
		}
		st.policy, err = s.passwordPolicyTx(tx)
		return err
	})
	if err != nil {
		return nil, err
	}
	return st, nil
}

// newPasswordHash checks pw against the policy and, when the policy
// prevents reuse, against the current password and the remembered ones,
// then hashes it.
func (s *Service) newPasswordHash(ctx context.Context, pol *store.PasswordPolicy, lp *store.LoginProfile, pw string) (string, error) {
	if err := s.checkPasswordPolicy(pol, pw); err != nil {
		return "", err
	}
	if pol != nil && pol.PasswordReusePrevention > 0 && lp != nil {
		recent := append([]string{lp.PasswordHash}, lp.PreviousHashes...)
		recent = recent[:min(len(recent), pol.PasswordReusePrevention)]
		for _, h := range recent {
			ok, err := s.passwords.Verify(ctx, h, pw)
			if err != nil {
				return "", serviceFailure(fmt.Errorf("iam: check password reuse: %w", err))
			}
			if ok {
				return "", passwordPolicyViolation(fmt.Sprintf("Password should not be one of your %d most recent passwords", pol.PasswordReusePrevention))
			}
		}
	}
	h, err := s.passwords.Hash(ctx, pw)
	if err != nil {
		return "", serviceFailure(fmt.Errorf("iam: hash password: %w", err))
	}
	return h, nil
}

// replacePassword sets a new hash on a profile, remembering the old one.
func replacePassword(lp *store.LoginProfile, hash string, now time.Time) {
	prev := append([]string{lp.PasswordHash}, lp.PreviousHashes...)
	lp.PreviousHashes = prev[:min(len(prev), store.MaxPasswordHistory)]
	lp.PasswordHash = hash
	lp.PasswordSetAt = now
}

func profileOutput(u *store.User) *LoginProfileOutput {
	return &LoginProfileOutput{LoginProfile: LoginProfile{
		UserName: u.Name, CreateDate: u.LoginProfile.CreatedAt, PasswordResetRequired: u.LoginProfile.ResetRequired,
	}}
}

// CreateLoginProfile gives a user a console password.
func (s *Service) CreateLoginProfile(ctx context.Context, in *CreateLoginProfileInput) (*LoginProfileOutput, error) {
	s = s.forCaller(ctx)
	var v violations
	if in.UserName != "" {
		v.name(in.UserName, "userName", maxNameLen)
	}
	v.password(in.Password, "password")
	if err := v.err(); err != nil {
		return nil, err
	}
	name, err := s.profileUser(ctx, "iam:CreateLoginProfile", in.UserName)
	if err != nil {
		return nil, err
	}
	st, err := s.readLoginState(ctx, name)
	if err != nil {
		return nil, err
	}
	exists := alreadyExists("Login Profile for user %s already exists.", st.user.Name)
	if st.user.LoginProfile != nil {
		return nil, exists
	}
	hash, err := s.newPasswordHash(ctx, st.policy, nil, in.Password)
	if err != nil {
		return nil, err
	}
	var u *store.User
	err = s.update(ctx, func(tx store.Tx) error {
		var err error
		if u, err = getUserTx(tx, s.account, name); err != nil {
			return err
		}
		if u.LoginProfile != nil {
			return exists
		}
		now := s.clock()
		u.LoginProfile = &store.LoginProfile{PasswordHash: hash, CreatedAt: now, PasswordSetAt: now, ResetRequired: in.PasswordResetRequired}
		return tx.UpdateUser(u)
	})
	if err != nil {
		return nil, err
	}
	return profileOutput(u), nil
}

// GetLoginProfile returns a user's login profile (never the password).
func (s *Service) GetLoginProfile(ctx context.Context, in *LoginProfileInput) (*LoginProfileOutput, error) {
	s = s.forCaller(ctx)
	var v violations
	if in.UserName != "" {
		v.name(in.UserName, "userName", maxNameLen)
	}
	if err := v.err(); err != nil {
		return nil, err
	}
	name, err := s.profileUser(ctx, "iam:GetLoginProfile", in.UserName)
	if err != nil {
		return nil, err
	}
	var u *store.User
	err = s.view(ctx, func(tx store.Tx) (err error) { u, err = getUserTx(tx, s.account, name); return err })
	if err != nil {
		return nil, err
	}
	if u.LoginProfile == nil {
		return nil, noSuchLoginProfile(u.Name)
	}
	return profileOutput(u), nil
}

// UpdateLoginProfile sets a user's password (as an administrator: the old
// one is not needed) and/or whether it must be reset at the next sign-in.
func (s *Service) UpdateLoginProfile(ctx context.Context, in *UpdateLoginProfileInput) error {
	s = s.forCaller(ctx)
	var v violations
	v.name(in.UserName, "userName", maxNameLen)
	if in.Password != nil {
		v.password(*in.Password, "password")
	}
	if err := v.err(); err != nil {
		return err
	}
	if _, err := s.authorizeUser(ctx, "iam:UpdateLoginProfile", in.UserName, nil); err != nil {
		return err
	}
	st, err := s.readLoginState(ctx, in.UserName)
	if err != nil {
		return err
	}
	before := st.user.LoginProfile
	if before == nil {
		return noSuchLoginProfile(st.user.Name)
	}
	var hash string
	if in.Password != nil {
		if hash, err = s.newPasswordHash(ctx, st.policy, before, *in.Password); err != nil {
			return err
		}
	}
	return s.update(ctx, func(tx store.Tx) error {
		u, err := getUserTx(tx, s.account, in.UserName)
		if err != nil {
			return err
		}
		lp := u.LoginProfile
		if lp == nil {
			return noSuchLoginProfile(u.Name)
		}
		if hash != "" {
			if lp.PasswordHash != before.PasswordHash {
				return profileBusy(u.Name)
			}
			replacePassword(lp, hash, s.clock())
		}
		if in.PasswordResetRequired != nil {
			lp.ResetRequired = *in.PasswordResetRequired
		}
		return tx.UpdateUser(u)
	})
}

// DeleteLoginProfile removes a user's console password; the user can no
// longer sign in to the console (access keys are untouched).
func (s *Service) DeleteLoginProfile(ctx context.Context, in *LoginProfileInput) error {
	s = s.forCaller(ctx)
	var v violations
	if in.UserName != "" {
		v.name(in.UserName, "userName", maxNameLen)
	}
	if err := v.err(); err != nil {
		return err
	}
	name, err := s.profileUser(ctx, "iam:DeleteLoginProfile", in.UserName)
	if err != nil {
		return err
	}
	return s.update(ctx, func(tx store.Tx) error {
		u, err := getUserTx(tx, s.account, name)
		if err != nil {
			return err
		}
		if u.LoginProfile == nil {
			return noSuchLoginProfile(u.Name)
		}
		u.LoginProfile = nil
		return tx.UpdateUser(u)
	})
}

// ChangePassword changes the calling IAM user's own password. The caller
// needs iam:ChangePassword on their user, or an account password policy
// with AllowUsersToChangePassword. It works for an expired password too
// (HardExpiry only keeps such users out of the console), and clears
// PasswordResetRequired.
func (s *Service) ChangePassword(ctx context.Context, in *ChangePasswordInput) error {
	s = s.forCaller(ctx)
	var v violations
	v.password(in.OldPassword, "oldPassword")
	v.password(in.NewPassword, "newPassword")
	if err := v.err(); err != nil {
		return err
	}
	p := auth.PrincipalFrom(ctx)
	if p == nil {
		return awsproto.Errorf(http.StatusForbidden, "MissingAuthenticationToken", "Request is missing Authentication Token")
	}
	if p.Type != auth.User || p.Name == "" {
		return awsproto.Errorf(http.StatusBadRequest, codeInvalidUserType, "Only IAM users can change their own password.")
	}
	st, err := s.readLoginState(ctx, p.Name)
	if err != nil {
		return err
	}
	if err := s.authorizeSelfService(ctx, st.policy, "iam:ChangePassword", st.user.ARN); err != nil {
		return err
	}
	before := st.user.LoginProfile
	if before == nil {
		return noSuchLoginProfile(st.user.Name)
	}
	ok, err := s.passwords.Verify(ctx, before.PasswordHash, in.OldPassword)
	if err != nil {
		return serviceFailure(fmt.Errorf("iam: verify password: %w", err))
	}
	if !ok {
		return awsproto.Errorf(http.StatusForbidden, "AccessDenied", "The old password is incorrect.")
	}
	hash, err := s.newPasswordHash(ctx, st.policy, before, in.NewPassword)
	if err != nil {
		return err
	}
	return s.update(ctx, func(tx store.Tx) error {
		u, err := getUserTx(tx, s.account, p.Name)
		if err != nil {
			return err
		}
		lp := u.LoginProfile
		if lp == nil {
			return noSuchLoginProfile(u.Name)
		}
		if lp.PasswordHash != before.PasswordHash {
			return profileBusy(u.Name)
		}
		replacePassword(lp, hash, s.clock())
		lp.ResetRequired = false
		return tx.UpdateUser(u)
	})
}

// Errors of CheckConsolePassword. Compare with errors.Is.
var (
	// ErrBadCredentials: the account, user name or password is wrong, or
	// the user has no console password. One error for all, so a sign-in
	// page reveals nothing about which.
	ErrBadCredentials = errors.New("iam: the account, user name or password is incorrect")
	// ErrPasswordResetRequired: the password is right, but the user must
	// set a new one (PasswordResetRequired) before signing in.
	ErrPasswordResetRequired = errors.New("iam: the password must be changed before signing in")
	// ErrPasswordExpired: the password is right but older than the
	// password policy's MaxPasswordAge; the user must set a new one.
	ErrPasswordExpired = errors.New("iam: the password has expired and must be changed")
	// ErrPasswordHardExpired: the password has expired and the policy's
	// HardExpiry keeps the user out until an administrator resets it.
	ErrPasswordHardExpired = errors.New("iam: the password has expired; an administrator must reset it")
)

// CheckConsolePassword verifies an IAM user's console password for a
// sign-in, and returns the user as a caller (auth.UserPrincipal, without
// an access key).
//
//   - Wrong account, unknown user, no login profile or wrong password:
//     nil, ErrBadCredentials. Every one of these runs one password hash
//     with the hasher's parameters (a dummy one when there is no hash to
//     check), so the answer takes as long whether the user exists or not.
//   - Right password that must be changed: the principal with
//     ErrPasswordResetRequired or ErrPasswordExpired; the console may let
//     that principal call ChangePassword and nothing else.
//   - Expired under HardExpiry: nil, ErrPasswordHardExpired.
//   - Anything else (the store failing) is another error.
//
// A successful sign-in records the time as the user's PasswordLastUsed
// and re-hashes the password when the hasher's parameters have changed.
// CheckConsolePassword does not rate-limit: the caller must.
func (s *Service) CheckConsolePassword(ctx context.Context, account, userName, password string) (*auth.Principal, error) {
	// The user is looked up in the account the sign-in names: a copy of
	// the service serving that account, as forCaller does for a request.
	c := *s
	c.account = account
	s = &c
	var v violations
	v.name(userName, "userName", maxNameLen)
	var st *loginState
	if arn.IsValidAccountID(account) && v.err() == nil {
		var err error
		st, err = s.readLoginState(ctx, userName)
		var ae *awsproto.Error
		if errors.As(err, &ae) && ae.Code == codeNoSuchEntity {
			st, err = nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("iam: console sign-in: %w", err)
		}
	}
	if st == nil || st.user.LoginProfile == nil {
		if err := s.passwords.VerifyDummy(ctx, password); err != nil {
			return nil, fmt.Errorf("iam: console sign-in: %w", err)
		}
		return nil, ErrBadCredentials
	}
	u, lp := st.user, st.user.LoginProfile
	ok, err := s.passwords.Verify(ctx, lp.PasswordHash, password)
	if err != nil {
		return nil, fmt.Errorf("iam: console sign-in: %w", err)
	}
	if !ok {
		return nil, ErrBadCredentials
	}
	now := s.clock()
	principal := auth.UserPrincipal(u, s.account, "")
	if passwordExpired(lp, st.policy, now) {
		if hardExpiry(st.policy) {
			return nil, ErrPasswordHardExpired
		}
		return principal, ErrPasswordExpired
	}
	if lp.ResetRequired {
		return principal, ErrPasswordResetRequired
	}
	var rehash string
	if s.passwords.NeedsRehash(lp.PasswordHash) {
		if rehash, err = s.passwords.Hash(ctx, password); err != nil {
			return nil, fmt.Errorf("iam: console sign-in: %w", err)
		}
	}
	err = s.store.Update(ctx, func(tx store.Tx) error {
		cur, err := tx.GetUser(s.account, u.Name)
		if err != nil || cur.ID != u.ID || cur.LoginProfile == nil || cur.LoginProfile.PasswordHash != lp.PasswordHash {
			return err // changed meanwhile: the sign-in still stands; skip the bookkeeping
		}
		cur.PasswordLastUsed = now
		if rehash != "" {
			cur.LoginProfile.PasswordHash = rehash
		}
		return tx.UpdateUser(cur)
	})
	if err != nil {
		return nil, fmt.Errorf("iam: console sign-in: record last use: %w", err)
	}
	return principal, nil
}
