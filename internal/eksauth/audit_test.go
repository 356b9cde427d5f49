package eksauth

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/podid/podid/internal/store"
)

// lockedBuffer is a bytes.Buffer safe for the auditor's goroutine.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestAuditor: records reach the store and the JSON-lines writer; records
// older than the retention are deleted when the writer starts; records
// queued at shutdown are flushed.
func TestAuditor(t *testing.T) {
	u := newUnit(t, nil)
	old := &store.AuditRecord{ID: "old", Time: unitNow.Add(-48 * time.Hour), Kind: AuditKind, Decision: DecisionIssued, Fields: `{"cluster":"c1"}`}
	recent := &store.AuditRecord{ID: "recent", Time: unitNow.Add(-time.Hour), Kind: AuditKind, Decision: DecisionRefused, Reason: "r", Fields: `{"cluster":"c1","reason":"r"}`}
	if err := u.st.Update(context.Background(), func(tx store.Tx) error {
		if err := tx.AppendAudit(old); err != nil {
			return err
		}
		return tx.AppendAudit(recent)
	}); err != nil {
		t.Fatal(err)
	}
	lines := &lockedBuffer{}
	a := NewAuditor(AuditorConfig{Store: u.st, Lines: lines, Retention: 24 * time.Hour, Now: func() time.Time { return unitNow }})
	u.svc.cfg.Audit = a
	ctx, cancel := context.WithCancel(context.Background())
	go a.Run(ctx)
	// One issuance and one refusal through the service.
	if _, err := u.svc.AssumeRoleForPodIdentity(agentCtx("agent", nil), &Input{ClusterName: "c1", Token: u.token(t, podClaims(u.now, "carts"))}); err != nil {
		t.Fatal(err)
	}
	u.svc.AssumeRoleForPodIdentity(agentCtx("agent", nil), &Input{ClusterName: "c1", Token: "not-a-token"})
	cancel()
	<-a.Flushed()
	if a.Written() != 2 {
		t.Errorf("Written = %d, want 2", a.Written())
	}
	var recs []*store.AuditRecord
	u.st.View(context.Background(), func(tx store.Tx) error {
		var err error
		recs, err = tx.ListAudit(time.Time{}, 0)
		return err
	})
	ids := []string{}
	for _, r := range recs {
		ids = append(ids, r.ID)
	}
	if len(recs) != 3 || recs[0].ID != "recent" {
		t.Errorf("stored records %v, want recent plus two new (old pruned)", ids)
	}
	got := strings.Split(strings.TrimSpace(lines.String()), "\n")
	if len(got) != 2 {
		t.Fatalf("%d JSON lines, want 2:\n%s", len(got), lines.String())
	}
	var refused map[string]any
	json.Unmarshal([]byte(got[1]), &refused)
	if refused["decision"] != "refused" || refused["errorCode"] != "InvalidParameterException" || refused["caller"] != "arn:aws:iam::123456789012:user/agent" || refused["reason"] != "token of 11 bytes is not a compact JWS" {
		t.Errorf("refusal line %v", refused)
	}
	// After shutdown records are dropped, not blocked on.
	a.Record(&store.AuditRecord{ID: "late"})
	if a.Dropped() != 1 {
		t.Errorf("Dropped = %d", a.Dropped())
	}
}

// TestExportJSONLines pages through records that share one timestamp.
func TestExportJSONLines(t *testing.T) {
	u := newUnit(t, nil)
	const n = 2*exportPage + 17
	err := u.st.Update(context.Background(), func(tx store.Tx) error {
		for i := 0; i < n; i++ {
			kind := AuditKind
			if i%10 == 0 {
				kind = "sts:AssumeRole"
			}
			if err := tx.AppendAudit(&store.AuditRecord{ID: fmt.Sprintf("%06d", i), Time: unitNow, Kind: kind, Decision: DecisionIssued, Fields: "{}"}); err != nil {
				return err
			}
		}
		return tx.AppendAudit(&store.AuditRecord{ID: "z", Time: unitNow.Add(time.Second), Kind: AuditKind, Decision: DecisionRefused, Fields: "not json"})
	})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	got, err := ExportJSONLines(context.Background(), u.st, &buf, ExportOptions{})
	if err != nil || got != n+1 {
		t.Fatalf("exported %d (%v), want %d", got, err, n+1)
	}
	seen := map[string]bool{}
	for _, l := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("bad line %q", l)
		}
		id := m["id"].(string)
		if seen[id] {
			t.Fatalf("record %s exported twice", id)
		}
		seen[id] = true
	}
	buf.Reset()
	got, _ = ExportJSONLines(context.Background(), u.st, &buf, ExportOptions{Kind: AuditKind, Since: unitNow.Add(time.Second)})
	if got != 1 || !strings.Contains(buf.String(), `"fields":"not json"`) {
		t.Errorf("since/kind filter: %d %s", got, buf.String())
	}
	got, _ = ExportJSONLines(context.Background(), u.st, &bytes.Buffer{}, ExportOptions{Kind: AuditKind, Limit: 5})
	if got != 5 {
		t.Errorf("limit: %d", got)
	}
}

