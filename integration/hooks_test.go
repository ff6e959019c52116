//go:build integration

package integration

// Notify hooks end to end (issue 10): bin/vipd with --notify-master,
// --notify-backup, --notify-fault, --notify-stop and the generic --notify,
// each a shell script that appends its argv and VIPD_* environment to a
// file. Every state change runs the command for the new state, then the
// generic one with keepalived's arguments (INSTANCE name STATE priority);
// on SIGTERM the stop commands run, and finish, before vipd exits.

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// hookScript appends one record per run to the file $2:
//
//	run TAG ARG...        (TAG is $1; ARG... the rest of argv)
//	VIPD_...=...          (its VIPD_* environment, sorted)
//	parent-alive yes|no   (stop only: vipd still running after a 1 s sleep)
//	end TAG
//
// The stop run sleeps a second before it finishes: if vipd did not wait for
// it, vipd would be gone (parent-alive no) and the record incomplete at exit.
const hookScript = `#!/bin/sh
tag=$1 log=$2
shift 2
parent=$PPID
{
	printf 'run %s' "$tag"
	for a in "$@"; do printf ' %s' "$a"; done
	printf '\n'
	env | grep '^VIPD_' | sort
} >>"$log"
if [ "$tag" = stop ]; then
	sleep 1
	if kill -0 "$parent" 2>/dev/null; then echo 'parent-alive yes' >>"$log"; else echo 'parent-alive no' >>"$log"; fi
fi
echo "end $tag" >>"$log"
`

// hookRecord is one run of a notify command.
type hookRecord struct {
	Tag      string
	Args     []string
	Env      map[string]string
	Alive    string // "yes" or "no" for stop runs
	Complete bool   // its "end" line was written
}

func (r hookRecord) String() string {
	return fmt.Sprintf("%s%v state=%s prev=%s reason=%s prio=%s", r.Tag, r.Args,
		r.Env["VIPD_STATE"], r.Env["VIPD_PREVIOUS_STATE"], r.Env["VIPD_REASON"], r.Env["VIPD_PRIORITY"])
}

// readHookRecords parses the hook log.
func readHookRecords(t testing.TB, path string) []hookRecord {
	t.Helper()
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatalf("%v", err)
	}
	defer f.Close()
	var out []hookRecord
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "run "):
			w := strings.Fields(line)
			out = append(out, hookRecord{Tag: w[1], Args: w[2:], Env: map[string]string{}})
		case len(out) == 0:
			t.Fatalf("hook log: %q before any run", line)
		case strings.HasPrefix(line, "VIPD_"):
			k, v, _ := strings.Cut(line, "=")
			out[len(out)-1].Env[k] = v
		case strings.HasPrefix(line, "parent-alive "):
			out[len(out)-1].Alive = strings.TrimPrefix(line, "parent-alive ")
		case strings.HasPrefix(line, "end "):
			out[len(out)-1].Complete = true
		}
	}
	return out
}

// hookWant is one expected run.
type hookWant struct {
	tag, state, prev, reason string
	args                     []string // generic only: keepalived's arguments
}

func checkHookRecord(t testing.TB, step string, got hookRecord, want hookWant, vip string) {
	t.Helper()
	bad := func(format string, a ...any) {
		t.Helper()
		t.Errorf("%s: %s: %s", step, got, fmt.Sprintf(format, a...))
	}
	if got.Tag != want.tag {
		bad("ran the %s command, want %s", got.Tag, want.tag)
	}
	if !got.Complete {
		bad("did not finish")
	}
	if want.args != nil && strings.Join(got.Args, " ") != strings.Join(want.args, " ") {
		bad("arguments %q, want %q", got.Args, want.args)
	}
	if want.args == nil && len(got.Args) != 0 {
		bad("arguments %q, want none (only the generic command gets keepalived's)", got.Args)
	}
	for k, v := range map[string]string{
		"VIPD_INSTANCE": "api", "VIPD_INTERFACE": hostIf, "VIPD_VRID": "51", "VIPD_VIPS": vip,
		"VIPD_STATE": want.state, "VIPD_PREVIOUS_STATE": want.prev, "VIPD_REASON": want.reason,
	} {
		if v == "" {
			continue // not pinned for this step
		}
		if got.Env[k] != v {
			bad("%s=%q, want %q", k, got.Env[k], v)
		}
	}
	if got.Env["VIPD_PRIORITY"] == "" {
		bad("no VIPD_PRIORITY")
	}
}

