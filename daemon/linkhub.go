package daemon

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/vipd/vipd/netlink"
)

// What the instances of one interface share besides the VRRP socket
// (sockets.go), so that an instance costs its state and no more (issue 12):
//
//   - linkHub: one subscription to the kernel's link and address changes per
//     interface name (netlink WatchName: two rtnetlink multicast sockets, their
//     readers and buffers), its Updates fanned out to every instance watching
//     that name. A subscriber is never waited for: what it has not taken yet
//     waits in its own bounded backlog, and one that falls further behind is
//     told to resynchronise: its channel is closed, as after a netlink
//     overrun, and the instance subscribes again and re-reads the link
//     (loop.go).
//   - announcerTable: one announcer (an ARP packet socket, and an ICMPv6 socket
//     once an IPv6 address is announced) per interface index.
//
// Both are reference counted: what they hold is released when the last
// instance lets go. Both keep the instance's view (linkWatcher.WatchName,
// osDeps.dial), so an instance cannot tell a share from a subscription or an
// announcer of its own.

// How far behind a subscriber may fall. Its channel holds linkSubBuffer
// Updates, for as long as it lives; beyond that they wait in a backlog that
// exists only while it is not empty, with a goroutine that hands them on.
// Bursts are normal: n instances taking over at once add n VIPs, and each of
// them reaches every instance, whose loop re-reads the link for most (bind.go,
// update). More than linkSubBacklog behind is a storm (an address flush, a
// bond rebuilt), where one re-read of the link is worth more than each Update
// of it: the subscriber is told to resynchronise.
const (
	linkSubBuffer  = 8
	linkSubBacklog = 1024
)

// linkHub is a linkWatcher whose WatchName shares one subscription per
// interface name: the first watcher of a name opens it, the last one to leave
// (its ctx ending) closes it. LinkByName goes straight to the kernel.
type linkHub struct {
	links linkWatcher

	mu    sync.Mutex
	names map[string]*nameWatch
}

func newLinkHub(links linkWatcher) *linkHub {
	return &linkHub{links: links, names: map[string]*nameWatch{}}
}

// nameWatch is one shared subscription and its subscribers.
type nameWatch struct {
	name string
	stop context.CancelFunc // ends the subscription
	subs map[*linkSub]struct{}
}

// linkSub is one watcher's share. Under linkHub.mu but ch, which the pump
// sends on under it and the forwarder without.
type linkSub struct {
	w       *nameWatch
	ch      chan netlink.Update
	stopCtx func() bool // unregisters the watcher's ctx
	// backlog is what ch had no room for, oldest first; forwarding says a
	// forwarder goroutine is handing it on, and then owns closing ch.
	backlog    []netlink.Update
	forwarding bool
	detached   bool          // the watcher is gone or told to resync
	gone       chan struct{} // closed on detach while forwarding
}

// LinkByName reads the link from the kernel.
func (h *linkHub) LinkByName(name string) (netlink.LinkState, []netip.Prefix, error) {
	return h.links.LinkByName(name)
}

