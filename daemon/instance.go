package daemon

import (
	"context"
	"errors"
	"fmt"
	"github.com/vipd/vipd/config"
	"log/slog"
	"maps"
	"net"
	"net/netip"
	"runtime/debug"
	"slices"
	"time"

	"github.com/vipd/vipd/control"
	"github.com/vipd/vipd/election"
	"github.com/vipd/vipd/netlink"
	"github.com/vipd/vipd/vrrp"
)

// packetConn is the VRRP socket, satisfied by *vrrp.Conn.
type packetConn interface {
	Read(b []byte) (vrrp.Packet, error)
	WriteTo(payload []byte, dst netip.Addr) error
	Destinations() []netip.Addr
	Close() error
}

// announcer sends gratuitous ARP or unsolicited NA, satisfied by *arp.Announcer.
type announcer interface {
	Announce(addr netip.Addr) error
	Close() error
}

// addrTable adds and removes VIPs, satisfied by *netlink.Handle.
type addrTable interface {
	AddVIP(ifindex int, addr netip.Addr) error
	DelVIP(ifindex int, addr netip.Addr) error
	HasVIP(ifindex int, addr netip.Addr) (bool, error)
}

// linkWatcher reports link state and address changes, satisfied by *netlink.Handle.
type linkWatcher interface {
	Link(ifindex int) (netlink.LinkState, error)
	Watch(ctx context.Context, ifindex int) (<-chan netlink.Update, error)
}

// penaltySource is a running set of health checks, satisfied by *health.Tracker.
type penaltySource interface {
	Run(ctx context.Context) error
	Changes() <-chan int
	Penalty() int
	Status() []control.Check
}

// resolved is a config.Instance bound to the OS: its interface and source address.
type resolved struct {
	config.Instance
	ifi    *net.Interface
	source netip.Addr
	owner  bool // priority 255: the VIPs are the interface's own addresses
}

// instance is one running VRRP virtual router. Only its run goroutine touches it,
// except statusc, which carries status requests in.
type instance struct {
	cfg    resolved
	log    *slog.Logger
	conn   packetConn
	ann    announcer
	addrs  addrTable
	links  linkWatcher
	checks penaltySource // nil without health checks
	hooks  *hookRunner   // nil without --notify

	m      *election.Machine
	expect vrrp.Expect
	form   vrrp.ChecksumForm
	advert vrrp.Advertisement
	buf    []byte

	penalty       int
	announceLeft  int
	announceTimer *time.Timer
	refreshTimer  *time.Timer

	sent, received, mismatches, announcements uint64
	drops, forms, transitions                 map[string]uint64
	peers                                     map[netip.Addr]*control.Peer
	lastErr                                   string

	statusc chan chan control.Instance
}

func newInstance(cfg resolved, log *slog.Logger, conn packetConn, ann announcer, addrs addrTable, links linkWatcher, checks penaltySource) (*instance, error) {
	m, err := election.New(election.Config{
		Version:        cfg.Version,
		Priority:       uint8(cfg.Priority),
		AdvertInterval: cfg.AdvertInterval,
		Preempt:        cfg.Preempt,
		PreemptDelay:   cfg.PreemptDelay,
		Address:        cfg.source,
	})
	if err != nil {
		return nil, fmt.Errorf("daemon: instance %s: %w", cfg.Name, err)
	}
	form := vrrp.ChecksumPseudoHeader
	if cfg.Checksum == config.ChecksumMessageOnly && cfg.Family() == 4 {
		form = vrrp.ChecksumMessageOnly
	}
	vips := cfg.ElectionVIPs()
	in := &instance{
		cfg: cfg, log: log, conn: conn, ann: ann, addrs: addrs, links: links, checks: checks,
		m: m,
		expect: vrrp.Expect{
			Version:   cfg.Version,
			VRID:      uint8(cfg.VRID),
			Interval:  cfg.AdvertInterval,
			Addresses: vips,
			Peers:     cfg.Peers,
		},
		form: form,
		advert: vrrp.Advertisement{
			Version:   cfg.Version,
			Type:      vrrp.TypeAdvertisement,
			VRID:      uint8(cfg.VRID),
			Interval:  cfg.AdvertInterval,
			Addresses: vips,
		},
		buf:         make([]byte, 0, vrrp.MaxLen),
		drops:       map[string]uint64{},
		forms:       map[string]uint64{},
		transitions: map[string]uint64{},
		peers:       map[netip.Addr]*control.Peer{},
		statusc:     make(chan chan control.Instance),
	}
	if len(cfg.Notify) > 0 {
		in.hooks = newHookRunner(cfg.Notify, log)
	}
	return in, nil
}

