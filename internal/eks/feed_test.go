package eks

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/podid/podid/internal/eks/feed"
	"github.com/podid/podid/internal/store"
)

// subscriber runs feed.Client.Subscribe in the background and exposes the
// events it receives.
type subscriber struct {
	events chan feed.Event
	done   chan error
	cancel context.CancelFunc
}

func (e *env) subscribe(t testing.TB, url, cluster string, from int64) *subscriber {
	t.Helper()
	c, err := feed.New(feed.Config{
		Endpoint: url, Cluster: cluster, Region: testRegion,
		Credentials: credentials.NewStaticCredentialsProvider(rootKey, "secret", ""),
		MinBackoff:  5 * time.Millisecond, MaxBackoff: 50 * time.Millisecond, IdleTimeout: 5 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &subscriber{events: make(chan feed.Event, 1000), done: make(chan error, 1), cancel: cancel}
	go func() {
		s.done <- c.Subscribe(ctx, from, func(_ context.Context, ev feed.Event) error {
			s.events <- ev
			return nil
		})
	}()
	t.Cleanup(func() {
		cancel()
		<-s.done
	})
	return s
}

// next returns the next event, failing after a generous deadline.
func (s *subscriber) next(t testing.TB) feed.Event {
	t.Helper()
	select {
	case ev := <-s.events:
		return ev
	case err := <-s.done:
		t.Fatalf("subscription ended: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("no event within 10 s")
	}
	return feed.Event{}
}

// expect reads events and compares "type id" strings.
func (s *subscriber) expect(t testing.TB, want ...string) []feed.Event {
	t.Helper()
	var got []feed.Event
	for i, w := range want {
		ev := s.next(t)
		got = append(got, ev)
		desc := ev.Type
		if ev.Association != nil {
			desc += " " + ev.Association.AssociationID
		}
		if desc != w {
			t.Fatalf("event %d = %q, want %q", i, desc, w)
		}
	}
	return got
}

func latestRevision(t testing.TB, st store.Store) int64 {
	t.Helper()
	var rev int64
	if err := st.View(context.Background(), func(tx store.Tx) error {
		var err error
		rev, err = tx.LatestRevision()
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return rev
}

// TestFeedTwoSubscribers: a subscriber from 0 gets a snapshot then the
// changes; one from the current revision only the changes; both in
// order, and neither sees another cluster's changes.
func TestFeedTwoSubscribers(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.SkipRoleValidation = true; c.FeedHeartbeat = 100 * time.Millisecond })
	e.hostedCluster("c1")
	e.hostedCluster("c2")
	ctx := rootCtx()
	mk := func(cluster, sa string) string {
		t.Helper()
		out, err := e.svc.CreatePodIdentityAssociation(ctx, &CreatePodIdentityAssociationInput{ClusterName: cluster, Namespace: "ns", ServiceAccount: sa, RoleArn: "arn:aws:iam::123456789000:role/r"})
		if err != nil {
			t.Fatal(err)
		}
		return out.Association.AssociationID
	}
	a0 := mk("c1", "zero")
	rev := latestRevision(t, e.st)
	s1 := e.subscribe(t, e.srv.URL, "c1", 0)
	s2 := e.subscribe(t, e.srv.URL, "c1", rev)
	snap := s1.expect(t, "reset", "snapshot "+a0, "synced")
	if snap[2].Revision != rev || snap[1].Association.Namespace != "ns" {
		t.Errorf("snapshot = %+v", snap)
	}

	a1 := mk("c1", "one")
	mk("c2", "elsewhere")
	if _, err := e.svc.UpdatePodIdentityAssociation(ctx, &UpdatePodIdentityAssociationInput{ClusterName: "c1", AssociationID: a1, DisableSessionTags: aws.Bool(true)}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.DeletePodIdentityAssociation(ctx, &DeletePodIdentityAssociationInput{ClusterName: "c1", AssociationID: a1}); err != nil {
		t.Fatal(err)
	}
	for _, s := range []*subscriber{s1, s2} {
		got := s.expect(t, "created "+a1, "updated "+a1, "deleted "+a1)
		if !got[1].Association.DisableSessionTags || got[0].Revision >= got[1].Revision || got[1].Revision >= got[2].Revision {
			t.Errorf("changes = %+v", got)
		}
		if got[0].Time.IsZero() || got[0].Cluster != "c1" {
			t.Errorf("created event = %+v", got[0])
		}
	}
}

// TestFeedResumesAfterReconnect: the server drops connections (and ends
// streams after FeedMaxDuration); the client resumes from its last
// revision, so every change arrives exactly once, in order.
func TestFeedResumesAfterReconnect(t *testing.T) {
	e := newEnv(t, func(c *Config) {
		c.SkipRoleValidation = true
		c.FeedHeartbeat = 50 * time.Millisecond
		c.FeedMaxDuration = 300 * time.Millisecond
	})
	e.hostedCluster("c1")
	var conns atomic.Int64
	var afters []string
	afterCh := make(chan string, 100)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/association-events") {
			conns.Add(1)
			afterCh <- r.URL.Query().Get("after")
		}
		testEdge(e.svc).ServeHTTP(w, r)
	}))
	defer srv.Close()
	s := e.subscribe(t, srv.URL, "c1", 0)
	s.expect(t, "reset", "synced")
	ctx := rootCtx()
	var want []string
	for i := range 6 {
		out, err := e.svc.CreatePodIdentityAssociation(ctx, &CreatePodIdentityAssociationInput{ClusterName: "c1", Namespace: "ns", ServiceAccount: fmt.Sprintf("sa-%d", i), RoleArn: "arn:aws:iam::123456789000:role/r"})
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, "created "+out.Association.AssociationID)
		s.expect(t, want[len(want)-1])
		if i%2 == 0 {
			srv.CloseClientConnections() // an abrupt break
		}
		// Wait for the client to be connected again before the next change.
		before := conns.Load()
		deadline := time.Now().Add(10 * time.Second)
		for conns.Load() == before && time.Now().Before(deadline) {
			select {
			case a := <-afterCh:
				afters = append(afters, a)
			case <-time.After(10 * time.Millisecond):
			}
		}
		if conns.Load() == before {
			t.Fatal("the client did not reconnect")
		}
	}
	select {
	case ev := <-s.events:
		t.Errorf("unexpected extra event %+v", ev)
	default:
	}
	for len(afterCh) > 0 {
		afters = append(afters, <-afterCh)
	}
	resumed := false
	for _, a := range afters {
		if a != "0" {
			resumed = true
		}
	}
	if !resumed {
		t.Errorf("the client never resumed from a revision: after=%v", afters)
	}
}