// WatchName is linkWatcher.WatchName on the name's shared subscription, with
// its contract: the first Update is the state at subscription time (the
// subscription's own for its first watcher, a fresh read for a later one),
// and the channel is closed when ctx ends, when the subscription fails, or
// when the watcher fell linkSubBuffer+linkSubBacklog Updates behind; then
// re-read with LinkByName and call WatchName again. Watchers share an
// Update's Prefixes: read only.
func (h *linkHub) WatchName(ctx context.Context, name string) (<-chan netlink.Update, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	s := &linkSub{ch: make(chan netlink.Update, linkSubBuffer)}
	if w := h.names[name]; w != nil {
		// Read under the lock, so that every Update fanned out from here on
		// comes after this one (the subscription is open: none is missed).
		first := netlink.Update{Kind: netlink.LinkChanged}
		l, ps, err := h.links.LinkByName(name)
		switch {
		case errors.Is(err, netlink.ErrNoLink):
			first = netlink.Update{Kind: netlink.LinkDeleted, Link: netlink.LinkState{Name: name}}
		case err != nil:
			return nil, fmt.Errorf("daemon: watch: %w", err)
		default:
			first.Link, first.Prefixes = l, ps
		}
		s.w = w
		s.ch <- first
	} else {
		wctx, stop := context.WithCancel(context.Background())
		up, err := h.links.WatchName(wctx, name)
		if err != nil {
			stop()
			return nil, err
		}
		// Its first Update (the state now) reaches s through the pump.
		s.w = &nameWatch{name: name, stop: stop, subs: map[*linkSub]struct{}{}}
		h.names[name] = s.w
		go h.pump(s.w, up)
	}
	s.w.subs[s] = struct{}{}
	s.stopCtx = context.AfterFunc(ctx, func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		h.detach(s)
	})
	return s.ch, nil
}

// pump fans the subscription's Updates out until it ends; then (a failure,
// an overrun, a panic, or the last watcher gone) it closes every channel
// still open, so that each watcher resynchronises.
func (h *linkHub) pump(w *nameWatch, up <-chan netlink.Update) {
	defer func() {
		// A bug here must not take the process down with the VIPs on the
		// host: the watchers resubscribe, as after a netlink failure (and
		// log that the watch ended).
		_ = recover()
		h.mu.Lock()
		if h.names[w.name] == w {
			delete(h.names, w.name)
		}
		for s := range w.subs {
			h.detach(s)
		}
		h.mu.Unlock()
		w.stop() // after a panic, the subscription's goroutine ends on it
	}()
	for u := range up {
		h.fanOut(w, u)
	}
}

// fanOut hands u to every watcher of w, never waiting.
func (h *linkHub) fanOut(w *nameWatch, u netlink.Update) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range w.subs {
		h.offer(s, u)
	}
}

// offer gives u to s: into its channel if it has room and nothing older
// waits, else into its backlog; a watcher whose backlog is full is detached
// and resynchronises. Under h.mu.
func (h *linkHub) offer(s *linkSub, u netlink.Update) {
	if len(s.backlog) == 0 {
		select {
		case s.ch <- u:
			return
		default:
		}
	}
	if len(s.backlog) >= linkSubBacklog {
		h.detach(s)
		return
	}
	s.backlog = append(s.backlog, u)
	if !s.forwarding {
		s.forwarding = true
		s.gone = make(chan struct{})
		go h.forward(s)
	}
}

// forward hands s's backlog on, in order, until it is empty or s is
// detached; then, if detached, it closes s's channel.
func (h *linkHub) forward(s *linkSub) {
	h.mu.Lock()
	for !s.detached && len(s.backlog) > 0 {
		u := s.backlog[0] // stays queued until sent: offer sends nothing past it
		h.mu.Unlock()
		select {
		case s.ch <- u:
		case <-s.gone:
		}
		h.mu.Lock()
		if !s.detached {
			s.backlog[0] = netlink.Update{}
			s.backlog = s.backlog[1:]
		}
	}
	s.forwarding, s.backlog = false, nil
	detached := s.detached
	h.mu.Unlock()
	if detached {
		close(s.ch)
	}
}

// detach closes s's channel (or has its forwarder close it) and drops it from
// its subscription, which ends with its last watcher. Under h.mu.
func (h *linkHub) detach(s *linkSub) {
	if s.detached {
		return
	}
	s.detached = true
	if s.forwarding {
		close(s.gone) // the forwarder closes ch: it may be sending on it
	} else {
		s.backlog = nil
		close(s.ch)
	}
	if s.stopCtx != nil {
		s.stopCtx()
	}
	w := s.w
	delete(w.subs, s)
	if len(w.subs) == 0 && h.names[w.name] == w {
		delete(h.names, w.name)
		w.stop() // the pump sees its channel close, and ends
	}
}

