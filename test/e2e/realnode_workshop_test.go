package e2e

import (
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// realNodeCluster is the workshop's cluster name (eks-workshop in §11).
const realNodeCluster = "eks-workshop"

// TestRealNodeWorkshop runs the workshop's Pod Identity chapter on the real
// node with kubectl and the AWS CLI. podid's whole chart is installed with
// the image just built: the server with the gateway beside it, the
// registration Job, the webhook and the agent, all reaching each other and
// the API server through Services (kube-proxy, the test's cluster DNS). Then
// the carts Deployment (an AWS SDK for Go v2 program, testdata/goclient/carts,
// built into an image the same way), the association, `rollout restart`
// and `rollout status`. The new pod was mutated by the webhook through real
// admission (the API server calls the webhook's pod), its token was
// projected by the kubelet, and it logs the assumed-role ARN and a
// PutItem/GetItem on eks-workshop-carts through the chart's gateway
// (DynamoDB: dynalite on the node's address). A pod of another service
// account gets no credentials and says why. Then an agent rollout (surge)
// while carts polls its credentials every 100 ms loses no request, and
// deleting the association fails the next refresh (the agent's change
// feed). The table is created by the root as the workshop's Terraform did.
func TestRealNodeWorkshop(t *testing.T) {
	need(t, toolAWSCLI)
	n := startRealNode(t)
	cp := n.cp
	runCmd(t, "ip", "link", "add", agentLink, "type", "bridge")
	dynamo := startNodeDynalite(t)
	img := buildImage(t)
	carts := buildImage(t, "-C", "testdata/goclient", "-package", "./carts", "-name", "carts",
		"-repository", "podid.local/carts", "-version", "e2e", "-cmd", "")
	n.importImage(t, carts)

	// podid's chart, every component from the image just built: the
	// server with the gateway beside it (SQLite on an emptyDir), the
	// registration Job (with a TokenReview identity), the webhook (one
	// replica) and the agent. Pods reach the API server and the chart's
	// Services by name (the test's cluster DNS) through kube-proxy.
	cp.kubectl(t, "create", "namespace", "podid")
	cp.kubectl(t, "-n", "podid", "create", "secret", "generic", "dynalite-credentials",
		"--from-literal=credentials=[default]\naws_access_key_id = dynalite\naws_secret_access_key = dynalite\n")
	repo, tag, _ := strings.Cut(img.Ref, ":")
	cp.kubectlApply(t, renderChartWith(t, nil, "clusterName="+realNodeCluster, "image.repository="+repo, "image.tag="+tag,
		"image.pullPolicy=Never", "server.persistence.enabled=false", "register.tokenReview=true", "webhook.replicas=1",
		"gateway.enabled=true", "gateway.dynamodbUpstream="+dynamo, "gateway.upstreamCredentialsSecret=dynalite-credentials",
		"agent.extraArgs={--metrics-address=127.0.0.1}")) // no test listener beyond loopback and the test's links
	t.Cleanup(func() {
		if t.Failed() {
			for _, ns := range []string{"kube-system", "podid"} {
				out, _ := cp.kubectlOut("-n", ns, "logs", "--all-containers", "--prefix", "-l", "app.kubernetes.io/instance=podid", "--tail=40")
				t.Logf("podid logs in %s:\n%s", ns, out)
			}
			out, _ := cp.kubectlOut("-n", "carts", "logs", "--prefix", "--all-containers", "-l", "workshop=carts", "--tail=60")
			t.Logf("carts logs:\n%s", out)
		}
	})
	cp.waitFor(t, 3*time.Minute, "the registration Job complete", func() bool {
		out, _ := cp.kubectlOut("-n", "podid", "get", "job", "podid-register", "-o", "jsonpath={.status.succeeded}")
		return out == "1"
	})
	cp.waitFor(t, 2*time.Minute, "agent DaemonSet 1/1 ready on the real node", func() bool {
		out, _ := cp.kubectlOut("-n", "kube-system", "get", "daemonset", "eks-pod-identity-agent", "-o", "jsonpath={.status.desiredNumberScheduled}/{.status.numberReady}")
		return out == "1/1"
	})
	webhookLogs := func() string {
		out, _ := cp.kubectlOut("-n", "podid", "logs", "deployment/podid-webhook")
		return out
	}
	// The webhook's pod reached the API server through the kubernetes
	// Service to publish its CA, and the server for the associations.
	cp.waitFor(t, 2*time.Minute, "the webhook Ready, its caBundle published and associations loaded", func() bool {
		out, _ := cp.kubectlOut("-n", "podid", "get", "deployment", "podid-webhook", "-o", "jsonpath={.status.readyReplicas}")
		ca, _ := cp.kubectlOut("get", "mutatingwebhookconfiguration", "podid", "-o", "jsonpath={.webhooks[0].clientConfig.caBundle}")
		return out == "1" && len(ca) > 100 && strings.Contains(webhookLogs(), "associations loaded")
	})
	// The AWS CLI on the machine talks to the server's and the gateway's
	// Services (kube-proxy's rules serve the host too), as the root whose
	// key the chart generated.
	s := chartServer(t, cp)
	root := s.root()
	gw := *s
	gw.URL = "http://" + cp.kubectl(t, "-n", "podid", "get", "service", "podid-gateway", "-o", "jsonpath={.spec.clusterIP}") + ":8090"

	// §11 steps 1-2: the add-on.
	addon := []string{"--cluster-name", realNodeCluster, "--addon-name", "eks-pod-identity-agent"}
	s.aws(t, root, append([]string{"eks", "create-addon"}, addon...)...)
	s.aws(t, root, append([]string{"eks", "wait", "addon-active"}, addon...)...)

	// The carts table (the workshop's Terraform), policy and role.
	gw.aws(t, root, "dynamodb", "create-table", "--table-name", "eks-workshop-carts",
		"--attribute-definitions", "AttributeName=id,AttributeType=S", "AttributeName=customerId,AttributeType=S",
		"--key-schema", "AttributeName=id,KeyType=HASH", "--billing-mode", "PAY_PER_REQUEST",
		"--global-secondary-indexes", "IndexName=idx_global_customerId,KeySchema=[{AttributeName=customerId,KeyType=HASH}],Projection={ProjectionType=ALL}")
	s.aws(t, root, "iam", "create-policy", "--policy-name", "eks-workshop-carts-dynamo", "--policy-document", writeFile(t, "p.json", workshopPolicy))
	s.aws(t, root, "iam", "create-role", "--role-name", "eks-workshop-carts-dynamo", "--assume-role-policy-document", writeFile(t, "t.json", workshopTrust))
	s.aws(t, root, "iam", "attach-role-policy", "--role-name", "eks-workshop-carts-dynamo", "--policy-arn", "arn:aws:iam::"+s.AccountID+":policy/eks-workshop-carts-dynamo")

	// carts, deployed before the association. Its endpoints are the
	// server's (STS) and the gateway's (DynamoDB) Services; IMDS is off so
	// that no request leaves the machine.
	cp.kubectl(t, "create", "namespace", "carts")
	cp.kubectl(t, "-n", "carts", "create", "serviceaccount", "carts")
	cp.kubectl(t, "-n", "carts", "create", "serviceaccount", "orders")
	podSpec := func(sa string) string {
		return fmt.Sprintf(`serviceAccountName: %s
      terminationGracePeriodSeconds: 5
      containers:
      - name: carts
        image: %s
        imagePullPolicy: Never
        env:
        - {name: AWS_ENDPOINT_URL_STS, value: %q}
        - {name: AWS_ENDPOINT_URL_DYNAMODB, value: %q}
        - {name: AWS_EC2_METADATA_DISABLED, value: "true"}
        - {name: CARTS_POLL_INTERVAL, value: 100ms}`, sa, carts.Ref, "http://podid-server.podid.svc:8080", "http://podid-gateway.podid.svc:8090")
	}
	cp.kubectlApplyNS(t, "carts", `apiVersion: apps/v1
kind: Deployment
metadata: {name: carts}
spec:
  replicas: 1
  selector: {matchLabels: {app: carts}}
  template:
    metadata: {labels: {app: carts, workshop: carts}}
    spec:
      `+podSpec("carts")+"\n")
	before := cp.waitPods(t, "carts", "app=carts", 1, nil)
	n.waitLog(t, "carts", before[0], "carts: no credentials: ")
	if logs := cp.kubectl(t, "-n", "carts", "logs", before[0]); !strings.Contains(logs, "carts: AWS_CONTAINER_CREDENTIALS_FULL_URI is not set\n") {
		t.Errorf("carts before the association:\n%s", logs)
	}
	// The workshop's check of the Deployment's service account, as typed.
	if out := runCmd(t, "bash", "-c", "kubectl --kubeconfig "+cp.Kubeconfig+" -n carts describe deployment carts | grep 'Service Account'"); strings.Join(strings.Fields(out), " ") != "Service Account: carts" {
		t.Errorf("describe deployment carts | grep 'Service Account' = %q", out)
	}

	// §11 step 6: the association; the webhook hears of it from the
	// server (seen through admission itself: a server-side dry run of a
	// carts pod comes back mutated).
	assoc := s.awsJSON(t, root, "eks", "create-pod-identity-association", "--cluster-name", realNodeCluster,
		"--role-arn", "arn:aws:iam::"+s.AccountID+":role/eks-workshop-carts-dynamo", "--namespace", "carts", "--service-account", "carts")
	assocID := str(assoc, "association", "associationId")
	cp.waitWebhookView(t, 30*time.Second, "carts", "carts", carts.Ref, true)

	// §11 step 7: restart, and wait as the workshop does.
	cp.kubectl(t, "-n", "carts", "rollout", "restart", "deployment/carts")
	if out := cp.kubectl(t, "-n", "carts", "rollout", "status", "deployment/carts", "--timeout=2m"); !strings.Contains(out, `deployment "carts" successfully rolled out`) {
		t.Errorf("rollout status: %s", out)
	}
	after := cp.waitPods(t, "carts", "app=carts", 1, before)
	pod := after[0]
	env := cp.kubectl(t, "-n", "carts", "get", "pod", pod, "-o", `jsonpath={range .spec.containers[0].env[*]}{.name}={.value}{"\n"}{end}`)
	for _, want := range []string{"AWS_STS_REGIONAL_ENDPOINTS=regional\n", "AWS_DEFAULT_REGION=us-west-2\n", "AWS_REGION=us-west-2\n",
		"AWS_CONTAINER_CREDENTIALS_FULL_URI=http://169.254.170.23/v1/credentials\n",
		"AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE=/var/run/secrets/pods.eks.amazonaws.com/serviceaccount/eks-pod-identity-token\n"} {
		if !strings.Contains(env, want) {
			t.Errorf("carts pod %s env lacks %q:\n%s", pod, want, env)
		}
	}
	if aud := cp.kubectl(t, "-n", "carts", "get", "pod", pod, "-o", "jsonpath={.spec.volumes[?(@.name=='eks-pod-identity-token')].projected.sources[0].serviceAccountToken.audience}"); aud != "pods.eks.amazonaws.com" {
		t.Errorf("token volume audience = %q", aud)
	}
	// What the pod saw: the kubelet's token (bound to this pod on this
	// node), the role's ARN, the cart written and read back.
	logs := n.waitLog(t, "carts", pod, "carts: GetItem ")
	for _, want := range []string{
		"carts: credentials from CredentialsEndpointProvider, access key ASIA…\n",
		fmt.Sprintf("carts: token aud=pods.eks.amazonaws.com sub=system:serviceaccount:carts:carts pod=%s node=%s lifetime=86400s", pod, realNodeName),
		"carts: caller arn=arn:aws:sts::" + s.AccountID + ":assumed-role/eks-workshop-carts-dynamo/eks-eks-worksh-carts-",
		"carts: PutItem eks-workshop-carts id=" + pod + " ok\n",
		"carts: GetItem eks-workshop-carts id=" + pod + " customerId=customer-" + pod + "\n",
	} {
		if !strings.Contains(logs, want) {
			t.Errorf("carts log lacks %q:\n%s", want, logs)
		}
	}
	// The cart is in the table (read by the root through the gateway).
	if got := gw.aws(t, root, "dynamodb", "get-item", "--table-name", "eks-workshop-carts", "--key", `{"id":{"S":"`+pod+`"}}`,
		"--query", "Item.customerId.S"); strings.TrimSpace(got) != `"customer-`+pod+`"` {
		t.Errorf("the cart in the table: customerId %q", got)
	}

	// A pod of another service account: not mutated, no credentials, and
	// its log says why.
	cp.kubectlApplyNS(t, "carts", `apiVersion: v1
kind: Pod
metadata: {name: orders, labels: {workshop: carts}}
spec:
  `+strings.ReplaceAll(podSpec("orders"), "\n      ", "\n  ")+"\n")
	ordersLog := n.waitLog(t, "carts", "orders", "carts: no credentials: ")
	for _, want := range []string{"carts: AWS_CONTAINER_CREDENTIALS_FULL_URI is not set\n", "no EC2 IMDS role found"} {
		if !strings.Contains(ordersLog, want) {
			t.Errorf("orders log lacks %q:\n%s", want, ordersLog)
		}
	}
	if env := cp.kubectl(t, "-n", "carts", "get", "pod", "orders", "-o", "jsonpath={.spec.containers[0].env[*].name} {.spec.volumes[*].name}"); strings.Contains(env, "AWS_CONTAINER") || strings.Contains(env, "eks-pod-identity-token") {
		t.Errorf("orders was mutated: %s", env)
	}

	// The agent rolls (maxSurge: the new pod binds beside the old one)
	// while carts polls every 100 ms: no refresh fails.
	n.waitLog(t, "carts", pod, "carts: polls=")
	start := pollCount(t, cp.kubectl(t, "-n", "carts", "logs", pod))
	agentPods := func() string {
		out, _ := cp.kubectlOut("-n", "kube-system", "get", "pods", "-l", "app.kubernetes.io/name=eks-pod-identity-agent", "-o", "jsonpath={.items[*].metadata.name}")
		return out
	}
	oldAgent := agentPods()
	cp.kubectl(t, "-n", "kube-system", "rollout", "restart", "daemonset/eks-pod-identity-agent")
	// Surge: the new agent pod is Ready while the old one still runs.
	surged := false
	cp.waitFor(t, 2*time.Minute, "the old agent pod gone", func() bool {
		out, _ := cp.kubectlOut("-n", "kube-system", "get", "pods", "-l", "app.kubernetes.io/name=eks-pod-identity-agent",
			"-o", `jsonpath={range .items[*]}{.metadata.name}={.status.containerStatuses[0].ready}{" "}{end}`)
		surged = surged || strings.Count(out, "=true") == 2
		return strings.Count(out, "=") == 1 && !strings.Contains(out, oldAgent+"=")
	})
	cp.kubectl(t, "-n", "kube-system", "rollout", "status", "daemonset/eks-pod-identity-agent", "--timeout=2m")
	if !surged {
		t.Error("the agent's rollout never had two Ready pods (maxSurge)")
	}
	time.Sleep(1500 * time.Millisecond) // one more report line after the old agent left
	logs = cp.kubectl(t, "-n", "carts", "logs", pod)
	end := pollCount(t, logs)
	if strings.Contains(logs, "carts: refresh failed") || end.failed != 0 {
		t.Errorf("credential polls failed during the agent's rollout:\n%s", logs)
	}
	if end.polls-start.polls < 20 {
		t.Errorf("only %d polls during the agent's rollout", end.polls-start.polls)
	}
	t.Logf("agent rollout: %d polls from carts, none failed", end.polls-start.polls)

	// Deleting the association: the agent hears of it on its change feed,
	// and the running pod's next refresh fails.
	// The agent keeps credentials until shortly before they expire (hours
	// away), so a refused refresh within waitLog's minute is the feed's.
	s.aws(t, root, "eks", "delete-pod-identity-association", "--cluster-name", realNodeCluster, "--association-id", assocID)
	logs = n.waitLog(t, "carts", pod, "carts: refresh failed: ")
	failure := firstLine(logs, "carts: refresh failed: ")
	if want := "(ResourceNotFoundException): No Pod Identity Association found for cluster " + realNodeCluster + ", namespace carts and service account carts."; !strings.Contains(failure, want) {
		t.Errorf("the first refresh after the deletion: %s\nwant %s", failure, want)
	}
	// The agent's own account: the deletion came on its change feed and
	// purged the pod's cached credentials.
	metrics := nodeAgentMetrics(t)
	for _, want := range []string{`podid_agent_change_events_total{type="AssociationDeleted"} 1`, `podid_agent_cache_evictions_total{reason="association_changed"} 1`} {
		if !strings.Contains(metrics, want+"\n") {
			t.Errorf("agent metrics lack %s:\n%s", want, grepLines(metrics, "podid_agent_c"))
		}
	}
}

// startNodeDynalite runs dynalite (DynamoDB from npm) on the node's
// address, where the chart's gateway pod reaches it.
func startNodeDynalite(t *testing.T) string {
	t.Helper()
	cli := npmScript(t, "dynalite/cli.js")
	port := freePort(t)
	p := startProc(t, "dynalite", nil, "node", cli, "--host", realNodeIP, "--port", fmt.Sprint(port),
		"--createTableMs", "0", "--deleteTableMs", "0", "--updateTableMs", "0")
	url := fmt.Sprintf("http://%s:%d", realNodeIP, port)
	waitHTTP(t, "dynalite", url, p)
	return url
}

// chartServer is the chart's server as the AWS CLI on the machine sees it:
// its Service's ClusterIP, and the root key the chart generated.
func chartServer(t *testing.T, cp *controlPlane) *server {
	t.Helper()
	ip := cp.kubectl(t, "-n", "podid", "get", "service", "podid-server", "-o", "jsonpath={.spec.clusterIP}")
	s := &server{URL: "http://" + ip + ":8080", AccountID: "123456789012", Region: "us-west-2", logs: &syncBuffer{}}
	s.RootKey, s.RootSec = readSharedCredentials(t, secretFile(t, cp, "podid", "podid-root-credentials"))
	return s
}

// waitLog waits until a pod's log contains want and returns the log.
func (n *realNode) waitLog(t *testing.T, ns, pod, want string) string {
	t.Helper()
	var logs string
	n.cp.waitFor(t, time.Minute, fmt.Sprintf("%q in pod %s/%s's log", want, ns, pod), func() bool {
		logs, _ = n.cp.kubectlOut("-n", ns, "logs", pod)
		return strings.Contains(logs, want)
	})
	return logs
}

// nodeAgentMetrics reads the agent's Prometheus metrics (the chart's port,
// on loopback as the test sets it).
func nodeAgentMetrics(t *testing.T) string {
	t.Helper()
	resp, err := http.Get(agentMetrics + "/metrics")
	if err != nil {
		t.Fatalf("agent metrics: %v", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("agent metrics: %v", err)
	}
	return string(b)
}

func grepLines(s, prefix string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, prefix) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

type pollReport struct{ polls, failed int }

var pollLine = regexp.MustCompile(`carts: polls=(\d+) ok=\d+ failed=(\d+)\n`)

// pollCount is carts' last "polls=" report.
func pollCount(t *testing.T, logs string) pollReport {
	t.Helper()
	m := pollLine.FindAllStringSubmatch(logs, -1)
	if len(m) == 0 {
		t.Fatalf("no polls= line in carts' log:\n%s", logs)
	}
	last := m[len(m)-1]
	p, _ := strconv.Atoi(last[1])
	f, _ := strconv.Atoi(last[2])
	return pollReport{polls: p, failed: f}
}

func firstLine(logs, prefix string) string {
	for _, l := range strings.Split(logs, "\n") {
		if strings.HasPrefix(l, prefix) {
			return l
		}
	}
	return ""
}
