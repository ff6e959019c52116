//go:build integration

package integration

// The sandbox: the one place where integration tests make namespaces, start
// processes and clean up. The lab (harness.go), the kubelet environment
// (kubelet.go) and the OS tests (os_test.go) each own one sandbox; nothing
// else runs `ip netns add`, starts a long-running process or deletes one.
//
//	builder    Netns, Bridge, Veth, Attach, IP, Exec: namespaces created by
//	           name (`ip netns add <prefix><role>`), veths created inside a
//	           namespace with the peer moved straight into another, so nothing
//	           is created in, or sent through, the root namespace.
//	supervisor Spawn, StartIn, Kill, Stop, WaitExit, Exited, ExitCode, LogPath:
//	           one log file per start, by-PID signals to our own processes only.
//	teardown   one per sandbox, from t.Cleanup or from the interrupt handler
//	           (SIGINT/SIGTERM/SIGHUP), whichever comes first.
//	reaper     reapStale: what a killed run left, keyed by the prefix.
//
// The prefix is "vt<pid>-<seq>-": unique per test process and sandbox, and it
// names everything the sandbox makes — namespaces (<prefix><role>), the
// directory ($TMPDIR/<prefix>XXXX: logs, sockets, configs), and a kubelet
// env's cgroup root (/<prefix without the dash>) — so that a later run can
// delete exactly what a dead owner (the <pid>) left, and never a live run's.
// Makefile.integration's clean-netns uses the same pattern.
//
// Model: jsimonetti/rtnetlink internal/testutils (one namespace helper,
// created on a locked throwaway OS thread: inNetns).

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
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
	"unsafe"

	"golang.org/x/sys/unix"
)

var (
	// sandboxRE matches every name a sandbox gives; group 1 is the owner's
	// PID. vkl and vos are the kubelet env's and the OS tests' prefixes
	// from before the sandbox, still reaped.
	sandboxRE  = regexp.MustCompile(`^v(?:t|kl|os)([0-9]+)-([0-9]+)-`)
	sandboxSeq atomic.Int64

	// interruptMu guards the teardowns run when the test binary is interrupted.
	interruptMu   sync.Mutex
	interruptFns  = map[uint64]func(){}
	interruptNext uint64
	sigOnce       sync.Once
)

// sandbox is one test's namespaces, processes and files.
type sandbox struct {
	t      testing.TB
	prefix string // "vt<pid>-<seq>-"
	dir    string // $TMPDIR/<prefix>XXXX, removed at teardown
	logSeq atomic.Int64

	smu         sync.Mutex
	netns       []string // created by Netns, in order
	procs       map[int]*proc
	closers     []func() // run (last first) before processes are killed
	torn        bool
	uninterrupt func()
}

// proc is a process the sandbox started.
type proc struct {
	pid   int
	label string // "h0-vipd", "kubelet"
	cmd   *exec.Cmd
	log   string
	done  chan struct{}
	err   error // valid after done is closed
}

// newSandbox reaps what dead runs left, makes the directory and registers
// the teardown with t.Cleanup and the interrupt handler. It fails the test
// (never skips) without root: CI runs these as root.
func newSandbox(t testing.TB) *sandbox {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatalf("sandbox: integration tests need root (CAP_NET_ADMIN, CAP_SYS_ADMIN); run them as root")
	}
	reapStale(t)
	s := &sandbox{
		t:      t,
		prefix: fmt.Sprintf("vt%d-%d-", os.Getpid(), sandboxSeq.Add(1)),
		procs:  map[int]*proc{},
	}
	dir, err := os.MkdirTemp("", s.prefix)
	if err != nil {
		t.Fatalf("sandbox: %v", err)
	}
	s.dir = dir
	s.uninterrupt = onInterrupt(s.teardownQuiet)
	t.Cleanup(s.teardown)
	return s
}

// ---- builder ----

// netnsConfig holds Netns's options.
type netnsConfig struct {
	dad    bool
	noIPv6 bool
}

// netnsOption changes how Netns sets a namespace up.
type netnsOption func(*netnsConfig)

// keepDAD leaves IPv6 duplicate address detection on (the default turns it
// off, so addresses and the link-local VRRPv3 needs are usable at once).
func keepDAD() netnsOption { return func(c *netnsConfig) { c.dad = true } }

// withoutIPv6Stack disables IPv6 in the namespace (a switch needs none).
func withoutIPv6Stack() netnsOption { return func(c *netnsConfig) { c.noIPv6 = true } }

