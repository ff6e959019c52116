// Package election implements the VRRP state machine, as described in RFC 9568 §6 (and RFC 3768 §6 for version 2).
//
// The machine is pure: it opens no sockets, reads no clock, starts no
// goroutines and draws no random numbers. The caller feeds it events with
// the time they happened, carries out the actions it returns, in order, and
// reports their outcomes back as events:
//
//	m, err := election.New(election.Config{
//		Version:          3,
//		Priority:         100,
//		AdvertInterval:   time.Second,
//		Preempt:          true,
//		Address:          netip.MustParseAddr("192.0.2.2"),
//		AnnounceCount:    5,
//		AnnounceInterval: time.Second,
//	})
//	acts := m.Step(now, election.Event{Kind: election.EventStartup})
//	// acts is empty: a Backup listens first. Deliver adverts as they arrive,
//	// and EventTimer at (or after) m.Deadline():
//	acts = m.Step(m.Deadline(), election.Event{Kind: election.EventTimer})
//	// acts: send-advert(prio=100), add-vips, announce. Adding the VIPs is
//	// reported with EventAddOK or EventAddFailed; a round of announcements
//	// that did not go out with EventAnnounceFailed.
//
// Timers are state, not goroutines: Adver_Timer, the announcement rounds
// and their refresh and the add retry (in Master), Master_Down_Timer (in
// Backup), the end of an add penalty and the remove retry (outside Master)
// are deadlines, and Deadline reports the earliest. Every transition
// records a Reason and the time, which Status reports, so that logs and the
// status document say why. Every protocol decision is here; the caller
// decides nothing.
//
// Where RFC 9568 leaves room, or on purpose departs from it, the machine:
//   - goes to Fault, which is not an RFC state, while the interface is
//     unusable (EventFault: link down, interface missing, no source
//     address): no adverts are sent or accepted there, and EventLinkUp
//     starts again as at EventStartup. Fault events never start a router:
//     in Initialize they are remembered for EventStartup;
//   - ignores adverts from its own Address (multicast loopback);
//   - answers at once an advert from a Master of lower rank, so that two
//     Masters left by a healed partition converge within one delivery, and
//     announces the VIPs again, since clients may have followed the other
//     one (RFC 9568 §6.4.3 discards that advert);
//   - on stepping down for a better advert, sends one advert at its own
//     priority after giving the VIPs up, the farewell, so that the winner
//     learns of the split and announces (RFC 9568 §6.4.3 goes silent);
//   - holds preemption back by Config.PreemptDelay, counted from the first
//     advert of lower priority heard since the last one of at least its
//     own priority;
//   - advertises PriorityAddFailed while adding the VIPs fails, so that a
//     router that can hold them all wins;
//   - computes Skew_Time at nanosecond precision instead of whole
//     centiseconds.
package election
