package policy

import (
	"crypto/sha256"
	"encoding/base64"
	"net/netip"
	"strings"
	"sync"

	"github.com/podid/podid/internal/arn"
)

// Compiled is a parsed policy prepared for evaluation: wildcard patterns
// are classified, actions lower-cased, condition values typed (numbers,
// dates, CIDRs, booleans) and principals normalized. It is immutable and
// safe for concurrent use.
type Compiled struct {
	policy   *Policy
	hashOnce sync.Once
	hash     [32]byte
	stmts    []cstmt
}

// Policy returns the parsed document. It is shared by every user of the
// Compiled value and must not be modified.
func (c *Compiled) Policy() *Policy { return c.policy }

// Text returns the original document.
func (c *Compiled) Text() string { return c.policy.Text }

// Hash returns the SHA-256 of the original document, computed on first
// use.
func (c *Compiled) Hash() [32]byte {
	c.hashOnce.Do(func() {
		h := sha256.New()
		var buf [1024]byte
		for s := c.policy.Text; len(s) > 0; {
			n := copy(buf[:], s)
			h.Write(buf[:n])
			s = s[n:]
		}
		h.Sum(c.hash[:0])
	})
	return c.hash
}

// Compile parses and compiles doc without caching; see Engine.Compile for
// the cached form.
func Compile(doc string) (*Compiled, error) {
	p, err := Parse(doc)
	if err != nil {
		return nil, err
	}
	return compilePolicy(p), nil
}

// CompilePolicy compiles an already parsed policy.
func CompilePolicy(p *Policy) *Compiled {
	return compilePolicy(p)
}

type cstmt struct {
	sid          string
	deny         bool
	principal    *cprincipal // nil: no Principal/NotPrincipal
	notPrincipal bool
	hasAction    bool
	notAction    bool
	allActions   bool
	actions      []glob
	hasResource  bool
	notResource  bool
	allResources bool
	resources    []resPat
	conds        []ccond
}

func compilePolicy(p *Policy) *Compiled {
	vars := p.VariablesEnabled()
	c := &Compiled{policy: p, stmts: make([]cstmt, len(p.Statements))}
	// One backing array each for all statements' actions, resources and
	// conditions.
	var na, nr, nc int
	for i := range p.Statements {
		st := &p.Statements[i]
		na, nr, nc = na+len(st.Action), nr+len(st.Resource), nc+len(st.Conditions)
	}
	actions := make([]glob, 0, na)
	resources := make([]resPat, 0, nr)
	conds := make([]ccond, nc)
	for i := range p.Statements {
		st := &p.Statements[i]
		cs := &c.stmts[i]
		cs.sid = st.Sid
		cs.deny = st.Effect == EffectDeny
		if st.Principal != nil {
			cs.principal = compilePrincipal(st.Principal)
			cs.notPrincipal = st.NotPrincipal
		}
		cs.hasAction, cs.notAction = st.HasAction, st.NotAction
		from := len(actions)
		for _, a := range st.Action {
			if a == "*" {
				cs.allActions = true
				continue
			}
			actions = append(actions, compileGlob(lowerASCIIString(a), true, false))
		}
		cs.actions = actions[from:len(actions):len(actions)]
		cs.hasResource, cs.notResource = st.HasResource, st.NotResource
		from = len(resources)
		for _, r := range st.Resource {
			rp := compileResource(r, vars)
			if rp.any {
				cs.allResources = true
				continue
			}
			resources = append(resources, rp)
		}
		cs.resources = resources[from:len(resources):len(resources)]
		if n := len(st.Conditions); n > 0 {
			cs.conds, conds = conds[:n:n], conds[n:]
			for j, cond := range st.Conditions {
				compileCondition(&cs.conds[j], cond, vars)
			}
		}
	}
	return c
}

func lowerASCIIString(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 'A' && c <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				b[j] = lowerASCII(b[j])
			}
			return string(b)
		}
	}
	return s
}

// resources -----------------------------------------------------------------