// Netns creates namespace <prefix><role> with loopback up and returns its
// name. Teardown kills what runs in it and deletes it.
func (s *sandbox) Netns(role string, opts ...netnsOption) string {
	s.t.Helper()
	var cfg netnsConfig
	for _, o := range opts {
		o(&cfg)
	}
	ns := s.prefix + role
	s.Run("ip", "netns", "add", ns)
	s.smu.Lock()
	s.netns = append(s.netns, ns)
	s.smu.Unlock()
	s.IP(ns, "link", "set", "lo", "up")
	switch {
	case cfg.noIPv6:
		s.Run("ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1")
	case !cfg.dad:
		s.Run("ip", "netns", "exec", ns, "sysctl", "-qw",
			"net.ipv6.conf.default.accept_dad=0", "net.ipv6.conf.all.accept_dad=0")
	}
	return ns
}

// Bridge creates bridge br in ns, up, forwarding at once: no STP, no
// forward delay, no multicast snooping (VRRP groups flood as on a dumb switch).
func (s *sandbox) Bridge(ns, br string) {
	s.t.Helper()
	s.IP(ns, "link", "add", br, "type", "bridge",
		"mcast_snooping", "0", "stp_state", "0", "forward_delay", "0")
	s.IP(ns, "link", "set", br, "up")
}

// Veth creates ifA inside nsA with its peer ifB moved straight into nsB,
// both up.
func (s *sandbox) Veth(nsA, ifA, nsB, ifB string) {
	s.t.Helper()
	s.IP(nsA, "link", "add", ifA, "type", "veth", "peer", "name", ifB, "netns", nsB)
	s.IP(nsA, "link", "set", ifA, "up")
	s.IP(nsB, "link", "set", ifB, "up")
}

// Attach plugs ifname in ns into bridge br in swNS through a veth whose
// bridge end is port. Deleting either end (ip link del) unplugs it; Attach
// again with the same names plugs a new cable in.
func (s *sandbox) Attach(swNS, br, port, ns, ifname string) {
	s.t.Helper()
	s.IP(swNS, "link", "add", port, "type", "veth", "peer", "name", ifname, "netns", ns)
	s.IP(swNS, "link", "set", port, "master", br, "up")
	s.IP(ns, "link", "set", ifname, "up")
}

// AddAddr adds p to dev in ns; IPv6 addresses skip DAD (nodad).
func (s *sandbox) AddAddr(ns, dev string, p netip.Prefix) {
	s.t.Helper()
	args := []string{"addr", "add", p.String(), "dev", dev}
	if p.Addr().Is6() {
		args = append(args, "nodad")
	}
	s.IP(ns, args...)
}

// IP runs ip(8) against namespace ns and fails the test if it fails.
func (s *sandbox) IP(ns string, args ...string) string {
	s.t.Helper()
	return s.Run(append([]string{"ip", "-n", ns}, args...)...)
}

// Run runs a configuration command (ip, nft, sysctl on our own namespaces)
// and fails the test if it fails.
func (s *sandbox) Run(args ...string) string {
	s.t.Helper()
	out, err := run(args...)
	if err != nil {
		s.t.Fatalf("sandbox: %v: %s", err, out)
	}
	return out
}

// Exec runs a command inside namespace ns and waits for it.
func (s *sandbox) Exec(ns string, args ...string) (string, error) {
	return run(append([]string{"ip", "netns", "exec", ns}, args...)...)
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

// inNetns runs fn on a fresh OS thread switched into namespace ns. The thread
// stays locked and dies with the goroutine, so no other goroutine ever runs in
// the wrong namespace. Sockets fn creates keep ns after fn returns.
func inNetns(ns string, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the runtime discards the thread
		f, err := os.Open(filepath.Join("/run/netns", ns))
		if err != nil {
			errc <- fmt.Errorf("sandbox: %w", err)
			return
		}
		defer f.Close()
		if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("sandbox: setns %s: %w", ns, err)
			return
		}
		errc <- fn()
	}()
	return <-errc
}

// ---- supervisor ----

// StartIn starts a long-running program inside namespace ns (`ip netns exec`
// execs, so the PID is the program's own). See Spawn.
func (s *sandbox) StartIn(ns, label string, args ...string) int {
	s.t.Helper()
	return s.Spawn(label, append([]string{"ip", "netns", "exec", ns}, args...)...)
}

