package daemon

import (
	"context"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vipd/vipd/election"
)

// hookScript is a notify command that appends one line to its log per run:
// its label, its arguments and its VIPD_* environment.
const hookScript = `#!/bin/sh
log=$1 label=$2
shift 2
{
	printf '%s' "$label"
	for a in "$@"; do printf ' [%s]' "$a"; done
	printf ' state=%s prev=%s reason=%s prio=%s vrid=%s inst=%s if=%s vips=%s\n' \
		"$VIPD_STATE" "$VIPD_PREVIOUS_STATE" "$VIPD_REASON" "$VIPD_PRIORITY" \
		"$VIPD_VRID" "$VIPD_INSTANCE" "$VIPD_INTERFACE" "$VIPD_VIPS"
} >> "$log"
`

// hookLab is a script and its log in a temporary directory.
type hookLab struct {
	dir, script, log string
}

func newHookLab(t *testing.T) *hookLab {
	t.Helper()
	dir := t.TempDir()
	l := &hookLab{dir: dir, script: filepath.Join(dir, "notify.sh"), log: filepath.Join(dir, "log")}
	if err := os.WriteFile(l.script, []byte(hookScript), 0o755); err != nil {
		t.Fatal(err)
	}
	return l
}

// cmd is the argv of the script logging under label.
func (l *hookLab) cmd(label string) []string { return []string{l.script, l.log, label} }

// lines is what the script has logged so far.
func (l *hookLab) lines(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile(l.log)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
}

// waitLines waits, with a deadline, until the script has logged n lines.
func (l *hookLab) waitLines(t *testing.T, n int, within time.Duration) []string {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		got := l.lines(t)
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v the notify commands logged %d lines, want %d: %q", within, len(got), n, got)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func event(from, to election.State, reason election.Reason, prio uint8) hookEvent {
	return hookEvent{
		Instance: "api", Interface: "eth0", VRID: 51, From: from,
		Status: election.Status{State: to, Reason: reason, EffectivePriority: prio},
		VIPs:   []netip.Addr{netip.MustParseAddr("198.18.0.10"), netip.MustParseAddr("198.18.0.11")},
	}
}

// startHooks runs h until the test ends.
func startHooks(t *testing.T, h *hookRunner) {
	t.Helper()
	done := make(chan struct{})
	go func() { defer close(done); h.run() }()
	t.Cleanup(func() {
		if err := h.close(context.Background()); err != nil {
			t.Errorf("close: %v", err)
		}
		<-done
	})
}

func TestHooksRunInOrder(t *testing.T) {
	l := newHookLab(t)
	h := newHooks(hookCommands{
		Generic: l.cmd("generic"), Master: l.cmd("master"), Backup: l.cmd("backup"),
		Fault: l.cmd("fault"), Stop: l.cmd("stop"),
	}, quietLog())
	startHooks(t, h)

	h.notify(event(election.Initialize, election.Backup, election.ReasonStartup, 150))
	h.notify(event(election.Backup, election.Master, election.ReasonMasterDown, 150))
	h.notify(event(election.Master, election.Fault, election.ReasonStartup, 100))
	h.notify(event(election.Fault, election.Initialize, election.ReasonStartup, 100))
	got := l.waitLines(t, 8, 10*time.Second)

	const env = " prio=%d vrid=51 inst=api if=eth0 vips=198.18.0.10 198.18.0.11"
	want := []string{
		"backup state=BACKUP prev=INIT reason=startup",
		"generic [INSTANCE] [api] [BACKUP] [150] state=BACKUP prev=INIT reason=startup",
		"master state=MASTER prev=BACKUP reason=" + election.ReasonMasterDown.String(),
		"generic [INSTANCE] [api] [MASTER] [150] state=MASTER prev=BACKUP reason=" + election.ReasonMasterDown.String(),
		"fault state=FAULT prev=MASTER reason=startup",
		"generic [INSTANCE] [api] [FAULT] [100] state=FAULT prev=MASTER reason=startup",
		// keepalived's STOP; VIPD_STATE is the machine's INIT, as before.
		"stop state=INIT prev=FAULT reason=startup",
		"generic [INSTANCE] [api] [STOP] [100] state=INIT prev=FAULT reason=startup",
	}
	prios := []int{150, 150, 150, 150, 100, 100, 100, 100}
	for i := range want {
		w := want[i] + strings.Replace(env, "%d", strconv.Itoa(prios[i]), 1)
		if i >= len(got) || got[i] != w {
			t.Errorf("run %d:\n got %q\nwant %q", i, got[min(i, len(got)-1)], w)
		}
	}
}

