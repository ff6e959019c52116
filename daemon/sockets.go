package daemon

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"runtime/debug"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/vipd/vipd/vrrp"
)

// Every instance on one interface, address family and mode (multicast or
// unicast) shares one raw VRRP socket and one goroutine that reads it: the
// reader looks at the VRID (the second octet of the message) and hands the
// packet to the one instance that serves it, so that each packet is read once
// whatever the number of virtual routers, not once per instance. The receive
// checks of RFC 9568 §7.1 (TTL, checksum, peers, addresses) stay with the
// instance; the socket only sorts by VRID and counts, once, what no instance
// serves (the "vrid" drop of §7.1). Sends go through the same socket, each
// with its instance's own source (IP_PKTINFO, IPV6_PKTINFO).
//
// A unicast instance's peers send to this host's address, and a raw socket
// gets every protocol-112 packet for the host on its interface: the multicast
// socket of the interface gets them as well. Such a packet is counted as
// unserved by the unicast socket when one is open, so that it is counted once.

// rawSocket is one shared VRRP socket, satisfied by *vrrp.Socket. One
// goroutine reads; any may write.
type rawSocket interface {
	// Read returns the next packet; its Payload is valid until the next Read.
	Read() (vrrp.Packet, error)
	WriteFrom(payload []byte, src, dst netip.Addr) error
	Close() error
}

// openVRRPSocket opens the real shared socket.
func openVRRPSocket(ifi *net.Interface, family int, multicast bool) (rawSocket, error) {
	return vrrp.ListenSocket(ifi, family, multicast)
}

// socketKey says which socket an instance shares: a recreated interface has
// a new index, so a rebinding instance gets a new socket.
type socketKey struct {
	ifindex   int
	family    int
	multicast bool
}

// dropKey names an interface's counters: by name, so that they survive the
// interface being recreated and the socket reopened.
type dropKey struct {
	ifname string
	family int
}

// Drop reasons counted on a shared socket, before any instance sees the packet.
const (
	sockDropVRID      = "vrid"       // no instance here serves the VRID (RFC 9568 §7.1)
	sockDropShort     = "short"      // too short to carry a VRID
	sockDropQueueFull = "queue_full" // the instance's queue was full, as a full socket buffer drops
)

// sockDrops are one interface's counters, written by its readers.
type sockDrops struct {
	vrid, short, queueFull atomic.Uint64
}

// socketDrops is what status and metrics show for one interface and family.
type socketDrops struct {
	Interface string
	Family    int
	// Drops by reason: "vrid", "short", "queue_full".
	Drops map[string]uint64
}

// socketTable hands out shared sockets, counting who holds each: a socket
// closes when its last instance lets go.
type socketTable struct {
	open func(ifi *net.Interface, family int, multicast bool) (rawSocket, error)

	mu    sync.Mutex
	socks map[socketKey]*sharedSocket
	drops map[dropKey]*sockDrops
}

func newSocketTable(open func(*net.Interface, int, bool) (rawSocket, error)) *socketTable {
	return &socketTable{open: open, socks: map[socketKey]*sharedSocket{}, drops: map[dropKey]*sockDrops{}}
}

// demux maps a VRID to the member that serves it on one socket. It is
// replaced whole, never changed, so the reader reads it without a lock.
type demux [256]*member

// sharedSocket is one raw socket and its members.
type sharedSocket struct {
	t      *socketTable
	key    socketKey
	ifname string
	raw    rawSocket
	drops  *sockDrops

	members atomic.Pointer[demux]
	refs    int // members not closed; under t.mu
}

// member is one instance's share of a socket: its packetConn.
type member struct {
	s    *sharedSocket
	src  netip.Addr
	dsts []netip.Addr

	closed atomic.Bool // set under s.t.mu; WriteTo reads it without
	// Under s.t.mu.
	attached bool
	vrid     uint8
	// sink is set before the member is published in the demux and not
	// changed after.
	sink memberSink
}

