//go:build integration

package integration

// TestHardening* prove, against bin/vipd in the lab, each situation of issue 8
// in which vipd broke when run as an operator runs it: the address owner, a
// second copy, IPv6 unicast with global peers, failback after a link flap, a
// late interface or address, a recreated interface, a changed MAC, a VIP the
// host cannot hold and a firewall that drops the adverts. Each host is its own
// machine, so each gets its own --state-dir (the lock directory); the copies
// of test 2 share their host's. Run with:
//
//	go test -tags integration ./integration/ -run TestHardening -count=1 -v

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vipd/vipd/control"
)

// hardMetrics is the metrics address every vipd of these tests serves on its
// own namespace's loopback.
const hardMetrics = "127.0.0.1:9440"

// hostStateDir is host i's --state-dir: one per machine, as on real hosts.
func hostStateDir(l *lab, i int) string {
	return filepath.Join(l.dir, "state-"+l.host(i).Name)
}

// startOn starts bin/vipd on host i with s (defaults as startVipd's), its
// host's state directory and control socket sock ("" for a new one).
func startOn(l *lab, i int, sock string, s vipdSpec) *vipd {
	l.t.Helper()
	bin := vipdBinaries(l)
	n := l.host(i)
	if s.VRID == 0 {
		s.VRID = 51
	}
	if s.Interval == 0 {
		s.Interval = vipdInterval
	}
	if len(s.VIPs) == 0 {
		s.VIPs = []netip.Addr{l.VIP4}
	}
	if sock == "" {
		sock = filepath.Join(l.dir, fmt.Sprintf("vipd-%s-%d.sock", n.Name, l.logSeq.Add(1)))
	}
	args := []string{filepath.Join(bin, "vipd"), "--control-socket", sock,
		"--state-dir", hostStateDir(l, i),
		"--interface", hostIf,
		"--vrid", strconv.Itoa(s.VRID),
		"--priority", strconv.Itoa(s.Priority),
		"--advert-interval", s.Interval.String()}
	for _, v := range s.VIPs {
		args = append(args, "--vip", v.String())
	}
	args = append(args, s.Args...)
	v := &vipd{lab: l, node: n, vrid: s.VRID, sock: sock, vipctl: filepath.Join(bin, "vipctl")}
	v.pid = n.Start("vipd", args...)
	return v
}

// waitInst waits until v's instance status satisfies pred.
func waitInst(t testing.TB, v *vipd, timeout time.Duration, what string, pred func(in control.Instance) bool) control.Instance {
	t.Helper()
	var got control.Instance
	waitFor(t, timeout, v.node.Name+" "+what, func() (bool, string) {
		in, err := v.inst()
		if err != nil {
			return false, err.Error()
		}
		got = in
		return pred(in), fmt.Sprintf("state %s reason %s problem %q ifindex %d", in.State, in.Reason, in.Problem, in.IfIndex)
	})
	return got
}

// noCrash fails the test if v's log shows a panic or an internal error.
func noCrash(t testing.TB, v *vipd) {
	t.Helper()
	log := v.logText()
	for _, bad := range []string{"panic", "internal error", "goroutine "} {
		if strings.Contains(log, bad) {
			t.Errorf("%s's vipd log contains %q:\n%s", v.node.Name, bad, log)
		}
	}
}

// stillRunning fails the test if v exits within d.
func stillRunning(t testing.TB, v *vipd, d time.Duration) {
	t.Helper()
	if v.lab.WaitExit(v.pid, d) {
		code, _ := v.lab.ExitCode(v.pid)
		t.Fatalf("%s's vipd (pid %d) exited with %d; it must keep running:\n%s", v.node.Name, v.pid, code, v.logText())
	}
}

// exitOf waits for a vipd that must fail to exit, and returns its code and log.
func exitOf(t testing.TB, l *lab, pid int, timeout time.Duration) (int, string) {
	t.Helper()
	if !l.WaitExit(pid, timeout) {
		t.Fatalf("pid %d still running after %v; want exit 2:\n%s", pid, timeout, readLog(l, pid))
	}
	code, _ := l.ExitCode(pid)
	return code, readLog(l, pid)
}

func readLog(l *lab, pid int) string {
	b, _ := os.ReadFile(l.LogPath(pid))
	return string(b)
}

