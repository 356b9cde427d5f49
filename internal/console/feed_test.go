package console_test

import (
	"bufio"
	"context"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/podid/podid/internal/store"
)

var streamRE = regexp.MustCompile(`data-stream="([^"]+)"`)

// TestFeedStreamsNewRecords opens the feed page, then its event stream,
// and sees a record appended after the page was rendered, filtered by
// cluster.
func TestFeedStreamsNewRecords(t *testing.T) {
	e := newEnv(t, false)
	b := e.browser(t)
	b.mustSignIn(e.key, e.secret)
	appendRecord := func(id, cluster string) {
		err := e.app.Store.Update(context.Background(), func(tx store.Tx) error {
			return tx.AppendAudit(&store.AuditRecord{ID: id, Time: e.clock.Now(), Kind: "eks-auth:AssumeRoleForPodIdentity", Decision: "issued",
				Fields: `{"cluster":"` + cluster + `","namespace":"carts","serviceAccount":"carts","roleArn":"arn:aws:iam::123456789012:role/carts"}`})
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	appendRecord("0001", "c1")
	_, page := b.get("/console/feed?cluster=c1")
	if !strings.Contains(page, "<td>carts/carts</td>") {
		t.Fatalf("the feed page does not show the record:\n%s", page)
	}
	m := streamRE.FindStringSubmatch(page)
	if m == nil {
		t.Fatal("no stream URL")
	}
	streamURL := strings.ReplaceAll(m[1], "&amp;", "&")
	e.clock.Advance(time.Second)
	appendRecord("0002", "other")
	appendRecord("0003", "c1")

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, b.base+streamURL, nil)
	resp, err := b.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("stream: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	sc := bufio.NewScanner(resp.Body)
	var data []string
	for sc.Scan() {
		if line, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
			data = append(data, line)
			break
		}
	}
	if len(data) != 1 || !strings.Contains(data[0], `"id":"0003"`) || !strings.Contains(data[0], `"cluster":"c1"`) {
		t.Fatalf("streamed %q, want record 0003 only (0001 was on the page, 0002 is another cluster's)", data)
	}
}

// TestFeedDenied: without podid:ListAuditRecords the page shows the
// API's AccessDeniedException and no record, and the stream is refused.
func TestFeedDenied(t *testing.T) {
	e := newEnv(t, false)
	e.seed(t, 0)
	deniedConsole(t, e)
	b := e.browser(t)
	signInViewer(t, b)
	resp, body := b.get("/console/feed")
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "AccessDeniedException") || !strings.Contains(body, "podid:ListAuditRecords") {
		t.Fatalf("feed: %d\n%s", resp.StatusCode, body)
	}
	resp, body = b.get("/console/feed/events")
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "AccessDeniedException") {
		t.Fatalf("stream: %d\n%s", resp.StatusCode, body)
	}
}
