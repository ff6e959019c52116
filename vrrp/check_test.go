package vrrp

import (
	"encoding/json"
	"errors"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The routers of the check tests: we are 192.0.2.12 or fe80::2, the peer
// sends the golden adverts.
var (
	expectV3IPv4 = Expect{Version: 3, VRID: 51, Interval: time.Second, Addresses: []netip.Addr{vipIPv4}}
	expectV2IPv4 = Expect{Version: 2, VRID: 51, Interval: time.Second, Addresses: []netip.Addr{vipIPv4}}
	expectV3IPv6 = Expect{Version: 3, VRID: 52, Interval: time.Second, Addresses: []netip.Addr{vipIPv6}}
)

// received is golden g as the socket hands it over.
func received(t testing.TB, g golden) Received {
	return Received{Payload: g.wire.bytes(t), Src: g.src, Dst: g.dst, TTL: 255}
}

// send encodes a and returns it as received from src to dst.
func send(t testing.TB, a Advertisement, src, dst netip.Addr, form ChecksumForm) Received {
	t.Helper()
	b, err := a.AppendBinary(nil, src, dst, form)
	if err != nil {
		t.Fatalf("AppendBinary: %v", err)
	}
	return Received{Payload: b, Src: src, Dst: dst, TTL: 255}
}

type checkCase struct {
	name   string
	expect Expect
	r      Received
	drop   DropReason
	err    error // the sentinel Verdict.Err wraps
}

func runChecks(t *testing.T, tests []checkCase) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := tt.expect.Check(tt.r)
			if v.Drop != tt.drop {
				t.Fatalf("Drop = %v (%v), want %v", v.Drop, v.Err, tt.drop)
			}
			if tt.drop == DropNone {
				if v.Err != nil {
					t.Errorf("accepted with Err = %v", v.Err)
				}
				return
			}
			if !errors.Is(v.Err, tt.err) {
				t.Errorf("Err = %v, want it to wrap %v", v.Err, tt.err)
			}
		})
	}
}

func TestCheck_Golden(t *testing.T) {
	for i, exp := range []Expect{expectV3IPv4, expectV2IPv4, expectV3IPv6} {
		g := goldens[i]
		v := exp.Check(received(t, g))
		if v.Drop != DropNone || v.Err != nil || v.AddressMismatch {
			t.Errorf("%s: %+v", g.name, v)
		}
		if v.Checksum != g.form {
			t.Errorf("%s: Checksum = %v, want %v", g.name, v.Checksum, g.form)
		}
		if d := diffAdvert(g.adv, v.Advert); d != "" {
			t.Errorf("%s: Advert mismatch (-want +got):\n%s", g.name, d)
		}
	}
}

// RFC 9568 §7.1: "If the received packet is an IPv4 packet, it MUST verify
// that the IPv4 TTL is 255. If the received packet is an IPv6 packet, it MUST
// verify that the IPv6 Hop Limit is 255." RFC 3768 §7.1 says the same of v2.
func TestCheck_RFC9568_7_1_TTLNot255(t *testing.T) {
	var tests []checkCase
	for i, exp := range []Expect{expectV3IPv4, expectV2IPv4, expectV3IPv6} {
		for _, ttl := range []int{0, 1, 64, 254, 256} {
			r := received(t, goldens[i])
			r.TTL = ttl
			tests = append(tests, checkCase{goldens[i].name + " ttl " + strconv.Itoa(ttl), exp, r, DropTTL, ErrTTL})
		}
	}
	runChecks(t, tests)
}

// RFC 9568 §7.1: "MUST verify that the VRRP version is 3."
func TestCheck_RFC9568_7_1_VersionNot3(t *testing.T) {
	v3 := received(t, goldens[0])
	runChecks(t, []checkCase{
		{"v2 advert", expectV3IPv4, received(t, goldens[1]), DropVersion, ErrVersion},
		{"version 1", expectV3IPv4, withByte(v3, 0, 0x11), DropVersion, ErrVersion},
		{"version 4", expectV3IPv4, withByte(v3, 0, 0x41), DropVersion, ErrVersion},
		{"version 0", expectV3IPv4, withByte(v3, 0, 0x01), DropVersion, ErrVersion},
	})
}

