package netlink

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"slices"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// noopRTNL does nothing and succeeds; fakes embed it and override one method.
type noopRTNL struct{}

func (noopRTNL) addrAdd(ifaddr) error        { return nil }
func (noopRTNL) addrDel(ifaddr) error        { return nil }
func (noopRTNL) addrList() ([]ifaddr, error) { return nil, nil }
func (noopRTNL) link(int) (link, error)      { return upLink, nil }
func (noopRTNL) linkByName(string) (link, error) {
	l := upLink
	l.Index = 2
	return l, nil
}
func (noopRTNL) close() error { return nil }
func (noopRTNL) subscribe(<-chan struct{}, chan<- linkEvent, chan<- addrEvent) error {
	return nil
}

var upLink = link{
	Name:      "eth0",
	HW:        net.HardwareAddr{0x02, 0, 0, 0, 0, 1},
	Flags:     unix.IFF_UP | unix.IFF_RUNNING | unix.IFF_LOWER_UP,
	OperState: 6, // IF_OPER_UP
}

type addRTNL struct {
	noopRTNL
	got []ifaddr
	err error
}

func (f *addRTNL) addrAdd(a ifaddr) error { f.got = append(f.got, a); return f.err }

func TestAddVIP(t *testing.T) {
	tests := []struct {
		name string
		addr netip.Addr
		want ifaddr
	}{
		{
			name: "IPv4 host route, marked",
			addr: netip.MustParseAddr("198.18.0.10"),
			want: ifaddr{Index: 7, Prefix: netip.MustParsePrefix("198.18.0.10/32"), Proto: AddrProto},
		},
		{
			name: "IPv6 /128, marked, no DAD, deprecated",
			addr: netip.MustParseAddr("2001:db8::10"),
			want: ifaddr{Index: 7, Prefix: netip.MustParsePrefix("2001:db8::10/128"), Flags: unix.IFA_F_NODAD, Proto: AddrProto, Deprecated: true},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &addRTNL{}
			h := &Handle{rt: f}
			if err := h.AddVIP(7, tt.addr); err != nil {
				t.Fatalf("AddVIP: %v", err)
			}
			if len(f.got) != 1 || f.got[0] != tt.want {
				t.Fatalf("kernel got %+v, want [%+v]", f.got, tt.want)
			}
		})
	}
}

func TestAddVIPErrors(t *testing.T) {
	tests := []struct {
		name    string
		addr    netip.Addr
		kernel  error
		wantErr error // nil: success
	}{
		{name: "already present", addr: netip.MustParseAddr("198.18.0.10"), kernel: unix.EEXIST},
		{name: "no such device", addr: netip.MustParseAddr("198.18.0.10"), kernel: unix.ENODEV, wantErr: ErrNoLink},
		{name: "other errno kept", addr: netip.MustParseAddr("198.18.0.10"), kernel: unix.EPERM, wantErr: unix.EPERM},
		{name: "zero address", addr: netip.Addr{}, wantErr: ErrInvalidAddr},
		{name: "zoned", addr: netip.MustParseAddr("fe80::1%eth0"), wantErr: ErrInvalidAddr},
		{name: "mapped", addr: netip.MustParseAddr("::ffff:198.18.0.1"), wantErr: ErrInvalidAddr},
		{name: "unspecified", addr: netip.IPv4Unspecified(), wantErr: ErrInvalidAddr},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := &Handle{rt: &addRTNL{err: tt.kernel}}
			err := h.AddVIP(7, tt.addr)
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("AddVIP: %v, want success", err)
				}
				return
			}
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("AddVIP: %v, want %v", err, tt.wantErr)
			}
		})
	}
}

type delRTNL struct {
	noopRTNL
	got ifaddr
	err error
}

func (f *delRTNL) addrDel(a ifaddr) error { f.got = a; return f.err }

