package cputime

import (
	"testing"
	"time"
)

// TestClockCountsWork: busy work shows up in the clock, and a benchmark
// gets a cpu-ns/op metric.
func TestClockCountsWork(t *testing.T) {
	if !Available() {
		t.Fatal("CPU time is not readable on this system")
	}
	c := Start()
	x := 0
	for deadline := time.Now().Add(50 * time.Millisecond); time.Now().Before(deadline); {
		x++
	}
	if got := c.Elapsed(); got <= 0 {
		t.Errorf("Elapsed after 50 ms of work = %v (x=%d)", got, x)
	}
	r := testing.Benchmark(func(b *testing.B) {
		c := Start()
		for b.Loop() {
			_ = time.Now()
		}
		c.Report(b)
	})
	if _, ok := r.Extra["cpu-ns/op"]; !ok {
		t.Errorf("no cpu-ns/op in %v", r.Extra)
	}
}
