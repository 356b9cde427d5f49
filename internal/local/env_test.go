package local

import (
	"os"
	"reflect"
	"testing"
)

func TestChildEnv(t *testing.T) {
	p := PodEnv{
		Endpoint:       "http://127.0.0.1:8080",
		Region:         "us-west-2",
		CredentialsURI: "http://127.0.0.1:40001/v1/credentials",
		TokenFile:      "/tmp/podid-exec-1/eks-pod-identity-token",
	}
	pod := []string{
		"AWS_STS_REGIONAL_ENDPOINTS=regional",
		"AWS_DEFAULT_REGION=us-west-2",
		"AWS_REGION=us-west-2",
		"AWS_CONTAINER_CREDENTIALS_FULL_URI=http://127.0.0.1:40001/v1/credentials",
		"AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE=/tmp/podid-exec-1/eks-pod-identity-token",
		"AWS_ENDPOINT_URL=http://127.0.0.1:8080",
		"AWS_CONFIG_FILE=" + os.DevNull,
		"AWS_SHARED_CREDENTIALS_FILE=" + os.DevNull,
		"AWS_EC2_METADATA_DISABLED=true",
	}
	for _, tc := range []struct {
		name string
		base []string
		keep []string
	}{
		{name: "empty", base: nil, keep: nil},
		{
			name: "the caller's AWS settings are all removed",
			base: []string{
				"PATH=/usr/bin", "AWS_ACCESS_KEY_ID=AKIAROOT", "AWS_SECRET_ACCESS_KEY=s", "AWS_SESSION_TOKEN=t",
				"AWS_PROFILE=admin", "AWS_SHARED_CREDENTIALS_FILE=/home/me/.aws/credentials", "AWS_CONFIG_FILE=/home/me/.aws/config",
				"AWS_WEB_IDENTITY_TOKEN_FILE=/var/run/token", "AWS_ROLE_ARN=arn:aws:iam::1:role/r", "AWS_ROLE_SESSION_NAME=x",
				"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI=/v2/credentials", "AWS_CONTAINER_CREDENTIALS_FULL_URI=http://169.254.170.23/v1/credentials",
				"AWS_CONTAINER_AUTHORIZATION_TOKEN=Bearer x", "AWS_ENDPOINT_URL_STS=https://sts.example", "AWS_DEFAULT_OUTPUT=table",
				"HOME=/home/me",
			},
			keep: []string{"PATH=/usr/bin", "HOME=/home/me"},
		},
		{
			name: "other variables keep their order, lowercase aws_ included",
			base: []string{"B=2", "A=1", "aws_like=kept", "PODID_DEV_DATA_DIR=/d", "XAWS_=y"},
			keep: []string{"B=2", "A=1", "aws_like=kept", "PODID_DEV_DATA_DIR=/d", "XAWS_=y"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := ChildEnv(tc.base, p)
			want := append(append([]string{}, tc.keep...), pod...)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("ChildEnv =\n%q\nwant\n%q", got, want)
			}
		})
	}
}

// TestChildEnvBrokerMode: without an endpoint (broker mode, where the
// pod's credentials are AWS's) no AWS_ENDPOINT_URL is set, so the
// command's SDK calls AWS itself; the caller's endpoint settings are still
// removed.
func TestChildEnvBrokerMode(t *testing.T) {
	p := PodEnv{Region: "us-west-2", CredentialsURI: "http://127.0.0.1:40001/v1/credentials", TokenFile: "/t/tok"}
	got := ChildEnv([]string{"AWS_ENDPOINT_URL=http://127.0.0.1:8080", "AWS_ENDPOINT_URL_STS=http://x", "HOME=/h"}, p)
	want := []string{
		"HOME=/h",
		"AWS_STS_REGIONAL_ENDPOINTS=regional",
		"AWS_DEFAULT_REGION=us-west-2",
		"AWS_REGION=us-west-2",
		"AWS_CONTAINER_CREDENTIALS_FULL_URI=http://127.0.0.1:40001/v1/credentials",
		"AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE=/t/tok",
		"AWS_CONFIG_FILE=" + os.DevNull,
		"AWS_SHARED_CREDENTIALS_FILE=" + os.DevNull,
		"AWS_EC2_METADATA_DISABLED=true",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ChildEnv =\n%q\nwant\n%q", got, want)
	}
}

