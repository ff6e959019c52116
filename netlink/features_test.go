package netlink

import (
	"strings"
	"testing"
)

func TestParseRelease(t *testing.T) {
	tests := []struct {
		in   string
		want KernelVersion
		ok   bool
	}{
		{"6.18.0-1-amd64", KernelVersion{6, 18, 0}, true},
		{"5.4.0", KernelVersion{5, 4, 0}, true},
		{"5.4.0-150-generic", KernelVersion{5, 4, 0}, true},
		{"4.19.0+", KernelVersion{4, 19, 0}, true},
		{"6.1", KernelVersion{6, 1, 0}, true},
		{"6.8-rc3", KernelVersion{6, 8, 0}, true},
		{"5.15.167.4-microsoft-standard-WSL2", KernelVersion{5, 15, 167}, true},
		{"", KernelVersion{}, false},
		{"garbage", KernelVersion{}, false},
		{"6", KernelVersion{}, false},
		{"6.", KernelVersion{}, false},
		{".18", KernelVersion{}, false},
		{"6..1", KernelVersion{}, false},
		{"99999999999999999999.1", KernelVersion{}, false},
		{"-1.2", KernelVersion{}, false},
	}
	for _, tt := range tests {
		got, ok := ParseRelease(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("ParseRelease(%q) = %v, %v; want %v, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func TestKernelFeatures(t *testing.T) {
	support := func(k Kernel) map[string]Support {
		m := map[string]Support{}
		for _, f := range k.Features {
			m[f.Name] = f.Support
		}
		return m
	}
	tests := []struct {
		release string
		want    map[string]Support
	}{
		{"6.18.0-1-amd64", map[string]Support{"IFA_PROTO": Supported, "SO_BINDTOIFINDEX": Supported, "IPV6_MULTICAST_ALL": Supported}},
		{"5.18.0", map[string]Support{"IFA_PROTO": Supported, "SO_BINDTOIFINDEX": Supported, "IPV6_MULTICAST_ALL": Supported}},
		{"5.17.15", map[string]Support{"IFA_PROTO": Unsupported, "SO_BINDTOIFINDEX": Supported, "IPV6_MULTICAST_ALL": Supported}},
		{"5.4.0-150-generic", map[string]Support{"IFA_PROTO": Unsupported, "SO_BINDTOIFINDEX": Supported, "IPV6_MULTICAST_ALL": Supported}},
		{"4.20.0", map[string]Support{"IFA_PROTO": Unsupported, "SO_BINDTOIFINDEX": Unsupported, "IPV6_MULTICAST_ALL": Supported}},
		{"4.19.0+", map[string]Support{"IFA_PROTO": Unsupported, "SO_BINDTOIFINDEX": Unsupported, "IPV6_MULTICAST_ALL": Unsupported}},
		{"garbage", map[string]Support{"IFA_PROTO": SupportUnknown, "SO_BINDTOIFINDEX": SupportUnknown, "IPV6_MULTICAST_ALL": SupportUnknown}},
	}
	for _, tt := range tests {
		k := KernelFeatures(tt.release)
		if k.Release != tt.release {
			t.Errorf("%s: Release = %q", tt.release, k.Release)
		}
		got := support(k)
		for name, want := range tt.want {
			if got[name] != want {
				t.Errorf("%s: %s = %v, want %v", tt.release, name, got[name], want)
			}
		}
		if len(got) != len(tt.want) {
			t.Errorf("%s: features %v, want %v", tt.release, got, tt.want)
		}
		missing := 0
		for _, want := range tt.want {
			if want != Supported {
				missing++
			}
		}
		if n := len(k.Missing()); n != missing {
			t.Errorf("%s: %d missing, want %d", tt.release, n, missing)
		}
	}
	// Without IFA_PROTO the operator is told what is lost.
	for _, f := range KernelFeatures("5.4.0").Missing() {
		if f.Name == "IFA_PROTO" && (!strings.Contains(f.Without, "kill -9") || f.Since != (KernelVersion{5, 18, 0})) {
			t.Errorf("IFA_PROTO: %+v, want it to say stale VIPs after kill -9 cannot be found", f)
		}
	}
}

func TestFeaturesRunningKernel(t *testing.T) {
	k, err := Features()
	if err != nil {
		t.Fatalf("Features: %v", err)
	}
	if k.Release == "" || !k.Known {
		t.Fatalf("Features = %+v, want the running kernel's release parsed", k)
	}
}

func TestSupportString(t *testing.T) {
	for s, want := range map[Support]string{Supported: "yes", Unsupported: "no", SupportUnknown: "unknown"} {
		if s.String() != want {
			t.Errorf("%d.String() = %q, want %q", s, s.String(), want)
		}
	}
}
