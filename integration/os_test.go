//go:build integration

package integration

// TestOS* check vipd's OS boundary against the real kernel: the raw VRRP socket
// (vrrp.Conn), VIP addresses and link state over rtnetlink (netlink.Handle), and
// gratuitous ARP / unsolicited NA (arp.Announcer).
//
// Each test builds its own namespaces named "vt<pid>-<seq>-<role>" on a
// sandbox (sandbox.go), joined by veth pairs created inside them; addresses are 198.18.0.0/15 and
// 2001:db8::/32 (plus link-local). Nothing is created in, or sent through, the
// root namespace. Go code that must run inside a namespace (opening sockets and
// netlink handles, listing interfaces) runs on a locked throwaway OS thread
// (osIn). Run with:
//
//	go test -tags integration ./integration/ -run TestOS -v

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	mdarp "github.com/mdlayher/arp"
	"github.com/mdlayher/ethernet"
	"github.com/mdlayher/ndp"
	"github.com/mdlayher/packet"
	"golang.org/x/net/ipv6"

	"github.com/vipd/vipd/arp"
	"github.com/vipd/vipd/netlink"
	"github.com/vipd/vipd/vrrp"
)

// osLab is one test's namespaces, on a sandbox (sandbox.go) that deletes
// them when the test ends.
type osLab struct {
	t      *testing.T
	sb     *sandbox
	prefix string
}

// osNewLab checks for root (failing, not skipping: CI runs these as root) and
// returns a lab whose namespaces are deleted when the test ends.
func osNewLab(t *testing.T) *osLab {
	t.Helper()
	sb := newSandbox(t)
	return &osLab{t: t, sb: sb, prefix: sb.prefix}
}

// run runs a command and fails the test if it fails.
func (l *osLab) run(name string, args ...string) string {
	l.t.Helper()
	return l.sb.Run(append([]string{name}, args...)...)
}

// ip runs ip(8) in namespace ns.
func (l *osLab) ip(ns string, args ...string) string {
	l.t.Helper()
	return l.sb.IP(ns, args...)
}

// netns creates a namespace with loopback up. With dad false it turns IPv6
// duplicate address detection off, so link-local addresses are usable at once.
func (l *osLab) netns(role string, dad bool) string {
	l.t.Helper()
	if dad {
		return l.sb.Netns(role, keepDAD())
	}
	return l.sb.Netns(role)
}

// veth joins ifA in nsA to ifB in nsB, both up, created straight in their
// namespaces.
func (l *osLab) veth(nsA, ifA, nsB, ifB string) {
	l.t.Helper()
	l.sb.Veth(nsA, ifA, nsB, ifB)
}

// osIn runs fn inside namespace ns (see inNetns) and fails the test on error.
func osIn(t *testing.T, ns string, fn func() error) {
	t.Helper()
	if err := inNetns(ns, fn); err != nil {
		t.Fatalf("in %s: %v", ns, err)
	}
}

// osIfi looks up an interface inside ns.
func osIfi(t *testing.T, ns, name string) *net.Interface {
	t.Helper()
	var ifi *net.Interface
	osIn(t, ns, func() (err error) {
		ifi, err = net.InterfaceByName(name)
		return err
	})
	return ifi
}

// osLinkLocal returns the link-local address of an interface inside ns.
func osLinkLocal(t *testing.T, ns string, ifi *net.Interface) netip.Addr {
	t.Helper()
	var ll netip.Addr
	osIn(t, ns, func() error {
		addrs, err := ifi.Addrs()
		if err != nil {
			return err
		}
		for _, a := range addrs {
			if p, err := netip.ParsePrefix(a.String()); err == nil && p.Addr().Is6() && p.Addr().IsLinkLocalUnicast() {
				ll = p.Addr()
				return nil
			}
		}
		return fmt.Errorf("no link-local address on %s", ifi.Name)
	})
	return ll
}