// addrWatch samples, every few milliseconds, whether a namespace carries an
// IPv4 address (rtnetlink, so a sample costs microseconds, not an ip(8) run).
type addrWatch struct {
	addr netip.Addr
	stop chan struct{}
	done chan struct{}

	mu      sync.Mutex
	samples int
	present int
	err     error
	firstIn time.Time // first sample with addr
	firstNo time.Time // first sample without it
}

func watchAddr(t testing.TB, ns string, a netip.Addr, every time.Duration) *addrWatch {
	t.Helper()
	r, err := openAddrReader(ns)
	if err != nil {
		t.Fatal(err)
	}
	w := &addrWatch{addr: a, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		defer r.Close()
		for {
			addrs, err := r.IPv4()
			now := time.Now()
			w.mu.Lock()
			if err != nil {
				w.err = err
			} else {
				w.samples++
				if slices.Contains(addrs, a) {
					w.present++
					if w.firstIn.IsZero() {
						w.firstIn = now
					}
				} else if w.firstNo.IsZero() {
					w.firstNo = now
				}
			}
			w.mu.Unlock()
			select {
			case <-w.stop:
				return
			case <-time.After(every):
			}
		}
	}()
	return w
}

// Stop ends sampling; it returns the number of samples, how many had the
// address, and the first time a sample had (in) and lacked (no) it.
func (w *addrWatch) Stop() (samples, present int, in, no time.Time, err error) {
	select {
	case <-w.stop:
	default:
		close(w.stop)
	}
	<-w.done
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.samples, w.present, w.firstIn, w.firstNo, w.err
}

// healthz is GET /healthz on host i's metrics address.
func healthz(l *lab, i int) (int, string, error) {
	return httpGetIn(l.host(i).NS, "http://"+hardMetrics+"/healthz")
}

// metricSum adds up the samples of metric name whose labels contain every
// one of labels (`op="add"`), from host i's /metrics.
func metricSum(t testing.TB, l *lab, i int, name string, labels ...string) float64 {
	t.Helper()
	code, body, err := httpGetIn(l.host(i).NS, "http://"+hardMetrics+"/metrics")
	if err != nil || code != 200 {
		t.Fatalf("h%d /metrics: %d %v", i, code, err)
	}
	var sum float64
	for _, ln := range strings.Split(body, "\n") {
		if !strings.HasPrefix(ln, name+"{") && !strings.HasPrefix(ln, name+" ") {
			continue
		}
		ok := true
		for _, lb := range labels {
			ok = ok && strings.Contains(ln, lb)
		}
		if !ok {
			continue
		}
		f := strings.Fields(ln)
		v, err := strconv.ParseFloat(f[len(f)-1], 64)
		if err == nil {
			sum += v
		}
	}
	return sum
}

