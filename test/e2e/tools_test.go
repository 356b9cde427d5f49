package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// The end-to-end tests drive tools `go test` cannot provide: the AWS CLI,
// boto3, kubectl, Node.js and npm packages, iproute2 with root, and a
// Kubernetes control plane built from source. need is the one place that
// checks for them. A bare `go test ./...` on a machine without them skips
// the tests that need them, naming the command that installs them; in CI
// (CI set, as every CI system and .ci/run do) a missing tool fails the
// test: CI must never skip.

// tool is one thing the end-to-end tests need from the machine.
type tool struct {
	name    string
	install string       // the command that installs it
	missing func() error // nil when present
}

const installDeps = "scripts/install-deps.sh (as root: it uses apt-get and npm)"

func lookPath(name string) func() error {
	return func() error {
		_, err := exec.LookPath(name)
		return err
	}
}

var (
	toolAWSCLI  = tool{"the AWS CLI (aws)", installDeps, lookPath("aws")}
	toolBoto3   = tool{"boto3 (python3 -c 'import boto3')", installDeps, func() error { return exec.Command("python3", "-c", "import boto3").Run() }}
	toolKubectl = tool{"kubectl", installDeps, lookPath("kubectl")}
	toolNode    = tool{"Node.js (node)", installDeps, lookPath("node")}
	toolNPM     = tool{"npm", installDeps, lookPath("npm")}
	toolIP      = tool{"iproute2 (ip)", installDeps, lookPath("ip")}
	toolRoot    = tool{"root (network namespaces with `ip netns`)", "sudo go test ./test/e2e/...", func() error {
		if os.Geteuid() != 0 {
			return errNotRoot
		}
		return nil
	}}
	// toolControlPlane is the control plane scripts/build-k8s.sh builds
	// into its cache (10-15 minutes the first time).
	toolControlPlane = tool{"a Kubernetes control plane (etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok)",
		"scripts/build-k8s.sh (10-15 minutes the first time, then cached)", func() error {
			return exec.Command("../../scripts/build-k8s.sh", "--check").Run()
		}}
)

type notRootError struct{}

func (notRootError) Error() string { return "not running as root" }

var errNotRoot = notRootError{}

// inCI reports whether the tests run in CI, where nothing may be skipped.
func inCI() bool {
	v := strings.ToLower(strings.TrimSpace(os.Getenv("CI")))
	return v != "" && v != "false" && v != "0"
}

// need skips (outside CI) or fails (in CI) the test unless every tool is
// present, naming what is missing and the command that installs it.
func need(t testing.TB, tools ...tool) {
	t.Helper()
	var missing []string
	for _, tl := range tools {
		if err := tl.missing(); err != nil {
			missing = append(missing, tl.name+" ("+err.Error()+"); install: "+tl.install)
		}
	}
	if len(missing) == 0 {
		return
	}
	msg := "this end-to-end test needs " + strings.Join(missing, "; ")
	if inCI() {
		t.Fatal(msg + " [CI is set: a missing tool fails instead of skipping]")
	}
	t.Skip(msg)
}

// needFor checks for the tools a command line runs: the first word of each
// argument that names a client (aws, python3 for boto3, node, kubectl),
// including inside shell scripts passed as an argument.
func needFor(t testing.TB, argv ...string) {
	t.Helper()
	seen := map[string]bool{}
	var tools []tool
	add := func(name string, tl tool) {
		if !seen[name] {
			seen[name] = true
			tools = append(tools, tl)
		}
	}
	for _, a := range argv {
		for _, w := range strings.FieldsFunc(a, func(r rune) bool { return strings.ContainsRune(" \t\n;|&()$`\"'", r) }) {
			switch filepath.Base(w) {
			case "aws":
				add("aws", toolAWSCLI)
			case "python3":
				add("python3", toolBoto3)
			case "node":
				add("node", toolNode)
			case "kubectl":
				add("kubectl", toolKubectl)
			}
		}
	}
	need(t, tools...)
}

// TestNeedSkipsOrFails pins the policy: outside CI a missing tool skips,
// in CI it fails.
func TestNeedSkipsOrFails(t *testing.T) {
	absent := tool{"a tool no machine has", "nothing", lookPath("podid-e2e-no-such-tool")}
	for _, ci := range []string{"", "true"} {
		t.Run("CI="+ci, func(t *testing.T) {
			t.Setenv("CI", ci)
			rec := &recordingTB{TB: t}
			done := make(chan struct{})
			go func() {
				defer close(done)
				need(rec, toolAWSCLI.withMissing(nil), absent)
			}()
			<-done
			if ci == "" && (!rec.skipped || rec.failed) || ci != "" && (!rec.failed || rec.skipped) {
				t.Errorf("CI=%q: skipped %v, failed %v", ci, rec.skipped, rec.failed)
			}
			if !strings.Contains(rec.msg, "podid-e2e-no-such-tool") || !strings.Contains(rec.msg, "install: nothing") || strings.Contains(rec.msg, "AWS CLI") {
				t.Errorf("message %q must name only the missing tool and its install command", rec.msg)
			}
		})
	}
}

// withMissing returns the tool with its check replaced (tests of need).
func (tl tool) withMissing(err error) tool {
	tl.missing = func() error { return err }
	return tl
}

// recordingTB records Skip and Fatal instead of ending the test; it runs
// on its own goroutine, which runtime.Goexit ends.
type recordingTB struct {
	testing.TB
	skipped, failed bool
	msg             string
}

func (r *recordingTB) Helper() {}

func (r *recordingTB) Skip(args ...any) {
	r.skipped, r.msg = true, fmt.Sprint(args...)
	runtime.Goexit()
}

func (r *recordingTB) Fatal(args ...any) {
	r.failed, r.msg = true, fmt.Sprint(args...)
	runtime.Goexit()
}
