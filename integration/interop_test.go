//go:build integration

package integration

// keepalived interop: mixed clusters of vipd and keepalived 2.2.x on one
// segment. Each side is Master in turn, each side takes over from the other
// after a crash (Master_Down_Interval, RFC 9568 §6.4.2) and after a graceful
// stop (priority 0: Skew_Time), and neither side complains about the other's
// packets: keepalived's log has none of its receive-check messages and vipd
// counts no drops.

import (
	"bufio"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"testing"
	"time"
)

// keepalivedComplaintRE matches the messages keepalived 2.2.7 logs when a
// received VRRP packet fails a check (vrrp.c vrrp_check_packet and the
// socket read path, strings taken from the 2.2.7 binary), or when it
// switches to the pre-1.3.6 unicast checksum to suit a peer. "received
// lower priority (N) advert ... discarding" is not among them: that is
// preemption working.
var keepalivedComplaintRE = regexp.MustCompile(`Invalid VRRPv[23] checksum` +
	`|invalid TTL/HL|TTL/HL [0-9]+ not in range` +
	`|wrong version\. Received` +
	`|vrrp packet too (short|long)|VRRP packet (with AH )?too short` +
	`|Invalid packet type` +
	`|unexpected ip number count|expected [0-9]+ VIPs but received|not present in MASTER advert` +
	`|ip_tot_len mismatch` +
	`|advertisement interval mismatch` +
	`|icast packet but received` +
	`|not a unicast peer` +
	`|auth, expecting|invalid passwd|IPSEC-AH` +
	`|Unknown VRID|bogus packet` +
	`|unicast VRRPv3 checksum to old version`)

// complaints returns the lines of k's log where keepalived rejected or
// questioned a received packet.
func (k *keepalived) interopComplaints() []string {
	f, err := os.Open(k.lab.LogPath(k.pid))
	if err != nil {
		return []string{err.Error()}
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if keepalivedComplaintRE.MatchString(sc.Text()) {
			out = append(out, sc.Text())
		}
	}
	return out
}

// logged reports whether k's log has a line matching re.
func (k *keepalived) interopLogged(re *regexp.Regexp) bool {
	b, err := os.ReadFile(k.lab.LogPath(k.pid))
	return err == nil && re.Match(b)
}

// checkKeepalivedQuiet fails the test for every complaint in the logs of ks.
func interopCheckKeepalived(t *testing.T, ks ...*keepalived) {
	t.Helper()
	for _, k := range ks {
		for _, line := range k.interopComplaints() {
			t.Errorf("keepalived on %s complained: %s", k.node.Name, line)
		}
	}
}

// interopVipdCounters is the part of vipd's status the interop checks read.
type interopVipdCounters struct {
	State, Reason string
	Received      uint64
	Drops         map[string]int
	Forms         map[string]int
	Mismatches    uint64
}

// counters reads v's instance status; ok is false if vipd did not answer.
func (v *vipd) interopCounters() (interopVipdCounters, bool) {
	st, err := v.Status()
	if err != nil {
		return interopVipdCounters{}, false
	}
	for _, in := range st.Instances {
		if in.VRID == v.vrid {
			return interopVipdCounters{State: in.State, Reason: in.Reason, Received: in.AdvertsReceived,
				Drops: in.Drops, Forms: in.ChecksumForms, Mismatches: in.AddressMismatches}, true
		}
	}
	return interopVipdCounters{}, false
}

// checkVipdHeard checks that v accepted adverts, dropped none (whatever the
// reason), saw only the checksum form want, and found no address mismatch.
func interopCheckVipd(t *testing.T, v *vipd, want string) {
	t.Helper()
	c, ok := v.interopCounters()
	if !ok {
		t.Errorf("vipd on %s: no status", v.node.Name)
		return
	}
	if c.Received == 0 {
		t.Errorf("vipd on %s accepted no adverts", v.node.Name)
	}
	for reason, n := range c.Drops {
		if n != 0 {
			t.Errorf("vipd on %s dropped %d adverts as %q", v.node.Name, n, reason)
		}
	}
	for form, n := range c.Forms {
		if form != want && n != 0 {
			t.Errorf("vipd on %s verified %d adverts with checksum form %q, want only %q", v.node.Name, n, form, want)
		}
	}
	if c.Forms[want] == 0 {
		t.Errorf("vipd on %s: checksum forms %v, want %q", v.node.Name, c.Forms, want)
	}
	if c.Mismatches != 0 {
		t.Errorf("vipd on %s: %d address mismatches", v.node.Name, c.Mismatches)
	}
	t.Logf("vipd on %s: %s, %d adverts accepted, checksum forms %v, no drops", v.node.Name, c.State, c.Received, c.Forms)
}

