package auth_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/podid/podid/internal/auth"
	"github.com/podid/podid/internal/auth/authtest"
	"github.com/podid/podid/internal/awsproto"
)

func TestResolverLongTermKeys(t *testing.T) {
	env := authtest.New(t)
	alice := env.AddUser(t, "alice")
	rootKey, rootSecret := env.AddAccessKey(t, "")
	aliceKey, aliceSecret := env.AddAccessKey(t, "alice")
	offKey, _ := env.AddAccessKey(t, "alice")
	env.SetAccessKeyStatus(t, offKey, "Inactive")

	tests := []struct {
		name       string
		akid       string
		token      string
		wantSecret string
		want       *auth.Principal
		wantCode   string
	}{
		{
			name: "root key", akid: rootKey, wantSecret: rootSecret,
			want: &auth.Principal{Type: auth.Root, AccountID: authtest.Account, ARN: "arn:aws:iam::123456789012:root", UserID: authtest.Account, AccessKeyID: rootKey},
		},
		{
			name: "user key", akid: aliceKey, wantSecret: aliceSecret,
			want: &auth.Principal{Type: auth.User, AccountID: authtest.Account, ARN: "arn:aws:iam::123456789012:user/alice", UserID: alice.ID, AccessKeyID: aliceKey, Name: "alice"},
		},
		{name: "inactive key", akid: offKey, wantCode: "InvalidClientTokenId"},
		{name: "unknown key", akid: "AKIAAAAAAAAAAAAAAAAA", wantCode: "InvalidClientTokenId"},
		{name: "long-term key with a session token", akid: aliceKey, token: "IQoJb3JpZ2luX2Vj", wantCode: "InvalidClientTokenId"},
		{name: "empty key", akid: "", wantCode: "InvalidClientTokenId"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			secret, id, err := env.Resolver.LookupSecret(context.Background(), tc.akid, tc.token)
			if tc.wantCode != "" {
				assertCode(t, err, tc.wantCode, 403, "The security token included in the request is invalid.")
				return
			}
			if err != nil {
				t.Fatalf("LookupSecret: %v", err)
			}
			if secret != tc.wantSecret {
				t.Errorf("secret mismatch")
			}
			p := id.(*auth.Principal)
			if *p != *tc.want {
				t.Errorf("principal = %+v, want %+v", *p, *tc.want)
			}
		})
	}
}

func TestResolverSessions(t *testing.T) {
	env := authtest.New(t)
	alice := env.AddUser(t, "alice")
	now := env.Clock.Now()
	roleSess := &auth.Session{
		RoleARN: "arn:aws:iam::123456789012:role/team/app", RoleID: "AROAEXAMPLEEXAMPLE12", RoleName: "app",
		Type: auth.AssumedRole, SessionName: "s-1", Issued: now, Expires: now.Add(time.Hour),
	}
	userSess := &auth.Session{Type: auth.User, UserName: "alice", Issued: now, Expires: now.Add(time.Hour), SourceARN: alice.ARN}
	rootSess := &auth.Session{Type: auth.Root, Issued: now, Expires: now.Add(time.Hour)}
	goneSess := &auth.Session{Type: auth.User, UserName: "bob", Issued: now, Expires: now.Add(time.Hour)}

	tests := []struct {
		name     string
		sess     *auth.Session
		tamper   func(akid, token string) (string, string)
		advance  time.Duration
		wantARN  string
		wantID   string
		wantType auth.PrincipalType
		wantCode string
	}{
		{name: "assumed role", sess: roleSess, wantType: auth.AssumedRole,
			wantARN: "arn:aws:sts::123456789012:assumed-role/app/s-1", wantID: "AROAEXAMPLEEXAMPLE12:s-1"},
		{name: "user session", sess: userSess, wantType: auth.User, wantARN: alice.ARN, wantID: alice.ID},
		{name: "root session", sess: rootSess, wantType: auth.Root, wantARN: "arn:aws:iam::123456789012:root", wantID: authtest.Account},
		{name: "user deleted", sess: goneSess, wantCode: "InvalidClientTokenId"},
		{name: "no token", sess: roleSess, tamper: func(a, _ string) (string, string) { return a, "" }, wantCode: "InvalidClientTokenId"},
		{name: "other key ID", sess: roleSess, tamper: func(_, tok string) (string, string) { return "ASIAAAAAAAAAAAAAAAAA", tok }, wantCode: "InvalidClientTokenId"},
		{name: "expired", sess: roleSess, advance: 2 * time.Hour, wantCode: "ExpiredToken"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			akid, secret, token, err := env.Minter.Mint(tc.sess)
			if err != nil {
				t.Fatal(err)
			}
			if tc.tamper != nil {
				akid, token = tc.tamper(akid, token)
			}
			r, err := auth.NewResolver(auth.ResolverConfig{Store: env.Store, Keyring: env.Keyring, Sessions: env.Minter, AccountID: authtest.Account,
				Now: func() time.Time { return now.Add(tc.advance) }})
			if err != nil {
				t.Fatal(err)
			}
			gotSecret, id, err := r.LookupSecret(context.Background(), akid, token)
			if tc.wantCode != "" {
				var ae *awsproto.Error
				if !errors.As(err, &ae) || ae.Code != tc.wantCode || ae.Status != 403 {
					t.Fatalf("err = %v, want %s", err, tc.wantCode)
				}
				return
			}
			if err != nil {
				t.Fatalf("LookupSecret: %v", err)
			}
			if gotSecret != secret {
				t.Errorf("secret mismatch")
			}
			p := id.(*auth.Principal)
			if p.Type != tc.wantType || p.ARN != tc.wantARN || p.UserID != tc.wantID || p.AccountID != authtest.Account || p.AccessKeyID != akid || p.Session == nil {
				t.Errorf("principal = %+v", p)
			}
		})
	}
}

func assertCode(t *testing.T, err error, code string, status int, msg string) {
	t.Helper()
	var ae *awsproto.Error
	if !errors.As(err, &ae) {
		t.Fatalf("err = %v, want %s", err, code)
	}
	if ae.Code != code || ae.Status != status || (msg != "" && ae.Message != msg) {
		t.Fatalf("err = %s %d %q, want %s %d %q", ae.Code, ae.Status, ae.Message, code, status, msg)
	}
}
