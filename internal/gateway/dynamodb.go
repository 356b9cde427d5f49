package gateway

import (
	"context"
	"errors"
	"io"
	"net/http"
	"slices"
	"sort"
	"strings"

	json "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"

	"github.com/podid/podid/internal/arn"
	"github.com/podid/podid/internal/auth"
	"github.com/podid/podid/internal/awsproto"
)

// ddbTargetPrefix prefixes every DynamoDB operation in X-Amz-Target.
const ddbTargetPrefix = "DynamoDB_20120810."

// ddbKind says how an operation names its resources.
type ddbKind int

const (
	ddbTable         ddbKind = iota + 1 // TableName (table ARN)
	ddbTableOrIndex                     // TableName and optional IndexName
	ddbItem                             // TableName, Key or Item: item condition keys
	ddbRead                             // Query, Scan: TableName, IndexName, item condition keys
	ddbBatchGet                         // RequestItems per table
	ddbBatchWrite                       // RequestItems per table
	ddbTransactGet                      // TransactItems[].Get
	ddbTransactWrite                    // TransactItems[].Put/Update/Delete/ConditionCheck
	ddbGlobal                           // resource "*"
	ddbResourceARN                      // ResourceArn
	ddbBackupARN                        // BackupArn
)

// ddbOps maps each operation the gateway authorizes to how its request
// names resources. The IAM action is "dynamodb:" + the operation, except
// for transactions, which AWS checks per item with the item actions.
var ddbOps = map[string]ddbKind{
	"CreateTable": ddbTable, "DeleteTable": ddbTable, "DescribeTable": ddbTable, "UpdateTable": ddbTable,
	"DescribeTimeToLive": ddbTable, "UpdateTimeToLive": ddbTable,
	"DescribeContinuousBackups": ddbTable, "UpdateContinuousBackups": ddbTable, "CreateBackup": ddbTable,
	"DescribeKinesisStreamingDestination": ddbTable,
	"DescribeContributorInsights":         ddbTableOrIndex, "UpdateContributorInsights": ddbTableOrIndex,
	"GetItem": ddbItem, "PutItem": ddbItem, "UpdateItem": ddbItem, "DeleteItem": ddbItem,
	"Query": ddbRead, "Scan": ddbRead,
	"BatchGetItem": ddbBatchGet, "BatchWriteItem": ddbBatchWrite,
	"TransactGetItems": ddbTransactGet, "TransactWriteItems": ddbTransactWrite,
	"ListTables": ddbGlobal, "DescribeLimits": ddbGlobal, "DescribeEndpoints": ddbGlobal,
	"ListBackups": ddbGlobal, "ListGlobalTables": ddbGlobal, "ListContributorInsights": ddbGlobal,
	"ListExports": ddbGlobal, "ListImports": ddbGlobal,
	"TagResource": ddbResourceARN, "UntagResource": ddbResourceARN, "ListTagsOfResource": ddbResourceARN,
	"DescribeBackup": ddbBackupARN, "DeleteBackup": ddbBackupARN,
}

// ddbUnmapped are DynamoDB operations the gateway knows but does not map
// to IAM (PartiQL statements, global tables, restores, exports, imports,
// resource policies): they are denied, never forwarded.
var ddbUnmapped = map[string]bool{
	"ExecuteStatement": true, "BatchExecuteStatement": true, "ExecuteTransaction": true,
	"CreateGlobalTable": true, "UpdateGlobalTable": true, "DescribeGlobalTable": true,
	"DescribeGlobalTableSettings": true, "UpdateGlobalTableSettings": true,
	"RestoreTableFromBackup": true, "RestoreTableToPointInTime": true,
	"ExportTableToPointInTime": true, "DescribeExport": true, "ImportTable": true, "DescribeImport": true,
	"EnableKinesisStreamingDestination": true, "DisableKinesisStreamingDestination": true,
	"UpdateKinesisStreamingDestination": true,
	"GetResourcePolicy":                 true, "PutResourcePolicy": true, "DeleteResourcePolicy": true,
	"DescribeTableReplicaAutoScaling": true, "UpdateTableReplicaAutoScaling": true,
}

