package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

// configFromArgs parses vipd's flags as the command line would.
func configFromArgs(t *testing.T, args ...string) (*Config, error) {
	t.Helper()
	fs := pflag.NewFlagSet("vipd", pflag.ContinueOnError)
	fs.SetOutput(discardWriter{})
	f := NewFlags(fs)
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	return f.Config()
}

type discardWriter struct{}

func (discardWriter) Write(p []byte) (int, error) { return len(p), nil }

var base = []string{"--interface", "eth0", "--vip", "198.18.0.100", "--vrid", "51", "--priority", "150"}

func TestFlagsGiveDefaults(t *testing.T) {
	cfg, err := configFromArgs(t, base...)
	if err != nil {
		t.Fatal(err)
	}
	in := cfg.Instances[0]
	if in.Name != "vrid-51" || in.Version != 3 || in.AdvertInterval != time.Second || !in.Preempt ||
		in.Checksum != ChecksumPseudoHeader || in.AnnounceCount != 5 || in.AnnounceInterval != time.Second {
		t.Errorf("defaults: %+v", in)
	}
	if cfg.ControlSocket != DefaultControlSocket {
		t.Errorf("control socket %q", cfg.ControlSocket)
	}
}

// Every kind of bad input names the field, says how to fix it, and is an ErrConfig.
func TestBadFlagsNameTheField(t *testing.T) {
	with := func(extra ...string) []string { return append(append([]string{}, base...), extra...) }
	for _, tc := range []struct {
		name  string
		args  []string
		field string
	}{
		{"no instance", nil, "--interface"},
		{"unparseable VIP", with("--vip", "198.18.0.300"), "--vip"},
		{"VIP with prefix", []string{"--interface", "eth0", "--vip", "198.18.0.100/24", "--vrid", "1"}, "--vip"},
		{"multicast VIP", []string{"--interface", "eth0", "--vip", "224.0.0.1", "--vrid", "1"}, "--vip"},
		{"duplicate VIP", with("--vip", "198.18.0.100"), "--vip"},
		{"VRID 0", with("--vrid", "0"), "--vrid"},
		{"VRID 256", with("--vrid", "256"), "--vrid"},
		{"priority 0", with("--priority", "0"), "--priority"},
		{"priority 256", with("--priority", "256"), "--priority"},
		{"v2 with IPv6", with("--vrrp-version", "2", "--vip", "2001:db8::1"), "--vrrp-version"},
		{"version 4", with("--vrrp-version", "4"), "--vrrp-version"},
		{"v3 interval 5ms", with("--advert-interval", "5ms"), "--advert-interval"},
		{"v3 interval 41s", with("--advert-interval", "41s"), "--advert-interval"},
		{"v3 interval 15ms", with("--advert-interval", "15ms"), "--advert-interval"},
		{"v2 interval 500ms", with("--vrrp-version", "2", "--advert-interval", "500ms"), "--advert-interval"},
		{"v2 interval 256s", with("--vrrp-version", "2", "--advert-interval", "256s"), "--advert-interval"},
		{"peer of other family", with("--peer", "2001:db8::2"), "--peer"},
		{"peer multicast", with("--peer", "224.0.0.18"), "--peer"},
		{"source of other family", with("--source", "fe80::1"), "--source"},
		{"IPv6 source not link-local", []string{"--interface", "eth0", "--vip", "2001:db8::100", "--vrid", "1", "--source", "2001:db8::1"}, "--source"},
		{"preempt delay without preempt", with("--preempt=false", "--preempt-delay", "2s"), "--preempt-delay"},
		{"checksum form", with("--checksum", "rfc"), "--checksum"},
		{"garp count", with("--garp-count", "-1"), "--garp-count"},
		{"garp interval", with("--garp-interval", "1ms"), "--garp-interval"},
		{"log format", with("--log-format", "xml"), "--log-format"},
		{"apiserver URL", with("--track-apiserver", "127.0.0.1:6443"), "--track-apiserver"},
		{"check option", with("--track-tcp", "127.0.0.1:2379,wieght=5"), "--track-tcp"},
		{"check weight", with("--track-tcp", "127.0.0.1:2379,weight=300"), "--track-tcp"},
		{"tcp target", with("--track-tcp", "localhost"), "--track-tcp"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := configFromArgs(t, tc.args...)
			if err == nil {
				t.Fatal("accepted")
			}
			if !errors.Is(err, ErrConfig) {
				t.Errorf("%v is not an ErrConfig", err)
			}
			var fe *FieldError
			if !errors.As(err, &fe) || !strings.HasPrefix(fe.Field, tc.field) {
				t.Errorf("error %q does not name %s", err, tc.field)
			}
			if fe != nil && fe.Fix == "" && tc.field != "--track-tcp" && tc.field != "--track-apiserver" {
				t.Errorf("error %q says nothing of the fix", err)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error spans lines: %q", err)
			}
		})
	}
}

