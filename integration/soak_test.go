//go:build integration

package integration

// TestSoak is a chaos soak: three vipd (priorities 150/100/50, preempt on)
// on one bridge, a client probing the VIP, and faults injected at random, one
// at a time, from a printed seed. A monitor polls every 20 ms which
// namespaces hold the VIP (rtnetlink dump inside each one) and when the
// client last got an answer, and checks:
//
//   - double holder: never two nodes holding the VIP (vipd running, link up)
//     for longer than one advert interval plus a margin, outside partition
//     and loss windows (RFC 9568 §6.4.3: a Master that hears a better Master
//     steps down at its next advert);
//   - no holder: never none for longer than Master_Down_Interval plus a
//     margin while a healthy router (vipd running, link up) exists
//     (RFC 9568 §6.1: Master_Down_Interval = 3 × Advertisement_Interval +
//     Skew_Time);
//   - client gap: the client is never without an answer for longer than
//     that, outside partition and all-traffic loss windows;
//   - after every fault, within a settle time: exactly one holder, the
//     highest-priority healthy node, and the client answered by it
//     (preempt on); a failure is recorded, then repaired (restart, flush the
//     client's neighbour entry) so the soak goes on;
//   - at the end, after a quiet period: exactly one holder, h0; no VIP on any
//     other namespace; no "panic" in any vipd log; every SIGTERM exited 0.
//
// Run (default 2 minutes inside the suite):
//
//	make soak                          # 10 minutes
//	SOAK=1h make soak                  # longer
//	SOAK_KINDS=kill9,sigterm make soak # a subset of fault kinds
//	go test -tags integration ./integration/ -run '^TestSoak$' -v \
//	    -soak-duration=5m -soak-seed=42 -soak-kinds=flap,recreate
//
// The same seed, duration and kinds give the same sequence of faults.

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var (
	soakDuration = flag.Duration("soak-duration", 2*time.Minute, "how long TestSoak injects faults (make soak: 10m, SOAK=1h)")
	soakSeed     = flag.Uint64("soak-seed", 0, "seed of TestSoak's faults (0: from the clock); printed at the start")
	soakKinds    = flag.String("soak-kinds", "", "fault kinds TestSoak injects, comma separated (default all: "+strings.Join(soakAllKinds, ",")+")")
	soakInterval = flag.Duration("soak-interval", 100*time.Millisecond, "advertisement interval of TestSoak's vipd")
)

// Fault kinds.
const (
	soakKill9     = "kill9"     // SIGKILL, supervisor restart after a short delay
	soakCrash     = "crash"     // SIGKILL and cable cut; cable back, restart
	soakSigterm   = "sigterm"   // SIGTERM (must exit 0), restart
	soakFlap      = "flap"      // link down (admin or carrier) for a while
	soakLoss      = "loss"      // 20 % random drop on every node (VRRP or all)
	soakPartition = "partition" // one node's VRRP (protocol 112) dropped
	soakRecreate  = "recreate"  // eth0 deleted, recreated with name and address
	soakMAC       = "mac"       // eth0's MAC changed in place
	soakRepair    = "repair"    // not a fault: the soak's own recovery
)

var soakAllKinds = []string{soakKill9, soakCrash, soakSigterm, soakFlap, soakLoss, soakPartition, soakRecreate, soakMAC}

const (
	soakVRID     = 51
	soakPoll     = 20 * time.Millisecond
	soakLossPct  = 20
	soakNftTable = "vtsoak"
)

var soakPrios = []int{150, 100, 50}

// soakNode is one vipd host as the soak sees it.
type soakNode struct {
	idx, prio    int
	v            *vipd // nil while stopped
	running      bool
	linkDown     bool
	healthySince time.Time
	startedAt    time.Time
	present      bool // VIP on it at the last poll
}

// soakEvent is one line of the event log.
type soakEvent struct {
	at   time.Time
	kind string // a fault kind, "monitor", "violation", ...
	msg  string
}

// soakViolation is a broken invariant.
type soakViolation struct {
	at    time.Time
	check string
	fault int // index into faults of the fault in progress or last injected
	msg   string
}

// soakFault is one injected fault.
type soakFault struct {
	kind, detail string
	start, end   time.Time // end: when the fault was undone (restart, restore)
	settled      time.Duration
	converged    bool
}

// soakExcuse is a window in which a check does not apply.
type soakExcuse struct {
	from, to time.Time // to zero while open
	double   bool
	gap      bool
}

