package config

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
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

// v6 is an IPv6 instance on eth0 with extra flags.
func v6(extra ...string) []string {
	return append([]string{"--interface", "eth0", "--vip", "2001:db8::100", "--vrid", "51"}, extra...)
}

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
		{"interface name with a slash", with("--interface", "../etc"), "--interface"},
		{"interface name too long", with("--interface", "averyveryverylongname"), "--interface"},
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
		{"check weight negative", with("--track-tcp", "127.0.0.1:2379,weight=-1"), "--track-tcp"},
		{"garp count 0", with("--garp-count", "0"), "--garp-count"},
		{"garp count 101", with("--garp-count", "101"), "--garp-count"},
		{"source zone of another interface", v6("--source", "fe80::1%eth1"), "--source"},
		{"peer zone of another interface", v6("--peer", "fe80::2%eth1"), "--peer"},
		{"IPv6 unicast global peers without source", v6("--peer", "2001:db8::12"), "--source"},
		{"IPv6 unicast global peers, link-local source", v6("--peer", "2001:db8::12", "--source", "fe80::1"), "--source"},
		{"IPv6 unicast peers of both scopes", v6("--peer", "2001:db8::12", "--peer", "fe80::13", "--source", "2001:db8::11"), "--peer"},
		{"IPv6 unicast link-local peers, global source", v6("--peer", "fe80::12", "--source", "2001:db8::11"), "--source"},
		{"auth-pass with v3", with("--auth-pass", "42"), "--auth-pass"},
		{"auth-pass of 9 bytes", with("--vrrp-version", "2", "--auth-pass", "123456789"), "--auth-pass"},
		{"auth-pass empty", with("--vrrp-version", "2", "--auth-pass", ""), "--auth-pass"},
		{"track-interface name", with("--track-interface", "eth/1"), "--track-interface"},
		{"track-interface long name", with("--track-interface", "abcdefghijklmnop"), "--track-interface"},
		{"track-interface option", with("--track-interface", "eth1,interval=1s"), "--track-interface"},
		{"track-interface weight", with("--track-interface", "eth1,weight=255"), "--track-interface"},
		{"cert without key", with("--track-apiserver", "https://127.0.0.1:6443/readyz,cert=/c.pem"), "--track-apiserver"},
		{"key without cert", with("--track-apiserver", "https://127.0.0.1:6443/readyz,key=/k.pem"), "--track-apiserver"},
		{"cert on a tcp check", with("--track-tcp", "127.0.0.1:2379,cert=/c.pem,key=/k.pem"), "--track-tcp"},
		{"server-name on http", with("--track-apiserver", "http://127.0.0.1:8080/healthz,server-name=x"), "--track-apiserver"},
		{"state dir relative", with("--state-dir", "var/lib/vipd"), "--state-dir"},
		{"state dir empty", with("--state-dir", ""), "--state-dir"},
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
		{"VIP in two instances", "instances:\n- {name: a, interface: eth0, vrid: 5, vips: [198.18.0.1]}\n- {name: b, interface: eth1, vrid: 6, vips: [198.18.0.2, 198.18.0.1]}\n",
			`instances[1].vips: 198.18.0.1 is a VIP of both instance "a" and instance "b"`},
		{"auth type AH", inst("vrrpVersion: 2\n  authType: ah\n  authPass: x\n"), "instances[0].authType: IPsec AH"},
		{"auth type other", inst("vrrpVersion: 2\n  authType: md5\n"), "instances[0].authType"},
		{"auth type without pass", inst("vrrpVersion: 2\n  authType: PASS\n"), "instances[0].authPass"},
		{"auth pass with v3", inst("authPass: \"42\"\n"), "instances[0].authPass: VRRPv3 has no authentication (RFC 9568 §9)"},
		{"auth pass too long", inst("vrrpVersion: 2\n  authPass: kubernetes\n"), "instances[0].authPass: 10 bytes is too long"},
		{"auth pass empty", inst("vrrpVersion: 2\n  authPass: \"\"\n"), "instances[0].authPass: empty"},
		{"state dir", "stateDir: relative\n" + inst(""), "--state-dir"},
		{"notify hook empty", inst("notifyMaster: [\"\"]\n"), "instances[0].notifyMaster: empty command"},
		{"notify hook type", inst("notifyFault: {a: 1}\n"), "write a command as a list"},
		{"track interface name", inst("trackInterfaces: [{interface: \"\"}]\n"), "instances[0].trackInterfaces[0]"},
		{"track interface weight", inst("trackInterfaces: [{interface: eth1, weight: -3}]\n"), "instances[0].trackInterfaces[0] weight"},
		{"track interface key", inst("trackInterfaces: [{interface: eth1, rise: 3}]\n"), "instances[0].trackInterfaces[0].rise: unknown key"},
		{"cert without key", inst("checks: [{https: \"https://127.0.0.1:6443/readyz\", cert: /c.pem}]\n"), "instances[0].checks[0] cert/key"},
		{"second check's field", inst("checks: [{tcp: \"127.0.0.1:1\"}, {tcp: \"127.0.0.1:2\", weight: 900}]\n"), "instances[0].checks[1] weight"},
		{"IPv6 unicast without source", "instances:\n- {interface: eth0, vrid: 5, vips: [\"2001:db8::100\"], peers: [\"2001:db8::12\"]}\n",
			"instances[0].source: the peers are global IPv6 addresses"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := configFromArgs(t, "--config", writeFile(t, tc.body))
			if err == nil || !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an ErrConfig containing %q", err, tc.want)
			}
		})
	}
}

