package broker

import (
	"context"
	"errors"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	ststypes "github.com/aws/aws-sdk-go-v2/service/sts/types"

	"github.com/podid/podid/internal/awsproto"
	"github.com/podid/podid/internal/eksauth"
)

// TestAssumeAsServiceRequest: the first hop's AssumeRole carries EKS's
// session name, the six tags as transitive tags, the source identity, and
// the duration; the answer maps to eksauth.Credentials.
func TestAssumeAsServiceRequest(t *testing.T) {
	e := newEnv(t)
	in := firstInput("carts-7d9f8-x2v4q", "6f0c3a1e-5b7d-4c2a-9e8f-0a1b2c3d4e5f")
	got, err := e.b.AssumeAsService(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	calls := e.fake.assumeCalls()
	if len(calls) != 1 {
		t.Fatalf("%d AssumeRole calls", len(calls))
	}
	req := calls[0].in
	var tags [][2]string
	for _, tg := range req.Tags {
		tags = append(tags, [2]string{aws.ToString(tg.Key), aws.ToString(tg.Value)})
	}
	wantTags := [][2]string{{"eks-cluster-arn", cluster}, {"eks-cluster-name", "eks-workshop"}, {"kubernetes-namespace", "carts"},
		{"kubernetes-service-account", "carts"}, {"kubernetes-pod-name", "carts-7d9f8-x2v4q"}, {"kubernetes-pod-uid", "6f0c3a1e-5b7d-4c2a-9e8f-0a1b2c3d4e5f"}}
	if aws.ToString(req.RoleArn) != roleA || aws.ToString(req.RoleSessionName) != in.SessionName || aws.ToInt32(req.DurationSeconds) != 21600 ||
		!reflect.DeepEqual(tags, wantTags) || !reflect.DeepEqual(req.TransitiveTagKeys, in.TransitiveTagKeys) ||
		aws.ToString(req.SourceIdentity) != "carts.carts@eks-workshop" || req.Policy != nil || req.ExternalId != nil {
		t.Errorf("AssumeRole input = %+v tags %v", req, tags)
	}
	if calls[0].creds.AccessKeyID != "" {
		t.Errorf("first hop used explicit credentials %q; want the default chain", calls[0].creds.AccessKeyID)
	}
	want := &eksauth.Credentials{AccessKeyID: "ASIAFAKE000000000001", SecretAccessKey: "secret-1", SessionToken: "token-1",
		Expiration: t0.Add(6 * time.Hour), AssumedRoleARN: "arn:aws:sts::" + acct + ":assumed-role/carts/" + in.SessionName, AssumedRoleID: "AROAFAKEFAKEFAKEFAKE:" + in.SessionName}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("credentials = %+v\nwant %+v", got, want)
	}

	// Session tags disabled: no tags, no source identity, the policy.
	e2 := newEnv(t)
	in2 := &eksauth.AssumeInput{RoleARN: roleA, SessionName: "eks-x-y-1", Duration: time.Hour, Policy: `{"Version":"2012-10-17","Statement":[]}`, SourceARN: cluster}
	if _, err := e2.b.AssumeAsService(context.Background(), in2); err != nil {
		t.Fatal(err)
	}
	req = e2.fake.assumeCalls()[0].in
	if req.Tags != nil || req.TransitiveTagKeys != nil || req.SourceIdentity != nil || aws.ToString(req.Policy) != in2.Policy || aws.ToInt32(req.DurationSeconds) != 3600 {
		t.Errorf("untagged AssumeRole input = %+v", req)
	}
}

