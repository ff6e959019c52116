//go:build integration

package integration

// TestPlanned* prove issue 9 against bin/vipd in the lab: every planned move
// (SIGTERM, preemption, maintenance, resign, reload) costs the client nothing.
// A client probes the VIP every 5 ms; each move asserts the longest time the
// client went without an answer (at most plannedGap), and, on the wire (one
// capture of VRRP and ARP in the switch, in arrival order), make before
// break: the new Master announces the VIPs before its first advert, the old
// one holds them until that advert and never announces after its priority 0
// advert (or after the new Master's first advert, for a preemption). Run with:
//
//	go test -tags integration ./integration/ -run TestPlanned -count=1 -v

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vipd/vipd/control"
)

const (
	// plannedGap is issue 9's bound on the client's longest gap in a planned
	// move: four probe intervals.
	plannedGap = 20 * time.Millisecond
	// plannedJitter is what a move with no probe lost may add to plannedGap
	// on this 2-core host: an answer delayed by the answering host's own
	// scheduling (a container starting beside it), not a loss. Measured:
	// 22 ms once in a hundred moves; a lost probe fails at once.
	plannedJitter = 10 * time.Millisecond
	// plannedProbe is the client's probe interval.
	plannedProbe = 5 * time.Millisecond
)

// plannedIntervals are the advert intervals the moves whose timing follows
// the interval (SIGTERM, preemption) are tried at.
var plannedIntervals = []time.Duration{200 * time.Millisecond, time.Second}

// ---- the client ----

// startProberEvery is startProber (prober.go) with another probe interval,
// and answers stamped by the kernel on arrival (SO_TIMESTAMPNS), so that the
// client's own scheduling on a loaded machine does not show as a gap.
func startProberEvery(l *lab, vip netip.Addr, every time.Duration) *prober {
	l.t.Helper()
	l.startResponders()
	p := &prober{
		dst:      net.UDPAddrFromAddrPort(netip.AddrPortFrom(vip, probePort)),
		interval: every,
		seen:     map[uint64]int{},
		stop:     make(chan struct{}),
	}
	network := "udp4"
	if vip.Is6() {
		network = "udp6"
	}
	if err := inNetns(l.cl.NS, func() error {
		c, err := net.ListenPacket(network, ":0")
		if err != nil {
			return err
		}
		p.conn = c
		rc, err := c.(*net.UDPConn).SyscallConn()
		if err != nil {
			return err
		}
		var serr error
		if err := rc.Control(func(fd uintptr) {
			serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1)
		}); err != nil {
			return err
		}
		return serr
	}); err != nil {
		l.t.Fatalf("harness: prober: %v", err)
	}
	p.start = time.Now()
	p.done.Add(2)
	go p.send()
	go p.receiveStamped()
	l.onTeardown(func() { p.Stop() })
	return p
}

// receiveStamped is prober.receive with the kernel's arrival time.
func (p *prober) receiveStamped() {
	defer p.done.Done()
	c := p.conn.(*net.UDPConn)
	buf, oob := make([]byte, 1500), make([]byte, 128)
	for {
		n, oobn, _, _, err := c.ReadMsgUDP(buf, oob)
		now := time.Now()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		if msgs, err := unix.ParseSocketControlMessage(oob[:oobn]); err == nil {
			for _, m := range msgs {
				if m.Header.Level == unix.SOL_SOCKET && m.Header.Type == unix.SCM_TIMESTAMPNS && len(m.Data) >= 16 {
					ts := time.Unix(int64(binary.NativeEndian.Uint64(m.Data[0:8])), int64(binary.NativeEndian.Uint64(m.Data[8:16])))
					// Keep the monotonic reading: now less the time the
					// answer waited in the socket.
					if wait := now.Sub(ts); wait > 0 && wait < time.Second {
						now = now.Add(-wait)
					}
				}
			}
		}
		f := strings.SplitN(string(buf[:n]), " ", 2)
		if len(f) != 2 {
			continue
		}
		seq, err := strconv.ParseUint(f[0], 10, 64)
		if err != nil {
			continue
		}
		p.mu.Lock()
		if seq < uint64(len(p.sent)) {
			p.seen[seq]++
			p.answers = append(p.answers, probeAnswer{Seq: seq, Host: f[1], Sent: p.sent[seq], At: now})
		}
		p.mu.Unlock()
	}
}

// plannedProber starts a 5 ms prober on vip and waits until host answers it
// steadily.
func plannedProber(t testing.TB, l *lab, vip netip.Addr, host string) *prober {
	t.Helper()
	p := startProberEvery(l, vip, plannedProbe)
	waitFor(t, 5*time.Second, host+" answering "+vip.String(), func() (bool, string) {
		h, _ := p.LastHost()
		return p.StableOn(host, 300*time.Millisecond), "last answer from " + h
	})
	return p
}

// move is what the client saw over one planned move.
type move struct {
	Gap   time.Duration // longest time without an answer
	GapAt time.Time     // when that gap began
	// NetGap is the longest time without an answer less the client's own
	// stalls within it: the part of a gap during which the client sent
	// nothing (its goroutine not scheduled on a loaded machine) beyond one
	// probe interval is the instrument's, not the VIP's.
	NetGap  time.Duration
	SendGap time.Duration // longest time between two probes sent
	Lost    int           // probes sent in the window and never answered
	Sent    int
	Hosts   []string // answering hosts, in order of their runs
	Dups    int      // probes answered twice
}

func (m move) String() string {
	return fmt.Sprintf("longest gap %v (at %s; %v less the client's own stalls), %d of %d probes lost, longest send gap %v, hosts %v, %d answered twice",
		m.Gap.Round(100*time.Microsecond), m.GapAt.Format("15:04:05.000"), m.NetGap.Round(100*time.Microsecond), m.Lost, m.Sent,
		m.SendGap.Round(100*time.Microsecond), m.Hosts, m.Dups)
}

