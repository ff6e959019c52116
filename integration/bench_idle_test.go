//go:build integration

package integration

// The idle-cost bench (issue 12): what vipd costs at rest against keepalived
// 2.2.7, in the same run, on the same lab: three routers (priorities
// 150/100/50), one VIP per virtual router, no checks, VRRPv3 multicast. For
// each row (advert interval, number of VRIDs on the one interface) it runs
// keepalived and then vipd, lets the elections settle and the takeover
// announcements end, and measures the Master (h0) and a Backup (h1): CPU
// (time on CPU from the threads' schedstat, keepalived's two processes summed) over the window, and RSS
// sampled once a second. Figures are reported, never asserted.
//
// With -bench-idle-profile > 0 it also records, at 10 ms adverts and one
// VRID, a perf profile of vipd's Master and Backup (an unstripped build of
// cmd/vipd) and of keepalived's VRRP process, and writes the top symbols.
//
//	make bench-idle
//	make bench-idle BENCH_IDLE_FLAGS='-bench-idle-window=10s -bench-idle-rows=10ms/1'

import (
	"bufio"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

var (
	benchIdleRun     = flag.Bool("bench-idle-run", false, "run the idle-cost bench (also VIPD_BENCH_IDLE=1)")
	benchIdleWindow  = flag.Duration("bench-idle-window", 30*time.Second, "CPU and RSS window per daemon and row")
	benchIdleRows    = flag.String("bench-idle-rows", "10ms/1,100ms/1,1s/1,100ms/16,100ms/128", "rows: interval/VRIDs, comma separated")
	benchIdleProfile = flag.Duration("bench-idle-profile", 15*time.Second, "perf window at 10 ms adverts (0 skips)")
	benchIdleOut     = flag.String("bench-idle-out", "../bench/results", "directory for idle.md")
)

// idlePrios are h0 (Master), h1 (the Backup measured) and h2.
var idlePrios = []int{150, 100, 50}

// idleRow is one line of the table: an interval and a VRID count.
type idleRow struct {
	Interval time.Duration
	VRIDs    int
}

func (r idleRow) String() string { return fmt.Sprintf("%v/%d", r.Interval, r.VRIDs) }

// idleCost is one daemon's Master and Backup on one row.
type idleCost struct {
	CPUPct [2]float64 // master, backup
	RSSkB  [2]int
}

// idleDaemon is a router under test with many instances on eth0.
type idleDaemon interface {
	Pids() []int
	// Settled reports whether all its instances are in state.
	Settled(state string) bool
	Stop()
}

func TestBenchIdle(t *testing.T) {
	if !*benchIdleRun && os.Getenv("VIPD_BENCH_IDLE") == "" {
		t.Skip("bench: run with -bench-idle-run or VIPD_BENCH_IDLE=1 (make bench-idle)")
	}
	var rows []idleRow
	for _, s := range splitList(*benchIdleRows) {
		iv, n, ok := strings.Cut(s, "/")
		d, err := time.ParseDuration(iv)
		c, err2 := strconv.Atoi(n)
		if !ok || err != nil || err2 != nil || c < 1 || c > 200 {
			t.Fatalf("bench: -bench-idle-rows: %q is not INTERVAL/VRIDS (e.g. 100ms/16, at most 200 VRIDs)", s)
		}
		rows = append(rows, idleRow{d, c})
	}
	res := map[idleRow][2]idleCost{} // keepalived, vipd
	for _, r := range rows {
		t.Run(r.String(), func(t *testing.T) {
			l := newLab(t, len(idlePrios))
			var pair [2]idleCost
			for i, kind := range []string{"keepalived", "vipd"} {
				pair[i] = idleMeasure(t, l, kind, r)
				t.Logf("idle %s %v: master CPU %.3f%% RSS %d kB, backup CPU %.3f%% RSS %d kB", kind, r,
					pair[i].CPUPct[0], pair[i].RSSkB[0], pair[i].CPUPct[1], pair[i].RSSkB[1])
			}
			res[r] = pair
		})
	}
	var prof string
	if *benchIdleProfile > 0 {
		t.Run("profile", func(t *testing.T) { prof = idleProfile(t, *benchIdleProfile) })
	}
	if err := writeIdle(*benchIdleOut, rows, res, prof); err != nil {
		t.Fatalf("bench: %v", err)
	}
	t.Logf("bench: wrote %s", filepath.Join(*benchIdleOut, "idle.md"))
}

// idleStart starts kind on every host of l with row's instances.
func idleStart(t *testing.T, l *lab, kind string, r idleRow, vipdBin string) []idleDaemon {
	var ds []idleDaemon
	for h, prio := range idlePrios {
		if kind == "keepalived" {
			ds = append(ds, startIdleKeepalived(l, h, prio, r))
		} else {
			ds = append(ds, startIdleVipd(l, h, prio, r, vipdBin))
		}
	}
	// All start as Backup; h0 takes every VRID after Master_Down_Interval.
	// The set-up is given more time with more VRIDs: each of h0's n takeovers
	// adds a VIP that its n instances hear of (bind.go re-reads the link for
	// each), on a 2-CPU machine running three daemons.
	settle := 3*r.Interval + 30*time.Second + time.Duration(r.VRIDs)*250*time.Millisecond
	waitFor(t, settle, kind+": h0 master of every VRID, h1 and h2 backups", func() (bool, string) {
		return ds[0].Settled("MASTER") && ds[1].Settled("BACKUP") && ds[2].Settled("BACKUP"), ""
	})
	return ds
}

// idleMeasure runs kind on row r and measures h0 and h1.
func idleMeasure(t *testing.T, l *lab, kind string, r idleRow) idleCost {
	ds := idleStart(t, l, kind, r, filepath.Join(vipdBinaries(l), "vipd"))
	defer func() {
		for _, d := range ds {
			d.Stop()
		}
	}()
	// Let the takeover announcements (5 rounds, 1 s apart, for both
	// daemons; keepalived's second burst after 5 s) end. The wait is the
	// experiment's set-up, not a wait for a condition.
	time.Sleep(7 * time.Second)
	before := [2]procUsage{usage(ds[0].Pids()), usage(ds[1].Pids())}
	start := time.Now()
	var rss [2]int
	samples := 0
	waitFor(t, *benchIdleWindow+10*time.Second, "idle window", func() (bool, string) {
		if time.Since(start) >= *benchIdleWindow {
			return true, ""
		}
		if time.Since(start) >= time.Duration(samples)*time.Second {
			samples++
			rss[0] += usage(ds[0].Pids()).RSSkB
			rss[1] += usage(ds[1].Pids()).RSSkB
		}
		return false, ""
	})
	el := time.Since(start)
	var c idleCost
	for h := range 2 {
		after := usage(ds[h].Pids())
		c.CPUPct[h] = 100 * (after.CPU - before[h].CPU).Seconds() / el.Seconds()
		c.RSSkB[h] = rss[h] / max(samples, 1)
	}
	if !ds[0].Settled("MASTER") || !ds[1].Settled("BACKUP") {
		t.Errorf("%s %v: the roles changed during the window", kind, r)
	}
	return c
}

// idleVIP is the VIP of the i-th VRID (1-based): 198.18.1.i.
func idleVIP(i int) netip.Addr { return netip.AddrFrom4([4]byte{198, 18, 1, byte(i)}) }

// idleKeepalived is keepalived with r.VRIDs instances VI_1..VI_n.
type idleKeepalived struct {
	*keepalived
	n int
}

func startIdleKeepalived(l *lab, h, prio int, r idleRow) *idleKeepalived {
	l.t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "global_defs {\n    router_id %s\n    vrrp_version 3\n}\n", l.host(h).Name)
	for i := 1; i <= r.VRIDs; i++ {
		fmt.Fprintf(&b, "vrrp_instance VI_%d {\n    state BACKUP\n    interface %s\n    virtual_router_id %d\n    priority %d\n    advert_int %s\n    version 3\n    virtual_ipaddress {\n        %s/32 dev %s\n    }\n}\n",
			i, hostIf, i, prio, seconds(r.Interval), idleVIP(i), hostIf)
	}
	n := l.host(h)
	dir := filepath.Join(l.dir, fmt.Sprintf("keepalived-idle-%s-%d", n.Name, time.Now().UnixNano()))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		l.t.Fatal(err)
	}
	k := &keepalived{lab: l, node: n, dir: dir, conf: filepath.Join(dir, "keepalived.conf"), vrrpPid: filepath.Join(dir, "vrrp.pid")}
	if err := os.WriteFile(k.conf, []byte(b.String()), 0o644); err != nil {
		l.t.Fatal(err)
	}
	k.pid = n.Start("keepalived", "keepalived",
		"--dont-fork", "--log-console", "--no-syslog", "--vrrp",
		"--use-file", k.conf,
		"--pid", filepath.Join(dir, "keepalived.pid"),
		"--vrrp_pid", k.vrrpPid,
		"--checkers_pid", filepath.Join(dir, "checkers.pid"),
		"--bfd_pid", filepath.Join(dir, "bfd.pid"),
	)
	return &idleKeepalived{k, r.VRIDs}
}

