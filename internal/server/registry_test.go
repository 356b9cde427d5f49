package server

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/podid/podid/internal/awsproto"
)

// TestNewServiceIsOneRegistration: a service the edge has never heard of
// is served, answered in its protocol and counted under its own labels
// from its descriptor alone.
func TestNewServiceIsOneRegistration(t *testing.T) {
	example := &recorder{name: "example"}
	reg := prometheus.NewRegistry()
	e := New(Config{
		Verifier: &awsproto.Verifier{Lookup: lookup{}},
		Services: awsproto.Services{{SigningName: "example", Protocol: awsproto.ProtocolQuery, Namespace: "https://example.amazonaws.com/doc/2026-01-01/",
			Query: example, Operations: []string{"Ping"}}},
		Metrics: NewMetrics(reg),
	})
	srv := httptest.NewServer(e)
	defer srv.Close()
	f := &edgeFixture{srv: srv}
	resp, body := f.do(t, "example", "POST", "/", form, "Action=Ping&Version=2026-01-01")
	if resp.StatusCode != 200 || len(example.calls) != 1 || example.calls[0] != "Ping" ||
		!strings.Contains(body, `<PingResponse xmlns="https://example.amazonaws.com/doc/2026-01-01/">`) {
		t.Fatalf("Ping: %d, calls %v, body %s", resp.StatusCode, example.calls, body)
	}
	f.do(t, "example", "POST", "/", form, "Action=Made-Up&Version=2026-01-01")
	for labels, want := range map[[3]string]float64{{"example", "Ping", "200"}: 1, {"example", LabelUnknown, "200"}: 1} {
		var m dto.Metric
		if err := e.cfg.Metrics.requests.WithLabelValues(labels[:]...).Write(&m); err != nil {
			t.Fatal(err)
		}
		if got := m.GetCounter().GetValue(); got != want {
			t.Errorf("podid_api_requests_total%v = %v, want %v", labels, got, want)
		}
	}
}

// TestAllowRegion: global services take any region, regional ones and
// unknown ones only the server's.
func TestAllowRegion(t *testing.T) {
	ss := awsproto.Services{{SigningName: "iam", Global: true}, {SigningName: "eks"}}
	allow := ss.AllowRegion("us-west-2")
	for _, tc := range []struct {
		service, region string
		want            bool
	}{
		{"iam", "eu-west-1", true}, {"iam", "us-west-2", true},
		{"eks", "us-west-2", true}, {"eks", "eu-west-1", false},
		{"sqs", "us-west-2", true}, {"sqs", "eu-west-1", false},
	} {
		if got := allow(tc.service, tc.region); got != tc.want {
			t.Errorf("AllowRegion(%s, %s) = %v, want %v", tc.service, tc.region, got, tc.want)
		}
	}
}

// TestBadRegistrationPanics: an invalid descriptor, a signing name
// registered twice or two services claiming one unsigned path stop the
// server at start.
func TestBadRegistrationPanics(t *testing.T) {
	h := http.NotFoundHandler()
	ok := awsproto.Service{SigningName: "eks", Protocol: awsproto.ProtocolRestJSON, Handler: h, Operations: []string{"ListClusters"}, UnsignedPaths: []string{"/"}}
	for name, ss := range map[string]awsproto.Services{
		"no handler":      {{SigningName: "eks", Protocol: awsproto.ProtocolRestJSON, Operations: []string{"X"}}},
		"no namespace":    {{SigningName: "sts", Protocol: awsproto.ProtocolQuery, Query: &recorder{}, Operations: []string{"X"}}},
		"no operations":   {{SigningName: "eks", Protocol: awsproto.ProtocolRestJSON, Handler: h}},
		"unsigned json":   {{SigningName: "eks", Protocol: awsproto.ProtocolRestJSON, Handler: h, Operations: []string{"X"}, UnsignedActions: []string{"X"}}},
		"twice":           {ok, ok},
		"same path twice": {ok, {SigningName: "other", Protocol: awsproto.ProtocolRestJSON, Handler: h, Operations: []string{"Y"}, UnsignedPaths: []string{"/"}}},
		"anonymous path not unsigned": {{SigningName: "eks", Protocol: awsproto.ProtocolRestJSON, Handler: h, Operations: []string{"X"},
			UnsignedPaths: []string{"/a"}, AnonymousPaths: []string{"/b"}}},
		"anonymous awsQuery": {{SigningName: "sts", Protocol: awsproto.ProtocolQuery, Query: &recorder{}, Namespace: "ns", Operations: []string{"X"},
			UnsignedPaths: []string{"/a"}, AnonymousPaths: []string{"/a"}}},
	} {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Errorf("New accepted %s", name)
				}
			}()
			New(Config{Services: ss})
		})
	}
}
