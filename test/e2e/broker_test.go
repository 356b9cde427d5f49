package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// Broker mode end to end: a second `podid server` plays AWS (its own
// account, IAM and STS on another loopback port), and the first runs with
// --credential-issuer=aws-sts, holding the access key of an IAM user of
// that "AWS" as its broker credentials (AWS refuses AssumeRole to root
// keys, and so does podid).

const awsAccount = "210987654321"

// startAWS starts the podid server that plays AWS.
func startAWS(t *testing.T) *server {
	t.Helper()
	s := startServer(t, "--account-id", awsAccount)
	s.AccountID = awsAccount
	return s
}

// brokerPolicy is the broker user's identity policy in "AWS".
const brokerPolicy = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["sts:AssumeRole","sts:TagSession","sts:SetSourceIdentity","iam:GetRole"],"Resource":"arn:aws:iam::` + awsAccount + `:role/*"}]}`

// brokerUser creates the IAM user podid-broker in "AWS" and returns its key.
func brokerUser(t *testing.T, a *server) creds {
	t.Helper()
	root := a.root()
	a.aws(t, root, "iam", "create-user", "--user-name", "podid-broker")
	a.aws(t, root, "iam", "put-user-policy", "--user-name", "podid-broker", "--policy-name", "broker", "--policy-document", writeFile(t, "broker.json", brokerPolicy))
	key := a.awsJSON(t, root, "iam", "create-access-key", "--user-name", "podid-broker")
	return creds{Key: str(key, "AccessKey", "AccessKeyId"), Secret: str(key, "AccessKey", "SecretAccessKey")}
}

const brokerPrincipal = "arn:aws:iam::" + awsAccount + ":user/podid-broker"

// startBroker starts `podid server` in broker mode against a, with c in
// its environment as the AWS SDK's default credentials.
func startBroker(t *testing.T, a *server, c creds) *server {
	t.Helper()
	env := []string{
		"AWS_ACCESS_KEY_ID=" + c.Key,
		"AWS_SECRET_ACCESS_KEY=" + c.Secret,
		"AWS_REGION=us-west-2",
		"AWS_CONFIG_FILE=/dev/null",
		"AWS_SHARED_CREDENTIALS_FILE=/dev/null",
		"AWS_EC2_METADATA_DISABLED=true",
	}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AWS_") {
			env = append(env, kv)
		}
	}
	return startServerEnv(t, env, "--credential-issuer", "aws-sts",
		"--broker-sts-endpoint", a.URL, "--broker-iam-endpoint", a.URL, "--broker-region", "us-west-2")
}

// podid runs the podid binary as a client of s with c's credentials.
func (s *server) podid(c creds, extraEnv []string, args ...string) (stdout, stderr string, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, podidBin, args...)
	cmd.Env = append(s.clientEnv(c), extraEnv...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err = cmd.Run()
	return o.String(), e.String(), err
}

// trustPolicy runs `podid trust-policy` against s and returns its output.
func (s *server) trustPolicy(t *testing.T, args ...string) string {
	t.Helper()
	out, errOut, err := s.podid(s.root(), nil, append([]string{"trust-policy"}, args...)...)
	if err != nil {
		t.Fatalf("podid trust-policy %s: %v\n%s", strings.Join(args, " "), err, errOut)
	}
	return out
}

// podToken mints a pod's service-account token on a podid-hosted cluster
// (POST /podid/v1/clusters/NAME/tokens, SigV4 service "eks").
func (s *server) podToken(t *testing.T, cluster, namespace, sa, pod, uid string) string {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"namespace": namespace, "serviceAccount": sa, "podName": pod, "podUid": uid})
	req, _ := http.NewRequest(http.MethodPost, s.URL+"/podid/v1/clusters/"+cluster+"/tokens", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	sum := sha256.Sum256(body)
	err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: s.RootKey, SecretAccessKey: s.RootSec}, req, hex.EncodeToString(sum[:]), "eks", s.Region, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var out struct{ Token string }
	if resp.StatusCode != http.StatusOK || json.Unmarshal(b, &out) != nil || out.Token == "" {
		t.Fatalf("minting a pod token: HTTP %d %s", resp.StatusCode, b)
	}
	return out.Token
}

// assumeForPod calls EKS Auth with a pod's token and returns the answer.
func (s *server) assumeForPod(t *testing.T, cluster, token string) map[string]any {
	t.Helper()
	return s.awsJSON(t, s.root(), "eks-auth", "assume-role-for-pod-identity", "--cluster-name", cluster, "--token", token)
}

func podCreds(out map[string]any) creds {
	return creds{Key: str(out, "credentials", "accessKeyId"), Secret: str(out, "credentials", "secretAccessKey"), Token: str(out, "credentials", "sessionToken")}
}

// hostedCluster creates a podid-hosted cluster with the agent add-on, as
// the workshop's first steps do.
func (s *server) hostedCluster(t *testing.T, name string) {
	t.Helper()
	root := s.root()
	s.aws(t, root, "eks", "create-cluster", "--name", name, "--role-arn", "arn:aws:iam::"+s.AccountID+":role/eks-cluster",
		"--resources-vpc-config", "subnetIds=subnet-a,subnet-b")
	s.aws(t, root, "eks", "create-addon", "--cluster-name", name, "--addon-name", "eks-pod-identity-agent")
	s.startAgent(t, name, root)
	s.aws(t, root, "eks", "wait", "addon-active", "--cluster-name", name, "--addon-name", "eks-pod-identity-agent")
}

// wantTrust is the trust policy `podid trust-policy` prints for one
// association in broker mode.
func wantTrust(clusterARN, ns, sa string) string {
	return `{
  "Version": "2012-10-17",
  "Statement": [
    {
      "Sid": "PodidBroker",
      "Effect": "Allow",
      "Principal": {
        "AWS": "` + brokerPrincipal + `"
      },
      "Action": [
        "sts:AssumeRole",
        "sts:TagSession",
        "sts:SetSourceIdentity"
      ],
      "Condition": {
        "StringEquals": {
          "aws:RequestTag/eks-cluster-arn": "` + clusterARN + `",
          "aws:RequestTag/kubernetes-namespace": "` + ns + `",
          "aws:RequestTag/kubernetes-service-account": "` + sa + `"
        }
      }
    }
  ]
}
`
}

// observePolicy lets a session list roles only if it carries exactly the
// given session tags and source identity: a successful iam list-roles
// with the pod's credentials proves they reached "AWS".
func observePolicy(tags map[string]string, sourceIdentity string) string {
	cond := map[string]string{"aws:SourceIdentity": sourceIdentity}
	for k, v := range tags {
		cond["aws:PrincipalTag/"+k] = v
	}
	b, _ := json.Marshal(map[string]any{"Version": "2012-10-17", "Statement": []any{map[string]any{
		"Effect": "Allow", "Action": "iam:ListRoles", "Resource": "*", "Condition": map[string]any{"StringEquals": cond}}}})
	return string(b)
}

// TestBrokerWorkshop runs the workshop's Pod Identity sequence with podid
// in broker mode: the pod's credentials come from the second server's
// STS, carry the six session tags and the source identity there, are
// cached per pod, chain to a target role with the external ID, and
// `podid doctor` finds the roles in order.
func TestBrokerWorkshop(t *testing.T) {
	t.Parallel()
	a := startAWS(t)
	b := startBroker(t, a, brokerUser(t, a))
	aroot, broot := a.root(), b.root()

	// Steps 1-2: cluster, add-on, wait addon-active.
	b.hostedCluster(t, "eks-workshop")
	clusterARN := "arn:aws:eks:us-west-2:" + b.AccountID + ":cluster/eks-workshop"

	// The trust policy the role needs, before the association exists.
	trust := b.trustPolicy(t, "--cluster", "eks-workshop", "--namespace", "carts", "--service-account", "carts")
	if want := wantTrust(clusterARN, "carts", "carts"); trust != want {
		t.Fatalf("podid trust-policy printed\n%s\nwant\n%s", trust, want)
	}

	// Steps 4-5 in "AWS": the policy and the role, printed back.
	policyDoc := strings.ReplaceAll(workshopPolicy, "123456789012", awsAccount)
	a.aws(t, aroot, "iam", "create-policy", "--policy-name", "eks-workshop-carts-dynamo", "--policy-document", writeFile(t, "p.json", policyDoc))
	a.aws(t, aroot, "iam", "create-role", "--role-name", "eks-workshop-carts-dynamo", "--assume-role-policy-document", writeFile(t, "t.json", trust))
	a.aws(t, aroot, "iam", "attach-role-policy", "--role-name", "eks-workshop-carts-dynamo", "--policy-arn", "arn:aws:iam::"+awsAccount+":policy/eks-workshop-carts-dynamo")
	if got := compact(t, a.aws(t, aroot, "iam", "get-policy-version", "--version-id", "v1", "--policy-arn", "arn:aws:iam::"+awsAccount+":policy/eks-workshop-carts-dynamo", "--query", "PolicyVersion.Document")); got != policyDoc {
		t.Errorf("get-policy-version printed %s", got)
	}
	if got, want := compact(t, a.aws(t, aroot, "iam", "get-role", "--role-name", "eks-workshop-carts-dynamo", "--query", "Role.AssumeRolePolicyDocument")), compact(t, trust); got != want {
		t.Errorf("get-role printed %s, want %s", got, want)
	}
	const uid = "6f0c3a1e-5b7d-4c2a-9e8f-0a1b2c3d4e5f"
	const si = "carts.carts@eks-workshop"
	tags := map[string]string{"eks-cluster-arn": clusterARN, "eks-cluster-name": "eks-workshop", "kubernetes-namespace": "carts",
		"kubernetes-service-account": "carts", "kubernetes-pod-name": "carts-7d9f8-x2v4q", "kubernetes-pod-uid": uid}
	a.aws(t, aroot, "iam", "put-role-policy", "--role-name", "eks-workshop-carts-dynamo", "--policy-name", "observe", "--policy-document", writeFile(t, "o.json", observePolicy(tags, si)))

	// Step 6: the association, to a role of the AWS account.
	roleARN := "arn:aws:iam::" + awsAccount + ":role/eks-workshop-carts-dynamo"
	assoc := b.awsJSON(t, broot, "eks", "create-pod-identity-association", "--cluster-name", "eks-workshop", "--role-arn", roleARN, "--namespace", "carts", "--service-account", "carts")
	assocID := str(assoc, "association", "associationId")
	if str(assoc, "association", "roleArn") != roleARN || assocID == "" {
		t.Fatalf("create-pod-identity-association = %v", assoc)
	}
	// --role covers the role's associations: here the one just made.
	if got := b.trustPolicy(t, "--role", roleARN); got != trust {
		t.Errorf("podid trust-policy --role printed\n%s\nwant\n%s", got, trust)
	}

	// Steps 7-8: the pod's credentials.
	token := b.podToken(t, "eks-workshop", "carts", "carts", "carts-7d9f8-x2v4q", uid)
	start := time.Now()
	out := b.assumeForPod(t, "eks-workshop", token)
	pod := podCreds(out)
	arnRE := regexp.MustCompile(`^arn:aws:sts::` + awsAccount + `:assumed-role/eks-workshop-carts-dynamo/eks-eks-worksh-carts-7d9f-[0-9a-f-]{36}$`)
	if !strings.HasPrefix(pod.Key, "ASIA") || pod.Token == "" || !arnRE.MatchString(str(out, "assumedRoleUser", "arn")) {
		t.Fatalf("assume-role-for-pod-identity = %v", out)
	}
	if str(out, "subject", "namespace") != "carts" || str(out, "subject", "serviceAccount") != "carts" || str(out, "podIdentityAssociation", "associationId") != assocID {
		t.Errorf("subject/association = %v / %v", out["subject"], out["podIdentityAssociation"])
	}
	// The role's MaxSessionDuration (one hour) bounds the session.
	if exp, _ := out["credentials"].(map[string]any)["expiration"].(float64); time.Unix(int64(exp), 0).Before(start.Add(50*time.Minute)) || time.Unix(int64(exp), 0).After(start.Add(61*time.Minute)) {
		t.Errorf("expiration %v, want about an hour from now", exp)
	}
	who := a.awsJSON(t, pod, "sts", "get-caller-identity")
	if str(who, "Arn") != str(out, "assumedRoleUser", "arn") || str(who, "Account") != awsAccount {
		t.Errorf("get-caller-identity in AWS = %v", who)
	}
	// The session carries the six tags and the source identity in AWS.
	a.aws(t, pod, "iam", "list-roles")
	wantCode(t, a.awsErr(t, pod, "iam", "list-users"), "AccessDenied")

	// Cached per pod: the same pod gets the same credentials, another pod
	// of the same association its own.
	again := b.assumeForPod(t, "eks-workshop", b.podToken(t, "eks-workshop", "carts", "carts", "carts-7d9f8-x2v4q", uid))
	if got := str(again, "credentials", "accessKeyId"); got != pod.Key {
		t.Errorf("same pod got %s, then %s: not cached", pod.Key, got)
	}
	other := b.assumeForPod(t, "eks-workshop", b.podToken(t, "eks-workshop", "carts", "carts", "carts-7d9f8-zzzzz", "11111111-2222-4333-8444-555555555555"))
	if got := str(other, "credentials", "accessKeyId"); got == pod.Key || !strings.HasPrefix(got, "ASIA") {
		t.Errorf("another pod got %s (first pod %s)", got, pod.Key)
	}
	// The other pod's tags differ, so the observe policy refuses it.
	wantCode(t, a.awsErr(t, podCreds(other), "iam", "list-roles"), "AccessDenied")

	// Target role: the second hop, from the first role with the external ID.
	up := b.awsJSON(t, broot, "eks", "update-pod-identity-association", "--cluster-name", "eks-workshop", "--association-id", assocID,
		"--target-role-arn", "arn:aws:iam::"+awsAccount+":role/carts-target")
	externalID := str(up, "association", "externalId")
	if !strings.HasSuffix(externalID, "/eks-workshop/carts/carts") || strings.Count(externalID, "/") != 4 {
		t.Errorf("externalId %q, want REGION/ACCOUNT/eks-workshop/carts/carts", externalID)
	}
	targetTrust := b.trustPolicy(t, "--association", assocID, "--target")
	for _, want := range []string{`"AWS": "` + roleARN + `"`, `"sts:ExternalId": "` + externalID + `"`, `"sts:SetSourceIdentity"`, `"aws:RequestTag/kubernetes-namespace": "carts"`} {
		if !strings.Contains(targetTrust, want) {
			t.Errorf("target trust policy lacks %s:\n%s", want, targetTrust)
		}
	}
	a.aws(t, aroot, "iam", "create-role", "--role-name", "carts-target", "--assume-role-policy-document", writeFile(t, "tt.json", targetTrust))
	a.aws(t, aroot, "iam", "put-role-policy", "--role-name", "carts-target", "--policy-name", "observe", "--policy-document", writeFile(t, "to.json", observePolicy(tags, si)))
	a.aws(t, aroot, "iam", "put-role-policy", "--role-name", "eks-workshop-carts-dynamo", "--policy-name", "chain", "--policy-document",
		writeFile(t, "c.json", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["sts:AssumeRole","sts:TagSession","sts:SetSourceIdentity"],"Resource":"arn:aws:iam::`+awsAccount+`:role/carts-target"}]}`))
	chained := b.assumeForPod(t, "eks-workshop", b.podToken(t, "eks-workshop", "carts", "carts", "carts-7d9f8-x2v4q", uid))
	if got := str(chained, "assumedRoleUser", "arn"); !strings.HasPrefix(got, "arn:aws:sts::"+awsAccount+":assumed-role/carts-target/eks-eks-worksh-carts-7d9f-") {
		t.Fatalf("chained session = %s", got)
	}
	// Transitive tags and the source identity survive the chain.
	a.aws(t, podCreds(chained), "iam", "list-roles")

	// podid doctor: both roles trust exactly what they need.
	credFile := filepath.Join(t.TempDir(), "credentials")
	os.WriteFile(credFile, []byte("[aws]\naws_access_key_id = "+a.RootKey+"\naws_secret_access_key = "+a.RootSec+"\n"), 0o600)
	docOut, docErr, err := b.podid(broot, []string{"AWS_SHARED_CREDENTIALS_FILE=" + credFile}, "doctor", "-o", "json", "--aws-profile", "aws", "--aws-iam-endpoint", a.URL)
	if err != nil {
		t.Fatalf("podid doctor: %v\n%s\n%s", err, docOut, docErr)
	}
	var rep struct {
		Results []struct{ RoleArn, Status, Principal, CredentialIssuer string }
	}
	if err := json.Unmarshal([]byte(docOut), &rep); err != nil || len(rep.Results) != 2 {
		t.Fatalf("doctor output: %v\n%s", err, docOut)
	}
	for _, r := range rep.Results {
		if r.Status != "ok" || r.CredentialIssuer != "aws-sts" {
			t.Errorf("doctor: %+v", r)
		}
	}

	// Metrics: AWS calls and cache answers.
	resp, err := http.Get(b.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	m, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`podid_broker_aws_requests_total{operation="AssumeRole",outcome="ok"}`, `podid_broker_cache_requests_total{result="hit"}`, `podid_broker_aws_request_duration_seconds_count{operation="AssumeRole"}`} {
		if !bytes.Contains(m, []byte(want)) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

// TestBrokerRefusals: roles that cannot work are refused with messages
// that say why, at association time when the broker can tell, else when
// the pod asks; podid doctor reports them.
func TestBrokerRefusals(t *testing.T) {
	need(t, toolAWSCLI)
	t.Parallel()
	a := startAWS(t)
	b := startBroker(t, a, brokerUser(t, a))
	aroot, broot := a.root(), b.root()
	b.hostedCluster(t, "c1")
	clusterARN := "arn:aws:eks:us-west-2:" + b.AccountID + ":cluster/c1"
	role := func(name, trust string) string {
		a.aws(t, aroot, "iam", "create-role", "--role-name", name, "--assume-role-policy-document", writeFile(t, name+".json", trust))
		return "arn:aws:iam::" + awsAccount + ":role/" + name
	}
	associate := func(ns, roleARN string) (string, string) {
		out, errOut, err := b.awsRun(broot, "eks", "create-pod-identity-association", "--cluster-name", "c1", "--role-arn", roleARN, "--namespace", ns, "--service-account", "app")
		if err != nil {
			return "", errOut
		}
		var m map[string]any
		json.Unmarshal([]byte(out), &m)
		return str(m, "association", "associationId"), ""
	}
	assumeErr := func(ns string) string {
		token := b.podToken(t, "c1", ns, "app", "app-0", "0a0a0a0a-1b1b-4c2c-8d3d-4e4e4e4e4e4e")
		return b.awsErr(t, broot, "eks-auth", "assume-role-for-pod-identity", "--cluster-name", "c1", "--token", token)
	}

	// A role that does not exist in AWS.
	if _, msg := associate("missing", "arn:aws:iam::"+awsAccount+":role/nope"); !strings.Contains(msg, "(InvalidParameterException)") || !strings.Contains(msg, "does not exist in AWS account "+awsAccount) {
		t.Errorf("missing role: %s", msg)
	}
	// A role that does not trust the broker at all.
	notBroker := role("not-broker", workshopTrust)
	if _, msg := associate("notbroker", notBroker); !strings.Contains(msg, "(InvalidParameterException)") || !strings.Contains(msg, "does not allow the broker's principal "+brokerPrincipal+" to perform sts:AssumeRole") {
		t.Errorf("role without the broker principal: %s", msg)
	}
	// A role that trusts the broker but not for sts:TagSession.
	noTag := role("no-tagsession", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"`+brokerPrincipal+`"},"Action":["sts:AssumeRole","sts:SetSourceIdentity"]}]}`)
	if _, msg := associate("notag", noTag); msg != "" {
		t.Fatalf("association to no-tagsession: %s", msg)
	}
	msg := assumeErr("notag")
	wantCode(t, msg, "AccessDeniedException")
	if !strings.Contains(msg, "The broker could not assume role "+noTag+": its trust policy does not allow "+brokerPrincipal+" to perform sts:TagSession") {
		t.Errorf("no-tagsession refusal: %s", msg)
	}
	// A role whose trust policy drops the broker after the association.
	later := role("later", wantTrust(clusterARN, "later", "app"))
	if _, msg := associate("later", later); msg != "" {
		t.Fatalf("association to later: %s", msg)
	}
	a.aws(t, aroot, "iam", "update-assume-role-policy", "--role-name", "later", "--policy-document", writeFile(t, "later2.json", workshopTrust))
	msg = assumeErr("later")
	wantCode(t, msg, "AccessDeniedException")
	if !strings.Contains(msg, "its trust policy does not name "+brokerPrincipal+" as a principal") {
		t.Errorf("untrusted broker refusal: %s", msg)
	}
	// A role whose conditions name another namespace.
	elsewhere := role("elsewhere", wantTrust(clusterARN, "someone-else", "app"))
	if _, msg := associate("wrongns", elsewhere); msg != "" {
		t.Fatalf("association to elsewhere: %s", msg)
	}
	msg = assumeErr("wrongns")
	if !strings.Contains(msg, "only under the condition StringEquals on aws:RequestTag/kubernetes-namespace, and this request carries \"wrongns\"") {
		t.Errorf("condition refusal: %s", msg)
	}
	// A role open to any workload the broker serves.
	open := role("open", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"`+brokerPrincipal+`"},"Action":["sts:AssumeRole","sts:TagSession","sts:SetSourceIdentity"]}]}`)
	if _, msg := associate("open", open); msg != "" {
		t.Fatalf("association to open: %s", msg)
	}
	assumeOK := b.assumeForPod(t, "c1", b.podToken(t, "c1", "open", "app", "app-0", "0a0a0a0a-1b1b-4c2c-8d3d-4e4e4e4e4e4e"))
	if !strings.HasPrefix(str(assumeOK, "assumedRoleUser", "arn"), "arn:aws:sts::"+awsAccount+":assumed-role/open/") {
		t.Errorf("open role: %v", assumeOK)
	}

	// podid doctor reports each.
	credFile := filepath.Join(t.TempDir(), "credentials")
	os.WriteFile(credFile, []byte("[aws]\naws_access_key_id = "+a.RootKey+"\naws_secret_access_key = "+a.RootSec+"\n"), 0o600)
	out, errOut, err := b.podid(broot, []string{"AWS_SHARED_CREDENTIALS_FILE=" + credFile}, "doctor", "--aws-profile", "aws", "--aws-iam-endpoint", a.URL)
	if err == nil || !strings.Contains(errOut, "4 of 4 roles checked have problems") {
		t.Errorf("doctor succeeded or miscounted: %v\n%s", err, errOut)
	}
	for _, want := range []string{
		"c1/notag/app " + noTag + ": refuses: its trust policy does not allow " + brokerPrincipal + " to perform sts:TagSession",
		"c1/later/app " + later + ": refuses: its trust policy does not name " + brokerPrincipal + " as a principal",
		"c1/wrongns/app " + elsewhere + ": refuses: its trust policy allows " + brokerPrincipal + " to perform sts:AssumeRole only under the condition StringEquals on aws:RequestTag/",
		"c1/open/app " + open + ": too-open: pods of any cluster, any namespace, any service account can assume it",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("doctor output lacks %q:\n%s", want, out)
		}
	}
}