// window returns what p saw between from and to. A probe sent in the last
// 50 ms may still be on its way and is not counted as lost.
func (p *prober) window(from, to time.Time) move {
	p.mu.Lock()
	defer p.mu.Unlock()
	var m move
	var sent []time.Time // in the window, in order
	for seq, s := range p.sent {
		if s.Before(from) || s.After(to) {
			continue
		}
		if n := len(sent); n > 0 && s.Sub(sent[n-1]) > m.SendGap {
			m.SendGap = s.Sub(sent[n-1])
		}
		sent = append(sent, s)
		m.Sent++
		if n := p.seen[uint64(seq)]; n == 0 && s.Before(to.Add(-50*time.Millisecond)) {
			m.Lost++
		} else if n > 1 {
			m.Dups++
		}
	}
	// stall is the time in (a, b) the client spent not sending beyond one
	// probe interval.
	stall := func(a, b time.Time) time.Duration {
		var d time.Duration
		for i := 1; i < len(sent); i++ {
			lo, hi := sent[i-1], sent[i]
			if lo.Before(a) {
				lo = a
			}
			if hi.After(b) {
				hi = b
			}
			if hi.After(lo) && sent[i].Sub(sent[i-1]) > p.interval {
				d += max(0, hi.Sub(lo)-p.interval)
			}
		}
		return d
	}
	gap := func(a, b time.Time) {
		if g := b.Sub(a); g > m.Gap {
			m.Gap, m.GapAt = g, a
		}
		m.NetGap = max(m.NetGap, b.Sub(a)-stall(a, b))
	}
	prev := from
	for _, a := range p.answers {
		if a.At.Before(from) || a.At.After(to) {
			continue
		}
		gap(prev, a.At)
		prev = a.At
		if n := len(m.Hosts); n == 0 || m.Hosts[n-1] != a.Host {
			m.Hosts = append(m.Hosts, a.Host)
		}
	}
	gap(prev, to)
	return m
}

// settle waits until host alone answers p, then returns the window from from.
func settle(t testing.TB, p *prober, from time.Time, host string, timeout time.Duration) move {
	t.Helper()
	waitFor(t, timeout, "client answered by "+host+" alone", func() (bool, string) {
		h, _ := p.LastHost()
		return p.StableOn(host, 300*time.Millisecond), "last answer from " + h
	})
	return p.window(from, time.Now())
}

// checkMove fails the test if the client's longest gap (less its own
// stalls) exceeded plannedGap, a probe was lost or answered twice, or the
// answers did not end on host.
func checkMove(t testing.TB, what string, m move, host string) {
	t.Helper()
	t.Logf("%s: %v", what, m)
	if limit := plannedGap + map[bool]time.Duration{true: plannedJitter}[m.Lost == 0]; m.NetGap > limit {
		t.Errorf("%s: the client went %v without an answer (from %s); want at most %v. %v",
			what, m.NetGap.Round(100*time.Microsecond), m.GapAt.Format("15:04:05.000"), limit, m)
	} else if m.NetGap > plannedGap {
		t.Logf("%s: %v without an answer, within the scheduling jitter allowed with no probe lost", what, m.NetGap.Round(100*time.Microsecond))
	}
	if m.Lost > 0 {
		t.Errorf("%s: %d probes lost; a planned move loses none", what, m.Lost)
	}
	if m.Dups > 0 {
		t.Errorf("%s: %d probes answered by two hosts", what, m.Dups)
	}
	if len(m.Hosts) == 0 || m.Hosts[len(m.Hosts)-1] != host {
		t.Errorf("%s: answers from %v; want them to end on %s", what, m.Hosts, host)
	}
}

// ---- the wire: VRRP adverts and ARP, in arrival order ----

// wireARP is an ARP packet (RFC 826) for IPv4 over Ethernet.
type wireARP struct {
	Op       int // 1 request, 2 reply
	SHA, THA net.HardwareAddr
	SPA, TPA netip.Addr
}

// Gratuitous reports whether the packet announces SPA to the whole link:
// sender and target protocol addresses equal (RFC 5227 §3), as a request, or
// as a reply whose target hardware address is the sender's own or broadcast
// (RFC 5944 §4.6): what vipd's announcer sends. A reply to another host's
// announcement (the kernel of a holder answering the new Master's
// gratuitous request, addressed to that Master alone) is not one.
func (a wireARP) Gratuitous() bool {
	if a.SPA != a.TPA {
		return false
	}
	return a.Op == 1 || bytes.Equal(a.THA, a.SHA) || bytes.Equal(a.THA, net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
}

// wireEvent is one frame a host sent into the switch: an advert or an ARP.
type wireEvent struct {
	Seq    int // arrival order on the one socket
	At     time.Time
	Host   string
	Advert *wireAdvert
	ARP    *wireARP
}

func (e wireEvent) String() string {
	if e.Advert != nil {
		return e.Advert.String()
	}
	return fmt.Sprintf("%s %s ARP op %d %s (%s) -> %s (%s)", e.At.Format("15:04:05.000"), e.Host,
		e.ARP.Op, e.ARP.SPA, e.ARP.SHA, e.ARP.TPA, e.ARP.THA)
}

// wireLog captures, with one AF_PACKET socket in the switch namespace, every
// VRRP advert and ARP packet entering the bridge, so that the order of an
// advert and an ARP from one host is the order the host sent them in.
type wireLog struct {
	f     *os.File
	ports map[int]string // ifindex in the switch namespace -> node name
	mu    sync.Mutex
	evs   []wireEvent
	done  chan struct{}
	// until, when set, ends the window cutover checks the old Master's
	// silence in: where that router's next term begins.
	until time.Time
}

func startWireLog(l *lab) *wireLog {
	l.t.Helper()
	w := &wireLog{ports: map[int]string{}, done: make(chan struct{})}
	err := inNetns(l.sw, func() error {
		for _, n := range l.nodes() {
			ifi, err := net.InterfaceByName(n.Port)
			if err != nil {
				return err
			}
			w.ports[ifi.Index] = n.Name
		}
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, int(htons(unix.ETH_P_ALL)))
		if err != nil {
			return fmt.Errorf("AF_PACKET: %w", err)
		}
		if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL)}); err != nil {
			unix.Close(fd)
			return err
		}
		w.f = os.NewFile(uintptr(fd), "wirelog")
		return nil
	})
	if err != nil {
		l.t.Fatalf("wire log: %v", err)
	}
	go w.loop()
	l.onTeardown(func() { w.f.Close(); <-w.done })
	return w
}

