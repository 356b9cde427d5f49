// Package awsproto implements the wire protocols podid speaks: SigV4
// verification, the awsQuery protocol (IAM, STS) with XML responses, and
// restJson1 (EKS, EKS Auth), with one error type for both.
package awsproto

import (
	"fmt"
	"net/http"
)

// Error is an AWS error as a client sees it: a code, a message written for
// clients and an HTTP status. Cause is kept for logs only and is never sent.
type Error struct {
	Code    string
	Message string
	Status  int
	// Sender is true for client errors (XML <Type>Sender</Type>), false for
	// server faults (<Type>Receiver</Type>).
	Sender bool
	Cause  error
}

// Error implements error.
func (e *Error) Error() string {
	if e.Cause != nil {
		return fmt.Sprintf("%s: %s (%v)", e.Code, e.Message, e.Cause)
	}
	return e.Code + ": " + e.Message
}

// Unwrap returns the internal cause.
func (e *Error) Unwrap() error { return e.Cause }

// Errorf builds a client error with a formatted message.
func Errorf(status int, code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...), Status: status, Sender: status < 500}
}

// Internal wraps an unexpected server-side failure. The client sees only a
// generic message; cause goes to the log.
func Internal(code string, cause error) *Error {
	return &Error{Code: code, Message: "We encountered an internal error. Please try again.", Status: http.StatusInternalServerError, Cause: cause}
}
