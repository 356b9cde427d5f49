package server

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/podid/podid/internal/awsproto"
)

// servingRecorder is a recorder that also tells the edge which actions it
// serves, as iam.Service and sts.Service do.
type servingRecorder struct {
	recorder
	actions []string
}

func (s *servingRecorder) Actions() []string { return s.actions }

// opHandler is a restJson1 handler that reports an operation, as the EKS
// router does, and answers 200.
type opHandler struct{ op string }

func (h opHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	awsproto.SetOperation(r.Context(), h.op)
	io.WriteString(w, "{}")
}

// panicker panics in the service, as a bug would.
type panicker struct{}

func (panicker) HandleQuery(context.Context, string, awsproto.Params) (any, error) {
	panic("boom: index out of range [3] with length 3")
}

// hostileFixture is an edge with metrics on its own registry and a debug
// log captured in a buffer.
type hostileFixture struct {
	edgeFixture
	reg  *prometheus.Registry
	mu   sync.Mutex
	logs bytes.Buffer
	edge *Edge
}

func (f *hostileFixture) Write(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.logs.Write(p)
}

func (f *hostileFixture) logText() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.logs.String()
}

// hostileServices replaces some of the four services' handlers.
type hostileServices struct {
	IAM, STS     awsproto.QueryHandler
	EKS, EKSAuth http.Handler
}

func newHostileEdge(t *testing.T, cfg Config, over ...hostileServices) *hostileFixture {
	t.Helper()
	f := &hostileFixture{reg: prometheus.NewRegistry()}
	f.iam = &recorder{name: "iam"}
	f.sts = &recorder{name: "sts"}
	f.eks = &recorder{name: "eks"}
	f.eksAuth = &recorder{name: "eks-auth"}
	cfg.Verifier = &awsproto.Verifier{Lookup: lookup{}}
	var o hostileServices
	if len(over) > 0 {
		o = over[0]
	}
	iamActions := []string{"ListRoles", "ListUsers"}
	if o.IAM == nil {
		o.IAM = &servingRecorder{recorder: recorder{name: "iam"}, actions: iamActions}
	}
	if sr, ok := o.IAM.(*servingRecorder); ok {
		iamActions = sr.actions
	}
	if o.STS == nil {
		o.STS = &servingRecorder{recorder: recorder{name: "sts"}, actions: []string{"AssumeRoleWithWebIdentity", "GetCallerIdentity"}}
	}
	if o.EKS == nil {
		o.EKS = opHandler{op: "DescribeCluster"}
	}
	if o.EKSAuth == nil {
		o.EKSAuth = opHandler{op: "AssumeRoleForPodIdentity"}
	}
	// The registrations: each lists the operations the real service lists,
	// whatever its stand-in handler reports.
	cfg.Services = awsproto.Services{
		{SigningName: "iam", Protocol: awsproto.ProtocolQuery, Global: true, Namespace: "https://iam.amazonaws.com/doc/2010-05-08/", Query: o.IAM, Operations: iamActions},
		{SigningName: "sts", Protocol: awsproto.ProtocolQuery, Global: true, Namespace: "https://sts.amazonaws.com/doc/2011-06-15/", Query: o.STS,
			Operations: []string{"AssumeRoleWithWebIdentity", "GetCallerIdentity"}, UnsignedActions: []string{"AssumeRoleWithWebIdentity", "AssumeRoleWithSAML"}, UnsignedPaths: []string{"/{$}"}},
		{SigningName: "eks", Protocol: awsproto.ProtocolRestJSON, Handler: o.EKS, Operations: []string{"DescribeCluster"}, UnsignedPaths: []string{"/"}},
		{SigningName: "eks-auth", Protocol: awsproto.ProtocolRestJSON, Handler: o.EKSAuth, Operations: []string{"AssumeRoleForPodIdentity"}, UnsignedPaths: []string{"/clusters/{name}/assume-role-for-pod-identity"}},
	}
	cfg.Region = "us-west-2"
	cfg.Metrics = NewMetrics(f.reg)
	cfg.Logger = slog.New(slog.NewTextHandler(f, &slog.HandlerOptions{Level: slog.LevelDebug}))
	cfg.Extra = map[string]http.Handler{"/metrics": MetricsHandler(f.reg)}
	f.edge = New(cfg)
	f.srv = httptest.NewServer(f.edge)
	t.Cleanup(f.srv.Close)
	return f
}

