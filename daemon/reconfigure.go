package daemon

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/vipd/vipd/config"
	"github.com/vipd/vipd/election"
)

// A reload (SIGHUP) changes a running instance in place where it can, so that
// the election sees no transition and the VIPs do not flicker: a new base
// priority or check set becomes a priority event, a new VIP list adds and
// removes addresses and announces again, new notify commands apply to the
// next change. Anything else (interface, VRID, family, version, interval,
// peers, source...) replaces the instance, which hands off with zero loss
// first (see reload.go).

// liveChange reports whether new differs from old only in what reconfigure
// applies in place.
func liveChange(old, new config.Instance) bool {
	if old.Family() != new.Family() || (old.Priority == 255) != (new.Priority == 255) {
		return false
	}
	o, n := old, new
	n.Priority, n.Checks, n.VIPs = o.Priority, o.Checks, o.VIPs
	n.Notify, n.NotifyMaster, n.NotifyBackup, n.NotifyFault, n.NotifyStop = o.Notify, o.NotifyMaster, o.NotifyBackup, o.NotifyFault, o.NotifyStop
	return o.Same(n)
}

// reconfRequest carries a new configuration into the loop; checks are the
// new health checks, already built, when they changed.
type reconfRequest struct {
	cfg    config.Instance
	checks penaltySource
	reply  chan string
}

// reconfigure applies a live change and says what it did.
func (in *instance) reconfigure(now time.Time, cfg config.Instance, checks penaltySource) string {
	old := in.cfg
	var did []string
	oldPrio := in.effectivePriority()
	in.cfg = cfg

	if !slices.Equal(old.VIPs, cfg.VIPs) {
		vips := cfg.ElectionVIPs()
		in.expect.Addresses = vips
		in.advert.Addresses = vips
		in.os.setOurs(in.cfg.Name, cfg.VIPs)
		if in.bind.ifi != nil && !in.owner() {
			for _, v := range old.VIPs {
				if !slices.Contains(cfg.VIPs, v) {
					if err := in.os.addrs.DelVIP(in.bind.ifi.Index, v); err != nil {
						in.logErr("removing dropped VIP "+v.String(), err)
					}
				}
			}
		}
		// A Master adds the new ones and tells the LAN.
		in.step(now, election.Event{Kind: election.EventVIPsMissing})
		did = append(did, fmt.Sprintf("VIPs %v → %v", old.VIPs, cfg.VIPs))
	}
	if checks != nil || (len(cfg.Checks) == 0 && in.checks != nil) {
		in.stopChecks()
		// Unchanged checks keep their state; new ones start down.
		if nt, ok := checks.(trackerChecks); ok {
			if ot, ok := in.checks.(trackerChecks); ok {
				nt.Inherit(ot.Tracker)
			}
		}
		in.checks, in.penalty, in.checkFault = checks, 0, ""
		in.startChecks()
		in.applyFault(now)
		did = append(did, fmt.Sprintf("%d checks", len(cfg.Checks)))
	}
	if old.Priority != cfg.Priority {
		did = append(did, fmt.Sprintf("priority %d → %d", old.Priority, cfg.Priority))
	}
	in.priorityChanged(now, oldPrio)
	if in.hooks != nil {
		in.hooks.cmds = hookCommandsOf(&in.cfg)
	} else if cmds := hookCommandsOf(&in.cfg); !cmds.Empty() {
		in.hooks = newHooks(cmds, in.log)
		in.spawn("notify hooks", in.hooks.run)
	}
	if len(did) == 0 {
		return in.cfg.Name + ": notify commands"
	}
	return fmt.Sprintf("%s: %v", in.cfg.Name, did)
}

// startChecks runs the health checks in a context of their own, so that a
// reload can replace them.
func (in *instance) startChecks() {
	if in.checks == nil {
		return
	}
	ctx, cancel := context.WithCancel(in.ctx)
	in.checksStop = cancel
	checks := in.checks
	in.spawn("health checks", func() { _ = checks.Run(ctx) })
	in.penalty = checks.Penalty()
	if down, which := checks.Fault(); down {
		in.checkFault = which
	}
}

func (in *instance) stopChecks() {
	if in.checksStop != nil {
		in.checksStop()
		in.checksStop = nil
	}
}

func (in *instance) penaltiesC() <-chan int {
	if in.checks == nil {
		return nil
	}
	return in.checks.Changes()
}

func (in *instance) faultsC() <-chan bool {
	if in.checks == nil {
		return nil
	}
	return in.checks.FaultChanges()
}

// reconfigureLive asks the loop to apply a live change.
func (in *instance) reconfigureLive(ctx context.Context, cfg config.Instance, checks penaltySource) (string, error) {
	req := reconfRequest{cfg: cfg, checks: checks, reply: make(chan string, 1)}
	select {
	case in.reconf <- req:
	case <-in.stopped:
		return "", fmt.Errorf("daemon: instance %s has stopped", in.cfg.Name)
	case <-ctx.Done():
		return "", ctx.Err()
	}
	select {
	case s := <-req.reply:
		return s, nil
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

var _ = netip.Addr{}
