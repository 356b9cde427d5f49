package local

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
)

func TestParseAgentError(t *testing.T) {
	for _, tc := range []struct {
		status int
		body   string
		want   AgentError
	}{
		{404, "[1f0e6a52-0000-4000-8000-000000000001]: (ResourceNotFoundException): No Pod Identity Association found for cluster eks-workshop, namespace carts and service account carts., fault: client\n",
			AgentError{404, "ResourceNotFoundException", "No Pod Identity Association found for cluster eks-workshop, namespace carts and service account carts."}},
		{400, "[]: (AccessDeniedException): User: pods.eks.amazonaws.com is not authorized to perform: sts:AssumeRole on resource: arn:aws:iam::123456789012:role/r, fault: client",
			AgentError{400, "AccessDeniedException", "User: pods.eks.amazonaws.com is not authorized to perform: sts:AssumeRole on resource: arn:aws:iam::123456789012:role/r"}},
		{503, "[x]: (ServiceUnavailableException): try later, fault: server",
			AgentError{503, "ServiceUnavailableException", "try later"}},
		{403, "Access Denied. Called agent through invalid address, please use either [127.0.0.1] address not localhost\n",
			AgentError{403, "", "Access Denied. Called agent through invalid address, please use either [127.0.0.1] address not localhost"}},
		{400, "Service account token cannot be empty", AgentError{400, "", "Service account token cannot be empty"}},
		{500, "", AgentError{500, "", ""}},
		{400, "[x]: (Bad Code): m, fault: client", AgentError{400, "", "[x]: (Bad Code): m, fault: client"}},
	} {
		got := ParseAgentError(tc.status, tc.body)
		if !reflect.DeepEqual(*got, tc.want) {
			t.Errorf("ParseAgentError(%d, %q) = %+v, want %+v", tc.status, tc.body, *got, tc.want)
		}
	}
}

// FuzzParseAgentError: any agent answer parses without panicking, and a
// parsed code is one the pattern admits.
func FuzzParseAgentError(f *testing.F) {
	f.Add(404, "[id]: (ResourceNotFoundException): No Pod Identity Association found, fault: client")
	f.Add(400, "[]: (): , fault: server")
	f.Add(403, "Access Denied.")
	f.Add(0, "[[]]: ((x)): y, fault: client, fault: client")
	f.Fuzz(func(t *testing.T, status int, body string) {
		e := ParseAgentError(status, body)
		if e.Status != status {
			t.Fatalf("status %d, want %d", e.Status, status)
		}
		if strings.ContainsAny(e.Code, "() \n") {
			t.Fatalf("code %q", e.Code)
		}
		if e.Code == "" && e.Message != strings.TrimSpace(body) {
			t.Fatalf("message %q, want the whole body", e.Message)
		}
		_ = e.Error()
	})
}

var testPod = Pod{Cluster: "eks-workshop", Namespace: "carts", ServiceAccount: "carts", Name: "carts-x2x4q"}

