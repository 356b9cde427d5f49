package arn

import (
	"errors"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	tests := []struct {
		in      string
		want    ARN
		wantErr bool
	}{
		{in: "arn:aws:iam::123456789000:role/eks-workshop-carts-dynamo",
			want: ARN{"aws", "iam", "", "123456789000", "role/eks-workshop-carts-dynamo"}},
		{in: "arn:aws:eks:us-west-2:123456789000:podidentityassociation/eks-workshop/a-abcdefghijklmnop1",
			want: ARN{"aws", "eks", "us-west-2", "123456789000", "podidentityassociation/eks-workshop/a-abcdefghijklmnop1"}},
		{in: "arn:aws:sts::123456789000:assumed-role/R/eks-eks-worksh-carts-7c9d-5af5e7ac",
			want: ARN{"aws", "sts", "", "123456789000", "assumed-role/R/eks-eks-worksh-carts-7c9d-5af5e7ac"}},
		{in: "arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy",
			want: ARN{"aws", "iam", "", "aws", "policy/AmazonEKSWorkerNodePolicy"}},
		{in: "arn:aws-cn:s3:::bucket/key:with:colons",
			want: ARN{"aws-cn", "s3", "", "", "bucket/key:with:colons"}},
		{in: "arn:aws:iam::123456789012:root", want: ARN{"aws", "iam", "", "123456789012", "root"}},
		// The EKS User Guide's templating bug: five sections.
		{in: "arn:aws::123456789000:podidentityassociation/eks-workshop/a-abcdefghijklmnop1", wantErr: true},
		{in: "", wantErr: true},
		{in: "arn", wantErr: true},
		{in: "arn:aws:iam:", wantErr: true},
		{in: "aws:iam::1:role/x", wantErr: true},
		{in: "ARN:aws:iam::123456789012:role/x", wantErr: true},
		{in: "arn::iam::123456789012:role/x", wantErr: true},
		{in: "arn:aws:::123456789012:role/x", wantErr: true},
		{in: "arn:aws:iam::123456789012:", wantErr: true},
	}
	for _, tt := range tests {
		got, err := Parse(tt.in)
		if tt.wantErr {
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("Parse(%q) error = %v, want ErrInvalid", tt.in, err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("Parse(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
			continue
		}
		if s := got.String(); s != tt.in {
			t.Errorf("Parse(%q).String() = %q", tt.in, s)
		}
	}
}

func TestSplitIAMResource(t *testing.T) {
	tests := []struct {
		in              string
		typ, path, name string
		ok              bool
	}{
		{in: "role/eks-workshop-carts-dynamo", typ: "role", path: "/", name: "eks-workshop-carts-dynamo", ok: true},
		{in: "role/division_abc/subdivision_xyz/ProdApp", typ: "role", path: "/division_abc/subdivision_xyz/", name: "ProdApp", ok: true},
		{in: "policy/service-role/AmazonEKSWorkerNodePolicy", typ: "policy", path: "/service-role/", name: "AmazonEKSWorkerNodePolicy", ok: true},
		{in: "user/alice", typ: "user", path: "/", name: "alice", ok: true},
		{in: "root"},
		{in: "role/"},
		{in: "role/path/"},
		{in: "/name"},
	}
	for _, tt := range tests {
		typ, path, name, ok := SplitIAMResource(tt.in)
		if typ != tt.typ || path != tt.path || name != tt.name || ok != tt.ok {
			t.Errorf("SplitIAMResource(%q) = %q, %q, %q, %v; want %q, %q, %q, %v", tt.in, typ, path, name, ok, tt.typ, tt.path, tt.name, tt.ok)
		}
	}
}

func TestBuilders(t *testing.T) {
	tests := []struct {
		got  ARN
		want string
	}{
		{Role("aws", "123456789000", "", "eks-workshop-carts-dynamo"), "arn:aws:iam::123456789000:role/eks-workshop-carts-dynamo"},
		{Role("aws", "123456789000", "a/b", "R"), "arn:aws:iam::123456789000:role/a/b/R"},
		{Role("aws-cn", "123456789000", "/x/", "R"), "arn:aws-cn:iam::123456789000:role/x/R"},
		{User("aws", "111122223333", "/", "alice"), "arn:aws:iam::111122223333:user/alice"},
		{Policy("aws", "aws", "/service-role/", "AmazonEKSWorkerNodePolicy"), "arn:aws:iam::aws:policy/service-role/AmazonEKSWorkerNodePolicy"},
		{Root("aws", "111122223333"), "arn:aws:iam::111122223333:root"},
		{AssumedRole("aws", "123456789000", "eks-workshop-carts-dynamo", "eks-eks-worksh-carts-7c9d"), "arn:aws:sts::123456789000:assumed-role/eks-workshop-carts-dynamo/eks-eks-worksh-carts-7c9d"},
		{Cluster("aws", "us-west-2", "123456789000", "eks-workshop"), "arn:aws:eks:us-west-2:123456789000:cluster/eks-workshop"},
		{PodIdentityAssociation("aws", "us-west-2", "123456789000", "eks-workshop", "a-abcdefghijklmnop1"), "arn:aws:eks:us-west-2:123456789000:podidentityassociation/eks-workshop/a-abcdefghijklmnop1"},
	}
	for _, tt := range tests {
		if s := tt.got.String(); s != tt.want {
			t.Errorf("built %q, want %q", s, tt.want)
		}
		back, err := Parse(tt.want)
		if err != nil || back != tt.got {
			t.Errorf("Parse(%q) = %+v, %v; want %+v", tt.want, back, err, tt.got)
		}
	}
}

func TestSplitters(t *testing.T) {
	a, _ := Parse("arn:aws:sts::123456789000:assumed-role/R/S")
	if r, s, ok := a.SplitAssumedRole(); !ok || r != "R" || s != "S" {
		t.Errorf("SplitAssumedRole = %q, %q, %v", r, s, ok)
	}
	for _, bad := range []string{"arn:aws:iam::123456789000:assumed-role/R/S", "arn:aws:sts::123456789000:assumed-role/R", "arn:aws:sts::123456789000:assumed-role/R/S/T", "arn:aws:sts::123456789000:federated-user/x"} {
		a, _ := Parse(bad)
		if _, _, ok := a.SplitAssumedRole(); ok {
			t.Errorf("SplitAssumedRole(%q) ok", bad)
		}
	}
	a, _ = Parse("arn:aws:eks:us-west-2:123456789000:podidentityassociation/c/a-1")
	if c, id, ok := a.SplitPodIdentityAssociation(); !ok || c != "c" || id != "a-1" {
		t.Errorf("SplitPodIdentityAssociation = %q, %q, %v", c, id, ok)
	}
	for _, bad := range []string{"arn:aws:eks:us-west-2:1:cluster/c", "arn:aws:eks:us-west-2:1:podidentityassociation/c", "arn:aws:eks:us-west-2:1:podidentityassociation//a", "arn:aws:iam::1:podidentityassociation/c/a"} {
		a, _ := Parse(bad)
		if _, _, ok := a.SplitPodIdentityAssociation(); ok {
			t.Errorf("SplitPodIdentityAssociation(%q) ok", bad)
		}
	}
	if typ := a.ResourceType(); typ != "podidentityassociation" {
		t.Errorf("ResourceType = %q", typ)
	}
}

func TestAccessors(t *testing.T) {
	tests := []struct {
		in                        string
		cluster, role, assumedFor string
	}{
		{in: "arn:aws:eks:us-west-2:123456789000:cluster/eks-workshop", cluster: "eks-workshop"},
		{in: "arn:aws-cn:eks:cn-north-1:123456789000:cluster/c_1", cluster: "c_1"},
		{in: "arn:aws:eks:us-west-2:123456789000:cluster/a/b"},
		{in: "arn:aws:eks:us-west-2:123456789000:cluster/"},
		{in: "arn:aws:iam::123456789000:cluster/c"},
		{in: "arn:aws:eks:us-west-2:123456789000:podidentityassociation/c/a-1"},
		{in: "arn:aws:iam::123456789000:role/eks-workshop-carts-dynamo", role: "eks-workshop-carts-dynamo"},
		{in: "arn:aws:iam::123456789000:role/division_abc/subdivision_xyz/ProdApp", role: "ProdApp"},
		{in: "arn:aws:iam::12345678900a:role/R"},
		{in: "arn:aws:iam::aws:role/R"},
		{in: "arn:aws:iam::123456789000:role/"},
		{in: "arn:aws:iam::123456789000:user/R"},
		{in: "arn:aws:sts::123456789000:role/R"},
		{in: "arn:aws:sts::123456789000:assumed-role/R/S", assumedFor: "arn:aws:iam::123456789000:role/R"},
		{in: "arn:aws-us-gov:sts::123456789000:assumed-role/R/eks-x", assumedFor: "arn:aws-us-gov:iam::123456789000:role/R"},
		{in: "arn:aws:sts::123456789000:assumed-role/R"},
		{in: "arn:aws:iam::123456789000:assumed-role/R/S"},
	}
	for _, tt := range tests {
		a, err := Parse(tt.in)
		if err != nil {
			t.Fatalf("Parse(%q): %v", tt.in, err)
		}
		if got, ok := a.ClusterName(); got != tt.cluster || ok != (tt.cluster != "") {
			t.Errorf("ClusterName(%q) = %q, %v; want %q", tt.in, got, ok, tt.cluster)
		}
		if got, ok := a.RoleName(); got != tt.role || ok != (tt.role != "") {
			t.Errorf("RoleName(%q) = %q, %v; want %q", tt.in, got, ok, tt.role)
		}
		got, ok := a.AssumedRoleRole()
		if ok != (tt.assumedFor != "") || ok && got.String() != tt.assumedFor {
			t.Errorf("AssumedRoleRole(%q) = %q, %v; want %q", tt.in, got, ok, tt.assumedFor)
		}
	}
	if got := OIDCProvider("aws", "123456789000", "oidc.eks.us-west-2.amazonaws.com/id/ABC").String(); got != "arn:aws:iam::123456789000:oidc-provider/oidc.eks.us-west-2.amazonaws.com/id/ABC" {
		t.Errorf("OIDCProvider = %q", got)
	}
}

func TestValidators(t *testing.T) {
	tests := []struct {
		name string
		fn   func(string) bool
		good []string
		bad  []string
	}{
		{"partition", IsValidPartition, []string{"aws", "aws-cn", "aws-us-gov", "aws-iso-b"}, []string{"", "AWS", "aws-mars", "p"}},
		{"region", IsValidRegion, []string{"us-east-1", "us-west-2", "us-gov-west-1", "cn-north-1", "eusc-de-east-1", "ap-southeast-5"},
			[]string{"", "us-east", "us-east-a", "US-EAST-1", "us--1", "us-east-123", "east-1"}},
		{"account", IsValidAccountID, []string{"123456789012", "000000000000"}, []string{"", "12345678901", "1234567890123", "12345678901a", "aws"}},
		{"iam path", IsValidIAMPath, []string{"/", "/a/", "/division_abc/subdivision_xyz/", "/a~!b/"},
			[]string{"", "a", "/a", "a/", "/a b/", "/" + strings.Repeat("a", 511) + "/", "/\x7f/"}},
		{"policy path", IsValidPolicyPath, []string{"/", "/service-role/", "/a/b.c,d+e@f=g_h-i/"}, []string{"", "//", "/a//b/", "/a~b/", "/a"}},
		{"role name", IsValidRoleName, []string{"R", "eks-workshop-carts-dynamo", "a+=,.@_-9", strings.Repeat("r", 64)},
			[]string{"", "a/b", "a b", "é", strings.Repeat("r", 65)}},
		{"policy name", IsValidPolicyName, []string{strings.Repeat("p", 128)}, []string{strings.Repeat("p", 129), "a:b"}},
		{"session name", IsValidSessionName, []string{"ab", "eks-eks-worksh-carts-7c9d-5af5e7ac-5754-49ea-b28f-2c2a2eb95fbb"}, []string{"a", "a b", strings.Repeat("s", 65)}},
		{"cluster name", IsValidClusterName, []string{"eks-workshop", "a", "0_a-b", strings.Repeat("c", 100)},
			[]string{"", "-a", "_a", "a.b", "a/b", strings.Repeat("c", 101)}},
		{"role arn", IsValidRoleARN, []string{"arn:aws:iam::123456789000:role/eks-workshop-carts-dynamo", "arn:aws-us-gov:iam::123456789000:role/p/q/R"},
			[]string{"arn:aws:iam::123456789000:user/x", "arn:aws:iam:us-east-1:123456789000:role/x", "arn:aws:iam::12345678900:role/x",
				"arn:aws:sts::123456789000:role/x", "arn:aws:iam::123456789000:role/a b", "arn:mars:iam::123456789000:role/x", "arn:aws:iam::123456789000:role/",
				"arn:aws:iam::aws:role/x", "arn:aws:iam::123456789000:role//x"}},
		{"user arn", IsValidUserARN, []string{"arn:aws:iam::111122223333:user/alice"}, []string{"arn:aws:iam::111122223333:role/alice"}},
		{"policy arn", IsValidPolicyARN, []string{"arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy", "arn:aws:iam::123456789000:policy/team/p"},
			[]string{"arn:aws:iam::123456789000:role/p", "arn:aws:iam::123456789000:policy/a~b/p", "arn:aws:iam::amazon:policy/p"}},
	}
	for _, tt := range tests {
		for _, s := range tt.good {
			if !tt.fn(s) {
				t.Errorf("%s: %q rejected", tt.name, s)
			}
		}
		for _, s := range tt.bad {
			if tt.fn(s) {
				t.Errorf("%s: %q accepted", tt.name, s)
			}
		}
	}
}

func TestPartitionForRegion(t *testing.T) {
	for region, want := range map[string]string{
		"us-east-1": "aws", "cn-north-1": "aws-cn", "us-gov-west-1": "aws-us-gov", "us-iso-east-1": "aws-iso",
		"us-isob-east-1": "aws-iso-b", "eusc-de-east-1": "aws-eusc", "": "aws",
	} {
		if got := PartitionForRegion(region); got != want {
			t.Errorf("PartitionForRegion(%q) = %q, want %q", region, got, want)
		}
	}
}

// FuzzParse checks that Parse never panics and that what it accepts
// prints back unchanged.
func FuzzParse(f *testing.F) {
	f.Add("arn:aws:iam::123456789000:role/a/b/c")
	f.Add("arn:aws::1:x")
	f.Add("arn:::::")
	f.Fuzz(func(t *testing.T, s string) {
		a, err := Parse(s)
		if err != nil {
			return
		}
		if a.String() != s {
			t.Fatalf("Parse(%q).String() = %q", s, a.String())
		}
		if b, err := Parse(a.String()); err != nil || b != a {
			t.Fatalf("Parse(%q) = %+v, %v; want %+v", a.String(), b, err, a)
		}
		a.IAMResource()
		a.SplitAssumedRole()
		a.SplitPodIdentityAssociation()
		a.ClusterName()
		a.RoleName()
		if r, ok := a.AssumedRoleRole(); ok {
			if _, ok := r.RoleName(); !ok && IsValidAccountID(r.AccountID) {
				t.Fatalf("AssumedRoleRole(%q) = %q, which RoleName refuses", s, r)
			}
		}
		IsValidRoleARN(s)
		IsValidPolicyARN(s)
	})
}
