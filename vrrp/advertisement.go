package vrrp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"time"
)

// ProtocolNumber is the IP protocol number of VRRP, for IPv4 and IPv6
// (RFC 9568 §5.1.1.4, §5.1.2.3).
const ProtocolNumber = 112

// The multicast groups advertisements are sent to (RFC 9568 §5.1.1.2,
// §5.1.2.2; RFC 3768 §5.2.2).
var (
	GroupIPv4 = netip.MustParseAddr("224.0.0.18")
	GroupIPv6 = netip.MustParseAddr("ff02::12")
)

const (
	// HeaderLen is the length of the fixed part of an advertisement, before
	// the addresses.
	HeaderLen = 8

	// MaxLen is the longest valid advertisement: version 3 with 255 IPv6
	// addresses, 8 + 255*16 = 4088 bytes. (The longest version 2 message, 255
	// IPv4 addresses and Authentication Data, is 1036.) It is the payload
	// only: a raw socket delivers VRRP without the IP header (see Conn.Read).
	//
	// A buffer of MaxLen bytes holds any valid message, but a longer, invalid
	// one would be cut to MaxLen bytes without notice, and the cut could be a
	// well-formed message. Read into ReadBufferLen bytes instead.
	MaxLen = HeaderLen + maxAddresses*16

	// ReadBufferLen is the buffer size a reader needs: one byte more than
	// MaxLen, so that a message longer than any valid one arrives longer than
	// MaxLen, fits no address count, and is rejected (ErrMalformed,
	// DropShort) instead of being cut to a valid-looking prefix.
	ReadBufferLen = MaxLen + 1

	// AuthDataLen is the length of the Authentication Data after a version 2
	// message's addresses (RFC 3768 §5.3.10, RFC 2338 §5.3.10).
	AuthDataLen = 8

	maxAddresses = 255

	// RFC 9568 §5.2.7: 12 bits of centiseconds.
	maxV3Centiseconds = 1<<12 - 1
	centisecond       = 10 * time.Millisecond

	// RFC 3768 §5.3.7: 8 bits of seconds.
	maxV2Seconds = 255
)

// Sentinel errors. Errors returned by this package wrap one of them with
// detail; test with [errors.Is].
var (
	// ErrShort: the message is shorter than its fixed header or than its
	// address count says (RFC 9568 §7.1: "the complete VRRP packet").
	ErrShort = errors.New("vrrp: message too short")
	// ErrMalformed: the message is longer than its address count says, or
	// fits neither address family.
	ErrMalformed = errors.New("vrrp: malformed message")
	// ErrVersion: the version is not 2 or 3, or not the one configured.
	ErrVersion = errors.New("vrrp: unsupported version")
	// ErrType: the type is not ADVERTISEMENT; RFC 9568 §5.2.2 says such a
	// packet MUST be discarded.
	ErrType = errors.New("vrrp: unknown type")
	// ErrChecksum: the checksum does not verify in any acceptable form.
	ErrChecksum = errors.New("vrrp: bad checksum")
	// ErrInterval: the interval cannot be encoded, is zero, or (version 2)
	// differs from the configured one.
	ErrInterval = errors.New("vrrp: invalid advertisement interval")
	// ErrAuth: a version 2 Auth Type or password that is not the configured
	// one, an Auth Type vipd cannot send (AH), a password that does not fit,
	// or any authentication set on a version 3 advertisement.
	ErrAuth = errors.New("vrrp: authentication mismatch")
	// ErrFamily: addresses of mixed families, IPv6 with version 2, or
	// addresses not of the family of the IP header.
	ErrFamily = errors.New("vrrp: address family mismatch")
	// ErrAddresses: more than 255 addresses, or an invalid (zero) address.
	ErrAddresses = errors.New("vrrp: invalid address list")
	// ErrTTL: the IPv4 TTL or IPv6 Hop Limit is not 255.
	ErrTTL = errors.New("vrrp: TTL is not 255")
	// ErrVRID: the VRID is not the configured one.
	ErrVRID = errors.New("vrrp: VRID not configured")
	// ErrNotPeer: a unicast advertisement from a source that is not a
	// configured peer.
	ErrNotPeer = errors.New("vrrp: source is not a configured peer")
)