// TestAssumeFromSession: the second hop is signed with the first
// session's credentials, passes the external ID and policy, stays within
// the one-hour chaining limit and leaves the source identity to STS.
func TestAssumeFromSession(t *testing.T) {
	e := newEnv(t)
	first, err := e.b.AssumeAsService(context.Background(), firstInput("p", "u1"))
	if err != nil {
		t.Fatal(err)
	}
	second := &eksauth.AssumeInput{RoleARN: roleB, SessionName: "eks-s", Duration: 2 * time.Hour, ExternalID: "ext-1", Policy: `{"Statement":[]}`, SourceARN: cluster}
	got, err := e.b.AssumeFromSession(context.Background(), first, second)
	if err != nil {
		t.Fatal(err)
	}
	c := e.fake.assumeCalls()[1]
	if c.creds.AccessKeyID != first.AccessKeyID || c.creds.SecretAccessKey != first.SecretAccessKey || c.creds.SessionToken != first.SessionToken {
		t.Errorf("second hop signed with %+v, want the first session", c.creds)
	}
	if aws.ToString(c.in.RoleArn) != roleB || aws.ToString(c.in.ExternalId) != "ext-1" || aws.ToString(c.in.Policy) != second.Policy ||
		aws.ToInt32(c.in.DurationSeconds) != 3600 || c.in.SourceIdentity != nil || c.in.Tags != nil {
		t.Errorf("second hop input = %+v", c.in)
	}
	if got.AccessKeyID != "ASIAFAKE000000000002" || !strings.Contains(got.AssumedRoleARN, ":assumed-role/carts-target/eks-s") {
		t.Errorf("second hop credentials = %+v", got)
	}
	if _, err := e.b.AssumeFromSession(context.Background(), nil, second); err == nil {
		t.Error("AssumeFromSession without a first session succeeded")
	}
}

// TestCache: the same (association, pod) gets the same credentials while
// they are young and far from expiry; other pods and stale entries call
// STS again.
func TestCache(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.ReuseWindow = 10 * time.Minute; c.ExpiryMargin = 5 * time.Minute })
	ctx := context.Background()
	get := func(pod, uid string) string {
		t.Helper()
		in := firstInput(pod, uid)
		in.SessionName = "eks-" + pod + "-" + e.clock.Now().Format("150405") // a new UUID each time
		c, err := e.b.AssumeAsService(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		return c.AccessKeyID
	}
	k1 := get("p1", "u1")
	if k := get("p1", "u1"); k != k1 {
		t.Errorf("same pod: %s then %s", k1, k)
	}
	if k := get("p2", "u2"); k == k1 {
		t.Error("another pod got the first pod's credentials")
	}
	e.clock.Advance(10 * time.Minute)
	k3 := get("p1", "u1")
	if k3 == k1 {
		t.Error("credentials reused past the reuse window")
	}
	// A role whose sessions last 15 minutes: reused only while more than
	// the margin is left.
	e.fake.assume = nil
	short := firstInput("p3", "u3")
	short.Duration = 15 * time.Minute
	c1, _ := e.b.AssumeAsService(ctx, short)
	e.clock.Advance(9*time.Minute + 59*time.Second)
	c2, _ := e.b.AssumeAsService(ctx, short)
	e.clock.Advance(2 * time.Second)
	c3, _ := e.b.AssumeAsService(ctx, short)
	if c1.AccessKeyID != c2.AccessKeyID || c3.AccessKeyID == c2.AccessKeyID {
		t.Errorf("short sessions: %s %s %s", c1.AccessKeyID, c2.AccessKeyID, c3.AccessKeyID)
	}
	if n := len(e.fake.assumeCalls()); n != 5 {
		t.Errorf("%d STS calls, want 5", n)
	}
	if hits := counterValue(e.b.m.cache.WithLabelValues("hit")); hits != 2 {
		t.Errorf("cache hits = %v, want 2", hits)
	}
	// Returned credentials are copies.
	c2.AccessKeyID = "mutated"
	if c, _ := e.b.cache.get(firstHopKey(short, SourceIdentity(subjectOf(short))), e.clock.Now()); c != nil && c.AccessKeyID == "mutated" {
		t.Error("a caller's change reached the cache")
	}
}

