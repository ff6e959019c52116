package netlink

import (
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// KernelVersion is the numeric start of a Linux release: 6.18.0 of
// "6.18.0-1-amd64".
type KernelVersion struct{ Major, Minor, Patch int }

func (v KernelVersion) String() string { return fmt.Sprintf("%d.%d.%d", v.Major, v.Minor, v.Patch) }

// AtLeast reports whether v is o or later.
func (v KernelVersion) AtLeast(o KernelVersion) bool {
	if v.Major != o.Major {
		return v.Major > o.Major
	}
	if v.Minor != o.Minor {
		return v.Minor > o.Minor
	}
	return v.Patch >= o.Patch
}

// ParseRelease parses a kernel release as uname(2) gives it ("6.18.0-1-amd64",
// "5.4.0", "4.19.0+", "6.1"): MAJOR.MINOR[.PATCH] and anything after. It
// reports false for anything else ("", "garbage", "6", numbers that overflow).
func ParseRelease(release string) (KernelVersion, bool) {
	end := strings.IndexFunc(release, func(r rune) bool { return r != '.' && (r < '0' || r > '9') })
	if end < 0 {
		end = len(release)
	}
	parts := strings.Split(release[:end], ".")
	if len(parts) < 2 {
		return KernelVersion{}, false
	}
	var n [3]int
	for i := range min(len(parts), 3) {
		v, err := strconv.Atoi(parts[i])
		if err != nil || v < 0 || v > 1<<20 {
			return KernelVersion{}, false
		}
		n[i] = v
	}
	return KernelVersion{n[0], n[1], n[2]}, true
}

// Support says whether the running kernel has a feature.
type Support int

// Support values.
const (
	SupportUnknown Support = iota // the release could not be parsed
	Supported
	Unsupported
)

func (s Support) String() string {
	switch s {
	case Supported:
		return "yes"
	case Unsupported:
		return "no"
	default:
		return "unknown"
	}
}

// Feature is one kernel feature vipd depends on, and what is lost without it.
type Feature struct {
	// Name is the kernel interface: "IFA_PROTO", "SO_BINDTOIFINDEX", ...
	Name string
	// Since is the first Linux release that has it.
	Since KernelVersion
	// Support is Supported or Unsupported on the running kernel, or
	// SupportUnknown if its release did not parse.
	Support Support
	// Without says what does not work on a kernel without it.
	Without string
}

// Kernel is what vipd found about the running kernel: for the daemon to log
// at startup, and to warn of each Feature not Supported.
type Kernel struct {
	// Release is uname(2)'s release, as given.
	Release string
	// Version is its numeric start; Known is false if it did not parse.
	Version KernelVersion
	Known   bool
	// Features are vipd's needs, in this order: IFA_PROTO, SO_BINDTOIFINDEX,
	// IPV6_MULTICAST_ALL.
	Features []Feature
}

// Missing returns the features the kernel lacks or may lack (Support not
// Supported).
func (k Kernel) Missing() []Feature {
	var out []Feature
	for _, f := range k.Features {
		if f.Support != Supported {
			out = append(out, f)
		}
	}
	return out
}

// needs are the kernel features vipd relies on.
var needs = []Feature{
	{
		Name:  "IFA_PROTO",
		Since: KernelVersion{5, 18, 0},
		Without: "VIPs are added without vipd's address mark (proto 112), so a vipd restarted after a crash (kill -9) " +
			"cannot find the VIPs its predecessor left and they stay on the host until removed by hand",
	},
	{
		Name:    "SO_BINDTOIFINDEX",
		Since:   KernelVersion{5, 0, 0},
		Without: "the VRRP socket cannot be bound to its interface and does not open: no instance can run",
	},
	{
		Name:    "IPV6_MULTICAST_ALL",
		Since:   KernelVersion{4, 20, 0},
		Without: "the IPv6 VRRP socket cannot be limited to the groups it joined and does not open: IPv6 instances cannot run",
	},
}

// Features reports the running kernel's release and which of vipd's needs it
// meets, judged from the release (distribution kernels rarely backport these).
// It fails only if uname(2) does.
func Features() (Kernel, error) {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return Kernel{}, fmt.Errorf("netlink: uname: %w", err)
	}
	return KernelFeatures(unix.ByteSliceToString(u.Release[:])), nil
}

// KernelFeatures is Features for a given release string.
func KernelFeatures(release string) Kernel {
	k := Kernel{Release: release}
	k.Version, k.Known = ParseRelease(release)
	for _, f := range needs {
		switch {
		case !k.Known:
			f.Support = SupportUnknown
		case k.Version.AtLeast(f.Since):
			f.Support = Supported
		default:
			f.Support = Unsupported
		}
		k.Features = append(k.Features, f)
	}
	return k
}
