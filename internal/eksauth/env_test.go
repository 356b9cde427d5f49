package eksauth_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/podid/podid/internal/app"
	"github.com/podid/podid/internal/store"
	"github.com/podid/podid/internal/testclock"
)

const (
	acct   = "123456789012"
	region = "us-west-2"
)

// start is the injected clock's starting time.
var start = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

// env is an in-process podid server (app.New) with an injected clock,
// served by an httptest server on 127.0.0.1, and driven with requests
// signed by the Go SDK's SigV4 signer at the clock's time.
type env struct {
	app   *app.App
	srv   *httptest.Server
	clock *testclock.Clock
	root  aws.Credentials
}

func newEnv(t testing.TB, mod func(*app.Config)) *env {
	t.Helper()
	c := testclock.New(start)
	cfg := app.Config{DataDir: t.TempDir(), Now: c.Now, AccountID: acct, Region: region,
		Getenv: func(string) string { return "" }}
	if mod != nil {
		mod(&cfg)
	}
	srv := httptest.NewUnstartedServer(nil)
	cfg.PublicURL = "http://" + srv.Listener.Addr().String()
	a, err := app.New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv.Config.Handler = a.Handler
	srv.Start()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		a.Run(ctx)
	}()
	t.Cleanup(func() {
		srv.Close()
		cancel()
		<-done
		a.Close()
	})
	secret, err := a.RootSecret(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return &env{app: a, srv: srv, clock: c, root: aws.Credentials{AccessKeyID: a.RootAccessKeyID, SecretAccessKey: secret}}
}

// response is an HTTP answer.
type response struct {
	Status int
	Header http.Header
	Body   []byte
}

// errCode returns the restJson1 error code and message of r.
func (r *response) errCode() (code, msg string) {
	var e struct {
		Type    string `json:"__type"`
		Message string `json:"message"`
	}
	json.Unmarshal(r.Body, &e)
	return r.Header.Get("x-amzn-ErrorType"), e.Message
}

// send signs and sends one request at the clock's time.
func (e *env) send(t testing.TB, creds aws.Credentials, service, method, path, contentType string, body []byte) *response {
	t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	sum := sha256.Sum256(body)
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, hex.EncodeToString(sum[:]), service, region, e.clock.Now()); err != nil {
		t.Fatal(err)
	}
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return &response{Status: resp.StatusCode, Header: resp.Header, Body: b}
}

// query calls an awsQuery action (IAM, STS) and fails the test unless it
// succeeds; the XML result is decoded into out when out is not nil.
func (e *env) query(t testing.TB, creds aws.Credentials, service, action string, params url.Values, out any) {
	t.Helper()
	v := url.Values{}
	for k, vs := range params {
		v[k] = vs
	}
	v.Set("Action", action)
	v.Set("Version", map[string]string{"iam": "2010-05-08", "sts": "2011-06-15"}[service])
	r := e.send(t, creds, service, http.MethodPost, "/", "application/x-www-form-urlencoded; charset=utf-8", []byte(v.Encode()))
	if r.Status != http.StatusOK {
		t.Fatalf("%s %s: HTTP %d: %s", service, action, r.Status, r.Body)
	}
	if out != nil {
		if err := xml.Unmarshal(r.Body, out); err != nil {
			t.Fatalf("%s %s: %v\n%s", service, action, err, r.Body)
		}
	}
}

// eks calls an EKS operation and fails the test unless it succeeds.
func (e *env) eks(t testing.TB, method, path string, in any, out any) {
	t.Helper()
	b, _ := json.Marshal(in)
	r := e.send(t, e.root, "eks", method, path, "application/json", b)
	if r.Status != http.StatusOK {
		t.Fatalf("eks %s %s: HTTP %d: %s", method, path, r.Status, r.Body)
	}
	if out != nil {
		if err := json.Unmarshal(r.Body, out); err != nil {
			t.Fatalf("eks %s %s: %v", method, path, err)
		}
	}
}

