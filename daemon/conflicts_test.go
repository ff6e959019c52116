package daemon

import (
	"context"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vipd/vipd/arp"
	"github.com/vipd/vipd/election"
	"github.com/vipd/vipd/vrrp"
)

// lines is a slog handler that keeps each record's message and attributes.
type lines struct {
	mu  sync.Mutex
	out []string
}

func (l *lines) Enabled(context.Context, slog.Level) bool { return true }
func (l *lines) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l *lines) WithGroup(string) slog.Handler            { return l }
func (l *lines) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(r.Message)
	r.Attrs(func(a slog.Attr) bool {
		b.WriteString(" " + a.Key + "=" + a.Value.String())
		return true
	})
	l.mu.Lock()
	l.out = append(l.out, b.String())
	l.mu.Unlock()
	return nil
}

func (l *lines) count(sub string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, s := range l.out {
		if strings.Contains(s, sub) {
			n++
		}
	}
	return n
}

var (
	t0     = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	mdi    = 3*time.Second + 600*time.Millisecond
	ourVIP = netip.MustParseAddr("198.18.0.100")
	other  = netip.MustParseAddr("198.18.0.12")
)

func master(since time.Time) election.Status {
	return election.Status{State: election.Master, Since: since, MasterDownInterval: mdi, EffectivePriority: 150, MasterAdverInterval: time.Second}
}

func advertV(prio uint8, addrs ...netip.Addr) *vrrp.Verdict {
	return &vrrp.Verdict{Advert: vrrp.Advertisement{Version: 3, VRID: 51, Priority: prio, Interval: time.Second, Addresses: addrs}}
}

func newTestDetector(peers ...netip.Addr) (*detector, *lines) {
	l := &lines{}
	return newDetector(slog.New(l), instanceConfig{vrid: 51, peers: peers}), l
}

func activeOf(d *detector, kind string) int {
	cs, _ := d.status()
	n := 0
	for _, c := range cs {
		if c.Kind == kind && c.Active {
			n++
		}
	}
	return n
}

// TestSplitBrainOneEventPerPartition: a Master that keeps hearing a
// lower-priority Master records one episode, however many adverts, and it
// ends, once, when the other's adverts stop: who stepped down is said.
func TestSplitBrainOneEventPerPartition(t *testing.T) {
	d, logs := newTestDetector()
	st := master(t0)
	// Within Master_Down_Interval of our takeover: the advert of the
	// Master we took over from may cross ours. Not a split brain.
	d.advert(t0.Add(time.Second), other, advertV(100, ourVIP), st, st, nil)
	if activeOf(d, "split-brain") != 0 {
		t.Fatal("an advert crossing our takeover counted as a split brain")
	}
	now := t0.Add(time.Minute)
	for i := range 50 {
		now = now.Add(time.Second)
		d.advert(now, other, advertV(100, ourVIP), st, st, nil)
		d.expire(now, st, false, nil)
		if i == 0 && activeOf(d, "split-brain") != 1 {
			t.Fatal("a second Master heard a minute after our takeover is not reported")
		}
	}
	cs, total := d.status()
	if len(cs) != 1 || cs[0].Count != 50 || cs[0].Events != 1 || cs[0].Peer != other.String() || cs[0].Priority != 100 || total["split-brain"] != 1 {
		t.Fatalf("status %+v, total %v: want one active split brain with %v (priority 100), 50 adverts, 1 event", cs, total, other)
	}
	if !strings.Contains(cs[0].Explanation, "does not hear our adverts") {
		t.Errorf("explanation %q says nothing of the cause", cs[0].Explanation)
	}
	// The other steps down: its adverts stop.
	d.expire(now.Add(mdi/2), st, false, nil)
	if activeOf(d, "split-brain") != 1 {
		t.Fatal("ended before Master_Down_Interval without adverts")
	}
	d.expire(now.Add(mdi+time.Second), st, false, nil)
	cs, _ = d.status()
	if cs[0].Active || !strings.Contains(cs[0].Ended, other.String()+" stepped down") {
		t.Errorf("after the adverts stopped: active %v, ended %q; want ended by %v stepping down", cs[0].Active, cs[0].Ended, other)
	}
	if s, e := logs.count("conflict on the wire"), logs.count("conflict ended"); s != 1 || e != 1 {
		t.Errorf("%d start and %d end lines, want 1 and 1: %q", s, e, logs.out)
	}
}

