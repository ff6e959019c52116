//go:build integration

package integration

// The bench report: bench/results/results.md (markdown tables) and
// bench/results/chart.svg (a hand-written SVG bar chart, no dependencies).

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"
)

// outageStats summarises a cell's trials.
type outageStats struct {
	N                int
	Median, Min, Max time.Duration
	Overhead         time.Duration // median of per-trial overheads
	Unclean          int           // trials where another host answered in between
}

func stats(ts []trial) (outageStats, bool) {
	if len(ts) == 0 {
		return outageStats{}, false
	}
	ds := make([]time.Duration, len(ts))
	ovs := make([]time.Duration, len(ts))
	unclean := 0
	for i, t := range ts {
		ds[i], ovs[i] = t.Outage, t.Overhead()
		if !t.Clean() {
			unclean++
		}
	}
	slices.Sort(ds)
	return outageStats{N: len(ds), Median: median(ds), Min: ds[0], Max: ds[len(ds)-1],
		Overhead: median(ovs), Unclean: unclean}, true
}

func median(ds []time.Duration) time.Duration {
	ds = slices.Sorted(slices.Values(ds))
	if len(ds)%2 == 0 {
		return (ds[len(ds)/2-1] + ds[len(ds)/2]) / 2
	}
	return ds[len(ds)/2]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.0f", float64(d)/float64(time.Millisecond)) }

// machine describes where the bench ran.
func machine() string {
	model := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "model name"); ok {
				model = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
	}
	kernel, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	ka, _ := exec.Command("keepalived", "--version").CombinedOutput()
	kav, _, _ := strings.Cut(string(ka), "\n")
	return fmt.Sprintf("%s, nproc %d, Linux %s, %s, %s", model, runtime.NumCPU(),
		strings.TrimSpace(string(kernel)), runtime.Version(), strings.TrimSpace(kav))
}

func writeBenchResults(dir string, daemons []string, intervals []time.Duration, scens []scenario, res *benchResults) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# vipd failover bench\n\n")
	fmt.Fprintf(&b, "- date: %s\n- machine: %s\n", time.Now().UTC().Format(time.RFC3339), machine())
	fmt.Fprintf(&b, "- topology: 3 hosts + client on one bridge, priorities %v, VRRPv3 multicast, preempt on\n", benchPrios)
	fmt.Fprintf(&b, "- outage: longest gap between UDP answers seen by the client probing the VIP every %v, less one probe interval\n", probeInterval)
	fmt.Fprintf(&b, "- floor: RFC 9568 §6.1 for h1 (priority %d): Master_Down_Interval = 3×interval + Skew_Time after silence; Skew_Time after a priority 0 advert\n", benchPrios[1])
	fmt.Fprintf(&b, "- faults are injected at a random phase of the master's advert cycle (trial i of n uniformly within the i-th n-th of the interval; seed %d, the same phases for every daemon), measured from the master's last advert as the switch saw it to the start of the fault command; for silent faults (crash, linkdown) each trial's floor is Master_Down_Interval minus that phase (the backup's timer started at the last advert), and \"over floor\" is the median of outage − trial floor\n", benchSeedValue())
	fmt.Fprintf(&b, "- unclean: trials where a third host answered between h0 and h1 (a transient extra master)\n\n")

	fmt.Fprintf(&b, "## Client-observed outage (ms)\n\n")
	fmt.Fprintf(&b, "| scenario | interval | floor |")
	for _, d := range daemons {
		fmt.Fprintf(&b, " %s median (min–max) | %s over floor | %s unclean |", d, d, d)
	}
	if len(daemons) == 2 {
		fmt.Fprintf(&b, " %s/%s |", daemons[1], daemons[0])
	}
	b.WriteString("\n|---|---|---|")
	for range daemons {
		b.WriteString("---|---|---|")
	}
	if len(daemons) == 2 {
		b.WriteString("---|")
	}
	b.WriteString("\n")
	for _, sc := range scens {
		for _, iv := range intervals {
			floor := sc.Floor(iv)
			fmt.Fprintf(&b, "| %s | %v | %s |", sc.Name, iv, ms(floor))
			var meds []time.Duration
			for _, d := range daemons {
				s, ok := stats(res.Trials[benchKey{d, sc.Name, iv}])
				if !ok {
					b.WriteString(" n/a | n/a | n/a |")
					meds = append(meds, 0)
					continue
				}
				fmt.Fprintf(&b, " %s (%s–%s), n=%d | %+.0f | %d |", ms(s.Median), ms(s.Min), ms(s.Max), s.N,
					float64(s.Overhead)/float64(time.Millisecond), s.Unclean)
				meds = append(meds, s.Median)
			}
			if len(daemons) == 2 {
				if meds[0] > 0 && meds[1] > 0 {
					fmt.Fprintf(&b, " %.2f |", float64(meds[1])/float64(meds[0]))
				} else {
					b.WriteString(" n/a |")
				}
			}
			b.WriteString("\n")
		}
	}
	if len(res.Idle) > 0 {
		fmt.Fprintf(&b, "\n## Idle cost (averaged over %v; keepalived sums its processes)\n\n", *benchIdle)
		b.WriteString("| daemon | interval | role | CPU % | RSS (MiB) |\n|---|---|---|---|---|\n")
		for _, ir := range res.Idle {
			fmt.Fprintf(&b, "| %s | %v | %s | %.3f | %.1f |\n", ir.Daemon, ir.Interval, ir.Role, ir.CPUPct, float64(ir.RSSkB)/1024)
		}
	}
	b.WriteString("\n## Trials\n\n| daemon | scenario | interval | outage ms | phase ms | trial floor ms | overhead ms | hosts |\n|---|---|---|---|---|---|---|---|\n")
	for _, d := range daemons {
		for _, sc := range scens {
			for _, iv := range intervals {
				for _, tr := range res.Trials[benchKey{d, sc.Name, iv}] {
					fmt.Fprintf(&b, "| %s | %s | %v | %s | %s | %s | %s | %s |\n", d, sc.Name, iv, ms(tr.Outage), ms(tr.Phase),
						ms(tr.Floor), ms(tr.Overhead()), strings.Join(tr.Hosts, "→"))
				}
			}
		}
	}
	b.WriteString("\n![outage chart](chart.svg)\n")
	if err := os.WriteFile(filepath.Join(dir, "results.md"), []byte(b.String()), 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "chart.svg"), []byte(chartSVG(daemons, intervals, scens, res)), 0o644)
}

