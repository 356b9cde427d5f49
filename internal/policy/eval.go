package policy

// miss says which element of a statement did not match.
type miss uint8

const (
	missNone miss = iota
	missPrincipal
	missAction
	missResource
	missCondition
)

// String names the element for explanations.
func (m miss) String() string {
	switch m {
	case missPrincipal:
		return "Principal"
	case missAction:
		return "Action"
	case missResource:
		return "Resource"
	case missCondition:
		return "Condition"
	}
	return ""
}

// loweredMax bounds the stack buffers of evalState.
const loweredMax = 128

// evalState is what one evaluation computes once about its request: the
// action lower-cased and the resource ARN's first five segments
// lower-cased, so that most pattern tests are plain comparisons. It lives
// on Evaluate's stack.
type evalState struct {
	req  *Request
	ctx  *Context
	act  [loweredMax]byte
	actN int // -1: action longer than the buffer
	pre  [loweredMax]byte
	preN int // -1: not an ARN; -2: prefix longer than the buffer
	rest string
}

func (ev *evalState) init(req *Request) {
	ev.req, ev.ctx = req, req.Context
	a := req.Action
	if len(a) <= loweredMax {
		for i := 0; i < len(a); i++ {
			ev.act[i] = lowerASCII(a[i])
		}
		ev.actN = len(a)
	} else {
		ev.actN = -1
	}
	r := req.Resource
	colons, end := 0, -1
	for i := 0; i < len(r); i++ {
		if r[i] == ':' {
			colons++
			if colons == 5 {
				end = i + 1
				break
			}
		}
	}
	switch {
	case end < 0:
		ev.preN = -1
	case end > loweredMax:
		ev.preN = -2
	default:
		for i := 0; i < end; i++ {
			ev.pre[i] = lowerASCII(r[i])
		}
		ev.preN, ev.rest = end, r[end:]
	}
}

// match tests one statement. resourcePolicy says the statement belongs to
// a resource-based policy: its Principal/NotPrincipal element is checked
// (a statement without one names nobody) and a statement without Resource
// covers the policy's own resource. In identity, boundary and session
// policies Principal is ignored and a statement without Resource matches
// nothing. cond is the index of the first failing condition.
func (s *cstmt) match(ev *evalState, resourcePolicy bool) (pm pmatch, m miss, cond int) {
	req := ev.req
	if resourcePolicy {
		if s.principal == nil {
			return pmNone, missPrincipal, -1
		}
		if s.notPrincipal {
			if s.principal.covers(&req.Principal) {
				return pmNone, missPrincipal, -1
			}
			pm = pmWildcard
		} else if pm = s.principal.match(&req.Principal); pm == pmNone {
			return pmNone, missPrincipal, -1
		}
	}
	if !s.matchAction(ev) {
		return pm, missAction, -1
	}
	if !s.matchResource(ev, resourcePolicy) {
		return pm, missResource, -1
	}
	for i := range s.conds {
		if !s.conds[i].eval(ev.ctx) {
			return pm, missCondition, i
		}
	}
	return pm, missNone, -1
}

func (s *cstmt) matchAction(ev *evalState) bool {
	if !s.hasAction {
		return false
	}
	m := s.allActions
	if !m {
		for i := range s.actions {
			if actionMatch(&s.actions[i], ev) {
				m = true
				break
			}
		}
	}
	return m != s.notAction
}

// actionMatch matches a lower-cased action pattern against the request's
// action.
func actionMatch(g *glob, ev *evalState) bool {
	if ev.actN >= 0 {
		act := ev.act[:ev.actN]
		switch g.mode {
		case gExact:
			return string(act) == g.lit
		case gPrefix:
			return len(act) >= len(g.lit) && string(act[:len(g.lit)]) == g.lit
		}
	}
	return g.match(ev.req.Action, true, nil)
}

func (s *cstmt) matchResource(ev *evalState, resourcePolicy bool) bool {
	if !s.hasResource {
		return resourcePolicy
	}
	m := s.allResources
	if !m {
		for i := range s.resources {
			if resourceMatch(&s.resources[i], ev) {
				m = true
				break
			}
		}
	}
	return m != s.notResource
}

// resourceMatch matches a Resource entry against the request's resource.
func resourceMatch(r *resPat, ev *evalState) bool {
	if r.never {
		return false
	}
	if r.segs == nil {
		switch ev.preN {
		case -1:
			return false
		case -2:
		default:
			return string(ev.pre[:ev.preN]) == r.prefix && r.res.match(ev.rest, false, ev.ctx)
		}
	}
	return r.match(ev.req.Resource, ev.ctx)
}

