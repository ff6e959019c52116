package daemon

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/vipd/vipd/config"
	"github.com/vipd/vipd/netlink"
)

// fakeLinks is the kernel behind a linkHub: each WatchName is a subscription
// of its own, which the test feeds and breaks.
type fakeLinks struct {
	mu       sync.Mutex
	link     netlink.LinkState // Index 0: no such link
	lookErr  error             // what LinkByName returns, when set
	watchErr error             // what WatchName returns, when set
	subs     []*fakeLinkSub
}

type fakeLinkSub struct {
	name string
	ctx  context.Context
	in   chan netlink.Update // the test's Updates
	fail chan struct{}       // closed: the subscription breaks (ENOBUFS)
}

func (f *fakeLinks) LinkByName(name string) (netlink.LinkState, []netip.Prefix, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case f.lookErr != nil:
		return netlink.LinkState{}, nil, f.lookErr
	case f.link.Index == 0 || f.link.Name != name:
		return netlink.LinkState{}, nil, netlink.ErrNoLink
	}
	return f.link, []netip.Prefix{netip.MustParsePrefix("198.18.0.11/24")}, nil
}

// WatchName keeps netlink's contract: the state first, then what the test
// sends, until ctx ends or the test breaks it.
func (f *fakeLinks) WatchName(ctx context.Context, name string) (<-chan netlink.Update, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.watchErr != nil {
		return nil, f.watchErr
	}
	s := &fakeLinkSub{name: name, ctx: ctx, in: make(chan netlink.Update), fail: make(chan struct{})}
	f.subs = append(f.subs, s)
	first := netlink.Update{Kind: netlink.LinkChanged, Link: f.link}
	if f.link.Index == 0 || f.link.Name != name {
		first = netlink.Update{Kind: netlink.LinkDeleted, Link: netlink.LinkState{Name: name}}
	}
	out := make(chan netlink.Update)
	go func() {
		defer close(out)
		pending := []netlink.Update{first}
		for {
			var send chan netlink.Update
			var next netlink.Update
			if len(pending) > 0 {
				send, next = out, pending[0]
			}
			select {
			case <-ctx.Done():
				return
			case <-s.fail:
				return
			case send <- next:
				pending = pending[1:]
			case u := <-s.in:
				pending = append(pending, u)
			}
		}
	}()
	return out, nil
}

// opened returns the subscriptions opened so far.
func (f *fakeLinks) opened() []*fakeLinkSub {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.subs)
}

func (s *fakeLinkSub) live() bool { return s.ctx.Err() == nil }

// recv returns the next Update on ch, or ok false if ch is closed; it fails
// the test if nothing is there once every goroutine has settled.
func recv(t *testing.T, ch <-chan netlink.Update) (netlink.Update, bool) {
	t.Helper()
	synctest.Wait()
	select {
	case u, ok := <-ch:
		return u, ok
	default:
		t.Fatal("no Update and not closed")
		return netlink.Update{}, false
	}
}

// quiet fails the test if ch has anything (an Update or its close).
func quiet(t *testing.T, ch <-chan netlink.Update, who string) {
	t.Helper()
	synctest.Wait()
	select {
	case u, ok := <-ch:
		t.Fatalf("%s: got %v (open %v), want nothing", who, u.Kind, ok)
	default:
	}
}

func watch(t *testing.T, h *linkHub, ctx context.Context, name string) <-chan netlink.Update {
	t.Helper()
	ch, err := h.WatchName(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	return ch
}

// Watchers of one name share one subscription; each gets the state first and
// then every Update; another name has a subscription of its own.
func TestLinkHubFansOut(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &fakeLinks{link: netlink.LinkState{Name: "eth0", Index: 2, Up: true}}
		h := newLinkHub(f)
		a := watch(t, h, t.Context(), "eth0")
		synctest.Wait() // the subscription's first Update is a's alone
		b := watch(t, h, t.Context(), "eth0")
		c := watch(t, h, t.Context(), "eth1")
		if n := len(f.opened()); n != 2 {
			t.Fatalf("%d subscriptions opened for eth0, eth0, eth1; want 2", n)
		}
		if u, _ := recv(t, a); u.Kind != netlink.LinkChanged || u.Link.Index != 2 {
			t.Errorf("first watcher's first Update %+v, want the subscription's state", u)
		}
		if u, _ := recv(t, b); u.Kind != netlink.LinkChanged || !u.Link.Up || len(u.Prefixes) != 1 {
			t.Errorf("second watcher's first Update %+v, want the link read when it joined", u)
		}
		if u, _ := recv(t, c); u.Kind != netlink.LinkDeleted || u.Link.Name != "eth1" {
			t.Errorf("eth1's first Update %+v, want LinkDeleted: no such link", u)
		}

		gone := netlink.Update{Kind: netlink.AddrRemoved, Addr: netip.MustParseAddr("198.18.0.11")}
		f.opened()[0].in <- gone
		for who, ch := range map[string]<-chan netlink.Update{"a": a, "b": b} {
			if u, ok := recv(t, ch); !ok || u.Kind != gone.Kind || u.Addr != gone.Addr {
				t.Errorf("%s got %+v (open %v), want %+v", who, u, ok, gone)
			}
		}
		quiet(t, c, "eth1's watcher")
		if n := h.watches(); n != 2 {
			t.Errorf("%d subscriptions, want 2", n)
		}
	})
}

