//go:build integration

package integration

// The kubeadm environment: a real kubeadm HA control plane (issue 11) on the
// lab's segment, with vipd's static pod on every master (or, in
// TestBenchKubeadm, the kubeadm HA guide's keepalived: bench_kubeadm_test.go).
//
//	ns <prefix>sw : bridge br0, the advert sniffer
//	ns <prefix>h0 : eth0 198.18.0.1/24   master m1 (vipd: priority 150)
//	ns <prefix>h1 : eth0 198.18.0.2/24   master m2 (vipd: priority 100)
//	ns <prefix>h2 : eth0 198.18.0.3/24   master m3 (vipd: priority 50)
//	ns <prefix>c  : eth0 198.18.0.100/24 the API probe, aimed at 198.18.0.200:6443
//
// Each master is the lab host's network namespace plus a persistent mount
// namespace of its own (<dir>/mntns/<m>, from `unshare --mount=FILE`) that
// containerd, the kubelet, kubeadm and every container of the master share:
// runc resolves hostPath volumes (/etc/kubernetes/pki, /var/lib/etcd) in
// containerd's mount namespace. Inside it, below <dir>/<m>/ on the host:
//
//	/etc      overlay: the host's /etc below, <m>/etc above (so /etc/kubernetes
//	          exists for this master only and the host's /etc is never written)
//	/var/lib  bind of <m>/var-lib (kubelet, etcd, containerd, vipd state)
//	/var/log  bind of <m>/var-log (pods, containers)
//	/run      bind of <m>/run-<boot>: a fresh one per boot, as a reboot empties
//	          /run (containerd's state and shim sockets, /run/vipd)
//	/proc/sys the kernel tunables the kubelet insists on, bound over the files
//	          (kubeletTunables), so it never writes the host's
//
// and cgroup root /<prefix>/<m> (the kubelet's cgroupRoot, cgroupfs driver).
// The host's /etc/kubernetes, /var/lib/kubelet and /run/containerd are never
// touched. Everything is the lab's sandbox's: processes are started by its
// supervisor, and its teardown (success, failure, ^C) and reaper kill what
// runs in the namespaces and the cgroup tree, unmount below the directory
// (the mount namespace files with it) and remove the cgroups.
//
// Secrets: the bootstrap token and the certificate key exist only in the
// kubeadm configuration files (mode 0600, in the sandbox directory, deleted
// at teardown); kubeadm is told not to print them, and the test checks that
// no log holds them. Why each setting is what it is: docs/kubeadm-test.md.

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var kubeDirFlag = flag.String("kube-dir", "", "directory of the cached control plane (default: the one `make kube` prints)")

const (
	// kaVersion is the Kubernetes release hack/kube builds; kubeadm is told it
	// explicitly (otherwise it asks the internet first).
	kaVersion = "v1.31.4"
	// kaCRISocket is containerd's default socket, private to each master.
	kaCRISocket = "unix:///run/containerd/containerd.sock"
	kaCtrSocket = "/run/containerd/containerd.sock"
	kaAPIPort   = 6443
	kaVRID      = 51
	// kaInterval is the advert interval: vipd's default, and the one the
	// issue's figures were measured at.
	kaInterval = time.Second
	// kaPauseImage is what kubeadm v1.31 checks for and containerd runs.
	kaPauseImage = "registry.k8s.io/pause:3.10"
)

// kaPriorities are the masters' base priorities with vipd, as in the issue.
var kaPriorities = []int{150, 100, 50}

// kubeadmCluster is three masters on a lab.
type kubeadmCluster struct {
	t       *testing.T
	l       *lab
	VIP     netip.Addr
	kubeDir string // cache: bin/, images/
	etcdDir string
	kubelet string // kubelet binary
	vipdTar string // bin/vipd-image.tar
	binDir  string // bin/vipd, bin/vipctl
	Masters []*kubeadmMaster

	token, certKey string
	caPEM          []byte
	CAPool         *x509.CertPool
}

// kubeadmMaster is one control-plane node.
type kubeadmMaster struct {
	c        *kubeadmCluster
	Idx      int
	Name     string // node name: m1, m2, m3
	Node     *node  // the lab host
	Priority int
	dir      string // <lab dir>/<name>
	mntns    string // persistent mount namespace file
	cgroup   string // kubelet cgroupRoot: /<prefix>/<name>
	boot     int

	mu                  sync.Mutex
	containerd, kubelet int // PIDs, 0 when not running
}

