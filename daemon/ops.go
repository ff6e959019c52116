package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/vipd/vipd/control"
	"github.com/vipd/vipd/election"
)

// ctrlRequest is a write operation for one instance's loop.
type ctrlRequest struct {
	resign bool // else maintenance
	on     bool // maintenance on or off
	who    control.Caller
	reply  chan ctrlReply
}

type ctrlReply struct {
	done string
	err  error
}

// control carries out a write operation in the loop.
func (in *instance) control(req ctrlRequest) ctrlReply {
	st := in.m.Status()
	if req.resign {
		if st.State != election.Master {
			return ctrlReply{err: fmt.Errorf("%w: instance %s is %s, not MASTER: nothing to hand off", control.ErrNotApplicable, in.cfg.Name, st.State)}
		}
		in.log.Info("resigning: handing the VIPs off", "asked_by", req.who.String())
		in.step(time.Now(), election.Event{Kind: election.EventResign})
		return ctrlReply{done: in.cfg.Name + ": handing off (" + in.m.Status().State.String() + ")"}
	}
	if in.owner() {
		return ctrlReply{err: fmt.Errorf("%w: instance %s owns its VIPs (priority 255): it cannot step aside", control.ErrNotApplicable, in.cfg.Name)}
	}
	in.log.Info("maintenance mode", "on", req.on, "asked_by", req.who.String())
	in.maintenance = req.on // a machine rebuilt on a new source address keeps it
	in.step(time.Now(), election.Event{Kind: election.EventMaintenance, On: req.on})
	what := "off"
	if req.on {
		what = "on: advertising priority 1"
	}
	return ctrlReply{done: fmt.Sprintf("%s: maintenance %s (%s)", in.cfg.Name, what, in.m.Status().State)}
}

// ask sends a request to the instance's loop and waits for the answer.
func (in *instance) ask(ctx context.Context, req ctrlRequest) ctrlReply {
	req.reply = make(chan ctrlReply, 1)
	select {
	case in.ctrlc <- req:
	case <-in.stopped:
		return ctrlReply{err: fmt.Errorf("daemon: instance %s has stopped", in.cfg.Name)}
	case <-ctx.Done():
		return ctrlReply{err: ctx.Err()}
	}
	select {
	case r := <-req.reply:
		return r
	case <-ctx.Done():
		return ctrlReply{err: ctx.Err()}
	}
}

// operator implements control.Ops over the running instances.
type operator struct {
	log       *slog.Logger
	stateDir  string
	reg       *registry   // the running instances; or
	instances []*instance // these, in tests
	mu        sync.Mutex  // one write operation at a time: the state file
}

func (o *operator) pick(name string) ([]*instance, error) {
	all := o.instances
	if o.reg != nil {
		all = o.reg.all()
	}
	if name == "" {
		return all, nil
	}
	for _, in := range all {
		if in.cfg.Name == name {
			return []*instance{in}, nil
		}
	}
	return nil, fmt.Errorf("%w: %q (see vipctl status)", control.ErrNoInstance, name)
}

// Maintenance persists the mode first, so that a restart keeps it; if that
// fails nothing changes.
func (o *operator) Maintenance(ctx context.Context, who control.Caller, name string, on bool) ([]string, error) {
	if err := mayWrite(who); err != nil {
		return nil, err
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	ins, err := o.pick(name)
	if err != nil {
		return nil, err
	}
	for _, in := range ins {
		if on && in.owner() {
			return nil, fmt.Errorf("%w: instance %s owns its VIPs (priority 255): it cannot step aside", control.ErrNotApplicable, in.cfg.Name)
		}
	}
	p, err := loadState(o.stateDir)
	if err != nil {
		return nil, err
	}
	for _, in := range ins {
		p = p.setMaintenance(stateKey(in.cfg.Name), on)
	}
	if err := saveState(o.stateDir, p); err != nil {
		return nil, fmt.Errorf("%w (nothing changed)", err)
	}
	var done []string
	var errs []error
	for _, in := range ins {
		r := in.ask(ctx, ctrlRequest{on: on, who: who})
		if r.err != nil {
			errs = append(errs, r.err)
			continue
		}
		done = append(done, r.done)
	}
	return done, errors.Join(errs...)
}

// Resign hands off every named (or every) instance that is Master.
func (o *operator) Resign(ctx context.Context, who control.Caller, name string) ([]string, error) {
	if err := mayWrite(who); err != nil {
		return nil, err
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	ins, err := o.pick(name)
	if err != nil {
		return nil, err
	}
	var done []string
	var last error
	for _, in := range ins {
		r := in.ask(ctx, ctrlRequest{resign: true, who: who})
		if r.err != nil {
			if name != "" || !errors.Is(r.err, control.ErrNotApplicable) {
				return done, r.err
			}
			last = r.err
			continue
		}
		done = append(done, r.done)
	}
	if len(done) == 0 && last != nil {
		return nil, fmt.Errorf("%w: no instance is MASTER here", control.ErrNotApplicable)
	}
	return done, nil
}

// mayWrite lets only root, or vipd's own user, move the VIP. The socket is
// root-only already; this holds even if its mode was loosened.
func mayWrite(who control.Caller) error {
	if who.UID == 0 && who.PID == 0 && who.GID == 0 {
		return nil // no credentials: a test's in-process call
	}
	if who.UID != 0 && who.UID != os.Geteuid() {
		return fmt.Errorf("%w: uid %d may not move the VIP (root only)", control.ErrNotApplicable, who.UID)
	}
	return nil
}

// stateKey names an instance in the state file: by its name in the host's
// network namespace (the one of PID 1: a static pod's with hostNetwork, a
// unit's), whose inode may differ after a kernel upgrade; by namespace and
// name elsewhere, since copies in other namespaces may share the state
// directory.
func stateKey(name string) string {
	if inInitNetns() {
		return name
	}
	return netnsPrefix() + name
}

// inInitNetns reports whether this process shares PID 1's network namespace.
func inInitNetns() bool {
	self, err1 := os.Readlink("/proc/self/ns/net")
	init, err2 := os.Readlink("/proc/1/ns/net")
	return err1 != nil || err2 != nil || self == init
}
