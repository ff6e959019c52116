package vrrp

import (
	"encoding/json"
	"net/netip"
	"testing"
)

// naiveChecksum is an independent RFC 1071 checksum to check Checksum
// against: it lays the pseudo-header out byte by byte as RFC 768 (IPv4) and
// RFC 8200 §8.1 (IPv6) draw it, and adds with an end-around carry at every
// step rather than folding at the end.
func naiveChecksum(msg []byte, src, dst netip.Addr, form ChecksumForm) uint16 {
	var data []byte
	if form == ChecksumPseudoHeader {
		n := len(msg)
		if src.Is4() {
			// source, destination, zero, protocol, UDP-style 16-bit length
			data = append(data, src.AsSlice()...)
			data = append(data, dst.AsSlice()...)
			data = append(data, 0, 112, byte(n>>8), byte(n))
		} else {
			// source, destination, 32-bit upper-layer length, 3 zero bytes, next header
			data = append(data, src.AsSlice()...)
			data = append(data, dst.AsSlice()...)
			data = append(data, byte(n>>24), byte(n>>16), byte(n>>8), byte(n), 0, 0, 0, 112)
		}
	}
	m := append([]byte(nil), msg...)
	m[6], m[7] = 0, 0
	data = append(data, m...)
	if len(data)%2 == 1 {
		data = append(data, 0)
	}
	var s uint16
	for i := 0; i < len(data); i += 2 {
		w := uint16(data[i])<<8 | uint16(data[i+1])
		t := s + w
		if t < s { // carry out of bit 15 comes back in at bit 0
			t++
		}
		s = t
	}
	return ^s
}

func TestChecksumGolden(t *testing.T) {
	tests := []struct {
		name string
		g    golden
		form ChecksumForm
		want uint16
	}{
		{"v3 IPv4 pseudo-header", goldens[0], ChecksumPseudoHeader, 0xd367},
		{"v3 IPv4 message only", goldens[0], ChecksumMessageOnly, 0x7602},
		{"v2", goldens[1], ChecksumMessageOnly, 0x8665},
		{"v3 IPv6 pseudo-header", goldens[2], ChecksumPseudoHeader, 0xdf9b},
	}
	for _, tt := range tests {
		msg := tt.g.wire.bytes(t)
		if got := naiveChecksum(msg, tt.g.src, tt.g.dst, tt.form); got != tt.want {
			t.Errorf("%s: independent checksum = 0x%04x, want 0x%04x: the vector is wrong", tt.name, got, tt.want)
		}
		if got := Checksum(msg, tt.g.src, tt.g.dst, tt.form); got != tt.want {
			t.Errorf("%s: Checksum = 0x%04x, want 0x%04x", tt.name, got, tt.want)
		}
	}
}

// TestChecksumAgainstNaive compares both methods on messages of every length
// up to 64 bytes, odd ones included, with all-ones bytes to exercise carries.
func TestChecksumAgainstNaive(t *testing.T) {
	pairs := [][2]netip.Addr{
		{srcIPv4, GroupIPv4},
		{netip.MustParseAddr("255.255.255.255"), netip.MustParseAddr("255.255.255.254")},
		{srcIPv6, GroupIPv6},
		{netip.MustParseAddr("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"), GroupIPv6},
	}
	for n := 8; n <= 64; n++ {
		for _, fill := range []byte{0x00, 0xff, 0x5a} {
			msg := make([]byte, n)
			for i := range msg {
				msg[i] = fill + byte(i)
			}
			for _, p := range pairs {
				for _, f := range []ChecksumForm{ChecksumPseudoHeader, ChecksumMessageOnly} {
					if got, want := Checksum(msg, p[0], p[1], f), naiveChecksum(msg, p[0], p[1], f); got != want {
						t.Fatalf("len %d fill %#x %v %v: Checksum = 0x%04x, naive 0x%04x", n, fill, p, f, got, want)
					}
				}
			}
		}
	}
}

// TestChecksumIgnoresField: the result does not depend on what the checksum
// field holds, and storing it makes the message verify.
func TestChecksumIgnoresField(t *testing.T) {
	g := goldens[2]
	msg := g.wire.bytes(t)
	want := Checksum(msg, g.src, g.dst, ChecksumPseudoHeader)
	msg[6], msg[7] = 0x12, 0x34
	if got := Checksum(msg, g.src, g.dst, ChecksumPseudoHeader); got != want {
		t.Errorf("with field 0x1234: 0x%04x, want 0x%04x", got, want)
	}
	msg[6], msg[7] = byte(want>>8), byte(want)
	if !verifies(msg, g.src, g.dst, ChecksumPseudoHeader) {
		t.Error("message with its checksum stored does not verify")
	}
	// Short inputs do not panic.
	for n := range 8 {
		Checksum(msg[:n], g.src, g.dst, ChecksumPseudoHeader)
	}
}

// TestChecksumNegativeZero: 0x0000 and 0xffff are both zero in one's
// complement; a sender may write either where the checksum is zero.
func TestChecksumNegativeZero(t *testing.T) {
	// Message only, sum of the other words 0xffff: the checksum is 0x0000.
	msg := []byte{0x21, 0x01, 0x00, 0x00, 0xde, 0xfe, 0, 0}
	if got := Checksum(msg, netip.Addr{}, netip.Addr{}, ChecksumMessageOnly); got != 0 {
		t.Fatalf("checksum = 0x%04x, want 0", got)
	}
	for _, field := range []uint16{0x0000, 0xffff} {
		msg[6], msg[7] = byte(field>>8), byte(field)
		if !verifies(msg, netip.Addr{}, netip.Addr{}, ChecksumMessageOnly) {
			t.Errorf("field 0x%04x does not verify", field)
		}
	}
}

func TestChecksumFormText(t *testing.T) {
	for f, want := range map[ChecksumForm]string{
		0:                    "none",
		ChecksumPseudoHeader: "pseudo-header",
		ChecksumMessageOnly:  "message-only",
		9:                    "ChecksumForm(9)",
	} {
		if got := f.String(); got != want {
			t.Errorf("%d.String() = %q, want %q", f, got, want)
		}
	}
	for _, f := range []ChecksumForm{ChecksumPseudoHeader, ChecksumMessageOnly} {
		b, err := json.Marshal(f)
		if err != nil {
			t.Fatal(err)
		}
		var back ChecksumForm
		if err := json.Unmarshal(b, &back); err != nil || back != f {
			t.Errorf("JSON round trip of %v via %s: %v, %v", f, b, back, err)
		}
	}
	if _, err := ChecksumForm(0).MarshalText(); err == nil {
		t.Error("MarshalText of the zero form succeeded")
	}
	var f ChecksumForm
	if err := f.UnmarshalText([]byte("none")); err == nil {
		t.Error(`UnmarshalText("none") succeeded`)
	}
}
