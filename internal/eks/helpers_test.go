package eks

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awseks "github.com/aws/aws-sdk-go-v2/service/eks"

	"github.com/podid/podid/internal/auth"
	"github.com/podid/podid/internal/awsproto"
	"github.com/podid/podid/internal/ids"
	"github.com/podid/podid/internal/policy"
	"github.com/podid/podid/internal/secrets"
	"github.com/podid/podid/internal/store"
	"github.com/podid/podid/internal/store/sqlite"
	"github.com/podid/podid/internal/testclock"
)

const (
	testAccount = "123456789000"
	testRegion  = "us-west-2"
	rootKey     = "AKIAROOTROOTROOTROOT"
	userKey     = "AKIAUSERUSERUSERUSER"
)

// testStart is the fixed clock's start: 2024-01-09T16:16:38.163Z, the
// createdAt of the eks-workshop transcript.
var testStart = time.UnixMilli(1704816998163).UTC()

// env is one EKS service on a fresh SQLite store, behind an httptest
// server whose test-only edge skips SigV4 and injects the caller chosen by
// the request's access key ID.
type env struct {
	t     testing.TB
	st    *sqlite.Store
	svc   *Service
	srv   *httptest.Server
	clock *testclock.Clock
	eks   *awseks.Client // signed as the account root
}

func newEnv(t testing.TB, opts ...func(*Config)) *env {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "podid.db"), sqlite.WithPollInterval(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	kr, err := secrets.New(secrets.GenerateKey())
	if err != nil {
		t.Fatal(err)
	}
	clk := testclock.New(testStart)
	authz := auth.NewAuthorizer(auth.AuthorizerConfig{Store: st, Engine: policy.NewEngine(100), AccountID: testAccount, Now: clk.Now, CacheTTL: -1})
	cfg := Config{
		Store: st, Authorizer: authz, Keyring: kr, AccountID: testAccount, Region: testRegion,
		PublicBaseURL: "https://podid.example", Now: clk.Now,
	}
	for _, o := range opts {
		o(&cfg)
	}
	svc, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, st: st, svc: svc, clock: clk}
	e.srv = httptest.NewServer(testEdge(svc))
	t.Cleanup(e.srv.Close)
	e.eks = e.client(rootKey)
	return e
}

var credRE = regexp.MustCompile(`Credential=([A-Z0-9]+)/`)

// testEdge stands in for the server's edge: it takes the caller from the
// access key ID in the Authorization header (no signature check) and sets
// a request ID.
func testEdge(h http.Handler) http.Handler {
	principals := map[string]*auth.Principal{
		rootKey: {Type: auth.Root, AccountID: testAccount, ARN: "arn:aws:iam::" + testAccount + ":root", UserID: testAccount, AccessKeyID: rootKey},
		userKey: {Type: auth.User, AccountID: testAccount, ARN: "arn:aws:iam::" + testAccount + ":user/dev", UserID: "AIDAEXAMPLEEXAMPLE123", AccessKeyID: userKey, Name: "dev"},
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := awsproto.WithRequestID(r.Context(), awsproto.NewRequestID())
		if m := credRE.FindStringSubmatch(r.Header.Get("Authorization")); m != nil {
			if p := principals[m[1]]; p != nil {
				ctx = auth.WithPrincipal(ctx, p)
			}
		}
		h.ServeHTTP(w, r.WithContext(ctx))
	})
}

// client returns an SDK client signing with the given access key ID.
func (e *env) client(akid string) *awseks.Client {
	return awseks.NewFromConfig(aws.Config{
		Region:      testRegion,
		Credentials: credentials.NewStaticCredentialsProvider(akid, "secret", ""),
		Retryer:     func() aws.Retryer { return aws.NopRetryer{} },
	}, func(o *awseks.Options) { o.BaseEndpoint = aws.String(e.srv.URL) })
}

// trustPodIdentity is the trust policy of the workshop's role.
const trustPodIdentity = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"pods.eks.amazonaws.com"},"Action":["sts:AssumeRole","sts:TagSession"]}]}`

// role creates an IAM role in the store and returns its ARN.
func (e *env) role(name, trust string) string {
	e.t.Helper()
	arn := "arn:aws:iam::" + testAccount + ":role/" + name
	err := e.st.Update(context.Background(), func(tx store.Tx) error {
		return tx.CreateRole(&store.Role{Account: testAccount, ID: ids.NewRoleID(), Name: name, Path: "/", ARN: arn, AssumeRolePolicy: trust, MaxSessionDuration: 3600, CreatedAt: testStart})
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return arn
}

// user creates the IAM user "dev" (access key userKey) with an inline policy.
func (e *env) user(policyDoc string) {
	e.t.Helper()
	err := e.st.Update(context.Background(), func(tx store.Tx) error {
		if err := tx.CreateUser(&store.User{Account: testAccount, ID: "AIDAEXAMPLEEXAMPLE123", Name: "dev", Path: "/", ARN: "arn:aws:iam::" + testAccount + ":user/dev", CreatedAt: testStart}); err != nil {
			return err
		}
		return tx.PutInlinePolicy(&store.InlinePolicy{Account: testAccount, Kind: store.KindUser, PrincipalName: "dev", PolicyName: "p", Document: policyDoc})
	})
	if err != nil {
		e.t.Fatal(err)
	}
}

// hostedCluster creates a podid-hosted cluster through the service.
func (e *env) hostedCluster(name string) {
	e.t.Helper()
	_, err := e.svc.CreateCluster(rootCtx(), &CreateClusterInput{Name: name, RoleArn: "arn:aws:iam::" + testAccount + ":role/cluster", ResourcesVpcConfig: &VpcConfigRequest{SubnetIDs: []string{"subnet-1", "subnet-2"}}})
	if err != nil {
		e.t.Fatal(err)
	}
}

func rootCtx() context.Context {
	return auth.WithPrincipal(context.Background(), &auth.Principal{Type: auth.Root, AccountID: testAccount, ARN: "arn:aws:iam::" + testAccount + ":root"})
}

// rawResponse is a decoded raw HTTP exchange.
type rawResponse struct {
	Status int
	Header http.Header
	Body   map[string]any
	Raw    string
}

// do sends an unsigned-but-attributed request as root and decodes the JSON body.
func (e *env) do(method, path, body string) rawResponse {
	e.t.Helper()
	return e.doAs(rootKey, method, path, body)
}

func (e *env) doAs(akid, method, path, body string) rawResponse {
	e.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, e.srv.URL+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if akid != "" {
		req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential="+akid+"/20240109/us-west-2/eks/aws4_request, SignedHeaders=host, Signature=00")
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	out := rawResponse{Status: resp.StatusCode, Header: resp.Header, Raw: string(b)}
	if len(b) > 0 {
		if err := json.Unmarshal(b, &out.Body); err != nil {
			e.t.Fatalf("%s %s: response is not a JSON object: %q", method, path, b)
		}
	}
	return out
}
