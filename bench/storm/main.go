// Command storm measures credential storms: podid dev (server and hosted
// cluster) and standalone podid agents, N distinct pods (several
// namespaces and associations, each pod its own token and UID) asking for
// their first credentials at the same instant. It reports the latency
// percentiles, failures, EKS Auth throttling, and the CPU the agents and
// the server spent per credential, read from /proc/PID/stat (utime+stime)
// before and after each storm. Then it measures the agent's cache-hit path
// from outside (a Go load generator, many keep-alive connections, one
// token) against a bare net/http handler in a child process serving the
// same body, alternating rounds, and reports the throughput and the CPU
// per request of both. It is not part of `make test`; `make storm` runs it.
//
//	cd bench && go run ./storm -podid ../bin/podid -n 500,2000,5000 -agents 4
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/podid/podid/bench/internal/proc"
	"github.com/podid/podid/bench/internal/signed"
)

const (
	cluster = "eks-workshop"
	region  = "us-west-2"
	trust   = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"pods.eks.amazonaws.com"},"Action":["sts:AssumeRole","sts:TagSession"]}]}`
)

type options struct {
	podid      string
	sizes      []int
	agents     int
	namespaces int
	hitFor     time.Duration
	hitRounds  int
	hitConns   int
	profileDir string
	bare       bool
	missPeer   bool

	bareUpstream, bareProxy, bareProxyUpstream string
}

func main() {
	var o options
	var sizes string
	flag.StringVar(&o.podid, "podid", "../bin/podid", "the podid binary")
	flag.StringVar(&sizes, "n", "500,2000,5000", "storm sizes (pods at once), comma-separated")
	flag.IntVar(&o.agents, "agents", 4, "agents (nodes) of the multi-agent storms (0 or 1: none)")
	flag.IntVar(&o.namespaces, "namespaces", 4, "namespaces, each with its own association and role")
	flag.DurationVar(&o.hitFor, "hit-duration", 3*time.Second, "length of one hit-path round (0: no hit-path run)")
	flag.IntVar(&o.hitRounds, "hit-rounds", 4, "hit-path rounds per target (agent, bare), alternating")
	flag.IntVar(&o.hitConns, "hit-conns", 50, "keep-alive connections of the hit-path load")
	flag.StringVar(&o.profileDir, "profile", "", "write CPU profiles of the agent and the server during the largest one-agent storm, and of the agent during the first hit-path round, to this directory")
	flag.BoolVar(&o.bare, "bare", false, "internal: serve a bare net/http handler (the hit-path peer)")
	flag.BoolVar(&o.missPeer, "miss-peer", true, "after each one-agent storm, the same pods through a bare net/http proxy and upstream (the miss path's floor)")
	flag.StringVar(&o.bareUpstream, "bare-upstream", "", "internal: serve the miss peer's bare upstream on this address")
	flag.StringVar(&o.bareProxy, "bare-proxy", "", "internal: serve the miss peer's bare proxy on this address")
	flag.StringVar(&o.bareProxyUpstream, "bare-proxy-upstream", "", "internal: the bare proxy's upstream URL")
	flag.Parse()
	switch {
	case o.bare:
		serveBare()
		return
	case o.bareUpstream != "":
		serveMissUpstream(o.bareUpstream)
		return
	case o.bareProxy != "":
		serveMissProxy(o.bareProxy, o.bareProxyUpstream)
		return
	}
	for _, s := range strings.Split(sizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n <= 0 {
			fmt.Fprintln(os.Stderr, "storm: bad -n", s)
			os.Exit(2)
		}
		o.sizes = append(o.sizes, n)
	}
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "storm:", err)
		os.Exit(1)
	}
}

// cpuOf is the processes' CPU time so far (see proc.CPU).
func cpuOf(pids ...int) time.Duration {
	d, err := proc.CPU(pids...)
	if err != nil {
		fmt.Fprintln(os.Stderr, "storm:", err)
	}
	return d
}

var (
	akidRE   = regexp.MustCompile(`<AccessKeyId>([^<]+)</AccessKeyId>`)
	secretRE = regexp.MustCompile(`<SecretAccessKey>([^<]+)</SecretAccessKey>`)
)

var (
	sessAKRE    = regexp.MustCompile(`<AccessKeyId>([^<]+)</AccessKeyId>`)
	sessSKRE    = regexp.MustCompile(`<SecretAccessKey>([^<]+)</SecretAccessKey>`)
	sessTokenRE = regexp.MustCompile(`<SessionToken>([^<]+)</SessionToken>`)
)

// nodeSessions gives each node a session of the role "storm-node" (as EKS
// nodes' agents run with their node role's session credentials): an IAM
// user allowed to assume it, then one AssumeRole per node.
func nodeSessions(ctx context.Context, root *signed.Client, n int) ([]aws.Credentials, error) {
	steps := []url.Values{
		{"Action": {"CreateRole"}, "Version": {"2010-05-08"}, "RoleName": {"storm-node"},
			"AssumeRolePolicyDocument": {`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:root"},"Action":"sts:AssumeRole"}]}`}},
		{"Action": {"PutRolePolicy"}, "Version": {"2010-05-08"}, "RoleName": {"storm-node"}, "PolicyName": {"agent"},
			"PolicyDocument": {`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"eks-auth:AssumeRoleForPodIdentity","Resource":"*"}]}`}},
		{"Action": {"CreateUser"}, "Version": {"2010-05-08"}, "UserName": {"provisioner"}},
		{"Action": {"PutUserPolicy"}, "Version": {"2010-05-08"}, "UserName": {"provisioner"}, "PolicyName": {"assume"},
			"PolicyDocument": {`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sts:AssumeRole","Resource":"arn:aws:iam::123456789012:role/storm-node"}]}`}},
	}
	for _, v := range steps {
		if _, err := root.Query(ctx, "iam", v); err != nil {
			return nil, err
		}
	}
	b, err := root.Query(ctx, "iam", url.Values{"Action": {"CreateAccessKey"}, "Version": {"2010-05-08"}, "UserName": {"provisioner"}})
	if err != nil {
		return nil, err
	}
	a, sk := akidRE.FindSubmatch(b), secretRE.FindSubmatch(b)
	if a == nil || sk == nil {
		return nil, fmt.Errorf("CreateAccessKey: no key in %s", b)
	}
	prov := &signed.Client{Endpoint: root.Endpoint, Region: region, Creds: aws.Credentials{AccessKeyID: string(a[1]), SecretAccessKey: string(sk[1])}, HTTP: root.HTTP}
	out := make([]aws.Credentials, n)
	for i := range n {
		var b []byte
		for try := range 20 { // IAM changes reach STS at once, but be patient with a loaded server
			b, err = prov.Query(ctx, "sts", url.Values{"Action": {"AssumeRole"}, "Version": {"2011-06-15"},
				"RoleArn": {"arn:aws:iam::123456789012:role/storm-node"}, "RoleSessionName": {fmt.Sprintf("node-%d", i)}, "DurationSeconds": {"3600"}})
			if err == nil {
				break
			}
			time.Sleep(time.Duration(try+1) * 100 * time.Millisecond)
		}
		if err != nil {
			return nil, err
		}
		ak, sk, tok := sessAKRE.FindSubmatch(b), sessSKRE.FindSubmatch(b), sessTokenRE.FindSubmatch(b)
		if ak == nil || sk == nil || tok == nil {
			return nil, fmt.Errorf("AssumeRole: no credentials in %s", b)
		}
		out[i] = aws.Credentials{AccessKeyID: string(ak[1]), SecretAccessKey: string(sk[1]), SessionToken: string(tok[1])}
	}
	return out, nil
}