func TestDelVIP(t *testing.T) {
	f := &delRTNL{err: unix.EADDRNOTAVAIL}
	h := &Handle{rt: f}
	if err := h.DelVIP(3, netip.MustParseAddr("2001:db8::10")); err != nil {
		t.Fatalf("DelVIP of an absent address: %v, want success", err)
	}
	if want := (ifaddr{Index: 3, Prefix: netip.MustParsePrefix("2001:db8::10/128")}); f.got != want {
		t.Fatalf("kernel got %+v, want %+v", f.got, want)
	}
	f.err = unix.ENODEV
	if err := h.DelVIP(3, netip.MustParseAddr("198.18.0.1")); !errors.Is(err, ErrNoLink) || !errors.Is(err, unix.ENODEV) {
		t.Fatalf("DelVIP on a missing link: %v, want ErrNoLink wrapping ENODEV", err)
	}
}

type listRTNL struct {
	noopRTNL
	addrs []ifaddr
}

func (f listRTNL) addrList() ([]ifaddr, error) { return f.addrs, nil }

var someAddrs = []ifaddr{
	{Index: 2, Prefix: netip.MustParsePrefix("198.18.0.2/24")},
	{Index: 2, Prefix: netip.MustParsePrefix("198.18.0.10/24")}, // VIP address, wrong length
	{Index: 2, Prefix: netip.MustParsePrefix("198.18.0.11/32"), Proto: AddrProto},
	{Index: 2, Prefix: netip.MustParsePrefix("2001:db8::11/128"), Proto: AddrProto},
	{Index: 2, Prefix: netip.MustParsePrefix("fe80::1/64"), Proto: 3}, // IFAPROT_KERNEL_LL
	{Index: 9, Prefix: netip.MustParsePrefix("198.18.0.12/32"), Proto: AddrProto},
}

func TestHasVIP(t *testing.T) {
	h := &Handle{rt: listRTNL{addrs: someAddrs}}
	tests := []struct {
		addr string
		want bool
	}{
		{"198.18.0.11", true},
		{"2001:db8::11", true},
		{"198.18.0.10", false}, // only as /24
		{"198.18.0.12", false}, // on another link
		{"198.18.0.99", false},
	}
	for _, tt := range tests {
		got, err := h.HasVIP(2, netip.MustParseAddr(tt.addr))
		if err != nil {
			t.Fatalf("HasVIP(%s): %v", tt.addr, err)
		}
		if got != tt.want {
			t.Errorf("HasVIP(%s) = %v, want %v", tt.addr, got, tt.want)
		}
	}
}

func TestStale(t *testing.T) {
	h := &Handle{rt: listRTNL{addrs: someAddrs}}
	got, err := h.Stale(2)
	if err != nil {
		t.Fatalf("Stale: %v", err)
	}
	want := []netip.Addr{netip.MustParseAddr("198.18.0.11"), netip.MustParseAddr("2001:db8::11")}
	if !slices.Equal(got, want) {
		t.Fatalf("Stale = %v, want %v", got, want)
	}
}

type noLinkRTNL struct{ noopRTNL }

func (noLinkRTNL) link(int) (link, error) { return link{}, unix.ENODEV }

func TestMissingLink(t *testing.T) {
	h := &Handle{rt: noLinkRTNL{}}
	if _, err := h.Stale(4); !errors.Is(err, ErrNoLink) {
		t.Errorf("Stale: %v, want ErrNoLink", err)
	}
	if _, err := h.HasVIP(4, netip.MustParseAddr("198.18.0.1")); !errors.Is(err, ErrNoLink) {
		t.Errorf("HasVIP: %v, want ErrNoLink", err)
	}
	if _, err := h.Link(4); !errors.Is(err, ErrNoLink) {
		t.Errorf("Link: %v, want ErrNoLink", err)
	}
}

