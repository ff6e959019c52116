//go:build integration

package integration

// TestKubeadm is issue 11: a real kubeadm HA control plane with vipd's
// static pod (the bytes `vipd manifest pod` prints, the image `make image`
// builds) on three masters, then the failures of a cluster's life, each
// with the API outage a client saw through the VIP. The environment is
// kubeadm.go's; the commands, figures and tuning are in docs/kubeadm-test.md.
//
// Priorities are 150/100/50 (m1/m2/m3), adverts every 1 s, and the
// generated apiserver check at its defaults (every 2 s, fall 3, rise 5,
// a tier check: tierPriority). RFC 9568 §6.1: Skew_Time = (256-Priority)×Interval/256,
// Master_Down_Interval = 3×Interval + Skew_Time, Priority the backup's own
// (effective) one.
//
// The scenarios run against a kaVIP: vipd here, the kubeadm HA guide's
// keepalived in TestBenchKubeadm (bench_kubeadm_test.go), which runs the
// crash, apiserver-only and etcd-quorum scenarios with both.

import (
	"bufio"
	"cmp"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vipd/vipd/control"
	"github.com/vipd/vipd/health"
)

var kubeadmScenariosFlag = flag.String("kubeadm-scenarios", "planned,apiserver,etcd,crash,reset",
	"comma-separated TestKubeadm scenarios, in order: planned, apiserver, etcd, crash (with the reboot), reset")

const (
	// kaMargin is what an outage may exceed the RFC's figure by: the client's
	// reconnect and TLS handshake, a probe in flight, GARP delivery.
	kaMargin = 500 * time.Millisecond
	// kaCheckFall is how long vipd's apiserver check takes to go down at most.
	kaCheckFall = health.DefaultFall * health.DefaultInterval
	kaCheckRise = health.DefaultRise * health.DefaultInterval
	// kaPlannedBaseline is the quiet window before the planned roll over
	// which the client's own jitter through the VIP is measured.
	kaPlannedBaseline = 20 * time.Second
)

func kaSkew(p int) time.Duration { return time.Duration(256-p) * kaInterval / 256 }

func kaMasterDown(p int) time.Duration { return 3*kaInterval + kaSkew(p) }

// kaVIP is what holds the VIP on the masters: vipd's static pod (kaVipd) or
// the kubeadm HA guide's keepalived (kaKeepalived, bench_kubeadm_test.go).
type kaVIP interface {
	Name() string
	// Priorities are m1, m2 and m3's base priorities.
	Priorities() []int
	// Install puts the daemon on m before kubeadm init (first) or join; on
	// the first master it returns once the daemon holds the VIP or will
	// (vipd's pod starts with the kubelet kubeadm starts).
	Install(r *kaRun, m *kubeadmMaster, first bool)
	// Booted starts the daemon after m's reboot if the kubelet does not.
	Booted(r *kaRun, m *kubeadmMaster)
	// Status is the daemon's view on m: an error when it does not run.
	Status(r *kaRun, m *kubeadmMaster) (kaStatus, error)
	// CheckFall is the longest time its apiserver check takes to go down;
	// Effective the priority it advertises for base with the check up or down.
	CheckFall() time.Duration
	Effective(base int, up bool) int
	// Strict daemons fail the test on a violated expectation (vipd); the
	// others' violations are findings the bench reports (keepalived).
	Strict() bool
	// Log is m's daemon log since t, for a failure's report.
	Log(r *kaRun, m *kubeadmMaster, since time.Time) string
}

// kaStatus is one master's daemon as the scenarios see it.
type kaStatus struct {
	State    string // MASTER, BACKUP, FAULT; "" before the first
	Priority int    // effective
	// CheckKnown: the apiserver check has a result; CheckUp is it.
	CheckKnown, CheckUp bool
	CheckSince          time.Time // zero when not known
	CheckCause          string
}

// CheckIsUp reports whether the apiserver check is known and up.
func (s kaStatus) CheckIsUp() bool { return s.CheckKnown && s.CheckUp }

// kaVipd is vipd's static pod, from `vipd manifest pod`.
type kaVipd struct{}

func (kaVipd) Name() string             { return "vipd" }
func (kaVipd) Priorities() []int        { return kaPriorities }
func (kaVipd) Strict() bool             { return true }
func (kaVipd) CheckFall() time.Duration { return kaCheckFall }

func (kaVipd) Effective(base int, up bool) int { return tierPriority(base, up) }

func (kaVipd) Install(r *kaRun, m *kubeadmMaster, first bool) {
	m.WriteFile(kaManifest("vipd"), r.manifest(m), 0o600)
}

// Booted: the kubelet starts the static pod from the manifest that survived.
func (kaVipd) Booted(*kaRun, *kubeadmMaster) {}

func (kaVipd) Status(r *kaRun, m *kubeadmMaster) (kaStatus, error) {
	st, err := r.status(m)
	if err != nil {
		return kaStatus{}, err
	}
	s := kaStatus{State: st.State, Priority: st.EffectivePriority}
	if len(st.Checks) == 1 {
		s.CheckKnown, s.CheckUp, s.CheckSince, s.CheckCause = true, st.Checks[0].Up, st.Checks[0].Since, st.Checks[0].Cause
	}
	return s, nil
}

func (kaVipd) Log(r *kaRun, m *kubeadmMaster, since time.Time) string {
	st, _ := m.Vipctl("status")
	return r.vipdLog(m, since) + "\n--- vipctl status ---\n" + st
}

// kaRun is the test's state shared by the scenarios.
type kaRun struct {
	t      *testing.T
	d      kaVIP
	c      *kubeadmCluster
	sniff  *advertSniffer
	watch  []*kvAddrWatch // per master
	hostRC []string       // the host's /run/containerd listing before
	// hostLibexec: whether the host's /usr/libexec/kubernetes (the
	// flexvolume default) existed before; an earlier run may have made it.
	hostLibexec bool
	failed      bool // the current scenario has failed
	fails       int  // errors that failed the test (a strict daemon's), for the bench's report

	// figs are the scenarios' figures, by name (crash, reboot, apiserver,
	// apiserver restore, etcd); notes the findings and observations, in order.
	figs  map[string]kaFigure
	notes []string
}

