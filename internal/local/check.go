package local

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strings"

	"github.com/podid/podid/internal/arn"
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

// Association is what Explain knows of the pod's association (every field
// may be empty when it could not be read).
type Association struct {
	// ID is the association's ID.
	ID string
	// RoleARN is the association's role (the first hop).
	RoleARN string
	// TargetRoleARN is its target role (the second hop), if any.
	TargetRoleARN string
	// ExternalID is the externalId the second hop carries.
	ExternalID string
	// DisableSessionTags is the association's disableSessionTags.
	DisableSessionTags bool
}

// denial is STS's AccessDenied sentence: "User: USER is not authorized to
// perform: ACTION on resource: RESOURCE" and, when an identity policy
// rather than the role's trust decided, " because no identity-based
// policy allows the ACTION action" or " with an explicit deny in an
// identity-based policy".
type denial struct {
	User, Action, Resource string
	// Identity is set when the caller's own (identity-based) policies
	// refused, not the role's trust policy.
	Identity bool
}

var denialText = regexp.MustCompile(`^User: (\S+) is not authorized to perform: (\S+) on resource: (\S+)(.*)$`)

func parseDenial(msg string) (denial, bool) {
	m := denialText.FindStringSubmatch(msg)
	if m == nil {
		return denial{}, false
	}
	return denial{User: m[1], Action: m[2], Resource: m[3], Identity: strings.Contains(m[4], "identity-based policy")}, true
}

// roleName is the name of a role ARN ("ROLE-NAME" when it is not one).
func roleName(roleARN string) string {
	if a, err := arn.Parse(roleARN); err == nil {
		if name, ok := a.RoleName(); ok {
			return name
		}
	}
	return "ROLE-NAME"
}

// secondHop reports whether d is the target role's refusal: its resource
// is the association's target role, or an assumed-role session was
// refused a role other than the association's.
func secondHop(d denial, a Association) bool {
	if a.TargetRoleARN != "" && d.Resource == a.TargetRoleARN {
		return true
	}
	if a.RoleARN == "" || d.Resource == a.RoleARN {
		return false
	}
	u, err := arn.Parse(d.User)
	if err != nil {
		return false
	}
	_, _, ok := u.SplitAssumedRole()
	return ok
}