// newKubeadmCluster builds the lab (three hosts and a client), one mount
// namespace and cgroup root per master, and starts containerd on each with
// the images imported. Nothing of Kubernetes runs yet. prios are the
// masters' base priorities (the VIP daemon's).
func newKubeadmCluster(t *testing.T, vipdTar string, prios []int) *kubeadmCluster {
	t.Helper()
	c := &kubeadmCluster{t: t, vipdTar: vipdTar}
	c.prereqs()
	c.l = newLab(t, len(prios), withoutIPv6())
	c.VIP = c.l.VIP4
	c.binDir = vipdBinaries(c.l)
	c.token, c.certKey = kaSecrets(t)

	// Persistent mount namespace files must live on a private mount.
	nsDir := filepath.Join(c.l.dir, "mntns")
	if err := os.MkdirAll(nsDir, 0o700); err != nil {
		t.Fatal(err)
	}
	c.l.Run("mount", "--bind", nsDir, nsDir)
	c.l.Run("mount", "--make-private", nsDir)

	cgBase := "/" + strings.TrimSuffix(c.l.prefix, "-")
	for i, prio := range prios {
		m := &kubeadmMaster{
			c: c, Idx: i, Name: fmt.Sprintf("m%d", i+1), Node: c.l.host(i), Priority: prio,
			dir: filepath.Join(c.l.dir, fmt.Sprintf("m%d", i+1)),
		}
		m.mntns = filepath.Join(nsDir, m.Name)
		m.cgroup = cgBase + "/" + m.Name
		// ip_forward is per namespace; kubeadm's preflight wants it.
		c.l.Run("ip", "netns", "exec", m.Node.NS, "sysctl", "-qw", "net.ipv4.ip_forward=1")
		m.makeMountNS()
		(&kubeletEnv{t: t, cgroup: cgBase}).makeCgroupRoot()
		(&kubeletEnv{t: t, cgroup: m.cgroup}).makeCgroupRoot()
		c.Masters = append(c.Masters, m)
	}
	c.l.onTeardown(c.stop)
	// The secret check of hygiene, also when the test failed before it:
	// the sandbox has just printed the logs' tails.
	c.l.onTeardown(func() {
		if !t.Failed() {
			return
		}
		if hits := c.LogsWithSecret(); len(hits) > 0 {
			t.Errorf("the bootstrap token or the certificate key appears in %v", hits)
		}
	})

	start := time.Now()
	var wg sync.WaitGroup
	errs := make([]error, len(c.Masters))
	for i, m := range c.Masters {
		m.startContainerd()
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = m.importImages() }()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	t.Logf("kubeadm: 3 masters' containerd up, 6 images imported in each, in %v", time.Since(start).Round(time.Millisecond))
	return c
}

// prereqs finds the cached control plane and the kubelet, and checks the tools.
func (c *kubeadmCluster) prereqs() {
	t := c.t
	t.Helper()
	c.kubelet = kubeletPrereqs(t)
	for _, p := range []string{"mount", "umount"} {
		if _, err := exec.LookPath(p); err != nil {
			t.Fatalf("kubeadm: %s not installed; run `make kubelet-deps`", p)
		}
	}
	cache := os.Getenv("XDG_CACHE_HOME")
	if cache == "" {
		cache = filepath.Join(os.Getenv("HOME"), ".cache")
	}
	c.kubeDir = *kubeDirFlag
	if c.kubeDir == "" {
		c.kubeDir = filepath.Join(cache, "vipd", "kube-"+kaVersion)
	}
	c.etcdDir = filepath.Join(cache, "vipd", "etcd-v3.5.15")
	var missing []string
	for _, f := range []string{"bin/kubeadm", "bin/kubectl", "images/kube-apiserver.tar", "images/kube-controller-manager.tar",
		"images/kube-scheduler.tar", "images/etcd.tar", "images/pause.tar"} {
		if _, err := os.Stat(filepath.Join(c.kubeDir, f)); err != nil {
			missing = append(missing, f)
		}
	}
	if len(missing) > 0 {
		t.Fatalf("kubeadm: %s missing from %s; run `make kube` (`make test` does)", strings.Join(missing, ", "), c.kubeDir)
	}
}

// kaSecrets makes a bootstrap token ([a-z0-9]{6}.[a-z0-9]{16}) and an
// upload-certs key (32 bytes, hex), as `kubeadm token generate` and
// `kubeadm certs certificate-key` would.
func kaSecrets(t *testing.T) (token, key string) {
	t.Helper()
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, 22+32)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	tok := make([]byte, 0, 23)
	for i, v := range b[:22] {
		if i == 6 {
			tok = append(tok, '.')
		}
		tok = append(tok, alphabet[int(v)%len(alphabet)])
	}
	return string(tok), hex.EncodeToString(b[22:])
}

// ---- one master's mount namespace and processes ----

// kaMountSetup runs once, inside a master's new mount namespace:
// `sh -c kaMountSetup sh DIR`. See the file comment for the layout.
const kaMountSetup = `set -eu
d=$1
mkdir -p "$d/etc" "$d/etc.work" "$d/var-lib" "$d/var-log" "$d/run-1"
mount -t overlay vka-etc -o "lowerdir=/etc,upperdir=$d/etc,workdir=$d/etc.work" /etc
mount --bind "$d/var-lib" /var/lib
mount --bind "$d/var-log" /var/log
mount --bind "$d/run-1" /run
for f in $(cd "$d/sysctl" && find . -type f); do mount --bind "$d/sysctl/$f" "/proc/sys/$f"; done
`

// kaReboot runs inside a master's mount namespace on a reboot: every
// process is dead; /run (and every mount below it, the containers' root
// filesystems) goes, and an empty one comes.
const kaReboot = `set -eu
d=$1 b=$2
mkdir -p "$d/run-$b"
umount -l /run
mount --bind "$d/run-$b" /run
`

