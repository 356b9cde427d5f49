package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// conn is a minimal HTTP/1.1 keep-alive client connection: it writes a
// prepared request and reads the response, so the load generator costs
// little next to the servers it measures (like wrk).
type conn struct {
	addr string
	c    net.Conn
	r    *bufio.Reader
	buf  []byte
}

func dial(addr string) (*conn, error) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	return &conn{addr: addr, c: c, r: bufio.NewReaderSize(c, 8192)}, nil
}

func request(token string) []byte {
	return []byte("GET /v1/credentials HTTP/1.1\r\nHost: 169.254.170.23\r\nAccept: application/json\r\nAuthorization: " + token + "\r\n\r\n")
}

// do sends req and returns the status and body.
func (c *conn) do(req []byte) (int, []byte, error) {
	if _, err := c.c.Write(req); err != nil {
		return 0, nil, err
	}
	line, err := c.r.ReadSlice('\n')
	if err != nil {
		return 0, nil, err
	}
	if len(line) < 12 {
		return 0, nil, fmt.Errorf("bad status line %q", line)
	}
	status, err := strconv.Atoi(string(line[9:12]))
	if err != nil {
		return 0, nil, fmt.Errorf("bad status line %q", line)
	}
	length, closing := -1, false
	for {
		h, err := c.r.ReadSlice('\n')
		if err != nil {
			return 0, nil, err
		}
		if len(h) <= 2 {
			break
		}
		if k, v, ok := bytes.Cut(h, []byte(":")); ok {
			v = bytes.TrimSpace(v)
			switch {
			case bytes.EqualFold(k, []byte("Content-Length")):
				length, _ = strconv.Atoi(string(v))
			case bytes.EqualFold(k, []byte("Connection")) && bytes.EqualFold(v, []byte("close")):
				closing = true
			}
		}
	}
	if length < 0 {
		return 0, nil, errors.New("response without Content-Length")
	}
	if cap(c.buf) < length {
		c.buf = make([]byte, length)
	}
	body := c.buf[:length]
	if _, err := io.ReadFull(c.r, body); err != nil {
		return 0, nil, err
	}
	if closing {
		c.c.Close()
		nc, err := dial(c.addr)
		if err != nil {
			return 0, nil, err
		}
		*c = *nc
	}
	return status, body, nil
}

// runStats summarizes one load run.
type runStats struct {
	requests int
	errors   int
	non200   int
	elapsed  time.Duration
	lat      []time.Duration
	cpuUs    int64 // child CPU during the run
}

func (s runStats) rate() float64 { return float64(s.requests) / s.elapsed.Seconds() }
func (s runStats) cpuPerReq() float64 {
	if s.requests == 0 {
		return 0
	}
	return float64(s.cpuUs) / float64(s.requests)
}

func pct(lat []time.Duration, p float64) time.Duration {
	if len(lat) == 0 {
		return 0
	}
	return lat[min(len(lat)-1, int(float64(len(lat))*p))]
}

// load drives addr from conns connections for d; reqFor gives each
// request's bytes.
func load(ch *child, addr string, conns int, d time.Duration, reqFor func(worker int) []byte) (runStats, error) {
	cs := make([]*conn, conns)
	for i := range cs {
		c, err := dial(addr)
		if err != nil {
			return runStats{}, err
		}
		defer func() { cs[i].c.Close() }()
		cs[i] = c
	}
	before, err := ch.usage()
	if err != nil {
		return runStats{}, err
	}
	var wg sync.WaitGroup
	var stop atomic.Bool
	lats := make([][]time.Duration, conns)
	var errs, non200 atomic.Int64
	start := time.Now()
	for i := range conns {
		wg.Go(func() {
			l := make([]time.Duration, 0, 1<<16)
			for !stop.Load() {
				t0 := time.Now()
				status, _, err := cs[i].do(reqFor(i))
				if err != nil {
					errs.Add(1)
					return
				}
				l = append(l, time.Since(t0))
				if status != 200 {
					non200.Add(1)
				}
			}
			lats[i] = l
		})
	}
	time.Sleep(d)
	stop.Store(true)
	wg.Wait()
	elapsed := time.Since(start)
	after, err := ch.usage()
	if err != nil {
		return runStats{}, err
	}
	all := slices.Concat(lats...)
	slices.Sort(all)
	return runStats{
		requests: len(all), errors: int(errs.Load()), non200: int(non200.Load()), elapsed: elapsed, lat: all,
		cpuUs: after.UserMicros + after.SysMicros - before.UserMicros - before.SysMicros,
	}, nil
}

