package arp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sync"

	mdarp "github.com/mdlayher/arp"
	"github.com/mdlayher/ethernet"
	"github.com/mdlayher/ndp"
	"github.com/mdlayher/packet"
	"golang.org/x/net/bpf"
)

// A Watcher listens, read-only, for what other hosts on a link say about a
// few addresses: who claims them in ARP (RFC 826; RFC 5227 §2.4: any request
// or reply whose sender protocol address is ours), who probes for them
// (RFC 5227 §2.1.1: sender protocol address zero), who advertises them in a
// Neighbor Advertisement (RFC 4861 §4.4) and who runs duplicate address
// detection for them (RFC 4862 §5.4.3: a Neighbor Solicitation from the
// unspecified address). A BPF filter in the kernel lets only those packets
// reach userspace: the link's other ARP and IPv6 traffic costs nothing here.
//
// It also sends, when asked, the two packets that tell who is there: an
// RFC 5227 probe (IPv6: a duplicate address detection solicitation), and an
// ordinary resolution request (IPv6: a Neighbor Solicitation) for a
// neighbour's address, whose answer names the neighbour's MAC. Neither
// changes any neighbour cache on the link: a probe has no sender address, and
// a resolution request carries the sender's own, true, binding.
//
// Like an Announcer it is bound to one ifindex: a recreated interface needs a
// new Watcher. It starts no goroutines; Next blocks.
type Watcher struct {
	ifi    *net.Interface
	family int
	conn   frameConn

	buf []byte // Next's, which one goroutine calls

	mu sync.Mutex
	hw net.HardwareAddr
}

// frameConn is the packet socket, satisfied by *packet.Conn.
type frameConn interface {
	net.PacketConn
	SetBPF(filter []bpf.RawInstruction) error
}

// SightingKind says what a watched packet was.
type SightingKind uint8

const (
	// SightingARPRequest: an ARP request whose sender is the address (a
	// gratuitous ARP when the target is the address too).
	SightingARPRequest SightingKind = iota + 1
	// SightingARPReply: an ARP reply whose sender is the address.
	SightingARPReply
	// SightingARPProbe: an RFC 5227 probe for the address (sender
	// protocol address 0.0.0.0): a host is about to configure it.
	SightingARPProbe
	// SightingNA: a Neighbor Advertisement for the address.
	SightingNA
	// SightingDAD: a Neighbor Solicitation for the address from the
	// unspecified address (RFC 4862 §5.4.2): a host is about to configure it.
	SightingDAD
)

var sightingNames = [...]string{
	SightingARPRequest: "arp-request",
	SightingARPReply:   "arp-reply",
	SightingARPProbe:   "arp-probe",
	SightingNA:         "neighbor-advertisement",
	SightingDAD:        "duplicate-address-detection",
}

func (k SightingKind) String() string {
	if int(k) < len(sightingNames) && k != 0 {
		return sightingNames[k]
	}
	return fmt.Sprintf("SightingKind(%d)", k)
}

// A Sighting is one watched packet.
type Sighting struct {
	Kind SightingKind
	// Addr is the address the packet is about: the ARP sender, the probed
	// or advertised target.
	Addr netip.Addr
	// MAC is the hardware address of the host that sent it: the ARP sender
	// hardware address; for Neighbor Discovery the target link-layer
	// address option if there is one, else the Ethernet source.
	MAC net.HardwareAddr
}

// ErrFamily is returned by Watch for a family that is neither 4 nor 6, and by
// Probe and Resolve for an address not of the Watcher's family.
var ErrFamily = errors.New("arp: address family mismatch")

// EtherTypes the watcher's socket is bound to.
const etherTypeIPv6 = 0x86dd

// Watch opens a Watcher for family (4: ARP, 6: Neighbor Discovery) on ifi.
// It watches no address until SetAddresses.
func Watch(ifi *net.Interface, family int) (*Watcher, error) {
	proto := etherTypeARP
	switch family {
	case 4:
	case 6:
		proto = etherTypeIPv6
	default:
		return nil, fmt.Errorf("%w: family %d", ErrFamily, family)
	}
	if len(ifi.HardwareAddr) != 6 {
		return nil, fmt.Errorf("%w: %s", ErrNoHardwareAddr, ifi.Name)
	}
	drop, err := bpf.Assemble([]bpf.Instruction{bpf.RetConstant{Val: 0}})
	if err != nil {
		return nil, fmt.Errorf("arp: %w", err)
	}
	c, err := packet.Listen(ifi, packet.Raw, proto, &packet.Config{Filter: drop})
	if err != nil {
		return nil, fmt.Errorf("arp: watch on %s: %w", ifi.Name, err)
	}
	return newWatcher(ifi, family, c)
}