func (m *kubeadmMaster) makeMountNS() {
	t := m.c.t
	t.Helper()
	if err := os.MkdirAll(filepath.Join(m.dir, "sysctl"), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, val := range kubeletTunables {
		cur, err := os.ReadFile("/proc/sys/" + name)
		if err != nil {
			t.Fatalf("kubeadm: %v", err)
		}
		if strings.TrimSpace(string(cur)) == val {
			continue
		}
		f := filepath.Join(m.dir, "sysctl", name)
		if err := os.MkdirAll(filepath.Dir(f), 0o755); err == nil {
			err = os.WriteFile(f, []byte(val+"\n"), 0o644)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(m.mntns, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	m.c.l.Run("unshare", "--mount="+m.mntns, "--propagation", "private", "--", "sh", "-c", kaMountSetup, "sh", m.dir)
	m.boot = 1
}

// enter is the argv prefix that runs a command in the master's network and
// mount namespaces (never `ip netns exec`, which remounts /sys).
func (m *kubeadmMaster) enter(args ...string) []string {
	return append([]string{"nsenter", "--net=/run/netns/" + m.Node.NS, "--mount=" + m.mntns, "--"}, args...)
}

// Exec runs a command on the master and returns its combined output.
func (m *kubeadmMaster) Exec(args ...string) (string, error) { return run(m.enter(args...)...) }

// Sh runs a shell script on the master, with stdin.
func (m *kubeadmMaster) Sh(stdin, script string, args ...string) (string, error) {
	argv := m.enter(append([]string{"sh", "-c", script, "sh"}, args...)...)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s: %s: %w", m.Name, script, err)
	}
	return string(out), nil
}

// MustSh is Sh that fails the test.
func (m *kubeadmMaster) MustSh(stdin, script string, args ...string) string {
	m.c.t.Helper()
	out, err := m.Sh(stdin, script, args...)
	if err != nil {
		m.c.t.Fatalf("kubeadm: %v: %s", err, out)
	}
	return out
}

// WriteFile writes path on the master atomically (rename), as kubeadm
// writes manifests: the kubelet never sees half a file.
func (m *kubeadmMaster) WriteFile(path, data string, mode os.FileMode) {
	m.c.t.Helper()
	m.MustSh(data, `set -eu; mkdir -p "$(dirname "$1")"; t="$(dirname "$1")/.$(basename "$1").tmp"
cat > "$t"; chmod "$2" "$t"; mv "$t" "$1"`, path, fmt.Sprintf("%o", mode))
}

// ReadFile reads path on the master.
func (m *kubeadmMaster) ReadFile(path string) ([]byte, error) {
	argv := m.enter("cat", path)
	out, err := exec.Command(argv[0], argv[1:]...).Output()
	if err != nil {
		return nil, fmt.Errorf("kubeadm: %s: read %s: %w", m.Name, path, err)
	}
	return out, nil
}

// hostPath is where path inside the master's /run, /var/lib or /var/log is
// on the host ("" for other paths); for reading logs and sockets cheaply.
func (m *kubeadmMaster) hostPath(path string) string {
	switch {
	case strings.HasPrefix(path, "/run/"):
		return filepath.Join(m.dir, fmt.Sprintf("run-%d", m.boot), strings.TrimPrefix(path, "/run/"))
	case strings.HasPrefix(path, "/var/lib/"):
		return filepath.Join(m.dir, "var-lib", strings.TrimPrefix(path, "/var/lib/"))
	case strings.HasPrefix(path, "/var/log/"):
		return filepath.Join(m.dir, "var-log", strings.TrimPrefix(path, "/var/log/"))
	}
	return ""
}

// containerdConfig: containerd's defaults are right inside the mount
// namespace (/var/lib/containerd, /run/containerd); only what would reach a
// host path (the opt plugin's /opt/containerd) and what the kubelet needs
// (cgroupfs, the pause image, restrict_oom_score_adj) are set.
func (m *kubeadmMaster) containerdConfig() string {
	return fmt.Sprintf(`version = 2
root = "/var/lib/containerd"
state = "/run/containerd"
[grpc]
  address = %q
[plugins."io.containerd.internal.v1.opt"]
  path = "/var/lib/containerd/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = %q
  restrict_oom_score_adj = true
  enable_selinux = false
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
`, kaCtrSocket, kaPauseImage)
}

func (m *kubeadmMaster) startContainerd() {
	t := m.c.t
	t.Helper()
	conf := filepath.Join(m.dir, "containerd.toml")
	if err := os.WriteFile(conf, []byte(m.containerdConfig()), 0o644); err != nil {
		t.Fatal(err)
	}
	pid := m.c.l.Spawn(m.Name+"-containerd", m.enter("containerd", "--config", conf)...)
	m.mu.Lock()
	m.containerd = pid
	m.mu.Unlock()
	waitFor(t, 30*time.Second, m.Name+" containerd", func() (bool, string) {
		if m.c.l.Exited(pid) {
			t.Fatalf("kubeadm: %s containerd exited:\n%s", m.Name, tail(m.c.l.LogPath(pid), 30))
		}
		out, err := m.ctr("version")
		return err == nil, out
	})
}

// ctr runs ctr against the master's containerd, in the CRI's namespace.
func (m *kubeadmMaster) ctr(args ...string) (string, error) {
	return m.Exec(append([]string{"ctr", "--address", kaCtrSocket, "--namespace", "k8s.io"}, args...)...)
}

// importImages imports the control plane's images and vipd's.
func (m *kubeadmMaster) importImages() error {
	tars := []string{m.c.vipdTar}
	for _, n := range []string{"kube-apiserver", "kube-controller-manager", "kube-scheduler", "etcd", "pause"} {
		tars = append(tars, filepath.Join(m.c.kubeDir, "images", n+".tar"))
	}
	for _, tar := range tars {
		if out, err := m.ctr("images", "import", "--snapshotter", "overlayfs", tar); err != nil {
			return fmt.Errorf("kubeadm: %s: import %s: %v: %s", m.Name, tar, err, out)
		}
	}
	return nil
}

// startKubeletWhenConfigured waits for the files kubeadm's kubelet-start
// phase writes and starts the kubelet as kubeadm's systemd drop-in would
// (10-kubeadm.conf): there is no systemd here to do it.
func (m *kubeadmMaster) startKubeletWhenConfigured(kubeadmPID int) {
	t := m.c.t
	t.Helper()
	cfg, env := m.hostPath("/var/lib/kubelet/config.yaml"), m.hostPath("/var/lib/kubelet/kubeadm-flags.env")
	waitFor(t, 2*time.Minute, m.Name+" kubeadm's kubelet configuration", func() (bool, string) {
		if m.c.l.Exited(kubeadmPID) {
			t.Fatalf("kubeadm: %s: kubeadm exited before configuring the kubelet:\n%s", m.Name, tail(m.c.l.LogPath(kubeadmPID), 40))
		}
		_, err1 := os.Stat(cfg)
		_, err2 := os.Stat(env)
		return err1 == nil && err2 == nil, fmt.Sprint(err1, err2)
	})
	m.StartKubelet()
}

// StartKubelet starts the kubelet with kubeadm's configuration.
func (m *kubeadmMaster) StartKubelet() {
	t := m.c.t
	t.Helper()
	b, err := os.ReadFile(m.hostPath("/var/lib/kubelet/kubeadm-flags.env"))
	if err != nil {
		t.Fatalf("kubeadm: %v", err)
	}
	// KUBELET_KUBEADM_ARGS="--flag=value ..."
	line := strings.TrimSpace(string(b))
	v, ok := strings.CutPrefix(line, "KUBELET_KUBEADM_ARGS=")
	if !ok {
		t.Fatalf("kubeadm: %s: unexpected kubeadm-flags.env %q", m.Name, line)
	}
	args := []string{m.c.kubelet,
		"--bootstrap-kubeconfig=/etc/kubernetes/bootstrap-kubelet.conf",
		"--kubeconfig=/etc/kubernetes/kubelet.conf",
		"--config=/var/lib/kubelet/config.yaml"}
	args = append(args, strings.Fields(strings.Trim(v, `"`))...)
	pid := m.c.l.Spawn(m.Name+"-kubelet", m.enter(args...)...)
	m.mu.Lock()
	m.kubelet = pid
	m.mu.Unlock()
}

// KubeletPID returns the running kubelet's PID, or 0.
func (m *kubeadmMaster) KubeletPID() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.kubelet
}

// StopKubelet stops the kubelet as `systemctl stop kubelet` does (SIGTERM):
// its pods keep running.
func (m *kubeadmMaster) StopKubelet() {
	m.c.t.Helper()
	m.mu.Lock()
	pid := m.kubelet
	m.kubelet = 0
	m.mu.Unlock()
	if pid != 0 {
		m.c.l.Stop(pid, syscall.SIGTERM, 15*time.Second, m.Name+" kubelet")
	}
}

// Kubeadm runs kubeadm on the master with args, starting the kubelet once
// kubeadm has configured it when startKubelet is set, and returns kubeadm's
// output (its log file) and how long it took.
func (m *kubeadmMaster) Kubeadm(startKubelet bool, args ...string) (string, time.Duration) {
	t := m.c.t
	t.Helper()
	start := time.Now()
	// kubeadm runs `kubelet --version`: the cached kubelet is on its PATH.
	pathDir := filepath.Join(m.c.l.dir, "path")
	if err := os.MkdirAll(pathDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(m.c.kubelet, filepath.Join(pathDir, "kubelet")); err != nil && !errors.Is(err, os.ErrExist) {
		t.Fatal(err)
	}
	argv := append([]string{"env", "PATH=" + pathDir + ":" + os.Getenv("PATH"), filepath.Join(m.c.kubeDir, "bin", "kubeadm")}, args...)
	pid := m.c.l.Spawn(m.Name+"-kubeadm-"+args[0], m.enter(argv...)...)
	if startKubelet {
		m.startKubeletWhenConfigured(pid)
	}
	if !m.c.l.WaitExit(pid, 5*time.Minute) {
		t.Fatalf("kubeadm: %s: kubeadm %s did not finish in 5 minutes:\n%s", m.Name, args[0], tail(m.c.l.LogPath(pid), 40))
	}
	took := time.Since(start)
	out, _ := os.ReadFile(m.c.l.LogPath(pid))
	if code, _ := m.c.l.ExitCode(pid); code != 0 {
		t.Fatalf("kubeadm: %s: kubeadm %s exited %d after %v:\n%s", m.Name, strings.Join(args, " "), code, took, tail(m.c.l.LogPath(pid), 60))
	}
	return string(out), took
}

// Crash kills every process of the master at once (SIGKILL: containerd, the
// kubelet, the shims and every container, vipd included), then sets its link
// down: the machine is gone without a word on the wire, and whatever
// addresses vipd had added stay on the interface, as after a kernel that
// outlived its processes.
func (m *kubeadmMaster) Crash() {
	t := m.c.t
	t.Helper()
	m.mu.Lock()
	m.containerd, m.kubelet = 0, 0
	m.mu.Unlock()
	cg := strings.TrimPrefix(m.cgroup, "/")
	// Everything stops first (SIGSTOP cannot be caught), then dies: a
	// crashed machine says nothing. Killed one by one, a daemon's child
	// told of its parent's death (keepalived's VRRP process) could still
	// send its priority-0 farewell, and the crash would be a clean stop.
	signalNetnsPids(m.Node.NS, syscall.SIGSTOP)
	for _, pid := range cgroupProcs(cg) {
		_ = syscall.Kill(pid, syscall.SIGSTOP)
	}
	waitFor(t, 15*time.Second, m.Name+"'s processes gone", func() (bool, string) {
		killNetnsPids(m.Node.NS)
		for _, pid := range cgroupProcs(cg) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		out, _ := run("ip", "netns", "pids", m.Node.NS)
		left := strings.Fields(out)
		return len(left) == 0 && len(cgroupProcs(cg)) == 0, fmt.Sprint(left)
	})
	m.c.l.LinkDown(m.Idx)
}

// Boot starts a crashed master again as a reboot would: the link comes up
// (any address the crash left stays on it), /run is empty, the cgroups of
// the dead containers are gone, then containerd and the kubelet start, and
// the kubelet starts the static pods from the manifests that survived.
func (m *kubeadmMaster) Boot() {
	m.c.t.Helper()
	m.c.l.LinkUp(m.Idx)
	m.boot++
	m.MustSh("", kaReboot, m.dir, strconv.Itoa(m.boot))
	// Left behind, the dead containers' cgroups cost the kubelet's cAdvisor
	// ~3 s each at startup; after a real reboot they do not exist.
	for _, h := range cgroupHierarchies() {
		removeCgroupTree(filepath.Join(h, m.cgroup))
	}
	(&kubeletEnv{t: m.c.t, cgroup: m.cgroup}).makeCgroupRoot()
	m.startContainerd()
	m.StartKubelet()
}

// Manifest is path of static pod name in the master's manifests directory.
func kaManifest(name string) string { return "/etc/kubernetes/manifests/" + name + ".yaml" }

// MoveAway moves static pod manifest name out of the manifests directory
// (the kubelet stops the pod); Restore puts it back.
func (m *kubeadmMaster) MoveAway(name string) {
	m.c.t.Helper()
	m.MustSh("", `mv "$1" "/etc/kubernetes/$2.yaml.away"`, kaManifest(name), name)
	m.c.t.Logf("kubeadm: %s: moved %s out of the manifests directory", m.Name, name)
}

func (m *kubeadmMaster) Restore(name string) {
	m.c.t.Helper()
	m.MustSh("", `mv "/etc/kubernetes/$2.yaml.away" "$1"`, kaManifest(name), name)
	m.c.t.Logf("kubeadm: %s: put %s back in the manifests directory", m.Name, name)
}

// ContainerPIDs returns the host PIDs of the running containers of the
// master whose name (the CRI's io.kubernetes.container.name) is name.
func (m *kubeadmMaster) ContainerPIDs(name string) []int {
	ids, err := m.ctr("containers", "ls", "-q", fmt.Sprintf(`labels."io.kubernetes.container.name"==%s`, name))
	if err != nil {
		return nil
	}
	out, err := m.ctr("tasks", "ls")
	if err != nil {
		return nil
	}
	running := map[string]int{}
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) == 3 && f[2] == "RUNNING" {
			if pid, err := strconv.Atoi(f[1]); err == nil {
				running[f[0]] = pid
			}
		}
	}
	var pids []int
	for _, id := range strings.Fields(ids) {
		if pid, ok := running[id]; ok {
			pids = append(pids, pid)
		}
	}
	return pids
}

// VipdSocket is the host path of the vipd pod's control socket.
func (m *kubeadmMaster) VipdSocket() string { return m.hostPath("/run/vipd/vipd.sock") }

// Vipctl runs bin/vipctl against the master's vipd.
func (m *kubeadmMaster) Vipctl(args ...string) (string, error) {
	return run(append([]string{filepath.Join(m.c.binDir, "vipctl"), "--socket", m.VipdSocket()}, args...)...)
}

// stop runs first in the sandbox's teardown: the kubelets, so that they
// restart nothing, then every task while containerd can still clean up,
// then containerd. The sandbox kills what is left.
func (c *kubeadmCluster) stop() {
	for _, m := range c.Masters {
		m.mu.Lock()
		kl := m.kubelet
		m.kubelet = 0
		m.mu.Unlock()
		if kl != 0 {
			_ = c.l.Kill(kl, syscall.SIGTERM)
			if !c.l.WaitExit(kl, 10*time.Second) {
				_ = c.l.Kill(kl, syscall.SIGKILL)
			}
		}
	}
	for _, m := range c.Masters {
		if out, err := m.ctr("tasks", "ls", "-q"); err == nil {
			for _, id := range strings.Fields(out) {
				_, _ = m.ctr("tasks", "kill", "--all", "--signal", "SIGKILL", id)
			}
		}
	}
	for _, m := range c.Masters {
		m.mu.Lock()
		ctd := m.containerd
		m.mu.Unlock()
		if ctd != 0 {
			_ = c.l.Kill(ctd, syscall.SIGTERM)
			c.l.WaitExit(ctd, 10*time.Second)
		}
	}
}

// ---- kubeadm configuration ----

// patches writes the master's --patches directory: what differs per node
// (the cgroup root) goes in through it, as the KubeletConfiguration is
// cluster-wide and inherited by joiners.
func (m *kubeadmMaster) patches() string {
	d := filepath.Join(m.dir, "patches")
	if err := os.MkdirAll(d, 0o700); err != nil {
		m.c.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(d, "kubeletconfiguration.yaml"), []byte("cgroupRoot: "+m.cgroup+"\n"), 0o600); err != nil {
		m.c.t.Fatal(err)
	}
	return d
}

// nodeRegistration is the part of Init and JoinConfiguration that names the node.
func (m *kubeadmMaster) nodeRegistration() string {
	return fmt.Sprintf(`nodeRegistration:
  name: %s
  criSocket: %s
  # conntrack and iptables are kube-proxy's (skipped) and need not be
  # installed; HTTPProxyCIDR trips over Go 1.26's stricter URL parser.
  ignorePreflightErrors: [FileExisting-conntrack, FileExisting-iptables, HTTPProxyCIDR]
  kubeletExtraArgs:
  - name: node-ip
    value: %s
patches:
  directory: %s
`, m.Name, kaCRISocket, m.Node.V4, m.patches())
}

// InitConfig is `kubeadm init --config`: the flags of the flow
// (--control-plane-endpoint VIP:6443 --apiserver-advertise-address NODE_IP
// --kubernetes-version --node-name --cri-socket --patches --skip-phases
// --ignore-preflight-errors), with the token and certificate key in the file
// rather than on a command line.
func (c *kubeadmCluster) InitConfig(m *kubeadmMaster) string {
	return fmt.Sprintf(`apiVersion: kubeadm.k8s.io/v1beta4
kind: InitConfiguration
bootstrapTokens:
- token: %q
  ttl: 2h
certificateKey: %q
localAPIEndpoint:
  advertiseAddress: %s
  bindPort: %d
skipPhases: [addon/kube-proxy, addon/coredns]
%s---
apiVersion: kubeadm.k8s.io/v1beta4
kind: ClusterConfiguration
kubernetesVersion: %s
controlPlaneEndpoint: %s
# The flexvolume directory under the master's own /var/lib (the default,
# /usr/libexec/kubernetes, is the host's): kubeadm mounts this path into
# the controller-manager instead, and the kubelet's prober creates it here.
controllerManager:
  extraArgs:
  - name: flex-volume-plugin-dir
    value: %s
---
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
# kubeadm 1.31 defaults to systemd; containerd 1.6 cannot report its driver.
cgroupDriver: cgroupfs
failSwapOn: false
failCgroupV1: false
volumePluginDir: %s
`, c.token, c.certKey, m.Node.V4, kaAPIPort, m.nodeRegistration(), kaVersion, c.Endpoint(), kaFlexDir, kaFlexDir)
}

// JoinConfig is `kubeadm join VIP:6443 --control-plane --certificate-key …
// --token … --discovery-token-ca-cert-hash …` as a file.
func (c *kubeadmCluster) JoinConfig(m *kubeadmMaster) string {
	return fmt.Sprintf(`apiVersion: kubeadm.k8s.io/v1beta4
kind: JoinConfiguration
discovery:
  bootstrapToken:
    apiServerEndpoint: %s
    token: %q
    caCertHashes: [%q]
controlPlane:
  certificateKey: %q
  localAPIEndpoint:
    advertiseAddress: %s
    bindPort: %d
%s`, c.Endpoint(), c.token, c.caHash(), c.certKey, m.Node.V4, kaAPIPort, m.nodeRegistration())
}

// kaFlexDir is the flexvolume plugin directory of the controller-manager
// and the kubelet, in the master's own /var/lib.
const kaFlexDir = "/var/lib/kubelet/volumeplugins"

// Endpoint is the control-plane endpoint, VIP:6443.
func (c *kubeadmCluster) Endpoint() string {
	return netip.AddrPortFrom(c.VIP, kaAPIPort).String()
}

// WriteConfig writes a kubeadm configuration (it holds secrets) where the
// master can read it, mode 0600, and returns its path.
func (m *kubeadmMaster) WriteConfig(name, data string) string {
	p := filepath.Join(m.dir, name)
	if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
		m.c.t.Fatal(err)
	}
	return p
}

