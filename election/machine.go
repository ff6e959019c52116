package election

import (
	"net/netip"
	"time"
)

// Machine is one virtual router's state machine. It is not safe for
// concurrent use; one goroutine owns it.
type Machine struct {
	cfg Config

	// state is the one state value: whether the router is started (not
	// Initialize) and what it does. Nothing beside it says "stopped".
	state  State
	reason Reason
	since  time.Time
	// fault is the interface condition as last reported. It is an input,
	// kept in every state: EventStartup in Initialize consults it. In
	// Fault, reason is fault.Reason(); Backup and Master imply FaultNone.
	fault FaultCause

	checkPrio uint8 // from EventPriority; see prio for the effective one

	// masterAdverInterval is Master_Adver_Interval (RFC 9568 §6.1).
	masterAdverInterval time.Duration
	master              netip.Addr // Master of the last accepted advert (Backup)
	masterPrio          uint8
	// discarded is the sender of the last advert a Backup discarded to
	// preempt it, since the last one it accepted; invalid if none. A drop of
	// our priority makes it acceptable again (setPriority).
	discarded         netip.Addr
	discardedPrio     uint8
	discardedInterval time.Duration

	// adverTimer is Adver_Timer; set in Master only.
	adverTimer time.Time
	// downTimer is Master_Down_Timer; set in Backup only.
	downTimer time.Time
	// downReason is the Reason recorded if downTimer fires.
	downReason Reason
	// lowerSince is when this Backup, with Preempt and PreemptDelay, first
	// heard a Master of lower priority than its own since it last accepted
	// an advert of at least its own priority; zero if it has not.
	lowerSince time.Time

	// The announcement schedule, in Master only. announceAt is when the
	// next round is due (zero: none); announceLeft counts the rounds still
	// to send, the next one included. announceRetry marks the next round
	// as a retry of a failed one; announceFails counts consecutive
	// failures of the latest round. refreshAt is the next periodic round.
	announceAt    time.Time
	announceLeft  int
	announceRetry bool
	announceFails int
	refreshAt     time.Time

	// Add failures: addFailing is the penalty (prio is PriorityAddFailed),
	// addFails counts consecutive failures, addRetry is the next
	// ActAddVIPs, in Master only. Outside Master the penalty lasts until
	// the router is Master again and an add works (EventAddOK): a router
	// that could not hold every address must not preempt one that can just
	// to fail again, each time costing clients of the missing address a
	// Master_Down_Interval. It takes over only when no better router is
	// left; a restart of vipd also clears it.
	addFailing bool
	addFails   int
	addRetry   time.Time

	// Planned moves. maint is maintenance mode (prio is
	// PriorityMaintenance). In Handoff, afterHandoff is the state that
	// follows (Initialize for a shutdown, Backup for a resignation) and
	// handoffUntil is when it ends without a new Master. A resigned router
	// is a Backup like any other: with Preempt_Mode and the highest
	// priority it takes the role back by the usual rules (make before
	// break again); maintenance is the way to keep it off.
	maint        bool
	afterHandoff State
	// handoffFor is what the hand-off was started for (afterHandoff may
	// become Fault meanwhile, and back when the fault clears).
	handoffFor   State
	handoffUntil time.Time

	// answeredAt is when a Master last answered a lower Master's advert.
	answeredAt time.Time

	// confirmUntil is set while a Backup waits for EventConfirmed before
	// preempting (Config.ConfirmPreempt): the outcome is taken as a failure
	// if it has not come by then.
	confirmUntil time.Time

	// Remove failures: removePending means addresses may be left behind;
	// removeRetry is the next ActRemoveVIPs (not in Master).
	removePending bool
	removeFails   int
	removeRetry   time.Time
}

// New returns a Machine in Initialize, waiting for EventStartup. Errors
// wrap ErrConfig and name the field at fault.
func New(cfg Config) (*Machine, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	return &Machine{
		cfg:                 cfg,
		checkPrio:           cfg.Priority,
		masterAdverInterval: cfg.AdvertInterval,
	}, nil
}

