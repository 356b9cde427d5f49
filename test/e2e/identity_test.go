package e2e

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The workshop's documents (spec §11), byte for byte as the workshop's
// Terraform stored them.
const (
	workshopPolicy = `{"Statement":[{"Action":"dynamodb:*","Effect":"Allow","Resource":["arn:aws:dynamodb:us-west-2:123456789012:table/eks-workshop-carts","arn:aws:dynamodb:us-west-2:123456789012:table/eks-workshop-carts/index/*"],"Sid":"AllAPIActionsOnCart"}],"Version":"2012-10-17"}`
	workshopTrust  = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"pods.eks.amazonaws.com"},"Action":["sts:AssumeRole","sts:TagSession"]}]}`
)

func writeFile(t *testing.T, name, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return "file://" + p
}

// compact re-serialises the CLI's pretty-printed JSON without whitespace,
// keeping key order, so it can be compared with the stored text.
func compact(t *testing.T, s string) string {
	t.Helper()
	var b bytes.Buffer
	if err := json.Compact(&b, []byte(s)); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, s)
	}
	return b.String()
}

// TestWorkshopDocumentsRoundTrip is the workshop's steps 4 and 5: the CLI
// prints exactly the documents that were stored.
func TestWorkshopDocumentsRoundTrip(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	root := s.root()
	s.aws(t, root, "iam", "create-policy", "--policy-name", "eks-workshop-carts-dynamo", "--policy-document", writeFile(t, "p.json", workshopPolicy))
	s.aws(t, root, "iam", "create-role", "--role-name", "eks-workshop-carts-dynamo", "--assume-role-policy-document", writeFile(t, "t.json", workshopTrust))

	doc := s.aws(t, root, "iam", "get-policy-version", "--version-id", "v1",
		"--policy-arn", "arn:aws:iam::"+s.AccountID+":policy/eks-workshop-carts-dynamo", "--query", "PolicyVersion.Document")
	if got := compact(t, doc); got != workshopPolicy {
		t.Errorf("get-policy-version printed\n%s\nwant\n%s", got, workshopPolicy)
	}
	trust := s.aws(t, root, "iam", "get-role", "--role-name", "eks-workshop-carts-dynamo", "--query", "Role.AssumeRolePolicyDocument")
	if got := compact(t, trust); got != workshopTrust {
		t.Errorf("get-role printed\n%s\nwant\n%s", got, workshopTrust)
	}
	role := s.awsJSON(t, root, "iam", "get-role", "--role-name", "eks-workshop-carts-dynamo")
	if id := str(role, "Role", "RoleId"); !strings.HasPrefix(id, "AROA") || len(id) != 21 {
		t.Errorf("RoleId = %q, want AROA + 17", id)
	}
	if arn := str(role, "Role", "Arn"); arn != "arn:aws:iam::"+s.AccountID+":role/eks-workshop-carts-dynamo" {
		t.Errorf("Arn = %q", arn)
	}
	// Whitespace and key order survive too.
	pretty := "{\n  \"Version\": \"2012-10-17\",\n  \"Statement\": [ { \"Effect\": \"Allow\", \"Action\": \"s3:GetObject\", \"Resource\": \"*\" } ]\n}\n"
	s.aws(t, root, "iam", "create-policy", "--policy-name", "pretty", "--policy-document", writeFile(t, "pp.json", pretty))
	out := s.python(t, root, `
