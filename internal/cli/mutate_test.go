package cli

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

const deployment = `apiVersion: apps/v1
kind: Deployment
metadata: {name: carts, namespace: carts}
spec:
  selector: {matchLabels: {app: carts}}
  template:
    metadata: {labels: {app: carts}}
    spec:
      serviceAccountName: carts
      containers:
      - {name: carts, image: carts}
`

// runMutate runs `podid mutate` with args, the manifest on standard input.
func runMutate(t *testing.T, stdin string, args ...string) (string, error) {
	t.Helper()
	cmd := newMutateCommand()
	var out bytes.Buffer
	cmd.SetIn(strings.NewReader(stdin))
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs(args)
	err := cmd.Execute()
	return out.String(), err
}

// TestMutateCommand: the command prints a Deployment's template as the
// webhook would leave its pods (the five variables, the token volume and
// its mount), or the JSON patch, and refuses to run without --dry-run.
func TestMutateCommand(t *testing.T) {
	out, err := runMutate(t, deployment, "--dry-run", "-f", "-", "--region", "eu-west-1")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"name: AWS_STS_REGIONAL_ENDPOINTS\n", "value: regional", "name: AWS_DEFAULT_REGION\n", "value: eu-west-1", "name: AWS_REGION\n",
		"value: http://169.254.170.23/v1/credentials", "value: /var/run/secrets/pods.eks.amazonaws.com/serviceaccount/eks-pod-identity-token",
		"name: eks-pod-identity-token", "audience: pods.eks.amazonaws.com", "expirationSeconds: 86400",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("mutated Deployment lacks %q:\n%s", want, out)
		}
	}

	out, err = runMutate(t, deployment, "--dry-run", "-f", "-", "-o", "patch")
	if err != nil {
		t.Fatal(err)
	}
	var p struct {
		Kind, Name string
		Patch      []map[string]any
	}
	if err := json.Unmarshal([]byte(out), &p); err != nil || p.Kind != "Deployment" || p.Name != "carts" || len(p.Patch) == 0 {
		t.Errorf("patch output = %v\n%s", err, out)
	}
	// The patch is the one the webhook sends for each of the Deployment's
	// pods: paths are the pod's.
	var paths []string
	for _, op := range p.Patch {
		path, _ := op["path"].(string)
		paths = append(paths, path)
	}
	if got := strings.Join(paths, " "); got != "/metadata/labels/eks.amazonaws.com~1pod-identity /spec/volumes /spec/containers" {
		t.Errorf("patch paths = %s", got)
	}

	if _, err := runMutate(t, deployment, "-f", "-"); err == nil || !strings.Contains(err.Error(), "only runs with --dry-run") {
		t.Errorf("without --dry-run: %v", err)
	}
	if _, err := runMutate(t, deployment, "--dry-run", "-f", "-", "-o", "json"); err == nil || !strings.Contains(err.Error(), `unknown --output "json"`) {
		t.Errorf("unknown output: %v", err)
	}
}