func printHeader() {
	fmt.Printf("%-8s %-6s %9s %9s %9s %9s %9s %11s %s\n", "scenario", "target", "req/s", "p50", "p90", "p99", "max", "CPU/req", "notes")
}

func printRun(scenario, target string, s runStats, notes string) {
	fmt.Printf("%-8s %-6s %9.0f %9s %9s %9s %9s %9.1fµs %s\n", scenario, target, s.rate(),
		fmtDur(pct(s.lat, .5)), fmtDur(pct(s.lat, .9)), fmtDur(pct(s.lat, .99)), fmtDur(pct(s.lat, 1)), s.cpuPerReq(), notes)
	if s.errors > 0 || s.non200 > 0 {
		fmt.Printf("         !! %d connection errors, %d non-200 responses\n", s.errors, s.non200)
	}
}

func fmtDur(d time.Duration) string {
	switch {
	case d >= time.Second:
		return fmt.Sprintf("%.2fs", d.Seconds())
	case d >= time.Millisecond:
		return fmt.Sprintf("%.2fms", float64(d)/1e6)
	default:
		return fmt.Sprintf("%dµs", d.Microseconds())
	}
}

var tokenSerial atomic.Int64

// warm fetches credentials for tok once and returns the body.
func warm(addr, tok string) ([]byte, error) {
	c, err := dial(addr)
	if err != nil {
		return nil, err
	}
	defer c.c.Close()
	status, body, err := c.do(request(tok))
	if err != nil {
		return nil, err
	}
	if status != 200 {
		return nil, fmt.Errorf("warm-up: status %d: %s", status, body)
	}
	return bytes.Clone(body), nil
}

func scenarioHit(o options, ch *child, fake *fakeEKSAuth) error {
	tok := podToken(tokenSerial.Add(1))
	body, err := warm(ch.Agent, tok)
	if err != nil {
		return err
	}
	if err := ch.control("PUT", "/bare-body", string(body), nil); err != nil {
		return err
	}
	fmt.Printf("cache hits: one token (%d bytes), %d-byte JSON, %d connections\n", len(tok), len(body), o.conns)
	printHeader()
	req := request(tok)
	calls := fake.calls.Load()
	targets := map[string]string{"bare": ch.Bare, "bare+t": ch.BareT, "agent": ch.Agent}
	order := []string{"bare", "bare+t", "agent"}
	rates := map[string][]float64{}
	cpus := map[string][]float64{}
	var ratios, ratiosT []float64
	for i := range o.rounds {
		// Rotate the order, so no target always runs right after another.
		got := map[string]runStats{}
		for j := range order {
			target := order[(i+j)%len(order)]
			s, err := load(ch, targets[target], o.conns, o.duration, func(int) []byte { return req })
			if err != nil {
				return err
			}
			printRun("hit", target, s, "")
			got[target] = s
			rates[target] = append(rates[target], s.rate())
			cpus[target] = append(cpus[target], s.cpuPerReq())
		}
		ratios = append(ratios, 100*got["agent"].rate()/got["bare"].rate())
		ratiosT = append(ratiosT, 100*got["agent"].rate()/got["bare+t"].rate())
	}
	fmt.Printf("agent/bare throughput: median %.1f%% of %d rounds (vs bare+t, the same handler behind the agent's server timeouts: %.1f%%)\n",
		median(ratios), len(ratios), median(ratiosT))
	fmt.Printf("median req/s: bare %.0f, bare+t %.0f, agent %.0f\n", median(rates["bare"]), median(rates["bare+t"]), median(rates["agent"]))
	fmt.Printf("median CPU/req: bare %.1fµs, bare+t %.1fµs, agent %.1fµs; EKS Auth calls during the runs: %d\n",
		median(cpus["bare"]), median(cpus["bare+t"]), median(cpus["agent"]), fake.calls.Load()-calls)
	return nil
}