// osWaitFor polls cond until it holds or the deadline passes.
func osWaitFor(t *testing.T, what string, timeout time.Duration, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var last string
	for {
		ok, state := cond()
		if ok {
			return
		}
		last = state
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s; last: %s", timeout, what, last)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// osListen opens a vrrp.Conn inside ns and closes it when the test ends.
func osListen(t *testing.T, ns string, cfg vrrp.ConnConfig) *vrrp.Conn {
	t.Helper()
	var c *vrrp.Conn
	osIn(t, ns, func() (err error) {
		c, err = vrrp.Listen(cfg)
		return err
	})
	t.Cleanup(func() { c.Close() })
	return c
}

// osRead reads one packet with a deadline.
func osRead(c *vrrp.Conn, timeout time.Duration) (vrrp.Packet, error) {
	if err := c.SetReadDeadline(time.Now().Add(timeout)); err != nil {
		return vrrp.Packet{}, err
	}
	return c.Read(make([]byte, vrrp.MaxLen))
}

// osAdvert encodes a version 3 advertisement from src to dst.
func osAdvert(t *testing.T, vrid uint8, src, dst netip.Addr, vips ...netip.Addr) []byte {
	t.Helper()
	a := vrrp.Advertisement{
		Version:   3,
		Type:      vrrp.TypeAdvertisement,
		VRID:      vrid,
		Priority:  150,
		Interval:  time.Second,
		Addresses: vips,
	}
	b, err := a.AppendBinary(nil, src, dst, vrrp.ChecksumPseudoHeader)
	if err != nil {
		t.Fatalf("encode advertisement: %v", err)
	}
	return b
}

// osNoPacket checks that nothing arrives on c within d.
func osNoPacket(t *testing.T, c *vrrp.Conn, d time.Duration, why string) {
	t.Helper()
	p, err := osRead(c, d)
	if err == nil {
		t.Fatalf("%s: got a packet from %s to %s", why, p.Src, p.Dst)
	}
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("%s: Read: %v, want a deadline error", why, err)
	}
}

// TestOSConn exchanges version 3 advertisements between two namespaces, over
// multicast and unicast, IPv4 and IPv6, and checks what the receiver learns
// from the IP layer.
func TestOSConn(t *testing.T) {
	l := osNewLab(t)
	nsA, nsB := l.netns("a", false), l.netns("b", false)
	l.veth(nsA, "vosa0", nsB, "vosb0")
	l.ip(nsA, "addr", "add", "198.18.0.1/24", "dev", "vosa0")
	l.ip(nsB, "addr", "add", "198.18.0.2/24", "dev", "vosb0")
	ifA, ifB := osIfi(t, nsA, "vosa0"), osIfi(t, nsB, "vosb0")
	llA, llB := osLinkLocal(t, nsA, ifA), osLinkLocal(t, nsB, ifB)
	v4A, v4B := netip.MustParseAddr("198.18.0.1"), netip.MustParseAddr("198.18.0.2")

	tests := []struct {
		name     string
		family   int
		srcA     netip.Addr
		srcB     netip.Addr
		unicast  bool
		vip      netip.Addr
		zeroCsum bool // IPv6: send with the checksum zeroed; the kernel fills it in
	}{
		{name: "IPv4 multicast", family: 4, srcA: v4A, srcB: v4B, vip: netip.MustParseAddr("198.18.0.100")},
		{name: "IPv4 unicast", family: 4, srcA: v4A, srcB: v4B, unicast: true, vip: netip.MustParseAddr("198.18.0.100")},
		{name: "IPv6 multicast", family: 6, srcA: llA, srcB: llB, vip: netip.MustParseAddr("fe80::100"), zeroCsum: true},
		{name: "IPv6 unicast", family: 6, srcA: llA, srcB: llB, unicast: true, vip: netip.MustParseAddr("fe80::100"), zeroCsum: true},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfgA := vrrp.ConnConfig{Interface: ifA, Family: tt.family, Source: tt.srcA}
			cfgB := vrrp.ConnConfig{Interface: ifB, Family: tt.family, Source: tt.srcB}
			if tt.unicast {
				cfgA.Peers = []netip.Addr{tt.srcB}
				cfgB.Peers = []netip.Addr{tt.srcA}
			}
			a, b := osListen(t, nsA, cfgA), osListen(t, nsB, cfgB)

			send := func(from *vrrp.Conn, src netip.Addr, to *vrrp.Conn, ifi *net.Interface) {
				t.Helper()
				dst := from.Destinations()[0]
				msg := osAdvert(t, uint8(10+i), src, dst, tt.vip)
				sent := slices.Clone(msg)
				if tt.zeroCsum {
					sent[6], sent[7] = 0, 0
				}
				if err := from.WriteTo(sent, dst); err != nil {
					t.Fatalf("WriteTo(%s): %v", dst, err)
				}
				p, err := osRead(to, 5*time.Second)
				if err != nil {
					t.Fatalf("Read: %v", err)
				}
				if p.TTL != 255 {
					t.Errorf("TTL/hop limit = %d, want 255", p.TTL)
				}
				if p.Src != src || p.Dst != dst || p.IfIndex != ifi.Index {
					t.Errorf("packet from %s to %s on ifindex %d, want from %s to %s on %d",
						p.Src, p.Dst, p.IfIndex, src, dst, ifi.Index)
				}
				if !bytes.Equal(p.Payload, msg) {
					t.Errorf("payload (-want +got):\n-% x\n+% x", msg, p.Payload)
				}
				adv, form, err := vrrp.Parse(p.Payload, p.Src, p.Dst)
				if err != nil {
					t.Fatalf("Parse: %v", err)
				}
				if form != vrrp.ChecksumPseudoHeader || adv.VRID != uint8(10+i) || !slices.Equal(adv.Addresses, []netip.Addr{tt.vip}) {
					t.Errorf("parsed %+v (%v)", adv, form)
				}
			}

			if tt.unicast {
				if d := a.Destinations(); !slices.Equal(d, []netip.Addr{tt.srcB}) {
					t.Fatalf("Destinations = %v, want the peer", d)
				}
			} else {
				group := vrrp.GroupIPv4
				if tt.family == 6 {
					group = vrrp.GroupIPv6
				}
				if d := a.Destinations(); !slices.Equal(d, []netip.Addr{group}) {
					t.Fatalf("Destinations = %v, want %s", d, group)
				}
			}
			send(a, tt.srcA, b, ifB)
			// Multicast loopback is off: the sender does not read its own advert.
			osNoPacket(t, a, 300*time.Millisecond, "sender")
			send(b, tt.srcB, a, ifA)
		})
	}

	t.Run("Close unblocks Read", func(t *testing.T) {
		c := osListen(t, nsA, vrrp.ConnConfig{Interface: ifA, Family: 4, Source: v4A})
		errc := make(chan error, 1)
		go func() {
			_, err := c.Read(make([]byte, vrrp.MaxLen))
			errc <- err
		}()
		time.Sleep(50 * time.Millisecond) // let Read block; the assertion does not depend on it
		c.Close()
		select {
		case err := <-errc:
			if !errors.Is(err, net.ErrClosed) {
				t.Fatalf("Read after Close: %v, want net.ErrClosed", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("Read still blocked after Close")
		}
	})
}

// TestOSConnBoundToDevice checks that a Conn on one interface sees nothing
// that arrives on another interface of the same namespace, multicast or
// unicast, while a Conn on that other interface does.
func TestOSConnBoundToDevice(t *testing.T) {
	l := osNewLab(t)
	nsA, nsB, nsC := l.netns("a", false), l.netns("b", false), l.netns("c", false)
	l.veth(nsA, "vosa0", nsB, "vosb0") // A — B on 198.18.0.0/24
	l.veth(nsC, "vosc0", nsB, "vosb1") // C — B on 198.18.1.0/24
	l.ip(nsA, "addr", "add", "198.18.0.1/24", "dev", "vosa0")
	l.ip(nsB, "addr", "add", "198.18.0.2/24", "dev", "vosb0")
	l.ip(nsB, "addr", "add", "198.18.1.2/24", "dev", "vosb1")
	l.ip(nsC, "addr", "add", "198.18.1.3/24", "dev", "vosc0")
	ifB0, ifB1, ifC := osIfi(t, nsB, "vosb0"), osIfi(t, nsB, "vosb1"), osIfi(t, nsC, "vosc0")
	v4B0, v4B1, v4C := netip.MustParseAddr("198.18.0.2"), netip.MustParseAddr("198.18.1.2"), netip.MustParseAddr("198.18.1.3")
	vip := netip.MustParseAddr("198.18.0.100")

	for _, tt := range []struct {
		name    string
		unicast bool
	}{{"multicast", false}, {"unicast", true}} {
		t.Run(tt.name, func(t *testing.T) {
			cfgC := vrrp.ConnConfig{Interface: ifC, Family: 4, Source: v4C}
			cfgB1 := vrrp.ConnConfig{Interface: ifB1, Family: 4, Source: v4B1}
			// The Conn under test, on vosb0, in the same mode: in unicast
			// mode it would take C's packets if the socket were not bound,
			// since a raw socket gets every protocol 112 packet delivered to
			// the namespace.
			cfgB0 := vrrp.ConnConfig{Interface: ifB0, Family: 4, Source: v4B0}
			if tt.unicast {
				cfgC.Peers = []netip.Addr{v4B1}
				cfgB1.Peers = []netip.Addr{v4C}
				cfgB0.Peers = []netip.Addr{v4C}
			}
			b0 := osListen(t, nsB, cfgB0)
			b1 := osListen(t, nsB, cfgB1)
			c := osListen(t, nsC, cfgC)

			dst := c.Destinations()[0]
			if err := c.WriteTo(osAdvert(t, 7, v4C, dst, vip), dst); err != nil {
				t.Fatalf("WriteTo: %v", err)
			}
			p, err := osRead(b1, 5*time.Second)
			if err != nil {
				t.Fatalf("Conn on vosb1 (control): %v", err)
			}
			if p.IfIndex != ifB1.Index || p.Src != v4C || p.Dst != dst {
				t.Fatalf("control got from %s to %s on ifindex %d", p.Src, p.Dst, p.IfIndex)
			}
			osNoPacket(t, b0, 500*time.Millisecond, "Conn on vosb0")
		})
	}
}

// addrLine returns the line of `ip addr show` in ns that lists prefix on dev,
// or "".
func (l *osLab) addrLine(ns, dev string, p netip.Prefix) string {
	l.t.Helper()
	for _, line := range strings.Split(l.ip(ns, "addr", "show", "dev", dev), "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && (f[0] == "inet" || f[0] == "inet6") && f[1] == p.String() {
			return line
		}
	}
	return ""
}

