// Package audit reads podid's audit records (EKS Auth issuances and
// refusals, gateway decisions) with filters, page by page: the REST
// extension GET /podid/v1/audit and `podid audit` are built on it.
package audit

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/podid/podid/internal/store"
)

// Decisions a filter may name: EKS Auth's and the gateway's.
var Decisions = []string{"issued", "refused", "allowed", "denied", "would-deny"}

// Filter selects records. Empty fields match everything.
type Filter struct {
	// Since and Until bound the record's time (Since inclusive, Until
	// exclusive); zero is unbounded.
	Since, Until time.Time
	// Cluster, Namespace and ServiceAccount match the record's fields of
	// the same names (pods' EKS Auth exchanges and gateway calls).
	Cluster, Namespace, ServiceAccount string
	// Decision is one of Decisions.
	Decision string
	// Kind matches the record's kind exactly (e.g. gateway:dynamodb) or,
	// ending in ":", its prefix (gateway:).
	Kind string
}

// Validate checks the filter's values.
func (f Filter) Validate() error {
	if f.Decision != "" && !isDecision(f.Decision) {
		return fmt.Errorf("decision must be one of %s", strings.Join(Decisions, ", "))
	}
	if !f.Since.IsZero() && !f.Until.IsZero() && !f.Until.After(f.Since) {
		return errors.New("until must be after since")
	}
	for _, s := range []string{f.Cluster, f.Namespace, f.ServiceAccount, f.Kind} {
		if len(s) > 256 {
			return errors.New("filter values are at most 256 characters")
		}
	}
	return nil
}

func isDecision(d string) bool {
	for _, x := range Decisions {
		if x == d {
			return true
		}
	}
	return false
}

// subject is the part of a record's fields filters look at.
type subject struct {
	Cluster        string `json:"cluster"`
	Namespace      string `json:"namespace"`
	ServiceAccount string `json:"serviceAccount"`
}

// Match reports whether r passes f.
func (f Filter) Match(r *store.AuditRecord) bool {
	if !f.Since.IsZero() && r.Time.Before(f.Since) {
		return false
	}
	if !f.Until.IsZero() && !r.Time.Before(f.Until) {
		return false
	}
	if f.Decision != "" && r.Decision != f.Decision {
		return false
	}
	if f.Kind != "" {
		if strings.HasSuffix(f.Kind, ":") {
			if !strings.HasPrefix(r.Kind, f.Kind) {
				return false
			}
		} else if r.Kind != f.Kind {
			return false
		}
	}
	if f.Cluster == "" && f.Namespace == "" && f.ServiceAccount == "" {
		return true
	}
	var s subject
	if json.Unmarshal([]byte(r.Fields), &s) != nil {
		return false
	}
	return (f.Cluster == "" || s.Cluster == f.Cluster) && (f.Namespace == "" || s.Namespace == f.Namespace) &&
		(f.ServiceAccount == "" || s.ServiceAccount == f.ServiceAccount)
}

// Cursor is a position in the records' order (time, then ID): a page
// continues after it.
type Cursor struct {
	Time time.Time
	ID   string
}

// IsZero reports whether c is the start.
func (c Cursor) IsZero() bool { return c.Time.IsZero() && c.ID == "" }

// Token encodes c for a client ("" for the start).
func (c Cursor) Token() string {
	if c.IsZero() {
		return ""
	}
	return base64.RawURLEncoding.EncodeToString([]byte(c.Time.UTC().Format(time.RFC3339Nano) + "|" + c.ID))
}

// ParseToken decodes a Token.
func ParseToken(tok string) (Cursor, error) {
	if tok == "" {
		return Cursor{}, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil || len(b) > 256 {
		return Cursor{}, errors.New("the next token is not valid")
	}
	ts, id, ok := strings.Cut(string(b), "|")
	t, err := time.Parse(time.RFC3339Nano, ts)
	if !ok || err != nil || id == "" {
		return Cursor{}, errors.New("the next token is not valid")
	}
	return Cursor{Time: t, ID: id}, nil
}

// after reports whether r comes after c.
func (c Cursor) after(r *store.AuditRecord) bool {
	return c.IsZero() || r.Time.After(c.Time) || r.Time.Equal(c.Time) && r.ID > c.ID
}

// Page is one read of records.
type Page struct {
	Records []*store.AuditRecord
	// Next is where the next read continues: after the last record read
	// (matching or not), or the given cursor when nothing was read.
	Next Cursor
	// More says stored records remain past Next (read again at once);
	// false means the end was reached (a follower waits for new ones).
	More bool
}

// Scan bounds: records read from the store per call, and per store read.
const (
	MaxScan   = 20000
	storeRead = 1000
)

// Read returns up to limit records matching f after cursor, oldest first.
// It reads at most MaxScan records from the store; Next and More tell
// where to continue.
func Read(ctx context.Context, st store.Store, f Filter, cursor Cursor, limit int) (*Page, error) {
	return read(ctx, st, f, cursor, limit, storeRead)
}

// read is Read with the number of records asked of the store per read
// (batch; tests make it small to reach its edges with few records).
func read(ctx context.Context, st store.Store, f Filter, cursor Cursor, limit, batch int) (*Page, error) {
	if limit <= 0 {
		limit = batch
	}
	since := f.Since
	if !cursor.IsZero() && cursor.Time.After(since) {
		since = cursor.Time
	}
	p := &Page{Next: cursor}
	scanned := 0
	read := batch
	for {
		var recs []*store.AuditRecord
		err := st.View(ctx, func(tx store.Tx) error {
			var err error
			recs, err = tx.ListAudit(since, read)
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("reading audit records: %w", err)
		}
		progressed := false
		for _, r := range recs {
			if !p.Next.after(r) {
				continue
			}
			if !f.Until.IsZero() && !r.Time.Before(f.Until) {
				return p, nil // past the window: the end
			}
			progressed = true
			scanned++
			p.Next = Cursor{Time: r.Time, ID: r.ID}
			if f.Match(r) {
				p.Records = append(p.Records, r)
			}
			if len(p.Records) >= limit || scanned >= MaxScan {
				p.More = true
				return p, nil
			}
		}
		if len(recs) < read {
			return p, nil
		}
		if !progressed {
			// A full read of one timestamp, all seen: read more of it.
			read *= 2
			continue
		}
		since = p.Next.Time
	}
}
