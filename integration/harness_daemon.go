//go:build integration

package integration

// daemonUnderTest lets one scenario drive either keepalived or vipd with the
// same priorities and intervals, so the bench compares like with like.

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// daemonConfig is what both daemons are told, in their own dialects.
type daemonConfig struct {
	VRID     int
	Priority int
	Interval time.Duration
	Version  int // 2 or 3
	VIP      netip.Addr
	Peers    []netip.Addr // unicast when non-empty
	Preempt  bool
	// VipdArgs are extra vipd flags (--checksum message-only, say);
	// keepalived ignores them.
	VipdArgs []string
}

// daemonUnderTest starts one kind of VRRP daemon on a lab host.
type daemonUnderTest interface {
	Name() string
	Start(l *lab, host int, c daemonConfig) daemonInstance
}

// daemonInstance is one running daemon.
type daemonInstance interface {
	// State is INIT, BACKUP, MASTER or FAULT; "" when unknown yet.
	State() string
	// Stop ends it gracefully (SIGTERM: priority 0 advert, VIPs removed)
	// and waits for it to exit.
	Stop()
	// Pids lists its processes, for CPU and memory accounting.
	Pids() []int
}

// waitDaemonState waits until d reports state.
func waitDaemonState(l *lab, host int, d daemonInstance, state string, timeout time.Duration) {
	l.t.Helper()
	waitFor(l.t, timeout, fmt.Sprintf("h%d to be %s", host, state), func() (bool, string) {
		s := d.State()
		return s == state, "state " + s
	})
}

// keepalivedDaemon runs keepalived.
type keepalivedDaemon struct{}

func (keepalivedDaemon) Name() string { return "keepalived" }

func (keepalivedDaemon) Start(l *lab, host int, c daemonConfig) daemonInstance {
	l.t.Helper()
	kc := keepalivedConfig{
		VRID: c.VRID, Priority: c.Priority, AdvertInt: c.Interval, Version: c.Version,
		Nopreempt: !c.Preempt, VIPs: []netip.Addr{c.VIP}, UnicastPeers: c.Peers,
	}
	if len(c.Peers) > 0 {
		kc.UnicastSrc = l.host(host).V4
		if c.VIP.Is6() {
			kc.UnicastSrc = l.host(host).V6
		}
	}
	return startKeepalived(l, host, kc)
}

// vipdDaemon runs bin/vipd and reads its state with bin/vipctl.
type vipdDaemon struct{}

func (vipdDaemon) Name() string { return "vipd" }

var (
	vipdBinOnce sync.Once
	vipdBinDir  string
	vipdBinErr  error
)

// vipdBinaries returns the directory holding vipd and vipctl: $VIPD_BIN_DIR,
// or the repository's bin/ after `make build`.
func vipdBinaries(l *lab) string {
	l.t.Helper()
	vipdBinOnce.Do(func() {
		if d := os.Getenv("VIPD_BIN_DIR"); d != "" {
			vipdBinDir = d
			return
		}
		root, err := filepath.Abs("..")
		if err != nil {
			vipdBinErr = err
			return
		}
		out, err := exec.Command("make", "-C", root, "build").CombinedOutput()
		if err != nil {
			vipdBinErr = fmt.Errorf("make build: %w\n%s", err, out)
			return
		}
		vipdBinDir = filepath.Join(root, "bin")
	})
	if vipdBinErr != nil {
		l.t.Fatalf("vipd binaries: %v", vipdBinErr)
	}
	return vipdBinDir
}

func (vipdDaemon) Start(l *lab, host int, c daemonConfig) daemonInstance {
	l.t.Helper()
	bin := vipdBinaries(l)
	n := l.host(host)
	sock := filepath.Join(l.dir, fmt.Sprintf("vipd-%s-%d.sock", n.Name, time.Now().UnixNano()))
	args := []string{filepath.Join(bin, "vipd"),
		"--interface", hostIf,
		"--vip", c.VIP.String(),
		"--vrid", strconv.Itoa(c.VRID),
		"--priority", strconv.Itoa(c.Priority),
		"--advert-interval", c.Interval.String(),
		"--vrrp-version", strconv.Itoa(c.Version),
		"--preempt=" + strconv.FormatBool(c.Preempt),
		"--control-socket", sock,
	}
	for _, p := range c.Peers {
		args = append(args, "--peer", p.String())
	}
	args = append(args, c.VipdArgs...)
	v := &vipd{lab: l, node: n, vrid: c.VRID, sock: sock, vipctl: filepath.Join(bin, "vipctl")}
	v.pid = n.Start("vipd", args...)
	return v
}

