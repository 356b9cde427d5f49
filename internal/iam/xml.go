package iam

import (
	"time"

	"github.com/podid/podid/internal/awsproto"
	"github.com/podid/podid/internal/store"
)

// The XML shapes of IAM's responses, element for element as the IAM model
// (botocore iam/2010-05-08, Go SDK v2 service/iam) names them. Lists are
// <member> elements; policy documents are URL-encoded
// (awsproto.EncodePolicyDocument); dates are ISO 8601 UTC with Z.

// members is an awsQuery list: <Name><member>…</member>…</Name>.
type members[T any] struct {
	Members []T `xml:"member"`
}

func listOf[T any](items []T) members[T] { return members[T]{Members: items} }

func isoDate(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02T15:04:05Z")
}

type tagXML struct {
	Key   string `xml:"Key"`
	Value string `xml:"Value"`
}

func tagsXML(tags []store.Tag) []tagXML {
	out := make([]tagXML, len(tags))
	for i, t := range tags {
		out[i] = tagXML(t)
	}
	return out
}

// optionalTags is the Tags member of an entity: absent when there are none.
func optionalTags(tags []store.Tag) *members[tagXML] {
	if len(tags) == 0 {
		return nil
	}
	l := listOf(tagsXML(tags))
	return &l
}

type boundaryXML struct {
	PermissionsBoundaryType string `xml:"PermissionsBoundaryType"`
	PermissionsBoundaryArn  string `xml:"PermissionsBoundaryArn"`
}

func optionalBoundary(arn string) *boundaryXML {
	if arn == "" {
		return nil
	}
	return &boundaryXML{PermissionsBoundaryType: "PermissionsBoundaryPolicy", PermissionsBoundaryArn: arn}
}

type roleLastUsedXML struct {
	LastUsedDate string `xml:"LastUsedDate,omitempty"`
	Region       string `xml:"Region,omitempty"`
}

type roleXML struct {
	Path                     string           `xml:"Path"`
	RoleName                 string           `xml:"RoleName"`
	RoleID                   string           `xml:"RoleId"`
	Arn                      string           `xml:"Arn"`
	CreateDate               string           `xml:"CreateDate"`
	AssumeRolePolicyDocument string           `xml:"AssumeRolePolicyDocument,omitempty"`
	Description              string           `xml:"Description,omitempty"`
	MaxSessionDuration       int              `xml:"MaxSessionDuration,omitempty"`
	PermissionsBoundary      *boundaryXML     `xml:"PermissionsBoundary,omitempty"`
	Tags                     *members[tagXML] `xml:"Tags,omitempty"`
	RoleLastUsed             *roleLastUsedXML `xml:"RoleLastUsed,omitempty"`
}

// roleView selects the members a response shows: ListRoles leaves out
// the boundary, tags and last use; GetRole shows everything.
type roleView int

const (
	roleListed  roleView = iota // ListRoles
	roleCreated                 // CreateRole
	roleFull                    // GetRole
)

func toRoleXML(r *store.Role, view roleView) roleXML {
	x := roleXML{
		Path:                     r.Path,
		RoleName:                 r.Name,
		RoleID:                   r.ID,
		Arn:                      r.ARN,
		CreateDate:               isoDate(r.CreatedAt),
		AssumeRolePolicyDocument: awsproto.EncodePolicyDocument(r.AssumeRolePolicy),
		Description:              r.Description,
		MaxSessionDuration:       r.MaxSessionDuration,
	}
	if view >= roleCreated {
		x.PermissionsBoundary = optionalBoundary(r.PermissionsBoundary)
		x.Tags = optionalTags(r.Tags)
	}
	if view == roleFull {
		x.RoleLastUsed = &roleLastUsedXML{}
		if !r.LastUsedAt.IsZero() {
			x.RoleLastUsed.LastUsedDate = isoDate(r.LastUsedAt)
			x.RoleLastUsed.Region = r.LastUsedRegion
		}
	}
	return x
}

type policyXML struct {
	PolicyName                    string           `xml:"PolicyName"`
	PolicyID                      string           `xml:"PolicyId"`
	Arn                           string           `xml:"Arn"`
	Path                          string           `xml:"Path"`
	DefaultVersionID              string           `xml:"DefaultVersionId"`
	AttachmentCount               int              `xml:"AttachmentCount"`
	PermissionsBoundaryUsageCount int              `xml:"PermissionsBoundaryUsageCount"`
	IsAttachable                  bool             `xml:"IsAttachable"`
	Description                   string           `xml:"Description,omitempty"`
	CreateDate                    string           `xml:"CreateDate"`
	UpdateDate                    string           `xml:"UpdateDate"`
	Tags                          *members[tagXML] `xml:"Tags,omitempty"`
}