// RFC 3768 §7.1: "MUST verify the VRRP version is 2."
func TestCheck_RFC3768_7_1_VersionNot2(t *testing.T) {
	runChecks(t, []checkCase{
		{"v3 advert", expectV2IPv4, received(t, goldens[0]), DropVersion, ErrVersion},
		{"version 1", expectV2IPv4, withByte(received(t, goldens[1]), 0, 0x11), DropVersion, ErrVersion},
	})
}

// RFC 9568 §5.2.2: "A packet with unknown type MUST be discarded."
func TestCheck_RFC9568_5_2_2_UnknownType(t *testing.T) {
	var tests []checkCase
	for _, typ := range []byte{0, 2, 3, 15} {
		tests = append(tests,
			checkCase{"v3 type " + strconv.Itoa(int(typ)), expectV3IPv4, withByte(received(t, goldens[0]), 0, 0x30|typ), DropType, ErrType},
			checkCase{"v2 type " + strconv.Itoa(int(typ)), expectV2IPv4, withByte(received(t, goldens[1]), 0, 0x20|typ), DropType, ErrType},
		)
	}
	runChecks(t, tests)
}

// RFC 9568 §7.1: "MUST verify that the received packet contains the
// complete VRRP packet (including fixed fields, and IPvX address(es))."
func TestCheck_RFC9568_7_1_IncompletePacket(t *testing.T) {
	var tests []checkCase
	for i, exp := range []Expect{expectV3IPv4, expectV3IPv6} {
		g := goldens[[]int{0, 2}[i]]
		full := received(t, g)
		for n := range len(full.Payload) {
			r := full
			r.Payload = full.Payload[:n]
			tests = append(tests, checkCase{g.name + " " + strconv.Itoa(n) + " bytes", exp, r, DropShort, ErrShort})
		}
	}
	runChecks(t, tests)
}

// RFC 3768 §7.1: "MUST verify that the received packet contains the
// complete VRRP packet (including fixed fields, IP Address(es), and
// Authentication Data)."
func TestCheck_RFC3768_7_1_IncompletePacket(t *testing.T) {
	var tests []checkCase
	full := received(t, goldens[1])
	for n := range len(full.Payload) {
		r := full
		r.Payload = full.Payload[:n]
		tests = append(tests, checkCase{strconv.Itoa(n) + " bytes", expectV2IPv4, r, DropShort, ErrShort})
	}
	runChecks(t, tests)
}

// A count that lies is malformed: more addresses than the payload holds is
// incomplete, fewer leaves bytes no field explains. Both are dropped as
// "short", never a panic. The checksum is fixed up so that the count is what
// fails.
func TestCheck_RFC9568_7_1_CountLies(t *testing.T) {
	var tests []checkCase
	for i, exp := range []Expect{expectV3IPv4, expectV2IPv4, expectV3IPv6} {
		g := goldens[i]
		for _, c := range []struct {
			count byte
			err   error
		}{{0, ErrMalformed}, {2, ErrShort}, {255, ErrShort}} {
			r := withByte(received(t, g), 3, c.count)
			tests = append(tests, checkCase{g.name + " count " + strconv.Itoa(int(c.count)), exp, r, DropShort, c.err})
		}
		r := received(t, g)
		r.Payload = fixChecksum(append(r.Payload, 0, 0, 0, 0), g)
		tests = append(tests, checkCase{g.name + " 4 trailing bytes", exp, r, DropShort, ErrMalformed})
	}
	runChecks(t, tests)
}