type soak struct {
	t        *testing.T
	l        *lab
	rng      *rand.Rand
	seed     uint64
	interval time.Duration
	probe    *prober
	created  time.Time // when the soak was set up
	start    time.Time // when the faults began

	// Limits derived from the interval.
	masterDown  time.Duration // worst case, the lowest priority's
	doubleLimit time.Duration
	noneLimit   time.Duration
	gapLimit    time.Duration
	settle      time.Duration

	mu         sync.Mutex
	nodes      []*soakNode
	events     []soakEvent
	violations []soakViolation
	faults     []soakFault
	excuses    []soakExcuse
	logs       []string // every vipd log file
	sigterms   []string // "h0 pid 123: exit 0"
	badExits   []string

	// Monitor statistics.
	longestDouble, longestNone, longestGap time.Duration
	perKind                                map[string]*soakKindStats
}

type soakKindStats struct {
	n                                      int
	longestDouble, longestNone, longestGap time.Duration
	notConverged                           int
	worstSettle                            time.Duration
}

func TestSoak(t *testing.T) {
	kinds := soakAllKinds
	if *soakKinds != "" {
		kinds = nil
		for _, k := range strings.Split(*soakKinds, ",") {
			k = strings.TrimSpace(k)
			if !slices.Contains(soakAllKinds, k) {
				t.Fatalf("-soak-kinds: unknown kind %q; want some of %s", k, strings.Join(soakAllKinds, ","))
			}
			kinds = append(kinds, k)
		}
	}
	seed := *soakSeed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	iv := *soakInterval
	if iv < 10*time.Millisecond || iv > 10*time.Second {
		t.Fatalf("-soak-interval %v: want 10ms..10s", iv)
	}
	t.Logf("soak: seed %d (reproduce with -soak-seed=%d -soak-duration=%v -soak-kinds=%s -soak-interval=%v)",
		seed, seed, *soakDuration, strings.Join(kinds, ","), iv)

	l := newLab(t, len(soakPrios), withoutIPv6())
	s := &soak{
		t: t, l: l, seed: seed, interval: iv,
		rng:     rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		created: time.Now(),
		perKind: map[string]*soakKindStats{},
	}
	// RFC 9568 §6.1: Skew_Time = ((256 - Priority) × Advertisement_Interval) / 256.
	s.masterDown = 3*iv + time.Duration(256-soakPrios[len(soakPrios)-1])*iv/256
	margin := max(150*time.Millisecond, iv)
	s.doubleLimit = iv + margin
	s.noneLimit = s.masterDown + max(250*time.Millisecond, 2*iv)
	s.gapLimit = s.noneLimit + 2*probeInterval
	s.settle = max(3*time.Second, 8*s.masterDown)
	t.Logf("soak: limits: double holder %v, no holder %v, client gap %v, settle %v",
		s.doubleLimit, s.noneLimit, s.gapLimit, s.settle)

	for i, prio := range soakPrios {
		s.nodes = append(s.nodes, &soakNode{idx: i, prio: prio})
	}
	for i := range s.nodes {
		s.startVipd(i)
	}
	s.probe = l.startProber(l.VIP4)
	readers := make([]*addrReader, len(l.nodes()))
	for i, n := range l.nodes() {
		r, err := openAddrReader(n.NS)
		if err != nil {
			t.Fatal(err)
		}
		readers[i] = r
		l.onTeardown(r.Close)
	}
	if !s.waitConverged("start") {
		t.Fatalf("soak: never converged at the start; events:\n%s", s.eventLog(time.Time{}, time.Time{}))
	}

	s.start = time.Now()
	stop := make(chan struct{})
	monitorDone := make(chan struct{})
	go func() {
		defer close(monitorDone)
		s.monitor(readers[:len(s.nodes)], readers[len(s.nodes)], stop)
	}()
	l.onTeardown(func() {
		select {
		case <-stop:
		default:
			close(stop)
		}
		<-monitorDone
	})

	deadline := s.start.Add(*soakDuration)
	for time.Now().Before(deadline) {
		kind := kinds[s.rng.IntN(len(kinds))]
		s.inject(kind)
		s.afterFault()
		s.sleep(time.Duration(300+s.rng.IntN(1700)) * time.Millisecond)
	}

	// The end: a quiet period, then the final checks.
	s.logEvent("end", "faults over; quiet settle")
	converged := s.waitConverged("end")
	quiet := max(2*time.Second, 5*s.masterDown)
	if converged {
		s.sleep(quiet)
	}
	close(stop)
	<-monitorDone
	s.finalChecks(readers, converged)
	s.stopAll()
	s.report()
}

// ---- processes ----

