//go:build integration

package integration

// TestKubeletVipdPod is issue 5, "Proof under a real kubelet": the pod that
// `vipd manifest pod` prints, run by a real kubelet and containerd in lab
// host h0, against a plain-binary vipd on h1.
//
//	ns <lab>sw : bridge, the advert sniffer (every port)
//	ns <lab>h0 : eth0 198.18.0.1   containerd, kubelet, the vipd pod (hostNetwork)
//	ns <lab>h1 : eth0 198.18.0.2   bin/vipd, the peer
//	ns <lab>c  : eth0 198.18.0.100 the prober, aimed at the VIP 198.18.0.200
//
// The apiserver check: the generated manifest adds
// --track-apiserver=https://127.0.0.1:6443/readyz unless told not to, and
// this test keeps it: the bytes under test are the ones an operator places
// before `kubeadm init`. No apiserver exists on either host, so the check
// starts and stays down: a tier check, it ranks each router in the lower half
// of the priorities (tierPriority). The peer is given the same check, so both
// rank alike, as on a cluster being bootstrapped: the pod advertises
// ⌈150/2⌉ = 75, the peer ⌈100/2⌉ = 50.
// Skew_Time and Master_Down_Interval follow from those effective priorities
// (RFC 9568 §6.1), and the test computes them itself.

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	"sigs.k8s.io/yaml"

	"github.com/vipd/vipd/control"
)

const (
	// kvImageRef is what `make image` tags bin/vipd-image.tar with (IMAGE).
	kvImageRef  = "localhost/vipd:dev"
	kvVRID      = 51
	kvInterval  = 200 * time.Millisecond
	kvPodPrio   = 150
	kvPeerPrio  = 100
	kvCheckURL  = "https://127.0.0.1:6443/readyz" // health.DefaultAPIServerURL
	kvPodSocket = "/run/vipd/vipd.sock"           // the manifest's default control socket
	// kvSlack is what a measured election time may exceed the RFC's by:
	// packet delivery, a timer goroutine's wake-up, one netlink request.
	kvSlack = 100 * time.Millisecond
)

// kvSkew is Skew_Time and kvMasterDown Master_Down_Interval for a router of
// (effective) priority p advertising every kvInterval (RFC 9568 §6.1).
func kvSkew(p int) time.Duration { return time.Duration(256-p) * kvInterval / 256 }

func kvMasterDown(p int) time.Duration { return 3*kvInterval + kvSkew(p) }

func TestKubeletVipdPod(t *testing.T) {
	image := kvImage(t)
	t.Run("preempt", func(t *testing.T) { kvScenario(t, image, true) })
	t.Run("no-preempt", func(t *testing.T) { kvScenario(t, image, false) })
}