// RFC 9568 §7.1: "MUST verify the VRRP checksum." §5.2.8 defines it; see
// doc.go for the forms accepted.
func TestCheck_RFC9568_7_1_Checksum(t *testing.T) {
	corrupt := func(r Received, i int) Received {
		p := slices.Clone(r.Payload)
		p[i] ^= 0x01
		r.Payload = p
		return r
	}
	v3, v2, v6 := received(t, goldens[0]), received(t, goldens[1]), received(t, goldens[2])

	// v3 over IPv6 with the message-only checksum: never valid.
	v6MsgOnly := v6
	v6MsgOnly.Payload = slices.Clone(v6.Payload)
	ck := Checksum(v6MsgOnly.Payload, netip.Addr{}, netip.Addr{}, ChecksumMessageOnly)
	v6MsgOnly.Payload[6], v6MsgOnly.Payload[7] = byte(ck>>8), byte(ck)

	// v2 with an IPv4 pseudo-header checksum: never valid.
	v2Pseudo := v2
	v2Pseudo.Payload = slices.Clone(v2.Payload)
	ck = Checksum(v2Pseudo.Payload, v2.Src, v2.Dst, ChecksumPseudoHeader)
	v2Pseudo.Payload[6], v2Pseudo.Payload[7] = byte(ck>>8), byte(ck)

	// A unicast advert whose pseudo-header was computed for the multicast
	// group (old keepalived) does not verify against the real destination.
	unicast := v3
	unicast.Dst = netip.MustParseAddr("192.0.2.12")

	runChecks(t, []checkCase{
		{"v3 IPv4 checksum byte", expectV3IPv4, corrupt(v3, 7), DropChecksum, ErrChecksum},
		{"v3 IPv4 priority bit", expectV3IPv4, corrupt(v3, 2), DropChecksum, ErrChecksum},
		{"v3 IPv4 address bit", expectV3IPv4, corrupt(v3, 11), DropChecksum, ErrChecksum},
		{"v2 checksum byte", expectV2IPv4, corrupt(v2, 6), DropChecksum, ErrChecksum},
		{"v2 auth data bit", expectV2IPv4, corrupt(v2, 19), DropChecksum, ErrChecksum},
		{"v6 address bit", expectV3IPv6, corrupt(v6, 23), DropChecksum, ErrChecksum},
		{"v6 message-only form", expectV3IPv6, v6MsgOnly, DropChecksum, ErrChecksum},
		{"v2 pseudo-header form", expectV2IPv4, v2Pseudo, DropChecksum, ErrChecksum},
		{"pseudo-header for another destination", expectV3IPv4, unicast, DropChecksum, ErrChecksum},
	})
}

// RFC 9568 §5.2.8 over IPv4: both forms are accepted and reported.
func TestCheck_RFC9568_5_2_8_IPv4ChecksumForms(t *testing.T) {
	g := goldens[0]
	for _, f := range []ChecksumForm{ChecksumPseudoHeader, ChecksumMessageOnly} {
		v := expectV3IPv4.Check(send(t, g.adv, g.src, g.dst, f))
		if v.Drop != DropNone || v.Checksum != f {
			t.Errorf("sent %v: Drop %v (%v), Checksum %v", f, v.Drop, v.Err, v.Checksum)
		}
	}
}

// RFC 9568 §7.1: "MUST verify that the VRID is configured on the receiving
// interface."
func TestCheck_RFC9568_7_1_VRIDNotConfigured(t *testing.T) {
	var tests []checkCase
	for i, exp := range []Expect{expectV3IPv4, expectV2IPv4, expectV3IPv6} {
		g := goldens[i]
		for _, vrid := range []uint8{0, 1, 50, 255} {
			a := g.adv
			a.VRID = vrid
			tests = append(tests, checkCase{g.name + " vrid " + strconv.Itoa(int(vrid)), exp, send(t, a, g.src, g.dst, g.form), DropVRID, ErrVRID})
		}
	}
	runChecks(t, tests)
}

// RFC 9568 §7.1 and erratum 8298: an advert from an address owner (priority
// 255) is processed, not dropped; that we are the owner too is the caller's
// to log.
func TestCheck_RFC9568_7_1_AddressOwnerNotDropped(t *testing.T) {
	g := goldens[0]
	a := g.adv
	a.Priority = 255
	v := expectV3IPv4.Check(send(t, a, g.src, g.dst, g.form))
	if v.Drop != DropNone || v.Advert.Priority != 255 {
		t.Errorf("owner advert: Drop %v (%v), priority %d", v.Drop, v.Err, v.Advert.Priority)
	}
}

