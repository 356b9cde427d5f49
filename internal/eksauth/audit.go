package eksauth

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/podid/podid/internal/auth"
	"github.com/podid/podid/internal/awsproto"
	"github.com/podid/podid/internal/store"
)

// auditFields are the facts recorded for one exchange. Secrets (the token,
// the secret key, the session token) are never among them.
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
	SourceIP       string    `json:"sourceIp,omitempty"`
	RequestID      string    `json:"requestId,omitempty"`
	Code           string    `json:"errorCode,omitempty"`
	Reason         string    `json:"reason,omitempty"`

	// kind is the record's kind (AuditKind when empty); not a field.
	kind string
	// callerKey is the caller's fair-limit key once the call passed its
	// caller's check (a refusal is then charged to it); not recorded.
	callerKey string
}

// AuditKind is the kind of the records EKS Auth writes.
const AuditKind = "eks-auth:AssumeRoleForPodIdentity"

// Audit decisions.
const (
	DecisionIssued  = "issued"
	DecisionRefused = "refused"
)

// audit records an exchange. An issuance's record is written durably
// before audit returns (group commit, Auditor.RecordDurable); when it
// cannot be, audit returns the error to answer instead of the
// credentials, so no credential leaves the server unaudited. Refusals are
// queued without waiting.
func (s *Service) audit(ctx context.Context, now time.Time, f *auditFields, err error) error {
	if s.cfg.Audit == nil {
		return nil
	}
	decision := DecisionIssued
	if err != nil {
		decision = DecisionRefused
		var ae *awsproto.Error
		if errors.As(err, &ae) {
			f.Code = ae.Code
			if f.Reason == "" {
				f.Reason = ae.Message
			}
		} else if f.Reason == "" {
			f.Reason = "internal error"
		}
	}
	fields := marshalAuditFields(f)
	kind := AuditKind
	if f.kind != "" {
		kind = f.kind
	}
	r := &store.AuditRecord{
		ID:       s.cfg.Audit.newID(now),
		Time:     now.UTC(),
		Kind:     kind,
		Decision: decision,
		Reason:   f.Reason,
		Fields:   string(fields),
	}
	if decision != DecisionIssued {
		s.cfg.Audit.Record(r)
		return nil
	}
	if werr := s.cfg.Audit.RecordDurable(ctx, r); werr != nil {
		return awsproto.Internal("InternalServerException", fmt.Errorf("audit record of %s not written, credentials withheld: %w", f.AccessKeyID, werr))
	}
	return nil
}

// auditRequestRefusal records a request refused before it became an
// exchange (a body that is not JSON, no token).
func (s *Service) auditRequestRefusal(ctx context.Context, cluster string, err error) {
	f := &auditFields{Cluster: truncate(cluster, 100), RequestID: awsproto.RequestIDFrom(ctx), SourceIP: auth.RequestInfoFrom(ctx).SourceIP}
	if p := auth.PrincipalFrom(ctx); p != nil {
		f.Caller = p.ARN
	}
	_ = s.audit(ctx, s.cfg.Now(), f, err) // a refusal: never waits, never fails
}

// Auditor writes audit records to the store in batches and, optionally,
// as JSON lines to a writer. Issuances are written by group commit
// (RecordDurable): the exchange waits until the transaction holding its
// record has committed, and every record queued while one transaction
// commits goes into the next, so a storm of exchanges shares a few
// commits instead of paying one each, and no credential is handed out
// whose record could still be lost. Refusals (Record) are queued without
// waiting and written with the next commit or within 100 ms. Record
// blocks while the queue is full, so that no record is lost to a burst;
// records are dropped (and counted) only after Close.
type Auditor struct {
	st        store.Store
	lines     io.Writer
	retention time.Duration
	now       func() time.Time
	logger    *slog.Logger
	ch        chan auditItem
	done      chan struct{}
	linesMu   sync.Mutex
	closed    atomic.Bool
	dropped   atomic.Int64
	written   atomic.Int64
	commits   atomic.Int64
	waiters   atomic.Int64
	seq       atomic.Uint32
	instance  [4]byte
	window    time.Duration
	// commitEvery: AuditorConfig.CommitEvery.
	commitEvery time.Duration

	// agg (the writer goroutine's only) holds the open aggregation
	// windows of repeated refusals, by aggregation key.
	agg map[string]*aggWindow
}

