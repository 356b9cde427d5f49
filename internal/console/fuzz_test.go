package console

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/podid/podid/internal/auth"
	"github.com/podid/podid/internal/secrets"
)

// FuzzSessionCookie opens arbitrary cookie values: never a panic, and a
// session only from a value this keyring sealed with valid fields.
func FuzzSessionCookie(f *testing.F) {
	kr, err := secrets.New(secrets.GenerateKey())
	if err != nil {
		f.Fatal(err)
	}
	s := &sessions{sealer: kr, now: time.Now, idle: DefaultIdleTimeout, abs: DefaultAbsoluteTimeout}
	good := &session{ID: randomToken(18), Principal: claimOf(auth.RootPrincipal("aws", "123456789012", "AKIA")), Issued: 1, Seen: 1, CSRF: randomToken(32)}
	body, _ := json.Marshal(good)
	sealed, _ := kr.Seal(body, sessionAD)
	f.Add(base64.RawURLEncoding.EncodeToString(sealed))
	f.Add("")
	f.Add("not base64!")
	f.Add(strings.Repeat("A", 5000))
	other, _ := kr.Seal(body, preAD)
	f.Add(base64.RawURLEncoding.EncodeToString(other))
	f.Fuzz(func(t *testing.T, value string) {
		sess, err := s.open(value)
		if err != nil {
			return
		}
		raw, derr := base64.RawURLEncoding.DecodeString(value)
		if derr != nil {
			t.Fatalf("opened a value that is not base64: %q", value)
		}
		if _, oerr := kr.Open(raw, sessionAD); oerr != nil {
			t.Fatal("opened a value the keyring did not seal as a session")
		}
		if len(sess.CSRF) < 32 || len(sess.ID) < 16 || (sess.Principal.Type != auth.Root && sess.Principal.Type != auth.User) {
			t.Fatalf("accepted session %+v", sess)
		}
	})
}

// FuzzParseSession decodes arbitrary session JSON (what a sealed cookie
// holds): never a panic, and only sessions with their fields.
func FuzzParseSession(f *testing.F) {
	f.Add(`{"id":"aaaaaaaaaaaaaaaaaaaaaaaa","p":{"t":"root","a":"123456789012","arn":"arn:aws:iam::123456789012:root"},"iat":1,"seen":1,"csrf":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}`)
	f.Add(`{"p":{"t":"assumed-role"}}`)
	f.Add(`[]`)
	f.Fuzz(func(t *testing.T, body string) {
		sess, err := parseSession([]byte(body))
		if err != nil {
			return
		}
		if sess.Principal.ARN == "" || sess.Principal.AccountID == "" || len(sess.CSRF) < 32 {
			t.Fatalf("accepted %+v", sess)
		}
	})
}

// FuzzOriginAndNext checks the CSRF origin test and the sign-in redirect
// target on arbitrary headers: a cross-origin Origin is never accepted,
// and sign-in never redirects outside the console.
func FuzzOriginAndNext(f *testing.F) {
	f.Add("http://127.0.0.1:8080", "127.0.0.1:8080", "same-origin", "/console/clusters")
	f.Add("https://evil.example", "podid.example", "", "//evil.example/console/")
	f.Add("null", "podid.example", "cross-site", "/console/\\evil")
	f.Add("http://a@127.0.0.1:8080", "127.0.0.1:8080", "", "https://evil.example")
	f.Fuzz(func(t *testing.T, origin, host, site, next string) {
		r, err := http.NewRequest(http.MethodPost, "http://podid.internal/console/x", nil)
		if err != nil {
			return
		}
		r.Host = host
		if origin != "" {
			r.Header.Set("Origin", origin)
		}
		if site != "" {
			r.Header.Set("Sec-Fetch-Site", site)
		}
		if sameOrigin(r, false) {
			if site != "" && site != "same-origin" {
				t.Fatalf("accepted Sec-Fetch-Site %q", site)
			}
			if origin != "" && !strings.EqualFold(origin, "http://"+host) {
				t.Fatalf("accepted Origin %q for host %q", origin, host)
			}
		}
		got := safeNext(next)
		if !strings.HasPrefix(got, Prefix) || strings.HasPrefix(got, "//") || strings.ContainsAny(got, "\\\r\n") {
			t.Fatalf("safeNext(%q) = %q", next, got)
		}
	})
}
