package daemon

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"syscall"
	"time"

	"github.com/vipd/vipd/election"
	"github.com/vipd/vipd/netlink"
	"github.com/vipd/vipd/vrrp"
)

// An instance binds to its interface by name, and binds again whenever the
// kernel says the interface changed: it may not exist yet at startup (a bond or
// VLAN created late at boot), may have no address yet (DHCP), may be deleted
// and created again with another index, and may change its MAC. Until it is
// usable the machine is in Fault with the reason (interface-missing,
// no-source-address); the instance joins the election as soon as it is.

// rebind re-reads the interface and brings sockets and machine in line with it.
func (in *instance) rebind(now time.Time) {
	want := in.lookup()
	old := in.bind
	newLink := old.ifi == nil || want.ifi == nil || old.ifi.Index != want.ifi.Index
	if old.ifi != nil && want.ifi != nil && old.ifi.Index != want.ifi.Index {
		// Deleted and created again between two reads: the old link took
		// the VIPs with it. Leave the election on the old binding first, so
		// that the machine does not stay Master with nothing on the new one.
		in.acceptOwner(false)
		in.closeSockets()
		in.step(now, election.Event{Kind: election.EventFault, Cause: election.FaultInterfaceMissing})
	}
	if in.conn != nil && (want.fault != election.FaultNone || newLink || want.source != old.source) {
		in.closeSockets() // bound to the old index or source
	}
	in.bind = want
	if want.fault != election.FaultNone {
		in.applyFault(now)
		return
	}
	if st := in.m.Status().State; newLink && st != election.Master && st != election.Handoff {
		// The first bind, or the interface was recreated: no VIP of ours may
		// be on it before the election says so. Never while holding them.
		in.sweep()
	}
	if want.source != in.msrc {
		// The source is the machine's identity (its tie-break, its own adverts
		// looped back): a new one is a new machine, after leaving the election.
		if st := in.m.Status().State; st == election.Master || st == election.Backup {
			in.step(now, election.Event{Kind: election.EventFault, Cause: election.FaultNoSourceAddress})
		}
		m, err := in.newMachine(want.source)
		if err != nil {
			in.logErr("rebuilding the election for source "+want.source.String(), err)
			return
		}
		if eff := in.effectivePriority(); eff != uint8(in.cfg.Priority) {
			m.Step(now, election.Event{Kind: election.EventPriority, Priority: eff})
		}
		if in.maintenance && !in.owner() {
			m.Step(now, election.Event{Kind: election.EventMaintenance, On: true})
		}
		in.m, in.msrc = m, want.source
	}
	if in.conn == nil {
		if err := in.openSockets(); err != nil {
			// The source may still be tentative (IPv6 duplicate address
			// detection): Fault, and try again shortly.
			in.bind.fault, in.bind.problem = election.FaultNoSourceAddress, err.Error()
			in.logErr("opening sockets on "+in.cfg.Interface, err)
			in.fault(now, election.FaultNoSourceAddress)
			in.retry.Reset(time.Second)
			return
		}
	} else if !newLink && string(old.ifi.HardwareAddr) != string(want.ifi.HardwareAddr) {
		// Announcements must carry the MAC clients are to use now.
		if err := in.ann.SetHardwareAddr(want.ifi.HardwareAddr); err != nil {
			in.logErr("following the new MAC", err)
		}
		in.log.Warn("interface MAC changed", "from", old.ifi.HardwareAddr.String(), "to", want.ifi.HardwareAddr.String())
		in.step(now, election.Event{Kind: election.EventHardwareChanged})
	}
	in.applyFault(now)
}

// applyFault tells the machine whether the instance can run: the interface
// (bound, up) and the fault checks together. The first unmet need is the
// cause; with none, the router starts or goes on.
func (in *instance) applyFault(now time.Time) {
	cause := in.bind.fault
	switch {
	case cause != election.FaultNone:
	case in.conn == nil:
		cause = election.FaultNoSourceAddress
	case !in.bind.up:
		cause = election.FaultLinkDown
	case in.checkFault != "":
		cause = election.FaultCheck
	}
	if cause != election.FaultNone {
		in.fault(now, cause)
		return
	}
	if in.m.Status().State == election.Initialize {
		in.step(now, election.Event{Kind: election.EventStartup})
		return
	}
	in.step(now, election.Event{Kind: election.EventLinkUp})
}

