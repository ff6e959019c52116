package vrrp

import (
	"encoding/binary"
	"fmt"
	"net/netip"
)

// ChecksumForm says what a VRRP checksum covers besides the message.
// The zero value is not a form: it is what a [Verdict] carries when no
// checksum was verified.
type ChecksumForm uint8

const (
	// ChecksumPseudoHeader covers a pseudo-header and the message: for IPv6
	// the one of RFC 8200 §8.1 (source, destination, 32-bit upper-layer
	// length, three zero bytes, next header 112), as RFC 9568 §5.2.8
	// requires; for IPv4 the one of UDP and TCP (source, destination, a zero
	// byte, protocol 112, 16-bit length), as keepalived and FRR send for
	// version 3 by default.
	ChecksumPseudoHeader ChecksumForm = iota + 1

	// ChecksumMessageOnly covers the VRRP message alone: always for version 2
	// (RFC 3768 §5.3.8), and what RFC 9568 §5.2.8 specifies for version 3
	// over IPv4 (keepalived's v3_checksum_as_v2, FRR without
	// checksum-with-ipv4-pseudoheader, some router vendors).
	ChecksumMessageOnly
)

var checksumFormNames = [...]string{
	ChecksumPseudoHeader: "pseudo-header",
	ChecksumMessageOnly:  "message-only",
}

// String returns "pseudo-header", "message-only", or "none" for the zero value.
func (f ChecksumForm) String() string {
	if f == 0 {
		return "none"
	}
	if int(f) < len(checksumFormNames) {
		return checksumFormNames[f]
	}
	return fmt.Sprintf("ChecksumForm(%d)", uint8(f))
}

// MarshalText implements [encoding.TextMarshaler] with the names of String.
func (f ChecksumForm) MarshalText() ([]byte, error) {
	if !f.valid() {
		return nil, fmt.Errorf("vrrp: invalid checksum form %d", uint8(f))
	}
	return []byte(f.String()), nil
}

// UnmarshalText implements [encoding.TextUnmarshaler], accepting
// "pseudo-header" and "message-only".
func (f *ChecksumForm) UnmarshalText(b []byte) error {
	for i, name := range checksumFormNames {
		if name != "" && name == string(b) {
			*f = ChecksumForm(i)
			return nil
		}
	}
	return fmt.Errorf("vrrp: unknown checksum form %q (want pseudo-header or message-only)", b)
}

func (f ChecksumForm) valid() bool {
	return f == ChecksumPseudoHeader || f == ChecksumMessageOnly
}

// Checksum returns the checksum of msg, a VRRP message, in the given form,
// with the pseudo-header inputs explicit. The checksum field of msg (bytes 6
// and 7) is taken as zero, whatever it holds, so the result can be compared
// with the field or stored in it.
//
// For ChecksumPseudoHeader, the pseudo-header is IPv4 (RFC 768 style) when
// src is IPv4 or IPv4-mapped and IPv6 (RFC 8200 §8.1) otherwise; src and dst
// should be of one family. The upper-layer length is len(msg).
// ChecksumMessageOnly (and any other value of form) ignores src and dst.
func Checksum(msg []byte, src, dst netip.Addr, form ChecksumForm) uint16 {
	var s uint64
	if form == ChecksumPseudoHeader {
		s = pseudoHeaderSum(src, dst, len(msg))
	}
	// Bytes 6 and 7 start at an even offset, so skipping them keeps the
	// 16-bit words aligned.
	s = sum(s, msg[:min(6, len(msg))])
	s = sum(s, msg[min(8, len(msg)):])
	return ^fold(s)
}

// verifies reports whether b, a whole VRRP message checksum field included,
// carries a valid checksum in the given form: the one's complement sum over
// everything is then all ones (RFC 1071). This accepts either zero (0x0000 or
// 0xffff) where a sender's arithmetic could produce both.
func verifies(b []byte, src, dst netip.Addr, form ChecksumForm) bool {
	var s uint64
	if form == ChecksumPseudoHeader {
		s = pseudoHeaderSum(src, dst, len(b))
	}
	return fold(sum(s, b)) == 0xffff
}

// pseudoHeaderSum is the sum of the 16-bit words of the pseudo-header. The
// IPv4 form (src, dst, 0, 112, 16-bit length) and the IPv6 form (src, dst,
// 32-bit length, 0, 0, 0, 112) differ only in the address sizes and, for
// lengths of 64 KiB and more, the high half of the length.
func pseudoHeaderSum(src, dst netip.Addr, n int) uint64 {
	src, dst = src.Unmap(), dst.Unmap()
	var s uint64
	if src.Is4() {
		a, b := src.As4(), dst.AsSlice()
		s = sum(sum(0, a[:]), b)
		s += uint64(uint16(n))
	} else {
		a, b := src.As16(), dst.AsSlice()
		s = sum(sum(0, a[:]), b)
		s += uint64(uint32(n)>>16) + uint64(uint16(n))
	}
	return s + ProtocolNumber
}

// sum adds the big-endian 16-bit words of b to s, padding an odd last byte
// with zero (RFC 1071). The caller folds.
func sum(s uint64, b []byte) uint64 {
	for len(b) >= 2 {
		s += uint64(binary.BigEndian.Uint16(b))
		b = b[2:]
	}
	if len(b) == 1 {
		s += uint64(b[0]) << 8
	}
	return s
}

// fold folds the carries of a one's complement sum into 16 bits.
func fold(s uint64) uint16 {
	for s > 0xffff {
		s = s>>16 + s&0xffff
	}
	return uint16(s)
}
