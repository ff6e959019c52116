package election

import (
	"container/heap"
	"flag"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

var (
	simSeed = flag.Uint64("seed", 0, "replay one simulation seed and print its trace")
	simRuns = flag.Int("runs", 10000, "number of seeded simulation runs")
)

// TestSimulation runs Machines on a simulated LAN: a fake clock, a seeded
// random source, and a network that loses, delays, duplicates and reorders
// adverts, partitions and heals, while routers crash, restart, shut down,
// lose their interface (link down, interface deleted, no source address),
// change priority, fail to add or remove their VIPs and fail to send
// announcements. Each run alternates chaos with quiet periods (no loss, no
// faults, fixed latency). A quiet period has two stages. In the first the
// OS failures go on; it checks that, with Preempt_Mode, a Master whose add
// keeps failing does not stay Master for longer than the retry backoff cap
// plus Master_Down_Interval (and PreemptDelay) while a healthy router of
// priority above 1 is in its group. In the second the OS is healed too, and
// once the LAN must have converged it checks:
//
//   - exactly one Master in each connected group of running routers;
//   - with Preempt_Mode, that Master has the highest effective priority of
//     its group (among equals any may win: RFC 9568 §6.4.2 has a Backup
//     accept an advert of equal priority, so a router that restarts does not
//     take over from an equal one of lower address); without it, an owner
//     in the group is the Master;
//   - no add penalty or pending remove is left, and only Masters hold VIPs;
//   - nothing changes during a further quiet stretch.
//
// After every step it checks that a Master that heard a better advert is no
// longer Master and sent its farewell after giving the VIPs up; that one
// that answered a lower or resigning advert restarted the announcements
// unless a burst was under way; that ActAnnounce comes only in Master, with
// the VIPs, and never after the router's own priority 0 advert; that only a
// Master holds the VIPs, except while a remove is being retried; that the
// effective priority is the checks' or PriorityAddFailed; that Fault shows
// the cause last reported; and that deadlines and reasons are consistent. A
// failure prints the seed and a trace;
// go test ./election/ -run TestSimulation -seed N -v replays one.
func TestSimulation(t *testing.T) {
	if *simSeed != 0 {
		s := runSim(*simSeed, true)
		t.Logf("seed %d: %s\n%s", *simSeed, s.summary(), s.trace.String())
		if s.err != nil {
			t.Fatalf("seed %d: %v", *simSeed, s.err)
		}
		return
	}
	start := time.Now()
	var (
		next       atomic.Uint64
		steps      atomic.Int64
		simulated  atomic.Int64
		mu         sync.Mutex
		failed     []uint64
		wg         sync.WaitGroup
		runs       = uint64(*simRuns)
		workers    = runtime.GOMAXPROCS(0)
		maxFailing = 10
	)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				seed := next.Add(1)
				if seed > runs {
					return
				}
				s := runSim(seed, false)
				steps.Add(int64(s.steps))
				simulated.Add(int64(s.now.Sub(s.start)))
				if s.err != nil {
					mu.Lock()
					if len(failed) < maxFailing {
						failed = append(failed, seed)
					}
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	t.Logf("%d runs, %d steps, %v simulated, in %v", runs, steps.Load(),
		time.Duration(simulated.Load()).Round(time.Second), time.Since(start).Round(time.Millisecond))
	if len(failed) == 0 {
		return
	}
	slices.Sort(failed)
	s := runSim(failed[0], true) // deterministic: the same run, traced
	t.Fatalf("failing seeds (first %d): %v\nseed %d: %s: %v\nreplay: go test ./election/ -run TestSimulation -seed %d -v\n%s",
		maxFailing, failed, failed[0], s.summary(), s.err, failed[0], s.lastTrace(200))
}

type simNode struct {
	id    int
	addr  netip.Addr
	cfg   Config
	m     *Machine   // nil while crashed
	fault FaultCause // the interface, as the OS has it; FaultNone is usable
	seg   int        // partition segment; nodes hear each other within one
	prio  uint8      // priority the checks leave, as last delivered

	// The OS: whether adds and removes fail, and how often a round of
	// announcements does.
	addBroken, removeBroken bool
	announceFlaky           float64

	maint bool // maintenance mode, as last delivered
	// confirmFails makes its confirmations (ActConfirm) fail: its own
	// checks would not pass a fresh probe.
	confirmFails bool
	answered     time.Time // when it last answered a lower Master as Master
	vips         bool      // some VIP is on the interface
	resigned     bool      // sent a priority 0 advert since it last added the VIPs
	deadline     time.Time // m.Deadline() as last seen
	timerAt      time.Time // when EventTimer is delivered: deadline plus lateness
	// failingSince is when the node became Master with a failing add;
	// zero when it is not.
	failingSince time.Time
}

func (n *simNode) usable() bool { return n.fault == FaultNone }

// linkWorks reports whether the node's link carries adverts: a fault check
// that is down leaves it working.
func (n *simNode) linkWorks() bool { return n.fault == FaultNone || n.fault == FaultCheck }

type simPacket struct {
	at       time.Time
	seq      uint64
	from, to int
	prio     uint8
	interval time.Duration
	holds    bool // the sender held the VIPs when it sent this
	// farewell marks the advert of a Master stepping down: it does not
	// come from a Master, and a router in Handoff cannot tell it from one
	// that does (see the make-before-break check).
	farewell bool
}

type packetQueue []simPacket

func (q packetQueue) Len() int { return len(q) }
func (q packetQueue) Less(i, j int) bool {
	if !q[i].at.Equal(q[j].at) {
		return q[i].at.Before(q[j].at)
	}
	return q[i].seq < q[j].seq
}
func (q packetQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *packetQueue) Push(x any)   { *q = append(*q, x.(simPacket)) }
func (q *packetQueue) Pop() any {
	old := *q
	p := old[len(old)-1]
	*q = old[:len(old)-1]
	return p
}

type sim struct {
	seed       uint64
	rng        *rand.Rand
	start, now time.Time
	nodes      []*simNode
	queue      packetQueue
	seq        uint64
	// lastPacket is the advert being delivered, for the make-before-break check.
	lastPacket simPacket

	version          int
	interval         time.Duration
	preempt          bool
	preemptDelay     time.Duration
	latency          time.Duration // fixed part of every delivery
	loss, dup        float64
	jitter           time.Duration // random extra delay, up to
	lateness         time.Duration // timer delivery lateness, up to
	chaosMaxJitter   time.Duration
	backoffMax       time.Duration // Config.RetryBackoffMax
	steps, converges int

	tracing bool
	trace   strings.Builder
	err     error
}

func runSim(seed uint64, tracing bool) *sim {
	s := &sim{
		seed:    seed,
		rng:     rand.New(rand.NewPCG(seed, 0x9568)),
		start:   time.Date(2024, 4, 1, 0, 0, 0, 0, time.UTC),
		tracing: tracing,
	}
	s.now = s.start
	s.setup()
	s.run()
	return s
}

func (s *sim) setup() {
	r := s.rng
	n := 2 + r.IntN(6)
	s.version = 3
	if r.IntN(5) == 0 {
		s.version = 2
	}
	if s.version == 2 {
		s.interval = []time.Duration{time.Second, 2 * time.Second}[r.IntN(2)]
	} else {
		s.interval = []time.Duration{50 * time.Millisecond, 100 * time.Millisecond, 330 * time.Millisecond,
			time.Second, 2500 * time.Millisecond}[r.IntN(5)]
	}
	s.preempt = r.IntN(4) != 0
	if s.preempt && r.IntN(3) == 0 {
		s.preemptDelay = []time.Duration{s.interval, 3 * s.interval, 11 * s.interval / 2}[r.IntN(3)]
	}
	s.latency = s.interval / 50
	s.lateness = s.interval / 20
	s.chaosMaxJitter = s.interval

	// Announcements and retries, scaled to the advert interval so that a
	// run sees the whole schedule: bursts, refreshes and backoff caps.
	announceCount := 1 + r.IntN(5)
	announceInterval := []time.Duration{s.interval / 3, s.interval, 2 * s.interval}[r.IntN(3)]
	var refresh time.Duration
	if r.IntN(3) == 0 {
		refresh = 3 * s.interval
	}
	backoff := []time.Duration{s.interval / 2, s.interval}[r.IntN(2)]
	s.backoffMax = []time.Duration{2 * s.interval, 4 * s.interval}[r.IntN(2)]

	// Priorities: sometimes from a small pool, so that ties are common;
	// sometimes an owner or two.
	pool := []uint8{uint8(1 + r.IntN(254)), uint8(1 + r.IntN(254)), uint8(1 + r.IntN(254))}
	v6 := s.version == 3 && r.IntN(3) == 0
	hosts := r.Perm(250)
	owners := 0
	for i := range n {
		prio := uint8(1 + r.IntN(254))
		if r.IntN(2) == 0 {
			prio = pool[r.IntN(len(pool))]
		}
		if owners < 2 && r.IntN(12) == 0 {
			prio, owners = PriorityOwner, owners+1
		}
		addr := netip.AddrFrom4([4]byte{198, 18, 0, byte(hosts[i] + 1)})
		if v6 {
			addr = netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 15: byte(hosts[i] + 1)})
		}
		cfg := Config{
			Version:          s.version,
			Priority:         prio,
			AdvertInterval:   s.interval,
			Preempt:          s.preempt,
			PreemptDelay:     s.preemptDelay,
			Address:          addr,
			AnnounceCount:    announceCount,
			AnnounceInterval: announceInterval,
			AnnounceRefresh:  refresh,
			RetryBackoff:     backoff,
			RetryBackoffMax:  s.backoffMax,
			ConfirmPreempt:   s.rng.IntN(2) == 0,
			AlignAdverts:     s.rng.IntN(2) == 0,
		}
		s.nodes = append(s.nodes, &simNode{id: i, addr: addr, cfg: cfg})
	}
}

