// Package testtools is the one check tests make for tools `go test` cannot
// provide (the AWS CLI, boto3, kubectl, Node.js, iproute2 and root,
// PostgreSQL, a Kubernetes control plane). On a developer's machine a test
// whose tool is missing skips, naming the tool and the command that
// installs it, so a bare `go test ./...` works anywhere; in CI (CI set, as
// every CI system and .ci/run do) it fails instead: CI never skips. Only
// tests import it.
package testtools

import (
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// Tool is one thing a test needs from the machine.
type Tool struct {
	// Name says what it is; Install is the command that installs it.
	Name, Install string
	// Missing returns nil when the tool is present.
	Missing func() error
}

// InstallDeps installs the tools scripts/test.sh needs.
const InstallDeps = "scripts/install-deps.sh (as root: it uses apt-get and npm)"

// LookPath is a Missing check for a command in PATH.
func LookPath(name string) func() error {
	return func() error {
		_, err := exec.LookPath(name)
		return err
	}
}

// The tools podid's tests drive.
var (
	AWSCLI  = Tool{"the AWS CLI (aws)", InstallDeps, LookPath("aws")}
	Boto3   = Tool{"boto3 (python3 -c 'import boto3')", InstallDeps, func() error { return exec.Command("python3", "-c", "import boto3").Run() }}
	Kubectl = Tool{"kubectl", InstallDeps, LookPath("kubectl")}
	Node    = Tool{"Node.js (node)", InstallDeps, LookPath("node")}
	NPM     = Tool{"npm", InstallDeps, LookPath("npm")}
	IP      = Tool{"iproute2 (ip)", InstallDeps, LookPath("ip")}
	Root    = Tool{"root (network namespaces)", "run the tests as root (sudo go test ...)", func() error {
		if os.Geteuid() != 0 {
			return errors.New("not running as root")
		}
		return nil
	}}
)

// InCI reports whether the tests run in CI, where nothing may be skipped.
func InCI() bool {
	v := strings.ToLower(strings.TrimSpace(os.Getenv("CI")))
	return v != "" && v != "false" && v != "0"
}

// Need skips (outside CI) or fails (in CI) the test unless every tool is
// present, naming what is missing and the command that installs it.
func Need(t testing.TB, tools ...Tool) {
	t.Helper()
	var missing []string
	for _, tl := range tools {
		if err := tl.Missing(); err != nil {
			missing = append(missing, tl.Name+" ("+err.Error()+"); install: "+tl.Install)
		}
	}
	if len(missing) == 0 {
		return
	}
	msg := "this test needs " + strings.Join(missing, "; ")
	if InCI() {
		t.Fatal(msg + " [CI is set: a missing tool fails instead of skipping]")
	}
	t.Skip(msg)
}