// A watcher that is behind gets what it missed, in order, from its backlog,
// and holds up nobody; the backlog goes when it is empty.
func TestLinkHubBurstWaitsInBacklog(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &fakeLinks{link: netlink.LinkState{Name: "eth0", Index: 2}}
		h := newLinkHub(f)
		fast := watch(t, h, t.Context(), "eth0")
		synctest.Wait()
		slow := watch(t, h, t.Context(), "eth0")
		recv(t, fast)
		sub := f.opened()[0]
		burst := 4 * linkSubBuffer
		for i := range burst {
			sub.in <- netlink.Update{Kind: netlink.AddrAdded, Addr: netip.AddrFrom4([4]byte{198, 18, 1, byte(i)})}
			if u, ok := recv(t, fast); !ok || u.Addr.As4()[3] != byte(i) {
				t.Fatalf("fast watcher: Update %d is %+v (open %v)", i, u, ok)
			}
		}
		if u, ok := recv(t, slow); !ok || u.Kind != netlink.LinkChanged {
			t.Fatalf("slow watcher's first Update %+v (open %v), want its state", u, ok)
		}
		for i := range burst {
			if u, ok := recv(t, slow); !ok || u.Addr.As4()[3] != byte(i) {
				t.Fatalf("slow watcher: Update %d is %+v (open %v), want 198.18.1.%d", i, u, ok, i)
			}
		}
		quiet(t, slow, "slow watcher after the burst")
		h.mu.Lock()
		for s := range h.names["eth0"].subs {
			if s.forwarding || s.backlog != nil {
				t.Errorf("a watcher still has a backlog (%d, forwarding %v) after taking it all", len(s.backlog), s.forwarding)
			}
		}
		h.mu.Unlock()
	})
}

// A watcher that falls linkSubBuffer+linkSubBacklog behind is told to
// resynchronise (its channel closes after what it holds) and never
// holds up the others; it then subscribes again on the same subscription.
func TestLinkHubSlowWatcherResyncs(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &fakeLinks{link: netlink.LinkState{Name: "eth0", Index: 2}}
		h := newLinkHub(f)
		fast := watch(t, h, t.Context(), "eth0")
		synctest.Wait()
		slow := watch(t, h, t.Context(), "eth0") // its first Update is queued
		recv(t, fast)
		sub := f.opened()[0]
		// The slow one has room for linkSubBuffer+linkSubBacklog-1 more;
		// one past that, it is too far behind.
		n := linkSubBuffer + linkSubBacklog
		for i := range n {
			sub.in <- netlink.Update{Kind: netlink.AddrAdded, Addr: netip.AddrFrom4([4]byte{198, 18, byte(i >> 8), byte(i)})}
			if u, ok := recv(t, fast); !ok || u.Addr.As4()[3] != byte(i) {
				t.Fatalf("fast watcher: Update %d is %+v (open %v)", i, u, ok)
			}
		}
		got := 0
		for {
			_, ok := recv(t, slow)
			if !ok {
				break
			}
			got++
		}
		// What its channel held; the backlog is dropped: it resynchronises.
		if got != linkSubBuffer {
			t.Errorf("slow watcher got %d Updates before its channel closed, want %d (its channel's)", got, linkSubBuffer)
		}
		sub.in <- netlink.Update{Kind: netlink.LinkChanged}
		if _, ok := recv(t, fast); !ok {
			t.Fatal("the fast watcher was closed with the slow one")
		}
		again := watch(t, h, t.Context(), "eth0")
		if u, ok := recv(t, again); !ok || u.Kind != netlink.LinkChanged {
			t.Errorf("resubscribed watcher's first Update %+v (open %v), want the link's state", u, ok)
		}
		if n := len(f.opened()); n != 1 || !sub.live() {
			t.Errorf("%d subscriptions opened (first live: %v), want the one, still open", n, sub.live())
		}
	})
}

