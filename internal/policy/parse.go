package policy

import "strings"

// Versions of the policy language.
const (
	Version2012 = "2012-10-17"
	Version2008 = "2008-10-17"
)

// AWS's messages for documents rejected by the parser.
const (
	msgSyntax        = "Syntax errors in policy."
	msgLegacyParsing = "The policy failed legacy parsing"
)

// Policy is a parsed policy document.
type Policy struct {
	// Text is the document exactly as given, for display.
	Text string
	// Version is the Version element, "" when absent (which means
	// 2008-10-17).
	Version string
	// ID is the Id element ("" when absent).
	ID string
	// HasID reports whether the Id element is present.
	HasID bool
	// Statements in document order. A single Statement object is a
	// one-element list.
	Statements []Statement
}

// Position is a place in a policy document: Line and Column count from 1,
// columns in characters (Unicode code points), as IAM's policy simulator
// reports statement positions.
type Position struct {
	Line   int
	Column int
}

// Position returns the line and column of the byte at offset in p.Text
// (offsets beyond the text are clamped to its end).
func (p *Policy) Position(offset int) Position {
	offset = min(max(offset, 0), len(p.Text))
	pos := Position{Line: 1, Column: 1}
	for _, r := range p.Text[:offset] {
		if r == '\n' {
			pos.Line++
			pos.Column = 1
			continue
		}
		pos.Column++
	}
	return pos
}

// StatementRange returns the positions of statement i's opening and
// closing braces.
func (p *Policy) StatementRange(i int) (start, end Position) {
	st := &p.Statements[i]
	return p.Position(st.Offset), p.Position(st.EndOffset - 1)
}

// VariablesEnabled reports whether policy variables are substituted: only
// under Version 2012-10-17. Otherwise "${…}" is literal text.
func (p *Policy) VariablesEnabled() bool { return p.Version == Version2012 }

// Statement is one statement of a policy.
type Statement struct {
	// Sid is the statement ID ("" when absent).
	Sid string
	// HasSid reports whether the Sid element is present.
	HasSid bool
	// Effect is Allow or Deny.
	Effect Effect
	// Principal is the Principal or NotPrincipal element (see
	// NotPrincipal); nil when the statement has neither.
	Principal *PrincipalBlock
	// NotPrincipal reports that Principal came from NotPrincipal.
	NotPrincipal bool
	// Action holds the Action or NotAction values (see NotAction).
	Action []string
	// NotAction reports that Action came from NotAction.
	NotAction bool
	// HasAction reports whether Action or NotAction is present.
	HasAction bool
	// Resource holds the Resource or NotResource values (see NotResource);
	// JSON null entries are dropped.
	Resource []string
	// NotResource reports that Resource came from NotResource.
	NotResource bool
	// HasResource reports whether Resource or NotResource is present.
	HasResource bool
	// Conditions in document order, one per operator and key.
	Conditions []Condition
	// Offset and EndOffset are the byte offsets of the statement's opening
	// brace and just past its closing brace in Policy.Text
	// (Policy.Position turns them into lines and columns).
	Offset, EndOffset int

	// rawEffect is the Effect as written (validation distinguishes a wrong
	// case from an unknown word).
	rawEffect string
	// resourceNulls counts null entries dropped from Resource.
	resourceNulls int
}

// PrincipalBlock is a Principal or NotPrincipal element.
type PrincipalBlock struct {
	// Wildcard is "Principal": "*" (equivalent to {"AWS": "*"}).
	Wildcard bool
	// AWS are account IDs, IAM/STS ARNs or "*".
	AWS []string
	// Service are service principal names.
	Service []string
	// Federated are identity providers.
	Federated []string
	// CanonicalUser are S3 canonical user IDs.
	CanonicalUser []string
}

// empty reports whether the block names nobody.
func (b *PrincipalBlock) empty() bool {
	return !b.Wildcard && len(b.AWS) == 0 && len(b.Service) == 0 &&
		len(b.Federated) == 0 && len(b.CanonicalUser) == 0
}

// Condition is one key of one condition operator:
// "Condition": {Operator: {Key: Values}}.
type Condition struct {
	// Operator as written, e.g. "ForAnyValue:StringLikeIfExists".
	Operator string
	// Key is the condition key as written.
	Key string
	// Values in document order; JSON booleans and numbers are given in
	// their JSON text ("true", "12").
	Values []string
}

// Parse parses a policy document. It rejects what IAM rejects as "Syntax
// errors in policy." and an Effect in the wrong case ("The policy failed
// legacy parsing"); the remaining checks of IAM's create/update path, which
// depend on the policy kind, are Validate's. A *ValidationError is returned
// on failure.
func Parse(doc string) (*Policy, error) {
	p, verr := parseDoc(doc)
	if verr != nil {
		return nil, verr
	}
	for i := range p.Statements {
		if p.Statements[i].Effect == 0 {
			return nil, malformed(msgLegacyParsing)
		}
	}
	return p, nil
}

func malformed(msg string) *ValidationError {
	return &ValidationError{Code: CodeMalformed, Message: msg}
}

