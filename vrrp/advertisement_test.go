package vrrp

import (
	"bytes"
	"encoding/hex"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"
)

var (
	srcIPv4 = netip.MustParseAddr("192.0.2.11")
	vipIPv4 = netip.MustParseAddr("192.0.2.100")
	srcIPv6 = netip.MustParseAddr("fe80::60e4:91ff:feae:3a60")
	vipIPv6 = netip.MustParseAddr("2001:db8::100")
)

// golden is an advertisement captured from keepalived 2.2.7.
type golden struct {
	name     string
	src, dst netip.Addr
	form     ChecksumForm // what keepalived sent, and what Parse reports
	wire     wire
	adv      Advertisement
}

var goldens = []golden{
	{
		name: "v3 IPv4",
		src:  srcIPv4, dst: GroupIPv4,
		form: ChecksumPseudoHeader,
		wire: wire{
			{"31", "version 3, type 1 (advertisement)"},
			{"33", "VRID 51"},
			{"96", "priority 150"},
			{"01", "count IPvX addrs 1"},
			{"0064", "rsvd 0, max adver int 100 cs = 1s"},
			{"d367", "checksum, IPv4 pseudo-header form (message-only would be 7602)"},
			{"c0000264", "IPv4 address 192.0.2.100"},
		},
		adv: Advertisement{
			Version: 3, Type: TypeAdvertisement, VRID: 51, Priority: 150,
			Interval: time.Second, Addresses: []netip.Addr{vipIPv4},
		},
	},
	{
		name: "v2 IPv4",
		src:  srcIPv4, dst: GroupIPv4,
		form: ChecksumMessageOnly,
		wire: wire{
			{"21", "version 2, type 1 (advertisement)"},
			{"33", "VRID 51"},
			{"96", "priority 150"},
			{"01", "count IP addrs 1"},
			{"00", "auth type 0 (none)"},
			{"01", "adver int 1 s"},
			{"8665", "checksum, message only"},
			{"c0000264", "IPv4 address 192.0.2.100"},
			{"0000000000000000", "authentication data, zero"},
		},
		adv: Advertisement{
			Version: 2, Type: TypeAdvertisement, VRID: 51, Priority: 150,
			Interval: time.Second, Addresses: []netip.Addr{vipIPv4},
		},
	},
	{
		name: "v3 IPv6",
		src:  srcIPv6, dst: GroupIPv6,
		form: ChecksumPseudoHeader,
		wire: wire{
			{"31", "version 3, type 1 (advertisement)"},
			{"34", "VRID 52"},
			{"96", "priority 150"},
			{"01", "count IPvX addrs 1"},
			{"0064", "rsvd 0, max adver int 100 cs = 1s"},
			{"df9b", "checksum, IPv6 pseudo-header"},
			{"20010db8000000000000000000000100", "IPv6 address 2001:db8::100"},
		},
		adv: Advertisement{
			Version: 3, Type: TypeAdvertisement, VRID: 52, Priority: 150,
			Interval: time.Second, Addresses: []netip.Addr{vipIPv6},
		},
	},
	{
		// keepalived 2.2.7, "auth_type PASS" and "auth_pass secret": the
		// password zero-padded to 8 octets, under the checksum.
		name: "v2 IPv4 simple text password",
		src:  srcIPv4, dst: GroupIPv4,
		form: ChecksumMessageOnly,
		wire: wire{
			{"21", "version 2, type 1 (advertisement)"},
			{"33", "VRID 51"},
			{"96", "priority 150"},
			{"01", "count IP addrs 1"},
			{"01", "auth type 1 (simple text password)"},
			{"01", "adver int 1 s"},
			{"4919", "checksum, message only, over the password too"},
			{"c0000264", "IPv4 address 192.0.2.100"},
			{"736563726574", "authentication data: \"secret\""},
			{"0000", "authentication data: zero padding to 8 octets"},
		},
		adv: Advertisement{
			Version: 2, Type: TypeAdvertisement, VRID: 51, Priority: 150,
			Interval: time.Second, AuthType: AuthTypePassword, AuthData: [8]byte{'s', 'e', 'c', 'r', 'e', 't'},
			Addresses: []netip.Addr{vipIPv4},
		},
	},
}