func (w *wireLog) loop() {
	defer close(w.done)
	rc, err := w.f.SyscallConn()
	if err != nil {
		return
	}
	buf := make([]byte, 2048)
	for {
		var n int
		var from unix.Sockaddr
		var rerr error
		if err := rc.Read(func(fd uintptr) bool {
			n, from, rerr = unix.Recvfrom(int(fd), buf, unix.MSG_DONTWAIT)
			return !errors.Is(rerr, unix.EAGAIN)
		}); err != nil {
			return // closed
		}
		if rerr != nil {
			continue
		}
		ll, ok := from.(*unix.SockaddrLinklayer)
		if !ok || ll.Pkttype == unix.PACKET_OUTGOING {
			continue // the copies the bridge floods out of the other ports
		}
		host, ok := w.ports[ll.Ifindex]
		if !ok {
			continue
		}
		ev := wireEvent{At: time.Now(), Host: host}
		switch proto := ntohs(ll.Protocol); proto {
		case unix.ETH_P_ARP:
			a, ok := parseARP(buf[:n])
			if !ok {
				continue
			}
			ev.ARP = &a
		default:
			a, ok := parseAdvert(buf[:n], proto)
			if !ok {
				continue
			}
			a.At, a.Host = ev.At, host
			ev.Advert = &a
		}
		w.mu.Lock()
		ev.Seq = len(w.evs)
		w.evs = append(w.evs, ev)
		w.mu.Unlock()
	}
}

// parseARP reads an Ethernet/IPv4 ARP packet (RFC 826).
func parseARP(b []byte) (wireARP, bool) {
	if len(b) < 28 || binary.BigEndian.Uint16(b[0:2]) != 1 || binary.BigEndian.Uint16(b[2:4]) != unix.ETH_P_IP || b[4] != 6 || b[5] != 4 {
		return wireARP{}, false
	}
	return wireARP{
		Op:  int(binary.BigEndian.Uint16(b[6:8])),
		SHA: net.HardwareAddr(slices.Clone(b[8:14])), SPA: netip.AddrFrom4([4]byte(b[14:18])),
		THA: net.HardwareAddr(slices.Clone(b[18:24])), TPA: netip.AddrFrom4([4]byte(b[24:28])),
	}, true
}

// events returns the events seen at or after since.
func (w *wireLog) events(since time.Time) []wireEvent {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []wireEvent
	for _, e := range w.evs {
		if !e.At.Before(since) {
			out = append(out, e)
		}
	}
	return out
}

// first returns the first event after seq (-1: any) that matches pred.
func (w *wireLog) first(since time.Time, after int, pred func(wireEvent) bool) (wireEvent, bool) {
	for _, e := range w.events(since) {
		if e.Seq > after && pred(e) {
			return e, true
		}
	}
	return wireEvent{}, false
}

func isAdvert(host string, vrid int, prio func(int) bool) func(wireEvent) bool {
	return func(e wireEvent) bool {
		return e.Host == host && e.Advert != nil && e.Advert.VRID == vrid && prio(e.Advert.Priority)
	}
}

func isGARP(host string, vip netip.Addr) func(wireEvent) bool {
	return func(e wireEvent) bool {
		return e.Host == host && e.ARP != nil && e.ARP.SPA == vip && e.ARP.Gratuitous()
	}
}

// cutover checks make before break on the wire for a move of vip from old to
// now: old's last word (its priority 0 advert when zero is true, else the
// new Master's first advert) is followed by no announcement from old until it
// w.until, if set; the new
// Master announces before its first advert. It returns that first advert.
func (w *wireLog) cutover(t testing.TB, since time.Time, vrid int, vip netip.Addr, old, now string, zero bool) wireEvent {
	t.Helper()
	after := -1
	if zero {
		z, ok := w.first(since, -1, isAdvert(old, vrid, func(p int) bool { return p == 0 }))
		if !ok {
			t.Fatalf("wire: no priority 0 advert from %s since %s", old, since.Format("15:04:05.000"))
		}
		after = z.Seq
	}
	adv, ok := w.first(since, after, isAdvert(now, vrid, func(p int) bool { return p > 0 }))
	if !ok {
		t.Fatalf("wire: no advert from the new Master %s", now)
	}
	if !zero {
		after = adv.Seq
	}
	g, ok := w.first(since, -1, isGARP(now, vip))
	switch {
	case !ok:
		t.Errorf("wire: the new Master %s never announced %v", now, vip)
	case g.Seq > adv.Seq:
		t.Errorf("wire: %s advertised (%v) before it announced %v (%v): break before make", now, adv, vip, g)
	}
	for _, e := range w.events(since) {
		if !w.until.IsZero() && !e.At.Before(w.until) {
			break // old's own later move (a restarted router), judged by its own cutover
		}
		if e.Seq <= after || e.Host != old || e.ARP == nil || e.ARP.SPA != vip {
			continue
		}
		if e.ARP.Gratuitous() {
			t.Errorf("wire: %s announced %v after it gave the role up: %v (two announcing holders)", old, vip, e)
		} else {
			t.Logf("wire: %s answered for %v while it still held it: %v", old, vip, e)
		}
	}
	t.Logf("wire: %s announced %v %v before its first advert; %s silent on %v from seq %d",
		now, vip, adv.At.Sub(g.At).Round(10*time.Microsecond), old, vip, after)
	return adv
}

// ---- vipd ----

// plannedArgs are the flags every vipd here gets beside its instance: the
// metrics address on its namespace's loopback.
var plannedArgs = []string{"--metrics-address", hardMetrics}

// startPlanned starts vipd on host i with its host's state dir (startOn).
func startPlanned(l *lab, i, prio int, iv time.Duration, args ...string) *vipd {
	l.t.Helper()
	return startOn(l, i, "", vipdSpec{Priority: prio, Interval: iv, Args: append(slices.Clone(plannedArgs), args...)})
}

// vipctl runs vipctl against v and returns its exit code and output.
func (v *vipd) ctl(args ...string) (int, string, string) {
	cmd := exec.Command(v.vipctl, append([]string{"--socket", v.sock}, args...)...)
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		code = -1
	}
	return code, out.String(), errb.String()
}

func (v *vipd) mustCtl(t testing.TB, args ...string) string {
	t.Helper()
	code, out, errs := v.ctl(args...)
	if code != 0 {
		t.Fatalf("%s: vipctl %s: exit %d: %s%s", v.node.Name, strings.Join(args, " "), code, out, errs)
	}
	t.Logf("%s: vipctl %s: %s", v.node.Name, strings.Join(args, " "), strings.TrimSpace(out))
	return out
}

