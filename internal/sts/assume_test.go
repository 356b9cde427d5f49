package sts

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/podid/podid/internal/auth"
	"github.com/podid/podid/internal/auth/authtest"
	"github.com/podid/podid/internal/store"
)

const acct = authtest.Account

func roleARN(name string) string { return "arn:aws:iam::" + acct + ":role/" + name }

// noisyTags returns n tags of maximal size whose text does not compress.
func noisyTags(n int) []Tag {
	r := rand.New(rand.NewPCG(1, 2))
	const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.:/=+-@"
	word := func(l int) string {
		b := make([]byte, l)
		for i := range b {
			b[i] = alphabet[r.IntN(len(alphabet))]
		}
		return string(b)
	}
	out := make([]Tag, n)
	for i := range out {
		out[i] = Tag{Key: word(128), Value: word(256)}
	}
	return out
}

func TestAssumeRole(t *testing.T) {
	f := newFixture(t)
	env := f.env
	now := env.Clock.Now()
	roles := map[string]*store.Role{}
	add := func(name, path, trust string, max int) {
		roles[name] = env.AddRole(t, name, path, trust, max)
	}
	add("shared", "", trustAccount, 0)
	add("long", "", trustAccount, 43200)
	add("bob-only", "", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:user/bob"},"Action":"sts:AssumeRole"}]}`, 0)
	add("plain", "", trustNoTags, 0)
	add("ext", "", trustExtID, 0)
	add("tagcond", "", trustTagCond, 0)
	add("admin", "", trustAccount, 0)
	add("pathy", "/team/", trustAccount, 0)
	add("broken", "", `not json`, 0)
	readOnly := env.AddPolicy(t, "read-only", sessionDoc)

	alice, bob := env.User(f.alice), env.User(f.bob)
	denied := func(who *auth.Principal, action, role string) string {
		return "User: " + who.ARN + " is not authorized to perform: " + action + " on resource: " + role
	}
	long := strings.Repeat("k", 129)
	longVal := strings.Repeat("v", 257)

	type want struct {
		code, msg string
		status    int
	}
	tests := []struct {
		name   string
		caller *auth.Principal
		in     AssumeRoleInput
		err    *want
		check  func(t *testing.T, out *AssumeRoleOutput, sess *auth.Session)
	}{
		{name: "identity policy and trust naming the account", caller: alice,
			in: AssumeRoleInput{RoleArn: roleARN("shared"), RoleSessionName: "s1"},
			check: func(t *testing.T, out *AssumeRoleOutput, sess *auth.Session) {
				if out.AssumedRoleUser.Arn != "arn:aws:sts::123456789012:assumed-role/shared/s1" || out.AssumedRoleUser.AssumedRoleID != roles["shared"].ID+":s1" {
					t.Errorf("AssumedRoleUser = %+v", out.AssumedRoleUser)
				}
				if !strings.HasPrefix(out.Credentials.AccessKeyID, "ASIA") || len(out.Credentials.AccessKeyID) != 20 || len(out.Credentials.SecretAccessKey) != 40 {
					t.Errorf("credentials = %q/%d chars", out.Credentials.AccessKeyID, len(out.Credentials.SecretAccessKey))
				}
				if !out.Credentials.Expiration.Equal(now.Add(time.Hour)) {
					t.Errorf("Expiration = %v, want %v", out.Credentials.Expiration, now.Add(time.Hour))
				}
				if out.PackedPolicySize != nil || out.SourceIdentity != "" {
					t.Errorf("PackedPolicySize = %v, SourceIdentity = %q", out.PackedPolicySize, out.SourceIdentity)
				}
				wantSess := &auth.Session{RoleARN: roles["shared"].ARN, RoleID: roles["shared"].ID, RoleName: "shared", Type: auth.AssumedRole,
					SessionName: "s1", Issued: now, Expires: now.Add(time.Hour), SourceARN: f.alice.ARN}
				if !reflect.DeepEqual(sess, wantSess) {
					t.Errorf("session = %+v\nwant %+v", sess, wantSess)
				}
			}},
		{name: "no identity policy, trust names the account", caller: bob,
			in:  AssumeRoleInput{RoleArn: roleARN("shared"), RoleSessionName: "s1"},
			err: &want{"AccessDenied", denied(bob, "sts:AssumeRole", roleARN("shared")) + " because no identity-based policy allows the sts:AssumeRole action", 403}},
		{name: "no identity policy, trust names the user", caller: bob,
			in: AssumeRoleInput{RoleArn: roleARN("bob-only"), RoleSessionName: "s1"}},
		{name: "trust names another user", caller: alice,
			in:  AssumeRoleInput{RoleArn: roleARN("bob-only"), RoleSessionName: "s1"},
			err: &want{"AccessDenied", denied(alice, "sts:AssumeRole", roleARN("bob-only")), 403}},
		{name: "explicit deny in identity policy", caller: alice,
			in:  AssumeRoleInput{RoleArn: roleARN("admin"), RoleSessionName: "s1"},
			err: &want{"AccessDenied", denied(alice, "sts:AssumeRole", roleARN("admin")) + " with an explicit deny in an identity-based policy", 403}},
		{name: "role does not exist", caller: alice,
			in:  AssumeRoleInput{RoleArn: roleARN("nope"), RoleSessionName: "s1"},
			err: &want{"AccessDenied", denied(alice, "sts:AssumeRole", roleARN("nope")), 403}},
		{name: "role in an account podid does not host", caller: alice,
			in:  AssumeRoleInput{RoleArn: "arn:aws:iam::210987654321:role/shared", RoleSessionName: "s1"},
			err: &want{"AccessDenied", denied(alice, "sts:AssumeRole", "arn:aws:iam::210987654321:role/shared") + " (account 210987654321 is not hosted by this podid: start the server with --account 210987654321 to host it)", 403}},
		{name: "trust policy that does not compile", caller: alice,
			in:  AssumeRoleInput{RoleArn: roleARN("broken"), RoleSessionName: "s1"},
			err: &want{"AccessDenied", denied(alice, "sts:AssumeRole", roleARN("broken")), 403}},
		{name: "not an ARN", caller: alice,
			in:  AssumeRoleInput{RoleArn: "role/shared-but-long-enough", RoleSessionName: "s1"},
			err: &want{"ValidationError", "Request ARN is invalid", 400}},
		{name: "role with a path", caller: alice,
			in: AssumeRoleInput{RoleArn: "arn:aws:iam::123456789012:role/team/pathy", RoleSessionName: "s1"},
			check: func(t *testing.T, out *AssumeRoleOutput, _ *auth.Session) {
				if out.AssumedRoleUser.Arn != "arn:aws:sts::123456789012:assumed-role/pathy/s1" {
					t.Errorf("Arn = %q", out.AssumedRoleUser.Arn)
				}
			}},
		{name: "role with a path named without it", caller: alice,
			in:  AssumeRoleInput{RoleArn: roleARN("pathy"), RoleSessionName: "s1"},
			err: &want{"AccessDenied", denied(alice, "sts:AssumeRole", roleARN("pathy")), 403}},
		{name: "root", caller: env.Root(),
			in:  AssumeRoleInput{RoleArn: roleARN("shared"), RoleSessionName: "s1"},
			err: &want{"AccessDenied", "Roles may not be assumed by root accounts.", 403}},
		{name: "MFA code", caller: alice,
			in:  AssumeRoleInput{RoleArn: roleARN("shared"), RoleSessionName: "s1", SerialNumber: "arn:aws:iam::123456789012:mfa/alice", TokenCode: "123456"},
			err: &want{"AccessDenied", "MultiFactorAuthentication failed with invalid MFA one time pass code. ", 403}},

		// Duration.
		{name: "duration over the role's maximum", caller: alice,
			in:  AssumeRoleInput{RoleArn: roleARN("shared"), RoleSessionName: "s1", DurationSeconds: 7200},
			err: &want{"ValidationError", "The requested DurationSeconds exceeds the MaxSessionDuration set for this role.", 400}},
		{name: "duration within a longer maximum", caller: alice,
			in: AssumeRoleInput{RoleArn: roleARN("long"), RoleSessionName: "s1", DurationSeconds: 43200},
			check: func(t *testing.T, out *AssumeRoleOutput, _ *auth.Session) {
				if !out.Credentials.Expiration.Equal(now.Add(12 * time.Hour)) {
					t.Errorf("Expiration = %v", out.Credentials.Expiration)
				}
			}},
		{name: "duration too short", caller: alice,
			in:  AssumeRoleInput{RoleArn: roleARN("shared"), RoleSessionName: "s1", DurationSeconds: 899},
			err: &want{"ValidationError", "1 validation error detected: Value '899' at 'durationSeconds' failed to satisfy constraint: Member must have value greater than or equal to 900", 400}},
		{name: "duration too long", caller: alice,
			in:  AssumeRoleInput{RoleArn: roleARN("long"), RoleSessionName: "s1", DurationSeconds: 43201},
			err: &want{"ValidationError", "1 validation error detected: Value '43201' at 'durationSeconds' failed to satisfy constraint: Member must have value less than or equal to 43200", 400}},

		// Model validation.
		{name: "session name too short", caller: alice,
			in:  AssumeRoleInput{RoleArn: roleARN("shared"), RoleSessionName: "s"},
			err: &want{"ValidationError", "1 validation error detected: Value 's' at 'roleSessionName' failed to satisfy constraint: Member must have length greater than or equal to 2", 400}},
		{name: "session name pattern", caller: alice,
			in:  AssumeRoleInput{RoleArn: roleARN("shared"), RoleSessionName: "bad name!"},
			err: &want{"ValidationError", `1 validation error detected: Value 'bad name!' at 'roleSessionName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\w+=,.@-]*`, 400}},
		{name: "session name missing and ARN too short", caller: alice,
			in:  AssumeRoleInput{RoleArn: "arn:aws:iam::1:r"},
			err: &want{"ValidationError", "2 validation errors detected: Value 'arn:aws:iam::1:r' at 'roleArn' failed to satisfy constraint: Member must have length greater than or equal to 20; Value null at 'roleSessionName' failed to satisfy constraint: Member must not be null", 400}},
		{name: "external ID too short", caller: alice,
			in:  AssumeRoleInput{RoleArn: roleARN("ext"), RoleSessionName: "s1", ExternalID: "x"},
			err: &want{"ValidationError", "1 validation error detected: Value 'x' at 'externalId' failed to satisfy constraint: Member must have length greater than or equal to 2", 400}},

		// External ID.
		{name: "external ID matches", caller: alice,
			in: AssumeRoleInput{RoleArn: roleARN("ext"), RoleSessionName: "s1", ExternalID: "ext-123"}},
		{name: "external ID missing", caller: alice,
			in:  AssumeRoleInput{RoleArn: roleARN("ext"), RoleSessionName: "s1"},
			err: &want{"AccessDenied", denied(alice, "sts:AssumeRole", roleARN("ext")), 403}},
		{name: "external ID differs", caller: alice,
			in:  AssumeRoleInput{RoleArn: roleARN("ext"), RoleSessionName: "s1", ExternalID: "ext-124"},
			err: &want{"AccessDenied", denied(alice, "sts:AssumeRole", roleARN("ext")), 403}},

		// Session tags.
		{name: "tags need sts:TagSession", caller: alice,
			in:  AssumeRoleInput{RoleArn: roleARN("plain"), RoleSessionName: "s1", Tags: []Tag{{Key: "team", Value: "blue"}}},
			err: &want{"AccessDenied", denied(alice, "sts:TagSession", roleARN("plain")), 403}},
		{name: "tags and transitive keys", caller: alice,
			in: AssumeRoleInput{RoleArn: roleARN("shared"), RoleSessionName: "s1", Tags: []Tag{{Key: "team", Value: "blue"}, {Key: "env", Value: "prod"}}, TransitiveTagKeys: []string{"team"}},
			check: func(t *testing.T, out *AssumeRoleOutput, sess *auth.Session) {
				if out.PackedPolicySize == nil || *out.PackedPolicySize < 1 || *out.PackedPolicySize > 100 {
					t.Errorf("PackedPolicySize = %v", out.PackedPolicySize)
				}
				if !reflect.DeepEqual(sess.Tags, map[string]string{"team": "blue", "env": "prod"}) || !reflect.DeepEqual(sess.TransitiveTagKeys, []string{"team"}) {
					t.Errorf("tags = %v, transitive = %v", sess.Tags, sess.TransitiveTagKeys)
				}
			}},
		{name: "trust conditions on request tags", caller: alice,
			in: AssumeRoleInput{RoleArn: roleARN("tagcond"), RoleSessionName: "s1", Tags: []Tag{{Key: "team", Value: "blue"}, {Key: "env", Value: "dev"}}}},
		{name: "trust conditions on request tags, wrong value", caller: alice,
			in:  AssumeRoleInput{RoleArn: roleARN("tagcond"), RoleSessionName: "s1", Tags: []Tag{{Key: "team", Value: "red"}}},
			err: &want{"AccessDenied", denied(alice, "sts:TagSession", roleARN("tagcond")), 403}},
		{name: "trust conditions on tag keys, extra key", caller: alice,
			in:  AssumeRoleInput{RoleArn: roleARN("tagcond"), RoleSessionName: "s1", Tags: []Tag{{Key: "team", Value: "blue"}, {Key: "owner", Value: "me"}}},
			err: &want{"AccessDenied", denied(alice, "sts:TagSession", roleARN("tagcond")), 403}},
		{name: "transitive key not among the tags", caller: alice,
			in:  AssumeRoleInput{RoleArn: roleARN("shared"), RoleSessionName: "s1", Tags: []Tag{{Key: "team", Value: "blue"}}, TransitiveTagKeys: []string{"env"}},
			err: &want{"ValidationError", "The specified transitive tag key env must be included in the requested tags.", 400}},
		{name: "duplicate tag keys", caller: alice,
			in:  AssumeRoleInput{RoleArn: roleARN("shared"), RoleSessionName: "s1", Tags: []Tag{{Key: "Team", Value: "blue"}, {Key: "team", Value: "red"}}},
			err: &want{"ValidationError", "Duplicate tag keys found. Please note that Tag keys are case insensitive.", 400}},
		{name: "reserved tag prefix", caller: alice,
			in:  AssumeRoleInput{RoleArn: roleARN("shared"), RoleSessionName: "s1", Tags: []Tag{{Key: "AWS:team", Value: "blue"}}},
			err: &want{"ValidationError", "Tag keys cannot start with the reserved prefix aws:.", 400}},
		{name: "51 tags", caller: alice,
			in:  AssumeRoleInput{RoleArn: roleARN("shared"), RoleSessionName: "s1", Tags: manyTags(51)},
			err: &want{"ValidationError", "", 400}},
		{name: "tag key too long", caller: alice,
			in:  AssumeRoleInput{RoleArn: roleARN("shared"), RoleSessionName: "s1", Tags: []Tag{{Key: long, Value: "v"}}},
			err: &want{"ValidationError", "1 validation error detected: Value '" + long + "' at 'tags.1.member.key' failed to satisfy constraint: Member must have length less than or equal to 128", 400}},
		{name: "tag value too long", caller: alice,
			in:  AssumeRoleInput{RoleArn: roleARN("shared"), RoleSessionName: "s1", Tags: []Tag{{Key: "k", Value: longVal}}},
			err: &want{"ValidationError", "1 validation error detected: Value '" + longVal + "' at 'tags.1.member.value' failed to satisfy constraint: Member must have length less than or equal to 256", 400}},
		{name: "tag key pattern", caller: alice,
			in:  AssumeRoleInput{RoleArn: roleARN("shared"), RoleSessionName: "s1", Tags: []Tag{{Key: "a*b", Value: "v"}}},
			err: &want{"ValidationError", `1 validation error detected: Value 'a*b' at 'tags.1.member.key' failed to satisfy constraint: Member must satisfy regular expression pattern: [\p{L}\p{Z}\p{N}_.:/=+\-@]+`, 400}},
		{name: "empty tag value", caller: alice,
			in: AssumeRoleInput{RoleArn: roleARN("shared"), RoleSessionName: "s1", Tags: []Tag{{Key: "team", Value: ""}}}},
		{name: "packed size over the limit", caller: alice,
			in:  AssumeRoleInput{RoleArn: roleARN("shared"), RoleSessionName: "s1", Tags: noisyTags(50)},
			err: &want{"PackedPolicyTooLarge", "", 400}},

		// Session policies.
		{name: "inline session policy", caller: alice,
			in: AssumeRoleInput{RoleArn: roleARN("shared"), RoleSessionName: "s1", Policy: sessionDoc, PolicyArns: []string{readOnly}},
			check: func(t *testing.T, out *AssumeRoleOutput, sess *auth.Session) {
				if out.PackedPolicySize == nil {
					t.Error("PackedPolicySize missing")
				}
				if !reflect.DeepEqual(sess.Policies, []string{sessionDoc, sessionDoc}) {
					t.Errorf("session policies = %q", sess.Policies)
				}
			}},
		{name: "malformed session policy", caller: alice,
			in:  AssumeRoleInput{RoleArn: roleARN("shared"), RoleSessionName: "s1", Policy: "{"},
			err: &want{"MalformedPolicyDocument", "Syntax errors in policy.", 400}},
		{name: "session policy over 2048 characters", caller: alice,
			in:  AssumeRoleInput{RoleArn: roleARN("shared"), RoleSessionName: "s1", Policy: sessionDoc + strings.Repeat(" ", 2048)},
			err: &want{"ValidationError", "1 validation error detected: Value at 'policy' failed to satisfy constraint: Member must have length less than or equal to 2048", 400}},
		{name: "managed session policy that does not exist", caller: alice,
			in:  AssumeRoleInput{RoleArn: roleARN("shared"), RoleSessionName: "s1", PolicyArns: []string{authtest.PolicyARN("nope")}},
			err: &want{"MalformedPolicyDocument", "Policy arn:aws:iam::123456789012:policy/nope does not exist or is not attachable.", 400}},
		{name: "11 managed session policies", caller: alice,
			in:  AssumeRoleInput{RoleArn: roleARN("shared"), RoleSessionName: "s1", PolicyArns: strings.Split(strings.Repeat(readOnly+",", 11)[:len(readOnly)*11+10], ",")},
			err: &want{"ValidationError", "", 400}},

		// Source identity.
		{name: "source identity", caller: alice,
			in: AssumeRoleInput{RoleArn: roleARN("shared"), RoleSessionName: "s1", SourceIdentity: "alice@example.com"},
			check: func(t *testing.T, out *AssumeRoleOutput, sess *auth.Session) {
				if out.SourceIdentity != "alice@example.com" || sess.SourceIdentity != "alice@example.com" {
					t.Errorf("SourceIdentity = %q / %q", out.SourceIdentity, sess.SourceIdentity)
				}
			}},
		{name: "source identity needs sts:SetSourceIdentity", caller: alice,
			in:  AssumeRoleInput{RoleArn: roleARN("plain"), RoleSessionName: "s1", SourceIdentity: "alice"},
			err: &want{"AccessDenied", denied(alice, "sts:SetSourceIdentity", roleARN("plain")), 403}},
		{name: "source identity with the reserved prefix", caller: alice,
			in:  AssumeRoleInput{RoleArn: roleARN("shared"), RoleSessionName: "s1", SourceIdentity: "aws:me"},
			err: &want{"ValidationError", `1 validation error detected: Value 'aws:me' at 'sourceIdentity' failed to satisfy constraint: Member must satisfy regular expression pattern: [\w+=,.@-]*`, 400}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, err := f.svc.AssumeRole(f.as(tc.caller), &tc.in)
			if tc.err != nil {
				wantErr(t, err, tc.err.code, tc.err.status, tc.err.msg)
				return
			}
			if err != nil {
				t.Fatalf("AssumeRole: %v", err)
			}
			sess, secret, err := env.Minter.Open(out.Credentials.AccessKeyID, out.Credentials.SessionToken, now)
			if err != nil {
				t.Fatalf("minted credentials do not open: %v", err)
			}
			if secret != out.Credentials.SecretAccessKey {
				t.Error("secret does not match the token")
			}
			if tc.check != nil {
				tc.check(t, out, sess)
			}
		})
	}
}

