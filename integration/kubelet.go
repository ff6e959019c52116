//go:build integration

package integration

// The kubelet environment: a real kubelet and containerd, no apiserver, running
// static pods the way a kubeadm control-plane node runs vipd.
//
//	ns <prefix>sw : bridge br0                       (only when we own the namespace)
//	ns <prefix>n  : eth0 198.18.100.1/24, no default route
//	                containerd   (root mount namespace; own root, state, socket)
//	                kubelet      (private mount namespace, see kubeletShim)
//	                hostNetwork pods, whose processes live in <prefix>n too
//	cgroup v1     : /<prefix>/kubepods/... in every hierarchy (kubelet cgroupRoot)
//	files         : $TMPDIR/<prefix>-XXXX/ (config, sockets, snapshots, logs)
//
// The env is built on its own sandbox (sandbox.go), whose prefix "vt<pid>-<seq>-"
// names the namespaces, the cgroup root and the directory, so the sandbox's
// teardown and reaper delete them: processes by cgroup and by command line,
// mounts below the directory, cgroups, namespaces, files.
//
// containerd and the kubelet join only the network namespace (nsenter --net),
// never `ip netns exec`, which remounts /sys and so hides /sys/fs/cgroup.
// Why each setting is what it is: docs/kubelet-test.md.