// sigterm sends SIGTERM to v and returns when it was sent.
func (v *vipd) sigterm(t testing.TB) time.Time {
	t.Helper()
	at := time.Now()
	if err := v.lab.Kill(v.pid, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	return at
}

// exited waits for v to exit and checks its exit code is 0.
func (v *vipd) exited(t testing.TB, timeout time.Duration) {
	t.Helper()
	if !v.lab.WaitExit(v.pid, timeout) {
		t.Fatalf("%s's vipd still running %v after SIGTERM:\n%s", v.node.Name, timeout, tail(v.lab.LogPath(v.pid), 20))
	}
	if code, _ := v.lab.ExitCode(v.pid); code != 0 {
		t.Errorf("%s's vipd exited %d after SIGTERM, want 0:\n%s", v.node.Name, code, tail(v.lab.LogPath(v.pid), 20))
	}
}

// logHas fails the test unless v's log holds every one of subs.
func logHas(t testing.TB, v *vipd, subs ...string) {
	t.Helper()
	log := v.logText()
	for _, s := range subs {
		if !strings.Contains(log, s) {
			t.Errorf("%s's vipd log lacks %q:\n%s", v.node.Name, s, log)
		}
	}
}

// heldUntil checks, from h's address events, that h held vip from since
// until at least the new Master's first advert at adv.
func heldUntil(t testing.TB, w *kvAddrWatch, who string, vip netip.Addr, since, adv time.Time) {
	t.Helper()
	gone, ok := w.first(since, false, vip)
	if !ok {
		t.Errorf("%s: %v never removed", who, vip)
		return
	}
	t.Logf("%s removed %v %v after the new Master's first advert", who, vip, gone.At.Sub(adv).Round(10*time.Microsecond))
	// Both times are reads in two goroutines (the switch's capture, the
	// host's rtnetlink events): a removal caused by the advert can be
	// stamped a few microseconds before it. Breaking before making would be
	// at least a Skew_Time early.
	if gone.At.Before(adv.Add(-time.Millisecond)) {
		t.Errorf("%s removed %v %v before the new Master's first advert: break before make", who, vip, adv.Sub(gone.At))
	}
}

// ---- the tests ----

// TestPlannedSigterm: SIGTERM of the Master of three; the best Backup takes
// over after its Skew_Time and the client loses nothing: the old Master
// holds the VIP, silent, until the new Master's advert, which the new Master
// sends after announcing. The old one exits 0, ended by that advert.
func TestPlannedSigterm(t *testing.T) {
	for _, iv := range plannedIntervals {
		t.Run(iv.String(), func(t *testing.T) {
			l := newLab(t, 3, withoutIPv6())
			w := startWireLog(l)
			vs := []*vipd{startPlanned(l, 0, 200, iv), startPlanned(l, 1, 150, iv), startPlanned(l, 2, 100, iv)}
			waitElected(t, l, vs, all(3), 0, masterDown(iv, 200)+5*time.Second)
			a0 := kvWatchAddrs(l, l.host(0))
			p := plannedProber(t, l, l.VIP4, "h0")

			sig := vs[0].sigterm(t)
			m := settle(t, p, sig.Add(-50*time.Millisecond), "h1", 2*masterDown(iv, 150))
			vs[0].exited(t, masterDown(iv, 200)+2*time.Second)
			checkMove(t, "SIGTERM", m, "h1")
			waitElected(t, l, vs, []int{1, 2}, 1, 2*time.Second)
			adv := w.cutover(t, sig, 51, l.VIP4, "h0", "h1", true)
			heldUntil(t, a0, "h0", l.VIP4, sig, adv.At)
			z, _ := w.first(sig, -1, isAdvert("h0", 51, func(p int) bool { return p == 0 }))
			t.Logf("priority 0 %v after SIGTERM; h1's first advert %v after it (Skew_Time %v)",
				z.At.Sub(sig).Round(100*time.Microsecond), adv.At.Sub(z.At).Round(time.Millisecond), skew(iv, 150))
			logHas(t, vs[0], "to=HANDOFF reason=shutdown", "reason=handoff-done")
			if in := vs[2].mustInst(t); in.Transitions["priority-zero-advert"] != 0 {
				t.Errorf("h2 (priority 100) took over too: transitions %v", in.Transitions)
			}
		})
	}
}

// TestPlannedSigtermLone: a vipd alone on the segment keeps the VIP (and
// answers) for Master_Down_Interval after its priority 0 advert, waiting for
// a Master that never comes, then removes it and exits 0.
func TestPlannedSigtermLone(t *testing.T) {
	const iv = 200 * time.Millisecond
	l := newLab(t, 1, withoutIPv6())
	w := startWireLog(l)
	v := startPlanned(l, 0, 200, iv)
	waitInst(t, v, masterDown(iv, 200)+5*time.Second, "MASTER", func(in control.Instance) bool { return in.State == "MASTER" })
	a0 := kvWatchAddrs(l, l.host(0))
	p := plannedProber(t, l, l.VIP4, "h0")

	sig := v.sigterm(t)
	mdi := masterDown(iv, 200)
	v.exited(t, mdi+3*time.Second)
	exit := time.Now()
	z, ok := w.first(sig, -1, isAdvert("h0", 51, func(p int) bool { return p == 0 }))
	if !ok {
		t.Fatal("no priority 0 advert from h0 after SIGTERM")
	}
	gone, ok := a0.first(sig, false, l.VIP4)
	if !ok {
		t.Fatalf("VIP never removed from h0 (holders %v)", holders(l, l.VIP4))
	}
	held := gone.At.Sub(z.At)
	_, lastAns := p.LastHost()
	t.Logf("lone SIGTERM: VIP removed %v after the priority 0 advert (Master_Down_Interval %v); exited %v after SIGTERM; last answer %v after the advert",
		held.Round(time.Millisecond), mdi, exit.Sub(sig).Round(time.Millisecond), lastAns.Sub(z.At).Round(time.Millisecond))
	if held < mdi-10*time.Millisecond || held > mdi+takeoverTolerance {
		t.Errorf("VIP held %v after the priority 0 advert; want Master_Down_Interval %v (+%v)", held, mdi, takeoverTolerance)
	}
	if lastAns.Sub(z.At) < mdi-plannedGap {
		t.Errorf("the client's last answer came %v after the priority 0 advert; h0 must answer until it removes the VIP (%v)", lastAns.Sub(z.At), held)
	}
	if l.host(0).HasAddr(l.VIP4) {
		t.Error("h0 still holds the VIP after exiting")
	}
	if evs := w.events(z.At); slices.ContainsFunc(evs, isGARP("h0", l.VIP4)) {
		t.Errorf("h0 announced after its priority 0 advert: %v", evs)
	}
	logHas(t, v, "reason=handoff-timeout")
}

// TestPlannedPreemption: a higher priority starting while a lower one is
// Master takes over with nothing lost: it announces, then advertises; the
// old Master removes the VIP on that advert.
func TestPlannedPreemption(t *testing.T) {
	for _, iv := range plannedIntervals {
		t.Run(iv.String(), func(t *testing.T) {
			l := newLab(t, 2, withoutIPv6())
			w := startWireLog(l)
			vs := []*vipd{nil, startPlanned(l, 1, 100, iv)}
			waitInst(t, vs[1], masterDown(iv, 100)+5*time.Second, "MASTER", func(in control.Instance) bool { return in.State == "MASTER" })
			a1 := kvWatchAddrs(l, l.host(1))
			p := plannedProber(t, l, l.VIP4, "h1")

			start := time.Now()
			vs[0] = startPlanned(l, 0, 200, iv)
			m := settle(t, p, start, "h0", masterDown(iv, 200)+5*time.Second)
			checkMove(t, "preemption", m, "h0")
			waitElected(t, l, vs, all(2), 0, 2*time.Second)
			adv := w.cutover(t, start, 51, l.VIP4, "h1", "h0", false)
			heldUntil(t, a1, "h1", l.VIP4, start, adv.At)
			if in := vs[0].mustInst(t); in.Reason != "preempt" {
				t.Errorf("h0 MASTER for %q, want preempt", in.Reason)
			}
		})
	}
}

// TestPlannedMaintenance: `vipctl maintenance on` hands the Master's VIP off
// with nothing lost and leaves it at priority 1, in status and metrics; a
// restart keeps it drained (state.json); `maintenance off` lets it preempt
// back, again with nothing lost.
func TestPlannedMaintenance(t *testing.T) {
	const iv = 200 * time.Millisecond
	l := newLab(t, 2, withoutIPv6())
	w := startWireLog(l)
	vs := []*vipd{startPlanned(l, 0, 200, iv), startPlanned(l, 1, 100, iv)}
	waitElected(t, l, vs, all(2), 0, masterDown(iv, 200)+5*time.Second)
	a0 := kvWatchAddrs(l, l.host(0))
	p := plannedProber(t, l, l.VIP4, "h0")
	name := vs[0].mustInst(t).Name
	stateFile := filepath.Join(hostStateDir(l, 0), "state.json")

	// On: a hand-off.
	on := time.Now()
	vs[0].mustCtl(t, "maintenance", "on")
	m := settle(t, p, on, "h1", 2*masterDown(iv, 100))
	checkMove(t, "maintenance on", m, "h1")
	waitElected(t, l, vs, all(2), 1, 2*time.Second)
	adv := w.cutover(t, on, 51, l.VIP4, "h0", "h1", true)
	heldUntil(t, a0, "h0", l.VIP4, on, adv.At)
	drained := func(v *vipd, what string) {
		t.Helper()
		in := v.mustInst(t)
		if !in.Maintenance || in.EffectivePriority != 1 || in.Priority != 200 || in.State != "BACKUP" {
			t.Errorf("%s: maintenance %v, effective priority %d (base %d), %s; want maintenance, priority 1 (base 200), BACKUP",
				what, in.Maintenance, in.EffectivePriority, in.Priority, in.State)
		}
		if got := metricSum(t, l, 0, "vipd_maintenance"); got != 1 {
			t.Errorf("%s: vipd_maintenance %v, want 1", what, got)
		}
		// Keyed by the name in the host's namespace, by namespace and name
		// ("net<inode>.vrid-51") in another.
		if b, err := os.ReadFile(stateFile); err != nil || !strings.Contains(string(b), "."+name+`"`) && !strings.Contains(string(b), `"`+name+`"`) {
			t.Errorf("%s: %s does not list %s: %q %v", what, stateFile, name, b, err)
		}
	}
	drained(vs[0], "maintenance on")
	staysBackup := func(what string, d time.Duration) {
		t.Helper()
		for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
			if ok, why := electedAmong(l, vs, all(2), 1); !ok {
				t.Fatalf("%s: %s", what, why)
			}
		}
	}
	staysBackup("drained h0 (priority 1 against 100)", 3*masterDown(iv, 1))
	if a, ok := w.first(on, adv.Seq, isAdvert("h0", 51, func(int) bool { return true })); ok {
		t.Errorf("drained h0 advertised: %v", a)
	}

	// A restart keeps it drained.
	vs[0].Stop()
	restart := time.Now()
	vs[0] = startPlanned(l, 0, 200, iv)
	waitInst(t, vs[0], 5*time.Second, "BACKUP behind h1 after the restart", func(in control.Instance) bool {
		return in.State == "BACKUP" && in.Master != ""
	})
	staysBackup("restarted drained h0", 3*masterDown(iv, 1))
	drained(vs[0], "after a restart")
	if m := p.window(restart, time.Now()); m.NetGap > plannedGap+plannedJitter || m.Lost > 0 || !slices.Equal(m.Hosts, []string{"h1"}) {
		t.Errorf("restart of the drained h0 disturbed the client: %v", m)
	}

	// Off: h0 preempts back.
	off := time.Now()
	vs[0].mustCtl(t, "maintenance", "off")
	m = settle(t, p, off, "h0", masterDown(iv, 200)+3*time.Second)
	checkMove(t, "maintenance off", m, "h0")
	waitElected(t, l, vs, all(2), 0, 2*time.Second)
	adv = w.cutover(t, off, 51, l.VIP4, "h1", "h0", false)
	in := vs[0].mustInst(t)
	if in.Maintenance || in.EffectivePriority != 200 || in.Reason != "preempt" {
		t.Errorf("maintenance off: maintenance %v, effective priority %d, MASTER for %q; want off, 200, preempt", in.Maintenance, in.EffectivePriority, in.Reason)
	}
	if got := metricSum(t, l, 0, "vipd_maintenance"); got != 0 {
		t.Errorf("maintenance off: vipd_maintenance %v, want 0", got)
	}
	if b, err := os.ReadFile(stateFile); err == nil && strings.Contains(string(b), `"`+name+`"`) {
		t.Errorf("maintenance off: %s still lists %s: %s", stateFile, name, b)
	}
	logHas(t, vs[0], "asked_by=")
}

