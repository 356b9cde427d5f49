// Package iamsdktest drives podid's IAM API with the AWS SDK for Go v2,
// every operation podid serves, and checks the answers. The IAM package's
// tests run it in process; the end-to-end tests run it against the real
// server, through SigV4 and the edge.
package iamsdktest

import (
	"context"
	"errors"
	"net/url"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsiam "github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/smithy-go"
)

const (
	trustDoc = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"pods.eks.amazonaws.com"},"Action":["sts:AssumeRole","sts:TagSession"]}]}`
	// permDocV2 is a second version of the managed policy (read-only).
	permDocV2 = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["dynamodb:GetItem","dynamodb:Query"],"Resource":"arn:aws:dynamodb:us-west-2:123456789012:table/eks-workshop-carts"}]}`
	permDoc   = `{"Statement":[{"Action":"dynamodb:*","Effect":"Allow","Resource":["arn:aws:dynamodb:us-west-2:123456789012:table/eks-workshop-carts"],"Sid":"AllAPIActionsOnCart"}],"Version":"2012-10-17"}`
)

// RoundTrip runs every IAM operation podid serves with c, as the root of
// account 123456789012 on an empty server, and checks each answer: roles,
// managed policies and versions, inline policies, tags, boundaries, users,
// access keys, login profiles, the account password policy and OIDC
// providers, with AWS's error types and messages.
// createdAt says whether a creation time is right.
func RoundTrip(t *testing.T, c *awsiam.Client, createdAt func(time.Time) bool) {
	t.Helper()
	ctx := context.Background()
	trust := "{\n \"Version\": \"2012-10-17\",\n \"Statement\": [{\"Effect\": \"Allow\", \"Principal\": {\"Service\": \"pods.eks.amazonaws.com\"}, \"Action\": [\"sts:AssumeRole\", \"sts:TagSession\"]}]\n}"

	// Roles.
	cr, err := c.CreateRole(ctx, &awsiam.CreateRoleInput{
		RoleName: aws.String("carts"), Path: aws.String("/eks/"), AssumeRolePolicyDocument: aws.String(trust),
		Description: aws.String("cart & co"), Tags: []types.Tag{{Key: aws.String("team"), Value: aws.String("shop")}},
	})
	must(t, err)
	if aws.ToString(cr.Role.Arn) != "arn:aws:iam::123456789012:role/eks/carts" || cr.Role.CreateDate == nil || !createdAt(*cr.Role.CreateDate) {
		t.Fatalf("CreateRole = %+v", cr.Role)
	}
	gr, err := c.GetRole(ctx, &awsiam.GetRoleInput{RoleName: aws.String("carts")})
	must(t, err)
	if decodeDoc(t, gr.Role.AssumeRolePolicyDocument) != trust || aws.ToInt32(gr.Role.MaxSessionDuration) != 3600 ||
		aws.ToString(gr.Role.Description) != "cart & co" || len(gr.Role.Tags) != 1 || aws.ToString(gr.Role.RoleId) != aws.ToString(cr.Role.RoleId) ||
		gr.Role.RoleLastUsed == nil {
		t.Fatalf("GetRole = %+v", gr.Role)
	}
	_, err = c.GetRole(ctx, &awsiam.GetRoleInput{RoleName: aws.String("ghost")})
	apiErr[*types.NoSuchEntityException](t, err, "NoSuchEntity", "The role with name ghost cannot be found.")
	_, err = c.CreateRole(ctx, &awsiam.CreateRoleInput{RoleName: aws.String("carts"), AssumeRolePolicyDocument: aws.String(trust)})
	apiErr[*types.EntityAlreadyExistsException](t, err, "EntityAlreadyExists", "Role with name carts already exists.")
	_, err = c.CreateRole(ctx, &awsiam.CreateRoleInput{RoleName: aws.String("bad name"), AssumeRolePolicyDocument: aws.String(trust)})
	var generic smithy.APIError
	if !errors.As(err, &generic) || generic.ErrorCode() != "ValidationError" {
		t.Fatalf("bad name: %v", err)
	}
	_, err = c.CreateRole(ctx, &awsiam.CreateRoleInput{RoleName: aws.String("r"), AssumeRolePolicyDocument: aws.String("{")})
	apiErr[*types.MalformedPolicyDocumentException](t, err, "MalformedPolicyDocument", "Syntax errors in policy.")

	for _, n := range []string{"a", "b", "c"} {
		_, err := c.CreateRole(ctx, &awsiam.CreateRoleInput{RoleName: aws.String(n), AssumeRolePolicyDocument: aws.String(trust)})
		must(t, err)
	}
	var names []string
	pg := awsiam.NewListRolesPaginator(c, &awsiam.ListRolesInput{MaxItems: aws.Int32(3)})
	for pg.HasMorePages() {
		out, err := pg.NextPage(ctx)
		must(t, err)
		for _, r := range out.Roles {
			names = append(names, aws.ToString(r.RoleName))
			if r.Tags != nil || r.RoleLastUsed != nil {
				t.Fatalf("ListRoles shows tags or last use: %+v", r)
			}
		}
	}
	if len(names) != 4 || names[0] != "a" || names[3] != "carts" {
		t.Fatalf("paginated roles = %v", names)
	}
	_, err = c.TagRole(ctx, &awsiam.TagRoleInput{RoleName: aws.String("carts"), Tags: []types.Tag{{Key: aws.String("env"), Value: aws.String("")}}})
	must(t, err)
	tags, err := c.ListRoleTags(ctx, &awsiam.ListRoleTagsInput{RoleName: aws.String("carts")})
	must(t, err)
	if len(tags.Tags) != 2 || aws.ToString(tags.Tags[1].Key) != "env" || aws.ToString(tags.Tags[1].Value) != "" || tags.IsTruncated {
		t.Fatalf("ListRoleTags = %+v", tags)
	}
	_, err = c.UntagRole(ctx, &awsiam.UntagRoleInput{RoleName: aws.String("carts"), TagKeys: []string{"env"}})
	must(t, err)
	_, err = c.UpdateRole(ctx, &awsiam.UpdateRoleInput{RoleName: aws.String("carts"), MaxSessionDuration: aws.Int32(7200)})
	must(t, err)
	_, err = c.UpdateAssumeRolePolicy(ctx, &awsiam.UpdateAssumeRolePolicyInput{RoleName: aws.String("carts"), PolicyDocument: aws.String(trustDoc)})
	must(t, err)

	// Managed policies and versions.
	cp, err := c.CreatePolicy(ctx, &awsiam.CreatePolicyInput{PolicyName: aws.String("carts-dynamo"), PolicyDocument: aws.String(permDoc), Description: aws.String("d")})
	must(t, err)
	arn := cp.Policy.Arn
	if aws.ToString(arn) != "arn:aws:iam::123456789012:policy/carts-dynamo" || aws.ToString(cp.Policy.DefaultVersionId) != "v1" ||
		!cp.Policy.IsAttachable || aws.ToInt32(cp.Policy.AttachmentCount) != 0 {
		t.Fatalf("CreatePolicy = %+v", cp.Policy)
	}
	cv, err := c.CreatePolicyVersion(ctx, &awsiam.CreatePolicyVersionInput{PolicyArn: arn, PolicyDocument: aws.String(permDocV2), SetAsDefault: true})
	must(t, err)
	if aws.ToString(cv.PolicyVersion.VersionId) != "v2" || !cv.PolicyVersion.IsDefaultVersion {
		t.Fatalf("CreatePolicyVersion = %+v", cv.PolicyVersion)
	}
	gv, err := c.GetPolicyVersion(ctx, &awsiam.GetPolicyVersionInput{PolicyArn: arn, VersionId: aws.String("v1")})
	must(t, err)
	if decodeDoc(t, gv.PolicyVersion.Document) != permDoc || gv.PolicyVersion.IsDefaultVersion {
		t.Fatalf("GetPolicyVersion = %+v", gv.PolicyVersion)
	}
	lv, err := c.ListPolicyVersions(ctx, &awsiam.ListPolicyVersionsInput{PolicyArn: arn})
	must(t, err)
	if len(lv.Versions) != 2 || aws.ToString(lv.Versions[0].VersionId) != "v2" {
		t.Fatalf("ListPolicyVersions = %+v", lv.Versions)
	}
	_, err = c.DeletePolicyVersion(ctx, &awsiam.DeletePolicyVersionInput{PolicyArn: arn, VersionId: aws.String("v2")})
	apiErr[*types.DeleteConflictException](t, err, "DeleteConflict", "Cannot delete the default version of a policy.")
	_, err = c.SetDefaultPolicyVersion(ctx, &awsiam.SetDefaultPolicyVersionInput{PolicyArn: arn, VersionId: aws.String("v1")})
	must(t, err)
	_, err = c.GetPolicy(ctx, &awsiam.GetPolicyInput{PolicyArn: aws.String("arn:aws:iam::123456789012:policy/none")})
	apiErr[*types.NoSuchEntityException](t, err, "NoSuchEntity", "Policy arn:aws:iam::123456789012:policy/none was not found.")

	// Attachments and inline policies.
	_, err = c.AttachRolePolicy(ctx, &awsiam.AttachRolePolicyInput{RoleName: aws.String("carts"), PolicyArn: arn})
	must(t, err)
	att, err := c.ListAttachedRolePolicies(ctx, &awsiam.ListAttachedRolePoliciesInput{RoleName: aws.String("carts")})
	must(t, err)
	if len(att.AttachedPolicies) != 1 || aws.ToString(att.AttachedPolicies[0].PolicyName) != "carts-dynamo" {
		t.Fatalf("attached = %+v", att.AttachedPolicies)
	}
	lp, err := c.ListPolicies(ctx, &awsiam.ListPoliciesInput{Scope: types.PolicyScopeTypeLocal, OnlyAttached: true})
	must(t, err)
	if len(lp.Policies) != 1 || aws.ToInt32(lp.Policies[0].AttachmentCount) != 1 {
		t.Fatalf("ListPolicies = %+v", lp.Policies)
	}
	_, err = c.PutRolePolicy(ctx, &awsiam.PutRolePolicyInput{RoleName: aws.String("carts"), PolicyName: aws.String("inline"), PolicyDocument: aws.String(permDoc)})
	must(t, err)
	rp, err := c.GetRolePolicy(ctx, &awsiam.GetRolePolicyInput{RoleName: aws.String("carts"), PolicyName: aws.String("inline")})
	must(t, err)
	if decodeDoc(t, rp.PolicyDocument) != permDoc || aws.ToString(rp.RoleName) != "carts" {
		t.Fatalf("GetRolePolicy = %+v", rp)
	}
	_, err = c.PutRolePermissionsBoundary(ctx, &awsiam.PutRolePermissionsBoundaryInput{RoleName: aws.String("carts"), PermissionsBoundary: arn})
	must(t, err)
	lr, err := c.ListRoles(ctx, &awsiam.ListRolesInput{PathPrefix: aws.String("/eks/")})
	must(t, err)
	if len(lr.Roles) != 1 || aws.ToString(lr.Roles[0].RoleName) != "carts" {
		t.Fatalf("ListRoles = %+v", lr.Roles)
	}
	_, err = c.DeleteRolePermissionsBoundary(ctx, &awsiam.DeleteRolePermissionsBoundaryInput{RoleName: aws.String("carts")})
	must(t, err)
	lrp, err := c.ListRolePolicies(ctx, &awsiam.ListRolePoliciesInput{RoleName: aws.String("carts")})
	must(t, err)
	if len(lrp.PolicyNames) != 1 || lrp.PolicyNames[0] != "inline" {
		t.Fatalf("ListRolePolicies = %+v", lrp.PolicyNames)
	}
	_, err = c.DeleteRole(ctx, &awsiam.DeleteRoleInput{RoleName: aws.String("carts")})
	apiErr[*types.DeleteConflictException](t, err, "DeleteConflict", "Cannot delete entity, must detach all policies first.")
	_, err = c.DetachRolePolicy(ctx, &awsiam.DetachRolePolicyInput{RoleName: aws.String("carts"), PolicyArn: arn})
	must(t, err)
	_, err = c.DeleteRole(ctx, &awsiam.DeleteRoleInput{RoleName: aws.String("carts")})
	apiErr[*types.DeleteConflictException](t, err, "DeleteConflict", "Cannot delete entity, must delete policies first.")
	_, err = c.DeleteRolePolicy(ctx, &awsiam.DeleteRolePolicyInput{RoleName: aws.String("carts"), PolicyName: aws.String("inline")})
	must(t, err)
	_, err = c.DeleteRole(ctx, &awsiam.DeleteRoleInput{RoleName: aws.String("carts")})
	must(t, err)
	_, err = c.DeletePolicyVersion(ctx, &awsiam.DeletePolicyVersionInput{PolicyArn: arn, VersionId: aws.String("v2")})
	must(t, err)
	_, err = c.DeletePolicy(ctx, &awsiam.DeletePolicyInput{PolicyArn: arn})
	must(t, err)

	// Users and access keys.
	cu, err := c.CreateUser(ctx, &awsiam.CreateUserInput{UserName: aws.String("alice")})
	must(t, err)
	if aws.ToString(cu.User.Arn) != "arn:aws:iam::123456789012:user/alice" || aws.ToString(cu.User.Path) != "/" {
		t.Fatalf("CreateUser = %+v", cu.User)
	}
	me, err := c.GetUser(ctx, &awsiam.GetUserInput{})
	must(t, err)
	if aws.ToString(me.User.Arn) != "arn:aws:iam::123456789012:root" || aws.ToString(me.User.UserId) != "123456789012" {
		t.Fatalf("GetUser (root) = %+v", me.User)
	}
	ck, err := c.CreateAccessKey(ctx, &awsiam.CreateAccessKeyInput{UserName: aws.String("alice")})
	must(t, err)
	if len(aws.ToString(ck.AccessKey.SecretAccessKey)) != 40 || ck.AccessKey.Status != types.StatusTypeActive || aws.ToString(ck.AccessKey.UserName) != "alice" {
		t.Fatalf("CreateAccessKey = %+v", ck.AccessKey)
	}
	lk, err := c.ListAccessKeys(ctx, &awsiam.ListAccessKeysInput{UserName: aws.String("alice")})
	must(t, err)
	if len(lk.AccessKeyMetadata) != 1 || aws.ToString(lk.AccessKeyMetadata[0].AccessKeyId) != aws.ToString(ck.AccessKey.AccessKeyId) {
		t.Fatalf("ListAccessKeys = %+v", lk.AccessKeyMetadata)
	}
	_, err = c.UpdateAccessKey(ctx, &awsiam.UpdateAccessKeyInput{UserName: aws.String("alice"), AccessKeyId: ck.AccessKey.AccessKeyId, Status: types.StatusTypeInactive})
	must(t, err)
	lk, err = c.ListAccessKeys(ctx, &awsiam.ListAccessKeysInput{UserName: aws.String("alice")})
	must(t, err)
	if len(lk.AccessKeyMetadata) != 1 || lk.AccessKeyMetadata[0].Status != types.StatusTypeInactive {
		t.Fatalf("ListAccessKeys after UpdateAccessKey = %+v", lk.AccessKeyMetadata)
	}

	// A user's policies, tags and permissions boundary.
	up, err := c.CreatePolicy(ctx, &awsiam.CreatePolicyInput{PolicyName: aws.String("alice-dynamo"), PolicyDocument: aws.String(permDoc)})
	must(t, err)
	_, err = c.AttachUserPolicy(ctx, &awsiam.AttachUserPolicyInput{UserName: aws.String("alice"), PolicyArn: up.Policy.Arn})
	must(t, err)
	lau, err := c.ListAttachedUserPolicies(ctx, &awsiam.ListAttachedUserPoliciesInput{UserName: aws.String("alice")})
	must(t, err)
	if len(lau.AttachedPolicies) != 1 || aws.ToString(lau.AttachedPolicies[0].PolicyArn) != aws.ToString(up.Policy.Arn) {
		t.Fatalf("ListAttachedUserPolicies = %+v", lau.AttachedPolicies)
	}
	_, err = c.PutUserPolicy(ctx, &awsiam.PutUserPolicyInput{UserName: aws.String("alice"), PolicyName: aws.String("inline"), PolicyDocument: aws.String(permDoc)})
	must(t, err)
	gup, err := c.GetUserPolicy(ctx, &awsiam.GetUserPolicyInput{UserName: aws.String("alice"), PolicyName: aws.String("inline")})
	must(t, err)
	if decodeDoc(t, gup.PolicyDocument) != permDoc || aws.ToString(gup.UserName) != "alice" {
		t.Fatalf("GetUserPolicy = %+v", gup)
	}
	lup, err := c.ListUserPolicies(ctx, &awsiam.ListUserPoliciesInput{UserName: aws.String("alice")})
	must(t, err)
	if len(lup.PolicyNames) != 1 || lup.PolicyNames[0] != "inline" {
		t.Fatalf("ListUserPolicies = %+v", lup.PolicyNames)
	}
	_, err = c.TagUser(ctx, &awsiam.TagUserInput{UserName: aws.String("alice"), Tags: []types.Tag{{Key: aws.String("team"), Value: aws.String("carts")}}})
	must(t, err)
	lut, err := c.ListUserTags(ctx, &awsiam.ListUserTagsInput{UserName: aws.String("alice")})
	must(t, err)
	if len(lut.Tags) != 1 || aws.ToString(lut.Tags[0].Key) != "team" || aws.ToString(lut.Tags[0].Value) != "carts" {
		t.Fatalf("ListUserTags = %+v", lut.Tags)
	}
	_, err = c.UntagUser(ctx, &awsiam.UntagUserInput{UserName: aws.String("alice"), TagKeys: []string{"team"}})
	must(t, err)
	_, err = c.PutUserPermissionsBoundary(ctx, &awsiam.PutUserPermissionsBoundaryInput{UserName: aws.String("alice"), PermissionsBoundary: up.Policy.Arn})
	must(t, err)
	gu, err := c.GetUser(ctx, &awsiam.GetUserInput{UserName: aws.String("alice")})
	must(t, err)
	if gu.User.PermissionsBoundary == nil || aws.ToString(gu.User.PermissionsBoundary.PermissionsBoundaryArn) != aws.ToString(up.Policy.Arn) || len(gu.User.Tags) != 0 {
		t.Fatalf("GetUser after the boundary and untagging = %+v", gu.User)
	}
	_, err = c.DeleteUserPermissionsBoundary(ctx, &awsiam.DeleteUserPermissionsBoundaryInput{UserName: aws.String("alice")})
	must(t, err)
	_, err = c.DeletePolicy(ctx, &awsiam.DeletePolicyInput{PolicyArn: up.Policy.Arn})
	apiErr[*types.DeleteConflictException](t, err, "DeleteConflict", "Cannot delete a policy attached to entities.")
	_, err = c.DetachUserPolicy(ctx, &awsiam.DetachUserPolicyInput{UserName: aws.String("alice"), PolicyArn: up.Policy.Arn})
	must(t, err)
	_, err = c.DeleteUserPolicy(ctx, &awsiam.DeleteUserPolicyInput{UserName: aws.String("alice"), PolicyName: aws.String("inline")})
	must(t, err)
	_, err = c.DeletePolicy(ctx, &awsiam.DeletePolicyInput{PolicyArn: up.Policy.Arn})
	must(t, err)

	loginProfiles(t, c, createdAt)

	_, err = c.DeleteUser(ctx, &awsiam.DeleteUserInput{UserName: aws.String("alice")})
	apiErr[*types.DeleteConflictException](t, err, "DeleteConflict", "Cannot delete entity, must delete access keys first.")
	_, err = c.DeleteAccessKey(ctx, &awsiam.DeleteAccessKeyInput{UserName: aws.String("alice"), AccessKeyId: ck.AccessKey.AccessKeyId})
	must(t, err)
	lu, err := c.ListUsers(ctx, &awsiam.ListUsersInput{})
	must(t, err)
	if len(lu.Users) != 1 {
		t.Fatalf("ListUsers = %+v", lu.Users)
	}
	_, err = c.DeleteUser(ctx, &awsiam.DeleteUserInput{UserName: aws.String("alice")})
	must(t, err)

	// OpenID Connect providers.
	co, err := c.CreateOpenIDConnectProvider(ctx, &awsiam.CreateOpenIDConnectProviderInput{
		Url: aws.String("https://issuer.example.com/id/ABC"), ClientIDList: []string{"sts.amazonaws.com"},
	})
	must(t, err)
	if aws.ToString(co.OpenIDConnectProviderArn) != "arn:aws:iam::123456789012:oidc-provider/issuer.example.com/id/ABC" {
		t.Fatalf("CreateOpenIDConnectProvider = %+v", co)
	}
	go1, err := c.GetOpenIDConnectProvider(ctx, &awsiam.GetOpenIDConnectProviderInput{OpenIDConnectProviderArn: co.OpenIDConnectProviderArn})
	must(t, err)
	if aws.ToString(go1.Url) != "issuer.example.com/id/ABC" || len(go1.ClientIDList) != 1 || len(go1.ThumbprintList) != 0 || go1.CreateDate == nil {
		t.Fatalf("GetOpenIDConnectProvider = %+v", go1)
	}
	lo, err := c.ListOpenIDConnectProviders(ctx, &awsiam.ListOpenIDConnectProvidersInput{})
	must(t, err)
	if len(lo.OpenIDConnectProviderList) != 1 {
		t.Fatalf("ListOpenIDConnectProviders = %+v", lo)
	}
	_, err = c.DeleteOpenIDConnectProvider(ctx, &awsiam.DeleteOpenIDConnectProviderInput{OpenIDConnectProviderArn: co.OpenIDConnectProviderArn})
	must(t, err)
	_, err = c.GetOpenIDConnectProvider(ctx, &awsiam.GetOpenIDConnectProviderInput{OpenIDConnectProviderArn: co.OpenIDConnectProviderArn})
	apiErr[*types.NoSuchEntityException](t, err, "NoSuchEntity", "OpenIDConnect Provider not found for arn arn:aws:iam::123456789012:oidc-provider/issuer.example.com/id/ABC")
}