// TestSingleFlight: concurrent requests of one pod make one STS call and
// all get its credentials; a caller that gives up does not fail the rest.
func TestSingleFlight(t *testing.T) {
	e := newEnv(t)
	e.fake.block = make(chan struct{})
	e.fake.entered = make(chan struct{}, 1)
	in := firstInput("p", "u")
	const n = 20
	var wg sync.WaitGroup
	keys := make([]string, n)
	errs := make([]error, n)
	wg.Add(1)
	go func() {
		defer wg.Done()
		c, err := e.b.AssumeAsService(context.Background(), in)
		errs[0] = err
		if err == nil {
			keys[0] = c.AccessKeyID
		}
	}()
	<-e.fake.entered
	// A caller that gives up while the call is in flight.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := e.b.AssumeAsService(ctx, in); !errors.Is(err, context.Canceled) {
		t.Errorf("canceled caller: %v", err)
	}
	for i := 1; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := e.b.AssumeAsService(context.Background(), in)
			errs[i] = err
			if err == nil {
				keys[i] = c.AccessKeyID
			}
		}()
	}
	close(e.fake.block)
	wg.Wait()
	for i := range n {
		if errs[i] != nil || keys[i] != "ASIAFAKE000000000001" {
			t.Errorf("caller %d: %q %v", i, keys[i], errs[i])
		}
	}
	if c := len(e.fake.assumeCalls()); c != 1 {
		t.Errorf("%d STS calls, want 1", c)
	}
}

// TestMaxSessionDuration: a role that refuses EKS's six hours gets its own
// MaxSessionDuration (read with GetRole, else one hour), learned once.
func TestMaxSessionDuration(t *testing.T) {
	for _, tc := range []struct {
		name    string
		roleMax int32 // 0: GetRole fails
		want    int32
	}{
		{"role max read", 7200, 7200},
		{"role unreadable", 0, 3600},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			limit := tc.roleMax
			if limit == 0 {
				limit = 3600
			} else {
				e.fake.addRole("carts", `{}`, tc.roleMax)
			}
			e.fake.assume = func(_ int, in *sts.AssumeRoleInput) error {
				if aws.ToInt32(in.DurationSeconds) > limit {
					return awsErr(400, "ValidationError", "The requested DurationSeconds exceeds the MaxSessionDuration set for this role.")
				}
				return nil
			}
			c, err := e.b.AssumeAsService(context.Background(), firstInput("p", "u"))
			if err != nil {
				t.Fatal(err)
			}
			if want := t0.Add(time.Duration(tc.want) * time.Second); !c.Expiration.Equal(want) {
				t.Errorf("expiration %v, want %v", c.Expiration, want)
			}
			if _, err := e.b.AssumeAsService(context.Background(), firstInput("q", "v")); err != nil {
				t.Fatal(err)
			}
			var durs []int32
			for _, c := range e.fake.assumeCalls() {
				durs = append(durs, aws.ToInt32(c.in.DurationSeconds))
			}
			if want := []int32{21600, tc.want, tc.want}; !reflect.DeepEqual(durs, want) {
				t.Errorf("durations %v, want %v", durs, want)
			}
		})
	}
}

// TestThrottling: throttled calls wait with growing backoff, every caller
// waits behind the shared gate, and a call still throttled after
// MaxAttempts answers Throttling (EKS Auth's 429).
func TestThrottling(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.BaseBackoff = 100 * time.Millisecond; c.MaxBackoff = time.Second; c.MaxAttempts = 4 })
	e.fake.assume = func(n int, _ *sts.AssumeRoleInput) error {
		if n <= 2 {
			return awsErr(400, "Throttling", "Rate exceeded")
		}
		return nil
	}
	if _, err := e.b.AssumeAsService(context.Background(), firstInput("p", "u")); err != nil {
		t.Fatal(err)
	}
	if len(e.sl.d) != 2 || e.sl.d[0] < 50*time.Millisecond || e.sl.d[0] > 100*time.Millisecond || e.sl.d[1] < 100*time.Millisecond || e.sl.d[1] > 200*time.Millisecond {
		t.Errorf("waits %v, want one in [50ms,100ms] then one in [100ms,200ms]", e.sl.d)
	}
	if got := counterValue(e.b.m.calls.WithLabelValues("AssumeRole", "throttled")); got != 2 {
		t.Errorf("throttled calls = %v", got)
	}
	if got := counterValue(e.b.m.retries.WithLabelValues("AssumeRole", "throttled")); got != 2 {
		t.Errorf("retries = %v", got)
	}
	if got := counterValue(e.b.m.calls.WithLabelValues("AssumeRole", "ok")); got != 1 {
		t.Errorf("ok calls = %v", got)
	}

	e.fake.assume = func(int, *sts.AssumeRoleInput) error { return awsErr(400, "Throttling", "Rate exceeded") }
	_, err := e.b.AssumeAsService(context.Background(), firstInput("q", "v"))
	var ae *awsproto.Error
	if !errors.As(err, &ae) || ae.Code != "Throttling" || ae.Status != 400 || ae.Message != "AWS throttled the broker while it assumed role "+roleA+"; try again later." {
		t.Fatalf("err = %#v", err)
	}
	if n := len(e.fake.assumeCalls()); n != 3+4 {
		t.Errorf("%d calls, want 7", n)
	}
	// A call whose deadline ends before the gate opens gives up at once.
	e.b.gate.throttled(e.clock.Now(), time.Minute, time.Minute)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err = e.b.AssumeAsService(ctx, firstInput("r", "w"))
	if !errors.As(err, &ae) || ae.Code != "Throttling" {
		t.Errorf("deadline err = %v", err)
	}
	if n := len(e.fake.assumeCalls()); n != 7 {
		t.Errorf("%d calls after the deadline case, want 7", n)
	}
}

