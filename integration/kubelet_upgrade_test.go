//go:build integration

package integration

// TestKubeletRollingUpgrade is issue 9's hitless upgrade: three masters, each
// a lab host running the real kubelet and containerd (kubelet.go) with the
// vipd static pod that `vipd manifest pod` prints. The manifest on each
// master is replaced in turn by one naming another tag of the same image
// (what a kubeadm upgrade or a vipd upgrade does): the kubelet stops the old
// pod (SIGTERM, then terminationGracePeriodSeconds) and starts the new one.
// A client probing the VIP every 5 ms sees no gap over plannedGap across the
// whole roll.
//
//	ns <lab>hN : eth0 198.18.0.N+1   containerd, kubelet, the vipd pod (hostNetwork)
//	ns <lab>c  : the 5 ms prober, aimed at the VIP 198.18.0.200

import (
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"
)

// kuNextRef is the second tag of the image the roll moves to.
const kuNextRef = "localhost/vipd:next"

// kuPrios are the three masters' base priorities; the apiserver check the
// manifest keeps (kubelet_vipd_test.go) ranks each in the lower half (tierPriority).
var kuPrios = []int{200, 150, 100}

// kuManifest is `vipd manifest pod` for host i with image ref, its host paths
// moved under env's directory.
func kuManifest(t *testing.T, bin string, env *kubeletEnv, i int, ref, vip string) (string, int64) {
	t.Helper()
	args := []string{"manifest", "pod", "--image", ref, "--interface", hostIf, "--vip", vip,
		"--vrid", strconv.Itoa(kvVRID), "--priority", strconv.Itoa(kuPrios[i]), "--advert-interval", kvInterval.String()}
	out, err := exec.Command(filepath.Join(bin, "vipd"), args...).Output()
	if err != nil {
		t.Fatalf("vipd %s: %v", strings.Join(args, " "), err)
	}
	return env.IsolateHostPaths(string(out)), kuGrace(t, string(out))
}

// kuGrace returns a manifest's terminationGracePeriodSeconds.
func kuGrace(t *testing.T, manifest string) int64 {
	t.Helper()
	var pod struct {
		Spec struct {
			Grace *int64 `json:"terminationGracePeriodSeconds"`
		} `json:"spec"`
	}
	if err := yaml.Unmarshal([]byte(manifest), &pod); err != nil || pod.Spec.Grace == nil {
		t.Fatalf("manifest: terminationGracePeriodSeconds: %v:\n%s", err, manifest)
	}
	return *pod.Spec.Grace
}

// kuContainer returns the ID of the running vipd container of env's static
// pod, if there is exactly one, and the image its pod's spec names (the
// kubelet's view: containerd names a container by the image's first tag,
// the same for both tags of one image).
func kuContainer(env *kubeletEnv) (id, image string, err error) {
	b, err := env.httpGet(kubeletReadOnly, "/pods")
	if err != nil {
		return "", "", err
	}
	var list struct {
		Items []struct {
			Metadata struct {
				Name string `json:"name"`
			} `json:"metadata"`
			Spec struct {
				Containers []struct {
					Name  string `json:"name"`
					Image string `json:"image"`
				} `json:"containers"`
			} `json:"spec"`
			Status struct {
				ContainerStatuses []struct {
					Name        string `json:"name"`
					ContainerID string `json:"containerID"`
					State       struct {
						Running *struct{} `json:"running"`
					} `json:"state"`
				} `json:"containerStatuses"`
			} `json:"status"`
		} `json:"items"`
	}
	if err := json.Unmarshal(b, &list); err != nil {
		return "", "", err
	}
	tasks, err := env.runningTasks()
	if err != nil {
		return "", "", err
	}
	var found []string
	for _, p := range list.Items {
		if p.Metadata.Name != env.PodName("vipd") || len(p.Spec.Containers) != 1 {
			continue
		}
		for _, c := range p.Status.ContainerStatuses {
			cid := strings.TrimPrefix(c.ContainerID, "containerd://")
			if _, ok := tasks[cid]; ok && c.Name == "vipd" && c.State.Running != nil {
				found = append(found, cid)
				id, image = cid, p.Spec.Containers[0].Image
			}
		}
	}
	if len(found) != 1 {
		return "", "", fmt.Errorf("running vipd containers %v", found)
	}
	return id, image, nil
}

