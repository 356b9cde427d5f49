package e2e

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Policies of the gateway tests, besides the workshop's (workshopPolicy).
const (
	// itemsOnlyPolicy allows the item operations on the carts table and
	// its indexes, and nothing on the table itself.
	itemsOnlyPolicy = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["dynamodb:GetItem","dynamodb:PutItem","dynamodb:UpdateItem","dynamodb:DeleteItem","dynamodb:Query","dynamodb:BatchWriteItem","dynamodb:BatchGetItem"],"Resource":["arn:aws:dynamodb:us-west-2:123456789012:table/eks-workshop-carts","arn:aws:dynamodb:us-west-2:123456789012:table/eks-workshop-carts/index/*"]}]}`
	// namespacePolicy allows every table named after the caller's
	// namespace session tag.
	namespacePolicy = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"dynamodb:*","Resource":"arn:aws:dynamodb:us-west-2:123456789012:table/${aws:PrincipalTag/kubernetes-namespace}-*"}]}`
	// assetsPolicy lets a pod list, read and (encrypted) write its own
	// namespace's prefix of one bucket.
	assetsPolicy = `{"Version":"2012-10-17","Statement":[
 {"Effect":"Allow","Action":"s3:ListBucket","Resource":"arn:aws:s3:::carts-assets","Condition":{"StringLike":{"s3:prefix":"${aws:PrincipalTag/kubernetes-namespace}/*"}}},
 {"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::carts-assets/${aws:PrincipalTag/kubernetes-namespace}/*"},
 {"Effect":"Allow","Action":"s3:PutObject","Resource":"arn:aws:s3:::carts-assets/${aws:PrincipalTag/kubernetes-namespace}/*","Condition":{"StringEquals":{"s3:x-amz-server-side-encryption":"AES256"}}}]}`
)

// podRole creates a role pods may assume, gives it an inline policy and
// associates it with each (namespace, service account) in eks-workshop.
func podRole(t *testing.T, s *server, role, policy string, sas ...[2]string) {
	t.Helper()
	root := s.root()
	s.aws(t, root, "iam", "create-role", "--role-name", role, "--assume-role-policy-document", writeFile(t, "trust.json", workshopTrust))
	s.aws(t, root, "iam", "put-role-policy", "--role-name", role, "--policy-name", "data", "--policy-document", writeFile(t, "p.json", policy))
	for _, sa := range sas {
		s.aws(t, root, "eks", "create-pod-identity-association", "--cluster-name", "eks-workshop",
			"--role-arn", "arn:aws:iam::"+s.AccountID+":role/"+role, "--namespace", sa[0], "--service-account", sa[1])
	}
}

// deniedSentence is AWS's denial sentence for an identity-policy miss.
func deniedSentence(principal, action, resource string) string {
	return "User: " + principal + " is not authorized to perform: " + action + " on resource: " + resource +
		" because no identity-based policy allows the " + action + " action"
}

