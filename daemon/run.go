package daemon

import (
	"context"
	"errors"
	"fmt"
	"github.com/vipd/vipd/config"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/vipd/vipd/arp"
	"github.com/vipd/vipd/control"
	"github.com/vipd/vipd/netlink"
	"github.com/vipd/vipd/vrrp"
)

// vipTable is everything Run needs from netlink, satisfied by *netlink.Handle.
type vipTable interface {
	addrTable
	linkWatcher
	Stale(ifindex int) ([]netip.Addr, error)
}

// system is the OS as Run sees it; tests replace it.
type system struct {
	iface         func(name string) (*net.Interface, []netip.Prefix, error)
	vips          vipTable
	listen        func(vrrp.ConnConfig) (packetConn, error)
	dialAnnouncer func(*net.Interface) (announcer, error)
	newChecks     func(in *config.Instance) (penaltySource, error)
	listenControl func(path string) (net.Listener, error)
	listenMetrics func(addr string) (net.Listener, error)
	serveMetrics  func(ctx context.Context, l net.Listener, src control.Source, alive func() bool) error
}

// Run runs every configured instance until ctx ends, then hands each VIP off
// (a priority-0 advert) and removes it. Errors caused by bad input wrap config.ErrConfig.
func Run(ctx context.Context, cfg *config.Config, log *slog.Logger) error {
	nl, err := netlink.Open()
	if err != nil {
		return fmt.Errorf("daemon: %w", err)
	}
	defer nl.Close()
	return run(ctx, cfg, log, system{
		iface: interfaceByName,
		vips:  nl,
		listen: func(c vrrp.ConnConfig) (packetConn, error) {
			return vrrp.Listen(c)
		},
		dialAnnouncer: func(ifi *net.Interface) (announcer, error) { return arp.Dial(ifi) },
		newChecks:     newHealthChecks,
		listenControl: control.Listen,
		listenMetrics: func(addr string) (net.Listener, error) { return net.Listen("tcp", addr) },
		serveMetrics:  serveMetrics,
	})
}

func interfaceByName(name string) (*net.Interface, []netip.Prefix, error) {
	ifi, err := net.InterfaceByName(name)
	if err != nil {
		return nil, nil, err
	}
	addrs, err := ifi.Addrs()
	if err != nil {
		return nil, nil, err
	}
	var out []netip.Prefix
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok {
			ip, _ := netip.AddrFromSlice(n.IP)
			ones, _ := n.Mask.Size()
			out = append(out, netip.PrefixFrom(ip.Unmap(), ones))
		}
	}
	return ifi, out, nil
}

