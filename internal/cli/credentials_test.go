package cli

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
)

// TestRereadingCredentialsFileAppearsLater: the webhook's (and the agent's
// --rotate-credentials) provider finds a shared-credentials file that did
// not exist when it was made, as when the chart's post-install Job creates
// the Secret after the pod started; until then it fails without IMDS.
func TestRereadingCredentialsFileAppearsLater(t *testing.T) {
	file := filepath.Join(t.TempDir(), "credentials")
	for k, v := range map[string]string{
		"AWS_SHARED_CREDENTIALS_FILE": file, "AWS_CONFIG_FILE": os.DevNull, "AWS_EC2_METADATA_DISABLED": "true",
		"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": "", "AWS_SESSION_TOKEN": "", "AWS_PROFILE": "",
		"AWS_CONTAINER_CREDENTIALS_FULL_URI": "", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": "", "AWS_WEB_IDENTITY_TOKEN_FILE": "",
	} {
		t.Setenv(k, v)
	}
	creds := aws.NewCredentialsCache(rereadingCredentials{opts: []func(*config.LoadOptions) error{config.WithRegion("us-west-2")}})
	ctx := context.Background()
	if c, err := creds.Retrieve(ctx); err == nil {
		t.Fatalf("credentials before the file exists: %s", c.AccessKeyID)
	}
	if err := os.WriteFile(file, []byte("[default]\naws_access_key_id = AKIAEXAMPLE000000001\naws_secret_access_key = secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := creds.Retrieve(ctx)
	if err != nil {
		t.Fatalf("credentials after the file appeared: %v", err)
	}
	if c.AccessKeyID != "AKIAEXAMPLE000000001" || !c.CanExpire {
		t.Errorf("credentials = %s (CanExpire %t), want the file's key, re-read within a minute", c.AccessKeyID, c.CanExpire)
	}
}
