package health

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// ErrRunning is returned by a second call of Run on the same Tracker.
var ErrRunning = errors.New("health: tracker is already running")

// Outcome classifies a Result, for what a caller decides or shows.
type Outcome string

// The outcomes of a probe.
const (
	OutcomeOK           Outcome = "ok"
	OutcomeFailed       Outcome = "failed"
	OutcomeUnauthorized Outcome = "unauthorized" // HTTP 401; Err says how to fix it (ErrUnauthorized)
	OutcomeForbidden    Outcome = "forbidden"    // HTTP 403; Err says how to fix it (ErrForbidden)
)

// Result is the outcome of one probe.
type Result struct {
	Check    string
	OK       bool
	Status   Outcome
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
	Penalty    int // Weight while down, else 0; always 0 for a fault check
	// Fault is set for a fault check: while it is down the instance must
	// be in FAULT (Tracker.Fault).
	Fault bool
	// Tier is set for a tier check (Spec.Tier).
	Tier bool
	// Since is when the check last changed state: the end of the probe
	// that changed it. Zero while the check is still in its initial state
	// (down).
	Since time.Time
	// Cause is the error of the probe that took the check down; empty
	// while it is up and before it was ever up.
	Cause string
}

// Transition is a check changing state, handed to the function of
// WithTransitions.
type Transition struct {
	Check string
	Up    bool // the new state
	Fault bool // a fault check
	// Err is the error of the probe that took the check down; empty when
	// it comes up.
	Err string
	At  time.Time // when the probe that caused it ended
	// PreviousPenalty and Penalty are the tracker's penalty before and
	// after the transition.
	PreviousPenalty, Penalty int
	// InFault is what Tracker.Fault reports after the transition.
	InFault bool
}

// Option configures a Tracker.
type Option func(*Tracker)

// WithObserver has fn called with every Result, in order per check, from
// Run's goroutine, before the Result changes the checks' state. fn must
// not block; it is where the daemon records metrics.
func WithObserver(fn func(Result)) Option {
	return func(t *Tracker) { t.observe = fn }
}

// WithTransitions has fn called on every transition of a check (down to
// up, up to down), from Run's goroutine, after the state has changed and
// before Changes or FaultChanges deliver it. Unlike those channels it sees
// every transition, even one undone by the next probe. fn must not block;
// it is where the daemon logs "check apiserver down: <err>".
func WithTransitions(fn func(Transition)) Option {
	return func(t *Tracker) { t.transition = fn }
}

// Tracker runs checks and keeps the penalty and the fault they impose.
type Tracker struct {
	checks     []*check
	observe    func(Result)
	transition func(Transition)
	changes    chan int
	faults     chan bool
	running    atomic.Bool

	mu     sync.Mutex // guards the statuses, written only by Run
	status []CheckStatus
}

type check struct {
	spec  Spec
	probe probeFunc
}

// NewTracker validates specs, which must have unique names, and returns a
// Tracker whose checks are all down (see the package documentation), and
// so in fault if it has a fault check. It starts nothing.
func NewTracker(specs []Spec, opts ...Option) (*Tracker, error) {
	t := &Tracker{changes: make(chan int, 1), faults: make(chan bool, 1)}
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
		st := CheckStatus{Name: s.Name, Kind: s.Kind, Weight: s.Weight, Fault: s.Fault, Tier: s.Tier}
		st.Penalty = st.penalty()
		t.status = append(t.status, st)
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

// FaultChanges delivers, while Run runs, whether the instance must be in
// FAULT each time that flips (Fault has the reason). Like Changes it holds
// only the latest value; read Fault for the value before the first flip.
func (t *Tracker) FaultChanges() <-chan bool { return t.faults }

// Penalty is the sum of the weights of the checks that are down.
func (t *Tracker) Penalty() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return penalty(t.status)
}

// Fault reports whether a fault check is down, and so the instance must be
// in FAULT, with the reason: each down fault check's name and the error
// that took it down, such as `check "uplink" down: interface eth1 has no
// carrier (IFF_RUNNING clear): ...`.
func (t *Tracker) Fault() (bool, string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return fault(t.status)
}

func fault(st []CheckStatus) (bool, string) {
	var why []string
	for _, s := range st {
		if !s.Fault || s.Up {
			continue
		}
		cause := s.Cause
		switch {
		case cause == "" && s.LastResult.Err != "":
			cause = s.LastResult.Err
		case cause == "":
			cause = "not probed yet"
		}
		why = append(why, fmt.Sprintf("check %q down: %s", s.Name, cause))
	}
	return len(why) > 0, strings.Join(why, "; ")
}

