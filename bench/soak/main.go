// Command soak runs podid dev (server, hosted cluster, loopback agent and
// the DynamoDB gateway), plus a standalone podid agent, under mixed load
// for a while, with tokens rotated every few seconds and the agent's
// credentials renewed every few seconds, and reports the resident memory,
// goroutines, threads, open files and audit size of each process at the
// start and at the end. It is not part of `make test`; `make soak` runs it.
//
// Load, all on loopback: pods fetching credentials from dev's agent and a
// standalone agent (the "quiet node") with tokens re-minted every -rotate;
// a flood of made-up tokens through a third agent with its own node key
// (the "noisy node"), which EKS Auth throttles without touching the others; DynamoDB ListTables through the gateway and STS
// GetCallerIdentity with the pods' credentials; an association created and
// deleted every 20 s (change-feed purges). The gateway's upstream is a stub
// in this process that answers {}.
//
//	cd bench && go run ./soak -podid ../bin/podid -duration 4m
package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	_ "modernc.org/sqlite"

	"github.com/podid/podid/bench/internal/proc"
	"github.com/podid/podid/bench/internal/signed"
)

const (
	cluster = "eks-workshop"
	region  = "us-west-2"
)

type options struct {
	podid    string
	duration time.Duration
	warmup   time.Duration
	pods     int
	rotate   time.Duration
	podRate  float64
	flood    float64
	keep     bool
}

func main() {
	var o options
	flag.StringVar(&o.podid, "podid", "../bin/podid", "the podid binary")
	flag.DurationVar(&o.duration, "duration", 4*time.Minute, "how long to load after the warm-up")
	flag.DurationVar(&o.warmup, "warmup", 30*time.Second, "load before the first sample")
	flag.IntVar(&o.pods, "pods", 40, "pods, each with its own token")
	flag.DurationVar(&o.rotate, "rotate", 5*time.Second, "how often each pod's token is re-minted")
	flag.Float64Var(&o.podRate, "pod-rate", 5, "credential requests per second per pod (to each agent)")
	flag.Float64Var(&o.flood, "flood", 200, "made-up tokens per second at the standalone agent")
	flag.BoolVar(&o.keep, "keep", false, "keep the data directory")
	flag.Parse()
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		os.Exit(1)
	}
}

// startAgent runs a standalone agent with a key, following the change
// feed and renewing credentials every 20 s; it returns the process, its
// credentials URL and its metrics URL.
func startAgent(name, bin string, env []string, endpoint string, key aws.Credentials) (*proc.Proc, string, string, error) {
	port, err := proc.FreePort()
	if err != nil {
		return nil, "", "", err
	}
	metricsPort, err := proc.FreePort()
	if err != nil {
		return nil, "", "", err
	}
	agentEnv := append(append([]string(nil), env...), "AWS_ACCESS_KEY_ID="+key.AccessKeyID, "AWS_SECRET_ACCESS_KEY="+key.SecretAccessKey, "AWS_REGION="+region)
	p, err := proc.Start(name, agentEnv, bin, "agent", "--cluster-name", cluster, "--endpoint", endpoint,
		"--bind-hosts", "127.0.0.1", "--port", strconv.Itoa(port), "--allowed-hosts", "127.0.0.1", "--manage-addresses=false",
		"--probe-address", "", "--metrics-address", "127.0.0.1", "--metrics-port", strconv.Itoa(metricsPort),
		"--change-feed-endpoint", endpoint, "--max-credential-retention-before-renewal", "20s", "-v", "warn")
	if err != nil {
		return nil, "", "", err
	}
	if err := proc.WaitListen("127.0.0.1:"+strconv.Itoa(port), p, 30*time.Second); err != nil {
		p.Stop()
		return nil, "", "", err
	}
	return p, "http://127.0.0.1:" + strconv.Itoa(port) + "/v1/credentials", "http://127.0.0.1:" + strconv.Itoa(metricsPort) + "/metrics", nil
}

var (
	akidRE   = regexp.MustCompile(`<AccessKeyId>([^<]+)</AccessKeyId>`)
	secretRE = regexp.MustCompile(`<SecretAccessKey>([^<]+)</SecretAccessKey>`)
)

