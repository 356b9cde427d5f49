package e2e

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eks"
)

// eaExchangeProgram is a boto3 program: for each case it exchanges a pod
// token with EKS Auth (signed with the agent's key from the environment),
// then, with the returned credentials, calls sts:GetCallerIdentity and
// iam:GetRole on a list of roles, and prints what happened as JSON.
const eaExchangeProgram = `
import boto3, botocore, json
cases = json.loads(%s)
out = []
ea = boto3.client("eks-auth")
for c in cases:
    r = ea.assume_role_for_pod_identity(clusterName=c["cluster"], token=c["token"])
    cr = r["credentials"]
    s = boto3.session.Session(aws_access_key_id=cr["accessKeyId"], aws_secret_access_key=cr["secretAccessKey"],
                              aws_session_token=cr["sessionToken"], region_name="us-west-2")
    res = {"arn": r["assumedRoleUser"]["arn"], "assumeRoleId": r["assumedRoleUser"]["assumeRoleId"],
           "associationId": r["podIdentityAssociation"]["associationId"], "subject": r["subject"], "audience": r["audience"],
           "expiration": int(cr["expiration"].timestamp()), "caller": s.client("sts").get_caller_identity()["Arn"], "getRole": {}}
    iam = s.client("iam")
    for name in c["roles"]:
        try:
            iam.get_role(RoleName=name)
            res["getRole"][name] = "allowed"
        except botocore.exceptions.ClientError as e:
            res["getRole"][name] = e.response["Error"]["Code"]
    out.append(res)
print(json.dumps(out))
`

// eaCase is one exchange of eaExchangeProgram.
type eaCase struct {
	Cluster string   `json:"cluster"`
	Token   string   `json:"token"`
	Roles   []string `json:"roles"`
}

// eaResult is what eaExchangeProgram prints for a case.
type eaResult struct {
	ARN           string            `json:"arn"`
	AssumeRoleID  string            `json:"assumeRoleId"`
	AssociationID string            `json:"associationId"`
	Subject       map[string]string `json:"subject"`
	Audience      string            `json:"audience"`
	Expiration    int64             `json:"expiration"`
	Caller        string            `json:"caller"`
	GetRole       map[string]string `json:"getRole"`
}

func (s *server) eaBoto3(t *testing.T, agent creds, cases []eaCase) []eaResult {
	t.Helper()
	in, _ := json.Marshal(cases)
	quoted, _ := json.Marshal(string(in))
	out := s.python(t, agent, strings.Replace(eaExchangeProgram, "%s", string(quoted), 1))
	var res []eaResult
	if err := json.Unmarshal([]byte(out), &res); err != nil || len(res) != len(cases) {
		t.Fatalf("boto3 program output: %v\n%s", err, out)
	}
	return res
}

const eaUUID = `[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}`