// TestHardeningOwner (issue 8 #1): the address owner (priority 255, the VIP
// is eth0's own /24 address) is MASTER at once and stays up; the backup never
// adds the owner's address while the owner runs, takes over on its SIGTERM,
// and gives it back when the owner returns. A 1 s interval makes "at once"
// (owner-startup) clearly different from Master_Down_Interval (3 s).
func TestHardeningOwner(t *testing.T) {
	l := newLab(t, 2, withoutIPv6())
	own := l.host(0).V4 // 198.18.0.1/24 on h0's eth0
	iv := time.Second
	spec := func(p int) vipdSpec { return vipdSpec{Priority: p, Interval: iv, VIPs: []netip.Addr{own}} }

	h1Watch := watchAddr(t, l.host(1).NS, own, 5*time.Millisecond)
	started := time.Now()
	owner := startOn(l, 0, "", spec(255))
	backup := startOn(l, 1, "", spec(100))

	in := waitInst(t, owner, 3*time.Second, "MASTER", func(in control.Instance) bool { return in.State == "MASTER" })
	ownerAtOnce(t, owner, in, iv)
	waitInst(t, backup, 5*time.Second, "BACKUP with the owner as master", func(in control.Instance) bool {
		return in.State == "BACKUP" && in.Master == own.String() && in.MasterPriority == 255
	})

	// 10 s: the same process, no crash, no second holder.
	stillRunning(t, owner, 10*time.Second)
	noCrash(t, owner)
	noCrash(t, backup)
	in = owner.mustInst(t)
	if in.State != "MASTER" || !slices.Contains(in.VIPsPresent, own.String()) {
		t.Errorf("owner after 10s: %s, vips_present %v; want MASTER with %v present", in.State, in.VIPsPresent, own)
	}
	samples, present, firstIn, _, err := h1Watch.Stop()
	t.Logf("h1 sampled %d times over %v while the owner ran: %d with %v", samples, time.Since(started).Round(time.Second), present, own)
	if err != nil || samples < 100 {
		t.Fatalf("watching h1: %d samples, %v", samples, err)
	}
	if present > 0 {
		t.Errorf("the backup added the owner's address %v (first seen %v after start)", own, firstIn.Sub(started).Round(time.Millisecond))
	}

	// SIGTERM: the backup takes over (the owner's own address stays on its eth0).
	owner.Stop()
	if code, _ := l.ExitCode(owner.pid); code != 0 {
		t.Errorf("owner exited %d on SIGTERM, want 0", code)
	}
	waitInst(t, backup, 3*time.Second, "MASTER after the owner's SIGTERM", func(in control.Instance) bool { return in.State == "MASTER" })
	waitFor(t, time.Second, "h1 holds "+own.String(), func() (bool, string) { return l.host(1).HasAddr(own), "" })

	// Restart: the owner takes back at once, the backup drops the address.
	b0 := backup.mustInst(t)
	owner = startOn(l, 0, "", spec(255))
	in = waitInst(t, owner, 3*time.Second, "MASTER again", func(in control.Instance) bool { return in.State == "MASTER" })
	ownerAtOnce(t, owner, in, iv)
	if _, ok := poll(3*iv, func() (bool, string) {
		in, err := backup.inst()
		return err == nil && in.State == "BACKUP" && in.Master == own.String(), ""
	}); !ok {
		b1, o1 := backup.mustInst(t), owner.mustInst(t)
		t.Fatalf("the backup did not give the owner's address back within %v: h1 %s (%s), adverts received %d → %d, drops %v → %v; "+
			"owner %s, adverts sent %d, send errors %d; %v on %v", 3*iv, b1.State, b1.Reason, b0.AdvertsReceived, b1.AdvertsReceived,
			b0.Drops, b1.Drops, o1.State, o1.AdvertsSent, o1.SendErrors, own, holders(l, own))
	}
	waitFor(t, time.Second, "h1 to drop "+own.String(), func() (bool, string) { return !l.host(1).HasAddr(own), "" })
	stillRunning(t, owner, 2*time.Second)
	noCrash(t, owner)
}

// ownerAtOnce checks that the owner went to MASTER for owner-startup at once:
// within 100 ms of its "vipd starting" line, by its own clock (the time
// before that line is process start-up, which a loaded machine stretches),
// where any other router waits Master_Down_Interval.
func ownerAtOnce(t testing.TB, v *vipd, in control.Instance, iv time.Duration) {
	t.Helper()
	log := v.logText()
	start, ok1 := logTime(log, `msg="vipd starting"`)
	master, ok2 := logTime(log, `to=MASTER`)
	if !ok1 || !ok2 {
		t.Fatalf("owner's log lacks the start or the MASTER line:\n%s", log)
	}
	d := master.Sub(start)
	t.Logf("owner MASTER %v after \"vipd starting\", reason %s", d, in.Reason)
	if in.Reason != "owner-startup" || d > 100*time.Millisecond {
		t.Errorf("owner MASTER %v after starting, reason %s; want at once (not Master_Down_Interval %v), owner-startup",
			d, in.Reason, masterDown(iv, 255))
	}
}

// logTime returns the time= of the first line of a vipd text log containing s.
func logTime(log, s string) (time.Time, bool) {
	for _, ln := range strings.Split(log, "\n") {
		if !strings.Contains(ln, s) || !strings.HasPrefix(ln, "time=") {
			continue
		}
		f, _, _ := strings.Cut(strings.TrimPrefix(ln, "time="), " ")
		at, err := time.Parse(time.RFC3339Nano, f)
		return at, err == nil
	}
	return time.Time{}, false
}

