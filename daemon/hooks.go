package daemon

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/vipd/vipd/config"
	"github.com/vipd/vipd/election"
)

const (
	// hookTimeout bounds one run of a notify command; its whole process
	// group is killed then.
	hookTimeout = 30 * time.Second
	// hookWaitDelay is how long a run waits, once its command has exited or
	// been killed, for its output pipe to close: a background process the
	// command left behind may hold it open for ever.
	hookWaitDelay = time.Second
	// hookOutput is how much of a command's stdout and stderr is kept.
	hookOutput = 4096
	// hookQueue is how many notifications may wait for the runner.
	hookQueue = 64
)

// hookCommands are the notify commands of an instance, each an argv run
// without a shell; nil is none. On each state change the command for the
// new state runs, then Generic, as keepalived runs notify_master (and its
// siblings) before notify. Stop is the new state INIT: the instance
// stopping.
type hookCommands struct {
	Generic, Master, Backup, Fault, Stop []string
}

// hookCommandsOf is the notify commands of an instance's configuration.
func hookCommandsOf(in *config.Instance) hookCommands {
	return hookCommands{Generic: in.Notify, Master: in.NotifyMaster, Backup: in.NotifyBackup,
		Fault: in.NotifyFault, Stop: in.NotifyStop}
}

// Empty reports whether no command is set.
func (c hookCommands) Empty() bool {
	return len(c.Generic) == 0 && len(c.Master) == 0 && len(c.Backup) == 0 && len(c.Fault) == 0 && len(c.Stop) == 0
}

// forState is the command for entering state s, and its keepalived name.
func (c hookCommands) forState(s election.State) ([]string, string) {
	switch s {
	case election.Master:
		return c.Master, "master"
	case election.Backup:
		return c.Backup, "backup"
	case election.Fault:
		return c.Fault, "fault"
	default: // Initialize is entered only by EventShutdown: the instance stops
		return c.Stop, "stop"
	}
}

// hookEvent is one state change, as the notify commands see it.
type hookEvent struct {
	Instance, Interface string
	VRID                int
	From                election.State
	Status              election.Status // the new state, its reason and effective priority
	VIPs                []netip.Addr
}

// env is the VIPD_* environment every command of e gets.
func (e hookEvent) env() []string {
	vips := make([]string, len(e.VIPs))
	for i, v := range e.VIPs {
		vips[i] = v.String()
	}
	return []string{
		"VIPD_INSTANCE=" + e.Instance,
		"VIPD_INTERFACE=" + e.Interface,
		fmt.Sprintf("VIPD_VRID=%d", e.VRID),
		"VIPD_STATE=" + e.Status.State.String(),
		"VIPD_PREVIOUS_STATE=" + e.From.String(),
		"VIPD_REASON=" + e.Status.Reason.String(),
		fmt.Sprintf("VIPD_PRIORITY=%d", e.Status.EffectivePriority),
		"VIPD_VIPS=" + strings.Join(vips, " "),
	}
}

// keepalivedArgs are the arguments keepalived appends to its generic notify
// command: "INSTANCE", the name, the new state (MASTER, BACKUP, FAULT or
// STOP) and the priority.
func (e hookEvent) keepalivedArgs() []string {
	state := e.Status.State.String()
	if e.Status.State == election.Initialize {
		state = "STOP"
	}
	return []string{"INSTANCE", e.Instance, state, strconv.Itoa(int(e.Status.EffectivePriority))}
}

// hookRun is one command to run.
type hookRun struct {
	name string // "master", "generic": for logs
	argv []string
	env  []string
	stop bool // part of the stop notification
}

// hookRunner runs the notify commands, one at a time and in order, off the
// instance's loop so that a slow command never delays an election. run is
// its goroutine; close runs what is queued, the stop notification above
// all, and waits for it.
type hookRunner struct {
	cmds    hookCommands
	log     *slog.Logger
	timeout time.Duration

	queue   chan []hookRun
	started atomic.Bool   // run, or close in its stead, is draining queue
	done    chan struct{} // closed when queue is drained
	abort   context.Context
	cancel  context.CancelFunc

	mu        sync.Mutex
	closed    bool
	backlogBy time.Time // set by close: runs queued before the stop notification end by then

	failures atomic.Uint64
	lastErr  atomic.Pointer[string]
}

// newHooks returns a runner for cmds. It starts nothing: run is its
// goroutine.
func newHooks(cmds hookCommands, log *slog.Logger) *hookRunner {
	abort, cancel := context.WithCancel(context.Background())
	return &hookRunner{
		cmds: cmds, log: log, timeout: hookTimeout,
		queue: make(chan []hookRun, hookQueue), done: make(chan struct{}),
		abort: abort, cancel: cancel,
	}
}

// newHookRunner is newHooks with the generic command only.
func newHookRunner(argv []string, log *slog.Logger) *hookRunner {
	return newHooks(hookCommands{Generic: argv}, log)
}

// run runs queued notifications until close; it returns once close has
// been called and the queue is drained. Call close before waiting for run
// to return.
func (h *hookRunner) run() {
	if h.started.CompareAndSwap(false, true) {
		h.drain()
	}
}

