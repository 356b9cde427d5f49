// Package cputime measures the CPU time the process uses, for benchmarks
// that report it per operation as "cpu-ns/op". On a shared machine the
// wall-clock ns/op includes time spent waiting for a core; CPU time (user
// and system, all threads, the garbage collector included) does not.
package cputime

import (
	"testing"
	"time"
)

// Clock measures the process's CPU time from its start.
type Clock struct{ start time.Duration }

// Start starts a Clock.
func Start() Clock { return Clock{start: Process()} }

// Elapsed is the CPU time the process has used since the clock started.
func (c Clock) Elapsed() time.Duration { return Process() - c.start }

// Report adds "cpu-ns/op" to b: the CPU time since Start per iteration.
// Where CPU time cannot be read it reports nothing.
func (c Clock) Report(b *testing.B) {
	if b.N > 0 && Available() {
		b.ReportMetric(float64(c.Elapsed())/float64(b.N), "cpu-ns/op")
	}
}
