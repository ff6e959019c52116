package vrrp

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"slices"
	"syscall"
	"testing"
	"time"

	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

// sockNoop does nothing and succeeds; fakes embed it and override one method.
type sockNoop struct{}

func (sockNoop) read([]byte) (Packet, error)                     { return Packet{}, nil }
func (sockNoop) write([]byte, netip.Addr, netip.Addr, int) error { return nil }
func (sockNoop) SetReadDeadline(time.Time) error                 { return nil }
func (sockNoop) Close() error                                    { return nil }

type sockWrite struct {
	b        []byte
	src, dst netip.Addr
	ifindex  int
}

type sockCapture struct {
	sockNoop
	writes []sockWrite
}

func (s *sockCapture) write(b []byte, src, dst netip.Addr, ifindex int) error {
	s.writes = append(s.writes, sockWrite{b, src, dst, ifindex})
	return nil
}

var sockTestIfi = &net.Interface{Index: 4, Name: "vrrp0"}

func TestSockCheck(t *testing.T) {
	v4 := netip.MustParseAddr("198.18.0.1")
	ll := netip.MustParseAddr("fe80::1")
	tests := []struct {
		name string
		cfg  ConnConfig
		want []netip.Addr // nil: invalid
	}{
		{"IPv4 multicast", ConnConfig{Interface: sockTestIfi, Family: 4, Source: v4}, []netip.Addr{GroupIPv4}},
		{"IPv6 multicast", ConnConfig{Interface: sockTestIfi, Family: 6, Source: ll}, []netip.Addr{GroupIPv6}},
		{
			"IPv4 unicast, duplicates folded",
			ConnConfig{Interface: sockTestIfi, Family: 4, Source: v4, Peers: []netip.Addr{
				netip.MustParseAddr("198.18.0.2"), netip.MustParseAddr("198.18.0.3"), netip.MustParseAddr("198.18.0.2"),
			}},
			[]netip.Addr{netip.MustParseAddr("198.18.0.2"), netip.MustParseAddr("198.18.0.3")},
		},
		{
			"IPv6 unicast, zone dropped",
			ConnConfig{Interface: sockTestIfi, Family: 6, Source: ll, Peers: []netip.Addr{netip.MustParseAddr("fe80::2%vrrp0")}},
			[]netip.Addr{netip.MustParseAddr("fe80::2")},
		},
		{"no interface", ConnConfig{Family: 4, Source: v4}, nil},
		{"family 5", ConnConfig{Interface: sockTestIfi, Family: 5, Source: v4}, nil},
		{"IPv4 without source", ConnConfig{Interface: sockTestIfi, Family: 4}, nil},
		{"IPv4 with IPv6 source", ConnConfig{Interface: sockTestIfi, Family: 4, Source: ll}, nil},
		// RFC 9568 §5.1.2.1: multicast adverts come from the link-local address.
		{"IPv6 multicast, global source", ConnConfig{Interface: sockTestIfi, Family: 6, Source: netip.MustParseAddr("2001:db8::1")}, nil},
		{"IPv6 multicast, ULA source", ConnConfig{Interface: sockTestIfi, Family: 6, Source: netip.MustParseAddr("fd00::1")}, nil},
		// Unicast: a global or ULA source, which peers know this router by.
		{
			"IPv6 unicast, global source",
			ConnConfig{Interface: sockTestIfi, Family: 6, Source: netip.MustParseAddr("2001:db8::1"), Peers: []netip.Addr{netip.MustParseAddr("2001:db8::2")}},
			[]netip.Addr{netip.MustParseAddr("2001:db8::2")},
		},
		{
			"IPv6 unicast, ULA source, link-local peer",
			ConnConfig{Interface: sockTestIfi, Family: 6, Source: netip.MustParseAddr("fd00::1"), Peers: []netip.Addr{netip.MustParseAddr("fe80::2")}},
			[]netip.Addr{netip.MustParseAddr("fe80::2")},
		},
		{"IPv6 unicast, mapped source", ConnConfig{Interface: sockTestIfi, Family: 6, Source: netip.MustParseAddr("::ffff:198.18.0.1"), Peers: []netip.Addr{netip.MustParseAddr("2001:db8::2")}}, nil},
		{"IPv6 unicast, unspecified source", ConnConfig{Interface: sockTestIfi, Family: 6, Source: netip.IPv6Unspecified(), Peers: []netip.Addr{netip.MustParseAddr("2001:db8::2")}}, nil},
		{"IPv6 unicast, loopback source", ConnConfig{Interface: sockTestIfi, Family: 6, Source: netip.IPv6Loopback(), Peers: []netip.Addr{netip.MustParseAddr("2001:db8::2")}}, nil},
		{"IPv6 unicast, multicast source", ConnConfig{Interface: sockTestIfi, Family: 6, Source: GroupIPv6, Peers: []netip.Addr{netip.MustParseAddr("2001:db8::2")}}, nil},
		{"IPv6 unicast, IPv4 source", ConnConfig{Interface: sockTestIfi, Family: 6, Source: v4, Peers: []netip.Addr{netip.MustParseAddr("2001:db8::2")}}, nil},
		{"IPv4 multicast source", ConnConfig{Interface: sockTestIfi, Family: 4, Source: GroupIPv4}, nil},
		{"peer of other family", ConnConfig{Interface: sockTestIfi, Family: 4, Source: v4, Peers: []netip.Addr{ll}}, nil},
		{"multicast peer", ConnConfig{Interface: sockTestIfi, Family: 6, Source: ll, Peers: []netip.Addr{GroupIPv6}}, nil},
		{"mapped peer", ConnConfig{Interface: sockTestIfi, Family: 4, Source: v4, Peers: []netip.Addr{netip.MustParseAddr("::ffff:198.18.0.2")}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := sockCheck(tt.cfg)
			if tt.want == nil {
				if !errors.Is(err, errSockConfig) {
					t.Fatalf("sockCheck = %v, %v; want errSockConfig", got, err)
				}
				return
			}
			if err != nil || !slices.Equal(got, tt.want) {
				t.Fatalf("sockCheck = %v, %v; want %v", got, err, tt.want)
			}
		})
	}
}

