package iam

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/podid/podid/internal/awsproto"
)

// IAM error codes (the awsQueryError codes of the IAM model).
const (
	codeNoSuchEntity        = "NoSuchEntity"
	codeEntityAlreadyExists = "EntityAlreadyExists"
	codeDeleteConflict      = "DeleteConflict"
	codeLimitExceeded       = "LimitExceeded"
	codeInvalidInput        = "InvalidInput"
	codeMalformedPolicy     = "MalformedPolicyDocument"
	codeValidationError     = "ValidationError"
	codeInvalidAction       = "InvalidAction"

	codePasswordPolicyViolation       = "PasswordPolicyViolation"
	codeInvalidUserType               = "InvalidUserType"
	codeEntityTemporarilyUnmodifiable = "EntityTemporarilyUnmodifiable"
)

func noSuchEntity(format string, args ...any) *awsproto.Error {
	return awsproto.Errorf(http.StatusNotFound, codeNoSuchEntity, format, args...)
}

func alreadyExists(format string, args ...any) *awsproto.Error {
	return awsproto.Errorf(http.StatusConflict, codeEntityAlreadyExists, format, args...)
}

func deleteConflict(msg string) *awsproto.Error {
	return awsproto.Errorf(http.StatusConflict, codeDeleteConflict, "%s", msg)
}

func limitExceeded(format string, args ...any) *awsproto.Error {
	return awsproto.Errorf(http.StatusConflict, codeLimitExceeded, format, args...)
}

func invalidInput(format string, args ...any) *awsproto.Error {
	return awsproto.Errorf(http.StatusBadRequest, codeInvalidInput, format, args...)
}

func validationError(msg string) *awsproto.Error {
	return awsproto.Errorf(http.StatusBadRequest, codeValidationError, "%s", msg)
}

func malformedPolicy(msg string) *awsproto.Error {
	return awsproto.Errorf(http.StatusBadRequest, codeMalformedPolicy, "%s", msg)
}

// Messages of the NoSuchEntity errors, as IAM words them.
func noSuchRole(name string) *awsproto.Error {
	return noSuchEntity("The role with name %s cannot be found.", name)
}

func noSuchUser(name string) *awsproto.Error {
	return noSuchEntity("The user with name %s cannot be found.", name)
}

func noSuchPolicy(arn string) *awsproto.Error {
	return noSuchEntity("Policy %s was not found.", arn)
}

func notAttachable(arn string) *awsproto.Error {
	return noSuchEntity("Policy %s does not exist or is not attachable.", arn)
}

func noSuchVersion(arn, version string) *awsproto.Error {
	return noSuchEntity("Policy %s version %s does not exist or is not attachable.", arn, version)
}

func noSuchBoundary(arn string) *awsproto.Error {
	return noSuchEntity("Scope ARN: %s does not exist or is not attachable.", arn)
}

func noSuchRolePolicy(name string) *awsproto.Error {
	return noSuchEntity("The role policy with name %s cannot be found.", name)
}

func noSuchUserPolicy(name string) *awsproto.Error {
	return noSuchEntity("The user policy with name %s cannot be found.", name)
}

func noSuchAccessKey(id string) *awsproto.Error {
	return noSuchEntity("The Access Key with id %s cannot be found", id)
}

func noSuchOIDCProvider(arn string) *awsproto.Error {
	return noSuchEntity("OpenIDConnect Provider not found for arn %s", arn)
}

// violations collects the constraint failures of one request, in the order
// the model lists the members, and reports them the way AWS's front end
// does: "1 validation error detected: Value 'x' at 'roleName' failed to
// satisfy constraint: …", or "N validation errors detected: …; …".
type violations struct {
	msgs []string
}

// add records that value at member (the lower-camel member path) failed
// constraint.
func (v *violations) add(value, member, constraint string) {
	v.msgs = append(v.msgs, fmt.Sprintf("Value '%s' at '%s' failed to satisfy constraint: %s", value, member, constraint))
}

// null records a required member that was not sent.
func (v *violations) null(member string) {
	v.msgs = append(v.msgs, fmt.Sprintf("Value null at '%s' failed to satisfy constraint: Member must not be null", member))
}

// err returns the ValidationError, or nil when nothing failed.
func (v *violations) err() error {
	switch len(v.msgs) {
	case 0:
		return nil
	case 1:
		return validationError("1 validation error detected: " + v.msgs[0])
	}
	return validationError(strconv.Itoa(len(v.msgs)) + " validation errors detected: " + strings.Join(v.msgs, "; "))
}

// Constraint sentences.
func maxLen(n int) string { return "Member must have length less than or equal to " + strconv.Itoa(n) }
func minLen(n int) string {
	return "Member must have length greater than or equal to " + strconv.Itoa(n)
}
func maxVal(n int) string { return "Member must have value less than or equal to " + strconv.Itoa(n) }
func minVal(n int) string {
	return "Member must have value greater than or equal to " + strconv.Itoa(n)
}
func pattern(p string) string {
	return "Member must satisfy regular expression pattern: " + p
}
