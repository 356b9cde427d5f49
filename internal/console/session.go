package console

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/podid/podid/internal/auth"
	"github.com/podid/podid/internal/store"
)

// Session defaults: a session ends after IdleTimeout without a request and
// AbsoluteTimeout after sign-in, whichever comes first (AWS's console
// sessions last up to 12 hours).
const (
	DefaultIdleTimeout     = 30 * time.Minute
	DefaultAbsoluteTimeout = 12 * time.Hour
	// seenGranularity is how stale a session's last-seen time may get
	// before a request re-issues the cookie with a new one.
	seenGranularity = time.Minute
)

// Cookie names. Over TLS the cookie takes the __Host- prefix, which
// browsers accept only with Secure, Path=/ and no Domain: no other host or
// path can set or shadow it. Over plain HTTP (loopback only) it is a
// path-scoped cookie without Secure.
const (
	cookieSecure   = "__Host-podid-console"
	cookiePlain    = "podid-console"
	preCookieTLS   = "__Host-podid-console-signin"
	preCookiePlain = "podid-console-signin"
)

// sessionAD is the associated data of sealed session cookies: a sealed
// access key or server key cannot be replayed as a session, nor a session
// as anything else.
var sessionAD = []byte("podid-console-session/v1")

// preAD is the associated data of the sign-in form's sealed token.
var preAD = []byte("podid-console-signin/v1")

// Sealer seals and opens with the server's master keyring
// (*secrets.Keyring), which every replica shares.
type Sealer interface {
	Seal(plaintext, associatedData []byte) ([]byte, error)
	Open(sealed, associatedData []byte) ([]byte, error)
}

// session is what a console cookie carries, sealed: who signed in, when,
// and the session's CSRF secret. It is authenticated and encrypted by the
// master keyring, so any replica opens it without a store read; sign-out is
// a store record (Revocations) every replica checks.
type session struct {
	ID        string         `json:"id"`
	Principal principalClaim `json:"p"`
	Issued    int64          `json:"iat"`
	Seen      int64          `json:"seen"`
	CSRF      string         `json:"csrf"`
	// Change marks a user who must change the password first (IAM's
	// PasswordResetRequired, or an expired password): such a session
	// reaches the change-password page and sign-out only.
	Change bool `json:"chg,omitempty"`
}

// principalClaim is the signed-in caller.
type principalClaim struct {
	Type        auth.PrincipalType `json:"t"`
	AccountID   string             `json:"a"`
	ARN         string             `json:"arn"`
	UserID      string             `json:"uid"`
	Name        string             `json:"n,omitempty"`
	AccessKeyID string             `json:"k,omitempty"`
}

func claimOf(p *auth.Principal) principalClaim {
	return principalClaim{Type: p.Type, AccountID: p.AccountID, ARN: p.ARN, UserID: p.UserID, Name: p.Name, AccessKeyID: p.AccessKeyID}
}

func (c principalClaim) principal() *auth.Principal {
	return &auth.Principal{Type: c.Type, AccountID: c.AccountID, ARN: c.ARN, UserID: c.UserID, Name: c.Name, AccessKeyID: c.AccessKeyID}
}

// randomToken returns n random bytes, base64url-encoded.
func randomToken(n int) string {
	b := make([]byte, n)
	rand.Read(b) // never fails (crypto/rand panics rather)
	return base64.RawURLEncoding.EncodeToString(b)
}

// Revocations remembers ended sessions in the store every replica shares,
// so signing out ends a session everywhere at once.
type Revocations interface {
	Revoke(ctx context.Context, sessionID string, until time.Time) error
	Revoked(ctx context.Context, sessionID string) (bool, error)
}

// revocationScope is the idempotency-token scope of signed-out sessions.
const revocationScope = "podid-console/signed-out"

// StoreRevocations keeps signed-out session IDs in the store as
// (scope, token) records: a point write on sign-out, a point read per
// console request. The records are small and outlive their sessions.
type StoreRevocations struct{ Store store.Store }

// Revoke records sessionID as ended.
func (r StoreRevocations) Revoke(ctx context.Context, sessionID string, until time.Time) error {
	err := r.Store.Update(ctx, func(tx store.Tx) error {
		return tx.PutIdempotencyToken(revocationScope, sessionID, until.UTC().Format(time.RFC3339))
	})
	if errors.Is(err, store.ErrConflict) {
		return nil // already signed out
	}
	if err != nil {
		return fmt.Errorf("console: recording sign-out: %w", err)
	}
	return nil
}

// Revoked reports whether sessionID was signed out.
func (r StoreRevocations) Revoked(ctx context.Context, sessionID string) (bool, error) {
	err := r.Store.View(ctx, func(tx store.Tx) error {
		_, err := tx.GetIdempotencyToken(revocationScope, sessionID)
		return err
	})
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, store.ErrNotFound):
		return false, nil
	}
	return false, fmt.Errorf("console: reading sign-outs: %w", err)
}

