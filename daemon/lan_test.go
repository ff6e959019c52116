package daemon

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/vipd/vipd/netlink"
	"github.com/vipd/vipd/vrrp"
)

// fakeLAN is a broadcast segment: every advert written by one host reaches every
// other connected host, as multicast does.
type fakeLAN struct {
	mu    sync.Mutex
	hosts []*fakeHost
}

// fakeHost is one machine: its VRRP socket, its interface's addresses and link, and
// the announcements it sent.
type fakeHost struct {
	lan  *fakeLAN
	addr netip.Addr
	ifi  *net.Interface

	mu        sync.Mutex
	in        chan vrrp.Packet
	closed    chan struct{}
	connected bool // cable plugged into the LAN
	linkUp    bool
	vips      map[netip.Addr]bool
	extra     []netip.Prefix // more addresses of the interface
	addErr    error          // what AddVIP returns, when set
	watchers  []chan netlink.Update
	announced []announcement
	sentPrios []uint8
	// announcedMAC is what the announcer was last told to announce.
	announcedMAC net.HardwareAddr
	opens        int   // sockets opened: once per binding
	noSource     bool  // the interface has no address yet
	sendErr      error // what WriteTo returns, when set
	lastReadLen  int   // the size of the last buffer given to Read
}

type announcement struct {
	at   time.Time
	addr netip.Addr
}

func newLAN() *fakeLAN { return &fakeLAN{} }

func (l *fakeLAN) host(addr string) *fakeHost {
	h := &fakeHost{
		lan:       l,
		addr:      netip.MustParseAddr(addr),
		ifi:       &net.Interface{Index: 2, Name: "eth0", HardwareAddr: net.HardwareAddr{2, 0, 0, 0, 0, byte(len(l.hosts) + 1)}},
		connected: true,
		linkUp:    true,
		vips:      map[netip.Addr]bool{},
	}
	l.mu.Lock()
	l.hosts = append(l.hosts, h)
	l.mu.Unlock()
	return h
}

// open gives the host a fresh socket, as a (re)started daemon would get.
func (h *fakeHost) open() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed != nil {
		select {
		case <-h.closed:
		default:
			return // still open
		}
	}
	h.in = make(chan vrrp.Packet, 64)
	h.closed = make(chan struct{})
}

func (h *fakeHost) Read(b []byte) (vrrp.Packet, error) {
	h.mu.Lock()
	in, closed := h.in, h.closed
	h.lastReadLen = len(b)
	h.mu.Unlock()
	select {
	case p := <-in:
		n := copy(b, p.Payload)
		p.Payload = b[:n]
		return p, nil
	case <-closed:
		return vrrp.Packet{}, net.ErrClosed
	}
}

func (h *fakeHost) WriteTo(payload []byte, dst netip.Addr) error {
	h.mu.Lock()
	closed := h.closed
	h.mu.Unlock()
	select {
	case <-closed:
		return net.ErrClosed // as the real socket does
	default:
	}
	h.mu.Lock()
	sendErr := h.sendErr
	h.mu.Unlock()
	if sendErr != nil {
		return sendErr
	}
	if adv, err := parseAny(payload); err == nil {
		h.mu.Lock()
		h.sentPrios = append(h.sentPrios, adv.Priority)
		h.mu.Unlock()
	}
	if !h.reachable() {
		return nil
	}
	h.lan.mu.Lock()
	hosts := slices.Clone(h.lan.hosts)
	h.lan.mu.Unlock()
	for _, o := range hosts {
		if o == h || !o.reachable() {
			continue
		}
		o.deliver(vrrp.Packet{Payload: slices.Clone(payload), Src: h.addr, Dst: dst, TTL: 255, IfIndex: 2})
	}
	return nil
}

func (h *fakeHost) deliver(p vrrp.Packet) {
	h.mu.Lock()
	in, closed := h.in, h.closed
	h.mu.Unlock()
	if in == nil {
		return
	}
	select {
	case <-closed:
	case in <- p:
	default: // a full socket buffer drops, as the kernel does
	}
}

func (h *fakeHost) reachable() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.connected && h.linkUp
}

func (h *fakeHost) Destinations() []netip.Addr { return []netip.Addr{vrrp.GroupIPv4} }

func (h *fakeHost) Close() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	select {
	case <-h.closed:
	default:
		close(h.closed)
	}
	return nil
}

// addrTable and linkWatcher.

func (h *fakeHost) AddVIP(_ int, a netip.Addr) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.addErr != nil {
		return h.addErr
	}
	h.vips[a] = true
	return nil
}

func (h *fakeHost) DelVIP(_ int, a netip.Addr) error {
	h.mu.Lock()
	delete(h.vips, a)
	h.mu.Unlock()
	return nil
}

func (h *fakeHost) HasVIP(_ int, a netip.Addr) (bool, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.vips[a], nil
}

func (h *fakeHost) Stale(int) ([]netip.Addr, error) { return nil, nil }

func (h *fakeHost) LinkByName(name string) (netlink.LinkState, []netip.Prefix, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.ifi == nil || name != h.ifi.Name {
		return netlink.LinkState{}, nil, netlink.ErrNoLink
	}
	var ps []netip.Prefix
	if !h.noSource {
		ps = append(ps, netip.PrefixFrom(h.addr, 24))
	}
	ps = append(ps, h.extra...)
	for v := range h.vips {
		ps = append(ps, netip.PrefixFrom(v, v.BitLen()))
	}
	return netlink.LinkState{Up: h.linkUp, Name: h.ifi.Name, HardwareAddr: h.ifi.HardwareAddr, Index: h.ifi.Index}, ps, nil
}

