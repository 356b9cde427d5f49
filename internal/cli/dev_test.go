package cli

import (
	"context"
	"net"
	"strings"
	"testing"
)

// recordingListener records Close calls into a shared log.
type recordingListener struct {
	net.Listener
	log *[]string
}

func (l recordingListener) Close() error {
	*l.log = append(*l.log, "close listener")
	return l.Listener.Close()
}

// TestStopFirstListener: closing dev's server listener stops the gateway
// first, once, however often it is closed; a gateway set after the close
// is stopped at once.
func TestStopFirstListener(t *testing.T) {
	stop := func(log *[]string) func() { return func() { *log = append(*log, "stop gateway") } }
	for _, tc := range []struct {
		name string
		run  func(l *stopFirstListener, log *[]string)
		want string
	}{
		{"close twice", func(l *stopFirstListener, log *[]string) { l.setStop(stop(log)); l.Close(); l.Close() }, "stop gateway,close listener,close listener"},
		{"set after close", func(l *stopFirstListener, log *[]string) { l.Close(); l.setStop(stop(log)); l.Close() }, "close listener,stop gateway,close listener"},
		{"no gateway", func(l *stopFirstListener, log *[]string) { l.Close() }, "close listener"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			inner, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			var log []string
			l := &stopFirstListener{Listener: recordingListener{Listener: inner, log: &log}}
			tc.run(l, &log)
			if got := strings.Join(log, ","); got != tc.want {
				t.Errorf("calls %s, want %s", got, tc.want)
			}
		})
	}
}

// TestDevGatewayFlags: --gateway-listen needs an upstream, and a bad
// gateway flag fails before anything starts.
func TestDevGatewayFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--gateway-listen", "127.0.0.1:0"}, "--gateway-listen needs --dynamodb-upstream or --s3-upstream"},
		{[]string{"--gateway-listen", "127.0.0.1:99999", "--s3-upstream", "http://127.0.0.1:9"}, "gateway: listen tcp: address 99999: invalid port"},
	} {
		args := append([]string{"dev", "--data-dir", t.TempDir(), "--listen", "127.0.0.1:0"}, tc.args...)
		if err := Run(context.Background(), args); err == nil || err.Error() != tc.want {
			t.Errorf("dev %v: %v, want %q", tc.args, err, tc.want)
		}
	}
}

func TestGatewayExecHints(t *testing.T) {
	const url = "http://127.0.0.1:8090"
	for _, tc := range []struct {
		dynamo, s3     string
		services, flag string
	}{
		{"http://d", "", "DynamoDB", " --env AWS_ENDPOINT_URL_DYNAMODB=" + url},
		{"", "http://s", "S3", " --env AWS_ENDPOINT_URL_S3=" + url},
		{"http://d", "http://s", "DynamoDB and S3", " --env AWS_ENDPOINT_URL_DYNAMODB=" + url + " --env AWS_ENDPOINT_URL_S3=" + url},
	} {
		f := &gatewayFlags{dynamoUpstream: tc.dynamo, s3Upstream: tc.s3}
		if got := f.services(); got != tc.services {
			t.Errorf("services(%q, %q) = %q, want %q", tc.dynamo, tc.s3, got, tc.services)
		}
		if got := f.execEnvFlags(url); got != tc.flag {
			t.Errorf("execEnvFlags(%q, %q) = %q, want %q", tc.dynamo, tc.s3, got, tc.flag)
		}
	}
}
