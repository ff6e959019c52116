package config

import (
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/vipd/vipd/control"
	"github.com/vipd/vipd/health"
)

// Defaults an operator gets without saying anything.
const (
	DefaultControlSocket    = control.DefaultSocket
	DefaultStateDir         = "/var/lib/vipd"
	DefaultAdvertInterval   = time.Second
	DefaultVersion          = 3
	DefaultAnnounceCount    = 5
	DefaultAnnounceInterval = time.Second
	ChecksumPseudoHeader    = "pseudo-header"
	ChecksumMessageOnly     = "message-only"
	// DefaultCheckWeight is the penalty of a check whose weight is not given.
	DefaultCheckWeight = health.DefaultAPIServerWeight
	// MaxAuthPass is the length of the VRRPv2 authentication data field
	// (RFC 2338 §5.3.10: 8 octets).
	MaxAuthPass = 8
)

// Config is the whole validated configuration of one vipd process.
type Config struct {
	ControlSocket string
	// StateDir holds vipd's lock and the state it persists across restarts.
	StateDir string
	// MetricsAddress serves /metrics and /healthz; empty disables it.
	MetricsAddress string
	LogFormat      string // "text" or "json"
	LogLevel       string // "debug", "info", "warn", "error"
	Instances      []Instance
}

// Instance configures one VRRP virtual router.
type Instance struct {
	Name      string
	Interface string
	VRID      int
	// Priority is the base priority, 1–255. 255 means this host owns the VIPs: they
	// are addresses of the interface itself, and vipd never adds or removes them.
	Priority int
	// VIPs are the virtual addresses. The election runs over the family of the first
	// one; VIPs of the other family follow it (see docs/design.md).
	VIPs           []netip.Addr
	AdvertInterval time.Duration
	Version        int // 3 (RFC 9568) or 2 (RFC 3768)
	// Peers switch the instance to unicast: adverts go to each peer and only adverts
	// from peers are accepted.
	Peers        []netip.Addr
	Source       netip.Addr // zero: the interface's first address (IPv4) or link-local (IPv6)
	Preempt      bool
	PreemptDelay time.Duration
	// Checksum is the form sent for VRRPv3 over IPv4: ChecksumPseudoHeader (what
	// keepalived and FRR send) or ChecksumMessageOnly (RFC 9568 §5.2.8 text).
	// Both are accepted on receive.
	Checksum         string
	AnnounceCount    int           // gratuitous ARP / NA rounds on takeover
	AnnounceInterval time.Duration // between rounds
	AnnounceRefresh  time.Duration // periodic re-announcement while Master; 0 is off
	// AuthPass is the VRRPv2 simple text password (RFC 2338 §5.3.6.1, keepalived's
	// auth_type PASS), 1–8 bytes; empty is no authentication. VRRPv3 has none.
	AuthPass string
	// Notify runs on every state change, with VIPD_* variables in its environment.
	Notify []string
	// NotifyMaster, NotifyBackup, NotifyFault and NotifyStop run on entering that
	// state (keepalived's notify_master and friends), with the same environment;
	// NotifyStop when the instance stops. Notify runs as well.
	NotifyMaster []string
	NotifyBackup []string
	NotifyFault  []string
	NotifyStop   []string
	Checks       []Check

	// field names a field as the operator wrote it; set by the flag and file loaders.
	field func(key string) string
	// parseErr is the first value of the config file that did not parse.
	parseErr error
}

// Check configures one health check of an instance.
type Check struct {
	Name    string
	Kind    string // "https", "http", "tcp", "exec" or "interface"
	Target  string // URL, host:port, or the interface name
	Command []string
	// CAFile verifies the server of an https check; CertFile and KeyFile are the
	// client certificate it presents (both or neither); ServerName is the name
	// the server's certificate is verified against.
	CAFile     string
	CertFile   string
	KeyFile    string
	ServerName string
	Interval   time.Duration
	Timeout    time.Duration
	Rise       int
	Fall       int
	// Weight is the priority taken off while the check fails; 0 is
	// DefaultCheckWeight, unless Fault is set.
	Weight int
	// Fault is set when the operator wrote weight 0 (or tracks an interface
	// without a weight): while the check fails the instance goes to FAULT, as
	// keepalived's vrrp_script and track_interface with weight 0 do.
	Fault bool
	// Tier is set for an apiserver (https, http) check without a weight, or
	// with weight=tier: while it fails, the router ranks below every router
	// whose apiserver answers, whatever the base priorities. See
	// health.TierPenalty and the daemon's effective priority.
	Tier bool

	// field names the check as the operator wrote it, such as --track-tcp or
	// instances[0].checks[1]; set by the loaders.
	field string
}

