// Package console is podid's web console, served by `podid server` and
// `podid dev` at /console/ on the API port: clusters, their pod identity
// associations (create, edit, delete), roles, "what can this service
// account do" and a live feed of credential issuance and refusals.
//
// Pages are server-rendered html/template with embedded assets (no CDN,
// no framework; a small script only enhances). Sign-in is the account's
// root access key pair or an IAM user's console password; a session is a
// cookie sealed by the master keyring (HttpOnly, SameSite=Strict, Secure
// over TLS) with idle and absolute lifetimes, ended everywhere by a store
// record on sign-out. Every change carries a synchronizer token and must
// come from the console's own origin. Every page and change is the API
// action it stands for, called in process with the signed-in principal,
// so the policy engine decides and errors are the API's own.
package console

import (
	"context"
	"embed"
	"errors"
	"html/template"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/podid/podid/internal/auth"
)

// Prefix is where the console is served.
const Prefix = "/console/"

//go:embed templates/*.html static/*
var assets embed.FS

// Config configures the console.
type Config struct {
	// EKS serves EKS's restJson1 API and podid's /podid/v1 extensions
	// (*eks.Service): the console's association, cluster, audit and
	// explain calls go through it in process. Required.
	EKS http.Handler
	// IAM answers the role pages. Required.
	IAM IAM
	// Keys resolves access keys for the root sign-in (*auth.Resolver).
	// Required.
	Keys KeyResolver
	// Passwords checks IAM users' console passwords; nil offers the root
	// key sign-in only.
	Passwords PasswordChecker
	// PasswordChanger changes a signed-in user's password (IAM's
	// ChangePassword); nil leaves out the change-password page.
	PasswordChanger PasswordChanger
	// Sealer seals session cookies (the master keyring). Required.
	Sealer Sealer
	// Revocations records sign-outs in the shared store. Required.
	Revocations Revocations
	// AccountID, Region and Partition describe the server.
	AccountID, Region, Partition string
	// PublicURL is the server's public base URL; an https URL marks
	// cookies Secure even when TLS ends at a proxy in front.
	PublicURL string
	Now       func() time.Time
	Logger    *slog.Logger
	// IdleTimeout and AbsoluteTimeout bound sessions (defaults
	// DefaultIdleTimeout, DefaultAbsoluteTimeout).
	IdleTimeout, AbsoluteTimeout time.Duration
	// FeedPoll is how often the live feed looks for new audit records
	// (DefaultFeedPoll).
	FeedPoll time.Duration
}

// DefaultFeedPoll is the live feed's polling interval.
const DefaultFeedPoll = time.Second

// Console serves the console's pages.
type Console struct {
	cfg      Config
	sessions *sessions
	bySource *limiter
	byUser   *limiter
	pages    map[string]*template.Template
	static   http.Handler
	mux      *http.ServeMux
}

// New returns the console.
func New(cfg Config) (*Console, error) {
	switch {
	case cfg.EKS == nil, cfg.IAM == nil, cfg.Keys == nil, cfg.Sealer == nil, cfg.Revocations == nil:
		return nil, errors.New("console: EKS, IAM, Keys, Sealer and Revocations are required")
	case cfg.AccountID == "" || cfg.Region == "":
		return nil, errors.New("console: account ID and region are required")
	}
	if cfg.Partition == "" {
		cfg.Partition = "aws"
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = DefaultIdleTimeout
	}
	if cfg.AbsoluteTimeout <= 0 {
		cfg.AbsoluteTimeout = DefaultAbsoluteTimeout
	}
	if cfg.FeedPoll <= 0 {
		cfg.FeedPoll = DefaultFeedPoll
	}
	pages, err := parsePages()
	if err != nil {
		return nil, err
	}
	static, err := fs.Sub(assets, "static")
	if err != nil {
		return nil, err
	}
	c := &Console{
		cfg:      cfg,
		sessions: &sessions{sealer: cfg.Sealer, revocations: cfg.Revocations, now: cfg.Now, idle: cfg.IdleTimeout, abs: cfg.AbsoluteTimeout},
		bySource: newLimiter(sourceBurst, sourcePer, cfg.Now),
		byUser:   newLimiter(userBurst, userPer, cfg.Now),
		pages:    pages,
		static:   http.StripPrefix(Prefix+"static/", http.FileServerFS(static)),
		mux:      http.NewServeMux(),
	}
	c.routes()
	return c, nil
}

// Mount returns a handler that serves the console under Prefix (and
// redirects /console to it) and everything else with api, untouched.
func Mount(api http.Handler, c *Console) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/console" || strings.HasPrefix(r.URL.Path, Prefix) {
			c.ServeHTTP(w, r)
			return
		}
		api.ServeHTTP(w, r)
	})
}

