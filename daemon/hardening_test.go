package daemon

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/vipd/vipd/config"
	"github.com/vipd/vipd/control"
	"github.com/vipd/vipd/health"
	"github.com/vipd/vipd/vrrp"
)

// The address owner (priority 255, the VIP is the interface's own address)
// becomes Master at once, never adds or removes its own address, reports it as
// present, and stops without removing it.
func TestOwnerHoldsItsOwnAddress(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		lan := newLAN()
		a, b := lan.host("198.18.0.100"), lan.host("198.18.0.12")
		owned := netip.MustParseAddr("198.18.0.100")
		ra := start(t, a, testInstance(51, 255, func(in *config.Instance) { in.VIPs = []netip.Addr{owned} }))
		rb := start(t, b, testInstance(51, 100, func(in *config.Instance) { in.VIPs = []netip.Addr{owned} }))
		waitFor(t, time.Second, "owner master", func() bool { return ra.state(t) == "MASTER" })
		time.Sleep(5 * time.Second)
		synctest.Wait()
		st := ra.status(t)
		if st.State != "MASTER" || st.EffectivePriority != 255 {
			t.Fatalf("owner: %s at %d, want MASTER at 255", st.State, st.EffectivePriority)
		}
		if len(st.VIPsPresent) != 1 || st.VIPsPresent[0] != owned.String() {
			t.Errorf("owner's status shows VIPs present %v, want its own %v", st.VIPsPresent, owned)
		}
		if a.has(owned) {
			t.Error("the owner added its own address as a /32")
		}
		if rb.state(t) != "BACKUP" || b.has(owned) {
			t.Errorf("b: %s holding=%v; the owner's address must stay on the owner only", rb.state(t), b.has(owned))
		}
		if len(a.announcements()) == 0 {
			t.Error("the owner never announced its address")
		}
		ra.stop(t)
		rb.stop(t)
	})
}

// An interface that does not exist yet is FAULT (interface-missing), not an
// error; the instance joins as soon as the interface appears.
func TestLateInterfaceJoins(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		lan := newLAN()
		a := lan.host("198.18.0.11")
		a.ifi = nil
		a.linkUp = false
		ra := start(t, a, testInstance(51, 100))
		waitFor(t, time.Second, "fault", func() bool { return ra.state(t) == "FAULT" })
		st := ra.status(t)
		if st.Reason != "interface-missing" || !strings.Contains(st.Problem, "eth0") {
			t.Errorf("reason %q problem %q; want interface-missing naming eth0", st.Reason, st.Problem)
		}
		time.Sleep(10 * time.Second)
		synctest.Wait()
		a.createLink(7)
		waitFor(t, 5*time.Second, "joins and wins", func() bool { return ra.state(t) == "MASTER" && a.has(vip) })
		if got := ra.status(t).IfIndex; got != 7 {
			t.Errorf("bound to ifindex %d, want 7", got)
		}
		ra.stop(t)
	})
}

// An interface without an address yet (DHCP) is FAULT (no-source-address); the
// instance joins when the address arrives, and leaves when it goes.
func TestLateSourceAddressJoins(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		lan := newLAN()
		a := lan.host("198.18.0.11")
		a.noSource = true
		ra := start(t, a, testInstance(51, 100))
		waitFor(t, time.Second, "fault", func() bool { return ra.state(t) == "FAULT" })
		if r := ra.status(t).Reason; r != "no-source-address" {
			t.Errorf("reason %q, want no-source-address", r)
		}
		a.setSource(true)
		waitFor(t, 5*time.Second, "master", func() bool { return ra.state(t) == "MASTER" && a.has(vip) })
		if src := ra.status(t).Source; src != "198.18.0.11" {
			t.Errorf("source %q", src)
		}
		a.setSource(false)
		waitFor(t, time.Second, "fault again", func() bool { return ra.state(t) == "FAULT" && !a.has(vip) })
		ra.stop(t)
	})
}

