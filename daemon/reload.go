package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"runtime/debug"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/vipd/vipd/config"
	"github.com/vipd/vipd/control"
)

// Reload lets Run re-read its configuration: one value on C per request
// (SIGHUP), Load returns the new configuration (the file read again, the
// command line's flags applied over it, validated).
type Reload struct {
	C    <-chan struct{}
	Load func() (*config.Config, error)
}

// managed is one instance the registry runs.
type managed struct {
	in     *instance
	lock   *instanceLock
	cancel context.CancelFunc
	done   chan error
}

// registry is the set of running instances, which a reload changes, and what
// every instance shares: the locks and the VIPs of the whole process.
type registry struct {
	stateDir string
	log      *slog.Logger
	sys      system
	ctx      context.Context    // the daemon's run context
	fail     context.CancelFunc // stops the daemon: an instance failed

	mu   sync.Mutex
	list []*managed
	vips map[string][]netip.Addr // by instance name
	errs []error
	wg   sync.WaitGroup
	// acceptLocal counts, per ifindex, the instances holding IPv4 VIPs with
	// accept_local on (owner.go): the last one to let go turns it off.
	acceptLocal map[int]int
	reloadN     atomic.Uint64 // reloads applied
	reloadF     atomic.Uint64 // reloads rejected
}

func newRegistry(stateDir string, log *slog.Logger, sys system, ctx context.Context, fail context.CancelFunc) *registry {
	return &registry{stateDir: stateDir, log: log, sys: sys, ctx: ctx, fail: fail, vips: map[string][]netip.Addr{}}
}

func (r *registry) has(a netip.Addr) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, vs := range r.vips {
		if slices.Contains(vs, a) {
			return true
		}
	}
	return false
}

func (r *registry) setVIPs(name string, vips []netip.Addr) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.vips[name] = slices.Clone(vips)
}

func (r *registry) locks() []*instanceLock {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]*instanceLock, 0, len(r.list))
	for _, m := range r.list {
		out = append(out, m.lock)
	}
	return out
}

// prepare builds an instance (not started) holding lock.
func (r *registry) prepare(c config.Instance, lock *instanceLock, maintenance bool) (*managed, error) {
	ilog := r.log.With("instance", c.Name, "vrid", c.VRID, "interface", c.Interface)
	var checks penaltySource
	if len(c.Checks) > 0 && r.sys.newChecks != nil {
		var err error
		if checks, err = r.sys.newChecks(&c, ilog); err != nil {
			return nil, err
		}
	}
	deps := osDeps{
		addrs:    r.sys.vips,
		links:    r.sys.vips,
		listen:   r.sys.listen,
		dial:     r.sys.dialAnnouncer,
		liveVIPs: func(ifname string) []netip.Addr { return liveVIPs(r.stateDir, ifname, r.locks()) },
		reg:      r,
		checks:   r.sys.newChecks,
		watch:    r.sys.watch, // issue 13
		timer:    r.sys.timer,
	}
	in, err := newInstance(c, ilog, deps, checks)
	if err != nil {
		return nil, err
	}
	in.maintenance = maintenance
	return &managed{in: in, lock: lock, done: make(chan error, 1)}, nil
}

// start runs a prepared instance. Its fatal error stops the daemon.
func (r *registry) start(m *managed) {
	ctx, cancel := context.WithCancel(r.ctx)
	m.cancel = cancel
	r.setVIPs(m.in.cfg.Name, m.in.cfg.VIPs)
	r.mu.Lock()
	r.list = append(r.list, m)
	r.mu.Unlock()
	r.wg.Go(func() {
		err := m.in.run(ctx)
		m.done <- err
		if err != nil {
			m.in.log.Error("instance stopped", "err", err)
			r.mu.Lock()
			r.errs = append(r.errs, err)
			r.mu.Unlock()
			r.fail()
		}
	})
}

// stop hands an instance off with zero loss and waits for it, then lets its
// lock go.
func (r *registry) stop(m *managed, releaseLock bool) {
	m.cancel()
	<-m.in.stopped
	// The instance removed its own VIPs; nobody else claims them now.
	r.mu.Lock()
	r.list = slices.DeleteFunc(r.list, func(x *managed) bool { return x == m })
	delete(r.vips, m.in.cfg.Name)
	r.mu.Unlock()
	if releaseLock {
		m.lock.release()
	}
}