// Explain turns an agent's refusal into what a user needs to know: which
// role refused (the association's role on the first hop, its target role
// on the second), the statement it lacks, and the command that fixes it.
// a is what is known of the association.
func Explain(e *AgentError, pod Pod, iss CredentialIssuer, a Association) string {
	if e.Code == "AccessDeniedException" {
		if d, ok := parseDenial(e.Message); ok && secondHop(d, a) {
			return explainSecondHop(e, pod, iss, a, d)
		}
	}
	roleARN := a.RoleARN
	var b strings.Builder
	who := fmt.Sprintf("service account %s/%s of cluster %s", pod.Namespace, pod.ServiceAccount, pod.Cluster)
	upstream := e.Code + ": " + e.Message
	trustCmd := fmt.Sprintf("podid trust-policy --cluster %s --namespace %s --service-account %s",
		ShellQuote(pod.Cluster), ShellQuote(pod.Namespace), ShellQuote(pod.ServiceAccount))
	name := roleName(roleARN)
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

// explainSecondHop explains the target role's refusal of the second hop:
// either the target role's trust policy lacks a statement for the
// association's role (with its externalId), or the association's role's
// own policies do not allow it to assume the target.
func explainSecondHop(e *AgentError, pod Pod, iss CredentialIssuer, a Association, d denial) string {
	var b strings.Builder
	who := fmt.Sprintf("service account %s/%s of cluster %s", pod.Namespace, pod.ServiceAccount, pod.Cluster)
	target := d.Resource
	first := a.RoleARN
	if first == "" {
		first = "the association's role"
		if u, err := arn.Parse(d.User); err == nil {
			if r, ok := u.AssumedRoleRole(); ok {
				first = r.String()
			}
		}
	}
	actions := []string{"sts:AssumeRole"}
	if !a.DisableSessionTags {
		actions = append(actions, "sts:TagSession") // the pod's tags are transitive
	}
	if !slices.Contains(actions, d.Action) && strings.HasPrefix(d.Action, "sts:") {
		actions = append(actions, d.Action) // what was refused, whatever the association said
	}
	upstream := e.Code + ": " + e.Message
	if d.Identity {
		fmt.Fprintf(&b, "EKS Auth refused to issue credentials for %s: role %s (the association's role) may not assume its target role %s (%s).\n", who, first, target, d.Action)
		fmt.Fprintf(&b, "EKS Auth answered %s\n", upstream)
		doc := policyDoc{Version: "2012-10-17", Statement: []policyStatement{{Effect: "Allow", Action: actions, Resource: target}}}
		fmt.Fprintf(&b, "The role's identity policies must allow %s on %s, with no Deny for them:\n", strings.Join(actions, " and "), target)
		fmt.Fprintf(&b, "  aws iam put-role-policy --role-name %s --policy-name assume-target-role --policy-document %s", ShellQuote(roleName(first)), ShellQuote(compactJSON(doc)))
		return b.String()
	}
	fmt.Fprintf(&b, "EKS Auth refused to issue credentials for %s: the target role %s refused the second hop (%s by %s).\n", who, target, d.Action, first)
	fmt.Fprintf(&b, "EKS Auth answered %s\n", upstream)
	if iss.BrokerPrincipal != "" {
		cmd := "podid trust-policy --association ASSOCIATION-ID --target"
		if a.ID != "" {
			cmd = "podid trust-policy --association " + ShellQuote(a.ID) + " --target"
		}
		fmt.Fprintf(&b, "The target role's trust policy in AWS must allow the association's role %s for this association (sts:ExternalId %s); write it with:\n", first, orUnknown(a.ExternalID))
		fmt.Fprintf(&b, "  %s > trust.json\n", cmd)
		fmt.Fprintf(&b, "  aws iam update-assume-role-policy --role-name %s --policy-document file://trust.json   # with your AWS credentials", ShellQuote(roleName(target)))
		return b.String()
	}
	st := policyStatement{Effect: "Allow", Principal: map[string]string{"AWS": first}, Action: actions}
	if a.ExternalID != "" {
		st.Condition = map[string]map[string]string{"StringEquals": {"sts:ExternalId": a.ExternalID}}
	}
	doc := policyDoc{Version: "2012-10-17", Statement: []policyStatement{st}}
	fmt.Fprintf(&b, "The target role's trust policy must allow the association's role %s the actions %s", first, strings.Join(actions, " and "))
	if a.ExternalID != "" {
		fmt.Fprintf(&b, " on condition sts:ExternalId = %s", a.ExternalID)
	}
	fmt.Fprintf(&b, ", with no Deny for them:\n")
	fmt.Fprintf(&b, "  aws iam update-assume-role-policy --role-name %s --policy-document %s", ShellQuote(roleName(target)), ShellQuote(compactJSON(doc)))
	if acct := accountOf(target); acct != "" && acct != accountOf(first) {
		// The target role lives in another account: only that account's
		// principals can change it.
		fmt.Fprintf(&b, "   # with account %s's credentials", acct)
	}
	return b.String()
}

// accountOf is the account in an ARN ("" when it has none).
func accountOf(s string) string {
	if a, err := arn.Parse(s); err == nil {
		return a.AccountID
	}
	return ""
}

// policyDoc and policyStatement print a policy in the usual key order.
type policyDoc struct {
	Version   string
	Statement []policyStatement
}

type policyStatement struct {
	Effect    string
	Principal map[string]string `json:",omitempty"`
	Action    []string
	Resource  string                       `json:",omitempty"`
	Condition map[string]map[string]string `json:",omitempty"`
}

func orUnknown(s string) string {
	if s == "" {
		return "(unknown)"
	}
	return s
}

// compactJSON encodes v on one line, without HTML escaping (map keys in
// sorted order).
func compactJSON(v any) string {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
	return strings.TrimSuffix(b.String(), "\n")
}