func TestGoldenDecode(t *testing.T) {
	for _, g := range goldens {
		t.Run(g.name, func(t *testing.T) {
			b := g.wire.bytes(t)

			got, form, err := Parse(b, g.src, g.dst)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if d := diffAdvert(g.adv, got); d != "" {
				t.Errorf("Parse mismatch (-want +got):\n%s", d)
			}
			if form != g.form {
				t.Errorf("Parse checksum form = %v, want %v", form, g.form)
			}

			var u Advertisement
			if err := u.UnmarshalBinary(b); err != nil {
				t.Fatalf("UnmarshalBinary: %v", err)
			}
			if d := diffAdvert(g.adv, u); d != "" {
				t.Errorf("UnmarshalBinary mismatch (-want +got):\n%s", d)
			}
		})
	}
}

func TestGoldenEncode(t *testing.T) {
	for _, g := range goldens {
		t.Run(g.name, func(t *testing.T) {
			want := g.wire.bytes(t)
			got, err := g.adv.AppendBinary(nil, g.src, g.dst, g.form)
			if err != nil {
				t.Fatalf("AppendBinary: %v", err)
			}
			if d := diff(g.wire.lines(t, want), g.wire.lines(t, got)); d != "" {
				t.Errorf("AppendBinary mismatch (-want +got):\n%s", d)
			}

			// Appending keeps what is there.
			prefix := []byte{0xde, 0xad}
			got, err = g.adv.AppendBinary(prefix, g.src, g.dst, g.form)
			if err != nil {
				t.Fatalf("AppendBinary after prefix: %v", err)
			}
			if !bytes.Equal(got[:2], prefix) {
				t.Errorf("AppendBinary clobbered the prefix: % x", got[:2])
			}
			if d := diff(g.wire.lines(t, want), g.wire.lines(t, got[2:])); d != "" {
				t.Errorf("AppendBinary after prefix mismatch (-want +got):\n%s", d)
			}

			// MarshalBinary: complete for v2, checksum zero for v3.
			m, err := g.adv.MarshalBinary()
			if err != nil {
				t.Fatalf("MarshalBinary: %v", err)
			}
			wantM := bytes.Clone(want)
			if g.adv.Version == 3 {
				wantM[6], wantM[7] = 0, 0
			}
			if d := diff(g.wire.lines(t, wantM), g.wire.lines(t, m)); d != "" {
				t.Errorf("MarshalBinary mismatch (-want +got):\n%s", d)
			}
		})
	}
}

// TestGoldenOtherForm: the v3 IPv4 vector with the checksum RFC 9568 §5.2.8
// specifies (message only), as keepalived's v3_checksum_as_v2 sends it.
func TestGoldenOtherForm(t *testing.T) {
	g := goldens[0]
	w := append(wire(nil), g.wire...)
	w[5] = field{"7602", "checksum, message only"}
	want := w.bytes(t)

	got, err := g.adv.AppendBinary(nil, g.src, g.dst, ChecksumMessageOnly)
	if err != nil {
		t.Fatal(err)
	}
	if d := diff(w.lines(t, want), w.lines(t, got)); d != "" {
		t.Errorf("AppendBinary mismatch (-want +got):\n%s", d)
	}
	a, form, err := Parse(want, g.src, g.dst)
	if err != nil {
		t.Fatal(err)
	}
	if form != ChecksumMessageOnly {
		t.Errorf("form = %v, want %v", form, ChecksumMessageOnly)
	}
	if d := diffAdvert(g.adv, a); d != "" {
		t.Errorf("Parse mismatch (-want +got):\n%s", d)
	}
}