// TestSplitBrainWeStepDown: the episode ends when the other's priority makes
// us step down, and says so.
func TestSplitBrainWeStepDown(t *testing.T) {
	d, _ := newTestDetector()
	st := master(t0)
	now := t0.Add(time.Minute)
	d.advert(now, other, advertV(100), st, st, nil)
	backup := election.Status{State: election.Backup, Reason: election.ReasonHigherPriority, MasterDownInterval: mdi}
	d.advert(now.Add(time.Second), other, advertV(200), st, backup, nil)
	cs, _ := d.status()
	if len(cs) != 1 || cs[0].Active || !strings.Contains(cs[0].Ended, "we stepped down") {
		t.Errorf("status %+v: want the split brain ended by our stepping down", cs)
	}
}

// TestCollisions: the three ways another virtual router shows on our VRID.
func TestCollisions(t *testing.T) {
	theirs := netip.MustParseAddr("198.18.9.9")
	for _, tc := range []struct {
		name string
		v    *vrrp.Verdict
		want string
	}{
		{"addresses", func() *vrrp.Verdict { v := advertV(100, theirs); v.AddressMismatch = true; return v }(), "not ours"},
		{"not a peer", func() *vrrp.Verdict { v := advertV(100, theirs); v.Drop = vrrp.DropNotPeer; return v }(), "not one of our unicast peers"},
		{"interval", func() *vrrp.Verdict {
			v := advertV(100, theirs)
			v.Advert.Version, v.Advert.Interval, v.Drop = 2, 3*time.Second, vrrp.DropInterval
			return v
		}(), "every 3s"},
	} {
		d, _ := newTestDetector()
		st := election.Status{State: election.Backup, MasterDownInterval: mdi, MasterAdverInterval: time.Second}
		d.advert(t0, other, tc.v, st, st, nil)
		cs, total := d.status()
		if len(cs) != 1 || !cs[0].Active || cs[0].Kind != "vrid-collision" || len(cs[0].VIPs) != 1 || cs[0].VIPs[0] != theirs.String() || total["vrid-collision"] != 1 {
			t.Errorf("%s: status %+v: want an active vrid-collision naming their VIP %v", tc.name, cs, theirs)
			continue
		}
		if !strings.Contains(cs[0].Explanation, tc.want) || !strings.Contains(cs[0].Explanation, "another VRID") {
			t.Errorf("%s: explanation %q lacks %q and the fix", tc.name, cs[0].Explanation, tc.want)
		}
		d.expire(t0.Add(time.Minute), st, false, nil)
		if activeOf(d, "vrid-collision") != 0 {
			t.Errorf("%s: still active a minute after the last advert", tc.name)
		}
	}
}

