package sts

import (
	"bytes"
	"compress/flate"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/podid/podid/internal/awscreds"
	"github.com/podid/podid/internal/awsproto"
)

// Tag is a session tag passed to AssumeRole (or by a service caller).
type Tag = awscreds.Tag

// Limits on session tags and session policies.
const (
	maxSessionTags     = 50
	maxTagKeyLen       = 128
	maxTagValueLen     = 256
	maxPolicyArns      = 10
	maxSessionPolicyLn = 2048
)

// validateTags checks the model constraints of Tags and TransitiveTagKeys
// (counts, lengths, character sets), recording violations in v.
func validateTags(v *validation, tags []Tag, transitive []string) {
	if len(tags) > maxSessionTags {
		s := fmt.Sprintf("%v", tagKeys(tags))
		v.add(&s, "tags", fmt.Sprintf("must have length less than or equal to %d", maxSessionTags))
	}
	for i, t := range tags {
		key, val := t.Key, t.Value
		kn, vn := utf8.RuneCountInString(key), utf8.RuneCountInString(val)
		if kn >= 1 && kn <= maxTagKeyLen && vn <= maxTagValueLen && reTagKey.MatchString(key) && reTagValue.MatchString(val) {
			continue
		}
		member := "tags." + strconv.Itoa(i+1) + ".member"
		if n := utf8.RuneCountInString(key); n < 1 {
			v.add(&key, member+".key", "must have length greater than or equal to 1")
		} else if n > maxTagKeyLen {
			v.add(&key, member+".key", fmt.Sprintf("must have length less than or equal to %d", maxTagKeyLen))
		}
		if key != "" && !reTagKey.MatchString(key) {
			v.add(&key, member+".key", "must satisfy regular expression pattern: "+patTagKey)
		}
		if utf8.RuneCountInString(val) > maxTagValueLen {
			v.add(&val, member+".value", fmt.Sprintf("must have length less than or equal to %d", maxTagValueLen))
		}
		if !reTagValue.MatchString(val) {
			v.add(&val, member+".value", "must satisfy regular expression pattern: "+patTagValue)
		}
	}
	if len(transitive) > maxSessionTags {
		s := fmt.Sprintf("%v", transitive)
		v.add(&s, "transitiveTagKeys", fmt.Sprintf("must have length less than or equal to %d", maxSessionTags))
	}
	for i, k := range transitive {
		if n := utf8.RuneCountInString(k); n >= 1 && n <= maxTagKeyLen && reTagKey.MatchString(k) {
			continue
		}
		member := "transitiveTagKeys." + strconv.Itoa(i+1) + ".member"
		if n := utf8.RuneCountInString(k); n < 1 {
			v.add(&k, member, "must have length greater than or equal to 1")
		} else if n > maxTagKeyLen {
			v.add(&k, member, fmt.Sprintf("must have length less than or equal to %d", maxTagKeyLen))
		}
		if k != "" && !reTagKey.MatchString(k) {
			v.add(&k, member, "must satisfy regular expression pattern: "+patTagKey)
		}
	}
}

func tagKeys(tags []Tag) []string {
	out := make([]string, len(tags))
	for i, t := range tags {
		out[i] = t.Key
	}
	return out
}

// sessionTags is the outcome of combining a request's tags with the tags a
// role-chaining caller passes on.
type sessionTags struct {
	// Tags are every tag of the new session (inherited first).
	Tags map[string]string
	// Transitive are the keys that pass on to the next session.
	Transitive []string
	// Request are the tags the trust policy sees as aws:RequestTag/* and
	// aws:TagKeys: the passed tags and the inherited transitive ones.
	Request []Tag
}