// LoadCA reads the cluster CA from master m (after kubeadm init).
func (c *kubeadmCluster) LoadCA(m *kubeadmMaster) {
	c.t.Helper()
	b, err := m.ReadFile("/etc/kubernetes/pki/ca.crt")
	if err != nil {
		c.t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		c.t.Fatalf("kubeadm: %s: no certificate in ca.crt", m.Name)
	}
	c.caPEM, c.CAPool = b, pool
}

// caHash is the --discovery-token-ca-cert-hash of the cluster CA: sha256 of
// its DER SubjectPublicKeyInfo.
func (c *kubeadmCluster) caHash() string {
	blk, _ := pem.Decode(c.caPEM)
	if blk == nil {
		c.t.Fatal("kubeadm: ca.crt is not PEM")
	}
	cert, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		c.t.Fatal(err)
	}
	sum := sha256.Sum256(cert.RawSubjectPublicKeyInfo)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// Kubectl runs kubectl on master m with its admin.conf, whose server is the
// control-plane endpoint: every call goes through the VIP.
func (m *kubeadmMaster) Kubectl(args ...string) (string, error) {
	return m.Exec(append([]string{filepath.Join(m.c.kubeDir, "bin", "kubectl"), "--kubeconfig=/etc/kubernetes/admin.conf", "--request-timeout=5s"}, args...)...)
}