// Settled reads the log: every instance's last logged state is state.
func (k *idleKeepalived) Settled(state string) bool {
	f, err := os.Open(k.lab.LogPath(k.pid))
	if err != nil {
		return false
	}
	defer f.Close()
	last := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		i := strings.Index(line, "(VI_")
		j := strings.Index(line, ") Entering ")
		if i < 0 || j < i {
			continue
		}
		// "(VI_3) Entering BACKUP STATE (init)"
		if f := strings.Fields(line[j+len(") Entering "):]); len(f) > 0 {
			last[line[i+1:j]] = f[0]
		}
	}
	if len(last) != k.n {
		return false
	}
	for _, s := range last {
		if s != state {
			return false
		}
	}
	return true
}

// idleVipd is one vipd with r.VRIDs instances from a config file.
type idleVipd struct {
	*vipd
	n int
}

func startIdleVipd(l *lab, h, prio int, r idleRow, bin string) *idleVipd {
	l.t.Helper()
	n := l.host(h)
	dir := filepath.Join(l.dir, fmt.Sprintf("vipd-idle-%s-%d", n.Name, time.Now().UnixNano()))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		l.t.Fatal(err)
	}
	var b strings.Builder
	b.WriteString("instances:\n")
	for i := 1; i <= r.VRIDs; i++ {
		fmt.Fprintf(&b, "- {name: v%d, interface: %s, vrid: %d, priority: %d, vips: [%s], advertInterval: %v, vrrpVersion: 3, preempt: true}\n",
			i, hostIf, i, prio, idleVIP(i), r.Interval)
	}
	conf := filepath.Join(dir, "vipd.yaml")
	if err := os.WriteFile(conf, []byte(b.String()), 0o644); err != nil {
		l.t.Fatal(err)
	}
	sock := filepath.Join(dir, "vipd.sock")
	v := &vipd{lab: l, node: n, vrid: 1, sock: sock, vipctl: filepath.Join(vipdBinaries(l), "vipctl")}
	v.pid = n.Start("vipd", bin, "--config", conf, "--control-socket", sock, "--state-dir", filepath.Join(dir, "state"), "--log-level", "warn")
	return &idleVipd{v, r.VRIDs}
}

