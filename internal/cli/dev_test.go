package cli

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/podid/podid/internal/broker"
	"github.com/podid/podid/internal/gateway"
)

// recordingListener records Close calls into a shared log.
type recordingListener struct {
	net.Listener
	log *[]string
}

func (l recordingListener) Close() error {
	*l.log = append(*l.log, "close listener")
	return l.Listener.Close()
}

// TestStopFirstListener: closing dev's server listener stops the gateway
// first, once, however often it is closed; a gateway set after the close
// is stopped at once.
func TestStopFirstListener(t *testing.T) {
	stop := func(log *[]string) func() { return func() { *log = append(*log, "stop gateway") } }
	for _, tc := range []struct {
		name string
		run  func(l *stopFirstListener, log *[]string)
		want string
	}{
		{"close twice", func(l *stopFirstListener, log *[]string) { l.setStop(stop(log)); l.Close(); l.Close() }, "stop gateway,close listener,close listener"},
		{"set after close", func(l *stopFirstListener, log *[]string) { l.Close(); l.setStop(stop(log)); l.Close() }, "close listener,stop gateway,close listener"},
		{"no gateway", func(l *stopFirstListener, log *[]string) { l.Close() }, "close listener"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			inner, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			var log []string
			l := &stopFirstListener{Listener: recordingListener{Listener: inner, log: &log}}
			tc.run(l, &log)
			if got := strings.Join(log, ","); got != tc.want {
				t.Errorf("calls %s, want %s", got, tc.want)
			}
		})
	}
}

// TestDevGatewayFlags: --gateway-listen needs an upstream, and a bad
// gateway flag fails before anything starts.
func TestDevGatewayFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--gateway-listen", "127.0.0.1:0"}, "--gateway-listen needs --dynamodb-upstream or --s3-upstream"},
		{[]string{"--gateway-listen", "127.0.0.1:99999", "--s3-upstream", "http://127.0.0.1:9"}, "gateway: listen tcp: address 99999: invalid port"},
	} {
		args := append([]string{"dev", "--data-dir", t.TempDir(), "--listen", "127.0.0.1:0"}, tc.args...)
		if err := Run(context.Background(), args); err == nil || err.Error() != tc.want {
			t.Errorf("dev %v: %v, want %q", tc.args, err, tc.want)
		}
	}
}

func TestGatewayExecHints(t *testing.T) {
	const url = "http://127.0.0.1:8090"
	for _, tc := range []struct {
		dynamo, s3     string
		services, flag string
	}{
		{"http://d", "", "DynamoDB", " --env AWS_ENDPOINT_URL_DYNAMODB=" + url},
		{"", "http://s", "S3", " --env AWS_ENDPOINT_URL_S3=" + url},
		{"http://d", "http://s", "DynamoDB and S3", " --env AWS_ENDPOINT_URL_DYNAMODB=" + url + " --env AWS_ENDPOINT_URL_S3=" + url},
	} {
		f := &gatewayFlags{dynamoUpstream: tc.dynamo, s3Upstream: tc.s3}
		if got := f.services(); got != tc.services {
			t.Errorf("services(%q, %q) = %q, want %q", tc.dynamo, tc.s3, got, tc.services)
		}
		if got := f.execEnvFlags(url); got != tc.flag {
			t.Errorf("execEnvFlags(%q, %q) = %q, want %q", tc.dynamo, tc.s3, got, tc.flag)
		}
	}
}

// TestDevBusyPort: a dev whose --listen port is taken names the flag and
// leaves nothing in its data directory (no dev.lock, no store).
func TestDevBusyPort(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	addr := busy.Addr().String()
	dir := filepath.Join(t.TempDir(), "dev")
	err = Run(context.Background(), []string{"dev", "--data-dir", dir, "--listen", addr})
	want := "--listen " + addr + " is in use (another podid dev or server?): stop it, or give --listen with a free port (--listen 127.0.0.1:0 picks one): listen tcp " + addr + ": bind: address already in use"
	if err == nil || err.Error() != want {
		t.Fatalf("dev on a busy port: %v, want %q", err, want)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("data directory after a failed start: %v, want none", err)
	}
}

