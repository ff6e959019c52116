//go:build integration

package integration

// VRRPv2 simple-text authentication (RFC 3768 §5.3.6, RFC 2338 §5.3.6.1)
// against keepalived 2.2.7: with the same password each side accepts the
// other's adverts, in both roles, multicast and unicast; with different
// passwords each side drops the other's adverts, vipd counts them as "auth"
// drops, and its only transitions are the ones its own Master_Down_Timer
// explains (RFC 3768 §7.1: a packet that fails authentication is discarded).

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// authPass is the kubeadm HA guide's password.
const authPass = "42"

// withKeepalivedAuth adds an `authentication { auth_type PASS; auth_pass
// pass }` block to a vrrp_instance rendered by keepalivedConfig.render,
// before its virtual_ipaddress block.
func withKeepalivedAuth(t testing.TB, conf, pass string) string {
	t.Helper()
	const anchor = "    virtual_ipaddress {\n"
	if strings.Count(conf, anchor) != 1 {
		t.Fatalf("keepalived.conf has no single virtual_ipaddress block:\n%s", conf)
	}
	block := "    authentication {\n        auth_type PASS\n        auth_pass " + pass + "\n    }\n"
	return strings.Replace(conf, anchor, block+anchor, 1)
}

// startKeepalivedConf starts keepalived on host i with conf as its
// configuration, written to <dir>/keepalived.conf unless confPath (a path
// inside the namespace the wrapper sets up) is given. instance is the
// vrrp_instance whose state changes are read from the log. wrap, when
// non-empty, is the argv that runs the keepalived command line appended to it
// (and must exec it, so the PID stays keepalived's).
func startKeepalivedConf(l *lab, i int, instance, conf, confPath string, wrap []string) *keepalived {
	l.t.Helper()
	n := l.host(i)
	dir := filepath.Join(l.dir, fmt.Sprintf("keepalived-%s-%d", n.Name, l.logSeq.Add(1)))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		l.t.Fatalf("%v", err)
	}
	k := &keepalived{
		lab: l, node: n, dir: dir, cfg: keepalivedConfig{Instance: instance},
		conf:    filepath.Join(dir, "keepalived.conf"),
		vrrpPid: filepath.Join(dir, "vrrp.pid"),
		stateRE: regexp.MustCompile(`\(` + regexp.QuoteMeta(instance) + `\) Entering ([A-Z]+) STATE`),
	}
	if confPath == "" {
		if err := os.WriteFile(k.conf, []byte(conf), 0o644); err != nil {
			l.t.Fatalf("%v", err)
		}
		confPath = k.conf
	} else {
		k.conf = confPath
	}
	argv := append(append([]string(nil), wrap...), "keepalived",
		"--dont-fork", "--log-console", "--log-detail", "--no-syslog", "--vrrp",
		"--use-file", confPath,
		"--pid", filepath.Join(dir, "keepalived.pid"),
		"--vrrp_pid", k.vrrpPid,
		"--checkers_pid", filepath.Join(dir, "checkers.pid"),
		"--bfd_pid", filepath.Join(dir, "bfd.pid"),
	)
	k.pid = n.Start("keepalived", argv...)
	return k
}

// authKeepalived starts keepalived on host h from c with simple-text
// authentication pass.
func authKeepalived(l *lab, h int, c daemonConfig, pass string) *keepalived {
	l.t.Helper()
	kc := keepalivedConfig{
		RouterID: l.host(h).Name, VRID: c.VRID, Priority: c.Priority, AdvertInt: c.Interval,
		Version: c.Version, Nopreempt: !c.Preempt, VIPs: []netip.Addr{c.VIP}, UnicastPeers: c.Peers,
	}
	if len(c.Peers) > 0 {
		kc.UnicastSrc = l.host(h).V4
	}
	conf, err := kc.render()
	if err != nil {
		l.t.Fatalf("%v", err)
	}
	return startKeepalivedConf(l, h, kc.instance(), withKeepalivedAuth(l.t, conf, pass), "", nil)
}

// authVipd starts vipd on host h from c with --auth-pass pass.
func authVipd(l *lab, h int, c daemonConfig, pass string) *vipd {
	l.t.Helper()
	c.VipdArgs = append(c.VipdArgs, "--auth-pass", pass)
	return interopVipd(l, h, c)
}

// keepalivedAuthComplaintRE matches keepalived 2.2.7's messages for an advert
// that fails authentication (vrrp.c vrrp_check_packet).
var keepalivedAuthComplaintRE = regexp.MustCompile(`auth, expecting|invalid passwd|Invalid auth`)

