//go:build integration

package integration

// The lab: a throwaway layer-2 segment built from network namespaces.
//
//	ns <prefix>sw : bridge br0 (no addresses), ports p0..pN-1 and pc
//	ns <prefix>h0 : eth0 198.18.0.1/24, fd00:198:18::1/64  (veth peer of p0)
//	...
//	ns <prefix>c  : eth0 198.18.0.100/24, fd00:198:18::100/64 (the client)
//
// Namespaces are named (`ip netns add`), so that programs under test can be
// started with `ip netns exec` and a killed test run can be cleaned up by name
// (`make clean-netns`). Go sockets are created inside a namespace on a locked
// throwaway OS thread (inNetns): a socket keeps the namespace it was created in,
// and the thread is never returned to the scheduler.
//
// Every veth is created inside the switch namespace and its peer is moved
// straight into the host namespace, so nothing is ever created in, or sent
// through, the root namespace.
//
// The prefix is "vt<pid>-<seq>-": unique per test process and lab, and it
// encodes the owner's PID so a later run can reap labs whose owner died
// (reapStaleLabs).

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

const (
	// bridgeName is the bridge inside the switch namespace.
	bridgeName = "br0"
	// hostIf is the interface name inside every host and client namespace.
	hostIf = "eth0"
	// clientIdx names the client in Partition groups and port lookups.
	clientIdx = -1
)

