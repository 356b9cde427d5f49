package server

import (
	"bufio"
	"bytes"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/podid/podid/internal/awsproto"
)

// TestLimitsDefaults: zero limits take the documented defaults, and the
// HTTP server gets the timeouts (no write timeout: the change feed
// streams).
func TestLimitsDefaults(t *testing.T) {
	l := Limits{}.WithDefaults()
	want := Limits{MaxBodyBytes: 1 << 20, MaxInflightBodyBytes: 64 << 20, MaxConnections: 1024,
		ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second, IdleTimeout: 2 * time.Minute}
	if l != want {
		t.Fatalf("defaults = %+v, want %+v", l, want)
	}
	srv := Limits{ReadTimeout: 5 * time.Second}.HTTPServer(http.NotFoundHandler(), nil)
	if srv.ReadTimeout != 5*time.Second || srv.ReadHeaderTimeout != 10*time.Second || srv.IdleTimeout != 2*time.Minute ||
		srv.WriteTimeout != 0 || srv.MaxHeaderBytes != 64<<10 {
		t.Errorf("server = %+v", srv)
	}
}

// TestConnectionLimit: with MaxConnections open, a further connection is
// not served until one closes.
func TestConnectionLimit(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	lim := Limits{MaxConnections: 2}
	srv := lim.HTTPServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok") }), nil)
	go srv.Serve(lim.Listener(ln))
	t.Cleanup(func() { srv.Close() })
	dial := func() net.Conn {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	get := func(c net.Conn, wait time.Duration) (string, error) {
		io.WriteString(c, "GET / HTTP/1.1\r\nHost: h\r\n\r\n")
		c.SetReadDeadline(time.Now().Add(wait))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			return "", err
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return string(b), nil
	}
	first, second := dial(), dial()
	if out, err := get(first, 10*time.Second); err != nil || out != "ok" {
		t.Fatalf("first: %q %v", out, err)
	}
	if out, err := get(second, 10*time.Second); err != nil || out != "ok" {
		t.Fatalf("second: %q %v", out, err)
	}
	third := dial()
	if out, err := get(third, 300*time.Millisecond); err == nil {
		t.Fatalf("a third connection was served over the limit of 2: %q", out)
	}
	first.Close()
	third.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(third), nil)
	if err != nil {
		t.Fatalf("third after one closed: %v", err)
	}
	resp.Body.Close()
}

// FuzzEdge sends arbitrary methods, paths, headers and bodies through the
// edge: it must never panic, never answer a 5xx, and always answer with a
// request ID and, for errors, the protocol's error shape; the request
// metrics keep bounded labels.
func FuzzEdge(f *testing.F) {
	f.Add("POST", "/", "Content-Type", "application/x-www-form-urlencoded", "Action=%FF&Version=2011-06-15")
	f.Add("POST", "/", "Authorization", "AWS4-HMAC-SHA256 Credential=AKIA/20261206/us-west-2/\xff\xfe/aws4_request, SignedHeaders=host, Signature=00", "Action=ListRoles")
	f.Add("GET", "/clusters/c/assume-role-for-pod-identity", "X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD", "")
	f.Add("GET", "/?Action=AssumeRoleWithWebIdentity&PolicyArns.member.1.arn=x", "", "", "")
	f.Add("PUT", "/x/y", "Content-Length", "99999999", "{}")
	reg := prometheus.NewRegistry()
	e := New(Config{
		Verifier: &awsproto.Verifier{Lookup: lookup{}},
		Services: testServices("ListRoles"),
		Region:   "us-west-2", Metrics: NewMetrics(reg), Logger: slog.New(slog.DiscardHandler), MaxBodyBytes: 4096,
	})
	f.Fuzz(func(t *testing.T, method, target, hk, hv, body string) {
		u, err := url.ParseRequestURI(target)
		if err != nil || method == "" || strings.ContainsAny(method, " \t\r\n") {
			return
		}
		r := httptest.NewRequest(http.MethodGet, "http://podid.test/", nil)
		r.Method, r.URL, r.RequestURI = method, u, target
		r.Body, r.ContentLength = io.NopCloser(strings.NewReader(body)), int64(len(body))
		if hk != "" {
			r.Header[http.CanonicalHeaderKey(hk)] = []string{hv}
		}
		w := httptest.NewRecorder()
		e.ServeHTTP(w, r)
		if w.Code >= 500 {
			t.Fatalf("%s %s: HTTP %d %s", method, target, w.Code, w.Body.String())
		}
		if w.Header().Get("x-amzn-RequestId") == "" {
			t.Fatalf("%s %s: no request ID", method, target)
		}
		if w.Code >= 400 && !bytes.Contains(w.Body.Bytes(), []byte("<Code>")) && !bytes.Contains(w.Body.Bytes(), []byte(`"__type"`)) {
			t.Fatalf("%s %s: HTTP %d without an error shape: %q", method, target, w.Code, w.Body.String())
		}
		if mfs, err := reg.Gather(); err != nil {
			t.Fatalf("gather: %v", err)
		} else {
			for _, mf := range mfs {
				if len(mf.GetMetric()) > 60 {
					t.Fatalf("%s has %d series", mf.GetName(), len(mf.GetMetric()))
				}
			}
		}
	})
}
