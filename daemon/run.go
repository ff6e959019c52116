package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/vipd/vipd/arp"
	"github.com/vipd/vipd/config"
	"github.com/vipd/vipd/control"
	"github.com/vipd/vipd/netlink"
	"github.com/vipd/vipd/vrrp"
)

// vipTable is everything Run needs from netlink, satisfied by *netlink.Handle.
type vipTable interface {
	addrTable
	linkWatcher
}

// system is the OS as Run sees it; tests replace it.
type system struct {
	vips          vipTable
	listen        func(vrrp.ConnConfig) (packetConn, error)
	dialAnnouncer func(*net.Interface) (announcer, error)
	newChecks     func(in *config.Instance, log *slog.Logger) (penaltySource, error)
	listenControl func(path string) (net.Listener, error)
	listenMetrics func(addr string) (net.Listener, error)
	serveMetrics  func(ctx context.Context, l net.Listener, src control.Source, alive func() bool) error
	// socketDrops are the packets the shared sockets dropped before any
	// instance saw them (a VRID nobody here serves); nil: none.
	socketDrops func() []socketDrops
	// features reports what the running kernel supports; nil skips the check.
	features func() (netlink.Kernel, error)
	// watch opens an interface's ARP/ND watcher (issue 13); nil: none.
	watch func(ifi *net.Interface, family int) (addrWatcher, error)
	// timer opens an instance's deadline timer (timer.go); nil: the
	// runtime's timers.
	timer func() (*fdTimer, error)
}

// Run runs every configured instance until ctx ends, then hands each VIP off
// (a priority-0 advert) and removes it. Errors caused by bad input wrap
// config.ErrConfig. An interface that does not exist yet, or has no address
// yet, is not bad input: its instance waits in FAULT and joins when it can.
func Run(ctx context.Context, cfg *config.Config, log *slog.Logger, reload ...Reload) error {
	nl, err := netlink.Open()
	if err != nil {
		return fmt.Errorf("daemon: %w", err)
	}
	defer nl.Close()
	sockets := newSocketTable(openVRRPSocket)
	// One link subscription per interface name, one announcer per index (linkhub.go).
	links := newLinkHub(nl)
	anns := newAnnouncerTable(func(ifi *net.Interface) (announcer, error) { return arp.Dial(ifi) })
	return run(ctx, cfg, log, system{
		vips:          hubTable{Handle: nl, hub: links},
		listen:        sockets.listen, // one socket per interface (sockets.go)
		socketDrops:   sockets.interfaceDrops,
		dialAnnouncer: anns.dial,
		watch:         openWatcher, // issue 13: conflict detection
		newChecks:     newHealthChecks,
		listenControl: control.Listen,
		listenMetrics: func(addr string) (net.Listener, error) { return net.Listen("tcp", addr) },
		serveMetrics:  serveMetrics,
		features:      netlink.Features,
		timer:         openFDTimer, // issue 12: no sysmon wake-up per deadline
	}, reload...)
}