func roleARN(name string) string { return "arn:aws:iam::" + acct + ":role/" + name }

func clusterARN(name string) string { return "arn:aws:eks:" + region + ":" + acct + ":cluster/" + name }

// createRole creates a role with a trust policy and inline policies.
func (e *env) createRole(t testing.TB, name, trust string, inline ...string) string {
	t.Helper()
	e.query(t, e.root, "iam", "CreateRole", url.Values{"RoleName": {name}, "AssumeRolePolicyDocument": {trust}}, nil)
	for i, doc := range inline {
		e.query(t, e.root, "iam", "PutRolePolicy", url.Values{"RoleName": {name}, "PolicyName": {fmt.Sprintf("p%d", i)}, "PolicyDocument": {doc}}, nil)
	}
	return roleARN(name)
}

// createUser creates a user with inline policies and returns its key.
func (e *env) createUser(t testing.TB, name string, inline ...string) aws.Credentials {
	t.Helper()
	e.query(t, e.root, "iam", "CreateUser", url.Values{"UserName": {name}}, nil)
	for i, doc := range inline {
		e.query(t, e.root, "iam", "PutUserPolicy", url.Values{"UserName": {name}, "PolicyName": {fmt.Sprintf("p%d", i)}, "PolicyDocument": {doc}}, nil)
	}
	var out struct {
		Key struct {
			ID     string `xml:"AccessKeyId"`
			Secret string `xml:"SecretAccessKey"`
		} `xml:"CreateAccessKeyResult>AccessKey"`
	}
	e.query(t, e.root, "iam", "CreateAccessKey", url.Values{"UserName": {name}}, &out)
	return aws.Credentials{AccessKeyID: out.Key.ID, SecretAccessKey: out.Key.Secret}
}

// assumeRole assumes a role with creds and session tags (key=value).
func (e *env) assumeRole(t testing.TB, creds aws.Credentials, role, session string, tags map[string]string) aws.Credentials {
	t.Helper()
	p := url.Values{"RoleArn": {role}, "RoleSessionName": {session}}
	i := 1
	for k, v := range tags {
		p.Set(fmt.Sprintf("Tags.member.%d.Key", i), k)
		p.Set(fmt.Sprintf("Tags.member.%d.Value", i), v)
		i++
	}
	var out struct {
		C struct {
			ID     string `xml:"AccessKeyId"`
			Secret string `xml:"SecretAccessKey"`
			Token  string `xml:"SessionToken"`
		} `xml:"AssumeRoleResult>Credentials"`
	}
	e.query(t, creds, "sts", "AssumeRole", p, &out)
	return aws.Credentials{AccessKeyID: out.C.ID, SecretAccessKey: out.C.Secret, SessionToken: out.C.Token}
}

// createHostedCluster creates a podid-hosted cluster.
func (e *env) createHostedCluster(t testing.TB, name string, tags map[string]string) {
	t.Helper()
	e.eks(t, "POST", "/clusters", map[string]any{"name": name, "roleArn": roleARN("cluster"), "resourcesVpcConfig": map[string]any{}, "tags": tags}, nil)
}

// registerCluster registers an external cluster.
func (e *env) registerCluster(t testing.TB, in map[string]any) {
	t.Helper()
	e.eks(t, "POST", "/cluster-registrations", in, nil)
}

// association is what the tests need of a created association.
type association struct {
	ARN        string `json:"associationArn"`
	ID         string `json:"associationId"`
	ExternalID string `json:"externalId"`
}

// associate creates an association; extra adds members (targetRoleArn, …).
func (e *env) associate(t testing.TB, cluster, ns, sa, role string, extra map[string]any) association {
	t.Helper()
	in := map[string]any{"namespace": ns, "serviceAccount": sa, "roleArn": role}
	for k, v := range extra {
		in[k] = v
	}
	var out struct {
		A association `json:"association"`
	}
	e.eks(t, "POST", "/clusters/"+cluster+"/pod-identity-associations", in, &out)
	return out.A
}

