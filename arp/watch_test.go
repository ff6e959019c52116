package arp

import (
	"bytes"
	"net"
	"net/netip"
	"testing"

	mdarp "github.com/mdlayher/arp"
	"github.com/mdlayher/ethernet"
	"github.com/mdlayher/ndp"
	"github.com/mdlayher/packet"
	"golang.org/x/net/bpf"
)

var (
	foreignMAC = net.HardwareAddr{0x02, 0xbb, 0, 0, 0, 9}
	ourMAC     = net.HardwareAddr{0x02, 0xaa, 0, 0, 0, 1}
	vip4       = netip.MustParseAddr("198.18.0.100")
	vip6       = netip.MustParseAddr("2001:db8::100")
)

func arpFrame(t *testing.T, op mdarp.Operation, sha net.HardwareAddr, spa, tpa netip.Addr) []byte {
	t.Helper()
	p, err := mdarp.NewPacket(op, sha, spa, make(net.HardwareAddr, 6), tpa)
	if err != nil {
		t.Fatal(err)
	}
	pb, _ := p.MarshalBinary()
	fb, err := (&ethernet.Frame{Destination: ethernet.Broadcast, Source: sha, EtherType: ethernet.EtherTypeARP, Payload: pb}).MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	return fb
}

func ndFrame(t *testing.T, m ndp.Message, src, dst netip.Addr, eth net.HardwareAddr, hop uint8) []byte {
	t.Helper()
	icmp, err := ndp.MarshalMessageChecksum(m, src, dst)
	if err != nil {
		t.Fatal(err)
	}
	ip := make([]byte, 40)
	ip[0], ip[6], ip[7] = 6<<4, 58, hop
	ip[4], ip[5] = byte(len(icmp)>>8), byte(len(icmp))
	s, d := src.As16(), dst.As16()
	copy(ip[8:], s[:])
	copy(ip[24:], d[:])
	fb, err := (&ethernet.Frame{Destination: ethernet.Broadcast, Source: eth, EtherType: ethernet.EtherTypeIPv6, Payload: append(ip, icmp...)}).MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	return fb
}

// kept runs the filter for family over frame, as the kernel would for a
// frame received (not sent) by this host.
func kept(t *testing.T, family int, addrs []netip.Addr, frame []byte) bool {
	t.Helper()
	raw, err := filterFor(family, addrs)
	if err != nil {
		t.Fatal(err)
	}
	prog, ok := bpf.Disassemble(raw)
	if !ok {
		t.Fatal("filter does not disassemble")
	}
	// The VM has no packet type: drop the two instructions that test it
	// (they are first) and their reject.
	vm, err := bpf.NewVM(prog[3:])
	if err != nil {
		t.Fatal(err)
	}
	n, err := vm.Run(frame)
	if err != nil {
		t.Fatal(err)
	}
	return n > 0
}

func TestFilterIPv4(t *testing.T) {
	router := netip.MustParseAddr("198.18.0.12")
	client := netip.MustParseAddr("198.18.0.50")
	watched := []netip.Addr{vip4, router, vip6}
	for _, tc := range []struct {
		name  string
		frame []byte
		want  bool
	}{
		{"gratuitous ARP for the VIP", arpFrame(t, mdarp.OperationRequest, foreignMAC, vip4, vip4), true},
		{"reply from the VIP", arpFrame(t, mdarp.OperationReply, foreignMAC, vip4, client), true},
		{"a router's request", arpFrame(t, mdarp.OperationRequest, foreignMAC, router, client), true},
		{"probe for the VIP", arpFrame(t, mdarp.OperationRequest, foreignMAC, netip.IPv4Unspecified(), vip4), true},
		{"a client asking for the VIP", arpFrame(t, mdarp.OperationRequest, foreignMAC, client, vip4), false},
		{"probe for another address", arpFrame(t, mdarp.OperationRequest, foreignMAC, netip.IPv4Unspecified(), client), false},
		{"unrelated reply", arpFrame(t, mdarp.OperationReply, foreignMAC, client, router), false},
		{"truncated", arpFrame(t, mdarp.OperationReply, foreignMAC, vip4, client)[:30], false},
	} {
		if got := kept(t, 4, watched, tc.frame); got != tc.want {
			t.Errorf("%s: kept %v, want %v", tc.name, got, tc.want)
		}
	}
	if kept(t, 4, nil, arpFrame(t, mdarp.OperationRequest, foreignMAC, vip4, vip4)) {
		t.Error("a filter watching nothing kept a frame")
	}
}

