package agent

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials/endpointcreds"
)

// runAgent starts a.Run and returns a stop function that cancels it and
// returns Run's error.
func runAgent(t *testing.T, a *Agent) func() error {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- a.Run(ctx) }()
	<-a.Started()
	stopped := false
	var err error
	stop := func() error {
		if !stopped {
			stopped = true
			cancel()
			err = <-errc
		}
		return err
	}
	t.Cleanup(func() { stop() })
	return stop
}

func addrOf(t *testing.T, a *Agent, role string) string {
	t.Helper()
	for _, l := range a.Listeners() {
		if l.Role == role && l.Addr != nil {
			return l.Addr.String()
		}
	}
	t.Fatalf("no bound %s listener: %+v", role, a.Listeners())
	return ""
}

// fetchHTTP calls a listener over TCP with the link-local Host header.
func fetchHTTP(t *testing.T, addr, path, token string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", "http://"+addr+path, nil)
	req.Host = "169.254.170.23"
	if token != "" {
		req.Header.Set("Authorization", token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestRunServesProbesAndDrains(t *testing.T) {
	f := newFakeEKSAuth(t)
	a := newTestAgent(t, f, func(c *Config) {
		c.ProbeAddr = "127.0.0.1:0"
		c.MetricsAddr = "127.0.0.1:0"
		c.DrainDelay = 300 * time.Millisecond
	})
	stop := runAgent(t, a)
	creds, probe, metrics := addrOf(t, a, roleCredentials), addrOf(t, a, roleProbe), addrOf(t, a, roleMetrics)

	tok := podToken("ns", "sa", "uid", time.Now().Add(time.Hour), "s")
	if code, body := fetchHTTP(t, creds, "/v1/credentials", tok); code != 200 || !strings.Contains(body, `"AccessKeyId":"ASIA`) {
		t.Fatalf("credentials: %d %q", code, body)
	}
	if code, _ := fetchHTTP(t, creds, "/", ""); code != 404 {
		t.Errorf("/ answered %d, want 404", code)
	}
	if code, body := fetchHTTP(t, probe, "/healthz", ""); code != 200 || body != "ok\n" {
		t.Errorf("healthz: %d %q", code, body)
	}
	// The startup probe (an invalid token, answered 400) proves EKS Auth
	// is reachable.
	waitFor(t, "readiness", func() bool {
		code, _ := fetchHTTP(t, probe, "/readyz", "")
		return code == 200
	})
	for _, path := range []string{"/readyz", "/healthz"} {
		if code, _ := fetchHTTP(t, metrics, path, ""); code != 200 {
			t.Errorf("metrics server %s: %d", path, code)
		}
	}
	// Readiness may come from the pod's request first; the startup probe
	// call can still be in flight.
	var body string
	waitFor(t, "the startup probe's call", func() bool {
		_, body = fetchHTTP(t, metrics, "/metrics", "")
		return strings.Contains(body, `podid_agent_eksauth_calls_total{code="InvalidTokenException",kind="probe"}`)
	})
	for _, want := range []string{
		`podid_agent_cache_misses_total 1`,
		`podid_agent_request_duration_seconds_count{outcome="miss"} 1`,
		`podid_agent_responses_total{code="200"} 1`,
		`podid_agent_eksauth_calls_total{code="OK",kind="request"} 1`,
		`podid_agent_eksauth_calls_total{code="InvalidTokenException",kind="probe"}`,
		`podid_agent_cache_entries 1`,
		`podid_agent_listener_up{address="127.0.0.1:0",role="credentials"} 1`,
		`podid_agent_refresh_backlog 0`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %q", want)
		}
	}

	// Stopping: not ready at once, still serving during the drain delay.
	done := make(chan error, 1)
	go func() { done <- stop() }()
	waitFor(t, "draining", func() bool { ok, _ := a.Ready(); return !ok })
	if code, _ := fetchHTTP(t, creds, "/v1/credentials", tok); code != 200 {
		t.Errorf("while draining: %d", code)
	}
	if err := <-done; err != nil {
		t.Errorf("Run: %v", err)
	}
	if _, err := net.DialTimeout("tcp", creds, time.Second); err == nil {
		t.Errorf("listener still open after Run returned")
	}
}

func TestUnbindableAddressIsReported(t *testing.T) {
	f := newFakeEKSAuth(t)
	a := newTestAgent(t, f, func(c *Config) {
		c.BindHosts = []string{"127.0.0.1", "192.0.2.1"} // the second is not local
	})
	runAgent(t, a)
	var bound, failed int
	for _, l := range a.Listeners() {
		switch {
		case l.Addr != nil:
			bound++
		case strings.Contains(l.Err, "192.0.2.1"):
			failed++
		}
	}
	if bound != 1 || failed != 1 {
		t.Fatalf("listeners %+v", a.Listeners())
	}
	waitFor(t, "readiness with one address bound", func() bool { ok, _ := a.Ready(); return ok })
}

func TestReadinessNeedsEKSAuth(t *testing.T) {
	f := newFakeEKSAuth(t)
	f.set(func(f *fakeEKSAuth) {
		f.reject[probeToken] = fakeReply{status: 400, code: "AccessDeniedException", msg: "not authorized"}
	})
	a := newTestAgent(t, f)
	runAgent(t, a)
	waitFor(t, "the probe", func() bool { return f.calls.Load() >= 1 })
	waitFor(t, "the probe's verdict", func() bool {
		_, reasons := a.Ready()
		return len(reasons) == 1 && strings.Contains(reasons[0], "EKS Auth refused the node's credentials")
	})
}

// TestReadinessWithoutEKSAuth: an agent whose EKS Auth does not answer
// is live but not ready, and /readyz says why.
func TestReadinessWithoutEKSAuth(t *testing.T) {
	f := newFakeEKSAuth(t)
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hj, _ := w.(http.Hijacker)
		if c, _, err := hj.Hijack(); err == nil {
			c.Close() // the connection drops: no answer at all
		}
	}))
	defer down.Close()
	a := newTestAgent(t, f, func(c *Config) { c.Endpoint = down.URL; c.UpstreamTimeout = 300 * time.Millisecond })
	runAgent(t, a)
	waitFor(t, "the probe's failure", func() bool {
		ok, reasons := a.Ready()
		return !ok && len(reasons) == 1 && strings.HasPrefix(reasons[0], "EKS Auth has not answered within 5m0s: ")
	})
	rec := httptest.NewRecorder()
	a.ProbeHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
	if rec.Code != http.StatusServiceUnavailable || !strings.Contains(rec.Body.String(), "EKS Auth has not answered") {
		t.Errorf("/readyz = %d %s", rec.Code, rec.Body.String())
	}
	rec = httptest.NewRecorder()
	a.ProbeHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/healthz", nil))
	if rec.Code != http.StatusOK {
		t.Errorf("/healthz = %d: liveness must not depend on EKS Auth", rec.Code)
	}
}