func (v *idleVipd) Settled(state string) bool {
	st, err := v.Status()
	if err != nil || len(st.Instances) != v.n {
		return false
	}
	for _, in := range st.Instances {
		if in.State != state {
			return false
		}
	}
	return true
}

// idleProfile records perf profiles at 10 ms adverts, one VRID: vipd's
// Master and Backup (unstripped), keepalived's VRRP process as Master.
func idleProfile(t *testing.T, window time.Duration) string {
	if _, err := exec.LookPath("perf"); err != nil {
		return "perf is not installed (apt-get install linux-perf): no profile.\n"
	}
	l := newLab(t, len(idlePrios))
	sym := filepath.Join(l.dir, "vipd-symbols")
	root, _ := filepath.Abs("..")
	build := exec.Command("go", "build", "-trimpath", "-o", sym, "./cmd/vipd")
	build.Dir = root
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building an unstripped vipd: %v\n%s", err, out)
	}
	r := idleRow{10 * time.Millisecond, 1}
	var out strings.Builder
	record := func(what string, pid int) {
		data := filepath.Join(l.dir, fmt.Sprintf("perf-%d.data", pid))
		rec := exec.Command("perf", "record", "-q", "-F", "4999", "-g", "-p", strconv.Itoa(pid), "-o", data, "--", "sleep", strconv.Itoa(int(window.Seconds())))
		if b, err := rec.CombinedOutput(); err != nil {
			fmt.Fprintf(&out, "### %s\n\nperf record failed: %v\n%s\n", what, err, b)
			return
		}
		rep := exec.Command("perf", "report", "-i", data, "--stdio", "--no-children", "-g", "none", "--percent-limit", "1.5", "--sort", "dso,symbol")
		b, err := rep.Output()
		if err != nil {
			fmt.Fprintf(&out, "### %s\n\nperf report failed: %v\n", what, err)
			return
		}
		fmt.Fprintf(&out, "### %s (perf, %v, self time, symbols over 1.5%%)\n\n```\n", what, window)
		for _, line := range strings.Split(string(b), "\n") {
			if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#") {
				continue
			}
			out.WriteString(strings.TrimRight(line, " ") + "\n")
		}
		out.WriteString("```\n\n")
	}
	ds := idleStart(t, l, "vipd", r, sym)
	time.Sleep(7 * time.Second) // the takeover announcements end
	record("vipd Master, 10 ms", ds[0].Pids()[0])
	record("vipd Backup, 10 ms", ds[1].Pids()[0])
	for _, d := range ds {
		d.Stop()
	}
	ks := idleStart(t, l, "keepalived", r, "")
	time.Sleep(7 * time.Second)
	kp := ks[0].Pids()
	record("keepalived Master (VRRP child), 10 ms", kp[len(kp)-1])
	for _, d := range ks {
		d.Stop()
	}
	return out.String()
}

