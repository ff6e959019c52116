//go:build integration

package integration

// TestNetlinkOS* check netlink.Handle against the real kernel: deprecated
// IPv6 VIPs, and WatchName following a link deleted and recreated, or given a
// new MAC. They reuse os_test.go's lab (osLab, osIn, osIfi, osWaitFor) with
// namespaces named "vnl<pid>-<seq>-<role>". Run with:
//
//	go test -tags integration ./integration/ -run TestNetlinkOS -v

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vipd/vipd/netlink"
)

var nlSeq atomic.Int32

// nlNewLab is osNewLab with this file's namespace prefix. The sandbox deletes
// the namespaces it made by name, whatever their prefix.
func nlNewLab(t *testing.T) *osLab {
	t.Helper()
	l := osNewLab(t)
	l.prefix = fmt.Sprintf("vnl%d-%d-", os.Getpid(), nlSeq.Add(1))
	l.sb.prefix = l.prefix
	return l
}

// nlOpen opens a Handle inside ns, closed when the test ends.
func nlOpen(t *testing.T, ns string) *netlink.Handle {
	t.Helper()
	var h *netlink.Handle
	osIn(t, ns, func() (err error) {
		h, err = netlink.Open()
		return err
	})
	t.Cleanup(func() { h.Close() })
	return h
}

// TestNetlinkOSDeprecatedVIP: an IPv6 VIP is deprecated (preferred lifetime
// 0, valid forever), still nodad and marked; an IPv4 VIP is as before.
func TestNetlinkOSDeprecatedVIP(t *testing.T) {
	l := nlNewLab(t)
	nsA, nsB := l.netns("a", true), l.netns("b", true)
	l.veth(nsA, "vnla0", nsB, "vnlb0")
	l.ip(nsA, "addr", "add", "198.18.0.1/24", "dev", "vnla0")
	l.ip(nsA, "addr", "add", "2001:db8::1/64", "dev", "vnla0", "nodad")
	ifA := osIfi(t, nsA, "vnla0")
	h := nlOpen(t, nsA)
	vip4, vip6 := netip.MustParseAddr("198.18.0.100"), netip.MustParseAddr("2001:db8::100")
	for _, v := range []netip.Addr{vip4, vip6} {
		if err := h.AddVIP(ifA.Index, v); err != nil {
			t.Fatalf("AddVIP(%s): %v", v, err)
		}
	}

	// The lifetimes are on the line after the address in `ip addr show`.
	show := func(args ...string) (addrLine, lftLine string) {
		lines := strings.Split(l.ip(nsA, append(args, "addr", "show", "dev", "vnla0")...), "\n")
		for i, line := range lines {
			if f := strings.Fields(line); len(f) >= 2 && (f[1] == vip6.String()+"/128" || f[1] == vip4.String()+"/32") {
				if i+1 < len(lines) {
					return line, lines[i+1]
				}
				return line, ""
			}
		}
		return "", ""
	}
	line, lft := show("-6")
	// iproute2 6.1 does not print the address protocol: Stale checks the mark.
	for _, want := range []string{"deprecated", "nodad"} {
		if !strings.Contains(line, want) {
			t.Errorf("IPv6 VIP line %q lacks %q", line, want)
		}
	}
	if !strings.Contains(lft, "valid_lft forever") || !strings.Contains(lft, "preferred_lft 0sec") {
		t.Errorf("IPv6 VIP lifetimes %q, want valid_lft forever preferred_lft 0sec", strings.TrimSpace(lft))
	}
	line, lft = show("-4")
	if line == "" || strings.Contains(line, "deprecated") {
		t.Errorf("IPv4 VIP line %q, want it not deprecated", line)
	}
	if !strings.Contains(lft, "valid_lft forever") || !strings.Contains(lft, "preferred_lft forever") {
		t.Errorf("IPv4 VIP lifetimes %q, want forever and forever", strings.TrimSpace(lft))
	}

	// Source selection avoids the VIP: a route to the peer's subnet picks
	// the host's own address.
	if got := l.ip(nsA, "-6", "route", "get", "2001:db8::2"); !strings.Contains(got, "src 2001:db8::1 ") {
		t.Errorf("ip route get 2001:db8::2 = %q, want src 2001:db8::1, not the VIP", strings.TrimSpace(got))
	}
	if ok, err := h.HasVIP(ifA.Index, vip6); err != nil || !ok {
		t.Errorf("HasVIP(%s) = %v, %v; want true", vip6, ok, err)
	}
	if stale, err := h.Stale(ifA.Index); err != nil || len(stale) != 2 {
		t.Errorf("Stale = %v, %v; want both VIPs, marked with IFA_PROTO", stale, err)
	}
}

