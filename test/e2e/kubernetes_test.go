package e2e

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer is a bytes.Buffer safe to read while a process writes it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// process runs a podid subcommand for the rest of the test.
func startProcess(t *testing.T, name string, env []string, args ...string) *syncBuffer {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, podidBin, args...)
	cmd.Env = env
	logs := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 10 * time.Second
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", name, err)
	}
	t.Cleanup(func() {
		cancel()
		cmd.Wait()
		if t.Failed() {
			t.Logf("%s log:\n%s", name, logs.String())
		}
	})
	return logs
}

func waitReady(t *testing.T, client *http.Client, url string, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		resp, err := client.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not ready: %v", url, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// sharedCredsEnv is an environment whose AWS credentials come from a
// shared-credentials file.
func (s *server) sharedCredsEnv(credFile string) []string {
	return []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"),
		"AWS_SHARED_CREDENTIALS_FILE=" + credFile, "AWS_CONFIG_FILE=/dev/null",
		"AWS_REGION=" + s.Region, "AWS_DEFAULT_REGION=" + s.Region, "AWS_EC2_METADATA_DISABLED=true",
	}
}

// TestKubernetesEndToEnd installs podid's manifests in a real control plane
// and runs the workshop there: the agent DaemonSet becomes ready on three
// nodes, the webhook mutates the carts pods created after the association
// (and only those), and a pod-bound token from the TokenRequest API gets the
// role's credentials through a running `podid agent` used by the AWS CLI.
func TestKubernetesEndToEnd(t *testing.T) {
	need(t, toolAWSCLI)
	t.Parallel()
	cp := startControlPlane(t)
	const agentImage = "registry.example/podid:e2e"
	s := startServer(t, "--agent-image", agentImage)
	root := s.root()
	rootFile := filepath.Join(s.DataDir, "root-credentials")
	const cluster = "e2e"

	// The chart's plain manifests, with their two secrets filled in as a
	// user would.
	manifests, err := os.ReadFile("../../deploy/manifests/podid.yaml")
	if err != nil {
		t.Fatal(err)
	}
	rootCreds, _ := os.ReadFile(rootFile)
	m := strings.ReplaceAll(string(manifests), "REPLACE_WITH_BASE64_OF_32_RANDOM_BYTES_BASE64", base64.StdEncoding.EncodeToString([]byte(base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32)))))
	m = strings.ReplaceAll(m, "REPLACE_WITH_BASE64_SHARED_CREDENTIALS_FILE", base64.StdEncoding.EncodeToString(rootCreds))
	m = strings.ReplaceAll(m, "my-cluster", cluster)
	cp.kubectlApply(t, m)
	cp.waitFor(t, 2*time.Minute, "agent DaemonSet 3/3 ready", func() bool {
		out, _ := cp.kubectlOut("-n", "kube-system", "get", "daemonset", "eks-pod-identity-agent", "-o", "jsonpath={.status.desiredNumberScheduled}/{.status.numberReady}")
		return out == "3/3"
	})
	ds := cp.kubectl(t, "-n", "kube-system", "get", "daemonset", "eks-pod-identity-agent")
	if !strings.Contains(ds, "eks-pod-identity-agent   3         3         3") {
		t.Errorf("kubectl get daemonset:\n%s", ds)
	}

	// Register the cluster (issuer and keys from the API server) and create
	// the components' scoped credentials, as the chart's Job does.
	reg := exec.Command(podidBin, "cluster", "register-self", "--server", s.URL, "--cluster-name", cluster,
		"--region", s.Region, "--kubeconfig", cp.Kubeconfig, "--namespace", "podid", "--api-access")
	reg.Env = s.sharedCredsEnv(rootFile)
	if out, err := reg.CombinedOutput(); err != nil {
		t.Fatalf("register-self: %v\n%s", err, out)
	} else if !strings.Contains(string(out), "registered cluster e2e") {
		t.Errorf("register-self printed: %s", out)
	}
	desc := s.awsJSON(t, root, "eks", "describe-cluster", "--name", cluster)
	if got := str(desc, "cluster", "identity", "oidc", "issuer"); got != cp.Issuer {
		t.Errorf("registered issuer = %q, want %q", got, cp.Issuer)
	}
	webhookCreds := secretFile(t, cp, "podid", "podid-webhook-credentials")
	// Agents use their own projected tokens (the chart's default): the Job
	// made their role and no shared agent Secret.
	if out, err := cp.kubectlOut("-n", "kube-system", "get", "secret", "podid-agent-credentials"); err == nil || !strings.Contains(out, "NotFound") {
		t.Errorf("an agent Secret exists: %v %s", err, out)
	}

	// The webhook runs here, registered with the API server by URL instead
	// of the chart's Service (kwok's pods run no containers).
	whPort := freePort(t)
	cp.kubectl(t, "patch", "mutatingwebhookconfiguration", "podid", "--type=json", "-p",
		fmt.Sprintf(`[{"op":"remove","path":"/webhooks/0/clientConfig/service"},{"op":"add","path":"/webhooks/0/clientConfig/url","value":"https://127.0.0.1:%d/mutate"}]`, whPort))
	whLogs := startProcess(t, "webhook", s.sharedCredsEnv(webhookCreds), "webhook", "--listen", fmt.Sprintf("127.0.0.1:%d", whPort),
		"--server", s.URL, "--cluster-name", cluster, "--region", s.Region, "--kubeconfig", cp.Kubeconfig,
		"--namespace", "podid", "--tls-host", "127.0.0.1", "--webhook-config", "podid")
	cp.waitFor(t, time.Minute, "caBundle set by the webhook and associations loaded", func() bool {
		out, _ := cp.kubectlOut("get", "mutatingwebhookconfiguration", "podid", "-o", "jsonpath={.webhooks[0].clientConfig.caBundle}")
		return len(out) > 100 && strings.Contains(whLogs.String(), "associations loaded")
	})

	// The workshop: policy and role with the CLI, carts deployed first.
	s.aws(t, root, "iam", "create-policy", "--policy-name", "eks-workshop-carts-dynamo", "--policy-document", writeFile(t, "p.json", workshopPolicy))
	s.aws(t, root, "iam", "create-role", "--role-name", "eks-workshop-carts-dynamo", "--assume-role-policy-document", writeFile(t, "t.json", workshopTrust))
	s.aws(t, root, "iam", "attach-role-policy", "--role-name", "eks-workshop-carts-dynamo", "--policy-arn", "arn:aws:iam::"+s.AccountID+":policy/eks-workshop-carts-dynamo")
	cp.kubectl(t, "create", "namespace", "carts")
	cp.kubectl(t, "-n", "carts", "create", "serviceaccount", "carts")
	cp.kubectlApplyNS(t, "carts", `apiVersion: apps/v1
kind: Deployment
metadata: {name: carts}
spec:
  replicas: 1
  selector: {matchLabels: {app: carts}}
  template:
    metadata: {labels: {app: carts}}
    spec:
      serviceAccountName: carts
      containers: [{name: carts, image: public.ecr.aws/aws-containers/retail-store-sample-cart:0.7.0}]
`)
	before := cp.waitPods(t, "carts", "app=carts", 1, nil)
	if env := cp.kubectl(t, "-n", "carts", "get", "pod", before[0], "-o", "jsonpath={.spec.containers[0].env}"); strings.Contains(env, "AWS_CONTAINER") {
		t.Errorf("pod created before the association was mutated: %s", env)
	}

	testRefusalEvents(t, cp, s, cluster, before[0])

	s.aws(t, root, "eks", "create-pod-identity-association", "--cluster-name", cluster, "--namespace", "carts", "--service-account", "carts",
		"--role-arn", "arn:aws:iam::"+s.AccountID+":role/eks-workshop-carts-dynamo")
	time.Sleep(time.Second) // the workshop's own pause: propagation to the webhook within a second
	// podid explain reads the live pod: the one created before the
	// association was not mutated, which it names with the fix.
	if out, _, code := s.runPodid(t, root, "explain", "--cluster", cluster, "-n", "carts", "-s", "carts", "--pod", before[0]); code != 1 ||
		!strings.Contains(out, "(pod-not-mutated)") || !strings.Contains(out, "fix:   recreate it: kubectl -n carts delete pod "+before[0]) {
		t.Errorf("explain of the pod created before the association: exit %d\n%s", code, out)
	}
	cp.kubectl(t, "-n", "carts", "rollout", "restart", "deployment/carts")
	after := cp.waitPods(t, "carts", "app=carts", 1, before)
	pod := after[0]
	env := cp.kubectl(t, "-n", "carts", "get", "pod", pod, "-o", `jsonpath={range .spec.containers[0].env[*]}{.name}={.value}{"\n"}{end}`)
	want := "AWS_STS_REGIONAL_ENDPOINTS=regional\nAWS_DEFAULT_REGION=us-west-2\nAWS_REGION=us-west-2\n" +
		"AWS_CONTAINER_CREDENTIALS_FULL_URI=http://169.254.170.23/v1/credentials\n" +
		"AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE=/var/run/secrets/pods.eks.amazonaws.com/serviceaccount/eks-pod-identity-token\n"
	if env != want {
		t.Errorf("new carts pod env:\n%s\nwant:\n%s", env, want)
	}
	vol := cp.kubectl(t, "-n", "carts", "get", "pod", pod, "-o", "jsonpath={.spec.volumes[?(@.name=='eks-pod-identity-token')].projected.sources[0].serviceAccountToken.audience}")
	if vol != "pods.eks.amazonaws.com" {
		t.Errorf("token volume audience = %q", vol)
	}

	// The new pod was mutated; its UID fills the session tag.
	uid := cp.kubectl(t, "-n", "carts", "get", "pod", pod, "-o", "jsonpath={.metadata.uid}")
	if out, _, code := s.runPodid(t, root, "explain", "--cluster", cluster, "-n", "carts", "-s", "carts", "--pod", pod); code != 0 ||
		!strings.Contains(out, "kubernetes-pod-uid="+uid) || !strings.Contains(out, "): mutated by the webhook") {
		t.Errorf("explain of the mutated pod: exit %d\n%s", code, out)
	}

	// The pod's token, as the kubelet would project it, through the agent.
	token := strings.TrimSpace(cp.kubectl(t, "-n", "carts", "create", "token", "carts", "--audience", "pods.eks.amazonaws.com",
		"--bound-object-kind", "Pod", "--bound-object-name", pod, "--duration", "1h"))
	tokenFile := filepath.Join(t.TempDir(), "eks-pod-identity-token")
	os.WriteFile(tokenFile, []byte(token), 0o600)
	// The agent of the pod's node, as the chart runs it: no AWS
	// credentials, its own projected token (kube-system/eks-pod-identity-agent,
	// bound to the DaemonSet's pod on that node).
	node := cp.kubectl(t, "-n", "carts", "get", "pod", pod, "-o", "jsonpath={.spec.nodeName}")
	agentPod := cp.kubectl(t, "-n", "kube-system", "get", "pods", "-l", "app.kubernetes.io/name=eks-pod-identity-agent",
		"--field-selector", "spec.nodeName="+node, "-o", "jsonpath={.items[0].metadata.name}")
	agentTokenFile := filepath.Join(t.TempDir(), "agent-token")
	os.WriteFile(agentTokenFile, []byte(cp.kubectl(t, "-n", "kube-system", "create", "token", "eks-pod-identity-agent", "--audience", "podid.dev/agent",
		"--bound-object-kind", "Pod", "--bound-object-name", agentPod, "--duration", "1h")), 0o600)
	agentPort, probePort, metricsPort := freePort(t), freePort(t), freePort(t)
	startProcess(t, "agent", s.sharedCredsEnv("/dev/null"), "agent", "--cluster-name", cluster, "--endpoint", s.URL,
		"--identity-token-file", agentTokenFile,
		"--bind-hosts", "127.0.0.1", "--port", fmt.Sprint(agentPort), "--allowed-hosts", "127.0.0.1", "--change-feed-endpoint", s.URL,
		"--probe-address", "127.0.0.1", "--probe-port", fmt.Sprint(probePort), "--metrics-address", "127.0.0.1", "--metrics-port", fmt.Sprint(metricsPort))
	waitReady(t, http.DefaultClient, fmt.Sprintf("http://127.0.0.1:%d/readyz", probePort), 30*time.Second)

	podEnv := []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"),
		"AWS_ENDPOINT_URL=" + s.URL, "AWS_REGION=" + s.Region, "AWS_DEFAULT_REGION=" + s.Region,
		"AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null", "AWS_EC2_METADATA_DISABLED=true",
		fmt.Sprintf("AWS_CONTAINER_CREDENTIALS_FULL_URI=http://127.0.0.1:%d/v1/credentials", agentPort),
		"AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE=" + tokenFile,
	}
	whoami := exec.Command("aws", "sts", "get-caller-identity", "--query", "Arn", "--output", "text")
	whoami.Env = podEnv
	out, err := whoami.CombinedOutput()
	if err != nil {
		t.Fatalf("aws sts get-caller-identity in the pod's environment: %v\n%s", err, out)
	}
	if got := strings.TrimSpace(string(out)); !strings.HasPrefix(got, "arn:aws:sts::"+s.AccountID+":assumed-role/eks-workshop-carts-dynamo/eks-e2e-") {
		t.Errorf("pod's identity = %q", got)
	}

	// register-self again, as the chart's Job with register.tokenReview
	// does: podid's API access becomes a dedicated identity allowed only
	// TokenReview (system:auth-delegator), and the registration is updated
	// in place.
	cp.kubectl(t, "-n", "podid", "create", "serviceaccount", "podid-tokenreview")
	cp.kubectl(t, "create", "clusterrolebinding", "podid-tokenreview", "--clusterrole", "system:auth-delegator", "--serviceaccount", "podid:podid-tokenreview")
	// RBAC reaches the authorizer through an informer: wait until it does.
	cp.waitFor(t, 30*time.Second, "the TokenReview binding to take effect", func() bool {
		out, err := cp.kubectlOut("auth", "can-i", "create", "tokenreviews.authentication.k8s.io", "--as", "system:serviceaccount:podid:podid-tokenreview")
		return err == nil && strings.HasSuffix(strings.TrimSpace(out), "yes")
	})
	reviewTokenFile := filepath.Join(t.TempDir(), "token")
	os.WriteFile(reviewTokenFile, []byte(cp.kubectl(t, "-n", "podid", "create", "token", "podid-tokenreview", "--duration", "1h")), 0o600)
	registerAgain := func(args ...string) {
		t.Helper()
		cmd := exec.Command(podidBin, append([]string{"cluster", "register-self", "--server", s.URL, "--cluster-name", cluster,
			"--region", s.Region, "--kubeconfig", cp.Kubeconfig, "--namespace", "podid"}, args...)...)
		cmd.Env = s.sharedCredsEnv(rootFile)
		if out, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(out), "cluster e2e is already registered; updated its issuer "+cp.Issuer+" and keys") {
			t.Fatalf("register-self %v again: %v\n%s", args, err, out)
		}
	}
	registerAgain("--api-token-file", reviewTokenFile)

	// TokenReview mode: with the cluster tagged for it, EKS Auth also asks
	// the API server (as podid-tokenreview), so deleting the pod makes its
	// token useless even though its signature is still good.
	clusterARN := "arn:aws:eks:" + s.Region + ":" + s.AccountID + ":cluster/" + cluster
	s.aws(t, root, "eks", "tag-resource", "--resource-arn", clusterARN, "--tags", "podid:token-review=true")
	time.Sleep(1100 * time.Millisecond) // EKS Auth reads a cluster at most once a second
	exchange := func(tok string) (string, error) {
		out, errOut, err := s.awsRun(root, "eks-auth", "assume-role-for-pod-identity", "--cluster-name", cluster, "--token", tok)
		return out + errOut, err
	}
	if out, err := exchange(token); err != nil {
		t.Fatalf("exchange with TokenReview while the pod exists: %v\n%s", err, out)
	}
	doomed := strings.TrimSpace(cp.kubectl(t, "-n", "carts", "create", "token", "carts", "--audience", "pods.eks.amazonaws.com",
		"--bound-object-kind", "Pod", "--bound-object-name", pod, "--duration", "1h"))
	if out, err := exchange(doomed); err != nil {
		t.Fatalf("second token before the pod is deleted: %v\n%s", err, out)
	}
	cp.kubectl(t, "-n", "carts", "delete", "pod", pod, "--wait=true", "--grace-period=0", "--force")
	cp.waitFor(t, time.Minute, "the deleted pod's token to be refused", func() bool {
		out, err := exchange(doomed)
		return err != nil && strings.Contains(out, "(InvalidTokenException)")
	})
	// The ReplicaSet replaced the deleted pod while the association still
	// existed: that replacement is mutated and is not the pod the next
	// step looks at.
	after = append(after, cp.waitPods(t, "carts", "app=carts", 1, after)...)

	// Deleting the association stops new mutations and the agent stops
	// serving the pod's credentials.
	list := s.awsJSON(t, root, "eks", "list-pod-identity-associations", "--cluster-name", cluster)
	assocID := list["associations"].([]any)[0].(map[string]any)["associationId"].(string)
	s.aws(t, root, "eks", "delete-pod-identity-association", "--cluster-name", cluster, "--association-id", assocID)
	cp.waitWebhookView(t, 30*time.Second, "carts", "carts", "public.ecr.aws/aws-containers/retail-store-sample-cart:0.7.0", false)
	cp.kubectl(t, "-n", "carts", "rollout", "restart", "deployment/carts")
	latest := cp.waitPods(t, "carts", "app=carts", 1, after)
	if env := cp.kubectl(t, "-n", "carts", "get", "pod", latest[0], "-o", "jsonpath={.spec.containers[0].env}"); strings.Contains(env, "AWS_CONTAINER") {
		t.Errorf("pod created after the association was deleted was mutated: %s", env)
	}
	agentURL := fmt.Sprintf("http://127.0.0.1:%d/v1/credentials", agentPort)
	cp.waitFor(t, 10*time.Second, "agent to stop serving the deleted association's credentials", func() bool {
		req, _ := http.NewRequest(http.MethodGet, agentURL, nil)
		req.Header.Set("Authorization", token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode != http.StatusOK
	})

	// The add-on installer needs more than TokenReview: back to the
	// admin's API access.
	registerAgain("--api-access")
	testAgentAddon(t, cp, s, cluster, agentImage)
}

