package daemon

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/vipd/vipd/control"
	"github.com/vipd/vipd/election"
	"github.com/vipd/vipd/vrrp"
)

// status asks the instance for a snapshot; it fails if the loop doesn't answer.
func (in *instance) status(ctx context.Context) (control.Instance, error) {
	reply := make(chan control.Instance, 1)
	select {
	case in.statusc <- reply:
	case <-in.stopped:
		return control.Instance{}, fmt.Errorf("daemon: instance %s has stopped", in.cfg.Name)
	case <-ctx.Done():
		return control.Instance{}, fmt.Errorf("daemon: instance %s did not answer: %w", in.cfg.Name, ctx.Err())
	}
	select {
	case st := <-reply:
		return st, nil
	case <-ctx.Done():
		return control.Instance{}, fmt.Errorf("daemon: instance %s did not answer: %w", in.cfg.Name, ctx.Err())
	}
}

func (in *instance) snapshot() control.Instance {
	s := in.m.Status()
	mode := "multicast"
	if len(in.cfg.Peers) > 0 {
		mode = "unicast"
	}
	st := control.Instance{
		Name:                in.cfg.Name,
		Interface:           in.cfg.Interface,
		VRID:                in.cfg.VRID,
		Family:              fmt.Sprintf("ipv%d", in.cfg.Family()),
		VRRPVersion:         in.cfg.Version,
		Mode:                mode,
		State:               s.State.String(),
		Since:               s.Since,
		Reason:              s.Reason.String(),
		Priority:            in.cfg.Priority,
		EffectivePriority:   int(s.EffectivePriority),
		Master:              addrString(s.Master),
		MasterPriority:      int(s.MasterPriority),
		AdvertInterval:      in.cfg.AdvertInterval,
		MasterAdverInterval: s.MasterAdverInterval,
		MasterDownInterval:  s.MasterDownInterval,
		SkewTime:            s.SkewTime,
		AdvertsSent:         in.sent,
		AdvertsReceived:     in.received,
		SendErrors:          in.sendErrors,
		LastAdvertSent:      in.lastSent,
		AddErrors:           in.addErrors,
		RemoveErrors:        in.removeErrors,
		AnnounceErrors:      in.announceErrors,
		AddFailing:          s.AddFailing,
		Maintenance:         s.Maintenance,
		Drops:               map[string]uint64{},
		ChecksumForms:       map[string]uint64{},
		Transitions:         map[string]uint64{},
		AddressMismatches:   in.mismatches,
		Announcements:       in.announcements,
		LastError:           in.lastErr,
		Source:              addrString(in.bind.source),
		Problem:             in.bind.problem,
		VIPs:                make([]string, 0, len(in.cfg.VIPs)),
		VIPsPresent:         []string{},
		Peers:               in.peers.list(),
		Checks:              []control.Check{},
	}
	if in.bind.ifi != nil {
		st.IfIndex = in.bind.ifi.Index
		st.HardwareAddr = in.bind.ifi.HardwareAddr.String()
	}
	present := in.presentVIPs()
	for _, v := range in.cfg.VIPs {
		st.VIPs = append(st.VIPs, v.String())
		if present[v.String()] {
			st.VIPsPresent = append(st.VIPsPresent, v.String())
		}
	}
	for _, r := range vrrp.DropReasons() {
		if r != vrrp.DropNone {
			st.Drops[r.String()] = in.drops[r.String()]
		}
	}
	for f, n := range in.forms {
		if n > 0 {
			st.ChecksumForms[vrrp.ChecksumForm(f).String()] = n
		}
	}
	for k, v := range in.transitions {
		st.Transitions[k] = v
	}
	if in.checks != nil {
		st.Checks = in.checks.Status()
	}
	// Issue 13: conflicts seen on the wire, brought up to date first.
	in.conflictTick(time.Now())
	st.Conflicts, st.ConflictsTotal = in.conflicts.status()
	if s.State == election.Master && time.Since(in.lastSent) > 3*in.cfg.AdvertInterval {
		st.Stalled = true
	}
	return st
}

// presentVIPs reads, live, which VIPs the kernel has: status shows what is, not
// what vipd meant. An owner's VIPs are its own addresses with whatever prefix
// they were configured with; anyone else's are the /32 or /128 vipd adds.
func (in *instance) presentVIPs() map[string]bool {
	out := map[string]bool{}
	if in.bind.ifi == nil {
		return out
	}
	// One link read for all the VIPs (a status request or a scrape runs
	// this for every instance; a per-VIP HasVIP dumped every address of
	// the host once per VIP). A non-owner's VIP counts as present only as
	// the host address (/32, /128) vipd adds; the owner's are its own
	// addresses, whatever their prefix.
	st, prefixes, err := in.os.links.LinkByName(in.cfg.Interface)
	if err != nil || st.Index != in.bind.ifi.Index {
		return out
	}
	for _, p := range prefixes {
		if a := p.Addr().WithZone(""); in.owner() || p.Bits() == a.BitLen() {
			out[a.String()] = true
		}
	}
	return out
}

// checkSummary names the checks that are down, for logs.
func (in *instance) checkSummary() string {
	if in.checks == nil {
		return ""
	}
	var down []string
	for _, c := range in.checks.Status() {
		if !c.Up {
			d := c.Name
			if c.LastError != "" {
				d += " (" + c.LastError + ")"
			}
			down = append(down, d)
		}
	}
	if len(down) == 0 {
		return "all up"
	}
	return "down: " + strings.Join(down, ", ")
}