import (
	"bufio"
	"context"
	"encoding/json"
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
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

var kubeletBinFlag = flag.String("kubelet", "", "kubelet binary (default: the one `make kubelet` caches)")

const (
	// PauseImage is the sandbox image every env imports and containerd uses.
	PauseImage = "localhost/pause:vipd"
	// kubeletNode is the node name; static pod names end in "-" + kubeletNode.
	kubeletNode = "vkl-node"

	kubeletHealthz  = "127.0.0.1:10248"
	kubeletReadOnly = "127.0.0.1:10255"

	// Capability numbers, linux/capability.h.
	capNetBroadcast = 11
	capNetAdmin     = 12
	capNetRaw       = 13
)

// kubeletEnv is one containerd plus one standalone kubelet in one network namespace.
type kubeletEnv struct {
	t        testing.TB
	sb       *sandbox // the env's processes, namespaces and files
	Prefix   string
	NS       string     // network namespace of containerd, the kubelet and the pods
	Addr     netip.Addr // eth0's address when the env made NS, else invalid
	NodeName string
	Dir      string
	ownNS    bool
	sock     string
	cgroup   string // kubelet cgroupRoot, "/<prefix>"
	manifest string // static pod directory

	containerd, kubelet int // PIDs
}

type kubeletEnvConfig struct{ netns string }

// kubeletOption changes how startKubeletEnv builds the env.
type kubeletOption func(*kubeletEnvConfig)

// kubeletInNetns runs the env in an existing namespace, for example a lab
// host's (l.host(0).NS), instead of making its own. The env never deletes it.
// Start the env after the lab, so that its cleanup runs first.
func kubeletInNetns(ns string) kubeletOption {
	return func(c *kubeletEnvConfig) { c.netns = ns }
}

// startKubeletEnv starts containerd and the kubelet, imports the pause image,
// waits for the kubelet to be healthy and registers teardown with t.Cleanup.
// It fails the test (never skips) when a prerequisite is missing.
func startKubeletEnv(t testing.TB, opts ...kubeletOption) *kubeletEnv {
	t.Helper()
	var cfg kubeletEnvConfig
	for _, o := range opts {
		o(&cfg)
	}
	kubelet := kubeletPrereqs(t)
	sb := newSandbox(t)
	e := &kubeletEnv{t: t, sb: sb, Prefix: sb.prefix, Dir: sb.dir, NodeName: kubeletNode}
	e.sock = filepath.Join(e.Dir, "containerd.sock")
	e.cgroup = "/" + strings.TrimSuffix(e.Prefix, "-")
	e.manifest = filepath.Join(e.Dir, "manifests")
	sb.onTeardown(e.stop)

	if cfg.netns != "" {
		e.NS = cfg.netns
	} else {
		e.makeNetns()
	}
	for _, d := range []string{"manifests", "pod-logs", "kubelet", "cni/net.d", "cni/bin", "images"} {
		if err := os.MkdirAll(filepath.Join(e.Dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	e.makeCgroupRoot()

	e.startContainerd()
	pauseTar := buildImage(t, filepath.Join(e.Dir, "images"), "./hack/pause", PauseImage, "/pause")
	e.ImportImage(pauseTar)
	e.startKubelet(kubelet)
	t.Logf("kubelet: env %s up in netns %s, files in %s", e.Prefix, e.NS, e.Dir)
	return e
}

// kubeletPrereqs returns the kubelet binary after checking every tool the env
// runs. Missing ones fail the test with the make target that installs them.
func kubeletPrereqs(t testing.TB) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatalf("kubelet: needs root")
	}
	var missing []string
	for _, p := range []string{"containerd", "containerd-shim-runc-v2", "runc", "ctr", "nsenter", "unshare", "mount", "ip"} {
		if _, err := exec.LookPath(p); err != nil {
			missing = append(missing, p)
		}
	}
	if len(missing) > 0 {
		t.Fatalf("kubelet: %s not installed; run `make kubelet-deps`", strings.Join(missing, ", "))
	}
	if _, err := os.Stat("/sys/fs/cgroup/memory/memory.limit_in_bytes"); err != nil {
		t.Fatalf("kubelet: the env expects cgroup v1 hierarchies under /sys/fs/cgroup: %v", err)
	}
	bin := *kubeletBinFlag
	if bin == "" {
		v, err := kubeletVersion("../hack/kubelet/go.mod")
		if err != nil {
			t.Fatalf("kubelet: %v", err)
		}
		cache := os.Getenv("XDG_CACHE_HOME")
		if cache == "" {
			cache = filepath.Join(os.Getenv("HOME"), ".cache")
		}
		bin = filepath.Join(cache, "vipd", "kubelet-"+v)
	}
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("kubelet: no kubelet binary (%v); run `make kubelet` or pass -kubelet", err)
	}
	return bin
}

// kubeletVersion reads the k8s.io/kubernetes version hack/kubelet pins.
func kubeletVersion(gomod string) (string, error) {
	b, err := os.ReadFile(gomod)
	if err != nil {
		return "", err
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && f[0] == "k8s.io/kubernetes" && strings.HasPrefix(f[1], "v") {
			return f[1], nil
		}
	}
	return "", fmt.Errorf("no k8s.io/kubernetes version in %s", gomod)
}

// buildImage builds the Go package pkg (relative to the module root) as a
// static binary and writes an OCI archive of it, tagged ref, with the binary
// at entry as the entrypoint. It returns the archive's path under dir.
func buildImage(t testing.TB, dir, pkg, ref, entry string) string {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, filepath.Base(entry))
	tarball := filepath.Join(dir, filepath.Base(entry)+"-image.tar")
	build := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", bin, pkg)
	build.Dir, build.Env = root, append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("kubelet: build %s: %v: %s", pkg, err, out)
	}
	mk := exec.Command("go", "run", "./hack/mkimage", "-o", tarball, "-ref", ref, "-entrypoint", entry, "-add", entry+"="+bin)
	mk.Dir = root
	if out, err := mk.CombinedOutput(); err != nil {
		t.Fatalf("kubelet: mkimage %s: %v: %s", ref, err, out)
	}
	return tarball
}

// makeNetns makes <prefix>n with eth0 on a bridge in <prefix>sw. Nothing is
// created in the root namespace; there is no default route.
func (e *kubeletEnv) makeNetns() {
	e.t.Helper()
	e.ownNS = true
	sw := e.sb.Netns("sw", withoutIPv6Stack())
	e.NS = e.sb.Netns("n")
	e.Addr = netip.MustParseAddr("198.18.100.1")
	e.sb.Bridge(sw, "br0")
	e.sb.Attach(sw, "br0", "p0", e.NS, "eth0")
	e.sb.AddAddr(e.NS, "eth0", netip.PrefixFrom(e.Addr, 24))
}

