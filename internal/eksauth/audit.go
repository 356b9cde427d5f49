package eksauth

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/podid/podid/internal/awsproto"
	"github.com/podid/podid/internal/store"
)

// auditFields are the facts recorded for one exchange.
type auditFields struct {
	Cluster        string    `json:"cluster"`
	Namespace      string    `json:"namespace,omitempty"`
	ServiceAccount string    `json:"serviceAccount,omitempty"`
	PodName        string    `json:"podName,omitempty"`
	PodUID         string    `json:"podUid,omitempty"`
	Node           string    `json:"node,omitempty"`
	AssociationID  string    `json:"associationId,omitempty"`
	Role           string    `json:"roleArn,omitempty"`
	TargetRole     string    `json:"targetRoleArn,omitempty"`
	SessionName    string    `json:"sessionName,omitempty"`
	AccessKeyID    string    `json:"accessKeyId,omitempty"`
	Expires        time.Time `json:"expiration,omitzero"`
	Caller         string    `json:"caller,omitempty"`
	Code           string    `json:"errorCode,omitempty"`
	Reason         string    `json:"reason,omitempty"`
}

// AuditKind is the kind of the records EKS Auth writes.
const AuditKind = "eks-auth:AssumeRoleForPodIdentity"

func (s *Service) audit(now time.Time, f *auditFields, err error) {
	if s.cfg.Audit == nil {
		return
	}
	decision := "issued"
	if err != nil {
		decision = "refused"
		var ae *awsproto.Error
		if errors.As(err, &ae) {
			f.Code = ae.Code
			if f.Reason == "" {
				f.Reason = ae.Message
			}
		}
	}
	fields, _ := json.Marshal(f)
	var id [8]byte
	rand.Read(id[:])
	s.cfg.Audit.Record(&store.AuditRecord{
		ID:       hex.EncodeToString(id[:]),
		Time:     now,
		Kind:     AuditKind,
		Decision: decision,
		Reason:   f.Reason,
		Fields:   string(fields),
	})
}

// Auditor writes audit records to the store in batches (so the exchange's
// hot path does not wait for a disk write) and, optionally, as JSON lines
// to a writer. Record blocks when the buffer is full rather than dropping.
type Auditor struct {
	st        store.Store
	lines     io.Writer
	retention time.Duration
	now       func() time.Time
	logger    *slog.Logger
	ch        chan *store.AuditRecord
	done      chan struct{}
	linesMu   sync.Mutex
}

// AuditorConfig configures an Auditor.
type AuditorConfig struct {
	Store store.Store
	// Lines, if set, receives every record as one JSON line.
	Lines io.Writer
	// Retention deletes records older than this (0 keeps them forever).
	Retention time.Duration
	Now       func() time.Time
	Logger    *slog.Logger
}

// NewAuditor returns an auditor; call Run to start writing.
func NewAuditor(cfg AuditorConfig) *Auditor {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Auditor{st: cfg.Store, lines: cfg.Lines, retention: cfg.Retention, now: cfg.Now, logger: cfg.Logger, ch: make(chan *store.AuditRecord, 8192), done: make(chan struct{})}
}

// Record queues r for writing.
func (a *Auditor) Record(r *store.AuditRecord) {
	a.ch <- r
}

// Run writes queued records until ctx ends, then flushes what is queued.
func (a *Auditor) Run(ctx context.Context) {
	defer close(a.done)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	prune := time.NewTicker(time.Hour)
	defer prune.Stop()
	var batch []*store.AuditRecord
	flush := func() {
		if len(batch) == 0 {
			return
		}
		wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		err := a.st.Update(wctx, func(tx store.Tx) error {
			for _, r := range batch {
				if err := tx.AppendAudit(r); err != nil {
					return err
				}
			}
			return nil
		})
		cancel()
		if err != nil {
			a.logger.Error("writing audit records", "count", len(batch), "err", err)
		}
		a.writeLines(batch)
		batch = batch[:0]
	}
	for {
		select {
		case r := <-a.ch:
			batch = append(batch, r)
			if len(batch) >= 512 {
				flush()
			}
		case <-tick.C:
			flush()
		case <-prune.C:
			a.prune(ctx)
		case <-ctx.Done():
			for {
				select {
				case r := <-a.ch:
					batch = append(batch, r)
				default:
					flush()
					return
				}
			}
		}
	}
}

// Flushed is closed when Run has returned.
func (a *Auditor) Flushed() <-chan struct{} { return a.done }

func (a *Auditor) writeLines(batch []*store.AuditRecord) {
	if a.lines == nil {
		return
	}
	a.linesMu.Lock()
	defer a.linesMu.Unlock()
	for _, r := range batch {
		b, _ := json.Marshal(RecordJSON(r))
		a.lines.Write(append(b, '\n'))
	}
}

func (a *Auditor) prune(ctx context.Context) {
	if a.retention <= 0 {
		return
	}
	cutoff := a.now().Add(-a.retention)
	err := a.st.Update(ctx, func(tx store.Tx) error {
		_, err := tx.DeleteAuditBefore(cutoff)
		return err
	})
	if err != nil {
		a.logger.Error("pruning audit records", "err", err)
	}
}

// RecordJSON is the JSON-lines form of an audit record: its fields merged
// with time, kind and decision.
func RecordJSON(r *store.AuditRecord) map[string]any {
	m := map[string]any{}
	json.Unmarshal([]byte(r.Fields), &m)
	m["time"] = r.Time.UTC().Format(time.RFC3339Nano)
	m["kind"] = r.Kind
	m["decision"] = r.Decision
	m["id"] = r.ID
	return m
}
