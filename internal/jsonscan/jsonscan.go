// Package jsonscan is a single-pass reader of the subset of JSON that
// podid's fast paths handle: strings of printable ASCII without escapes,
// numbers, literals, arrays and objects, nested to a bound. It never
// decides what a document means: a fast path reads the fields it needs
// with it and, whenever it answers false, falls back to a full decoder
// (encoding/json or json/v2) whose reading stays authoritative. Each
// caller's fuzz target checks the two paths agree (k8s.FuzzFastVerify,
// agent.FuzzFastTokenPaths, agent.FuzzAnswerPaths).
package jsonscan

// maxNames bounds the names of one object a Scanner with unique names
// remembers; an object with more makes it answer false.
const maxNames = 32

// Scanner reads one JSON document held in memory.
type Scanner struct {
	b        []byte
	i        int
	depth    int
	maxDepth int
	unique   bool
}

// New returns a Scanner of b that answers false beyond maxDepth levels of
// nesting. With uniqueNames, every object it reads or skips answers false
// on a name seen twice or on more than 32 names (json/v2 refuses
// duplicates); without, repeated names are the caller's concern
// (encoding/json lets the last one win).
func New(b []byte, maxDepth int, uniqueNames bool) *Scanner {
	return &Scanner{b: b, maxDepth: maxDepth, unique: uniqueNames}
}

// Pos is the offset of the next byte to read.
func (s *Scanner) Pos() int { return s.i }

// Since returns the bytes read from offset start (a Pos) to now.
func (s *Scanner) Since(start int) []byte { return s.b[start:s.i] }

// WS consumes whitespace.
func (s *Scanner) WS() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// Peek is the next byte, or 0 at the end.
func (s *Scanner) Peek() byte {
	if s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

// Str reads a string of printable ASCII without escapes, returning its
// contents (a slice of the document).
func (s *Scanner) Str() ([]byte, bool) {
	if s.Peek() != '"' {
		return nil, false
	}
	for j := s.i + 1; j < len(s.b); j++ {
		switch c := s.b[j]; {
		case c == '"':
			v := s.b[s.i+1 : j]
			s.i = j + 1
			return v, true
		case c < 0x20 || c >= 0x7f || c == '\\':
			return nil, false
		}
	}
	return nil, false
}

// StrOrNull reads a string, or null (nil, true).
func (s *Scanner) StrOrNull() ([]byte, bool) {
	if s.Null() {
		return nil, true
	}
	return s.Str()
}

// Num reads a JSON number, returning its text.
func (s *Scanner) Num() ([]byte, bool) {
	b, start := s.b, s.i
	j := s.i
	digits := func() bool {
		k := j
		for j < len(b) && b[j] >= '0' && b[j] <= '9' {
			j++
		}
		return j > k
	}
	if j < len(b) && b[j] == '-' {
		j++
	}
	switch {
	case j < len(b) && b[j] == '0':
		j++
	case !digits():
		return nil, false
	}
	if j < len(b) && b[j] == '.' {
		j++
		if !digits() {
			return nil, false
		}
	}
	if j < len(b) && (b[j] == 'e' || b[j] == 'E') {
		j++
		if j < len(b) && (b[j] == '+' || b[j] == '-') {
			j++
		}
		if !digits() {
			return nil, false
		}
	}
	s.i = j
	return b[start:j], true
}

// Lit consumes the literal l (true, false, null).
func (s *Scanner) Lit(l string) bool {
	if len(s.b)-s.i < len(l) || string(s.b[s.i:s.i+len(l)]) != l {
		return false
	}
	s.i += len(l)
	return true
}

// Null consumes a null literal if one is next.
func (s *Scanner) Null() bool { return s.Peek() == 'n' && s.Lit("null") }

// Skip consumes any value.
func (s *Scanner) Skip() bool {
	switch c := s.Peek(); {
	case c == '"':
		_, ok := s.Str()
		return ok
	case c == '-' || (c >= '0' && c <= '9'):
		_, ok := s.Num()
		return ok
	case c == 't':
		return s.Lit("true")
	case c == 'f':
		return s.Lit("false")
	case c == 'n':
		return s.Lit("null")
	case c == '[':
		return s.Array(s.Skip)
	case c == '{':
		return s.Object(func([]byte) (bool, bool) { return false, true })
	}
	return false
}

// Array consumes an array, calling elem to consume each element.
func (s *Scanner) Array(elem func() bool) bool {
	if s.Peek() != '[' {
		return false
	}
	if s.depth++; s.depth > s.maxDepth {
		return false
	}
	s.i++
	s.WS()
	if s.Peek() == ']' {
		s.i++
		s.depth--
		return true
	}
	for {
		s.WS()
		if !elem() {
			return false
		}
		s.WS()
		switch s.Peek() {
		case ',':
			s.i++
		case ']':
			s.i++
			s.depth--
			return true
		default:
			return false
		}
	}
}

// Object consumes an object. For each member, member either consumes the
// value itself (done) or leaves it to be skipped; ok false abandons the
// document.
func (s *Scanner) Object(member func(key []byte) (done, ok bool)) bool {
	if s.Peek() != '{' {
		return false
	}
	if s.depth++; s.depth > s.maxDepth {
		return false
	}
	var seen [maxNames][]byte
	n := 0
	s.i++
	s.WS()
	if s.Peek() == '}' {
		s.i++
		s.depth--
		return true
	}
	for {
		s.WS()
		k, ok := s.Str()
		if !ok {
			return false
		}
		if s.unique {
			for _, p := range seen[:n] {
				if string(p) == string(k) {
					return false
				}
			}
			if n == len(seen) {
				return false
			}
			seen[n] = k
			n++
		}
		s.WS()
		if s.Peek() != ':' {
			return false
		}
		s.i++
		s.WS()
		done, ok := member(k)
		if !ok {
			return false
		}
		if !done && !s.Skip() {
			return false
		}
		s.WS()
		switch s.Peek() {
		case ',':
			s.i++
		case '}':
			s.i++
			s.depth--
			return true
		default:
			return false
		}
	}
}

// End reports whether only whitespace is left.
func (s *Scanner) End() bool {
	s.WS()
	return s.i == len(s.b)
}
