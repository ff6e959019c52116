package daemon

import (
	"context"
	"errors"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/vipd/vipd/control"
)

// fakeChecks is a health tracker whose penalty the test sets.
type fakeChecks struct {
	initial      int
	changes      chan int
	faults       chan bool
	mu           sync.Mutex
	fault        string
	confirmFails bool
}

func newFakeChecks(initial int) *fakeChecks {
	return &fakeChecks{initial: initial, changes: make(chan int, 1), faults: make(chan bool, 1)}
}

func (f *fakeChecks) FaultChanges() <-chan bool { return f.faults }

// Confirm passes unless confirmFails is set.
func (f *fakeChecks) Confirm(context.Context) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.confirmFails {
		return false, errors.New("check apiserver: connection refused")
	}
	return true, nil
}
func (f *fakeChecks) Fault() (bool, string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.fault != "", f.fault
}

// setFault takes a fault check down (which names it) or up ("").
func (f *fakeChecks) setFault(which string) {
	f.mu.Lock()
	f.fault = which
	f.mu.Unlock()
	f.faults <- which != ""
}

func (f *fakeChecks) Run(ctx context.Context) error { <-ctx.Done(); return nil }
func (f *fakeChecks) Changes() <-chan int           { return f.changes }
func (f *fakeChecks) Penalty() int                  { return f.initial }
func (f *fakeChecks) Status() []control.Check       { return nil }
func (f *fakeChecks) set(p int)                     { f.changes <- p }

// A failing check lowers the effective priority at once, and with preemption the
// healthy backup takes over; when the check recovers, the VIP comes back.
func TestFailingCheckMovesTheVIP(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		lan := newLAN()
		a, b := lan.host("198.18.0.11"), lan.host("198.18.0.12")
		checks := newFakeChecks(0)
		ra := startWith(t, a, testInstance(51, 150), checks)
		rb := start(t, b, testInstance(51, 120))
		waitFor(t, 5*time.Second, "a master", func() bool { return ra.state(t) == "MASTER" })

		checks.set(50)
		synctest.Wait()
		if st := ra.status(t); st.EffectivePriority != 100 || st.Priority != 150 {
			t.Errorf("a: priority %d effective %d, want 150 and 100", st.Priority, st.EffectivePriority)
		}
		if last, _ := a.lastSent(); last != 100 {
			t.Errorf("a advertised %d right after its check failed, want 100 at once", last)
		}
		waitFor(t, 5*time.Second, "b preempts the unhealthy master", func() bool {
			return rb.state(t) == "MASTER" && b.has(vip) && !a.has(vip)
		})

		checks.set(0)
		waitFor(t, 5*time.Second, "a takes the VIP back", func() bool {
			return ra.state(t) == "MASTER" && a.has(vip) && !b.has(vip)
		})
		ra.stop(t)
		rb.stop(t)
	})
}

// Before `kubeadm init` no apiserver answers anywhere: every master carries the
// same penalty from its first second, so the highest base priority holds the VIP
// without a flap. When one apiserver comes up, that master wins.
func TestBootstrapHighestBaseHoldsVIP(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		lan := newLAN()
		hosts := []*fakeHost{lan.host("198.18.0.11"), lan.host("198.18.0.12"), lan.host("198.18.0.13")}
		var rs []*running
		var cs []*fakeChecks
		for i, h := range hosts {
			c := newFakeChecks(50) // checks start down
			cs = append(cs, c)
			rs = append(rs, startWith(t, h, testInstance(51, []int{110, 100, 105}[i]), c))
		}
		waitFor(t, 5*time.Second, "h1 master", func() bool { return rs[0].state(t) == "MASTER" })
		time.Sleep(20 * time.Second)
		synctest.Wait()
		for i, r := range rs {
			st := r.status(t)
			if want := []string{"MASTER", "BACKUP", "BACKUP"}[i]; st.State != want {
				t.Errorf("h%d: %s, want %s", i+1, st.State, want)
			}
			if got := st.Transitions["master-down-timer"] + st.Transitions["preempt"] + st.Transitions["higher-priority-advert"]; i == 0 && got != 1 {
				t.Errorf("h1 flapped: %v", st.Transitions)
			}
		}
		// kubeadm init ran on h2: its apiserver answers, the others still don't.
		cs[1].set(0)
		waitFor(t, 5*time.Second, "h2 master", func() bool {
			return rs[1].state(t) == "MASTER" && hosts[1].has(vip) && !hosts[0].has(vip)
		})
		for _, r := range rs {
			r.stop(t)
		}
	})
}
