package helm

import (
	"fmt"
	"sort"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
)

// podSpecs returns every pod template of the rendered objects by
// "Kind/namespace/name".
func podSpecs(objs map[string]map[string]any) map[string]map[string]any {
	out := map[string]map[string]any{}
	for k, o := range objs {
		switch o["kind"] {
		case "Deployment", "DaemonSet", "Job", "StatefulSet":
			out[k] = dig(o, "spec", "template").(map[string]any)
		}
	}
	return out
}

func containerNamed(tmpl map[string]any, name string) map[string]any {
	for _, c := range dig(tmpl, "spec", "containers").([]any) {
		if dig(c, "name") == name {
			return c.(map[string]any)
		}
	}
	return nil
}

// TestSchemaRefusesBadValues: values.schema.json makes a misspelt key or a
// value of the wrong type fail the install, with the path in the message;
// the defaults and every value set of the tests pass it.
func TestSchemaRefusesBadValues(t *testing.T) {
	ch, err := loader.Load(chartDir)
	if err != nil {
		t.Fatal(err)
	}
	validate := func(vals map[string]any) error {
		_, err := chartutil.ToRenderValues(ch, vals, chartutil.ReleaseOptions{Name: "podid", Namespace: "podid", IsInstall: true}, nil)
		return err
	}
	for name, vals := range valueSets() {
		if err := validate(vals); err != nil {
			t.Errorf("value set %s: %v", name, err)
		}
	}
	for name, tc := range map[string]struct {
		vals map[string]any
		want string
	}{
		"misspelt key":           {map[string]any{"webhook": map[string]any{"replica": 3}}, "additional properties 'replica' not allowed"},
		"misspelt top-level key": {map[string]any{"clustername": "c"}, "additional properties 'clustername' not allowed"},
		"string for a number":    {map[string]any{"webhook": map[string]any{"replicas": "two"}}, "/webhook/replicas"},
		"number for a string":    {map[string]any{"accountId": 123456789012}, "/accountId"},
		"bad account":            {map[string]any{"accountId": "12345"}, "/accountId"},
		"bad hosted account":     {map[string]any{"accounts": []any{"12345"}}, "/accounts/0"},
		"bad issuer":             {map[string]any{"credentialIssuer": "sts"}, "/credentialIssuer"},
		"bad digest":             {map[string]any{"image": map[string]any{"digest": "latest"}}, "/image/digest"},
		"bad port":               {map[string]any{"server": map[string]any{"port": 70000}}, "/server/port"},
		"bad agent auth":         {map[string]any{"agent": map[string]any{"auth": "shared"}}, "/agent/auth"},
		"short agent token":      {map[string]any{"agent": map[string]any{"identityTokenExpirationSeconds": 60}}, "/agent/identityTokenExpirationSeconds"},
	} {
		t.Run(name, func(t *testing.T) {
			err := validate(tc.vals)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error = %v, want one containing %q", err, tc.want)
			}
		})
	}
}

// TestTwoReleasesCoexist: two releases in two namespaces (the second
// without its own agent, which owns the node's link-local address) render
// no object of the same kind, namespace and name; every object carries its
// release's instance label, and every selector selects by instance.
func TestTwoReleasesCoexist(t *testing.T) {
	a, _ := renderRelease(t, "podid", "podid", map[string]any{"serviceMonitor": map[string]any{"enabled": true}})
	b, _ := renderRelease(t, "staging", "podid-staging", map[string]any{"agent": map[string]any{"enabled": false}, "serviceMonitor": map[string]any{"enabled": true}})
	for k := range b {
		// Cluster-scoped objects are keyed under the release's
		// namespace by render: compare them by kind and name.
		kind, name := strings.Split(k, "/")[0], strings.Split(k, "/")[2]
		for ka := range a {
			ak := strings.Split(ka, "/")
			clusterScoped := map[string]bool{"ClusterRole": true, "ClusterRoleBinding": true, "MutatingWebhookConfiguration": true, "Namespace": true}
			if ak[0] == kind && ak[2] == name && (ka == k || clusterScoped[kind]) {
				t.Errorf("both releases render %s", k)
			}
		}
	}
	for rel, objs := range map[string]map[string]map[string]any{"podid": a, "staging": b} {
		for k, o := range objs {
			if got := dig(o, "metadata", "labels", "app.kubernetes.io/instance"); got != rel {
				t.Errorf("%s: instance label %v, want %s", k, got, rel)
			}
			sel := dig(o, "spec", "selector")
			if o["kind"] == "Deployment" || o["kind"] == "PodDisruptionBudget" || o["kind"] == "ServiceMonitor" {
				sel = dig(sel, "matchLabels")
			}
			switch o["kind"] {
			case "Deployment", "Service", "PodDisruptionBudget", "ServiceMonitor":
				if strings.HasSuffix(k, "agent-metrics") {
					continue // selects the cluster's one agent DaemonSet
				}
				if got := dig(sel, "app.kubernetes.io/instance"); got != rel {
					t.Errorf("%s selects instance %v, want %s", k, got, rel)
				}
			}
		}
	}
	// The webhook names its own configuration, Service and CA.
	args := fmt.Sprint(dig(containerNamed(podSpecs(b)["Deployment/podid-staging/staging-podid-webhook"], "webhook"), "args"))
	for _, want := range []string{"--webhook-config=staging-podid", "--service-name=staging-podid-webhook", "--ca-secret=staging-podid-webhook-ca", "--namespace=podid-staging",
		"--server=http://staging-podid-server.podid-staging.svc:8080"} {
		if !strings.Contains(args, want) {
			t.Errorf("second release's webhook args %s lack %s", args, want)
		}
	}
	if b["MutatingWebhookConfiguration/podid-staging/staging-podid"] == nil {
		t.Errorf("no release-named MutatingWebhookConfiguration; have %v", keys(b))
	}
}

