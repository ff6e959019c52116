//go:build integration

package integration

// Issue 13: what else on the wire is wrong, reported and never acted on.
// Each test asserts the status (vipctl status --json conflicts), the metric,
// the single log line of the start (and of the end), and that the VIP holder
// is what the RFC rules alone choose.

import (
	"fmt"
	"net/netip"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vipd/vipd/control"
)

const conflictNft = "vipdconflict"

// nftVRRP drops VRRP (IP protocol 112) on host i's hook ("input" or
// "output"); nftClearVRRP removes it.
func nftVRRP(t *testing.T, l *lab, i int, hook string) {
	t.Helper()
	rules := fmt.Sprintf("table inet %s {\n chain c {\n  type filter hook %s priority 0; policy accept;\n  meta l4proto 112 drop\n }\n}\n", conflictNft, hook)
	cmd := exec.Command("ip", "netns", "exec", l.host(i).NS, "nft", "-f", "-")
	cmd.Stdin = strings.NewReader(rules)
	if o, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("nft on h%d: %v: %s", i, err, o)
	}
}

func nftClearVRRP(l *lab, i int) {
	l.Run("ip", "netns", "exec", l.host(i).NS, "nft", "delete", "table", "inet", conflictNft)
}

// conflictOf returns in's conflict of kind, and whether there is one.
func conflictOf(in control.Instance, kind string) (control.Conflict, bool) {
	for _, c := range in.Conflicts {
		if c.Kind == kind {
			return c, true
		}
	}
	return control.Conflict{}, false
}

// waitConflict waits until v reports a conflict of kind whose state is
// active and that satisfies pred.
func waitConflict(t *testing.T, v *vipd, kind string, active bool, timeout time.Duration, pred func(control.Conflict) bool) control.Conflict {
	t.Helper()
	var got control.Conflict
	waitFor(t, timeout, fmt.Sprintf("%s: %s conflict active=%v", v.node.Name, kind, active), func() (bool, string) {
		in, err := v.inst()
		if err != nil {
			return false, err.Error()
		}
		c, ok := conflictOf(in, kind)
		got = c
		return ok && c.Active == active && (pred == nil || pred(c)), fmt.Sprintf("state %s conflicts %+v", in.State, in.Conflicts)
	})
	return got
}

// logLines counts v's log lines holding every one of subs.
func logLines(v *vipd, subs ...string) int {
	n := 0
	for _, ln := range strings.Split(v.logText(), "\n") {
		ok := true
		for _, s := range subs {
			ok = ok && strings.Contains(ln, s)
		}
		if ok {
			n++
		}
	}
	return n
}

// checkConflictMetrics asserts host i's vipd_conflicts_total and
// vipd_conflict_active for kind.
func checkConflictMetrics(t *testing.T, l *lab, i int, kind string, total, active float64) {
	t.Helper()
	lb := `kind="` + kind + `"`
	if got := metricSum(t, l, i, "vipd_conflicts_total", lb); got != total {
		t.Errorf("h%d vipd_conflicts_total{%s} = %v, want %v", i, lb, got, total)
	}
	if got := metricSum(t, l, i, "vipd_conflict_active", lb); got != active {
		t.Errorf("h%d vipd_conflict_active{%s} = %v, want %v", i, lb, got, active)
	}
}

var conflictArgs = []string{"--metrics-address", hardMetrics}

