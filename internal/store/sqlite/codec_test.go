package sqlite

import (
	"database/sql"
	"encoding/json"
	"maps"
	"testing"
)

func TestDecMap(t *testing.T) {
	cases := []struct {
		in   string
		want map[string]string
		fast bool
	}{
		{`{}`, map[string]string{}, true},
		{`{"a":"b"}`, map[string]string{"a": "b"}, true},
		{`{"env":"prod","team":"payments"}`, map[string]string{"env": "prod", "team": "payments"}, true},
		{`{"":""}`, map[string]string{"": ""}, true},
		{`{"ü":"✓"}`, map[string]string{"ü": "✓"}, true},
		{`{"a":"x\"y"}`, map[string]string{"a": `x"y`}, false},
		{`{"a":"\u003c"}`, map[string]string{"a": "<"}, false},
		{`{ "a" : "b" }`, map[string]string{"a": "b"}, false},
		{`{"a":"1","a":"2"}`, map[string]string{"a": "2"}, false},
	}
	for _, c := range cases {
		_, fast := decFlatMap(c.in)
		if fast != c.fast {
			t.Errorf("decFlatMap(%s) fast = %v, want %v", c.in, fast, c.fast)
		}
		got, err := decMap(sql.NullString{String: c.in, Valid: true})
		if err != nil || !maps.Equal(got, c.want) {
			t.Errorf("decMap(%s) = %v, %v; want %v", c.in, got, err, c.want)
		}
	}
	for _, bad := range []string{`{"a":1}`, `{"a"}`, `[1]`, `{"a":"b",}`, `{"a":"b"`} {
		if _, err := decMap(sql.NullString{String: bad, Valid: true}); err == nil {
			t.Errorf("decMap(%s) succeeded", bad)
		}
	}
	if m, err := decMap(sql.NullString{}); m != nil || err != nil {
		t.Errorf("decMap(NULL) = %v, %v", m, err)
	}
}

// FuzzDecFlatMap checks the fast path against encoding/json: whenever it
// accepts an input, encoding/json must accept it with the same result.
func FuzzDecFlatMap(f *testing.F) {
	for _, s := range []string{`{}`, `{"a":"b"}`, `{"a":"b","c":"d"}`, `{"a":"b",}`, `{"a":"\n"}`, "{\"\xff\":\"\"}", `{"a""b"}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := decFlatMap(s)
		if !ok {
			return
		}
		var want map[string]string
		if err := json.Unmarshal([]byte(s), &want); err != nil {
			t.Fatalf("fast path accepted %q, encoding/json: %v", s, err)
		}
		if !maps.Equal(got, want) {
			t.Fatalf("decFlatMap(%q) = %v, encoding/json = %v", s, got, want)
		}
	})
}
