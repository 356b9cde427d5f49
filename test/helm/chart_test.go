// Package helm lints and renders podid's Helm chart with Helm's own Go
// packages (from the Go module proxy), and keeps the plain manifests in
// deploy/manifests in step with the chart.
package helm

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"
	"helm.sh/helm/v3/pkg/lint"
	"helm.sh/helm/v3/pkg/lint/support"
	"sigs.k8s.io/yaml"
)

const chartDir = "../../deploy/helm/podid"

func TestLint(t *testing.T) {
	for name, vals := range valueSets() {
		t.Run(name, func(t *testing.T) {
			res := lint.AllWithKubeVersion(chartDir, vals, "podid", &chartutil.KubeVersion{Version: "v1.34.4", Major: "1", Minor: "34"})
			for _, m := range res.Messages {
				if m.Severity >= support.WarningSev {
					t.Errorf("helm lint: %s", m)
				}
			}
		})
	}
}

func valueSets() map[string]map[string]any {
	return map[string]map[string]any{
		"defaults": {},
		"broker":   {"credentialIssuer": "aws-sts", "broker": map[string]any{"credentialsSecret": "aws-creds"}},
		"cert-manager": {
			"webhook": map[string]any{"certManagerIssuer": "selfsigned"},
		},
		"token review":      {"register": map[string]any{"tokenReview": true}},
		"external server":   {"server": map[string]any{"enabled": false, "url": "https://podid.example.com"}, "serviceMonitor": map[string]any{"enabled": true}},
		"postgres replicas": {"server": map[string]any{"replicas": 3}, "database": map[string]any{"url": haURL}},
		"postgres secret":   {"server": map[string]any{"replicas": 2}, "database": map[string]any{"existingSecret": "pg-app"}, "gateway": map[string]any{"enabled": true, "dynamodbUpstream": "http://dynamodb:8000"}},
	}
}

// render renders the chart with vals and returns every object by
// "Kind/namespace/name".
func render(t *testing.T, vals map[string]any) (map[string]map[string]any, string) {
	t.Helper()
	return renderRelease(t, "podid", "podid", vals)
}

// renderRelease renders the chart as release name in namespace ns.
func renderRelease(t *testing.T, name, ns string, vals map[string]any) (map[string]map[string]any, string) {
	t.Helper()
	objs, all, _ := renderFiles(t, name, ns, vals)
	return objs, all
}

