package iam

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsiam "github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/iam/types"

	"github.com/podid/podid/internal/awsproto"
	"github.com/podid/podid/internal/store"
)

const simDoc = `{
  "Version": "2012-10-17",
  "Statement": [
    {
      "Sid": "Read",
      "Effect": "Allow",
      "Action": ["s3:GetObject", "s3:PutObject"],
      "Resource": "arn:aws:s3:::shared/*",
      "Condition": {"StringEquals": {"aws:PrincipalTag/team": "carts"}}
    },
    {"Effect": "Deny", "Action": "s3:PutObject", "Resource": "*"}
  ]
}`

const simBoundary = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}`

// TestSimulateCustomPolicySDK runs SimulateCustomPolicy through the Go SDK
// v2: decisions, the deciding statements with their positions, missing
// context keys, the boundary's detail, per-resource results, pagination.
func TestSimulateCustomPolicySDK(t *testing.T) {
	env := newTestEnv(t)
	c := sdkClient(t, env)
	ctx := context.Background()
	in := &awsiam.SimulateCustomPolicyInput{
		PolicyInputList:                    []string{simDoc},
		PermissionsBoundaryPolicyInputList: []string{simBoundary},
		ActionNames:                        []string{"s3:GetObject", "s3:PutObject", "iam:CreateRole"},
		ResourceArns:                       []string{"arn:aws:s3:::shared/a.txt"},
		CallerArn:                          aws.String("arn:aws:iam::123456789012:user/alice"),
		ContextEntries: []types.ContextEntry{{
			ContextKeyName: aws.String("aws:PrincipalTag/team"), ContextKeyType: types.ContextKeyTypeEnumString, ContextKeyValues: []string{"carts"},
		}},
	}
	out, err := c.SimulateCustomPolicy(ctx, in)
	must(t, err)
	if got := env.authz.last(); got.Action != "iam:SimulateCustomPolicy" || got.Resource != "*" {
		t.Errorf("authorized %s on %s", got.Action, got.Resource)
	}
	if len(out.EvaluationResults) != 3 || out.IsTruncated {
		t.Fatalf("results = %d, truncated %v", len(out.EvaluationResults), out.IsTruncated)
	}
	get, put, create := out.EvaluationResults[0], out.EvaluationResults[1], out.EvaluationResults[2]
	if aws.ToString(get.EvalActionName) != "s3:GetObject" || aws.ToString(get.EvalResourceName) != "arn:aws:s3:::shared/a.txt" || get.EvalDecision != types.PolicyEvaluationDecisionTypeAllowed {
		t.Errorf("GetObject: %s %s %s", aws.ToString(get.EvalActionName), aws.ToString(get.EvalResourceName), get.EvalDecision)
	}
	wantStmt := func(name string, got []types.Statement, id string, sl, sc, el, ec int32) {
		t.Helper()
		if len(got) != 1 {
			t.Fatalf("%s: %d matched statements, want 1", name, len(got))
		}
		s := got[0]
		if aws.ToString(s.SourcePolicyId) != id || s.SourcePolicyType != types.PolicySourceTypeNone ||
			s.StartPosition.Line != sl || s.StartPosition.Column != sc ||
			s.EndPosition.Line != el || s.EndPosition.Column != ec {
			t.Errorf("%s: statement %s %s %d:%d-%d:%d", name, aws.ToString(s.SourcePolicyId), s.SourcePolicyType,
				s.StartPosition.Line, s.StartPosition.Column, s.EndPosition.Line, s.EndPosition.Column)
		}
	}
	wantStmt("GetObject", get.MatchedStatements, "PolicyInputList.1", 4, 5, 10, 5)
	if get.PermissionsBoundaryDecisionDetail == nil || !get.PermissionsBoundaryDecisionDetail.AllowedByPermissionsBoundary {
		t.Errorf("GetObject boundary detail = %+v", get.PermissionsBoundaryDecisionDetail)
	}
	if len(get.ResourceSpecificResults) != 1 || aws.ToString(get.ResourceSpecificResults[0].EvalResourceName) != "arn:aws:s3:::shared/a.txt" ||
		get.ResourceSpecificResults[0].EvalResourceDecision != types.PolicyEvaluationDecisionTypeAllowed {
		t.Errorf("GetObject resource-specific = %+v", get.ResourceSpecificResults)
	}
	if put.EvalDecision != types.PolicyEvaluationDecisionTypeExplicitDeny {
		t.Errorf("PutObject = %s", put.EvalDecision)
	}
	wantStmt("PutObject", put.MatchedStatements, "PolicyInputList.1", 11, 5, 11, 65)
	if put.PermissionsBoundaryDecisionDetail == nil || put.PermissionsBoundaryDecisionDetail.AllowedByPermissionsBoundary {
		t.Errorf("PutObject boundary detail = %+v", put.PermissionsBoundaryDecisionDetail)
	}
	if create.EvalDecision != types.PolicyEvaluationDecisionTypeImplicitDeny || len(create.MatchedStatements) != 0 {
		t.Errorf("CreateRole = %s %+v", create.EvalDecision, create.MatchedStatements)
	}

	// Without the tag the Allow's condition key is reported missing.
	in.ContextEntries = nil
	in.ActionNames = []string{"s3:GetObject"}
	out, err = c.SimulateCustomPolicy(ctx, in)
	must(t, err)
	if r := out.EvaluationResults[0]; r.EvalDecision != types.PolicyEvaluationDecisionTypeImplicitDeny || strings.Join(r.MissingContextValues, ",") != "aws:PrincipalTag/team" {
		t.Errorf("untagged GetObject = %s missing %v", r.EvalDecision, r.MissingContextValues)
	}

	// Pagination: one result a page, every pair exactly once.
	in.ActionNames = []string{"s3:GetObject", "s3:PutObject"}
	in.ResourceArns = []string{"arn:aws:s3:::shared/a", "arn:aws:s3:::shared/b"}
	in.MaxItems = aws.Int32(1)
	var seen []string
	p := awsiam.NewSimulateCustomPolicyPaginator(c, in)
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		must(t, err)
		for _, r := range page.EvaluationResults {
			seen = append(seen, aws.ToString(r.EvalActionName)+" "+aws.ToString(r.EvalResourceName))
		}
	}
	if got := strings.Join(seen, "|"); got != "s3:GetObject arn:aws:s3:::shared/a|s3:GetObject arn:aws:s3:::shared/b|s3:PutObject arn:aws:s3:::shared/a|s3:PutObject arn:aws:s3:::shared/b" {
		t.Errorf("pages = %s", got)
	}
}

// TestSimulateTrustPolicy: a ResourcePolicy on a role for an sts: action
// is the role's trust policy, and a service principal can be the caller.
func TestSimulateTrustPolicy(t *testing.T) {
	env := newTestEnv(t)
	c := sdkClient(t, env)
	for _, tc := range []struct{ caller, action, want string }{
		{"pods.eks.amazonaws.com", "sts:AssumeRole", "allowed"},
		{"pods.eks.amazonaws.com", "sts:TagSession", "allowed"},
		{"ec2.amazonaws.com", "sts:AssumeRole", "implicitDeny"},
		{"arn:aws:iam::123456789012:user/alice", "sts:AssumeRole", "implicitDeny"},
	} {
		out, err := c.SimulateCustomPolicy(context.Background(), &awsiam.SimulateCustomPolicyInput{
			PolicyInputList: []string{`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sts:*","Resource":"*"}]}`},
			ResourcePolicy:  aws.String(trustDoc), CallerArn: aws.String(tc.caller),
			ActionNames: []string{tc.action}, ResourceArns: []string{"arn:aws:iam::123456789012:role/carts"},
		})
		must(t, err)
		r := out.EvaluationResults[0]
		if string(r.EvalDecision) != tc.want {
			t.Errorf("%s %s = %s, want %s", tc.caller, tc.action, r.EvalDecision, tc.want)
		}
		if tc.want == "allowed" && (len(r.MatchedStatements) != 2 || aws.ToString(r.MatchedStatements[1].SourcePolicyId) != "ResourcePolicy" || r.MatchedStatements[1].SourcePolicyType != types.PolicySourceTypeResource) {
			t.Errorf("%s %s matched %+v", tc.caller, tc.action, r.MatchedStatements)
		}
	}
}