func TestConnWriteTo(t *testing.T) {
	s := &sockCapture{}
	src := netip.MustParseAddr("198.18.0.1")
	peer := netip.MustParseAddr("198.18.0.2")
	c := &Conn{ifindex: 4, src: src, dsts: []netip.Addr{peer}, c: s}
	msg := []byte{0x31, 0x33, 0x64, 0x01, 0x00, 0x64, 0, 0, 198, 18, 0, 100}
	if err := c.WriteTo(msg, peer); err != nil {
		t.Fatalf("WriteTo(peer): %v", err)
	}
	if err := c.WriteTo(msg, GroupIPv4); !errors.Is(err, errSockConfig) {
		t.Fatalf("WriteTo(group) in unicast mode: %v, want errSockConfig", err)
	}
	want := []sockWrite{{msg, src, peer, 4}}
	if !slices.EqualFunc(s.writes, want, func(a, b sockWrite) bool {
		return string(a.b) == string(b.b) && a.src == b.src && a.dst == b.dst && a.ifindex == b.ifindex
	}) {
		t.Fatalf("socket writes = %+v, want %+v", s.writes, want)
	}
	d := c.Destinations()
	d[0] = netip.Addr{}
	if c.Destinations()[0] != peer {
		t.Fatal("Destinations returned the Conn's own slice")
	}
}

// sockErrs fails each write with the next of errs, then succeeds.
type sockErrs struct {
	sockCapture
	errs  []error
	tries int
}

func (s *sockErrs) write(b []byte, src, dst netip.Addr, ifindex int) error {
	s.tries++
	if len(s.errs) > 0 {
		err := s.errs[0]
		s.errs = s.errs[1:]
		if err != nil {
			return err
		}
	}
	return s.sockCapture.write(b, src, dst, ifindex)
}

