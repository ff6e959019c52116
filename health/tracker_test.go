package health

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

var errRefused = errors.New("connection refused")

// switchProbe answers like an endpoint that is up or down as the test says.
type switchProbe struct{ up atomic.Bool }

func (p *switchProbe) probe(context.Context) error {
	if p.up.Load() {
		return nil
	}
	return errRefused
}

// scriptProbe answers from a script, one outcome per probe ('+' success,
// '-' failure), and fails once the script is used up.
type scriptProbe struct {
	mu     sync.Mutex
	script string
}

func (p *scriptProbe) probe(context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.script == "" || p.script[0] == '-' {
		if p.script != "" {
			p.script = p.script[1:]
		}
		return errRefused
	}
	p.script = p.script[1:]
	return nil
}

// newFakeTracker is NewTracker with the probe of every check replaced.
func newFakeTracker(t *testing.T, specs []Spec, probes []probeFunc, opts ...Option) *Tracker {
	t.Helper()
	tr, err := NewTracker(specs, opts...)
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range probes {
		tr.checks[i].probe = p
	}
	return tr
}

// start runs tr in the bubble until the test ends, failing it if Run
// returns an error.
func start(t *testing.T, tr *Tracker) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- tr.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
}

// drain returns every value published on ch so far.
func drain[T any](ch <-chan T) []T {
	var got []T
	for {
		select {
		case p := <-ch:
			got = append(got, p)
		default:
			return got
		}
	}
}

func TestNewTrackerStartsDown(t *testing.T) {
	a := DefaultAPIServer("")
	b := Spec{Name: "etcd", Kind: KindTCP, Target: "127.0.0.1:2379", Interval: time.Second, Timeout: time.Second, Rise: 1, Fall: 1, Weight: 7}
	tr, err := NewTracker([]Spec{a, b})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := tr.Penalty(), a.Weight+b.Weight; got != want {
		t.Errorf("Penalty() = %d before any probe, want %d (every check starts down)", got, want)
	}
	for _, s := range tr.Status() {
		if s.Up || s.Streak != 0 || s.Penalty != s.Weight {
			t.Errorf("initial %+v: want down, streak 0, penalty = weight", s)
		}
	}
}

// TestBootstrap is the kubeadm init story: three masters start before any
// apiserver exists, then only node A's apiserver comes up.
func TestBootstrap(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		type node struct {
			name  string
			base  uint8
			api   switchProbe
			tr    *Tracker
			moves []int
		}
		nodes := []*node{{name: "A", base: 90}, {name: "B", base: 100}, {name: "C", base: 95}}
		for _, n := range nodes {
			n.tr = newFakeTracker(t, []Spec{DefaultAPIServer("")}, []probeFunc{n.api.probe})
			start(t, n.tr)
		}
		holder := func() string {
			best := nodes[0]
			for _, n := range nodes[1:] {
				if EffectivePriority(n.base, n.tr.Penalty()) > EffectivePriority(best.base, best.tr.Penalty()) {
					best = n
				}
			}
			return best.name
		}

		// The first seconds: every node is penalised alike from its first
		// instant, so the VIP never moves; B, the highest base, holds it.
		for range 30 {
			synctest.Wait()
			for _, n := range nodes {
				if p := n.tr.Penalty(); p != DefaultAPIServerWeight {
					t.Fatalf("node %s: penalty %d with no apiserver anywhere, want %d", n.name, p, DefaultAPIServerWeight)
				}
			}
			if h := holder(); h != "B" {
				t.Fatalf("VIP on %s with no apiserver anywhere, want B (highest base)", h)
			}
			time.Sleep(time.Second)
		}
		for _, n := range nodes {
			if got := drain(n.tr.Changes()); len(got) != 0 {
				t.Errorf("node %s published %v with no apiserver anywhere, want nothing", n.name, got)
			}
		}

		// kubeadm init on A: its apiserver answers. After Rise probes A,
		// and only A, is unpenalised and outranks B despite its lower base.
		synctest.Wait() // the probes of this instant have run
		nodes[0].api.up.Store(true)
		time.Sleep(DefaultInterval * (DefaultRise - 1))
		synctest.Wait()
		if h := holder(); h != "B" {
			t.Errorf("VIP on %s after %d successes, want it still on B until rise %d", h, DefaultRise-1, DefaultRise)
		}
		time.Sleep(DefaultInterval)
		synctest.Wait()
		if h := holder(); h != "A" {
			t.Errorf("VIP on %s after A's apiserver came up, want A", h)
		}
		if got := drain(nodes[0].tr.Changes()); len(got) != 1 || got[0] != 0 {
			t.Errorf("node A published %v, want [0]", got)
		}
		for _, n := range nodes[1:] {
			if got := drain(n.tr.Changes()); len(got) != 0 {
				t.Errorf("node %s published %v, want nothing", n.name, got)
			}
		}
	})
}

