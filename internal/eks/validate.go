package eks

import (
	"encoding/json"
	"errors"
	"strings"
	"unicode/utf8"

	"github.com/podid/podid/internal/arn"
	"github.com/podid/podid/internal/eks/issuer"
	"github.com/podid/podid/internal/ids"
	"github.com/podid/podid/internal/policy"
)

// Limits of EKS inputs.
const (
	maxTags         = 50
	maxTagKey       = 128
	maxTagValue     = 256
	maxPolicyLen    = 2048 // STS's session policy limit
	maxRequestToken = 256
	maxResultsLimit = 100
	maxConfigValues = 16 << 10
	podIdentityAud  = "pods.eks.amazonaws.com"
)

// validClusterName reports whether s is a syntactically valid cluster name.
func validClusterName(s string) bool { return arn.IsValidClusterName(s) }

// checkNewClusterName validates the name of a cluster being created.
func checkNewClusterName(name string) error {
	if name == "" {
		return invalidParam("", "The parameter name must not be empty.")
	}
	if !validClusterName(name) {
		return invalidParam(name, "The cluster name %q is not valid: it must be 1 to 100 characters, start with a letter or digit and contain only letters, digits, hyphens and underscores.", truncate(name, 120))
	}
	return nil
}

// roleARNParts splits a role ARN into account and name; ok is false when
// s is not a role ARN.
func roleARNParts(s string) (account, name string, ok bool) {
	if !arn.IsValidRoleARN(s) {
		return "", "", false
	}
	a, _ := arn.Parse(s)
	name, _ = a.RoleName()
	return a.AccountID, name, true
}

// checkTags validates a tag map. code is the error code to use
// (InvalidParameterException on create, BadRequestException on TagResource).
func checkTags(tags map[string]string, mk func(format string, args ...any) *Error) error {
	if len(tags) > maxTags {
		return mk("The number of tags (%d) exceeds the limit of %d.", len(tags), maxTags)
	}
	for k, v := range tags {
		if k == "" || utf8.RuneCountInString(k) > maxTagKey {
			return mk("Tag keys must be between 1 and %d characters long.", maxTagKey)
		}
		if utf8.RuneCountInString(v) > maxTagValue {
			return mk("The value of tag %q is longer than %d characters.", truncate(k, 128), maxTagValue)
		}
		if strings.HasPrefix(strings.ToLower(k), "aws:") {
			return mk("Tag key %q uses the reserved prefix aws:.", truncate(k, 128))
		}
		if !utf8.ValidString(k) || !utf8.ValidString(v) {
			return mk("Tag keys and values must be valid UTF-8.")
		}
	}
	return nil
}

// checkNamespace validates a Kubernetes namespace parameter.
func checkNamespace(cluster, ns string) error {
	if ns == "" {
		return invalidParam(cluster, "The parameter namespace must not be empty.")
	}
	if !issuer.IsDNSLabel(ns) {
		return invalidParam(cluster, "The parameter namespace %q is not a valid Kubernetes namespace name: it must be a lowercase RFC 1123 label of at most 63 characters.", truncate(ns, 80))
	}
	return nil
}

// checkServiceAccount validates a Kubernetes service account parameter.
func checkServiceAccount(cluster, sa string) error {
	if sa == "" {
		return invalidParam(cluster, "The parameter serviceAccount must not be empty.")
	}
	if !issuer.IsDNSSubdomain(sa) {
		return invalidParam(cluster, "The parameter serviceAccount %q is not a valid Kubernetes service account name: it must be a lowercase RFC 1123 subdomain of at most 253 characters.", truncate(sa, 80))
	}
	return nil
}

// checkAssociationID validates an associationId path label.
func checkAssociationID(cluster, id string) error {
	if len(id) != ids.AssociationIDLen {
		return invalidParam(cluster, "The parameter associationId should be %d characters long.", ids.AssociationIDLen)
	}
	if !ids.IsAssociationID(id) {
		return invalidParam(cluster, "The parameter associationId must be a- followed by 17 lowercase letters or digits.")
	}
	return nil
}

// checkPolicyDocument validates a session policy document.
func checkPolicyDocument(cluster, doc string) error {
	if len(doc) > maxPolicyLen {
		return invalidParam(cluster, "The parameter policy must be at most %d characters long.", maxPolicyLen)
	}
	var v map[string]json.RawMessage
	if err := json.Unmarshal([]byte(doc), &v); err != nil {
		return invalidParam(cluster, "The parameter policy is not a valid JSON policy document.")
	}
	if _, ok := v["Statement"]; !ok {
		return invalidParam(cluster, "The parameter policy is not a valid JSON policy document: it has no Statement.")
	}
	// The rules STS applies to a session policy, checked now rather than
	// at every pod's credential request.
	if err := policy.Validate(doc, policy.KindSession); err != nil {
		msg := err.Error()
		var ve *policy.ValidationError
		if errors.As(err, &ve) {
			msg = ve.Message
		}
		return invalidParam(cluster, "The parameter policy is not a valid session policy: %s", msg)
	}
	return nil
}

// trustsPodIdentity reports whether a role trust policy has an Allow
// statement that lets the service principal pods.eks.amazonaws.com call
// sts:AssumeRole (by name or through a wildcard such as sts:Assume*).
func trustsPodIdentity(doc string) bool {
	var p struct {
		Statement json.RawMessage
	}
	if json.Unmarshal([]byte(doc), &p) != nil {
		return false
	}
	var stmts []json.RawMessage
	if json.Unmarshal(p.Statement, &stmts) != nil {
		stmts = []json.RawMessage{p.Statement}
	}
	for _, raw := range stmts {
		var st struct {
			Effect    string
			Principal json.RawMessage
			Action    json.RawMessage
		}
		if json.Unmarshal(raw, &st) != nil || st.Effect != "Allow" {
			continue
		}
		var pr struct {
			Service json.RawMessage
		}
		if json.Unmarshal(st.Principal, &pr) != nil || !containsFold(stringOrList(pr.Service), podIdentityAud) {
			continue
		}
		for _, a := range stringOrList(st.Action) {
			if wildcardMatch(strings.ToLower(a), "sts:assumerole") {
				return true
			}
		}
	}
	return false
}

// wildcardMatch reports whether s matches pattern, where '*' matches any
// run of characters and '?' any one, as in IAM's Action element.
func wildcardMatch(pattern, s string) bool {
	// Iterative matching with backtracking to the last '*'.
	p, i, star, mark := 0, 0, -1, 0
	for i < len(s) {
		switch {
		case p < len(pattern) && (pattern[p] == '?' || pattern[p] == s[i]):
			p++
			i++
		case p < len(pattern) && pattern[p] == '*':
			star, mark = p, i
			p++
		case star >= 0:
			p = star + 1
			mark++
			i = mark
		default:
			return false
		}
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}

// stringOrList decodes an IAM "string or list of strings" value.
func stringOrList(raw json.RawMessage) []string {
	var one string
	if json.Unmarshal(raw, &one) == nil {
		return []string{one}
	}
	var many []string
	if json.Unmarshal(raw, &many) == nil {
		return many
	}
	return nil
}

func containsFold(list []string, s string) bool {
	for _, v := range list {
		if strings.EqualFold(v, s) {
			return true
		}
	}
	return false
}

// truncate shortens s for an error message.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
