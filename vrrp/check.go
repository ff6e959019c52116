package vrrp

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"net/netip"
	"time"
)

// DropReason says why a received packet was discarded. Its String is a
// stable snake_case name for metric labels and JSON keys.
type DropReason uint8

// Drop reasons. [Expect.Check] says in which order it tests them.
const (
	// DropNone: accepted.
	DropNone DropReason = iota
	// DropFamily: the packet is not of our address family.
	DropFamily
	// DropTTL: the IPv4 TTL or IPv6 Hop Limit is not 255 (RFC 9568 §7.1,
	// RFC 3768 §7.1).
	DropTTL
	// DropVersion: not the configured version (RFC 9568 §7.1: 3; RFC 3768
	// §7.1: 2), or neither.
	DropVersion
	// DropType: not an ADVERTISEMENT (RFC 9568 §5.2.2).
	DropType
	// DropShort: not the complete packet (RFC 9568 §7.1), or malformed: an
	// address count that says more or fewer addresses than are there.
	DropShort
	// DropChecksum: the checksum does not verify (RFC 9568 §7.1).
	DropChecksum
	// DropVRID: the VRID is not configured on the receiving interface
	// (RFC 9568 §7.1).
	DropVRID
	// DropNotPeer: unicast, and the source is not a configured peer.
	DropNotPeer
	// DropAuth: version 2 Auth Type mismatch (RFC 3768 §7.1), a simple text
	// password that is not ours (RFC 2338 §7.1), or an Auth Type vipd cannot
	// verify (AH).
	DropAuth
	// DropInterval: version 2 Advertisement Interval mismatch (RFC 3768
	// §7.1), or a zero interval in either version.
	DropInterval

	numDropReasons
)

var dropReasonNames = [...]string{
	DropNone:     "none",
	DropFamily:   "family",
	DropTTL:      "ttl",
	DropVersion:  "version",
	DropType:     "type",
	DropShort:    "short",
	DropChecksum: "checksum",
	DropVRID:     "vrid",
	DropNotPeer:  "not_peer",
	DropAuth:     "auth",
	DropInterval: "interval",
}

// String returns the reason's snake_case name ("ttl", "not_peer", ...),
// "none" for DropNone, or "unknown".
func (d DropReason) String() string {
	if d < numDropReasons {
		return dropReasonNames[d]
	}
	return "unknown"
}

// MarshalText implements [encoding.TextMarshaler] with the name of String,
// so a map[DropReason]uint64 encodes to JSON with the names as keys.
func (d DropReason) MarshalText() ([]byte, error) {
	if d >= numDropReasons {
		return nil, fmt.Errorf("vrrp: unknown drop reason %d", uint8(d))
	}
	return []byte(d.String()), nil
}

// UnmarshalText implements [encoding.TextUnmarshaler] for the names of String.
func (d *DropReason) UnmarshalText(b []byte) error {
	for i, name := range dropReasonNames {
		if name == string(b) {
			*d = DropReason(i)
			return nil
		}
	}
	return fmt.Errorf("vrrp: unknown drop reason %q", b)
}

// DropReasons returns every reason but DropNone, to set up metric labels.
func DropReasons() []DropReason {
	r := make([]DropReason, 0, numDropReasons-1)
	for d := DropNone + 1; d < numDropReasons; d++ {
		r = append(r, d)
	}
	return r
}

// Received is a VRRP packet as read from the socket: the IP payload and the
// IP header fields the checks need.
type Received struct {
	// Payload is the VRRP message: the IP payload, without IP header.
	Payload []byte
	// Src and Dst are the IP source and destination. Dst must be the real
	// one (IP_PKTINFO, IPV6_RECVPKTINFO): a group for multicast, our address
	// for unicast. The version 3 pseudo-header covers both. Zones and
	// IPv4-mapped forms are ignored.
	Src, Dst netip.Addr
	// TTL is the IPv4 TTL or the IPv6 Hop Limit (IP_RECVTTL,
	// IPV6_RECVHOPLIMIT). It must be 255 for unicast too: a routed advert
	// is dropped.
	TTL int
}

