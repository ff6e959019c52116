package config

import (
	"errors"
	"testing"

	"github.com/spf13/pflag"
)

// FuzzConfigFile: any config file gives a config or an ErrConfig, never a panic.
func FuzzConfigFile(f *testing.F) {
	f.Add([]byte(twoInstances)) // every key, two instances
	f.Add([]byte("instances:\n- interface: eth0\n  vrid: 5\n  vips: [198.18.0.1]\n"))
	f.Add([]byte("instances: [{vrid: 300, vips: [\"::1\"], checks: [{exec: []}]}]")) // out of range, empty exec
	f.Add([]byte("instances:\n- garp: {count: -1, interval: \"-1s\"}\n"))            // negative values
	f.Add([]byte("instances:\n- vips: [1.2.3.4/33]\n  peers: [fe80::1%eth0]\n"))     // prefixes, zones
	f.Add([]byte("{instances: [null, 7, \"x\"]}"))                                   // wrong shapes
	f.Add([]byte("&a [*a, *a]"))                                                     // YAML aliases
	// the keys added with keepalived conversion: auth, hooks as strings and lists,
	// interface tracking, client certificates, weight 0
	f.Add([]byte("stateDir: /var/lib/vipd\ninstances:\n- {interface: eth0, vrid: 5, vrrpVersion: 2, vips: [198.18.0.1], authType: PASS, authPass: \"42\",\n   notifyMaster: /bin/m a, notifyStop: [/bin/s], trackInterfaces: [{interface: eth1}, {interface: eth2, weight: 0}],\n   checks: [{https: \"https://127.0.0.1:6443/readyz\", cert: /c, key: /k, serverName: x, weight: 0}]}\n"))
	f.Add([]byte("instances:\n- {interface: eth0, vrid: 5, vips: [\"2001:db8::1\"], source: \"fe80::1%eth1\", peers: [\"2001:db8::2\", \"fe80::3%eth0\"]}\n")) // zones, scopes
	f.Fuzz(func(t *testing.T, data []byte) {
		fc, err := parseFile("fuzz.yaml", data)
		if err != nil {
			if !errors.Is(err, ErrConfig) {
				t.Fatalf("parse error %v is not an ErrConfig", err)
			}
			return
		}
		cfg := &Config{ControlSocket: DefaultControlSocket, StateDir: DefaultStateDir}
		fc.apply(cfg, pflag.NewFlagSet("fuzz", pflag.ContinueOnError))
		if err := cfg.Validate(); err != nil && !errors.Is(err, ErrConfig) {
			t.Fatalf("validate error %v is not an ErrConfig", err)
		}
	})
}
