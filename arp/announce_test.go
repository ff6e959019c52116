package arp

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mdlayher/packet"
)

// noopPacketConn does nothing and succeeds; fakes embed it and override one
// method.
type noopPacketConn struct{}

func (noopPacketConn) ReadFrom([]byte) (int, net.Addr, error)    { return 0, nil, nil }
func (noopPacketConn) WriteTo(b []byte, _ net.Addr) (int, error) { return len(b), nil }
func (noopPacketConn) Close() error                              { return nil }
func (noopPacketConn) LocalAddr() net.Addr                       { return nil }
func (noopPacketConn) SetDeadline(time.Time) error               { return nil }
func (noopPacketConn) SetReadDeadline(time.Time) error           { return nil }
func (noopPacketConn) SetWriteDeadline(time.Time) error          { return nil }

type write struct {
	b    []byte
	addr net.Addr
}

// captureConn records what is written to it.
type captureConn struct {
	noopPacketConn
	writes []write
	err    error
}

func (c *captureConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	c.writes = append(c.writes, write{append([]byte(nil), b...), addr})
	return len(b), nil
}

var testIfi = &net.Interface{
	Index:        7,
	Name:         "vip0",
	HardwareAddr: net.HardwareAddr{0x02, 0x00, 0x5e, 0x00, 0x01, 0x07},
}

// cat joins annotated segments, one wire field each.
func cat(segs ...[]byte) []byte { return bytes.Join(segs, nil) }

// diff explains where two byte strings differ, as (-want +got).
func diff(want, got []byte) string {
	if bytes.Equal(want, got) {
		return ""
	}
	return fmt.Sprintf("(-want +got):\n-% x\n+% x", want, got)
}

func TestAnnounceIPv4(t *testing.T) {
	c := &captureConn{}
	a, err := newAnnouncer(testIfi, c, nil)
	if err != nil {
		t.Fatalf("newAnnouncer: %v", err)
	}
	if err := a.Announce(netip.MustParseAddr("198.18.0.10")); err != nil {
		t.Fatalf("Announce: %v", err)
	}
	mac := []byte(testIfi.HardwareAddr)
	vip := []byte{198, 18, 0, 10}
	frame := func(op byte, targetHW []byte) []byte {
		return cat(
			[]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, // Ethernet destination: broadcast
			mac,                // Ethernet source: the interface
			[]byte{0x08, 0x06}, // EtherType: ARP
			[]byte{0x00, 0x01}, // hardware type: Ethernet
			[]byte{0x08, 0x00}, // protocol type: IPv4
			[]byte{6},          // hardware address length
			[]byte{4},          // protocol address length
			[]byte{0x00, op},   // operation
			mac,                // sender hardware address
			vip,                // sender protocol address: the VIP
			targetHW,           // target hardware address
			vip,                // target protocol address: the VIP again
			make([]byte, 18),   // padding to the 60-byte minimum frame
		)
	}
	want := []write{
		{frame(1, make([]byte, 6)), &packet.Addr{HardwareAddr: net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}}}, // request, RFC 5227 §3
		{frame(2, mac), &packet.Addr{HardwareAddr: net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}}},             // reply, RFC 5944 §4.6
	}
	if len(c.writes) != len(want) {
		t.Fatalf("%d frames written, want %d", len(c.writes), len(want))
	}
	for i := range want {
		if d := diff(want[i].b, c.writes[i].b); d != "" {
			t.Errorf("frame %d %s", i, d)
		}
		if got := c.writes[i].addr.String(); got != want[i].addr.String() {
			t.Errorf("frame %d sent to %s, want %s", i, got, want[i].addr)
		}
	}
}

func TestAnnounceIPv6(t *testing.T) {
	c := &captureConn{}
	opened := 0
	a, err := newAnnouncer(testIfi, noopPacketConn{}, func() (net.PacketConn, error) {
		opened++
		return c, nil
	})
	if err != nil {
		t.Fatalf("newAnnouncer: %v", err)
	}
	if opened != 0 {
		t.Fatal("IPv6 socket opened before the first IPv6 announcement")
	}
	for range 2 {
		if err := a.Announce(netip.MustParseAddr("2001:db8::10")); err != nil {
			t.Fatalf("Announce: %v", err)
		}
	}
	if opened != 1 {
		t.Fatalf("IPv6 socket opened %d times, want once", opened)
	}
	want := cat(
		[]byte{136},           // ICMPv6 type: Neighbor Advertisement
		[]byte{0},             // code
		[]byte{0x00, 0x00},    // checksum: left to the kernel (IPV6_CHECKSUM)
		[]byte{0x20, 0, 0, 0}, // flags R=0 S=0 O=1, reserved
		netip.MustParseAddr("2001:db8::10").AsSlice(), // target address: the VIP
		[]byte{2},                    // option: target link-layer address
		[]byte{1},                    // option length: 8 octets
		[]byte(testIfi.HardwareAddr), // the interface's address
	)
	for i, w := range c.writes {
		if d := diff(want, w.b); d != "" {
			t.Errorf("message %d %s", i, d)
		}
		if got := w.addr.String(); got != "ff02::1%7" {
			t.Errorf("message %d sent to %s, want ff02::1%%7", i, got)
		}
	}
}

