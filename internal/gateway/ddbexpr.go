package gateway

import (
	"errors"
	"strings"
)

// DynamoDB expressions (projection, update and key-condition expressions)
// are read only as far as IAM needs: the top-level attribute names they
// touch (dynamodb:Attributes) and the partition-key value a key condition
// fixes (dynamodb:LeadingKeys). The upstream validates everything else.

// exprToken is one lexical token of a DynamoDB expression.
type exprToken struct {
	kind byte // 'n' name, '#' placeholder name, ':' placeholder value, 'k' number or other word, or the punctuation byte
	text string
}

var errExprSyntax = errors.New("invalid expression")

// maxExprTokens bounds the work one expression can cause (DynamoDB caps
// expressions at 4 KB).
const maxExprTokens = 4096

// lexExpr splits an expression into tokens.
func lexExpr(s string) ([]exprToken, error) {
	var out []exprToken
	for i := 0; i < len(s); {
		if len(out) > maxExprTokens {
			return nil, errExprSyntax
		}
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '#' || c == ':':
			j := i + 1
			for j < len(s) && isExprWordByte(s[j]) {
				j++
			}
			if j == i+1 {
				return nil, errExprSyntax
			}
			out = append(out, exprToken{kind: c, text: s[i:j]})
			i = j
		case isExprWordByte(c):
			j := i
			for j < len(s) && isExprWordByte(s[j]) {
				j++
			}
			kind := byte('n')
			if c >= '0' && c <= '9' {
				kind = 'k'
			}
			out = append(out, exprToken{kind: kind, text: s[i:j]})
			i = j
		case c == '<' || c == '>':
			// <, <=, >, >=, <>
			if i+1 < len(s) && (s[i+1] == '=' || (c == '<' && s[i+1] == '>')) {
				out = append(out, exprToken{kind: 'o', text: s[i : i+2]})
				i += 2
			} else {
				out = append(out, exprToken{kind: 'o', text: s[i : i+1]})
				i++
			}
		case strings.IndexByte("=(),.[]+-", c) >= 0:
			out = append(out, exprToken{kind: c, text: s[i : i+1]})
			i++
		default:
			return nil, errExprSyntax
		}
	}
	return out, nil
}

func isExprWordByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_'
}

// resolveName returns the attribute name a name token stands for.
func resolveName(t exprToken, names map[string]string) (string, error) {
	if t.kind == '#' {
		n, ok := names[t.text]
		if !ok {
			return "", &exprNameError{t.text}
		}
		return n, nil
	}
	return t.text, nil
}

// exprNameError is a placeholder that ExpressionAttributeNames lacks.
type exprNameError struct{ name string }

func (e *exprNameError) Error() string {
	return "An expression attribute name used in the document path is not defined; attribute name: " + e.name
}

// projectionNames returns the top-level attribute names of a projection
// expression ("a.b, #c[1], d").
func projectionNames(expr string, names map[string]string) ([]string, error) {
	toks, err := lexExpr(expr)
	if err != nil {
		return nil, err
	}
	var out []string
	start := true
	for _, t := range toks {
		switch {
		case t.kind == ',':
			if start {
				return nil, errExprSyntax
			}
			start = true
		case start:
			if t.kind != 'n' && t.kind != '#' {
				return nil, errExprSyntax
			}
			n, err := resolveName(t, names)
			if err != nil {
				return nil, err
			}
			out = append(out, n)
			start = false
		}
	}
	if start && len(toks) > 0 {
		return nil, errExprSyntax
	}
	return out, nil
}

// updateNames returns the top-level attribute names an update expression
// writes: the first path of every clause of its SET, REMOVE, ADD and
// DELETE sections.
func updateNames(expr string, names map[string]string) ([]string, error) {
	toks, err := lexExpr(expr)
	if err != nil {
		return nil, err
	}
	var out []string
	depth := 0
	clauseStart := false
	inSection := false
	for _, t := range toks {
		if depth == 0 && t.kind == 'n' && isUpdateKeyword(t.text) {
			clauseStart, inSection = true, true
			continue
		}
		if !inSection {
			return nil, errExprSyntax
		}
		switch t.kind {
		case '(', '[':
			depth++
		case ')', ']':
			depth--
			if depth < 0 {
				return nil, errExprSyntax
			}
		case ',':
			if depth == 0 {
				clauseStart = true
				continue
			}
		}
		if clauseStart {
			if t.kind != 'n' && t.kind != '#' {
				return nil, errExprSyntax
			}
			n, err := resolveName(t, names)
			if err != nil {
				return nil, err
			}
			out = append(out, n)
			clauseStart = false
		}
	}
	if depth != 0 || clauseStart {
		return nil, errExprSyntax
	}
	return out, nil
}

func isUpdateKeyword(s string) bool {
	return strings.EqualFold(s, "SET") || strings.EqualFold(s, "REMOVE") || strings.EqualFold(s, "ADD") || strings.EqualFold(s, "DELETE")
}

// conditionNames returns the top-level attribute names a key-condition
// expression mentions (every path start, skipping function names).
func conditionNames(expr string, names map[string]string) ([]string, error) {
	toks, err := lexExpr(expr)
	if err != nil {
		return nil, err
	}
	var out []string
	for i, t := range toks {
		if t.kind != 'n' && t.kind != '#' {
			continue
		}
		if t.kind == 'n' && (isConditionKeyword(t.text) || (i+1 < len(toks) && toks[i+1].kind == '(')) {
			continue
		}
		if i > 0 && (toks[i-1].kind == '.') {
			continue // a nested path element
		}
		n, err := resolveName(t, names)
		if err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, nil
}

func isConditionKeyword(s string) bool {
	switch strings.ToUpper(s) {
	case "AND", "OR", "NOT", "BETWEEN", "IN":
		return true
	}
	return false
}

// keyConditionValue returns the value placeholder an expression binds to
// attribute attr with "=" (the partition key's equality in a key
// condition), or "" when there is none.
func keyConditionValue(expr, attr string, names map[string]string) (string, error) {
	toks, err := lexExpr(expr)
	if err != nil {
		return "", err
	}
	isAttr := func(i int) (bool, error) {
		t := toks[i]
		if t.kind != 'n' && t.kind != '#' {
			return false, nil
		}
		// A whole top-level path: not followed or preceded by '.' or '['.
		if i+1 < len(toks) && (toks[i+1].kind == '.' || toks[i+1].kind == '[') {
			return false, nil
		}
		if i > 0 && toks[i-1].kind == '.' {
			return false, nil
		}
		n, err := resolveName(t, names)
		return n == attr, err
	}
	for i := 1; i+1 < len(toks); i++ {
		if toks[i].kind != '=' {
			continue
		}
		if ok, err := isAttr(i - 1); err != nil {
			return "", err
		} else if ok && toks[i+1].kind == ':' {
			return toks[i+1].text, nil
		}
		if ok, err := isAttr(i + 1); err != nil {
			return "", err
		} else if ok && toks[i-1].kind == ':' {
			return toks[i-1].text, nil
		}
	}
	return "", nil
}
