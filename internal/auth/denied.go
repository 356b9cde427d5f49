package auth

// DeniedError is a refusal by the Authorizer. Message is AWS's sentence
// ("User: ARN is not authorized to perform: ACTION on resource: ARN because
// …"), safe to send to the client; services map it to their protocol's
// access-denied code.
type DeniedError struct {
	Message string
	// Explicit is true when a Deny statement refused the request (an
	// implicit deny is no statement allowing it). Account-level grants
	// such as the password policy's AllowUsersToChangePassword override
	// an implicit deny only.
	Explicit bool
}

// Error implements error.
func (e *DeniedError) Error() string { return e.Message }
