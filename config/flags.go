package config

import (
	"cmp"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"
)

// Flags are vipd's command-line flags. They describe one instance, or point at a
// config file that describes several. `vipd manifest` takes the same flags, so that
// the manifest it prints runs exactly the daemon the operator described.
type Flags struct {
	fs *pflag.FlagSet

	configFile     string
	controlSocket  string
	stateDir       string
	metricsAddress string
	logFormat      string
	logLevel       string

	name             string
	iface            string
	vips             []string
	vrid             int
	priority         int
	advertInterval   time.Duration
	version          int
	peers            []string
	source           string
	preempt          bool
	preemptDelay     time.Duration
	checksum         string
	announceCount    int
	announceInterval time.Duration
	announceRefresh  time.Duration
	authPass         string
	notify           string
	notifyMaster     string
	notifyBackup     string
	notifyFault      string
	notifyStop       string
	trackAPIServer   []string
	trackTCP         []string
	trackExec        []string
	trackInterface   []string
}

// instanceFlags are the flags that describe an instance; they conflict with --config.
var instanceFlags = []string{"name", "interface", "vip", "vrid", "priority", "advert-interval",
	"vrrp-version", "peer", "source", "preempt", "preempt-delay", "checksum", "garp-count",
	"garp-interval", "garp-refresh", "auth-pass", "notify", "notify-master", "notify-backup", "notify-fault",
	"notify-stop", "track-apiserver", "track-tcp", "track-exec", "track-interface"}

// NewFlags defines vipd's flags on fs.
func NewFlags(fs *pflag.FlagSet) *Flags {
	f := &Flags{fs: fs}
	fs.StringVar(&f.configFile, "config", "", "YAML file describing one or more instances (instead of the instance flags)")
	fs.StringVar(&f.controlSocket, "control-socket", DefaultControlSocket, "unix socket that vipctl reads status from")
	fs.StringVar(&f.stateDir, "state-dir", DefaultStateDir, "directory for vipd's lock and the state it keeps across restarts")
	fs.StringVar(&f.metricsAddress, "metrics-address", "", "address serving /metrics and /healthz, such as 127.0.0.1:9440 (empty: off)")
	fs.StringVar(&f.logFormat, "log-format", "text", `log format: "text" or "json"`)
	fs.StringVar(&f.logLevel, "log-level", "info", "log level: debug, info, warn or error")

	fs.StringVar(&f.name, "name", "", "instance name shown in status and logs (default: vrid-N)")
	fs.StringVar(&f.iface, "interface", "", "interface that carries the VIP and the VRRP adverts")
	fs.StringSliceVar(&f.vips, "vip", nil, "virtual IP address (repeat for an IPv6 VIP or more)")
	fs.IntVar(&f.vrid, "vrid", 0, "virtual router ID, 1–255, shared by all routers of this VIP")
	fs.IntVar(&f.priority, "priority", 100, "base priority, 1–254 (higher wins); 255 only if the VIP is the interface's own address")
	fs.DurationVar(&f.advertInterval, "advert-interval", DefaultAdvertInterval, "advertisement interval (v3: 10ms–40.95s; v2: 1s–255s)")
	fs.IntVar(&f.version, "vrrp-version", DefaultVersion, "VRRP version: 3 (RFC 9568) or 2 (RFC 3768, IPv4 only)")
	fs.StringSliceVar(&f.peers, "peer", nil, "unicast peer address (repeat); without peers, adverts are multicast")
	fs.StringVar(&f.source, "source", "", "source address of adverts (default: the interface's first IPv4 address, or its link-local IPv6 address)")
	fs.BoolVar(&f.preempt, "preempt", true, "take over from a lower-priority master")
	fs.DurationVar(&f.preemptDelay, "preempt-delay", 0, "wait this long after startup (or after meeting a lower-priority master) before preempting")
	fs.StringVar(&f.checksum, "checksum", ChecksumPseudoHeader, `VRRPv3/IPv4 checksum form sent: "pseudo-header" (keepalived, FRR) or "message-only" (RFC 9568 text); both are accepted`)
	fs.IntVar(&f.announceCount, "garp-count", DefaultAnnounceCount, "gratuitous ARP / unsolicited NA rounds on takeover")
	fs.DurationVar(&f.announceInterval, "garp-interval", DefaultAnnounceInterval, "time between announcement rounds")
	fs.DurationVar(&f.announceRefresh, "garp-refresh", 0, "re-announce the VIPs this often while master (0: off)")
	fs.StringVar(&f.authPass, "auth-pass", "", "VRRPv2 only: simple text password of 1–8 bytes (keepalived's auth_type PASS); VRRPv3 has no authentication")
	fs.StringVar(&f.notify, "notify", "", "command run on every state change (split on spaces; VIPD_* environment variables describe the change)")
	fs.StringVar(&f.notifyMaster, "notify-master", "", "command run on becoming master (split on spaces), as well as --notify")
	fs.StringVar(&f.notifyBackup, "notify-backup", "", "command run on becoming backup (split on spaces), as well as --notify")
	fs.StringVar(&f.notifyFault, "notify-fault", "", "command run on entering FAULT (split on spaces), as well as --notify")
	fs.StringVar(&f.notifyStop, "notify-stop", "", "command run when the instance stops (split on spaces), as well as --notify")
	fs.StringArrayVar(&f.trackAPIServer, "track-apiserver", nil, "track a kube-apiserver readiness URL, such as https://127.0.0.1:6443/readyz[,weight=50,...]")
	fs.StringArrayVar(&f.trackTCP, "track-tcp", nil, "track a TCP connect to HOST:PORT[,weight=N,interval=D,timeout=D,rise=N,fall=N,name=S]")
	fs.StringArrayVar(&f.trackExec, "track-exec", nil, `track a command's exit status: "CMD ARG..."[,weight=N,...] (no commas in the command; use --config for more)`)
	fs.StringArrayVar(&f.trackInterface, "track-interface", nil, "track an interface's link: IF[,weight=N]; without a weight (or with weight=0) the instance goes to FAULT while it is down")
	return f
}