// inst is a valid IPv4 instance file with extra keys (indented by two spaces).
func inst(extra string) string {
	return "instances:\n- interface: eth0\n  vrid: 5\n  vips: [198.18.0.1]\n  " + extra
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
	// Without a weight the apiserver check is a tier check: a failing
	// master ranks below every healthy one.
	if api.Interval != 100*time.Millisecond || api.Timeout != 100*time.Millisecond || !api.Tier || api.Weight != 0 || api.Name != "apiserver" {
		t.Errorf("apiserver check: %+v", api)
	}
	if cs[1].Tier || cs[1].Spec().Weight != DefaultCheckWeight {
		t.Errorf("a TCP check without a weight: %+v", cs[1].Spec())
	}
	for _, tc := range []struct {
		opt  string
		tier bool
		w    int
	}{{",weight=50", false, 50}, {",weight=tier", true, 0}, {"", true, 0}} {
		c, err := configFromArgs(t, append(append([]string{}, base...), "--track-apiserver", "https://127.0.0.1:6443/readyz"+tc.opt)...)
		if err != nil {
			t.Fatal(err)
		}
		if s := c.Instances[0].Checks[0].Spec(); s.Tier != tc.tier || s.Weight != tc.w {
			t.Errorf("--track-apiserver URL%s: tier %v weight %d, want %v %d", tc.opt, s.Tier, s.Weight, tc.tier, tc.w)
		}
	}
	if _, err := configFromArgs(t, append(append([]string{}, base...), "--track-tcp", "127.0.0.1:1,weight=tier")...); err == nil {
		t.Error("weight=tier on a TCP check is accepted")
	}
	if cs[1].Name != "tcp:127.0.0.1:2379" || cs[2].Name != "tcp:127.0.0.1:2379-2" {
		t.Errorf("names %q, %q: want unique names", cs[1].Name, cs[2].Name)
	}
}

// weight omitted is the default penalty; weight 0 is a fault check, in flags and
// in the file.
func TestCheckWeightZeroIsFault(t *testing.T) {
	cfg, err := configFromArgs(t, append(append([]string{}, base...),
		"--track-tcp", "127.0.0.1:2379", "--track-tcp", "127.0.0.1:2380,weight=0", "--track-tcp", "127.0.0.1:2381,weight=7")...)
	if err != nil {
		t.Fatal(err)
	}
	cs := cfg.Instances[0].Checks
	if cs[0].Fault || cs[0].Spec().Weight != DefaultCheckWeight {
		t.Errorf("weight omitted: fault %v, spec weight %d; want the default %d", cs[0].Fault, cs[0].Spec().Weight, DefaultCheckWeight)
	}
	if !cs[1].Fault || cs[1].Weight != 0 {
		t.Errorf("weight=0: %+v, want a fault check", cs[1])
	}
	if err := cs[1].Spec().Validate(); err != nil {
		t.Errorf("a fault check's spec does not validate: %v", err)
	}
	if cs[2].Fault || cs[2].Spec().Weight != 7 {
		t.Errorf("weight=7: %+v", cs[2])
	}

	cfg, err = configFromArgs(t, "--config", writeFile(t, inst("checks: [{tcp: \"127.0.0.1:1\", weight: 0}, {tcp: \"127.0.0.1:2\"}]\n")))
	if err != nil {
		t.Fatal(err)
	}
	if cs := cfg.Instances[0].Checks; !cs[0].Fault || cs[1].Fault || cs[1].Spec().Weight != DefaultCheckWeight {
		t.Errorf("file: %+v", cs)
	}
}