// TestConnWriteToENETDOWN: after a link flap the first send reports the
// ENETDOWN left pending on the socket; WriteTo sends again once, at once,
// and only for ENETDOWN.
func TestConnWriteToENETDOWN(t *testing.T) {
	src, peer := netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("2001:db8::2")
	msg := []byte{0x31, 0x33, 0x64, 0x00, 0x00, 0x64, 0, 0}
	enetdown := &net.OpError{Op: "write", Net: "ip6:112", Err: os.NewSyscallError("sendmsg", syscall.ENETDOWN)}
	tests := []struct {
		name   string
		errs   []error
		tries  int
		sent   int
		wantIs error // nil: success
	}{
		{"success", nil, 1, 1, nil},
		{"pending ENETDOWN, then sent", []error{enetdown}, 2, 1, nil},
		{"bare errno", []error{syscall.ENETDOWN}, 2, 1, nil},
		{"link really down", []error{enetdown, enetdown}, 2, 0, syscall.ENETDOWN},
		{"other errors are not retried", []error{syscall.ENETUNREACH}, 1, 0, syscall.ENETUNREACH},
		{"EADDRNOTAVAIL is not retried", []error{syscall.EADDRNOTAVAIL}, 1, 0, syscall.EADDRNOTAVAIL},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &sockErrs{errs: tt.errs}
			c := &Conn{ifindex: 4, src: src, dsts: []netip.Addr{peer}, c: s}
			err := c.WriteTo(msg, peer)
			if tt.wantIs == nil && err != nil || tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
				t.Fatalf("WriteTo: %v, want %v", err, tt.wantIs)
			}
			if s.tries != tt.tries || len(s.writes) != tt.sent {
				t.Fatalf("%d sends tried, %d sent; want %d and %d", s.tries, len(s.writes), tt.tries, tt.sent)
			}
			for _, w := range s.writes {
				if w.src != src || w.dst != peer || string(w.b) != string(msg) {
					t.Fatalf("sent %+v", w)
				}
			}
		})
	}
}

type sockClosed struct{ sockNoop }

func (sockClosed) read([]byte) (Packet, error) { return Packet{}, net.ErrClosed }

func TestConnReadError(t *testing.T) {
	c := &Conn{c: sockClosed{}}
	if _, err := c.Read(make([]byte, MaxLen)); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Read: %v, want net.ErrClosed", err)
	}
}

func TestSockPacket(t *testing.T) {
	payload := []byte{0x31, 0x01}
	tests := []struct {
		name string
		got  Packet
		want Packet
	}{
		{
			name: "IPv4",
			got: sockPacket4(payload,
				&ipv4.ControlMessage{TTL: 255, IfIndex: 4, Dst: net.IPv4(224, 0, 0, 18)}, // Dst as x/net gives it: 16 bytes
				&net.IPAddr{IP: net.IPv4(198, 18, 0, 2).To4()}),
			want: Packet{Payload: payload, Src: netip.MustParseAddr("198.18.0.2"), Dst: GroupIPv4, TTL: 255, IfIndex: 4},
		},
		{
			name: "IPv4 without control message",
			got:  sockPacket4(payload, nil, &net.IPAddr{IP: net.IPv4(198, 18, 0, 2)}),
			want: Packet{Payload: payload, Src: netip.MustParseAddr("198.18.0.2")},
		},
		{
			name: "IPv6, zone dropped",
			got: sockPacket6(payload,
				&ipv6.ControlMessage{HopLimit: 255, IfIndex: 4, Dst: net.ParseIP("ff02::12")},
				&net.IPAddr{IP: net.ParseIP("fe80::2"), Zone: "vrrp0"}),
			want: Packet{Payload: payload, Src: netip.MustParseAddr("fe80::2"), Dst: GroupIPv6, TTL: 255, IfIndex: 4},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g, w := tt.got, tt.want
			if &g.Payload[0] != &w.Payload[0] || g.Src != w.Src || g.Dst != w.Dst || g.TTL != w.TTL || g.IfIndex != w.IfIndex {
				t.Fatalf("packet = %+v, want %+v", g, w)
			}
		})
	}
}