func TestHysteresis(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		spec := Spec{Name: "x", Kind: KindTCP, Target: "127.0.0.1:1", Interval: time.Second, Timeout: time.Second, Rise: 3, Fall: 2, Weight: 10}
		steps := []struct {
			script string
			want   int // penalty after the script
		}{
			{"++", 10},          // rise 3 not reached
			{"+", 0},            // third success: up
			{"-+-+-+-++", 0},    // single failures never reach fall 2
			{"--", 10},          // fall 2: down
			{"++-++-+-++-", 10}, // successes never reach rise 3
			{"+++", 0},
		}
		p := &scriptProbe{}
		tr := newFakeTracker(t, []Spec{spec}, []probeFunc{p.probe})
		for i, st := range steps {
			p.mu.Lock()
			p.script = st.script
			p.mu.Unlock()
			if i == 0 {
				start(t, tr) // probes at once, then every second
			} else {
				time.Sleep(time.Second)
			}
			time.Sleep(time.Duration(len(st.script)-1) * time.Second)
			synctest.Wait()
			if got := tr.Penalty(); got != st.want {
				t.Fatalf("after step %d %q: penalty %d, want %d (status %+v)", i, st.script, got, st.want, tr.Status())
			}
		}
		if got, want := drain(tr.Changes()), []int{0}; len(got) != 1 || got[0] != want[0] {
			// latest value only: 10 → 0 → 10 → 0 ends with 0
			t.Errorf("Changes holds %v, want %v", got, want)
		}
		st := tr.Status()[0]
		if !st.Up || st.Streak != 3 || !st.LastResult.OK {
			t.Errorf("final status %+v: want up, streak +3", st)
		}
	})
}

func TestChangesEveryChange(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		specs := []Spec{
			{Name: "a", Kind: KindTCP, Target: "h:1", Interval: time.Second, Timeout: time.Second, Rise: 1, Fall: 1, Weight: 10},
			{Name: "b", Kind: KindTCP, Target: "h:2", Interval: 3 * time.Second, Timeout: time.Second, Rise: 1, Fall: 1, Weight: 20},
		}
		a, b := &switchProbe{}, &switchProbe{}
		a.up.Store(true)
		b.up.Store(true)
		tr := newFakeTracker(t, specs, []probeFunc{a.probe, b.probe})
		start(t, tr)
		synctest.Wait()
		var got []int
		got = append(got, <-tr.Changes())
		a.up.Store(false)
		time.Sleep(time.Second)
		synctest.Wait()
		got = append(got, <-tr.Changes())
		b.up.Store(false)
		time.Sleep(2 * time.Second) // b probes every 3s
		synctest.Wait()
		got = append(got, <-tr.Changes())
		if want := []int{0, 10, 30}; !equal(got, want) {
			t.Errorf("Changes gave %v, want %v", got, want)
		}
	})
}

func equal(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestTimeoutAndObserver(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		spec := Spec{Name: "slow", Kind: KindTCP, Target: "h:1", Interval: 2 * time.Second, Timeout: 1500 * time.Millisecond, Rise: 1, Fall: 1, Weight: 5}
		hang := func(ctx context.Context) error {
			<-ctx.Done()
			return ctx.Err()
		}
		var (
			mu      sync.Mutex
			results []Result
		)
		tr := newFakeTracker(t, []Spec{spec}, []probeFunc{hang}, WithObserver(func(r Result) {
			mu.Lock()
			results = append(results, r)
			mu.Unlock()
		}))
		t0 := time.Now()
		start(t, tr)
		time.Sleep(4 * time.Second) // probes started at 0s and 2s have timed out; the one at 4s runs
		synctest.Wait()
		mu.Lock()
		defer mu.Unlock()
		if len(results) != 2 {
			t.Fatalf("observed %d results in 4s at interval 2s, want 2: %+v", len(results), results)
		}
		for i, r := range results {
			if r.OK || r.Check != "slow" || r.Duration != spec.Timeout || !strings.Contains(r.Err, "deadline exceeded") {
				t.Errorf("result %d = %+v: want a failure after exactly the 1.5s timeout", i, r)
			}
			if want := t0.Add(time.Duration(i) * spec.Interval); !r.At.Equal(want) {
				t.Errorf("result %d started at %v, want %v", i, r.At, want)
			}
		}
		if got := tr.Status()[0].LastResult; got != results[1] {
			t.Errorf("LastResult = %+v, want %+v", got, results[1])
		}
	})
}