// all returns the running instances.
func (r *registry) all() []*instance {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]*instance, 0, len(r.list))
	for _, m := range r.list {
		out = append(out, m.in)
	}
	return out
}

func (r *registry) find(name string) *managed {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, m := range r.list {
		if m.in.cfg.Name == name {
			return m
		}
	}
	return nil
}

// alive reports whether every instance's loop still runs.
func (r *registry) alive() bool {
	for _, in := range r.all() {
		select {
		case <-in.stopped:
			return false
		default:
		}
	}
	return true
}

// wait waits for every instance to stop and returns their errors.
func (r *registry) wait() []error {
	r.wg.Wait()
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.errs
}

func (r *registry) unlockAll() {
	for _, l := range r.locks() {
		l.release()
	}
}

func (r *registry) reloads() control.Reloads {
	return control.Reloads{Applied: r.reloadN.Load(), Rejected: r.reloadF.Load()}
}

// reloadLoop applies each reload request until ctx ends.
func (r *registry) reloadLoop(ctx context.Context, cur *config.Config, rl Reload) {
	for {
		select {
		case <-ctx.Done():
			return
		case _, ok := <-rl.C:
			if !ok {
				return
			}
		}
		next, err := safeLoad(rl.Load)
		if err != nil {
			r.reloadF.Add(1)
			r.log.Error("reload rejected: the running configuration goes on unchanged", "err", err)
			continue
		}
		if err := r.safeApply(ctx, cur, next); err != nil {
			r.reloadF.Add(1)
			r.log.Error("reload failed part way", "err", err)
			continue
		}
		r.reloadN.Add(1)
		cur = next
	}
}