// makeCgroupRoot creates the kubelet's cgroupRoot in every hierarchy: the
// kubelet checks it exists and never creates it.
func (e *kubeletEnv) makeCgroupRoot() {
	e.t.Helper()
	for _, h := range cgroupHierarchies() {
		if filepath.Base(h) == "unified" {
			continue // libcontainer mirrors into it by itself
		}
		d := filepath.Join(h, e.cgroup)
		if err := os.Mkdir(d, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
			e.t.Fatalf("kubelet: %v", err)
		}
		if filepath.Base(h) == "cpuset" {
			// A new cpuset has no CPUs or memory nodes: inherit the root's.
			for _, f := range []string{"cpuset.cpus", "cpuset.mems"} {
				b, err := os.ReadFile(filepath.Join(h, f))
				if err == nil {
					err = os.WriteFile(filepath.Join(d, f), b, 0o644)
				}
				if err != nil {
					e.t.Fatalf("kubelet: %v", err)
				}
			}
		}
	}
}

// containerdConfig is containerd 1.6's config (version 2). Everything that
// defaults to a host-wide path is moved under the env's directory.
func (e *kubeletEnv) containerdConfig() string {
	d := e.Dir
	return fmt.Sprintf(`version = 2
root = %[1]q
state = %[2]q

[grpc]
  address = %[3]q
[ttrpc]
  address = %[4]q

[plugins."io.containerd.internal.v1.opt"]
  path = %[5]q

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = %[6]q
  restrict_oom_score_adj = true
  enable_selinux = false
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = %[7]q
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = %[8]q
    conf_dir = %[9]q
`, filepath.Join(d, "containerd/root"), filepath.Join(d, "containerd/state"), e.sock, e.sock+".ttrpc",
		filepath.Join(d, "containerd/opt"), PauseImage, filepath.Join(d, "runc"),
		filepath.Join(d, "cni/bin"), filepath.Join(d, "cni/net.d"))
}

func (e *kubeletEnv) startContainerd() {
	e.t.Helper()
	conf := filepath.Join(e.Dir, "containerd.toml")
	if err := os.WriteFile(conf, []byte(e.containerdConfig()), 0o644); err != nil {
		e.t.Fatal(err)
	}
	e.containerd = e.sb.Spawn("containerd", "nsenter", "--net=/run/netns/"+e.NS, "--", "containerd", "--config", conf)
	e.waitFor(30*time.Second, "containerd", func() (bool, string) {
		out, err := e.ctr("version")
		return err == nil, out
	})
}

// Kernel tunables the kubelet insists on (pkg/kubelet/cm setupKernelTunables)
// and would otherwise write host-wide: kernel.panic_on_oops=1 on a shared
// machine is not the test's to set. kubeletShim shows it these values instead.
var kubeletTunables = map[string]string{
	"vm/overcommit_memory":      "1",
	"vm/panic_on_oom":           "0",
	"kernel/panic":              "10",
	"kernel/panic_on_oops":      "1",
	"kernel/keys/root_maxkeys":  "1000000",
	"kernel/keys/root_maxbytes": "25000000",
}

// kubeletShim runs as `unshare --mount --propagation slave sh -c kubeletShim
// sh DIR kubelet args...`. In the kubelet's own mount namespace it shows the
// kubelet the tunables it wants (bind-mounted files over /proc/sys), and
// empty tmpfs over /var/lib and /var/log, where it writes whatever its flags
// say (deviceplugin/v1beta1 DevicePluginPath, kubelet.go ContainerLogsDir).
// Then it execs the kubelet, which keeps the PID.
const kubeletShim = `set -eu
d=$1; shift
for f in $(cd "$d/sysctl" && find . -type f); do mount --bind "$d/sysctl/$f" "/proc/sys/$f"; done
mount -t tmpfs -o mode=0755,size=16m vkl-var-lib /var/lib
mount -t tmpfs -o mode=0755,size=16m vkl-var-log /var/log
exec "$@"`

func (e *kubeletEnv) kubeletConfig() string {
	return fmt.Sprintf(`apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
staticPodPath: %[1]s
fileCheckFrequency: 1s
podLogsDir: %[2]s
containerRuntimeEndpoint: unix://%[3]s
address: 127.0.0.1
port: 10250
readOnlyPort: 10255
healthzBindAddress: 127.0.0.1
healthzPort: 10248
authentication:
  anonymous:
    enabled: true
  webhook:
    enabled: false
authorization:
  mode: AlwaysAllow
cgroupDriver: cgroupfs
cgroupRoot: %[4]s
cgroupsPerQOS: true
failCgroupV1: false
failSwapOn: false
resolvConf: ""
registerNode: false
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard:
  memory.available: "1Mi"
  nodefs.available: "1%%"
  nodefs.inodesFree: "1%%"
  imagefs.available: "1%%"
`, e.manifest, filepath.Join(e.Dir, "pod-logs"), e.sock, e.cgroup)
}

