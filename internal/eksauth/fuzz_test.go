package eksauth

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/podid/podid/internal/awsproto"
)

// FuzzServeHTTP feeds arbitrary cluster names and bodies to the wire
// handler: it never panics, never answers a client's input with a 5xx, and
// always answers restJson1 (a JSON body; errors with matching
// x-amzn-ErrorType and __type).
func FuzzServeHTTP(f *testing.F) {
	u := newUnit(f, nil)
	good, _ := json.Marshal(map[string]string{"token": u.token(f, podClaims(u.now, "carts"))})
	for _, seed := range []struct{ cluster, body string }{
		{"c1", string(good)},
		{"c1", `{"token":"a.b.c"}`},
		{"c1", `{"token":"eyJhbGciOiJub25lIn0.eyJpc3MiOiJ4In0."}`},
		{"c1", `{}`},
		{"c1", ``},
		{"c1", `{"token":null}`},
		{"c1", `{"token":["a"]}`},
		{"c1", `[1,2]`},
		{"unknown", `{"token":"a.b.c"}`},
		{"-x", `{"token":"a.b.c"}`},
		{"a/b", `{"token":"a.b.c"}`},
		{"c1", `{"token":"` + string(bytes.Repeat([]byte("A"), 20000)) + `.b.c"}`},
	} {
		f.Add(seed.cluster, seed.body)
	}
	f.Fuzz(func(t *testing.T, cluster, body string) {
		req := httptest.NewRequest(http.MethodPost, "/clusters/"+url.PathEscape(cluster)+"/assume-role-for-pod-identity", bytes.NewReader([]byte(body)))
		req = req.WithContext(awsproto.WithRequestID(agentCtx("agent", nil), "req-1"))
		w := httptest.NewRecorder()
		u.svc.ServeHTTP(w, req)
		if w.Code >= 500 {
			t.Fatalf("HTTP %d for cluster %q body %q: %s", w.Code, cluster, body, w.Body)
		}
		var m map[string]any
		if err := json.Unmarshal(w.Body.Bytes(), &m); err != nil {
			t.Fatalf("response is not JSON: %s", w.Body)
		}
		if w.Code != http.StatusOK {
			if typ := w.Header().Get("x-amzn-ErrorType"); typ == "" || m["__type"] != typ {
				t.Fatalf("error type header %q, body %v", typ, m)
			}
		}
		if utf8.ValidString(body) {
			peekClaims(body)
		}
	})
}

// FuzzFastToken checks the fast path of the body decoder against
// encoding/json: whatever it accepts, encoding/json decodes to the same
// token.
func FuzzFastToken(f *testing.F) {
	for _, s := range []string{`{"token":"a.b.c"}`, ` { "token" : "eyJ.eyJ.sig==" } `, `{"token":""}`, `{"token":"a\u002eb"}`,
		`{"token":"a.b.c","x":1}`, `{"token":"a.b.c"}x`, `{"Token":"a"}`, `{"token":"a"}}`, "{\"token\":\"a.b.c\"}\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		tok, ok := fastToken(b)
		if !ok {
			return
		}
		var req struct {
			Token *string `json:"token"`
		}
		if err := json.Unmarshal(b, &req); err != nil || req.Token == nil || *req.Token != tok {
			t.Fatalf("fastToken(%q) = %q, encoding/json: %v %v", b, tok, err, req.Token)
		}
	})
}

// FuzzServeAgentHTTP feeds arbitrary cluster names and bodies to the
// unsigned agent exchange (no caller in the context): it never panics,
// never answers a client's input with a 5xx, always answers restJson1,
// and issues credentials only for a verified agent token.
func FuzzServeAgentHTTP(f *testing.F) {
	u := newUnit(f, nil)
	u.svc.cfg.AgentIssuer = u.issuer
	good, _ := json.Marshal(map[string]string{"token": u.token(f, agentClaims(u.now))})
	pod, _ := json.Marshal(map[string]string{"token": u.token(f, podClaims(u.now, "carts"))})
	for _, seed := range []struct{ cluster, body string }{
		{"c1", string(good)}, {"c1", string(pod)}, {"c1", `{"token":"a.b.c"}`}, {"c1", `{}`}, {"c1", ``},
		{"c1", `{"token":null}`}, {"unknown", string(good)}, {"a/b", `{"token":"a.b.c"}`}, {"", `{"token":"a.b.c"}`},
	} {
		f.Add(seed.cluster, seed.body)
	}
	f.Fuzz(func(t *testing.T, cluster, body string) {
		req := httptest.NewRequest(http.MethodPost, "/podid/v1/clusters/"+url.PathEscape(cluster)+"/assume-role-for-agent", bytes.NewReader([]byte(body)))
		req = req.WithContext(awsproto.WithRequestID(req.Context(), "req-1"))
		w := httptest.NewRecorder()
		u.svc.ServeHTTP(w, req)
		if w.Code >= 500 {
			t.Fatalf("HTTP %d for cluster %q body %q: %s", w.Code, cluster, body, w.Body)
		}
		var m map[string]any
		if err := json.Unmarshal(w.Body.Bytes(), &m); err != nil {
			t.Fatalf("response is not JSON: %s", w.Body)
		}
		if w.Code == http.StatusOK && (cluster != "c1" || m["nodeName"] != "node-1") {
			t.Fatalf("issued for cluster %q body %q: %s", cluster, body, w.Body)
		}
		if w.Code != http.StatusOK {
			if typ := w.Header().Get("x-amzn-ErrorType"); typ == "" || m["__type"] != typ {
				t.Fatalf("error type header %q, body %v", typ, m)
			}
		}
	})
}

// FuzzAuditFieldsJSON: marshalAuditFields writes what json.Marshal writes.
func FuzzAuditFieldsJSON(f *testing.F) {
	f.Add("c1", "carts", "arn:aws:iam::123456789012:role/pod", "10.0.0.7", int64(1_800_000_000_123_456_789), "")
	f.Add("c1", "", "", "", int64(0), "token of 11 bytes is not a compact JWS")
	f.Add("c<1>", "ns\"x\\", "é\u2028", "\x00\x7f\xff", int64(-1<<63), "a&b")
	f.Add("c1", "carts", "x", "", int64(1<<62), "r")
	f.Fuzz(func(t *testing.T, cluster, ns, role, ip string, expNanos int64, reason string) {
		fs := &auditFields{Cluster: cluster, Namespace: ns, ServiceAccount: ns, PodName: role, PodUID: ip, Node: cluster,
			AssociationID: reason, Role: role, TargetRole: ns, SessionName: ip, AccessKeyID: cluster,
			Caller: role, SourceIP: ip, RequestID: ns, Code: cluster, Reason: reason}
		if expNanos != 0 {
			fs.Expires = time.Unix(0, expNanos).UTC()
		}
		for _, v := range []*auditFields{fs, {Cluster: cluster, Reason: reason}, {Cluster: cluster, Expires: time.Unix(0, expNanos).In(time.FixedZone("x", 3600))}} {
			want, werr := json.Marshal(v)
			got := marshalAuditFields(v)
			if werr != nil {
				continue
			}
			if string(got) != string(want) {
				t.Fatalf("marshalAuditFields:\n got %s\nwant %s", got, want)
			}
		}
	})
}