// TestServerErrorRetry: a 5xx or network failure is retried with backoff;
// after MaxAttempts the pod sees ServiceUnavailable without detail.
func TestServerErrorRetry(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.MaxAttempts = 3 })
	e.fake.assume = func(n int, _ *sts.AssumeRoleInput) error {
		if n == 1 {
			return awsErr(500, "InternalFailure", "oops")
		}
		if n == 2 {
			return errors.New("dial tcp: connection refused")
		}
		return nil
	}
	if _, err := e.b.AssumeAsService(context.Background(), firstInput("p", "u")); err != nil {
		t.Fatal(err)
	}
	e.fake.assume = func(int, *sts.AssumeRoleInput) error { return awsErr(503, "ServiceUnavailable", "busy") }
	_, err := e.b.AssumeAsService(context.Background(), firstInput("q", "v"))
	var ae *awsproto.Error
	if !errors.As(err, &ae) || ae.Status != http.StatusServiceUnavailable || ae.Message != "AWS STS is unavailable." {
		t.Errorf("err = %#v", err)
	}
	if n := len(e.fake.assumeCalls()); n != 6 {
		t.Errorf("%d calls, want 6", n)
	}
}

// TestRefusals: each STS refusal becomes the error EKS Auth maps, with a
// message that names the cause, read from the role's trust policy when
// the broker can read it.
func TestRefusals(t *testing.T) {
	denied := func(action string) error {
		return awsErr(403, "AccessDenied", "User: "+brokerARN+" is not authorized to perform: "+action+" on resource: "+roleA)
	}
	const (
		trustFull  = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"` + brokerARN + `"},"Action":["sts:AssumeRole","sts:TagSession","sts:SetSourceIdentity"],"Condition":{"StringEquals":{"aws:RequestTag/kubernetes-namespace":"carts"}}}]}`
		trustNoTag = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"` + brokerARN + `"},"Action":["sts:AssumeRole","sts:SetSourceIdentity"]}]}`
		trustOther = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"pods.eks.amazonaws.com"},"Action":["sts:AssumeRole","sts:TagSession"]}]}`
		trustNS    = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"` + brokerARN + `"},"Action":["sts:AssumeRole","sts:TagSession","sts:SetSourceIdentity"],"Condition":{"StringEquals":{"aws:RequestTag/kubernetes-namespace":"orders"}}}]}`
		trustDeny  = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"` + brokerARN + `"},"Action":"sts:*"},{"Sid":"NoSI","Effect":"Deny","Principal":"*","Action":"sts:SetSourceIdentity"}]}`
	)
	prefix := "The broker could not assume role " + roleA + ": "
	for _, tc := range []struct {
		name     string
		err      error
		trust    string // "": the role does not exist; "-": GetRole is denied
		code     string
		status   int
		message  string
		getRoles int
	}{
		{"no TagSession in trust", denied("sts:TagSession"), trustNoTag, "AccessDenied", 403,
			prefix + "its trust policy does not allow " + brokerARN + " to perform sts:TagSession (session tags need sts:TagSession; allow it, or set disableSessionTags on the association).", 1},
		{"broker not trusted", denied("sts:AssumeRole"), trustOther, "AccessDenied", 403,
			prefix + "its trust policy does not name " + brokerARN + " as a principal.", 1},
		{"condition unmet", denied("sts:AssumeRole"), trustNS, "AccessDenied", 403,
			prefix + `its trust policy allows ` + brokerARN + ` to perform sts:AssumeRole only under the condition StringEquals on aws:RequestTag/kubernetes-namespace, and this request carries "carts".`, 1},
		{"explicit deny", denied("sts:SetSourceIdentity"), trustDeny, "AccessDenied", 403,
			prefix + `a Deny statement ("NoSI") of its trust policy refuses ` + brokerARN + ` to sts:SetSourceIdentity (the broker sets a source identity on every session; allow sts:SetSourceIdentity).`, 1},
		{"trust allows, identity does not", denied("sts:AssumeRole"), trustFull, "AccessDenied", 403,
			prefix + "its trust policy allows it, but AWS refused " + brokerARN + " sts:AssumeRole on it: " + brokerARN + "'s identity-based policies (or a permissions boundary or SCP) must allow sts:AssumeRole on the role.", 1},
		{"role missing", denied("sts:AssumeRole"), "", "AccessDenied", 403,
			prefix + "the role does not exist in account " + acct + ".", 1},
		{"role unreadable, TagSession", denied("sts:TagSession"), "-", "AccessDenied", 403,
			prefix + "its trust policy does not allow " + brokerARN + " to perform sts:TagSession (session tags need sts:TagSession; allow it, or set disableSessionTags on the association).", 1},
		{"role unreadable, AssumeRole", denied("sts:AssumeRole"), "-", "AccessDenied", 403,
			prefix + "the role does not exist, or its trust policy does not allow " + brokerARN + " to perform sts:AssumeRole.", 1},
		{"packed too large", awsErr(400, "PackedPolicyTooLarge", "Packed policy consumes 112% of allotted space, please use smaller policy for this request."), trustFull, "PackedPolicyTooLarge", 400,
			prefix + "AWS found its session tags and session policy too large (Packed policy consumes 112% of allotted space, please use smaller policy for this request.). Set disableSessionTags on the association or shorten its policy.", 0},
		{"malformed session policy", awsErr(400, "MalformedPolicyDocument", "Syntax errors in policy."), trustFull, "MalformedPolicyDocument", 400,
			prefix + "AWS refused the association's session policy: Syntax errors in policy.", 0},
		{"region disabled", awsErr(403, "RegionDisabledException", "STS is not activated in this region for account:210987654321."), trustFull, "AccessDenied", 403,
			prefix + "STS is not activated in region us-west-2 for the role's account (STS is not activated in this region for account:210987654321.).", 0},
		{"validation", awsErr(400, "ValidationError", "1 validation error detected: Value at 'roleSessionName' failed."), trustFull, "ValidationError", 400,
			prefix + "1 validation error detected: Value at 'roleSessionName' failed.", 0},
		{"broker credentials refused", awsErr(403, "InvalidClientTokenId", "The security token included in the request is invalid."), trustFull, "ServiceUnavailable", 503,
			"AWS refused the broker's own credentials.", 0},
		{"other code", awsErr(400, "InvalidParameterValue", "bad"), trustFull, "ValidationError", 400, prefix + "bad", 0},
		{"unknown code", awsErr(400, "Weird", "strange"), trustFull, "Weird", 400, prefix + "strange", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			switch tc.trust {
			case "":
			case "-":
				e.fake.roleFn = func(string) error { return awsErr(403, "AccessDenied", "not allowed to iam:GetRole") }
			default:
				e.fake.addRole("carts", tc.trust, 43200)
			}
			e.fake.assume = func(int, *sts.AssumeRoleInput) error { return tc.err }
			_, err := e.b.AssumeAsService(context.Background(), firstInput("p", "u"))
			var ae *awsproto.Error
			if !errors.As(err, &ae) {
				t.Fatalf("err = %v, want *awsproto.Error", err)
			}
			if ae.Code != tc.code || ae.Status != tc.status || ae.Message != tc.message {
				t.Errorf("got %s %d %q\nwant %s %d %q", ae.Code, ae.Status, ae.Message, tc.code, tc.status, tc.message)
			}
			if strings.Contains(ae.Message, "secret") || strings.Contains(ae.Message, "token-") {
				t.Errorf("message leaks a secret: %s", ae.Message)
			}
			if n := len(e.fake.getRole); n != tc.getRoles {
				t.Errorf("%d GetRole calls, want %d", n, tc.getRoles)
			}
		})
	}
}

// TestSecondHopRefusal: a target role's refusal is explained with the
// tags and source identity the first session carries into the chain.
func TestSecondHopRefusal(t *testing.T) {
	e := newEnv(t)
	first, err := e.b.AssumeAsService(context.Background(), firstInput("p", "u"))
	if err != nil {
		t.Fatal(err)
	}
	e.fake.addRole("carts-target", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"`+roleA+`"},"Action":["sts:AssumeRole","sts:TagSession","sts:SetSourceIdentity"],"Condition":{"StringEquals":{"sts:ExternalId":"right","aws:RequestTag/kubernetes-namespace":"carts"}}}]}`, 3600)
	e.fake.assume = func(int, *sts.AssumeRoleInput) error {
		return awsErr(403, "AccessDenied", "User: arn:aws:sts::"+acct+":assumed-role/carts/eks-x is not authorized to perform: sts:AssumeRole on resource: "+roleB)
	}
	_, err = e.b.AssumeFromSession(context.Background(), first, &eksauth.AssumeInput{RoleARN: roleB, SessionName: "eks-x", Duration: time.Hour, ExternalID: "wrong", SourceARN: cluster})
	var ae *awsproto.Error
	want := "The broker could not assume role " + roleB + `: its trust policy allows ` + roleA + ` to perform sts:AssumeRole only under the condition StringEquals on sts:ExternalId, and this request carries "wrong".`
	if !errors.As(err, &ae) || ae.Message != want {
		t.Errorf("err = %v\nwant %s", err, want)
	}
}

