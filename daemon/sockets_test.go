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
	"github.com/vipd/vipd/vrrp"
)

// fakeRaw is a shared socket: packets pushed in are read out, writes are kept.
type fakeRaw struct {
	ifindex   int
	multicast bool
	in        chan vrrp.Packet
	closed    chan struct{}
	readErr   chan error

	mu     sync.Mutex
	writes []fakeWrite
	closes int
}

type fakeWrite struct {
	vrid     uint8
	prio     uint8
	src, dst netip.Addr
}

func newFakeRaw(ifindex int, multicast bool) *fakeRaw {
	return &fakeRaw{ifindex: ifindex, multicast: multicast, in: make(chan vrrp.Packet, 64), closed: make(chan struct{}), readErr: make(chan error, 1)}
}

func (f *fakeRaw) Read() (vrrp.Packet, error) {
	select {
	case p := <-f.in:
		return p, nil
	case err := <-f.readErr:
		return vrrp.Packet{}, err
	case <-f.closed:
		return vrrp.Packet{}, net.ErrClosed
	}
}

func (f *fakeRaw) WriteFrom(b []byte, src, dst netip.Addr) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.writes = append(f.writes, fakeWrite{vrid: b[1], prio: b[2], src: src, dst: dst})
	return nil
}

func (f *fakeRaw) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closes++
	if f.closes == 1 {
		close(f.closed)
	}
	return nil
}

func (f *fakeRaw) isClosed() bool {
	select {
	case <-f.closed:
		return true
	default:
		return false
	}
}

func (f *fakeRaw) sent() []fakeWrite {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.writes)
}

// fakeOpener opens fakeRaw sockets and remembers them in order.
type fakeOpener struct {
	mu    sync.Mutex
	socks []*fakeRaw
}

func (o *fakeOpener) open(ifi *net.Interface, _ int, multicast bool) (rawSocket, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	r := newFakeRaw(ifi.Index, multicast)
	o.socks = append(o.socks, r)
	return r, nil
}

func (o *fakeOpener) all() []*fakeRaw {
	o.mu.Lock()
	defer o.mu.Unlock()
	return slices.Clone(o.socks)
}

// advertFrom is a VRRPv3 advert of vrid at prio from src to the IPv4 group, as read.
func advertFrom(t testing.TB, src string, vrid, prio uint8) vrrp.Packet {
	t.Helper()
	a := vrrp.Advertisement{Version: 3, Type: vrrp.TypeAdvertisement, VRID: vrid, Priority: prio, Interval: time.Second, Addresses: []netip.Addr{vip}}
	s := netip.MustParseAddr(src)
	b, err := a.AppendBinary(nil, s, vrrp.GroupIPv4, vrrp.ChecksumPseudoHeader)
	if err != nil {
		t.Fatal(err)
	}
	return vrrp.Packet{Payload: b, Src: s, Dst: vrrp.GroupIPv4, TTL: 255, IfIndex: 2}
}

// startShared runs an instance of host h whose VRRP socket comes from table.
func startShared(t *testing.T, h *fakeHost, table *socketTable, cfg config.Instance) *running {
	t.Helper()
	deps := h.deps()
	deps.listen = table.listen
	in, err := newInstance(cfg, discard, deps, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- in.run(ctx) }()
	return &running{in: in, cancel: cancel, done: done}
}

func dropsOf(table *socketTable, ifname string) map[string]uint64 {
	for _, d := range table.interfaceDrops() {
		if d.Interface == ifname && d.Family == 4 {
			return d.Drops
		}
	}
	return nil
}