// Spawn starts argv as a long-running process and returns its PID. Its
// stdout and stderr go to a new file <label>-<n>.log in the sandbox
// directory (one per start: state is read from logs, so a restart never sees
// its predecessor's lines); the tails are printed when the test fails. It runs
// in its own process group, so a ^C to the test does not reach it and the
// teardown decides how it ends.
func (s *sandbox) Spawn(label string, argv ...string) int {
	s.t.Helper()
	logPath := filepath.Join(s.dir, fmt.Sprintf("%s-%d.log", label, s.logSeq.Add(1)))
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_EXCL, 0o644)
	if err != nil {
		s.t.Fatalf("sandbox: %v", err)
	}
	fmt.Fprintf(f, "# sandbox: %s: %s\n", label, strings.Join(argv, " "))
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	s.smu.Lock()
	torn := s.torn
	s.smu.Unlock()
	if torn {
		f.Close()
		s.t.Fatalf("sandbox: start %s after teardown", label)
	}
	if err := cmd.Start(); err != nil {
		f.Close()
		s.t.Fatalf("sandbox: start %s: %v", label, err)
	}
	p := &proc{pid: cmd.Process.Pid, label: label, cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		f.Close()
		close(p.done)
	}()
	s.smu.Lock()
	s.procs[p.pid] = p
	s.smu.Unlock()
	s.t.Logf("sandbox: started %s pid %d (log %s)", label, p.pid, filepath.Base(logPath))
	return p.pid
}

func (s *sandbox) proc(pid int) *proc {
	s.smu.Lock()
	defer s.smu.Unlock()
	return s.procs[pid]
}

// LogPath returns the log file of a process started here, or "".
func (s *sandbox) LogPath(pid int) string {
	if p := s.proc(pid); p != nil {
		return p.log
	}
	return ""
}

// Kill sends sig to pid, which must be a process this sandbox started or a
// descendant of one (keepalived's VRRP child, for example).
func (s *sandbox) Kill(pid int, sig syscall.Signal) error {
	if !s.owns(pid) {
		return fmt.Errorf("sandbox: pid %d was not started by this sandbox", pid)
	}
	if err := syscall.Kill(pid, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("sandbox: kill %d %v: %w", pid, sig, err)
	}
	return nil
}

// owns reports whether pid was started here or descends from such a process.
func (s *sandbox) owns(pid int) bool {
	for hops := 0; pid > 1 && hops < 8; hops++ {
		if s.proc(pid) != nil {
			return true
		}
		pid = ppid(pid)
	}
	return false
}

