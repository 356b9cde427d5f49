package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestAssumeRoleWithWebIdentity: STS's one unsigned API, sent by the AWS
// CLI and boto3 with no credentials at all to a running podid (`podid
// dev`, whose hosted cluster is an OIDC issuer on loopback): a pod's token
// for audience sts.amazonaws.com, an IAM OIDC provider for the cluster's
// issuer and a role trusting it on the token's sub and aud give
// credentials; another service account's token and a token for another
// audience are refused with STS's codes.
func TestAssumeRoleWithWebIdentity(t *testing.T) {
	need(t, toolAWSCLI, toolBoto3)
	t.Parallel()
	d := startDev(t)
	root := d.root()
	issuer := str(d.awsJSON(t, root, "eks", "describe-cluster", "--name", "eks-workshop"), "cluster", "identity", "oidc", "issuer")
	provider := strings.TrimPrefix(issuer, "http://")
	if issuer == "" || provider == issuer {
		t.Fatalf("hosted cluster issuer = %q", issuer)
	}
	d.aws(t, root, "iam", "create-open-id-connect-provider", "--url", issuer, "--client-id-list", "sts.amazonaws.com")
	trust := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Federated":"arn:aws:iam::123456789012:oidc-provider/` + provider + `"},` +
		`"Action":"sts:AssumeRoleWithWebIdentity","Condition":{"StringEquals":{"` + provider + `:sub":"system:serviceaccount:carts:carts","` + provider + `:aud":"sts.amazonaws.com"}}}]}`
	d.aws(t, root, "iam", "create-role", "--role-name", "carts-irsa", "--assume-role-policy-document", writeFile(t, "trust.json", trust))

	token := func(sa, aud string) string {
		var out struct{ Token string }
		status, body := d.signedJSON(t, root, "eks", "POST", "/podid/v1/clusters/eks-workshop/tokens",
			map[string]any{"namespace": "carts", "serviceAccount": sa, "podName": sa + "-x2x4q", "audiences": []string{aud}})
		if status != 200 || json.Unmarshal(body, &out) != nil || out.Token == "" {
			t.Fatalf("minting a token: HTTP %d %s", status, body)
		}
		return out.Token
	}
	// No credentials anywhere: the request goes unsigned, as for a pod
	// with IRSA.
	anon := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "AWS_ENDPOINT_URL=" + d.URL, "AWS_REGION=us-west-2",
		"AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null", "AWS_EC2_METADATA_DISABLED=true"}
	run := func(name string, args ...string) (string, string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, name, args...)
		cmd.Env = anon
		var o, e bytes.Buffer
		cmd.Stdout, cmd.Stderr = &o, &e
		err := cmd.Run()
		return o.String(), e.String(), err
	}
	arnRE := regexp.MustCompile(`^arn:aws:sts::123456789012:assumed-role/carts-irsa/(cli|boto3)$`)

	good := token("carts", "sts.amazonaws.com")
	out, errOut, err := run("aws", "sts", "assume-role-with-web-identity", "--role-arn", "arn:aws:iam::123456789012:role/carts-irsa",
		"--role-session-name", "cli", "--web-identity-token", good, "--output", "json")
	if err != nil {
		t.Fatalf("aws sts assume-role-with-web-identity: %v\n%s", err, errOut)
	}
	var w map[string]any
	if err := json.Unmarshal([]byte(out), &w); err != nil {
		t.Fatal(err)
	}
	if !arnRE.MatchString(str(w, "AssumedRoleUser", "Arn")) || str(w, "SubjectFromWebIdentityToken") != "system:serviceaccount:carts:carts" ||
		str(w, "Audience") != "sts.amazonaws.com" || !strings.HasPrefix(str(w, "Credentials", "AccessKeyId"), "ASIA") {
		t.Errorf("assume-role-with-web-identity = %s", out)
	}
	sess := creds{Key: str(w, "Credentials", "AccessKeyId"), Secret: str(w, "Credentials", "SecretAccessKey"), Token: str(w, "Credentials", "SessionToken")}
	if got := str(d.awsJSON(t, sess, "sts", "get-caller-identity"), "Arn"); got != str(w, "AssumedRoleUser", "Arn") {
		t.Errorf("get-caller-identity with the web identity session = %s", got)
	}

	out, errOut, err = run("python3", "-c", `import boto3, sys
r = boto3.client("sts").assume_role_with_web_identity(RoleArn="arn:aws:iam::123456789012:role/carts-irsa", RoleSessionName="boto3", WebIdentityToken=sys.argv[1])
print(r["AssumedRoleUser"]["Arn"])`, good)
	if err != nil || !arnRE.MatchString(strings.TrimSpace(out)) {
		t.Errorf("boto3 assume_role_with_web_identity: %v\n%s%s", err, out, errOut)
	}

	for _, tc := range []struct{ name, token, code string }{
		{"another service account", token("orders", "sts.amazonaws.com"), "AccessDenied"},
		{"another audience", token("carts", "pods.eks.amazonaws.com"), "InvalidIdentityToken"},
		{"not a token", "not-a-jwt", "InvalidIdentityToken"},
	} {
		_, errOut, err := run("aws", "sts", "assume-role-with-web-identity", "--role-arn", "arn:aws:iam::123456789012:role/carts-irsa",
			"--role-session-name", "cli", "--web-identity-token", tc.token)
		if err == nil || !strings.Contains(errOut, "("+tc.code+")") {
			t.Errorf("%s: %v, want %s:\n%s", tc.name, err, tc.code, errOut)
		}
	}
}
