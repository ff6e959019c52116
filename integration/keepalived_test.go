//go:build integration

package integration

import (
	"flag"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

var updateKeepalived = flag.Bool("update-keepalived", false, "rewrite testdata/keepalived golden files")

// TestKeepalivedConfigGolden pins the rendered keepalived.conf and has
// keepalived itself check each one (--config-test).
func TestKeepalivedConfigGolden(t *testing.T) {
	cases := map[string]keepalivedConfig{
		"v3-multicast": {RouterID: "h0", VRID: 51, Priority: 150, AdvertInt: time.Second, Version: 3,
			VIPs: []netip.Addr{netip.MustParseAddr("198.18.0.200")}},
		"v3-fast-unicast-dualstack": {RouterID: "h1", VRID: 52, Priority: 100, AdvertInt: 100 * time.Millisecond, Version: 3,
			Nopreempt: true, UnicastSrc: netip.MustParseAddr("198.18.0.2"),
			UnicastPeers: []netip.Addr{netip.MustParseAddr("198.18.0.1"), netip.MustParseAddr("198.18.0.3")},
			VIPs:         []netip.Addr{netip.MustParseAddr("198.18.0.200"), netip.MustParseAddr("fd00:198:18::200")}},
		"v2-preempt-delay": {RouterID: "h2", VRID: 53, Priority: 50, AdvertInt: 2 * time.Second, Version: 2,
			PreemptDelay: 1500 * time.Millisecond, GarpMasterDelay: time.Second,
			VIPs: []netip.Addr{netip.MustParseAddr("198.18.0.200")}},
		"v3-ipv6": {RouterID: "h0", VRID: 54, Priority: 200, AdvertInt: 500 * time.Millisecond, Version: 3,
			VIPs: []netip.Addr{netip.MustParseAddr("fd00:198:18::200")}},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			got, err := c.render()
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join("testdata", "keepalived", name+".conf")
			if *updateKeepalived {
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update-keepalived)", err)
			}
			if got != string(want) {
				t.Errorf("%s mismatch (-want +got):\n-%s\n+%s", path, want, got)
			}
			if out, err := exec.Command("keepalived", "--config-test", "--use-file", path).CombinedOutput(); err != nil {
				t.Errorf("keepalived --config-test %s: %v\n%s", path, err, out)
			}
		})
	}
	if _, err := (keepalivedConfig{VRID: 1, Priority: 1, AdvertInt: 100 * time.Millisecond, Version: 2,
		VIPs: []netip.Addr{netip.MustParseAddr("198.18.0.200")}}).render(); err == nil {
		t.Error("VRRPv2 with a sub-second advert_int rendered; keepalived would reject it")
	}
}

// TestKeepalivedFailover: three keepalived hosts, VRRPv3 multicast. The
// highest priority wins; when its cable is pulled the next one takes over
// after Master_Down_Interval, and the client follows it (GARP).
func TestKeepalivedFailover(t *testing.T) {
	const vrid = 51
	interval := time.Second
	l := newLab(t, 3)
	sn := l.sniff()
	prios := []int{150, 100, 50}
	var ks []*keepalived
	for i, p := range prios {
		ks = append(ks, startKeepalived(l, i, keepalivedConfig{
			VRID: vrid, Priority: p, AdvertInt: interval, Version: 3, VIPs: []netip.Addr{l.VIP4}}))
	}
	ks[0].waitState("MASTER", 10*time.Second)
	ks[1].waitState("BACKUP", time.Second)
	ks[2].waitState("BACKUP", time.Second)
	waitFor(t, 2*time.Second, "VIP on h0", func() (bool, string) { return l.host(0).HasAddr(l.VIP4), "" })

	pr := l.startProber(l.VIP4)
	waitFor(t, 5*time.Second, "client answered by h0", func() (bool, string) {
		h, _ := pr.LastHost()
		return pr.StableOn("h0", 300*time.Millisecond), "last answer from " + h
	})
	if mac, st, err := l.ArpEntry(l.VIP4); err != nil || mac.String() != l.host(0).MAC().String() {
		t.Fatalf("client ARP for VIP = %v (%s, %v), want h0 %v", mac, st, err, l.host(0).MAC())
	}
	a, ok := sn.Last("h0", vrid)
	if !ok || a.Version != 3 || a.Priority != 150 || a.Interval != interval || a.Src != l.host(0).V4 {
		t.Fatalf("h0's adverts on the wire: %v (seen %v), want v3 prio 150 interval %v from %v", a, ok, interval, l.host(0).V4)
	}

	cut := time.Now()
	phase := cut.Sub(a.At)
	l.CutLink(0)
	ks[1].waitState("MASTER", 6*time.Second)
	waitFor(t, 3*time.Second, "client answered by h1", func() (bool, string) {
		h, _ := pr.LastHost()
		return pr.StableOn("h1", 300*time.Millisecond), "last answer from " + h
	})
	took := time.Since(cut)
	r := pr.Stop()
	t.Logf("prober: %v", r)
	t.Logf("cut at advert phase %v; h1 MASTER and answering %v after the cut", phase.Round(time.Millisecond), took.Round(time.Millisecond))

	if got, want := r.Hosts(), []string{"h0", "h1"}; !slices.Equal(got, want) {
		t.Errorf("answering hosts %v, want %v", got, want)
	}
	if r.SplitBrain(time.Minute) {
		t.Errorf("split brain: %v", r)
	}
	// Master_Down_Interval for h1 (RFC 9568 §6.1): 3*interval + (256-100)*interval/256.
	mdi := 3*interval + time.Duration(256-100)*interval/256
	if lo, hi := mdi-interval-200*time.Millisecond, mdi+time.Second; r.Outage() < lo || r.Outage() > hi {
		t.Errorf("outage %v outside [%v, %v] (Master_Down_Interval %v)", r.Outage(), lo, hi, mdi)
	}
	if s := ks[2].State(); s != "BACKUP" {
		t.Errorf("h2 is %s, want BACKUP", s)
	}
	mac, st, err := l.ArpEntry(l.VIP4)
	if err != nil || mac.String() != l.host(1).MAC().String() {
		t.Errorf("client ARP for VIP = %v (%s, %v), want h1 %v", mac, st, err, l.host(1).MAC())
	}
	// With its carrier gone, keepalived on h0 goes to FAULT (and drops the VIP).
	t.Logf("h0 transitions after the cut: %v", ks[0].Transitions())
}