// testAgentAddon runs the eks-pod-identity-agent add-on on a cluster podid
// reaches through its API (registered with --api-access). First the
// chart's DaemonSet is adopted: ACTIVE from its status, left in place by
// delete-addon. Then, with it gone, create-addon installs podid's own
// DaemonSet and credentials, becomes ACTIVE when kwok's three agent pods
// are ready (with the add-on's configuration values applied), turns DEGRADED
// when update-addon gives it a node selector no node matches, and
// delete-addon removes it all and revokes the agent's key.
func testAgentAddon(t *testing.T, cp *controlPlane, s *server, cluster, image string) {
	root := s.root()
	addon := []string{"--cluster-name", cluster, "--addon-name", "eks-pod-identity-agent"}
	dsField := func(path string) string {
		out, _ := cp.kubectlOut("-n", "kube-system", "get", "daemonset", "eks-pod-identity-agent", "-o", "jsonpath="+path)
		return out
	}
	const managedBy = `{.metadata.labels.app\.kubernetes\.io/managed-by}`
	chartOwner := dsField(managedBy)

	s.aws(t, root, append([]string{"eks", "create-addon"}, addon...)...)
	s.aws(t, root, append([]string{"eks", "wait", "addon-active"}, addon...)...)
	s.aws(t, root, append([]string{"eks", "delete-addon"}, addon...)...)
	s.aws(t, root, append([]string{"eks", "wait", "addon-deleted"}, addon...)...)
	if got := dsField(managedBy); got != chartOwner || got == "podid" {
		t.Fatalf("adopted DaemonSet after delete-addon: managed-by %q, want the chart's %q", got, chartOwner)
	}

	cp.kubectl(t, "-n", "kube-system", "delete", "daemonset", "eks-pod-identity-agent", "--wait=true")
	// kwok runs no kubelet to finish the old pods' graceful termination,
	// and their host port would keep the new ones off the nodes.
	cp.kubectl(t, "-n", "kube-system", "delete", "pods", "-l", "app.kubernetes.io/name=eks-pod-identity-agent", "--grace-period=0", "--force")
	cp.kubectl(t, "-n", "kube-system", "delete", "secret", "podid-agent-credentials", "--ignore-not-found")
	agentUser := "podid-agent-" + cluster
	keyCount := func() int {
		// With agents on their projected tokens (the default) the agent
		// user exists only once a shared key was made.
		if _, errOut, err := s.awsRun(root, "iam", "get-user", "--user-name", agentUser); err != nil && strings.Contains(errOut, "NoSuchEntity") {
			return 0
		}
		out := s.awsJSON(t, root, "iam", "list-access-keys", "--user-name", agentUser)
		return len(out["AccessKeyMetadata"].([]any))
	}
	keysBefore := keyCount()

	created := s.awsJSON(t, root, append([]string{"eks", "create-addon", "--configuration-values",
		`{"agent":{"additionalArgs":{"-v":"debug"}},"podLabels":{"team":"platform"},"agentAuth":"secret"}`}, addon...)...)
	if got := str(created, "addon", "status"); got != "CREATING" {
		t.Errorf("create-addon status = %q", got)
	}
	if got := dsField(managedBy); got != "podid" {
		t.Fatalf("installed DaemonSet managed-by = %q", got)
	}
	if got := dsField("{.spec.template.spec.containers[0].image}"); got != image {
		t.Errorf("image = %q, want %q", got, image)
	}
	args := dsField("{.spec.template.spec.containers[0].args}")
	for _, want := range []string{`"agent"`, `"--cluster-name=` + cluster + `"`, `"--endpoint=` + s.URL + `"`, `"--change-feed-endpoint=` + s.URL + `"`, `"-v","debug"`} {
		if !strings.Contains(args, want) {
			t.Errorf("agent args %s lack %s", args, want)
		}
	}
	if got := dsField("{.spec.template.metadata.labels.team}"); got != "platform" {
		t.Errorf("configured pod label team = %q", got)
	}
	if got := dsField("{range .metadata.managedFields[*]}{.manager}/{.operation};{end}"); !strings.Contains(got, "podid/Apply;") {
		t.Errorf("DaemonSet field managers %q lack podid/Apply (server-side apply)", got)
	}
	cp.waitFor(t, time.Minute, "installed agent DaemonSet 3/3 ready", func() bool {
		return dsField("{.status.desiredNumberScheduled}/{.status.numberReady}") == "3/3"
	})
	s.aws(t, root, append([]string{"eks", "wait", "addon-active"}, addon...)...)

	// The agents' key: new, least privilege, annotated for revocation.
	if n := keyCount(); n != keysBefore+1 {
		t.Errorf("agent user has %d keys, want %d", n, keysBefore+1)
	}
	agent := secretCreds(t, cp, "kube-system", "podid-agent-credentials")
	if ann, _ := cp.kubectlOut("-n", "kube-system", "get", "secret", "podid-agent-credentials", "-o", `jsonpath={.metadata.annotations.podid\.io/access-key-id}`); ann != agent.Key {
		t.Errorf("secret annotation %q, key %q", ann, agent.Key)
	}
	s.aws(t, agent, "eks", "list-pod-identity-associations", "--cluster-name", cluster)
	wantCode(t, s.awsErr(t, agent, "iam", "list-users"), "AccessDenied")

	// update-addon re-applies the DaemonSet, and the add-on's health
	// follows it: a node selector no node matches leaves no agent.
	up := s.awsJSON(t, root, append([]string{"eks", "update-addon", "--configuration-values", `{"nodeSelector":{"podid.io/no-such-node":"x"}}`}, addon...)...)
	if got := str(up, "update", "status"); got != "InProgress" {
		t.Errorf("update-addon: %v", up)
	}
	// The update is tracked: describe-update and list-updates find it, and
	// it stays InProgress while the agent it rolled out is degraded.
	updateID := str(up, "update", "id")
	du := s.awsJSON(t, root, "eks", "describe-update", "--name", cluster, "--addon-name", "eks-pod-identity-agent", "--update-id", updateID)
	if str(du, "update", "id") != updateID || str(du, "update", "type") != "AddonUpdate" || str(du, "update", "status") == "" {
		t.Errorf("describe-update: %v", du)
	}
	lu := s.awsJSON(t, root, "eks", "list-updates", "--name", cluster, "--addon-name", "eks-pod-identity-agent")
	if ids, _ := lu["updateIds"].([]any); len(ids) != 1 || ids[0] != updateID {
		t.Errorf("list-updates: %v", lu)
	}
	wantCode(t, s.awsErr(t, root, "eks", "describe-update", "--name", cluster, "--addon-name", "eks-pod-identity-agent", "--update-id", "5a1e6a2c-0d6f-4c61-9a43-0ad0e0e0e0e0"), "ResourceNotFoundException")
	if got := dsField("{.spec.template.spec.nodeSelector}"); !strings.Contains(got, "podid.io/no-such-node") {
		t.Errorf("node selector after update-addon: %s", got)
	}
	// The update left agentAuth to its default: the agents now use their
	// projected tokens, the shared key's Secret is gone and its key revoked,
	// and the agent role exists.
	if got := dsField("{.spec.template.spec.volumes[0].projected.sources[0].serviceAccountToken.audience}"); got != "podid.dev/agent" ||
		!strings.Contains(dsField("{.spec.template.spec.containers[0].args}"), "--identity-token-file=/var/run/secrets/podid/agent/token") {
		t.Errorf("agent after update-addon: volumes %s", dsField("{.spec.template.spec.volumes}"))
	}
	if out, err := cp.kubectlOut("-n", "kube-system", "get", "secret", "podid-agent-credentials"); err == nil || !strings.Contains(out, "NotFound") {
		t.Errorf("the shared agent Secret after update-addon: %v %s", err, out)
	}
	if n := keyCount(); n != keysBefore {
		t.Errorf("agent user has %d keys after the switch to projected tokens, want %d", n, keysBefore)
	}
	if r := s.awsJSON(t, root, "iam", "get-role", "--role-name", "podid-agent-"+cluster); str(r, "Role", "Path") != "/podid/" {
		t.Errorf("agent role %v", r)
	}
	cp.waitFor(t, time.Minute, "add-on DEGRADED", func() bool {
		d := s.awsJSON(t, root, append([]string{"eks", "describe-addon"}, addon...)...)
		a, _ := d["addon"].(map[string]any)
		health, _ := a["health"].(map[string]any)
		issues, _ := health["issues"].([]any)
		if str(d, "addon", "status") != "DEGRADED" || len(issues) != 1 {
			return false
		}
		issue, _ := issues[0].(map[string]any)
		return issue["code"] == "InsufficientNumberOfReplicas" && issue["message"] == "No node runs the agent: the DaemonSet schedules no pods."
	})

	s.aws(t, root, append([]string{"eks", "delete-addon"}, addon...)...)
	if out, err := cp.kubectlOut("-n", "kube-system", "get", "daemonset,secret,serviceaccount", "-l", "app.kubernetes.io/managed-by=podid", "-o", "name"); err != nil || strings.TrimSpace(out) != "" {
		t.Errorf("left after delete-addon: %q %v", out, err)
	}
	if n := keyCount(); n != keysBefore {
		t.Errorf("agent user has %d keys after delete-addon, want %d", n, keysBefore)
	}
}

