package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"
)

// chartAgent is what deploy/manifests/podid.yaml (the chart's default
// rendering) gives the agent: its service account, the projected token's
// audience and lifetime, and its token flag.
type chartAgent struct {
	ServiceAccount, Audience, TokenFlag string
	ExpirationSeconds                   int64
}

// readChartAgent reads the agent DaemonSet of the chart's default
// rendering and checks it carries no shared credentials.
func readChartAgent(t *testing.T) chartAgent {
	t.Helper()
	raw, err := os.ReadFile("../../deploy/manifests/podid.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, doc := range strings.Split(string(raw), "\n---\n") {
		var ds struct {
			Kind     string
			Metadata struct{ Name, Namespace string }
			Spec     struct {
				Template struct {
					Spec struct {
						ServiceAccountName string `json:"serviceAccountName"`
						Containers         []struct {
							Args []string
							Env  []struct{ Name string }
						}
						Volumes []struct {
							Secret    *struct{ SecretName string } `json:"secret"`
							Projected *struct {
								Sources []struct {
									ServiceAccountToken *struct {
										Audience          string
										ExpirationSeconds int64 `json:"expirationSeconds"`
									} `json:"serviceAccountToken"`
								}
							}
						}
					}
				}
			}
		}
		if yaml.Unmarshal([]byte(doc), &ds) != nil || ds.Kind != "DaemonSet" || ds.Metadata.Name != "eks-pod-identity-agent" {
			continue
		}
		pod := ds.Spec.Template.Spec
		var a chartAgent
		a.ServiceAccount = pod.ServiceAccountName
		for _, arg := range pod.Containers[0].Args {
			if strings.HasPrefix(arg, "--identity-token-file=") {
				a.TokenFlag = arg
			}
		}
		for _, e := range pod.Containers[0].Env {
			if e.Name == "AWS_SHARED_CREDENTIALS_FILE" || e.Name == "AWS_ACCESS_KEY_ID" {
				t.Errorf("the chart gives the agent shared credentials (%s)", e.Name)
			}
		}
		for _, v := range pod.Volumes {
			if v.Secret != nil {
				t.Errorf("the chart mounts the Secret %s into the agent", v.Secret.SecretName)
			}
			if v.Projected != nil && len(v.Projected.Sources) == 1 && v.Projected.Sources[0].ServiceAccountToken != nil {
				a.Audience = v.Projected.Sources[0].ServiceAccountToken.Audience
				a.ExpirationSeconds = v.Projected.Sources[0].ServiceAccountToken.ExpirationSeconds
			}
		}
		if a.ServiceAccount != "eks-pod-identity-agent" || a.Audience == "" || a.TokenFlag == "" || a.ExpirationSeconds < 600 {
			t.Fatalf("the chart's agent: %+v", a)
		}
		return a
	}
	t.Fatal("no agent DaemonSet in deploy/manifests/podid.yaml")
	return chartAgent{}
}