// TestPlannedResign: `vipctl resign` hands off once with nothing lost; the
// resigned router, still of the highest priority, takes the VIP back by
// preemption (again with nothing lost); resign on a Backup fails with exit 1
// and says why.
func TestPlannedResign(t *testing.T) {
	const iv = 200 * time.Millisecond
	l := newLab(t, 2, withoutIPv6())
	w := startWireLog(l)
	vs := []*vipd{startPlanned(l, 0, 200, iv), startPlanned(l, 1, 100, iv)}
	waitElected(t, l, vs, all(2), 0, masterDown(iv, 200)+5*time.Second)
	a0 := kvWatchAddrs(l, l.host(0))
	p := plannedProber(t, l, l.VIP4, "h0")

	res := time.Now()
	vs[0].mustCtl(t, "resign")
	m := settle(t, p, res, "h1", 2*masterDown(iv, 100))
	checkMove(t, "resign", m, "h1")
	adv := w.cutover(t, res, 51, l.VIP4, "h0", "h1", true)
	heldUntil(t, a0, "h0", l.VIP4, res, adv.At)

	// Back by the usual rules: priority 200 with preemption.
	back := time.Now()
	m = settle(t, p, back, "h0", masterDown(iv, 200)+3*time.Second)
	checkMove(t, "preemption after resign", m, "h0")
	waitElected(t, l, vs, all(2), 0, 2*time.Second)
	w.cutover(t, adv.At, 51, l.VIP4, "h1", "h0", false)

	code, out, errs := vs[1].ctl("resign")
	t.Logf("resign on the Backup: exit %d: %s%s", code, out, errs)
	if code != 1 || !strings.Contains(errs, "MASTER") {
		t.Errorf("resign on the Backup: exit %d, stderr %q; want 1 and a message that it is not MASTER", code, errs)
	}
	if ok, why := electedAmong(l, vs, all(2), 0); !ok {
		t.Errorf("after a refused resign: %s", why)
	}
}

