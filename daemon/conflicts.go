package daemon

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"time"

	"github.com/vipd/vipd/arp"
	"github.com/vipd/vipd/control"
	"github.com/vipd/vipd/election"
	"github.com/vipd/vipd/vrrp"
)

// Conflict detection (issue 13): what else on the wire is wrong. It reads
// what the instance already sees (adverts, their verdicts, the machine's
// state after each step) and what an arp.Watcher sees on the interface (ARP
// and Neighbor Discovery about our VIPs and the routers' addresses), and it
// reports: status, metrics, one log line when a conflict starts and one when
// it ends. It never feeds the machine: the RFC rules alone decide who holds
// the VIPs, whatever is found here.
//
// The table is a fixed array: a flood of forged sources fills it and is then
// counted, not stored; an update of a known conflict allocates nothing, so
// the receive path stays allocation-free (receive_bench_test.go).

// conflictKind is what is wrong.
type conflictKind uint8

const (
	// conflictSplitBrain: as Master, an advert with priority > 0 from
	// another router that stays Master too (RFC 9568 §6.4.3: we discard
	// it), later than a takeover explains.
	conflictSplitBrain conflictKind = iota
	// conflictVRIDCollision: adverts for our VRID with other addresses
	// (RFC 9568 §7.1 accepts them), from outside the unicast peers, or
	// with another interval (RFC 3768 §7.1 drops them).
	conflictVRIDCollision
	// conflictForeignAnswer: while Master (or in answer to the probe sent
	// before taking over), a MAC that is neither ours nor a router's
	// claims a VIP in ARP or Neighbor Discovery.
	conflictForeignAnswer
	// conflictOneWay: unicast, we are Master, and a peer that was Master
	// when last heard (it did not resign) has been silent for longer than
	// Master_Down_Interval while its host answers ARP/ND.
	conflictOneWay

	numConflictKinds
)

var conflictNames = [numConflictKinds]string{
	conflictSplitBrain:    "split-brain",
	conflictVRIDCollision: "vrid-collision",
	conflictForeignAnswer: "foreign-answer",
	conflictOneWay:        "one-way",
}

func (k conflictKind) String() string {
	if k < numConflictKinds {
		return conflictNames[k]
	}
	return fmt.Sprintf("conflictKind(%d)", k)
}

// ConflictKinds are the values of the kind label of vipd_conflicts_total
// and vipd_conflict_active.
func ConflictKinds() []string { return conflictNames[:] }

const (
	// maxConflicts bounds the table per instance.
	maxConflicts = 16
	// maxRouters bounds the routers whose MAC is tracked, as maxPeers
	// bounds the peers.
	maxRouters = maxPeers
	// maxPending bounds the sightings waiting for confirmation.
	maxPending = 8
	// maxShownVIPs is how many of a foreign router's addresses are kept.
	maxShownVIPs = 8

	// confirmAfter is how long a sighting waits before it is judged: long
	// enough for a VRRP router that announced a VIP to send its advert and
	// for the routers to answer our resolution requests.
	confirmAfter = time.Second
	// foreignHold is how long a foreign answer stays active without new
	// evidence; while it is active the Master probes again every
	// reprobeEvery, so that it ends soon after the address is removed.
	foreignHold  = 30 * time.Second
	reprobeEvery = 10 * time.Second
	// probeWindow is how long after our probe an answer counts as one.
	probeWindow = 2 * time.Second
	// resolveEvery limits resolution requests per router.
	resolveEvery = 10 * time.Second

	// Logs: at most logBurst lines, then one per logEvery; the lines held
	// back are counted in the next one.
	logBurst = 10
	logEvery = 6 * time.Second
)

// collision says which rule a vrid-collision broke.
type collision uint8

const (
	collisionAddresses collision = iota + 1
	collisionNotPeer
	collisionInterval
)

// conflict is one entry of the table: a kind and who. Its fields are fixed
// size, so that updating it allocates nothing.
type conflict struct {
	used     bool
	kind     conflictKind
	why      collision // vrid-collision only
	peer     netip.Addr
	mac      [6]byte
	hasMAC   bool
	vip      netip.Addr // foreign-answer: the VIP claimed
	priority uint8
	interval time.Duration
	vips     [maxShownVIPs]netip.Addr
	nvips    int

	active            bool
	first, last, from time.Time // from: start of the current episode
	hold              time.Duration
	count, events     uint64
	explanation       string // set when an episode starts
	ended             string // how the last episode ended
}

