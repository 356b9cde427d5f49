package sts

//lint:file-ignore SA1019 podid still writes PackedPolicySize (deprecated in the SDK since STS added SessionTokenSize and SessionTokenUtilization), and these tests pin that wire field.

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awssts "github.com/aws/aws-sdk-go-v2/service/sts"
	ststypes "github.com/aws/aws-sdk-go-v2/service/sts/types"
	"github.com/aws/smithy-go"

	"github.com/podid/podid/internal/auth"
	"github.com/podid/podid/internal/awsproto"
)

// testEdge serves the STS query protocol like the server's edge, except
// that it identifies the caller from the access key ID in the Authorization
// header through the Resolver without checking the signature (the edge's
// SigV4 verifier is tested on its own).
func testEdge(t *testing.T, svc *Service, r *auth.Resolver) *httptest.Server {
	t.Helper()
	akidRe := regexp.MustCompile(`Credential=([A-Z0-9]+)/`)
	h := http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		const reqID = "c6104cbe-af31-11e0-8154-cbc7ccf896c7"
		ns := Namespace
		body, _ := io.ReadAll(req.Body)
		p, err := awsproto.ParseParams(string(body))
		if err != nil {
			awsproto.WriteQueryError(w, ns, reqID, err.(*awsproto.Error))
			return
		}
		ctx := awsproto.WithRequestID(req.Context(), reqID)
		if m := akidRe.FindStringSubmatch(req.Header.Get("Authorization")); m != nil {
			_, id, err := r.LookupSecret(ctx, m[1], req.Header.Get("X-Amz-Security-Token"))
			if err != nil {
				awsproto.WriteQueryError(w, ns, reqID, err.(*awsproto.Error))
				return
			}
			ctx = auth.WithPrincipal(ctx, id.(*auth.Principal))
		}
		action := p.Get("Action")
		res, err := svc.HandleQuery(ctx, action, p)
		if err != nil {
			var ae *awsproto.Error
			if !errors.As(err, &ae) {
				ae = awsproto.Internal("InternalFailure", err)
			}
			awsproto.WriteQueryError(w, ns, reqID, ae)
			return
		}
		awsproto.WriteQueryResponse(w, action, ns, reqID, res)
	})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

func stsClient(url string, creds aws.CredentialsProvider) *awssts.Client {
	return awssts.New(awssts.Options{
		Region:           "us-west-2",
		BaseEndpoint:     aws.String(url),
		Credentials:      creds,
		RetryMaxAttempts: 1,
	})
}

func static(id, secret, token string) aws.CredentialsProvider {
	return credentials.NewStaticCredentialsProvider(id, secret, token)
}

// apiErr returns the code, message and HTTP status of an SDK error.
func apiErr(t *testing.T, err error) (code, msg string, status int) {
	t.Helper()
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("err = %v, want an API error", err)
	}
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		status = re.HTTPStatusCode()
	}
	return ae.ErrorCode(), ae.ErrorMessage(), status
}

