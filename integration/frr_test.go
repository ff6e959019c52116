//go:build integration

package integration

// FRR interop: mixed clusters of vipd and FRR 8.4's vrrpd on one segment,
// in the modes both speak (VRRPv3 and VRRPv2 over IPv4 multicast, VRRPv3
// over IPv6; FRR has no unicast VRRP). As with keepalived
// (interop_test.go), each side is Master in turn, takes over from the other
// after a host crash (Master_Down_Interval, RFC 9568 §6.4.2) and after a
// graceful stop (priority 0: Skew_Time), and neither complains about the
// other's packets. The client probes the VIP throughout: vipd answers ARP
// with eth0's MAC, vrrpd with the virtual MAC 00:00:5e:00:01:VRID, and the
// client follows whichever announced last.

import (
	"flag"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
	"time"
)

var (
	updateFRR = flag.Bool("update-frr", false, "rewrite testdata/frr golden files")
	// frrConfigErrorRE matches what an FRR daemon logs about a config line
	// it cannot use (lib/command.c, lib/vty.c).
	frrConfigErrorRE = regexp.MustCompile(`No such command|Command incomplete|Ambiguous command|Error|%`)
)

// TestFRRConfigGolden pins the rendered vrrpd.conf and has vrrpd itself
// check each one (--dryrun).
func TestFRRConfigGolden(t *testing.T) {
	cases := map[string]frrConfig{
		"v3-ipv4": {Hostname: "h1", VRID: 81, Priority: 150, Interval: 200 * time.Millisecond, Version: 3, Preempt: true,
			VIP: netip.MustParseAddr("198.18.0.200")},
		"v2-ipv4-nopreempt": {Hostname: "h1", VRID: 5, Priority: 100, Interval: 2 * time.Second, Version: 2,
			VIP: netip.MustParseAddr("198.18.0.200")},
		"v3-ipv6": {Hostname: "h0", VRID: 81, Priority: 50, Interval: time.Second, Version: 3, Preempt: true,
			VIP: netip.MustParseAddr("fd00:198:18::200")},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			got, err := c.render()
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join("testdata", "frr", name+".conf")
			if *updateFRR {
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update-frr)", err)
			}
			if got != string(want) {
				t.Errorf("%s differs (-want +got):\n-%s\n+%s", path, want, got)
			}
			// vrrpd --dryrun exits 0 even on a bad line; its log says.
			out, err := exec.Command(filepath.Join(frrDir, "vrrpd"), "--dryrun", "-f", path).CombinedOutput()
			if err != nil || frrConfigErrorRE.Match(out) {
				t.Errorf("vrrpd --dryrun -f %s: %v\n%s", path, err, out)
			}
		})
	}
	for _, bad := range []frrConfig{
		{VRID: 0, Priority: 100, Interval: time.Second, Version: 3, VIP: netip.MustParseAddr("198.18.0.200")},
		{VRID: 1, Priority: 255, Interval: time.Second, Version: 3, VIP: netip.MustParseAddr("198.18.0.200")},
		{VRID: 1, Priority: 100, Interval: 15 * time.Millisecond, Version: 3, VIP: netip.MustParseAddr("198.18.0.200")},
		{VRID: 1, Priority: 100, Interval: 1500 * time.Millisecond, Version: 2, VIP: netip.MustParseAddr("198.18.0.200")},
		{VRID: 1, Priority: 100, Interval: time.Second, Version: 2, VIP: netip.MustParseAddr("fd00:198:18::200")},
	} {
		if _, err := bad.render(); err == nil {
			t.Errorf("render(%+v) succeeded, want an error", bad)
		}
	}
}

// TestInteropFRR runs vipd on h0 and FRR on h1 in every mode both speak,
// then checks that FRR 8.4 rejects vipd's RFC 9568 message-only checksum
// (the complaint the other subtests look for and must not find).
func TestInteropFRR(t *testing.T) {
	t.Logf("FRR: %s", frrVersion())
	modes := []interopMode{
		{name: "v3-ipv4", version: 3, interval: 200 * time.Millisecond},
		{name: "v2-ipv4", version: 2, interval: time.Second},
		{name: "v3-ipv6", version: 3, ipv6: true, interval: 200 * time.Millisecond},
	}
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) { frrFailover(t, m) })
	}
	t.Run("v3-ipv4-checksum-message-only", frrChecksumMessageOnly)
}