// TestSharedSocketSeveralVRIDs: three instances on one interface share one
// socket; each hears only its own Master; a packet for a VRID none serves is
// one "vrid" drop of the interface, not one per instance; each Master sends
// through the shared socket from its own source; the socket closes with its
// last instance.
func TestSharedSocketSeveralVRIDs(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newLAN().host("198.18.0.11")
		var o fakeOpener
		table := newSocketTable(o.open)
		vrids := []uint8{1, 2, 3}
		var rs []*running
		for _, id := range vrids {
			rs = append(rs, startShared(t, h, table, testInstance(int(id), 100)))
		}
		synctest.Wait()
		if n := len(o.all()); n != 1 || table.sockets() != 1 {
			t.Fatalf("%d sockets opened, %d open; want 1 shared by the 3 instances", n, table.sockets())
		}
		raw := o.all()[0]
		// The Masters of VRIDs 1 and 2 are 198.18.0.2 and .3; nobody serves 9.
		// VRID 3 hears no one and becomes Master itself.
		masters := map[uint8]string{1: "198.18.0.2", 2: "198.18.0.3"}
		stop := make(chan struct{})
		feeder := make(chan int)
		go func() {
			unserved := 0
			for {
				select {
				case <-stop:
					feeder <- unserved
					return
				case <-time.After(time.Second):
				}
				for id, src := range masters {
					raw.in <- advertFrom(t, src, id, 200)
				}
				raw.in <- advertFrom(t, "198.18.0.4", 9, 200)
				unserved++
			}
		}()
		waitFor(t, 10*time.Second, "1 and 2 Backup, 3 Master", func() bool {
			return rs[0].state(t) == "BACKUP" && rs[1].state(t) == "BACKUP" && rs[2].state(t) == "MASTER"
		})
		time.Sleep(5 * time.Second)
		close(stop)
		unserved := <-feeder
		synctest.Wait()
		for i, id := range vrids[:2] {
			st := rs[i].status(t)
			if st.State != "BACKUP" || st.Master != masters[id] {
				t.Errorf("VRID %d: %s with master %q, want BACKUP with %s", id, st.State, st.Master, masters[id])
			}
			if st.AdvertsReceived == 0 {
				t.Errorf("VRID %d: no advert received", id)
			}
			if d := st.Drops["vrid"]; d != 0 {
				t.Errorf("VRID %d: %d vrid drops on the instance; the socket counts them", id, d)
			}
		}
		if got := dropsOf(table, "eth0")["vrid"]; got != uint64(unserved) || unserved == 0 {
			t.Errorf("interface vrid drops = %d, want %d: one per packet for VRID 9", got, unserved)
		}
		for _, w := range raw.sent() {
			if w.vrid != 3 || w.src != h.addr || w.dst != vrrp.GroupIPv4 {
				t.Errorf("sent %+v; only VRID 3 is Master, from %v to the group", w, h.addr)
			}
		}
		if len(raw.sent()) == 0 {
			t.Error("VRID 3, Master, sent nothing through the shared socket")
		}

		rs[0].stop(t)
		rs[1].stop(t)
		if raw.isClosed() || table.sockets() != 1 {
			t.Fatal("the socket closed while VRID 3 still uses it")
		}
		rs[2].stop(t)
		synctest.Wait()
		if !raw.isClosed() || table.sockets() != 0 {
			t.Errorf("closed %v, %d sockets in the table: the last instance to let go closes it", raw.isClosed(), table.sockets())
		}
	})
}

// TestSharedSocketFollowsRecreatedInterface: a recreated interface has a new
// index; every instance rebinds onto one new socket of that index, and the old
// socket closes.
func TestSharedSocketFollowsRecreatedInterface(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newLAN().host("198.18.0.11")
		var o fakeOpener
		table := newSocketTable(o.open)
		ra := startShared(t, h, table, testInstance(1, 100))
		rb := startShared(t, h, table, testInstance(2, 100))
		waitFor(t, 5*time.Second, "both Master", func() bool { return ra.state(t) == "MASTER" && rb.state(t) == "MASTER" })
		h.deleteLink()
		h.createLink(7)
		waitFor(t, 5*time.Second, "both Master again", func() bool {
			return ra.status(t).IfIndex == 7 && rb.status(t).IfIndex == 7 && ra.state(t) == "MASTER" && rb.state(t) == "MASTER"
		})
		socks := o.all()
		if len(socks) != 2 || socks[0].ifindex != 2 || socks[1].ifindex != 7 {
			t.Fatalf("sockets opened on %v, want one on 2 then one on 7", func() (ix []int) {
				for _, s := range socks {
					ix = append(ix, s.ifindex)
				}
				return
			}())
		}
		if !socks[0].isClosed() || socks[1].isClosed() || table.sockets() != 1 {
			t.Errorf("old closed %v, new closed %v, open %d; want the old one closed, the new one shared", socks[0].isClosed(), socks[1].isClosed(), table.sockets())
		}
		ra.stop(t)
		rb.stop(t)
	})
}

// sinkFor is a member's sink with its channels.
func sinkFor(gen int) (memberSink, chan packet, chan readFailure) {
	pk, rf := make(chan packet, 4), make(chan readFailure, 4)
	return memberSink{gen: gen, pkts: pk, readErr: rf, crash: make(chan crashReport, 1)}, pk, rf
}

var testIfi = &net.Interface{Index: 2, Name: "eth0"}