func TestExplain(t *testing.T) {
	local := CredentialIssuer{AccountID: "123456789012"}
	broker := CredentialIssuer{AccountID: "210987654321", BrokerPrincipal: "arn:aws:iam::210987654321:user/podid-broker"}
	for _, tc := range []struct {
		name string
		err  AgentError
		iss  CredentialIssuer
		role string
		want string
	}{
		{
			name: "no association",
			err:  AgentError{404, "ResourceNotFoundException", "No Pod Identity Association found for cluster eks-workshop, namespace carts and service account carts."},
			iss:  local,
			want: `no Pod Identity association for service account carts/carts of cluster eks-workshop, so its pods get no AWS credentials.
EKS Auth answered ResourceNotFoundException: No Pod Identity Association found for cluster eks-workshop, namespace carts and service account carts.
Create one with a role that trusts pods.eks.amazonaws.com:
  aws eks create-pod-identity-association --cluster-name eks-workshop --namespace carts --service-account carts --role-arn arn:aws:iam::123456789012:role/ROLE-NAME`,
		},
		{
			name: "trust forbids pods, role known",
			err:  AgentError{400, "AccessDeniedException", "User: pods.eks.amazonaws.com is not authorized to perform: sts:AssumeRole on resource: arn:aws:iam::123456789012:role/carts"},
			iss:  local,
			role: "arn:aws:iam::123456789012:role/team/carts",
			want: `EKS Auth refused to issue credentials for service account carts/carts of cluster eks-workshop: role arn:aws:iam::123456789012:role/team/carts may not be assumed by pods.
EKS Auth answered AccessDeniedException: User: pods.eks.amazonaws.com is not authorized to perform: sts:AssumeRole on resource: arn:aws:iam::123456789012:role/carts
The role's trust policy must allow the service principal pods.eks.amazonaws.com the actions sts:AssumeRole and sts:TagSession, with no Deny for them:
  aws iam update-assume-role-policy --role-name carts --policy-document '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"pods.eks.amazonaws.com"},"Action":["sts:AssumeRole","sts:TagSession"]}]}'`,
		},
		{
			name: "trust forbids pods, role unknown",
			err:  AgentError{400, "AccessDeniedException", "denied"},
			iss:  local,
			want: `EKS Auth refused to issue credentials for service account carts/carts of cluster eks-workshop: the association's role may not be assumed by pods.
EKS Auth answered AccessDeniedException: denied
The role's trust policy must allow the service principal pods.eks.amazonaws.com the actions sts:AssumeRole and sts:TagSession, with no Deny for them:
  aws iam update-assume-role-policy --role-name ROLE-NAME --policy-document '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"pods.eks.amazonaws.com"},"Action":["sts:AssumeRole","sts:TagSession"]}]}'`,
		},
		{
			name: "broker mode, no association",
			err:  AgentError{404, "ResourceNotFoundException", "No Pod Identity Association found for cluster eks-workshop, namespace carts and service account carts."},
			iss:  broker,
			want: `no Pod Identity association for service account carts/carts of cluster eks-workshop, so its pods get no AWS credentials.
EKS Auth answered ResourceNotFoundException: No Pod Identity Association found for cluster eks-workshop, namespace carts and service account carts.
Create one with an AWS role whose trust policy is what ` + "`podid trust-policy --cluster eks-workshop --namespace carts --service-account carts`" + ` prints (it trusts podid's broker principal arn:aws:iam::210987654321:user/podid-broker):
  aws eks create-pod-identity-association --cluster-name eks-workshop --namespace carts --service-account carts --role-arn arn:aws:iam::210987654321:role/ROLE-NAME`,
		},
		{
			name: "broker mode, AWS refuses the broker",
			err:  AgentError{400, "AccessDeniedException", "AWS STS refused podid's broker: the trust policy does not allow sts:TagSession"},
			iss:  broker,
			role: "arn:aws:iam::210987654321:role/carts",
			want: `AWS refused podid's broker (arn:aws:iam::210987654321:user/podid-broker) role arn:aws:iam::210987654321:role/carts for service account carts/carts of cluster eks-workshop.
EKS Auth answered AccessDeniedException: AWS STS refused podid's broker: the trust policy does not allow sts:TagSession
The role's trust policy in AWS must allow podid's broker principal sts:AssumeRole, sts:TagSession and sts:SetSourceIdentity for this association; write it with:
  podid trust-policy --cluster eks-workshop --namespace carts --service-account carts > trust.json
  aws iam update-assume-role-policy --role-name carts --policy-document file://trust.json   # with your AWS credentials`,
		},
		{
			name: "no cluster",
			err:  AgentError{404, "ResourceNotFoundException", "No cluster found for name: eks-workshop."},
			iss:  local,
			want: "EKS Auth does not know cluster eks-workshop: ResourceNotFoundException: No cluster found for name: eks-workshop.",
		},
		{
			name: "invalid token",
			err:  AgentError{400, "InvalidTokenException", "The specified Kubernetes service account token is invalid."},
			iss:  local,
			want: "EKS Auth refused the token minted for the pod (InvalidTokenException: The specified Kubernetes service account token is invalid.); was cluster eks-workshop deleted or recreated since podid dev started?",
		},
		{
			name: "other EKS Auth error",
			err:  AgentError{429, "ThrottlingException", "Rate exceeded for cluster eks-workshop."},
			iss:  local,
			want: "the agent could not get credentials for service account carts/carts of cluster eks-workshop: EKS Auth answered ThrottlingException: Rate exceeded for cluster eks-workshop.",
		},
		{
			name: "the agent's own refusal",
			err:  AgentError{403, "", "Access Denied."},
			iss:  local,
			want: "the agent could not get credentials for service account carts/carts of cluster eks-workshop: HTTP 403: Access Denied.",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := tc.err
			if got := Explain(&e, testPod, tc.iss, Association{RoleARN: tc.role}); got != tc.want {
				t.Errorf("Explain =\n%s\nwant\n%s", got, tc.want)
			}
		})
	}
}