func (c *Console) routes() {
	m := c.mux
	m.Handle("GET /console/static/", c.static)
	m.HandleFunc("GET /console/{$}", c.home)
	m.HandleFunc("GET /console/signin", c.signinPage)
	m.HandleFunc("POST /console/signin", c.signin)
	m.HandleFunc("POST /console/signout", c.signed(c.signout))
	m.HandleFunc("GET /console/clusters", c.signed(c.clusters))
	m.HandleFunc("GET /console/clusters/{cluster}", c.signed(c.cluster))
	m.HandleFunc("POST /console/clusters/{cluster}/associations", c.signed(c.createAssociation))
	m.HandleFunc("GET /console/clusters/{cluster}/associations/{id}", c.signed(c.association))
	m.HandleFunc("POST /console/clusters/{cluster}/associations/{id}", c.signed(c.updateAssociation))
	m.HandleFunc("POST /console/clusters/{cluster}/associations/{id}/delete", c.signed(c.deleteAssociation))
	m.HandleFunc("GET /console/password", c.signed(c.passwordPage))
	m.HandleFunc("POST /console/password", c.signed(c.changePassword))
	m.HandleFunc("GET /console/roles", c.signed(c.roles))
	m.HandleFunc("GET /console/roles/{role}", c.signed(c.role))
	m.HandleFunc("GET /console/simulate", c.signed(c.simulate))
	m.HandleFunc("GET /console/feed", c.signed(c.feed))
	m.HandleFunc("GET /console/feed/events", c.signed(c.feedEvents))
}

// ServeHTTP serves a console request with the console's security headers.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	if !strings.HasPrefix(r.URL.Path, Prefix+"static/") {
		h.Set("Cache-Control", "no-store")
	}
	if r.URL.Path == "/console" {
		http.Redirect(w, r, Prefix, http.StatusMovedPermanently)
		return
	}
	// The console's forms are small; a larger body is not the console's.
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	c.mux.ServeHTTP(w, r)
}

// maxFormBytes bounds a console form.
const maxFormBytes = 64 << 10

// secure reports whether the browser reaches the console over TLS (here,
// or at a proxy the public URL names).
func (c *Console) secure(r *http.Request) bool {
	return r.TLS != nil || strings.HasPrefix(strings.ToLower(c.cfg.PublicURL), "https://")
}

// sourceIP is the client's address without the port.
func sourceIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// loopback reports whether the client is on this machine.
func loopback(r *http.Request) bool {
	ip := net.ParseIP(sourceIP(r))
	return ip != nil && ip.IsLoopback()
}

// request is a signed-in request: its session and the caller.
type request struct {
	*http.Request
	sess *session
	p    *auth.Principal
	ctx  context.Context // the API call context (callContext)
}

// signed wraps a handler that needs a session: without one, GETs go to
// the sign-in page and changes are refused; every POST must pass the CSRF
// checks before anything else happens.
func (c *Console) signed(h func(http.ResponseWriter, *request)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		secure := c.secure(r)
		if r.Method == http.MethodPost && !sameOrigin(r, secure) {
			c.refuseCSRF(w, r)
			return
		}
		sess, err := c.sessions.read(r.Context(), w, r, secure)
		if err != nil && !errors.Is(err, errNoSession) {
			c.cfg.Logger.ErrorContext(r.Context(), "console session check failed", "err", err)
			http.Error(w, "The console cannot check sessions right now.", http.StatusServiceUnavailable)
			return
		}
		if sess == nil {
			if r.Method != http.MethodGet {
				c.refuseCSRF(w, r)
				return
			}
			http.Redirect(w, r, Prefix+"signin?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
			return
		}
		if r.Method == http.MethodPost && !csrfOK(r, secure, sess.CSRF) {
			c.refuseCSRF(w, r)
			return
		}
		if sess.Change && r.URL.Path != Prefix+"password" && r.URL.Path != Prefix+"signout" {
			// A password that must change first: nothing else.
			if r.Method != http.MethodGet {
				c.refuseCSRF(w, r)
				return
			}
			http.Redirect(w, r, Prefix+"password", http.StatusSeeOther)
			return
		}
		p := sess.Principal.principal()
		h(w, &request{Request: r, sess: sess, p: p, ctx: c.callContext(r, p)})
	}
}

// refuseCSRF answers a change that failed the CSRF checks (or has no
// session): 403, and nothing is done.
func (c *Console) refuseCSRF(w http.ResponseWriter, r *http.Request) {
	c.cfg.Logger.WarnContext(r.Context(), "console change refused: CSRF check failed", "path", clip(r.URL.Path), "source", sourceIP(r))
	c.render(w, r, http.StatusForbidden, "refused", &page{Title: "Request refused"})
}

func (c *Console) home(w http.ResponseWriter, r *http.Request) {
	http.Redirect(w, r, Prefix+"clusters", http.StatusSeeOther)
}

// clip shortens a value for a log line.
func clip(s string) string {
	if len(s) > 200 {
		return s[:200]
	}
	return s
}

// safeNext returns next if it is a console path to go back to after
// sign-in, else the clusters page (no open redirect).
func safeNext(next string) string {
	if strings.HasPrefix(next, Prefix) && !strings.HasPrefix(next, "//") && !strings.ContainsAny(next, "\\\r\n") &&
		!strings.HasPrefix(next, Prefix+"signin") && !strings.HasPrefix(next, Prefix+"feed/events") {
		return next
	}
	return Prefix + "clusters"
}
