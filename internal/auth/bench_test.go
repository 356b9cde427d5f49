package auth_test

import (
	"context"
	"testing"
	"time"

	"github.com/podid/podid/internal/auth"
	"github.com/podid/podid/internal/auth/authtest"
	"github.com/podid/podid/internal/store"
)

func BenchmarkLookupSecret(b *testing.B) {
	env := authtest.New(b)
	env.AddUser(b, "alice")
	akid, _ := env.AddAccessKey(b, "alice")
	now := env.Clock.Now()
	role := env.AddRole(b, "app", "", `{"Version":"2012-10-17","Statement":[]}`, 0)
	sakid, _, token, err := env.Minter.Mint(&auth.Session{RoleARN: role.ARN, RoleID: role.ID, RoleName: "app", Type: auth.AssumedRole, SessionName: "s",
		Tags: map[string]string{"kubernetes-namespace": "carts", "kubernetes-service-account": "carts"}, Issued: now, Expires: now.Add(time.Hour)})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	for _, bc := range []struct{ name, akid, token string }{{"long-term", akid, ""}, {"session", sakid, token}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, _, err := env.Resolver.LookupSecret(ctx, bc.akid, bc.token); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}

func BenchmarkAuthorize(b *testing.B) {
	env := authtest.New(b)
	u := env.AddUser(b, "alice", store.Tag{Key: "team", Value: "blue"})
	env.Attach(b, store.KindUser, "alice", env.AddPolicy(b, "iam-all", allowIAMAll))
	env.PutInline(b, store.KindUser, "alice", "abac", teamTag)
	env.PutInline(b, store.KindUser, "alice", "deny", denyCreateRole)
	p := env.User(u)
	ctx := context.Background()
	for _, bc := range []struct {
		name string
		ttl  time.Duration
	}{{"cached", auth.DefaultPolicyCacheTTL}, {"uncached", 0}} {
		a := auth.NewAuthorizer(auth.AuthorizerConfig{Store: env.Store, Engine: env.Engine, AccountID: authtest.Account, Now: env.Clock.Now, CacheTTL: bc.ttl})
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := a.Authorize(ctx, p, "iam:GetRole", "arn:aws:iam::123456789012:role/x", nil); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}