// Exited reports whether a process started here has exited (for a
// descendant, whether it is gone).
func (s *sandbox) Exited(pid int) bool {
	p := s.proc(pid)
	if p == nil {
		return !alive(pid)
	}
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// ExitCode returns the exit status of a process started here once it has
// exited (ok false before, or for a PID the sandbox did not start); -1 when
// a signal ended it.
func (s *sandbox) ExitCode(pid int) (code int, ok bool) {
	p := s.proc(pid)
	if p == nil {
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
func (s *sandbox) Stop(pid int, sig syscall.Signal, timeout time.Duration, who string) {
	s.t.Helper()
	if err := s.Kill(pid, sig); err != nil {
		s.t.Fatalf("%v", err)
	}
	if !s.WaitExit(pid, timeout) {
		s.t.Fatalf("%s (pid %d) did not exit on %v within %v", who, pid, sig, timeout)
	}
}

// WaitExit waits up to timeout for a process (ours or a descendant) to exit.
func (s *sandbox) WaitExit(pid int, timeout time.Duration) bool {
	p := s.proc(pid)
	if p == nil {
		_, ok := poll(timeout, func() (bool, string) { return !alive(pid), "" })
		return ok
	}
	select {
	case <-p.done:
		return true
	case <-time.After(timeout):
		return false
	}
}

// exitedProc returns a process started here that has exited, or nil.
func (s *sandbox) exitedProc() *proc {
	s.smu.Lock()
	defer s.smu.Unlock()
	for _, p := range s.procs {
		select {
		case <-p.done:
			return p
		default:
		}
	}
	return nil
}

// ---- teardown and reaper ----

// onTeardown registers fn to run at teardown before processes are killed and
// namespaces deleted (sockets, goroutines, graceful stops); the last
// registered runs first. The interrupt handler skips them.
func (s *sandbox) onTeardown(fn func()) {
	s.smu.Lock()
	defer s.smu.Unlock()
	s.closers = append(s.closers, fn)
}

// teardown runs from t.Cleanup: log tails when the test failed, closers,
// then everything teardownQuiet does.
func (s *sandbox) teardown() { s.finish(false) }

// teardownQuiet is the interrupt handler's teardown: it never touches
// testing.T and runs no closers.
func (s *sandbox) teardownQuiet() { s.finish(true) }

func (s *sandbox) finish(quiet bool) {
	s.smu.Lock()
	if s.torn {
		s.smu.Unlock()
		return
	}
	s.torn = true
	closers := s.closers
	netns := append([]string(nil), s.netns...)
	procs := make([]*proc, 0, len(s.procs))
	for _, p := range s.procs {
		procs = append(procs, p)
	}
	s.smu.Unlock()
	sort.Slice(procs, func(i, j int) bool { return procs[i].pid < procs[j].pid })

	if !quiet {
		s.uninterrupt()
		if s.t.Failed() {
			for _, p := range procs {
				s.t.Logf("sandbox: --- %s (pid %d) log tail, %s ---\n%s", p.label, p.pid, p.log, tail(p.log, 60))
			}
		}
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
	}
	// Our processes, their process groups, then whatever is left in our
	// namespaces (it descends from them).
	for _, p := range procs {
		_ = syscall.Kill(p.pid, syscall.SIGKILL)
		_ = syscall.Kill(-p.pid, syscall.SIGKILL)
	}
	for _, ns := range netns {
		killNetnsPids(ns)
	}
	deadline := time.After(10 * time.Second)
	for _, p := range procs {
		select {
		case <-p.done:
		case <-deadline:
		}
	}
	cleanupPrefix(s.prefix, s.dir)
	for i := len(netns) - 1; i >= 0; i-- {
		_, _ = run("ip", "netns", "del", netns[i])
	}
	_ = os.RemoveAll(s.dir)
}

// killNetnsPids SIGKILLs every process inside namespace ns, one of ours
// (only processes a sandbox started ever run in one).
func killNetnsPids(ns string) { signalNetnsPids(ns, syscall.SIGKILL) }

// signalNetnsPids sends sig to every process in the sandbox namespace ns.
func signalNetnsPids(ns string, sig syscall.Signal) {
	if !sandboxRE.MatchString(ns) {
		return
	}
	out, _ := run("ip", "netns", "pids", ns)
	for _, f := range strings.Fields(out) {
		if pid, err := strconv.Atoi(f); err == nil && pid > 1 && pid != os.Getpid() {
			_ = syscall.Kill(pid, sig)
		}
	}
}

// cleanupPrefix kills what is left of a sandbox outside its namespaces
// (processes in its cgroup, processes naming files in dirs: a kubelet env's
// containerd shims), then unmounts below dirs and removes its cgroups. It
// serves teardown and the reaper.
func cleanupPrefix(prefix string, dirs ...string) {
	cg := strings.TrimSuffix(prefix, "-")
	for round := 0; round < 50; round++ {
		pids := cgroupProcs(cg)
		for _, d := range dirs {
			pids = append(pids, procsMentioning(d)...)
		}
		if len(pids) == 0 {
			break
		}
		for _, pid := range pids {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		time.Sleep(100 * time.Millisecond)
	}
	for _, d := range dirs {
		unmountBelow(d)
	}
	for _, h := range cgroupHierarchies() {
		removeCgroupTree(filepath.Join(h, cg))
	}
}

// reapStale deletes what sandboxes of test processes that no longer exist
// left behind (killed by a timeout or SIGKILL): processes, mounts, cgroups,
// namespaces and directories. A live owner's sandboxes are never touched.
func reapStale(t testing.TB) {
	dead := map[string]bool{} // prefix -> seen
	consider := func(name string) string {
		m := sandboxRE.FindStringSubmatch(name)
		if m == nil {
			return ""
		}
		owner, _ := strconv.Atoi(m[1])
		if owner == os.Getpid() || alive(owner) {
			return ""
		}
		dead[m[0]] = true
		return m[0]
	}
	var nss []string
	out, _ := run("ip", "netns", "list")
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) > 0 && consider(f[0]) != "" {
			nss = append(nss, f[0])
		}
	}
	ents, _ := os.ReadDir(os.TempDir())
	for _, d := range ents {
		consider(d.Name())
	}
	for _, h := range cgroupHierarchies() {
		ents, _ := os.ReadDir(h)
		for _, d := range ents {
			if d.IsDir() && sandboxRE.FindString(d.Name()+"-") == d.Name()+"-" {
				consider(d.Name() + "-")
			}
		}
	}
	if len(dead) == 0 {
		return
	}
	prefixes := make([]string, 0, len(dead))
	for p := range dead {
		prefixes = append(prefixes, p)
	}
	sort.Strings(prefixes)
	for _, p := range prefixes {
		var mine []string
		for _, ns := range nss {
			if strings.HasPrefix(ns, p) {
				mine = append(mine, ns)
				killNetnsPids(ns)
			}
		}
		dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), p+"*"))
		cleanupPrefix(p, dirs...)
		for _, d := range dirs {
			_ = os.RemoveAll(d)
		}
		for _, ns := range mine {
			_, _ = run("ip", "netns", "del", ns)
		}
		t.Logf("sandbox: reaped stale %s* (namespaces %v, dirs %v)", p, mine, dirs)
	}
}

