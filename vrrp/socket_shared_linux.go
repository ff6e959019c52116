package vrrp

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// A Socket is one raw VRRP socket on one interface and address family, made
// to be shared by every virtual router there: it has no source address and
// no destinations of its own, each write says both, and one reader
// demultiplexes what it reads (by VRID, the second octet). It is opened as a
// Conn is (bound to the interface, IP_MULTICAST_ALL off, TTL and hop limit
// 255, no multicast loopback, IPV6_CHECKSUM for IPv6) and joins the VRRP
// group when multicast is set.
//
// Read and WriteFrom allocate nothing: they call recvmsg and sendmsg with
// buffers the Socket owns. Only one goroutine may Read; WriteFrom may be
// called from any number, concurrently with Read.
type Socket struct {
	ifindex int
	family  int
	ip      *net.IPConn
	rc      syscall.RawConn

	// The read side, owned by the one reader.
	rbuf   []byte
	rname  unix.RawSockaddrAny
	roob   [16]uint64 // aligned for cmsghdr
	riov   unix.Iovec
	rmsg   unix.Msghdr
	rn     int
	roobn  int
	rerr   syscall.Errno
	readFn func(fd uintptr) bool

	// The write side: one write at a time.
	wmu     sync.Mutex
	wname4  unix.RawSockaddrInet4
	wname6  unix.RawSockaddrInet6
	woob    [8]uint64 // aligned for cmsghdr
	wiov    unix.Iovec
	wmsg    unix.Msghdr
	werr    syscall.Errno
	writeFn func(fd uintptr) bool
}

// socketIPv4HeaderMax is the longest IPv4 header, options included: a raw
// IPv4 socket reads the header with the payload.
const socketIPv4HeaderMax = 60

// ListenSocket opens a Socket on ifi for family (4 or 6). With multicast it
// joins the VRRP group (RFC 9568 §5.1.1.2, §5.1.2.2) on ifi; without, it gets
// the VRRP packets sent to the host's own addresses on ifi (unicast).
func ListenSocket(ifi *net.Interface, family int, multicast bool) (*Socket, error) {
	if ifi == nil || ifi.Index <= 0 {
		return nil, fmt.Errorf("%w: no interface", errSockConfig)
	}
	s := &Socket{ifindex: ifi.Index, family: family, rbuf: make([]byte, ReadBufferLen+socketIPv4HeaderMax)}
	var err error
	switch family {
	case 4:
		var c *sock4
		if c, err = sockListen4(ifi, multicast); err == nil {
			s.ip = c.ip
		}
	case 6:
		var c *sock6
		if c, err = sockListen6(ifi, multicast); err == nil {
			s.ip = c.ip
		}
	default:
		return nil, fmt.Errorf("%w: family %d", errSockConfig, family)
	}
	if err != nil {
		return nil, fmt.Errorf("vrrp: listen on %s: %w", ifi.Name, err)
	}
	if s.rc, err = s.ip.SyscallConn(); err != nil {
		s.ip.Close()
		return nil, fmt.Errorf("vrrp: listen on %s: %w", ifi.Name, err)
	}
	s.init()
	return s, nil
}

// init builds the message headers and the functions the raw calls run, once,
// so that Read and WriteFrom allocate nothing. The calls are RawSyscall: the
// socket is non-blocking, so each returns at once (EAGAIN sends the reader
// back to the netpoller), and the runtime's syscall entry, which Syscall
// makes, would wake its sysmon thread from its sleep at every packet
// (issue 12: two extra thread wake-ups per advert).
func (s *Socket) init() {
	s.riov.Base = &s.rbuf[0]
	s.riov.SetLen(len(s.rbuf))
	s.rmsg.Iov = &s.riov
	s.rmsg.SetIovlen(1)
	s.readFn = func(fd uintptr) bool {
		s.rmsg.Name = (*byte)(unsafe.Pointer(&s.rname))
		s.rmsg.Namelen = unix.SizeofSockaddrAny
		s.rmsg.Control = (*byte)(unsafe.Pointer(&s.roob[0]))
		s.rmsg.SetControllen(len(s.roob) * 8)
		s.rmsg.Flags = 0
		for {
			n, _, e := unix.RawSyscall(unix.SYS_RECVMSG, fd, uintptr(unsafe.Pointer(&s.rmsg)), 0)
			switch e {
			case unix.EINTR:
				continue
			case unix.EAGAIN:
				return false // wait until readable
			}
			s.rn, s.roobn, s.rerr = int(n), int(s.rmsg.Controllen), e
			return true
		}
	}
	s.wmsg.Iov = &s.wiov
	s.wmsg.SetIovlen(1)
	s.writeFn = func(fd uintptr) bool {
		for {
			_, _, e := unix.RawSyscall(unix.SYS_SENDMSG, fd, uintptr(unsafe.Pointer(&s.wmsg)), 0)
			switch e {
			case unix.EINTR:
				continue
			case unix.EAGAIN:
				return false
			}
			s.werr = e
			return true
		}
	}
}

