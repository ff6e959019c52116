package daemon

import (
	"context"
	"testing"
	"time"

	"github.com/vipd/vipd/election"
	"github.com/vipd/vipd/vrrp"
)

// rxChain is the receive path of a Backup that hears its Master, end to end
// but for the kernel: a fake shared socket, its reader goroutine (read,
// demultiplex by VRID, copy into a pooled buffer, hand over), and the
// instance's loop body (RFC 9568 §7.1 checks, the machine's step, the
// buffer's release, the deadline).
type rxChain struct {
	in  *instance
	raw *fakeRaw
	pkt vrrp.Packet
}

func newRxChain(t testing.TB) *rxChain {
	t.Helper()
	h := newLAN().host("198.18.0.11")
	var raw *fakeRaw
	table := newSocketTable(func(ifi *netInterface, fam int, mc bool) (rawSocket, error) {
		raw = newFakeRaw(ifi.Index, mc)
		return raw, nil
	})
	deps := h.deps()
	deps.listen = table.listen
	in, err := newInstance(testInstance(1, 100), discard, deps, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(func() {
		cancel()
		in.unbind()
	})
	in.ctx = ctx
	in.spawn = func(string, func()) { t.Fatal("the shared socket needs no read loop of the instance") }
	in.rebind(time.Now())
	c := &rxChain{in: in, raw: raw, pkt: advertFrom(t, "198.18.0.2", 1, 200)}
	c.once() // the first advert from the Master: learnt
	if st := in.m.Status(); st.State != election.Backup || st.Master != c.pkt.Src {
		t.Fatalf("setup: %v with master %v, want Backup hearing %v", st.State, st.Master, c.pkt.Src)
	}
	return c
}

// once carries one advert through the chain, as the loop does.
func (c *rxChain) once() {
	c.raw.in <- c.pkt
	pk := <-c.in.pkts
	if pk.gen == c.in.gen {
		c.in.receive(time.Now(), pk.p)
	}
	pk.release()
	c.in.armDeadline()
}

// TestReceivePathAllocatesNothing: a Backup hearing its Master allocates
// nothing per advert (issue 12): a regression here is garbage at every advert
// of every instance. The deadline is re-armed at every advert, on the
// runtime's timers (tests) and on the timerfd (the daemon).
func TestReceivePathAllocatesNothing(t *testing.T) {
	for _, timer := range []string{"runtime", "timerfd"} {
		t.Run(timer, func(t *testing.T) {
			c := newRxChain(t)
			if timer == "timerfd" {
				ft := openTestTimer(t)
				c.in.deadline, c.in.armed = ft, time.Time{}
			}
			before := c.in.received
			if n := testing.AllocsPerRun(1000, c.once); n != 0 {
				t.Errorf("the receive path allocates %v times per advert, want 0", n)
			}
			if got := c.in.received - before; got < 1000 {
				t.Errorf("%d adverts accepted, want every one of the 1001", got)
			}
			if st := c.in.m.Status(); st.State != election.Backup {
				t.Errorf("state %v after the run, want Backup", st.State)
			}
			if c.in.armed.IsZero() {
				t.Error("the deadline is not armed after the adverts")
			}
		})
	}
}

// BenchmarkReceive is the receive path of TestReceivePathAllocatesNothing:
//
//	go test -run X -bench Receive -benchmem ./daemon/
func BenchmarkReceive(b *testing.B) {
	c := newRxChain(b)
	b.ReportAllocs()
	for b.Loop() {
		c.once()
	}
}
