package iam

import (
	"context"
	"errors"
	"net"
	"net/url"
	"strconv"
	"strings"

	"github.com/podid/podid/internal/store"
)

// CreateOpenIDConnectProviderInput is CreateOpenIDConnectProvider's request.
type CreateOpenIDConnectProviderInput struct {
	URL            string // https://host[/path]
	ClientIDList   []string
	ThumbprintList []string
	Tags           []store.Tag
}

// CreateOpenIDConnectProviderOutput is CreateOpenIDConnectProvider's result.
type CreateOpenIDConnectProviderOutput struct {
	OpenIDConnectProviderARN string
	Tags                     []store.Tag
}

// OpenIDConnectProviderInput names a provider by ARN.
type OpenIDConnectProviderInput struct {
	OpenIDConnectProviderARN string
}

// GetOpenIDConnectProviderOutput is GetOpenIDConnectProvider's result. The
// provider's URL is shown without its scheme, as IAM shows it.
type GetOpenIDConnectProviderOutput struct {
	Provider *store.OIDCProvider
}

// ListOpenIDConnectProvidersInput is ListOpenIDConnectProviders' request
// (it has no members).
type ListOpenIDConnectProvidersInput struct{}

// ListOpenIDConnectProvidersOutput is ListOpenIDConnectProviders' result.
type ListOpenIDConnectProvidersOutput struct {
	ARNs []string
}

// oidcHostPath validates a provider URL and returns it without the scheme:
// host and path, no query or fragment, no trailing slash. The scheme is
// https, as AWS requires, or http for a loopback host when allowLoopback
// is set (local mode, whose hosted clusters' issuers are on loopback).
func oidcHostPath(raw string, allowLoopback bool) (string, error) {
	u, err := url.Parse(raw)
	scheme := err == nil && (u.Scheme == "https" || u.Scheme == "http" && allowLoopback && isLoopbackHost(u.Hostname()))
	if !scheme || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" {
		return "", validationError("Invalid Open ID Connect Provider URL")
	}
	return u.Host + strings.TrimSuffix(u.EscapedPath(), "/"), nil
}