// TestGatewayWorkshopCartsDynamoDB is the workshop's carts service behind
// the gateway of `podid dev`, with dynalite as the store: a
// `podid exec -n carts -s carts` process creates items in
// eks-workshop-carts and queries its index with the AWS CLI and boto3, and
// is denied, with DynamoDB's AccessDeniedException and AWS's sentence, on
// another table; on DeleteTable once its association's role allows only
// item operations; and on another namespace's table once the role's policy
// uses ${aws:PrincipalTag/kubernetes-namespace}, while a
// `podid exec -n orders -s orders` process uses its own.
func TestGatewayWorkshopCartsDynamoDB(t *testing.T) {
	t.Parallel()
	g := startDevGateway(t, "--dynamodb-upstream", startDynalite(t))
	root := g.root()

	// The workshop's role and policy (its Terraform) and association.
	g.aws(t, root, "iam", "create-role", "--role-name", "eks-workshop-carts-dynamo", "--assume-role-policy-document", writeFile(t, "trust.json", workshopTrust))
	g.aws(t, root, "iam", "create-policy", "--policy-name", "eks-workshop-carts-dynamo", "--policy-document", writeFile(t, "p.json", workshopPolicy))
	g.aws(t, root, "iam", "attach-role-policy", "--role-name", "eks-workshop-carts-dynamo", "--policy-arn", "arn:aws:iam::"+g.AccountID+":policy/eks-workshop-carts-dynamo")
	g.aws(t, root, "eks", "create-pod-identity-association", "--cluster-name", "eks-workshop", "--role-arn", "arn:aws:iam::"+g.AccountID+":role/eks-workshop-carts-dynamo",
		"--namespace", "carts", "--service-account", "carts")
	// The roles the association is switched to below.
	podRole(t, g.server, "carts-items", itemsOnlyPolicy)
	podRole(t, g.server, "team-tables", namespacePolicy, [2]string{"orders", "orders"})

	// The root creates the tables through the gateway (the root is always
	// allowed), as the workshop's Terraform did.
	g.via.aws(t, root, "dynamodb", "create-table", "--table-name", "eks-workshop-carts",
		"--attribute-definitions", "AttributeName=id,AttributeType=S", "AttributeName=customerId,AttributeType=S",
		"--key-schema", "AttributeName=id,KeyType=HASH", "--billing-mode", "PAY_PER_REQUEST",
		"--global-secondary-indexes", "IndexName=idx_global_customerId,KeySchema=[{AttributeName=customerId,KeyType=HASH}],Projection={ProjectionType=ALL}")
	for _, table := range []string{"other-table", "carts-data", "orders-data"} {
		g.via.aws(t, root, "dynamodb", "create-table", "--table-name", table, "--attribute-definitions", "AttributeName=pk,AttributeType=S",
			"--key-schema", "AttributeName=pk,KeyType=HASH", "--billing-mode", "PAY_PER_REQUEST")
	}
	otherARN := "arn:aws:dynamodb:us-west-2:" + g.AccountID + ":table/other-table"
	cartsTableARN := "arn:aws:dynamodb:us-west-2:" + g.AccountID + ":table/eks-workshop-carts"

	// The workshop's policy: put, get and query the index with the CLI and
	// boto3; another table is denied to both.
	cartsARN, c := g.inPod(t, "carts", "carts",
		awsCLI("dynamodb", "put-item", "--table-name", "eks-workshop-carts",
			"--item", `{"id":{"S":"cart-1"},"customerId":{"S":"cust-1"},"items":{"L":[{"S":"sock"}]}}`),
		awsCLI("dynamodb", "get-item", "--table-name", "eks-workshop-carts", "--key", `{"id":{"S":"cart-1"}}`),
		awsCLI("dynamodb", "query", "--table-name", "eks-workshop-carts", "--index-name", "idx_global_customerId",
			"--key-condition-expression", "customerId = :c", "--expression-attribute-values", `{":c":{"S":"cust-1"}}`),
		boto3(`
import boto3
from boto3.dynamodb.conditions import Key
from botocore.exceptions import ClientError
t = boto3.resource("dynamodb").Table("eks-workshop-carts")
t.put_item(Item={"id": "cart-2", "customerId": "cust-1"})
r = t.query(IndexName="idx_global_customerId", KeyConditionExpression=Key("customerId").eq("cust-1"))
print(r["Count"])
try:
    boto3.client("dynamodb").put_item(TableName="other-table", Item={"pk": {"S": "x"}})
    print("allowed")
except ClientError as e:
    print(e.response["Error"]["Code"] + "|" + e.response["Error"]["Message"] + "|" + str(e.response["ResponseMetadata"]["HTTPStatusCode"]))
`),
		awsCLI("dynamodb", "get-item", "--table-name", "other-table", "--key", `{"pk":{"S":"x"}}`),
		// A table-level operation the workshop's policy allows on its table.
		awsCLI("dynamodb", "describe-table", "--table-name", "eks-workshop-carts"),
	)
	if !strings.HasPrefix(cartsARN, "arn:aws:sts::"+g.AccountID+":assumed-role/eks-workshop-carts-dynamo/eks-eks-worksh-carts-") {
		t.Fatalf("carts pod ARN = %q", cartsARN)
	}
	c[0].ok(t)
	if got := c[1].json(t); str(got, "Item", "customerId", "S") != "cust-1" {
		t.Errorf("get-item: %v", got)
	}
	if q := c[2].json(t); fmt.Sprint(q["Count"]) != "1" {
		t.Errorf("query on the index: %v", q)
	}
	out := c[3].ok(t)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 || lines[0] != "2" {
		t.Fatalf("boto3 output: %q", out)
	}
	if want := "AccessDeniedException|" + deniedSentence(cartsARN, "dynamodb:PutItem", otherARN) + "|400"; lines[1] != want {
		t.Errorf("boto3 denial:\n got %s\nwant %s", lines[1], want)
	}
	msg := c[4].failed(t)
	wantCode(t, msg, "AccessDeniedException")
	if want := deniedSentence(cartsARN, "dynamodb:GetItem", otherARN); !strings.Contains(msg, want) {
		t.Errorf("CLI denial: %s\nwant %s", msg, want)
	}
	// The ARNs are podid's, not dynalite's (us-east-1, 000000000000): the
	// CLI accepted the rewritten body under its recomputed CRC32.
	d := c[5].json(t)
	if str(d, "Table", "TableName") != "eks-workshop-carts" || str(d, "Table", "TableArn") != cartsTableARN {
		t.Errorf("describe-table: %v", d)
	}
	table, _ := d["Table"].(map[string]any)
	if gsis, _ := table["GlobalSecondaryIndexes"].([]any); len(gsis) != 1 || str(gsis[0].(map[string]any), "IndexArn") != cartsTableARN+"/index/idx_global_customerId" {
		t.Errorf("describe-table indexes: %v", table["GlobalSecondaryIndexes"])
	}
	// The gateway's operational endpoints: alive, ready (store and
	// dynalite), and its decisions counted by service, operation, outcome.
	for path, want := range map[string]string{
		"/healthz": "ok\n",
		"/readyz":  "ok\n",
		"/metrics": `podid_gateway_decisions_total{action="PutItem",outcome="denied",service="dynamodb"} 1`,
	} {
		resp, err := http.Get(g.url + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(body), want) {
			t.Errorf("gateway %s: %d, want %q in:\n%.2000s", path, resp.StatusCode, want, body)
		}
	}

	// Item operations only: items yes, DeleteTable no, and a batch is
	// checked per table (one allowed table does not carry another).
	g.reassociate(t, "carts", "carts", "carts-items")
	itemsARN, c := g.inPod(t, "carts", "carts",
		awsCLI("dynamodb", "put-item", "--table-name", "eks-workshop-carts", "--item", `{"id":{"S":"cart-3"},"customerId":{"S":"cust-2"}}`),
		awsCLI("dynamodb", "batch-write-item", "--request-items",
			`{"eks-workshop-carts":[{"PutRequest":{"Item":{"id":{"S":"cart-4"},"customerId":{"S":"cust-2"}}}}]}`),
		awsCLI("dynamodb", "delete-table", "--table-name", "eks-workshop-carts"),
		awsCLI("dynamodb", "batch-write-item", "--request-items",
			`{"eks-workshop-carts":[{"PutRequest":{"Item":{"id":{"S":"cart-5"}}}}],"other-table":[{"PutRequest":{"Item":{"pk":{"S":"y"}}}}]}`),
	)
	if !strings.HasPrefix(itemsARN, "arn:aws:sts::"+g.AccountID+":assumed-role/carts-items/eks-eks-worksh-carts-") {
		t.Fatalf("carts pod ARN after the role change = %q", itemsARN)
	}
	c[0].ok(t)
	c[1].ok(t)
	msg = c[2].failed(t)
	wantCode(t, msg, "AccessDeniedException")
	if want := deniedSentence(itemsARN, "dynamodb:DeleteTable", cartsTableARN); !strings.Contains(msg, want) {
		t.Errorf("delete-table denial: %s\nwant %s", msg, want)
	}
	if want := deniedSentence(itemsARN, "dynamodb:BatchWriteItem", otherARN); !strings.Contains(c[3].failed(t), want) {
		t.Errorf("batch denial: %s\nwant %s", c[3].err, want)
	}
	// The table still exists and cart-5 was not written.
	n := g.via.awsJSON(t, root, "dynamodb", "scan", "--table-name", "eks-workshop-carts", "--select", "COUNT")
	if fmt.Sprint(n["Count"]) != "4" {
		t.Errorf("items in eks-workshop-carts = %v, want 4", n["Count"])
	}

	// ${aws:PrincipalTag/kubernetes-namespace}: each namespace its tables.
	g.reassociate(t, "carts", "carts", "team-tables")
	teamCartsARN, c := g.inPod(t, "carts", "carts",
		awsCLI("dynamodb", "put-item", "--table-name", "carts-data", "--item", `{"pk":{"S":"a"}}`),
		awsCLI("dynamodb", "put-item", "--table-name", "orders-data", "--item", `{"pk":{"S":"c"}}`),
	)
	c[0].ok(t)
	msg = c[1].failed(t)
	wantCode(t, msg, "AccessDeniedException")
	if want := deniedSentence(teamCartsARN, "dynamodb:PutItem", "arn:aws:dynamodb:us-west-2:"+g.AccountID+":table/orders-data"); !strings.Contains(msg, want) {
		t.Errorf("namespace denial: %s\nwant %s", msg, want)
	}
	ordersARN, c := g.inPod(t, "orders", "orders",
		awsCLI("dynamodb", "put-item", "--table-name", "orders-data", "--item", `{"pk":{"S":"b"}}`),
		boto3(`
import boto3
from botocore.exceptions import ClientError
c = boto3.client("dynamodb")
print(c.get_item(TableName="orders-data", Key={"pk": {"S": "b"}})["Item"]["pk"]["S"])
try:
    c.scan(TableName="carts-data")
    print("allowed")
except ClientError as e:
    print(e.response["Error"]["Code"] + "|" + e.response["Error"]["Message"])
`),
	)
	if !strings.HasPrefix(ordersARN, "arn:aws:sts::"+g.AccountID+":assumed-role/team-tables/eks-eks-worksh-orders-") {
		t.Fatalf("orders pod ARN = %q", ordersARN)
	}
	c[0].ok(t)
	want := "b\nAccessDeniedException|" + deniedSentence(ordersARN, "dynamodb:Scan", "arn:aws:dynamodb:us-west-2:"+g.AccountID+":table/carts-data")
	if got := strings.TrimSpace(c[1].ok(t)); got != want {
		t.Errorf("orders pod with boto3:\n got %q\nwant %q", got, want)
	}

	// Every decision is audited with the pod's identity.
	g.audit.records(t, func(recs []map[string]any) bool {
		for _, r := range recs {
			if r["decision"] == "denied" && r["action"] == "dynamodb:DeleteTable" && r["resource"] == cartsTableARN &&
				r["namespace"] == "carts" && r["serviceAccount"] == "carts" && r["cluster"] == "eks-workshop" &&
				r["principal"] == itemsARN && r["kind"] == "gateway:dynamodb" && r["operation"] == "DeleteTable" {
				return true
			}
		}
		return false
	})
	g.audit.records(t, func(recs []map[string]any) bool {
		for _, r := range recs {
			if r["decision"] == "allowed" && r["action"] == "dynamodb:Query" &&
				r["resource"] == cartsTableARN+"/index/idx_global_customerId" && r["principal"] == cartsARN {
				return true
			}
		}
		return false
	})
}