// resPat is a compiled Resource/NotResource entry. The partition, service,
// region and account segments match case-insensitively, each within its
// segment; the resource part (after the fifth colon) matches
// case-sensitively and its * spans "/" and ":".
type resPat struct {
	any    bool
	never  bool
	prefix string // the first five segments with their colons, when literal
	segs   []glob // otherwise: the first five segments
	res    glob
}

// compileResource compiles a Resource value. A value with fewer than six
// segments is padded with "*" segments when it ends with "*" (arn:aws:s3:*)
// and matches nothing otherwise.
func compileResource(r string, vars bool) resPat {
	if r == "*" {
		return resPat{any: true}
	}
	// Positions of the first five colons.
	var colons [5]int
	n := 0
	for i := 0; i < len(r) && n < 5; i++ {
		if r[i] == ':' {
			colons[n] = i
			n++
		}
	}
	if n < 5 {
		if !strings.HasSuffix(r, "*") {
			return resPat{never: true}
		}
		parts := strings.SplitN(r, ":", 6)
		for len(parts) < 6 {
			parts = append(parts, "*")
		}
		r = strings.Join(parts, ":")
		n = 0
		for i := 0; i < len(r) && n < 5; i++ {
			if r[i] == ':' {
				colons[n] = i
				n++
			}
		}
	}
	prefix, rest := r[:colons[4]+1], r[colons[4]+1:]
	rp := resPat{res: compileGlob(rest, true, vars)}
	if !hasWildcard(prefix) {
		rp.prefix = lowerASCIIString(prefix)
		return rp
	}
	rp.segs = make([]glob, 5)
	start := 0
	for k := 0; k < 5; k++ {
		rp.segs[k] = compileGlob(lowerASCIIString(r[start:colons[k]]), true, false)
		start = colons[k] + 1
	}
	return rp
}

func (r *resPat) match(s string, ctx *Context) bool {
	if r.never {
		return false
	}
	var rest string
	if r.segs == nil {
		if len(s) < len(r.prefix) || !asciiEqualFold(s[:len(r.prefix)], r.prefix) {
			return false
		}
		rest = s[len(r.prefix):]
	} else {
		start := 0
		for k := 0; k < 5; k++ {
			j := strings.IndexByte(s[start:], ':')
			if j < 0 {
				return false
			}
			if !r.segs[k].match(s[start:start+j], true, ctx) {
				return false
			}
			start += j + 1
		}
		rest = s[start:]
	}
	return r.res.match(rest, false, ctx)
}

// hasWildcard reports whether s contains * or ?.
func hasWildcard(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == '*' || s[i] == '?' {
			return true
		}
	}
	return false
}

// principals ----------------------------------------------------------------

type cprincipal struct {
	any       bool
	accounts  []string
	arns      []string
	services  []string
	federated []string
	canonical []string
}

// pmatch is how a Principal element matched the caller, weakest first.
type pmatch uint8

const (
	pmNone     pmatch = iota
	pmAccount         // the caller's account (delegation)
	pmWildcard        // "*"
	pmRole            // the role of a session, or a role itself
	pmExact           // the user, session, federated user, service or provider
)

func compilePrincipal(b *PrincipalBlock) *cprincipal {
	cp := &cprincipal{any: b.Wildcard}
	for _, a := range b.AWS {
		switch {
		case a == "*":
			cp.any = true
		case arn.IsValidAccountID(a):
			cp.accounts = append(cp.accounts, a)
		default:
			if acct, ok := rootARNAccount(a); ok {
				cp.accounts = append(cp.accounts, acct)
			} else {
				cp.arns = append(cp.arns, a)
			}
		}
	}
	for _, s := range b.Service {
		if s == "*" {
			cp.any = true
			continue
		}
		cp.services = append(cp.services, lowerASCIIString(s))
	}
	for _, f := range b.Federated {
		if f == "*" {
			cp.any = true
			continue
		}
		cp.federated = append(cp.federated, f)
	}
	for _, cu := range b.CanonicalUser {
		if cu == "*" {
			cp.any = true
			continue
		}
		cp.canonical = append(cp.canonical, cu)
	}
	return cp
}

