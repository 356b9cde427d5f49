package gateway

import (
	"context"
	"encoding/json"
	"hash/crc32"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/podid/podid/internal/auth"
	"github.com/podid/podid/internal/store"
)

const (
	tableARNPrefix = "arn:aws:dynamodb:us-west-2:" + account + ":table/"
	cartsARN       = tableARNPrefix + "carts"
	ordersARN      = tableARNPrefix + "orders"

	workshopDoc = `{"Statement":[{"Action":"dynamodb:*","Effect":"Allow","Resource":["arn:aws:dynamodb:us-west-2:` + account + `:table/carts","arn:aws:dynamodb:us-west-2:` + account + `:table/carts/index/*"],"Sid":"AllAPIActionsOnCart"}],"Version":"2012-10-17"}`
	itemsDoc    = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["dynamodb:GetItem","dynamodb:PutItem","dynamodb:UpdateItem","dynamodb:DeleteItem","dynamodb:Query","dynamodb:BatchGetItem","dynamodb:BatchWriteItem","dynamodb:ConditionCheckItem"],"Resource":["arn:aws:dynamodb:us-west-2:` + account + `:table/carts","arn:aws:dynamodb:us-west-2:` + account + `:table/carts/index/*"]}]}`
	// leadingDoc allows items whose partition key is the caller's namespace.
	leadingDoc = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["dynamodb:GetItem","dynamodb:PutItem","dynamodb:Query","dynamodb:BatchWriteItem","dynamodb:BatchGetItem","dynamodb:UpdateItem"],"Resource":["arn:aws:dynamodb:us-west-2:` + account + `:table/*"],"Condition":{"ForAllValues:StringEquals":{"dynamodb:LeadingKeys":["${aws:PrincipalTag/kubernetes-namespace}"]}}}]}`
	// attrsDoc allows reading and writing three attributes only.
	attrsDoc = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["dynamodb:GetItem","dynamodb:Query","dynamodb:UpdateItem","dynamodb:PutItem"],"Resource":"arn:aws:dynamodb:us-west-2:` + account + `:table/carts*","Condition":{"ForAllValues:StringEquals":{"dynamodb:Attributes":["id","customerId","total"]},"StringEqualsIfExists":{"dynamodb:Select":"SPECIFIC_ATTRIBUTES","dynamodb:ReturnValues":["NONE","UPDATED_NEW"]}}}]}`
	allDoc   = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"dynamodb:*","Resource":"*"}]}`
	getOnly  = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"dynamodb:GetItem","Resource":"*"}]}`
	// txDoc allows writes but only inside transactions.
	txDoc = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["dynamodb:PutItem","dynamodb:ConditionCheckItem"],"Resource":"*","Condition":{"StringEquals":{"dynamodb:EnclosingOperation":"TransactWriteItems"}}}]}`
)

// sentence is AWS's denial sentence for a missing allow.
func sentence(p *auth.Principal, action, resource, layer string) string {
	return "User: " + p.ARN + " is not authorized to perform: " + action + " on resource: " + resource +
		" because no " + layer + " allows the " + action + " action"
}

