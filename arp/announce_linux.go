package arp

import (
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/mdlayher/ndp"
	"github.com/mdlayher/packet"
	"golang.org/x/net/bpf"
	"golang.org/x/net/ipv6"
	"golang.org/x/sys/unix"
)

// etherTypeARP is the EtherType of ARP (RFC 826).
const etherTypeARP = 0x0806

// Dial opens the ARP socket on ifi. It starts no goroutines. The IPv6 socket is
// opened at the first IPv6 Announce.
func Dial(ifi *net.Interface) (*Announcer, error) {
	if len(ifi.HardwareAddr) != 6 {
		return nil, fmt.Errorf("%w: %s", ErrNoHardwareAddr, ifi.Name)
	}
	// The socket only sends. A filter that accepts nothing keeps the link's
	// ARP traffic from queueing on it.
	drop, err := bpf.Assemble([]bpf.Instruction{bpf.RetConstant{Val: 0}})
	if err != nil {
		return nil, fmt.Errorf("arp: %w", err)
	}
	c, err := packet.Listen(ifi, packet.Raw, etherTypeARP, &packet.Config{Filter: drop})
	if err != nil {
		return nil, fmt.Errorf("arp: listen on %s: %w", ifi.Name, err)
	}
	return newAnnouncer(ifi, c, func() (net.PacketConn, error) { return listenND(ifi) })
}

// listenND opens a raw ICMPv6 socket bound to ifi's link-local address, set up
// to send Neighbor Discovery messages (RFC 4861 §7.1.2: hop limit 255).
func listenND(ifi *net.Interface) (net.PacketConn, error) {
	ll, err := linkLocal(ifi)
	if err != nil {
		return nil, err
	}
	c, err := net.ListenPacket("ip6:ipv6-icmp", ll.String())
	if errors.Is(err, unix.EADDRNOTAVAIL) {
		// Still tentative: duplicate address detection is running.
		return nil, fmt.Errorf("%w: %s: %w", ErrNoLinkLocal, ll, err)
	}
	if err != nil {
		return nil, err
	}
	pc := ipv6.NewPacketConn(c)
	var block ipv6.ICMPFilter
	block.SetAll(true) // send only: queue nothing
	for _, set := range []func() error{
		func() error { return pc.SetHopLimit(ndp.HopLimit) },
		func() error { return pc.SetMulticastHopLimit(ndp.HopLimit) },
		func() error { return pc.SetMulticastInterface(ifi) },
		func() error { return pc.SetMulticastLoopback(false) },
		func() error { return pc.SetChecksum(true, 2) }, // ICMPv6 checksum offset
		func() error { return pc.SetICMPFilter(&block) },
	} {
		if err := set(); err != nil {
			c.Close()
			return nil, err
		}
	}
	return c, nil
}

// linkLocal returns ifi's IPv6 link-local address, zoned with its index.
func linkLocal(ifi *net.Interface) (netip.Addr, error) {
	addrs, err := ifi.Addrs()
	if err != nil {
		return netip.Addr{}, err
	}
	for _, a := range addrs {
		n, ok := a.(*net.IPNet)
		if !ok {
			continue
		}
		ip, ok := netip.AddrFromSlice(n.IP)
		if ok && ip.Is6() && !ip.Is4In6() && ip.IsLinkLocalUnicast() {
			return ip.WithZone(fmt.Sprint(ifi.Index)), nil
		}
	}
	return netip.Addr{}, fmt.Errorf("%w: %s", ErrNoLinkLocal, ifi.Name)
}