// run drives the instance until ctx ends, then hands off: a priority-0 advert, then
// the VIPs removed (RFC 9568 §6.4.3, Shutdown). It returns only fatal errors.
func (in *instance) run(ctx context.Context) (err error) {
	ifindex := in.cfg.ifi.Index

	// Every goroutine started here is stopped and waited for before run returns.
	bg, stop := context.WithCancel(context.Background())
	var waits []chan struct{}
	spawn := func(f func()) {
		done := make(chan struct{})
		waits = append(waits, done)
		go func() { defer close(done); f() }()
	}
	defer func() {
		stop()
		in.conn.Close()
		for _, w := range waits {
			<-w
		}
		if in.hooks != nil {
			in.hooks.close()
		}
		in.ann.Close()
	}()
	// Runs before the cleanup above, while the socket is open.
	// A bug must not leave a VIP on the host: a panic here would end the process
	// without running any defer. Turn it into an error after the hand-off.
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("daemon: instance %s: internal error: %v", in.cfg.Name, r)
			in.log.Error("internal error; handing off and stopping", "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
			in.release()
		}
	}()

	pkts := make(chan vrrp.Packet, 64)
	readErr := make(chan error, 1)
	spawn(func() { readErr <- in.readLoop(bg, pkts) })

	var penalties <-chan int
	if in.checks != nil {
		spawn(func() { _ = in.checks.Run(bg) })
		penalties = in.checks.Changes()
	}

	updates, err := in.links.Watch(bg, ifindex)
	if err != nil {
		return fmt.Errorf("daemon: instance %s: watching %s: %w", in.cfg.Name, in.cfg.Interface, err)
	}
	ls, err := in.links.Link(ifindex)
	if err != nil {
		return fmt.Errorf("daemon: instance %s: reading link %s: %w", in.cfg.Name, in.cfg.Interface, err)
	}
	if in.checks != nil {
		in.penalty = in.checks.Penalty()
	}
	if eff := in.effectivePriority(); eff != uint8(in.cfg.Priority) {
		in.step(time.Now(), election.Event{Kind: election.EventPriority, Priority: eff})
	}
	if ls.Up {
		in.step(time.Now(), election.Event{Kind: election.EventStartup})
	} else {
		in.step(time.Now(), election.Event{Kind: election.EventLinkDown})
	}

	deadline := time.NewTimer(time.Hour)
	defer deadline.Stop()
	in.announceTimer = newStoppedTimer()
	in.refreshTimer = newStoppedTimer()
	defer in.announceTimer.Stop()
	defer in.refreshTimer.Stop()
	var resubscribe <-chan time.Time

	for {
		dl := in.m.Deadline()
		deadlineC := deadline.C
		if dl.IsZero() {
			deadline.Stop()
			deadlineC = nil
		} else {
			deadline.Reset(time.Until(dl))
		}

		select {
		case <-ctx.Done():
			in.step(time.Now(), election.Event{Kind: election.EventShutdown})
			return nil

		case p := <-pkts:
			in.receive(time.Now(), p)

		case <-deadlineC:
			in.step(time.Now(), election.Event{Kind: election.EventTimer})

		case u, ok := <-updates:
			if !ok {
				// The subscription broke (a netlink buffer overrun, say): reconcile
				// from a fresh read and subscribe again shortly.
				updates = nil
				resubscribe = time.After(time.Second)
				in.logErr("link watch ended; resubscribing", errors.New("netlink subscription closed"))
				continue
			}
			in.update(time.Now(), u)

		case <-resubscribe:
			resubscribe = nil
			if updates, err = in.links.Watch(bg, ifindex); err != nil {
				in.logErr("resubscribing to link updates", err)
				updates, resubscribe = nil, time.After(5*time.Second)
				continue
			}
			if ls, err := in.links.Link(ifindex); err == nil {
				in.update(time.Now(), netlink.Update{Kind: netlink.LinkChanged, Link: ls})
			}
			in.reconcileVIPs()

		case <-in.announceTimer.C:
			in.announceRound()

		case <-in.refreshTimer.C:
			if in.m.Status().State == election.Master {
				in.announceAll()
				in.refreshTimer.Reset(in.cfg.AnnounceRefresh)
			}

		case p := <-penalties:
			if p != in.penalty {
				in.penalty = p
				in.step(time.Now(), election.Event{Kind: election.EventPriority, Priority: in.effectivePriority()})
			}

		case reply := <-in.statusc:
			reply <- in.snapshot()

		case err := <-readErr:
			if err != nil {
				in.step(time.Now(), election.Event{Kind: election.EventShutdown})
				return fmt.Errorf("daemon: instance %s: %w", in.cfg.Name, err)
			}
		}
	}
}