// TestNameOverrides: fullnameOverride names every object; nameOverride
// is the name label.
func TestNameOverrides(t *testing.T) {
	objs, _ := renderRelease(t, "rel", "ns", map[string]any{"fullnameOverride": "idp", "nameOverride": "pid"})
	for _, k := range []string{"Deployment/ns/idp-server", "Service/ns/idp-server", "Deployment/ns/idp-webhook", "Job/ns/idp-register", "MutatingWebhookConfiguration/ns/idp"} {
		if objs[k] == nil {
			t.Errorf("no %s; have %v", k, keys(objs))
		}
	}
	if got := dig(objs["Deployment/ns/idp-server"], "spec", "selector", "matchLabels", "app.kubernetes.io/name"); got != "pid" {
		t.Errorf("name label %v, want pid", got)
	}
}

// TestDisruptionAndSpreading: the webhook and the server have a
// PodDisruptionBudget selecting exactly their pods, and spread over nodes
// and zones.
func TestDisruptionAndSpreading(t *testing.T) {
	objs, _ := render(t, nil)
	for _, c := range []struct{ component, deploy, want string }{
		{"webhook", "Deployment/podid/podid-webhook", "minAvailable=1"},
		{"server", "Deployment/podid/podid-server", "maxUnavailable=1"},
	} {
		pdb := objs["PodDisruptionBudget/podid/podid-"+c.component]
		if pdb == nil {
			t.Errorf("no PodDisruptionBudget for the %s", c.component)
			continue
		}
		got := ""
		for _, f := range []string{"minAvailable", "maxUnavailable"} {
			if v := dig(pdb, "spec", f); v != nil {
				got += fmt.Sprintf("%s=%v", f, v)
			}
		}
		if got != c.want {
			t.Errorf("%s PDB %s, want %s", c.component, got, c.want)
		}
		podLabels := dig(objs[c.deploy], "spec", "template", "metadata", "labels").(map[string]any)
		for k, v := range dig(pdb, "spec", "selector", "matchLabels").(map[string]any) {
			if podLabels[k] != v {
				t.Errorf("%s PDB selects %s=%v, pods have %v", c.component, k, v, podLabels[k])
			}
		}
		spread := dig(objs[c.deploy], "spec", "template", "spec", "topologySpreadConstraints")
		if s := fmt.Sprint(spread); !strings.Contains(s, "kubernetes.io/hostname") || !strings.Contains(s, "topology.kubernetes.io/zone") ||
			!strings.Contains(s, "app.kubernetes.io/component:"+c.component) {
			t.Errorf("%s spread = %s", c.component, s)
		}
	}
	off, _ := render(t, map[string]any{"webhook": map[string]any{"podDisruptionBudget": map[string]any{"enabled": false}}})
	if off["PodDisruptionBudget/podid/podid-webhook"] != nil {
		t.Error("webhook PDB rendered while disabled")
	}
}

