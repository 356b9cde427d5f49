package awsproto

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/podid/podid/internal/cputime"
)

// TestQueryLimits: a body over the decoder's limits is refused with a
// ValidationError before it is decoded; one at the limits is decoded.
func TestQueryLimits(t *testing.T) {
	members := func(n int) string {
		var b strings.Builder
		b.WriteString("Action=AssumeRoleWithWebIdentity")
		for i := 1; i <= n; i++ {
			fmt.Fprintf(&b, "&PolicyArns.member.%d.arn=arn%%3Aaws%%3Aiam%%3A%%3Aaws%%3Apolicy%%2Fp%d", i, i)
		}
		return b.String()
	}
	for _, tc := range []struct {
		name, body string
		code, msg  string // "" when accepted
	}{
		{name: "at the parameter limit", body: members(MaxQueryParams - 1)},
		{name: "one parameter over", body: members(MaxQueryParams), code: "ValidationError", msg: "The request has more than 1000 parameters."},
		{name: "9,990 policy ARNs", body: members(9990), code: "ValidationError", msg: "The request has more than 1000 parameters."},
		{name: "empty pairs do not count", body: strings.Repeat("&", 5000) + "Action=GetCallerIdentity"},
		{name: "name at the limit", body: "Action=X&" + strings.Repeat("N", MaxQueryParamName) + "=v"},
		{name: "name over the limit", body: "Action=X&" + strings.Repeat("N", MaxQueryParamName+1) + "=v", code: "ValidationError", msg: "A parameter name is longer than 128 bytes."},
		{name: "bad escape", body: "Action=%zz", code: "MalformedQueryString", msg: "The request's query string is not valid."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := ParseParams(tc.body)
			if tc.code == "" {
				if err != nil {
					t.Fatalf("ParseParams: %v", err)
				}
				if p.Get("Action") == "" {
					t.Fatal("Action lost")
				}
				return
			}
			var ae *Error
			if !errors.As(err, &ae) || ae.Code != tc.code || ae.Message != tc.msg || ae.Status != http.StatusBadRequest || !ae.Sender {
				t.Fatalf("ParseParams = %v, want 400 %s %q", err, tc.code, tc.msg)
			}
		})
	}
}

// structsReference is the former, quadratic Structs: the meaning the
// linear one must keep.
func structsReference(p Params, name string) []map[string]string {
	var out []map[string]string
	for i := 1; ; i++ {
		prefix := name + ".member." + strconv.Itoa(i) + "."
		var m map[string]string
		for k, v := range p.Values {
			if strings.HasPrefix(k, prefix) {
				if m == nil {
					m = map[string]string{}
				}
				m[k[len(prefix):]] = v[0]
			}
		}
		if m == nil {
			return out
		}
		out = append(out, m)
	}
}

// TestStructs: members in index order up to the first gap, fields by name,
// indexes only in the SDKs' form.
func TestStructs(t *testing.T) {
	p, err := ParseParams("Tags.member.2.Key=b&Tags.member.1.Key=a&Tags.member.1.Value=1&Tags.member.2.Value=2&Tags.member.4.Key=gap" +
		"&Tags.member.01.Key=zero&Tags.member.+1.Key=sign&Tags.member.x.Key=x&Other.member.1.Key=o&Tags.member.3&Tags.member.1.Nested.Deep=n")
	if err != nil {
		t.Fatal(err)
	}
	want := []map[string]string{{"Key": "a", "Value": "1", "Nested.Deep": "n"}, {"Key": "b", "Value": "2"}}
	if got := p.Structs("Tags"); !reflect.DeepEqual(got, want) {
		t.Fatalf("Structs = %v, want %v", got, want)
	}
	if got, ref := p.Structs("Tags"), structsReference(p, "Tags"); !reflect.DeepEqual(got, ref) {
		t.Fatalf("Structs = %v, reference %v", got, ref)
	}
	if got := p.Structs("None"); got != nil {
		t.Fatalf("Structs(None) = %v", got)
	}
}

// BenchmarkQueryStructs decodes a list of N structures (PolicyArns); its
// cpu-ns/member must not grow with N. Params are built directly, past
// ParseParams' parameter limit, to measure the decoder itself.
func BenchmarkQueryStructs(b *testing.B) {
	for _, n := range []int{100, 10000} {
		v := url.Values{}
		for i := 1; i <= n; i++ {
			v.Set("PolicyArns.member."+strconv.Itoa(i)+".arn", "arn:aws:iam::aws:policy/p"+strconv.Itoa(i))
		}
		p := Params{v}
		b.Run("members="+strconv.Itoa(n), func(b *testing.B) {
			cpu := cputime.Start()
			for b.Loop() {
				if got := p.Structs("PolicyArns"); len(got) != n {
					b.Fatalf("%d members", len(got))
				}
			}
			if b.N > 0 && cputime.Available() {
				b.ReportMetric(float64(cpu.Elapsed())/float64(b.N)/float64(n), "cpu-ns/member")
			}
		})
	}
}