// prio is the effective priority.
func (m *Machine) prio() uint8 {
	switch {
	case m.addFailing:
		return PriorityAddFailed
	case m.maint && m.cfg.Priority != PriorityOwner:
		// The owner's addresses are its own: it cannot step aside.
		return PriorityMaintenance
	}
	return m.checkPrio
}

// Step feeds one event that happened at now and returns what to do, in
// order. now must not go backwards between calls.
func (m *Machine) Step(now time.Time, ev Event) []Action {
	switch ev.Kind {
	case EventStartup:
		// Only Initialize starts: in Fault the router has started and waits
		// for EventLinkUp.
		if m.state != Initialize {
			return nil
		}
		if m.fault != FaultNone {
			m.transition(now, Fault, m.fault.Reason())
			return nil
		}
		return m.start(now, ReasonStartup)
	case EventAdvert:
		return m.advert(now, ev)
	case EventTimer:
		return m.timer(now)
	case EventPriority:
		p := max(ev.Priority, 1) // 0 is taken as 1: it means shutdown
		old := m.prio()
		m.checkPrio = p
		return m.priorityChanged(now, old)
	case EventLinkDown:
		return m.faulted(now, FaultLinkDown)
	case EventFault:
		c := ev.Cause
		if c == FaultNone || c > FaultCheck {
			c = FaultLinkDown
		}
		return m.faulted(now, c)
	case EventLinkUp:
		m.fault = FaultNone
		if m.state == Fault {
			return m.start(now, ReasonLinkUp)
		}
		if m.state == Handoff && m.afterHandoff == Fault {
			if m.handoffFor != Fault {
				// A resignation or maintenance hand-off goes on as asked.
				m.afterHandoff = m.handoffFor
				return nil
			}
			// Fit again before anyone took over: keep serving.
			return m.becomeMaster(now, ReasonLinkUp)
		}
		return nil
	case EventShutdown:
		return m.shutdown(now)
	case EventAnnounceFailed:
		m.announceFailed(now)
		return nil
	case EventAddFailed:
		return m.addFailed(now)
	case EventAddOK:
		return m.addOK(now)
	case EventRemoveFailed:
		if m.state != Master {
			m.removePending = true
			m.removeFails++
			m.removeRetry = now.Add(m.cfg.backoff(m.removeFails))
		}
		return nil
	case EventRemoveOK:
		m.removePending, m.removeFails, m.removeRetry = false, 0, time.Time{}
		return nil
	case EventVIPsMissing:
		if m.state != Master {
			return nil
		}
		// Put them back and tell the LAN again; the add reports its
		// outcome like any other.
		return []Action{{Kind: ActAddVIPs}, m.announceNow(now)}
	case EventHardwareChanged:
		if m.state != Master {
			return nil
		}
		// Every neighbour has the old MAC: a fresh burst, even over one
		// under way, whose rounds carried the old one.
		return []Action{m.startBurst(now)}
	case EventResign:
		if m.state != Master {
			return nil
		}
		return m.handoff(now, Backup, ReasonResign)
	case EventConfirmed:
		if m.state != Backup || m.confirmUntil.IsZero() {
			return nil // late, or no longer wanted
		}
		m.confirmUntil = time.Time{}
		if ev.On {
			return m.becomeMaster(now, ReasonPreempt)
		}
		m.unconfirmed(now)
		return nil
	case EventMaintenance:
		old := m.prio()
		m.maint = ev.On
		if ev.On && m.state == Master && m.prio() != old {
			return m.handoff(now, Backup, ReasonMaintenance)
		}
		return m.priorityChanged(now, old)
	}
	return nil
}