// RFC 9568 §7.1: "MAY verify that 'Count IPvX Addrs' and the list of IPvX
// address(es) match the IPvX address(es) configured for the VRID. If the
// above check fails, the receiver SHOULD log the event and MAY indicate via
// network management that a misconfiguration was detected." Accepted, and
// reported.
func TestCheck_RFC9568_7_1_AddressMismatch(t *testing.T) {
	other := netip.MustParseAddr("192.0.2.200")
	tests := []struct {
		name     string
		ours     []netip.Addr
		theirs   []netip.Addr
		mismatch bool
	}{
		{"same", []netip.Addr{vipIPv4}, []netip.Addr{vipIPv4}, false},
		{"same, other order", []netip.Addr{vipIPv4, other}, []netip.Addr{other, vipIPv4}, false},
		{"other address", []netip.Addr{vipIPv4}, []netip.Addr{other}, true},
		{"one more", []netip.Addr{vipIPv4}, []netip.Addr{vipIPv4, other}, true},
		{"one fewer", []netip.Addr{vipIPv4, other}, []netip.Addr{vipIPv4}, true},
		{"none", []netip.Addr{vipIPv4}, nil, true},
		{"duplicate", []netip.Addr{vipIPv4, other}, []netip.Addr{vipIPv4, vipIPv4}, true},
	}
	for _, tt := range tests {
		for _, version := range []int{2, 3} {
			exp := Expect{Version: version, VRID: 51, Interval: time.Second, Addresses: tt.ours}
			a := Advertisement{Version: version, Type: TypeAdvertisement, VRID: 51, Priority: 100, Interval: time.Second, Addresses: tt.theirs}
			v := exp.Check(send(t, a, srcIPv4, GroupIPv4, ChecksumPseudoHeader))
			if v.Drop != DropNone || v.AddressMismatch != tt.mismatch {
				t.Errorf("v%d %s: Drop %v (%v), AddressMismatch %t, want accepted with %t", version, tt.name, v.Drop, v.Err, v.AddressMismatch, tt.mismatch)
			}
		}
	}
}

// RFC 3768 §7.1: "MUST verify that the Auth Type matches the locally
// configured authentication method for the virtual router."
func TestCheck_RFC3768_7_1_AuthTypeMismatch(t *testing.T) {
	g := goldens[1]
	a := g.adv
	a.AuthType = 1
	withAuth := expectV2IPv4
	withAuth.AuthType = 1
	runChecks(t, []checkCase{
		{"they 1, we 0", expectV2IPv4, send(t, a, g.src, g.dst, g.form), DropAuth, ErrAuth},
		{"they 0, we 1", withAuth, received(t, g), DropAuth, ErrAuth},
		{"both 1", withAuth, send(t, a, g.src, g.dst, g.form), DropNone, nil},
	})
}

// RFC 2338 §7.1 with Auth Type 1: the 8 octets of Authentication Data must be
// our password, zero padding included, as keepalived compares them.
func TestCheck_RFC2338_7_1_Password(t *testing.T) {
	g := goldens[3] // keepalived's "secret"
	if g.adv.AuthType != AuthTypePassword {
		t.Fatalf("goldens[3] is %q, want the password capture", g.name)
	}
	exp := func(pw string) Expect {
		e := expectV2IPv4
		e.AuthType = AuthTypePassword
		d, err := AuthPassword(pw)
		if err != nil {
			t.Fatal(err)
		}
		e.AuthData = d
		return e
	}
	withNUL := exp("secret")
	withNUL.AuthData[7] = 'x' // "secret\0x": differs only past the string
	ah := expectV2IPv4
	ah.AuthType = AuthTypeAH
	runChecks(t, []checkCase{
		{"same password", exp("secret"), received(t, g), DropNone, nil},
		{"other password", exp("secreT"), received(t, g), DropAuth, ErrAuth},
		{"our password longer", exp("secret1"), received(t, g), DropAuth, ErrAuth},
		{"our password a prefix", exp("secre"), received(t, g), DropAuth, ErrAuth},
		{"padding differs", withNUL, received(t, g), DropAuth, ErrAuth},
		{"we expect none", expectV2IPv4, received(t, g), DropAuth, ErrAuth},
		{"we are configured for AH", ah, received(t, g), DropAuth, ErrAuth},
	})
	other := exp("other")
	v := other.Check(received(t, g))
	if strings.Contains(v.Err.Error(), "secret") || strings.Contains(v.Err.Error(), "other") {
		t.Errorf("drop error %q shows a password", v.Err)
	}
}