var (
	// frrHigherPrioRE: an FRR Master meeting a higher priority (vrrp.c).
	frrHigherPrioRE = regexp.MustCompile(`Received advertisement from \S+ w/ priority [0-9]+; switching to Backup`)
	// frrAcceptedRE: an advert that passed vrrpd's checks (debug protocol).
	frrAcceptedRE = regexp.MustCompile(`Received VRRP Advertisement from`)
)

func startInteropFRR(l *lab, h int, c daemonConfig) *frr {
	l.t.Helper()
	return frrDaemon{}.Start(l, h, c).(*frr)
}

// frrCheckQuiet fails the test for every complaint in the logs of fs.
func frrCheckQuiet(t *testing.T, fs ...*frr) {
	t.Helper()
	for _, f := range fs {
		for _, line := range f.Complaints() {
			t.Errorf("FRR on %s complained: %s", f.node.Name, line)
		}
	}
}

// frrWaitNeigh waits until the client's neighbour entry for vip is mac.
func frrWaitNeigh(t *testing.T, l *lab, vip netip.Addr, mac net.HardwareAddr, who string) {
	t.Helper()
	waitFor(t, 2*time.Second, fmt.Sprintf("client's neighbour entry for %v to be %s's %v", vip, who, mac), func() (bool, string) {
		got, state, err := l.ArpEntry(vip)
		if err != nil {
			return false, err.Error()
		}
		return got.String() == mac.String(), fmt.Sprintf("%v %s", got, state)
	})
}

// frrCheckHolder checks that exactly one of vipd (on eth0) and FRR (up
// macvlan) holds the VIP: the side named by master.
func frrCheckHolder(t *testing.T, l *lab, vip netip.Addr, f *frr, master string) {
	t.Helper()
	waitFor(t, 2*time.Second, "the VIP held by "+master+" only", func() (bool, string) {
		v, fr := l.host(0).HasAddr(vip), f.VIPLive()
		return v == (master == "vipd") && fr == (master == "frr"), fmt.Sprintf("vipd holds it: %v, FRR holds it: %v", v, fr)
	})
}