func TestWireWithGoSDK(t *testing.T) {
	p := newIDP(t, false, "")
	f, svc := webFixture(t, func(c *Config) { c.AllowHTTPLoopbackIssuers = true })
	env := f.env
	ctx := context.Background()
	srv := testEdge(t, svc, env.Resolver)
	role := env.AddRole(t, "shared", "/team/", trustAccount, 7200)
	readOnly := env.AddPolicy(t, "read-only", sessionDoc)
	akid, secret := env.AddAccessKey(t, "alice")
	bobKey, bobSecret := env.AddAccessKey(t, "bob")
	alice := stsClient(srv.URL, static(akid, secret, ""))
	provARN := env.AddOIDCProvider(t, strings.TrimPrefix(p.issuer, "http://"), []string{"sts.amazonaws.com"}, nil)

	t.Run("GetCallerIdentity", func(t *testing.T) {
		out, err := alice.GetCallerIdentity(ctx, &awssts.GetCallerIdentityInput{})
		if err != nil {
			t.Fatal(err)
		}
		if aws.ToString(out.Arn) != f.alice.ARN || aws.ToString(out.Account) != acct || aws.ToString(out.UserId) != f.alice.ID {
			t.Errorf("GetCallerIdentity = %s %s %s", aws.ToString(out.Arn), aws.ToString(out.Account), aws.ToString(out.UserId))
		}
	})

	var roleCreds *ststypes.Credentials
	t.Run("AssumeRole", func(t *testing.T) {
		out, err := alice.AssumeRole(ctx, &awssts.AssumeRoleInput{
			RoleArn: aws.String(role.ARN), RoleSessionName: aws.String("sdk"), DurationSeconds: aws.Int32(7200),
			Tags:              []ststypes.Tag{{Key: aws.String("team"), Value: aws.String("blue")}, {Key: aws.String("env"), Value: aws.String("")}},
			TransitiveTagKeys: []string{"team"},
			Policy:            aws.String(sessionDoc),
			PolicyArns:        []ststypes.PolicyDescriptorType{{Arn: aws.String(readOnly)}},
			SourceIdentity:    aws.String("alice"),
			ExternalId:        aws.String("ext-1"),
		})
		if err != nil {
			t.Fatal(err)
		}
		if aws.ToString(out.AssumedRoleUser.Arn) != "arn:aws:sts::123456789012:assumed-role/shared/sdk" || aws.ToString(out.AssumedRoleUser.AssumedRoleId) != role.ID+":sdk" {
			t.Errorf("AssumedRoleUser = %s %s", aws.ToString(out.AssumedRoleUser.Arn), aws.ToString(out.AssumedRoleUser.AssumedRoleId))
		}
		if out.PackedPolicySize == nil || *out.PackedPolicySize <= 0 || aws.ToString(out.SourceIdentity) != "alice" {
			t.Errorf("PackedPolicySize = %v SourceIdentity = %v", out.PackedPolicySize, out.SourceIdentity)
		}
		c := out.Credentials
		if !strings.HasPrefix(aws.ToString(c.AccessKeyId), "ASIA") || !c.Expiration.Equal(env.Clock.Now().Add(2*time.Hour)) {
			t.Errorf("credentials = %s expiring %v", aws.ToString(c.AccessKeyId), c.Expiration)
		}
		roleCreds = c
	})

	t.Run("the new credentials identify the session", func(t *testing.T) {
		c := stsClient(srv.URL, static(aws.ToString(roleCreds.AccessKeyId), aws.ToString(roleCreds.SecretAccessKey), aws.ToString(roleCreds.SessionToken)))
		out, err := c.GetCallerIdentity(ctx, &awssts.GetCallerIdentityInput{})
		if err != nil {
			t.Fatal(err)
		}
		if aws.ToString(out.Arn) != "arn:aws:sts::123456789012:assumed-role/shared/sdk" || aws.ToString(out.UserId) != role.ID+":sdk" {
			t.Errorf("GetCallerIdentity = %s %s", aws.ToString(out.Arn), aws.ToString(out.UserId))
		}
		_, err = c.GetSessionToken(ctx, &awssts.GetSessionTokenInput{})
		if code, msg, status := apiErr(t, err); code != "AccessDenied" || msg != "Cannot call GetSessionToken with session credentials" || status != 403 {
			t.Errorf("GetSessionToken with session credentials = %s %q %d", code, msg, status)
		}
	})

	t.Run("GetSessionToken", func(t *testing.T) {
		out, err := alice.GetSessionToken(ctx, &awssts.GetSessionTokenInput{DurationSeconds: aws.Int32(900)})
		if err != nil {
			t.Fatal(err)
		}
		if !out.Credentials.Expiration.Equal(env.Clock.Now().Add(15 * time.Minute)) {
			t.Errorf("Expiration = %v", out.Credentials.Expiration)
		}
	})

	errTests := []struct {
		name   string
		call   func() error
		code   string
		msg    string
		status int
		typed  any
	}{
		{name: "AccessDenied", call: func() error {
			_, err := stsClient(srv.URL, static(bobKey, bobSecret, "")).AssumeRole(ctx, &awssts.AssumeRoleInput{RoleArn: aws.String(role.ARN), RoleSessionName: aws.String("x1")})
			return err
		}, code: "AccessDenied", status: 403, msg: "User: arn:aws:iam::123456789012:user/bob is not authorized to perform: sts:AssumeRole on resource: " + role.ARN + " because no identity-based policy allows the sts:AssumeRole action"},
		{name: "ValidationError", call: func() error {
			_, err := alice.AssumeRole(ctx, &awssts.AssumeRoleInput{RoleArn: aws.String(role.ARN), RoleSessionName: aws.String("x1"), DurationSeconds: aws.Int32(7201)})
			return err
		}, code: "ValidationError", status: 400, msg: "The requested DurationSeconds exceeds the MaxSessionDuration set for this role."},
		{name: "MalformedPolicyDocument", call: func() error {
			_, err := alice.AssumeRole(ctx, &awssts.AssumeRoleInput{RoleArn: aws.String(role.ARN), RoleSessionName: aws.String("x1"), Policy: aws.String("{")})
			return err
		}, code: "MalformedPolicyDocument", status: 400, msg: "Syntax errors in policy.", typed: new(*ststypes.MalformedPolicyDocumentException)},
		{name: "PackedPolicyTooLarge", call: func() error {
			var tags []ststypes.Tag
			for _, tg := range noisyTags(50) {
				tags = append(tags, ststypes.Tag{Key: aws.String(tg.Key), Value: aws.String(tg.Value)})
			}
			_, err := alice.AssumeRole(ctx, &awssts.AssumeRoleInput{RoleArn: aws.String(role.ARN), RoleSessionName: aws.String("x1"), Tags: tags})
			return err
		}, code: "PackedPolicyTooLarge", status: 400, typed: new(*ststypes.PackedPolicyTooLargeException)},
		{name: "unknown key", call: func() error {
			_, err := stsClient(srv.URL, static("AKIAAAAAAAAAAAAAAAAA", "x", "")).GetCallerIdentity(ctx, &awssts.GetCallerIdentityInput{})
			return err
		}, code: "InvalidClientTokenId", status: 403, msg: "The security token included in the request is invalid."},
		{name: "expired web identity token", call: func() error {
			tok := p.token(t, "k1", map[string]any{"iss": p.issuer, "sub": "s", "aud": "sts.amazonaws.com", "exp": env.Clock.Now().Add(-time.Minute).Unix()})
			_, err := stsClient(srv.URL, aws.AnonymousCredentials{}).AssumeRoleWithWebIdentity(ctx, &awssts.AssumeRoleWithWebIdentityInput{
				RoleArn: aws.String(role.ARN), RoleSessionName: aws.String("web"), WebIdentityToken: aws.String(tok)})
			return err
		}, code: "ExpiredTokenException", status: 400, typed: new(*ststypes.ExpiredTokenException)},
		{name: "invalid web identity token", call: func() error {
			_, err := stsClient(srv.URL, aws.AnonymousCredentials{}).AssumeRoleWithWebIdentity(ctx, &awssts.AssumeRoleWithWebIdentityInput{
				RoleArn: aws.String(role.ARN), RoleSessionName: aws.String("web"), WebIdentityToken: aws.String("not-a-jwt")})
			return err
		}, code: "InvalidIdentityToken", status: 400, msg: msgNotJWT, typed: new(*ststypes.InvalidIdentityTokenException)},
	}
	for _, tc := range errTests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			code, msg, status := apiErr(t, err)
			if code != tc.code || status != tc.status || (tc.msg != "" && msg != tc.msg) {
				t.Errorf("error = %s %q %d, want %s %q %d", code, msg, status, tc.code, tc.msg, tc.status)
			}
			switch typed := tc.typed.(type) {
			case **ststypes.MalformedPolicyDocumentException:
				if !errors.As(err, typed) {
					t.Errorf("not a %T", *typed)
				}
			case **ststypes.PackedPolicyTooLargeException:
				if !errors.As(err, typed) {
					t.Errorf("not a %T", *typed)
				}
			case **ststypes.ExpiredTokenException:
				if !errors.As(err, typed) {
					t.Errorf("not a %T", *typed)
				}
			case **ststypes.InvalidIdentityTokenException:
				if !errors.As(err, typed) {
					t.Errorf("not a %T", *typed)
				}
			}
		})
	}

	t.Run("AssumeRoleWithWebIdentity", func(t *testing.T) {
		web := env.AddRole(t, "web", "", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Federated":"`+provARN+`"},"Action":"sts:AssumeRoleWithWebIdentity"}]}`, 0)
		tok := p.token(t, "k1", map[string]any{"iss": p.issuer, "sub": "system:serviceaccount:ns:sa", "aud": "sts.amazonaws.com", "exp": env.Clock.Now().Add(time.Minute).Unix()})
		out, err := stsClient(srv.URL, aws.AnonymousCredentials{}).AssumeRoleWithWebIdentity(ctx, &awssts.AssumeRoleWithWebIdentityInput{
			RoleArn: aws.String(web.ARN), RoleSessionName: aws.String("web"), WebIdentityToken: aws.String(tok), DurationSeconds: aws.Int32(900)})
		if err != nil {
			t.Fatal(err)
		}
		if aws.ToString(out.SubjectFromWebIdentityToken) != "system:serviceaccount:ns:sa" || aws.ToString(out.Audience) != "sts.amazonaws.com" ||
			aws.ToString(out.Provider) != provARN || aws.ToString(out.AssumedRoleUser.Arn) != "arn:aws:sts::123456789012:assumed-role/web/web" ||
			!out.Credentials.Expiration.Equal(env.Clock.Now().Add(15*time.Minute)) || out.PackedPolicySize != nil {
			t.Errorf("out = %+v", out)
		}
	})

	t.Run("unknown action", func(t *testing.T) {
		resp, err := http.Post(srv.URL, "application/x-www-form-urlencoded", strings.NewReader("Action=AssumeRoot&Version=2011-06-15"))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		want := `<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <Error>
    <Type>Sender</Type>
    <Code>InvalidAction</Code>
    <Message>Could not find operation AssumeRoot for version 2011-06-15</Message>
  </Error>
  <RequestId>c6104cbe-af31-11e0-8154-cbc7ccf896c7</RequestId>
</ErrorResponse>
`
		if resp.StatusCode != 400 || string(b) != want {
			t.Errorf("status %d body\n%s", resp.StatusCode, b)
		}
	})
}