func TestLinkState(t *testing.T) {
	const (
		operUnknown        = 0
		operDown           = 2
		operLowerLayerDown = 3
		operDormant        = 5
		operUp             = 6
		running            = unix.IFF_UP | unix.IFF_RUNNING
	)
	tests := []struct {
		name  string
		flags uint32
		oper  uint8
		want  bool
	}{
		{"up", running | unix.IFF_LOWER_UP, operUp, true},
		{"unknown operstate with carrier", running | unix.IFF_LOWER_UP, operUnknown, true},
		{"unknown operstate without carrier", running, operUnknown, false},
		{"admin down", unix.IFF_LOWER_UP, operDown, false},
		{"veth peer down", unix.IFF_UP, operLowerLayerDown, false},
		{"dormant", unix.IFF_UP | unix.IFF_LOWER_UP, operDormant, false},
		{"running flag but operstate down", running | unix.IFF_LOWER_UP, operDown, false},
		{"carrier lost, operstate not yet updated", running, operUp, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := link{Name: "eth0", Flags: tt.flags, OperState: tt.oper}.state()
			if got.Up != tt.want || got.Name != "eth0" {
				t.Fatalf("state() = %+v, want Up %v", got, tt.want)
			}
		})
	}
}

// subRTNL hands the test the subscription's channels.
type subRTNL struct {
	noopRTNL
	links chan chan<- linkEvent
	addrs chan chan<- addrEvent
	done  chan (<-chan struct{})
}

func (f *subRTNL) subscribe(done <-chan struct{}, links chan<- linkEvent, addrs chan<- addrEvent) error {
	f.done <- done
	f.links <- links
	f.addrs <- addrs
	return nil
}

func newSubRTNL() *subRTNL {
	return &subRTNL{
		links: make(chan chan<- linkEvent, 1),
		addrs: make(chan chan<- addrEvent, 1),
		done:  make(chan (<-chan struct{}), 1),
	}
}

func next(t *testing.T, ch <-chan Update) Update {
	t.Helper()
	select {
	case u, ok := <-ch:
		if !ok {
			t.Fatal("Watch channel closed early")
		}
		return u
	case <-time.After(5 * time.Second):
		t.Fatal("no update")
	}
	return Update{}
}

func TestWatch(t *testing.T) {
	f := newSubRTNL()
	h := &Handle{rt: f}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	ch, err := h.Watch(ctx, 2)
	if err != nil {
		t.Fatalf("Watch: %v", err)
	}
	done, links, addrs := <-f.done, <-f.links, <-f.addrs

	if u := next(t, ch); u.Kind != LinkChanged || !u.Link.Up || u.Link.Name != "eth0" {
		t.Fatalf("first update = %+v, want the link's state, up", u)
	}

	down := upLink
	down.Flags = unix.IFF_UP
	down.OperState = 3                         // IF_OPER_LOWERLAYERDOWN
	links <- linkEvent{Index: 9, Link: down}   // another link: ignored
	links <- linkEvent{Index: 2, Link: upLink} // no change: ignored
	links <- linkEvent{Index: 2, Link: down}
	if u := next(t, ch); u.Kind != LinkChanged || u.Link.Up {
		t.Fatalf("update = %+v, want link down", u)
	}
	links <- linkEvent{Index: 2, Link: upLink}
	links <- linkEvent{Index: 2, Link: upLink, Deleted: true}
	if u := next(t, ch); u.Kind != LinkChanged || !u.Link.Up {
		t.Fatalf("update = %+v, want link up", u)
	}
	if u := next(t, ch); u.Kind != LinkChanged || u.Link.Up {
		t.Fatalf("update = %+v, want deleted link down", u)
	}

	vip := netip.MustParseAddr("198.18.0.10")
	addrs <- addrEvent{Index: 9, Addr: vip, Removed: true}
	addrs <- addrEvent{Index: 2, Addr: vip, Removed: true}
	if u := next(t, ch); u.Kind != AddrRemoved || u.Addr != vip {
		t.Fatalf("update = %+v, want %s removed", u, vip)
	}
	addrs <- addrEvent{Index: 2, Addr: vip}
	if u := next(t, ch); u.Kind != AddrAdded || u.Addr != vip {
		t.Fatalf("update = %+v, want %s added", u, vip)
	}

	cancel()
	<-done // the subscription is told to stop
	close(links)
	close(addrs)
	for u := range ch {
		t.Fatalf("update %+v after cancel", u)
	}
}