var (
	// labNameRE matches every namespace a lab creates; Makefile.integration's
	// clean-netns uses the same pattern.
	labNameRE = regexp.MustCompile(`^vt([0-9]+)-([0-9]+)-`)
	labSeq    atomic.Int64

	// interruptMu guards the teardowns run when the test binary is interrupted.
	interruptMu   sync.Mutex
	interruptFns  = map[uint64]func(){}
	interruptNext uint64
	sigOnce       sync.Once
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
	t           testing.TB
	uninterrupt func() // drops the lab from the interrupt handler
	prefix      string
	dir         string
	sw          string // switch namespace
	hosts       []*node
	cl          *node

	// VIP4 and VIP6 are free addresses on the segment for the VIP under test.
	VIP4, VIP6 netip.Addr

	mu          sync.Mutex
	procs       map[int]*proc
	groups      [][]int      // current partition, nil when healed
	holes       map[int]bool // blackholed ports
	closers     []func()     // sockets and goroutines to stop before teardown
	responding  bool         // UDP responders started on every host
	noVRRPMcast bool         // the switch drops frames to the VRRP groups
	ipv6        bool
	sniffer     *advertSniffer
	torn        bool
	logSeq      atomic.Int64
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

// proc is a process started in a namespace.
type proc struct {
	pid  int
	name string
	node *node
	cmd  *exec.Cmd
	log  string
	done chan struct{}
	err  error // valid after done is closed
}

// newLab builds the lab and registers its teardown with t.Cleanup and with
// a SIGINT/SIGTERM handler. It fails the test (never skips) when it cannot.
func newLab(t testing.TB, hosts int, opts ...labOption) *lab {
	t.Helper()
	cfg := labConfig{ipv6: true}
	for _, o := range opts {
		o(&cfg)
	}
	if os.Geteuid() != 0 {
		t.Fatalf("harness: integration tests need root (CAP_NET_ADMIN, CAP_SYS_ADMIN)")
	}
	if hosts < 1 || hosts > 90 {
		t.Fatalf("harness: %d hosts, want 1..90", hosts)
	}
	reapStaleLabs(t)

	l := &lab{
		t:      t,
		prefix: fmt.Sprintf("vt%d-%d-", os.Getpid(), labSeq.Add(1)),
		dir:    t.TempDir(),
		procs:  map[int]*proc{},
		holes:  map[int]bool{},
		ipv6:   cfg.ipv6,
		VIP4:   netip.MustParseAddr("198.18.0.200"),
		VIP6:   netip.MustParseAddr("fd00:198:18::200"),
	}
	l.sw = l.prefix + "sw"
	l.uninterrupt = onInterrupt(l.teardownQuiet)
	t.Cleanup(l.teardown)

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

	must := func(args ...string) {
		t.Helper()
		if out, err := run(args...); err != nil {
			t.Fatalf("harness: %v: %s", err, out)
		}
	}
	must("ip", "netns", "add", l.sw)
	must("ip", "-n", l.sw, "link", "add", bridgeName, "type", "bridge",
		"mcast_snooping", "0", "stp_state", "0", "forward_delay", "0")
	must("ip", "-n", l.sw, "link", "set", bridgeName, "up")
	must("ip", "netns", "exec", l.sw, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1")
	for _, n := range l.nodes() {
		must("ip", "netns", "add", n.NS)
		// No DAD: addresses (and the link-local VRRPv3 needs) are usable at once.
		must("ip", "netns", "exec", n.NS, "sysctl", "-qw",
			"net.ipv6.conf.default.accept_dad=0", "net.ipv6.conf.all.accept_dad=0")
		must("ip", "-n", l.sw, "link", "add", n.Port, "type", "veth",
			"peer", "name", hostIf, "netns", n.NS)
		must("ip", "-n", l.sw, "link", "set", n.Port, "master", bridgeName, "up")
		must("ip", "-n", n.NS, "link", "set", "lo", "up")
		must("ip", "-n", n.NS, "addr", "add", n.V4.String()+"/24", "dev", hostIf)
		if cfg.ipv6 {
			must("ip", "-n", n.NS, "addr", "add", n.V6.String()+"/64", "dev", hostIf, "nodad")
		}
		must("ip", "-n", n.NS, "link", "set", hostIf, "up")
	}
	must("ip", "netns", "exec", l.sw, "nft", "add", "table", "bridge", "vt")
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

// run runs a command in the current (root) namespace and returns its combined
// output. Only ip/nft/sysctl configuration of our own namespaces goes through it.
func run(args ...string) (string, error) {
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s: %w", strings.Join(args, " "), err)
	}
	return string(out), nil
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
// its PID (`ip netns exec` execs, so the PID is the program's own). Its stdout
// and stderr go to <name>.log in the lab directory; the tail is printed when
// the test fails. The process is killed at teardown if still running.
func (n *node) Start(name string, args ...string) int {
	l := n.lab
	l.t.Helper()
	// One file per start: state is read from logs, so a restart must not
	// see its predecessor's lines.
	logPath := filepath.Join(l.dir, fmt.Sprintf("%s-%s-%d.log", n.Name, name, l.logSeq.Add(1)))
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_EXCL, 0o644)
	if err != nil {
		l.t.Fatalf("harness: %v", err)
	}
	fmt.Fprintf(f, "# harness: %s on %s: %s\n", name, n.NS, strings.Join(args, " "))
	cmd := exec.Command("ip", append([]string{"netns", "exec", n.NS}, args...)...)
	cmd.Stdout, cmd.Stderr = f, f
	// Own process group: a ^C to the test does not reach it directly, so
	// teardown decides how it ends.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		f.Close()
		l.t.Fatalf("harness: start %s on %s: %v", name, n.Name, err)
	}
	p := &proc{pid: cmd.Process.Pid, name: name, node: n, cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		f.Close()
		close(p.done)
	}()
	l.mu.Lock()
	l.procs[p.pid] = p
	l.mu.Unlock()
	l.t.Logf("harness: %s: started %s pid %d (log %s)", n.Name, name, p.pid, filepath.Base(logPath))
	return p.pid
}

// LogPath returns the log file of a process started with Start.
func (l *lab) LogPath(pid int) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if p, ok := l.procs[pid]; ok {
		return p.log
	}
	return ""
}

// Kill sends sig to pid, which must be a process this lab started or a
// descendant of one (keepalived's VRRP child, for example).
func (l *lab) Kill(pid int, sig syscall.Signal) error {
	if !l.owns(pid) {
		return fmt.Errorf("harness: pid %d was not started by this lab", pid)
	}
	if err := syscall.Kill(pid, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("harness: kill %d %v: %w", pid, sig, err)
	}
	return nil
}

// owns reports whether pid was started by this lab or descends from such a process.
func (l *lab) owns(pid int) bool {
	for hops := 0; pid > 1 && hops < 8; hops++ {
		l.mu.Lock()
		_, ok := l.procs[pid]
		l.mu.Unlock()
		if ok {
			return true
		}
		pid = ppid(pid)
	}
	return false
}