// kaFigure is one scenario's figure: the API outage through the VIP and
// the VIP's arrivals on a master over the scenario.
type kaFigure struct {
	Outage time.Duration
	Moves  []string
	What   string // what the outage measures
}

// newKaRun builds the cluster for daemon d (nothing of Kubernetes runs yet).
func newKaRun(t *testing.T, image string, d kaVIP) *kaRun {
	hostRC := kaListDir("/run/containerd")
	_, err := os.Stat("/usr/libexec/kubernetes")
	hostLibexec := err == nil
	c := newKubeadmCluster(t, image, d.Priorities())
	r := &kaRun{t: t, d: d, c: c, sniff: c.l.sniff(), hostRC: hostRC, hostLibexec: hostLibexec, figs: map[string]kaFigure{}}
	for _, m := range c.Masters {
		r.watch = append(r.watch, kvWatchAddrs(c.l, m.Node))
	}
	return r
}

// errorf records a scenario's failure: for a strict daemon t.Errorf (its
// logs and statuses are then shown), for the others a finding.
func (r *kaRun) errorf(format string, args ...any) {
	r.t.Helper()
	r.failed = true
	if !r.d.Strict() {
		r.note("FINDING: "+format, args...)
		return
	}
	r.fails++
	r.t.Errorf(format, args...)
}

// note records an observation for the bench's report.
func (r *kaRun) note(format string, args ...any) {
	r.t.Helper()
	s := fmt.Sprintf(format, args...)
	r.notes = append(r.notes, s)
	r.t.Logf("%s: %s", r.d.Name(), s)
}

// run runs the named scenarios in order.
func (r *kaRun) run(names []string) {
	scenarios := map[string]func(){
		"apiserver": r.apiserverOnly,
		"etcd":      r.etcdQuorum,
		"crash":     r.crashAndReboot,
		"reset":     r.reset,
		"planned":   r.planned,
	}
	for _, name := range names {
		fn, ok := scenarios[name]
		if !ok {
			r.t.Fatalf("unknown kubeadm scenario %q; want planned, apiserver, etcd, crash or reset", name)
		}
		r.t.Logf("=== scenario %s (%s)", name, r.d.Name())
		r.failed = false
		fn()
	}
}

func TestKubeadm(t *testing.T) {
	image := kvImage(t)
	r := newKaRun(t, image, kaVipd{})
	start := time.Now()
	r.bootstrap()
	t.Logf("FIGURE bootstrap: three masters in %v", time.Since(start).Round(100*time.Millisecond))
	r.run(splitList(*kubeadmScenariosFlag))
	r.hygiene()
}

// vipdOnly stops a scenario that only vipd has (its manifest, its socket).
func (r *kaRun) vipdOnly(what string) {
	r.t.Helper()
	if _, ok := r.d.(kaVipd); !ok {
		r.t.Fatalf("kubeadm: the %s scenario is vipd's; the daemon is %s", what, r.d.Name())
	}
}

// ---- the flow ----

// manifest is `vipd manifest pod` for master m, exactly as an operator runs it.
func (r *kaRun) manifest(m *kubeadmMaster, extra ...string) string {
	args := []string{"manifest", "pod", "--image", kvImageRef, "--interface", hostIf,
		"--vip", r.c.VIP.String(), "--vrid", strconv.Itoa(kaVRID), "--priority", strconv.Itoa(m.Priority),
		"--advert-interval", kaInterval.String()}
	args = append(args, extra...)
	out, err := exec.Command(filepath.Join(r.c.binDir, "vipd"), args...).Output()
	if err != nil {
		r.t.Fatalf("vipd %s: %v", strings.Join(args, " "), err)
	}
	return string(out)
}

func (r *kaRun) bootstrap() {
	t, c := r.t, r.c
	m1 := c.Masters[0]

	// 1. The VIP daemon (vipd's static pod, or the guide's keepalived
	// holding the VIP already), then kubeadm init through the VIP.
	installStart := time.Now()
	r.d.Install(r, m1, true)
	cfg := m1.WriteConfig("kubeadm-init.yaml", c.InitConfig(m1))
	initStart := time.Now()
	out, took := m1.Kubeadm(true, "init", "--config", cfg, "--upload-certs", "--skip-token-print", "--skip-certificate-key-print")
	if !strings.Contains(out, "Your Kubernetes control-plane has initialized successfully") {
		t.Fatalf("kubeadm init on m1 did not say it succeeded:\n%s", out)
	}
	held, ok := r.watch[0].first(installStart, true, c.VIP)
	if !ok {
		t.Fatalf("kubeadm init succeeded but m1 never held the VIP %v", c.VIP)
	}
	t.Logf("FIGURE init: kubeadm init through the VIP in %v; %s held the VIP at +%v after it was installed (kubeadm init started at +%v)",
		took.Round(100*time.Millisecond), r.d.Name(), held.At.Sub(installStart).Round(100*time.Millisecond),
		initStart.Sub(installStart).Round(100*time.Millisecond))
	c.LoadCA(m1)

	// 2. The daemon, then kubeadm join --control-plane, on m2 and m3.
	for _, m := range c.Masters[1:] {
		r.d.Install(r, m, false)
		cfg := m.WriteConfig("kubeadm-join.yaml", c.JoinConfig(m))
		out, took := m.Kubeadm(true, "join", "--config", cfg)
		if !strings.Contains(out, "This node has joined the cluster and a new control plane instance was created") {
			t.Fatalf("kubeadm join on %s did not say it succeeded:\n%s", m.Name, out)
		}
		t.Logf("FIGURE join: %s joined the control plane in %v", m.Name, took.Round(100*time.Millisecond))
	}

	// Three control-plane nodes through the VIP, three voting etcd members.
	waitFor(t, time.Minute, "three control-plane nodes through the VIP", func() (bool, string) {
		out, err := m1.Kubectl("get", "nodes", "-l", "node-role.kubernetes.io/control-plane", "-o", "name")
		return err == nil && slices.Equal(strings.Fields(out), []string{"node/m1", "node/m2", "node/m3"}), out
	})
	waitFor(t, time.Minute, "three started, voting etcd members", func() (bool, string) {
		out, err := m1.Etcdctl("member", "list", "-w", "json")
		var ml struct {
			Members []struct {
				Name      string `json:"name"`
				IsLearner bool   `json:"isLearner"`
			} `json:"members"`
		}
		if err != nil || json.Unmarshal([]byte(out), &ml) != nil {
			return false, out
		}
		var names []string
		for _, mb := range ml.Members {
			if !mb.IsLearner {
				names = append(names, mb.Name)
			}
		}
		slices.Sort(names)
		return slices.Equal(names, []string{"m1", "m2", "m3"}), fmt.Sprint(names)
	})
	r.settle(c.Masters[0], c.Masters)
	t.Logf("kubeadm: 3 control-plane nodes and 3 etcd members through the VIP; m1 MASTER with %s, every apiserver check up", r.d.Name())
}