func writeFile(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "vipd.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

const twoInstances = `
metricsAddress: 127.0.0.1:9440
instances:
- name: api
  interface: eth0
  vrid: 51
  priority: 150
  vips: [198.18.0.100, "2001:db8::100"]
  advertInterval: 100ms
  garp: {count: 3, interval: 500ms, refresh: 60s}
  checks:
  - https: https://127.0.0.1:6443/readyz
    weight: 60
  - tcp: 127.0.0.1:2379
  - exec: [/bin/true]
- name: ingress
  interface: eth1
  vrid: 52
  vrrpVersion: 2
  vips: [198.18.0.200]
  peers: [198.18.0.12, 198.18.0.13]
  preempt: false
`

func TestConfigFile(t *testing.T) {
	cfg, err := configFromArgs(t, "--config", writeFile(t, twoInstances), "--log-format", "json")
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Instances) != 2 || cfg.MetricsAddress != "127.0.0.1:9440" || cfg.LogFormat != "json" {
		t.Fatalf("config: %+v", cfg)
	}
	api, ing := cfg.Instances[0], cfg.Instances[1]
	if api.AdvertInterval != 100*time.Millisecond || len(api.VIPs) != 2 || api.AnnounceCount != 3 ||
		api.AnnounceRefresh != time.Minute || len(api.Checks) != 3 || api.Checks[0].Weight != 60 || api.Checks[2].Command[0] != "/bin/true" {
		t.Errorf("api: %+v", api)
	}
	if ing.Version != 2 || ing.Preempt || len(ing.Peers) != 2 || ing.Priority != 100 || ing.AdvertInterval != time.Second {
		t.Errorf("ingress: %+v", ing)
	}
	if api.Family() != 4 || len(api.ElectionVIPs()) != 1 {
		t.Errorf("dual stack: family %d, election VIPs %v", api.Family(), api.ElectionVIPs())
	}
}