// TestOSNetlinkVIP adds, finds, marks and removes VIPs, and finds the VIPs a
// vipd left behind from a fresh Handle, as a restarted vipd would.
func TestOSNetlinkVIP(t *testing.T) {
	l := osNewLab(t)
	// DAD stays on here, to show that VIPs skip it.
	nsA, nsB := l.netns("a", true), l.netns("b", true)
	l.veth(nsA, "vosa0", nsB, "vosb0")
	l.ip(nsA, "addr", "add", "198.18.0.1/24", "dev", "vosa0")
	l.ip(nsA, "addr", "add", "2001:db8::1/64", "dev", "vosa0")
	ifA := osIfi(t, nsA, "vosa0")
	vip4, vip6 := netip.MustParseAddr("198.18.0.100"), netip.MustParseAddr("2001:db8::100")
	foreign := netip.MustParseAddr("198.18.0.101") // added by the operator, not vipd
	l.ip(nsA, "addr", "add", "198.18.0.101/32", "dev", "vosa0")

	open := func() *netlink.Handle {
		t.Helper()
		var h *netlink.Handle
		osIn(t, nsA, func() (err error) {
			h, err = netlink.Open()
			return err
		})
		t.Cleanup(func() { h.Close() })
		return h
	}

	first := open()
	for _, vip := range []netip.Addr{vip4, vip6} {
		if err := first.AddVIP(ifA.Index, vip); err != nil {
			t.Fatalf("AddVIP(%s): %v", vip, err)
		}
		if err := first.AddVIP(ifA.Index, vip); err != nil {
			t.Fatalf("AddVIP(%s) again: %v, want success", vip, err)
		}
		if ok, err := first.HasVIP(ifA.Index, vip); err != nil || !ok {
			t.Fatalf("HasVIP(%s) = %v, %v; want true", vip, ok, err)
		}
	}
	if line := l.addrLine(nsA, "vosa0", netip.PrefixFrom(vip4, 32)); line == "" {
		t.Errorf("ip addr does not list %s/32", vip4)
	}
	line6 := l.addrLine(nsA, "vosa0", netip.PrefixFrom(vip6, 128))
	if line6 == "" || strings.Contains(line6, "tentative") || !strings.Contains(line6, "nodad") {
		t.Errorf("ip addr lists the IPv6 VIP as %q, want /128 nodad, not tentative", line6)
	}
	// The primary address is 198.18.0.1/24: not a VIP.
	if ok, err := first.HasVIP(ifA.Index, netip.MustParseAddr("198.18.0.1")); err != nil || ok {
		t.Errorf("HasVIP(198.18.0.1, a /24) = %v, %v; want false", ok, err)
	}
	if ok, err := first.HasVIP(ifA.Index, foreign); err != nil || !ok {
		t.Errorf("HasVIP(%s) = %v, %v; want true (unmarked /32)", foreign, ok, err)
	}

	// vipd is killed: the first Handle is just dropped. A new one finds the
	// marked VIPs and only them.
	first.Close()
	second := open()
	stale, err := second.Stale(ifA.Index)
	if err != nil {
		t.Fatalf("Stale: %v", err)
	}
	slices.SortFunc(stale, netip.Addr.Compare)
	if want := []netip.Addr{vip4, vip6}; !slices.Equal(stale, want) {
		t.Fatalf("Stale = %v, want %v", stale, want)
	}
	for _, vip := range stale {
		if err := second.DelVIP(ifA.Index, vip); err != nil {
			t.Fatalf("DelVIP(%s): %v", vip, err)
		}
		if err := second.DelVIP(ifA.Index, vip); err != nil {
			t.Fatalf("DelVIP(%s) again: %v, want success", vip, err)
		}
		if ok, err := second.HasVIP(ifA.Index, vip); err != nil || ok {
			t.Fatalf("HasVIP(%s) after DelVIP = %v, %v; want false", vip, ok, err)
		}
	}
	if stale, err := second.Stale(ifA.Index); err != nil || len(stale) != 0 {
		t.Fatalf("Stale after cleanup = %v, %v; want none", stale, err)
	}
	if ok, _ := second.HasVIP(ifA.Index, foreign); !ok {
		t.Error("the operator's address went away")
	}
	if _, err := second.Stale(9999); !errors.Is(err, netlink.ErrNoLink) {
		t.Errorf("Stale(missing link): %v, want ErrNoLink", err)
	}
	if err := second.AddVIP(9999, vip4); !errors.Is(err, netlink.ErrNoLink) {
		t.Errorf("AddVIP(missing link): %v, want ErrNoLink", err)
	}
}

