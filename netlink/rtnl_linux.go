package netlink

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"runtime/debug"
	"sync"

	vnl "github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// ifaProto is IFA_PROTO from linux/if_addr.h (Linux 5.18); golang.org/x/sys
// does not name it yet, and vishvananda/netlink v1.3.1 neither sends nor
// parses it, so address requests are built here on the library's nl package.
// Kernels before 5.18 ignore the attribute: the VIPs work but carry no mark.
const ifaProto = 11

// dumpRetries bounds retries of an address dump the kernel flagged as
// interrupted (NLM_F_DUMP_INTR: the list changed while being dumped).
const dumpRetries = 5

// sysRTNL is the kernel side of rtnl. All its sockets live in the network
// namespace that was current when it was opened.
type sysRTNL struct {
	ns netns.NsHandle
	// at is the namespace that sockets are opened in: netns.None() when the calling
	// thread is already in the process's namespace, so that no setns(2) is made.
	// setns needs CAP_SYS_ADMIN, which the pod does not have.
	at      netns.NsHandle
	h       *vnl.Handle
	sockets map[int]*nl.SocketHandle // NETLINK_ROUTE, for address dumps
	changes map[int]*nl.SocketHandle // NETLINK_ROUTE, for adds, deletes, accept_local

	// Requests are made by two goroutines (serve), one per lane: reads
	// (links, address dumps) and changes (an address added or removed,
	// accept_local), each on sockets of its own, so that a VIP added at a
	// takeover never waits behind a status request's dump of a host with
	// thousands of addresses. closed ends both.
	reads, writes chan rtnlCall
	closed        chan struct{}
	closeOnce     sync.Once
}

// rtnlCall is one request for serve, and where its outcome goes.
type rtnlCall struct {
	f   func() error
	res chan<- rtnlResult
}

type rtnlResult struct {
	err   error
	panic any // what f panicked with, and where
}

func openRTNL() (*sysRTNL, error) {
	ns, err := netns.Get()
	if err != nil {
		return nil, fmt.Errorf("current network namespace: %w", err)
	}
	at := ns
	if proc, err := netns.GetFromPath("/proc/self/ns/net"); err == nil {
		if proc.Equal(ns) {
			at = netns.None()
		}
		proc.Close()
	}
	h, err := vnl.NewHandleAt(at, unix.NETLINK_ROUTE)
	if err != nil {
		ns.Close()
		return nil, err
	}
	s, err := nl.GetNetlinkSocketAt(at, netns.None(), unix.NETLINK_ROUTE)
	if err != nil {
		h.Close()
		ns.Close()
		return nil, err
	}
	w, err := nl.GetNetlinkSocketAt(at, netns.None(), unix.NETLINK_ROUTE)
	if err != nil {
		s.Close()
		h.Close()
		ns.Close()
		return nil, err
	}
	r := &sysRTNL{
		ns:      ns,
		at:      at,
		h:       h,
		sockets: map[int]*nl.SocketHandle{unix.NETLINK_ROUTE: {Socket: s}},
		changes: map[int]*nl.SocketHandle{unix.NETLINK_ROUTE: {Socket: w}},
		reads:   make(chan rtnlCall),
		writes:  make(chan rtnlCall),
		closed:  make(chan struct{}),
	}
	go r.serve(r.reads)
	go r.serve(r.writes)
	return r, nil
}

// read and change run f, a request, on the goroutine of its lane and
// return its error; a panic in f is raised again here, in the caller.
//
// vishvananda/netlink reads every reply into a 64 KiB array on the stack
// (nl.NetlinkSocket.Receive), so a goroutine that has made one request keeps
// a stack of 128 KiB: every instance's loop did, which was most of what
// each VRID added to vipd's memory (issue 12). Two goroutines make them
// all, and only their stacks are that large.
func (r *sysRTNL) read(f func() error) error { return r.do(r.reads, f) }

func (r *sysRTNL) change(f func() error) error { return r.do(r.writes, f) }

func (r *sysRTNL) do(lane chan rtnlCall, f func() error) error {
	select {
	case <-r.closed:
		return fmt.Errorf("rtnetlink handle: %w", net.ErrClosed)
	default:
	}
	res := make(chan rtnlResult, 1)
	select {
	case lane <- rtnlCall{f: f, res: res}:
	case <-r.closed:
		return fmt.Errorf("rtnetlink handle: %w", net.ErrClosed)
	}
	out := <-res // serve answers every call it takes
	if out.panic != nil {
		panic(out.panic)
	}
	return out.err
}