// penalty is what the check takes off the priority now.
func (s *CheckStatus) penalty() int {
	switch {
	case s.Up || s.Fault:
		return 0
	case s.Tier:
		return TierPenalty
	}
	return s.Weight
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
	// A panic in a probe (a bug) is carried to Run's goroutine and raised
	// there again, where the daemon hands the VIPs off: a probe's own
	// goroutine would take the process down with the VIPs on the host.
	panics := make(chan any, len(t.checks))
	for i, c := range t.checks {
		wg.Go(func() {
			defer func() {
				if r := recover(); r != nil {
					panics <- fmt.Sprintf("health check %s: %v\n%s", c.spec.Name, r, debug.Stack())
				}
			}()
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
		case p := <-panics:
			panic(p)
		case ir := <-results:
			if t.observe != nil {
				t.observe(ir.r)
			}
			tr, flipped, changed := t.record(ir.i, ir.r)
			if !changed {
				continue
			}
			if t.transition != nil {
				t.transition(tr)
			}
			if tr.Penalty != tr.PreviousPenalty {
				publish(t.changes, tr.Penalty)
			}
			if flipped {
				publish(t.faults, tr.InFault)
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
	r := Result{Check: c.spec.Name, OK: err == nil, Status: OutcomeOK, Duration: time.Since(start), At: start}
	switch {
	case err == nil:
	case errors.Is(err, ErrUnauthorized):
		r.Status = OutcomeUnauthorized
	case errors.Is(err, ErrForbidden):
		r.Status = OutcomeForbidden
	default:
		r.Status = OutcomeFailed
	}
	if err != nil {
		r.Err = err.Error()
	}
	return r
}

// record applies r to check i with rise/fall hysteresis and returns the
// transition it caused, if any, and whether that flipped the fault.
func (t *Tracker) record(i int, r Result) (tr Transition, flipped, changed bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	before := penalty(t.status)
	wasFault, _ := fault(t.status)
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
		s.Up, s.Cause = true, ""
	case s.Up && -s.Streak >= spec.Fall:
		s.Up, s.Cause = false, r.Err
	default:
		return Transition{}, false, false
	}
	s.Since = r.At.Add(r.Duration)
	s.Penalty = s.penalty()
	tr = Transition{
		Check: s.Name, Up: s.Up, Fault: s.Fault, Err: s.Cause, At: s.Since,
		PreviousPenalty: before, Penalty: penalty(t.status),
	}
	tr.InFault, _ = fault(t.status)
	return tr, tr.InFault != wasFault, true
}

// publish replaces whatever ch holds with v. Run's goroutine is the only
// sender, so the send after the drain cannot block.
func publish[T any](ch chan T, v T) {
	select {
	case <-ch:
	default:
	}
	ch <- v
}

// Confirm probes every check once, at once and concurrently, without
// recording the results, and reports whether every check that is up now
// still passes; err names the first that does not. A router about to take
// over from a live master whose priority just dropped calls it: when every
// apiserver fails together (etcd lost quorum), the checks fall at
// independent moments, and without a fresh look a router whose own check
// has not fallen yet would take the VIP to a host that is no better.
// Checks already down are not probed again: they already count.
func (t *Tracker) Confirm(ctx context.Context) (ok bool, err error) {
	t.mu.Lock()
	up := make([]bool, len(t.status))
	for i, st := range t.status {
		up[i] = st.Up
	}
	t.mu.Unlock()
	results := make(chan Result, len(t.checks))
	n := 0
	for i, c := range t.checks {
		if !up[i] {
			continue
		}
		n++
		go func() {
			defer func() {
				if r := recover(); r != nil {
					results <- Result{Check: c.spec.Name, Err: fmt.Sprintf("internal error: %v", r)}
				}
			}()
			results <- c.run(ctx)
		}()
	}
	for range n {
		r := <-results
		if !r.OK && err == nil {
			err = fmt.Errorf("health: check %s: %s", r.Check, r.Err)
		}
	}
	return err == nil, err
}

// Inherit takes over, before Run, the state of every check of prev that has
// the same name and the same spec: a reload that adds or changes one check
// must not send the others back to down, which would move the VIP for
// nothing. New and changed checks start down, as at startup.
func (t *Tracker) Inherit(prev *Tracker) {
	if prev == nil || t.running.Load() {
		return
	}
	prev.mu.Lock()
	old := map[string]CheckStatus{}
	oldSpec := map[string]Spec{}
	for i, st := range prev.status {
		old[st.Name] = st
		oldSpec[st.Name] = prev.checks[i].spec
	}
	prev.mu.Unlock()
	t.mu.Lock()
	defer t.mu.Unlock()
	for i, c := range t.checks {
		if st, ok := old[c.spec.Name]; ok && reflect.DeepEqual(oldSpec[c.spec.Name], c.spec) {
			t.status[i] = st
		}
	}
}
