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

func TestPriority255NeedsOwnedAddress(t *testing.T) {
	cfg, err := configFromArgs(t, "--interface", "eth0", "--vip", "198.18.0.100", "--vrid", "5", "--priority", "255")
	if err != nil {
		t.Fatal(err) // statically fine: the interface decides
	}
	iface := fakeIface("198.18.0.11/24")
	if _, err := resolve(cfg.Instances[0], iface); !errors.Is(err, config.ErrConfig) || !strings.Contains(err.Error(), "--priority") {
		t.Errorf("255 for an address the interface lacks: %v", err)
	}
	iface = fakeIface("198.18.0.11/24", "198.18.0.100/24")
	r, err := resolve(cfg.Instances[0], iface)
	if err != nil || !r.owner {
		t.Errorf("owner: %v, owner=%v", err, r.owner)
	}
}

func TestResolvePicksSource(t *testing.T) {
	cfg, _ := configFromArgs(t, resolveBase...)
	in := cfg.Instances[0]
	// A stale /32 VIP listed first must not become the source.
	r, err := resolve(in, fakeIface("198.18.0.7/32", "198.18.0.100/32", "198.18.0.11/24", "fe80::1/64"))
	if err != nil || r.source.String() != "198.18.0.11" {
		t.Errorf("source %v, %v; want 198.18.0.11", r.source, err)
	}
	if _, err := resolve(in, fakeIface("fe80::1/64")); err == nil || !strings.Contains(err.Error(), "no usable IPv4 source") {
		t.Errorf("no IPv4 address: %v", err)
	}
	in6 := in
	in6.VIPs = []netipAddr{mustAddr("2001:db8::100")}
	r, err = resolve(in6, fakeIface("198.18.0.11/24", "2001:db8::11/64", "fe80::11/64"))
	if err != nil || r.source.String() != "fe80::11" {
		t.Errorf("IPv6 source %v, %v; want the link-local address", r.source, err)
	}
	withSrc := in
	withSrc.Source = mustAddr("198.18.0.99")
	if _, err := resolve(withSrc, fakeIface("198.18.0.11/24")); err == nil || !strings.Contains(err.Error(), "--source") {
		t.Errorf("--source not on the interface: %v", err)
	}
	if _, err := resolve(in, func(string) (*netInterface, []netipPrefix, error) {
		return nil, nil, errors.New("no such network interface")
	}); err == nil || !strings.Contains(err.Error(), "--interface") {
		t.Errorf("unknown interface: %v", err)
	}
}