func (h *hookRunner) drain() {
	defer close(h.done)
	for n := range h.queue {
		var by time.Time
		if len(n) > 0 && n[0].stop {
			by = time.Now().Add(h.timeout) // the stop commands share one hook timeout
		}
		for _, r := range n {
			h.exec(r, by)
		}
	}
}

// notify queues the commands of e: the one for the new state, then the
// generic one with keepalived's arguments appended. When the queue is full
// the change is logged and dropped rather than blocking the election;
// after close it is logged and dropped.
func (h *hookRunner) notify(e hookEvent) {
	env := e.env()
	var runs []hookRun
	if argv, name := h.cmds.forState(e.Status.State); len(argv) > 0 {
		runs = append(runs, hookRun{name: name, argv: argv, env: env, stop: name == "stop"})
	}
	if len(h.cmds.Generic) > 0 {
		argv := append(append([]string(nil), h.cmds.Generic...), e.keepalivedArgs()...)
		runs = append(runs, hookRun{name: "generic", argv: argv, env: env, stop: e.Status.State == election.Initialize})
	}
	if len(runs) == 0 {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		h.log.Warn("notify runner closed; state change not passed to the commands", "state", e.Status.State.String())
		return
	}
	select {
	case h.queue <- runs:
	default:
		h.failures.Add(1)
		h.log.Warn("notify queue full; state change not passed to the commands", "state", e.Status.State.String())
	}
}

// close stops taking notifications, runs the queued ones in order, and
// returns once they have run, or when ctx ends: it then kills the running
// command's process group, skips the rest, and returns an error. The runs
// queued before the stop notification share one hook timeout between them,
// so a hung backlog cannot keep the stop commands, which share another,
// from running: close returns within two hook timeouts (plus hookWaitDelay
// per killed run) whatever ctx allows. close drains the
// queue itself if run was never started; calling it again only waits.
func (h *hookRunner) close(ctx context.Context) error {
	h.mu.Lock()
	if !h.closed {
		h.closed = true
		h.backlogBy = time.Now().Add(h.timeout)
		close(h.queue)
	}
	h.mu.Unlock()
	if h.started.CompareAndSwap(false, true) {
		go h.drain()
	}
	stop := context.AfterFunc(ctx, h.cancel)
	defer stop()
	select {
	case <-h.done:
		return nil
	case <-ctx.Done():
		<-h.done // h.cancel has killed the running command; the rest start with a dead context
		return fmt.Errorf("daemon: notify commands cut short at shutdown: %w", context.Cause(ctx))
	}
}

// failed counts the runs that failed or were dropped, with the last error.
func (h *hookRunner) failed() (uint64, string) {
	var last string
	if p := h.lastErr.Load(); p != nil {
		last = *p
	}
	return h.failures.Load(), last
}

// exec runs one command within its timeout and by the deadline by, when
// set; once close has been called, a command that is not a stop command
// must also end by the backlog's deadline.
func (h *hookRunner) exec(r hookRun, by time.Time) {
	ctx, cancel := context.WithTimeout(h.abort, h.timeout)
	defer cancel()
	h.mu.Lock()
	if !h.backlogBy.IsZero() && !r.stop {
		by = h.backlogBy
	}
	h.mu.Unlock()
	if !by.IsZero() {
		var cancelBy context.CancelFunc
		ctx, cancelBy = context.WithDeadline(ctx, by)
		defer cancelBy()
	}
	if err := ctx.Err(); err != nil {
		h.fail(r, fmt.Errorf("not run: %w", err), nil)
		return
	}
	cmd := exec.CommandContext(ctx, r.argv[0], r.argv[1:]...)
	cmd.Env = append(os.Environ(), r.env...)
	var out hookBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	// A process group of its own, killed whole on timeout: a shell script's
	// children die with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = hookWaitDelay
	start := time.Now()
	err := cmd.Run()
	switch {
	case ctx.Err() != nil && cmd.Process != nil:
		h.fail(r, fmt.Errorf("timed out after %v, process group killed: %w", time.Since(start).Round(time.Millisecond), context.Cause(ctx)), out.Bytes())
	case errors.Is(err, exec.ErrWaitDelay):
		// It exited 0 but left a process (a daemon it started) holding its
		// output: that process is not ours to kill.
		h.log.Warn("notify command left a background process holding its output; not waiting for it",
			"hook", r.name, "cmd", r.argv[0])
	case err != nil:
		h.fail(r, err, out.Bytes())
	default:
		h.log.Debug("notify command ran", "hook", r.name, "cmd", r.argv[0], "took", time.Since(start))
	}
}

func (h *hookRunner) fail(r hookRun, err error, out []byte) {
	h.failures.Add(1)
	msg := fmt.Sprintf("%s %s: %v", r.name, r.argv[0], err)
	h.lastErr.Store(&msg)
	h.log.Error("notify command failed", "hook", r.name, "cmd", r.argv[0], "err", err,
		"output", truncate(string(bytes.TrimSpace(out)), 512))
}

// hookBuffer keeps the first hookOutput bytes written to it and accepts,
// without keeping, the rest: a command must never block or fail on a full
// pipe.
type hookBuffer struct{ bytes.Buffer }

func (b *hookBuffer) Write(p []byte) (int, error) {
	if room := hookOutput - b.Len(); room > 0 {
		b.Buffer.Write(p[:min(room, len(p))])
	}
	return len(p), nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