// router is another VRRP router on the link: heard in an advert, or a
// configured unicast peer; its MAC from ARP/ND once known.
type router struct {
	addr       netip.Addr
	mac        [6]byte
	hasMAC     bool
	macSeen    time.Time // last ARP/ND from its address
	asked      time.Time // last resolution request
	heard      time.Time // last advert
	priority   uint8     // of the last advert
	configured bool
}

// sightingWait is a sighting of a VIP from an unknown MAC, waiting to be
// judged at confirmAfter.
type sightingWait struct {
	used     bool
	vip      netip.Addr
	mac      [6]byte
	kind     arp.SightingKind
	at       time.Time
	probe    bool // an answer to our probe
	asMaster bool
}

// detector is one instance's conflict table. Only the instance's loop
// touches it.
type detector struct {
	log  *slog.Logger
	vrid int

	// tab grows to maxConflicts entries as conflicts are seen: most
	// instances never see one, and the full table is 10 KB (issue 12).
	tab     []conflict
	routers [maxRouters]router
	pending [maxPending]sightingWait
	npend   int

	// started counts episodes by kind (vipd_conflicts_total); overflow
	// counts evidence the full table could not hold.
	started  [numConflictKinds]uint64
	overflow uint64
	nactive  int

	probedAt  time.Time
	reprobeAt time.Time
	// routersChanged: a router was added; the watcher's filter is to follow.
	routersChanged bool

	logTokens  int
	logAt      time.Time
	suppressed int
}

func newDetector(log *slog.Logger, cfg instanceConfig) *detector {
	d := &detector{log: log, vrid: cfg.vrid, logTokens: logBurst}
	for _, p := range cfg.peers {
		if r := d.router(p.Unmap().WithZone(""), time.Time{}); r != nil {
			r.configured = true
		}
	}
	return d
}

// instanceConfig is what the detector needs of the configuration.
type instanceConfig struct {
	vrid  int
	peers []netip.Addr
}

// router returns the entry of a, made if need be (evicting the router
// heard least recently that is not configured); nil if the table is full of
// configured peers.
func (d *detector) router(a netip.Addr, now time.Time) *router {
	var free, oldest *router
	for i := range d.routers {
		r := &d.routers[i]
		switch {
		case r.addr == a:
			return r
		case !r.addr.IsValid():
			if free == nil {
				free = r
			}
		case !r.configured && (oldest == nil || r.heard.Before(oldest.heard)):
			oldest = r
		}
	}
	if free == nil {
		free = oldest
	}
	if free == nil {
		return nil
	}
	*free = router{addr: a, heard: now}
	d.routersChanged = true
	return free
}

// routerMAC reports whether mac belongs to a router we know.
func (d *detector) routerMAC(mac [6]byte) bool {
	for i := range d.routers {
		if d.routers[i].hasMAC && d.routers[i].mac == mac {
			return true
		}
	}
	return false
}

// find returns the entry of kind and who, or a slot for it; nil when the
// table is full of active conflicts (the evidence is then counted in
// overflow). A slot is the first unused, else the inactive one seen least
// recently.
func (d *detector) find(kind conflictKind, peer netip.Addr, mac [6]byte, hasMAC bool, vip netip.Addr) *conflict {
	var slot *conflict
	for i := range d.tab {
		c := &d.tab[i]
		if !c.used {
			if slot == nil || slot.used {
				slot = c
			}
			continue
		}
		if c.kind == kind && c.peer == peer && c.hasMAC == hasMAC && c.mac == mac && c.vip == vip {
			return c
		}
		if !c.active && (slot == nil || (slot.used && c.last.Before(slot.last))) {
			slot = c
		}
	}
	if (slot == nil || slot.used) && len(d.tab) < maxConflicts {
		if d.tab == nil {
			// Its whole capacity at once: an append never moves the entries
			// that callers hold pointers to.
			d.tab = make([]conflict, 0, maxConflicts)
		}
		d.tab = append(d.tab, conflict{})
		slot = &d.tab[len(d.tab)-1]
	}
	if slot == nil {
		d.overflow++
		return nil
	}
	*slot = conflict{used: true, kind: kind, peer: peer, mac: mac, hasMAC: hasMAC, vip: vip}
	return slot
}

