package e2e

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/podid/podid/internal/testtools"
)

// The end-to-end tests drive tools `go test` cannot provide: the AWS CLI,
// boto3, kubectl, Node.js and npm packages, iproute2 with root, and a
// Kubernetes control plane built from source. need (internal/testtools) is
// the one place that checks for them. A bare `go test ./...` on a machine
// without them skips the tests that need them, naming the command that installs them; in CI
// (CI set, as every CI system and .ci/run do) a missing tool fails the
// test: CI must never skip.

// tool is one thing the end-to-end tests need from the machine.
type tool = testtools.Tool

const installDeps = testtools.InstallDeps

func lookPath(name string) func() error { return testtools.LookPath(name) }

var (
	toolAWSCLI  = testtools.AWSCLI
	toolBoto3   = testtools.Boto3
	toolKubectl = testtools.Kubectl
	toolNode    = testtools.Node
	toolNPM     = testtools.NPM
	toolIP      = testtools.IP
	toolRoot    = testtools.Root
	// toolControlPlane is the control plane scripts/build-k8s.sh builds
	// into its cache (10-15 minutes the first time).
	toolControlPlane = tool{Name: "a Kubernetes control plane (etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok)",
		Install: "scripts/build-k8s.sh (10-15 minutes the first time, then cached)", Missing: func() error {
			return exec.Command("../../scripts/build-k8s.sh", "--check").Run()
		}}
)

// inCI reports whether the tests run in CI, where nothing may be skipped.
func inCI() bool { return testtools.InCI() }

// need skips (outside CI) or fails (in CI) the test unless every tool is
// present (testtools.Need, the one such check).
func need(t testing.TB, tools ...tool) {
	t.Helper()
	testtools.Need(t, tools...)
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
	absent := tool{Name: "a tool no machine has", Install: "nothing", Missing: lookPath("podid-e2e-no-such-tool")}
	for _, ci := range []string{"", "true"} {
		t.Run("CI="+ci, func(t *testing.T) {
			t.Setenv("CI", ci)
			rec := &recordingTB{TB: t}
			done := make(chan struct{})
			go func() {
				defer close(done)
				need(rec, withMissing(toolAWSCLI, nil), absent)
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
func withMissing(tl tool, err error) tool {
	tl.Missing = func() error { return err }
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