// loginProfiles runs the console-password operations and the account
// password policy on user alice, and leaves neither behind.
func loginProfiles(t *testing.T, c *awsiam.Client, createdAt func(time.Time) bool) {
	t.Helper()
	ctx := context.Background()
	_, err := c.GetAccountPasswordPolicy(ctx, &awsiam.GetAccountPasswordPolicyInput{})
	apiErr[*types.NoSuchEntityException](t, err, "NoSuchEntity", "The Password Policy with domain name 123456789012 cannot be found.")
	_, err = c.UpdateAccountPasswordPolicy(ctx, &awsiam.UpdateAccountPasswordPolicyInput{
		MinimumPasswordLength: aws.Int32(10), RequireNumbers: true, MaxPasswordAge: aws.Int32(30), PasswordReusePrevention: aws.Int32(3),
	})
	must(t, err)
	gp, err := c.GetAccountPasswordPolicy(ctx, &awsiam.GetAccountPasswordPolicyInput{})
	must(t, err)
	if pp := gp.PasswordPolicy; aws.ToInt32(pp.MinimumPasswordLength) != 10 || !pp.RequireNumbers || pp.RequireSymbols || !pp.ExpirePasswords ||
		aws.ToInt32(pp.MaxPasswordAge) != 30 || aws.ToInt32(pp.PasswordReusePrevention) != 3 || pp.HardExpiry != nil || pp.AllowUsersToChangePassword {
		t.Fatalf("GetAccountPasswordPolicy = %+v", pp)
	}
	_, err = c.UpdateAccountPasswordPolicy(ctx, &awsiam.UpdateAccountPasswordPolicyInput{MinimumPasswordLength: aws.Int32(5)})
	var generic smithy.APIError
	if !errors.As(err, &generic) || generic.ErrorCode() != "ValidationError" ||
		generic.ErrorMessage() != "1 validation error detected: Value '5' at 'minimumPasswordLength' failed to satisfy constraint: Member must have value greater than or equal to 6" {
		t.Fatalf("MinimumPasswordLength 5: %v", err)
	}

	_, err = c.CreateLoginProfile(ctx, &awsiam.CreateLoginProfileInput{UserName: aws.String("alice"), Password: aws.String("no-digits-here")})
	apiErr[*types.PasswordPolicyViolationException](t, err, "PasswordPolicyViolation", "Password should have at least one number")
	clp, err := c.CreateLoginProfile(ctx, &awsiam.CreateLoginProfileInput{
		UserName: aws.String("alice"), Password: aws.String("Console-Passw0rd"), PasswordResetRequired: true,
	})
	must(t, err)
	if lp := clp.LoginProfile; aws.ToString(lp.UserName) != "alice" || lp.CreateDate == nil || !createdAt(*lp.CreateDate) || !lp.PasswordResetRequired {
		t.Fatalf("CreateLoginProfile = %+v", lp)
	}
	_, err = c.CreateLoginProfile(ctx, &awsiam.CreateLoginProfileInput{UserName: aws.String("alice"), Password: aws.String("Console-Passw0rd")})
	apiErr[*types.EntityAlreadyExistsException](t, err, "EntityAlreadyExists", "Login Profile for user alice already exists.")
	_, err = c.UpdateLoginProfile(ctx, &awsiam.UpdateLoginProfileInput{UserName: aws.String("alice"), PasswordResetRequired: aws.Bool(false)})
	must(t, err)
	glp, err := c.GetLoginProfile(ctx, &awsiam.GetLoginProfileInput{UserName: aws.String("alice")})
	must(t, err)
	if lp := glp.LoginProfile; aws.ToString(lp.UserName) != "alice" || !lp.CreateDate.Equal(*clp.LoginProfile.CreateDate) || lp.PasswordResetRequired {
		t.Fatalf("GetLoginProfile = %+v", lp)
	}
	_, err = c.UpdateLoginProfile(ctx, &awsiam.UpdateLoginProfileInput{UserName: aws.String("alice"), Password: aws.String("Console-Passw0rd")})
	apiErr[*types.PasswordPolicyViolationException](t, err, "PasswordPolicyViolation", "Password should not be one of your 3 most recent passwords")
	_, err = c.GetLoginProfile(ctx, &awsiam.GetLoginProfileInput{UserName: aws.String("ghost")})
	apiErr[*types.NoSuchEntityException](t, err, "NoSuchEntity", "The user with name ghost cannot be found.")
	_, err = c.ChangePassword(ctx, &awsiam.ChangePasswordInput{OldPassword: aws.String("Console-Passw0rd"), NewPassword: aws.String("Console-Passw0rd2")})
	apiErr[*types.InvalidUserTypeException](t, err, "InvalidUserType", "Only IAM users can change their own password.")

	_, err = c.DeleteUser(ctx, &awsiam.DeleteUserInput{UserName: aws.String("alice")})
	apiErr[*types.DeleteConflictException](t, err, "DeleteConflict", "Cannot delete entity, must delete login profile first.")
	_, err = c.DeleteLoginProfile(ctx, &awsiam.DeleteLoginProfileInput{UserName: aws.String("alice")})
	must(t, err)
	_, err = c.GetLoginProfile(ctx, &awsiam.GetLoginProfileInput{UserName: aws.String("alice")})
	apiErr[*types.NoSuchEntityException](t, err, "NoSuchEntity", "Login Profile for User alice cannot be found.")
	_, err = c.DeleteAccountPasswordPolicy(ctx, &awsiam.DeleteAccountPasswordPolicyInput{})
	must(t, err)
	_, err = c.DeleteAccountPasswordPolicy(ctx, &awsiam.DeleteAccountPasswordPolicyInput{})
	apiErr[*types.NoSuchEntityException](t, err, "NoSuchEntity", "The Password Policy with domain name 123456789012 cannot be found.")
}

// apiErr checks that err is the modelled error type T with the given code and message.
func apiErr[T smithy.APIError](t *testing.T, err error, code, msg string) {
	t.Helper()
	var typed T
	if !errors.As(err, &typed) {
		t.Fatalf("error = %v (%T), want %T", err, err, typed)
	}
	if typed.ErrorCode() != code || typed.ErrorMessage() != msg {
		t.Fatalf("error = %s %q, want %s %q", typed.ErrorCode(), typed.ErrorMessage(), code, msg)
	}
}

// decodeDoc returns a URL-encoded policy document as IAM returns it, decoded.
func decodeDoc(t *testing.T, s *string) string {
	t.Helper()
	if s == nil {
		t.Fatalf("document missing")
	}
	d, err := url.QueryUnescape(*s)
	must(t, err)
	return d
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("unexpected error: %v", err)
	}
}
