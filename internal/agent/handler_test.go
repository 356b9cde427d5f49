package agent

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestCredentialsResponse(t *testing.T) {
	f := newFakeEKSAuth(t)
	fixed := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	f.set(func(f *fakeEKSAuth) { f.now = func() time.Time { return fixed } })
	a := newTestAgent(t, f, func(c *Config) { c.Now = func() time.Time { return fixed } })
	tok := podToken("carts", "carts-sa", "uid-1", fixed.Add(12*time.Hour), "sig")

	w := get(a, "169.254.170.23", tok)
	if w.Code != 200 {
		t.Fatalf("status %d, body %q", w.Code, w.Body)
	}
	want := `{"AccessKeyId":"ASIA0000000000000001","SecretAccessKey":"secret-uid-1","Token":"session-uid-1","AccountId":"111122223333","Expiration":"2026-11-25T16:00:00Z"}`
	if got := w.Body.String(); got != want {
		t.Errorf("body\n got %s\nwant %s", got, want)
	}
	if ct := w.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	if cl := w.Header().Get("Content-Length"); cl != fmt.Sprint(len(want)) {
		t.Errorf("Content-Length %q", cl)
	}
	if n := f.badSigned.Load(); n != 0 {
		t.Errorf("%d EKS Auth requests had a bad SigV4 signature", n)
	}
	if got := f.seenTokens(); len(got) != 1 || got[0] != tok {
		t.Errorf("EKS Auth saw tokens %q", got)
	}

	// Fractional expiration keeps its milliseconds, in UTC with Z.
	f.set(func(f *fakeEKSAuth) { f.lifetime = 6*time.Hour + 250*time.Millisecond })
	w = get(a, "169.254.170.23", podToken("carts", "carts-sa", "uid-2", fixed.Add(12*time.Hour), "sig"))
	if !strings.Contains(w.Body.String(), `"Expiration":"2026-11-25T16:00:00.25Z"`) {
		t.Errorf("fractional expiration: %s", w.Body)
	}
}

func TestRequestRefusals(t *testing.T) {
	f := newFakeEKSAuth(t)
	a := newTestAgent(t, f)
	now := time.Now()
	good := podToken("ns", "sa", "uid", now.Add(time.Hour), "sig")
	hdr := `{"alg":"RS256"}`
	b64 := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	tests := []struct {
		name   string
		host   string
		token  string
		status int
		body   string
	}{
		{"host localhost", "localhost", good, 403,
			"Access Denied. Called agent through invalid address, please use either [169.254.170.23 fd00:ec2::23] address not localhost\n"},
		{"host node IP with port", "10.0.0.1:80", good, 403,
			"Access Denied. Called agent through invalid address, please use either [169.254.170.23 fd00:ec2::23] address not 10.0.0.1\n"},
		{"host near miss", "169.254.170.230", good, 403,
			"Access Denied. Called agent through invalid address, please use either [169.254.170.23 fd00:ec2::23] address not 169.254.170.230\n"},
		{"no token", "169.254.170.23", "", 400, "Service account token cannot be empty\n"},
		{"bearer prefix", "169.254.170.23", "Bearer " + good, 400, "Service account token cannot be parsed: token is malformed\n"},
		{"two segments", "169.254.170.23", "abc.def", 400, "Service account token cannot be parsed: token is malformed\n"},
		{"empty signature", "169.254.170.23", b64(hdr) + "." + b64(`{}`) + ".", 400, "Service account token cannot be parsed: token is malformed\n"},
		{"header not json", "169.254.170.23", b64("nope") + "." + b64(`{}`) + ".c2ln", 400,
			"Service account token cannot be parsed: token is malformed: header is not a JSON object\n"},
		{"unknown alg", "169.254.170.23", b64(`{"alg":"XX1"}`) + "." + b64(`{}`) + ".c2ln", 400,
			"Service account token cannot be parsed: token is malformed: signing method (alg) is unavailable\n"},
		{"exp is a word", "169.254.170.23", b64(hdr) + "." + b64(`{"exp":"soon"}`) + ".c2ln", 400,
			"Service account token cannot be parsed: token is malformed: claims are not a JSON object of the expected types\n"},
		{"expired", "169.254.170.23", podToken("ns", "sa", "uid", now.Add(-time.Second), "sig"), 400,
			"Service account token failed basic claim validations: token has invalid claims: token is expired\n"},
		{"not yet valid", "169.254.170.23", b64(hdr) + "." + b64(fmt.Sprintf(`{"nbf":%d}`, now.Add(time.Hour).Unix())) + ".c2ln", 400,
			"Service account token failed basic claim validations: token has invalid claims: token is not valid yet\n"},
		{"too large", "169.254.170.23", strings.Repeat("a", MaxTokenBytes+1), 400,
			"Service account token cannot be parsed: token is too large\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := get(a, tc.host, tc.token)
			if w.Code != tc.status || w.Body.String() != tc.body {
				t.Errorf("got %d %q, want %d %q", w.Code, w.Body, tc.status, tc.body)
			}
			if ct := w.Header().Get("Content-Type"); ct != "text/plain; charset=utf-8" {
				t.Errorf("Content-Type %q", ct)
			}
		})
	}
	if n := f.calls.Load(); n != 0 {
		t.Errorf("refused requests made %d EKS Auth calls", n)
	}
}

