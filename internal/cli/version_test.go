package cli

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/podid/podid/internal/version"
)

// TestVersion: `podid version` and `podid --version` print the same line,
// naming the build's version and commit; --json gives the fields.
func TestVersion(t *testing.T) {
	want := version.Get().String() + "\n"
	for _, args := range [][]string{{"version"}, {"--version"}} {
		root := newRootCommand()
		var out bytes.Buffer
		root.SetOut(&out)
		root.SetErr(&out)
		root.SetArgs(args)
		if err := root.Execute(); err != nil {
			t.Fatalf("podid %s: %v", strings.Join(args, " "), err)
		}
		if out.String() != want {
			t.Errorf("podid %s printed %q, want %q", strings.Join(args, " "), out.String(), want)
		}
	}

	root := newRootCommand()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetArgs([]string{"version", "--json"})
	if err := root.Execute(); err != nil {
		t.Fatalf("podid version --json: %v", err)
	}
	var got version.Info
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatalf("podid version --json printed %q: %v", out.String(), err)
	}
	if got != version.Get() {
		t.Errorf("podid version --json = %+v, want %+v", got, version.Get())
	}

	root = newRootCommand()
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs([]string{"version", "extra"})
	if err := root.Execute(); err == nil {
		t.Error("podid version extra: want an error for the unexpected argument")
	}
}