// secretCreds reads the access key of a shared-credentials Secret.
func secretCreds(t *testing.T, cp *controlPlane, ns, name string) creds {
	t.Helper()
	b, err := os.ReadFile(secretFile(t, cp, ns, name))
	if err != nil {
		t.Fatal(err)
	}
	var c creds
	for _, line := range strings.Split(string(b), "\n") {
		k, v, _ := strings.Cut(line, "=")
		switch strings.TrimSpace(k) {
		case "aws_access_key_id":
			c.Key = strings.TrimSpace(v)
		case "aws_secret_access_key":
			c.Secret = strings.TrimSpace(v)
		}
	}
	if c.Key == "" || c.Secret == "" {
		t.Fatalf("secret %s/%s holds no access key", ns, name)
	}
	return c
}

// kubectlApplyNS applies a manifest in a namespace.
func (cp *controlPlane) kubectlApplyNS(t *testing.T, ns, manifest string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "kubectl", "--kubeconfig", cp.Kubeconfig, "-n", ns, "apply", "-f", "-")
	cmd.Stdin = strings.NewReader(manifest)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("kubectl apply: %v\n%s", err, out)
	}
}

// waitPods waits until n running pods match selector, none of them in
// exclude, and returns their names.
func (cp *controlPlane) waitPods(t *testing.T, ns, selector string, n int, exclude []string) []string {
	t.Helper()
	var names []string
	cp.waitFor(t, 2*time.Minute, fmt.Sprintf("%d new running pods %s", n, selector), func() bool {
		out, _ := cp.kubectlOut("-n", ns, "get", "pods", "-l", selector, "-o",
			`jsonpath={range .items[?(@.status.phase=="Running")]}{.metadata.name}{" "}{.metadata.deletionTimestamp}{"\n"}{end}`)
		names = names[:0]
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			f := strings.Fields(line)
			if len(f) != 1 {
				continue // empty, or terminating
			}
			skip := false
			for _, e := range exclude {
				skip = skip || e == f[0]
			}
			if !skip {
				names = append(names, f[0])
			}
		}
		return len(names) == n
	})
	return names
}