// TestOSNetlinkWatch follows a veth's state through its peer going down and
// up, itself going down and being deleted, and addresses coming and going.
func TestOSNetlinkWatch(t *testing.T) {
	l := osNewLab(t)
	nsA, nsB := l.netns("a", false), l.netns("b", false)
	l.veth(nsA, "vosa0", nsB, "vosb0")
	ifA := osIfi(t, nsA, "vosa0")
	vip := netip.MustParseAddr("198.18.0.100")

	var h *netlink.Handle
	osIn(t, nsA, func() (err error) {
		h, err = netlink.Open()
		return err
	})
	t.Cleanup(func() { h.Close() })

	osWaitFor(t, "vosa0 up", 5*time.Second, func() (bool, string) {
		s, err := h.Link(ifA.Index)
		return err == nil && s.Up, fmt.Sprintf("%+v %v", s, err)
	})

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	ch, err := h.Watch(ctx, ifA.Index)
	if err != nil {
		t.Fatalf("Watch: %v", err)
	}
	// expect skips updates until want matches, as the kernel may report
	// more than the test caused (IPv6 link-local addresses, for one).
	expect := func(what string, want func(netlink.Update) bool) netlink.Update {
		t.Helper()
		timeout := time.After(10 * time.Second)
		var seen []string
		for {
			select {
			case u, ok := <-ch:
				if !ok {
					t.Fatalf("Watch channel closed waiting for %s; saw %v", what, seen)
				}
				if want(u) {
					return u
				}
				seen = append(seen, fmt.Sprintf("%v%+v", u.Kind, u))
			case <-timeout:
				t.Fatalf("no update for %s; saw %v", what, seen)
			}
		}
	}
	linkIs := func(up bool) func(netlink.Update) bool {
		return func(u netlink.Update) bool { return u.Kind == netlink.LinkChanged && u.Link.Up == up }
	}

	u := expect("the initial state", func(u netlink.Update) bool { return u.Kind == netlink.LinkChanged })
	if !u.Link.Up || u.Link.Name != "vosa0" || u.Link.HardwareAddr.String() != ifA.HardwareAddr.String() {
		t.Fatalf("initial update = %+v, want vosa0 up with its MAC", u.Link)
	}

	l.ip(nsB, "link", "set", "vosb0", "down")
	expect("down when the veth peer goes down", linkIs(false))
	t.Logf("vosa0 with its peer down: %s", strings.TrimSpace(l.ip(nsA, "-br", "link", "show", "dev", "vosa0")))
	if s, err := h.Link(ifA.Index); err != nil || s.Up {
		t.Errorf("Link with the peer down = %+v, %v; want down", s, err)
	}
	l.ip(nsB, "link", "set", "vosb0", "up")
	expect("up when the peer comes back", linkIs(true))
	l.ip(nsA, "link", "set", "vosa0", "down")
	expect("down when set down", linkIs(false))
	l.ip(nsA, "link", "set", "vosa0", "up")
	expect("up again", linkIs(true))

	if err := h.AddVIP(ifA.Index, vip); err != nil {
		t.Fatalf("AddVIP: %v", err)
	}
	expect("the VIP added", func(u netlink.Update) bool { return u.Kind == netlink.AddrAdded && u.Addr == vip })
	l.ip(nsA, "addr", "del", "198.18.0.100/32", "dev", "vosa0")
	expect("the VIP removed by someone else", func(u netlink.Update) bool { return u.Kind == netlink.AddrRemoved && u.Addr == vip })

	l.ip(nsB, "link", "del", "vosb0") // deletes the pair
	expect("down when the veth is deleted", linkIs(false))
	if _, err := h.Link(ifA.Index); !errors.Is(err, netlink.ErrNoLink) {
		t.Errorf("Link of a deleted link: %v, want ErrNoLink", err)
	}

	cancel()
	timeout := time.After(5 * time.Second)
	for {
		select {
		case _, ok := <-ch:
			if !ok {
				return
			}
		case <-timeout:
			t.Fatal("Watch channel not closed after the context ended")
		}
	}
}