import boto3, urllib.parse
iam = boto3.client("iam")
v = iam.get_policy_version(PolicyArn="arn:aws:iam::`+s.AccountID+`:policy/pretty", VersionId="v1")
import json
print(json.dumps(v["PolicyVersion"]["Document"]))
`)
	var back map[string]any
	json.Unmarshal([]byte(out), &back)
	if back["Version"] != "2012-10-17" {
		t.Errorf("boto3 did not decode the URL-encoded document into an object: %s", out)
	}
}

// setupAssumer creates user alice with an access key, a role that trusts
// her, and an identity policy that lets her assume it.
func setupAssumer(t *testing.T, s *server) creds {
	t.Helper()
	root := s.root()
	s.aws(t, root, "iam", "create-user", "--user-name", "alice")
	key := s.awsJSON(t, root, "iam", "create-access-key", "--user-name", "alice")
	alice := creds{Key: str(key, "AccessKey", "AccessKeyId"), Secret: str(key, "AccessKey", "SecretAccessKey")}
	if !strings.HasPrefix(alice.Key, "AKIA") || len(alice.Secret) != 40 {
		t.Fatalf("access key %q / secret length %d", alice.Key, len(alice.Secret))
	}
	trust := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + s.AccountID + `:user/alice"},"Action":["sts:AssumeRole","sts:TagSession"]}]}`
	s.aws(t, root, "iam", "create-role", "--role-name", "app", "--assume-role-policy-document", writeFile(t, "trust.json", trust))
	s.aws(t, root, "iam", "put-user-policy", "--user-name", "alice", "--policy-name", "assume",
		"--policy-document", writeFile(t, "assume.json", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["sts:AssumeRole","sts:TagSession"],"Resource":"arn:aws:iam::`+s.AccountID+`:role/app"}]}`))
	return alice
}

// TestAssumeRoleThenCallerIdentity: `aws sts assume-role` followed by `aws
// sts get-caller-identity` with the returned credentials, with the CLI and
// with boto3.
func TestAssumeRoleThenCallerIdentity(t *testing.T) {
	t.Parallel()
	s := startServer(t, "--log-level", "debug")
	alice := setupAssumer(t, s)
	me := s.awsJSON(t, alice, "sts", "get-caller-identity")
	if got := str(me, "Arn"); got != "arn:aws:iam::"+s.AccountID+":user/alice" {
		t.Errorf("alice's ARN = %q", got)
	}
	out := s.awsJSON(t, alice, "sts", "assume-role", "--role-arn", "arn:aws:iam::"+s.AccountID+":role/app", "--role-session-name", "cli-session")
	session := creds{Key: str(out, "Credentials", "AccessKeyId"), Secret: str(out, "Credentials", "SecretAccessKey"), Token: str(out, "Credentials", "SessionToken")}
	if !strings.HasPrefix(session.Key, "ASIA") || session.Token == "" {
		t.Fatalf("assume-role returned %+v", out["Credentials"])
	}
	wantARN := "arn:aws:sts::" + s.AccountID + ":assumed-role/app/cli-session"
	if got := str(out, "AssumedRoleUser", "Arn"); got != wantARN {
		t.Errorf("AssumedRoleUser.Arn = %q, want %q", got, wantARN)
	}
	who := s.awsJSON(t, session, "sts", "get-caller-identity")
	if got := str(who, "Arn"); got != wantARN {
		t.Errorf("get-caller-identity Arn = %q, want %q", got, wantARN)
	}
	if got := str(who, "UserId"); !strings.HasPrefix(got, "AROA") || !strings.HasSuffix(got, ":cli-session") {
		t.Errorf("UserId = %q, want AROA…:cli-session", got)
	}
	if got := str(who, "Account"); got != s.AccountID {
		t.Errorf("Account = %q", got)
	}

	py := s.python(t, alice, `
import boto3
sts = boto3.client("sts")
c = sts.assume_role(RoleArn="arn:aws:iam::`+s.AccountID+`:role/app", RoleSessionName="boto3-session")["Credentials"]
s2 = boto3.client("sts", aws_access_key_id=c["AccessKeyId"], aws_secret_access_key=c["SecretAccessKey"], aws_session_token=c["SessionToken"])
i = s2.get_caller_identity()
print(i["Arn"]); print(i["UserId"])
`)
	lines := strings.Split(strings.TrimSpace(py), "\n")
	if len(lines) != 2 || lines[0] != "arn:aws:sts::"+s.AccountID+":assumed-role/app/boto3-session" || !strings.HasPrefix(lines[1], "AROA") || !strings.HasSuffix(lines[1], ":boto3-session") {
		t.Errorf("boto3 printed %q", py)
	}

	// A refused call, so that failures are logged too.
	wantCode(t, s.awsErr(t, creds{Key: alice.Key, Secret: "wrong" + alice.Secret}, "sts", "get-caller-identity"), "SignatureDoesNotMatch")

	// The edge counted the calls, by service, action and status.
	resp, err := http.Get(s.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	m, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`podid_api_requests_total{action="AssumeRole",code="200",service="sts"} 2`,
		`podid_api_requests_total{action="GetCallerIdentity",code="403",service="sts"} 1`, `podid_api_request_duration_seconds_count{service="iam"}`} {
		if !strings.Contains(string(m), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}

	// Secrets never reach the log, even at debug level: not the root's or
	// alice's secret key, not a session's secret or token.
	logs := s.logs.String()
	if !strings.Contains(logs, "level=DEBUG") {
		t.Fatalf("the server logged nothing at debug level:\n%s", logs)
	}
	for what, secret := range map[string]string{"root secret": s.RootSec, "alice's secret": alice.Secret, "session secret": session.Secret, "session token": session.Token} {
		if strings.Contains(logs, secret) {
			t.Errorf("the server log holds the %s", what)
		}
	}
}

// TestAuthenticationFailures: each bad credential gets AWS's exact code.
func TestAuthenticationFailures(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	alice := setupAssumer(t, s)
	out := s.awsJSON(t, alice, "sts", "assume-role", "--role-arn", "arn:aws:iam::"+s.AccountID+":role/app", "--role-session-name", "x1")
	session := creds{Key: str(out, "Credentials", "AccessKeyId"), Secret: str(out, "Credentials", "SecretAccessKey"), Token: str(out, "Credentials", "SessionToken")}

	wrongSecret := alice
	wrongSecret.Secret = strings.Repeat("x", 40)
	wantCode(t, s.awsErr(t, wrongSecret, "sts", "get-caller-identity"), "SignatureDoesNotMatch")

	unknown := creds{Key: "AKIAAAAAAAAAAAAAAAAA", Secret: alice.Secret}
	wantCode(t, s.awsErr(t, unknown, "sts", "get-caller-identity"), "InvalidClientTokenId")

	tampered := session
	b := []byte(tampered.Token)
	b[len(b)/2] ^= 0x01
	if b[len(b)/2] == '=' || b[len(b)/2] == '+' {
		b[len(b)/2] = 'A'
	}
	tampered.Token = string(b)
	wantCode(t, s.awsErr(t, tampered, "sts", "get-caller-identity"), "InvalidClientTokenId")

	truncated := session
	truncated.Token = session.Token[:len(session.Token)/2]
	wantCode(t, s.awsErr(t, truncated, "sts", "get-caller-identity"), "InvalidClientTokenId")

	noToken := session
	noToken.Token = ""
	wantCode(t, s.awsErr(t, noToken, "sts", "get-caller-identity"), "InvalidClientTokenId")

	// IAM over the same port, with the same rules.
	wantCode(t, s.awsErr(t, wrongSecret, "iam", "list-roles"), "SignatureDoesNotMatch")
}

// TestAuthorizationFailures: trust and identity policies decide, with AWS's
// codes and sentences.
func TestAuthorizationFailures(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	alice := setupAssumer(t, s)
	root := s.root()
	s.aws(t, root, "iam", "create-user", "--user-name", "bob")
	key := s.awsJSON(t, root, "iam", "create-access-key", "--user-name", "bob")
	bob := creds{Key: str(key, "AccessKey", "AccessKeyId"), Secret: str(key, "AccessKey", "SecretAccessKey")}
	s.aws(t, root, "iam", "put-user-policy", "--user-name", "bob", "--policy-name", "assume-any",
		"--policy-document", writeFile(t, "a.json", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sts:AssumeRole","Resource":"*"}]}`))

	// Bob may assume any role by his identity policy, but app's trust
	// policy names only alice.
	msg := s.awsErr(t, bob, "sts", "assume-role", "--role-arn", "arn:aws:iam::"+s.AccountID+":role/app", "--role-session-name", "bob-session")
	wantCode(t, msg, "AccessDenied")
	if !strings.Contains(msg, "User: arn:aws:iam::"+s.AccountID+":user/bob is not authorized to perform: sts:AssumeRole on resource: arn:aws:iam::"+s.AccountID+":role/app") {
		t.Errorf("denied trust message: %s", msg)
	}
	// Alice has no identity policy for IAM.
	msg = s.awsErr(t, alice, "iam", "create-role", "--role-name", "x", "--assume-role-policy-document", writeFile(t, "t.json", workshopTrust))
	wantCode(t, msg, "AccessDenied")
	want := "User: arn:aws:iam::" + s.AccountID + ":user/alice is not authorized to perform: iam:CreateRole on resource: arn:aws:iam::" + s.AccountID + ":role/x because no identity-based policy allows the iam:CreateRole action"
	if !strings.Contains(msg, want) {
		t.Errorf("denied identity message:\n%s\nwant it to contain\n%s", msg, want)
	}
	// An explicit deny beats an allow: STS refuses in its own wording, IAM
	// names the deny.
	s.aws(t, root, "iam", "put-user-policy", "--user-name", "alice", "--policy-name", "deny",
		"--policy-document", writeFile(t, "d.json", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iam:*","Resource":"*"},{"Effect":"Deny","Action":["sts:AssumeRole","iam:CreateRole"],"Resource":"*"}]}`))
	msg = s.awsErr(t, alice, "sts", "assume-role", "--role-arn", "arn:aws:iam::"+s.AccountID+":role/app", "--role-session-name", "alice-session")
	wantCode(t, msg, "AccessDenied")
	msg = s.awsErr(t, alice, "iam", "create-role", "--role-name", "x", "--assume-role-policy-document", writeFile(t, "t2.json", workshopTrust))
	wantCode(t, msg, "AccessDenied")
	if !strings.Contains(msg, "iam:CreateRole on resource: arn:aws:iam::"+s.AccountID+":role/x with an explicit deny in an identity-based policy") {
		t.Errorf("explicit deny message: %s", msg)
	}
	// The allow still works for other actions.
	s.aws(t, alice, "iam", "list-roles")
}
