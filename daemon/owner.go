package daemon

import (
	"errors"
	"net/netip"
	"slices"

	"github.com/vipd/vipd/election"
	"github.com/vipd/vipd/netlink"
)

// A Backup of an address owner (RFC 9568 §1.6) holds, while Master, an
// address that is the owner's own: the owner's adverts then come from an
// address that is local here, and Linux drops them before any socket sees
// them unless the interface has net.ipv4.conf.<if>.accept_local=1. The Backup
// would never hear the owner come back, and both would answer for the
// address. So, for as long as it holds IPv4 VIPs, vipd turns accept_local on,
// through rtnetlink (no writable /proc/sys needed), and restores it when it
// lets go. (IPv6 adverts come from link-local addresses: no such problem.)

// acceptLocalSetter is the part of *netlink.Handle that sets accept_local.
type acceptLocalSetter interface {
	SetAcceptLocal(ifindex int, on bool) error
}

// noteOwner remembers that the router at src owns one of our VIPs: an
// advert of priority 255 from one of them.
func (in *instance) noteOwner(src netip.Addr, prio uint8) {
	if prio != election.PriorityOwner || !src.Is4() || in.ownerAddr == src || !slices.Contains(in.cfg.VIPs, src) {
		return
	}
	in.ownerAddr = src
	in.log.Info("the address owner is on the link; while master this host holds its address and accepts packets from it (accept_local)", "owner", src.String())
}

// holdsOwnersAddress reports whether a VIP may be another router's own
// address. vipd cannot know that for sure: a Backup that took over while the
// owner was away (a cold boot in the wrong order, a restart) never heard it.
// So every IPv4 VIP counts: accept_local is on for exactly as long as this
// host holds them, and restored when it lets go.
func (in *instance) holdsOwnersAddress() bool {
	return !in.owner() && in.cfg.Family() == 4
}

// acceptOwner turns accept_local on while we hold an owner's address, and
// back off (if it was off) when we let go.
func (in *instance) acceptOwner(on bool) {
	s, ok := in.os.addrs.(acceptLocalSetter)
	if !ok || in.bind.ifi == nil {
		return
	}
	idx := in.bind.ifi.Index
	switch {
	case on && !in.acceptLocalSet && in.holdsOwnersAddress():
		if in.os.reg != nil && in.os.reg.acceptLocalHold(idx) {
			in.acceptLocalSet = true // another instance here turned it on
			return
		}
		if already, err := netlink.AcceptLocal(in.bind.ifi.Name); err == nil && already {
			if in.os.reg != nil {
				in.os.reg.acceptLocalRelease(idx) // the operator's setting: leave it
			}
			return
		}
		if err := s.SetAcceptLocal(idx, true); err != nil {
			if in.os.reg != nil {
				in.os.reg.acceptLocalRelease(idx)
			}
			in.logErr("turning accept_local on (the owner's adverts will not be heard)", err)
			return
		}
		in.acceptLocalSet = true
	case !on && in.acceptLocalSet:
		in.acceptLocalSet = false
		if in.os.reg != nil && !in.os.reg.acceptLocalRelease(idx) {
			return // another instance on this interface still holds VIPs
		}
		if err := s.SetAcceptLocal(idx, false); err != nil && !errors.Is(err, netlink.ErrNoLink) {
			in.logErr("turning accept_local off", err)
		}
	}
}
