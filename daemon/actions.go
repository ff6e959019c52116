package daemon

import (
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/vipd/vipd/election"
)

// step feeds one event to the machine and carries out its actions, then any
// events those actions raised (a failed VIP add, say), until none is left.
func (in *instance) step(now time.Time, ev election.Event) {
	in.pending = append(in.pending, ev)
	// Index, not reslice: the queue's array is reused, so a step allocates
	// nothing (raise appends while the loop runs).
	for i := 0; i < len(in.pending); i++ {
		ev := in.pending[i]
		before := in.m.Status()
		for _, a := range in.m.Step(now, ev) {
			in.do(now, a)
		}
		in.observe(before, in.m.Status())
	}
	in.pending = in.pending[:0]
}

// raise queues an event for the machine, from inside an action.
func (in *instance) raise(ev election.Event) { in.pending = append(in.pending, ev) }

// observe logs, counts and notifies what a step changed.
func (in *instance) observe(before, after election.Status) {
	if after.State != before.State {
		in.transitions[after.Reason.String()]++
		in.log.Info("state changed", "from", before.State.String(), "to", after.State.String(),
			"reason", after.Reason.String(), "priority", after.EffectivePriority,
			"master", addrString(after.Master))
		// A hand-off is part of leaving MASTER, not a state of its own for
		// the notify commands (keepalived has none): they hear MASTER →
		// BACKUP (or STOP) when it ends. A hand-off that times out back to
		// MASTER (a resignation nobody took) tells them nothing.
		if in.hooks != nil && after.State != election.Handoff && after.State != in.notified {
			in.notifyHooks(in.notified, after)
			in.notified = after.State
		}
	} else if after.State == election.Fault && after.Reason != before.Reason {
		in.log.Warn("still in fault, for another reason", "reason", after.Reason.String(), "problem", in.bind.problem)
	}
}

// do carries out one action of the machine. Failures go back to the machine as
// events; the daemon decides nothing.
func (in *instance) do(now time.Time, a election.Action) {
	switch a.Kind {
	case election.ActSendAdvert:
		in.send(a.Priority)
	case election.ActAddVIPs:
		in.addVIPs()
	case election.ActRemoveVIPs:
		in.removeVIPs()
	case election.ActAnnounce:
		in.announceRound()
	case election.ActConfirm:
		in.confirm()
	}
}

// confirmation is the outcome of the checks' fresh probe.
type confirmation struct {
	ok  bool
	err error
}

// confirm probes the checks once, off the loop (a probe can take its
// timeout), and reports back through in.confirmed.
func (in *instance) confirm() {
	if in.checks == nil {
		in.raise(election.Event{Kind: election.EventConfirmed, On: true})
		return
	}
	checks, ctx := in.checks, in.ctx
	in.spawn("confirmation probe", func() {
		ok, err := checks.Confirm(ctx)
		select {
		case in.confirmed <- confirmation{ok, err}:
		case <-ctx.Done():
		}
	})
}

// send sends one advert to every destination, with the checksum each needs.
func (in *instance) send(priority uint8) {
	if in.conn == nil {
		return
	}
	in.advert.Priority = priority
	ok := false
	for _, dst := range in.conn.Destinations() {
		b, err := in.advert.AppendBinary(in.buf[:0], in.bind.source, dst, in.form)
		if err != nil {
			in.logErr("encoding advert", err)
			return
		}
		in.buf = b // kept if it grew (a reload with more VIPs)
		if err := in.conn.WriteTo(b, dst); err != nil {
			in.sendErrors++
			in.logErr("sending advert to "+dst.String(), err)
			continue
		}
		in.sent++
		ok = true
	}
	if ok {
		in.lastSent = time.Now()
	}
}

func (in *instance) addVIPs() {
	if in.owner() {
		return
	}
	if in.bind.ifi == nil {
		in.raise(election.Event{Kind: election.EventAddFailed})
		return
	}
	var errs []error
	clear(in.unheld)
	for _, v := range in.cfg.VIPs {
		if err := in.os.addrs.AddVIP(in.bind.ifi.Index, v); err != nil {
			errs = append(errs, fmt.Errorf("%v: %w", v, err))
			in.unheld[v] = true
		}
	}
	in.acceptOwner(true)
	if err := errors.Join(errs...); err != nil {
		in.addErrors++
		in.logErr("adding VIPs", err)
		in.raise(election.Event{Kind: election.EventAddFailed})
		return
	}
	in.raise(election.Event{Kind: election.EventAddOK})
}

func (in *instance) removeVIPs() {
	if in.owner() || in.bind.ifi == nil {
		// Without the interface there is nothing to remove: the kernel took
		// the addresses with it.
		return
	}
	var errs []error
	for _, v := range in.cfg.VIPs {
		if err := in.os.addrs.DelVIP(in.bind.ifi.Index, v); err != nil {
			errs = append(errs, fmt.Errorf("%v: %w", v, err))
		}
	}
	in.acceptOwner(false)
	if err := errors.Join(errs...); err != nil {
		in.removeErrors++
		in.logErr("removing VIPs", err)
		in.raise(election.Event{Kind: election.EventRemoveFailed})
		return
	}
	in.raise(election.Event{Kind: election.EventRemoveOK})
}

// announceRound sends one round of gratuitous ARP / unsolicited NA.
func (in *instance) announceRound() {
	if in.ann == nil {
		in.raise(election.Event{Kind: election.EventAnnounceFailed})
		return
	}
	failed := false
	for _, v := range in.cfg.VIPs {
		if in.unheld[v] {
			continue // never point neighbours at an address we do not hold
		}
		if !in.announce(v) {
			failed = true
		}
	}
	if failed {
		in.raise(election.Event{Kind: election.EventAnnounceFailed})
	}
}

func (in *instance) announce(v netip.Addr) bool {
	if err := in.ann.Announce(v); err != nil {
		in.announceErrors++
		in.logErr("announcing "+v.String(), err)
		return false
	}
	in.announcements++
	return true
}

func (in *instance) logErr(what string, err error) {
	in.lastErr = fmt.Sprintf("%s: %v (at %s)", what, err, time.Now().UTC().Format(time.RFC3339))
	in.log.Error(what, "err", err)
}

func addrString(a netip.Addr) string {
	if !a.IsValid() || a.IsUnspecified() {
		return ""
	}
	return a.String()
}