func run(ctx context.Context, cfg *config.Config, log *slog.Logger, sys system) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	rs := make([]resolved, len(cfg.Instances))
	for i := range cfg.Instances {
		r, err := resolve(cfg.Instances[i], sys.iface)
		if err != nil {
			return err
		}
		rs[i] = r
	}
	log.Info("vipd starting", "version", control.Version, "instances", len(rs))

	// Whatever happens from here on, no VIP of ours is left behind.
	defer sweep(rs, sys.vips, log)
	if err := cleanStale(rs, sys.vips, log); err != nil {
		return err
	}

	ctl, err := sys.listenControl(cfg.ControlSocket)
	if err != nil {
		if errors.Is(err, control.ErrInUse) {
			return config.NewFieldError("--control-socket", "stop the other vipd, or give this one its own --control-socket", "%v", err)
		}
		return fmt.Errorf("daemon: %w", err)
	}
	defer ctl.Close()
	var ml net.Listener
	if cfg.MetricsAddress != "" && sys.listenMetrics != nil {
		if ml, err = sys.listenMetrics(cfg.MetricsAddress); err != nil {
			return config.NewFieldError("--metrics-address", "give a free HOST:PORT such as 127.0.0.1:9440", "%v", err)
		}
		defer ml.Close()
	}

	instances := make([]*instance, 0, len(rs))
	defer func() {
		// Instances that never ran still hold open sockets.
		for _, in := range instances {
			in.conn.Close()
			in.ann.Close()
		}
	}()
	for _, r := range rs {
		in, err := openInstance(ctx, r, log.With("instance", r.Name, "vrid", r.VRID, "interface", r.Interface), sys)
		if err != nil {
			return err
		}
		instances = append(instances, in)
	}

	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errs := make([]error, len(instances))
	alive := make([]bool, len(instances))
	var aliveMu sync.Mutex
	for i, in := range instances {
		alive[i] = true
		wg.Go(func() {
			errs[i] = in.run(runCtx)
			aliveMu.Lock()
			alive[i] = false
			aliveMu.Unlock()
			if errs[i] != nil {
				in.log.Error("instance stopped", "err", errs[i])
				cancel()
			}
		})
	}
	src := func(ctx context.Context) (control.Status, error) {
		st := control.Status{Version: control.Version, Instances: []control.Instance{}}
		ctx, done := context.WithTimeout(ctx, 2*time.Second)
		defer done()
		for _, in := range instances {
			s, err := in.status(ctx)
			if err != nil {
				return st, err
			}
			st.Instances = append(st.Instances, s)
		}
		return st, nil
	}
	wg.Go(func() {
		if err := control.Serve(runCtx, ctl, control.Handler(src)); err != nil {
			log.Error("control socket stopped", "err", err)
		}
	})
	if ml != nil {
		isAlive := func() bool {
			aliveMu.Lock()
			defer aliveMu.Unlock()
			return !slices.Contains(alive, false)
		}
		wg.Go(func() {
			if err := sys.serveMetrics(runCtx, ml, src, isAlive); err != nil {
				log.Error("metrics server stopped", "err", err)
				cancel()
			}
		})
	}
	wg.Wait()
	instances = nil // closed by their own run
	log.Info("vipd stopped")
	return errors.Join(errs...)
}

// openInstance opens the OS resources of one instance. An IPv6 link-local source
// can be tentative for a moment after the link comes up (duplicate address
// detection), so binding to it is retried briefly.
func openInstance(ctx context.Context, r resolved, log *slog.Logger, sys system) (*instance, error) {
	cc := vrrp.ConnConfig{Interface: r.ifi, Family: r.Family(), Source: r.source, Peers: r.Peers}
	var conn packetConn
	var err error
	for deadline := time.Now().Add(5 * time.Second); ; {
		conn, err = sys.listen(cc)
		if err == nil || !errors.Is(err, syscall.EADDRNOTAVAIL) || time.Now().After(deadline) || ctx.Err() != nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		return nil, fmt.Errorf("daemon: instance %s: opening the VRRP socket on %s: %w", r.Name, r.Interface, err)
	}
	ann, err := sys.dialAnnouncer(r.ifi)
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("daemon: instance %s: opening the announcer on %s: %w", r.Name, r.Interface, err)
	}
	var checks penaltySource
	if len(r.Checks) > 0 && sys.newChecks != nil {
		if checks, err = sys.newChecks(&r.Instance); err != nil {
			conn.Close()
			ann.Close()
			return nil, err
		}
	}
	in, err := newInstance(r, log, conn, ann, sys.vips, sys.vips, checks)
	if err != nil {
		conn.Close()
		ann.Close()
		return nil, err
	}
	return in, nil
}

