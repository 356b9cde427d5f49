package console_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/podid/podid/internal/app"
	"github.com/podid/podid/internal/auth"
	"github.com/podid/podid/internal/console"
	"github.com/podid/podid/internal/iam"
	"github.com/podid/podid/internal/sharedcreds"
	"github.com/podid/podid/internal/testclock"
)

// env is a podid server (the real app: store, services, policy engine)
// with its console, served by httptest on loopback.
type env struct {
	app         *app.App
	srv         *httptest.Server
	clock       *testclock.Clock
	key, secret string
}

func newEnv(t *testing.T, tls bool) *env {
	t.Helper()
	return newEnvLog(t, tls, nil)
}

func newEnvLog(t *testing.T, tls bool, logger *slog.Logger, accounts ...string) *env {
	t.Helper()
	return newEnvConfig(t, tls, app.Config{Logger: logger, Accounts: accounts})
}

// newEnvConfig is newEnv with cfg's logger, accounts and access log.
func newEnvConfig(t *testing.T, tls bool, cfg app.Config) *env {
	t.Helper()
	clock := testclock.New(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	a, err := app.New(context.Background(), app.Config{DataDir: t.TempDir(), Now: clock.Now, PublicURL: "http://127.0.0.1", Getenv: func(string) string { return "" },
		Logger: cfg.Logger, Accounts: cfg.Accounts, AccessLog: cfg.AccessLog})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	secret, err := a.RootSecret(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	e := &env{app: a, clock: clock, key: a.RootAccessKeyID, secret: secret}
	if tls {
		e.srv = httptest.NewTLSServer(a.Handler)
	} else {
		e.srv = httptest.NewServer(a.Handler)
	}
	t.Cleanup(e.srv.Close)
	return e
}

// browser is a client with a cookie jar that does not follow redirects
// and sends the headers a browser sends on a same-origin form post.
type browser struct {
	t      *testing.T
	c      *http.Client
	base   string
	header http.Header
}

func (e *env) browser(t *testing.T) *browser {
	jar, _ := cookiejar.New(nil)
	c := *e.srv.Client() // a copy: each browser has its own jar
	c.Jar = jar
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &browser{t: t, c: &c, base: e.srv.URL, header: http.Header{"Origin": {e.srv.URL}, "Sec-Fetch-Site": {"same-origin"}}}
}

func (b *browser) get(path string) (*http.Response, string) {
	b.t.Helper()
	resp, err := b.c.Get(b.base + path)
	if err != nil {
		b.t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(body)
}

func (b *browser) post(path string, form url.Values) (*http.Response, string) {
	b.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, b.base+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, v := range b.header {
		req.Header[k] = v
	}
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(body)
}

var tokenRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func formToken(t *testing.T, body string) string {
	t.Helper()
	m := tokenRE.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no form token in page:\n%s", body)
	}
	return m[1]
}

// signIn signs in with the root key pair and returns the session's form
// token.
func (b *browser) signIn(key, secret string) (*http.Response, string) {
	b.t.Helper()
	_, page := b.get("/console/signin")
	resp, body := b.post("/console/signin", url.Values{"csrf": {formToken(b.t, page)}, "method": {"root"}, "accessKeyId": {key}, "secretAccessKey": {secret}, "next": {"/console/clusters"}})
	return resp, body
}

func (b *browser) mustSignIn(key, secret string) string {
	b.t.Helper()
	resp, body := b.signIn(key, secret)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/console/clusters" {
		b.t.Fatalf("sign-in: %d %s\n%s", resp.StatusCode, resp.Header.Get("Location"), body)
	}
	_, page := b.get("/console/clusters")
	return formToken(b.t, page)
}

func sessionCookie(t *testing.T, resp *http.Response) *http.Cookie {
	t.Helper()
	for _, c := range resp.Cookies() {
		if strings.Contains(c.Name, "podid-console") && !strings.Contains(c.Name, "signin") {
			return c
		}
	}
	t.Fatalf("no session cookie in %v", resp.Header["Set-Cookie"])
	return nil
}

func TestCookieFlags(t *testing.T) {
	for _, tc := range []struct {
		name       string
		tls        bool
		cookie     string
		path       string
		wantSecure bool
	}{
		{"loopback http", false, "podid-console", "/console/", false},
		{"tls", true, "__Host-podid-console", "/", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, tc.tls)
			b := e.browser(t)
			resp, body := b.signIn(e.key, e.secret)
			if resp.StatusCode != http.StatusSeeOther {
				t.Fatalf("sign-in: %d\n%s", resp.StatusCode, body)
			}
			c := sessionCookie(t, resp)
			if c.Name != tc.cookie || c.Path != tc.path || !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Secure != tc.wantSecure || c.Domain != "" {
				t.Errorf("cookie = %+v", c)
			}
			if c.MaxAge != int(console.DefaultAbsoluteTimeout/time.Second) {
				t.Errorf("Max-Age = %d, want the absolute lifetime %d", c.MaxAge, int(console.DefaultAbsoluteTimeout/time.Second))
			}
			if strings.Contains(c.Value, e.secret) || strings.Contains(c.Value, e.key) {
				t.Error("the cookie shows the key")
			}
			r, _ := b.get("/console/clusters")
			if r.StatusCode != http.StatusOK {
				t.Fatalf("clusters: %d", r.StatusCode)
			}
			for h, want := range map[string]string{"X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff", "Cache-Control": "no-store"} {
				if got := r.Header.Get(h); got != want {
					t.Errorf("%s = %q, want %q", h, got, want)
				}
			}
			if !strings.Contains(r.Header.Get("Content-Security-Policy"), "script-src 'self'") {
				t.Errorf("CSP = %q", r.Header.Get("Content-Security-Policy"))
			}
		})
	}
}

