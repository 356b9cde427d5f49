package iam

import (
	"context"
	"maps"
	"net/http"
	"slices"
	"strconv"

	"github.com/podid/podid/internal/awsproto"
	"github.com/podid/podid/internal/store"
)

// APIVersion is the IAM API version of the awsQuery protocol.
const APIVersion = "2010-05-08"

// queryHandler decodes one action's parameters, calls the typed method and
// returns the XML result (nil for actions without output).
type queryHandler func(ctx context.Context, p awsproto.Params) (any, error)

// HandleQuery runs one awsQuery action. The edge has verified the
// signature and put the caller in ctx; it writes the returned result with
// awsproto.WriteQueryResponse, and the error (always an *awsproto.Error)
// with WriteQueryError.
func (s *Service) HandleQuery(ctx context.Context, action string, p awsproto.Params) (any, error) {
	version := p.Get("Version")
	h, ok := s.handlers[action]
	if !ok || (version != "" && version != APIVersion) {
		if version == "" {
			version = APIVersion
		}
		return nil, awsproto.Errorf(http.StatusBadRequest, codeInvalidAction, "Could not find operation %s for version %s", action, version)
	}
	return h(ctx, p)
}

// Actions lists the actions HandleQuery serves, sorted (for example to
// bound the action label of request metrics).
func (s *Service) Actions() []string {
	return slices.Sorted(maps.Keys(s.handlers))
}

// Parameter decoding.

func optInt(p awsproto.Params, name string) (*int, error) {
	n, ok, err := p.Int(name)
	if err != nil || !ok {
		return nil, err
	}
	return &n, nil
}

func optBool(p awsproto.Params, name string) (bool, error) {
	b, _, err := p.Bool(name)
	return b, err
}

func optString(p awsproto.Params, name string) *string {
	if !p.Has(name) {
		return nil
	}
	v := p.Get(name)
	return &v
}

// tagsParam decodes Tags.member.N.Key / .Value. Both are required members
// of a Tag.
func tagsParam(p awsproto.Params, name, member string) ([]store.Tag, error) {
	structs := p.Structs(name)
	if len(structs) == 0 {
		return nil, nil
	}
	var v violations
	tags := make([]store.Tag, len(structs))
	for i, m := range structs {
		key, hasKey := m["Key"]
		value, hasValue := m["Value"]
		prefix := member + "." + strconv.Itoa(i+1) + ".member."
		if !hasKey {
			v.null(prefix + "key")
		}
		if !hasValue {
			v.null(prefix + "value")
		}
		tags[i] = store.Tag{Key: key, Value: value}
	}
	return tags, v.err()
}

// optBoolPtr decodes a boxed boolean: nil when absent.
func optBoolPtr(p awsproto.Params, name string) (*bool, error) {
	b, ok, err := p.Bool(name)
	if err != nil || !ok {
		return nil, err
	}
	return &b, nil
}

// paging decodes Marker and MaxItems.
func paging(p awsproto.Params) (string, *int, error) {
	n, err := optInt(p, "MaxItems")
	return p.Get("Marker"), n, err
}

// handle adapts a typed method to a queryHandler.
func handle[In any, Out any](decode func(awsproto.Params) (*In, error), call func(context.Context, *In) (*Out, error), encode func(*Out) any) queryHandler {
	return func(ctx context.Context, p awsproto.Params) (any, error) {
		in, err := decode(p)
		if err != nil {
			return nil, err
		}
		out, err := call(ctx, in)
		if err != nil {
			return nil, err
		}
		return encode(out), nil
	}
}

// handleNoOutput adapts a typed method without output.
func handleNoOutput[In any](decode func(awsproto.Params) (*In, error), call func(context.Context, *In) error) queryHandler {
	return func(ctx context.Context, p awsproto.Params) (any, error) {
		in, err := decode(p)
		if err != nil {
			return nil, err
		}
		return nil, call(ctx, in)
	}
}

// Decoders shared by several actions.

func decodeRoleName(p awsproto.Params) string { return p.Get("RoleName") }