// nodeUser creates an IAM user allowed to call EKS Auth and returns its key.
func nodeUser(ctx context.Context, root *signed.Client, name string) (aws.Credentials, error) {
	if _, err := root.Query(ctx, "iam", url.Values{"Action": {"CreateUser"}, "Version": {"2010-05-08"}, "UserName": {name}}); err != nil {
		return aws.Credentials{}, err
	}
	if _, err := root.Query(ctx, "iam", url.Values{"Action": {"PutUserPolicy"}, "Version": {"2010-05-08"}, "UserName": {name}, "PolicyName": {"agent"},
		"PolicyDocument": {`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["eks-auth:AssumeRoleForPodIdentity","eks:ListPodIdentityAssociations"],"Resource":"*"}]}`}}); err != nil {
		return aws.Credentials{}, err
	}
	b, err := root.Query(ctx, "iam", url.Values{"Action": {"CreateAccessKey"}, "Version": {"2010-05-08"}, "UserName": {name}})
	if err != nil {
		return aws.Credentials{}, err
	}
	a, s := akidRE.FindSubmatch(b), secretRE.FindSubmatch(b)
	if a == nil || s == nil {
		return aws.Credentials{}, fmt.Errorf("CreateAccessKey: no key in %s", b)
	}
	return aws.Credentials{AccessKeyID: string(a[1]), SecretAccessKey: string(s[1])}, nil
}

