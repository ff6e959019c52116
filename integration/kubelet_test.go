//go:build integration

package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// readKubeletManifest returns a static pod manifest from testdata/kubelet.
func readKubeletManifest(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "kubelet", name+".yaml"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// sameNetns reports whether pid's network namespace is the named one.
func sameNetns(pid int, ns string) (bool, error) {
	var a, b syscall.Stat_t
	if err := syscall.Stat(fmt.Sprintf("/proc/%d/ns/net", pid), &a); err != nil {
		return false, err
	}
	if err := syscall.Stat(filepath.Join("/run/netns", ns), &b); err != nil {
		return false, err
	}
	return a.Dev == b.Dev && a.Ino == b.Ino, nil
}

// TestKubeletStaticPod proves the environment the final vipd-pod test runs
// in: a standalone kubelet runs static pods from our own images, on the host
// network of its namespace, with exactly the capabilities the pod asks for,
// and stops and restarts them as their manifests come and go.
func TestKubeletStaticPod(t *testing.T) {
	env := startKubeletEnv(t)

	env.PlaceManifest("plain", readKubeletManifest(t, "plain"))
	env.PlaceManifest("netcaps", readKubeletManifest(t, "netcaps"))
	env.WaitPodRunning("plain", 2*time.Minute)
	env.WaitPodRunning("netcaps", 2*time.Minute)

	plain := env.ContainerPID("plain", "pause")
	netcaps := env.ContainerPID("netcaps", "pause")
	for _, pid := range []int{plain, netcaps} {
		ok, err := sameNetns(pid, env.NS)
		if err != nil || !ok {
			t.Errorf("pid %d: not in netns %s (hostNetwork): %v", pid, env.NS, err)
		}
	}

	// The control: the runtime's default set, which includes CAP_CHOWN (0).
	if eff, err := capEff(plain); err != nil || eff&1 == 0 {
		t.Errorf("plain pod CapEff = %#x, %v; want the runtime default (with CAP_CHOWN)", eff, err)
	}
	want := uint64(1)<<capNetAdmin | 1<<capNetRaw | 1<<capNetBroadcast
	for _, field := range []string{"CapEff", "CapPrm", "CapBnd"} {
		got, err := procStatusHex(netcaps, field)
		if err != nil || got != want {
			t.Errorf("netcaps pod %s = %#x, %v; want %#x (NET_ADMIN, NET_RAW, NET_BROADCAST)", field, got, err, want)
		}
	}
	plainEff, _ := capEff(plain)
	netcapsEff, _ := capEff(netcaps)
	t.Logf("CapEff: plain pod pid %d %#016x, netcaps pod pid %d %#016x", plain, plainEff, netcaps, netcapsEff)

	// Manifest removed: the kubelet stops the pod. Restored: it starts it again.
	removed := time.Now()
	env.RemoveManifest("netcaps")
	env.WaitPodGone("netcaps", time.Minute)
	t.Logf("netcaps pod gone %v after its manifest was removed", time.Since(removed).Round(time.Millisecond))
	if alive(netcaps) {
		t.Errorf("pid %d still alive after its pod is gone", netcaps)
	}
	restored := time.Now()
	env.PlaceManifest("netcaps", readKubeletManifest(t, "netcaps"))
	env.WaitPodRunning("netcaps", time.Minute)
	t.Logf("netcaps pod running %v after its manifest was restored", time.Since(restored).Round(time.Millisecond))
	if eff, err := capEff(env.ContainerPID("netcaps", "pause")); err != nil || eff != want {
		t.Errorf("restored netcaps pod CapEff = %#x, %v; want %#x", eff, err, want)
	}
}

// TestKubeletInLab runs the env inside a lab host's namespace, as the vipd-pod
// scenario does: the pod's process is on that host's eth0, and the helpers
// reach into the container.
func TestKubeletInLab(t *testing.T) {
	l := newLab(t, 2, withoutIPv6())
	env := startKubeletEnv(t, kubeletInNetns(l.host(0).NS))

	env.PlaceManifest("netcaps", readKubeletManifest(t, "netcaps"))
	env.WaitPodRunning("netcaps", 2*time.Minute)
	pid := env.ContainerPID("netcaps", "pause")
	if ok, err := sameNetns(pid, l.host(0).NS); err != nil || !ok {
		t.Errorf("pod pid %d is not in %s: %v", pid, l.host(0).NS, err)
	}
	out, err := env.ContainerExec("netcaps", "pause", "/pause", "-v")
	if err != nil || !strings.Contains(out, "vipd-pause") {
		t.Errorf("exec /pause -v in the container: %q, %v", out, err)
	}
	out, err = env.Exec("ping", "-c1", "-W1", "-q", l.host(1).V4.String())
	if err != nil {
		t.Errorf("host 0 (kubelet's namespace) cannot reach host 1: %v: %s", err, out)
	}
}

// TestKubeletIsolateHostPaths needs no root: hostPath volumes move under the
// env directory, and nothing else named "path" does.
func TestKubeletIsolateHostPaths(t *testing.T) {
	env := &kubeletEnv{Dir: "/tmp/vkl1-1-x"}
	in := `spec:
  containers:
  - livenessProbe:
      httpGet:
        path: /healthz
    volumeMounts:
    - mountPath: /run/vipd
      name: run
  volumes:
  - hostPath:
      path: /run/vipd
      type: DirectoryOrCreate
    name: run
  - name: pki
    hostPath:
      path: /etc/kubernetes/pki
`
	want := strings.NewReplacer(
		"      path: /run/vipd", "      path: /tmp/vkl1-1-x/hostpath/run/vipd",
		"      path: /etc/kubernetes/pki", "      path: /tmp/vkl1-1-x/hostpath/etc/kubernetes/pki",
	).Replace(in)
	if got := env.IsolateHostPaths(in); got != want {
		t.Errorf("IsolateHostPaths:\n%s\nwant:\n%s", got, want)
	}
}
