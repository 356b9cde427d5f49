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
