package health

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Kind is what a check does.
type Kind string

// The kinds of check.
const (
	KindHTTPS Kind = "https" // GET Target; success is status 200
	KindHTTP  Kind = "http"  // GET Target; success is status 200
	KindTCP   Kind = "tcp"   // connect to Target (host:port)
	KindExec  Kind = "exec"  // run Command; success is exit status 0
	// KindInterface watches the network interface named by Target: up while
	// it exists and is both administratively up (IFF_UP) and has carrier
	// (IFF_RUNNING), keepalived's track_interface.
	KindInterface Kind = "interface"
)

// Defaults of the apiserver check; see the package documentation for why.
const (
	DefaultAPIServerURL  = "https://127.0.0.1:6443/readyz"
	DefaultAPIServerName = "apiserver"
	DefaultCAFile        = "/etc/kubernetes/pki/ca.crt"
	// DefaultTLSServerName is the name an https check verifies when its
	// Target's host is a loopback address and it has no ServerName: a SAN
	// kubeadm always puts in the apiserver's serving certificate, which has
	// no 127.0.0.1 SAN.
	DefaultTLSServerName   = "kubernetes"
	DefaultInterval        = 2 * time.Second
	DefaultTimeout         = 1 * time.Second
	DefaultRise            = 5
	DefaultFall            = 3
	DefaultAPIServerWeight = 50

	// An interface check reads kernel state and answers at once: probe
	// every second, act on the first result.
	DefaultInterfaceInterval = 1 * time.Second
	DefaultInterfaceTimeout  = 250 * time.Millisecond
	DefaultInterfaceRise     = 1
	DefaultInterfaceFall     = 1
)

// MaxWeight is the largest Weight: enough to take any priority of a
// non-owner (1..254) down to the floor of 1.
const MaxWeight = 254

// TierPenalty is what a tier check that is down adds to Tracker.Penalty:
// more than any sum of weights can reach, so that the daemon can tell it
// apart (penalty / TierPenalty tier checks down, penalty % TierPenalty from
// weights).
const TierPenalty = 1000

// Spec describes one check.
type Spec struct {
	Name string
	Kind Kind
	// Target is the URL (http, https) or host:port (tcp). Unused for exec.
	Target string
	// Command is the argv of an exec check, run without a shell.
	Command []string

	// Interval is the time between the starts of two probes; Timeout
	// bounds one probe and must not exceed Interval.
	Interval, Timeout time.Duration
	// Rise consecutive successes count a down check as up; Fall
	// consecutive failures count an up check as down.
	Rise, Fall int
	// Weight is how much the priority is lowered while the check is down,
	// 1..MaxWeight; 0 with Fault, and only with Fault.
	Weight int
	// Fault makes the check a fault check (keepalived's weight 0): while it
	// is down it lowers no priority; the instance must be in FAULT instead.
	// See Tracker.Fault.
	Fault bool
	// Tier makes the check a tier check (the apiserver check's default):
	// while it is down the router is ranked below every router whose tier
	// checks are up, whatever the base priorities (see TierPenalty). It
	// takes no Weight.
	Tier bool

	// CAFile (https only) is the CA bundle that verifies the server; empty
	// means the system roots. While the file is missing or unreadable the
	// check fails with an error naming it: verification is never skipped.
	CAFile string
	// CertFile and KeyFile (https only, both or neither) are the PEM client
	// certificate and key the check presents, for an apiserver that refuses
	// anonymous requests. Like CAFile they are re-read when they change.
	CertFile, KeyFile string
	// ServerName (https only) is the name the certificate is verified
	// against. Empty means the host of Target, except that a loopback
	// address verifies DefaultTLSServerName: kubeadm's apiserver
	// certificate does not cover 127.0.0.1 but always covers "kubernetes".
	ServerName string
}

// DefaultAPIServer is the check of --track-apiserver: GET url (/readyz of
// the local apiserver, DefaultAPIServerURL when empty), verified with the
// cluster CA, with the hysteresis and weight described in the package
// documentation. It sets no ServerName: a loopback url verifies
// DefaultTLSServerName, any other its own host.
func DefaultAPIServer(url string) Spec {
	if url == "" {
		url = DefaultAPIServerURL
	}
	return Spec{
		Name:     DefaultAPIServerName,
		Kind:     KindHTTPS,
		Target:   url,
		Interval: DefaultInterval,
		Timeout:  DefaultTimeout,
		Rise:     DefaultRise,
		Fall:     DefaultFall,
		Weight:   DefaultAPIServerWeight,
		CAFile:   DefaultCAFile,
	}
}

// WithDefaults returns s with its zero Interval, Timeout, Rise, Fall and
// Weight set to the defaults of the apiserver check, or, for an interface
// check, to DefaultInterfaceInterval, DefaultInterfaceTimeout,
// DefaultInterfaceRise and DefaultInterfaceFall. The Weight of a fault
// check stays 0.
func (s Spec) WithDefaults() Spec {
	interval, timeout, rise, fall := DefaultInterval, DefaultTimeout, DefaultRise, DefaultFall
	if s.Kind == KindInterface {
		interval, timeout, rise, fall = DefaultInterfaceInterval, DefaultInterfaceTimeout, DefaultInterfaceRise, DefaultInterfaceFall
	}
	if s.Interval == 0 {
		s.Interval = interval
	}
	if s.Timeout == 0 {
		s.Timeout = min(timeout, s.Interval)
	}
	if s.Rise == 0 {
		s.Rise = rise
	}
	if s.Fall == 0 {
		s.Fall = fall
	}
	if s.Weight == 0 && !s.Fault && !s.Tier {
		s.Weight = DefaultAPIServerWeight
	}
	return s
}