func (s *sim) summary() string {
	var b strings.Builder
	c := s.nodes[0].cfg
	fmt.Fprintf(&b, "v%d interval=%v preempt=%v delay=%v announce=%dx%v refresh=%v backoff=%v..%v routers:",
		s.version, s.interval, s.preempt, s.preemptDelay, c.AnnounceCount, c.AnnounceInterval, c.AnnounceRefresh,
		c.RetryBackoff, c.RetryBackoffMax)
	for _, n := range s.nodes {
		fmt.Fprintf(&b, " r%d=%v/%d", n.id, n.addr, n.cfg.Priority)
	}
	return b.String()
}

func (s *sim) lastTrace(lines int) string {
	all := strings.Split(strings.TrimRight(s.trace.String(), "\n"), "\n")
	if len(all) > lines {
		all = append([]string{fmt.Sprintf("... (%d earlier lines)", len(all)-lines)}, all[len(all)-lines:]...)
	}
	return strings.Join(all, "\n")
}

func (s *sim) tracef(format string, args ...any) {
	if s.tracing {
		fmt.Fprintf(&s.trace, "%10.4fs ", s.now.Sub(s.start).Seconds())
		fmt.Fprintf(&s.trace, format, args...)
		s.trace.WriteByte('\n')
	}
}

