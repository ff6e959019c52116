package keepalived

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/vipd/vipd/config"
)

// keepalived's defaults (keepalived.conf(5)), where they differ from vipd's or
// matter to the conversion.
const (
	defaultVersion        = 2 // vrrp_version
	defaultPriority       = 100
	defaultAdvertInterval = time.Second
	defaultScriptInterval = time.Second // vrrp_script interval
	defaultScriptRiseFall = 1           // vrrp_script rise and fall
	maxPriority           = 254         // a non-owner's effective priority (RFC 9568 §6.1)
)

// Options change how a file is read.
type Options struct {
	// Root is where absolute paths in the config (includes, scripts) are looked
	// up: "/" or empty on the host itself, a directory holding a copy of one
	// otherwise.
	Root string
}

// Note is one directive that was dropped or changed, and why.
type Note struct {
	Pos Pos
	Msg string
}

func (n Note) String() string { return fmt.Sprintf("%s: %s", n.Pos, n.Msg) }

// Result is a converted config.
type Result struct {
	// YAML is a vipd config file (see config.Load).
	YAML []byte
	// Notes say what was dropped or changed, in the order of the file.
	Notes []Note
}

// Convert reads the keepalived.conf at path, and the files it includes, and
// returns the vipd config that does the same. Errors are *Error wrapping
// ErrSyntax or ErrUnsupported, or file errors.
func Convert(path string, opts Options) (*Result, error) {
	res := &Result{}
	r := &reader{root: cmp.Or(opts.Root, "/"), base: filepath.Dir(path), notes: &res.Notes}
	toks, err := r.tokens(path, 0, Pos{})
	if err != nil {
		return nil, err
	}
	tree, err := parse(toks)
	if err != nil {
		return nil, err
	}
	c := &converter{r: r, res: res, scripts: map[string]*script{}}
	out, err := c.convert(tree)
	if err != nil {
		return nil, err
	}
	res.YAML = out.yaml()
	order := map[string]int{}
	for i, f := range r.files {
		if _, ok := order[f]; !ok {
			order[f] = i
		}
	}
	slices.SortStableFunc(res.Notes, func(a, b Note) int {
		return cmp.Or(cmp.Compare(order[a.Pos.File], order[b.Pos.File]), cmp.Compare(a.Pos.Line, b.Pos.Line))
	})
	// The output must be a config vipd runs: a value keepalived accepts but vipd
	// does not (a VIP on two instances, a v3 interval in milliseconds with v2)
	// is reported here against the instance it came from.
	if _, err := config.Load("converted", res.YAML); err != nil {
		var fe *config.FieldError
		pos := Pos{r.show(path), 1}
		if errors.As(err, &fe) {
			if i, ok := instanceIndex(fe.Field); ok && i < len(out.instances) {
				pos = out.instances[i].pos
			}
		}
		return nil, &Error{pos, fmt.Sprintf("the converted instance is not valid for vipd: %v", err), ErrUnsupported}
	}
	return res, nil
}

// instanceIndex reads N from a field "...instances[N]...".
func instanceIndex(field string) (int, bool) {
	_, rest, ok := strings.Cut(field, "instances[")
	if !ok {
		return 0, false
	}
	n, _, ok := strings.Cut(rest, "]")
	i, err := strconv.Atoi(n)
	return i, ok && err == nil
}

type converter struct {
	r       *reader
	res     *Result
	scripts map[string]*script
	version int
	garp    garpDefaults
}

func (c *converter) note(pos Pos, format string, args ...any) {
	c.res.Notes = append(c.res.Notes, Note{pos, fmt.Sprintf(format, args...)})
}

func syntaxErr(pos Pos, format string, args ...any) error {
	return &Error{pos, fmt.Sprintf(format, args...), ErrSyntax}
}

func unsupported(pos Pos, format string, args ...any) error {
	return &Error{pos, fmt.Sprintf(format, args...), ErrUnsupported}
}

// garpDefaults are global_defs' vrrp_garp_master_*: the defaults of every instance.
type garpDefaults struct {
	repeat, refresh *node
}

// script is a vrrp_script.
type script struct {
	pos      Pos
	name     string
	command  []string
	interval time.Duration
	timeout  time.Duration
	weight   int
	hasW     bool
	rise     int
	fall     int
	used     bool
}