func TestRunTwice(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tr := newFakeTracker(t, []Spec{DefaultAPIServer("")}, []probeFunc{(&switchProbe{}).probe})
		start(t, tr)
		synctest.Wait()
		if err := tr.Run(t.Context()); !errors.Is(err, ErrRunning) {
			t.Errorf("second Run = %v, want ErrRunning", err)
		}
	})
}

func TestRunNoChecks(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tr, err := NewTracker(nil)
		if err != nil {
			t.Fatal(err)
		}
		start(t, tr)
		time.Sleep(time.Minute)
		if p := tr.Penalty(); p != 0 {
			t.Errorf("penalty %d with no checks, want 0", p)
		}
	})
}

func TestNewTrackerRejects(t *testing.T) {
	a := DefaultAPIServer("")
	if _, err := NewTracker([]Spec{a, a}); err == nil || !strings.Contains(err.Error(), "used twice") {
		t.Errorf("duplicate names: err = %v", err)
	}
	bad := a
	bad.Weight = 0
	if _, err := NewTracker([]Spec{bad}); err == nil || !strings.HasPrefix(err.Error(), "health: ") {
		t.Errorf("invalid spec: err = %v", err)
	}
}

// TestFaultCheck: a fault check takes no weight; while it is down the
// tracker is in fault, naming it, and FaultChanges flips with it.
func TestFaultCheck(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		specs := []Spec{
			Spec{Name: "uplink", Kind: KindInterface, Target: "eth1", Fault: true}.WithDefaults(),
			{Name: "etcd", Kind: KindTCP, Target: "h:1", Interval: time.Second, Timeout: time.Second, Rise: 1, Fall: 1, Weight: 10},
		}
		link, etcd := &switchProbe{}, &switchProbe{}
		etcd.up.Store(true)
		tr := newFakeTracker(t, specs, []probeFunc{link.probe, etcd.probe})
		if f, why := tr.Fault(); !f || !strings.Contains(why, `check "uplink" down: not probed yet`) {
			t.Errorf("before any probe: Fault() = %v, %q; want in fault, naming uplink", f, why)
		}
		if p := tr.Penalty(); p != 10 {
			t.Errorf("initial penalty %d, want 10: a fault check takes no weight", p)
		}
		start(t, tr)
		synctest.Wait()
		if f, why := tr.Fault(); !f || !strings.Contains(why, `check "uplink" down: connection refused`) {
			t.Errorf("link down: Fault() = %v, %q", f, why)
		}
		if got := drain(tr.FaultChanges()); len(got) != 0 {
			t.Errorf("FaultChanges %v while the fault never cleared, want nothing", got)
		}
		link.up.Store(true)
		time.Sleep(time.Second)
		synctest.Wait()
		if f, why := tr.Fault(); f || why != "" {
			t.Errorf("link up: Fault() = %v, %q; want no fault", f, why)
		}
		if got := drain(tr.FaultChanges()); len(got) != 1 || got[0] {
			t.Errorf("FaultChanges %v, want [false]", got)
		}
		link.up.Store(false)
		time.Sleep(time.Second)
		synctest.Wait()
		if got := drain(tr.FaultChanges()); len(got) != 1 || !got[0] {
			t.Errorf("FaultChanges %v, want [true]", got)
		}
		if got := drain(tr.Changes()); len(got) != 1 || got[0] != 0 {
			t.Errorf("Changes %v, want [0]: the link never changed the penalty", got)
		}
		st := tr.Status()[0]
		if !st.Fault || st.Penalty != 0 || st.Weight != 0 || st.Up {
			t.Errorf("status %+v: want a down fault check with no penalty", st)
		}
	})
}