const trustPods = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"pods.eks.amazonaws.com"},"Action":["sts:AssumeRole","sts:TagSession"]}]}`

// counters of the load.
type counters struct {
	ok, fail, refused atomic.Int64
}

func run(o options) error {
	dir, err := os.MkdirTemp("", "podid-soak-")
	if err != nil {
		return err
	}
	if !o.keep {
		defer os.RemoveAll(dir)
	}
	bin, err := filepath.Abs(o.podid)
	if err != nil {
		return err
	}
	// The gateway's upstream: a stub DynamoDB that answers {}.
	upstream := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/x-amz-json-1.0")
		io.WriteString(w, `{"TableNames":[]}`)
	})}
	ul, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	go upstream.Serve(ul)
	defer upstream.Close()
	gwPort, err := proc.FreePort()
	if err != nil {
		return err
	}
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	auditLog := filepath.Join(dir, "audit.jsonl")
	dev, err := proc.Start("podid dev", env, bin, "dev", "--fresh", "--data-dir", filepath.Join(dir, "dev"), "--listen", "127.0.0.1:0",
		"--gateway-listen", "127.0.0.1:"+strconv.Itoa(gwPort), "--dynamodb-upstream", "http://"+ul.Addr().String(),
		"--pod-session-duration", "15m", "--audit-log", auditLog, "--log-level", "warn")
	if err != nil {
		return err
	}
	defer dev.Stop()
	var state struct {
		PID             int    `json:"pid"`
		Endpoint        string `json:"endpoint"`
		AccessKeyID     string `json:"accessKeyId"`
		SecretAccessKey string `json:"secretAccessKey"`
		Clusters        []struct {
			AgentURL string `json:"agentUrl"`
		} `json:"clusters"`
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		b, err := os.ReadFile(filepath.Join(dir, "dev", "dev.json"))
		if err == nil && json.Unmarshal(b, &state) == nil && state.Endpoint != "" {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("podid dev not ready in 60 s:\n%s", dev.Log())
		}
		time.Sleep(50 * time.Millisecond)
	}
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256}, Timeout: 10 * time.Second}
	root := &signed.Client{Endpoint: state.Endpoint, Region: region, Creds: aws.Credentials{AccessKeyID: state.AccessKeyID, SecretAccessKey: state.SecretAccessKey}, HTTP: hc}
	ctx := context.Background()
	if _, err := root.Query(ctx, "iam", url.Values{"Action": {"CreateRole"}, "Version": {"2010-05-08"}, "RoleName": {"soak"}, "AssumeRolePolicyDocument": {trustPods}}); err != nil {
		return err
	}
	if _, err := root.Query(ctx, "iam", url.Values{"Action": {"PutRolePolicy"}, "Version": {"2010-05-08"}, "RoleName": {"soak"}, "PolicyName": {"ddb"},
		"PolicyDocument": {`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"dynamodb:*","Resource":"*"}]}`}}); err != nil {
		return err
	}
	roleARN := "arn:aws:iam::123456789012:role/soak"
	if err := root.REST(ctx, "POST", "/clusters/"+cluster+"/pod-identity-associations", map[string]any{"namespace": "soak", "serviceAccount": "soak", "roleArn": roleARN}, nil); err != nil {
		return err
	}

	// Two standalone agents, each with its own node's key: a quiet node
	// whose pods fetch credentials like dev's agent's, and a noisy node
	// that only passes on the flood of made-up tokens.
	quietKey, err := nodeUser(ctx, root, "quiet-node")
	if err != nil {
		return err
	}
	noisyKey, err := nodeUser(ctx, root, "noisy-node")
	if err != nil {
		return err
	}
	ag, agentURL, agentMetrics, err := startAgent("podid agent", bin, env, state.Endpoint, quietKey)
	if err != nil {
		return err
	}
	defer ag.Stop()
	noisy, noisyURL, noisyMetrics, err := startAgent("noisy agent", bin, env, state.Endpoint, noisyKey)
	if err != nil {
		return err
	}
	defer noisy.Stop()

	lctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	var creds, floods, gw, sts, churn counters
	agents := []string{state.Clusters[0].AgentURL, agentURL}
	var podCreds sync.Map // pod index -> aws.Credentials
	for p := range o.pods {
		wg.Go(func() { podLoop(lctx, o, root, hc, agents, p, &creds, &podCreds) })
	}
	wg.Go(func() { floodLoop(lctx, o, hc, noisyURL, &floods) })
	for w := range 2 {
		wg.Go(func() {
			apiLoop(lctx, hc, state.Endpoint, "http://127.0.0.1:"+strconv.Itoa(gwPort), w, &podCreds, &gw, &sts)
		})
	}
	wg.Go(func() { churnLoop(lctx, root, &churn) })

	fmt.Printf("soak: warm-up %v, then %v of load; pods %d, tokens re-minted every %v, %.0f req/s per pod per agent, flood %.0f/s\n",
		o.warmup, o.duration, o.pods, o.rotate, o.podRate, o.flood)
	time.Sleep(o.warmup)
	procs := []target{{"podid dev", state.PID, state.Endpoint + "/metrics"}, {"podid agent", ag.PID(), agentMetrics}, {"noisy agent", noisy.PID(), noisyMetrics}}
	first := sampleAll(procs, dir, auditLog)
	n0 := snapshot(&creds, &floods, &gw, &sts, &churn)
	time.Sleep(o.duration)
	last := sampleAll(procs, dir, auditLog)
	n1 := snapshot(&creds, &floods, &gw, &sts, &churn)
	stop()
	wg.Wait()

	fmt.Printf("\nload during the measured %v (ok/failed/refused as expected):\n", o.duration)
	for i, name := range []string{"pod credentials (both agents)", "made-up tokens (refused)", "gateway ListTables", "STS GetCallerIdentity", "association create/delete"} {
		fmt.Printf("  %-32s %9d ok %7d failed %9d refused\n", name, n1[i][0]-n0[i][0], n1[i][1]-n0[i][1], n1[i][2]-n0[i][2])
	}
	fmt.Printf("\n%-12s %-24s %14s %14s %10s\n", "process", "measure", "start", "end", "change")
	grew := false
	for i, p := range procs {
		for _, m := range measures {
			a, b := first[i][m], last[i][m]
			fmt.Printf("%-12s %-24s %14.0f %14.0f %+9.1f%%\n", p.name, m, a, b, 100*(b-a)/max(a, 1))
			if growth(m, a, b) {
				grew = true
			}
		}
	}
	for _, m := range []string{"audit rows issued", "audit rows refused", "audit events refused", "audit log lines", "database bytes"} {
		a, b := first[0][m], last[0][m]
		fmt.Printf("%-12s %-24s %14.0f %14.0f %+9.1f%%\n", "store", m, a, b, 100*(b-a)/max(a, 1))
	}
	if n1[0][1]-n0[0][1] > 0 || n1[2][1]-n0[2][1] > 0 || n1[3][1]-n0[3][1] > 0 {
		fmt.Println("\nsome legitimate requests failed (see counts above)")
	}
	if grew {
		return errors.New("a process grew (RSS > +25%, goroutines > +50, open files > +20)")
	}
	fmt.Println("\nno growth: RSS within 25%, goroutines within 50, open files within 20")
	return nil
}

var measures = []string{"rss KiB", "goroutines", "threads", "open files"}

func growth(m string, a, b float64) bool {
	switch m {
	case "rss KiB":
		return b > a*1.25
	case "goroutines":
		return b > a+50
	case "open files":
		return b > a+20
	}
	return false
}

type target struct {
	name    string
	pid     int
	metrics string
}

func sampleAll(ps []target, dir, auditLog string) []map[string]float64 {
	out := make([]map[string]float64, len(ps))
	for i, p := range ps {
		m := map[string]float64{}
		if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.pid)); err == nil {
			for _, l := range strings.Split(string(b), "\n") {
				f := strings.Fields(l)
				if len(f) >= 2 && f[0] == "VmRSS:" {
					m["rss KiB"], _ = strconv.ParseFloat(f[1], 64)
				}
				if len(f) >= 2 && f[0] == "Threads:" {
					m["threads"], _ = strconv.ParseFloat(f[1], 64)
				}
			}
		}
		if fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", p.pid)); err == nil {
			m["open files"] = float64(len(fds))
		}
		m["goroutines"] = scrape(p.metrics, "go_goroutines")
		out[i] = m
	}
	// Audit: rows (events counted once per row) from the lines file and
	// the database's size on disk.
	if b, err := os.ReadFile(auditLog); err == nil {
		out[0]["audit log lines"] = float64(bytes.Count(b, []byte("\n")))
	}
	var size int64
	filepath.Walk(filepath.Join(dir, "dev"), func(path string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() && strings.Contains(filepath.Base(path), ".db") {
			size += info.Size()
		}
		return nil
	})
	out[0]["database bytes"] = float64(size)
	// Rows and the events they stand for, read from the database (WAL
	// mode lets a reader in beside the server).
	if db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "dev", "podid.db")+"?mode=ro"); err == nil {
		if rs, err := db.Query(`SELECT decision, count(*), coalesce(sum(count), 0) FROM audit GROUP BY decision`); err == nil {
			for rs.Next() {
				var d string
				var rows, events float64
				if rs.Scan(&d, &rows, &events) == nil {
					out[0]["audit rows "+d], out[0]["audit events "+d] = rows, events
				}
			}
			rs.Close()
		}
		db.Close()
	}
	return out
}

func scrape(u, name string) float64 {
	resp, err := http.Get(u)
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, name+" ") {
			v, _ := strconv.ParseFloat(strings.TrimSpace(strings.TrimPrefix(l, name)), 64)
			return v
		}
	}
	return -1
}

func snapshot(cs ...*counters) [][3]int64 {
	out := make([][3]int64, len(cs))
	for i, c := range cs {
		out[i] = [3]int64{c.ok.Load(), c.fail.Load(), c.refused.Load()}
	}
	return out
}

func tick(ctx context.Context, rate float64, fn func()) {
	t := time.NewTicker(time.Duration(float64(time.Second) / rate))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			fn()
		}
	}
}

// podLoop is one pod: a token re-minted every o.rotate, credentials
// fetched from each agent at o.podRate.
func podLoop(ctx context.Context, o options, root *signed.Client, hc *http.Client, agents []string, p int, c *counters, podCreds *sync.Map) {
	var tok string
	var minted time.Time
	name := fmt.Sprintf("soak-%d", p)
	tick(ctx, o.podRate, func() {
		if tok == "" || time.Since(minted) > o.rotate {
			var out struct {
				Token string `json:"token"`
			}
			err := root.REST(ctx, "POST", "/podid/v1/clusters/"+cluster+"/tokens", map[string]any{"namespace": "soak", "serviceAccount": "soak", "podName": name,
				"podUid": fmt.Sprintf("00000000-0000-4000-8000-%012d", p), "expirationSeconds": 600}, &out)
			if err != nil {
				if ctx.Err() == nil {
					c.fail.Add(1)
				}
				return
			}
			tok, minted = out.Token, time.Now()
		}
		for _, a := range agents {
			st, body, err := get(ctx, hc, a, tok)
			switch {
			case ctx.Err() != nil:
			case err == nil && st == 200:
				c.ok.Add(1)
				var cr struct{ AccessKeyId, SecretAccessKey, Token string }
				if json.Unmarshal(body, &cr) == nil {
					podCreds.Store(p, aws.Credentials{AccessKeyID: cr.AccessKeyId, SecretAccessKey: cr.SecretAccessKey, SessionToken: cr.Token})
				}
			default:
				c.fail.Add(1)
			}
		}
	})
}

func get(ctx context.Context, hc *http.Client, u, tok string) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", tok)
	resp, err := hc.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// floodLoop sends made-up tokens of a valid shape, each new, through the
// noisy node's agent.
func floodLoop(ctx context.Context, o options, hc *http.Client, agentURL string, c *counters) {
	n := 0
	tick(ctx, o.flood, func() {
		n++
		exp := time.Now().Add(time.Hour).Unix()
		payload := fmt.Sprintf(`{"aud":["pods.eks.amazonaws.com"],"exp":%d,"iat":%d,"nbf":%d,"iss":"https://made.up","sub":"system:serviceaccount:x:y","kubernetes.io":{"namespace":"x","pod":{"name":"p%d","uid":"u%d"},"serviceaccount":{"name":"y","uid":"s"}}}`, exp, exp-3600, exp-3600, n, n)
		tok := b64(`{"alg":"RS256","kid":"k"}`) + "." + b64(payload) + "." + b64("forged-"+strconv.Itoa(n))
		st, _, err := get(ctx, hc, agentURL, tok)
		switch {
		case ctx.Err() != nil:
		case err == nil && st >= 400 && st < 500:
			c.refused.Add(1)
		case err == nil && st == 503:
			c.refused.Add(1) // the agent's backoff while EKS Auth throttles the flood
		case err == nil && st == 200:
			c.fail.Add(1) // a made-up token must never be served
		default:
			c.fail.Add(1)
		}
	})
}

// apiLoop calls the gateway and STS with some pod's credentials.
func apiLoop(ctx context.Context, hc *http.Client, endpoint, gateway string, w int, podCreds *sync.Map, gw, sts *counters) {
	i := w
	tick(ctx, 20, func() {
		i++
		v, ok := podCreds.Load(i % 40)
		if !ok {
			return
		}
		c := &signed.Client{Endpoint: endpoint, Region: region, Creds: v.(aws.Credentials), HTTP: hc}
		st, _, err := c.Do(ctx, "dynamodb", http.MethodPost, gateway+"/", "application/x-amz-json-1.0", "DynamoDB_20120810.ListTables", []byte(`{}`))
		count(ctx, gw, err, st)
		st, _, err = c.Do(ctx, "sts", http.MethodPost, endpoint+"/", "application/x-www-form-urlencoded; charset=utf-8", "", []byte("Action=GetCallerIdentity&Version=2011-06-15"))
		count(ctx, sts, err, st)
	})
}

func count(ctx context.Context, c *counters, err error, st int) {
	switch {
	case ctx.Err() != nil:
	case err == nil && st == 200:
		c.ok.Add(1)
	case err == nil && st == 403:
		c.refused.Add(1) // credentials rotated away between load and use
	default:
		c.fail.Add(1)
	}
}

// churnLoop creates and deletes a second association every 20 s, so the
// change feed purges and the agents re-fetch.
func churnLoop(ctx context.Context, root *signed.Client, c *counters) {
	tick(ctx, 0.05, func() {
		var out struct {
			Association struct {
				AssociationID string `json:"associationId"`
			} `json:"association"`
		}
		if err := root.REST(ctx, "POST", "/clusters/"+cluster+"/pod-identity-associations",
			map[string]any{"namespace": "churn", "serviceAccount": "churn", "roleArn": "arn:aws:iam::123456789012:role/soak"}, &out); err != nil {
			if ctx.Err() == nil {
				c.fail.Add(1)
			}
			return
		}
		if err := root.REST(ctx, "DELETE", "/clusters/"+cluster+"/pod-identity-associations/"+out.Association.AssociationID, nil, nil); err != nil {
			if ctx.Err() == nil {
				c.fail.Add(1)
			}
			return
		}
		c.ok.Add(1)
	})
}

func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