func TestBadConfigFileNamesThePath(t *testing.T) {
	for _, tc := range []struct{ name, body, want string }{
		{"unknown key", "instances:\n- interface: eth0\n  vird: 5\n", `instances[0].vird: unknown key; did you mean "vrid"?`},
		{"unknown top key", "instance: []\n", `instance: unknown key; did you mean "instances"?`},
		{"nested unknown", "instances:\n- interface: eth0\n  vrid: 5\n  vips: [198.18.0.1]\n  garp: {cnt: 3}\n", "instances[0].garp.cnt: unknown key"},
		{"wrong type", "instances:\n- interface: eth0\n  vrid: five\n", "instances.vrid"},
		{"bad duration", "instances:\n- interface: eth0\n  vrid: 5\n  advertInterval: fast\n", "not a duration"},
		{"bad VIP", "instances:\n- interface: eth0\n  vrid: 5\n  vips: [198.18.0.300]\n", "instances[0].vips"},
		{"VRID range", "instances:\n- interface: eth0\n  vrid: 300\n  vips: [198.18.0.1]\n", "instances[0].vrid"},
		{"duplicate VRID", "instances:\n- {name: a, interface: eth0, vrid: 5, vips: [198.18.0.1]}\n- {name: b, interface: eth0, vrid: 5, vips: [198.18.0.2]}\n", "instances[1].vrid"},
		{"duplicate name", "instances:\n- {name: a, interface: eth0, vrid: 5, vips: [198.18.0.1]}\n- {name: a, interface: eth1, vrid: 5, vips: [198.18.0.2]}\n", "instances[1].name"},
		{"no instances", "logFormat: json\n", "instances: no instances"},
		{"syntax", "instances: [\n", "(syntax)"},
		{"check kind", "instances:\n- interface: eth0\n  vrid: 5\n  vips: [198.18.0.1]\n  checks: [{weight: 5}]\n", "instances[0].checks[0]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := configFromArgs(t, "--config", writeFile(t, tc.body))
			if err == nil || !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an ErrConfig containing %q", err, tc.want)
			}
		})
	}
}

func TestConfigAndInstanceFlagsConflict(t *testing.T) {
	_, err := configFromArgs(t, "--config", writeFile(t, twoInstances), "--vrid", "9")
	if err == nil || !strings.Contains(err.Error(), "--vrid") {
		t.Errorf("got %v", err)
	}
	_, err = configFromArgs(t, "--config", "/nonexistent/vipd.yaml")
	if err == nil || !strings.Contains(err.Error(), "--config") {
		t.Errorf("missing file: %v", err)
	}
}

func TestArgsRoundTrip(t *testing.T) {
	fs := pflag.NewFlagSet("vipd", pflag.ContinueOnError)
	f := NewFlags(fs)
	args := append(append([]string{}, base...), "--vip", "2001:db8::100", "--peer", "198.18.0.12", "--peer", "198.18.0.13",
		"--track-tcp", "127.0.0.1:2379,weight=5", "--preempt=false", "--image", "x")
	fs.String("image", "", "")
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	got := f.Args("image")
	fs2 := pflag.NewFlagSet("vipd", pflag.ContinueOnError)
	f2 := NewFlags(fs2)
	if err := fs2.Parse(got); err != nil {
		t.Fatalf("Args %q do not parse: %v", got, err)
	}
	a, err1 := f.Config()
	b, err2 := f2.Config()
	if err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}
	ai, bi := a.Instances[0], b.Instances[0]
	ai.field, bi.field = nil, nil
	if ai.Name != bi.Name || len(ai.VIPs) != 2 || len(bi.VIPs) != 2 || len(bi.Peers) != 2 || bi.Preempt || len(bi.Checks) != 1 {
		t.Errorf("Args %q changed the config:\n%+v\n%+v", got, ai, bi)
	}
	for _, a := range got {
		if strings.HasPrefix(a, "--image") {
			t.Errorf("Args kept an excluded flag: %q", got)
		}
	}
}

func TestCheckDefaults(t *testing.T) {
	cfg, err := configFromArgs(t, append(append([]string{}, base...), "--track-apiserver", "https://127.0.0.1:6443/readyz,interval=100ms",
		"--track-tcp", "127.0.0.1:2379", "--track-tcp", "127.0.0.1:2379,weight=5")...)
	if err != nil {
		t.Fatal(err)
	}
	cs := cfg.Instances[0].Checks
	api := cs[0].Spec()
	if api.Interval != 100*time.Millisecond || api.Timeout != 100*time.Millisecond || api.Weight != 50 || api.Name != "apiserver" {
		t.Errorf("apiserver check: %+v", api)
	}
	if cs[1].Name != "tcp:127.0.0.1:2379" || cs[2].Name != "tcp:127.0.0.1:2379-2" {
		t.Errorf("names %q, %q: want unique names", cs[1].Name, cs[2].Name)
	}
}
