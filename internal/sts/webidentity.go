package sts

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/podid/podid/internal/arn"
	"github.com/podid/podid/internal/awsproto"
	"github.com/podid/podid/internal/store"
)

// AssumeRoleWithWebIdentityInput is the input of AssumeRoleWithWebIdentity.
// Zero values are absent members.
type AssumeRoleWithWebIdentityInput struct {
	RoleArn          string
	RoleSessionName  string
	WebIdentityToken string
	ProviderID       string
	DurationSeconds  int
	Policy           string
	PolicyArns       []string
}

// AssumeRoleWithWebIdentityOutput carries the new role session's
// credentials and what STS read from the token.
type AssumeRoleWithWebIdentityOutput struct {
	Credentials     Credentials
	AssumedRoleUser AssumedRoleUser
	// PackedPolicySize is set when session policies or tags were passed.
	PackedPolicySize *int
	SourceIdentity   string
	// SubjectFromWebIdentityToken is the token's sub claim.
	SubjectFromWebIdentityToken string
	// Audience is the client ID the token was accepted for.
	Audience string
	// Provider is the ARN of the IAM OIDC provider that vouched for the
	// token.
	Provider string
}

// Signature algorithms accepted in identity tokens.
var tokenAlgorithms = []jose.SignatureAlgorithm{
	jose.RS256, jose.RS384, jose.RS512,
	jose.PS256, jose.PS384, jose.PS512,
	jose.ES256, jose.ES384, jose.ES512,
}

// Clock skew tolerated on nbf.
const tokenLeeway = 5 * time.Minute

// The claim carrying session tags and the one carrying a source identity.
const (
	claimTags           = "https://aws.amazon.com/tags"
	claimSourceIdentity = "https://aws.amazon.com/source_identity"
)

func invalidIdentityToken(msg string) *awsproto.Error {
	return awsproto.Errorf(http.StatusBadRequest, "InvalidIdentityToken", "%s", msg)
}

const (
	msgNotJWT       = "The ID Token provided is not a valid JWT. (You may see this error if you sent an Access Token)"
	msgNoKey        = "Couldn't retrieve verification key from your identity provider,  please reference AssumeRoleWithWebIdentity documentation for requirements"
	msgBadSignature = "The web identity token that was passed could not be validated by AWS. Get a new identity token from the identity provider and then retry the request."
	msgThumbprint   = "OpenIDConnect provider's HTTPS certificate doesn't match configured thumbprint"
	msgAudience     = "Incorrect token audience"
	msgWebDenied    = "Not authorized to perform sts:AssumeRoleWithWebIdentity"
)

// webClaims are the claims read from an identity token.
type webClaims struct {
	jwt.Claims
	AuthorizedParty string          `json:"azp,omitempty"`
	AMR             json.RawMessage `json:"amr,omitempty"`
}

