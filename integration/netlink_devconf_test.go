//go:build integration

package integration

import (
	"strings"
	"testing"

	"github.com/vipd/vipd/netlink"
)

// SetAcceptLocal works through rtnetlink, and the kernel's sysctl follows.
func TestNetlinkOSAcceptLocal(t *testing.T) {
	l := osNewLab(t)
	nsA, nsB := l.netns("a", true), l.netns("b", true)
	l.veth(nsA, "val0", nsB, "val1")
	ifA := osIfi(t, nsA, "val0")
	var h *netlink.Handle
	osIn(t, nsA, func() (err error) {
		h, err = netlink.Open()
		return err
	})
	defer h.Close()
	read := func() string {
		out, err := run("ip", "netns", "exec", nsA, "cat", "/proc/sys/net/ipv4/conf/val0/accept_local")
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(out)
	}
	if got := read(); got != "0" {
		t.Fatalf("accept_local starts at %q", got)
	}
	if err := h.SetAcceptLocal(ifA.Index, true); err != nil {
		t.Fatal(err)
	}
	if got := read(); got != "1" {
		t.Errorf("after SetAcceptLocal(true): %q", got)
	}
	var on bool
	osIn(t, nsA, func() (err error) { on, err = netlink.AcceptLocal("val0"); return err })
	if !on {
		t.Error("AcceptLocal reads false")
	}
	if err := h.SetAcceptLocal(ifA.Index, false); err != nil {
		t.Fatal(err)
	}
	if got := read(); got != "0" {
		t.Errorf("after SetAcceptLocal(false): %q", got)
	}
}
