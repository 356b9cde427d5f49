package iam

import (
	"regexp"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/podid/podid/internal/store"
)

// Limits from the IAM model and IAM's quotas.
const (
	maxNameLen          = 64     // roleNameType, userNameType
	maxExistingUserLen  = 128    // existingUserNameType
	maxPolicyNameLen    = 128    // policyNameType
	maxPathLen          = 512    // pathType, policyPathType, pathPrefixType
	maxDocumentLen      = 131072 // policyDocumentType
	maxDescriptionLen   = 1000
	minARNLen           = 20
	maxARNLen           = 2048
	minSessionDuration  = 3600
	maxSessionDuration  = 43200
	maxTags             = 50
	maxTagKeyLen        = 128
	maxTagValueLen      = 256
	minMaxItems         = 1
	maxMaxItems         = 1000
	defaultMaxItems     = 100
	maxVersions         = 5
	maxAttachedPolicies = 10
	maxAccessKeys       = 2
	maxThumbprints      = 5
	maxClientIDs        = 100
	maxOIDCURLLen       = 255
	thumbprintLen       = 40
	minAccessKeyIDLen   = 16
)

// Patterns as the IAM model writes them (they appear in messages) and
// their Go equivalents (Java's \w is ASCII, as is Go's).
const (
	namePatternText       = `[\w+=,.@-]+`
	pathPatternText       = `(\u002F)|(\u002F[\u0021-\u007E]+\u002F)`
	policyPathPatternText = `((/[A-Za-z0-9\.,\+@=_-]+)*)/`
	pathPrefixPatternText = `\u002F[\u0021-\u007F]*`
	documentPatternText   = `[\u0009\u000A\u000D\u0020-\u00FF]+`
	roleDescPatternText   = `[\u0009\u000A\u000D\u0020-\u007E\u00A1-\u00FF]*`
	versionPatternText    = `v[1-9][0-9]*(\.[A-Za-z0-9-]*)?`
	markerPatternText     = `[\u0020-\u00FF]+`
	accessKeyPatternText  = `[\w]+`
	tagKeyPatternText     = `[\p{L}\p{Z}\p{N}_.:/=+\-@]+`
	tagValuePatternText   = `[\p{L}\p{Z}\p{N}_.:/=+\-@]*`
)

var (
	namePattern       = regexp.MustCompile(`^[\w+=,.@-]+$`)
	pathPattern       = regexp.MustCompile(`^(?:/|/[\x21-\x7E]+/)$`)
	policyPathPattern = regexp.MustCompile(`^(?:/[A-Za-z0-9.,+@=_-]+)*/$`)
	pathPrefixPattern = regexp.MustCompile(`^/[\x21-\x7F]*$`)
	versionPattern    = regexp.MustCompile(`^v[1-9][0-9]*(?:\.[A-Za-z0-9-]*)?$`)
	accessKeyPattern  = regexp.MustCompile(`^\w+$`)
	tagKeyPattern     = regexp.MustCompile(`^[\p{L}\p{Z}\p{N}_.:/=+\-@]+$`)
	tagValuePattern   = regexp.MustCompile(`^[\p{L}\p{Z}\p{N}_.:/=+\-@]*$`)
)

// javaLen is a string's length as AWS's Java front end counts it: UTF-16
// code units (an invalid byte counts as one replacement character).
func javaLen(s string) int {
	n := 0
	for _, r := range s {
		n += utf16.RuneLen(r)
	}
	return n
}

// runesIn reports whether every rune of s satisfies ok (invalid UTF-8 never does).
func runesIn(s string, ok func(r rune) bool) bool {
	for i, r := range s {
		if r == utf8.RuneError {
			if _, size := utf8.DecodeRuneInString(s[i:]); size <= 1 {
				return false
			}
		}
		if !ok(r) {
			return false
		}
	}
	return true
}

