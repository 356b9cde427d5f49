package policy

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// tkind is the kind of a pattern token.
type tkind uint8

const (
	tLit  tkind = iota // literal text
	tStar              // * wildcard
	tQ                 // ? wildcard
	tVar               // ${key} or ${key, 'default'}
)

// tok is one token of a compiled pattern.
type tok struct {
	kind tkind
	s    string // literal text, or the default of a variable
	key  string // variable key
	hash uint64 // keyHash(key)
	def  bool   // the variable has a default
}

// gmode is how a pattern is matched.
type gmode uint8

const (
	gExact   gmode = iota // lit == s
	gAny                  // "*"
	gPrefix               // lit + "*"
	gSuffix               // "*" + lit
	gGeneral              // tokens
)

// glob is a compiled string pattern: a literal, a wildcard pattern, or a
// template with policy variables. Substituted variable values are always
// literal text: a "*" in a user name is not a wildcard.
type glob struct {
	mode gmode
	lit  string // gExact, gPrefix, gSuffix: the literal; gGeneral: the leading literal
	toks []tok
	vars bool
}

// compileGlob compiles s. wild turns * and ? into wildcards; vars turns
// ${…} into variables (Version 2012-10-17 only).
func compileGlob(s string, wild, vars bool) glob {
	// Fast paths: no variables and at most one * at either end.
	if !vars || !strings.Contains(s, "${") {
		if !wild {
			return glob{mode: gExact, lit: s}
		}
		i := 0
		for i < len(s) && s[i] != '*' && s[i] != '?' {
			i++
		}
		if i == len(s) {
			i = -1
		}
		switch {
		case i < 0:
			return glob{mode: gExact, lit: s}
		case s == "*":
			return glob{mode: gAny}
		case i == len(s)-1 && s[i] == '*':
			return glob{mode: gPrefix, lit: s[:i]}
		case i == 0 && s[0] == '*' && !hasWildcard(s[1:]):
			return glob{mode: gSuffix, lit: s[1:]}
		}
	}
	toks := tokenize(s, wild, vars)
	g := glob{toks: toks}
	for _, t := range toks {
		if t.kind == tVar {
			g.vars = true
		}
	}
	switch {
	case g.vars:
		g.mode = gGeneral
	case len(toks) == 0:
		g.mode, g.lit = gExact, ""
	case len(toks) == 1 && toks[0].kind == tLit:
		g.mode, g.lit = gExact, toks[0].s
	case len(toks) == 1 && toks[0].kind == tStar:
		g.mode = gAny
	case len(toks) == 2 && toks[0].kind == tLit && toks[1].kind == tStar:
		g.mode, g.lit = gPrefix, toks[0].s
	case len(toks) == 2 && toks[0].kind == tStar && toks[1].kind == tLit:
		g.mode, g.lit = gSuffix, toks[1].s
	default:
		g.mode = gGeneral
	}
	if g.mode != gGeneral {
		g.toks = nil
	} else if toks[0].kind == tLit {
		g.lit = toks[0].s
	}
	return g
}

// tokenize splits a pattern. Adjacent literals are merged and runs of * are
// collapsed.
func tokenize(s string, wild, vars bool) []tok {
	toks := make([]tok, 0, 4)
	var lit []byte
	flush := func() {
		if len(lit) > 0 {
			toks = append(toks, tok{kind: tLit, s: string(lit)})
			lit = lit[:0]
		}
	}
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case wild && c == '*':
			flush()
			if len(toks) == 0 || toks[len(toks)-1].kind != tStar {
				toks = append(toks, tok{kind: tStar})
			}
			i++
			continue
		case wild && c == '?':
			flush()
			toks = append(toks, tok{kind: tQ})
			i++
			continue
		case vars && c == '$' && i+1 < len(s) && s[i+1] == '{':
			if t, n, ok := parseVariable(s[i:]); ok {
				if t.kind == tLit {
					lit = append(lit, t.s...)
				} else {
					flush()
					toks = append(toks, t)
				}
				i += n
				continue
			}
		}
		lit = append(lit, c)
		i++
	}
	flush()
	return toks
}

// parseVariable reads "${…}" at the start of s. It returns a literal token
// for ${*}, ${?} and ${$}, a variable token for ${key} and
// ${key, 'default'}, and ok=false for anything else (which stays literal
// text: ${}, names with spaces, unterminated braces).
func parseVariable(s string) (t tok, n int, ok bool) {
	end := strings.IndexByte(s, '}')
	if end < 0 {
		return tok{}, 0, false
	}
	body := s[2:end]
	n = end + 1
	switch body {
	case "*", "?", "$":
		return tok{kind: tLit, s: body}, n, true
	case "":
		return tok{}, 0, false
	}
	key, def, hasDef := body, "", false
	if k, rest, found := strings.Cut(body, ","); found {
		rest = strings.TrimLeft(rest, " ")
		if len(rest) < 2 || rest[0] != '\'' || rest[len(rest)-1] != '\'' {
			return tok{}, 0, false
		}
		key, def, hasDef = k, rest[1:len(rest)-1], true
		if strings.IndexByte(def, '\'') >= 0 {
			return tok{}, 0, false
		}
	}
	if key == "" || strings.ContainsAny(key, " \t\r\n${") {
		return tok{}, 0, false
	}
	return tok{kind: tVar, key: key, hash: keyHash(key), s: def, def: hasDef}, n, true
}

// maxStackToks is how many resolved tokens fit the matcher's stack buffer.
const maxStackToks = 16

// mtok is a resolved token: literal text, * or ?.
type mtok struct {
	kind tkind
	s    string
}