// Version 2 Auth Types (RFC 2338 §5.3.6; RFC 3768 §5.3.6 keeps the field,
// reserving 1 and 2 for compatibility with RFC 2338).
const (
	// AuthTypeNone: no authentication; the Authentication Data is zero on
	// transmission and ignored on reception (RFC 3768 §5.3.10).
	AuthTypeNone uint8 = 0
	// AuthTypePassword: a simple text password of up to 8 octets in the
	// Authentication Data, zero-padded (RFC 2338 §5.3.6), as keepalived's
	// "auth_type PASS" sends it. It guards against misconfiguration, not
	// attack: anyone on the link reads it.
	AuthTypePassword uint8 = 1
	// AuthTypeAH: IP Authentication Header (RFC 2338 §5.3.6). vipd neither
	// sends nor verifies it: every advertisement claiming it is dropped.
	AuthTypeAH uint8 = 2
)

// AuthPassword returns the Authentication Data of AuthTypePassword for pw:
// its bytes, zero-padded to 8 octets (RFC 2338 §5.3.6), as keepalived 2.2.7
// fills the field from auth_pass. A password longer than 8 bytes is an error
// wrapping ErrAuth (keepalived truncates it with a warning; vipd does not
// guess).
func AuthPassword(pw string) ([AuthDataLen]byte, error) {
	var d [AuthDataLen]byte
	if len(pw) > AuthDataLen {
		return d, fmt.Errorf("%w: the password is %d bytes, at most %d fit in the Authentication Data (RFC 2338 §5.3.6): shorten it",
			ErrAuth, len(pw), AuthDataLen)
	}
	copy(d[:], pw)
	return d, nil
}

// Type is the VRRP packet type (RFC 9568 §5.2.2).
type Type uint8

// TypeAdvertisement is the only VRRP packet type.
const TypeAdvertisement Type = 1

// String returns "advertisement" or "Type(n)".
func (t Type) String() string {
	if t == TypeAdvertisement {
		return "advertisement"
	}
	return fmt.Sprintf("Type(%d)", uint8(t))
}

// An Advertisement is a VRRP ADVERTISEMENT, version 2 (RFC 3768 §5.3) or
// version 3 (RFC 9568 §5.2).
//
// Version 3:
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|Version| Type  | Virtual Rtr ID|   Priority    |Count IPvX Addr|
//	|(rsvd) |     Max Adver Int     |          Checksum             |
//	|                 IPvX Address(es), 4 or 16 bytes each          |
//
// Version 2 has Auth Type (8 bits) and Adver Int (8 bits, seconds) in place
// of rsvd and Max Adver Int, IPv4 addresses only, and 8 bytes of
// Authentication Data after them.
type Advertisement struct {
	// Version is 2 or 3.
	Version int
	// Type is TypeAdvertisement.
	Type Type
	// VRID is the Virtual Router Identifier (RFC 9568 §5.2.3).
	VRID uint8
	// Priority is the sender's priority: 255 for the address owner, 0 when
	// the Active Router stops (RFC 9568 §5.2.4).
	Priority uint8
	// Interval is, for version 3, the Max Advertise Interval (RFC 9568
	// §5.2.7): 12 bits of centiseconds on the wire, reserved bits ignored on
	// decode; it must be a multiple of 10ms from 10ms to 40.95s to encode.
	// For version 2 it is the Advertisement Interval (RFC 3768 §5.3.7):
	// whole seconds from 1 to 255. A zero interval is malformed.
	Interval time.Duration
	// AuthType is version 2's Auth Type (RFC 3768 §5.3.6): AuthTypeNone or
	// AuthTypePassword to encode; any value decodes. Version 3 has none and
	// it must be 0.
	AuthType uint8
	// AuthData is version 2's Authentication Data (RFC 3768 §5.3.10). With
	// AuthTypePassword it is the password (see AuthPassword) and is sent as
	// is. With AuthTypeNone it must be zero, and it decodes as zero whatever
	// the wire holds (RFC 3768 §5.3.10: "ignored on reception"); with other
	// Auth Types it decodes as received. Version 3 has none: it must be zero.
	AuthData [AuthDataLen]byte
	// Addresses are the virtual addresses, all IPv4 or all IPv6 (version 2:
	// IPv4), at most 255. Zones are not sent. Decoding zero addresses gives
	// nil.
	Addresses []netip.Addr
}