func run(ctx context.Context, cfg *config.Config, log *slog.Logger, sys system, reload ...Reload) error {
	var rl Reload
	if len(reload) > 0 {
		rl = reload[0]
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	log.Info("vipd starting", "version", control.Version, "instances", len(cfg.Instances))
	if sys.features != nil {
		if k, err := sys.features(); err == nil {
			logFeatures(log, k)
		}
	}

	// Prove this is the only copy serving these virtual routers before any
	// address is touched: a second vipd must never delete the live one's VIP.
	locks, err := lockInstances(cfg.StateDir, cfg.Instances)
	if err != nil {
		return err
	}

	ctl, err := sys.listenControl(cfg.ControlSocket)
	if err != nil {
		unlockAll(locks)
		if errors.Is(err, control.ErrInUse) {
			return config.NewFieldError("--control-socket", "stop the other vipd, or give this one its own --control-socket", "%v", err)
		}
		if errors.Is(err, control.ErrNotSocket) {
			return config.NewFieldError("--control-socket", "give a path for the socket that nothing else uses, such as "+control.DefaultSocket, "%v", err)
		}
		return fmt.Errorf("daemon: %w", err)
	}
	defer ctl.Close()

	state, err := loadState(cfg.StateDir)
	if err != nil {
		unlockAll(locks)
		return config.NewFieldError("--state-dir", "fix or remove the file; vipctl maintenance on|off writes it again", "%v", err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	reg := newRegistry(cfg.StateDir, log, sys, runCtx, cancel)
	defer reg.unlockAll()
	prepared := make([]*managed, 0, len(cfg.Instances))
	for i, c := range cfg.Instances {
		m, err := reg.prepare(c, locks[i], slices.Contains(state.Maintenance, stateKey(c.Name)))
		if err != nil {
			for _, p := range prepared {
				p.lock.release()
			}
			for _, l := range locks[i:] {
				l.release()
			}
			return err
		}
		prepared = append(prepared, m)
	}
	// Whatever happens from here on, no VIP of ours is left behind.
	defer func() { sweepOnExit(reg.all(), log) }()
	for _, m := range prepared {
		reg.start(m)
	}

	var wg sync.WaitGroup
	src := func(ctx context.Context) (control.Status, error) {
		st := control.Status{Version: control.Version, Instances: []control.Instance{}, Reloads: reg.reloads(), Interfaces: []control.Interface{}}
		if sys.socketDrops != nil {
			for _, d := range sys.socketDrops() {
				st.Interfaces = append(st.Interfaces, control.Interface{Name: d.Interface, Family: fmt.Sprintf("ipv%d", d.Family), Drops: d.Drops})
			}
			slices.SortFunc(st.Interfaces, func(a, b control.Interface) int {
				return strings.Compare(a.Name+a.Family, b.Name+b.Family)
			})
		}
		ctx, done := context.WithTimeout(ctx, 2*time.Second)
		defer done()
		for _, in := range reg.all() {
			s, err := in.status(ctx)
			if err != nil {
				return st, err
			}
			st.Instances = append(st.Instances, s)
		}
		return st, nil
	}
	ops := &operator{log: log, stateDir: cfg.StateDir, reg: reg}
	// The servers are views: their failure (or panic) is logged and retried,
	// never a reason to stop holding the VIP.
	wg.Go(func() {
		serveForever(runCtx, log, "control socket", func(ctx context.Context) error {
			return control.Serve(ctx, ctl, control.Handler(src, ops))
		})
	})
	if cfg.MetricsAddress != "" && sys.listenMetrics != nil {
		wg.Go(func() {
			serveForever(runCtx, log, "metrics server", func(ctx context.Context) error {
				ml, err := sys.listenMetrics(cfg.MetricsAddress)
				if err != nil {
					return fmt.Errorf("listening on %s: %w", cfg.MetricsAddress, err)
				}
				defer ml.Close()
				return sys.serveMetrics(ctx, ml, src, reg.alive)
			})
		})
	}
	if rl.C != nil {
		wg.Go(func() { reg.reloadLoop(runCtx, cfg, rl) })
	}
	<-runCtx.Done()
	errs := reg.wait()
	wg.Wait()
	log.Info("vipd stopped")
	return errors.Join(errs...)
}

// serveForever runs serve until ctx ends, restarting it after an error or a
// panic with a growing pause.
func serveForever(ctx context.Context, log *slog.Logger, what string, serve func(context.Context) error) {
	pause := time.Second
	for ctx.Err() == nil {
		err := func() (err error) {
			defer func() {
				if r := recover(); r != nil {
					err = fmt.Errorf("internal error: %v\n%s", r, debug.Stack())
				}
			}()
			return serve(ctx)
		}()
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			err = errors.New("stopped")
		}
		log.Error(what+" failed; restarting it", "err", err, "in", pause)
		select {
		case <-ctx.Done():
			return
		case <-time.After(pause):
		}
		pause = min(2*pause, time.Minute)
	}
}

// logFeatures says what the running kernel lacks and what that costs.
func logFeatures(log *slog.Logger, k netlink.Kernel) {
	for _, f := range k.Missing() {
		log.Warn("kernel may lack a feature vipd uses", "kernel", k.Release, "feature", f.Name,
			"since", "Linux "+f.Since.String(), "support", f.Support.String(), "without_it", f.Without)
	}
}

// sweepOnExit removes every non-owned VIP once more on the way out. Instances
// remove theirs on shutdown; this covers the paths where one never ran or
// crashed halfway.
func sweepOnExit(instances []*instance, log *slog.Logger) {
	for _, in := range instances {
		if in.owner() {
			continue
		}
		l, _, err := in.os.links.LinkByName(in.cfg.Interface)
		if err != nil {
			continue // the interface is gone, and its addresses with it
		}
		for _, v := range in.cfg.VIPs {
			if err := in.os.addrs.DelVIP(l.Index, v); err != nil {
				log.Error("removing VIP on exit", "vip", v.String(), "err", err)
			}
		}
	}
}
