//go:build integration

package integration

// The lab: a throwaway layer-2 segment built from network namespaces.
//
//	ns <prefix>sw : bridge br0 (no addresses), ports p0..pN-1 and pc
//	ns <prefix>h0 : eth0 198.18.0.1/24, fd00:198:18::1/64  (veth peer of p0)
//	...
//	ns <prefix>c  : eth0 198.18.0.100/24, fd00:198:18::100/64 (the client)
//
// The lab is built on its sandbox (sandbox.go): the namespaces, bridge and
// veths come from its builder, programs are started by its supervisor
// (node.Start), and its teardown and reaper clean up. Go sockets are created
// inside a namespace on a locked throwaway OS thread (inNetns).

import (
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"os/exec"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	// bridgeName is the bridge inside the switch namespace.
	bridgeName = "br0"
	// hostIf is the interface name inside every host and client namespace.
	hostIf = "eth0"
	// clientIdx names the client in Partition groups and port lookups.
	clientIdx = -1
)

// labConfig holds newLab's options.
type labConfig struct {
	ipv6 bool
}

// labOption changes how newLab builds the lab.
type labOption func(*labConfig)

// withoutIPv6 leaves IPv6 addresses off (link-local still exists).
func withoutIPv6() labOption { return func(c *labConfig) { c.ipv6 = false } }

// lab is one isolated layer-2 segment with N hosts and a client.
type lab struct {
	*sandbox        // t, prefix, dir; the supervisor (Kill, Stop, ...)
	sw       string // switch namespace
	hosts    []*node
	cl       *node

	// VIP4 and VIP6 are free addresses on the segment for the VIP under test.
	VIP4, VIP6 netip.Addr

	mu          sync.Mutex   // guards the fields below (not the sandbox's)
	groups      [][]int      // current partition, nil when healed
	holes       map[int]bool // blackholed ports
	responding  bool         // UDP responders started on every host
	noVRRPMcast bool         // the switch drops frames to the VRRP groups
	ipv6        bool
	sniffer     *advertSniffer
}

// node is one namespace attached to the bridge.
type node struct {
	lab  *lab
	idx  int    // host index, or clientIdx
	Name string // "h0", "h1", ..., "client"
	NS   string // network namespace name
	Port string // the bridge-side veth in the switch namespace
	V4   netip.Addr
	V6   netip.Addr
}

// newLab builds the lab on a new sandbox, whose teardown (t.Cleanup, or the
// interrupt handler) deletes it. It fails the test (never skips) when it cannot.
func newLab(t testing.TB, hosts int, opts ...labOption) *lab {
	t.Helper()
	cfg := labConfig{ipv6: true}
	for _, o := range opts {
		o(&cfg)
	}
	if hosts < 1 || hosts > 90 {
		t.Fatalf("harness: %d hosts, want 1..90", hosts)
	}
	s := newSandbox(t)
	l := &lab{
		sandbox: s,
		holes:   map[int]bool{},
		ipv6:    cfg.ipv6,
		VIP4:    netip.MustParseAddr("198.18.0.200"),
		VIP6:    netip.MustParseAddr("fd00:198:18::200"),
	}
	for i := 0; i < hosts; i++ {
		l.hosts = append(l.hosts, &node{
			lab: l, idx: i, Name: fmt.Sprintf("h%d", i),
			NS: fmt.Sprintf("%sh%d", l.prefix, i), Port: fmt.Sprintf("p%d", i),
			V4: netip.AddrFrom4([4]byte{198, 18, 0, byte(i + 1)}),
			V6: netip.MustParseAddr(fmt.Sprintf("fd00:198:18::%d", i+1)),
		})
	}
	l.cl = &node{
		lab: l, idx: clientIdx, Name: "client", NS: l.prefix + "c", Port: "pc",
		V4: netip.MustParseAddr("198.18.0.100"),
		V6: netip.MustParseAddr("fd00:198:18::100"),
	}

	l.sw = s.Netns("sw", withoutIPv6Stack())
	s.Bridge(l.sw, bridgeName)
	for _, n := range l.nodes() {
		if ns := s.Netns(strings.TrimPrefix(n.NS, l.prefix)); ns != n.NS {
			t.Fatalf("harness: namespace %s, want %s", ns, n.NS)
		}
		l.plug(n)
	}
	s.Run("ip", "netns", "exec", l.sw, "nft", "add", "table", "bridge", "vt")
	l.applyFilter()

	// The segment works when the client reaches every host.
	for _, h := range l.hosts {
		h := h
		waitFor(t, 10*time.Second, "client reaches "+h.Name, func() (bool, string) {
			out, err := l.cl.Exec("ping", "-c1", "-W1", "-q", h.V4.String())
			return err == nil, out
		})
	}
	t.Logf("harness: lab %s up: %d hosts, logs in %s", l.prefix, hosts, l.dir)
	return l
}