func TestSignInRefusals(t *testing.T) {
	e := newEnv(t, false)
	cases := []struct {
		name, key, secret string
	}{
		{"wrong secret", e.key, otherLast(e.secret)},
		{"unknown key", "AKIAAAAAAAAAAAAAAAAA", e.secret},
		{"empty secret", e.key, ""},
		{"not a key", "'; drop", e.secret},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := e.browser(t)
			resp, body := b.signIn(tc.key, tc.secret)
			if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, "SignInFailed") {
				t.Fatalf("got %d\n%s", resp.StatusCode, body)
			}
			for _, c := range resp.Cookies() {
				if c.Name == "podid-console" {
					t.Fatal("a refused sign-in set a session cookie")
				}
			}
		})
	}
	// An IAM user's access key is not the root's: refused.
	ctx := auth.WithPrincipal(context.Background(), auth.RootPrincipal("aws", app.DefaultAccountID, e.key))
	if _, err := e.app.IAM.CreateUser(ctx, &iam.CreateUserInput{UserName: "alice"}); err != nil {
		t.Fatal(err)
	}
	k, err := e.app.IAM.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	b := e.browser(t)
	if resp, body := b.signIn(k.AccessKey.AccessKeyID, k.AccessKey.SecretAccessKey); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("a user's key signed in: %d\n%s", resp.StatusCode, body)
	}
	// Without the form token (a page elsewhere posting the form): refused.
	b = e.browser(t)
	resp, _ := b.post("/console/signin", url.Values{"method": {"root"}, "accessKeyId": {e.key}, "secretAccessKey": {e.secret}})
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("sign-in without the form token: %d", resp.StatusCode)
	}
}

func TestSessionLifetimes(t *testing.T) {
	e := newEnv(t, false)
	b := e.browser(t)
	b.mustSignIn(e.key, e.secret)
	signedIn := func() bool {
		r, _ := b.get("/console/clusters")
		switch r.StatusCode {
		case http.StatusOK:
			return true
		case http.StatusSeeOther:
			if !strings.HasPrefix(r.Header.Get("Location"), "/console/signin") {
				t.Fatalf("redirected to %s", r.Header.Get("Location"))
			}
			return false
		}
		t.Fatalf("status %d", r.StatusCode)
		return false
	}
	// Activity within the idle timeout keeps the session for up to the
	// absolute lifetime.
	for elapsed := time.Duration(0); elapsed < console.DefaultAbsoluteTimeout-console.DefaultIdleTimeout; elapsed += console.DefaultIdleTimeout - time.Minute {
		e.clock.Advance(console.DefaultIdleTimeout - time.Minute)
		if !signedIn() {
			t.Fatalf("session ended after %v of activity", elapsed)
		}
	}
	e.clock.Advance(console.DefaultIdleTimeout)
	if signedIn() {
		t.Fatal("session outlived its absolute lifetime")
	}
	// Idle: a fresh session unused for the idle timeout ends.
	b = e.browser(t)
	b.mustSignIn(e.key, e.secret)
	e.clock.Advance(console.DefaultIdleTimeout)
	if signedIn() {
		t.Fatal("session outlived its idle timeout")
	}
}

