package agent

import (
	"encoding/json"
	"strings"

	"github.com/podid/podid/internal/jsonscan"
)

// The fast path of parseToken: a single pass over the header and the
// claims that reads only the fields the agent uses, without
// encoding/json's reflection and its second pass over each RawMessage.
// It handles the tokens kubelet writes (ASCII, no escapes, no duplicate
// or case-folded keys); on anything else it answers !ok and parseToken
// falls back to encoding/json, whose readings stay authoritative.
// FuzzFastTokenPaths checks that whatever the fast path accepts, the
// encoding/json path reads the same way.

// maxScanDepth bounds nesting on the fast path; deeper input falls back.
const maxScanDepth = 64

// jscan is the fast path's reader: a jsonscan.Scanner that leaves
// repeated names to fields (encoding/json lets the last one win), plus
// the agent's own readers.
type jscan struct{ *jsonscan.Scanner }

func newScan(b []byte) *jscan { return &jscan{jsonscan.New(b, maxScanDepth, false)} }

// fields matches a key against the names a struct reads. encoding/json
// matches names case-insensitively and lets a repeated key win, so a key
// that only folds to a name, or a name seen twice, abandons the fast path.
type fields struct {
	names []string
	seen  uint16
}

// match returns the index of key in names, -1 for another key, and ok
// false when the fast path must give up.
func (f *fields) match(key []byte) (int, bool) {
	for i, n := range f.names {
		if string(key) == n {
			if f.seen&(1<<i) != 0 {
				return 0, false
			}
			f.seen |= 1 << i
			return i, true
		}
		// Keys here are ASCII (str refuses the rest), so only a key of
		// the name's length can fold to it.
		if len(key) == len(n) && strings.EqualFold(string(key), n) {
			return 0, false
		}
	}
	return -1, true
}

// fastAlg reads the header's alg.
func fastAlg(hb []byte) (string, bool) {
	s := newScan(hb)
	s.WS()
	var alg []byte
	f := fields{names: []string{"alg"}}
	ok := s.Object(func(k []byte) (bool, bool) {
		i, ok := f.match(k)
		if !ok || i < 0 {
			return false, ok
		}
		alg, ok = s.Str()
		return true, ok
	})
	if !ok || alg == nil || !s.End() {
		return "", false
	}
	return string(alg), true
}

var (
	payloadNames = []string{"exp", "nbf", "iat", "iss", "sub", "jti", "aud", "kubernetes.io"}
	k8sNames     = []string{"namespace", "pod", "serviceaccount"}
	uidNames     = []string{"uid"}
	nameNames    = []string{"name"}
)

// fastClaims reads the claims parseToken uses.
func fastClaims(pb []byte) (*claims, bool) {
	s := newScan(pb)
	s.WS()
	var dates [3][]byte // exp, nbf, iat
	var sub, ns, sa, uid []byte
	hasSub := false
	f := fields{names: payloadNames}
	ok := s.Object(func(k []byte) (bool, bool) {
		i, ok := f.match(k)
		if !ok || i < 0 {
			return false, ok
		}
		switch i {
		case 0, 1, 2: // exp, nbf, iat: a number or null
			if s.Null() {
				return true, true
			}
			dates[i], ok = s.Num()
			return true, ok
		case 3, 5: // iss, jti
			_, ok = s.StrOrNull()
			return true, ok
		case 4: // sub
			sub, ok = s.StrOrNull()
			hasSub = ok && sub != nil
			return true, ok
		case 6: // aud: a string, null or an array of strings
			if s.Peek() == '[' {
				return true, s.Array(func() bool { _, ok := s.StrOrNull(); return ok })
			}
			_, ok = s.StrOrNull()
			return true, ok
		default: // kubernetes.io
			if s.Null() {
				return true, true
			}
			kf := fields{names: k8sNames}
			return true, s.Object(func(k []byte) (bool, bool) {
				i, ok := kf.match(k)
				if !ok || i < 0 {
					return false, ok
				}
				switch i {
				case 0:
					ns, ok = s.StrOrNull()
					return true, ok
				case 1:
					uid, ok = s.subField(uidNames)
				default:
					sa, ok = s.subField(nameNames)
				}
				return true, ok
			})
		}
	})
	if !ok || !s.End() {
		return nil, false
	}
	c := &claims{Namespace: string(ns), ServiceAccount: string(sa), PodUID: string(uid)}
	var err error
	var iat int64
	for i, dst := range []*int64{&c.Exp, &c.Nbf, &iat} {
		if dates[i] == nil {
			continue
		}
		n := json.Number(dates[i])
		if *dst, err = numericDate(&n); err != nil {
			return nil, false // the encoding/json path words the error
		}
	}
	if (c.Namespace == "" || c.ServiceAccount == "") && hasSub {
		if ns, sa, ok := parseSubject(string(sub)); ok {
			c.Namespace, c.ServiceAccount = ns, sa
		}
	}
	return c, true
}

// subField reads an object (or null) holding one string field.
func (s *jscan) subField(names []string) ([]byte, bool) {
	if s.Null() {
		return nil, true
	}
	var v []byte
	f := fields{names: names}
	ok := s.Object(func(k []byte) (bool, bool) {
		i, ok := f.match(k)
		if !ok || i < 0 {
			return false, ok
		}
		v, ok = s.StrOrNull()
		return true, ok
	})
	return v, ok
}