// kvScenario: the pod takes the VIP against the peer, hands it over with a
// priority-0 advert when its manifest is removed, and, with its manifest
// back, takes it back after its Master_Down_Interval (preempt) or leaves it
// with the peer (no preempt).
func kvScenario(t *testing.T, image string, preempt bool) {
	l := newLab(t, 2, withoutIPv6())
	bin := vipdBinaries(l)
	h0, h1 := l.host(0), l.host(1)
	vip := l.VIP4
	sniff := l.sniff()
	w0, w1 := kvWatchAddrs(l, h0), kvWatchAddrs(l, h1)
	env := startKubeletEnv(t, kubeletInNetns(h0.NS))
	env.ImportImage(image)
	if out, err := env.ctr("images", "ls", "-q"); err != nil || !slices.Contains(strings.Fields(out), kvImageRef) {
		t.Fatalf("%s does not hold %s (built with another IMAGE=?): %v: %s", image, kvImageRef, err, out)
	}

	podEff, peerEff := tierPriority(kvPodPrio, false), tierPriority(kvPeerPrio, false)
	podMD, peerSkew := kvMasterDown(podEff), kvSkew(peerEff)
	t.Logf("effective priorities: pod %d, peer %d; peer Skew_Time %v, pod Master_Down_Interval %v",
		podEff, peerEff, peerSkew, podMD)

	// 1. The manifest, exactly as `vipd manifest pod` prints it.
	gen := []string{"manifest", "pod", "--image", kvImageRef, "--interface", hostIf,
		"--vip", vip.String(), "--vrid", strconv.Itoa(kvVRID), "--priority", strconv.Itoa(kvPodPrio),
		"--advert-interval", kvInterval.String()}
	if !preempt {
		gen = append(gen, "--preempt=false")
	}
	out, err := exec.Command(filepath.Join(bin, "vipd"), gen...).Output()
	if err != nil {
		t.Fatalf("vipd %s: %v", strings.Join(gen, " "), err)
	}
	generated := string(out)
	podArgs := kvCheckManifest(t, generated, preempt)
	manifest := env.IsolateHostPaths(generated)
	kvCheckIsolation(t, env, generated, manifest)
	sock := filepath.Join(env.Dir, "hostpath", kvPodSocket)
	pod := &kvDaemon{vipctl: filepath.Join(bin, "vipctl"), sock: sock}

	// 2. The pod runs with three capabilities and takes the VIP.
	placed := time.Now()
	env.PlaceManifest("vipd", manifest)
	env.WaitPodRunning("vipd", 2*time.Minute)
	pid := env.ContainerPID("vipd", "vipd")
	t.Logf("pod running %v after its manifest was placed; vipd is pid %d", time.Since(placed).Round(time.Millisecond), pid)
	if ok, err := sameNetns(pid, h0.NS); err != nil || !ok {
		t.Fatalf("pod's vipd (pid %d) is not in h0's namespace %s: %v", pid, h0.NS, err)
	}
	if got := kvCmdline(t, pid); !slices.Equal(got, append([]string{"/vipd"}, podArgs...)) {
		t.Errorf("pod's vipd runs %q; the manifest says /vipd %q", got, podArgs)
	}
	kvCheckCaps(t, pid)
	st := pod.waitState(t, "pod", "MASTER", 30*time.Second)
	if st.EffectivePriority != podEff || len(st.Checks) != 1 || st.Checks[0].Up {
		t.Fatalf("pod: effective priority %d, checks %+v; want %d with the apiserver check down (a tier check)",
			st.EffectivePriority, st.Checks, podEff)
	}
	waitFor(t, 5*time.Second, "VIP on h0", func() (bool, string) { return h0.HasAddr(vip), "" })

	// The peer: a plain binary, lower priority, the same check.
	peerArgs := []string{filepath.Join(bin, "vipd"), "--interface", hostIf, "--vip", vip.String(),
		"--vrid", strconv.Itoa(kvVRID), "--priority", strconv.Itoa(kvPeerPrio),
		"--advert-interval", kvInterval.String(), "--preempt=" + strconv.FormatBool(preempt),
		"--track-apiserver=" + kvCheckURL, "--control-socket", filepath.Join(l.dir, "peer.sock")}
	l.host(1).Start("vipd", peerArgs...)
	peer := &kvDaemon{vipctl: pod.vipctl, sock: filepath.Join(l.dir, "peer.sock")}
	waitFor(t, 10*time.Second, "peer BACKUP behind the pod", func() (bool, string) {
		s, err := peer.status()
		return err == nil && s.State == "BACKUP" && s.Master == h0.V4.String() && s.AdvertsReceived >= 3,
			fmt.Sprintf("%s master %s received %d %v", s.State, s.Master, s.AdvertsReceived, err)
	})
	if s, _ := peer.status(); s.EffectivePriority != peerEff || s.MasterPriority != podEff {
		t.Fatalf("peer: effective priority %d, master priority %d; want %d and %d",
			s.EffectivePriority, s.MasterPriority, peerEff, podEff)
	}
	if h1.HasAddr(vip) || !h0.HasAddr(vip) {
		t.Fatalf("VIP on h0 %v, on h1 %v; want h0 only", h0.HasAddr(vip), h1.HasAddr(vip))
	}
	if a, ok := sniff.Last("h0", kvVRID); !ok || a.Priority != podEff || a.Interval != kvInterval {
		t.Fatalf("h0's last advert %v; want priority %d, interval %v", a, podEff, kvInterval)
	}

	// The liveness probe: once is enough to prove (the no-preempt run uses
	// the same pod but for one flag); the kubelet's first probe comes 5-20 s
	// after the start (initialDelaySeconds 5, periodSeconds 10, start jitter).
	if preempt {
		var n int
		env.waitFor(40*time.Second, "a successful liveness probe of the pod", func() (bool, string) {
			var fails int
			n, fails, err = kvLivenessProbes(env)
			if fails > 0 {
				t.Fatalf("liveness probe of the pod failed %d times", fails)
			}
			return n > 0, fmt.Sprint(n, " ", err)
		})
		t.Logf("liveness: %d successful probe(s) %v after the pod started", n, time.Since(placed).Round(time.Second))
	}
	if p, _, _ := env.pod("vipd"); len(p.Status.ContainerStatuses) != 1 || p.Status.ContainerStatuses[0].RestartCount != 0 {
		t.Fatalf("pod restarted: %+v", p.Status.ContainerStatuses)
	}

	// 3. Manifest removed: SIGTERM, priority 0, the peer takes over after its
	// Skew_Time, not after a Master_Down_Interval.
	pr := l.startProber(vip)
	waitFor(t, 5*time.Second, "h0 answering the prober", func() (bool, string) { return pr.Answering("h0", 100*time.Millisecond), "" })
	removed := time.Now()
	env.RemoveManifest("vipd")
	var zero wireAdvert
	var up1 kvAddrEvent
	waitFor(t, 15*time.Second, "priority-0 advert from h0, then the VIP on h1", func() (bool, string) {
		var ok bool
		if zero.At.IsZero() {
			for _, a := range sniff.Since(removed) {
				if a.Host == "h0" && a.VRID == kvVRID && a.Priority == 0 {
					zero = a
					break
				}
			}
		}
		up1, ok = w1.first(removed, true, vip)
		return !zero.At.IsZero() && ok, fmt.Sprintf("priority 0 at %v, VIP on h1 %v", zero.At, ok)
	})
	env.WaitPodGone("vipd", time.Minute)
	if alive(pid) {
		t.Errorf("pod's vipd (pid %d) still alive after its pod is gone", pid)
	}
	// Make before break: the pod hands off (HANDOFF), keeps the VIP until
	// the peer's advert, and only then lets go and stops.
	if log := env.ContainerLog("vipd", "vipd"); !strings.Contains(log, "from=MASTER to=HANDOFF reason=shutdown") ||
		!strings.Contains(log, "from=HANDOFF to=INIT reason=handoff-done") || !strings.Contains(log, `msg="vipd stopped"`) {
		t.Errorf("pod's vipd did not hand off cleanly on SIGTERM; its log:\n%s", log)
	}
	handover := up1.At.Sub(zero.At)
	down0, _ := w0.first(removed, false, vip)
	// Two netlink watchers' clocks: allow a millisecond.
	if down0.At.Before(up1.At.Add(-time.Millisecond)) {
		t.Errorf("the VIP left h0 %v before it was on h1: break before make", up1.At.Sub(down0.At))
	}
	t.Logf("removal: SIGTERM→priority-0 advert %v after the manifest went; VIP off h0 %v and on h1 %v after that advert (peer Skew_Time %v)",
		zero.At.Sub(removed).Round(time.Millisecond), down0.At.Sub(zero.At).Round(time.Millisecond),
		handover.Round(time.Millisecond), peerSkew)
	if handover < peerSkew-10*time.Millisecond || handover > peerSkew+kvSlack {
		t.Errorf("VIP on h1 %v after the priority-0 advert; want Skew_Time %v (+%v)", handover, peerSkew, kvSlack)
	}
	if s, err := peer.status(); err != nil || s.State != "MASTER" || s.Reason != "priority-zero-advert" {
		t.Errorf("peer: %s (%s), %v; want MASTER (priority-zero-advert)", s.State, s.Reason, err)
	}
	waitFor(t, 5*time.Second, "h1 answering the prober", func() (bool, string) { return pr.StableOn("h1", 300*time.Millisecond), "" })
	rep := pr.Stop()
	t.Logf("removal, client's view: %v", rep)
	if !slices.Equal(rep.Hosts(), []string{"h0", "h1"}) || rep.DupAnswers > 0 || rep.Outage() > peerSkew+kvSlack {
		t.Errorf("client during the hand-over: hosts %v, %d duplicate answers, outage %v; want h0 then h1, none, at most %v",
			rep.Hosts(), rep.DupAnswers, rep.Outage(), peerSkew+kvSlack)
	}

	// 4. Manifest back: a new vipd starts as Backup and listens for its
	// Master_Down_Interval. With preemption it discards the peer's lower
	// priority adverts and takes over when that timer fires; without, it
	// accepts them and stays Backup.
	pr = l.startProber(vip)
	waitFor(t, 5*time.Second, "h1 answering the prober", func() (bool, string) { return pr.Answering("h1", 100*time.Millisecond), "" })
	restored := time.Now()
	env.PlaceManifest("vipd", manifest)
	env.WaitPodRunning("vipd", time.Minute)
	pid = env.ContainerPID("vipd", "vipd")
	kvCheckCaps(t, pid)
	var backup kvTransition
	waitFor(t, 10*time.Second, "the new pod's vipd in BACKUP (startup)", func() (bool, string) {
		var ok bool
		backup, ok = kvFindTransition(env, restored, "BACKUP", "startup")
		return ok, ""
	})
	t.Logf("restore: pod running, vipd BACKUP (startup) %v after the manifest was back", backup.At.Sub(restored).Round(time.Millisecond))

	if preempt {
		var master kvTransition
		var up0 kvAddrEvent
		waitFor(t, 10*time.Second, "the pod MASTER again and the VIP on h0", func() (bool, string) {
			var ok1, ok2 bool
			master, ok1 = kvFindTransition(env, restored, "MASTER", "preempt")
			up0, ok2 = w0.first(restored, true, vip)
			return ok1 && ok2, fmt.Sprintf("MASTER %v, VIP on h0 %v", ok1, ok2)
		})
		// Make before break: the pod's first advert follows its announcement.
		var first wireAdvert
		waitFor(t, 2*time.Second, "the new pod's first advert on the wire", func() (bool, string) {
			var ok bool
			first, ok = kvFirstAdvert(sniff, "h0", restored)
			return ok, ""
		})
		// Make before break: h1 lets go when it hears the pod's advert,
		// which comes after the pod added and announced the VIP.
		var down1 kvAddrEvent
		var ok bool
		waitFor(t, 2*time.Second, "the VIP off h1", func() (bool, string) {
			down1, ok = w1.first(restored, false, vip)
			return ok, ""
		})
		waited := master.At.Sub(backup.At)
		t.Logf("restore: pod BACKUP→MASTER (preempt) after %v (its Master_Down_Interval %v); first advert on the wire %v and VIP on h0 %v after BACKUP; VIP off h1 %+v from on h0",
			waited, podMD, first.At.Sub(backup.At).Round(time.Millisecond), up0.At.Sub(backup.At).Round(time.Millisecond),
			down1.At.Sub(up0.At).Round(time.Millisecond))
		// Log times are whole milliseconds: allow 2 ms below.
		if waited < podMD-2*time.Millisecond || waited > podMD+kvSlack {
			t.Errorf("pod took the VIP back %v after it started; want its Master_Down_Interval %v (+%v)", waited, podMD, kvSlack)
		}
		if up0.At.Sub(backup.At) < podMD-10*time.Millisecond {
			t.Errorf("VIP on h0 %v after the pod started, before its Master_Down_Interval %v", up0.At.Sub(backup.At), podMD)
		}
		if first.Priority != podEff || first.At.Before(backup.At.Add(podMD-10*time.Millisecond)) {
			t.Errorf("first advert of the new pod: %v; want priority %d, not before %v after its start", first, podEff, podMD)
		}
		if !ok {
			t.Errorf("VIP never left h1 after the pod took over")
		}
		waitFor(t, 5*time.Second, "peer BACKUP (higher-priority-advert)", func() (bool, string) {
			s, err := peer.status()
			return err == nil && s.State == "BACKUP" && s.Reason == "higher-priority-advert", fmt.Sprint(s.State, " ", s.Reason, " ", err)
		})
		waitFor(t, 5*time.Second, "h0 answering the prober", func() (bool, string) { return pr.StableOn("h0", 300*time.Millisecond), "" })
		rep := pr.Stop()
		t.Logf("restore, client's view: %v", rep)
		// A planned move: the old master leaves on the new one's first
		// advert, the new one announces at once. Bound: one advert interval.
		if !slices.Equal(rep.Hosts(), []string{"h1", "h0"}) || rep.DupAnswers > 0 || rep.Outage() > kvInterval {
			t.Errorf("client during the take-back: hosts %v, %d duplicate answers, outage %v; want h1 then h0, none, at most %v",
				rep.Hosts(), rep.DupAnswers, rep.Outage(), kvInterval)
		}
	} else {
		// Several Master_Down_Intervals from the pod's start: the peer keeps
		// the VIP, the pod stays Backup and silent.
		watch := 5 * podMD
		end := backup.At.Add(watch)
		for time.Now().Before(end) {
			if e, ok := w0.first(restored, true, vip); ok {
				t.Fatalf("VIP added on h0 %v after the pod started, without preemption", e.At.Sub(backup.At))
			}
			if e, ok := w1.first(restored, false, vip); ok {
				t.Fatalf("VIP removed from h1 %v after the pod started, without preemption", e.At.Sub(backup.At))
			}
			if a, ok := kvFirstAdvert(sniff, "h0", restored); ok {
				t.Fatalf("h0 advertised without preemption: %v", a)
			}
			s, err := pod.status()
			if err != nil || s.State != "BACKUP" || s.Master != h1.V4.String() || s.MasterPriority != peerEff {
				t.Fatalf("pod: %s master %s (%d), %v; want BACKUP behind %s (%d)", s.State, s.Master, s.MasterPriority, err, h1.V4, peerEff)
			}
			time.Sleep(20 * time.Millisecond)
		}
		rep := pr.Stop()
		t.Logf("restore without preemption: VIP stayed on h1 for %v (%.1f× the pod's Master_Down_Interval %v); client's view: %v",
			time.Since(backup.At).Round(time.Millisecond), float64(time.Since(backup.At))/float64(podMD), podMD, rep)
		// Every probe answered by h1 (the one in flight at Stop aside); a
		// gap between answers alone is the client's scheduling on a busy host.
		if !slices.Equal(rep.Hosts(), []string{"h1"}) || rep.Sent-rep.Answered > 1 {
			t.Errorf("client while the pod came back: hosts %v, %d of %d probes lost; want h1 throughout, none lost",
				rep.Hosts(), rep.Sent-rep.Answered, rep.Sent)
		}
		if s, err := peer.status(); err != nil || s.State != "MASTER" {
			t.Errorf("peer: %s, %v; want MASTER", s.State, err)
		}
	}
	// Not restarted since the restore: the same vipd process. (The kubelet's
	// restartCount is no witness here: whether it counts the container made
	// for the restored manifest, same pod UID, as a restart of the stopped
	// one depends on whether it has removed that one yet; 0 and 1 are seen.)
	if now := env.ContainerPID("vipd", "vipd"); now != pid {
		t.Errorf("restored pod's vipd restarted: pid %d, then %d", pid, now)
	}
	if _, fails, _ := kvLivenessProbes(env); fails > 0 {
		t.Errorf("liveness probe of the pod failed %d times", fails)
	}
}