// auditItem is one queued record; done, when set, receives the result of
// the commit that wrote it (nil once it is durable).
type auditItem struct {
	rec  *store.AuditRecord
	done chan error
}

// ErrAuditUnavailable is RecordDurable's answer when the writer has
// stopped: the record was not written.
var ErrAuditUnavailable = errors.New("eksauth: the audit writer has stopped")

// aggWindow is one refusal's aggregation window: rec is the record
// stored for its first event; later identical refusals until end only
// add to its count.
type aggWindow struct {
	rec     *store.AuditRecord
	end     time.Time
	total   int       // events in the window, the first included
	pending int       // events not yet added to the stored count
	last    time.Time // the last event's time
}

// Aggregation defaults.
const (
	// DefaultAggregateWindow is how long identical refusals are counted
	// into one audit record.
	DefaultAggregateWindow = time.Minute
	// maxAggWindows bounds the open windows; past it, refusals with a new
	// key are written one record each until windows close.
	maxAggWindows = 10000
)

// newID returns a record ID that sorts by time, then by arrival: 16 hex
// digits of the time in nanoseconds, 8 of a per-auditor sequence number
// and 8 random ones (unique across restarts). IDs in time order keep the
// store's inserts at the end of its index instead of scattered through it.
func (a *Auditor) newID(t time.Time) string {
	var b [16]byte
	binary.BigEndian.PutUint64(b[0:8], uint64(t.UnixNano()))
	binary.BigEndian.PutUint32(b[8:12], a.seq.Add(1))
	copy(b[12:], a.instance[:])
	return hex.EncodeToString(b[:])
}

// AuditorConfig configures an Auditor.
type AuditorConfig struct {
	Store store.Store
	// Lines, if set, receives every record as one JSON line (RecordJSON).
	Lines io.Writer
	// Retention deletes records older than this, at start and then every
	// PruneEvery (0 keeps them forever).
	Retention time.Duration
	Now       func() time.Time
	Logger    *slog.Logger
	// QueueSize is how many records may wait for the writer (default 8192).
	QueueSize int
	// CommitEvery is the least time between two commits that exchanges
	// wait for while the writer is busy (DefaultCommitEvery when 0): the
	// exchanges that arrive meanwhile share the next commit. A commit
	// costs SQLite about 0.2 ms of CPU whatever its size
	// (BenchmarkAuditIssuanceCommit), so this bounds what durability
	// costs under a storm; an exchange waits at most this long beyond its
	// own commit. A lone or sequential caller's record is committed at
	// once. Negative: always commit at once.
	CommitEvery time.Duration
	// AggregateWindow: identical refusals (same kind, reason and fields
	// but the request ID) within this time of the first are counted into
	// its record (Count, LastTime) instead of one record each; the JSON
	// lines get the first record at once and, when the window closes with
	// more than one event, the record again with its count. Issuances are
	// always one record each. 0: DefaultAggregateWindow; negative: off.
	AggregateWindow time.Duration
}

// DefaultCommitEvery is the default AuditorConfig.CommitEvery.
const DefaultCommitEvery = 10 * time.Millisecond

// pruneEvery is how often old records are deleted.
const pruneEvery = time.Hour

// NewAuditor returns an auditor; call Run to start writing.
func NewAuditor(cfg AuditorConfig) *Auditor {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.QueueSize <= 0 {
		cfg.QueueSize = 8192
	}
	if cfg.AggregateWindow == 0 {
		cfg.AggregateWindow = DefaultAggregateWindow
	}
	if cfg.CommitEvery == 0 {
		cfg.CommitEvery = DefaultCommitEvery
	}
	a := &Auditor{st: cfg.Store, lines: cfg.Lines, retention: cfg.Retention, now: cfg.Now, logger: cfg.Logger,
		ch: make(chan auditItem, cfg.QueueSize), done: make(chan struct{}),
		window: cfg.AggregateWindow, commitEvery: cfg.CommitEvery, agg: map[string]*aggWindow{}}
	rand.Read(a.instance[:])
	return a
}