func (s *soak) startVipd(i int) {
	s.t.Helper()
	n := s.nodes[i]
	v := vipdDaemon{}.Start(s.l, i, daemonConfig{
		VRID: soakVRID, Priority: n.prio, Interval: s.interval, Version: 3,
		VIP: s.l.VIP4, Preempt: true,
	}).(*vipd)
	now := time.Now()
	s.mu.Lock()
	n.v, n.running, n.startedAt = v, true, now
	if !n.linkDown {
		n.healthySince = now
	}
	s.logs = append(s.logs, s.l.LogPath(v.pid))
	s.mu.Unlock()
	s.logEvent("proc", fmt.Sprintf("h%d: vipd started, pid %d", i, v.pid))
}

// kill9 SIGKILLs node i's vipd and waits for it to go.
func (s *soak) kill9(i int) {
	s.t.Helper()
	n := s.nodes[i]
	s.mu.Lock()
	v := n.v
	n.running, n.v = false, nil
	s.mu.Unlock()
	if v == nil {
		return
	}
	if err := s.l.Kill(v.pid, syscall.SIGKILL); err != nil {
		s.t.Fatal(err)
	}
	if !s.l.WaitExit(v.pid, 5*time.Second) {
		s.t.Fatalf("soak: h%d vipd pid %d survived SIGKILL", i, v.pid)
	}
	s.logEvent("proc", fmt.Sprintf("h%d: vipd pid %d killed (SIGKILL)", i, v.pid))
}

// sigterm stops node i's vipd with SIGTERM and records its exit code.
func (s *soak) sigterm(i int) {
	s.t.Helper()
	n := s.nodes[i]
	s.mu.Lock()
	v := n.v
	s.mu.Unlock()
	if v == nil {
		return
	}
	if err := s.l.Kill(v.pid, syscall.SIGTERM); err != nil {
		s.t.Fatal(err)
	}
	exited := s.l.WaitExit(v.pid, 10*time.Second)
	s.mu.Lock()
	n.running, n.v = false, nil
	s.mu.Unlock()
	if !exited {
		s.violation("sigterm-exit", fmt.Sprintf("h%d vipd pid %d still running 10s after SIGTERM; killed", i, v.pid))
		_ = s.l.Kill(v.pid, syscall.SIGKILL)
		s.l.WaitExit(v.pid, 5*time.Second)
		return
	}
	code, _ := s.l.ExitCode(v.pid)
	line := fmt.Sprintf("h%d pid %d: exit %d", i, v.pid, code)
	s.mu.Lock()
	s.sigterms = append(s.sigterms, line)
	s.mu.Unlock()
	s.logEvent("proc", fmt.Sprintf("h%d: vipd pid %d exited on SIGTERM with %d", i, v.pid, code))
	if code != 0 {
		s.violation("sigterm-exit", "SIGTERM exit code not 0: "+line)
	}
}

// setLinkDown marks node i's link state for the monitor, before the change
// when going down and after it when coming up.
func (s *soak) setLinkDown(i int, down bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.nodes[i]
	n.linkDown = down
	if !down {
		n.healthySince = time.Now()
	}
}

// ---- faults ----

func (s *soak) delay(minMS, maxMS int) time.Duration {
	return time.Duration(minMS+s.rng.IntN(maxMS-minMS+1)) * time.Millisecond
}

func (s *soak) sleep(d time.Duration) { time.Sleep(d) }