// Family returns 4 or 6: the family the election runs over.
func (in *Instance) Family() int {
	if len(in.VIPs) > 0 && in.VIPs[0].Is6() {
		return 6
	}
	return 4
}

// ElectionVIPs are the VIPs listed in adverts; the others follow the election.
func (in *Instance) ElectionVIPs() []netip.Addr {
	var out []netip.Addr
	for _, v := range in.VIPs {
		if (v.Is6()) == (in.Family() == 6) {
			out = append(out, v)
		}
	}
	return out
}

// Field names key as the operator wrote it: a flag (--vrid) or a path in the
// config file (instances[0].vrid).
func (in *Instance) Field(key string) string {
	if in.field == nil {
		return key
	}
	return in.field(key)
}

// Validate checks everything that can be checked without the OS: ranges, families,
// versions, duplicates. Errors are FieldErrors.
func (c *Config) Validate() error {
	if len(c.Instances) == 0 {
		return fieldErr("--interface", "set --interface, --vip, --vrid and --priority, or --config FILE", "no VRRP instance is configured")
	}
	switch c.LogFormat {
	case "", "text", "json":
	default:
		return fieldErr("--log-format", `use "text" or "json"`, "%q is not a log format", c.LogFormat)
	}
	switch c.LogLevel {
	case "", "debug", "info", "warn", "error":
	default:
		return fieldErr("--log-level", `use debug, info, warn or error`, "%q is not a log level", c.LogLevel)
	}
	if c.ControlSocket == "" {
		return fieldErr("--control-socket", "give a path such as "+DefaultControlSocket, "empty path")
	}
	if !filepath.IsAbs(c.StateDir) {
		return fieldErr("--state-dir", "give an absolute path such as "+DefaultStateDir, "%q is not an absolute path", c.StateDir)
	}
	names := map[string]bool{}
	type key struct {
		ifname string
		family int
		vrid   int
	}
	seen := map[key]string{}
	vips := map[netip.Addr]string{}
	for i := range c.Instances {
		in := &c.Instances[i]
		if err := in.validate(); err != nil {
			return err
		}
		if names[in.Name] {
			return fieldErr(in.Field("name"), "give every instance its own name", "%q is used twice", in.Name)
		}
		names[in.Name] = true
		k := key{in.Interface, in.Family(), in.VRID}
		if other, ok := seen[k]; ok {
			return fieldErr(in.Field("vrid"), "give each virtual router on one interface its own VRID",
				"VRID %d on %s is already used by instance %q", in.VRID, in.Interface, other)
		}
		seen[k] = in.Name
		for _, v := range in.VIPs {
			// Two elections over one address put it on two hosts at once.
			if other, ok := vips[v]; ok {
				return fieldErr(in.Field("vip"), "give each VIP to one instance only",
					"%v is a VIP of both instance %q and instance %q", v, other, in.Name)
			}
			vips[v] = in.Name
		}
	}
	return nil
}