// TestHooksGenericOnly: with the generic command alone every change runs
// it; with per-state commands alone, the others run nothing.
func TestHooksGenericOnly(t *testing.T) {
	l := newHookLab(t)
	h := newHookRunner(l.cmd("generic"), quietLog())
	startHooks(t, h)
	h.notify(event(election.Initialize, election.Backup, election.ReasonStartup, 90))
	if got := l.waitLines(t, 1, 10*time.Second); !strings.HasPrefix(got[0], "generic [INSTANCE] [api] [BACKUP] [90] state=BACKUP") {
		t.Errorf("generic run = %q", got[0])
	}

	l2 := newHookLab(t)
	h2 := newHooks(hookCommands{Master: l2.cmd("master")}, quietLog())
	startHooks(t, h2)
	h2.notify(event(election.Initialize, election.Backup, election.ReasonStartup, 90))
	h2.notify(event(election.Backup, election.Master, election.ReasonMasterDown, 90))
	got := l2.waitLines(t, 1, 10*time.Second)
	if err := h2.close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got = l2.lines(t); len(got) != 1 || !strings.HasPrefix(got[0], "master state=MASTER") {
		t.Errorf("runs %q, want only the master command", got)
	}
	if (hookCommands{}).Empty() != true || (hookCommands{Stop: []string{"x"}}).Empty() {
		t.Errorf("Empty is wrong")
	}
}

// TestHookTimeoutKillsGroup: a command whose child holds its output and
// never exits is killed, with its whole process group, at the timeout, and
// the next run starts at once.
func TestHookTimeoutKillsGroup(t *testing.T) {
	l := newHookLab(t)
	pidFile := filepath.Join(l.dir, "grandchild")
	hung := []string{"sh", "-c", `sleep 600 & echo $! > "$1"; echo started; wait`, "sh", pidFile}
	h := newHooks(hookCommands{Master: hung, Generic: l.cmd("generic")}, quietLog())
	h.timeout = 300 * time.Millisecond
	startHooks(t, h)

	start := time.Now()
	h.notify(event(election.Backup, election.Master, election.ReasonMasterDown, 150))
	got := l.waitLines(t, 1, 10*time.Second)
	took := time.Since(start)
	if !strings.HasPrefix(got[0], "generic [INSTANCE] [api] [MASTER]") {
		t.Errorf("run after the hung command = %q", got[0])
	}
	// The timeout, plus at most hookWaitDelay for the pipe, plus slack.
	if took > h.timeout+hookWaitDelay+3*time.Second {
		t.Errorf("the generic command ran %v after the hung one started, want about its %v timeout", took, h.timeout)
	}
	if took < h.timeout {
		t.Errorf("the generic command ran %v after the hung one started, before its %v timeout", took, h.timeout)
	}
	if n, last := h.failed(); n != 1 || !strings.Contains(last, "timed out") || !strings.Contains(last, "process group killed") {
		t.Errorf("failed() = %d, %q; want the timeout counted", n, last)
	}
	waitGone(t, pidFile)
}

// TestHookBackgroundChildDoesNotBlock: a command that exits but leaves a
// process holding its output is not waited for beyond hookWaitDelay, and
// that process, which may be a service it started, is left alone.
func TestHookBackgroundChildDoesNotBlock(t *testing.T) {
	l := newHookLab(t)
	pidFile := filepath.Join(l.dir, "daemon")
	bg := []string{"sh", "-c", `sleep 600 & echo $! > "$1"; exit 0`, "sh", pidFile}
	h := newHooks(hookCommands{Master: bg, Generic: l.cmd("generic")}, quietLog())
	startHooks(t, h)
	start := time.Now()
	h.notify(event(election.Backup, election.Master, election.ReasonMasterDown, 150))
	l.waitLines(t, 1, 10*time.Second)
	if took := time.Since(start); took > hookWaitDelay+3*time.Second {
		t.Errorf("next run after %v, want within hookWaitDelay %v", took, hookWaitDelay)
	}
	pid := readPID(t, pidFile)
	if !alive(pid) {
		t.Errorf("the background process %d of a command that exited 0 was killed", pid)
	}
	p, err := os.FindProcess(pid)
	if err == nil {
		p.Kill()
	}
	if n, _ := h.failed(); n != 0 {
		t.Errorf("failed() = %d, want 0", n)
	}
}