// inject applies one fault of kind and undoes it; it returns when the
// fault is over (the node restarted, the link restored, the window closed).
func (s *soak) inject(kind string) {
	s.t.Helper()
	i := s.rng.IntN(len(s.nodes))
	f := soakFault{kind: kind, start: time.Now()}
	s.mu.Lock()
	s.faults = append(s.faults, f)
	fi := len(s.faults) - 1
	s.mu.Unlock()
	detail := func(d string) {
		s.mu.Lock()
		s.faults[fi].detail = d
		s.mu.Unlock()
		s.logEvent(kind, d)
	}
	switch kind {
	case soakKill9:
		d := s.delay(100, 1000)
		detail(fmt.Sprintf("h%d: SIGKILL, restart after %v", i, d))
		s.kill9(i)
		s.sleep(d)
		s.startVipd(i)
	case soakCrash:
		d := s.delay(300, 3000)
		detail(fmt.Sprintf("h%d: crash (SIGKILL + cable cut) for %v", i, d))
		s.setLinkDown(i, true)
		s.kill9(i)
		s.l.CutLink(i)
		s.sleep(d)
		s.l.RestoreLink(i)
		s.setLinkDown(i, false)
		s.startVipd(i)
	case soakSigterm:
		d := s.delay(100, 1000)
		detail(fmt.Sprintf("h%d: SIGTERM, restart after %v", i, d))
		s.sigterm(i)
		s.sleep(d)
		s.startVipd(i)
	case soakFlap:
		d := s.delay(200, 2000)
		if s.rng.IntN(2) == 0 {
			detail(fmt.Sprintf("h%d: eth0 admin down for %v", i, d))
			s.setLinkDown(i, true)
			s.l.LinkDown(i)
			s.sleep(d)
			s.l.LinkUp(i)
		} else {
			detail(fmt.Sprintf("h%d: carrier lost (bridge port down) for %v", i, d))
			s.setLinkDown(i, true)
			s.l.CutLink(i)
			s.sleep(d)
			s.l.RestoreLink(i)
		}
		s.setLinkDown(i, false)
	case soakLoss:
		d := s.delay(2000, 8000)
		all := s.rng.IntN(2) == 0
		what, match := "VRRP", "ip protocol 112 "
		if all {
			what, match = "all traffic", ""
		}
		detail(fmt.Sprintf("every node: %d%% of incoming %s dropped for %v", soakLossPct, what, d))
		x := s.openExcuse(true, all)
		for j := range s.nodes {
			s.nft(j, fmt.Sprintf("%snumgen random mod 100 < %d drop", match, soakLossPct), "")
		}
		s.sleep(d)
		for j := range s.nodes {
			s.nftClear(j)
		}
		s.closeExcuse(x)
	case soakPartition:
		d := s.delay(2000, 6000)
		detail(fmt.Sprintf("h%d: VRRP (protocol 112) dropped both ways for %v", i, d))
		x := s.openExcuse(true, true)
		s.nft(i, "ip protocol 112 drop", "ip protocol 112 drop")
		s.sleep(d)
		s.nftClear(i)
		s.closeExcuse(x)
	case soakRecreate:
		detail(fmt.Sprintf("h%d: eth0 deleted and recreated (same name and address, new ifindex and MAC)", i))
		s.setLinkDown(i, true)
		s.l.RecreateLink(i)
		s.setLinkDown(i, false)
	case soakMAC:
		mac := net.HardwareAddr{0x02, 0x5e, byte(s.rng.IntN(256)), byte(s.rng.IntN(256)), byte(s.rng.IntN(256)), byte(s.rng.IntN(256))}
		detail(fmt.Sprintf("h%d: eth0 address %s", i, mac))
		s.l.SetMAC(i, mac)
	default:
		s.t.Fatalf("soak: unknown fault kind %q", kind)
	}
	s.mu.Lock()
	s.faults[fi].end = time.Now()
	st := s.stats(kind)
	st.n++
	s.mu.Unlock()
}

// nft installs rules in node i's own namespace: in on the input hook, out
// on the output hook (either may be empty).
func (s *soak) nft(i int, in, out string) {
	s.t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "table inet %s {\n", soakNftTable)
	for _, c := range []struct{ name, hook, rule string }{{"in", "input", in}, {"out", "output", out}} {
		fmt.Fprintf(&b, " chain %s {\n  type filter hook %s priority 0; policy accept;\n  %s\n }\n", c.name, c.hook, c.rule)
	}
	b.WriteString("}\n")
	cmd := exec.Command("ip", "netns", "exec", s.l.host(i).NS, "nft", "-f", "-")
	cmd.Stdin = strings.NewReader(b.String())
	if o, err := cmd.CombinedOutput(); err != nil {
		s.t.Fatalf("soak: nft on h%d: %v: %s\n%s", i, err, o, b.String())
	}
}

func (s *soak) nftClear(i int) {
	s.t.Helper()
	s.l.Run("ip", "netns", "exec", s.l.host(i).NS, "nft", "delete", "table", "inet", soakNftTable)
}

// openExcuse starts a window in which the double-holder check (double)
// and the client-gap check (gap) do not apply.
func (s *soak) openExcuse(double, gap bool) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.excuses = append(s.excuses, soakExcuse{from: time.Now(), double: double, gap: gap})
	return len(s.excuses) - 1
}

// closeExcuse ends it after a grace of one limit: a Master that hears a
// better one steps down at its next advert.
func (s *soak) closeExcuse(x int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.excuses[x].to = time.Now().Add(s.doubleLimit)
}

func (s *soak) excused(now time.Time, double bool) bool {
	for _, x := range s.excuses {
		if (double && !x.double) || (!double && !x.gap) {
			continue
		}
		if !now.Before(x.from) && (x.to.IsZero() || now.Before(x.to)) {
			return true
		}
	}
	return false
}