func TestHostForms(t *testing.T) {
	f := newFakeEKSAuth(t)
	a := newTestAgent(t, f)
	tok := podToken("ns", "sa", "uid", time.Now().Add(time.Hour), "sig")
	for _, host := range []string{"169.254.170.23", "169.254.170.23:80", "[fd00:ec2::23]", "[fd00:ec2::23]:80", "fd00:ec2::23"} {
		if w := get(a, host, tok); w.Code != 200 {
			t.Errorf("Host %q: %d %q", host, w.Code, w.Body)
		}
	}
}

func TestPathsAndMethods(t *testing.T) {
	f := newFakeEKSAuth(t)
	a := newTestAgent(t, f)
	tok := podToken("ns", "sa", "uid", time.Now().Add(time.Hour), "sig")
	for _, tc := range []struct {
		method, target string
		status         int
	}{
		{"GET", "/v1/credentials", 200},
		{"POST", "/v1/credentials", 200},
		{"GET", "/v1/credentials?x=1", 200},
		{"GET", "/v1/credentials/", 404},
		{"GET", "/", 404},
		{"GET", "/v2/credentials", 404},
	} {
		r := httptest.NewRequest(tc.method, "http://169.254.170.23"+tc.target, nil)
		r.Header.Set("Authorization", tok)
		w := httptest.NewRecorder()
		a.ServeHTTP(w, r)
		if w.Code != tc.status {
			t.Errorf("%s %s: %d", tc.method, tc.target, w.Code)
		}
	}
}

