package audit

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/podid/podid/internal/auth"
	"github.com/podid/podid/internal/store"
	"github.com/podid/podid/internal/store/sqlite"
)

var t0 = time.Date(2026, 12, 6, 8, 0, 0, 0, time.UTC)

// rec is an audit record of kind at t0+sec with the given subject.
func rec(id string, sec int, kind, decision, cluster, ns, sa string) *store.AuditRecord {
	f, _ := json.Marshal(map[string]string{"cluster": cluster, "namespace": ns, "serviceAccount": sa})
	return &store.AuditRecord{ID: id, Time: t0.Add(time.Duration(sec) * time.Second), Kind: kind, Decision: decision, Fields: string(f), Count: 1}
}

// testStore is a SQLite store holding recs.
func testStore(t *testing.T, recs ...*store.AuditRecord) store.Store {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "podid.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	err = st.Update(context.Background(), func(tx store.Tx) error {
		for _, r := range recs {
			if err := tx.AppendAudit(r); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

const (
	eksAuth = "eks-auth:AssumeRoleForPodIdentity"
	gwDDB   = "gateway:dynamodb"
	gwS3    = "gateway:s3"
)

var records = []*store.AuditRecord{
	rec("a1", 0, eksAuth, "issued", "eks-workshop", "carts", "carts"),
	rec("a2", 1, eksAuth, "refused", "eks-workshop", "orders", "orders"),
	rec("a3", 2, gwDDB, "allowed", "eks-workshop", "carts", "carts"),
	rec("a4", 3, gwDDB, "denied", "eks-workshop", "carts", "carts"),
	rec("a5", 4, gwS3, "would-deny", "other", "assets", "assets"),
	rec("a6", 5, eksAuth, "issued", "other", "carts", "carts"),
}

func ids(recs []*store.AuditRecord) string {
	var out []string
	for _, r := range recs {
		out = append(out, r.ID)
	}
	return strings.Join(out, ",")
}

// TestReadFilters: each filter keeps exactly its records, oldest first.
func TestReadFilters(t *testing.T) {
	st := testStore(t, records...)
	for _, tc := range []struct {
		name string
		f    Filter
		want string
	}{
		{"all", Filter{}, "a1,a2,a3,a4,a5,a6"},
		{"since", Filter{Since: t0.Add(3 * time.Second)}, "a4,a5,a6"},
		{"until", Filter{Until: t0.Add(2 * time.Second)}, "a1,a2"},
		{"window", Filter{Since: t0.Add(time.Second), Until: t0.Add(4 * time.Second)}, "a2,a3,a4"},
		{"cluster", Filter{Cluster: "other"}, "a5,a6"},
		{"namespace", Filter{Namespace: "carts"}, "a1,a3,a4,a6"},
		{"service account and cluster", Filter{Cluster: "eks-workshop", ServiceAccount: "carts"}, "a1,a3,a4"},
		{"decision", Filter{Decision: "denied"}, "a4"},
		{"kind", Filter{Kind: eksAuth}, "a1,a2,a6"},
		{"kind prefix", Filter{Kind: "gateway:"}, "a3,a4,a5"},
		{"nothing", Filter{Namespace: "nobody"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := Read(context.Background(), st, tc.f, Cursor{}, 0)
			if err != nil {
				t.Fatal(err)
			}
			if got := ids(p.Records); got != tc.want || p.More {
				t.Errorf("records %s (more %v), want %s", got, p.More, tc.want)
			}
		})
	}
}

// testBatch is the store read of TestReadPages: 120 records of one
// timestamp are more than one read, as 1,200 would be for Read's.
const testBatch = 50

// TestReadPages: pages of any size, followed by their tokens, return every
// record once, including many records of one timestamp (more than a store
// read); a read at the end returns nothing and keeps its position, and a
// record written later is the next read's.
func TestReadPages(t *testing.T) {
	var recs []*store.AuditRecord
	for i := 0; i < 250; i++ {
		sec := 0
		if i >= 120 {
			sec = i // 120 records share t0
		}
		recs = append(recs, rec(fmt.Sprintf("r%05d", i), sec, eksAuth, "issued", "c", "n", "s"))
	}
	st := testStore(t, recs...)
	for _, limit := range []int{1, 7, 100} {
		var got []*store.AuditRecord
		c := Cursor{}
		for range 5000 {
			p, err := read(context.Background(), st, Filter{}, c, limit, testBatch)
			if err != nil {
				t.Fatal(err)
			}
			tok, err := ParseToken(p.Next.Token())
			if err != nil || tok.ID != p.Next.ID || !tok.Time.Equal(p.Next.Time) {
				t.Fatalf("token round trip: %v %v", tok, err)
			}
			got = append(got, p.Records...)
			c = tok
			if !p.More {
				break
			}
		}
		if len(got) != 250 || ids(got[:2]) != "r00000,r00001" || got[249].ID != "r00249" {
			t.Fatalf("limit %d: %d records", limit, len(got))
		}
		seen := map[string]bool{}
		for _, r := range got {
			if seen[r.ID] {
				t.Fatalf("limit %d: %s twice", limit, r.ID)
			}
			seen[r.ID] = true
		}
		p, err := read(context.Background(), st, Filter{}, c, limit, testBatch)
		if err != nil || len(p.Records) != 0 || p.More || p.Next != c {
			t.Fatalf("read at the end: %v %+v", err, p)
		}
	}
	// A follower's next read sees the record written after.
	p, _ := read(context.Background(), st, Filter{}, Cursor{}, 300, testBatch)
	st.Update(context.Background(), func(tx store.Tx) error { return tx.AppendAudit(rec("z", 9999, gwDDB, "denied", "c", "n", "s")) })
	p2, err := read(context.Background(), st, Filter{}, p.Next, 10, testBatch)
	if err != nil || ids(p2.Records) != "z" {
		t.Fatalf("after a new record: %v %s", err, ids(p2.Records))
	}
}

// TestParseQuery: bad parameters are InvalidParameterException, never a
// panic or a 500.
func TestParseQuery(t *testing.T) {
	for q, want := range map[string]string{
		"since=yesterday":           "The since parameter must be an RFC 3339 time.",
		"decision=maybe":            "Invalid filter: decision must be one of issued, refused, allowed, denied, would-deny.",
		"nextToken=%25%25":          "The nextToken parameter is not valid.",
		"nextToken=bm90IGEgdG9rZW4": "The nextToken parameter is not valid.",
		"maxResults=0":              "The maxResults parameter must be between 1 and 1000.",
		"maxResults=1001":           "The maxResults parameter must be between 1 and 1000.",
		"since=2026-12-06T09:00:00Z&until=2026-12-06T08:00:00Z": "Invalid filter: until must be after since.",
	} {
		v, _ := url.ParseQuery(q)
		_, _, _, err := ParseQuery(v)
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "InvalidParameterException") {
			t.Errorf("%s: %v, want InvalidParameterException %q", q, err, want)
		}
	}
}

// allowOnly allows Action on one resource.
type allowOnly string

func (a allowOnly) Authorize(_ context.Context, p *auth.Principal, action, resource string, _ map[string][]string) error {
	if action == Action && resource == string(a) {
		return nil
	}
	return &auth.DeniedError{Message: "User: " + p.ARN + " is not authorized to perform: " + action + " on resource: " + resource}
}

// TestHandler: the extension answers a filtered page in JSON to a caller
// allowed podid:ListAuditRecords on the cluster's ARN (or "*" without a
// cluster), and AccessDeniedException with AWS's sentence otherwise.
func TestHandler(t *testing.T) {
	st := testStore(t, records...)
	const clusterARN = "arn:aws:eks:us-west-2:123456789012:cluster/eks-workshop"
	h := &Handler{Store: st, Authorizer: allowOnly(clusterARN), Partition: "aws", Region: "us-west-2", AccountID: "123456789012",
		JSON: func(r *store.AuditRecord) map[string]any { return map[string]any{"id": r.ID, "decision": r.Decision} }}
	p := &auth.Principal{ARN: "arn:aws:iam::123456789012:user/auditor", AccountID: "123456789012"}
	call := func(q string) (int, string) {
		req := httptest.NewRequest(http.MethodGet, Path+"?"+q, nil)
		req = req.WithContext(auth.WithPrincipal(req.Context(), p))
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		return w.Code, w.Body.String()
	}
	code, body := call("cluster=eks-workshop&decision=issued")
	var resp Response
	if err := json.Unmarshal([]byte(body), &resp); err != nil || code != 200 || fmt.Sprint(resp.Records) != "[map[decision:issued id:a1]]" || resp.More ||
		resp.NextToken != (Cursor{Time: t0.Add(5 * time.Second), ID: "a6"}).Token() {
		t.Errorf("allowed: %d %s", code, body)
	}
	code, body = call("decision=issued")
	if code != 403 || !strings.Contains(body, "AccessDeniedException") || !strings.Contains(body, "is not authorized to perform: podid:ListAuditRecords on resource: *") {
		t.Errorf("without a cluster: %d %s", code, body)
	}
	// A caller of another hosted account is asked for the server's
	// records as a cross-account resource.
	p = &auth.Principal{ARN: "arn:aws:iam::210987654321:root", AccountID: "210987654321"}
	code, body = call("decision=issued")
	if code != 403 || !strings.Contains(body, "on resource: arn:aws:eks:us-west-2:123456789012:cluster/*") {
		t.Errorf("another account without a cluster: %d %s", code, body)
	}
	p = &auth.Principal{ARN: "arn:aws:iam::123456789012:user/auditor", AccountID: "123456789012"}
	code, body = call("maxResults=abc&cluster=eks-workshop")
	if code != 400 || !strings.Contains(body, "InvalidParameterException") {
		t.Errorf("bad maxResults: %d %s", code, body)
	}
}
