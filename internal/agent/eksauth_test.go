package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestDecodeAssumeOutput(t *testing.T) {
	good, err := os.ReadFile(filepath.Join("testdata", "assume-role-for-pod-identity.json"))
	if err != nil {
		t.Fatal(err)
	}
	res, err := decodeAssumeOutput(good)
	if err != nil {
		t.Fatal(err)
	}
	want := assumeResult{
		Namespace: "carts", ServiceAccount: "carts", AssociationID: "a-abcdefghijklmnop1", AccountID: "123456789000",
		AccessKeyID: "ASIAIOSFODNN7EXAMPLE", SecretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
		SessionToken: "IQoJb3JpZ2luX2VjE...", Expiration: time.Date(2024, 1, 9, 22, 16, 38, 0, time.UTC),
	}
	if *res != want {
		t.Errorf("got %+v\nwant %+v", *res, want)
	}

	replace := func(old, new string) []byte { return []byte(strings.Replace(string(good), old, new, 1)) }
	for _, tc := range []struct {
		name string
		body []byte
		err  string
	}{
		{"fractional expiration", replace("1704838598", "1704838598.1234"), ""},
		{"string expiration", replace("1704838598", `"2024-01-09T22:16:38Z"`), "credentials.expiration is not epoch seconds"},
		{"null expiration", replace("1704838598", `null`), "credentials.expiration is not epoch seconds"},
		{"zero expiration", replace("1704838598", `0`), "credentials.expiration is not epoch seconds"},
		{"no session token", replace(`"sessionToken": "IQoJb3JpZ2luX2VjE...",`, ""), "credentials missing"},
		{"bad arn", replace("arn:aws:sts::123456789000:assumed-role", "sts-123456789000"), "assumedRoleUser.arn is not an ARN"},
		{"seed-style arn", replace("arn:aws:sts::123456789000:assumed-role/eks-workshop-carts-dynamo/", "arn:aws::123456789000:assumed-role/x/"), "assumedRoleUser.arn is not an ARN"},
		{"no association id", replace(`"associationId": "a-abcdefghijklmnop1"`, `"associationId": ""`), "podIdentityAssociation.associationId missing"},
		{"not json", []byte("<html>"), "body is not the expected JSON"},
		{"wrong type", replace(`"accessKeyId": "ASIAIOSFODNN7EXAMPLE"`, `"accessKeyId": 5`), "body is not the expected JSON"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := decodeAssumeOutput(tc.body)
			if tc.err == "" {
				if err != nil {
					t.Errorf("err = %v", err)
				}
				return
			}
			if err == nil || !errors.Is(err, errInvalidResponse) || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("err = %v, want %q", err, tc.err)
			}
		})
	}
}

func TestEpochSeconds(t *testing.T) {
	for in, want := range map[string]string{
		"1704838598":       "2024-01-09T22:16:38Z",
		"1704838598.922":   "2024-01-09T22:16:38.922Z",
		"1704838598.9226":  "2024-01-09T22:16:38.923Z",
		"1.7048385989e9":   "2024-01-09T22:16:38.9Z",
		`"1704838598"`:     "",
		"-1":               "",
		"1e20":             "",
		"true":             "",
		"":                 "",
		"1704838598.0000x": "",
	} {
		got, ok := epochSeconds([]byte(in))
		s := ""
		if ok {
			s = got.Format(time.RFC3339Nano)
		}
		if s != want {
			t.Errorf("epochSeconds(%s) = %q, want %q", in, s, want)
		}
	}
}

func TestDecodeUpstreamError(t *testing.T) {
	for _, tc := range []struct {
		name   string
		status int
		header string
		body   string
		want   upstreamError
	}{
		{"header wins", 400, "InvalidTokenException", `{"__type":"Other","message":"bad token"}`,
			upstreamError{Status: 400, Code: "InvalidTokenException", Message: "bad token", RequestID: "rid"}},
		{"header with uri", 400, "ExpiredTokenException:http://internal.amazon.com/coral/x", `{"Message":"expired"}`,
			upstreamError{Status: 400, Code: "ExpiredTokenException", Message: "expired", RequestID: "rid"}},
		{"body __type with namespace", 404, "", `{"__type":"com.amazonaws.eksauth#ResourceNotFoundException","message":"none"}`,
			upstreamError{Status: 404, Code: "ResourceNotFoundException", Message: "none", RequestID: "rid"}},
		{"body code", 429, "", `{"code":"ThrottlingException"}`,
			upstreamError{Status: 429, Code: "ThrottlingException", RequestID: "rid"}},
		{"no code, html", 502, "", `<html>bad gateway</html>`,
			upstreamError{Status: 502, Code: "Bad Gateway", RequestID: "rid"}},
		{"unknown status", 599, "", ``,
			upstreamError{Status: 599, Code: "HTTP599", RequestID: "rid"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := &http.Response{StatusCode: tc.status, Header: http.Header{}}
			resp.Header.Set("X-Amzn-RequestId", "rid")
			if tc.header != "" {
				resp.Header.Set("X-Amzn-ErrorType", tc.header)
			}
			if got := decodeUpstreamError(resp, []byte(tc.body)); *got != tc.want {
				t.Errorf("got %+v, want %+v", *got, tc.want)
			}
		})
	}
}

