package eksauth

import (
	"encoding/json"
	"time"
)

// marshalAuditFields is json.Marshal(f), byte for byte, without
// reflection: every string member of printable ASCII that encoding/json
// writes verbatim (no '"', '\\', '<', '>' or '&') is appended as is, and
// the expiration in UTC as RFC 3339 with nanoseconds. Any other value
// (escapes, non-ASCII, another zone or a year outside 0–9999) goes to
// json.Marshal. FuzzAuditFieldsJSON checks the two agree.
func marshalAuditFields(f *auditFields) []byte {
	b := make([]byte, 0, 512)
	b = append(b, '{')
	var ok bool
	if b, ok = appendMember(b, "cluster", f.Cluster, false); !ok {
		return slowAuditFields(f)
	}
	for _, m := range [...]struct {
		name, v string
	}{
		{"namespace", f.Namespace}, {"serviceAccount", f.ServiceAccount}, {"podName", f.PodName},
		{"podUid", f.PodUID}, {"node", f.Node}, {"associationId", f.AssociationID},
		{"roleArn", f.Role}, {"targetRoleArn", f.TargetRole}, {"sessionName", f.SessionName},
		{"accessKeyId", f.AccessKeyID},
	} {
		if b, ok = appendMember(b, m.name, m.v, true); !ok {
			return slowAuditFields(f)
		}
	}
	if !f.Expires.IsZero() {
		if f.Expires.Location() != time.UTC || f.Expires.Year() < 0 || f.Expires.Year() > 9999 {
			return slowAuditFields(f)
		}
		b = append(b, `,"expiration":"`...)
		b = f.Expires.AppendFormat(b, time.RFC3339Nano)
		b = append(b, '"')
	}
	for _, m := range [...]struct {
		name, v string
	}{
		{"caller", f.Caller}, {"sourceIp", f.SourceIP}, {"requestId", f.RequestID},
		{"errorCode", f.Code}, {"reason", f.Reason},
	} {
		if b, ok = appendMember(b, m.name, m.v, true); !ok {
			return slowAuditFields(f)
		}
	}
	return append(b, '}')
}

// appendMember appends ,"name":"v" (no comma for the first member; none
// at all when omitEmpty and v is empty); ok is false when v needs
// escaping.
func appendMember(b []byte, name, v string, omitEmpty bool) ([]byte, bool) {
	if omitEmpty && v == "" {
		return b, true
	}
	for i := 0; i < len(v); i++ {
		if !jsonVerbatim[v[i]] {
			return b, false
		}
	}
	if len(b) > 1 {
		b = append(b, ',')
	}
	b = append(b, '"')
	b = append(b, name...)
	b = append(b, `":"`...)
	b = append(b, v...)
	return append(b, '"'), true
}

// jsonVerbatim: the bytes encoding/json writes unchanged inside a string.
var jsonVerbatim = func() (t [256]bool) {
	for c := 0x20; c < 0x7f; c++ {
		t[c] = true
	}
	for _, c := range `"\<>&` {
		t[c] = false
	}
	return t
}()

func slowAuditFields(f *auditFields) []byte {
	b, _ := json.Marshal(f)
	return b
}