// ---- reload ----

// reloadInstance is one instance of a test config file.
type reloadInstance struct {
	Name string
	VRID int
	Prio int
	VIPs []netip.Addr
}

func reloadConfig(iv time.Duration, ins ...reloadInstance) string {
	var b strings.Builder
	b.WriteString("instances:\n")
	for _, in := range ins {
		var vips []string
		for _, v := range in.VIPs {
			vips = append(vips, v.String())
		}
		fmt.Fprintf(&b, "- name: %s\n  interface: %s\n  vrid: %d\n  priority: %d\n  vips: [%s]\n  advertInterval: %s\n",
			in.Name, hostIf, in.VRID, in.Prio, strings.Join(vips, ", "), iv)
	}
	return b.String()
}

// reloadVipd is a vipd run from a config file that the test rewrites.
type reloadVipd struct {
	*vipd
	conf string
}

func startReloadVipd(l *lab, i int, conf string) *reloadVipd {
	l.t.Helper()
	bin := vipdBinaries(l)
	n := l.host(i)
	path := filepath.Join(l.dir, fmt.Sprintf("reload-%s.yaml", n.Name))
	if err := writeFile(path, conf); err != nil {
		l.t.Fatal(err)
	}
	sock := filepath.Join(l.dir, fmt.Sprintf("vipd-%s-%d.sock", n.Name, l.logSeq.Add(1)))
	v := &vipd{lab: l, node: n, vrid: 51, sock: sock, vipctl: filepath.Join(bin, "vipctl")}
	v.pid = n.Start("vipd", filepath.Join(bin, "vipd"), "--config", path, "--control-socket", sock,
		"--state-dir", hostStateDir(l, i), "--metrics-address", hardMetrics)
	return &reloadVipd{vipd: v, conf: path}
}

// reload writes conf and sends SIGHUP, then waits until the reload is
// counted, applied (ok) or rejected.
func (r *reloadVipd) reload(t testing.TB, conf string, ok bool) {
	t.Helper()
	before, err := r.doc()
	if err != nil {
		t.Fatal(err)
	}
	tmp := r.conf + ".new"
	if err := writeFile(tmp, conf); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, r.conf); err != nil {
		t.Fatal(err)
	}
	if err := r.lab.Kill(r.pid, syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, r.node.Name+" reload counted", func() (bool, string) {
		st, err := r.doc()
		if err != nil {
			return false, err.Error()
		}
		return st.Reloads.Applied+st.Reloads.Rejected > before.Reloads.Applied+before.Reloads.Rejected,
			fmt.Sprintf("%+v", st.Reloads)
	})
	st, _ := r.doc()
	if applied := st.Reloads.Applied > before.Reloads.Applied; applied != ok {
		t.Fatalf("%s: reloads %+v after %+v; want the reload applied: %v\n%s", r.node.Name, st.Reloads, before.Reloads, ok, tail(r.lab.LogPath(r.pid), 10))
	}
}

// transitions returns every instance's transition counts and state.
func (r *reloadVipd) transitions(t testing.TB) map[string]string {
	t.Helper()
	st, err := r.doc()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, in := range st.Instances {
		out[in.Name] = fmt.Sprintf("%s %v", in.State, in.Transitions)
	}
	return out
}

// noFlicker watches vip on a host: every 5 ms sample, and every address event.
type noFlicker struct {
	vip   netip.Addr
	who   string
	since time.Time
	poll  *addrWatch
	evs   *kvAddrWatch
}

func watchNoFlicker(t testing.TB, l *lab, i int, vip netip.Addr, evs *kvAddrWatch) *noFlicker {
	return &noFlicker{vip: vip, who: l.host(i).Name, since: time.Now(), poll: watchAddr(t, l.host(i).NS, vip, 5*time.Millisecond), evs: evs}
}

// check stops the watch and fails the test unless vip was present (want
// true) or absent throughout.
func (f *noFlicker) check(t testing.TB, what string, want bool) {
	t.Helper()
	samples, present, _, _, err := f.poll.Stop()
	if err != nil {
		t.Errorf("%s: %s: address samples: %v", what, f.who, err)
	}
	_, removed := f.evs.first(f.since, false, f.vip)
	_, added := f.evs.first(f.since, true, f.vip)
	t.Logf("%s: %s had %v in %d of %d samples (5 ms); removed %v, added %v", what, f.who, f.vip, present, samples, removed, added)
	if want && (present != samples || removed) || !want && (present != 0 || added) || samples < 10 {
		t.Errorf("%s: %s had %v in %d of %d samples, removed %v, added %v; want it %s throughout",
			what, f.who, f.vip, present, samples, removed, added, map[bool]string{true: "present", false: "absent"}[want])
	}
}