// plug attaches node n to the bridge (port n.Port, eth0 in n.NS) and gives
// eth0 its addresses.
func (l *lab) plug(n *node) {
	l.t.Helper()
	l.Attach(l.sw, bridgeName, n.Port, n.NS, hostIf)
	l.AddAddr(n.NS, hostIf, netip.PrefixFrom(n.V4, 24))
	if l.ipv6 {
		l.AddAddr(n.NS, hostIf, netip.PrefixFrom(n.V6, 64))
	}
}

// RecreateLink deletes node i's eth0 (and with it the veth pair and its
// bridge port) and plugs in a new one with the same names and addresses: a
// new ifindex and a new MAC, as when a NIC is replaced or a bond rebuilt.
func (l *lab) RecreateLink(i int) {
	l.t.Helper()
	n := l.nodeByIdx(i)
	l.IP(n.NS, "link", "del", hostIf)
	l.plug(n)
	l.t.Logf("harness: %s: %s recreated", n.Name, hostIf)
}

// SetMAC changes node i's eth0 hardware address in place (same ifindex).
func (l *lab) SetMAC(i int, mac net.HardwareAddr) {
	l.t.Helper()
	n := l.nodeByIdx(i)
	l.IP(n.NS, "link", "set", "dev", hostIf, "address", mac.String())
	l.t.Logf("harness: %s: %s address %s", n.Name, hostIf, mac)
}

func (l *lab) nodes() []*node { return append(append([]*node{}, l.hosts...), l.cl) }

// host returns host i.
func (l *lab) host(i int) *node {
	l.t.Helper()
	if i < 0 || i >= len(l.hosts) {
		l.t.Fatalf("harness: no host %d (lab has %d)", i, len(l.hosts))
	}
	return l.hosts[i]
}

// client returns the client namespace.
func (l *lab) client() *node { return l.cl }

// nodeByIdx returns host i, or the client for clientIdx.
func (l *lab) nodeByIdx(i int) *node {
	if i == clientIdx {
		return l.cl
	}
	return l.host(i)
}

// Exec runs a command inside the node's namespace and waits for it.
func (n *node) Exec(args ...string) (string, error) {
	return run(append([]string{"ip", "netns", "exec", n.NS}, args...)...)
}

// MustExec is Exec that fails the test on error.
func (n *node) MustExec(args ...string) string {
	n.lab.t.Helper()
	out, err := n.Exec(args...)
	if err != nil {
		n.lab.t.Fatalf("harness: %s: %v: %s", n.Name, err, out)
	}
	return out
}

// Start starts a long-running process inside the node's namespace and returns
// its PID, through the lab's supervisor (sandbox.StartIn): its output goes to
// <node>-<name>-<n>.log in the lab directory, and it is killed at teardown if
// still running.
func (n *node) Start(name string, args ...string) int {
	n.lab.t.Helper()
	return n.lab.StartIn(n.NS, n.Name+"-"+name, args...)
}

// CutLink pulls host i's cable: its port goes down on the bridge side, so
// the host sees its carrier drop and the switch forwards nothing to or from it.
func (l *lab) CutLink(i int) { l.setLink(l.sw, l.nodeByIdx(i).Port, "down") }

