package daemon

import (
	"context"
	"github.com/vipd/vipd/config"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/vipd/vipd/control"
	"github.com/vipd/vipd/vrrp"
)

var vip = netip.MustParseAddr("198.18.0.100")

// running is one started instance: cancel it to send SIGTERM.
type running struct {
	in     *instance
	cancel context.CancelFunc
	done   chan error
}

func testInstance(vrid, prio int, opts ...func(*config.Instance)) config.Instance {
	in := config.Instance{
		Name: "api", Interface: "eth0", VRID: vrid, Priority: prio, VIPs: []netip.Addr{vip},
		AdvertInterval: time.Second, Version: 3, Preempt: true, Checksum: config.ChecksumPseudoHeader,
		AnnounceCount: config.DefaultAnnounceCount, AnnounceInterval: config.DefaultAnnounceInterval,
	}
	for _, o := range opts {
		o(&in)
	}
	return in
}

func start(t *testing.T, h *fakeHost, cfg config.Instance) *running {
	t.Helper()
	return startWith(t, h, cfg, nil)
}

func startWith(t *testing.T, h *fakeHost, cfg config.Instance, checks penaltySource, prep ...func(*instance)) *running {
	t.Helper()
	h.open()
	in, err := newInstance(cfg, discard, h.deps(), checks)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range prep {
		p(in)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- in.run(ctx) }()
	return &running{in: in, cancel: cancel, done: done}
}

// stop is SIGTERM: it returns when the instance has finished its hand-off.
func (r *running) stop(t *testing.T) {
	t.Helper()
	r.cancel()
	if err := <-r.done; err != nil {
		t.Fatalf("instance stopped with %v", err)
	}
}

func (r *running) status(t *testing.T) control.Instance {
	t.Helper()
	st, err := r.in.status(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func (r *running) state(t *testing.T) string { return r.status(t).State }

// waitFor advances fake time until cond holds, failing after limit.
func waitFor(t *testing.T, limit time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > limit {
			t.Fatalf("%s: not true after %v", what, limit)
		}
		time.Sleep(10 * time.Millisecond)
		synctest.Wait()
	}
	return time.Since(start)
}

func TestElectionHighestPriorityHoldsVIP(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		lan := newLAN()
		hosts := []*fakeHost{lan.host("198.18.0.11"), lan.host("198.18.0.12"), lan.host("198.18.0.13")}
		var rs []*running
		for i, h := range hosts {
			rs = append(rs, start(t, h, testInstance(51, 100+50*i)))
		}
		waitFor(t, 5*time.Second, "host 3 master", func() bool { return rs[2].state(t) == "MASTER" })
		time.Sleep(6 * time.Second) // the takeover burst: 5 rounds, 1 s apart
		synctest.Wait()
		for i, want := range []string{"BACKUP", "BACKUP", "MASTER"} {
			st := rs[i].status(t)
			if st.State != want {
				t.Errorf("host %d: state %s, want %s", i+1, st.State, want)
			}
			if got := hosts[i].has(vip); got != (want == "MASTER") {
				t.Errorf("host %d: VIP present %v in state %s", i+1, got, want)
			}
			// Status reads the same from one link read (presentVIPs).
			if got := slices.Contains(st.VIPsPresent, vip.String()); got != (want == "MASTER") {
				t.Errorf("host %d: status shows VIPs present %v in state %s", i+1, st.VIPsPresent, want)
			}
			if want == "BACKUP" && st.Master != "198.18.0.13" {
				t.Errorf("host %d: master %q, want 198.18.0.13", i+1, st.Master)
			}
		}
		if n := len(hosts[2].announcements()); n != config.DefaultAnnounceCount {
			t.Errorf("master sent %d announcement rounds, want %d", n, config.DefaultAnnounceCount)
		}
		for _, r := range rs {
			r.stop(t)
		}
	})
}