// secretFile writes a Secret's "credentials" key to a file.
func secretFile(t *testing.T, cp *controlPlane, ns, name string) string {
	t.Helper()
	b64 := cp.kubectl(t, "-n", ns, "get", "secret", name, "-o", "jsonpath={.data.credentials}")
	b, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		t.Fatalf("secret %s/%s: %v", ns, name, err)
	}
	return write(t, t.TempDir(), name, b)
}

// testRefusalEvents: on a cluster registered with API access, EKS Auth's
// refusals of a verified pod's token become one Warning Event on the pod
// (reason PodIdentityRefused, the cause, the fix and the podid explain
// command), aggregated and rate-limited: eight refusals give one Event
// whose count stays within the per-pod burst of five.
func testRefusalEvents(t *testing.T, cp *controlPlane, s *server, cluster, pod string) {
	t.Helper()
	token := strings.TrimSpace(cp.kubectl(t, "-n", "carts", "create", "token", "carts", "--audience", "pods.eks.amazonaws.com",
		"--bound-object-kind", "Pod", "--bound-object-name", pod, "--duration", "1h"))
	for range 8 {
		_, errOut, err := s.awsRun(s.root(), "eks-auth", "assume-role-for-pod-identity", "--cluster-name", cluster, "--token", token)
		if err == nil || !strings.Contains(errOut, "(ResourceNotFoundException)") {
			t.Fatalf("exchange without an association: %v %s", err, errOut)
		}
	}
	var events string
	cp.waitFor(t, 30*time.Second, "the refusal Event on pod "+pod, func() bool {
		events, _ = cp.kubectlOut("-n", "carts", "get", "events", "--field-selector", "involvedObject.name="+pod+",reason=PodIdentityRefused",
			"-o", `jsonpath={range .items[*]}{.type}|{.source.component}|{.involvedObject.kind}|{.count}|{.message}{"\n"}{end}`)
		return strings.Contains(events, "no-association")
	})
	time.Sleep(2 * time.Second) // let the aggregated repeats reach the API server
	events, _ = cp.kubectlOut("-n", "carts", "get", "events", "--field-selector", "involvedObject.name="+pod+",reason=PodIdentityRefused",
		"-o", `jsonpath={range .items[*]}{.type}|{.source.component}|{.involvedObject.kind}|{.count}|{.message}{"\n"}{end}`)
	lines := strings.Split(strings.TrimSpace(events), "\n")
	if len(lines) != 1 {
		t.Fatalf("want one aggregated Event, got %d:\n%s", len(lines), events)
	}
	f := strings.SplitN(lines[0], "|", 5)
	want := "EKS Auth refused credentials (no-association): no Pod Identity association for service account carts/carts of cluster " + cluster +
		". Fix: aws eks create-pod-identity-association --cluster-name " + cluster + " --namespace carts --service-account carts --role-arn arn:aws:iam::" + s.AccountID + ":role/ROLE-NAME" +
		". Explain: podid explain --cluster " + cluster + " --namespace carts --service-account carts --pod " + pod
	if len(f) != 5 || f[0] != "Warning" || f[1] != "podid" || f[2] != "Pod" || f[4] != want {
		t.Errorf("event = %q\nwant message %q", lines[0], want)
	}
	if n, err := strconv.Atoi(f[3]); err != nil || n < 1 || n > 5 {
		t.Errorf("event count = %q, want 1..5 (eight refusals, a burst of five)", f[3])
	}
}
