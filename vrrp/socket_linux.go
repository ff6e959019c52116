package vrrp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"syscall"
	"time"

	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
	"golang.org/x/sys/unix"
)

// sockTTL is the TTL or hop limit of every advertisement sent, and the only
// one accepted (RFC 9568 §5.1.1.3, §5.1.2.4, §7.1).
const sockTTL = 255

// sockChecksumOffset is where the checksum sits in a VRRP message (RFC 9568
// §5.2.8), for IPV6_CHECKSUM.
const sockChecksumOffset = 6

var errSockConfig = errors.New("vrrp: invalid socket configuration")

// ConnConfig says where a Conn sends and receives advertisements.
type ConnConfig struct {
	// Interface is the one interface the Conn sends and receives on.
	Interface *net.Interface
	// Family is 4 or 6.
	Family int
	// Source is the source address of sent advertisements: for IPv4 the
	// interface's primary address (RFC 9568 §5.1.1.1), for IPv6 multicast
	// its link-local address (RFC 9568 §5.1.2.1: MUST). For IPv6 unicast
	// (Peers set) it may also be a global or unique local address, so that
	// peers that know this router by that address accept its adverts; the
	// kernel sends from it (IPV6_PKTINFO). It must be on Interface. A zone
	// is ignored.
	Source netip.Addr
	// Peers, when set, are the unicast destinations of advertisements.
	// When empty the Conn uses the VRRP multicast group (RFC 9568 §5.1.1.2,
	// §5.1.2.2).
	Peers []netip.Addr
}

// A Packet is a VRRP message read from a Conn, with what the IP layer said
// about it, as the receive checks of RFC 9568 §7.1 need.
type Packet struct {
	// Payload is the VRRP message, without the IP header. It aliases the
	// buffer given to Read.
	Payload []byte
	// Src is the IP source address, without zone.
	Src netip.Addr
	// Dst is the IP destination address: the group, or a unicast address.
	Dst netip.Addr
	// TTL is the IPv4 TTL or the IPv6 hop limit.
	TTL int
	// IfIndex is the index of the interface the packet arrived on.
	IfIndex int
}

// A Conn is a raw IP socket for VRRP (IP protocol 112) on one interface and
// one address family. It is bound to the interface (SO_BINDTOIFINDEX), so no
// other interface's packets reach it, and receives only the groups it joined
// (IP_MULTICAST_ALL off). It sends with TTL or hop limit 255 and does not loop
// its multicast back. Read and WriteTo may be called concurrently.
//
// For IPv6 the kernel computes the checksum of sent messages and drops
// received messages with a bad checksum (IPV6_CHECKSUM, offset 6), using the
// pseudo-header of RFC 8200 §8.1; a checksum already in the payload is
// replaced. For IPv4 the payload goes out as given.
type Conn struct {
	ifindex int
	src     netip.Addr
	dsts    []netip.Addr
	c       sockConn
}

// sockConn is the raw socket of one family: sock4 or sock6, or a fake.
type sockConn interface {
	read(b []byte) (Packet, error)
	write(b []byte, src, dst netip.Addr, ifindex int) error
	SetReadDeadline(t time.Time) error
	Close() error
}

// Listen opens a Conn. In multicast mode it joins the VRRP group on
// cfg.Interface only.
func Listen(cfg ConnConfig) (*Conn, error) {
	dsts, err := sockCheck(cfg)
	if err != nil {
		return nil, err
	}
	ifi := cfg.Interface
	multicast := len(cfg.Peers) == 0
	var c sockConn
	if cfg.Family == 4 {
		c, err = sockListen4(ifi, multicast)
	} else {
		c, err = sockListen6(ifi, multicast)
	}
	if err != nil {
		return nil, fmt.Errorf("vrrp: listen on %s: %w", ifi.Name, err)
	}
	return &Conn{ifindex: ifi.Index, src: cfg.Source.WithZone(""), dsts: dsts, c: c}, nil
}

// sockCheck validates cfg and returns the destinations.
func sockCheck(cfg ConnConfig) ([]netip.Addr, error) {
	if cfg.Interface == nil || cfg.Interface.Index <= 0 {
		return nil, fmt.Errorf("%w: no interface", errSockConfig)
	}
	var group netip.Addr
	switch cfg.Family {
	case 4:
		group = GroupIPv4
		if !cfg.Source.Is4() || cfg.Source.IsUnspecified() || cfg.Source.IsMulticast() {
			return nil, fmt.Errorf("%w: source %q is not an IPv4 unicast address", errSockConfig, cfg.Source)
		}
	case 6:
		group = GroupIPv6
		src := cfg.Source.WithZone("")
		switch {
		case !src.Is6() || src.Is4In6() || src.IsUnspecified() || src.IsMulticast() || src.IsLoopback():
			return nil, fmt.Errorf("%w: source %q is not an IPv6 unicast address", errSockConfig, cfg.Source)
		case len(cfg.Peers) == 0 && !src.IsLinkLocalUnicast():
			// RFC 9568 §5.1.2.1: the source MUST be the link-local address.
			return nil, fmt.Errorf("%w: source %q: multicast adverts must come from the interface's IPv6 link-local address (RFC 9568 §5.1.2.1); give a link-local source or configure unicast peers", errSockConfig, cfg.Source)
		}
	default:
		return nil, fmt.Errorf("%w: family %d", errSockConfig, cfg.Family)
	}
	if len(cfg.Peers) == 0 {
		return []netip.Addr{group}, nil
	}
	dsts := make([]netip.Addr, 0, len(cfg.Peers))
	for _, p := range cfg.Peers {
		p = p.WithZone("")
		if !p.IsValid() || p.Is4() != (cfg.Family == 4) || p.Is4In6() || p.IsUnspecified() || p.IsMulticast() {
			return nil, fmt.Errorf("%w: peer %q is not an IPv%d unicast address", errSockConfig, p, cfg.Family)
		}
		if !slices.Contains(dsts, p) {
			dsts = append(dsts, p)
		}
	}
	return dsts, nil
}