// TestDynamoDBDecisions sends real signed requests through the gateway
// and checks the answer, the denial sentence and whether the upstream saw
// the request.
func TestDynamoDBDecisions(t *testing.T) {
	h := newHarness(t)
	carts, cartsP := h.role("carts", workshopDoc, podTags("carts", "carts"))
	items, itemsP := h.role("items", itemsDoc, podTags("carts", "items"))
	leading, leadingP := h.role("leading", leadingDoc, podTags("carts", "leading"))
	attrs, attrsP := h.role("attrs", attrsDoc, podTags("carts", "attrs"))
	bounded, boundedP := h.role("bounded", allDoc, nil)
	h.env.SetBoundary(t, store.KindRole, "bounded", h.env.AddPolicy(t, "get-only", getOnly))
	sessioned, sessionedP := h.role("sessioned", allDoc, nil, getOnly)
	tx, txP := h.role("tx", txDoc, nil)
	root := h.root()

	type tc struct {
		name   string
		creds  aws.Credentials
		op     string
		body   string
		denied string // the denial sentence; "" when allowed
	}
	cases := []tc{
		{"workshop put", carts, "PutItem", `{"TableName":"carts","Item":{"id":{"S":"c1"},"customerId":{"S":"u1"}}}`, ""},
		{"workshop query index", carts, "Query", `{"TableName":"carts","IndexName":"idx_global_customerId","KeyConditionExpression":"customerId = :c","ExpressionAttributeValues":{":c":{"S":"u1"}}}`, ""},
		{"workshop other table", carts, "GetItem", `{"TableName":"orders","Key":{"pk":{"S":"a"},"sk":{"S":"b"}}}`, sentence(cartsP, "dynamodb:GetItem", ordersARN, "identity-based policy")},
		{"workshop delete table", carts, "DeleteTable", `{"TableName":"carts"}`, ""},
		{"workshop list tables", carts, "ListTables", `{}`, sentence(cartsP, "dynamodb:ListTables", "*", "identity-based policy")},
		{"items delete table", items, "DeleteTable", `{"TableName":"carts"}`, sentence(itemsP, "dynamodb:DeleteTable", cartsARN, "identity-based policy")},
		{"items describe table", items, "DescribeTable", `{"TableName":"carts"}`, sentence(itemsP, "dynamodb:DescribeTable", cartsARN, "identity-based policy")},
		{"items scan not granted", items, "Scan", `{"TableName":"carts"}`, sentence(itemsP, "dynamodb:Scan", cartsARN, "identity-based policy")},
		{"items batch across tables", items, "BatchWriteItem", `{"RequestItems":{"orders":[{"PutRequest":{"Item":{"pk":{"S":"a"},"sk":{"S":"b"}}}}],"carts":[{"DeleteRequest":{"Key":{"id":{"S":"c1"}}}}]}}`, sentence(itemsP, "dynamodb:BatchWriteItem", ordersARN, "identity-based policy")},
		{"items batch own table", items, "BatchGetItem", `{"RequestItems":{"carts":{"Keys":[{"id":{"S":"c1"}},{"id":{"S":"c2"}}]}}}`, ""},
		{"items transact", items, "TransactWriteItems", `{"TransactItems":[{"Put":{"TableName":"carts","Item":{"id":{"S":"c9"}}}},{"ConditionCheck":{"TableName":"carts","Key":{"id":{"S":"c1"}},"ConditionExpression":"attribute_exists(id)"}}]}`, ""},
		{"items transact other table", items, "TransactWriteItems", `{"TransactItems":[{"Put":{"TableName":"carts","Item":{"id":{"S":"c9"}}}},{"Delete":{"TableName":"orders","Key":{"pk":{"S":"a"},"sk":{"S":"b"}}}}]}`, sentence(itemsP, "dynamodb:DeleteItem", ordersARN, "identity-based policy")},
		{"items transact get", items, "TransactGetItems", `{"TransactItems":[{"Get":{"TableName":"carts","Key":{"id":{"S":"c1"}}}}]}`, ""},
		{"leading own key", leading, "PutItem", `{"TableName":"orders","Item":{"sk":{"S":"1"},"pk":{"S":"carts"},"x":{"N":"1"}}}`, ""},
		{"leading other key", leading, "PutItem", `{"TableName":"orders","Item":{"sk":{"S":"1"},"pk":{"S":"orders"}}}`, sentence(leadingP, "dynamodb:PutItem", ordersARN, "identity-based policy")},
		{"leading get composite key", leading, "GetItem", `{"TableName":"orders","Key":{"pk":{"S":"carts"},"sk":{"S":"1"}}}`, ""},
		{"leading query", leading, "Query", `{"TableName":"orders","KeyConditionExpression":"#p = :v AND begins_with(sk, :s)","ExpressionAttributeNames":{"#p":"pk"},"ExpressionAttributeValues":{":v":{"S":"carts"},":s":{"S":"2024"}}}`, ""},
		{"leading query other key", leading, "Query", `{"TableName":"orders","KeyConditionExpression":":v = pk","ExpressionAttributeValues":{":v":{"S":"orders"}}}`, sentence(leadingP, "dynamodb:Query", ordersARN, "identity-based policy")},
		{"leading legacy key conditions", leading, "Query", `{"TableName":"orders","KeyConditions":{"pk":{"ComparisonOperator":"EQ","AttributeValueList":[{"S":"orders"}]}}}`, sentence(leadingP, "dynamodb:Query", ordersARN, "identity-based policy")},
		{"leading query index", leading, "Query", `{"TableName":"carts","IndexName":"idx_global_customerId","KeyConditionExpression":"customerId = :c","ExpressionAttributeValues":{":c":{"S":"carts"}}}`, ""},
		{"leading batch mixed keys", leading, "BatchWriteItem", `{"RequestItems":{"carts":[{"PutRequest":{"Item":{"id":{"S":"carts"}}}},{"PutRequest":{"Item":{"id":{"S":"orders"}}}}]}}`, sentence(leadingP, "dynamodb:BatchWriteItem", cartsARN, "identity-based policy")},
		{"attrs projected", attrs, "GetItem", `{"TableName":"carts","Key":{"id":{"S":"c1"}},"ProjectionExpression":"customerId, #t","ExpressionAttributeNames":{"#t":"total"}}`, ""},
		{"attrs other attribute", attrs, "GetItem", `{"TableName":"carts","Key":{"id":{"S":"c1"}},"ProjectionExpression":"customerId, secret"}`, sentence(attrsP, "dynamodb:GetItem", cartsARN, "identity-based policy")},
		{"attrs select all", attrs, "Query", `{"TableName":"carts","Select":"ALL_ATTRIBUTES","KeyConditionExpression":"id = :i","ExpressionAttributeValues":{":i":{"S":"c1"}}}`, sentence(attrsP, "dynamodb:Query", cartsARN, "identity-based policy")},
		{"attrs update allowed", attrs, "UpdateItem", `{"TableName":"carts","Key":{"id":{"S":"c1"}},"UpdateExpression":"SET total = total + :n","ExpressionAttributeValues":{":n":{"N":"1"}}}`, ""},
		{"attrs update other", attrs, "UpdateItem", `{"TableName":"carts","Key":{"id":{"S":"c1"}},"UpdateExpression":"SET total = :n REMOVE #s","ExpressionAttributeNames":{"#s":"secret"},"ExpressionAttributeValues":{":n":{"N":"1"}}}`, sentence(attrsP, "dynamodb:UpdateItem", cartsARN, "identity-based policy")},
		{"attrs return all old", attrs, "UpdateItem", `{"TableName":"carts","Key":{"id":{"S":"c1"}},"UpdateExpression":"SET total = :n","ReturnValues":"ALL_OLD","ExpressionAttributeValues":{":n":{"N":"1"}}}`, sentence(attrsP, "dynamodb:UpdateItem", cartsARN, "identity-based policy")},
		{"boundary allows get", bounded, "GetItem", `{"TableName":"carts","Key":{"id":{"S":"c1"}}}`, ""},
		{"boundary denies put", bounded, "PutItem", `{"TableName":"carts","Item":{"id":{"S":"c1"}}}`, sentence(boundedP, "dynamodb:PutItem", cartsARN, "permissions boundary")},
		{"session policy allows get", sessioned, "GetItem", `{"TableName":"carts","Key":{"id":{"S":"c1"}}}`, ""},
		{"session policy denies delete", sessioned, "DeleteTable", `{"TableName":"carts"}`, sentence(sessionedP, "dynamodb:DeleteTable", cartsARN, "session policy")},
		{"enclosing operation", tx, "TransactWriteItems", `{"TransactItems":[{"Put":{"TableName":"carts","Item":{"id":{"S":"c1"}}}}]}`, ""},
		{"outside a transaction", tx, "PutItem", `{"TableName":"carts","Item":{"id":{"S":"c1"}}}`, sentence(txP, "dynamodb:PutItem", cartsARN, "identity-based policy")},
		{"root", root, "DeleteTable", `{"TableName":"anything"}`, ""},
		{"table ARN as name", items, "DeleteItem", `{"TableName":"` + cartsARN + `","Key":{"id":{"S":"c1"}}}`, ""},
		{"tags by resource ARN", carts, "TagResource", `{"ResourceArn":"` + ordersARN + `","Tags":[]}`, sentence(cartsP, "dynamodb:TagResource", ordersARN, "identity-based policy")},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := len(h.ddb.requests())
			resp := h.ddbCall(c.creds, c.op, c.body)
			body := readAll(t, resp)
			forwarded := len(h.ddb.requests()) - before
			if c.denied == "" {
				if resp.StatusCode != http.StatusOK || body != `{"upstream":true}` || forwarded != 1 {
					t.Fatalf("want forwarded; got HTTP %d %s (upstream saw %d)", resp.StatusCode, body, forwarded)
				}
				return
			}
			if forwarded != 0 {
				t.Errorf("a denied request reached the upstream")
			}
			want, _ := json.Marshal(struct {
				Type    string `json:"__type"`
				Message string
			}{"com.amazon.coral.service#AccessDeniedException", c.denied})
			if resp.StatusCode != http.StatusBadRequest || body != string(want) {
				t.Errorf("got HTTP %d\n%s\nwant HTTP 400\n%s", resp.StatusCode, body, want)
			}
		})
	}
}

