package policy

import (
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/podid/podid/internal/arn"
)

// Size quotas, counted in characters excluding whitespace.
const (
	// ManagedPolicyMaxSize is the quota of a managed policy (PolicySize).
	ManagedPolicyMaxSize = 6144
	// TrustPolicyDefaultMaxSize is the default quota of a role trust
	// policy (ACLSizePerRole; raisable to 4096).
	TrustPolicyDefaultMaxSize = 2048
	// RoleInlineMaxSize is the quota of all inline policies of a role.
	RoleInlineMaxSize = 10240
	// UserInlineMaxSize is the quota of all inline policies of a user.
	UserInlineMaxSize = 2048
	// GroupInlineMaxSize is the quota of all inline policies of a group.
	GroupInlineMaxSize = 5120
	// SessionPolicyMaxLen is the plaintext limit of a session policy
	// (counted with whitespace, as the STS API constraint is).
	SessionPolicyMaxLen = 2048
)

// CodeValidation is the API-constraint error code used for a session
// policy over SessionPolicyMaxLen characters.
const CodeValidation = "ValidationError"

// IAM's messages.
const (
	msgVersion       = "Policy document must be version 2012-10-17 or greater."
	msgSidUnique     = "Statement IDs (SID) in a single policy must be unique."
	msgSidAlnum      = "Statement IDs (SID) must be alpha-numeric. Check that your input satisfies the regular expression [0-9A-Za-z]*"
	msgNeedActions   = "Policy statement must contain actions."
	msgNeedResources = "Policy statement must contain resources."
	msgNoVendor      = "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc."
	msgOneColon      = "Actions/Condition can contain only one colon."
	msgVendorRegex   = "Resource vendor must be fully qualified and cannot contain regexes."
	msgMissingPrinc  = "Missing required field Principal"
	msgNoPrincipals  = "Invalid principal in policy: The passed in policy has a statement with no principals!"
	msgIAMPath       = `IAM resource path must either be "*" or start with user/, federated-user/, role/, group/, instance-profile/, mfa/, server-certificate/, policy/, sms-mfa/, saml-provider/, oidc-provider/, report/, access-report/.`
)

var iamResourcePrefixes = []string{
	"user/", "federated-user/", "role/", "group/", "instance-profile/", "mfa/",
	"server-certificate/", "policy/", "sms-mfa/", "saml-provider/", "oidc-provider/",
	"report/", "access-report/",
}

// ValidateOptions tunes Validate.
type ValidateOptions struct {
	// Partition is the ARN partition of the installation ("aws" when
	// empty). Resource ARNs in other partitions are rejected.
	Partition string
	// TrustPolicyMaxSize is the trust-policy quota
	// (TrustPolicyDefaultMaxSize when 0).
	TrustPolicyMaxSize int
	// PrincipalExists, when set, is asked about every IAM user, role,
	// saml-provider and oidc-provider ARN named in a Principal of a trust
	// or resource policy; false rejects the document with
	// `Invalid principal in policy: "AWS":"ARN"` as IAM does for principals
	// that do not exist.
	PrincipalExists func(arn string) bool
}

// Validate checks doc as IAM does when a policy of the given kind is
// created or updated. It returns nil or a *ValidationError carrying AWS's
// code and message. See ValidateWith for the options.
func Validate(doc string, kind Kind) error {
	return ValidateWith(doc, kind, ValidateOptions{})
}

// ValidateWith is Validate with options.
func ValidateWith(doc string, kind Kind, opts ValidateOptions) error {
	if v := validate(doc, kind, &opts); v != nil {
		return v
	}
	return nil
}

// NonWhitespaceLen counts the characters of doc other than whitespace
// (space, tab, CR, LF, VT, FF): the measure of IAM's size quotas.
func NonWhitespaceLen(doc string) int {
	n := 0
	for i := 0; i < len(doc); i++ {
		switch c := doc[i]; {
		case c == ' ', c == '\t', c == '\n', c == '\r', c == '\v', c == '\f':
		case c&0xC0 == 0x80: // UTF-8 continuation byte: part of the previous character
		default:
			n++
		}
	}
	return n
}

// ValidCharset reports whether doc holds only the characters IAM's
// policyDocumentType allows: TAB, LF, CR and U+0020 to U+00FF.
func ValidCharset(doc string) bool {
	for _, r := range doc {
		if r == utf8.RuneError || (r < 0x20 && r != '\t' && r != '\n' && r != '\r') || r > 0xFF {
			return false
		}
	}
	return true
}