// vipd is one running vipd.
type vipd struct {
	lab    *lab
	node   *node
	vrid   int
	pid    int
	sock   string
	vipctl string
}

// vipdStatus is `vipctl status --json`.
type vipdStatus struct {
	Instances []struct {
		Name              string         `json:"name"`
		Interface         string         `json:"interface"`
		VRID              int            `json:"vrid"`
		State             string         `json:"state"`
		Reason            string         `json:"reason"`
		Priority          int            `json:"priority"`
		EffectivePriority int            `json:"effective_priority"`
		Master            string         `json:"master"`
		VIPs              []string       `json:"vips"`
		VIPsPresent       []string       `json:"vips_present"`
		AdvertsSent       uint64         `json:"adverts_sent"`
		AdvertsReceived   uint64         `json:"adverts_received"`
		Drops             map[string]int `json:"drops"`
		ChecksumForms     map[string]int `json:"checksum_forms"`
		AddressMismatches uint64         `json:"address_mismatches"`
		Transitions       map[string]int `json:"transitions"`
	} `json:"instances"`
}

// Status asks vipd over its control socket (a unix socket: no namespace needed).
func (v *vipd) Status() (vipdStatus, error) {
	var st vipdStatus
	out, err := exec.Command(v.vipctl, "--socket", v.sock, "status", "--json").Output()
	if err != nil {
		return st, fmt.Errorf("vipctl status: %w", err)
	}
	if err := json.Unmarshal(out, &st); err != nil {
		return st, fmt.Errorf("vipctl status: %w: %s", err, out)
	}
	return st, nil
}

func (v *vipd) State() string {
	st, err := v.Status()
	if err != nil {
		return ""
	}
	for _, in := range st.Instances {
		if in.VRID == v.vrid {
			return in.State
		}
	}
	return ""
}

func (v *vipd) Stop() {
	v.lab.t.Helper()
	v.lab.Stop(v.pid, syscall.SIGTERM, 10*time.Second, "vipd on "+v.node.Name)
}

func (v *vipd) Pids() []int { return []int{v.pid} }

// procUsage is CPU time and resident memory summed over processes.
type procUsage struct {
	CPU   time.Duration // time on a CPU (schedstat; utime+stime where it cannot be read)
	RSSkB int
}

// clkTck is USER_HZ, 100 on every Linux architecture the project targets.
const clkTck = 100

// usage reads /proc/PID/stat and /proc/PID/status for pids.
func usage(pids []int) procUsage {
	var u procUsage
	for _, pid := range pids {
		// Time on CPU to the nanosecond: the sum of the threads'
		// schedstat (what /proc/PID/stat rounds to 10 ms ticks, which
		// at 0.1 % over 30 s is 3 ticks: too coarse for a ratio).
		if cpu, ok := schedCPU(pid); ok {
			u.CPU += cpu
		} else if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil {
			if i := strings.LastIndexByte(string(b), ')'); i >= 0 {
				f := strings.Fields(string(b[i+1:]))
				if len(f) > 12 { // f[0] is field 3 (state): utime is field 14, stime 15
					ut, _ := strconv.ParseInt(f[11], 10, 64)
					st, _ := strconv.ParseInt(f[12], 10, 64)
					u.CPU += time.Duration(ut+st) * time.Second / clkTck
				}
			}
		}
		if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid)); err == nil {
			for _, line := range strings.Split(string(b), "\n") {
				if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
					kb, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(rest), " kB"))
					u.RSSkB += kb
				}
			}
		}
	}
	return u
}

// schedCPU is the time pid's threads have been on a CPU: the first field of
// /proc/PID/task/TID/schedstat (sum_exec_runtime, ns), summed.
func schedCPU(pid int) (time.Duration, bool) {
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil || len(tasks) == 0 {
		return 0, false
	}
	var sum time.Duration
	for _, t := range tasks {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/schedstat", pid, t.Name()))
		if err != nil {
			continue // the thread has just exited
		}
		f := strings.Fields(string(b))
		if len(f) == 0 {
			return 0, false
		}
		ns, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0, false
		}
		sum += time.Duration(ns)
	}
	return sum, true
}
