package cli

import (
	"fmt"
	"testing"
)

// TestHostedAccountsFlag: --account wins; without it PODID_ACCOUNTS is
// split at commas, blanks dropped.
func TestHostedAccountsFlag(t *testing.T) {
	env := func(v string) func(string) string {
		return func(k string) string {
			if k == EnvAccounts {
				return v
			}
			return ""
		}
	}
	for _, tc := range []struct {
		flags []string
		env   string
		want  string
	}{
		{nil, "", "[]"},
		{nil, "210987654321, 111122223333,,", "[210987654321 111122223333]"},
		{[]string{"444455556666"}, "210987654321", "[444455556666]"},
	} {
		f := serverFlags{accounts: tc.flags}
		if got := fmt.Sprint(f.hostedAccounts(env(tc.env))); got != tc.want {
			t.Errorf("flags %v, %s=%q: %s, want %s", tc.flags, EnvAccounts, tc.env, got, tc.want)
		}
	}
}