// TestTransitions: every transition reaches WithTransitions with the error
// of the probe that caused it, even one the next probe undoes, and the
// status keeps the cause and the time.
func TestTransitions(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		spec := Spec{Name: "apiserver", Kind: KindTCP, Target: "h:1", Interval: time.Second, Timeout: time.Second, Rise: 1, Fall: 2, Weight: 50}
		p := &scriptProbe{script: "+--+"}
		var (
			mu  sync.Mutex
			got []Transition
		)
		tr := newFakeTracker(t, []Spec{spec}, []probeFunc{p.probe}, WithTransitions(func(x Transition) {
			mu.Lock()
			got = append(got, x)
			mu.Unlock()
		}))
		t0 := time.Now()
		start(t, tr)
		time.Sleep(2 * time.Second) // probes at 0s (+), 1s (-), 2s (-): down
		synctest.Wait()
		st := tr.Status()[0]
		if st.Up || st.Cause != errRefused.Error() || !st.Since.Equal(t0.Add(2*time.Second)) {
			t.Errorf("after fall: %+v, want down since 2s, cause %q", st, errRefused)
		}
		time.Sleep(time.Second) // 3s (+): up
		synctest.Wait()
		st = tr.Status()[0]
		if !st.Up || st.Cause != "" || !st.Since.Equal(t0.Add(3*time.Second)) {
			t.Errorf("after rise: %+v, want up since 3s, no cause", st)
		}
		mu.Lock()
		defer mu.Unlock()
		want := []Transition{
			{Check: "apiserver", Up: true, At: t0, PreviousPenalty: 50, Penalty: 0},
			{Check: "apiserver", Up: false, Err: errRefused.Error(), At: t0.Add(2 * time.Second), PreviousPenalty: 0, Penalty: 50},
			{Check: "apiserver", Up: true, At: t0.Add(3 * time.Second), PreviousPenalty: 50, Penalty: 0},
		}
		if len(got) != len(want) {
			t.Fatalf("transitions %+v, want %+v", got, want)
		}
		for i := range want {
			if got[i] != want[i] {
				t.Errorf("transition %d = %+v, want %+v", i, got[i], want[i])
			}
		}
	})
}

// A panicking probe (a bug) is raised again in Run's goroutine, where the
// daemon hands the VIPs off, instead of killing the process from a goroutine
// of its own.
func TestProbePanicReachesRun(t *testing.T) {
	tr := newFakeTracker(t, []Spec{DefaultAPIServer("")}, []probeFunc{func(context.Context) error { panic("bug in a probe") }})
	got := make(chan any, 1)
	go func() {
		defer func() { got <- recover() }()
		_ = tr.Run(t.Context())
	}()
	select {
	case v := <-got:
		if s, _ := v.(string); !strings.Contains(s, "bug in a probe") || !strings.Contains(s, "apiserver") {
			t.Errorf("Run panicked with %v; want the probe's panic, naming the check", v)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not panic")
	}
}

// Confirm probes the checks that are up, at once, and records nothing.
func TestConfirm(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := &switchProbe{}
		p.up.Store(true)
		spec := DefaultAPIServer("")
		spec.Rise = 1
		tr := newFakeTracker(t, []Spec{spec}, []probeFunc{p.probe})
		start(t, tr)
		synctest.Wait()
		if tr.Penalty() != 0 {
			t.Fatalf("penalty %d, want the check up", tr.Penalty())
		}
		if ok, err := tr.Confirm(t.Context()); !ok || err != nil {
			t.Errorf("healthy: Confirm = %v, %v", ok, err)
		}
		p.up.Store(false)
		ok, err := tr.Confirm(t.Context())
		if ok || err == nil || !strings.Contains(err.Error(), spec.Name) {
			t.Errorf("failing: Confirm = %v, %v; want false naming the check", ok, err)
		}
		if tr.Penalty() != 0 || tr.Status()[0].Streak < 1 {
			t.Errorf("Confirm changed the state: penalty %d streak %d", tr.Penalty(), tr.Status()[0].Streak)
		}
	})
}

func TestInheritKeepsUnchangedChecks(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := &switchProbe{}
		p.up.Store(true)
		api := DefaultAPIServer("")
		api.Rise = 1
		old := newFakeTracker(t, []Spec{api}, []probeFunc{p.probe})
		start(t, old)
		synctest.Wait()
		if old.Penalty() != 0 {
			t.Fatal("not up")
		}
		tcp := Spec{Name: "etcd", Kind: KindTCP, Target: "127.0.0.1:2379"}.WithDefaults()
		next, err := NewTracker([]Spec{api, tcp})
		if err != nil {
			t.Fatal(err)
		}
		next.Inherit(old)
		st := next.Status()
		if !st[0].Up || st[1].Up {
			t.Errorf("after Inherit: apiserver up=%v, new etcd up=%v; want the unchanged one kept up, the new one down", st[0].Up, st[1].Up)
		}
		if got, want := next.Penalty(), tcp.Weight; got != want {
			t.Errorf("penalty %d, want only the new check's %d", got, want)
		}
	})
}
