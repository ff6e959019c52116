package daemon

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/vipd/vipd/config"
	"github.com/vipd/vipd/control"
	"github.com/vipd/vipd/health"
)

// trackerChecks adapts a health.Tracker to the instance's penaltySource.
type trackerChecks struct{ *health.Tracker }

func (t trackerChecks) Run(ctx context.Context) error { return t.Tracker.Run(ctx) }

func (t trackerChecks) Status() []control.Check {
	st := t.Tracker.Status()
	out := make([]control.Check, len(st))
	for i, c := range st {
		out[i] = control.Check{
			Name: c.Name, Kind: string(c.Kind), Up: c.Up, Streak: c.Streak,
			LastOK: c.LastResult.OK, LastError: c.LastResult.Err, LastAt: c.LastResult.At,
			Duration: c.LastResult.Duration, Weight: c.Weight, Penalty: c.Penalty,
			Fault: c.Fault, Since: c.Since, Cause: c.Cause, Result: string(c.LastResult.Status),
		}
	}
	return out
}

// newHealthChecks builds the instance's checks. Every transition of a check
// is logged with the probe's error, so that the log says why a master stepped
// down.
func newHealthChecks(in *config.Instance, log *slog.Logger) (penaltySource, error) {
	specs := make([]health.Spec, len(in.Checks))
	for i := range in.Checks {
		specs[i] = in.Checks[i].Spec()
	}
	// A check's first result, and every change of its outcome (failed to
	// unauthorized, say), is logged: a check that is down from the start
	// (a 401 from a hardened apiserver) makes no transition and would
	// otherwise never say why. Called from the tracker's goroutine only.
	last := map[string]health.Outcome{}
	observe := health.WithObserver(func(r health.Result) {
		prev, seen := last[r.Check]
		if seen && prev == r.Status {
			return
		}
		last[r.Check] = r.Status
		if r.OK {
			if seen {
				log.Info("health check result", "check", r.Check, "result", string(r.Status))
			}
			return
		}
		log.Warn("health check down", "check", r.Check, "result", string(r.Status), "err", r.Err)
	})
	t, err := health.NewTracker(specs, observe, health.WithTransitions(func(tr health.Transition) {
		if tr.Up {
			log.Info("health check up", "check", tr.Check, "fault_check", tr.Fault, "penalty", tr.Penalty)
			return
		}
		log.Warn("health check down", "check", tr.Check, "err", tr.Err, "fault_check", tr.Fault,
			"penalty_before", tr.PreviousPenalty, "penalty", tr.Penalty, "instance_in_fault", tr.InFault)
	}))
	if err != nil {
		return nil, fmt.Errorf("daemon: instance %s: %w", in.Name, err)
	}
	return trackerChecks{t}, nil
}
