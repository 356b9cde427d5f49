package broker

import (
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files")

var (
	useCarts = Use{AssociationID: "a-aaaaaaaaaaaaaaaaa", ClusterARN: cluster, Namespace: "carts", ServiceAccount: "carts", SessionTags: true}
	useOther = Use{AssociationID: "a-bbbbbbbbbbbbbbbbb", ClusterARN: "arn:aws:eks:us-west-2:123456789012:cluster/prod", Namespace: "orders", ServiceAccount: "api", SessionTags: true}
	useTgt   = Use{AssociationID: "a-aaaaaaaaaaaaaaaaa", ClusterARN: cluster, Namespace: "carts", ServiceAccount: "carts", SessionTags: true,
		Target: true, FirstRoleARN: roleA, ExternalID: "9f3c2b1a-0d4e-4f5a-8b6c-7d8e9f0a1b2c"}
	brokerP = Principal{AWS: brokerARN}
	localP  = Principal{Service: ServicePrincipal}
)

// TestTrustPolicyGolden: the documents podid trust-policy prints.
func TestTrustPolicyGolden(t *testing.T) {
	noTags := useCarts
	noTags.SessionTags = false
	tgtNoTags := useTgt
	tgtNoTags.SessionTags = false
	for _, tc := range []struct {
		name string
		mode Mode
		p    Principal
		role string
		uses []Use
	}{
		{"broker", ModeBroker, brokerP, roleA, []Use{useCarts}},
		{"broker-target", ModeBroker, brokerP, roleB, []Use{useTgt}},
		{"broker-target-no-tags", ModeBroker, brokerP, roleB, []Use{tgtNoTags}},
		{"broker-several", ModeBroker, brokerP, roleA, []Use{useCarts, useOther}},
		{"broker-no-tags", ModeBroker, brokerP, roleA, []Use{noTags}},
		{"local", ModeLocal, localP, roleA, []Use{useCarts}},
		{"local-no-tags", ModeLocal, localP, roleA, []Use{noTags}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := TrustPolicy(tc.mode, tc.p, tc.role, tc.uses)
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join("testdata", "trust-policy", tc.name+".json")
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != string(want) {
				t.Errorf("TrustPolicy =\n%s\nwant\n%s", got, want)
			}
			// A generated policy admits exactly its uses.
			for _, u := range tc.uses {
				var findings []Finding
				for _, f := range CheckTrust(string(got), tc.role, tc.mode, tc.p, u, t0) {
					if f.Severity == SeverityRefuses || u.SessionTags || (u.Target && u.ExternalID != "") || tc.mode == ModeLocal {
						findings = append(findings, f)
					}
				}
				if len(findings) > 0 {
					t.Errorf("CheckTrust of the generated policy for %+v: %v", u, findings)
				}
			}
		})
	}
	if _, err := TrustPolicy(ModeBroker, brokerP, roleA, nil); err == nil || err.Error() != "no association uses "+roleA {
		t.Errorf("no uses: %v", err)
	}
	if _, err := TrustPolicy(ModeBroker, Principal{}, roleA, []Use{useCarts}); err == nil {
		t.Error("no principal accepted")
	}
}