// Record queues r for writing without waiting for it to be written. It
// blocks while the queue is full; after Run has returned it drops r
// (Dropped counts such records).
func (a *Auditor) Record(r *store.AuditRecord) {
	if a.closed.Load() {
		a.dropped.Add(1)
		return
	}
	select {
	case a.ch <- auditItem{rec: r}:
	case <-a.done:
		a.dropped.Add(1)
	}
}

// RecordDurable queues r and returns once the transaction that wrote it
// has committed (nil), or with the reason it was not written: the store
// refused the transaction, the writer has stopped (ErrAuditUnavailable),
// or ctx ended first (the record may still be written). The writer
// commits a waiting record with everything queued by then (up to 512
// records) in one transaction; under load at most once per CommitEvery
// (see Run).
func (a *Auditor) RecordDurable(ctx context.Context, r *store.AuditRecord) error {
	if a.closed.Load() {
		a.dropped.Add(1)
		return ErrAuditUnavailable
	}
	done := make(chan error, 1)
	select {
	case a.ch <- auditItem{rec: r, done: done}:
	case <-a.done:
		a.dropped.Add(1)
		return ErrAuditUnavailable
	case <-ctx.Done():
		return fmt.Errorf("eksauth: audit record not queued: %w", ctx.Err())
	}
	a.waiters.Add(1)
	defer a.waiters.Add(-1)
	select {
	case err := <-done:
		return err
	case <-a.done:
		// Queued after the writer's last drain, or answered by it.
		select {
		case err := <-done:
			return err
		default:
			a.dropped.Add(1)
			return ErrAuditUnavailable
		}
	case <-ctx.Done():
		return fmt.Errorf("eksauth: audit record not yet committed: %w", ctx.Err())
	}
}

// Dropped is how many records arrived after the writer stopped.
func (a *Auditor) Dropped() int64 { return a.dropped.Load() }

// Written is how many records the writer has committed to the store.
func (a *Auditor) Written() int64 { return a.written.Load() }

// Waiting is how many RecordDurable calls have queued their record and
// wait for its commit.
func (a *Auditor) Waiting() int64 { return a.waiters.Load() }

// Commits is how many transactions the writer has committed records in.
func (a *Auditor) Commits() int64 { return a.commits.Load() }

// maxBatch is the most records one store transaction writes.
const maxBatch = 512

// Run writes queued records until ctx ends, then flushes what is queued.
// Records someone waits for (RecordDurable) are committed with whatever
// else is queued: at once, unless the last such commit was busy (it held
// several of them, or more queued while it ran) and is younger than
// AuditorConfig.CommitEvery, in which case when it is that old (or the
// batch is full). The others wait for a full batch, a waiting record, or
// the 100 ms tick.
func (a *Auditor) Run(ctx context.Context) {
	defer close(a.done)
	defer a.closed.Store(true)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	prune := time.NewTicker(pruneEvery)
	defer prune.Stop()
	a.prune(ctx)
	var batch []auditItem
	waiting := 0             // records in batch someone waits for
	var lastCommit time.Time // wall clock: paces commits, whatever a.now says
	busy := false            // the last commit was shared, or records queued during it
	pace := time.NewTimer(time.Hour)
	pace.Stop()
	var paceC <-chan time.Time
	flush := func() {
		a.flush(ctx, batch, false)
		clear(batch)
		batch = batch[:0]
		if waiting > 0 {
			lastCommit = time.Now()
			busy = waiting > 1 || len(a.ch) > 0
		}
		waiting = 0
		pace.Stop()
		paceC = nil
	}
	defer a.flush(ctx, nil, true)
	add := func(it auditItem) {
		batch = append(batch, it)
		if it.done != nil {
			waiting++
		}
	}
	// commit writes a full batch at once. A batch someone waits for is
	// written at once too, unless the last such commit was busy (shared by
	// several exchanges, or others queued while it ran) and is less than
	// commitEvery old: then when it is commitEvery old. So a lone or
	// sequential caller waits for its own commit only, and a storm's
	// exchanges share one commit per commitEvery.
	commit := func() {
		if len(batch) >= maxBatch {
			flush()
			return
		}
		if waiting == 0 {
			return
		}
		wait := a.commitEvery - time.Since(lastCommit)
		if !busy || wait <= 0 {
			flush()
			return
		}
		if paceC == nil {
			pace.Reset(wait)
			paceC = pace.C
		}
	}
	for {
		select {
		case it := <-a.ch:
			add(it)
			// Take what else is queued, up to a batch, before writing.
			for len(batch) < maxBatch {
				select {
				case it := <-a.ch:
					add(it)
					continue
				default:
				}
				break
			}
			commit()
		case <-paceC:
			paceC = nil
			flush()
		case <-tick.C:
			flush()
		case <-prune.C:
			a.prune(ctx)
		case <-ctx.Done():
			a.closed.Store(true)
			for {
				select {
				case it := <-a.ch:
					add(it)
					if len(batch) >= maxBatch {
						flush()
					}
				default:
					flush()
					return
				}
			}
		}
	}
}