// raw sends a request with arbitrary header bytes (which net/http's client
// would refuse to send) and returns the status and body.
func (f *hostileFixture) raw(t *testing.T, req string) (int, string) {
	t.Helper()
	c, err := net.Dial("tcp", f.srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("no HTTP reply to %.80q: %v", req, err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp.StatusCode, string(b)
}

func (f *hostileFixture) series(t *testing.T, name string) []string {
	t.Helper()
	mfs, err := f.reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	var out []string
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetName()+"="+l.GetValue())
			}
			out = append(out, strings.Join(labels, ","))
		}
	}
	return out
}

// authzFor builds an Authorization header whose scope names service (any
// bytes): it is refused, but it routes and labels by that service.
func authzFor(service string) string {
	return "AWS4-HMAC-SHA256 Credential=" + testKey + "/" + time.Now().UTC().Format("20060102") + "/us-west-2/" + service + "/aws4_request, SignedHeaders=host;x-amz-date, Signature=" + strings.Repeat("0", 64)
}

// TestMetricLabelsBounded: made-up actions, services and operations, in
// any bytes, land in one "unknown" series each; the series count and the
// size of /metrics do not grow with them, and every such request gets its
// protocol's error (never an empty reply or a panic).
func TestMetricLabelsBounded(t *testing.T) {
	f := newHostileEdge(t, Config{})
	date := time.Now().UTC().Format("20060102T150405Z")
	for i := range 300 {
		// Unsigned awsQuery with a made-up (and long) action.
		body := fmt.Sprintf("Action=Made%d%s&Version=2011-06-15", i, strings.Repeat("x", 2000))
		status, out := f.raw(t, "POST / HTTP/1.1\r\nHost: h\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: "+fmt.Sprint(len(body))+"\r\nConnection: close\r\n\r\n"+body)
		if status != http.StatusForbidden || !strings.Contains(out, "<Code>MissingAuthenticationToken</Code>") {
			t.Fatalf("made-up action: HTTP %d %s", status, out)
		}
		// A made-up scope service, with bytes that are not UTF-8.
		svc := fmt.Sprintf("svc%d\xff\xfe", i)
		status, out = f.raw(t, "GET /x HTTP/1.1\r\nHost: h\r\nX-Amz-Date: "+date+"\r\nAuthorization: "+authzFor(svc)+"\r\nConnection: close\r\n\r\n")
		if status != http.StatusBadRequest || !strings.Contains(out, `"__type":"UnknownOperationException"`) {
			t.Fatalf("made-up service: HTTP %d %s", status, out)
		}
	}
	for _, req := range []string{
		// Invalid UTF-8 as the action, unsigned and in a signed-looking request.
		"POST / HTTP/1.1\r\nHost: h\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 10\r\nConnection: close\r\n\r\nAction=%FF",
		"GET /?Action=%FF%FE HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: h\r\nX-Amz-Date: " + date + "\r\nAuthorization: " + authzFor("\xff\xfe") + "\r\nContent-Length: 10\r\nConnection: close\r\n\r\nAction=%FF",
		"POST / HTTP/1.1\r\nHost: h\r\nX-Amz-Date: " + date + "\r\nAuthorization: " + authzFor("sts") + "\r\nContent-Length: 10\r\nConnection: close\r\n\r\nAction=%FF",
	} {
		status, out := f.raw(t, req)
		if status < 400 || status >= 500 || (!strings.Contains(out, "<Code>") && !strings.Contains(out, `"__type"`)) {
			t.Errorf("%.60q: HTTP %d %q, want a 4xx error in the protocol's shape", req, status, out)
		}
	}
	if strings.Contains(f.logText(), "goroutine ") || strings.Contains(f.logText(), "panic") {
		t.Errorf("the log has a panic or stack:\n%.2000s", f.logText())
	}

	series := f.series(t, "podid_api_requests_total")
	for _, s := range series {
		if strings.Contains(s, "Made") || strings.Contains(s, "svc") || strings.Contains(s, "\ufffd") {
			t.Errorf("series with a made-up label: %q", s)
		}
	}
	if len(series) > 10 {
		t.Errorf("%d request series after 600 made-up requests, want a handful: %q", len(series), series)
	}
	resp, err := http.Get(f.srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if len(b) > 16<<10 {
		t.Errorf("/metrics is %d bytes after made-up requests", len(b))
	}
	if !strings.Contains(string(b), `podid_api_requests_total{action="unknown",code="403",service="sts"} 30`) ||
		!strings.Contains(string(b), `podid_api_requests_total{action="",code="400",service="unknown"} 30`) {
		t.Errorf("/metrics lacks the unknown buckets:\n%s", b)
	}
}

// TestMetricOperationLabels: a restJson1 request is labelled with the
// operation its service's router reported (EKS, EKS Auth; issue 17), an
// awsQuery request with its action when the service serves it, and a name
// that is not an operation's shape with "unknown".
func TestMetricOperationLabels(t *testing.T) {
	f := newHostileEdge(t, Config{}, hostileServices{EKS: opHandler{op: "bad op\xff"}})
	if resp, body := f.do(t, "eks-auth", "POST", "/clusters/c/assume-role-for-pod-identity", "application/json", `{"token":"t"}`); resp.StatusCode != 200 {
		t.Fatalf("EKS Auth: HTTP %d %s", resp.StatusCode, body)
	}
	if resp, body := f.do(t, "eks", "GET", "/clusters/c", "", ""); resp.StatusCode != 200 {
		t.Fatalf("EKS: HTTP %d %s", resp.StatusCode, body)
	}
	if resp, body := f.do(t, "iam", "POST", "/", form, "Action=ListRoles&Version=2010-05-08"); resp.StatusCode != 200 {
		t.Fatalf("IAM: HTTP %d %s", resp.StatusCode, body)
	}
	if resp, body := f.do(t, "iam", "POST", "/", form, "Action=GetCallerIdentity&Version=2010-05-08"); resp.StatusCode != 200 {
		t.Fatalf("IAM: HTTP %d %s", resp.StatusCode, body)
	}
	got := strings.Join(f.series(t, "podid_api_requests_total"), "\n")
	for _, want := range []string{
		"action=AssumeRoleForPodIdentity,code=200,service=eks-auth",
		"action=unknown,code=200,service=eks",
		"action=ListRoles,code=200,service=iam",
		"action=unknown,code=200,service=iam",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("no series %s in:\n%s", want, got)
		}
	}
}