// TestDynamoDBWire pins the exact wire form of the gateway's own answers.
func TestDynamoDBWire(t *testing.T) {
	h := newHarness(t)
	items, itemsP := h.role("items", itemsDoc, podTags("carts", "items"))
	resp := h.ddbCall(items, "DeleteTable", `{"TableName":"carts"}`)
	body := readAll(t, resp)
	want := `{"__type":"com.amazon.coral.service#AccessDeniedException","Message":"` + sentence(itemsP, "dynamodb:DeleteTable", cartsARN, "identity-based policy") + `"}`
	if body != want {
		t.Errorf("body\n%s\nwant\n%s", body, want)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/x-amz-json-1.0" {
		t.Errorf("Content-Type = %q", ct)
	}
	if crc := resp.Header.Get("x-amz-crc32"); crc != strconv.FormatUint(uint64(crc32.ChecksumIEEE([]byte(body))), 10) {
		t.Errorf("x-amz-crc32 = %q", crc)
	}
	if resp.Header.Get("x-amzn-RequestId") == "" {
		t.Error("no x-amzn-RequestId")
	}

	// The audit record of that denial.
	recs := h.audit.records()
	last := recs[len(recs)-1]
	var f map[string]any
	json.Unmarshal([]byte(last.Fields), &f)
	if last.Kind != AuditKindDynamoDB || last.Decision != DecisionDenied || last.Reason != sentence(itemsP, "dynamodb:DeleteTable", cartsARN, "identity-based policy") ||
		f["action"] != "dynamodb:DeleteTable" || f["resource"] != cartsARN || f["namespace"] != "carts" || f["serviceAccount"] != "items" ||
		f["cluster"] != "eks-workshop" || f["principal"] != itemsP.ARN || f["accessKeyId"] != itemsP.AccessKeyID || f["enforced"] != true ||
		f["operation"] != "DeleteTable" || f["sourceIp"] != "127.0.0.1" || f["requestId"] != resp.Header.Get("x-amzn-RequestId") {
		t.Errorf("audit record %+v fields %v", last, f)
	}

	type errCase struct {
		name, op, body string
		creds          aws.Credentials
		status         int
		wantType       string
		wantMsg        string
	}
	bad := items
	bad.SecretAccessKey = "wrong"
	unknown := aws.Credentials{AccessKeyID: "AKIAIOSFODNN7EXAMPLE", SecretAccessKey: "x"}
	cases := []errCase{
		{"bad signature", "GetItem", `{"TableName":"carts","Key":{"id":{"S":"x"}}}`, bad, 400, "com.amazon.coral.service#InvalidSignatureException",
			"The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details."},
		{"unknown key", "GetItem", `{}`, unknown, 400, "com.amazon.coral.service#UnrecognizedClientException", "The security token included in the request is invalid."},
		{"unknown operation", "FlyToTheMoon", `{}`, items, 400, "com.amazon.coral.service#UnknownOperationException", ""},
		{"unmapped operation", "ExecuteStatement", `{"Statement":"SELECT * FROM carts"}`, items, 400, "com.amazon.coral.service#AccessDeniedException",
			"User: " + itemsP.ARN + " is not authorized to perform: dynamodb:ExecuteStatement because the podid gateway does not map this operation to IAM resources and condition keys"},
		{"not JSON", "GetItem", `{"TableName":`, items, 400, "com.amazon.coral.service#SerializationException", "The request body is not valid JSON"},
		{"duplicate member", "GetItem", `{"TableName":"carts","TableName":"orders"}`, items, 400, "com.amazon.coral.service#SerializationException", "Duplicate member at /TableName"},
		{"wrong type", "GetItem", `{"TableName":5}`, items, 400, "com.amazon.coral.service#SerializationException", "Unexpected value at /TableName"},
		{"no table", "GetItem", `{"Key":{"id":{"S":"x"}}}`, items, 400, "com.amazon.coral.validate#ValidationException",
			"1 validation error detected: Value null at 'tableName' failed to satisfy constraint: Member must not be null"},
		{"table name with a slash", "GetItem", `{"TableName":"carts/index/x","Key":{"id":{"S":"x"}}}`, items, 400, "com.amazon.coral.validate#ValidationException",
			"1 validation error detected: Value 'carts/index/x' at 'tableName' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+ and have length between 3 and 255"},
		{"foreign table ARN", "GetItem", `{"TableName":"arn:aws:dynamodb:eu-west-1:999999999999:table/carts","Key":{"id":{"S":"x"}}}`, items, 400, "com.amazon.coral.validate#ValidationException",
			"Invalid TableName: arn:aws:dynamodb:eu-west-1:999999999999:table/carts is not a table ARN of account " + account + " in us-west-2"},
		{"batch table name", "BatchGetItem", `{"RequestItems":{"a*":{"Keys":[]}}}`, items, 400, "com.amazon.coral.validate#ValidationException",
			"1 validation error detected: Value 'a*' at 'tableName' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+ and have length between 3 and 255"},
		{"undefined name", "GetItem", `{"TableName":"carts","Key":{"id":{"S":"x"}},"ProjectionExpression":"#nope"}`, items, 400, "com.amazon.coral.validate#ValidationException",
			"Invalid ProjectionExpression: An expression attribute name used in the document path is not defined; attribute name: #nope"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := len(h.ddb.requests())
			resp := h.ddbCall(c.creds, c.op, c.body)
			var got map[string]string
			raw := readAll(t, resp)
			if err := json.Unmarshal([]byte(raw), &got); err != nil {
				t.Fatalf("not JSON: %s", raw)
			}
			msg := got["message"]
			if m, ok := got["Message"]; ok {
				msg = m
			}
			if resp.StatusCode != c.status || got["__type"] != c.wantType || msg != c.wantMsg {
				t.Errorf("got HTTP %d %s\nwant HTTP %d %s %q", resp.StatusCode, raw, c.status, c.wantType, c.wantMsg)
			}
			if len(h.ddb.requests()) != before {
				t.Error("the request reached the upstream")
			}
		})
	}
}

