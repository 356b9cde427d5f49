package eksauth_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/podid/podid/internal/app"
	"github.com/podid/podid/internal/eksauth"
)

// podEnv is an app with a hosted cluster "hosted", the roles
// carts-reader and orders-reader (targets of iam:GetRole checks) and an
// agent allowed to call EKS Auth.
type podEnv struct {
	*env
	agent aws.Credentials
}

func newPodEnv(t *testing.T, mod func(*app.Config)) *podEnv {
	t.Helper()
	e := newEnv(t, mod)
	e.createRole(t, "cluster", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"eks.amazonaws.com"},"Action":"sts:AssumeRole"}]}`)
	e.createRole(t, "carts-reader", trustAccountRoot)
	e.createRole(t, "orders-reader", trustAccountRoot)
	e.createHostedCluster(t, "hosted", nil)
	return &podEnv{env: e, agent: e.createUser(t, "agent", allowEKSAuth)}
}

// getRole calls iam:GetRole with creds and returns the HTTP status and
// the error code, if any.
func (e *env) getRole(t *testing.T, creds aws.Credentials, name string) (int, string) {
	t.Helper()
	v := url.Values{"Action": {"GetRole"}, "Version": {"2010-05-08"}, "RoleName": {name}}
	r := e.send(t, creds, "iam", http.MethodPost, "/", "application/x-www-form-urlencoded; charset=utf-8", []byte(v.Encode()))
	code := ""
	if m := regexp.MustCompile(`<Code>([^<]*)</Code>`).FindSubmatch(r.Body); m != nil {
		code = string(m[1])
	}
	return r.Status, code
}

// callerARN is sts:GetCallerIdentity's Arn for creds.
func (e *env) callerARN(t *testing.T, creds aws.Credentials) string {
	t.Helper()
	var out struct {
		Arn string `xml:"GetCallerIdentityResult>Arn"`
	}
	e.query(t, creds, "sts", "GetCallerIdentity", nil, &out)
	return out.Arn
}

// canGetRole asserts which of carts-reader and orders-reader creds may read.
func (e *env) canGetRole(t *testing.T, creds aws.Credentials, carts, orders bool) {
	t.Helper()
	for name, want := range map[string]bool{"carts-reader": carts, "orders-reader": orders} {
		status, code := e.getRole(t, creds, name)
		switch {
		case want && status != http.StatusOK:
			t.Errorf("GetRole %s: HTTP %d %s, want allowed", name, status, code)
		case !want && (status != http.StatusForbidden || code != "AccessDenied"):
			t.Errorf("GetRole %s: HTTP %d %s, want 403 AccessDenied", name, status, code)
		}
	}
}

var uuidRE = `[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}`

// TestExchange is the whole exchange for a hosted cluster: every response
// member, the session name, the six-hour expiry as an epoch number, the
// STS identity of the credentials and a policy keyed on the
// kubernetes-namespace session tag.
func TestExchange(t *testing.T) {
	t.Parallel()
	e := newPodEnv(t, nil)
	pod := e.createRole(t, "pod-role", trustPods, getRoleByNamespace)
	assoc := e.associate(t, "hosted", "carts", "carts", pod, nil)
	tok := e.podToken(t, "hosted", "carts", "carts", "carts-7c9d8b6d4-x2x8p", "node-1", nil)

	r := e.exchange(t, e.agent, "hosted", tok)
	if r.Status != http.StatusOK || r.Header.Get("Content-Type") != "application/json" || r.Header.Get("x-amzn-RequestId") == "" {
		t.Fatalf("HTTP %d %v: %s", r.Status, r.Header, r.Body)
	}
	// Every member is present (the agent dereferences them unchecked).
	var raw map[string]map[string]any
	var audience struct {
		Audience string `json:"audience"`
	}
	json.Unmarshal(r.Body, &audience)
	d := json.NewDecoder(bytes.NewReader(r.Body))
	d.UseNumber()
	var generic map[string]any
	if err := d.Decode(&generic); err != nil {
		t.Fatal(err)
	}
	raw = map[string]map[string]any{}
	for k, v := range generic {
		if m, ok := v.(map[string]any); ok {
			raw[k] = m
		}
	}
	want := map[string][]string{
		"subject":                {"namespace", "serviceAccount"},
		"podIdentityAssociation": {"associationArn", "associationId"},
		"assumedRoleUser":        {"arn", "assumeRoleId"},
		"credentials":            {"sessionToken", "secretAccessKey", "accessKeyId", "expiration"},
	}
	for obj, members := range want {
		for _, m := range members {
			if v, ok := raw[obj][m]; !ok || v == "" {
				t.Errorf("%s.%s missing", obj, m)
			}
		}
	}
	exp, ok := raw["credentials"]["expiration"].(json.Number)
	if !ok {
		t.Fatalf("expiration is %T, want a JSON number", raw["credentials"]["expiration"])
	}
	if want := strconv.FormatInt(start.Add(6*time.Hour).Unix(), 10); string(exp) != want {
		t.Errorf("expiration = %s, want %s (six hours)", exp, want)
	}
	var o output
	json.Unmarshal(r.Body, &o)
	if audience.Audience != "pods.eks.amazonaws.com" || o.Subject.Namespace != "carts" || o.Subject.ServiceAccount != "carts" {
		t.Errorf("audience/subject = %q %+v", audience.Audience, o.Subject)
	}
	if o.PodIdentityAssociation.AssociationARN != assoc.ARN || o.PodIdentityAssociation.AssociationID != assoc.ID {
		t.Errorf("association = %+v, want %+v", o.PodIdentityAssociation, assoc)
	}
	// eks-CLUSTER-POD-UUID with cluster and pod truncated to 10 characters.
	sessRE := regexp.MustCompile(`^arn:aws:sts::123456789012:assumed-role/pod-role/(eks-hosted-carts-7c9d-` + uuidRE + `)$`)
	m := sessRE.FindStringSubmatch(o.AssumedRoleUser.ARN)
	if m == nil {
		t.Fatalf("assumedRoleUser.arn = %q", o.AssumedRoleUser.ARN)
	}
	if !regexp.MustCompile(`^AROA[A-Z0-9]{17}:` + regexp.QuoteMeta(m[1]) + `$`).MatchString(o.AssumedRoleUser.AssumeRoleID) {
		t.Errorf("assumeRoleId = %q", o.AssumedRoleUser.AssumeRoleID)
	}
	if !strings.HasPrefix(o.Credentials.AccessKeyID, "ASIA") {
		t.Errorf("accessKeyId = %q", o.Credentials.AccessKeyID)
	}
	creds := o.creds()
	if got := e.callerARN(t, creds); got != o.AssumedRoleUser.ARN {
		t.Errorf("GetCallerIdentity Arn = %q, want %q", got, o.AssumedRoleUser.ARN)
	}
	// ${aws:PrincipalTag/kubernetes-namespace} is the pod's namespace.
	e.canGetRole(t, creds, true, false)

	// A second exchange gets a new session name (random UUID).
	o2 := e.mustExchange(t, e.agent, "hosted", tok)
	if o2.AssumedRoleUser.ARN == o.AssumedRoleUser.ARN {
		t.Error("two exchanges share a session name")
	}
}

// TestTargetRole: the pod gets the target role's credentials, assumed
// from the first session with the association's externalId, the six
// transitive tags passed on (the target's trust and identity policies see
// them) and a one-hour lifetime.
func TestTargetRole(t *testing.T) {
	t.Parallel()
	e := newPodEnv(t, nil)
	pod := e.createRole(t, "pod-role", trustPods, allowAssumeAll)
	target := e.createRole(t, "target", trustFrom(pod, ""), getRoleByNamespace)
	assoc := e.associate(t, "hosted", "carts", "carts", pod, map[string]any{"targetRoleArn": target})
	if assoc.ExternalID != "us-west-2/123456789012/hosted/carts/carts" {
		t.Fatalf("externalId = %q, want AWS's REGION/ACCOUNT/CLUSTER/NAMESPACE/SERVICE-ACCOUNT", assoc.ExternalID)
	}
	// The target trust as AWS's user guide writes it, literally: the
	// account as principal, sts:AssumeRole and sts:TagSession, the
	// documented externalId, the pod's transitive tags and the first role.
	const guideTrust = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow",` +
		`"Principal":{"AWS":"arn:aws:iam::123456789012:root"},"Action":["sts:AssumeRole","sts:TagSession"],` +
		`"Condition":{"StringEquals":{"sts:ExternalId":"us-west-2/123456789012/hosted/carts/carts",` +
		`"aws:RequestTag/eks-cluster-arn":"arn:aws:eks:us-west-2:123456789012:cluster/hosted",` +
		`"aws:RequestTag/kubernetes-namespace":"carts","aws:RequestTag/kubernetes-service-account":"carts"},` +
		`"ArnEquals":{"aws:PrincipalARN":"arn:aws:iam::123456789012:role/pod-role"}}}]}`
	e.query(t, e.root, "iam", "UpdateAssumeRolePolicy", url.Values{"RoleName": {"target"}, "PolicyDocument": {guideTrust}}, nil)

	o := e.mustExchange(t, e.agent, "hosted", e.podToken(t, "hosted", "carts", "carts", "carts-0", "", nil))
	if !regexp.MustCompile(`^arn:aws:sts::123456789012:assumed-role/target/eks-hosted-carts-0-` + uuidRE + `$`).MatchString(o.AssumedRoleUser.ARN) {
		t.Errorf("assumedRoleUser.arn = %q, want the target session", o.AssumedRoleUser.ARN)
	}
	var exp int64
	json.Unmarshal(o.Credentials.Expiration, &exp)
	if want := start.Add(time.Hour).Unix(); exp != want {
		t.Errorf("expiration = %d, want %d (one hour)", exp, want)
	}
	creds := o.creds()
	if got := e.callerARN(t, creds); got != o.AssumedRoleUser.ARN {
		t.Errorf("GetCallerIdentity = %q", got)
	}
	e.canGetRole(t, creds, true, false)
	// The audit record names both roles and the target session's key.
	var issued map[string]any
	for _, rec := range e.auditRecords(t, 1) {
		if rec.Decision == "issued" {
			json.Unmarshal([]byte(rec.Fields), &issued)
		}
	}
	if issued["roleArn"] != pod || issued["targetRoleArn"] != target || issued["accessKeyId"] != o.Credentials.AccessKeyID {
		t.Errorf("audit record of the target-role exchange = %v", issued)
	}

	// Without the externalId condition met the target refuses.
	e.query(t, e.root, "iam", "UpdateAssumeRolePolicy", url.Values{"RoleName": {"target"}, "PolicyDocument": {trustFrom(pod, `{"StringEquals":{"sts:ExternalId":"other"}}`)}}, nil)
	r := e.exchange(t, e.agent, "hosted", e.podToken(t, "hosted", "carts", "carts", "carts-1", "", nil))
	if code, _ := r.errCode(); r.Status != 400 || code != "AccessDeniedException" {
		t.Errorf("wrong externalId: HTTP %d %s", r.Status, code)
	}
}

