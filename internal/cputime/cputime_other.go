//go:build !unix

package cputime

import "time"

// Process returns 0: CPU time is not read on this system.
func Process() time.Duration { return 0 }

// Available reports whether Process can read the CPU time here.
func Available() bool { return false }