// ---- checks ----

// expected returns the node that should hold the VIP: the highest-priority
// healthy one (preempt on), or -1.
func (s *soak) expectedLocked() int {
	best := -1
	for i, n := range s.nodes {
		if n.running && !n.linkDown && (best < 0 || n.prio > s.nodes[best].prio) {
			best = i
		}
	}
	return best
}

// stableWindow is how long the client must have been answered by the
// expected holder alone, all of it after the fault ended (a changed MAC or a
// stale neighbour entry shows only in the probes that follow).
func (s *soak) stableWindow() time.Duration { return max(300*time.Millisecond, 3*s.interval) }

// convergedNow reports whether exactly the expected node holds the VIP and
// the client has been answered by it alone for a while.
func (s *soak) convergedNow(readers []*addrReader) (bool, string) {
	var holders []string
	for i := range s.nodes {
		if addrs, err := readers[i].IPv4(); err == nil && slices.Contains(addrs, s.l.VIP4) {
			holders = append(holders, fmt.Sprintf("h%d", i))
		}
	}
	s.mu.Lock()
	want := s.expectedLocked()
	s.mu.Unlock()
	if want < 0 {
		return false, "no healthy node"
	}
	name := fmt.Sprintf("h%d", want)
	host, at := s.probe.LastHost()
	msg := fmt.Sprintf("holders %v, want [%s]; client last answered by %q %v ago", holders, name, host, time.Since(at).Round(time.Millisecond))
	if len(holders) != 1 || holders[0] != name {
		return false, msg
	}
	return s.probe.StableOn(name, s.stableWindow()), msg
}

// waitConverged waits up to the settle time for convergedNow; it opens its
// own address readers so it can run beside the monitor.
func (s *soak) waitConverged(what string) bool {
	s.t.Helper()
	readers := make([]*addrReader, len(s.nodes))
	for i := range s.nodes {
		r, err := openAddrReader(s.l.host(i).NS)
		if err != nil {
			s.t.Fatal(err)
		}
		defer r.Close()
		readers[i] = r
	}
	t0 := time.Now()
	msg, ok := poll(s.settle, func() (bool, string) {
		if ok, msg := s.convergedNow(readers); !ok || time.Since(t0) < s.stableWindow() {
			return false, msg
		}
		return true, ""
	})
	if ok {
		_, msg = s.convergedNow(readers)
	}
	s.logEvent("settle", fmt.Sprintf("%s: converged=%v after %v: %s", what, ok, time.Since(t0).Round(time.Millisecond), msg))
	if !ok && (what == "start" || what == "end") {
		s.violation("converge", fmt.Sprintf("%s: not converged within %v: %s", what, s.settle, msg))
	}
	return ok
}

// afterFault checks convergence after the fault just injected and, if it
// failed, records it and repairs.
func (s *soak) afterFault() {
	s.t.Helper()
	s.mu.Lock()
	fi := len(s.faults) - 1
	f := s.faults[fi]
	s.mu.Unlock()
	t0 := time.Now()
	ok := s.waitConverged(f.kind)
	s.mu.Lock()
	s.faults[fi].converged = ok
	s.faults[fi].settled = time.Since(t0)
	st := s.stats(f.kind)
	if ok {
		st.worstSettle = max(st.worstSettle, time.Since(t0))
	} else {
		st.notConverged++
	}
	s.mu.Unlock()
	if ok {
		return
	}
	_, msg := s.convergedOnce()
	s.violation("converge", fmt.Sprintf("after %s (%s): not converged within %v: %s", f.kind, f.detail, s.settle, msg))
	s.repair()
}

func (s *soak) convergedOnce() (bool, string) {
	readers := make([]*addrReader, len(s.nodes))
	for i := range s.nodes {
		r, err := openAddrReader(s.l.host(i).NS)
		if err != nil {
			return false, err.Error()
		}
		defer r.Close()
		readers[i] = r
	}
	return s.convergedNow(readers)
}