func TestEncodeInterval(t *testing.T) {
	tests := []struct {
		version int
		d       time.Duration
		wire    string // bytes 4 and 5
		err     error
	}{
		{3, 10 * time.Millisecond, "0001", nil},
		{3, 40950 * time.Millisecond, "0fff", nil},
		{3, 1500 * time.Millisecond, "0096", nil},
		{3, 0, "", ErrInterval},
		{3, 5 * time.Millisecond, "", ErrInterval},
		{3, 15 * time.Millisecond, "", ErrInterval},
		{3, 40960 * time.Millisecond, "", ErrInterval},
		{3, -time.Second, "", ErrInterval},
		{2, time.Second, "0001", nil},
		{2, 255 * time.Second, "00ff", nil},
		{2, 0, "", ErrInterval},
		{2, 1500 * time.Millisecond, "", ErrInterval},
		{2, 256 * time.Second, "", ErrInterval},
	}
	for _, tt := range tests {
		a := Advertisement{Version: tt.version, Type: TypeAdvertisement, VRID: 1, Interval: tt.d, Addresses: []netip.Addr{vipIPv4}}
		b, err := a.AppendBinary(nil, srcIPv4, GroupIPv4, ChecksumPseudoHeader)
		if !errors.Is(err, tt.err) {
			t.Errorf("v%d %v: err = %v, want %v", tt.version, tt.d, err, tt.err)
			continue
		}
		if err != nil {
			continue
		}
		if got := hex.EncodeToString(b[4:6]); got != tt.wire {
			t.Errorf("v%d %v: bytes 4-5 = %s, want %s", tt.version, tt.d, got, tt.wire)
		}
		var back Advertisement
		if err := back.UnmarshalBinary(b); err != nil || back.Interval != tt.d {
			t.Errorf("v%d %v: decoded back %v, %v", tt.version, tt.d, back.Interval, err)
		}
	}
}

func TestEncodeErrors(t *testing.T) {
	base := func() Advertisement {
		return Advertisement{Version: 3, Type: TypeAdvertisement, VRID: 1, Priority: 100, Interval: time.Second, Addresses: []netip.Addr{vipIPv4}}
	}
	many := make([]netip.Addr, 256)
	for i := range many {
		many[i] = netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)})
	}
	tests := []struct {
		name     string
		mod      func(*Advertisement)
		src, dst netip.Addr
		form     ChecksumForm
		err      error
	}{
		{"version 0", func(a *Advertisement) { a.Version = 0 }, srcIPv4, GroupIPv4, ChecksumPseudoHeader, ErrVersion},
		{"version 4", func(a *Advertisement) { a.Version = 4 }, srcIPv4, GroupIPv4, ChecksumPseudoHeader, ErrVersion},
		{"type 0", func(a *Advertisement) { a.Type = 0 }, srcIPv4, GroupIPv4, ChecksumPseudoHeader, ErrType},
		{"type 2", func(a *Advertisement) { a.Type = 2 }, srcIPv4, GroupIPv4, ChecksumPseudoHeader, ErrType},
		{"v3 auth type", func(a *Advertisement) { a.AuthType = 1 }, srcIPv4, GroupIPv4, ChecksumPseudoHeader, ErrAuth},
		{"v3 auth data", func(a *Advertisement) { a.AuthData[0] = 1 }, srcIPv4, GroupIPv4, ChecksumPseudoHeader, ErrAuth},
		{"v2 auth data without auth type", func(a *Advertisement) { a.Version = 2; a.AuthData[7] = 1 }, srcIPv4, GroupIPv4, ChecksumMessageOnly, ErrAuth},
		{"v2 AH", func(a *Advertisement) { a.Version = 2; a.AuthType = AuthTypeAH }, srcIPv4, GroupIPv4, ChecksumMessageOnly, ErrAuth},
		{"v2 auth type 3", func(a *Advertisement) { a.Version = 2; a.AuthType = 3 }, srcIPv4, GroupIPv4, ChecksumMessageOnly, ErrAuth},
		{"256 addresses", func(a *Advertisement) { a.Addresses = many }, srcIPv4, GroupIPv4, ChecksumPseudoHeader, ErrAddresses},
		{"zero address", func(a *Advertisement) { a.Addresses = []netip.Addr{{}} }, srcIPv4, GroupIPv4, ChecksumPseudoHeader, ErrAddresses},
		{"mixed families", func(a *Advertisement) { a.Addresses = append(a.Addresses, vipIPv6) }, srcIPv4, GroupIPv4, ChecksumPseudoHeader, ErrFamily},
		{"v2 IPv6", func(a *Advertisement) { a.Version = 2; a.Addresses = []netip.Addr{vipIPv6} }, srcIPv6, GroupIPv6, ChecksumMessageOnly, ErrFamily},
		{"v3 IPv4 from IPv6", func(a *Advertisement) {}, srcIPv6, GroupIPv6, ChecksumPseudoHeader, ErrFamily},
		{"v3 no source", func(a *Advertisement) {}, netip.Addr{}, GroupIPv4, ChecksumPseudoHeader, ErrFamily},
		{"v3 mixed src dst", func(a *Advertisement) {}, srcIPv4, GroupIPv6, ChecksumPseudoHeader, ErrFamily},
		{"no form", func(a *Advertisement) {}, srcIPv4, GroupIPv4, 0, nil},
		{"bad form", func(a *Advertisement) {}, srcIPv4, GroupIPv4, 3, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := base()
			tt.mod(&a)
			prefix := []byte{1, 2, 3}
			b, err := a.AppendBinary(prefix, tt.src, tt.dst, tt.form)
			if err == nil {
				t.Fatalf("AppendBinary succeeded: % x", b)
			}
			if tt.err != nil && !errors.Is(err, tt.err) {
				t.Errorf("err = %v, want %v", err, tt.err)
			}
			if !bytes.Equal(b, prefix) {
				t.Errorf("on error returned % x, want the input % x", b, prefix)
			}
		})
	}
}