func (s *sim) failf(format string, args ...any) {
	if s.err == nil {
		s.err = fmt.Errorf("t=%v: %s", s.now.Sub(s.start), fmt.Sprintf(format, args...))
		s.tracef("FAIL: %v", s.err)
	}
}

// quietPeriod bounds convergence after the last disturbance: packets still
// in flight, PreemptDelay, a Master_Down_Interval (at most four intervals)
// to notice a silent or lower Master, and intervals for the new Master's
// advert to reach everyone; plus a backoff cap for the last add penalty to
// end, or a remove to be retried, and a Master_Down_Interval after that.
// It is well over Master_Down_Interval plus one Advertisement_Interval.
func (s *sim) quietPeriod() time.Duration {
	return s.chaosMaxJitter + s.preemptDelay + 2*4*s.interval + 3*s.interval + s.backoffMax + 4*s.interval
}

// failingBound is how long, with Preempt_Mode, a Master whose add keeps
// failing may stay Master in a quiet LAN with a healthy router in its
// group: a healthy router's own penalty, if any, ends within the backoff
// cap; it discards the Master's adverts of PriorityAddFailed after
// PreemptDelay and takes over when its Master_Down_Timer (at most four
// intervals) fires; plus two intervals of slack for timer lateness and
// delivery.
func (s *sim) failingBound() time.Duration {
	return s.backoffMax + s.preemptDelay + 4*s.interval + 2*s.interval
}

func (s *sim) run() {
	r := s.rng
	// Start everyone within two intervals, some with the link down.
	for _, i := range r.Perm(len(s.nodes)) {
		s.runUntil(s.now.Add(time.Duration(r.Int64N(int64(2 * s.interval)))))
		n := s.nodes[i]
		if r.IntN(8) == 0 {
			n.fault = s.randomCause()
		}
		s.boot(n)
	}
	s.quiet()
	for round := 0; round < 3 && s.err == nil; round++ {
		s.chaos()
		s.quiet()
	}
}

// runUntil delivers packets and timers in time order up to t.
func (s *sim) runUntil(t time.Time) {
	for s.err == nil {
		at, node := time.Time{}, -1
		if len(s.queue) > 0 {
			at = s.queue[0].at
		}
		for _, n := range s.nodes {
			if n.m != nil && !n.timerAt.IsZero() && (at.IsZero() || n.timerAt.Before(at)) {
				at, node = n.timerAt, n.id
			}
		}
		if at.IsZero() || at.After(t) {
			break
		}
		s.now = at
		if node >= 0 {
			s.deliver(s.nodes[node], Event{Kind: EventTimer})
			continue
		}
		p := heap.Pop(&s.queue).(simPacket)
		to, from := s.nodes[p.to], s.nodes[p.from]
		if to.m == nil || !to.usable() || to.seg != from.seg {
			continue
		}
		s.lastPacket = p
		s.deliver(to, Event{Kind: EventAdvert, From: from.addr, Priority: p.prio, Interval: p.interval})
	}
	if t.After(s.now) {
		s.now = t
	}
}