// mergeTags applies the session tag rules after model validation: keys are
// unique case-insensitively, reserved "aws:" keys are refused, every
// transitive key names a passed tag, and a passed tag may not override an
// inherited transitive tag.
func mergeTags(tags []Tag, transitive []string, inherited map[string]string, inheritedTransitive []string) (*sessionTags, error) {
	seen := make(map[string]bool, len(tags))
	for _, t := range tags {
		lk := strings.ToLower(t.Key)
		if seen[lk] {
			return nil, validationError("Duplicate tag keys found. Please note that Tag keys are case insensitive.")
		}
		seen[lk] = true
		if strings.HasPrefix(lk, "aws:") {
			return nil, validationError("Tag keys cannot start with the reserved prefix aws:.")
		}
	}
	tseen := make(map[string]bool, len(transitive))
	var trans []string
	for _, k := range transitive {
		lk := strings.ToLower(k)
		if !seen[lk] {
			return nil, validationError("The specified transitive tag key %s must be included in the requested tags.", k)
		}
		if !tseen[lk] {
			tseen[lk] = true
			trans = append(trans, k)
		}
	}

	out := &sessionTags{}
	// Inherited transitive tags come first and cannot be overridden.
	inh := make(map[string]bool, len(inheritedTransitive))
	for _, k := range inheritedTransitive {
		v, ok := lookupFold(inherited, k)
		if !ok {
			continue
		}
		lk := strings.ToLower(k)
		if inh[lk] {
			continue
		}
		inh[lk] = true
		if seen[lk] {
			return nil, awsproto.Errorf(http.StatusBadRequest, "InvalidParameterValue", "One or more of the specified session tags conflicts with an inherited transitive session tag: %s", k)
		}
		if out.Tags == nil {
			out.Tags = map[string]string{}
		}
		out.Tags[k] = v
		out.Transitive = append(out.Transitive, k)
		out.Request = append(out.Request, Tag{Key: k, Value: v})
	}
	for _, t := range tags {
		if out.Tags == nil {
			out.Tags = map[string]string{}
		}
		out.Tags[t.Key] = t.Value
		out.Request = append(out.Request, t)
	}
	out.Transitive = append(out.Transitive, trans...)
	return out, nil
}

// lookupFold finds key in m, ignoring case.
func lookupFold(m map[string]string, key string) (string, bool) {
	if v, ok := m[key]; ok {
		return v, true
	}
	for k, v := range m {
		if strings.EqualFold(k, key) {
			return v, true
		}
	}
	return "", false
}

// Packed size. AWS compresses session policies and session tags into a
// packed binary form with its own limit and reports how full it is as a
// percentage. podid models that form as the DEFLATE-compressed size of the
// compacted session policies plus the plain size of the tags (key, value
// and two bytes each: short, varied strings gain little from compression,
// and AWS's tags are known to weigh heavily), against a budget of
// packedBudget bytes. The figure is a model, not AWS's exact arithmetic: it
// grows with the same inputs and refuses the same order of size (see
// docs/sts.md).
const packedBudget = 2048

var flatePool = sync.Pool{New: func() any {
	w, _ := flate.NewWriter(nil, flate.DefaultCompression)
	return w
}}

var bufPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// packedPercent returns the packed size of policies and tags as a whole
// percentage (rounded up) of the budget.
func packedPercent(policies []string, tags []Tag) int {
	n := 0
	for _, t := range tags {
		n += len(t.Key) + len(t.Value) + 2
	}
	if len(policies) > 0 {
		in := bufPool.Get().(*bytes.Buffer)
		out := bufPool.Get().(*bytes.Buffer)
		in.Reset()
		out.Reset()
		for _, p := range policies {
			if err := json.Compact(in, []byte(p)); err != nil {
				in.WriteString(p)
			}
			in.WriteByte(0)
		}
		w := flatePool.Get().(*flate.Writer)
		w.Reset(out)
		w.Write(in.Bytes())
		w.Close()
		flatePool.Put(w)
		n += out.Len()
		bufPool.Put(in)
		bufPool.Put(out)
	}
	return (n*100 + packedBudget - 1) / packedBudget
}

// errPackedTooLarge is PackedPolicyTooLarge with AWS's sentence.
func errPackedTooLarge(pct int) *awsproto.Error {
	return awsproto.Errorf(http.StatusBadRequest, "PackedPolicyTooLarge", "Packed policy consumes %d%% of allotted space, please use smaller policy.", pct)
}