func TestRoleChaining(t *testing.T) {
	f := newFixture(t)
	env := f.env
	now := env.Clock.Now()
	first := env.AddRole(t, "first", "", trustAccount, 43200)
	env.PutInline(t, store.KindRole, "first", "assume", allowAssume)
	second := env.AddRole(t, "second", "", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"`+first.ARN+`"},"Action":["sts:AssumeRole","sts:TagSession","sts:SetSourceIdentity"],"Condition":{"StringEquals":{"aws:RequestTag/team":"blue"}}}]}`, 43200)
	env.AddRole(t, "untagged", "", trustNoTags, 0)

	out, err := f.svc.AssumeRole(f.as(env.User(f.alice)), &AssumeRoleInput{
		RoleArn: first.ARN, RoleSessionName: "hop1", DurationSeconds: 7200, SourceIdentity: "alice",
		Tags: []Tag{{Key: "team", Value: "blue"}, {Key: "env", Value: "dev"}}, TransitiveTagKeys: []string{"team"},
	})
	if err != nil {
		t.Fatalf("first hop: %v", err)
	}
	_, id, err := env.Resolver.LookupSecret(t.Context(), out.Credentials.AccessKeyID, out.Credentials.SessionToken)
	if err != nil {
		t.Fatalf("resolve first hop: %v", err)
	}
	hop1 := id.(*auth.Principal)

	tests := []struct {
		name        string
		in          AssumeRoleInput
		code, msg   string
		wantTags    map[string]string
		wantTrans   []string
		wantExpires time.Time
	}{
		{name: "default duration, transitive tags and source identity pass on",
			in:       AssumeRoleInput{RoleArn: second.ARN, RoleSessionName: "hop2"},
			wantTags: map[string]string{"team": "blue"}, wantTrans: []string{"team"}, wantExpires: now.Add(time.Hour)},
		{name: "more tags", in: AssumeRoleInput{RoleArn: second.ARN, RoleSessionName: "hop2", Tags: []Tag{{Key: "app", Value: "x"}}, TransitiveTagKeys: []string{"app"}, DurationSeconds: 900},
			wantTags: map[string]string{"team": "blue", "app": "x"}, wantTrans: []string{"team", "app"}, wantExpires: now.Add(15 * time.Minute)},
		{name: "over one hour", in: AssumeRoleInput{RoleArn: second.ARN, RoleSessionName: "hop2", DurationSeconds: 3601},
			code: "ValidationError", msg: "The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining."},
		{name: "override an inherited transitive tag", in: AssumeRoleInput{RoleArn: second.ARN, RoleSessionName: "hop2", Tags: []Tag{{Key: "TEAM", Value: "red"}}},
			code: "InvalidParameterValue", msg: "One or more of the specified session tags conflicts with an inherited transitive session tag: team"},
		{name: "change the source identity", in: AssumeRoleInput{RoleArn: second.ARN, RoleSessionName: "hop2", SourceIdentity: "mallory"},
			code: "AccessDenied", msg: "The source identity of a role session cannot be changed: the calling session's source identity is kept through role chaining."},
		{name: "same source identity", in: AssumeRoleInput{RoleArn: second.ARN, RoleSessionName: "hop2", SourceIdentity: "alice"},
			wantTags: map[string]string{"team": "blue"}, wantTrans: []string{"team"}, wantExpires: now.Add(time.Hour)},
		{name: "inherited tags need sts:TagSession", in: AssumeRoleInput{RoleArn: roleARN("untagged"), RoleSessionName: "hop2"},
			code: "AccessDenied", msg: "User: arn:aws:sts::123456789012:assumed-role/first/hop1 is not authorized to perform: sts:TagSession on resource: " + roleARN("untagged")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, err := f.svc.AssumeRole(f.as(hop1), &tc.in)
			if tc.code != "" {
				wantErr(t, err, tc.code, map[string]int{"ValidationError": 400, "InvalidParameterValue": 400, "AccessDenied": 403}[tc.code], tc.msg)
				return
			}
			if err != nil {
				t.Fatalf("AssumeRole: %v", err)
			}
			sess, _, err := env.Minter.Open(out.Credentials.AccessKeyID, out.Credentials.SessionToken, now)
			if err != nil {
				t.Fatal(err)
			}
			if !sess.Chained || sess.SourceIdentity != "alice" || sess.SourceARN != hop1.ARN || out.SourceIdentity != "alice" {
				t.Errorf("session = %+v", sess)
			}
			if !reflect.DeepEqual(sess.Tags, tc.wantTags) || !reflect.DeepEqual(sess.TransitiveTagKeys, tc.wantTrans) {
				t.Errorf("tags = %v transitive = %v, want %v %v", sess.Tags, sess.TransitiveTagKeys, tc.wantTags, tc.wantTrans)
			}
			if !sess.Expires.Equal(tc.wantExpires) {
				t.Errorf("Expires = %v, want %v", sess.Expires, tc.wantExpires)
			}
		})
	}
}

func TestGetSessionTokenAndCallerIdentity(t *testing.T) {
	f := newFixture(t)
	env := f.env
	now := env.Clock.Now()
	role := env.AddRole(t, "r", "", trustAccount, 0)
	sessionCaller := env.Session(t, &auth.Session{RoleARN: role.ARN, RoleID: role.ID, RoleName: "r", Type: auth.AssumedRole, SessionName: "x", Issued: now, Expires: now.Add(time.Hour)})

	tests := []struct {
		name      string
		caller    *auth.Principal
		in        GetSessionTokenInput
		code, msg string
		expires   time.Time
		wantARN   string
	}{
		{name: "user, default duration", caller: env.User(f.alice), expires: now.Add(12 * time.Hour), wantARN: f.alice.ARN},
		{name: "user, maximum", caller: env.User(f.alice), in: GetSessionTokenInput{DurationSeconds: 129600}, expires: now.Add(36 * time.Hour), wantARN: f.alice.ARN},
		{name: "root is held to one hour", caller: env.Root(), in: GetSessionTokenInput{DurationSeconds: 7200}, expires: now.Add(time.Hour), wantARN: "arn:aws:iam::123456789012:root"},
		{name: "too short", caller: env.User(f.alice), in: GetSessionTokenInput{DurationSeconds: 60},
			code: "ValidationError", msg: "1 validation error detected: Value '60' at 'durationSeconds' failed to satisfy constraint: Member must have value greater than or equal to 900"},
		{name: "too long", caller: env.User(f.alice), in: GetSessionTokenInput{DurationSeconds: 129601},
			code: "ValidationError", msg: "1 validation error detected: Value '129601' at 'durationSeconds' failed to satisfy constraint: Member must have value less than or equal to 129600"},
		{name: "session credentials", caller: sessionCaller, code: "AccessDenied", msg: "Cannot call GetSessionToken with session credentials"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, err := f.svc.GetSessionToken(f.as(tc.caller), &tc.in)
			if tc.code != "" {
				wantErr(t, err, tc.code, map[string]int{"ValidationError": 400, "AccessDenied": 403}[tc.code], tc.msg)
				return
			}
			if err != nil {
				t.Fatalf("GetSessionToken: %v", err)
			}
			if !out.Credentials.Expiration.Equal(tc.expires) {
				t.Errorf("Expiration = %v, want %v", out.Credentials.Expiration, tc.expires)
			}
			// The credentials identify the same caller.
			_, id, err := env.Resolver.LookupSecret(t.Context(), out.Credentials.AccessKeyID, out.Credentials.SessionToken)
			if err != nil {
				t.Fatalf("resolve: %v", err)
			}
			p := id.(*auth.Principal)
			gci, err := f.svc.GetCallerIdentity(f.as(p), &GetCallerIdentityInput{})
			if err != nil {
				t.Fatal(err)
			}
			if gci.Arn != tc.wantARN || gci.Account != acct || gci.UserID != tc.caller.UserID {
				t.Errorf("GetCallerIdentity = %+v", gci)
			}
			// GetSessionToken credentials cannot get another session token.
			_, err = f.svc.GetSessionToken(f.as(p), &GetSessionTokenInput{})
			wantErr(t, err, "AccessDenied", 403, "Cannot call GetSessionToken with session credentials")
		})
	}

	t.Run("caller identity of a role session", func(t *testing.T) {
		out, err := f.svc.GetCallerIdentity(f.as(sessionCaller), &GetCallerIdentityInput{})
		if err != nil {
			t.Fatal(err)
		}
		want := &GetCallerIdentityOutput{UserID: role.ID + ":x", Account: acct, Arn: "arn:aws:sts::123456789012:assumed-role/r/x"}
		if *out != *want {
			t.Errorf("GetCallerIdentity = %+v, want %+v", out, want)
		}
	})
	t.Run("unsigned", func(t *testing.T) {
		_, err := f.svc.GetCallerIdentity(t.Context(), &GetCallerIdentityInput{})
		wantErr(t, err, "MissingAuthenticationToken", 403, "Request is missing Authentication Token")
	})
}

func TestAudit(t *testing.T) {
	f := newFixture(t)
	f.env.AddRole(t, "shared", "", trustAccount, 0)
	if _, err := f.svc.AssumeRole(f.as(f.env.User(f.alice)), &AssumeRoleInput{RoleArn: roleARN("shared"), RoleSessionName: "ok"}); err != nil {
		t.Fatal(err)
	}
	_, err := f.svc.AssumeRole(f.as(f.env.User(f.bob)), &AssumeRoleInput{RoleArn: roleARN("shared"), RoleSessionName: "no"})
	wantErr(t, err, "AccessDenied", 403, "")
	got := fmt.Sprint(len(f.audit))
	if got != "2" || f.audit[0].Decision != "issued" || f.audit[1].Decision != "refused" || f.audit[1].Reason != "AccessDenied" || f.audit[0].Kind != "sts:AssumeRole" {
		t.Fatalf("audit = %+v", f.audit)
	}
	if strings.Contains(f.audit[0].Fields, "SecretAccessKey") || !strings.Contains(f.audit[0].Fields, `"role":"arn:aws:iam::123456789012:role/shared"`) {
		t.Errorf("fields = %s", f.audit[0].Fields)
	}
}