// Config builds the validated configuration that the flags (and the config file they
// may name) describe.
func (f *Flags) Config() (*Config, error) {
	cfg := &Config{
		ControlSocket:  f.controlSocket,
		StateDir:       f.stateDir,
		MetricsAddress: f.metricsAddress,
		LogFormat:      f.logFormat,
		LogLevel:       f.logLevel,
	}
	if f.configFile != "" {
		for _, n := range instanceFlags {
			if f.fs.Changed(n) {
				return nil, fieldErr("--"+n, "describe instances either with flags or in --config, not both", "given together with --config")
			}
		}
		data, err := os.ReadFile(f.configFile)
		if err != nil {
			return nil, fieldErr("--config", "give the path of a readable YAML file", "%v", err)
		}
		fc, err := parseFile(f.configFile, data)
		if err != nil {
			return nil, err
		}
		fc.apply(cfg, f.fs)
	} else if f.anyInstanceFlag() {
		in, err := f.instance()
		if err != nil {
			return nil, err
		}
		cfg.Instances = []Instance{in}
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return cfg, nil
}

func (f *Flags) anyInstanceFlag() bool {
	for _, n := range instanceFlags {
		if f.fs.Changed(n) {
			return true
		}
	}
	return false
}

func flagName(key string) string { return "--" + key }

func (f *Flags) instance() (Instance, error) {
	in := Instance{
		Name:             f.name,
		Interface:        f.iface,
		VRID:             f.vrid,
		Priority:         f.priority,
		AdvertInterval:   f.advertInterval,
		Version:          f.version,
		Preempt:          f.preempt,
		PreemptDelay:     f.preemptDelay,
		Checksum:         f.checksum,
		AnnounceCount:    f.announceCount,
		AnnounceInterval: f.announceInterval,
		AnnounceRefresh:  f.announceRefresh,
		AuthPass:         f.authPass,
		field:            flagName,
	}
	if in.Name == "" {
		in.Name = fmt.Sprintf("vrid-%d", in.VRID)
	}
	var err error
	if in.VIPs, err = parseAddrs("--vip", f.vips); err != nil {
		return in, err
	}
	if in.Peers, err = parseAddrs("--peer", f.peers); err != nil {
		return in, err
	}
	if f.source != "" {
		if in.Source, err = parseAddr("--source", f.source); err != nil {
			return in, err
		}
	}
	if f.fs.Changed("auth-pass") && f.authPass == "" {
		return in, fieldErr("--auth-pass", "give 1–8 bytes, or drop the flag for no authentication", "empty password")
	}
	in.Notify = commandLine(f.notify)
	in.NotifyMaster = commandLine(f.notifyMaster)
	in.NotifyBackup = commandLine(f.notifyBackup)
	in.NotifyFault = commandLine(f.notifyFault)
	in.NotifyStop = commandLine(f.notifyStop)
	for _, t := range []struct {
		flag, kind string
		specs      []string
	}{
		{"--track-apiserver", "https", f.trackAPIServer},
		{"--track-tcp", "tcp", f.trackTCP},
		{"--track-exec", "exec", f.trackExec},
		{"--track-interface", "interface", f.trackInterface},
	} {
		for _, spec := range t.specs {
			c, err := parseCheckFlag(t.flag, t.kind, spec)
			if err != nil {
				return in, err
			}
			in.Checks = append(in.Checks, c)
		}
	}
	nameChecks(in.Checks)
	return in, nil
}

// commandLine splits a command on spaces; nil when there is none.
func commandLine(s string) []string {
	if strings.TrimSpace(s) == "" {
		return nil
	}
	return strings.Fields(s)
}

func parseAddrs(field string, ss []string) ([]netip.Addr, error) {
	out := make([]netip.Addr, 0, len(ss))
	for _, s := range ss {
		a, err := parseAddr(field, s)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, nil
}

func parseAddr(field, s string) (netip.Addr, error) {
	s = strings.TrimSpace(s)
	if p, err := netip.ParsePrefix(s); err == nil {
		if p.Bits() != p.Addr().BitLen() {
			return netip.Addr{}, fieldErr(field, fmt.Sprintf("give the bare address %v; VIPs are always added as /32 or /128", p.Addr()), "%q has a prefix length", s)
		}
		return p.Addr(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, fieldErr(field, "give an IPv4 address such as 198.18.0.100 or an IPv6 address such as 2001:db8::100", "%q is not an IP address", s)
	}
	return a.Unmap(), nil
}

// parseCheckFlag reads TARGET[,key=value...].
func parseCheckFlag(field, kind, spec string) (Check, error) {
	parts := strings.Split(spec, ",")
	c := Check{Kind: kind, field: field}
	target := strings.TrimSpace(parts[0])
	if target == "" {
		return c, fieldErr(field, "give a target first, then options such as ,weight=50", "empty target in %q", spec)
	}
	switch kind {
	case "exec":
		c.Command = strings.Fields(target)
	case "https":
		if strings.HasPrefix(target, "http://") {
			c.Kind = "http"
		}
		c.Target = target
	default:
		c.Target = target
	}
	weighted := false
	for _, opt := range parts[1:] {
		k, v, ok := strings.Cut(strings.TrimSpace(opt), "=")
		if !ok {
			return c, fieldErr(field, "write options as key=value, such as weight=50", "%q in %q is not key=value", opt, spec)
		}
		if kind == "interface" && k != "weight" && k != "name" {
			return c, fieldErr(field, "an interface takes only weight=N and name=S", "unknown option %q", k)
		}
		if err := c.set(field, k, v); err != nil {
			return c, err
		}
		weighted = weighted || k == "weight"
	}
	// keepalived: track_interface without a weight faults the instance.
	if kind == "interface" && !weighted {
		c.Fault = true
	}
	// The apiserver check without a weight ranks a failing master below
	// every healthy one, whatever the priorities.
	if (c.Kind == "https" || c.Kind == "http") && !weighted {
		c.Tier = true
	}
	return c, nil
}

func (c *Check) set(field, k, v string) error {
	dur := func(dst *time.Duration) error {
		d, err := time.ParseDuration(v)
		if err != nil {
			return fieldErr(field, "write a duration such as 2s or 500ms", "%s=%q is not a duration", k, v)
		}
		*dst = d
		return nil
	}
	num := func(dst *int) error {
		n, err := strconv.Atoi(v)
		if err != nil {
			return fieldErr(field, "write a whole number", "%s=%q is not a number", k, v)
		}
		*dst = n
		return nil
	}
	switch k {
	case "name":
		c.Name = v
	case "weight":
		if v == "tier" {
			if c.Kind != "https" && c.Kind != "http" {
				return fieldErr(field, "weight=tier is for the apiserver check; give a number", "weight=tier on a %s check", c.Kind)
			}
			c.Tier, c.Weight, c.Fault = true, 0, false
			return nil
		}
		c.Tier = false
		if err := num(&c.Weight); err != nil {
			return err
		}
		// weight=0: fail means FAULT (keepalived's weight 0), not "the default".
		c.Fault = c.Weight == 0
	case "rise":
		return num(&c.Rise)
	case "fall":
		return num(&c.Fall)
	case "interval":
		return dur(&c.Interval)
	case "timeout":
		return dur(&c.Timeout)
	case "ca":
		c.CAFile = v
	case "cert":
		c.CertFile = v
	case "key":
		c.KeyFile = v
	case "server-name":
		c.ServerName = v
	default:
		return fieldErr(field, "use name, weight, interval, timeout, rise, fall, ca, cert, key or server-name", "unknown option %q", k)
	}
	return nil
}

// Args returns the flags the operator set, normalized to --name=value, one per
// value of repeated flags, skipping the names in except. `vipd manifest` writes
// them into the pod or unit it prints.
func (f *Flags) Args(except ...string) []string {
	var args []string
	f.fs.Visit(func(fl *pflag.Flag) {
		if slices.Contains(except, fl.Name) {
			return
		}
		if sv, ok := fl.Value.(pflag.SliceValue); ok {
			for _, v := range sv.GetSlice() {
				args = append(args, "--"+fl.Name+"="+v)
			}
			return
		}
		args = append(args, "--"+fl.Name+"="+fl.Value.String())
	})
	return args
}

// NewLogger returns the logger the configuration asks for, writing to w.
func NewLogger(cfg *Config, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cmp.Or(cfg.LogLevel, "info")))
	opts := &slog.HandlerOptions{Level: level}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// ConfigFile is the --config path, empty without one.
func (f *Flags) ConfigFile() string { return f.configFile }
