package console

import (
	"context"
	"crypto/subtle"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/podid/podid/internal/arn"
	"github.com/podid/podid/internal/auth"
	"github.com/podid/podid/internal/awsproto"
	"github.com/podid/podid/internal/iam"
	"github.com/podid/podid/internal/ids"
)

// signinData is the sign-in page's data.
type signinData struct {
	Next      string
	Passwords bool
	// AccountID fills the user form's account field.
	AccountID string
	// Method is the form that was submitted (root or user).
	Method      string
	AccessKeyID string
	UserName    string
}

// preToken returns the sign-in form's token, setting its cookie when the
// request has none: a double-submit token (HttpOnly, SameSite=Strict), so a
// page elsewhere cannot sign the browser in to an account of its choosing.
func (c *Console) preToken(w http.ResponseWriter, r *http.Request, secure bool) string {
	name := preCookiePlain
	if secure {
		name = preCookieTLS
	}
	if ck, err := r.Cookie(name); err == nil && len(ck.Value) == 43 {
		return ck.Value
	}
	tok := randomToken(32)
	ck := &http.Cookie{Name: name, Value: tok, Path: "/", HttpOnly: true, Secure: secure, SameSite: http.SameSiteStrictMode, MaxAge: 3600}
	if !secure {
		ck.Path = Prefix
	}
	http.SetCookie(w, ck)
	return tok
}

func (c *Console) signinPage(w http.ResponseWriter, r *http.Request) {
	c.showSignin(w, r, http.StatusOK, &signinData{Next: safeNext(r.URL.Query().Get("next")), Method: "root"}, nil)
}

func (c *Console) showSignin(w http.ResponseWriter, r *http.Request, status int, d *signinData, e *apiError) {
	secure := c.secure(r)
	d.Passwords = c.cfg.Passwords != nil
	if d.AccountID == "" {
		d.AccountID = c.cfg.AccountID
	}
	p := &page{Title: "Sign in", CSRF: c.preToken(w, r, secure), Error: e, Data: d}
	if !secure && !loopback(r) {
		p.Error = errPlainHTTP
		status = http.StatusForbidden
	}
	c.render(w, r, status, "signin", p)
}

var (
	errPlainHTTP   = &apiError{Code: "InsecureTransport", Message: "The console signs in only over HTTPS (serve podid behind TLS and set --public-url to its https:// address) or from this machine's loopback address."}
	errBadKey      = &apiError{Code: "SignInFailed", Message: "The access key ID or secret access key is not valid for this account's root user."}
	errBadPass     = &apiError{Code: "SignInFailed", Message: "The account, user name or password is not valid."}
	errFormCSRF    = &apiError{Code: "InvalidRequest", Message: "The sign-in form expired or came from another site; try again."}
	errMustChange  = &apiError{Code: "PasswordResetRequired", Message: "The password must be changed before signing in; change it with aws iam change-password."}
	errHardExpired = &apiError{Code: "PasswordExpired", Message: "The password has expired; an administrator must reset it."}
)

func tooMany(wait time.Duration) *apiError {
	s := max(1, int(wait.Round(time.Second)/time.Second))
	return &apiError{Code: "Throttling", Message: "Too many sign-in attempts; try again in " + strconv.Itoa(s) + " seconds."}
}