// TestConflictVRIDCollision: two clusters on one bridge with VRID 51 and
// different VIPs. RFC 9568 §7.1 accepts the other's adverts, so they take
// part in one election: the higher priority (h0) is the only Master, and the
// other cluster's VIP is held by nobody. The other cluster (h1) reports the
// collision, with h0's address and VIP list, for as long as it lasts.
func TestConflictVRIDCollision(t *testing.T) {
	l := newLab(t, 2)
	otherVIP := netip.MustParseAddr("198.18.0.201")
	h1 := startVipd(l, 1, vipdSpec{Priority: 100, VIPs: []netip.Addr{otherVIP}, Args: conflictArgs})
	waitInst(t, h1, 5*time.Second, "MASTER alone", func(in control.Instance) bool { return in.State == "MASTER" })
	h0 := startVipd(l, 0, vipdSpec{Priority: 150, Args: conflictArgs})
	waitInst(t, h0, 5*time.Second, "MASTER by preemption", func(in control.Instance) bool { return in.State == "MASTER" })
	waitInst(t, h1, 5*time.Second, "BACKUP of h0", func(in control.Instance) bool { return in.State == "BACKUP" })

	c := waitConflict(t, h1, "vrid-collision", true, 5*time.Second, nil)
	if c.Peer != l.host(0).V4.String() || !slices.Equal(c.VIPs, []string{l.VIP4.String()}) || !strings.Contains(c.Explanation, "another VRID") {
		t.Errorf("h1's collision %+v: want peer %v with VIPs [%v] and the fix", c, l.host(0).V4, l.VIP4)
	}
	// h0 heard h1's adverts as a Backup, until h1 stepped down: an episode
	// that ended.
	waitConflict(t, h0, "vrid-collision", false, 5*time.Second, func(c control.Conflict) bool {
		return c.Events == 1 && c.Peer == l.host(1).V4.String()
	})
	if got := holders(l, l.VIP4); !slices.Equal(got, []string{"h0"}) {
		t.Errorf("%v held by %v, want h0 alone (RFC rules)", l.VIP4, got)
	}
	if got := holders(l, otherVIP); len(got) != 0 {
		t.Errorf("%v held by %v: its router is a Backup of h0 by the RFC rules, nobody holds it", otherVIP, got)
	}
	checkConflictMetrics(t, l, 1, "vrid-collision", 1, 1)
	checkConflictMetrics(t, l, 0, "vrid-collision", 1, 0)
	if n := logLines(h1, "conflict on the wire", "vrid-collision"); n != 1 {
		t.Errorf("h1 logged the collision %d times, want once:\n%s", n, h1.logText())
	}
	if n := logLines(h0, "conflict ended", "vrid-collision"); n != 1 {
		t.Errorf("h0 logged the collision's end %d times, want once", n)
	}
	noCrash(t, h0)
	noCrash(t, h1)
}

// TestConflictForeignAnswer: a plain host (the lab's client, no VRRP) has
// the VIP configured statically. vipd's probe before takeover finds it; vipd
// takes over all the same (it is the only router: the RFC rules make it
// Master) and reports the MAC. Once the address is removed, the repeated
// probes go unanswered and the conflict ends.
func TestConflictForeignAnswer(t *testing.T) {
	l := newLab(t, 1)
	cl := l.client()
	cl.MustExec("ip", "addr", "add", l.VIP4.String()+"/32", "dev", hostIf)
	h0 := startVipd(l, 0, vipdSpec{Priority: 100, Args: conflictArgs})
	waitInst(t, h0, 5*time.Second, "MASTER", func(in control.Instance) bool { return in.State == "MASTER" })
	c := waitConflict(t, h0, "foreign-answer", true, 5*time.Second, nil)
	if c.MAC != cl.MAC().String() || !slices.Equal(c.VIPs, []string{l.VIP4.String()}) || !strings.Contains(c.Explanation, "ip addr del") {
		t.Errorf("conflict %+v: want the client's MAC %v answering for %v, and the fix", c, cl.MAC(), l.VIP4)
	}
	if in := h0.mustInst(t); in.State != "MASTER" || !slices.Contains(in.VIPsPresent, l.VIP4.String()) {
		t.Errorf("h0 %s with %v: the RFC rules make the only router Master, whatever answers", in.State, in.VIPsPresent)
	}
	checkConflictMetrics(t, l, 0, "foreign-answer", 1, 1)
	if n := logLines(h0, "conflict on the wire", "foreign-answer", cl.MAC().String()); n != 1 {
		t.Errorf("logged %d times, want once:\n%s", n, h0.logText())
	}
	cl.MustExec("ip", "addr", "del", l.VIP4.String()+"/32", "dev", hostIf)
	waitConflict(t, h0, "foreign-answer", false, 50*time.Second, nil)
	checkConflictMetrics(t, l, 0, "foreign-answer", 1, 0)
	if n := logLines(h0, "conflict ended", "foreign-answer"); n != 1 {
		t.Errorf("end logged %d times, want once", n)
	}
	noCrash(t, h0)
}