// attrMap is a DynamoDB item or key: attribute name → AttributeValue.
type attrMap map[string]jsontext.Value

// ddbInput holds the members of DynamoDB requests that IAM looks at.
// Members are matched case-sensitively and a duplicated member is an
// error, so the gateway reads exactly what the upstream reads.
type ddbInput struct {
	TableName                 string                    `json:"TableName"`
	IndexName                 string                    `json:"IndexName"`
	Key                       attrMap                   `json:"Key"`
	Item                      attrMap                   `json:"Item"`
	ProjectionExpression      string                    `json:"ProjectionExpression"`
	UpdateExpression          string                    `json:"UpdateExpression"`
	KeyConditionExpression    string                    `json:"KeyConditionExpression"`
	ExpressionAttributeNames  map[string]string         `json:"ExpressionAttributeNames"`
	ExpressionAttributeValues attrMap                   `json:"ExpressionAttributeValues"`
	AttributesToGet           []string                  `json:"AttributesToGet"`
	AttributeUpdates          map[string]jsontext.Value `json:"AttributeUpdates"`
	KeyConditions             map[string]keyCondition   `json:"KeyConditions"`
	Select                    string                    `json:"Select"`
	ReturnValues              string                    `json:"ReturnValues"`
	ReturnConsumedCapacity    string                    `json:"ReturnConsumedCapacity"`
	RequestItems              jsontext.Value            `json:"RequestItems"`
	TransactItems             []transactItem            `json:"TransactItems"`
	ResourceArn               string                    `json:"ResourceArn"`
	BackupArn                 string                    `json:"BackupArn"`
}

// keyCondition is a legacy KeyConditions entry.
type keyCondition struct {
	ComparisonOperator string           `json:"ComparisonOperator"`
	AttributeValueList []jsontext.Value `json:"AttributeValueList"`
}

// transactItem is one element of TransactItems.
type transactItem struct {
	Get            *ddbInput `json:"Get"`
	Put            *ddbInput `json:"Put"`
	Update         *ddbInput `json:"Update"`
	Delete         *ddbInput `json:"Delete"`
	ConditionCheck *ddbInput `json:"ConditionCheck"`
}

// batchGetTable is a BatchGetItem RequestItems entry.
type batchGetTable struct {
	Keys                     []attrMap         `json:"Keys"`
	ProjectionExpression     string            `json:"ProjectionExpression"`
	AttributesToGet          []string          `json:"AttributesToGet"`
	ExpressionAttributeNames map[string]string `json:"ExpressionAttributeNames"`
}

// writeRequest is a BatchWriteItem RequestItems element.
type writeRequest struct {
	PutRequest *struct {
		Item attrMap `json:"Item"`
	} `json:"PutRequest"`
	DeleteRequest *struct {
		Key attrMap `json:"Key"`
	} `json:"DeleteRequest"`
}

