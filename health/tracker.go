package health

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// ErrRunning is returned by a second call of Run on the same Tracker.
var ErrRunning = errors.New("health: tracker is already running")

// Result is the outcome of one probe.
type Result struct {
	Check    string
	OK       bool
	Err      string // why the probe failed; empty when OK
	Duration time.Duration
	At       time.Time // when the probe started
}

// CheckStatus is the state of one check.
type CheckStatus struct {
	Name       string
	Kind       Kind
	Up         bool
	Streak     int // +n consecutive successes or -n consecutive failures; 0 before the first probe
	LastResult Result
	Weight     int
	Penalty    int // Weight while down, else 0
}

// Option configures a Tracker.
type Option func(*Tracker)

// WithObserver has fn called with every Result, in order per check, from
// Run's goroutine, before the Result changes the checks' state. fn must
// not block; it is where the daemon records metrics.
func WithObserver(fn func(Result)) Option {
	return func(t *Tracker) { t.observe = fn }
}

// Tracker runs checks and keeps the penalty they impose.
type Tracker struct {
	checks  []*check
	observe func(Result)
	changes chan int
	running atomic.Bool

	mu     sync.Mutex // guards the statuses, written only by Run
	status []CheckStatus
}

type check struct {
	spec  Spec
	probe probeFunc
}

// NewTracker validates specs, which must have unique names, and returns a
// Tracker whose checks are all down (see the package documentation). It
// starts nothing.
func NewTracker(specs []Spec, opts ...Option) (*Tracker, error) {
	t := &Tracker{changes: make(chan int, 1)}
	seen := make(map[string]bool, len(specs))
	for _, s := range specs {
		if err := s.Validate(); err != nil {
			return nil, err
		}
		if seen[s.Name] {
			return nil, fmt.Errorf("health: check %q: name is used twice: give every check a unique name", s.Name)
		}
		seen[s.Name] = true
		s.Command = append([]string(nil), s.Command...)
		t.checks = append(t.checks, &check{spec: s, probe: newProbe(s)})
		t.status = append(t.status, CheckStatus{
			Name: s.Name, Kind: s.Kind, Weight: s.Weight, Penalty: s.Weight,
		})
	}
	for _, o := range opts {
		o(t)
	}
	return t, nil
}

// Changes delivers the penalty each time it changes while Run runs. It
// holds only the latest value: a slow reader skips intermediate ones but
// always gets the current penalty. Read Penalty for the value before the
// first change.
func (t *Tracker) Changes() <-chan int { return t.changes }

// Penalty is the sum of the weights of the checks that are down.
func (t *Tracker) Penalty() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return penalty(t.status)
}

// Status returns the state of every check, in the order of the specs.
func (t *Tracker) Status() []CheckStatus {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]CheckStatus(nil), t.status...)
}

func penalty(st []CheckStatus) int {
	var p int
	for _, s := range st {
		p += s.Penalty
	}
	return p
}

// Run probes every check at once and then every Interval, until ctx ends;
// it returns nil then, after every probe has stopped. One goroutine per
// check probes; Run's own goroutine owns the checks' state.
func (t *Tracker) Run(ctx context.Context) error {
	if !t.running.CompareAndSwap(false, true) {
		return ErrRunning
	}
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() {
		cancel()
		wg.Wait()
	}()

	type indexed struct {
		i int
		r Result
	}
	results := make(chan indexed)
	for i, c := range t.checks {
		wg.Go(func() {
			tick := time.NewTicker(c.spec.Interval)
			defer tick.Stop()
			for {
				r := c.run(ctx)
				select {
				case results <- indexed{i, r}:
				case <-ctx.Done():
					return
				}
				select {
				case <-tick.C:
				case <-ctx.Done():
					return
				}
			}
		})
	}

	for {
		select {
		case <-ctx.Done():
			return nil
		case ir := <-results:
			if t.observe != nil {
				t.observe(ir.r)
			}
			if p, changed := t.record(ir.i, ir.r); changed {
				t.publish(p)
			}
		}
	}
}

// run probes once. A probe that ends because Run is stopping is still
// reported as what it was; Run discards it.
func (c *check) run(ctx context.Context) Result {
	pctx, cancel := context.WithTimeout(ctx, c.spec.Timeout)
	defer cancel()
	start := time.Now()
	err := c.probe(pctx)
	r := Result{Check: c.spec.Name, OK: err == nil, Duration: time.Since(start), At: start}
	if err != nil {
		r.Err = err.Error()
	}
	return r
}

// record applies r to check i with rise/fall hysteresis and returns the
// penalty and whether it changed.
func (t *Tracker) record(i int, r Result) (int, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	before := penalty(t.status)
	s := &t.status[i]
	spec := t.checks[i].spec
	s.LastResult = r
	switch {
	case r.OK && s.Streak >= 0:
		s.Streak++
	case r.OK:
		s.Streak = 1
	case s.Streak <= 0:
		s.Streak--
	default:
		s.Streak = -1
	}
	switch {
	case !s.Up && s.Streak >= spec.Rise:
		s.Up = true
	case s.Up && -s.Streak >= spec.Fall:
		s.Up = false
	}
	s.Penalty = 0
	if !s.Up {
		s.Penalty = s.Weight
	}
	after := penalty(t.status)
	return after, after != before
}

// publish replaces whatever Changes holds with p. Run's goroutine is the
// only sender, so the send after the drain cannot block.
func (t *Tracker) publish(p int) {
	select {
	case <-t.changes:
	default:
	}
	t.changes <- p
}