// renderFiles also returns the rendered NOTES.txt.
func renderFiles(t *testing.T, release, namespace string, vals map[string]any) (map[string]map[string]any, string, string) {
	t.Helper()
	ch, err := loader.Load(chartDir)
	if err != nil {
		t.Fatal(err)
	}
	opts := chartutil.ReleaseOptions{Name: release, Namespace: namespace, IsInstall: true}
	values, err := chartutil.ToRenderValues(ch, vals, opts, nil)
	if err != nil {
		t.Fatal(err)
	}
	files, err := engine.Render(ch, values)
	if err != nil {
		t.Fatal(err)
	}
	names := make([]string, 0, len(files))
	for n := range files {
		if strings.HasSuffix(n, ".yaml") {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	objs := map[string]map[string]any{}
	var all bytes.Buffer
	for _, n := range names {
		for _, doc := range strings.Split(files[n], "\n---") {
			if strings.TrimSpace(doc) == "" {
				continue
			}
			var obj map[string]any
			if err := yaml.Unmarshal([]byte(doc), &obj); err != nil {
				t.Fatalf("%s does not render to YAML: %v\n%s", n, err, doc)
			}
			if len(obj) == 0 {
				continue
			}
			md, _ := obj["metadata"].(map[string]any)
			ns, _ := md["namespace"].(string)
			if ns == "" {
				ns = namespace
			}
			name, _ := md["name"].(string)
			objs[obj["kind"].(string)+"/"+ns+"/"+name] = obj
			all.WriteString("---\n# Source: " + n + "\n" + strings.TrimSpace(doc) + "\n")
		}
	}
	return objs, all.String(), files["podid/templates/NOTES.txt"]
}

func dig(m any, path ...string) any {
	for _, p := range path {
		mm, ok := m.(map[string]any)
		if !ok {
			return nil
		}
		m = mm[p]
	}
	return m
}

func TestRenderDefaults(t *testing.T) {
	objs, _ := render(t, nil)
	ds := objs["DaemonSet/kube-system/eks-pod-identity-agent"]
	if ds == nil {
		t.Fatalf("no kube-system/eks-pod-identity-agent DaemonSet; have %v", keys(objs))
	}
	if got := dig(ds, "spec", "selector", "matchLabels", "app.kubernetes.io/name"); got != "eks-pod-identity-agent" {
		t.Errorf("agent selector label = %v", got)
	}
	pod := dig(ds, "spec", "template", "spec")
	if dig(pod, "hostNetwork") != true {
		t.Error("agent is not hostNetwork")
	}
	c := dig(pod, "containers").([]any)[0]
	caps := dig(c, "securityContext", "capabilities", "add").([]any)
	if len(caps) != 2 || caps[0] != "NET_BIND_SERVICE" || caps[1] != "NET_ADMIN" {
		t.Errorf("agent capabilities = %v, want only NET_BIND_SERVICE and NET_ADMIN", caps)
	}
	if dig(c, "securityContext", "privileged") != nil {
		t.Error("agent must not be privileged")
	}
	// Capabilities reach only uid 0 (no ambient capabilities in Kubernetes);
	// the image's default user is 65532.
	if dig(c, "securityContext", "runAsUser") != float64(0) || dig(c, "securityContext", "runAsNonRoot") != false {
		t.Errorf("agent runAsUser/runAsNonRoot = %v/%v, want 0/false so its two capabilities take effect", dig(c, "securityContext", "runAsUser"), dig(c, "securityContext", "runAsNonRoot"))
	}
	if inits := dig(pod, "initContainers"); inits != nil {
		t.Error("agent needs no init container")
	}
	if dig(c, "readinessProbe", "httpGet", "path") != "/readyz" || dig(c, "resources", "requests") == nil {
		t.Error("agent lacks readiness gating or resource requests")
	}
	// Rollouts overlap old and new agent on a node (SO_REUSEPORT hand-off):
	// surge, never unavailability, and no declared ports, which under
	// hostNetwork are host ports that keep the surge pod off the node.
	if ru := dig(ds, "spec", "updateStrategy", "rollingUpdate"); dig(ru, "maxSurge") != "10%" || dig(ru, "maxUnavailable") != float64(0) {
		t.Errorf("agent rollingUpdate = %v, want maxSurge 10%% and maxUnavailable 0", ru)
	}
	if ports := dig(c, "ports"); ports != nil {
		t.Errorf("agent declares ports %v; under hostNetwork they block the rollout's surge pod", ports)
	}
	if p := dig(c, "readinessProbe", "httpGet", "port"); p != float64(2703) {
		t.Errorf("agent readiness probe port = %v, want 2703 by number", p)
	}
	mwc := objs["MutatingWebhookConfiguration/podid/podid"]
	wh := dig(mwc, "webhooks").([]any)[0]
	if dig(wh, "failurePolicy") != "Ignore" || dig(wh, "sideEffects") != "None" {
		t.Errorf("webhook failurePolicy/sideEffects = %v/%v", dig(wh, "failurePolicy"), dig(wh, "sideEffects"))
	}
	// Least privilege: the webhook may update only its own configuration.
	cr := objs["ClusterRole/podid/podid-webhook"]
	for _, r := range dig(cr, "rules").([]any) {
		if res := dig(r, "resources").([]any); res[0] == "mutatingwebhookconfigurations" {
			if names := dig(r, "resourceNames"); names == nil {
				t.Error("webhook may update every MutatingWebhookConfiguration")
			}
		}
		for _, v := range dig(r, "verbs").([]any) {
			if v == "*" || v == "delete" || v == "list" {
				t.Errorf("webhook ClusterRole grants %v", v)
			}
		}
	}
	if objs["Deployment/podid/podid-server"] == nil || objs["Job/podid/podid-register"] == nil {
		t.Error("server Deployment or registration Job missing")
	}
}

// TestRefusesWhatPodidCannotRun: values that would deploy something
// podid cannot do (several servers on SQLite, an ambiguous or non-PostgreSQL
// database) fail the render with a message, rather than deploying
// diverging copies of the state.
func TestRefusesWhatPodidCannotRun(t *testing.T) {
	ch, err := loader.Load(chartDir)
	if err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		vals map[string]any
		want string
	}{
		"several replicas on SQLite": {map[string]any{"server": map[string]any{"replicas": 3}}, "server.replicas must be 1 on SQLite"},
		"no replica":                 {map[string]any{"server": map[string]any{"replicas": 0}, "database": map[string]any{"url": haURL}}, "minimum: got 0, want 1"},
		"url and secret":             {map[string]any{"database": map[string]any{"url": haURL, "existingSecret": "pg-app"}}, "not both"},
		"not a postgres url":         {map[string]any{"database": map[string]any{"url": "mysql://u:p@db/podid"}}, "'/database/url': 'mysql://u:p@db/podid' does not match pattern"},
	} {
		t.Run(name, func(t *testing.T) {
			// Refused by values.schema.json or by the templates.
			values, err := chartutil.ToRenderValues(ch, tc.vals, chartutil.ReleaseOptions{Name: "podid", Namespace: "podid", IsInstall: true}, nil)
			if err == nil {
				_, err = engine.Render(ch, values)
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("render error = %v, want one containing %q", err, tc.want)
			}
		})
	}
}

// TestTokenReviewIsOneValue: register.tokenReview gives the server
// TokenReview access through a dedicated identity with a long-lived token
// (bound to system:auth-delegator, reading only the agent DaemonSet), which
// the registration Job hands over.
func TestTokenReviewIsOneValue(t *testing.T) {
	off, _ := render(t, nil)
	if off["ServiceAccount/podid/podid-tokenreview"] != nil {
		t.Error("TokenReview identity rendered without register.tokenReview")
	}
	objs, _ := render(t, map[string]any{"register": map[string]any{"tokenReview": true}})
	if got := dig(objs["Secret/podid/podid-tokenreview-token"], "type"); got != "kubernetes.io/service-account-token" {
		t.Errorf("token Secret type = %v", got)
	}
	if got := dig(objs["Secret/podid/podid-tokenreview-token"], "metadata", "annotations", "kubernetes.io/service-account.name"); got != "podid-tokenreview" {
		t.Errorf("token Secret is for %v", got)
	}
	if got := dig(objs["ClusterRoleBinding/podid/podid-tokenreview"], "roleRef", "name"); got != "system:auth-delegator" {
		t.Errorf("TokenReview identity bound to %v", got)
	}
	rules := dig(objs["Role/kube-system/podid-tokenreview"], "rules").([]any)
	if len(rules) != 1 || fmt.Sprint(dig(rules[0], "verbs")) != "[get]" || fmt.Sprint(dig(rules[0], "resourceNames")) != "[eks-pod-identity-agent]" {
		t.Errorf("TokenReview identity's kube-system rules = %v", rules)
	}
	// Pod events: create and patch events, nothing else.
	if got := fmt.Sprint(dig(objs["ClusterRole/podid/podid-pod-events"], "rules")); got != "[map[apiGroups:[] resources:[events] verbs:[create patch]]]" {
		t.Errorf("pod events rules = %s", got)
	}
	if got := fmt.Sprint(dig(objs["ClusterRoleBinding/podid/podid-pod-events"], "subjects")); got != "[map[kind:ServiceAccount name:podid-tokenreview namespace:podid]]" {
		t.Errorf("pod events subjects = %s", got)
	}
	job := dig(objs["Job/podid/podid-register"], "spec", "template", "spec")
	c := dig(job, "containers").([]any)[0]
	if args := fmt.Sprint(dig(c, "args")); !strings.Contains(args, "--api-token-file=/etc/podid/tokenreview/token") {
		t.Errorf("register Job args = %s", args)
	}
	if vols := fmt.Sprint(dig(job, "volumes")); !strings.Contains(vols, "podid-tokenreview-token") {
		t.Errorf("register Job volumes = %s", vols)
	}
}

func TestBrokerModeIsOneValue(t *testing.T) {
	objs, _ := render(t, map[string]any{"credentialIssuer": "aws-sts"})
	args := dig(objs["Deployment/podid/podid-server"], "spec", "template", "spec", "containers").([]any)[0].(map[string]any)["args"].([]any)
	found := false
	for _, a := range args {
		if a == "--credential-issuer=aws-sts" {
			found = true
		}
	}
	if !found {
		t.Errorf("server args %v lack --credential-issuer=aws-sts", args)
	}
}

// TestHostedAccounts: each of accounts becomes an --account flag of the
// server.
func TestHostedAccounts(t *testing.T) {
	objs, _ := render(t, map[string]any{"accounts": []any{"210987654321", "111122223333"}})
	args := dig(objs["Deployment/podid/podid-server"], "spec", "template", "spec", "containers").([]any)[0].(map[string]any)["args"].([]any)
	var got []string
	for _, a := range args {
		if s, ok := a.(string); ok && strings.HasPrefix(s, "--account=") {
			got = append(got, s)
		}
	}
	if strings.Join(got, " ") != "--account=210987654321 --account=111122223333" {
		t.Errorf("server args %v: account flags %v", args, got)
	}
}

// TestPlainManifests keeps deploy/manifests/podid.yaml equal to the chart
// rendered with defaults (random secrets excluded). Set
// PODID_UPDATE_GOLDEN=1 to regenerate it.
func TestPlainManifests(t *testing.T) {
	_, all := render(t, map[string]any{"createNamespace": true})
	all = scrubRandom(all)
	path := "../../deploy/manifests/podid.yaml"
	header := `# podid rendered from deploy/helm/podid with default values (and its Namespace),
# for users without Helm. Regenerate: PODID_UPDATE_GOLDEN=1 go test ./test/helm (in test/helm).
#
# Secrets: fill in the two placeholders below before applying.
#   podid/podid-master-key        key master.key: the base64 of 32 random bytes
#                                 (head -c 32 /dev/urandom | base64), itself
#                                 base64-encoded as Secret data. It seals every
#                                 secret in the store: back it up, never change it.
#   podid/podid-root-credentials  key credentials: an AWS shared-credentials file
#                                 ([default] aws_access_key_id = AKIA + 16 of
#                                 A-Z0-9, aws_secret_access_key = 40 characters),
#                                 base64-encoded. The account's root key, read only
#                                 by the registration Job.
# The registration Job creates podid/podid-webhook-credentials (the webhook's
# scoped key) and the agents' role, which each agent obtains with its own
# projected token (no agent Secret); the webhook creates podid/podid-webhook-ca
# (its CA).
`
	if os.Getenv("PODID_UPDATE_GOLDEN") == "1" {
		os.MkdirAll(filepath.Dir(path), 0o755)
		os.WriteFile(path, []byte(header+all), 0o644)
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != header+all {
		t.Error("deploy/manifests/podid.yaml is out of date with the chart; regenerate it")
	}
}

// scrubRandom replaces the chart's generated secrets (different on every
// render) with placeholders the user must fill in.
func scrubRandom(s string) string {
	var out []string
	for _, line := range strings.Split(s, "\n") {
		trimmed := strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(trimmed, "master.key: "):
			line = line[:strings.Index(line, "master.key:")] + "master.key: REPLACE_WITH_BASE64_OF_32_RANDOM_BYTES_BASE64"
		case strings.HasPrefix(trimmed, "credentials: "):
			line = line[:strings.Index(line, "credentials:")] + "credentials: REPLACE_WITH_BASE64_SHARED_CREDENTIALS_FILE"
		}
		out = append(out, line)
	}
	return strings.Join(out, "\n")
}

func keys(m map[string]map[string]any) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// TestImageReference: the chart runs the appVersion tag by default, a set
// tag otherwise, and a digest pins the image over either; every podid
// container uses the same reference. deploy/manifests' kustomization names
// the same repository and tag, so `kustomize edit set image` can pin it.
func TestImageReference(t *testing.T) {
	ch, err := loader.Load(chartDir)
	if err != nil {
		t.Fatal(err)
	}
	digest := "sha256:" + strings.Repeat("ab", 32)
	tests := []struct {
		name string
		vals map[string]any
		want string
	}{
		{"default", nil, "ghcr.io/podid/podid:" + ch.Metadata.AppVersion},
		{"tag", map[string]any{"image": map[string]any{"tag": "1.2.3"}}, "ghcr.io/podid/podid:1.2.3"},
		{"digest", map[string]any{"image": map[string]any{"repository": "registry.example/podid", "tag": "1.2.3", "digest": digest}}, "registry.example/podid@" + digest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			objs, _ := render(t, tt.vals)
			n := 0
			for key, obj := range objs {
				spec := dig(obj, "spec", "template", "spec")
				if spec == nil {
					spec = dig(obj, "spec", "jobTemplate", "spec", "template", "spec")
				}
				cs, _ := dig(spec, "containers").([]any)
				for _, c := range cs {
					n++
					if got := dig(c, "image"); got != tt.want {
						t.Errorf("%s container %v image = %v, want %s", key, dig(c, "name"), got, tt.want)
					}
				}
			}
			if n < 3 {
				t.Fatalf("found %d containers, want the server's, webhook's and agent's", n)
			}
		})
	}

	var k struct {
		Resources []string `json:"resources"`
		Images    []struct {
			Name, NewName, NewTag string
		} `json:"images"`
	}
	b, err := os.ReadFile("../../deploy/manifests/kustomization.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, &k); err != nil {
		t.Fatal(err)
	}
	if len(k.Resources) != 1 || k.Resources[0] != "podid.yaml" || len(k.Images) != 1 ||
		k.Images[0].Name != "ghcr.io/podid/podid" || k.Images[0].NewName != "ghcr.io/podid/podid" || k.Images[0].NewTag != ch.Metadata.AppVersion {
		t.Errorf("deploy/manifests/kustomization.yaml = %+v, want podid.yaml and ghcr.io/podid/podid:%s", k, ch.Metadata.AppVersion)
	}
}

