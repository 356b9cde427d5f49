// Package policybench compares podid's IAM policy engine with cedar-go on
// the benchmark scenario of iam-policy-semantics.md Appendix A. It lives in
// the separate bench module so that podid itself does not depend on
// cedar-go. Results are recorded in docs/perf-policy.md.
package policybench

import (
	"os"

	"testing"
	"time"

	cedar "github.com/cedar-policy/cedar-go"
	"github.com/cedar-policy/cedar-go/types"
	"github.com/podid/podid/internal/policy"
)

// cedarPolicies is Appendix A's IAM policy written in Cedar. Cedar has no
// string concatenation, so ${aws:username} is substituted ahead of time
// (alice), and the S3 ARN is modelled as an Object entity with bucket and
// key attributes.
const cedarPolicies = `
forbid (principal, action, resource)
when { context.secureTransport == false };

forbid (principal, action in [Action::"s3:DeleteObject", Action::"s3:PutObject"], resource)
when { !(context.sourceIp.isInRange(ip("10.0.0.0/8")) || context.sourceIp.isInRange(ip("192.168.0.0/16"))) };

permit (principal, action == Action::"s3:ListBucket", resource)
when { resource.bucket == "home" && context has prefix &&
       (context.prefix like "home/alice/*" || context.prefix like "shared/*") };

permit (principal, action == Action::"s3:PutObject", resource)
when { resource.bucket == "uploads" && context has sse && context.sse == "AES256" };

permit (principal, action == Action::"s3:GetObject", resource)
when { resource.bucket like "logs-*" && context.principalType == "User" };

permit (principal, action in [Action::"s3:GetObject", Action::"s3:ListBucket"], resource)
when { resource.bucket == "archive" && context.currentTime > datetime("2020-01-01T00:00:00Z") };

permit (principal, action == Action::"s3:GetObject", resource)
when { resource.bucket == "public-assets" && context has referer && context.referer like "https://*.example.com/*" };

permit (principal, action == Action::"s3:GetObject", resource)
when { resource.bucket == "tools" && context.userAgent != "curl/7.0" && context.userAgent != "wget/1.0" };

permit (principal, action in [Action::"s3:GetObject", Action::"s3:PutObject"], resource)
when { resource.bucket == "scratch" && context.currentTime < datetime("2035-01-01T00:00:00Z") };

permit (principal, action in [Action::"s3:GetObject", Action::"s3:PutObject"], resource)
when { resource.bucket == "team-alice" && context.sourceIp.isInRange(ip("10.0.0.0/8")) && context.userid == "AIDAEXAMPLE" };
`

// objects are the requested S3 objects (bucket/key) and the decision both
// engines must reach.
var objects = []struct {
	name, bucket, key string
	allow             bool
}{
	{"team-alice", "team-alice", "reports/q1.csv", true},
	{"team-bob", "team-bob", "reports/q1.csv", false},
	{"public-assets", "public-assets", "reports/q1.csv", true},
	{"archive", "archive", "reports/q1.csv", true},
}

type scenario struct {
	set       *policy.Set
	podid     []*policy.Request
	cedarPS   *cedar.PolicySet
	entities  cedar.EntityMap
	cedarReqs []cedar.Request
}

