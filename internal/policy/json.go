package policy

import (
	"unicode/utf16"
	"unicode/utf8"
)

// jkind is the type of a JSON value.
type jkind uint8

const (
	jNull jkind = iota
	jBool
	jNum
	jStr
	jArr
	jObj
)

// jval is a parsed JSON value. Objects keep their members in document
// order, arrays their elements (with empty keys), both in kids; numbers
// keep their source text.
type jval struct {
	kind jkind
	s    string // string value, number text, "true"/"false"
	kids []jmember
	// pos and end are the byte offsets of an object's opening brace and
	// just past its closing brace (objects only; simulation reports
	// statement positions from them).
	pos, end int
}

type jmember struct {
	key string
	val *jval
}

// maxJSONDepth bounds nesting; policies need four levels.
const maxJSONDepth = 64

// jsonParser is a strict RFC 8259 parser that rejects duplicate object keys
// (encoding/json silently keeps the last one, which would let a document
// say one thing to a reviewer and another to the evaluator).
type jsonParser struct {
	s    string
	i    int
	bad  bool
	slab []jval // nodes are carved from chunks to keep allocations few

	// Members and elements are collected on this stack while an object or
	// array is open, then copied, exactly sized, into a chunked slab.
	mstack []jmember
	mslab  []jmember
}

func (p *jsonParser) members(from int) []jmember {
	n := len(p.mstack) - from
	if n == 0 {
		return nil
	}
	if cap(p.mslab)-len(p.mslab) < n {
		p.mslab = make([]jmember, 0, max(64, n))
	}
	out := p.mslab[len(p.mslab) : len(p.mslab)+n : len(p.mslab)+n]
	p.mslab = p.mslab[:len(p.mslab)+n]
	copy(out, p.mstack[from:])
	clear(p.mstack[from:])
	p.mstack = p.mstack[:from]
	return out
}

// node returns a new value of kind k.
func (p *jsonParser) node(k jkind) *jval {
	if len(p.slab) == cap(p.slab) {
		p.slab = make([]jval, 0, 64)
	}
	p.slab = p.slab[:len(p.slab)+1]
	v := &p.slab[len(p.slab)-1]
	v.kind = k
	return v
}

// parseJSON parses s as exactly one JSON value. ok is false on any error.
func parseJSON(s string) (v *jval, ok bool) {
	p := jsonParser{s: s}
	// Size the slabs from the document. Every node but the root follows
	// a comma, an opening brace or an opening bracket; every member key is
	// a string followed by a colon. Estimates only: a slab that runs out
	// continues in a new chunk.
	members, nodes := 2, 4
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case ',', '{', '[':
			nodes++
		case ':':
			if i > 0 && s[i-1] == '"' {
				members++
			}
		}
	}
	p.slab = make([]jval, 0, min(nodes, len(s)/2+4))
	p.mslab = make([]jmember, 0, min(max(members, nodes), len(s)/2+4))
	p.ws()
	v = p.value(0)
	if p.bad {
		return nil, false
	}
	p.ws()
	if p.i != len(p.s) {
		return nil, false
	}
	return v, true
}