// nlExpect reads ch until an update satisfies want, skipping others (the
// kernel reports more than the test causes: link-local addresses, operstate).
func nlExpect(t *testing.T, ch <-chan netlink.Update, what string, want func(netlink.Update) bool) netlink.Update {
	t.Helper()
	timeout := time.After(10 * time.Second)
	var seen []string
	for {
		select {
		case u, ok := <-ch:
			if !ok {
				t.Fatalf("WatchName channel closed waiting for %s; saw %v", what, seen)
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

// TestNetlinkOSWatchNameRecreated deletes a veth and creates one of the same
// name: WatchName reports the deletion, then the new link with its new index,
// and keeps reporting its addresses and state.
func TestNetlinkOSWatchNameRecreated(t *testing.T) {
	l := nlNewLab(t)
	nsA, nsB := l.netns("a", false), l.netns("b", false)
	l.veth(nsA, "vnla0", nsB, "vnlb0")
	l.ip(nsA, "addr", "add", "198.18.0.1/24", "dev", "vnla0")
	old := osIfi(t, nsA, "vnla0")
	h := nlOpen(t, nsA)
	osWaitFor(t, "vnla0 up", 5*time.Second, func() (bool, string) {
		s, _, err := h.LinkByName("vnla0")
		return err == nil && s.Up, fmt.Sprintf("%+v %v", s, err)
	})
	s, ps, err := h.LinkByName("vnla0")
	if err != nil || s.Index != old.Index || !containsPrefix(ps, "198.18.0.1/24") {
		t.Fatalf("LinkByName = %+v, %v, %v; want index %d with 198.18.0.1/24", s, ps, err, old.Index)
	}

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	ch, err := h.WatchName(ctx, "vnla0")
	if err != nil {
		t.Fatalf("WatchName: %v", err)
	}
	u := nlExpect(t, ch, "the initial state", func(u netlink.Update) bool { return true })
	if u.Kind != netlink.LinkChanged || u.Link.Index != old.Index || !u.Link.Up || !containsPrefix(u.Prefixes, "198.18.0.1/24") {
		t.Fatalf("first update = %+v, want vnla0 up at %d with its address", u, old.Index)
	}

	l.ip(nsA, "link", "del", "vnla0")
	u = nlExpect(t, ch, "vnla0 deleted", func(u netlink.Update) bool { return u.Kind == netlink.LinkDeleted })
	if u.Link.Index != old.Index || u.Link.Name != "vnla0" {
		t.Errorf("LinkDeleted = %+v, want vnla0 at %d", u.Link, old.Index)
	}
	if _, _, err := h.LinkByName("vnla0"); !errors.Is(err, netlink.ErrNoLink) {
		t.Errorf("LinkByName of the deleted link: %v, want ErrNoLink", err)
	}

	// Recreated, with the peer first so that the link's index moves on.
	l.ip(nsA, "link", "add", "vnla0", "type", "veth", "peer", "name", "vnlb0", "netns", nsB)
	u = nlExpect(t, ch, "vnla0 added again", func(u netlink.Update) bool { return u.Kind == netlink.LinkAdded })
	if u.Link.Index == old.Index || u.Link.Index == 0 || u.Link.Name != "vnla0" {
		t.Fatalf("LinkAdded = %+v, want vnla0 with a new index (old %d)", u.Link, old.Index)
	}
	newIndex := u.Link.Index
	if ifi := osIfi(t, nsA, "vnla0"); ifi.Index != newIndex {
		t.Fatalf("LinkAdded index %d, the kernel says %d", newIndex, ifi.Index)
	}
	l.ip(nsA, "link", "set", "vnla0", "up")
	l.ip(nsB, "link", "set", "vnlb0", "up")
	u = nlExpect(t, ch, "the new vnla0 up", func(u netlink.Update) bool { return u.Kind == netlink.LinkChanged && u.Link.Up })
	if u.Link.Index != newIndex {
		t.Errorf("LinkChanged index %d, want %d", u.Link.Index, newIndex)
	}
	// A source address arriving late (DHCP) is reported on the new link.
	l.ip(nsA, "addr", "add", "198.18.0.7/24", "dev", "vnla0")
	nlExpect(t, ch, "198.18.0.7 added", func(u netlink.Update) bool {
		return u.Kind == netlink.AddrAdded && u.Addr == netip.MustParseAddr("198.18.0.7")
	})
	l.ip(nsA, "addr", "del", "198.18.0.7/24", "dev", "vnla0")
	nlExpect(t, ch, "198.18.0.7 removed", func(u netlink.Update) bool {
		return u.Kind == netlink.AddrRemoved && u.Addr == netip.MustParseAddr("198.18.0.7")
	})
	if s, _, err := h.LinkByName("vnla0"); err != nil || s.Index != newIndex || !s.Up {
		t.Errorf("LinkByName = %+v, %v; want up at %d", s, err, newIndex)
	}
}

// TestNetlinkOSWatchNameMAC changes a link's MAC and nothing else: LinkChanged
// with the new MAC, from WatchName and from Watch.
func TestNetlinkOSWatchNameMAC(t *testing.T) {
	l := nlNewLab(t)
	nsA, nsB := l.netns("a", false), l.netns("b", false)
	l.veth(nsA, "vnla0", nsB, "vnlb0")
	ifA := osIfi(t, nsA, "vnla0")
	h := nlOpen(t, nsA)
	osWaitFor(t, "vnla0 up", 5*time.Second, func() (bool, string) {
		s, _, err := h.LinkByName("vnla0")
		return err == nil && s.Up, fmt.Sprintf("%+v %v", s, err)
	})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	byName, err := h.WatchName(ctx, "vnla0")
	if err != nil {
		t.Fatalf("WatchName: %v", err)
	}
	byIndex, err := h.Watch(ctx, ifA.Index)
	if err != nil {
		t.Fatalf("Watch: %v", err)
	}
	nlExpect(t, byName, "the initial state", func(u netlink.Update) bool { return u.Kind == netlink.LinkChanged })
	nlExpect(t, byIndex, "the initial state", func(u netlink.Update) bool { return u.Kind == netlink.LinkChanged })

	const mac = "02:00:5e:00:01:42"
	l.ip(nsA, "link", "set", "dev", "vnla0", "address", mac)
	for name, ch := range map[string]<-chan netlink.Update{"WatchName": byName, "Watch": byIndex} {
		u := nlExpect(t, ch, name+": the new MAC", func(u netlink.Update) bool {
			return u.Kind == netlink.LinkChanged && u.Link.HardwareAddr.String() == mac
		})
		if u.Link.Index != ifA.Index || !u.Link.Up {
			t.Errorf("%s: LinkChanged = %+v, want up at %d", name, u.Link, ifA.Index)
		}
	}
	if s, _, err := h.LinkByName("vnla0"); err != nil || s.HardwareAddr.String() != mac {
		t.Errorf("LinkByName = %+v, %v; want MAC %s", s, err, mac)
	}
}

func containsPrefix(ps []netip.Prefix, want string) bool {
	w := netip.MustParsePrefix(want)
	for _, p := range ps {
		if p == w {
			return true
		}
	}
	return false
}