// scan evaluates a document. deny is the first matching Deny statement
// (scanning stops there), allow the matching Allow statement with the
// strongest principal match. With needAllow false only Deny statements are
// tested.
func scan(c *Compiled, ev *evalState, resourcePolicy, needAllow bool) (deny, allow int, best pmatch) {
	deny, allow = -1, -1
	for i := range c.stmts {
		st := &c.stmts[i]
		if !st.deny {
			if !needAllow || (allow >= 0 && (!resourcePolicy || best == pmExact)) {
				continue
			}
		}
		pm, m, _ := st.match(ev, resourcePolicy)
		if m != missNone {
			continue
		}
		if st.deny {
			return i, allow, best
		}
		if allow < 0 || pm > best {
			allow, best = i, pm
		}
	}
	return -1, allow, best
}

func denyBy(by PolicyType, policy, stmt int) Decision {
	return Decision{Result: ExplicitDeny, By: by, Policy: policy, Statement: stmt}
}

func implicitBy(by PolicyType) Decision {
	return Decision{Result: ImplicitDeny, By: by, Policy: -1, Statement: -1}
}

// Evaluate decides req against set. It does not allocate.
//
// An explicit Deny in any layer wins (reported in the order identity,
// resource/trust, boundary, session). Otherwise, in the principal's own
// account, a resource-policy Allow that names the caller grants by itself:
// naming an IAM user or a role session is not limited by the identity
// policies, the boundary or the session policies; naming a role (for its
// sessions) or "*" is still limited by the boundary and the session
// policies; naming the account only delegates to the identity policies. A
// trust policy must allow in every case. Otherwise the identity policies
// must allow, and the boundary and the session policies (when present)
// too; a federated-user session without a session policy is denied; a
// cross-account request also needs the resource policy's Allow.
func Evaluate(set *Set, req *Request) Decision {
	if set == nil || req == nil {
		return implicitBy(PolicyTypeIdentity)
	}
	p := &req.Principal
	var ev evalState
	ev.init(req)

	idPolicy, idStmt := -1, -1
	for i, c := range set.Identity {
		if c == nil {
			continue
		}
		dn, al, _ := scan(c, &ev, false, idPolicy < 0)
		if dn >= 0 {
			return denyBy(PolicyTypeIdentity, i, dn)
		}
		if al >= 0 && idPolicy < 0 {
			idPolicy, idStmt = i, al
		}
	}

	rtype := PolicyTypeResource
	if set.ResourceIsTrust {
		rtype = PolicyTypeTrust
	}
	rpStmt, rpm := -1, pmNone
	if set.Resource != nil {
		dn, al, pm := scan(set.Resource, &ev, true, true)
		if dn >= 0 {
			return denyBy(rtype, 0, dn)
		}
		rpStmt, rpm = al, pm
	}

	bAllow := true
	if set.Boundary != nil {
		dn, al, _ := scan(set.Boundary, &ev, false, true)
		if dn >= 0 {
			return denyBy(PolicyTypeBoundary, 0, dn)
		}
		bAllow = al >= 0
	}

	sAllow := p.Type != PrincipalFederatedUser
	if len(set.Session) > 0 {
		sAllow = false
		for i, c := range set.Session {
			if c == nil {
				continue
			}
			dn, al, _ := scan(c, &ev, false, !sAllow)
			if dn >= 0 {
				return denyBy(PolicyTypeSession, i, dn)
			}
			if al >= 0 {
				sAllow = true
			}
		}
	}

	sameAccount := req.ResourceAccount == "" || req.ResourceAccount == p.AccountID
	if rpStmt >= 0 && sameAccount {
		grant := false
		switch rpm {
		case pmExact:
			grant = true
		case pmRole, pmWildcard:
			// The grant is limited by the boundary and the session
			// policies; the identity path needs them too, so the layer
			// that blocks the grant is the reason.
			switch {
			case !bAllow:
				return implicitBy(PolicyTypeBoundary)
			case !sAllow:
				return implicitBy(PolicyTypeSession)
			}
			grant = true
		}
		if grant {
			return Decision{Result: Allow, By: rtype, Policy: 0, Statement: rpStmt}
		}
	}
	if set.ResourceIsTrust && rpStmt < 0 {
		return implicitBy(PolicyTypeTrust)
	}
	var idOK bool
	switch p.Type {
	case PrincipalRoot:
		idOK = true
	case PrincipalUser, PrincipalRole, PrincipalAssumedRole, PrincipalFederatedUser:
		idOK = idPolicy >= 0
	default:
		// Services, web identities and anonymous callers have no identity
		// policies: only a resource policy can grant them anything.
		return implicitBy(rtype)
	}
	switch {
	case !idOK:
		return implicitBy(PolicyTypeIdentity)
	case !bAllow:
		return implicitBy(PolicyTypeBoundary)
	case !sAllow:
		return implicitBy(PolicyTypeSession)
	case !sameAccount && rpStmt < 0:
		return implicitBy(rtype)
	}
	if idPolicy < 0 {
		return Decision{Result: Allow, By: PolicyTypeNone, Policy: -1, Statement: -1}
	}
	return Decision{Result: Allow, By: PolicyTypeIdentity, Policy: idPolicy, Statement: idStmt}
}
