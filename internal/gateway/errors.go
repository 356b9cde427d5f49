package gateway

import (
	"encoding/json"
	"encoding/xml"
	"errors"
	"hash/crc32"
	"net/http"
	"strconv"
	"strings"

	"github.com/podid/podid/internal/awsproto"
)

// Namespaces of DynamoDB's error types (awsJson1_0 __type). DynamoDB
// answers authentication and authorization failures with the Coral
// framework's names, and its own modelled errors with its service
// namespace.
const (
	coralService  = "com.amazon.coral.service#"
	coralValidate = "com.amazon.coral.validate#"
	ddbNamespace  = "com.amazonaws.dynamodb.v20120810#"
)

// ddbError is an error in DynamoDB's awsJson1_0 form.
type ddbError struct {
	status int
	typ    string // full __type, namespace#Name
	msg    string
	// upperMessage writes "Message" instead of "message" (DynamoDB's
	// AccessDeniedException does; clients read either).
	upperMessage bool
}

func (e *ddbError) Error() string { return e.typ + ": " + e.msg }

// writeDDBError writes e as DynamoDB does: HTTP status, Content-Type
// application/x-amz-json-1.0, x-amzn-RequestId, x-amz-crc32 of the body and
// {"__type": ..., "message": ...}.
func writeDDBError(w http.ResponseWriter, reqID string, e *ddbError) {
	var body []byte
	if e.upperMessage {
		body, _ = json.Marshal(struct {
			Type    string `json:"__type"`
			Message string `json:"Message"`
		}{e.typ, e.msg})
	} else {
		body, _ = json.Marshal(struct {
			Type    string `json:"__type"`
			Message string `json:"message"`
		}{e.typ, e.msg})
	}
	h := w.Header()
	h.Set("Content-Type", "application/x-amz-json-1.0")
	h.Set("x-amzn-RequestId", reqID)
	h.Set("x-amz-crc32", strconv.FormatUint(uint64(crc32.ChecksumIEEE(body)), 10))
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(e.status)
	w.Write(body)
}

// ddbAccessDenied is DynamoDB's answer to a denied request.
func ddbAccessDenied(msg string) *ddbError {
	return &ddbError{status: http.StatusBadRequest, typ: coralService + "AccessDeniedException", msg: msg, upperMessage: true}
}

// ddbValidation is DynamoDB's ValidationException.
func ddbValidation(msg string) *ddbError {
	return &ddbError{status: http.StatusBadRequest, typ: coralValidate + "ValidationException", msg: msg}
}

// ddbSerialization is DynamoDB's answer to a body that is not the JSON
// the operation takes.
func ddbSerialization(msg string) *ddbError {
	return &ddbError{status: http.StatusBadRequest, typ: coralService + "SerializationException", msg: msg}
}

// ddbInternal hides a server-side failure.
func ddbInternal() *ddbError {
	return &ddbError{status: http.StatusInternalServerError, typ: ddbNamespace + "InternalServerError", msg: "Internal server error"}
}

// ddbAuthError translates a SigV4 verification error into DynamoDB's
// names; DynamoDB answers all of them with HTTP 400.
func ddbAuthError(err error) *ddbError {
	var ae *awsproto.Error
	if !errors.As(err, &ae) {
		return ddbInternal()
	}
	if ae.Status >= 500 {
		return ddbInternal()
	}
	je := awsproto.RestJSONAuthError(ae)
	msg := je.Message
	if je.Code == "MissingAuthenticationTokenException" {
		msg = "Request is missing Authentication Token"
	}
	return &ddbError{status: http.StatusBadRequest, typ: coralService + je.Code, msg: msg}
}

// s3Error is an error in S3's REST-XML form.
type s3Error struct {
	status int
	code   string
	msg    string
}

func (e *s3Error) Error() string { return e.code + ": " + e.msg }

