// Package awscreds holds the temporary credentials of a role session and
// its session tags: the one type STS issues (sts.IssuedCredentials), EKS
// Auth's credential issuers return (eksauth.Credentials) and the broker
// gets from real AWS STS, so that wiring them together copies nothing.
package awscreds

import "time"

// Credentials are a role session's temporary credentials.
type Credentials struct {
	AccessKeyID     string
	SecretAccessKey string
	SessionToken    string
	Expiration      time.Time
	// AssumedRoleARN is arn:P:sts::ACCT:assumed-role/ROLE/SESSION.
	AssumedRoleARN string
	// AssumedRoleID is ROLEID:SESSION.
	AssumedRoleID string
	// PackedPolicySize is the packed size percentage of the session's
	// policies and tags (0 when none was passed).
	PackedPolicySize int
}

// Tag is a session tag.
type Tag struct {
	Key   string
	Value string
}
