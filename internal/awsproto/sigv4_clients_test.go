package awsproto

import (
	"context"
	"encoding/xml"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

// verifyResult is what the test server saw for one request.
type verifyResult struct {
	method, path string
	verified     *Verified
	err          error
}

// verifyingServer is a loopback server that verifies every request with a
// real-clock Verifier, reports the outcome and answers with a minimal
// well-formed response for the operation, so that real clients succeed.
func verifyingServer(t *testing.T) (*httptest.Server, <-chan verifyResult) {
	t.Helper()
	results := make(chan verifyResult, 16)
	v := &Verifier{Lookup: fakeLookup{}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, "read", http.StatusBadRequest)
			return
		}
		ver, verr := v.Verify(r.Context(), r, body)
		results <- verifyResult{method: r.Method, path: r.URL.EscapedPath(), verified: ver, err: verr}

		service, _, _ := ScopeOf(r)
		isQuery := service == "iam" || service == "sts"
		if verr != nil {
			ae := verr.(*Error)
			if isQuery {
				WriteQueryError(w, QueryNamespace[service], "req-1", ae)
			} else {
				WriteJSONError(w, "req-1", RestJSONAuthError(ae))
			}
			return
		}
		if isQuery {
			var action string
			if r.Method == http.MethodGet {
				action = r.URL.Query().Get("Action")
			} else {
				p, _ := ParseParams(string(body))
				action = p.Get("Action")
			}
			writeFakeQueryResult(w, service, action)
			return
		}
		switch {
		case strings.HasSuffix(r.URL.Path, "/pod-identity-associations"):
			WriteJSON(w, http.StatusOK, "req-1", map[string]any{"associations": []any{}})
		case strings.HasSuffix(r.URL.Path, "/assume-role-for-pod-identity"):
			WriteJSON(w, http.StatusOK, "req-1", map[string]any{})
		default:
			WriteJSON(w, http.StatusOK, "req-1", nil)
		}
	}))
	t.Cleanup(srv.Close)
	return srv, results
}

func writeFakeQueryResult(w http.ResponseWriter, service, action string) {
	type role struct {
		Path       string `xml:"Path"`
		RoleName   string `xml:"RoleName"`
		RoleID     string `xml:"RoleId"`
		Arn        string `xml:"Arn"`
		CreateDate string `xml:"CreateDate"`
	}
	var result any
	switch action {
	case "GetCallerIdentity":
		result = struct {
			Arn     string `xml:"Arn"`
			UserID  string `xml:"UserId"`
			Account string `xml:"Account"`
		}{"arn:aws:iam::111122223333:user/alice", "AIDAEXAMPLEEXAMPLE12", "111122223333"}
	case "GetRole":
		result = struct {
			Role role `xml:"Role"`
		}{role{"/", "x", "AROAEXAMPLEEXAMPLE12", "arn:aws:iam::111122223333:role/x", "2026-11-25T10:00:00Z"}}
	}
	WriteQueryResponse(w, action, QueryNamespace[service], "req-1", result)
}

func nextResult(t *testing.T, ch <-chan verifyResult) verifyResult {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(30 * time.Second):
		t.Fatal("the server saw no request")
		return verifyResult{}
	}
}

func sdkConfig(akid, secret, token string) aws.Config {
	return aws.Config{
		Region: "us-west-2",
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: akid, SecretAccessKey: secret, SessionToken: token, Source: "test"}, nil
		}),
		RetryMaxAttempts: 1,
	}
}