// TestConflictSplitBrain: an nftables rule dropping VRRP on the Master's
// output makes the Backup take over while the Master, hearing it, stays
// Master (RFC 9568 §6.4.3: a lower priority is discarded): both hold the
// VIP, and the Master reports the split brain, once. When the rule goes,
// the Backup hears the Master and steps down; the episode ends, saying who
// stepped down.
func TestConflictSplitBrain(t *testing.T) {
	l := newLab(t, 2)
	vs := []*vipd{
		startVipd(l, 0, vipdSpec{Priority: 150, Args: conflictArgs}),
		startVipd(l, 1, vipdSpec{Priority: 100, Args: conflictArgs}),
	}
	waitElected(t, l, vs, []int{0, 1}, 0, 5*time.Second)
	nftVRRP(t, l, 0, "output")
	c := waitConflict(t, vs[0], "split-brain", true, 5*time.Second, nil)
	if c.Peer != l.host(1).V4.String() || c.Priority != 100 {
		t.Errorf("split brain %+v: want h1 (%v) with priority 100", c, l.host(1).V4)
	}
	if got := holders(l, l.VIP4); !slices.Equal(got, []string{"h0", "h1"}) {
		t.Errorf("VIP held by %v during the partition; the RFC rules make both Master", got)
	}
	// It lasts: more adverts, one event.
	time.Sleep(5 * vipdInterval)
	if in := vs[0].mustInst(t); in.ConflictsTotal["split-brain"] != 1 {
		t.Errorf("split-brain episodes %d during one partition, want 1", in.ConflictsTotal["split-brain"])
	}
	checkConflictMetrics(t, l, 0, "split-brain", 1, 1)

	nftClearVRRP(l, 0)
	c = waitConflict(t, vs[0], "split-brain", false, 5*time.Second, nil)
	if !strings.Contains(c.Ended, l.host(1).V4.String()+" stepped down") || c.Events != 1 {
		t.Errorf("ended %q after %d events: want h1 stepping down, one event", c.Ended, c.Events)
	}
	waitElected(t, l, vs, []int{0, 1}, 0, 5*time.Second)
	checkConflictMetrics(t, l, 0, "split-brain", 1, 0)
	if s, e := logLines(vs[0], "conflict on the wire", "split-brain"), logLines(vs[0], "conflict ended", "split-brain"); s != 1 || e != 1 {
		t.Errorf("%d start and %d end lines, want 1 and 1:\n%s", s, e, vs[0].logText())
	}
	if in := vs[1].mustInst(t); len(in.Conflicts) != 0 {
		t.Errorf("h1, which stepped down, reports %+v: only the router that stays Master can tell", in.Conflicts)
	}
}

// TestConflictOneWay: unicast, h0 (150) Master, h1 (100) Backup. A rule
// drops VRRP coming into h1: it stops hearing h0 and takes over, as the RFC
// says; h0 hears h1 and stays Master. h1 reports one-way (h0 was Master,
// did not resign, and answers ARP), h0 the split brain. Without the rule h1
// hears h0 again and steps down: both end.
func TestConflictOneWay(t *testing.T) {
	l := newLab(t, 2)
	h := func(i int) string { return l.host(i).V4.String() }
	vs := []*vipd{
		startVipd(l, 0, vipdSpec{Priority: 150, Args: append([]string{"--peer", h(1)}, conflictArgs...)}),
		startVipd(l, 1, vipdSpec{Priority: 100, Args: append([]string{"--peer", h(0)}, conflictArgs...)}),
	}
	waitElected(t, l, vs, []int{0, 1}, 0, 5*time.Second)
	nftVRRP(t, l, 1, "input")
	c := waitConflict(t, vs[1], "one-way", true, 10*time.Second, nil)
	if c.Peer != h(0) || c.MAC != l.host(0).MAC().String() || !strings.Contains(c.Explanation, "dropped on the way here") {
		t.Errorf("one-way %+v: want h0 (%v, %v) and the cause", c, h(0), l.host(0).MAC())
	}
	waitConflict(t, vs[0], "split-brain", true, 5*time.Second, func(c control.Conflict) bool { return c.Peer == h(1) })
	if got := holders(l, l.VIP4); !slices.Equal(got, []string{"h0", "h1"}) {
		t.Errorf("VIP held by %v; the RFC rules make both Master while h1 hears nothing", got)
	}
	checkConflictMetrics(t, l, 1, "one-way", 1, 1)
	if n := logLines(vs[1], "conflict on the wire", "one-way"); n != 1 {
		t.Errorf("one-way logged %d times, want once:\n%s", n, vs[1].logText())
	}

	nftClearVRRP(l, 1)
	waitElected(t, l, vs, []int{0, 1}, 0, 5*time.Second)
	waitConflict(t, vs[1], "one-way", false, 5*time.Second, nil)
	waitConflict(t, vs[0], "split-brain", false, 5*time.Second, nil)
	checkConflictMetrics(t, l, 1, "one-way", 1, 0)
	if n := logLines(vs[1], "conflict ended", "one-way"); n != 1 {
		t.Errorf("one-way end logged %d times, want once", n)
	}
}