// fault reports an unusable interface; a router not started yet starts, in
// Fault, so that it joins as soon as the interface is usable.
func (in *instance) fault(now time.Time, c election.FaultCause) {
	in.step(now, election.Event{Kind: election.EventFault, Cause: c})
	if in.m.Status().State == election.Initialize {
		in.step(now, election.Event{Kind: election.EventStartup})
	}
}

// lookup reads the interface and picks the source address.
func (in *instance) lookup() binding {
	l, prefixes, err := in.os.links.LinkByName(in.cfg.Interface)
	if err != nil {
		if errors.Is(err, netlink.ErrNoLink) {
			return binding{fault: election.FaultInterfaceMissing, problem: fmt.Sprintf("interface %s does not exist (yet)", in.cfg.Interface)}
		}
		return binding{fault: election.FaultInterfaceMissing, problem: fmt.Sprintf("reading interface %s: %v", in.cfg.Interface, err)}
	}
	b := binding{
		ifi: &net.Interface{Index: l.Index, Name: l.Name, HardwareAddr: l.HardwareAddr, Flags: net.FlagUp},
		up:  l.Up,
	}
	src, problem := pickSource(in.cfg.Family(), in.cfg.Source, in.cfg.VIPs, in.owner(), in.cfg.Peers, prefixes, in.os.ours)
	if problem != "" {
		b.fault, b.problem = election.FaultNoSourceAddress, in.cfg.Interface+": "+problem
		return b
	}
	b.source = src
	return b
}

// pickSource chooses the address adverts are sent from: the configured one if
// it is on the interface; else for IPv4 the first address that is not a VIP,
// preferring a real prefix over a /32, which may be another instance's VIP or
// one left behind; for IPv6 the link-local address (RFC 9568 §5.1.2.1). An
// owner also needs every VIP on the interface. problem says what is missing.
func pickSource(fam int, configured netip.Addr, vips []netip.Addr, owner bool, peers []netip.Addr, prefixes []netip.Prefix, ours func(netip.Addr) bool) (netip.Addr, string) {
	if ours == nil {
		ours = func(netip.Addr) bool { return false }
	}
	has := func(a netip.Addr) bool {
		return slices.ContainsFunc(prefixes, func(p netip.Prefix) bool { return p.Addr().WithZone("") == a })
	}
	if owner {
		for _, v := range vips {
			if !has(v) {
				return netip.Addr{}, fmt.Sprintf("priority 255 means this host owns %v, but the interface has no such address (yet)", v)
			}
		}
	}
	if configured.IsValid() {
		if !has(configured) {
			return netip.Addr{}, fmt.Sprintf("the configured source %v is not on the interface (yet)", configured)
		}
		return configured, ""
	}
	for _, hostRoutes := range []bool{false, true} {
		for _, p := range prefixes {
			a := p.Addr().WithZone("")
			if (p.Bits() == a.BitLen()) != hostRoutes {
				continue
			}
			switch {
			case fam == 4 && a.Is4() && (owner && slices.Contains(vips, a) || !slices.Contains(vips, a) && !ours(a)):
				// Never a VIP, ours or another instance's: it moves.
				return a, ""
			case fam == 6 && a.Is6() && a.IsLinkLocalUnicast():
				return a, ""
			}
		}
	}
	if fam == 6 {
		return netip.Addr{}, "no IPv6 link-local (fe80::) address (yet): is IPv6 enabled on it?"
	}
	return netip.Addr{}, "no IPv4 address (yet) to send adverts from"
}

// openSockets opens the VRRP socket and the announcer on the bound interface and
// starts reading. A shared socket (sockets.go) delivers the packets of this
// instance's VRID itself; any other packetConn gets a read loop of its own.
func (in *instance) openSockets() error {
	cc := vrrp.ConnConfig{Interface: in.bind.ifi, Family: in.cfg.Family(), Source: in.bind.source, Peers: in.cfg.Peers}
	conn, err := in.os.listen(cc)
	if err != nil {
		if errors.Is(err, syscall.EADDRNOTAVAIL) {
			return fmt.Errorf("source %v is not usable yet (still tentative?): %w", in.bind.source, err)
		}
		return fmt.Errorf("opening the VRRP socket: %w", err)
	}
	ann, err := in.os.dial(in.bind.ifi)
	if err != nil {
		conn.Close()
		return fmt.Errorf("opening the announcer: %w", err)
	}
	in.gen++
	gen := in.gen
	if m, ok := conn.(*member); ok {
		sink := memberSink{gen: gen, pkts: in.pkts, readErr: in.readErr, crash: in.crash}
		if err := m.attach(uint8(in.cfg.VRID), sink); err != nil {
			conn.Close()
			ann.Close()
			return err
		}
		in.conn, in.ann = conn, ann
		return nil
	}
	in.conn, in.ann = conn, ann
	in.spawn("read loop", func() { in.readLoop(gen, conn) })
	return nil
}