// AssumeRoleWithWebIdentity returns credentials for a role session to the
// bearer of an OpenID Connect ID token. The request is unsigned. The token
// must be signed by a key of its issuer, the issuer registered as an IAM
// OIDC provider (its URL is the iss claim without https://), the token's
// audience among the provider's client IDs, and the role's trust policy
// must allow the provider (Principal {"Federated": provider ARN}) to
// perform sts:AssumeRoleWithWebIdentity, with PROVIDER:sub, PROVIDER:aud
// and PROVIDER:amr available to conditions. Session tags may come from the
// https://aws.amazon.com/tags claim.
func (s *Service) AssumeRoleWithWebIdentity(ctx context.Context, in *AssumeRoleWithWebIdentityInput) (*AssumeRoleWithWebIdentityOutput, error) {
	var v validation
	v.arn("roleArn", in.RoleArn, in.RoleArn != "", true)
	v.str("roleSessionName", in.RoleSessionName, in.RoleSessionName != "", true, 2, 64, reSessionName, patSessionName)
	switch n := len(in.WebIdentityToken); {
	case n == 0:
		v.add(nil, "webIdentityToken", "must not be null")
	case n < 4:
		v.addHidden("webIdentityToken", "must have length greater than or equal to 4")
	case n > 20000:
		v.addHidden("webIdentityToken", "must have length less than or equal to 20000")
	}
	v.str("providerId", in.ProviderID, in.ProviderID != "", false, 4, 2048, nil, "")
	v.intRange("durationSeconds", in.DurationSeconds, in.DurationSeconds != 0, roleMin, roleMax)
	v.policyText("policy", in.Policy, in.Policy != "", maxSessionPolicyLn)
	validatePolicyArns(&v, in.PolicyArns)
	if err := v.err(); err != nil {
		return nil, err
	}
	if in.ProviderID != "" {
		return nil, invalidIdentityToken("ProviderId is supported only for OAuth 2.0 access tokens; OpenID Connect ID tokens are verified through the IAM OIDC provider of their issuer.")
	}

	tok, err := jwt.ParseSigned(in.WebIdentityToken, tokenAlgorithms)
	if err != nil || len(tok.Headers) != 1 {
		return nil, invalidIdentityToken(msgNotJWT)
	}
	var unverified jwt.Claims
	if err := tok.UnsafeClaimsWithoutVerification(&unverified); err != nil {
		return nil, invalidIdentityToken(msgNotJWT)
	}
	iss := unverified.Issuer
	iu, ok := s.keys.issuerURL(iss)
	if !ok {
		return nil, invalidIdentityToken(fmt.Sprintf("No OpenIDConnect provider found in your account for %s", iss))
	}
	providerURL := strings.TrimSuffix(iu.Host+iu.EscapedPath(), "/")
	// The provider is in the IAM of the role's account.
	providerAccount := s.account
	if acct, _, hosted, ok := s.roleFromARN(in.RoleArn); ok && hosted {
		providerAccount = acct
	}
	providerARN := arn.OIDCProvider(s.partition, providerAccount, providerURL).String()
	var prov *store.OIDCProvider
	err = s.store.View(ctx, func(tx store.Tx) error {
		var err error
		prov, err = tx.GetOIDCProvider(providerARN)
		return err
	})
	if errors.Is(err, store.ErrNotFound) {
		return nil, invalidIdentityToken(fmt.Sprintf("No OpenIDConnect provider found in your account for %s", iss))
	}
	if err != nil {
		return nil, storeErr(err)
	}

	keys, err := s.keys.keys(ctx, iss, tok.Headers[0].KeyID, prov.Thumbprints)
	if err != nil {
		return nil, keyFetchError(err)
	}
	if len(keys) == 0 {
		return nil, invalidIdentityToken(msgNoKey)
	}
	var (
		claims webClaims
		raw    map[string]json.RawMessage
		valid  bool
	)
	for _, k := range keys {
		if err := tok.Claims(k.Key, &claims, &raw); err == nil {
			valid = true
			break
		}
	}
	if !valid {
		return nil, invalidIdentityToken(msgBadSignature)
	}
	now := s.now()
	if claims.Expiry == nil {
		return nil, invalidIdentityToken("Missing expiration claim in the web identity token.")
	}
	if exp := claims.Expiry.Time(); !now.Before(exp) {
		return nil, awsproto.Errorf(http.StatusBadRequest, "ExpiredTokenException", "Token expired: current date/time %d must be before the expiration date/time %d", now.Unix(), exp.Unix())
	}
	if claims.NotBefore != nil && now.Add(tokenLeeway).Before(claims.NotBefore.Time()) {
		return nil, invalidIdentityToken("The web identity token is not valid yet.")
	}
	audience := matchAudience(claims, prov.ClientIDs)
	if audience == "" {
		return nil, invalidIdentityToken(msgAudience)
	}

	extra := map[string][]string{
		providerURL + ":sub":    {claims.Subject},
		"aws:FederatedProvider": {providerARN},
	}
	if claims.AuthorizedParty != "" {
		extra[providerURL+":aud"] = []string{claims.AuthorizedParty}
		extra[providerURL+":azp"] = []string{claims.AuthorizedParty}
	} else {
		extra[providerURL+":aud"] = []string(claims.Audience)
	}
	if amr := stringsClaim(claims.AMR); len(amr) > 0 {
		extra[providerURL+":amr"] = amr
	}
	tags, transitive, err := tagsClaim(raw[claimTags])
	if err != nil {
		return nil, err
	}
	var si string
	if b, ok := raw[claimSourceIdentity]; ok {
		if err := json.Unmarshal(b, &si); err != nil || len(si) < 2 || len(si) > 64 || !reSourceIdentity.MatchString(si) {
			return nil, awsproto.Errorf(http.StatusForbidden, "IDPRejectedClaim", "The source identity claim of the web identity token is not valid.")
		}
	}
	var tv validation
	validateTags(&tv, tags, transitive)
	if err := tv.err(); err != nil {
		return nil, awsproto.Errorf(http.StatusForbidden, "IDPRejectedClaim", "The session tags claim of the web identity token is not valid.")
	}

	res, err := s.assume(ctx, &assumeRequest{
		kind:           "sts:AssumeRoleWithWebIdentity",
		federated:      providerARN,
		action:         "sts:AssumeRoleWithWebIdentity",
		roleARN:        in.RoleArn,
		sessionName:    in.RoleSessionName,
		duration:       in.DurationSeconds,
		policy:         in.Policy,
		policyArns:     in.PolicyArns,
		tags:           tags,
		transitive:     transitive,
		sourceIdentity: si,
		extra:          extra,
		sourceARN:      providerARN,
		deniedMessage:  msgWebDenied,
	})
	if err != nil {
		return nil, err
	}
	return &AssumeRoleWithWebIdentityOutput{
		Credentials:                 *res.creds,
		AssumedRoleUser:             res.user,
		PackedPolicySize:            res.packed,
		SourceIdentity:              res.sourceIdentity,
		SubjectFromWebIdentityToken: claims.Subject,
		Audience:                    audience,
		Provider:                    providerARN,
	}, nil
}