func TestUpstreamErrorsPassThrough(t *testing.T) {
	tests := []struct {
		name   string
		reply  fakeReply
		status int
		body   string
		calls  int64
	}{
		{"invalid token", fakeReply{status: 400, code: "InvalidTokenException", msg: "The specified Kubernetes service account token is invalid."},
			400, "[req-1]: (InvalidTokenException): The specified Kubernetes service account token is invalid., fault: client\n", 1},
		{"access denied", fakeReply{status: 400, code: "AccessDeniedException", msg: "denied"},
			400, "[req-1]: (AccessDeniedException): denied, fault: client\n", 1},
		{"no association", fakeReply{status: 404, code: "ResourceNotFoundException", msg: "no association"},
			404, "[req-1]: (ResourceNotFoundException): no association, fault: client\n", 1},
		{"namespaced code", fakeReply{status: 400, code: "com.amazonaws.eksauth#ExpiredTokenException:http://internal", msg: "expired"},
			400, "[req-1]: (ExpiredTokenException): expired, fault: client\n", 1},
		{"missing member", fakeReply{status: 200, body: `{"credentials":{"accessKeyId":"A","secretAccessKey":"S","sessionToken":"T","expiration":1}}`},
			500, "invalid response from EKS Auth: assumedRoleUser.arn is not an ARN\n", 1},
		{"string expiration", fakeReply{status: 200, body: `{"assumedRoleUser":{"arn":"arn:aws:sts::1:assumed-role/r/s"},"podIdentityAssociation":{"associationId":"a-1"},"credentials":{"accessKeyId":"A","secretAccessKey":"S","sessionToken":"T","expiration":"2030-01-01T00:00:00Z"}}`},
			500, "invalid response from EKS Auth: credentials.expiration is not epoch seconds\n", 1},
		{"already expired", fakeReply{status: 200, body: `{"assumedRoleUser":{"arn":"arn:aws:sts::1:assumed-role/r/s"},"podIdentityAssociation":{"associationId":"a-1"},"credentials":{"accessKeyId":"A","secretAccessKey":"S","sessionToken":"T","expiration":1000}}`},
			500, "fetched credentials are expired or will expire within the next 15 seconds\n", 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeEKSAuth(t)
			f.set(func(f *fakeEKSAuth) { f.script = []fakeReply{tc.reply} })
			a := newTestAgent(t, f)
			w := get(a, "169.254.170.23", podToken("ns", "sa", "uid", time.Now().Add(time.Hour), "sig"))
			if w.Code != tc.status || w.Body.String() != tc.body {
				t.Errorf("got %d %q, want %d %q", w.Code, w.Body, tc.status, tc.body)
			}
			if n := f.calls.Load(); n != tc.calls {
				t.Errorf("%d EKS Auth calls, want %d", n, tc.calls)
			}
		})
	}
}

func TestRetriesStayInsideDeadline(t *testing.T) {
	t.Run("5xx then success", func(t *testing.T) {
		f := newFakeEKSAuth(t)
		f.set(func(f *fakeEKSAuth) {
			f.script = []fakeReply{{status: 503, code: "ServiceUnavailableException", msg: "busy"}, {status: 500, code: "InternalServerException", msg: "oops"}}
		})
		a := newTestAgent(t, f)
		w := get(a, "169.254.170.23", podToken("ns", "sa", "uid", time.Now().Add(time.Hour), "sig"))
		if w.Code != 200 || f.calls.Load() != 3 {
			t.Errorf("got %d after %d calls, want 200 after 3", w.Code, f.calls.Load())
		}
	})
	t.Run("throttled", func(t *testing.T) {
		f := newFakeEKSAuth(t)
		f.set(func(f *fakeEKSAuth) {
			f.script = []fakeReply{{status: 429, code: "ThrottlingException", msg: "Rate exceeded"}}
		})
		a := newTestAgent(t, f)
		w := get(a, "169.254.170.23", podToken("ns", "sa", "uid", time.Now().Add(time.Hour), "sig"))
		if w.Code != 200 || f.calls.Load() != 2 {
			t.Errorf("got %d after %d calls, want 200 after 2", w.Code, f.calls.Load())
		}
	})
	t.Run("slow upstream", func(t *testing.T) {
		f := newFakeEKSAuth(t)
		f.set(func(f *fakeEKSAuth) { f.delay = 5 * time.Second })
		a := newTestAgent(t, f, func(c *Config) {
			c.UpstreamTimeout = 400 * time.Millisecond
			c.AttemptTimeout = 200 * time.Millisecond
		})
		start := time.Now()
		w := get(a, "169.254.170.23", podToken("ns", "sa", "uid", time.Now().Add(time.Hour), "sig"))
		took := time.Since(start)
		if w.Code != 503 || !strings.HasPrefix(w.Body.String(), "call EKS Auth: ") {
			t.Errorf("got %d %q", w.Code, w.Body)
		}
		if took > 2*time.Second {
			t.Errorf("took %v, beyond the 400ms deadline", took)
		}
		if n := f.calls.Load(); n != 2 {
			t.Errorf("%d calls, want 2 (one retry fits the deadline)", n)
		}
	})
	t.Run("unreachable", func(t *testing.T) {
		f := newFakeEKSAuth(t)
		a := newTestAgent(t, f, func(c *Config) { c.Endpoint = "http://127.0.0.1:1" })
		w := get(a, "169.254.170.23", podToken("ns", "sa", "uid", time.Now().Add(time.Hour), "sig"))
		if w.Code != 500 || !strings.HasPrefix(w.Body.String(), "call EKS Auth: ") {
			t.Errorf("got %d %q", w.Code, w.Body)
		}
	})
}