// TestCheckTrust: what podid doctor reports for a role's trust policy.
func TestCheckTrust(t *testing.T) {
	const (
		tagCond   = `"Condition":{"StringEquals":{"aws:RequestTag/eks-cluster-arn":"` + cluster + `","aws:RequestTag/kubernetes-namespace":"carts","aws:RequestTag/kubernetes-service-account":"carts"}}`
		allSTS    = `"Action":["sts:AssumeRole","sts:TagSession","sts:SetSourceIdentity"]`
		brokerPri = `"Principal":{"AWS":"` + brokerARN + `"}`
	)
	doc := func(stmts ...string) string {
		return `{"Version":"2012-10-17","Statement":[` + strings.Join(stmts, ",") + `]}`
	}
	stmt := func(parts ...string) string { return `{"Effect":"Allow",` + strings.Join(parts, ",") + `}` }
	noTags := useCarts
	noTags.SessionTags = false
	tgtNoTags := useTgt
	tgtNoTags.SessionTags = false
	anyWorkload := "pods of any cluster, any namespace, any service account can assume it: it has no condition on aws:RequestTag/eks-cluster-arn, aws:RequestTag/kubernetes-namespace, aws:RequestTag/kubernetes-service-account"
	for _, tc := range []struct {
		name  string
		mode  Mode
		p     Principal
		trust string
		role  string
		use   Use
		want  []Finding
	}{
		{"exact", ModeBroker, brokerP, doc(stmt(brokerPri, allSTS, tagCond)), roleA, useCarts, nil},
		{"no TagSession", ModeBroker, brokerP, doc(stmt(brokerPri, `"Action":["sts:AssumeRole","sts:SetSourceIdentity"]`, tagCond)), roleA, useCarts,
			[]Finding{{SeverityRefuses, "its trust policy does not allow " + brokerARN + " to perform sts:TagSession (session tags need sts:TagSession; allow it, or set disableSessionTags on the association)"}}},
		{"no SetSourceIdentity", ModeBroker, brokerP, doc(stmt(brokerPri, `"Action":["sts:AssumeRole","sts:TagSession"]`, tagCond)), roleA, useCarts,
			[]Finding{{SeverityRefuses, "its trust policy does not allow " + brokerARN + " to perform sts:SetSourceIdentity (the broker sets a source identity on every session; allow sts:SetSourceIdentity)"}}},
		{"other principal", ModeBroker, brokerP, doc(stmt(`"Principal":{"AWS":"arn:aws:iam::`+acct+`:user/someone"}`, allSTS)), roleA, useCarts,
			[]Finding{{SeverityRefuses, "its trust policy does not name " + brokerARN + " as a principal"}}},
		{"wrong namespace", ModeBroker, brokerP, doc(stmt(brokerPri, allSTS, strings.Replace(tagCond, `namespace":"carts"`, `namespace":"orders"`, 1))), roleA, useCarts,
			[]Finding{{SeverityRefuses, `its trust policy allows ` + brokerARN + ` to perform sts:AssumeRole only under the condition StringEquals on aws:RequestTag/kubernetes-namespace, and this request carries "carts"`}}},
		{"no conditions", ModeBroker, brokerP, doc(stmt(brokerPri, allSTS)), roleA, useCarts, []Finding{{SeverityTooOpen, anyWorkload}}},
		{"cluster only", ModeBroker, brokerP, doc(stmt(brokerPri, allSTS, `"Condition":{"StringEquals":{"aws:RequestTag/eks-cluster-arn":"`+cluster+`"}}`)), roleA, useCarts,
			[]Finding{{SeverityTooOpen, "pods of any namespace, any service account can assume it: it has no condition on aws:RequestTag/kubernetes-namespace, aws:RequestTag/kubernetes-service-account"}}},
		{"account principal", ModeBroker, brokerP, doc(stmt(`"Principal":{"AWS":"arn:aws:iam::`+acct+`:root"}`, allSTS, tagCond)), roleA, useCarts,
			[]Finding{{SeverityTooOpen, "it admits other principals of account " + acct + " (its Principal names the account or a wildcard), not only " + brokerARN}}},
		{"wildcard principal", ModeBroker, brokerP, doc(stmt(`"Principal":{"AWS":"*"}`, allSTS)), roleA, useCarts,
			[]Finding{{SeverityTooOpen, "it admits principals of any account, not only " + brokerARN}, {SeverityTooOpen, anyWorkload}}},
		{"broker as a role", ModeBroker, Principal{AWS: "arn:aws:iam::" + acct + ":role/podid-broker"}, doc(stmt(`"Principal":{"AWS":"arn:aws:iam::`+acct+`:role/podid-broker"}`, allSTS, tagCond)), roleA, useCarts, nil},
		{"session tags disabled", ModeBroker, brokerP, doc(stmt(brokerPri, `"Action":"sts:AssumeRole"`)), roleA, noTags,
			[]Finding{{SeverityTooOpen, "session tags are disabled, so its trust policy cannot tell this association from any other the broker serves"}}},
		{"session tags disabled, trust needs tags", ModeBroker, brokerP, doc(stmt(brokerPri, `"Action":"sts:*"`, tagCond)), roleA, noTags,
			[]Finding{{SeverityRefuses, "its trust policy allows " + brokerARN + " to perform sts:AssumeRole only under the condition StringEquals on aws:RequestTag/eks-cluster-arn, and this request does not carry it"}}},
		{"target exact", ModeBroker, brokerP, doc(stmt(`"Principal":{"AWS":"`+roleA+`"}`, allSTS, `"Condition":{"StringEquals":{"sts:ExternalId":"`+useTgt.ExternalID+`"}}`)), roleB, useTgt, nil},
		{"target wrong external ID", ModeBroker, brokerP, doc(stmt(`"Principal":{"AWS":"`+roleA+`"}`, allSTS, `"Condition":{"StringEquals":{"sts:ExternalId":"other"}}`)), roleB, useTgt,
			[]Finding{{SeverityRefuses, `its trust policy allows ` + roleA + ` to perform sts:AssumeRole only under the condition StringEquals on sts:ExternalId, and this request carries "` + useTgt.ExternalID + `"`}}},
		{"target open", ModeBroker, brokerP, doc(stmt(`"Principal":{"AWS":"`+roleA+`"}`, allSTS)), roleB, useTgt,
			[]Finding{{SeverityTooOpen, anyWorkload + " (or on sts:ExternalId)"}}},
		{"target no tags open", ModeBroker, brokerP, doc(stmt(`"Principal":{"AWS":"`+roleA+`"}`, `"Action":"sts:AssumeRole"`)), roleB, tgtNoTags,
			[]Finding{{SeverityTooOpen, "session tags are disabled, so its trust policy cannot tell this association from any other the broker serves (or on sts:ExternalId)"}}},
		{"local workshop trust", ModeLocal, localP, `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"pods.eks.amazonaws.com"},"Action":["sts:AssumeRole","sts:TagSession"]}]}`, roleA, useCarts,
			[]Finding{{SeverityTooOpen, anyWorkload}}},
		{"local two services", ModeLocal, localP, doc(stmt(`"Principal":{"Service":["pods.eks.amazonaws.com","ec2.amazonaws.com"]}`, `"Action":["sts:AssumeRole","sts:TagSession"]`, tagCond)), roleA, useCarts,
			[]Finding{{SeverityTooOpen, "it admits other services than pods.eks.amazonaws.com"}}},
		{"local no tags", ModeLocal, localP, doc(stmt(`"Principal":{"Service":"pods.eks.amazonaws.com"}`, `"Action":"sts:AssumeRole"`)), roleA, noTags,
			[]Finding{{SeverityTooOpen, "pods of any cluster can assume it: it has no condition on aws:SourceArn"}}},
		{"unparsable", ModeBroker, brokerP, `{"Statement":`, roleA, useCarts, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := CheckTrust(tc.trust, tc.role, tc.mode, tc.p, tc.use, t0)
			if tc.name == "unparsable" {
				if len(got) != 1 || got[0].Severity != SeverityRefuses || !strings.HasPrefix(got[0].Message, "its trust policy cannot be parsed: ") {
					t.Errorf("CheckTrust = %v", got)
				}
				return
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("CheckTrust =\n%v\nwant\n%v", got, tc.want)
			}
		})
	}
}

