package webhook

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

var workshop = Settings{Region: "us-west-2", RegionalSTS: true}

func loadPod(t *testing.T, name string) *corev1.Pod {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	var pod corev1.Pod
	if err := yaml.UnmarshalStrict(b, &pod); err != nil {
		t.Fatal(err)
	}
	return &pod
}

// TestGolden compares the patch for each testdata/*.pod.yaml with the
// .patch.json beside it. Set PODID_UPDATE_GOLDEN=1 to rewrite them.
func TestGolden(t *testing.T) {
	files, _ := filepath.Glob("testdata/*.pod.yaml")
	if len(files) < 5 {
		t.Fatalf("only %d golden pods", len(files))
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".pod.yaml")
		t.Run(name, func(t *testing.T) {
			pod := loadPod(t, filepath.Base(f))
			s := workshop
			if strings.Contains(name, "ipv6") {
				s.IPv6 = true
			}
			got, _ := json.MarshalIndent(Mutate(pod, s), "", "  ")
			golden := filepath.Join("testdata", name+".patch.json")
			if os.Getenv("PODID_UPDATE_GOLDEN") == "1" {
				os.WriteFile(golden, append(got, '\n'), 0o644)
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if strings.TrimSpace(string(got)) != strings.TrimSpace(string(want)) {
				t.Errorf("patch differs from %s:\n%s", golden, got)
			}
		})
	}
}

// envOf returns a container's env as NAME=value lines, as `env | grep AWS`
// prints them.
func envOf(c corev1.Container) []string {
	var out []string
	for _, e := range c.Env {
		if strings.HasPrefix(e.Name, "AWS_") {
			out = append(out, e.Name+"="+e.Value)
		}
	}
	return out
}

func apply(t *testing.T, pod *corev1.Pod, ops []PatchOp) *corev1.Pod {
	t.Helper()
	out, err := ApplyPatch(pod, ops)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestWorkshopEnvExactly(t *testing.T) {
	pod := loadPod(t, "workshop-carts.pod.yaml")
	got := envOf(apply(t, pod, Mutate(pod, workshop)).Spec.Containers[0])
	want := []string{
		"AWS_STS_REGIONAL_ENDPOINTS=regional",
		"AWS_DEFAULT_REGION=us-west-2",
		"AWS_REGION=us-west-2",
		"AWS_CONTAINER_CREDENTIALS_FULL_URI=http://169.254.170.23/v1/credentials",
		"AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE=/var/run/secrets/pods.eks.amazonaws.com/serviceaccount/eks-pod-identity-token",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("env:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestPrecedenceRules(t *testing.T) {
	env := func(names ...string) []corev1.EnvVar {
		var out []corev1.EnvVar
		for _, n := range names {
			out = append(out, corev1.EnvVar{Name: n, Value: "user"})
		}
		return out
	}
	cases := []struct {
		name      string
		env       []corev1.EnvVar
		wantAdded []string
		wantMount bool
	}{
		{"nothing defined", nil, []string{envRegionalSTS, envDefRegion, envRegion, envFullURI, envTokenFile}, true},
		{"full URI defined", env(envFullURI), []string{envRegionalSTS, envDefRegion, envRegion}, true},
		{"token file defined", env(envTokenFile), []string{envRegionalSTS, envDefRegion, envRegion}, true},
		{"AWS_REGION defined", env(envRegion), []string{envRegionalSTS, envFullURI, envTokenFile}, true},
		{"AWS_DEFAULT_REGION defined", env(envDefRegion), []string{envRegionalSTS, envFullURI, envTokenFile}, true},
		{"STS var defined", env(envRegionalSTS), []string{envDefRegion, envRegion, envFullURI, envTokenFile}, true},
		{"all three groups defined: untouched", env(envFullURI, envRegion, envRegionalSTS), nil, false},
		{"static keys kept", env("AWS_ACCESS_KEY_ID"), []string{envRegionalSTS, envDefRegion, envRegion, envFullURI, envTokenFile}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pod := &corev1.Pod{Spec: corev1.PodSpec{ServiceAccountName: "carts", Containers: []corev1.Container{{Name: "app", Env: tc.env}}}}
			out := apply(t, pod, Mutate(pod, workshop)).Spec.Containers[0]
			var added []string
			for _, e := range out.Env[len(tc.env):] {
				added = append(added, e.Name)
			}
			if strings.Join(added, ",") != strings.Join(tc.wantAdded, ",") {
				t.Errorf("added %v, want %v", added, tc.wantAdded)
			}
			for i, e := range tc.env {
				if out.Env[i] != e {
					t.Errorf("user variable %s changed", e.Name)
				}
			}
			hasMount := len(out.VolumeMounts) == 1 && out.VolumeMounts[0].MountPath == MountPath && out.VolumeMounts[0].ReadOnly
			if hasMount != tc.wantMount {
				t.Errorf("mount = %v, want %v", hasMount, tc.wantMount)
			}
		})
	}
}

func TestOptOuts(t *testing.T) {
	pod := &corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "a"}}}}
	pod.Labels = map[string]string{SkipLabel: "true"}
	if ops := Mutate(pod, workshop); ops != nil {
		t.Errorf("skip label: got %d ops", len(ops))
	}
	pod = &corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "a"}, {Name: "b"}, {Name: "c"}}}}
	pod.Annotations = map[string]string{SkipContainersAnnot: "a, c"}
	out := apply(t, pod, Mutate(pod, workshop))
	for _, c := range out.Spec.Containers {
		if got := len(envOf(c)) > 0; got != (c.Name == "b") {
			t.Errorf("container %s mutated = %v", c.Name, got)
		}
	}
}

func TestTokenExpiration(t *testing.T) {
	for annot, want := range map[string]int64{"": 86400, "3600": 3600, "60": 600, "junk": 86400} {
		pod := &corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "a"}}}}
		if annot != "" {
			pod.Annotations = map[string]string{TokenExpirationAnnot: annot}
		}
		out := apply(t, pod, Mutate(pod, workshop))
		got := *out.Spec.Volumes[0].Projected.Sources[0].ServiceAccountToken.ExpirationSeconds
		if got != want {
			t.Errorf("annotation %q: expiration %d, want %d", annot, got, want)
		}
	}
}

func FuzzMutate(f *testing.F) {
	f.Add([]byte(`{"metadata":{"labels":{"a":"b"},"annotations":{"eks.amazonaws.com/skip-containers":"\"x"}},"spec":{"containers":[{"name":"x"}]}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var pod corev1.Pod
		if json.Unmarshal(b, &pod) != nil {
			return
		}
		Mutate(&pod, workshop)
	})
}
