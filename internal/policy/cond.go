package policy

import (
	"net/netip"
	"strings"
)

// eval evaluates the condition against ctx.
//
// Semantics (docs/policy.md): a missing key makes a positive operator
// false and a negated one true, an …IfExists operator true, ForAllValues
// true and ForAnyValue false. Policy values are OR'ed; for negated
// operators they are NOR'ed. Without a set qualifier a key with several
// values behaves like ForAnyValue for a positive operator and like
// ForAllValues for a negated one, so that each negated operator is exactly
// the complement of its positive form.
func (c *ccond) eval(ctx *Context) bool {
	if c.base == opNull {
		_, present := ctx.getHash(c.key, c.keyHash)
		if present {
			return c.bits&bitFalse != 0
		}
		return c.bits&bitTrue != 0
	}
	vals, ok := ctx.getHash(c.key, c.keyHash)
	if !ok {
		if c.ifExists {
			return true
		}
		switch c.set {
		case setAll:
			return true
		case setAny:
			return false
		}
		return c.negated
	}
	switch c.set {
	case setAny:
		for _, v := range vals {
			if c.value(v, ctx) {
				return true
			}
		}
		return false
	case setAll:
		for _, v := range vals {
			if !c.value(v, ctx) {
				return false
			}
		}
		return true
	}
	if len(vals) == 1 {
		return c.value(vals[0], ctx)
	}
	if c.negated {
		for _, v := range vals {
			if !c.value(v, ctx) {
				return false
			}
		}
		return true
	}
	for _, v := range vals {
		if c.value(v, ctx) {
			return true
		}
	}
	return false
}

// value reports whether one request value satisfies the operator,
// negation included. A value that does not parse as the operator's type
// (a number, a date, an address, a boolean, an ARN) satisfies neither the
// operator nor its negation.
func (c *ccond) value(v string, ctx *Context) bool {
	m := false
	switch c.base {
	case opStringEquals, opStringNotEquals:
		for i := range c.strs {
			if c.strs[i].equal(v, ctx) {
				m = true
				break
			}
		}
	case opStringEqualsIgnoreCase, opStringNotEqualsIgnoreCase:
		for i := range c.strs {
			if c.strs[i].equalFold(v, ctx) {
				m = true
				break
			}
		}
	case opStringLike, opStringNotLike:
		for i := range c.strs {
			if c.strs[i].match(v, false, ctx) {
				m = true
				break
			}
		}
	case opArnEquals, opArnLike, opArnNotEquals, opArnNotLike:
		if strings.Count(v, ":") < 5 {
			return false
		}
		for i := range c.typed.arns {
			if c.typed.arns[i].match(v, ctx) {
				m = true
				break
			}
		}
	case opNumericEquals, opNumericNotEquals, opNumericLessThan, opNumericLessThanEquals,
		opNumericGreaterThan, opNumericGreaterThanEquals:
		n, ok := parseNumber(v)
		if !ok {
			return false
		}
		for _, pv := range c.typed.nums {
			if cmpSatisfies(c.base, n.cmp(pv)) {
				m = true
				break
			}
		}
	case opDateEquals, opDateNotEquals, opDateLessThan, opDateLessThanEquals,
		opDateGreaterThan, opDateGreaterThanEquals:
		d, ok := parseDate(v)
		if !ok {
			return false
		}
		for _, pv := range c.typed.dates {
			if cmpSatisfies(c.base, d.cmp(pv)) {
				m = true
				break
			}
		}
	case opBool:
		b, ok := parseBool(v)
		if !ok {
			return false
		}
		if b {
			m = c.bits&bitTrue != 0
		} else {
			m = c.bits&bitFalse != 0
		}
	case opBinaryEquals:
		for _, pv := range c.typed.bins {
			if pv == v {
				m = true
				break
			}
		}
	case opIPAddress, opNotIPAddress:
		a, ok := parseRequestAddr(v)
		if !ok {
			return false
		}
		for _, pv := range c.typed.ips {
			if pv.Contains(a) {
				m = true
				break
			}
		}
	default:
		return false
	}
	if c.negated {
		return !m
	}
	return m
}

// cmpSatisfies maps a comparison of request value against policy value
// (-1, 0, 1) to the operator's verdict. Negated operators report equality;
// value negates it.
func cmpSatisfies(op baseOp, r int) bool {
	switch op {
	case opNumericEquals, opNumericNotEquals, opDateEquals, opDateNotEquals:
		return r == 0
	case opNumericLessThan, opDateLessThan:
		return r < 0
	case opNumericLessThanEquals, opDateLessThanEquals:
		return r <= 0
	case opNumericGreaterThan, opDateGreaterThan:
		return r > 0
	case opNumericGreaterThanEquals, opDateGreaterThanEquals:
		return r >= 0
	}
	return false
}

// parseRequestAddr reads an IPv4 or IPv6 address; IPv4-mapped IPv6
// addresses become IPv4 and zones are dropped.
func parseRequestAddr(s string) (netip.Addr, bool) {
	if len(s) == 0 || len(s) > 64 {
		return netip.Addr{}, false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(isDigit(c) || c == '.' || c == ':' || c == '%' || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') ||
			(i > 0 && strings.IndexByte(s[:i], '%') >= 0)) {
			return netip.Addr{}, false
		}
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, false
	}
	return a.Unmap().WithZone(""), true
}