// release hands off as shutdown does, and removes the VIPs whatever state the
// machine is in: the path of last resort.
func (in *instance) release() {
	defer func() { _ = recover() }()
	if in.m.Status().State == election.Master {
		in.send(0)
	}
	if !in.cfg.owner {
		for _, v := range in.cfg.VIPs {
			_ = in.addrs.DelVIP(in.cfg.ifi.Index, v)
		}
	}
}

func newStoppedTimer() *time.Timer {
	t := time.NewTimer(time.Hour)
	t.Stop()
	return t
}

// readLoop hands packets to the loop until the socket is closed.
func (in *instance) readLoop(ctx context.Context, out chan<- vrrp.Packet) error {
	for {
		buf := make([]byte, 1500)
		p, err := in.conn.Read(buf)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return nil
			}
			return fmt.Errorf("reading VRRP socket: %w", err)
		}
		select {
		case out <- p:
		case <-ctx.Done():
			return nil
		}
	}
}

// effectivePriority is the base priority lowered by failing checks, kept within
// 1–254 so that a sick router still takes over when nobody better is left. The
// address owner keeps 255: its VIPs are its own addresses.
func (in *instance) effectivePriority() uint8 {
	if in.cfg.owner {
		return election.PriorityOwner
	}
	return uint8(min(max(in.cfg.Priority-in.penalty, 1), 254))
}

// step feeds one event to the machine and carries out its actions.
func (in *instance) step(now time.Time, ev election.Event) {
	before := in.m.Status()
	acts := in.m.Step(now, ev)
	for _, a := range acts {
		in.do(a)
	}
	after := in.m.Status()
	if ev.Kind == election.EventAdvert && before.State == election.Master && after.State == election.Master &&
		slices.ContainsFunc(acts, func(a election.Action) bool { return a.Kind == election.ActSendAdvert }) {
		in.reannounce(ev)
	}
	if ev.Kind == election.EventAdvert && before.State == election.Master && after.State == election.Backup {
		in.farewell(ev, after.EffectivePriority)
	}
	if after.State != before.State {
		in.transitions[after.Reason.String()]++
		in.log.Info("state changed", "from", before.State.String(), "to", after.State.String(),
			"reason", after.Reason.String(), "priority", after.EffectivePriority,
			"master", addrString(after.Master))
		if in.hooks != nil {
			in.hooks.notify(in.cfg, before.State.String(), after)
		}
	}
}

// reannounce handles an advert that a Master answered: another Master, of
// lower rank or resigning (a healed partition, a split brain). Clients may
// have followed that router's announcements, so this one announces its VIPs
// again, with a fresh burst, unless a burst is already under way.
func (in *instance) reannounce(ev election.Event) {
	if in.announceLeft > 0 {
		return
	}
	in.log.Info("heard another master; announcing the VIPs again",
		"from", ev.From.String(), "their_priority", ev.Priority)
	in.do(election.Action{Kind: election.ActAnnounce})
}

