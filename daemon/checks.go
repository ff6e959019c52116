package daemon

import (
	"context"
	"fmt"

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
		}
	}
	return out
}

func newHealthChecks(in *config.Instance) (penaltySource, error) {
	specs := make([]health.Spec, len(in.Checks))
	for i := range in.Checks {
		specs[i] = in.Checks[i].Spec()
	}
	t, err := health.NewTracker(specs)
	if err != nil {
		return nil, fmt.Errorf("daemon: instance %s: %w", in.Name, err)
	}
	return trackerChecks{t}, nil
}
