package sts

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/podid/podid/internal/store"
)

// podTags are the six session tags EKS Pod Identity passes.
func podTags(ns string) []Tag {
	return []Tag{
		{Key: "eks-cluster-arn", Value: "arn:aws:eks:us-west-2:123456789012:cluster/eks-workshop"},
		{Key: "eks-cluster-name", Value: "eks-workshop"},
		{Key: "kubernetes-namespace", Value: ns},
		{Key: "kubernetes-service-account", Value: "carts"},
		{Key: "kubernetes-pod-name", Value: "carts-7c9d8f6b5-x2x9z"},
		{Key: "kubernetes-pod-uid", Value: "5af5e7ac-5754-49ea-b28f-2c2a2eb95fbb"},
	}
}

var podTagKeys = []string{"eks-cluster-arn", "eks-cluster-name", "kubernetes-namespace", "kubernetes-service-account", "kubernetes-pod-name", "kubernetes-pod-uid"}

func TestAssumeRoleAs(t *testing.T) {
	f := newFixture(t)
	env := f.env
	now := env.Clock.Now()
	pod := env.AddRole(t, "pod", "", trustEKS, 0)
	noTS := env.AddRole(t, "pod-notagsession", "", trustEKSNoTS, 0)
	ns := env.AddRole(t, "pod-ns", "", trustEKSNS, 0)
	const svcName = "pods.eks.amazonaws.com"
	denied := func(action, role string) string {
		return "User: pods.eks.amazonaws.com is not authorized to perform: " + action + " on resource: " + role
	}

	tests := []struct {
		name      string
		in        ServiceAssumeInput
		code, msg string
		status    int
		expires   time.Time
		tags      map[string]string
	}{
		{name: "pod identity with session tags", in: ServiceAssumeInput{ServicePrincipal: svcName, RoleARN: pod.ARN, SessionName: "eks-eks-worksh-carts-7c9d-5af5e7ac",
			Tags: podTags("carts"), TransitiveTagKeys: podTagKeys, DurationSeconds: 21600, BypassMaxSessionDuration: true},
			expires: now.Add(6 * time.Hour), tags: tagMap(podTags("carts"))},
		{name: "duration held to MaxSessionDuration without the bypass", in: ServiceAssumeInput{ServicePrincipal: svcName, RoleARN: pod.ARN, SessionName: "s1", DurationSeconds: 21600},
			code: "ValidationError", status: 400, msg: "The requested DurationSeconds exceeds the MaxSessionDuration set for this role."},
		{name: "session tags disabled, session policy", in: ServiceAssumeInput{ServicePrincipal: svcName, RoleARN: noTS.ARN, SessionName: "s1", Policy: sessionDoc},
			expires: now.Add(time.Hour)},
		{name: "tags without sts:TagSession", in: ServiceAssumeInput{ServicePrincipal: svcName, RoleARN: noTS.ARN, SessionName: "s1", Tags: podTags("carts")},
			code: "AccessDenied", status: 403, msg: denied("sts:TagSession", noTS.ARN)},
		{name: "request-tag and source-account conditions hold", in: ServiceAssumeInput{ServicePrincipal: svcName, RoleARN: ns.ARN, SessionName: "s1",
			Tags: podTags("carts"), TransitiveTagKeys: podTagKeys, SourceAccount: acct, SourceARN: "arn:aws:eks:us-west-2:123456789012:cluster/eks-workshop"},
			expires: now.Add(time.Hour), tags: tagMap(podTags("carts"))},
		{name: "other namespace", in: ServiceAssumeInput{ServicePrincipal: svcName, RoleARN: ns.ARN, SessionName: "s1", Tags: podTags("orders"), SourceAccount: acct},
			code: "AccessDenied", status: 403, msg: denied("sts:AssumeRole", ns.ARN)},
		{name: "no source account", in: ServiceAssumeInput{ServicePrincipal: svcName, RoleARN: ns.ARN, SessionName: "s1", Tags: podTags("carts")},
			code: "AccessDenied", status: 403, msg: denied("sts:AssumeRole", ns.ARN)},
		{name: "other service", in: ServiceAssumeInput{ServicePrincipal: "ec2.amazonaws.com", RoleARN: pod.ARN, SessionName: "s1"},
			code: "AccessDenied", status: 403, msg: "User: ec2.amazonaws.com is not authorized to perform: sts:AssumeRole on resource: " + pod.ARN},
		{name: "bad session name", in: ServiceAssumeInput{ServicePrincipal: svcName, RoleARN: pod.ARN, SessionName: "eks:x"},
			code: "ValidationError", status: 400, msg: `1 validation error detected: Value 'eks:x' at 'roleSessionName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\w+=,.@-]*`},
		{name: "no service principal", in: ServiceAssumeInput{RoleARN: pod.ARN, SessionName: "s1"},
			code: "ValidationError", status: 400, msg: "1 validation error detected: Value null at 'servicePrincipal' failed to satisfy constraint: Member must not be null"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, err := f.svc.AssumeRoleAs(context.Background(), &tc.in)
			if tc.code != "" {
				wantErr(t, err, tc.code, tc.status, tc.msg)
				return
			}
			if err != nil {
				t.Fatalf("AssumeRoleAs: %v", err)
			}
			sess, secret, err := env.Minter.Open(out.AccessKeyID, out.SessionToken, now)
			if err != nil || secret != out.SecretAccessKey {
				t.Fatalf("credentials do not open: %v", err)
			}
			if !out.Expiration.Equal(tc.expires) || out.AssumedRoleARN != "arn:aws:sts::123456789012:assumed-role/"+sess.RoleName+"/"+tc.in.SessionName ||
				out.AssumedRoleID != sess.RoleID+":"+tc.in.SessionName || out.PackedPolicySize == 0 {
				t.Errorf("issued = %+v", out)
			}
			if !reflect.DeepEqual(sess.Tags, tc.tags) || sess.SourceARN != tc.in.ServicePrincipal {
				t.Errorf("session = %+v", sess)
			}
		})
	}
}