func (s *sim) send(from *simNode, prio uint8, farewell bool) {
	if !from.linkWorks() {
		s.failf("r%d sent an advert with its interface down (%v)", from.id, from.fault)
		return
	}
	for _, to := range s.nodes {
		if to == from || to.seg != from.seg {
			continue
		}
		copies := 1
		if s.rng.Float64() < s.dup {
			copies = 2
		}
		for range copies {
			if s.rng.Float64() < s.loss {
				continue
			}
			d := s.latency
			if s.jitter > 0 {
				d += time.Duration(s.rng.Int64N(int64(s.jitter)))
			}
			s.seq++
			heap.Push(&s.queue, simPacket{at: s.now.Add(d), seq: s.seq, from: from.id, to: to.id,
				prio: prio, interval: from.cfg.AdvertInterval, holds: from.vips, farewell: farewell})
		}
	}
}

// deliver feeds one event to a node, then the outcomes the OS reports for
// the actions it returned (add-ok, announce-failed...), and checks that
// the node holds the VIPs only when it should.
func (s *sim) deliver(n *simNode, ev Event) {
	queue := []Event{ev}
	for len(queue) > 0 && n.m != nil && s.err == nil {
		ev := queue[0]
		queue = append(queue[1:], s.step(n, ev)...)
	}
	if n.m == nil || s.err != nil {
		return
	}
	// Only a Master holds the VIPs, or one handing off (make before
	// break), but for one that failed to remove them and retries.
	st := n.m.Status()
	if st.State == Master && !n.vips {
		s.failf("r%d: Master without its VIPs", n.id)
	}
	if st.State != Master && st.State != Handoff && n.vips && !st.RemovePending {
		s.failf("r%d in %v holds VIPs with no remove pending", n.id, st.State)
	}
}