func (in *Instance) validate() error {
	if in.parseErr != nil {
		return in.parseErr
	}
	if in.Interface == "" {
		return fieldErr(in.Field("interface"), "name the interface that carries the VIP, such as eth0", "missing")
	}
	if !validIfName(in.Interface) {
		return fieldErr(in.Field("interface"), "name an interface as `ip link` shows it, such as eth0", "%q is not an interface name (1–15 bytes, no '/', ':' or spaces)", in.Interface)
	}
	if in.VRID < 1 || in.VRID > 255 {
		return fieldErr(in.Field("vrid"), "use a number from 1 to 255 that every router of this VIP shares", "%d is outside 1–255", in.VRID)
	}
	if in.Priority < 1 || in.Priority > 255 {
		return fieldErr(in.Field("priority"), "use 1–254 (higher wins); 255 only when the VIP is the interface's own address", "%d is outside 1–255", in.Priority)
	}
	if len(in.VIPs) == 0 {
		return fieldErr(in.Field("vip"), "give the virtual address, such as --vip 198.18.0.100", "no VIP")
	}
	seenVIP := map[netip.Addr]bool{}
	for _, v := range in.VIPs {
		if !v.IsValid() || v.IsUnspecified() || v.IsMulticast() || v.IsLoopback() || v.Is4In6() {
			return fieldErr(in.Field("vip"), "use a unicast IPv4 or IPv6 address", "%v cannot be a VIP", v)
		}
		if v.Is6() && v.IsLinkLocalUnicast() {
			return fieldErr(in.Field("vip"), "use a global or unique-local IPv6 address", "%v is link-local", v)
		}
		if v.Zone() != "" {
			return fieldErr(in.Field("vip"), "drop the %zone suffix", "%v has a zone", v)
		}
		if seenVIP[v] {
			return fieldErr(in.Field("vip"), "list each VIP once", "%v is listed twice", v)
		}
		seenVIP[v] = true
	}
	switch in.Version {
	case 3:
		if in.AdvertInterval < 10*time.Millisecond || in.AdvertInterval > 4095*10*time.Millisecond || in.AdvertInterval%(10*time.Millisecond) != 0 {
			return fieldErr(in.Field("advert-interval"), "VRRPv3 carries centiseconds: use 10ms to 40.95s in steps of 10ms", "%v is not allowed", in.AdvertInterval)
		}
	case 2:
		if in.AdvertInterval < time.Second || in.AdvertInterval > 255*time.Second || in.AdvertInterval%time.Second != 0 {
			return fieldErr(in.Field("advert-interval"), "VRRPv2 carries whole seconds: use 1s to 255s", "%v is not allowed", in.AdvertInterval)
		}
		for _, v := range in.VIPs {
			if v.Is6() {
				return fieldErr(in.Field("vrrp-version"), "use --vrrp-version 3 for IPv6 VIPs", "VRRPv2 (RFC 3768) is IPv4 only, but %v is IPv6", v)
			}
		}
	default:
		return fieldErr(in.Field("vrrp-version"), "use 3 (RFC 9568) or 2 (RFC 3768)", "%d is not a VRRP version", in.Version)
	}
	fam := in.Family()
	if err := in.validateAddresses(fam); err != nil {
		return err
	}
	if in.PreemptDelay < 0 || in.PreemptDelay > time.Hour {
		return fieldErr(in.Field("preempt-delay"), "use 0s to 1h", "%v is out of range", in.PreemptDelay)
	}
	if in.PreemptDelay > 0 && !in.Preempt {
		return fieldErr(in.Field("preempt-delay"), "drop it, or turn preemption on", "a preempt delay needs preemption")
	}
	switch in.Checksum {
	case ChecksumPseudoHeader, ChecksumMessageOnly:
	default:
		return fieldErr(in.Field("checksum"), fmt.Sprintf("use %q (keepalived, FRR) or %q (RFC 9568 text)", ChecksumPseudoHeader, ChecksumMessageOnly), "%q is not a checksum form", in.Checksum)
	}
	if in.AnnounceCount < 1 || in.AnnounceCount > 100 {
		// A takeover that tells no neighbour leaves clients on the old master's MAC
		// until their ARP / neighbour entries expire.
		return fieldErr(in.Field("garp-count"), "use 1 to 100 rounds: a takeover must tell the neighbours", "%d is out of range", in.AnnounceCount)
	}
	if in.AnnounceInterval < 10*time.Millisecond || in.AnnounceInterval > time.Minute {
		return fieldErr(in.Field("garp-interval"), "use 10ms to 1m", "%v is out of range", in.AnnounceInterval)
	}
	if in.AnnounceRefresh != 0 && (in.AnnounceRefresh < time.Second || in.AnnounceRefresh > 24*time.Hour) {
		return fieldErr(in.Field("garp-refresh"), "use 0 (off) or 1s to 24h", "%v is out of range", in.AnnounceRefresh)
	}
	if err := in.validateAuth(); err != nil {
		return err
	}
	for _, h := range []struct {
		key string
		cmd []string
	}{{"notify", in.Notify}, {"notify-master", in.NotifyMaster}, {"notify-backup", in.NotifyBackup},
		{"notify-fault", in.NotifyFault}, {"notify-stop", in.NotifyStop}} {
		if len(h.cmd) > 0 && strings.TrimSpace(h.cmd[0]) == "" {
			return fieldErr(in.Field(h.key), "give the path of an executable", "empty command")
		}
	}
	tier, weights := false, 0
	for i := range in.Checks {
		if err := in.Checks[i].validate(in, i); err != nil {
			return err
		}
		tier = tier || in.Checks[i].Tier
		if !in.Checks[i].Tier && !in.Checks[i].Fault {
			weights += in.Checks[i].Spec().Weight
		}
	}
	if tier && weights >= health.TierPenalty {
		return fieldErr(in.Field("checks"), fmt.Sprintf("keep the weights of the other checks under %d in all", health.TierPenalty),
			"their weights add up to %d beside a tier check", weights)
	}
	return nil
}