// FuzzExplain: any AccessDenied message is explained without a panic, and
// a refusal of the association's target role names the target role.
func FuzzExplain(f *testing.F) {
	const target = "arn:aws:iam::123456789012:role/t"
	f.Add("User: arn:aws:sts::123456789012:assumed-role/r/s is not authorized to perform: sts:AssumeRole on resource: " + target)
	f.Add("User: pods.eks.amazonaws.com is not authorized to perform: sts:TagSession on resource: arn:aws:iam::123456789012:role/r because no identity-based policy allows the sts:TagSession action")
	f.Add("User: x is not authorized to perform: y on resource: z")
	f.Fuzz(func(t *testing.T, msg string) {
		a := Association{RoleARN: "arn:aws:iam::123456789012:role/r", TargetRoleARN: target, ExternalID: "us-west-2/123456789012/c/n/s"}
		out := Explain(&AgentError{400, "AccessDeniedException", msg}, testPod, CredentialIssuer{AccountID: "123456789012"}, a)
		if d, ok := parseDenial(msg); ok && d.Resource == target && !strings.Contains(out, target) {
			t.Fatalf("a refusal of the target role does not name it:\n%s", out)
		}
	})
}

func TestCheckCredentials(t *testing.T) {
	const token = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln"
	for _, tc := range []struct {
		name    string
		status  int
		body    string
		wantErr string
		agent   *AgentError
	}{
		{name: "served", status: 200, body: `{"AccessKeyId":"ASIAX","SecretAccessKey":"s","Token":"t","AccountId":"123456789012","Expiration":"2026-11-25T18:00:00Z"}`},
		{name: "200 without credentials", status: 200, body: `{}`, wantErr: "answered 200 without credentials"},
		{name: "200 not JSON", status: 200, body: `<html>`, wantErr: "answered 200 without credentials"},
		{name: "no association", status: 404, body: "[r]: (ResourceNotFoundException): No Pod Identity Association found for cluster c, namespace n and service account s., fault: client\n",
			agent: &AgentError{404, "ResourceNotFoundException", "No Pod Identity Association found for cluster c, namespace n and service account s."}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Method != http.MethodGet || r.URL.Path != "/v1/credentials" || r.Header.Get("Authorization") != token {
					t.Errorf("request %s %s Authorization %q", r.Method, r.URL.Path, r.Header.Get("Authorization"))
				}
				w.WriteHeader(tc.status)
				w.Write([]byte(tc.body))
			}))
			defer srv.Close()
			err := CheckCredentials(context.Background(), srv.Client(), srv.URL+"/v1/credentials", token)
			var ae *AgentError
			switch {
			case tc.agent != nil:
				if !errors.As(err, &ae) || !reflect.DeepEqual(*ae, *tc.agent) {
					t.Errorf("err = %#v, want %+v", err, *tc.agent)
				}
			case tc.wantErr != "":
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || errors.As(err, &ae) {
					t.Errorf("err = %v, want %q", err, tc.wantErr)
				}
			case err != nil:
				t.Errorf("err = %v", err)
			}
		})
	}
	// An agent that is not there.
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	if err := CheckCredentials(context.Background(), http.DefaultClient, url+"/v1/credentials", token); err == nil || !strings.Contains(err.Error(), "asking the agent at") {
		t.Errorf("closed agent: %v", err)
	}
}

