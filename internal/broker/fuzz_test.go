package broker

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/podid/podid/internal/policy"
)

// FuzzParseDenied: STS's error messages come from the network; reading
// them never panics and finds the caller and action only in AWS's
// sentence.
func FuzzParseDenied(f *testing.F) {
	for _, s := range []string{
		"User: " + brokerARN + " is not authorized to perform: sts:TagSession on resource: " + roleA,
		"User: arn:aws:sts::1:assumed-role/r/s is not authorized to perform: sts:AssumeRole on resource: " + roleA + " because no identity-based policy allows the sts:AssumeRole action",
		"User:  is not authorized to perform:  on resource: ",
		"Roles may not be assumed by root accounts.",
		"",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, msg string) {
		caller, action, ok := parseDenied(msg)
		if !ok {
			return
		}
		if caller == "" || action == "" || strings.ContainsAny(caller+action, " \t\n") || !strings.Contains(msg, caller) || !strings.Contains(msg, action) {
			t.Errorf("parseDenied(%q) = %q, %q", msg, caller, action)
		}
	})
}

// FuzzCheckTrust: trust policies come from IAM (GetRole); checking any
// document against any use never panics and always says something
// meaningful.
func FuzzCheckTrust(f *testing.F) {
	seeds := []string{
		`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"` + brokerARN + `"},"Action":["sts:AssumeRole","sts:TagSession","sts:SetSourceIdentity"],"Condition":{"StringEquals":{"aws:RequestTag/kubernetes-namespace":"carts"}}}]}`,
		`{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":"*","NotAction":"iam:*"}}`,
		`{"Version":"2012-10-17","Statement":[{"Effect":"Deny","NotPrincipal":{"AWS":"` + roleA + `"},"Action":"sts:*","Condition":{"StringNotLike":{"sts:SourceIdentity":"*@*"}}}]}`,
		`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"pods.eks.amazonaws.com"},"Action":"sts:AssumeRole","Condition":{"ArnLike":{"aws:SourceArn":"arn:aws:eks:*:*:cluster/*"}}}]}`,
		`%7B%22Statement%22%3A%5B%5D%7D`,
		`{`,
	}
	for i, s := range seeds {
		f.Add(s, uint8(i))
	}
	f.Fuzz(func(t *testing.T, doc string, variant uint8) {
		doc = DecodePolicyDocument(doc)
		u := Use{ClusterARN: cluster, Namespace: "carts", ServiceAccount: "carts", SessionTags: variant&1 == 0}
		if variant&2 != 0 {
			u.Target, u.FirstRoleARN, u.ExternalID = true, roleA, "ext"
		}
		mode, p := ModeBroker, Principal{AWS: brokerARN}
		if variant&4 != 0 {
			mode, p = ModeLocal, Principal{Service: ServicePrincipal}
		}
		for _, f := range CheckTrust(doc, roleB, mode, p, u, t0) {
			if (f.Severity != SeverityRefuses && f.Severity != SeverityTooOpen) || f.Message == "" || !utf8.ValidString(f.Severity) {
				t.Errorf("finding %+v", f)
			}
		}
		if c, err := policy.Compile(doc); err == nil {
			admits(c, roleB, p)
		}
	})
}