func scenarioMiss(o options, ch *child, fake *fakeEKSAuth) error {
	fmt.Printf("cache misses: a new pod token per request (instant fake EKS Auth in the load process), %d connections\n", o.conns)
	printHeader()
	bareReq := request(podToken(0))
	b, err := load(ch, ch.Bare, o.conns, o.duration, func(int) []byte { return bareReq })
	if err != nil {
		return err
	}
	printRun("miss", "bare", b, "(same request, no work)")
	calls := fake.calls.Load()
	a, err := load(ch, ch.Agent, o.conns, o.duration, func(int) []byte { return request(podToken(tokenSerial.Add(1))) })
	if err != nil {
		return err
	}
	printRun("miss", "agent", a, fmt.Sprintf("%d EKS Auth calls", fake.calls.Load()-calls))
	return nil
}

// burst sends one request from each of n pre-connected callers at once
// and returns their statuses and latencies.
func burst(addr string, n int, tok string) ([]int, []time.Duration, error) {
	cs := make([]*conn, n)
	for i := range cs {
		c, err := dial(addr)
		if err != nil {
			return nil, nil, err
		}
		defer c.c.Close()
		cs[i] = c
	}
	req := request(tok)
	statuses := make([]int, n)
	lat := make([]time.Duration, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			t0 := time.Now()
			statuses[i], _, _ = cs[i].do(req)
			lat[i] = time.Since(t0)
		})
	}
	close(start)
	wg.Wait()
	return statuses, lat, nil
}

func scenarioBurst(o options, ch *child, fake *fakeEKSAuth) error {
	fmt.Printf("bursts: %d callers at once with one new token, fake EKS Auth latency %v, %d rounds\n", o.burstSize, o.burstDelay, o.burstRounds)
	fake.setDelay(o.burstDelay)
	defer fake.setDelay(0)
	fake.takeDurations()
	var worstExtra time.Duration
	maxCalls, bad := int64(0), 0
	var all []time.Duration
	for range o.burstRounds {
		calls := fake.calls.Load()
		statuses, lat, err := burst(ch.Agent, o.burstSize, podToken(tokenSerial.Add(1)))
		if err != nil {
			return err
		}
		n := fake.calls.Load() - calls
		maxCalls = max(maxCalls, n)
		up := slices.Max(fake.takeDurations())
		for i, s := range statuses {
			if s != 200 {
				bad++
			}
			worstExtra = max(worstExtra, lat[i]-up)
		}
		all = append(all, lat...)
	}
	slices.Sort(all)
	fmt.Printf("upstream calls per burst: max %d; caller latency p50 %s p99 %s max %s; worst caller wait beyond its upstream call: %s; non-200: %d\n",
		maxCalls, fmtDur(pct(all, .5)), fmtDur(pct(all, .99)), fmtDur(pct(all, 1)), fmtDur(worstExtra), bad)
	return nil
}

func scenarioSlow(o options, ch *child, fake *fakeEKSAuth) error {
	fmt.Printf("slow upstream: %d callers at once with one new token, fake EKS Auth latency %v\n", o.slowCallers, o.slowDelay)
	fake.setDelay(o.slowDelay)
	defer fake.setDelay(0)
	calls := fake.calls.Load()
	statuses, lat, err := burst(ch.Agent, o.slowCallers, podToken(tokenSerial.Add(1)))
	if err != nil {
		return err
	}
	counts := map[int]int{}
	for _, s := range statuses {
		counts[s]++
	}
	slices.Sort(lat)
	fmt.Printf("upstream calls: %d; statuses %v; latency min %s max %s\n", fake.calls.Load()-calls, counts, fmtDur(lat[0]), fmtDur(lat[len(lat)-1]))
	return nil
}

func scenarioMemory(o options, ch *child, fake *fakeEKSAuth) error {
	before, err := usageGC(ch)
	if err != nil {
		return err
	}
	c, err := dial(ch.Agent)
	if err != nil {
		return err
	}
	defer c.c.Close()
	tokLen := 0
	for range o.memPods {
		tok := podToken(tokenSerial.Add(1))
		tokLen = len(tok)
		if status, body, err := c.do(request(tok)); err != nil || status != 200 {
			return fmt.Errorf("fill: %d %s %v", status, body, err)
		}
	}
	after, err := usageGC(ch)
	if err != nil {
		return err
	}
	per := float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / float64(o.memPods)
	fmt.Printf("memory: %d more pods cached (%v → %v entries): %.0f bytes of heap per pod, of which %d are the pod's token kept for refreshes\n",
		o.memPods, before.CacheEntries, after.CacheEntries, per, tokLen)
	return nil
}

func usageGC(ch *child) (usage, error) {
	var u usage
	err := ch.control("GET", "/usage?gc=1", "", &u)
	return u, err
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