// TestEKSAuthCLIAndBoto3 is the workshop's exchange with the real binary:
// a pod token minted by a podid-hosted cluster is exchanged by
// `aws eks-auth assume-role-for-pod-identity` and by boto3; the credentials
// are the role's (sts get-caller-identity prints its assumed-role ARN with
// an eks-… session) and carry the kubernetes-namespace session tag, which a
// policy with ${aws:PrincipalTag/kubernetes-namespace} turns into access to
// roles named after the pod's namespace only.
func TestEKSAuthCLIAndBoto3(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	f := newEAFixture(t, s)
	f.cluster(t, "eks-workshop")
	role := f.role(t, "eks-workshop-carts-dynamo", workshopTrust, eaGetRoleByNamespace)
	f.role(t, "carts-reader", eaTrustAccount)
	f.role(t, "orders-reader", eaTrustAccount)
	assoc := f.associate(t, &eks.CreatePodIdentityAssociationInput{ClusterName: aws.String("eks-workshop"), Namespace: aws.String("carts"),
		ServiceAccount: aws.String("carts"), RoleArn: aws.String(role)})
	agent := f.user(t, "pod-identity-agent", eaAllowEKSAuth)
	token := f.podToken(t, "eks-workshop", "carts", "carts", "carts-7c9d8b6d4-x2x8p", "ip-10-42-1-23.us-west-2.compute.internal")
	sessionRE := `eks-eks-worksh-carts-7c9d-` + eaUUID
	arnRE := regexp.MustCompile(`^arn:aws:sts::` + s.AccountID + `:assumed-role/eks-workshop-carts-dynamo/(` + sessionRE + `)$`)

	// The AWS CLI.
	before := time.Now()
	out := s.awsJSON(t, agent, "eks-auth", "assume-role-for-pod-identity", "--cluster-name", "eks-workshop", "--token", token)
	if str(out, "audience") != "pods.eks.amazonaws.com" || str(out, "subject", "namespace") != "carts" || str(out, "subject", "serviceAccount") != "carts" {
		t.Errorf("audience/subject: %v %v", out["audience"], out["subject"])
	}
	if str(out, "podIdentityAssociation", "associationArn") != aws.ToString(assoc.AssociationArn) || str(out, "podIdentityAssociation", "associationId") != aws.ToString(assoc.AssociationId) {
		t.Errorf("podIdentityAssociation = %v", out["podIdentityAssociation"])
	}
	m := arnRE.FindStringSubmatch(str(out, "assumedRoleUser", "arn"))
	if m == nil {
		t.Fatalf("assumedRoleUser.arn = %q", str(out, "assumedRoleUser", "arn"))
	}
	if !regexp.MustCompile(`^AROA[A-Z0-9]{17}:` + m[1] + `$`).MatchString(str(out, "assumedRoleUser", "assumeRoleId")) {
		t.Errorf("assumeRoleId = %q", str(out, "assumedRoleUser", "assumeRoleId"))
	}
	// The CLI (v1) prints the wire's epoch-seconds expiration as a number.
	expNum, ok := out["credentials"].(map[string]any)["expiration"].(float64)
	if !ok {
		t.Fatalf("expiration = %#v, want a number", out["credentials"].(map[string]any)["expiration"])
	}
	if exp := time.Unix(int64(expNum), 0); exp.Before(before.Add(6*time.Hour-time.Minute)) || exp.After(time.Now().Add(6*time.Hour+time.Minute)) {
		t.Errorf("expiration %s is not six hours from now", exp)
	}
	pod := podCredsEA(out)
	if !strings.HasPrefix(pod.Key, "ASIA") {
		t.Errorf("accessKeyId = %q", pod.Key)
	}
	id := s.awsJSON(t, pod, "sts", "get-caller-identity")
	if str(id, "Arn") != m[0] || str(id, "Account") != s.AccountID {
		t.Errorf("get-caller-identity = %v, want Arn %s", id, m[0])
	}
	if got := s.awsJSON(t, pod, "iam", "get-role", "--role-name", "carts-reader"); str(got, "Role", "RoleName") != "carts-reader" {
		t.Errorf("get-role carts-reader = %v", got)
	}
	wantCode(t, s.awsErr(t, pod, "iam", "get-role", "--role-name", "orders-reader"), "AccessDenied")

	// boto3.
	res := s.eaBoto3(t, agent, []eaCase{{Cluster: "eks-workshop", Token: token, Roles: []string{"carts-reader", "orders-reader"}}})[0]
	if !arnRE.MatchString(res.ARN) || res.Caller != res.ARN || res.ARN == m[0] {
		t.Errorf("boto3: arn %q caller %q (first exchange %q)", res.ARN, res.Caller, m[0])
	}
	if res.AssociationID != aws.ToString(assoc.AssociationId) || res.Audience != "pods.eks.amazonaws.com" || res.Subject["namespace"] != "carts" {
		t.Errorf("boto3 result %+v", res)
	}
	if res.GetRole["carts-reader"] != "allowed" || res.GetRole["orders-reader"] != "AccessDenied" {
		t.Errorf("boto3 get_role: %v", res.GetRole)
	}
}