// SIGTERM makes before it breaks: the priority 0 advert goes out, but a keeps
// the VIP until b has taken it over, so that at every moment one host holds
// it; b takes over within Skew_Time, and a then exits with no VIP.
func TestShutdownMakesBeforeBreak(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		lan := newLAN()
		a, b := lan.host("198.18.0.11"), lan.host("198.18.0.12")
		ra := start(t, a, testInstance(51, 200))
		rb := start(t, b, testInstance(51, 100))
		waitFor(t, 5*time.Second, "a master", func() bool { return ra.state(t) == "MASTER" && rb.state(t) == "BACKUP" })
		time.Sleep(2 * time.Second)
		synctest.Wait()

		stopped := time.Now()
		ra.cancel()
		var took time.Duration
		for {
			synctest.Wait()
			if !a.has(vip) && !b.has(vip) {
				t.Fatalf("+%v: neither host holds the VIP", time.Since(stopped))
			}
			if b.has(vip) && took == 0 {
				took = time.Since(stopped)
			}
			select {
			case err := <-ra.done:
				if err != nil {
					t.Fatalf("a stopped with %v", err)
				}
				if a.has(vip) {
					t.Error("a still holds the VIP after stopping")
				}
				if !b.has(vip) {
					t.Fatal("a stopped before b held the VIP")
				}
				// Skew_Time for priority 100 at 1 s is (256-100)/256 s = 609 ms.
				if skew := rb.status(t).SkewTime; took > skew+20*time.Millisecond {
					t.Errorf("b took over after %v; want within Skew_Time %v", took, skew)
				}
				prios := a.sent()
				if i := slices.Index(prios, 0); i < 0 || i != len(prios)-1 {
					t.Errorf("a's adverts %v: want one priority 0 advert, and nothing after it", prios)
				}
				rb.stop(t)
				return
			default:
			}
			if time.Since(stopped) > 5*time.Second {
				t.Fatal("a did not stop")
			}
			time.Sleep(5 * time.Millisecond)
		}
	})
}

// With no other router, SIGTERM keeps the VIP for Master_Down_Interval (nobody
// could take over), then removes it and exits.
func TestShutdownAloneRemovesAfterMasterDownInterval(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		lan := newLAN()
		a := lan.host("198.18.0.11")
		ra := start(t, a, testInstance(51, 200))
		waitFor(t, 5*time.Second, "a master", func() bool { return ra.state(t) == "MASTER" })
		down := ra.status(t).MasterDownInterval
		stopped := time.Now()
		ra.cancel()
		if err := <-ra.done; err != nil {
			t.Fatal(err)
		}
		if d := time.Since(stopped); d < down || d > down+time.Second {
			t.Errorf("stopped after %v; want Master_Down_Interval %v", d, down)
		}
		if a.has(vip) {
			t.Error("a kept the VIP")
		}
	})
}

func TestLinkDownIsFaultAndLinkUpRejoins(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		lan := newLAN()
		a, b := lan.host("198.18.0.11"), lan.host("198.18.0.12")
		ra := start(t, a, testInstance(51, 200))
		rb := start(t, b, testInstance(51, 100))
		waitFor(t, 5*time.Second, "a master", func() bool { return ra.state(t) == "MASTER" })

		a.setLink(false)
		waitFor(t, time.Second, "a in fault", func() bool { return ra.state(t) == "FAULT" })
		if a.has(vip) {
			t.Error("a kept the VIP in FAULT")
		}
		waitFor(t, 5*time.Second, "b master", func() bool { return rb.state(t) == "MASTER" && b.has(vip) })

		a.setLink(true)
		waitFor(t, 5*time.Second, "a preempts back", func() bool { return ra.state(t) == "MASTER" && rb.state(t) == "BACKUP" })
		if !a.has(vip) || b.has(vip) {
			t.Errorf("after link up: a has VIP %v, b has VIP %v", a.has(vip), b.has(vip))
		}
		if got := ra.status(t).Transitions["link-down"]; got != 1 {
			t.Errorf("link-down transitions = %d, want 1", got)
		}
		ra.stop(t)
		rb.stop(t)
	})
}

