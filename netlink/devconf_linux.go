package netlink

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// ipv4DevconfAcceptLocal is IPV4_DEVCONF_ACCEPT_LOCAL of <linux/ip.h>: the
// index of net.ipv4.conf.<if>.accept_local in IFLA_INET_CONF.
const ipv4DevconfAcceptLocal = 23

// ErrUnsupported is returned by SetAcceptLocal on a Handle that is not
// backed by the kernel.
var ErrUnsupported = errors.New("netlink: not supported by this handle")

// AcceptLocal reports net.ipv4.conf.<name>.accept_local: whether the link
// accepts IPv4 packets whose source is one of the host's own addresses.
// Linux drops them otherwise, before any socket sees them.
func AcceptLocal(name string) (bool, error) {
	b, err := os.ReadFile("/proc/sys/net/ipv4/conf/" + name + "/accept_local")
	if err != nil {
		return false, fmt.Errorf("netlink: reading accept_local of %s: %w", name, err)
	}
	return strings.TrimSpace(string(b)) != "0", nil
}

// SetAcceptLocal sets net.ipv4.conf.<link>.accept_local through rtnetlink
// (RTM_SETLINK with IFLA_AF_SPEC, AF_INET, IFLA_INET_CONF), which needs
// CAP_NET_ADMIN but not a writable /proc/sys: a container's is read-only.
//
// vipd needs it on a Backup that holds the VIP of an address owner: the
// owner's adverts come from that very address, which is then local, and
// without accept_local the kernel drops them, so the Backup would never
// hear the owner come back and both would answer for the address.
func (h *Handle) SetAcceptLocal(ifindex int, on bool) error {
	r, ok := h.rt.(*sysRTNL)
	if !ok {
		return ErrUnsupported
	}
	req := r.changeRequest(unix.RTM_SETLINK, unix.NLM_F_ACK)
	msg := nl.NewIfInfomsg(unix.AF_UNSPEC)
	msg.Index = int32(ifindex)
	req.AddData(msg)
	v := uint32(0)
	if on {
		v = 1
	}
	spec := nl.NewRtAttr(unix.IFLA_AF_SPEC, nil)
	inet := spec.AddRtAttr(unix.AF_INET, nil)
	conf := inet.AddRtAttr(unix.IFLA_INET_CONF, nil)
	conf.AddRtAttr(ipv4DevconfAcceptLocal, nl.Uint32Attr(v))
	req.AddData(spec)
	if _, err := r.execute(req, 0); err != nil {
		return fmt.Errorf("netlink: set accept_local=%d on link %d: %w", v, ifindex, linkErr(err))
	}
	return nil
}
