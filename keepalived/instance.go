package keepalived

import (
	"fmt"
	"net/netip"
	"strings"
	"time"
)

// outInstance is one converted vrrp_instance.
type outInstance struct {
	pos          Pos
	name, iface  string
	vrid         int
	priority     int
	version      int
	advert       time.Duration
	authPass     string
	vips         []netip.Addr
	peers        []netip.Addr
	source       netip.Addr
	nopreempt    bool
	preemptDelay time.Duration
	garpCount    int // 0: vipd's default
	garpRefresh  time.Duration
	notify       [5][]string // notify, master, backup, fault, stop
	checks       []outCheck
	ifaces       []outIface
}

type outCheck struct {
	name              string
	https             string
	exec              []string
	interval, timeout time.Duration
	rise, fall        int
	weight            int // 0: a fault check
}

type outIface struct {
	name   string
	weight int // 0: a fault check
}

var notifyKeys = [5]string{"notify", "notify_master", "notify_backup", "notify_fault", "notify_stop"}

// dropped keywords of a vrrp_instance, and why.
var droppedInInstance = map[string]string{
	"dont_track_primary":         "vipd always follows the link of the instance's interface (FAULT while it is down)",
	"track_primary":              "vipd always follows the link of the instance's interface",
	"smtp_alert":                 "vipd sends no mail; use notify hooks",
	"debug":                      "use --log-level debug",
	"use_vmac":                   "vipd answers for the VIPs with the interface's own MAC and gratuitous ARP",
	"vmac_xmit_base":             "vipd does not use VMACs",
	"native_ipv6":                "vipd elects over the family of the first VIP",
	"lvs_sync_daemon_interface":  "LVS is not vipd's job",
	"garp_master_refresh_repeat": "vipd sends one round per refresh",
	"garp_lower_prio_delay":      "vipd re-announces at once when it meets a lower-priority master",
	"garp_lower_prio_repeat":     "vipd re-announces at once when it meets a lower-priority master",
	"lower_prio_no_advert":       "vipd answers a lower-priority advert at once (RFC 9568 §6.4.3)",
	"higher_prio_send_advert":    "vipd steps down without an extra advert",
	"strict_mode":                "vipd follows RFC 9568 strictly on the wire already",
	"skip_check_adv_addr":        "vipd accepts adverts whose address list differs and counts them",
	"check_unicast_src":          "vipd accepts unicast adverts only from its peers already",
	"unicast_ttl":                "vipd sends with TTL/hop limit 255 and checks it (RFC 9568 §5.1.1.3)",
	"accept":                     "vipd always accepts packets to the VIPs",
	"no_accept":                  "vipd always accepts packets to the VIPs",
	"kernel_rx_buf_size":         "no vipd equivalent",
	"virtual_routes":             "vipd adds only VIPs",
	"virtual_rules":              "vipd adds only VIPs",
	"track_file":                 "use an exec check",
	"track_process":              "use an exec check",
	"track_bfd":                  "vipd has no BFD",
}