// aggKey is the key under which r is aggregated: refusals only, by kind,
// reason and every field but the request ID.
func aggKey(r *store.AuditRecord) (string, bool) {
	if r.Decision != DecisionRefused {
		return "", false
	}
	return r.Kind + "\x00" + r.Reason + "\x00" + withoutRequestID(r.Fields), true
}

// withoutRequestID removes the requestId member from fields (JSON written
// by json.Marshal, so members are in a fixed order): cut from the text
// when its value has no escapes, else by decoding and re-encoding.
func withoutRequestID(fields string) string {
	const member = `"requestId":"`
	i := strings.Index(fields, member)
	if i < 0 {
		return fields
	}
	j := i + len(member)
	k := strings.IndexByte(fields[j:], '"')
	if k >= 0 && strings.IndexByte(fields[j:j+k], '\\') < 0 {
		end := j + k + 1
		if end < len(fields) && fields[end] == ',' {
			end++
		} else if i > 0 && fields[i-1] == ',' {
			i--
		}
		return fields[:i] + fields[end:]
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(fields), &m); err != nil {
		return fields
	}
	delete(m, "requestId")
	b, err := json.Marshal(m)
	if err != nil {
		return fields
	}
	return string(b)
}

// flush writes batch: new records appended, repeated refusals added to
// their window's record, in one transaction; then the JSON lines, and
// the summary line of every window that has closed (all of them when
// final).
func (a *Auditor) flush(ctx context.Context, batch []auditItem, final bool) {
	writes := make([]*store.AuditRecord, 0, len(batch))
	var err error
	defer func() {
		for _, it := range batch {
			if it.done != nil {
				it.done <- err
			}
		}
	}()
	for _, it := range batch {
		r := it.rec
		key, ok := "", false
		if a.window > 0 {
			key, ok = aggKey(r)
		}
		if ok {
			if w := a.agg[key]; w != nil && r.Time.Before(w.end) && !r.Time.Before(w.rec.Time) {
				w.total++
				w.pending++
				if r.Time.After(w.last) {
					w.last = r.Time
				}
				continue
			}
			if len(a.agg) < maxAggWindows || a.agg[key] != nil {
				if old := a.agg[key]; old != nil {
					a.closeWindow(old)
				}
				a.agg[key] = &aggWindow{rec: r, end: r.Time.Add(a.window), total: 1, last: r.Time}
			}
		}
		writes = append(writes, r)
	}
	var counted []*aggWindow
	for _, w := range a.agg {
		if w.pending > 0 {
			counted = append(counted, w)
		}
	}
	if len(writes) > 0 || len(counted) > 0 {
		wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		err = a.st.Update(wctx, func(tx store.Tx) error {
			for _, r := range writes {
				if err := tx.AppendAudit(r); err != nil {
					return err
				}
			}
			for _, w := range counted {
				if err := tx.AddAuditCount(w.rec.ID, w.pending, w.last); err != nil {
					return err
				}
			}
			return nil
		})
		cancel()
		if err != nil {
			a.logger.Error("writing audit records", "count", len(writes), "aggregated", len(counted), "err", err)
			err = fmt.Errorf("eksauth: writing audit records: %w", err)
		} else {
			a.written.Add(int64(len(writes)))
			a.commits.Add(1)
		}
		for _, w := range counted {
			w.pending = 0
		}
		a.writeLines(writes)
	}
	now := a.now()
	for key, w := range a.agg {
		if final || !now.Before(w.end) {
			a.closeWindow(w)
			delete(a.agg, key)
		}
	}
}

