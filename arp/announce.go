package arp

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"

	mdarp "github.com/mdlayher/arp"
	"github.com/mdlayher/ethernet"
	"github.com/mdlayher/ndp"
	"github.com/mdlayher/packet"
)

// Errors callers decide on. Every error this package returns is prefixed "arp: ".
var (
	// ErrInvalidAddr is returned by Announce for an invalid or unspecified
	// address.
	ErrInvalidAddr = errors.New("arp: invalid address")
	// ErrNoHardwareAddr is returned by Dial for an interface without an
	// Ethernet (6-byte) hardware address.
	ErrNoHardwareAddr = errors.New("arp: interface has no Ethernet address")
	// ErrNoLinkLocal is returned by Announce for an IPv6 address while the
	// interface has no usable link-local address to send from; a later
	// Announce tries again.
	ErrNoLinkLocal = errors.New("arp: interface has no usable IPv6 link-local address")
)

// allNodes is the IPv6 all-nodes multicast group, the destination of an
// unsolicited Neighbor Advertisement (RFC 4861 §7.2.6).
var allNodes = netip.MustParseAddr("ff02::1")

// An Announcer announces addresses on one interface. It keeps its sockets for
// its whole life: an ARP packet socket opened by Dial, and a raw ICMPv6 socket
// opened at the first IPv6 announcement (see Announce). It is safe for
// concurrent use.
type Announcer struct {
	ifi *net.Interface
	arp net.PacketConn // Ethernet frames, addressed with *packet.Addr

	mu     sync.Mutex
	openND func() (net.PacketConn, error)
	nd     net.PacketConn // ICMPv6 messages, addressed with *net.IPAddr; nil until needed
	ndDst  net.Addr
	closed bool
}

// newAnnouncer is Dial with its sockets given: arp sends Ethernet frames,
// openND opens a socket that sends ICMPv6 messages from the link-local address
// with hop limit 255.
func newAnnouncer(ifi *net.Interface, arp net.PacketConn, openND func() (net.PacketConn, error)) (*Announcer, error) {
	if len(ifi.HardwareAddr) != 6 {
		return nil, fmt.Errorf("%w: %s", ErrNoHardwareAddr, ifi.Name)
	}
	return &Announcer{
		ifi:    ifi,
		arp:    arp,
		openND: openND,
		// A numeric zone: names resolve in the process's namespace view,
		// indexes need no resolving.
		ndDst: &net.IPAddr{IP: allNodes.AsSlice(), Zone: fmt.Sprint(ifi.Index)},
	}, nil
}

// Announce tells the link's neighbours that addr is at this interface's
// hardware address.
//
// For IPv4 it sends two gratuitous ARP packets to the Ethernet broadcast
// address, both with sender and target protocol address addr and sender
// hardware address the interface's: an ARP request (target hardware address
// zero, the RFC 5227 §3 announcement) and an ARP reply (target hardware address
// the interface's, the RFC 5944 §4.6 form), as neighbours differ in which they
// accept. Linux updates an existing neighbour entry from either but creates none.
//
// For IPv6 it sends an unsolicited Neighbor Advertisement to ff02::1 with the
// Override flag set, Solicited clear, and a target link-layer address option
// (RFC 4861 §7.2.6), from the interface's link-local address with hop limit 255.
// That socket is opened at the first IPv6 Announce, because a VIP's interface
// may not have a link-local address yet (it is still tentative during duplicate
// address detection); until it has, Announce returns ErrNoLinkLocal. A failed
// send closes the socket, so the next Announce opens it again.
func (a *Announcer) Announce(addr netip.Addr) error {
	addr = addr.WithZone("")
	switch {
	case !addr.IsValid() || addr.IsUnspecified() || addr.IsMulticast():
		return fmt.Errorf("%w: %q", ErrInvalidAddr, addr)
	case addr.Is4() || addr.Is4In6():
		return a.announce4(addr.Unmap())
	default:
		return a.announce6(addr)
	}
}

func (a *Announcer) announce4(addr netip.Addr) error {
	hw := a.ifi.HardwareAddr
	ops := [...]struct {
		op       mdarp.Operation
		targetHW net.HardwareAddr
	}{
		{mdarp.OperationRequest, make(net.HardwareAddr, len(hw))},
		{mdarp.OperationReply, hw},
	}
	for _, o := range ops {
		p, err := mdarp.NewPacket(o.op, hw, addr, o.targetHW, addr)
		if err != nil {
			return fmt.Errorf("arp: announce %s: %w", addr, err)
		}
		pb, err := p.MarshalBinary()
		if err != nil {
			return fmt.Errorf("arp: announce %s: %w", addr, err)
		}
		f := ethernet.Frame{
			Destination: ethernet.Broadcast,
			Source:      hw,
			EtherType:   ethernet.EtherTypeARP,
			Payload:     pb,
		}
		fb, err := f.MarshalBinary()
		if err != nil {
			return fmt.Errorf("arp: announce %s: %w", addr, err)
		}
		if _, err := a.arp.WriteTo(fb, &packet.Addr{HardwareAddr: ethernet.Broadcast}); err != nil {
			return fmt.Errorf("arp: announce %s on %s: %w", addr, a.ifi.Name, err)
		}
	}
	return nil
}

func (a *Announcer) announce6(addr netip.Addr) error {
	m := &ndp.NeighborAdvertisement{
		Override:      true,
		TargetAddress: addr,
		Options: []ndp.Option{&ndp.LinkLayerAddress{
			Direction: ndp.Target,
			Addr:      a.ifi.HardwareAddr,
		}},
	}
	// The checksum stays zero: the socket has the kernel fill it in
	// (IPV6_CHECKSUM), as only the kernel knows the source it picks.
	b, err := ndp.MarshalMessage(m)
	if err != nil {
		return fmt.Errorf("arp: announce %s: %w", addr, err)
	}

	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return fmt.Errorf("arp: announce %s: %w", addr, net.ErrClosed)
	}
	if a.nd == nil {
		nd, err := a.openND()
		if err != nil {
			return fmt.Errorf("arp: announce %s on %s: %w", addr, a.ifi.Name, err)
		}
		a.nd = nd
	}
	if _, err := a.nd.WriteTo(b, a.ndDst); err != nil {
		a.nd.Close()
		a.nd = nil
		return fmt.Errorf("arp: announce %s on %s: %w", addr, a.ifi.Name, err)
	}
	return nil
}

// Close closes the Announcer's sockets.
func (a *Announcer) Close() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return nil
	}
	a.closed = true
	errs := []error{a.arp.Close()}
	if a.nd != nil {
		errs = append(errs, a.nd.Close())
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("arp: close: %w", err)
	}
	return nil
}
