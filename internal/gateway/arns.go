package gateway

import (
	"bytes"
	"hash/crc32"
	"io"
	"net/http"
	"regexp"
	"strconv"

	"github.com/podid/podid/internal/arn"
)

// upstreamDDBARN matches the head of a DynamoDB ARN an upstream writes
// with its own partition, region and account (dynalite's
// arn:aws:dynamodb:us-east-1:000000000000:, DynamoDB Local's, another AWS
// account's).
var upstreamDDBARN = regexp.MustCompile(`arn:aws[a-z-]*:dynamodb:[a-z0-9-]*:[0-9]{12}:`)

// rewriteDDBARNs puts podid's partition, region and account into every
// DynamoDB ARN of an upstream's answer, so that the ARNs clients see are
// the ones the gateway authorizes (a policy written from them matches).
func rewriteDDBARNs(body []byte, partition, region, account string) []byte {
	if !bytes.Contains(body, []byte("arn:")) {
		return body
	}
	// An empty resource leaves the head: arn:PARTITION:dynamodb:REGION:ACCOUNT:
	head := []byte(arn.ARN{Partition: partition, Service: "dynamodb", Region: region, AccountID: account}.String())
	return upstreamDDBARN.ReplaceAllLiteral(body, head)
}

// copyDDBResponse streams a DynamoDB upstream's answer to the client with
// its ARNs rewritten: a body up to limit bytes is read whole, rewritten,
// and sent with its new length and, when the upstream sent one, its new
// X-Amz-Crc32 (the SDKs check it). A compressed or larger body is streamed
// as it is.
func (g *Gateway) copyDDBResponse(w http.ResponseWriter, resp *http.Response) error {
	if resp.Header.Get("Content-Encoding") != "" && resp.Header.Get("Content-Encoding") != "identity" {
		return copyResponse(w, resp)
	}
	limit := g.cfg.MaxBodyBytes
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return err
	}
	if int64(len(body)) > limit {
		resp.Body = struct {
			io.Reader
			io.Closer
		}{io.MultiReader(bytes.NewReader(body), resp.Body), resp.Body}
		return copyResponse(w, resp)
	}
	out := rewriteDDBARNs(body, g.cfg.Partition, g.cfg.Region, g.cfg.AccountID)
	resp.Header.Set("Content-Length", strconv.Itoa(len(out)))
	resp.ContentLength = int64(len(out))
	if resp.Header.Get("X-Amz-Crc32") != "" {
		resp.Header.Set("X-Amz-Crc32", strconv.FormatUint(uint64(crc32.ChecksumIEEE(out)), 10))
	}
	resp.Body = struct {
		io.Reader
		io.Closer
	}{bytes.NewReader(out), resp.Body}
	return copyResponse(w, resp)
}