func decodeAttach(nameParam string) func(awsproto.Params) (*AttachPolicyInput, error) {
	return func(p awsproto.Params) (*AttachPolicyInput, error) {
		return &AttachPolicyInput{Name: p.Get(nameParam), PolicyARN: p.Get("PolicyArn")}, nil
	}
}

func decodeListAttached(nameParam string) func(awsproto.Params) (*ListAttachedPoliciesInput, error) {
	return func(p awsproto.Params) (*ListAttachedPoliciesInput, error) {
		marker, n, err := paging(p)
		return &ListAttachedPoliciesInput{Name: p.Get(nameParam), PathPrefix: p.Get("PathPrefix"), Marker: marker, MaxItems: n}, err
	}
}

func decodePutInline(nameParam string) func(awsproto.Params) (*PutInlinePolicyInput, error) {
	return func(p awsproto.Params) (*PutInlinePolicyInput, error) {
		return &PutInlinePolicyInput{Name: p.Get(nameParam), PolicyName: p.Get("PolicyName"), PolicyDocument: p.Get("PolicyDocument")}, nil
	}
}

func decodeInline(nameParam string) func(awsproto.Params) (*InlinePolicyInput, error) {
	return func(p awsproto.Params) (*InlinePolicyInput, error) {
		return &InlinePolicyInput{Name: p.Get(nameParam), PolicyName: p.Get("PolicyName")}, nil
	}
}

func decodeListInline(nameParam string) func(awsproto.Params) (*ListInlinePoliciesInput, error) {
	return func(p awsproto.Params) (*ListInlinePoliciesInput, error) {
		marker, n, err := paging(p)
		return &ListInlinePoliciesInput{Name: p.Get(nameParam), Marker: marker, MaxItems: n}, err
	}
}

func decodePolicyVersion(p awsproto.Params) (string, string) {
	return p.Get("PolicyArn"), p.Get("VersionId")
}

func encodeAttached(o *ListAttachedPoliciesOutput) any {
	r := &listAttachedResult{IsTruncated: o.IsTruncated, Marker: o.Marker}
	for _, a := range o.AttachedPolicies {
		r.AttachedPolicies.Members = append(r.AttachedPolicies.Members, attachedPolicyXML{PolicyName: a.PolicyName, PolicyArn: a.PolicyARN})
	}
	return r
}

func encodePolicyNames(o *ListInlinePoliciesOutput) any {
	return &listPolicyNamesResult{PolicyNames: listOf(o.PolicyNames), IsTruncated: o.IsTruncated, Marker: o.Marker}
}

func encodeTags(o *ListTagsOutput) any {
	return &listTagsResult{Tags: listOf(tagsXML(o.Tags)), IsTruncated: o.IsTruncated, Marker: o.Marker}
}

func encodePolicy(o *PolicyOutput) any {
	return &policyResult{Policy: toPolicyXML(o.Policy, false)}
}

func encodeLoginProfile(o *LoginProfileOutput) any {
	lp := o.LoginProfile
	return &loginProfileResult{LoginProfile: loginProfileXML{
		UserName: lp.UserName, CreateDate: isoDate(lp.CreateDate), PasswordResetRequired: lp.PasswordResetRequired,
	}}
}

func decodeUpdatePasswordPolicy(p awsproto.Params) (*UpdateAccountPasswordPolicyInput, error) {
	in := &UpdateAccountPasswordPolicyInput{}
	var err error
	ints := []struct {
		name string
		dst  **int
	}{{"MinimumPasswordLength", &in.MinimumPasswordLength}, {"MaxPasswordAge", &in.MaxPasswordAge}, {"PasswordReusePrevention", &in.PasswordReusePrevention}}
	for _, f := range ints {
		if *f.dst, err = optInt(p, f.name); err != nil {
			return nil, err
		}
	}
	bools := []struct {
		name string
		dst  *bool
	}{
		{"RequireSymbols", &in.RequireSymbols}, {"RequireNumbers", &in.RequireNumbers},
		{"RequireUppercaseCharacters", &in.RequireUppercaseCharacters}, {"RequireLowercaseCharacters", &in.RequireLowercaseCharacters},
		{"AllowUsersToChangePassword", &in.AllowUsersToChangePassword},
	}
	for _, f := range bools {
		if *f.dst, err = optBool(p, f.name); err != nil {
			return nil, err
		}
	}
	in.HardExpiry, err = optBoolPtr(p, "HardExpiry")
	return in, err
}

