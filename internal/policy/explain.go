package policy

import (
	"strconv"
	"strings"
)

// DenialMessage returns the sentence AWS puts in an AccessDenied error for
// this decision, or "" for Allow:
//
//	User: ARN is not authorized to perform: ACTION on resource: RESOURCE because no identity-based policy allows the ACTION action
//	User: ARN is not authorized to perform: ACTION on resource: RESOURCE with an explicit deny in an identity-based policy
//
// with "permissions boundary", "session policy" or "resource-based policy"
// in place of "identity-based policy" as the deciding layer requires. A
// trust-policy refusal is the bare sentence ("User: ARN is not authorized
// to perform: sts:AssumeRole on resource: ROLE_ARN"), as STS prints it.
func (d Decision) DenialMessage(principalARN, action, resource string) string {
	if d.Result == Allow {
		return ""
	}
	head := "User: " + principalARN + " is not authorized to perform: " + action + " on resource: " + resource
	if d.By == PolicyTypeTrust {
		return head
	}
	if d.Result == ExplicitDeny {
		return head + " with an explicit deny in " + withArticle(d.By)
	}
	return head + " because no " + layerNoun(d.By) + " allows the " + action + " action"
}

func layerNoun(t PolicyType) string {
	switch t {
	case PolicyTypeResource, PolicyTypeTrust:
		return "resource-based policy"
	case PolicyTypeBoundary:
		return "permissions boundary"
	case PolicyTypeSession:
		return "session policy"
	}
	return "identity-based policy"
}

func withArticle(t PolicyType) string {
	n := layerNoun(t)
	if n == "identity-based policy" {
		return "an " + n
	}
	return "a " + n
}

// Explanation tells why Evaluate decided as it did: the decision and, for
// every statement of every policy in the set, whether it matched and, if
// not, on which element or condition.
type Explanation struct {
	Decision
	// Statements in evaluation order: identity policies, the resource
	// policy, the boundary, the session policies.
	Statements []StatementTrace
}

// StatementTrace is the outcome of one statement.
type StatementTrace struct {
	// Layer is the policy type of the document.
	Layer PolicyType
	// Policy is the index of the document within its layer.
	Policy int
	// Statement is the index of the statement within the document.
	Statement int
	// Sid is the statement's Sid.
	Sid    string
	Effect Effect
	// Matched reports that every element matched.
	Matched bool
	// Mismatch names the first element that did not match: "Principal",
	// "Action" (also for NotAction), "Resource" (also for NotResource) or
	// "Condition"; "" when Matched.
	Mismatch string
	// PrincipalMatch says how a resource policy's Principal named the
	// caller: "exact", "role", "wildcard", "account"; "" otherwise.
	PrincipalMatch string
	// ConditionOperator and ConditionKey identify the failing condition.
	ConditionOperator string
	ConditionKey      string
	// RequestValues are the request's values of ConditionKey (nil when the
	// key is absent).
	RequestValues []string
	// Decisive reports the statement that decided (Decision.Policy and
	// Decision.Statement).
	Decisive bool
	// Start and End are the positions of the statement's opening and
	// closing braces in its document.
	Start, End Position
}

// String names the match kind for explanations.
func (m pmatch) String() string {
	switch m {
	case pmAccount:
		return "account"
	case pmWildcard:
		return "wildcard"
	case pmRole:
		return "role"
	case pmExact:
		return "exact"
	}
	return ""
}

// Explain evaluates req against set like Evaluate and records every
// statement's outcome. It allocates; use it for error details, policy
// simulation and `podid explain`, not on the request path.
func Explain(set *Set, req *Request) *Explanation {
	e := &Explanation{Decision: Evaluate(set, req)}
	if set == nil || req == nil {
		return e
	}
	var ev evalState
	ev.init(req)
	add := func(layer PolicyType, pi int, c *Compiled, resourcePolicy bool) {
		if c == nil {
			return
		}
		for si := range c.stmts {
			st := &c.stmts[si]
			pm, m, ci := st.match(&ev, resourcePolicy)
			tr := StatementTrace{
				Layer: layer, Policy: pi, Statement: si, Sid: st.sid,
				Effect: EffectAllow, Matched: m == missNone, Mismatch: m.String(),
				PrincipalMatch: pm.String(),
			}
			if st.deny {
				tr.Effect = EffectDeny
			}
			if ci >= 0 {
				cc := &st.conds[ci]
				tr.ConditionOperator, tr.ConditionKey = cc.op, cc.key
				if vals, ok := req.Context.Get(cc.key); ok {
					tr.RequestValues = append([]string(nil), vals...)
				}
			}
			tr.Decisive = e.By == layer && e.Policy == pi && e.Statement == si
			tr.Start, tr.End = c.policy.StatementRange(si)
			e.Statements = append(e.Statements, tr)
		}
	}
	for i, c := range set.Identity {
		add(PolicyTypeIdentity, i, c, false)
	}
	rtype := PolicyTypeResource
	if set.ResourceIsTrust {
		rtype = PolicyTypeTrust
	}
	add(rtype, 0, set.Resource, true)
	add(PolicyTypeBoundary, 0, set.Boundary, false)
	for i, c := range set.Session {
		add(PolicyTypeSession, i, c, false)
	}
	return e
}

// String renders the explanation for people, one statement a line:
//
//	ImplicitDeny (identity-based policy)
//	  identity-based policy #0 statement 2 "Logs" Allow: no match on Condition StringEquals aws:PrincipalType (request: ["Role"])
func (e *Explanation) String() string {
	var b strings.Builder
	b.WriteString(e.Result.String())
	if e.By != PolicyTypeNone {
		b.WriteString(" (")
		b.WriteString(e.By.String())
		b.WriteString(")")
	}
	b.WriteByte('\n')
	for _, t := range e.Statements {
		b.WriteString("  ")
		b.WriteString(t.Layer.String())
		b.WriteString(" #")
		b.WriteString(strconv.Itoa(t.Policy))
		b.WriteString(" statement ")
		b.WriteString(strconv.Itoa(t.Statement))
		if t.Sid != "" {
			b.WriteString(" ")
			b.WriteString(strconv.Quote(t.Sid))
		}
		b.WriteString(" ")
		b.WriteString(t.Effect.String())
		b.WriteString(": ")
		switch {
		case t.Matched && t.Decisive:
			b.WriteString("matched (decisive)")
		case t.Matched:
			b.WriteString("matched")
		default:
			b.WriteString("no match on ")
			b.WriteString(t.Mismatch)
			if t.Mismatch == "Condition" {
				b.WriteString(" ")
				b.WriteString(t.ConditionOperator)
				b.WriteString(" ")
				b.WriteString(t.ConditionKey)
				if t.RequestValues == nil {
					b.WriteString(" (key absent)")
				} else {
					b.WriteString(" (request: [")
					for i, v := range t.RequestValues {
						if i > 0 {
							b.WriteString(", ")
						}
						b.WriteString(strconv.Quote(v))
					}
					b.WriteString("])")
				}
			}
		}
		if t.PrincipalMatch != "" {
			b.WriteString(" [principal: ")
			b.WriteString(t.PrincipalMatch)
			b.WriteString("]")
		}
		b.WriteByte('\n')
	}
	return b.String()
}