func frrFailover(t *testing.T, m interopMode) {
	var opts []labOption
	if !m.ipv6 {
		opts = append(opts, withoutIPv6())
	}
	l := newLab(t, 2, opts...)
	sn := l.sniff()
	vip := m.vip(l)
	vmac := frrVMAC(81, m.ipv6)
	h0mac := l.host(0).MAC()
	var fs []*frr // every FRR run, for the log check
	defer func() { frrCheckQuiet(t, fs...) }()

	// (a) FRR Master (150), vipd Backup (100) with FRR as its master.
	f := startInteropFRR(l, 1, m.config(l, 1, 150))
	fs = append(fs, f)
	f.waitState("MASTER", m.masterDown(150)+5*time.Second)
	fr, err := f.Show()
	if err != nil {
		t.Fatal(err)
	}
	// FRR's source: eth0's address for IPv4, the macvlan's (random)
	// link-local for IPv6, which 8.4's JSON shows as "::".
	src := l.host(1).V4
	if m.ipv6 {
		src = f.linkLocal()
	}
	t.Logf("FRR on h1: %s, source %v (JSON primaryAddress %q), vmac %s on %s, Master_Down_Interval %d ms",
		fr.Status, src, fr.PrimaryAddress, fr.VMAC, fr.Interface, fr.MasterDownInterval)
	if fr.VMAC != vmac.String() {
		t.Errorf("FRR's vmac is %s, want %v", fr.VMAC, vmac)
	}
	v := interopVipd(l, 0, m.config(l, 0, 100))
	waitDaemonState(l, 0, v, "BACKUP", 2*time.Second)
	interopWaitReceived(t, v, uint64(3*m.masterDown(100)/m.interval), 3*m.masterDown(100)+2*time.Second)
	in := v.mustInst(t)
	if in.State != "BACKUP" || in.Master != src.String() || in.MasterPriority != 150 {
		t.Fatalf("vipd is %s (%s) with master %s priority %d, want BACKUP under FRR's %v priority 150",
			in.State, in.Reason, in.Master, in.MasterPriority, src)
	}
	interopCheckVipd(t, v, m.form())
	var frrAdverts int
	for _, a := range sn.Since(time.Now().Add(-2 * m.masterDown(100))) {
		if a.Host == "h1" {
			frrAdverts++
			if a.Version != m.version || a.Priority != 150 || a.Interval != m.interval || a.VRID != 81 || a.Src != src {
				t.Errorf("FRR advert on the wire: %v, want v%d vrid 81 prio 150 int %v from %v", a, m.version, m.interval, src)
				break
			}
		}
	}
	if frrAdverts == 0 {
		t.Fatalf("no adverts from FRR on the wire")
	}
	pr := l.startProber(vip)
	waitFor(t, 5*time.Second, "client answered by h1 (FRR)", func() (bool, string) {
		h, _ := pr.LastHost()
		return pr.StableOn("h1", 300*time.Millisecond), "last answer from " + h
	})
	pr.Stop()
	frrWaitNeigh(t, l, vip, vmac, "FRR's virtual MAC")
	frrCheckHolder(t, l, vip, f, "frr")

	// (c) FRR's host crashes: vipd takes over after its Master_Down_Interval.
	r := interopHandover(t, l, vip, "h1", "h0", m.masterDown(100)+5*time.Second, func() { interopHostCrash(l, 1, f.Crash) })
	waitDaemonState(l, 0, v, "MASTER", time.Second)
	if c, _ := v.interopCounters(); c.Reason != "master-down-timer" {
		t.Errorf("vipd took over with reason %q, want master-down-timer", c.Reason)
	}
	interopCheckOutage(t, "FRR master crash, vipd takes over", r, m.masterDown(100)-m.interval-50*time.Millisecond, m.masterDown(100)+interopSlack)
	frrWaitNeigh(t, l, vip, h0mac, "h0")
	// The rebooted host comes back without the macvlan the dead vrrpd left up.
	f.removeMacvlan()
	l.RestoreLink(1)

	// FRR comes back with the higher priority and preempts vipd.
	r = interopHandover(t, l, vip, "h0", "h1", m.masterDown(150)+5*time.Second, func() {
		f = startInteropFRR(l, 1, m.config(l, 1, 150))
		fs = append(fs, f)
	})
	f.waitState("MASTER", time.Second)
	waitDaemonState(l, 0, v, "BACKUP", 2*time.Second)
	if c, _ := v.interopCounters(); c.Reason != "higher-priority-advert" {
		t.Errorf("vipd stepped down with reason %q, want higher-priority-advert", c.Reason)
	}
	t.Logf("FRR preempts vipd: longest gap %v; %v", r.Outage().Round(time.Millisecond), r)
	if r.Outage() > m.interval+interopSlack {
		t.Errorf("FRR preempting vipd cost the client %v, want at most an interval", r.Outage())
	}
	frrWaitNeigh(t, l, vip, vmac, "FRR's virtual MAC")
	frrCheckHolder(t, l, vip, f, "frr")

	// (c) FRR stops: priority 0, vipd takes over after Skew_Time.
	r = interopHandover(t, l, vip, "h1", "h0", m.masterDown(100)+5*time.Second, f.Stop)
	waitDaemonState(l, 0, v, "MASTER", time.Second)
	if c, _ := v.interopCounters(); c.Reason != "priority-zero-advert" {
		t.Errorf("vipd took over with reason %q, want priority-zero-advert", c.Reason)
	}
	interopCheckOutage(t, "FRR graceful stop, vipd takes over", r, 0, min(m.skew(100)+interopSlack, m.masterDown(100)-m.interval))
	frrWaitNeigh(t, l, vip, h0mac, "h0")
	frrCheckHolder(t, l, vip, f, "vipd") // a stopped vrrpd leaves its macvlan protodown
	interopCheckVipd(t, v, m.form())

	// (b) vipd Master (100), FRR Backup (50).
	f = startInteropFRR(l, 1, m.config(l, 1, 50))
	fs = append(fs, f)
	f.waitState("BACKUP", 5*time.Second)
	// FRR accepts vipd's adverts: it stays Backup for three of its
	// Master_Down_Intervals, counts them, and says nothing about them.
	mark := time.Now()
	before, err := f.Show()
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 3*m.masterDown(50)+2*time.Second, "three Master_Down_Intervals of vipd adverts", func() (bool, string) {
		return time.Since(mark) > 3*m.masterDown(50), ""
	})
	after, err := f.Show()
	if err != nil {
		t.Fatal(err)
	}
	if after.Status != "Backup" {
		t.Fatalf("FRR is %s under a vipd Master of higher priority, want Backup; its log:\n%s", after.Status, tail(l.LogPath(f.vrrpdPid), 30))
	}
	var vipdAdverts int
	for _, a := range sn.Since(mark) {
		if a.Host == "h0" && a.Priority == 100 && a.Version == m.version && a.Interval == m.interval {
			vipdAdverts++
		}
	}
	rx := after.Stats.AdverRx - before.Stats.AdverRx
	t.Logf("FRR on h1: Backup; %d vipd adverts on the wire, FRR's adverRx grew by %d", vipdAdverts, rx)
	if vipdAdverts == 0 || rx < vipdAdverts-1 {
		t.Errorf("FRR counted %d of vipd's %d adverts", rx, vipdAdverts)
	}
	if !f.Logged(frrAcceptedRE) {
		t.Errorf("FRR logged no accepted advert")
	}
	frrCheckHolder(t, l, vip, f, "vipd")

	// (c) vipd's host crashes: FRR takes over after its Master_Down_Interval.
	r = interopHandover(t, l, vip, "h0", "h1", m.masterDown(50)+5*time.Second, func() { interopHostCrash(l, 0, func() { v.kill9(t) }) })
	f.waitState("MASTER", time.Second)
	interopCheckOutage(t, "vipd master crash, FRR takes over", r, m.masterDown(50)-m.interval-50*time.Millisecond, m.masterDown(50)+interopSlack)
	frrWaitNeigh(t, l, vip, vmac, "FRR's virtual MAC")
	interopHostReboot(l, 0, vip)

	// vipd comes back with the higher priority and preempts FRR.
	r = interopHandover(t, l, vip, "h1", "h0", m.masterDown(100)+5*time.Second, func() {
		v = interopVipd(l, 0, m.config(l, 0, 100))
	})
	waitDaemonState(l, 0, v, "MASTER", time.Second)
	f.waitState("BACKUP", 2*time.Second)
	if !f.Logged(frrHigherPrioRE) {
		t.Errorf("FRR did not log vipd's higher priority advert")
	}
	t.Logf("vipd preempts FRR: longest gap %v; %v", r.Outage().Round(time.Millisecond), r)
	if r.Outage() > m.interval+interopSlack {
		t.Errorf("vipd preempting FRR cost the client %v, want at most an interval", r.Outage())
	}
	frrWaitNeigh(t, l, vip, h0mac, "h0")
	frrCheckHolder(t, l, vip, f, "vipd")
	interopCheckVipd(t, v, m.form()) // FRR's adverts, while vipd listened before preempting

	// (c) vipd stops: priority 0, FRR takes over after Skew_Time.
	r = interopHandover(t, l, vip, "h0", "h1", m.masterDown(50)+5*time.Second, v.Stop)
	f.waitState("MASTER", time.Second)
	interopCheckOutage(t, "vipd graceful stop, FRR takes over", r, 0, min(m.skew(50)+interopSlack, m.masterDown(50)-m.interval))
	frrWaitNeigh(t, l, vip, vmac, "FRR's virtual MAC")
	frrCheckHolder(t, l, vip, f, "frr")
}