// TestExplainSecondHop: when the target role refuses the second hop, the
// explanation names the target role and the trust statement it lacks
// (the association's role, the externalId, the actions), or, when the
// association's role's own policies refused, that role and the identity
// statement it lacks; a first-hop refusal still names the association's
// role.
func TestExplainSecondHop(t *testing.T) {
	const (
		first  = "arn:aws:iam::123456789012:role/carts-pod"
		target = "arn:aws:iam::123456789012:role/data/carts-target"
		sess   = "arn:aws:sts::123456789012:assumed-role/carts-pod/eks-eks-workshop-carts-x2x4q-1f2e"
		ext    = "us-west-2/123456789012/eks-workshop/carts/carts"
	)
	local := CredentialIssuer{AccountID: "123456789012"}
	broker := CredentialIssuer{AccountID: "210987654321", BrokerPrincipal: "arn:aws:iam::210987654321:user/podid-broker"}
	full := Association{ID: "a-abcdefghijklmnopq", RoleARN: first, TargetRoleARN: target, ExternalID: ext}
	refused := func(action, tail string) AgentError {
		return AgentError{400, "AccessDeniedException", "User: " + sess + " is not authorized to perform: " + action + " on resource: " + target + tail}
	}
	for _, tc := range []struct {
		name  string
		err   AgentError
		iss   CredentialIssuer
		assoc Association
		want  string
	}{
		{
			name: "target trust lacks the association's role", err: refused("sts:AssumeRole", ""), iss: local, assoc: full,
			want: `EKS Auth refused to issue credentials for service account carts/carts of cluster eks-workshop: the target role arn:aws:iam::123456789012:role/data/carts-target refused the second hop (sts:AssumeRole by arn:aws:iam::123456789012:role/carts-pod).
EKS Auth answered AccessDeniedException: User: arn:aws:sts::123456789012:assumed-role/carts-pod/eks-eks-workshop-carts-x2x4q-1f2e is not authorized to perform: sts:AssumeRole on resource: arn:aws:iam::123456789012:role/data/carts-target
The target role's trust policy must allow the association's role arn:aws:iam::123456789012:role/carts-pod the actions sts:AssumeRole and sts:TagSession on condition sts:ExternalId = us-west-2/123456789012/eks-workshop/carts/carts, with no Deny for them:
  aws iam update-assume-role-policy --role-name carts-target --policy-document '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:role/carts-pod"},"Action":["sts:AssumeRole","sts:TagSession"],"Condition":{"StringEquals":{"sts:ExternalId":"us-west-2/123456789012/eks-workshop/carts/carts"}}}]}'`,
		},
		{
			name: "association's role may not assume the target", err: refused("sts:AssumeRole", " because no identity-based policy allows the sts:AssumeRole action"), iss: local, assoc: full,
			want: `EKS Auth refused to issue credentials for service account carts/carts of cluster eks-workshop: role arn:aws:iam::123456789012:role/carts-pod (the association's role) may not assume its target role arn:aws:iam::123456789012:role/data/carts-target (sts:AssumeRole).
EKS Auth answered AccessDeniedException: User: arn:aws:sts::123456789012:assumed-role/carts-pod/eks-eks-workshop-carts-x2x4q-1f2e is not authorized to perform: sts:AssumeRole on resource: arn:aws:iam::123456789012:role/data/carts-target because no identity-based policy allows the sts:AssumeRole action
The role's identity policies must allow sts:AssumeRole and sts:TagSession on arn:aws:iam::123456789012:role/data/carts-target, with no Deny for them:
  aws iam put-role-policy --role-name carts-pod --policy-name assume-target-role --policy-document '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["sts:AssumeRole","sts:TagSession"],"Resource":"arn:aws:iam::123456789012:role/data/carts-target"}]}'`,
		},
		{
			name: "target refuses sts:TagSession, target and tags unknown", err: refused("sts:TagSession", ""), iss: local, assoc: Association{RoleARN: first, DisableSessionTags: true},
			want: `EKS Auth refused to issue credentials for service account carts/carts of cluster eks-workshop: the target role arn:aws:iam::123456789012:role/data/carts-target refused the second hop (sts:TagSession by arn:aws:iam::123456789012:role/carts-pod).
EKS Auth answered AccessDeniedException: User: arn:aws:sts::123456789012:assumed-role/carts-pod/eks-eks-workshop-carts-x2x4q-1f2e is not authorized to perform: sts:TagSession on resource: arn:aws:iam::123456789012:role/data/carts-target
The target role's trust policy must allow the association's role arn:aws:iam::123456789012:role/carts-pod the actions sts:AssumeRole and sts:TagSession, with no Deny for them:
  aws iam update-assume-role-policy --role-name carts-target --policy-document '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:role/carts-pod"},"Action":["sts:AssumeRole","sts:TagSession"]}]}'`,
		},
		{
			name: "association unknown: the first role from the session", err: refused("sts:AssumeRole", ""), iss: local, assoc: Association{TargetRoleARN: target},
			want: `EKS Auth refused to issue credentials for service account carts/carts of cluster eks-workshop: the target role arn:aws:iam::123456789012:role/data/carts-target refused the second hop (sts:AssumeRole by arn:aws:iam::123456789012:role/carts-pod).
EKS Auth answered AccessDeniedException: User: arn:aws:sts::123456789012:assumed-role/carts-pod/eks-eks-workshop-carts-x2x4q-1f2e is not authorized to perform: sts:AssumeRole on resource: arn:aws:iam::123456789012:role/data/carts-target
The target role's trust policy must allow the association's role arn:aws:iam::123456789012:role/carts-pod the actions sts:AssumeRole and sts:TagSession, with no Deny for them:
  aws iam update-assume-role-policy --role-name carts-target --policy-document '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:role/carts-pod"},"Action":["sts:AssumeRole","sts:TagSession"]}]}'`,
		},
		{
			name: "broker mode, target refuses", err: refused("sts:AssumeRole", ""), iss: broker, assoc: full,
			want: `EKS Auth refused to issue credentials for service account carts/carts of cluster eks-workshop: the target role arn:aws:iam::123456789012:role/data/carts-target refused the second hop (sts:AssumeRole by arn:aws:iam::123456789012:role/carts-pod).
EKS Auth answered AccessDeniedException: User: arn:aws:sts::123456789012:assumed-role/carts-pod/eks-eks-workshop-carts-x2x4q-1f2e is not authorized to perform: sts:AssumeRole on resource: arn:aws:iam::123456789012:role/data/carts-target
The target role's trust policy in AWS must allow the association's role arn:aws:iam::123456789012:role/carts-pod for this association (sts:ExternalId us-west-2/123456789012/eks-workshop/carts/carts); write it with:
  podid trust-policy --association a-abcdefghijklmnopq --target > trust.json
  aws iam update-assume-role-policy --role-name carts-target --policy-document file://trust.json   # with your AWS credentials`,
		},
		{
			name: "target role in another hosted account", iss: local,
			assoc: Association{ID: "a-abcdefghijklmnopq", RoleARN: first, TargetRoleARN: "arn:aws:iam::210987654321:role/carts-target", ExternalID: ext},
			err:   AgentError{400, "AccessDeniedException", "User: " + sess + " is not authorized to perform: sts:AssumeRole on resource: arn:aws:iam::210987654321:role/carts-target"},
			want: `EKS Auth refused to issue credentials for service account carts/carts of cluster eks-workshop: the target role arn:aws:iam::210987654321:role/carts-target refused the second hop (sts:AssumeRole by arn:aws:iam::123456789012:role/carts-pod).
EKS Auth answered AccessDeniedException: User: arn:aws:sts::123456789012:assumed-role/carts-pod/eks-eks-workshop-carts-x2x4q-1f2e is not authorized to perform: sts:AssumeRole on resource: arn:aws:iam::210987654321:role/carts-target
The target role's trust policy must allow the association's role arn:aws:iam::123456789012:role/carts-pod the actions sts:AssumeRole and sts:TagSession on condition sts:ExternalId = us-west-2/123456789012/eks-workshop/carts/carts, with no Deny for them:
  aws iam update-assume-role-policy --role-name carts-target --policy-document '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:role/carts-pod"},"Action":["sts:AssumeRole","sts:TagSession"],"Condition":{"StringEquals":{"sts:ExternalId":"us-west-2/123456789012/eks-workshop/carts/carts"}}}]}'   # with account 210987654321's credentials`,
		},
		{
			name: "first hop with a target set: the association's role", iss: local, assoc: full,
			err: AgentError{400, "AccessDeniedException", "User: pods.eks.amazonaws.com is not authorized to perform: sts:TagSession on resource: " + first},
			want: `EKS Auth refused to issue credentials for service account carts/carts of cluster eks-workshop: role arn:aws:iam::123456789012:role/carts-pod may not be assumed by pods.
EKS Auth answered AccessDeniedException: User: pods.eks.amazonaws.com is not authorized to perform: sts:TagSession on resource: arn:aws:iam::123456789012:role/carts-pod
The role's trust policy must allow the service principal pods.eks.amazonaws.com the actions sts:AssumeRole and sts:TagSession, with no Deny for them:
  aws iam update-assume-role-policy --role-name carts-pod --policy-document '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"pods.eks.amazonaws.com"},"Action":["sts:AssumeRole","sts:TagSession"]}]}'`,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := tc.err
			if got := Explain(&e, testPod, tc.iss, tc.assoc); got != tc.want {
				t.Errorf("Explain =\n%s\nwant\n%s", got, tc.want)
			}
		})
	}
}