func TestAnnounceIPv6Reopens(t *testing.T) {
	opens := 0
	fail := &captureConn{err: errors.New("link-local address gone")}
	ok := &captureConn{}
	a, _ := newAnnouncer(testIfi, noopPacketConn{}, func() (net.PacketConn, error) {
		opens++
		switch opens {
		case 1:
			return nil, ErrNoLinkLocal
		case 2:
			return fail, nil
		default:
			return ok, nil
		}
	})
	vip := netip.MustParseAddr("fe80::1")
	if err := a.Announce(vip); !errors.Is(err, ErrNoLinkLocal) {
		t.Fatalf("Announce without link-local: %v, want ErrNoLinkLocal", err)
	}
	if err := a.Announce(vip); err == nil {
		t.Fatal("Announce on a failing socket succeeded")
	}
	if err := a.Announce(vip); err != nil {
		t.Fatalf("Announce after reopening: %v", err)
	}
	if opens != 3 || len(ok.writes) != 1 {
		t.Fatalf("opens = %d, writes = %d; want 3 and 1", opens, len(ok.writes))
	}
}

func TestAnnounceErrors(t *testing.T) {
	a, _ := newAnnouncer(testIfi, &captureConn{err: errors.New("ENETDOWN")}, nil)
	for _, addr := range []netip.Addr{{}, netip.IPv4Unspecified(), netip.MustParseAddr("ff02::1")} {
		if err := a.Announce(addr); !errors.Is(err, ErrInvalidAddr) {
			t.Errorf("Announce(%q): %v, want ErrInvalidAddr", addr, err)
		}
	}
	if err := a.Announce(netip.MustParseAddr("198.18.0.1")); err == nil {
		t.Error("Announce with a failing socket succeeded")
	}
	if _, err := newAnnouncer(&net.Interface{Name: "tun0"}, noopPacketConn{}, nil); !errors.Is(err, ErrNoHardwareAddr) {
		t.Errorf("newAnnouncer without MAC: %v, want ErrNoHardwareAddr", err)
	}
}

type closeConn struct {
	noopPacketConn
	closed *int
}

func (c closeConn) Close() error { *c.closed++; return nil }

func TestClose(t *testing.T) {
	var closed int
	a, _ := newAnnouncer(testIfi, closeConn{closed: &closed}, func() (net.PacketConn, error) {
		return closeConn{closed: &closed}, nil
	})
	if err := a.Announce(netip.MustParseAddr("2001:db8::1")); err != nil {
		t.Fatal(err)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if closed != 2 {
		t.Fatalf("%d sockets closed, want 2", closed)
	}
	if err := a.Announce(netip.MustParseAddr("2001:db8::1")); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Announce after Close: %v, want net.ErrClosed", err)
	}
}

// TestAnnounceNewMAC: after SetHardwareAddr (a bond fail-over), gratuitous
// ARP and NA carry the new MAC, in the Ethernet source, the sender and
// target hardware addresses, and the target link-layer address option.
func TestAnnounceNewMAC(t *testing.T) {
	arpc, ndc := &captureConn{}, &captureConn{}
	ifi := *testIfi
	ifi.HardwareAddr = slices.Clone(testIfi.HardwareAddr)
	a, err := newAnnouncer(&ifi, arpc, func() (net.PacketConn, error) { return ndc, nil })
	if err != nil {
		t.Fatal(err)
	}
	old := slices.Clone(ifi.HardwareAddr)
	mac := net.HardwareAddr{0x02, 0x00, 0x5e, 0x00, 0x02, 0x99}
	if err := a.SetHardwareAddr(mac); err != nil {
		t.Fatalf("SetHardwareAddr: %v", err)
	}
	mac[5] = 0xff // the caller's slice is not kept
	want := net.HardwareAddr{0x02, 0x00, 0x5e, 0x00, 0x02, 0x99}
	if got := a.HardwareAddr(); got.String() != want.String() {
		t.Fatalf("HardwareAddr = %s, want %s", got, want)
	}
	for _, vip := range []string{"198.18.0.10", "2001:db8::10"} {
		if err := a.Announce(netip.MustParseAddr(vip)); err != nil {
			t.Fatalf("Announce(%s): %v", vip, err)
		}
	}
	if len(arpc.writes) != 2 || len(ndc.writes) != 1 {
		t.Fatalf("%d ARP frames and %d NAs, want 2 and 1", len(arpc.writes), len(ndc.writes))
	}
	for i, w := range arpc.writes {
		b := w.b
		if src, sha := net.HardwareAddr(b[6:12]), net.HardwareAddr(b[22:28]); src.String() != want.String() || sha.String() != want.String() {
			t.Errorf("ARP %d: Ethernet source %s, sender hardware address %s; want %s", i, src, sha, want)
		}
		if i == 1 {
			if tha := net.HardwareAddr(b[32:38]); tha.String() != want.String() {
				t.Errorf("ARP reply target hardware address %s, want %s", tha, want)
			}
		}
		if bytes.Contains(b, old) {
			t.Errorf("ARP %d still carries the old MAC %s", i, old)
		}
	}
	if lla := net.HardwareAddr(ndc.writes[0].b[26:32]); lla.String() != want.String() {
		t.Errorf("NA target link-layer address %s, want %s", lla, want)
	}
	if err := a.SetHardwareAddr(net.HardwareAddr{1, 2, 3}); !errors.Is(err, ErrNoHardwareAddr) {
		t.Errorf("SetHardwareAddr(3 bytes): %v, want ErrNoHardwareAddr", err)
	}
	if got := a.HardwareAddr(); got.String() != want.String() {
		t.Errorf("HardwareAddr after a rejected set = %s, want %s", got, want)
	}
}