func TestErrorClasses(t *testing.T) {
	ue := func(status int, code string) error { return &upstreamError{Status: status, Code: code} }
	for _, tc := range []struct {
		err                            error
		retry, throttle, irrecoverable bool
	}{
		{ue(400, "InvalidTokenException"), false, false, true},
		{ue(400, "ExpiredTokenException"), false, false, true},
		{ue(400, "AccessDeniedException"), false, false, true},
		{ue(404, "ResourceNotFoundException"), false, false, true},
		{ue(400, "InvalidParameterException"), false, false, false},
		{ue(429, "ThrottlingException"), true, true, false},
		{ue(400, "ThrottlingException"), true, true, false},
		{ue(429, "Too Many Requests"), true, true, false},
		{ue(500, "InternalServerException"), true, false, false},
		{ue(503, "ServiceUnavailableException"), true, false, false},
		{ue(408, "RequestTimeoutException"), true, false, false},
		{fmt.Errorf("call EKS Auth: %w", errors.New("connection refused")), true, false, false},
		{fmt.Errorf("x: %w", errInvalidResponse), false, false, false},
		{context.Canceled, false, false, false},
	} {
		if r, th, ir := retryable(tc.err), isThrottle(tc.err), irrecoverable(tc.err); r != tc.retry || th != tc.throttle || ir != tc.irrecoverable {
			t.Errorf("%v: retryable %v throttle %v irrecoverable %v", tc.err, r, th, ir)
		}
	}
}

func TestAccountFromARN(t *testing.T) {
	for in, want := range map[string]string{
		"arn:aws:sts::123456789012:assumed-role/r/s":          "123456789012",
		"arn:aws-cn:sts::123456789012:assumed-role/r/s:extra": "123456789012",
		"arn:aws:iam::123456789012:role/path/r":               "123456789012",
		"arn:aws::123456789012:x":                             "",
		"arn:aws:sts::123456789012":                           "",
		"nope":                                                "",
		"":                                                    "",
	} {
		got, ok := accountFromARN(in)
		if got != want || ok != (want != "") {
			t.Errorf("accountFromARN(%q) = %q, %v", in, got, ok)
		}
	}
}

// FuzzDecodeAssumeOutput: whatever EKS Auth (or something pretending to
// be it) answers, decoding never panics, and an accepted answer can be
// served.
func FuzzDecodeAssumeOutput(f *testing.F) {
	good, err := os.ReadFile(filepath.Join("testdata", "assume-role-for-pod-identity.json"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"credentials":{"expiration":1e308}}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, b []byte) {
		res, err := decodeAssumeOutput(b)
		if err != nil {
			return
		}
		if res.AccessKeyID == "" || res.Expiration.IsZero() {
			t.Fatalf("accepted %+v", res)
		}
		_, _ = newCredSet(res, time.Unix(0, 0))
	})
}

// TestTransportBoundsConnections: a burst far larger than the pool queues
// on at most maxUpstreamConns connections, and every one of them is kept
// for the next burst (none dialled only to be closed).
func TestTransportBoundsConnections(t *testing.T) {
	var opened, open, peak, inflight atomic.Int64
	var gate atomic.Pointer[chan struct{}]
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		inflight.Add(1)
		<-*gate.Load()
		inflight.Add(-1)
		io.WriteString(w, "{}")
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		switch s {
		case http.StateNew:
			opened.Add(1)
			if n := open.Add(1); n > peak.Load() {
				peak.Store(n)
			}
		case http.StateClosed, http.StateHijacked:
			open.Add(-1)
		}
	}
	srv.Start()
	defer srv.Close()
	hc := &http.Client{Transport: newTransport(nil)}
	burst := func(n int) {
		ch := make(chan struct{})
		gate.Store(&ch)
		var wg sync.WaitGroup
		for range n {
			wg.Go(func() {
				resp, err := hc.Post(srv.URL, "application/json", strings.NewReader("{}"))
				if err != nil {
					t.Error(err)
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			})
		}
		// Every connection the transport allows is busy: hold them a
		// moment so that any extra dial would show, then let all go.
		for inflight.Load() < maxUpstreamConns {
			time.Sleep(time.Millisecond)
		}
		time.Sleep(50 * time.Millisecond)
		close(ch)
		wg.Wait()
	}
	burst(4 * maxUpstreamConns)
	if got := opened.Load(); got != maxUpstreamConns {
		t.Fatalf("first burst of %d opened %d connections, want %d", 4*maxUpstreamConns, got, maxUpstreamConns)
	}
	burst(4 * maxUpstreamConns)
	if got := opened.Load(); got != maxUpstreamConns {
		t.Fatalf("after a second burst %d connections were opened in all, want the %d kept from the first", got, maxUpstreamConns)
	}
	if p := peak.Load(); p > maxUpstreamConns {
		t.Fatalf("%d connections open at once, want at most %d", p, maxUpstreamConns)
	}
}