func TestKubeletRollingUpgrade(t *testing.T) {
	image := kvImage(t)
	l := newLab(t, 3, withoutIPv6())
	bin := vipdBinaries(l)
	w := startWireLog(l)
	vip := l.VIP4.String()

	// The grace period covers the longest hand-off: Master_Down_Interval at
	// the lowest priority (1, maintenance), here and at a long interval.
	for _, iv := range []time.Duration{kvInterval, 10 * time.Second} {
		out, err := exec.Command(filepath.Join(bin, "vipd"), "manifest", "pod", "--image", kvImageRef, "--interface", hostIf,
			"--vip", vip, "--vrid", "51", "--advert-interval", iv.String()).Output()
		if err != nil {
			t.Fatalf("vipd manifest pod --advert-interval %v: %v", iv, err)
		}
		grace := time.Duration(kuGrace(t, string(out))) * time.Second
		t.Logf("advert interval %v: terminationGracePeriodSeconds %v, longest hand-off (Master_Down_Interval at priority 1) %v", iv, grace, masterDown(iv, 1))
		if grace <= masterDown(iv, 1) {
			t.Errorf("advert interval %v: terminationGracePeriodSeconds %v does not cover the hand-off (%v)", iv, grace, masterDown(iv, 1))
		}
	}

	envs := make([]*kubeletEnv, 3)
	pods := make([]*kvDaemon, 3)
	for i := range envs {
		envs[i] = startKubeletEnv(t, kubeletInNetns(l.host(i).NS))
		envs[i].ImportImage(image)
		if out, err := envs[i].ctr("images", "tag", kvImageRef, kuNextRef); err != nil {
			t.Fatalf("h%d: ctr images tag %s %s: %v: %s", i, kvImageRef, kuNextRef, err, out)
		}
		out, _ := envs[i].ctr("images", "ls", "-q")
		if refs := strings.Fields(out); !slices.Contains(refs, kvImageRef) || !slices.Contains(refs, kuNextRef) {
			t.Fatalf("h%d's images %v; want %s and %s", i, refs, kvImageRef, kuNextRef)
		}
		m, _ := kuManifest(t, bin, envs[i], i, kvImageRef, vip)
		envs[i].PlaceManifest("vipd", m)
		pods[i] = &kvDaemon{vipctl: filepath.Join(bin, "vipctl"), sock: filepath.Join(envs[i].Dir, "hostpath", kvPodSocket)}
	}
	for i, env := range envs {
		env.WaitPodRunning("vipd", 2*time.Minute)
		want := map[bool]string{true: "MASTER", false: "BACKUP"}[i == 0]
		pods[i].waitState(t, fmt.Sprintf("h%d's pod", i), want, 30*time.Second)
	}
	waitFor(t, 5*time.Second, "the VIP on h0 only", func() (bool, string) {
		hs := holders(l, l.VIP4)
		return slices.Equal(hs, []string{"h0"}), fmt.Sprint(hs)
	})
	p := plannedProber(t, l, l.VIP4, "h0")

	roll := time.Now()
	for i, env := range envs {
		oldID, oldImage, err := kuContainer(env)
		if err != nil || oldImage != kvImageRef {
			t.Fatalf("h%d before its upgrade: container %s image %s, %v; want %s", i, oldID, oldImage, err, kvImageRef)
		}
		m, grace := kuManifest(t, bin, env, i, kuNextRef, vip)
		step := time.Now()
		env.PlaceManifest("vipd", m)
		var newID string
		env.waitFor(time.Duration(grace)*time.Second+time.Minute, fmt.Sprintf("h%d's pod on %s", i, kuNextRef), func() (bool, string) {
			id, img, err := kuContainer(env)
			newID = id
			return err == nil && id != oldID && img == kuNextRef, fmt.Sprint(id, " ", img, " ", err)
		})
		replaced := time.Since(step)
		// The cluster back as it was: h0 Master (it preempts back after its
		// restart), the others Backup.
		for j, pd := range pods {
			want := map[bool]string{true: "MASTER", false: "BACKUP"}[j == 0]
			pd.waitState(t, fmt.Sprintf("h%d's pod", j), want, kvMasterDown(tierPriority(kuPrios[j], false))+30*time.Second)
		}
		mv := settle(t, p, step, "h0", 10*time.Second)
		t.Logf("h%d upgraded: new container %.12s on %s running %v after its manifest changed; client: %v",
			i, newID, kuNextRef, replaced.Round(100*time.Millisecond), mv)
		if i == 0 {
			// The Master's pod: handed off to h1 with its priority 0
			// advert, then taken back by the new pod's preemption.
			// The new pod's term begins with the announcement just before
			// its first advert (within 50 ms; the old pod, silent, was gone
			// seconds before).
			z, _ := w.first(step, -1, isAdvert("h0", kvVRID, func(p int) bool { return p == 0 }))
			a2, ok := w.first(step, z.Seq, isAdvert("h0", kvVRID, func(p int) bool { return p > 0 }))
			if !ok {
				t.Fatal("wire: no advert from the new h0 pod")
			}
			w.until = a2.At.Add(-50 * time.Millisecond)
			adv := w.cutover(t, step, kvVRID, l.VIP4, "h0", "h1", true)
			w.until = time.Time{}
			w.cutover(t, adv.At, kvVRID, l.VIP4, "h1", "h0", false)
		}
		checkMove(t, fmt.Sprintf("upgrade of h%d", i), mv, "h0")
	}
	// Over the whole roll: not one probe lost, none answered twice. (Each
	// step's gap was judged above; between steps the client's own scheduling
	// stalls, which the window's correction does not always take out, are
	// not the VIP's.)
	m := p.window(roll, time.Now())
	t.Logf("whole roll (%v): %v", time.Since(roll).Round(time.Second), m)
	if m.Lost > 0 || m.Dups > 0 {
		t.Errorf("rolling upgrade: %d probes lost, %d answered twice over the roll; a planned move loses none. %v", m.Lost, m.Dups, m)
	}
	if len(m.Hosts) == 0 || m.Hosts[len(m.Hosts)-1] != "h0" {
		t.Errorf("rolling upgrade: answers from %v; want them to end on h0", m.Hosts)
	}
	if hs := holders(l, l.VIP4); !slices.Equal(hs, []string{"h0"}) {
		t.Errorf("after the roll the VIP is on %v, want h0 only", hs)
	}
}