// TestEKSAuthAssociationOptions shows targetRoleArn, disableSessionTags
// and policy end to end with boto3, and a refusal with the CLI.
func TestEKSAuthAssociationOptions(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	f := newEAFixture(t, s)
	f.cluster(t, "prod")
	for _, r := range []string{"carts-reader", "orders-reader", "target-reader", "notags-reader"} {
		f.role(t, r, eaTrustAccount)
	}
	agent := f.user(t, "pod-identity-agent", eaAllowEKSAuth)
	acct := s.AccountID

	// targetRoleArn: the first role may assume the target; the target
	// trusts it with the association's externalId and the pod's
	// (transitive) namespace tag, and reads roles by namespace.
	first := f.role(t, "first-hop", workshopTrust, eaAssumeAny)
	target := f.role(t, "target", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"`+first+`"},"Action":["sts:AssumeRole","sts:TagSession"]}]}`, eaGetRoleByNamespace)
	ta := f.associate(t, &eks.CreatePodIdentityAssociationInput{ClusterName: aws.String("prod"), Namespace: aws.String("target"),
		ServiceAccount: aws.String("app"), RoleArn: aws.String(first), TargetRoleArn: aws.String(target)})
	extID := aws.ToString(ta.ExternalId)
	if want := s.Region + "/" + acct + "/prod/target/app"; extID != want {
		t.Fatalf("externalId %q, want AWS's documented %q", extID, want)
	}
	trust := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"` + first + `"},"Action":["sts:AssumeRole","sts:TagSession"],` +
		`"Condition":{"StringEquals":{"sts:ExternalId":"` + extID + `","aws:RequestTag/kubernetes-namespace":"target","aws:RequestTag/kubernetes-service-account":"app"}}}]}`
	s.aws(t, s.root(), "iam", "update-assume-role-policy", "--role-name", "target", "--policy-document", writeFile(t, "target-trust.json", trust))

	// disableSessionTags: the role's trust lacks sts:TagSession, which is
	// fine without tags; its namespace-keyed policy then matches nothing.
	f.associate(t, &eks.CreatePodIdentityAssociationInput{ClusterName: aws.String("prod"), Namespace: aws.String("notags"),
		ServiceAccount: aws.String("app"), RoleArn: aws.String(f.role(t, "untagged", eaTrustNoTag, eaGetRoleByNamespace)), DisableSessionTags: aws.Bool(true)})

	// policy: a session policy narrows a role that may read every role.
	f.associate(t, &eks.CreatePodIdentityAssociationInput{ClusterName: aws.String("prod"), Namespace: aws.String("scoped"),
		ServiceAccount: aws.String("app"), RoleArn: aws.String(f.role(t, "broad", eaTrustNoTag, eaGetAnyRole)), DisableSessionTags: aws.Bool(true),
		Policy: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iam:GetRole","Resource":"arn:aws:iam::` + acct + `:role/carts-*"}]}`)})

	all := []string{"carts-reader", "orders-reader", "target-reader", "notags-reader"}
	before := time.Now()
	res := s.eaBoto3(t, agent, []eaCase{
		{Cluster: "prod", Token: f.podToken(t, "prod", "target", "app", "app-5d8f7-abcde", "node-1"), Roles: all},
		{Cluster: "prod", Token: f.podToken(t, "prod", "notags", "app", "app-5d8f7-fghij", "node-1"), Roles: all},
		{Cluster: "prod", Token: f.podToken(t, "prod", "scoped", "app", "app-5d8f7-klmno", "node-1"), Roles: all},
	})
	for i, c := range []struct {
		role     string
		lifetime time.Duration
		allowed  []string
	}{
		{"target", time.Hour, []string{"target-reader"}},
		{"untagged", 6 * time.Hour, nil},
		{"broad", 6 * time.Hour, []string{"carts-reader"}},
	} {
		r := res[i]
		re := regexp.MustCompile(`^arn:aws:sts::` + acct + `:assumed-role/` + c.role + `/eks-prod-app-5d8f7--` + eaUUID + `$`)
		if !re.MatchString(r.ARN) || r.Caller != r.ARN {
			t.Errorf("%s: arn %q caller %q", c.role, r.ARN, r.Caller)
		}
		exp := time.Unix(r.Expiration, 0)
		if exp.Before(before.Add(c.lifetime-time.Minute)) || exp.After(time.Now().Add(c.lifetime+time.Minute)) {
			t.Errorf("%s: expiration %s, want about %s from now", c.role, exp, c.lifetime)
		}
		for _, name := range all {
			want := "AccessDenied"
			for _, a := range c.allowed {
				if a == name {
					want = "allowed"
				}
			}
			if r.GetRole[name] != want {
				t.Errorf("%s: get_role %s = %s, want %s", c.role, name, r.GetRole[name], want)
			}
		}
	}

	// The target refuses another externalId: AccessDeniedException (HTTP
	// 400), as the CLI shows it.
	s.aws(t, s.root(), "iam", "update-assume-role-policy", "--role-name", "target", "--policy-document",
		writeFile(t, "target-trust2.json", strings.Replace(trust, extID, "not-"+extID, 1)))
	errOut := s.awsErr(t, agent, "eks-auth", "assume-role-for-pod-identity", "--cluster-name", "prod", "--token", f.podToken(t, "prod", "target", "app", "app-1", ""))
	wantCode(t, errOut, "AccessDeniedException")
	if !strings.Contains(errOut, "is not authorized to perform: sts:AssumeRole on resource: "+target) {
		t.Errorf("refusal message: %s", errOut)
	}
}

// podCredsEA are the credentials of an EKS Auth answer.
func podCredsEA(out map[string]any) creds {
	return creds{Key: str(out, "credentials", "accessKeyId"), Secret: str(out, "credentials", "secretAccessKey"), Token: str(out, "credentials", "sessionToken")}
}