// TestFormIgnoredWhereFixed: v2 is always message-only (RFC 3768 §5.3.8) and
// v3 over IPv6 always pseudo-header (RFC 9568 §5.2.8).
func TestFormIgnoredWhereFixed(t *testing.T) {
	for _, g := range goldens[1:] {
		for _, f := range []ChecksumForm{ChecksumPseudoHeader, ChecksumMessageOnly} {
			b, err := g.adv.AppendBinary(nil, g.src, g.dst, f)
			if err != nil {
				t.Fatal(err)
			}
			if want := g.wire.bytes(t); !bytes.Equal(b, want) {
				t.Errorf("%s with %v: % x, want % x", g.name, f, b, want)
			}
		}
	}
}

func TestIPv4MappedAndZones(t *testing.T) {
	// The socket may hand over IPv4-mapped sources and zoned link-local ones.
	g := goldens[0]
	mapped := netip.AddrFrom16(g.src.As16())
	a, form, err := Parse(g.wire.bytes(t), mapped, netip.AddrFrom16(g.dst.As16()))
	if err != nil || form != ChecksumPseudoHeader || a.VRID != 51 {
		t.Errorf("IPv4-mapped: %v %v %v", a, form, err)
	}
	g = goldens[2]
	_, _, err = Parse(g.wire.bytes(t), g.src.WithZone("eth0"), g.dst.WithZone("eth0"))
	if err != nil {
		t.Errorf("zoned IPv6: %v", err)
	}
}

func TestDecodeErrors(t *testing.T) {
	v3 := goldens[0].wire.bytes(t)
	v2 := goldens[1].wire.bytes(t)
	v6 := goldens[2].wire.bytes(t)
	with := func(b []byte, i int, v byte) []byte {
		b = bytes.Clone(b)
		b[i] = v
		return b
	}
	tests := []struct {
		name     string
		b        []byte
		src, dst netip.Addr
		err      error
	}{
		{"empty", nil, srcIPv4, GroupIPv4, ErrShort},
		{"7 bytes", v3[:7], srcIPv4, GroupIPv4, ErrShort},
		{"header only, count 1", v3[:8], srcIPv4, GroupIPv4, ErrShort},
		{"v3 address cut", v3[:11], srcIPv4, GroupIPv4, ErrShort},
		{"v3 count says 2", with(v3, 3, 2), srcIPv4, GroupIPv4, ErrShort},
		{"v3 count says 0", with(v3, 3, 0), srcIPv4, GroupIPv4, ErrMalformed},
		{"v3 trailing byte", append(bytes.Clone(v3), 0), srcIPv4, GroupIPv4, ErrMalformed},
		{"v3 IPv6 payload from IPv4", v6, srcIPv4, GroupIPv4, ErrMalformed},
		{"v3 IPv4 payload from IPv6", v3, srcIPv6, GroupIPv6, ErrShort},
		{"v6 count says 255", with(v6, 3, 255), srcIPv6, GroupIPv6, ErrShort},
		{"v2 without auth data", v2[:12], srcIPv4, GroupIPv4, ErrShort},
		{"v2 auth data cut", v2[:19], srcIPv4, GroupIPv4, ErrShort},
		{"v2 trailing", append(bytes.Clone(v2), 0, 0, 0, 0), srcIPv4, GroupIPv4, ErrMalformed},
		{"v2 count says 3", with(v2, 3, 3), srcIPv4, GroupIPv4, ErrShort},
		{"v2 over IPv6", v2, srcIPv6, GroupIPv6, ErrFamily},
		{"version 0", with(v3, 0, 0x01), srcIPv4, GroupIPv4, ErrVersion},
		{"version 1", with(v3, 0, 0x11), srcIPv4, GroupIPv4, ErrVersion},
		{"version 4", with(v3, 0, 0x41), srcIPv4, GroupIPv4, ErrVersion},
		{"version 15", with(v3, 0, 0xf1), srcIPv4, GroupIPv4, ErrVersion},
		{"type 0", with(v3, 0, 0x30), srcIPv4, GroupIPv4, ErrType},
		{"type 2", with(v3, 0, 0x32), srcIPv4, GroupIPv4, ErrType},
		{"checksum", with(v3, 7, 0x68), srcIPv4, GroupIPv4, ErrChecksum},
		{"checksum v2", with(v2, 2, 0x97), srcIPv4, GroupIPv4, ErrChecksum},
		{"checksum v6", with(v6, 23, 0x01), srcIPv6, GroupIPv6, ErrChecksum},
		{"v6 wrong destination", v6, srcIPv6, netip.MustParseAddr("ff02::1"), ErrChecksum},
		{"no source", v3, netip.Addr{}, GroupIPv4, ErrFamily},
		{"mixed src dst", v3, srcIPv4, GroupIPv6, ErrFamily},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, form, err := Parse(tt.b, tt.src, tt.dst)
			if !errors.Is(err, tt.err) {
				t.Fatalf("Parse err = %v, want %v", err, tt.err)
			}
			if form != 0 || a.Version != 0 || a.Addresses != nil {
				t.Errorf("Parse returned %v, %v with error", a, form)
			}
			if !bytes.HasPrefix([]byte(err.Error()), []byte("vrrp: ")) {
				t.Errorf("error %q lacks the vrrp: prefix", err)
			}
		})
	}
}

