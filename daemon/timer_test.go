package daemon

import (
	"github.com/vipd/vipd/config"
	"testing"
	"time"
)

// openTestTimer opens an fdTimer with its goroutine, closed at cleanup.
func openTestTimer(t *testing.T) *fdTimer {
	t.Helper()
	ft, err := openFDTimer()
	if err != nil {
		t.Fatalf("openFDTimer: %v", err)
	}
	done := make(chan struct{})
	go func() { defer close(done); ft.wait() }()
	t.Cleanup(func() {
		ft.Close()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Error("wait did not end after Close")
		}
	})
	return ft
}

// fired waits up to 5 s for an expiry; false if none came.
func fired(tm deadlineTimer) (time.Time, bool) {
	select {
	case at := <-tm.C():
		return at, true
	case <-time.After(5 * time.Second):
		return time.Time{}, false
	}
}

// The timerfd fires once, never before its time, and a Reset replaces the
// time it was set to, earlier or later.
func TestFDTimerFiresOnceAtItsTime(t *testing.T) {
	ft := openTestTimer(t)
	for _, d := range []time.Duration{20 * time.Millisecond, 0, -time.Second} {
		start := time.Now()
		ft.Reset(d)
		at, ok := fired(ft)
		if !ok {
			t.Fatalf("Reset(%v): never fired", d)
		}
		if at.Sub(start) < d {
			t.Errorf("Reset(%v): fired after %v, early", d, at.Sub(start))
		}
	}
	// Later, then earlier: the earlier time wins; earlier, then later: the later.
	start := time.Now()
	ft.Reset(time.Hour)
	ft.Reset(10 * time.Millisecond)
	if _, ok := fired(ft); !ok {
		t.Fatal("a Reset to an earlier time did not fire")
	}
	start = time.Now()
	ft.Reset(5 * time.Millisecond)
	ft.Reset(60 * time.Millisecond)
	at, ok := fired(ft)
	if !ok || at.Sub(start) < 60*time.Millisecond {
		t.Errorf("Reset(5ms) then Reset(60ms): fired %v after (ok %v), want ≥ 60ms", at.Sub(start), ok)
	}
	select {
	case <-ft.C():
		t.Error("a one-shot timer fired twice")
	case <-time.After(80 * time.Millisecond):
	}
}

// Stop disarms: nothing is delivered for the stopped time.
func TestFDTimerStop(t *testing.T) {
	ft := openTestTimer(t)
	start := time.Now()
	ft.Reset(10 * time.Millisecond)
	ft.Stop()
	ft.Reset(80 * time.Millisecond)
	at, ok := fired(ft)
	if !ok {
		t.Fatal("never fired after Stop and Reset")
	}
	if at.Sub(start) < 80*time.Millisecond {
		t.Errorf("fired after %v: the stopped 10ms timer was delivered", at.Sub(start))
	}
}

// A timerfd that fails carries on as a runtime timer: the machine never
// loses its deadline.
func TestFDTimerBrokenFallsBack(t *testing.T) {
	ft := openTestTimer(t)
	ft.broken.Store(true)
	start := time.Now()
	ft.Reset(15 * time.Millisecond)
	at, ok := fired(ft)
	if !ok {
		t.Fatal("a broken timerfd's Reset never fired")
	}
	if at.Sub(start) < 15*time.Millisecond {
		t.Errorf("fired after %v, early", at.Sub(start))
	}
	ft.Reset(10 * time.Millisecond)
	ft.Stop()
	select {
	case <-ft.C():
		t.Error("Stop of the fallback timer did not stop it")
	case <-time.After(50 * time.Millisecond):
	}
}

// A read failure (here: the descriptor closed under the reader, which is
// not Close) breaks the timerfd and delivers an expiry, so that the loop
// arms the timer again, now on the runtime's timers.
func TestFDTimerReadFailureDelivers(t *testing.T) {
	ft, err := openFDTimer()
	if err != nil {
		t.Fatal(err)
	}
	defer ft.Close()
	ft.rerr = 0
	done := make(chan struct{})
	ft.readFn = func(uintptr) bool { ft.rerr = 9; /* EBADF */ return true }
	go func() { defer close(done); ft.wait() }()
	if _, ok := fired(ft); !ok {
		t.Fatal("a failed read delivered nothing")
	}
	<-done
	if !ft.broken.Load() {
		t.Fatal("a failed read did not mark the timerfd broken")
	}
	start := time.Now()
	ft.Reset(10 * time.Millisecond)
	if at, ok := fired(ft); !ok || at.Sub(start) < 10*time.Millisecond {
		t.Errorf("after the failure: fired %v after (ok %v), want ≥ 10ms", at.Sub(start), ok)
	}
}

// The loop on the timerfd, as the daemon runs it (not in a synctest
// bubble, whose fake clock drives only the runtime's timers): a Master
// advertises on it, and a Backup's Master_Down_Timer fires on it when the
// Master stops.
func TestLoopOnFDTimer(t *testing.T) {
	lan := newLAN()
	a, b := lan.host("198.18.0.11"), lan.host("198.18.0.12")
	fast := func(c *config.Instance) { c.AdvertInterval = 100 * time.Millisecond }
	withTimerfd := func(in *instance) { in.os.timer = openFDTimer }
	ra := startWith(t, a, testInstance(51, 150, fast), nil, withTimerfd)
	rb := startWith(t, b, testInstance(51, 100, fast), nil, withTimerfd)
	defer rb.stop(t)
	until := func(what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: not true after 10s", what)
			}
		}
	}
	until("a master, b backup", func() bool { return ra.status(t).State == "MASTER" && rb.status(t).State == "BACKUP" })
	if _, ok := ra.in.deadline.(*fdTimer); !ok {
		t.Fatalf("a's deadline is a %T, want the timerfd", ra.in.deadline)
	}
	n := len(a.sent())
	until("a advertises on its timerfd", func() bool { return len(a.sent()) >= n+5 })
	ra.stop(t)
	until("b takes over on its timerfd after a's hand-off", func() bool { return rb.status(t).State == "MASTER" && b.has(vip) })
}
