package daemon

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/vipd/vipd/config"
	"github.com/vipd/vipd/control"
)

// Maintenance on hands the VIP off with zero loss, persists, and survives a
// restart; off lets the node contend again.
func TestMaintenanceHandsOffAndPersists(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dir := t.TempDir()
		lan := newLAN()
		a, b := lan.host("198.18.0.11"), lan.host("198.18.0.12")
		ra := start(t, a, testInstance(51, 200))
		rb := start(t, b, testInstance(51, 100))
		waitFor(t, 5*time.Second, "a master", func() bool { return ra.state(t) == "MASTER" && rb.state(t) == "BACKUP" })
		ops := &operator{log: discard, stateDir: dir, instances: []*instance{ra.in}}

		done, err := ops.Maintenance(t.Context(), control.Caller{PID: 1}, "", true)
		if err != nil || len(done) != 1 {
			t.Fatalf("maintenance on: %v %v", done, err)
		}
		waitFor(t, 5*time.Second, "b takes over", func() bool {
			if !a.has(vip) && !b.has(vip) {
				t.Fatal("neither host holds the VIP during the hand-off")
			}
			return b.has(vip) && !a.has(vip)
		})
		st := ra.status(t)
		if !st.Maintenance || st.EffectivePriority != 1 || st.State != "BACKUP" {
			t.Errorf("a: %s maintenance=%v at %d; want BACKUP in maintenance at 1", st.State, st.Maintenance, st.EffectivePriority)
		}
		if p, err := loadState(dir); err != nil || len(p.Maintenance) != 1 || p.Maintenance[0] != stateKey("api") {
			t.Errorf("persisted %v, %v", p, err)
		}

		// A restart keeps the node drained.
		ra.stop(t)
		ra = startWith(t, a, testInstance(51, 200), nil, func(in *instance) { in.maintenance = true }) // as run() reads it from the state file
		time.Sleep(10 * time.Second)
		synctest.Wait()
		if a.has(vip) || !b.has(vip) {
			t.Error("a restarted in maintenance took the VIP")
		}
		ops.instances = []*instance{ra.in}
		if _, err := ops.Maintenance(t.Context(), control.Caller{}, "api", false); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 10*time.Second, "a preempts back", func() bool { return a.has(vip) && !b.has(vip) })
		if p, _ := loadState(dir); len(p.Maintenance) != 0 {
			t.Errorf("still persisted: %v", p)
		}
		ra.stop(t)
		rb.stop(t)
	})
}

func TestResignOnlyFromMaster(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		lan := newLAN()
		a, b := lan.host("198.18.0.11"), lan.host("198.18.0.12")
		ra := start(t, a, testInstance(51, 200, func(in *config.Instance) { in.Preempt = false }))
		rb := start(t, b, testInstance(51, 100, func(in *config.Instance) { in.Preempt = false }))
		waitFor(t, 5*time.Second, "a master", func() bool { return ra.state(t) == "MASTER" && rb.state(t) == "BACKUP" })
		ops := &operator{log: discard, stateDir: t.TempDir(), instances: []*instance{rb.in}}
		if _, err := ops.Resign(t.Context(), control.Caller{}, "api"); !errors.Is(err, control.ErrNotApplicable) {
			t.Errorf("resigning a backup: %v", err)
		}
		ops.instances = []*instance{ra.in}
		if _, err := ops.Resign(t.Context(), control.Caller{}, "nope"); !errors.Is(err, control.ErrNoInstance) {
			t.Errorf("unknown instance: %v", err)
		}
		if _, err := ops.Resign(t.Context(), control.Caller{}, ""); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 5*time.Second, "b master", func() bool {
			if !a.has(vip) && !b.has(vip) {
				t.Fatal("neither host holds the VIP during the hand-off")
			}
			return b.has(vip) && !a.has(vip) && ra.state(t) == "BACKUP"
		})
		ra.stop(t)
		rb.stop(t)
	})
}

// A state file that cannot be written changes nothing.
func TestMaintenanceNotPersistedChangesNothing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		lan := newLAN()
		a := lan.host("198.18.0.11")
		ra := start(t, a, testInstance(51, 200))
		waitFor(t, 5*time.Second, "a master", func() bool { return ra.state(t) == "MASTER" })
		dir := filepath.Join(t.TempDir(), "missing")
		ops := &operator{log: discard, stateDir: dir, instances: []*instance{ra.in}}
		if _, err := ops.Maintenance(t.Context(), control.Caller{}, "", true); err == nil || !strings.Contains(err.Error(), "nothing changed") {
			t.Errorf("unwritable state: %v", err)
		}
		if st := ra.status(t); st.Maintenance || st.State != "MASTER" {
			t.Errorf("a: %s maintenance=%v", st.State, st.Maintenance)
		}
		if _, err := os.Stat(dir); err == nil {
			t.Error("state dir created")
		}
		ra.stop(t)
	})
}

func TestStateKeyInTheHostNamespaceIsTheName(t *testing.T) {
	if !inInitNetns() {
		t.Skip("not in PID 1's network namespace") // the unit tests run in the host's
	}
	if got := stateKey("api"); got != "api" {
		t.Errorf("stateKey in the host namespace = %q, want the plain name (stable across kernels)", got)
	}
}
