package eksauth

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/podid/podid/internal/awsproto"
	"github.com/podid/podid/internal/store"
)

// gatedStore holds every Update until gate is closed (when gate is set)
// and fails those that append audit records when failAudit is set.
type gatedStore struct {
	store.Store
	gate      chan struct{}
	entered   chan struct{}
	failAudit bool
}

func (g *gatedStore) Update(ctx context.Context, fn func(store.Tx) error) error {
	if g.entered != nil {
		select {
		case g.entered <- struct{}{}:
		default:
		}
	}
	if g.gate != nil {
		<-g.gate
	}
	if g.failAudit {
		return errors.New("disk full")
	}
	return g.Store.Update(ctx, fn)
}

// podToken is a token of the carts service account for the pod with uid.
func (u *unit) podToken(t testing.TB, uid string) string {
	c := podClaims(u.now, "carts")
	c["kubernetes.io"].(map[string]any)["pod"].(map[string]any)["uid"] = uid
	return u.token(t, c)
}

// auditedPods returns the pod UIDs of the stored issuance records.
func auditedPods(t *testing.T, st store.Store) map[string]bool {
	t.Helper()
	var recs []*store.AuditRecord
	if err := st.View(context.Background(), func(tx store.Tx) error {
		var err error
		recs, err = tx.ListAudit(time.Time{}, 0)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, r := range recs {
		if r.Decision != DecisionIssued {
			continue
		}
		i := strings.Index(r.Fields, `"podUid":"`)
		if i < 0 {
			t.Fatalf("issuance record without podUid: %s", r.Fields)
		}
		rest := r.Fields[i+len(`"podUid":"`):]
		got[rest[:strings.IndexByte(rest, '"')]] = true
	}
	return got
}

// TestIssuanceDurableBeforeAnswer: an exchange answers only once its
// issuance record is committed, and the records of exchanges that queue
// while a commit is in progress share the next commit (group commit).
func TestIssuanceDurableBeforeAnswer(t *testing.T) {
	u := newUnit(t, nil)
	gs := &gatedStore{Store: u.st, gate: make(chan struct{}), entered: make(chan struct{}, 1)}
	a := NewAuditor(AuditorConfig{Store: gs, Now: func() time.Time { return unitNow }, AggregateWindow: -1})
	u.svc.cfg.Audit = a
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); <-a.Flushed() }()
	go a.Run(ctx)

	const n = 11
	toks := make([]string, n)
	for i := range toks {
		toks[i] = u.podToken(t, fmt.Sprintf("uid-%d", i))
	}
	type result struct {
		i   int
		err error
	}
	results := make(chan result, n)
	exchange := func(i int) {
		out, err := u.svc.AssumeRoleForPodIdentity(agentCtx("agent", nil), &Input{ClusterName: "c1", Token: toks[i]})
		if err == nil && out == nil {
			err = errors.New("no output")
		}
		if err == nil {
			// Durable when answered: the record is in the store now.
			if !auditedPods(t, u.st)[fmt.Sprintf("uid-%d", i)] {
				err = fmt.Errorf("exchange %d answered before its record was stored", i)
			}
		}
		results <- result{i, err}
	}
	go exchange(0)
	<-gs.entered // the first record's commit is held at the gate
	var wg sync.WaitGroup
	for i := 1; i < n; i++ {
		wg.Add(1)
		go func() { defer wg.Done(); exchange(i) }()
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(a.ch) < n-1 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if len(a.ch) != n-1 {
		t.Fatalf("%d records queued behind the held commit, want %d", len(a.ch), n-1)
	}
	select {
	case r := <-results:
		t.Fatalf("exchange %d answered (%v) while its commit was held", r.i, r.err)
	default:
	}
	close(gs.gate)
	for range n {
		if r := <-results; r.err != nil {
			t.Error(r.err)
		}
	}
	wg.Wait()
	if got := a.Commits(); got != 2 {
		t.Errorf("Commits = %d, want 2 (one held, then the %d queued behind it together)", got, n-1)
	}
	if got := len(auditedPods(t, u.st)); got != n {
		t.Errorf("%d issuance records stored, want %d", got, n)
	}
}

// TestIssuanceWithheldWhenAuditFails: when the issuance's record cannot
// be committed, or the writer has stopped, the exchange answers
// InternalServerException without credentials.
func TestIssuanceWithheldWhenAuditFails(t *testing.T) {
	u := newUnit(t, nil)
	gs := &gatedStore{Store: u.st, failAudit: true}
	a := NewAuditor(AuditorConfig{Store: gs, Now: func() time.Time { return unitNow }})
	u.svc.cfg.Audit = a
	ctx, cancel := context.WithCancel(context.Background())
	go a.Run(ctx)
	out, err := u.svc.AssumeRoleForPodIdentity(agentCtx("agent", nil), &Input{ClusterName: "c1", Token: u.podToken(t, "uid-fail")})
	if out != nil || code(err) != "InternalServerException" {
		t.Errorf("store failing: got %v, %v; want no output and InternalServerException", out, err)
	}
	var ae *awsproto.Error
	if !errors.As(err, &ae) || ae.Status != 500 || ae.Cause == nil || !strings.Contains(ae.Cause.Error(), "disk full") || strings.Contains(ae.Message, "disk full") {
		t.Errorf("error %#v: want a 500 whose cause (logged) names the store's error and whose message does not", err)
	}
	cancel()
	<-a.Flushed()
	out, err = u.svc.AssumeRoleForPodIdentity(agentCtx("agent", nil), &Input{ClusterName: "c1", Token: u.podToken(t, "uid-stopped")})
	if out != nil || code(err) != "InternalServerException" {
		t.Errorf("writer stopped: got %v, %v; want no output and InternalServerException", out, err)
	}
	// A refusal never waits for the writer and keeps its own answer.
	if _, err := u.svc.AssumeRoleForPodIdentity(agentCtx("agent", nil), &Input{ClusterName: "c1", Token: "not-a-token"}); code(err) != "InvalidParameterException" {
		t.Errorf("refusal with the writer stopped: %v", err)
	}
}

// TestIssuanceCommitsPaced: sequential issuances are committed one by
// one at once; after a busy commit (others queued while it ran), the
// issuances that follow within CommitEvery wait and share one commit
// (here: the one made when the writer stops, which still answers every
// waiting exchange).
func TestIssuanceCommitsPaced(t *testing.T) {
	u := newUnit(t, nil)
	gs := &gatedStore{Store: u.st, entered: make(chan struct{}, 1)}
	a := NewAuditor(AuditorConfig{Store: gs, Now: func() time.Time { return unitNow }, CommitEvery: time.Hour})
	u.svc.cfg.Audit = a
	ctx, cancel := context.WithCancel(context.Background())
	go a.Run(ctx)
	for i := range 3 {
		if _, err := u.svc.AssumeRoleForPodIdentity(agentCtx("agent", nil), &Input{ClusterName: "c1", Token: u.podToken(t, fmt.Sprintf("uid-seq-%d", i))}); err != nil {
			t.Fatal(err)
		}
		if a.Commits() != int64(i+1) {
			t.Fatalf("Commits = %d after %d sequential exchanges, want one each", a.Commits(), i+1)
		}
	}
	// Hold the next commit while n more exchanges queue behind it.
	gs.gate = make(chan struct{})
	<-gs.entered
	errs := make(chan error, 1+5)
	go func() {
		_, err := u.svc.AssumeRoleForPodIdentity(agentCtx("agent", nil), &Input{ClusterName: "c1", Token: u.podToken(t, "uid-held")})
		errs <- err
	}()
	<-gs.entered
	const n = 5
	for i := range n {
		tok := u.podToken(t, fmt.Sprintf("uid-%d", i))
		go func() {
			_, err := u.svc.AssumeRoleForPodIdentity(agentCtx("agent", nil), &Input{ClusterName: "c1", Token: tok})
			errs <- err
		}()
	}
	deadline := time.Now().Add(10 * time.Second)
	for a.Waiting() < n+1 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if a.Waiting() != n+1 {
		t.Fatalf("%d exchanges waiting for a commit, want %d", a.Waiting(), n+1)
	}
	close(gs.gate)
	if err := <-errs; err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Millisecond) // time to commit early, if the writer did not pace
	if a.Commits() != 4 {
		t.Errorf("Commits = %d after the held commit, want 4", a.Commits())
	}
	select {
	case err := <-errs:
		t.Fatalf("an exchange answered (%v) before the paced commit", err)
	default:
	}
	cancel()
	<-a.Flushed()
	for range n {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	if a.Commits() != 5 {
		t.Errorf("Commits = %d, want 5", a.Commits())
	}
	if got := len(auditedPods(t, u.st)); got != n+4 {
		t.Errorf("%d issuance records stored, want %d", got, n+4)
	}
}