// TestWireResponseXML pins the exact XML of AssumeRole's response.
func TestWireResponseXML(t *testing.T) {
	f := newFixture(t)
	f.env.AddRole(t, "shared", "", trustAccount, 0)
	p := awsproto.Params{Values: map[string][]string{
		"Action": {"AssumeRole"}, "RoleArn": {roleARN("shared")}, "RoleSessionName": {"s1"},
		"Tags.member.1.Key": {"team"}, "Tags.member.1.Value": {"blue"},
	}}
	res, err := f.svc.HandleQuery(f.as(f.env.User(f.alice)), "AssumeRole", p)
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	awsproto.WriteQueryResponse(rec, "AssumeRole", Namespace, "rid", res)
	r := res.(*assumeRoleResult)
	want := `<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <AssumeRoleResult>
    <AssumedRoleUser>
      <Arn>arn:aws:sts::123456789012:assumed-role/shared/s1</Arn>
      <AssumedRoleId>` + r.AssumedRoleUser.AssumedRoleID + `</AssumedRoleId>
    </AssumedRoleUser>
    <Credentials>
      <AccessKeyId>` + r.Credentials.AccessKeyID + `</AccessKeyId>
      <SecretAccessKey>` + r.Credentials.SecretAccessKey + `</SecretAccessKey>
      <SessionToken>` + r.Credentials.SessionToken + `</SessionToken>
      <Expiration>2026-01-02T04:04:05Z</Expiration>
    </Credentials>
    <PackedPolicySize>` + itoa(*r.PackedPolicySize) + `</PackedPolicySize>
  </AssumeRoleResult>
  <ResponseMetadata>
    <RequestId>rid</RequestId>
  </ResponseMetadata>
</AssumeRoleResponse>
`
	if got := rec.Body.String(); got != want {
		t.Errorf("body:\n%s\nwant:\n%s", got, want)
	}
}

