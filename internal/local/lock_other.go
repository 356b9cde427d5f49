//go:build !unix

package local

// Lock is a no-op where flock(2) is not available.
func Lock(string) (release func() error, err error) {
	return func() error { return nil }, nil
}
