package iam

import (
	"strings"
)

// entityARN is arn:PARTITION:iam::ACCOUNT:KIND/PATH/NAME, where path is
// "/" or "/a/b/" (an empty path means "/").
func (s *Service) entityARN(kind, path, name string) string {
	if path == "" {
		path = "/"
	}
	return "arn:" + s.partition + ":iam::" + s.account + ":" + kind + path + name
}

func (s *Service) roleARN(path, name string) string   { return s.entityARN("role", path, name) }
func (s *Service) userARN(path, name string) string   { return s.entityARN("user", path, name) }
func (s *Service) policyARN(path, name string) string { return s.entityARN("policy", path, name) }
func (s *Service) rootARN() string                    { return "arn:" + s.partition + ":iam::" + s.account + ":root" }

func (s *Service) oidcARN(hostPath string) string {
	return "arn:" + s.partition + ":iam::" + s.account + ":oidc-provider/" + hostPath
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
	parts := strings.SplitN(s, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" || parts[1] == "" || parts[2] != "iam" || parts[3] != "" || parts[4] == "" {
		return iamARN{}, false
	}
	res := parts[5]
	slash := strings.IndexByte(res, '/')
	if slash <= 0 || slash == len(res)-1 {
		return iamARN{}, false
	}
	a := iamARN{partition: parts[1], account: parts[4], kind: res[:slash]}
	rest := res[slash+1:]
	if a.kind == "oidc-provider" {
		a.path, a.name = "/", rest
		return a, true
	}
	last := strings.LastIndexByte(rest, '/')
	a.path = "/" + rest[:last+1]
	a.name = rest[last+1:]
	if a.name == "" || strings.Contains(a.path, "//") {
		return iamARN{}, false
	}
	return a, true
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