// TestVerifyGoSDKClients sends requests with the real service clients of
// the AWS SDK for Go v2 (their full middleware stacks, invocation-ID and
// retry headers included) over loopback HTTP and verifies them as received.
func TestVerifyGoSDKClients(t *testing.T) {
	srv, results := verifyingServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	endpoint := aws.String(srv.URL)

	calls := []struct {
		name        string
		token       bool
		call        func(cfg aws.Config) error
		wantService string
		wantMethod  string
		wantPath    string
	}{
		{
			name: "sts GetCallerIdentity", wantService: "sts", wantMethod: "POST", wantPath: "/",
			call: func(cfg aws.Config) error {
				_, err := sts.NewFromConfig(cfg, func(o *sts.Options) { o.BaseEndpoint = endpoint }).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
				return err
			},
		},
		{
			name: "sts GetCallerIdentity with session token", token: true, wantService: "sts", wantMethod: "POST", wantPath: "/",
			call: func(cfg aws.Config) error {
				_, err := sts.NewFromConfig(cfg, func(o *sts.Options) { o.BaseEndpoint = endpoint }).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
				return err
			},
		},
		{
			name: "iam GetRole", wantService: "iam", wantMethod: "POST", wantPath: "/",
			call: func(cfg aws.Config) error {
				_, err := iam.NewFromConfig(cfg, func(o *iam.Options) { o.BaseEndpoint = endpoint }).GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String("x")})
				return err
			},
		},
		{
			name: "eks ListPodIdentityAssociations", wantService: "eks", wantMethod: "GET", wantPath: "/clusters/eks-workshop/pod-identity-associations",
			call: func(cfg aws.Config) error {
				_, err := eks.NewFromConfig(cfg, func(o *eks.Options) { o.BaseEndpoint = endpoint }).ListPodIdentityAssociations(ctx, &eks.ListPodIdentityAssociationsInput{
					ClusterName: aws.String("eks-workshop"), Namespace: aws.String("carts"), MaxResults: aws.Int32(5), NextToken: aws.String("a/b c+d=="),
				})
				return err
			},
		},
		{
			name: "eks TagResource", wantService: "eks", wantMethod: "POST",
			wantPath: "/tags/arn%3Aaws%3Aeks%3Aus-west-2%3A111122223333%3Apodidentityassociation%2Fmy-cluster%2Fa-abcdefghijklmnop1",
			call: func(cfg aws.Config) error {
				_, err := eks.NewFromConfig(cfg, func(o *eks.Options) { o.BaseEndpoint = endpoint }).TagResource(ctx, &eks.TagResourceInput{
					ResourceArn: aws.String("arn:aws:eks:us-west-2:111122223333:podidentityassociation/my-cluster/a-abcdefghijklmnop1"),
					Tags:        map[string]string{"team": "carts", "note": "a  b"},
				})
				return err
			},
		},
		{
			name: "eks UntagResource", wantService: "eks", wantMethod: "DELETE",
			wantPath: "/tags/arn%3Aaws%3Aeks%3Aus-west-2%3A111122223333%3Acluster%2Fc",
			call: func(cfg aws.Config) error {
				_, err := eks.NewFromConfig(cfg, func(o *eks.Options) { o.BaseEndpoint = endpoint }).UntagResource(ctx, &eks.UntagResourceInput{
					ResourceArn: aws.String("arn:aws:eks:us-west-2:111122223333:cluster/c"),
					TagKeys:     []string{"b", "a", "a/z"},
				})
				return err
			},
		},
	}
	for _, c := range calls {
		t.Run(c.name, func(t *testing.T) {
			cfg := sdkConfig(testAKID, testSecret, "")
			wantAKID := testAKID
			if c.token {
				cfg = sdkConfig(testTempAKID, testTempSecret, testToken)
				wantAKID = testTempAKID
			}
			callErr := c.call(cfg)
			res := nextResult(t, results)
			if res.err != nil {
				t.Fatalf("server rejected the SDK's request: %v", res.err)
			}
			if callErr != nil {
				t.Fatalf("client call failed: %v", callErr)
			}
			if res.method != c.wantMethod || (c.wantPath != "" && res.path != c.wantPath) {
				t.Fatalf("request %s %s, want %s %s", res.method, res.path, c.wantMethod, c.wantPath)
			}
			if res.verified.AccessKeyID != wantAKID || res.verified.Service != c.wantService || res.verified.Region != "us-west-2" {
				t.Fatalf("verified %+v", res.verified)
			}
		})
	}
}

// TestVerifyGoSDKPresignedURL verifies the presigned GetCallerIdentity URL
// the STS presign client makes (the shape EKS and Vault use as a bearer
// token), fetched with a plain HTTP GET.
func TestVerifyGoSDKPresignedURL(t *testing.T) {
	srv, results := verifyingServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, token := range []bool{false, true} {
		cfg := sdkConfig(testAKID, testSecret, "")
		if token {
			cfg = sdkConfig(testTempAKID, testTempSecret, testToken)
		}
		client := sts.NewFromConfig(cfg, func(o *sts.Options) { o.BaseEndpoint = aws.String(srv.URL) })
		pr, err := sts.NewPresignClient(client).PresignGetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
		if err != nil {
			t.Fatalf("presign: %v", err)
		}
		req, err := http.NewRequestWithContext(ctx, pr.Method, pr.URL, nil)
		if err != nil {
			t.Fatal(err)
		}
		for k, vs := range pr.SignedHeader {
			if k != "Host" {
				req.Header[k] = vs
			}
		}
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatalf("GET presigned URL: %v", err)
		}
		var out struct {
			XMLName xml.Name
		}
		xml.NewDecoder(resp.Body).Decode(&out)
		resp.Body.Close()
		res := nextResult(t, results)
		if res.err != nil {
			t.Fatalf("server rejected the presigned URL (token=%v): %v", token, res.err)
		}
		if resp.StatusCode != http.StatusOK || out.XMLName.Local != "GetCallerIdentityResponse" {
			t.Fatalf("status %d, body element %q", resp.StatusCode, out.XMLName.Local)
		}
		if res.verified.Service != "sts" {
			t.Fatalf("verified %+v", res.verified)
		}
	}
}