// TestServiceMonitors: with serviceMonitor.enabled, the server, the
// agent, the webhook and the gateway each get a ServiceMonitor with the
// given labels, selecting a Service of theirs in its namespace by a port
// that Service has.
func TestServiceMonitors(t *testing.T) {
	objs, _ := render(t, map[string]any{
		"serviceMonitor": map[string]any{"enabled": true, "labels": map[string]any{"release": "prom"}},
		"gateway":        map[string]any{"enabled": true, "dynamodbUpstream": "http://dynamodb.db:8000"},
	})
	for _, c := range []string{"server", "agent", "webhook", "gateway"} {
		sm := objs["ServiceMonitor/podid/podid-"+c]
		if sm == nil {
			t.Errorf("no ServiceMonitor for the %s; have %v", c, keys(objs))
			continue
		}
		if got := dig(sm, "metadata", "labels", "release"); got != "prom" {
			t.Errorf("%s ServiceMonitor label release=%v", c, got)
		}
		ns := dig(sm, "spec", "namespaceSelector", "matchNames").([]any)[0].(string)
		sel := dig(sm, "spec", "selector", "matchLabels").(map[string]any)
		ep := dig(sm, "spec", "endpoints").([]any)[0]
		port := dig(ep, "port")
		found := false
		for k, o := range objs {
			if o["kind"] != "Service" || !strings.HasPrefix(k, "Service/"+ns+"/") {
				continue
			}
			labels, _ := dig(o, "metadata", "labels").(map[string]any)
			match := true
			for lk, lv := range sel {
				if labels[lk] != lv {
					match = false
				}
			}
			if match && strings.Contains(fmt.Sprint(dig(o, "spec", "ports")), "name:"+fmt.Sprint(port)+" ") {
				found = true
			}
		}
		if !found {
			t.Errorf("%s ServiceMonitor selects %v port %v in %s: no such Service", c, sel, port, ns)
		}
		if dig(ep, "path") != "/metrics" {
			t.Errorf("%s ServiceMonitor path %v", c, dig(ep, "path"))
		}
	}
	if got := dig(objs["ServiceMonitor/podid/podid-webhook"], "spec", "endpoints").([]any)[0]; dig(got, "scheme") != "https" ||
		dig(got, "tlsConfig", "serverName") != "podid-webhook.podid.svc" || dig(got, "tlsConfig", "ca", "secret", "name") != "podid-webhook-ca" {
		t.Errorf("webhook endpoint %v: want https with the webhook's CA and name", got)
	}
}

// TestEveryComponentTakesPodSettings: image pull secrets, affinity,
// tolerations, pod annotations, extra arguments and environment reach the
// pods of the server, the webhook, the agent, the registration Job and the
// gateway container; the image is pinned by digest.
func TestEveryComponentTakesPodSettings(t *testing.T) {
	const digest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	comp := func(name string) map[string]any {
		return map[string]any{
			"affinity":       map[string]any{"nodeAffinity": map[string]any{"requiredDuringSchedulingIgnoredDuringExecution": map[string]any{"nodeSelectorTerms": []any{map[string]any{"matchExpressions": []any{map[string]any{"key": "pool", "operator": "In", "values": []any{name}}}}}}}},
			"tolerations":    []any{map[string]any{"key": "dedicated", "value": name, "effect": "NoSchedule"}},
			"podAnnotations": map[string]any{"example.com/component": name},
			"extraArgs":      []any{"--log-level=debug"},
			"extraEnv":       []any{map[string]any{"name": "EXTRA", "value": name}},
		}
	}
	vals := map[string]any{
		"image":            map[string]any{"tag": "1.2.3", "digest": digest},
		"imagePullSecrets": []any{map[string]any{"name": "regcred"}},
		"server":           comp("server"),
		"webhook":          comp("webhook"),
		"agent":            comp("agent"),
		"register":         comp("register"),
		"gateway":          map[string]any{"enabled": true, "dynamodbUpstream": "http://dynamodb.db:8000", "extraArgs": []any{"--soft"}, "extraEnv": []any{map[string]any{"name": "EXTRA", "value": "gateway"}}},
	}
	objs, _ := render(t, vals)
	pods := podSpecs(objs)
	for _, c := range []struct{ obj, container, name string }{
		{"Deployment/podid/podid-server", "server", "server"},
		{"Deployment/podid/podid-webhook", "webhook", "webhook"},
		{"DaemonSet/kube-system/eks-pod-identity-agent", "eks-pod-identity-agent", "agent"},
		{"Job/podid/podid-register", "register", "register"},
	} {
		tmpl := pods[c.obj]
		if tmpl == nil {
			t.Errorf("no %s", c.obj)
			continue
		}
		spec := dig(tmpl, "spec")
		if got := fmt.Sprint(dig(spec, "imagePullSecrets")); got != "[map[name:regcred]]" {
			t.Errorf("%s imagePullSecrets %s", c.obj, got)
		}
		if got := fmt.Sprint(dig(spec, "affinity")); !strings.Contains(got, "values:["+c.name+"]") {
			t.Errorf("%s affinity %s", c.obj, got)
		}
		if got := fmt.Sprint(dig(spec, "tolerations")); !strings.Contains(got, "value:"+c.name) {
			t.Errorf("%s tolerations %s", c.obj, got)
		}
		if got := dig(tmpl, "metadata", "annotations", "example.com/component"); got != c.name {
			t.Errorf("%s pod annotation %v", c.obj, got)
		}
		ctr := containerNamed(tmpl, c.container)
		if got := fmt.Sprint(dig(ctr, "args")); !strings.HasSuffix(got, "--log-level=debug]") {
			t.Errorf("%s args %s: extra arguments go last", c.obj, got)
		}
		if got := fmt.Sprint(dig(ctr, "env")); !strings.Contains(got, "map[name:EXTRA value:"+c.name+"]") {
			t.Errorf("%s env %s", c.obj, got)
		}
		if got := dig(ctr, "image"); got != "ghcr.io/podid/podid@"+digest {
			t.Errorf("%s image %v", c.obj, got)
		}
	}
	gw := containerNamed(pods["Deployment/podid/podid-server"], "gateway")
	if got := fmt.Sprint(dig(gw, "args")); !strings.HasSuffix(got, "--soft]") {
		t.Errorf("gateway args %s", got)
	}
	if got := fmt.Sprint(dig(gw, "env")); !strings.Contains(got, "value:gateway") {
		t.Errorf("gateway env %s", got)
	}
}

