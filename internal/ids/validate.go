package ids

import "strings"

// The validators accept every identifier this package generates and every
// identifier of the same kind AWS issues. AWS's older IDs and its
// documentation examples (AKIAI44QH8DHBEXAMPLE) use digits outside base32,
// so the validators check for uppercase letters and digits rather than the
// narrower base32 alphabet the generators draw from.

// IsRoleID reports whether s is a role unique ID (AROA + 17 characters).
func IsRoleID(s string) bool { return isUpperAlnumID(s, PrefixRole, UniqueIDLen) }

// IsPolicyID reports whether s is a managed policy unique ID (ANPA + 17 characters).
func IsPolicyID(s string) bool { return isUpperAlnumID(s, PrefixPolicy, UniqueIDLen) }

// IsUserID reports whether s is a user unique ID (AIDA + 17 characters).
func IsUserID(s string) bool { return isUpperAlnumID(s, PrefixUser, UniqueIDLen) }

// IsAccessKeyID reports whether s is a long-term access key ID (AKIA + 16 characters).
func IsAccessKeyID(s string) bool { return isUpperAlnumID(s, PrefixAccessKey, AccessKeyIDLen) }

// IsSessionAccessKeyID reports whether s is a temporary access key ID
// (ASIA + 16 characters), as issued with session tokens.
func IsSessionAccessKeyID(s string) bool {
	return isUpperAlnumID(s, PrefixSessionAccessKey, AccessKeyIDLen)
}

// IsSecretAccessKey reports whether s has the shape of a secret access key:
// 40 characters of the standard base64 alphabet without padding.
func IsSecretAccessKey(s string) bool {
	if len(s) != SecretAccessKeyLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !isUpper(c) && !isLower(c) && !isDigit(c) && c != '+' && c != '/' {
			return false
		}
	}
	return true
}

// IsAssociationID reports whether s is a pod identity association ID
// ("a-" + 17 characters of [a-z0-9]).
func IsAssociationID(s string) bool {
	if len(s) != AssociationIDLen || !strings.HasPrefix(s, PrefixAssociation) {
		return false
	}
	for i := len(PrefixAssociation); i < len(s); i++ {
		if c := s[i]; !isLower(c) && !isDigit(c) {
			return false
		}
	}
	return true
}

// IsUUID reports whether s is 32 lowercase hex digits in 8-4-4-4-12 layout,
// whatever its version bits (add-on ARN suffixes have none).
func IsUUID(s string) bool {
	if len(s) != UUIDLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !isDigit(c) && (c < 'a' || c > 'f') {
				return false
			}
		}
	}
	return true
}

// IsUUIDv4 reports whether s is a lowercase version 4 UUID with the
// RFC 9562 variant, as NewUUID returns.
func IsUUIDv4(s string) bool {
	if !IsUUID(s) || s[14] != '4' {
		return false
	}
	switch s[19] {
	case '8', '9', 'a', 'b':
		return true
	}
	return false
}

func isUpperAlnumID(s, prefix string, n int) bool {
	if len(s) != n || !strings.HasPrefix(s, prefix) {
		return false
	}
	for i := len(prefix); i < len(s); i++ {
		if c := s[i]; !isUpper(c) && !isDigit(c) {
			return false
		}
	}
	return true
}

func isUpper(c byte) bool { return c >= 'A' && c <= 'Z' }
func isLower(c byte) bool { return c >= 'a' && c <= 'z' }
func isDigit(c byte) bool { return c >= '0' && c <= '9' }
