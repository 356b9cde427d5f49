package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eks"
)

// runPodid runs the podid binary as a client with c's credentials against
// s and returns stdout, stderr and the exit code.
func (s *server) runPodid(t *testing.T, c creds, args ...string) (string, string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, podidBin, args...)
	cmd.Env = s.clientEnv(c)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("podid %s: %v", strings.Join(args, " "), err)
	}
	return o.String(), e.String(), code
}

// TestExplainCLI runs `podid explain` against the real server: a service
// account without an association (the command that creates one), then
// with one (the chain, the six session tags, and the decisions for the
// pod's session in text and JSON); a caller without podid:Explain is
// refused.
func TestExplainCLI(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	f := newEAFixture(t, s)
	f.cluster(t, "eks-workshop")
	role := f.role(t, "carts", workshopTrust, `{"Version":"2012-10-17","Statement":[{"Sid":"Carts","Effect":"Allow","Action":"dynamodb:GetItem","Resource":"*"}]}`)
	base := []string{"explain", "--cluster", "eks-workshop", "--namespace", "carts", "--service-account", "carts"}

	out, _, code := s.runPodid(t, s.root(), base...)
	if code != 1 || !strings.Contains(out, "aws eks create-pod-identity-association --cluster-name eks-workshop --namespace carts --service-account carts --role-arn arn:aws:iam::123456789012:role/ROLE-NAME") {
		t.Errorf("no association: exit %d\n%s", code, out)
	}

	f.associate(t, &eks.CreatePodIdentityAssociationInput{ClusterName: aws.String("eks-workshop"), Namespace: aws.String("carts"),
		ServiceAccount: aws.String("carts"), RoleArn: aws.String(role)})
	args := append(base, "--pod", "carts-7c9d8b6d4-x2x8p",
		"--action", "dynamodb:GetItem", "--resource", "arn:aws:dynamodb:us-west-2:123456789012:table/carts",
		"--action", "dynamodb:DeleteTable", "--resource", "arn:aws:dynamodb:us-west-2:123456789012:table/carts")
	out, errOut, code := s.runPodid(t, s.root(), args...)
	for _, want := range []string{
		"[ok] the webhook would mutate pods of carts/carts",
		"[ok] the trust policy of " + role + " allows pods.eks.amazonaws.com sts:AssumeRole and sts:TagSession",
		"kubernetes-pod-name=carts-7c9d8b6d4-x2x8p",
		"dynamodb:GetItem on arn:aws:dynamodb:us-west-2:123456789012:table/carts: allowed (identity-based policy)",
		`by identity-based policy #0 statement 0 "Carts" Allow (line 1, column 38)`,
		"AWS says: User: arn:aws:sts::123456789012:assumed-role/carts/eks-eks-worksh-carts-7c9d-00000000-0000-4000-8000-000000000000 is not authorized to perform: dynamodb:DeleteTable on resource: arn:aws:dynamodb:us-west-2:123456789012:table/carts because no identity-based policy allows the dynamodb:DeleteTable action",
		"fix: aws iam put-role-policy --role-name carts",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("text lacks %q\n%s", want, out)
		}
	}
	if code != 1 || !strings.Contains(errOut, "dynamodb:DeleteTable") {
		t.Errorf("exit %d, stderr %s", code, errOut)
	}

	out, _, code = s.runPodid(t, s.root(), append(args[:len(args)-4], "-o", "json")...)
	var e struct {
		OK          bool   `json:"ok"`
		Cluster     string `json:"cluster"`
		SessionTags []struct{ Key, Value string }
		Steps       []struct{ Name, Status string }
		Decisions   []struct{ Action, Decision string }
	}
	if err := json.Unmarshal([]byte(out), &e); err != nil || code != 0 {
		t.Fatalf("json: exit %d %v\n%s", code, err, out)
	}
	if !e.OK || e.Cluster != "eks-workshop" || len(e.SessionTags) != 6 || e.SessionTags[0].Value != "arn:aws:eks:us-west-2:123456789012:cluster/eks-workshop" ||
		len(e.Steps) != 6 || len(e.Decisions) != 1 || e.Decisions[0].Decision != "allowed" {
		t.Errorf("json = %+v", e)
	}

	// The REST extension is authorized: a user without podid:Explain is refused.
	nobody := f.user(t, "nobody")
	_, errOut, code = s.runPodid(t, nobody, base...)
	if code == 0 || !strings.Contains(errOut, "AccessDeniedException") || !strings.Contains(errOut, "podid:Explain on resource: arn:aws:eks:us-west-2:123456789012:cluster/eks-workshop") {
		t.Errorf("unauthorized caller: exit %d %s", code, errOut)
	}
}
