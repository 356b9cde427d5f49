package k8s

import "github.com/podid/podid/internal/jsonscan"

// jscan is the JSON reader of Verify's fast path: a jsonscan.Scanner that
// refuses repeated names in every object (json/v2 refuses duplicates) and
// nesting beyond maxScanDepth, plus the fast path's own readers. On
// anything else it answers false and the caller falls back to json/v2.
type jscan struct{ *jsonscan.Scanner }

// maxScanDepth bounds nesting on the fast path; deeper input falls back.
const maxScanDepth = 32

func newScan(b []byte) *jscan { return &jscan{jsonscan.New(b, maxScanDepth, true)} }

// object consumes an object. For each member, value consumes the value;
// its argument is the name's index in f.names, or -1 for another name.
func (s *jscan) object(f *fields, value func(i int) bool) bool {
	return s.Object(func(k []byte) (bool, bool) {
		i, ok := f.match(k)
		if !ok {
			return false, false
		}
		return true, value(i)
	})
}

// fields matches an object's names against those a struct reads (the
// scanner itself refuses repeated names).
type fields struct {
	names []string
}

// match returns the index of key in names, -1 for another name, and ok
// false when the fast path must give up: a name that differs from one in
// names by case only (json/v2 would not match it either, but nothing
// legitimate sends one).
func (f *fields) match(key []byte) (int, bool) {
	for i, n := range f.names {
		if string(key) == n {
			return i, true
		}
		if len(key) == len(n) && equalFoldASCII(key, n) {
			return 0, false
		}
	}
	return -1, true
}

func equalFoldASCII(a []byte, b string) bool {
	for i := range a {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}
