package sts

import (
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/podid/podid/internal/awsproto"
)

// Character sets of the STS model's patterns (Java regular expressions,
// ASCII \w), checked by hand: they sit on the credential-issuing path and
// a regexp with Unicode classes costs more than the rest of the request.
var (
	reSessionName    = charset(isWord, "+=,.@-", true)       // [\w+=,.@-]*
	reExternalID     = charset(isWord, "+=,.@:/-", true)     // [\w+=,.@:\/-]*
	reSourceIdentity = charset(isWord, "+=,.@-", true)       // [\w+=,.@-]*
	reSerialNumber   = charset(isWord, "+=/:,.@-", true)     // [\w+=/:,.@-]*
	reTokenCode      = charset(isDigit, "", true)            // [\d]*
	reTagKey         = charset(isTagRune, "_.:/=+-@", false) // [\p{L}\p{Z}\p{N}_.:/=+\-@]+
	reTagValue       = charset(isTagRune, "_.:/=+-@", true)  // [\p{L}\p{Z}\p{N}_.:/=+\-@]*
)

// pattern is an anchored character-class pattern: every rune of the value
// must be in the class (and the value non-empty unless empty is allowed).
type pattern struct {
	in    func(r rune) bool
	extra string
	empty bool
}

func charset(in func(rune) bool, extra string, empty bool) *pattern {
	return &pattern{in: in, extra: extra, empty: empty}
}

// MatchString reports whether s matches the whole pattern.
func (p *pattern) MatchString(s string) bool {
	if s == "" {
		return p.empty
	}
	for _, r := range s {
		if r == utf8.RuneError || !(p.in(r) || strings.ContainsRune(p.extra, r)) {
			return false
		}
	}
	return true
}

func isDigit(r rune) bool { return r >= '0' && r <= '9' }

func isWord(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || isDigit(r) || r == '_'
}

func isTagRune(r rune) bool {
	if r < utf8.RuneSelf {
		return isWord(r) && r != '_' || r == ' '
	}
	return unicode.IsLetter(r) || unicode.In(r, unicode.Z) || unicode.IsNumber(r)
}

// validation collects model constraint violations and reports them the way
// AWS's request validation does: "N validation error(s) detected: A; B".
type validation struct {
	msgs []string
}

// add records one violation. value is quoted; a nil value prints "null".
func (v *validation) add(value *string, member, constraint string) {
	val := "null"
	if value != nil {
		val = "'" + *value + "'"
	}
	v.msgs = append(v.msgs, fmt.Sprintf("Value %s at '%s' failed to satisfy constraint: Member %s", val, member, constraint))
}

// addHidden records a violation without echoing the value (for secrets such
// as web identity tokens).
func (v *validation) addHidden(member, constraint string) {
	v.msgs = append(v.msgs, fmt.Sprintf("Value at '%s' failed to satisfy constraint: Member %s", member, constraint))
}

// err returns the collected violations as one ValidationError, or nil.
func (v *validation) err() error {
	if len(v.msgs) == 0 {
		return nil
	}
	noun := "error"
	if len(v.msgs) > 1 {
		noun = "errors"
	}
	return awsproto.Errorf(http.StatusBadRequest, "ValidationError", "%d validation %s detected: %s", len(v.msgs), noun, strings.Join(v.msgs, "; "))
}

// str checks an optional string member: length bounds (in characters) and
// an anchored pattern (nil for none). present is false when the member was
// not sent; required members report "must not be null".
func (v *validation) str(member, value string, present, required bool, minLen, maxLen int, pattern *pattern, patternText string) {
	if !present {
		if required {
			v.add(nil, member, "must not be null")
		}
		return
	}
	n := utf8.RuneCountInString(value)
	if n < minLen {
		v.add(&value, member, fmt.Sprintf("must have length greater than or equal to %d", minLen))
	}
	if maxLen > 0 && n > maxLen {
		v.add(&value, member, fmt.Sprintf("must have length less than or equal to %d", maxLen))
	}
	if pattern != nil && !pattern.MatchString(value) {
		v.add(&value, member, "must satisfy regular expression pattern: "+patternText)
	}
}

