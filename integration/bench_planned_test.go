//go:build integration

package integration

// The planned-moves bench (issue 9): three routers, priorities 200, 150 and
// 100, a client probing the VIP every 5 ms, and each planned move tried
// -bench-planned-trials times per advert interval: vipd's SIGTERM,
// preemption, maintenance on and off, reload (a priority below the Backup's,
// by SIGHUP) and a rolling restart of all three; keepalived's SIGTERM and
// preemption in the same run. The figure per move is the client's longest
// time without an answer (less its own stalls: planned_test.go's move).
// It runs only when asked (-bench-planned-run or VIPD_BENCH_PLANNED=1);
// `make bench-planned` does that and writes bench/results/planned.md.

import (
	"flag"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vipd/vipd/control"
)

var (
	benchPlannedRun       = flag.Bool("bench-planned-run", false, "run the planned-moves bench (also VIPD_BENCH_PLANNED=1)")
	benchPlannedIntervals = flag.String("bench-planned-intervals", "1s,200ms", "advert intervals, comma separated")
	benchPlannedDaemons   = flag.String("bench-planned-daemons", "vipd,keepalived", "daemons, comma separated")
	benchPlannedTrials    = flag.Int("bench-planned-trials", 5, "trials per daemon, interval and move")
	benchPlannedOut       = flag.String("bench-planned-out", "../bench/results", "directory for planned.md")
)

// bpPrios are h0, h1, h2's priorities: h0 the Master, h1 the Backup that
// takes over.
var bpPrios = []int{200, 150, 100}

const bpVRID = 91

// bpMoves are the table's rows, in order; keepalived has the first two.
var bpMoves = []string{"SIGTERM", "preemption", "maintenance on", "maintenance off", "reload", "rolling restart"}

type bpKey struct {
	Daemon, Move string
	Interval     time.Duration
}

type bpResults map[bpKey][]move

func TestBenchPlanned(t *testing.T) {
	if !*benchPlannedRun && os.Getenv("VIPD_BENCH_PLANNED") == "" {
		t.Skip("bench: run with -bench-planned-run or VIPD_BENCH_PLANNED=1 (make bench-planned)")
	}
	var ivs []time.Duration
	for _, s := range splitList(*benchPlannedIntervals) {
		d, err := time.ParseDuration(s)
		if err != nil {
			t.Fatalf("bench: -bench-planned-intervals: %v", err)
		}
		ivs = append(ivs, d)
	}
	daemons := splitList(*benchPlannedDaemons)
	res := bpResults{}
	for _, iv := range ivs {
		for _, d := range daemons {
			t.Run(fmt.Sprintf("%s/%v", d, iv), func(t *testing.T) {
				switch d {
				case "vipd":
					bpVipd(t, iv, res)
				case "keepalived":
					bpKeepalived(t, iv, res)
				default:
					t.Fatalf("bench: unknown daemon %q", d)
				}
			})
		}
	}
	if err := writePlanned(*benchPlannedOut, daemons, ivs, res); err != nil {
		t.Fatalf("bench: %v", err)
	}
	t.Logf("bench: wrote %s", filepath.Join(*benchPlannedOut, "planned.md"))
}

// bpRecord settles the client on host and records the move since from.
func bpRecord(t *testing.T, res bpResults, k bpKey, p *prober, from time.Time, host string, timeout time.Duration) {
	t.Helper()
	m := settle(t, p, from, host, timeout)
	t.Logf("%s %v %s: %v", k.Daemon, k.Interval, k.Move, m)
	res[k] = append(res[k], m)
}

func bpVipd(t *testing.T, iv time.Duration, res bpResults) {
	l := newLab(t, 3, withoutIPv6())
	cfg := func(h, prio int) string {
		return reloadConfig(iv, reloadInstance{Name: "api", VRID: bpVRID, Prio: prio, VIPs: []netip.Addr{l.VIP4}})
	}
	vs := make([]*reloadVipd, 3)
	start := func(h int) {
		vs[h] = startReloadVipd(l, h, cfg(h, bpPrios[h]))
		vs[h].vrid = bpVRID
	}
	for h := range vs {
		start(h)
	}
	live := func() []*vipd { return []*vipd{vs[0].vipd, vs[1].vipd, vs[2].vipd} }
	elected := func(w int) { waitElected(t, l, live(), all(3), w, masterDown(iv, bpPrios[2])+5*time.Second) }
	elected(0)
	p := plannedProber(t, l, l.VIP4, "h0")
	long := masterDown(iv, bpPrios[2]) + 10*time.Second
	key := func(m string) bpKey { return bpKey{"vipd", m, iv} }
	for trial := range *benchPlannedTrials {
		t.Logf("vipd %v: trial %d", iv, trial+1)

		from := vs[0].sigterm(t)
		bpRecord(t, res, key("SIGTERM"), p, from, "h1", long)
		vs[0].exited(t, long)
		from = time.Now()
		start(0)
		bpRecord(t, res, key("preemption"), p, from, "h0", long)
		elected(0)

		from = time.Now()
		vs[0].mustCtl(t, "maintenance", "on")
		bpRecord(t, res, key("maintenance on"), p, from, "h1", long)
		from = time.Now()
		vs[0].mustCtl(t, "maintenance", "off")
		bpRecord(t, res, key("maintenance off"), p, from, "h0", long)
		elected(0)

		from = time.Now()
		vs[0].reload(t, cfg(0, 120), true)
		bpRecord(t, res, key("reload"), p, from, "h1", long)
		vs[0].reload(t, cfg(0, bpPrios[0]), true)
		settle(t, p, from, "h0", long)
		elected(0)

		from = time.Now()
		for _, h := range []int{2, 1, 0} {
			vs[h].sigterm(t)
			vs[h].exited(t, long)
			start(h)
			waitInst(t, vs[h].vipd, long, "running again", func(in control.Instance) bool {
				return in.State == "BACKUP" || in.State == "MASTER"
			})
		}
		bpRecord(t, res, key("rolling restart"), p, from, "h0", long)
		elected(0)
	}
}