// kvImage returns bin/vipd-image.tar, which `make image` builds (and `make
// test` before the integration tests). Missing or older than the daemon's
// sources, it fails the test: a stale image would test old code.
func kvImage(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	tar := filepath.Join(root, "bin", "vipd-image.tar")
	fi, err := os.Stat(tar)
	if err != nil {
		t.Fatalf("no vipd image (%v): run `make image` (`make test` does)", err)
	}
	var newer []string
	_ = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		rel, _ := filepath.Rel(root, p)
		if d.IsDir() {
			if _, err := os.Stat(filepath.Join(p, "go.mod")); p != root && err == nil {
				return filepath.SkipDir // another module (hack/kubelet, manifests/podcheck)
			}
			switch rel {
			case ".git", "bin", "integration", "hack", "docs", "testdata":
				return filepath.SkipDir
			}
			return nil
		}
		if rel == "go.mod" || rel == "go.sum" || strings.HasSuffix(p, ".go") && !strings.HasSuffix(p, "_test.go") {
			if i, err := d.Info(); err == nil && i.ModTime().After(fi.ModTime()) {
				newer = append(newer, rel)
			}
		}
		return nil
	})
	if len(newer) > 0 {
		t.Fatalf("bin/vipd-image.tar is older than %s: run `make image`", strings.Join(newer, ", "))
	}
	return tar
}