// Deadline is when EventTimer is next due: the earliest timer that runs in
// the current state, zero when none does. In Master: Adver_Timer, the next
// announcement round, the refresh, the add retry. In Backup:
// Master_Down_Timer. Outside Master, Initialize and Fault included: the end
// of an add penalty and the remove retry, so that a router that failed to
// give its addresses up keeps trying. An EventTimer delivered late is
// handled as if on time; one delivered early does nothing. A timer that has
// expired does not fire by itself: an advert that Step sees first is
// handled against the old timers.
func (m *Machine) Deadline() time.Time {
	var d time.Time
	earliest := func(t time.Time) {
		if !t.IsZero() && (d.IsZero() || t.Before(d)) {
			d = t
		}
	}
	switch m.state {
	case Master:
		earliest(m.adverTimer)
		earliest(m.announceAt)
		earliest(m.refreshAt)
		earliest(m.addRetry)
		return d
	case Backup:
		earliest(m.downTimer)
		earliest(m.confirmUntil)
	case Handoff:
		// Holding the addresses, silent: the end of the wait, and of an
		// add penalty.
		earliest(m.handoffUntil)
	}
	earliest(m.removeRetry)
	return d
}

// Status returns a snapshot.
func (m *Machine) Status() Status {
	s := Status{
		State:               m.state,
		Reason:              m.reason,
		Since:               m.since,
		Fault:               m.fault,
		Priority:            m.cfg.Priority,
		CheckPriority:       m.checkPrio,
		EffectivePriority:   m.prio(),
		MasterAdverInterval: m.masterAdverInterval,
		MasterDownInterval:  m.masterDownInterval(),
		SkewTime:            m.skewTime(),
		AnnounceRoundsLeft:  m.announceLeft,
		AnnounceFailures:    m.announceFails,
		AddFailing:          m.addFailing,
		AddFailures:         m.addFails,
		AddRetry:            m.addRetry,
		RemovePending:       m.removePending,
		RemoveFailures:      m.removeFails,
		RemoveRetry:         m.removeRetry,
		Maintenance:         m.maint,
		HandoffUntil:        m.handoffUntil,
	}
	switch m.state {
	case Master:
		s.Master, s.MasterPriority = m.cfg.Address, m.prio()
	case Backup:
		s.Master, s.MasterPriority = m.master, m.masterPrio
	}
	return s
}

// skewTime is Skew_Time from the effective priority: RFC 9568 §6.1 for
// version 3, RFC 3768 §6.1 (with a fixed one second) for version 2.
func (m *Machine) skewTime() time.Duration {
	base := m.masterAdverInterval
	if m.cfg.Version == 2 {
		base = time.Second
	}
	return time.Duration(int64(256-int(m.prio())) * int64(base) / 256)
}

// masterDownInterval is Master_Down_Interval (RFC 9568 §6.1, RFC 3768 §6.1).
func (m *Machine) masterDownInterval() time.Duration {
	return 3*m.masterAdverInterval + m.skewTime()
}

// transition enters s and resets everything that belongs to one stay in a
// state: the protocol timers, the Master heard, the announcement schedule.
// Failure bookkeeping (add penalty, remove retry) outlives transitions.
func (m *Machine) transition(now time.Time, s State, r Reason) {
	m.state, m.reason, m.since = s, r, now
	m.adverTimer, m.downTimer = time.Time{}, time.Time{}
	m.lowerSince = time.Time{}
	m.master, m.masterPrio = netip.Addr{}, 0
	m.discarded, m.discardedPrio, m.discardedInterval = netip.Addr{}, 0, 0
	m.announceAt, m.announceLeft, m.announceRetry, m.announceFails = time.Time{}, 0, false, 0
	m.refreshAt = time.Time{}
	m.handoffUntil, m.confirmUntil, m.answeredAt = time.Time{}, time.Time{}, time.Time{}
	if s != Master {
		m.addRetry = time.Time{} // retried only in Master
	}
}

