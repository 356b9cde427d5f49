package agent

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"

	"golang.org/x/sys/unix"
)

// EnsureAddress makes ip a local address of the link named linkName,
// creating linkName as a dummy link if it does not exist and bringing it
// up. Nothing is done when ip is already local on any link. It needs
// CAP_NET_ADMIN in the node's network namespace (the agent runs with
// hostNetwork), which replaces the official agent's privileged init
// container. The kernel's local route for the address is all pods need to
// reach it; no other route is added.
func EnsureAddress(linkName string, ip netip.Addr) error {
	return ensureAddress(linkName, "dummy", ip)
}

func ensureAddress(linkName, kind string, ip netip.Addr) error {
	ip = ip.Unmap()
	if !ip.IsValid() {
		return errors.New("invalid address")
	}
	if local, err := isLocal(ip); err != nil {
		return err
	} else if local {
		return nil
	}
	nl, err := dialNetlink()
	if err != nil {
		return err
	}
	defer nl.close()
	ifc, err := net.InterfaceByName(linkName)
	if err != nil {
		if err := nl.createLink(linkName, kind); err != nil {
			return fmt.Errorf("create %s link %s: %w", kind, linkName, err)
		}
		if ifc, err = net.InterfaceByName(linkName); err != nil {
			return fmt.Errorf("find link %s: %w", linkName, err)
		}
	}
	if ifc.Flags&net.FlagUp == 0 {
		if err := nl.setUp(ifc.Index); err != nil {
			return fmt.Errorf("bring up link %s: %w", linkName, err)
		}
	}
	if err := nl.addAddr(ifc.Index, ip); err != nil {
		return fmt.Errorf("add %s to link %s: %w", ip, linkName, err)
	}
	return nil
}

// isLocal reports whether ip is assigned to any link.
func isLocal(ip netip.Addr) (bool, error) {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return false, fmt.Errorf("list local addresses: %w", err)
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok {
			if x, ok := netip.AddrFromSlice(n.IP); ok && x.Unmap() == ip {
				return true, nil
			}
		}
	}
	return false, nil
}

// netlinkConn is a NETLINK_ROUTE socket for a few synchronous requests.
type netlinkConn struct {
	fd  int
	seq uint32
}

func dialNetlink() (*netlinkConn, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("open netlink socket: %w", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("bind netlink socket: %w", err)
	}
	tv := unix.Timeval{Sec: 2}
	_ = unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
	return &netlinkConn{fd: fd}, nil
}

func (c *netlinkConn) close() { unix.Close(c.fd) }

// attr encodes one rtattr, padded to 4 bytes.
func attr(typ uint16, data []byte) []byte {
	l := unix.SizeofRtAttr + len(data)
	b := make([]byte, (l+3)&^3)
	binary.NativeEndian.PutUint16(b[0:], uint16(l))
	binary.NativeEndian.PutUint16(b[2:], typ)
	copy(b[unix.SizeofRtAttr:], data)
	return b
}

// ifinfomsg encodes struct ifinfomsg.
func ifinfomsg(index int32, flags, change uint32) []byte {
	b := make([]byte, unix.SizeofIfInfomsg)
	b[0] = unix.AF_UNSPEC
	binary.NativeEndian.PutUint32(b[4:], uint32(index))
	binary.NativeEndian.PutUint32(b[8:], flags)
	binary.NativeEndian.PutUint32(b[12:], change)
	return b
}

func (c *netlinkConn) createLink(name, kind string) error {
	msg := ifinfomsg(0, 0, 0)
	msg = append(msg, attr(unix.IFLA_IFNAME, append([]byte(name), 0))...)
	msg = append(msg, attr(unix.IFLA_LINKINFO, attr(unix.IFLA_INFO_KIND, []byte(kind)))...)
	err := c.request(unix.RTM_NEWLINK, unix.NLM_F_CREATE|unix.NLM_F_EXCL, msg)
	if errors.Is(err, unix.EEXIST) {
		return nil
	}
	return err
}

func (c *netlinkConn) setUp(index int) error {
	return c.request(unix.RTM_NEWLINK, 0, ifinfomsg(int32(index), unix.IFF_UP, unix.IFF_UP))
}

func (c *netlinkConn) addAddr(index int, ip netip.Addr) error {
	b := make([]byte, unix.SizeofIfAddrmsg)
	raw := ip.AsSlice()
	if ip.Is4() {
		b[0], b[1] = unix.AF_INET, 32
	} else {
		b[0], b[1] = unix.AF_INET6, 128
		b[2] = unix.IFA_F_NODAD // no duplicate detection on a node-local address
	}
	binary.NativeEndian.PutUint32(b[4:], uint32(index))
	b = append(b, attr(unix.IFA_LOCAL, raw)...)
	b = append(b, attr(unix.IFA_ADDRESS, raw)...)
	err := c.request(unix.RTM_NEWADDR, unix.NLM_F_CREATE|unix.NLM_F_EXCL, b)
	if errors.Is(err, unix.EEXIST) {
		return nil
	}
	return err
}

// request sends one message and waits for its acknowledgement.
func (c *netlinkConn) request(typ uint16, flags uint16, payload []byte) error {
	c.seq++
	msg := make([]byte, unix.SizeofNlMsghdr+len(payload))
	binary.NativeEndian.PutUint32(msg[0:], uint32(len(msg)))
	binary.NativeEndian.PutUint16(msg[4:], typ)
	binary.NativeEndian.PutUint16(msg[6:], flags|unix.NLM_F_REQUEST|unix.NLM_F_ACK)
	binary.NativeEndian.PutUint32(msg[8:], c.seq)
	copy(msg[unix.SizeofNlMsghdr:], payload)
	if err := unix.Sendto(c.fd, msg, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return fmt.Errorf("netlink send: %w", err)
	}
	buf := make([]byte, 1<<16)
	for {
		n, _, err := unix.Recvfrom(c.fd, buf, 0)
		if err != nil {
			return fmt.Errorf("netlink receive: %w", err)
		}
		msgs, err := syscall.ParseNetlinkMessage(buf[:n])
		if err != nil {
			return fmt.Errorf("netlink parse: %w", err)
		}
		for _, m := range msgs {
			if m.Header.Seq != c.seq {
				continue
			}
			switch m.Header.Type {
			case unix.NLMSG_ERROR:
				if len(m.Data) < 4 {
					return errors.New("netlink: short error message")
				}
				if code := int32(binary.NativeEndian.Uint32(m.Data)); code != 0 {
					return syscall.Errno(-code)
				}
				return nil
			case unix.NLMSG_DONE:
				return nil
			}
		}
	}
}