// newWatcher is Watch with its socket given.
func newWatcher(ifi *net.Interface, family int, c frameConn) (*Watcher, error) {
	if len(ifi.HardwareAddr) != 6 {
		return nil, fmt.Errorf("%w: %s", ErrNoHardwareAddr, ifi.Name)
	}
	return &Watcher{ifi: ifi, family: family, conn: c, hw: slices.Clone(ifi.HardwareAddr)}, nil
}

// SetHardwareAddr sets the MAC that probes and resolution requests carry
// (the interface's, after it changed).
func (w *Watcher) SetHardwareAddr(mac net.HardwareAddr) error {
	if len(mac) != 6 {
		return fmt.Errorf("%w: %s: %q", ErrNoHardwareAddr, w.ifi.Name, mac)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.hw = slices.Clone(mac)
	return nil
}

func (w *Watcher) hardwareAddr() net.HardwareAddr {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.hw
}

// SetAddresses replaces the watched addresses: packets about any other
// address are dropped in the kernel. Addresses of the other family are
// ignored; none watches nothing.
func (w *Watcher) SetAddresses(addrs []netip.Addr) error {
	prog, err := filterFor(w.family, addrs)
	if err != nil {
		return err
	}
	if err := w.conn.SetBPF(prog); err != nil {
		return fmt.Errorf("arp: watch filter on %s: %w", w.ifi.Name, err)
	}
	return nil
}

// Next blocks until a watched packet arrives and returns it. Packets that do
// not parse are skipped. One goroutine at a time may call it. After Close it returns an error matching
// net.ErrClosed.
func (w *Watcher) Next() (Sighting, error) {
	if w.buf == nil {
		w.buf = make([]byte, snapLen)
	}
	b := w.buf
	for {
		n, _, err := w.conn.ReadFrom(b)
		if err != nil {
			return Sighting{}, fmt.Errorf("arp: watch on %s: %w", w.ifi.Name, err)
		}
		if s, ok := parseSighting(w.family, b[:n]); ok {
			return s, nil
		}
	}
}

// Close closes the socket; a blocked Next returns.
func (w *Watcher) Close() error {
	if w == nil {
		return nil
	}
	if err := w.conn.Close(); err != nil {
		return fmt.Errorf("arp: close watcher: %w", err)
	}
	return nil
}

// Probe asks the link whether any host has addr, without claiming it: for
// IPv4 an RFC 5227 §2.1.1 probe (an ARP request with sender protocol address
// 0.0.0.0 and target addr, to the broadcast address), for IPv6 a duplicate
// address detection solicitation (RFC 4862 §5.4.2: from ::, to the
// solicited-node group, without a source link-layer address option). A host
// that has addr answers, and its answer is a Sighting from Next.
func (w *Watcher) Probe(addr netip.Addr) error {
	addr = addr.WithZone("").Unmap()
	if err := w.checkFamily(addr); err != nil {
		return err
	}
	if w.family == 4 {
		return w.sendARP(netip.IPv4Unspecified(), addr)
	}
	return w.sendNS(netip.IPv6Unspecified(), addr)
}

// Resolve asks target for its MAC, from source (ours): an ARP request
// (IPv6: a Neighbor Solicitation with our link-layer address). The answer
// is a Sighting from Next if target is watched.
func (w *Watcher) Resolve(target, source netip.Addr) error {
	target, source = target.WithZone("").Unmap(), source.WithZone("").Unmap()
	if err := w.checkFamily(target); err != nil {
		return err
	}
	if err := w.checkFamily(source); err != nil {
		return err
	}
	if w.family == 4 {
		return w.sendARP(source, target)
	}
	return w.sendNS(source, target)
}

func (w *Watcher) checkFamily(a netip.Addr) error {
	if !a.IsValid() || a.Is4() != (w.family == 4) {
		return fmt.Errorf("%w: %v on an IPv%d watcher", ErrFamily, a, w.family)
	}
	return nil
}

func (w *Watcher) sendARP(sender, target netip.Addr) error {
	hw := w.hardwareAddr()
	p, err := mdarp.NewPacket(mdarp.OperationRequest, hw, sender, make(net.HardwareAddr, 6), target)
	if err != nil {
		return fmt.Errorf("arp: request for %s: %w", target, err)
	}
	pb, err := p.MarshalBinary()
	if err != nil {
		return fmt.Errorf("arp: request for %s: %w", target, err)
	}
	f := ethernet.Frame{Destination: ethernet.Broadcast, Source: hw, EtherType: ethernet.EtherTypeARP, Payload: pb}
	fb, err := f.MarshalBinary()
	if err != nil {
		return fmt.Errorf("arp: request for %s: %w", target, err)
	}
	if err := writeTo(w.conn, fb, &packet.Addr{HardwareAddr: ethernet.Broadcast}); err != nil {
		return fmt.Errorf("arp: request for %s on %s: %w", target, w.ifi.Name, err)
	}
	return nil
}

// sendNS sends a Neighbor Solicitation for target to its solicited-node
// group (RFC 4861 §7.2.2), from source: with a source link-layer address
// option unless source is unspecified (RFC 4861 §4.3).
func (w *Watcher) sendNS(source, target netip.Addr) error {
	hw := w.hardwareAddr()
	dst := solicitedNode(target)
	m := &ndp.NeighborSolicitation{TargetAddress: target}
	if !source.IsUnspecified() {
		m.Options = []ndp.Option{&ndp.LinkLayerAddress{Direction: ndp.Source, Addr: hw}}
	}
	icmp, err := ndp.MarshalMessageChecksum(m, source, dst)
	if err != nil {
		return fmt.Errorf("arp: solicitation for %s: %w", target, err)
	}
	ip := make([]byte, 40, 40+len(icmp))
	ip[0] = 6 << 4
	binary.BigEndian.PutUint16(ip[4:6], uint16(len(icmp)))
	ip[6] = 58 // ICMPv6
	ip[7] = ndp.HopLimit
	s16, d16 := source.As16(), dst.As16()
	copy(ip[8:24], s16[:])
	copy(ip[24:40], d16[:])
	mac := net.HardwareAddr{0x33, 0x33, d16[12], d16[13], d16[14], d16[15]}
	f := ethernet.Frame{Destination: mac, Source: hw, EtherType: ethernet.EtherTypeIPv6, Payload: append(ip, icmp...)}
	fb, err := f.MarshalBinary()
	if err != nil {
		return fmt.Errorf("arp: solicitation for %s: %w", target, err)
	}
	if err := writeTo(w.conn, fb, &packet.Addr{HardwareAddr: mac}); err != nil {
		return fmt.Errorf("arp: solicitation for %s on %s: %w", target, w.ifi.Name, err)
	}
	return nil
}

// solicitedNode is ff02::1:ffXX:XXXX for a (RFC 4291 §2.7.1).
func solicitedNode(a netip.Addr) netip.Addr {
	b := a.As16()
	return netip.AddrFrom16([16]byte{0xff, 0x02, 11: 0x01, 12: 0xff, 13: b[13], 14: b[14], 15: b[15]})
}

// Offsets in an Ethernet frame (no VLAN tag: the socket is on the VLAN's own
// interface, where the kernel has removed it).
const (
	offARPSPA = 14 + 14
	offARPTPA = 14 + 24
	lenARP    = 14 + 28

	offIPv6Next = 14 + 6
	offIPv6Src  = 14 + 8
	offICMPType = 14 + 40
	offNDTarget = 14 + 40 + 8
	lenND       = 14 + 40 + 24

	icmpNS = 135
	icmpNA = 136

	// pktOutgoing is PACKET_OUTGOING: a frame this host sent.
	pktOutgoing = 4
	snapLen     = 1500
)

// filterFor builds the BPF program: frames this host sent are dropped; for
// IPv4, ARP whose sender is a watched address, and probes (sender 0.0.0.0)
// for one, are kept; for IPv6, Neighbor Advertisements for a watched target
// and solicitations for one from the unspecified address. Each comparison is
// followed by its own accept, so that no jump is longer than 8 instructions
// whatever the number of addresses.
func filterFor(family int, addrs []netip.Addr) ([]bpf.RawInstruction, error) {
	var want []netip.Addr
	for _, a := range addrs {
		a = a.WithZone("").Unmap()
		if a.IsValid() && a.Is4() == (family == 4) && !slices.Contains(want, a) {
			want = append(want, a)
		}
	}
	accept, reject := bpf.RetConstant{Val: snapLen}, bpf.RetConstant{Val: 0}
	prog := []bpf.Instruction{
		bpf.LoadExtension{Num: bpf.ExtType},
		bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: pktOutgoing, SkipTrue: 1},
		reject,
	}
	// matchAt appends: accept if the 4 or 16 bytes at off are one of want.
	matchAt := func(off uint32) {
		for _, a := range want {
			b := a.AsSlice()
			words := len(b) / 4
			for i := range words {
				prog = append(prog,
					bpf.LoadAbsolute{Off: off + uint32(4*i), Size: 4},
					bpf.JumpIf{Cond: bpf.JumpEqual, Val: binary.BigEndian.Uint32(b[4*i:]), SkipFalse: uint8(2*(words-i) - 1)})
			}
			prog = append(prog, accept)
		}
	}
	// skipBlock appends a jump over what block appends, taken unless the
	// last comparison was true (a Jump's skip has 32 bits, a JumpIf's 8).
	skipBlock := func(block func()) {
		prog = append(prog, nil)
		at := len(prog)
		block()
		prog[at-1] = bpf.Jump{Skip: uint32(len(prog) - at)}
	}
	if family == 4 {
		prog = append(prog,
			bpf.LoadExtension{Num: bpf.ExtLen},
			bpf.JumpIf{Cond: bpf.JumpGreaterOrEqual, Val: lenARP, SkipTrue: 1},
			reject,
			// A probe: sender 0.0.0.0, target watched.
			bpf.LoadAbsolute{Off: offARPSPA, Size: 4},
			bpf.JumpIf{Cond: bpf.JumpEqual, Val: 0, SkipTrue: 1})
		skipBlock(func() {
			matchAt(offARPTPA)
			prog = append(prog, reject)
		})
		matchAt(offARPSPA)
		prog = append(prog, reject)
	} else {
		prog = append(prog,
			bpf.LoadExtension{Num: bpf.ExtLen},
			bpf.JumpIf{Cond: bpf.JumpGreaterOrEqual, Val: lenND, SkipTrue: 1},
			reject,
			bpf.LoadAbsolute{Off: offIPv6Next, Size: 1},
			bpf.JumpIf{Cond: bpf.JumpEqual, Val: 58, SkipTrue: 1},
			reject,
			bpf.LoadAbsolute{Off: offICMPType, Size: 1},
			bpf.JumpIf{Cond: bpf.JumpEqual, Val: icmpNA, SkipTrue: 1})
		skipBlock(func() {
			matchAt(offNDTarget)
			prog = append(prog, reject)
		})
		prog = append(prog,
			bpf.JumpIf{Cond: bpf.JumpEqual, Val: icmpNS, SkipTrue: 1},
			reject)
		// Duplicate address detection only: the source is ::.
		for i := range 4 {
			prog = append(prog,
				bpf.LoadAbsolute{Off: offIPv6Src + uint32(4*i), Size: 4},
				bpf.JumpIf{Cond: bpf.JumpEqual, Val: 0, SkipTrue: 1},
				reject)
		}
		matchAt(offNDTarget)
		prog = append(prog, reject)
	}
	raw, err := bpf.Assemble(prog)
	if err != nil {
		return nil, fmt.Errorf("arp: watch filter: %w", err)
	}
	return raw, nil
}