// rootARNAccount returns ACCT of arn:PARTITION:iam::ACCT:root.
func rootARNAccount(s string) (string, bool) {
	a, err := arn.Parse(s)
	if err != nil || a.Service != "iam" || a.Region != "" || a.Resource != "root" || !arn.IsValidAccountID(a.AccountID) {
		return "", false
	}
	return a.AccountID, true
}

func contains(list []string, s string) bool {
	if s == "" {
		return false
	}
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func isAWSCaller(t PrincipalType) bool {
	switch t {
	case PrincipalRoot, PrincipalUser, PrincipalRole, PrincipalAssumedRole, PrincipalFederatedUser:
		return true
	}
	return false
}

// match returns the strongest way the element names the caller.
func (cp *cprincipal) match(c *Principal) pmatch {
	best := pmNone
	if cp.any {
		best = pmWildcard
	}
	switch c.Type {
	case PrincipalUser, PrincipalFederatedUser:
		if contains(cp.arns, c.ARN) {
			return pmExact
		}
	case PrincipalAssumedRole:
		if contains(cp.arns, c.ARN) {
			return pmExact
		}
		if contains(cp.arns, c.RoleARN) {
			best = pmRole
		}
	case PrincipalRole:
		if contains(cp.arns, c.ARN) {
			best = pmRole
		}
	case PrincipalService:
		for _, s := range cp.services {
			if asciiEqualFold(s, c.ARN) {
				return pmExact
			}
		}
	case PrincipalWebIdentity:
		if contains(cp.federated, c.ARN) {
			return pmExact
		}
	}
	if contains(cp.canonical, c.CanonicalUser) {
		return pmExact
	}
	if best == pmNone && isAWSCaller(c.Type) && contains(cp.accounts, c.AccountID) {
		best = pmAccount
	}
	return best
}

// covers reports whether a NotPrincipal element lists every identity of
// the caller (for a session: the session, its role and the account; for a
// user: the user and the account). A NotPrincipal statement applies to the
// callers it does not cover.
func (cp *cprincipal) covers(c *Principal) bool {
	if cp.any {
		return true
	}
	acct := contains(cp.accounts, c.AccountID)
	switch c.Type {
	case PrincipalRoot:
		return acct
	case PrincipalUser, PrincipalRole, PrincipalFederatedUser:
		return acct && contains(cp.arns, c.ARN)
	case PrincipalAssumedRole:
		return acct && contains(cp.arns, c.ARN) && contains(cp.arns, c.RoleARN)
	case PrincipalService:
		for _, s := range cp.services {
			if asciiEqualFold(s, c.ARN) {
				return true
			}
		}
	case PrincipalWebIdentity:
		return contains(cp.federated, c.ARN)
	}
	return contains(cp.canonical, c.CanonicalUser)
}

// conditions ----------------------------------------------------------------

// ccond is one compiled condition (operator + key + values). String
// operators keep their patterns in strs; Bool and Null their values in
// bits; every other operator its typed values behind typed.
type ccond struct {
	op       string // as written, for explanations
	key      string
	keyHash  uint64
	base     baseOp
	set      setQual
	ifExists bool
	negated  bool
	bits     uint8 // Bool, Null: bitTrue / bitFalse present among the values

	strs  []glob
	typed *typedVals
}

const (
	bitTrue  = 1
	bitFalse = 2
)

// typedVals are the parsed values of the ARN, numeric, date, IP and binary
// operators. Values that do not parse are dropped (they match nothing).
type typedVals struct {
	arns  []arnPat
	nums  []number
	dates []instant
	ips   []netip.Prefix
	bins  []string // canonical base64
}

// arnPat is an ARN condition value: six segments, each matched on its own
// (case-sensitive, with * and ?).
type arnPat struct {
	any   bool
	never bool
	segs  []glob
}

func compileCondition(cc *ccond, c Condition, vars bool) {
	oi := parseOperator(c.Operator)
	*cc = ccond{op: c.Operator, key: c.Key, keyHash: keyHash(c.Key), base: oi.base, set: oi.set, ifExists: oi.ifExists, negated: oi.base.negated()}
	nv := len(c.Values)
	switch oi.base {
	case opStringEquals, opStringNotEquals, opStringEqualsIgnoreCase, opStringNotEqualsIgnoreCase:
		cc.strs = make([]glob, nv)
		for i, v := range c.Values {
			cc.strs[i] = compileGlob(v, false, vars)
		}
		return
	case opStringLike, opStringNotLike:
		cc.strs = make([]glob, nv)
		for i, v := range c.Values {
			cc.strs[i] = compileGlob(v, true, vars)
		}
		return
	case opBool, opNull:
		for _, v := range c.Values {
			if b, ok := parseBool(v); ok && b {
				cc.bits |= bitTrue
			} else if ok {
				cc.bits |= bitFalse
			}
		}
		return
	case opUnknown:
		return
	}
	tv := &typedVals{}
	cc.typed = tv
	for _, v := range c.Values {
		switch oi.base {
		case opArnEquals, opArnLike, opArnNotEquals, opArnNotLike:
			if tv.arns == nil {
				tv.arns = make([]arnPat, 0, nv)
			}
			tv.arns = append(tv.arns, compileARNPattern(v, vars))
		case opNumericEquals, opNumericNotEquals, opNumericLessThan, opNumericLessThanEquals,
			opNumericGreaterThan, opNumericGreaterThanEquals:
			if n, ok := parseNumber(v); ok {
				tv.nums = append(tv.nums, n)
			}
		case opDateEquals, opDateNotEquals, opDateLessThan, opDateLessThanEquals,
			opDateGreaterThan, opDateGreaterThanEquals:
			if d, ok := parseDate(v); ok {
				tv.dates = append(tv.dates, d)
			}
		case opBinaryEquals:
			if raw, err := base64.StdEncoding.DecodeString(v); err == nil {
				tv.bins = append(tv.bins, base64.StdEncoding.EncodeToString(raw))
			}
		case opIPAddress, opNotIPAddress:
			if pfx, ok := parseCIDR(v); ok {
				if tv.ips == nil {
					tv.ips = make([]netip.Prefix, 0, nv)
				}
				tv.ips = append(tv.ips, pfx)
			}
		}
	}
}

// parseCIDR reads a CIDR or a bare address (a /32 or /128).
func parseCIDR(s string) (netip.Prefix, bool) {
	if strings.IndexByte(s, '/') >= 0 {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, false
		}
		if p.Addr().Is4In6() {
			bits := p.Bits() - 96
			if bits < 0 {
				return netip.Prefix{}, false
			}
			p = netip.PrefixFrom(p.Addr().Unmap(), bits)
		}
		return p.Masked(), true
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, false
	}
	a = a.Unmap().WithZone("")
	return netip.PrefixFrom(a, a.BitLen()), true
}