func (h *fakeHost) WatchName(ctx context.Context, _ string) (<-chan netlink.Update, error) {
	ch := make(chan netlink.Update, 16)
	h.mu.Lock()
	h.watchers = append(h.watchers, ch)
	h.mu.Unlock()
	go func() {
		<-ctx.Done()
		h.mu.Lock()
		defer h.mu.Unlock()
		h.watchers = slices.DeleteFunc(h.watchers, func(c chan netlink.Update) bool { return c == ch })
		close(ch)
	}()
	return ch, nil
}

func (h *fakeHost) notify(u netlink.Update) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, w := range h.watchers {
		w <- u
	}
}

// setLink takes the host's own link down or up (Fault).
func (h *fakeHost) setLink(up bool) {
	h.mu.Lock()
	h.linkUp = up
	h.mu.Unlock()
	h.notify(netlink.Update{Kind: netlink.LinkChanged, Link: netlink.LinkState{Up: up, Name: "eth0"}})
}

// removeVIP is an operator running `ip addr del`.
func (h *fakeHost) removeVIP(a netip.Addr) {
	h.DelVIP(0, a)
	h.notify(netlink.Update{Kind: netlink.AddrRemoved, Addr: a})
}

func (h *fakeHost) has(a netip.Addr) bool { ok, _ := h.HasVIP(0, a); return ok }

// lastSent is the priority of the host's last advert (0 if none), read
// under its lock: the instance's loop appends to sentPrios.
func (h *fakeHost) lastSent() (uint8, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.sentPrios) == 0 {
		return 0, false
	}
	return h.sentPrios[len(h.sentPrios)-1], true
}

// sent returns a copy of the priorities advertised, read under the lock.
func (h *fakeHost) sent() []uint8 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.sentPrios)
}

// announcer.

func (h *fakeHost) Announce(a netip.Addr) error {
	h.mu.Lock()
	h.announced = append(h.announced, announcement{time.Now(), a})
	h.mu.Unlock()
	return nil
}

func (h *fakeHost) announcements() []announcement {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.announced)
}

func parseAny(b []byte) (vrrp.Advertisement, error) {
	var a vrrp.Advertisement
	err := a.UnmarshalBinary(b)
	return a, err
}

type announcerFunc struct{ h *fakeHost }

func (a announcerFunc) Announce(addr netip.Addr) error { return a.h.Announce(addr) }
func (a announcerFunc) Close() error                   { return nil }
func (a announcerFunc) SetHardwareAddr(mac net.HardwareAddr) error {
	a.h.mu.Lock()
	a.h.announcedMAC = mac
	a.h.mu.Unlock()
	return nil
}

var discard = slog.New(slog.NewTextHandler(io.Discard, nil))

type (
	netipAddr    = netip.Addr
	netipPrefix  = netip.Prefix
	netInterface = net.Interface
)

func mustAddr(s string) netip.Addr { return netip.MustParseAddr(s) }

// fakeIface is an interface "eth0" with the given addresses.
func fakeIface(prefixes ...string) func(string) (*net.Interface, []netip.Prefix, error) {
	return func(string) (*net.Interface, []netip.Prefix, error) {
		var ps []netip.Prefix
		for _, p := range prefixes {
			ps = append(ps, netip.MustParsePrefix(p))
		}
		return &net.Interface{Index: 2, Name: "eth0"}, ps, nil
	}
}

// deps are the OS as an instance on this host sees it.
func (h *fakeHost) deps() osDeps {
	return osDeps{
		addrs: h,
		links: h,
		listen: func(vrrp.ConnConfig) (packetConn, error) {
			h.mu.Lock()
			h.opens++
			h.mu.Unlock()
			h.open()
			return h, nil
		},
		dial: func(*net.Interface) (announcer, error) { return announcerFunc{h}, nil },
	}
}

// deleteLink is the interface deleted (a bond torn down): its addresses go with it.
func (h *fakeHost) deleteLink() {
	h.mu.Lock()
	old := h.ifi
	h.ifi = nil
	h.linkUp = false
	h.vips = map[netip.Addr]bool{}
	h.mu.Unlock()
	h.notify(netlink.Update{Kind: netlink.LinkDeleted, Link: netlink.LinkState{Name: old.Name, Index: old.Index}})
}

// createLink is the interface (re)created under its name, with a new index.
func (h *fakeHost) createLink(index int) {
	h.mu.Lock()
	h.ifi = &net.Interface{Index: index, Name: "eth0", HardwareAddr: net.HardwareAddr{2, 0, 0, 0, byte(index), 1}}
	h.linkUp = true
	ifi := *h.ifi
	h.mu.Unlock()
	h.notify(netlink.Update{Kind: netlink.LinkAdded, Link: netlink.LinkState{Name: ifi.Name, Index: ifi.Index, Up: true, HardwareAddr: ifi.HardwareAddr}})
}

// setMAC is `ip link set dev eth0 address MAC`.
func (h *fakeHost) setMAC(mac net.HardwareAddr) {
	h.mu.Lock()
	ifi := *h.ifi
	ifi.HardwareAddr = mac
	h.ifi = &ifi
	up := h.linkUp
	h.mu.Unlock()
	h.notify(netlink.Update{Kind: netlink.LinkChanged, Link: netlink.LinkState{Name: ifi.Name, Index: ifi.Index, Up: up, HardwareAddr: mac}})
}

// setSource gives the interface its address (DHCP, late), or takes it away.
func (h *fakeHost) setSource(present bool) {
	h.mu.Lock()
	h.noSource = !present
	h.mu.Unlock()
	k := netlink.AddrAdded
	if !present {
		k = netlink.AddrRemoved
	}
	h.notify(netlink.Update{Kind: k, Addr: h.addr})
}

func (h *fakeHost) socketOpens() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.opens
}
