package webhook

import (
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

const manifest = `apiVersion: apps/v1
kind: Deployment
metadata: {name: carts, namespace: carts}
spec:
  template:
    spec:
      serviceAccountName: carts
      containers: [{name: carts, image: carts}]
---
apiVersion: batch/v1
kind: CronJob
metadata: {name: nightly, namespace: batch}
spec:
  jobTemplate:
    spec:
      template:
        spec:
          serviceAccountName: reporter
          containers: [{name: report, image: r}]
---
apiVersion: v1
kind: Service
metadata: {name: carts}
---
apiVersion: v1
kind: Pod
metadata: {name: other, namespace: carts}
spec:
  serviceAccountName: unassociated
  containers: [{name: c, image: c}]
`

func TestMutateManifest(t *testing.T) {
	assoc := func(ns, sa string) bool { return ns == "carts" && sa == "carts" || ns == "batch" && sa == "reporter" }
	res, err := MutateManifest([]byte(manifest), workshop, assoc)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 4 {
		t.Fatalf("%d results, want 4", len(res))
	}
	want := map[string]bool{"Deployment": true, "CronJob": true, "Service": false, "Pod": false}
	for _, r := range res {
		if got := len(r.Patch) > 0; got != want[r.Kind] {
			t.Errorf("%s %s mutated = %v, want %v", r.Kind, r.Name, got, want[r.Kind])
		}
	}
	b, _ := yaml.Marshal(res[1].Mutated)
	if !strings.Contains(string(b), "AWS_CONTAINER_CREDENTIALS_FULL_URI") || !strings.Contains(string(b), "eks-pod-identity-token") {
		t.Errorf("CronJob template not mutated:\n%s", b)
	}
	if _, err := MutateManifest([]byte("kind: Deployment\nmetadata: {name: x}\n"), workshop, nil); err == nil {
		t.Error("Deployment without a template: want error")
	}
	if _, err := MutateManifest([]byte("{not yaml"), workshop, nil); err == nil {
		t.Error("bad YAML: want error")
	}
}