// serveDynamoDB verifies, authorizes, records and forwards one DynamoDB
// request.
func (g *Gateway) serveDynamoDB(w http.ResponseWriter, r *http.Request, reqID string, signed bool) {
	ctx := r.Context()
	if !signed {
		writeDDBError(w, reqID, ddbAuthError(awsproto.Errorf(http.StatusForbidden, awsproto.CodeMissingAuthenticationToken, "Request is missing Authentication Token")))
		return
	}
	if r.Method != http.MethodPost {
		writeDDBError(w, reqID, &ddbError{status: http.StatusBadRequest, typ: coralService + "UnknownOperationException", msg: "DynamoDB operations are POST requests"})
		return
	}
	body, derr := readBody(r, g.cfg.MaxBodyBytes)
	if derr != nil {
		writeDDBError(w, reqID, derr)
		return
	}
	v, err := g.cfg.Verifier.Verify(ctx, r, body)
	if err != nil {
		g.logAuthFailure(ctx, "dynamodb", reqID, err)
		writeDDBError(w, reqID, ddbAuthError(err))
		return
	}
	p, err := principalOf(v)
	if err != nil {
		g.log.ErrorContext(ctx, "gateway: verification without a caller", "requestId", reqID, "err", err)
		writeDDBError(w, reqID, ddbInternal())
		return
	}
	ctx = withRequestInfo(ctx, r, v.Region)

	op, ok := strings.CutPrefix(r.Header.Get("X-Amz-Target"), ddbTargetPrefix)
	kind := ddbOps[op]
	if !ok || (kind == 0 && !ddbUnmapped[op]) {
		writeDDBError(w, reqID, &ddbError{status: http.StatusBadRequest, typ: coralService + "UnknownOperationException"})
		return
	}
	rec := &auditEntry{service: "dynamodb", operation: op, principal: p, reqID: reqID, r: r}
	if kind == 0 {
		msg := unmappedMessage(p, "dynamodb:"+op)
		g.record(ctx, rec, decision{checks: []check{{action: "dynamodb:" + op, resource: "*"}}, denied: 0, message: msg}, false)
		writeDDBError(w, reqID, ddbAccessDenied(msg))
		return
	}
	var in ddbInput
	if err := unmarshalInput(body, &in); err != nil {
		writeDDBError(w, reqID, ddbSerialization(serializationMessage(err)))
		return
	}
	checks, derr := g.ddbChecks(ctx, p, op, kind, &in)
	if derr != nil {
		writeDDBError(w, reqID, derr)
		return
	}
	d, err := g.decide(ctx, p, checks)
	if err != nil {
		g.log.ErrorContext(ctx, "gateway: decision failed", "requestId", reqID, "operation", op, "err", err)
		writeDDBError(w, reqID, ddbInternal())
		return
	}
	if d.denied >= 0 {
		g.record(ctx, rec, d, g.cfg.Soft)
		if !g.cfg.Soft {
			writeDDBError(w, reqID, ddbAccessDenied(d.message))
			return
		}
	} else {
		g.record(ctx, rec, d, false)
	}
	g.forwardDynamoDB(w, r, reqID, op, &in, body)
}

// forwardDynamoDB sends the request to the upstream and streams the
// answer back.
func (g *Gateway) forwardDynamoDB(w http.ResponseWriter, r *http.Request, reqID, op string, in *ddbInput, body []byte) {
	ctx := r.Context()
	// The answer's ARNs are rewritten: ask for it uncompressed.
	hdr := r.Header.Clone()
	hdr.Del("Accept-Encoding")
	o := &outbound{method: http.MethodPost, rawPath: "/", header: hdr, body: body}
	resp, err := g.ddb.roundTrip(ctx, func(ctx context.Context) (*http.Request, error) {
		return g.ddb.newRequest(ctx, o, g.cfg.Now())
	})
	if err != nil {
		g.upstreamFailed(ctx, reqID, err, func(msg string, status int) {
			writeDDBError(w, reqID, &ddbError{status: status, typ: "com.amazon.coral.availability#ServiceUnavailableException", msg: msg})
		})
		return
	}
	defer resp.Body.Close()
	switch op {
	case "CreateTable", "DeleteTable", "UpdateTable":
		g.schemas.forget(in.TableName)
	}
	if err := g.copyDDBResponse(w, resp); err != nil && ctx.Err() == nil {
		g.log.WarnContext(ctx, "gateway: copying the upstream response", "requestId", reqID, "err", err)
	}
}