// length checks a string member's length bounds.
func (v *violations) length(value, member string, lo, hi int) {
	n := javaLen(value)
	if n < lo {
		v.add(value, member, minLen(lo))
	}
	if hi > 0 && n > hi {
		v.add(value, member, maxLen(hi))
	}
}

// requiredString checks a required string member: present, within
// bounds, matching re (when non-nil).
func (v *violations) requiredString(value, member string, lo, hi int, re *regexp.Regexp, reText string) {
	if value == "" {
		v.null(member)
		return
	}
	v.optionalString(value, member, lo, hi, re, reText)
}

// optionalString checks an optional string member that was sent.
func (v *violations) optionalString(value, member string, lo, hi int, re *regexp.Regexp, reText string) {
	v.length(value, member, lo, hi)
	if re != nil && !re.MatchString(value) {
		v.add(value, member, pattern(reText))
	}
}

// name checks a role, user or policy name.
func (v *violations) name(value, member string, hi int) {
	v.requiredString(value, member, 1, hi, namePattern, namePatternText)
}

// path checks an entity path (pathType) when one was sent.
func (v *violations) path(value, member string) {
	if value != "" {
		v.optionalString(value, member, 1, maxPathLen, pathPattern, pathPatternText)
	}
}

// policyPath checks a managed policy path (policyPathType) when sent.
func (v *violations) policyPath(value, member string) {
	if value != "" {
		v.optionalString(value, member, 1, maxPathLen, policyPathPattern, policyPathPatternText)
	}
}

// pathPrefix checks ListRoles/ListUsers PathPrefix when sent.
func (v *violations) pathPrefix(value, member string) {
	if value != "" {
		v.optionalString(value, member, 1, maxPathLen, pathPrefixPattern, pathPrefixPatternText)
	}
}

// document checks a required policy document against policyDocumentType.
func (v *violations) document(value, member string) {
	if value == "" {
		v.null(member)
		return
	}
	v.length(value, member, 1, maxDocumentLen)
	if !runesIn(value, func(r rune) bool { return r == '\t' || r == '\n' || r == '\r' || r >= 0x20 && r <= 0xFF }) {
		v.add(value, member, pattern(documentPatternText))
	}
}

// roleDescription checks a role description when sent.
func (v *violations) roleDescription(value, member string) {
	v.length(value, member, 0, maxDescriptionLen)
	if !runesIn(value, func(r rune) bool {
		return r == '\t' || r == '\n' || r == '\r' || r >= 0x20 && r <= 0x7E || r >= 0xA1 && r <= 0xFF
	}) {
		v.add(value, member, pattern(roleDescPatternText))
	}
}

// arn checks an ARN member (arnType) for length.
func (v *violations) arn(value, member string, required bool) {
	if value == "" {
		if required {
			v.null(member)
		}
		return
	}
	v.length(value, member, minARNLen, maxARNLen)
}

// versionID checks a policy version ID.
func (v *violations) versionID(value, member string) {
	if value == "" {
		v.null(member)
		return
	}
	if !versionPattern.MatchString(value) {
		v.add(value, member, pattern(versionPatternText))
	}
}

// intRange checks an optional integer member.
func (v *violations) intRange(n *int, member string, lo, hi int) {
	if n == nil {
		return
	}
	if *n < lo {
		v.add(strconv.Itoa(*n), member, minVal(lo))
	}
	if *n > hi {
		v.add(strconv.Itoa(*n), member, maxVal(hi))
	}
}

// paging checks Marker and MaxItems.
func (v *violations) paging(marker string, maxItems *int) {
	if marker != "" && !runesIn(marker, func(r rune) bool { return r >= 0x20 && r <= 0xFF }) {
		v.add(marker, "marker", pattern(markerPatternText))
	}
	v.intRange(maxItems, "maxItems", minMaxItems, maxMaxItems)
}