// Etcdctl runs etcdctl inside master m's etcd container's view: the
// client certificates kubeadm made, through the local member.
func (m *kubeadmMaster) Etcdctl(args ...string) (string, error) {
	return m.Exec(append([]string{filepath.Join(m.c.etcdDir, "bin", "etcdctl"),
		"--endpoints=https://127.0.0.1:2379", "--dial-timeout=3s", "--command-timeout=5s",
		"--cacert=/etc/kubernetes/pki/etcd/ca.crt",
		"--cert=/etc/kubernetes/pki/apiserver-etcd-client.crt",
		"--key=/etc/kubernetes/pki/apiserver-etcd-client.key"}, args...)...)
}

// LogsWithSecret lists the files below the sandbox directory (process logs,
// container logs) that hold the token's secret half or the certificate key.
// The kubeadm configuration files themselves are not logs and are skipped.
func (c *kubeadmCluster) LogsWithSecret() []string {
	secretHalf := c.token[strings.IndexByte(c.token, '.')+1:]
	var hits []string
	_ = filepath.WalkDir(c.l.dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".log") {
			return nil
		}
		b, err := os.ReadFile(p)
		if err == nil && (strings.Contains(string(b), secretHalf) || strings.Contains(string(b), c.certKey)) {
			hits = append(hits, p)
		}
		return nil
	})
	return hits
}

