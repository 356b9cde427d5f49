package iam

import (
	"net/http/httptest"
	"net/url"
	"strconv"
	"testing"

	"github.com/podid/podid/internal/awsproto"
)

// benchQuery runs one action through HandleQuery and the XML writer.
func benchQuery(b *testing.B, env *testEnv, action string, params url.Values) {
	b.Helper()
	p := awsproto.Params{Values: params}
	res, err := env.svc.HandleQuery(env.ctx, action, p)
	if err != nil {
		b.Fatal(err)
	}
	rec := httptest.NewRecorder()
	awsproto.WriteQueryResponse(rec, action, Namespace, "r", res)
}

func BenchmarkGetRole(b *testing.B) {
	env := newTestEnv(b)
	params := url.Values{"RoleName": {"carts"}, "AssumeRolePolicyDocument": {trustDoc}}
	benchQuery(b, env, "CreateRole", params)
	get := url.Values{"RoleName": {"carts"}}
	b.ReportAllocs()
	for b.Loop() {
		benchQuery(b, env, "GetRole", get)
	}
}

func BenchmarkListRoles100(b *testing.B) {
	env := newTestEnv(b)
	for i := range 100 {
		benchQuery(b, env, "CreateRole", url.Values{"RoleName": {"r" + strconv.Itoa(i)}, "AssumeRolePolicyDocument": {trustDoc}})
	}
	list := url.Values{"MaxItems": {"100"}}
	b.ReportAllocs()
	for b.Loop() {
		benchQuery(b, env, "ListRoles", list)
	}
}

func BenchmarkCreateRole(b *testing.B) {
	env := newTestEnv(b, func(c *Config) { c.ValidatePolicy = nil })
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		benchQuery(b, env, "CreateRole", url.Values{"RoleName": {"r" + strconv.Itoa(i)}, "AssumeRolePolicyDocument": {trustDoc}})
	}
}
