package broker

import (
	"strings"
	"testing"
)

func TestSourceIdentity(t *testing.T) {
	long := strings.Repeat("n", 63)
	for _, tc := range []struct {
		s    Subject
		want string
	}{
		{Subject{Cluster: "eks-workshop", Namespace: "carts", ServiceAccount: "carts"}, "carts.carts@eks-workshop"},
		{Subject{Cluster: "c_1", Namespace: "kube-system", ServiceAccount: "aws.load-balancer"}, "kube-system.aws.load-balancer@c_1"},
		{Subject{Cluster: "c", Namespace: "ns", ServiceAccount: ""}, ""},
		{Subject{Cluster: "", Namespace: "ns", ServiceAccount: "sa"}, ""},
		{Subject{Cluster: "c", Namespace: "ns", ServiceAccount: "s a/b"}, "ns.s-a-b@c"},
		// Over 64 characters: 55 kept, then '-' and 8 hex digits of SHA-256.
		{Subject{Cluster: "prod", Namespace: long, ServiceAccount: "sa"}, long[:55] + "-" + "12b5a820"},
	} {
		got := SourceIdentity(tc.s)
		if got != tc.want {
			t.Errorf("SourceIdentity(%+v) = %q, want %q", tc.s, got, tc.want)
		}
		if got != "" && (len(got) < 2 || len(got) > 64 || sanitizeSTS(got) != got) {
			t.Errorf("SourceIdentity(%+v) = %q breaks STS's rules", tc.s, got)
		}
	}
	// Distinct long identities stay distinct.
	a := SourceIdentity(Subject{Cluster: "prod", Namespace: long, ServiceAccount: "sa-1"})
	b := SourceIdentity(Subject{Cluster: "prod", Namespace: long, ServiceAccount: "sa-2"})
	if a == b {
		t.Errorf("two long identities collide: %s", a)
	}
}

func TestClusterNameFromARN(t *testing.T) {
	for in, want := range map[string]string{
		"arn:aws:eks:us-west-2:123456789012:cluster/eks-workshop": "eks-workshop",
		"arn:aws-cn:eks:cn-north-1:123456789012:cluster/c":        "c",
		"arn:aws:eks:us-west-2:123456789012:addon/c/a/b":          "",
		"arn:aws:iam::123456789012:role/cluster/x":                "",
		"arn:aws:eks:us-west-2:123456789012:cluster/a/b":          "",
		"not an arn": "",
		"":           "",
	} {
		if got := ClusterNameFromARN(in); got != want {
			t.Errorf("ClusterNameFromARN(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestRoleParts(t *testing.T) {
	for _, tc := range []struct {
		in                       string
		partition, account, name string
		ok                       bool
	}{
		{"arn:aws:iam::210987654321:role/carts", "aws", "210987654321", "carts", true},
		{"arn:aws:iam::210987654321:role/team/a/carts", "aws", "210987654321", "carts", true},
		{"arn:aws:iam::210987654321:user/carts", "", "", "", false},
		{"arn:aws:iam::2109:role/carts", "", "", "", false},
		{"arn:aws:iam::210987654321:role/", "", "", "", false},
		{"arn:aws:sts::210987654321:role/x", "", "", "", false},
	} {
		p, a, n, ok := roleParts(tc.in)
		if p != tc.partition || a != tc.account || n != tc.name || ok != tc.ok {
			t.Errorf("roleParts(%q) = %q %q %q %v", tc.in, p, a, n, ok)
		}
	}
}

func TestDecodePolicyDocument(t *testing.T) {
	for in, want := range map[string]string{
		"%7B%22Version%22%3A%20%222012-10-17%22%7D": `{"Version": "2012-10-17"}`,
		`{"a":"100%"}`: `{"a":"100%"}`,
		"  {\"a\":1}":  "  {\"a\":1}",
		"%ZZ":          "%ZZ",
		"a+b%2Bc":      "a+b+c",
	} {
		if got := DecodePolicyDocument(in); got != want {
			t.Errorf("DecodePolicyDocument(%q) = %q, want %q", in, got, want)
		}
	}
}
