package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
)

// data makes the workshop carts pod's data calls with the SDK's own
// DynamoDB and S3 clients (endpoints from AWS_ENDPOINT_URL_DYNAMODB and
// AWS_ENDPOINT_URL_S3) and prints one line per call: what came back, or
// the error code of a refused call.
func data(ctx context.Context, cfg aws.Config) error {
	ddb := dynamodb.NewFromConfig(cfg)
	item := map[string]ddbtypes.AttributeValue{
		"id":         &ddbtypes.AttributeValueMemberS{Value: "go-1"},
		"customerId": &ddbtypes.AttributeValueMemberS{Value: "c-go"},
	}
	if _, err := ddb.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String("eks-workshop-carts"), Item: item}); err != nil {
		return fmt.Errorf("PutItem: %w", err)
	}
	got, err := ddb.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String("eks-workshop-carts"),
		Key: map[string]ddbtypes.AttributeValue{"id": &ddbtypes.AttributeValueMemberS{Value: "go-1"}}})
	if err != nil {
		return fmt.Errorf("GetItem: %w", err)
	}
	customer, _ := got.Item["customerId"].(*ddbtypes.AttributeValueMemberS)
	if customer == nil {
		return errors.New("GetItem: no customerId in the item")
	}
	fmt.Println("dynamodb get", customer.Value)
	q, err := ddb.Query(ctx, &dynamodb.QueryInput{TableName: aws.String("eks-workshop-carts"), IndexName: aws.String("idx_global_customerId"),
		KeyConditionExpression:    aws.String("customerId = :c"),
		ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{":c": &ddbtypes.AttributeValueMemberS{Value: "c-go"}}})
	if err != nil {
		return fmt.Errorf("Query: %w", err)
	}
	fmt.Println("dynamodb query", q.Count)
	_, err = ddb.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String("other-table"),
		Item: map[string]ddbtypes.AttributeValue{"pk": &ddbtypes.AttributeValueMemberS{Value: "x"}}})
	fmt.Println("dynamodb other-table", errorCode(err))

	s3c := s3.NewFromConfig(cfg)
	for _, key := range []string{"carts/go.txt", "carts/go what?#&.txt"} {
		_, err := s3c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("carts-assets"), Key: aws.String(key),
			Body: strings.NewReader("from go"), ServerSideEncryption: s3types.ServerSideEncryptionAes256})
		if err != nil {
			return fmt.Errorf("PutObject %s: %w", key, err)
		}
		obj, err := s3c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("carts-assets"), Key: aws.String(key)})
		if err != nil {
			return fmt.Errorf("GetObject %s: %w", key, err)
		}
		body, err := io.ReadAll(obj.Body)
		obj.Body.Close()
		if err != nil {
			return fmt.Errorf("GetObject %s: %w", key, err)
		}
		fmt.Printf("s3 get %q %s\n", key, body)
	}
	_, err = s3c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("carts-assets"), Key: aws.String("orders/go.txt"),
		Body: strings.NewReader("from go"), ServerSideEncryption: s3types.ServerSideEncryptionAes256})
	fmt.Println("s3 orders/", errorCode(err))
	return nil
}

// errorCode is the AWS error code of err, "allowed" when there is none.
func errorCode(err error) string {
	var api smithy.APIError
	switch {
	case err == nil:
		return "allowed"
	case errors.As(err, &api):
		return api.ErrorCode()
	default:
		return "error: " + err.Error()
	}
}