// TestAgentIdentityKubernetes: on a real API server with kwok nodes, the
// cluster is registered as the chart's Job does (issuer keys, API access
// for TokenReview, the agent role, no agent Secret). Agents on node-1 and
// node-2 run as the chart configures them: no AWS credentials at all, only
// a projected token of kube-system/eks-pod-identity-agent bound to their
// pod, with the chart's audience and lifetime (issued by the API server as
// the kubelet would). Each obtains credentials bound to its node; node-1's
// agent serves a pod on node-1; node-2's agent is refused that pod's token
// (AccessDeniedException naming the mismatch), audited; and once node-1's
// agent pod is deleted its token no longer renews its credentials
// (TokenReview), audited too.
func TestAgentIdentityKubernetes(t *testing.T) {
	need(t, toolAWSCLI)
	t.Parallel()
	chart := readChartAgent(t)
	cp := startControlPlane(t)
	auditLog := filepath.Join(t.TempDir(), "audit.jsonl")
	s := startServer(t, "--audit-log", auditLog)
	root := s.root()
	const cluster = "e2e-agentid"

	// The registration Job's run: component credentials (the webhook's
	// Secret in podid), the agent role, API access for TokenReview.
	cp.kubectl(t, "create", "namespace", "podid")
	reg := exec.Command(podidBin, "cluster", "register-self", "--server", s.URL, "--cluster-name", cluster,
		"--region", s.Region, "--kubeconfig", cp.Kubeconfig, "--namespace", "podid", "--api-access")
	reg.Env = s.sharedCredsEnv(filepath.Join(s.DataDir, "root-credentials"))
	if out, err := reg.CombinedOutput(); err != nil || !strings.Contains(string(out), "agent role podid-agent-"+cluster+" is ready") {
		t.Fatalf("register-self: %v\n%s", err, out)
	}
	clusterARN := "arn:aws:eks:" + s.Region + ":" + s.AccountID + ":cluster/" + cluster
	s.aws(t, root, "eks", "tag-resource", "--resource-arn", clusterARN, "--tags", "podid:token-review=true")
	cp.kubectl(t, "-n", "podid", "get", "secret", "podid-webhook-credentials")
	if out, err := cp.kubectlOut("-n", "kube-system", "get", "secret", "podid-agent-credentials"); err == nil || !strings.Contains(out, "NotFound") {
		t.Errorf("an agent Secret exists: %v %s", err, out)
	}
	role := s.awsJSON(t, root, "iam", "get-role", "--role-name", "podid-agent-"+cluster)
	if str(role, "Role", "Path") != "/podid/" || !strings.Contains(fmt.Sprint(role["Role"].(map[string]any)["AssumeRolePolicyDocument"]), "agent.podid.dev") {
		t.Errorf("agent role %v", role)
	}

	// The workload: carts on node-1.
	s.aws(t, root, "iam", "create-role", "--role-name", "carts", "--assume-role-policy-document", writeFile(t, "t.json", workshopTrust))
	s.aws(t, root, "eks", "create-pod-identity-association", "--cluster-name", cluster, "--namespace", "carts", "--service-account", "carts",
		"--role-arn", "arn:aws:iam::"+s.AccountID+":role/carts")
	cp.kubectl(t, "create", "namespace", "carts")
	cp.kubectl(t, "-n", "carts", "create", "serviceaccount", "carts")
	cp.kubectlApplyNS(t, "carts", `apiVersion: v1
kind: Pod
metadata: {name: carts-a}
spec:
  serviceAccountName: carts
  nodeName: node-1
  containers: [{name: carts, image: public.ecr.aws/aws-containers/retail-store-sample-cart:0.7.0}]
`)
	podToken := strings.TrimSpace(cp.kubectl(t, "-n", "carts", "create", "token", "carts", "--audience", "pods.eks.amazonaws.com",
		"--bound-object-kind", "Pod", "--bound-object-name", "carts-a", "--duration", "1h"))

	// The agents' pods and their projected tokens, as the chart asks the
	// kubelet for them.
	cp.kubectl(t, "-n", "kube-system", "create", "serviceaccount", chart.ServiceAccount)
	type agentProc struct{ port, probe int }
	agents := map[string]agentProc{}
	tokens := map[string]string{}
	for _, node := range []string{"node-1", "node-2"} {
		cp.kubectlApplyNS(t, "kube-system", fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata: {name: agent-%[1]s}
spec:
  serviceAccountName: %[2]s
  automountServiceAccountToken: false
  nodeName: %[1]s
  hostNetwork: true
  containers: [{name: eks-pod-identity-agent, image: ghcr.io/podid/podid:latest}]
`, node, chart.ServiceAccount))
		tok := strings.TrimSpace(cp.kubectl(t, "-n", "kube-system", "create", "token", chart.ServiceAccount, "--audience", chart.Audience,
			"--bound-object-kind", "Pod", "--bound-object-name", "agent-"+node, "--duration", fmt.Sprintf("%ds", chart.ExpirationSeconds)))
		tokens[node] = tok
		tokenFile := strings.TrimPrefix(writeFile(t, "agent-"+node+".token", tok), "file://")
		p := agentProc{port: freePort(t), probe: freePort(t)}
		agents[node] = p
		// No AWS credentials anywhere in the agent's environment.
		env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "AWS_REGION=" + s.Region,
			"AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null", "AWS_EC2_METADATA_DISABLED=true"}
		startProcess(t, "agent "+node, env, "agent", "--cluster-name", cluster, "--endpoint", s.URL, "--change-feed-endpoint", s.URL,
			strings.Replace(chart.TokenFlag, strings.TrimPrefix(chart.TokenFlag, "--identity-token-file="), tokenFile, 1),
			"--bind-hosts", "127.0.0.1", "--port", fmt.Sprint(p.port), "--allowed-hosts", "127.0.0.1",
			"--probe-address", "127.0.0.1", "--probe-port", fmt.Sprint(p.probe), "--metrics-address", "", "-v", "debug")
	}
	for _, p := range agents {
		waitReady(t, http.DefaultClient, fmt.Sprintf("http://127.0.0.1:%d/readyz", p.probe), 30*time.Second)
	}
	fetch := func(node string) (int, string) {
		req, _ := http.NewRequest(http.MethodGet, fmt.Sprintf("http://127.0.0.1:%d/v1/credentials", agents[node].port), nil)
		req.Host = "127.0.0.1"
		req.Header.Set("Authorization", podToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}

	// node-1's agent serves the pod on node-1.
	st, body := fetch("node-1")
	var served struct{ AccessKeyId, SecretAccessKey, Token, AccountId string }
	if st != 200 || json.Unmarshal([]byte(body), &served) != nil || !strings.HasPrefix(served.AccessKeyId, "ASIA") || served.AccountId != s.AccountID {
		t.Fatalf("node-1's agent: %d %s", st, body)
	}
	who := s.awsJSON(t, creds{Key: served.AccessKeyId, Secret: served.SecretAccessKey, Token: served.Token}, "sts", "get-caller-identity")
	if !strings.HasPrefix(str(who, "Arn"), "arn:aws:sts::"+s.AccountID+":assumed-role/carts/eks-e2e-agenti-carts-a-") {
		t.Errorf("the pod's credentials are %v", who)
	}
	// node-2's agent, with its own node-bound credentials, is refused.
	st, body = fetch("node-2")
	if st != 400 || !strings.Contains(body, "(AccessDeniedException): The calling agent runs on node node-2, but the token belongs to a pod on another node.") {
		t.Errorf("node-2's agent: %d %s", st, body)
	}

	// The agent's pod is deleted: its token no longer renews its
	// credentials (the API server's TokenReview refuses it).
	exchange := func(tok string) (int, string) {
		b, _ := json.Marshal(map[string]string{"token": tok})
		resp, err := http.Post(s.URL+"/podid/v1/clusters/"+cluster+"/assume-role-for-agent", "application/json", bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		out, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header.Get("x-amzn-ErrorType") + " " + string(out)
	}
	if st, out := exchange(tokens["node-1"]); st != 200 || !strings.Contains(out, `"nodeName":"node-1"`) {
		t.Fatalf("node-1's agent token before the deletion: %d %s", st, out)
	}
	cp.kubectl(t, "-n", "kube-system", "delete", "pod", "agent-node-1", "--grace-period=0", "--force", "--wait=true")
	cp.waitFor(t, 30*time.Second, "the deleted agent's refresh to be refused", func() bool {
		st, out := exchange(tokens["node-1"])
		return st == 400 && strings.HasPrefix(out, "InvalidTokenException")
	})
	// Another pod's token is not an agent's, whatever the audience.
	if st, out := exchange(podToken); st != 400 || !strings.HasPrefix(out, "InvalidTokenException") {
		t.Errorf("a pod's token at the agent exchange: %d %s", st, out)
	}

	// The audit log: node-1's agent's issuance, node-2's refusal, the
	// deleted pod's refused renewal.
	want := map[string]func(m map[string]any) bool{
		"node-1's agent credentials issued": func(m map[string]any) bool {
			return m["kind"] == "podid:AssumeRoleForAgent" && m["decision"] == "issued" && m["node"] == "node-1" && m["podName"] == "agent-node-1" &&
				m["roleArn"] == "arn:aws:iam::"+s.AccountID+":role/podid/podid-agent-"+cluster
		},
		"node-2's refusal": func(m map[string]any) bool {
			return m["errorCode"] == "AccessDeniedException" && m["podName"] == "carts-a" && m["node"] == "node-1" &&
				m["reason"] == "the calling agent is bound to node node-2, the token to node node-1" &&
				m["caller"] == "arn:aws:sts::"+s.AccountID+":assumed-role/podid-agent-"+cluster+"/node-node-2"
		},
		"the deleted agent's refused renewal": func(m map[string]any) bool {
			r, _ := m["reason"].(string)
			return m["kind"] == "podid:AssumeRoleForAgent" && m["errorCode"] == "InvalidTokenException" && strings.HasPrefix(r, "TokenReview: not authenticated")
		},
	}
	cp.waitFor(t, 10*time.Second, "the agent identity's audit records", func() bool {
		f, err := os.Open(auditLog)
		if err != nil {
			return false
		}
		defer f.Close()
		found := map[string]bool{}
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			var m map[string]any
			if json.Unmarshal(sc.Bytes(), &m) != nil {
				continue
			}
			for name, ok := range want {
				if ok(m) {
					found[name] = true
				}
			}
		}
		return len(found) == len(want)
	})
}