func (c *converter) instance(n *node) (*outInstance, error) {
	in := &outInstance{pos: n.Pos, name: n.arg(0), priority: defaultPriority, version: c.version, advert: defaultAdvertInterval}
	if in.name == "" {
		return nil, syntaxErr(n.Pos, "vrrp_instance needs a name")
	}
	if n.Block == nil {
		return nil, syntaxErr(n.Pos, "vrrp_instance %s has no { block }", in.name)
	}
	var vipNodes, excluded []*node
	var vipBlock, delay, preemptDelay *node
	repeat, refresh := c.garp.repeat, c.garp.refresh
	var tracks, trackIfs []*node
	for _, k := range n.Block {
		var err error
		switch k.Key {
		case "interface":
			in.iface = k.arg(0)
		case "virtual_router_id":
			in.vrid, err = c.intArg(k, 1, 255)
		case "priority":
			in.priority, err = c.intArg(k, 1, 255)
		case "advert_int":
			in.advert, err = c.secondsArg(k)
		case "version":
			in.version, err = c.intArg(k, 2, 3)
		case "state":
			c.note(k.Pos, "state %s: dropped; vipd always starts as Backup and listens for one Master_Down_Interval before it may take over, so a restart never flaps a healthy master; the priorities decide", k.arg(0))
		case "nopreempt":
			in.nopreempt = true
			c.note(k.Pos, "nopreempt → preempt: false")
		case "preempt":
		case "preempt_delay":
			in.preemptDelay, err = c.secondsArg(k)
			preemptDelay = k
		case "authentication":
			err = c.auth(in, k)
		case "virtual_ipaddress":
			vipBlock = k
			vipNodes = append(vipNodes, k.Block...)
		case "virtual_ipaddress_excluded":
			excluded = append(excluded, k.Block...)
		case "unicast_src_ip", "mcast_src_ip":
			in.source, err = c.addrArg(k, k.arg(0))
		case "unicast_peer":
			for _, p := range k.Block {
				a, err := c.addrArg(p, p.Key)
				if err != nil {
					return nil, err
				}
				if len(p.Args) > 0 {
					c.note(p.Pos, "unicast_peer %s %s: dropped the options; vipd checks the TTL is 255 (RFC 9568 §5.1.1.3)", p.Key, strings.Join(p.Args, " "))
				}
				in.peers = append(in.peers, a)
			}
		case "garp_master_delay":
			delay = k
		case "garp_master_repeat":
			repeat = k
		case "garp_master_refresh":
			refresh = k
		case "track_script":
			tracks = append(tracks, k.Block...)
		case "track_interface":
			trackIfs = append(trackIfs, k.Block...)
		case "notify", "notify_master", "notify_backup", "notify_fault", "notify_stop":
			if len(k.Args) == 0 {
				return nil, syntaxErr(k.Pos, "%s needs a command", k.Key)
			}
			for i, key := range notifyKeys {
				if key == k.Key {
					in.notify[i] = splitCommand(strings.Join(k.Args, " "))
				}
			}
			if k.Key == "notify" {
				c.note(k.Pos, "notify → notify: vipd passes keepalived's arguments (INSTANCE NAME STATE PRIORITY), and VIPD_INSTANCE, VIPD_STATE, VIPD_PRIORITY and friends in the environment")
			}
		default:
			why, ok := droppedInInstance[k.Key]
			if !ok {
				why = "not a keyword vipd knows (keepalived ignores unknown keywords too)"
			}
			c.note(k.Pos, "%s: dropped; %s", k.Key, why)
		}
		if err != nil {
			return nil, err
		}
	}
	if in.iface == "" {
		return nil, syntaxErr(n.Pos, "vrrp_instance %s has no interface", in.name)
	}
	if in.vrid == 0 {
		return nil, syntaxErr(n.Pos, "vrrp_instance %s has no virtual_router_id", in.name)
	}
	if len(vipNodes) == 0 {
		pos := n.Pos
		if vipBlock != nil {
			pos = vipBlock.Pos
		}
		return nil, syntaxErr(pos, "vrrp_instance %s has no virtual_ipaddress", in.name)
	}
	for _, v := range vipNodes {
		if err := c.vip(in, v, "virtual_ipaddress"); err != nil {
			return nil, err
		}
	}
	for _, v := range excluded {
		if err := c.vip(in, v, "virtual_ipaddress_excluded"); err != nil {
			return nil, err
		}
	}
	if in.nopreempt && preemptDelay != nil {
		c.note(preemptDelay.Pos, "preempt_delay: dropped; it has no effect with nopreempt")
		in.preemptDelay = 0
	}
	if in.version == 3 && in.authPass != "" {
		c.note(in.pos, "authentication: dropped; VRRPv3 has no authentication (RFC 9568 §9), and keepalived ignores it with version 3 too")
		in.authPass = ""
	}
	if err := c.garpKeys(in, delay, repeat, refresh); err != nil {
		return nil, err
	}
	if err := c.trackScripts(in, tracks); err != nil {
		return nil, err
	}
	if err := c.trackInterfaces(in, trackIfs); err != nil {
		return nil, err
	}
	return in, nil
}