// Holders returns the masters that have the VIP on an interface.
func (c *kubeadmCluster) Holders() []*kubeadmMaster {
	var hs []*kubeadmMaster
	for _, m := range c.Masters {
		if m.Node.HasAddr(c.VIP) {
			hs = append(hs, m)
		}
	}
	return hs
}

// ---- the API probe ----

// apiProbe is the client's view of the API: HTTPS GET /readyz through the
// VIP every 10 ms (StartProbeTo: at one master's own address, every 50 ms)
// from the client namespace, TLS verified against the cluster CA, each request on its own goroutine with a timeout, so that one
// stuck connection never hides a recovery. The outage is the longest time
// between two 200s.
type apiProbe struct {
	url    string
	every  time.Duration
	client *http.Client
	stop   chan struct{}
	done   chan struct{}
	start  time.Time

	mu    sync.Mutex
	oks   []time.Time // completion times of 200s
	fails map[string]int
	end   time.Time
}

// apiOutage is what a probe saw.
type apiOutage struct {
	Longest     time.Duration // longest time without a 200
	From, To    time.Time     // the 200s around it
	OK, Failed  int
	FailReasons map[string]int
}

func (o apiOutage) String() string {
	reasons := make([]string, 0, len(o.FailReasons))
	for r, n := range o.FailReasons {
		reasons = append(reasons, fmt.Sprintf("%s×%d", r, n))
	}
	sort.Strings(reasons)
	return fmt.Sprintf("longest gap %v (%s → %s), %d ok, %d failed [%s]", o.Longest.Round(time.Millisecond),
		o.From.Format("15:04:05.000"), o.To.Format("15:04:05.000"), o.OK, o.Failed, strings.Join(reasons, ", "))
}