// TestGatewayUpstreamCredentials: an upstream's key comes from its file,
// else the environment; a loopback upstream needs neither; any other
// upstream without a key fails before the data directory is touched,
// naming the flag that fixes it.
func TestGatewayUpstreamCredentials(t *testing.T) {
	credsFile := filepath.Join(t.TempDir(), "creds")
	if err := os.WriteFile(credsFile, []byte("[default]\naws_access_key_id = FILEKEY\naws_secret_access_key = filesecret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"AWS_ACCESS_KEY_ID": "ENVKEY", "AWS_SECRET_ACCESS_KEY": "envsecret"}
	for _, tc := range []struct {
		name    string
		f       gatewayFlags
		env     map[string]string
		dynamo  string
		s3      string
		wantErr string
	}{
		{name: "loopback, nothing given", f: gatewayFlags{dynamoUpstream: "http://127.0.0.1:8000", s3Upstream: "http://localhost:4568"}, dynamo: "S3RVER", s3: "S3RVER"},
		{name: "IPv6 loopback", f: gatewayFlags{dynamoUpstream: "http://[::1]:8000"}, dynamo: "S3RVER"},
		{name: "environment", f: gatewayFlags{dynamoUpstream: "https://dynamodb.eu-west-1.amazonaws.com"}, env: env, dynamo: "ENVKEY"},
		{name: "file over environment", f: gatewayFlags{s3Upstream: "https://s3.example.com", s3CredsFile: credsFile}, env: env, s3: "FILEKEY"},
		{name: "remote DynamoDB, nothing given", f: gatewayFlags{dynamoUpstream: "https://dynamodb.eu-west-1.amazonaws.com"},
			wantErr: "the DynamoDB upstream https://dynamodb.eu-west-1.amazonaws.com: no credentials to sign forwarded requests with: give --dynamodb-upstream-credentials FILE (a shared-credentials file) or set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (a loopback upstream needs none)"},
		{name: "remote S3, nothing given", f: gatewayFlags{dynamoUpstream: "http://127.0.0.1:8000", s3Upstream: "http://minio.internal:9000"},
			wantErr: "the S3 upstream http://minio.internal:9000: no credentials to sign forwarded requests with: give --s3-upstream-credentials FILE (a shared-credentials file) or set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (a loopback upstream needs none)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := tc.f
			f.getenv = func(k string) string { return tc.env[k] }
			err := f.checkUpstreams()
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr {
					t.Fatalf("checkUpstreams: %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range []struct {
				got  *gateway.Credentials
				want string
			}{{f.dynamoCreds, tc.dynamo}, {f.s3Creds, tc.s3}} {
				if c.want == "" {
					if c.got != nil {
						t.Errorf("credentials for an unset upstream: %+v", c.got)
					}
					continue
				}
				if c.got == nil || c.got.AccessKeyID != c.want || c.got.SecretAccessKey == "" {
					t.Errorf("credentials %+v, want key %s", c.got, c.want)
				}
			}
		})
	}
}

// TestGatewayWithoutCredentialsTouchesNothing: `podid gateway` and `podid
// dev --gateway-listen` without upstream credentials fail before opening
// or creating any store.
func TestGatewayWithoutCredentialsTouchesNothing(t *testing.T) {
	t.Setenv("AWS_ACCESS_KEY_ID", "")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "")
	dir := filepath.Join(t.TempDir(), "data")
	const up = "https://dynamodb.eu-west-1.amazonaws.com"
	for _, args := range [][]string{
		{"gateway", "--data-dir", dir, "--listen", "127.0.0.1:0", "--dynamodb-upstream", up},
		{"dev", "--data-dir", dir, "--listen", "127.0.0.1:0", "--gateway-listen", "127.0.0.1:0", "--dynamodb-upstream", up},
	} {
		err := Run(context.Background(), args)
		if err == nil || !strings.Contains(err.Error(), "give --dynamodb-upstream-credentials FILE") {
			t.Errorf("%s: %v, want the --dynamodb-upstream-credentials hint", args[0], err)
		}
		if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s: data directory %v, want none", args[0], err)
		}
	}
}

