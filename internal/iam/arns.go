package iam

import (
	"strings"

	"github.com/podid/podid/internal/arn"
)

// entityARN is arn:PARTITION:iam::ACCOUNT:KIND/PATH/NAME, where path is
// "/" or "/a/b/" (an empty path means "/").
func (s *Service) entityARN(kind, path, name string) string {
	if path == "" {
		path = "/"
	}
	return arn.ARN{Partition: s.partition, Service: "iam", AccountID: s.account, Resource: kind + path + name}.String()
}

func (s *Service) roleARN(path, name string) string   { return s.entityARN("role", path, name) }
func (s *Service) userARN(path, name string) string   { return s.entityARN("user", path, name) }
func (s *Service) policyARN(path, name string) string { return s.entityARN("policy", path, name) }
func (s *Service) rootARN() string                    { return arn.Root(s.partition, s.account).String() }

func (s *Service) oidcARN(hostPath string) string {
	return arn.OIDCProvider(s.partition, s.account, hostPath).String()
}

// iamARN is a parsed IAM ARN.
type iamARN struct {
	partition string
	account   string
	kind      string // role, user, policy, oidc-provider, …
	path      string // "/" or "/a/b/"
	name      string // the last segment (for oidc-provider: host and path)
}

// parseIAMARN splits arn:PARTITION:iam::ACCOUNT:KIND/[PATH/]NAME. ok is
// false when the text is not such an ARN.
func parseIAMARN(s string) (iamARN, bool) {
	p, err := arn.Parse(s)
	if err != nil || p.Service != "iam" || p.Region != "" || p.AccountID == "" {
		return iamARN{}, false
	}
	if host, ok := strings.CutPrefix(p.Resource, "oidc-provider/"); ok {
		if host == "" {
			return iamARN{}, false
		}
		return iamARN{partition: p.Partition, account: p.AccountID, kind: "oidc-provider", path: "/", name: host}, true
	}
	kind, path, name, ok := p.IAMResource()
	if !ok || strings.Contains(path, "//") {
		return iamARN{}, false
	}
	return iamARN{partition: p.Partition, account: p.AccountID, kind: kind, path: path, name: name}, true
}

// parsePolicyARN accepts a managed policy ARN; anything else is
// InvalidInput "ARN X is not valid.", as IAM answers.
func parsePolicyARN(s string) (iamARN, error) {
	a, ok := parseIAMARN(s)
	if !ok || a.kind != "policy" {
		return iamARN{}, invalidInput("ARN %s is not valid.", s)
	}
	return a, nil
}

// local reports whether a parsed ARN names an entity of this account.
func (s *Service) local(a iamARN) bool {
	return a.partition == s.partition && a.account == s.account
}