// repair brings the segment back to a known state after a failed
// convergence, so that later faults are judged on their own: first the
// expected master's vipd is restarted and the client's neighbour entry for
// the VIP flushed, then every vipd. It is logged as a "repair" fault.
func (s *soak) repair() {
	s.t.Helper()
	s.mu.Lock()
	want := s.expectedLocked()
	s.mu.Unlock()
	s.mu.Lock()
	s.faults = append(s.faults, soakFault{kind: soakRepair, start: time.Now()})
	fi := len(s.faults) - 1
	s.mu.Unlock()
	for round, targets := range [][]int{{want}, {0, 1, 2}} {
		s.logEvent(soakRepair, fmt.Sprintf("round %d: restarting vipd on %v, flushing the client's entry for %s", round+1, targets, s.l.VIP4))
		for _, i := range targets {
			if i >= 0 {
				s.kill9(i)
				s.startVipd(i)
			}
		}
		_, _ = s.l.client().Exec("ip", "neigh", "flush", "to", s.l.VIP4.String(), "dev", hostIf)
		if s.waitConverged(soakRepair) {
			s.mu.Lock()
			s.faults[fi].end, s.faults[fi].converged = time.Now(), true
			s.mu.Unlock()
			return
		}
	}
	s.t.Fatalf("soak: segment did not recover after repairs (seed %d); events:\n%s", s.seed, s.eventLog(time.Time{}, time.Time{}))
}

// monitor polls every soakPoll until stop: who holds the VIP, and when the
// client was last answered. It never touches testing.T.
func (s *soak) monitor(nodes []*addrReader, client *addrReader, stop <-chan struct{}) {
	tick := time.NewTicker(soakPoll)
	defer tick.Stop()
	var (
		dblStart, noneStart, gapStart      time.Time // unexcused stretches, zero when none
		dblRaw, noneRaw                    time.Time // raw stretches, for the statistics
		dblFlagged, noneFlagged, gapFlag   bool
		lastHolders                        string
		clientStaleReported, readErrLogged bool
	)
	for {
		select {
		case <-stop:
			return
		case <-tick.C:
		}
		now := time.Now()
		present := make([]bool, len(nodes))
		for i, r := range nodes {
			addrs, err := r.IPv4()
			if err != nil {
				if !readErrLogged {
					s.logEvent("monitor", fmt.Sprintf("h%d: address read: %v", i, err))
					readErrLogged = true
				}
				continue
			}
			present[i] = slices.Contains(addrs, s.l.VIP4)
		}
		if addrs, err := client.IPv4(); err == nil && slices.Contains(addrs, s.l.VIP4) && !clientStaleReported {
			s.violation("stale-vip", "the client namespace holds the VIP")
			clientStaleReported = true
		}
		_, lastAnswer := s.probe.LastHost()

		s.mu.Lock()
		var holders, orphans []string
		healthy := 0
		var healthySince time.Time
		for i, n := range s.nodes {
			n.present = present[i]
			if n.running && !n.linkDown {
				healthy++
				if healthySince.IsZero() || n.healthySince.Before(healthySince) {
					healthySince = n.healthySince
				}
				if present[i] {
					holders = append(holders, fmt.Sprintf("h%d", i))
				}
			} else if present[i] {
				orphans = append(orphans, fmt.Sprintf("h%d", i))
			}
		}
		exDouble, exGap := s.excused(now, true), s.excused(now, false)
		kind := ""
		if len(s.faults) > 0 {
			kind = s.faults[len(s.faults)-1].kind
		}
		st := s.stats(kind)
		s.mu.Unlock()

		desc := fmt.Sprintf("holders %v", holders)
		if len(orphans) > 0 {
			desc += fmt.Sprintf(" (VIP also on %v: vipd dead or link down)", orphans)
		}
		if desc != lastHolders {
			s.logEventAt(now, "monitor", desc)
			lastHolders = desc
		}

		// Double holder.
		if len(holders) >= 2 {
			if dblRaw.IsZero() {
				dblRaw = now
			}
			d := now.Sub(dblRaw)
			s.mu.Lock()
			s.longestDouble = max(s.longestDouble, d)
			st.longestDouble = max(st.longestDouble, d)
			s.mu.Unlock()
			if exDouble {
				dblStart, dblFlagged = time.Time{}, false
			} else {
				if dblStart.IsZero() {
					dblStart = now
				}
				if d := now.Sub(dblStart); d > s.doubleLimit && !dblFlagged {
					s.violation("double-holder", fmt.Sprintf("%v for %v (limit %v)", holders, d.Round(time.Millisecond), s.doubleLimit))
					dblFlagged = true
				}
			}
		} else {
			dblRaw, dblStart, dblFlagged = time.Time{}, time.Time{}, false
		}

		// No holder while a healthy router exists.
		if len(holders) == 0 && healthy > 0 {
			if noneRaw.IsZero() {
				noneRaw = now
			}
			from := noneRaw
			if healthySince.After(from) {
				from = healthySince
			}
			if noneStart.IsZero() || from.After(noneStart) {
				noneStart = from
			}
			d := now.Sub(noneStart)
			s.mu.Lock()
			s.longestNone = max(s.longestNone, d)
			st.longestNone = max(st.longestNone, d)
			s.mu.Unlock()
			if d > s.noneLimit && !noneFlagged {
				s.violation("no-holder", fmt.Sprintf("no holder for %v with %d healthy node(s) (limit %v)", d.Round(time.Millisecond), healthy, s.noneLimit))
				noneFlagged = true
			}
		} else {
			noneRaw, noneStart, noneFlagged = time.Time{}, time.Time{}, false
		}

		// Client gap.
		if !lastAnswer.IsZero() {
			gap := now.Sub(lastAnswer)
			s.mu.Lock()
			s.longestGap = max(s.longestGap, gap)
			st.longestGap = max(st.longestGap, gap)
			s.mu.Unlock()
			if exGap || healthy == 0 || gap <= probeInterval*3 {
				gapStart, gapFlag = time.Time{}, false
			} else {
				if gapStart.IsZero() {
					gapStart = lastAnswer
					if s.lastExcuseEnd(now).After(gapStart) {
						gapStart = s.lastExcuseEnd(now)
					}
					if healthySince.After(gapStart) {
						gapStart = healthySince
					}
				}
				if d := now.Sub(gapStart); d > s.gapLimit && !gapFlag {
					s.violation("client-gap", fmt.Sprintf("client unanswered for %v (limit %v); %s", gap.Round(time.Millisecond), s.gapLimit, desc))
					gapFlag = true
				}
			}
		}
	}
}