func setup(tb testing.TB) *scenario {
	tb.Helper()
	doc, err := os.ReadFile("../../internal/policy/testdata/appendix_a.json")
	if err != nil {
		tb.Fatal(err)
	}
	c, err := policy.NewEngine(0).Compile(string(doc))
	if err != nil {
		tb.Fatal(err)
	}
	sc := &scenario{set: &policy.Set{Identity: []*policy.Compiled{c}}}

	ctx := policy.NewContext()
	ctx.Set("aws:SecureTransport", "true")
	ctx.Set("aws:SourceIp", "10.1.2.3")
	ctx.Set("aws:CurrentTime", "2026-01-02T03:04:05Z")
	ctx.Set("aws:username", "alice")
	ctx.Set("aws:userid", "AIDAEXAMPLE")
	ctx.Set("aws:PrincipalType", "User")
	ctx.Set("aws:Referer", "https://www.example.com/page")
	ctx.Set("aws:UserAgent", "aws-sdk-go/2.0")
	alice := policy.Principal{Type: policy.PrincipalUser, ARN: "arn:aws:iam::123456789012:user/alice", AccountID: "123456789012"}

	ps, err := cedar.NewPolicySetFromBytes("appendix-a.cedar", []byte(cedarPolicies))
	if err != nil {
		tb.Fatal(err)
	}
	sc.cedarPS = ps
	sc.entities = cedar.EntityMap{}
	ip, err := types.ParseIPAddr("10.1.2.3")
	if err != nil {
		tb.Fatal(err)
	}
	now, err := types.ParseDatetime("2026-01-02T03:04:05Z")
	if err != nil {
		tb.Fatal(err)
	}
	cctx := cedar.NewRecord(cedar.RecordMap{
		"secureTransport": cedar.True,
		"sourceIp":        ip,
		"currentTime":     now,
		"principalType":   cedar.String("User"),
		"userid":          cedar.String("AIDAEXAMPLE"),
		"referer":         cedar.String("https://www.example.com/page"),
		"userAgent":       cedar.String("aws-sdk-go/2.0"),
	})
	for _, o := range objects {
		sc.podid = append(sc.podid, &policy.Request{Principal: alice, Action: "s3:GetObject",
			Resource: "arn:aws:s3:::" + o.bucket + "/" + o.key, Context: ctx})
		uid := cedar.NewEntityUID("Object", cedar.String(o.bucket+"/"+o.key))
		sc.entities[uid] = cedar.Entity{UID: uid, Attributes: cedar.NewRecord(cedar.RecordMap{
			"bucket": cedar.String(o.bucket), "key": cedar.String(o.key)})}
		sc.cedarReqs = append(sc.cedarReqs, cedar.Request{
			Principal: cedar.NewEntityUID("User", "alice"),
			Action:    cedar.NewEntityUID("Action", "s3:GetObject"),
			Resource:  uid,
			Context:   cctx,
		})
	}
	return sc
}

// TestSameDecisions makes sure both engines answer the scenario alike, so
// the benchmarks compare equal work.
func TestSameDecisions(t *testing.T) {
	sc := setup(t)
	for i, o := range objects {
		got := policy.Evaluate(sc.set, sc.podid[i]).Result == policy.Allow
		dec, diag := cedar.Authorize(sc.cedarPS, sc.entities, sc.cedarReqs[i])
		if len(diag.Errors) > 0 {
			t.Errorf("%s: cedar errors %v", o.name, diag.Errors)
		}
		if got != o.allow || bool(dec) != o.allow {
			t.Errorf("%s: podid allow=%v, cedar allow=%v, want %v", o.name, got, bool(dec), o.allow)
		}
	}
}

// BenchmarkAppendixA measures one decision per iteration, per engine and
// request.
func BenchmarkAppendixA(b *testing.B) {
	sc := setup(b)
	for i, o := range objects {
		b.Run("podid/"+o.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				policy.Evaluate(sc.set, sc.podid[i])
			}
		})
		b.Run("cedar/"+o.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				cedar.Authorize(sc.cedarPS, sc.entities, sc.cedarReqs[i])
			}
		})
	}
}

// BenchmarkRatio interleaves the two engines in one run: each iteration
// decides the four requests 64 times with podid, then 64 times with
// cedar-go, timing each batch. Interleaving exposes both to the same load,
// so the reported ratio (cedar ns / podid ns per decision) is fair on a
// busy machine.
func BenchmarkRatio(b *testing.B) {
	sc := setup(b)
	const batch = 64
	var tp, tc time.Duration
	for b.Loop() {
		t0 := time.Now()
		for k := 0; k < batch; k++ {
			for _, r := range sc.podid {
				policy.Evaluate(sc.set, r)
			}
		}
		t1 := time.Now()
		for k := 0; k < batch; k++ {
			for _, r := range sc.cedarReqs {
				cedar.Authorize(sc.cedarPS, sc.entities, r)
			}
		}
		t2 := time.Now()
		tp += t1.Sub(t0)
		tc += t2.Sub(t1)
	}
	decisions := float64(b.N * batch * len(objects))
	b.ReportMetric(float64(tp.Nanoseconds())/decisions, "podid-ns/decision")
	b.ReportMetric(float64(tc.Nanoseconds())/decisions, "cedar-ns/decision")
	if tp > 0 {
		b.ReportMetric(float64(tc)/float64(tp), "cedar/podid")
	}
	b.ReportMetric(0, "ns/op") // an iteration is a batch; the per-decision metrics above are the figures
}
