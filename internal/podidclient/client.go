// Package podidclient calls podid's own REST extensions (cluster
// registration, pod tokens) with SigV4-signed JSON requests, for the CLI's
// commands that talk to a running server.
package podidclient

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// Client sends signed requests to a podid server.
type Client struct {
	Endpoint    string
	Region      string
	Credentials aws.CredentialsProvider
	// HTTP sends the requests (default: one with a 30 s timeout).
	HTTP *http.Client
	// Now is the signing clock (default time.Now).
	Now func() time.Time
}

// APIError is an error answer from podid.
type APIError struct {
	Status  int
	Code    string
	Message string
}

func (e *APIError) Error() string {
	return fmt.Sprintf("%s: %s (HTTP %d)", e.Code, e.Message, e.Status)
}

// Do sends in as JSON with method to path (service "eks" scope) and
// decodes the answer into out (when non-nil).
func (c *Client) Do(ctx context.Context, method, path string, in, out any) error {
	var body []byte
	if in != nil {
		var err error
		if body, err = json.Marshal(in); err != nil {
			return err
		}
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimSuffix(c.Endpoint, "/")+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	creds, err := c.Credentials.Retrieve(ctx)
	if err != nil {
		return fmt.Errorf("credentials: %w", err)
	}
	sum := sha256.Sum256(body)
	now := time.Now
	if c.Now != nil {
		now = c.Now
	}
	if err := v4.NewSigner().SignHTTP(ctx, creds, req, hex.EncodeToString(sum[:]), "eks", c.Region, now()); err != nil {
		return err
	}
	hc := c.HTTP
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode >= 300 {
		var e struct {
			Type    string `json:"__type"`
			Message string `json:"message"`
		}
		json.Unmarshal(b, &e)
		code := resp.Header.Get("x-amzn-ErrorType")
		if code == "" {
			code = e.Type
		}
		if i := strings.IndexAny(code, ":#"); i >= 0 {
			code = code[:i]
		}
		if code == "" {
			code = http.StatusText(resp.StatusCode)
		}
		if e.Message == "" && e.Type == "" {
			e.Message = strings.TrimSpace(string(b))
		}
		return &APIError{Status: resp.StatusCode, Code: code, Message: e.Message}
	}
	if out != nil {
		return json.Unmarshal(b, out)
	}
	return nil
}