// frrChecksumMessageOnly: FRR 8.4 computes the VRRPv3/IPv4 checksum over an
// IPv4 pseudo-header and has no option for the RFC 9568 §5.2.8 form (the
// checksum-with-ipv4-pseudoheader knob came with FRR 9). A vipd sending
// --checksum message-only is rejected, as FRR's log says; vipd accepts FRR's
// pseudo-header adverts whatever it sends.
func frrChecksumMessageOnly(t *testing.T) {
	m := interopMode{version: 3, interval: 200 * time.Millisecond}
	l := newLab(t, 2, withoutIPv6())
	c := m.config(l, 0, 150)
	c.VipdArgs = []string{"--checksum", "message-only"}
	v := interopVipd(l, 0, c)
	waitDaemonState(l, 0, v, "MASTER", m.masterDown(150)+5*time.Second)
	f := startInteropFRR(l, 1, m.config(l, 1, 100))
	re := regexp.MustCompile(`(?i)datagram invalid: Bad VRRP checksum`)
	waitFor(t, 5*time.Second, `FRR to log "Bad VRRP checksum"`, func() (bool, string) {
		return f.Logged(re), f.State()
	})
	if got := f.Complaints(); len(got) == 0 {
		t.Errorf("frrComplaintRE missed FRR's checksum complaint")
	} else {
		t.Logf("FRR 8.4 rejects vipd --checksum message-only, as expected: %s", got[0])
	}
	// Deaf to vipd, FRR becomes a second Master; vipd hears it, accepts its
	// pseudo-header adverts, and stays Master (150 over 100).
	f.waitState("MASTER", m.masterDown(100)+2*time.Second)
	interopWaitReceived(t, v, 5, 3*time.Second)
	interopCheckVipd(t, v, "pseudo-header")
	if s := v.State(); s != "MASTER" {
		t.Errorf("vipd is %s, want MASTER", s)
	}
}