// AppendBinary appends the advertisement, checksum included, to b and
// returns the extended slice. It allocates only when b lacks capacity for
// the message. On error it returns b unchanged.
//
// src and dst are the addresses of the IP header the message is sent in.
// Version 3 requires both, of the family of the addresses: they may enter
// the checksum, and they decide the family when there are no addresses.
// Version 2 ignores them.
//
// form must be ChecksumPseudoHeader or ChecksumMessageOnly, and chooses the
// checksum where the protocol leaves a choice: version 3 over IPv4. Version 2
// always uses the message-only form and version 3 over IPv6 the
// pseudo-header form, whatever form says.
//
// This is not [encoding.BinaryAppender]: the checksum needs the IP header.
func (a *Advertisement) AppendBinary(b []byte, src, dst netip.Addr, form ChecksumForm) ([]byte, error) {
	if !form.valid() {
		return b, fmt.Errorf("vrrp: invalid checksum form %d", uint8(form))
	}
	alen, err := a.validate()
	if err != nil {
		return b, err
	}
	if a.Version == 3 {
		src, dst = src.Unmap(), dst.Unmap()
		if !src.IsValid() || !dst.IsValid() || src.Is4() != dst.Is4() {
			return b, fmt.Errorf("%w: IP source %v and destination %v", ErrFamily, src, dst)
		}
		hdr := 16
		if src.Is4() {
			hdr = 4
		}
		if alen == 0 {
			alen = hdr
		} else if alen != hdr {
			return b, fmt.Errorf("%w: IPv%d addresses sent from %v", ErrFamily, ipv(alen), src)
		}
		if alen == 16 {
			form = ChecksumPseudoHeader // RFC 9568 §5.2.8
		}
	} else {
		form = ChecksumMessageOnly // RFC 3768 §5.3.8
	}

	start := len(b)
	b = slices.Grow(b, a.wireLen(alen))
	b = a.put(b, alen)
	msg := b[start:]
	binary.BigEndian.PutUint16(msg[6:8], Checksum(msg, src, dst, form))
	return b, nil
}

// MarshalBinary implements [encoding.BinaryMarshaler]. The result is a whole
// message for version 2 (its checksum needs no IP header). For version 3 the
// checksum field is left zero, and IPv6 is assumed when there are no
// addresses: use [Advertisement.AppendBinary] to send, or a socket that fills
// the checksum in (IPV6_CHECKSUM).
func (a *Advertisement) MarshalBinary() ([]byte, error) {
	alen, err := a.validate()
	if err != nil {
		return nil, err
	}
	if alen == 0 {
		alen = 16
	}
	b := a.put(make([]byte, 0, a.wireLen(alen)), alen)
	if a.Version == 2 {
		binary.BigEndian.PutUint16(b[6:8], Checksum(b, netip.Addr{}, netip.Addr{}, ChecksumMessageOnly))
	}
	return b, nil
}

// validate checks that a can be encoded and returns the length of its
// addresses: 4, 16, or 0 when there are none.
func (a *Advertisement) validate() (alen int, err error) {
	switch a.Version {
	case 2:
		if a.Interval%time.Second != 0 || a.Interval < time.Second || a.Interval > maxV2Seconds*time.Second {
			return 0, fmt.Errorf("%w: version 2 needs whole seconds from 1s to %ds, got %v", ErrInterval, maxV2Seconds, a.Interval)
		}
		switch a.AuthType {
		case AuthTypeNone:
			if a.AuthData != ([AuthDataLen]byte{}) {
				return 0, fmt.Errorf("%w: Authentication Data set with Auth Type 0; use AuthTypePassword or clear it (RFC 3768 §5.3.10)", ErrAuth)
			}
		case AuthTypePassword:
		case AuthTypeAH:
			return 0, fmt.Errorf("%w: Auth Type 2 (IP Authentication Header) is not supported; use 0 or 1", ErrAuth)
		default:
			return 0, fmt.Errorf("%w: Auth Type %d is not defined (RFC 2338 §5.3.6); use 0 or 1", ErrAuth, a.AuthType)
		}
	case 3:
		if a.Interval%centisecond != 0 || a.Interval < centisecond || a.Interval > maxV3Centiseconds*centisecond {
			return 0, fmt.Errorf("%w: version 3 needs a multiple of 10ms from 10ms to 40.95s, got %v", ErrInterval, a.Interval)
		}
		if a.AuthType != 0 || a.AuthData != ([AuthDataLen]byte{}) {
			return 0, fmt.Errorf("%w: version 3 has no authentication, got Auth Type %d and Authentication Data %t (RFC 9568 §9)",
				ErrAuth, a.AuthType, a.AuthData != ([AuthDataLen]byte{}))
		}
	default:
		return 0, fmt.Errorf("%w: %d", ErrVersion, a.Version)
	}
	if a.Type != TypeAdvertisement {
		return 0, fmt.Errorf("%w: %d", ErrType, a.Type)
	}
	if len(a.Addresses) > maxAddresses {
		return 0, fmt.Errorf("%w: %d addresses, at most %d fit", ErrAddresses, len(a.Addresses), maxAddresses)
	}
	for i, addr := range a.Addresses {
		if !addr.IsValid() {
			return 0, fmt.Errorf("%w: address %d is the zero netip.Addr", ErrAddresses, i)
		}
		l := 16
		if addr.Is4() {
			l = 4
		}
		if i == 0 {
			alen = l
		} else if l != alen {
			return 0, fmt.Errorf("%w: %v among IPv%d addresses", ErrFamily, addr, ipv(alen))
		}
	}
	if a.Version == 2 && alen == 16 {
		return 0, fmt.Errorf("%w: version 2 is IPv4 only (RFC 3768)", ErrFamily)
	}
	return alen, nil
}

