//go:build integration

package integration

import (
	"fmt"
	"os"
	"path/filepath"
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