// IfIndex returns the index of the Socket's interface.
func (s *Socket) IfIndex() int { return s.ifindex }

// Read reads the next VRRP message into the Socket's own buffer: the
// Packet's Payload is valid until the next Read. As with Conn.Read, a message
// longer than any valid one arrives longer than MaxLen, and the IP header is
// not in the Payload. For IPv4, Src, Dst and TTL come from the IP header and
// IfIndex from IP_PKTINFO; for IPv6, Src from the socket address, Dst and
// IfIndex from IPV6_PKTINFO and TTL from IPV6_HOPLIMIT. What the kernel did
// not give is zero, which the receive checks reject.
func (s *Socket) Read() (Packet, error) {
	if err := s.rc.Read(s.readFn); err != nil {
		return Packet{}, fmt.Errorf("vrrp: read: %w", err)
	}
	if s.rerr != 0 {
		return Packet{}, fmt.Errorf("vrrp: read: %w", s.rerr)
	}
	oob := unsafe.Slice((*byte)(unsafe.Pointer(&s.roob[0])), len(s.roob)*8)[:s.roobn]
	if s.family == 4 {
		return socketPacket4(s.rbuf[:s.rn], oob), nil
	}
	return socketPacket6(s.rbuf[:s.rn], (*unix.RawSockaddrInet6)(unsafe.Pointer(&s.rname)), oob), nil
}

// socketPacket4 takes a Packet from what a raw IPv4 socket read: the IP
// header, then the payload. A header that does not fit gives an empty
// payload (DropShort).
func socketPacket4(b, oob []byte) Packet {
	var p Packet
	if len(b) < 20 || b[0]>>4 != 4 {
		return p
	}
	ihl := int(b[0]&0x0f) * 4
	if ihl < 20 || ihl > len(b) {
		return p
	}
	p.Payload = b[ihl:]
	p.TTL = int(b[8])
	p.Src = netip.AddrFrom4([4]byte(b[12:16]))
	p.Dst = netip.AddrFrom4([4]byte(b[16:20]))
	socketCmsgs(oob, func(level, typ int32, data []byte) {
		if level == unix.IPPROTO_IP && typ == unix.IP_PKTINFO && len(data) >= unix.SizeofInet4Pktinfo {
			p.IfIndex = int((*unix.Inet4Pktinfo)(unsafe.Pointer(&data[0])).Ifindex)
		}
	})
	return p
}

// socketPacket6 takes a Packet from what a raw IPv6 socket read: the payload
// alone, the source in name.
func socketPacket6(b []byte, name *unix.RawSockaddrInet6, oob []byte) Packet {
	p := Packet{Payload: b}
	if name.Family == unix.AF_INET6 {
		p.Src = netip.AddrFrom16(name.Addr).Unmap()
	}
	socketCmsgs(oob, func(level, typ int32, data []byte) {
		if level != unix.IPPROTO_IPV6 {
			return
		}
		switch {
		case typ == unix.IPV6_PKTINFO && len(data) >= unix.SizeofInet6Pktinfo:
			pi := (*unix.Inet6Pktinfo)(unsafe.Pointer(&data[0]))
			p.Dst = netip.AddrFrom16(pi.Addr).Unmap()
			p.IfIndex = int(pi.Ifindex)
		case typ == unix.IPV6_HOPLIMIT && len(data) >= 4:
			p.TTL = int(*(*int32)(unsafe.Pointer(&data[0])))
		}
	})
	return p
}

// socketCmsgs calls f with each control message in oob.
func socketCmsgs(oob []byte, f func(level, typ int32, data []byte)) {
	for len(oob) >= unix.SizeofCmsghdr {
		h, data, rest, err := unix.ParseOneSocketControlMessage(oob)
		if err != nil {
			return
		}
		f(h.Level, h.Type, data)
		oob = rest
	}
}