func (a *Advertisement) wireLen(alen int) int {
	n := HeaderLen + alen*len(a.Addresses)
	if a.Version == 2 {
		n += AuthDataLen
	}
	return n
}

// put appends a validated advertisement with a zero checksum. b must have
// capacity for it.
func (a *Advertisement) put(b []byte, alen int) []byte {
	b = append(b,
		byte(a.Version)<<4|byte(a.Type),
		a.VRID,
		a.Priority,
		byte(len(a.Addresses)),
	)
	if a.Version == 2 {
		b = append(b, a.AuthType, byte(a.Interval/time.Second))
	} else {
		b = binary.BigEndian.AppendUint16(b, uint16(a.Interval/centisecond)) // rsvd = 0
	}
	b = append(b, 0, 0) // checksum
	for _, addr := range a.Addresses {
		if alen == 4 {
			v := addr.As4()
			b = append(b, v[:]...)
		} else {
			v := addr.As16()
			b = append(b, v[:]...)
		}
	}
	if a.Version == 2 {
		b = append(b, a.AuthData[:]...) // zero for AuthTypeNone (validate)
	}
	return b
}

// Parse decodes a VRRP message received in an IP packet from src to dst, and
// verifies its checksum (RFC 9568 §5.2.8, RFC 3768 §5.3.8), reporting which
// form matched. The family of the addresses is that of src, which must be of
// the family of dst; version 2 must be IPv4.
//
// Version 3 over IPv4 is accepted with either checksum form, the
// pseudo-header form tried first; version 3 over IPv6 only with the
// pseudo-header form; version 2 only with the message-only form.
//
// The message must be exactly as long as its address count says (plus
// Authentication Data for version 2): shorter is ErrShort, longer is
// ErrMalformed. Reserved bits are ignored, and so is the Authentication Data
// of version 2 with Auth Type 0; with another Auth Type it is decoded for the
// receive checks (Expect.Check) to compare.
func Parse(b []byte, src, dst netip.Addr) (Advertisement, ChecksumForm, error) {
	return parse(b, src, dst, nil)
}

// parse is Parse decoding the addresses into addrs' backing array when it is
// large enough (see fill).
func parse(b []byte, src, dst netip.Addr, addrs []netip.Addr) (Advertisement, ChecksumForm, error) {
	src, dst = src.Unmap(), dst.Unmap()
	if !src.IsValid() || !dst.IsValid() || src.Is4() != dst.Is4() {
		return Advertisement{}, 0, fmt.Errorf("%w: IP source %v and destination %v", ErrFamily, src, dst)
	}
	alen := 16
	if src.Is4() {
		alen = 4
	}
	alen, err := layout(b, alen)
	if err != nil {
		return Advertisement{}, 0, err
	}
	form, err := verify(b, alen, src, dst)
	if err != nil {
		return Advertisement{}, 0, err
	}
	a, err := fill(b, alen, addrs)
	if err != nil {
		return Advertisement{}, 0, err
	}
	return a, form, nil
}

// verify checks the checksum of b, whose layout has been checked.
func verify(b []byte, alen int, src, dst netip.Addr) (ChecksumForm, error) {
	forms := []ChecksumForm{ChecksumPseudoHeader, ChecksumMessageOnly} // version 3 over IPv4
	switch {
	case b[0]>>4 == 2:
		forms = forms[1:]
	case alen == 16:
		forms = forms[:1]
	}
	for _, f := range forms {
		if verifies(b, src, dst, f) {
			return f, nil
		}
	}
	got := binary.BigEndian.Uint16(b[6:8])
	if len(forms) == 2 {
		return 0, fmt.Errorf("%w: 0x%04x from %v to %v, want 0x%04x (%v) or 0x%04x (%v)", ErrChecksum, got, src, dst,
			Checksum(b, src, dst, forms[0]), forms[0], Checksum(b, src, dst, forms[1]), forms[1])
	}
	return 0, fmt.Errorf("%w: 0x%04x from %v to %v, want 0x%04x (%v)", ErrChecksum, got, src, dst,
		Checksum(b, src, dst, forms[0]), forms[0])
}

