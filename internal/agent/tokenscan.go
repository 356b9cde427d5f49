package agent

import (
	"encoding/json"
	"strings"
)

// The fast path of parseToken: a single pass over the header and the
// claims that reads only the fields the agent uses, without
// encoding/json's reflection and its second pass over each RawMessage.
// It handles the tokens kubelet writes (ASCII, no escapes, no duplicate
// or case-folded keys); on anything else it answers !ok and parseToken
// falls back to encoding/json, whose readings stay authoritative.
// FuzzFastTokenPaths checks that whatever the fast path accepts, the
// encoding/json path reads the same way.

// maxScanDepth bounds nesting on the fast path; deeper input falls back.
const maxScanDepth = 64

type jscan struct {
	b     []byte
	i     int
	depth int
}

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

// null consumes a null literal if one is next.
func (s *jscan) null() bool { return s.peek() == 'n' && s.lit("null") }

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
		return s.array(func() bool { return s.skip() })
	case c == '{':
		return s.object(func([]byte) (bool, bool) { return false, true })
	}
	return false
}

// array consumes an array, calling elem for each element.
func (s *jscan) array(elem func() bool) bool {
	if s.depth++; s.depth > maxScanDepth {
		return false
	}
	s.i++ // '['
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

// object consumes an object. For each key, field either consumes the
// value itself (done) or leaves it to be skipped; ok false abandons the
// fast path.
func (s *jscan) object(field func(key []byte) (done, ok bool)) bool {
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
		s.ws()
		if s.peek() != ':' {
			return false
		}
		s.i++
		s.ws()
		done, ok := field(k)
		if !ok {
			return false
		}
		if !done && !s.skip() {
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

// fields matches a key against the names a struct reads. encoding/json
// matches names case-insensitively and lets a repeated key win, so a key
// that only folds to a name, or a name seen twice, abandons the fast path.
type fields struct {
	names []string
	seen  uint16
}

// match returns the index of key in names, -1 for another key, and ok
// false when the fast path must give up.
func (f *fields) match(key []byte) (int, bool) {
	for i, n := range f.names {
		if string(key) == n {
			if f.seen&(1<<i) != 0 {
				return 0, false
			}
			f.seen |= 1 << i
			return i, true
		}
		// Keys here are ASCII (str refuses the rest), so only a key of
		// the name's length can fold to it.
		if len(key) == len(n) && strings.EqualFold(string(key), n) {
			return 0, false
		}
	}
	return -1, true
}

// strOrNull reads a string or null (which leaves a string field empty).
func (s *jscan) strOrNull() ([]byte, bool) {
	if s.null() {
		return nil, true
	}
	return s.str()
}

// fastAlg reads the header's alg.
func fastAlg(hb []byte) (string, bool) {
	s := &jscan{b: hb}
	s.ws()
	var alg []byte
	f := fields{names: []string{"alg"}}
	ok := s.object(func(k []byte) (bool, bool) {
		i, ok := f.match(k)
		if !ok || i < 0 {
			return false, ok
		}
		alg, ok = s.str()
		return true, ok
	})
	if !ok || alg == nil || !s.end() {
		return "", false
	}
	return string(alg), true
}

var (
	payloadNames = []string{"exp", "nbf", "iat", "iss", "sub", "jti", "aud", "kubernetes.io"}
	k8sNames     = []string{"namespace", "pod", "serviceaccount"}
	uidNames     = []string{"uid"}
	nameNames    = []string{"name"}
)

// fastClaims reads the claims parseToken uses.
func fastClaims(pb []byte) (*claims, bool) {
	s := &jscan{b: pb}
	s.ws()
	var dates [3][]byte // exp, nbf, iat
	var sub, ns, sa, uid []byte
	hasSub := false
	f := fields{names: payloadNames}
	ok := s.object(func(k []byte) (bool, bool) {
		i, ok := f.match(k)
		if !ok || i < 0 {
			return false, ok
		}
		switch i {
		case 0, 1, 2: // exp, nbf, iat: a number or null
			if s.null() {
				return true, true
			}
			dates[i], ok = s.num()
			return true, ok
		case 3, 5: // iss, jti
			_, ok = s.strOrNull()
			return true, ok
		case 4: // sub
			sub, ok = s.strOrNull()
			hasSub = ok && sub != nil
			return true, ok
		case 6: // aud: a string, null or an array of strings
			if s.peek() == '[' {
				return true, s.array(func() bool { _, ok := s.strOrNull(); return ok })
			}
			_, ok = s.strOrNull()
			return true, ok
		default: // kubernetes.io
			if s.null() {
				return true, true
			}
			kf := fields{names: k8sNames}
			return true, s.object(func(k []byte) (bool, bool) {
				i, ok := kf.match(k)
				if !ok || i < 0 {
					return false, ok
				}
				switch i {
				case 0:
					ns, ok = s.strOrNull()
					return true, ok
				case 1:
					uid, ok = s.subField(uidNames)
				default:
					sa, ok = s.subField(nameNames)
				}
				return true, ok
			})
		}
	})
	if !ok || !s.end() {
		return nil, false
	}
	c := &claims{Namespace: string(ns), ServiceAccount: string(sa), PodUID: string(uid)}
	var err error
	var iat int64
	for i, dst := range []*int64{&c.Exp, &c.Nbf, &iat} {
		if dates[i] == nil {
			continue
		}
		n := json.Number(dates[i])
		if *dst, err = numericDate(&n); err != nil {
			return nil, false // the encoding/json path words the error
		}
	}
	if (c.Namespace == "" || c.ServiceAccount == "") && hasSub {
		if ns, sa, ok := parseSubject(string(sub)); ok {
			c.Namespace, c.ServiceAccount = ns, sa
		}
	}
	return c, true
}

// subField reads an object (or null) holding one string field.
func (s *jscan) subField(names []string) ([]byte, bool) {
	if s.null() {
		return nil, true
	}
	var v []byte
	f := fields{names: names}
	ok := s.object(func(k []byte) (bool, bool) {
		i, ok := f.match(k)
		if !ok || i < 0 {
			return false, ok
		}
		v, ok = s.strOrNull()
		return true, ok
	})
	return v, ok
}
