package eks

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/podid/podid/internal/auth"
)

func TestFormatEpoch(t *testing.T) {
	for _, tc := range []struct {
		in   time.Time
		want string
	}{
		{time.Unix(946684800, 0), "946684800"},
		{time.UnixMilli(1704816998163), "1704816998.163"},
		{time.UnixMilli(1704816998100), "1704816998.1"},
		{time.UnixMilli(1704816998010), "1704816998.01"},
		{time.UnixMilli(1704816998001), "1704816998.001"},
		{time.Unix(1704816998, 999_999_999), "1704816998.999"}, // truncated to milliseconds
		{time.UnixMilli(-1500), "-1.5"},
	} {
		if got := FormatEpoch(tc.in); got != tc.want {
			t.Errorf("FormatEpoch(%v) = %s, want %s", tc.in, got, tc.want)
		}
		var back Time
		if err := back.UnmarshalJSON([]byte(tc.want)); err != nil || !back.Equal(tc.in.Truncate(time.Millisecond)) {
			t.Errorf("UnmarshalJSON(%s) = %v, %v", tc.want, back, err)
		}
	}
}

// fuzzEnv is one service shared by the fuzz iterations.
func fuzzEnv(f *testing.F) *env {
	e := newEnv(f, func(c *Config) { c.SkipRoleValidation = true; c.FeedHeartbeat = 10 * time.Millisecond })
	e.hostedCluster("c1")
	if _, err := e.svc.CreatePodIdentityAssociation(rootCtx(), &CreatePodIdentityAssociationInput{ClusterName: "c1", Namespace: "ns", ServiceAccount: "sa", RoleArn: "arn:aws:iam::123456789000:role/r"}); err != nil {
		f.Fatal(err)
	}
	return e
}