// InlineSizeError checks the aggregate size of an entity's inline
// policies (the sum of NonWhitespaceLen over them). entityType is "role",
// "user" or "group". It returns nil within the quota, else LimitExceeded
// "Maximum policy size of N bytes exceeded for role NAME".
func InlineSizeError(entityType, name string, total int) error {
	limit := RoleInlineMaxSize
	switch entityType {
	case "user":
		limit = UserInlineMaxSize
	case "group":
		limit = GroupInlineMaxSize
	}
	if total <= limit {
		return nil
	}
	return &ValidationError{Code: CodeLimitExceeded,
		Message: "Maximum policy size of " + strconv.Itoa(limit) + " bytes exceeded for " + entityType + " " + name}
}

func limitExceeded(msg string) *ValidationError {
	return &ValidationError{Code: CodeLimitExceeded, Message: msg}
}

// validate runs IAM's checks in IAM's order (first failure wins): size,
// syntax, version, legacy parsing (Effect case, dates, malformed ARNs),
// Sid, actions present, resource format, action vendors, then the checks
// of the policy kind (prohibited and required elements, principals).
func validate(doc string, kind Kind, opts *ValidateOptions) *ValidationError {
	partition := opts.Partition
	if partition == "" {
		partition = "aws"
	}
	switch kind {
	case KindManaged, KindBoundary:
		if NonWhitespaceLen(doc) > ManagedPolicyMaxSize {
			return limitExceeded("Cannot exceed quota for PolicySize: " + strconv.Itoa(ManagedPolicyMaxSize))
		}
	case KindTrust:
		max := opts.TrustPolicyMaxSize
		if max <= 0 {
			max = TrustPolicyDefaultMaxSize
		}
		if NonWhitespaceLen(doc) > max {
			return limitExceeded("Cannot exceed quota for ACLSizePerRole: " + strconv.Itoa(max))
		}
	case KindSession:
		if utf8.RuneCountInString(doc) > SessionPolicyMaxLen {
			return &ValidationError{Code: CodeValidation,
				Message: "1 validation error detected: Value at 'policy' failed to satisfy constraint: Member must have length less than or equal to " + strconv.Itoa(SessionPolicyMaxLen)}
		}
	case KindInline, KindResource:
	default:
		return malformed(msgSyntax)
	}

	p, verr := parseDoc(doc)
	if verr != nil {
		return verr
	}
	if hasCaseDuplicateKeys(p) {
		return malformed(msgSyntax)
	}
	if (kind == KindManaged || kind == KindBoundary) && p.Version != Version2012 {
		return malformed(msgVersion)
	}

	// Legacy parsing: Effect case, Date condition values.
	for i := range p.Statements {
		st := &p.Statements[i]
		if st.Effect == 0 {
			return malformed(msgLegacyParsing)
		}
		for _, c := range st.Conditions {
			if !isDateOp(parseOperator(c.Operator).base) {
				continue
			}
			for _, v := range c.Values {
				if _, ok := parseDate(v); !ok {
					return malformed(msgLegacyParsing)
				}
			}
		}
	}
	// Resource formats; malformed ARNs are legacy-parsing failures as long
	// as no format error was found before them.
	resErr := ""
	for i := range p.Statements {
		st := &p.Statements[i]
		for _, r := range st.Resource {
			if e := resourceFormatError(r, partition); e != "" && resErr == "" {
				resErr = e
			}
		}
		if resErr == "" {
			for _, r := range st.Resource {
				if !legacyResourceOK(r) {
					return malformed(msgLegacyParsing)
				}
			}
		}
	}

	// Sids.
	seen := make(map[string]bool, len(p.Statements))
	for i := range p.Statements {
		sid := p.Statements[i].Sid
		if kind != KindResource && !isAlnum(sid) {
			return malformed(msgSidAlnum)
		}
		if sid == "" {
			continue
		}
		if seen[sid] {
			return malformed(msgSidUnique)
		}
		seen[sid] = true
	}

	for i := range p.Statements {
		if st := &p.Statements[i]; !st.HasAction || len(st.Action) == 0 {
			return malformed(msgNeedActions)
		}
	}
	if resErr != "" {
		return malformed(resErr)
	}
	for _, not := range []bool{false, true} {
		for i := range p.Statements {
			st := &p.Statements[i]
			if st.NotAction != not {
				continue
			}
			for _, a := range st.Action {
				if e := actionError(a); e != "" {
					return malformed(e)
				}
			}
		}
	}

	switch kind {
	case KindManaged, KindInline, KindSession, KindBoundary:
		for i := range p.Statements {
			st := &p.Statements[i]
			if st.Principal != nil {
				if st.NotPrincipal {
					return malformed("Has prohibited field NotPrincipal")
				}
				return malformed("Has prohibited field Principal")
			}
		}
		if e := requireResources(p); e != nil {
			return e
		}
	case KindTrust:
		for i := range p.Statements {
			st := &p.Statements[i]
			if st.HasResource {
				if st.NotResource {
					return malformed("Has prohibited field NotResource")
				}
				return malformed("Has prohibited field Resource")
			}
		}
		for i := range p.Statements {
			if p.Statements[i].NotPrincipal {
				return malformed("Has prohibited field NotPrincipal")
			}
		}
		if e := checkPrincipals(p, partition, opts); e != nil {
			return e
		}
	case KindResource:
		if e := checkPrincipals(p, partition, opts); e != nil {
			return e
		}
		if e := requireResources(p); e != nil {
			return e
		}
	}
	return nil
}