// validateAuth checks the VRRPv2 password. RFC 3768 §5.3.6 dropped authentication
// but keeps the field for RFC 2338 routers (keepalived's auth_type PASS); RFC 9568
// §9 has none at all.
func (in *Instance) validateAuth() error {
	if in.AuthPass == "" {
		return nil
	}
	if in.Version != 2 {
		return fieldErr(in.Field("auth-pass"), "drop it, or use --vrrp-version 2 with every router of this VRID", "VRRPv3 has no authentication (RFC 9568 §9)")
	}
	if len(in.AuthPass) > MaxAuthPass {
		return fieldErr(in.Field("auth-pass"), fmt.Sprintf("use at most %d bytes (keepalived silently sends only the first %d: give those)", MaxAuthPass, MaxAuthPass),
			"%d bytes is too long", len(in.AuthPass))
	}
	return nil
}

// validateAddresses checks --peer and --source against the election's family,
// and strips a zone that names the instance's own interface.
func (in *Instance) validateAddresses(fam int) error {
	var err error
	for i, p := range in.Peers {
		if in.Peers[i], err = in.stripZone("peer", p); err != nil {
			return err
		}
		p = in.Peers[i]
		if !p.IsValid() || p.IsUnspecified() || p.IsMulticast() {
			return fieldErr(in.Field("peer"), "give each peer's unicast address", "%v is not a unicast address", p)
		}
		if (p.Is6()) != (fam == 6) {
			return fieldErr(in.Field("peer"), fmt.Sprintf("the election runs over IPv%d (the family of the first VIP): list IPv%d peers", fam, fam), "%v is of the other family", p)
		}
	}
	if in.Source, err = in.stripZone("source", in.Source); err != nil {
		return err
	}
	if in.Source.IsValid() && slices.Contains(in.Peers, in.Source) {
		return fieldErr(in.Field("peer"), "list the other routers, not this one", "%v is this host's --source", in.Source)
	}
	if in.Source.IsValid() && (in.Source.Is6()) != (fam == 6) {
		return fieldErr(in.Field("source"), fmt.Sprintf("the election runs over IPv%d: give an IPv%d source", fam, fam), "%v is of the other family", in.Source)
	}
	if fam != 6 {
		return nil
	}
	if len(in.Peers) == 0 {
		// Multicast: RFC 9568 §5.1.2.1, the source is the link-local address.
		if in.Source.IsValid() && !in.Source.IsLinkLocalUnicast() {
			return fieldErr(in.Field("source"), "multicast VRRP over IPv6 is sent from a link-local address (RFC 9568 §5.1.2.1): omit --source or give the fe80:: address", "%v is not link-local", in.Source)
		}
		return nil
	}
	// Unicast. Every peer accepts adverts only from the addresses it lists as
	// peers, so the source must be the address of this host that they list: a
	// link-local source to peers that list global addresses is dropped by all of
	// them, and each would become Master (split brain). Going beyond RFC 9568
	// §5.1.2.1 as keepalived's unicast_src_ip does: global peers get a global source.
	global := 0
	for _, p := range in.Peers {
		if !p.IsLinkLocalUnicast() {
			global++
		}
	}
	switch {
	case global > 0 && global < len(in.Peers):
		return fieldErr(in.Field("peer"), "list every peer by its link-local (fe80::) address, or every peer by its global address", "the peers mix link-local and global addresses")
	case global > 0 && !in.Source.IsValid():
		return fieldErr(in.Field("source"), "give this host's global address that the peers list as --peer", "the peers are global IPv6 addresses, and adverts sent from the link-local address would be dropped by them")
	case global > 0 && in.Source.IsLinkLocalUnicast():
		return fieldErr(in.Field("source"), "give this host's global address that the peers list as --peer", "%v is link-local, but the peers are global IPv6 addresses", in.Source)
	case global == 0 && in.Source.IsValid() && !in.Source.IsLinkLocalUnicast():
		return fieldErr(in.Field("source"), "the peers are link-local: give this host's fe80:: address, or omit --source", "%v is not link-local", in.Source)
	}
	return nil
}

