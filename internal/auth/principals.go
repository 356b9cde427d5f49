package auth

import (
	"github.com/podid/podid/internal/arn"
	"github.com/podid/podid/internal/store"
)

// RootARN returns the ARN of the account root (arn:P:iam::ACCT:root).
func RootARN(partition, account string) string {
	return arn.Root(partition, account).String()
}

// AssumedRoleARN returns the ARN of a role session as GetCallerIdentity
// prints it: arn:P:sts::ACCT:assumed-role/ROLE/SESSION (no role path).
func AssumedRoleARN(partition, account, roleName, sessionName string) string {
	return arn.AssumedRole(partition, account, roleName, sessionName).String()
}

// AssumedRoleID returns a role session's unique ID: ROLEID:SESSION.
func AssumedRoleID(roleID, sessionName string) string {
	return roleID + ":" + sessionName
}

// RootPrincipal returns the account root as a caller.
func RootPrincipal(partition, account, accessKeyID string) *Principal {
	return &Principal{
		Type:        Root,
		AccountID:   account,
		ARN:         RootARN(partition, account),
		UserID:      account,
		AccessKeyID: accessKeyID,
	}
}

// UserPrincipal returns an IAM user as a caller.
func UserPrincipal(u *store.User, account, accessKeyID string) *Principal {
	return &Principal{
		Type:        User,
		AccountID:   account,
		ARN:         u.ARN,
		UserID:      u.ID,
		AccessKeyID: accessKeyID,
		Name:        u.Name,
	}
}

// RoleSessionPrincipal returns the caller of an assumed-role session.
func RoleSessionPrincipal(partition, account, accessKeyID string, s *Session) *Principal {
	return &Principal{
		Type:        AssumedRole,
		AccountID:   account,
		ARN:         AssumedRoleARN(partition, account, s.RoleName, s.SessionName),
		UserID:      AssumedRoleID(s.RoleID, s.SessionName),
		AccessKeyID: accessKeyID,
		Name:        s.RoleName,
		Session:     s,
	}
}