// start is RFC 9568 §6.4.1, for EventStartup and for EventLinkUp out of
// Fault.
func (m *Machine) start(now time.Time, r Reason) []Action {
	if m.prio() == PriorityOwner {
		if r == ReasonStartup {
			r = ReasonOwnerStartup
		}
		return m.becomeMaster(now, r)
	}
	// A non-owner listens first: a restarted router hears a healthy Master
	// before its Master_Down_Timer fires, and so never disturbs it.
	m.transition(now, Backup, r)
	m.masterAdverInterval = m.cfg.AdvertInterval
	m.downTimer = now.Add(m.masterDownInterval())
	m.downReason = ReasonMasterDown
	return nil
}

// becomeMaster is the entry to Master of RFC 9568 §6.4.1 and §6.4.2: take
// the addresses, announce them (round one of the burst), send an advert, set
// Adver_Timer. The owner does the same; its caller skips the add.
//
// Deviation (make before break): RFC 9568 sends the advert first. Here the
// advert comes last, so that when the router giving the role up (a Master in
// Handoff, or one that this router preempts) hears it and removes its
// addresses, the neighbours have already been told where the addresses are
// now: their ARP and ND entries always point at a router that holds them.
func (m *Machine) becomeMaster(now time.Time, r Reason) []Action {
	m.transition(now, Master, r)
	m.masterAdverInterval = m.cfg.AdvertInterval
	m.adverTimer = now.Add(m.cfg.AdvertInterval)
	if m.cfg.AnnounceRefresh > 0 {
		m.refreshAt = now.Add(m.cfg.AnnounceRefresh)
	}
	// The add below supersedes any removal still being retried, and a
	// penalty's retry: its outcome is reported next.
	m.removePending, m.removeFails, m.removeRetry = false, 0, time.Time{}
	m.addRetry = time.Time{}
	round := m.startBurst(now)
	if m.announceLeft > 0 {
		// The router this one takes over from may still send one round of
		// its own (a burst timer firing before it has heard our advert):
		// the second round follows soon, not a whole AnnounceInterval on.
		m.announceAt = now.Add(min(m.cfg.AnnounceInterval, TakeoverRepeat))
	}
	return []Action{
		{Kind: ActAddVIPs},
		round,
		{Kind: ActSendAdvert, Priority: m.prio()},
	}
}

// handoff is a Master giving its role up on purpose: the priority 0 advert
// of RFC 9568 §6.4.3, but the addresses kept until the new Master is heard
// (see Handoff). then is the state that follows: Initialize or Backup.
func (m *Machine) handoff(now time.Time, then State, r Reason) []Action {
	wait := m.masterDownInterval()
	m.transition(now, Handoff, r)
	m.afterHandoff, m.handoffFor = then, then
	m.handoffUntil = now.Add(wait)
	return []Action{{Kind: ActSendAdvert, Priority: PriorityShutdown}}
}

// handoffAdvert is an advert heard in Handoff: one from a new Master ends it.
func (m *Machine) handoffAdvert(now time.Time, ev Event) []Action {
	if ev.Priority == PriorityShutdown {
		return nil // another router resigning too: not a new Master
	}
	acts := leaveMaster(nil)
	switch m.afterHandoff {
	case Initialize:
		m.transition(now, Initialize, ReasonHandoffDone)
		return acts
	case Fault:
		m.transition(now, Fault, m.fault.Reason())
		return acts
	}
	m.transition(now, Backup, ReasonHandoffDone)
	m.acceptAdvert(now, ev.From, ev.Priority, ev.Interval)
	return acts
}

// leaveMaster returns the action that gives the addresses up. The
// announcement schedule ends with the transition that follows: an
// ex-Master never points clients at itself.
func leaveMaster(acts []Action) []Action {
	return append(acts, Action{Kind: ActRemoveVIPs})
}

// startBurst starts a burst of Config.AnnounceCount rounds and returns its
// first round.
func (m *Machine) startBurst(now time.Time) Action {
	m.announceLeft = m.cfg.AnnounceCount
	m.announceRetry = false
	return m.announceRound(now)
}

// burstUnderway reports whether rounds of a burst (or a retry) are due.
func (m *Machine) burstUnderway() bool { return !m.announceAt.IsZero() }

