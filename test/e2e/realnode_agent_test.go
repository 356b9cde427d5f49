package e2e

import (
	"bytes"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// renderChart renders deploy/helm/podid with Helm's Go packages (test/helm's
// render program: Helm stays out of the main module) with the given --set
// values.
func renderChart(t *testing.T, sets ...string) string {
	t.Helper()
	return renderChartWith(t, nil, sets...)
}

// renderChartWith is renderChart with --set-string values too.
func renderChartWith(t *testing.T, setStrings []string, sets ...string) string {
	t.Helper()
	args := []string{"run", "./render"}
	for _, s := range sets {
		args = append(args, "-set", s)
	}
	for _, s := range setStrings {
		args = append(args, "-set-string", s)
	}
	cmd := exec.Command("go", args...)
	cmd.Dir = "../helm"
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("rendering the chart: %v\n%s", err, stderr.String())
	}
	return string(out)
}

// TestRealNodeAgentFromChart: the chart's agent DaemonSet, with the image
// just built, becomes Ready on the real node, and a pod in its own network
// namespace reaches it on 169.254.170.23:80 and [fd00:ec2::23]:80 (the
// agent adds both addresses itself, to a link that exists on this kernel).
// `aws eks create-addon` adopts it and `aws eks wait addon-active` sees it
// ACTIVE. The server runs beside the node (server.enabled=false) and
// register-self runs as the chart's Job would. The webhook, with pods
// reaching Services through kube-proxy, is TestRealNodeWorkshop's.
func TestRealNodeAgentFromChart(t *testing.T) {
	n := startRealNode(t)
	cp := n.cp
	runCmd(t, "ip", "link", "add", agentLink, "type", "bridge")
	s := startServer(t)
	img := buildImage(t)
	probe := buildImage(t, "-package", "./test/e2e/testdata/nodeprobe", "-name", "nodeprobe", "-repository", "podid.local/nodeprobe", "-version", "e2e", "-cmd", "")
	n.importImage(t, probe)

	const cluster = "e2e"
	repo, tag, _ := strings.Cut(img.Ref, ":")
	manifest := renderChart(t, "clusterName="+cluster, "image.repository="+repo, "image.tag="+tag, "image.pullPolicy=Never",
		"server.enabled=false", "server.url="+s.URL, "webhook.enabled=false", "register.enabled=false",
		"agent.extraArgs={--metrics-address=127.0.0.1}") // no test listener beyond loopback and the test's links
	// Register the cluster and create the agent's scoped credentials, as
	// the chart's Job would (its pod would need to reach the API server
	// through the kubernetes Service; here it runs beside the node).
	cp.kubectl(t, "create", "namespace", "podid")
	reg := exec.Command(podidBin, "cluster", "register-self", "--server", s.URL, "--cluster-name", cluster,
		"--region", s.Region, "--kubeconfig", cp.Kubeconfig, "--namespace", "podid", "--api-access")
	reg.Env = s.sharedCredsEnv(filepath.Join(s.DataDir, "root-credentials"))
	// The chart's agents use their own projected tokens (agent.auth=token):
	// the Job makes their role, and no shared agent Secret.
	if out, err := reg.CombinedOutput(); err != nil || !strings.Contains(string(out), "agent role podid-agent-"+cluster+" is ready") {
		t.Fatalf("register-self: %v\n%s", err, out)
	}
	cp.kubectlApply(t, manifest)
	t.Cleanup(func() {
		if t.Failed() {
			out, _ := cp.kubectlOut("-n", "kube-system", "logs", "-l", "app.kubernetes.io/name=eks-pod-identity-agent", "--tail=50")
			t.Logf("agent logs:\n%s", out)
		}
	})
	cp.waitFor(t, 2*time.Minute, "agent DaemonSet 1/1 ready on the real node", func() bool {
		out, _ := cp.kubectlOut("-n", "kube-system", "get", "daemonset", "eks-pod-identity-agent", "-o", "jsonpath={.status.desiredNumberScheduled}/{.status.numberReady}")
		return out == "1/1"
	})
	if node := cp.kubectl(t, "-n", "kube-system", "get", "pods", "-l", "app.kubernetes.io/name=eks-pod-identity-agent", "-o", "jsonpath={.items[*].spec.nodeName}"); node != realNodeName {
		t.Errorf("agent pods on %q, want %s", node, realNodeName)
	}
	// Ready means the agent holds its own credentials: the kubelet's
	// projected token, exchanged with podid, bound to this node.
	if logs := cp.kubectl(t, "-n", "kube-system", "logs", "-l", "app.kubernetes.io/name=eks-pod-identity-agent", "--tail=-1"); !strings.Contains(logs, `"msg":"agent identity: obtained credentials bound to this node","node":"`+realNodeName+`"`) {
		t.Errorf("the agent did not obtain node-bound credentials:\n%s", logs)
	}
	// EKS's view: the add-on adopts the chart's agent and is ACTIVE from
	// the DaemonSet's status on the real node.
	addon := []string{"--cluster-name", cluster, "--addon-name", "eks-pod-identity-agent"}
	s.aws(t, s.root(), append([]string{"eks", "create-addon"}, addon...)...)
	s.aws(t, s.root(), append([]string{"eks", "wait", "addon-active"}, addon...)...)
	if got := str(s.awsJSON(t, s.root(), append([]string{"eks", "describe-addon"}, addon...)...), "addon", "status"); got != "ACTIVE" {
		t.Errorf("describe-addon status = %q, want ACTIVE", got)
	}
	addrs := runCmd(t, "ip", "addr", "show", "dev", agentLink)
	for _, a := range []string{"169.254.170.23/32", "fd00:ec2::23/128"} {
		if !strings.Contains(addrs, a) {
			t.Errorf("%s lacks %s:\n%s", agentLink, a, addrs)
		}
	}

	cp.kubectlApply(t, fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata: {name: agent-probe, namespace: default}
spec:
  restartPolicy: Never
  automountServiceAccountToken: false
  containers:
  - name: probe
    image: %s
    imagePullPolicy: Never
    args: ["http://169.254.170.23/v1/credentials", "http://[fd00:ec2::23]/v1/credentials"]
`, probe.Ref))
	cp.waitFor(t, 2*time.Minute, "the agent-probe pod to finish", func() bool {
		out, _ := cp.kubectlOut("get", "pod", "agent-probe", "-o", "jsonpath={.status.phase}")
		return out == "Succeeded" || out == "Failed"
	})
	logs := cp.kubectl(t, "logs", "agent-probe")
	for _, want := range []string{
		"http://169.254.170.23/v1/credentials 400 Service account token cannot be empty\n",
		"http://[fd00:ec2::23]/v1/credentials 400 Service account token cannot be empty\n",
	} {
		if !strings.Contains(logs, want) {
			t.Errorf("the pod's probe printed:\n%s\nwant the line %q", logs, want)
		}
	}
	cp.kubectl(t, "delete", "pod", "agent-probe", "--wait=true", "--timeout=60s")
	cp.kubectl(t, "-n", "kube-system", "delete", "daemonset", "eks-pod-identity-agent", "--wait=true", "--timeout=60s")
	cp.waitFor(t, time.Minute, "the agent pods gone", func() bool {
		out, _ := cp.kubectlOut("-n", "kube-system", "get", "pods", "-l", "app.kubernetes.io/name=eks-pod-identity-agent", "-o", "name")
		return strings.TrimSpace(out) == ""
	})
}