// TestPlannedReload: SIGHUP re-reads --config. A changed priority is applied
// with no transition and no VIP flicker; a changed VIP list adds (and
// answers) and removes addresses; an added instance starts; a removed one
// hands off with nothing lost; an invalid file is rejected whole, counted,
// logged with its field, and the running configuration goes on.
func TestPlannedReload(t *testing.T) {
	const iv = 200 * time.Millisecond
	l := newLab(t, 2, withoutIPv6())
	va, vb, vc, vd := netip.MustParseAddr("198.18.0.201"), netip.MustParseAddr("198.18.0.202"), netip.MustParseAddr("198.18.0.203"), l.VIP4
	api := func(prio int, vips ...netip.Addr) reloadInstance {
		return reloadInstance{Name: "api", VRID: 51, Prio: prio, VIPs: append([]netip.Addr{vd}, vips...)}
	}
	ingress := func(prio int) reloadInstance {
		return reloadInstance{Name: "ingress", VRID: 52, Prio: prio, VIPs: []netip.Addr{vc}}
	}
	rs := []*reloadVipd{startReloadVipd(l, 0, reloadConfig(iv, api(200, va))), startReloadVipd(l, 1, reloadConfig(iv, api(100, va)))}
	vs := []*vipd{rs[0].vipd, rs[1].vipd}
	waitElected(t, l, vs, all(2), 0, masterDown(iv, 200)+5*time.Second, vd, va)
	ev0, ev1 := kvWatchAddrs(l, l.host(0)), kvWatchAddrs(l, l.host(1))
	p := plannedProber(t, l, vd, "h0")
	untouched := func(what string, before []map[string]string) {
		t.Helper()
		for i, r := range rs {
			if now := r.transitions(t); fmt.Sprint(now["api"]) != fmt.Sprint(before[i]["api"]) {
				t.Errorf("%s: h%d's api instance moved: %v, then %v", what, i, before[i]["api"], now["api"])
			}
		}
	}
	snapshot := func() []map[string]string { return []map[string]string{rs[0].transitions(t), rs[1].transitions(t)} }

	// 1. Priorities: 200 → 190 on the Master, 100 → 150 on the Backup.
	before := snapshot()
	f0, f1 := watchNoFlicker(t, l, 0, vd, ev0), watchNoFlicker(t, l, 1, vd, ev1)
	from := time.Now()
	rs[0].reload(t, reloadConfig(iv, api(190, va)), true)
	rs[1].reload(t, reloadConfig(iv, api(150, va)), true)
	waitInst(t, vs[1], 2*time.Second, "effective priority 150", func(in control.Instance) bool {
		return in.EffectivePriority == 150 && in.MasterPriority == 190
	})
	time.Sleep(3 * iv) // a few adverts at the new priorities, watched
	f0.check(t, "priority reload", true)
	f1.check(t, "priority reload", false)
	untouched("priority reload", before)
	if in := vs[0].mustInst(t); in.EffectivePriority != 190 || in.State != "MASTER" {
		t.Errorf("priority reload: h0 %s at %d, want MASTER at 190", in.State, in.EffectivePriority)
	}
	checkMove(t, "priority reload", p.window(from, time.Now()), "h0")

	// 2. VIPs: va out, vb in, vd kept.
	before = snapshot()
	pa, pb := startProberEvery(l, va, plannedProbe), startProberEvery(l, vb, plannedProbe)
	f0 = watchNoFlicker(t, l, 0, vd, ev0)
	from = time.Now()
	rs[1].reload(t, reloadConfig(iv, api(150, vb)), true)
	rs[0].reload(t, reloadConfig(iv, api(190, vb)), true)
	waitFor(t, 3*time.Second, "vb on h0, va gone", func() (bool, string) {
		return l.host(0).HasAddr(vb) && !l.host(0).HasAddr(va), fmt.Sprint(holders(l, va), holders(l, vb))
	})
	waitFor(t, 3*time.Second, "vb answering from h0", func() (bool, string) { return pb.StableOn("h0", 200*time.Millisecond), "" })
	f0.check(t, "VIP reload", true)
	untouched("VIP reload", before)
	if hs := holders(l, va); len(hs) != 0 {
		t.Errorf("VIP reload: dropped %v still on %v", va, hs)
	}
	if _, ok := ev1.first(from, true, vb); ok {
		t.Errorf("VIP reload: the Backup h1 added %v", vb)
	}
	ra := pa.Stop()
	if ra.PerHost["h0"] == 0 || pa.Answering("h0", 100*time.Millisecond) {
		t.Errorf("VIP reload: dropped %v: %v; want answered before the reload, not after", va, ra)
	}
	t.Logf("VIP reload: %v answered, the dropped %v answered until %v after the reload", vb,
		va, ra.Runs[len(ra.Runs)-1].Last.Sub(from).Round(time.Millisecond))
	if in := vs[0].mustInst(t); !slices.Equal(slices.Sorted(slices.Values(in.VIPsPresent)), []string{vd.String(), vb.String()}) {
		t.Errorf("VIP reload: h0 vips_present %v", in.VIPsPresent)
	}
	checkMove(t, "VIP reload", p.window(from, time.Now()), "h0")
	pb.Stop()

	// 3. An instance added on both.
	before = snapshot()
	rs[0].reload(t, reloadConfig(iv, api(190, vb), ingress(200)), true)
	rs[1].reload(t, reloadConfig(iv, api(150, vb), ingress(100)), true)
	waitFor(t, masterDown(iv, 200)+3*time.Second, "ingress MASTER on h0, BACKUP on h1", func() (bool, string) {
		a, err1 := vs[0].inst("ingress")
		b, err2 := vs[1].inst("ingress")
		return err1 == nil && err2 == nil && a.State == "MASTER" && b.State == "BACKUP" && l.host(0).HasAddr(vc),
			fmt.Sprint(a.State, b.State, err1, err2)
	})
	pc := plannedProber(t, l, vc, "h0")
	untouched("instance added", before)

	// 4. The instance removed from h0: a hand-off to h1.
	before = snapshot()
	f0 = watchNoFlicker(t, l, 0, vd, ev0)
	from = time.Now()
	rs[0].reload(t, reloadConfig(iv, api(190, vb)), true)
	m := settle(t, pc, from, "h1", 2*masterDown(iv, 100))
	checkMove(t, "instance removed", m, "h1")
	waitFor(t, 2*time.Second, "ingress gone from h0", func() (bool, string) {
		_, err := vs[0].inst("ingress")
		return err != nil && !l.host(0).HasAddr(vc), ""
	})
	if in := vs[1].mustInst(t, "ingress"); in.State != "MASTER" {
		t.Errorf("instance removed: h1 ingress %s, want MASTER", in.State)
	}
	f0.check(t, "instance removed", true)
	untouched("instance removed", before)
	logHas(t, vs[0], "reload: instance removed; handing off")

	// 5. An invalid file: rejected whole.
	before = snapshot()
	f0 = watchNoFlicker(t, l, 0, vd, ev0)
	rejected := metricSum(t, l, 0, "vipd_config_reloads_total", `result="rejected"`)
	rs[0].reload(t, reloadConfig(iv, api(300, vb), ingress(200)), false)
	time.Sleep(3 * iv)
	f0.check(t, "invalid reload", true)
	untouched("invalid reload", before)
	if got := metricSum(t, l, 0, "vipd_config_reloads_total", `result="rejected"`); got != rejected+1 {
		t.Errorf("invalid reload: vipd_config_reloads_total{result=\"rejected\"} %v, want %v", got, rejected+1)
	}
	st, _ := vs[0].doc()
	if len(st.Instances) != 1 || st.Instances[0].EffectivePriority != 190 || st.Instances[0].State != "MASTER" {
		t.Errorf("invalid reload: running config changed: %+v", st.Instances)
	}
	var line string
	for _, ln := range strings.Split(vs[0].logText(), "\n") {
		if strings.Contains(ln, "reload rejected") {
			line = ln
		}
	}
	t.Logf("invalid reload logged: %s", line)
	if !strings.Contains(line, "priority") || !strings.Contains(line, "300") {
		t.Errorf("invalid reload: the log line does not name the field (priority 300): %q", line)
	}
	checkMove(t, "invalid reload", p.window(from, time.Now()), "h0")
	noCrash(t, vs[0])
}