// upstreamFailed logs an upstream failure and, unless the client is gone,
// answers with write.
func (g *Gateway) upstreamFailed(ctx context.Context, reqID string, err error, write func(msg string, status int)) {
	var ue *errUpstream
	if !errors.As(err, &ue) {
		if ctx.Err() != nil {
			return // the client went away
		}
		g.log.ErrorContext(ctx, "gateway: forwarding failed", "requestId", reqID, "err", err)
		write("podid gateway: forwarding failed", http.StatusInternalServerError)
		return
	}
	g.log.ErrorContext(ctx, "gateway: upstream failure", "requestId", reqID, "err", ue.Error())
	status := http.StatusServiceUnavailable
	if ue.timeout > 0 {
		status = http.StatusGatewayTimeout
	}
	write(ue.Error(), status)
}

// unmarshalInput decodes a request body: members match case-sensitively,
// a duplicated member and invalid UTF-8 are errors, unknown members are
// ignored.
func unmarshalInput(body []byte, in *ddbInput) error {
	return json.Unmarshal(body, in)
}

// serializationMessage turns a JSON decoding error into a message without
// echoing request content.
func serializationMessage(err error) string {
	var se *json.SemanticError
	if errors.As(err, &se) && se.JSONPointer != "" {
		return "Unexpected value at " + echo(string(se.JSONPointer))
	}
	var de *jsontext.SyntacticError
	if errors.As(err, &de) {
		if errors.Is(err, jsontext.ErrDuplicateName) {
			return "Duplicate member at " + echo(string(de.JSONPointer))
		}
		return "The request body is not valid JSON"
	}
	return "The request body could not be read as the operation's input"
}

// readBody reads a whole request body under a limit.
func readBody(r *http.Request, limit int64) ([]byte, *ddbError) {
	if r.Body == nil || r.Body == http.NoBody {
		return nil, nil
	}
	if r.ContentLength > limit {
		return nil, &ddbError{status: http.StatusRequestEntityTooLarge, typ: coralService + "RequestEntityTooLarge", msg: "Request entity too large"}
	}
	b, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil {
		return nil, &ddbError{status: http.StatusBadRequest, typ: coralService + "SerializationException", msg: "The request body could not be read"}
	}
	if int64(len(b)) > limit {
		return nil, &ddbError{status: http.StatusRequestEntityTooLarge, typ: coralService + "RequestEntityTooLarge", msg: "Request entity too large"}
	}
	return b, nil
}

// tableARN returns the ARN of a table named in TableName (a name or, as
// DynamoDB also accepts, the table's ARN) and the bare name.
func (g *Gateway) tableARN(table string) (tableARN, name string) {
	if strings.HasPrefix(table, "arn:") {
		return table, tableNameOfARN(table)
	}
	return arn.ARN{Partition: g.cfg.Partition, Service: "dynamodb", Region: g.cfg.Region, AccountID: g.cfg.AccountID, Resource: "table/" + table}.String(), table
}

// tableNameOfARN returns the table name of a table ARN
// (arn:PARTITION:dynamodb:REGION:ACCOUNT:table/NAME), or "".
func tableNameOfARN(s string) string {
	a, err := arn.Parse(s)
	if err != nil {
		return ""
	}
	name, _ := strings.CutPrefix(a.Resource, "table/")
	if name == a.Resource {
		return ""
	}
	return name
}

// validName reports whether s is a valid DynamoDB table or index name
// (3 to 255 of [a-zA-Z0-9_.-]).
func validName(s string) bool {
	if len(s) < 3 || len(s) > 255 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '.' || c == '-') {
			return false
		}
	}
	return true
}