// stripZone accepts an IPv6 zone only when it names the instance's interface,
// where vipd sends anyway, and returns the address without it.
func (in *Instance) stripZone(key string, a netip.Addr) (netip.Addr, error) {
	z := a.Zone()
	if z == "" {
		return a, nil
	}
	if z != in.Interface {
		return a, fieldErr(in.Field(key), fmt.Sprintf("drop the %%%s zone: vipd sends on the instance's interface", z),
			"%v names zone %q, but the instance's interface is %q", a, z, in.Interface)
	}
	return a.WithZone(""), nil
}

func (c *Check) validate(in *Instance, i int) error {
	field := c.field
	if field == "" {
		field = in.Field(fmt.Sprintf("checks[%d]", i))
	}
	switch c.Kind {
	case "https", "http":
		if !strings.HasPrefix(c.Target, c.Kind+"://") {
			return fieldErr(field, "give a URL such as https://127.0.0.1:6443/readyz", "%q is not an %s URL", c.Target, c.Kind)
		}
	case "tcp":
		if _, _, err := net.SplitHostPort(c.Target); err != nil {
			return fieldErr(field, "give HOST:PORT such as 127.0.0.1:2379", "%q: %v", c.Target, err)
		}
	case "exec":
		if len(c.Command) == 0 || c.Command[0] == "" {
			return fieldErr(field, "give the command to run", "empty command")
		}
	case "interface":
		// The kernel's rule for a device name (dev_valid_name): 1–15 bytes, no
		// '/', ':' or white space, not "." or "..".
		if !validIfName(c.Target) {
			return fieldErr(field, "name an interface as `ip link` shows it, such as eth1", "%q is not an interface name", c.Target)
		}
	default:
		return fieldErr(field, "set exactly one of https, http, tcp or exec", "no check kind")
	}
	if c.Fault && c.Weight != 0 {
		return fieldErr(field+" weight", "weight 0 makes a fault check: set one or the other", "a fault check with weight %d", c.Weight)
	}
	if c.Weight < 0 || c.Weight > health.MaxWeight {
		return fieldErr(field+" weight", "use 1–254: the priority lowered while the check fails (0: go to FAULT while it fails)", "%d is out of range", c.Weight)
	}
	if c.Rise < 0 || c.Fall < 0 || c.Rise > 100 || c.Fall > 100 {
		return fieldErr(field+" rise/fall", "use 1–100 consecutive results", "rise=%d fall=%d is out of range", c.Rise, c.Fall)
	}
	if c.Interval < 0 || c.Timeout < 0 {
		return fieldErr(field+" interval/timeout", "use positive durations", "negative duration")
	}
	if (c.CertFile == "") != (c.KeyFile == "") {
		return fieldErr(field+" cert/key", "give both the client certificate and its key, or neither", "only one of them is set")
	}
	if c.Kind != "https" && (c.CertFile != "" || c.ServerName != "" || c.CAFile != "") {
		return fieldErr(field, "ca, cert, key and server-name apply to https checks only: drop them", "set on a %s check", c.Kind)
	}
	if err := c.Spec().Validate(); err != nil {
		return fieldErr(field, "", "%v", err)
	}
	return nil
}