// TestSignOutEndsSessionOnEveryReplica signs in on one console and out
// on another sharing the store and master key (two replicas): the cookie
// works on both, then on neither.
func TestSignOutEndsSessionOnEveryReplica(t *testing.T) {
	e := newEnv(t, false)
	other, err := console.New(console.Config{EKS: e.app.EKS, IAM: e.app.IAM, Keys: noKeys{}, Sealer: e.app.Keyring,
		Revocations: console.StoreRevocations{Store: e.app.Store}, AccountID: app.DefaultAccountID, Region: app.DefaultRegion, Now: e.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	srv2 := httptest.NewServer(other)
	defer srv2.Close()
	b := e.browser(t)
	b.mustSignIn(e.key, e.secret)
	u, _ := url.Parse(e.srv.URL + "/console/")
	cookies := b.c.Jar.Cookies(u)
	onReplica2 := func() int {
		req, _ := http.NewRequest(http.MethodGet, srv2.URL+"/console/clusters", nil)
		for _, c := range cookies {
			req.AddCookie(c)
		}
		resp, err := http.DefaultTransport.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := onReplica2(); got != http.StatusOK {
		t.Fatalf("replica 2 before sign-out: %d", got)
	}
	_, page := b.get("/console/clusters")
	resp, _ := b.post("/console/signout", url.Values{"csrf": {formToken(t, page)}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-out: %d", resp.StatusCode)
	}
	if got := onReplica2(); got != http.StatusSeeOther {
		t.Fatalf("replica 2 after sign-out: %d, want a redirect to sign-in", got)
	}
}

// recordingRevocations passes sign-outs to the store and remembers the
// session IDs it was given.
type recordingRevocations struct {
	console.StoreRevocations
	mu  sync.Mutex
	ids []string
}

func (r *recordingRevocations) Revoke(ctx context.Context, id string, until time.Time) error {
	r.mu.Lock()
	r.ids = append(r.ids, id)
	r.mu.Unlock()
	return r.StoreRevocations.Revoke(ctx, id, until)
}

func (r *recordingRevocations) last() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.ids[len(r.ids)-1]
}

// TestSignOutPrunesExpiredSignOuts: a sign-out deletes the revocations of
// sessions past their absolute expiry (and a grace for replicas' clocks),
// keeps those of sessions still within it, and a revoked session stays
// refused until its revocation is pruned.
func TestSignOutPrunesExpiredSignOuts(t *testing.T) {
	e := newEnv(t, false)
	rev := &recordingRevocations{StoreRevocations: console.StoreRevocations{Store: e.app.Store, Now: e.clock.Now}}
	c, err := console.New(console.Config{EKS: e.app.EKS, IAM: e.app.IAM, Keys: noKeys{}, Sealer: e.app.Keyring,
		Revocations: rev, AccountID: app.DefaultAccountID, Region: app.DefaultRegion, Now: e.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(c)
	defer srv.Close()
	signInOut := func() (id string, cookies []*http.Cookie) {
		t.Helper()
		// Signed in on the app's console, out on this one (a replica
		// sharing its store and master key, its sign-outs recorded).
		b := e.browser(t)
		token := b.mustSignIn(e.key, e.secret)
		u, _ := url.Parse(srv.URL + "/console/")
		cookies = b.c.Jar.Cookies(u)
		b.base, b.header = srv.URL, http.Header{"Origin": {srv.URL}, "Sec-Fetch-Site": {"same-origin"}}
		if resp, _ := b.post("/console/signout", url.Values{"csrf": {token}}); resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("sign-out: %d", resp.StatusCode)
		}
		return rev.last(), cookies
	}
	revoked := func(id string) bool {
		t.Helper()
		ok, err := rev.Revoked(t.Context(), id)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	status := func(cookies []*http.Cookie) int {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/console/clusters", nil)
		for _, c := range cookies {
			req.AddCookie(c)
		}
		resp, err := http.DefaultTransport.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}

	first, _ := signInOut() // expires 12 hours from now
	e.clock.Advance(11 * time.Hour)
	second, secondCookies := signInOut() // expires at 23 hours
	if !revoked(first) || !revoked(second) {
		t.Fatalf("after two sign-outs: first revoked %v, second %v", revoked(first), revoked(second))
	}
	// Just past the first session's expiry, within the grace: kept.
	e.clock.Advance(time.Hour + time.Minute)
	third, _ := signInOut()
	if !revoked(first) {
		t.Fatal("a sign-out within the grace after the session's expiry pruned its revocation")
	}
	// Past expiry and grace: the next sign-out prunes the first only.
	e.clock.Advance(5 * time.Minute)
	fourth, _ := signInOut()
	if revoked(first) {
		t.Error("the revocation of a session past its absolute expiry outlived a later sign-out")
	}
	for _, id := range []string{second, third, fourth} {
		if !revoked(id) {
			t.Errorf("session %s, still within its lifetime, lost its revocation", id)
		}
	}
	// The second session's cookie, replayed within its lifetime, is still
	// refused; the pruning took nothing it needed.
	if got := status(secondCookies); got != http.StatusSeeOther {
		t.Errorf("replayed cookie of a signed-out session: %d, want a redirect to sign-in", got)
	}
}

type noKeys struct{}

func (noKeys) LookupSecret(context.Context, string, string) (string, any, error) {
	return "", nil, errors.New("no keys here")
}

func TestCSRF(t *testing.T) {
	e := newEnv(t, false)
	b := e.browser(t)
	token := b.mustSignIn(e.key, e.secret)
	form := func(tok string) url.Values {
		return url.Values{"csrf": {tok}, "namespace": {"ns"}, "serviceAccount": {"sa"}, "roleArn": {"arn:aws:iam::123456789012:role/r"}}
	}
	for _, tc := range []struct {
		name   string
		header http.Header
		token  string
	}{
		{"no token", b.header, ""},
		{"wrong token", b.header, otherLast(token)},
		{"other origin", http.Header{"Origin": {"http://evil.example"}}, token},
		{"cross-site fetch", http.Header{"Sec-Fetch-Site": {"cross-site"}}, token},
		{"same-site but not same-origin", http.Header{"Sec-Fetch-Site": {"same-site"}}, token},
		{"origin null", http.Header{"Origin": {"null"}}, token},
	} {
		t.Run(tc.name, func(t *testing.T) {
			saved := b.header
			b.header = tc.header
			defer func() { b.header = saved }()
			resp, body := b.post("/console/clusters/c1/associations", form(tc.token))
			if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "csrf-refused") {
				t.Fatalf("got %d\n%s", resp.StatusCode, body)
			}
		})
	}
	// The same change with the token from the same origin reaches the
	// API (which answers: no such cluster).
	resp, body := b.post("/console/clusters/c1/associations", form(token))
	if resp.StatusCode != http.StatusNotFound || !strings.Contains(body, "ResourceNotFoundException") {
		t.Fatalf("got %d\n%s", resp.StatusCode, body)
	}
	// Another session's token is not this session's.
	b2 := e.browser(t)
	token2 := b2.mustSignIn(e.key, e.secret)
	if resp, _ := b.post("/console/clusters/c1/associations", form(token2)); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("another session's token: %d", resp.StatusCode)
	}
}

func TestSignInRateLimits(t *testing.T) {
	e := newEnv(t, false)
	h := e.app.Handler
	attempt := func(source, key string) int {
		// A fresh browser (form token) per attempt, from the given source.
		get := httptest.NewRequest(http.MethodGet, "/console/signin", nil)
		get.RemoteAddr = source + ":1234"
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, get)
		tok := formToken(t, rec.Body.String())
		form := url.Values{"csrf": {tok}, "method": {"root"}, "accessKeyId": {key}, "secretAccessKey": {"wrong"}}
		post := httptest.NewRequest(http.MethodPost, "/console/signin", strings.NewReader(form.Encode()))
		post.RemoteAddr = source + ":1234"
		post.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		for _, c := range rec.Result().Cookies() {
			post.AddCookie(c)
		}
		rec = httptest.NewRecorder()
		h.ServeHTTP(rec, post)
		if rec.Code == http.StatusTooManyRequests && rec.Header().Get("Retry-After") == "" {
			t.Fatal("429 without Retry-After")
		}
		return rec.Code
	}
	// Per user: five attempts on one key from different sources, then
	// refused from any source.
	for i := range 5 {
		if got := attempt("127.0.0."+string(rune('1'+i)), e.key); got != http.StatusUnauthorized {
			t.Fatalf("attempt %d: %d", i+1, got)
		}
	}
	if got := attempt("127.0.0.9", e.key); got != http.StatusTooManyRequests {
		t.Fatalf("sixth attempt on the key: %d, want 429", got)
	}
	// Per source: ten attempts from one address on different keys, then
	// refused.
	for i := range 10 {
		key := "AKIAAAAAAAAAAAAAAAA" + string(rune('A'+i))
		if got := attempt("127.0.1.1", key); got != http.StatusUnauthorized {
			t.Fatalf("source attempt %d: %d", i+1, got)
		}
	}
	if got := attempt("127.0.1.1", "AKIAAAAAAAAAAAAAAAAZ"); got != http.StatusTooManyRequests {
		t.Fatalf("eleventh attempt from the source: %d, want 429", got)
	}
	// Tokens come back with time: one per 30 s for the user.
	e.clock.Advance(30 * time.Second)
	if got := attempt("127.0.0.10", e.key); got != http.StatusUnauthorized {
		t.Fatalf("after 30 s: %d", got)
	}
}

// TestNoSecretsInLogs signs in (wrongly, then rightly), is refused a
// change, and signs out with the server logging at debug level: the log
// names the caller and never the secret, the cookie or the form token.
func TestNoSecretsInLogs(t *testing.T) {
	var buf bytes.Buffer
	var mu sync.Mutex
	e := newEnvLog(t, false, slog.New(slog.NewTextHandler(lockedWriter{&mu, &buf}, &slog.HandlerOptions{Level: slog.LevelDebug})))
	b := e.browser(t)
	if resp, _ := b.signIn(e.key, "wrong-secret-value"); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("wrong secret: %d", resp.StatusCode)
	}
	resp, _ := b.signIn(e.key, e.secret)
	cookie := sessionCookie(t, resp)
	_, page := b.get("/console/clusters")
	tok := formToken(t, page)
	b.post("/console/clusters/c1/associations", url.Values{"csrf": {"nope"}})
	b.post("/console/signout", url.Values{"csrf": {tok}})
	mu.Lock()
	log := buf.String()
	mu.Unlock()
	for _, want := range []string{"console sign-in failed", "console sign-in", "CSRF check failed", "console sign-out", "arn:aws:iam::123456789012:root"} {
		if !strings.Contains(log, want) {
			t.Errorf("the log lacks %q:\n%s", want, log)
		}
	}
	for name, secret := range map[string]string{"secret": e.secret, "wrong secret": "wrong-secret-value", "cookie": cookie.Value, "form token": tok} {
		if strings.Contains(log, secret) {
			t.Errorf("the log holds the %s", name)
		}
	}
}

// TestConsoleInMetricsAndAccessLog: console requests through the
// assembled server are counted in the API's request metrics and written
// to its access log as service "console" with the route's name as
// operation (unknown paths as "unknown"; never the path), with the
// signed-in caller, and without the secret key, password, cookie or form
// token.
func TestConsoleInMetricsAndAccessLog(t *testing.T) {
	var buf bytes.Buffer
	var mu sync.Mutex
	e := newEnvConfig(t, false, app.Config{AccessLog: true,
		Logger: slog.New(slog.NewJSONHandler(lockedWriter{&mu, &buf}, &slog.HandlerOptions{Level: slog.LevelInfo}))})
	b := e.browser(t)
	const marker = "cluster-name-marker-7d1f"
	steps := []struct {
		do     func() *http.Response
		op     string
		status int
		signed bool
	}{
		{func() *http.Response { r, _ := b.get("/console"); return r }, "redirect", 301, false},
		{func() *http.Response { r, _ := b.get("/console/static/console.css"); return r }, "static", 200, false},
		{func() *http.Response { r, _ := b.signIn(e.key, "wrong-secret-value"); return r }, "signin", 401, false},
		{func() *http.Response { r, _ := b.signIn(e.key, e.secret); return r }, "signin", 303, true},
		{func() *http.Response { r, _ := b.get("/console/clusters"); return r }, "clusters", 200, true},
		{func() *http.Response { r, _ := b.get("/console/clusters/" + marker); return r }, "cluster", 0, true},
		{func() *http.Response { r, _ := b.get("/console/no-such-page-" + marker); return r }, "unknown", 404, false},
	}
	// signIn gets the form first: one more request, signin-form.
	var wantOps []string
	var cookie *http.Cookie
	for i, st := range steps {
		resp := st.do()
		if st.status != 0 && resp.StatusCode != st.status {
			t.Fatalf("step %d (%s): status %d, want %d", i, st.op, resp.StatusCode, st.status)
		}
		if st.op == "signin" {
			wantOps = append(wantOps, "signin-form")
		}
		if st.op == "signin" && st.signed {
			cookie = sessionCookie(t, resp)
		}
		wantOps = append(wantOps, st.op)
	}
	_, page := b.get("/console/clusters")
	tok := formToken(t, page)
	if resp, _ := b.post("/console/signout", url.Values{"csrf": {tok}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-out: %d", resp.StatusCode)
	}
	wantOps = append(wantOps, "clusters", "signout")
	// An IAM user's password sign-in, and a failed one.
	const password = "Console-passw0rd-marker!"
	if _, err := e.app.IAM.CreateUser(e.rootCtx(), &iam.CreateUserInput{UserName: "dev"}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.app.IAM.CreateLoginProfile(e.rootCtx(), &iam.CreateLoginProfileInput{UserName: "dev", Password: password}); err != nil {
		t.Fatal(err)
	}
	for _, pw := range []string{password + "x", password} {
		_, page := b.get("/console/signin")
		b.post("/console/signin", url.Values{"csrf": {formToken(t, page)}, "method": {"user"}, "account": {app.DefaultAccountID}, "userName": {"dev"}, "password": {pw}})
		wantOps = append(wantOps, "signin-form", "signin")
	}

	mu.Lock()
	logs := buf.String()
	mu.Unlock()
	var ops []string
	var callers []any
	counted := map[string]int{}
	const root, dev = "arn:aws:iam::123456789012:root", "arn:aws:iam::123456789012:user/dev"
	for _, l := range strings.Split(strings.TrimSpace(logs), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("not JSON: %q", l)
		}
		if m["msg"] != "access" {
			continue
		}
		if m["service"] != "console" {
			t.Errorf("access line of a console request with service %v: %s", m["service"], l)
		}
		op, _ := m["operation"].(string)
		ops = append(ops, op)
		counted[op+"/"+strconv.Itoa(int(m["status"].(float64)))]++
		callers = append(callers, m["caller"])
	}
	if !slices.Equal(ops, wantOps) {
		t.Errorf("access log operations = %q, want %q", ops, wantOps)
	}
	// The caller once known: from the successful sign-in on.
	wantCallers := []any{nil, nil, nil, nil, nil, root, root, root, nil, root, root, nil, nil, nil, dev}
	if !slices.Equal(callers, wantCallers) {
		t.Errorf("access log callers = %q, want %q", callers, wantCallers)
	}
	for name, secret := range map[string]string{"secret": e.secret, "wrong secret": "wrong-secret-value", "cookie": cookie.Value, "form token": tok, "path": marker, "password": password} {
		if strings.Contains(logs, secret) {
			t.Errorf("the log holds the %s", name)
		}
	}

	// The same requests in the API's request counter, by operation and
	// status; nothing from the path in any label.
	mfs, err := e.app.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	metered := map[string]int{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
				if strings.Contains(l.GetValue(), marker) {
					t.Errorf("%s has a label from the path: %s", mf.GetName(), l.GetValue())
				}
			}
			if mf.GetName() == "podid_api_requests_total" && labels["service"] == "console" {
				metered[labels["action"]+"/"+labels["code"]] = int(m.GetCounter().GetValue())
			}
			if mf.GetName() == "podid_api_request_duration_seconds" && labels["service"] == "console" && int(m.GetHistogram().GetSampleCount()) != len(wantOps) {
				t.Errorf("console latency samples = %d, want %d", m.GetHistogram().GetSampleCount(), len(wantOps))
			}
		}
	}
	if !maps.Equal(metered, counted) || len(metered) == 0 {
		t.Errorf("podid_api_requests_total{service=console} = %v, want what the access log shows: %v", metered, counted)
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// otherLast returns s with its last character changed.
func otherLast(s string) string {
	if strings.HasSuffix(s, "x") {
		return s[:len(s)-1] + "y"
	}
	return s[:len(s)-1] + "x"
}

// TestOtherAccountRoot: the root of a further hosted account signs in
// and sees its own account's IAM (its roles, not the primary's).
func TestOtherAccountRoot(t *testing.T) {
	e := newEnvLog(t, false, nil, "210987654321")
	e.seed(t, 0) // role r1 in the primary account
	data, err := os.ReadFile(filepath.Join(e.app.RootCredentialsPath + "-210987654321"))
	if err != nil {
		t.Fatal(err)
	}
	k, err := sharedcreds.Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	b := e.browser(t)
	b.mustSignIn(k.AccessKeyID, k.SecretAccessKey)
	_, body := b.get("/console/roles")
	if !strings.Contains(body, "arn:aws:iam::210987654321:root") || strings.Contains(body, "/console/roles/r1") {
		t.Fatalf("roles page of the other account:\n%s", body)
	}
	_, body = b.get("/console/roles/r1")
	if !strings.Contains(body, "NoSuchEntity") {
		t.Fatalf("the other account reads the primary's role:\n%s", body)
	}
}

// TestPlainHTTPOnlyFromLoopback: over plain HTTP the console signs in only
// a browser on a loopback address; from anywhere else the form says why
// and even the right key is refused (the cookie would cross the network
// in the clear).
func TestPlainHTTPOnlyFromLoopback(t *testing.T) {
	e := newEnv(t, false)
	h := e.app.Handler
	signIn := func(source string) (int, string) {
		get := httptest.NewRequest(http.MethodGet, "/console/signin", nil)
		get.RemoteAddr = source + ":1234"
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, get)
		if source != "127.0.0.1" && (rec.Code != http.StatusForbidden || !strings.Contains(rec.Body.String(), "InsecureTransport")) {
			t.Errorf("sign-in form from %s over HTTP: %d, want 403 naming InsecureTransport", source, rec.Code)
		}
		form := url.Values{"csrf": {formToken(t, rec.Body.String())}, "method": {"root"}, "accessKeyId": {e.key}, "secretAccessKey": {e.secret}}
		post := httptest.NewRequest(http.MethodPost, "/console/signin", strings.NewReader(form.Encode()))
		post.RemoteAddr = source + ":1234"
		post.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		for _, c := range rec.Result().Cookies() {
			post.AddCookie(c)
		}
		rec = httptest.NewRecorder()
		h.ServeHTTP(rec, post)
		return rec.Code, rec.Body.String()
	}
	if code, body := signIn("127.0.0.1"); code != http.StatusSeeOther {
		t.Errorf("right key from loopback over HTTP: %d, want 303\n%s", code, body)
	}
	if code, body := signIn("192.0.2.10"); code != http.StatusForbidden || !strings.Contains(body, "InsecureTransport") {
		t.Errorf("right key from 192.0.2.10 over HTTP: %d, want 403 InsecureTransport\n%s", code, body)
	}
}