// TestHardeningSecondCopy (issue 8 #2): a second vipd for the same virtual
// router on a host where one is MASTER exits 2 naming the VRID and the holder,
// and never touches the master's VIP (sampled every 5 ms; the client sees no
// gap); of two copies started at once exactly one runs; a control-socket path
// that is a regular file is refused and left intact.
func TestHardeningSecondCopy(t *testing.T) {
	l := newLab(t, 2, withoutIPv6())
	master := startOn(l, 0, "", vipdSpec{Priority: 200})
	waitInst(t, master, 5*time.Second, "MASTER", func(in control.Instance) bool { return in.State == "MASTER" })
	waitFor(t, 2*time.Second, "h0 holds the VIP", func() (bool, string) { return l.host(0).HasAddr(l.VIP4), "" })
	p := proberOn(t, l, "h0")

	for _, tc := range []struct {
		name string
		sock string
	}{{"same control socket", master.sock}, {"own control socket", ""}} {
		t.Run(tc.name, func(t *testing.T) {
			w := watchAddr(t, l.host(0).NS, l.VIP4, 5*time.Millisecond)
			time.Sleep(20 * time.Millisecond) // a few samples before the start
			from := time.Now()
			second := startOn(l, 0, tc.sock, vipdSpec{Priority: 200})
			code, log := exitOf(t, l, second.pid, 10*time.Second)
			to := time.Now()
			samples, present, _, firstNo, err := w.Stop()
			t.Logf("second copy exited %d after %v; h0 sampled %d times, VIP present in %d:\n%s",
				code, to.Sub(from).Round(time.Millisecond), samples, present, strings.TrimSpace(log))
			if code != 2 {
				t.Errorf("second copy exited %d, want 2", code)
			}
			for _, want := range []string{"VRID 51", fmt.Sprintf("pid %d", master.pid)} {
				if !strings.Contains(log, want) {
					t.Errorf("second copy's message does not name %q", want)
				}
			}
			if err != nil || samples < 3 {
				t.Fatalf("watching h0: %d samples, %v", samples, err)
			}
			if present != samples {
				t.Errorf("the master's VIP was missing in %d of %d samples (first %v after the second copy started)",
					samples-present, samples, firstNo.Sub(from).Round(time.Millisecond))
			}
			if gap := p.LongestGapIn(from, to); gap > 5*probeInterval {
				t.Errorf("client went %v without an answer while the second copy ran; want no gap", gap)
			}
			if in, err := master.inst(); err != nil || in.State != "MASTER" {
				t.Errorf("the first vipd after the second copy: %v %v", in.State, err)
			}
		})
	}

	t.Run("two at once", func(t *testing.T) {
		// h1 has no vipd yet: start two, at the same moment, each with its own socket.
		a := startOn(l, 1, "", vipdSpec{Priority: 100})
		b := startOn(l, 1, "", vipdSpec{Priority: 100})
		var loser, winner *vipd
		waitFor(t, 5*time.Second, "one of the two to exit", func() (bool, string) {
			switch {
			case l.Exited(a.pid):
				loser, winner = a, b
			case l.Exited(b.pid):
				loser, winner = b, a
			}
			return loser != nil, ""
		})
		code, log := exitOf(t, l, loser.pid, time.Second)
		t.Logf("pid %d exited %d: %s", loser.pid, code, strings.TrimSpace(log))
		if code != 2 || !strings.Contains(log, fmt.Sprintf("pid %d", winner.pid)) {
			t.Errorf("loser exited %d; want 2 naming the winner's pid %d", code, winner.pid)
		}
		stillRunning(t, winner, time.Second)
		waitInst(t, winner, 3*time.Second, "BACKUP", func(in control.Instance) bool { return in.State == "BACKUP" })
		if !l.host(0).HasAddr(l.VIP4) || l.host(1).HasAddr(l.VIP4) {
			t.Errorf("VIP on %v, want h0 only", holders(l, l.VIP4))
		}
	})

	t.Run("control socket is a regular file", func(t *testing.T) {
		path := filepath.Join(l.dir, "not-a-socket")
		const body = "an operator's file\n"
		if err := writeFile(path, body); err != nil {
			t.Fatal(err)
		}
		vip := netip.MustParseAddr("198.18.0.201") // another virtual router: no lock in the way
		v := startOn(l, 1, path, vipdSpec{VRID: 61, Priority: 100, VIPs: []netip.Addr{vip}})
		code, log := exitOf(t, l, v.pid, 10*time.Second)
		t.Logf("exit %d: %s", code, strings.TrimSpace(log))
		if code != 2 || !strings.Contains(log, "--control-socket") {
			t.Errorf("exit %d; want 2 naming --control-socket", code)
		}
		fi, err := os.Lstat(path)
		if err != nil || !fi.Mode().IsRegular() {
			t.Fatalf("%s after vipd: %v %v; want the regular file left", path, fi, err)
		}
		if b, _ := os.ReadFile(path); string(b) != body {
			t.Errorf("%s now holds %q, want %q", path, b, body)
		}
		if l.host(1).HasAddr(vip) {
			t.Errorf("%v added by a vipd that refused to start", vip)
		}
	})
	if rep := p.Stop(); rep.Outage() > 5*probeInterval || rep.DupAnswers > 0 {
		t.Errorf("client over the whole test: %v", rep)
	}
}

