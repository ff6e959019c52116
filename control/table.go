package control

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// WriteTable prints st for an operator: one row per instance, then the health checks
// of any instance that has them. now is used for the "since" column.
func WriteTable(w io.Writer, st Status, now time.Time) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "INSTANCE\tINTERFACE\tVRID\tSTATE\tPRIO/EFF\tMASTER\tVIPS\tSINCE\tREASON\tSENT/RECV\tDROPS\tWARNINGS")
	for _, in := range st.Instances {
		state := in.State
		if in.Maintenance {
			state += "(maint)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%d/%d\t%s\t%s\t%s\t%s\t%d/%d\t%s\t%s\n",
			in.Name, in.Interface, in.VRID, state,
			in.Priority, in.EffectivePriority, orDash(in.Master),
			vipColumn(in.VIPs, in.VIPsPresent), since(in.Since, now), in.Reason,
			in.AdvertsSent, in.AdvertsReceived, dropColumn(in.Drops), warningColumn(in.Conflicts))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, in := range st.Instances {
		notes := instanceNotes(in)
		if len(in.Checks) == 0 && in.LastError == "" && len(notes) == 0 {
			continue
		}
		fmt.Fprintf(w, "\n%s:\n", in.Name)
		for _, n := range notes {
			fmt.Fprintf(w, "  %s\n", n)
		}
		if in.LastError != "" {
			fmt.Fprintf(w, "  last error: %s\n", in.LastError)
		}
		if len(in.Checks) == 0 {
			continue
		}
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "  CHECK\tKIND\tUP\tSTREAK\tLAST\tPENALTY")
		for _, c := range in.Checks {
			last := "ok"
			if !c.LastOK {
				last = "fail"
				if c.LastError != "" {
					last += ": " + c.LastError
				}
			}
			if c.LastAt.IsZero() {
				last = "not run yet"
			}
			fmt.Fprintf(tw, "  %s\t%s\t%t\t%+d\t%s\t-%d of %d\n", c.Name, c.Kind, c.Up, c.Streak, last, c.Penalty, c.Weight)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	return nil
}

// instanceNotes are the conditions an operator must know of, one line each.
func instanceNotes(in Instance) []string {
	var out []string
	if in.Maintenance {
		out = append(out, "maintenance: on (priority 1; vipctl maintenance off ends it)")
	}
	if in.Problem != "" {
		out = append(out, "problem: "+in.Problem)
	}
	if in.Stalled {
		out = append(out, fmt.Sprintf("stalled: MASTER but no advert sent for three intervals (%d send errors)", in.SendErrors))
	}
	if in.AddFailing {
		out = append(out, fmt.Sprintf("adding VIPs fails (%d errors): advertising priority 1 until it works", in.AddErrors))
	}
	for _, c := range in.Conflicts {
		if c.Active {
			out = append(out, fmt.Sprintf("warning: %s: %s", c.Kind, c.Explanation))
		}
	}
	return out
}

// warningColumn names the active conflicts (issue 13) by kind and who, or
// "-": the explanation is in the notes below the table.
func warningColumn(cs []Conflict) string {
	var out []string
	for _, c := range cs {
		if !c.Active {
			continue
		}
		who := c.Peer
		if who == "" {
			who = c.MAC
		}
		out = append(out, c.Kind+"("+who+")")
	}
	if len(out) == 0 {
		return "-"
	}
	return strings.Join(out, ",")
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// vipColumn lists each VIP, marking the ones absent from the interface with a "!" so
// that a MASTER without its VIP (or a BACKUP holding one) stands out.
func vipColumn(vips, present []string) string {
	if len(vips) == 0 {
		return "-"
	}
	out := make([]string, len(vips))
	for i, v := range vips {
		if slices.Contains(present, v) {
			out[i] = v + "(up)"
		} else {
			out[i] = v + "(absent)"
		}
	}
	return strings.Join(out, ",")
}

func dropColumn(drops map[string]uint64) string {
	keys := make([]string, 0, len(drops))
	for k, v := range drops {
		if v > 0 {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		return "0"
	}
	slices.Sort(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s=%d", k, drops[k])
	}
	return strings.Join(parts, ",")
}

func since(t, now time.Time) string {
	if t.IsZero() {
		return "-"
	}
	d := now.Sub(t)
	if d < 0 {
		d = 0
	}
	switch {
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	case d < time.Hour:
		return d.Round(time.Second).String()
	default:
		return d.Round(time.Minute).String()
	}
}
