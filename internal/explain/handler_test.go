package explain

import (
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/podid/podid/internal/auth"
	"github.com/podid/podid/internal/store"
)

// TestHandler: the REST extension answers GET and POST for an authorized
// caller, refuses a caller without podid:Explain on the cluster ARN with
// AWS's sentence, and answers bad input with 4xx restJson1 errors.
func TestHandler(t *testing.T) {
	f := newFixture(t)
	f.associate(t, "carts", "carts", "carts", nil)
	h := &Handler{Explainer: f.x, Authorizer: f.env.Authorizer}
	root := auth.RootPrincipal("aws", acct, "AKIAROOT")
	user := auth.UserPrincipal(f.env.AddUser(t, "viewer"), acct, "AKIAUSER")
	f.env.PutInline(t, store.KindUser, "viewer", "explain", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"podid:Explain","Resource":"arn:aws:eks:us-west-2:`+acct+`:cluster/other"}]}`)
	do := func(p *auth.Principal, method, target, body string) (*httptest.ResponseRecorder, map[string]any) {
		t.Helper()
		r := httptest.NewRequest(method, target, strings.NewReader(body))
		if p != nil {
			r = r.WithContext(auth.WithPrincipal(r.Context(), p))
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		var m map[string]any
		json.Unmarshal(w.Body.Bytes(), &m)
		return w, m
	}

	w, m := do(root, "GET", Path+"?cluster=eks-workshop&namespace=carts&serviceAccount=carts&action=dynamodb:GetItem&resource=*", "")
	if w.Code != 200 || m["ok"] != true || len(m["decisions"].([]any)) != 1 {
		t.Fatalf("GET: %d %s", w.Code, w.Body)
	}
	w, m = do(root, "POST", Path, `{"cluster":"eks-workshop","namespace":"orders","serviceAccount":"orders"}`)
	if w.Code != 200 || m["ok"] != false || m["cause"] != string(CauseNoAssociation) {
		t.Fatalf("POST: %d %s", w.Code, w.Body)
	}
	for _, tc := range []struct {
		name         string
		p            *auth.Principal
		method, path string
		body         string
		status       int
		code, msg    string
	}{
		{"unsigned", nil, "GET", Path + "?cluster=eks-workshop&namespace=carts&serviceAccount=carts", "", 403, "AccessDeniedException", "Request is missing Authentication Token"},
		{"not allowed on the cluster", user, "GET", Path + "?cluster=eks-workshop&namespace=carts&serviceAccount=carts", "", 403, "AccessDeniedException",
			"User: arn:aws:iam::" + acct + ":user/viewer is not authorized to perform: podid:Explain on resource: arn:aws:eks:us-west-2:" + acct + ":cluster/eks-workshop because no identity-based policy allows the podid:Explain action"},
		{"bad namespace", root, "GET", Path + "?cluster=eks-workshop&namespace=Carts&serviceAccount=carts", "", 400, "InvalidParameterException", "The namespace is not a valid Kubernetes namespace name."},
		{"unpaired action", root, "GET", Path + "?cluster=eks-workshop&namespace=carts&serviceAccount=carts&action=s3:GetObject", "", 400, "InvalidParameterException", "Each action needs a resource (repeat action and resource in pairs)."},
		{"unknown field", root, "POST", Path, `{"cluster":"eks-workshop","namespace":"carts","serviceAccount":"carts","role":"x"}`, 400, "SerializationException", "The request body is not a valid explain request."},
		{"method", root, "PUT", Path, "", 405, "UnknownOperationException", "/podid/v1/explain requires GET or POST."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w, m := do(tc.p, tc.method, tc.path, tc.body)
			if w.Code != tc.status || w.Header().Get("x-amzn-ErrorType") != tc.code || m["message"] != tc.msg {
				t.Errorf("%d %s %s, want %d %s %q", w.Code, w.Header().Get("x-amzn-ErrorType"), w.Body, tc.status, tc.code, tc.msg)
			}
		})
	}
}