func (e *kubeletEnv) startKubelet(bin string) {
	e.t.Helper()
	conf := filepath.Join(e.Dir, "kubelet.yaml")
	if err := os.WriteFile(conf, []byte(e.kubeletConfig()), 0o644); err != nil {
		e.t.Fatal(err)
	}
	for name, val := range kubeletTunables {
		cur, err := os.ReadFile("/proc/sys/" + name)
		if err != nil {
			e.t.Fatalf("kubelet: %v", err)
		}
		if strings.TrimSpace(string(cur)) == val {
			continue
		}
		f := filepath.Join(e.Dir, "sysctl", name)
		if err := os.MkdirAll(filepath.Dir(f), 0o755); err != nil {
			e.t.Fatal(err)
		}
		if err := os.WriteFile(f, []byte(val+"\n"), 0o644); err != nil {
			e.t.Fatal(err)
		}
	}
	if err := os.MkdirAll(filepath.Join(e.Dir, "sysctl"), 0o755); err != nil {
		e.t.Fatal(err)
	}
	e.kubelet = e.sb.Spawn("kubelet", "nsenter", "--net=/run/netns/"+e.NS, "--",
		"unshare", "--mount", "--propagation", "slave", "--",
		"sh", "-c", kubeletShim, "sh", e.Dir,
		bin,
		"--config="+conf,
		"--root-dir="+filepath.Join(e.Dir, "kubelet"),
		"--cert-dir="+filepath.Join(e.Dir, "kubelet/pki"),
		"--hostname-override="+e.NodeName,
		"--pod-infra-container-image="+PauseImage,
		"--node-ip="+e.nodeIP().String(),
		"--v=2",
	)
	e.waitFor(60*time.Second, "kubelet healthz", func() (bool, string) {
		b, err := e.httpGet(kubeletHealthz, "/healthz")
		return err == nil && string(b) == "ok", fmt.Sprint(string(b), err)
	})
}

// nodeIP is the namespace's first global IPv4 address, which the kubelet
// would otherwise look for on the (absent) default route; 127.0.0.1 if none.
func (e *kubeletEnv) nodeIP() netip.Addr {
	if e.Addr.IsValid() {
		return e.Addr
	}
	out, _ := run("ip", "-n", e.NS, "-4", "-o", "addr", "show", "scope", "global")
	for _, f := range strings.Fields(out) {
		if p, err := netip.ParsePrefix(f); err == nil {
			return p.Addr()
		}
	}
	return netip.MustParseAddr("127.0.0.1")
}

// waitFor is waitFor that also fails when a process of the env has exited.
func (e *kubeletEnv) waitFor(timeout time.Duration, what string, cond func() (bool, string)) {
	e.t.Helper()
	waitFor(e.t, timeout, what, func() (bool, string) {
		if p := e.sb.exitedProc(); p != nil {
			return true, ""
		}
		return cond()
	})
	if p := e.sb.exitedProc(); p != nil {
		e.t.Fatalf("kubelet: %s exited while waiting for %s; log tail:\n%s", p.label, what, tail(p.log, 40))
	}
}

// ctr runs ctr against the env's containerd, in its k8s.io namespace (CRI's).
func (e *kubeletEnv) ctr(args ...string) (string, error) {
	return run(append([]string{"ctr", "--address", e.sock, "--namespace", "k8s.io"}, args...)...)
}

// ImportImage imports an OCI archive (make image, make pause-image, buildImage)
// into the CRI's image store, unpacked for its snapshotter.
func (e *kubeletEnv) ImportImage(path string) {
	e.t.Helper()
	if out, err := e.ctr("images", "import", "--snapshotter", "overlayfs", path); err != nil {
		e.t.Fatalf("kubelet: import %s: %v: %s", path, err, out)
	}
}

