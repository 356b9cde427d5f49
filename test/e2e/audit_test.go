package e2e

import (
	"bufio"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eks"
)

// TestAuditLogJSONLines: with --audit-log, every EKS Auth issuance and
// refusal is appended to the file as one JSON line.
func TestAuditLogJSONLines(t *testing.T) {
	t.Parallel()
	logPath := filepath.Join(t.TempDir(), "audit.jsonl")
	s := startServer(t, "--audit-log", logPath)
	f := newEAFixture(t, s)
	f.cluster(t, "eks-workshop")
	role := f.role(t, "carts", workshopTrust)
	f.associate(t, &eks.CreatePodIdentityAssociationInput{ClusterName: aws.String("eks-workshop"), Namespace: aws.String("carts"), ServiceAccount: aws.String("carts"), RoleArn: aws.String(role)})
	tok := f.podToken(t, "eks-workshop", "carts", "carts", "carts-1", "")
	s.aws(t, s.root(), "eks-auth", "assume-role-for-pod-identity", "--cluster-name", "eks-workshop", "--token", tok)
	wantCode(t, s.awsErr(t, s.root(), "eks-auth", "assume-role-for-pod-identity", "--cluster-name", "eks-workshop", "--token", tok[:len(tok)-4]+"AAAA"), "InvalidTokenException")

	var lines []map[string]any
	deadline := time.Now().Add(10 * time.Second)
	for len(lines) < 2 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
		lines = lines[:0]
		file, err := os.Open(logPath)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(file)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			var m map[string]any
			if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
				t.Fatalf("audit line is not JSON: %q", sc.Text())
			}
			lines = append(lines, m)
		}
		file.Close()
	}
	if len(lines) != 2 {
		t.Fatalf("%d audit lines, want 2: %v", len(lines), lines)
	}
	issued, refused := lines[0], lines[1]
	if issued["decision"] != "issued" || issued["namespace"] != "carts" || issued["podName"] != "carts-1" || issued["roleArn"] != role ||
		!strings.HasPrefix(issued["accessKeyId"].(string), "ASIA") {
		t.Errorf("issuance record: %v", issued)
	}
	if refused["decision"] != "refused" || refused["errorCode"] != "InvalidTokenException" {
		t.Errorf("refusal record: %v", refused)
	}
	for _, l := range lines {
		b, _ := json.Marshal(l)
		if strings.Contains(string(b), tok[len(tok)-20:]) {
			t.Error("an audit line contains the token")
		}
	}
}

// TestAuditCommand: `podid audit` exports the stored EKS Auth and gateway
// records as JSON lines with filters, and --follow prints a gateway
// denial written after it started.
func TestAuditCommand(t *testing.T) {
	t.Parallel()
	g := startDevGateway(t, "--dynamodb-upstream", startDynalite(t))
	root := g.root()
	g.aws(t, root, "iam", "create-role", "--role-name", "eks-workshop-carts-dynamo", "--assume-role-policy-document", writeFile(t, "trust.json", workshopTrust))
	g.aws(t, root, "iam", "put-role-policy", "--role-name", "eks-workshop-carts-dynamo", "--policy-name", "carts", "--policy-document", writeFile(t, "p.json", workshopPolicy))
	g.aws(t, root, "eks", "create-pod-identity-association", "--cluster-name", "eks-workshop", "--role-arn", "arn:aws:iam::"+g.AccountID+":role/eks-workshop-carts-dynamo",
		"--namespace", "carts", "--service-account", "carts")
	for _, table := range []string{"eks-workshop-carts", "other-table"} {
		g.via.aws(t, root, "dynamodb", "create-table", "--table-name", table, "--attribute-definitions", "AttributeName=id,AttributeType=S",
			"--key-schema", "AttributeName=id,KeyType=HASH", "--billing-mode", "PAY_PER_REQUEST")
	}
	env := g.clientEnv(root)
	follow := startProc(t, "podid audit --follow", env, podidBin, "audit", "--follow", "--interval", "200ms", "--kind", "gateway:dynamodb", "--decision", "denied")

	_, c := g.inPod(t, "carts", "carts",
		awsCLI("dynamodb", "put-item", "--table-name", "eks-workshop-carts", "--item", `{"id":{"S":"cart-1"}}`),
		awsCLI("dynamodb", "put-item", "--table-name", "other-table", "--item", `{"id":{"S":"x"}}`),
	)
	c[0].ok(t)
	wantCode(t, c[1].failed(t), "AccessDeniedException")

	// The follower prints the denial once the gateway's auditor wrote it.
	var denial map[string]any
	deadline := time.Now().Add(30 * time.Second)
	for denial == nil {
		for _, line := range strings.Split(follow.String(), "\n") {
			var m map[string]any
			if json.Unmarshal([]byte(line), &m) == nil && m["kind"] == "gateway:dynamodb" {
				denial = m
			}
		}
		if denial == nil {
			if time.Now().After(deadline) {
				t.Fatalf("podid audit --follow printed no denial:\n%s", follow.String())
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	if denial["decision"] != "denied" || denial["action"] != "dynamodb:PutItem" || denial["resource"] != "arn:aws:dynamodb:us-west-2:"+g.AccountID+":table/other-table" ||
		denial["namespace"] != "carts" || denial["serviceAccount"] != "carts" || denial["cluster"] != "eks-workshop" {
		t.Errorf("followed denial: %v", denial)
	}

	audit := func(args ...string) []map[string]any {
		t.Helper()
		cmd := exec.Command(podidBin, append([]string{"audit"}, args...)...)
		cmd.Env = env
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("podid audit %v: %v\n%s", args, err, out)
		}
		var recs []map[string]any
		for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			if line == "" {
				continue
			}
			var m map[string]any
			if err := json.Unmarshal([]byte(line), &m); err != nil {
				t.Fatalf("podid audit %v printed a line that is not JSON: %q", args, line)
			}
			recs = append(recs, m)
		}
		return recs
	}
	issued := audit("--since", "1h", "--cluster", "eks-workshop", "--namespace", "carts", "--service-account", "carts",
		"--kind", "eks-auth:AssumeRoleForPodIdentity", "--decision", "issued")
	if len(issued) == 0 {
		t.Fatal("no EKS Auth issuance exported")
	}
	for _, r := range issued {
		if r["decision"] != "issued" || r["serviceAccount"] != "carts" || r["roleArn"] != "arn:aws:iam::"+g.AccountID+":role/eks-workshop-carts-dynamo" {
			t.Errorf("issuance record: %v", r)
		}
	}
	if denied := audit("--kind", "gateway:", "--decision", "denied"); len(denied) != 1 || denied[0]["id"] != denial["id"] {
		t.Errorf("gateway denials: %v, want the followed one", denied)
	}
	if allowed := audit("--kind", "gateway:dynamodb", "--decision", "allowed", "--namespace", "carts"); len(allowed) != 1 || allowed[0]["action"] != "dynamodb:PutItem" {
		t.Errorf("gateway allowances in carts: %v", allowed)
	}
	if none := audit("--until", "2000-01-01T00:00:00Z"); len(none) != 0 {
		t.Errorf("records before 2000: %v", none)
	}
	cmd := exec.Command(podidBin, "audit", "--decision", "maybe")
	cmd.Env = env
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "decision must be one of issued, refused, allowed, denied, would-deny") {
		t.Errorf("podid audit --decision maybe: %v %s", err, out)
	}
}