// A watcher that leaves with a backlog has its channel closed, by its
// forwarder, and the subscription ends with it.
func TestLinkHubLeavesWithBacklog(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &fakeLinks{link: netlink.LinkState{Name: "eth0", Index: 2}}
		h := newLinkHub(f)
		ctx, stop := context.WithCancel(t.Context())
		w := watch(t, h, ctx, "eth0")
		sub := f.opened()[0]
		for range 2 * linkSubBuffer {
			sub.in <- netlink.Update{Kind: netlink.LinkChanged}
		}
		synctest.Wait()
		stop()
		for range linkSubBuffer + 1 { // what was in the channel, then the close
			if _, ok := recv(t, w); !ok {
				break
			}
		}
		if _, ok := recv(t, w); ok {
			t.Fatal("the channel is open after the watcher's ctx ended")
		}
		if sub.live() || h.watches() != 0 {
			t.Errorf("the subscription is open (live %v, %d open) after its only watcher left", sub.live(), h.watches())
		}
	})
}

// The subscription closes with its last watcher, and the next watcher opens
// a new one.
func TestLinkHubClosesWithLastWatcher(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &fakeLinks{}
		h := newLinkHub(f)
		ctxA, stopA := context.WithCancel(t.Context())
		ctxB, stopB := context.WithCancel(t.Context())
		a := watch(t, h, ctxA, "eth0")
		synctest.Wait()
		b := watch(t, h, ctxB, "eth0")
		recv(t, a)
		recv(t, b)
		sub := f.opened()[0]
		stopA()
		if _, ok := recv(t, a); ok {
			t.Error("a's channel is open after its ctx ended")
		}
		if !sub.live() || h.watches() != 1 {
			t.Fatalf("the subscription closed (live %v, %d open) with a watcher left", sub.live(), h.watches())
		}
		sub.in <- netlink.Update{Kind: netlink.LinkChanged}
		if _, ok := recv(t, b); !ok {
			t.Fatal("b lost its Updates when a left")
		}
		stopB()
		if _, ok := recv(t, b); ok {
			t.Error("b's channel is open after its ctx ended")
		}
		if sub.live() || h.watches() != 0 {
			t.Errorf("the subscription is open (live %v, %d open) with no watcher", sub.live(), h.watches())
		}
		c := watch(t, h, t.Context(), "eth0")
		if _, ok := recv(t, c); !ok || len(f.opened()) != 2 {
			t.Errorf("a new watcher after the last left: %d subscriptions opened, want a second", len(f.opened()))
		}
	})
}

// A failing subscription closes every watcher's channel, and the next
// WatchName opens a new one.
func TestLinkHubFailureClosesEveryWatcher(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &fakeLinks{link: netlink.LinkState{Name: "eth0", Index: 2}}
		h := newLinkHub(f)
		a := watch(t, h, t.Context(), "eth0")
		synctest.Wait()
		b := watch(t, h, t.Context(), "eth0")
		recv(t, a)
		recv(t, b)
		close(f.opened()[0].fail)
		for who, ch := range map[string]<-chan netlink.Update{"a": a, "b": b} {
			if _, ok := recv(t, ch); ok {
				t.Errorf("%s's channel is open after the subscription failed", who)
			}
		}
		if n := h.watches(); n != 0 {
			t.Errorf("%d subscriptions after the failure, want 0", n)
		}
		c := watch(t, h, t.Context(), "eth0")
		recv(t, c)
		if n := len(f.opened()); n != 2 {
			t.Errorf("%d subscriptions opened, want a new one after the failure", n)
		}
	})
}