// checkTable validates a TableName (a name or this account's table ARN in
// this region) and an IndexName before they become resource ARNs, so that
// no name the upstream would read differently reaches a decision.
func (g *Gateway) checkTable(table, index string) *ddbError {
	name := table
	if strings.HasPrefix(table, "arn:") {
		a, err := arn.Parse(table)
		rest, ok := strings.CutPrefix(a.Resource, "table/")
		if err != nil || !ok || a.Partition != g.cfg.Partition || a.Service != "dynamodb" || a.Region != g.cfg.Region || a.AccountID != g.cfg.AccountID {
			return ddbValidation("Invalid TableName: " + echo(table) + " is not a table ARN of account " + g.cfg.AccountID + " in " + g.cfg.Region)
		}
		name = rest
	}
	if !validName(name) {
		return ddbValidation("1 validation error detected: Value '" + echo(table) + "' at 'tableName' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+ and have length between 3 and 255")
	}
	if index != "" && !validName(index) {
		return ddbValidation("1 validation error detected: Value '" + echo(index) + "' at 'indexName' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+ and have length between 3 and 255")
	}
	return nil
}

// needTable is DynamoDB's validation error for a missing TableName.
func needTable() *ddbError {
	return ddbValidation("1 validation error detected: Value null at 'tableName' failed to satisfy constraint: Member must not be null")
}

// ddbChecks maps a request to its authorization checks.
func (g *Gateway) ddbChecks(ctx context.Context, p *auth.Principal, op string, kind ddbKind, in *ddbInput) ([]check, *ddbError) {
	action := "dynamodb:" + op
	// The root is always allowed: skip the schema look-ups that only
	// condition keys need.
	withKeys := !p.IsRoot()
	switch kind {
	case ddbGlobal:
		return []check{{action: action, resource: "*"}}, nil
	case ddbResourceARN:
		if in.ResourceArn == "" {
			return nil, ddbValidation("1 validation error detected: Value null at 'resourceArn' failed to satisfy constraint: Member must not be null")
		}
		return []check{{action: action, resource: in.ResourceArn}}, nil
	case ddbBackupARN:
		if in.BackupArn == "" {
			return nil, ddbValidation("1 validation error detected: Value null at 'backupArn' failed to satisfy constraint: Member must not be null")
		}
		return []check{{action: action, resource: in.BackupArn}}, nil
	case ddbTable, ddbTableOrIndex:
		if in.TableName == "" {
			return nil, needTable()
		}
		if derr := g.checkTable(in.TableName, in.IndexName); derr != nil {
			return nil, derr
		}
		arn, _ := g.tableARN(in.TableName)
		if kind == ddbTableOrIndex && in.IndexName != "" {
			arn += "/index/" + in.IndexName
		}
		return []check{{action: action, resource: arn}}, nil
	case ddbItem, ddbRead:
		c, derr := g.itemCheck(ctx, action, in, withKeys, "")
		if derr != nil {
			return nil, derr
		}
		return []check{c}, nil
	case ddbBatchGet:
		return g.batchGetChecks(ctx, action, in, withKeys)
	case ddbBatchWrite:
		return g.batchWriteChecks(ctx, action, in, withKeys)
	case ddbTransactGet, ddbTransactWrite:
		return g.transactChecks(ctx, op, in, withKeys)
	}
	return nil, ddbInternal()
}

// keySet accumulates the values of a multi-valued condition key, in
// order, without duplicates.
type keySet struct {
	vals []string
}

func (k *keySet) add(v ...string) {
	for _, s := range v {
		if !slices.Contains(k.vals, s) {
			k.vals = append(k.vals, s)
		}
	}
}

