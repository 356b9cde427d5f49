package eks

import "testing"

// TestTrustsPodIdentity: the association's role must trust the service
// principal pods.eks.amazonaws.com for sts:AssumeRole, named or through a
// wildcard; Deny statements, other principals and other actions do not
// count.
func TestTrustsPodIdentity(t *testing.T) {
	stmt := func(effect, principal, action string) string {
		return `{"Version":"2012-10-17","Statement":[{"Effect":"` + effect + `","Principal":` + principal + `,"Action":` + action + `}]}`
	}
	pods := `{"Service":"pods.eks.amazonaws.com"}`
	for _, tc := range []struct {
		name string
		doc  string
		want bool
	}{
		{"the workshop's", stmt("Allow", pods, `["sts:AssumeRole","sts:TagSession"]`), true},
		{"action in another case", stmt("Allow", pods, `"STS:assumerole"`), true},
		{"sts:*", stmt("Allow", pods, `"sts:*"`), true},
		{"*", stmt("Allow", pods, `"*"`), true},
		{"sts:Assume*", stmt("Allow", pods, `"sts:Assume*"`), true},
		{"sts:AssumeRol?", stmt("Allow", pods, `"sts:AssumeRol?"`), true},
		{"service in a list", stmt("Allow", `{"Service":["ec2.amazonaws.com","pods.eks.amazonaws.com"]}`, `"sts:AssumeRole"`), true},
		{"statement object", `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":` + pods + `,"Action":"sts:AssumeRole"}}`, true},
		{"only TagSession", stmt("Allow", pods, `"sts:TagSession"`), false},
		{"sts:AssumeRoleWith*", stmt("Allow", pods, `"sts:AssumeRoleWith*"`), false},
		{"sts:Assume?", stmt("Allow", pods, `"sts:Assume?"`), false},
		{"Deny", stmt("Deny", pods, `"sts:AssumeRole"`), false},
		{"another service", stmt("Allow", `{"Service":"eks.amazonaws.com"}`, `"sts:AssumeRole"`), false},
		{"an account", stmt("Allow", `{"AWS":"arn:aws:iam::123456789012:root"}`, `"sts:AssumeRole"`), false},
		{"not JSON", `{`, false},
	} {
		if got := trustsPodIdentity(tc.doc); got != tc.want {
			t.Errorf("%s: trustsPodIdentity = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestWildcardMatch(t *testing.T) {
	for _, tc := range []struct {
		pattern, s string
		want       bool
	}{
		{"*", "", true}, {"", "", true}, {"", "a", false}, {"a*b", "ab", true}, {"a*b", "axxb", true}, {"a*b", "axxbc", false},
		{"*b*", "abc", true}, {"?", "", false}, {"a?c", "abc", true}, {"a**", "a", true}, {"*a*a*", "aa", true}, {"*a*a*", "ab", false},
	} {
		if got := wildcardMatch(tc.pattern, tc.s); got != tc.want {
			t.Errorf("wildcardMatch(%q, %q) = %v, want %v", tc.pattern, tc.s, got, tc.want)
		}
	}
}
