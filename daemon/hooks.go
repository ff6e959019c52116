package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/vipd/vipd/election"
)

// hookTimeout bounds one run of the notify command.
const hookTimeout = 30 * time.Second

// hookRunner runs the notify command once per state change, in order, off the
// instance's loop so that a slow script never delays an election.
type hookRunner struct {
	argv  []string
	log   *slog.Logger
	queue chan []string
	done  chan struct{}
}

func newHookRunner(argv []string, log *slog.Logger) *hookRunner {
	h := &hookRunner{argv: argv, log: log, queue: make(chan []string, 64), done: make(chan struct{})}
	go h.loop()
	return h
}

func (h *hookRunner) loop() {
	defer close(h.done)
	for env := range h.queue {
		ctx, cancel := context.WithTimeout(context.Background(), hookTimeout)
		cmd := exec.CommandContext(ctx, h.argv[0], h.argv[1:]...)
		cmd.Env = append(os.Environ(), env...)
		out, err := cmd.CombinedOutput()
		cancel()
		if err != nil {
			h.log.Error("notify command failed", "cmd", h.argv[0], "err", err, "output", truncate(string(out), 512))
		}
	}
}

// notify queues one run; when the queue is full the change is logged and dropped
// rather than blocking the election.
func (h *hookRunner) notify(cfg resolved, from string, s election.Status) {
	vips := make([]string, len(cfg.VIPs))
	for i, v := range cfg.VIPs {
		vips[i] = v.String()
	}
	env := []string{
		"VIPD_INSTANCE=" + cfg.Name,
		"VIPD_INTERFACE=" + cfg.Interface,
		fmt.Sprintf("VIPD_VRID=%d", cfg.VRID),
		"VIPD_STATE=" + s.State.String(),
		"VIPD_PREVIOUS_STATE=" + from,
		"VIPD_REASON=" + s.Reason.String(),
		fmt.Sprintf("VIPD_PRIORITY=%d", s.EffectivePriority),
		"VIPD_VIPS=" + strings.Join(vips, " "),
	}
	select {
	case h.queue <- env:
	default:
		h.log.Warn("notify queue full; state change not passed to the command", "state", s.State.String())
	}
}

// close lets queued runs finish in the background; it does not wait for them.
func (h *hookRunner) close() { close(h.queue) }

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