// StartProbe starts an API probe from the client namespace.
func (c *kubeadmCluster) StartProbe() *apiProbe {
	c.t.Helper()
	return c.startProbe(c.Endpoint(), probeInterval)
}

// StartProbeTo starts an API probe from the client namespace aimed at
// master m's own address, not the VIP (its certificate names it: kubeadm
// adds the advertise address): when that apiserver answers, whoever holds
// the VIP. It asks every 50 ms, not to load the apiservers it watches.
func (c *kubeadmCluster) StartProbeTo(m *kubeadmMaster) *apiProbe {
	c.t.Helper()
	return c.startProbe(netip.AddrPortFrom(m.Node.V4, kaAPIPort).String(), 50*time.Millisecond)
}

func (c *kubeadmCluster) startProbe(hostPort string, every time.Duration) *apiProbe {
	c.t.Helper()
	ns := c.l.client().NS
	tr := &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			var conn net.Conn
			err := inNetns(ns, func() error {
				var err error
				conn, err = (&net.Dialer{}).DialContext(ctx, network, addr)
				return err
			})
			return conn, err
		},
		// The apiserver's certificate has the control-plane endpoint's
		// address as a SAN: Go checks it against the URL's host.
		TLSClientConfig:     &tls.Config{RootCAs: c.CAPool, MinVersion: tls.VersionTLS12},
		MaxIdleConnsPerHost: 8,
		IdleConnTimeout:     5 * time.Second,
	}
	p := &apiProbe{
		url:    "https://" + hostPort + "/readyz",
		client: &http.Client{Transport: tr, Timeout: time.Second},
		stop:   make(chan struct{}),
		done:   make(chan struct{}),
		start:  time.Now(),
		fails:  map[string]int{},
		every:  every,
	}
	go p.loop()
	c.l.onTeardown(func() { p.Stop() })
	return p
}