// closeSockets closes the VRRP socket (ending its read loop) and the announcer.
func (in *instance) closeSockets() {
	if in.conn != nil {
		in.conn.Close()
		in.conn = nil
	}
	if in.ann != nil {
		in.ann.Close()
		in.ann = nil
	}
	in.gen++
}

// unbind drops the sockets; the binding itself is re-read on the next rebind.
func (in *instance) unbind() {
	in.acceptOwner(false)
	in.closeSockets()
	in.bind.ifi, in.bind.source = nil, netip.Addr{}
}

// sweep removes, from a newly bound link, our configured VIPs (this host starts
// as Backup, and a VIP on a Backup makes two hosts answer for it) and the VIPs
// an earlier vipd left marked (after kill -9, say) that no live vipd holds.
// The locks taken at startup make this safe: no other copy serves these VRIDs.
func (in *instance) sweep() {
	idx, ifname := in.bind.ifi.Index, in.bind.ifi.Name
	stale, err := in.os.addrs.Stale(idx)
	if err != nil {
		in.logErr("listing stale VIPs on "+ifname, err)
	}
	var live []netip.Addr
	if in.os.liveVIPs != nil {
		live = in.os.liveVIPs(ifname)
	}
	for _, a := range stale {
		if in.os.ours(a) || slices.Contains(live, a) {
			continue
		}
		in.log.Warn("removing a stale VIP left by an earlier vipd", "vip", a.String())
		if err := in.os.addrs.DelVIP(idx, a); err != nil {
			in.logErr("removing stale VIP "+a.String(), err)
		}
	}
	if in.owner() {
		return
	}
	for _, v := range in.cfg.VIPs {
		if slices.Contains(live, v) {
			in.log.Warn("VIP is held by another live vipd on this host; leaving it", "vip", v.String())
			continue
		}
		if ok, err := in.os.addrs.HasVIP(idx, v); err == nil && ok {
			if slices.Contains(stale, v) {
				in.log.Warn("removing a stale VIP left by an earlier vipd (killed?) before joining the election", "vip", v.String())
			} else {
				in.log.Warn("VIP already on the interface before election; removing it", "vip", v.String())
			}
			if err := in.os.addrs.DelVIP(idx, v); err != nil {
				in.logErr("removing "+v.String(), err)
			}
		}
	}
}

// update handles a change the kernel reported for the interface's name.
func (in *instance) update(now time.Time, u netlink.Update) {
	if u.Kind == netlink.AddrRemoved && !in.owner() && slices.Contains(in.cfg.VIPs, u.Addr) {
		if in.m.Status().State == election.Master {
			in.log.Warn("VIP was removed from the interface while master; adding it back", "vip", u.Addr.String())
			in.step(now, election.Event{Kind: election.EventVIPsMissing})
		}
		return
	}
	bound := in.bind.fault == election.FaultNone && in.bind.source.IsValid()
	if u.Kind == netlink.AddrAdded && slices.Contains(in.cfg.VIPs, u.Addr) && (bound || !in.owner()) {
		return // ours, or about to be swept: nothing about the binding changed
	}
	// An address that is neither this instance's source nor a candidate it
	// waits for changes nothing: another instance's VIP coming and going
	// must not make every instance re-read the link (with many VRIDs on one
	// interface that was quadratic at every takeover).
	switch {
	case u.Kind == netlink.AddrAdded && bound && in.os.ours(u.Addr):
		return
	case u.Kind == netlink.AddrAdded && bound && in.cfg.Source.IsValid() && u.Addr != in.cfg.Source:
		return
	case u.Kind == netlink.AddrAdded && bound && !in.owner():
		// A new address does not replace a source that still works.
		return
	case u.Kind == netlink.AddrRemoved && bound && u.Addr != in.bind.source && !slices.Contains(in.cfg.VIPs, u.Addr):
		return
	}
	in.rebind(now)
}

// reconcileVIPs puts back any VIP missing while Master.
func (in *instance) reconcileVIPs() {
	if in.m.Status().State != election.Master || in.owner() || in.bind.ifi == nil {
		return
	}
	for _, v := range in.cfg.VIPs {
		if ok, err := in.os.addrs.HasVIP(in.bind.ifi.Index, v); err == nil && !ok {
			in.step(time.Now(), election.Event{Kind: election.EventVIPsMissing})
			return
		}
	}
}