func tagMap(tags []Tag) map[string]string {
	m := map[string]string{}
	for _, t := range tags {
		m[t.Key] = t.Value
	}
	return m
}

func TestChainAssume(t *testing.T) {
	f := newFixture(t)
	env := f.env
	now := env.Clock.Now()
	pod := env.AddRole(t, "pod", "", trustEKS, 0)
	env.PutInline(t, store.KindRole, "pod", "to-target", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["sts:AssumeRole","sts:TagSession"],"Resource":"arn:aws:iam::123456789012:role/target"}]}`)
	target := env.AddRole(t, "target", "", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:root"},"Action":["sts:AssumeRole","sts:TagSession"],`+
		`"Condition":{"StringEquals":{"aws:RequestTag/kubernetes-namespace":"carts","sts:ExternalId":"us-west-2/123456789012/eks-workshop/carts/carts"},"ArnEquals":{"aws:PrincipalArn":"`+pod.ARN+`"}}}]}`, 43200)
	env.AddRole(t, "elsewhere", "", trustAccount, 0)

	first, err := f.svc.AssumeRoleAs(context.Background(), &ServiceAssumeInput{ServicePrincipal: "pods.eks.amazonaws.com", RoleARN: pod.ARN, SessionName: "hop1",
		Tags: podTags("carts"), TransitiveTagKeys: podTagKeys, DurationSeconds: 21600, BypassMaxSessionDuration: true})
	if err != nil {
		t.Fatalf("first hop: %v", err)
	}
	const extID = "us-west-2/123456789012/eks-workshop/carts/carts"
	tests := []struct {
		name      string
		in        ChainAssumeInput
		code, msg string
		status    int
		expires   time.Time
	}{
		{name: "target role", in: ChainAssumeInput{From: first, RoleARN: target.ARN, SessionName: "hop2", ExternalID: extID, Policy: sessionDoc}, expires: now.Add(time.Hour)},
		{name: "short session", in: ChainAssumeInput{From: first, RoleARN: target.ARN, SessionName: "hop2", ExternalID: extID, DurationSeconds: 900}, expires: now.Add(15 * time.Minute)},
		{name: "over one hour", in: ChainAssumeInput{From: first, RoleARN: target.ARN, SessionName: "hop2", ExternalID: extID, DurationSeconds: 7200},
			code: "ValidationError", status: 400, msg: "The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining."},
		{name: "wrong external ID", in: ChainAssumeInput{From: first, RoleARN: target.ARN, SessionName: "hop2", ExternalID: "nope-nope"},
			code: "AccessDenied", status: 403, msg: "User: arn:aws:sts::123456789012:assumed-role/pod/hop1 is not authorized to perform: sts:AssumeRole on resource: " + target.ARN},
		{name: "identity policy does not cover the role", in: ChainAssumeInput{From: first, RoleARN: roleARN("elsewhere"), SessionName: "hop2"},
			code: "AccessDenied", status: 403, msg: "User: arn:aws:sts::123456789012:assumed-role/pod/hop1 is not authorized to perform: sts:AssumeRole on resource: " + roleARN("elsewhere") + " because no identity-based policy allows the sts:AssumeRole action"},
		{name: "forged credentials", in: ChainAssumeInput{From: &IssuedCredentials{AccessKeyID: first.AccessKeyID, SessionToken: first.SessionToken + "x"}, RoleARN: target.ARN, SessionName: "hop2"},
			code: "InvalidClientTokenId", status: 403},
		{name: "no credentials", in: ChainAssumeInput{RoleARN: target.ARN, SessionName: "hop2"}, code: "ValidationError", status: 400},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, err := f.svc.ChainAssume(context.Background(), &tc.in)
			if tc.code != "" {
				wantErr(t, err, tc.code, tc.status, tc.msg)
				return
			}
			if err != nil {
				t.Fatalf("ChainAssume: %v", err)
			}
			sess, _, err := env.Minter.Open(out.AccessKeyID, out.SessionToken, now)
			if err != nil {
				t.Fatal(err)
			}
			if !out.Expiration.Equal(tc.expires) || out.AssumedRoleARN != "arn:aws:sts::123456789012:assumed-role/target/hop2" {
				t.Errorf("issued = %+v", out)
			}
			if !sess.Chained || !reflect.DeepEqual(sess.Tags, tagMap(podTags("carts"))) || !reflect.DeepEqual(sess.TransitiveTagKeys, podTagKeys) ||
				sess.SourceARN != "arn:aws:sts::123456789012:assumed-role/pod/hop1" {
				t.Errorf("session = %+v", sess)
			}
			if tc.in.Policy != "" && !reflect.DeepEqual(sess.Policies, []string{tc.in.Policy}) {
				t.Errorf("session policies = %q", sess.Policies)
			}
		})
	}
}
