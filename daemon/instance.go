package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"time"

	"github.com/vipd/vipd/config"
	"github.com/vipd/vipd/control"
	"github.com/vipd/vipd/election"
	"github.com/vipd/vipd/netlink"
	"github.com/vipd/vipd/vrrp"
)

// packetConn is the VRRP socket, satisfied by *vrrp.Conn.
type packetConn interface {
	Read(b []byte) (vrrp.Packet, error)
	WriteTo(payload []byte, dst netip.Addr) error
	Destinations() []netip.Addr
	Close() error
}

// announcer sends gratuitous ARP or unsolicited NA, satisfied by *arp.Announcer.
type announcer interface {
	Announce(addr netip.Addr) error
	SetHardwareAddr(mac net.HardwareAddr) error
	Close() error
}

// addrTable adds and removes VIPs, satisfied by *netlink.Handle.
type addrTable interface {
	AddVIP(ifindex int, addr netip.Addr) error
	DelVIP(ifindex int, addr netip.Addr) error
	HasVIP(ifindex int, addr netip.Addr) (bool, error)
	Stale(ifindex int) ([]netip.Addr, error)
}

// linkWatcher finds an interface by name and reports its changes, satisfied by
// *netlink.Handle. The interface may not exist yet, may be deleted and created
// again with another index, and may change its MAC and addresses: the instance
// re-reads it with Lookup on every Update.
type linkWatcher interface {
	LinkByName(name string) (netlink.LinkState, []netip.Prefix, error)
	WatchName(ctx context.Context, name string) (<-chan netlink.Update, error)
}

// penaltySource is a running set of health checks, satisfied by trackerChecks.
// Changes carries the penalty of failing checks; FaultChanges whether a
// fault check (weight 0) is down, which puts the instance in FAULT.
type penaltySource interface {
	Run(ctx context.Context) error
	Changes() <-chan int
	Penalty() int
	FaultChanges() <-chan bool
	Fault() (bool, string)
	// Confirm probes the checks that are up once, now, without recording:
	// whether they still pass (before preempting a live master).
	Confirm(ctx context.Context) (bool, error)
	Status() []control.Check
}

// osDeps is how an instance reaches the OS; tests give fakes.
type osDeps struct {
	addrs  addrTable
	links  linkWatcher
	listen func(vrrp.ConnConfig) (packetConn, error)
	dial   func(*net.Interface) (announcer, error)
	// liveVIPs lists marked VIPs on an interface that other live vipd
	// processes hold (see lock.go); nil means none.
	liveVIPs func(ifname string) []netip.Addr
	// reg knows every VIP of this process, whichever instance: never
	// stale. nil in tests of one instance.
	reg *registry
	// checks builds health checks (a reload replaces them); nil: none.
	checks func(*config.Instance, *slog.Logger) (penaltySource, error)
	// watch opens the ARP/ND watcher of conflict detection (issue 13,
	// conflicts.go); nil: none.
	watch func(ifi *net.Interface, family int) (addrWatcher, error)
	// timer opens the deadline's timerfd (timer.go); nil: the runtime's
	// timers (what testing/synctest needs).
	timer func() (*fdTimer, error)
}

// ours reports whether a is a VIP of any instance of this process.
func (d osDeps) ours(a netip.Addr) bool { return d.reg != nil && d.reg.has(a) }

// setOurs records the VIPs of an instance after a reload.
func (d osDeps) setOurs(name string, vips []netip.Addr) {
	if d.reg != nil {
		d.reg.setVIPs(name, vips)
	}
}

// binding is the instance's view of its interface, re-read from the kernel on
// every change. The zero binding is "no interface".
type binding struct {
	ifi    *net.Interface
	up     bool
	source netip.Addr
	// fault is why the interface cannot be used yet (interface-missing,
	// no-source-address), or FaultNone when it can.
	fault election.FaultCause
	// problem says what is missing, for status and logs.
	problem string
}