func (p *apiProbe) loop() {
	defer close(p.done)
	var wg sync.WaitGroup
	tick := time.NewTicker(p.every)
	defer tick.Stop()
	for {
		select {
		case <-p.stop:
			wg.Wait()
			p.client.Transport.(*http.Transport).CloseIdleConnections()
			return
		case <-tick.C:
			wg.Add(1)
			go func() { defer wg.Done(); p.once() }()
		}
	}
}

func (p *apiProbe) once() {
	resp, err := p.client.Get(p.url)
	var reason string
	switch {
	case err != nil:
		reason = kaErrKind(err)
	default:
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			reason = "HTTP " + strconv.Itoa(resp.StatusCode)
		}
	}
	now := time.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	if reason == "" {
		p.oks = append(p.oks, now)
	} else {
		p.fails[reason]++
	}
}

// kaErrKind names a client error briefly: timeout, refused, reset, ...
func kaErrKind(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return "refused"
	case errors.Is(err, syscall.ECONNRESET):
		return "reset"
	case errors.Is(err, syscall.EHOSTUNREACH):
		return "unreachable"
	case errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		return "eof"
	}
	var ue x509.UnknownAuthorityError
	if errors.As(err, &ue) {
		return "unknown-ca"
	}
	return "error"
}

// StableFor reports whether the API has answered 200 for the last d
// without a gap above 100 ms, the latest 200 less than 100 ms ago.
func (p *apiProbe) StableFor(d time.Duration) bool {
	p.mu.Lock()
	oks := append([]time.Time(nil), p.oks...)
	p.mu.Unlock()
	sort.Slice(oks, func(i, j int) bool { return oks[i].Before(oks[j]) })
	now := time.Now()
	if len(oks) == 0 || now.Sub(oks[len(oks)-1]) > 100*time.Millisecond {
		return false
	}
	for i := len(oks) - 1; i > 0; i-- {
		if now.Sub(oks[i-1]) >= d {
			return true
		}
		if oks[i].Sub(oks[i-1]) > 100*time.Millisecond {
			return false
		}
	}
	return false
}

// FirstOKAfter returns when the first 200 at or after t came (zero if none).
func (p *apiProbe) FirstOKAfter(t time.Time) time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	var first time.Time
	for _, ok := range p.oks {
		if !ok.Before(t) && (first.IsZero() || ok.Before(first)) {
			first = ok
		}
	}
	return first
}

// Answering reports whether a 200 came in the last d.
func (p *apiProbe) Answering(d time.Duration) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i := len(p.oks) - 1; i >= 0 && i >= len(p.oks)-8; i-- {
		if time.Since(p.oks[i]) <= d {
			return true
		}
	}
	return false
}

// Stop stops the probe (idempotent) and returns what it saw.
func (p *apiProbe) Stop() apiOutage {
	select {
	case <-p.stop:
	default:
		close(p.stop)
	}
	<-p.done
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.end.IsZero() {
		p.end = time.Now()
	}
	o := apiOutage{OK: len(p.oks), FailReasons: map[string]int{}}
	for r, n := range p.fails {
		o.Failed += n
		o.FailReasons[r] = n
	}
	oks := append([]time.Time(nil), p.oks...)
	sort.Slice(oks, func(i, j int) bool { return oks[i].Before(oks[j]) })
	prev := p.start
	for _, t := range append(oks, p.end) {
		if g := t.Sub(prev); g > o.Longest {
			o.Longest, o.From, o.To = g, prev, t
		}
		prev = t
	}
	return o
}