// A deleted and recreated interface is re-resolved (new index, new sockets)
// and the instance rejoins.
func TestRecreatedInterfaceRejoins(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		lan := newLAN()
		a, b := lan.host("198.18.0.11"), lan.host("198.18.0.12")
		ra := start(t, a, testInstance(51, 200))
		rb := start(t, b, testInstance(51, 100))
		waitFor(t, 5*time.Second, "a master", func() bool { return ra.state(t) == "MASTER" && rb.state(t) == "BACKUP" })
		opens := a.socketOpens()

		a.deleteLink()
		waitFor(t, time.Second, "a faults", func() bool { return ra.state(t) == "FAULT" })
		if r := ra.status(t).Reason; r != "interface-missing" {
			t.Errorf("reason %q, want interface-missing", r)
		}
		waitFor(t, 5*time.Second, "b takes over", func() bool { return rb.state(t) == "MASTER" && b.has(vip) })

		a.createLink(9)
		waitFor(t, 10*time.Second, "a rejoins and preempts", func() bool {
			return ra.state(t) == "MASTER" && a.has(vip) && rb.state(t) == "BACKUP" && !b.has(vip)
		})
		if got := a.socketOpens(); got <= opens {
			t.Errorf("sockets opened %d times, %d before the recreation: the old ones are bound to a dead index", got, opens)
		}
		if st := ra.status(t); st.IfIndex != 9 {
			t.Errorf("ifindex %d, want 9", st.IfIndex)
		}
		ra.stop(t)
		rb.stop(t)
	})
}

// After a MAC change, announcements carry the new MAC, and a Master announces
// again at once so that clients follow.
func TestChangedMACIsAnnounced(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		lan := newLAN()
		a := lan.host("198.18.0.11")
		ra := start(t, a, testInstance(51, 100))
		waitFor(t, 5*time.Second, "a master", func() bool { return ra.state(t) == "MASTER" })
		time.Sleep(10 * time.Second) // the takeover burst is over
		synctest.Wait()
		before := len(a.announcements())
		mac := net.HardwareAddr{2, 0xaa, 0, 0, 0, 1}
		a.setMAC(mac)
		waitFor(t, time.Second, "announced again", func() bool { return len(a.announcements()) > before })
		a.mu.Lock()
		got := a.announcedMAC
		a.mu.Unlock()
		if !bytes.Equal(got, mac) {
			t.Errorf("announcer follows MAC %v, want %v", got, mac)
		}
		if st := ra.status(t); st.HardwareAddr != mac.String() {
			t.Errorf("status MAC %q", st.HardwareAddr)
		}
		ra.stop(t)
	})
}

// A node that cannot add its VIP must not stay Master over one that can.
func TestFailedAddLosesToAHealthyNode(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		lan := newLAN()
		a, b := lan.host("198.18.0.11"), lan.host("198.18.0.12")
		a.addErr = errors.New("netlink: add: no buffer space available")
		ra := start(t, a, testInstance(51, 200))
		rb := start(t, b, testInstance(51, 100))
		waitFor(t, 10*time.Second, "b holds the VIP", func() bool { return rb.state(t) == "MASTER" && b.has(vip) })
		st := ra.status(t)
		if st.AddErrors == 0 || st.LastError == "" {
			t.Errorf("a's failed add is not reported: errors=%d last=%q", st.AddErrors, st.LastError)
		}
		// Fixed or not, a does not preempt b to find out: b stays, stably.
		a.mu.Lock()
		a.addErr = nil
		a.mu.Unlock()
		transitions := rb.status(t).Transitions
		time.Sleep(3 * time.Minute)
		synctest.Wait()
		if st := rb.status(t); st.State != "MASTER" || !b.has(vip) || len(st.Transitions) != len(transitions) {
			t.Errorf("b: %s holding=%v transitions %v → %v; want b kept as master", st.State, b.has(vip), transitions, st.Transitions)
		}
		if st := ra.status(t); !st.AddFailing || st.EffectivePriority != 1 {
			t.Errorf("a: add failing %v at %d; the penalty lasts until a is master again", st.AddFailing, st.EffectivePriority)
		}
		// When b goes, a takes over, its add works, and the penalty ends.
		rb.stop(t)
		waitFor(t, 10*time.Second, "a takes over", func() bool { return ra.state(t) == "MASTER" && a.has(vip) })
		waitFor(t, time.Second, "penalty over", func() bool { return !ra.status(t).AddFailing && ra.status(t).EffectivePriority == 200 })
		ra.stop(t)
	})
}

