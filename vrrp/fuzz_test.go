package vrrp

import (
	"bytes"
	"encoding/hex"
	"errors"
	"net/netip"
	"testing"
	"time"
)

// fuzzSeeds are the starting points of both fuzz tests. Crashers the fuzzer
// finds are kept in testdata/fuzz/<FuzzName>/ for good.
var fuzzSeeds = []struct {
	hex  string
	ipv6 bool // for FuzzParse: the IP header is IPv6
}{
	// The keepalived 2.2.7 captures of advertisement_test.go.
	{"313396010064d367c0000264", false},                        // v3 IPv4, pseudo-header checksum
	{"3133960100647602c0000264", false},                        // v3 IPv4, message-only checksum
	{"2133960100018665c00002640000000000000000", false},        // v2, no auth
	{"2133960101014919c00002647365637265740000", false},        // v2, auth type 1, password "secret"
	{"313496010064df9b20010db8000000000000000000000100", true}, // v3 IPv6

	// Edge cases.
	{"", false},                                                 // empty
	{"31339601006400", false},                                   // 7 bytes: short of the header
	{"3133960000640000", false},                                 // header only, count 0
	{"313396020064d367c0000264", false},                         // count says 2, one address
	{"313396000064d367c0000264", false},                         // count says 0, one address
	{"3133960f0064d367c0000264", true},                          // count 15 over IPv6, one IPv4 address
	{"1133960100018665c0000264", false},                         // version 1
	{"323396010064d367c0000264", false},                         // type 2
	{"3133960100000000c0000264", false},                         // v3 zero interval
	{"31339601f064d367c0000264", false},                         // v3 reserved bits set
	{"313396010064d367c000026400", false},                       // odd length: one trailing byte
	{"2133960100018665c0000264", false},                         // v2 without auth data
	{"2133960101017365c00002647365637265742121", false},         // v2 auth type 1, password "secret!!"
	{"2133960100017365c00002647365637265742121", false},         // v2 auth type 0 with data: ignored
	{"2133960102017365c00002647365637265742121", false},         // v2 auth type 2 (AH): decoded, never encoded
	{"213396010000000000000000000000000000000000", false},       // v2 zero interval, trailing byte
	{"313496ff0fff000020010db8000000000000000000000100", true},  // count 255, one IPv6 address
	{"313496010064000000000000000000000000ffffc0000201", true},  // IPv4-mapped IPv6 address
	{"313496040064000020010db8000000000000000000000100", false}, // IPv6 length, count 4: four IPv4 addresses?
}

func addFuzzSeeds(f *testing.F, withFamily bool) {
	for _, s := range fuzzSeeds {
		b, err := hex.DecodeString(s.hex)
		if err != nil {
			f.Fatalf("seed %q: %v", s.hex, err)
		}
		if !withFamily {
			f.Add(b)
			continue
		}
		f.Add(b, s.ipv6)
		// The fuzzer rarely repairs a checksum: also seed each with the
		// right one, so that Parse gets past it.
		if len(b) >= HeaderLen {
			src, dst, _ := fuzzAddrs(s.ipv6)
			form := ChecksumPseudoHeader
			if b[0]>>4 == 2 {
				form = ChecksumMessageOnly
			}
			ck := Checksum(b, src, dst, form)
			b = bytes.Clone(b)
			b[6], b[7] = byte(ck>>8), byte(ck)
			f.Add(b, s.ipv6)
		}
	}
}

// fuzzAddrs are the IP header addresses for FuzzParse, as in the captures,
// and a virtual address of the family.
func fuzzAddrs(ipv6 bool) (src, dst, vip netip.Addr) {
	if ipv6 {
		return srcIPv6, GroupIPv6, vipIPv6
	}
	return srcIPv4, GroupIPv4, vipIPv4
}

// normalize returns b as an encoder writes it back: reserved bits, the
// checksum, and version 2 Authentication Data under Auth Type 0, zero.
func normalize(b []byte) []byte {
	b = bytes.Clone(b)
	b[6], b[7] = 0, 0
	if b[0]>>4 == 3 {
		b[4] &= 0x0f
	} else if b[4] == AuthTypeNone {
		clear(b[len(b)-AuthDataLen:])
	}
	return b
}

// encodable reports whether a decoded advertisement can be encoded: vipd
// never sends Auth Types other than 0 and 1 (RFC 2338 §5.3.6: no AH).
func encodable(a Advertisement) bool {
	return a.Version == 3 || a.AuthType <= AuthTypePassword
}