// neighLLAddr returns the link-layer address of addr in ns's neighbour table.
func (l *osLab) neighLLAddr(ns, dev string, addr netip.Addr) string {
	l.t.Helper()
	f := strings.Fields(l.ip(ns, "neigh", "show", addr.String(), "dev", dev))
	if i := slices.Index(f, "lladdr"); i >= 0 && i+1 < len(f) {
		return f[i+1]
	}
	return ""
}

// osSniffARP reads ARP frames on ifi inside ns until it has n announcing addr.
func osSniffARP(t *testing.T, ns string, ifi *net.Interface) func(addr netip.Addr, n int) []*mdarp.Packet {
	t.Helper()
	var c *packet.Conn
	osIn(t, ns, func() (err error) {
		c, err = packet.Listen(ifi, packet.Raw, 0x0806, nil)
		return err
	})
	t.Cleanup(func() { c.Close() })
	return func(addr netip.Addr, n int) []*mdarp.Packet {
		t.Helper()
		var got []*mdarp.Packet
		b := make([]byte, 1500)
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		for len(got) < n {
			m, _, err := c.ReadFrom(b)
			if err != nil {
				t.Fatalf("sniffing ARP: %v (have %d of %d)", err, len(got), n)
			}
			var f ethernet.Frame
			if err := f.UnmarshalBinary(b[:m]); err != nil {
				continue
			}
			var p mdarp.Packet
			if err := p.UnmarshalBinary(f.Payload); err != nil || p.TargetIP != addr || p.SenderIP != addr {
				continue
			}
			if f.Destination.String() != ethernet.Broadcast.String() {
				t.Errorf("ARP %v sent to %s, want broadcast", p.Operation, f.Destination)
			}
			got = append(got, &p)
		}
		return got
	}
}