// parseDoc is the syntax stage shared by Parse and Validate. A statement
// whose Effect has the wrong case gets Effect 0 (Validate reports it later,
// in IAM's order).
func parseDoc(doc string) (*Policy, *ValidationError) {
	root, ok := parseJSON(doc)
	if !ok || root.kind != jObj {
		return nil, malformed(msgSyntax)
	}
	p := &Policy{Text: doc}
	var stmts *jval
	for _, m := range root.kids {
		switch m.key {
		case "Version":
			if m.val.kind != jStr || (m.val.s != Version2012 && m.val.s != Version2008) {
				return nil, malformed(msgSyntax)
			}
			p.Version = m.val.s
		case "Id":
			if m.val.kind != jStr {
				return nil, malformed(msgSyntax)
			}
			p.ID, p.HasID = m.val.s, true
		case "Statement":
			stmts = m.val
		default:
			return nil, malformed(msgSyntax)
		}
	}
	if stmts == nil {
		return nil, malformed(msgSyntax)
	}
	var list []*jval
	switch stmts.kind {
	case jObj:
		list = []*jval{stmts}
	case jArr:
		list = make([]*jval, len(stmts.kids))
		for i := range stmts.kids {
			list[i] = stmts.kids[i].val
		}
	default:
		return nil, malformed(msgSyntax)
	}
	if len(list) == 0 {
		return nil, malformed(msgSyntax)
	}
	p.Statements = make([]Statement, len(list))
	for i, sv := range list {
		if !parseStatement(sv, &p.Statements[i]) {
			return nil, malformed(msgSyntax)
		}
	}
	return p, nil
}

func parseStatement(v *jval, st *Statement) bool {
	if v.kind != jObj {
		return false
	}
	st.Offset, st.EndOffset = v.pos, v.end
	var haveEffect bool
	for _, m := range v.kids {
		switch m.key {
		case "Sid":
			if m.val.kind != jStr {
				return false
			}
			st.Sid, st.HasSid = m.val.s, true
		case "Effect":
			if m.val.kind != jStr {
				return false
			}
			switch m.val.s {
			case "Allow":
				st.Effect = EffectAllow
			case "Deny":
				st.Effect = EffectDeny
			default:
				if !strings.EqualFold(m.val.s, "allow") && !strings.EqualFold(m.val.s, "deny") {
					return false
				}
			}
			st.rawEffect, haveEffect = m.val.s, true
		case "Principal", "NotPrincipal":
			if st.Principal != nil {
				return false // both Principal and NotPrincipal
			}
			b, ok := parsePrincipal(m.val)
			if !ok {
				return false
			}
			st.Principal, st.NotPrincipal = b, m.key == "NotPrincipal"
		case "Action", "NotAction":
			if st.HasAction {
				return false
			}
			vals, nulls, ok := stringList(m.val, false)
			if !ok || nulls > 0 {
				return false
			}
			st.Action, st.NotAction, st.HasAction = vals, m.key == "NotAction", true
		case "Resource", "NotResource":
			if st.HasResource {
				return false
			}
			vals, nulls, ok := stringList(m.val, true)
			if !ok {
				return false
			}
			st.Resource, st.NotResource, st.HasResource = vals, m.key == "NotResource", true
			st.resourceNulls = nulls
		case "Condition":
			if !parseConditions(m.val, st) {
				return false
			}
		default:
			return false
		}
	}
	return haveEffect
}

// stringList reads a string or an array of strings. With allowNull, null
// array entries are dropped and counted.
func stringList(v *jval, allowNull bool) (vals []string, nulls int, ok bool) {
	switch v.kind {
	case jStr:
		return []string{v.s}, 0, true
	case jArr:
		vals = make([]string, 0, len(v.kids))
		for _, k := range v.kids {
			e := k.val
			switch {
			case e.kind == jStr:
				vals = append(vals, e.s)
			case e.kind == jNull && allowNull:
				nulls++
			default:
				return nil, 0, false
			}
		}
		return vals, nulls, true
	}
	return nil, 0, false
}

func parsePrincipal(v *jval) (*PrincipalBlock, bool) {
	b := &PrincipalBlock{}
	switch v.kind {
	case jStr:
		if v.s != "*" {
			return nil, false
		}
		b.Wildcard = true
		return b, true
	case jObj:
	default:
		return nil, false
	}
	for _, m := range v.kids {
		vals, _, ok := stringList(m.val, false)
		if !ok {
			return nil, false
		}
		switch m.key {
		case "AWS":
			b.AWS = vals
		case "Service":
			b.Service = vals
		case "Federated":
			b.Federated = vals
		case "CanonicalUser":
			b.CanonicalUser = vals
		default:
			return nil, false
		}
	}
	return b, true
}

// condition operator parsing ------------------------------------------------

// baseOp is a condition operator without qualifier and IfExists.
type baseOp uint8