// Expect is what one virtual router accepts: its configuration as far as
// the receive checks need it.
type Expect struct {
	// Version is 2 or 3.
	Version int
	// VRID is our Virtual Router Identifier.
	VRID uint8
	// Interval is our advertisement interval. A version 2 advertisement with
	// another is dropped (RFC 3768 §7.1); version 3 learns it instead
	// (RFC 9568 §6.4.2), so it is not checked.
	Interval time.Duration
	// AuthType is our version 2 Auth Type: AuthTypeNone or
	// AuthTypePassword. An advertisement with another is DropAuth, and so is
	// every advertisement if AuthType is anything else (AH cannot be
	// verified, so nothing is accepted).
	AuthType uint8
	// AuthData is our password with AuthTypePassword (see AuthPassword): an
	// advertisement whose 8 octets of Authentication Data differ in any byte,
	// padding included, is DropAuth, as keepalived compares them. Ignored
	// with AuthTypeNone.
	AuthData [AuthDataLen]byte
	// Addresses are the addresses we advertise. An advertisement listing
	// others is accepted with Verdict.AddressMismatch set (RFC 9568 §7.1
	// MAY verify, SHOULD log). Their family, if any, is ours: packets of the
	// other family are DropFamily.
	Addresses []netip.Addr
	// Peers, when not empty, makes this a unicast virtual router: an
	// advertisement from any other source is DropNotPeer. With no Addresses,
	// the family of the first peer is ours.
	Peers []netip.Addr
}

// Verdict is the outcome of [Expect.Check].
type Verdict struct {
	// Advert is the decoded advertisement, set whenever the packet decoded
	// and its checksum verified, even if it was then dropped.
	Advert Advertisement
	// Checksum is the checksum form that verified, zero if none did.
	Checksum ChecksumForm
	// AddressMismatch reports an accepted advertisement whose addresses are
	// not ours, in any order (RFC 9568 §7.1: SHOULD log a misconfiguration).
	AddressMismatch bool
	// Drop is DropNone if the packet is accepted.
	Drop DropReason
	// Err, when dropped, says why for the logs. It wraps the sentinel of the
	// reason (ErrTTL, ErrChecksum, ...).
	Err error

	// addrs is the array CheckTo decodes addresses into, kept across drops.
	addrs []netip.Addr
}

// Check applies the receive checks of RFC 9568 §7.1 (version 3) or RFC 3768
// §7.1 (version 2) to a received packet, in this order: family, TTL,
// version, type, completeness, checksum, VRID, unicast peer, and for version
// 2 Auth Type and password, and interval. The first that fails gives the drop reason.
//
// The IP address owner check of §7.1 (our priority is 255) is left to the
// caller, which knows its priority: RFC 9568 erratum 8298 makes it a SHOULD
// log, not a drop.
func (e *Expect) Check(r Received) Verdict {
	return e.check(r, nil)
}

// CheckTo is Check with the verdict written to v, for a receive path that
// allocates nothing: the decoded addresses reuse the backing array of
// v.Advert.Addresses when it has room (they stay valid until the next CheckTo
// with the same v), and an accepted advertisement allocates nothing once that
// array is as long as the longest seen. A dropped packet's Err still
// allocates: drops are the exception.
func (e *Expect) CheckTo(v *Verdict, r Received) {
	buf := v.addrs
	if cap(v.Advert.Addresses) > cap(buf) {
		buf = v.Advert.Addresses
	}
	*v = e.check(r, buf[:0])
	v.addrs = buf
	if cap(v.Advert.Addresses) > cap(buf) {
		v.addrs = v.Advert.Addresses
	}
}