func (p *jsonParser) ws() {
	for p.i < len(p.s) {
		switch p.s[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

func (p *jsonParser) fail() *jval {
	p.bad = true
	return nil
}

func (p *jsonParser) value(depth int) *jval {
	if depth > maxJSONDepth || p.i >= len(p.s) {
		return p.fail()
	}
	switch c := p.s[p.i]; {
	case c == '{':
		return p.object(depth)
	case c == '[':
		return p.array(depth)
	case c == '"':
		s, ok := p.str()
		if !ok {
			return p.fail()
		}
		v := p.node(jStr)
		v.s = s
		return v
	case c == 't':
		return p.lit("true", jBool)
	case c == 'f':
		return p.lit("false", jBool)
	case c == 'n':
		return p.lit("null", jNull)
	case c == '-' || (c >= '0' && c <= '9'):
		return p.number()
	}
	return p.fail()
}

func (p *jsonParser) lit(word string, k jkind) *jval {
	if len(p.s)-p.i < len(word) || p.s[p.i:p.i+len(word)] != word {
		return p.fail()
	}
	p.i += len(word)
	v := p.node(k)
	if k != jNull {
		v.s = word
	}
	return v
}

func (p *jsonParser) number() *jval {
	start := p.i
	if p.s[p.i] == '-' {
		p.i++
	}
	if p.i >= len(p.s) {
		return p.fail()
	}
	switch {
	case p.s[p.i] == '0':
		p.i++
	case p.s[p.i] >= '1' && p.s[p.i] <= '9':
		for p.i < len(p.s) && isDigit(p.s[p.i]) {
			p.i++
		}
	default:
		return p.fail()
	}
	if p.i < len(p.s) && p.s[p.i] == '.' {
		p.i++
		n := p.digits()
		if n == 0 {
			return p.fail()
		}
	}
	if p.i < len(p.s) && (p.s[p.i] == 'e' || p.s[p.i] == 'E') {
		p.i++
		if p.i < len(p.s) && (p.s[p.i] == '+' || p.s[p.i] == '-') {
			p.i++
		}
		if p.digits() == 0 {
			return p.fail()
		}
	}
	v := p.node(jNum)
	v.s = p.s[start:p.i]
	return v
}

func (p *jsonParser) digits() int {
	n := 0
	for p.i < len(p.s) && isDigit(p.s[p.i]) {
		p.i++
		n++
	}
	return n
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// str reads a string starting at the opening quote.
func (p *jsonParser) str() (string, bool) {
	p.i++ // opening quote
	start := p.i
	// Fast path: no escapes.
	for p.i < len(p.s) {
		c := p.s[p.i]
		if c == '"' {
			s := p.s[start:p.i]
			p.i++
			return s, true
		}
		if c == '\\' {
			break
		}
		if c < 0x20 {
			return "", false
		}
		p.i++
	}
	if p.i >= len(p.s) {
		return "", false
	}
	buf := make([]byte, 0, p.i-start+16)
	buf = append(buf, p.s[start:p.i]...)
	for p.i < len(p.s) {
		c := p.s[p.i]
		switch {
		case c == '"':
			p.i++
			return string(buf), true
		case c < 0x20:
			return "", false
		case c != '\\':
			buf = append(buf, c)
			p.i++
			continue
		}
		p.i++ // backslash
		if p.i >= len(p.s) {
			return "", false
		}
		e := p.s[p.i]
		p.i++
		switch e {
		case '"', '\\', '/':
			buf = append(buf, e)
		case 'b':
			buf = append(buf, '\b')
		case 'f':
			buf = append(buf, '\f')
		case 'n':
			buf = append(buf, '\n')
		case 'r':
			buf = append(buf, '\r')
		case 't':
			buf = append(buf, '\t')
		case 'u':
			r, ok := p.hex4()
			if !ok {
				return "", false
			}
			if utf16.IsSurrogate(r) {
				r2 := utf8.RuneError
				if p.i+1 < len(p.s) && p.s[p.i] == '\\' && p.s[p.i+1] == 'u' {
					save := p.i
					p.i += 2
					lo, ok := p.hex4()
					if !ok {
						return "", false
					}
					r2 = utf16.DecodeRune(r, lo)
					if r2 == utf8.RuneError {
						p.i = save // unpaired: keep the second escape
					}
				}
				r = r2
			}
			buf = utf8.AppendRune(buf, r)
		default:
			return "", false
		}
	}
	return "", false
}

func (p *jsonParser) hex4() (rune, bool) {
	if len(p.s)-p.i < 4 {
		return 0, false
	}
	var r rune
	for k := 0; k < 4; k++ {
		c := p.s[p.i+k]
		var d byte
		switch {
		case c >= '0' && c <= '9':
			d = c - '0'
		case c >= 'a' && c <= 'f':
			d = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			d = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(d)
	}
	p.i += 4
	return r, true
}

func (p *jsonParser) array(depth int) *jval {
	p.i++ // [
	v := p.node(jArr)
	p.ws()
	if p.i < len(p.s) && p.s[p.i] == ']' {
		p.i++
		return v
	}
	from := len(p.mstack)
	for {
		p.ws()
		e := p.value(depth + 1)
		if p.bad {
			return nil
		}
		p.mstack = append(p.mstack, jmember{val: e})
		p.ws()
		if p.i >= len(p.s) {
			return p.fail()
		}
		switch p.s[p.i] {
		case ',':
			p.i++
		case ']':
			p.i++
			v.kids = p.members(from)
			return v
		default:
			return p.fail()
		}
	}
}

func (p *jsonParser) object(depth int) *jval {
	v := p.node(jObj)
	v.pos = p.i
	p.i++ // {
	p.ws()
	if p.i < len(p.s) && p.s[p.i] == '}' {
		p.i++
		v.end = p.i
		return v
	}
	from := len(p.mstack)
	var seen map[string]struct{}
	for {
		p.ws()
		if p.i >= len(p.s) || p.s[p.i] != '"' {
			return p.fail()
		}
		key, ok := p.str()
		if !ok {
			return p.fail()
		}
		// Duplicate keys are rejected (docs/policy.md, ambiguity 8).
		open := p.mstack[from:]
		if len(open) < 8 {
			for i := range open {
				if open[i].key == key {
					return p.fail()
				}
			}
		} else {
			if seen == nil {
				seen = make(map[string]struct{}, 16)
				for i := range open {
					seen[open[i].key] = struct{}{}
				}
			}
			if _, dup := seen[key]; dup {
				return p.fail()
			}
			seen[key] = struct{}{}
		}
		p.ws()
		if p.i >= len(p.s) || p.s[p.i] != ':' {
			return p.fail()
		}
		p.i++
		p.ws()
		e := p.value(depth + 1)
		if p.bad {
			return nil
		}
		p.mstack = append(p.mstack, jmember{key: key, val: e})
		p.ws()
		if p.i >= len(p.s) {
			return p.fail()
		}
		switch p.s[p.i] {
		case ',':
			p.i++
		case '}':
			p.i++
			v.end = p.i
			v.kids = p.members(from)
			return v
		default:
			return p.fail()
		}
	}
}