// Validate reports the first problem with s, naming the field and the fix.
func (s Spec) Validate() error {
	if err := s.validate(); err != nil {
		name := s.Name
		if name == "" {
			name = "(unnamed)"
		}
		return fmt.Errorf("health: check %q: %w", name, err)
	}
	return nil
}

func (s Spec) validate() error {
	if s.Name == "" {
		return errors.New("name is empty: give every check a unique name")
	}
	switch s.Kind {
	case KindHTTP, KindHTTPS:
		u, err := url.Parse(s.Target)
		if err != nil {
			return fmt.Errorf("target %q is not a URL: %v", s.Target, err)
		}
		if u.Scheme != string(s.Kind) || u.Host == "" {
			return fmt.Errorf("target %q: want an absolute %s:// URL for kind %q", s.Target, s.Kind, s.Kind)
		}
		if len(s.Command) > 0 {
			return errors.New("command is set: only exec checks run a command")
		}
	case KindTCP:
		host, port, err := net.SplitHostPort(s.Target)
		if err != nil {
			return fmt.Errorf("target %q: want host:port for kind tcp: %v", s.Target, err)
		}
		if p, err := strconv.ParseUint(port, 10, 16); host == "" || err != nil || p == 0 {
			return fmt.Errorf("target %q: want host:port with a host and a numeric port 1-65535", s.Target)
		}
		if len(s.Command) > 0 {
			return errors.New("command is set: only exec checks run a command")
		}
	case KindExec:
		if len(s.Command) == 0 || s.Command[0] == "" {
			return errors.New("command is empty: set the argv of the program to run")
		}
		if s.Target != "" {
			return errors.New("target is set: exec checks take their argv in command")
		}
	case KindInterface:
		if !validIfName(s.Target) {
			return fmt.Errorf("target %q is not an interface name: name an interface as `ip link` shows it, such as eth1", s.Target)
		}
		if len(s.Command) > 0 {
			return errors.New("command is set: only exec checks run a command")
		}
	case "":
		return errors.New("kind is empty: use https, http, tcp, exec or interface")
	default:
		return fmt.Errorf("kind %q is unknown: use https, http, tcp, exec or interface", s.Kind)
	}
	if s.Kind != KindHTTPS && (s.CAFile != "" || s.ServerName != "" || s.CertFile != "" || s.KeyFile != "") {
		return fmt.Errorf("ca file, client certificate and server name apply to https checks only, not %s", s.Kind)
	}
	if (s.CertFile == "") != (s.KeyFile == "") {
		return fmt.Errorf("cert file %q and key file %q: give both the client certificate and its key, or neither", s.CertFile, s.KeyFile)
	}
	if s.Interval <= 0 {
		return fmt.Errorf("interval %v: set a positive interval, e.g. %v", s.Interval, DefaultInterval)
	}
	if s.Timeout <= 0 || s.Timeout > s.Interval {
		return fmt.Errorf("timeout %v: set a positive timeout no longer than the interval (%v)", s.Timeout, s.Interval)
	}
	if s.Rise < 1 {
		return fmt.Errorf("rise %d: set at least 1 success to count as up", s.Rise)
	}
	if s.Fall < 1 {
		return fmt.Errorf("fall %d: set at least 1 failure to count as down", s.Fall)
	}
	switch {
	case s.Tier && (s.Fault || s.Weight != 0):
		return fmt.Errorf("a tier check takes no weight and is no fault check")
	case s.Tier:
	case s.Fault && s.Weight != 0:
		return fmt.Errorf("weight %d on a fault check: a fault check moves the instance to FAULT and takes no weight; set weight 0", s.Weight)
	case s.Fault:
	case s.Weight == 0:
		return fmt.Errorf("weight 0: set a weight from 1 to %d, or make it a fault check (Fault) to put the instance in FAULT while it is down", MaxWeight)
	case s.Weight < 1 || s.Weight > MaxWeight:
		return fmt.Errorf("weight %d: set a weight from 1 to %d", s.Weight, MaxWeight)
	}
	return nil
}

// validIfName is the kernel's rule for a device name (dev_valid_name in
// net/core/dev.c): 1 to 15 bytes, not "." or "..", no '/', ':' or white
// space.
func validIfName(name string) bool {
	if name == "" || len(name) > 15 || name == "." || name == ".." {
		return false
	}
	return !strings.ContainsAny(name, "/: \t\n\r\v\f")
}

// EffectivePriority is base lowered by penalty, clamped to 1..254: 0 is
// reserved for a master giving up the VIP and 255 for the address owner
// (RFC 9568 §6.1). A base of 255 stays 255 whatever the penalty: the owner
// of the address answers for it by definition (RFC 9568 §6.1 "MUST be
// 255"), and advertising less would hand the owner's own address to
// another router.
func EffectivePriority(base uint8, penalty int) uint8 {
	if base == 255 {
		return 255
	}
	p := int(base) - max(penalty, 0)
	return uint8(min(max(p, 1), 254))
}
