// Package explain answers "why does this pod get (or not get) AWS
// credentials, and may it do X?": the whole Pod Identity chain for one
// service account (the webhook's view, the association, the role's trust
// policy decided for pods.eks.amazonaws.com with EKS's six session tags,
// the target role, and the pod session's decision for actions), and, for a
// refusal seen elsewhere (EKS Auth, the gateway, `podid exec`), its cause
// and the fix.
//
// It reads the store and decides with the same policy engine and
// authorizer that serve requests; it never issues credentials.
package explain

import (
	"fmt"
	"strings"

	"github.com/podid/podid/internal/arn"
)

// Cause identifies why a pod's identity is refused.
type Cause string

// The refusal causes EKS Auth and the gateway can give, and those the
// chain finds before a pod asks.
const (
	// EKS Auth.
	CauseInvalidClusterName    Cause = "invalid-cluster-name"
	CauseMissingAuthentication Cause = "missing-authentication"
	CauseAgentNotAuthorized    Cause = "agent-not-authorized"
	CauseMalformedToken        Cause = "malformed-token"
	CauseNoCluster             Cause = "no-cluster"
	CauseThrottled             Cause = "throttled"
	CauseKeysUnavailable       Cause = "signing-keys-unavailable"
	CauseTokenReviewOff        Cause = "token-review-unavailable"
	CauseInvalidToken          Cause = "invalid-token"
	CauseExpiredToken          Cause = "expired-token"
	CauseNodeMismatch          Cause = "node-mismatch"
	CauseNoAssociation         Cause = "no-association"
	// CauseNotMutated: the pod predates the association (or the webhook
	// was not running when it was created).
	CauseNotMutated           Cause = "pod-not-mutated"
	CauseRoleMissing          Cause = "role-missing"
	CauseTrustDenied          Cause = "trust-denied"
	CauseTargetTrustDenied    Cause = "target-trust-denied"
	CauseInvalidSessionPolicy Cause = "invalid-session-policy"
	CauseIssuerUnavailable    Cause = "issuer-unavailable"
	// The gateway (and any AWS API) deciding the pod session's request.
	CauseExplicitDeny      Cause = "explicit-deny"
	CauseNoIdentityAllow   Cause = "no-identity-allow"
	CauseBoundaryDenies    Cause = "boundary-denies"
	CauseSessionPolicy     Cause = "session-policy-denies"
	CauseResourcePolicy    Cause = "resource-policy-denies"
	CauseInvalidSignature  Cause = "invalid-signature"
	CauseExpiredCredential Cause = "expired-credentials"
)

// Subject is the pod identity an explanation is about; it fills the
// commands of the fixes.
type Subject struct {
	Cluster        string `json:"cluster"`
	Namespace      string `json:"namespace"`
	ServiceAccount string `json:"serviceAccount"`
	Pod            string `json:"pod,omitempty"`
	AccountID      string `json:"-"`
	RoleARN        string `json:"-"`
	TargetRoleARN  string `json:"-"`
	Action         string `json:"-"`
	Resource       string `json:"-"`
}

// Classify names the cause of an EKS Auth or gateway refusal from its
// error code and message (as the agent, `podid exec` or the SDK see
// them). ok is false when the error is not a refusal podid explains.
func Classify(code, message string) (Cause, bool) {
	code = strings.TrimPrefix(code, "com.amazonaws.dynamodb.v20120810#")
	has := func(s string) bool { return strings.Contains(message, s) }
	switch code {
	case "InvalidParameterException":
		switch {
		case has("cluster name is not valid"):
			return CauseInvalidClusterName, true
		case has("JSON Web Token"):
			return CauseMalformedToken, true
		}
		return CauseInvalidSessionPolicy, true
	case "ResourceNotFoundException":
		if has("No Pod Identity Association") {
			return CauseNoAssociation, true
		}
		if has("No cluster found") {
			return CauseNoCluster, true
		}
	case "ThrottlingException":
		return CauseThrottled, true
	case "InvalidTokenException":
		return CauseInvalidToken, true
	case "ExpiredTokenException":
		return CauseExpiredToken, true
	case "ServiceUnavailableException":
		switch {
		case has("TokenReview"):
			return CauseTokenReviewOff, true
		case has("credential issuer"):
			return CauseIssuerUnavailable, true
		}
		return CauseKeysUnavailable, true
	case "MissingAuthenticationToken", "MissingAuthenticationTokenException":
		return CauseMissingAuthentication, true
	case "InvalidClientTokenId", "SignatureDoesNotMatch", "InvalidAccessKeyId", "InvalidSignatureException", "UnrecognizedClientException", "IncompleteSignature":
		return CauseInvalidSignature, true
	case "ExpiredToken", "RequestExpired":
		return CauseExpiredCredential, true
	case "AccessDeniedException", "AccessDenied":
		switch {
		case has("Request is missing Authentication Token"):
			return CauseMissingAuthentication, true
		case has("runs on node"):
			return CauseNodeMismatch, true
		case has("eks-auth:AssumeRoleForPodIdentity"):
			return CauseAgentNotAuthorized, true
		case has("cannot be found") || has("does not exist"):
			return CauseRoleMissing, true
		case has("with an explicit deny"):
			return CauseExplicitDeny, true
		case has("because no permissions boundary allows"):
			return CauseBoundaryDenies, true
		case has("because no session policy allows"):
			return CauseSessionPolicy, true
		case has("because no resource-based policy allows"):
			return CauseResourcePolicy, true
		case has("because no identity-based policy allows"):
			return CauseNoIdentityAllow, true
		case has("sts:AssumeRole"):
			if has(":assumed-role/") {
				return CauseTargetTrustDenied, true
			}
			return CauseTrustDenied, true
		}
	}
	return "", false
}

