package agent

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"runtime"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/podid/podid/internal/testtools"
)

// inNewNetns runs fn on a thread moved into a fresh network namespace and
// fails the test with its error. The thread is never unlocked, so the
// runtime discards it afterwards.
func inNewNetns(t *testing.T, fn func() error) {
	t.Helper()
	testtools.Need(t, testtools.Root) // CAP_SYS_ADMIN to create a network namespace
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("unshare: %w", err)
			return
		}
		errc <- fn()
	}()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}

func TestEnsureAddress(t *testing.T) {
	inNewNetns(t, func() error {
		nl, err := dialNetlink()
		if err != nil {
			return err
		}
		lo, _ := net.InterfaceByName("lo")
		if err := nl.setUp(lo.Index); err != nil {
			return err
		}
		nl.close()

		v4 := netip.MustParseAddr("169.254.170.23")
		v6 := netip.MustParseAddr("fd00:ec2::23")
		// The kernel here may lack the dummy driver; the code path is the
		// same for any link kind.
		for range 2 { // idempotent
			for _, ip := range []netip.Addr{v4, v6} {
				if err := ensureAddress("podidtest0", "bridge", ip); err != nil {
					return fmt.Errorf("ensureAddress(%s): %w", ip, err)
				}
			}
		}
		ifc, err := net.InterfaceByName("podidtest0")
		if err != nil || ifc.Flags&net.FlagUp == 0 {
			return fmt.Errorf("link %+v, %v", ifc, err)
		}
		addrs, _ := ifc.Addrs()
		var got []string
		for _, a := range addrs {
			if !strings.HasPrefix(a.String(), "fe80:") { // the kernel's own
				got = append(got, a.String())
			}
		}
		if strings.Join(got, " ") != "169.254.170.23/32 fd00:ec2::23/128" {
			return fmt.Errorf("link addresses %v", addrs)
		}
		// An existing link is used as is.
		if err := ensureAddress("lo", "dummy", netip.MustParseAddr("169.254.170.24")); err != nil {
			return err
		}
		if ok, _ := isLocal(netip.MustParseAddr("169.254.170.24")); !ok {
			return errors.New("169.254.170.24 not local")
		}

		// The address is now bindable and reachable.
		ln, err := net.Listen("tcp", "169.254.170.23:0")
		if err != nil {
			return err
		}
		defer ln.Close()
		go func() {
			c, err := ln.Accept()
			if err == nil {
				io.WriteString(c, "hi")
				c.Close()
			}
		}()
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			return err
		}
		b, _ := io.ReadAll(c)
		c.Close()
		if string(b) != "hi" {
			return fmt.Errorf("read %q", b)
		}
		return nil
	})
}

func TestEnsureAddressErrors(t *testing.T) {
	inNewNetns(t, func() error {
		if err := ensureAddress("podidtest1", "no-such-kind", netip.MustParseAddr("169.254.170.23")); err == nil {
			return errors.New("created a link of an unknown kind")
		}
		if err := ensureAddress("x", "dummy", netip.Addr{}); err == nil {
			return errors.New("accepted an invalid address")
		}
		return nil
	})
}