// agentProc is a standalone agent (one node).
type agentProc struct {
	*proc.Proc
	url, metrics, pprof string
}

func startAgent(name, bin string, env []string, endpoint string, key aws.Credentials, profile bool) (*agentProc, error) {
	port, err := proc.FreePort()
	if err != nil {
		return nil, err
	}
	mport, err := proc.FreePort()
	if err != nil {
		return nil, err
	}
	agentEnv := append(slices.Clone(env), "AWS_ACCESS_KEY_ID="+key.AccessKeyID, "AWS_SECRET_ACCESS_KEY="+key.SecretAccessKey, "AWS_SESSION_TOKEN="+key.SessionToken, "AWS_REGION="+region)
	args := []string{"agent", "--cluster-name", cluster, "--endpoint", endpoint,
		"--bind-hosts", "127.0.0.1", "--port", strconv.Itoa(port), "--allowed-hosts", "127.0.0.1", "--manage-addresses=false",
		"--probe-address", "", "--metrics-address", "127.0.0.1", "--metrics-port", strconv.Itoa(mport),
		"--max-cache-size", "100000", "-v", "warn"}
	a := &agentProc{url: "http://127.0.0.1:" + strconv.Itoa(port) + "/v1/credentials", metrics: "http://127.0.0.1:" + strconv.Itoa(mport) + "/metrics"}
	if profile {
		pport, err := proc.FreePort()
		if err != nil {
			return nil, err
		}
		a.pprof = "http://127.0.0.1:" + strconv.Itoa(pport)
		args = append(args, "--pprof-listen", "127.0.0.1:"+strconv.Itoa(pport))
	}
	p, err := proc.Start(name, agentEnv, bin, args...)
	if err != nil {
		return nil, err
	}
	a.Proc = p
	if err := proc.WaitListen("127.0.0.1:"+strconv.Itoa(port), p, time.Minute); err != nil {
		p.Stop()
		return nil, err
	}
	return a, nil
}