// toPolicyXML renders a managed policy; listed leaves out the description
// and tags, as ListPolicies does.
func toPolicyXML(p *Policy, listed bool) policyXML {
	x := policyXML{
		PolicyName:                    p.Name,
		PolicyID:                      p.ID,
		Arn:                           p.ARN,
		Path:                          p.Path,
		DefaultVersionID:              p.DefaultVersionID,
		AttachmentCount:               p.AttachmentCount,
		PermissionsBoundaryUsageCount: p.PermissionsBoundaryUsageCount,
		IsAttachable:                  true,
		CreateDate:                    isoDate(p.CreatedAt),
		UpdateDate:                    isoDate(p.UpdatedAt),
	}
	if !listed {
		x.Description = p.Description
		x.Tags = optionalTags(p.Tags)
	}
	return x
}

type policyVersionXML struct {
	Document         string `xml:"Document,omitempty"`
	VersionID        string `xml:"VersionId"`
	IsDefaultVersion bool   `xml:"IsDefaultVersion"`
	CreateDate       string `xml:"CreateDate"`
}

// toPolicyVersionXML renders a version, with its URL-encoded document when
// withDocument (GetPolicyVersion); CreatePolicyVersion and
// ListPolicyVersions leave the document out, as IAM does.
func toPolicyVersionXML(v *store.PolicyVersion, withDocument bool) policyVersionXML {
	x := policyVersionXML{VersionID: v.VersionID, IsDefaultVersion: v.IsDefault, CreateDate: isoDate(v.CreatedAt)}
	if withDocument {
		x.Document = awsproto.EncodePolicyDocument(v.Document)
	}
	return x
}

type userXML struct {
	Path                string           `xml:"Path,omitempty"`
	UserName            string           `xml:"UserName,omitempty"`
	UserID              string           `xml:"UserId"`
	Arn                 string           `xml:"Arn"`
	CreateDate          string           `xml:"CreateDate,omitempty"`
	PasswordLastUsed    string           `xml:"PasswordLastUsed,omitempty"`
	PermissionsBoundary *boundaryXML     `xml:"PermissionsBoundary,omitempty"`
	Tags                *members[tagXML] `xml:"Tags,omitempty"`
}

// toUserXML renders a user; listed leaves out the boundary and tags, as
// ListUsers does. PasswordLastUsed is the last console sign-in (kept
// after the login profile is deleted, as IAM does), absent when there was
// none.
func toUserXML(u *store.User, listed bool) userXML {
	x := userXML{Path: u.Path, UserName: u.Name, UserID: u.ID, Arn: u.ARN, CreateDate: isoDate(u.CreatedAt), PasswordLastUsed: isoDate(u.PasswordLastUsed)}
	if !listed {
		x.PermissionsBoundary = optionalBoundary(u.PermissionsBoundary)
		x.Tags = optionalTags(u.Tags)
	}
	return x
}

type accessKeyXML struct {
	UserName        string `xml:"UserName,omitempty"`
	AccessKeyID     string `xml:"AccessKeyId"`
	Status          string `xml:"Status"`
	SecretAccessKey string `xml:"SecretAccessKey"`
	CreateDate      string `xml:"CreateDate"`
}

type accessKeyMetadataXML struct {
	UserName    string `xml:"UserName,omitempty"`
	AccessKeyID string `xml:"AccessKeyId"`
	Status      string `xml:"Status"`
	CreateDate  string `xml:"CreateDate"`
}

type attachedPolicyXML struct {
	PolicyName string `xml:"PolicyName"`
	PolicyArn  string `xml:"PolicyArn"`
}

type oidcListEntryXML struct {
	Arn string `xml:"Arn"`
}

// Results, one per action with an output.

type roleResult struct {
	Role roleXML `xml:"Role"`
}

type listRolesResult struct {
	Roles       members[roleXML] `xml:"Roles"`
	IsTruncated bool             `xml:"IsTruncated"`
	Marker      string           `xml:"Marker,omitempty"`
}

type listTagsResult struct {
	Tags        members[tagXML] `xml:"Tags"`
	IsTruncated bool            `xml:"IsTruncated"`
	Marker      string          `xml:"Marker,omitempty"`
}

