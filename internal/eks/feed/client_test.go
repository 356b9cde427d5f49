package feed

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"
)

// script is one scripted connection: the after value the client must ask
// for, and the response.
type script struct {
	after  string
	status int
	lines  []string
	hang   bool // keep the connection open without writing
}

func ev(typ string, rev int64, id string) string {
	if id == "" {
		return fmt.Sprintf(`{"type":%q,"revision":%d,"cluster":"c1"}`, typ, rev)
	}
	return fmt.Sprintf(`{"type":%q,"revision":%d,"cluster":"c1","association":{"associationId":%q,"namespace":"ns","serviceAccount":"sa","tags":{},"createdAt":"2024-01-09T16:16:38Z","modifiedAt":"2024-01-09T16:16:38Z"}}`, typ, rev, id)
}

// TestSubscribeResumes drives the client through a scripted server:
// a snapshot cut short (restarted from 0), changes, an unknown event type,
// a heartbeat moving the resume point, a duplicate revision, an idle
// connection, and a 410 that restarts from a snapshot.
func TestSubscribeResumes(t *testing.T) {
	scripts := []script{
		{after: "0", status: 200, lines: []string{ev(TypeReset, 5, ""), ev(TypeSnapshot, 5, "a-1")}},
		{after: "0", status: 200, lines: []string{ev(TypeReset, 6, ""), ev(TypeSnapshot, 6, "a-1"), ev(TypeSnapshot, 6, "a-2"), ev(TypeSynced, 6, ""), ev(TypeCreated, 7, "a-3"), `{"type":"future","revision":8}`, ev(TypeHeartbeat, 9, "")}},
		{after: "9", status: 200, lines: []string{ev(TypeCreated, 8, "a-old"), ev(TypeUpdated, 10, "a-3")}, hang: true},
		{after: "10", status: 410, lines: []string{`{"__type":"InvalidRequestException","message":"gone"}`}},
		{after: "0", status: 200, lines: []string{ev(TypeReset, 11, "")}, hang: true},
	}
	var mu sync.Mutex
	var afters, auths []string
	conn := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		i := conn
		conn++
		afters = append(afters, r.URL.Query().Get("after"))
		auths = append(auths, r.Header.Get("Authorization"))
		mu.Unlock()
		if r.URL.Path != "/podid/v1/clusters/c1/association-events" || i >= len(scripts) {
			w.WriteHeader(404)
			return
		}
		s := scripts[i]
		w.WriteHeader(s.status)
		for _, l := range s.lines {
			fmt.Fprintln(w, l)
		}
		w.(http.Flusher).Flush()
		if s.hang {
			<-r.Context().Done()
		}
	}))
	defer srv.Close()
	c, err := New(Config{
		Endpoint: srv.URL, Cluster: "c1", Region: "us-west-2",
		Credentials: credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", ""),
		IdleTimeout: 200 * time.Millisecond,
		Sleep:       func(ctx context.Context, d time.Duration) error { return ctx.Err() },
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var got []string
	err = c.Subscribe(ctx, 0, func(_ context.Context, e Event) error {
		s := fmt.Sprintf("%s %d", e.Type, e.Revision)
		if e.Association != nil {
			s += " " + e.Association.AssociationID
		}
		got = append(got, s)
		if e.Revision == 11 {
			cancel()
		}
		return nil
	})
	if err != context.Canceled {
		t.Fatalf("Subscribe = %v", err)
	}
	want := []string{
		"reset 5", "snapshot 5 a-1",
		"reset 6", "snapshot 6 a-1", "snapshot 6 a-2", "synced 6", "created 7 a-3",
		"updated 10 a-3",
		"reset 11",
	}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("events:\n got %q\nwant %q", got, want)
	}
	if strings.Join(afters, ",") != "0,0,9,10,0" {
		t.Errorf("after values = %v", afters)
	}
	for _, a := range auths {
		if !strings.HasPrefix(a, "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/") || !strings.Contains(a, "/us-west-2/eks/aws4_request") {
			t.Errorf("Authorization = %q", a)
		}
	}
}

func TestNewValidates(t *testing.T) {
	creds := credentials.NewStaticCredentialsProvider("a", "b", "")
	for _, cfg := range []Config{
		{Endpoint: "ftp://x", Cluster: "c", Region: "r", Credentials: creds},
		{Endpoint: "http://x", Cluster: "c/d", Region: "r", Credentials: creds},
		{Endpoint: "http://x", Cluster: "c", Credentials: creds},
		{Endpoint: "http://x", Cluster: "c", Region: "r"},
	} {
		if _, err := New(cfg); err == nil {
			t.Errorf("New(%+v) accepted", cfg)
		}
	}
}