func TestTrackInterface(t *testing.T) {
	cfg, err := configFromArgs(t, append(append([]string{}, base...),
		"--track-interface", "eth1", "--track-interface", "bond0.100,weight=10", "--track-interface", "eth2,weight=0")...)
	if err != nil {
		t.Fatal(err)
	}
	cs := cfg.Instances[0].Checks
	if c := cs[0]; c.Kind != "interface" || c.Target != "eth1" || !c.Fault || c.Name != "interface:eth1" {
		t.Errorf("no weight: %+v, want a fault check on eth1", c)
	}
	if c := cs[1]; c.Target != "bond0.100" || c.Fault || c.Weight != 10 {
		t.Errorf("weight=10: %+v", c)
	}
	if !cs[2].Fault {
		t.Errorf("weight=0: %+v, want a fault check", cs[2])
	}
	cfg, err = configFromArgs(t, "--config", writeFile(t, inst("trackInterfaces: [{interface: eth1, weight: 10}, {interface: eth2}]\n")))
	if err != nil {
		t.Fatal(err)
	}
	cs = cfg.Instances[0].Checks
	if len(cs) != 2 || cs[0].Kind != "interface" || cs[0].Weight != 10 || cs[0].Fault || !cs[1].Fault || cs[1].Target != "eth2" {
		t.Errorf("file: %+v", cs)
	}
}

func TestZoneOfOwnInterfaceIsStripped(t *testing.T) {
	cfg, err := configFromArgs(t, v6("--source", "fe80::1%eth0", "--peer", "fe80::2%eth0")...)
	if err != nil {
		t.Fatal(err)
	}
	in := cfg.Instances[0]
	if in.Source != netip.MustParseAddr("fe80::1") || in.Peers[0] != netip.MustParseAddr("fe80::2") {
		t.Errorf("source %v, peers %v: want the zone stripped", in.Source, in.Peers)
	}
	_, err = configFromArgs(t, v6("--source", "fe80::1%eth1")...)
	if err == nil || !strings.Contains(err.Error(), "drop the %eth1 zone") {
		t.Errorf("another interface's zone: %v", err)
	}
}

// A unicast IPv6 instance with global peers sends from the global source the
// peers list; multicast IPv6 stays link-local (RFC 9568 §5.1.2.1).
func TestIPv6UnicastGlobalSource(t *testing.T) {
	cfg, err := configFromArgs(t, v6("--peer", "2001:db8::12", "--peer", "fd00::13", "--source", "2001:db8::11")...)
	if err != nil {
		t.Fatal(err)
	}
	if in := cfg.Instances[0]; in.Source != netip.MustParseAddr("2001:db8::11") || len(in.Peers) != 2 {
		t.Errorf("%+v", in)
	}
	if _, err := configFromArgs(t, v6("--peer", "fe80::12")...); err != nil {
		t.Errorf("link-local peers without a source: %v", err)
	}
	_, err = configFromArgs(t, v6("--peer", "2001:db8::12")...)
	if err == nil || !strings.Contains(err.Error(), "give this host's global address that the peers list as --peer") {
		t.Errorf("global peers without a source: %v", err)
	}
}

func TestAuthPass(t *testing.T) {
	cfg, err := configFromArgs(t, append(append([]string{}, base...), "--vrrp-version", "2", "--auth-pass", "42")...)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Instances[0].AuthPass != "42" {
		t.Errorf("auth pass %q", cfg.Instances[0].AuthPass)
	}
	_, err = configFromArgs(t, append(append([]string{}, base...), "--auth-pass", "42")...)
	if err == nil || !strings.Contains(err.Error(), "VRRPv3 has no authentication (RFC 9568 §9)") {
		t.Errorf("v3: %v", err)
	}
	cfg, err = configFromArgs(t, "--config", writeFile(t, inst("vrrpVersion: 2\n  authType: PASS\n  authPass: \"12345678\"\n")))
	if err != nil || cfg.Instances[0].AuthPass != "12345678" {
		t.Errorf("file: %v", err)
	}
}

func TestNotifyHooks(t *testing.T) {
	cfg, err := configFromArgs(t, "--config", writeFile(t, inst(
		"notify: /bin/generic arg\n  notifyMaster: [/bin/master, \"two words\"]\n  notifyBackup: /bin/backup\n  notifyFault: [/bin/fault]\n  notifyStop: /bin/stop now\n")))
	if err != nil {
		t.Fatal(err)
	}
	in := cfg.Instances[0]
	for _, tc := range []struct {
		got  []string
		want string
	}{{in.Notify, "/bin/generic|arg"}, {in.NotifyMaster, "/bin/master|two words"}, {in.NotifyBackup, "/bin/backup"},
		{in.NotifyFault, "/bin/fault"}, {in.NotifyStop, "/bin/stop|now"}} {
		if got := strings.Join(tc.got, "|"); got != tc.want {
			t.Errorf("hook %q, want %q", got, tc.want)
		}
	}
	cfg, err = configFromArgs(t, append(append([]string{}, base...), "--notify-master", "/bin/m a", "--notify-stop", "/bin/s")...)
	if err != nil {
		t.Fatal(err)
	}
	if in := cfg.Instances[0]; strings.Join(in.NotifyMaster, "|") != "/bin/m|a" || strings.Join(in.NotifyStop, "|") != "/bin/s" || in.NotifyBackup != nil {
		t.Errorf("flags: %+v", in)
	}
}