// RFC 3768 §7.1: "MUST verify that the Adver Interval in the packet is the
// same as the locally configured for this virtual router. If the above check
// fails, the receiver MUST discard the packet."
func TestCheck_RFC3768_7_1_IntervalMismatch(t *testing.T) {
	g := goldens[1]
	var tests []checkCase
	for _, d := range []time.Duration{2 * time.Second, 255 * time.Second} {
		a := g.adv
		a.Interval = d
		tests = append(tests, checkCase{d.String(), expectV2IPv4, send(t, a, g.src, g.dst, g.form), DropInterval, ErrInterval})
	}
	runChecks(t, tests)
}

// RFC 9568 §6.4.2: a Backup learns the Active Router's Max Advertise
// Interval, so v3 accepts any.
func TestCheck_RFC9568_6_4_2_IntervalLearned(t *testing.T) {
	g := goldens[0]
	for _, d := range []time.Duration{10 * time.Millisecond, 3 * time.Second, 40950 * time.Millisecond} {
		a := g.adv
		a.Interval = d
		v := expectV3IPv4.Check(send(t, a, g.src, g.dst, g.form))
		if v.Drop != DropNone || v.Advert.Interval != d {
			t.Errorf("%v: Drop %v (%v), Interval %v", d, v.Drop, v.Err, v.Advert.Interval)
		}
	}
}

// A zero interval is malformed in either version.
func TestCheck_ZeroInterval(t *testing.T) {
	var tests []checkCase
	for i, exp := range []Expect{expectV3IPv4, expectV2IPv4, expectV3IPv6} {
		g := goldens[i]
		r := received(t, g)
		r.Payload[4] &= 0xf0
		if g.adv.Version == 2 {
			r.Payload[4] = 0
		}
		r.Payload[5] = 0
		r.Payload = fixChecksum(r.Payload, g)
		tests = append(tests, checkCase{g.name, exp, r, DropInterval, ErrInterval})
	}
	runChecks(t, tests)
}

// Unicast VRRP (not in the RFCs; keepalived's unicast_peer): when peers are
// configured, adverts from anyone else are dropped.
func TestCheck_UnicastNotPeer(t *testing.T) {
	peer, stranger := srcIPv4, netip.MustParseAddr("192.0.2.66")
	ours := netip.MustParseAddr("192.0.2.12")
	exp := expectV3IPv4
	exp.Peers = []netip.Addr{netip.MustParseAddr("192.0.2.13"), peer}
	a := goldens[0].adv
	v6 := expectV3IPv6
	v6.Peers = []netip.Addr{netip.MustParseAddr("fe80::60e4:91ff:feae:3a60%eth0")} // zones ignored
	runChecks(t, []checkCase{
		{"peer", exp, send(t, a, peer, ours, ChecksumPseudoHeader), DropNone, nil},
		{"peer, multicast", exp, send(t, a, peer, GroupIPv4, ChecksumPseudoHeader), DropNone, nil},
		{"stranger", exp, send(t, a, stranger, ours, ChecksumPseudoHeader), DropNotPeer, ErrNotPeer},
		{"stranger, multicast", exp, send(t, a, stranger, GroupIPv4, ChecksumMessageOnly), DropNotPeer, ErrNotPeer},
		{"no peers: anyone", expectV3IPv4, send(t, a, stranger, ours, ChecksumPseudoHeader), DropNone, nil},
		{"IPv6 peer with zone", v6, received(t, goldens[2]), DropNone, nil},
	})
}