// CreateOpenIDConnectProvider registers an OpenID Connect identity provider.
func (s *Service) CreateOpenIDConnectProvider(ctx context.Context, in *CreateOpenIDConnectProviderInput) (*CreateOpenIDConnectProviderOutput, error) {
	s = s.forCaller(ctx)
	var v violations
	v.requiredString(in.URL, "url", 1, maxOIDCURLLen, nil, "")
	for i, id := range in.ClientIDList {
		v.length(id, "clientIDList."+strconv.Itoa(i+1)+".member", 1, 255)
	}
	for i, tp := range in.ThumbprintList {
		v.length(tp, "thumbprintList."+strconv.Itoa(i+1)+".member", thumbprintLen, thumbprintLen)
	}
	v.tags(in.Tags, "tags")
	if err := v.err(); err != nil {
		return nil, err
	}
	hostPath, err := oidcHostPath(in.URL, s.allowHTTPLoopbackIssuers)
	if err != nil {
		return nil, err
	}
	if len(in.ThumbprintList) > maxThumbprints {
		return nil, invalidInput("Thumbprint list must contain fewer than %d entries.", maxThumbprints)
	}
	if len(in.ClientIDList) > maxClientIDs {
		return nil, limitExceeded("Cannot exceed quota for ClientIdsPerOpenIdConnectProvider: %d", maxClientIDs)
	}
	if err := checkTagRules(in.Tags); err != nil {
		return nil, err
	}
	arn := s.oidcARN(hostPath)
	if err := s.authorize(ctx, "iam:CreateOpenIDConnectProvider", arn, tagContext(nil, in.Tags)); err != nil {
		return nil, err
	}
	if len(in.Tags) > 0 {
		if err := s.authorize(ctx, "iam:TagOpenIDConnectProvider", arn, tagContext(nil, in.Tags)); err != nil {
			return nil, err
		}
	}
	o := &store.OIDCProvider{
		Account:     s.account,
		ARN:         arn,
		URL:         hostPath,
		ClientIDs:   dedupe(in.ClientIDList),
		Thumbprints: dedupe(in.ThumbprintList),
		Tags:        in.Tags,
		CreatedAt:   s.clock(),
	}
	exists := alreadyExists("Provider with url %s already exists.", "https://"+hostPath)
	err = s.update(ctx, func(tx store.Tx) error {
		if _, err := tx.GetOIDCProvider(arn); err == nil {
			return exists
		} else if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		if err := tx.CreateOIDCProvider(o); errors.Is(err, store.ErrConflict) {
			return exists
		} else if err != nil {
			return err
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &CreateOpenIDConnectProviderOutput{OpenIDConnectProviderARN: arn, Tags: in.Tags}, nil
}

// oidcProviderTx reads a provider by ARN; a malformed ARN is InvalidInput.
func (s *Service) oidcProviderTx(tx store.Tx, arn string) (*store.OIDCProvider, error) {
	o, err := tx.GetOIDCProvider(arn)
	if errors.Is(err, store.ErrNotFound) || err == nil && o.Account != s.account {
		// Another account's provider is not in the caller's IAM.
		return nil, noSuchOIDCProvider(arn)
	}
	return o, err
}

// checkOIDCARN validates a provider ARN member.
func checkOIDCARN(arn string) error {
	var v violations
	v.arn(arn, "openIDConnectProviderArn", true)
	if err := v.err(); err != nil {
		return err
	}
	if a, ok := parseIAMARN(arn); !ok || a.kind != "oidc-provider" {
		return invalidInput("ARN %s is not valid.", arn)
	}
	return nil
}

// GetOpenIDConnectProvider returns a provider's URL, client IDs and thumbprints.
func (s *Service) GetOpenIDConnectProvider(ctx context.Context, in *OpenIDConnectProviderInput) (*GetOpenIDConnectProviderOutput, error) {
	s = s.forCaller(ctx)
	if err := checkOIDCARN(in.OpenIDConnectProviderARN); err != nil {
		return nil, err
	}
	if err := s.authorize(ctx, "iam:GetOpenIDConnectProvider", in.OpenIDConnectProviderARN, nil); err != nil {
		return nil, err
	}
	var o *store.OIDCProvider
	err := s.view(ctx, func(tx store.Tx) error {
		var gerr error
		o, gerr = s.oidcProviderTx(tx, in.OpenIDConnectProviderARN)
		return gerr
	})
	if err != nil {
		return nil, err
	}
	return &GetOpenIDConnectProviderOutput{Provider: o}, nil
}

// ListOpenIDConnectProviders lists the providers' ARNs.
func (s *Service) ListOpenIDConnectProviders(ctx context.Context, _ *ListOpenIDConnectProvidersInput) (*ListOpenIDConnectProvidersOutput, error) {
	s = s.forCaller(ctx)
	if err := s.authorize(ctx, "iam:ListOpenIDConnectProviders", s.oidcARN(""), nil); err != nil {
		return nil, err
	}
	out := &ListOpenIDConnectProvidersOutput{ARNs: []string{}}
	err := s.view(ctx, func(tx store.Tx) error {
		all, err := tx.ListOIDCProviders(s.account)
		for _, o := range all {
			out.ARNs = append(out.ARNs, o.ARN)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// DeleteOpenIDConnectProvider deletes a provider.
func (s *Service) DeleteOpenIDConnectProvider(ctx context.Context, in *OpenIDConnectProviderInput) error {
	s = s.forCaller(ctx)
	if err := checkOIDCARN(in.OpenIDConnectProviderARN); err != nil {
		return err
	}
	if err := s.authorize(ctx, "iam:DeleteOpenIDConnectProvider", in.OpenIDConnectProviderARN, nil); err != nil {
		return err
	}
	return s.update(ctx, func(tx store.Tx) error {
		if _, err := s.oidcProviderTx(tx, in.OpenIDConnectProviderARN); err != nil {
			return err
		}
		return tx.DeleteOIDCProvider(in.OpenIDConnectProviderARN)
	})
}

// dedupe drops repeated entries, keeping the first occurrence's order.
func dedupe(in []string) []string {
	var out []string
	seen := map[string]bool{}
	for _, s := range in {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// isLoopbackHost reports whether h is "localhost" or a loopback address.
func isLoopbackHost(h string) bool {
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}