// scrapeSum adds the values of the metric lines starting with prefix and
// containing every one of the given label texts.
func scrapeSum(u, prefix string, labels ...string) float64 {
	resp, err := http.Get(u)
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var sum float64
next:
	for _, l := range strings.Split(string(b), "\n") {
		if !strings.HasPrefix(l, prefix) {
			continue
		}
		for _, lb := range labels {
			if !strings.Contains(l, lb) {
				continue next
			}
		}
		i := strings.LastIndexByte(l, ' ')
		v, _ := strconv.ParseFloat(l[i+1:], 64)
		sum += v
	}
	return sum
}

type pod struct {
	token string
	agent int
}

// mint asks the hosted cluster for n pod tokens spread over the
// namespaces, each pod with a UID never used before.
func mint(ctx context.Context, root *signed.Client, o options, n int, next *atomic.Int64) ([]string, error) {
	toks := make([]string, n)
	var wg sync.WaitGroup
	var first atomic.Pointer[error]
	work := make(chan int)
	for range 8 {
		wg.Go(func() {
			for i := range work {
				id := next.Add(1)
				ns := fmt.Sprintf("storm-%d", id%int64(o.namespaces))
				var out struct {
					Token string `json:"token"`
				}
				var err error
				for try := range 3 { // the loaded server may answer 5xx: retry
					err = root.REST(ctx, "POST", "/podid/v1/clusters/"+cluster+"/tokens", map[string]any{"namespace": ns, "serviceAccount": "app",
						"podName": fmt.Sprintf("app-%d", id), "podUid": fmt.Sprintf("00000000-0000-4000-8000-%012d", id), "expirationSeconds": 3600}, &out)
					if err == nil {
						break
					}
					time.Sleep(time.Duration(try+1) * 100 * time.Millisecond)
				}
				if err != nil {
					first.CompareAndSwap(nil, &err)
					continue
				}
				toks[i] = out.Token
			}
		})
	}
	for i := range n {
		work <- i
	}
	close(work)
	wg.Wait()
	if e := first.Load(); e != nil {
		return nil, *e
	}
	return toks, nil
}

// result of one storm.
type result struct {
	lat      []time.Duration
	fails    map[string]int
	wall     time.Duration
	agentCPU time.Duration
	srvCPU   time.Duration
	throttle float64
}