// signin checks a sign-in form: origin and form token, transport, the
// source's and the user's rate limits, then the credentials.
func (c *Console) signin(w http.ResponseWriter, r *http.Request) {
	secure := c.secure(r)
	if err := r.ParseForm(); err != nil {
		c.showSignin(w, r, http.StatusBadRequest, &signinData{Method: "root"}, errFormCSRF)
		return
	}
	f := r.PostForm
	d := &signinData{Next: safeNext(f.Get("next")), Method: f.Get("method"), AccessKeyID: strings.TrimSpace(f.Get("accessKeyId")),
		UserName: strings.TrimSpace(f.Get("userName")), AccountID: strings.TrimSpace(f.Get("account"))}
	if d.Method != "user" {
		d.Method = "root"
	}
	name := preCookiePlain
	if secure {
		name = preCookieTLS
	}
	ck, _ := r.Cookie(name)
	if !sameOrigin(r, secure) || ck == nil || !equalTokens(f.Get(csrfField), ck.Value) {
		c.cfg.Logger.WarnContext(r.Context(), "console sign-in refused: CSRF check failed", "source", sourceIP(r))
		c.showSignin(w, r, http.StatusForbidden, d, errFormCSRF)
		return
	}
	if !secure && !loopback(r) {
		c.showSignin(w, r, http.StatusForbidden, d, errPlainHTTP)
		return
	}
	if ok, wait := c.bySource.allow(sourceIP(r)); !ok {
		c.throttled(w, r, d, wait, "source")
		return
	}
	var (
		p      *auth.Principal
		bad    *apiError
		change bool
	)
	switch d.Method {
	case "root":
		if ok, wait := c.byUser.allow("key:" + d.AccessKeyID); !ok {
			c.throttled(w, r, d, wait, "user")
			return
		}
		p, bad = c.checkRootKey(r.Context(), d.AccessKeyID, f.Get("secretAccessKey")), errBadKey
	case "user":
		if c.cfg.Passwords == nil {
			c.showSignin(w, r, http.StatusBadRequest, d, errBadPass)
			return
		}
		if ok, wait := c.byUser.allow("user:" + d.AccountID + "/" + d.UserName); !ok {
			c.throttled(w, r, d, wait, "user")
			return
		}
		p, change, bad = c.checkPassword(r, d.AccountID, d.UserName, f.Get("password"))
	}
	if p == nil {
		c.cfg.Logger.InfoContext(r.Context(), "console sign-in failed", "method", d.Method, "source", sourceIP(r))
		c.showSignin(w, r, http.StatusUnauthorized, d, bad)
		return
	}
	if change && c.cfg.PasswordChanger == nil {
		c.showSignin(w, r, http.StatusUnauthorized, d, errMustChange)
		return
	}
	if _, err := c.sessions.issue(w, secure, p, change); err != nil {
		c.cfg.Logger.ErrorContext(r.Context(), "console sign-in: session", "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	c.cfg.Logger.InfoContext(r.Context(), "console sign-in", "caller", p.ARN, "source", sourceIP(r), "mustChangePassword", change)
	if change {
		http.Redirect(w, r, Prefix+"password", http.StatusSeeOther)
		return
	}
	http.Redirect(w, r, d.Next, http.StatusSeeOther)
}

func (c *Console) throttled(w http.ResponseWriter, r *http.Request, d *signinData, wait time.Duration, by string) {
	c.cfg.Logger.WarnContext(r.Context(), "console sign-in throttled", "by", by, "source", sourceIP(r))
	w.Header().Set("Retry-After", strconv.Itoa(max(1, int(wait.Round(time.Second)/time.Second))))
	c.showSignin(w, r, http.StatusTooManyRequests, d, tooMany(wait))
}

// checkRootKey returns an account root when id is an active long-term
// key of a root user and secret is its secret (compared in constant
// time), else nil.
func (c *Console) checkRootKey(ctx context.Context, id, secret string) *auth.Principal {
	if !ids.IsAccessKeyID(id) || secret == "" || len(secret) > 128 {
		return nil
	}
	want, identity, err := c.cfg.Keys.LookupSecret(ctx, id, "")
	if err != nil {
		return nil
	}
	p, ok := identity.(*auth.Principal)
	// The root of any account the server hosts (the resolver knows no
	// other keys); its pages then show that account's IAM.
	if !ok || p == nil || !p.IsRoot() {
		return nil
	}
	if subtle.ConstantTimeCompare([]byte(want), []byte(secret)) != 1 {
		return nil
	}
	return p
}

// checkPassword asks IAM to verify a user's console password. A right
// password that must be changed (IAM's PasswordResetRequired or an
// expired password) signs in with change set: that session may only
// change the password. Any other refusal is one sentence.
func (c *Console) checkPassword(r *http.Request, account, user, password string) (p *auth.Principal, change bool, bad *apiError) {
	if !arn.IsValidAccountID(account) || user == "" || len(user) > 64 || password == "" || len(password) > 128 {
		return nil, false, errBadPass
	}
	ctx := auth.WithRequestInfo(r.Context(), auth.RequestInfo{Region: c.cfg.Region, SecureTransport: c.secure(r), SourceIP: sourceIP(r), UserAgent: r.UserAgent()})
	p, err := c.cfg.Passwords.CheckConsolePassword(ctx, account, user, password)
	switch {
	case err == nil && p != nil && p.Type == auth.User:
		return p, false, nil
	case p != nil && p.Type == auth.User && (errors.Is(err, iam.ErrPasswordResetRequired) || errors.Is(err, iam.ErrPasswordExpired)):
		return p, true, nil
	case errors.Is(err, iam.ErrPasswordHardExpired):
		return nil, false, errHardExpired
	case err != nil && !errors.Is(err, iam.ErrBadCredentials) && !isClientError(err):
		// The log keeps IAM's reason (never the password).
		c.cfg.Logger.ErrorContext(r.Context(), "console password check failed", "user", clip(user), "err", err)
	}
	return nil, false, errBadPass
}

func isClientError(err error) bool {
	var ae *awsproto.Error
	return errors.As(err, &ae) && ae.Status < 500
}

// signout ends the session everywhere and goes back to the sign-in page.
func (c *Console) signout(w http.ResponseWriter, r *request) {
	if err := c.sessions.end(r.Context(), w, c.secure(r.Request), r.sess); err != nil {
		c.cfg.Logger.ErrorContext(r.Context(), "console sign-out failed", "err", err)
		http.Error(w, "The console could not record the sign-out; try again.", http.StatusServiceUnavailable)
		return
	}
	c.cfg.Logger.InfoContext(r.Context(), "console sign-out", "caller", r.p.ARN)
	http.Redirect(w, r.Request, Prefix+"signin?signedout=1", http.StatusSeeOther)
}
