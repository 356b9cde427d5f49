package e2e

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/smithy-go"

	"github.com/podid/podid/internal/app"
	"github.com/podid/podid/internal/policy/vectortest"
)

// TestMalformedPolicyDocuments sends the validation vectors of the policy
// engine to the running server with the Go SDK (CreatePolicy for managed
// policies, CreateRole for trust policies) and checks AWS's code and
// message for each.
func TestMalformedPolicyDocuments(t *testing.T) {
	t.Parallel()
	files, err := vectortest.LoadValidate()
	if err != nil {
		t.Fatal(err)
	}
	var cases []vectortest.ValidateCase
	for _, f := range files {
		if f.Name == "rules" {
			cases = f.Cases
		}
	}
	if len(cases) == 0 {
		t.Fatal("no validation vectors in rules.json")
	}
	s := startServer(t)
	client := iam.NewFromConfig(s.goConfig(s.root()))
	ctx := context.Background()
	checked := 0
	for i, c := range cases {
		if c.Valid || c.Exists != nil || c.Partition != "" || c.TrustMax != 0 {
			continue
		}
		doc := c.Document()
		if strings.TrimSpace(doc) == "" {
			continue // the API's length constraint answers before the policy grammar
		}
		code := c.Code
		if code == "" {
			code = "MalformedPolicyDocument"
		}
		var err error
		switch {
		case slices.Contains(c.Kinds, "managed"):
			_, err = client.CreatePolicy(ctx, &iam.CreatePolicyInput{PolicyName: aws.String("p" + strings.Repeat("x", i%3) + c.Name), PolicyDocument: aws.String(doc)})
		case slices.Contains(c.Kinds, "trust"):
			_, err = client.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String("r-" + c.Name), AssumeRolePolicyDocument: aws.String(doc)})
		default:
			continue
		}
		checked++
		var ae smithy.APIError
		if !errors.As(err, &ae) {
			t.Errorf("%s (%s): err = %v, want %s", c.Name, c.Rule, err, code)
			continue
		}
		if ae.ErrorCode() != code || ae.ErrorMessage() != c.Message {
			t.Errorf("%s (%s): got %s %q, want %s %q", c.Name, c.Rule, ae.ErrorCode(), ae.ErrorMessage(), code, c.Message)
		}
	}
	if checked < 30 {
		t.Fatalf("only %d malformed documents checked, want at least 30", checked)
	}
	// Nothing half-written: no policy or role exists after the refusals.
	pols, _ := client.ListPolicies(ctx, &iam.ListPoliciesInput{Scope: "Local"})
	roles, _ := client.ListRoles(ctx, &iam.ListRolesInput{})
	if len(pols.Policies) != 0 || len(roles.Roles) != 0 {
		t.Errorf("refused documents left %d policies and %d roles behind", len(pols.Policies), len(roles.Roles))
	}
}

// inProcess runs a podid server in this process with a settable clock.
type inProcess struct {
	URL   string
	app   *app.App
	clock atomic.Int64 // unix nanoseconds
}

func startInProcess(t *testing.T) *inProcess {
	t.Helper()
	p := &inProcess{}
	p.clock.Store(time.Now().UnixNano())
	ctx, cancel := context.WithCancel(context.Background())
	a, err := app.New(ctx, app.Config{DataDir: t.TempDir(), PublicURL: "http://127.0.0.1", Now: func() time.Time { return time.Unix(0, p.clock.Load()) }})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { a.Run(ctx); close(done) }()
	srv := httptest.NewServer(a.Handler)
	t.Cleanup(func() { srv.Close(); cancel(); <-done; a.Close() })
	p.URL, p.app = srv.URL, a
	return p
}

func (p *inProcess) now() time.Time { return time.Unix(0, p.clock.Load()) }

// call sends a signed awsQuery request, signing it at signAt, and returns
// the status and the error code of the answer.
func (p *inProcess) call(t *testing.T, c creds, service, form string, signAt time.Time) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, p.URL+"/", strings.NewReader(form))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	sum := sha256.Sum256([]byte(form))
	err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: c.Key, SecretAccessKey: c.Secret, SessionToken: c.Token}, req, hex.EncodeToString(sum[:]), service, "us-west-2", signAt)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	code := ""
	if i := strings.Index(string(body), "<Code>"); i >= 0 {
		code = string(body)[i+6:]
		code = code[:strings.Index(code, "</Code>")]
	}
	return resp.StatusCode, code
}

// TestClockSkewAndExpiredCredentials: a signature more than 15 minutes off
// the server's clock, and temporary credentials past their expiry, are
// refused with AWS's codes.
func TestClockSkewAndExpiredCredentials(t *testing.T) {
	t.Parallel()
	p := startInProcess(t)
	secret, err := p.app.RootSecret(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	root := creds{Key: p.app.RootAccessKeyID, Secret: secret}
	who := "Action=GetCallerIdentity&Version=2011-06-15"
	if st, code := p.call(t, root, "sts", who, p.now()); st != 200 {
		t.Fatalf("in time: %d %s", st, code)
	}
	for _, skew := range []time.Duration{16 * time.Minute, -16 * time.Minute} {
		if st, code := p.call(t, root, "sts", who, p.now().Add(skew)); st != 403 || code != "SignatureDoesNotMatch" {
			t.Errorf("skew %v: %d %s, want 403 SignatureDoesNotMatch", skew, st, code)
		}
	}
	if st, code := p.call(t, root, "sts", who, p.now().Add(14*time.Minute)); st != 200 {
		t.Errorf("skew 14m: %d %s, want accepted", st, code)
	}

	// Temporary credentials from GetSessionToken, then the clock moves past
	// their expiry (the client's clock moves with it).
	form := url.Values{"Action": {"GetSessionToken"}, "Version": {"2011-06-15"}, "DurationSeconds": {"900"}}.Encode()
	req, _ := http.NewRequest(http.MethodPost, p.URL+"/", strings.NewReader(form))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	sum := sha256.Sum256([]byte(form))
	v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: root.Key, SecretAccessKey: root.Secret}, req, hex.EncodeToString(sum[:]), "sts", "us-west-2", p.now())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	get := func(tag string) string {
		s := string(body)
		i := strings.Index(s, "<"+tag+">")
		if i < 0 {
			t.Fatalf("no %s in %s", tag, s)
		}
		s = s[i+len(tag)+2:]
		return s[:strings.Index(s, "</"+tag+">")]
	}
	session := creds{Key: get("AccessKeyId"), Secret: get("SecretAccessKey"), Token: get("SessionToken")}
	if st, code := p.call(t, session, "sts", who, p.now()); st != 200 {
		t.Fatalf("fresh session: %d %s", st, code)
	}
	p.clock.Add(int64(16 * time.Minute))
	if st, code := p.call(t, session, "sts", who, p.now()); st != 403 || code != "ExpiredToken" {
		t.Errorf("expired session: %d %s, want 403 ExpiredToken", st, code)
	}
	if st, code := p.call(t, session, "iam", "Action=ListRoles&Version=2010-05-08", p.now()); st != 403 || code != "ExpiredToken" {
		t.Errorf("expired session on IAM: %d %s, want 403 ExpiredToken", st, code)
	}
}
