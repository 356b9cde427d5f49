package podidclient

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"
)

func TestDoSignsAndDecodes(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth := r.Header.Get("Authorization")
		if !strings.HasPrefix(auth, "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261125/us-west-2/eks/aws4_request") {
			t.Errorf("Authorization = %q", auth)
		}
		switch r.URL.Path {
		case "/ok":
			w.Write([]byte(`{"token":"t"}`))
		case "/refused":
			w.Header().Set("x-amzn-ErrorType", "ResourceNotFoundException:http://internal.amazon.com/")
			w.WriteHeader(http.StatusNotFound)
			w.Write([]byte(`{"message":"No cluster found for name: x."}`))
		default:
			w.WriteHeader(http.StatusBadGateway)
			w.Write([]byte("upstream down"))
		}
	}))
	defer srv.Close()
	c := &Client{Endpoint: srv.URL + "/", Region: "us-west-2",
		Credentials: credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", ""),
		Now:         func() time.Time { return time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC) }}
	var out struct{ Token string }
	if err := c.Do(context.Background(), http.MethodPost, "/ok", map[string]string{"a": "b"}, &out); err != nil || out.Token != "t" {
		t.Fatalf("ok: %v %+v", err, out)
	}
	var ae *APIError
	err := c.Do(context.Background(), http.MethodGet, "/refused", nil, nil)
	if !errors.As(err, &ae) || ae.Status != 404 || ae.Code != "ResourceNotFoundException" || ae.Message != "No cluster found for name: x." {
		t.Errorf("refused: %#v", err)
	}
	err = c.Do(context.Background(), http.MethodGet, "/other", nil, nil)
	if !errors.As(err, &ae) || ae.Code != "Bad Gateway" || ae.Message != "upstream down" {
		t.Errorf("non-JSON error: %#v", err)
	}
}