// closeWindow writes the summary line of a window that counted more than
// its first event: the record again, with its count and last time.
func (a *Auditor) closeWindow(w *aggWindow) {
	if w.total <= 1 {
		return
	}
	r := *w.rec
	r.Count, r.LastTime = w.total, w.last
	a.writeLines([]*store.AuditRecord{&r})
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
		b, err := json.Marshal(RecordJSON(r))
		if err != nil {
			continue
		}
		if _, err := a.lines.Write(append(b, '\n')); err != nil {
			a.logger.Error("writing audit lines", "err", err)
			return
		}
	}
}

func (a *Auditor) prune(ctx context.Context) {
	if a.retention <= 0 {
		return
	}
	cutoff := a.now().Add(-a.retention)
	// A prune that has started finishes even if the server is stopping.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	var n int
	err := a.st.Update(ctx, func(tx store.Tx) error {
		var err error
		n, err = tx.DeleteAuditBefore(cutoff)
		return err
	})
	if err != nil {
		a.logger.Error("pruning audit records", "err", err)
		return
	}
	if n > 0 {
		a.logger.Info("pruned audit records", "count", n, "before", cutoff.UTC().Format(time.RFC3339))
	}
}

// RecordJSON is the JSON-lines form of an audit record: its fields merged
// with id, time (RFC 3339, UTC), kind and decision.
func RecordJSON(r *store.AuditRecord) map[string]any {
	m := map[string]any{}
	if r.Fields != "" {
		if err := json.Unmarshal([]byte(r.Fields), &m); err != nil {
			m = map[string]any{"fields": r.Fields}
		}
	}
	if _, ok := m["reason"]; !ok && r.Reason != "" {
		m["reason"] = r.Reason
	}
	m["time"] = r.Time.UTC().Format(time.RFC3339Nano)
	if r.Count > 1 {
		m["count"] = r.Count
		m["lastTime"] = r.LastTime.UTC().Format(time.RFC3339Nano)
	}
	m["kind"] = r.Kind
	m["decision"] = r.Decision
	m["id"] = r.ID
	return m
}

// ExportOptions select the records ExportJSONLines writes.
type ExportOptions struct {
	// Since is the earliest time (zero: from the first record).
	Since time.Time
	// Kind keeps only records of this kind ("" for every kind).
	Kind string
	// Limit stops after this many records (0: no limit).
	Limit int
}

// exportPage is how many records one store read returns.
const exportPage = 1000

// ExportJSONLines writes the stored audit records, oldest first, to w as
// JSON lines (RecordJSON), and returns how many it wrote.
func ExportJSONLines(ctx context.Context, st store.Store, w io.Writer, opt ExportOptions) (int, error) {
	since := opt.Since
	var lastTime time.Time
	var lastID string
	page := exportPage
	n := 0
	enc := json.NewEncoder(w)
	for {
		var recs []*store.AuditRecord
		err := st.View(ctx, func(tx store.Tx) error {
			var err error
			recs, err = tx.ListAudit(since, page)
			return err
		})
		if err != nil {
			return n, fmt.Errorf("reading audit records: %w", err)
		}
		progressed := false
		for _, r := range recs {
			if !lastTime.IsZero() && (r.Time.Before(lastTime) || r.Time.Equal(lastTime) && r.ID <= lastID) {
				continue // seen on the previous page
			}
			progressed = true
			lastTime, lastID = r.Time, r.ID
			if opt.Kind != "" && r.Kind != opt.Kind {
				continue
			}
			if err := enc.Encode(RecordJSON(r)); err != nil {
				return n, fmt.Errorf("writing audit records: %w", err)
			}
			n++
			if opt.Limit > 0 && n >= opt.Limit {
				return n, nil
			}
		}
		if len(recs) < page {
			return n, nil
		}
		if !progressed {
			// A full page of records with one timestamp, all seen: read a
			// larger page from the same time.
			page *= 2
			continue
		}
		since = lastTime
		page = exportPage
	}
}