// WriteFrom sends payload, a complete VRRP message, from src to dst on the
// Socket's interface. src must be an address of that interface (IP_PKTINFO's
// ipi_spec_dst, IPV6_PKTINFO: the socket is not bound to one). A send that
// fails with ENETDOWN is made once more at once, as Conn.WriteTo explains.
func (s *Socket) WriteFrom(payload []byte, src, dst netip.Addr) error {
	src, dst = src.Unmap().WithZone(""), dst.Unmap().WithZone("")
	if !src.IsValid() || !dst.IsValid() || src.Is4() != (s.family == 4) || dst.Is4() != (s.family == 4) {
		return fmt.Errorf("%w: source %v and destination %v on an IPv%d socket", errSockConfig, src, dst, s.family)
	}
	if len(payload) == 0 {
		return fmt.Errorf("%w: empty message", errSockConfig)
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	s.prepareWrite(payload, src, dst)
	err := s.write()
	if errors.Is(err, syscall.ENETDOWN) {
		err = s.write()
	}
	if err != nil {
		return fmt.Errorf("vrrp: write to %s: %w", dst, err)
	}
	return nil
}

// prepareWrite fills the write message header; s.wmu is held.
func (s *Socket) prepareWrite(payload []byte, src, dst netip.Addr) {
	s.wiov.Base = &payload[0]
	s.wiov.SetLen(len(payload))
	oob := unsafe.Slice((*byte)(unsafe.Pointer(&s.woob[0])), len(s.woob)*8)
	clear(oob)
	h := (*unix.Cmsghdr)(unsafe.Pointer(&oob[0]))
	data := unsafe.Pointer(&oob[unix.CmsgLen(0)])
	if s.family == 4 {
		s.wname4 = unix.RawSockaddrInet4{Family: unix.AF_INET, Addr: dst.As4()}
		s.wmsg.Name = (*byte)(unsafe.Pointer(&s.wname4))
		s.wmsg.Namelen = unix.SizeofSockaddrInet4
		h.Level, h.Type = unix.IPPROTO_IP, unix.IP_PKTINFO
		h.SetLen(unix.CmsgLen(unix.SizeofInet4Pktinfo))
		*(*unix.Inet4Pktinfo)(data) = unix.Inet4Pktinfo{Ifindex: int32(s.ifindex), Spec_dst: src.As4()}
		s.wmsg.Control = &oob[0]
		s.wmsg.SetControllen(unix.CmsgSpace(unix.SizeofInet4Pktinfo))
		return
	}
	s.wname6 = unix.RawSockaddrInet6{Family: unix.AF_INET6, Addr: dst.As16()}
	if dst.IsLinkLocalUnicast() || dst.IsLinkLocalMulticast() {
		s.wname6.Scope_id = uint32(s.ifindex)
	}
	s.wmsg.Name = (*byte)(unsafe.Pointer(&s.wname6))
	s.wmsg.Namelen = unix.SizeofSockaddrInet6
	h.Level, h.Type = unix.IPPROTO_IPV6, unix.IPV6_PKTINFO
	h.SetLen(unix.CmsgLen(unix.SizeofInet6Pktinfo))
	*(*unix.Inet6Pktinfo)(data) = unix.Inet6Pktinfo{Addr: src.As16(), Ifindex: uint32(s.ifindex)}
	s.wmsg.Control = &oob[0]
	s.wmsg.SetControllen(unix.CmsgSpace(unix.SizeofInet6Pktinfo))
}

// write makes one sendmsg with the prepared header; s.wmu is held.
func (s *Socket) write() error {
	s.werr = 0
	if err := s.rc.Write(s.writeFn); err != nil {
		return err
	}
	if s.werr != 0 {
		return s.werr
	}
	return nil
}

// Close closes the socket; a blocked Read returns an error matching
// net.ErrClosed.
func (s *Socket) Close() error {
	if err := s.ip.Close(); err != nil {
		return fmt.Errorf("vrrp: close: %w", err)
	}
	return nil
}

// Destinations validates cfg as Listen does and returns where its
// advertisements go: the VRRP group, or the unicast peers without
// duplicates. It is for callers that send through a shared Socket.
func (cfg ConnConfig) Destinations() ([]netip.Addr, error) { return sockCheck(cfg) }