// kvCheckManifest checks that the generated manifest is the pod the test
// means (the apiserver check kept, see the file comment) and returns the
// vipd container's args.
func kvCheckManifest(t *testing.T, y string, preempt bool) []string {
	t.Helper()
	var pod struct {
		Metadata struct {
			Name string `json:"name"`
		} `json:"metadata"`
		Spec struct {
			Containers []struct {
				Image string   `json:"image"`
				Args  []string `json:"args"`
			} `json:"containers"`
		} `json:"spec"`
	}
	if err := yaml.Unmarshal([]byte(y), &pod); err != nil || len(pod.Spec.Containers) != 1 {
		t.Fatalf("generated manifest: %v, %d containers:\n%s", err, len(pod.Spec.Containers), y)
	}
	if pod.Metadata.Name != "vipd" || pod.Spec.Containers[0].Image != kvImageRef {
		t.Fatalf("generated manifest: pod %q, image %q; want vipd, %s", pod.Metadata.Name, pod.Spec.Containers[0].Image, kvImageRef)
	}
	args := pod.Spec.Containers[0].Args
	if !slices.Contains(args, "--track-apiserver="+kvCheckURL) {
		t.Fatalf("generated manifest's args %q: no --track-apiserver=%s", args, kvCheckURL)
	}
	if slices.Contains(args, "--preempt=false") == preempt {
		t.Fatalf("generated manifest's args %q: want --preempt=false only without preemption", args)
	}
	return args
}