// haURL is a PostgreSQL URL for the chart tests (nothing connects to it).
const haURL = "postgres://podid:s3cret@pg-rw.db.svc:5432/podid?sslmode=verify-full"

// TestHighAvailability: with a PostgreSQL database the server runs the
// replicas asked for, rolling, with the URL only in a Secret passed as
// PODID_DATABASE_URL (to the embedded gateway too) and no volume claim;
// without one it stays a single Recreate replica on its volume.
func TestHighAvailability(t *testing.T) {
	objs, all := render(t, map[string]any{"server": map[string]any{"replicas": 3, "extraEnv": []any{map[string]any{"name": "X", "value": "y"}}},
		"database": map[string]any{"url": haURL}})
	dep := objs["Deployment/podid/podid-server"]
	if dig(dep, "spec", "replicas") != float64(3) {
		t.Errorf("replicas = %v, want 3", dig(dep, "spec", "replicas"))
	}
	if dig(dep, "spec", "strategy", "type") != "RollingUpdate" || dig(dep, "spec", "strategy", "rollingUpdate", "maxUnavailable") != float64(0) {
		t.Errorf("strategy = %v", dig(dep, "spec", "strategy"))
	}
	pod := dig(dep, "spec", "template", "spec")
	if spread, _ := dig(pod, "topologySpreadConstraints").([]any); len(spread) == 0 {
		t.Error("replicas are not spread")
	}
	ctr := dig(pod, "containers").([]any)[0]
	env := dig(ctr, "env").([]any)
	if len(env) != 2 || dig(env[0], "name") != "PODID_DATABASE_URL" ||
		dig(env[0], "valueFrom", "secretKeyRef", "name") != "podid-database" || dig(env[0], "valueFrom", "secretKeyRef", "key") != "url" ||
		dig(env[1], "name") != "X" {
		t.Errorf("server env = %v, want PODID_DATABASE_URL from podid-database/url, then extraEnv", env)
	}
	sec := objs["Secret/podid/podid-database"]
	if got := dig(sec, "data", "url"); got != base64.StdEncoding.EncodeToString([]byte(haURL)) {
		t.Errorf("podid-database url = %v", got)
	}
	if strings.Contains(all, "s3cret") {
		t.Error("the database password appears in the rendered manifests in clear")
	}
	for _, a := range dig(ctr, "args").([]any) {
		if strings.Contains(fmt.Sprint(a), "postgres") {
			t.Errorf("database URL on the command line: %v", a)
		}
	}
	if objs["PersistentVolumeClaim/podid/podid-data"] != nil {
		t.Error("a PVC is rendered although the store is PostgreSQL")
	}
	vols := dig(pod, "volumes").([]any)
	if dig(vols[0], "name") != "data" || dig(vols[0], "emptyDir") == nil {
		t.Errorf("data volume = %v, want an emptyDir", vols[0])
	}
	if pdb := objs["PodDisruptionBudget/podid/podid-server"]; dig(pdb, "spec", "maxUnavailable") != float64(1) {
		t.Errorf("PodDisruptionBudget = %v", dig(pdb, "spec"))
	}

	// An existing Secret (CloudNativePG's CLUSTER-app, key uri); the
	// embedded gateway reads the same database.
	objs, _ = render(t, map[string]any{"server": map[string]any{"replicas": 2}, "database": map[string]any{"existingSecret": "pg-app"},
		"gateway": map[string]any{"enabled": true, "dynamodbUpstream": "http://dynamodb:8000"}})
	ctrs := dig(objs["Deployment/podid/podid-server"], "spec", "template", "spec", "containers").([]any)
	if len(ctrs) != 2 {
		t.Fatalf("%d containers, want the server and the gateway", len(ctrs))
	}
	for _, c := range ctrs {
		ref := dig(dig(c, "env").([]any)[0], "valueFrom", "secretKeyRef")
		if dig(ref, "name") != "pg-app" || dig(ref, "key") != "uri" {
			t.Errorf("%v: secretKeyRef = %v, want pg-app/uri", dig(c, "name"), ref)
		}
	}
	if objs["Secret/podid/podid-database"] != nil {
		t.Error("podid-database rendered although an existing Secret is given")
	}

	// SQLite (the defaults): one replica, Recreate, a PVC, no database
	// variable.
	objs, _ = render(t, nil)
	dep = objs["Deployment/podid/podid-server"]
	if dig(dep, "spec", "replicas") != float64(1) || dig(dep, "spec", "strategy", "type") != "Recreate" {
		t.Errorf("SQLite deployment: replicas %v, strategy %v", dig(dep, "spec", "replicas"), dig(dep, "spec", "strategy"))
	}
	if objs["PersistentVolumeClaim/podid/podid-data"] == nil {
		t.Error("SQLite defaults: want a PVC")
	}
	if dig(dep, "spec", "template", "spec", "containers").([]any)[0].(map[string]any)["env"] != nil {
		t.Error("SQLite defaults: the server has a database variable")
	}
}