// evidence records one sighting of c and reports whether it starts an
// episode; the caller then gives the explanation to start (only then: it
// allocates).
func (d *detector) evidence(c *conflict, now time.Time, hold time.Duration) bool {
	c.count++
	c.last = now
	c.hold = hold
	if c.first.IsZero() {
		c.first = now
	}
	return !c.active
}

// start opens c's episode with its explanation and logs it.
func (d *detector) start(c *conflict, now time.Time, explanation string) {
	c.active, c.from, c.ended = true, now, ""
	c.events++
	d.started[c.kind]++
	d.nactive++
	c.explanation = explanation
	d.logf(now, slog.LevelWarn, "conflict on the wire", c, "explanation", explanation)
}

// end closes c's episode, saying how.
func (d *detector) end(c *conflict, now time.Time, how string) {
	if !c.active {
		return
	}
	c.active, c.ended = false, how
	d.nactive--
	d.logf(now, slog.LevelInfo, "conflict ended", c, "how", how, "lasted", now.Sub(c.from).Round(time.Millisecond).String(), "count", c.count)
}

// logf logs one line about c, within the rate limit.
func (d *detector) logf(now time.Time, level slog.Level, msg string, c *conflict, args ...any) {
	if d.logAt.IsZero() {
		d.logAt = now
	}
	if n := int(now.Sub(d.logAt) / logEvery); n > 0 {
		d.logTokens = min(logBurst, d.logTokens+n)
		d.logAt = d.logAt.Add(time.Duration(n) * logEvery)
	}
	if d.logTokens == 0 {
		d.suppressed++
		return
	}
	d.logTokens--
	args = append(args, "kind", c.kind.String())
	if c.peer.IsValid() {
		args = append(args, "peer", c.peer.String())
	}
	if c.hasMAC {
		args = append(args, "mac", net.HardwareAddr(c.mac[:]).String())
	}
	if d.suppressed > 0 {
		args = append(args, "suppressed", d.suppressed)
		d.suppressed = 0
	}
	d.log.Log(nil, level, msg, args...)
}

// advert is what the receive path saw: the verdict of RFC 9568 §7.1 and
// the machine's state before and after the step it fed (after = before
// when the advert was dropped).
func (d *detector) advert(now time.Time, src netip.Addr, v *vrrp.Verdict, before, after election.Status, ours *vrrp.Expect) {
	adv := &v.Advert
	switch v.Drop {
	case vrrp.DropNone:
	case vrrp.DropNotPeer:
		d.collision(now, src, collisionNotPeer, adv, after)
		return
	case vrrp.DropInterval:
		if adv.Version == 2 && adv.Interval > 0 {
			d.collision(now, src, collisionInterval, adv, after)
		}
		return
	default:
		return
	}
	if r := d.router(src, now); r != nil {
		r.heard, r.priority = now, adv.Priority
	}
	if v.AddressMismatch {
		d.collision(now, src, collisionAddresses, adv, after)
	}
	// One-way ends as soon as the peer is heard again.
	if d.nactive > 0 {
		for i := range d.tab {
			if c := &d.tab[i]; c.active && c.kind == conflictOneWay && c.peer == src {
				d.end(c, now, fmt.Sprintf("adverts from %v arrive again", src))
			}
		}
	}
	if before.State != election.Master {
		return
	}
	if adv.Priority == election.PriorityShutdown {
		if c := d.activeSplit(src); c != nil {
			d.end(c, now, fmt.Sprintf("%v resigned (priority 0 advert)", src))
		}
		return
	}
	if after.State != election.Master {
		if c := d.activeSplit(src); c != nil {
			d.end(c, now, fmt.Sprintf("we stepped down (%s from %v)", after.Reason, src))
		}
		return
	}
	// RFC 9568 §6.4.3: a Master discards an advert of lower priority (or
	// of equal priority from a lower address) and goes on. Its sender is
	// another Master. Within Master_Down_Interval of our takeover it may be
	// the one we took over from, whose advert crossed ours; later, it does
	// not hear us.
	if now.Sub(after.Since) <= after.MasterDownInterval {
		return
	}
	c := d.find(conflictSplitBrain, src, [6]byte{}, false, netip.Addr{})
	if c == nil {
		return
	}
	c.priority = adv.Priority
	if d.evidence(c, now, max(after.MasterDownInterval, 4*adv.Interval)) {
		d.start(c, now, fmt.Sprintf("%v (priority %d) also claims MASTER for VRID %d while we are MASTER (priority %d): it does not hear our adverts, and both hold the VIPs. Check the switch, VLAN and firewalls between us for VRRP (IP protocol 112)",
			src, c.priority, d.vrid, after.EffectivePriority))
	}
}

