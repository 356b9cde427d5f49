// Command carts is the workshop's carts service as the real-node tests run
// it in a pod: an unmodified AWS SDK for Go v2 application that takes its
// credentials from the SDK's default chain (the container credentials
// provider, when podid's webhook injected it), prints the caller's ARN from
// STS GetCallerIdentity, writes and reads one cart in DynamoDB
// (eks-workshop-carts, through the endpoint in AWS_ENDPOINT_URL_DYNAMODB),
// and then polls its credentials every CARTS_POLL_INTERVAL (default 100ms),
// bypassing the SDK's cache, so that a test sees every refresh the node
// agent answers.
//
// Every line starts with "carts: ". It never prints a secret: of the
// kubelet-projected token only its claims, of the credentials only the
// access key ID's prefix. Without credentials it says why and waits for
// SIGTERM (a Deployment's pod stays Running, its log readable).
package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

const table = "eks-workshop-carts"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if err := run(ctx); err != nil {
		logf("%v", err)
	}
	<-ctx.Done()
}

func logf(format string, args ...any) {
	fmt.Printf("carts: "+format+"\n", args...)
}

func run(ctx context.Context) error {
	for _, k := range []string{"AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"} {
		if v, ok := os.LookupEnv(k); ok {
			logf("%s=%s", k, v)
		} else {
			logf("%s is not set", k)
		}
	}
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return fmt.Errorf("loading the SDK's configuration: %w", err)
	}
	creds, err := cfg.Credentials.Retrieve(ctx)
	if err != nil {
		return fmt.Errorf("no credentials: %w", err)
	}
	logf("credentials from %s, access key %s…", creds.Source, creds.AccessKeyID[:min(4, len(creds.AccessKeyID))])
	if f := os.Getenv("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"); f != "" {
		claims, err := tokenClaims(f)
		if err != nil {
			return err
		}
		logf("token %s", claims)
	}

	id, err := sts.NewFromConfig(cfg).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		return fmt.Errorf("GetCallerIdentity: %w", err)
	}
	logf("caller arn=%s", aws.ToString(id.Arn))

	cart := os.Getenv("HOSTNAME") // the pod's name
	ddb := dynamodb.NewFromConfig(cfg)
	item := map[string]ddbtypes.AttributeValue{
		"id":         &ddbtypes.AttributeValueMemberS{Value: cart},
		"customerId": &ddbtypes.AttributeValueMemberS{Value: "customer-" + cart},
	}
	if _, err := ddb.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table), Item: item}); err != nil {
		return fmt.Errorf("PutItem: %w", err)
	}
	logf("PutItem %s id=%s ok", table, cart)
	got, err := ddb.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(table), ConsistentRead: aws.Bool(true),
		Key: map[string]ddbtypes.AttributeValue{"id": &ddbtypes.AttributeValueMemberS{Value: cart}}})
	if err != nil {
		return fmt.Errorf("GetItem: %w", err)
	}
	customer, _ := got.Item["customerId"].(*ddbtypes.AttributeValueMemberS)
	if customer == nil {
		return fmt.Errorf("GetItem %s id=%s: no customerId in %v", table, cart, got.Item)
	}
	logf("GetItem %s id=%s customerId=%s", table, cart, customer.Value)
	return poll(ctx, cfg)
}

// poll retrieves the credentials from the provider itself (the SDK's cache
// invalidated each time) every interval, printing each failure and a
// running count every second.
func poll(ctx context.Context, cfg aws.Config) error {
	interval := 100 * time.Millisecond
	if v := os.Getenv("CARTS_POLL_INTERVAL"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			return fmt.Errorf("CARTS_POLL_INTERVAL: %w", err)
		}
		interval = d
	}
	cache, ok := cfg.Credentials.(*aws.CredentialsCache)
	if !ok {
		return fmt.Errorf("credentials provider %T is not the SDK's cache", cfg.Credentials)
	}
	var polls, failed int
	report := time.NewTicker(time.Second)
	defer report.Stop()
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			logf("polls=%d ok=%d failed=%d", polls, polls-failed, failed)
			return nil
		case <-report.C:
			logf("polls=%d ok=%d failed=%d", polls, polls-failed, failed)
		case <-tick.C:
			cache.Invalidate()
			rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			_, err := cache.Retrieve(rctx)
			cancel()
			if ctx.Err() != nil {
				continue
			}
			polls++
			if err != nil {
				failed++
				logf("refresh failed: %v", err)
			}
		}
	}
}

// tokenClaims reads the projected service-account token and describes
// its claims (never the token).
func tokenClaims(file string) (string, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("reading the token: %w", err)
	}
	parts := strings.Split(strings.TrimSpace(string(b)), ".")
	if len(parts) != 3 {
		return "", fmt.Errorf("the token in %s is not a JWT", file)
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return "", fmt.Errorf("the token's payload: %w", err)
	}
	var c struct {
		Aud []string `json:"aud"`
		Sub string   `json:"sub"`
		Iat int64    `json:"iat"`
		Exp int64    `json:"exp"`
		K8s struct {
			Pod struct {
				Name string `json:"name"`
			} `json:"pod"`
			Node struct {
				Name string `json:"name"`
			} `json:"node"`
		} `json:"kubernetes.io"`
	}
	if err := json.Unmarshal(payload, &c); err != nil {
		return "", fmt.Errorf("the token's claims: %w", err)
	}
	return fmt.Sprintf("aud=%s sub=%s pod=%s node=%s lifetime=%ds bytes=%d",
		strings.Join(c.Aud, ","), c.Sub, c.K8s.Pod.Name, c.K8s.Node.Name, c.Exp-c.Iat, len(b)), nil
}