// kvCheckIsolation checks that IsolateHostPaths changed nothing but the
// paths of hostPath volumes, so that the pod the kubelet runs is the one
// `vipd manifest pod` printed, byte for byte elsewhere.
func kvCheckIsolation(t *testing.T, env *kubeletEnv, generated, isolated string) {
	t.Helper()
	var pod struct {
		Spec struct {
			Volumes []struct {
				HostPath *struct {
					Path string `json:"path"`
				} `json:"hostPath"`
			} `json:"volumes"`
		} `json:"spec"`
	}
	if err := yaml.Unmarshal([]byte(generated), &pod); err != nil {
		t.Fatal(err)
	}
	hostPaths := map[string]bool{}
	for _, v := range pod.Spec.Volumes {
		if v.HostPath != nil {
			hostPaths[v.HostPath.Path] = true
		}
	}
	a, b := strings.Split(generated, "\n"), strings.Split(isolated, "\n")
	if len(a) != len(b) {
		t.Fatalf("IsolateHostPaths changed the line count %d → %d", len(a), len(b))
	}
	changed := map[string]bool{}
	for i := range a {
		if a[i] == b[i] {
			continue
		}
		pa, oka := strings.CutPrefix(strings.TrimSpace(a[i]), "path: ")
		pb, okb := strings.CutPrefix(strings.TrimSpace(b[i]), "path: ")
		indent := func(s string) string { return s[:len(s)-len(strings.TrimLeft(s, " "))] }
		if !oka || !okb || !hostPaths[pa] || pb != filepath.Join(env.Dir, "hostpath", pa) || indent(a[i]) != indent(b[i]) {
			t.Fatalf("IsolateHostPaths changed line %d beyond a hostPath path:\n-%s\n+%s", i+1, a[i], b[i])
		}
		changed[pa] = true
	}
	if len(changed) != len(hostPaths) {
		t.Fatalf("IsolateHostPaths moved %v of the hostPath volumes %v", changed, hostPaths)
	}
}