// FuzzParse: Parse never panics, and whatever it accepts encodes back to the
// same message (up to the bits receivers ignore), which parses again to the
// same advertisement with the same checksum form and passes Check.
func FuzzParse(f *testing.F) {
	addFuzzSeeds(f, true)
	f.Fuzz(func(t *testing.T, b []byte, ipv6 bool) {
		src, dst, vip := fuzzAddrs(ipv6)
		a, form, err := Parse(b, src, dst)

		// Check agrees with Parse.
		exp := Expect{Version: 3, VRID: 51, Interval: time.Second, Addresses: []netip.Addr{vip}}
		v := exp.Check(Received{Payload: b, Src: src, Dst: dst, TTL: 255})
		if err != nil {
			if v.Drop != reasonFor(err) || v.Advert.Version != 0 {
				t.Fatalf("Parse: %v; Check: %v (%v), advert %+v", err, v.Drop, v.Err, v.Advert)
			}
			return
		}
		if v.Advert.Version == 0 || v.Checksum != form {
			t.Fatalf("Parse accepted with %v; Check: %v (%v), checksum %v", form, v.Drop, v.Err, v.Checksum)
		}
		if !form.valid() {
			t.Fatalf("Parse succeeded with form %v", form)
		}

		enc, err := a.AppendBinary(nil, src, dst, form)
		if !encodable(a) {
			if !errors.Is(err, ErrAuth) {
				t.Fatalf("AppendBinary of Auth Type %d: %v, want ErrAuth", a.AuthType, err)
			}
			exp := Expect{Version: 2, VRID: a.VRID, Interval: a.Interval, AuthType: a.AuthType, AuthData: a.AuthData, Addresses: a.Addresses}
			if v := exp.Check(Received{Payload: b, Src: src, Dst: dst, TTL: 255}); v.Drop != DropAuth {
				t.Fatalf("Check of Auth Type %d by a router configured for it: %v, want DropAuth", a.AuthType, v.Drop)
			}
			return
		}
		if err != nil {
			t.Fatalf("AppendBinary of parsed %+v: %v", a, err)
		}
		if !bytes.Equal(normalize(enc), normalize(b)) {
			t.Fatalf("re-encoded\n%x\nwant (normalized)\n%x", normalize(enc), normalize(b))
		}
		a2, form2, err := Parse(enc, src, dst)
		if err != nil {
			t.Fatalf("Parse of re-encoded %x: %v", enc, err)
		}
		if d := diffAdvert(a, a2); d != "" {
			t.Fatalf("round trip mismatch (-first +second):\n%s", d)
		}
		if form2 != form {
			t.Fatalf("round trip form %v, first %v", form2, form)
		}

		// As the router it was meant for, the advert is accepted.
		exp = Expect{Version: a.Version, VRID: a.VRID, Interval: a.Interval, AuthType: a.AuthType, AuthData: a.AuthData, Addresses: a.Addresses}
		if v := exp.Check(Received{Payload: b, Src: src, Dst: dst, TTL: 255}); v.Drop != DropNone || v.AddressMismatch {
			t.Fatalf("Check by its own router: %v (%v), mismatch %t", v.Drop, v.Err, v.AddressMismatch)
		}
	})
}

// FuzzRoundTrip: UnmarshalBinary never panics, and what it accepts marshals
// back to the same message (up to ignored bits), unmarshals to the same
// advertisement, and survives AppendBinary and Parse in its family.
func FuzzRoundTrip(f *testing.F) {
	addFuzzSeeds(f, false)
	f.Fuzz(func(t *testing.T, b []byte) {
		var a Advertisement
		if err := a.UnmarshalBinary(b); err != nil {
			return
		}
		m, err := a.MarshalBinary()
		if !encodable(a) {
			if !errors.Is(err, ErrAuth) {
				t.Fatalf("MarshalBinary of Auth Type %d: %v, want ErrAuth", a.AuthType, err)
			}
			return
		}
		if err != nil {
			t.Fatalf("MarshalBinary of %+v: %v", a, err)
		}
		if !bytes.Equal(normalize(m), normalize(b)) {
			t.Fatalf("marshaled\n%x\nwant (normalized)\n%x", normalize(m), normalize(b))
		}
		var a2 Advertisement
		if err := a2.UnmarshalBinary(m); err != nil {
			t.Fatalf("UnmarshalBinary of marshaled %x: %v", m, err)
		}
		if d := diffAdvert(a, a2); d != "" {
			t.Fatalf("round trip mismatch (-first +second):\n%s", d)
		}

		ipv6 := len(a.Addresses) > 0 && !a.Addresses[0].Is4()
		src, dst, _ := fuzzAddrs(ipv6)
		for _, form := range []ChecksumForm{ChecksumPseudoHeader, ChecksumMessageOnly} {
			enc, err := a.AppendBinary(nil, src, dst, form)
			if err != nil {
				t.Fatalf("AppendBinary of %+v: %v", a, err)
			}
			a3, _, err := Parse(enc, src, dst)
			if err != nil {
				t.Fatalf("Parse of %x: %v", enc, err)
			}
			if d := diffAdvert(a, a3); d != "" {
				t.Fatalf("AppendBinary/Parse mismatch (-want +got):\n%s", d)
			}
		}
	})
}
