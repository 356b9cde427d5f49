package app

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/podid/podid/internal/auth"
	"github.com/podid/podid/internal/iam"
	"github.com/podid/podid/internal/store"
	"github.com/podid/podid/internal/testclock"
)

// TestAssembleWiresEverything builds a server in process: every part is
// set, and EKS Auth and the agent installer share one call log (the
// installer, built first, sees EKS Auth's calls).
func TestAssembleWiresEverything(t *testing.T) {
	a, err := New(context.Background(), Config{DataDir: t.TempDir(), PublicURL: "http://127.0.0.1:8080", Getenv: func(string) string { return "" }, Now: testclock.New(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)).Now})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if err := a.checkWired(); err != nil {
		t.Fatal(err)
	}
	if _, ok := a.EKSAuth.LastCall("eks-workshop"); ok {
		t.Error("a fresh server has a last agent call")
	}
}

// TestCheckWiredFailsLoudly: a part left unset is an error naming it.
func TestCheckWiredFailsLoudly(t *testing.T) {
	err := (&App{}).checkWired()
	if err == nil || !strings.Contains(err.Error(), "store unset") {
		t.Fatalf("checkWired on an empty App = %v, want the store named", err)
	}
}

// TestConsolePasswordsWired: the assembled IAM hashes console passwords
// with argon2id's default parameters and signs a user in with one.
func TestConsolePasswordsWired(t *testing.T) {
	ctx := context.Background()
	a, err := New(ctx, Config{DataDir: t.TempDir(), PublicURL: "http://127.0.0.1:8080", Getenv: func(string) string { return "" }})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	const account = DefaultAccountID
	root := auth.WithPrincipal(ctx, auth.RootPrincipal("aws", account, a.RootAccessKeyID))
	if _, err := a.IAM.CreateUser(root, &iam.CreateUserInput{UserName: "alice"}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.IAM.CreateLoginProfile(root, &iam.CreateLoginProfileInput{UserName: "alice", Password: "Wired-Passw0rd"}); err != nil {
		t.Fatal(err)
	}
	err = a.Store.View(ctx, func(tx store.Tx) error {
		u, err := tx.GetUser(account, "alice")
		if err == nil && !strings.HasPrefix(u.LoginProfile.PasswordHash, "$argon2id$v=19$m=65536,t=3,p=4$") {
			t.Errorf("stored hash %q is not argon2id with the default parameters", u.LoginProfile.PasswordHash)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	p, err := a.IAM.CheckConsolePassword(ctx, account, "alice", "Wired-Passw0rd")
	if err != nil || p.ARN != "arn:aws:iam::"+account+":user/alice" {
		t.Fatalf("sign-in = %+v, %v", p, err)
	}
}