// lastExcuseEnd returns the end of the latest closed client-gap excuse before now.
func (s *soak) lastExcuseEnd(now time.Time) time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	var t time.Time
	for _, x := range s.excuses {
		if x.gap && !x.to.IsZero() && x.to.Before(now) && x.to.After(t) {
			t = x.to
		}
	}
	return t
}

func (s *soak) stats(kind string) *soakKindStats {
	if kind == "" {
		kind = "(none)"
	}
	st, ok := s.perKind[kind]
	if !ok {
		st = &soakKindStats{}
		s.perKind[kind] = st
	}
	return st
}

// finalChecks: one holder, h0; no VIP anywhere else; no panic; SIGTERMs 0.
func (s *soak) finalChecks(readers []*addrReader, converged bool) {
	s.t.Helper()
	var holders []string
	for i, n := range s.l.nodes() {
		addrs, err := readers[i].IPv4()
		if err != nil {
			s.violation("final", fmt.Sprintf("%s: %v", n.Name, err))
			continue
		}
		if slices.Contains(addrs, s.l.VIP4) {
			holders = append(holders, n.Name)
		}
	}
	if !slices.Equal(holders, []string{"h0"}) {
		s.violation("final", fmt.Sprintf("after the quiet period the VIP is on %v, want only h0 (priority %d); converged=%v", holders, soakPrios[0], converged))
	}
	if ok, msg := s.convergedOnce(); !ok {
		s.violation("final", "not converged at the end: "+msg)
	}
	s.scanLogs()
}

// scanLogs looks for "panic" in every vipd log.
func (s *soak) scanLogs() {
	s.mu.Lock()
	logs := append([]string(nil), s.logs...)
	s.mu.Unlock()
	for _, p := range logs {
		b, err := os.ReadFile(p)
		if err != nil {
			s.violation("panic", fmt.Sprintf("%s: %v", p, err))
			continue
		}
		if i := strings.Index(strings.ToLower(string(b)), "panic"); i >= 0 {
			j := min(len(b), i+400)
			s.violation("panic", fmt.Sprintf("%s: %s", p, b[max(0, i-100):j]))
		}
	}
}

// stopAll ends every vipd with SIGTERM, lowest priority first, and checks
// that each exits 0 and leaves no VIP behind.
func (s *soak) stopAll() {
	s.t.Helper()
	for i := len(s.nodes) - 1; i >= 0; i-- {
		s.sigterm(i)
	}
	for _, n := range s.l.nodes() {
		if n.HasAddr(s.l.VIP4) {
			s.violation("final", fmt.Sprintf("%s still holds the VIP after every vipd exited on SIGTERM", n.Name))
		}
	}
	s.scanLogs()
}

// ---- log and report ----

func (s *soak) logEvent(kind, msg string) { s.logEventAt(time.Now(), kind, msg) }

func (s *soak) logEventAt(at time.Time, kind, msg string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.events = append(s.events, soakEvent{at: at, kind: kind, msg: msg})
}