// apply moves the running instances from cur to next: unchanged ones are not
// touched, live changes are applied in place, the rest hand off and start
// again, removed ones hand off, added ones start.
func (r *registry) apply(ctx context.Context, cur, next *config.Config) error {
	for _, f := range []struct{ name, old, new string }{
		{"--control-socket", cur.ControlSocket, next.ControlSocket},
		{"--metrics-address", cur.MetricsAddress, next.MetricsAddress},
		{"--state-dir", cur.StateDir, next.StateDir},
		{"--log-format", cur.LogFormat, next.LogFormat},
		{"--log-level", cur.LogLevel, next.LogLevel},
	} {
		if f.old != f.new {
			r.log.Warn("reload: this setting needs a restart; keeping the running value", "setting", f.name, "running", f.old, "new", f.new)
		}
	}
	old := map[string]config.Instance{}
	for _, in := range cur.Instances {
		old[in.Name] = in
	}
	// Everything that can fail is done before any running instance is
	// touched: a reload that cannot be carried out is rejected whole.
	type liveStep struct {
		m      *managed
		cfg    config.Instance
		checks penaltySource
	}
	type startStep struct {
		cfg     config.Instance
		replace *managed // the instance of the same name it replaces, if any
		from    *managed // the instance whose lock it takes over, if any
		m       *managed
	}
	var lives []liveStep
	var starts []*startStep
	want := map[string]bool{}
	var taken []*instanceLock // released if the reload is rejected
	fail := func(err error) error {
		for _, l := range taken {
			l.release()
		}
		return err
	}
	for _, in := range next.Instances {
		want[in.Name] = true
		o, ok := old[in.Name]
		m := r.find(in.Name)
		switch {
		case ok && m != nil && o.Same(in):
			// untouched: no transition, no flicker
		case ok && m != nil && liveChange(o, in):
			var checks penaltySource
			if !checksSame(o.Checks, in.Checks) && len(in.Checks) > 0 && r.sys.newChecks != nil {
				var err error
				if checks, err = r.sys.newChecks(&in, m.in.log); err != nil {
					return fail(err)
				}
			}
			lives = append(lives, liveStep{m, in, checks})
		default:
			st := &startStep{cfg: in}
			if ok && m != nil {
				st.replace = m
			}
			starts = append(starts, st)
		}
	}
	// The locks of what goes (removed or replaced instances), by virtual
	// router: a successor of the same virtual router takes it over, whatever
	// its name (a renamed instance, a VRID moved between instances).
	going := map[string]*managed{}
	for _, m := range r.listCopy() {
		gone := true // not in the new configuration
		for _, in := range next.Instances {
			if in.Name == m.in.cfg.Name {
				gone = false
			}
		}
		for _, st := range starts {
			if st.replace == m {
				gone = true
			}
		}
		if gone {
			going[lockName(m.in.cfg.Interface, m.in.cfg.Family(), m.in.cfg.VRID)] = m
		}
	}
	handed := map[*managed]bool{}
	state, _ := loadState(r.stateDir)
	for _, st := range starts {
		var lock *instanceLock
		if prev, ok := going[lockName(st.cfg.Interface, st.cfg.Family(), st.cfg.VRID)]; ok && !handed[prev] && prev.lock != nil {
			lock = prev.lock // the same virtual router: the lock passes on
			handed[prev] = true
			st.from = prev
		} else {
			locks, err := lockInstances(r.stateDir, []config.Instance{st.cfg})
			if err != nil {
				return fail(fmt.Errorf("reload: instance %s: %w", st.cfg.Name, err))
			}
			lock = locks[0]
			taken = append(taken, lock)
		}
		m, err := r.prepare(st.cfg, lock, slices.Contains(state.Maintenance, stateKey(st.cfg.Name)))
		if err != nil {
			return fail(fmt.Errorf("reload: instance %s: %w", st.cfg.Name, err))
		}
		st.m = m
	}
	if ctx.Err() != nil {
		return fail(ctx.Err())
	}

	// Carried out: in place, then what goes (a replaced instance hands off
	// before its successor starts: the same VRID), then what comes.
	for _, l := range lives {
		did, err := l.m.in.reconfigureLive(ctx, l.cfg, l.checks)
		if err != nil {
			return err
		}
		r.setVIPs(l.cfg.Name, l.cfg.VIPs)
		if l.m.lock != nil && l.m.lock.f != nil {
			_ = writeLock(l.m.lock.f, os.Getpid(), l.cfg.VIPs) // what other copies read
		}
		r.log.Info("reload: changed in place", "instance", l.cfg.Name, "did", did)
	}
	for name := range old {
		if !want[name] {
			if m := r.find(name); m != nil {
				r.log.Info("reload: instance removed; handing off", "instance", name)
				r.stop(m, !handed[m])
			}
		}
	}
	for _, st := range starts {
		if st.replace != nil {
			r.log.Info("reload: instance changed in a way that needs a new election; handing off and starting again", "instance", st.cfg.Name)
			r.stop(st.replace, !handed[st.replace])
		}
		if ctx.Err() != nil || st.m.lock == nil {
			st.m.lock.release()
			continue
		}
		if st.m.lock.f != nil {
			_ = writeLock(st.m.lock.f, os.Getpid(), st.cfg.VIPs)
		}
		r.start(st.m)
		r.log.Info("reload: instance started", "instance", st.cfg.Name)
	}
	return nil
}

func checksSame(a, b []config.Check) bool { return config.ChecksSame(a, b) }

// safeLoad and safeApply turn a panic (a bug) into a rejected reload: the
// running instances keep their VIPs.
func safeLoad(load func() (*config.Config, error)) (cfg *config.Config, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("daemon: internal error reading the configuration: %v\n%s", p, debug.Stack())
		}
	}()
	return load()
}

func (r *registry) safeApply(ctx context.Context, cur, next *config.Config) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("daemon: internal error applying the configuration: %v\n%s", p, debug.Stack())
		}
	}()
	return r.apply(ctx, cur, next)
}

// listCopy returns the managed instances.
func (r *registry) listCopy() []*managed {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.list)
}

// acceptLocalHold counts one more holder on ifindex and reports whether it was
// already on for another.
func (r *registry) acceptLocalHold(ifindex int) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.acceptLocal == nil {
		r.acceptLocal = map[int]int{}
	}
	r.acceptLocal[ifindex]++
	return r.acceptLocal[ifindex] > 1
}

// acceptLocalRelease counts one holder less and reports whether it was the
// last.
func (r *registry) acceptLocalRelease(ifindex int) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.acceptLocal[ifindex] > 0 {
		r.acceptLocal[ifindex]--
	}
	if r.acceptLocal[ifindex] == 0 {
		delete(r.acceptLocal, ifindex)
		return true
	}
	return false
}