// TestAuditorAggregatesRefusals: 10,000 identical refusals (request IDs
// apart) become one stored record with count 10,000 and two JSON lines
// (the first event at once, the count when the window closes); issuances
// stay one record each; a refusal after the window starts a new record.
func TestAuditorAggregatesRefusals(t *testing.T) {
	u := newUnit(t, nil)
	var mu sync.Mutex
	now := unitNow
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	lines := &lockedBuffer{}
	a := NewAuditor(AuditorConfig{Store: u.st, Lines: lines, Now: clock, AggregateWindow: time.Minute})
	ctx, cancel := context.WithCancel(context.Background())
	go a.Run(ctx)
	refusal := func(i int, at time.Time) *store.AuditRecord {
		return &store.AuditRecord{ID: a.newID(at), Time: at, Kind: AuditKind, Decision: DecisionRefused, Reason: "bad signature",
			Fields: fmt.Sprintf(`{"cluster":"c1","caller":"arn:aws:iam::123456789012:user/agent","sourceIp":"10.0.0.1","requestId":"req-%d","errorCode":"InvalidTokenException","reason":"bad signature"}`, i)}
	}
	const n = 10000
	for i := range n {
		a.Record(refusal(i, unitNow.Add(time.Duration(i)*time.Millisecond)))
	}
	for i := range 3 {
		a.Record(&store.AuditRecord{ID: a.newID(unitNow), Time: unitNow, Kind: AuditKind, Decision: DecisionIssued, Fields: fmt.Sprintf(`{"cluster":"c1","requestId":"ok-%d"}`, i)})
	}
	// Another cause is another record.
	other := refusal(n, unitNow.Add(time.Second))
	other.Reason = "no association"
	a.Record(other)
	// After the window, the same refusal starts a new record.
	for len(a.ch) > 0 {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond) // the writer has written what it took
	mu.Lock()
	now = unitNow.Add(2 * time.Minute)
	mu.Unlock()
	time.Sleep(300 * time.Millisecond) // two writer ticks: the first window closes
	a.Record(refusal(n+1, unitNow.Add(2*time.Minute)))
	cancel()
	<-a.Flushed()

	var recs []*store.AuditRecord
	if err := u.st.View(context.Background(), func(tx store.Tx) error {
		var err error
		recs, err = tx.ListAudit(time.Time{}, 0)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	var refused, issued []*store.AuditRecord
	for _, r := range recs {
		if r.Decision == DecisionRefused {
			refused = append(refused, r)
		} else {
			issued = append(issued, r)
		}
	}
	if len(issued) != 3 {
		t.Errorf("%d issuance records, want 3", len(issued))
	}
	if len(refused) != 3 {
		for _, r := range refused {
			t.Log(r.ID, r.Count, r.Time, r.Reason)
		}
		t.Fatalf("%d refusal records, want 3 (the aggregate, another cause, the next window)", len(refused))
	}
	agg := refused[0]
	if agg.Count != n || !agg.Time.Equal(unitNow) || !agg.LastTime.Equal(unitNow.Add((n-1)*time.Millisecond)) || !strings.Contains(agg.Fields, `"requestId":"req-0"`) {
		t.Errorf("aggregate: count %d, %v..%v, fields %s; want %d, %v..%v, the first request", agg.Count, agg.Time, agg.LastTime, agg.Fields, n, unitNow, unitNow.Add((n-1)*time.Millisecond))
	}
	if refused[1].Count != 1 || refused[1].Reason != "no association" || refused[2].Count != 1 || !refused[2].Time.Equal(unitNow.Add(2*time.Minute)) {
		t.Errorf("other records: %+v, %+v", refused[1], refused[2])
	}
	// JSON lines: 3 issuances, 3 first events, 1 summary of the aggregate.
	got := strings.Split(strings.TrimSpace(lines.String()), "\n")
	if len(got) != 7 {
		t.Fatalf("%d JSON lines, want 7:\n%s", len(got), lines.String())
	}
	var summary map[string]any
	for _, l := range got {
		var m map[string]any
		json.Unmarshal([]byte(l), &m)
		if m["count"] != nil {
			summary = m
		}
	}
	if summary == nil || summary["count"] != float64(n) || summary["id"] != agg.ID || summary["lastTime"] != agg.LastTime.UTC().Format(time.RFC3339Nano) {
		t.Errorf("summary line %v, want count %d, id %s", summary, n, agg.ID)
	}
}

func TestWithoutRequestID(t *testing.T) {
	for in, want := range map[string]string{
		`{"cluster":"c1","requestId":"r-1","errorCode":"X"}`: `{"cluster":"c1","errorCode":"X"}`,
		`{"cluster":"c1","requestId":"r-2"}`:                 `{"cluster":"c1"}`,
		`{"requestId":"r-3"}`:                                `{}`,
		`{"cluster":"c1"}`:                                   `{"cluster":"c1"}`,
		`{"cluster":"c1","requestId":"a\"b","z":1}`:          `{"cluster":"c1","z":1}`,
	} {
		if got := withoutRequestID(in); got != want {
			t.Errorf("withoutRequestID(%s) = %s, want %s", in, got, want)
		}
	}
}