// kvCmdline returns a process's argv.
func kvCmdline(t *testing.T, pid int) []string {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSuffix(string(b), "\x00"), "\x00")
}

// kvCheckCaps checks that pid has exactly NET_ADMIN, NET_RAW and
// NET_BROADCAST (0x3800) as its effective, permitted and bounding sets.
func kvCheckCaps(t *testing.T, pid int) {
	t.Helper()
	want := uint64(1)<<capNetAdmin | 1<<capNetRaw | 1<<capNetBroadcast
	var got []string
	for _, field := range []string{"CapEff", "CapPrm", "CapBnd"} {
		v, err := procStatusHex(pid, field)
		if err != nil || v != want {
			t.Errorf("pod's vipd (pid %d) %s = %#x, %v; want %#x (NET_ADMIN, NET_RAW, NET_BROADCAST)", pid, field, v, err, want)
		}
		got = append(got, fmt.Sprintf("%s %#x", field, v))
	}
	t.Logf("pod's vipd pid %d: %s", pid, strings.Join(got, ", "))
}

// kvDaemon reads one vipd's status over its control socket with vipctl (a
// unix socket: no namespace needed).
type kvDaemon struct{ vipctl, sock string }

func (d *kvDaemon) status() (control.Instance, error) {
	out, err := exec.Command(d.vipctl, "--socket", d.sock, "status", "--json").Output()
	if err != nil {
		return control.Instance{}, fmt.Errorf("vipctl --socket %s: %w", d.sock, err)
	}
	var st control.Status
	if err := json.Unmarshal(out, &st); err != nil || len(st.Instances) != 1 {
		return control.Instance{}, fmt.Errorf("vipctl status: %v: %s", err, out)
	}
	return st.Instances[0], nil
}

