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