func TestStateDir(t *testing.T) {
	cfg, err := configFromArgs(t, base...)
	if err != nil || cfg.StateDir != DefaultStateDir {
		t.Fatalf("default: %v %q", err, cfg.StateDir)
	}
	path := writeFile(t, "stateDir: /srv/vipd\n"+inst(""))
	if cfg, err = configFromArgs(t, "--config", path); err != nil || cfg.StateDir != "/srv/vipd" {
		t.Errorf("file: %v %+v", err, cfg)
	}
	if cfg, err = configFromArgs(t, "--config", path, "--state-dir", "/run/vipd"); err != nil || cfg.StateDir != "/run/vipd" {
		t.Errorf("flag over file: %v %+v", err, cfg)
	}
}

func TestClientCertificate(t *testing.T) {
	cfg, err := configFromArgs(t, append(append([]string{}, base...),
		"--track-apiserver", "https://127.0.0.1:6443/readyz,cert=/c.pem,key=/k.pem,server-name=api.example", "--track-apiserver", "https://127.0.0.1:6444/readyz")...)
	if err != nil {
		t.Fatal(err)
	}
	cs := cfg.Instances[0].Checks
	if c := cs[0]; c.CertFile != "/c.pem" || c.KeyFile != "/k.pem" || c.ServerName != "api.example" {
		t.Errorf("%+v", c)
	}
	if s := cs[0].Spec(); s.ServerName != "api.example" {
		t.Errorf("spec server name %q: the operator's name must win", s.ServerName)
	}
	if s := cs[0].Spec(); s.CertFile != "/c.pem" || s.KeyFile != "/k.pem" {
		t.Errorf("spec client certificate %q %q", s.CertFile, s.KeyFile)
	}
	if s := cs[1].Spec(); s.ServerName != "" || s.CertFile != "" {
		t.Errorf("no server name given, spec has %q: health picks it from the target", s.ServerName)
	}
	cfg, err = configFromArgs(t, "--config", writeFile(t, inst("checks: [{https: \"https://127.0.0.1:6443/readyz\", cert: /c.pem, key: /k.pem, serverName: api.example}]\n")))
	if err != nil {
		t.Fatal(err)
	}
	if c := cfg.Instances[0].Checks[0]; c.CertFile != "/c.pem" || c.KeyFile != "/k.pem" || c.ServerName != "api.example" {
		t.Errorf("file: %+v", c)
	}
}

// The new flags survive Args, which `vipd manifest` writes into pods and units.
func TestArgsRoundTripNewFlags(t *testing.T) {
	args := append(append([]string{}, base...), "--vrrp-version", "2", "--auth-pass", "42", "--state-dir", "/srv/vipd",
		"--track-interface", "eth1", "--track-interface", "eth2,weight=10", "--track-tcp", "127.0.0.1:2379,weight=0",
		"--notify-master", "/bin/m a", "--notify-backup", "/bin/b", "--notify-fault", "/bin/f", "--notify-stop", "/bin/s",
		"--track-apiserver", "https://127.0.0.1:6443/readyz,cert=/c.pem,key=/k.pem,server-name=api.example")
	fs := pflag.NewFlagSet("vipd", pflag.ContinueOnError)
	f := NewFlags(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	got := f.Args()
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
	a.Instances[0].field, b.Instances[0].field = nil, nil
	if !reflect.DeepEqual(a, b) {
		t.Errorf("Args %q changed the config:\n%+v\n%+v", got, a, b)
	}
	in := b.Instances[0]
	if b.StateDir != "/srv/vipd" || in.AuthPass != "42" || len(in.Checks) != 4 || len(in.NotifyMaster) != 2 || len(in.NotifyStop) != 1 {
		t.Errorf("after the round trip: %+v", b)
	}
}

func TestLoadMatchesTheFlagLoader(t *testing.T) {
	a, err := Load("x.yaml", []byte(twoInstances))
	if err != nil {
		t.Fatal(err)
	}
	b, err := configFromArgs(t, "--config", writeFile(t, twoInstances))
	if err != nil {
		t.Fatal(err)
	}
	for i := range a.Instances {
		a.Instances[i].field, b.Instances[i].field = nil, nil
	}
	if !reflect.DeepEqual(a, b) {
		t.Errorf("Load:\n%+v\nflags:\n%+v", a, b)
	}
	if _, err := Load("x.yaml", []byte(inst("vrid: 0\n"))); !errors.Is(err, ErrConfig) {
		t.Errorf("invalid file: %v", err)
	}
}
