package e2e

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestBrokerDemo runs what `make broker-demo` runs after building podid
// (examples/broker/demo.sh): a second podid plays AWS, podid dev runs in
// broker mode against it, and a carts pod calls "AWS" as the role whose
// trust policy podid printed; doctor finds the role's trust OK. No key is
// printed, and nothing is left behind.
func TestBrokerDemo(t *testing.T) {
	need(t, toolAWSCLI)
	t.Parallel()
	tmp := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "../../examples/broker/demo.sh")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "TMPDIR=" + tmp, "PODID=" + podidBin}
	for _, k := range []string{"PYENV_ROOT", "PYENV_VERSION", "PYTHONPATH"} {
		if v, ok := os.LookupEnv(k); ok {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("broker demo: %v\n%s", err, out.String())
	}
	o := out.String()
	t.Logf("broker demo output:\n%s", o)
	for _, re := range []string{
		`(?m)^\$ podid exec -n carts -s carts --env AWS_ENDPOINT_URL=http://127\.0\.0\.1:[0-9]+ -- aws sts get-caller-identity --query Arn --output text\narn:aws:sts::210987654321:assumed-role/carts/eks-eks-worksh-carts-[a-z0-9]{4}-[0-9a-f-]{36}\n`,
		`(?m)^# The broker acts as arn:aws:iam::210987654321:user/podid-broker \(account 210987654321\); each association's role in AWS must trust it:$`,
		`(?m)^\$ aws iam create-role --role-name carts --assume-role-policy-document file://\$DEMO/trust.json --query Role.Arn --output text\narn:aws:iam::210987654321:role/carts\n`,
		`"AWS": "arn:aws:iam::210987654321:user/podid-broker"`,
		`"aws:RequestTag/eks-cluster-arn": "arn:aws:eks:us-west-2:123456789012:cluster/eks-workshop"`,
		`(?m)^OK +eks-workshop +carts/carts +arn:aws:iam::210987654321:role/carts +aws-sts$`,
	} {
		if !regexp.MustCompile(re).MatchString(o) {
			t.Errorf("the demo's output lacks %s", re)
		}
	}
	// No secret access key (40 characters of base64) and no key file line.
	if m := regexp.MustCompile(`[A-Za-z0-9/+]{40}|aws_secret_access_key|AWS_SECRET_ACCESS_KEY=[^…]`).FindString(o); m != "" {
		t.Errorf("the demo printed a secret: %q", m)
	}
	if strings.Contains(o, "AKIA") {
		t.Error("the demo printed an access key ID")
	}
	if left, _ := os.ReadDir(tmp); len(left) != 0 {
		t.Errorf("the demo left %d entries in TMPDIR (e.g. %s)", len(left), left[0].Name())
	}
}