// TestBrokerValues: the server's ServiceAccount takes annotations (IRSA
// for the broker's AWS identity), and the broker's region and IAM and STS
// endpoints reach its arguments.
func TestBrokerValues(t *testing.T) {
	objs, _ := render(t, map[string]any{
		"credentialIssuer": "aws-sts",
		"broker":           map[string]any{"region": "eu-west-1", "iamEndpoint": "https://iam.example", "stsEndpoint": "https://sts.example"},
		"server":           map[string]any{"serviceAccount": map[string]any{"annotations": map[string]any{"eks.amazonaws.com/role-arn": "arn:aws:iam::210987654321:role/podid-broker"}}},
	})
	if got := dig(objs["ServiceAccount/podid/podid-server"], "metadata", "annotations", "eks.amazonaws.com/role-arn"); got != "arn:aws:iam::210987654321:role/podid-broker" {
		t.Errorf("server ServiceAccount annotation %v", got)
	}
	args := fmt.Sprint(dig(containerNamed(podSpecs(objs)["Deployment/podid/podid-server"], "server"), "args"))
	for _, want := range []string{"--credential-issuer=aws-sts", "--broker-region=eu-west-1", "--broker-iam-endpoint=https://iam.example", "--broker-sts-endpoint=https://sts.example"} {
		if !strings.Contains(args, want) {
			t.Errorf("server args %s lack %s", args, want)
		}
	}
}

// TestExistingSecrets: with existingSecret for the master key and the
// root key the chart renders no Secret of its own (nothing random, so
// helm template and GitOps render the same every time) and mounts the
// given ones.
func TestExistingSecrets(t *testing.T) {
	vals := map[string]any{"server": map[string]any{"masterKey": map[string]any{"existingSecret": "my-master-key"}, "rootCredentials": map[string]any{"existingSecret": "my-root"}}}
	objs, first := render(t, vals)
	_, second := render(t, vals)
	if first != second {
		t.Error("two renderings with existing secrets differ")
	}
	for k := range objs {
		if strings.HasPrefix(k, "Secret/") {
			t.Errorf("chart renders %s although existing secrets are given", k)
		}
	}
	pods := podSpecs(objs)
	if got := fmt.Sprint(dig(pods["Deployment/podid/podid-server"], "spec", "volumes")); !strings.Contains(got, "secretName:my-master-key") || !strings.Contains(got, "secretName:my-root") {
		t.Errorf("server volumes %s", got)
	}
	if got := fmt.Sprint(dig(pods["Job/podid/podid-register"], "spec", "volumes")); !strings.Contains(got, "secretName:my-root") {
		t.Errorf("register volumes %s", got)
	}
	// Without them the chart generates both (kept across upgrades).
	gen, _ := render(t, nil)
	if gen["Secret/podid/podid-master-key"] == nil || gen["Secret/podid/podid-root-credentials"] == nil {
		t.Errorf("generated secrets missing; have %v", keys(gen))
	}
}

