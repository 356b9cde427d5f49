package auth

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/podid/podid/internal/awsproto"
	"github.com/podid/podid/internal/store"
)

// SecretOpener opens secrets sealed at rest. *secrets.Keyring implements it.
type SecretOpener interface {
	Open(sealed, ad []byte) ([]byte, error)
}

// SessionOpener opens the session token of temporary credentials and returns
// the session and its secret key. *sessiontoken.Minter implements it; its
// errors are *awsproto.Error (InvalidClientTokenId, ExpiredToken).
type SessionOpener interface {
	Open(accessKeyID, token string, now time.Time) (*Session, string, error)
}

// ResolverConfig configures a Resolver.
type ResolverConfig struct {
	// Store holds access keys and users. Required.
	Store store.Store
	// Keyring opens sealed secret access keys (associated data: the key
	// ID). Required.
	Keyring SecretOpener
	// Sessions opens session tokens of ASIA… keys. Required.
	Sessions SessionOpener
	// AccountID is the server's primary account: the account of session
	// tokens minted before sessions carried their own. Required. Long-term
	// keys carry their account in the store; sessions in their token.
	AccountID string
	// Partition is the ARN partition ("aws" when empty).
	Partition string
	// Now is the clock (time.Now when nil).
	Now func() time.Time
}

// Resolver finds the secret key and the principal behind an access key ID,
// for SigV4 verification. It implements the verifier's secret lookup.
type Resolver struct {
	cfg ResolverConfig
}

// NewResolver returns a Resolver.
func NewResolver(cfg ResolverConfig) (*Resolver, error) {
	switch {
	case cfg.Store == nil:
		return nil, errors.New("auth: ResolverConfig.Store is required")
	case cfg.Keyring == nil:
		return nil, errors.New("auth: ResolverConfig.Keyring is required")
	case cfg.Sessions == nil:
		return nil, errors.New("auth: ResolverConfig.Sessions is required")
	case cfg.AccountID == "":
		return nil, errors.New("auth: ResolverConfig.AccountID is required")
	}
	if cfg.Partition == "" {
		cfg.Partition = "aws"
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Resolver{cfg: cfg}, nil
}

var _ awsproto.SecretLookup = (*Resolver)(nil)

// errInvalidToken is STS/IAM's answer to an unknown or inactive key.
func errInvalidToken() *awsproto.Error { return awsproto.InvalidClientTokenID() }

// LookupSecret returns the secret access key of accessKeyID and the caller
// it identifies (a *Principal). Long-term keys (AKIA…) are read from the
// store and unsealed; temporary keys (ASIA…) are opened from their session
// token without a store read, except for GetSessionToken sessions of IAM
// users, whose user record supplies the unique ID and proves the user still
// exists. Unknown, inactive or mismatched keys give 403 InvalidClientTokenId.
func (r *Resolver) LookupSecret(ctx context.Context, accessKeyID, sessionToken string) (secret string, identity any, err error) {
	if strings.HasPrefix(accessKeyID, "ASIA") {
		p, secret, err := r.lookupSession(ctx, accessKeyID, sessionToken)
		if err != nil {
			return "", nil, err
		}
		return secret, p, nil
	}
	if sessionToken != "" {
		return "", nil, errInvalidToken()
	}
	var (
		key  *store.AccessKey
		user *store.User
	)
	err = r.cfg.Store.View(ctx, func(tx store.Tx) error {
		k, err := tx.GetAccessKey(accessKeyID)
		if err != nil {
			return err
		}
		key = k
		if k.UserName != "" {
			u, err := tx.GetUser(k.Account, k.UserName)
			if err != nil {
				return err
			}
			user = u
		}
		return nil
	})
	if errors.Is(err, store.ErrNotFound) {
		return "", nil, errInvalidToken()
	}
	if err != nil {
		return "", nil, awsproto.Internal("InternalFailure", fmt.Errorf("auth: read access key: %w", err))
	}
	if key.Status != "Active" {
		return "", nil, errInvalidToken()
	}
	plain, err := r.cfg.Keyring.Open(key.SealedSecret, []byte(key.ID))
	if err != nil {
		return "", nil, awsproto.Internal("InternalFailure", fmt.Errorf("auth: open secret of access key %s: %w", key.ID, err))
	}
	if user == nil {
		return string(plain), RootPrincipal(r.cfg.Partition, key.Account, key.ID), nil
	}
	return string(plain), UserPrincipal(user, key.Account, key.ID), nil
}

func (r *Resolver) lookupSession(ctx context.Context, akid, token string) (*Principal, string, error) {
	if token == "" {
		return nil, "", errInvalidToken()
	}
	s, secret, err := r.cfg.Sessions.Open(akid, token, r.cfg.Now())
	if err != nil {
		var ae *awsproto.Error
		if errors.As(err, &ae) {
			return nil, "", ae
		}
		return nil, "", errInvalidToken()
	}
	account := s.AccountOr(r.cfg.AccountID)
	switch s.Type {
	case AssumedRole:
		if s.RoleName == "" || s.RoleID == "" || s.SessionName == "" {
			return nil, "", errInvalidToken()
		}
		return RoleSessionPrincipal(r.cfg.Partition, account, akid, s), secret, nil
	case Root:
		p := RootPrincipal(r.cfg.Partition, account, akid)
		p.Session = s
		return p, secret, nil
	case User:
		var u *store.User
		err := r.cfg.Store.View(ctx, func(tx store.Tx) error {
			var err error
			u, err = tx.GetUser(account, s.UserName)
			return err
		})
		if errors.Is(err, store.ErrNotFound) {
			return nil, "", errInvalidToken()
		}
		if err != nil {
			return nil, "", awsproto.Internal("InternalFailure", fmt.Errorf("auth: read user of session: %w", err))
		}
		p := UserPrincipal(u, account, akid)
		p.Session = s
		return p, secret, nil
	}
	return nil, "", errInvalidToken()
}
