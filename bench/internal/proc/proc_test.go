package proc

import (
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestStartStop: output is kept, SIGINT stops a process that exits on it.
func TestStartStop(t *testing.T) {
	p, err := Start("sleeper", nil, "/bin/sh", "-c", "echo started; exec sleep 30")
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); !strings.Contains(p.Log(), "started"); {
		if time.Now().After(deadline) {
			t.Fatalf("log %q", p.Log())
		}
		time.Sleep(10 * time.Millisecond)
	}
	start := time.Now()
	p.Stop()
	if took := time.Since(start); took > StopGrace/2 {
		t.Errorf("Stop took %v: SIGINT did not end it", took)
	}
	if p.Cmd.ProcessState == nil || p.Cmd.ProcessState.Success() {
		t.Errorf("state %v, want ended by a signal", p.Cmd.ProcessState)
	}
}

// TestTailBuffer keeps the most recent output only.
func TestTailBuffer(t *testing.T) {
	var b tailBuffer
	chunk := strings.Repeat("x", 1000) + "\n"
	for i := 0; i < 3*maxLog/len(chunk); i++ {
		b.Write([]byte(chunk))
	}
	b.Write([]byte("last line\n"))
	s := b.String()
	if len(s) > 2*maxLog || !strings.HasSuffix(s, "last line\n") {
		t.Errorf("kept %d bytes, suffix %q", len(s), s[len(s)-20:])
	}
}

func TestWaitListenAndCPU(t *testing.T) {
	port, err := FreePort()
	if err != nil {
		t.Fatal(err)
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if err := WaitListen(addr, &Proc{Name: "self", log: &tailBuffer{}}, time.Second); err != nil {
		t.Error(err)
	}
	l.Close()
	if err := WaitListen(addr, &Proc{Name: "self", log: &tailBuffer{}}, 100*time.Millisecond); err == nil || !strings.Contains(err.Error(), "self did not listen") {
		t.Errorf("closed port: %v", err)
	}
	x := 0
	for deadline := time.Now().Add(50 * time.Millisecond); time.Now().Before(deadline); {
		x++
	}
	if d, err := CPU(os.Getpid()); err != nil || d <= 0 {
		t.Errorf("CPU = %v, %v (x=%d)", d, err, x)
	}
	if _, err := CPU(-1); err == nil {
		t.Error("CPU of no process: no error")
	}
}
