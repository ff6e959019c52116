//go:build integration

package integration

// The prober is the client's view of the VIP. Every host runs a UDP responder
// that answers "<seq> <host name>" from the address the probe was sent to;
// the client sends a probe to the VIP every 10 ms and records who answered and
// when. An outage is the longest time the client went without an answer.
//
// Sockets are created inside their namespace by inNetns and then served from
// ordinary goroutines.

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

const (
	probePort     = 7007
	probeInterval = 10 * time.Millisecond
)

// startResponders starts a UDP responder on every host (once per lab).
func (l *lab) startResponders() {
	l.t.Helper()
	l.mu.Lock()
	if l.responding {
		l.mu.Unlock()
		return
	}
	l.responding = true
	l.mu.Unlock()
	for _, h := range l.hosts {
		var c4 *ipv4.PacketConn
		var c6 *ipv6.PacketConn
		err := inNetns(h.NS, func() error {
			pc, err := net.ListenPacket("udp4", fmt.Sprintf("0.0.0.0:%d", probePort))
			if err != nil {
				return err
			}
			c4 = ipv4.NewPacketConn(pc)
			if err := c4.SetControlMessage(ipv4.FlagDst|ipv4.FlagInterface, true); err != nil {
				return err
			}
			pc6, err := net.ListenPacket("udp6", fmt.Sprintf("[::]:%d", probePort))
			if err != nil {
				return err
			}
			c6 = ipv6.NewPacketConn(pc6)
			return c6.SetControlMessage(ipv6.FlagDst|ipv6.FlagInterface, true)
		})
		if err != nil {
			l.t.Fatalf("harness: responder on %s: %v", h.Name, err)
		}
		name := []byte(h.Name)
		go serve4(c4, name)
		go serve6(c6, name)
		l.onTeardown(func() { c4.Close(); c6.Close() })
	}
}

// serve4 answers each probe from the address it was sent to, so a client
// with a connected socket would accept it too.
func serve4(c *ipv4.PacketConn, name []byte) {
	buf := make([]byte, 1500)
	for {
		n, cm, src, err := c.ReadFrom(buf)
		if err != nil {
			return
		}
		reply := append(append(append([]byte{}, firstField(buf[:n])...), ' '), name...)
		var wcm *ipv4.ControlMessage
		if cm != nil {
			wcm = &ipv4.ControlMessage{Src: cm.Dst}
		}
		_, _ = c.WriteTo(reply, wcm, src)
	}
}

func serve6(c *ipv6.PacketConn, name []byte) {
	buf := make([]byte, 1500)
	for {
		n, cm, src, err := c.ReadFrom(buf)
		if err != nil {
			return
		}
		reply := append(append(append([]byte{}, firstField(buf[:n])...), ' '), name...)
		var wcm *ipv6.ControlMessage
		if cm != nil {
			wcm = &ipv6.ControlMessage{Src: cm.Dst, IfIndex: cm.IfIndex}
		}
		_, _ = c.WriteTo(reply, wcm, src)
	}
}

func firstField(b []byte) []byte {
	for i, c := range b {
		if c == ' ' {
			return b[:i]
		}
	}
	return b
}

// prober sends probes from the client to one VIP.
type prober struct {
	conn     net.PacketConn
	dst      *net.UDPAddr
	interval time.Duration

	mu      sync.Mutex
	start   time.Time
	stopped time.Time
	sent    []time.Time // by sequence number
	answers []probeAnswer
	seen    map[uint64]int // answers per sequence number

	stop chan struct{}
	done sync.WaitGroup
}

// probeAnswer is one reply the client received.
type probeAnswer struct {
	Seq  uint64
	Host string
	Sent time.Time
	At   time.Time
}