// announceRound sends the next round of the burst and schedules the one
// after it.
func (m *Machine) announceRound(now time.Time) Action {
	if !m.announceRetry {
		m.announceFails = 0
	}
	m.announceRetry = false
	m.announceLeft--
	if m.announceLeft > 0 {
		m.announceAt = now.Add(m.cfg.AnnounceInterval)
	} else {
		m.announceLeft, m.announceAt = 0, time.Time{}
	}
	return Action{Kind: ActAnnounce}
}

// announceNow sends one round outside the burst (a refresh, a repair),
// unless a burst is under way, which it then restarts.
func (m *Machine) announceNow(now time.Time) Action {
	if m.burstUnderway() {
		return m.startBurst(now)
	}
	m.announceLeft = 1
	m.announceRetry = false
	return m.announceRound(now)
}

// announceFailed handles EventAnnounceFailed: the latest round is sent
// again after AnnounceRetryDelay, not at the next round, so that a round
// lost to a transient error (ENETDOWN just after link up) is not lost for
// good; after AnnounceRetries retries in a row the round is given up.
func (m *Machine) announceFailed(now time.Time) {
	if m.state != Master {
		return
	}
	m.announceFails++
	if m.announceFails > AnnounceRetries {
		return
	}
	m.announceLeft++
	m.announceRetry = true
	m.announceAt = now.Add(AnnounceRetryDelay)
}

// timer handles EventTimer: every timer of the current state that has
// expired by now. A timer restarts from now, so a late delivery does one
// thing each, not a burst to catch up.
func (m *Machine) timer(now time.Time) []Action {
	due := func(t time.Time) bool { return !t.IsZero() && !now.Before(t) }
	var acts []Action
	switch m.state {
	case Handoff:
		if due(m.handoffUntil) {
			switch m.afterHandoff {
			case Initialize:
				// Nobody took over: there is no other router. Stop now.
				acts = append(acts, leaveMaster(nil)...)
				m.transition(now, Initialize, ReasonHandoffTimeout)
			case Fault:
				// Nobody took over from an unfit router: Fault, as
				// keepalived's weight 0 check does.
				acts = append(acts, leaveMaster(nil)...)
				m.transition(now, Fault, m.fault.Reason())
			default:
				// Nobody took over a resignation: keep serving, as Master.
				return m.becomeMaster(now, ReasonHandoffTimeout)
			}
		}
	case Master:
		// RFC 9568 §6.4.3: Adver_Timer fires.
		if due(m.adverTimer) {
			m.adverTimer = m.nextAdvert(now)
			acts = append(acts, Action{Kind: ActSendAdvert, Priority: m.prio()})
		}
		if due(m.addRetry) {
			m.addRetry = time.Time{} // until the outcome is reported
			acts = append(acts, Action{Kind: ActAddVIPs})
		}
		announced := false
		if due(m.announceAt) {
			acts = append(acts, m.announceRound(now))
			announced = true
		}
		if due(m.refreshAt) {
			m.refreshAt = now.Add(m.cfg.AnnounceRefresh)
			if !announced && !m.burstUnderway() {
				acts = append(acts, m.announceNow(now))
			}
		}
		return acts
	}
	if m.state == Backup && due(m.confirmUntil) {
		// The confirmation did not come back in time: no takeover.
		m.confirmUntil = time.Time{}
		m.unconfirmed(now)
	}
	// RFC 9568 §6.4.2: Master_Down_Timer fires.
	if m.state == Backup && due(m.downTimer) {
		if m.downReason == ReasonPreempt && m.cfg.ConfirmPreempt {
			// A live Master of lower priority: first check that this
			// router is still better than it (its own checks pass).
			m.downTimer = time.Time{}
			wait := m.cfg.ConfirmTimeout
			if wait <= 0 {
				wait = m.cfg.AdvertInterval + time.Second
			}
			m.confirmUntil = now.Add(wait)
			acts = append(acts, Action{Kind: ActConfirm})
		} else {
			acts = append(acts, m.becomeMaster(now, m.downReason)...)
		}
	}
	if m.state != Master && due(m.removeRetry) {
		m.removeRetry = time.Time{} // until the outcome is reported
		acts = append(acts, Action{Kind: ActRemoveVIPs})
	}
	return acts
}