// TestAgentIdentity: by default each agent authenticates with its own
// projected token (audience podid.dev/agent) and no agent Secret exists or
// may be written; agent.auth=secret keeps the shared key.
func TestAgentIdentity(t *testing.T) {
	for _, c := range []struct {
		auth string
		vals map[string]any
	}{{"token", nil}, {"secret", map[string]any{"agent": map[string]any{"auth": "secret"}}}} {
		t.Run(c.auth, func(t *testing.T) {
			objs, all := render(t, c.vals)
			pod := dig(objs["DaemonSet/kube-system/eks-pod-identity-agent"], "spec", "template", "spec")
			ctr := dig(pod, "containers").([]any)[0]
			args := fmt.Sprint(dig(ctr, "args"))
			env := fmt.Sprint(dig(ctr, "env"))
			vols := dig(pod, "volumes").([]any)
			job := dig(objs["Job/podid/podid-register"], "spec", "template", "spec", "containers").([]any)[0]
			_, secretRole := objs["Role/kube-system/podid-register"]
			// No mode falls back to the node's instance metadata.
			if !strings.Contains(env, "map[name:AWS_EC2_METADATA_DISABLED value:true]") {
				t.Errorf("agent env %s: want AWS_EC2_METADATA_DISABLED=true", env)
			}
			whEnv := fmt.Sprint(dig(objs["Deployment/podid/podid-webhook"], "spec", "template", "spec", "containers").([]any)[0].(map[string]any)["env"])
			if !strings.Contains(whEnv, "map[name:AWS_EC2_METADATA_DISABLED value:true]") {
				t.Errorf("webhook env %s: want AWS_EC2_METADATA_DISABLED=true", whEnv)
			}
			if c.auth == "token" {
				src := dig(vols[0], "projected", "sources").([]any)[0]
				if dig(src, "serviceAccountToken", "audience") != "podid.dev/agent" || dig(src, "serviceAccountToken", "expirationSeconds") != float64(3600) || dig(src, "serviceAccountToken", "path") != "token" {
					t.Errorf("agent token volume %v", vols)
				}
				if !strings.Contains(args, "--identity-token-file=/var/run/secrets/podid/agent/token") || strings.Contains(env, "AWS_SHARED_CREDENTIALS_FILE") ||
					strings.Contains(all, "podid-agent-credentials") || secretRole || !strings.Contains(fmt.Sprint(dig(job, "args")), "--agent-identity=true") {
					t.Errorf("token mode: args %s env %s, agent Secret mentioned %v, kube-system secret role %v", args, env, strings.Contains(all, "podid-agent-credentials"), secretRole)
				}
				if dig(pod, "automountServiceAccountToken") != false {
					t.Error("the agent mounts its default API token")
				}
				return
			}
			if dig(vols[0], "secret", "secretName") != "podid-agent-credentials" || strings.Contains(args, "--identity-token-file") ||
				!strings.Contains(env, "AWS_SHARED_CREDENTIALS_FILE") || !secretRole || !strings.Contains(fmt.Sprint(dig(job, "args")), "--agent-identity=false") ||
				!strings.Contains(args, "--rotate-credentials") {
				t.Errorf("secret mode: volumes %v args %s env %s role %v", vols, args, env, secretRole)
			}
		})
	}
}
