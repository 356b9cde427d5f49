package iam

import (
	"testing"
)

// TestPolicyEngineValidation runs the real policy engine (no
// Config.ValidatePolicy): codes and statuses are mapped from
// *policy.ValidationError, and trust policies may only name principals
// that exist.
func TestPolicyEngineValidation(t *testing.T) {
	env := newTestEnv(t, func(c *Config) { c.ValidatePolicy = nil })
	trustFor := func(principal string) string {
		return `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":` + principal + `,"Action":"sts:AssumeRoleWithWebIdentity"}]}`
	}
	oidc := "arn:aws:iam::123456789012:oidc-provider/issuer.example.com"
	tests := []struct {
		name   string
		run    func() error
		status int
		code   string
		msg    string
	}{
		{"unknown role principal", func() error {
			_, err := env.svc.CreateRole(env.ctx, &CreateRoleInput{RoleName: "r1", AssumeRolePolicyDocument: trustFor(`{"AWS":"arn:aws:iam::123456789012:role/ghost"}`)})
			return err
		}, 400, "MalformedPolicyDocument", `Invalid principal in policy: "AWS":"arn:aws:iam::123456789012:role/ghost"`},
		{"unknown OIDC provider", func() error {
			_, err := env.svc.CreateRole(env.ctx, &CreateRoleInput{RoleName: "r1", AssumeRolePolicyDocument: trustFor(`{"Federated":"` + oidc + `"}`)})
			return err
		}, 400, "MalformedPolicyDocument", `Invalid principal in policy: "FEDERATED":"` + oidc + `"`},
		{"managed policy of version 2008", func() error {
			_, err := env.svc.CreatePolicy(env.ctx, &CreatePolicyInput{PolicyName: "old", PolicyDocument: `{"Version":"2008-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}`})
			return err
		}, 400, "MalformedPolicyDocument", "Policy document must be version 2012-10-17 or greater."},
		{"trust policy over quota", func() error {
			_, err := env.svc.CreateRole(env.ctx, &CreateRoleInput{RoleName: "r1", AssumeRolePolicyDocument: trustFor(`{"Service":"` + repeat("a", 2100) + `.amazonaws.com"}`)})
			return err
		}, 409, "LimitExceeded", "Cannot exceed quota for ACLSizePerRole: 2048"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			wantErr(t, tc.run(), tc.status, tc.code, tc.msg)
		})
	}

	// Once the principals exist, the same trust policies are accepted.
	env.createRole(t, "ghost", "/")
	_, err := env.svc.CreateRole(env.ctx, &CreateRoleInput{RoleName: "r1", AssumeRolePolicyDocument: trustFor(`{"AWS":"arn:aws:iam::123456789012:role/ghost"}`)})
	must(t, err)
	_, err = env.svc.CreateOpenIDConnectProvider(env.ctx, &CreateOpenIDConnectProviderInput{URL: "https://issuer.example.com"})
	must(t, err)
	must(t, env.svc.UpdateAssumeRolePolicy(env.ctx, &UpdateAssumeRolePolicyInput{RoleName: "r1", PolicyDocument: trustFor(`{"Federated":"` + oidc + `"}`)}))
	// A principal with the right name but another path does not exist.
	wantErr(t, env.svc.UpdateAssumeRolePolicy(env.ctx, &UpdateAssumeRolePolicyInput{RoleName: "r1", PolicyDocument: trustFor(`{"AWS":"arn:aws:iam::123456789012:role/x/ghost"}`)}),
		400, "MalformedPolicyDocument", `Invalid principal in policy: "AWS":"arn:aws:iam::123456789012:role/x/ghost"`)
	// Other accounts' principals cannot be checked and are accepted.
	must(t, env.svc.UpdateAssumeRolePolicy(env.ctx, &UpdateAssumeRolePolicyInput{RoleName: "r1", PolicyDocument: trustFor(`{"AWS":"arn:aws:iam::999999999999:role/elsewhere"}`)}))
}
