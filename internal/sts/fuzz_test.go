package sts

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"regexp"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/podid/podid/internal/awsproto"
)

// FuzzHandleQuery feeds arbitrary awsQuery bodies to every action: no
// input may panic or produce a server fault.
func FuzzHandleQuery(f *testing.F) {
	seeds := []string{
		"Action=GetCallerIdentity&Version=2011-06-15",
		"Action=AssumeRole&RoleArn=arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2Fshared&RoleSessionName=s1",
		"Action=AssumeRole&RoleArn=arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2Fshared&RoleSessionName=s1&Tags.member.1.Key=a&Tags.member.1.Value=b&TransitiveTagKeys.member.1=a&DurationSeconds=900&Policy=%7B%7D",
		"Action=AssumeRole&RoleArn=arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2Fshared&RoleSessionName=s1&PolicyArns.member.1.arn=arn%3Aaws%3Aiam%3A%3A123456789012%3Apolicy%2Fp&SourceIdentity=me&ExternalId=abc",
		"Action=AssumeRoleWithWebIdentity&RoleArn=arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2Fshared&RoleSessionName=s1&WebIdentityToken=eyJhbGciOiJSUzI1NiJ9.e30.c2ln",
		"Action=GetSessionToken&DurationSeconds=0",
		"Action=AssumeRole&Tags.member.1.Key=&Tags.member.2.Value=x&DurationSeconds=-5",
		"Action=Nope",
	}
	for _, s := range seeds {
		f.Add(s)
	}
	fx := newFixture(f)
	fx.env.AddRole(f, "shared", "", trustAccount, 0)
	fx.env.AddPolicy(f, "p", sessionDoc)
	ctx := fx.as(fx.env.User(fx.alice))
	f.Fuzz(func(t *testing.T, body string) {
		v, err := url.ParseQuery(body)
		if err != nil {
			return
		}
		p := awsproto.Params{Values: v}
		res, err := fx.svc.HandleQuery(ctx, p.Get("Action"), p)
		if err == nil {
			if res == nil {
				t.Fatal("nil result without an error")
			}
			return
		}
		var ae *awsproto.Error
		if !errors.As(err, &ae) || ae.Status >= 500 {
			t.Fatalf("HandleQuery(%q) = %v, want a client error", body, err)
		}
	})
}

// FuzzWebIdentityToken feeds arbitrary tokens to AssumeRoleWithWebIdentity.
func FuzzWebIdentityToken(f *testing.F) {
	f.Add("eyJhbGciOiJSUzI1NiIsImtpZCI6ImsxIn0.eyJpc3MiOiJodHRwczovL2V4YW1wbGUuY29tIn0.c2ln")
	f.Add("a.b.c")
	f.Add("....")
	f.Add("eyJhbGciOiJub25lIn0.eyJpc3MiOiJodHRwczovL2V4YW1wbGUuY29tL2lkL1RFU1QifQ.")
	f.Add("eyJhbGciOiJFUzI1NiJ9.eyJpc3MiOiJodHRwOi8vMTI3LjAuMC4xOjEvaWQvVEVTVCIsImV4cCI6MX0.AAAA")
	fx := newFixture(f)
	fx.env.AddOIDCProvider(f, "example.com/id/TEST", []string{"sts.amazonaws.com"}, nil)
	role := fx.env.AddRole(f, "web", "", trustAccount, 0)
	// No network: key fetches fail fast.
	svc, err := New(Config{Store: fx.env.Store, AccountID: acct, Now: fx.env.Clock.Now, Authorizer: fx.env.Authorizer, Engine: fx.env.Engine, Minter: fx.env.Minter,
		OIDCHTTPClient: &http.Client{Transport: failingTransport{}, Timeout: time.Second}})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, tok string) {
		_, err := svc.AssumeRoleWithWebIdentity(context.Background(), &AssumeRoleWithWebIdentityInput{RoleArn: role.ARN, RoleSessionName: "s1", WebIdentityToken: tok})
		var ae *awsproto.Error
		if err == nil || !errors.As(err, &ae) || ae.Status >= 500 {
			t.Fatalf("token %q: err = %v, want a client error", tok, err)
		}
	})
}

type failingTransport struct{}

func (failingTransport) RoundTrip(*http.Request) (*http.Response, error) {
	return nil, errors.New("no network in fuzzing")
}

// FuzzTagsClaim feeds arbitrary JSON to the session-tags claim parser.
func FuzzTagsClaim(f *testing.F) {
	f.Add(`{"principal_tags":{"team":["blue"]},"transitive_tag_keys":["team"]}`)
	f.Add(`{"principal_tags":{"team":"blue"}}`)
	f.Add(`{"principal_tags":{"team":["a","b"]}}`)
	f.Add(`[]`)
	f.Add(`null`)
	f.Fuzz(func(t *testing.T, claim string) {
		tags, trans, err := tagsClaim([]byte(claim))
		if err != nil {
			return
		}
		var v validation
		validateTags(&v, tags, trans)
		_ = v.err()
		if _, err := mergeTags(tags, trans, nil, nil); err != nil {
			var ae *awsproto.Error
			if !errors.As(err, &ae) || ae.Status >= 500 {
				t.Fatalf("mergeTags: %v", err)
			}
		}
	})
}

// FuzzPatterns checks the hand-written character classes against the STS
// model's regular expressions.
func FuzzPatterns(f *testing.F) {
	for _, s := range []string{"", "abc", "a b", "é", "x:y/z=1+2-3@4", "tab\t", "٣", "ü_", "\xff", "a,b", "日本", "\u2028", "\u00a0", "Ⅻ"} {
		f.Add(s)
	}
	pairs := []struct {
		p  *pattern
		re *regexp.Regexp
	}{
		{reSessionName, regexp.MustCompile(`^[\w+=,.@-]*$`)},
		{reExternalID, regexp.MustCompile(`^[\w+=,.@:/-]*$`)},
		{reSerialNumber, regexp.MustCompile(`^[\w+=/:,.@-]*$`)},
		{reTokenCode, regexp.MustCompile(`^[0-9]*$`)},
		{reTagKey, regexp.MustCompile(`^[\p{L}\p{Z}\p{N}_.:/=+\-@]+$`)},
		{reTagValue, regexp.MustCompile(`^[\p{L}\p{Z}\p{N}_.:/=+\-@]*$`)},
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !utf8.ValidString(s) {
			for _, pr := range pairs {
				if s != "" && pr.p.MatchString(s) {
					t.Fatalf("%q (invalid UTF-8) matched %s", s, pr.re)
				}
			}
			return
		}
		for _, pr := range pairs {
			if got, want := pr.p.MatchString(s), pr.re.MatchString(s); got != want {
				t.Fatalf("%q: pattern %v, regexp %s %v", s, got, pr.re, want)
			}
		}
	})
}
