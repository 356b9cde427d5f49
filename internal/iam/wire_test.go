package iam

import (
	"errors"
	"flag"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/podid/podid/internal/awsproto"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// query runs one action through HandleQuery and renders the response the
// way the server edge does.
func (e *testEnv) query(t *testing.T, action string, params url.Values) (string, error) {
	t.Helper()
	if params == nil {
		params = url.Values{}
	}
	params.Set("Action", action)
	params.Set("Version", APIVersion)
	res, err := e.svc.HandleQuery(e.ctx, action, awsproto.Params{Values: params})
	if err != nil {
		return "", err
	}
	rec := httptest.NewRecorder()
	awsproto.WriteQueryResponse(rec, action, Namespace, "11111111-2222-4333-8444-555555555555", res)
	return rec.Body.String(), nil
}

// golden compares got with testdata/name, after replacing the random IDs.
func golden(t *testing.T, name, got string, ids map[string]string) {
	t.Helper()
	for id, placeholder := range ids {
		got = strings.ReplaceAll(got, id, placeholder)
	}
	path := filepath.Join("testdata", name)
	if *update {
		must(t, os.WriteFile(path, []byte(got), 0o644))
	}
	want, err := os.ReadFile(path)
	must(t, err)
	if got != string(want) {
		t.Fatalf("%s differs (run with -update to accept):\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}

func TestGoldenResponses(t *testing.T) {
	env := newTestEnv(t)
	// The seed workflow's policy and role, with the document text kept as
	// submitted (key order and spacing).
	policyDoc := `{"Statement":[{"Action":"dynamodb:*","Effect":"Allow","Resource":["arn:aws:dynamodb:us-west-2:123456789012:table/eks-workshop-carts","arn:aws:dynamodb:us-west-2:123456789012:table/eks-workshop-carts/index/*"],"Sid":"AllAPIActionsOnCart"}],"Version":"2012-10-17"}`
	pol, err := env.query(t, "CreatePolicy", url.Values{"PolicyName": {"eks-workshop-carts-dynamo"}, "PolicyDocument": {policyDoc}})
	must(t, err)
	policyID := between(pol, "<PolicyId>", "</PolicyId>")
	golden(t, "CreatePolicy.xml", pol, map[string]string{policyID: "ANPAPOLICYPOLICYID01"})

	bnd, err := env.query(t, "CreatePolicy", url.Values{"PolicyName": {"boundary"}, "Path": {"/b/"}, "PolicyDocument": {policyDoc}})
	must(t, err)
	boundaryID := between(bnd, "<PolicyId>", "</PolicyId>")

	trust := "{\n  \"Version\": \"2012-10-17\",\n  \"Statement\": [{\"Effect\": \"Allow\", \"Principal\": {\"Service\": \"pods.eks.amazonaws.com\"}, \"Action\": [\"sts:AssumeRole\", \"sts:TagSession\"]}]\n}"
	role, err := env.query(t, "CreateRole", url.Values{
		"RoleName": {"eks-workshop-carts-dynamo"}, "Path": {"/eks/"}, "AssumeRolePolicyDocument": {trust},
		"Description": {"Carts <service> & co"}, "MaxSessionDuration": {"7200"},
		"PermissionsBoundary": {"arn:aws:iam::123456789012:policy/b/boundary"},
		"Tags.member.1.Key":   {"team"}, "Tags.member.1.Value": {"shop"},
	})
	must(t, err)
	roleID := between(role, "<RoleId>", "</RoleId>")
	ids := map[string]string{roleID: "AROAROLEROLEROLEID01", policyID: "ANPAPOLICYPOLICYID01", boundaryID: "ANPABOUNDARYBOUNDARY"}
	golden(t, "CreateRole.xml", role, ids)

	_, err = env.query(t, "CreateRole", url.Values{"RoleName": {"zeta"}, "AssumeRolePolicyDocument": {trustDoc}})
	must(t, err)

	env.advance(3600e9)
	getRole, err := env.query(t, "GetRole", url.Values{"RoleName": {"eks-workshop-carts-dynamo"}})
	must(t, err)
	golden(t, "GetRole.xml", getRole, ids)

	pv, err := env.query(t, "GetPolicyVersion", url.Values{"PolicyArn": {"arn:aws:iam::123456789012:policy/eks-workshop-carts-dynamo"}, "VersionId": {"v1"}})
	must(t, err)
	golden(t, "GetPolicyVersion.xml", pv, ids)

	_, err = env.query(t, "PutRolePolicy", url.Values{"RoleName": {"eks-workshop-carts-dynamo"}, "PolicyName": {"inline"}, "PolicyDocument": {policyDoc}})
	must(t, err)
	rp, err := env.query(t, "GetRolePolicy", url.Values{"RoleName": {"eks-workshop-carts-dynamo"}, "PolicyName": {"inline"}})
	must(t, err)
	golden(t, "GetRolePolicy.xml", rp, ids)

	lr, err := env.query(t, "ListRoles", url.Values{"MaxItems": {"1"}})
	must(t, err)
	golden(t, "ListRoles.xml", lr, ids)

	del, err := env.query(t, "DeleteRolePolicy", url.Values{"RoleName": {"eks-workshop-carts-dynamo"}, "PolicyName": {"inline"}})
	must(t, err)
	golden(t, "DeleteRolePolicy.xml", del, ids)
}

// between returns the text between the first from and the next to.
func between(s, from, to string) string {
	i := strings.Index(s, from)
	if i < 0 {
		return ""
	}
	s = s[i+len(from):]
	return s[:strings.Index(s, to)]
}

func TestActions(t *testing.T) {
	env := newTestEnv(t)
	got := env.svc.Actions()
	if len(got) != 63 || got[0] != "AttachRolePolicy" || got[len(got)-1] != "UpdateRole" {
		t.Fatalf("Actions() = %d %v", len(got), got)
	}
	for _, a := range got {
		if _, err := env.svc.HandleQuery(env.ctx, a, awsproto.Params{Values: url.Values{}}); err != nil {
			var ae *awsproto.Error
			if !errors.As(err, &ae) || ae.Code == "InvalidAction" || ae.Status >= 500 {
				t.Errorf("%s with no parameters: %v", a, err)
			}
		}
	}
}

func TestHandleQueryErrors(t *testing.T) {
	env := newTestEnv(t)
	tests := []struct {
		name   string
		action string
		params url.Values
		status int
		code   string
		msg    string
	}{
		{"unknown action", "CreateGroup", url.Values{"Version": {APIVersion}}, 400, "InvalidAction", "Could not find operation CreateGroup for version 2010-05-08"},
		{"wrong version", "GetRole", url.Values{"Version": {"2011-06-15"}, "RoleName": {"r"}}, 400, "InvalidAction", "Could not find operation GetRole for version 2011-06-15"},
		{"max items not a number", "ListRoles", url.Values{"MaxItems": {"ten"}}, 400, "ValidationError", "Value 'ten' at 'maxItems' failed to satisfy constraint: Member must be a number"},
		{"tag without value", "CreateRole", url.Values{"RoleName": {"r"}, "AssumeRolePolicyDocument": {trustDoc}, "Tags.member.1.Key": {"k"}},
			400, "ValidationError", "1 validation error detected: Value null at 'tags.1.member.value' failed to satisfy constraint: Member must not be null"},
		{"set as default not a boolean", "CreatePolicyVersion", url.Values{"PolicyArn": {"arn:aws:iam::123456789012:policy/p"}, "PolicyDocument": {permDoc}, "SetAsDefault": {"yes"}},
			400, "ValidationError", "Value 'yes' at 'setAsDefault' failed to satisfy constraint: Member must be a boolean"},
		{"missing role", "GetRole", url.Values{"RoleName": {"ghost"}}, 404, "NoSuchEntity", "The role with name ghost cannot be found."},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			params := tc.params
			params.Set("Action", tc.action)
			_, err := env.svc.HandleQuery(env.ctx, tc.action, awsproto.Params{Values: params})
			wantErr(t, err, tc.status, tc.code, tc.msg)
		})
	}
}

// FuzzHandleQuery feeds arbitrary awsQuery bodies to every action: the
// service must answer with a result or an *awsproto.Error, never panic,
// and never a server fault for client input.
func FuzzHandleQuery(f *testing.F) {
	seeds := []string{
		"Action=CreateRole&RoleName=r&AssumeRolePolicyDocument=%7B%7D&Tags.member.1.Key=a&Tags.member.1.Value=b",
		"Action=GetRole&RoleName=r",
		"Action=ListRoles&MaxItems=1&Marker=YQ",
		"Action=ListRoleTags&RoleName=r&Marker=%23%23",
		"Action=CreatePolicy&PolicyName=p&PolicyDocument=%7B%7D&Path=%2Fa%2F",
		"Action=CreatePolicyVersion&PolicyArn=arn%3Aaws%3Aiam%3A%3A123456789012%3Apolicy%2Fp&PolicyDocument=%7B%7D&SetAsDefault=true",
		"Action=ListPolicies&Scope=Local&OnlyAttached=true&PathPrefix=%2F",
		"Action=GetPolicyVersion&PolicyArn=arn%3Aaws%3Aiam%3A%3A123456789012%3Apolicy%2Fp&VersionId=v1",
		"Action=AttachRolePolicy&RoleName=r&PolicyArn=arn%3Aaws%3Aiam%3A%3A123456789012%3Apolicy%2Fp",
		"Action=PutRolePolicy&RoleName=r&PolicyName=i&PolicyDocument=%7B%7D",
		"Action=CreateUser&UserName=u&Path=%2F",
		"Action=CreateAccessKey&UserName=u",
		"Action=CreateOpenIDConnectProvider&Url=https%3A%2F%2Fexample.com%2Fid&ClientIDList.member.1=sts.amazonaws.com",
		"Action=UntagRole&RoleName=r&TagKeys.member.1=a",
		"Action=ListPolicyVersions&PolicyArn=arn%3Aaws%3Aiam%3A%3A123456789012%3Apolicy%2Fp&Marker=IzE",
		"Action=GetRole&RoleName=%FF%FE",
		"Action=SimulateCustomPolicy&PolicyInputList.member.1=%7B%22Statement%22%3A%7B%22Effect%22%3A%22Allow%22%2C%22Action%22%3A%22*%22%2C%22Resource%22%3A%22*%22%7D%7D&ActionNames.member.1=s3%3AGetObject&ResourceArns.member.1=arn%3Aaws%3As3%3A%3A%3Ab%2Fk&ContextEntries.member.1.ContextKeyName=aws%3ASourceIp&ContextEntries.member.1.ContextKeyValues.member.1=10.0.0.1&ContextEntries.member.1.ContextKeyType=ip&MaxItems=1",
		"Action=SimulateCustomPolicy&PolicyInputList.member.1=%7B%7D&ActionNames.member.1=sts%3AAssumeRole&ResourcePolicy=%7B%7D&CallerArn=pods.eks.amazonaws.com&Marker=IzE",
		"Action=SimulatePrincipalPolicy&PolicySourceArn=arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2Fr&ActionNames.member.1=s3%3AGetObject&CallerArn=arn%3Aaws%3Asts%3A%3A123456789012%3Aassumed-role%2Fr%2Fs",
		"Action=GetContextKeysForCustomPolicy&PolicyInputList.member.1=%7B%7D",
		"Action=GetContextKeysForPrincipalPolicy&PolicySourceArn=arn%3Aaws%3Aiam%3A%3A123456789012%3Auser%2Fu",
	}
	for _, s := range seeds {
		f.Add(s)
	}
	env := newTestEnv(f)
	f.Fuzz(func(t *testing.T, body string) {
		p, err := awsproto.ParseParams(body)
		if err != nil {
			return
		}
		res, err := env.svc.HandleQuery(env.ctx, p.Get("Action"), p)
		if err != nil {
			var ae *awsproto.Error
			if !errors.As(err, &ae) {
				t.Fatalf("error %T %v is not an *awsproto.Error", err, err)
			}
			if ae.Status >= 500 {
				t.Fatalf("server fault for client input %q: %v", body, err)
			}
			return
		}
		rec := httptest.NewRecorder()
		awsproto.WriteQueryResponse(rec, p.Get("Action"), Namespace, "r", res)
	})
}