// onInterrupt registers fn to run if the test binary is interrupted
// (SIGINT/SIGTERM/SIGHUP), when t.Cleanup does not run; the returned func
// unregisters it. The newest registration runs first (a kubelet env inside a
// lab goes before the lab), and only after all of them does the binary exit.
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
			sort.Slice(ids, func(i, j int) bool { return ids[i] > ids[j] })
			fns := make([]func(), 0, len(ids))
			for _, id := range ids {
				fns = append(fns, interruptFns[id])
			}
			interruptMu.Unlock()
			for _, fn := range fns {
				fn()
			}
			fmt.Fprintf(os.Stderr, "sandbox: %v: tore down %d sandbox(es)\n", s, len(fns))
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

// cgroupHierarchies lists the cgroup v1 mounts and the unified one beside them.
func cgroupHierarchies() []string {
	ents, _ := os.ReadDir("/sys/fs/cgroup")
	var dirs []string
	for _, d := range ents {
		if d.IsDir() {
			dirs = append(dirs, filepath.Join("/sys/fs/cgroup", d.Name()))
		}
	}
	return dirs
}

// cgroupProcs lists the processes in cgroup /cg and below (pids hierarchy,
// which every container joins).
func cgroupProcs(cg string) []int {
	var pids []int
	_ = filepath.WalkDir(filepath.Join("/sys/fs/cgroup/pids", cg), func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Name() != "cgroup.procs" {
			return nil
		}
		b, _ := os.ReadFile(p)
		for _, f := range strings.Fields(string(b)) {
			if pid, err := strconv.Atoi(f); err == nil && pid != os.Getpid() {
				pids = append(pids, pid)
			}
		}
		return nil
	})
	return pids
}

