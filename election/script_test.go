package election

import (
	"flag"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the expected output of testdata/*.txt")

// TestScripts runs the scenarios in testdata/*.txt. A scenario is a list of
// cases; a case is one or more command lines, a "----" line, and the
// expected output up to a blank line. Lines starting with # are comments.
//
// Commands:
//
//	new [version=3] priority=N interval=D [preempt=BOOL] [delay=D] addr=A
//	    [announce=N] [announce-interval=D] [refresh=D] [backoff=D] [backoff-max=D]
//	    [confirm=BOOL]
//	step t=T EVENT            T: offset from the start (0, 1.5s), or
//	                          "deadline", "deadline+D", "deadline-D"
//	status                    prints priorities, timer lengths and failures
//	timers                    prints every timer that is set, relative to now
//
// A new machine announces one round (announce=1, announce-interval=1s)
// unless told otherwise.
//
// Events: startup, timer, shutdown, link-down, link-up,
// advert from=A prio=N [interval=D], priority prio=N,
// fault cause=link-down|interface-missing|no-source-address,
// announce-failed, add-failed, add-ok, remove-failed, remove-ok,
// vips-missing, hardware-changed, resign, maintenance on=true|false,
// confirmed ok=true|false.
//
// A step prints the actions it returned, if any, then the state.
func TestScripts(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no scripts in testdata")
	}
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".txt"), func(t *testing.T) {
			runScript(t, file)
		})
	}
}

type scriptCase struct {
	line     int      // of the first command, for messages
	cmds     []string // command lines
	want     []string // expected output lines
	from, to int      // line indexes of the expected output, [from, to)
}

func parseScript(lines []string) ([]scriptCase, error) {
	var cases []scriptCase
	var cur *scriptCase
	for i := 0; i < len(lines); i++ {
		l := strings.TrimSpace(lines[i])
		switch {
		case l == "" || strings.HasPrefix(l, "#"):
			if cur != nil && len(cur.cmds) > 0 && l == "" {
				return nil, fmt.Errorf("line %d: blank line before ----", i+1)
			}
		case l == "----":
			if cur == nil {
				return nil, fmt.Errorf("line %d: ---- without a command", i+1)
			}
			cur.from = i + 1
			j := i + 1
			for ; j < len(lines) && strings.TrimSpace(lines[j]) != ""; j++ {
				cur.want = append(cur.want, lines[j])
			}
			cur.to = j
			cases = append(cases, *cur)
			cur = nil
			i = j
		default:
			if cur == nil {
				cur = &scriptCase{line: i + 1}
			}
			cur.cmds = append(cur.cmds, l)
		}
	}
	if cur != nil {
		return nil, fmt.Errorf("line %d: commands without ----", cur.line)
	}
	return cases, nil
}

func runScript(t *testing.T, file string) {
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	cases, err := parseScript(lines)
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	r := &scriptRunner{epoch: time.Date(2024, 4, 1, 0, 0, 0, 0, time.UTC)}
	var out []string // the file rewritten, for -update
	next := 0
	for _, c := range cases {
		var got []string
		for _, cmd := range c.cmds {
			got = append(got, r.run(cmd)...)
		}
		if *update {
			out = append(out, lines[next:c.from]...)
			out = append(out, got...)
			next = c.to
			continue
		}
		if w, g := strings.Join(c.want, "\n"), strings.Join(got, "\n"); w != g {
			t.Errorf("%s:%d: %s\n(-want +got)\n%s", file, c.line, strings.Join(c.cmds, "; "), lineDiff(c.want, got))
		}
	}
	if *update {
		out = append(out, lines[next:]...)
		if err := os.WriteFile(file, []byte(strings.Join(out, "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// lineDiff marks the lines that differ; scenario outputs are short.
func lineDiff(want, got []string) string {
	var b strings.Builder
	for i := 0; i < max(len(want), len(got)); i++ {
		switch {
		case i >= len(want):
			fmt.Fprintf(&b, "+%s\n", got[i])
		case i >= len(got):
			fmt.Fprintf(&b, "-%s\n", want[i])
		case want[i] != got[i]:
			fmt.Fprintf(&b, "-%s\n+%s\n", want[i], got[i])
		default:
			fmt.Fprintf(&b, " %s\n", want[i])
		}
	}
	return b.String()
}

type scriptRunner struct {
	epoch time.Time
	now   time.Time
	m     *Machine
}

func (r *scriptRunner) run(cmd string) []string {
	fields := strings.Fields(cmd)
	out, err := r.exec(fields[0], fields[1:])
	if err != nil {
		return append(out, "error: "+err.Error())
	}
	return out
}

func (r *scriptRunner) exec(verb string, args []string) ([]string, error) {
	switch verb {
	case "new":
		kv, err := keyValues(args)
		if err != nil {
			return nil, err
		}
		cfg := Config{Version: 3, AnnounceCount: 1, AnnounceInterval: time.Second}
		for k, v := range kv {
			switch k {
			case "version":
				cfg.Version, err = strconv.Atoi(v)
			case "priority":
				cfg.Priority, err = parseUint8(v)
			case "interval":
				cfg.AdvertInterval, err = time.ParseDuration(v)
			case "preempt":
				cfg.Preempt, err = strconv.ParseBool(v)
			case "delay":
				cfg.PreemptDelay, err = time.ParseDuration(v)
			case "addr":
				cfg.Address, err = netip.ParseAddr(v)
			case "announce":
				cfg.AnnounceCount, err = strconv.Atoi(v)
			case "announce-interval":
				cfg.AnnounceInterval, err = time.ParseDuration(v)
			case "refresh":
				cfg.AnnounceRefresh, err = time.ParseDuration(v)
			case "backoff":
				cfg.RetryBackoff, err = time.ParseDuration(v)
			case "backoff-max":
				cfg.RetryBackoffMax, err = time.ParseDuration(v)
			case "confirm":
				cfg.ConfirmPreempt, err = strconv.ParseBool(v)
			default:
				err = fmt.Errorf("unknown key %q", k)
			}
			if err != nil {
				return nil, err
			}
		}
		r.m, err = New(cfg)
		r.now = r.epoch
		return nil, err
	case "status":
		if r.m == nil {
			return nil, fmt.Errorf("no machine: use new")
		}
		s := r.m.Status()
		line := fmt.Sprintf("priority=%d effective=%d master-adver-interval=%v master-down-interval=%v skew=%v",
			s.Priority, s.EffectivePriority, s.MasterAdverInterval, s.MasterDownInterval, s.SkewTime)
		// The rest only when it says something, so that older scripts
		// stay short.
		if s.CheckPriority != s.EffectivePriority {
			line += fmt.Sprintf(" checks=%d", s.CheckPriority)
		}
		if s.Fault != FaultNone {
			line += fmt.Sprintf(" fault=%v", s.Fault)
		}
		if s.AnnounceRoundsLeft > 0 || s.AnnounceFailures > 0 {
			line += fmt.Sprintf(" announce-left=%d announce-failures=%d", s.AnnounceRoundsLeft, s.AnnounceFailures)
		}
		if s.AddFailing || s.AddFailures > 0 {
			line += fmt.Sprintf(" add-failing=%v add-failures=%d add-retry=%s", s.AddFailing, s.AddFailures, r.rel(s.AddRetry))
		}
		if s.Maintenance {
			line += " maintenance=true"
		}
		if s.RemovePending || s.RemoveFailures > 0 {
			line += fmt.Sprintf(" remove-pending=%v remove-failures=%d remove-retry=%s", s.RemovePending, s.RemoveFailures, r.rel(s.RemoveRetry))
		}
		return []string{line}, nil
	case "timers":
		if r.m == nil {
			return nil, fmt.Errorf("no machine: use new")
		}
		m := r.m
		var parts []string
		for _, t := range []struct {
			name string
			at   time.Time
		}{
			{"adver", m.adverTimer}, {"master-down", m.downTimer}, {"announce", m.announceAt},
			{"refresh", m.refreshAt}, {"add", m.addRetry}, {"remove", m.removeRetry},
		} {
			if !t.at.IsZero() {
				parts = append(parts, t.name+"="+r.rel(t.at))
			}
		}
		if len(parts) == 0 {
			parts = []string{"none"}
		}
		return []string{"timers: " + strings.Join(parts, " ")}, nil
	case "step":
		return r.step(args)
	}
	return nil, fmt.Errorf("unknown command %q", verb)
}

func (r *scriptRunner) step(args []string) ([]string, error) {
	if r.m == nil {
		return nil, fmt.Errorf("no machine: use new")
	}
	if len(args) < 2 || !strings.HasPrefix(args[0], "t=") {
		return nil, fmt.Errorf("want: step t=T EVENT [key=value...]")
	}
	now, err := r.parseTime(strings.TrimPrefix(args[0], "t="))
	if err != nil {
		return nil, err
	}
	if now.Before(r.now) {
		return nil, fmt.Errorf("time goes backwards: %v after %v", now.Sub(r.epoch), r.now.Sub(r.epoch))
	}
	kv, err := keyValues(args[2:])
	if err != nil {
		return nil, err
	}
	var ev Event
	switch args[1] {
	case "startup":
		ev.Kind = EventStartup
	case "timer":
		ev.Kind = EventTimer
	case "shutdown":
		ev.Kind = EventShutdown
	case "link-down":
		ev.Kind = EventLinkDown
	case "link-up":
		ev.Kind = EventLinkUp
	case "fault":
		ev.Kind = EventFault
		switch c := kv["cause"]; c {
		case "link-down":
			ev.Cause = FaultLinkDown
		case "interface-missing":
			ev.Cause = FaultInterfaceMissing
		case "no-source-address":
			ev.Cause = FaultNoSourceAddress
		case "check-fault":
			ev.Cause = FaultCheck
		case "", "none":
		default:
			return nil, fmt.Errorf("unknown fault cause %q", c)
		}
	case "announce-failed":
		ev.Kind = EventAnnounceFailed
	case "add-failed":
		ev.Kind = EventAddFailed
	case "add-ok":
		ev.Kind = EventAddOK
	case "remove-failed":
		ev.Kind = EventRemoveFailed
	case "remove-ok":
		ev.Kind = EventRemoveOK
	case "vips-missing":
		ev.Kind = EventVIPsMissing
	case "hardware-changed":
		ev.Kind = EventHardwareChanged
	case "resign":
		ev.Kind = EventResign
	case "confirmed":
		ev.Kind = EventConfirmed
		ev.On = kv["ok"] == "true"
	case "maintenance":
		ev.Kind = EventMaintenance
		switch kv["on"] {
		case "true":
			ev.On = true
		case "false":
		default:
			return nil, fmt.Errorf("maintenance needs on=true or on=false")
		}
	case "priority":
		ev.Kind = EventPriority
		if ev.Priority, err = parseUint8(kv["prio"]); err != nil {
			return nil, err
		}
	case "advert":
		ev.Kind = EventAdvert
		if ev.From, err = netip.ParseAddr(kv["from"]); err != nil {
			return nil, err
		}
		if ev.Priority, err = parseUint8(kv["prio"]); err != nil {
			return nil, err
		}
		if v, ok := kv["interval"]; ok {
			if ev.Interval, err = time.ParseDuration(v); err != nil {
				return nil, err
			}
		}
	default:
		return nil, fmt.Errorf("unknown event %q", args[1])
	}
	r.now = now
	acts := r.m.Step(now, ev)
	var out []string
	if len(acts) > 0 {
		s := make([]string, len(acts))
		for i, a := range acts {
			s[i] = a.String()
		}
		out = append(out, "actions: "+strings.Join(s, " "))
	}
	return append(out, r.state()), nil
}

func (r *scriptRunner) state() string {
	s := r.m.Status()
	deadline := r.rel(r.m.Deadline())
	master := "none"
	if s.Master.IsValid() {
		master = fmt.Sprintf("%v/%d", s.Master, s.MasterPriority)
	}
	since := "none"
	if !s.Since.IsZero() {
		since = s.Since.Sub(r.epoch).String()
	}
	return fmt.Sprintf("state=%v reason=%v since=%s deadline=%s master=%s",
		s.State, s.Reason, since, deadline, master)
}

// rel prints t relative to now: "+1s", "-10ms", or "none" for zero.
func (r *scriptRunner) rel(t time.Time) string {
	if t.IsZero() {
		return "none"
	}
	if d := t.Sub(r.now); d < 0 {
		return d.String()
	}
	return "+" + t.Sub(r.now).String()
}

func (r *scriptRunner) parseTime(s string) (time.Time, error) {
	if rest, ok := strings.CutPrefix(s, "deadline"); ok {
		d := r.m.Deadline()
		if d.IsZero() {
			return time.Time{}, fmt.Errorf("no deadline")
		}
		if rest == "" {
			return d, nil
		}
		off, err := time.ParseDuration(rest)
		return d.Add(off), err
	}
	off, err := time.ParseDuration(s)
	return r.epoch.Add(off), err
}

func keyValues(args []string) (map[string]string, error) {
	kv := make(map[string]string, len(args))
	for _, a := range args {
		k, v, ok := strings.Cut(a, "=")
		if !ok {
			return nil, fmt.Errorf("want key=value, got %q", a)
		}
		kv[k] = v
	}
	return kv, nil
}

func parseUint8(s string) (uint8, error) {
	n, err := strconv.ParseUint(s, 10, 8)
	return uint8(n), err
}