// status is master m's vipd status.
func (r *kaRun) status(m *kubeadmMaster) (control.Instance, error) {
	return (&kvDaemon{vipctl: filepath.Join(r.c.binDir, "vipctl"), sock: m.VipdSocket()}).status()
}

// settle waits until want holds the VIP alone, every master in live runs a
// daemon whose apiserver check is up, and the API answers through the VIP.
func (r *kaRun) settle(want *kubeadmMaster, live []*kubeadmMaster) {
	r.t.Helper()
	waitFor(r.t, 2*time.Minute, want.Name+" MASTER alone and every apiserver check up", func() (bool, string) {
		var msg []string
		ok := true
		for _, m := range live {
			st, err := r.d.Status(r, m)
			if err != nil {
				return false, m.Name + ": " + err.Error()
			}
			msg = append(msg, fmt.Sprintf("%s %s prio %d check up %v", m.Name, st.State, st.Priority, st.CheckIsUp()))
			ok = ok && st.CheckIsUp() && (st.State == "MASTER") == (m == want)
		}
		hs := r.c.Holders()
		return ok && len(hs) == 1 && hs[0] == want, strings.Join(msg, "; ")
	})
	p := r.c.StartProbe()
	waitFor(r.t, 30*time.Second, "the API answering through the VIP", func() (bool, string) { return p.StableFor(time.Second), "" })
	p.Stop()
}

// moves returns the VIP's arrivals on masters other than except since t.
func (r *kaRun) moves(since time.Time, except *kubeadmMaster) []string {
	var out []string
	for i, m := range r.c.Masters {
		if m == except {
			continue
		}
		if e, ok := r.watch[i].first(since, true, r.c.VIP); ok {
			out = append(out, fmt.Sprintf("%s at +%v", m.Name, e.At.Sub(since).Round(time.Millisecond)))
		}
	}
	return out
}

// arrivals returns every arrival of the VIP on any master in [since,
// until), in order: how often it moved (a flap is two).
func (r *kaRun) arrivals(since, until time.Time) []string {
	type arr struct {
		at time.Time
		m  string
	}
	var as []arr
	for i, m := range r.c.Masters {
		for _, e := range r.watch[i].since(since) {
			if e.Add && e.Addr == r.c.VIP && e.At.Before(until) {
				as = append(as, arr{e.At, m.Name})
			}
		}
	}
	sort.Slice(as, func(i, j int) bool { return as[i].at.Before(as[j].at) })
	var out []string
	for _, a := range as {
		out = append(out, fmt.Sprintf("%s at +%v", a.m, a.at.Sub(since).Round(100*time.Millisecond)))
	}
	return out
}

// figure records a scenario's figure.
func (r *kaRun) figure(name, what string, outage time.Duration, since, until time.Time) {
	r.figs[name] = kaFigure{Outage: outage, Moves: r.arrivals(since, until), What: what}
}

// masterAdverts returns the adverts sent since t by masters other than
// except: a backup that stays a backup sends none.
func (r *kaRun) masterAdverts(since time.Time, except *kubeadmMaster) []wireAdvert {
	var out []wireAdvert
	for _, a := range r.sniff.Since(since) {
		if a.VRID == kaVRID && a.Host != except.Node.Name {
			out = append(out, a)
		}
	}
	return out
}

// vipdLog returns master m's vipd container log lines since t (all its
// containers' logs: a restart is a new file).
func (r *kaRun) vipdLog(m *kubeadmMaster, since time.Time) string {
	files, _ := filepath.Glob(filepath.Join(m.dir, "var-log", "pods", "kube-system_vipd-"+m.Name+"_*", "vipd", "*.log"))
	var lines []string
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(fh)
		for sc.Scan() {
			line := sc.Text()
			ts, rest, _ := strings.Cut(line, " ")
			at, err := time.Parse(time.RFC3339Nano, ts)
			if err != nil || at.Before(since) {
				continue
			}
			// "<time> stdout F <text>"
			if f := strings.SplitN(rest, " ", 3); len(f) == 3 {
				rest = f[2]
			}
			lines = append(lines, at.Local().Format("15:04:05.000")+" "+rest)
		}
		fh.Close()
	}
	slices.Sort(lines)
	return strings.Join(lines, "\n")
}

// logVipd logs every master's daemon log since t and its status, for the
// report, when the scenario failed.
func (r *kaRun) logVipd(since time.Time) {
	if !r.failed {
		return
	}
	for _, m := range r.c.Masters {
		r.t.Logf("--- %s %s log since %s ---\n%s", m.Name, r.d.Name(), since.Format("15:04:05.000"), r.d.Log(r, m, since))
	}
}