// TestZeroInterval: a zero interval is malformed in either version. The
// checksum is correct, so it is the interval that is reported.
func TestZeroInterval(t *testing.T) {
	for _, g := range goldens {
		b := g.wire.bytes(t)
		b[4], b[5] = b[4]&0xf0, 0
		if g.adv.Version == 2 {
			b[4] = 0
		}
		b[6], b[7] = 0, 0
		form := g.form
		ck := Checksum(b, g.src, g.dst, form)
		b[6], b[7] = byte(ck>>8), byte(ck)
		if _, _, err := Parse(b, g.src, g.dst); !errors.Is(err, ErrInterval) {
			t.Errorf("%s: Parse err = %v, want ErrInterval", g.name, err)
		}
		var a Advertisement
		if err := a.UnmarshalBinary(b); !errors.Is(err, ErrInterval) {
			t.Errorf("%s: UnmarshalBinary err = %v, want ErrInterval", g.name, err)
		}
	}
}

// TestReservedBitsIgnored: RFC 9568 §5.2.6, rsvd "MUST be set to zero on
// transmission and ignored on reception".
func TestReservedBitsIgnored(t *testing.T) {
	g := goldens[0]
	b := g.wire.bytes(t)
	b[4] |= 0xf0
	b[6], b[7] = 0, 0
	ck := Checksum(b, g.src, g.dst, ChecksumPseudoHeader)
	b[6], b[7] = byte(ck>>8), byte(ck)
	a, _, err := Parse(b, g.src, g.dst)
	if err != nil {
		t.Fatal(err)
	}
	if d := diffAdvert(g.adv, a); d != "" {
		t.Errorf("Parse mismatch (-want +got):\n%s", d)
	}
}

// TestAuthDataIgnored: RFC 3768 §5.3.10, authentication data "SHOULD be set
// to zero on transmission and ignored on reception": with Auth Type 0 it
// decodes as zero whatever the wire holds. With Auth Type 1 (RFC 2338
// §5.3.6) it is the password, and decodes as sent.
func TestAuthDataIgnored(t *testing.T) {
	g := goldens[1]
	for _, tt := range []struct {
		authType uint8
		want     [8]byte
	}{
		{AuthTypeNone, [8]byte{}},
		{AuthTypePassword, [8]byte{'s', 'e', 'c', 'r', 'e', 't', '!', '!'}},
		{AuthTypeAH, [8]byte{'s', 'e', 'c', 'r', 'e', 't', '!', '!'}},
	} {
		b := g.wire.bytes(t)
		b[4] = tt.authType
		copy(b[12:], "secret!!")
		b[6], b[7] = 0, 0
		ck := Checksum(b, g.src, g.dst, ChecksumMessageOnly)
		b[6], b[7] = byte(ck>>8), byte(ck)
		a, _, err := Parse(b, g.src, g.dst)
		if err != nil {
			t.Fatal(err)
		}
		want := g.adv
		want.AuthType, want.AuthData = tt.authType, tt.want
		if d := diffAdvert(want, a); d != "" {
			t.Errorf("auth type %d: Parse mismatch (-want +got):\n%s", tt.authType, d)
		}
	}
}