// advert handles a received advert in Backup (RFC 9568 §6.4.2) and Master
// (RFC 9568 §6.4.3). Other states accept none.
func (m *Machine) advert(now time.Time, ev Event) []Action {
	if ev.From == m.cfg.Address {
		return nil // our own advert, looped back
	}
	switch m.state {
	case Backup:
		m.backupAdvert(now, ev)
	case Master:
		return m.masterAdvert(now, ev)
	case Handoff:
		return m.handoffAdvert(now, ev)
	}
	return nil
}

// backupAdvert is RFC 9568 §6.4.2, "If an ADVERTISEMENT is received".
func (m *Machine) backupAdvert(now time.Time, ev Event) {
	if ev.Priority == PriorityShutdown {
		// The Master resigned: take over after Skew_Time only, so that the
		// Backup of highest priority goes first.
		m.downTimer = now.Add(m.skewTime())
		m.downReason = ReasonPriorityZero
		if ev.From == m.master {
			m.master, m.masterPrio = netip.Addr{}, 0
		}
		if ev.From == m.discarded {
			m.discarded = netip.Addr{}
		}
		return
	}
	if !m.accept(now, ev.Priority) {
		// Preempt_Mode and a lower priority: discard, so that
		// Master_Down_Timer fires and this router takes over. If it was to
		// fire for a priority 0 advert, that stays its reason.
		if m.downReason == ReasonMasterDown {
			m.downReason = ReasonPreempt
		}
		m.discarded, m.discardedPrio, m.discardedInterval = ev.From, ev.Priority, ev.Interval
		return
	}
	m.acceptAdvert(now, ev.From, ev.Priority, ev.Interval)
}

// acceptAdvert is the accepting branch of RFC 9568 §6.4.2: learn
// Master_Adver_Interval (version 3), reset Master_Down_Timer.
// unconfirmed is a preemption that the router's own checks did not confirm:
// it follows the Master again for a Master_Down_Interval, as if it had just
// accepted its advert; with Preempt_Mode it tries again after that if it
// still outranks it.
func (m *Machine) unconfirmed(now time.Time) {
	m.downTimer = now.Add(m.masterDownInterval())
	m.downReason = ReasonMasterDown
}

func (m *Machine) acceptAdvert(now time.Time, from netip.Addr, prio uint8, interval time.Duration) {
	m.confirmUntil = time.Time{} // a fresh advert supersedes a pending confirmation
	if m.cfg.Version == 3 && interval > 0 {
		m.masterAdverInterval = interval
	}
	m.master, m.masterPrio = from, prio
	m.discarded = netip.Addr{}
	m.downTimer = now.Add(m.masterDownInterval())
	m.downReason = ReasonMasterDown
}

// preempts reports whether this router preempts: Preempt_Mode, or the owner
// whatever Preempt_Mode says (RFC 9568 §6.1).
func (m *Machine) preempts() bool {
	return m.cfg.Preempt || m.prio() == PriorityOwner
}

// accept reports whether a Backup accepts an advert of priority p:
// RFC 9568 §6.4.2 "If Preempt_Mode is False, or if the Priority in the
// ADVERTISEMENT is greater than or equal to the local Priority", widened by
// PreemptDelay, during which a lower priority is accepted as well.
func (m *Machine) accept(now time.Time, p uint8) bool {
	if !m.preempts() || p >= m.prio() {
		m.lowerSince = time.Time{}
		return true
	}
	if m.cfg.PreemptDelay > 0 {
		if m.lowerSince.IsZero() {
			m.lowerSince = now
		}
		if now.Sub(m.lowerSince) < m.cfg.PreemptDelay {
			return true
		}
	}
	return false
}

