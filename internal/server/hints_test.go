package server

import (
	"net/http"
	"testing"
)

// TestUnknownServiceNamesTheGateway: a DynamoDB or S3 call that reached
// the server names the gateway and the podid exec flag that points the
// service there; other services keep the plain sentence.
func TestUnknownServiceNamesTheGateway(t *testing.T) {
	for _, tc := range []struct{ service, want string }{
		{"dynamodb", `podid does not serve the service "dynamodb" on this port: send dynamodb calls to podid's gateway (podid gateway, or --gateway-listen), e.g. podid exec --env AWS_ENDPOINT_URL_DYNAMODB=GATEWAY-URL -- COMMAND`},
		{"s3", `podid does not serve the service "s3" on this port: send s3 calls to podid's gateway (podid gateway, or --gateway-listen), e.g. podid exec --env AWS_ENDPOINT_URL_S3=GATEWAY-URL -- COMMAND`},
		{"sqs", `podid does not serve the service "sqs"`},
	} {
		e := unknownService(tc.service)
		if e.Code != "UnknownOperationException" || e.Status != http.StatusBadRequest || e.Message != tc.want {
			t.Errorf("%s: %d %s %q, want 400 UnknownOperationException %q", tc.service, e.Status, e.Code, e.Message, tc.want)
		}
	}
}