func compileARNPattern(v string, vars bool) arnPat {
	if v == "*" {
		return arnPat{any: true}
	}
	parts := splitARN(v, vars)
	if len(parts) < 6 {
		return arnPat{never: true}
	}
	ap := arnPat{segs: make([]glob, 6)}
	for i, s := range parts {
		ap.segs[i] = compileGlob(s, true, vars)
	}
	return ap
}

// splitARN splits an ARN pattern into at most six segments; with vars, a
// colon inside ${…} does not split.
func splitARN(v string, vars bool) []string {
	if !vars || !strings.Contains(v, "${") {
		return strings.SplitN(v, ":", 6)
	}
	parts := make([]string, 0, 6)
	start := 0
	for i := 0; i < len(v) && len(parts) < 5; i++ {
		switch v[i] {
		case '$':
			if i+1 < len(v) && v[i+1] == '{' {
				if end := strings.IndexByte(v[i:], '}'); end > 0 {
					i += end
				}
			}
		case ':':
			parts = append(parts, v[start:i])
			start = i + 1
		}
	}
	return append(parts, v[start:])
}

func (a *arnPat) match(v string, ctx *Context) bool {
	if a.any {
		return true
	}
	if a.never {
		return false
	}
	start := 0
	for k := 0; k < 5; k++ {
		j := strings.IndexByte(v[start:], ':')
		if j < 0 {
			return false
		}
		if !a.segs[k].match(v[start:start+j], false, ctx) {
			return false
		}
		start += j + 1
	}
	return a.segs[5].match(v[start:], false, ctx)
}