// TestSimulatePrincipalPolicy simulates a stored role: its attached and
// inline policies by name and its permissions boundary.
func TestSimulatePrincipalPolicy(t *testing.T) {
	env := newTestEnv(t)
	c := sdkClient(t, env)
	ctx := context.Background()
	role := env.createRole(t, "carts", "/team/")
	pol := env.createPolicy(t, "carts-dynamo", "")
	must(t, env.svc.AttachRolePolicy(env.ctx, &AttachPolicyInput{Name: "carts", PolicyARN: pol.ARN}))
	must(t, env.svc.PutRolePolicy(env.ctx, &PutInlinePolicyInput{Name: "carts", PolicyName: "logs",
		PolicyDocument: `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"logs:*","Resource":"*","Condition":{"StringLike":{"aws:RequestTag/app":"*"}}}]}`}))
	out, err := c.SimulatePrincipalPolicy(ctx, &awsiam.SimulatePrincipalPolicyInput{
		PolicySourceArn: aws.String(role.ARN),
		ActionNames:     []string{"dynamodb:GetItem", "logs:PutLogEvents", "s3:GetObject"},
		ResourceArns:    []string{"arn:aws:dynamodb:us-west-2:123456789012:table/eks-workshop-carts"},
		ContextEntries:  []types.ContextEntry{{ContextKeyName: aws.String("aws:RequestTag/app"), ContextKeyValues: []string{"carts"}, ContextKeyType: types.ContextKeyTypeEnumString}},
	})
	must(t, err)
	if got := env.authz.last(); got.Action != "iam:SimulatePrincipalPolicy" || got.Resource != role.ARN {
		t.Errorf("authorized %s on %s", got.Action, got.Resource)
	}
	var got []string
	for _, r := range out.EvaluationResults {
		s := string(r.EvalDecision)
		for _, m := range r.MatchedStatements {
			s += " " + aws.ToString(m.SourcePolicyId) + "/" + string(m.SourcePolicyType)
		}
		got = append(got, s)
	}
	if strings.Join(got, "|") != "allowed carts-dynamo/user-managed|allowed logs/role|implicitDeny" {
		t.Errorf("decisions = %q", got)
	}
	// A boundary given in the call replaces the role's (none here) and
	// limits it.
	out, err = c.SimulatePrincipalPolicy(ctx, &awsiam.SimulatePrincipalPolicyInput{
		PolicySourceArn: aws.String(role.ARN), ActionNames: []string{"dynamodb:GetItem"},
		ResourceArns:                       []string{"arn:aws:dynamodb:us-west-2:123456789012:table/eks-workshop-carts"},
		PermissionsBoundaryPolicyInputList: []string{simBoundary},
	})
	must(t, err)
	if r := out.EvaluationResults[0]; r.EvalDecision != types.PolicyEvaluationDecisionTypeImplicitDeny || r.PermissionsBoundaryDecisionDetail == nil || r.PermissionsBoundaryDecisionDetail.AllowedByPermissionsBoundary {
		t.Errorf("with boundary: %s %+v", r.EvalDecision, r.PermissionsBoundaryDecisionDetail)
	}

	// A stored document that no longer compiles denies everything, and
	// the simulation names it (never a server fault).
	must(t, env.store.Update(ctx, func(tx store.Tx) error {
		return tx.PutInlinePolicy(&store.InlinePolicy{Account: "123456789012", Kind: store.KindRole, PrincipalName: "carts", PolicyName: "broken", Document: "{}"})
	}))
	out, err = c.SimulatePrincipalPolicy(ctx, &awsiam.SimulatePrincipalPolicyInput{PolicySourceArn: aws.String(role.ARN), ActionNames: []string{"logs:PutLogEvents"}})
	must(t, err)
	if r := out.EvaluationResults[0]; r.EvalDecision != types.PolicyEvaluationDecisionTypeExplicitDeny || len(r.MatchedStatements) != 1 || aws.ToString(r.MatchedStatements[0].SourcePolicyId) != "broken" {
		t.Errorf("with a broken stored policy: %s %+v", r.EvalDecision, r.MatchedStatements)
	}
	must(t, env.store.Update(ctx, func(tx store.Tx) error {
		return tx.DeleteInlinePolicy(store.KindRole, "123456789012", "carts", "broken")
	}))

	keys, err := c.GetContextKeysForPrincipalPolicy(ctx, &awsiam.GetContextKeysForPrincipalPolicyInput{PolicySourceArn: aws.String(role.ARN),
		PolicyInputList: []string{`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"arn:aws:s3:::b/${aws:PrincipalTag/team}/*","Condition":{"IpAddress":{"aws:SourceIp":"10.0.0.0/8"}}}]}`}})
	must(t, err)
	if got := strings.Join(keys.ContextKeyNames, ","); got != "aws:RequestTag/app,aws:SourceIp,aws:PrincipalTag/team" {
		t.Errorf("context keys = %s", got)
	}
	keys2, err := c.GetContextKeysForCustomPolicy(ctx, &awsiam.GetContextKeysForCustomPolicyInput{PolicyInputList: []string{simDoc}})
	must(t, err)
	if got := strings.Join(keys2.ContextKeyNames, ","); got != "aws:PrincipalTag/team" {
		t.Errorf("custom context keys = %s", got)
	}
	if got := env.authz.last(); got.Action != "iam:GetContextKeysForCustomPolicy" || got.Resource != "*" {
		t.Errorf("authorized %s on %s", got.Action, got.Resource)
	}
}