// masterAdvert is RFC 9568 §6.4.3, "If an ADVERTISEMENT is received".
func (m *Machine) masterAdvert(now time.Time, ev Event) []Action {
	var r Reason
	switch {
	case ev.Priority == PriorityShutdown:
		// Another Master resigned: assert ourselves at once.
	case ev.Priority > m.prio():
		r = ReasonHigherPriority
	case ev.Priority == m.prio() && ev.From.Compare(m.cfg.Address) > 0:
		r = ReasonHigherAddress
	default:
		// A Master of lower rank.
	}
	if r == ReasonNone {
		// RFC 9568 §6.4.3 sends an advert for priority 0 and discards one
		// of lower rank. Deviation: we answer both at once, so that a
		// lower Master (a healed partition, a split brain) steps down
		// within one delivery rather than after our next Adver_Timer; and
		// since clients may have followed that other Master's
		// announcements, we announce again, with a fresh burst unless one
		// is under way.
		// A flood of forged lower adverts must not turn into one of
		// ours: a lower Master is answered at most once per Skew_Time
		// (a real one sends one advert per interval, never faster).
		if ev.Priority != PriorityShutdown && !m.answeredAt.IsZero() && now.Sub(m.answeredAt) < m.skewTime() {
			return nil
		}
		m.answeredAt = now
		m.adverTimer = now.Add(m.cfg.AdvertInterval)
		acts := []Action{{Kind: ActSendAdvert, Priority: m.prio()}}
		if !m.burstUnderway() {
			acts = append(acts, m.startBurst(now))
		}
		return acts
	}
	// RFC 9568 §6.4.3: step down to Backup. Deviation: after giving the
	// addresses up, send one advert at our own priority (the farewell).
	// The RFC has the loser go silent; but if the winner heard us first
	// and we only now hear it, the winner never learns that clients
	// followed our announcements during the split. Our farewell is an
	// advert of lower rank to it: it answers and announces again (above).
	// Other Backups treat it as any advert of that priority.
	// Sent twice: a lost farewell would leave the clients that followed us
	// during the split on a host without the VIP (the winner answers one).
	prio := m.prio()
	acts := leaveMaster(nil)
	acts = append(acts, Action{Kind: ActSendAdvert, Priority: prio}, Action{Kind: ActSendAdvert, Priority: prio})
	m.transition(now, Backup, r)
	m.acceptAdvert(now, ev.From, ev.Priority, ev.Interval)
	return acts
}

// nextAdvert is when the periodic advert after one sent at now is due:
// Advertisement_Interval later (RFC 9568 §6.4.3, Adver_Timer).
//
// Deviation (AlignAdverts): moved back to the multiple of the interval on
// the clock (Unix time) at or before that, so the advert comes early, never
// late. Once on the grid a Master stays on it, exactly one interval apart,
// so the deviation is one shorter interval after each takeover (or answer
// to a lower Master, or priority change, which send at once): a Backup
// never waits longer between two adverts than without it, and so never
// takes over sooner when adverts are lost.
func (m *Machine) nextAdvert(now time.Time) time.Time {
	iv := m.cfg.AdvertInterval
	next := now.Add(iv)
	if !m.cfg.AlignAdverts || iv <= 0 {
		return next
	}
	off := time.Duration(next.UnixNano() % int64(iv))
	if off < 0 {
		off += iv // before 1970
	}
	return next.Add(-off)
}