// instance is one running VRRP virtual router. Only its run goroutine touches its
// state; statusc carries status requests in, crash carries panics of its helper
// goroutines in.
type instance struct {
	cfg    config.Instance
	log    *slog.Logger
	os     osDeps
	checks penaltySource // nil without health checks
	hooks  *hookRunner   // nil without notify commands
	// notified is the state the notify commands were last told of.
	notified election.State

	m    *election.Machine
	msrc netip.Addr // the source address m was built with
	bind binding
	conn packetConn // nil while unbound
	ann  announcer  // nil while unbound
	gen  int        // binding generation: packets of an older socket are dropped

	expect vrrp.Expect
	form   vrrp.ChecksumForm
	advert vrrp.Advertisement
	buf    []byte

	penalty    int
	checkFault string              // the fault checks that are down; "" when none
	unheld     map[netip.Addr]bool // VIPs the last add could not add: not announced
	// ownerAddr is the address owner heard on the link (owner.go);
	// acceptLocalSet says vipd turned accept_local on for it.
	ownerAddr      netip.Addr
	acceptLocalSet bool
	pending        []election.Event // events raised while carrying out actions
	deadline       deadlineTimer    // the machine's next deadline (timer.go)
	timerBroken    bool             // noteTimerBroken has logged
	resub          *time.Timer      // re-subscribing to link updates after a failure
	retry          *time.Timer      // binding again after sockets failed to open
	stopped        chan struct{}    // closed when run returns

	// ctx and spawn are set by run: the context of the instance's goroutines,
	// and how to start one so that its panic reaches the loop.
	ctx   context.Context
	spawn func(where string, f func())

	pkts    chan packet
	readErr chan readFailure
	crash   chan crashReport
	statusc chan chan control.Instance
	ctrlc   chan ctrlRequest
	reconf  chan reconfRequest
	// confirmed carries the outcome of a confirmation probe (ActConfirm).
	confirmed chan confirmation
	// checksStop ends the running checks (a reload replaces them).
	checksStop context.CancelFunc
	// maintenance is the maintenance mode asked for (persisted; read at
	// start): every machine the instance builds gets it.
	maintenance bool

	counters
	peers peerTable

	// The allocation-free receive path and the lazy deadline (issue 12;
	// receive.go, sockets.go, loop.go armDeadline).
	verdict vrrp.Verdict // scratch of receive: its address array is reused
	armed   time.Time    // when deadline is set to fire; zero when stopped

	// Conflict detection (issue 13; conflicts.go): the table; the watcher of
	// binding generation watchGen (nil while unbound, or if it failed) and
	// the MAC it was given; sightings carries its reports to the loop.
	// Detection reports only: nothing here reaches the machine.
	conflicts *detector
	watcher   addrWatcher
	watchGen  int
	watchMAC  net.HardwareAddr
	sightings chan watchReport
}

// counters are what status and metrics report.
type counters struct {
	sent, sendErrors, received, mismatches, announcements, announceErrors uint64
	addErrors, removeErrors                                               uint64
	drops, transitions                                                    map[string]uint64
	// forms counts accepted adverts by vrrp.ChecksumForm: an array, so that
	// an accepted advert hashes no string (issue 12).
	forms    [3]uint64
	lastSent time.Time
	lastErr  string
}

// pktQueue is how many packets an instance's loop may be behind its
// socket's reader before they are dropped (queue_full): 160 ms of adverts
// from one router at 10 ms, 50 ms from three. It was 64: 7 KB per VRID
// (issue 12) for a queue that is empty at every advert.
const pktQueue = 16

// packet is one read from the socket of binding generation gen.
type packet struct {
	gen int
	p   vrrp.Packet
	buf *rxBuf // holds p.Payload; the loop releases it (sockets.go)
}

type readFailure struct {
	gen int
	err error
}

// crashReport is a panic in one of the instance's goroutines.
type crashReport struct {
	where string
	value any
	stack string
}