// TestFeedErrors: an unknown cluster is 404, a revision ahead of the
// server 410 (the client then starts over with a snapshot), a bad revision
// 400; a handler error ends Subscribe with it.
func TestFeedErrors(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.FeedHeartbeat = 50 * time.Millisecond })
	e.hostedCluster("c1")
	for _, tc := range []struct {
		path   string
		status int
		code   string
	}{
		{"/podid/v1/clusters/nope/association-events", 404, "ResourceNotFoundException"},
		{"/podid/v1/clusters/c1/association-events?after=999", 410, "InvalidRequestException"},
		{"/podid/v1/clusters/c1/association-events?after=-1", 400, "InvalidParameterException"},
	} {
		r := e.do("GET", tc.path, "")
		if r.Status != tc.status || r.Body["__type"] != tc.code {
			t.Errorf("%s: %d %s", tc.path, r.Status, r.Raw)
		}
	}
	if r := e.doAs("", "GET", "/podid/v1/clusters/c1/association-events", ""); r.Status != 403 {
		t.Errorf("anonymous feed: %d %s", r.Status, r.Raw)
	}
	s := e.subscribe(t, e.srv.URL, "c1", 999)
	s.expect(t, "reset", "synced")

	c, err := feed.New(feed.Config{Endpoint: e.srv.URL, Cluster: "c1", Region: testRegion, Credentials: credentials.NewStaticCredentialsProvider(rootKey, "s", "")})
	if err != nil {
		t.Fatal(err)
	}
	stop := errors.New("stop")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Subscribe(ctx, 0, func(context.Context, feed.Event) error { return stop }); !errors.Is(err, stop) {
		t.Errorf("Subscribe = %v, want the handler's error", err)
	}
	if _, err := feed.New(feed.Config{Endpoint: e.srv.URL, Cluster: "bad name", Region: testRegion, Credentials: credentials.NewStaticCredentialsProvider(rootKey, "s", "")}); err == nil {
		t.Error("feed.New accepted an invalid cluster name")
	}
	// A 400 is permanent: Subscribe returns instead of retrying.
	refuse := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(400)
		w.Write([]byte(`{"__type":"InvalidParameterException","message":"no"}`))
	}))
	defer refuse.Close()
	rc, _ := feed.New(feed.Config{Endpoint: refuse.URL, Cluster: "c1", Region: testRegion, Credentials: credentials.NewStaticCredentialsProvider(rootKey, "s", "")})
	if err := rc.Subscribe(ctx, 0, func(context.Context, feed.Event) error { return nil }); !errors.Is(err, feed.ErrPermanent) || !strings.Contains(err.Error(), "InvalidParameterException: no") {
		t.Errorf("400: %v", err)
	}
}

// TestFeedHeartbeat: an idle stream carries heartbeats.
func TestFeedHeartbeat(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.FeedHeartbeat = 20 * time.Millisecond })
	e.hostedCluster("c1")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", e.srv.URL+"/podid/v1/clusters/c1/association-events?after=0", nil)
	req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential="+rootKey+"/x")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "application/x-ndjson" {
		t.Errorf("Content-Type %q", ct)
	}
	buf := make([]byte, 4096)
	var got string
	for !strings.Contains(got, `"type":"heartbeat"`) {
		n, err := resp.Body.Read(buf)
		if err != nil {
			t.Fatalf("reading: %v (so far %q)", err, got)
		}
		got += string(buf[:n])
	}
	if !strings.HasPrefix(got, `{"type":"reset","revision":0,"cluster":"c1"}`+"\n"+`{"type":"synced","revision":0,"cluster":"c1"}`+"\n") {
		t.Errorf("stream = %q", got)
	}
}