// TestSharedSocketUnicastCountedOnce: a unicast advert reaches both the
// multicast and the unicast socket of an interface (raw sockets get every
// protocol-112 packet for the host); unserved, it is counted once.
func TestSharedSocketUnicastCountedOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var o fakeOpener
		table := newSocketTable(o.open)
		src := netip.MustParseAddr("198.18.0.11")
		mc, err := table.listen(vrrp.ConnConfig{Interface: testIfi, Family: 4, Source: src})
		if err != nil {
			t.Fatal(err)
		}
		uc, err := table.listen(vrrp.ConnConfig{Interface: testIfi, Family: 4, Source: src, Peers: []netip.Addr{netip.MustParseAddr("198.18.0.12")}})
		if err != nil {
			t.Fatal(err)
		}
		mcSink, mcPkts, _ := sinkFor(1)
		ucSink, ucPkts, _ := sinkFor(1)
		if err := mc.(*member).attach(1, mcSink); err != nil {
			t.Fatal(err)
		}
		if err := uc.(*member).attach(2, ucSink); err != nil {
			t.Fatal(err)
		}
		socks := o.all()
		if len(socks) != 2 || !socks[0].multicast || socks[1].multicast {
			t.Fatalf("want a multicast and a unicast socket, got %d", len(socks))
		}
		mraw, uraw := socks[0], socks[1]

		// Unicast to us for unserved VRID 7: on both sockets, counted once.
		p := advertFrom(t, "198.18.0.12", 7, 100)
		p.Dst = src
		mraw.in <- p
		uraw.in <- p
		// Multicast for unserved VRID 8: only the multicast socket has it.
		mraw.in <- advertFrom(t, "198.18.0.13", 8, 100)
		// VRID 2's peer, unicast: delivered by the unicast socket, and not
		// counted by the multicast one (VRID 2 is not served there).
		p2 := advertFrom(t, "198.18.0.12", 2, 100)
		p2.Dst = src
		mraw.in <- p2
		uraw.in <- p2
		// Too short to have a VRID.
		mraw.in <- vrrp.Packet{Payload: []byte{0x31}, Src: src, Dst: vrrp.GroupIPv4, TTL: 255}
		synctest.Wait()

		d := dropsOf(table, "eth0")
		if d["vrid"] != 2 || d["short"] != 1 {
			t.Errorf("drops %v, want vrid 2 (VRIDs 7 and 8, once each) and short 1", d)
		}
		if len(ucPkts) != 1 || len(mcPkts) != 0 {
			t.Errorf("delivered %d to VRID 2 (unicast) and %d to VRID 1; want 1 and 0", len(ucPkts), len(mcPkts))
		}
		got := <-ucPkts
		if got.p.Payload[1] != 2 || got.gen != 1 {
			t.Errorf("VRID 2 got %+v", got)
		}
		got.release()

		// Without a unicast socket, the multicast one counts unicast too.
		uc.Close()
		synctest.Wait()
		mraw.in <- p
		synctest.Wait()
		if d := dropsOf(table, "eth0"); d["vrid"] != 3 {
			t.Errorf("vrid drops %d after the unicast socket closed, want 3", d["vrid"])
		}
		mc.Close()
		synctest.Wait()
	})
}

// TestSharedSocketVRIDServedOnce: a second instance for a VRID already served
// on the socket is refused, naming the VRID; a full instance queue drops
// (counted) instead of holding up the socket.
func TestSharedSocketVRIDServedOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var o fakeOpener
		table := newSocketTable(o.open)
		cc := vrrp.ConnConfig{Interface: testIfi, Family: 4, Source: netip.MustParseAddr("198.18.0.11")}
		a, _ := table.listen(cc)
		b, _ := table.listen(cc)
		sa, pkts, _ := sinkFor(1)
		sb, _, _ := sinkFor(1)
		if err := a.(*member).attach(5, sa); err != nil {
			t.Fatal(err)
		}
		if err := b.(*member).attach(5, sb); err == nil {
			t.Fatal("two instances attached to VRID 5 on one socket")
		}
		raw := o.all()[0]
		for range cap(pkts) + 2 {
			raw.in <- advertFrom(t, "198.18.0.2", 5, 200)
		}
		synctest.Wait()
		if d := dropsOf(table, "eth0")["queue_full"]; d != 2 || len(pkts) != cap(pkts) {
			t.Errorf("queue_full %d with %d queued, want 2 with %d", d, len(pkts), cap(pkts))
		}
		b.Close()
		a.Close()
		a.Close() // twice is harmless
		synctest.Wait()
		if !raw.isClosed() || raw.closes != 1 {
			t.Errorf("closed %v (%d times), want once", raw.isClosed(), raw.closes)
		}
		if err := a.WriteTo([]byte{0x31, 5, 100}, vrrp.GroupIPv4); !errors.Is(err, net.ErrClosed) {
			t.Errorf("write after close: %v, want net.ErrClosed", err)
		}
	})
}

// TestSharedSocketReadErrorRebinds: a read error reaches every member, and
// the next listen gets a new socket, not the broken one.
func TestSharedSocketReadErrorRebinds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var o fakeOpener
		table := newSocketTable(o.open)
		cc := vrrp.ConnConfig{Interface: testIfi, Family: 4, Source: netip.MustParseAddr("198.18.0.11")}
		a, _ := table.listen(cc)
		b, _ := table.listen(cc)
		sa, _, ea := sinkFor(3)
		sb, _, eb := sinkFor(4)
		_ = a.(*member).attach(1, sa)
		_ = b.(*member).attach(2, sb)
		boom := errors.New("ENETDOWN, say")
		o.all()[0].readErr <- boom
		synctest.Wait()
		if len(ea) != 1 || len(eb) != 1 {
			t.Fatalf("read failures delivered: %d and %d, want 1 each", len(ea), len(eb))
		}
		if f := <-ea; f.gen != 3 || !errors.Is(f.err, boom) {
			t.Errorf("member a got %+v", f)
		}
		c, _ := table.listen(cc)
		if len(o.all()) != 2 {
			t.Errorf("%d sockets opened; after a failure the next listen opens a new one", len(o.all()))
		}
		a.Close()
		b.Close()
		if !o.all()[0].isClosed() {
			t.Error("the broken socket stayed open after its members let go")
		}
		c.Close()
		synctest.Wait()
	})
}