// TestGatewayAuthenticationAndUpstreamErrors: bad credentials get
// DynamoDB's own authentication errors and never reach the store; an
// upstream that is down gives a clear error (a standalone `podid gateway`
// on podid dev's data directory); unmapped operations are denied; soft
// mode (podid dev's gateway) forwards what it would deny and records it.
func TestGatewayAuthenticationAndUpstreamErrors(t *testing.T) {
	t.Parallel()
	soft := startDevGateway(t, "--dynamodb-upstream", startDynalite(t), "--soft")
	down := startGateway(t, soft.server, "--dynamodb-upstream", "http://"+freeClosedPort(t))
	root := soft.root()

	wantCode(t, down.via.awsErr(t, creds{Key: "AKIAIOSFODNN7EXAMPLE", Secret: "x"}, "dynamodb", "list-tables"), "UnrecognizedClientException")
	wantCode(t, down.via.awsErr(t, creds{Key: root.Key, Secret: "wrong-secret"}, "dynamodb", "list-tables"), "InvalidSignatureException")

	out := down.via.python(t, root, `
import boto3, botocore.config
from botocore.exceptions import ClientError
c = boto3.client("dynamodb", config=botocore.config.Config(retries={"total_max_attempts": 1}))
try:
    c.list_tables()
except ClientError as e:
    print(e.response["Error"]["Code"] + "|" + str(e.response["ResponseMetadata"]["HTTPStatusCode"]) + "|" + e.response["Error"]["Message"])
`)
	if !strings.HasPrefix(out, "ServiceUnavailableException|503|podid gateway: the DynamoDB upstream at http://127.0.0.1:") ||
		!strings.Contains(out, "is unreachable") {
		t.Errorf("upstream down: %q", out)
	}

	// Soft mode: the pod's denied request is forwarded and recorded as
	// would-deny; an unmapped operation is still refused.
	podRole(t, soft.server, "carts-items", itemsOnlyPolicy, [2]string{"carts", "carts"})
	_, c := soft.inPod(t, "carts", "carts",
		awsCLI("dynamodb", "create-table", "--table-name", "soft-table", "--attribute-definitions", "AttributeName=pk,AttributeType=S",
			"--key-schema", "AttributeName=pk,KeyType=HASH", "--billing-mode", "PAY_PER_REQUEST"),
		awsCLI("dynamodb", "execute-statement", "--statement", `SELECT * FROM "soft-table"`),
	)
	c[0].ok(t)
	tables := soft.via.awsJSON(t, root, "dynamodb", "list-tables")
	if fmt.Sprint(tables["TableNames"]) != "[soft-table]" {
		t.Errorf("soft mode did not forward CreateTable: %v", tables)
	}
	msg := c[1].failed(t)
	wantCode(t, msg, "AccessDeniedException")
	if !strings.Contains(msg, "is not authorized to perform: dynamodb:ExecuteStatement because the podid gateway does not map this operation") {
		t.Errorf("unmapped operation: %s", msg)
	}
	soft.audit.records(t, func(recs []map[string]any) bool {
		for _, r := range recs {
			if r["decision"] == "would-deny" && r["action"] == "dynamodb:CreateTable" && r["enforced"] == false &&
				strings.Contains(fmt.Sprint(r["reason"]), "no identity-based policy allows the dynamodb:CreateTable action") {
				return true
			}
		}
		return false
	})
}

