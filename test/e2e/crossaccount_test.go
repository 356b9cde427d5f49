package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/podid/podid/internal/sharedcreds"
)

// accountB is the second account podid dev hosts in the cross-account
// walkthrough.
const accountB = "210987654321"

// rootOf reads the root key podid wrote for a further hosted account.
func (d *dev) rootOf(t *testing.T, account string) creds {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(d.DataDir, "root-credentials-"+account))
	if err != nil {
		t.Fatal(err)
	}
	k, err := sharedcreds.Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	return creds{Key: k.AccessKeyID, Secret: k.SecretAccessKey}
}

// TestCrossAccountWalkthrough runs AWS's documented cross-account Pod
// Identity walkthrough with the AWS CLI against one podid hosting two
// accounts: the association (account A, the cluster's) names a role of A
// and a target role of account B whose trust policy is the EKS user
// guide's target-role policy (the association's role as principal,
// sts:AssumeRole with the documented sts:ExternalId, sts:TagSession with
// the session-tag conditions). The pod's get-caller-identity shows account
// B's assumed-role ARN. A wrong external ID, and a trust policy without
// sts:TagSession, are refused naming the target role.
func TestCrossAccountWalkthrough(t *testing.T) {
	t.Parallel()
	d := launchDev(t, t.TempDir(), "--fresh", "--listen", "127.0.0.1:0", "--account", accountB)
	rootA, rootB := d.root(), d.rootOf(t, accountB)
	if id := str(d.awsJSON(t, rootB, "sts", "get-caller-identity"), "Account"); id != accountB {
		t.Fatalf("account B's root key is of account %q", id)
	}

	// Account A: the association's role, allowed to assume and tag the
	// target role (the identity half of cross-account access).
	first := str(d.awsJSON(t, rootA, "iam", "create-role", "--role-name", "carts-first", "--assume-role-policy-document", trustPods), "Role", "Arn")
	// Account B: a role of the same name as A's (separate namespaces), and
	// the target role.
	if arn := str(d.awsJSON(t, rootB, "iam", "create-role", "--role-name", "carts-first", "--assume-role-policy-document", trustPods), "Role", "Arn"); arn != "arn:aws:iam::"+accountB+":role/carts-first" {
		t.Errorf("B's role of the same name: %s", arn)
	}
	const ext = "us-west-2/123456789012/eks-workshop/carts/carts"
	// The target-role trust policy of the EKS user guide, filled in.
	guide := func(externalID string, tagSession bool) string {
		st := `{"Effect":"Allow","Principal":{"AWS":"` + first + `"},"Action":"sts:AssumeRole","Condition":{"StringEquals":{"sts:ExternalId":"` + externalID + `"}}}`
		if tagSession {
			st += `,{"Effect":"Allow","Principal":{"AWS":"` + first + `"},"Action":"sts:TagSession","Condition":{"StringEquals":{` +
				`"aws:RequestTag/kubernetes-namespace":"carts","aws:RequestTag/kubernetes-service-account":"carts","aws:RequestTag/eks-cluster-name":"eks-workshop"}}}`
		}
		return `{"Version":"2012-10-17","Statement":[` + st + `]}`
	}
	target := str(d.awsJSON(t, rootB, "iam", "create-role", "--role-name", "carts-target", "--assume-role-policy-document", guide(ext, true)), "Role", "Arn")
	if target != "arn:aws:iam::"+accountB+":role/carts-target" {
		t.Fatalf("target role ARN %s", target)
	}
	// A's root cannot see B's role.
	if _, errOut, err := d.awsRun(rootA, "iam", "get-role", "--role-name", "carts-target"); err == nil || !strings.Contains(errOut, "NoSuchEntity") {
		t.Errorf("account A reads B's role: %v %s", err, errOut)
	}
	d.aws(t, rootA, "iam", "put-role-policy", "--role-name", "carts-first", "--policy-name", "assume-target", "--policy-document",
		`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["sts:AssumeRole","sts:TagSession"],"Resource":"`+target+`"}]}`)
	a := d.awsJSON(t, rootA, "eks", "create-pod-identity-association", "--cluster-name", "eks-workshop",
		"--namespace", "carts", "--service-account", "carts", "--role-arn", first, "--target-role-arn", target)
	if got := str(a, "association", "externalId"); got != ext {
		t.Fatalf("externalId %q, want %q", got, ext)
	}

	identity := func() (string, string, int) {
		return d.exec(t, d.leakyEnv(), time.Minute, "-n", "carts", "-s", "carts", "--", "aws", "sts", "get-caller-identity", "--query", "[Account,Arn]", "--output", "text")
	}
	out, errOut, code := identity()
	if code != 0 || !strings.HasPrefix(out, accountB+"\tarn:aws:sts::"+accountB+":assumed-role/carts-target/eks-eks-worksh-") {
		t.Fatalf("pod identity: code %d, stdout %q, stderr %s", code, out, errOut)
	}

	// Refusals, each naming the target role.
	for _, c := range []struct{ name, trust, lacks string }{
		{"wrong external ID", guide("us-west-2/123456789012/eks-workshop/carts/other", true), "sts:AssumeRole"},
		{"no sts:TagSession", guide(ext, false), "sts:TagSession"},
	} {
		d.aws(t, rootB, "iam", "update-assume-role-policy", "--role-name", "carts-target", "--policy-document", c.trust)
		out, errOut, code := d.exec(t, d.leakyEnv(), time.Minute, "-n", "carts", "-s", "carts", "--", "sh", "-c", "echo COMMAND-RAN")
		if code == 0 || strings.Contains(out, "COMMAND-RAN") {
			t.Errorf("%s: the command ran: code %d, stdout %q", c.name, code, out)
			continue
		}
		want := "the target role " + target + " refused the second hop (" + c.lacks + " by " + first + ")"
		if !strings.Contains(errOut, want) {
			t.Errorf("%s: stderr lacks %q:\n%s", c.name, want, errOut)
		}
		if !strings.Contains(errOut, "--role-name carts-target --policy-document ") || !strings.Contains(errOut, "# with account "+accountB+"'s credentials") {
			t.Errorf("%s: stderr lacks the fix for B's role:\n%s", c.name, errOut)
		}
		if strings.Contains(errOut, "--role-name carts-first") {
			t.Errorf("%s: stderr blames the association's role:\n%s", c.name, errOut)
		}
	}

	// Without the identity policy in A, B's trust alone is not enough
	// across accounts.
	d.aws(t, rootB, "iam", "update-assume-role-policy", "--role-name", "carts-target", "--policy-document", guide(ext, true))
	d.aws(t, rootA, "iam", "delete-role-policy", "--role-name", "carts-first", "--policy-name", "assume-target")
	if out, errOut, code := identity(); code == 0 || !strings.Contains(errOut, target) {
		t.Errorf("without A's identity policy: code %d, stdout %q, stderr %s", code, out, errOut)
	}

	// --fresh starts both accounts empty: B's new root key is written
	// anew and works; the old one is gone with the store.
	d.stop(t)
	d2 := launchDev(t, d.DataDir, "--fresh", "--listen", "127.0.0.1:0", "--account", accountB)
	newB := d2.rootOf(t, accountB)
	if newB.Key == rootB.Key {
		t.Errorf("--fresh kept account B's root key %s", rootB.Key)
	}
	if id := str(d2.awsJSON(t, newB, "sts", "get-caller-identity"), "Account"); id != accountB {
		t.Errorf("account B's new root key is of account %q", id)
	}
}
