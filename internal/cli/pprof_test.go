package cli

import (
	"context"
	"strings"
	"testing"
)

func TestPprofListenLoopbackOnly(t *testing.T) {
	for _, tc := range []struct {
		addr, err string
	}{
		{"0.0.0.0:0", "not a loopback address"},
		{"10.1.2.3:0", "not a loopback address"},
		{"example.com:0", "not a loopback address"},
		{"nohost", "missing port"},
		{"127.0.0.1:0", ""},
		{"", ""},
	} {
		ctx, cancel := context.WithCancel(context.Background())
		err := (&pprofFlag{addr: tc.addr}).start(ctx)
		cancel()
		switch {
		case tc.err == "" && err != nil:
			t.Errorf("%q: %v", tc.addr, err)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("%q: error %v, want %q", tc.addr, err, tc.err)
		}
	}
}