func encodeUser(o *UserOutput) any {
	return &userResult{User: toUserXML(o.User, false)}
}

// queryHandlers is the action table.
func (s *Service) queryHandlers() map[string]queryHandler {
	return map[string]queryHandler{
		// Roles.
		"CreateRole": handle(func(p awsproto.Params) (*CreateRoleInput, error) {
			msd, err := optInt(p, "MaxSessionDuration")
			if err != nil {
				return nil, err
			}
			tags, err := tagsParam(p, "Tags", "tags")
			return &CreateRoleInput{
				RoleName:                 decodeRoleName(p),
				Path:                     p.Get("Path"),
				AssumeRolePolicyDocument: p.Get("AssumeRolePolicyDocument"),
				Description:              p.Get("Description"),
				MaxSessionDuration:       msd,
				PermissionsBoundary:      p.Get("PermissionsBoundary"),
				Tags:                     tags,
			}, err
		}, s.CreateRole, func(o *CreateRoleOutput) any {
			return &roleResult{Role: toRoleXML(o.Role, roleCreated)}
		}),
		"GetRole": handle(func(p awsproto.Params) (*GetRoleInput, error) {
			return &GetRoleInput{RoleName: decodeRoleName(p)}, nil
		}, s.GetRole, func(o *GetRoleOutput) any {
			return &roleResult{Role: toRoleXML(o.Role, roleFull)}
		}),
		"ListRoles": handle(func(p awsproto.Params) (*ListRolesInput, error) {
			marker, n, err := paging(p)
			return &ListRolesInput{PathPrefix: p.Get("PathPrefix"), Marker: marker, MaxItems: n}, err
		}, s.ListRoles, func(o *ListRolesOutput) any {
			r := &listRolesResult{IsTruncated: o.IsTruncated, Marker: o.Marker}
			for _, role := range o.Roles {
				r.Roles.Members = append(r.Roles.Members, toRoleXML(role, roleListed))
			}
			return r
		}),
		"UpdateRole": handleNoOutput(func(p awsproto.Params) (*UpdateRoleInput, error) {
			msd, err := optInt(p, "MaxSessionDuration")
			return &UpdateRoleInput{RoleName: decodeRoleName(p), Description: optString(p, "Description"), MaxSessionDuration: msd}, err
		}, s.UpdateRole),
		"UpdateAssumeRolePolicy": handleNoOutput(func(p awsproto.Params) (*UpdateAssumeRolePolicyInput, error) {
			return &UpdateAssumeRolePolicyInput{RoleName: decodeRoleName(p), PolicyDocument: p.Get("PolicyDocument")}, nil
		}, s.UpdateAssumeRolePolicy),
		"DeleteRole": handleNoOutput(func(p awsproto.Params) (*DeleteRoleInput, error) {
			return &DeleteRoleInput{RoleName: decodeRoleName(p)}, nil
		}, s.DeleteRole),
		"TagRole": handleNoOutput(func(p awsproto.Params) (*TagRoleInput, error) {
			tags, err := tagsParam(p, "Tags", "tags")
			return &TagRoleInput{RoleName: decodeRoleName(p), Tags: tags}, err
		}, s.TagRole),
		"UntagRole": handleNoOutput(func(p awsproto.Params) (*UntagRoleInput, error) {
			return &UntagRoleInput{RoleName: decodeRoleName(p), TagKeys: p.List("TagKeys")}, nil
		}, s.UntagRole),
		"ListRoleTags": handle(func(p awsproto.Params) (*ListRoleTagsInput, error) {
			marker, n, err := paging(p)
			return &ListRoleTagsInput{RoleName: decodeRoleName(p), Marker: marker, MaxItems: n}, err
		}, s.ListRoleTags, encodeTags),
		"PutRolePermissionsBoundary": handleNoOutput(func(p awsproto.Params) (*PutRolePermissionsBoundaryInput, error) {
			return &PutRolePermissionsBoundaryInput{RoleName: decodeRoleName(p), PermissionsBoundary: p.Get("PermissionsBoundary")}, nil
		}, s.PutRolePermissionsBoundary),
		"DeleteRolePermissionsBoundary": handleNoOutput(func(p awsproto.Params) (*DeleteRolePermissionsBoundaryInput, error) {
			return &DeleteRolePermissionsBoundaryInput{RoleName: decodeRoleName(p)}, nil
		}, s.DeleteRolePermissionsBoundary),

		// Managed policies and versions.
		"CreatePolicy": handle(func(p awsproto.Params) (*CreatePolicyInput, error) {
			tags, err := tagsParam(p, "Tags", "tags")
			return &CreatePolicyInput{
				PolicyName:     p.Get("PolicyName"),
				Path:           p.Get("Path"),
				PolicyDocument: p.Get("PolicyDocument"),
				Description:    p.Get("Description"),
				Tags:           tags,
			}, err
		}, s.CreatePolicy, encodePolicy),
		"GetPolicy": handle(func(p awsproto.Params) (*GetPolicyInput, error) {
			return &GetPolicyInput{PolicyARN: p.Get("PolicyArn")}, nil
		}, s.GetPolicy, encodePolicy),
		"ListPolicies": handle(func(p awsproto.Params) (*ListPoliciesInput, error) {
			marker, n, err := paging(p)
			if err != nil {
				return nil, err
			}
			only, err := optBool(p, "OnlyAttached")
			return &ListPoliciesInput{
				Scope: p.Get("Scope"), OnlyAttached: only, PathPrefix: p.Get("PathPrefix"),
				PolicyUsageFilter: p.Get("PolicyUsageFilter"), Marker: marker, MaxItems: n,
			}, err
		}, s.ListPolicies, func(o *ListPoliciesOutput) any {
			r := &listPoliciesResult{IsTruncated: o.IsTruncated, Marker: o.Marker}
			for _, pol := range o.Policies {
				r.Policies.Members = append(r.Policies.Members, toPolicyXML(pol, true))
			}
			return r
		}),
		"DeletePolicy": handleNoOutput(func(p awsproto.Params) (*DeletePolicyInput, error) {
			return &DeletePolicyInput{PolicyARN: p.Get("PolicyArn")}, nil
		}, s.DeletePolicy),
		"CreatePolicyVersion": handle(func(p awsproto.Params) (*CreatePolicyVersionInput, error) {
			def, err := optBool(p, "SetAsDefault")
			return &CreatePolicyVersionInput{PolicyARN: p.Get("PolicyArn"), PolicyDocument: p.Get("PolicyDocument"), SetAsDefault: def}, err
		}, s.CreatePolicyVersion, func(o *PolicyVersionOutput) any {
			return &policyVersionResult{PolicyVersion: toPolicyVersionXML(o.PolicyVersion, false)}
		}),
		"GetPolicyVersion": handle(func(p awsproto.Params) (*GetPolicyVersionInput, error) {
			arn, v := decodePolicyVersion(p)
			return &GetPolicyVersionInput{PolicyARN: arn, VersionID: v}, nil
		}, s.GetPolicyVersion, func(o *PolicyVersionOutput) any {
			return &policyVersionResult{PolicyVersion: toPolicyVersionXML(o.PolicyVersion, true)}
		}),
		"ListPolicyVersions": handle(func(p awsproto.Params) (*ListPolicyVersionsInput, error) {
			marker, n, err := paging(p)
			return &ListPolicyVersionsInput{PolicyARN: p.Get("PolicyArn"), Marker: marker, MaxItems: n}, err
		}, s.ListPolicyVersions, func(o *ListPolicyVersionsOutput) any {
			r := &listPolicyVersionsResult{IsTruncated: o.IsTruncated, Marker: o.Marker}
			for _, v := range o.Versions {
				r.Versions.Members = append(r.Versions.Members, toPolicyVersionXML(v, false))
			}
			return r
		}),
		"SetDefaultPolicyVersion": handleNoOutput(func(p awsproto.Params) (*SetDefaultPolicyVersionInput, error) {
			arn, v := decodePolicyVersion(p)
			return &SetDefaultPolicyVersionInput{PolicyARN: arn, VersionID: v}, nil
		}, s.SetDefaultPolicyVersion),
		"DeletePolicyVersion": handleNoOutput(func(p awsproto.Params) (*DeletePolicyVersionInput, error) {
			arn, v := decodePolicyVersion(p)
			return &DeletePolicyVersionInput{PolicyARN: arn, VersionID: v}, nil
		}, s.DeletePolicyVersion),

		// Attachments and inline policies.
		"AttachRolePolicy":         handleNoOutput(decodeAttach("RoleName"), s.AttachRolePolicy),
		"DetachRolePolicy":         handleNoOutput(decodeAttach("RoleName"), s.DetachRolePolicy),
		"ListAttachedRolePolicies": handle(decodeListAttached("RoleName"), s.ListAttachedRolePolicies, encodeAttached),
		"AttachUserPolicy":         handleNoOutput(decodeAttach("UserName"), s.AttachUserPolicy),
		"DetachUserPolicy":         handleNoOutput(decodeAttach("UserName"), s.DetachUserPolicy),
		"ListAttachedUserPolicies": handle(decodeListAttached("UserName"), s.ListAttachedUserPolicies, encodeAttached),
		"PutRolePolicy":            handleNoOutput(decodePutInline("RoleName"), s.PutRolePolicy),
		"GetRolePolicy": handle(decodeInline("RoleName"), s.GetRolePolicy, func(o *InlinePolicyOutput) any {
			return &getRolePolicyResult{RoleName: o.Policy.PrincipalName, PolicyName: o.Policy.PolicyName, PolicyDocument: awsproto.EncodePolicyDocument(o.Policy.Document)}
		}),
		"ListRolePolicies": handle(decodeListInline("RoleName"), s.ListRolePolicies, encodePolicyNames),
		"DeleteRolePolicy": handleNoOutput(decodeInline("RoleName"), s.DeleteRolePolicy),
		"PutUserPolicy":    handleNoOutput(decodePutInline("UserName"), s.PutUserPolicy),
		"GetUserPolicy": handle(decodeInline("UserName"), s.GetUserPolicy, func(o *InlinePolicyOutput) any {
			return &getUserPolicyResult{UserName: o.Policy.PrincipalName, PolicyName: o.Policy.PolicyName, PolicyDocument: awsproto.EncodePolicyDocument(o.Policy.Document)}
		}),
		"ListUserPolicies": handle(decodeListInline("UserName"), s.ListUserPolicies, encodePolicyNames),
		"DeleteUserPolicy": handleNoOutput(decodeInline("UserName"), s.DeleteUserPolicy),

		// Users and access keys.
		"CreateUser": handle(func(p awsproto.Params) (*CreateUserInput, error) {
			tags, err := tagsParam(p, "Tags", "tags")
			return &CreateUserInput{UserName: p.Get("UserName"), Path: p.Get("Path"), PermissionsBoundary: p.Get("PermissionsBoundary"), Tags: tags}, err
		}, s.CreateUser, encodeUser),
		"GetUser": handle(func(p awsproto.Params) (*GetUserInput, error) {
			return &GetUserInput{UserName: p.Get("UserName")}, nil
		}, s.GetUser, encodeUser),
		"ListUsers": handle(func(p awsproto.Params) (*ListUsersInput, error) {
			marker, n, err := paging(p)
			return &ListUsersInput{PathPrefix: p.Get("PathPrefix"), Marker: marker, MaxItems: n}, err
		}, s.ListUsers, func(o *ListUsersOutput) any {
			r := &listUsersResult{IsTruncated: o.IsTruncated, Marker: o.Marker}
			for _, u := range o.Users {
				r.Users.Members = append(r.Users.Members, toUserXML(u, true))
			}
			return r
		}),
		"DeleteUser": handleNoOutput(func(p awsproto.Params) (*DeleteUserInput, error) {
			return &DeleteUserInput{UserName: p.Get("UserName")}, nil
		}, s.DeleteUser),
		"PutUserPermissionsBoundary": handleNoOutput(func(p awsproto.Params) (*PutUserPermissionsBoundaryInput, error) {
			return &PutUserPermissionsBoundaryInput{UserName: p.Get("UserName"), PermissionsBoundary: p.Get("PermissionsBoundary")}, nil
		}, s.PutUserPermissionsBoundary),
		"DeleteUserPermissionsBoundary": handleNoOutput(func(p awsproto.Params) (*DeleteUserPermissionsBoundaryInput, error) {
			return &DeleteUserPermissionsBoundaryInput{UserName: p.Get("UserName")}, nil
		}, s.DeleteUserPermissionsBoundary),
		"TagUser": handleNoOutput(func(p awsproto.Params) (*TagUserInput, error) {
			tags, err := tagsParam(p, "Tags", "tags")
			return &TagUserInput{UserName: p.Get("UserName"), Tags: tags}, err
		}, s.TagUser),
		"UntagUser": handleNoOutput(func(p awsproto.Params) (*UntagUserInput, error) {
			return &UntagUserInput{UserName: p.Get("UserName"), TagKeys: p.List("TagKeys")}, nil
		}, s.UntagUser),
		"ListUserTags": handle(func(p awsproto.Params) (*ListUserTagsInput, error) {
			marker, n, err := paging(p)
			return &ListUserTagsInput{UserName: p.Get("UserName"), Marker: marker, MaxItems: n}, err
		}, s.ListUserTags, encodeTags),
		"CreateAccessKey": handle(func(p awsproto.Params) (*CreateAccessKeyInput, error) {
			return &CreateAccessKeyInput{UserName: p.Get("UserName")}, nil
		}, s.CreateAccessKey, func(o *CreateAccessKeyOutput) any {
			k := o.AccessKey
			return &createAccessKeyResult{AccessKey: accessKeyXML{
				UserName: k.UserName, AccessKeyID: k.AccessKeyID, Status: k.Status, SecretAccessKey: k.SecretAccessKey, CreateDate: isoDate(k.CreateDate),
			}}
		}),
		"ListAccessKeys": handle(func(p awsproto.Params) (*ListAccessKeysInput, error) {
			marker, n, err := paging(p)
			return &ListAccessKeysInput{UserName: p.Get("UserName"), Marker: marker, MaxItems: n}, err
		}, s.ListAccessKeys, func(o *ListAccessKeysOutput) any {
			r := &listAccessKeysResult{IsTruncated: o.IsTruncated, Marker: o.Marker}
			for _, k := range o.AccessKeyMetadata {
				r.AccessKeyMetadata.Members = append(r.AccessKeyMetadata.Members, accessKeyMetadataXML{
					UserName: k.UserName, AccessKeyID: k.AccessKeyID, Status: k.Status, CreateDate: isoDate(k.CreateDate),
				})
			}
			return r
		}),
		"UpdateAccessKey": handleNoOutput(func(p awsproto.Params) (*UpdateAccessKeyInput, error) {
			return &UpdateAccessKeyInput{UserName: p.Get("UserName"), AccessKeyID: p.Get("AccessKeyId"), Status: p.Get("Status")}, nil
		}, s.UpdateAccessKey),
		"DeleteAccessKey": handleNoOutput(func(p awsproto.Params) (*DeleteAccessKeyInput, error) {
			return &DeleteAccessKeyInput{UserName: p.Get("UserName"), AccessKeyID: p.Get("AccessKeyId")}, nil
		}, s.DeleteAccessKey),

		// Console passwords and the account password policy.
		"CreateLoginProfile": handle(func(p awsproto.Params) (*CreateLoginProfileInput, error) {
			reset, err := optBool(p, "PasswordResetRequired")
			return &CreateLoginProfileInput{UserName: p.Get("UserName"), Password: p.Get("Password"), PasswordResetRequired: reset}, err
		}, s.CreateLoginProfile, encodeLoginProfile),
		"GetLoginProfile": handle(func(p awsproto.Params) (*LoginProfileInput, error) {
			return &LoginProfileInput{UserName: p.Get("UserName")}, nil
		}, s.GetLoginProfile, encodeLoginProfile),
		"UpdateLoginProfile": handleNoOutput(func(p awsproto.Params) (*UpdateLoginProfileInput, error) {
			reset, err := optBoolPtr(p, "PasswordResetRequired")
			return &UpdateLoginProfileInput{UserName: p.Get("UserName"), Password: optString(p, "Password"), PasswordResetRequired: reset}, err
		}, s.UpdateLoginProfile),
		"DeleteLoginProfile": handleNoOutput(func(p awsproto.Params) (*LoginProfileInput, error) {
			return &LoginProfileInput{UserName: p.Get("UserName")}, nil
		}, s.DeleteLoginProfile),
		"ChangePassword": handleNoOutput(func(p awsproto.Params) (*ChangePasswordInput, error) {
			return &ChangePasswordInput{OldPassword: p.Get("OldPassword"), NewPassword: p.Get("NewPassword")}, nil
		}, s.ChangePassword),
		"UpdateAccountPasswordPolicy": handleNoOutput(decodeUpdatePasswordPolicy, s.UpdateAccountPasswordPolicy),
		"GetAccountPasswordPolicy": func(ctx context.Context, _ awsproto.Params) (any, error) {
			o, err := s.GetAccountPasswordPolicy(ctx)
			if err != nil {
				return nil, err
			}
			return &getPasswordPolicyResult{PasswordPolicy: passwordPolicyXML(o.PasswordPolicy)}, nil
		},
		"DeleteAccountPasswordPolicy": func(ctx context.Context, _ awsproto.Params) (any, error) {
			return nil, s.DeleteAccountPasswordPolicy(ctx)
		},

		// OpenID Connect providers.
		"CreateOpenIDConnectProvider": handle(func(p awsproto.Params) (*CreateOpenIDConnectProviderInput, error) {
			tags, err := tagsParam(p, "Tags", "tags")
			return &CreateOpenIDConnectProviderInput{
				URL: p.Get("Url"), ClientIDList: p.List("ClientIDList"), ThumbprintList: p.List("ThumbprintList"), Tags: tags,
			}, err
		}, s.CreateOpenIDConnectProvider, func(o *CreateOpenIDConnectProviderOutput) any {
			return &createOIDCResult{OpenIDConnectProviderArn: o.OpenIDConnectProviderARN, Tags: optionalTags(o.Tags)}
		}),
		"GetOpenIDConnectProvider": handle(func(p awsproto.Params) (*OpenIDConnectProviderInput, error) {
			return &OpenIDConnectProviderInput{OpenIDConnectProviderARN: p.Get("OpenIDConnectProviderArn")}, nil
		}, s.GetOpenIDConnectProvider, func(o *GetOpenIDConnectProviderOutput) any {
			pr := o.Provider
			return &getOIDCResult{
				URL: pr.URL, ClientIDList: listOf(pr.ClientIDs), ThumbprintList: listOf(pr.Thumbprints),
				CreateDate: isoDate(pr.CreatedAt), Tags: optionalTags(pr.Tags),
			}
		}),
		"ListOpenIDConnectProviders": handle(func(awsproto.Params) (*ListOpenIDConnectProvidersInput, error) {
			return &ListOpenIDConnectProvidersInput{}, nil
		}, s.ListOpenIDConnectProviders, func(o *ListOpenIDConnectProvidersOutput) any {
			r := &listOIDCResult{}
			for _, arn := range o.ARNs {
				r.OpenIDConnectProviderList.Members = append(r.OpenIDConnectProviderList.Members, oidcListEntryXML{Arn: arn})
			}
			return r
		}),
		"DeleteOpenIDConnectProvider": handleNoOutput(func(p awsproto.Params) (*OpenIDConnectProviderInput, error) {
			return &OpenIDConnectProviderInput{OpenIDConnectProviderARN: p.Get("OpenIDConnectProviderArn")}, nil
		}, s.DeleteOpenIDConnectProvider),
	}
}

// Namespace is the XML namespace of IAM's awsQuery responses.
const Namespace = "https://iam.amazonaws.com/doc/2010-05-08/"

// Descriptor registers IAM with the edge: awsQuery, signed as "iam",
// global (clients sign it with their own region).
func (s *Service) Descriptor() awsproto.Service {
	return awsproto.Service{SigningName: "iam", Protocol: awsproto.ProtocolQuery, Global: true,
		Namespace: Namespace, Query: s, Operations: s.Actions()}
}