// itemCheck is the check of one item operation (GetItem, PutItem,
// UpdateItem, DeleteItem, Query, Scan, or one transaction element):
// the table's (or index's) ARN with dynamodb:LeadingKeys,
// dynamodb:Attributes, dynamodb:Select, dynamodb:ReturnValues,
// dynamodb:ReturnConsumedCapacity and, inside a transaction,
// dynamodb:EnclosingOperation.
func (g *Gateway) itemCheck(ctx context.Context, action string, in *ddbInput, withKeys bool, enclosing string) (check, *ddbError) {
	if in.TableName == "" {
		return check{}, needTable()
	}
	if derr := g.checkTable(in.TableName, in.IndexName); derr != nil {
		return check{}, derr
	}
	arn, table := g.tableARN(in.TableName)
	if in.IndexName != "" && (action == "dynamodb:Query" || action == "dynamodb:Scan") {
		arn += "/index/" + in.IndexName
	}
	c := check{action: action, resource: arn}
	if !withKeys {
		return c, nil
	}
	extra := map[string][]string{}
	var attrs, leading keySet
	for name := range in.Key {
		attrs.add(name)
	}
	for name := range in.Item {
		attrs.add(name)
	}
	attrs.add(in.AttributesToGet...)
	for name := range in.AttributeUpdates {
		attrs.add(name)
	}
	if in.ProjectionExpression != "" {
		names, err := projectionNames(in.ProjectionExpression, in.ExpressionAttributeNames)
		if err != nil {
			return c, exprError("ProjectionExpression", err)
		}
		attrs.add(names...)
	}
	if in.UpdateExpression != "" {
		names, err := updateNames(in.UpdateExpression, in.ExpressionAttributeNames)
		if err != nil {
			return c, exprError("UpdateExpression", err)
		}
		attrs.add(names...)
	}
	if in.KeyConditionExpression != "" {
		names, err := conditionNames(in.KeyConditionExpression, in.ExpressionAttributeNames)
		if err != nil {
			return c, exprError("KeyConditionExpression", err)
		}
		attrs.add(names...)
	}
	for name := range in.KeyConditions {
		attrs.add(name)
	}

	// dynamodb:LeadingKeys: the partition-key values the request touches.
	switch {
	case action == "dynamodb:Scan":
		// A scan fixes no partition key: the key is absent.
	case action == "dynamodb:Query":
		hash, derr := g.partitionKey(ctx, table, in.IndexName)
		if derr != nil {
			return c, derr
		}
		if hash != "" {
			v, err := queryPartitionValue(in, hash)
			if err != nil {
				return c, exprError("KeyConditionExpression", err)
			}
			if v != "" {
				leading.add(v)
			}
		}
	default:
		item := in.Key
		if item == nil {
			item = in.Item
		}
		if v, derr := g.leadingKey(ctx, table, item); derr != nil {
			return c, derr
		} else if v != "" {
			leading.add(v)
		}
	}
	sort.Strings(attrs.vals)
	setKey(extra, "dynamodb:Attributes", attrs.vals)
	setKey(extra, "dynamodb:LeadingKeys", leading.vals)
	setKey(extra, "dynamodb:Select", nonEmpty(in.Select))
	setKey(extra, "dynamodb:ReturnValues", nonEmpty(in.ReturnValues))
	setKey(extra, "dynamodb:ReturnConsumedCapacity", nonEmpty(in.ReturnConsumedCapacity))
	setKey(extra, "dynamodb:EnclosingOperation", nonEmpty(enclosing))
	c.extra = extra
	return c, nil
}

func nonEmpty(s string) []string {
	if s == "" {
		return nil
	}
	return []string{s}
}

func setKey(m map[string][]string, k string, v []string) {
	if len(v) > 0 {
		m[k] = v
	}
}

// exprError is DynamoDB's answer to an expression the gateway cannot read.
func exprError(member string, err error) *ddbError {
	var ne *exprNameError
	if errors.As(err, &ne) {
		return ddbValidation("Invalid " + member + ": " + ne.Error())
	}
	return ddbValidation("Invalid " + member + ": Syntax error")
}

// queryPartitionValue returns the partition-key value a Query fixes.
func queryPartitionValue(in *ddbInput, hash string) (string, error) {
	if in.KeyConditionExpression != "" {
		ph, err := keyConditionValue(in.KeyConditionExpression, hash, in.ExpressionAttributeNames)
		if err != nil || ph == "" {
			return "", err
		}
		v, ok := in.ExpressionAttributeValues[ph]
		if !ok {
			return "", nil // the upstream rejects the undefined placeholder
		}
		return scalarValue(v), nil
	}
	if kc, ok := in.KeyConditions[hash]; ok && kc.ComparisonOperator == "EQ" && len(kc.AttributeValueList) == 1 {
		return scalarValue(kc.AttributeValueList[0]), nil
	}
	return "", nil
}

