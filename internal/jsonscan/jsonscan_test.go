package jsonscan

import (
	"strconv"
	"testing"
)

// TestSkip: which documents a Scanner reads to the end, with and without
// unique names.
func TestSkip(t *testing.T) {
	for _, c := range []struct {
		doc           string
		unique, loose bool // read with unique names, without
	}{
		{`{"a":1,"b":[true,false,null,"x",-0.5e+3],"c":{"d":{}}}`, true, true},
		{` [ ] `, true, true},
		{`{"a":1,"a":2}`, false, true},       // a repeated name: json/v2 refuses it
		{`{"o":{"a":1,"a":2}}`, false, true}, // in a skipped object too
		{`["\u0041"]`, false, false},         // escapes: the full decoder's business
		{`["é"]`, false, false},              // non-ASCII
		{`{"a":01}`, false, false},           // a leading zero
		{`{"a":1.}`, false, false},           // no fraction digits
		{`{"a":1,}`, false, false},           // a trailing comma
		{`{"a" 1}`, false, false},            // no colon
		{`[1] 2`, false, false},              // more than one value
		{`{"a":tru}`, false, false},          // a cut literal
		{deep(4), true, true},                // within the bound
		{deep(5), false, false},              // beyond it
	} {
		for _, unique := range []bool{true, false} {
			want := c.loose
			if unique {
				want = c.unique
			}
			s := New([]byte(c.doc), 4, unique)
			s.WS()
			if got := s.Skip() && s.End(); got != want {
				t.Errorf("%s (unique names %v): read %v, want %v", c.doc, unique, got, want)
			}
		}
	}
	many := `{`
	for i := range maxNames + 1 {
		if i > 0 {
			many += ","
		}
		many += `"n` + strconv.Itoa(i) + `":0`
	}
	many += `}`
	if s := New([]byte(many), 4, true); s.Skip() {
		t.Errorf("%d names with unique names: read, want refused", maxNames+1)
	}
	if s := New([]byte(many), 4, false); !s.Skip() {
		t.Errorf("%d names without unique names: refused, want read", maxNames+1)
	}
}

func deep(n int) string {
	s := ""
	for range n {
		s += "["
	}
	for range n {
		s += "]"
	}
	return s
}

// TestObjectMembers: a member read by the caller, one left to be skipped,
// and Since over a raw value.
func TestObjectMembers(t *testing.T) {
	s := New([]byte(`{"keep":"v","raw":[1,{"x":null}],"skip":{"y":2}}`), 8, true)
	var keep, raw string
	ok := s.Object(func(k []byte) (bool, bool) {
		switch string(k) {
		case "keep":
			v, ok := s.StrOrNull()
			keep = string(v)
			return true, ok
		case "raw":
			start := s.Pos()
			ok := s.Skip()
			raw = string(s.Since(start))
			return true, ok
		}
		return false, true
	})
	if !ok || !s.End() || keep != "v" || raw != `[1,{"x":null}]` {
		t.Errorf("ok %v end, keep %q, raw %q", ok, keep, raw)
	}
}