// TestDynamoDBConditionKeys pins the checks (action, resource, condition
// keys) the gateway derives from requests.
func TestDynamoDBConditionKeys(t *testing.T) {
	h := newHarness(t)
	_, p := h.role("keys", allDoc, nil)
	cases := []struct {
		op   string
		body string
		want []check
	}{
		{"GetItem", `{"TableName":"carts","Key":{"id":{"S":"c1"}},"ProjectionExpression":"a.b[1], #c","ExpressionAttributeNames":{"#c":"customerId"},"ReturnConsumedCapacity":"TOTAL"}`,
			[]check{{"dynamodb:GetItem", cartsARN, map[string][]string{"dynamodb:Attributes": {"a", "customerId", "id"}, "dynamodb:LeadingKeys": {"c1"}, "dynamodb:ReturnConsumedCapacity": {"TOTAL"}}}}},
		{"PutItem", `{"TableName":"orders","Item":{"sk":{"N":"7"},"pk":{"S":"p1"},"data":{"M":{"x":{"S":"y"}}}},"ReturnValues":"ALL_OLD"}`,
			[]check{{"dynamodb:PutItem", ordersARN, map[string][]string{"dynamodb:Attributes": {"data", "pk", "sk"}, "dynamodb:LeadingKeys": {"p1"}, "dynamodb:ReturnValues": {"ALL_OLD"}}}}},
		{"UpdateItem", `{"TableName":"orders","Key":{"pk":{"S":"p1"},"sk":{"N":"7"}},"UpdateExpression":"SET #a = list_append(#a, :v), b.c = :w ADD n :one DELETE s :set REMOVE r[0]","ExpressionAttributeNames":{"#a":"items"}}`,
			[]check{{"dynamodb:UpdateItem", ordersARN, map[string][]string{"dynamodb:Attributes": {"b", "items", "n", "pk", "r", "s", "sk"}, "dynamodb:LeadingKeys": {"p1"}}}}},
		{"Query", `{"TableName":"orders","IndexName":"by-date","Select":"COUNT","KeyConditionExpression":"pk = :p AND #d BETWEEN :a AND :b","ExpressionAttributeNames":{"#d":"date"},"ExpressionAttributeValues":{":p":{"S":"p1"}}}`,
			[]check{{"dynamodb:Query", ordersARN + "/index/by-date", map[string][]string{"dynamodb:Attributes": {"date", "pk"}, "dynamodb:LeadingKeys": {"p1"}, "dynamodb:Select": {"COUNT"}}}}},
		{"Scan", `{"TableName":"carts","AttributesToGet":["id","total"]}`,
			[]check{{"dynamodb:Scan", cartsARN, map[string][]string{"dynamodb:Attributes": {"id", "total"}}}}},
		{"Scan", `{"TableName":"nosuch"}`, []check{{"dynamodb:Scan", tableARNPrefix + "nosuch", map[string][]string{}}}},
		{"GetItem", `{"TableName":"nosuch","Key":{"a":{"S":"1"},"b":{"S":"2"}}}`,
			[]check{{"dynamodb:GetItem", tableARNPrefix + "nosuch", map[string][]string{"dynamodb:Attributes": {"a", "b"}}}}},
		{"GetItem", `{"TableName":"nosuch","Key":{"b":{"S":"2"},"a":{"S":"1"}}}`,
			[]check{{"dynamodb:GetItem", tableARNPrefix + "nosuch", map[string][]string{"dynamodb:Attributes": {"a", "b"}}}}},
		{"BatchGetItem", `{"RequestItems":{"orders":{"Keys":[{"pk":{"S":"p1"},"sk":{"N":"1"}},{"pk":{"S":"p2"},"sk":{"N":"1"}},{"pk":{"S":"p1"},"sk":{"N":"2"}}],"ProjectionExpression":"total"},"carts":{"Keys":[{"id":{"S":"c1"}}]}}}`,
			[]check{
				{"dynamodb:BatchGetItem", cartsARN, map[string][]string{"dynamodb:Attributes": {"id"}, "dynamodb:LeadingKeys": {"c1"}}},
				{"dynamodb:BatchGetItem", ordersARN, map[string][]string{"dynamodb:Attributes": {"pk", "sk", "total"}, "dynamodb:LeadingKeys": {"p1", "p2"}}},
			}},
		{"TransactWriteItems", `{"TransactItems":[{"Update":{"TableName":"carts","Key":{"id":{"S":"c1"}},"UpdateExpression":"SET total = :t"}},{"ConditionCheck":{"TableName":"orders","Key":{"pk":{"S":"p1"},"sk":{"N":"1"}}}}]}`,
			[]check{
				{"dynamodb:UpdateItem", cartsARN, map[string][]string{"dynamodb:Attributes": {"id", "total"}, "dynamodb:LeadingKeys": {"c1"}, "dynamodb:EnclosingOperation": {"TransactWriteItems"}}},
				{"dynamodb:ConditionCheckItem", ordersARN, map[string][]string{"dynamodb:Attributes": {"pk", "sk"}, "dynamodb:LeadingKeys": {"p1"}, "dynamodb:EnclosingOperation": {"TransactWriteItems"}}},
			}},
		{"CreateTable", `{"TableName":"new","KeySchema":[]}`, []check{{"dynamodb:CreateTable", tableARNPrefix + "new", nil}}},
		{"DescribeContributorInsights", `{"TableName":"carts","IndexName":"idx"}`, []check{{"dynamodb:DescribeContributorInsights", cartsARN + "/index/idx", nil}}},
		{"ListTables", `{"Limit":5}`, []check{{"dynamodb:ListTables", "*", nil}}},
		{"DeleteBackup", `{"BackupArn":"` + cartsARN + `/backup/01"}`, []check{{"dynamodb:DeleteBackup", cartsARN + "/backup/01", nil}}},
	}
	for _, c := range cases {
		t.Run(c.op, func(t *testing.T) {
			var in ddbInput
			if err := unmarshalInput([]byte(c.body), &in); err != nil {
				t.Fatal(err)
			}
			got, derr := h.gw.ddbChecks(context.Background(), p, c.op, ddbOps[c.op], &in)
			if derr != nil {
				t.Fatal(derr)
			}
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("checks\n got %+v\nwant %+v", got, c.want)
			}
		})
	}
	// One-attribute keys need no schema; orders' was read once; a table
	// that does not exist is not cached.
	if n := h.ddb.describeCalls(); n != 3 {
		t.Errorf("DescribeTable calls = %d, want 3 (orders, nosuch twice)", n)
	}
}