// TestPanicIsAnError: a panic in a service becomes a 500 InternalFailure in
// the protocol's shape and one log line without a stack.
func TestPanicIsAnError(t *testing.T) {
	f := newHostileEdge(t, Config{}, hostileServices{IAM: panicker{}})
	resp, body := f.do(t, "iam", "POST", "/", form, "Action=ListRoles&Version=2010-05-08")
	if resp.StatusCode != 500 || !strings.Contains(body, "<Code>InternalFailure</Code>") || strings.Contains(body, "boom") {
		t.Fatalf("HTTP %d %s", resp.StatusCode, body)
	}
	logs := f.logText()
	if strings.Count(logs, "request handler panicked") != 1 || strings.Contains(logs, "goroutine ") || strings.Count(logs, "\n") > 2 {
		t.Errorf("log:\n%s", logs)
	}
}

// TestLoggedInputIsClipped: a client's action is logged at debug level at
// most 256 bytes long, with its full length.
func TestLoggedInputIsClipped(t *testing.T) {
	f := newHostileEdge(t, Config{})
	action := strings.Repeat("A", 500000)
	resp, _ := f.do(t, "", "POST", "/", form, "Action="+action)
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("HTTP %d", resp.StatusCode)
	}
	logs := f.logText()
	if len(logs) > 2000 || !strings.Contains(logs, "…(500000 bytes)") {
		t.Errorf("log of %d bytes:\n%.600s", len(logs), logs)
	}
	if got := clip("é" + strings.Repeat("é", 200)); !strings.HasSuffix(got, "…(402 bytes)") || !strings.HasPrefix(got, strings.Repeat("é", 128)) {
		t.Errorf("clip cut a rune: %q", got)
	}
}

