package server

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/podid/podid/internal/auth"
	"github.com/podid/podid/internal/awsproto"
)

// besideHandler stands in for the console: it reports the operation named
// by the path's last segment (request input, to prove the edge bounds it)
// and, for /signed/..., a caller.
type besideHandler struct{}

func (besideHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	seg := r.URL.Path[strings.LastIndex(r.URL.Path, "/")+1:]
	if seg != "none" {
		awsproto.SetOperation(r.Context(), seg)
	}
	if strings.HasPrefix(r.URL.Path, "/signed/") {
		auth.ReportCaller(r.Context(), &auth.Principal{ARN: "arn:aws:iam::123456789012:user/web", AccessKeyID: ""})
	}
	if awsproto.RequestIDFrom(r.Context()) == "" {
		http.Error(w, "no request ID", http.StatusInternalServerError)
		return
	}
	if seg == "page" {
		w.WriteHeader(http.StatusNotFound)
	}
}

// TestBeside: a handler served beside the API is counted and logged as
// service "console" with the operation it reports when that is one of its
// declared operations, "unknown" for a made-up or missing one (never the
// path), its reported caller in the log, and no cookie or query string.
func TestBeside(t *testing.T) {
	f := newHostileEdge(t, Config{AccessLog: true})
	h := f.edge.Beside("console", []string{"page", "signin"}, besideHandler{})
	srv := httptest.NewServer(h)
	defer srv.Close()
	for _, path := range []string{"/signed/page", "/signin", "/x/made-up-op-marker", "/none?token=query-secret"} {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+path, nil)
		req.Header.Set("Cookie", "podid-console=cookie-secret")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	wantSeries := []string{
		"service=console,action=page,code=404",
		"service=console,action=signin,code=200",
		"service=console,action=unknown,code=200",
	}
	got := f.series(t, "podid_api_requests_total")
	for i := range got {
		got[i] = reorder(got[i])
	}
	slices.Sort(got)
	if !slices.Equal(got, wantSeries) {
		t.Errorf("series = %q, want %q", got, wantSeries)
	}
	if v := counterValue(t, f, "service=console,action=unknown,code=200"); v != 2 {
		t.Errorf("unknown-operation requests counted %v, want 2", v)
	}

	logs := f.logText()
	var lines []string
	for _, l := range strings.Split(logs, "\n") {
		if strings.Contains(l, "msg=access") {
			lines = append(lines, l)
		}
	}
	want := []string{
		`service=console operation=page status=404`,
		`service=console operation=signin status=200`,
		`service=console operation=unknown status=200`,
		`service=console operation=unknown status=200`,
	}
	if len(lines) != len(want) {
		t.Fatalf("%d access lines, want %d:\n%s", len(lines), len(want), logs)
	}
	for i, w := range want {
		if !strings.Contains(lines[i], w) || !strings.Contains(lines[i], "requestId=") {
			t.Errorf("access line %d = %s, want %s", i, lines[i], w)
		}
		signed := strings.Contains(lines[i], "caller=arn:aws:iam::123456789012:user/web")
		if signed != (i == 0) {
			t.Errorf("access line %d names the caller: %v, want %v: %s", i, signed, i == 0, lines[i])
		}
	}
	for _, secret := range []string{"cookie-secret", "query-secret", "made-up-op-marker"} {
		if strings.Contains(logs, secret) {
			t.Errorf("the log holds %q", secret)
		}
	}

	for _, taken := range []string{"iam", "eks", "public", "unknown", ""} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Beside(%q) did not panic", taken)
				}
			}()
			f.edge.Beside(taken, nil, besideHandler{})
		}()
	}
}

// reorder puts a series' labels in the order service, action, code.
func reorder(s string) string {
	m := map[string]string{}
	for _, kv := range strings.Split(s, ",") {
		k, v, _ := strings.Cut(kv, "=")
		m[k] = v
	}
	return "service=" + m["service"] + ",action=" + m["action"] + ",code=" + m["code"]
}

// counterValue is podid_api_requests_total of one series (as reorder
// writes it).
func counterValue(t *testing.T, f *hostileFixture, series string) float64 {
	t.Helper()
	mfs, err := f.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "podid_api_requests_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetName()+"="+l.GetValue())
			}
			if reorder(strings.Join(labels, ",")) == series {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}