// step feeds one event to a node, carries out the actions, checks the
// per-step invariants and returns the outcomes to report.
func (s *sim) step(n *simNode, ev Event) []Event {
	s.steps++
	if ev.Kind == EventPriority {
		n.prio = max(ev.Priority, 1)
	}
	owner := n.cfg.Priority == PriorityOwner // the daemon skips its adds and removes
	before := n.m.Status()
	acts := n.m.Step(s.now, ev)
	after := n.m.Status()
	var outcomes []Event
	for _, a := range acts {
		switch a.Kind {
		case ActSendAdvert:
			// A farewell (and its repeat) is the only advert a Backup sends.
			s.send(n, a.Priority, a.Priority != PriorityShutdown && after.State == Backup)
			if a.Priority == PriorityShutdown {
				n.resigned = true
			}
		case ActAddVIPs:
			n.vips, n.resigned = true, false // with a broken add, some of them
			switch {
			case owner:
			case n.addBroken:
				outcomes = append(outcomes, Event{Kind: EventAddFailed})
			default:
				outcomes = append(outcomes, Event{Kind: EventAddOK})
			}
		case ActRemoveVIPs:
			switch {
			case owner:
				n.vips = false
			case n.removeBroken && n.vips:
				outcomes = append(outcomes, Event{Kind: EventRemoveFailed})
			default:
				n.vips = false
				outcomes = append(outcomes, Event{Kind: EventRemoveOK})
			}
		case ActConfirm:
			// The router's own checks: mostly still passing.
			if !n.cfg.ConfirmPreempt || after.State != Backup {
				s.failf("r%d: confirm in %v (confirm-preempt %v)", n.id, after.State, n.cfg.ConfirmPreempt)
			}
			outcomes = append(outcomes, Event{Kind: EventConfirmed, On: !n.confirmFails})
		case ActAnnounce:
			if after.State != Master || !n.vips || n.resigned {
				s.failf("r%d: announce in %v with vips=%v resigned=%v", n.id, after.State, n.vips, n.resigned)
			}
			if s.rng.Float64() < n.announceFlaky {
				outcomes = append(outcomes, Event{Kind: EventAnnounceFailed})
			}
		default:
			s.failf("r%d: unknown action %v", n.id, a)
		}
	}
	if s.tracing {
		change := ""
		if before.State != after.State {
			change = fmt.Sprintf(" %v->%v (%v)", before.State, after.State, after.Reason)
		}
		fmt.Fprintf(&s.trace, "%10.4fs r%d %-7v %-44v%s %v\n", s.now.Sub(s.start).Seconds(), n.id,
			before.State, ev, change, acts)
	}

	if before.State == Handoff && after.State == Handoff {
		// Handing off is silent: no advert, no announcement, no add.
		if len(acts) > 0 {
			s.failf("r%d in HANDOFF did %v on %v", n.id, acts, ev)
		}
		// At most Master_Down_Interval, which is under 4 intervals.
		if d := n.m.Deadline(); d.IsZero() || d.After(before.Since.Add(4*n.cfg.AdvertInterval)) {
			s.failf("r%d: HANDOFF since %v runs to %v, past Master_Down_Interval", n.id, before.Since.Sub(s.start), d.Sub(s.start))
		}
	}
	if before.State == Handoff && after.State != Handoff && ev.Kind == EventAdvert && !s.lastPacket.holds && !s.lastPacket.farewell {
		// Make before break: the advert that ends a hand-off comes from a
		// router that already holds (and announced) the VIPs. (A farewell,
		// from a split brain healing during the hand-off, also ends it:
		// the router that stepped down takes over again after
		// Master_Down_Interval. On the wire the two are the same.)
		s.failf("r%d ended its hand-off on an advert from r%d, which did not hold the VIPs", n.id, s.lastPacket.from)
	}
	if ev.Kind == EventAdvert && before.State == Master && ev.From != n.addr {
		better := ev.Priority != 0 && (ev.Priority > before.EffectivePriority ||
			ev.Priority == before.EffectivePriority && ev.From.Compare(n.addr) > 0)
		switch {
		case better && after.State == Master:
			// RFC 9568 §6.4.3: a Master that hears a better advert steps down.
			s.failf("r%d stayed Master after %v (priority %d)", n.id, ev, before.EffectivePriority)
		case better:
			// ... and says farewell after giving the VIPs up.
			want := []Action{{Kind: ActRemoveVIPs}, {Kind: ActSendAdvert, Priority: before.EffectivePriority}, {Kind: ActSendAdvert, Priority: before.EffectivePriority}}
			if !slices.Equal(acts, want) {
				s.failf("r%d stepped down with %v, want %v", n.id, acts, want)
			}
		default:
			// A lower or resigning Master is answered at once, and the
			// VIPs announced again unless a burst is under way.
			// At most once per Skew_Time, though: a flood of forged lower
			// adverts is not answered one for one.
			want := []Action{{Kind: ActSendAdvert, Priority: before.EffectivePriority}}
			if before.AnnounceRoundsLeft == 0 {
				want = append(want, Action{Kind: ActAnnounce})
			}
			limited := ev.Priority != PriorityShutdown && !n.answered.IsZero() && s.now.Sub(n.answered) < before.SkewTime
			switch {
			case limited && len(acts) == 0:
			case !slices.Equal(acts, want):
				s.failf("r%d answered %v with %v, want %v", n.id, ev, acts, want)
			default:
				n.answered = s.now
			}
		}
	}
	if after.State != Master || before.State != Master {
		n.answered = time.Time{} // the machine's limit starts afresh with each stay
	}
	// Transitions record a reason and the time; others leave them alone,
	// but for a Fault whose cause changed.
	if before.State != after.State {
		if !after.Since.Equal(s.now) || after.Reason == ReasonNone {
			s.failf("r%d: transition to %v recorded since=%v reason=%v", n.id, after.State, after.Since, after.Reason)
		}
	} else if !after.Since.Equal(before.Since) ||
		after.Reason != before.Reason && (after.State != Fault || ev.Kind != EventFault && ev.Kind != EventLinkDown) {
		s.failf("r%d: reason/since changed without a transition", n.id)
	}
	// The interface condition as the OS has it; Fault says which.
	if after.Fault != n.fault {
		s.failf("r%d: fault %v, the OS has %v", n.id, after.Fault, n.fault)
	}
	if after.State == Fault && after.Reason != n.fault.Reason() {
		s.failf("r%d: in FAULT for %v, the OS has %v", n.id, after.Reason, n.fault)
	}
	if (after.State == Backup || after.State == Master) && !n.usable() {
		s.failf("r%d: %v with interface %v", n.id, after.State, n.fault)
	}
	// The effective priority is the checks', or PriorityAddFailed, or
	// PriorityMaintenance for a non-owner in maintenance.
	want := n.prio
	switch {
	case after.AddFailing:
		want = PriorityAddFailed
	case n.maint && !owner:
		want = PriorityMaintenance
	}
	if after.CheckPriority != n.prio || after.EffectivePriority != want {
		s.failf("r%d: priority checks=%d effective=%d add-failing=%v, delivered %d",
			n.id, after.CheckPriority, after.EffectivePriority, after.AddFailing, n.prio)
	}
	if after.State == Master && after.Master != n.addr {
		s.failf("r%d: Master reports master=%v", n.id, after.Master)
	}
	// A timer runs always in Backup and Master, and elsewhere only to end
	// an add penalty or retry a remove; a delivered timer leaves one in the
	// future.
	d := n.m.Deadline()
	running := after.State == Backup || after.State == Master || after.State == Handoff
	if running && d.IsZero() || !running && !d.IsZero() && !after.RemovePending && !after.AddFailing {
		s.failf("r%d: %v with deadline %v (remove pending %v, add failing %v)", n.id, after.State, d,
			after.RemovePending, after.AddFailing)
	}
	if ev.Kind == EventTimer && !d.IsZero() && !d.After(s.now) {
		s.failf("r%d: deadline %v not after the timer that fired", n.id, d.Sub(s.start))
	}
	if !d.Equal(n.deadline) {
		n.deadline, n.timerAt = d, d
		if !d.IsZero() && s.lateness > 0 {
			n.timerAt = d.Add(time.Duration(s.rng.Int64N(int64(s.lateness))))
		}
	}
	if failing := after.State == Master && after.AddFailing; !failing {
		n.failingSince = time.Time{}
	} else if n.failingSince.IsZero() {
		n.failingSince = s.now
	}
	return outcomes
}