func TestAuthPassword(t *testing.T) {
	for _, tt := range []struct {
		pw   string
		want [8]byte
		err  error
	}{
		{"", [8]byte{}, nil},
		{"secret", [8]byte{'s', 'e', 'c', 'r', 'e', 't', 0, 0}, nil},
		{"12345678", [8]byte{'1', '2', '3', '4', '5', '6', '7', '8'}, nil},
		{"123456789", [8]byte{}, ErrAuth},
		{"pässwört", [8]byte{}, ErrAuth}, // 10 bytes of UTF-8
	} {
		got, err := AuthPassword(tt.pw)
		if !errors.Is(err, tt.err) || got != tt.want {
			t.Errorf("AuthPassword(%q) = %x, %v; want %x, %v", tt.pw, got, err, tt.want, tt.err)
		}
		if err != nil && !strings.Contains(err.Error(), "at most 8") {
			t.Errorf("AuthPassword(%q) error %q does not say the limit", tt.pw, err)
		}
	}
}

// TestUnmarshalFamily: without the IP header, the length says the family.
func TestUnmarshalFamily(t *testing.T) {
	for _, tt := range []struct {
		addrs []netip.Addr
		src   netip.Addr
	}{
		{nil, srcIPv4},
		{[]netip.Addr{vipIPv4}, srcIPv4},
		{[]netip.Addr{vipIPv4, vipIPv4.Next(), vipIPv4.Next().Next(), vipIPv4.Next().Next().Next()}, srcIPv4},
		{[]netip.Addr{vipIPv6}, srcIPv6},
		{[]netip.Addr{netip.MustParseAddr("::ffff:192.0.2.1")}, srcIPv6}, // IPv4-mapped stays IPv6
	} {
		want := Advertisement{Version: 3, Type: TypeAdvertisement, VRID: 9, Priority: 1, Interval: 30 * time.Millisecond, Addresses: tt.addrs}
		dst := GroupIPv6
		if tt.src.Is4() {
			dst = GroupIPv4
		}
		b, err := want.AppendBinary(nil, tt.src, dst, ChecksumPseudoHeader)
		if err != nil {
			t.Fatal(err)
		}
		var got Advertisement
		if err := got.UnmarshalBinary(b); err != nil {
			t.Fatal(err)
		}
		if d := diffAdvert(want, got); d != "" {
			t.Errorf("UnmarshalBinary mismatch (-want +got):\n%s", d)
		}
	}

	// Between the IPv4 and the IPv6 length the family is unknown: malformed.
	// Below the IPv4 length it is short either way.
	b := goldens[2].wire.bytes(t) // 24 bytes
	var a Advertisement
	for _, tt := range []struct {
		count byte
		err   error
	}{
		{2, ErrMalformed}, // 16 bytes of addresses: more than 2×4, less than 2×16
		{3, ErrMalformed},
		{4, nil},      // 16 bytes are exactly 4 IPv4 addresses
		{5, ErrShort}, // 5×4 = 20 > 16
	} {
		b[3] = tt.count
		if err := a.UnmarshalBinary(b); !errors.Is(err, tt.err) {
			t.Errorf("count %d in 24 bytes: err = %v, want %v", tt.count, err, tt.err)
		}
	}
	b = append(goldens[0].wire.bytes(t), 1, 2, 3, 4, 5) // 17 bytes, count 1
	if err := a.UnmarshalBinary(b); !errors.Is(err, ErrMalformed) {
		t.Errorf("count 1 in 17 bytes: err = %v, want ErrMalformed", err)
	}
}