func TestChildEnvExtra(t *testing.T) {
	p := PodEnv{Endpoint: "http://127.0.0.1:8080", Region: "us-west-2", CredentialsURI: "http://127.0.0.1:40001/v1/credentials", TokenFile: "/t/tok"}
	pod := func(endpoint string) []string {
		return []string{
			"AWS_STS_REGIONAL_ENDPOINTS=regional",
			"AWS_DEFAULT_REGION=us-west-2",
			"AWS_REGION=us-west-2",
			"AWS_CONTAINER_CREDENTIALS_FULL_URI=http://127.0.0.1:40001/v1/credentials",
			"AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE=/t/tok",
			"AWS_ENDPOINT_URL=" + endpoint,
			"AWS_CONFIG_FILE=" + os.DevNull,
			"AWS_SHARED_CREDENTIALS_FILE=" + os.DevNull,
			"AWS_EC2_METADATA_DISABLED=true",
		}
	}
	for _, tc := range []struct {
		name        string
		base, extra []string
		want        []string
	}{
		{
			name:  "per-service endpoints are added after the pod's variables",
			base:  []string{"PATH=/usr/bin", "AWS_ENDPOINT_URL_DYNAMODB=http://caller.example"},
			extra: []string{"AWS_ENDPOINT_URL_DYNAMODB=http://127.0.0.1:8090", "AWS_ENDPOINT_URL_S3=http://127.0.0.1:8090"},
			want: append(append([]string{"PATH=/usr/bin"}, pod("http://127.0.0.1:8080")...),
				"AWS_ENDPOINT_URL_DYNAMODB=http://127.0.0.1:8090", "AWS_ENDPOINT_URL_S3=http://127.0.0.1:8090"),
		},
		{
			name:  "a pod variable is replaced in its place; the last of repeated names wins",
			extra: []string{"AWS_ENDPOINT_URL=http://a", "AWS_ENDPOINT_URL=http://b"},
			want:  pod("http://b"),
		},
		{
			name:  "a kept variable of the caller is replaced, values may hold = and be empty",
			base:  []string{"HOME=/home/me", "PATH=/usr/bin", "PATH=/dup"},
			extra: []string{"PATH=/opt/bin:/usr/bin", "Q=a=b", "EMPTY="},
			want:  append(append([]string{"HOME=/home/me", "PATH=/opt/bin:/usr/bin"}, pod("http://127.0.0.1:8080")...), "Q=a=b", "EMPTY="),
		},
		{
			name:  "a name is matched whole",
			base:  []string{"AB=1"},
			extra: []string{"A=2"},
			want:  append(append([]string{"AB=1"}, pod("http://127.0.0.1:8080")...), "A=2"),
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := p
			q.Extra = tc.extra
			if got := ChildEnv(tc.base, q); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("ChildEnv =\n%q\nwant\n%q", got, tc.want)
			}
		})
	}
}

func TestCheckExtraEnv(t *testing.T) {
	for _, tc := range []struct {
		kvs  []string
		want string
	}{
		{kvs: nil},
		{kvs: []string{"AWS_ENDPOINT_URL_S3=http://127.0.0.1:8090", "EMPTY=", "Q=a=b"}},
		{kvs: []string{"OK=1", "AWS_ENDPOINT_URL_S3"}, want: `"AWS_ENDPOINT_URL_S3" is not KEY=VALUE`},
		{kvs: []string{"=x"}, want: `"=x" names no variable before its =`},
		{kvs: []string{"A=x\x00y"}, want: `"A=x\x00y" holds a NUL byte, which no environment can carry`},
	} {
		err := CheckExtraEnv(tc.kvs)
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != tc.want {
			t.Errorf("CheckExtraEnv(%q) = %q, want %q", tc.kvs, got, tc.want)
		}
	}
}