// osSniffNA reads ICMPv6 inside ns until a Neighbor Advertisement for addr.
func osSniffNA(t *testing.T, ns string) func(addr netip.Addr) (*ndp.NeighborAdvertisement, *ipv6.ControlMessage, netip.Addr) {
	t.Helper()
	var c net.PacketConn
	osIn(t, ns, func() (err error) {
		c, err = net.ListenPacket("ip6:ipv6-icmp", "::")
		return err
	})
	t.Cleanup(func() { c.Close() })
	pc := ipv6.NewPacketConn(c)
	if err := pc.SetControlMessage(ipv6.FlagHopLimit|ipv6.FlagDst|ipv6.FlagInterface, true); err != nil {
		t.Fatal(err)
	}
	return func(addr netip.Addr) (*ndp.NeighborAdvertisement, *ipv6.ControlMessage, netip.Addr) {
		t.Helper()
		b := make([]byte, 1500)
		pc.SetReadDeadline(time.Now().Add(5 * time.Second))
		for {
			n, cm, src, err := pc.ReadFrom(b)
			if err != nil {
				t.Fatalf("sniffing ICMPv6: %v", err)
			}
			m, err := ndp.ParseMessage(b[:n])
			if err != nil {
				continue
			}
			if na, ok := m.(*ndp.NeighborAdvertisement); ok && na.TargetAddress == addr {
				from, _ := netip.AddrFromSlice(src.(*net.IPAddr).IP)
				return na, cm, from
			}
		}
	}
}