// Exited reports whether a process started with Start has exited.
func (l *lab) Exited(pid int) bool {
	l.mu.Lock()
	p, ok := l.procs[pid]
	l.mu.Unlock()
	if !ok {
		return !alive(pid)
	}
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// ExitCode returns the exit status of a process started with Start, once it
// has exited (ok false before, or for a PID the lab did not start); -1 when
// a signal ended it.
func (l *lab) ExitCode(pid int) (code int, ok bool) {
	l.mu.Lock()
	p, known := l.procs[pid]
	l.mu.Unlock()
	if !known {
		return 0, false
	}
	select {
	case <-p.done:
	default:
		return 0, false
	}
	if p.err == nil {
		return 0, true
	}
	var ee *exec.ExitError
	if errors.As(p.err, &ee) {
		return ee.ExitCode(), true
	}
	return -1, true
}

// Stop sends sig to pid, one of ours, and fails the test unless it exits
// within timeout. who names it in the failure.
func (l *lab) Stop(pid int, sig syscall.Signal, timeout time.Duration, who string) {
	l.t.Helper()
	if err := l.Kill(pid, sig); err != nil {
		l.t.Fatalf("%v", err)
	}
	if !l.WaitExit(pid, timeout) {
		l.t.Fatalf("%s (pid %d) did not exit on %v within %v", who, pid, sig, timeout)
	}
}

// WaitExit waits up to timeout for a started process to exit.
func (l *lab) WaitExit(pid int, timeout time.Duration) bool {
	l.mu.Lock()
	p, ok := l.procs[pid]
	l.mu.Unlock()
	if !ok {
		deadline := time.Now().Add(timeout)
		for alive(pid) && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		return !alive(pid)
	}
	select {
	case <-p.done:
		return true
	case <-time.After(timeout):
		return false
	}
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

// inNetns runs fn on a fresh OS thread switched into namespace ns. The thread
// stays locked and dies with the goroutine, so no other goroutine ever runs in
// the wrong namespace. Sockets fn creates keep ns after fn returns.
func inNetns(ns string, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the runtime discards the thread
		f, err := os.Open(filepath.Join("/run/netns", ns))
		if err != nil {
			errc <- fmt.Errorf("harness: %w", err)
			return
		}
		defer f.Close()
		if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("harness: setns %s: %w", ns, err)
			return
		}
		errc <- fn()
	}()
	return <-errc
}

// onTeardown registers fn to run before processes are killed and
// namespaces deleted.
func (l *lab) onTeardown(fn func()) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closers = append(l.closers, fn)
}

// teardown kills what the lab started and deletes its namespaces. It runs from
// t.Cleanup and from the signal handler, whichever comes first.
func (l *lab) teardown() {
	l.mu.Lock()
	if l.torn {
		l.mu.Unlock()
		return
	}
	l.torn = true
	closers := l.closers
	procs := make([]*proc, 0, len(l.procs))
	for _, p := range l.procs {
		procs = append(procs, p)
	}
	l.mu.Unlock()
	l.uninterrupt()

	if l.t.Failed() {
		sort.Slice(procs, func(i, j int) bool { return procs[i].pid < procs[j].pid })
		for _, p := range procs {
			l.t.Logf("harness: --- %s %s (pid %d) log tail, %s ---\n%s", p.node.Name, p.name, p.pid, p.log, tail(p.log, 60))
		}
	}
	for i := len(closers) - 1; i >= 0; i-- {
		closers[i]()
	}
	// Stop our processes; anything left in our namespaces descends from them.
	for _, p := range procs {
		_ = syscall.Kill(p.pid, syscall.SIGKILL)
	}
	for _, n := range append(l.nodes(), &node{NS: l.sw}) {
		killNetnsPids(n.NS)
	}
	for _, p := range procs {
		select {
		case <-p.done:
		case <-time.After(5 * time.Second):
		}
	}
	for _, n := range append(l.nodes(), &node{NS: l.sw}) {
		_, _ = run("ip", "netns", "del", n.NS)
	}
}