// resolve binds an instance to its interface and picks its source address.
func resolve(in config.Instance, iface func(string) (*net.Interface, []netip.Prefix, error)) (resolved, error) {
	r := resolved{Instance: in}
	ifi, prefixes, err := iface(in.Interface)
	if err != nil {
		return r, config.NewFieldError(in.Field("interface"), "list the interfaces with `ip link`", "%q: %v", in.Interface, err)
	}
	r.ifi = ifi
	has := func(a netip.Addr) bool {
		return slices.ContainsFunc(prefixes, func(p netip.Prefix) bool { return p.Addr() == a })
	}
	if in.Priority == 255 {
		for _, v := range in.VIPs {
			if !has(v) {
				return r, config.NewFieldError(in.Field("priority"), "use 1–254; 255 is only for the owner of the address (RFC 9568 §1.6)",
					"255 means %s owns %v, but it has no such address", in.Interface, v)
			}
		}
		r.owner = true
	}
	fam := in.Family()
	if in.Source.IsValid() {
		if !has(in.Source) {
			return r, config.NewFieldError(in.Field("source"), "give one of the interface's own addresses (`ip addr show "+in.Interface+"`)",
				"%v is not an address of %s", in.Source, in.Interface)
		}
		r.source = in.Source
		return r, nil
	}
	// Prefer an address with a real prefix over a /32 or /128, which may be a VIP of
	// another instance or one left behind.
	for _, hostRoutes := range []bool{false, true} {
		for _, p := range prefixes {
			a := p.Addr()
			if r.source.IsValid() || (p.Bits() == a.BitLen()) != hostRoutes {
				continue
			}
			switch {
			case fam == 4 && a.Is4() && (r.owner || !slices.Contains(in.VIPs, a)):
				r.source = a
			case fam == 6 && a.Is6() && a.IsLinkLocalUnicast():
				r.source = a.WithZone("")
			}
		}
	}
	if !r.source.IsValid() {
		fix := "add an IPv4 address to " + in.Interface + ", or give --source"
		if fam == 6 {
			fix = "bring " + in.Interface + " up with IPv6 enabled so that it has a link-local (fe80::) address"
		}
		return r, config.NewFieldError(in.Field("interface"), fix, "no usable IPv%d source address on %s", fam, in.Interface)
	}
	return r, nil
}

// cleanStale removes VIPs that an earlier vipd left marked on our interfaces (after
// kill -9, say), and any configured VIP found there: this host starts as Backup, and
// a VIP on a Backup makes two hosts answer for it.
func cleanStale(rs []resolved, vips vipTable, log *slog.Logger) error {
	done := map[int]bool{}
	for _, r := range rs {
		idx := r.ifi.Index
		if !done[idx] {
			done[idx] = true
			stale, err := vips.Stale(idx)
			if err != nil {
				return fmt.Errorf("daemon: listing stale VIPs on %s: %w", r.Interface, err)
			}
			for _, a := range stale {
				if owned(rs, idx, a) {
					continue
				}
				log.Warn("removing a stale VIP left by an earlier vipd", "interface", r.Interface, "vip", a.String())
				if err := vips.DelVIP(idx, a); err != nil {
					return fmt.Errorf("daemon: removing stale VIP %v from %s: %w", a, r.Interface, err)
				}
			}
		}
		if r.owner {
			continue
		}
		for _, v := range r.VIPs {
			ok, err := vips.HasVIP(idx, v)
			if err != nil {
				return fmt.Errorf("daemon: reading addresses of %s: %w", r.Interface, err)
			}
			if ok {
				log.Warn("VIP already on the interface before election; removing it", "interface", r.Interface, "vip", v.String())
				if err := vips.DelVIP(idx, v); err != nil {
					return fmt.Errorf("daemon: removing %v from %s: %w", v, r.Interface, err)
				}
			}
		}
	}
	return nil
}

func owned(rs []resolved, idx int, a netip.Addr) bool {
	for _, r := range rs {
		if r.owner && r.ifi.Index == idx && slices.Contains(r.VIPs, a) {
			return true
		}
	}
	return false
}

// sweep removes every non-owned VIP once more on the way out. Instances remove
// theirs on shutdown; this covers the paths where one never ran.
func sweep(rs []resolved, vips vipTable, log *slog.Logger) {
	for _, r := range rs {
		if r.owner {
			continue
		}
		for _, v := range r.VIPs {
			if err := vips.DelVIP(r.ifi.Index, v); err != nil {
				log.Error("removing VIP on exit", "vip", v.String(), "err", err)
			}
		}
	}
}
