package podcheck

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

func goldens(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("..", "testdata", "pod-*.golden"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no ../testdata/pod-*.golden: run go test -update in manifests/")
	}
	return files
}

// metricsPort is the port of the last --metrics-address in args.
func metricsPort(t *testing.T, args []string) int {
	t.Helper()
	addr := ""
	for i, a := range args {
		if v, ok := strings.CutPrefix(a, "--metrics-address="); ok {
			addr = v
		} else if a == "--metrics-address" && i+1 < len(args) {
			addr = args[i+1]
		}
	}
	p, err := strconv.Atoi(addr[strings.LastIndexByte(addr, ':')+1:])
	if err != nil {
		t.Fatalf("args %q: no --metrics-address with a port", args)
	}
	return p
}

func TestStaticPods(t *testing.T) {
	for _, f := range goldens(t) {
		t.Run(filepath.Base(f), func(t *testing.T) {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			var pod corev1.Pod
			if err := yaml.UnmarshalStrict(b, &pod); err != nil {
				t.Fatalf("strict decode into core/v1 Pod: %v", err)
			}
			checkPod(t, &pod)
		})
	}
}

func checkPod(t *testing.T, pod *corev1.Pod) {
	if pod.APIVersion != "v1" || pod.Kind != "Pod" {
		t.Errorf("apiVersion/kind = %s/%s, want v1/Pod", pod.APIVersion, pod.Kind)
	}
	if pod.Namespace != "kube-system" {
		t.Errorf("namespace %q, want kube-system", pod.Namespace)
	}
	if pod.Labels["tier"] != "control-plane" || pod.Labels["component"] != "vipd" {
		t.Errorf("labels %v, want tier: control-plane, component: vipd", pod.Labels)
	}
	s := pod.Spec
	if !s.HostNetwork {
		t.Error("hostNetwork is not true")
	}
	if s.PriorityClassName != "system-node-critical" {
		t.Errorf("priorityClassName %q", s.PriorityClassName)
	}
	if s.AutomountServiceAccountToken == nil || *s.AutomountServiceAccountToken {
		t.Error("automountServiceAccountToken is not false")
	}
	if s.ServiceAccountName != "" {
		t.Errorf("serviceAccountName %q: vipd needs no API access", s.ServiceAccountName)
	}
	if s.TerminationGracePeriodSeconds == nil || *s.TerminationGracePeriodSeconds < 1 {
		t.Error("terminationGracePeriodSeconds is not set")
	}
	if len(s.Containers) != 1 || len(s.InitContainers) != 0 {
		t.Fatalf("%d containers, %d init containers; want 1, 0", len(s.Containers), len(s.InitContainers))
	}
	c := s.Containers[0]
	if c.ImagePullPolicy != corev1.PullIfNotPresent {
		t.Errorf("imagePullPolicy %q", c.ImagePullPolicy)
	}
	if len(c.Env) != 0 || len(c.EnvFrom) != 0 {
		t.Error("environment set: vipd takes its configuration from its flags")
	}

	sc := c.SecurityContext
	if sc == nil || sc.Capabilities == nil {
		t.Fatal("no container securityContext.capabilities")
	}
	if sc.Privileged != nil && *sc.Privileged {
		t.Error("privileged")
	}
	if got := sc.Capabilities.Drop; !slices.Equal(got, []corev1.Capability{"ALL"}) {
		t.Errorf("capabilities.drop %v, want [ALL]", got)
	}
	add := slices.Clone(sc.Capabilities.Add)
	slices.Sort(add)
	if want := []corev1.Capability{"NET_ADMIN", "NET_BROADCAST", "NET_RAW"}; !slices.Equal(add, want) {
		t.Errorf("capabilities.add %v, want exactly %v", add, want)
	}

	lp := c.LivenessProbe
	if lp == nil || lp.HTTPGet == nil {
		t.Fatal("no httpGet liveness probe")
	}
	if lp.HTTPGet.Path != "/healthz" || lp.HTTPGet.Port.IntValue() != metricsPort(t, c.Args) {
		t.Errorf("liveness probe %s on port %s, want /healthz on the --metrics-address port", lp.HTTPGet.Path, lp.HTTPGet.Port.String())
	}

	req, lim := c.Resources.Requests, c.Resources.Limits
	if req.Cpu().IsZero() || req.Memory().IsZero() {
		t.Errorf("requests %v: want cpu and memory", req)
	}
	if lim.Memory().IsZero() || lim.Memory().Cmp(*req.Memory()) < 0 {
		t.Errorf("memory limit %v, want one no smaller than the request %v", lim.Memory(), req.Memory())
	}
	if _, ok := lim[corev1.ResourceCPU]; ok {
		t.Error("cpu limit: throttling would delay adverts")
	}

	vols := map[string]corev1.Volume{}
	for _, v := range s.Volumes {
		if v.HostPath == nil {
			t.Errorf("volume %s is not a hostPath", v.Name)
		}
		vols[v.Name] = v
	}
	var run bool
	for _, m := range c.VolumeMounts {
		v, ok := vols[m.Name]
		if !ok {
			t.Errorf("mount %s has no volume", m.Name)
			continue
		}
		if strings.HasSuffix(v.HostPath.Path, ".conf") || v.HostPath.Path == "/etc/kubernetes" {
			t.Errorf("volume %s mounts %s: vipd takes no kubeconfig", v.Name, v.HostPath.Path)
		}
		switch {
		case strings.HasPrefix(m.MountPath, "/run/") || strings.HasPrefix(m.MountPath, "/var/run/"):
			run = !m.ReadOnly
		case m.Name == "state" && m.MountPath == "/var/lib/vipd":
			// The per-VRID locks and persisted state: writable, and only vipd's.
			if m.ReadOnly || v.HostPath.Path != "/var/lib/vipd" {
				t.Errorf("state mount %s → %s read-only=%v; want the host's /var/lib/vipd, writable", v.HostPath.Path, m.MountPath, m.ReadOnly)
			}
		case !m.ReadOnly:
			t.Errorf("mount %s at %s is writable", m.Name, m.MountPath)
		}
	}
	if !run {
		t.Error("no writable /run mount for the control socket")
	}
}

// TestStrictDecodeRejects makes sure the decode above would catch a field
// that core/v1 does not have, or a value of the wrong type.
func TestStrictDecodeRejects(t *testing.T) {
	b, err := os.ReadFile(goldens(t)[0])
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []struct{ old, new string }{
		{"  hostNetwork: true\n", "  hostNetwork: true\n  hostNetwrk: true\n"},
		{"      privileged: false\n", "      privileged: \"no\"\n"},
	} {
		if !strings.Contains(string(b), bad.old) {
			t.Fatalf("golden has no %q", bad.old)
		}
		var pod corev1.Pod
		if err := yaml.UnmarshalStrict([]byte(strings.Replace(string(b), bad.old, bad.new, 1)), &pod); err == nil {
			t.Errorf("strict decode accepted %q", bad.new)
		}
	}
}