// Read reads the next VRRP message. The Packet's Payload aliases b. Give a b
// of ReadBufferLen bytes: it holds any valid VRRP message, and a longer one
// is cut to more than MaxLen bytes, which the receive checks reject (a b of
// exactly MaxLen could cut an invalid message into a valid-looking one). The
// IP header is not in b: the kernel strips it for IPv6, and x/net for IPv4
// (its options too). TTL, Dst and
// IfIndex come from control messages (IP_RECVTTL and IP_PKTINFO, or
// IPV6_RECVHOPLIMIT and IPV6_RECVPKTINFO); should the kernel give none, they
// are zero, which the receive checks reject.
func (c *Conn) Read(b []byte) (Packet, error) {
	p, err := c.c.read(b)
	if err != nil {
		return Packet{}, fmt.Errorf("vrrp: read: %w", err)
	}
	return p, nil
}

// WriteTo sends payload, a complete VRRP message, from the configured source
// to dst, which must be one of Destinations.
//
// A send that fails with ENETDOWN is made once more, at once, and only then:
// after the link went down and up, the kernel can leave ENETDOWN pending on
// the socket (sk_err, set while the device was down), and the next send
// reports it instead of sending; that report clears it. Without the retry the
// first advert after a link flap would be lost. A second ENETDOWN means the
// link really is down and is returned.
func (c *Conn) WriteTo(payload []byte, dst netip.Addr) error {
	dst = dst.WithZone("")
	if !slices.Contains(c.dsts, dst) {
		return fmt.Errorf("%w: %s is not a destination of this Conn", errSockConfig, dst)
	}
	err := c.c.write(payload, c.src, dst, c.ifindex)
	if errors.Is(err, syscall.ENETDOWN) {
		err = c.c.write(payload, c.src, dst, c.ifindex)
	}
	if err != nil {
		return fmt.Errorf("vrrp: write to %s: %w", dst, err)
	}
	return nil
}

// Destinations returns where advertisements go: the multicast group, or the
// unicast peers.
func (c *Conn) Destinations() []netip.Addr { return slices.Clone(c.dsts) }

// SetReadDeadline sets the deadline for Read, as net.PacketConn does.
func (c *Conn) SetReadDeadline(t time.Time) error { return c.c.SetReadDeadline(t) }

// Close closes the socket; a blocked Read returns an error matching
// net.ErrClosed.
func (c *Conn) Close() error {
	if err := c.c.Close(); err != nil {
		return fmt.Errorf("vrrp: close: %w", err)
	}
	return nil
}

// sockListenRaw opens a raw socket for VRRP, bound to the interface before
// anything can arrive on it.
func sockListenRaw(network string, ifi *net.Interface, level, mcastAll int) (*net.IPConn, error) {
	lc := net.ListenConfig{
		Control: func(_, _ string, rc syscall.RawConn) error {
			var serr error
			err := rc.Control(func(fd uintptr) {
				serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_BINDTOIFINDEX, ifi.Index)
				if serr != nil {
					serr = fmt.Errorf("SO_BINDTOIFINDEX: %w", serr)
					return
				}
				// Without this, a raw socket also gets the groups other
				// sockets on the host joined (multicast_all, default on).
				if serr = unix.SetsockoptInt(int(fd), level, mcastAll, 0); serr != nil {
					serr = fmt.Errorf("multicast_all: %w", serr)
				}
			})
			if err != nil {
				return err
			}
			return serr
		},
	}
	c, err := lc.ListenPacket(context.Background(), network, "")
	if err != nil {
		return nil, err
	}
	return c.(*net.IPConn), nil
}

// sockSetup runs socket option setters in order, closing c on the first error.
func sockSetup(c *net.IPConn, sets ...func() error) error {
	for _, set := range sets {
		if err := set(); err != nil {
			c.Close()
			return err
		}
	}
	return nil
}

type sock4 struct {
	*ipv4.PacketConn
	ip *net.IPConn // the socket itself, for Socket's own recvmsg and sendmsg
}

