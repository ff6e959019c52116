//go:build integration

package integration

// --garp-refresh end to end (issue 10): after the takeover burst, a Master
// with --garp-refresh 1s sends one more announcement round (a gratuitous ARP
// request and reply, RFC 5227 §3 / RFC 9568 §6.4.2 "(+) ... broadcast a
// gratuitous ARP") about every second for as long as it is Master; without
// it, nothing follows the burst. Counted from the client's side of the
// segment, from the Master's MAC.

import (
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	mdarp "github.com/mdlayher/arp"
	"github.com/mdlayher/ethernet"
	"github.com/mdlayher/packet"
)

// garpSniffer records the gratuitous ARPs for one address that a node's
// eth0 receives.
type garpSniffer struct {
	c    *packet.Conn
	addr netip.Addr

	mu   sync.Mutex
	seen []garpFrame
	done chan struct{}
}

type garpFrame struct {
	At  time.Time
	Op  mdarp.Operation
	MAC net.HardwareAddr // the sender hardware address
}

func startGARPSniffer(l *lab, n *node, addr netip.Addr) *garpSniffer {
	l.t.Helper()
	s := &garpSniffer{addr: addr, done: make(chan struct{})}
	err := inNetns(n.NS, func() error {
		ifi, err := net.InterfaceByName(hostIf)
		if err != nil {
			return err
		}
		s.c, err = packet.Listen(ifi, packet.Raw, 0x0806, nil)
		return err
	})
	if err != nil {
		l.t.Fatalf("garp sniffer in %s: %v", n.Name, err)
	}
	go s.loop()
	l.onTeardown(func() { s.c.Close(); <-s.done })
	return s
}

func (s *garpSniffer) loop() {
	defer close(s.done)
	b := make([]byte, 1500)
	for {
		n, _, err := s.c.ReadFrom(b)
		if err != nil {
			return
		}
		var f ethernet.Frame
		if f.UnmarshalBinary(b[:n]) != nil {
			continue
		}
		var p mdarp.Packet
		if p.UnmarshalBinary(f.Payload) != nil || p.SenderIP != s.addr || p.TargetIP != s.addr {
			continue
		}
		s.mu.Lock()
		s.seen = append(s.seen, garpFrame{At: time.Now(), Op: p.Operation, MAC: p.SenderHardwareAddr})
		s.mu.Unlock()
	}
}

// rounds groups the frames from mac into announcement rounds (frames less
// than 20 ms apart: a round's frames go out back to back) and returns when
// each round began.
func (s *garpSniffer) rounds(mac net.HardwareAddr) []time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []time.Time
	var last time.Time
	for _, f := range s.seen {
		if f.MAC.String() != mac.String() {
			continue
		}
		if last.IsZero() || f.At.Sub(last) > 20*time.Millisecond {
			out = append(out, f.At)
		}
		last = f.At
	}
	return out
}

// TestGARPRefresh: vipd alone on h0, --garp-count 3 --garp-interval 500ms:
// the burst is three rounds over one second. With --garp-refresh 1s, the
// eight seconds after the burst hold a round about every second; without
// it, none.
func TestGARPRefresh(t *testing.T) {
	const (
		burstRounds   = 3
		burstInterval = 500 * time.Millisecond
		refresh       = time.Second
		window        = 8 * time.Second
	)
	l := newLab(t, 1, withoutIPv6())
	mac := l.host(0).MAC()
	sn := startGARPSniffer(l, l.client(), l.VIP4)

	run := func(args ...string) (burst, after []time.Time) {
		t.Helper()
		since := time.Now()
		v := startVipd(l, 0, vipdSpec{Priority: 100, Args: append([]string{
			"--garp-count", "3", "--garp-interval", burstInterval.String()}, args...)})
		waitDaemonState(l, 0, v, "MASTER", 5*time.Second)
		// The burst ends within (burstRounds-1)*burstInterval after the takeover;
		// count over window after it.
		mark, span := time.Now(), time.Duration(burstRounds-1)*burstInterval+window+300*time.Millisecond
		waitFor(t, span+time.Second, "the measurement window", func() (bool, string) {
			return time.Since(mark) > span, ""
		})
		rs := sn.rounds(mac)
		v.Stop()
		var mine []time.Time
		for _, r := range rs {
			if r.After(since) {
				mine = append(mine, r)
			}
		}
		if len(mine) < burstRounds {
			t.Fatalf("%v: %d announcement rounds, fewer than the burst's %d", args, len(mine), burstRounds)
		}
		return mine[:burstRounds], mine[burstRounds:]
	}

	burst, after := run("--garp-refresh", refresh.String())
	t.Logf("--garp-refresh %v: burst rounds %v apart, then %d rounds, each after the one before by %v",
		refresh, gaps(burst[0], burst[1:]), len(after), gaps(burst[len(burst)-1], after))
	for i := 1; i < len(burst); i++ {
		// The second round of a takeover follows the first after
		// election.TakeoverRepeat (50 ms); the rest --garp-interval apart.
		want := burstInterval
		if i == 1 {
			want = 50 * time.Millisecond
		}
		if d := burst[i].Sub(burst[i-1]); d < want-40*time.Millisecond || d > want+150*time.Millisecond {
			t.Errorf("burst round %d %v after the one before, want %v", i+1, d, want)
		}
	}
	if n := len(after); n < int(window/refresh)-1 || n > int(window/refresh)+1 {
		t.Errorf("%d refresh rounds in the %v after the burst, want about %d", n, window, int(window/refresh))
	}
	// The refresh runs every second from the takeover: its first round may
	// follow the end of the burst sooner.
	prev := burst[len(burst)-1]
	for i, r := range after {
		d := r.Sub(prev)
		if i == 0 && d > 0 && d <= refresh+200*time.Millisecond {
			prev = r
			continue
		}
		if d < refresh-200*time.Millisecond || d > refresh+200*time.Millisecond {
			t.Errorf("refresh round %v after the one before it, want about %v", d.Round(time.Millisecond), refresh)
		}
		prev = r
	}

	// Control: the same Master without --garp-refresh is silent after the burst.
	_, after = run()
	if len(after) != 0 {
		t.Errorf("without --garp-refresh: %d rounds after the burst: %v", len(after), after)
	}
}

// gaps returns the time from each round to the next, starting at from.
func gaps(from time.Time, rs []time.Time) []time.Duration {
	var out []time.Duration
	for _, r := range rs {
		out = append(out, r.Sub(from).Round(time.Millisecond))
		from = r
	}
	return out
}