func bpKeepalived(t *testing.T, iv time.Duration, res bpResults) {
	l := newLab(t, 3, withoutIPv6())
	cfg := func(h int) daemonConfig {
		return daemonConfig{VRID: bpVRID, Priority: bpPrios[h], Interval: iv, Version: 3, VIP: l.VIP4, Preempt: true}
	}
	ks := make([]*keepalived, 3)
	for h := range ks {
		ks[h] = interopKeepalived(l, h, cfg(h))
	}
	ks[0].waitState("MASTER", masterDown(iv, bpPrios[0])+10*time.Second)
	p := plannedProber(t, l, l.VIP4, "h0")
	long := masterDown(iv, bpPrios[2]) + 10*time.Second
	key := func(m string) bpKey { return bpKey{"keepalived", m, iv} }
	for trial := range *benchPlannedTrials {
		t.Logf("keepalived %v: trial %d", iv, trial+1)
		from := time.Now()
		ks[0].Stop()
		bpRecord(t, res, key("SIGTERM"), p, from, "h1", long)
		from = time.Now()
		ks[0] = interopKeepalived(l, 0, cfg(0))
		bpRecord(t, res, key("preemption"), p, from, "h0", long)
		ks[0].waitState("MASTER", long)
		ks[1].waitState("BACKUP", long)
	}
}

// writePlanned writes planned.md: per move and interval, the longest client
// gap's median and max for each daemon.
func writePlanned(dir string, daemons []string, ivs []time.Duration, res bpResults) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# Planned moves: the client's longest gap\n\n")
	fmt.Fprintf(&b, "`make bench-planned` (integration/bench_planned_test.go), %s. Three routers (priorities %v), "+
		"VRRPv3, a client probing the VIP every %v; per move the longest time the client went without an answer, "+
		"less the client's own stalls (its probe sender not scheduled), over %d trials: median / max in ms, and probes lost in all trials. "+
		"vipd's goal is at most %v; keepalived's SIGTERM costs its Backup's Skew_Time.\n\n",
		time.Now().UTC().Format("2006-01-02"), bpPrios, plannedProbe, *benchPlannedTrials, plannedGap)
	fmt.Fprintf(&b, "Machine: %s\n\n", machine())
	b.WriteString("| move | interval |")
	for _, d := range daemons {
		fmt.Fprintf(&b, " %s median / max (lost) |", d)
	}
	b.WriteString("\n|---|---|")
	for range daemons {
		b.WriteString("---|")
	}
	b.WriteString("\n")
	for _, mv := range bpMoves {
		for _, iv := range ivs {
			fmt.Fprintf(&b, "| %s | %v |", mv, iv)
			for _, d := range daemons {
				ms := res[bpKey{d, mv, iv}]
				if len(ms) == 0 {
					b.WriteString(" — |")
					continue
				}
				var gaps []time.Duration
				lost := 0
				for _, m := range ms {
					gaps = append(gaps, m.NetGap)
					lost += m.Lost
				}
				fmt.Fprintf(&b, " %.1f / %.1f (%d) |", float64(median(gaps))/1e6, float64(slices.Max(gaps))/1e6, lost)
			}
			b.WriteString("\n")
		}
	}
	b.WriteString("\nMoves: SIGTERM of the Master; preemption: the Master started again takes the VIP back; " +
		"maintenance on/off: `vipctl maintenance` on the Master, then off (it preempts back); " +
		"reload: the Master's priority set below the Backup's by SIGHUP (the Backup preempts); " +
		"rolling restart: SIGTERM and start of h2, h1, then h0, one gap over the whole roll.\n")
	return os.WriteFile(filepath.Join(dir, "planned.md"), []byte(b.String()), 0o644)
}