// TestHardeningIPv6UnicastGlobal (issue 8 #3): unicast VRRP over IPv6 between
// global (fd00::/8) addresses, each host's --source its own: one MASTER for
// 10 s, and failover on SIGTERM. Without --source such a config exits 2.
func TestHardeningIPv6UnicastGlobal(t *testing.T) {
	l := newLab(t, 2)
	l.BlockVRRPMulticast(true) // only the unicast adverts may elect
	h0, h1 := l.host(0), l.host(1)
	spec := func(p int, self, peer netip.Addr) vipdSpec {
		return vipdSpec{Priority: p, VIPs: []netip.Addr{l.VIP6}, Args: []string{"--peer", peer.String(), "--source", self.String()}}
	}
	vs := []*vipd{startOn(l, 0, "", spec(200, h0.V6, h1.V6)), startOn(l, 1, "", spec(100, h1.V6, h0.V6))}
	waitElected(t, l, vs, all(2), 0, 5*time.Second, l.VIP6)
	w := vs[0].mustInst(t)
	if w.Mode != "unicast" || w.Family != "ipv6" || w.Source != h0.V6.String() || w.Master != h0.V6.String() {
		t.Errorf("h0: mode %s family %s source %s master %s; want unicast ipv6 from %v", w.Mode, w.Family, w.Source, w.Master, h0.V6)
	}
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		if ok, why := electedAmong(l, vs, all(2), 0, l.VIP6); !ok {
			t.Fatalf("not one MASTER: %s (VIP on %v)", why, holders6(l))
		}
	}
	if b := vs[1].mustInst(t); b.AdvertsReceived == 0 || b.Master != h0.V6.String() {
		t.Errorf("h1: received %d, master %s", b.AdvertsReceived, b.Master)
	}
	vs[0].Stop()
	waitElected(t, l, vs, []int{1}, 1, 2*time.Second, l.VIP6)
	if h0.HasAddr(l.VIP6) {
		t.Error("h0 kept the VIP after SIGTERM")
	}

	t.Run("global peers without --source", func(t *testing.T) {
		v := startOn(l, 0, "", vipdSpec{Priority: 200, VIPs: []netip.Addr{l.VIP6}, Args: []string{"--peer", h1.V6.String()}})
		code, log := exitOf(t, l, v.pid, 10*time.Second)
		t.Logf("exit %d: %s", code, strings.TrimSpace(log))
		if code != 2 || !strings.Contains(log, "--source") {
			t.Errorf("exit %d; want 2 naming --source", code)
		}
	})
}

// holders6 lists the hosts holding the lab's IPv6 VIP.
func holders6(l *lab) []string { return holders(l, l.VIP6) }

// TestHardeningLinkFlapFailback (issue 8 #4): after the master's link goes
// down and up, it preempts back and its first announcement goes out: the
// client's longest gap during the failback is under one advert interval plus
// 100 ms, and its ARP entry names the master again.
func TestHardeningLinkFlapFailback(t *testing.T) {
	l := newLab(t, 2, withoutIPv6())
	vs := []*vipd{startOn(l, 0, "", vipdSpec{Priority: 200}), startOn(l, 1, "", vipdSpec{Priority: 100})}
	waitElected(t, l, vs, all(2), 0, 5*time.Second)
	p := proberOn(t, l, "h0")

	l.LinkDown(0)
	waitInst(t, vs[0], 2*time.Second, "FAULT", func(in control.Instance) bool { return in.State == "FAULT" })
	waitElected(t, l, vs, []int{1}, 1, 3*time.Second)
	waitNeigh(t, l, l.VIP4, 1, 2*time.Second)
	waitFor(t, 2*time.Second, "client answered by h1", func() (bool, string) { return p.StableOn("h1", 200*time.Millisecond), "" })

	up := time.Now()
	l.LinkUp(0)
	waitElected(t, l, vs, all(2), 0, 5*time.Second)
	waitNeigh(t, l, l.VIP4, 0, 2*time.Second)
	waitFor(t, 2*time.Second, "client answered by h0 again", func() (bool, string) { return p.StableOn("h0", 200*time.Millisecond), "" })
	end := time.Now()
	gap := p.LongestGapIn(up, end)
	in := vs[0].mustInst(t)
	t.Logf("failback: longest client gap %v between link up and %v later; h0 announcements %d, announce errors %d, send errors %d",
		gap.Round(time.Millisecond), end.Sub(up).Round(time.Millisecond), in.Announcements, in.AnnounceErrors, in.SendErrors)
	if bound := vipdInterval + 100*time.Millisecond; gap > bound {
		t.Errorf("client gap %v during the failback, want under %v; prober: %v", gap, bound, p.Report())
	}
	if in.Reason != "preempt" {
		t.Errorf("h0 back as MASTER with reason %q, want preempt", in.Reason)
	}
	noCrash(t, vs[0])
}

