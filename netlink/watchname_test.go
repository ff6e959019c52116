package netlink

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"slices"
	"testing"

	"golang.org/x/sys/unix"
)

// nameRTNL is a kernel with the links of byName and the addresses of addrs.
type nameRTNL struct {
	*subRTNL
	byName map[string]link
	list   []ifaddr
}

func (f *nameRTNL) linkByName(name string) (link, error) {
	l, ok := f.byName[name]
	if !ok {
		return link{}, unix.ENODEV
	}
	return l, nil
}

func (f *nameRTNL) addrList() ([]ifaddr, error) { return f.list, nil }

func withIndex(l link, i int) link { l.Index = i; return l }

func TestLinkByName(t *testing.T) {
	f := &nameRTNL{subRTNL: newSubRTNL(), byName: map[string]link{"eth0": withIndex(upLink, 2)}, list: someAddrs}
	h := &Handle{rt: f}
	s, ps, err := h.LinkByName("eth0")
	if err != nil {
		t.Fatalf("LinkByName: %v", err)
	}
	if s.Index != 2 || s.Name != "eth0" || !s.Up || s.HardwareAddr.String() != upLink.HW.String() {
		t.Errorf("LinkByName = %+v, want eth0, index 2, up, %s", s, upLink.HW)
	}
	var want []netip.Prefix
	for _, a := range someAddrs {
		if a.Index == 2 {
			want = append(want, a.Prefix)
		}
	}
	if !slices.Equal(ps, want) {
		t.Errorf("prefixes = %v, want %v", ps, want)
	}
	if _, _, err := h.LinkByName("eth9"); !errors.Is(err, ErrNoLink) {
		t.Errorf("LinkByName(missing): %v, want ErrNoLink", err)
	}
}

// watchName starts WatchName on the fake and returns the channels the
// subscription was given.
func watchName(t *testing.T, f *nameRTNL, name string) (<-chan Update, chan<- linkEvent, chan<- addrEvent, context.CancelFunc) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	ch, err := (&Handle{rt: f}).WatchName(ctx, name)
	if err != nil {
		t.Fatalf("WatchName: %v", err)
	}
	<-f.done
	return ch, <-f.links, <-f.addrs, cancel
}

func TestWatchNameRecreated(t *testing.T) {
	f := &nameRTNL{subRTNL: newSubRTNL(), byName: map[string]link{"bond0": withIndex(upLink, 5)}, list: []ifaddr{
		{Index: 5, Prefix: netip.MustParsePrefix("198.18.0.1/24")},
		{Index: 8, Prefix: netip.MustParsePrefix("198.18.0.1/24")}, // the recreated link's, later
		{Index: 3, Prefix: netip.MustParsePrefix("198.18.9.9/24")},
	}}
	f.upLink("bond0")
	ch, links, addrs, cancel := watchName(t, f, "bond0")
	defer cancel()

	u := next(t, ch)
	if u.Kind != LinkChanged || u.Link.Index != 5 || !u.Link.Up || !slices.Equal(u.Prefixes, []netip.Prefix{netip.MustParsePrefix("198.18.0.1/24")}) {
		t.Fatalf("first update = %+v, want bond0 at index 5, up, with its address", u)
	}

	other := upLink
	other.Name = "eth1"
	links <- linkEvent{Index: 3, Link: other}                             // another link: ignored
	links <- linkEvent{Index: 3, Link: other, Deleted: true}              // another link deleted: ignored
	addrs <- addrEvent{Index: 3, Addr: netip.MustParseAddr("198.18.9.9")} // another link's address: ignored
	links <- linkEvent{Index: 5, Link: upLink, Deleted: true}
	if u := next(t, ch); u.Kind != LinkDeleted || u.Link.Index != 5 || u.Link.Name != "bond0" || u.Link.Up {
		t.Fatalf("update = %+v, want bond0 (5) deleted", u)
	}
	addrs <- addrEvent{Index: 5, Addr: netip.MustParseAddr("198.18.0.1"), Removed: true} // the old link's: ignored

	newMAC := upLink
	newMAC.Name = "bond0"
	newMAC.HW = net.HardwareAddr{0x02, 0, 0, 0, 0, 8}
	links <- linkEvent{Index: 8, Link: newMAC}
	u = next(t, ch)
	if u.Kind != LinkAdded || u.Link.Index != 8 || u.Link.Name != "bond0" || u.Link.HardwareAddr.String() != newMAC.HW.String() || !u.Link.Up {
		t.Fatalf("update = %+v, want bond0 added at index 8 with its MAC", u)
	}
	if !slices.Equal(u.Prefixes, []netip.Prefix{netip.MustParsePrefix("198.18.0.1/24")}) {
		t.Errorf("LinkAdded prefixes = %v, want the new link's", u.Prefixes)
	}
	vip := netip.MustParseAddr("198.18.0.50")
	addrs <- addrEvent{Index: 8, Addr: vip}
	if u := next(t, ch); u.Kind != AddrAdded || u.Addr != vip {
		t.Fatalf("update = %+v, want %s added on the new link", u, vip)
	}

	// A newer bond0 seen before the deletion of index 8: deletion first.
	links <- linkEvent{Index: 9, Link: newMAC}
	if u := next(t, ch); u.Kind != LinkDeleted || u.Link.Index != 8 {
		t.Fatalf("update = %+v, want index 8 deleted", u)
	}
	if u := next(t, ch); u.Kind != LinkAdded || u.Link.Index != 9 {
		t.Fatalf("update = %+v, want index 9 added", u)
	}
	// Renamed away: the name is gone.
	renamed := newMAC
	renamed.Name = "bond0old"
	links <- linkEvent{Index: 9, Link: renamed}
	if u := next(t, ch); u.Kind != LinkDeleted || u.Link.Index != 9 || u.Link.Name != "bond0" {
		t.Fatalf("update = %+v, want bond0 (9) gone by rename", u)
	}
}