const (
	opUnknown baseOp = iota
	opStringEquals
	opStringNotEquals
	opStringEqualsIgnoreCase
	opStringNotEqualsIgnoreCase
	opStringLike
	opStringNotLike
	opNumericEquals
	opNumericNotEquals
	opNumericLessThan
	opNumericLessThanEquals
	opNumericGreaterThan
	opNumericGreaterThanEquals
	opDateEquals
	opDateNotEquals
	opDateLessThan
	opDateLessThanEquals
	opDateGreaterThan
	opDateGreaterThanEquals
	opBool
	opBinaryEquals
	opIPAddress
	opNotIPAddress
	opArnEquals
	opArnLike
	opArnNotEquals
	opArnNotLike
	opNull
)

var opNames = [...]string{
	opUnknown:                   "",
	opStringEquals:              "StringEquals",
	opStringNotEquals:           "StringNotEquals",
	opStringEqualsIgnoreCase:    "StringEqualsIgnoreCase",
	opStringNotEqualsIgnoreCase: "StringNotEqualsIgnoreCase",
	opStringLike:                "StringLike",
	opStringNotLike:             "StringNotLike",
	opNumericEquals:             "NumericEquals",
	opNumericNotEquals:          "NumericNotEquals",
	opNumericLessThan:           "NumericLessThan",
	opNumericLessThanEquals:     "NumericLessThanEquals",
	opNumericGreaterThan:        "NumericGreaterThan",
	opNumericGreaterThanEquals:  "NumericGreaterThanEquals",
	opDateEquals:                "DateEquals",
	opDateNotEquals:             "DateNotEquals",
	opDateLessThan:              "DateLessThan",
	opDateLessThanEquals:        "DateLessThanEquals",
	opDateGreaterThan:           "DateGreaterThan",
	opDateGreaterThanEquals:     "DateGreaterThanEquals",
	opBool:                      "Bool",
	opBinaryEquals:              "BinaryEquals",
	opIPAddress:                 "IpAddress",
	opNotIPAddress:              "NotIpAddress",
	opArnEquals:                 "ArnEquals",
	opArnLike:                   "ArnLike",
	opArnNotEquals:              "ArnNotEquals",
	opArnNotLike:                "ArnNotLike",
	opNull:                      "Null",
}

func lookupOp(name string) baseOp {
	for i := 1; i < len(opNames); i++ {
		if opNames[i] == name {
			return baseOp(i)
		}
	}
	return opUnknown
}

// negated reports whether the operator is a negated one (NOR over policy
// values, true on a missing key).
func (o baseOp) negated() bool {
	switch o {
	case opStringNotEquals, opStringNotEqualsIgnoreCase, opStringNotLike,
		opNumericNotEquals, opDateNotEquals, opNotIPAddress,
		opArnNotEquals, opArnNotLike:
		return true
	}
	return false
}

// setQual is the ForAnyValue/ForAllValues qualifier.
type setQual uint8

const (
	setNone setQual = iota
	setAny
	setAll
)

// opInfo is a parsed operator name.
type opInfo struct {
	base     baseOp
	set      setQual
	ifExists bool
}

// parseOperator splits "ForAnyValue:StringLikeIfExists". Operator names are
// case-sensitive (docs/policy.md). Only the first qualifier is stripped, so
// "ForAnyValue::X" and "ForAnyValue:ForAllValues:X" are unknown.
func parseOperator(name string) opInfo {
	var oi opInfo
	switch {
	case strings.HasPrefix(name, "ForAnyValue:"):
		oi.set, name = setAny, name[len("ForAnyValue:"):]
	case strings.HasPrefix(name, "ForAllValues:"):
		oi.set, name = setAll, name[len("ForAllValues:"):]
	}
	if b := lookupOp(name); b != opUnknown {
		oi.base = b
		return oi
	}
	if rest, ok := strings.CutSuffix(name, "IfExists"); ok {
		oi.base, oi.ifExists = lookupOp(rest), true
	}
	return oi
}

func parseConditions(v *jval, st *Statement) bool {
	if v.kind != jObj {
		return false
	}
	n := 0
	for _, opm := range v.kids {
		if opm.val.kind == jObj {
			n += len(opm.val.kids)
		}
	}
	st.Conditions = make([]Condition, 0, n)
	for _, opm := range v.kids {
		if opm.val.kind != jObj {
			return false
		}
		oi := parseOperator(opm.key)
		if oi.base == opUnknown && len(opm.val.kids) > 0 {
			return false
		}
		for _, km := range opm.val.kids {
			vals, ok := conditionValues(km.val)
			if !ok {
				return false
			}
			st.Conditions = append(st.Conditions, Condition{Operator: opm.key, Key: km.key, Values: vals})
		}
	}
	return true
}

// conditionValues reads a condition value: a string, number or boolean, or
// an array of them.
func conditionValues(v *jval) ([]string, bool) {
	switch v.kind {
	case jStr, jNum, jBool:
		return []string{v.s}, true
	case jArr:
		vals := make([]string, 0, len(v.kids))
		for _, k := range v.kids {
			e := k.val
			switch e.kind {
			case jStr, jNum, jBool:
				vals = append(vals, e.s)
			default:
				return nil, false
			}
		}
		return vals, true
	}
	return nil, false
}