func TestNoSecretsInErrors(t *testing.T) {
	f := newFakeEKSAuth(t)
	f.set(func(f *fakeEKSAuth) { f.script = []fakeReply{{status: 400, code: "InvalidTokenException", msg: "bad"}} })
	a := newTestAgent(t, f)
	tok := podToken("ns", "sa", "uid", time.Now().Add(time.Hour), "secret-signature")
	w := get(a, "169.254.170.23", tok)
	sig := tok[strings.LastIndexByte(tok, '.')+1:]
	if strings.Contains(w.Body.String(), sig) || strings.Contains(w.Body.String(), testSecret) {
		t.Errorf("error body leaks a secret: %q", w.Body)
	}
}

func TestStripPort(t *testing.T) {
	for in, want := range map[string]string{
		"169.254.170.23":     "169.254.170.23",
		"169.254.170.23:80":  "169.254.170.23",
		"[fd00:ec2::23]:80":  "fd00:ec2::23",
		"[fd00:ec2::23]":     "fd00:ec2::23",
		"fd00:ec2::23":       "fd00:ec2::23",
		"[fd00:ec2::23":      "[fd00:ec2::23",
		"":                   "",
		"host:":              "host",
		"a:b:c":              "a:b:c",
		"example.com:8080":   "example.com",
		"[]":                 "",
		"[::1]:x":            "::1",
		"169.254.170.23:abc": "169.254.170.23",
	} {
		if got := stripPort(in); got != want {
			t.Errorf("stripPort(%q) = %q, want %q", in, got, want)
		}
	}
}

// FuzzHandler feeds arbitrary Host and Authorization values to the
// handler: it must never panic, and anything that is not a well-formed,
// time-valid JWT must be refused without an EKS Auth call.
func FuzzHandler(f *testing.F) {
	now := time.Now()
	f.Add("169.254.170.23", podToken("ns", "sa", "uid", now.Add(time.Hour), "sig"))
	f.Add("169.254.170.23", "a.b.c")
	f.Add("[fd00:ec2::23]:80", "eyJhbGciOiJub25lIn0.e30.x")
	f.Add("169.254.170.23", "eyJhbGciOiJSUzI1NiJ9.eyJleHAiOjF9.c2ln")
	f.Add("x", "")
	f.Add("169.254.170.23", "\x00.\xff.=")
	fake := newFakeEKSAuth(f)
	a := newTestAgent(f, fake, func(c *Config) { c.UpstreamTimeout = 200 * time.Millisecond })
	f.Fuzz(func(t *testing.T, host, token string) {
		r := httptest.NewRequest(http.MethodGet, "http://169.254.170.23/v1/credentials", nil)
		r.Host = host
		r.Header["Authorization"] = []string{token}
		before := fake.calls.Load()
		w := httptest.NewRecorder()
		a.ServeHTTP(w, r)
		called := fake.calls.Load() != before
		if called && (!tokenShapeOK(token) || !a.hostAllowed(stripPort(host))) {
			t.Errorf("EKS Auth called for Host %q token %q", host, token)
		}
		if cl, err := parseToken(token); called && (err != nil || cl.validAt(time.Now()) != nil) {
			t.Errorf("EKS Auth called for an invalid token %q", token)
		}
		if w.Code == 0 {
			t.Errorf("no status")
		}
	})
}