// TestTargetRoleSessionPolicy: with disableSessionTags and a policy, the
// policy restricts the target session only.
func TestTargetRoleSessionPolicy(t *testing.T) {
	t.Parallel()
	e := newPodEnv(t, nil)
	getAny := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iam:GetRole","Resource":"*"}]}`
	pod := e.createRole(t, "pod-role", trustPodsNoTag, allowAssumeAll, getAny)
	target := e.createRole(t, "target", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"`+pod+`"},"Action":"sts:AssumeRole"}]}`, getAny)
	policy := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iam:GetRole","Resource":"arn:aws:iam::123456789012:role/carts-*"}]}`
	e.associate(t, "hosted", "carts", "carts", pod, map[string]any{"targetRoleArn": target, "disableSessionTags": true, "policy": policy})
	o := e.mustExchange(t, e.agent, "hosted", e.podToken(t, "hosted", "carts", "carts", "carts-0", "", nil))
	if !strings.Contains(o.AssumedRoleUser.ARN, ":assumed-role/target/") {
		t.Errorf("arn = %q", o.AssumedRoleUser.ARN)
	}
	e.canGetRole(t, o.creds(), true, false)
}

// TestDisableSessionTags: no tags are sent, so a trust policy without
// sts:TagSession is enough, and ${aws:PrincipalTag/...} matches nothing;
// a session policy then narrows the role's permissions.
func TestDisableSessionTags(t *testing.T) {
	t.Parallel()
	e := newPodEnv(t, nil)
	e.createRole(t, "untagged", trustPodsNoTag, getRoleByNamespace)
	e.associate(t, "hosted", "carts", "carts", roleARN("untagged"), map[string]any{"disableSessionTags": true})
	o := e.mustExchange(t, e.agent, "hosted", e.podToken(t, "hosted", "carts", "carts", "carts-0", "", nil))
	e.canGetRole(t, o.creds(), false, false)

	e.createRole(t, "narrowed", trustPodsNoTag, `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iam:GetRole","Resource":"*"}]}`)
	e.associate(t, "hosted", "orders", "orders", roleARN("narrowed"), map[string]any{"disableSessionTags": true,
		"policy": `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iam:GetRole","Resource":"arn:aws:iam::123456789012:role/orders-*"}]}`})
	o = e.mustExchange(t, e.agent, "hosted", e.podToken(t, "hosted", "orders", "orders", "orders-0", "", nil))
	e.canGetRole(t, o.creds(), false, true)
}