// keyFetchError maps a failure to obtain an issuer's keys to STS's errors.
func keyFetchError(err error) *awsproto.Error {
	if errors.Is(err, errThumbprint) {
		return invalidIdentityToken(msgThumbprint)
	}
	var ne net.Error
	var ue *url.Error
	if errors.As(err, &ne) || (errors.As(err, &ue) && !errors.Is(err, context.Canceled)) {
		return &awsproto.Error{Code: "IDPCommunicationError", Message: "Couldn't retrieve verification key from your identity provider: the identity provider could not be reached.", Status: http.StatusBadRequest, Sender: true, Cause: err}
	}
	return &awsproto.Error{Code: "InvalidIdentityToken", Message: msgNoKey, Status: http.StatusBadRequest, Sender: true, Cause: err}
}

// matchAudience returns the client ID the token is for: its azp when
// present and registered, else the first of its aud values that is one of
// the provider's client IDs ("" when none is).
func matchAudience(c webClaims, clientIDs []string) string {
	registered := func(a string) bool {
		for _, id := range clientIDs {
			if id == a {
				return true
			}
		}
		return false
	}
	if c.AuthorizedParty != "" && registered(c.AuthorizedParty) {
		return c.AuthorizedParty
	}
	for _, a := range c.Audience {
		if registered(a) {
			return a
		}
	}
	return ""
}

// stringsClaim reads a claim that is a string or an array of strings.
func stringsClaim(b json.RawMessage) []string {
	if len(b) == 0 {
		return nil
	}
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		return []string{one}
	}
	var many []string
	if err := json.Unmarshal(b, &many); err == nil {
		return many
	}
	return nil
}

// tagsClaim reads session tags from the https://aws.amazon.com/tags claim:
// {"principal_tags": {"Key": ["Value"]}, "transitive_tag_keys": ["Key"]}.
func tagsClaim(b json.RawMessage) ([]Tag, []string, error) {
	if len(b) == 0 {
		return nil, nil, nil
	}
	var c struct {
		PrincipalTags     map[string]json.RawMessage `json:"principal_tags"`
		TransitiveTagKeys []string                   `json:"transitive_tag_keys"`
	}
	rejected := awsproto.Errorf(http.StatusForbidden, "IDPRejectedClaim", "The session tags claim of the web identity token is not valid.")
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, nil, rejected
	}
	var tags []Tag
	for _, k := range sortedRawKeys(c.PrincipalTags) {
		vals := stringsClaim(c.PrincipalTags[k])
		if len(vals) != 1 {
			return nil, nil, rejected
		}
		tags = append(tags, Tag{Key: k, Value: vals[0]})
	}
	return tags, c.TransitiveTagKeys, nil
}