// Fix returns what is wrong, in one sentence, and what to do about it,
// with the commands filled in for s.
func Fix(c Cause, s Subject) (problem, fix string) {
	q := ShellQuote
	who := fmt.Sprintf("service account %s/%s of cluster %s", s.Namespace, s.ServiceAccount, s.Cluster)
	role := s.RoleARN
	if role == "" {
		role = arn.Role("aws", orDefault(s.AccountID, "ACCOUNT"), "/", "ROLE-NAME").String()
	}
	roleName := role[strings.LastIndexByte(role, '/')+1:]
	switch c {
	case CauseInvalidClusterName:
		return "the cluster name is not a valid EKS cluster name",
			"use the name the cluster was created or registered with: aws eks list-clusters"
	case CauseMissingAuthentication:
		return "the request to EKS Auth was not signed",
			"give the agent credentials (its Secret from `podid cluster register-self`, or AWS_* variables) and restart it"
	case CauseAgentNotAuthorized:
		return "the agent's identity may not call eks-auth:AssumeRoleForPodIdentity on the cluster",
			fmt.Sprintf("allow it: aws iam put-user-policy --user-name AGENT-USER --policy-name eks-auth --policy-document '{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Action\":\"eks-auth:AssumeRoleForPodIdentity\",\"Resource\":\"arn:aws:eks:*:%s:cluster/%s\"}]}'", orDefault(s.AccountID, "ACCOUNT"), s.Cluster)
	case CauseMalformedToken:
		return "the pod's token is not a JWT",
			"check the pod's projected token volume eks-pod-identity-token (the webhook adds it): kubectl get pod " + orDefault(s.Pod, "POD") + " -n " + q(s.Namespace) + " -o yaml"
	case CauseNoCluster:
		return fmt.Sprintf("podid knows no cluster %s", s.Cluster),
			"register it: podid cluster register-self (in the cluster), or aws eks list-clusters to find its name"
	case CauseThrottled:
		return fmt.Sprintf("EKS Auth's rate limit for cluster %s was exceeded", s.Cluster),
			"the agent retries; if it persists raise podid server --eks-auth-rate-limit or find the pod that restarts in a loop"
	case CauseKeysUnavailable:
		return "podid could not fetch the cluster's service-account signing keys",
			"check the cluster's issuer URL is reachable from podid: aws eks describe-cluster --name " + q(s.Cluster)
	case CauseTokenReviewOff:
		return "the cluster's tokens are checked with TokenReview, which podid cannot reach",
			"re-register the cluster with API access: podid cluster register-self"
	case CauseInvalidToken:
		return "EKS Auth rejected the pod's token (signature, issuer, audience or pod binding)",
			"the pod may be deleted or the cluster re-created; recreate the pod: kubectl delete pod " + orDefault(s.Pod, "POD") + " -n " + q(s.Namespace)
	case CauseExpiredToken:
		return "the pod's token has expired",
			"the kubelet rotates it; check the node's clock and the pod's eks.amazonaws.com/token-expiration annotation"
	case CauseNodeMismatch:
		return "the agent asking is bound to another node than the pod's",
			"each node's agent serves only its own node's pods; check the agent DaemonSet's node credentials"
	case CauseNoAssociation:
		return fmt.Sprintf("no Pod Identity association for %s", who),
			fmt.Sprintf("aws eks create-pod-identity-association --cluster-name %s --namespace %s --service-account %s --role-arn %s",
				q(s.Cluster), q(s.Namespace), q(s.ServiceAccount), role)
	case CauseNotMutated:
		return fmt.Sprintf("pod %s was not mutated by the webhook (created before the association, or while the webhook was down)", orDefault(s.Pod, "POD")),
			fmt.Sprintf("recreate it: kubectl -n %s delete pod %s (its controller makes a new one), or kubectl -n %s rollout restart deployment NAME", q(s.Namespace), orDefault(s.Pod, "POD"), q(s.Namespace))
	case CauseRoleMissing:
		return fmt.Sprintf("the association's role %s does not exist", role),
			fmt.Sprintf("aws iam create-role --role-name %s --assume-role-policy-document '%s'", q(roleName), TrustPolicy)
	case CauseTrustDenied:
		return fmt.Sprintf("role %s does not trust pods.eks.amazonaws.com for sts:AssumeRole and sts:TagSession", role),
			fmt.Sprintf("aws iam update-assume-role-policy --role-name %s --policy-document '%s'", q(roleName), TrustPolicy)
	case CauseTargetTrustDenied:
		target := orDefault(s.TargetRoleARN, "TARGET-ROLE")
		return fmt.Sprintf("the target role %s does not trust the association's role %s", target, role),
			fmt.Sprintf("allow %s sts:AssumeRole and sts:TagSession in %s's trust policy (with the association's external ID as sts:ExternalId if set)", role, target)
	case CauseInvalidSessionPolicy:
		return "the association's session policy is not valid for STS",
			fmt.Sprintf("fix or remove it: aws eks update-pod-identity-association --cluster-name %s --association-id ID --policy file://policy.json", q(s.Cluster))
	case CauseIssuerUnavailable:
		return "the credential issuer (podid's STS or the broker's AWS STS) is unavailable",
			"check podid server's log for the issuer's error; the agent retries"
	case CauseExplicitDeny:
		return fmt.Sprintf("a Deny statement matches %s on %s", orDefault(s.Action, "the action"), orDefault(s.Resource, "the resource")),
			"remove or narrow the Deny; `podid explain` with --action and --resource names the statement"
	case CauseNoIdentityAllow:
		return fmt.Sprintf("no policy of role %s allows %s on %s", role, orDefault(s.Action, "the action"), orDefault(s.Resource, "the resource")),
			fmt.Sprintf("aws iam put-role-policy --role-name %s --policy-name allow --policy-document '{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Action\":\"%s\",\"Resource\":\"%s\"}]}'",
				q(roleName), orDefault(s.Action, "ACTION"), orDefault(s.Resource, "RESOURCE"))
	case CauseBoundaryDenies:
		return fmt.Sprintf("role %s's permissions boundary does not allow %s", role, orDefault(s.Action, "the action")),
			"add the action to the boundary policy, or remove the boundary: aws iam delete-role-permissions-boundary --role-name " + q(roleName)
	case CauseSessionPolicy:
		return fmt.Sprintf("the association's session policy does not allow %s", orDefault(s.Action, "the action")),
			fmt.Sprintf("widen it: aws eks update-pod-identity-association --cluster-name %s --association-id ID --policy file://policy.json", q(s.Cluster))
	case CauseResourcePolicy:
		return "the resource's policy does not allow the pod's role (needed across accounts)",
			"allow the role " + role + " in the resource's policy"
	case CauseInvalidSignature:
		return "the request's credentials or signature were not accepted",
			"the pod must use the credentials the agent serves (AWS_CONTAINER_CREDENTIALS_FULL_URI), not static keys"
	case CauseExpiredCredential:
		return "the pod's credentials have expired",
			"SDKs refresh from the agent before expiry; check the agent is running on the pod's node"
	}
	return "unknown cause " + string(c), "see docs/explain.md"
}