// TestFloodStaysBounded: forged adverts from many sources fill the table,
// are counted past it, and log no more than the burst; updating known
// entries allocates nothing.
func TestFloodStaysBounded(t *testing.T) {
	d, logs := newTestDetector()
	st := election.Status{State: election.Backup, MasterDownInterval: mdi}
	v := advertV(100, netip.MustParseAddr("198.18.9.9"))
	v.Drop = vrrp.DropNotPeer
	src := netip.MustParseAddr("198.18.100.0")
	for range 10000 {
		src = src.Next()
		d.advert(t0, src, v, st, st, nil)
	}
	cs, _ := d.status()
	if len(cs) > maxConflicts {
		t.Errorf("%d conflicts kept, want at most %d", len(cs), maxConflicts)
	}
	if d.overflow != 10000-maxConflicts {
		t.Errorf("overflow %d, want %d", d.overflow, 10000-maxConflicts)
	}
	if n := logs.count("conflict on the wire"); n > logBurst {
		t.Errorf("%d log lines for the flood, want at most %d", n, logBurst)
	}
	// Known sources (and new ones past a full table) cost no allocation.
	known := cs[0].Peer
	ka := netip.MustParseAddr(known)
	if n := testing.AllocsPerRun(1000, func() {
		d.advert(t0, ka, v, st, st, nil)
		src = src.Next()
		d.advert(t0, src, v, st, st, nil)
	}); n != 0 {
		t.Errorf("%v allocations per forged advert, want 0", n)
	}
	// A split brain's stream costs none either.
	sb, _ := newTestDetector()
	ms := master(t0)
	sb.advert(t0.Add(time.Minute), other, advertV(100), ms, ms, nil)
	if n := testing.AllocsPerRun(1000, func() { sb.advert(t0.Add(time.Minute), other, advertV(100), ms, ms, nil) }); n != 0 {
		t.Errorf("%v allocations per advert of an active split brain, want 0", n)
	}
}

var (
	ourHW     = net.HardwareAddr{0x02, 0, 0, 0, 0, 1}
	routerHW  = net.HardwareAddr{0x02, 0, 0, 0, 0, 2}
	foreignHW = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x99}
)

// TestForeignAnswer: while Master, a MAC that is no router's claiming a VIP
// is reported after confirmAfter; a router's (learnt from its ARP), ours,
// or anyone's while Backup and not probing, is not.
func TestForeignAnswer(t *testing.T) {
	d, _ := newTestDetector()
	vips := []netip.Addr{ourVIP}
	st := master(t0)
	d.advert(t0, other, advertV(200, ourVIP), election.Status{State: election.Backup}, election.Status{State: election.Backup}, nil)
	var asked []netip.Addr
	ask := func(a netip.Addr) { asked = append(asked, a) }

	// A router's GARP for the VIP while we are Master (a takeover): we
	// ask for its MAC, it answers, and the sighting is dropped.
	d.sighting(t0, arp.Sighting{Kind: arp.SightingARPRequest, Addr: ourVIP, MAC: routerHW}, ourHW, vips, true)
	d.toResolve(t0, ask)
	if len(asked) != 1 || asked[0] != other {
		t.Fatalf("asked %v, want the router %v", asked, other)
	}
	d.sighting(t0, arp.Sighting{Kind: arp.SightingARPReply, Addr: other, MAC: routerHW}, ourHW, vips, true)
	// Ours, and anyone's while Backup, are nothing.
	d.sighting(t0, arp.Sighting{Kind: arp.SightingARPReply, Addr: ourVIP, MAC: ourHW}, ourHW, vips, true)
	d.sighting(t0, arp.Sighting{Kind: arp.SightingARPReply, Addr: ourVIP, MAC: foreignHW}, ourHW, vips, false)
	d.expire(t0.Add(2*confirmAfter), st, false, nil)
	if cs, _ := d.status(); len(cs) != 0 {
		t.Fatalf("conflicts %+v from a router's, our own and a Backup's sightings", cs)
	}
	// A foreign host answers while we are Master.
	now := t0.Add(time.Minute)
	d.sighting(now, arp.Sighting{Kind: arp.SightingARPReply, Addr: ourVIP, MAC: foreignHW}, ourHW, vips, true)
	d.expire(now.Add(confirmAfter/2), st, false, nil)
	if activeOf(d, "foreign-answer") != 0 {
		t.Fatal("judged before confirmAfter")
	}
	d.expire(now.Add(confirmAfter), st, false, nil)
	cs, _ := d.status()
	if len(cs) != 1 || !cs[0].Active || cs[0].Kind != "foreign-answer" || cs[0].MAC != foreignHW.String() || cs[0].VIPs[0] != ourVIP.String() {
		t.Fatalf("status %+v: want an active foreign-answer from %v for %v", cs, foreignHW, ourVIP)
	}
	if !strings.Contains(cs[0].Explanation, "ip addr del") {
		t.Errorf("explanation %q gives no fix", cs[0].Explanation)
	}
	if _, due := d.reprobeDue(now.Add(confirmAfter)); !due {
		t.Error("an active foreign answer is not probed again")
	}
	d.expire(now.Add(confirmAfter+foreignHold+time.Second), st, false, nil)
	if activeOf(d, "foreign-answer") != 0 {
		t.Error("a foreign answer not heard again for foreignHold is still active")
	}
}