// memberSink is where the reader hands an instance its packets.
type memberSink struct {
	gen     int
	pkts    chan<- packet
	readErr chan<- readFailure
	crash   chan<- crashReport
}

// listen is osDeps.listen: the instance's share of the socket for cc's
// interface, family and mode, opened if it is the first.
func (t *socketTable) listen(cc vrrp.ConnConfig) (packetConn, error) {
	dsts, err := cc.Destinations()
	if err != nil {
		return nil, err
	}
	key := socketKey{ifindex: cc.Interface.Index, family: cc.Family, multicast: len(cc.Peers) == 0}
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.socks[key]
	if s == nil {
		raw, err := t.open(cc.Interface, cc.Family, key.multicast)
		if err != nil {
			return nil, err
		}
		dk := dropKey{ifname: cc.Interface.Name, family: cc.Family}
		d := t.drops[dk]
		if d == nil {
			d = &sockDrops{}
			t.drops[dk] = d
		}
		s = &sharedSocket{t: t, key: key, ifname: cc.Interface.Name, raw: raw, drops: d}
		s.members.Store(&demux{})
		t.socks[key] = s
		go s.read()
	}
	s.refs++
	return &member{s: s, src: cc.Source.Unmap().WithZone(""), dsts: dsts}, nil
}

// sockets reports how many sockets are open, for tests.
func (t *socketTable) sockets() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.socks)
}

// interfaceDrops returns the counters of every interface and family that
// has had a socket, sorted by interface and family.
func (t *socketTable) interfaceDrops() []socketDrops {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]socketDrops, 0, len(t.drops))
	for k, d := range t.drops {
		out = append(out, socketDrops{Interface: k.ifname, Family: k.family, Drops: map[string]uint64{
			sockDropVRID: d.vrid.Load(), sockDropShort: d.short.Load(), sockDropQueueFull: d.queueFull.Load(),
		}})
	}
	slices.SortFunc(out, func(a, b socketDrops) int {
		if a.Interface != b.Interface {
			if a.Interface < b.Interface {
				return -1
			}
			return 1
		}
		return a.Family - b.Family
	})
	return out
}

// attach starts the delivery of vrid's packets to sink; the instance's loop
// reads them from sink.pkts. A VRID has one instance per socket.
func (m *member) attach(vrid uint8, sink memberSink) error {
	t := m.s.t
	t.mu.Lock()
	defer t.mu.Unlock()
	switch {
	case m.closed.Load():
		return fmt.Errorf("daemon: attaching VRID %d: %w", vrid, net.ErrClosed)
	case m.attached:
		return fmt.Errorf("daemon: VRID %d: already attached", vrid)
	}
	tab := *m.s.members.Load()
	if tab[vrid] != nil {
		return fmt.Errorf("daemon: VRID %d is already served on %s (IPv%d): one instance per VRID, interface and family", vrid, m.s.ifname, m.s.key.family)
	}
	m.vrid, m.sink, m.attached = vrid, sink, true
	tab[vrid] = m
	m.s.members.Store(&tab)
	return nil
}

// Read is not how a member gets its packets: the socket's reader delivers
// them to the sink given to attach.
func (m *member) Read([]byte) (vrrp.Packet, error) {
	return vrrp.Packet{}, fmt.Errorf("daemon: a shared socket delivers its packets to attached instances: %w", errors.ErrUnsupported)
}

// WriteTo sends from the member's source to dst, one of its Destinations.
// After Close it fails with net.ErrClosed, as a socket of its own would.
func (m *member) WriteTo(payload []byte, dst netip.Addr) error {
	if m.closed.Load() {
		return fmt.Errorf("daemon: write to %v: %w", dst, net.ErrClosed)
	}
	dst = dst.WithZone("")
	if !slices.Contains(m.dsts, dst) {
		return fmt.Errorf("daemon: %v is not a destination of this instance", dst)
	}
	return m.s.raw.WriteFrom(payload, m.src, dst)
}