// hasCaseDuplicateKeys reports condition keys that differ only in case
// within one operator block ({"StringEquals": {"aws:X": …, "aws:x": …}}).
// Keys are case-insensitive, so such a block is ambiguous; IAM Access
// Analyzer flags it and podid rejects it (docs/policy.md, ambiguity 8).
func hasCaseDuplicateKeys(p *Policy) bool {
	for i := range p.Statements {
		conds := p.Statements[i].Conditions
		if len(conds) > 16 {
			seen := make(map[string]bool, len(conds))
			for _, c := range conds {
				k := c.Operator + "\x00" + strings.ToLower(c.Key)
				if seen[k] {
					return true
				}
				seen[k] = true
			}
			continue
		}
		for a := range conds {
			for b := a + 1; b < len(conds); b++ {
				if conds[a].Operator == conds[b].Operator && keyEqual(conds[a].Key, conds[b].Key) {
					return true
				}
			}
		}
	}
	return false
}

func isDateOp(o baseOp) bool {
	return o >= opDateEquals && o <= opDateGreaterThanEquals
}

func isAlnum(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(isDigit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) {
			return false
		}
	}
	return true
}

func requireResources(p *Policy) *ValidationError {
	for i := range p.Statements {
		st := &p.Statements[i]
		if !st.HasResource || len(st.Resource)+st.resourceNulls == 0 {
			return malformed(msgNeedResources)
		}
	}
	return nil
}

// actionError checks an Action value's vendor prefix.
func actionError(a string) string {
	vendor, _, found := strings.Cut(a, ":")
	if !found {
		if a == "*" {
			return ""
		}
		return msgNoVendor
	}
	if strings.Count(a, ":") > 1 {
		return msgOneColon
	}
	if vendor == "*" {
		return ""
	}
	for i := 0; i < len(vendor); i++ {
		c := vendor[i]
		if !(isDigit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-' || c == '.') {
			return "Vendor " + vendor + " is not valid"
		}
	}
	return ""
}

// resourceFormatError checks a Resource value's format as IAM does and
// returns its message, or "".
func resourceFormatError(r, partition string) string {
	if r == "*" {
		return ""
	}
	_, rest, found := strings.Cut(r, ":")
	if !found {
		return "Resource " + r + ` must be in ARN format or "*".`
	}
	pt, after, hasService := strings.Cut(rest, ":")
	if pt != partition && pt != "*" {
		parts := strings.Split(after, ":")
		seg := func(i int) string {
			if i < len(parts) {
				return parts[i]
			}
			return "*"
		}
		a1 := "*"
		if parts[0] != "" || len(parts) > 1 {
			a1 = parts[0]
		}
		a4 := "*"
		if len(parts) > 3 {
			a4 = strings.Join(parts[3:], ":")
		}
		return `Partition "` + pt + `" is not valid for resource "` + arn.ARN{Partition: pt, Service: a1, Region: seg(1), AccountID: seg(2), Resource: a4}.String() + `".`
	}
	if !hasService {
		return msgVendorRegex
	}
	service, afterService, _ := strings.Cut(after, ":")
	if strings.ContainsAny(service, "*?") {
		return msgVendorRegex
	}
	if !strings.HasPrefix(afterService, ":") {
		switch service {
		case "iam":
			return "IAM resource " + r + " cannot contain region information."
		case "s3":
			return "Resource " + r + " can not contain region information."
		}
	}
	_, afterRegion, _ := strings.Cut(afterService, ":")
	_, resource, _ := strings.Cut(afterRegion, ":")
	if service == "iam" && resource != "*" {
		ok := false
		for _, pfx := range iamResourcePrefixes {
			if strings.HasPrefix(resource, pfx) {
				ok = true
				break
			}
		}
		if !ok {
			return msgIAMPath
		}
	}
	return ""
}