func (d *detector) activeSplit(src netip.Addr) *conflict {
	if d.nactive == 0 {
		return nil
	}
	for i := range d.tab {
		if c := &d.tab[i]; c.active && c.kind == conflictSplitBrain && c.peer == src {
			return c
		}
	}
	return nil
}

// collision records an advert for our VRID that another virtual router
// sent, or one configured unlike us.
func (d *detector) collision(now time.Time, src netip.Addr, why collision, adv *vrrp.Advertisement, st election.Status) {
	c := d.find(conflictVRIDCollision, src, [6]byte{}, false, netip.Addr{})
	if c == nil {
		return
	}
	c.why, c.priority, c.interval = why, adv.Priority, adv.Interval
	c.nvips = copy(c.vips[:], adv.Addresses)
	if d.evidence(c, now, max(st.MasterDownInterval, 4*adv.Interval)) {
		d.start(c, now, d.explainCollision(c, st))
	}
}

func (d *detector) explainCollision(c *conflict, st election.Status) string {
	{
		theirs := fmt.Sprint(c.vips[:c.nvips])
		switch c.why {
		case collisionNotPeer:
			return fmt.Sprintf("%v sends adverts for VRID %d (VIPs %s) but is not one of our unicast peers (dropped, RFC 9568 §7.1): another cluster uses this VRID. Give one of them another VRID, or add %v to peers if it is ours",
				c.peer, d.vrid, theirs, c.peer)
		case collisionInterval:
			return fmt.Sprintf("%v advertises VRID %d every %v (VIPs %s), we every %v: VRRPv2 drops it (RFC 3768 §7.1). Another cluster uses this VRID, or the intervals differ: give one another VRID, or the same advert-interval",
				c.peer, d.vrid, c.interval, theirs, st.MasterAdverInterval)
		}
		return fmt.Sprintf("%v advertises VRID %d with VIPs %s, not ours: another virtual router uses this VRID on the link and takes part in our election (RFC 9568 §7.1 accepts it). Give one of them another VRID; if it is ours, make the VIP lists agree",
			c.peer, d.vrid, theirs)
	}
}

// sighting is one packet the watcher saw. ours is our MAC, vips our VIPs,
// master whether we are Master now.
func (d *detector) sighting(now time.Time, s arp.Sighting, ours net.HardwareAddr, vips []netip.Addr, master bool) {
	if len(s.MAC) != 6 || string(s.MAC) == string(ours) {
		return
	}
	mac := [6]byte(s.MAC)
	addr := s.Addr.WithZone("").Unmap()
	if s.Kind != arp.SightingARPProbe && s.Kind != arp.SightingDAD {
		for i := range d.routers {
			if r := &d.routers[i]; r.addr == addr {
				r.mac, r.hasMAC, r.macSeen = mac, true, now
				return
			}
		}
	}
	if !slices.Contains(vips, addr) {
		return
	}
	probe := !d.probedAt.IsZero() && now.Sub(d.probedAt) <= probeWindow
	if !master && !probe {
		return // a Backup holds no VIP: another router's announcements are expected
	}
	// Already a confirmed foreign answer: more evidence of it.
	if d.nactive > 0 {
		for i := range d.tab {
			if c := &d.tab[i]; c.active && c.kind == conflictForeignAnswer && c.mac == mac && c.vip == addr {
				d.evidence(c, now, foreignHold)
				return
			}
		}
	}
	for i := range d.pending {
		if p := &d.pending[i]; p.used && p.mac == mac && p.vip == addr {
			return
		}
	}
	for i := range d.pending {
		if p := &d.pending[i]; !p.used {
			*p = sightingWait{used: true, vip: addr, mac: mac, kind: s.Kind, at: now, probe: probe, asMaster: master}
			d.npend++
			return
		}
	}
	d.overflow++
}

// toResolve calls f with every router whose MAC is to be asked for now: while
// a sighting waits, those whose MAC is unknown; for one-way, the silent
// peer (asked by expire). Each at most every resolveEvery.
func (d *detector) toResolve(now time.Time, f func(netip.Addr)) {
	if d.npend == 0 {
		return
	}
	for i := range d.routers {
		r := &d.routers[i]
		if r.addr.IsValid() && !r.hasMAC && (r.asked.IsZero() || now.Sub(r.asked) >= resolveEvery) {
			r.asked = now
			f(r.addr)
		}
	}
}