func TestRemovedVIPIsAddedBackWhileMaster(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		lan := newLAN()
		a := lan.host("198.18.0.11")
		ra := start(t, a, testInstance(51, 100))
		waitFor(t, 5*time.Second, "a master", func() bool { return ra.state(t) == "MASTER" })
		time.Sleep(10 * time.Second) // let the takeover burst finish
		synctest.Wait()
		before := len(a.announcements())

		a.removeVIP(vip)
		waitFor(t, time.Second, "VIP back", func() bool { return a.has(vip) })
		if got := len(a.announcements()); got != before+1 {
			t.Errorf("announcements %d → %d; re-adding must announce once", before, got)
		}
		ra.stop(t)
	})
}

func TestExMasterCancelsPendingAnnouncements(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		lan := newLAN()
		a, b := lan.host("198.18.0.11"), lan.host("198.18.0.12")
		rb := start(t, b, testInstance(51, 100, func(in *config.Instance) { in.AnnounceCount = 10 }))
		waitFor(t, 5*time.Second, "b master", func() bool { return rb.state(t) == "MASTER" })
		// b is mid-burst (10 rounds, 1 s apart) when a higher priority router arrives.
		ra := start(t, a, testInstance(51, 200))
		waitFor(t, 5*time.Second, "a master", func() bool { return ra.state(t) == "MASTER" && rb.state(t) == "BACKUP" })
		left := time.Now()
		time.Sleep(10 * time.Second)
		synctest.Wait()
		for _, an := range b.announcements() {
			if an.at.After(left) {
				t.Errorf("ex-master b announced %v at +%v after leaving MASTER", an.addr, an.at.Sub(left))
			}
		}
		if n := len(b.announcements()); n >= 10 {
			t.Errorf("b finished its burst (%d rounds) although it was preempted", n)
		}
		ra.stop(t)
		rb.stop(t)
	})
}

func TestRestartedBackupDoesNotFlapMaster(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		lan := newLAN()
		a, b := lan.host("198.18.0.11"), lan.host("198.18.0.12")
		ra := start(t, a, testInstance(51, 200))
		waitFor(t, 5*time.Second, "a master", func() bool { return ra.state(t) == "MASTER" })
		for range 3 {
			rb := start(t, b, testInstance(51, 100))
			time.Sleep(5 * time.Second)
			synctest.Wait()
			if st := rb.state(t); st != "BACKUP" {
				t.Errorf("restarted b is %s, want BACKUP", st)
			}
			rb.stop(t)
		}
		st := ra.status(t)
		if st.State != "MASTER" || len(st.Transitions) != 2 || st.Transitions["master-down-timer"] != 1 {
			t.Errorf("a: state %s transitions %v; want startup, then one transition to MASTER", st.State, st.Transitions)
		}
		if b.has(vip) {
			t.Error("b took the VIP")
		}
		ra.stop(t)
	})
}