// TestProbeAnswer: an answer to the probe before takeover counts even
// though we were still Backup when it came.
func TestProbeAnswer(t *testing.T) {
	d, _ := newTestDetector()
	d.probed(t0)
	d.sighting(t0.Add(10*time.Millisecond), arp.Sighting{Kind: arp.SightingARPReply, Addr: ourVIP, MAC: foreignHW}, ourHW, []netip.Addr{ourVIP}, false)
	d.expire(t0.Add(2*time.Second), master(t0), false, nil)
	cs, _ := d.status()
	if len(cs) != 1 || !strings.Contains(cs[0].Explanation, "answered our probe before takeover") {
		t.Errorf("status %+v: want the probe's answer reported", cs)
	}
}

// TestOneWay: a unicast Master whose configured peer was Master when last
// heard, went silent without resigning, and still answers ARP.
func TestOneWay(t *testing.T) {
	d, _ := newTestDetector(other)
	backup := election.Status{State: election.Backup, MasterDownInterval: mdi}
	d.advert(t0, other, advertV(150, ourVIP), backup, backup, nil)
	st := master(t0.Add(mdi))
	var asked []netip.Addr
	ask := func(a netip.Addr) { asked = append(asked, a) }
	d.expire(t0.Add(mdi/2), st, true, ask)
	if len(asked) != 0 || activeOf(d, "one-way") != 0 {
		t.Fatal("acted before Master_Down_Interval of silence")
	}
	d.expire(t0.Add(mdi+time.Second), st, true, ask)
	if len(asked) != 1 || activeOf(d, "one-way") != 0 {
		t.Fatalf("asked %v and %d one-way: want the peer asked, nothing reported without an answer", asked, activeOf(d, "one-way"))
	}
	// Multicast: never.
	d.sighting(t0.Add(mdi+1100*time.Millisecond), arp.Sighting{Kind: arp.SightingARPReply, Addr: other, MAC: routerHW}, ourHW, nil, true)
	d.expire(t0.Add(mdi+1200*time.Millisecond), st, false, ask)
	if activeOf(d, "one-way") != 0 {
		t.Fatal("one-way reported in multicast")
	}
	d.expire(t0.Add(mdi+1300*time.Millisecond), st, true, ask)
	cs, total := d.status()
	if activeOf(d, "one-way") != 1 || total["one-way"] != 1 || !strings.Contains(cs[0].Explanation, "answers ARP/ND") {
		t.Fatalf("status %+v: want one active one-way for %v", cs, other)
	}
	d.advert(t0.Add(10*time.Second), other, advertV(150, ourVIP), st, st, nil)
	if activeOf(d, "one-way") != 0 {
		t.Error("one-way still active after the peer was heard again")
	}
	// A peer that resigned (priority 0) is not one-way.
	d2, _ := newTestDetector(other)
	d2.advert(t0, other, advertV(0, ourVIP), backup, backup, nil)
	d2.sighting(t0.Add(mdi*2), arp.Sighting{Kind: arp.SightingARPReply, Addr: other, MAC: routerHW}, ourHW, nil, true)
	d2.expire(t0.Add(mdi*3), st, true, ask)
	if activeOf(d2, "one-way") != 0 {
		t.Error("a peer that resigned reported as one-way")
	}
}