// podToken mints a pod-bound token of a hosted cluster.
func (e *env) podToken(t testing.TB, cluster, ns, sa, pod, node string, extra map[string]any) string {
	t.Helper()
	in := map[string]any{"namespace": ns, "serviceAccount": sa, "podName": pod, "podUid": podUID(pod)}
	if node != "" {
		in["nodeName"] = node
	}
	for k, v := range extra {
		in[k] = v
	}
	var out struct {
		Token string `json:"token"`
	}
	e.eks(t, "POST", "/podid/v1/clusters/"+cluster+"/tokens", in, &out)
	return out.Token
}

// podUID is a stable fake UID for a pod name.
func podUID(pod string) string {
	s := sha256.Sum256([]byte(pod))
	h := hex.EncodeToString(s[:16])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// exchange calls AssumeRoleForPodIdentity with a raw JSON body.
func (e *env) exchangeBody(t testing.TB, creds aws.Credentials, cluster string, body []byte) *response {
	t.Helper()
	return e.send(t, creds, "eks-auth", http.MethodPost, "/clusters/"+url.PathEscape(cluster)+"/assume-role-for-pod-identity", "application/json", body)
}

// exchange calls AssumeRoleForPodIdentity with a token.
func (e *env) exchange(t testing.TB, creds aws.Credentials, cluster, token string) *response {
	t.Helper()
	b, _ := json.Marshal(map[string]string{"token": token})
	return e.exchangeBody(t, creds, cluster, b)
}

// output decodes a successful exchange.
type output struct {
	Subject struct {
		Namespace      string `json:"namespace"`
		ServiceAccount string `json:"serviceAccount"`
	} `json:"subject"`
	Audience               string `json:"audience"`
	PodIdentityAssociation struct {
		AssociationARN string `json:"associationArn"`
		AssociationID  string `json:"associationId"`
	} `json:"podIdentityAssociation"`
	AssumedRoleUser struct {
		ARN          string `json:"arn"`
		AssumeRoleID string `json:"assumeRoleId"`
	} `json:"assumedRoleUser"`
	Credentials struct {
		SessionToken    string          `json:"sessionToken"`
		SecretAccessKey string          `json:"secretAccessKey"`
		AccessKeyID     string          `json:"accessKeyId"`
		Expiration      json.RawMessage `json:"expiration"`
	} `json:"credentials"`
}

func (o *output) creds() aws.Credentials {
	return aws.Credentials{AccessKeyID: o.Credentials.AccessKeyID, SecretAccessKey: o.Credentials.SecretAccessKey, SessionToken: o.Credentials.SessionToken}
}

func (e *env) mustExchange(t testing.TB, creds aws.Credentials, cluster, token string) *output {
	t.Helper()
	r := e.exchange(t, creds, cluster, token)
	if r.Status != http.StatusOK {
		t.Fatalf("exchange on %s: HTTP %d: %s", cluster, r.Status, r.Body)
	}
	var o output
	if err := json.Unmarshal(r.Body, &o); err != nil {
		t.Fatal(err)
	}
	return &o
}

// auditRecords returns the stored audit records once they stand for n or
// more events (a record aggregating repeated refusals counts Count).
func (e *env) auditRecords(t testing.TB, n int) []*store.AuditRecord {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var recs []*store.AuditRecord
		err := e.app.Store.View(context.Background(), func(tx store.Tx) error {
			var err error
			recs, err = tx.ListAudit(time.Time{}, 0)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		events := 0
		for _, r := range recs {
			events += max(r.Count, 1)
		}
		if events >= n || time.Now().After(deadline) {
			return recs
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// extIssuer is an external cluster's service-account issuer whose key the
// test holds, to mint tokens with any claims.
type extIssuer struct {
	url string
	key *rsa.PrivateKey
	kid string
}

func newExtIssuer(t testing.TB, url string) *extIssuer {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return &extIssuer{url: url, key: k, kid: "kid-" + hex.EncodeToString([]byte(url))[:8]}
}

// jwks is the issuer's public key set as a JSON document.
func (x *extIssuer) jwks() string {
	b, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &x.key.PublicKey, KeyID: x.kid, Algorithm: "RS256", Use: "sig"}}})
	return string(b)
}

// claims are the claims kube-apiserver writes in a projected token, valid
// for an hour from now.
func (x *extIssuer) claims(now time.Time, ns, sa, pod, node string) map[string]any {
	k8s := map[string]any{
		"namespace":      ns,
		"pod":            map[string]any{"name": pod, "uid": podUID(pod)},
		"serviceaccount": map[string]any{"name": sa, "uid": podUID("sa-" + sa)},
	}
	if node != "" {
		k8s["node"] = map[string]any{"name": node, "uid": podUID("node-" + node)}
	}
	return map[string]any{
		"iss":           x.url,
		"sub":           "system:serviceaccount:" + ns + ":" + sa,
		"aud":           []string{"pods.eks.amazonaws.com"},
		"exp":           now.Add(time.Hour).Unix(),
		"iat":           now.Add(-time.Minute).Unix(),
		"nbf":           now.Add(-time.Minute).Unix(),
		"jti":           podUID("jti-" + pod),
		"kubernetes.io": k8s,
	}
}

// sign signs claims with the issuer's key (RS256, its kid).
func (x *extIssuer) sign(t testing.TB, claims map[string]any) string {
	t.Helper()
	return signJWT(t, jose.RS256, x.key, x.kid, claims)
}

func signJWT(t testing.TB, alg jose.SignatureAlgorithm, key any, kid string, claims map[string]any) string {
	t.Helper()
	opts := (&jose.SignerOptions{}).WithType("JWT")
	if kid != "" {
		opts = opts.WithHeader("kid", kid)
	}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, opts)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := jwt.Signed(s).Claims(claims).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// trust documents.
const (
	trustPods        = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"pods.eks.amazonaws.com"},"Action":["sts:AssumeRole","sts:TagSession"]}]}`
	trustPodsNoTag   = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"pods.eks.amazonaws.com"},"Action":"sts:AssumeRole"}]}`
	trustAccountRoot = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:root"},"Action":["sts:AssumeRole","sts:TagSession"]}]}`
	allowEKSAuth     = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"eks-auth:AssumeRoleForPodIdentity","Resource":"*"}]}`
	allowAssumeAll   = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["sts:AssumeRole","sts:TagSession"],"Resource":"*"}]}`
)