// upLink gives the fake's link of name the name it is known by.
func (f *nameRTNL) upLink(name string) {
	l := f.byName[name]
	l.Name = name
	f.byName[name] = l
}

func TestWatchNameAbsentThenCreated(t *testing.T) {
	f := &nameRTNL{subRTNL: newSubRTNL(), byName: map[string]link{}}
	ch, links, _, cancel := watchName(t, f, "vlan7")
	if u := next(t, ch); u.Kind != LinkDeleted || u.Link.Name != "vlan7" || u.Link.Index != 0 {
		t.Fatalf("first update = %+v, want vlan7 absent", u)
	}
	l := upLink
	l.Name = "vlan7"
	l.Flags = unix.IFF_UP // no carrier yet
	links <- linkEvent{Index: 12, Link: l}
	if u := next(t, ch); u.Kind != LinkAdded || u.Link.Index != 12 || u.Link.Up {
		t.Fatalf("update = %+v, want vlan7 added at 12, down", u)
	}
	l.Flags = upLink.Flags
	links <- linkEvent{Index: 12, Link: l}
	if u := next(t, ch); u.Kind != LinkChanged || !u.Link.Up || u.Link.Index != 12 {
		t.Fatalf("update = %+v, want vlan7 up", u)
	}
	cancel()
	for u := range ch {
		if u.Kind != LinkChanged && u.Kind != LinkAdded {
			t.Fatalf("update %+v after cancel", u)
		}
	}
}

// An RTM_NEWLINK that changes nothing but the MAC (bond fail-over,
// `ip link set dev X address ...`) is a LinkChanged with the new MAC, from
// Watch and from WatchName.
func TestWatchMACChange(t *testing.T) {
	mac := net.HardwareAddr{0x02, 0, 0, 0, 0, 0x42}
	moved := upLink
	moved.HW = mac

	sub := newSubRTNL()
	ch, err := (&Handle{rt: sub}).Watch(t.Context(), 2)
	if err != nil {
		t.Fatal(err)
	}
	<-sub.done
	links := <-sub.links
	<-sub.addrs
	next(t, ch)
	links <- linkEvent{Index: 2, Link: moved}
	if u := next(t, ch); u.Kind != LinkChanged || u.Link.HardwareAddr.String() != mac.String() || !u.Link.Up {
		t.Fatalf("Watch: update = %+v, want LinkChanged with %s", u, mac)
	}

	f := &nameRTNL{subRTNL: newSubRTNL(), byName: map[string]link{"eth0": withIndex(upLink, 2)}}
	nch, nlinks, _, cancel := watchName(t, f, "eth0")
	defer cancel()
	next(t, nch)
	nlinks <- linkEvent{Index: 2, Link: upLink} // unchanged: nothing
	nlinks <- linkEvent{Index: 2, Link: moved}
	if u := next(t, nch); u.Kind != LinkChanged || u.Link.HardwareAddr.String() != mac.String() || u.Link.Index != 2 {
		t.Fatalf("WatchName: update = %+v, want LinkChanged with %s", u, mac)
	}
}

func TestWatchNameErrors(t *testing.T) {
	if _, err := (&Handle{rt: noopRTNL{}}).WatchName(t.Context(), ""); !errors.Is(err, ErrNoLink) {
		t.Errorf("WatchName(\"\"): %v, want ErrNoLink", err)
	}
}