// expire judges waiting sightings, ends conflicts whose evidence stopped,
// and looks for one-way loss. ask is called for a router to resolve.
func (d *detector) expire(now time.Time, st election.Status, unicast bool, ask func(netip.Addr)) {
	master := st.State == election.Master
	for i := range d.pending {
		p := &d.pending[i]
		if !p.used || now.Sub(p.at) < confirmAfter {
			continue
		}
		p.used = false
		d.npend--
		if d.routerMAC(p.mac) || (!p.probe && !(p.asMaster && master)) {
			continue // a VRRP router (a takeover, or a split brain, seen in adverts), or we handed over
		}
		if c := d.find(conflictForeignAnswer, netip.Addr{}, p.mac, true, p.vip); c != nil {
			if d.evidence(c, now, foreignHold) {
				d.start(c, now, explainForeign(c, p.kind, p.probe))
			}
		}
	}
	if d.nactive > 0 {
		for i := range d.tab {
			c := &d.tab[i]
			switch {
			case !c.active:
			case c.kind == conflictSplitBrain && !master:
				d.end(c, now, fmt.Sprintf("we left MASTER (%s)", st.Reason))
			case c.kind == conflictOneWay && !master:
				d.end(c, now, fmt.Sprintf("we left MASTER (%s)", st.Reason))
			case c.kind == conflictSplitBrain && now.Sub(c.last) > c.hold:
				d.end(c, now, fmt.Sprintf("%v stepped down (its adverts stopped)", c.peer))
			case c.kind == conflictVRIDCollision && now.Sub(c.last) > c.hold:
				d.end(c, now, fmt.Sprintf("adverts from %v stopped", c.peer))
			case c.kind == conflictForeignAnswer && now.Sub(c.last) > c.hold:
				d.end(c, now, "no answer from it for "+c.hold.String())
			}
		}
	}
	if unicast && master {
		d.oneWay(now, st, ask)
	}
}

// oneWay looks, as a unicast Master, for a configured peer that was Master
// when last heard, did not resign, has been silent for longer than
// Master_Down_Interval, and whose host still answers ARP/ND: the wire proves
// no more than that.
func (d *detector) oneWay(now time.Time, st election.Status, ask func(netip.Addr)) {
	mdi := st.MasterDownInterval
	for i := range d.routers {
		r := &d.routers[i]
		if !r.configured || r.heard.IsZero() || r.priority == election.PriorityShutdown || now.Sub(r.heard) <= mdi {
			continue
		}
		if !r.macSeen.After(r.heard) {
			if ask != nil && (r.asked.IsZero() || now.Sub(r.asked) >= resolveEvery || r.asked.Before(r.heard)) {
				r.asked = now
				ask(r.addr)
			}
			continue
		}
		c := d.find(conflictOneWay, r.addr, r.mac, true, netip.Addr{})
		if c == nil || c.active {
			continue
		}
		c.priority = r.priority
		silent := now.Sub(r.heard).Round(time.Second)
		if d.evidence(c, now, 0) {
			d.start(c, now, fmt.Sprintf("no advert from peer %v for %v: it was MASTER (priority %d) when last heard and did not resign, and its host answers ARP/ND (%v). Either vipd stopped there without handing off, or VRRP from it is dropped on the way here (nft list ruleset on both hosts; switch ACLs). If it reports itself MASTER, adverts are lost one way and both hold the VIPs",
				c.peer, silent, c.priority, net.HardwareAddr(c.mac[:])))
		}
	}
}

func explainForeign(c *conflict, kind arp.SightingKind, probe bool) string {
	mac := net.HardwareAddr(c.mac[:])
	how := "answers for"
	switch {
	case probe:
		how = "answered our probe before takeover for"
	case kind == arp.SightingARPProbe:
		how = "probes (RFC 5227) for"
	case kind == arp.SightingDAD:
		how = "runs duplicate address detection (a duplicate address, RFC 4862 §5.4) for"
	case kind == arp.SightingNA:
		how = "sends Neighbor Advertisements for"
	}
	return fmt.Sprintf("%v, not a VRRP router of this virtual router, %s VIP %v: a host has the address configured (statically?) and clients may reach it instead of us. Remove it there (ip addr del %v ...); we stay MASTER by the RFC rules",
		mac, how, c.vip, c.vip)
}