// TestWireParams covers the decoding of awsQuery members.
func TestWireParams(t *testing.T) {
	f := newFixture(t)
	f.env.AddRole(t, "shared", "", trustAccount, 0)
	ctx := f.as(f.env.User(f.alice))
	tests := []struct {
		name   string
		action string
		params map[string]string
		code   string
		msg    string
	}{
		{name: "empty external ID", action: "AssumeRole", params: map[string]string{"RoleArn": roleARN("shared"), "RoleSessionName": "s", "ExternalId": ""},
			code: "ValidationError", msg: "1 validation error detected: Value '' at 'externalId' failed to satisfy constraint: Member must have length greater than or equal to 2"},
		{name: "duration not a number", action: "AssumeRole", params: map[string]string{"RoleArn": roleARN("shared"), "RoleSessionName": "s", "DurationSeconds": "1h"},
			code: "ValidationError", msg: "Value '1h' at 'durationSeconds' failed to satisfy constraint: Member must be a number"},
		{name: "duration zero", action: "AssumeRole", params: map[string]string{"RoleArn": roleARN("shared"), "RoleSessionName": "s", "DurationSeconds": "0"},
			code: "ValidationError", msg: "1 validation error detected: Value '0' at 'durationSeconds' failed to satisfy constraint: Member must have value greater than or equal to 900"},
		{name: "tag without a value", action: "AssumeRole", params: map[string]string{"RoleArn": roleARN("shared"), "RoleSessionName": "s", "Tags.member.1.Key": "k"},
			code: "ValidationError", msg: "1 validation error detected: Value null at 'tags.1.member.value' failed to satisfy constraint: Member must not be null"},
		{name: "empty web identity token", action: "AssumeRoleWithWebIdentity", params: map[string]string{"RoleArn": roleARN("shared"), "RoleSessionName": "s", "WebIdentityToken": ""},
			code: "ValidationError", msg: "1 validation error detected: Value at 'webIdentityToken' failed to satisfy constraint: Member must have length greater than or equal to 4"},
		{name: "transitive keys and policy ARNs", action: "AssumeRole", params: map[string]string{"RoleArn": roleARN("shared"), "RoleSessionName": "s1",
			"Tags.member.1.Key": "a", "Tags.member.1.Value": "1", "TransitiveTagKeys.member.1": "b", "PolicyArns.member.1.arn": "arn:aws:iam::123456789012:policy/x"},
			code: "ValidationError", msg: "The specified transitive tag key b must be included in the requested tags."},
		{name: "session token duration", action: "GetSessionToken", params: map[string]string{"DurationSeconds": "100"},
			code: "ValidationError", msg: "1 validation error detected: Value '100' at 'durationSeconds' failed to satisfy constraint: Member must have value greater than or equal to 900"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := map[string][]string{}
			for k, val := range tc.params {
				v[k] = []string{val}
			}
			_, err := f.svc.HandleQuery(ctx, tc.action, awsproto.Params{Values: v})
			wantErr(t, err, tc.code, 400, tc.msg)
		})
	}
}