// A Master whose adverts cannot go out says so in status, so that /healthz fails.
func TestSendFailureStallsMaster(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		lan := newLAN()
		a := lan.host("198.18.0.11")
		ra := start(t, a, testInstance(51, 100))
		waitFor(t, 5*time.Second, "a master", func() bool { return ra.state(t) == "MASTER" })
		if ra.status(t).Stalled {
			t.Fatal("stalled while sending")
		}
		a.mu.Lock()
		a.sendErr = errors.New("sendmsg: operation not permitted")
		a.mu.Unlock()
		waitFor(t, 5*time.Second, "stalled", func() bool { return ra.status(t).Stalled })
		if st := ra.status(t); st.SendErrors == 0 {
			t.Errorf("send errors %d", st.SendErrors)
		}
		ra.stop(t)
	})
}

// panickyRun is a health tracker whose goroutine panics: a bug outside the loop.
type panickyRun struct{ *fakeChecks }

func (panickyRun) Run(context.Context) error { panic("bug in a probe") }

func TestPanicInAGoroutineHandsOff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		lan := newLAN()
		a, b := lan.host("198.18.0.11"), lan.host("198.18.0.12")
		rb := start(t, b, testInstance(51, 100))
		ra := startWith(t, a, testInstance(51, 200), panickyRun{newFakeChecks(0)})
		err := <-ra.done
		if err == nil || !strings.Contains(err.Error(), "internal error") || !strings.Contains(err.Error(), "health checks") {
			t.Fatalf("run returned %v, want an internal error naming the goroutine", err)
		}
		if a.has(vip) {
			t.Error("a kept the VIP after a panic")
		}
		waitFor(t, 5*time.Second, "b master", func() bool { return b.has(vip) })
		rb.stop(t)
	})
}

func TestPeerTableIsBounded(t *testing.T) {
	pt := newPeerTable(4)
	now := time.Unix(0, 0)
	for i := range 100 {
		pt.touch(netip.AddrFrom4([4]byte{198, 18, 1, byte(i)}), now.Add(time.Duration(i)*time.Second))
	}
	got := pt.list()
	if len(got) != 4 {
		t.Fatalf("%d peers kept, want 4", len(got))
	}
	for _, p := range got {
		if p.LastSeen.Before(now.Add(96 * time.Second)) {
			t.Errorf("kept an old peer %v", p)
		}
	}
}

// A read must offer a buffer for the longest valid advert, not an MTU.
func TestReadBufferHoldsTheLongestAdvert(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		lan := newLAN()
		a := lan.host("198.18.0.11")
		ra := start(t, a, testInstance(51, 100))
		var n int
		waitFor(t, 5*time.Second, "reading", func() bool {
			a.mu.Lock()
			defer a.mu.Unlock()
			n = a.lastReadLen
			return n > 0
		})
		if n < vrrp.ReadBufferLen {
			t.Errorf("read buffer of %d bytes; an IPv6 advert with 255 addresses is 4088, and one byte more tells a longer one apart", n)
		}
		ra.stop(t)
	})
}

var _ = control.Instance{}

