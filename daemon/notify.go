package daemon

import (
	"context"

	"github.com/vipd/vipd/election"
)

// notifyHooks queues the notify commands of a state change.
func (in *instance) notifyHooks(from election.State, after election.Status) {
	in.hooks.notify(hookEvent{
		Instance: in.cfg.Name, Interface: in.cfg.Interface, VRID: in.cfg.VRID,
		From: from, Status: after, VIPs: in.cfg.VIPs,
	})
}

// closeHooks runs what is queued, the stop notification above all, and waits
// for it (bounded by the hook timeouts), so that the stop command has run
// before vipd exits.
func (in *instance) closeHooks() {
	if in.hooks == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*hookTimeout+2*hookWaitDelay)
	defer cancel()
	if err := in.hooks.close(ctx); err != nil {
		in.log.Error("notify commands at stop", "err", err)
	}
}
