package k8s

// jscan is the JSON reader of Verify's fast path. It accepts a subset of
// JSON on which json/v2's default reading is unambiguous: strings of
// printable ASCII without escapes, no object name twice (json/v2 refuses
// duplicates), no name that only case-folds to one the caller reads, and
// nesting up to maxScanDepth. On anything else it answers false and the
// caller falls back to json/v2.
type jscan struct {
	b     []byte
	i     int
	depth int
}

// maxScanDepth bounds nesting on the fast path; deeper input falls back.
const maxScanDepth = 32

// maxScanNames bounds the names of one object on the fast path (they are
// kept to find duplicates).
const maxScanNames = 32

func (s *jscan) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// peek is the next byte, or 0 at the end.
func (s *jscan) peek() byte {
	if s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

// str reads a string of printable ASCII without escapes.
func (s *jscan) str() ([]byte, bool) {
	if s.peek() != '"' {
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

// num reads a JSON number.
func (s *jscan) num() ([]byte, bool) {
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

func (s *jscan) lit(l string) bool {
	if len(s.b)-s.i < len(l) || string(s.b[s.i:s.i+len(l)]) != l {
		return false
	}
	s.i += len(l)
	return true
}

// skip consumes any value.
func (s *jscan) skip() bool {
	switch c := s.peek(); {
	case c == '"':
		_, ok := s.str()
		return ok
	case c == '-' || (c >= '0' && c <= '9'):
		_, ok := s.num()
		return ok
	case c == 't':
		return s.lit("true")
	case c == 'f':
		return s.lit("false")
	case c == 'n':
		return s.lit("null")
	case c == '[':
		return s.array(s.skip)
	case c == '{':
		return s.object(&fields{}, func(int) bool { return s.skip() })
	}
	return false
}

// array consumes an array, calling elem for each element.
func (s *jscan) array(elem func() bool) bool {
	if s.peek() != '[' {
		return false
	}
	if s.depth++; s.depth > maxScanDepth {
		return false
	}
	s.i++
	s.ws()
	if s.peek() == ']' {
		s.i++
		s.depth--
		return true
	}
	for {
		s.ws()
		if !elem() {
			return false
		}
		s.ws()
		switch s.peek() {
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

// object consumes an object. For each member, value consumes the value;
// its argument is the name's index in f.names, or -1 for another name.
func (s *jscan) object(f *fields, value func(i int) bool) bool {
	if s.peek() != '{' {
		return false
	}
	if s.depth++; s.depth > maxScanDepth {
		return false
	}
	s.i++
	s.ws()
	if s.peek() == '}' {
		s.i++
		s.depth--
		return true
	}
	for {
		s.ws()
		k, ok := s.str()
		if !ok {
			return false
		}
		i, ok := f.match(k)
		if !ok {
			return false
		}
		s.ws()
		if s.peek() != ':' {
			return false
		}
		s.i++
		s.ws()
		if !value(i) {
			return false
		}
		s.ws()
		switch s.peek() {
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

// end reports whether only whitespace is left.
func (s *jscan) end() bool {
	s.ws()
	return s.i == len(s.b)
}

// fields matches an object's names against those a struct reads, and
// remembers every name to refuse duplicates.
type fields struct {
	names []string
	seen  [maxScanNames][]byte
	n     int
}

// match returns the index of key in names, -1 for another name, and ok
// false when the fast path must give up: a repeated name, too many names,
// or a name that differs from one in names by case only (json/v2 would
// not match it either, but nothing legitimate sends one).
func (f *fields) match(key []byte) (int, bool) {
	for _, k := range f.seen[:f.n] {
		if string(k) == string(key) {
			return 0, false
		}
	}
	if f.n == len(f.seen) {
		return 0, false
	}
	f.seen[f.n] = key
	f.n++
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
