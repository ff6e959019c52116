package arp

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sync"
	"syscall"

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
//
// Its sockets are bound to the interface's ifindex. An interface deleted and
// created again (same name, new index) needs a new Announcer: Close this one
// and Dial again with the new *net.Interface. A MAC change on the same
// interface (bond fail-over) needs only SetHardwareAddr.
type Announcer struct {
	ifi *net.Interface
	arp net.PacketConn // Ethernet frames, addressed with *packet.Addr

	mu     sync.Mutex
	hw     net.HardwareAddr // what announcements carry; see SetHardwareAddr
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
		hw:     slices.Clone(ifi.HardwareAddr),
		openND: openND,
		// A numeric zone: names resolve in the process's namespace view,
		// indexes need no resolving.
		ndDst: &net.IPAddr{IP: allNodes.AsSlice(), Zone: fmt.Sprint(ifi.Index)},
	}, nil
}

// SetHardwareAddr sets the hardware address later announcements carry, and
// the Ethernet source of gratuitous ARP. Call it when the interface's MAC
// changes (a netlink LinkChanged with a new HardwareAddr: bond fail-over,
// `ip link set dev X address ...`): the address Dial read is otherwise
// announced for ever, pointing neighbours at a MAC the link no longer has. It
// must be an Ethernet (6-byte) address, or ErrNoHardwareAddr.
func (a *Announcer) SetHardwareAddr(mac net.HardwareAddr) error {
	if len(mac) != 6 {
		return fmt.Errorf("%w: %s: %q", ErrNoHardwareAddr, a.ifi.Name, mac)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.hw = slices.Clone(mac)
	return nil
}

// HardwareAddr returns the hardware address announcements carry.
func (a *Announcer) HardwareAddr() net.HardwareAddr {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.hw)
}

// Announce tells the link's neighbours that addr is at this interface's
// hardware address (the one Dial read, or the last SetHardwareAddr).
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
//
// A send that fails with ENETDOWN is made once more, at once, and only then:
// after the link went down and up, the kernel leaves ENETDOWN pending on a
// packet socket bound to it (sk_err, from the NETDEV_DOWN notification), and
// the next send reports it instead of sending. A second ENETDOWN means the
// link is down, and is returned.
//
// After Close, Announce returns an error matching net.ErrClosed.
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

// hardwareAddr returns the address to announce, or net.ErrClosed.
func (a *Announcer) hardwareAddr() (net.HardwareAddr, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return nil, net.ErrClosed
	}
	return a.hw, nil // never modified in place: SetHardwareAddr replaces it
}

// writeTo writes b, once more on ENETDOWN (see Announce).
func writeTo(c net.PacketConn, b []byte, dst net.Addr) error {
	_, err := c.WriteTo(b, dst)
	if errors.Is(err, syscall.ENETDOWN) {
		_, err = c.WriteTo(b, dst)
	}
	return err
}

func (a *Announcer) announce4(addr netip.Addr) error {
	hw, err := a.hardwareAddr()
	if err != nil {
		return fmt.Errorf("arp: announce %s: %w", addr, err)
	}
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
		if err := writeTo(a.arp, fb, &packet.Addr{HardwareAddr: ethernet.Broadcast}); err != nil {
			return fmt.Errorf("arp: announce %s on %s: %w", addr, a.ifi.Name, err)
		}
	}
	return nil
}

func (a *Announcer) announce6(addr netip.Addr) error {
	hw, err := a.hardwareAddr()
	if err != nil {
		return fmt.Errorf("arp: announce %s: %w", addr, err)
	}
	m := &ndp.NeighborAdvertisement{
		Override:      true,
		TargetAddress: addr,
		Options: []ndp.Option{&ndp.LinkLayerAddress{
			Direction: ndp.Target,
			Addr:      hw,
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
	if err := writeTo(a.nd, b, a.ndDst); err != nil {
		a.nd.Close()
		a.nd = nil
		return fmt.Errorf("arp: announce %s on %s: %w", addr, a.ifi.Name, err)
	}
	return nil
}

// Close closes the Announcer's sockets. It is idempotent (a second Close
// returns nil and closes nothing), safe to call concurrently with Announce,
// and safe on a nil *Announcer.
func (a *Announcer) Close() error {
	if a == nil {
		return nil
	}
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
