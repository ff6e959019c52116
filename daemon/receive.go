package daemon

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"time"

	"github.com/vipd/vipd/control"
	"github.com/vipd/vipd/election"
	"github.com/vipd/vipd/vrrp"
)

// maxPeers bounds the table of routers heard: a flood of forged sources must
// not grow it without bound. The oldest entry makes room.
const maxPeers = 32

// readLoop hands packets of one socket that is not shared to the loop until the
// socket is closed. Each packet gets a pooled buffer of vrrp.ReadBufferLen, which
// the loop releases: a valid advert can be far longer than an Ethernet MTU's
// worth of addresses suggests.
func (in *instance) readLoop(gen int, conn packetConn) {
	for {
		b := newRxBuf()
		p, err := conn.Read(b.b[:])
		if err != nil {
			b.release()
			if in.ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			select {
			case in.readErr <- readFailure{gen: gen, err: err}:
			case <-in.ctx.Done():
			}
			return
		}
		select {
		case in.pkts <- packet{gen: gen, p: p, buf: b}:
		case <-in.ctx.Done():
			b.release()
			return
		}
	}
}

// receive validates a packet (RFC 9568 §7.1) and feeds an accepted advert to
// the machine. An accepted advert allocates nothing (in.verdict is reused), so
// that a Backup hearing its Master costs no garbage.
func (in *instance) receive(now time.Time, p vrrp.Packet) {
	if p.Src == in.bind.source {
		return // our own, looped back
	}
	v := &in.verdict
	in.expect.CheckTo(v, vrrp.Received{Payload: p.Payload, Src: p.Src, Dst: p.Dst, TTL: p.TTL})
	if v.Drop != vrrp.DropNone {
		in.drops[v.Drop.String()]++
		if v.Drop != vrrp.DropVRID {
			in.log.Debug("advert dropped", "from", p.Src.String(), "reason", v.Drop.String(), "err", v.Err)
		}
		// Issue 13: another virtual router on our VRID (reported only).
		if v.Drop == vrrp.DropNotPeer || v.Drop == vrrp.DropInterval {
			in.conflictAdvert(now, p.Src, v, in.m.Status())
		}
		return
	}
	in.received++
	if int(v.Checksum) < len(in.forms) {
		in.forms[v.Checksum]++
	}
	peer, known := in.peers.touch(p.Src, now)
	if v.AddressMismatch {
		in.mismatches++
		if !known {
			in.log.Warn("peer advertises other addresses (RFC 9568 §7.1: accepted)",
				"from", p.Src.String(), "theirs", fmt.Sprint(v.Advert.Addresses), "ours", fmt.Sprint(in.advert.Addresses))
		}
	}
	peer.Priority = int(v.Advert.Priority)
	in.noteOwner(p.Src, v.Advert.Priority)
	before := in.m.Status() // issue 13: the detector compares the states
	in.step(now, election.Event{Kind: election.EventAdvert, From: p.Src, Priority: v.Advert.Priority, Interval: v.Advert.Interval})
	in.conflictAdvert(now, p.Src, v, before) // issue 13: reports only
}

// peerTable is the bounded set of routers heard on an instance.
type peerTable struct {
	max   int
	peers map[netip.Addr]*control.Peer
}

func newPeerTable(max int) peerTable {
	return peerTable{max: max, peers: map[netip.Addr]*control.Peer{}}
}

// touch returns the entry of a, made if need be, with LastSeen now; known says
// whether it was there before.
func (t *peerTable) touch(a netip.Addr, now time.Time) (*control.Peer, bool) {
	if p, ok := t.peers[a]; ok {
		p.LastSeen = now
		return p, true
	}
	if len(t.peers) >= t.max {
		var oldest netip.Addr
		for k, p := range t.peers {
			if !oldest.IsValid() || p.LastSeen.Before(t.peers[oldest].LastSeen) {
				oldest = k
			}
		}
		delete(t.peers, oldest)
	}
	p := &control.Peer{Address: a.String(), LastSeen: now}
	t.peers[a] = p
	return p, false
}

// list returns the peers sorted by address.
func (t *peerTable) list() []control.Peer {
	keys := make([]netip.Addr, 0, len(t.peers))
	for k := range t.peers {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, netip.Addr.Compare)
	out := make([]control.Peer, 0, len(keys))
	for _, k := range keys {
		out = append(out, *t.peers[k])
	}
	return out
}