// waitVipdReceived waits until v has accepted at least n adverts.
func interopWaitReceived(t *testing.T, v *vipd, n uint64, timeout time.Duration) {
	t.Helper()
	waitFor(t, timeout, fmt.Sprintf("vipd on %s to accept %d adverts", v.node.Name, n), func() (bool, string) {
		c, _ := v.interopCounters()
		return c.Received >= n, fmt.Sprintf("%d accepted, drops %v", c.Received, c.Drops)
	})
}

// interopMode is one way of running a mixed cluster.
type interopMode struct {
	name     string
	version  int
	unicast  bool
	ipv6     bool
	interval time.Duration
}

func (m interopMode) vip(l *lab) netip.Addr {
	if m.ipv6 {
		return l.VIP6
	}
	return l.VIP4
}

// config is host h's configuration with priority prio; in unicast mode
// its peers are the other hosts of the lab.
func (m interopMode) config(l *lab, h, prio int) daemonConfig {
	c := daemonConfig{VRID: 81, Priority: prio, Interval: m.interval, Version: m.version, VIP: m.vip(l), Preempt: true}
	if m.unicast {
		for _, o := range l.hosts {
			if o.idx != h {
				c.Peers = append(c.Peers, o.V4)
			}
		}
	}
	return c
}

// form is the checksum form keepalived's adverts carry: RFC 3768 §5.3.8
// (message only) for version 2, a pseudo-header for version 3 (RFC 8200 for
// IPv6; the UDP-style IPv4 one keepalived has always sent).
func (m interopMode) form() string {
	if m.version == 2 {
		return "message-only"
	}
	return "pseudo-header"
}

// skew is Skew_Time for prio (RFC 9568 §6.1; RFC 3768 §6.1 with its fixed
// one second for version 2).
func (m interopMode) skew(prio int) time.Duration {
	base := m.interval
	if m.version == 2 {
		base = time.Second
	}
	return time.Duration(256-prio) * base / 256
}

// masterDown is Master_Down_Interval for prio.
func (m interopMode) masterDown(prio int) time.Duration { return 3*m.interval + m.skew(prio) }

func interopVipd(l *lab, h int, c daemonConfig) *vipd {
	l.t.Helper()
	return vipdDaemon{}.Start(l, h, c).(*vipd)
}

func interopKeepalived(l *lab, h int, c daemonConfig) *keepalived {
	l.t.Helper()
	return keepalivedDaemon{}.Start(l, h, c).(*keepalived)
}

// interopCrashHost kills k like a dying host would: every process at once, and
// its pid files gone with the host's /run, so that keepalived starts
// again after the reboot.
func (k *keepalived) interopCrashHost() {
	k.lab.t.Helper()
	pids := k.Pids()
	k.Crash()
	waitFor(k.lab.t, 5*time.Second, "keepalived processes to be gone", func() (bool, string) {
		for _, pid := range pids {
			if alive(pid) {
				return false, fmt.Sprintf("pid %d alive", pid)
			}
		}
		return true, ""
	})
	pidFiles, _ := filepath.Glob(filepath.Join(k.dir, "*.pid"))
	for _, f := range pidFiles {
		_ = os.Remove(f)
	}
}

// hostCrash is a host dying: its cable goes dead and its daemon is killed.
// hostReboot brings it back without the addresses the dead daemon left.
func interopHostCrash(l *lab, h int, kill func()) {
	l.t.Helper()
	l.CutLink(h)
	kill()
}

func interopHostReboot(l *lab, h int, vip netip.Addr) {
	l.t.Helper()
	_, _ = l.host(h).Exec("ip", "addr", "del", netip.PrefixFrom(vip, vip.BitLen()).String(), "dev", hostIf)
	l.RestoreLink(h)
}

