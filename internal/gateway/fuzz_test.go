package gateway

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/podid/podid/internal/auth"
	"github.com/podid/podid/internal/awsproto"
)

// FuzzExpressions: the expression readers never panic and never return
// an empty attribute name.
func FuzzExpressions(f *testing.F) {
	for _, s := range []string{
		"a, b.c, #n[2].x", "SET a = :v, #n = if_not_exists(#n, :z) REMOVE r ADD c :one DELETE s :s",
		"#k = :p AND begins_with(sk, :s)", "a <> :b OR c <= :d", "((((", "SET a[", ":", "#", "SET ,", "a..b",
	} {
		f.Add(s)
	}
	names := map[string]string{"#n": "name", "#k": "pk"}
	f.Fuzz(func(t *testing.T, expr string) {
		check := func(out []string, err error) {
			for _, n := range out {
				if err == nil && n == "" {
					t.Fatalf("empty name from %q", expr)
				}
			}
		}
		check(projectionNames(expr, names))
		check(updateNames(expr, names))
		check(conditionNames(expr, names))
		keyConditionValue(expr, "pk", names)
	})
}

// schemaTransport answers the gateway's DescribeTable calls in memory.
type schemaTransport struct{}

func (schemaTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	body := `{"Table":{"KeySchema":[{"AttributeName":"pk","KeyType":"HASH"},{"AttributeName":"sk","KeyType":"RANGE"}],"GlobalSecondaryIndexes":[{"IndexName":"i","KeySchema":[{"AttributeName":"g","KeyType":"HASH"}]}]}}`
	if r.Body != nil {
		r.Body.Close()
	}
	return &http.Response{StatusCode: 200, Header: http.Header{}, Body: io.NopCloser(strings.NewReader(body)), Request: r}, nil
}

type allowAll struct{}

func (allowAll) Authorize(context.Context, *auth.Principal, string, string, map[string][]string) error {
	return nil
}

// noVerify stands in for the verifier: the fuzzers call the mapping
// directly and never verify.
type noVerify struct{}

func (noVerify) Verify(context.Context, *http.Request, []byte) (*awsproto.Verified, error) {
	return nil, errors.New("not used")
}

func fuzzGateway(tb testing.TB) *Gateway {
	up := func() *Upstream {
		return &Upstream{URL: "http://upstream.invalid", Credentials: Credentials{AccessKeyID: "a", SecretAccessKey: "b"}}
	}
	gw, err := New(Config{
		Verifier: noVerify{}, Authorizer: allowAll{}, DynamoDB: up(), S3: up(),
		AccountID: account, Region: region, Transport: schemaTransport{}, S3VirtualHostSuffix: "s3.local",
	})
	if err != nil {
		tb.Fatal(err)
	}
	return gw
}

// FuzzDynamoDBRequest: any body and operation maps to checks or to a
// DynamoDB error, never a panic; every check names an action and a
// resource.
func FuzzDynamoDBRequest(f *testing.F) {
	for _, s := range []struct{ op, body string }{
		{"GetItem", `{"TableName":"t","Key":{"pk":{"S":"a"},"sk":{"N":"1"}},"ProjectionExpression":"a, #b","ExpressionAttributeNames":{"#b":"b"}}`},
		{"Query", `{"TableName":"t","IndexName":"i","KeyConditionExpression":"g = :v","ExpressionAttributeValues":{":v":{"S":"x"}}}`},
		{"BatchWriteItem", `{"RequestItems":{"t":[{"PutRequest":{"Item":{"pk":{"S":"a"}}}},{"DeleteRequest":{"Key":{"pk":{"B":"AA=="}}}}]}}`},
		{"BatchGetItem", `{"RequestItems":{"t":{"Keys":[{"pk":{"S":"a"},"sk":{"S":"b"}}]}}}`},
		{"TransactWriteItems", `{"TransactItems":[{"Update":{"TableName":"t","Key":{"pk":{"S":"a"}},"UpdateExpression":"SET a = :v"}}]}`},
		{"UpdateItem", `{"TableName":"t","Key":{"pk":{"S":"a"}},"AttributeUpdates":{"x":{}},"KeyConditions":{"pk":{"ComparisonOperator":"EQ"}}}`},
		{"TagResource", `{"ResourceArn":"arn:aws:dynamodb:us-west-2:1:table/t"}`},
		{"ListTables", `{}`},
		{"PutItem", `{"TableName":"t","Item":{"pk":{"S":"a","N":"1"}}}`},
	} {
		f.Add(s.op, []byte(s.body))
	}
	gw := fuzzGateway(f)
	p := &auth.Principal{Type: auth.AssumedRole, ARN: "arn:aws:sts::" + account + ":assumed-role/r/s", Session: &auth.Session{RoleName: "r"}}
	f.Fuzz(func(t *testing.T, op string, body []byte) {
		kind := ddbOps[op]
		if kind == 0 {
			return
		}
		var in ddbInput
		if unmarshalInput(body, &in) != nil {
			return
		}
		checks, derr := gw.ddbChecks(context.Background(), p, op, kind, &in)
		if derr != nil {
			return
		}
		for _, c := range checks {
			if !strings.HasPrefix(c.action, "dynamodb:") || c.resource == "" {
				t.Fatalf("check %+v from %s %s", c, op, body)
			}
		}
	})
}

