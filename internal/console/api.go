package console

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/podid/podid/internal/auth"
	"github.com/podid/podid/internal/awsproto"
	"github.com/podid/podid/internal/iam"
)

// IAM is the part of IAM's API the console calls, in process, with the
// signed-in principal in the context: the same methods, validation,
// authorization and errors as the awsQuery API. *iam.Service implements
// it.
type IAM interface {
	GetRole(ctx context.Context, in *iam.GetRoleInput) (*iam.GetRoleOutput, error)
	ListRoles(ctx context.Context, in *iam.ListRolesInput) (*iam.ListRolesOutput, error)
	ListRolePolicies(ctx context.Context, in *iam.ListInlinePoliciesInput) (*iam.ListInlinePoliciesOutput, error)
	GetRolePolicy(ctx context.Context, in *iam.InlinePolicyInput) (*iam.InlinePolicyOutput, error)
	ListAttachedRolePolicies(ctx context.Context, in *iam.ListAttachedPoliciesInput) (*iam.ListAttachedPoliciesOutput, error)
	GetPolicy(ctx context.Context, in *iam.GetPolicyInput) (*iam.PolicyOutput, error)
	GetPolicyVersion(ctx context.Context, in *iam.GetPolicyVersionInput) (*iam.PolicyVersionOutput, error)
}

// PasswordChecker verifies an IAM user's console password (IAM's login
// profiles) and returns the user as a caller. *iam.Service implements it.
type PasswordChecker interface {
	CheckConsolePassword(ctx context.Context, account, userName, password string) (*auth.Principal, error)
}

// KeyResolver finds the secret and the caller behind an access key ID
// (*auth.Resolver, the SigV4 verifier's lookup).
type KeyResolver interface {
	LookupSecret(ctx context.Context, accessKeyID, sessionToken string) (secret string, identity any, err error)
}

// callContext is ctx as the API's edge would hand it to a service after
// verifying the signed-in principal's request: the principal, the
// request's facts for policy conditions (region, TLS, source address,
// user agent), a request ID and an operation slot.
func (c *Console) callContext(r *http.Request, p *auth.Principal) context.Context {
	ctx := awsproto.WithRequestID(r.Context(), awsproto.NewRequestID())
	ctx, _ = awsproto.WithOperationSlot(ctx)
	ctx = auth.WithPrincipal(ctx, p)
	return auth.WithRequestInfo(ctx, auth.RequestInfo{
		Region:          c.cfg.Region,
		SecureTransport: c.secure(r),
		SourceIP:        sourceIP(r),
		UserAgent:       r.UserAgent(),
	})
}

// maxAPIResponse bounds what the console reads of one in-process REST
// answer.
const maxAPIResponse = 8 << 20

// rest calls the EKS restJson1 API (and podid's /podid/v1 extensions it
// serves) in process: the request goes through the same router, decoding,
// validation and authorization as a signed request from the AWS CLI, and
// an error answer comes back as the API's *awsproto.Error.
func (c *Console) rest(ctx context.Context, method string, p apiRoute, query url.Values, in, out any) error {
	path := p.path
	var body io.Reader = http.NoBody
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("console: encoding %s %s: %w", method, path, err)
		}
		body = bytes.NewReader(b)
	}
	u := &url.URL{Scheme: "http", Host: "podid.internal", Path: p.path, RawPath: p.raw, RawQuery: query.Encode()}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return fmt.Errorf("console: %s %s: %w", method, path, err)
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	rec := &recorder{header: http.Header{}, status: http.StatusOK}
	c.cfg.EKS.ServeHTTP(rec, req)
	if rec.status >= 300 {
		var e struct {
			Type    string `json:"__type"`
			Message string `json:"message"`
		}
		_ = json.Unmarshal(rec.body.Bytes(), &e)
		code := rec.header.Get("x-amzn-ErrorType")
		if code == "" {
			code = e.Type
		}
		if code == "" {
			code = "InternalFailure"
		}
		return &awsproto.Error{Code: code, Message: e.Message, Status: rec.status, Sender: rec.status < 500}
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(rec.body.Bytes(), out); err != nil {
		return fmt.Errorf("console: decoding %s %s: %w", method, path, err)
	}
	return nil
}

// apiRoute is an API path: its decoded form and its escaped one.
type apiRoute struct{ path, raw string }

// apiPath builds an API path from segments, each escaped on its own: a
// name holding "/" stays one segment (and is then refused by the API's
// validation), never a different route.
func apiPath(segs ...string) apiRoute {
	var p, raw strings.Builder
	for _, s := range segs {
		p.WriteString("/" + s)
		raw.WriteString("/" + url.PathEscape(s))
	}
	return apiRoute{p.String(), raw.String()}
}

// rawPath is a fixed path (an extension's).
func rawPath(p string) apiRoute { return apiRoute{p, p} }

// recorder collects an in-process answer.
type recorder struct {
	header http.Header
	status int
	wrote  bool
	body   limitedBuffer
}

func (r *recorder) Header() http.Header { return r.header }

func (r *recorder) WriteHeader(status int) {
	if !r.wrote {
		r.status, r.wrote = status, true
	}
}

func (r *recorder) Write(b []byte) (int, error) {
	r.WriteHeader(http.StatusOK)
	return r.body.Write(b)
}

// limitedBuffer refuses to grow past maxAPIResponse.
type limitedBuffer struct{ bytes.Buffer }

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if b.Len()+len(p) > maxAPIResponse {
		return 0, errors.New("console: API answer too large")
	}
	return b.Buffer.Write(p)
}

// apiError is what a page shows of a failed call: the API's own code and
// message (AccessDeniedException and AWS's sentence, a validation
// message), or a generic line for a server fault (whose cause goes to the
// log, never to the page).
type apiError struct {
	Code, Message string
}

func (c *Console) apiError(ctx context.Context, op string, err error) *apiError {
	var ae *awsproto.Error
	if errors.As(err, &ae) && ae.Status < 500 {
		return &apiError{Code: ae.Code, Message: ae.Message}
	}
	c.cfg.Logger.ErrorContext(ctx, "console call failed", "operation", op, "err", err)
	return &apiError{Code: "InternalFailure", Message: "The server could not complete the request; see its log."}
}