// handover probes vip from the client while fault runs, until the client is
// answered by to alone, and returns what the client saw.
func interopHandover(t *testing.T, l *lab, vip netip.Addr, from, to string, timeout time.Duration, fault func()) probeReport {
	t.Helper()
	pr := l.startProber(vip)
	if from != "" {
		waitFor(t, 10*time.Second, "client answered by "+from, func() (bool, string) {
			h, _ := pr.LastHost()
			return pr.StableOn(from, 300*time.Millisecond), "last answer from " + h
		})
	}
	fault()
	waitFor(t, timeout, "client answered by "+to, func() (bool, string) {
		h, _ := pr.LastHost()
		return pr.StableOn(to, 300*time.Millisecond), "last answer from " + h
	})
	return pr.Stop()
}

// checkOutage checks a client-observed outage against [lo, hi].
func interopCheckOutage(t *testing.T, what string, r probeReport, lo, hi time.Duration) {
	t.Helper()
	t.Logf("%s: outage %v (allowed %v..%v); %v", what, r.Outage().Round(time.Millisecond), lo, hi, r)
	if r.Outage() < lo || r.Outage() > hi {
		t.Errorf("%s: outage %v outside [%v, %v]", what, r.Outage().Round(time.Millisecond), lo, hi)
	}
	if r.DupAnswers > 0 {
		t.Errorf("%s: %d probes answered twice (two masters)", what, r.DupAnswers)
	}
}

// interopSlack is what a takeover may add to the RFC timers here: scheduling,
// the advert's trip, the VIP added, one gratuitous ARP or NA, and the
// prober's 10 ms resolution.
const interopSlack = 400 * time.Millisecond

var (
	interopPriorityZeroRE = regexp.MustCompile(`Backup received priority 0 advertisement`)
	interopHigherPrioRE   = regexp.MustCompile(`Master received advert from \S+ with higher priority`)
)

// TestInteropFailover runs vipd on h0 and keepalived on h1 in every mode
// both speak: VRRPv3 and VRRPv2, multicast and unicast, and VRRPv3 over
// IPv6. vipd is Master first (150 over 100): a host crash hands the VIP to
// keepalived after Master_Down_Interval, vipd back takes it back by
// preemption, and a graceful vipd stop hands it over after only Skew_Time.
// Then keepalived is Master (100 over vipd's 50) and the same happens the
// other way round.
func TestInteropFailover(t *testing.T) {
	modes := []interopMode{
		{name: "v3-multicast", version: 3, interval: 200 * time.Millisecond},
		{name: "v3-unicast", version: 3, unicast: true, interval: 200 * time.Millisecond},
		{name: "v2-multicast", version: 2, interval: time.Second},
		{name: "v2-unicast", version: 2, unicast: true, interval: time.Second},
		{name: "v3-ipv6-multicast", version: 3, ipv6: true, interval: 200 * time.Millisecond},
	}
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) { interopFailover(t, m) })
	}
}

