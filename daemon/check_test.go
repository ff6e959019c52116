package daemon

import (
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/spf13/pflag"

	"github.com/vipd/vipd/config"
)

var resolveBase = []string{"--interface", "eth0", "--vip", "198.18.0.100", "--vrid", "51", "--priority", "150"}

// configFromArgs parses vipd's flags as the command line would.
func configFromArgs(t *testing.T, args ...string) (*config.Config, error) {
	t.Helper()
	fs := pflag.NewFlagSet("vipd", pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	f := config.NewFlags(fs)
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	return f.Config()
}

func TestCheckAgainstTheHost(t *testing.T) {
	lan := newLAN()
	h := lan.host("198.18.0.11")
	cfg := func(mod func(*config.Instance)) *config.Config {
		c, err := configFromArgs(t, resolveBase...)
		if err != nil {
			t.Fatal(err)
		}
		if mod != nil {
			mod(&c.Instances[0])
		}
		return c
	}
	if errs := check(cfg(nil), h); len(errs) != 0 {
		t.Errorf("a good config: %v", errs)
	}
	for _, tc := range []struct {
		name string
		mod  func(*config.Instance)
		host func()
		want string
	}{
		{"missing interface", func(in *config.Instance) { in.Interface = "bond0" }, nil, "--interface"},
		{"source not on it", func(in *config.Instance) { in.Source = mustAddr("198.18.0.99") }, nil, "--source"},
		{"owner without its address", func(in *config.Instance) { in.Priority = 255 }, nil, "--priority"},
		{"link down", nil, func() { h.linkUp = false }, "no link"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.host != nil {
				tc.host()
				defer func() { h.linkUp = true }()
			}
			errs := check(cfg(tc.mod), h)
			if len(errs) == 0 || !errors.Is(errs[0], config.ErrConfig) || !strings.Contains(errs[0].Error(), tc.want) {
				t.Errorf("errors %v; want a field error mentioning %q", errs, tc.want)
			}
		})
	}
}
