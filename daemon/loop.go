package daemon

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"slices"
	"sync"
	"time"

	"github.com/vipd/vipd/config"
	"github.com/vipd/vipd/election"
	"github.com/vipd/vipd/health"
	"github.com/vipd/vipd/netlink"
)

// run drives the instance until ctx ends, then hands off: a priority-0 advert, then
// the VIPs removed (RFC 9568 §6.4.3, Shutdown). It returns only fatal errors. A
// panic anywhere in the instance, in the loop or in one of its goroutines, hands
// off and removes the VIPs the same way, and is returned as an error.
func (in *instance) run(ctx context.Context) (err error) {
	defer close(in.stopped)
	// Every goroutine started here is stopped and waited for before run returns.
	bg, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer func() {
		stop()
		in.unbind()
		in.closeWatcher() // issue 13
		in.closeHooks()   // before the wait: the runner's goroutine ends with it
		wg.Wait()
	}()
	defer func() {
		if r := recover(); r != nil {
			err = in.crashed(crashReport{where: "loop", value: r, stack: string(debug.Stack())})
		}
	}()
	in.spawn = func(where string, f func()) {
		wg.Go(func() {
			defer func() {
				if r := recover(); r != nil {
					select {
					case in.crash <- crashReport{where: where, value: r, stack: string(debug.Stack())}:
					default:
					}
				}
			}()
			f()
		})
	}
	in.ctx = bg
	if in.os.timer != nil {
		if t, err := in.os.timer(); err != nil {
			in.logErr("opening a timerfd; using the runtime's timers", err)
		} else {
			defer t.Close() // before the wait above: it ends t.wait
			// The new timer is not armed: neither may armDeadline think so.
			in.deadline, in.armed = t, time.Time{}
			in.spawn("deadline timer", t.wait)
		}
	}

	in.startChecks()
	if in.hooks != nil {
		in.spawn("notify hooks", in.hooks.run)
	}
	updates := in.subscribe()

	if eff := in.effectivePriority(); eff != uint8(in.cfg.Priority) {
		in.step(time.Now(), election.Event{Kind: election.EventPriority, Priority: eff})
	}
	if in.maintenance && !in.owner() {
		in.log.Warn("in maintenance mode (persisted): advertising priority 1; vipctl maintenance off ends it")
		in.step(time.Now(), election.Event{Kind: election.EventMaintenance, On: true})
	}
	in.rebind(time.Now())

	// On SIGTERM the machine hands off with zero loss: it keeps the VIPs,
	// silent, until the new Master is heard (HANDOFF). The loop goes on
	// until then, bounded by the hand-off's own deadline and a margin.
	shutdown := ctx.Done()
	var hardStop <-chan time.Time
	for {
		if shutdown == nil && in.m.Status().State != election.Handoff {
			return nil
		}
		in.armDeadline()
		in.syncWatcher() // issue 13: the ARP/ND watcher follows the binding
		select {
		case <-shutdown:
			in.step(time.Now(), election.Event{Kind: election.EventShutdown})
			shutdown = nil
			if st := in.m.Status(); st.State == election.Handoff {
				in.log.Info("handing off: keeping the VIPs until the new master is heard", "until", st.HandoffUntil)
				hardStop = time.After(time.Until(st.HandoffUntil) + time.Second)
			}

		case <-hardStop:
			in.log.Error("hand-off did not end in time; removing the VIPs")
			in.removeAllVIPs()
			return nil

		case c := <-in.crash:
			return in.crashed(c)

		case pk := <-in.pkts:
			if pk.gen == in.gen {
				in.receive(time.Now(), pk.p)
			}
			pk.release()

		case <-in.deadline.C():
			in.armed = time.Time{}
			in.noteTimerBroken()
			now := time.Now()
			in.probeBeforeTakeover(now) // issue 13: reports only, never waits
			in.step(now, election.Event{Kind: election.EventTimer})
			in.conflictTick(now)

		case r := <-in.sightings: // issue 13: the ARP/ND watcher
			in.sighted(time.Now(), r)

		case u, ok := <-updates:
			if !ok {
				// The subscription broke (a netlink buffer overrun, say):
				// subscribe again shortly and reconcile from a fresh read.
				updates = nil
				in.logErr("link watch ended; resubscribing", errors.New("netlink subscription closed"))
				in.resub.Reset(time.Second)
				continue
			}
			in.update(time.Now(), u)

		case <-in.resub.C:
			if updates = in.subscribe(); updates != nil {
				in.rebind(time.Now())
				in.reconcileVIPs()
			}

		case <-in.retry.C:
			in.rebind(time.Now())

		case down := <-in.faultsC():
			which := ""
			if down {
				_, which = in.checks.Fault()
			}
			if which != in.checkFault {
				in.checkFault = which
				in.applyFault(time.Now())
			}

		case p := <-in.penaltiesC():
			if p != in.penalty {
				old := in.effectivePriority()
				in.penalty = p
				in.priorityChanged(time.Now(), old)
			}

		case reply := <-in.statusc:
			reply <- in.snapshot()

		case req := <-in.ctrlc:
			req.reply <- in.control(req)

		case c := <-in.confirmed:
			if !c.ok {
				in.log.Info("not taking over from the master: this host's own checks fail a fresh probe", "master", addrString(in.m.Status().Master), "err", c.err)
			}
			in.step(time.Now(), election.Event{Kind: election.EventConfirmed, On: c.ok})

		case req := <-in.reconf:
			req.reply <- in.reconfigure(time.Now(), req.cfg, req.checks)

		case rf := <-in.readErr:
			if rf.gen == in.gen {
				// A socket that fails for good is rebuilt, as after the
				// interface was recreated: the error is counted, not fatal.
				in.logErr("reading the VRRP socket", rf.err)
				in.closeSockets() // the binding stays: the VIPs too
				in.rebind(time.Now())
			}
		}
	}
}

