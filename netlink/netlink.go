package netlink

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"

	vnl "github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// AddrProto is the address protocol (IFA_PROTO, Linux 5.18 and later) that
// vipd stamps on every VIP it adds, so that a vipd restarted after a crash can
// find and remove the VIPs its predecessor left behind (see Stale). The kernel
// reserves 0 to 3 for its own addresses; 112 is VRRP's IP protocol number.
// Operators see it as "proto 112" in `ip address show` and can list vipd's
// addresses with `ip address show proto 112`.
const AddrProto = 112

// Errors callers decide on. Every error this package returns is prefixed
// "netlink: " and wraps the kernel's errno where there is one.
var (
	// ErrInvalidAddr is returned for an invalid, zoned or IPv4-mapped address.
	ErrInvalidAddr = errors.New("netlink: invalid address")
	// ErrNoLink is returned when no link has the given index or name.
	ErrNoLink = errors.New("netlink: link not found")
)

// LinkState is what vipd needs to know about a link.
type LinkState struct {
	// Up reports whether the link can carry traffic: administratively up
	// (IFF_UP), with carrier (IFF_LOWER_UP) and operationally up (IFF_RUNNING,
	// operstate "up", or "unknown" as drivers without operstate support
	// report). A veth whose peer is down or gone reports false.
	Up           bool
	Name         string
	HardwareAddr net.HardwareAddr
	// Index is the link's ifindex. A link deleted and created again under
	// the same name has a new one.
	Index int
}

// UpdateKind says what an Update reports.
type UpdateKind int

// Kinds of Update.
const (
	LinkChanged UpdateKind = iota + 1 // Link holds the new state
	AddrRemoved                       // Addr was removed from the link
	AddrAdded                         // Addr was added to the link
	// LinkAdded (WatchName only): a link of the watched name appeared, or
	// replaced the one watched. Link holds its state, with its new Index,
	// and Prefixes its addresses.
	LinkAdded
	// LinkDeleted (WatchName only): no link has the watched name any more
	// (deleted, renamed, or moved to another namespace). Link holds the
	// name and the Index it had, Up false.
	LinkDeleted
)

func (k UpdateKind) String() string {
	switch k {
	case LinkChanged:
		return "link-changed"
	case AddrRemoved:
		return "addr-removed"
	case AddrAdded:
		return "addr-added"
	case LinkAdded:
		return "link-added"
	case LinkDeleted:
		return "link-deleted"
	default:
		return fmt.Sprintf("UpdateKind(%d)", int(k))
	}
}

// An Update is one change on a watched link.
type Update struct {
	Kind UpdateKind
	Link LinkState  // for LinkChanged, LinkAdded, LinkDeleted
	Addr netip.Addr // for AddrRemoved and AddrAdded
	// Prefixes are the link's addresses, for LinkAdded and for the first
	// Update of WatchName (read just after the link event, so none that
	// raced it is missed).
	Prefixes []netip.Prefix
}

// ifaddr is one address as rtnetlink carries it (struct ifaddrmsg plus the
// attributes vipd uses).
type ifaddr struct {
	Index  int
	Prefix netip.Prefix
	Flags  uint32 // IFA_F_*
	Proto  uint8  // IFA_PROTO
	// Deprecated sends IFA_CACHEINFO with preferred lifetime 0 and valid
	// lifetime forever (RFC 4862 §5.5.4: a deprecated address).
	Deprecated bool
}

// rtnl is the kernel boundary. The real one is sysRTNL; tests use fakes.
type rtnl interface {
	addrAdd(a ifaddr) error               // RTM_NEWADDR with NLM_F_CREATE|NLM_F_EXCL
	addrDel(a ifaddr) error               // RTM_DELADDR
	addrList() ([]ifaddr, error)          // RTM_GETADDR dump, all links
	link(ifindex int) (link, error)       // RTM_GETLINK
	linkByName(name string) (link, error) // RTM_GETLINK by IFLA_IFNAME
	subscribe(done <-chan struct{}, links chan<- linkEvent, addrs chan<- addrEvent) error
	close() error
}

// link is the subset of a link's attributes that LinkState derives from.
type link struct {
	Index     int
	Name      string
	HW        net.HardwareAddr
	Flags     uint32 // IFF_*, as in ifinfomsg.ifi_flags
	OperState uint8  // IF_OPER_*, IFLA_OPERSTATE
}