// TestHardeningLateInterface (issue 8 #5): vipd started before its interface
// exists, or before it has an IPv4 address, waits in FAULT with the reason and
// joins (and, as the highest priority, becomes MASTER) once it is usable.
func TestHardeningLateInterface(t *testing.T) {
	l := newLab(t, 2, withoutIPv6())
	h0 := l.host(0)
	vs := []*vipd{nil, startOn(l, 1, "", vipdSpec{Priority: 100})}
	waitInst(t, vs[1], 5*time.Second, "MASTER", func(in control.Instance) bool { return in.State == "MASTER" })
	p := proberOn(t, l, "h1")

	// The interface does not exist yet.
	l.IP(h0.NS, "link", "del", hostIf)
	vs[0] = startOn(l, 0, "", vipdSpec{Priority: 200})
	in := waitInst(t, vs[0], 3*time.Second, "FAULT interface-missing", func(in control.Instance) bool {
		return in.State == "FAULT" && in.Reason == "interface-missing"
	})
	t.Logf("h0 without eth0: %s %s, problem %q", in.State, in.Reason, in.Problem)
	stillRunning(t, vs[0], time.Second)
	if in.Problem == "" {
		t.Error("status shows no problem for a missing interface")
	}
	l.plug(h0)
	waitElected(t, l, vs, all(2), 0, 5*time.Second)
	waitNeigh(t, l, l.VIP4, 0, 2*time.Second)
	waitFor(t, 2*time.Second, "client answered by h0", func() (bool, string) { return p.StableOn("h0", 200*time.Millisecond), "" })
	noCrash(t, vs[0])

	// The interface exists but has no IPv4 address yet.
	vs[0].Stop()
	waitElected(t, l, vs, []int{1}, 1, 2*time.Second)
	l.IP(h0.NS, "link", "del", hostIf)
	l.Attach(l.sw, bridgeName, h0.Port, h0.NS, hostIf)
	vs[0] = startOn(l, 0, "", vipdSpec{Priority: 200})
	in = waitInst(t, vs[0], 3*time.Second, "FAULT no-source-address", func(in control.Instance) bool {
		return in.State == "FAULT" && in.Reason == "no-source-address"
	})
	t.Logf("h0 without an address: %s %s, problem %q", in.State, in.Reason, in.Problem)
	stillRunning(t, vs[0], time.Second)
	l.AddAddr(h0.NS, hostIf, netip.PrefixFrom(h0.V4, 24))
	waitElected(t, l, vs, all(2), 0, 5*time.Second)
	waitNeigh(t, l, l.VIP4, 0, 2*time.Second)
	waitFor(t, 2*time.Second, "client answered by h0", func() (bool, string) { return p.StableOn("h0", 200*time.Millisecond), "" })
	if in := vs[0].mustInst(t); in.Source != h0.V4.String() {
		t.Errorf("h0 sends from %q, want %v", in.Source, h0.V4)
	}
	noCrash(t, vs[0])
}