// crash ends a router process: its Machine and, with the daemon's start-up
// sweep, its VIPs are gone.
func (s *sim) crash(n *simNode) {
	s.tracef("r%d crashes", n.id)
	n.m, n.vips, n.resigned, n.deadline, n.timerAt, n.failingSince = nil, false, false, time.Time{}, time.Time{}, time.Time{}
}

// boot starts a router process: a new Machine, the interface condition,
// Startup.
func (s *sim) boot(n *simNode) {
	m, err := New(n.cfg)
	if err != nil {
		s.failf("r%d: %v", n.id, err)
		return
	}
	n.m, n.vips, n.resigned, n.deadline, n.timerAt, n.failingSince, n.maint = m, false, false, time.Time{}, time.Time{}, time.Time{}, false
	n.prio = n.cfg.Priority
	s.tracef("r%d boots (interface %v)", n.id, n.fault)
	if !n.usable() {
		// The daemon reports the fault, then starts the router in Fault.
		s.deliver(n, s.faultEvent(n.fault))
	}
	s.deliver(n, Event{Kind: EventStartup})
}

func (s *sim) randomCause() FaultCause {
	return []FaultCause{FaultLinkDown, FaultInterfaceMissing, FaultNoSourceAddress, FaultCheck}[s.rng.IntN(4)]
}

// faultEvent reports c, sometimes with the EventLinkDown shorthand.
func (s *sim) faultEvent(c FaultCause) Event {
	if c == FaultLinkDown && s.rng.IntN(2) == 0 {
		return Event{Kind: EventLinkDown}
	}
	return Event{Kind: EventFault, Cause: c}
}

func (s *sim) chaos() {
	r := s.rng
	s.loss = []float64{0, 0.05, 0.3}[r.IntN(3)]
	s.dup = []float64{0, 0.1}[r.IntN(2)]
	s.jitter = time.Duration(r.Int64N(int64(s.chaosMaxJitter)))
	s.tracef("chaos: loss=%v dup=%v jitter=%v", s.loss, s.dup, s.jitter)
	end := s.now.Add(time.Duration(3+r.IntN(13)) * s.interval)
	for s.now.Before(end) && s.err == nil {
		s.runUntil(s.now.Add(time.Duration(r.Int64N(int64(3 * s.interval / 2)))))
		s.disturb()
	}
	if r.IntN(2) == 0 {
		// Bring everything back, to watch the whole LAN converge.
		s.tracef("recover all")
		for _, n := range s.nodes {
			n.seg = 0
			if !n.usable() {
				n.fault = FaultNone
				if n.m != nil {
					s.deliver(n, Event{Kind: EventLinkUp})
				}
			}
			if n.m == nil {
				s.boot(n)
			} else if n.m.Status().State == Initialize {
				s.deliver(n, Event{Kind: EventStartup})
			}
		}
	}
}

