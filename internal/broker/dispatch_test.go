package broker

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/podid/podid/internal/auth"
	"github.com/podid/podid/internal/auth/authtest"
	"github.com/podid/podid/internal/awsproto"
	"github.com/podid/podid/internal/eksauth"
	"github.com/podid/podid/internal/store"
	"github.com/podid/podid/internal/testclock"
)

// localIssuer is a stand-in for podid's own STS.
type localIssuer struct{ calls int }

func (l *localIssuer) AssumeAsService(ctx context.Context, in *eksauth.AssumeInput) (*eksauth.Credentials, error) {
	l.calls++
	return &eksauth.Credentials{AccessKeyID: "ASIALOCAL"}, nil
}

func (l *localIssuer) AssumeFromSession(ctx context.Context, from *eksauth.Credentials, in *eksauth.AssumeInput) (*eksauth.Credentials, error) {
	l.calls++
	return &eksauth.Credentials{AccessKeyID: "ASIALOCAL2"}, nil
}

// addCluster stores a cluster with tags.
func addCluster(t *testing.T, st store.Store, name string, tags map[string]string) {
	t.Helper()
	err := st.Update(context.Background(), func(tx store.Tx) error {
		return tx.CreateCluster(&store.Cluster{Name: name, ARN: "arn:aws:eks:us-west-2:123456789012:cluster/" + name, Kind: store.ClusterHosted, Status: "ACTIVE", Tags: tags, CreatedAt: t0})
	})
	if err != nil {
		t.Fatal(err)
	}
}

func clusterInput(name string) *eksauth.AssumeInput {
	in := firstInput("p", "u")
	in.SourceARN = "arn:aws:eks:us-west-2:123456789012:cluster/" + name
	return in
}

// TestDispatch: clusters choose their issuer by tag, else the default; a
// cluster cannot turn the broker on where the server runs none.
func TestDispatch(t *testing.T) {
	a := authtest.New(t)
	addCluster(t, a.Store, "plain", nil)
	addCluster(t, a.Store, "to-local", map[string]string{ClusterTag: "local"})
	addCluster(t, a.Store, "to-broker", map[string]string{ClusterTag: "aws-sts"})
	addCluster(t, a.Store, "bad", map[string]string{ClusterTag: "aws"})
	ctx := context.Background()
	for _, tc := range []struct {
		name, def string
		broker    bool
		cluster   string
		want      string // ASIA… key, or an error code
	}{
		{"default broker", IssuerAWSSTS, true, "plain", "ASIAFAKE000000000001"},
		{"default broker, cluster opts out", IssuerAWSSTS, true, "to-local", "ASIALOCAL"},
		{"default local", IssuerLocal, false, "plain", "ASIALOCAL"},
		{"empty default is local", "", false, "plain", "ASIALOCAL"},
		{"default local, cluster asks broker, none", IssuerLocal, false, "to-broker", "AccessDenied"},
		{"default local, broker available", IssuerLocal, true, "to-broker", "ASIAFAKE000000000001"},
		{"bad tag value", IssuerAWSSTS, true, "bad", "InvalidParameterValue"},
		{"unknown cluster", IssuerAWSSTS, true, "nope", "ASIAFAKE000000000001"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			local := &localIssuer{}
			d := &Dispatch{Local: local, Default: tc.def, Clusters: StoreClusters(a.Store, e.clock.Now)}
			if tc.broker {
				d.Broker = e.b
			}
			got, err := d.AssumeAsService(ctx, clusterInput(tc.cluster))
			key := ""
			if err == nil {
				key = got.AccessKeyID
			} else {
				var ae *awsproto.Error
				if !errors.As(err, &ae) {
					t.Fatalf("err = %v", err)
				}
				key = ae.Code
			}
			if key != tc.want {
				t.Errorf("issued %s, want %s (err %v)", key, tc.want, err)
			}
			if err == nil {
				second, err := d.AssumeFromSession(ctx, got, clusterInput(tc.cluster))
				if err != nil {
					t.Fatal(err)
				}
				if (got.AccessKeyID == "ASIALOCAL") != (second.AccessKeyID == "ASIALOCAL2") {
					t.Errorf("the hops went to different issuers: %s then %s", got.AccessKeyID, second.AccessKeyID)
				}
			}
			if ext := d.ExternalRoles(ctx, tc.cluster); ext != (key == "ASIAFAKE000000000001") {
				t.Errorf("ExternalRoles = %v", ext)
			}
		})
	}
}