// TestOSAnnounce checks that a peer updates its neighbour entries for a VIP from
// gratuitous ARP and an unsolicited NA, and what those look like on the wire.
// Linux updates an existing entry from them but creates none, so the peer
// starts with a stale entry pointing elsewhere.
func TestOSAnnounce(t *testing.T) {
	l := osNewLab(t)
	nsA, nsB := l.netns("a", false), l.netns("b", false)
	l.veth(nsA, "vosa0", nsB, "vosb0")
	l.ip(nsA, "addr", "add", "198.18.0.1/24", "dev", "vosa0")
	l.ip(nsB, "addr", "add", "198.18.0.2/24", "dev", "vosb0")
	l.ip(nsA, "addr", "add", "2001:db8::1/64", "dev", "vosa0")
	l.ip(nsB, "addr", "add", "2001:db8::2/64", "dev", "vosb0")
	ifA, ifB := osIfi(t, nsA, "vosa0"), osIfi(t, nsB, "vosb0")
	llA := osLinkLocal(t, nsA, ifA)
	mac := ifA.HardwareAddr.String()
	const wrong = "02:00:5e:00:00:99"
	sniffARP, sniffNA := osSniffARP(t, nsB, ifB), osSniffNA(t, nsB)

	var a *arp.Announcer
	osIn(t, nsA, func() (err error) {
		a, err = arp.Dial(ifA)
		return err
	})
	t.Cleanup(func() { a.Close() })

	for _, vip := range []netip.Addr{netip.MustParseAddr("198.18.0.100"), netip.MustParseAddr("2001:db8::100")} {
		t.Run(vip.String(), func(t *testing.T) {
			l.ip(nsB, "neigh", "add", vip.String(), "lladdr", wrong, "dev", "vosb0", "nud", "stale")
			if got := l.neighLLAddr(nsB, "vosb0", vip); got != wrong {
				t.Fatalf("peer's entry before = %q, want %s", got, wrong)
			}
			// The IPv6 socket is opened here, at the first IPv6 announcement,
			// and looks up the link-local address in the calling thread's
			// namespace: announce from inside A.
			osIn(t, nsA, func() error { return a.Announce(vip) })
			osWaitFor(t, "the peer's entry to point at vosa0", 5*time.Second, func() (bool, string) {
				got := l.neighLLAddr(nsB, "vosb0", vip)
				return got == mac, got
			})

			if vip.Is4() {
				ps := sniffARP(vip, 2)
				for i, op := range []mdarp.Operation{mdarp.OperationRequest, mdarp.OperationReply} {
					p := ps[i]
					wantTHA := "00:00:00:00:00:00"
					if op == mdarp.OperationReply {
						wantTHA = mac
					}
					if p.Operation != op || p.SenderIP != vip || p.SenderHardwareAddr.String() != mac || p.TargetHardwareAddr.String() != wantTHA {
						t.Errorf("ARP %d = %+v, want %v from %s %s, target hardware address %s", i, p, op, vip, mac, wantTHA)
					}
				}
			} else {
				na, cm, src := sniffNA(vip)
				if !na.Override || na.Solicited || na.Router {
					t.Errorf("NA flags R=%v S=%v O=%v, want O only", na.Router, na.Solicited, na.Override)
				}
				var lla *ndp.LinkLayerAddress
				if len(na.Options) == 1 {
					lla, _ = na.Options[0].(*ndp.LinkLayerAddress)
				}
				if lla == nil || lla.Direction != ndp.Target || lla.Addr.String() != mac {
					t.Errorf("NA options %v, want the target link-layer address %s", na.Options, mac)
				}
				if cm == nil || cm.HopLimit != 255 || !cm.Dst.Equal(net.ParseIP("ff02::1")) || src.WithZone("") != llA {
					t.Errorf("NA from %s, control message %v; want from %s to ff02::1, hop limit 255", src, cm, llA)
				}
			}

			// Announcing again reuses the sockets.
			if err := a.Announce(vip); err != nil {
				t.Fatalf("second Announce: %v", err)
			}
		})
	}
}