func interopFailover(t *testing.T, m interopMode) {
	l := newLab(t, 2)
	sn := l.sniff()
	vip := m.vip(l)
	var kas []*keepalived // every keepalived run, for the log check
	defer func() { interopCheckKeepalived(t, kas...) }()

	// vipd Master, keepalived Backup.
	v := interopVipd(l, 0, m.config(l, 0, 150))
	waitDaemonState(l, 0, v, "MASTER", m.masterDown(150)+5*time.Second)
	k := interopKeepalived(l, 1, m.config(l, 1, 100))
	kas = append(kas, k)
	k.waitState("BACKUP", 5*time.Second)
	waitFor(t, 2*time.Second, "VIP on h0 only", func() (bool, string) {
		return l.host(0).HasAddr(vip) && !l.host(1).HasAddr(vip), ""
	})
	// keepalived accepts vipd's adverts: it stays Backup for several
	// Master_Down_Intervals and says nothing about them.
	mark := time.Now()
	waitFor(t, 3*m.masterDown(100)+2*time.Second, "three Master_Down_Intervals of vipd adverts", func() (bool, string) {
		return time.Since(mark) > 3*m.masterDown(100), ""
	})
	if s := k.State(); s != "BACKUP" {
		t.Fatalf("keepalived is %s under a vipd Master of higher priority, want BACKUP; its log:\n%s", s, tail(l.LogPath(k.pid), 30))
	}
	var vipdAdverts int
	for _, a := range sn.Since(mark) {
		if a.Host == "h0" && a.Priority == 150 && a.Version == m.version && a.Interval == m.interval {
			vipdAdverts++
		}
	}
	if vipdAdverts == 0 {
		t.Fatalf("no v%d adverts from vipd on the wire: %v", m.version, sn.Since(mark))
	}

	// vipd's host crashes: keepalived takes over after its Master_Down_Interval.
	r := interopHandover(t, l, vip, "h0", "h1", m.masterDown(100)+5*time.Second, func() { interopHostCrash(l, 0, func() { v.kill9(t) }) })
	k.waitState("MASTER", time.Second)
	interopCheckOutage(t, "vipd master crash, keepalived takes over", r, m.masterDown(100)-m.interval-50*time.Millisecond, m.masterDown(100)+interopSlack)
	interopHostReboot(l, 0, vip)

	// vipd comes back with the higher priority and preempts keepalived.
	r = interopHandover(t, l, vip, "h1", "h0", m.masterDown(150)+5*time.Second, func() {
		v = interopVipd(l, 0, m.config(l, 0, 150))
	})
	waitDaemonState(l, 0, v, "MASTER", time.Second)
	k.waitState("BACKUP", 2*time.Second)
	if !k.interopLogged(interopHigherPrioRE) {
		t.Errorf("keepalived did not log vipd's higher priority advert")
	}
	t.Logf("vipd preempts keepalived: longest gap %v; %v", r.Outage().Round(time.Millisecond), r)
	if r.Outage() > m.interval+interopSlack {
		t.Errorf("vipd preempting keepalived cost the client %v, want at most an interval", r.Outage())
	}
	interopCheckVipd(t, v, m.form()) // keepalived's adverts, while vipd listened before preempting

	// vipd stops: priority 0, keepalived takes over after Skew_Time.
	r = interopHandover(t, l, vip, "h0", "h1", m.masterDown(100)+5*time.Second, v.Stop)
	k.waitState("MASTER", time.Second)
	if !k.interopLogged(interopPriorityZeroRE) {
		t.Errorf("keepalived did not log vipd's priority 0 advert")
	}
	interopCheckOutage(t, "vipd graceful stop, keepalived takes over", r, 0, min(m.skew(100)+interopSlack, m.masterDown(100)-m.interval))

	// keepalived Master, vipd Backup.
	v = interopVipd(l, 0, m.config(l, 0, 50))
	waitDaemonState(l, 0, v, "BACKUP", 2*time.Second)
	interopWaitReceived(t, v, uint64(3*m.masterDown(50)/m.interval), 3*m.masterDown(50)+2*time.Second)
	if c, _ := v.interopCounters(); c.State != "BACKUP" {
		t.Fatalf("vipd is %s (%s) under a keepalived Master of higher priority, want BACKUP", c.State, c.Reason)
	}
	interopCheckVipd(t, v, m.form())

	// keepalived's host crashes: vipd takes over after its Master_Down_Interval.
	r = interopHandover(t, l, vip, "h1", "h0", m.masterDown(50)+5*time.Second, func() { interopHostCrash(l, 1, k.interopCrashHost) })
	waitDaemonState(l, 0, v, "MASTER", time.Second)
	if c, _ := v.interopCounters(); c.Reason != "master-down-timer" {
		t.Errorf("vipd took over with reason %q, want master-down-timer", c.Reason)
	}
	interopCheckOutage(t, "keepalived master crash, vipd takes over", r, m.masterDown(50)-m.interval-50*time.Millisecond, m.masterDown(50)+interopSlack)
	interopHostReboot(l, 1, vip)

	// keepalived comes back with the higher priority and preempts vipd.
	r = interopHandover(t, l, vip, "h0", "h1", m.masterDown(100)+5*time.Second, func() {
		k = interopKeepalived(l, 1, m.config(l, 1, 100))
		kas = append(kas, k)
	})
	k.waitState("MASTER", time.Second)
	waitDaemonState(l, 0, v, "BACKUP", 2*time.Second)
	if c, _ := v.interopCounters(); c.Reason != "higher-priority-advert" {
		t.Errorf("vipd stepped down with reason %q, want higher-priority-advert", c.Reason)
	}
	t.Logf("keepalived preempts vipd: longest gap %v; %v", r.Outage().Round(time.Millisecond), r)
	if r.Outage() > m.interval+interopSlack {
		t.Errorf("keepalived preempting vipd cost the client %v, want at most an interval", r.Outage())
	}

	// keepalived stops: priority 0, vipd takes over after Skew_Time.
	r = interopHandover(t, l, vip, "h1", "h0", m.masterDown(50)+5*time.Second, k.Stop)
	waitDaemonState(l, 0, v, "MASTER", time.Second)
	if c, _ := v.interopCounters(); c.Reason != "priority-zero-advert" {
		t.Errorf("vipd took over with reason %q, want priority-zero-advert", c.Reason)
	}
	interopCheckOutage(t, "keepalived graceful stop, vipd takes over", r, 0, min(m.skew(50)+interopSlack, m.masterDown(50)-m.interval))
	interopCheckVipd(t, v, m.form())
	v.Stop()
}