// errsConn fails each write with the next of errs, then records.
type errsConn struct {
	captureConn
	errs  []error
	tries int
}

func (c *errsConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	c.tries++
	if len(c.errs) > 0 {
		err := c.errs[0]
		c.errs = c.errs[1:]
		return 0, err
	}
	return c.captureConn.WriteTo(b, addr)
}

// TestAnnounceENETDOWN: the ENETDOWN a link flap leaves pending on the socket
// costs one retry, at once; a second ENETDOWN, or another error, is returned.
func TestAnnounceENETDOWN(t *testing.T) {
	enetdown := &net.OpError{Op: "write", Net: "packet", Err: os.NewSyscallError("sendto", syscall.ENETDOWN)}
	tests := []struct {
		name    string
		errs    []error
		tries   int // per socket write sequence: ARP sends two frames
		wantErr error
	}{
		{"pending ENETDOWN", []error{enetdown}, 1, nil},
		{"link down", []error{enetdown, enetdown}, 0, syscall.ENETDOWN},
		{"other error", []error{syscall.ENOBUFS}, 0, syscall.ENOBUFS},
	}
	for _, tt := range tests {
		t.Run("ARP "+tt.name, func(t *testing.T) {
			c := &errsConn{errs: slices.Clone(tt.errs)}
			a, _ := newAnnouncer(testIfi, c, nil)
			err := a.Announce(netip.MustParseAddr("198.18.0.10"))
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
				t.Fatalf("Announce: %v, want %v", err, tt.wantErr)
			}
			wantTries, wantSent := len(tt.errs)+2, 2
			if tt.wantErr != nil {
				wantTries, wantSent = len(tt.errs), 0
			}
			if c.tries != wantTries || len(c.writes) != wantSent {
				t.Fatalf("%d writes tried, %d sent; want %d and %d", c.tries, len(c.writes), wantTries, wantSent)
			}
		})
		t.Run("NA "+tt.name, func(t *testing.T) {
			c := &errsConn{errs: slices.Clone(tt.errs)}
			opens := 0
			a, _ := newAnnouncer(testIfi, noopPacketConn{}, func() (net.PacketConn, error) { opens++; return c, nil })
			err := a.Announce(netip.MustParseAddr("2001:db8::10"))
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
				t.Fatalf("Announce: %v, want %v", err, tt.wantErr)
			}
			wantTries, wantSent := len(tt.errs)+1, 1
			if tt.wantErr != nil {
				wantTries, wantSent = len(tt.errs), 0
			}
			if c.tries != wantTries || len(c.writes) != wantSent || opens != 1 {
				t.Fatalf("%d writes tried, %d sent, %d opens; want %d, %d, 1", c.tries, len(c.writes), opens, wantTries, wantSent)
			}
		})
	}
}

func TestCloseNilAndConcurrent(t *testing.T) {
	var nilA *Announcer
	if err := nilA.Close(); err != nil {
		t.Fatalf("Close of nil: %v", err)
	}
	a, _ := newAnnouncer(testIfi, &captureConn{}, func() (net.PacketConn, error) { return &captureConn{}, nil })
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			if i%2 == 0 {
				_ = a.Close()
			} else {
				_ = a.Announce(netip.MustParseAddr("2001:db8::1"))
				_ = a.SetHardwareAddr(testIfi.HardwareAddr)
			}
		})
	}
	wg.Wait()
	if err := a.Announce(netip.MustParseAddr("198.18.0.1")); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("IPv4 Announce after Close: %v, want net.ErrClosed", err)
	}
}
