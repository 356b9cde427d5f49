package arn

import "strings"

// Length limits from the IAM, STS and EKS API models.
const (
	MinARNLen         = 20   // IAM arnType
	MaxARNLen         = 2048 // IAM arnType
	MaxPathLen        = 512  // IAM pathType, policyPathType
	MaxRoleNameLen    = 64   // IAM roleNameType
	MaxUserNameLen    = 64   // IAM userNameType
	MaxPolicyNameLen  = 128  // IAM policyNameType
	MinSessionNameLen = 2    // STS roleSessionNameType
	MaxSessionNameLen = 64   // STS roleSessionNameType
	MaxClusterNameLen = 100  // EKS clusterName
)

// partitions are the AWS partitions.
var partitions = []string{"aws", "aws-cn", "aws-us-gov", "aws-iso", "aws-iso-b", "aws-iso-e", "aws-iso-f", "aws-eusc"}

// IsValidPartition reports whether s is an AWS partition name.
func IsValidPartition(s string) bool {
	for _, p := range partitions {
		if s == p {
			return true
		}
	}
	return false
}

// IsValidRegion reports whether s has the shape of an AWS region name:
// lowercase words joined by dashes, ending in a number (us-east-1,
// us-gov-west-1, eusc-de-east-1).
func IsValidRegion(s string) bool {
	words := strings.Split(s, "-")
	if len(words) < 3 || len(s) > 32 {
		return false
	}
	for i, w := range words {
		if w == "" {
			return false
		}
		last := i == len(words)-1
		for j := 0; j < len(w); j++ {
			c := w[j]
			if last && (c < '0' || c > '9') || !last && (c < 'a' || c > 'z') {
				return false
			}
		}
	}
	return len(words[len(words)-1]) <= 2
}

// IsValidAccountID reports whether s is a 12-digit AWS account ID.
func IsValidAccountID(s string) bool {
	if len(s) != 12 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// IsValidIAMPath reports whether s is a valid path for IAM users and roles
// (pathType): "/" or "/…/" of printable ASCII, at most 512 characters.
func IsValidIAMPath(s string) bool {
	if len(s) < 1 || len(s) > MaxPathLen || s[0] != '/' || s[len(s)-1] != '/' {
		return false
	}
	if s == "/" {
		return true
	}
	if len(s) < 3 {
		return false
	}
	for i := 1; i < len(s)-1; i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// IsValidPolicyPath reports whether s is a valid managed policy path
// (policyPathType): "/" or slash-separated segments of A-Z a-z 0-9 and
// .,+@=_- with leading and trailing slashes, at most 512 characters.
func IsValidPolicyPath(s string) bool {
	if len(s) < 1 || len(s) > MaxPathLen || s[0] != '/' || s[len(s)-1] != '/' {
		return false
	}
	if s == "/" {
		return true
	}
	for _, seg := range strings.Split(s[1:len(s)-1], "/") {
		if seg == "" {
			return false
		}
		for i := 0; i < len(seg); i++ {
			c := seg[i]
			if !isWordByte(c) && strings.IndexByte(".,+@=-", c) < 0 {
				return false
			}
		}
	}
	return true
}

// IsValidRoleName reports whether s is a valid IAM role name:
// 1–64 characters of A-Z a-z 0-9 and +=,.@_-.
func IsValidRoleName(s string) bool { return isIAMName(s, 1, MaxRoleNameLen) }

// IsValidUserName reports whether s is a valid IAM user name (as role names).
func IsValidUserName(s string) bool { return isIAMName(s, 1, MaxUserNameLen) }

// IsValidPolicyName reports whether s is a valid managed policy name:
// 1–128 characters of A-Z a-z 0-9 and +=,.@_-.
func IsValidPolicyName(s string) bool { return isIAMName(s, 1, MaxPolicyNameLen) }

// IsValidSessionName reports whether s is a valid role session name:
// 2–64 characters of A-Z a-z 0-9 and +=,.@_-.
func IsValidSessionName(s string) bool {
	return isIAMName(s, MinSessionNameLen, MaxSessionNameLen)
}

// IsValidClusterName reports whether s is a valid EKS cluster name: 1–100
// characters of A-Z a-z 0-9 - _, starting with a letter or digit.
func IsValidClusterName(s string) bool {
	if len(s) < 1 || len(s) > MaxClusterNameLen || s[0] == '-' || s[0] == '_' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !isWordByte(c) && c != '-' {
			return false
		}
	}
	return true
}

// IsValidRoleARN reports whether s is the ARN of an IAM role as IAM and EKS
// accept it: arn:PARTITION:iam::ACCOUNT:role/PATH/NAME with a known
// partition, no region, a 12-digit account, a valid path and role name.
func IsValidRoleARN(s string) bool {
	a, ok := parseIAM(s)
	if !ok {
		return false
	}
	typ, path, name, ok := a.IAMResource()
	return ok && typ == "role" && IsValidIAMAccount(a.AccountID, false) && IsValidIAMPath(path) && IsValidRoleName(name)
}

// IsValidUserARN reports whether s is the ARN of an IAM user.
func IsValidUserARN(s string) bool {
	a, ok := parseIAM(s)
	if !ok {
		return false
	}
	typ, path, name, ok := a.IAMResource()
	return ok && typ == "user" && IsValidIAMAccount(a.AccountID, false) && IsValidIAMPath(path) && IsValidUserName(name)
}

// IsValidPolicyARN reports whether s is the ARN of a managed policy,
// customer managed (12-digit account) or AWS managed (account "aws").
func IsValidPolicyARN(s string) bool {
	a, ok := parseIAM(s)
	if !ok {
		return false
	}
	typ, path, name, ok := a.IAMResource()
	return ok && typ == "policy" && IsValidIAMAccount(a.AccountID, true) && IsValidPolicyPath(path) && IsValidPolicyName(name)
}

// IsValidIAMAccount reports whether s is the account section of an IAM ARN:
// 12 digits, or "aws" for AWS managed policies when awsManaged is true.
func IsValidIAMAccount(s string, awsManaged bool) bool {
	return IsValidAccountID(s) || (awsManaged && s == "aws")
}

// parseIAM parses s as an ARN of the iam service with no region, within
// IAM's length bounds and in a known partition.
func parseIAM(s string) (ARN, bool) {
	if len(s) < MinARNLen || len(s) > MaxARNLen {
		return ARN{}, false
	}
	a, err := Parse(s)
	if err != nil || a.Service != "iam" || a.Region != "" || !IsValidPartition(a.Partition) {
		return ARN{}, false
	}
	return a, true
}

func isIAMName(s string, min, max int) bool {
	if len(s) < min || len(s) > max {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !isWordByte(c) && strings.IndexByte("+=,.@-", c) < 0 {
			return false
		}
	}
	return true
}

// isWordByte reports whether c is in ASCII \w: A-Z a-z 0-9 _.
func isWordByte(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '_'
}
