package local

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/podid/podid/internal/podidclient"
)

// Pod is the pod a token is bound to.
type Pod struct {
	Cluster        string
	Namespace      string
	ServiceAccount string
	Name           string
	UID            string
	Node           string
}

// Token is a minted service-account token.
type Token struct {
	// Value is the JWT. It is a secret: never log it.
	Value string
	// IssuedAt is when the token was requested (local clock).
	IssuedAt time.Time
	// Expires is the token's expiry as the issuer reported it.
	Expires time.Time
}

// Minter mints pod-bound service-account tokens.
type Minter interface {
	Mint(ctx context.Context, pod Pod, ttl time.Duration) (Token, error)
}

// HTTPMinter mints tokens with podid's token endpoint for hosted clusters,
// POST /podid/v1/clusters/NAME/tokens, signed with SigV4 (service "eks").
type HTTPMinter struct {
	// Endpoint is the server's base URL.
	Endpoint string
	// Region signs the requests.
	Region string
	// Credentials sign the requests (they need eks:CreateServiceAccountToken).
	Credentials aws.Credentials
	// Client sends the requests (default: one with a 10 s timeout).
	Client *http.Client
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// MintError is the server's refusal to mint a token.
type MintError struct {
	Status  int
	Code    string
	Message string
}

func (e *MintError) Error() string {
	return fmt.Sprintf("minting a token: %s (HTTP %d): %s", e.Code, e.Status, e.Message)
}

// Mint implements Minter. ttl 0 asks for the server's default lifetime.
func (m *HTTPMinter) Mint(ctx context.Context, pod Pod, ttl time.Duration) (Token, error) {
	now := time.Now
	if m.Now != nil {
		now = m.Now
	}
	client := m.Client
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	in := struct {
		Namespace         string `json:"namespace"`
		ServiceAccount    string `json:"serviceAccount"`
		PodName           string `json:"podName"`
		PodUID            string `json:"podUid,omitempty"`
		NodeName          string `json:"nodeName,omitempty"`
		ExpirationSeconds int64  `json:"expirationSeconds,omitempty"`
	}{pod.Namespace, pod.ServiceAccount, pod.Name, pod.UID, pod.Node, int64(ttl / time.Second)}
	issued := now()
	pc := &podidclient.Client{
		Endpoint:    m.Endpoint,
		Region:      m.Region,
		Credentials: credentials.StaticCredentialsProvider{Value: m.Credentials},
		HTTP:        client,
		Now:         func() time.Time { return issued },
	}
	var out struct {
		Token      string   `json:"token"`
		Expiration *float64 `json:"expirationTimestamp"`
	}
	err := pc.Do(ctx, http.MethodPost, "/podid/v1/clusters/"+url.PathEscape(pod.Cluster)+"/tokens", in, &out)
	var apiErr *podidclient.APIError
	if errors.As(err, &apiErr) {
		return Token{}, &MintError{Status: apiErr.Status, Code: apiErr.Code, Message: apiErr.Message}
	}
	if err != nil {
		return Token{}, fmt.Errorf("minting a token: %w", err)
	}
	if out.Token == "" || out.Expiration == nil {
		return Token{}, errors.New("minting a token: the answer has no token and expirationTimestamp")
	}
	sec, frac := math.Modf(*out.Expiration)
	return Token{Value: out.Token, IssuedAt: issued, Expires: time.Unix(int64(sec), int64(frac*1e9))}, nil
}
