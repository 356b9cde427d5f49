package iam

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/podid/podid/internal/auth"
	"github.com/podid/podid/internal/awsproto"
	"github.com/podid/podid/internal/store"
)

// Bounds of UpdateAccountPasswordPolicy's parameters (the IAM model's
// minimumPasswordLengthType, maxPasswordAgeType,
// passwordReusePreventionType) and its documented defaults.
const (
	minPasswordLength       = 6
	maxPasswordLength       = 128
	defaultPasswordLength   = 6 // MinimumPasswordLength when left out
	maxPasswordAgeDays      = 1095
	maxReusePrevention      = 24
	maxPasswordParamLen     = 128 // passwordType
	defaultPolicyMinLength  = 8   // AWS's default password policy
	defaultPolicyMinClasses = 3
)

// passwordPolicyResource is the resource of the account-level password
// policy actions, which have no resource type in IAM's authorization
// reference.
const passwordPolicyResource = "*"

// passwordSymbols are the characters IAM counts as symbols
// (RequireSymbols): ! @ # $ % ^ & * ( ) _ + - = [ ] { } | '
const passwordSymbols = "!@#$%^&*()_+-=[]{}|'"

// UpdateAccountPasswordPolicyInput is UpdateAccountPasswordPolicy's
// request. The operation replaces the whole policy: a parameter left out
// takes its default (MinimumPasswordLength 6, no expiry, no reuse
// prevention, every flag false, HardExpiry unset).
type UpdateAccountPasswordPolicyInput struct {
	MinimumPasswordLength      *int
	RequireSymbols             bool
	RequireNumbers             bool
	RequireUppercaseCharacters bool
	RequireLowercaseCharacters bool
	AllowUsersToChangePassword bool
	MaxPasswordAge             *int
	PasswordReusePrevention    *int
	HardExpiry                 *bool
}

// PasswordPolicy is GetAccountPasswordPolicy's view of the policy.
type PasswordPolicy struct {
	MinimumPasswordLength      int
	RequireSymbols             bool
	RequireNumbers             bool
	RequireUppercaseCharacters bool
	RequireLowercaseCharacters bool
	AllowUsersToChangePassword bool
	// ExpirePasswords is true when MaxPasswordAge is set.
	ExpirePasswords         bool
	MaxPasswordAge          int // 0 when not set
	PasswordReusePrevention int // 0 when not set
	HardExpiry              *bool
}

// GetAccountPasswordPolicyOutput is GetAccountPasswordPolicy's result.
type GetAccountPasswordPolicyOutput struct {
	PasswordPolicy PasswordPolicy
}

func noSuchPasswordPolicy(account string) *awsproto.Error {
	return noSuchEntity("The Password Policy with domain name %s cannot be found.", account)
}

func passwordPolicyViolation(msg string) *awsproto.Error {
	return awsproto.Errorf(http.StatusBadRequest, codePasswordPolicyViolation, "%s", msg)
}

// UpdateAccountPasswordPolicy sets the account's password policy.
func (s *Service) UpdateAccountPasswordPolicy(ctx context.Context, in *UpdateAccountPasswordPolicyInput) error {
	s = s.forCaller(ctx)
	var v violations
	v.intRange(in.MinimumPasswordLength, "minimumPasswordLength", minPasswordLength, maxPasswordLength)
	v.intRange(in.MaxPasswordAge, "maxPasswordAge", 1, maxPasswordAgeDays)
	v.intRange(in.PasswordReusePrevention, "passwordReusePrevention", 1, maxReusePrevention)
	if err := v.err(); err != nil {
		return err
	}
	if err := s.authorize(ctx, "iam:UpdateAccountPasswordPolicy", passwordPolicyResource, nil); err != nil {
		return err
	}
	p := &store.PasswordPolicy{
		AccountID:                  s.account,
		MinimumPasswordLength:      defaultPasswordLength,
		RequireSymbols:             in.RequireSymbols,
		RequireNumbers:             in.RequireNumbers,
		RequireUppercaseCharacters: in.RequireUppercaseCharacters,
		RequireLowercaseCharacters: in.RequireLowercaseCharacters,
		AllowUsersToChangePassword: in.AllowUsersToChangePassword,
		HardExpiry:                 in.HardExpiry,
	}
	if in.MinimumPasswordLength != nil {
		p.MinimumPasswordLength = *in.MinimumPasswordLength
	}
	if in.MaxPasswordAge != nil {
		p.MaxPasswordAge = *in.MaxPasswordAge
	}
	if in.PasswordReusePrevention != nil {
		p.PasswordReusePrevention = *in.PasswordReusePrevention
	}
	return s.update(ctx, func(tx store.Tx) error { return tx.PutPasswordPolicy(p) })
}

