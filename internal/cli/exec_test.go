package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/podid/podid/internal/local"
)

// TestExitStatus: podid exec exits with the command's status, or 128+N
// when signal N ended it, as shells report it.
func TestExitStatus(t *testing.T) {
	for _, tc := range []struct {
		script string
		want   int
	}{
		{"exit 0", 0},
		{"exit 3", 3},
		{"exit 255", 255},
		{"kill -TERM $$", 143},
		{"kill -KILL $$", 137},
	} {
		c := exec.Command("sh", "-c", tc.script)
		err := exitStatus(c.ProcessState, c.Run())
		if tc.want == 0 {
			if err != nil {
				t.Errorf("%s: %v, want nil", tc.script, err)
			}
			continue
		}
		var ee *ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != tc.want || ee.Error() != "" {
			t.Errorf("%s: %#v, want a silent ExitError with code %d", tc.script, err, tc.want)
		}
	}
	if err := exitStatus(nil, errors.New("boom")); err == nil || !strings.Contains(err.Error(), "boom") {
		t.Errorf("no process state: %v", err)
	}
}

func TestExecNeedsARunningDev(t *testing.T) {
	dir := t.TempDir()
	err := Run(context.Background(), []string{"exec", "--data-dir", dir, "-n", "carts", "-s", "carts", "--", "true"})
	if err == nil || !strings.Contains(err.Error(), "podid dev is not running") {
		t.Errorf("exec without dev: %v", err)
	}
	err = Run(context.Background(), []string{"exec", "--data-dir", dir, "-n", "carts", "--", "true"})
	if err == nil || !strings.Contains(err.Error(), `"service-account" not set`) {
		t.Errorf("exec without --service-account: %v", err)
	}
	// The state of a dev that was killed: nothing answers at its address.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gone := "http://" + ln.Addr().String()
	ln.Close()
	if err := local.WriteState(dir, &local.State{PID: 77, Endpoint: gone, Region: "us-west-2", AccessKeyID: "AKIA", SecretAccessKey: "s",
		Clusters: []local.ClusterState{{Name: "eks-workshop", AgentURL: gone + "/v1/credentials"}}}); err != nil {
		t.Fatal(err)
	}
	err = Run(context.Background(), []string{"exec", "--data-dir", dir, "-n", "carts", "-s", "carts", "--", "true"})
	if want := "podid dev (pid 77) at " + gone + " does not answer; is it still running?"; err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("exec with a stale state: %v, want %q…", err, want)
	}
	err = Run(context.Background(), []string{"exec", "--data-dir", dir, "--cluster", "other", "-n", "carts", "-s", "carts", "--", "true"})
	if err == nil || !strings.Contains(err.Error(), `podid dev does not serve cluster "other"`) {
		t.Errorf("exec for another cluster: %v", err)
	}
}

func TestLoopbackHostPort(t *testing.T) {
	for _, tc := range []struct {
		in, host string
		port     int
		ok       bool
	}{
		{"127.0.0.1:0", "127.0.0.1", 0, true},
		{"127.0.0.1:2703", "127.0.0.1", 2703, true},
		{"[::1]:80", "::1", 80, true},
		{"0.0.0.0:80", "", 0, false},
		{"169.254.170.23:80", "", 0, false},
		{"localhost:80", "", 0, false},
		{"127.0.0.1:99999", "", 0, false},
		{"127.0.0.1", "", 0, false},
	} {
		h, p, err := loopbackHostPort(tc.in)
		if (err == nil) != tc.ok || h != tc.host || p != tc.port {
			t.Errorf("loopbackHostPort(%q) = %q, %d, %v", tc.in, h, p, err)
		}
	}
}

// TestExecEnvFlag: --env sets the command's variables after the pod's,
// replacing one of the same name, while the caller's AWS_ variables stay
// out; a malformed --env fails before anything else.
func TestExecEnvFlag(t *testing.T) {
	t.Setenv("AWS_ENDPOINT_URL_S3", "http://caller.example")
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIACALLER")
	// One fake serves both podid's token endpoint and the agent.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == http.MethodPost && r.URL.Path == "/podid/v1/clusters/eks-workshop/tokens":
			fmt.Fprintf(w, `{"token":"pod-token","expirationTimestamp":%d}`, time.Now().Add(time.Hour).Unix())
		case r.Method == http.MethodGet && r.URL.Path == "/v1/credentials" && r.Header.Get("Authorization") == "pod-token":
			fmt.Fprint(w, `{"AccessKeyId":"ASIAPOD","SecretAccessKey":"s","Token":"t","Expiration":"2099-01-01T00:00:00Z"}`)
		default:
			http.Error(w, "unexpected request", http.StatusTeapot)
		}
	}))
	defer srv.Close()
	dir := t.TempDir()
	if err := local.WriteState(dir, &local.State{PID: 1, Endpoint: srv.URL, Region: "us-west-2", AccessKeyID: "AKIAROOT", SecretAccessKey: "s",
		Clusters: []local.ClusterState{{Name: "eks-workshop", AgentURL: srv.URL + "/v1/credentials"}}}); err != nil {
		t.Fatal(err)
	}
	o := &execOptions{dataDir: dir, namespace: "carts", serviceAccount: "carts", node: local.DefaultNodeName, tokenExpiration: time.Hour,
		env: []string{"AWS_ENDPOINT_URL_DYNAMODB=http://127.0.0.1:8090", "AWS_ENDPOINT_URL_S3=http://127.0.0.1:8090", "AWS_REGION=eu-west-1", "PODID_X=a=b"}}
	var out, errOut bytes.Buffer
	err := runExec(context.Background(), strings.NewReader(""), &out, &errOut, o,
		[]string{"sh", "-c", `env | grep -E '^(AWS_ENDPOINT_URL|AWS_REGION|AWS_ACCESS|PODID_X)' | sort`})
	if err != nil {
		t.Fatalf("exec: %v\n%s", err, errOut.String())
	}
	want := "AWS_ENDPOINT_URL=" + srv.URL + "\nAWS_ENDPOINT_URL_DYNAMODB=http://127.0.0.1:8090\nAWS_ENDPOINT_URL_S3=http://127.0.0.1:8090\nAWS_REGION=eu-west-1\nPODID_X=a=b\n"
	if out.String() != want {
		t.Errorf("the command's variables:\n%s\nwant\n%s", out.String(), want)
	}

	for _, tc := range []struct{ env, want string }{
		{"AWS_ENDPOINT_URL_S3", `--env: "AWS_ENDPOINT_URL_S3" is not KEY=VALUE`},
		{"=x", `--env: "=x" names no variable before its =`},
	} {
		err := Run(context.Background(), []string{"exec", "--data-dir", t.TempDir(), "-n", "carts", "-s", "carts", "--env", tc.env, "--", "true"})
		if err == nil || err.Error() != tc.want {
			t.Errorf("--env %q: %v, want %q", tc.env, err, tc.want)
		}
	}
}