func TestDropsAreCountedByReason(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		lan := newLAN()
		a := lan.host("198.18.0.11")
		ra := start(t, a, testInstance(51, 100))
		adv := vrrp.Advertisement{Version: 3, Type: vrrp.TypeAdvertisement, VRID: 51, Priority: 150,
			Interval: time.Second, Addresses: []netip.Addr{vip}}
		src := netip.MustParseAddr("198.18.0.99")
		good, err := adv.AppendBinary(nil, src, vrrp.GroupIPv4, vrrp.ChecksumPseudoHeader)
		if err != nil {
			t.Fatal(err)
		}
		other := adv
		other.VRID = 52
		otherB, _ := other.AppendBinary(nil, src, vrrp.GroupIPv4, vrrp.ChecksumPseudoHeader)
		msgOnly, _ := adv.AppendBinary(nil, src, vrrp.GroupIPv4, vrrp.ChecksumMessageOnly)
		bad := append([]byte{}, good...)
		bad[6] ^= 0xff
		for _, p := range []vrrp.Packet{
			{Payload: good, Src: src, Dst: vrrp.GroupIPv4, TTL: 64},
			{Payload: otherB, Src: src, Dst: vrrp.GroupIPv4, TTL: 255},
			{Payload: bad, Src: src, Dst: vrrp.GroupIPv4, TTL: 255},
			{Payload: good[:5], Src: src, Dst: vrrp.GroupIPv4, TTL: 255},
			{Payload: good, Src: src, Dst: vrrp.GroupIPv4, TTL: 255},
			{Payload: msgOnly, Src: src, Dst: vrrp.GroupIPv4, TTL: 255},
		} {
			a.deliver(p)
		}
		synctest.Wait()
		st := ra.status(t)
		for reason, want := range map[string]uint64{"ttl": 1, "vrid": 1, "checksum": 1, "short": 1} {
			if st.Drops[reason] != want {
				t.Errorf("drops[%s] = %d, want %d (all: %v)", reason, st.Drops[reason], want, st.Drops)
			}
		}
		if st.AdvertsReceived != 2 || st.ChecksumForms["pseudo-header"] != 1 || st.ChecksumForms["message-only"] != 1 {
			t.Errorf("received %d, forms %v; want 2 accepted, one of each form", st.AdvertsReceived, st.ChecksumForms)
		}
		if st.State != "BACKUP" || st.Master != src.String() {
			t.Errorf("state %s master %s; the accepted priority-150 advert should make 198.18.0.99 master", st.State, st.Master)
		}
		ra.stop(t)
	})
}

// TestHealedPartitionReannounces: two masters meet when a partition heals, and
// the winner announces its VIPs again at once, whichever of them hears the other
// first. "winner-hears-first": a answers b's lower advert and announces.
// "loser-hears-first": RFC 9568 §6.4.3 has b step down silently; its farewell
// advert makes a answer and announce. The faster advertiser is heard first when
// the heal follows the other's advert.
func TestHealedPartitionReannounces(t *testing.T) {
	for _, tc := range []struct {
		name       string
		aIv, bIv   time.Duration
		healAfterB bool
	}{
		{"winner-hears-first", time.Second, 100 * time.Millisecond, false},
		{"loser-hears-first", 100 * time.Millisecond, time.Second, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				lan := newLAN()
				a, b := lan.host("198.18.0.11"), lan.host("198.18.0.12")
				ra := start(t, a, testInstance(51, 200, func(in *config.Instance) { in.AdvertInterval = tc.aIv }))
				rb := start(t, b, testInstance(51, 100, func(in *config.Instance) { in.AdvertInterval = tc.bIv }))
				waitFor(t, 5*time.Second, "a master", func() bool { return ra.state(t) == "MASTER" && rb.state(t) == "BACKUP" })
				plug := func(h *fakeHost, in bool) { h.mu.Lock(); h.connected = in; h.mu.Unlock() }
				sent := func(h *fakeHost) int { h.mu.Lock(); defer h.mu.Unlock(); return len(h.sentPrios) }

				plug(a, false) // the partition: a's cable
				waitFor(t, 5*time.Second, "b master too", func() bool { return rb.state(t) == "MASTER" })
				time.Sleep(10 * time.Second) // both bursts over
				synctest.Wait()
				before := len(a.announcements())

				last := a
				if tc.healAfterB {
					last = b
				}
				n := sent(last)
				waitFor(t, 2*time.Second, "an advert just before the heal", func() bool { return sent(last) > n })
				plug(a, true)
				healed := time.Now()
				waitFor(t, time.Second, "b steps down", func() bool { return rb.state(t) == "BACKUP" })
				if d := time.Since(healed); d > 100*time.Millisecond {
					t.Errorf("b stepped down %v after the heal; want within the faster interval", d)
				}
				waitFor(t, 200*time.Millisecond, "a announces again", func() bool { return len(a.announcements()) > before })
				if d := a.announcements()[before].at.Sub(healed); d > 150*time.Millisecond {
					t.Errorf("a announced %v after the heal; want at once", d)
				}
				time.Sleep(10 * time.Second)
				synctest.Wait()
				if got := len(a.announcements()) - before; got != config.DefaultAnnounceCount {
					t.Errorf("a announced %d rounds after the heal, want one burst of %d", got, config.DefaultAnnounceCount)
				}
				if st := ra.status(t); st.State != "MASTER" || !a.has(vip) || b.has(vip) {
					t.Errorf("after the heal: a %s (VIP %v), b has VIP %v", st.State, a.has(vip), b.has(vip))
				}
				ra.stop(t)
				rb.stop(t)
			})
		})
	}
}

