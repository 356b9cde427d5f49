package eks

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/podid/podid/internal/awsproto"
)

// Error is an EKS error: the AWS error plus the members EKS adds to its
// error bodies (clusterName, addonName). errors.As finds the
// *awsproto.Error inside it.
type Error struct {
	AWS         *awsproto.Error
	ClusterName string
	AddonName   string
}

// Error implements error.
func (e *Error) Error() string { return e.AWS.Error() }

// Unwrap returns the AWS error.
func (e *Error) Unwrap() error { return e.AWS }

// EKS error codes.
const (
	CodeInvalidParameter = "InvalidParameterException"
	CodeInvalidRequest   = "InvalidRequestException"
	CodeNotFound         = "ResourceNotFoundException"
	CodeInUse            = "ResourceInUseException"
	CodeLimitExceeded    = "ResourceLimitExceededException"
	CodeAccessDenied     = "AccessDeniedException"
	CodeServer           = "ServerException"
	CodeBadRequest       = "BadRequestException" // tag operations
	CodeTagNotFound      = "NotFoundException"   // tag operations
)

func newErr(status int, code, cluster, addon, format string, args ...any) *Error {
	return &Error{AWS: awsproto.Errorf(status, code, format, args...), ClusterName: cluster, AddonName: addon}
}

func invalidParam(cluster, format string, args ...any) *Error {
	return newErr(http.StatusBadRequest, CodeInvalidParameter, cluster, "", format, args...)
}

func invalidRequest(cluster, format string, args ...any) *Error {
	return newErr(http.StatusBadRequest, CodeInvalidRequest, cluster, "", format, args...)
}

func notFound(cluster, format string, args ...any) *Error {
	return newErr(http.StatusNotFound, CodeNotFound, cluster, "", format, args...)
}

func inUse(cluster, format string, args ...any) *Error {
	return newErr(http.StatusConflict, CodeInUse, cluster, "", format, args...)
}

func clusterNotFound(name string) *Error {
	return notFound(name, "No cluster found for name: %s.", name)
}

func badRequest(format string, args ...any) *Error {
	return newErr(http.StatusBadRequest, CodeBadRequest, "", "", format, args...)
}

func tagNotFound(format string, args ...any) *Error {
	return newErr(http.StatusNotFound, CodeTagNotFound, "", "", format, args...)
}

// internal wraps an unexpected failure; the client sees a generic message.
func internal(cause error) error {
	return awsproto.Internal(CodeServer, cause)
}

// internalf wraps an unexpected failure with context for the log.
func internalf(format string, args ...any) error {
	return internal(fmt.Errorf(format, args...))
}

// asAWS returns the AWS error and extra members of err for the wire.
func asAWS(err error) (ae *awsproto.Error, cluster, addon string) {
	var ee *Error
	if errors.As(err, &ee) {
		return ee.AWS, ee.ClusterName, ee.AddonName
	}
	if errors.As(err, &ae) {
		return ae, "", ""
	}
	return awsproto.Internal(CodeServer, err), "", ""
}