// TestIdentity: the broker's principal is its user, or the role (with its
// path, read from IAM) behind an assumed-role session; STS is asked once.
func TestIdentity(t *testing.T) {
	for _, tc := range []struct {
		caller, roleInIAM, want string
	}{
		{brokerARN, "", brokerARN},
		{"arn:aws:iam::" + acct + ":root", "", "arn:aws:iam::" + acct + ":root"},
		{"arn:aws:sts::" + acct + ":assumed-role/podid-broker/i-0abc", "", "arn:aws:iam::" + acct + ":role/podid-broker"},
		{"arn:aws:sts::" + acct + ":assumed-role/podid-broker/i-0abc", "podid-broker", "arn:aws:iam::" + acct + ":role/system/podid-broker"},
	} {
		e := newEnv(t)
		e.fake.caller = tc.caller
		if tc.roleInIAM != "" {
			e.fake.addRole(tc.roleInIAM, "{}", 3600)
			r := e.fake.roles[tc.roleInIAM]
			r.Arn = aws.String("arn:aws:iam::" + acct + ":role/system/podid-broker")
			e.fake.roles[tc.roleInIAM] = r
		}
		for range 2 {
			id, err := e.b.Identity(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if id.PrincipalARN != tc.want || id.CallerARN != tc.caller || id.Account != acct {
				t.Errorf("%s: identity %+v, want principal %s", tc.caller, id, tc.want)
			}
		}
		if e.fake.idCalls != 1 {
			t.Errorf("%s: %d GetCallerIdentity calls", tc.caller, e.fake.idCalls)
		}
	}
}

// TestCheckRole: the best-effort validation of an association's role.
func TestCheckRole(t *testing.T) {
	trusted := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"` + brokerARN + `"},"Action":["sts:AssumeRole","sts:TagSession"],"Condition":{"StringEquals":{"aws:RequestTag/kubernetes-namespace":"x"}}}]}`
	account := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"` + acct + `"},"Action":"sts:AssumeRole"}]}`
	for _, tc := range []struct {
		name, role, trust string
		getRoleErr        error
		want              string
		getRoles          int
	}{
		{"trusted with conditions", roleA, trusted, nil, "", 1},
		{"account trusted", roleA, account, nil, "", 1},
		{"not trusted", roleA, `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"pods.eks.amazonaws.com"},"Action":"sts:AssumeRole"}]}`, nil,
			"Trust policy of the role provided does not allow the broker's principal " + brokerARN + " to perform sts:AssumeRole; `podid trust-policy --role " + roleA + "` prints the trust policy it needs.", 1},
		{"TagSession only", roleA, `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"` + brokerARN + `"},"Action":"sts:TagSession"}]}`, nil,
			"Trust policy of the role provided does not allow the broker's principal " + brokerARN + " to perform sts:AssumeRole; `podid trust-policy --role " + roleA + "` prints the trust policy it needs.", 1},
		{"missing", "arn:aws:iam::" + acct + ":role/nope", "", nil, "Role provided in the request does not exist in AWS account " + acct + " (the broker looked it up with iam:GetRole).", 1},
		{"path differs", "arn:aws:iam::" + acct + ":role/team/carts", trusted, nil, "Role provided in the request does not exist in AWS account " + acct + " (the broker looked it up with iam:GetRole).", 1},
		{"other account", "arn:aws:iam::111122223333:role/carts", "", nil, "", 0},
		{"unreadable", roleA, "", awsErr(403, "AccessDenied", "no"), "", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			if tc.trust != "" {
				e.fake.addRole("carts", tc.trust, 3600)
			}
			if tc.getRoleErr != nil {
				e.fake.roleFn = func(string) error { return tc.getRoleErr }
			}
			err := e.b.CheckRole(context.Background(), tc.role)
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tc.want {
				t.Errorf("CheckRole = %q\nwant %q", got, tc.want)
			}
			if len(e.fake.getRole) != tc.getRoles {
				t.Errorf("%d GetRole calls, want %d", len(e.fake.getRole), tc.getRoles)
			}
		})
	}
}