// storm fires every pod's request at once (one new connection each, as a
// starting pod's SDK opens) and waits for all answers.
func storm(pods []pod, agents []*agentProc, serverPID int, serverMetrics string) result {
	r := result{fails: map[string]int{}}
	lat := make([]time.Duration, len(pods))
	errs := make([]string, len(pods))
	pids := make([]int, len(agents))
	for i, a := range agents {
		pids[i] = a.PID()
	}
	var throttle0 float64
	if serverMetrics != "" {
		throttle0 = scrapeSum(serverMetrics, "podid_api_requests_total", `service="eks-auth"`, `code="429"`)
	}
	a0, s0 := cpuOf(pids...), cpuOf(serverPID)
	tr := &http.Transport{DisableKeepAlives: true, MaxConnsPerHost: 0}
	hc := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	gate := make(chan struct{})
	var ready, wg sync.WaitGroup
	for i, p := range pods {
		ready.Add(1)
		wg.Go(func() {
			req, _ := http.NewRequest(http.MethodGet, agents[p.agent].url, nil)
			req.Header.Set("Authorization", p.token)
			ready.Done()
			<-gate
			t := time.Now()
			resp, err := hc.Do(req)
			if err != nil {
				errs[i] = "transport: " + firstLine(err.Error())
				lat[i] = time.Since(t)
				return
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			lat[i] = time.Since(t)
			if resp.StatusCode != 200 || !bytes.Contains(b, []byte(`"AccessKeyId"`)) {
				errs[i] = fmt.Sprintf("HTTP %d: %s", resp.StatusCode, firstLine(string(b)))
			}
		})
	}
	ready.Wait()
	t0 := time.Now()
	close(gate)
	wg.Wait()
	r.wall = time.Since(t0)
	// Let deferred work (audit batches) land before reading the CPU.
	time.Sleep(300 * time.Millisecond)
	r.agentCPU, r.srvCPU = cpuOf(pids...)-a0, cpuOf(serverPID)-s0
	if serverMetrics != "" {
		r.throttle = scrapeSum(serverMetrics, "podid_api_requests_total", `service="eks-auth"`, `code="429"`) - throttle0
	}
	for _, e := range errs {
		if e != "" {
			r.fails[e]++
		}
	}
	slices.Sort(lat)
	r.lat = lat
	tr.CloseIdleConnections()
	return r
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	if len(s) > 120 {
		s = s[:120]
	}
	return s
}

func pct(lat []time.Duration, p float64) time.Duration {
	if len(lat) == 0 {
		return 0
	}
	i := int(float64(len(lat))*p/100+0.5) - 1
	return lat[max(0, min(i, len(lat)-1))]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.0f", float64(d)/float64(time.Millisecond)) }

func loadavg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

func run(o options) error {
	// Every pod's connection is a file descriptor here and in the agent;
	// children inherit the raised limit.
	var rl syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl) == nil && rl.Cur < rl.Max {
		rl.Cur = rl.Max
		syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl)
	}
	dir, err := os.MkdirTemp("", "podid-storm-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	bin, err := filepath.Abs(o.podid)
	if err != nil {
		return err
	}
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	devArgs := []string{"dev", "--fresh", "--data-dir", filepath.Join(dir, "dev"), "--listen", "127.0.0.1:0",
		"--pod-session-duration", "1h", "--log-level", "warn"}
	var devPprof string
	if o.profileDir != "" {
		port, err := proc.FreePort()
		if err != nil {
			return err
		}
		devPprof = "http://127.0.0.1:" + strconv.Itoa(port)
		devArgs = append(devArgs, "--pprof-listen", "127.0.0.1:"+strconv.Itoa(port))
		if err := os.MkdirAll(o.profileDir, 0o755); err != nil {
			return err
		}
	}
	dev, err := proc.Start("podid dev", env, bin, devArgs...)
	if err != nil {
		return err
	}
	defer dev.Stop()
	var state struct {
		PID             int    `json:"pid"`
		Endpoint        string `json:"endpoint"`
		AccessKeyID     string `json:"accessKeyId"`
		SecretAccessKey string `json:"secretAccessKey"`
	}
	deadline := time.Now().Add(120 * time.Second)
	for {
		b, err := os.ReadFile(filepath.Join(dir, "dev", "dev.json"))
		if err == nil && json.Unmarshal(b, &state) == nil && state.Endpoint != "" {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("podid dev not ready in 120 s:\n%s", dev.Log())
		}
		time.Sleep(50 * time.Millisecond)
	}
	serverMetrics := state.Endpoint + "/metrics"
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}, Timeout: 30 * time.Second}
	root := &signed.Client{Endpoint: state.Endpoint, Region: region, Creds: aws.Credentials{AccessKeyID: state.AccessKeyID, SecretAccessKey: state.SecretAccessKey}, HTTP: hc}
	ctx := context.Background()
	for i := range o.namespaces {
		role := fmt.Sprintf("storm-%d", i)
		if _, err := root.Query(ctx, "iam", url.Values{"Action": {"CreateRole"}, "Version": {"2010-05-08"}, "RoleName": {role}, "AssumeRolePolicyDocument": {trust}}); err != nil {
			return err
		}
		if err := root.REST(ctx, "POST", "/clusters/"+cluster+"/pod-identity-associations", map[string]any{
			"namespace": fmt.Sprintf("storm-%d", i), "serviceAccount": "app", "roleArn": "arn:aws:iam::123456789012:role/" + role}, nil); err != nil {
			return err
		}
	}
	nAgents := max(1, o.agents)
	keys, err := nodeSessions(ctx, root, nAgents)
	if err != nil {
		return fmt.Errorf("node sessions: %w", err)
	}
	agents := make([]*agentProc, nAgents)
	for i := range agents {
		a, err := startAgent(fmt.Sprintf("agent %d", i), bin, env, state.Endpoint, keys[i], i == 0 && o.profileDir != "")
		if err != nil {
			return err
		}
		defer a.Stop()
		agents[i] = a
	}
	fmt.Printf("storm: podid dev (pid %d) and %d standalone agents (node-role sessions); %d namespaces, one association and role each; load average %s; %d CPUs\n",
		state.PID, nAgents, o.namespaces, loadavg(), runtime.NumCPU())
	fmt.Printf("CPU from /proc/PID/stat utime+stime (10 ms ticks), read before the storm and 300 ms after its last answer\n\n")
	fmt.Printf("%-8s %6s %7s %7s %7s %7s %7s %7s %6s %9s %13s %13s %7s\n", "agents", "pods", "wall", "p50", "p90", "p99", "p99.9", "max", "fails", "throttled", "agent CPU/op", "server CPU/op", "load")
	var peer *missPeer
	if o.missPeer {
		if peer, err = startMissPeer(); err != nil {
			return fmt.Errorf("miss peer: %w", err)
		}
		defer peer.stop()
	}
	var next atomic.Int64
	largest := slices.Max(o.sizes)
	var hitToken string
	runs := []int{1}
	if o.agents > 1 {
		runs = append(runs, o.agents)
	}
	failed := false
	for _, na := range runs {
		for _, n := range o.sizes {
			toks, err := mint(ctx, root, o, n, &next)
			if err != nil {
				return fmt.Errorf("mint tokens: %w", err)
			}
			pods := make([]pod, n)
			for i, t := range toks {
				pods[i] = pod{token: t, agent: i % na}
			}
			if hitToken == "" {
				hitToken = toks[0]
			}
			var profWG sync.WaitGroup
			if o.profileDir != "" && na == 1 && n == largest {
				for _, pr := range []struct{ name, url string }{{"agent", agents[0].pprof}, {"server", devPprof}} {
					profWG.Go(func() {
						if err := fetchProfile(pr.url, filepath.Join(o.profileDir, fmt.Sprintf("%s-%d.pprof", pr.name, n)), 6); err != nil {
							fmt.Fprintln(os.Stderr, "storm: profile:", err)
						}
					})
				}
				time.Sleep(200 * time.Millisecond)
			}
			load := loadavg()
			r := storm(pods, agents[:na], state.PID, serverMetrics)
			profWG.Wait()
			nf := 0
			for _, c := range r.fails {
				nf += c
			}
			failed = failed || nf > 0 || r.throttle > 0
			fmt.Printf("%-8d %6d %7s %7s %7s %7s %7s %7s %6d %9.0f %10.0f µs %10.0f µs %7s\n", na, n, ms(r.wall),
				ms(pct(r.lat, 50)), ms(pct(r.lat, 90)), ms(pct(r.lat, 99)), ms(pct(r.lat, 99.9)), ms(r.lat[len(r.lat)-1]), nf, r.throttle,
				float64(r.agentCPU)/float64(n)/1e3, float64(r.srvCPU)/float64(n)/1e3, strings.Fields(load)[0])
			for e, c := range r.fails {
				fmt.Printf("    %d× %s\n", c, e)
			}
			if na == 1 && peer != nil {
				// The same pods through the bare proxy and upstream, at once.
				pr := storm(pods, []*agentProc{peer.proxy}, peer.upstream.PID(), "")
				nf := 0
				for _, c := range pr.fails {
					nf += c
				}
				fmt.Printf("%-8s %6d %7s %7s %7s %7s %7s %7s %6d %9s %10.0f µs %10.0f µs %7s  (agent / bare %.2f×, server / bare %.2f×)\n", "bare", n, ms(pr.wall),
					ms(pct(pr.lat, 50)), ms(pct(pr.lat, 90)), ms(pct(pr.lat, 99)), ms(pct(pr.lat, 99.9)), ms(pr.lat[len(pr.lat)-1]), nf, "-",
					float64(pr.agentCPU)/float64(n)/1e3, float64(pr.srvCPU)/float64(n)/1e3, strings.Fields(loadavg())[0],
					float64(r.agentCPU)/float64(max(pr.agentCPU, 1)), float64(r.srvCPU)/float64(max(pr.srvCPU, 1)))
				for e, c := range pr.fails {
					fmt.Printf("    %d× %s\n", c, e)
				}
			}
		}
	}
	fmt.Println("\n(latencies in ms; agent CPU summed over the agents of the run; \"bare\": the same pods through a bare net/http proxy (agent column) and upstream (server column), 64 kept connections between them)")
	if o.hitFor > 0 {
		if err := hitPath(o, agents[0], hitToken); err != nil {
			return err
		}
	}
	if failed {
		return errors.New("some storm requests failed or were throttled")
	}
	return nil
}

// fetchProfile records a CPU profile of secs seconds (a storm starts
// 200 ms into its 6).
func fetchProfile(base, file string, secs int) error {
	resp, err := http.Get(base + "/debug/pprof/profile?seconds=" + strconv.Itoa(secs))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return fmt.Errorf("%s: HTTP %d", base, resp.StatusCode)
	}
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(f, resp.Body)
	return err
}