// disturb applies one random fault.
func (s *sim) disturb() {
	r := s.rng
	n := s.nodes[r.IntN(len(s.nodes))]
	switch op := r.IntN(16); op {
	case 0: // crash: the process and its addresses are gone
		if n.m != nil {
			s.crash(n)
		}
	case 1: // restart
		if n.m == nil {
			s.boot(n)
		}
	case 2: // graceful shutdown, or start after one
		if n.m != nil {
			if n.m.Status().State == Initialize {
				s.deliver(n, Event{Kind: EventStartup})
			} else {
				s.deliver(n, Event{Kind: EventShutdown})
			}
		}
	case 3, 4: // the interface: link, existence, source address
		switch {
		case n.usable():
			n.fault = s.randomCause()
		case r.IntN(3) == 0:
			n.fault = s.randomCause() // another cause, or the same again
		default:
			n.fault = FaultNone
		}
		s.tracef("r%d interface %v", n.id, n.fault)
		if n.m != nil {
			ev := Event{Kind: EventLinkUp}
			if !n.usable() {
				ev = s.faultEvent(n.fault)
			}
			s.deliver(n, ev)
		}
	case 5: // partition
		k := 2 + r.IntN(2)
		for _, m := range s.nodes {
			m.seg = r.IntN(k)
		}
		s.tracef("partition: %v", s.segments())
	case 6: // heal
		for _, m := range s.nodes {
			m.seg = 0
		}
		s.tracef("heal")
	case 7, 8: // runtime priority change (health checks), owners excepted
		if n.m != nil && n.cfg.Priority != PriorityOwner {
			p := uint8(1 + r.IntN(254))
			if r.IntN(3) == 0 {
				p = n.cfg.Priority
			}
			s.deliver(n, Event{Kind: EventPriority, Priority: p})
		}
	case 9: // network weather
		s.loss = []float64{0, 0.05, 0.3, 0.9}[r.IntN(4)]
		s.jitter = time.Duration(r.Int64N(int64(s.chaosMaxJitter)))
		s.tracef("network: loss=%v jitter=%v", s.loss, s.jitter)
	case 10: // the OS: adds or removes start or stop failing (never the owner's: they are skipped)
		if n.cfg.Priority != PriorityOwner {
			if r.IntN(2) == 0 {
				n.addBroken = !n.addBroken
			} else {
				n.removeBroken = !n.removeBroken
			}
			s.tracef("r%d add broken=%v remove broken=%v", n.id, n.addBroken, n.removeBroken)
		}
	case 11: // announcements fail now and then, or often
		n.announceFlaky = []float64{0, 0.3, 0.9}[r.IntN(3)]
		s.tracef("r%d announcements fail %v", n.id, n.announceFlaky)
	case 12: // someone deletes a VIP from the Master
		if n.m != nil && n.m.Status().State == Master {
			s.tracef("r%d loses a VIP", n.id)
			n.vips = false
			s.deliver(n, Event{Kind: EventVIPsMissing})
		}
	case 13: // vipctl resign
		if n.m != nil {
			s.deliver(n, Event{Kind: EventResign})
		}
	case 15: // the router's own checks would fail a fresh probe, or pass again
		n.confirmFails = !n.confirmFails
		s.tracef("r%d confirmations fail %v", n.id, n.confirmFails)
	case 14: // vipctl maintenance on/off
		if n.m != nil {
			n.maint = !n.maint
			s.tracef("r%d maintenance %v", n.id, n.maint)
			s.deliver(n, Event{Kind: EventMaintenance, On: n.maint})
		}
	}
}

func (s *sim) segments() string {
	var b strings.Builder
	for _, n := range s.nodes {
		fmt.Fprintf(&b, " r%d:%d", n.id, n.seg)
	}
	return b.String()
}

// quiet runs a clean network with no faults: first with the OS failures
// left as they are, checking that a Master that cannot hold its VIPs gives
// way to a healthy router; then with the OS healed too, until the LAN must
// have converged. It checks the election, then runs on and checks that
// nothing moves.
func (s *sim) quiet() {
	if s.err != nil {
		return
	}
	s.loss, s.dup, s.jitter = 0, 0, 0
	for _, n := range s.nodes {
		n.confirmFails = false // a healthy router's checks pass
	}
	s.checkFailingMasters()
	if s.err != nil {
		return
	}
	for _, n := range s.nodes {
		n.addBroken, n.removeBroken, n.announceFlaky = false, false, 0
	}
	s.tracef("quiet, OS healed, for %v", s.quietPeriod())
	s.runUntil(s.now.Add(s.quietPeriod()))
	if s.err != nil {
		return
	}
	s.checkConverged()
	if s.err != nil {
		return
	}
	snapshot := make([]Status, len(s.nodes))
	for i, n := range s.nodes {
		if n.m != nil {
			snapshot[i] = n.m.Status()
		}
	}
	// RFC 9568 §6.4.1: a router that restarts listens first; unless it
	// is to preempt, it must not disturb the Master.
	restarted := s.restartQuietly()
	s.runUntil(s.now.Add(8 * s.interval))
	if restarted != nil {
		if st := restarted.m.Status(); st.State != Backup {
			s.failf("restarted r%d is %v, want BACKUP", restarted.id, st.State)
		}
	}
	for i, n := range s.nodes {
		if n.m == nil || n == restarted {
			continue
		}
		if st := n.m.Status(); st.State != snapshot[i].State || !st.Since.Equal(snapshot[i].Since) {
			s.failf("r%d moved in a quiet LAN: %v since %v -> %v since %v", n.id,
				snapshot[i].State, snapshot[i].Since.Sub(s.start), st.State, st.Since.Sub(s.start))
		}
	}
	s.converges++
}

