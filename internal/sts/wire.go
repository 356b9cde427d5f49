package sts

import (
	"context"
	"maps"
	"net/http"
	"slices"
	"time"

	"github.com/podid/podid/internal/awsproto"
)

// apiVersion is the awsQuery Version of STS.
const apiVersion = "2011-06-15"

// queryHandler decodes one action's parameters, calls the typed method and
// returns the XML result.
type queryHandler func(ctx context.Context, p awsproto.Params) (any, error)

func (s *Service) queryHandlers() map[string]queryHandler {
	return map[string]queryHandler{
		"GetCallerIdentity":         s.wireGetCallerIdentity,
		"GetSessionToken":           s.wireGetSessionToken,
		"AssumeRole":                s.wireAssumeRole,
		"AssumeRoleWithWebIdentity": s.wireAssumeRoleWithWebIdentity,
	}
}

// HandleQuery serves one awsQuery action. The result is written by the
// edge with awsproto.WriteQueryResponse.
func (s *Service) HandleQuery(ctx context.Context, action string, p awsproto.Params) (any, error) {
	h, ok := s.handlers[action]
	if !ok {
		return nil, awsproto.Errorf(http.StatusBadRequest, "InvalidAction", "Could not find operation %s for version %s", action, apiVersion)
	}
	return h(ctx, p)
}

// Actions lists the actions HandleQuery serves, sorted (for example to
// bound the action label of request metrics).
func (s *Service) Actions() []string {
	return slices.Sorted(maps.Keys(s.handlers))
}

// XML shapes (element names per the STS model).

type credentialsXML struct {
	AccessKeyID     string `xml:"AccessKeyId"`
	SecretAccessKey string `xml:"SecretAccessKey"`
	SessionToken    string `xml:"SessionToken"`
	Expiration      string `xml:"Expiration"`
}

func credsXML(c *Credentials) credentialsXML {
	return credentialsXML{
		AccessKeyID:     c.AccessKeyID,
		SecretAccessKey: c.SecretAccessKey,
		SessionToken:    c.SessionToken,
		Expiration:      c.Expiration.UTC().Format(time.RFC3339),
	}
}

type assumedRoleUserXML struct {
	Arn           string `xml:"Arn"`
	AssumedRoleID string `xml:"AssumedRoleId"`
}

type getCallerIdentityResult struct {
	Arn     string `xml:"Arn"`
	UserID  string `xml:"UserId"`
	Account string `xml:"Account"`
}

type getSessionTokenResult struct {
	Credentials credentialsXML `xml:"Credentials"`
}

type assumeRoleResult struct {
	SourceIdentity   string             `xml:"SourceIdentity,omitempty"`
	AssumedRoleUser  assumedRoleUserXML `xml:"AssumedRoleUser"`
	Credentials      credentialsXML     `xml:"Credentials"`
	PackedPolicySize *int               `xml:"PackedPolicySize,omitempty"`
}

type assumeRoleWithWebIdentityResult struct {
	SubjectFromWebIdentityToken string             `xml:"SubjectFromWebIdentityToken"`
	Audience                    string             `xml:"Audience"`
	AssumedRoleUser             assumedRoleUserXML `xml:"AssumedRoleUser"`
	Credentials                 credentialsXML     `xml:"Credentials"`
	SourceIdentity              string             `xml:"SourceIdentity,omitempty"`
	Provider                    string             `xml:"Provider"`
	PackedPolicySize            *int               `xml:"PackedPolicySize,omitempty"`
}

// Parameter helpers.

// intParam reads an optional integer member. The typed inputs treat 0 as
// absent, so a 0 that was sent is refused here with the model's minimum.
func intParam(p awsproto.Params, name string, minV int) (int, error) {
	n, ok, err := p.Int(name)
	if err != nil {
		return 0, err
	}
	if ok && n == 0 {
		var v validation
		v.intRange(lowerFirst(name), 0, true, minV, minV)
		return 0, v.err()
	}
	return n, nil
}

// emptyCheck reports members that were sent empty although the model asks
// for at least minLen characters (the typed inputs treat "" as absent).
func emptyCheck(p awsproto.Params, members map[string]int) error {
	var v validation
	for _, name := range sortedKeys(members) {
		if p.Has(name) && p.Get(name) == "" {
			empty := ""
			v.add(&empty, lowerFirst(name), "must have length greater than or equal to "+itoa(members[name]))
		}
	}
	return v.err()
}

func policyArnsParam(p awsproto.Params) []string {
	var out []string
	for _, m := range p.Structs("PolicyArns") {
		out = append(out, m["arn"])
	}
	return out
}

func tagsParam(p awsproto.Params) ([]Tag, error) {
	var out []Tag
	var v validation
	for i, m := range p.Structs("Tags") {
		k, kok := m["Key"]
		val, vok := m["Value"]
		if !kok {
			v.add(nil, "tags."+itoa(i+1)+".member.key", "must not be null")
		}
		if !vok {
			v.add(nil, "tags."+itoa(i+1)+".member.value", "must not be null")
		}
		out = append(out, Tag{Key: k, Value: val})
	}
	if err := v.err(); err != nil {
		return nil, err
	}
	return out, nil
}

// Handlers.

