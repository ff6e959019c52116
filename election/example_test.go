package election_test

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/vipd/vipd/election"
)

// A Backup hears nothing for Master_Down_Interval and takes over.
func Example() {
	m, err := election.New(election.Config{
		Version:        3,
		Priority:       100,
		AdvertInterval: time.Second,
		Preempt:        true,
		Address:        netip.MustParseAddr("192.0.2.2"),

		AnnounceCount:    3,
		AnnounceInterval: time.Second,
	})
	if err != nil {
		panic(err)
	}
	start := time.Date(2024, 4, 1, 0, 0, 0, 0, time.UTC)

	m.Step(start, election.Event{Kind: election.EventStartup})
	st := m.Status()
	fmt.Println(st.State, st.Reason, "until", m.Deadline().Sub(start))

	// The shell delivers EventTimer at the deadline.
	acts := m.Step(m.Deadline(), election.Event{Kind: election.EventTimer})
	st = m.Status()
	fmt.Println(st.State, st.Reason, acts)

	// The shell carries out the actions, reports how the add went, and
	// delivers EventTimer at the deadline: the next round of the burst,
	// soon after the first (TakeoverRepeat).
	m.Step(st.Since, election.Event{Kind: election.EventAddOK})
	acts = m.Step(m.Deadline(), election.Event{Kind: election.EventTimer})
	fmt.Println(acts, "rounds left", m.Status().AnnounceRoundsLeft)

	// A router of higher priority appears; we step down.
	acts = m.Step(st.Since.Add(1500*time.Millisecond), election.Event{
		Kind:     election.EventAdvert,
		From:     netip.MustParseAddr("192.0.2.3"),
		Priority: 200,
		Interval: time.Second,
	})
	st = m.Status()
	fmt.Println(st.State, st.Reason, acts, "master", st.Master)
	// Output:
	// BACKUP startup until 3.609375s
	// MASTER master-down-timer [add-vips announce send-advert(prio=100)]
	// [announce] rounds left 1
	// BACKUP higher-priority-advert [remove-vips send-advert(prio=100) send-advert(prio=100)] master 192.0.2.3
}