// checksDown returns how many masters' apiserver checks are known down, and
// a summary.
func (r *kaRun) checksDown(ms []*kubeadmMaster) (int, string) {
	var msg []string
	down := 0
	for _, m := range ms {
		st, err := r.d.Status(r, m)
		if err == nil && st.CheckKnown && !st.CheckUp {
			down++
		}
		msg = append(msg, fmt.Sprintf("%s %s %d check up %v", m.Name, st.State, st.Priority, st.CheckIsUp()))
	}
	return down, strings.Join(msg, "; ")
}

// ---- scenarios ----

// apiserverOnly: the holder's kube-apiserver manifest is removed; the VIP
// daemon lives. The check goes down after at most its fall; with vipd the
// holder then advertises a priority below every healthy master (the
// apiserver check is a tier check), and the healthy master of highest
// priority, with preemption, takes over when its Master_Down_Timer fires
// (RFC 9568 §6.4.2), after a fresh probe of its own checks:
// fall × interval + Master_Down_Interval.
func (r *kaRun) apiserverOnly() {
	t, c := r.t, r.c
	h, next := c.Masters[0], c.Masters[1]
	mdi := kaMasterDown(r.d.Effective(next.Priority, true))
	bound := r.d.CheckFall() + mdi + kaMargin
	wait := max(45*time.Second, bound+15*time.Second)
	p := c.StartProbe()
	waitFor(t, 10*time.Second, "API answering", func() (bool, string) { return p.StableFor(500 * time.Millisecond), "" })
	t0 := time.Now()
	h.MoveAway("kube-apiserver")
	var moved kvAddrEvent
	_, ok := poll(wait, func() (bool, string) {
		var ok bool
		moved, ok = r.watch[1].first(t0, true, c.VIP)
		if !ok {
			moved, ok = r.watch[2].first(t0, true, c.VIP)
		}
		return ok && p.StableFor(time.Second), ""
	})
	out := p.Stop()
	end := time.Now()
	st, _ := r.d.Status(r, h)
	var cause string
	if st.CheckKnown {
		cause = fmt.Sprintf("check up %v", st.CheckUp)
		if !st.CheckSince.IsZero() {
			cause += fmt.Sprintf(" since +%v", st.CheckSince.Sub(t0).Round(time.Millisecond))
		}
		if st.CheckCause != "" {
			cause += " (" + st.CheckCause + ")"
		}
	}
	r.figure("apiserver", "API outage after the holder's kube-apiserver stopped", out.Longest, t0, end)
	switch {
	case !ok:
		r.errorf("apiserver-only: the VIP stayed on %s (no apiserver, effective priority %d, %s) for %v; holders %v; API %v",
			h.Name, st.Priority, cause, wait, kaNames(c.Holders()), out)
		r.logVipd(t0)
	default:
		t.Logf("FIGURE apiserver-only: API outage %v; VIP on a healthy master at +%v; %s: %s, effective priority %d (bound %v = check fall %v + Master_Down_Interval %v + %v)",
			out.Longest.Round(time.Millisecond), moved.At.Sub(t0).Round(time.Millisecond), h.Name, cause, st.Priority,
			bound, r.d.CheckFall(), mdi, kaMargin)
		t.Logf("apiserver-only: client %v", out)
		if out.Longest > bound {
			r.errorf("apiserver-only: API outage %v through the VIP; want at most %v (check fall %v + Master_Down_Interval %v + %v)",
				out.Longest.Round(time.Millisecond), bound, r.d.CheckFall(), mdi, kaMargin)
			r.logVipd(t0)
		}
	}
	if hs := c.Holders(); slices.Contains(hs, h) {
		r.errorf("apiserver-only: %s, without an apiserver, still has the VIP (holders %v)", h.Name, kaNames(hs))
	}

	// The apiserver back: once the check rises the VIP comes back to the
	// highest priority by preemption.
	p = c.StartProbe()
	own := c.StartProbeTo(h)
	t1 := time.Now()
	h.Restore("kube-apiserver")
	r.settle(h, c.Masters)
	out = p.Stop()
	own.Stop()
	r.figure("apiserver restore", "API outage while the VIP came back after the apiserver returned", out.Longest, t1, time.Now())
	if back, ok := r.watch[0].first(t1, true, c.VIP); ok {
		ready := own.FirstOKAfter(t1)
		r.note("apiserver-only restore: %s's apiserver answered /readyz at its own address at +%v; the VIP back on it at +%v (check rise, then preemption)",
			h.Name, ready.Sub(t1).Round(time.Millisecond), back.At.Sub(t1).Round(time.Millisecond))
		t.Logf("FIGURE apiserver-only restore: VIP back on %s at +%v (its apiserver ready at +%v; check rise, then preemption); API outage during the hand-back %v",
			h.Name, back.At.Sub(t1).Round(time.Millisecond), ready.Sub(t1).Round(time.Millisecond), out.Longest.Round(time.Millisecond))
	} else {
		t.Logf("apiserver-only restore: the VIP never left %s; API back %v after the manifest", h.Name, out.Longest.Round(time.Millisecond))
	}
}

