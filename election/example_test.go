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

	// A router of higher priority appears; we step down.
	acts = m.Step(st.Since.Add(time.Second), election.Event{
		Kind:     election.EventAdvert,
		From:     netip.MustParseAddr("192.0.2.3"),
		Priority: 200,
		Interval: time.Second,
	})
	st = m.Status()
	fmt.Println(st.State, st.Reason, acts, "master", st.Master)
	// Output:
	// BACKUP startup until 3.609375s
	// MASTER master-down-timer [send-advert(prio=100) add-vips announce]
	// BACKUP higher-priority-advert [cancel-announce remove-vips] master 192.0.2.3
}
