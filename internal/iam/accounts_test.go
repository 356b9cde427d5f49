package iam

import (
	"context"
	"net/http"
	"testing"

	"github.com/podid/podid/internal/auth"
)

const otherAccount = "210987654321"

// TestAccountIsolation: a key of one account reads and writes only its
// account's IAM: the same role, user and policy names exist in two
// accounts; account A's root cannot see, change or delete account B's
// role, policy, user or access keys, and every ARN built for a caller
// carries the caller's account.
func TestAccountIsolation(t *testing.T) {
	env := newTestEnv(t)
	ctxA := env.ctx
	ctxB := auth.WithPrincipal(context.Background(), auth.RootPrincipal("aws", otherAccount, "AKIAROOTOFACCOUNTBBB"))

	roleB, err := env.svc.CreateRole(ctxB, &CreateRoleInput{RoleName: "app", AssumeRolePolicyDocument: trustDoc})
	must(t, err)
	if want := "arn:aws:iam::" + otherAccount + ":role/app"; roleB.Role.ARN != want {
		t.Errorf("B's role ARN %s, want %s", roleB.Role.ARN, want)
	}
	polB, err := env.svc.CreatePolicy(ctxB, &CreatePolicyInput{PolicyName: "read", PolicyDocument: permDoc})
	must(t, err)
	if want := "arn:aws:iam::" + otherAccount + ":policy/read"; polB.Policy.ARN != want {
		t.Errorf("B's policy ARN %s, want %s", polB.Policy.ARN, want)
	}
	_, err = env.svc.CreateUser(ctxB, &CreateUserInput{UserName: "dev"})
	must(t, err)
	keyB, err := env.svc.CreateAccessKey(ctxB, &CreateAccessKeyInput{UserName: "dev"})
	must(t, err)
	rootKeyB, err := env.svc.CreateAccessKey(ctxB, &CreateAccessKeyInput{})
	must(t, err)

	cases := []struct {
		name string
		call func() error
		code string
		msg  string
	}{
		{"GetRole", func() error { _, err := env.svc.GetRole(ctxA, &GetRoleInput{RoleName: "app"}); return err },
			"NoSuchEntity", "The role with name app cannot be found."},
		{"DeleteRole", func() error { return env.svc.DeleteRole(ctxA, &DeleteRoleInput{RoleName: "app"}) },
			"NoSuchEntity", "The role with name app cannot be found."},
		{"GetPolicy", func() error {
			_, err := env.svc.GetPolicy(ctxA, &GetPolicyInput{PolicyARN: polB.Policy.ARN})
			return err
		}, "NoSuchEntity", "Policy " + polB.Policy.ARN + " was not found."},
		{"GetUser", func() error { _, err := env.svc.GetUser(ctxA, &GetUserInput{UserName: "dev"}); return err },
			"NoSuchEntity", "The user with name dev cannot be found."},
		{"DeleteAccessKey of B's root", func() error {
			return env.svc.DeleteAccessKey(ctxA, &DeleteAccessKeyInput{AccessKeyID: rootKeyB.AccessKey.AccessKeyID})
		}, "NoSuchEntity", "The Access Key with id " + rootKeyB.AccessKey.AccessKeyID + " cannot be found"},
		{"UpdateAccessKey of B's user", func() error {
			return env.svc.UpdateAccessKey(ctxA, &UpdateAccessKeyInput{UserName: "dev", AccessKeyID: keyB.AccessKey.AccessKeyID, Status: StatusInactive})
		}, "NoSuchEntity", "The user with name dev cannot be found."},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			wantErr(t, c.call(), http.StatusNotFound, c.code, c.msg)
		})
	}

	// A's own role of the same name is A's.
	roleA, err := env.svc.CreateRole(ctxA, &CreateRoleInput{RoleName: "app", AssumeRolePolicyDocument: trustDoc})
	must(t, err)
	if want := "arn:aws:iam::" + testAccount + ":role/app"; roleA.Role.ARN != want {
		t.Errorf("A's role ARN %s, want %s", roleA.Role.ARN, want)
	}
	// Attaching B's policy to A's role: not attachable from A.
	err = env.svc.AttachRolePolicy(ctxA, &AttachPolicyInput{Name: "app", PolicyARN: polB.Policy.ARN})
	if err == nil {
		t.Fatal("A attached B's policy")
	}
	// Listings show each account's own.
	for _, tc := range []struct {
		ctx  context.Context
		want string
	}{{ctxA, roleA.Role.ARN}, {ctxB, roleB.Role.ARN}} {
		out, err := env.svc.ListRoles(tc.ctx, &ListRolesInput{})
		must(t, err)
		if len(out.Roles) != 1 || out.Roles[0].ARN != tc.want {
			t.Errorf("ListRoles = %+v, want only %s", out.Roles, tc.want)
		}
	}
	users, err := env.svc.ListUsers(ctxA, &ListUsersInput{})
	must(t, err)
	if len(users.Users) != 0 {
		t.Errorf("A lists B's users: %+v", users.Users)
	}
	// Deleting A's role leaves B's.
	must(t, env.svc.DeleteRole(ctxA, &DeleteRoleInput{RoleName: "app"}))
	got, err := env.svc.GetRole(ctxB, &GetRoleInput{RoleName: "app"})
	must(t, err)
	if got.Role.ARN != roleB.Role.ARN {
		t.Errorf("B's role after A's delete: %s", got.Role.ARN)
	}
}