type policyResult struct {
	Policy policyXML `xml:"Policy"`
}

type listPoliciesResult struct {
	Policies    members[policyXML] `xml:"Policies"`
	IsTruncated bool               `xml:"IsTruncated"`
	Marker      string             `xml:"Marker,omitempty"`
}

type policyVersionResult struct {
	PolicyVersion policyVersionXML `xml:"PolicyVersion"`
}

type listPolicyVersionsResult struct {
	Versions    members[policyVersionXML] `xml:"Versions"`
	IsTruncated bool                      `xml:"IsTruncated"`
	Marker      string                    `xml:"Marker,omitempty"`
}

type listAttachedResult struct {
	AttachedPolicies members[attachedPolicyXML] `xml:"AttachedPolicies"`
	IsTruncated      bool                       `xml:"IsTruncated"`
	Marker           string                     `xml:"Marker,omitempty"`
}

type getRolePolicyResult struct {
	RoleName       string `xml:"RoleName"`
	PolicyName     string `xml:"PolicyName"`
	PolicyDocument string `xml:"PolicyDocument"`
}

type getUserPolicyResult struct {
	UserName       string `xml:"UserName"`
	PolicyName     string `xml:"PolicyName"`
	PolicyDocument string `xml:"PolicyDocument"`
}

type listPolicyNamesResult struct {
	PolicyNames members[string] `xml:"PolicyNames"`
	IsTruncated bool            `xml:"IsTruncated"`
	Marker      string          `xml:"Marker,omitempty"`
}

type userResult struct {
	User userXML `xml:"User"`
}

type listUsersResult struct {
	Users       members[userXML] `xml:"Users"`
	IsTruncated bool             `xml:"IsTruncated"`
	Marker      string           `xml:"Marker,omitempty"`
}

type createAccessKeyResult struct {
	AccessKey accessKeyXML `xml:"AccessKey"`
}

type listAccessKeysResult struct {
	AccessKeyMetadata members[accessKeyMetadataXML] `xml:"AccessKeyMetadata"`
	IsTruncated       bool                          `xml:"IsTruncated"`
	Marker            string                        `xml:"Marker,omitempty"`
}

type createOIDCResult struct {
	OpenIDConnectProviderArn string           `xml:"OpenIDConnectProviderArn"`
	Tags                     *members[tagXML] `xml:"Tags,omitempty"`
}

type getOIDCResult struct {
	URL            string           `xml:"Url"`
	ClientIDList   members[string]  `xml:"ClientIDList"`
	ThumbprintList members[string]  `xml:"ThumbprintList"`
	CreateDate     string           `xml:"CreateDate"`
	Tags           *members[tagXML] `xml:"Tags,omitempty"`
}

type listOIDCResult struct {
	OpenIDConnectProviderList members[oidcListEntryXML] `xml:"OpenIDConnectProviderList"`
}

type loginProfileXML struct {
	UserName              string `xml:"UserName"`
	CreateDate            string `xml:"CreateDate"`
	PasswordResetRequired bool   `xml:"PasswordResetRequired"`
}

type loginProfileResult struct {
	LoginProfile loginProfileXML `xml:"LoginProfile"`
}

// passwordPolicyXML is GetAccountPasswordPolicy's PasswordPolicy (field
// for field PasswordPolicy, which converts to it): MaxPasswordAge,
// PasswordReusePrevention and HardExpiry appear only when the policy sets
// them.
type passwordPolicyXML struct {
	MinimumPasswordLength      int   `xml:"MinimumPasswordLength"`
	RequireSymbols             bool  `xml:"RequireSymbols"`
	RequireNumbers             bool  `xml:"RequireNumbers"`
	RequireUppercaseCharacters bool  `xml:"RequireUppercaseCharacters"`
	RequireLowercaseCharacters bool  `xml:"RequireLowercaseCharacters"`
	AllowUsersToChangePassword bool  `xml:"AllowUsersToChangePassword"`
	ExpirePasswords            bool  `xml:"ExpirePasswords"`
	MaxPasswordAge             int   `xml:"MaxPasswordAge,omitempty"`
	PasswordReusePrevention    int   `xml:"PasswordReusePrevention,omitempty"`
	HardExpiry                 *bool `xml:"HardExpiry,omitempty"`
}

type getPasswordPolicyResult struct {
	PasswordPolicy passwordPolicyXML `xml:"PasswordPolicy"`
}
