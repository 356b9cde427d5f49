package broker

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	ststypes "github.com/aws/aws-sdk-go-v2/service/sts/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/podid/podid/internal/eksauth"
	"github.com/podid/podid/internal/testclock"
)

const (
	acct      = "210987654321"
	brokerARN = "arn:aws:iam::" + acct + ":user/podid-broker"
	roleA     = "arn:aws:iam::" + acct + ":role/carts"
	roleB     = "arn:aws:iam::" + acct + ":role/carts-target"
	cluster   = "arn:aws:eks:us-west-2:123456789012:cluster/eks-workshop"
)

var t0 = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)

// awsErr is an SDK-shaped AWS error with an HTTP status.
func awsErr(status int, code, msg string) error {
	return &awshttp.ResponseError{
		ResponseError: &smithyhttp.ResponseError{
			Response: &smithyhttp.Response{Response: &http.Response{StatusCode: status}},
			Err:      &smithy.GenericAPIError{Code: code, Message: msg},
		},
	}
}

// call is one AssumeRole the fake received.
type call struct {
	in    *sts.AssumeRoleInput
	creds aws.Credentials // the credentials of an explicit provider (chaining)
}

// fakeAWS scripts STS and IAM.
type fakeAWS struct {
	mu      sync.Mutex
	calls   []call
	getRole []string
	idCalls int
	n       int
	// assume answers a call (nil: success).
	assume func(n int, in *sts.AssumeRoleInput) error
	// block, when set, is waited on inside AssumeRole.
	block   chan struct{}
	entered chan struct{}
	// roles maps role names to their trust policy and max duration.
	roles  map[string]iamtypes.Role
	roleFn func(name string) error
	caller string
	now    func() time.Time
}

func newFake(c *testclock.Clock) *fakeAWS {
	return &fakeAWS{caller: brokerARN, roles: map[string]iamtypes.Role{}, now: c.Now}
}