// etcdQuorum: etcd stopped on both backups, so the holder's etcd loses
// quorum and every apiserver fails its health endpoints. The VIP must not
// move or flap, neither while quorum is lost nor when it returns. The
// figure is the time from quorum's return to the API answering through the
// VIP.
func (r *kaRun) etcdQuorum() {
	t, c := r.t, r.c
	h := c.Masters[0]
	p := c.StartProbe()
	waitFor(t, 10*time.Second, "API answering", func() (bool, string) { return p.StableFor(500 * time.Millisecond), "" })
	t0 := time.Now()
	for _, m := range c.Masters[1:] {
		m.MoveAway("etcd")
	}
	// Every apiserver check goes down (each at its own moment).
	wait := max(time.Minute, r.d.CheckFall()+20*time.Second)
	if msg, ok := poll(wait, func() (bool, string) {
		n, msg := r.checksDown(c.Masters)
		return n == len(c.Masters), msg
	}); !ok {
		r.errorf("etcd-quorum: with quorum lost for %v not every apiserver check is down: %s", wait, msg)
	}
	allDown := time.Now()
	var downs []string
	for _, m := range c.Masters {
		if st, err := r.d.Status(r, m); err == nil && st.CheckKnown && !st.CheckUp {
			at := "down"
			if !st.CheckSince.IsZero() {
				at = fmt.Sprintf("down at +%v", st.CheckSince.Sub(t0).Round(time.Millisecond))
			}
			downs = append(downs, m.Name+" "+at)
		}
	}
	// Some time with every check down, then quorum back.
	time.Sleep(5 * time.Second) // a fixed hold with quorum lost is the scenario itself, not a wait for a condition
	lostMoves, lostAdverts := r.moves(t0, h), r.masterAdverts(t0, h)
	lostArrivals := r.arrivals(t0, time.Now())
	// Each apiserver probed at its own address as well: when the first
	// one is ready again is the control plane's recovery, the rest the VIP's.
	var direct []*apiProbe
	for _, m := range c.Masters {
		direct = append(direct, c.StartProbeTo(m))
	}
	t1 := time.Now()
	for _, m := range c.Masters[1:] {
		m.Restore("etcd")
	}
	if _, ok := poll(2*time.Minute, func() (bool, string) { return p.StableFor(2 * time.Second), "" }); !ok {
		r.errorf("etcd-quorum: the API did not answer through the VIP for 2 s in a row within 2 minutes of quorum's return")
	}
	apiBack := p.FirstOKAfter(t1)
	// Recovery: every check up again (rise), and a little longer.
	if msg, ok := poll(time.Minute, func() (bool, string) {
		n, msg := r.checksDown(c.Masters)
		up := 0
		for _, m := range c.Masters {
			if st, err := r.d.Status(r, m); err == nil && st.CheckIsUp() {
				up++
			}
		}
		return n == 0 && up == len(c.Masters), msg
	}); !ok {
		r.errorf("etcd-quorum: a minute after quorum returned not every apiserver check is up: %s", msg)
	}
	if _, ok := poll(10*time.Second, func() (bool, string) {
		n := 0
		for _, a := range r.sniff.Since(time.Now().Add(-4 * time.Second)) {
			if a.Host == h.Node.Name && a.VRID == kaVRID {
				n++
			}
		}
		return n >= 3, ""
	}); !ok {
		r.errorf("etcd-quorum: %s sent fewer than 3 adverts in 4 s after every check came up: it is not the master", h.Name)
	}
	out := p.Stop()
	end := time.Now()
	backAfter := apiBack.Sub(t1)
	if apiBack.IsZero() {
		backAfter = end.Sub(t1)
	}
	var firstReady time.Time
	var readies []string
	for i, dp := range direct {
		dp.Stop()
		if at := dp.FirstOKAfter(t1); !at.IsZero() {
			readies = append(readies, fmt.Sprintf("%s +%v", c.Masters[i].Name, at.Sub(t1).Round(time.Millisecond)))
			if firstReady.IsZero() || at.Before(firstReady) {
				firstReady = at
			}
		}
	}
	r.figure("etcd", "API back through the VIP after etcd quorum returned", backAfter, t0, end)
	if !firstReady.IsZero() {
		// What the VIP adds to the control plane's own recovery.
		r.figure("etcd vip", "API back through the VIP after the first apiserver answered at its own address", max(0, apiBack.Sub(firstReady)), t1, end)
	}
	r.note("etcd quorum: after quorum returned, the apiservers answered /readyz at their own addresses at %s; through the VIP at +%v",
		strings.Join(readies, ", "), backAfter.Round(time.Millisecond))
	r.note("etcd quorum: apiserver checks went down %s; quorum lost for %v; VIP arrivals while lost %v, after %v",
		strings.Join(downs, ", "), t1.Sub(t0).Round(100*time.Millisecond), lostArrivals, r.arrivals(t1, end))
	t.Logf("FIGURE etcd-quorum: checks went down %s; all down %v after etcd stopped; quorum lost %v; API back through the VIP %v after etcd restarted; VIP arrivals %v; client %v",
		strings.Join(downs, ", "), allDown.Sub(t0).Round(time.Millisecond), t1.Sub(t0).Round(time.Millisecond),
		backAfter.Round(time.Millisecond), r.arrivals(t0, end), out)
	if len(lostMoves) > 0 || len(lostAdverts) > 0 {
		r.errorf("etcd-quorum: with quorum lost the VIP moved: %v (adverts from %d backups' masters)", lostArrivals, len(lostAdverts))
	}
	if mv, ad := r.moves(t1, h), r.masterAdverts(t1, h); len(mv) > 0 || len(ad) > 0 {
		r.errorf("etcd-quorum: when quorum returned the VIP moved: %v (%d adverts from other masters)", r.arrivals(t1, end), len(ad))
	}
	if _, ok := r.watch[0].first(t0, false, c.VIP); ok {
		r.errorf("etcd-quorum: the VIP left %s", h.Name)
	}
	r.logVipd(t0)
	r.settle(h, c.Masters)
}

