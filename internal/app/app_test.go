package app

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/podid/podid/internal/testclock"
)

// TestAssembleWiresEverything builds a server in process: every part is
// set, and EKS Auth and the agent installer share one call log (the
// installer, built first, sees EKS Auth's calls).
func TestAssembleWiresEverything(t *testing.T) {
	a, err := New(context.Background(), Config{DataDir: t.TempDir(), PublicURL: "http://127.0.0.1:8080", Getenv: func(string) string { return "" }, Now: testclock.New(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)).Now})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if err := a.checkWired(); err != nil {
		t.Fatal(err)
	}
	if _, ok := a.EKSAuth.LastCall("eks-workshop"); ok {
		t.Error("a fresh server has a last agent call")
	}
}

// TestCheckWiredFailsLoudly: a part left unset is an error naming it.
func TestCheckWiredFailsLoudly(t *testing.T) {
	err := (&App{}).checkWired()
	if err == nil || !strings.Contains(err.Error(), "store unset") {
		t.Fatalf("checkWired on an empty App = %v, want the store named", err)
	}
}