// violation records a broken invariant (safe from any goroutine).
func (s *soak) violation(check, msg string) {
	now := time.Now()
	s.mu.Lock()
	v := soakViolation{at: now, check: check, fault: len(s.faults) - 1, msg: msg}
	s.violations = append(s.violations, v)
	s.events = append(s.events, soakEvent{at: now, kind: "VIOLATION", msg: check + ": " + msg})
	s.mu.Unlock()
}

func (s *soak) rel(t time.Time) string {
	base := s.start
	if base.IsZero() {
		base = s.created
	}
	return fmt.Sprintf("%9.3fs", t.Sub(base).Seconds())
}

// eventLog renders the events in [from, to] (all when both are zero).
func (s *soak) eventLog(from, to time.Time) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var b strings.Builder
	for _, e := range s.events {
		if !from.IsZero() && (e.at.Before(from) || e.at.After(to)) {
			continue
		}
		fmt.Fprintf(&b, "  %s %-9s %s\n", s.rel(e.at), e.kind, e.msg)
	}
	return b.String()
}

func (s *soak) report() {
	s.t.Helper()
	s.mu.Lock()
	faults := append([]soakFault(nil), s.faults...)
	violations := append([]soakViolation(nil), s.violations...)
	s.mu.Unlock()

	// The client's longest gap per fault, from the fault's start to the next one's.
	gapByKind := map[string]time.Duration{}
	for i, f := range faults {
		end := time.Now()
		if i+1 < len(faults) {
			end = faults[i+1].start
		}
		gapByKind[f.kind] = max(gapByKind[f.kind], s.probe.LongestGapIn(f.start, end))
	}
	var b strings.Builder
	fmt.Fprintf(&b, "soak summary: seed %d, %v, advert interval %v, %d faults, %d violations\n",
		s.seed, time.Since(s.start).Round(time.Second), s.interval, len(faults), len(violations))
	fmt.Fprintf(&b, "  longest double-holder window %v (limit %v outside partition/loss), longest no-holder window %v (limit %v), client's longest gap %v (limit %v)\n",
		s.longestDouble.Round(time.Millisecond), s.doubleLimit, s.longestNone.Round(time.Millisecond), s.noneLimit,
		s.longestGap.Round(time.Millisecond), s.gapLimit)
	kinds := make([]string, 0, len(s.perKind))
	for k := range s.perKind {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	fmt.Fprintf(&b, "  %-10s %5s %10s %10s %10s %10s %12s %s\n", "kind", "n", "double", "none", "gap(mon)", "gap(probe)", "worst settle", "not converged")
	for _, k := range kinds {
		st := s.perKind[k]
		fmt.Fprintf(&b, "  %-10s %5d %10v %10v %10v %10v %12v %d\n", k, st.n,
			st.longestDouble.Round(time.Millisecond), st.longestNone.Round(time.Millisecond),
			st.longestGap.Round(time.Millisecond), gapByKind[k].Round(time.Millisecond),
			st.worstSettle.Round(time.Millisecond), st.notConverged)
	}
	byCheck := map[string]int{}
	for _, v := range violations {
		byCheck[v.check]++
	}
	fmt.Fprintf(&b, "  violations by check: %v\n", byCheck)
	fmt.Fprintf(&b, "  SIGTERM exits: %v\n", s.sigterms)
	s.t.Log(b.String())

	if len(violations) == 0 {
		return
	}
	var vb strings.Builder
	const show = 12
	for n, v := range violations {
		if n == show {
			fmt.Fprintf(&vb, "... and %d more violations\n", len(violations)-show)
			break
		}
		fault := "(before any fault)"
		if v.fault >= 0 && v.fault < len(faults) {
			f := faults[v.fault]
			fault = fmt.Sprintf("during/after fault #%d %s (%s)", v.fault+1, f.kind, f.detail)
		}
		fmt.Fprintf(&vb, "VIOLATION %d at %s: %s: %s\n  %s\n  events around it:\n%s", n+1, s.rel(v.at), v.check, v.msg, fault,
			s.eventLog(v.at.Add(-3*time.Second), v.at.Add(time.Second)))
	}
	s.t.Errorf("soak: %d invariant violation(s); seed %d (reproduce: -soak-seed=%d -soak-duration=%v -soak-kinds=%s -soak-interval=%v)\n%s",
		len(violations), s.seed, s.seed, *soakDuration, s.kindsFlag(), s.interval, vb.String())
}

func (s *soak) kindsFlag() string {
	if *soakKinds != "" {
		return *soakKinds
	}
	return strings.Join(soakAllKinds, ",")
}