// sessions issues, reads and ends console sessions.
type sessions struct {
	sealer      Sealer
	revocations Revocations
	now         func() time.Time
	idle, abs   time.Duration
}

// errNoSession means the request carries no valid, live session.
var errNoSession = errors.New("console: no session")

func (s *sessions) cookieName(secure bool) string {
	if secure {
		return cookieSecure
	}
	return cookiePlain
}

// issue starts a session for p and sets its cookie.
func (s *sessions) issue(w http.ResponseWriter, secure bool, p *auth.Principal, change bool) (*session, error) {
	now := s.now().Unix()
	sess := &session{ID: randomToken(18), Principal: claimOf(p), Issued: now, Seen: now, CSRF: randomToken(32), Change: change}
	return sess, s.write(w, secure, sess)
}

func (s *sessions) write(w http.ResponseWriter, secure bool, sess *session) error {
	body, err := json.Marshal(sess)
	if err != nil {
		return err
	}
	sealed, err := s.sealer.Seal(body, sessionAD)
	if err != nil {
		return fmt.Errorf("console: sealing session: %w", err)
	}
	maxAge := int(time.Unix(sess.Issued, 0).Add(s.abs).Sub(s.now()) / time.Second)
	http.SetCookie(w, s.cookie(secure, base64.RawURLEncoding.EncodeToString(sealed), maxAge))
	return nil
}

func (s *sessions) cookie(secure bool, value string, maxAge int) *http.Cookie {
	c := &http.Cookie{Name: s.cookieName(secure), Value: value, Path: "/", MaxAge: maxAge,
		HttpOnly: true, Secure: secure, SameSite: http.SameSiteStrictMode}
	if !secure {
		c.Path = Prefix
	}
	if maxAge <= 0 {
		c.MaxAge = -1
	}
	return c
}

// clear removes the session cookie.
func (s *sessions) clear(w http.ResponseWriter, secure bool) {
	http.SetCookie(w, s.cookie(secure, "", -1))
}

// read returns the request's live session: sealed by this server's
// keyring, within its idle and absolute lifetimes, not signed out. It
// re-issues the cookie when its last-seen time is stale. A store failure
// reading sign-outs is an error (fail closed), not a session.
func (s *sessions) read(ctx context.Context, w http.ResponseWriter, r *http.Request, secure bool) (*session, error) {
	c, err := r.Cookie(s.cookieName(secure))
	if err != nil {
		return nil, errNoSession
	}
	sess, err := s.open(c.Value)
	if err != nil {
		return nil, errNoSession
	}
	now := s.now()
	issued, seen := time.Unix(sess.Issued, 0), time.Unix(sess.Seen, 0)
	if now.Sub(issued) >= s.abs || now.Sub(seen) >= s.idle || seen.Before(issued) || issued.After(now.Add(time.Minute)) {
		return nil, errNoSession
	}
	revoked, err := s.revocations.Revoked(ctx, sess.ID)
	if err != nil {
		return nil, err
	}
	if revoked {
		return nil, errNoSession
	}
	if now.Sub(seen) >= seenGranularity {
		sess.Seen = now.Unix()
		if err := s.write(w, secure, sess); err != nil {
			return nil, err
		}
	}
	return sess, nil
}

// open decodes and opens a cookie value.
func (s *sessions) open(value string) (*session, error) {
	if len(value) > maxCookieLen {
		return nil, errNoSession
	}
	sealed, err := base64.RawURLEncoding.DecodeString(value)
	if err != nil {
		return nil, errNoSession
	}
	body, err := s.sealer.Open(sealed, sessionAD)
	if err != nil {
		return nil, errNoSession
	}
	return parseSession(body)
}

// maxCookieLen bounds a session cookie's value (a sealed session is a few
// hundred bytes).
const maxCookieLen = 4096

// parseSession decodes a session's JSON and checks its fields.
func parseSession(body []byte) (*session, error) {
	var sess session
	if err := json.Unmarshal(body, &sess); err != nil {
		return nil, errNoSession
	}
	if len(sess.ID) < 16 || len(sess.CSRF) < 32 || sess.Principal.ARN == "" || sess.Principal.AccountID == "" {
		return nil, errNoSession
	}
	switch sess.Principal.Type {
	case auth.Root, auth.User:
	default:
		return nil, errNoSession
	}
	return &sess, nil
}

// end signs a session out: recorded in the store (every replica refuses it
// from then on) and its cookie cleared.
func (s *sessions) end(ctx context.Context, w http.ResponseWriter, secure bool, sess *session) error {
	until := time.Unix(sess.Issued, 0).Add(s.abs)
	if err := s.revocations.Revoke(ctx, sess.ID, until); err != nil {
		return err
	}
	s.clear(w, secure)
	return nil
}

// equalTokens compares two secrets in constant time.
func equalTokens(a, b string) bool {
	return len(a) > 0 && subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}
