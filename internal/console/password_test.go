package console_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/podid/podid/internal/app"
	"github.com/podid/podid/internal/iam"
)

// TestPasswordSignIn signs a user in with IAM's own login profile: a
// password that must be reset first confines the session to the
// change-password page; after ChangePassword (as that user) the console
// is the user's, decided by the user's policies.
func TestPasswordSignIn(t *testing.T) {
	e := newEnv(t, false)
	e.seed(t, 2)
	ctx := e.rootCtx()
	if _, err := e.app.IAM.CreateUser(ctx, &iam.CreateUserInput{UserName: "dev"}); err != nil {
		t.Fatal(err)
	}
	if err := e.app.IAM.PutUserPolicy(ctx, &iam.PutInlinePolicyInput{Name: "dev", PolicyName: "console",
		PolicyDocument: `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["eks:ListClusters","eks:DescribeCluster","eks:DescribeAddon","eks:ListPodIdentityAssociations"],"Resource":"*"},{"Effect":"Allow","Action":"iam:ChangePassword","Resource":"arn:aws:iam::123456789012:user/${aws:username}"}]}`}); err != nil {
		t.Fatal(err)
	}
	const first, second = "First-passw0rd!", "Second-passw0rd!"
	if _, err := e.app.IAM.CreateLoginProfile(ctx, &iam.CreateLoginProfileInput{UserName: "dev", Password: first, PasswordResetRequired: true}); err != nil {
		t.Fatal(err)
	}
	b := e.browser(t)
	signIn := func(password string) *http.Response {
		_, page := b.get("/console/signin")
		resp, _ := b.post("/console/signin", url.Values{"csrf": {formToken(t, page)}, "method": {"user"}, "account": {app.DefaultAccountID}, "userName": {"dev"}, "password": {password}})
		return resp
	}
	if resp := signIn("Wrong-passw0rd!"); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("wrong password: %d", resp.StatusCode)
	}
	resp := signIn(first)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/console/password" {
		t.Fatalf("sign-in with a password to reset: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	if resp, _ := b.get("/console/clusters/c1"); resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/console/password" {
		t.Fatalf("a must-change session reached the cluster page: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	_, page := b.get("/console/password")
	if !strings.Contains(page, "must be changed") {
		t.Fatalf("password page:\n%s", page)
	}
	tok := formToken(t, page)
	resp, body := b.post("/console/password", url.Values{"csrf": {tok}, "oldPassword": {first}, "newPassword": {second}, "confirmPassword": {second + "x"}})
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "PasswordMismatch") {
		t.Fatalf("mismatch: %d\n%s", resp.StatusCode, body)
	}
	resp, body = b.post("/console/password", url.Values{"csrf": {tok}, "oldPassword": {"Wrong-passw0rd!"}, "newPassword": {second}, "confirmPassword": {second}})
	if resp.StatusCode < 400 || !strings.Contains(body, `id="api-error"`) {
		t.Fatalf("wrong old password: %d\n%s", resp.StatusCode, body)
	}
	resp, _ = b.post("/console/password", url.Values{"csrf": {tok}, "oldPassword": {first}, "newPassword": {second}, "confirmPassword": {second}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/console/clusters" {
		t.Fatalf("change: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp, body = b.get("/console/clusters/c1")
	if resp.StatusCode != http.StatusOK || len(rowRE.FindAllString(body, -1)) != 2 || !strings.Contains(body, "arn:aws:iam::123456789012:user/dev") {
		t.Fatalf("cluster page after the change: %d\n%s", resp.StatusCode, body)
	}
	// The user may list but not create: the API's refusal.
	_, page = b.get("/console/clusters/c1")
	resp, body = b.post("/console/clusters/c1/associations", url.Values{"csrf": {formToken(t, page)}, "namespace": {"x"}, "serviceAccount": {"y"}, "roleArn": {"arn:aws:iam::123456789012:role/r1"}})
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "AccessDeniedException") || !strings.Contains(body, "eks:CreatePodIdentityAssociation") {
		t.Fatalf("create as dev: %d\n%s", resp.StatusCode, body)
	}
	// The old password no longer signs in; the new one does, to the
	// console itself.
	b = e.browser(t)
	if resp := signIn(first); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("old password: %d", resp.StatusCode)
	}
	if resp := signIn(second); resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/console/clusters" {
		t.Fatalf("new password: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
}