// TestBrokerDevExec: `podid exec` against `podid dev` in broker mode. The
// pod's credentials are AWS's, so the command's calls go to AWS (here the
// second server, named with --env AWS_ENDPOINT_URL, as a user would for a
// test account; with real AWS nothing needs naming), and podid sets no
// endpoint of its own. A missing association is explained with the broker's
// principal and the trust-policy command.
func TestBrokerDevExec(t *testing.T) {
	t.Parallel()
	a := startAWS(t)
	c := brokerUser(t, a)
	d := launchDevEnv(t, t.TempDir(), []string{
		"AWS_ACCESS_KEY_ID=" + c.Key, "AWS_SECRET_ACCESS_KEY=" + c.Secret, "AWS_REGION=us-west-2",
		"AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null", "AWS_EC2_METADATA_DISABLED=true",
	}, "--fresh", "--listen", "127.0.0.1:0", "--credential-issuer", "aws-sts",
		"--broker-sts-endpoint", a.URL, "--broker-iam-endpoint", a.URL, "--broker-region", "us-west-2")
	env := d.clientEnv(d.root())

	// No association yet: exec fails before running the command, naming
	// the broker's principal and the command that prints the trust policy.
	out, errOut, code := d.exec(t, env, time.Minute, "-n", "carts", "-s", "carts", "--", "true")
	for _, want := range []string{
		"no Pod Identity association for service account carts/carts of cluster eks-workshop",
		"`podid trust-policy --cluster eks-workshop --namespace carts --service-account carts`",
		"podid's broker principal " + brokerPrincipal,
		"--role-arn arn:aws:iam::" + awsAccount + ":role/ROLE-NAME",
	} {
		if code == 0 || !strings.Contains(errOut, want) {
			t.Errorf("exec without an association: exit %d, stderr lacks %q:\n%s%s", code, want, out, errOut)
		}
	}

	// The role in AWS, with the trust policy podid prints, and the
	// association in podid.
	trust := d.trustPolicy(t, "--cluster", "eks-workshop", "--namespace", "carts", "--service-account", "carts")
	a.aws(t, a.root(), "iam", "create-role", "--role-name", "carts", "--assume-role-policy-document", writeFile(t, "t.json", trust))
	d.aws(t, d.root(), "eks", "create-pod-identity-association", "--cluster-name", "eks-workshop", "--namespace", "carts",
		"--service-account", "carts", "--role-arn", "arn:aws:iam::"+awsAccount+":role/carts")

	out, errOut, code = d.exec(t, env, time.Minute, "-n", "carts", "-s", "carts", "--env", "AWS_ENDPOINT_URL="+a.URL, "--",
		"sh", "-c", `aws sts get-caller-identity --query Arn --output text && echo "${AWS_ENDPOINT_URL}"`)
	arnRE := regexp.MustCompile(`^arn:aws:sts::` + awsAccount + `:assumed-role/carts/eks-eks-worksh-carts-[a-z0-9]+-[0-9a-f-]{36}\n` + regexp.QuoteMeta(a.URL) + `\n$`)
	if code != 0 || !arnRE.MatchString(out) {
		t.Fatalf("exec in broker mode: exit %d\nstdout: %q\nstderr: %s", code, out, errOut)
	}
	// Without --env, podid points the command at no endpoint: AWS's own.
	out, errOut, code = d.exec(t, env, time.Minute, "-n", "carts", "-s", "carts", "--", "sh", "-c", `echo "${AWS_ENDPOINT_URL-unset}"`)
	if code != 0 || out != "unset\n" {
		t.Errorf("AWS_ENDPOINT_URL in broker mode: exit %d, %q (stderr %s)", code, out, errOut)
	}
}