// startProber starts responders on every host and a prober in the client
// aimed at vip. It stops at teardown or with Stop.
func (l *lab) startProber(vip netip.Addr) *prober {
	l.t.Helper()
	l.startResponders()
	p := &prober{
		dst:      net.UDPAddrFromAddrPort(netip.AddrPortFrom(vip, probePort)),
		interval: probeInterval,
		seen:     map[uint64]int{},
		stop:     make(chan struct{}),
	}
	network := "udp4"
	if vip.Is6() {
		network = "udp6"
	}
	err := inNetns(l.cl.NS, func() error {
		c, err := net.ListenPacket(network, ":0")
		p.conn = c
		return err
	})
	if err != nil {
		l.t.Fatalf("harness: prober: %v", err)
	}
	p.start = time.Now()
	p.done.Add(2)
	go p.send()
	go p.receive()
	l.onTeardown(func() { p.Stop() })
	return p
}

func (p *prober) send() {
	defer p.done.Done()
	tick := time.NewTicker(p.interval)
	defer tick.Stop()
	for seq := uint64(0); ; seq++ {
		p.mu.Lock()
		p.sent = append(p.sent, time.Now())
		p.mu.Unlock()
		// Errors (EHOSTUNREACH while ARP fails, ...) are lost probes.
		_, _ = p.conn.WriteTo([]byte(strconv.FormatUint(seq, 10)), p.dst)
		select {
		case <-p.stop:
			return
		case <-tick.C:
		}
	}
}

func (p *prober) receive() {
	defer p.done.Done()
	buf := make([]byte, 1500)
	for {
		n, _, err := p.conn.ReadFrom(buf)
		now := time.Now()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue // ICMP errors surface here on some kernels; they are not answers
		}
		f := strings.SplitN(string(buf[:n]), " ", 2)
		if len(f) != 2 {
			continue
		}
		seq, err := strconv.ParseUint(f[0], 10, 64)
		if err != nil {
			continue
		}
		p.mu.Lock()
		if seq < uint64(len(p.sent)) {
			p.seen[seq]++
			p.answers = append(p.answers, probeAnswer{Seq: seq, Host: f[1], Sent: p.sent[seq], At: now})
		}
		p.mu.Unlock()
	}
}

// Stop stops probing and returns the final report. It is idempotent.
func (p *prober) Stop() probeReport {
	p.mu.Lock()
	if p.stopped.IsZero() {
		p.stopped = time.Now()
		close(p.stop)
		p.mu.Unlock()
		// Let answers in flight arrive before closing the socket.
		time.Sleep(2 * p.interval)
		p.conn.Close()
		p.done.Wait()
	} else {
		p.mu.Unlock()
	}
	return p.Report()
}

// LastHost returns the host that answered the latest probe, and when.
func (p *prober) LastHost() (string, time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.answers) == 0 {
		return "", time.Time{}
	}
	a := p.answers[len(p.answers)-1]
	return a.Host, a.At
}

// Answering reports whether host answered a probe sent within the last window.
func (p *prober) Answering(host string, window time.Duration) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	cut := time.Now().Add(-window)
	for i := len(p.answers) - 1; i >= 0 && p.answers[i].At.After(cut); i-- {
		if p.answers[i].Host == host {
			return true
		}
	}
	return false
}

// StableOn reports whether every answer received during the last window
// came from host, and there were answers throughout it.
func (p *prober) StableOn(host string, window time.Duration) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	if now.Sub(p.start) < window {
		return false
	}
	cut := now.Add(-window)
	var n int
	for i := len(p.answers) - 1; i >= 0 && p.answers[i].At.After(cut); i-- {
		if p.answers[i].Host != host {
			return false
		}
		n++
	}
	return n >= int(window/p.interval)/2
}

// hostRun is a stretch of consecutive answers from one host.
type hostRun struct {
	Host        string
	First, Last time.Time
	Count       int
}

// probeReport is what the client saw.
type probeReport struct {
	Start, End time.Time
	Interval   time.Duration
	Sent       int
	Answered   int // distinct probes answered
	PerHost    map[string]int
	// LongestGap is the longest time between two consecutive answers the
	// client received (or from the last answer to End if none followed).
	LongestGap time.Duration
	GapStart   time.Time // when the last answer before the gap arrived
	GapEnd     time.Time // when the first answer after it arrived (zero if none)
	// Runs is the sequence of answering hosts, in arrival order.
	Runs []hostRun
	// DupAnswers counts probes answered by more than one host.
	DupAnswers int
}