func (f *fakeAWS) AssumeRole(ctx context.Context, in *sts.AssumeRoleInput, optFns ...func(*sts.Options)) (*sts.AssumeRoleOutput, error) {
	var o sts.Options
	for _, fn := range optFns {
		fn(&o)
	}
	c := call{in: in}
	if o.Credentials != nil {
		c.creds, _ = o.Credentials.Retrieve(ctx)
	}
	f.mu.Lock()
	f.calls = append(f.calls, c)
	f.n++
	n := f.n
	assume, block, entered := f.assume, f.block, f.entered
	f.mu.Unlock()
	if entered != nil {
		entered <- struct{}{}
	}
	if block != nil {
		select {
		case <-block:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if assume != nil {
		if err := assume(n, in); err != nil {
			return nil, err
		}
	}
	name := aws.ToString(in.RoleArn)[strings.LastIndexByte(aws.ToString(in.RoleArn), '/')+1:]
	exp := f.now().Add(time.Duration(aws.ToInt32(in.DurationSeconds)) * time.Second)
	return &sts.AssumeRoleOutput{
		Credentials: &ststypes.Credentials{
			AccessKeyId:     aws.String(fmt.Sprintf("ASIAFAKE%012d", n)),
			SecretAccessKey: aws.String(fmt.Sprintf("secret-%d", n)),
			SessionToken:    aws.String(fmt.Sprintf("token-%d", n)),
			Expiration:      &exp,
		},
		AssumedRoleUser: &ststypes.AssumedRoleUser{
			Arn:           aws.String("arn:aws:sts::" + acct + ":assumed-role/" + name + "/" + aws.ToString(in.RoleSessionName)),
			AssumedRoleId: aws.String("AROAFAKEFAKEFAKEFAKE:" + aws.ToString(in.RoleSessionName)),
		},
		SourceIdentity: in.SourceIdentity,
	}, nil
}

func (f *fakeAWS) GetCallerIdentity(ctx context.Context, in *sts.GetCallerIdentityInput, optFns ...func(*sts.Options)) (*sts.GetCallerIdentityOutput, error) {
	f.mu.Lock()
	f.idCalls++
	f.mu.Unlock()
	parts := strings.Split(f.caller, ":")
	return &sts.GetCallerIdentityOutput{Arn: aws.String(f.caller), Account: aws.String(parts[4]), UserId: aws.String("AIDAFAKE")}, nil
}

func (f *fakeAWS) GetRole(ctx context.Context, in *iam.GetRoleInput, optFns ...func(*iam.Options)) (*iam.GetRoleOutput, error) {
	name := aws.ToString(in.RoleName)
	f.mu.Lock()
	f.getRole = append(f.getRole, name)
	roleFn := f.roleFn
	r, ok := f.roles[name]
	f.mu.Unlock()
	if roleFn != nil {
		if err := roleFn(name); err != nil {
			return nil, err
		}
	}
	if !ok {
		return nil, awsErr(404, "NoSuchEntity", "The role with name "+name+" cannot be found.")
	}
	return &iam.GetRoleOutput{Role: &r}, nil
}

// addRole puts a role in the fake IAM.
func (f *fakeAWS) addRole(name, trust string, maxDur int32) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.roles[name] = iamtypes.Role{
		Arn: aws.String("arn:aws:iam::" + acct + ":role/" + name), RoleName: aws.String(name),
		AssumeRolePolicyDocument: aws.String(encodeDoc(trust)), MaxSessionDuration: aws.Int32(maxDur),
	}
}

// encodeDoc URL-encodes a document as IAM returns it.
func encodeDoc(doc string) string {
	var b strings.Builder
	for i := 0; i < len(doc); i++ {
		c := doc[i]
		if 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || strings.IndexByte("-_.~", c) >= 0 {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

func (f *fakeAWS) assumeCalls() []call {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]call(nil), f.calls...)
}

// sleeps records the broker's waits instead of sleeping.
type sleeps struct {
	mu sync.Mutex
	d  []time.Duration
	c  *testclock.Clock
}

func (s *sleeps) Sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	s.d = append(s.d, d)
	s.mu.Unlock()
	s.c.Advance(d)
	return ctx.Err()
}

// env is a broker over a fake AWS.
type env struct {
	b     *Broker
	fake  *fakeAWS
	clock *testclock.Clock
	sl    *sleeps
	reg   *prometheus.Registry
}

func newEnv(t testing.TB, mod ...func(*Config)) *env {
	t.Helper()
	c := testclock.New(t0)
	e := &env{fake: newFake(c), clock: c, sl: &sleeps{c: c}, reg: prometheus.NewRegistry()}
	cfg := Config{Now: c.Now, Sleep: e.sl.Sleep, Registerer: e.reg, Region: "us-west-2"}
	for _, m := range mod {
		m(&cfg)
	}
	e.b = newBroker(cfg, e.fake, e.fake)
	return e
}

// firstInput is the first hop EKS Auth asks for a pod.
func firstInput(pod, uid string) *eksauth.AssumeInput {
	return &eksauth.AssumeInput{
		RoleARN:     roleA,
		SessionName: "eks-eks-worksh-" + pod + "-00000000-0000-4000-8000-000000000001",
		Duration:    6 * time.Hour,
		Tags: []eksauth.Tag{
			{Key: "eks-cluster-arn", Value: cluster}, {Key: "eks-cluster-name", Value: "eks-workshop"},
			{Key: "kubernetes-namespace", Value: "carts"}, {Key: "kubernetes-service-account", Value: "carts"},
			{Key: "kubernetes-pod-name", Value: pod}, {Key: "kubernetes-pod-uid", Value: uid},
		},
		TransitiveTagKeys: []string{"eks-cluster-arn", "eks-cluster-name", "kubernetes-namespace", "kubernetes-service-account", "kubernetes-pod-name", "kubernetes-pod-uid"},
		SourceARN:         cluster,
		SourceAccount:     "123456789012",
	}
}

// counterValue reads a counter.
func counterValue(c prometheus.Counter) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		return -1
	}
	return m.GetCounter().GetValue()
}