// TestSwappedBodyRefused: a request signed with UNSIGNED-PAYLOAD whose body
// was swapped (ListRoles signed, ListUsers sent) never reaches IAM; nor do
// requests with two Authorization or X-Amz-Date headers.
func TestSwappedBodyRefused(t *testing.T) {
	iam := &servingRecorder{recorder: recorder{name: "iam"}, actions: []string{"ListRoles", "ListUsers"}}
	f := newHostileEdge(t, Config{}, hostileServices{IAM: iam})
	send := func(mutate func(*http.Request)) (int, string) {
		signed := "Action=ListRoles&Version=2010-05-08"
		req, _ := http.NewRequest("POST", f.srv.URL+"/", strings.NewReader(signed))
		req.Header.Set("Content-Type", form)
		req.Header.Set("X-Amz-Content-Sha256", awsproto.UnsignedPayload)
		creds := aws.Credentials{AccessKeyID: testKey, SecretAccessKey: testSecret}
		if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, awsproto.UnsignedPayload, "iam", "us-east-1", time.Now()); err != nil {
			t.Fatal(err)
		}
		mutate(req)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp.StatusCode, string(b)
	}
	swapped := "Action=ListUsers&Version=2010-05-08"
	for name, tc := range map[string]struct {
		mutate func(*http.Request)
		status int
		code   string
	}{
		"swapped body": {func(r *http.Request) {
			r.Body, r.ContentLength = io.NopCloser(strings.NewReader(swapped)), int64(len(swapped))
		}, 403, "SignatureDoesNotMatch"},
		"unswapped body": {func(*http.Request) {}, 403, "SignatureDoesNotMatch"},
		"two Authorization headers": {func(r *http.Request) {
			r.Header["Authorization"] = append(r.Header["Authorization"], authzFor("iam"))
		}, 400, "IncompleteSignature"},
		"two X-Amz-Date headers": {func(r *http.Request) {
			r.Header["X-Amz-Date"] = append(r.Header["X-Amz-Date"], "20200101T000000Z")
		}, 400, "IncompleteSignature"},
		"two X-Amz-Security-Token headers": {func(r *http.Request) {
			r.Header["X-Amz-Security-Token"] = []string{"a", "b"}
		}, 400, "IncompleteSignature"},
	} {
		status, body := send(tc.mutate)
		if status != tc.status || !strings.Contains(body, "<Code>"+tc.code+"</Code>") {
			t.Errorf("%s: HTTP %d %s, want %d %s", name, status, body, tc.status, tc.code)
		}
	}
	if len(iam.calls) != 0 {
		t.Errorf("IAM served %q", iam.calls)
	}
	// The same for a restJson1 service, in its words.
	req, _ := http.NewRequest("GET", f.srv.URL+"/clusters", nil)
	sum := sha256.Sum256(nil)
	creds := aws.Credentials{AccessKeyID: testKey, SecretAccessKey: testSecret}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, hex.EncodeToString(sum[:]), "eks", "us-west-2", time.Now()); err != nil {
		t.Fatal(err)
	}
	req.Header.Add("Authorization", authzFor("eks"))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 400 || resp.Header.Get("x-amzn-ErrorType") != "IncompleteSignatureException" {
		t.Errorf("EKS with two Authorization headers: HTTP %d %s", resp.StatusCode, b)
	}
}

