package awsproto

import "github.com/podid/podid/internal/ids"

// NewRequestID returns a random request ID in AWS's UUID form.
func NewRequestID() string { return ids.NewUUID() }