// procsMentioning finds processes by their command lines: any argument
// naming a file below dir (a sandbox's private directory).
func procsMentioning(dir string) []int {
	if dir == "" || dir == "/" {
		return nil
	}
	ents, _ := os.ReadDir("/proc")
	var pids []int
	for _, d := range ents {
		pid, err := strconv.Atoi(d.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if err != nil {
			continue
		}
		for _, arg := range strings.Split(string(b), "\x00") {
			if strings.Contains(arg, dir+"/") {
				pids = append(pids, pid)
				break
			}
		}
	}
	return pids
}

// unmountBelow detaches every mount at or below dir, deepest first.
func unmountBelow(dir string) {
	if dir == "" || dir == "/" {
		return
	}
	for round := 0; round < 5; round++ {
		b, err := os.ReadFile("/proc/self/mountinfo")
		if err != nil {
			return
		}
		var mps []string
		for _, line := range strings.Split(string(b), "\n") {
			f := strings.Fields(line)
			if len(f) < 5 {
				continue
			}
			mp := unescapeMountinfo(f[4])
			if mp == dir || strings.HasPrefix(mp, dir+"/") {
				mps = append(mps, mp)
			}
		}
		if len(mps) == 0 {
			return
		}
		sort.Slice(mps, func(i, j int) bool { return len(mps[i]) > len(mps[j]) })
		for _, mp := range mps {
			_ = unix.Unmount(mp, unix.MNT_DETACH)
		}
	}
}

// unescapeMountinfo undoes mountinfo's octal escapes (\040 for a space).
func unescapeMountinfo(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// removeCgroupTree removes an (empty of processes) cgroup and its children,
// deepest first. cgroupfs only allows rmdir.
func removeCgroupTree(root string) {
	var dirs []string
	_ = filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			dirs = append(dirs, p)
		}
		return nil
	})
	for i := len(dirs) - 1; i >= 0; i-- {
		for try := 0; try < 20; try++ {
			err := unix.Rmdir(dirs[i])
			if err == nil || errors.Is(err, unix.ENOENT) || !errors.Is(err, unix.EBUSY) {
				break
			}
			time.Sleep(50 * time.Millisecond)
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

// addrReader lists a namespace's IPv4 addresses over rtnetlink, from a
// socket opened inside the namespace once: cheap enough to poll every few
// milliseconds, and blind to which interface holds them, so it keeps working
// when an interface is deleted and recreated.
type addrReader struct {
	fd  int
	seq uint32
	buf []byte
}

// openAddrReader opens an rtnetlink socket inside namespace ns.
func openAddrReader(ns string) (*addrReader, error) {
	r := &addrReader{fd: -1, buf: make([]byte, 1<<16)}
	err := inNetns(ns, func() error {
		fd, err := syscall.Socket(syscall.AF_NETLINK, syscall.SOCK_RAW|syscall.SOCK_CLOEXEC, syscall.NETLINK_ROUTE)
		if err != nil {
			return fmt.Errorf("sandbox: netlink socket in %s: %w", ns, err)
		}
		r.fd = fd
		return nil
	})
	if err != nil {
		return nil, err
	}
	tv := syscall.NsecToTimeval(int64(time.Second))
	if err := syscall.SetsockoptTimeval(r.fd, syscall.SOL_SOCKET, syscall.SO_RCVTIMEO, &tv); err != nil {
		r.Close()
		return nil, fmt.Errorf("sandbox: netlink SO_RCVTIMEO: %w", err)
	}
	if err := syscall.Bind(r.fd, &syscall.SockaddrNetlink{Family: syscall.AF_NETLINK}); err != nil {
		r.Close()
		return nil, fmt.Errorf("sandbox: netlink bind: %w", err)
	}
	return r, nil
}

// Close closes the socket.
func (r *addrReader) Close() {
	if r.fd >= 0 {
		syscall.Close(r.fd)
		r.fd = -1
	}
}

// IPv4 returns every IPv4 address in the namespace (RTM_GETADDR dump).
// Not safe for concurrent use.
func (r *addrReader) IPv4() ([]netip.Addr, error) {
	r.seq++
	req := make([]byte, syscall.NLMSG_HDRLEN+syscall.SizeofIfAddrmsg)
	hdr := (*syscall.NlMsghdr)(unsafe.Pointer(&req[0]))
	hdr.Len = uint32(len(req))
	hdr.Type = syscall.RTM_GETADDR
	hdr.Flags = syscall.NLM_F_REQUEST | syscall.NLM_F_DUMP
	hdr.Seq = r.seq
	req[syscall.NLMSG_HDRLEN] = syscall.AF_INET // ifaddrmsg.ifa_family
	if err := syscall.Sendto(r.fd, req, 0, &syscall.SockaddrNetlink{Family: syscall.AF_NETLINK}); err != nil {
		return nil, fmt.Errorf("sandbox: RTM_GETADDR: %w", err)
	}
	var addrs []netip.Addr
	for {
		n, _, err := syscall.Recvfrom(r.fd, r.buf, 0)
		if err != nil {
			return nil, fmt.Errorf("sandbox: RTM_GETADDR reply: %w", err)
		}
		msgs, err := syscall.ParseNetlinkMessage(r.buf[:n])
		if err != nil {
			return nil, fmt.Errorf("sandbox: RTM_GETADDR reply: %w", err)
		}
		for _, m := range msgs {
			if m.Header.Seq != r.seq {
				continue // a reply to an earlier, timed-out request
			}
			switch m.Header.Type {
			case syscall.NLMSG_DONE:
				return addrs, nil
			case syscall.NLMSG_ERROR:
				return nil, fmt.Errorf("sandbox: RTM_GETADDR: netlink error")
			case syscall.RTM_NEWADDR:
				attrs, err := syscall.ParseNetlinkRouteAttr(&m)
				if err != nil {
					return nil, fmt.Errorf("sandbox: RTM_NEWADDR: %w", err)
				}
				for _, a := range attrs {
					if a.Attr.Type == syscall.IFA_LOCAL && len(a.Value) == 4 {
						addrs = append(addrs, netip.AddrFrom4([4]byte(a.Value)))
					}
				}
			}
		}
	}
}