// TestGatewayS3 is the same with S3 and s3rver as the store: a
// `podid exec -n carts -s carts` process writes (with server-side
// encryption, as its policy demands), lists and reads its namespace's
// prefix with the AWS CLI and boto3 and is denied elsewhere, with S3's
// AccessDenied and S3's quoted-resource sentence.
func TestGatewayS3(t *testing.T) {
	t.Parallel()
	g := startDevGateway(t, "--s3-upstream", startS3rver(t))
	root := g.root()
	podRole(t, g.server, "assets", assetsPolicy, [2]string{"carts", "carts"})
	dir := t.TempDir()
	file := filepath.Join(dir, "logo.txt")
	if err := os.WriteFile(file, []byte("carts logo v1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	g.via.aws(t, root, "s3api", "create-bucket", "--bucket", "carts-assets")
	g.via.aws(t, root, "s3api", "put-object", "--bucket", "carts-assets", "--key", "orders/secret.txt", "--body", file)

	podARN, c := g.inPod(t, "carts", "carts",
		awsCLI("s3api", "put-object", "--bucket", "carts-assets", "--key", "carts/logo.txt", "--body", file, "--server-side-encryption", "AES256"),
		awsCLI("s3", "cp", file, "s3://carts-assets/carts/copy of logo.txt", "--sse", "AES256"),
		awsCLI("s3api", "list-objects-v2", "--bucket", "carts-assets", "--prefix", "carts/"),
		awsCLI("s3", "cp", "s3://carts-assets/carts/copy of logo.txt", filepath.Join(dir, "back.txt")),
		// Without the encryption header the write is denied (the policy's
		// s3:x-amz-server-side-encryption condition), and so is a write to
		// another namespace's prefix, and listing it.
		awsCLI("s3api", "put-object", "--bucket", "carts-assets", "--key", "carts/plain.txt", "--body", file),
		awsCLI("s3api", "put-object", "--bucket", "carts-assets", "--key", "orders/x.txt", "--body", file, "--server-side-encryption", "AES256"),
		awsCLI("s3api", "list-objects-v2", "--bucket", "carts-assets", "--prefix", "orders/"),
		boto3(`
import boto3, botocore.config, hashlib
from botocore.exceptions import ClientError
s3 = boto3.client("s3")
print(s3.get_object(Bucket="carts-assets", Key="carts/logo.txt")["Body"].read().decode().strip())
big = bytes(range(256)) * 4096
s3.put_object(Bucket="carts-assets", Key="carts/big.bin", Body=big, ServerSideEncryption="AES256")
print(hashlib.sha256(s3.get_object(Bucket="carts-assets", Key="carts/big.bin")["Body"].read()).hexdigest() == hashlib.sha256(big).hexdigest())
v4 = boto3.client("s3", config=botocore.config.Config(signature_version="s3v4"))
url = v4.generate_presigned_url("get_object", Params={"Bucket": "carts-assets", "Key": "carts/logo.txt"}, ExpiresIn=300)
import urllib.request
print(urllib.request.urlopen(url).read().decode().strip())
# A key with '?', '#', '&' and a space: S3 signs the path as sent.
odd = "carts/what?now#1 & more.txt"
s3.put_object(Bucket="carts-assets", Key=odd, Body=b"odd key", ServerSideEncryption="AES256")
print(s3.get_object(Bucket="carts-assets", Key=odd)["Body"].read().decode())
print(urllib.request.urlopen(v4.generate_presigned_url("get_object", Params={"Bucket": "carts-assets", "Key": odd}, ExpiresIn=300)).read().decode())
for key in ["orders/secret.txt"]:
    try:
        s3.get_object(Bucket="carts-assets", Key=key)
        print("allowed")
    except ClientError as e:
        print(e.response["Error"]["Code"] + "|" + e.response["Error"]["Message"])
try:
    urllib.request.urlopen(s3.generate_presigned_url("get_object", Params={"Bucket": "carts-assets", "Key": "carts/logo.txt"}))
except urllib.error.HTTPError as e:
    print(e.code, e.read().decode().split("<Code>")[1].split("</Code>")[0])
`),
	)
	if !strings.HasPrefix(podARN, "arn:aws:sts::"+g.AccountID+":assumed-role/assets/eks-eks-worksh-carts-") {
		t.Fatalf("carts pod ARN = %q", podARN)
	}
	c[0].ok(t)
	c[1].ok(t)
	if contents, _ := c[2].json(t)["Contents"].([]any); len(contents) != 2 {
		t.Errorf("list carts/: %s", c[2].out)
	}
	c[3].ok(t)
	if b, _ := os.ReadFile(filepath.Join(dir, "back.txt")); string(b) != "carts logo v1\n" {
		t.Errorf("downloaded %q", b)
	}

	quoted := func(action, resource string) string {
		return "User: " + podARN + " is not authorized to perform: " + action + ` on resource: "` + resource +
			`" because no identity-based policy allows the ` + action + " action"
	}
	msg := c[4].failed(t)
	wantCode(t, msg, "AccessDenied")
	if want := quoted("s3:PutObject", "arn:aws:s3:::carts-assets/carts/plain.txt"); !strings.Contains(msg, want) {
		t.Errorf("unencrypted put: %s\nwant %s", msg, want)
	}
	if want := quoted("s3:PutObject", "arn:aws:s3:::carts-assets/orders/x.txt"); !strings.Contains(c[5].failed(t), want) {
		t.Errorf("other prefix put: %s\nwant %s", c[5].err, want)
	}
	if want := quoted("s3:ListBucket", "arn:aws:s3:::carts-assets"); !strings.Contains(c[6].failed(t), want) {
		t.Errorf("other prefix list: %s\nwant %s", c[6].err, want)
	}
	want := "carts logo v1\nTrue\ncarts logo v1\nodd key\nodd key\nAccessDenied|" + quoted("s3:GetObject", "arn:aws:s3:::carts-assets/orders/secret.txt") + "\n400 InvalidRequest"
	if got := strings.TrimSpace(c[7].ok(t)); got != want {
		t.Errorf("boto3:\n got %q\nwant %q", got, want)
	}
	g.audit.records(t, func(recs []map[string]any) bool {
		for _, r := range recs {
			if r["decision"] == "denied" && r["kind"] == "gateway:s3" && r["action"] == "s3:GetObject" &&
				r["resource"] == "arn:aws:s3:::carts-assets/orders/secret.txt" && r["namespace"] == "carts" && r["principal"] == podARN {
				return true
			}
		}
		return false
	})
}

// TestGatewayGoAndJSSDKs: the SDK for Go v2's and the SDK for JavaScript
// v3's own DynamoDB and S3 clients, unmodified, in a
// `podid exec -n carts -s carts` process, reach the carts table and the
// carts prefix through the gateway (a key with '?', '#', '&' and a space
// included) and are refused another table and another namespace's prefix.
func TestGatewayGoAndJSSDKs(t *testing.T) {
	t.Parallel()
	goBin, jsScript := goClient(t), jsClient(t)
	g := startDevGateway(t, "--dynamodb-upstream", startDynalite(t), "--s3-upstream", startS3rver(t))
	root := g.root()
	podRole(t, g.server, "carts-data", workshopPolicy, [2]string{"carts", "carts"})
	g.aws(t, root, "iam", "put-role-policy", "--role-name", "carts-data", "--policy-name", "assets", "--policy-document", writeFile(t, "assets.json", assetsPolicy))
	g.via.aws(t, root, "dynamodb", "create-table", "--table-name", "eks-workshop-carts",
		"--attribute-definitions", "AttributeName=id,AttributeType=S", "AttributeName=customerId,AttributeType=S",
		"--key-schema", "AttributeName=id,KeyType=HASH", "--billing-mode", "PAY_PER_REQUEST",
		"--global-secondary-indexes", "IndexName=idx_global_customerId,KeySchema=[{AttributeName=customerId,KeyType=HASH}],Projection={ProjectionType=ALL}")
	g.via.aws(t, root, "dynamodb", "create-table", "--table-name", "other-table", "--attribute-definitions", "AttributeName=pk,AttributeType=S",
		"--key-schema", "AttributeName=pk,KeyType=HASH", "--billing-mode", "PAY_PER_REQUEST")
	g.via.aws(t, root, "s3api", "create-bucket", "--bucket", "carts-assets")

	_, c := g.inPod(t, "carts", "carts",
		[]string{goBin, "-data"},
		[]string{"env", "NODE_PATH=" + filepath.Join(npmDir(), "node_modules"), "node", jsScript, "data"},
	)
	for i, sdk := range []string{"go", "js"} {
		want := strings.Join([]string{
			"dynamodb get c-" + sdk,
			"dynamodb query 1",
			"dynamodb other-table AccessDeniedException",
			`s3 get "carts/` + sdk + `.txt" from ` + sdk,
			`s3 get "carts/` + sdk + ` what?#&.txt" from ` + sdk,
			"s3 orders/ AccessDenied",
		}, "\n")
		if got := strings.TrimSpace(c[i].ok(t)); got != want {
			t.Errorf("%s SDK:\n got %q\nwant %q\nstderr: %s", sdk, got, want, c[i].err)
		}
	}
}