// priorityChanged acts on a change of the effective priority from old, for
// whatever cause: EventPriority, an add failing, its penalty ending.
func (m *Machine) priorityChanged(now time.Time, old uint8) []Action {
	p := m.prio()
	if p == old {
		return nil
	}
	switch m.state {
	case Master:
		// Keep the role but tell the Backups at once: a Backup with
		// Preempt_Mode and a now higher priority starts discarding our
		// adverts and takes over when its Master_Down_Timer fires.
		m.adverTimer = now.Add(m.cfg.AdvertInterval)
		return []Action{{Kind: ActSendAdvert, Priority: p}}
	case Backup:
		if p == PriorityOwner {
			// RFC 9568 §6.4.1: the owner becomes Master at once.
			return m.becomeMaster(now, ReasonPriorityChanged)
		}
		// Skew_Time and Master_Down_Interval follow the new priority from
		// the next accepted advert on; the running Master_Down_Timer is
		// left alone. A Backup that now outranks the Master takes over,
		// with Preempt_Mode, by discarding its adverts until
		// Master_Down_Timer fires (after PreemptDelay, if any). One that
		// was discarding adverts to preempt and no longer outranks their
		// sender accepts it again, as if its last advert came now:
		// otherwise the Master_Down_Timer that the discarded adverts
		// left running would still fire and take over from a Master it
		// no longer outranks.
		if m.discarded.IsValid() && (!m.preempts() || m.discardedPrio >= p) {
			m.lowerSince = time.Time{}
			m.acceptAdvert(now, m.discarded, m.discardedPrio, m.discardedInterval)
		}
	}
	return nil
}

// addFailed handles EventAddFailed: the penalty, and the retry with
// backoff (RFC 9568 leaves address installation to the implementation).
func (m *Machine) addFailed(now time.Time) []Action {
	old := m.prio()
	m.addFailing = true
	m.addFails++
	if m.state == Master {
		m.addRetry = now.Add(m.cfg.backoff(m.addFails))
	}
	return m.priorityChanged(now, old)
}

// addOK handles EventAddOK: the penalty ends. A Master whose addresses were
// missing announces them again, since the rounds sent before were for
// addresses it did not hold.
func (m *Machine) addOK(now time.Time) []Action {
	wasFailing := m.addFailing
	old := m.prio()
	m.addFailing, m.addFails, m.addRetry = false, 0, time.Time{}
	acts := m.priorityChanged(now, old)
	if wasFailing && m.state == Master && !m.burstUnderway() {
		acts = append(acts, m.startBurst(now))
	}
	return acts
}

// faulted handles EventFault: Fault from Backup and Master, the Reason
// following the cause in Fault, and only remembered in Initialize.
func (m *Machine) faulted(now time.Time, c FaultCause) []Action {
	m.fault = c
	switch m.state {
	case Master:
		if c == FaultCheck {
			// The link works: hand off with zero loss, as a planned
			// move, and be in Fault once the new Master is heard.
			return m.handoff(now, Fault, ReasonCheckFault)
		}
		// No priority 0 advert: the interface would not carry it.
		acts := leaveMaster(nil)
		m.transition(now, Fault, c.Reason())
		return acts
	case Backup:
		m.transition(now, Fault, c.Reason())
	case Fault:
		m.reason = c.Reason() // the same Fault, for another cause
	case Handoff:
		if c == FaultCheck {
			// The hand-off goes on; it ends in Fault, unless in a stop.
			if m.afterHandoff != Initialize {
				m.afterHandoff = Fault
			}
			return nil
		}
		// The interface cannot carry the hand-off any more.
		acts := leaveMaster(nil)
		if m.afterHandoff == Initialize {
			m.transition(now, Initialize, ReasonShutdown)
		} else {
			m.transition(now, Fault, c.Reason())
		}
		return acts
	}
	return nil
}

// shutdown is RFC 9568 §6.4.2 and §6.4.3, "If a Shutdown event is
// received", made before break: a Master sends its priority 0 advert and
// waits in Handoff, holding the addresses, for the new Master. Initialize is
// then left only by EventStartup.
func (m *Machine) shutdown(now time.Time) []Action {
	switch m.state {
	case Master:
		return m.handoff(now, Initialize, ReasonShutdown)
	case Handoff:
		m.afterHandoff = Initialize // a resignation under way ends in a stop
	case Backup, Fault:
		m.transition(now, Initialize, ReasonShutdown)
	}
	return nil
}
