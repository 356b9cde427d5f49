package agent

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// seriesOf lists the label sets a metric vector holds.
func seriesOf(c prometheus.Collector) []string {
	ch := make(chan prometheus.Metric, 1000)
	c.Collect(ch)
	close(ch)
	var out []string
	for m := range ch {
		var d dto.Metric
		if err := m.Write(&d); err != nil {
			panic(err)
		}
		var ls []string
		for _, l := range d.GetLabel() {
			ls = append(ls, l.GetName()+"="+l.GetValue())
		}
		out = append(out, strings.Join(ls, ","))
	}
	return out
}

// TestUpstreamCodeLabelsBounded: error codes made up by the upstream (or
// anything between the agent and it), in bytes that are not UTF-8, count
// in one "other" series; the agent answers each pod and never panics.
func TestUpstreamCodeLabelsBounded(t *testing.T) {
	f := newFakeEKSAuth(t)
	const n = 40
	f.set(func(f *fakeEKSAuth) {
		for i := range n {
			f.script = append(f.script, fakeReply{status: 400, code: fmt.Sprintf("Made%d\xff\xfe", i), msg: "made up"})
		}
	})
	a := newTestAgent(t, f)
	exp := time.Now().Add(time.Hour)
	for i := range n {
		w := get(a, "169.254.170.23", podToken("ns", "sa", fmt.Sprintf("uid-%d", i), exp, "s"))
		if w.Code < 400 || w.Code >= 600 || w.Body.Len() == 0 {
			t.Fatalf("pod %d: HTTP %d %q", i, w.Code, w.Body.String())
		}
	}
	series := seriesOf(a.metrics.upstreamCalls)
	for _, s := range series {
		if strings.Contains(s, "Made") {
			t.Errorf("series with a made-up code: %q", s)
		}
	}
	if len(series) == 0 || len(series) > 3 {
		t.Errorf("upstream call series = %q, want the one \"other\" bucket", series)
	}
	if got := eventLabel("Made\xff"); got != labelOther {
		t.Errorf("eventLabel = %q", got)
	}
}

// TestTwoAuthorizationHeaders: a request with two Authorization headers is
// refused (400) without calling EKS Auth, whichever copy is a valid token.
func TestTwoAuthorizationHeaders(t *testing.T) {
	f := newFakeEKSAuth(t)
	a := newTestAgent(t, f)
	tok := podToken("ns", "sa", "uid-1", time.Now().Add(time.Hour), "s")
	for _, second := range []string{tok, "other"} {
		r := httptest.NewRequest(http.MethodGet, "http://169.254.170.23/v1/credentials", nil)
		r.Host = "169.254.170.23"
		r.Header["Authorization"] = []string{tok, second}
		w := httptest.NewRecorder()
		a.ServeHTTP(w, r)
		if w.Code != http.StatusBadRequest || !strings.Contains(w.Body.String(), "more than one Authorization header") {
			t.Errorf("two Authorization headers: HTTP %d %q", w.Code, w.Body.String())
		}
	}
	if n := f.calls.Load(); n != 0 {
		t.Errorf("%d EKS Auth calls", n)
	}
}