func newInstance(cfg config.Instance, log *slog.Logger, deps osDeps, checks penaltySource) (*instance, error) {
	form := vrrp.ChecksumPseudoHeader
	if cfg.Checksum == config.ChecksumMessageOnly && cfg.Family() == 4 {
		form = vrrp.ChecksumMessageOnly
	}
	vips := cfg.ElectionVIPs()
	// VRRPv2 simple text password (RFC 2338 §5.3.6): a guard against
	// misconfiguration, not against an attacker on the link.
	authType, auth := vrrp.AuthTypeNone, [vrrp.AuthDataLen]byte{}
	if cfg.AuthPass != "" {
		var err error
		if auth, err = vrrp.AuthPassword(cfg.AuthPass); err != nil {
			return nil, config.NewFieldError(cfg.Field("auth-pass"), "give at most 8 bytes, as keepalived does", "%v", err)
		}
		authType = vrrp.AuthTypePassword
	}
	in := &instance{
		cfg: cfg, log: log, os: deps, checks: checks,
		expect: vrrp.Expect{
			Version:   cfg.Version,
			VRID:      uint8(cfg.VRID),
			Interval:  cfg.AdvertInterval,
			Addresses: vips,
			Peers:     cfg.Peers,
			AuthType:  authType,
			AuthData:  auth,
		},
		form: form,
		advert: vrrp.Advertisement{
			Version:   cfg.Version,
			Type:      vrrp.TypeAdvertisement,
			VRID:      uint8(cfg.VRID),
			Interval:  cfg.AdvertInterval,
			Addresses: vips,
			AuthType:  authType,
			AuthData:  auth,
		},
		// The advert's own length (header, addresses, v2 authentication),
		// not vrrp.MaxLen: 4 KB per VRID otherwise (issue 12).
		buf:       make([]byte, 0, 16+16*len(vips)),
		deadline:  newRuntimeTimer(),
		resub:     newStoppedTimer(),
		retry:     newStoppedTimer(),
		stopped:   make(chan struct{}),
		pkts:      make(chan packet, pktQueue),
		readErr:   make(chan readFailure, 4),
		crash:     make(chan crashReport, 4),
		statusc:   make(chan chan control.Instance),
		ctrlc:     make(chan ctrlRequest),
		reconf:    make(chan reconfRequest),
		confirmed: make(chan confirmation, 1),
		counters: counters{
			drops:       map[string]uint64{},
			transitions: map[string]uint64{},
		},
		peers:  newPeerTable(maxPeers),
		unheld: map[netip.Addr]bool{},
		// Issue 13: conflict detection.
		conflicts: newDetector(log, instanceConfig{vrid: cfg.VRID, peers: cfg.Peers}),
		sightings: make(chan watchReport, 16),
	}
	// The machine is built for the source address that is not known until the
	// interface is; until then it has the family's unspecified address and
	// stays in Fault.
	unspec := netip.IPv4Unspecified()
	if cfg.Family() == 6 {
		unspec = netip.IPv6Unspecified()
	}
	m, err := in.newMachine(unspec)
	if err != nil {
		return nil, err
	}
	in.m, in.msrc = m, unspec
	if cmds := hookCommandsOf(&cfg); !cmds.Empty() {
		in.hooks = newHooks(cmds, log)
	}
	return in, nil
}

func (in *instance) newMachine(source netip.Addr) (*election.Machine, error) {
	m, err := election.New(election.Config{
		Version:          in.cfg.Version,
		Priority:         uint8(in.cfg.Priority),
		AdvertInterval:   in.cfg.AdvertInterval,
		Preempt:          in.cfg.Preempt,
		PreemptDelay:     in.cfg.PreemptDelay,
		Address:          source,
		AnnounceCount:    in.cfg.AnnounceCount,
		AnnounceInterval: in.cfg.AnnounceInterval,
		AnnounceRefresh:  in.cfg.AnnounceRefresh,
		ConfirmPreempt:   len(in.cfg.Checks) > 0,
		ConfirmTimeout:   confirmTimeout(in.cfg),
		AlignAdverts:     true, // issue 12: one wake-up per interval, whatever the VRIDs
	})
	if err != nil {
		return nil, fmt.Errorf("daemon: instance %s: %w", in.cfg.Name, err)
	}
	return m, nil
}

// owner reports whether this router owns its VIPs (priority 255): they are the
// interface's own addresses, and vipd never adds or removes them.
func (in *instance) owner() bool { return in.cfg.Priority == int(election.PriorityOwner) }

func newStoppedTimer() *time.Timer {
	t := time.NewTimer(time.Hour)
	t.Stop()
	return t
}

// confirmTimeout is how long a confirmation probe may take: the longest check
// timeout, and a margin.
func confirmTimeout(cfg config.Instance) time.Duration {
	var d time.Duration
	for i := range cfg.Checks {
		d = max(d, cfg.Checks[i].Spec().Timeout)
	}
	return d + 500*time.Millisecond
}
