package sts

import (
	"context"
	"time"

	"github.com/podid/podid/internal/auth"
)

// GetCallerIdentityInput is the (empty) input of GetCallerIdentity.
type GetCallerIdentityInput struct{}

// GetCallerIdentityOutput identifies the caller.
type GetCallerIdentityOutput struct {
	UserID  string
	Account string
	Arn     string
}

// GetCallerIdentity returns the caller's identity. Like AWS, it needs no
// permission: even an explicit deny does not stop it.
func (s *Service) GetCallerIdentity(ctx context.Context, _ *GetCallerIdentityInput) (*GetCallerIdentityOutput, error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	return &GetCallerIdentityOutput{UserID: p.UserID, Account: p.AccountID, Arn: p.ARN}, nil
}

// GetSessionTokenInput is the input of GetSessionToken. Zero values are
// absent members.
type GetSessionTokenInput struct {
	DurationSeconds int
	SerialNumber    string
	TokenCode       string
}

// GetSessionTokenOutput carries the new credentials.
type GetSessionTokenOutput struct {
	Credentials Credentials
}

// Durations of GetSessionToken.
const (
	gstDefault  = 12 * time.Hour
	gstMin      = 900
	gstMax      = 129600
	gstRootMax  = time.Hour
	roleDefault = time.Hour
	roleMin     = 900
	roleMax     = 43200
	chainMax    = time.Hour
)

// GetSessionToken returns temporary credentials for an IAM user or the
// account root, carrying the caller's own permissions. Session credentials
// cannot call it. The root's sessions last at most one hour (longer
// requests are shortened, as AWS does). MFA is not supported: a request
// with a token code is refused.
func (s *Service) GetSessionToken(ctx context.Context, in *GetSessionTokenInput) (*GetSessionTokenOutput, error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	var v validation
	v.intRange("durationSeconds", in.DurationSeconds, in.DurationSeconds != 0, gstMin, gstMax)
	v.str("serialNumber", in.SerialNumber, in.SerialNumber != "", false, 9, 256, reSerialNumber, patSerialNumber)
	v.str("tokenCode", in.TokenCode, in.TokenCode != "", false, 6, 6, reTokenCode, patTokenCode)
	if err := v.err(); err != nil {
		return nil, err
	}
	if p.Session != nil {
		return nil, accessDenied("Cannot call GetSessionToken with session credentials")
	}
	if in.TokenCode != "" || in.SerialNumber != "" {
		return nil, accessDenied("MultiFactorAuthentication failed with invalid MFA one time pass code. ")
	}
	d := gstDefault
	if in.DurationSeconds != 0 {
		d = time.Duration(in.DurationSeconds) * time.Second
	}
	now := s.clock()
	sess := &auth.Session{Account: s.sessionAccount(p.AccountID), Issued: now, SourceARN: p.ARN}
	switch p.Type {
	case auth.Root:
		sess.Type = auth.Root
		if d > gstRootMax {
			d = gstRootMax
		}
	case auth.User:
		sess.Type = auth.User
		sess.UserName = p.Name
	default:
		return nil, accessDenied("Cannot call GetSessionToken with session credentials")
	}
	sess.Expires = now.Add(d)
	creds, err := s.mint(sess)
	if err != nil {
		return nil, err
	}
	return &GetSessionTokenOutput{Credentials: *creds}, nil
}
