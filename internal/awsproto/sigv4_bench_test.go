package awsproto

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/podid/podid/internal/cputime"
)

// BenchmarkVerify measures Verify on SDK-signed requests, with a constant
// secret lookup standing in for the store. See docs/perf-sigv4.md.
func BenchmarkVerify(b *testing.B) {
	stsBody := "Action=GetCallerIdentity&Version=2011-06-15"
	cases := []struct {
		name string
		spec reqSpec
		opts signOpts
	}{
		{
			name: "sts-header",
			spec: reqSpec{url: "http://127.0.0.1:8443/", body: stsBody, headers: map[string][]string{
				"Content-Type":          {"application/x-www-form-urlencoded; charset=utf-8"},
				"User-Agent":            {"aws-sdk-go-v2/1.48.0 os/linux lang/go#1.26 md/GOOS#linux md/GOARCH#amd64 api/sts#1.52.0"},
				"Amz-Sdk-Invocation-Id": {"3a1f7f2e-2b5c-4f57-9d0e-6f3f1e0c9b11"},
				"Amz-Sdk-Request":       {"attempt=1; max=3"},
			}},
			opts: signOpts{akid: testTempAKID, secret: testTempSecret, token: testToken, service: "sts", region: "us-west-2"},
		},
		{
			name: "iam-form-post",
			spec: reqSpec{url: "http://127.0.0.1:8443/", body: "Action=CreateRole&Version=2010-05-08&RoleName=eks-workshop-carts-dynamo&Path=%2F&AssumeRolePolicyDocument=" +
				EncodePolicyDocument(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"pods.eks.amazonaws.com"},"Action":["sts:AssumeRole","sts:TagSession"]}]}`) +
				"&Tags.member.1.Key=team&Tags.member.1.Value=carts",
				headers: map[string][]string{
					"Content-Type":          {"application/x-www-form-urlencoded; charset=utf-8"},
					"User-Agent":            {"aws-cli/1.45.11 md/Botocore#1.43.11 ua/2.1 os/linux"},
					"Amz-Sdk-Invocation-Id": {"262dbdfe-0049-46ea-b026-494192dffec1"},
					"Amz-Sdk-Request":       {"attempt=1"},
				}},
			opts: signOpts{service: "iam", region: "us-east-1"},
		},
		{
			name: "eks-get",
			spec: reqSpec{method: http.MethodGet, url: "http://127.0.0.1:8443/clusters/eks-workshop/pod-identity-associations?maxResults=5&namespace=carts", headers: map[string][]string{
				"User-Agent":            {"aws-sdk-go-v2/1.48.0 os/linux lang/go#1.26 api/eks#1.105.6"},
				"Amz-Sdk-Invocation-Id": {"0c3a5cf6-8f0e-4b8a-9d64-4b7c1b3f2a10"},
				"Amz-Sdk-Request":       {"attempt=1; max=3"},
			}},
			opts: signOpts{service: "eks", region: "us-west-2"},
		},
	}
	b.Run("sts-presigned", func(b *testing.B) {
		r := reqSpec{method: http.MethodGet, url: "http://127.0.0.1:8443/?Action=GetCallerIdentity&Version=2011-06-15&X-Amz-Expires=60"}.build(b)
		r = sdkPresign(b, r, "", signOpts{akid: testTempAKID, secret: testTempSecret, token: testToken, service: "sts", region: "us-east-1", at: testNow})
		v := &Verifier{Lookup: benchLookup{}, Now: func() time.Time { return testNow }}
		ctx := context.Background()
		if _, err := v.Verify(ctx, r, nil); err != nil {
			b.Fatalf("Verify: %v", err)
		}
		b.ReportAllocs()
		cpu := cputime.Start()
		for b.Loop() {
			if _, err := v.Verify(ctx, r, nil); err != nil {
				b.Fatal(err)
			}
		}
		cpu.Report(b)
	})
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			r := c.spec.build(b)
			sdkSign(b, r, c.spec.body, c.opts)
			body := []byte(c.spec.body)
			v := &Verifier{Lookup: benchLookup{}, Now: func() time.Time { return testNow }}
			ctx := context.Background()
			if _, err := v.Verify(ctx, r, body); err != nil {
				b.Fatalf("Verify: %v", err)
			}
			b.ReportAllocs()
			cpu := cputime.Start()
			for b.Loop() {
				if _, err := v.Verify(ctx, r, body); err != nil {
					b.Fatal(err)
				}
			}
			cpu.Report(b)
		})
	}
}

// benchLookup returns the right secret for either test key without
// allocating, like a store lookup served from memory.
type benchLookup struct{}

func (benchLookup) LookupSecret(_ context.Context, akid, _ string) (string, any, error) {
	if akid == testTempAKID {
		return testTempSecret, nil, nil
	}
	return testSecret, nil, nil
}

// BenchmarkDeriveSigningKey is the cost the key cache saves per request.
func BenchmarkDeriveSigningKey(b *testing.B) {
	b.ReportAllocs()
	cpu := cputime.Start()
	for b.Loop() {
		deriveSigningKey(testSecret, "20261125", "us-west-2", "eks")
	}
	cpu.Report(b)
}