// A fault check (weight 0) that goes down puts the instance in FAULT, whatever
// its priority; when it recovers the instance rejoins.
func TestFaultCheckFaultsTheInstance(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		lan := newLAN()
		a, b := lan.host("198.18.0.11"), lan.host("198.18.0.12")
		checks := newFakeChecks(0)
		ra := startWith(t, a, testInstance(51, 200), checks)
		rb := start(t, b, testInstance(51, 100))
		waitFor(t, 5*time.Second, "a master", func() bool { return ra.state(t) == "MASTER" })
		checks.setFault("exec:check_apiserver.sh")
		waitFor(t, time.Second, "a in fault", func() bool { return ra.state(t) == "FAULT" })
		if r := ra.status(t).Reason; r != "check-fault" {
			t.Errorf("reason %q, want check-fault", r)
		}
		waitFor(t, 5*time.Second, "b master", func() bool { return rb.state(t) == "MASTER" && b.has(vip) && !a.has(vip) })
		checks.setFault("")
		waitFor(t, 10*time.Second, "a back", func() bool { return ra.state(t) == "MASTER" && a.has(vip) && !b.has(vip) })
		ra.stop(t)
		rb.stop(t)
	})
}

// A link deleted and created again between two reads of the loop (only the
// LinkAdded is seen): the Master must end up with its VIPs on the new link.
func TestRecreatedBetweenReadsKeepsMasterWhole(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		lan := newLAN()
		a, b := lan.host("198.18.0.11"), lan.host("198.18.0.12")
		ra := start(t, a, testInstance(51, 200))
		rb := start(t, b, testInstance(51, 100))
		waitFor(t, 5*time.Second, "a master", func() bool { return ra.state(t) == "MASTER" && a.has(vip) })
		a.mu.Lock()
		a.vips = map[netip.Addr]bool{} // the old link took them
		a.mu.Unlock()
		a.createLink(11)
		waitFor(t, 10*time.Second, "a master with its VIP on the new link", func() bool {
			return ra.state(t) == "MASTER" && a.has(vip) && ra.status(t).IfIndex == 11
		})
		if b.has(vip) {
			t.Error("b holds the VIP too")
		}
		ra.stop(t)
		rb.stop(t)
	})
}

// With the apiserver check's default (a tier check), every healthy master
// outranks every failing one whatever the base priorities, and the order of
// the base priorities holds within each half.
func TestTierPriorities(t *testing.T) {
	mk := func(prio, penalty int) uint8 {
		in := &instance{cfg: testInstance(51, prio, func(c *config.Instance) {
			c.Checks = []config.Check{{Kind: "https", Target: "https://127.0.0.1:6443/readyz", Tier: true}, {Kind: "tcp", Target: "127.0.0.1:2379", Weight: 20}}
		}), penalty: penalty}
		return in.effectivePriority()
	}
	down := health.TierPenalty
	if h, f := mk(50, 0), mk(150, down); h <= f {
		t.Errorf("healthy 50 → %d, failing 150 → %d: the healthy one must win", h, f)
	}
	if a, b := mk(150, down), mk(100, down); a <= b {
		t.Errorf("bootstrap (all failing): 150 → %d, 100 → %d; the higher base must win", a, b)
	}
	if a, b := mk(150, 0), mk(100, 0); a <= b {
		t.Errorf("all healthy: 150 → %d, 100 → %d", a, b)
	}
	if h, f := mk(2, 20), mk(254, down); h <= f {
		t.Errorf("healthy 2 with a weighted check down → %d, failing 254 → %d: still the healthy one", h, f)
	}
	if p := mk(254, down+20); p < 1 || p > 127 {
		t.Errorf("failing priority %d outside 1–127", p)
	}
	plain := &instance{cfg: testInstance(51, 150, func(c *config.Instance) {
		c.Checks = []config.Check{{Kind: "tcp", Target: "127.0.0.1:2379", Weight: 50}}
	}), penalty: 50}
	if p := plain.effectivePriority(); p != 100 {
		t.Errorf("plain weights: %d, want 150-50", p)
	}
}