// TestNewConfig: New validates endpoints and needs a region; it makes no
// AWS call.
func TestNewConfig(t *testing.T) {
	ac := aws.Config{Credentials: aws.AnonymousCredentials{}}
	if _, err := New(context.Background(), Config{AWS: &ac}); err == nil || !strings.Contains(err.Error(), "no AWS region") {
		t.Errorf("no region: %v", err)
	}
	if _, err := New(context.Background(), Config{AWS: &ac, FallbackRegion: "us-west-2", STSEndpoint: "ftp://x"}); err == nil {
		t.Error("ftp endpoint accepted")
	}
	b, err := New(context.Background(), Config{AWS: &ac, FallbackRegion: "eu-west-1", STSEndpoint: "http://127.0.0.1:1"})
	if err != nil || b.Region() != "eu-west-1" || b.STSEndpoint() != "http://127.0.0.1:1" {
		t.Errorf("New = %v, %v", b, err)
	}
}

// TestCredsOf: an answer without credentials is an error, not a panic.
func TestCredsOf(t *testing.T) {
	for _, out := range []*sts.AssumeRoleOutput{nil, {}, {Credentials: &ststypes.Credentials{}}, {Credentials: &ststypes.Credentials{Expiration: &t0}}} {
		if _, err := credsOf(out); err == nil {
			t.Errorf("credsOf(%+v) succeeded", out)
		}
	}
}

// TestRefusalReadsRoleOnce: refusals of one role read its trust policy at
// most once per diagTTL, however many pods are refused.
func TestRefusalReadsRoleOnce(t *testing.T) {
	e := newEnv(t)
	e.fake.addRole("carts", `{"Version":"2012-10-17","Statement":[]}`, 3600)
	e.fake.assume = func(int, *sts.AssumeRoleInput) error {
		return awsErr(403, "AccessDenied", "User: "+brokerARN+" is not authorized to perform: sts:AssumeRole on resource: "+roleA)
	}
	for i := range 5 {
		if _, err := e.b.AssumeAsService(context.Background(), firstInput("p", string(rune('a'+i)))); err == nil {
			t.Fatal("refused role issued credentials")
		}
	}
	if n := len(e.fake.getRole); n != 1 {
		t.Errorf("%d GetRole calls for 5 refusals, want 1", n)
	}
	e.clock.Advance(diagTTL)
	e.b.AssumeAsService(context.Background(), firstInput("p", "z"))
	if n := len(e.fake.getRole); n != 2 {
		t.Errorf("%d GetRole calls after diagTTL, want 2", n)
	}
}
