package audit

import (
	"net/url"
	"testing"
)

// FuzzParseQuery: any query string is parsed without a panic; an accepted
// one has a valid filter, a page size within bounds, and a cursor whose
// token parses back to itself.
func FuzzParseQuery(f *testing.F) {
	for _, s := range []string{
		"", "since=2026-12-06T08:00:00Z&until=2026-12-06T09:00:00Z", "cluster=eks-workshop&namespace=carts&serviceAccount=carts",
		"decision=denied&kind=gateway:", "maxResults=1000&nextToken=" + (Cursor{ID: "a"}).Token(), "nextToken=%ZZ", "maxResults=-1",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		filter, c, limit, err := ParseQuery(q)
		if err != nil {
			return
		}
		if filter.Validate() != nil || limit < 1 || limit > MaxResults {
			t.Fatalf("accepted %q: filter %+v limit %d", raw, filter, limit)
		}
		back, err := ParseToken(c.Token())
		if err != nil || back.ID != c.ID || !back.Time.Equal(c.Time) {
			t.Fatalf("cursor %+v does not round-trip: %+v %v", c, back, err)
		}
	})
}