// TestStoreClusters: tags are read from the store and kept briefly.
func TestStoreClusters(t *testing.T) {
	a := authtest.New(t)
	addCluster(t, a.Store, "c", map[string]string{ClusterTag: "local"})
	c := testclock.New(t0)
	sc := StoreClusters(a.Store, c.Now)
	ctx := context.Background()
	if tags, err := sc.ClusterTags(ctx, "c"); err != nil || tags[ClusterTag] != "local" {
		t.Fatalf("tags %v, %v", tags, err)
	}
	a.Store.Update(ctx, func(tx store.Tx) error { return tx.DeleteCluster("c") })
	if tags, _ := sc.ClusterTags(ctx, "c"); tags[ClusterTag] != "local" {
		t.Error("not cached")
	}
	c.Advance(3 * time.Second)
	if _, err := sc.ClusterTags(ctx, "c"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("after expiry: %v", err)
	}
}

// TestInfoHandler: GET /podid/v1/credential-issuer, signed and
// authorized, tells the issuer and the principal to trust.
func TestInfoHandler(t *testing.T) {
	a := authtest.New(t)
	addCluster(t, a.Store, "to-local", map[string]string{ClusterTag: "local"})
	e := newEnv(t, func(c *Config) { c.STSEndpoint = "https://sts.example" })
	d := &Dispatch{Local: &localIssuer{}, Broker: e.b, Default: IssuerAWSSTS, Clusters: StoreClusters(a.Store, e.clock.Now)}
	// Served as the server serves it: InfoPath on a ServeMux, every other
	// path elsewhere.
	h := http.NewServeMux()
	h.Handle(InfoPath, &InfoHandler{Dispatch: d, Authorizer: a.Authorizer})
	h.Handle("/", http.NotFoundHandler())
	alice := a.User(a.AddUser(t, "alice"))
	bob := a.User(a.AddUser(t, "bob"))
	a.PutInline(t, store.KindUser, "bob", "info", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"podid:DescribeCredentialIssuer","Resource":"*"}]}`)
	do := func(p *auth.Principal, method, target string) (int, map[string]any) {
		req := httptest.NewRequest(method, target, nil)
		if p != nil {
			req = req.WithContext(auth.WithPrincipal(req.Context(), p))
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		var m map[string]any
		json.Unmarshal(rec.Body.Bytes(), &m)
		return rec.Code, m
	}
	for _, tc := range []struct {
		name   string
		p      *auth.Principal
		method string
		target string
		status int
		want   map[string]any
	}{
		{"default", a.Root(), "GET", InfoPath, 200, map[string]any{"credentialIssuer": "aws-sts", "default": "aws-sts",
			"principal": map[string]any{"aws": brokerARN}, "callerArn": brokerARN, "account": acct, "region": "us-west-2", "stsEndpoint": "https://sts.example"}},
		{"local cluster", bob, "GET", InfoPath + "?cluster=to-local", 200, map[string]any{"credentialIssuer": "local", "default": "aws-sts", "cluster": "to-local",
			"principal": map[string]any{"service": "pods.eks.amazonaws.com"}}},
		{"not allowed", alice, "GET", InfoPath, 403, map[string]any{"__type": "AccessDeniedException",
			"message": "User: " + authtest.UserARN("alice") + " is not authorized to perform: podid:DescribeCredentialIssuer on resource: * because no identity-based policy allows the podid:DescribeCredentialIssuer action"}},
		{"unsigned", nil, "GET", InfoPath, 403, map[string]any{"__type": "AccessDeniedException", "message": "Request is missing Authentication Token"}},
		{"bad cluster", a.Root(), "GET", InfoPath + "?cluster=a/b", 400, map[string]any{"__type": "InvalidParameterException", "message": "The cluster name is not valid."}},
		{"post", a.Root(), "POST", InfoPath, 405, map[string]any{"__type": "UnknownOperationException", "message": InfoPath + " requires GET."}},
		{"other path", a.Root(), "GET", "/clusters", 404, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, got := do(tc.p, tc.method, tc.target)
			if status != tc.status {
				t.Errorf("status %d, want %d", status, tc.status)
			}
			if tc.want != nil && !jsonEqual(got, tc.want) {
				t.Errorf("body %v\nwant %v", got, tc.want)
			}
		})
	}
}

func jsonEqual(a, b map[string]any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}