// TestUsesOf: a role's uses as role and as target role, sorted.
func TestUsesOf(t *testing.T) {
	assocs := []AssociationInfo{
		{AssociationID: "a-2", ClusterARN: cluster, Namespace: "z", ServiceAccount: "s", RoleARN: roleA},
		{AssociationID: "a-1", ClusterARN: cluster, Namespace: "a", ServiceAccount: "s", RoleARN: roleA, TargetRoleARN: roleB, ExternalID: "e", DisableSessionTags: true},
		{AssociationID: "a-3", ClusterARN: cluster, Namespace: "m", ServiceAccount: "s", RoleARN: roleB},
	}
	got := UsesOf(roleB, assocs)
	want := []Use{
		{AssociationID: "a-1", ClusterARN: cluster, Namespace: "a", ServiceAccount: "s", Target: true, FirstRoleARN: roleA, ExternalID: "e"},
		{AssociationID: "a-3", ClusterARN: cluster, Namespace: "m", ServiceAccount: "s", SessionTags: true},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("UsesOf =\n%+v\nwant\n%+v", got, want)
	}
	if got := UsesOf(roleA, assocs); len(got) != 2 || got[0].Namespace != "a" || got[1].Namespace != "z" {
		t.Errorf("UsesOf(roleA) = %+v", got)
	}
}