// TestFilterManyAddresses: 255 VIPs need jumps longer than a JumpIf has:
// the filter still assembles and matches the last.
func TestFilterManyAddresses(t *testing.T) {
	var addrs []netip.Addr
	a := netip.MustParseAddr("198.18.1.0")
	for range 255 {
		a = a.Next()
		addrs = append(addrs, a)
	}
	if !kept(t, 4, addrs, arpFrame(t, mdarp.OperationRequest, foreignMAC, netip.IPv4Unspecified(), a)) {
		t.Error("probe for the 255th address dropped")
	}
	if !kept(t, 4, addrs, arpFrame(t, mdarp.OperationReply, foreignMAC, a, vip4)) {
		t.Error("reply from the 255th address dropped")
	}
}

func TestFilterIPv6(t *testing.T) {
	ll := netip.MustParseAddr("fe80::2")
	watched := []netip.Addr{vip6, ll}
	na := &ndp.NeighborAdvertisement{Override: true, TargetAddress: vip6,
		Options: []ndp.Option{&ndp.LinkLayerAddress{Direction: ndp.Target, Addr: foreignMAC}}}
	dad := &ndp.NeighborSolicitation{TargetAddress: vip6}
	allNodes := netip.MustParseAddr("ff02::1")
	sn := solicitedNode(vip6)
	for _, tc := range []struct {
		name  string
		frame []byte
		want  bool
	}{
		{"NA for the VIP", ndFrame(t, na, ll, allNodes, foreignMAC, 255), true},
		{"DAD for the VIP", ndFrame(t, dad, netip.IPv6Unspecified(), sn, foreignMAC, 255), true},
		{"a client resolving the VIP", ndFrame(t, dad, netip.MustParseAddr("fe80::50"), sn, foreignMAC, 255), false},
		{"NA for another target", ndFrame(t, &ndp.NeighborAdvertisement{TargetAddress: netip.MustParseAddr("2001:db8::7")}, ll, allNodes, foreignMAC, 255), false},
	} {
		if got := kept(t, 6, watched, tc.frame); got != tc.want {
			t.Errorf("%s: kept %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestParseSighting(t *testing.T) {
	ll := netip.MustParseAddr("fe80::2")
	na := &ndp.NeighborAdvertisement{TargetAddress: vip6,
		Options: []ndp.Option{&ndp.LinkLayerAddress{Direction: ndp.Target, Addr: foreignMAC}}}
	for _, tc := range []struct {
		name   string
		family int
		frame  []byte
		want   Sighting
		ok     bool
	}{
		{"gratuitous", 4, arpFrame(t, mdarp.OperationRequest, foreignMAC, vip4, vip4), Sighting{SightingARPRequest, vip4, foreignMAC}, true},
		{"reply", 4, arpFrame(t, mdarp.OperationReply, foreignMAC, vip4, vip4), Sighting{SightingARPReply, vip4, foreignMAC}, true},
		{"probe", 4, arpFrame(t, mdarp.OperationRequest, foreignMAC, netip.IPv4Unspecified(), vip4), Sighting{SightingARPProbe, vip4, foreignMAC}, true},
		{"NA", 6, ndFrame(t, na, ll, netip.MustParseAddr("ff02::1"), ourMAC, 255), Sighting{SightingNA, vip6, foreignMAC}, true},
		{"DAD", 6, ndFrame(t, &ndp.NeighborSolicitation{TargetAddress: vip6}, netip.IPv6Unspecified(), solicitedNode(vip6), foreignMAC, 255), Sighting{SightingDAD, vip6, foreignMAC}, true},
		// RFC 4861 §7.1.2: not from the link.
		{"NA with hop limit 64", 6, ndFrame(t, na, ll, netip.MustParseAddr("ff02::1"), ourMAC, 64), Sighting{}, false},
		{"garbage", 4, []byte{1, 2, 3}, Sighting{}, false},
	} {
		got, ok := parseSighting(tc.family, tc.frame)
		if ok != tc.ok || got.Kind != tc.want.Kind || got.Addr != tc.want.Addr || !bytes.Equal(got.MAC, tc.want.MAC) {
			t.Errorf("%s: got %+v %v, want %+v %v", tc.name, got, ok, tc.want, tc.ok)
		}
	}
}

// sentFrames records what a Watcher writes.
type sentFrames struct {
	net.PacketConn
	frames [][]byte
	dsts   []net.Addr
	filter []bpf.RawInstruction
}

func (s *sentFrames) WriteTo(b []byte, a net.Addr) (int, error) {
	s.frames = append(s.frames, bytes.Clone(b))
	s.dsts = append(s.dsts, a)
	return len(b), nil
}
func (s *sentFrames) SetBPF(f []bpf.RawInstruction) error { s.filter = f; return nil }
func (s *sentFrames) Close() error                        { return nil }

func TestProbeIsRFC5227(t *testing.T) {
	c := &sentFrames{}
	w, err := newWatcher(&net.Interface{Name: "t0", HardwareAddr: ourMAC}, 4, c)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Probe(vip4); err != nil {
		t.Fatal(err)
	}
	var f ethernet.Frame
	if err := f.UnmarshalBinary(c.frames[0]); err != nil {
		t.Fatal(err)
	}
	var p mdarp.Packet
	if err := p.UnmarshalBinary(f.Payload); err != nil {
		t.Fatal(err)
	}
	// RFC 5227 §2.1.1: request, sender hardware ours, sender IP all zero,
	// target hardware all zero, target IP the one probed; broadcast.
	if p.Operation != mdarp.OperationRequest || !bytes.Equal(p.SenderHardwareAddr, ourMAC) || !p.SenderIP.IsUnspecified() ||
		!bytes.Equal(p.TargetHardwareAddr, make(net.HardwareAddr, 6)) || p.TargetIP != vip4 || !bytes.Equal(f.Destination, ethernet.Broadcast) {
		t.Errorf("probe %+v to %v, not an RFC 5227 probe for %v", p, f.Destination, vip4)
	}
	if err := w.Probe(vip6); err == nil {
		t.Error("an IPv4 watcher probed an IPv6 address")
	}
	if err := w.SetAddresses([]netip.Addr{vip4}); err != nil || len(c.filter) == 0 {
		t.Errorf("SetAddresses: %v, filter of %d instructions", err, len(c.filter))
	}
}

func TestDADProbe(t *testing.T) {
	c := &sentFrames{}
	w, err := newWatcher(&net.Interface{Name: "t0", HardwareAddr: ourMAC}, 6, c)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Probe(vip6); err != nil {
		t.Fatal(err)
	}
	// What we send is what the filter would keep from another host, and
	// parses as duplicate address detection.
	s, ok := parseSighting(6, c.frames[0])
	if !ok || s.Kind != SightingDAD || s.Addr != vip6 {
		t.Errorf("our probe parses as %+v %v, want DAD for %v", s, ok, vip6)
	}
	if d := c.dsts[0].(*packet.Addr).HardwareAddr; !bytes.Equal(d, net.HardwareAddr{0x33, 0x33, 0xff, 0, 0x01, 0x00}) {
		t.Errorf("sent to %v, want the solicited-node group's MAC", d)
	}
	if !kept(t, 6, []netip.Addr{vip6}, c.frames[0]) {
		t.Error("the filter drops a DAD solicitation for a watched address")
	}
	if err := w.Resolve(netip.MustParseAddr("fe80::2"), netip.MustParseAddr("fe80::1")); err != nil {
		t.Fatal(err)
	}
	if s, ok := parseSighting(6, c.frames[1]); ok {
		t.Errorf("a resolution (source not ::) parses as %+v", s)
	}
}