func (d *kvDaemon) waitState(t *testing.T, who, state string, timeout time.Duration) control.Instance {
	t.Helper()
	var s control.Instance
	waitFor(t, timeout, who+" "+state, func() (bool, string) {
		var err error
		s, err = d.status()
		return err == nil && s.State == state, fmt.Sprint(s.State, " ", err)
	})
	return s
}

// kvTransition is one "state changed" line of the pod's vipd log.
type kvTransition struct {
	At               time.Time // vipd's own timestamp (slog, milliseconds)
	From, To, Reason string
}

var kvTransitionRE = regexp.MustCompile(`\btime=(\S+) .*msg="state changed" .*\bfrom=(\S+) to=(\S+) reason=(\S+)`)

// kvFindTransition returns the first transition of the pod's vipd into
// state, for reason, logged at or after since.
func kvFindTransition(env *kubeletEnv, since time.Time, to, reason string) (kvTransition, bool) {
	since = since.Truncate(time.Millisecond)
	sc := bufio.NewScanner(strings.NewReader(env.ContainerLog("vipd", "vipd")))
	for sc.Scan() {
		m := kvTransitionRE.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		at, err := time.Parse(time.RFC3339Nano, m[1])
		if err != nil || at.Before(since) {
			continue
		}
		if m[3] == to && m[4] == reason {
			return kvTransition{At: at, From: m[2], To: m[3], Reason: m[4]}, true
		}
	}
	return kvTransition{}, false
}

// kvFirstAdvert returns the first advert host sent at or after since.
func kvFirstAdvert(s *advertSniffer, host string, since time.Time) (wireAdvert, bool) {
	for _, a := range s.Since(since) {
		if a.Host == host && a.VRID == kvVRID {
			return a, true
		}
	}
	return wireAdvert{}, false
}