// tags checks a tag list's members against the model.
func (v *violations) tags(tags []store.Tag, member string) {
	if len(tags) > maxTags {
		v.add(renderTags(tags), member, maxLen(maxTags))
	}
	for i, t := range tags {
		prefix := member + "." + strconv.Itoa(i+1) + ".member."
		v.optionalString(t.Key, prefix+"key", 1, maxTagKeyLen, tagKeyPattern, tagKeyPatternText)
		v.length(t.Value, prefix+"value", 0, maxTagValueLen)
		if !tagValuePattern.MatchString(t.Value) {
			v.add(t.Value, prefix+"value", pattern(tagValuePatternText))
		}
	}
}

// tagKeys checks UntagX's TagKeys list.
func (v *violations) tagKeys(keys []string, member string) {
	if len(keys) == 0 {
		v.null(member)
		return
	}
	if len(keys) > maxTags {
		v.add("["+strings.Join(keys, ", ")+"]", member, maxLen(maxTags))
	}
	for i, k := range keys {
		v.requiredString(k, member+"."+strconv.Itoa(i+1)+".member", 1, maxTagKeyLen, tagKeyPattern, tagKeyPatternText)
	}
}

// renderTags shows a tag list in a message the way the Java front end
// prints it.
func renderTags(tags []store.Tag) string {
	parts := make([]string, len(tags))
	for i, t := range tags {
		parts[i] = "Tag(key=" + t.Key + ", value=" + t.Value + ")"
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

// checkTagRules applies IAM's rules beyond the model: keys are unique
// case-insensitively and the aws: prefix is reserved.
func checkTagRules(tags []store.Tag) error {
	seen := make(map[string]bool, len(tags))
	for _, t := range tags {
		k := strings.ToLower(t.Key)
		if seen[k] {
			return invalidInput("Duplicate tag keys found. Please note that Tag keys are case insensitive.")
		}
		seen[k] = true
	}
	for _, t := range tags {
		if strings.HasPrefix(strings.ToLower(t.Key), "aws:") {
			return invalidInput("The tag key %s is reserved: tag keys that begin with aws: are reserved for AWS use.", t.Key)
		}
	}
	return nil
}

// mergeTags adds or replaces tags by case-insensitive key, keeping the
// order of first appearance.
func mergeTags(have, add []store.Tag) []store.Tag {
	out := append([]store.Tag(nil), have...)
	for _, t := range add {
		replaced := false
		for i := range out {
			if strings.EqualFold(out[i].Key, t.Key) {
				out[i] = t
				replaced = true
				break
			}
		}
		if !replaced {
			out = append(out, t)
		}
	}
	return out
}

// removeTags drops the tags whose keys are listed (case-insensitively).
func removeTags(have []store.Tag, keys []string) []store.Tag {
	var out []store.Tag
	for _, t := range have {
		drop := false
		for _, k := range keys {
			if strings.EqualFold(t.Key, k) {
				drop = true
				break
			}
		}
		if !drop {
			out = append(out, t)
		}
	}
	return out
}

// tagContext is the condition context of a request carrying tags:
// aws:RequestTag/KEY and aws:TagKeys.
func tagContext(extra map[string][]string, tags []store.Tag) map[string][]string {
	if len(tags) == 0 {
		return extra
	}
	if extra == nil {
		extra = map[string][]string{}
	}
	keys := make([]string, 0, len(tags))
	for _, t := range tags {
		extra["aws:RequestTag/"+t.Key] = []string{t.Value}
		keys = append(keys, t.Key)
	}
	extra["aws:TagKeys"] = keys
	return extra
}

// resourceTagContext is aws:ResourceTag/KEY for an existing entity's tags.
func resourceTagContext(extra map[string][]string, tags []store.Tag) map[string][]string {
	if len(tags) == 0 {
		return extra
	}
	if extra == nil {
		extra = map[string][]string{}
	}
	for _, t := range tags {
		extra["aws:ResourceTag/"+t.Key] = []string{t.Value}
	}
	return extra
}