// leadingKey returns the partition-key value of a key or item.
func (g *Gateway) leadingKey(ctx context.Context, table string, item attrMap) (string, *ddbError) {
	if len(item) == 0 {
		return "", nil
	}
	if len(item) == 1 && table != "" {
		// A key of one attribute is the partition key itself; an item
		// of one attribute too (it must hold the whole primary key).
		for _, v := range item {
			return scalarValue(v), nil
		}
	}
	hash, derr := g.partitionKey(ctx, table, "")
	if derr != nil || hash == "" {
		return "", derr
	}
	if v, ok := item[hash]; ok {
		return scalarValue(v), nil
	}
	return "", nil
}

// partitionKey returns the partition-key attribute of a table or index,
// read from the upstream's DescribeTable (cached). An unknown table has
// none ("": the upstream will answer ResourceNotFoundException). A failed
// look-up is an error: the decision is not made without it.
func (g *Gateway) partitionKey(ctx context.Context, table, index string) (string, *ddbError) {
	if table == "" {
		return "", nil
	}
	s, err := g.schemas.get(ctx, table)
	if err != nil {
		g.log.ErrorContext(ctx, "gateway: reading a table's key schema from the upstream", "table", table, "err", err)
		var ue *errUpstream
		if errors.As(err, &ue) {
			return "", &ddbError{status: http.StatusServiceUnavailable, typ: "com.amazon.coral.availability#ServiceUnavailableException", msg: ue.Error()}
		}
		return "", ddbInternal()
	}
	if s == nil {
		return "", nil
	}
	if index != "" {
		return s.indexes[index], nil
	}
	return s.hash, nil
}

// scalarValue returns the text of a scalar AttributeValue ({"S": "x"},
// {"N": "1"}, {"B": "base64"}); "" for other types.
func scalarValue(v jsontext.Value) string {
	var av map[string]jsontext.Value
	if err := json.Unmarshal(v, &av); err != nil || len(av) != 1 {
		return ""
	}
	for _, k := range []string{"S", "N", "B"} {
		if raw, ok := av[k]; ok {
			var s string
			if json.Unmarshal(raw, &s) == nil {
				return s
			}
		}
	}
	return ""
}

// sortedKeys returns the keys of a map in order.
func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// batchGetChecks checks dynamodb:BatchGetItem on every table of the
// batch, each with the partition keys and attributes it reads there.
func (g *Gateway) batchGetChecks(ctx context.Context, action string, in *ddbInput, withKeys bool) ([]check, *ddbError) {
	var items map[string]batchGetTable
	if len(in.RequestItems) == 0 {
		return nil, ddbValidation("1 validation error detected: Value null at 'requestItems' failed to satisfy constraint: Member must not be null")
	}
	if err := json.Unmarshal(in.RequestItems, &items); err != nil {
		return nil, ddbSerialization(serializationMessage(err))
	}
	var out []check
	for _, table := range sortedKeys(items) {
		t := items[table]
		if derr := g.checkTable(table, ""); derr != nil {
			return nil, derr
		}
		arn, name := g.tableARN(table)
		c := check{action: action, resource: arn}
		if withKeys {
			var attrs, leading keySet
			for _, k := range t.Keys {
				for n := range k {
					attrs.add(n)
				}
				v, derr := g.leadingKey(ctx, name, k)
				if derr != nil {
					return nil, derr
				}
				if v != "" {
					leading.add(v)
				}
			}
			attrs.add(t.AttributesToGet...)
			if t.ProjectionExpression != "" {
				names, err := projectionNames(t.ProjectionExpression, t.ExpressionAttributeNames)
				if err != nil {
					return nil, exprError("ProjectionExpression", err)
				}
				attrs.add(names...)
			}
			sort.Strings(attrs.vals)
			c.extra = map[string][]string{}
			setKey(c.extra, "dynamodb:Attributes", attrs.vals)
			setKey(c.extra, "dynamodb:LeadingKeys", leading.vals)
			setKey(c.extra, "dynamodb:ReturnConsumedCapacity", nonEmpty(in.ReturnConsumedCapacity))
		}
		out = append(out, c)
	}
	return out, nil
}

