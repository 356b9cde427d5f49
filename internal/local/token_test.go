package local

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
)

func TestHTTPMinter(t *testing.T) {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	pod := Pod{Cluster: "eks-workshop", Namespace: "carts", ServiceAccount: "carts", Name: "carts-x2x4q", UID: "0b7c7c1e-6f5a-4d1e-9b7e-1c2d3e4f5a6b", Node: "podid-dev"}
	for _, tc := range []struct {
		name     string
		ttl      time.Duration
		status   int
		header   map[string]string
		body     string
		wantBody map[string]any
		want     Token
		wantErr  error
		errText  string
	}{
		{
			name: "minted", ttl: 10 * time.Minute, status: 200,
			body: `{"token":"a.b.c","expirationTimestamp":1795694400.5}`,
			wantBody: map[string]any{"namespace": "carts", "serviceAccount": "carts", "podName": "carts-x2x4q",
				"podUid": "0b7c7c1e-6f5a-4d1e-9b7e-1c2d3e4f5a6b", "nodeName": "podid-dev", "expirationSeconds": float64(600)},
			want: Token{Value: "a.b.c", IssuedAt: now, Expires: time.Unix(1795694400, 5e8)},
		},
		{
			name: "server default lifetime", status: 200,
			body: `{"token":"a.b.c","expirationTimestamp":1795694400}`,
			wantBody: map[string]any{"namespace": "carts", "serviceAccount": "carts", "podName": "carts-x2x4q",
				"podUid": "0b7c7c1e-6f5a-4d1e-9b7e-1c2d3e4f5a6b", "nodeName": "podid-dev"},
			want: Token{Value: "a.b.c", IssuedAt: now, Expires: time.Unix(1795694400, 0)},
		},
		{
			name: "refused", ttl: time.Minute, status: 400,
			header:  map[string]string{"x-amzn-ErrorType": "InvalidParameterException:http://internal.amazon.com/coral/"},
			body:    `{"__type":"InvalidParameterException","message":"The token lifetime must be between 600 and 172800 seconds"}`,
			wantErr: &MintError{Status: 400, Code: "InvalidParameterException", Message: "The token lifetime must be between 600 and 172800 seconds"},
		},
		{
			name: "refused, code only in the body", status: 403,
			body:    `{"__type":"AccessDeniedException","message":"no"}`,
			wantErr: &MintError{Status: 403, Code: "AccessDeniedException", Message: "no"},
		},
		{
			name: "refused without a body", status: 502,
			wantErr: &MintError{Status: 502, Code: "Bad Gateway"},
		},
		{name: "no token", status: 200, body: `{"expirationTimestamp":1}`, errText: "the answer has no token and expirationTimestamp"},
		{name: "no expiry", status: 200, body: `{"token":"a.b.c"}`, errText: "the answer has no token and expirationTimestamp"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Method != http.MethodPost || r.URL.Path != "/podid/v1/clusters/eks-workshop/tokens" {
					t.Errorf("request %s %s", r.Method, r.URL.Path)
				}
				authz := r.Header.Get("Authorization")
				if !strings.HasPrefix(authz, "AWS4-HMAC-SHA256 Credential=AKIAEXAMPLE/20261125/us-west-2/eks/aws4_request, SignedHeaders=") {
					t.Errorf("Authorization = %q", authz)
				}
				if r.Header.Get("X-Amz-Date") != "20261125T120000Z" || r.Header.Get("Content-Type") != "application/json" {
					t.Errorf("headers %v", r.Header)
				}
				raw, _ := io.ReadAll(r.Body)
				var body map[string]any
				if err := json.Unmarshal(raw, &body); err != nil || (tc.wantBody != nil && !reflect.DeepEqual(body, tc.wantBody)) {
					t.Errorf("body = %s", raw)
				}
				for k, v := range tc.header {
					w.Header().Set(k, v)
				}
				w.WriteHeader(tc.status)
				w.Write([]byte(tc.body))
			}))
			defer srv.Close()
			m := &HTTPMinter{
				Endpoint: srv.URL + "/", Region: "us-west-2",
				Credentials: aws.Credentials{AccessKeyID: "AKIAEXAMPLE", SecretAccessKey: "secret"},
				Client:      srv.Client(), Now: func() time.Time { return now },
			}
			got, err := m.Mint(context.Background(), pod, tc.ttl)
			switch {
			case tc.wantErr != nil:
				var me *MintError
				if !errors.As(err, &me) || !reflect.DeepEqual(me, tc.wantErr) {
					t.Fatalf("err = %#v, want %#v", err, tc.wantErr)
				}
			case tc.errText != "":
				if err == nil || !strings.Contains(err.Error(), tc.errText) {
					t.Fatalf("err = %v, want %q", err, tc.errText)
				}
			default:
				if err != nil {
					t.Fatal(err)
				}
				if got.Value != tc.want.Value || !got.IssuedAt.Equal(tc.want.IssuedAt) || !got.Expires.Equal(tc.want.Expires) {
					t.Errorf("Mint = %+v, want %+v", got, tc.want)
				}
			}
		})
	}
}

func TestMintErrorText(t *testing.T) {
	e := &MintError{Status: 400, Code: "InvalidParameterException", Message: "bad"}
	if got, want := e.Error(), "minting a token: InvalidParameterException (HTTP 400): bad"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}