// kvLivenessProbes reads the kubelet's prober_probe_total for the vipd pod's
// liveness probe (/metrics/probes on the read-only port).
func kvLivenessProbes(env *kubeletEnv) (ok, failed int, err error) {
	b, err := env.httpGet(kubeletReadOnly, "/metrics/probes")
	if err != nil {
		return 0, 0, err
	}
	pod := `pod="` + env.PodName("vipd") + `"`
	for _, line := range strings.Split(string(b), "\n") {
		if !strings.HasPrefix(line, "prober_probe_total{") || !strings.Contains(line, `probe_type="Liveness"`) ||
			!strings.Contains(line, pod) || !strings.Contains(line, `container="vipd"`) {
			continue
		}
		f := strings.Fields(line)
		n, _ := strconv.ParseFloat(f[len(f)-1], 64)
		switch {
		case strings.Contains(line, `result="successful"`):
			ok += int(n)
		default:
			failed += int(n)
		}
	}
	return ok, failed, nil
}

// kvAddrEvent is an IPv4 address added to or removed from a host.
type kvAddrEvent struct {
	At   time.Time
	Add  bool
	Addr netip.Addr
}

// kvAddrWatch records a host's IPv4 address changes as the kernel reports
// them (rtnetlink RTMGRP_IPV4_IFADDR), timestamped on arrival: when a VIP
// came and went, without polling `ip addr`.
type kvAddrWatch struct {
	f      *os.File
	mu     sync.Mutex
	events []kvAddrEvent
	done   chan struct{}
}

func kvWatchAddrs(l *lab, n *node) *kvAddrWatch {
	l.t.Helper()
	w := &kvAddrWatch{done: make(chan struct{})}
	err := inNetns(n.NS, func() error {
		fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE)
		if err != nil {
			return err
		}
		if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK, Groups: unix.RTMGRP_IPV4_IFADDR}); err != nil {
			unix.Close(fd)
			return err
		}
		w.f = os.NewFile(uintptr(fd), "rtnetlink")
		return nil
	})
	if err != nil {
		l.t.Fatalf("address watch on %s: %v", n.Name, err)
	}
	go w.loop()
	l.onTeardown(func() { w.f.Close(); <-w.done })
	return w
}

func (w *kvAddrWatch) loop() {
	defer close(w.done)
	rc, err := w.f.SyscallConn()
	if err != nil {
		return
	}
	buf := make([]byte, 1<<16)
	for {
		var n int
		var rerr error
		if err := rc.Read(func(fd uintptr) bool {
			n, _, rerr = unix.Recvfrom(int(fd), buf, unix.MSG_DONTWAIT)
			return !errors.Is(rerr, unix.EAGAIN)
		}); err != nil {
			return // closed
		}
		if rerr != nil {
			continue
		}
		now := time.Now()
		msgs, err := syscall.ParseNetlinkMessage(buf[:n])
		if err != nil {
			continue
		}
		for _, m := range msgs {
			if m.Header.Type != unix.RTM_NEWADDR && m.Header.Type != unix.RTM_DELADDR {
				continue
			}
			attrs, err := syscall.ParseNetlinkRouteAttr(&m)
			if err != nil {
				continue
			}
			var addr netip.Addr
			for _, a := range attrs {
				if (a.Attr.Type == unix.IFA_LOCAL || a.Attr.Type == unix.IFA_ADDRESS && !addr.IsValid()) && len(a.Value) == 4 {
					addr = netip.AddrFrom4([4]byte(a.Value))
				}
			}
			if addr.IsValid() {
				w.mu.Lock()
				w.events = append(w.events, kvAddrEvent{At: now, Add: m.Header.Type == unix.RTM_NEWADDR, Addr: addr})
				w.mu.Unlock()
			}
		}
	}
}

// first returns the first addition (add) or removal of addr at or after since.
func (w *kvAddrWatch) first(since time.Time, add bool, addr netip.Addr) (kvAddrEvent, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, e := range w.events {
		if !e.At.Before(since) && e.Add == add && e.Addr == addr {
			return e, true
		}
	}
	return kvAddrEvent{}, false
}