// TestKeepalivedPartition proves Partition/Heal: split the two hosts (the
// client still reaches both) and both become MASTER; heal and the lower
// priority one steps back, and the client ends on the higher one.
func TestKeepalivedPartition(t *testing.T) {
	const vrid = 61
	interval := 200 * time.Millisecond
	l := newLab(t, 2)
	k0 := startKeepalived(l, 0, keepalivedConfig{VRID: vrid, Priority: 200, AdvertInt: interval, Version: 3, VIPs: []netip.Addr{l.VIP4}})
	k1 := startKeepalived(l, 1, keepalivedConfig{VRID: vrid, Priority: 100, AdvertInt: interval, Version: 3, VIPs: []netip.Addr{l.VIP4}})
	k0.waitState("MASTER", 5*time.Second)
	k1.waitState("BACKUP", time.Second)
	pr := l.startProber(l.VIP4)
	waitFor(t, 5*time.Second, "client answered by h0", func() (bool, string) {
		h, _ := pr.LastHost()
		return pr.StableOn("h0", 200*time.Millisecond), "last answer from " + h
	})

	l.Partition([]int{0}, []int{1})
	k1.waitState("MASTER", 3*time.Second)
	if s := k0.State(); s != "MASTER" {
		t.Fatalf("h0 is %s during the partition, want MASTER (it hears nothing)", s)
	}
	waitFor(t, 2*time.Second, "VIP on both sides of the partition", func() (bool, string) {
		return l.host(0).HasAddr(l.VIP4) && l.host(1).HasAddr(l.VIP4), ""
	})
	// The client reaches both; its ARP entry follows the last GARP (h1's).
	waitFor(t, 3*time.Second, "client answered by h1", func() (bool, string) {
		h, _ := pr.LastHost()
		return pr.StableOn("h1", 200*time.Millisecond), "last answer from " + h
	})

	healed := time.Now()
	l.Heal()
	k1.waitState("BACKUP", 3*time.Second)
	waitFor(t, 2*time.Second, "VIP only on h0", func() (bool, string) {
		return l.host(0).HasAddr(l.VIP4) && !l.host(1).HasAddr(l.VIP4), ""
	})
	waitFor(t, 10*time.Second, "client answered by h0 again", func() (bool, string) {
		h, _ := pr.LastHost()
		return pr.StableOn("h0", 300*time.Millisecond), "last answer from " + h
	})
	t.Logf("client back on h0 %v after heal", time.Since(healed).Round(time.Millisecond))
	r := pr.Stop()
	t.Logf("prober: %v", r)
	if got, want := r.Hosts(), []string{"h0", "h1", "h0"}; !slices.Equal(got, want) {
		t.Errorf("answering hosts %v, want %v", got, want)
	}
	t.Logf("h0 %v, h1 %v", k0.Transitions(), k1.Transitions())
}
