package eksauth

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/podid/podid/internal/cputime"
	"github.com/podid/podid/internal/store"
	"github.com/podid/podid/internal/store/sqlite"
)

// BenchmarkAuditRefusals writes batches of 512 identical refusals (request
// IDs apart) to SQLite through the Auditor's flush, aggregated (the
// default) and one row each (AggregateWindow < 0). One op is one refusal;
// rows/op is the rows it leaves in the store.
func BenchmarkAuditRefusals(b *testing.B) {
	for _, tc := range []struct {
		name   string
		window time.Duration
	}{{"aggregated", 0}, {"one-row-each", -1}} {
		b.Run(tc.name, func(b *testing.B) {
			st, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "db"))
			if err != nil {
				b.Fatal(err)
			}
			defer st.Close()
			now := time.Unix(1_800_000_000, 0)
			a := NewAuditor(AuditorConfig{Store: st, Now: func() time.Time { return now }, AggregateWindow: tc.window})
			batch := make([]auditItem, 0, maxBatch)
			n := 0
			cpu := cputime.Start()
			for b.Loop() {
				t := now.Add(time.Duration(n) * time.Microsecond)
				batch = append(batch, auditItem{rec: &store.AuditRecord{ID: a.newID(t), Time: t, Kind: AuditKind, Decision: DecisionRefused, Reason: "invalid service account token: bad signature",
					Fields: fmt.Sprintf(`{"cluster":"c1","caller":"arn:aws:sts::123456789012:assumed-role/node/i-1","sourceIp":"10.0.0.7","requestId":"%d","errorCode":"InvalidTokenException","reason":"invalid service account token: bad signature"}`, n)}})
				n++
				if len(batch) == maxBatch {
					a.flush(context.Background(), batch, false)
					batch = batch[:0]
				}
			}
			a.flush(context.Background(), batch, true)
			cpu.Report(b)
			var rows int
			st.View(context.Background(), func(tx store.Tx) error {
				recs, err := tx.ListAudit(time.Time{}, 0)
				rows = len(recs)
				return err
			})
			b.ReportMetric(float64(rows)/float64(n), "rows/op")
		})
	}
}

// BenchmarkAuditIssuanceCommit writes issuance records to SQLite through
// the Auditor's flush in transactions of batch records (SQLite commits
// with synchronous=FULL, one fsync each). One op is one record: the CPU a
// record costs the writer by the size of the group it commits in.
func BenchmarkAuditIssuanceCommit(b *testing.B) {
	for _, size := range []int{1, 8, 32, 128, 512} {
		b.Run(fmt.Sprintf("batch-%d", size), func(b *testing.B) {
			st, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "db"))
			if err != nil {
				b.Fatal(err)
			}
			defer st.Close()
			now := time.Unix(1_800_000_000, 0)
			a := NewAuditor(AuditorConfig{Store: st, Now: func() time.Time { return now }})
			batch := make([]auditItem, 0, size)
			n := 0
			cpu := cputime.Start()
			for b.Loop() {
				t := now.Add(time.Duration(n) * time.Microsecond)
				batch = append(batch, auditItem{rec: &store.AuditRecord{ID: a.newID(t), Time: t, Kind: AuditKind, Decision: DecisionIssued,
					Fields: fmt.Sprintf(`{"cluster":"c1","namespace":"carts","serviceAccount":"carts","podName":"carts-%d","podUid":"0b6c1f2e-%08d","node":"node-1","associationId":"a-0000000000000000a","roleArn":"arn:aws:iam::123456789012:role/pod","sessionName":"eks-c1-carts-%d-0b6c1f2e","accessKeyId":"ASIA%016d","expiration":"2027-01-01T00:00:00Z","caller":"arn:aws:sts::123456789012:assumed-role/node/i-1","sourceIp":"10.0.0.7","requestId":"%d"}`, n, n, n, n, n)}})
				n++
				if len(batch) == size {
					a.flush(context.Background(), batch, false)
					batch = batch[:0]
				}
			}
			a.flush(context.Background(), batch, true)
			cpu.Report(b)
		})
	}
}

// BenchmarkAuditFieldsJSON: an issuance's audit fields by
// marshalAuditFields and by json.Marshal, same run.
func BenchmarkAuditFieldsJSON(b *testing.B) {
	f := &auditFields{Cluster: "c1", Namespace: "carts", ServiceAccount: "carts", PodName: "carts-7c9d8b6d4-x2x8p", PodUID: "0b6c1f2e-7a43-4c1e-9d2b-5f0e8a1c3d4b",
		Node: "node-1", AssociationID: "a-0000000000000000a", Role: "arn:aws:iam::123456789012:role/pod", SessionName: "eks-c1-carts-7c9d-0b6c1f2e-7a43-4c1e-9d2b",
		AccessKeyID: "ASIAEXAMPLEEXAMPLE01", Expires: time.Unix(1_800_000_000, 0).UTC(), Caller: "arn:aws:sts::123456789012:assumed-role/node/i-1",
		SourceIP: "10.0.0.7", RequestID: "4b1c7a3e-0f5d-4e1a-9c2b-8d7e6f5a4b3c"}
	b.Run("fast", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			marshalAuditFields(f)
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			json.Marshal(f)
		}
	})
}