// Outage is the client-observed outage: the longest gap less one probe
// interval (a lossless run has gaps of one interval). Resolution ±interval.
func (r probeReport) Outage() time.Duration {
	if r.LongestGap <= r.Interval {
		return 0
	}
	return r.LongestGap - r.Interval
}

// Hosts returns the answering hosts in order of their runs.
func (r probeReport) Hosts() []string {
	var hs []string
	for _, run := range r.Runs {
		hs = append(hs, run.Host)
	}
	return hs
}

// SplitBrain reports whether the answers look like two masters: a probe
// answered twice, or a host answering again after another took over
// within window (a flap rather than a failover).
func (r probeReport) SplitBrain(window time.Duration) bool {
	if r.DupAnswers > 0 {
		return true
	}
	for i := 2; i < len(r.Runs); i++ {
		if r.Runs[i].Host == r.Runs[i-2].Host && r.Runs[i].First.Sub(r.Runs[i-1].First) < window {
			return true
		}
	}
	return false
}

func (r probeReport) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "sent %d answered %d (%.1f%%) outage %v (longest gap %v from %s)",
		r.Sent, r.Answered, 100*float64(r.Answered)/float64(max(r.Sent, 1)),
		r.Outage().Round(time.Millisecond), r.LongestGap.Round(time.Millisecond),
		r.GapStart.Sub(r.Start).Round(time.Millisecond))
	hosts := make([]string, 0, len(r.PerHost))
	for h := range r.PerHost {
		hosts = append(hosts, h)
	}
	sort.Strings(hosts)
	b.WriteString(" per host:")
	for _, h := range hosts {
		fmt.Fprintf(&b, " %s=%d", h, r.PerHost[h])
	}
	b.WriteString(" runs:")
	for _, run := range r.Runs {
		fmt.Fprintf(&b, " %s[%s..%s]x%d", run.Host,
			run.First.Sub(r.Start).Round(time.Millisecond), run.Last.Sub(r.Start).Round(time.Millisecond), run.Count)
	}
	if r.DupAnswers > 0 {
		fmt.Fprintf(&b, " DUPLICATE ANSWERS %d", r.DupAnswers)
	}
	return b.String()
}

// Report summarises the answers so far.
func (p *prober) Report() probeReport {
	p.mu.Lock()
	defer p.mu.Unlock()
	end := p.stopped
	if end.IsZero() {
		end = time.Now()
	}
	r := probeReport{Start: p.start, End: end, Interval: p.interval, Sent: len(p.sent), PerHost: map[string]int{}}
	for _, c := range p.seen {
		if c > 1 {
			r.DupAnswers++
		}
	}
	r.Answered = len(p.seen)
	var prev time.Time
	for _, a := range p.answers {
		r.PerHost[a.Host]++
		if n := len(r.Runs); n > 0 && r.Runs[n-1].Host == a.Host {
			r.Runs[n-1].Last = a.At
			r.Runs[n-1].Count++
		} else {
			r.Runs = append(r.Runs, hostRun{Host: a.Host, First: a.At, Last: a.At, Count: 1})
		}
		if !prev.IsZero() && a.At.Sub(prev) > r.LongestGap {
			r.LongestGap, r.GapStart, r.GapEnd = a.At.Sub(prev), prev, a.At
		}
		prev = a.At
	}
	if !prev.IsZero() && end.Sub(prev) > r.LongestGap+p.interval {
		// Still no answer at the end: the outage is ongoing.
		r.LongestGap, r.GapStart, r.GapEnd = end.Sub(prev), prev, time.Time{}
	}
	return r
}

// LongestGapIn returns the longest time without an answer within [from, to]:
// between from and the first answer, between consecutive answers, and from
// the last answer to to.
func (p *prober) LongestGapIn(from, to time.Time) time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	// Answers arrive in order: skip to the first one at or after from.
	i := sort.Search(len(p.answers), func(i int) bool { return !p.answers[i].At.Before(from) })
	prev, longest := from, time.Duration(0)
	for ; i < len(p.answers) && !p.answers[i].At.After(to); i++ {
		longest = max(longest, p.answers[i].At.Sub(prev))
		prev = p.answers[i].At
	}
	return max(longest, to.Sub(prev))
}