// RestoreLink plugs the cable back in.
func (l *lab) RestoreLink(i int) { l.setLink(l.sw, l.nodeByIdx(i).Port, "up") }

// LinkDown sets host i's own interface administratively down (a Fault for VRRP).
func (l *lab) LinkDown(i int) { l.setLink(l.nodeByIdx(i).NS, hostIf, "down") }

// LinkUp undoes LinkDown, restoring the IPv6 address the kernel flushed
// when the link went down.
func (l *lab) LinkUp(i int) {
	l.t.Helper()
	n := l.nodeByIdx(i)
	l.setLink(n.NS, hostIf, "up")
	if l.ipv6 {
		if out, err := run("ip", "-n", n.NS, "addr", "replace", n.V6.String()+"/64", "dev", hostIf, "nodad"); err != nil {
			l.t.Fatalf("harness: %v: %s", err, out)
		}
	}
}

func (l *lab) setLink(ns, dev, state string) {
	l.t.Helper()
	if out, err := run("ip", "-n", ns, "link", "set", dev, state); err != nil {
		l.t.Fatalf("harness: %v: %s", err, out)
	}
	l.t.Logf("harness: %s %s %s", ns, dev, state)
}

// Partition splits the segment: frames between nodes in different groups are
// dropped by the switch (nftables, bridge family, forward hook). Nodes named
// in no group (by default the client) still reach everyone. clientIdx names
// the client. Links stay up: nobody sees a carrier change.
func (l *lab) Partition(groups ...[]int) {
	l.t.Helper()
	l.mu.Lock()
	l.groups = groups
	l.mu.Unlock()
	l.applyFilter()
	l.t.Logf("harness: partition %v", groups)
}

// Heal removes the partition and every blackhole.
func (l *lab) Heal() {
	l.t.Helper()
	l.mu.Lock()
	l.groups = nil
	l.holes = map[int]bool{}
	l.mu.Unlock()
	l.applyFilter()
	l.t.Logf("harness: healed")
}

// BlockVRRPMulticast makes the switch drop (on) or forward (off) frames sent to
// the VRRP groups 224.0.0.18 and ff02::12, so that only unicast VRRP works.
// The sniffer still sees them: it reads frames as they enter the switch.
func (l *lab) BlockVRRPMulticast(on bool) {
	l.t.Helper()
	l.mu.Lock()
	l.noVRRPMcast = on
	l.mu.Unlock()
	l.applyFilter()
	l.t.Logf("harness: VRRP multicast blocked: %v", on)
}

// Blackhole makes the switch drop everything to and from node i while its
// link stays up: a frozen host, as opposed to CutLink's unplugged one.
func (l *lab) Blackhole(i int) {
	l.t.Helper()
	l.mu.Lock()
	l.holes[i] = true
	l.mu.Unlock()
	l.applyFilter()
	l.t.Logf("harness: blackhole %s", l.nodeByIdx(i).Name)
}

// applyFilter rewrites the switch's filter atomically from the lab's state.
func (l *lab) applyFilter() {
	l.t.Helper()
	l.mu.Lock()
	var rules []string
	if l.noVRRPMcast {
		rules = append(rules, "ether daddr 01:00:5e:00:00:12 drop", "ether daddr 33:33:00:00:00:12 drop")
	}
	holes := make([]int, 0, len(l.holes))
	for i := range l.holes {
		holes = append(holes, i)
	}
	sort.Ints(holes)
	for _, i := range holes {
		p := l.nodeByIdx(i).Port
		rules = append(rules, fmt.Sprintf("iifname %q drop", p), fmt.Sprintf("oifname %q drop", p))
	}
	for a, ga := range l.groups {
		for b, gb := range l.groups {
			if a == b {
				continue
			}
			for _, x := range ga {
				for _, y := range gb {
					rules = append(rules, fmt.Sprintf("iifname %q oifname %q drop",
						l.nodeByIdx(x).Port, l.nodeByIdx(y).Port))
				}
			}
		}
	}
	l.mu.Unlock()
	var b strings.Builder
	b.WriteString("flush table bridge vt\ntable bridge vt {\n chain ports {\n  type filter hook forward priority 0; policy accept;\n")
	for _, r := range rules {
		b.WriteString("  " + r + "\n")
	}
	b.WriteString(" }\n}\n")
	cmd := exec.Command("ip", "netns", "exec", l.sw, "nft", "-f", "-")
	cmd.Stdin = strings.NewReader(b.String())
	if out, err := cmd.CombinedOutput(); err != nil {
		l.t.Fatalf("harness: nft: %v: %s\n%s", err, out, b.String())
	}
}