// TestHardeningRecreatedInterface (issue 8 #6): the master's eth0 is deleted
// (FAULT interface-missing, the backup takes over) and created again with the
// same name, address and bridge port: vipd rebinds to the new ifindex and
// preempts back.
func TestHardeningRecreatedInterface(t *testing.T) {
	l := newLab(t, 2, withoutIPv6())
	h0 := l.host(0)
	vs := []*vipd{startOn(l, 0, "", vipdSpec{Priority: 200}), startOn(l, 1, "", vipdSpec{Priority: 100})}
	waitElected(t, l, vs, all(2), 0, 5*time.Second)
	p := proberOn(t, l, "h0")
	before := vs[0].mustInst(t)

	l.IP(h0.NS, "link", "del", hostIf)
	waitInst(t, vs[0], 2*time.Second, "FAULT interface-missing", func(in control.Instance) bool {
		return in.State == "FAULT" && in.Reason == "interface-missing"
	})
	waitElected(t, l, vs, []int{1}, 1, 3*time.Second)
	l.plug(h0)
	recreated := time.Now()
	waitElected(t, l, vs, all(2), 0, 5*time.Second)
	after := vs[0].mustInst(t)
	t.Logf("h0 rejoined as MASTER %v after the new eth0 (ifindex %d → %d, MAC %s → %s), reason %s",
		after.Since.Sub(recreated).Round(time.Millisecond), before.IfIndex, after.IfIndex, before.HardwareAddr, after.HardwareAddr, after.Reason)
	if after.IfIndex == before.IfIndex || after.IfIndex == 0 {
		t.Errorf("ifindex in status %d → %d; want the new interface's", before.IfIndex, after.IfIndex)
	}
	if mac := h0.MAC().String(); after.HardwareAddr != mac {
		t.Errorf("status MAC %s, the new eth0 has %s", after.HardwareAddr, mac)
	}
	if after.Reason != "preempt" {
		t.Errorf("h0 MASTER with reason %q, want preempt", after.Reason)
	}
	waitNeigh(t, l, l.VIP4, 0, 2*time.Second)
	waitFor(t, 2*time.Second, "client answered by h0", func() (bool, string) { return p.StableOn("h0", 200*time.Millisecond), "" })
	stillRunning(t, vs[0], 0)
	noCrash(t, vs[0])
}

// TestHardeningChangedMAC (issue 8 #7): the master's MAC changes in place; it
// re-announces at once, so the client's ARP entry follows within a second and
// the VIP keeps answering.
func TestHardeningChangedMAC(t *testing.T) {
	l := newLab(t, 2, withoutIPv6())
	vs := []*vipd{startOn(l, 0, "", vipdSpec{Priority: 200}), startOn(l, 1, "", vipdSpec{Priority: 100})}
	waitElected(t, l, vs, all(2), 0, 5*time.Second)
	p := proberOn(t, l, "h0")
	waitNeigh(t, l, l.VIP4, 0, time.Second)
	before := vs[0].mustInst(t)

	mac := net.HardwareAddr{0x02, 0x00, 0x5e, 0x10, 0x00, 0x01}
	changed := time.Now()
	l.SetMAC(0, mac)
	var moved time.Duration
	waitFor(t, time.Second, "client's ARP entry for the VIP to name "+mac.String(), func() (bool, string) {
		got, state, err := l.ArpEntry(l.VIP4)
		moved = time.Since(changed)
		return err == nil && got.String() == mac.String(), fmt.Sprintf("%v %s %v", got, state, err)
	})
	waitFor(t, 2*time.Second, "client answered by h0", func() (bool, string) { return p.StableOn("h0", 200*time.Millisecond), "" })
	gap := p.LongestGapIn(changed, time.Now())
	after := vs[0].mustInst(t)
	t.Logf("ARP entry moved %v after the change; longest client gap %v; announcements %d → %d",
		moved.Round(time.Millisecond), gap.Round(time.Millisecond), before.Announcements, after.Announcements)
	if gap > time.Second {
		t.Errorf("client went %v without an answer after the MAC change", gap)
	}
	if after.State != "MASTER" || after.HardwareAddr != mac.String() || after.IfIndex != before.IfIndex {
		t.Errorf("h0 after the change: %s, MAC %s, ifindex %d → %d; want MASTER, %s, same ifindex",
			after.State, after.HardwareAddr, before.IfIndex, after.IfIndex, mac)
	}
	if hs := holders(l, l.VIP4); !slices.Equal(hs, []string{"h0"}) {
		t.Errorf("VIP on %v, want h0 only", hs)
	}
}

