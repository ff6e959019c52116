package election

import (
	"net/netip"
	"time"
)

// Machine is one virtual router's state machine. It is not safe for
// concurrent use; one goroutine owns it.
type Machine struct {
	cfg Config

	state  State
	reason Reason
	since  time.Time

	prio     uint8 // effective priority
	linkDown bool  // remembered while stopped, so that Startup goes to Fault
	stopped  bool  // Initialize after EventShutdown: only EventStartup starts

	// masterAdverInterval is Master_Adver_Interval (RFC 9568 §6.1).
	masterAdverInterval time.Duration
	master              netip.Addr // Master of the last accepted advert (Backup)
	masterPrio          uint8

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
}

// New returns a Machine in Initialize, waiting for EventStartup. Errors
// wrap ErrConfig and name the field at fault.
func New(cfg Config) (*Machine, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	return &Machine{
		cfg:                 cfg,
		prio:                cfg.Priority,
		masterAdverInterval: cfg.AdvertInterval,
	}, nil
}

// Step feeds one event that happened at now and returns what to do, in
// order. now must not go backwards between calls.
func (m *Machine) Step(now time.Time, ev Event) []Action {
	switch ev.Kind {
	case EventStartup:
		// In Fault the router has started and waits for EventLinkUp.
		if m.state != Initialize {
			return nil
		}
		m.stopped = false
		if m.linkDown {
			m.transition(now, Fault, ReasonLinkDown)
			return nil
		}
		return m.start(now, ReasonStartup)
	case EventAdvert:
		return m.advert(now, ev)
	case EventTimer:
		return m.timer(now)
	case EventPriority:
		return m.setPriority(now, ev.Priority)
	case EventLinkDown:
		return m.linkLost(now)
	case EventLinkUp:
		m.linkDown = false
		if m.state == Fault {
			return m.start(now, ReasonLinkUp)
		}
		return nil
	case EventShutdown:
		return m.shutdown(now)
	}
	return nil
}

// Deadline is when EventTimer is next due; zero when no timer runs. An
// EventTimer delivered late is handled as if on time; one delivered early
// does nothing. A timer that has expired does not fire by itself: an advert
// that Step sees first is handled against the old timers.
func (m *Machine) Deadline() time.Time {
	switch m.state {
	case Master:
		return m.adverTimer
	case Backup:
		return m.downTimer
	}
	return time.Time{}
}

