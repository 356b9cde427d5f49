package iam

import (
	"context"
	"errors"
	"net/http"

	"github.com/podid/podid/internal/awsproto"
	"github.com/podid/podid/internal/policy"
	"github.com/podid/podid/internal/store"
)

// checkDocument validates a policy document of the given kind. With no
// Config.ValidatePolicy it runs the policy engine with the installation's
// partition and trust-policy quota, and for trust policies asks the store
// whether the users, roles and OpenID Connect providers they name exist
// (IAM refuses `Invalid principal in policy` otherwise).
//
// The validator's *policy.ValidationError becomes AWS's error
// (MalformedPolicyDocument 400, LimitExceeded 409); an *awsproto.Error
// passes through; any other error is a MalformedPolicyDocument carrying
// the error's text.
func (s *Service) checkDocument(ctx context.Context, doc string, kind policy.Kind) error {
	var err error
	if s.validate != nil {
		err = s.validate(doc, kind)
	} else {
		opts := policy.ValidateOptions{Partition: s.partition, TrustPolicyMaxSize: s.trustMax}
		if kind == policy.KindTrust {
			opts.PrincipalExists = func(arn string) bool { return s.principalExists(ctx, arn) }
		}
		err = policy.ValidateWith(doc, kind, opts)
	}
	if err == nil {
		return nil
	}
	return documentError(err)
}

// documentError maps a validator's error to the client's error.
func documentError(err error) error {
	var ae *awsproto.Error
	if errors.As(err, &ae) {
		return ae
	}
	var ve *policy.ValidationError
	if errors.As(err, &ve) {
		status := http.StatusBadRequest
		if ve.Code == policy.CodeLimitExceeded {
			status = http.StatusConflict
		}
		return &awsproto.Error{Code: ve.Code, Message: ve.Message, Status: status, Sender: true}
	}
	return malformedPolicy(err.Error())
}

// principalExists reports whether a principal ARN named in a trust policy
// exists. Principals of other accounts cannot be checked and are accepted;
// a store failure counts as existing (the write that follows will fail
// on its own if the store is down).
func (s *Service) principalExists(ctx context.Context, arn string) bool {
	a, ok := parseIAMARN(arn)
	if !ok || a.partition != s.partition {
		return false
	}
	if a.account != s.account {
		return true
	}
	exists := true
	err := s.view(ctx, func(tx store.Tx) error {
		var gerr error
		switch a.kind {
		case "role":
			var r *store.Role
			r, gerr = tx.GetRole(s.account, a.name)
			if gerr == nil && r.ARN != arn {
				exists = false
			}
		case "user":
			var u *store.User
			u, gerr = tx.GetUser(s.account, a.name)
			if gerr == nil && u.ARN != arn {
				exists = false
			}
		case "oidc-provider":
			_, gerr = tx.GetOIDCProvider(arn)
		default: // podid keeps no SAML providers
			exists = false
		}
		if errors.Is(gerr, store.ErrNotFound) {
			exists = false
			return nil
		}
		return gerr
	})
	return exists || err != nil
}