// farewell handles a Master stepping down because of a better advert. RFC 9568
// §6.4.3 has it go silent, but after a partition heals the winner would then
// never learn that clients followed this router's announcements, and they stay
// on a host without the VIP until their ARP entries expire. One advert at our own
// priority tells the winner: it answers (as any Master hearing a lower priority
// does) and announces its VIPs again (reannounce). Other Backups treat it as
// any advert of that priority and learn the winner again from its answer.
func (in *instance) farewell(ev election.Event, priority uint8) {
	in.log.Info("stepping down; telling the new master so that it announces the VIPs", "master", ev.From.String())
	in.send(priority)
}

func (in *instance) do(a election.Action) {
	switch a.Kind {
	case election.ActSendAdvert:
		in.send(a.Priority)
	case election.ActAddVIPs:
		if in.cfg.owner {
			return
		}
		for _, v := range in.cfg.VIPs {
			if err := in.addrs.AddVIP(in.cfg.ifi.Index, v); err != nil {
				in.logErr("adding VIP "+v.String(), err)
			}
		}
	case election.ActRemoveVIPs:
		if in.cfg.owner {
			return
		}
		for _, v := range in.cfg.VIPs {
			if err := in.addrs.DelVIP(in.cfg.ifi.Index, v); err != nil {
				in.logErr("removing VIP "+v.String(), err)
			}
		}
	case election.ActAnnounce:
		in.announceLeft = in.cfg.AnnounceCount
		in.announceRound()
		if in.cfg.AnnounceRefresh > 0 {
			in.refreshTimer.Reset(in.cfg.AnnounceRefresh)
		}
	case election.ActCancelAnnounce:
		// A late burst from an ex-master points clients at a host without the VIP.
		in.announceLeft = 0
		in.announceTimer.Stop()
		in.refreshTimer.Stop()
	}
}

// send sends one advert to every destination, with the checksum each needs.
func (in *instance) send(priority uint8) {
	in.advert.Priority = priority
	for _, dst := range in.conn.Destinations() {
		b, err := in.advert.AppendBinary(in.buf[:0], in.cfg.source, dst, in.form)
		if err != nil {
			in.logErr("encoding advert", err)
			return
		}
		if err := in.conn.WriteTo(b, dst); err != nil {
			in.logErr("sending advert to "+dst.String(), err)
			continue
		}
		in.sent++
	}
}

// receive validates a packet (RFC 9568 §7.1) and feeds an accepted advert to the machine.
func (in *instance) receive(now time.Time, p vrrp.Packet) {
	if p.Src == in.cfg.source {
		return // our own, looped back
	}
	v := in.expect.Check(vrrp.Received{Payload: p.Payload, Src: p.Src, Dst: p.Dst, TTL: p.TTL})
	if v.Drop != vrrp.DropNone {
		in.drops[v.Drop.String()]++
		if v.Drop != vrrp.DropVRID {
			in.log.Debug("advert dropped", "from", p.Src.String(), "reason", v.Drop.String(), "err", v.Err)
		}
		return
	}
	in.received++
	in.forms[v.Checksum.String()]++
	peer, known := in.peers[p.Src]
	if !known {
		peer = &control.Peer{Address: p.Src.String()}
		in.peers[p.Src] = peer
	}
	if v.AddressMismatch {
		in.mismatches++
		if !known {
			in.log.Warn("peer advertises other addresses (RFC 9568 §7.1: accepted)",
				"from", p.Src.String(), "theirs", fmt.Sprint(v.Advert.Addresses), "ours", fmt.Sprint(in.advert.Addresses))
		}
	}
	peer.Priority = int(v.Advert.Priority)
	peer.LastSeen = now
	in.step(now, election.Event{Kind: election.EventAdvert, From: p.Src, Priority: v.Advert.Priority, Interval: v.Advert.Interval})
}

