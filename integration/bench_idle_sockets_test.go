//go:build integration

package integration

import (
	"fmt"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"
)

// rawVRRPSockets counts the raw sockets of IP protocol 112 in namespace ns
// (/proc/net/raw lists the protocol as the local "port": 0070).
func rawVRRPSockets(t *testing.T, l *lab, ns string) int {
	t.Helper()
	out, err := l.Exec(ns, "cat", "/proc/net/raw")
	if err != nil {
		t.Fatalf("reading /proc/net/raw in %s: %v", ns, err)
	}
	n := 0
	for _, line := range strings.Split(out, "\n")[1:] {
		if f := strings.Fields(line); len(f) > 1 && strings.HasSuffix(f[1], ":0070") {
			n++
		}
	}
	return n
}

// TestVipdSharedSocket: three instances on one interface of one vipd share
// one raw socket (issue 12); each election works on its own (h0 is Master of
// VRIDs 1 and 2, h1 of 3); a router serving VRID 9, which neither vipd
// serves, is dropped by the socket and not counted by any instance; and a
// failover still works for every VRID.
func TestVipdSharedSocket(t *testing.T) {
	l := newLab(t, 3)
	iv := 100 * time.Millisecond
	prios := [][]int{{150, 150, 50}, {100, 100, 100}}
	var vs []*idleVipd
	for h, ps := range prios {
		dir := fmt.Sprintf("%s/shared-%d", l.dir, h)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		b.WriteString("instances:\n")
		for i, p := range ps {
			fmt.Fprintf(&b, "- {name: v%d, interface: %s, vrid: %d, priority: %d, vips: [%s], advertInterval: %v, vrrpVersion: 3, preempt: true}\n",
				i+1, hostIf, i+1, p, idleVIP(i+1), iv)
		}
		conf := dir + "/vipd.yaml"
		if err := os.WriteFile(conf, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		n := l.host(h)
		v := &vipd{lab: l, node: n, vrid: 1, sock: dir + "/vipd.sock", vipctl: vipdBinaries(l) + "/vipctl"}
		v.pid = n.Start("vipd", vipdBinaries(l)+"/vipd", "--config", conf, "--control-socket", v.sock, "--state-dir", dir+"/state")
		vs = append(vs, &idleVipd{v, len(ps)})
	}
	k := startKeepalived(l, 2, keepalivedConfig{VRID: 9, Priority: 100, AdvertInt: iv, Version: 3, VIPs: []netip.Addr{idleVIP(9)}})
	states := func(v *idleVipd) string {
		st, err := v.Status()
		if err != nil {
			return err.Error()
		}
		var s []string
		for _, in := range st.Instances {
			s = append(s, fmt.Sprintf("%d:%s", in.VRID, in.State))
		}
		return strings.Join(s, " ")
	}
	waitFor(t, 15*time.Second, "h0 Master of 1 and 2, h1 of 3", func() (bool, string) {
		a, b := states(vs[0]), states(vs[1])
		return a == "1:MASTER 2:MASTER 3:BACKUP" && b == "1:BACKUP 2:BACKUP 3:MASTER", "h0 " + a + ", h1 " + b
	})
	k.waitState("MASTER", 5*time.Second)
	for h := range vs {
		if n := rawVRRPSockets(t, l, l.host(h).NS); n != 1 {
			t.Errorf("h%d: %d raw VRRP sockets, want 1 shared by its 3 instances", h, n)
		}
	}
	// A second of VRID 9 adverts (10 of them) reaches both vipd.
	time.Sleep(time.Second)
	for h, v := range vs {
		st, err := v.Status()
		if err != nil {
			t.Fatal(err)
		}
		for _, in := range st.Instances {
			if d := in.Drops["vrid"]; d != 0 {
				t.Errorf("h%d VRID %d: %d vrid drops on the instance; the shared socket drops VRID 9 before any instance sees it", h, in.VRID, d)
			}
			if in.State == "BACKUP" && in.AdvertsReceived == 0 {
				t.Errorf("h%d VRID %d: Backup that heard no advert", h, in.VRID)
			}
		}
	}
	// h0 goes: h1 takes VRIDs 1 and 2 as well.
	vs[0].Stop()
	waitFor(t, 5*time.Second, "h1 Master of every VRID", func() (bool, string) {
		s := states(vs[1])
		return s == "1:MASTER 2:MASTER 3:MASTER", s
	})
	vs[1].Stop()
	k.Stop()
}