// ipAddrJSON is the part of `ip -j addr` the harness reads.
type ipAddrJSON struct {
	IfName   string `json:"ifname"`
	Address  string `json:"address"`
	AddrInfo []struct {
		Local     string `json:"local"`
		PrefixLen int    `json:"prefixlen"`
	} `json:"addr_info"`
}

// Addrs returns the addresses on host i's eth0.
func (l *lab) Addrs(i int) ([]netip.Prefix, error) { return l.nodeByIdx(i).Addrs() }

// Addrs returns the addresses on the node's eth0.
func (n *node) Addrs() ([]netip.Prefix, error) {
	out, err := n.Exec("ip", "-j", "addr", "show", "dev", hostIf)
	if err != nil {
		return nil, fmt.Errorf("harness: %w: %s", err, out)
	}
	var links []ipAddrJSON
	if err := json.Unmarshal([]byte(out), &links); err != nil {
		return nil, fmt.Errorf("harness: ip -j addr: %w", err)
	}
	var ps []netip.Prefix
	for _, ln := range links {
		for _, a := range ln.AddrInfo {
			addr, err := netip.ParseAddr(a.Local)
			if err != nil {
				return nil, fmt.Errorf("harness: ip -j addr: %w", err)
			}
			ps = append(ps, netip.PrefixFrom(addr, a.PrefixLen))
		}
	}
	return ps, nil
}

// HasAddr reports whether the node's eth0 carries a.
func (n *node) HasAddr(a netip.Addr) bool {
	ps, err := n.Addrs()
	if err != nil {
		return false
	}
	for _, p := range ps {
		if p.Addr() == a {
			return true
		}
	}
	return false
}

// MAC returns the hardware address of the node's eth0.
func (n *node) MAC() net.HardwareAddr {
	n.lab.t.Helper()
	out := n.MustExec("ip", "-j", "link", "show", "dev", hostIf)
	var links []ipAddrJSON
	if err := json.Unmarshal([]byte(out), &links); err != nil || len(links) != 1 {
		n.lab.t.Fatalf("harness: ip -j link: %v: %s", err, out)
	}
	mac, err := net.ParseMAC(links[0].Address)
	if err != nil {
		n.lab.t.Fatalf("harness: %v", err)
	}
	return mac
}

// ArpEntry returns the client's neighbour entry for addr: its MAC (nil when
// unresolved) and its NUD state (REACHABLE, STALE, ...).
func (l *lab) ArpEntry(addr netip.Addr) (net.HardwareAddr, string, error) {
	return l.cl.Neigh(addr)
}

// Neigh returns the node's neighbour entry for addr on eth0.
func (n *node) Neigh(addr netip.Addr) (net.HardwareAddr, string, error) {
	out, err := n.Exec("ip", "-j", "neigh", "show", "to", addr.String(), "dev", hostIf)
	if err != nil {
		return nil, "", fmt.Errorf("harness: %w: %s", err, out)
	}
	var ents []struct {
		LLAddr string   `json:"lladdr"`
		State  []string `json:"state"`
	}
	if err := json.Unmarshal([]byte(out), &ents); err != nil {
		return nil, "", fmt.Errorf("harness: ip -j neigh: %w: %s", err, out)
	}
	if len(ents) == 0 {
		return nil, "", nil
	}
	state := strings.Join(ents[0].State, ",")
	if ents[0].LLAddr == "" {
		return nil, state, nil
	}
	mac, err := net.ParseMAC(ents[0].LLAddr)
	return mac, state, err
}