// TestBrokerBanner: in broker mode, dev's banner says where pods'
// credentials come from and names the broker's principal and the
// trust-policy command (whose flags exist); without an identity it says
// what to check.
func TestBrokerBanner(t *testing.T) {
	id := &broker.Identity{CallerARN: "arn:aws:iam::210987654321:user/podid-broker", PrincipalARN: "arn:aws:iam::210987654321:user/podid-broker", Account: "210987654321"}
	got := brokerBanner("eks-workshop", "eu-west-1", "", id, nil)
	want := "# Broker mode (--credential-issuer aws-sts): pods get real AWS credentials from STS (region eu-west-1, endpoint AWS's own), and their commands call AWS, not podid.\n" +
		"# The broker acts as arn:aws:iam::210987654321:user/podid-broker (account 210987654321); each association's role in AWS must trust it:\n" +
		"#   podid trust-policy --cluster eks-workshop --namespace NAMESPACE --service-account SERVICE-ACCOUNT\n"
	if got != want {
		t.Errorf("banner:\n%s\nwant:\n%s", got, want)
	}
	parsePodidCommand(t, "podid trust-policy --cluster eks-workshop --namespace NAMESPACE --service-account SERVICE-ACCOUNT")
	got = brokerBanner("eks-workshop", "eu-west-1", "http://127.0.0.1:9", nil, errors.New("broker: sts:GetCallerIdentity: InvalidClientTokenId"))
	want = "# Broker mode (--credential-issuer aws-sts): pods get real AWS credentials from STS (region eu-west-1, endpoint http://127.0.0.1:9), and their commands call AWS, not podid.\n" +
		"# podid's AWS identity is unknown (broker: sts:GetCallerIdentity: InvalidClientTokenId): check the AWS credentials podid dev runs with; pods will get no credentials until STS accepts them.\n"
	if got != want {
		t.Errorf("banner without identity:\n%s\nwant:\n%s", got, want)
	}
}

// TestDatabaseURLRefusals: --database-url is checked before anything
// starts: another scheme is refused (never a silent SQLite fallback),
// PostgreSQL needs the replicas' shared master key, and dev --fresh does not
// pretend to empty a shared database. No message shows the password.
func TestDatabaseURLRefusals(t *testing.T) {
	t.Setenv("PODID_MASTER_KEY", "")
	t.Setenv("PODID_MASTER_KEY_FILE", "")
	t.Setenv("PODID_DATABASE_URL", "")
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"other scheme", []string{"server", "--listen", "127.0.0.1:0", "--database-url", "mysql://u:s3cret@db/podid"}, "must be a postgres:// or postgresql:// URL"},
		{"no shared master key", []string{"server", "--listen", "127.0.0.1:0", "--database-url", "postgres://u:s3cret@127.0.0.1:1/podid"}, "every replica needs the same master key"},
		{"dev fresh", []string{"dev", "--fresh", "--listen", "127.0.0.1:0", "--database-url", "postgres://u:s3cret@127.0.0.1:1/podid"}, "--fresh empties the SQLite store"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "data")
			err := Run(context.Background(), append(tc.args, "--data-dir", dir))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error = %v, want one containing %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "s3cret") {
				t.Errorf("the error shows the password: %v", err)
			}
			if _, err := os.Stat(filepath.Join(dir, "master.key")); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("a master key was created in the data directory: %v", err)
			}
		})
	}
}
