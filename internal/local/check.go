package local

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
)

// AgentError is the agent's refusal to serve credentials for a token.
type AgentError struct {
	// Status is the agent's HTTP status.
	Status int
	// Code is EKS Auth's error code when the agent passed one on
	// (ResourceNotFoundException, AccessDeniedException, …).
	Code string
	// Message is EKS Auth's message, or the agent's own text.
	Message string
}

func (e *AgentError) Error() string {
	if e.Code != "" {
		return fmt.Sprintf("the agent answered %d: %s: %s", e.Status, e.Code, e.Message)
	}
	return fmt.Sprintf("the agent answered %d: %s", e.Status, e.Message)
}

// upstreamText matches how the agent passes on an EKS Auth error:
// "[REQUEST-ID]: (CODE): MESSAGE, fault: client".
var upstreamText = regexp.MustCompile(`^\[[^\]]*\]: \(([A-Za-z0-9_.]+)\): (.*), fault: (?:client|server)$`)

// ParseAgentError reads an agent's error answer.
func ParseAgentError(status int, body string) *AgentError {
	body = strings.TrimSpace(body)
	if m := upstreamText.FindStringSubmatch(body); m != nil {
		return &AgentError{Status: status, Code: m[1], Message: m[2]}
	}
	return &AgentError{Status: status, Message: body}
}

// maxAgentAnswer bounds an agent answer.
const maxAgentAnswer = 64 << 10

// CheckCredentials asks the agent at url for credentials with token, as a
// pod's SDK does: GET with the token as the raw Authorization header. It
// returns nil when the agent serves credentials and an *AgentError when
// it refuses.
func CheckCredentials(ctx context.Context, client *http.Client, url, token string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("credentials request: %w", err)
	}
	req.Header.Set("Authorization", token)
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("asking the agent at %s for credentials: %w", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxAgentAnswer))
	if err != nil {
		return fmt.Errorf("reading the agent's answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return ParseAgentError(resp.StatusCode, string(body))
	}
	var creds struct {
		AccessKeyID string `json:"AccessKeyId"`
	}
	if err := json.Unmarshal(body, &creds); err != nil || creds.AccessKeyID == "" {
		return fmt.Errorf("the agent at %s answered 200 without credentials", url)
	}
	return nil
}

// trustPodIdentity is the trust policy an association's role needs.
const trustPodIdentity = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"pods.eks.amazonaws.com"},"Action":["sts:AssumeRole","sts:TagSession"]}]}`

// CredentialIssuer says who issues a cluster's pod credentials (podid's
// credential issuer, local or aws-sts), for explanations.
type CredentialIssuer struct {
	// BrokerPrincipal is podid's AWS principal in broker mode (credential
	// issuer aws-sts), which the association's roles must trust; empty
	// when podid's own STS issues them (roles trust pods.eks.amazonaws.com).
	BrokerPrincipal string
	// AccountID is the account of the association's roles: podid's, or
	// the broker's AWS account.
	AccountID string
}

// Explain turns an agent's refusal into what a user needs to know: what
// is missing and the command that fixes it. roleARN is the association's
// role when known (it names the role to fix).
func Explain(e *AgentError, pod Pod, iss CredentialIssuer, roleARN string) string {
	var b strings.Builder
	who := fmt.Sprintf("service account %s/%s of cluster %s", pod.Namespace, pod.ServiceAccount, pod.Cluster)
	upstream := e.Code + ": " + e.Message
	trustCmd := fmt.Sprintf("podid trust-policy --cluster %s --namespace %s --service-account %s",
		ShellQuote(pod.Cluster), ShellQuote(pod.Namespace), ShellQuote(pod.ServiceAccount))
	name := "ROLE-NAME"
	if i := strings.LastIndexByte(roleARN, '/'); i >= 0 {
		name = roleARN[i+1:]
	}
	switch {
	case e.Code == "ResourceNotFoundException" && strings.HasPrefix(e.Message, "No Pod Identity Association"):
		fmt.Fprintf(&b, "no Pod Identity association for %s, so its pods get no AWS credentials.\n", who)
		fmt.Fprintf(&b, "EKS Auth answered %s\n", upstream)
		if iss.BrokerPrincipal != "" {
			fmt.Fprintf(&b, "Create one with an AWS role whose trust policy is what `%s` prints (it trusts podid's broker principal %s):\n", trustCmd, iss.BrokerPrincipal)
		} else {
			fmt.Fprintf(&b, "Create one with a role that trusts pods.eks.amazonaws.com:\n")
		}
		fmt.Fprintf(&b, "  aws eks create-pod-identity-association --cluster-name %s --namespace %s --service-account %s --role-arn arn:aws:iam::%s:role/ROLE-NAME",
			ShellQuote(pod.Cluster), ShellQuote(pod.Namespace), ShellQuote(pod.ServiceAccount), iss.AccountID)
	case e.Code == "AccessDeniedException" && iss.BrokerPrincipal != "":
		role := "the association's role"
		if roleARN != "" {
			role = "role " + roleARN
		}
		fmt.Fprintf(&b, "AWS refused podid's broker (%s) %s for %s.\n", iss.BrokerPrincipal, role, who)
		fmt.Fprintf(&b, "EKS Auth answered %s\n", upstream)
		fmt.Fprintf(&b, "The role's trust policy in AWS must allow podid's broker principal sts:AssumeRole, sts:TagSession and sts:SetSourceIdentity for this association; write it with:\n")
		fmt.Fprintf(&b, "  %s > trust.json\n", trustCmd)
		fmt.Fprintf(&b, "  aws iam update-assume-role-policy --role-name %s --policy-document file://trust.json   # with your AWS credentials", ShellQuote(name))
	case e.Code == "AccessDeniedException":
		role := "the association's role"
		if roleARN != "" {
			role = "role " + roleARN
		}
		fmt.Fprintf(&b, "EKS Auth refused to issue credentials for %s: %s may not be assumed by pods.\n", who, role)
		fmt.Fprintf(&b, "EKS Auth answered %s\n", upstream)
		fmt.Fprintf(&b, "The role's trust policy must allow the service principal pods.eks.amazonaws.com the actions sts:AssumeRole and sts:TagSession, with no Deny for them:\n")
		fmt.Fprintf(&b, "  aws iam update-assume-role-policy --role-name %s --policy-document '%s'", ShellQuote(name), trustPodIdentity)
	case e.Code == "ResourceNotFoundException":
		fmt.Fprintf(&b, "EKS Auth does not know cluster %s: %s", pod.Cluster, upstream)
	case e.Code == "InvalidTokenException" || e.Code == "ExpiredTokenException":
		fmt.Fprintf(&b, "EKS Auth refused the token minted for the pod (%s); was cluster %s deleted or recreated since podid dev started?", upstream, pod.Cluster)
	case e.Code != "":
		fmt.Fprintf(&b, "the agent could not get credentials for %s: EKS Auth answered %s", who, upstream)
	default:
		fmt.Fprintf(&b, "the agent could not get credentials for %s: HTTP %d: %s", who, e.Status, e.Message)
	}
	return b.String()
}
