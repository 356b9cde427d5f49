package agent

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/podid/podid/internal/eks/feed"
)

func TestFromFeed(t *testing.T) {
	assoc := &feed.Association{ClusterName: "c", Namespace: "ns", ServiceAccount: "sa", AssociationID: "a-1"}
	for _, tc := range []struct {
		in   feed.Event
		want Event
		ok   bool
	}{
		{feed.Event{Type: feed.TypeCreated, Cluster: "c", Association: assoc}, Event{Type: AssociationCreated, Cluster: "c", Namespace: "ns", ServiceAccount: "sa", AssociationID: "a-1"}, true},
		{feed.Event{Type: feed.TypeUpdated, Association: assoc}, Event{Type: AssociationUpdated, Cluster: "c", Namespace: "ns", ServiceAccount: "sa", AssociationID: "a-1"}, true},
		{feed.Event{Type: feed.TypeDeleted, Cluster: "c", Association: assoc}, Event{Type: AssociationDeleted, Cluster: "c", Namespace: "ns", ServiceAccount: "sa", AssociationID: "a-1"}, true},
		{feed.Event{Type: feed.TypeReset, Cluster: "c"}, Event{Type: Resync, Cluster: "c"}, true},
		{feed.Event{Type: feed.TypeSnapshot, Association: assoc}, Event{}, false},
		{feed.Event{Type: feed.TypeSynced}, Event{}, false},
		{feed.Event{Type: feed.TypeHeartbeat}, Event{}, false},
		{feed.Event{Type: feed.TypeDeleted}, Event{}, false}, // no association: nothing to purge
	} {
		got, ok := fromFeed(tc.in)
		if got != tc.want || ok != tc.ok {
			t.Errorf("%+v: got %+v %v", tc.in, got, ok)
		}
	}
}

// TestFeedSourcePurges runs the real feed client against a stand-in
// stream: an association update purges the pod's entry.
func TestFeedSourcePurges(t *testing.T) {
	send := make(chan string)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != feed.Path(testCluster) || !strings.HasPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256 ") {
			http.Error(w, `{"message":"unexpected request"}`, 400)
			return
		}
		w.Header().Set("Content-Type", "application/x-ndjson")
		fmt.Fprintf(w, `{"type":"reset","revision":5,"cluster":%q}`+"\n", testCluster)
		fmt.Fprintf(w, `{"type":"synced","revision":5,"cluster":%q}`+"\n", testCluster)
		w.(http.Flusher).Flush()
		for {
			select {
			case line := <-send:
				fmt.Fprintln(w, line)
				w.(http.Flusher).Flush()
			case <-r.Context().Done():
				return
			}
		}
	}))
	t.Cleanup(srv.Close) // after the agent stops (cleanups run last-first)
	client, err := feed.New(feed.Config{Endpoint: srv.URL, Cluster: testCluster, Region: testRegion, Credentials: testNodeCreds})
	if err != nil {
		t.Fatal(err)
	}
	f := newFakeEKSAuth(t)
	a := newTestAgent(t, f, func(c *Config) { c.Events = []EventSource{FeedSource{Client: client}} })
	runAgent(t, a)
	waitFor(t, "the reset", func() bool { return counterValue(a.metrics.events.WithLabelValues(string(Resync))) == 1 })

	tok := podToken("ns", "sa", "uid", time.Now().Add(time.Hour), "s")
	get(a, "169.254.170.23", tok)
	get(a, "169.254.170.23", podToken("ns", "other", "uid2", time.Now().Add(time.Hour), "s"))
	if a.cache.size() != 2 {
		t.Fatal("not cached")
	}
	send <- fmt.Sprintf(`{"type":"updated","revision":6,"cluster":%q,"association":{"clusterName":%q,"namespace":"ns","serviceAccount":"sa","associationId":"a-2"}}`, testCluster, testCluster)
	waitFor(t, "the purge", func() bool { return a.cache.size() == 1 })
	calls := f.calls.Load()
	get(a, "169.254.170.23", tok)
	if f.calls.Load() != calls+1 {
		t.Errorf("purged pod was not fetched again")
	}
}