// TestHooksNotify: vipd on h0 (100, with every notify command) next to vipd
// on h1 (150, none) through each kind of state change, then SIGTERM.
func TestHooksNotify(t *testing.T) {
	l := newLab(t, 2, withoutIPv6())
	vip := l.VIP4.String()
	script := filepath.Join(l.dir, "hook.sh")
	if err := os.WriteFile(script, []byte(hookScript), 0o755); err != nil {
		t.Fatal(err)
	}
	hookLog := filepath.Join(l.dir, "hooks.log")
	cmd := func(tag string) string { return script + " " + tag + " " + hookLog }
	hookArgs := []string{"--name", "api",
		"--notify-master", cmd("master"), "--notify-backup", cmd("backup"),
		"--notify-fault", cmd("fault"), "--notify-stop", cmd("stop"), "--notify", cmd("generic")}

	seen := 0
	// expect waits for the runs of one step and checks them, in order.
	expect := func(step string, wants ...hookWant) {
		t.Helper()
		var recs []hookRecord
		waitFor(t, 5*time.Second, step+": notify commands", func() (bool, string) {
			recs = readHookRecords(t, hookLog)
			done := len(recs) >= seen+len(wants)
			for _, r := range recs[min(seen, len(recs)):] {
				done = done && r.Complete
			}
			return done, fmt.Sprintf("%d of %d runs", len(recs)-seen, len(wants))
		})
		// Nothing else runs for this change.
		time.Sleep(300 * time.Millisecond)
		recs = readHookRecords(t, hookLog)
		got := recs[seen:]
		if len(got) != len(wants) {
			t.Errorf("%s: %d runs, want %d:\n got  %v\n want %v", step, len(got), len(wants), got, wants)
		} else {
			for i := range got {
				checkHookRecord(t, step, got[i], wants[i], vip)
			}
		}
		t.Logf("%s: %v", step, got)
		seen = len(recs)
	}
	generic := func(state string, prio int) []string {
		return []string{"INSTANCE", "api", state, fmt.Sprint(prio)}
	}

	v1 := startVipd(l, 1, vipdSpec{Priority: 150})
	waitDaemonState(l, 1, v1, "MASTER", 5*time.Second)
	v0 := startVipd(l, 0, vipdSpec{Priority: 100, Args: hookArgs})
	waitDaemonState(l, 0, v0, "BACKUP", 5*time.Second)
	expect("start",
		hookWant{tag: "backup", state: "BACKUP", prev: "INIT", reason: "startup"},
		hookWant{tag: "generic", state: "BACKUP", prev: "INIT", reason: "startup", args: generic("BACKUP", 100)})

	// Failover: the Master dies, h0's Master_Down_Timer fires.
	v1.kill9(t)
	waitDaemonState(l, 0, v0, "MASTER", 5*time.Second)
	expect("failover to h0",
		hookWant{tag: "master", state: "MASTER", prev: "BACKUP", reason: "master-down-timer"},
		hookWant{tag: "generic", state: "MASTER", reason: "master-down-timer", args: generic("MASTER", 100)})

	// The Master returns and preempts.
	v1 = startVipd(l, 1, vipdSpec{Priority: 150})
	waitDaemonState(l, 0, v0, "BACKUP", 5*time.Second)
	expect("h1 preempts",
		hookWant{tag: "backup", state: "BACKUP", prev: "MASTER", reason: "higher-priority-advert"},
		hookWant{tag: "generic", state: "BACKUP", reason: "higher-priority-advert", args: generic("BACKUP", 100)})

	// Fault and back.
	l.LinkDown(0)
	waitDaemonState(l, 0, v0, "FAULT", 5*time.Second)
	expect("link down",
		hookWant{tag: "fault", state: "FAULT", prev: "BACKUP", reason: "link-down"},
		hookWant{tag: "generic", state: "FAULT", reason: "link-down", args: generic("FAULT", 100)})
	l.LinkUp(0)
	waitDaemonState(l, 0, v0, "BACKUP", 5*time.Second)
	expect("link up",
		hookWant{tag: "backup", state: "BACKUP", prev: "FAULT", reason: "link-up"},
		hookWant{tag: "generic", state: "BACKUP", reason: "link-up", args: generic("BACKUP", 100)})

	// h1 leaves gracefully: h0 takes over on its priority 0 advert; h1
	// comes back below h0.
	v1.Stop()
	waitDaemonState(l, 0, v0, "MASTER", 5*time.Second)
	expect("h1 stops",
		hookWant{tag: "master", state: "MASTER", prev: "BACKUP", reason: "priority-zero-advert"},
		hookWant{tag: "generic", state: "MASTER", reason: "priority-zero-advert", args: generic("MASTER", 100)})
	v1 = startVipd(l, 1, vipdSpec{Priority: 50})
	waitDaemonState(l, 1, v1, "BACKUP", 5*time.Second)

	// vipctl resign: h0 hands the VIP to h1 and stays up, a Backup, until
	// it preempts h1 again (Master_Down_Interval on h1's lower priority).
	// The instance never stops, so the stop command must not run, and the
	// generic command only ever sees keepalived's states.
	if out, err := exec.Command(v0.vipctl, "--socket", v0.sock, "resign").CombinedOutput(); err != nil {
		t.Fatalf("vipctl resign: %v: %s", err, out)
	}
	waitFor(t, 5*time.Second, "h0 to resign and preempt again", func() (bool, string) {
		in, err := v0.inst()
		return err == nil && in.State == "MASTER" && in.Transitions["preempt"] == 1, fmt.Sprint(in.State, in.Transitions)
	})
	expect("resign, then h0 preempts",
		hookWant{tag: "backup", state: "BACKUP"},
		hookWant{tag: "generic", state: "BACKUP", args: generic("BACKUP", 100)},
		hookWant{tag: "master", state: "MASTER", prev: "BACKUP", reason: "preempt"},
		hookWant{tag: "generic", state: "MASTER", reason: "preempt", args: generic("MASTER", 100)})

	// SIGTERM on the Master: it hands off to h1, then stops; the stop
	// commands run, once, and have finished when vipd exits.
	if err := l.Kill(v0.pid, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if !l.WaitExit(v0.pid, 15*time.Second) {
		t.Fatalf("vipd on h0 did not exit on SIGTERM")
	}
	atExit := readHookRecords(t, hookLog)[seen:]
	var stops []hookRecord
	for _, r := range atExit {
		if r.Tag == "stop" {
			stops = append(stops, r)
		}
	}
	if len(stops) != 1 {
		t.Errorf("SIGTERM: %d stop command runs %v, want 1", len(stops), atExit)
	}
	for _, r := range stops {
		if !r.Complete || r.Alive != "yes" {
			t.Errorf("SIGTERM: the stop command had not finished before vipd exited (complete %v, vipd alive after its sleep %q)", r.Complete, r.Alive)
		}
	}
	if code, _ := l.ExitCode(v0.pid); code != 0 {
		t.Errorf("vipd exited %d on SIGTERM, want 0", code)
	}
	waitDaemonState(l, 1, v1, "MASTER", 5*time.Second)
	expect("SIGTERM",
		hookWant{tag: "stop", state: "INIT"},
		hookWant{tag: "generic", state: "INIT", args: generic("STOP", 100)})
	for _, r := range readHookRecords(t, hookLog) {
		if r.Tag == "generic" && len(r.Args) == 4 {
			switch r.Args[2] {
			case "MASTER", "BACKUP", "FAULT", "STOP":
			default:
				t.Errorf("generic command got state %q, not one of keepalived's (MASTER, BACKUP, FAULT, STOP): %v", r.Args[2], r)
			}
		}
	}
	if t.Failed() {
		t.Logf("vipd on h0 log:\n%s", v0.logText())
	}
}