// intRange checks an optional integer member.
func (v *validation) intRange(member string, value int, present bool, minV, maxV int) {
	if !present {
		return
	}
	s := fmt.Sprint(value)
	if value < minV {
		v.add(&s, member, fmt.Sprintf("must have value greater than or equal to %d", minV))
	}
	if value > maxV {
		v.add(&s, member, fmt.Sprintf("must have value less than or equal to %d", maxV))
	}
}

// policyChars reports whether a policy document uses only the characters
// STS accepts: TAB, LF, CR and U+0020 through U+00FF.
func policyChars(doc string) bool {
	for _, r := range doc {
		if r == '\t' || r == '\n' || r == '\r' || (r >= 0x20 && r <= 0xFF) {
			continue
		}
		return false
	}
	return true
}

// arnChars reports whether s uses only the characters of the model's
// arnType pattern (printable text; no control characters but TAB/LF/CR).
func arnChars(s string) bool {
	for _, r := range s {
		switch {
		case r == '\t' || r == '\n' || r == '\r':
		case r >= 0x20 && r <= 0x7E:
		case r == 0x85:
		case r >= 0xA0 && r <= 0xD7FF:
		case r >= 0xE000 && r <= 0xFFFD:
		case r >= 0x10000 && r <= 0x10FFFF:
		default:
			return false
		}
	}
	return true
}

// policyValidation validates a session policy document's plain text:
// characters and length (1..maxLen characters).
func (v *validation) policyText(member, doc string, present bool, maxLen int) {
	if !present {
		return
	}
	n := utf8.RuneCountInString(doc)
	if n < 1 {
		v.add(&doc, member, "must have length greater than or equal to 1")
	}
	if maxLen > 0 && n > maxLen {
		v.add(&doc, member, fmt.Sprintf("must have length less than or equal to %d", maxLen))
	}
	if !policyChars(doc) {
		v.add(&doc, member, `must satisfy regular expression pattern: [\u0009\u000A\u000D\u0020-\u00FF]+`)
	}
}

// arn checks an arnType member (20..2048 characters).
func (v *validation) arn(member, value string, present, required bool) {
	if !present {
		if required {
			v.add(nil, member, "must not be null")
		}
		return
	}
	n := utf8.RuneCountInString(value)
	if n < 20 {
		v.add(&value, member, "must have length greater than or equal to 20")
	}
	if n > 2048 {
		v.add(&value, member, "must have length less than or equal to 2048")
	}
	if !arnChars(value) || value == "" {
		v.add(&value, member, `must satisfy regular expression pattern: [\u0009\u000A\u000D\u0020-\u007E\u0085\u00A0-\uD7FF\uE000-\uFFFD\u10000-\u10FFFF]+`)
	}
}

// Pattern texts as the model writes them (shown in messages).
const (
	patSessionName    = `[\w+=,.@-]*`
	patExternalID     = `[\w+=,.@:\/-]*`
	patSourceIdentity = `[\w+=,.@-]*`
	patSerialNumber   = `[\w+=/:,.@-]*`
	patTokenCode      = `[\d]*`
	patTagKey         = `[\p{L}\p{Z}\p{N}_.:/=+\-@]+`
	patTagValue       = `[\p{L}\p{Z}\p{N}_.:/=+\-@]*`
)

// validationError is a ValidationError with a free-form message.
func validationError(format string, args ...any) *awsproto.Error {
	return awsproto.Errorf(http.StatusBadRequest, "ValidationError", format, args...)
}

func sortedKeys(m map[string]int) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func lowerFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToLower(s[:1]) + s[1:]
}

func itoa(n int) string { return strconv.Itoa(n) }

func sortedRawKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