// TestHookStopRunsDuringClose: the stop notification queued just before
// close has run when close returns, even behind a hung command: the
// backlog shares one hook timeout, and what it leaves is skipped, counted.
func TestHookStopRunsDuringClose(t *testing.T) {
	l := newHookLab(t)
	hung := []string{"sh", "-c", "sleep 600"}
	h := newHooks(hookCommands{Backup: hung, Stop: l.cmd("stop"), Generic: l.cmd("generic")}, quietLog())
	h.timeout = time.Second
	done := make(chan struct{})
	go func() { defer close(done); h.run() }()

	h.notify(event(election.Master, election.Backup, election.ReasonHigherPriority, 150)) // hangs
	h.notify(event(election.Backup, election.Initialize, election.ReasonStartup, 150))
	start := time.Now()
	if err := h.close(context.Background()); err != nil {
		t.Fatalf("close: %v", err)
	}
	took := time.Since(start)
	got := l.lines(t)
	want := []string{"stop state=INIT", "generic [INSTANCE] [api] [STOP] [150] state=INIT"}
	if len(got) != len(want) {
		t.Fatalf("when close returned the commands had logged %q, want %d lines", got, len(want))
	}
	for i := range want {
		if !strings.HasPrefix(got[i], want[i]) {
			t.Errorf("run %d = %q, want %q…", i, got[i], want[i])
		}
	}
	if bound := 2*h.timeout + 2*hookWaitDelay + 2*time.Second; took > bound {
		t.Errorf("close took %v, want at most %v", took, bound)
	}
	if n, last := h.failed(); n != 2 || !strings.Contains(last, "generic") || !strings.Contains(last, "not run") {
		t.Errorf("failed() = %d, %q; want the hung backup command and the skipped generic one", n, last)
	}
	<-done
	h.notify(event(election.Initialize, election.Backup, election.ReasonStartup, 150))
	if got := l.lines(t); len(got) != len(want) {
		t.Errorf("a notification after close ran: %q", got)
	}
}

// TestHookCloseWithoutRun: close runs the queue itself when run was never
// started, and a cancelled ctx cuts a hung command short.
func TestHookCloseWithoutRun(t *testing.T) {
	l := newHookLab(t)
	h := newHooks(hookCommands{Stop: l.cmd("stop")}, quietLog())
	h.notify(event(election.Backup, election.Initialize, election.ReasonStartup, 150))
	if err := h.close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := l.lines(t); len(got) != 1 || !strings.HasPrefix(got[0], "stop state=INIT") {
		t.Errorf("runs %q, want the stop command", got)
	}

	h = newHooks(hookCommands{Stop: []string{"sleep", "600"}}, quietLog())
	h.notify(event(election.Backup, election.Initialize, election.ReasonStartup, 150))
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := h.close(ctx)
	if err == nil || !strings.Contains(err.Error(), "cut short") {
		t.Errorf("close with a 200ms context = %v, want it cut short", err)
	}
	if took := time.Since(start); took > hookWaitDelay+3*time.Second {
		t.Errorf("close took %v with a 200ms context", took)
	}
}

func TestHookFailureLogged(t *testing.T) {
	var buf strings.Builder
	h := newHooks(hookCommands{Generic: []string{"sh", "-c", `echo "no haproxy here" >&2; exit 3`}},
		slog.New(slog.NewTextHandler(&buf, nil)))
	h.notify(event(election.Backup, election.Master, election.ReasonMasterDown, 150))
	if err := h.close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n, last := h.failed(); n != 1 || !strings.Contains(last, "exit status 3") {
		t.Errorf("failed() = %d, %q", n, last)
	}
	if s := buf.String(); !strings.Contains(s, "notify command failed") || !strings.Contains(s, "no haproxy here") {
		t.Errorf("log %q: want the failure with the command's output", s)
	}
	h = newHooks(hookCommands{Generic: []string{"/nonexistent/notify"}}, quietLog())
	h.notify(event(election.Backup, election.Master, election.ReasonMasterDown, 150))
	h.close(context.Background())
	if n, last := h.failed(); n != 1 || !strings.Contains(last, "no such file") {
		t.Errorf("missing command: failed() = %d, %q", n, last)
	}
}

func TestHookBufferBounded(t *testing.T) {
	var b hookBuffer
	for range 100 {
		if n, err := b.Write(make([]byte, 1000)); n != 1000 || err != nil {
			t.Fatalf("Write = %d, %v", n, err)
		}
	}
	if b.Len() != hookOutput {
		t.Errorf("kept %d bytes, want %d", b.Len(), hookOutput)
	}
}

func readPID(t *testing.T, file string) int {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		b, err := os.ReadFile(file)
		if pid, perr := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && perr == nil {
			return pid
		}
		if time.Now().After(deadline) {
			t.Fatalf("no pid in %s: %v", file, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// alive reports whether pid runs: it exists and is not a zombie.
func alive(pid int) bool {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	f := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
	return len(f) > 0 && f[0] != "Z"
}

// waitGone waits, with a deadline, for the process in file to be gone.
func waitGone(t *testing.T, file string) {
	t.Helper()
	pid := readPID(t, file)
	deadline := time.Now().Add(5 * time.Second)
	for alive(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("process %d still running after the timeout", pid)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