// UnmarshalBinary implements [encoding.BinaryUnmarshaler]. It does not
// verify the checksum: use [Parse] for received packets. a is assigned only
// on success.
//
// Without the IP header, the family of version 3 addresses is inferred from
// the length, which must be exact: 8+16n bytes for n IPv6 addresses, 8+4n for
// IPv4. No length is both for n > 0.
func (a *Advertisement) UnmarshalBinary(b []byte) error {
	alen, err := layout(b, 0)
	if err != nil {
		return err
	}
	v, err := fill(b, alen, nil)
	if err != nil {
		return err
	}
	*a = v
	return nil
}

// layout checks the version, the type and the length of b and returns the
// length of its addresses. alen is 4 or 16 when the IP header says, 0 to
// infer it from the length (version 3).
func layout(b []byte, alen int) (int, error) {
	if len(b) < HeaderLen {
		return 0, fmt.Errorf("%w: %d bytes, the header is %d", ErrShort, len(b), HeaderLen)
	}
	version, typ, n := b[0]>>4, Type(b[0]&0x0f), int(b[3])
	if version != 2 && version != 3 {
		return 0, fmt.Errorf("%w: %d", ErrVersion, version)
	}
	if typ != TypeAdvertisement {
		return 0, fmt.Errorf("%w: %d", ErrType, typ)
	}
	if version == 2 {
		if alen == 16 {
			return 0, fmt.Errorf("%w: version 2 over IPv6", ErrFamily)
		}
		alen = 4
		if want := HeaderLen + 4*n + AuthDataLen; len(b) != want {
			return 0, lengthError(len(b), want, n, 4, " and Authentication Data")
		}
		return alen, nil
	}
	if alen == 0 {
		switch rest := len(b) - HeaderLen; {
		case n == 0 || rest == 4*n:
			alen = 4
		case rest == 16*n:
			alen = 16
		case rest < 4*n:
			return 0, lengthError(len(b), HeaderLen+4*n, n, 4, "")
		default:
			return 0, fmt.Errorf("%w: %d bytes fit neither %d IPv4 nor %d IPv6 addresses", ErrMalformed, len(b), n, n)
		}
	}
	if want := HeaderLen + alen*n; len(b) != want {
		return 0, lengthError(len(b), want, n, alen, "")
	}
	return alen, nil
}

func lengthError(got, want, n, alen int, extra string) error {
	err := ErrShort
	if got > want {
		err = ErrMalformed
	}
	return fmt.Errorf("%w: %d bytes, %d IPv%d addresses%s take %d", err, got, n, ipv(alen), extra, want)
}

// fill decodes b, whose layout has been checked. The addresses go into
// addrs' backing array when it has room for them (the allocation-free receive
// path, Expect.CheckTo), else into a new one; nil addrs always allocates.
func fill(b []byte, alen int, addrs []netip.Addr) (Advertisement, error) {
	a := Advertisement{
		Version:  int(b[0] >> 4),
		Type:     Type(b[0] & 0x0f),
		VRID:     b[1],
		Priority: b[2],
	}
	if a.Version == 2 {
		a.AuthType = b[4]
		a.Interval = time.Duration(b[5]) * time.Second
		if a.AuthType != AuthTypeNone {
			copy(a.AuthData[:], b[len(b)-AuthDataLen:])
		}
	} else {
		a.Interval = time.Duration(binary.BigEndian.Uint16(b[4:6])&maxV3Centiseconds) * centisecond
	}
	if a.Interval == 0 {
		return Advertisement{}, fmt.Errorf("%w: zero", ErrInterval)
	}
	if n := int(b[3]); n > 0 {
		if cap(addrs) >= n {
			a.Addresses = addrs[:n]
		} else {
			a.Addresses = make([]netip.Addr, n)
		}
		for i := range a.Addresses {
			p := b[HeaderLen+i*alen:]
			if alen == 4 {
				a.Addresses[i] = netip.AddrFrom4([4]byte(p))
			} else {
				a.Addresses[i] = netip.AddrFrom16([16]byte(p))
			}
		}
	}
	return a, nil
}

func ipv(alen int) int {
	if alen == 4 {
		return 4
	}
	return 6
}
