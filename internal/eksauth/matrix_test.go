package eksauth_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/go-jose/go-jose/v4"

	"github.com/podid/podid/internal/eksauth"
)

// fixture is one app with the clusters, roles, associations and callers
// of the refusal matrix.
type fixture struct {
	e                                  *env
	agent, nobody, blueOnly, nodeAgent aws.Credentials
	ext, ext2                          *extIssuer
	hostedToken                        string
}

const getRoleByNamespace = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iam:GetRole","Resource":"arn:aws:iam::123456789012:role/${aws:PrincipalTag/kubernetes-namespace}-*"}]}`

func newFixture(t *testing.T) *fixture {
	t.Helper()
	e := newEnv(t, nil)
	f := &fixture{e: e}
	e.createRole(t, "cluster", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"eks.amazonaws.com"},"Action":"sts:AssumeRole"}]}`)

	// Callers: the agent (an IAM user allowed everywhere), a user with no
	// permission, a user allowed only on clusters tagged team=blue, and an
	// agent whose role session is bound to node-1.
	f.agent = e.createUser(t, "agent", allowEKSAuth)
	f.nobody = e.createUser(t, "nobody")
	f.blueOnly = e.createUser(t, "blue-only", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"eks-auth:AssumeRoleForPodIdentity","Resource":"*","Condition":{"StringEquals":{"aws:ResourceTag/team":"blue"}}}]}`)
	boot := e.createUser(t, "bootstrap", allowAssumeAll)
	e.createRole(t, "node", trustAccountRoot, allowEKSAuth)
	f.nodeAgent = e.assumeRole(t, boot, roleARN("node"), "i-0123456789", map[string]string{eksauth.NodeNameTag: "node-1"})

	// Clusters: hosted (team=blue), hosted2, and two external clusters
	// with inline key sets (team=red).
	e.createHostedCluster(t, "hosted", map[string]string{"team": "blue"})
	e.createHostedCluster(t, "hosted2", nil)
	f.ext = newExtIssuer(t, "https://oidc.ext.example/id/EXT1")
	f.ext2 = newExtIssuer(t, "https://oidc.ext.example/id/EXT2")
	e.registerCluster(t, map[string]any{"name": "ext", "oidcIssuerUrl": f.ext.url, "jwks": f.ext.jwks(), "tags": map[string]string{"team": "red"}})
	e.registerCluster(t, map[string]any{"name": "ext2", "oidcIssuerUrl": f.ext2.url, "jwks": f.ext2.jwks()})
	// An external cluster whose issuer is served over plain http.
	plain := httptest.NewServer(http.NotFoundHandler())
	t.Cleanup(plain.Close)
	e.registerCluster(t, map[string]any{"name": "plain-http", "oidcIssuerUrl": plain.URL})

	// Roles.
	pod := e.createRole(t, "pod-role", trustPods, getRoleByNamespace, allowAssumeAll)
	e.createRole(t, "carts-reader", trustAccountRoot)
	e.createRole(t, "no-service", trustPods)
	e.createRole(t, "no-tagsession", trustPodsNoTag)
	e.createRole(t, "cond", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"pods.eks.amazonaws.com"},"Action":["sts:AssumeRole","sts:TagSession"],"Condition":{"StringEquals":{"aws:RequestTag/kubernetes-namespace":"allowed"}}}]}`)
	e.createRole(t, "source-arn", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"pods.eks.amazonaws.com"},"Action":["sts:AssumeRole","sts:TagSession"],"Condition":{"ArnEquals":{"aws:SourceArn":"`+clusterARN("other")+`"}}}]}`)
	e.createRole(t, "doomed", trustPods)
	e.createRole(t, "target-untrusting", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}`)
	e.createRole(t, "target-extid", trustFrom(pod, `{"StringEquals":{"sts:ExternalId":"not-the-association-external-id"}}`))
	e.createRole(t, "target-tags", trustFrom(pod, `{"StringEquals":{"aws:RequestTag/kubernetes-namespace":"elsewhere"}}`))

	// Associations.
	e.associate(t, "hosted", "carts", "carts", pod, nil)
	e.associate(t, "hosted2", "carts", "carts", pod, nil)
	e.associate(t, "ext", "carts", "carts", pod, nil)
	e.associate(t, "ext2", "carts", "carts", pod, nil)
	e.associate(t, "hosted", "ns1", "no-service", roleARN("no-service"), nil)
	e.associate(t, "hosted", "ns1", "no-tagsession", roleARN("no-tagsession"), nil)
	e.associate(t, "hosted", "ns1", "cond", roleARN("cond"), nil)
	e.associate(t, "hosted", "ns1", "source-arn", roleARN("source-arn"), nil)
	e.associate(t, "hosted", "ns1", "doomed", roleARN("doomed"), nil)
	e.associate(t, "hosted", "ns1", "target-untrusting", pod, map[string]any{"targetRoleArn": roleARN("target-untrusting")})
	e.associate(t, "hosted", "ns1", "target-extid", pod, map[string]any{"targetRoleArn": roleARN("target-extid")})
	e.associate(t, "hosted", "ns1", "target-tags", pod, map[string]any{"targetRoleArn": roleARN("target-tags")})
	// EKS checks the trust policy when the association is created; it is
	// changed (and a role deleted) afterwards.
	e.query(t, e.root, "iam", "UpdateAssumeRolePolicy", url.Values{"RoleName": {"no-service"}, "PolicyDocument": {trustAccountRoot}}, nil)
	e.query(t, e.root, "iam", "DeleteRole", url.Values{"RoleName": {"doomed"}}, nil)

	f.hostedToken = e.podToken(t, "hosted", "carts", "carts", "carts-7c9d8b6d4-x2x8p", "node-1", nil)
	return f
}

// token returns a hosted-cluster token for ns/sa.
func (f *fixture) token(t *testing.T, ns, sa string) string {
	return f.e.podToken(t, "hosted", ns, sa, sa+"-pod-0", "node-1", nil)
}

// extToken returns an ext token whose claims mod changes.
func (f *fixture) extToken(t *testing.T, mod func(c map[string]any)) string {
	c := f.ext.claims(f.e.clock.Now(), "carts", "carts", "carts-ext-pod", "node-1")
	if mod != nil {
		mod(c)
	}
	return f.ext.sign(t, c)
}

// Messages of EKS Auth's own refusals.
const (
	msgInvalid    = "The specified Kubernetes service account token is invalid."
	msgExpired    = "The specified Kubernetes service account token is expired."
	msgNotJWT     = "The token must be a JSON Web Token of three base64url segments, at most 16384 bytes long."
	msgNoCluster  = "No cluster found for name: "
	msgBadCluster = "The cluster name is not valid: it must be 1-100 characters, start with an alphanumeric character and contain only alphanumerics, hyphens and underscores."
)

// TestRefusalMatrix drives the whole service (SigV4 edge, authorization,
// token verification, association lookup, STS trust evaluation) with one
// refused request per row and checks the exact error: HTTP status, code
// (x-amzn-ErrorType and __type) and message. Each refusal is audited.
func TestRefusalMatrix(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	e := f.e
	now := e.clock.Now()
	hostedTok := f.hostedToken
	parts := strings.Split(hostedTok, ".")
	b64 := func(v any) string {
		b, _ := json.Marshal(v)
		return base64.RawURLEncoding.EncodeToString(b)
	}
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	pubDER, _ := x509.MarshalPKIXPublicKey(&f.ext.key.PublicKey)
	tagAssoc := func(sa string) string { return f.token(t, "ns1", sa) }
	// The first session's ARN, as the target role's refusal names it.
	firstSession := func(sa string) string {
		pod := sa + "-pod-0"
		return "^User: " + regexp.QuoteMeta("arn:aws:sts::123456789012:assumed-role/pod-role/eks-hosted-"+pod[:10]+"-") + `[0-9a-f-]{36} is not authorized to perform: sts:AssumeRole on resource: ` + regexp.QuoteMeta(roleARN(sa)) + "$"
	}

	type row struct {
		name    string
		creds   aws.Credentials
		cluster string
		token   string // used unless body is set
		body    string
		method  string
		status  int
		code    string
		msg     string // exact message, or a regexp when it starts with ^
	}
	rows := []row{
		// Token: signature and keys.
		{name: "wrong signature", cluster: "hosted", token: parts[0] + "." + parts[1] + "." + flip(parts[2]), status: 400, code: "InvalidTokenException", msg: msgInvalid},
		{name: "payload altered after signing", cluster: "hosted", token: parts[0] + "." + b64(map[string]any{"sub": "system:serviceaccount:kube-system:admin"}) + "." + parts[2], status: 400, code: "InvalidTokenException", msg: msgInvalid},
		{name: "token of another hosted cluster", cluster: "hosted2", token: hostedTok, status: 400, code: "InvalidTokenException", msg: msgInvalid},
		{name: "key of another external cluster", cluster: "ext", token: f.ext2.sign(t, f.ext.claims(now, "carts", "carts", "p", "")), status: 400, code: "InvalidTokenException", msg: msgInvalid},
		{name: "right key, unknown kid", cluster: "ext", token: signJWT(t, jose.RS256, f.ext.key, "unknown-kid", f.ext.claims(now, "carts", "carts", "p", "")), status: 400, code: "InvalidTokenException", msg: msgInvalid},
		{name: "unknown key with the cluster's kid", cluster: "ext", token: signJWT(t, jose.RS256, f.ext2.key, f.ext.kid, f.ext.claims(now, "carts", "carts", "p", "")), status: 400, code: "InvalidTokenException", msg: msgInvalid},
		{name: "ES256 with an unknown key", cluster: "ext", token: signJWT(t, jose.ES256, ecKey, f.ext.kid, f.ext.claims(now, "carts", "carts", "p", "")), status: 400, code: "InvalidTokenException", msg: msgInvalid},
		{name: "alg none", cluster: "ext", token: b64(map[string]string{"alg": "none", "typ": "JWT"}) + "." + b64(f.ext.claims(now, "carts", "carts", "p", "")) + ".AA", status: 400, code: "InvalidTokenException", msg: msgInvalid},
		{name: "alg HS256 keyed with the public key", cluster: "ext", token: signJWT(t, jose.HS256, pubDER, f.ext.kid, f.ext.claims(now, "carts", "carts", "p", "")), status: 400, code: "InvalidTokenException", msg: msgInvalid},
		{name: "two segments (no signature)", cluster: "ext", token: parts[0] + "." + parts[1], status: 400, code: "InvalidParameterException", msg: msgNotJWT},

		// Token: issuer, audience, claims.
		{name: "wrong issuer", cluster: "ext", token: f.extToken(t, func(c map[string]any) { c["iss"] = "https://evil.example" }), status: 400, code: "InvalidTokenException", msg: msgInvalid},
		{name: "issuer of the other cluster", cluster: "ext", token: f.extToken(t, func(c map[string]any) { c["iss"] = f.ext2.url }), status: 400, code: "InvalidTokenException", msg: msgInvalid},
		{name: "wrong audience", cluster: "hosted", token: e.podToken(t, "hosted", "carts", "carts", "carts-0", "", map[string]any{"audiences": []string{"sts.amazonaws.com"}}), status: 400, code: "InvalidTokenException", msg: msgInvalid},
		{name: "no audience", cluster: "ext", token: f.extToken(t, func(c map[string]any) { delete(c, "aud") }), status: 400, code: "InvalidTokenException", msg: msgInvalid},
		{name: "audience list containing pods.eks.amazonaws.com", cluster: "ext", token: f.extToken(t, func(c map[string]any) {
			c["aud"] = []string{"https://kubernetes.default.svc", "pods.eks.amazonaws.com"}
		}), status: 200},
		{name: "missing pod claim", cluster: "ext", token: f.extToken(t, func(c map[string]any) { delete(c["kubernetes.io"].(map[string]any), "pod") }), status: 400, code: "InvalidTokenException", msg: msgInvalid},
		{name: "missing pod uid", cluster: "ext", token: f.extToken(t, func(c map[string]any) {
			c["kubernetes.io"].(map[string]any)["pod"] = map[string]any{"name": "p"}
		}), status: 400, code: "InvalidTokenException", msg: msgInvalid},
		{name: "missing namespace claim", cluster: "ext", token: f.extToken(t, func(c map[string]any) { delete(c["kubernetes.io"].(map[string]any), "namespace") }), status: 400, code: "InvalidTokenException", msg: msgInvalid},
		{name: "missing service account claim", cluster: "ext", token: f.extToken(t, func(c map[string]any) { delete(c["kubernetes.io"].(map[string]any), "serviceaccount") }), status: 400, code: "InvalidTokenException", msg: msgInvalid},
		{name: "no kubernetes.io claims (legacy token)", cluster: "ext", token: f.extToken(t, func(c map[string]any) { delete(c, "kubernetes.io") }), status: 400, code: "InvalidTokenException", msg: msgInvalid},
		{name: "sub names another service account", cluster: "ext", token: f.extToken(t, func(c map[string]any) { c["sub"] = "system:serviceaccount:kube-system:admin" }), status: 400, code: "InvalidTokenException", msg: msgInvalid},

		// Token: validity window (leeway 60 s).
		{name: "expired", cluster: "ext", token: f.extToken(t, func(c map[string]any) {
			c["exp"], c["iat"], c["nbf"] = now.Add(-time.Hour).Unix(), now.Add(-2*time.Hour).Unix(), now.Add(-2*time.Hour).Unix()
		}), status: 400, code: "ExpiredTokenException", msg: msgExpired},
		{name: "expired 61 s ago (beyond the leeway)", cluster: "ext", token: f.extToken(t, func(c map[string]any) { c["exp"] = now.Add(-61 * time.Second).Unix() }), status: 400, code: "ExpiredTokenException", msg: msgExpired},
		{name: "expired 30 s ago (within the leeway)", cluster: "ext", token: f.extToken(t, func(c map[string]any) { c["exp"] = now.Add(-30 * time.Second).Unix() }), status: 200},
		{name: "not yet valid", cluster: "ext", token: f.extToken(t, func(c map[string]any) {
			c["nbf"], c["iat"] = now.Add(10*time.Minute).Unix(), now.Add(10*time.Minute).Unix()
		}), status: 400, code: "ExpiredTokenException", msg: msgExpired},
		{name: "issued in the future", cluster: "ext", token: f.extToken(t, func(c map[string]any) { c["iat"] = now.Add(10 * time.Minute).Unix() }), status: 400, code: "ExpiredTokenException", msg: msgExpired},
		{name: "no exp claim", cluster: "ext", token: f.extToken(t, func(c map[string]any) { delete(c, "exp") }), status: 400, code: "InvalidTokenException", msg: msgInvalid},

		// Request shape.
		{name: "oversized token", cluster: "hosted", token: parts[0] + "." + strings.Repeat("A", 16<<10) + "." + parts[2], status: 400, code: "InvalidParameterException", msg: msgNotJWT},
		{name: "not a JWT", cluster: "hosted", token: "hello", status: 400, code: "InvalidParameterException", msg: msgNotJWT},
		{name: "token with a trailing newline", cluster: "hosted", token: hostedTok + "\n", status: 400, code: "InvalidParameterException", msg: msgNotJWT},
		{name: "empty token", cluster: "hosted", token: "", status: 400, code: "InvalidParameterException", msg: msgNotJWT},
		{name: "no token member", cluster: "hosted", body: `{}`, status: 400, code: "InvalidParameterException", msg: "The token parameter is required."},
		{name: "token is not a string", cluster: "hosted", body: `{"token":42}`, status: 400, code: "InvalidParameterException", msg: "The request body must be a JSON object whose token member is a string."},
		{name: "body is not JSON", cluster: "hosted", body: `token=abc`, status: 400, code: "InvalidParameterException", msg: "The request body must be a JSON object whose token member is a string."},
		{name: "invalid cluster name", cluster: "-bad", token: hostedTok, status: 400, code: "InvalidParameterException", msg: msgBadCluster},
		{name: "cluster name too long", cluster: strings.Repeat("c", 101), token: hostedTok, status: 400, code: "InvalidParameterException", msg: msgBadCluster},
		{name: "GET instead of POST", cluster: "hosted", token: hostedTok, method: http.MethodGet, status: 405, code: "UnknownOperationException", msg: "AssumeRoleForPodIdentity requires POST."},

		// Cluster and association.
		{name: "unknown cluster", cluster: "nope", token: hostedTok, status: 404, code: "ResourceNotFoundException", msg: msgNoCluster + "nope."},
		{name: "no association", cluster: "hosted", token: f.token(t, "carts", "orders"), status: 404, code: "ResourceNotFoundException", msg: "No Pod Identity Association found for cluster hosted, namespace carts and service account orders."},
		{name: "issuer over plain http", cluster: "plain-http", token: hostedTok, status: 503, code: "ServiceUnavailableException", msg: "The signing keys of cluster plain-http could not be fetched. Try again later."},

		// Trust policies (first hop, as pods.eks.amazonaws.com).
		{name: "trust policy without the service principal", cluster: "hosted", token: tagAssoc("no-service"), status: 400, code: "AccessDeniedException", msg: "User: pods.eks.amazonaws.com is not authorized to perform: sts:AssumeRole on resource: " + roleARN("no-service")},
		{name: "trust policy without sts:TagSession, tags on", cluster: "hosted", token: tagAssoc("no-tagsession"), status: 400, code: "AccessDeniedException", msg: "User: pods.eks.amazonaws.com is not authorized to perform: sts:TagSession on resource: " + roleARN("no-tagsession")},
		{name: "trust condition on aws:RequestTag/kubernetes-namespace", cluster: "hosted", token: tagAssoc("cond"), status: 400, code: "AccessDeniedException", msg: "User: pods.eks.amazonaws.com is not authorized to perform: sts:AssumeRole on resource: " + roleARN("cond")},
		{name: "trust condition on aws:SourceArn of another cluster", cluster: "hosted", token: tagAssoc("source-arn"), status: 400, code: "AccessDeniedException", msg: "User: pods.eks.amazonaws.com is not authorized to perform: sts:AssumeRole on resource: " + roleARN("source-arn")},
		{name: "role deleted after the association", cluster: "hosted", token: tagAssoc("doomed"), status: 400, code: "AccessDeniedException", msg: "User: pods.eks.amazonaws.com is not authorized to perform: sts:AssumeRole on resource: " + roleARN("doomed")},

		// Target roles (second hop, from the first session).
		{name: "target role does not trust the first role", cluster: "hosted", token: tagAssoc("target-untrusting"), status: 400, code: "AccessDeniedException", msg: firstSession("target-untrusting")},
		{name: "target role wants another externalId", cluster: "hosted", token: tagAssoc("target-extid"), status: 400, code: "AccessDeniedException", msg: firstSession("target-extid")},
		{name: "target trust condition on a transitive tag", cluster: "hosted", token: tagAssoc("target-tags"), status: 400, code: "AccessDeniedException", msg: firstSession("target-tags")},

		// Callers.
		{name: "caller without eks-auth permission", creds: f.nobody, cluster: "hosted", token: hostedTok, status: 400, code: "AccessDeniedException", msg: "User: arn:aws:iam::123456789012:user/nobody is not authorized to perform: eks-auth:AssumeRoleForPodIdentity on resource: " + clusterARN("hosted") + " because no identity-based policy allows the eks-auth:AssumeRoleForPodIdentity action"},
		{name: "caller without permission, unknown cluster", creds: f.nobody, cluster: "nope", token: hostedTok, status: 400, code: "AccessDeniedException", msg: "User: arn:aws:iam::123456789012:user/nobody is not authorized to perform: eks-auth:AssumeRoleForPodIdentity on resource: " + clusterARN("nope") + " because no identity-based policy allows the eks-auth:AssumeRoleForPodIdentity action"},
		{name: "caller allowed on team=blue, cluster team=red", creds: f.blueOnly, cluster: "ext", token: f.extToken(t, nil), status: 400, code: "AccessDeniedException", msg: "User: arn:aws:iam::123456789012:user/blue-only is not authorized to perform: eks-auth:AssumeRoleForPodIdentity on resource: " + clusterARN("ext") + " because no identity-based policy allows the eks-auth:AssumeRoleForPodIdentity action"},
		{name: "caller allowed on team=blue, cluster team=blue", creds: f.blueOnly, cluster: "hosted", token: hostedTok, status: 200},
		{name: "agent bound to node-1, token of node-2", creds: f.nodeAgent, cluster: "hosted", token: e.podToken(t, "hosted", "carts", "carts", "carts-n2", "node-2", nil), status: 400, code: "AccessDeniedException", msg: "The calling agent runs on node node-1, but the token belongs to a pod on another node."},
		{name: "agent bound to node-1, token of node-1", creds: f.nodeAgent, cluster: "hosted", token: hostedTok, status: 200},
		{name: "agent bound to node-1, token without a node claim", creds: f.nodeAgent, cluster: "hosted", token: e.podToken(t, "hosted", "carts", "carts", "carts-nonode", "", nil), status: 400, code: "AccessDeniedException", msg: "The calling agent runs on node node-1, but the token names no node."},
	}
	refusals, issued := 0, 0
	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			creds := r.creds
			if creds.AccessKeyID == "" {
				creds = f.agent
			}
			body := []byte(r.body)
			if r.body == "" {
				body, _ = json.Marshal(map[string]string{"token": r.token})
			}
			method := r.method
			if method == "" {
				method = http.MethodPost
			}
			resp := e.send(t, creds, "eks-auth", method, "/clusters/"+url.PathEscape(r.cluster)+"/assume-role-for-pod-identity", "application/json", body)
			if resp.Status != r.status {
				t.Fatalf("HTTP %d, want %d: %s", resp.Status, r.status, resp.Body)
			}
			if r.status == http.StatusOK {
				var o output
				if err := json.Unmarshal(resp.Body, &o); err != nil || o.Credentials.AccessKeyID == "" {
					t.Fatalf("not an output: %v %s", err, resp.Body)
				}
				return
			}
			code, msg := resp.errCode()
			var body2 struct {
				Type string `json:"__type"`
			}
			json.Unmarshal(resp.Body, &body2)
			if code != r.code || body2.Type != r.code {
				t.Errorf("code = %q (header) %q (body), want %q; body %s", code, body2.Type, r.code, resp.Body)
			}
			if strings.HasPrefix(r.msg, "^") {
				if !regexp.MustCompile(r.msg).MatchString(msg) {
					t.Errorf("message = %q, want match of %s", msg, r.msg)
				}
			} else if msg != r.msg {
				t.Errorf("message = %q\nwant      %q", msg, r.msg)
			}
			if resp.Status >= 500 && r.code != "ServiceUnavailableException" {
				t.Errorf("a client mistake answered %d", resp.Status)
			}
		})
		switch {
		case r.method != "":
			// Not an exchange: refused by routing, not audited.
		case r.status == http.StatusOK:
			issued++
		default:
			refusals++
		}
	}
	if refusals < 30 {
		t.Errorf("the matrix has %d refusals, want at least 30", refusals)
	}
	// Every exchange, issued or refused, is audited: one record per
	// issuance, identical refusals counted into one record.
	recs := e.auditRecords(t, refusals+issued)
	got := map[string]int{}
	for _, r := range recs {
		if r.Kind == eksauth.AuditKind {
			got[r.Decision] += r.Count
		}
	}
	if got[eksauth.DecisionRefused] != refusals || got[eksauth.DecisionIssued] != issued {
		t.Errorf("audit records: %v, want %d refused and %d issued", got, refusals, issued)
	}
}

// flip changes the first character of a base64url segment.
func flip(seg string) string {
	c := byte('A')
	if seg[0] == 'A' {
		c = 'B'
	}
	return string(c) + seg[1:]
}