func sockListen4(ifi *net.Interface, multicast bool) (*sock4, error) {
	c, err := sockListenRaw("ip4:"+strconv.Itoa(ProtocolNumber), ifi, unix.IPPROTO_IP, unix.IP_MULTICAST_ALL)
	if err != nil {
		return nil, err
	}
	pc := ipv4.NewPacketConn(c)
	sets := []func() error{
		func() error { return pc.SetControlMessage(ipv4.FlagTTL|ipv4.FlagDst|ipv4.FlagInterface, true) },
		func() error { return pc.SetTTL(sockTTL) },
		func() error { return pc.SetMulticastTTL(sockTTL) },
		func() error { return pc.SetMulticastInterface(ifi) },
		func() error { return pc.SetMulticastLoopback(false) },
	}
	if multicast {
		sets = append(sets, func() error {
			return pc.JoinGroup(ifi, &net.IPAddr{IP: GroupIPv4.AsSlice()})
		})
	}
	if err := sockSetup(c, sets...); err != nil {
		return nil, err
	}
	return &sock4{pc, c}, nil
}

func (s *sock4) read(b []byte) (Packet, error) {
	// x/net strips the IPv4 header the kernel delivers on raw sockets,
	// reading it into a separate buffer, so the payload lands at b[0].
	n, cm, src, err := s.ReadFrom(b)
	if err != nil {
		return Packet{}, err
	}
	return sockPacket4(b[:n], cm, src), nil
}

// sockPacket4 assembles a Packet from what ipv4.PacketConn.ReadFrom returned.
func sockPacket4(payload []byte, cm *ipv4.ControlMessage, src net.Addr) Packet {
	p := Packet{Payload: payload, Src: sockAddr(src)}
	if cm != nil {
		p.TTL = cm.TTL
		p.IfIndex = cm.IfIndex
		p.Dst = sockIP(cm.Dst)
	}
	return p
}

func (s *sock4) write(b []byte, src, dst netip.Addr, ifindex int) error {
	// IP_PKTINFO's ipi_spec_dst sets the source address: the socket is not
	// bound to it, as that would also filter what it receives.
	cm := &ipv4.ControlMessage{Src: src.AsSlice(), IfIndex: ifindex}
	_, err := s.WriteTo(b, cm, &net.IPAddr{IP: dst.AsSlice()})
	return err
}

type sock6 struct {
	*ipv6.PacketConn
	ip *net.IPConn // the socket itself, for Socket's own recvmsg and sendmsg
}

func sockListen6(ifi *net.Interface, multicast bool) (*sock6, error) {
	c, err := sockListenRaw("ip6:"+strconv.Itoa(ProtocolNumber), ifi, unix.IPPROTO_IPV6, unix.IPV6_MULTICAST_ALL)
	if err != nil {
		return nil, err
	}
	pc := ipv6.NewPacketConn(c)
	sets := []func() error{
		func() error { return pc.SetChecksum(true, sockChecksumOffset) },
		func() error {
			return pc.SetControlMessage(ipv6.FlagHopLimit|ipv6.FlagDst|ipv6.FlagInterface, true)
		},
		func() error { return pc.SetHopLimit(sockTTL) },
		func() error { return pc.SetMulticastHopLimit(sockTTL) },
		func() error { return pc.SetMulticastInterface(ifi) },
		func() error { return pc.SetMulticastLoopback(false) },
	}
	if multicast {
		sets = append(sets, func() error {
			return pc.JoinGroup(ifi, &net.IPAddr{IP: GroupIPv6.AsSlice()})
		})
	}
	if err := sockSetup(c, sets...); err != nil {
		return nil, err
	}
	return &sock6{pc, c}, nil
}

func (s *sock6) read(b []byte) (Packet, error) {
	n, cm, src, err := s.ReadFrom(b)
	if err != nil {
		return Packet{}, err
	}
	return sockPacket6(b[:n], cm, src), nil
}

// sockPacket6 assembles a Packet from what ipv6.PacketConn.ReadFrom returned.
func sockPacket6(payload []byte, cm *ipv6.ControlMessage, src net.Addr) Packet {
	p := Packet{Payload: payload, Src: sockAddr(src)}
	if cm != nil {
		p.TTL = cm.HopLimit
		p.IfIndex = cm.IfIndex
		p.Dst = sockIP(cm.Dst)
	}
	return p
}

func (s *sock6) write(b []byte, src, dst netip.Addr, ifindex int) error {
	// IPV6_PKTINFO sets the source (link-local, or global for unicast) and
	// the interface, which a link-local destination needs; no zone name is
	// resolved.
	cm := &ipv6.ControlMessage{Src: src.AsSlice(), IfIndex: ifindex, HopLimit: sockTTL}
	_, err := s.WriteTo(b, cm, &net.IPAddr{IP: dst.AsSlice()})
	return err
}

// sockAddr converts a received source address, dropping the zone.
func sockAddr(a net.Addr) netip.Addr {
	ia, ok := a.(*net.IPAddr)
	if !ok {
		return netip.Addr{}
	}
	return sockIP(ia.IP)
}

// sockIP converts an IP from the kernel: IPv4 as 4 bytes, never mapped.
func sockIP(ip net.IP) netip.Addr {
	a, ok := netip.AddrFromSlice(ip)
	if !ok {
		return netip.Addr{}
	}
	return a.Unmap()
}
