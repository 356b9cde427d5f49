package e2e

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// TestIAMLoginProfilesCLI drives console passwords and the account
// password policy with the AWS CLI against the real server: an
// administrator (root) sets the policy and alice's password, alice changes
// her own with her access key (the policy's AllowUsersToChangePassword is
// her only permission), and neither password ever reaches the server's
// log, which runs at debug level.
func TestIAMLoginProfilesCLI(t *testing.T) {
	t.Parallel()
	s := startServer(t, "--log-level", "debug")
	root := s.root()
	const first, second, third = "Console-Passw0rd-1", "Console-Passw0rd-2", "Console-Passw0rd-3"

	s.aws(t, root, "iam", "create-user", "--user-name", "alice")
	key := s.awsJSON(t, root, "iam", "create-access-key", "--user-name", "alice")
	alice := creds{Key: str(key, "AccessKey", "AccessKeyId"), Secret: str(key, "AccessKey", "SecretAccessKey")}

	wantCode(t, s.awsErr(t, root, "iam", "get-account-password-policy"), "NoSuchEntity")
	s.aws(t, root, "iam", "update-account-password-policy", "--minimum-password-length", "12", "--require-numbers",
		"--require-uppercase-characters", "--allow-users-to-change-password", "--password-reuse-prevention", "2")
	pol := s.awsJSON(t, root, "iam", "get-account-password-policy")
	want := map[string]any{"PasswordPolicy": map[string]any{
		"MinimumPasswordLength": 12.0, "RequireSymbols": false, "RequireNumbers": true, "RequireUppercaseCharacters": true,
		"RequireLowercaseCharacters": false, "AllowUsersToChangePassword": true, "ExpirePasswords": false, "PasswordReusePrevention": 2.0,
	}}
	if !reflect.DeepEqual(pol, want) {
		t.Fatalf("get-account-password-policy = %v\nwant %v", pol, want)
	}

	errOut := s.awsErr(t, root, "iam", "create-login-profile", "--user-name", "alice", "--password", "Short-1")
	wantCode(t, errOut, "PasswordPolicyViolation")
	if !strings.Contains(errOut, "Password should have a minimum length of 12") {
		t.Errorf("create-login-profile with a short password: %s", errOut)
	}
	lp := s.awsJSON(t, root, "iam", "create-login-profile", "--user-name", "alice", "--password", first, "--password-reset-required")
	if str(lp, "LoginProfile", "UserName") != "alice" || str(lp, "LoginProfile", "CreateDate") == "" ||
		lp["LoginProfile"].(map[string]any)["PasswordResetRequired"] != true {
		t.Fatalf("create-login-profile = %v", lp)
	}
	wantCode(t, s.awsErr(t, root, "iam", "create-login-profile", "--user-name", "alice", "--password", first), "EntityAlreadyExists")
	got := s.awsJSON(t, root, "iam", "get-login-profile", "--user-name", "alice")
	if !reflect.DeepEqual(got, lp) {
		t.Fatalf("get-login-profile = %v, want %v", got, lp)
	}

	// alice, with no identity policy at all: the account policy lets her
	// read it and change her own password, and nothing else.
	if p := s.awsJSON(t, alice, "iam", "get-account-password-policy"); !reflect.DeepEqual(p, want) {
		t.Fatalf("alice's get-account-password-policy = %v", p)
	}
	wantCode(t, s.awsErr(t, alice, "iam", "get-login-profile", "--user-name", "alice"), "AccessDenied")
	errOut = s.awsErr(t, alice, "iam", "change-password", "--old-password", second, "--new-password", third)
	wantCode(t, errOut, "AccessDenied")
	s.aws(t, alice, "iam", "change-password", "--old-password", first, "--new-password", second)
	wantCode(t, s.awsErr(t, alice, "iam", "change-password", "--old-password", second, "--new-password", first), "PasswordPolicyViolation")
	if p := s.awsJSON(t, root, "iam", "get-login-profile", "--user-name", "alice"); p["LoginProfile"].(map[string]any)["PasswordResetRequired"] != false {
		t.Fatalf("after change-password the reset flag stays: %v", p)
	}
	wantCode(t, s.awsErr(t, root, "iam", "change-password", "--old-password", second, "--new-password", third), "InvalidUserType")

	// An administrator's reset, then clean-up in IAM's order.
	s.aws(t, root, "iam", "update-login-profile", "--user-name", "alice", "--password", third, "--password-reset-required")
	errOut = s.awsErr(t, root, "iam", "delete-user", "--user-name", "alice")
	wantCode(t, errOut, "DeleteConflict")
	if !strings.Contains(errOut, "must delete login profile first") {
		t.Errorf("delete-user with a login profile: %s", errOut)
	}
	s.aws(t, root, "iam", "delete-login-profile", "--user-name", "alice")
	errOut = s.awsErr(t, root, "iam", "get-login-profile", "--user-name", "alice")
	wantCode(t, errOut, "NoSuchEntity")
	if !strings.Contains(errOut, "Login Profile for User alice cannot be found.") {
		t.Errorf("get-login-profile after delete: %s", errOut)
	}
	s.aws(t, root, "iam", "delete-account-password-policy")
	errOut = s.awsErr(t, root, "iam", "get-account-password-policy")
	if !strings.Contains(errOut, "The Password Policy with domain name "+s.AccountID+" cannot be found.") {
		t.Errorf("get-account-password-policy after delete: %s", errOut)
	}

	for _, pw := range []string{first, second, third} {
		if strings.Contains(s.logs.String(), pw) {
			t.Errorf("the server log contains a password")
		}
	}
}

// TestIAMLoginProfilesBoto3 checks the same operations' shapes through
// boto3 (botocore's model parses every member and error).
func TestIAMLoginProfilesBoto3(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	out := s.python(t, s.root(), `
import boto3, json
iam = boto3.client("iam")
iam.create_user(UserName="bob")
res = {}
lp = iam.create_login_profile(UserName="bob", Password="Boto3-Passw0rd", PasswordResetRequired=False)["LoginProfile"]
res["created"] = {"UserName": lp["UserName"], "Reset": lp["PasswordResetRequired"], "HasDate": lp["CreateDate"] is not None}
iam.update_account_password_policy(MinimumPasswordLength=20, HardExpiry=True, MaxPasswordAge=60)
res["policy"] = iam.get_account_password_policy()["PasswordPolicy"]
try:
    iam.update_login_profile(UserName="bob", Password="Boto3-Passw0rd")
except iam.exceptions.PasswordPolicyViolationException as e:
    res["violation"] = e.response["Error"]["Message"]
try:
    iam.get_login_profile(UserName="nobody")
except iam.exceptions.NoSuchEntityException as e:
    res["missing"] = e.response["Error"]["Message"]
print(json.dumps(res))
`)
	var got map[string]any
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("boto3 output %q: %v", out, err)
	}
	want := map[string]any{
		"created": map[string]any{"UserName": "bob", "Reset": false, "HasDate": true},
		"policy": map[string]any{
			"MinimumPasswordLength": 20.0, "RequireSymbols": false, "RequireNumbers": false, "RequireUppercaseCharacters": false,
			"RequireLowercaseCharacters": false, "AllowUsersToChangePassword": false, "ExpirePasswords": true,
			"MaxPasswordAge": 60.0, "HardExpiry": true,
		},
		"violation": "Password should have a minimum length of 20",
		"missing":   "The user with name nobody cannot be found.",
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("boto3:\n got %v\nwant %v", got, want)
	}
}
