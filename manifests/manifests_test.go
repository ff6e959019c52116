package manifests

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden with the rendered output")

// quotingArgs are operator-supplied strings that YAML and systemd both have
// opinions about.
var quotingArgs = []string{
	"--interface=eth0",
	"--vip=192.0.2.10",
	"--notify=/usr/local/bin/notify --tag 'vip changed' \"now\"",
	"--name=50% $HOME ${USER} $$ $(POD_IP) $$(ESCAPED)",
	"--track-exec=/bin/sh -c 'test -e /tmp/ok; echo \\; done'",
	"--log-level", "yes",
	"--priority", "0100",
	";",
	"",
	"# not a comment",
	"- not a list",
	"key: value",
	"{not: a map}",
	"tab-free \\ backslash",
	"trailing space ",
	"ünïcode ✓",
	"@at", "-dash", "+plus", "!bang", ":colon",
	"%n %%n",
	"\"",
	"'",
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	file := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(file, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs (-want +got; go test -update rewrites it):\n%s", file, lineDiff(string(want), string(got)))
	}
}

// lineDiff is a small longest-common-subsequence diff of lines.
func lineDiff(a, b string) string {
	x, y := strings.Split(a, "\n"), strings.Split(b, "\n")
	lcs := make([][]int, len(x)+1)
	for i := range lcs {
		lcs[i] = make([]int, len(y)+1)
	}
	for i := len(x) - 1; i >= 0; i-- {
		for j := len(y) - 1; j >= 0; j-- {
			if x[i] == y[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	var out strings.Builder
	i, j := 0, 0
	for i < len(x) || j < len(y) {
		switch {
		case i < len(x) && j < len(y) && x[i] == y[j]:
			fmt.Fprintf(&out, "  %s\n", x[i])
			i, j = i+1, j+1
		case j < len(y) && (i == len(x) || lcs[i][j+1] >= lcs[i+1][j]):
			fmt.Fprintf(&out, "+ %s\n", y[j])
			j++
		default:
			fmt.Fprintf(&out, "- %s\n", x[i])
			i++
		}
	}
	return out.String()
}

const testImage = "registry.example/vipd:v0.1.0"

var typicalArgs = []string{
	"--interface=eth0", "--vip=192.0.2.10", "--vrid=51", "--priority=100",
	"--track-apiserver=https://127.0.0.1:6443/readyz",
}

func TestPodGolden(t *testing.T) {
	tests := []struct {
		name string
		pod  Pod
	}{
		{"pod-default", Pod{Image: testImage, Args: typicalArgs}},
		{"pod-quoting", Pod{Image: testImage, Args: quotingArgs}},
		{"pod-custom", Pod{
			Image: testImage,
			Args: []string{
				"--config", "/etc/vipd/vipd.yaml",
				"--metrics-address", "0.0.0.0:9441",
				"--control-socket=/run/vipd-a/control.sock",
			},
			Name:                   "vipd-a",
			MetricsAddress:         "0.0.0.0:9441",
			CPURequest:             "50m",
			MemoryRequest:          "48Mi",
			MemoryLimit:            "256Mi",
			TerminationGracePeriod: 15 * time.Second,
			NoPKIMount:             true,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.pod.Render()
			if err != nil {
				t.Fatal(err)
			}
			golden(t, tt.name, got)
		})
	}
}

// TestPodArgsRoundTrip decodes the manifest as the kubelet would and gets
// the operator's arguments back, byte for byte.
func TestPodArgsRoundTrip(t *testing.T) {
	b, err := Pod{Image: testImage, Args: quotingArgs}.Render()
	if err != nil {
		t.Fatal(err)
	}
	var obj podObject
	if err := yaml.UnmarshalStrict(b, &obj); err != nil {
		t.Fatal(err)
	}
	got := kubeletExpand(obj.Spec.Containers[0].Args)
	want := append(append([]string(nil), quotingArgs...), "--metrics-address="+DefaultMetricsAddress)
	if !equalStrings(got, want) {
		t.Errorf("args after a YAML round trip:\n got %q\nwant %q", got, want)
	}
}

// kubeletExpand applies the kubelet's expansion of container args in a
// container with no environment: "$$" becomes "$", and "$(VAR)" stays as
// it is since VAR is not defined.
func kubeletExpand(args []string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		var b strings.Builder
		for j := 0; j < len(a); j++ {
			if a[j] == '$' && j+1 < len(a) && a[j+1] == '$' {
				j++
			}
			b.WriteByte(a[j])
		}
		out[i] = b.String()
	}
	return out
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestPodProbeAndMounts(t *testing.T) {
	tests := []struct {
		args      []string
		metrics   string
		wantHost  string
		wantPort  int
		wantRun   string
		wantExtra []string // args appended
	}{
		{nil, "", "127.0.0.1", 9440, "/run/vipd", []string{"--metrics-address=127.0.0.1:9440"}},
		{nil, "[::1]:9500", "::1", 9500, "/run/vipd", []string{"--metrics-address=[::1]:9500"}},
		{[]string{"--metrics-address=:9442"}, "", "127.0.0.1", 9442, "/run/vipd", nil},
		{[]string{"--metrics-address", "[::]:9443"}, "", "127.0.0.1", 9443, "/run/vipd", nil},
		{[]string{"--metrics-address=192.0.2.5:9444"}, "192.0.2.5:9444", "192.0.2.5", 9444, "/run/vipd", nil},
		{[]string{"--control-socket", "/var/run/vipd/x.sock"}, "", "127.0.0.1", 9440, "/var/run/vipd", []string{"--metrics-address=127.0.0.1:9440"}},
	}
	for _, tt := range tests {
		obj, err := Pod{Image: testImage, Args: tt.args, MetricsAddress: tt.metrics}.object()
		if err != nil {
			t.Errorf("%q %q: %v", tt.args, tt.metrics, err)
			continue
		}
		c := obj.Spec.Containers[0]
		if g := c.LivenessProbe.HTTPGet; g.Host != tt.wantHost || g.Port != tt.wantPort || g.Path != "/healthz" {
			t.Errorf("%q %q: probe %+v, want %s:%d/healthz", tt.args, tt.metrics, g, tt.wantHost, tt.wantPort)
		}
		if want := append(append([]string(nil), tt.args...), tt.wantExtra...); !equalStrings(c.Args, want) {
			t.Errorf("%q %q: args %q, want %q", tt.args, tt.metrics, c.Args, want)
		}
		if v := obj.Spec.Volumes[0]; v.HostPath.Path != tt.wantRun || c.VolumeMounts[0].MountPath != tt.wantRun || c.VolumeMounts[0].ReadOnly {
			t.Errorf("%q: run dir volume %+v mount %+v, want %s read-write", tt.args, v, c.VolumeMounts[0], tt.wantRun)
		}
	}
}

func TestPodErrors(t *testing.T) {
	tests := []struct {
		name string
		pod  Pod
		want string
	}{
		{"newline", Pod{Image: testImage, Args: []string{"--vip=192.0.2.1\n--vip=192.0.2.2"}}, `argument 1 "--vip=192.0.2.1\n--vip=192.0.2.2": control character '\n'`},
		{"nul", Pod{Image: testImage, Args: []string{"a", "b\x00"}}, "argument 2"},
		{"no image", Pod{}, "image \"\""},
		{"image with space", Pod{Image: "a b"}, "image \"a b\""},
		{"bad name", Pod{Image: testImage, Name: "VIPD"}, "name \"VIPD\""},
		{"metrics off", Pod{Image: testImage, Args: []string{"--metrics-address="}}, "liveness probe needs /healthz"},
		{"metrics conflict", Pod{Image: testImage, Args: []string{"--metrics-address=127.0.0.1:1"}, MetricsAddress: "127.0.0.1:2"}, "differs"},
		{"metrics no port", Pod{Image: testImage, MetricsAddress: "127.0.0.1"}, "give HOST:PORT"},
		{"metrics port 0", Pod{Image: testImage, MetricsAddress: "127.0.0.1:0"}, "give HOST:PORT"},
		{"quantity", Pod{Image: testImage, MemoryLimit: "lots"}, "memory limit \"lots\""},
		{"grace fraction", Pod{Image: testImage, TerminationGracePeriod: 1500 * time.Millisecond}, "whole seconds"},
		{"socket at root", Pod{Image: testImage, Args: []string{"--control-socket=/x.sock"}}, "directory of its own"},
		{"config relative", Pod{Image: testImage, Args: []string{"--config=vipd.yaml"}}, "--config \"vipd.yaml\""},
		{"pki relative", Pod{Image: testImage, PKIDir: "pki"}, "pki dir"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.pod.Render()
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), "manifests: ") {
				t.Errorf("Render() = %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestUnitGolden(t *testing.T) {
	tests := []struct {
		name string
		unit Unit
	}{
		{"unit-default", Unit{Args: typicalArgs}},
		{"unit-noargs", Unit{}},
		{"unit-quoting", Unit{Args: quotingArgs}},
		{"unit-custom", Unit{
			BinaryPath:     "/opt/vipd/bin/vipd",
			Args:           []string{"--config=/etc/vipd/vipd.yaml", "--control-socket", "/var/lib/vipd/vipd.sock"},
			RestartSec:     5 * time.Second,
			TimeoutStopSec: 20 * time.Second,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.unit.Render()
			if err != nil {
				t.Fatal(err)
			}
			golden(t, tt.name, got)
		})
	}
}

// TestUnitArgsRoundTrip splits the ExecStart= line the way systemd does
// and gets the operator's arguments back.
func TestUnitArgsRoundTrip(t *testing.T) {
	b, err := Unit{Args: quotingArgs}.Render()
	if err != nil {
		t.Fatal(err)
	}
	line := execStart(t, string(b))
	got, err := splitExecStart(line)
	if err != nil {
		t.Fatal(err)
	}
	want := append([]string{DefaultBinaryPath}, quotingArgs...)
	if !equalStrings(got, want) {
		t.Errorf("argv from %s:\n got %q\nwant %q", line, got, want)
	}
}

// execStart returns the ExecStart= value with its continuation lines
// joined, as systemd.syntax(7) describes.
func execStart(t *testing.T, unit string) string {
	t.Helper()
	joined := strings.ReplaceAll(unit, "\\\n", " ")
	for l := range strings.SplitSeq(joined, "\n") {
		if v, ok := strings.CutPrefix(l, "ExecStart="); ok {
			return v
		}
	}
	t.Fatal("no ExecStart=")
	return ""
}

// splitExecStart follows systemd.service(5) "Command lines" for what
// Render emits: words split on whitespace, double quotes with C escapes,
// "$$" for "$" and "%%" for "%". It fails on what systemd would treat
// specially: a lone unquoted ";", a bare "$" or "%" (substitution).
func splitExecStart(s string) ([]string, error) {
	var (
		words  []string
		cur    strings.Builder
		inWord bool
		quoted bool
	)
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quoted && c == '\\':
			i++
			if i == len(s) || (s[i] != '\\' && s[i] != '"') {
				return nil, fmt.Errorf("escape at %d not emitted by Render", i)
			}
			cur.WriteByte(s[i])
		case quoted && c == '"':
			quoted = false
		case c == '"':
			quoted, inWord = true, true
		case !quoted && (c == ' ' || c == '\t'):
			if inWord {
				if cur.String() == ";" && s[i-1] != '"' {
					return nil, fmt.Errorf("unquoted ';' separates commands")
				}
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		case c == '$' || c == '%':
			if i+1 == len(s) || s[i+1] != c {
				return nil, fmt.Errorf("bare %q at %d would be substituted", c, i)
			}
			i++
			cur.WriteByte(c)
			inWord = true
		case !quoted && c == '\\':
			return nil, fmt.Errorf("unquoted backslash at %d", i)
		default:
			cur.WriteByte(c)
			inWord = true
		}
	}
	if quoted {
		return nil, fmt.Errorf("unterminated quote")
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}

func TestUnitErrors(t *testing.T) {
	tests := []struct {
		name string
		unit Unit
		want string
	}{
		{"newline", Unit{Args: []string{"--vip=192.0.2.1\n"}}, `control character '\n'`},
		{"relative binary", Unit{BinaryPath: "vipd"}, "binary path \"vipd\""},
		{"binary with space", Unit{BinaryPath: "/opt/my vipd"}, "binary path"},
		{"restart fraction", Unit{RestartSec: 500 * time.Millisecond}, "restart sec 500ms"},
		{"socket in /run", Unit{Args: []string{"--control-socket=/run/vipd.sock"}}, "directory of its own"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.unit.Render()
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), "manifests: ") {
				t.Errorf("Render() = %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestFlagValue(t *testing.T) {
	tests := []struct {
		args []string
		val  string
		ok   bool
	}{
		{nil, "", false},
		{[]string{"--metrics-address=a"}, "a", true},
		{[]string{"--metrics-address", "b"}, "b", true},
		{[]string{"--metrics-address=a", "--metrics-address", "b"}, "b", true},
		{[]string{"--metrics-address"}, "", false},
		{[]string{"--metrics-addressx=a"}, "", false},
		{[]string{"--", "--metrics-address=a"}, "", false},
		{[]string{"--notify", "--metrics-address=a"}, "a", true}, // pflag would give --notify the value; harmless here
	}
	for _, tt := range tests {
		if v, ok := flagValue(tt.args, "metrics-address"); v != tt.val || ok != tt.ok {
			t.Errorf("flagValue(%q) = %q, %v; want %q, %v", tt.args, v, ok, tt.val, tt.ok)
		}
	}
}