// serve makes the requests of one lane until close.
func (r *sysRTNL) serve(lane chan rtnlCall) {
	for {
		select {
		case c := <-lane:
			c.res <- runCall(c.f)
		case <-r.closed:
			return
		}
	}
}

func runCall(f func() error) (res rtnlResult) {
	defer func() {
		if p := recover(); p != nil {
			res.panic = fmt.Sprintf("netlink request: %v\n%s", p, debug.Stack())
		}
	}()
	return rtnlResult{err: f()}
}

func (r *sysRTNL) close() error {
	var err error
	r.closeOnce.Do(func() {
		close(r.closed)
		r.h.Close()
		r.sockets[unix.NETLINK_ROUTE].Close()
		r.changes[unix.NETLINK_ROUTE].Close()
		err = r.ns.Close()
	})
	return err
}

// request builds a read (a dump); changeRequest a change.
func (r *sysRTNL) request(typ, flags int) *nl.NetlinkRequest {
	req := nl.NewNetlinkRequest(typ, flags)
	req.Sockets = r.sockets
	return req
}

func (r *sysRTNL) changeRequest(typ, flags int) *nl.NetlinkRequest {
	req := nl.NewNetlinkRequest(typ, flags)
	req.Sockets = r.changes
	return req
}

// addrMsg builds the ifaddrmsg and address attributes shared by RTM_NEWADDR
// and RTM_DELADDR for a host address.
func addrMsg(req *nl.NetlinkRequest, a ifaddr) {
	family := unix.AF_INET6
	if a.Prefix.Addr().Is4() {
		family = unix.AF_INET
	}
	msg := nl.NewIfAddrmsg(family)
	msg.Index = uint32(a.Index)
	msg.Prefixlen = uint8(a.Prefix.Bits())
	req.AddData(msg)
	ip := a.Prefix.Addr().AsSlice()
	req.AddData(nl.NewRtAttr(unix.IFA_LOCAL, ip))
	req.AddData(nl.NewRtAttr(unix.IFA_ADDRESS, ip))
}

func (r *sysRTNL) addrAdd(a ifaddr) error {
	req := r.changeRequest(unix.RTM_NEWADDR, unix.NLM_F_CREATE|unix.NLM_F_EXCL|unix.NLM_F_ACK)
	addrMsg(req, a)
	if a.Flags != 0 {
		req.AddData(nl.NewRtAttr(unix.IFA_FLAGS, nl.Uint32Attr(a.Flags)))
	}
	if a.Proto != 0 {
		req.AddData(nl.NewRtAttr(ifaProto, nl.Uint8Attr(a.Proto)))
	}
	if a.Deprecated {
		req.AddData(nl.NewRtAttr(unix.IFA_CACHEINFO, cacheInfoDeprecated()))
	}
	_, err := r.execute(req, 0)
	return err
}

// execute sends req on its lane (a change when it is an acknowledged
// request on the change sockets) and returns the replies of type resType
// (0: an acknowledgement).
func (r *sysRTNL) execute(req *nl.NetlinkRequest, resType uint16) ([][]byte, error) {
	lane := r.read
	if req.Sockets[unix.NETLINK_ROUTE] == r.changes[unix.NETLINK_ROUTE] {
		lane = r.change
	}
	var msgs [][]byte
	err := lane(func() error {
		var err error
		msgs, err = req.Execute(unix.NETLINK_ROUTE, resType)
		return err
	})
	return msgs, err
}

// infinityLifeTime is INFINITY_LIFE_TIME of net/ipv6/addrconf.c: forever.
const infinityLifeTime = 0xFFFFFFFF

// cacheInfoDeprecated is struct ifa_cacheinfo for RTM_NEWADDR with
// ifa_prefered 0 and ifa_valid forever; the kernel ignores cstamp and tstamp
// on requests.
func cacheInfoDeprecated() []byte {
	ci := nl.IfaCacheInfo{}
	ci.Prefered = 0
	ci.Valid = infinityLifeTime
	return ci.Serialize()
}

func (r *sysRTNL) addrDel(a ifaddr) error {
	req := r.changeRequest(unix.RTM_DELADDR, unix.NLM_F_ACK)
	addrMsg(req, a)
	_, err := r.execute(req, 0)
	return err
}

func (r *sysRTNL) addrList() ([]ifaddr, error) {
	var err error
	for range dumpRetries {
		req := r.request(unix.RTM_GETADDR, unix.NLM_F_DUMP)
		req.AddData(nl.NewIfAddrmsg(unix.AF_UNSPEC))
		var msgs [][]byte
		msgs, err = r.execute(req, unix.RTM_NEWADDR)
		if errors.Is(err, nl.ErrDumpInterrupted) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out := make([]ifaddr, 0, len(msgs))
		for _, m := range msgs {
			a, ok := parseIfaddr(m)
			if ok {
				out = append(out, a)
			}
		}
		return out, nil
	}
	return nil, err
}