// A subscription that cannot be opened, or a link that cannot be read for a
// joining watcher, is the caller's error, and leaves nothing behind.
func TestLinkHubErrors(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &fakeLinks{watchErr: errors.New("netlink: no buffer space")}
		h := newLinkHub(f)
		if _, err := h.WatchName(t.Context(), "eth0"); !errors.Is(err, f.watchErr) {
			t.Fatalf("WatchName: %v, want %v", err, f.watchErr)
		}
		if n := h.watches(); n != 0 {
			t.Fatalf("%d subscriptions after a failed WatchName, want 0", n)
		}
		f.mu.Lock()
		f.watchErr = nil
		f.mu.Unlock()
		a := watch(t, h, t.Context(), "eth0")
		recv(t, a)
		lookErr := errors.New("netlink: dump interrupted")
		f.mu.Lock()
		f.lookErr = lookErr
		f.mu.Unlock()
		if _, err := h.WatchName(t.Context(), "eth0"); !errors.Is(err, lookErr) {
			t.Fatalf("joining WatchName: %v, want %v", err, lookErr)
		}
		f.opened()[0].in <- netlink.Update{Kind: netlink.LinkChanged}
		if _, ok := recv(t, a); !ok {
			t.Error("a failed join disturbed the subscription")
		}
	})
}

// Instances on one interface share one subscription through the hub, and
// each still sees its link go down and come back.
func TestInstancesShareLinkWatch(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		lan := newLAN()
		a := lan.host("198.18.0.11")
		hub := newLinkHub(a)
		share := func(in *instance) { in.os.links = hub }
		r1 := startWith(t, a, testInstance(51, 100), nil, share)
		r2 := startWith(t, a, testInstance(52, 100, func(c *config.Instance) {
			c.Name, c.VIPs = "api2", []netip.Addr{netip.MustParseAddr("198.18.0.101")}
		}), nil, share)
		waitFor(t, 5*time.Second, "both master", func() bool { return r1.state(t) == "MASTER" && r2.state(t) == "MASTER" })
		a.mu.Lock()
		n := len(a.watchers)
		a.mu.Unlock()
		if n != 1 {
			t.Fatalf("%d link subscriptions for two instances on eth0, want 1", n)
		}
		a.setLink(false)
		waitFor(t, time.Second, "both fault", func() bool { return r1.state(t) == "FAULT" && r2.state(t) == "FAULT" })
		a.setLink(true)
		waitFor(t, 5*time.Second, "both back", func() bool { return r1.state(t) == "MASTER" && r2.state(t) == "MASTER" })
		r1.stop(t)
		r2.stop(t)
		synctest.Wait()
		if n := hub.watches(); n != 0 {
			t.Errorf("%d subscriptions after both instances stopped, want 0", n)
		}
	})
}

// fakeAnnouncer counts what its shares did to it.
type fakeAnnouncer struct {
	mu        sync.Mutex
	announced []netip.Addr
	hw        net.HardwareAddr
	setHW     int
	closes    int
}

func (a *fakeAnnouncer) Announce(addr netip.Addr) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.announced = append(a.announced, addr)
	return nil
}

func (a *fakeAnnouncer) SetHardwareAddr(mac net.HardwareAddr) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(mac) != 6 {
		return errors.New("arp: interface has no Ethernet address")
	}
	a.hw, a.setHW = mac, a.setHW+1
	return nil
}

func (a *fakeAnnouncer) Close() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.closes++
	return nil
}

// announcerOpener opens fakeAnnouncers, keeping each by the index it was
// opened for.
type announcerOpener struct {
	opened map[int][]*fakeAnnouncer
	err    error
}

func (o *announcerOpener) open(ifi *net.Interface) (announcer, error) {
	if o.err != nil {
		return nil, o.err
	}
	a := &fakeAnnouncer{hw: ifi.HardwareAddr}
	o.opened[ifi.Index] = append(o.opened[ifi.Index], a)
	return a, nil
}

var (
	mac1 = net.HardwareAddr{0x02, 0, 0, 0, 0, 1}
	mac2 = net.HardwareAddr{0x02, 0, 0, 0, 0, 2}
)

