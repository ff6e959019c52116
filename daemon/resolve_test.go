package daemon

import (
	"net/netip"
	"strings"
	"testing"
)

func prefixes(ss ...string) []netip.Prefix {
	var out []netip.Prefix
	for _, s := range ss {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}

func TestPickSource(t *testing.T) {
	vip := []netip.Addr{mustAddr("198.18.0.100")}
	vip6 := []netip.Addr{mustAddr("2001:db8::100")}
	for _, tc := range []struct {
		name       string
		fam        int
		configured string
		vips       []netip.Addr
		owner      bool
		have       []netip.Prefix
		want       string // "" with problem
		problem    string
	}{
		// A stale /32 VIP listed first must not become the source.
		{"prefers a real prefix", 4, "", vip, false, prefixes("198.18.0.7/32", "198.18.0.100/32", "198.18.0.11/24", "fe80::1/64"), "198.18.0.11", ""},
		{"no IPv4 yet", 4, "", vip, false, prefixes("fe80::1/64"), "", "no IPv4 address"},
		{"IPv6 link-local", 6, "", vip6, false, prefixes("198.18.0.11/24", "2001:db8::11/64", "fe80::11/64"), "fe80::11", ""},
		{"no link-local yet", 6, "", vip6, false, prefixes("2001:db8::11/64"), "", "link-local"},
		{"configured source present", 4, "198.18.0.99", vip, false, prefixes("198.18.0.11/24", "198.18.0.99/24"), "198.18.0.99", ""},
		{"configured source missing", 4, "198.18.0.99", vip, false, prefixes("198.18.0.11/24"), "", "198.18.0.99"},
		{"global IPv6 source for unicast", 6, "2001:db8::11", vip6, false, prefixes("2001:db8::11/64", "fe80::11/64"), "2001:db8::11", ""},
		{"owner has its address", 4, "", vip, true, prefixes("198.18.0.100/24"), "198.18.0.100", ""},
		{"owner lacks its address", 4, "", vip, true, prefixes("198.18.0.11/24"), "", "priority 255"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var configured netip.Addr
			if tc.configured != "" {
				configured = mustAddr(tc.configured)
			}
			got, problem := pickSource(tc.fam, configured, tc.vips, tc.owner, nil, tc.have, nil)
			if tc.want != "" {
				if problem != "" || got.String() != tc.want {
					t.Errorf("got %v (%q), want %s", got, problem, tc.want)
				}
				return
			}
			if got.IsValid() || !strings.Contains(problem, tc.problem) {
				t.Errorf("got %v (%q), want a problem mentioning %q", got, problem, tc.problem)
			}
		})
	}
}