// check is Check decoding the addresses into addrs (see fill).
func (e *Expect) check(r Received, addrs []netip.Addr) Verdict {
	var v Verdict
	drop := func(d DropReason, err error) Verdict {
		v.Drop, v.Err = d, err
		return v
	}
	src, dst := r.Src.Unmap().WithZone(""), r.Dst.Unmap().WithZone("")

	if fam, ok := e.family(); ok && (!src.IsValid() || src.Is4() != fam) {
		return drop(DropFamily, fmt.Errorf("%w: source %v, we are IPv%d", ErrFamily, r.Src, ipv(familyLen(fam))))
	}
	if r.TTL != 255 {
		return drop(DropTTL, fmt.Errorf("%w: %d from %v", ErrTTL, r.TTL, r.Src))
	}
	adv, form, err := parse(r.Payload, src, dst, addrs)
	if err != nil {
		return drop(reasonFor(err), err)
	}
	v.Advert, v.Checksum = adv, form
	switch {
	case adv.Version != e.Version:
		return drop(DropVersion, fmt.Errorf("%w: %d from %v, we are version %d", ErrVersion, adv.Version, r.Src, e.Version))
	case adv.VRID != e.VRID:
		return drop(DropVRID, fmt.Errorf("%w: %d from %v, we are %d", ErrVRID, adv.VRID, r.Src, e.VRID))
	case len(e.Peers) > 0 && !contains(e.Peers, src):
		return drop(DropNotPeer, fmt.Errorf("%w: %v", ErrNotPeer, r.Src))
	}
	if adv.Version == 2 {
		if err := e.checkAuth(adv, r.Src); err != nil {
			return drop(DropAuth, err)
		}
		if adv.Interval != e.Interval {
			return drop(DropInterval, fmt.Errorf("%w: %v from %v, we use %v", ErrInterval, adv.Interval, r.Src, e.Interval))
		}
	}
	v.AddressMismatch = !sameSet(adv.Addresses, e.Addresses)
	return v
}

// checkAuth applies RFC 3768 §7.1 ("MUST verify that the Auth Type matches
// the locally configured authentication method") and, for the simple text
// password, RFC 2338 §7.1 (the Authentication Data must match). The password
// never appears in the error.
func (e *Expect) checkAuth(adv Advertisement, src netip.Addr) error {
	switch {
	case e.AuthType != AuthTypeNone && e.AuthType != AuthTypePassword:
		return fmt.Errorf("%w: we are configured with Auth Type %d, which vipd cannot verify; dropped from %v", ErrAuth, e.AuthType, src)
	case adv.AuthType != e.AuthType:
		return fmt.Errorf("%w: Auth Type %d from %v, we use %d", ErrAuth, adv.AuthType, src, e.AuthType)
	case e.AuthType == AuthTypePassword && subtle.ConstantTimeCompare(adv.AuthData[:], e.AuthData[:]) != 1:
		return fmt.Errorf("%w: wrong password from %v", ErrAuth, src)
	}
	return nil
}

// family returns whether we are IPv4, and false if we cannot tell.
func (e *Expect) family() (is4, ok bool) {
	switch {
	case len(e.Addresses) > 0:
		return e.Addresses[0].Is4(), true // as encoded: IPv4-mapped is IPv6
	case len(e.Peers) > 0:
		return e.Peers[0].Unmap().Is4(), true // as received: IPv4-mapped is IPv4
	}
	return false, false
}

func familyLen(is4 bool) int {
	if is4 {
		return 4
	}
	return 16
}

// reasonFor maps an error of Parse to the reason to drop.
func reasonFor(err error) DropReason {
	switch {
	case errors.Is(err, ErrFamily):
		return DropFamily
	case errors.Is(err, ErrVersion):
		return DropVersion
	case errors.Is(err, ErrType):
		return DropType
	case errors.Is(err, ErrChecksum):
		return DropChecksum
	case errors.Is(err, ErrInterval):
		return DropInterval
	}
	return DropShort // ErrShort, ErrMalformed
}

// contains reports whether list holds a, ignoring zones and IPv4 mapping.
func contains(list []netip.Addr, a netip.Addr) bool {
	for _, x := range list {
		if x.Unmap().WithZone("") == a.Unmap().WithZone("") {
			return true
		}
	}
	return false
}

// sameSet reports whether a and b hold the same addresses in any order.
func sameSet(a, b []netip.Addr) bool {
	if len(a) != len(b) {
		return false
	}
	for _, x := range a {
		if !contains(b, x) {
			return false
		}
	}
	for _, x := range b {
		if !contains(a, x) {
			return false
		}
	}
	return true
}