// killNetnsPids SIGKILLs every process inside namespace ns (which only ever
// holds processes a lab started).
func killNetnsPids(ns string) {
	if !labNameRE.MatchString(ns) {
		return
	}
	out, _ := run("ip", "netns", "pids", ns)
	for _, f := range strings.Fields(out) {
		if pid, err := strconv.Atoi(f); err == nil && pid > 1 && pid != os.Getpid() {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

// onInterrupt registers fn to run if the test binary is interrupted
// (SIGINT/SIGTERM/SIGHUP), when t.Cleanup does not run; the returned func
// unregisters it. One handler serves labs and kubelet envs alike: the newest
// registration runs first (a kubelet env inside a lab goes before the lab),
// and only after all of them does the binary exit.
func onInterrupt(fn func()) (unregister func()) {
	sigOnce.Do(func() {
		c := make(chan os.Signal, 1)
		signal.Notify(c, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
		go func() {
			s := <-c
			interruptMu.Lock()
			ids := make([]uint64, 0, len(interruptFns))
			for id := range interruptFns {
				ids = append(ids, id)
			}
			fns := make([]func(), 0, len(ids))
			sort.Slice(ids, func(i, j int) bool { return ids[i] > ids[j] })
			for _, id := range ids {
				fns = append(fns, interruptFns[id])
			}
			interruptMu.Unlock()
			for _, fn := range fns {
				fn()
			}
			fmt.Fprintf(os.Stderr, "harness: %v: tore down %d lab(s) and env(s)\n", s, len(fns))
			os.Exit(2)
		}()
	})
	interruptMu.Lock()
	defer interruptMu.Unlock()
	id := interruptNext
	interruptNext++
	interruptFns[id] = fn
	return func() {
		interruptMu.Lock()
		delete(interruptFns, id)
		interruptMu.Unlock()
	}
}

// teardownQuiet is teardown without touching testing.T (not safe off the test goroutine's lifetime).
func (l *lab) teardownQuiet() {
	l.mu.Lock()
	if l.torn {
		l.mu.Unlock()
		return
	}
	l.torn = true
	pids := make([]int, 0, len(l.procs))
	for pid := range l.procs {
		pids = append(pids, pid)
	}
	l.mu.Unlock()
	for _, pid := range pids {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	for _, n := range append(l.nodes(), &node{NS: l.sw}) {
		killNetnsPids(n.NS)
		_, _ = run("ip", "netns", "del", n.NS)
	}
}

// reapStaleLabs deletes namespaces left by test processes that no longer
// exist (killed by a timeout or SIGKILL). Labs of live processes are left alone.
func reapStaleLabs(t testing.TB) {
	out, err := run("ip", "netns", "list")
	if err != nil {
		return
	}
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		m := labNameRE.FindStringSubmatch(f[0])
		if m == nil {
			continue
		}
		owner, _ := strconv.Atoi(m[1])
		if owner == os.Getpid() || alive(owner) {
			continue
		}
		killNetnsPids(f[0])
		if _, err := run("ip", "netns", "del", f[0]); err == nil {
			t.Logf("harness: reaped stale namespace %s", f[0])
		}
	}
}

func alive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// ppid returns the parent of pid, or 0.
func ppid(pid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The command may contain spaces and parentheses: split after the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 2 {
		return 0
	}
	p, _ := strconv.Atoi(f[1])
	return p
}

// tail returns the last n lines of a file.
func tail(path string, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return err.Error()
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if len(lines) > n {
			lines = lines[1:]
		}
	}
	return strings.Join(lines, "\n")
}

// waitFor polls cond every 10 ms until it holds or timeout passes, then fails
// the test with what cond last said.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	if msg, ok := poll(timeout, cond); !ok {
		t.Fatalf("timed out after %v waiting for %s; last: %s", timeout, what, msg)
	}
}

// poll is waitFor without the failure: it reports whether cond held in time.
func poll(timeout time.Duration, cond func() (bool, string)) (string, bool) {
	deadline := time.Now().Add(timeout)
	for {
		ok, msg := cond()
		if ok {
			return msg, true
		}
		if time.Now().After(deadline) {
			return msg, false
		}
		time.Sleep(10 * time.Millisecond)
	}
}