// FuzzS3Request: any method, request target, host and headers map to an
// operation and checks, an unmapped request or an S3 error, never a panic.
func FuzzS3Request(f *testing.F) {
	for _, s := range []struct{ method, target, host, copySrc, tagging string }{
		{"GET", "/bkt/k?versionId=1", "", "", ""},
		{"PUT", "/bkt/a%20b/c", "", "/src/k?versionId=2", "a=b&c"},
		{"POST", "/bkt?delete", "", "", ""},
		{"GET", "/k", "bkt.s3.local", "", ""},
		{"DELETE", "/bkt/k?uploadId=1", "", "", ""},
		{"GET", "/bkt/%ZZ", "", "", ""},
		{"GET", "/bkt/../../etc", "", "", ""},
	} {
		f.Add(s.method, s.target, s.host, s.copySrc, s.tagging, []byte("<Delete><Object><Key>k</Key></Object></Delete>"))
	}
	gw := fuzzGateway(f)
	f.Fuzz(func(t *testing.T, method, target, host, copySrc, tagging string, body []byte) {
		u, err := url.ParseRequestURI(target)
		if err != nil || !strings.HasPrefix(target, "/") {
			return
		}
		r := &http.Request{Method: method, URL: u, RequestURI: target, Host: host, Header: http.Header{}}
		r.Header.Set("X-Amz-Copy-Source", copySrc)
		r.Header.Set("X-Amz-Tagging", tagging)
		r.Header.Set("X-Amz-Date", time.Now().UTC().Format("20060102T150405Z"))
		a, serr := gw.s3Address(r)
		if serr != nil {
			return
		}
		if checkS3Path(a.rawPath) != nil {
			return
		}
		_, checks, serr := gw.s3Checks(r, a, s3Subresource(u.Query()), body, false)
		if serr != nil {
			return
		}
		for _, c := range checks {
			if !strings.HasPrefix(c.action, "s3:") || !strings.HasPrefix(c.resource, "arn:aws:s3:::") {
				t.Fatalf("check %+v from %s %s", c, method, target)
			}
		}
	})
}

// FuzzRewriteDDBARNs: an upstream body is rewritten without a panic; a
// body without "arn:" is returned unchanged, and no upstream DynamoDB ARN
// head is left in a rewritten one.
func FuzzRewriteDDBARNs(f *testing.F) {
	f.Add([]byte(`{"TableArn":"arn:aws:dynamodb:us-east-1:000000000000:table/carts"}`))
	f.Add([]byte(`{"a":"arn:aws-cn:dynamodb:cn-north-1:123456789012:table/x/index/y","b":"arn:aws:s3:::b"}`))
	f.Add([]byte(`no arns`))
	f.Fuzz(func(t *testing.T, body []byte) {
		out := rewriteDDBARNs(body, "aws", "us-west-2", "123456789012")
		if !bytes.Contains(body, []byte("arn:")) && !bytes.Equal(out, body) {
			t.Fatalf("a body without ARNs changed: %q -> %q", body, out)
		}
		for _, m := range upstreamDDBARN.FindAll(out, -1) {
			if string(m) != "arn:aws:dynamodb:us-west-2:123456789012:" {
				t.Fatalf("upstream ARN head %q left in %q", m, out)
			}
		}
	})
}
