package iam

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awsiam "github.com/aws/aws-sdk-go-v2/service/iam"

	"github.com/podid/podid/internal/auth"
	"github.com/podid/podid/internal/awsproto"
	"github.com/podid/podid/internal/iam/iamsdktest"
)

// sdkClient serves the service over HTTP the way the server edge does,
// without SigV4 (every request is the account root), and returns a Go SDK
// v2 IAM client pointed at it.
func sdkClient(t *testing.T, env *testEnv) *awsiam.Client {
	t.Helper()
	ns := Namespace
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		reqID := awsproto.NewRequestID()
		p, err := awsproto.ParseParams(string(body))
		if err == nil {
			ctx := auth.WithPrincipal(r.Context(), auth.RootPrincipal("aws", testAccount, "AKIAROOTROOTROOTROOT"))
			var res any
			res, err = env.svc.HandleQuery(ctx, p.Get("Action"), p)
			if err == nil {
				awsproto.WriteQueryResponse(w, p.Get("Action"), ns, reqID, res)
				return
			}
		}
		var ae *awsproto.Error
		if !errors.As(err, &ae) {
			ae = awsproto.Internal("ServiceFailure", err)
		}
		awsproto.WriteQueryError(w, ns, reqID, ae)
	}))
	t.Cleanup(srv.Close)
	return awsiam.New(awsiam.Options{
		BaseEndpoint:     aws.String(srv.URL),
		Region:           "us-west-2",
		Credentials:      credentials.NewStaticCredentialsProvider("AKIAROOTROOTROOTROOT", "secret", ""),
		RetryMaxAttempts: 1,
		HTTPClient:       srv.Client(),
	})
}

// TestGoSDKRoundTrip runs iamsdktest's sequence (every IAM operation podid
// serves, through the Go SDK v2) against the service in process; the
// end-to-end test TestIAMGoSDKRoundTrip runs it against the real server.
func TestGoSDKRoundTrip(t *testing.T) {
	iamsdktest.RoundTrip(t, sdkClient(t, newTestEnv(t)), func(at time.Time) bool { return at.Equal(testStart) })
}
