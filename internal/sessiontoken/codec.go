package sessiontoken

import (
	"encoding/binary"
	"errors"
	"time"

	"github.com/podid/podid/internal/auth"
)

// The session codec is a compact tag-length-value encoding of auth.Session,
// several times faster than encoding/json and about half its size. Each
// field is a tag byte, a uvarint length and that many bytes:
//
//	string     the bytes
//	string list  repeated (uvarint length, bytes)
//	tag map    repeated (uvarint length, key, uvarint length, value)
//	time       varint Unix seconds, uvarint nanoseconds
//	bool       present (empty value) means true
//
// Empty strings, lists and maps, false and the zero time are left out.
// A decoder skips unknown tags below 0x80 and refuses unknown tags with the
// high bit set: a future field that restricts a session must use a tag of
// 0x80 or above, so that an older replica refuses tokens it cannot enforce
// rather than ignoring the restriction. Repeated tags are refused.
const (
	fRoleARN        = 0x01
	fRoleID         = 0x02
	fRoleName       = 0x03
	fUserName       = 0x04
	fType           = 0x05
	fSessionName    = 0x06
	fTags           = 0x07
	fTransitive     = 0x08
	fPolicies       = 0x09
	fSourceIdentity = 0x0a
	fIssued         = 0x0b
	fExpires        = 0x0c
	fChained        = 0x0d
	fSourceARN      = 0x0e

	criticalBit = 0x80

	// fAccount is the session's account when it is not the server's
	// primary one (a further hosted account). It is critical: a replica
	// that does not know it would take the session for the primary
	// account's.
	fAccount = criticalBit | 0x0f
)

var errPayload = errors.New("sessiontoken: malformed session payload")

// sizeHint estimates the encoded size of s, to allocate once.
func sizeHint(s *auth.Session) int {
	n := 64 + len(s.Account) + len(s.RoleARN) + len(s.RoleID) + len(s.RoleName) + len(s.UserName) +
		len(s.Type) + len(s.SessionName) + len(s.SourceIdentity) + len(s.SourceARN)
	for k, v := range s.Tags {
		n += len(k) + len(v) + 4
	}
	for _, k := range s.TransitiveTagKeys {
		n += len(k) + 2
	}
	for _, p := range s.Policies {
		n += len(p) + 3
	}
	return n
}

// appendSession appends the encoding of s to b.
func appendSession(b []byte, s *auth.Session) []byte {
	b = appendString(b, fRoleARN, s.RoleARN)
	b = appendString(b, fRoleID, s.RoleID)
	b = appendString(b, fRoleName, s.RoleName)
	b = appendString(b, fUserName, s.UserName)
	b = appendString(b, fType, string(s.Type))
	b = appendString(b, fSessionName, s.SessionName)
	if len(s.Tags) > 0 {
		b = append(b, fTags)
		start := len(b)
		for k, v := range s.Tags {
			b = appendBytes(b, k)
			b = appendBytes(b, v)
		}
		b = insertLength(b, start)
	}
	b = appendList(b, fTransitive, s.TransitiveTagKeys)
	b = appendList(b, fPolicies, s.Policies)
	b = appendString(b, fSourceIdentity, s.SourceIdentity)
	b = appendTime(b, fIssued, s.Issued)
	b = appendTime(b, fExpires, s.Expires)
	if s.Chained {
		b = append(b, fChained, 0)
	}
	b = appendString(b, fSourceARN, s.SourceARN)
	b = appendString(b, fAccount, s.Account)
	return b
}

