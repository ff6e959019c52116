package election

import (
	"testing"
	"time"
)

// advertTimes starts a machine at start, lets it take over when its
// Master_Down_Timer fires (returned as took), and returns when its
// periodic adverts went out until end, stepping at each deadline with a
// timer that fires lag late.
func advertTimes(t *testing.T, cfg Config, start, end time.Time, lag time.Duration) (took time.Time, out []time.Time) {
	t.Helper()
	m, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	m.Step(start, Event{Kind: EventStartup})
	now := m.Deadline()
	for _, a := range m.Step(now, Event{Kind: EventTimer}) {
		if a.Kind == ActAddVIPs {
			m.Step(now, Event{Kind: EventAddOK})
		}
	}
	if st := m.Status(); st.State != Master {
		t.Fatalf("setup: %v, want Master", st.State)
	}
	took = now
	for {
		dl := m.Deadline()
		if dl.IsZero() || dl.After(end) {
			return took, out
		}
		at := dl.Add(lag)
		for _, a := range m.Step(at, Event{Kind: EventTimer}) {
			if a.Kind == ActSendAdvert {
				out = append(out, at)
			}
		}
	}
}

// With AlignAdverts the periodic adverts of a Master move onto the clock's
// grid of the interval after one advert, and then go out one interval
// apart; two Masters that took over at different moments advertise at the
// same instants. The one irregular gap is shorter than an interval, never
// longer: alignment never brings a Backup's Master_Down_Timer closer.
func TestAlignAdverts(t *testing.T) {
	for _, iv := range []time.Duration{10 * time.Millisecond, 100 * time.Millisecond, time.Second} {
		cfg := validConfig()
		cfg.AdvertInterval = iv
		cfg.AnnounceInterval = 10 * iv // keep announcement rounds out of the way
		cfg.AlignAdverts = true
		base := time.Date(2026, 12, 1, 16, 0, 0, 0, time.UTC)
		end := base.Add(40 * iv)
		var runs [][]time.Time
		for _, phase := range []time.Duration{iv / 7, iv / 2, 4 * iv / 5} {
			took, times := advertTimes(t, cfg, base.Add(phase), end, 30*time.Microsecond)
			if len(times) < 20 {
				t.Fatalf("interval %v phase %v: %d adverts, want about 26", iv, phase, len(times))
			}
			prev := took
			for i, at := range times {
				// Early, never late: a Backup never waits longer than one
				// interval (and the timer's lag) between two adverts.
				gap := at.Sub(prev)
				if gap <= 0 || gap > iv+30*time.Microsecond {
					t.Errorf("interval %v phase %v: advert %d %v after the one before, want within (0, %v]", iv, phase, i, gap, iv)
				}
				if i >= 1 {
					if off := time.Duration(at.Add(-30*time.Microsecond).UnixNano() % int64(iv)); off != 0 {
						t.Errorf("interval %v phase %v: advert %d is %v off the grid", iv, phase, i, off)
					}
				}
				prev = at
			}
			runs = append(runs, times[2:])
		}
		for _, r := range runs[1:] {
			if !r[len(r)-1].Equal(runs[0][len(runs[0])-1]) {
				t.Errorf("interval %v: Masters of different phases end on %v and %v, want the same instant", iv, r[len(r)-1], runs[0][len(runs[0])-1])
			}
		}
	}
}

// Without it, adverts are exactly one interval apart from the takeover
// (RFC 9568 §6.4.3), as the scripts expect.
func TestAdvertsUnaligned(t *testing.T) {
	cfg := validConfig()
	cfg.AdvertInterval = 100 * time.Millisecond
	cfg.AnnounceInterval = time.Second
	start := time.Date(2026, 12, 1, 16, 0, 0, 37_000_000, time.UTC)
	took, times := advertTimes(t, cfg, start, start.Add(2*time.Second), 0)
	if len(times) < 10 {
		t.Fatalf("%d adverts, want about 15", len(times))
	}
	for i, at := range times {
		if want := took.Add(time.Duration(i+1) * cfg.AdvertInterval); !at.Equal(want) {
			t.Fatalf("advert %d at %v after the takeover, want %v", i, at.Sub(took), want.Sub(took))
		}
	}
}