// TestReannounceDoesNotRestartBurst: adverts from a lower master that keep
// coming (a one-way partition) give one burst at a time, not one per advert.
func TestReannounceDoesNotRestartBurst(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		lan := newLAN()
		a := lan.host("198.18.0.11")
		ra := start(t, a, testInstance(51, 200))
		waitFor(t, 5*time.Second, "a master", func() bool { return ra.state(t) == "MASTER" })
		time.Sleep(10 * time.Second)
		synctest.Wait()
		before := len(a.announcements())
		src := netip.MustParseAddr("198.18.0.99")
		for _, prio := range []uint8{100, 100, 0} {
			adv := vrrp.Advertisement{Version: 3, Type: vrrp.TypeAdvertisement, VRID: 51, Priority: prio,
				Interval: time.Second, Addresses: []netip.Addr{vip}}
			b, err := adv.AppendBinary(nil, src, vrrp.GroupIPv4, vrrp.ChecksumPseudoHeader)
			if err != nil {
				t.Fatal(err)
			}
			a.deliver(vrrp.Packet{Payload: b, Src: src, Dst: vrrp.GroupIPv4, TTL: 255})
			time.Sleep(100 * time.Millisecond)
			synctest.Wait()
		}
		if got := len(a.announcements()) - before; got != 1 {
			t.Errorf("%d announcements 300 ms into the burst, want 1", got)
		}
		time.Sleep(10 * time.Second)
		synctest.Wait()
		if got := len(a.announcements()) - before; got != config.DefaultAnnounceCount {
			t.Errorf("%d announcements in all, want one burst of %d", got, config.DefaultAnnounceCount)
		}
		if ra.state(t) != "MASTER" {
			t.Error("a left MASTER")
		}
		ra.stop(t)
	})
}

// panickyChecks is a health tracker that reports a penalty and then makes the
// loop panic when asked for its status: a stand-in for any bug in the loop.
type panickyChecks struct{ *fakeChecks }

func (panickyChecks) Status() []control.Check { panic("bug") }

func TestPanicHandsOffAndRemovesVIP(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		lan := newLAN()
		a, b := lan.host("198.18.0.11"), lan.host("198.18.0.12")
		ra := startWith(t, a, testInstance(51, 200), panickyChecks{newFakeChecks(0)})
		rb := start(t, b, testInstance(51, 100))
		waitFor(t, 5*time.Second, "a master", func() bool { return a.has(vip) && rb.state(t) == "BACKUP" })

		reply := make(chan control.Instance, 1)
		ra.in.statusc <- reply // the snapshot panics inside the loop
		err := <-ra.done
		if err == nil || !strings.Contains(err.Error(), "internal error") {
			t.Fatalf("run returned %v, want an internal error", err)
		}
		if a.has(vip) {
			t.Error("a kept the VIP after a panic")
		}
		if last, _ := a.lastSent(); last != 0 {
			t.Errorf("a's last advert had priority %d, want 0", last)
		}
		waitFor(t, time.Second, "b takes over within Skew_Time", func() bool { return b.has(vip) })
		rb.stop(t)
	})
}