// crashAndReboot: every process of the holder killed and its link down (the
// API back within the backup's Master_Down_Interval), then the master boots:
// link up, containerd and the kubelet, which starts the static pods (and the
// VIP daemon, as its service would). It must clean the VIP the crash left
// and rejoin without flapping the holder (one move back, by preemption, once
// its apiserver is up).
func (r *kaRun) crashAndReboot() {
	t, c := r.t, r.c
	h, next := c.Masters[0], c.Masters[1]
	mdi := kaMasterDown(r.d.Effective(next.Priority, true))
	bound := mdi + kaMargin
	p := c.StartProbe()
	waitFor(t, 10*time.Second, "API answering", func() (bool, string) { return p.StableFor(500 * time.Millisecond), "" })
	t0 := time.Now()
	h.Crash()
	var moved kvAddrEvent
	waitFor(t, 30*time.Second, "the VIP on m2 and the API answering", func() (bool, string) {
		var ok bool
		moved, ok = r.watch[1].first(t0, true, c.VIP)
		return ok && p.StableFor(time.Second), ""
	})
	out := p.Stop()
	r.figure("crash", "API outage after the holder crashed", out.Longest, t0, time.Now())
	t.Logf("FIGURE crash: API outage %v; VIP on %s at +%v (bound Master_Down_Interval %v + %v); client %v",
		out.Longest.Round(time.Millisecond), next.Name, moved.At.Sub(t0).Round(time.Millisecond), mdi, kaMargin, out)
	// The outage depends on the phase of the advert cycle the crash hit: the
	// backup's timer started at the holder's last advert.
	var last time.Time
	for _, a := range r.sniff.Since(t0.Add(-3 * kaInterval)) {
		// Once Crash returned the holder could not send: its last advert
		// is the last one seen, with no filter on t0 (a sniffer's stamp
		// can land after t0 for an advert sent before it).
		if a.Host == h.Node.Name && a.VRID == kaVRID {
			last = a.At
		}
	}
	if !last.IsZero() {
		r.figure("crash phase", "API outage after the crash counted from the holder's last advert", out.Longest+t0.Sub(last), t0, time.Now())
		r.note("crash: the holder's last advert came %v before the crash; API outage %v, %v from that advert (Master_Down_Interval %v)",
			t0.Sub(last).Round(time.Millisecond), out.Longest.Round(time.Millisecond), (out.Longest + t0.Sub(last)).Round(time.Millisecond), mdi)
	}
	if out.Longest > bound {
		r.errorf("crash: API outage %v through the VIP; want at most Master_Down_Interval %v + %v", out.Longest.Round(time.Millisecond), mdi, kaMargin)
		r.logVipd(t0)
	}
	if mv := r.moves(t0, h); len(mv) != 1 {
		r.errorf("crash: the VIP went to %v; want m2 only", mv)
	}

	// The reboot.
	stale := h.Node.HasAddr(c.VIP)
	p = c.StartProbe()
	t1 := time.Now()
	h.Boot()
	r.d.Booted(r, h)
	var up time.Time
	waitFor(t, 2*time.Minute, h.Name+"'s "+r.d.Name()+" back", func() (bool, string) {
		st, err := r.d.Status(r, h)
		if err == nil && up.IsZero() {
			up = time.Now()
		}
		return err == nil, fmt.Sprint(st.State, err)
	})
	// No stale VIP: gone before the rebooted daemon could legitimately be master.
	cleaned, ok := r.watch[0].first(t1, false, c.VIP)
	if stale {
		_, ok2 := poll(10*time.Second, func() (bool, string) {
			cleaned, ok = r.watch[0].first(t1, false, c.VIP)
			return ok, ""
		})
		ok = ok && ok2
		if !ok {
			st, _ := r.d.Status(r, h)
			r.errorf("reboot: the VIP the crash left on %s is still there 10 s after its %s started (%s)", h.Name, r.d.Name(), st.State)
		}
	}
	r.settle(h, c.Masters)
	out = p.Stop()
	end := time.Now()
	r.figure("reboot", "API outage while the rebooted master rejoined and took the VIP back", out.Longest, t1, end)
	back, _ := r.watch[0].first(t1, true, c.VIP)
	staleNote := "no stale VIP after the crash"
	if stale {
		staleNote = fmt.Sprintf("the crash left the VIP on %s", h.Name)
		if ok {
			staleNote += fmt.Sprintf("; removed at +%v", cleaned.At.Sub(t1).Round(time.Millisecond))
		}
	}
	t.Logf("FIGURE reboot: %s; %s answering at +%v; VIP back on %s at +%v; API outage during the hand-back %v; VIP arrivals %v",
		staleNote, r.d.Name(), up.Sub(t1).Round(time.Millisecond), h.Name, back.At.Sub(t1).Round(time.Millisecond), out.Longest.Round(time.Millisecond),
		r.arrivals(t1, end))
	// Without flapping: after the boot, m2 held the VIP until the rebooted
	// master preempted once; no other master took it, m1 took it once.
	if mv := r.moves(t1, h); len(mv) > 0 {
		r.errorf("reboot: the VIP went to %v while %s rebooted", r.arrivals(t1, end), h.Name)
	}
	var adds, dels int
	for _, e := range r.watch[1].since(t1) {
		if e.Addr == c.VIP && !e.Add {
			dels++
		}
	}
	for _, e := range r.watch[0].since(t1) {
		if e.Addr == c.VIP && e.Add {
			adds++
		}
	}
	if adds != 1 || dels != 1 {
		r.errorf("reboot: VIP added %d times on %s and removed %d times from %s; want once each (one preemption)", adds, h.Name, dels, next.Name)
	}
	r.logVipd(t1)
}