// update handles a link or address change.
func (in *instance) update(now time.Time, u netlink.Update) {
	state := in.m.Status().State
	switch u.Kind {
	case netlink.LinkChanged:
		if !u.Link.Up && state != election.Fault {
			in.step(now, election.Event{Kind: election.EventLinkDown})
		} else if u.Link.Up && state == election.Fault {
			in.step(now, election.Event{Kind: election.EventLinkUp})
		}
	case netlink.AddrRemoved:
		if state == election.Master && !in.cfg.owner && slices.Contains(in.cfg.VIPs, u.Addr) {
			in.log.Warn("VIP was removed from the interface while master; adding it back", "vip", u.Addr.String())
			in.restoreVIP(u.Addr)
		}
	}
}

// reconcileVIPs puts back any VIP missing while Master.
func (in *instance) reconcileVIPs() {
	if in.m.Status().State != election.Master || in.cfg.owner {
		return
	}
	for _, v := range in.cfg.VIPs {
		if ok, err := in.addrs.HasVIP(in.cfg.ifi.Index, v); err == nil && !ok {
			in.restoreVIP(v)
		}
	}
}

func (in *instance) restoreVIP(v netip.Addr) {
	if err := in.addrs.AddVIP(in.cfg.ifi.Index, v); err != nil {
		in.logErr("re-adding VIP "+v.String(), err)
		return
	}
	in.announce(v)
}

// announceRound sends one round of announcements and schedules the next.
func (in *instance) announceRound() {
	if in.announceLeft <= 0 || in.m.Status().State != election.Master {
		return
	}
	in.announceAll()
	in.announceLeft--
	if in.announceLeft > 0 {
		in.announceTimer.Reset(in.cfg.AnnounceInterval)
	}
}

func (in *instance) announceAll() {
	for _, v := range in.cfg.VIPs {
		in.announce(v)
	}
}

func (in *instance) announce(v netip.Addr) {
	if err := in.ann.Announce(v); err != nil {
		in.logErr("announcing "+v.String(), err)
		return
	}
	in.announcements++
}

func (in *instance) logErr(what string, err error) {
	in.lastErr = fmt.Sprintf("%s: %v (at %s)", what, err, time.Now().UTC().Format(time.RFC3339))
	in.log.Error(what, "err", err)
}

func addrString(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}

// status asks the instance for a snapshot; it fails if the loop doesn't answer.
func (in *instance) status(ctx context.Context) (control.Instance, error) {
	reply := make(chan control.Instance, 1)
	select {
	case in.statusc <- reply:
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
		Drops:               map[string]uint64{},
		ChecksumForms:       map[string]uint64{},
		Transitions:         map[string]uint64{},
		AddressMismatches:   in.mismatches,
		Announcements:       in.announcements,
		LastError:           in.lastErr,
		VIPs:                make([]string, 0, len(in.cfg.VIPs)),
		VIPsPresent:         []string{},
		Peers:               []control.Peer{},
		Checks:              []control.Check{},
	}
	for _, v := range in.cfg.VIPs {
		st.VIPs = append(st.VIPs, v.String())
		// Checked live, so that status shows what the kernel has, not what vipd meant.
		if ok, err := in.addrs.HasVIP(in.cfg.ifi.Index, v); err == nil && ok {
			st.VIPsPresent = append(st.VIPsPresent, v.String())
		}
	}
	for _, r := range vrrp.DropReasons() {
		if r != vrrp.DropNone {
			st.Drops[r.String()] = in.drops[r.String()]
		}
	}
	for k, v := range in.forms {
		st.ChecksumForms[k] = v
	}
	for k, v := range in.transitions {
		st.Transitions[k] = v
	}
	for _, a := range slices.SortedFunc(maps.Keys(in.peers), netip.Addr.Compare) {
		st.Peers = append(st.Peers, *in.peers[a])
	}
	if in.checks != nil {
		st.Checks = in.checks.Status()
	}
	return st
}
