// Command agent loads podid's node agent on loopback against a fake EKS
// Auth and prints throughput, latency percentiles and CPU per request,
// side by side with a bare net/http handler returning the same JSON in
// the same run.
//
// The agent and the bare handler run in a child process (this binary
// re-executed with -serve), whose own CPU time is read with getrusage
// before and after each load; the load generator and the fake EKS Auth
// run in this process. Run it from the bench module:
//
//	cd bench && go run ./agent -duration 5s -conns 50
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"time"
)

type options struct {
	duration    time.Duration
	conns       int
	rounds      int
	burstRounds int
	burstSize   int
	burstDelay  time.Duration
	slowDelay   time.Duration
	slowCallers int
	memPods     int
	scenarios   string
}

func main() {
	var o options
	serve := flag.Bool("serve", false, "internal: run the servers (child mode)")
	endpoint := flag.String("endpoint", "", "internal: fake EKS Auth URL (child mode)")
	flag.DurationVar(&o.duration, "duration", 5*time.Second, "length of each throughput run")
	flag.IntVar(&o.conns, "conns", 50, "concurrent keep-alive connections in throughput runs")
	flag.IntVar(&o.rounds, "rounds", 2, "alternating bare/agent runs per throughput scenario")
	flag.IntVar(&o.burstRounds, "burst-rounds", 20, "bursts of one new token")
	flag.IntVar(&o.burstSize, "burst-size", 50, "simultaneous callers per burst")
	flag.DurationVar(&o.burstDelay, "burst-upstream", 50*time.Millisecond, "fake EKS Auth latency during bursts")
	flag.DurationVar(&o.slowDelay, "slow-upstream", 1500*time.Millisecond, "fake EKS Auth latency in the slow scenario")
	flag.IntVar(&o.slowCallers, "slow-callers", 20, "simultaneous callers in the slow scenario")
	flag.IntVar(&o.memPods, "mem-pods", 2000, "pods cached for the memory measurement")
	flag.StringVar(&o.scenarios, "scenarios", "hit,miss,burst,slow,mem", "scenarios to run")
	flag.Parse()

	if *serve {
		if err := runChild(*endpoint); err != nil {
			fmt.Fprintln(os.Stderr, "child:", err)
			os.Exit(1)
		}
		return
	}
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// child is the parent's handle on the server process.
type child struct {
	cmd                         *exec.Cmd
	Agent, Bare, BareT, Control string
}

func startChild(endpoint string) (*child, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe, "-serve", "-endpoint", endpoint)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	c := &child{cmd: cmd}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		cmd.Process.Kill()
		return nil, fmt.Errorf("child did not report its addresses: %w", err)
	}
	if err := json.Unmarshal([]byte(line), c); err != nil {
		cmd.Process.Kill()
		return nil, err
	}
	return c, nil
}

func (c *child) stop() {
	c.cmd.Process.Signal(os.Interrupt)
	c.cmd.Wait()
}

// control calls the child's control server.
func (c *child) control(method, path string, body string, v any) error {
	req, _ := http.NewRequest(method, "http://"+c.Control+path, strings.NewReader(body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, b)
	}
	if v != nil {
		return json.NewDecoder(resp.Body).Decode(v)
	}
	return nil
}

type usage struct {
	UserMicros, SysMicros int64
	HeapAlloc             uint64
	CacheEntries          float64
}

func (c *child) usage() (usage, error) {
	var u usage
	err := c.control("GET", "/usage", "", &u)
	return u, err
}

func run(o options) error {
	fake := newFakeEKSAuth()
	defer fake.close()
	ch, err := startChild(fake.url)
	if err != nil {
		return err
	}
	defer ch.stop()
	fmt.Printf("podid agent benchmark: %d conns, %v per run, GOMAXPROCS of the child = number of CPUs\n", o.conns, o.duration)
	fmt.Printf("agent on %s, bare handler on %s, fake EKS Auth on %s, child control (pprof) on %s\n\n", ch.Agent, ch.Bare, fake.url, ch.Control)

	for _, s := range strings.Split(o.scenarios, ",") {
		var err error
		switch strings.TrimSpace(s) {
		case "hit":
			err = scenarioHit(o, ch, fake)
		case "miss":
			err = scenarioMiss(o, ch, fake)
		case "burst":
			err = scenarioBurst(o, ch, fake)
		case "slow":
			err = scenarioSlow(o, ch, fake)
		case "mem":
			err = scenarioMemory(o, ch, fake)
		default:
			err = fmt.Errorf("unknown scenario %q", s)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", s, err)
		}
		fmt.Println()
	}
	return nil
}