// checkFailingMasters runs a quiet network with the OS failures left as
// they are for failingBound and a little more, and checks that with
// Preempt_Mode no Master whose add keeps failing stayed Master for longer
// than failingBound while a healthy router (adds work, effective priority
// above PriorityAddFailed) was running in its segment.
func (s *sim) checkFailingMasters() {
	start := s.now
	s.tracef("quiet, OS failures on, for %v", s.failingBound()+2*s.interval)
	s.runUntil(s.now.Add(s.failingBound() + 2*s.interval))
	if s.err != nil || !s.preempt {
		return
	}
	for _, n := range s.nodes {
		if n.m == nil || n.failingSince.IsZero() {
			continue
		}
		since := n.failingSince
		if since.Before(start) {
			since = start
		}
		if s.now.Sub(since) <= s.failingBound() {
			continue
		}
		for _, h := range s.nodes {
			if h == n || h.m == nil || h.addBroken || !h.usable() || h.seg != n.seg {
				continue
			}
			if st := h.m.Status(); st.State == Backup && st.EffectivePriority > PriorityAddFailed {
				s.failf("r%d has been Master with a failing add since %v; healthy r%d (priority %d) is Backup",
					n.id, n.failingSince.Sub(s.start), h.id, h.prio)
				return
			}
		}
	}
}

// restartQuietly crashes and boots a Backup that should not take over:
// not an owner, and without Preempt_Mode or with a priority no higher than
// its Master's. It returns the node, or nil if there is none to pick.
func (s *sim) restartQuietly() *simNode {
	if s.rng.IntN(2) == 0 {
		return nil
	}
	var masterPrio [8]int // by segment
	for _, n := range s.nodes {
		if st := n.m; st != nil && st.Status().State == Master {
			masterPrio[n.seg] = int(st.Status().EffectivePriority)
		}
	}
	var pick []*simNode
	for _, n := range s.nodes {
		if n.m != nil && n.m.Status().State == Backup && n.cfg.Priority != PriorityOwner &&
			masterPrio[n.seg] > 0 && (!s.preempt || int(n.cfg.Priority) <= masterPrio[n.seg]) {
			pick = append(pick, n)
		}
	}
	if len(pick) == 0 {
		return nil
	}
	n := pick[s.rng.IntN(len(pick))]
	s.tracef("r%d restarts in a quiet LAN", n.id)
	s.crash(n)
	s.boot(n)
	return n
}

func (s *sim) checkConverged() {
	groups := map[int][]*simNode{}
	for _, n := range s.nodes {
		if n.m == nil {
			continue
		}
		st := n.m.Status()
		if st.State == Fault && n.usable() {
			s.failf("r%d in FAULT with its interface usable", n.id)
		}
		// The OS is healed: every pending remove is over, and so is the
		// penalty of a Master; a Backup keeps its add penalty until it is
		// Master again (it must not preempt to find out).
		if st.AddFailing && st.State == Master || st.RemovePending {
			s.failf("r%d: %v add failing %v, remove pending %v after the OS healed", n.id, st.State, st.AddFailing, st.RemovePending)
		}
		if n.vips != (st.State == Master) {
			s.failf("r%d in %v with vips=%v", n.id, st.State, n.vips)
		}
		if n.usable() && st.State != Initialize {
			groups[n.seg] = append(groups[n.seg], n)
		}
	}
	for seg := range len(s.nodes) {
		group := groups[seg]
		if len(group) == 0 {
			continue
		}
		var masters []*simNode
		best := group[0]
		for _, n := range group {
			st := n.m.Status()
			if st.State == Master {
				masters = append(masters, n)
			}
			if n.m.Status().EffectivePriority > best.m.Status().EffectivePriority {
				best = n
			}
		}
		if len(masters) != 1 {
			ids := make([]string, len(masters))
			for i, m := range masters {
				ids[i] = fmt.Sprintf("r%d", m.id)
			}
			s.failf("segment %d has %d Masters %v", seg, len(masters), ids)
			return
		}
		top, got := best.m.Status().EffectivePriority, masters[0].m.Status().EffectivePriority
		if (s.preempt || top == PriorityOwner) && got != top {
			s.failf("segment %d: Master r%d has priority %d, r%d has %d (preempt=%v)",
				seg, masters[0].id, got, best.id, top, s.preempt)
		}
	}
}