var authModes = []interopMode{
	{name: "v2-multicast", version: 2, interval: time.Second},
	{name: "v2-unicast", version: 2, unicast: true, interval: time.Second},
}

// TestAuthInterop: vipd and keepalived with auth_type PASS and the same
// password, vipd Master then keepalived Master. Each hears the other (the
// Backup stays Backup for three Master_Down_Intervals, keepalived complains
// of nothing), a graceful stop of either Master hands the VIP to the other
// after Skew_Time, and vipd accepted keepalived's adverts without one drop.
func TestAuthInterop(t *testing.T) {
	for _, m := range authModes {
		t.Run(m.name, func(t *testing.T) { authInterop(t, m) })
	}
}

func authInterop(t *testing.T, m interopMode) {
	l := newLab(t, 2, withoutIPv6())
	vip := m.vip(l)
	var kas []*keepalived
	defer func() { interopCheckKeepalived(t, kas...) }()

	// vipd Master (150), keepalived Backup (100).
	v := authVipd(l, 0, m.config(l, 0, 150), authPass)
	waitDaemonState(l, 0, v, "MASTER", m.masterDown(150)+5*time.Second)
	k := authKeepalived(l, 1, m.config(l, 1, 100), authPass)
	kas = append(kas, k)
	k.waitState("BACKUP", 5*time.Second)
	mark := time.Now()
	waitFor(t, 3*m.masterDown(100)+2*time.Second, "three Master_Down_Intervals of vipd adverts", func() (bool, string) {
		return time.Since(mark) > 3*m.masterDown(100), ""
	})
	if s := k.State(); s != "BACKUP" {
		t.Fatalf("keepalived is %s under a vipd Master of higher priority with the same password, want BACKUP; its log:\n%s",
			s, tail(l.LogPath(k.pid), 30))
	}
	if hs := holders(l, vip); len(hs) != 1 || hs[0] != "h0" {
		t.Fatalf("VIP on %v, want only h0", hs)
	}

	// vipd stops: its priority 0 advert passes keepalived's authentication.
	r := interopHandover(t, l, vip, "h0", "h1", m.masterDown(100)+5*time.Second, v.Stop)
	k.waitState("MASTER", time.Second)
	if !k.interopLogged(interopPriorityZeroRE) {
		t.Errorf("keepalived did not log vipd's priority 0 advert")
	}
	interopCheckOutage(t, "vipd graceful stop, keepalived takes over", r, 0, min(m.skew(100)+interopSlack, m.masterDown(100)-m.interval))

	// keepalived Master (100), vipd Backup (50).
	v = authVipd(l, 0, m.config(l, 0, 50), authPass)
	waitDaemonState(l, 0, v, "BACKUP", 2*time.Second)
	interopWaitReceived(t, v, uint64(3*m.masterDown(50)/m.interval), 3*m.masterDown(50)+2*time.Second)
	if c, _ := v.interopCounters(); c.State != "BACKUP" {
		t.Fatalf("vipd is %s (%s) under a keepalived Master of higher priority with the same password, want BACKUP", c.State, c.Reason)
	}
	interopCheckVipd(t, v, m.form())

	// keepalived stops: vipd takes over on its priority 0 advert.
	r = interopHandover(t, l, vip, "h1", "h0", m.masterDown(50)+5*time.Second, k.Stop)
	waitDaemonState(l, 0, v, "MASTER", time.Second)
	if c, _ := v.interopCounters(); c.Reason != "priority-zero-advert" {
		t.Errorf("vipd took over with reason %q, want priority-zero-advert", c.Reason)
	}
	interopCheckOutage(t, "keepalived graceful stop, vipd takes over", r, 0, min(m.skew(50)+interopSlack, m.masterDown(50)-m.interval))

	// keepalived returns with the higher priority and preempts vipd.
	r = interopHandover(t, l, vip, "h0", "h1", m.masterDown(100)+5*time.Second, func() {
		k = authKeepalived(l, 1, m.config(l, 1, 100), authPass)
		kas = append(kas, k)
	})
	k.waitState("MASTER", time.Second)
	waitDaemonState(l, 0, v, "BACKUP", 2*time.Second)
	if c, _ := v.interopCounters(); c.Reason != "higher-priority-advert" {
		t.Errorf("vipd stepped down with reason %q, want higher-priority-advert", c.Reason)
	}
	t.Logf("keepalived preempts vipd: %v", r)
	interopCheckVipd(t, v, m.form())
	if c, _ := v.interopCounters(); c.Drops["auth"] != 0 {
		t.Errorf("vipd counted %d auth drops with the same password", c.Drops["auth"])
	}
	v.Stop()
}

