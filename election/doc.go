// Package election implements the VRRP state machine, as described in RFC 9568 §6 (and RFC 3768 §6 for version 2).
//
// The machine is pure: it opens no sockets, reads no clock, starts no
// goroutines and draws no random numbers. The caller feeds it events with
// the time they happened, and carries out the actions it returns:
//
//	m, err := election.New(election.Config{
//		Version:        3,
//		Priority:       100,
//		AdvertInterval: time.Second,
//		Preempt:        true,
//		Address:        netip.MustParseAddr("192.0.2.2"),
//	})
//	acts := m.Step(now, election.Event{Kind: election.EventStartup})
//	// acts is empty: a Backup listens first. Deliver adverts as they arrive,
//	// and EventTimer at (or after) m.Deadline():
//	acts = m.Step(m.Deadline(), election.Event{Kind: election.EventTimer})
//	// acts: send-advert(prio=100), add-vips, announce.
//
// Timers are state, not goroutines: the machine keeps Adver_Timer (in
// Master) and Master_Down_Timer (in Backup) as deadlines and Deadline
// reports the one that runs. Every transition records a Reason and the time,
// which Status reports, so that logs and the status document say why.
//
// Where RFC 9568 leaves room, the machine:
//   - goes to Fault, which is not an RFC state, when the link is down (from
//     any state, Initialize included, unless stopped by EventShutdown): no
//     adverts are sent or accepted there, and link-up starts again as at
//     EventStartup;
//   - ignores adverts from its own Address (multicast loopback);
//   - answers at once an advert from a Master of lower rank, so that two
//     Masters left by a healed partition converge within one delivery;
//   - holds preemption back by Config.PreemptDelay, counted from the first
//     advert of lower priority heard since the last one of at least its
//     own priority;
//   - computes Skew_Time at nanosecond precision instead of whole
//     centiseconds.
package election
