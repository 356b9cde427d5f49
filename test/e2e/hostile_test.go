package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// hostileCase is one hostile input of testdata/hostile.json.
type hostileCase struct {
	Name    string      `json:"name"`
	Target  string      `json:"target"` // server, agent or gateway
	Method  string      `json:"method"`
	Path    string      `json:"path"`
	Host    string      `json:"host"`
	Headers [][2]string `json:"headers"`
	Body    string      `json:"body"`
	Repeat  *struct {
		Text  string `json:"text"`
		Count int    `json:"count"`
	} `json:"repeat"`
	Sign            string `json:"sign"`
	UnsignedPayload bool   `json:"unsignedPayload"`
	After           struct {
		Body    *string     `json:"body"`
		Headers [][2]string `json:"headers"`
	} `json:"after"`
	Status int    `json:"status"`
	Code   string `json:"code"`
}

// hostileEnv is a `podid server` with tight limits, an agent and a gateway
// in front of it.
type hostileEnv struct {
	s       *server
	agent   string // HOST:PORT
	gateway string // HOST:PORT
	cluster string
	vars    map[string]string
}

// Server limits the suite runs with (flags of `podid server`).
const (
	hostileBudget      = 8 << 20
	hostileReadTimeout = 3 * time.Second
)

// TestHostileInputs drives every surface of a real server, agent and
// gateway with the malformed, oversized, duplicated and badly encoded
// inputs of testdata/hostile.json, then with slow and concurrent oversized
// bodies, and checks each answer's status and error code, that nothing is
// ever a 5xx or an empty reply, that no stack trace reaches the log, that
// the request metrics keep a bounded set of series, and that the server's
// heap stays bounded under the flood (from its own /metrics).
func TestHostileInputs(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile("testdata/hostile.json")
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Cases []hostileCase `json:"cases"`
	}
	if err := json.Unmarshal(raw, &file); err != nil {
		t.Fatal(err)
	}
	s := startServer(t, "--max-inflight-body-bytes", strconv.Itoa(hostileBudget), "--max-connections", "400",
		"--read-header-timeout", "2s", "--read-timeout", hostileReadTimeout.String(), "--log-level", "debug", "--access-log")
	e := &hostileEnv{s: s, cluster: "hostile"}
	root := s.root()
	if status, out := s.signedJSON(t, root, "eks", "POST", "/clusters", map[string]any{
		"name": e.cluster, "roleArn": "arn:aws:iam::" + s.AccountID + ":role/eks-cluster",
		"resourcesVpcConfig": map[string]any{"subnetIds": []string{"subnet-0a1b2c3d"}},
	}); status != http.StatusOK {
		t.Fatalf("create-cluster: HTTP %d %s", status, out)
	}
	agentPort, probe, metrics := freePort(t), freePort(t), freePort(t)
	startProcess(t, "agent", s.clientEnv(root), "agent", "--cluster-name", e.cluster, "--endpoint", s.URL,
		"--bind-hosts", "127.0.0.1", "--port", fmt.Sprint(agentPort), "--allowed-hosts", "127.0.0.1",
		"--probe-address", "127.0.0.1", "--probe-port", fmt.Sprint(probe), "--metrics-address", "127.0.0.1", "--metrics-port", fmt.Sprint(metrics))
	waitReady(t, http.DefaultClient, fmt.Sprintf("http://127.0.0.1:%d/readyz", probe), 30*time.Second)
	e.agent = fmt.Sprintf("127.0.0.1:%d", agentPort)
	gw := startGateway(t, s, "--dynamodb-upstream", "http://"+freeClosedPort(t))
	e.gateway = strings.TrimPrefix(gw.via.URL, "http://")
	now := time.Now().UTC()
	e.vars = map[string]string{
		"{{cluster}}": e.cluster,
		"{{now}}":     now.Format("20060102T150405Z"),
		"{{today}}":   now.Format("20060102"),
		"{{huge}}":    strings.Repeat("h", 200<<10),
		"{{big}}":     strings.Repeat("a", 17<<10) + "." + strings.Repeat("b", 10) + "." + strings.Repeat("c", 10),
	}

	for _, c := range file.Cases {
		t.Run(c.Name, func(t *testing.T) {
			status, hdr, body := e.send(t, c)
			if status != c.Status {
				t.Errorf("HTTP %d, want %d: %.300s", status, c.Status, body)
			}
			if status >= 500 || status < 400 {
				t.Errorf("status %d is not a client error", status)
			}
			if c.Code != "" && !strings.Contains(body, c.Code) && hdr.Get("x-amzn-ErrorType") != c.Code {
				t.Errorf("reply does not name %s: %.300s", c.Code, body)
			}
			if c.Target == "server" && c.Code != "" {
				// The service's own error shape: awsQuery XML or restJson1.
				if !strings.Contains(body, "<Code>"+c.Code+"</Code>") && !strings.Contains(body, `"__type":"`+c.Code+`"`) {
					t.Errorf("reply is not %s in the protocol's shape: %.300s", c.Code, body)
				}
			}
		})
	}

	t.Run("slow headers are cut off", func(t *testing.T) {
		c := dialServer(t, s)
		io.WriteString(c, "POST / HTTP/1.1\r\nHost: h\r\nX-Slow: ")
		c.SetReadDeadline(time.Now().Add(30 * time.Second))
		start := time.Now()
		n, err := c.Read(make([]byte, 1))
		if err == nil && n > 0 {
			// Go's server may answer 408 before closing: still an end.
			return
		}
		if time.Since(start) > 20*time.Second {
			t.Errorf("a connection that never finished its headers was held %v", time.Since(start))
		}
	})
	t.Run("slow body gets IncompleteBody", func(t *testing.T) {
		c := dialServer(t, s)
		io.WriteString(c, "POST / HTTP/1.1\r\nHost: h\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\nAction=Assu")
		c.SetReadDeadline(time.Now().Add(30 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatalf("no reply to a stalled body: %v", err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(b), "<Code>IncompleteBody</Code>") {
			t.Errorf("HTTP %d %s", resp.StatusCode, b)
		}
	})
	t.Run("unsigned EKS body is refused from its headers", func(t *testing.T) {
		c := dialServer(t, s)
		io.WriteString(c, "POST /clusters/hostile/assume-role-for-pod-identity HTTP/1.1\r\nHost: h\r\nContent-Length: 60000\r\n\r\n")
		c.SetReadDeadline(time.Now().Add(hostileReadTimeout - 500*time.Millisecond))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatalf("no reply before the body: %v", err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden || resp.Header.Get("x-amzn-ErrorType") != "MissingAuthenticationTokenException" {
			t.Errorf("HTTP %d %v", resp.StatusCode, resp.Header)
		}
	})

	t.Run("concurrent stalled 1 MiB bodies keep the heap bounded", func(t *testing.T) {
		before := metricValue(t, s, "go_memstats_heap_inuse_bytes")
		const conns, size = 200, 1 << 20
		body := "Action=AssumeRoleWithWebIdentity&Pad=" + strings.Repeat("x", size)
		body = body[:size]
		var wg sync.WaitGroup
		var mu sync.Mutex
		statuses := map[int]int{}
		for range conns {
			c := dialServer(t, s)
			wg.Add(1)
			go func() {
				defer wg.Done()
				c.SetDeadline(time.Now().Add(60 * time.Second))
				go io.WriteString(c, fmt.Sprintf("POST / HTTP/1.1\r\nHost: h\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: %d\r\n\r\n%s", size, body[:size-1]))
				resp, err := http.ReadResponse(bufio.NewReader(c), nil)
				status := 0
				if err == nil {
					status = resp.StatusCode
					resp.Body.Close()
				}
				mu.Lock()
				statuses[status]++
				mu.Unlock()
			}()
		}
		// Sample the server's heap while the flood lasts. The held bodies
		// end with the read timeout and free their share of the budget, so
		// on a slow machine more than budget/size of them are admitted over
		// the whole run; what must hold is the heap, and that most are
		// refused at once.
		done := make(chan struct{})
		go func() { wg.Wait(); close(done) }()
		peak := before
	sample:
		for {
			if h := metricValue(t, s, "go_memstats_heap_inuse_bytes"); h > peak {
				peak = h
			}
			select {
			case <-done:
				break sample
			case <-time.After(50 * time.Millisecond):
			}
		}
		t.Logf("server heap in use: %.1f MiB before, %.1f MiB at most with %d stalled 1 MiB bodies (budget %d MiB)", before/(1<<20), peak/(1<<20), conns, hostileBudget>>20)
		if peak-before > 6*hostileBudget {
			t.Errorf("heap grew by %.1f MiB under the flood, budget %d MiB", (peak-before)/(1<<20), hostileBudget>>20)
		}
		mu.Lock()
		defer mu.Unlock()
		// A refused connection is closed while its body is still being
		// sent, so its client may read a reset instead of the 503 (status
		// 0 here); the server's own count is the refusals.
		for st, n := range statuses {
			if st != 0 && st != http.StatusServiceUnavailable && st != http.StatusBadRequest {
				t.Errorf("%d replies with HTTP %d: want 503 (refused) or 400 IncompleteBody (held until the read timeout)", n, st)
			}
		}
		refused := metricValue(t, s, `podid_api_limit_refusals_total{limit="body_inflight"}`)
		if refused < conns/2 {
			t.Errorf("only %v of %d stalled bodies refused at once (replies %v)", refused, conns, statuses)
		}
		if statuses[http.StatusServiceUnavailable] == 0 {
			t.Errorf("no 503 among %v", statuses)
		}
	})

	t.Run("metrics stay bounded", func(t *testing.T) {
		resp, err := http.Get(s.URL + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		series := regexp.MustCompile(`(?m)^podid_api_requests_total\{.*$`).FindAllString(string(b), -1)
		if len(series) > 40 {
			t.Errorf("%d request series:\n%s", len(series), strings.Join(series, "\n"))
		}
		for _, l := range series {
			if strings.Contains(l, "\ufffd") || strings.Contains(l, "AAAA") || strings.Contains(l, "made-up") {
				t.Errorf("label from input: %s", l)
			}
		}
		for _, want := range []string{`action="AssumeRoleForPodIdentity"`, `action="CreateCluster"`, `action="unknown"`, `service="unknown"`} {
			if !strings.Contains(string(b), want) {
				t.Errorf("/metrics lacks %s", want)
			}
		}
	})

	t.Run("no stack trace in the log", func(t *testing.T) {
		logs := s.logs.String()
		for _, bad := range []string{"goroutine ", "panic", "runtime/debug"} {
			if strings.Contains(logs, bad) {
				t.Errorf("server log contains %q", bad)
			}
		}
		if strings.Contains(logs, s.RootSec) || strings.Contains(logs, "Signature=") {
			t.Error("server log contains the root's secret key or a signature")
		}
		// The access log (--access-log) names the caller and the operation.
		if !regexp.MustCompile(`msg=access requestId=\S+ service=eks operation=CreateCluster status=200 .*caller=arn:aws:iam::` + s.AccountID + `:root`).MatchString(logs) {
			t.Error("no access-log line for CreateCluster with its caller")
		}
		for _, line := range strings.Split(logs, "\n") {
			if len(line) > 4096 {
				t.Errorf("log line of %d bytes: %.200s", len(line), line)
			}
		}
	})
}

// send writes c as raw bytes (so headers may carry any bytes and repeat)
// and reads the reply.
func (e *hostileEnv) send(t *testing.T, c hostileCase) (int, http.Header, string) {
	t.Helper()
	expand := func(s string) string {
		for k, v := range e.vars {
			s = strings.ReplaceAll(s, k, v)
		}
		return unescapeBytes(s)
	}
	body := expand(c.Body)
	if c.Repeat != nil {
		var b strings.Builder
		b.WriteString(body)
		for i := 1; i <= c.Repeat.Count; i++ {
			b.WriteString(strings.ReplaceAll(c.Repeat.Text, "{{i}}", strconv.Itoa(i)))
		}
		body = b.String()
	}
	addr := strings.TrimPrefix(e.s.URL, "http://")
	switch c.Target {
	case "agent":
		addr = e.agent
	case "gateway":
		addr = e.gateway
	}
	host := addr
	if c.Host != "" {
		host = c.Host
	}
	path := expand(c.Path)
	var headers [][2]string
	for _, h := range c.Headers {
		headers = append(headers, [2]string{h[0], expand(h[1])})
	}
	if c.Sign != "" {
		req, err := http.NewRequest(c.Method, "http://"+addr+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		for _, h := range headers {
			req.Header.Add(h[0], h[1])
		}
		hash := awsHash(body)
		if c.UnsignedPayload {
			hash = "UNSIGNED-PAYLOAD"
			req.Header.Set("X-Amz-Content-Sha256", hash)
		}
		region := e.s.Region
		if c.Sign == "iam" {
			region = "us-east-1"
		}
		root := e.s.root()
		if err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: root.Key, SecretAccessKey: root.Secret}, req, hash, c.Sign, region, time.Now()); err != nil {
			t.Fatal(err)
		}
		headers = nil
		for k, vs := range req.Header {
			for _, v := range vs {
				headers = append(headers, [2]string{k, v})
			}
		}
	}
	if c.After.Body != nil {
		body = expand(*c.After.Body)
	}
	for _, h := range c.After.Headers {
		headers = append(headers, [2]string{h[0], expand(h[1])})
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n", c.Method, path, host)
	for _, h := range headers {
		b.WriteString(h[0] + ": " + h[1] + "\r\n")
	}
	if body != "" || c.Method == "POST" {
		fmt.Fprintf(&b, "Content-Length: %d\r\n", len(body))
	}
	b.WriteString("\r\n")
	b.WriteString(body)
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	go conn.Write(b.Bytes())
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no HTTP reply: %v", err)
	}
	out, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp.StatusCode, resp.Header, string(out)
}

func awsHash(body string) string {
	sum := sha256.Sum256([]byte(body))
	return hex.EncodeToString(sum[:])
}

// unescapeBytes turns \xHH in s into the byte HH.
func unescapeBytes(s string) string {
	if !strings.Contains(s, `\x`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) && s[i+1] == 'x' {
			if v, err := strconv.ParseUint(s[i+2:i+4], 16, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func dialServer(t *testing.T, s *server) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(s.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// metricValue reads one sample (name with its labels, as /metrics writes
// it) from the server's /metrics; 0 when absent.
func metricValue(t *testing.T, s *server, sample string) float64 {
	t.Helper()
	resp, err := http.Get(s.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), sample+" "); ok {
			v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
			if err != nil {
				t.Fatalf("%s: %v", sample, err)
			}
			return v
		}
	}
	return 0
}