// TestDynamoDBSoftMode: a denial is forwarded and recorded as would-deny;
// an unmapped operation is still refused.
func TestDynamoDBSoftMode(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.Soft = true })
	items, itemsP := h.role("items", itemsDoc, podTags("carts", "items"))
	resp := h.ddbCall(items, "DeleteTable", `{"TableName":"carts"}`)
	if body := readAll(t, resp); resp.StatusCode != 200 || body != `{"upstream":true}` {
		t.Errorf("soft mode: HTTP %d %s", resp.StatusCode, body)
	}
	recs := h.audit.records()
	if len(recs) != 1 || recs[0].Decision != DecisionWouldDeny || recs[0].Reason != sentence(itemsP, "dynamodb:DeleteTable", cartsARN, "identity-based policy") ||
		!strings.Contains(recs[0].Fields, `"enforced":false`) {
		t.Errorf("records: %+v", recs)
	}
	resp = h.ddbCall(items, "ExecuteStatement", `{"Statement":"DELETE FROM carts"}`)
	if body := readAll(t, resp); resp.StatusCode != 400 || !strings.Contains(body, "AccessDeniedException") {
		t.Errorf("unmapped in soft mode: HTTP %d %s", resp.StatusCode, body)
	}
	if n := len(h.ddb.requests()); n != 1 {
		t.Errorf("upstream saw %d requests, want 1", n)
	}
}