func (s *Service) wireGetCallerIdentity(ctx context.Context, _ awsproto.Params) (any, error) {
	out, err := s.GetCallerIdentity(ctx, &GetCallerIdentityInput{})
	if err != nil {
		return nil, err
	}
	return &getCallerIdentityResult{Arn: out.Arn, UserID: out.UserID, Account: out.Account}, nil
}

func (s *Service) wireGetSessionToken(ctx context.Context, p awsproto.Params) (any, error) {
	if err := emptyCheck(p, map[string]int{"SerialNumber": 9, "TokenCode": 6}); err != nil {
		return nil, err
	}
	d, err := intParam(p, "DurationSeconds", gstMin)
	if err != nil {
		return nil, err
	}
	out, err := s.GetSessionToken(ctx, &GetSessionTokenInput{
		DurationSeconds: d,
		SerialNumber:    p.Get("SerialNumber"),
		TokenCode:       p.Get("TokenCode"),
	})
	if err != nil {
		return nil, err
	}
	return &getSessionTokenResult{Credentials: credsXML(&out.Credentials)}, nil
}

func (s *Service) wireAssumeRole(ctx context.Context, p awsproto.Params) (any, error) {
	if err := emptyCheck(p, map[string]int{"RoleArn": 20, "RoleSessionName": 2, "Policy": 1, "ExternalId": 2, "SourceIdentity": 2, "SerialNumber": 9, "TokenCode": 6}); err != nil {
		return nil, err
	}
	d, err := intParam(p, "DurationSeconds", roleMin)
	if err != nil {
		return nil, err
	}
	tags, err := tagsParam(p)
	if err != nil {
		return nil, err
	}
	out, err := s.AssumeRole(ctx, &AssumeRoleInput{
		RoleArn:           p.Get("RoleArn"),
		RoleSessionName:   p.Get("RoleSessionName"),
		DurationSeconds:   d,
		Policy:            p.Get("Policy"),
		PolicyArns:        policyArnsParam(p),
		Tags:              tags,
		TransitiveTagKeys: p.List("TransitiveTagKeys"),
		ExternalID:        p.Get("ExternalId"),
		SourceIdentity:    p.Get("SourceIdentity"),
		SerialNumber:      p.Get("SerialNumber"),
		TokenCode:         p.Get("TokenCode"),
	})
	if err != nil {
		return nil, err
	}
	return &assumeRoleResult{
		SourceIdentity:   out.SourceIdentity,
		AssumedRoleUser:  assumedRoleUserXML{Arn: out.AssumedRoleUser.Arn, AssumedRoleID: out.AssumedRoleUser.AssumedRoleID},
		Credentials:      credsXML(&out.Credentials),
		PackedPolicySize: out.PackedPolicySize,
	}, nil
}

func (s *Service) wireAssumeRoleWithWebIdentity(ctx context.Context, p awsproto.Params) (any, error) {
	if err := emptyCheck(p, map[string]int{"RoleArn": 20, "RoleSessionName": 2, "Policy": 1, "ProviderId": 4}); err != nil {
		return nil, err
	}
	if p.Has("WebIdentityToken") && p.Get("WebIdentityToken") == "" {
		var v validation
		v.addHidden("webIdentityToken", "must have length greater than or equal to 4")
		return nil, v.err()
	}
	d, err := intParam(p, "DurationSeconds", roleMin)
	if err != nil {
		return nil, err
	}
	out, err := s.AssumeRoleWithWebIdentity(ctx, &AssumeRoleWithWebIdentityInput{
		RoleArn:          p.Get("RoleArn"),
		RoleSessionName:  p.Get("RoleSessionName"),
		WebIdentityToken: p.Get("WebIdentityToken"),
		ProviderID:       p.Get("ProviderId"),
		DurationSeconds:  d,
		Policy:           p.Get("Policy"),
		PolicyArns:       policyArnsParam(p),
	})
	if err != nil {
		return nil, err
	}
	return &assumeRoleWithWebIdentityResult{
		SubjectFromWebIdentityToken: out.SubjectFromWebIdentityToken,
		Audience:                    out.Audience,
		AssumedRoleUser:             assumedRoleUserXML{Arn: out.AssumedRoleUser.Arn, AssumedRoleID: out.AssumedRoleUser.AssumedRoleID},
		Credentials:                 credsXML(&out.Credentials),
		SourceIdentity:              out.SourceIdentity,
		Provider:                    out.Provider,
		PackedPolicySize:            out.PackedPolicySize,
	}, nil
}

// Namespace is the XML namespace of STS's awsQuery responses.
const Namespace = "https://sts.amazonaws.com/doc/2011-06-15/"

// UnsignedActions are the STS actions AWS serves without a signature
// (podid answers AssumeRoleWithSAML, which it does not implement, with
// InvalidAction rather than a missing-signature refusal, as before).
var UnsignedActions = []string{"AssumeRoleWithWebIdentity", "AssumeRoleWithSAML"}

// Descriptor registers STS with the edge: awsQuery, signed as "sts",
// global, and the service of unsigned requests to "/" (web identity).
func (s *Service) Descriptor() awsproto.Service {
	return awsproto.Service{SigningName: "sts", Protocol: awsproto.ProtocolQuery, Global: true,
		Namespace: Namespace, Query: s, Operations: s.Actions(),
		UnsignedActions: UnsignedActions, UnsignedPaths: []string{"/{$}"}}
}