func dialShare(t *testing.T, tab *announcerTable, index int, mac net.HardwareAddr) announcer {
	t.Helper()
	a, err := tab.dial(&net.Interface{Index: index, Name: "eth0", HardwareAddr: mac})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// One announcer per interface index, shared; a MAC set through one share is
// every share's; the announcer closes with its last share.
func TestAnnouncerTableShares(t *testing.T) {
	o := &announcerOpener{opened: map[int][]*fakeAnnouncer{}}
	tab := newAnnouncerTable(o.open)
	s1 := dialShare(t, tab, 2, mac1)
	s2 := dialShare(t, tab, 2, mac1)
	other := dialShare(t, tab, 3, mac1)
	if len(o.opened[2]) != 1 || len(o.opened[3]) != 1 {
		t.Fatalf("opened %d announcers for index 2 and %d for 3, want 1 each", len(o.opened[2]), len(o.opened[3]))
	}
	fa := o.opened[2][0]
	v1, v2 := netip.MustParseAddr("198.18.0.100"), netip.MustParseAddr("2001:db8::100")
	if err := s1.Announce(v1); err != nil {
		t.Fatal(err)
	}
	if err := s2.Announce(v2); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(fa.announced, []netip.Addr{v1, v2}) || len(o.opened[3][0].announced) != 0 {
		t.Errorf("index 2 announced %v, index 3 %v; want both on index 2's", fa.announced, o.opened[3][0].announced)
	}
	if err := s2.SetHardwareAddr(mac2); err != nil || !slices.Equal(fa.hw, mac2) {
		t.Errorf("SetHardwareAddr: %v, announcer's MAC %v, want %v", err, fa.hw, mac2)
	}
	if err := s1.Close(); err != nil || fa.closes != 0 {
		t.Fatalf("closing one of two shares: %v, %d closes; want the announcer open", err, fa.closes)
	}
	if err := s1.Close(); err != nil {
		t.Errorf("second Close: %v, want nil", err)
	}
	if err := s1.Announce(v1); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Announce after Close: %v, want net.ErrClosed", err)
	}
	if err := s2.Close(); err != nil || fa.closes != 1 {
		t.Errorf("closing the last share: %v, %d closes; want the announcer closed once", err, fa.closes)
	}
	if n := tab.announcers(); n != 1 {
		t.Errorf("%d announcers open, want index 3's", n)
	}
	dialShare(t, tab, 2, mac1).Close()
	if len(o.opened[2]) != 2 {
		t.Errorf("dial after the last share closed opened %d in all, want a second", len(o.opened[2]))
	}
	other.Close()
	if n := tab.announcers(); n != 0 {
		t.Errorf("%d announcers open after every share closed, want 0", n)
	}
}

// A share dialled with a MAC newer than the announcer's (read just now, after
// a bond fail-over) sets it on the announcer; the same MAC changes nothing.
func TestAnnouncerTableFollowsMAC(t *testing.T) {
	o := &announcerOpener{opened: map[int][]*fakeAnnouncer{}}
	tab := newAnnouncerTable(o.open)
	dialShare(t, tab, 2, mac1)
	dialShare(t, tab, 2, mac1)
	fa := o.opened[2][0]
	if fa.setHW != 0 {
		t.Fatalf("SetHardwareAddr called %d times for an unchanged MAC", fa.setHW)
	}
	dialShare(t, tab, 2, mac2)
	if fa.setHW != 1 || !slices.Equal(fa.hw, mac2) {
		t.Errorf("after a dial with %v: announcer's MAC %v (%d sets), want %v", mac2, fa.hw, fa.setHW, mac2)
	}
	if _, err := tab.dial(&net.Interface{Index: 2, Name: "eth0", HardwareAddr: net.HardwareAddr{1}}); err == nil {
		t.Error("dial with a non-Ethernet MAC on a shared announcer succeeded")
	}
}

// A failed dial is the caller's error and leaves nothing open.
func TestAnnouncerTableDialError(t *testing.T) {
	o := &announcerOpener{opened: map[int][]*fakeAnnouncer{}, err: errors.New("arp: socket: operation not permitted")}
	tab := newAnnouncerTable(o.open)
	if _, err := tab.dial(&net.Interface{Index: 2, HardwareAddr: mac1}); !errors.Is(err, o.err) {
		t.Fatalf("dial: %v, want %v", err, o.err)
	}
	if n := tab.announcers(); n != 0 {
		t.Errorf("%d announcers after a failed dial, want 0", n)
	}
}

// Run's table keeps every method of the Handle it wraps: the owner's Backup
// finds SetAcceptLocal on it (owner.go), or it never hears the owner return.
func TestHubTableKeepsHandleMethods(t *testing.T) {
	var addrs addrTable = hubTable{hub: newLinkHub(&fakeLinks{})}
	if _, ok := addrs.(acceptLocalSetter); !ok {
		t.Error("hubTable hides SetAcceptLocal: accept_local would never be turned on")
	}
	if _, ok := addrs.(linkWatcher); !ok {
		t.Error("hubTable is not a linkWatcher")
	}
}