func TestUnmarshalAssignsOnlyOnSuccess(t *testing.T) {
	a := goldens[0].adv
	b := goldens[0].wire.bytes(t)
	if err := a.UnmarshalBinary(b[:10]); err == nil {
		t.Fatal("UnmarshalBinary of 10 bytes succeeded")
	}
	if d := diffAdvert(goldens[0].adv, a); d != "" {
		t.Errorf("receiver changed on error (-want +got):\n%s", d)
	}
}

func TestMaxAddresses(t *testing.T) {
	addrs := make([]netip.Addr, 255)
	for i := range addrs {
		addrs[i] = netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 15: byte(i)})
	}
	a := Advertisement{Version: 3, Type: TypeAdvertisement, VRID: 255, Priority: 255, Interval: 40950 * time.Millisecond, Addresses: addrs}
	b, err := a.AppendBinary(nil, srcIPv6, GroupIPv6, ChecksumPseudoHeader)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) != MaxLen {
		t.Errorf("len = %d, want MaxLen %d", len(b), MaxLen)
	}
	got, _, err := Parse(b, srcIPv6, GroupIPv6)
	if err != nil {
		t.Fatal(err)
	}
	if d := diffAdvert(a, got); d != "" {
		t.Errorf("round trip mismatch (-want +got):\n%s", d)
	}
}

func TestAppendBinaryAllocs(t *testing.T) {
	for _, g := range goldens {
		buf := make([]byte, 0, MaxLen)
		allocs := testing.AllocsPerRun(100, func() {
			var err error
			buf, err = g.adv.AppendBinary(buf[:0], g.src, g.dst, g.form)
			if err != nil {
				t.Fatal(err)
			}
		})
		if allocs != 0 {
			t.Errorf("%s: AppendBinary allocates %v times per run, want 0", g.name, allocs)
		}
	}
}

func BenchmarkAppendBinary(b *testing.B) {
	for _, g := range goldens {
		b.Run(g.name, func(b *testing.B) {
			buf := make([]byte, 0, MaxLen)
			b.ReportAllocs()
			for b.Loop() {
				var err error
				buf, err = g.adv.AppendBinary(buf[:0], g.src, g.dst, g.form)
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkParse(b *testing.B) {
	for _, g := range goldens {
		b.Run(g.name, func(b *testing.B) {
			p := g.wire.bytes(b)
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := Parse(p, g.src, g.dst); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func TestTypeString(t *testing.T) {
	if got := TypeAdvertisement.String(); got != "advertisement" {
		t.Errorf("TypeAdvertisement = %q", got)
	}
	if got := Type(7).String(); got != "Type(7)" {
		t.Errorf("Type(7) = %q", got)
	}
}

// TestMaxLen: MaxLen is the longest valid message (version 3, 255 IPv6
// addresses), and a message cut to ReadBufferLen bytes never parses.
func TestMaxLen(t *testing.T) {
	addrs := make([]netip.Addr, 255)
	for i := range addrs {
		addrs[i] = netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 15: byte(i)})
	}
	a := Advertisement{Version: 3, Type: TypeAdvertisement, VRID: 1, Priority: 100, Interval: time.Second, Addresses: addrs}
	b, err := a.AppendBinary(nil, srcIPv6, GroupIPv6, ChecksumPseudoHeader)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) != MaxLen || MaxLen != 4088 {
		t.Fatalf("255 IPv6 addresses take %d bytes; MaxLen is %d, want both 4088", len(b), MaxLen)
	}
	v2 := Advertisement{Version: 2, Type: TypeAdvertisement, VRID: 1, Interval: time.Second, Addresses: make([]netip.Addr, 255)}
	for i := range v2.Addresses {
		v2.Addresses[i] = netip.AddrFrom4([4]byte{198, 18, 0, byte(i)})
	}
	if m, err := v2.MarshalBinary(); err != nil || len(m) > MaxLen {
		t.Fatalf("longest version 2 message: %d bytes, %v; want at most MaxLen", len(m), err)
	}
	// A longer (invalid) message read into ReadBufferLen bytes.
	cut := append(b, 0xff)[:ReadBufferLen]
	for _, src := range []netip.Addr{srcIPv6, srcIPv4} {
		dst := GroupIPv6
		if src.Is4() {
			dst = GroupIPv4
		}
		if _, _, err := Parse(cut, src, dst); !errors.Is(err, ErrMalformed) {
			t.Errorf("Parse of %d bytes from %v: %v, want ErrMalformed", len(cut), src, err)
		}
	}
}
