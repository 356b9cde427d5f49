package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// serveBare is the hit path's peer: a bare net/http handler in its own
// process that answers every request with the body read from standard
// input (the agent's answer for the same token), as the agent's cache hit
// does. It prints its address and serves until standard input closes.
func serveBare() {
	in := bufio.NewReader(os.Stdin)
	line, err := in.ReadBytes('\n')
	if err != nil {
		fmt.Fprintln(os.Stderr, "bare:", err)
		os.Exit(1)
	}
	body := bytes.TrimSuffix(line, []byte("\n"))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, "bare:", err)
		os.Exit(1)
	}
	fmt.Println(ln.Addr().String())
	go http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(body)
	}))
	io.Copy(io.Discard, in)
}

// hitPath loads the agent's cache hit and the bare handler in alternating
// rounds with the same generator, and reports both.
func hitPath(o options, ag *agentProc, token string) error {
	req, _ := http.NewRequest(http.MethodGet, ag.url, nil)
	req.Header.Set("Authorization", token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		return fmt.Errorf("hit path: agent answered %d: %s", resp.StatusCode, body)
	}
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	bare := exec.Command(exe, "-bare")
	stdin, _ := bare.StdinPipe()
	stdout, _ := bare.StdoutPipe()
	bare.Stderr = os.Stderr
	if err := bare.Start(); err != nil {
		return err
	}
	defer func() { stdin.Close(); bare.Wait() }()
	stdin.Write(append(bytes.ReplaceAll(body, []byte("\n"), nil), '\n'))
	addr, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		return fmt.Errorf("bare handler: %w", err)
	}
	bareURL := "http://" + strings.TrimSpace(addr) + "/v1/credentials"

	fmt.Printf("\nhit path: %d keep-alive connections, one cached token, %v rounds alternating agent / bare net/http handler (own process, same body); load average %s\n",
		o.hitConns, o.hitFor, loadavg())
	fmt.Printf("%-6s %-6s %12s %14s\n", "round", "target", "req/s", "CPU/req")
	var rate, cpu [2][]float64
	targets := []struct {
		name, url string
		pid       int
	}{{"agent", ag.url, ag.PID()}, {"bare", bareURL, bare.Process.Pid}}
	for r := range o.hitRounds {
		for i, t := range targets {
			var prof sync.WaitGroup
			if r == 0 && i == 0 && o.profileDir != "" && ag.pprof != "" {
				secs := max(1, int(o.hitFor/time.Second))
				prof.Go(func() {
					if err := fetchProfile(ag.pprof, filepath.Join(o.profileDir, "agent-hit.pprof"), secs); err != nil {
						fmt.Fprintln(os.Stderr, "storm: profile:", err)
					}
				})
			}
			n, c, d := load(t.url, token, t.pid, o.hitConns, o.hitFor)
			prof.Wait()
			rs, cr := float64(n)/d.Seconds(), float64(c)/float64(n)/1e3
			rate[i], cpu[i] = append(rate[i], rs), append(cpu[i], cr)
			fmt.Printf("%-6d %-6s %12.0f %11.1f µs\n", r+1, t.name, rs, cr)
		}
	}
	ra, rb, ca, cb := median(rate[0]), median(rate[1]), median(cpu[0]), median(cpu[1])
	fmt.Printf("median: agent %.0f req/s, %.1f µs CPU/req; bare %.0f req/s, %.1f µs CPU/req\n", ra, ca, rb, cb)
	fmt.Printf("agent / bare: throughput %.1f%%, CPU per request %.2f×\n", 100*ra/rb, ca/cb)
	// Each round's agent figure against the bare round right after it:
	// the pair shares the machine's load more closely than the medians do.
	var rr, cr []float64
	for r := range rate[0] {
		rr, cr = append(rr, rate[0][r]/rate[1][r]), append(cr, cpu[0][r]/cpu[1][r])
	}
	fmt.Printf("agent / bare, median of round pairs: throughput %.1f%%, CPU per request %.2f×\n", 100*median(rr), median(cr))
	return nil
}

// load runs conns keep-alive clients against u for d and returns the
// requests answered 200, the target process's CPU and the elapsed time.
func load(u, token string, pid, conns int, d time.Duration) (int64, time.Duration, time.Duration) {
	tr := &http.Transport{MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr}
	var n atomic.Int64
	var stop atomic.Bool
	var wg sync.WaitGroup
	c0 := cpuOf(pid)
	t0 := time.Now()
	for range conns {
		wg.Go(func() {
			req, _ := http.NewRequest(http.MethodGet, u, nil)
			req.Header.Set("Authorization", token)
			for !stop.Load() {
				resp, err := hc.Do(req)
				if err != nil {
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode == 200 {
					n.Add(1)
				}
			}
		})
	}
	time.Sleep(d)
	stop.Store(true)
	wg.Wait()
	el := time.Since(t0)
	return n.Load(), cpuOf(pid) - c0, el
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
