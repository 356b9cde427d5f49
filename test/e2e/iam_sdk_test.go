package e2e

import (
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/iam"

	"github.com/podid/podid/internal/iam/iamsdktest"
)

// TestIAMGoSDKRoundTrip runs every IAM operation podid serves with the Go
// SDK v2 against the real server: signed with SigV4 by the SDK, verified
// by the server's edge, answered in awsQuery XML (the same sequence the
// IAM package runs in process).
func TestIAMGoSDKRoundTrip(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	start := time.Now()
	iamsdktest.RoundTrip(t, iam.NewFromConfig(s.goConfig(s.root())), func(at time.Time) bool {
		return !at.Before(start.Add(-time.Second)) && !at.After(time.Now().Add(time.Second))
	})
}
