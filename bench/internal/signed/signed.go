// Package signed is the benchmark harnesses' client of podid's APIs: each
// request signed with SigV4 by the SDK's signer under a key, the answer
// read whole.
package signed

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// Client signs requests to Endpoint with Creds for Region.
type Client struct {
	Endpoint string
	Region   string
	Creds    aws.Credentials
	HTTP     *http.Client
}

// Do sends body to url (any address: the gateway's too) signed for
// service, with a Content-Type and an X-Amz-Target when non-empty, and
// returns the status and the body.
func (c *Client) Do(ctx context.Context, service, method, url, contentType, target string, body []byte) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, url, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if target != "" {
		req.Header.Set("X-Amz-Target", target)
	}
	sum := sha256.Sum256(body)
	if err := v4.NewSigner().SignHTTP(ctx, c.Creds, req, hex.EncodeToString(sum[:]), service, c.Region, time.Now()); err != nil {
		return 0, nil, err
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// Query calls an awsQuery action (IAM, STS) and returns the answer's
// body, or an error naming the action for any status but 200.
func (c *Client) Query(ctx context.Context, service string, v url.Values) ([]byte, error) {
	st, b, err := c.Do(ctx, service, http.MethodPost, c.Endpoint+"/", "application/x-www-form-urlencoded; charset=utf-8", "", []byte(v.Encode()))
	if err == nil && st != http.StatusOK {
		err = fmt.Errorf("%s %s: HTTP %d: %s", service, v.Get("Action"), st, b)
	}
	return b, err
}

// REST calls an EKS (or /podid/v1) path with in as its JSON body (none
// when nil) and decodes a 2xx answer into out when non-nil.
func (c *Client) REST(ctx context.Context, method, path string, in, out any) error {
	var body []byte
	if in != nil {
		var err error
		if body, err = json.Marshal(in); err != nil {
			return err
		}
	}
	st, b, err := c.Do(ctx, "eks", method, c.Endpoint+path, "application/json", "", body)
	if err != nil {
		return err
	}
	if st/100 != 2 {
		return fmt.Errorf("eks %s %s: HTTP %d: %s", method, path, st, b)
	}
	if out != nil {
		return json.Unmarshal(b, out)
	}
	return nil
}