// probed notes that a probe went out; answers within probeWindow count as
// answers to it.
func (d *detector) probed(now time.Time) { d.probedAt = now }

// reprobeDue reports whether an active foreign answer is to be checked
// again with a probe.
func (d *detector) reprobeDue(now time.Time) (netip.Addr, bool) {
	if d.nactive == 0 || now.Before(d.reprobeAt) {
		return netip.Addr{}, false
	}
	for i := range d.tab {
		if c := &d.tab[i]; c.active && c.kind == conflictForeignAnswer {
			d.reprobeAt = now.Add(reprobeEvery)
			return c.vip, true
		}
	}
	return netip.Addr{}, false
}

// watchAddrs are the addresses the watcher's filter keeps: the VIPs and
// the routers'.
func (d *detector) watchAddrs(vips []netip.Addr) []netip.Addr {
	out := slices.Clone(vips)
	for i := range d.routers {
		if a := d.routers[i].addr; a.IsValid() {
			out = append(out, a)
		}
	}
	return out
}

// status lists the table for control: active conflicts first, then by
// start.
func (d *detector) status() ([]control.Conflict, map[string]uint64) {
	out := []control.Conflict{}
	for i := range d.tab {
		c := &d.tab[i]
		if !c.used || c.events == 0 {
			continue
		}
		cc := control.Conflict{
			Kind: c.kind.String(), Active: c.active, FirstSeen: c.first, LastSeen: c.last,
			Count: c.count, Events: c.events, Explanation: c.explanation, Ended: c.ended,
			Priority: int(c.priority),
		}
		if c.peer.IsValid() {
			cc.Peer = c.peer.String()
		}
		if c.hasMAC {
			cc.MAC = net.HardwareAddr(c.mac[:]).String()
		}
		for _, v := range c.vips[:c.nvips] {
			cc.VIPs = append(cc.VIPs, v.String())
		}
		if c.vip.IsValid() {
			cc.VIPs = append(cc.VIPs, c.vip.String())
		}
		out = append(out, cc)
	}
	slices.SortStableFunc(out, func(a, b control.Conflict) int {
		if a.Active != b.Active {
			if a.Active {
				return -1
			}
			return 1
		}
		return a.FirstSeen.Compare(b.FirstSeen)
	})
	total := make(map[string]uint64, numConflictKinds)
	for k := range numConflictKinds {
		total[k.String()] = d.started[k]
	}
	return out, total
}

// addrWatcher is the interface's ARP/ND watcher, satisfied by *arp.Watcher.
type addrWatcher interface {
	Next() (arp.Sighting, error)
	SetAddresses([]netip.Addr) error
	SetHardwareAddr(net.HardwareAddr) error
	Probe(netip.Addr) error
	Resolve(target, source netip.Addr) error
	Close() error
}

// openWatcher opens the real watcher.
func openWatcher(ifi *net.Interface, family int) (addrWatcher, error) {
	return arp.Watch(ifi, family)
}

// watchReport is one sighting (or the failure) of the watcher of binding
// generation gen.
type watchReport struct {
	gen int
	s   arp.Sighting
	err error
}

// syncWatcher keeps the watcher in line with the binding, as the sockets
// are: one per binding generation (a recreated interface, a new source),
// none while unbound. It also follows the MAC and the set of routers.
func (in *instance) syncWatcher() {
	if in.os.watch == nil {
		return
	}
	if in.conn == nil || in.bind.ifi == nil {
		in.closeWatcher()
		return
	}
	if in.watchGen == in.gen {
		if in.watcher == nil {
			return // failed to open for this binding; the next one tries again
		}
		if string(in.watchMAC) != string(in.bind.ifi.HardwareAddr) {
			if err := in.watcher.SetHardwareAddr(in.bind.ifi.HardwareAddr); err == nil {
				in.watchMAC = slices.Clone(in.bind.ifi.HardwareAddr)
			}
		}
		if in.conflicts.routersChanged {
			in.refreshWatch()
		}
		return
	}
	in.closeWatcher()
	in.watchGen = in.gen
	w, err := in.os.watch(in.bind.ifi, in.cfg.Family())
	if err != nil {
		// Detection only: the election goes on without it.
		in.logErr("opening the ARP/ND watcher on "+in.cfg.Interface+" (conflict detection of foreign hosts is off)", err)
		return
	}
	in.watcher, in.watchMAC = w, slices.Clone(in.bind.ifi.HardwareAddr)
	in.refreshWatch()
	gen := in.gen
	in.spawn("arp watcher", func() {
		for {
			s, err := w.Next()
			if err != nil && (in.ctx.Err() != nil || errors.Is(err, net.ErrClosed)) {
				return
			}
			select {
			case in.sightings <- watchReport{gen: gen, s: s, err: err}:
			case <-in.ctx.Done():
				return
			}
			if err != nil {
				return
			}
		}
	})
}