// TestTokenLifetime moves the clock past a hosted-cluster token's expiry:
// accepted up to the 60-second leeway, ExpiredTokenException after.
func TestTokenLifetime(t *testing.T) {
	t.Parallel()
	e := newPodEnv(t, nil)
	e.associate(t, "hosted", "carts", "carts", e.createRole(t, "pod-role", trustPods), nil)
	tok := e.podToken(t, "hosted", "carts", "carts", "carts-0", "", map[string]any{"expirationSeconds": 600})
	e.clock.Advance(600*time.Second + 59*time.Second)
	e.mustExchange(t, e.agent, "hosted", tok)
	e.clock.Advance(2 * time.Second)
	r := e.exchange(t, e.agent, "hosted", tok)
	if code, msg := r.errCode(); r.Status != 400 || code != "ExpiredTokenException" || msg != msgExpired {
		t.Errorf("HTTP %d %s %q, want 400 ExpiredTokenException", r.Status, code, msg)
	}
}

// TestThrottlingAndDuration: a per-cluster limit of 1/s with burst 2, and
// a configured session duration of one hour.
func TestThrottlingAndDuration(t *testing.T) {
	t.Parallel()
	e := newPodEnv(t, func(c *app.Config) {
		c.EKSAuthRateLimit = 1
		c.PodSessionDuration = time.Hour
	})
	e.createHostedCluster(t, "other", nil)
	pod := e.createRole(t, "pod-role", trustPods)
	e.associate(t, "hosted", "carts", "carts", pod, nil)
	e.associate(t, "other", "carts", "carts", pod, nil)
	tok := e.podToken(t, "hosted", "carts", "carts", "carts-0", "", nil)
	o := e.mustExchange(t, e.agent, "hosted", tok)
	var exp int64
	json.Unmarshal(o.Credentials.Expiration, &exp)
	if want := start.Add(time.Hour).Unix(); exp != want {
		t.Errorf("expiration = %d, want %d", exp, want)
	}
	e.mustExchange(t, e.agent, "hosted", tok)
	r := e.exchange(t, e.agent, "hosted", tok)
	if code, msg := r.errCode(); r.Status != http.StatusTooManyRequests || code != "ThrottlingException" || msg != "Rate exceeded for cluster hosted." {
		t.Errorf("third call: HTTP %d %s %q", r.Status, code, msg)
	}
	// Other clusters have their own bucket.
	e.mustExchange(t, e.agent, "other", e.podToken(t, "other", "carts", "carts", "carts-0", "", nil))
	e.clock.Advance(time.Second)
	e.mustExchange(t, e.agent, "hosted", tok)
}