// PlaceManifest writes a static pod manifest (name.yaml) atomically, as
// kubeadm does: the kubelet never sees half a file.
func (e *kubeletEnv) PlaceManifest(name, yaml string) {
	e.t.Helper()
	tmp := filepath.Join(e.Dir, "."+name+".yaml")
	if err := os.WriteFile(tmp, []byte(yaml), 0o600); err != nil {
		e.t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(e.manifest, name+".yaml")); err != nil {
		e.t.Fatal(err)
	}
	e.t.Logf("kubelet: placed manifest %s", name)
}

// RemoveManifest deletes name.yaml: the kubelet stops the pod, with its grace period.
func (e *kubeletEnv) RemoveManifest(name string) {
	e.t.Helper()
	if err := os.Remove(filepath.Join(e.manifest, name+".yaml")); err != nil {
		e.t.Fatal(err)
	}
	e.t.Logf("kubelet: removed manifest %s", name)
}

// IsolateHostPaths returns the manifest with every hostPath volume's path
// moved under the env's directory (/run/vipd becomes <Dir>/hostpath/run/vipd),
// so a pod neither creates nor shares host directories such as /run/vipd or
// /etc/kubernetes/pki with a peer in another namespace. It reads the block
// layout sigs.k8s.io/yaml writes ("hostPath:" then a deeper "path:" line).
func (e *kubeletEnv) IsolateHostPaths(manifest string) string {
	lines := strings.Split(manifest, "\n")
	indent := -1 // indentation of the open "hostPath:" line, or -1
	for i, line := range lines {
		trimmed := strings.TrimLeft(line, " -")
		depth := len(line) - len(trimmed)
		switch {
		case strings.TrimSpace(trimmed) == "hostPath:":
			indent = depth
		case indent >= 0 && depth <= indent:
			indent = -1
		case indent >= 0 && strings.HasPrefix(trimmed, "path: /"):
			p := strings.TrimSpace(strings.TrimPrefix(trimmed, "path:"))
			lines[i] = line[:depth] + "path: " + filepath.Join(e.Dir, "hostpath", p)
		}
	}
	return strings.Join(lines, "\n")
}

// PodName is the name the kubelet gives the static pod of a manifest whose
// metadata.name is name.
func (e *kubeletEnv) PodName(name string) string { return name + "-" + e.NodeName }

// Pods returns the kubelet's pods from its read-only /pods endpoint. Without
// an apiserver the kubelet still fills in static pods' status there.
func (e *kubeletEnv) Pods() ([]kubeletPod, error) {
	b, err := e.httpGet(kubeletReadOnly, "/pods")
	if err != nil {
		return nil, err
	}
	var list struct {
		Items []kubeletPod `json:"items"`
	}
	if err := json.Unmarshal(b, &list); err != nil {
		return nil, fmt.Errorf("kubelet: /pods: %w", err)
	}
	return list.Items, nil
}

// kubeletPod is the part of a v1.Pod the tests read.
type kubeletPod struct {
	Metadata struct {
		Name      string `json:"name"`
		Namespace string `json:"namespace"`
		UID       string `json:"uid"`
	} `json:"metadata"`
	Status struct {
		Phase             string `json:"phase"`
		ContainerStatuses []struct {
			Name         string `json:"name"`
			Ready        bool   `json:"ready"`
			RestartCount int    `json:"restartCount"`
			ContainerID  string `json:"containerID"` // containerd://<id>
			State        struct {
				Running *struct {
					StartedAt string `json:"startedAt"`
				} `json:"running"`
			} `json:"state"`
		} `json:"containerStatuses"`
	} `json:"status"`
}

// pod returns the static pod of manifest name, if the kubelet has it.
func (e *kubeletEnv) pod(name string) (kubeletPod, bool, error) {
	pods, err := e.Pods()
	if err != nil {
		return kubeletPod{}, false, err
	}
	for _, p := range pods {
		if p.Metadata.Name == e.PodName(name) {
			return p, true, nil
		}
	}
	return kubeletPod{}, false, nil
}