// TestHeaderFirst: an unsigned request to a route that needs a signature,
// and a stale or malformed signature, are refused from the headers alone:
// the reply comes although the declared body never does.
func TestHeaderFirst(t *testing.T) {
	f := newHostileEdge(t, Config{})
	date := time.Now().UTC().Format("20060102T150405Z")
	old := time.Now().Add(-time.Hour).UTC().Format("20060102T150405Z")
	for _, tc := range []struct{ name, head, code string }{
		{"unsigned EKS Auth", "POST /clusters/c/assume-role-for-pod-identity HTTP/1.1\r\nHost: h\r\nContent-Length: 60000\r\n\r\n", `"MissingAuthenticationTokenException"`},
		{"unsigned EKS", "POST /clusters HTTP/1.1\r\nHost: h\r\nContent-Length: 60000\r\n\r\n", `"MissingAuthenticationTokenException"`},
		{"malformed Authorization", "POST / HTTP/1.1\r\nHost: h\r\nAuthorization: AWS4-HMAC-SHA256 nonsense\r\nX-Amz-Date: " + date + "\r\nContent-Length: 60000\r\n\r\n", "<Code>IncompleteSignature</Code>"},
		{"stale signature", "POST / HTTP/1.1\r\nHost: h\r\nAuthorization: " + authzFor("iam") + "\r\nX-Amz-Date: " + old + "\r\nContent-Length: 60000\r\n\r\n", "Signature expired"},
		{"declared length over the limit", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 2000000\r\n\r\n", "<Code>RequestEntityTooLarge</Code>"},
	} {
		status, body := f.raw(t, tc.head)
		if status < 400 || status >= 500 || !strings.Contains(body, tc.code) {
			t.Errorf("%s: HTTP %d %s, want %s", tc.name, status, body, tc.code)
		}
	}
}

// TestInflightBodyBudget: many connections that each declare a 1 MiB
// unsigned body and stall before its last byte hold no more than the
// budget: the rest are refused at once with 503 ServiceUnavailable, and the
// server's heap stays bounded (measured in process).
func TestInflightBodyBudget(t *testing.T) {
	const (
		budget = 8 << 20
		conns  = 100
		size   = 1 << 20
	)
	f := newHostileEdge(t, Config{MaxInflightBodyBytes: budget})
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)

	body := "Action=AssumeRoleWithWebIdentity&Pad=" + strings.Repeat("x", size-len("Action=AssumeRoleWithWebIdentity&Pad="))
	var wg sync.WaitGroup
	refused := make(chan string, conns)
	var open []net.Conn
	var mu sync.Mutex
	for range conns {
		c, err := net.Dial("tcp", f.srv.Listener.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		open = append(open, c)
		mu.Unlock()
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.SetDeadline(time.Now().Add(60 * time.Second))
			// All but the last byte: the server that reads waits for it.
			io.WriteString(c, fmt.Sprintf("POST / HTTP/1.1\r\nHost: h\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: %d\r\n\r\n%s", size, body[:size-1]))
		}()
		go func() {
			c.SetReadDeadline(time.Now().Add(60 * time.Second))
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				return // held (closed at the end of the test)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			refused <- fmt.Sprintf("%d %s", resp.StatusCode, b)
		}()
	}
	t.Cleanup(func() {
		for _, c := range open {
			c.Close()
		}
	})
	want := conns - budget/size
	for i := range want {
		select {
		case r := <-refused:
			if !strings.HasPrefix(r, "503 ") || !strings.Contains(r, "<Code>ServiceUnavailable</Code>") {
				t.Fatalf("refusal %d: %s", i, r)
			}
		case <-time.After(60 * time.Second):
			t.Fatalf("only %d of %d requests refused", i, want)
		}
	}
	// The held requests have reserved the whole budget; wait until they
	// have read what they were sent.
	for deadline := time.Now().Add(60 * time.Second); f.edge.budget.used.Load() != budget; {
		if time.Now().After(deadline) {
			t.Fatalf("budget in use %d, want %d", f.edge.budget.used.Load(), budget)
		}
		time.Sleep(10 * time.Millisecond)
	}
	wg.Wait()
	runtime.GC()
	var during runtime.MemStats
	runtime.ReadMemStats(&during)
	grown := int64(during.HeapInuse) - int64(before.HeapInuse)
	t.Logf("heap in use grew by %d KiB with %d stalled 1 MiB bodies (budget %d MiB)", grown>>10, conns, budget>>20)
	if grown > 3*budget {
		t.Errorf("heap grew by %d MiB, want at most %d MiB", grown>>20, 3*budget>>20)
	}
	if len(f.series(t, "podid_api_limit_refusals_total")) != 1 {
		t.Errorf("refusals not counted: %v", f.series(t, "podid_api_limit_refusals_total"))
	}
}