// blocks that are not VRRP, dropped whole.
var otherBlocks = map[string]string{
	"virtual_server":       "LVS load balancing is not vipd's job",
	"virtual_server_group": "LVS load balancing is not vipd's job",
	"static_ipaddress":     "vipd adds only VIPs; configure static addresses with the system's network configuration",
	"static_routes":        "vipd adds only VIPs; configure static routes with the system's network configuration",
	"static_rules":         "vipd adds only VIPs; configure policy rules with the system's network configuration",
	"linkbeat_interfaces":  "vipd follows the link state from netlink",
	"garp_group":           "vipd announces each instance's VIPs itself",
	"bfd_instance":         "vipd has no BFD",
}

func (c *converter) convert(tree []*node) (*output, error) {
	c.version = defaultVersion
	// global_defs and vrrp_script first: an instance may come before them.
	for _, n := range tree {
		switch n.Key {
		case "global_defs":
			if err := c.globals(n); err != nil {
				return nil, err
			}
		case "vrrp_script":
			if err := c.vrrpScript(n); err != nil {
				return nil, err
			}
		}
	}
	out := &output{}
	for _, n := range tree {
		switch n.Key {
		case "global_defs", "vrrp_script":
		case "vrrp_instance":
			in, err := c.instance(n)
			if err != nil {
				return nil, err
			}
			out.instances = append(out.instances, in)
		case "vrrp_sync_group":
			c.note(n.Pos, "vrrp_sync_group %s: dropped; vipd has no sync groups: each instance elects on its own (keep the VIPs that must move together in one instance)", n.arg(0))
		default:
			if why, ok := otherBlocks[n.Key]; ok {
				c.note(n.Pos, "%s: dropped; %s", n.Key, why)
				continue
			}
			return nil, syntaxErr(n.Pos, "unknown block %q: keepalived's top level has global_defs, vrrp_script, vrrp_instance, vrrp_sync_group, virtual_server and friends", n.Key)
		}
	}
	for _, s := range c.scripts {
		if !s.used {
			c.note(s.pos, "vrrp_script %s: dropped; no vrrp_instance tracks it", s.name)
		}
	}
	if len(out.instances) == 0 {
		return nil, syntaxErr(Pos{c.r.show(filepath.Join(c.r.base, "x")), 0}, "no vrrp_instance: nothing to convert")
	}
	return out, nil
}

func (c *converter) globals(g *node) error {
	for _, n := range g.Block {
		switch n.Key {
		case "vrrp_version":
			v, err := c.intArg(n, 2, 3)
			if err != nil {
				return err
			}
			c.version = v
		case "vrrp_garp_master_repeat":
			c.garp.repeat = n
		case "vrrp_garp_master_refresh":
			c.garp.refresh = n
		case "vrrp_garp_master_delay":
			c.note(n.Pos, "%s: dropped; %s", n.Key, garpDelayWhy)
		case "router_id":
			c.note(n.Pos, "router_id: dropped; it names the host in keepalived's logs and mails, vipd names instances")
		case "script_user", "enable_script_security":
			c.note(n.Pos, "%s: dropped; vipd runs checks and notify commands as itself", n.Key)
		case "vrrp_garp_interval", "vrrp_gna_interval":
			c.note(n.Pos, "%s: dropped; vipd spaces announcement rounds by garp.interval (1s by default) and sends each round at once", n.Key)
		case "vrrp_skip_check_adv_addr":
			c.note(n.Pos, "%s: dropped; vipd accepts adverts whose address list differs and counts them as address_mismatches", n.Key)
		case "vrrp_strict":
			c.note(n.Pos, "%s: dropped; vipd follows RFC 9568 strictly on the wire already", n.Key)
		case "vrrp_mcast_group4", "vrrp_mcast_group6":
			return unsupported(n.Pos, "%s %s: vipd sends to the RFC 9568 §5.1.1.2 groups (224.0.0.18, ff02::12) only", n.Key, n.arg(0))
		default:
			c.note(n.Pos, "global_defs %s: dropped; no vipd equivalent", n.Key)
		}
	}
	return nil
}

const garpDelayWhy = "keepalived sends a second burst that many seconds after becoming master; vipd sends garp.count rounds garp.interval apart (5 rounds 1s apart by default), which covers it"