// Destinations returns where the member's adverts go. The slice is the
// member's own: callers only read it.
func (m *member) Destinations() []netip.Addr { return m.dsts }

// Close ends the member's share: no more packets for its VRID, and the socket
// closes with its last member.
func (m *member) Close() error {
	s := m.s
	s.t.mu.Lock()
	if m.closed.Load() {
		s.t.mu.Unlock()
		return nil
	}
	m.closed.Store(true)
	if m.attached {
		tab := *s.members.Load()
		if tab[m.vrid] == m {
			tab[m.vrid] = nil
			s.members.Store(&tab)
		}
	}
	s.refs--
	last := s.refs == 0
	if last && s.t.socks[s.key] == s {
		delete(s.t.socks, s.key)
	}
	s.t.mu.Unlock()
	if last {
		return s.raw.Close()
	}
	return nil
}

// read is the socket's goroutine: it reads until the socket is closed, and
// after a failure tells every member, which rebinds to a new socket.
func (s *sharedSocket) read() {
	defer func() {
		if r := recover(); r != nil {
			s.fail(nil, crashReport{where: "shared socket reader on " + s.ifname, value: r, stack: string(debug.Stack())})
		}
	}()
	for s.readOne() {
	}
}

// readOne reads one packet and hands it on; false when reading is over.
func (s *sharedSocket) readOne() bool {
	p, err := s.raw.Read()
	if err != nil {
		if !errors.Is(err, net.ErrClosed) {
			s.fail(err, crashReport{})
		}
		return false
	}
	if len(p.Payload) < 2 {
		s.drops.short.Add(1)
		return true
	}
	m := s.members.Load()[p.Payload[1]]
	if m == nil {
		if s.countsUnserved(p.Dst) {
			s.drops.vrid.Add(1)
		}
		return true
	}
	b := newRxBuf()
	p.Payload = b.b[:copy(b.b[:], p.Payload)]
	select {
	case m.sink.pkts <- packet{gen: m.sink.gen, p: p, buf: b}:
	default:
		// The instance is behind: drop, as a full socket buffer would,
		// rather than hold up every other instance on the interface.
		b.release()
		s.drops.queueFull.Add(1)
	}
	return true
}

// countsUnserved says whether this socket counts an unserved packet to dst:
// a unicast one reaches the interface's unicast socket too, which counts it
// when it is open.
func (s *sharedSocket) countsUnserved(dst netip.Addr) bool {
	if dst.IsMulticast() || !s.key.multicast {
		return true
	}
	s.t.mu.Lock()
	defer s.t.mu.Unlock()
	u := s.key
	u.multicast = false
	return s.t.socks[u] == nil
}

// fail marks the socket broken, so that no instance is given it again, and
// tells its members: of the read error (they rebind), or of the reader's
// panic (they hand off and stop, as after a panic of their own).
func (s *sharedSocket) fail(err error, crash crashReport) {
	s.t.mu.Lock()
	if s.t.socks[s.key] == s {
		delete(s.t.socks, s.key)
	}
	s.t.mu.Unlock()
	for _, m := range s.members.Load() {
		if m == nil {
			continue
		}
		if err != nil {
			select {
			case m.sink.readErr <- readFailure{gen: m.sink.gen, err: err}:
			default:
			}
			continue
		}
		select {
		case m.sink.crash <- crash:
		default:
		}
	}
}

// rxBuf holds one received packet from the reader until the instance's loop
// has handled it; buffers are pooled, so that the receive path allocates
// nothing.
type rxBuf struct{ b [vrrp.ReadBufferLen]byte }

var rxBufs = sync.Pool{New: func() any { return new(rxBuf) }}

func newRxBuf() *rxBuf { return rxBufs.Get().(*rxBuf) }

func (b *rxBuf) release() { rxBufs.Put(b) }

// release returns the packet's buffer; the packet must not be used after.
func (pk packet) release() {
	if pk.buf != nil {
		pk.buf.release()
	}
}