// trustFrom trusts principal (an ARN) for AssumeRole and TagSession, with
// an optional condition block.
func trustFrom(principal, condition string) string {
	c := ""
	if condition != "" {
		c = `,"Condition":` + condition
	}
	return `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"` + principal + `"},"Action":["sts:AssumeRole","sts:TagSession"]` + c + `}]}`
}

// TestAgentExchangeUnsigned: through the whole server, the agent exchange
// is answered without a signature (its token is the proof) while EKS
// Auth's own path still needs one.
func TestAgentExchangeUnsigned(t *testing.T) {
	e := newEnv(t, nil)
	post := func(path, body string) (int, string) {
		resp, err := http.Post(e.srv.URL+path, "application/json", bytes.NewReader([]byte(body)))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		return resp.StatusCode, resp.Header.Get("x-amzn-ErrorType")
	}
	if st, et := post("/podid/v1/clusters/nope/assume-role-for-agent", `{"token":"aaa.bbb.ccc"}`); st != 404 || !bytes.HasPrefix([]byte(et), []byte("ResourceNotFoundException")) {
		t.Errorf("unsigned agent exchange: %d %s", st, et)
	}
	if st, et := post("/clusters/nope/assume-role-for-pod-identity", `{"token":"aaa.bbb.ccc"}`); st != 403 || !bytes.HasPrefix([]byte(et), []byte("MissingAuthenticationTokenException")) {
		t.Errorf("unsigned pod exchange: %d %s", st, et)
	}
}
