package vrrp

import (
	"net/netip"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// cmsg appends one control message to oob, as the kernel lays it out.
func cmsg(oob []byte, level, typ int32, data []byte) []byte {
	h := make([]byte, unix.CmsgSpace(len(data)))
	hdr := (*unix.Cmsghdr)(unsafe.Pointer(&h[0]))
	hdr.Level, hdr.Type = level, typ
	hdr.SetLen(unix.CmsgLen(len(data)))
	copy(h[unix.CmsgLen(0):], data)
	return append(oob, h...)
}

func bytesOf[T any](v *T) []byte { return unsafe.Slice((*byte)(unsafe.Pointer(v)), unsafe.Sizeof(*v)) }

func TestSocketPacket4(t *testing.T) {
	msg := []byte{0x31, 51, 100, 1, 0, 100, 0, 0, 192, 0, 2, 100}
	hdr := []byte{
		0x46, 0, 0, 0, // version 4, IHL 6 (one option word)
		0, 0, 0, 0,
		254, 112, 0, 0, // TTL 254, protocol 112
		192, 0, 2, 11, // source
		224, 0, 0, 18, // destination
		1, 1, 1, 0, // option word: the payload starts after it
	}
	pi := unix.Inet4Pktinfo{Ifindex: 7}
	oob := cmsg(nil, unix.IPPROTO_IP, unix.IP_TTL, []byte{254, 0, 0, 0})
	oob = cmsg(oob, unix.IPPROTO_IP, unix.IP_PKTINFO, bytesOf(&pi))
	p := socketPacket4(append(hdr, msg...), oob)
	want := Packet{Src: netip.MustParseAddr("192.0.2.11"), Dst: GroupIPv4, TTL: 254, IfIndex: 7}
	if string(p.Payload) != string(msg) || p.Src != want.Src || p.Dst != want.Dst || p.TTL != want.TTL || p.IfIndex != want.IfIndex {
		t.Errorf("got %+v, want %+v with the message as payload", p, want)
	}
	for _, bad := range [][]byte{nil, hdr[:19], {0x4f, 0, 0, 0, 0, 0, 0, 0, 255, 112, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8}, append([]byte{0x65}, hdr[1:]...)} {
		if p := socketPacket4(bad, nil); len(p.Payload) != 0 || p.TTL != 0 {
			t.Errorf("socketPacket4(% x) = %+v, want no payload and TTL 0 (dropped)", bad, p)
		}
	}
}

func TestSocketPacket6(t *testing.T) {
	msg := []byte{0x31, 52, 100, 0, 0, 100, 0, 0}
	name := unix.RawSockaddrInet6{Family: unix.AF_INET6, Addr: netip.MustParseAddr("fe80::1").As16()}
	pi := unix.Inet6Pktinfo{Addr: GroupIPv6.As16(), Ifindex: 9}
	hl := int32(255)
	oob := cmsg(nil, unix.IPPROTO_IPV6, unix.IPV6_HOPLIMIT, bytesOf(&hl))
	oob = cmsg(oob, unix.IPPROTO_IPV6, unix.IPV6_PKTINFO, bytesOf(&pi))
	p := socketPacket6(msg, &name, oob)
	if string(p.Payload) != string(msg) || p.Src != netip.MustParseAddr("fe80::1") || p.Dst != GroupIPv6 || p.TTL != 255 || p.IfIndex != 9 {
		t.Errorf("got %+v", p)
	}
	// No control messages: TTL and Dst zero, which the receive checks reject.
	if p := socketPacket6(msg, &name, nil); p.TTL != 0 || p.Dst.IsValid() {
		t.Errorf("without control messages: %+v, want TTL 0 and no Dst", p)
	}
	if n := testing.AllocsPerRun(100, func() { _ = socketPacket6(msg, &name, oob) }); n != 0 {
		t.Errorf("socketPacket6 allocates %v times, want 0", n)
	}
}

// TestCheckToAllocs: an accepted advert allocates nothing once the verdict's
// address array is as long as its addresses, drops in between included.
func TestCheckToAllocs(t *testing.T) {
	g := goldens[0]
	r := received(t, g)
	var v Verdict
	expectV3IPv4.CheckTo(&v, r)
	if v.Drop != DropNone || len(v.Advert.Addresses) != len(g.adv.Addresses) || v.Advert.Addresses[0] != g.adv.Addresses[0] {
		t.Fatalf("CheckTo = %+v, want the golden advert accepted", v)
	}
	bad := r
	bad.TTL = 1
	n := testing.AllocsPerRun(100, func() {
		expectV3IPv4.CheckTo(&v, r)
		if v.Drop != DropNone {
			t.Fatalf("dropped: %v", v.Err)
		}
	})
	if n != 0 {
		t.Errorf("CheckTo allocates %v times per accepted advert, want 0", n)
	}
	expectV3IPv4.CheckTo(&v, bad)
	if v.Drop != DropTTL {
		t.Fatalf("TTL 1: Drop = %v, want ttl", v.Drop)
	}
	if n := testing.AllocsPerRun(100, func() { expectV3IPv4.CheckTo(&v, r) }); n != 0 {
		t.Errorf("after a drop, CheckTo allocates %v times, want 0", n)
	}
}

func TestConnConfigDestinations(t *testing.T) {
	v4 := netip.MustParseAddr("198.18.0.1")
	d, err := ConnConfig{Interface: sockTestIfi, Family: 4, Source: v4}.Destinations()
	if err != nil || len(d) != 1 || d[0] != GroupIPv4 {
		t.Errorf("multicast: %v, %v; want [%v]", d, err, GroupIPv4)
	}
	if _, err := (ConnConfig{Interface: sockTestIfi, Family: 4}).Destinations(); err == nil {
		t.Error("no source: no error")
	}
}