// TestSimulateErrors pins the refusals: AWS's codes, never a 500.
func TestSimulateErrors(t *testing.T) {
	env := newTestEnv(t)
	allow := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}`
	for _, tc := range []struct {
		name, action string
		params       url.Values
		code, msg    string
	}{
		{"no actions", "SimulateCustomPolicy", url.Values{"PolicyInputList.member.1": {allow}}, "ValidationError",
			"1 validation error detected: Value null at 'actionNames' failed to satisfy constraint: Member must not be null"},
		{"no policies", "SimulateCustomPolicy", url.Values{"ActionNames.member.1": {"s3:GetObject"}}, "ValidationError",
			"1 validation error detected: Value null at 'policyInputList' failed to satisfy constraint: Member must not be null"},
		{"bad document", "SimulateCustomPolicy", url.Values{"PolicyInputList.member.1": {"{"}, "ActionNames.member.1": {"s3:GetObject"}}, "MalformedPolicyDocument", "Syntax errors in policy."},
		{"bad action", "SimulateCustomPolicy", url.Values{"PolicyInputList.member.1": {allow}, "ActionNames.member.1": {"GetObject"}}, "InvalidInput",
			"Action GetObject is not a valid action name: expected service:Action."},
		{"bad caller", "SimulateCustomPolicy", url.Values{"PolicyInputList.member.1": {allow}, "ActionNames.member.1": {"s3:GetObject"}, "CallerArn": {"arn:aws:s3:::b"}}, "InvalidInput",
			"CallerArn arn:aws:s3:::b is not a valid caller: use the ARN of a user, role, role session, federated user or root user."},
		{"resource policy without caller", "SimulateCustomPolicy", url.Values{"PolicyInputList.member.1": {allow}, "ActionNames.member.1": {"s3:GetObject"}, "ResourcePolicy": {allow}}, "InvalidInput",
			"CallerArn is required when a ResourcePolicy is included in the simulation."},
		{"two boundaries", "SimulateCustomPolicy", url.Values{"PolicyInputList.member.1": {allow}, "ActionNames.member.1": {"s3:GetObject"},
			"PermissionsBoundaryPolicyInputList.member.1": {allow}, "PermissionsBoundaryPolicyInputList.member.2": {allow}}, "InvalidInput",
			"PermissionsBoundaryPolicyInputList can contain at most one policy."},
		{"bad context type", "SimulateCustomPolicy", url.Values{"PolicyInputList.member.1": {allow}, "ActionNames.member.1": {"s3:GetObject"},
			"ContextEntries.member.1.ContextKeyName": {"aws:SourceIp"}, "ContextEntries.member.1.ContextKeyType": {"cidr"}}, "ValidationError",
			"1 validation error detected: Value 'cidr' at 'contextEntries.1.member.contextKeyType' failed to satisfy constraint: Member must satisfy enum value set: [string, stringList, numeric, numericList, boolean, booleanList, ip, ipList, binary, binaryList, date, dateList]"},
		{"bad marker", "SimulateCustomPolicy", url.Values{"PolicyInputList.member.1": {allow}, "ActionNames.member.1": {"s3:GetObject"}, "Marker": {"!!"}}, "InvalidInput",
			"The specified value for marker is not valid."},
		{"unknown role", "SimulatePrincipalPolicy", url.Values{"PolicySourceArn": {"arn:aws:iam::123456789012:role/nope"}, "ActionNames.member.1": {"s3:GetObject"}}, "NoSuchEntity",
			"The role with name nope cannot be found."},
		{"not a principal", "SimulatePrincipalPolicy", url.Values{"PolicySourceArn": {"arn:aws:iam::123456789012:policy/p"}, "ActionNames.member.1": {"s3:GetObject"}}, "InvalidInput",
			"Invalid ARN: arn:aws:iam::123456789012:policy/p is not the ARN of a user or role."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := env.query(t, tc.action, tc.params)
			var ae *awsproto.Error
			if !errors.As(err, &ae) {
				t.Fatalf("error = %v", err)
			}
			want := 400
			if tc.code == "NoSuchEntity" {
				want = 404
			}
			wantErr(t, err, want, tc.code, tc.msg)
		})
	}
	// A caller the authorizer refuses gets AccessDenied.
	env.authz.deny["iam:SimulateCustomPolicy"] = true
	_, err := env.svc.SimulateCustomPolicy(env.userCtx("bob"), &SimulateInput{PolicyInputList: []string{allow}, ActionNames: []string{"s3:GetObject"}})
	var ae *awsproto.Error
	if !errors.As(err, &ae) || ae.Code != "AccessDenied" || ae.Status != 403 {
		t.Errorf("denied caller: %v", err)
	}
}