// TestInteropChecksumMessageOnly: vipd sending the VRRPv3 IPv4 checksum of
// RFC 9568 §5.2.8 (the message alone) next to keepalived. keepalived 2.2.7
// sends and accepts only the pseudo-header form: it has no option for the
// RFC 9568 one (v3_checksum_as_v2 does not exist in 2.2.7; its
// old_unicast_checksum is the pre-1.3.6 unicast variant, still a
// pseudo-header). So this test proves what vipd does: a message-only vipd
// accepts keepalived's pseudo-header adverts, a default vipd accepts the
// message-only vipd's, and keepalived rejects the latter, as its log says.
func TestInteropChecksumMessageOnly(t *testing.T) {
	m := interopMode{version: 3, interval: 200 * time.Millisecond}
	l := newLab(t, 3)
	k := interopKeepalived(l, 0, m.config(l, 0, 150))
	k.waitState("MASTER", m.masterDown(150)+5*time.Second)
	c1 := m.config(l, 1, 100)
	c1.VipdArgs = []string{"--checksum", "message-only"}
	v1 := interopVipd(l, 1, c1)
	v2 := interopVipd(l, 2, m.config(l, 2, 50))
	for _, v := range []*vipd{v1, v2} {
		interopWaitReceived(t, v, 10, 5*time.Second)
		interopCheckVipd(t, v, "pseudo-header")
		if s := v.State(); s != "BACKUP" {
			t.Fatalf("vipd on %s is %s, want BACKUP", v.node.Name, s)
		}
	}

	// keepalived leaves; the message-only vipd takes over and h2 hears it.
	k.Stop()
	interopCheckKeepalived(t, k)
	waitDaemonState(l, 1, v1, "MASTER", m.masterDown(100)+2*time.Second)
	before, _ := v2.interopCounters()
	waitFor(t, 5*time.Second, "vipd on h2 to verify 10 message-only adverts", func() (bool, string) {
		c, _ := v2.interopCounters()
		return c.Forms["message-only"] >= 10, fmt.Sprintf("forms %v drops %v", c.Forms, c.Drops)
	})
	after, _ := v2.interopCounters()
	for reason, n := range after.Drops {
		if n != 0 {
			t.Errorf("vipd on h2 dropped %d adverts as %q", n, reason)
		}
	}
	if after.Forms["pseudo-header"] != before.Forms["pseudo-header"] {
		t.Errorf("vipd on h2 verified pseudo-header adverts after keepalived left: %v then %v", before.Forms, after.Forms)
	}
	if s := v2.State(); s != "BACKUP" {
		t.Errorf("vipd on h2 is %s, want BACKUP", s)
	}
	t.Logf("vipd on h2: checksum forms %v, no drops", after.Forms)

	// keepalived rejects the RFC 9568 form: the log line this test (and
	// checkKeepalivedQuiet everywhere else) looks for.
	kc := m.config(l, 0, 20)
	k2 := interopKeepalived(l, 0, kc)
	waitFor(t, 5*time.Second, `keepalived to log "Invalid VRRPv3 checksum"`, func() (bool, string) {
		return k2.interopLogged(regexp.MustCompile(`\(VI_81\) Invalid VRRPv3 checksum`)), k2.State()
	})
	if got := k2.interopComplaints(); len(got) == 0 {
		t.Errorf("keepalivedComplaintRE missed keepalived's checksum complaint")
	}
	k2.Stop()
	t.Logf("keepalived 2.2.7 rejects vipd --checksum message-only, as expected: keep the default pseudo-header next to keepalived")
}