func TestWatchSubscriptionEnds(t *testing.T) {
	f := newSubRTNL()
	h := &Handle{rt: f}
	ch, err := h.Watch(t.Context(), 2)
	if err != nil {
		t.Fatalf("Watch: %v", err)
	}
	done, links, addrs := <-f.done, <-f.links, <-f.addrs
	next(t, ch)
	close(addrs) // the kernel socket failed
	if _, ok := <-ch; ok {
		t.Fatal("channel still open after the subscription failed")
	}
	<-done
	close(links)
}

func TestParseIfaddr(t *testing.T) {
	ne := func(v uint32) []byte { b := make([]byte, 4); nativePut(b, v); return b }
	msg := func(family, plen, flags byte, index uint32, attrs ...[]byte) []byte {
		b := []byte{family, plen, flags, 0 /* scope */}
		b = append(b, ne(index)...)
		for _, a := range attrs {
			b = append(b, a...)
		}
		return b
	}
	attr := func(typ uint16, v []byte) []byte {
		b := make([]byte, 4, 4+len(v)+3)
		l := 4 + len(v)
		nativePut16(b[0:2], uint16(l))
		nativePut16(b[2:4], typ)
		b = append(b, v...)
		for len(b)%4 != 0 {
			b = append(b, 0)
		}
		return b
	}
	tests := []struct {
		name string
		b    []byte
		want ifaddr
		ok   bool
	}{
		{
			name: "IPv4 with proto",
			b: msg(unix.AF_INET, 32, 0, 5,
				attr(unix.IFA_ADDRESS, []byte{198, 18, 0, 10}),
				attr(unix.IFA_LOCAL, []byte{198, 18, 0, 10}),
				attr(unix.IFA_FLAGS, ne(0x80)),
				attr(ifaProto, []byte{AddrProto})),
			want: ifaddr{Index: 5, Prefix: netip.MustParsePrefix("198.18.0.10/32"), Flags: 0x80, Proto: AddrProto},
			ok:   true,
		},
		{
			name: "IPv6, address only",
			b: msg(unix.AF_INET6, 128, unix.IFA_F_NODAD, 5,
				attr(unix.IFA_ADDRESS, netip.MustParseAddr("2001:db8::1").AsSlice())),
			want: ifaddr{Index: 5, Prefix: netip.MustParsePrefix("2001:db8::1/128"), Flags: unix.IFA_F_NODAD},
			ok:   true,
		},
		{name: "short", b: []byte{unix.AF_INET, 32}},
		{name: "prefix too long", b: msg(unix.AF_INET, 33, 0, 5, attr(unix.IFA_LOCAL, []byte{198, 18, 0, 10}))},
		{name: "family mismatch", b: msg(unix.AF_INET6, 32, 0, 5, attr(unix.IFA_LOCAL, []byte{198, 18, 0, 10}))},
		{name: "no address", b: msg(unix.AF_INET, 32, 0, 5)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := parseIfaddr(tt.b)
			if ok != tt.ok || got != tt.want {
				t.Fatalf("parseIfaddr = %+v, %v; want %+v, %v", got, ok, tt.want, tt.ok)
			}
		})
	}
}

// TestCacheInfoDeprecated: struct ifa_cacheinfo with ifa_prefered 0 and
// ifa_valid INFINITY_LIFE_TIME, in host order.
func TestCacheInfoDeprecated(t *testing.T) {
	ne := func(v uint32) []byte { b := make([]byte, 4); nativePut(b, v); return b }
	var want []byte
	for _, v := range []uint32{0, 0xFFFFFFFF, 0, 0} { // prefered, valid, cstamp, tstamp
		want = append(want, ne(v)...)
	}
	if got := cacheInfoDeprecated(); string(got) != string(want) {
		t.Fatalf("IFA_CACHEINFO = % x, want % x", got, want)
	}
}
