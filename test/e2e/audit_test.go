package e2e

import (
	"bufio"
	"encoding/json"
	"os"
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