// linkEvent is one RTM_NEWLINK or RTM_DELLINK message.
type linkEvent struct {
	Index   int
	Deleted bool
	Link    link
}

// addrEvent is one RTM_NEWADDR or RTM_DELADDR message.
type addrEvent struct {
	Index   int
	Addr    netip.Addr
	Removed bool
}

// A Handle manages VIPs and watches links in the network namespace it was
// opened in. It is safe for concurrent use.
type Handle struct {
	rt rtnl
}

// Open opens rtnetlink sockets in the calling thread's network namespace.
func Open() (*Handle, error) {
	rt, err := openRTNL()
	if err != nil {
		return nil, fmt.Errorf("netlink: open: %w", err)
	}
	return &Handle{rt: rt}, nil
}

// Close closes the Handle's sockets. Channels from Watch close when their
// context ends, not on Close.
func (h *Handle) Close() error {
	if err := h.rt.close(); err != nil {
		return fmt.Errorf("netlink: close: %w", err)
	}
	return nil
}

// vipPrefix checks addr and returns it as a host prefix: /32 or /128.
func vipPrefix(addr netip.Addr) (netip.Prefix, error) {
	if !addr.IsValid() || addr.Zone() != "" || addr.Is4In6() || addr.IsUnspecified() {
		return netip.Prefix{}, fmt.Errorf("%w: %q", ErrInvalidAddr, addr)
	}
	return netip.PrefixFrom(addr, addr.BitLen()), nil
}

// AddVIP adds addr to the link as a host address (/32 or /128) marked with
// AddrProto. An address that is already present counts as success (and keeps
// the flags and lifetimes it has).
//
// An IPv6 VIP skips duplicate address detection (IFA_F_NODAD): RFC 9568 §8.2
// has the backup answer nothing for it, and the VIP must serve at once. It is
// also deprecated from the start: preferred lifetime 0, valid lifetime
// forever (IFA_CACHEINFO; RFC 4862 §5.5.4). It receives and answers as any
// address, but source address selection avoids it (RFC 6724 §5, rule 3), so
// outgoing connections (etcd, kubelet) leave from the host's own address and
// do not break when the VIP moves. `ip -6 addr` shows it "deprecated" with
// "preferred_lft 0sec". An IPv4 VIP has no such mechanism and is added plain.
func (h *Handle) AddVIP(ifindex int, addr netip.Addr) error {
	p, err := vipPrefix(addr)
	if err != nil {
		return err
	}
	a := ifaddr{Index: ifindex, Prefix: p, Proto: AddrProto}
	if addr.Is6() {
		a.Flags = unix.IFA_F_NODAD
		a.Deprecated = true
	}
	if err := h.rt.addrAdd(a); err != nil && !errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("netlink: add %s to link %d: %w", p, ifindex, linkErr(err))
	}
	return nil
}

// DelVIP removes the host address addr (/32 or /128) from the link. An address
// that is not present counts as success.
func (h *Handle) DelVIP(ifindex int, addr netip.Addr) error {
	p, err := vipPrefix(addr)
	if err != nil {
		return err
	}
	if err := h.rt.addrDel(ifaddr{Index: ifindex, Prefix: p}); err != nil && !errors.Is(err, unix.EADDRNOTAVAIL) {
		return fmt.Errorf("netlink: delete %s from link %d: %w", p, ifindex, linkErr(err))
	}
	return nil
}

// HasVIP reports whether the host address addr (exactly /32 or /128) is on the
// link, marked or not. The same address with another prefix length does not
// count.
func (h *Handle) HasVIP(ifindex int, addr netip.Addr) (bool, error) {
	p, err := vipPrefix(addr)
	if err != nil {
		return false, err
	}
	as, err := h.addrs(ifindex)
	if err != nil {
		return false, err
	}
	for _, a := range as {
		if a.Prefix == p {
			return true, nil
		}
	}
	return false, nil
}

// Stale returns the addresses on the link that carry vipd's mark (AddrProto),
// whoever added them. At startup, before any instance runs, these are VIPs
// left by a vipd that did not exit cleanly.
func (h *Handle) Stale(ifindex int) ([]netip.Addr, error) {
	as, err := h.addrs(ifindex)
	if err != nil {
		return nil, err
	}
	var out []netip.Addr
	for _, a := range as {
		if a.Proto == AddrProto {
			out = append(out, a.Prefix.Addr())
		}
	}
	return out, nil
}