// Status returns a snapshot.
func (m *Machine) Status() Status {
	s := Status{
		State:               m.state,
		Reason:              m.reason,
		Since:               m.since,
		Priority:            m.cfg.Priority,
		EffectivePriority:   m.prio,
		MasterAdverInterval: m.masterAdverInterval,
		MasterDownInterval:  m.masterDownInterval(),
		SkewTime:            m.skewTime(),
	}
	switch m.state {
	case Master:
		s.Master, s.MasterPriority = m.cfg.Address, m.prio
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
	return time.Duration(int64(256-int(m.prio)) * int64(base) / 256)
}

// masterDownInterval is Master_Down_Interval (RFC 9568 §6.1, RFC 3768 §6.1).
func (m *Machine) masterDownInterval() time.Duration {
	return 3*m.masterAdverInterval + m.skewTime()
}

func (m *Machine) transition(now time.Time, s State, r Reason) {
	m.state, m.reason, m.since = s, r, now
	m.adverTimer, m.downTimer = time.Time{}, time.Time{}
	m.lowerSince = time.Time{}
	m.master, m.masterPrio = netip.Addr{}, 0
}

// start is RFC 9568 §6.4.1, for EventStartup and for EventLinkUp out of
// Fault.
func (m *Machine) start(now time.Time, r Reason) []Action {
	if m.prio == PriorityOwner {
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

// becomeMaster is the entry to Master of RFC 9568 §6.4.1 and §6.4.2: send
// an advert, take the addresses, announce them, set Adver_Timer.
func (m *Machine) becomeMaster(now time.Time, r Reason) []Action {
	m.transition(now, Master, r)
	m.masterAdverInterval = m.cfg.AdvertInterval
	m.adverTimer = now.Add(m.cfg.AdvertInterval)
	return []Action{
		{Kind: ActSendAdvert, Priority: m.prio},
		{Kind: ActAddVIPs},
		{Kind: ActAnnounce},
	}
}

// leaveMaster returns the actions that give the addresses up.
func leaveMaster(acts []Action) []Action {
	return append(acts, Action{Kind: ActCancelAnnounce}, Action{Kind: ActRemoveVIPs})
}

// timer handles EventTimer: whichever of Adver_Timer and Master_Down_Timer
// has expired by now.
func (m *Machine) timer(now time.Time) []Action {
	switch m.state {
	case Master:
		// RFC 9568 §6.4.3: Adver_Timer fires. It restarts from now, so a
		// late delivery sends one advert, not a burst to catch up.
		if !now.Before(m.adverTimer) {
			m.adverTimer = now.Add(m.cfg.AdvertInterval)
			return []Action{{Kind: ActSendAdvert, Priority: m.prio}}
		}
	case Backup:
		// RFC 9568 §6.4.2: Master_Down_Timer fires.
		if !now.Before(m.downTimer) {
			return m.becomeMaster(now, m.downReason)
		}
	}
	return nil
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
		return
	}
	if !m.accept(now, ev.Priority) {
		// Preempt_Mode and a lower priority: discard, so that
		// Master_Down_Timer fires and this router takes over.
		m.downReason = ReasonPreempt
		return
	}
	if m.cfg.Version == 3 && ev.Interval > 0 {
		m.masterAdverInterval = ev.Interval
	}
	m.master, m.masterPrio = ev.From, ev.Priority
	m.downTimer = now.Add(m.masterDownInterval())
	m.downReason = ReasonMasterDown
}

// accept reports whether a Backup accepts an advert of priority p:
// RFC 9568 §6.4.2 "If Preempt_Mode is False, or if the Priority in the
// ADVERTISEMENT is greater than or equal to the local Priority", widened by
// PreemptDelay, during which a lower priority is accepted as well. The owner
// always preempts, whatever Preempt_Mode says (RFC 9568 §6.1).
func (m *Machine) accept(now time.Time, p uint8) bool {
	preempt := m.cfg.Preempt || m.prio == PriorityOwner
	if !preempt || p >= m.prio {
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
	case ev.Priority > m.prio:
		r = ReasonHigherPriority
	case ev.Priority == m.prio && ev.From.Compare(m.cfg.Address) > 0:
		r = ReasonHigherAddress
	default:
		// A Master of lower rank: the RFC discards its advert; we also
		// answer at once, so that it steps down within one delivery
		// rather than after our next Adver_Timer (a healed partition).
	}
	if r == ReasonNone {
		m.adverTimer = now.Add(m.cfg.AdvertInterval)
		return []Action{{Kind: ActSendAdvert, Priority: m.prio}}
	}
	acts := leaveMaster(nil)
	m.transition(now, Backup, r)
	if m.cfg.Version == 3 && ev.Interval > 0 {
		m.masterAdverInterval = ev.Interval
	}
	m.master, m.masterPrio = ev.From, ev.Priority
	m.downTimer = now.Add(m.masterDownInterval())
	m.downReason = ReasonMasterDown
	return acts
}

// setPriority handles EventPriority.
func (m *Machine) setPriority(now time.Time, p uint8) []Action {
	if p == PriorityShutdown {
		p = 1
	}
	if p == m.prio {
		return nil
	}
	m.prio = p
	switch m.state {
	case Master:
		// Keep the role but tell the Backups at once: a Backup with
		// Preempt_Mode and a now higher priority starts discarding our
		// adverts and takes over when its Master_Down_Timer fires.
		m.adverTimer = now.Add(m.cfg.AdvertInterval)
		return []Action{{Kind: ActSendAdvert, Priority: m.prio}}
	case Backup:
		// Skew_Time and Master_Down_Interval follow the new priority from
		// the next accepted advert on; the running Master_Down_Timer is
		// left alone. A Backup that now outranks the Master takes over,
		// with Preempt_Mode, by discarding its adverts until
		// Master_Down_Timer fires (after PreemptDelay, if any).
		if p == PriorityOwner {
			// RFC 9568 §6.4.1: the owner becomes Master at once.
			return m.becomeMaster(now, ReasonPriorityChanged)
		}
	}
	return nil
}

// linkLost handles EventLinkDown: Fault from any state, so that a router
// whose link is down when it starts comes up at EventLinkUp. After
// EventShutdown it is only remembered, for the next EventStartup.
func (m *Machine) linkLost(now time.Time) []Action {
	m.linkDown = true
	switch m.state {
	case Initialize:
		if !m.stopped {
			m.transition(now, Fault, ReasonLinkDown)
		}
	case Master:
		// No priority 0 advert: the link is down and would not carry it.
		acts := leaveMaster(nil)
		m.transition(now, Fault, ReasonLinkDown)
		return acts
	case Backup:
		m.transition(now, Fault, ReasonLinkDown)
	}
	return nil
}

// shutdown is RFC 9568 §6.4.2 and §6.4.3, "If a Shutdown event is
// received".
func (m *Machine) shutdown(now time.Time) []Action {
	switch m.state {
	case Master:
		acts := leaveMaster([]Action{{Kind: ActSendAdvert, Priority: PriorityShutdown}})
		m.transition(now, Initialize, ReasonShutdown)
		return acts
	case Backup, Fault:
		m.transition(now, Initialize, ReasonShutdown)
	}
	m.stopped = true
	return nil
}
