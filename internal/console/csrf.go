package console

import (
	"net/http"
	"net/url"
	"strings"
)

// csrfField is the form field that carries the synchronizer token.
const csrfField = "csrf"

// sameOrigin reports whether a state-changing request comes from the
// console's own pages: Sec-Fetch-Site, when the browser sends it, must be
// same-origin, and Origin, when present, must be this server's own
// (scheme and host). Browsers send at least one of them on every POST;
// a request with neither is judged by its token alone.
func sameOrigin(r *http.Request, secure bool) bool {
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" {
		return false
	}
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" || u.Path != "" || u.RawQuery != "" || u.User != nil {
		return false
	}
	scheme := "http"
	if secure {
		scheme = "https"
	}
	return u.Scheme == scheme && strings.EqualFold(u.Host, r.Host)
}

// csrfOK checks a change: same origin, and the form's token equal (in
// constant time) to the session's.
func csrfOK(r *http.Request, secure bool, sessionToken string) bool {
	return sameOrigin(r, secure) && equalTokens(r.PostFormValue(csrfField), sessionToken)
}