func (c *converter) auth(in *outInstance, a *node) error {
	typ := ""
	var pass *node
	for _, k := range a.Block {
		switch k.Key {
		case "auth_type":
			typ = strings.ToUpper(k.arg(0))
			if typ == "AH" {
				return unsupported(k.Pos, "auth_type AH: vipd has no IPsec AH authentication (RFC 3768 dropped it); remove authentication from every router of this VRID, or use PASS")
			}
			if typ != "PASS" {
				return syntaxErr(k.Pos, "auth_type %q: keepalived takes PASS or AH", k.arg(0))
			}
		case "auth_pass":
			pass = k
		default:
			c.note(k.Pos, "authentication %s: dropped; not a keyword keepalived knows", k.Key)
		}
	}
	if pass == nil {
		if typ != "" {
			return syntaxErr(a.Pos, "authentication PASS without auth_pass")
		}
		return nil
	}
	p := strings.Join(pass.Args, " ")
	if p == "" {
		return syntaxErr(pass.Pos, "auth_pass needs a password")
	}
	if len(p) > 8 {
		// keepalived sends only the first 8 bytes (RFC 2338 §5.3.10): so must we.
		c.note(pass.Pos, "auth_pass %q → %q: keepalived sends only the first 8 bytes, and so does vipd", p, p[:8])
		p = p[:8]
	}
	in.authPass = p
	return nil
}

// vip reads one line of virtual_ipaddress: ADDR[/LEN] [dev IF] [options...].
func (c *converter) vip(in *outInstance, v *node, block string) error {
	s := v.Key
	var a netip.Addr
	if p, err := netip.ParsePrefix(s); err == nil {
		a = p.Addr()
		if p.Bits() != a.BitLen() {
			c.note(v.Pos, "%s %s → %v (vipd adds VIPs as /%d)", block, s, a, a.BitLen())
		}
	} else if a, err = netip.ParseAddr(s); err != nil {
		return syntaxErr(v.Pos, "%s %q: not an IP address", block, s)
	}
	a = a.Unmap()
	var dropped []string
	for i := 0; i < len(v.Args); i++ {
		switch opt := v.Args[i]; opt {
		case "dev":
			if i+1 >= len(v.Args) {
				return syntaxErr(v.Pos, "%s %s: dev needs an interface", block, s)
			}
			dev := v.Args[i+1]
			i++
			if dev != in.iface {
				// A second instance on dev would run its own election there, with
				// other adverts and other peers: not what this config says.
				return unsupported(v.Pos, "%s %s dev %s: vipd adds an instance's VIPs on its interface (%s); give the VIP its own vrrp_instance on %s", block, s, dev, in.iface, dev)
			}
		case "brd", "broadcast", "scope", "label", "peer", "metric", "table":
			if i+1 < len(v.Args) {
				dropped = append(dropped, opt+" "+v.Args[i+1])
				i++
			} else {
				dropped = append(dropped, opt)
			}
		default:
			dropped = append(dropped, opt)
		}
	}
	if len(dropped) > 0 {
		c.note(v.Pos, "%s %s: dropped %s; vipd adds VIPs as /%d with scope global and no label", block, s, strings.Join(dropped, " "), a.BitLen())
	}
	if block == "virtual_ipaddress_excluded" && len(in.vips) > 0 && a.Is6() == in.vips[0].Is6() {
		c.note(v.Pos, "%s %v → vips: vipd lists every VIP of the election's family in its adverts", block, a)
	}
	in.vips = append(in.vips, a)
	return nil
}

func (c *converter) garpKeys(in *outInstance, delay, repeat, refresh *node) error {
	if delay != nil {
		c.note(delay.Pos, "%s: dropped; %s", delay.Key, garpDelayWhy)
	}
	if repeat != nil {
		n, err := c.intArg(repeat, 1, 100)
		if err != nil {
			return err
		}
		in.garpCount = n
		c.note(repeat.Pos, "%s %d → garp.count: %d; keepalived sends them back to back, vipd spaces the rounds by garp.interval (1s)", repeat.Key, n, n)
	}
	if refresh != nil {
		d, err := c.secondsArg(refresh)
		if err != nil {
			return err
		}
		in.garpRefresh = d
	}
	return nil
}