// watches reports how many subscriptions are open, for tests.
func (h *linkHub) watches() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.names)
}

// hubTable is Run's *netlink.Handle with WatchName shared through hub. It
// embeds the Handle itself, not a vipTable, so that every method of the
// Handle stays visible to the type assertions of optional interfaces
// (acceptLocalSetter, owner.go).
type hubTable struct {
	*netlink.Handle
	hub *linkHub
}

func (t hubTable) WatchName(ctx context.Context, name string) (<-chan netlink.Update, error) {
	return t.hub.WatchName(ctx, name)
}

// announcerTable hands out shares of one announcer per interface index
// (arp.Announcer is safe for concurrent use): an interface recreated under
// its name has a new index, so its instances get a new announcer.
type announcerTable struct {
	open func(*net.Interface) (announcer, error)

	mu   sync.Mutex
	anns map[int]*sharedAnnouncer
}

func newAnnouncerTable(open func(*net.Interface) (announcer, error)) *announcerTable {
	return &announcerTable{open: open, anns: map[int]*sharedAnnouncer{}}
}

// sharedAnnouncer is one announcer and the count of its shares.
type sharedAnnouncer struct {
	index int
	a     announcer
	hw    net.HardwareAddr // what it announces; under announcerTable.mu
	refs  int              // shares not closed; under announcerTable.mu
}

// dial is osDeps.dial: a share of ifi's announcer, opened if it is the first.
// ifi was just read from the kernel: a MAC newer than the announcer's is set
// on it (every share announces it, as SetHardwareAddr would).
func (t *announcerTable) dial(ifi *net.Interface) (announcer, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.anns[ifi.Index]
	if s == nil {
		a, err := t.open(ifi)
		if err != nil {
			return nil, err
		}
		s = &sharedAnnouncer{index: ifi.Index, a: a, hw: slices.Clone(ifi.HardwareAddr)}
		t.anns[ifi.Index] = s
	} else if !slices.Equal(s.hw, ifi.HardwareAddr) {
		if err := s.a.SetHardwareAddr(ifi.HardwareAddr); err != nil {
			return nil, err
		}
		s.hw = slices.Clone(ifi.HardwareAddr)
	}
	s.refs++
	return &announcerShare{t: t, s: s}, nil
}

// announcers reports how many announcers are open, for tests.
func (t *announcerTable) announcers() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.anns)
}

// announcerShare is one instance's share of an announcer. After Close it
// fails with net.ErrClosed, as an announcer of its own would.
type announcerShare struct {
	t      *announcerTable
	s      *sharedAnnouncer
	closed atomic.Bool
}

func (h *announcerShare) Announce(addr netip.Addr) error {
	if h.closed.Load() {
		return fmt.Errorf("daemon: announcing %v: %w", addr, net.ErrClosed)
	}
	return h.s.a.Announce(addr)
}

// SetHardwareAddr sets the MAC every share announces: they announce for one
// interface, which has one.
func (h *announcerShare) SetHardwareAddr(mac net.HardwareAddr) error {
	if h.closed.Load() {
		return fmt.Errorf("daemon: setting the announced MAC: %w", net.ErrClosed)
	}
	h.t.mu.Lock()
	defer h.t.mu.Unlock()
	if err := h.s.a.SetHardwareAddr(mac); err != nil {
		return err
	}
	h.s.hw = slices.Clone(mac)
	return nil
}

// Close ends the share; the announcer closes with its last one.
func (h *announcerShare) Close() error {
	t := h.t
	t.mu.Lock()
	if h.closed.Swap(true) {
		t.mu.Unlock()
		return nil
	}
	h.s.refs--
	last := h.s.refs == 0
	if last && t.anns[h.s.index] == h.s {
		delete(t.anns, h.s.index)
	}
	t.mu.Unlock()
	if last {
		return h.s.a.Close()
	}
	return nil
}