// TestPlannedCheck: `vipd check --config` in a host's namespace: exit 0 for a
// good file, 2 naming the field for a bad value and for an interface the
// host lacks.
func TestPlannedCheck(t *testing.T) {
	l := newLab(t, 1, withoutIPv6())
	bin := vipdBinaries(l)
	good := reloadInstance{Name: "api", VRID: 51, Prio: 150, VIPs: []netip.Addr{l.VIP4}}
	for _, tc := range []struct {
		name, conf string
		code       int
		want       []string
	}{
		{"good", reloadConfig(time.Second, good), 0, []string{"configuration OK"}},
		{"priority", strings.Replace(reloadConfig(time.Second, good), "priority: 150", "priority: 300", 1), 2, []string{"instances[0].priority", "300"}},
		{"interface", strings.Replace(reloadConfig(time.Second, good), "interface: eth0", "interface: nosuch0", 1), 2, []string{"instances[0].interface", "nosuch0"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(l.dir, "check-"+tc.name+".yaml")
			if err := writeFile(path, tc.conf); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command("ip", "netns", "exec", l.host(0).NS, filepath.Join(bin, "vipd"), "check", "--config", path)
			out, err := cmd.CombinedOutput()
			code := 0
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				code = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			t.Logf("vipd check %s: exit %d: %s", tc.name, code, strings.TrimSpace(string(out)))
			if code != tc.code {
				t.Errorf("exit %d, want %d", code, tc.code)
			}
			for _, w := range tc.want {
				if !strings.Contains(string(out), w) {
					t.Errorf("output lacks %q", w)
				}
			}
		})
	}
}

// TestPlannedInteropKeepalived: keepalived 2.2 as the other side. vipd's
// SIGTERM still hands off (it holds the VIP until keepalived's first advert
// as Master) and vipd's preemption of keepalived still works; the gaps are
// reported. keepalived's own moves cost what they cost (see the bench).
func TestPlannedInteropKeepalived(t *testing.T) {
	const iv = 200 * time.Millisecond
	l := newLab(t, 2, withoutIPv6())
	w := startWireLog(l)
	mode := interopMode{version: 3, interval: iv}
	v := startOn(l, 0, "", vipdSpec{VRID: 81, Priority: 150, Interval: iv})
	waitInst(t, v, masterDown(iv, 150)+5*time.Second, "MASTER", func(in control.Instance) bool { return in.State == "MASTER" })
	k := interopKeepalived(l, 1, mode.config(l, 1, 100))
	k.waitState("BACKUP", 10*time.Second)
	a0 := kvWatchAddrs(l, l.host(0))
	p := plannedProber(t, l, l.VIP4, "h0")

	// vipd's SIGTERM: keepalived takes over after its Skew_Time.
	sig := v.sigterm(t)
	m := settle(t, p, sig.Add(-50*time.Millisecond), "h1", 2*mode.masterDown(100))
	v.exited(t, mode.masterDown(150)+2*time.Second)
	k.waitState("MASTER", time.Second)
	checkMove(t, "vipd SIGTERM, keepalived takes over", m, "h1")
	z, ok1 := w.first(sig, -1, isAdvert("h0", 81, func(p int) bool { return p == 0 }))
	adv, ok2 := w.first(sig, z.Seq, isAdvert("h1", 81, func(p int) bool { return p > 0 }))
	if !ok1 || !ok2 {
		t.Fatalf("wire: priority 0 from vipd %v, keepalived's advert after it %v", ok1, ok2)
	}
	heldUntil(t, a0, "h0 (vipd)", l.VIP4, sig, adv.At)
	for _, e := range w.events(z.At) {
		if e.Seq > z.Seq && isGARP("h0", l.VIP4)(e) {
			t.Errorf("vipd announced after its priority 0 advert: %v", e)
		}
	}
	if g, ok := w.first(sig, z.Seq, isGARP("h1", l.VIP4)); ok {
		t.Logf("keepalived: first advert %v, first gratuitous ARP %v (seq %d, %d)", adv.At.Format("15:04:05.000000"), g.At.Format("15:04:05.000000"), adv.Seq, g.Seq)
	}
	logHas(t, v, "reason=handoff-done")
	interopCheckKeepalived(t, k)

	// vipd back, priority 150 over keepalived's 100: it preempts.
	start := time.Now()
	v = startOn(l, 0, "", vipdSpec{VRID: 81, Priority: 150, Interval: iv})
	m = settle(t, p, start, "h0", mode.masterDown(150)+5*time.Second)
	checkMove(t, "vipd preempts keepalived", m, "h0")
	k.waitState("BACKUP", 2*time.Second)
	w.cutover(t, start, 81, l.VIP4, "h1", "h0", false)
	interopCheckKeepalived(t, k)
	interopCheckVipd(t, v, mode.form())
}