// writeIdle writes idle.md: the table, then the profile, then the notes of
// the previous idle.md (the "## Notes" section, written by hand) kept as
// they were.
func writeIdle(dir string, rows []idleRow, res map[idleRow][2]idleCost, prof string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	path := filepath.Join(dir, "idle.md")
	notes := ""
	if old, err := os.ReadFile(path); err == nil {
		if i := strings.Index(string(old), "\n## Notes"); i >= 0 {
			notes = string(old[i+1:])
		}
	}
	var b strings.Builder
	host, _ := os.Hostname()
	kv, _ := exec.Command("keepalived", "--version").CombinedOutput()
	var uts syscall.Utsname
	_ = syscall.Uname(&uts)
	fmt.Fprintf(&b, "# Idle cost: vipd against keepalived\n\n")
	fmt.Fprintf(&b, "Written by `make bench-idle` (integration/bench_idle_test.go) on %s: %s, Linux %s, %d CPUs, %s; %s.\n\n",
		time.Now().UTC().Format("2006-01-02 15:04 UTC"), host, utsString(uts.Release[:]), runtime.NumCPU(), cpuModel(), strings.SplitN(strings.TrimSpace(string(kv)), "\n", 2)[0])
	fmt.Fprintf(&b, "Three routers (priorities 150/100/50) on one bridge, VRRPv3 multicast, one VIP per VRID, no checks. "+
		"Each row runs keepalived, then vipd, in the same lab; h0 is Master of every VRID, h1 a Backup. "+
		"CPU is the time on a CPU of every thread (schedstat, to the nanosecond) over %v (keepalived: parent and VRRP child summed), RSS the mean of one sample a second. "+
		"Ratio is vipd / keepalived: at or under 1.00 is the goal.\n\n", *benchIdleWindow)
	b.WriteString("| adverts | VRIDs | role | keepalived CPU % | vipd CPU % | CPU ratio | keepalived RSS MB | vipd RSS MB | RSS ratio |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|\n")
	for _, r := range rows {
		p, ok := res[r]
		if !ok {
			continue
		}
		for i, role := range []string{"Master", "Backup"} {
			k, v := p[0], p[1]
			fmt.Fprintf(&b, "| %v | %d | %s | %.3f | %.3f | %s | %.1f | %.1f | %s |\n", r.Interval, r.VRIDs, role,
				k.CPUPct[i], v.CPUPct[i], ratio(v.CPUPct[i], k.CPUPct[i]),
				float64(k.RSSkB[i])/1024, float64(v.RSSkB[i])/1024, ratio(float64(v.RSSkB[i]), float64(k.RSSkB[i])))
		}
	}
	if prof != "" {
		b.WriteString("\n## Profile\n\n")
		b.WriteString(prof)
	}
	if notes != "" {
		b.WriteString("\n" + notes)
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}

func ratio(a, b float64) string {
	if b <= 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.2f", a/b)
}

func utsString(b []int8) string {
	var s []byte
	for _, c := range b {
		if c == 0 {
			break
		}
		s = append(s, byte(c))
	}
	return string(s)
}

func cpuModel() string {
	b, _ := os.ReadFile("/proc/cpuinfo")
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}