// batchWriteChecks checks dynamodb:BatchWriteItem on every table of the
// batch, each with the partition keys and attributes it writes there.
func (g *Gateway) batchWriteChecks(ctx context.Context, action string, in *ddbInput, withKeys bool) ([]check, *ddbError) {
	var items map[string][]writeRequest
	if len(in.RequestItems) == 0 {
		return nil, ddbValidation("1 validation error detected: Value null at 'requestItems' failed to satisfy constraint: Member must not be null")
	}
	if err := json.Unmarshal(in.RequestItems, &items); err != nil {
		return nil, ddbSerialization(serializationMessage(err))
	}
	var out []check
	for _, table := range sortedKeys(items) {
		if derr := g.checkTable(table, ""); derr != nil {
			return nil, derr
		}
		arn, name := g.tableARN(table)
		c := check{action: action, resource: arn}
		if withKeys {
			var attrs, leading keySet
			for _, wr := range items[table] {
				var m attrMap
				switch {
				case wr.PutRequest != nil:
					m = wr.PutRequest.Item
				case wr.DeleteRequest != nil:
					m = wr.DeleteRequest.Key
				}
				for n := range m {
					attrs.add(n)
				}
				v, derr := g.leadingKey(ctx, name, m)
				if derr != nil {
					return nil, derr
				}
				if v != "" {
					leading.add(v)
				}
			}
			sort.Strings(attrs.vals)
			c.extra = map[string][]string{}
			setKey(c.extra, "dynamodb:Attributes", attrs.vals)
			setKey(c.extra, "dynamodb:LeadingKeys", leading.vals)
			setKey(c.extra, "dynamodb:ReturnConsumedCapacity", nonEmpty(in.ReturnConsumedCapacity))
		}
		out = append(out, c)
	}
	return out, nil
}

// transactChecks checks each element of a transaction with its item
// action (GetItem, PutItem, UpdateItem, DeleteItem, ConditionCheckItem) and
// dynamodb:EnclosingOperation, as AWS does.
func (g *Gateway) transactChecks(ctx context.Context, op string, in *ddbInput, withKeys bool) ([]check, *ddbError) {
	if len(in.TransactItems) == 0 {
		return nil, ddbValidation("1 validation error detected: Value null at 'transactItems' failed to satisfy constraint: Member must not be null")
	}
	var out []check
	for _, ti := range in.TransactItems {
		var (
			action string
			el     *ddbInput
			n      int
		)
		pick := func(a string, e *ddbInput) {
			if e != nil {
				action, el = a, e
				n++
			}
		}
		if op == "TransactGetItems" {
			pick("dynamodb:GetItem", ti.Get)
		} else {
			pick("dynamodb:PutItem", ti.Put)
			pick("dynamodb:UpdateItem", ti.Update)
			pick("dynamodb:DeleteItem", ti.Delete)
			pick("dynamodb:ConditionCheckItem", ti.ConditionCheck)
		}
		if n != 1 {
			return nil, ddbValidation("TransactItems can only contain one of Check, Put, Update or Delete")
		}
		c, derr := g.itemCheck(ctx, action, el, withKeys, op)
		if derr != nil {
			return nil, derr
		}
		out = append(out, c)
	}
	return out, nil
}