// A packet of the other address family never belongs to this virtual router
// (RFC 9568 §1.2: IPv4 and IPv6 virtual routers are separate).
func TestCheck_FamilyNotOurs(t *testing.T) {
	peersOnly := Expect{Version: 3, VRID: 52, Peers: []netip.Addr{srcIPv6}}
	noFamily := Expect{Version: 3, VRID: 51}
	noSrc := received(t, goldens[0])
	noSrc.Src = netip.Addr{}
	mixed := received(t, goldens[0])
	mixed.Dst = GroupIPv6
	runChecks(t, []checkCase{
		{"IPv6 to IPv4 router", expectV3IPv4, received(t, goldens[2]), DropFamily, ErrFamily},
		{"IPv4 to IPv6 router", expectV3IPv6, received(t, goldens[0]), DropFamily, ErrFamily},
		{"IPv4 to IPv6 peers", peersOnly, received(t, goldens[0]), DropFamily, ErrFamily},
		{"IPv6 from IPv6 peer", peersOnly, received(t, goldens[2]), DropNone, nil},
		{"no source", expectV3IPv4, noSrc, DropFamily, ErrFamily},
		{"no source, no family", noFamily, noSrc, DropFamily, ErrFamily},
		{"IPv4 src, IPv6 dst", noFamily, mixed, DropFamily, ErrFamily},
		{"IPv4-mapped source", expectV3IPv4, Received{Payload: goldens[0].wire.bytes(t),
			Src: netip.AddrFrom16(srcIPv4.As16()), Dst: GroupIPv4, TTL: 255}, DropNone, nil},
	})
}

// TestDropReasonNames pins the names: they are metric labels and JSON keys.
func TestDropReasonNames(t *testing.T) {
	want := map[DropReason]string{
		DropNone:     "none",
		DropTTL:      "ttl",
		DropVersion:  "version",
		DropType:     "type",
		DropChecksum: "checksum",
		DropShort:    "short",
		DropVRID:     "vrid",
		DropInterval: "interval",
		DropAuth:     "auth",
		DropFamily:   "family",
		DropNotPeer:  "not_peer",
	}
	for d, name := range want {
		if got := d.String(); got != name {
			t.Errorf("%d.String() = %q, want %q", d, got, name)
		}
		var back DropReason
		if err := back.UnmarshalText([]byte(name)); err != nil || back != d {
			t.Errorf("UnmarshalText(%q) = %v, %v", name, back, err)
		}
	}
	if got := DropReason(200).String(); got != "unknown" {
		t.Errorf("DropReason(200) = %q", got)
	}
	if got := len(DropReasons()); got != len(want)-1 {
		t.Errorf("DropReasons() has %d, want %d", got, len(want)-1)
	}
	if slices.Contains(DropReasons(), DropNone) {
		t.Error("DropReasons() lists DropNone")
	}

	counts := map[DropReason]uint64{DropTTL: 3, DropNotPeer: 1}
	b, err := json.Marshal(counts)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(b), `{"not_peer":1,"ttl":3}`; got != want {
		t.Errorf("JSON = %s, want %s", got, want)
	}
	var back map[DropReason]uint64
	if err := json.Unmarshal(b, &back); err != nil || back[DropTTL] != 3 || back[DropNotPeer] != 1 {
		t.Errorf("JSON round trip: %v, %v", back, err)
	}
}

// withByte returns r with payload byte i set to v and the checksum fixed,
// so that the byte is what the checks see.
func withByte(r Received, i int, v byte) Received {
	p := slices.Clone(r.Payload)
	p[i] = v
	r.Payload = fixChecksum(p, golden{src: r.Src, dst: r.Dst, form: ChecksumPseudoHeader})
	return r
}

// fixChecksum stores in p the checksum of g's form (message only for v2).
func fixChecksum(p []byte, g golden) []byte {
	form := g.form
	if p[0]>>4 == 2 {
		form = ChecksumMessageOnly
	}
	ck := Checksum(p, g.src, g.dst, form)
	p[6], p[7] = byte(ck>>8), byte(ck)
	return p
}