func appendBytes(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendString(b []byte, tag byte, s string) []byte {
	if s == "" {
		return b
	}
	return appendBytes(append(b, tag), s)
}

func appendList(b []byte, tag byte, list []string) []byte {
	if len(list) == 0 {
		return b
	}
	b = append(b, tag)
	start := len(b)
	for _, s := range list {
		b = appendBytes(b, s)
	}
	return insertLength(b, start)
}

// insertLength inserts before b[start:] the uvarint of its length, so that
// a field is written in one pass over its elements.
func insertLength(b []byte, start int) []byte {
	n := len(b) - start
	var lenBuf [binary.MaxVarintLen64]byte
	l := binary.PutUvarint(lenBuf[:], uint64(n))
	b = append(b, lenBuf[:l]...) // grow by l
	copy(b[start+l:], b[start:start+n])
	copy(b[start:], lenBuf[:l])
	return b
}

func appendTime(b []byte, tag byte, t time.Time) []byte {
	if t.IsZero() {
		return b
	}
	sec, nsec := t.Unix(), uint64(t.Nanosecond())
	b = append(b, tag, byte(varintLen(sec)+uvarintLen(int(nsec))))
	b = binary.AppendVarint(b, sec)
	return binary.AppendUvarint(b, nsec)
}

func uvarintLen(n int) int {
	l := 1
	for ; n >= 0x80; n >>= 7 {
		l++
	}
	return l
}

func varintLen(x int64) int {
	ux := uint64(x) << 1
	if x < 0 {
		ux = ^ux
	}
	l := 1
	for ; ux >= 0x80; ux >>= 7 {
		l++
	}
	return l
}

// decodeSession parses a payload produced by appendSession. Strings in the
// result share one copy of the payload.
func decodeSession(p []byte) (*auth.Session, error) {
	str := string(p) // one allocation; fields are substrings of it
	s := &auth.Session{}
	var seen uint32
	for i := 0; i < len(p); {
		tag := p[i]
		i++
		start, end, ok := lengthPrefixed(p, i)
		if !ok {
			return nil, errPayload
		}
		i = end
		if tag < 32 {
			if seen&(1<<tag) != 0 {
				return nil, errPayload
			}
			seen |= 1 << tag
		}
		v := str[start:end]
		var err error
		switch tag {
		case fRoleARN:
			s.RoleARN = v
		case fRoleID:
			s.RoleID = v
		case fRoleName:
			s.RoleName = v
		case fUserName:
			s.UserName = v
		case fType:
			s.Type = auth.PrincipalType(v)
		case fSessionName:
			s.SessionName = v
		case fTags:
			s.Tags, err = decodeMap(p[start:end], v)
		case fTransitive:
			s.TransitiveTagKeys, err = decodeList(p[start:end], v)
		case fPolicies:
			s.Policies, err = decodeList(p[start:end], v)
		case fSourceIdentity:
			s.SourceIdentity = v
		case fIssued:
			s.Issued, err = decodeTime(p[start:end])
		case fExpires:
			s.Expires, err = decodeTime(p[start:end])
		case fChained:
			if end != start {
				err = errPayload
			}
			s.Chained = true
		case fSourceARN:
			s.SourceARN = v
		case fAccount:
			if s.Account != "" {
				err = errPayload // repeated
			}
			s.Account = v
		default:
			if tag&criticalBit != 0 {
				err = errPayload
			}
		}
		if err != nil {
			return nil, err
		}
	}
	if seen&(1<<fExpires) == 0 {
		return nil, errPayload
	}
	return s, nil
}

// lengthPrefixed reads a uvarint length at p[i:] and returns the bounds of
// the bytes it announces.
func lengthPrefixed(p []byte, i int) (start, end int, ok bool) {
	n, w := binary.Uvarint(p[i:])
	if w <= 0 || n > uint64(len(p)-i-w) {
		return 0, 0, false
	}
	start = i + w
	return start, start + int(n), true
}

func decodeList(p []byte, str string) ([]string, error) {
	count := 0
	for i := 0; i < len(p); count++ {
		_, end, ok := lengthPrefixed(p, i)
		if !ok {
			return nil, errPayload
		}
		i = end
	}
	out := make([]string, 0, count)
	for i := 0; i < len(p); {
		start, end, _ := lengthPrefixed(p, i)
		out = append(out, str[start:end])
		i = end
	}
	return out, nil
}

func decodeMap(p []byte, str string) (map[string]string, error) {
	count := 0
	for i := 0; i < len(p); count++ {
		_, end, ok := lengthPrefixed(p, i)
		if !ok {
			return nil, errPayload
		}
		i = end
	}
	if count%2 != 0 {
		return nil, errPayload
	}
	m := make(map[string]string, count/2)
	for i := 0; i < len(p); {
		ks, ke, _ := lengthPrefixed(p, i)
		vs, ve, _ := lengthPrefixed(p, ke)
		k := str[ks:ke]
		if _, dup := m[k]; dup {
			return nil, errPayload
		}
		m[k] = str[vs:ve]
		i = ve
	}
	return m, nil
}

func decodeTime(p []byte) (time.Time, error) {
	sec, w := binary.Varint(p)
	if w <= 0 {
		return time.Time{}, errPayload
	}
	nsec, w2 := binary.Uvarint(p[w:])
	if w2 <= 0 || w+w2 != len(p) || nsec >= 1e9 {
		return time.Time{}, errPayload
	}
	return time.Unix(sec, int64(nsec)).UTC(), nil
}
