package sts

import (
	"context"
	"testing"

	"github.com/podid/podid/internal/auth"
)

// BenchmarkAssumeRoleAs is EKS Pod Identity's first hop: the service
// principal assumes a role with six transitive session tags (store read of
// the role, trust evaluation for sts:AssumeRole and sts:TagSession, packed
// size, mint).
func BenchmarkAssumeRoleAs(b *testing.B) {
	f := newFixture(b)
	role := f.env.AddRole(b, "pod", "", trustEKS, 0)
	in := &ServiceAssumeInput{ServicePrincipal: "pods.eks.amazonaws.com", RoleARN: role.ARN, SessionName: "eks-eks-worksh-carts-7c9d-5af5e7ac-5754-49ea-b28f-2c2a2eb95fbb",
		Tags: podTags("carts"), TransitiveTagKeys: podTagKeys, DurationSeconds: 21600, BypassMaxSessionDuration: true}
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := f.svc.AssumeRoleAs(ctx, in); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkAssumeRoleUser is AssumeRole by an IAM user whose identity
// policies must allow it (trust names the account), at the service's typed
// method; BenchmarkAssumeRoleHTTP is the same call as a whole signed
// request.
func BenchmarkAssumeRoleUser(b *testing.B) {
	f := newFixture(b)
	f.env.AddRole(b, "shared", "", trustAccount, 0)
	ctx := f.as(f.env.User(f.alice))
	in := &AssumeRoleInput{RoleArn: roleARN("shared"), RoleSessionName: "bench"}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := f.svc.AssumeRole(ctx, in); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkChainAssume is the target-role hop of EKS Pod Identity.
func BenchmarkChainAssume(b *testing.B) {
	f := newFixture(b)
	pod := f.env.AddRole(b, "pod", "", trustEKS, 0)
	f.env.PutInline(b, "role", "pod", "to-target", allowAssume)
	target := f.env.AddRole(b, "target", "", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"`+pod.ARN+`"},"Action":["sts:AssumeRole","sts:TagSession"]}]}`, 0)
	first, err := f.svc.AssumeRoleAs(context.Background(), &ServiceAssumeInput{ServicePrincipal: "pods.eks.amazonaws.com", RoleARN: pod.ARN, SessionName: "hop1",
		Tags: podTags("carts"), TransitiveTagKeys: podTagKeys})
	if err != nil {
		b.Fatal(err)
	}
	in := &ChainAssumeInput{From: first, RoleARN: target.ARN, SessionName: "hop2", ExternalID: "us-west-2/123456789012/c/ns/sa"}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := f.svc.ChainAssume(context.Background(), in); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkGetCallerIdentity is the cheapest call, for reference.
func BenchmarkGetCallerIdentity(b *testing.B) {
	f := newFixture(b)
	ctx := auth.WithPrincipal(context.Background(), f.env.User(f.alice))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := f.svc.GetCallerIdentity(ctx, nil); err != nil {
			b.Fatal(err)
		}
	}
}
