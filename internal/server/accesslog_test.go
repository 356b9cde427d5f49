package server

import (
	"encoding/json"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/podid/podid/internal/awsproto"
)

// TestAccessLog: with the access log on, each API request gets one JSON
// line with its request ID, caller, bounded service and operation, status
// and latency, and nothing secret (no Authorization header, signature,
// secret key or body); with it off, none.
func TestAccessLog(t *testing.T) {
	for _, on := range []bool{true, false} {
		f := &hostileFixture{reg: prometheus.NewRegistry()}
		f.iam, f.sts, f.eks, f.eksAuth = &recorder{name: "iam"}, &recorder{name: "sts"}, &recorder{name: "eks"}, &recorder{name: "eks-auth"}
		e := New(Config{
			Verifier: &awsproto.Verifier{Lookup: lookup{}},
			Services: testServices("ListRoles"),
			Region:   "us-west-2", Metrics: NewMetrics(f.reg), AccessLog: on,
			Logger: slog.New(slog.NewJSONHandler(f, &slog.HandlerOptions{Level: slog.LevelInfo})),
		})
		f.srv = httptest.NewServer(e)
		f.do(t, "iam", "POST", "/", form, "Action=ListRoles&Version=2010-05-08&Secret=body-secret")
		f.do(t, "eks", "GET", "/clusters/c", "", "")
		f.do(t, "", "POST", "/", form, "Action=MadeUp"+strings.Repeat("x", 1000))
		f.srv.Close()
		logs := f.logText()
		if !on {
			if logs != "" {
				t.Errorf("access log off, yet:\n%s", logs)
			}
			continue
		}
		var lines []map[string]any
		for _, l := range strings.Split(strings.TrimSpace(logs), "\n") {
			var m map[string]any
			if err := json.Unmarshal([]byte(l), &m); err != nil {
				t.Fatalf("not JSON: %q", l)
			}
			if m["msg"] == "access" {
				lines = append(lines, m)
			}
		}
		if len(lines) != 3 {
			t.Fatalf("%d access lines:\n%s", len(lines), logs)
		}
		const user = "arn:aws:iam::123456789012:user/edge"
		for i, want := range []struct {
			service, op, caller string
			status              float64
		}{{"iam", "ListRoles", user, 200}, {"eks", "DescribeCluster", user, 200}, {"sts", "unknown", "", 403}} {
			l := lines[i]
			caller, _ := l["caller"].(string)
			if l["service"] != want.service || l["operation"] != want.op || caller != want.caller || l["status"] != want.status ||
				!uuidRE.MatchString(l["requestId"].(string)) || l["latencyMs"] == nil {
				t.Errorf("line %d = %v, want %+v", i, l, want)
			}
		}
		for _, secret := range []string{testSecret, "Signature=", "Credential=", "body-secret", "MadeUp"} {
			if strings.Contains(logs, secret) {
				t.Errorf("access log contains %q", secret)
			}
		}
	}
}

// testServices are the four services' registrations with stand-in
// handlers: IAM serving iamActions, STS with its unsigned web identity,
// EKS and EKS Auth reporting one operation each.
func testServices(iamActions ...string) awsproto.Services {
	return awsproto.Services{
		{SigningName: "iam", Protocol: awsproto.ProtocolQuery, Global: true, Namespace: "https://iam.amazonaws.com/doc/2010-05-08/",
			Query: &servingRecorder{recorder: recorder{name: "iam"}, actions: iamActions}, Operations: iamActions},
		{SigningName: "sts", Protocol: awsproto.ProtocolQuery, Global: true, Namespace: "https://sts.amazonaws.com/doc/2011-06-15/",
			Query: &servingRecorder{recorder: recorder{name: "sts"}, actions: []string{"AssumeRoleWithWebIdentity"}}, Operations: []string{"AssumeRoleWithWebIdentity"},
			UnsignedActions: []string{"AssumeRoleWithWebIdentity", "AssumeRoleWithSAML"}, UnsignedPaths: []string{"/{$}"}},
		{SigningName: "eks", Protocol: awsproto.ProtocolRestJSON, Handler: opHandler{op: "DescribeCluster"}, Operations: []string{"DescribeCluster"}, UnsignedPaths: []string{"/"}},
		{SigningName: "eks-auth", Protocol: awsproto.ProtocolRestJSON, Handler: opHandler{op: "AssumeRoleForPodIdentity"}, Operations: []string{"AssumeRoleForPodIdentity"},
			UnsignedPaths: []string{"/clusters/{name}/assume-role-for-pod-identity"}},
	}
}