// parseIfaddr parses an RTM_NEWADDR payload: struct ifaddrmsg, then
// attributes. It reports false for anything that is not a well-formed IPv4 or
// IPv6 address.
func parseIfaddr(b []byte) (ifaddr, bool) {
	if len(b) < unix.SizeofIfAddrmsg {
		return ifaddr{}, false
	}
	msg := nl.DeserializeIfAddrmsg(b)
	attrs, err := nl.ParseRouteAttr(b[unix.SizeofIfAddrmsg:])
	if err != nil {
		return ifaddr{}, false
	}
	a := ifaddr{Index: int(msg.Index), Flags: uint32(msg.Flags)}
	var local, address netip.Addr
	for _, at := range attrs {
		switch at.Attr.Type {
		case unix.IFA_LOCAL:
			local, _ = netip.AddrFromSlice(at.Value)
		case unix.IFA_ADDRESS:
			address, _ = netip.AddrFromSlice(at.Value)
		case unix.IFA_FLAGS:
			if len(at.Value) == 4 {
				a.Flags = nl.NativeEndian().Uint32(at.Value)
			}
		case ifaProto:
			if len(at.Value) == 1 {
				a.Proto = at.Value[0]
			}
		}
	}
	// IPv4 sends IFA_LOCAL (ours) and IFA_ADDRESS (the peer on a
	// point-to-point link); IPv6 sends IFA_ADDRESS alone.
	ip := local
	if !ip.IsValid() {
		ip = address
	}
	if !ip.IsValid() || int(msg.Prefixlen) > ip.BitLen() {
		return ifaddr{}, false
	}
	if (msg.Family == unix.AF_INET) != ip.Is4() {
		return ifaddr{}, false
	}
	a.Prefix = netip.PrefixFrom(ip, int(msg.Prefixlen))
	return a, true
}

func (r *sysRTNL) link(ifindex int) (link, error) {
	var l vnl.Link
	if err := r.read(func() (err error) { l, err = r.h.LinkByIndex(ifindex); return err }); err != nil {
		return link{}, err
	}
	return fromAttrs(l.Attrs()), nil
}

func (r *sysRTNL) linkByName(name string) (link, error) {
	var l vnl.Link
	if err := r.read(func() (err error) { l, err = r.h.LinkByName(name); return err }); err != nil {
		return link{}, err
	}
	return fromAttrs(l.Attrs()), nil
}

func fromAttrs(at *vnl.LinkAttrs) link {
	return link{
		Index:     at.Index,
		Name:      at.Name,
		HW:        at.HardwareAddr,
		Flags:     at.RawFlags,
		OperState: uint8(at.OperState),
	}
}

// subscribe joins RTNLGRP_LINK and the address groups in the Handle's
// namespace. Closing done closes the sockets; links and addrs are closed once
// their readers have stopped.
func (r *sysRTNL) subscribe(done <-chan struct{}, links chan<- linkEvent, addrs chan<- addrEvent) error {
	var ns *netns.NsHandle
	if r.at.IsOpen() {
		ns = &r.at
	}
	lu := make(chan vnl.LinkUpdate)
	au := make(chan vnl.AddrUpdate)
	// Each subscription needs its own done: if the second one fails, the
	// first must be stopped while the caller's done stays open.
	ldone, adone := make(chan struct{}), make(chan struct{})
	err := vnl.LinkSubscribeWithOptions(lu, ldone, vnl.LinkSubscribeOptions{Namespace: ns})
	if err != nil {
		return err
	}
	if err := vnl.AddrSubscribeWithOptions(au, adone, vnl.AddrSubscribeOptions{Namespace: ns}); err != nil {
		close(ldone)
		for range lu {
		}
		return err
	}
	go func() {
		<-done
		close(ldone)
		close(adone)
	}()
	go func() {
		defer close(links)
		for u := range lu {
			links <- linkEvent{
				Index:   int(u.Index),
				Deleted: u.Header.Type == unix.RTM_DELLINK,
				Link:    fromAttrs(u.Attrs()),
			}
		}
	}()
	go func() {
		defer close(addrs)
		for u := range au {
			ip, ok := netip.AddrFromSlice(u.LinkAddress.IP)
			if !ok {
				continue
			}
			if ip.Is4In6() {
				ip = ip.Unmap()
			}
			addrs <- addrEvent{Index: u.LinkIndex, Addr: ip, Removed: !u.NewAddr}
		}
	}()
	return nil
}