// AllCauses lists every cause, in the order of the constants.
var AllCauses = []Cause{
	CauseInvalidClusterName, CauseMissingAuthentication, CauseAgentNotAuthorized, CauseMalformedToken, CauseNoCluster,
	CauseThrottled, CauseKeysUnavailable, CauseTokenReviewOff, CauseInvalidToken, CauseExpiredToken, CauseNodeMismatch,
	CauseNoAssociation, CauseNotMutated, CauseRoleMissing, CauseTrustDenied, CauseTargetTrustDenied, CauseInvalidSessionPolicy,
	CauseIssuerUnavailable, CauseExplicitDeny, CauseNoIdentityAllow, CauseBoundaryDenies, CauseSessionPolicy,
	CauseResourcePolicy, CauseInvalidSignature, CauseExpiredCredential,
}

// TrustPolicy is the trust policy a Pod Identity role needs.
const TrustPolicy = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"pods.eks.amazonaws.com"},"Action":["sts:AssumeRole","sts:TagSession"]}]}`

// Command is the `podid explain` command line for s (with --action and
// --resource when set), for messages that point to it.
func Command(s Subject) string {
	var b strings.Builder
	fmt.Fprintf(&b, "podid explain --cluster %s --namespace %s --service-account %s", ShellQuote(s.Cluster), ShellQuote(s.Namespace), ShellQuote(s.ServiceAccount))
	if s.Pod != "" {
		fmt.Fprintf(&b, " --pod %s", ShellQuote(s.Pod))
	}
	if s.Action != "" {
		fmt.Fprintf(&b, " --action %s", ShellQuote(s.Action))
	}
	if s.Resource != "" {
		fmt.Fprintf(&b, " --resource %s", ShellQuote(s.Resource))
	}
	return b.String()
}

// ShellQuote quotes s for a POSIX shell when it needs it.
func ShellQuote(s string) string {
	if s == "" {
		return "''"
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./:=@,+*", r)) {
			return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
		}
	}
	if strings.Contains(s, "*") {
		return "'" + s + "'"
	}
	return s
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}