func (c *converter) trackScripts(in *outInstance, tracks []*node) error {
	bump := 0
	for _, t := range tracks {
		s, ok := c.scripts[t.Key]
		if !ok {
			return syntaxErr(t.Pos, "track_script %s: no vrrp_script of that name", t.Key)
		}
		s.used = true
		w, hasW := s.weight, s.hasW
		if t.arg(0) == "weight" {
			tn := &node{Pos: t.Pos, Key: "weight", Args: t.Args[1:]}
			var err error
			if w, err = c.intArg(tn, -254, 254); err != nil {
				return err
			}
			if tn.arg(1) == "reverse" {
				return unsupported(t.Pos, "track_script %s weight %d reverse: vipd has no reversed weights", t.Key, w)
			}
			hasW = true
		} else if len(t.Args) > 0 {
			return syntaxErr(t.Pos, "track_script %s %s: want NAME [weight N]", t.Key, strings.Join(t.Args, " "))
		}
		ch := outCheck{name: s.name, exec: s.command, interval: s.interval, timeout: s.timeout, rise: s.rise, fall: s.fall}
		switch {
		case !hasW || w == 0:
			c.note(t.Pos, "track_script %s: weight 0 → a fault check: while it fails the instance is in FAULT, as in keepalived", s.name)
		case w < 0:
			ch.weight = -w
		default:
			ch.weight = w
			bump += w
		}
		c.apiserver(&ch, s, t.Pos)
		in.checks = append(in.checks, ch)
	}
	return c.applyBump(in, bump, "track_script")
}

func (c *converter) trackInterfaces(in *outInstance, ifs []*node) error {
	bump := 0
	for _, t := range ifs {
		oi := outIface{name: t.Key}
		if t.arg(0) == "weight" {
			tn := &node{Pos: t.Pos, Key: "weight", Args: t.Args[1:]}
			w, err := c.intArg(tn, -254, 254)
			if err != nil {
				return err
			}
			if tn.arg(1) == "reverse" {
				return unsupported(t.Pos, "track_interface %s weight %d reverse: vipd has no reversed weights", t.Key, w)
			}
			if w < 0 {
				oi.weight = -w
			} else {
				oi.weight = w
				bump += w
			}
		} else if len(t.Args) > 0 {
			return syntaxErr(t.Pos, "track_interface %s %s: want IF [weight N]", t.Key, strings.Join(t.Args, " "))
		}
		if oi.weight == 0 {
			c.note(t.Pos, "track_interface %s: no weight → a fault check: while %s is down the instance is in FAULT, as in keepalived", t.Key, t.Key)
		}
		in.ifaces = append(in.ifaces, oi)
	}
	return c.applyBump(in, bump, "track_interface")
}

// applyBump turns keepalived's positive weights (added while the check
// succeeds) into vipd's penalties (taken off while it fails): the same
// effective priority when healthy, base + weights, capped at 254.
func (c *converter) applyBump(in *outInstance, bump int, what string) error {
	if bump == 0 {
		return nil
	}
	if in.priority == 255 {
		return unsupported(in.pos, "vrrp_instance %s: priority 255 (the address owner) with positive %s weights: the owner's priority does not move; lower the priority or drop the weights", in.name, what)
	}
	p := min(in.priority+bump, maxPriority)
	msg := fmt.Sprintf("priority %d → %d: keepalived adds the positive %s weights (%d) while the checks succeed, vipd takes each check's weight off while it fails", in.priority, p, what, bump)
	if in.priority+bump > maxPriority {
		msg += fmt.Sprintf(" (capped at %d, as keepalived caps it)", maxPriority)
	}
	c.note(in.pos, "%s", msg)
	in.priority = p
	return nil
}