// planned: the vipd manifest rewritten on each master in turn, backups first,
// as a vipd upgrade (or what `kubeadm upgrade` does to static pods) does: the
// kubelet stops each old pod (SIGTERM: a zero-loss hand-off when it holds the
// VIP) and starts the new one, which listens first and, on the holder,
// preempts back (make before break).
//
// Two clients watch it. The API probe (HTTPS /readyz every 10 ms) must see
// no failed request; its longest time between answers is the apiserver's
// own latency on this host as much as the VIP's, and is bounded loosely.
// The L4 probe (plannedProber, a UDP probe every 5 ms answered by a
// responder in whichever master's namespace holds the VIP, the apiserver
// out of it) measures the move itself: over the roll no probe is lost or
// answered twice, and the longest time without an answer (less the
// client's own send stalls) is at most issue 9's 20 ms above the longest
// the client sees anyway, its baseline: a quiet window before the roll and
// the backups' steps, in which the VIP does not move.
func (r *kaRun) planned() {
	r.vipdOnly("planned")
	t, c := r.t, r.c
	const bound = 250 * time.Millisecond // the API probe: a reconnect through the VIP, on a loaded 2-core host
	h := c.Masters[0]
	p := c.StartProbe()
	waitFor(t, 10*time.Second, "API answering", func() (bool, string) { return p.StableFor(500 * time.Millisecond), "" })
	l4 := plannedProber(t, c.l, c.VIP, h.Node.Name)
	b0 := time.Now()
	time.Sleep(kaPlannedBaseline) // the baseline is a window of time, not a wait for a condition

	// The windows are read once the probe has stopped: reading one holds
	// the prober's lock for a time that grows with the window's square
	// (seconds for a minute of 5 ms probes), and a blocked prober neither
	// sends nor reads its answers.
	t0 := time.Now()
	spans := map[string][2]time.Time{}
	for _, m := range []*kubeadmMaster{c.Masters[2], c.Masters[1], c.Masters[0]} {
		before, _ := r.status(m)
		step := time.Now()
		m.WriteFile(kaManifest("vipd"), r.manifest(m, "--garp-refresh=0s"), 0o600)
		t.Logf("kubeadm: %s: rewrote the vipd manifest", m.Name)
		waitFor(t, 2*time.Minute, m.Name+"'s new vipd pod running", func() (bool, string) {
			st, err := r.status(m)
			return err == nil && st.Since.After(before.Since) && (st.State == "BACKUP" || st.State == "MASTER"), fmt.Sprint(st.State, err)
		})
		r.settle(h, c.Masters)
		waitFor(t, 10*time.Second, "L4 client answered by "+h.Node.Name+" alone", func() (bool, string) {
			host, _ := l4.LastHost()
			return l4.StableOn(h.Node.Name, 300*time.Millisecond), "last answer from " + host
		})
		spans[m.Name] = [2]time.Time{step, time.Now()}
	}
	end := time.Now()
	l4.Stop()
	out := p.Stop()
	base := l4.window(b0, t0)
	t.Logf("planned: L4 baseline over %v before the roll: %v", t0.Sub(b0).Round(time.Second), base)
	if base.Lost > 0 || !slices.Equal(base.Hosts, []string{h.Node.Name}) {
		r.errorf("planned: before the roll %d L4 probes were lost, answers from %v; want none lost, %s alone", base.Lost, base.Hosts, h.Node.Name)
	}
	steps := map[string]move{}
	for _, m := range c.Masters {
		steps[m.Name] = l4.window(spans[m.Name][0], spans[m.Name][1])
		t.Logf("planned: %s's step, L4: %v", m.Name, steps[m.Name])
	}
	roll := l4.window(t0, end)
	// The client's own: the quiet window and the steps with no move.
	noise := base.NetGap
	for _, m := range c.Masters[1:] {
		noise = max(noise, steps[m.Name].NetGap)
		if s := steps[m.Name]; s.Lost > 0 || !slices.Equal(s.Hosts, []string{h.Node.Name}) {
			r.errorf("planned: %s's step (a backup): %d L4 probes lost, answers from %v; want none lost, %s alone", m.Name, s.Lost, s.Hosts, h.Node.Name)
		}
	}
	// The noise allowance is capped: above kaNoiseCap the client's own
	// stalls on this host are as long as the move it measures, and the
	// run cannot judge the 20 ms; it then judges only on zero loss.
	limit := plannedGap + noise
	inconclusive := noise > kaNoiseCap
	t.Logf("FIGURE planned: the vipd manifest rewritten on m3, m2, m1 in %v; L4 (UDP every %v through the VIP): longest gap over the roll %v, "+
		"baseline %v (quiet %v, m3's step %v, m2's step %v; cap %v), m1's step (two moves) %v, limit %v; %d of %d L4 probes lost, %d answered twice; "+
		"API: longest gap %v (bound %v), %d failed; client %v",
		time.Since(t0).Round(time.Second), plannedProbe, roll.NetGap.Round(100*time.Microsecond),
		noise.Round(100*time.Microsecond), base.NetGap.Round(100*time.Microsecond), steps["m3"].NetGap.Round(100*time.Microsecond),
		steps["m2"].NetGap.Round(100*time.Microsecond), kaNoiseCap, steps["m1"].NetGap.Round(100*time.Microsecond), limit.Round(100*time.Microsecond),
		roll.Lost, roll.Sent, roll.Dups, out.Longest.Round(time.Millisecond), bound, out.Failed, out)
	t.Logf("planned: L4 over the roll: %v", roll)
	if roll.Lost > 0 || roll.Dups > 0 {
		r.errorf("planned: %d L4 probes lost, %d answered twice over the roll; a planned move loses none. %v", roll.Lost, roll.Dups, roll)
	}
	if inconclusive {
		t.Logf("planned: inconclusive: client noise %v > cap %v: the 20 ms is not judged on this run, only zero lost probes and zero failed requests (longest gap over the roll %v)",
			noise.Round(100*time.Microsecond), kaNoiseCap, roll.NetGap.Round(100*time.Microsecond))
		r.note("planned: inconclusive: client noise %v > cap %v; judged on zero loss only", noise.Round(100*time.Microsecond), kaNoiseCap)
	} else if roll.NetGap > limit {
		r.errorf("planned: the L4 client went %v without an answer over the roll (from %s); want at most %v (%v above its baseline %v). %v",
			roll.NetGap.Round(100*time.Microsecond), roll.GapAt.Format("15:04:05.000"), limit, plannedGap, noise.Round(100*time.Microsecond), roll)
	}
	// The runs in send order: each master's responder is its own
	// goroutine, so at a switch the answers can arrive out of order.
	if hs := l4.hostsBySeq(spans["m1"][0], spans["m1"][1]); !slices.Equal(hs, []string{c.Masters[0].Node.Name, c.Masters[1].Node.Name, c.Masters[0].Node.Name}) {
		r.errorf("planned: over m1's step the VIP answered from %v; want m1's host, m2's (the hand-off), m1's (the preemption back)", hs)
	}
	// Zero loss through the apiserver too: not one request failed.
	if out.Failed > 0 {
		r.errorf("planned: %d requests through the VIP failed over the roll (%v); a planned move loses none", out.Failed, out.FailReasons)
	}
	if out.Longest > bound {
		r.errorf("planned: API outage %v over the roll; want at most %v", out.Longest.Round(time.Millisecond), bound)
	}
	r.logVipd(t0)
}

