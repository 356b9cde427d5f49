//go:build !linux

package agent

import "syscall"

// reusePort is a no-op where SO_REUSEPORT hand-off is not supported.
func reusePort(_, _ string, _ syscall.RawConn) error { return nil }