// nameChecks gives every unnamed check a name from its kind and target, and makes
// the names unique: they label status rows and metrics.
func nameChecks(checks []Check) {
	seen := map[string]int{}
	for i := range checks {
		c := &checks[i]
		if c.Name == "" {
			switch c.Kind {
			case "https", "http":
				c.Name = "apiserver"
			case "tcp":
				c.Name = "tcp:" + c.Target
			case "interface":
				c.Name = "interface:" + c.Target
			case "exec":
				if len(c.Command) > 0 {
					c.Name = "exec:" + filepath.Base(c.Command[0])
				} else {
					c.Name = "exec"
				}
			default:
				c.Name = "check"
			}
		}
		seen[c.Name]++
		if n := seen[c.Name]; n > 1 {
			c.Name = fmt.Sprintf("%s-%d", c.Name, n)
		}
	}
}

// Spec turns a configured check into a health.Spec, with the package's defaults
// for whatever the operator left out.
func (c *Check) Spec() health.Spec {
	s := health.Spec{Name: c.Name, Kind: health.Kind(c.Kind), Target: c.Target, Command: c.Command}
	if c.Kind == "https" || c.Kind == "http" {
		s = health.DefaultAPIServer(c.Target)
		if c.Name != "" {
			s.Name = c.Name
		}
		s.Kind = health.Kind(c.Kind)
		if s.Kind == health.KindHTTP {
			s.CAFile, s.ServerName = "", "" // no TLS
		}
	}
	if c.CAFile != "" {
		s.CAFile = c.CAFile
	}
	s.CertFile, s.KeyFile = c.CertFile, c.KeyFile
	if c.ServerName != "" {
		s.ServerName = c.ServerName // the operator's name wins over the apiserver default
	}
	if c.Interval != 0 {
		s.Interval = c.Interval
	}
	if c.Timeout != 0 {
		s.Timeout = c.Timeout
	} else if s.Timeout > s.Interval {
		s.Timeout = s.Interval // a shorter interval than the default shortens the default timeout too
	}
	if c.Rise != 0 {
		s.Rise = c.Rise
	}
	if c.Fall != 0 {
		s.Fall = c.Fall
	}
	if c.Weight != 0 {
		s.Weight = c.Weight
	}
	if c.Fault {
		s.Fault, s.Weight = true, 0 // FAULT while down; no penalty
	}
	if c.Tier {
		s.Tier, s.Weight = true, 0 // ranked below every healthy router
	}
	return s.WithDefaults()
}

// Same reports whether two instances are configured alike in everything vipd
// reads (a reload leaves such an instance untouched).
func (in Instance) Same(o Instance) bool {
	if !ChecksSame(in.Checks, o.Checks) {
		return false
	}
	in.field, o.field = nil, nil
	in.parseErr, o.parseErr = nil, nil
	in.Checks, o.Checks = nil, nil
	return reflect.DeepEqual(in, o)
}

// Same reports whether two checks are configured alike; where the operator
// wrote them (their place in the file) does not count.
func (c Check) Same(o Check) bool {
	c.field, o.field = "", ""
	return reflect.DeepEqual(c, o)
}

// ChecksSame reports whether two check lists are alike, check by check.
func ChecksSame(a, b []Check) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !a[i].Same(b[i]) {
			return false
		}
	}
	return true
}

// validIfName is the kernel's rule for a device name (dev_valid_name): 1–15
// bytes, no '/', ':' or white space, not "." or "..".
func validIfName(t string) bool {
	return t != "" && len(t) <= 15 && t != "." && t != ".." && !strings.ContainsAny(t, "/: \t\n\r\v\f")
}