// TestAuditRecord checks the fields of an issuance and a refusal, and the
// JSON-lines export.
func TestAuditRecord(t *testing.T) {
	t.Parallel()
	e := newPodEnv(t, nil)
	pod := e.createRole(t, "pod-role", trustPods)
	assoc := e.associate(t, "hosted", "carts", "carts", pod, nil)
	o := e.mustExchange(t, e.agent, "hosted", e.podToken(t, "hosted", "carts", "carts", "carts-0", "node-1", nil))
	r := e.exchange(t, e.agent, "hosted", e.podToken(t, "hosted", "carts", "orders", "orders-0", "node-1", nil))
	if r.Status != 404 {
		t.Fatalf("HTTP %d", r.Status)
	}
	recs := e.auditRecords(t, 2)
	if len(recs) != 2 {
		t.Fatalf("%d audit records, want 2", len(recs))
	}
	session := o.AssumedRoleUser.ARN[strings.LastIndexByte(o.AssumedRoleUser.ARN, '/')+1:]
	wants := []map[string]any{{
		"kind": eksauth.AuditKind, "decision": "issued", "time": start.Format(time.RFC3339Nano),
		"cluster": "hosted", "namespace": "carts", "serviceAccount": "carts", "podName": "carts-0", "podUid": podUID("carts-0"), "node": "node-1",
		"associationId": assoc.ID, "roleArn": pod, "sessionName": session, "accessKeyId": o.Credentials.AccessKeyID,
		"expiration": start.Add(6 * time.Hour).Format(time.RFC3339), "caller": "arn:aws:iam::123456789012:user/agent", "sourceIp": "127.0.0.1",
	}, {
		"kind": eksauth.AuditKind, "decision": "refused", "time": start.Format(time.RFC3339Nano),
		"cluster": "hosted", "namespace": "carts", "serviceAccount": "orders", "podName": "orders-0", "podUid": podUID("orders-0"), "node": "node-1",
		"caller": "arn:aws:iam::123456789012:user/agent", "sourceIp": "127.0.0.1", "errorCode": "ResourceNotFoundException",
		"reason": "No Pod Identity Association found for cluster hosted, namespace carts and service account orders.",
	}}
	var buf bytes.Buffer
	n, err := eksauth.ExportJSONLines(context.Background(), e.app.Store, &buf, eksauth.ExportOptions{Kind: eksauth.AuditKind})
	if err != nil || n != 2 {
		t.Fatalf("export: %d, %v", n, err)
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	got := make([]map[string]any, len(lines))
	for i, l := range lines {
		if err := json.Unmarshal([]byte(l), &got[i]); err != nil {
			t.Fatalf("line %d: %v", i, err)
		}
	}
	// Records with equal times are ordered by ID; match by decision.
	if got[0]["decision"] != "issued" {
		got[0], got[1] = got[1], got[0]
	}
	for i, want := range wants {
		if id, _ := got[i]["id"].(string); len(id) != 32 {
			t.Errorf("record %d: id %q", i, id)
		}
		if rid, _ := got[i]["requestId"].(string); rid == "" {
			t.Errorf("record %d: no requestId", i)
		}
		delete(got[i], "id")
		delete(got[i], "requestId")
		for k, v := range want {
			if got[i][k] != v {
				t.Errorf("record %d: %s = %v, want %v", i, k, got[i][k], v)
			}
		}
		for k := range got[i] {
			if _, ok := want[k]; !ok {
				t.Errorf("record %d: unexpected field %s = %v", i, k, got[i][k])
			}
		}
	}
	// No secret reaches the audit trail.
	for _, rec := range recs {
		for _, secret := range []string{o.Credentials.SecretAccessKey, o.Credentials.SessionToken} {
			if strings.Contains(rec.Fields, secret) || strings.Contains(rec.Reason, secret) {
				t.Error("a secret is in an audit record")
			}
		}
	}
}

// TestLastCall: EKS Auth remembers when an authorized caller (a node
// agent, probes included) last asked for a cluster, which is how podid
// tells that an agent serves a cluster it cannot look into; callers not
// allowed on the cluster and unknown clusters leave no trace.
func TestLastCall(t *testing.T) {
	e := newEnv(t, nil)
	e.createRole(t, "cluster", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"eks.amazonaws.com"},"Action":"sts:AssumeRole"}]}`)
	e.createHostedCluster(t, "served", nil)
	e.createHostedCluster(t, "other", nil)
	agent := e.createUser(t, "agent", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"eks-auth:AssumeRoleForPodIdentity","Resource":"arn:aws:eks:us-west-2:`+acct+`:cluster/served"}]}`)
	const probe = "cG9kaWQ.cmVhZGluZXNz.cHJvYmU" // the agent's readiness probe
	if _, ok := e.app.EKSAuth.LastCall("served"); ok {
		t.Fatal("a call recorded before any")
	}
	if r := e.exchange(t, agent, "served", probe); r.Status != 400 {
		t.Fatalf("probe: HTTP %d %s", r.Status, r.Body)
	}
	if at, ok := e.app.EKSAuth.LastCall("served"); !ok || !at.Equal(e.clock.Now()) {
		t.Errorf("LastCall(served) = %v, %v; want the probe's time %v", at, ok, e.clock.Now())
	}
	if r := e.exchange(t, agent, "other", probe); r.Status != 400 || !strings.Contains(string(r.Body), `"AccessDeniedException"`) {
		t.Fatalf("unauthorized: HTTP %d %s", r.Status, r.Body)
	}
	if r := e.exchange(t, e.root, "nope", probe); r.Status != 404 {
		t.Fatalf("unknown cluster: HTTP %d %s", r.Status, r.Body)
	}
	for _, c := range []string{"other", "nope"} {
		if _, ok := e.app.EKSAuth.LastCall(c); ok {
			t.Errorf("LastCall(%s) recorded", c)
		}
	}
}