// TestAuthMismatch: keepalived (150) and vipd (100) with different
// passwords. vipd counts every keepalived advert as an "auth" drop, accepts
// none, and goes from Backup to Master only by its Master_Down_Timer, as if
// keepalived were silent; keepalived, equally deaf to vipd, complains and
// stays Master. Both hold the VIP: that is what a wrong password does.
func TestAuthMismatch(t *testing.T) {
	for _, m := range authModes {
		t.Run(m.name, func(t *testing.T) { authMismatch(t, m) })
	}
}

func authMismatch(t *testing.T, m interopMode) {
	l := newLab(t, 2, withoutIPv6())
	vip := m.vip(l)
	sn := l.sniff()
	k := authKeepalived(l, 1, m.config(l, 1, 150), authPass)
	k.waitState("MASTER", m.masterDown(150)+5*time.Second)

	start := time.Now()
	v := authVipd(l, 0, m.config(l, 0, 100), "43")
	waitDaemonState(l, 0, v, "MASTER", m.masterDown(100)+5*time.Second)
	tookOver := time.Since(start)
	// Its own timer: Master_Down_Interval after it started listening, not
	// earlier (a priority 0 advert) and not never (a higher priority one).
	if tookOver < m.masterDown(100)-100*time.Millisecond {
		t.Errorf("vipd became Master %v after start, before its Master_Down_Interval %v", tookOver, m.masterDown(100))
	}
	mark := time.Now()
	waitFor(t, 3*m.masterDown(100)+2*time.Second, "three Master_Down_Intervals of mismatched adverts", func() (bool, string) {
		return time.Since(mark) > 3*m.masterDown(100), ""
	})

	in := v.mustInst(t)
	var kAdverts int
	for _, a := range sn.Since(start) {
		if a.Host == "h1" && a.VRID == 81 {
			kAdverts++
		}
	}
	t.Logf("vipd: %s (%s) after %v; drops %v, accepted %d, transitions %v; keepalived sent %d adverts meanwhile",
		in.State, in.Reason, tookOver.Round(time.Millisecond), in.Drops, in.AdvertsReceived, in.Transitions, kAdverts)
	if in.Drops["auth"] == 0 || kAdverts == 0 {
		t.Errorf("vipd counted %d auth drops of keepalived's %d adverts with another password", in.Drops["auth"], kAdverts)
	}
	// Every keepalived advert the socket saw was dropped for its password
	// (one in flight at each end of the window at most).
	if d := int(in.Drops["auth"]); d < kAdverts-2 {
		t.Errorf("vipd counted %d auth drops, keepalived sent %d adverts", d, kAdverts)
	}
	for reason, n := range in.Drops {
		if reason != "auth" && n != 0 {
			t.Errorf("vipd dropped %d adverts as %q, want only auth drops", n, reason)
		}
	}
	if in.AdvertsReceived != 0 {
		t.Errorf("vipd accepted %d adverts with another password", in.AdvertsReceived)
	}
	if in.State != "MASTER" || in.Reason != "master-down-timer" {
		t.Errorf("vipd is %s (%s), want MASTER by master-down-timer", in.State, in.Reason)
	}
	for reason, n := range in.Transitions {
		if !(reason == "startup" && n == 1) && !(reason == "master-down-timer" && n == 1) {
			t.Errorf("vipd transitions %v: want exactly startup and master-down-timer once each", in.Transitions)
			break
		}
	}
	if len(in.Transitions) != 2 {
		t.Errorf("vipd transitions %v: want exactly startup and master-down-timer", in.Transitions)
	}
	if s := k.State(); s != "MASTER" {
		t.Errorf("keepalived is %s, want MASTER (it cannot hear vipd either)", s)
	}
	if !k.interopLogged(keepalivedAuthComplaintRE) {
		t.Errorf("keepalived logged no authentication failure for vipd's adverts; its log:\n%s", tail(l.LogPath(k.pid), 30))
	}
	if hs := holders(l, vip); len(hs) != 2 {
		t.Errorf("VIP on %v: with different passwords both sides are Master and hold it", hs)
	}
	v.Stop()
	k.Stop()
}