func TestReusePortHandOff(t *testing.T) {
	f := newFakeEKSAuth(t)
	old := newTestAgent(t, f)
	stopOld := runAgent(t, old)
	addr := addrOf(t, old, roleCredentials)
	_, portStr, _ := net.SplitHostPort(addr)
	port, _ := strconv.Atoi(portStr)

	// The successor binds the same address while the old agent runs.
	succ := newTestAgent(t, f, func(c *Config) { c.Port = port })
	runAgent(t, succ)
	if got := addrOf(t, succ, roleCredentials); got != addr {
		t.Fatalf("successor bound %s, want %s", got, addr)
	}
	tok := podToken("ns", "sa", "uid", time.Now().Add(time.Hour), "s")
	if err := stopOld(); err != nil {
		t.Fatalf("old agent: %v", err)
	}
	for range 20 {
		if code, _ := fetchHTTP(t, addr, "/v1/credentials", tok); code != 200 {
			t.Fatalf("after hand-off: %d", code)
		}
	}
}

// chanSource is an EventSource fed by a channel.
type chanSource chan Event

func (c chanSource) Watch(ctx context.Context, fn func(Event)) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-c:
			if !ok {
				return errors.New("feed closed")
			}
			fn(ev)
		}
	}
}

func TestChangeFeedPurges(t *testing.T) {
	f := newFakeEKSAuth(t)
	feed := make(chanSource)
	a := newTestAgent(t, f, func(c *Config) { c.Events = []EventSource{feed} })
	runAgent(t, a)
	tok := podToken("ns", "sa", "uid", time.Now().Add(time.Hour), "s")
	get(a, "169.254.170.23", tok)
	if a.cache.size() != 1 {
		t.Fatal("not cached")
	}
	feed <- Event{Type: AssociationUpdated, Cluster: testCluster, Namespace: "ns", ServiceAccount: "sa", AssociationID: "a-2"}
	waitFor(t, "the purge", func() bool { return a.cache.size() == 0 })
	if n := counterValue(a.metrics.events.WithLabelValues(string(AssociationUpdated))); n != 1 {
		t.Errorf("%v events counted", n)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	f := newFakeEKSAuth(t)
	for name, mod := range map[string]func(*Config){
		"no cluster":      func(c *Config) { c.ClusterName = "" },
		"bad cluster":     func(c *Config) { c.ClusterName = "-x" },
		"long cluster":    func(c *Config) { c.ClusterName = strings.Repeat("a", 101) },
		"no region":       func(c *Config) { c.Region = "" },
		"no credentials":  func(c *Config) { c.Credentials = nil },
		"bad port":        func(c *Config) { c.Port = 70000 },
		"endpoint scheme": func(c *Config) { c.Endpoint = "ftp://x" },
		"empty bind host": func(c *Config) { c.BindHosts = []string{""} },
	} {
		cfg := testConfig(f)
		mod(&cfg)
		if _, err := New(cfg); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// TestGoSDKReadsCredentials runs the Go SDK's container-credentials
// provider (what pods use) against the agent on loopback.
func TestGoSDKReadsCredentials(t *testing.T) {
	f := newFakeEKSAuth(t)
	a := newTestAgent(t, f, func(c *Config) { c.AllowedHosts = []string{"127.0.0.1"} })
	runAgent(t, a)
	tok := podToken("ns", "sa", "uid", time.Now().Add(time.Hour), "s")
	p := endpointcreds.New("http://"+addrOf(t, a, roleCredentials)+"/v1/credentials", func(o *endpointcreds.Options) {
		o.AuthorizationToken = tok
	})
	c, err := p.Retrieve(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if c.AccessKeyID != "ASIA0000000000000001" || c.SecretAccessKey != "secret-uid" || c.SessionToken != "session-uid" ||
		c.AccountID != "111122223333" || !c.CanExpire || time.Until(c.Expires) < 5*time.Hour {
		t.Errorf("credentials %+v", c)
	}
	// An error reaches the SDK as the agent's status and text. The refusal
	// is keyed by the token, not scripted for the next call, which the
	// readiness probe could take first.
	tok2 := podToken("ns", "sa", "uid2", time.Now().Add(time.Hour), "s")
	f.set(func(f *fakeEKSAuth) {
		f.reject[tok2] = fakeReply{status: 404, code: "ResourceNotFoundException", msg: "no association"}
	})
	p = endpointcreds.New("http://"+addrOf(t, a, roleCredentials)+"/v1/credentials", func(o *endpointcreds.Options) {
		o.AuthorizationToken = tok2
		o.Retryer = aws.NopRetryer{}
	})
	if _, err := p.Retrieve(context.Background()); err == nil || !strings.Contains(err.Error(), "no association") {
		t.Errorf("err = %v", err)
	}
}

func TestOversizedRequestsRefused(t *testing.T) {
	f := newFakeEKSAuth(t)
	a := newTestAgent(t, f)
	runAgent(t, a)
	addr := addrOf(t, a, roleCredentials)
	for _, tc := range []struct {
		name   string
		header string
		status int
	}{
		{"token over the limit", "Authorization: " + strings.Repeat("a", MaxTokenBytes+1), 400},
		{"headers over the limit", "X-Padding: " + strings.Repeat("a", maxHeaderBytes+4096), 431},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			req := "GET /v1/credentials HTTP/1.1\r\nHost: 169.254.170.23\r\n" + tc.header + "\r\n\r\n"
			if _, err := io.WriteString(c, req); err != nil {
				t.Fatal(err)
			}
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.status {
				t.Errorf("status %d, want %d", resp.StatusCode, tc.status)
			}
		})
	}
	if n := f.calls.Load(); n > 1 { // at most the readiness probe
		t.Errorf("%d EKS Auth calls", n)
	}
}
