// Package proc runs the podid processes the benchmark harnesses under
// bench/ start (podid dev, standalone agents, a bare handler): start with
// the output kept, stop with SIGINT and then a kill, free loopback ports,
// waiting for a listener, and a process's CPU time from /proc.
package proc

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"
)

// StopGrace is how long Stop waits after SIGINT before it kills.
const StopGrace = 15 * time.Second

// maxLog bounds the output kept per process (the most recent bytes).
const maxLog = 1 << 20

// Proc is a child process whose stdout and stderr are kept (the last
// MiB) for error messages.
type Proc struct {
	Name string
	Cmd  *exec.Cmd
	log  *tailBuffer
}

// Start runs bin with args and env (nil: the harness's own environment).
func Start(name string, env []string, bin string, args ...string) (*Proc, error) {
	p := &Proc{Name: name, Cmd: exec.Command(bin, args...), log: &tailBuffer{}}
	p.Cmd.Env = env
	p.Cmd.Stdout, p.Cmd.Stderr = p.log, p.log
	if err := p.Cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	return p, nil
}

// PID is the process's ID.
func (p *Proc) PID() int { return p.Cmd.Process.Pid }

// Log is the process's output so far (its last MiB).
func (p *Proc) Log() string { return p.log.String() }

// Stop sends SIGINT and waits up to StopGrace for the process to exit,
// then kills it.
func (p *Proc) Stop() {
	_ = p.Cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { _ = p.Cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(StopGrace):
		_ = p.Cmd.Process.Kill()
		<-done
	}
}

// tailBuffer keeps the most recent maxLog bytes written to it.
type tailBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b.Write(p)
	if t.b.Len() > 2*maxLog {
		t.b.Next(t.b.Len() - maxLog)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.b.String()
}

// FreePort is a TCP port free on 127.0.0.1 a moment ago.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// WaitListen waits up to timeout for p to accept connections on addr.
func WaitListen(addr string, p *Proc, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s did not listen on %s within %v:\n%s", p.Name, addr, timeout, p.Log())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Tick is the resolution of CPU: 1/USER_HZ (100/s on Linux).
const Tick = 10 * time.Millisecond

// CPU is the user and system time the processes used so far, from
// /proc/PID/stat, in Tick steps.
func CPU(pids ...int) (time.Duration, error) {
	var sum int64
	var errs []error
	for _, pid := range pids {
		t, err := cpuTicks(pid)
		errs = append(errs, err)
		sum += t
	}
	return time.Duration(sum) * Tick, errors.Join(errs...)
}

func cpuTicks(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) may hold spaces; fields after ')' start at 3.
	i := bytes.LastIndexByte(b, ')')
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f)+2)
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	return ut + st, errors.Join(err1, err2)
}