// WaitPodRunning waits until the static pod of manifest name is Running with
// every container running, and returns it.
func (e *kubeletEnv) WaitPodRunning(name string, timeout time.Duration) kubeletPod {
	e.t.Helper()
	var got kubeletPod
	e.waitFor(timeout, "pod "+e.PodName(name)+" running", func() (bool, string) {
		p, ok, err := e.pod(name)
		if err != nil || !ok {
			return false, fmt.Sprint("not listed ", err)
		}
		got = p
		if p.Status.Phase != "Running" || len(p.Status.ContainerStatuses) == 0 {
			return false, "phase " + p.Status.Phase
		}
		// The status of a pod removed and restored (same UID) can still be
		// the old one: only a container whose task runs counts.
		tasks, err := e.runningTasks()
		if err != nil {
			return false, err.Error()
		}
		for _, c := range p.Status.ContainerStatuses {
			if _, ok := tasks[strings.TrimPrefix(c.ContainerID, "containerd://")]; c.State.Running == nil || !ok {
				return false, "container " + c.Name + " not running"
			}
		}
		return true, ""
	})
	return got
}

// WaitPodGone waits until the kubelet no longer lists the static pod of
// manifest name and none of its containers runs.
func (e *kubeletEnv) WaitPodGone(name string, timeout time.Duration) {
	e.t.Helper()
	e.waitFor(timeout, "pod "+e.PodName(name)+" gone", func() (bool, string) {
		if _, ok, err := e.pod(name); err != nil || ok {
			return false, fmt.Sprint("still listed ", err)
		}
		tasks, err := e.podTasks(name)
		if err != nil || len(tasks) > 0 {
			return false, fmt.Sprintf("tasks %v %v", tasks, err)
		}
		return true, ""
	})
}

// podTasks returns the running containerd tasks (container and sandbox) of
// the static pod of manifest name, by container ID.
func (e *kubeletEnv) podTasks(name string) (map[string]int, error) {
	ids, err := e.ctr("containers", "ls", "-q", fmt.Sprintf(`labels."io.kubernetes.pod.name"==%s`, e.PodName(name)))
	if err != nil {
		return nil, err
	}
	running, err := e.runningTasks()
	if err != nil {
		return nil, err
	}
	tasks := map[string]int{}
	for _, id := range strings.Fields(ids) {
		if pid, ok := running[id]; ok {
			tasks[id] = pid
		}
	}
	return tasks, nil
}

// runningTasks parses `ctr tasks ls`: TASK PID STATUS.
func (e *kubeletEnv) runningTasks() (map[string]int, error) {
	out, err := e.ctr("tasks", "ls")
	if err != nil {
		return nil, err
	}
	tasks := map[string]int{}
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) == 3 && f[2] == "RUNNING" {
			if pid, err := strconv.Atoi(f[1]); err == nil {
				tasks[f[0]] = pid
			}
		}
	}
	return tasks, nil
}

// ContainerID returns the containerd ID of container ctr in the running
// static pod of manifest name.
func (e *kubeletEnv) ContainerID(name, ctr string) string {
	e.t.Helper()
	p, ok, err := e.pod(name)
	if err != nil || !ok {
		e.t.Fatalf("kubelet: pod %s not listed: %v", e.PodName(name), err)
	}
	for _, c := range p.Status.ContainerStatuses {
		if c.Name == ctr && c.State.Running != nil {
			return strings.TrimPrefix(c.ContainerID, "containerd://")
		}
	}
	e.t.Fatalf("kubelet: pod %s has no running container %s", e.PodName(name), ctr)
	return ""
}

// ContainerPID returns the host PID of the main process of container ctr in
// the running static pod of manifest name.
func (e *kubeletEnv) ContainerPID(name, ctr string) int {
	e.t.Helper()
	id := e.ContainerID(name, ctr)
	tasks, err := e.runningTasks()
	if err != nil {
		e.t.Fatalf("kubelet: %v", err)
	}
	pid, ok := tasks[id]
	if !ok {
		e.t.Fatalf("kubelet: container %s (%s) has no running task", ctr, id)
	}
	return pid
}

// ContainerExec runs args inside container ctr of the static pod of manifest
// name (ctr tasks exec), with the container's namespaces, capabilities and
// root filesystem, and returns the combined output.
func (e *kubeletEnv) ContainerExec(name, ctr string, args ...string) (string, error) {
	e.t.Helper()
	id := e.ContainerID(name, ctr)
	execID := fmt.Sprintf("vkl-exec-%d", time.Now().UnixNano())
	return e.ctr(append([]string{"tasks", "exec", "--exec-id", execID, id}, args...)...)
}