// TestRegistrationJob: the Job is deleted after its TTL and has resources.
func TestRegistrationJob(t *testing.T) {
	objs, _ := render(t, map[string]any{"register": map[string]any{"ttlSecondsAfterFinished": 600}})
	job := objs["Job/podid/podid-register"]
	if got := dig(job, "spec", "ttlSecondsAfterFinished"); got != float64(600) {
		t.Errorf("ttlSecondsAfterFinished %v", got)
	}
	if got := dig(containerNamed(podSpecs(objs)["Job/podid/podid-register"], "register"), "resources", "limits", "memory"); got != "128Mi" {
		t.Errorf("register memory limit %v", got)
	}
}

// TestNotesKeepTheRootKey: the install notes never tell users to extract
// the root key, and name the Secret that holds it.
func TestNotesKeepTheRootKey(t *testing.T) {
	for _, vals := range []map[string]any{nil, {"gateway": map[string]any{"enabled": true, "s3Upstream": "http://s3.db:9000"}}} {
		_, _, notes := renderFiles(t, "podid", "podid", vals)
		for _, bad := range []string{"get secret", "jsonpath", "base64 -d", "AWS_SHARED_CREDENTIALS_FILE"} {
			if strings.Contains(notes, bad) {
				t.Errorf("NOTES.txt contains %q:\n%s", bad, notes)
			}
		}
		if !strings.Contains(notes, "never hand out the root key") || !strings.Contains(notes, "podid-root-credentials") {
			t.Errorf("NOTES.txt:\n%s", notes)
		}
	}
}

// TestGatewayComponent: gateway.enabled adds the gateway to the server's
// pod (it shares the store) with probes on /healthz and /readyz, and a
// Service of its own on its port.
func TestGatewayComponent(t *testing.T) {
	objs, _ := render(t, map[string]any{"gateway": map[string]any{"enabled": true, "dynamodbUpstream": "http://dynamodb.db:8000", "upstreamCredentialsSecret": "ddb-creds"}})
	pod := podSpecs(objs)["Deployment/podid/podid-server"]
	gw := containerNamed(pod, "gateway")
	if gw == nil {
		t.Fatal("no gateway container in the server's pod")
	}
	if dig(gw, "readinessProbe", "httpGet", "path") != "/readyz" || dig(gw, "livenessProbe", "httpGet", "path") != "/healthz" {
		t.Errorf("gateway probes %v %v", dig(gw, "readinessProbe"), dig(gw, "livenessProbe"))
	}
	args := fmt.Sprint(dig(gw, "args"))
	for _, want := range []string{"--dynamodb-upstream=http://dynamodb.db:8000", "--dynamodb-upstream-credentials=/etc/podid/gateway-upstream/credentials", "--data-dir=/data", "--account-id=123456789012"} {
		if !strings.Contains(args, want) {
			t.Errorf("gateway args %s lack %s", args, want)
		}
	}
	svc := objs["Service/podid/podid-gateway"]
	if got := fmt.Sprint(dig(svc, "spec", "ports")); got != "[map[name:gateway port:8090 targetPort:gateway]]" {
		t.Errorf("gateway Service ports %s", got)
	}
	if got := dig(svc, "spec", "selector", "app.kubernetes.io/component"); got != "server" {
		t.Errorf("gateway Service selects component %v, want the server's pod", got)
	}
	off, _ := render(t, nil)
	if off["Service/podid/podid-gateway"] != nil || containerNamed(podSpecs(off)["Deployment/podid/podid-server"], "gateway") != nil {
		t.Error("gateway rendered while disabled")
	}
}

// TestPlainManifestsNamespace: the plain manifests create their Namespace.
func TestPlainManifestsNamespace(t *testing.T) {
	objs, _ := render(t, map[string]any{"createNamespace": true})
	if objs["Namespace/podid/podid"] == nil {
		var ks []string
		for k := range objs {
			ks = append(ks, k)
		}
		sort.Strings(ks)
		t.Errorf("no Namespace; have %v", ks)
	}
}
