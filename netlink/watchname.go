package netlink

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
)

// LinkByName returns the current state of the link called name (its Index
// included) and its addresses, as prefixes with their lengths. A name no link
// has is ErrNoLink.
//
// An ifindex, a MAC and addresses are what the kernel can change under a
// running vipd: read them here on each LinkAdded or LinkChanged, never keep
// them for the life of the process.
func (h *Handle) LinkByName(name string) (LinkState, []netip.Prefix, error) {
	l, err := h.rt.linkByName(name)
	if err != nil {
		return LinkState{}, nil, fmt.Errorf("netlink: link %q: %w", name, linkErr(err))
	}
	ps, err := h.prefixes(l.Index)
	if err != nil {
		return LinkState{}, nil, fmt.Errorf("netlink: link %q: %w", name, err)
	}
	return l.state(), ps, nil
}

// prefixes returns the addresses on one link from a dump.
func (h *Handle) prefixes(ifindex int) ([]netip.Prefix, error) {
	all, err := h.rt.addrList()
	if err != nil {
		return nil, fmt.Errorf("list addresses: %w", err)
	}
	var out []netip.Prefix
	for _, a := range all {
		if a.Index == ifindex {
			out = append(out, a.Prefix)
		}
	}
	return out, nil
}

// WatchName reports what happens to the link called name, following the
// name rather than an ifindex, so that it survives the link being deleted
// and created again (a bond or VLAN rebuilt, a driver reloaded):
//
//   - The first Update is the state at subscription time: LinkChanged with
//     the link's state and Prefixes, or LinkDeleted (Index 0) if no link has
//     the name.
//   - LinkDeleted when the link is deleted, renamed, or leaves the namespace.
//     The channel stays open.
//   - LinkAdded when a link of that name appears (created, renamed to it, or
//     moved in), with its new Index, its state and its Prefixes. Should a new
//     link of the name be seen before the old one's deletion, LinkDeleted for
//     the old comes first.
//   - LinkChanged when the current link's LinkState changes: up or down, a
//     new MAC (bond fail-over, `ip link set dev X address ...`).
//   - AddrAdded and AddrRemoved for addresses of the current link (a source
//     address arriving late from DHCP, or removed).
//
// Address and link messages come from separate sockets, so an address change
// racing a LinkAdded may be reported only in its Prefixes. The channel is
// closed when ctx ends or the subscription fails (ENOBUFS); then resynchronise
// with LinkByName and call WatchName again.
func (h *Handle) WatchName(ctx context.Context, name string) (<-chan Update, error) {
	if name == "" {
		return nil, fmt.Errorf("netlink: watch: %w: empty interface name", ErrNoLink)
	}
	done := make(chan struct{})
	links := make(chan linkEvent, 16)
	addrs := make(chan addrEvent, 16)
	if err := h.rt.subscribe(done, links, addrs); err != nil {
		close(done)
		return nil, fmt.Errorf("netlink: watch link %q: %w", name, err)
	}
	first := Update{Kind: LinkChanged}
	cur, ps, err := h.LinkByName(name)
	switch {
	case errors.Is(err, ErrNoLink):
		first = Update{Kind: LinkDeleted, Link: LinkState{Name: name}}
		cur = LinkState{}
	case err != nil:
		close(done)
		go drain(links, addrs)
		return nil, fmt.Errorf("netlink: watch: %w", err)
	default:
		first.Link, first.Prefixes = cur, ps
	}
	out := make(chan Update)
	go func() {
		defer func() {
			// A bug here must not take the process down with the VIPs on
			// the host: the channel closes, and the caller subscribes again.
			_ = recover()
			close(done)
			close(out)
			drain(links, addrs)
		}()
		pending := []Update{first}
		for {
			var send chan Update
			var next Update
			if len(pending) > 0 {
				send, next = out, pending[0]
			}
			select {
			case <-ctx.Done():
				return
			case send <- next:
				pending = pending[1:]
			case e, ok := <-links:
				if !ok {
					return
				}
				var us []Update
				cur, us = h.nameEvent(name, cur, e)
				pending = append(pending, us...)
			case e, ok := <-addrs:
				if !ok {
					return
				}
				if cur.Index == 0 || e.Index != cur.Index {
					continue
				}
				k := AddrAdded
				if e.Removed {
					k = AddrRemoved
				}
				pending = append(pending, Update{Kind: k, Addr: e.Addr})
			}
		}
	}()
	return out, nil
}

// nameEvent applies one link message to the watch of name, whose current link
// is cur (Index 0: none), and returns the new current link and the updates.
func (h *Handle) nameEvent(name string, cur LinkState, e linkEvent) (LinkState, []Update) {
	e.Link.Index = e.Index
	s := e.Link.state()
	gone := func() Update {
		return Update{Kind: LinkDeleted, Link: LinkState{Name: name, Index: cur.Index, HardwareAddr: cur.HardwareAddr}}
	}
	switch {
	case cur.Index != 0 && e.Index == cur.Index:
		if e.Deleted || e.Link.Name != name {
			return LinkState{}, []Update{gone()}
		}
		if s.equal(cur) {
			return cur, nil
		}
		return s, []Update{{Kind: LinkChanged, Link: s}}
	case e.Deleted || e.Link.Name != name:
		return cur, nil // another link
	}
	// A link of our name that is not the current one.
	var us []Update
	if cur.Index != 0 {
		us = append(us, gone())
	}
	// Its addresses so far; an error leaves them to AddrAdded and LinkByName.
	ps, _ := h.prefixes(e.Index)
	return s, append(us, Update{Kind: LinkAdded, Link: s, Prefixes: ps})
}
