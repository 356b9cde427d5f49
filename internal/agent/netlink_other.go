//go:build !linux

package agent

import (
	"errors"
	"net/netip"
)

// EnsureAddress is only implemented on Linux; elsewhere the addresses must
// already be local.
func EnsureAddress(linkName string, ip netip.Addr) error {
	return errors.ErrUnsupported
}