// subscribe watches the interface by name; on failure it retries later.
func (in *instance) subscribe() <-chan netlink.Update {
	updates, err := in.os.links.WatchName(in.ctx, in.cfg.Interface)
	if err != nil {
		in.logErr("watching "+in.cfg.Interface, err)
		in.resub.Reset(5 * time.Second)
		return nil
	}
	return updates
}

// armDeadline sets the timer to the machine's next deadline when that has
// moved. A Backup's Master_Down_Timer moves with every advert: re-arming
// the timerfd is one system call, where leaving it early (as was done with
// the runtime's timers) cost a wake-up of the process every third advert.
// A stale expiry that slips through a Reset fires early; the machine does
// nothing with an early EventTimer (election.Machine.Deadline), and the
// loop arms the timer again for the deadline then.
func (in *instance) armDeadline() {
	dl := in.m.Deadline()
	switch {
	case dl.IsZero():
		if !in.armed.IsZero() {
			in.deadline.Stop()
			in.armed = time.Time{}
		}
	case !dl.Equal(in.armed):
		in.deadline.Reset(max(time.Until(dl), 0))
		in.armed = dl
	}
}

// crashed is the path of last resort after a panic: hand off as shutdown does
// and remove the VIPs whatever state the machine is in.
func (in *instance) crashed(c crashReport) error {
	in.log.Error("internal error; handing off and stopping", "in", c.where, "panic", fmt.Sprint(c.value), "stack", c.stack)
	func() {
		defer func() { _ = recover() }()
		if in.m.Status().State == election.Master {
			in.send(election.PriorityShutdown)
		}
	}()
	in.removeAllVIPs()
	return fmt.Errorf("daemon: instance %s: internal error in %s: %v", in.cfg.Name, c.where, c.value)
}

// removeAllVIPs deletes every VIP of a non-owner, ignoring the machine.
func (in *instance) removeAllVIPs() {
	if in.owner() || in.bind.ifi == nil {
		return
	}
	for _, v := range in.cfg.VIPs {
		func() {
			defer func() { _ = recover() }()
			_ = in.os.addrs.DelVIP(in.bind.ifi.Index, v)
		}()
	}
}

// effectivePriority is the base priority lowered by failing checks, kept within
// 1–254 so that a sick router still takes over when nobody better is left. The
// address owner keeps 255: its VIPs are its own addresses.
//
// With a tier check (the apiserver check's default) the priority space is
// split in two: a router whose tier checks pass ranks at 127+⌈p/2⌉
// (128–254), one whose tier check fails at ⌈p/2⌉ (1–127), each lowered by
// its weighted checks within its half. Every healthy master then outranks
// every failing one whatever base priorities the operator chose (150/100/50
// with a plain weight of 50 would tie a failed 150 with a healthy 100, and
// equal priorities never preempt), and within a half the base priorities
// keep their order: at bootstrap, when no apiserver answers anywhere, the
// highest base priority holds the VIP. Priorities one apart may tie.
func (in *instance) effectivePriority() uint8 {
	if in.owner() {
		return election.PriorityOwner
	}
	if !slices.ContainsFunc(in.cfg.Checks, func(c config.Check) bool { return c.Tier }) {
		return uint8(min(max(in.cfg.Priority-in.penalty, 1), 254))
	}
	half := (in.cfg.Priority + 1) / 2
	rest := in.penalty % health.TierPenalty
	if in.penalty >= health.TierPenalty {
		return uint8(min(max(half-rest, 1), 127))
	}
	return uint8(min(max(127+half-rest, 128), 254))
}

// priorityChanged tells the machine of a new checks' priority and logs why.
func (in *instance) priorityChanged(now time.Time, old uint8) {
	eff := in.effectivePriority()
	if eff == old {
		return
	}
	in.log.Info("effective priority changed", "from", old, "to", eff, "penalty", in.penalty, "checks", in.checkSummary())
	in.step(now, election.Event{Kind: election.EventPriority, Priority: eff})
}
