package gateway

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
	"testing"
)

// lockedBuffer is a log sink safe for the gateway's goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestDenialLogPointsToExplain: a pod session's denial is logged with the
// `podid explain` command that explains it, arguments filled in.
func TestDenialLogPointsToExplain(t *testing.T) {
	var logs lockedBuffer
	h := newHarness(t, func(c *Config) { c.Logger = slog.New(slog.NewTextHandler(&logs, nil)) })
	creds, _ := h.role("carts", "", podTags("carts", "carts"))
	resp := h.ddbCall(creds, "GetItem", `{"TableName":"carts","Key":{"id":{"S":"1"}}}`)
	resp.Body.Close()
	if resp.StatusCode != 400 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	want := `explain="podid explain --cluster eks-workshop --namespace carts --service-account carts --pod carts-pod --action dynamodb:GetItem --resource arn:aws:dynamodb:us-west-2:` + account + `:table/carts"`
	if !strings.Contains(logs.String(), want) {
		t.Errorf("log lacks %s:\n%s", want, logs.String())
	}
	// A caller that is not a pod gets no hint.
	if got := explainCommand(&auditFields{Principal: "arn:aws:iam::" + account + ":user/u"}); got != "" {
		t.Errorf("non-pod hint = %q", got)
	}
}
