// Command goclient is an unmodified AWS SDK for Go v2 application: it takes
// its credentials from the SDK's default chain (in the agent's end-to-end
// tests, the container credentials provider pointed at the node agent by
// AWS_CONTAINER_CREDENTIALS_FULL_URI and AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE)
// and prints the caller's ARN from STS GetCallerIdentity.
//
// With -credentials-only it resolves the credentials and prints their access
// key ID and source without calling any service. With -data it makes the
// workshop carts pod's DynamoDB and S3 calls instead (see data.go).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

func main() {
	credsOnly := flag.Bool("credentials-only", false, "print the resolved access key ID and source instead of calling STS")
	dataCalls := flag.Bool("data", false, "make the carts pod's DynamoDB and S3 calls instead of calling STS")
	flag.Parse()
	if err := run(*credsOnly, *dataCalls); err != nil {
		fmt.Fprintln(os.Stderr, "goclient:", err)
		os.Exit(1)
	}
}

func run(credsOnly, dataCalls bool) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return fmt.Errorf("load configuration: %w", err)
	}
	if dataCalls {
		return data(ctx, cfg)
	}
	if credsOnly {
		c, err := cfg.Credentials.Retrieve(ctx)
		if err != nil {
			return fmt.Errorf("retrieve credentials: %w", err)
		}
		fmt.Println(c.AccessKeyID, c.Source)
		return nil
	}
	out, err := sts.NewFromConfig(cfg).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		return fmt.Errorf("GetCallerIdentity: %w", err)
	}
	fmt.Println(aws.ToString(out.Arn))
	return nil
}