// GetAccountPasswordPolicy returns the account's password policy. When
// the policy lets users change their own password, every IAM user of the
// account may read it, whatever their policies say (short of an explicit
// deny), as IAM grants.
func (s *Service) GetAccountPasswordPolicy(ctx context.Context) (*GetAccountPasswordPolicyOutput, error) {
	s = s.forCaller(ctx)
	var pol *store.PasswordPolicy
	if err := s.view(ctx, func(tx store.Tx) (err error) { pol, err = s.passwordPolicyTx(tx); return err }); err != nil {
		return nil, err
	}
	if err := s.authorizeSelfService(ctx, pol, "iam:GetAccountPasswordPolicy", passwordPolicyResource); err != nil {
		return nil, err
	}
	if pol == nil {
		return nil, noSuchPasswordPolicy(s.account)
	}
	return &GetAccountPasswordPolicyOutput{PasswordPolicy: PasswordPolicy{
		MinimumPasswordLength:      pol.MinimumPasswordLength,
		RequireSymbols:             pol.RequireSymbols,
		RequireNumbers:             pol.RequireNumbers,
		RequireUppercaseCharacters: pol.RequireUppercaseCharacters,
		RequireLowercaseCharacters: pol.RequireLowercaseCharacters,
		AllowUsersToChangePassword: pol.AllowUsersToChangePassword,
		ExpirePasswords:            pol.MaxPasswordAge > 0,
		MaxPasswordAge:             pol.MaxPasswordAge,
		PasswordReusePrevention:    pol.PasswordReusePrevention,
		HardExpiry:                 pol.HardExpiry,
	}}, nil
}

// DeleteAccountPasswordPolicy removes the account's password policy; the
// default policy applies again.
func (s *Service) DeleteAccountPasswordPolicy(ctx context.Context) error {
	s = s.forCaller(ctx)
	if err := s.authorize(ctx, "iam:DeleteAccountPasswordPolicy", passwordPolicyResource, nil); err != nil {
		return err
	}
	return s.update(ctx, func(tx store.Tx) error {
		err := tx.DeletePasswordPolicy(s.account)
		if errors.Is(err, store.ErrNotFound) {
			return noSuchPasswordPolicy(s.account)
		}
		return err
	})
}

// passwordPolicyTx reads the account's policy; nil when it has none.
func (s *Service) passwordPolicyTx(tx store.Tx) (*store.PasswordPolicy, error) {
	p, err := tx.GetPasswordPolicy(s.account)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	return p, err
}

// authorizeSelfService authorizes an action the password policy's
// AllowUsersToChangePassword grants every IAM user on their own user
// (iam:ChangePassword) or on the account (iam:GetAccountPasswordPolicy):
// with that flag set an implicit deny becomes an allow for an IAM user
// caller; an explicit deny still refuses.
func (s *Service) authorizeSelfService(ctx context.Context, pol *store.PasswordPolicy, action, resource string) error {
	p := auth.PrincipalFrom(ctx)
	if p == nil {
		return awsproto.Errorf(http.StatusForbidden, "MissingAuthenticationToken", "Request is missing Authentication Token")
	}
	err := s.authz.Authorize(ctx, p, action, resource, nil)
	if err == nil {
		return nil
	}
	var de *auth.DeniedError
	if pol != nil && pol.AllowUsersToChangePassword && p.Type == auth.User &&
		errors.As(err, &de) && !de.Explicit {
		return nil
	}
	return denial(action, err)
}

// checkPasswordPolicy checks a new password against the account's policy,
// or against AWS's default policy when the account has none (at least 8
// characters, at least three of the four character types, not the
// account's name: podid accounts have no name, so not the account ID).
// The first rule the password breaks is the PasswordPolicyViolation's
// message.
func (s *Service) checkPasswordPolicy(pol *store.PasswordPolicy, pw string) error {
	var lower, upper, number, symbol bool
	for _, r := range pw {
		switch {
		case r >= 'a' && r <= 'z':
			lower = true
		case r >= 'A' && r <= 'Z':
			upper = true
		case r >= '0' && r <= '9':
			number = true
		case r < 0x80 && strings.ContainsRune(passwordSymbols, r):
			symbol = true
		}
	}
	n := javaLen(pw)
	if pol == nil {
		if n < defaultPolicyMinLength {
			return passwordPolicyViolation("Password should have a minimum length of " + strconv.Itoa(defaultPolicyMinLength))
		}
		classes := 0
		for _, ok := range []bool{lower, upper, number, symbol} {
			if ok {
				classes++
			}
		}
		if classes < defaultPolicyMinClasses {
			return passwordPolicyViolation("Password should have at least three of the following character types: uppercase letters, lowercase letters, numbers and symbols")
		}
		if pw == s.account {
			return passwordPolicyViolation("Password should not be identical to the account name")
		}
		return nil
	}
	switch {
	case n < pol.MinimumPasswordLength:
		return passwordPolicyViolation("Password should have a minimum length of " + strconv.Itoa(pol.MinimumPasswordLength))
	case pol.RequireLowercaseCharacters && !lower:
		return passwordPolicyViolation("Password should have at least one lowercase letter")
	case pol.RequireUppercaseCharacters && !upper:
		return passwordPolicyViolation("Password should have at least one uppercase letter")
	case pol.RequireNumbers && !number:
		return passwordPolicyViolation("Password should have at least one number")
	case pol.RequireSymbols && !symbol:
		return passwordPolicyViolation("Password should have at least one symbol")
	}
	return nil
}

// passwordExpired reports whether a login profile's password is older
// than the policy's MaxPasswordAge (days) at now.
func passwordExpired(lp *store.LoginProfile, pol *store.PasswordPolicy, now time.Time) bool {
	if pol == nil || pol.MaxPasswordAge <= 0 {
		return false
	}
	set := lp.PasswordSetAt
	if set.IsZero() {
		set = lp.CreatedAt
	}
	return !now.Before(set.AddDate(0, 0, pol.MaxPasswordAge))
}

// hardExpiry reports whether the policy keeps users with an expired
// password out of the console until an administrator resets it.
func hardExpiry(pol *store.PasswordPolicy) bool {
	return pol != nil && pol.HardExpiry != nil && *pol.HardExpiry
}
