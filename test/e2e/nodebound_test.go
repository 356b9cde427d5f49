package e2e

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/podid/podid/internal/agentinstall"
)

// TestNodeBoundExchangeKubernetes: on a real API server with kwok nodes, a
// pod bound to node-1 gets a TokenRequest token whose kubernetes.io claims
// name node-1. An agent identity bound to node-1 (a role session tagged
// podid:node-name=node-1, allowed only the agents' policy) exchanges it; the
// same identity bound to node-2 is refused with AccessDeniedException
// naming its node, and the refusal is audited with both nodes. The agents'
// policy does not reach another cluster.
func TestNodeBoundExchangeKubernetes(t *testing.T) {
	need(t, toolAWSCLI)
	t.Parallel()
	cp := startControlPlane(t)
	auditLog := filepath.Join(t.TempDir(), "audit.jsonl")
	s := startServer(t, "--audit-log", auditLog)
	root := s.root()
	const cluster = "e2e-nodes"

	reg := exec.Command(podidBin, "cluster", "register-self", "--server", s.URL, "--cluster-name", cluster,
		"--region", s.Region, "--kubeconfig", cp.Kubeconfig, "--component-credentials=false")
	reg.Env = s.sharedCredsEnv(filepath.Join(s.DataDir, "root-credentials"))
	if out, err := reg.CombinedOutput(); err != nil {
		t.Fatalf("register-self: %v\n%s", err, out)
	}

	// The pod's role and association; a pod pinned to node-1.
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
	uid := cp.kubectl(t, "-n", "carts", "get", "pod", "carts-a", "-o", "jsonpath={.metadata.uid}")
	token := strings.TrimSpace(cp.kubectl(t, "-n", "carts", "create", "token", "carts", "--audience", "pods.eks.amazonaws.com",
		"--bound-object-kind", "Pod", "--bound-object-name", "carts-a", "--duration", "1h"))
	parts := strings.Split(token, ".")
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var claims struct {
		K8s struct {
			Node struct{ Name, UID string } `json:"node"`
			Pod  struct{ Name, UID string } `json:"pod"`
		} `json:"kubernetes.io"`
	}
	json.Unmarshal(payload, &claims)
	if claims.K8s.Node.Name != "node-1" || claims.K8s.Node.UID == "" || claims.K8s.Pod.UID != uid {
		t.Fatalf("the TokenRequest token's kubernetes.io claims: %s", payload)
	}

	// The node agents' identity: a role allowed the agents' policy, its
	// sessions tagged with their node.
	agentTrust := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + s.AccountID + `:root"},"Action":["sts:AssumeRole","sts:TagSession"]}]}`
	s.aws(t, root, "iam", "create-role", "--role-name", "podid-agent-nodes", "--assume-role-policy-document", writeFile(t, "a.json", agentTrust))
	s.aws(t, root, "iam", "put-role-policy", "--role-name", "podid-agent-nodes", "--policy-name", "agent",
		"--policy-document", agentinstall.AgentPolicy("aws", s.Region, s.AccountID, cluster))
	// (Roles are not assumed by the root account: an operator user does.)
	operator := newEAFixture(t, s).user(t, "operator", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["sts:AssumeRole","sts:TagSession"],"Resource":"arn:aws:iam::`+s.AccountID+`:role/podid-agent-nodes"}]}`)
	agentOn := func(node string) creds {
		out := s.awsJSON(t, operator, "sts", "assume-role", "--role-arn", "arn:aws:iam::"+s.AccountID+":role/podid-agent-nodes",
			"--role-session-name", node, "--tags", "Key=podid:node-name,Value="+node)
		return creds{Key: str(out, "Credentials", "AccessKeyId"), Secret: str(out, "Credentials", "SecretAccessKey"), Token: str(out, "Credentials", "SessionToken")}
	}
	node1, node2 := agentOn("node-1"), agentOn("node-2")

	got := s.awsJSON(t, node1, "eks-auth", "assume-role-for-pod-identity", "--cluster-name", cluster, "--token", token)
	if arn := str(got, "assumedRoleUser", "arn"); !strings.HasPrefix(arn, "arn:aws:sts::"+s.AccountID+":assumed-role/carts/eks-e2e-nodes-carts-a-") || !strings.HasPrefix(str(got, "credentials", "accessKeyId"), "ASIA") {
		t.Errorf("node-1's agent exchange: session %s", arn)
	}
	refusal := s.awsErr(t, node2, "eks-auth", "assume-role-for-pod-identity", "--cluster-name", cluster, "--token", token)
	wantCode(t, refusal, "AccessDeniedException")
	if !strings.Contains(refusal, "The calling agent runs on node node-2, but the token belongs to a pod on another node.") {
		t.Errorf("node-2's agent refusal: %s", refusal)
	}

	// Least privilege: not another cluster (root, allowed everything, is
	// told that cluster does not exist; the agent is refused before that),
	// and nothing but the exchange and the feed.
	wantCode(t, s.awsErr(t, root, "eks-auth", "assume-role-for-pod-identity", "--cluster-name", "other", "--token", token), "ResourceNotFoundException")
	other := s.awsErr(t, node1, "eks-auth", "assume-role-for-pod-identity", "--cluster-name", "other", "--token", token)
	wantCode(t, other, "AccessDeniedException")
	if !strings.Contains(other, "eks-auth:AssumeRoleForPodIdentity on resource: arn:aws:eks:"+s.Region+":"+s.AccountID+":cluster/other") {
		t.Errorf("another cluster: %s", other)
	}
	wantCode(t, s.awsErr(t, node1, "eks", "describe-cluster", "--name", cluster), "AccessDeniedException")
	wantCode(t, s.awsErr(t, node1, "sts", "assume-role", "--role-arn", "arn:aws:iam::"+s.AccountID+":role/carts", "--role-session-name", "stolen"), "AccessDenied")
	wantCode(t, s.awsErr(t, node1, "iam", "list-roles"), "AccessDenied")

	// The audit log holds the issuance and the node-mismatch refusal.
	var refused map[string]any
	cp.waitFor(t, 10*time.Second, "the node-mismatch refusal in the audit log", func() bool {
		f, err := os.Open(auditLog)
		if err != nil {
			return false
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			var m map[string]any
			if json.Unmarshal(sc.Bytes(), &m) == nil && m["errorCode"] == "AccessDeniedException" && m["cluster"] == cluster && m["podName"] == "carts-a" {
				refused = m
				return true
			}
		}
		return false
	})
	want := map[string]any{
		"decision": "refused", "reason": "the calling agent is bound to node node-2, the token to node node-1", "node": "node-1",
		"podUid": uid, "namespace": "carts", "serviceAccount": "carts",
		"caller": fmt.Sprintf("arn:aws:sts::%s:assumed-role/podid-agent-nodes/node-2", s.AccountID),
	}
	for k, v := range want {
		if refused[k] != v {
			t.Errorf("audit %s = %v, want %v (record %v)", k, refused[k], v, refused)
		}
	}
}
