package awsproto

import "context"

type requestIDKey struct{}

// WithRequestID returns a context carrying the request's ID.
func WithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDKey{}, id)
}

// RequestIDFrom returns the request ID set by the server's edge ("" if none).
func RequestIDFrom(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

type operationKey struct{}

// WithOperationSlot returns a context in which a restJson1 service's
// router can record the operation a request resolved to (see
// [SetOperation]), and the slot the edge reads it from afterwards. The
// edge labels its request metrics with it.
func WithOperationSlot(ctx context.Context) (context.Context, *string) {
	slot := new(string)
	return context.WithValue(ctx, operationKey{}, slot), slot
}

// SetOperation records the operation a request was routed to, when the
// context carries a slot. Callers pass only operation names from their own
// routing tables, never request input.
func SetOperation(ctx context.Context, name string) {
	if slot, ok := ctx.Value(operationKey{}).(*string); ok {
		*slot = name
	}
}