// TestInteropRollingMigration replaces a three-node keepalived cluster
// (150/120/100, VRRPv3 multicast, 1 s adverts) by vipd one node at a time,
// lowest priority first and the Master last, while the client probes the
// VIP. Replacing a Backup costs the client nothing; stopping the keepalived
// Master costs Skew_Time of the next in line (priority 0 advert); vipd then
// takes the VIP back on the old Master's node by preemption.
func TestInteropRollingMigration(t *testing.T) {
	m := interopMode{version: 3, interval: time.Second}
	prios := []int{150, 120, 100}
	l := newLab(t, 3)
	sn := l.sniff()
	vip := m.vip(l)
	ks := make([]*keepalived, 3)
	for h, p := range prios {
		ks[h] = interopKeepalived(l, h, m.config(l, h, p))
	}
	ks[0].waitState("MASTER", m.masterDown(150)+5*time.Second)
	ks[1].waitState("BACKUP", time.Second)
	ks[2].waitState("BACKUP", time.Second)

	vs := make([]*vipd, 3)
	var longest time.Duration
	step := func(what string, r probeReport, limit time.Duration) {
		t.Helper()
		t.Logf("migration: %s: longest gap %v (limit %v); %v", what, r.Outage().Round(time.Millisecond), limit, r)
		longest = max(longest, r.Outage())
		if r.Outage() > limit {
			t.Errorf("migration: %s: the client went %v without an answer, limit %v", what, r.Outage().Round(time.Millisecond), limit)
		}
		if r.DupAnswers > 0 {
			t.Errorf("migration: %s: %d probes answered twice", what, r.DupAnswers)
		}
	}
	// A Backup's replacement: no gap beyond probe noise.
	const backupStepLimit = 200 * time.Millisecond
	for _, h := range []int{2, 1} {
		name := l.host(h).Name
		mark := time.Now()
		r := interopHandover(t, l, vip, "h0", "h0", 10*time.Second, func() {
			ks[h].Stop()
			vs[h] = interopVipd(l, h, m.config(l, h, prios[h]))
			waitDaemonState(l, h, vs[h], "BACKUP", 2*time.Second)
			// Past its start-up Master_Down_Interval, listening to keepalived.
			interopWaitReceived(t, vs[h], uint64(m.masterDown(prios[h])/m.interval)+1, m.masterDown(prios[h])+3*time.Second)
		})
		step(fmt.Sprintf("keepalived on %s replaced by vipd (Backup)", name), r, backupStepLimit)
		if got := r.Hosts(); !slices.Equal(got, []string{"h0"}) {
			t.Errorf("migration: replacing %s: answering hosts %v, want only h0", name, got)
		}
		for _, a := range sn.Since(mark) {
			if a.Host == name {
				t.Errorf("migration: the new vipd on %s sent an advert while Backup: %v", name, a)
			}
		}
		if s := ks[0].State(); s != "MASTER" {
			t.Fatalf("migration: keepalived on h0 is %s, want MASTER", s)
		}
		interopCheckVipd(t, vs[h], "pseudo-header")
	}

	// The Master: keepalived resigns (priority 0), vipd on h1 (120) takes
	// over after its Skew_Time, before h2's (100).
	r := interopHandover(t, l, vip, "h0", "h1", m.masterDown(120)+5*time.Second, ks[0].Stop)
	waitDaemonState(l, 1, vs[1], "MASTER", time.Second)
	step("keepalived Master on h0 stopped, vipd on h1 takes over", r, m.skew(120)+interopSlack)
	if c, _ := vs[1].interopCounters(); c.Reason != "priority-zero-advert" {
		t.Errorf("migration: vipd on h1 took over with reason %q, want priority-zero-advert", c.Reason)
	}
	if s := vs[2].State(); s != "BACKUP" {
		t.Errorf("migration: vipd on h2 is %s, want BACKUP", s)
	}

	// vipd on h0 (150) preempts after its start-up Master_Down_Interval.
	r = interopHandover(t, l, vip, "h1", "h0", m.masterDown(150)+5*time.Second, func() {
		vs[0] = interopVipd(l, 0, m.config(l, 0, 150))
	})
	waitDaemonState(l, 0, vs[0], "MASTER", time.Second)
	waitDaemonState(l, 1, vs[1], "BACKUP", time.Second)
	step("vipd on h0 joins and preempts", r, m.interval)
	for h := range vs {
		interopCheckVipd(t, vs[h], "pseudo-header")
	}
	interopCheckKeepalived(t, ks...)
	t.Logf("migration: done; longest client gap over all steps %v (Master_Down_Interval %v, Skew_Time(120) %v)",
		longest.Round(time.Millisecond), m.masterDown(120), m.skew(120))
	if longest > m.masterDown(120) {
		t.Errorf("migration: a gap of %v, longer than Master_Down_Interval %v", longest, m.masterDown(120))
	}
}