// legacyResourceOK is IAM's legacy ARN check: "::" needs at least five
// colons, and the service segment must not be empty.
func legacyResourceOK(r string) bool {
	if r == "*" {
		return true
	}
	if strings.Count(r, ":") < 5 && strings.Contains(r, "::") {
		return false
	}
	parts := strings.SplitN(r, ":", 4)
	return len(parts) >= 3 && parts[2] != ""
}

// checkPrincipals enforces a trust or resource policy's Principal element.
func checkPrincipals(p *Policy, partition string, opts *ValidateOptions) *ValidationError {
	for i := range p.Statements {
		if p.Statements[i].Principal == nil {
			return malformed(msgMissingPrinc)
		}
	}
	for i := range p.Statements {
		b := p.Statements[i].Principal
		if b.empty() {
			return malformed(msgNoPrincipals)
		}
		for _, a := range b.AWS {
			if !validAWSPrincipal(a, partition, opts) {
				return invalidPrincipal("AWS", a)
			}
		}
		for _, s := range b.Service {
			if !validServicePrincipal(s) {
				return invalidPrincipal("SERVICE", s)
			}
		}
		for _, f := range b.Federated {
			if !validFederatedPrincipal(f, partition, opts) {
				return invalidPrincipal("FEDERATED", f)
			}
		}
		for _, c := range b.CanonicalUser {
			if !validCanonicalUser(c) {
				return invalidPrincipal("CANONICALUSER", c)
			}
		}
	}
	return nil
}

func invalidPrincipal(typ, v string) *ValidationError {
	return malformed(`Invalid principal in policy: "` + typ + `":"` + v + `"`)
}

// principalARN splits an IAM/STS principal ARN.
func principalARN(s, partition string) (service, account, resource string, ok bool) {
	a, err := arn.Parse(s)
	if err != nil || a.Partition != partition || a.Region != "" || !arn.IsValidAccountID(a.AccountID) || strings.ContainsAny(s, "*?") {
		return "", "", "", false
	}
	return a.Service, a.AccountID, a.Resource, true
}

func validAWSPrincipal(a, partition string, opts *ValidateOptions) bool {
	if a == "*" || arn.IsValidAccountID(a) {
		return true
	}
	service, _, res, ok := principalARN(a, partition)
	if !ok {
		return false
	}
	switch service {
	case "iam":
		switch {
		case res == "root":
			return true
		case strings.HasPrefix(res, "user/") && len(res) > len("user/"),
			strings.HasPrefix(res, "role/") && len(res) > len("role/"):
			return opts.PrincipalExists == nil || opts.PrincipalExists(a)
		}
	case "sts":
		if r, ok := strings.CutPrefix(res, "assumed-role/"); ok {
			role, session, found := strings.Cut(r, "/")
			return found && role != "" && session != "" && !strings.Contains(session, "/")
		}
		if n, ok := strings.CutPrefix(res, "federated-user/"); ok {
			return n != ""
		}
	}
	return false
}

func validServicePrincipal(s string) bool {
	if s == "*" {
		return true
	}
	dot := false
	if s == "" || s[0] == '.' || s[len(s)-1] == '.' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '.':
			dot = true
		case isDigit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-':
		default:
			return false
		}
	}
	return dot
}

func validFederatedPrincipal(f, partition string, opts *ValidateOptions) bool {
	if strings.HasPrefix(f, "arn:") {
		service, _, res, ok := principalARN(f, partition)
		if !ok || service != "iam" {
			return false
		}
		if (strings.HasPrefix(res, "saml-provider/") && len(res) > len("saml-provider/")) ||
			(strings.HasPrefix(res, "oidc-provider/") && len(res) > len("oidc-provider/")) {
			return opts.PrincipalExists == nil || opts.PrincipalExists(f)
		}
		return false
	}
	// Well-known web identity providers (accounts.google.com,
	// graph.facebook.com, www.amazon.com, cognito-identity.amazonaws.com).
	return validServicePrincipal(f) && f != "*"
}

func validCanonicalUser(c string) bool {
	if c == "*" {
		return true
	}
	if len(c) != 64 {
		return false
	}
	for i := 0; i < len(c); i++ {
		ch := c[i]
		if !(isDigit(ch) || (ch >= 'a' && ch <= 'f')) {
			return false
		}
	}
	return true
}