// writeS3Error writes e as S3 does: an XML <Error> document (no body for
// HEAD requests), Content-Type application/xml and the request ID in
// x-amz-request-id and the body.
func writeS3Error(w http.ResponseWriter, r *http.Request, reqID string, e *s3Error) {
	h := w.Header()
	h.Set("Content-Type", "application/xml")
	h.Set("x-amz-request-id", reqID)
	h.Set("x-amz-id-2", reqID)
	var b strings.Builder
	b.WriteString(xml.Header)
	b.WriteString("<Error><Code>")
	xml.EscapeText(&b, []byte(e.code))
	b.WriteString("</Code><Message>")
	xml.EscapeText(&b, []byte(e.msg))
	b.WriteString("</Message><RequestId>")
	b.WriteString(reqID)
	b.WriteString("</RequestId><HostId>")
	b.WriteString(reqID)
	b.WriteString("</HostId></Error>")
	if r.Method == http.MethodHead {
		w.WriteHeader(e.status)
		return
	}
	h.Set("Content-Length", strconv.Itoa(b.Len()))
	w.WriteHeader(e.status)
	w.Write([]byte(b.String()))
}

// s3AccessDenied is S3's answer to a denied request.
func s3AccessDenied(msg string) *s3Error {
	return &s3Error{status: http.StatusForbidden, code: "AccessDenied", msg: msg}
}

// s3Internal hides a server-side failure.
func s3Internal() *s3Error {
	return &s3Error{status: http.StatusInternalServerError, code: "InternalError", msg: "We encountered an internal error. Please try again."}
}

// s3AuthError translates a SigV4 verification error into S3's codes and
// sentences. hasToken says whether the request carried a session token.
func s3AuthError(err error, hasToken bool) *s3Error {
	var ae *awsproto.Error
	if !errors.As(err, &ae) || ae.Status >= 500 {
		return s3Internal()
	}
	switch ae.Code {
	case awsproto.CodeSignatureDoesNotMatch:
		if strings.HasPrefix(ae.Message, "Signature expired") || strings.HasPrefix(ae.Message, "Signature not yet current") {
			return &s3Error{status: http.StatusForbidden, code: "RequestTimeTooSkewed", msg: "The difference between the request time and the current time is too large."}
		}
		if strings.HasPrefix(ae.Message, "Credential should be scoped") || strings.HasPrefix(ae.Message, "Date in Credential scope") {
			return &s3Error{status: http.StatusBadRequest, code: "AuthorizationHeaderMalformed", msg: ae.Message}
		}
		return &s3Error{status: http.StatusForbidden, code: "SignatureDoesNotMatch", msg: "The request signature we calculated does not match the signature you provided. Check your key and signing method."}
	case awsproto.CodeInvalidClientTokenID:
		if hasToken {
			return &s3Error{status: http.StatusBadRequest, code: "InvalidToken", msg: "The provided token is malformed or otherwise invalid."}
		}
		return &s3Error{status: http.StatusForbidden, code: "InvalidAccessKeyId", msg: "The AWS Access Key Id you provided does not exist in our records."}
	case awsproto.CodeExpiredToken:
		return &s3Error{status: http.StatusBadRequest, code: "ExpiredToken", msg: "The provided token has expired."}
	case awsproto.CodeRequestExpired:
		return &s3Error{status: http.StatusForbidden, code: "AccessDenied", msg: "Request has expired"}
	case awsproto.CodeIncompleteSignature:
		return &s3Error{status: http.StatusBadRequest, code: "AuthorizationHeaderMalformed", msg: ae.Message}
	case awsproto.CodeMissingAuthenticationToken:
		return &s3Error{status: http.StatusForbidden, code: "AccessDenied", msg: "Access Denied"}
	}
	return &s3Error{status: ae.Status, code: ae.Code, msg: ae.Message}
}

// s3DeniedMessage quotes the resource ARN in an authorizer's sentence, as
// S3 writes it: `... on resource: "arn:aws:s3:::bucket/key" because ...`.
func s3DeniedMessage(msg, resource string) string {
	return strings.Replace(msg, " on resource: "+resource, ` on resource: "`+resource+`"`, 1)
}
