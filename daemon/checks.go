package daemon

import (
	"context"
	"fmt"

	"github.com/vipd/vipd/control"
	"github.com/vipd/vipd/health"
)

// spec turns a configured check into a health.Spec, with the package's defaults
// for whatever the operator left out.
func (c *Check) spec() health.Spec {
	s := health.Spec{Name: c.Name, Kind: health.Kind(c.Kind), Target: c.Target, Command: c.Command}
	if c.Kind == "https" || c.Kind == "http" {
		s = health.DefaultAPIServer(c.Target)
		if c.Name != "" {
			s.Name = c.Name
		}
		s.Kind = health.Kind(c.Kind)
		if s.Kind == health.KindHTTP {
			s.CAFile, s.ServerName = "", "" // no TLS
		}
	}
	if c.CAFile != "" {
		s.CAFile = c.CAFile
	}
	if c.Interval != 0 {
		s.Interval = c.Interval
	}
	if c.Timeout != 0 {
		s.Timeout = c.Timeout
	} else if s.Timeout > s.Interval {
		s.Timeout = s.Interval // a shorter interval than the default shortens the default timeout too
	}
	if c.Rise != 0 {
		s.Rise = c.Rise
	}
	if c.Fall != 0 {
		s.Fall = c.Fall
	}
	if c.Weight != 0 {
		s.Weight = c.Weight
	}
	return s.WithDefaults()
}

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

func newHealthChecks(in *Instance) (penaltySource, error) {
	specs := make([]health.Spec, len(in.Checks))
	for i := range in.Checks {
		specs[i] = in.Checks[i].spec()
	}
	t, err := health.NewTracker(specs)
	if err != nil {
		return nil, fmt.Errorf("daemon: instance %s: %w", in.Name, err)
	}
	return trackerChecks{t}, nil
}