func (c *converter) vrrpScript(n *node) error {
	name := n.arg(0)
	if name == "" {
		return syntaxErr(n.Pos, "vrrp_script needs a name")
	}
	s := &script{pos: n.Pos, name: name, interval: defaultScriptInterval, rise: defaultScriptRiseFall, fall: defaultScriptRiseFall}
	var timeout *node
	for _, k := range n.Block {
		var err error
		switch k.Key {
		case "script":
			if len(k.Args) == 0 {
				return syntaxErr(k.Pos, "script needs a command")
			}
			s.command = splitCommand(strings.Join(k.Args, " "))
		case "interval":
			s.interval, err = c.secondsArg(k)
		case "timeout":
			s.timeout, err = c.secondsArg(k)
			timeout = k
		case "weight":
			s.weight, err = c.intArg(k, -254, 254)
			s.hasW = true
			if err == nil && k.arg(1) == "reverse" {
				return unsupported(k.Pos, "weight %s reverse: vipd has no reversed weights; invert the script's exit status instead", k.arg(0))
			}
		case "rise":
			s.rise, err = c.intArg(k, 1, 100)
		case "fall":
			s.fall, err = c.intArg(k, 1, 100)
		case "user":
			c.note(k.Pos, "vrrp_script %s: user %s: dropped; vipd runs checks as itself", name, strings.Join(k.Args, " "))
		case "init_fail":
			c.note(k.Pos, "vrrp_script %s: init_fail: dropped; vipd checks always start down", name)
		default:
			c.note(k.Pos, "vrrp_script %s: %s: dropped; no vipd equivalent", name, k.Key)
		}
		if err != nil {
			return err
		}
	}
	if len(s.command) == 0 {
		return syntaxErr(n.Pos, "vrrp_script %s has no script", name)
	}
	switch {
	case timeout == nil:
		s.timeout = s.interval // keepalived's default timeout is the interval
	case s.timeout > s.interval:
		c.note(timeout.Pos, "vrrp_script %s: timeout %v → %v: vipd bounds a check by its interval", name, s.timeout, s.interval)
		s.timeout = s.interval
	}
	c.scripts[name] = s
	return nil
}

// splitCommand splits a keepalived command line into words; keepalived honours
// quotes inside it ("'/path with space' arg").
func splitCommand(s string) []string {
	var out []string
	var cur strings.Builder
	in, quote := false, byte(0)
	for i := 0; i < len(s); i++ {
		ch := s[i]
		switch {
		case quote != 0 && ch == quote:
			quote = 0
		case quote == 0 && (ch == '\'' || ch == '"'):
			quote, in = ch, true
		case quote == 0 && (ch == ' ' || ch == '\t'):
			if in {
				out = append(out, cur.String())
				cur.Reset()
				in = false
			}
		default:
			cur.WriteByte(ch)
			in = true
		}
	}
	if in {
		out = append(out, cur.String())
	}
	return out
}

func (c *converter) intArg(n *node, lo, hi int) (int, error) {
	if len(n.Args) == 0 {
		return 0, syntaxErr(n.Pos, "%s needs a number", n.Key)
	}
	v, err := strconv.Atoi(n.Args[0])
	if err != nil {
		return 0, syntaxErr(n.Pos, "%s %q: not a whole number", n.Key, n.Args[0])
	}
	if v < lo || v > hi {
		return 0, syntaxErr(n.Pos, "%s %d: keepalived takes %d to %d", n.Key, v, lo, hi)
	}
	return v, nil
}

// secondsArg reads keepalived's seconds, which may have a fraction (advert_int 0.5).
func (c *converter) secondsArg(n *node) (time.Duration, error) {
	if len(n.Args) == 0 {
		return 0, syntaxErr(n.Pos, "%s needs a number of seconds", n.Key)
	}
	f, err := strconv.ParseFloat(n.Args[0], 64)
	if err != nil || f < 0 || math.IsInf(f, 0) || f > 1e6 {
		return 0, syntaxErr(n.Pos, "%s %q: not a number of seconds", n.Key, n.Args[0])
	}
	return time.Duration(math.Round(f*1e6)) * time.Microsecond, nil
}

func (c *converter) addrArg(n *node, s string) (netip.Addr, error) {
	a, err := netip.ParseAddr(s)
	if err != nil {
		return a, syntaxErr(n.Pos, "%s %q: not an IP address", n.Key, s)
	}
	return a.Unmap(), nil
}