// refreshWatch sets the watcher's filter to the VIPs and the routers.
func (in *instance) refreshWatch() {
	in.conflicts.routersChanged = false
	if in.watcher == nil {
		return
	}
	if err := in.watcher.SetAddresses(in.conflicts.watchAddrs(in.cfg.VIPs)); err != nil {
		in.logErr("setting the ARP/ND watcher's filter", err)
	}
}

func (in *instance) closeWatcher() {
	if in.watcher != nil {
		in.watcher.Close()
		in.watcher = nil
	}
}

// sighted handles one report of the watcher.
func (in *instance) sighted(now time.Time, r watchReport) {
	if r.gen != in.watchGen || in.watcher == nil || in.bind.ifi == nil {
		return
	}
	if r.err != nil {
		in.logErr("reading the ARP/ND watcher (conflict detection of foreign hosts is off until the interface is bound again)", r.err)
		in.closeWatcher()
		return
	}
	in.conflicts.sighting(now, r.s, in.bind.ifi.HardwareAddr, in.cfg.VIPs, in.m.Status().State == election.Master)
	in.resolveRouters(now)
	in.conflictTick(now)
}

// conflictAdvert feeds the detector from the receive path: v is the verdict,
// before the machine's status before the step (after it is read here).
func (in *instance) conflictAdvert(now time.Time, src netip.Addr, v *vrrp.Verdict, before election.Status) {
	in.conflicts.advert(now, src, v, before, in.m.Status(), &in.expect)
	if in.conflicts.routersChanged && in.conflicts.npend > 0 {
		in.resolveRouters(now)
	}
	if in.conflicts.nactive > 0 || in.conflicts.npend > 0 {
		in.conflictTick(now)
	}
}

// resolveRouters asks the routers whose MAC a waiting sighting needs.
func (in *instance) resolveRouters(now time.Time) {
	if in.watcher == nil || in.conflicts.npend == 0 {
		return
	}
	if in.conflicts.routersChanged {
		in.refreshWatch() // before asking: the answer must pass the filter
	}
	in.conflicts.toResolve(now, in.resolve)
}

func (in *instance) resolve(a netip.Addr) {
	if in.watcher == nil || !in.bind.source.IsValid() {
		return
	}
	if err := in.watcher.Resolve(a, in.bind.source); err != nil {
		in.log.Debug("resolving a router's MAC", "router", a.String(), "err", err)
	}
}

// conflictTick ends what stopped, judges what waited, looks for one-way
// loss, and probes an active foreign answer again.
func (in *instance) conflictTick(now time.Time) {
	st := in.m.Status()
	if in.watcher != nil && in.conflicts.routersChanged {
		in.refreshWatch()
	}
	in.conflicts.expire(now, st, len(in.cfg.Peers) > 0, in.resolve)
	if st.State != election.Master || in.watcher == nil {
		return
	}
	if vip, ok := in.conflicts.reprobeDue(now); ok {
		in.conflicts.probed(now)
		if err := in.watcher.Probe(vip); err != nil {
			in.log.Debug("probing "+vip.String(), "err", err)
		}
	}
}

// probeBeforeTakeover sends an RFC 5227 probe (IPv6: duplicate address
// detection) for each VIP when a Backup's deadline is due: the step that
// follows takes over. It does not wait for an answer, and an answer changes
// nothing but the report: the RFC rules decide.
func (in *instance) probeBeforeTakeover(now time.Time) {
	if in.watcher == nil || in.owner() || in.m.Status().State != election.Backup {
		return
	}
	if dl := in.m.Deadline(); dl.IsZero() || dl.After(now) {
		return
	}
	in.conflicts.probed(now)
	for _, v := range in.cfg.VIPs {
		if err := in.watcher.Probe(v); err != nil {
			in.log.Debug("probing "+v.String()+" before takeover", "err", err)
		}
	}
}