// kaNoiseCap caps the client noise planned allows for above plannedGap.
const kaNoiseCap = plannedGap

// hostsBySeq is the runs of answering hosts among the probes sent between
// from and to, in the probes' send order (Seq) rather than the answers'
// arrival order.
func (p *prober) hostsBySeq(from, to time.Time) []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var as []probeAnswer
	for _, a := range p.answers {
		if !a.Sent.Before(from) && !a.Sent.After(to) {
			as = append(as, a)
		}
	}
	slices.SortStableFunc(as, func(a, b probeAnswer) int { return cmp.Compare(a.Seq, b.Seq) })
	var hosts []string
	for _, a := range as {
		if n := len(hosts); n == 0 || hosts[n-1] != a.Host {
			hosts = append(hosts, a.Host)
		}
	}
	return hosts
}

// reset: `kubeadm reset` on the holder, the documented way: kubeadm stops
// the kubelet and then kills the pods' containers (SIGKILL, through the
// container runtime), which no daemon can hand off from; so the operator
// first moves vipd's manifest out of /etc/kubernetes/manifests, the kubelet
// stops the pod with SIGTERM, vipd hands off with zero loss, and only then
// kubeadm reset runs. No VIP may be left behind.
func (r *kaRun) reset() {
	r.vipdOnly("reset")
	t, c := r.t, r.c
	h, next := c.Masters[0], c.Masters[1]
	bound := kaMargin
	p := c.StartProbe()
	waitFor(t, 10*time.Second, "API answering", func() (bool, string) { return p.StableFor(500 * time.Millisecond), "" })
	t0 := time.Now()
	h.MoveAway("vipd")
	waitFor(t, 30*time.Second, "the VIP handed off to "+next.Name, func() (bool, string) {
		_, ok := r.watch[1].first(t0, true, c.VIP)
		return ok && !h.Node.HasAddr(c.VIP), ""
	})
	h.StopKubelet()
	out, took := h.Kubeadm(false, "reset", "--force", "--cri-socket", kaCRISocket)
	waitFor(t, 30*time.Second, "the VIP on "+next.Name+" and the API answering", func() (bool, string) {
		_, ok := r.watch[1].first(t0, true, c.VIP)
		return ok && p.StableFor(time.Second), ""
	})
	api := p.Stop()
	var zero *wireAdvert
	for _, a := range r.sniff.Since(t0) {
		if a.Host == h.Node.Name && a.VRID == kaVRID && a.Priority == 0 {
			zero = &a
			break
		}
	}
	moved, _ := r.watch[1].first(t0, true, c.VIP)
	t.Logf("FIGURE reset: manifest moved away, then kubeadm reset (took %v); priority-0 advert from %s: %v; VIP on %s at +%v; API outage %v (bound %v: a zero-loss hand-off); client %v",
		took.Round(100*time.Millisecond), h.Name, zero != nil, next.Name, moved.At.Sub(t0).Round(time.Millisecond),
		api.Longest.Round(time.Millisecond), kaMargin, api)
	if zero == nil {
		r.errorf("reset: vipd on %s sent no priority-0 advert: it did not hand off (killed rather than stopped?)", h.Name)
	}
	if api.Longest > bound {
		r.errorf("reset: API outage %v; want at most %v (a zero-loss hand-off)", api.Longest.Round(time.Millisecond), kaMargin)
	}
	if h.Node.HasAddr(c.VIP) {
		r.errorf("reset: %s still has the VIP after kubeadm reset: two hosts answer for it", h.Name)
	}
	if hs := c.Holders(); len(hs) != 1 || hs[0] != next {
		r.errorf("reset: holders %v; want %s alone", kaNames(hs), next.Name)
	}
	if left, _ := h.Sh("", `ls -A /etc/kubernetes/manifests 2>/dev/null || true`); strings.TrimSpace(left) != "" {
		r.errorf("reset: %s's manifests directory still holds %q", h.Name, left)
	}
	if !strings.Contains(out, "[reset]") {
		r.errorf("reset: kubeadm reset printed no [reset] phase:\n%s", out)
	}
	r.logVipd(t0)
	// The cluster goes on with two masters, through the VIP.
	waitFor(t, time.Minute, "the API through the VIP from m2", func() (bool, string) {
		out, err := next.Kubectl("get", "--raw", "/readyz")
		return err == nil && strings.TrimSpace(out) == "ok", out
	})
}

// hygiene: no secret in any log; the host's paths untouched.
func (r *kaRun) hygiene() {
	t := r.t
	if hits := r.c.LogsWithSecret(); len(hits) > 0 {
		t.Errorf("the bootstrap token or the certificate key appears in %v", hits)
	}
	for _, p := range []string{"/etc/kubernetes", "/var/lib/kubelet", "/var/lib/etcd", "/run/vipd"} {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("the host's %s exists: a master wrote outside its mount namespace", p)
		}
	}
	// Compared with before rather than required absent: an earlier run
	// (before the flexvolume directory moved under /var/lib/kubelet) made it.
	if _, err := os.Stat("/usr/libexec/kubernetes"); err == nil && !r.hostLibexec {
		t.Errorf("the host's /usr/libexec/kubernetes was created by the test: a master's flexvolume directory is outside its mount namespace")
	}
	if got := kaListDir("/run/containerd"); !slices.Equal(got, r.hostRC) {
		t.Errorf("the host's /run/containerd changed: %v, was %v", got, r.hostRC)
	}
}

func kaListDir(dir string) []string {
	ents, _ := os.ReadDir(dir)
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

func kaNames(ms []*kubeadmMaster) []string {
	var n []string
	for _, m := range ms {
		n = append(n, m.Name)
	}
	return n
}

// since returns the address events at or after t.
func (w *kvAddrWatch) since(t time.Time) []kvAddrEvent {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []kvAddrEvent
	for _, e := range w.events {
		if !e.At.Before(t) {
			out = append(out, e)
		}
	}
	return out
}
