package policy

import (
	"sort"
	"strings"
	"unicode/utf8"
)

// Context holds the condition keys of a request. Keys are case-insensitive
// (aws:SourceIp ≡ AWS:SOURCEIP, including tag-key suffixes such as
// aws:PrincipalTag/Team); each key holds one or more values. A key set with
// no values counts as absent.
//
// A Context is reusable: Reset keeps its storage, so a request path that
// keeps one Context per goroutine (or in a sync.Pool) does not allocate once
// warm. It is not safe for concurrent mutation.
type Context struct {
	entries []ctxEntry
}

type ctxEntry struct {
	key  string
	hash uint64 // keyHash(key)
	vals []string
}

// keyHash is FNV-1a over the ASCII-lower-cased key. Keys with non-ASCII
// bytes hash to 0, which means "compare the slow way" (Unicode folding can
// change byte lengths).
func keyHash(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= utf8.RuneSelf {
			return 0
		}
		h ^= uint64(lowerASCII(c))
		h *= 1099511628211
	}
	if h == 0 {
		h = 1
	}
	return h
}

// NewContext returns an empty Context.
func NewContext() *Context { return &Context{} }

// Reset removes every key and keeps the storage for reuse.
func (c *Context) Reset() {
	for i := range c.entries {
		c.entries[i].key = ""
		clear(c.entries[i].vals)
		c.entries[i].vals = c.entries[i].vals[:0]
	}
	c.entries = c.entries[:0]
}

// Len returns the number of keys.
func (c *Context) Len() int {
	if c == nil {
		return 0
	}
	return len(c.entries)
}

func (c *Context) find(key string) int {
	return c.findHash(key, keyHash(key))
}

func (c *Context) findHash(key string, h uint64) int {
	for i := range c.entries {
		e := &c.entries[i]
		if e.hash == h && h != 0 {
			if e.key == key || keyEqual(e.key, key) {
				return i
			}
			continue
		}
		if (e.hash == 0 || h == 0) && keyEqual(e.key, key) {
			return i
		}
	}
	return -1
}

// getHash is Get with a precomputed keyHash.
func (c *Context) getHash(key string, h uint64) ([]string, bool) {
	if c == nil {
		return nil, false
	}
	i := c.findHash(key, h)
	if i < 0 || len(c.entries[i].vals) == 0 {
		return nil, false
	}
	return c.entries[i].vals, true
}

// keyEqual compares condition keys case-insensitively.
func keyEqual(a, b string) bool {
	if len(a) != len(b) {
		// Unicode folding can change the byte length; keys are ASCII in
		// practice, so only fall back for non-ASCII input.
		if isASCII(a) && isASCII(b) {
			return false
		}
		return strings.EqualFold(a, b)
	}
	for i := 0; i < len(a); i++ {
		ca, cb := a[i], b[i]
		if ca == cb {
			continue
		}
		if ca >= utf8.RuneSelf || cb >= utf8.RuneSelf {
			return strings.EqualFold(a, b)
		}
		if lowerASCII(ca) != lowerASCII(cb) {
			return false
		}
	}
	return true
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// Set replaces the values of key. Set with no values makes the key
// absent.
func (c *Context) Set(key string, values ...string) {
	if len(values) == 0 {
		c.Delete(key)
		return
	}
	i := c.find(key)
	if i < 0 {
		i = c.slot(key)
	}
	c.entries[i].vals = append(c.entries[i].vals[:0], values...)
}

// Add appends values to key.
func (c *Context) Add(key string, values ...string) {
	if len(values) == 0 {
		return
	}
	i := c.find(key)
	if i < 0 {
		i = c.slot(key)
	}
	c.entries[i].vals = append(c.entries[i].vals, values...)
}

// slot appends an entry for key, reusing storage left by Reset.
func (c *Context) slot(key string) int {
	n := len(c.entries)
	if n < cap(c.entries) {
		c.entries = c.entries[:n+1]
	} else {
		c.entries = append(c.entries, ctxEntry{})
	}
	c.entries[n].key = key
	c.entries[n].hash = keyHash(key)
	c.entries[n].vals = c.entries[n].vals[:0]
	return n
}

// Delete removes key.
func (c *Context) Delete(key string) {
	i := c.find(key)
	if i < 0 {
		return
	}
	last := len(c.entries) - 1
	c.entries[i], c.entries[last] = c.entries[last], c.entries[i]
	c.entries[last].key = ""
	clear(c.entries[last].vals)
	c.entries[last].vals = c.entries[last].vals[:0]
	c.entries = c.entries[:last]
}

// Get returns the values of key; ok is false when the key is absent. The
// slice must not be modified.
func (c *Context) Get(key string) (values []string, ok bool) {
	if c == nil {
		return nil, false
	}
	i := c.find(key)
	if i < 0 || len(c.entries[i].vals) == 0 {
		return nil, false
	}
	return c.entries[i].vals, true
}

// single returns the value of a single-valued key, for policy variables. A
// key with several values cannot be a variable.
func (c *Context) single(key string, h uint64) (string, bool) {
	vals, ok := c.getHash(key, h)
	if !ok || len(vals) != 1 {
		return "", false
	}
	return vals[0], true
}

// Keys returns the keys as they were set, sorted case-insensitively.
func (c *Context) Keys() []string {
	if c == nil {
		return nil
	}
	keys := make([]string, 0, len(c.entries))
	for _, e := range c.entries {
		keys = append(keys, e.key)
	}
	sort.Slice(keys, func(i, j int) bool { return strings.ToLower(keys[i]) < strings.ToLower(keys[j]) })
	return keys
}

// SetPrincipalKeys sets the global keys that describe the caller:
// aws:PrincipalArn (the role ARN for sessions), aws:PrincipalAccount,
// aws:PrincipalType, aws:userid and aws:username (IAM users only).
func (c *Context) SetPrincipalKeys(p *Principal) {
	switch p.Type {
	case PrincipalAssumedRole:
		c.Set("aws:PrincipalArn", p.RoleARN)
	case PrincipalAnonymous, PrincipalService, PrincipalWebIdentity:
	default:
		c.Set("aws:PrincipalArn", p.ARN)
	}
	switch p.Type {
	case PrincipalAnonymous:
		c.Set("aws:PrincipalAccount", "anonymous")
		c.Set("aws:PrincipalType", "Anonymous")
		c.Set("aws:userid", "anonymous")
	case PrincipalRoot, PrincipalUser, PrincipalRole, PrincipalAssumedRole, PrincipalFederatedUser:
		c.Set("aws:PrincipalAccount", p.AccountID)
		c.Set("aws:PrincipalType", p.Type.String())
	}
	if p.UserID != "" {
		c.Set("aws:userid", p.UserID)
	}
	if p.Type == PrincipalUser && p.UserName != "" {
		c.Set("aws:username", p.UserName)
	}
}