// TestHardeningOSFailures (issue 8, found by reading): failures only the OS
// produces are decisions and status, not log lines.
func TestHardeningOSFailures(t *testing.T) {
	// A dual-stack instance on a host whose eth0 has IPv6 disabled: it
	// cannot hold every VIP, so the healthy host with the lower base
	// priority must end up MASTER, and status and metrics show the failed adds.
	t.Run("IPv6 VIP on an interface with IPv6 disabled", func(t *testing.T) {
		l := newLab(t, 2)
		l.host(0).MustExec("sysctl", "-qw", "net.ipv6.conf."+hostIf+".disable_ipv6=1")
		spec := func(p int) vipdSpec {
			return vipdSpec{Priority: p, VIPs: []netip.Addr{l.VIP4, l.VIP6}, Args: []string{"--metrics-address", hardMetrics}}
		}
		vs := []*vipd{startOn(l, 0, "", spec(200)), startOn(l, 1, "", spec(100))}
		waitElected(t, l, vs, all(2), 1, 10*time.Second, l.VIP4, l.VIP6)
		p := l.startProber(l.VIP4)
		// h1 must stay MASTER: sample for 4 s and count every time it is not.
		var bad []string
		from := time.Now()
		for end := from.Add(4 * time.Second); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
			if ok, why := electedAmong(l, vs, all(2), 1, l.VIP4, l.VIP6); !ok {
				bad = append(bad, fmt.Sprintf("+%v %s", time.Since(from).Round(time.Millisecond), why))
			}
		}
		rep := p.Stop()
		t.Logf("client over the 4 s window: %v", rep)
		if len(bad) > 0 {
			t.Errorf("h1 did not stay MASTER: %d bad samples of ~200 in 4 s; first %q, last %q; client outage %v",
				len(bad), bad[0], bad[len(bad)-1], rep.Outage())
		}
		in := vs[0].mustInst(t)
		adds := metricSum(t, l, 0, "vipd_vip_operation_errors_total", `op="add"`)
		t.Logf("h0: %s (%s), effective priority %d, add_errors %d, add_failing %v, last error %q; metric add errors %v",
			in.State, in.Reason, in.EffectivePriority, in.AddErrors, in.AddFailing, in.LastError, adds)
		if in.AddErrors == 0 || adds == 0 {
			t.Errorf("h0's failed IPv6 add is not shown: status add_errors %d, metric %v", in.AddErrors, adds)
		}
		noCrash(t, vs[0])
	})

	// nftables in the master's namespace drops its outgoing VRRP: sends fail
	// (EPERM), status counts them, and /healthz fails within ~3 intervals.
	t.Run("adverts dropped by nftables", func(t *testing.T) {
		l := newLab(t, 2, withoutIPv6())
		m := []string{"--metrics-address", hardMetrics}
		vs := []*vipd{startOn(l, 0, "", vipdSpec{Priority: 200, Args: m}), startOn(l, 1, "", vipdSpec{Priority: 100, Args: m})}
		waitElected(t, l, vs, all(2), 0, 5*time.Second)
		waitFor(t, 2*time.Second, "h0 /healthz 200", func() (bool, string) {
			code, body, err := healthz(l, 0)
			return err == nil && code == 200, fmt.Sprint(code, body, err)
		})
		before := vs[0].mustInst(t)
		ns := l.host(0).NS
		l.Run("ip", "netns", "exec", ns, "nft", "add", "table", "inet", "vthard")
		l.Run("ip", "netns", "exec", ns, "nft", "add", "chain", "inet", "vthard", "out", "{ type filter hook output priority 0 ; policy accept ; }")
		dropped := time.Now()
		l.Run("ip", "netns", "exec", ns, "nft", "add", "rule", "inet", "vthard", "out", "ip", "protocol", "112", "drop")

		var code int
		var body string
		waitFor(t, 3*time.Second, "h0 /healthz 503", func() (bool, string) {
			var err error
			code, body, err = healthz(l, 0)
			return err == nil && code == 503, fmt.Sprint(code, body, err)
		})
		took := time.Since(dropped)
		in1 := vs[0].mustInst(t)
		time.Sleep(3 * vipdInterval)
		in2 := vs[0].mustInst(t)
		t.Logf("/healthz 503 %v after the rule: %s; h0 %s, send_errors %d → %d → %d, stalled %v, last error %q",
			took.Round(time.Millisecond), strings.TrimSpace(body), in2.State, before.SendErrors, in1.SendErrors, in2.SendErrors, in2.Stalled, in2.LastError)
		if bound := 3*vipdInterval + 250*time.Millisecond; took > bound {
			t.Errorf("/healthz failed %v after the rule, want within ~3 intervals (%v)", took, bound)
		}
		if !(in2.SendErrors > in1.SendErrors && in1.SendErrors > before.SendErrors) && !in2.Stalled {
			t.Errorf("h0's status shows neither rising send_errors (%d → %d → %d) nor stalled", before.SendErrors, in1.SendErrors, in2.SendErrors)
		}
		if in2.State == "MASTER" && !in2.Stalled {
			t.Errorf("h0 MASTER sending nothing but not stalled")
		}
		noCrash(t, vs[0])
	})
}
