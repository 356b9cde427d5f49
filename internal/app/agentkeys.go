package app

import (
	"context"
	"errors"
	"fmt"

	"github.com/podid/podid/internal/agentinstall"
	"github.com/podid/podid/internal/auth"
	"github.com/podid/podid/internal/awsproto"
	"github.com/podid/podid/internal/eksauth"
	"github.com/podid/podid/internal/iam"
)

// agentKeys makes the access keys of agents that CreateAddon installs on
// external clusters: one IAM user per cluster, /podid/podid-agent-CLUSTER,
// allowed only agentinstall.AgentPolicy (the same user and policy that
// `podid cluster register-self` creates). The calls run as the account
// root inside the server; the caller of CreateAddon never sees the key,
// which goes straight into the cluster's Secret.
type agentKeys struct {
	iam                        *iam.Service
	partition, region, account string
}

// agentUser names a cluster's agent user.
func agentUser(cluster string) string { return "podid-agent-" + cluster }

func (k agentKeys) asRoot(ctx context.Context) context.Context {
	return auth.WithPrincipal(ctx, auth.RootPrincipal(k.partition, k.account, ""))
}

// MintAgentKey creates (or reuses) the cluster's agent user, sets its
// policy and returns a new access key.
func (k agentKeys) MintAgentKey(ctx context.Context, cluster string) (string, string, error) {
	ctx = k.asRoot(ctx)
	user := agentUser(cluster)
	if _, err := k.iam.CreateUser(ctx, &iam.CreateUserInput{UserName: user, Path: "/podid/"}); err != nil {
		var ae *awsproto.Error
		if !errors.As(err, &ae) || ae.Code != "EntityAlreadyExists" {
			return "", "", fmt.Errorf("creating user %s: %w", user, err)
		}
	}
	doc := agentinstall.AgentPolicy(k.partition, k.region, k.account, cluster)
	if err := k.iam.PutUserPolicy(ctx, &iam.PutInlinePolicyInput{Name: user, PolicyName: "podid-component", PolicyDocument: doc}); err != nil {
		return "", "", fmt.Errorf("policy of %s: %w", user, err)
	}
	out, err := k.iam.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: user})
	if err != nil {
		return "", "", fmt.Errorf("access key of %s: %w", user, err)
	}
	return out.AccessKey.AccessKeyID, out.AccessKey.SecretAccessKey, nil
}

// RevokeAgentKey deletes one of the cluster agent user's keys.
func (k agentKeys) RevokeAgentKey(ctx context.Context, cluster, accessKeyID string) error {
	err := k.iam.DeleteAccessKey(k.asRoot(ctx), &iam.DeleteAccessKeyInput{UserName: agentUser(cluster), AccessKeyID: accessKeyID})
	var ae *awsproto.Error
	if errors.As(err, &ae) && ae.Code == "NoSuchEntity" {
		return nil // already gone
	}
	return err
}

// EnsureAgentRole creates (or updates) the cluster's agent role, which
// installed agents obtain with their projected tokens through the agent
// exchange: trusted by eksauth.AgentServicePrincipal for this cluster only,
// allowed only agentinstall.AgentPolicy (the same role `podid cluster
// register-self` creates).
func (k agentKeys) EnsureAgentRole(ctx context.Context, cluster string) error {
	ctx = k.asRoot(ctx)
	name := eksauth.AgentRoleName(cluster)
	trust := eksauth.AgentTrustPolicy(k.partition, k.region, k.account, cluster)
	_, err := k.iam.CreateRole(ctx, &iam.CreateRoleInput{RoleName: name, Path: eksauth.AgentRolePath, AssumeRolePolicyDocument: trust,
		Description: "podid node agents of cluster " + cluster + " (their projected tokens, node-bound sessions)"})
	var ae *awsproto.Error
	switch {
	case errors.As(err, &ae) && ae.Code == "EntityAlreadyExists":
		if err := k.iam.UpdateAssumeRolePolicy(ctx, &iam.UpdateAssumeRolePolicyInput{RoleName: name, PolicyDocument: trust}); err != nil {
			return fmt.Errorf("trust policy of %s: %w", name, err)
		}
	case err != nil:
		return fmt.Errorf("creating role %s: %w", name, err)
	}
	doc := agentinstall.AgentPolicy(k.partition, k.region, k.account, cluster)
	if err := k.iam.PutRolePolicy(ctx, &iam.PutInlinePolicyInput{Name: name, PolicyName: "podid-agent", PolicyDocument: doc}); err != nil {
		return fmt.Errorf("policy of %s: %w", name, err)
	}
	return nil
}
