// Package vrrp implements the VRRP advertisement, as described in RFC 9568 (version 3) and RFC 3768 (version 2).
//
// # Model
//
// An [Advertisement] is a plain struct: addresses are [netip.Addr] and the
// interval is a [time.Duration]. Centiseconds (version 3) and whole seconds
// (version 2) exist only inside the codec.
//
// The checksum of a version 3 advertisement covers a pseudo-header built from
// the IP header, so sending and parsing take the IP source and destination
// explicitly:
//
//   - [Advertisement.AppendBinary] encodes with a checksum, allocation-free
//     when the buffer has room. This is the send path.
//   - [Parse] decodes and verifies the checksum, and reports which
//     [ChecksumForm] matched.
//   - [Advertisement.MarshalBinary] and [Advertisement.UnmarshalBinary] are the
//     plain codec without the IP header: no checksum is verified, and a
//     version 3 checksum is left zero.
//   - [Checksum] computes a checksum from explicit inputs.
//
// Which checksum (RFC 9568 §5.2.8; RFC 3768 §5.3.8):
//
//   - version 2: over the VRRP message only.
//   - version 3 over IPv6: over the IPv6 pseudo-header (RFC 8200 §8.1, next
//     header 112) and the message.
//   - version 3 over IPv4: RFC 9568 specifies the message only, but keepalived
//     and FRR send (and by default expect) the IPv4 pseudo-header form, as
//     RFC 5798 was widely read to require. The sender chooses with a
//     [ChecksumForm]; [Parse] accepts either and says which matched.
//
// [Expect.Check] applies the receive checks of RFC 9568 §7.1 (and RFC 3768
// §7.1 for version 2) to a packet read from the socket, and returns a
// [Verdict] with a typed [DropReason] whose String is a stable metric label.
//
// Version 2 authentication: Auth Type 0 (none) by default, or 1, the simple
// text password of RFC 2338 §5.3.6, zero-padded to 8 octets by
// [AuthPassword] exactly as keepalived fills "auth_pass"; [Expect.Check]
// compares all 8 octets and drops a mismatch of type or password as
// [DropAuth]. AH (type 2) is never sent, and never accepted.
//
// A reader's buffer is [ReadBufferLen] bytes, one more than the longest valid
// message ([MaxLen]), so that an over-long message cannot be cut into a valid
// one.
//
// A short example, sending and receiving:
//
//	adv := vrrp.Advertisement{
//		Version:   3,
//		Type:      vrrp.TypeAdvertisement,
//		VRID:      51,
//		Priority:  150,
//		Interval:  time.Second,
//		Addresses: []netip.Addr{vip},
//	}
//	buf, err := adv.AppendBinary(buf[:0], src, vrrp.GroupIPv4, vrrp.ChecksumPseudoHeader)
//	// ... write buf with TTL 255 to the socket ...
//
//	exp := vrrp.Expect{Version: 3, VRID: 51, Addresses: []netip.Addr{vip}}
//	v := exp.Check(vrrp.Received{Payload: payload, Src: from, Dst: to, TTL: ttl})
//	if v.Drop != vrrp.DropNone {
//		drops[v.Drop]++ // v.Err says why
//	}
//
// The package does no I/O except in the socket (socket_linux.go).
package vrrp