// addrs returns the addresses on one link.
func (h *Handle) addrs(ifindex int) ([]ifaddr, error) {
	// The dump has to be checked for the link: an address dump of a missing
	// link is simply empty.
	if _, err := h.rt.link(ifindex); err != nil {
		return nil, fmt.Errorf("netlink: list addresses of link %d: %w", ifindex, linkErr(err))
	}
	all, err := h.rt.addrList()
	if err != nil {
		return nil, fmt.Errorf("netlink: list addresses of link %d: %w", ifindex, err)
	}
	var out []ifaddr
	for _, a := range all {
		if a.Index == ifindex {
			out = append(out, a)
		}
	}
	return out, nil
}

// Link returns the link's current state.
func (h *Handle) Link(ifindex int) (LinkState, error) {
	l, err := h.rt.link(ifindex)
	if err != nil {
		return LinkState{}, fmt.Errorf("netlink: link %d: %w", ifindex, linkErr(err))
	}
	l.Index = ifindex
	return l.state(), nil
}

func (l link) state() LinkState {
	// IFF_RUNNING follows the operstate, which the kernel updates from its
	// link watch work, up to a second after the carrier changes;
	// IFF_LOWER_UP is the carrier itself.
	const usable = unix.IFF_UP | unix.IFF_RUNNING | unix.IFF_LOWER_UP
	ok := l.Flags&usable == usable
	switch l.OperState {
	case uint8(vnl.OperUp), uint8(vnl.OperUnknown):
	default:
		ok = false
	}
	return LinkState{Up: ok, Name: l.Name, HardwareAddr: l.HW, Index: l.Index}
}

// linkErr maps "no such link" errnos to ErrNoLink, keeping the errno.
func linkErr(err error) error {
	var nf vnl.LinkNotFoundError
	if errors.As(err, &nf) || errors.Is(err, unix.ENODEV) {
		return fmt.Errorf("%w: %w", ErrNoLink, err)
	}
	return err
}

// Watch reports changes to the link: its state (LinkChanged, only when
// LinkState changes; a deleted link reports Up false) and addresses added to
// or removed from it. The first Update is always LinkChanged with the state at
// subscription time, so nothing falls between a Link call and Watch. The
// channel is closed when ctx ends or the subscription fails (for example the
// kernel dropped messages on an overflowing socket, ENOBUFS); the caller should
// then resynchronise with Link and HasVIP and call Watch again.
func (h *Handle) Watch(ctx context.Context, ifindex int) (<-chan Update, error) {
	done := make(chan struct{})
	links := make(chan linkEvent, 16)
	addrs := make(chan addrEvent, 16)
	if err := h.rt.subscribe(done, links, addrs); err != nil {
		close(done)
		return nil, fmt.Errorf("netlink: watch link %d: %w", ifindex, err)
	}
	first, err := h.Link(ifindex)
	if err != nil {
		close(done)
		go drain(links, addrs)
		return nil, fmt.Errorf("netlink: watch: %w", err)
	}
	out := make(chan Update)
	go func() {
		// Stopping closes the subscription sockets; their readers then close
		// links and addrs, which drain waits for.
		defer func() {
			// A bug here must not take the process down with the VIPs on
			// the host: the channel closes, and the caller subscribes again.
			_ = recover()
			close(done)
			close(out)
			drain(links, addrs)
		}()
		last := first
		pending := []Update{{Kind: LinkChanged, Link: first}}
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
				if e.Index != ifindex {
					continue
				}
				e.Link.Index = e.Index
				s := e.Link.state()
				if e.Deleted {
					s.Up = false
				}
				if !s.equal(last) {
					last = s
					pending = append(pending, Update{Kind: LinkChanged, Link: s})
				}
			case e, ok := <-addrs:
				if !ok {
					return
				}
				if e.Index != ifindex {
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

func (s LinkState) equal(o LinkState) bool {
	return s.Up == o.Up && s.Name == o.Name && string(s.HardwareAddr) == string(o.HardwareAddr) && s.Index == o.Index
}

// drain empties both channels until their senders close them.
func drain(links <-chan linkEvent, addrs <-chan addrEvent) {
	for links != nil || addrs != nil {
		select {
		case _, ok := <-links:
			if !ok {
				links = nil
			}
		case _, ok := <-addrs:
			if !ok {
				addrs = nil
			}
		}
	}
}