// chartSVG draws one panel per interval: for each scenario a bar per daemon
// (median, with a min–max whisker) and a dashed line at the RFC floor.
func chartSVG(daemons []string, intervals []time.Duration, scens []scenario, res *benchResults) string {
	const (
		panelW, panelH = 460, 300
		left, top      = 60, 40
		plotH          = 200
	)
	colors := []string{"#4e79a7", "#f28e2b", "#59a14f", "#e15759"}
	w := len(intervals)*panelW + 20
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="12">`+"\n", w, panelH+40)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	for pi, iv := range intervals {
		x0 := pi*panelW + left
		// Scale: the largest max or floor in this panel.
		var top0 time.Duration
		for _, sc := range scens {
			top0 = max(top0, sc.Floor(iv))
			for _, d := range daemons {
				if s, ok := stats(res.Trials[benchKey{d, sc.Name, iv}]); ok {
					top0 = max(top0, s.Max)
				}
			}
		}
		if top0 <= 0 {
			top0 = iv
		}
		top0 = top0 * 11 / 10
		y := func(d time.Duration) float64 { return float64(top+plotH) - float64(plotH)*float64(d)/float64(top0) }
		fmt.Fprintf(&b, `<text x="%d" y="20" font-size="14" font-weight="bold">advert interval %v: client outage (ms)</text>`+"\n", x0, iv)
		fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="black"/>`+"\n", x0, top, x0, top+plotH)
		fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="black"/>`+"\n", x0, top+plotH, x0+panelW-left-20, top+plotH)
		for k := 0; k <= 4; k++ {
			v := top0 * time.Duration(k) / 4
			fmt.Fprintf(&b, `<text x="%d" y="%.1f" text-anchor="end">%s</text>`+"\n", x0-4, y(v)+4, ms(v))
			fmt.Fprintf(&b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#ddd"/>`+"\n", x0, y(v), x0+panelW-left-20, y(v))
		}
		groupW := (panelW - left - 20) / max(len(scens), 1)
		barW := (groupW - 20) / max(len(daemons), 1)
		for si, sc := range scens {
			gx := x0 + si*groupW + 10
			for di, d := range daemons {
				bx := gx + di*barW
				s, ok := stats(res.Trials[benchKey{d, sc.Name, iv}])
				if !ok {
					fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="10">n/a</text>`+"\n", bx+2, top+plotH-4)
					continue
				}
				fmt.Fprintf(&b, `<rect x="%d" y="%.1f" width="%d" height="%.1f" fill="%s"><title>%s %s median %s ms</title></rect>`+"\n",
					bx, y(s.Median), barW-4, float64(top+plotH)-y(s.Median), colors[di%len(colors)], d, sc.Name, ms(s.Median))
				cx := bx + (barW-4)/2
				fmt.Fprintf(&b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="black"/>`+"\n", cx, y(s.Min), cx, y(s.Max))
				fmt.Fprintf(&b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="black"/>`+"\n", cx-4, y(s.Max), cx+4, y(s.Max))
				fmt.Fprintf(&b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="black"/>`+"\n", cx-4, y(s.Min), cx+4, y(s.Min))
			}
			fy := y(sc.Floor(iv))
			fmt.Fprintf(&b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#c00" stroke-dasharray="4 3"><title>RFC floor %s ms</title></line>`+"\n",
				gx-4, fy, gx+groupW-16, fy, ms(sc.Floor(iv)))
			fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="middle">%s</text>`+"\n", gx+(groupW-20)/2, top+plotH+16, sc.Name)
		}
		for di, d := range daemons {
			lx := x0 + di*110
			fmt.Fprintf(&b, `<rect x="%d" y="%d" width="10" height="10" fill="%s"/><text x="%d" y="%d">%s</text>`+"\n",
				lx, top+plotH+30, colors[di%len(colors)], lx+14, top+plotH+39, d)
		}
		fx := x0 + len(daemons)*110
		fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#c00" stroke-dasharray="4 3"/>`+"\n",
			fx, top+plotH+35, fx+20, top+plotH+35)
		fmt.Fprintf(&b, `<text x="%d" y="%d">RFC floor</text>`+"\n", fx+24, top+plotH+39)
	}
	b.WriteString("</svg>\n")
	return b.String()
}