// ContainerLog returns the log of the latest run of container ctr in the
// static pod of manifest name, as the CRI writes it (one "time stream tag
// text" line per line of output), running or not.
func (e *kubeletEnv) ContainerLog(name, ctr string) string {
	e.t.Helper()
	// podLogsDir/<namespace>_<pod>_<uid>/<container>/<restart>.log
	logs, _ := filepath.Glob(filepath.Join(e.Dir, "pod-logs", "*_"+e.PodName(name)+"_*", ctr, "*.log"))
	best, bestN := "", -1
	for _, l := range logs {
		n, err := strconv.Atoi(strings.TrimSuffix(filepath.Base(l), ".log"))
		if err == nil && n > bestN {
			best, bestN = l, n
		}
	}
	if best == "" {
		return ""
	}
	b, _ := os.ReadFile(best)
	return string(b)
}

// Exec runs a command on the host, inside the env's network namespace only.
func (e *kubeletEnv) Exec(args ...string) (string, error) {
	return run(append([]string{"nsenter", "--net=/run/netns/" + e.NS, "--"}, args...)...)
}

// capEff returns the effective capability set of pid (/proc/<pid>/status).
func capEff(pid int) (uint64, error) {
	return procStatusHex(pid, "CapEff")
}

func procStatusHex(pid int, field string) (uint64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			return strconv.ParseUint(strings.TrimSpace(v), 16, 64)
		}
	}
	return 0, fmt.Errorf("kubelet: no %s in /proc/%d/status", field, pid)
}

// httpGet GETs http://addr/path from inside the env's namespace.
func (e *kubeletEnv) httpGet(addr, path string) ([]byte, error) {
	c := &http.Client{
		Timeout: 2 * time.Second,
		Transport: &http.Transport{
			DisableKeepAlives: true,
			DialContext: func(ctx context.Context, network, a string) (net.Conn, error) {
				var conn net.Conn
				err := inNetns(e.NS, func() error {
					var err error
					conn, err = (&net.Dialer{}).DialContext(ctx, network, a)
					return err
				})
				return conn, err
			},
		},
	}
	resp, err := c.Get("http://" + addr + path)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return b, fmt.Errorf("kubelet: GET %s: %s", path, resp.Status)
	}
	return b, nil
}

// stop runs first in the sandbox's teardown: it shows container logs when
// the test failed, then stops the kubelet (so it restarts nothing), every
// task while containerd can still clean up after them, and containerd. The
// sandbox then kills what is left and removes mounts, cgroups, namespaces
// and files.
func (e *kubeletEnv) stop() {
	if e.t.Failed() {
		logs, _ := filepath.Glob(filepath.Join(e.Dir, "pod-logs", "*", "*", "*.log"))
		for _, l := range logs {
			rel, _ := filepath.Rel(filepath.Join(e.Dir, "pod-logs"), l)
			e.t.Logf("kubelet: --- container log %s ---\n%s", rel, tail(l, 30))
		}
	}
	stop := func(pid int) {
		if pid == 0 {
			return
		}
		_ = e.sb.Kill(pid, syscall.SIGTERM)
		if !e.sb.WaitExit(pid, 10*time.Second) {
			_ = e.sb.Kill(pid, syscall.SIGKILL)
			e.sb.WaitExit(pid, 5*time.Second)
		}
	}
	stop(e.kubelet)
	e.deleteTasks()
	stop(e.containerd)
}

// deleteTasks kills and deletes every task through containerd, so that the
// shims unmount the root filesystems and exit by themselves.
func (e *kubeletEnv) deleteTasks() {
	out, err := e.ctr("tasks", "ls", "-q")
	if err != nil {
		return
	}
	ids := strings.Fields(out)
	for _, id := range ids {
		_, _ = e.ctr("tasks", "kill", "--all", "--signal", "SIGKILL", id)
	}
	_, _ = poll(10*time.Second, func() (bool, string) {
		running, err := e.runningTasks()
		return err != nil || len(running) == 0, ""
	})
	for _, id := range ids {
		_, _ = e.ctr("tasks", "delete", "--force", id)
	}
}