// parseSighting reads a frame the filter kept.
func parseSighting(family int, b []byte) (Sighting, bool) {
	var f ethernet.Frame
	if err := f.UnmarshalBinary(b); err != nil {
		return Sighting{}, false
	}
	if family == 4 {
		if f.EtherType != ethernet.EtherTypeARP {
			return Sighting{}, false
		}
		var p mdarp.Packet
		if err := p.UnmarshalBinary(f.Payload); err != nil {
			return Sighting{}, false
		}
		s := Sighting{Addr: p.SenderIP, MAC: slices.Clone(p.SenderHardwareAddr)}
		switch {
		case p.Operation == mdarp.OperationRequest && p.SenderIP.IsUnspecified():
			s.Kind, s.Addr = SightingARPProbe, p.TargetIP
		case p.Operation == mdarp.OperationRequest:
			s.Kind = SightingARPRequest
		case p.Operation == mdarp.OperationReply:
			s.Kind = SightingARPReply
		default:
			return Sighting{}, false
		}
		return s, s.Addr.IsValid()
	}
	ip := f.Payload
	if f.EtherType != ethernet.EtherTypeIPv6 || len(ip) < 40 || ip[0]>>4 != 6 || ip[6] != 58 || ip[7] != ndp.HopLimit {
		// RFC 4861 §7.1.1, §7.1.2: a hop limit other than 255 is not
		// Neighbor Discovery from the link.
		return Sighting{}, false
	}
	m, err := ndp.ParseMessage(ip[40:])
	if err != nil {
		return Sighting{}, false
	}
	src, _ := netip.AddrFromSlice(ip[8:24])
	switch m := m.(type) {
	case *ndp.NeighborAdvertisement:
		return Sighting{Kind: SightingNA, Addr: m.TargetAddress, MAC: ndMAC(m.Options, ndp.Target, f.Source)}, true
	case *ndp.NeighborSolicitation:
		if !src.IsUnspecified() {
			return Sighting{}, false
		}
		return Sighting{Kind: SightingDAD, Addr: m.TargetAddress, MAC: slices.Clone(f.Source)}, true
	}
	return Sighting{}, false
}

// ndMAC is the link-layer address option of direction d, or else the
// Ethernet source.
func ndMAC(opts []ndp.Option, d ndp.Direction, eth net.HardwareAddr) net.HardwareAddr {
	for _, o := range opts {
		if l, ok := o.(*ndp.LinkLayerAddress); ok && l.Direction == d && len(l.Addr) == 6 {
			return slices.Clone(l.Addr)
		}
	}
	return slices.Clone(eth)
}