// FuzzServeHTTP sends arbitrary requests to the EKS handler: it must never
// panic, never answer a client's input with a 5xx, and answer every error
// with a restJson1 error whose header and body agree.
func FuzzServeHTTP(f *testing.F) {
	e := fuzzEnv(f)
	seeds := []struct{ method, path, body string }{
		{"POST", "/clusters/c1/pod-identity-associations", `{"namespace":"ns","serviceAccount":"x","roleArn":"arn:aws:iam::123456789000:role/r","tags":{"a":"b"}}`},
		{"GET", "/clusters/c1/pod-identity-associations?maxResults=1&nextToken=abc", ""},
		{"POST", "/clusters/c1/pod-identity-associations/a-aaaaaaaaaaaaaaaaa", `{"roleArn":null,"policy":"{}"}`},
		{"DELETE", "/tags/arn%3Aaws%3Aeks%3Aus-west-2%3A123456789000%3Apodidentityassociation%2Fc1%2Fa-aaaaaaaaaaaaaaaaa?tagKeys=a", ""},
		{"POST", "/tags/arn:aws:eks:us-west-2:123456789000:cluster/c1", `{"tags":{"k":"v"}}`},
		{"POST", "/clusters", `{"name":"x","roleArn":"arn:aws:iam::123456789000:role/r","resourcesVpcConfig":{}}`},
		{"POST", "/cluster-registrations", `{"name":"y","oidcIssuerUrl":"https://i","jwks":"{\"keys\":[]}"}`},
		{"POST", "/clusters/c1/addons", `{"addonName":"eks-pod-identity-agent","configurationValues":"{}"}`},
		{"GET", "/addons/supported-versions?kubernetesVersion=1.31&types=security", ""},
		{"GET", "/clusters/c1/updates?addonName=eks-pod-identity-agent&maxResults=1&nextToken=abc", ""},
		{"GET", "/clusters/c1/updates/5a1e6a2c-0d6f-4c61-9a43-0ad0e0e0e0e0?addonName=eks-pod-identity-agent&nodegroupName=x", ""},
		{"POST", "/podid/v1/clusters/c1/tokens", `{"namespace":"a","serviceAccount":"b","podName":"c","audiences":["x"]}`},
		{"GET", "/podid/v1/clusters/c1/association-events?after=0", ""},
		{"GET", "/clusters/c1/oidc/keys", ""},
		{"PATCH", "/%2F%2F/..", "[]"},
		{"POST", "/clusters/c1/pod-identity-associations", `{"namespace":"ns"}{}`},
	}
	for _, s := range seeds {
		f.Add(s.method, s.path, s.body)
	}
	f.Fuzz(func(t *testing.T, method, path, body string) {
		if !strings.HasPrefix(path, "/") {
			path = "/" + path
		}
		req, err := http.NewRequest(method, "http://podid.test"+path, strings.NewReader(body))
		if err != nil {
			return // not a request a client could send
		}
		// Streams (the change feed) end with the context.
		timeout := 10 * time.Second
		if strings.Contains(path, "association-events") {
			timeout = 100 * time.Millisecond
		}
		ctx, cancel := context.WithTimeout(auth.WithPrincipal(req.Context(), rootPrincipal()), timeout)
		defer cancel()
		rec := httptest.NewRecorder()
		e.svc.ServeHTTP(rec, req.WithContext(ctx))
		if rec.Code >= 500 || rec.Code >= 300 && rec.Code < 400 {
			// 3xx: a ServeMux redirect, never an EKS answer.
			t.Fatalf("%s %s %q: %d %s", method, path, body, rec.Code, rec.Body.String())
		}
		if rec.Code >= 400 && !strings.Contains(path, "/oidc/") {
			var e struct {
				Type    string `json:"__type"`
				Message string `json:"message"`
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Type == "" || e.Type != rec.Header().Get("x-amzn-ErrorType") {
				t.Fatalf("%s %s: error body %q, header %q", method, path, rec.Body.String(), rec.Header().Get("x-amzn-ErrorType"))
			}
		}
	})
}

func rootPrincipal() *auth.Principal {
	return &auth.Principal{Type: auth.Root, AccountID: testAccount, ARN: "arn:aws:iam::" + testAccount + ":root"}
}

// FuzzPageToken: decoding never panics, and a token decodes back to what
// it was made from only under the same scope. Inputs longer than any
// listing can produce (see maxPageTokenLen) are only checked for panics.
func FuzzPageToken(f *testing.F) {
	f.Add("a-aaaaaaaaaaaaaaaaa", "c1", "ns", "sa", "ns")
	f.Add("x", "", "", "", "other")
	f.Add("\x00", "c\x00", "", "", "")
	f.Fuzz(func(t *testing.T, after, cluster, ns, sa, otherNS string) {
		if len(after)+len(cluster)+len(ns)+len(sa)+len(otherNS) > 2*maxPageTokenLen {
			return // far past the decoder's length check; keeps the fuzzer on inputs that matter
		}
		tok := encodePageToken(after, "pia", cluster, ns, sa)
		got, err := decodePageToken("c", tok, "pia", cluster, ns, sa)
		clean := after != "" && !strings.Contains(after+cluster+ns+sa, "\x00") && len(tok) <= maxPageTokenLen
		if clean && (err != nil || got != after) {
			t.Fatalf("round trip: %q %v", got, err)
		}
		if clean && otherNS != ns {
			if _, err := decodePageToken("c", tok, "pia", cluster, otherNS, sa); err == nil {
				t.Fatal("token accepted for another listing")
			}
		}
		_, _ = decodePageToken("c", after, "pia", cluster, ns, sa)
	})
}

// FuzzResourceARN: parsing arbitrary tag-resource ARNs never panics and
// only yields the three taggable kinds with valid cluster names.
func FuzzResourceARN(f *testing.F) {
	e := &Service{cfg: Config{Region: testRegion, AccountID: testAccount}}
	for _, s := range []string{
		"arn:aws:eks:us-west-2:123456789000:podidentityassociation/c1/a-aaaaaaaaaaaaaaaaa",
		"arn:aws:eks:us-west-2:123456789000:cluster/c1",
		"arn:aws:eks:us-west-2:123456789000:addon/c1/eks-pod-identity-agent/9ec6cfbd-8c9f-7ff4-fd26-640dda75bcea",
		"arn:aws::123456789000:podidentityassociation/eks-workshop/a-abcdefghijklmnop1",
		"arn:aws:eks:us-west-2:123456789000:nodegroup/c1/ng/x", ":::::", "",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, arn string) {
		r, err := e.parseResourceARN(arn)
		if err != nil {
			return
		}
		switch r.kind {
		case "cluster", "addon", "podidentityassociation":
		default:
			t.Fatalf("kind %q", r.kind)
		}
		if !validClusterName(r.cluster) {
			t.Fatalf("cluster %q", r.cluster)
		}
	})
}