// resolve substitutes variables from ctx into buf. ok is false when a
// variable has no single value and no default: the pattern then matches
// nothing.
func (g *glob) resolve(ctx *Context, buf []mtok) ([]mtok, bool) {
	for i := range g.toks {
		t := &g.toks[i]
		switch t.kind {
		case tVar:
			v, ok := ctx.single(t.key, t.hash)
			if !ok {
				if !t.def {
					return nil, false
				}
				v = t.s
			}
			buf = append(buf, mtok{kind: tLit, s: v})
		default:
			buf = append(buf, mtok{kind: t.kind, s: t.s})
		}
	}
	return buf, true
}

// match reports whether s matches the pattern. fold compares ASCII letters
// case-insensitively.
func (g *glob) match(s string, fold bool, ctx *Context) bool {
	switch g.mode {
	case gAny:
		return true
	case gExact:
		if fold {
			return asciiEqualFold(s, g.lit)
		}
		return s == g.lit
	case gPrefix:
		if len(s) < len(g.lit) {
			return false
		}
		if fold {
			return asciiEqualFold(s[:len(g.lit)], g.lit)
		}
		return s[:len(g.lit)] == g.lit
	case gSuffix:
		if len(s) < len(g.lit) {
			return false
		}
		if fold {
			return asciiEqualFold(s[len(s)-len(g.lit):], g.lit)
		}
		return s[len(s)-len(g.lit):] == g.lit
	}
	// Quick reject on the leading literal before resolving variables.
	if len(s) < len(g.lit) {
		return false
	}
	if fold {
		if !asciiEqualFold(s[:len(g.lit)], g.lit) {
			return false
		}
	} else if s[:len(g.lit)] != g.lit {
		return false
	}
	var buf [maxStackToks]mtok
	toks, ok := g.resolve(ctx, buf[:0])
	if !ok {
		return false
	}
	return matchToks(toks, s, fold)
}

// equal reports whether s equals the pattern taken literally (no
// wildcards; variables substituted).
func (g *glob) equal(s string, ctx *Context) bool {
	if !g.vars {
		return s == g.lit
	}
	var buf [maxStackToks]mtok
	toks, ok := g.resolve(ctx, buf[:0])
	if !ok {
		return false
	}
	for _, t := range toks {
		if len(s) < len(t.s) || s[:len(t.s)] != t.s {
			return false
		}
		s = s[len(t.s):]
	}
	return s == ""
}

// equalFold reports whether s equals the pattern (no wildcards) under
// Unicode simple case folding.
func (g *glob) equalFold(s string, ctx *Context) bool {
	if !g.vars {
		return strings.EqualFold(s, g.lit)
	}
	var buf [maxStackToks]mtok
	toks, ok := g.resolve(ctx, buf[:0])
	if !ok {
		return false
	}
	// Compare rune by rune across the resolved pieces.
	ti, off := 0, 0
	for len(s) > 0 {
		for ti < len(toks) && off >= len(toks[ti].s) {
			ti, off = ti+1, 0
		}
		if ti >= len(toks) {
			return false
		}
		r1, n1 := utf8.DecodeRuneInString(s)
		r2, n2 := utf8.DecodeRuneInString(toks[ti].s[off:])
		if !runeEqualFold(r1, r2) {
			return false
		}
		s, off = s[n1:], off+n2
	}
	for ti < len(toks) {
		if off < len(toks[ti].s) {
			return false
		}
		ti, off = ti+1, 0
	}
	return true
}

// matchToks is wildcard matching with single-star backtracking over a
// token list: * matches any run (including empty), ? exactly one
// character.
func matchToks(toks []mtok, s string, fold bool) bool {
	pi, pj, si := 0, 0, 0
	starPi, starSi := -1, 0
	for {
		// Skip exhausted literal tokens.
		for pi < len(toks) && toks[pi].kind == tLit && pj >= len(toks[pi].s) {
			pi, pj = pi+1, 0
		}
		if si >= len(s) {
			break
		}
		if pi < len(toks) {
			t := &toks[pi]
			switch t.kind {
			case tStar:
				if pi == len(toks)-1 {
					return true // a trailing * takes the rest
				}
				pi, pj = pi+1, 0
				starPi, starSi = pi, si
				continue
			case tQ:
				_, n := utf8.DecodeRuneInString(s[si:])
				pi, pj, si = pi+1, 0, si+n
				continue
			case tLit:
				a, b := t.s[pj], s[si]
				if a == b || (fold && lowerASCII(a) == lowerASCII(b)) {
					pj, si = pj+1, si+1
					continue
				}
			}
		}
		if starPi < 0 {
			return false
		}
		_, n := utf8.DecodeRuneInString(s[starSi:])
		starSi += n
		si, pi, pj = starSi, starPi, 0
	}
	for pi < len(toks) {
		t := &toks[pi]
		if t.kind == tStar || (t.kind == tLit && pj >= len(t.s)) {
			pi, pj = pi+1, 0
			continue
		}
		return false
	}
	return true
}

func lowerASCII(c byte) byte {
	if c >= 'A' && c <= 'Z' {
		return c + ('a' - 'A')
	}
	return c
}

// asciiEqualFold compares ASCII letters case-insensitively and every other
// byte exactly.
func asciiEqualFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		if a[i] != b[i] && lowerASCII(a[i]) != lowerASCII(b[i]) {
			return false
		}
	}
	return true
}

// runeEqualFold is strings.EqualFold for one rune pair (Unicode simple
// folding).
func runeEqualFold(a, b rune) bool {
	if a == b {
		return true
	}
	if a < utf8.RuneSelf && b < utf8.RuneSelf {
		return lowerASCII(byte(a)) == lowerASCII(byte(b))
	}
	for r := unicode.SimpleFold(a); r != a; r = unicode.SimpleFold(r) {
		if r == b {
			return true
		}
	}
	return false
}
