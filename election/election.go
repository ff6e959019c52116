package election

import (
	"errors"
	"fmt"
	"net/netip"
	"time"
)

// State is a VRRP router state (RFC 9568 §6.4). RFC 9568 calls Master the
// Active Router; the names here follow the state machine of §6.4.
type State uint8

const (
	// Initialize waits for EventStartup (RFC 9568 §6.4.1). A Machine is in
	// Initialize before EventStartup and after EventShutdown, and only
	// EventStartup leaves it: fault events are remembered there, not acted
	// on.
	Initialize State = iota
	// Backup monitors the Master (RFC 9568 §6.4.2).
	Backup
	// Master holds the virtual addresses and advertises (RFC 9568 §6.4.3).
	Master
	// Fault means the router is started but its interface is unusable
	// (Status.Reason says why: ReasonLinkDown, ReasonInterfaceMissing,
	// ReasonNoSourceAddress): no adverts are sent or accepted and the
	// virtual addresses are not held. EventFault enters it from Backup and
	// Master, EventStartup from Initialize when a fault was reported before,
	// and EventLinkUp leaves it as EventStartup would. It is not an RFC 9568
	// state; RFC 9568 §6.4 leaves interface failure to the implementation.
	Fault
	// Handoff is a Master giving its role up on purpose (EventShutdown,
	// EventResign): it has sent its priority 0 advert and is silent (no
	// adverts, no announcements) but keeps the virtual addresses, so that
	// clients still reach it, until it hears the new Master's advert, which
	// that Master sends only after it has added and announced the
	// addresses (becomeMaster). It then removes them at once. If no advert
	// comes within Master_Down_Interval no other router is there: a
	// shutdown removes the addresses then, a resignation goes back to
	// Master. Not an RFC 9568 state: RFC 9568 §6.4.3 removes the addresses
	// with the priority 0 advert, which costs clients Skew_Time. See
	// docs/design.md, "Make before break".
	Handoff
)

var stateNames = [...]string{
	Initialize: "INIT",
	Backup:     "BACKUP",
	Master:     "MASTER",
	Fault:      "FAULT",
	Handoff:    "HANDOFF",
}

func (s State) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return fmt.Sprintf("State(%d)", s)
}

// Reason says why the last transition happened. Its String is stable
// kebab-case, fit for logs, metrics labels and the status document.
type Reason uint8

const (
	// ReasonNone: no transition yet.
	ReasonNone Reason = iota
	// ReasonStartup: EventStartup moved a non-owner to Backup (RFC 9568 §6.4.1).
	ReasonStartup
	// ReasonOwnerStartup: EventStartup moved the address owner (priority 255)
	// straight to Master (RFC 9568 §6.4.1).
	ReasonOwnerStartup
	// ReasonMasterDown: a Backup's Master_Down_Timer fired after adverts from
	// the Master stopped (RFC 9568 §6.4.2).
	ReasonMasterDown
	// ReasonHigherPriority: a Master heard an advert of higher priority
	// (RFC 9568 §6.4.3).
	ReasonHigherPriority
	// ReasonHigherAddress: a Master heard an advert of equal priority from a
	// higher primary address (RFC 9568 §6.4.3).
	ReasonHigherAddress
	// ReasonPriorityZero: a Backup took over Skew_Time after the Master
	// resigned with a priority 0 advert (RFC 9568 §6.4.2).
	ReasonPriorityZero
	// ReasonPreempt: a Backup with Preempt_Mode took over from a Master of
	// lower priority whose adverts it had discarded (RFC 9568 §6.4.2).
	ReasonPreempt
	// ReasonLinkDown: Fault, because the interface has no link
	// (FaultLinkDown).
	ReasonLinkDown
	// ReasonLinkUp: the interface became usable again and the router started
	// again, as at EventStartup.
	ReasonLinkUp
	// ReasonShutdown: EventShutdown (RFC 9568 §6.4.2, §6.4.3).
	ReasonShutdown
	// ReasonPriorityChanged: a Backup's effective priority became 255, the
	// owner's, and it took over as at startup (RFC 9568 §6.4.1).
	ReasonPriorityChanged
	// ReasonInterfaceMissing: Fault, because the interface does not exist
	// (not yet created, or deleted) (FaultInterfaceMissing).
	ReasonInterfaceMissing
	// ReasonNoSourceAddress: Fault, because the interface has no usable
	// source address for adverts yet (FaultNoSourceAddress).
	ReasonNoSourceAddress
	// ReasonCheckFault: Fault, because a fault health check (weight 0, or
	// a tracked interface without a weight) is down (FaultCheck).
	ReasonCheckFault
	// ReasonResign: a Master entered Handoff on EventResign (vipctl
	// resign, or maintenance), or a Backup was entered after it.
	ReasonResign
	// ReasonHandoffDone: Handoff ended because the new Master's advert
	// was heard.
	ReasonHandoffDone
	// ReasonHandoffTimeout: Handoff ended because no new Master was heard
	// within Master_Down_Interval.
	ReasonHandoffTimeout
	// ReasonMaintenance: maintenance mode was turned on (EventMaintenance).
	ReasonMaintenance
)

var reasonNames = [...]string{
	ReasonNone:             "none",
	ReasonStartup:          "startup",
	ReasonOwnerStartup:     "owner-startup",
	ReasonMasterDown:       "master-down-timer",
	ReasonHigherPriority:   "higher-priority-advert",
	ReasonHigherAddress:    "equal-priority-higher-address",
	ReasonPriorityZero:     "priority-zero-advert",
	ReasonPreempt:          "preempt",
	ReasonLinkDown:         "link-down",
	ReasonLinkUp:           "link-up",
	ReasonShutdown:         "shutdown",
	ReasonPriorityChanged:  "priority-changed",
	ReasonInterfaceMissing: "interface-missing",
	ReasonNoSourceAddress:  "no-source-address",
	ReasonCheckFault:       "check-fault",
	ReasonResign:           "resign",
	ReasonHandoffDone:      "handoff-done",
	ReasonHandoffTimeout:   "handoff-timeout",
	ReasonMaintenance:      "maintenance",
}

func (r Reason) String() string {
	if int(r) < len(reasonNames) {
		return reasonNames[r]
	}
	return fmt.Sprintf("Reason(%d)", r)
}

// FaultCause says why the interface is unusable (EventFault, Status.Fault).
type FaultCause uint8

const (
	// FaultNone: the interface is usable, as far as the caller has said.
	FaultNone FaultCause = iota
	// FaultLinkDown: the interface exists but has no link (or is
	// administratively down).
	FaultLinkDown
	// FaultInterfaceMissing: the interface does not exist, not yet or no
	// longer.
	FaultInterfaceMissing
	// FaultNoSourceAddress: the interface has no address adverts can be
	// sent from yet (IPv4 primary address; IPv6 link-local that is not
	// tentative).
	FaultNoSourceAddress
	// FaultCheck: a fault health check is down (weight 0: keepalived's
	// track_script and track_interface semantics).
	FaultCheck
)

// Reason is the Reason the Machine shows in Fault for this cause.
func (c FaultCause) Reason() Reason {
	switch c {
	case FaultLinkDown:
		return ReasonLinkDown
	case FaultInterfaceMissing:
		return ReasonInterfaceMissing
	case FaultNoSourceAddress:
		return ReasonNoSourceAddress
	case FaultCheck:
		return ReasonCheckFault
	}
	return ReasonNone
}

// String is the cause's Reason string, "none" for FaultNone.
func (c FaultCause) String() string {
	if c > FaultCheck {
		return fmt.Sprintf("FaultCause(%d)", c)
	}
	return c.Reason().String()
}

// Priority values with a meaning of their own (RFC 9568 §5.2.4).
const (
	// PriorityShutdown in an advert means its sender stops being Master.
	PriorityShutdown uint8 = 0
	// PriorityOwner is the priority of the router that owns the virtual
	// addresses.
	PriorityOwner uint8 = 255
	// PriorityMaintenance is the effective priority in maintenance mode
	// (EventMaintenance): the router holds the addresses only when no
	// other router is left.
	PriorityMaintenance uint8 = 1
	// PriorityAddFailed is the effective priority while adding the virtual
	// addresses is failing (Status.AddFailing), whatever the checks say: a
	// router that can hold every address wins over one that cannot, and
	// among routers that all fail the RFC 9568 §6.4.3 tie-break decides.
	PriorityAddFailed uint8 = 1
)

// Retry timing for announcements and for address changes that failed.
const (
	// TakeoverRepeat is how soon the second round of a takeover's burst
	// follows the first (at most AnnounceInterval): a preempted Master may
	// still announce once after ours, before it hears our advert, and that
	// would point clients back at it for a whole interval.
	TakeoverRepeat = 50 * time.Millisecond
	// AnnounceRetryDelay is how soon a round of announcements that failed
	// (EventAnnounceFailed) is sent again.
	AnnounceRetryDelay = 10 * time.Millisecond
	// AnnounceRetries is how many times in a row one round is retried
	// after AnnounceRetryDelay; after that the round is given up and the
	// schedule goes on.
	AnnounceRetries = 3
	// DefaultRetryBackoff and DefaultRetryBackoffMax are the backoff of
	// failed address adds and removes when Config leaves it zero: 1s,
	// doubling with every consecutive failure, at most 60s.
	DefaultRetryBackoff    = time.Second
	DefaultRetryBackoffMax = time.Minute
)

// ErrConfig is wrapped by every error New returns for an invalid Config.
var ErrConfig = errors.New("election: invalid config")

// Config is what one virtual router's election needs to know about itself.
type Config struct {
	// Version is the VRRP version, 2 (RFC 3768) or 3 (RFC 9568). It decides
	// the timer formulas: see Status.SkewTime.
	Version int
	// Priority is the base priority, 1..255; 255 marks the address owner.
	Priority uint8
	// AdvertInterval is Advertisement_Interval: for version 3 a multiple of
	// 10ms from 10ms to 40.95s (RFC 9568 §5.2.7); for version 2 whole
	// seconds from 1s to 255s (RFC 3768 §5.3.7).
	AdvertInterval time.Duration
	// Preempt is Preempt_Mode (RFC 9568 §6.1). The owner (effective
	// priority 255) always preempts.
	Preempt bool
	// PreemptDelay holds preemption back: a Backup accepts adverts from a
	// lower-priority Master until it has heard that lower priority for
	// PreemptDelay without an advert of priority at least its own. Zero
	// preempts at once. It matters only when preempting: with Preempt, or
	// as the owner.
	PreemptDelay time.Duration
	// Address is our primary address, the one adverts are sent from. It
	// breaks ties between equal priorities (RFC 9568 §6.4.3) and names the
	// Master in Status. Version 2 needs IPv4.
	Address netip.Addr

	// AnnounceCount is the number of rounds of gratuitous ARP / unsolicited
	// NA on becoming Master (RFC 9568 §6.4.1, §6.4.2 ask for one; more
	// survive a lost frame), at least 1. The first goes out with the
	// takeover, the others AnnounceInterval apart.
	AnnounceCount int
	// AnnounceInterval is the time between two rounds of a burst; it must
	// be positive.
	AnnounceInterval time.Duration
	// AnnounceRefresh, if positive, sends one more round this often while
	// Master, for switches and hosts that age their tables out. Zero is off.
	AnnounceRefresh time.Duration

	// RetryBackoff is the wait before the first retry of a failed address
	// add or remove (EventAddFailed, EventRemoveFailed); it doubles with
	// each consecutive failure up to RetryBackoffMax. Zero means
	// DefaultRetryBackoff and DefaultRetryBackoffMax.
	RetryBackoff    time.Duration
	RetryBackoffMax time.Duration

	// ConfirmPreempt makes a Backup confirm its own health (ActConfirm)
	// before it preempts a live Master of lower priority; set it when the
	// router has health checks. When every router's checks fail together
	// (all apiservers down because etcd lost quorum) they fall at
	// independent moments: without a fresh look, the first Master whose
	// check falls would lose the VIP to a router whose check is about to
	// fall too. Taking over from a silent Master is never delayed.
	ConfirmPreempt bool
	// ConfirmTimeout bounds the wait for EventConfirmed; the daemon sets it
	// to the longest check timeout and a margin. Zero means
	// AdvertInterval + 1s.
	ConfirmTimeout time.Duration
	// AlignAdverts puts a Master's periodic adverts on the clock's grid of
	// AdvertInterval (see Machine.nextAdvert), so that every virtual
	// router of a host with the same interval advertises at the same
	// instants: one wake-up of the host per interval, and one burst for
	// each Backup to read, instead of one of each per VRID (issue 12).
	AlignAdverts bool
}

func (c Config) validate() error {
	bad := func(field, format string, args ...any) error {
		return fmt.Errorf("%w: %s: %s", ErrConfig, field, fmt.Sprintf(format, args...))
	}
	switch c.Version {
	case 2, 3:
	default:
		return bad("Version", "must be 2 or 3, got %d", c.Version)
	}
	if c.Priority == 0 {
		return bad("Priority", "must be 1..255, got 0 (0 is reserved for shutdown adverts)")
	}
	if c.Version == 2 {
		if c.AdvertInterval < time.Second || c.AdvertInterval > 255*time.Second ||
			c.AdvertInterval%time.Second != 0 {
			return bad("AdvertInterval", "must be whole seconds from 1s to 255s for version 2, got %v", c.AdvertInterval)
		}
	} else if c.AdvertInterval < 10*time.Millisecond || c.AdvertInterval > 4095*10*time.Millisecond ||
		c.AdvertInterval%(10*time.Millisecond) != 0 {
		return bad("AdvertInterval", "must be a multiple of 10ms from 10ms to 40.95s for version 3, got %v", c.AdvertInterval)
	}
	if c.PreemptDelay < 0 {
		return bad("PreemptDelay", "must not be negative, got %v", c.PreemptDelay)
	}
	if !c.Address.IsValid() {
		return bad("Address", "must be set")
	}
	if c.Version == 2 && !c.Address.Is4() {
		return bad("Address", "must be IPv4 for version 2, got %v", c.Address)
	}
	if c.AnnounceCount < 1 {
		return bad("AnnounceCount", "must be at least 1 (one round on takeover), got %d", c.AnnounceCount)
	}
	if c.AnnounceInterval <= 0 {
		return bad("AnnounceInterval", "must be positive, got %v", c.AnnounceInterval)
	}
	if c.AnnounceRefresh < 0 {
		return bad("AnnounceRefresh", "must not be negative (0 is off), got %v", c.AnnounceRefresh)
	}
	if c.RetryBackoff < 0 {
		return bad("RetryBackoff", "must not be negative (0 is %v), got %v", DefaultRetryBackoff, c.RetryBackoff)
	}
	if c.RetryBackoffMax < 0 {
		return bad("RetryBackoffMax", "must not be negative (0 is %v), got %v", DefaultRetryBackoffMax, c.RetryBackoffMax)
	}
	if c.RetryBackoffMax > 0 && c.RetryBackoffMax < c.retryBackoff() {
		return bad("RetryBackoffMax", "must be at least RetryBackoff (%v), got %v", c.retryBackoff(), c.RetryBackoffMax)
	}
	return nil
}

func (c Config) retryBackoff() time.Duration {
	if c.RetryBackoff == 0 {
		return DefaultRetryBackoff
	}
	return c.RetryBackoff
}

func (c Config) retryBackoffMax() time.Duration {
	if c.RetryBackoffMax == 0 {
		return max(DefaultRetryBackoffMax, c.retryBackoff())
	}
	return c.RetryBackoffMax
}

// backoff is the wait after the n-th consecutive failure (n >= 1).
func (c Config) backoff(n int) time.Duration {
	d, limit := c.retryBackoff(), c.retryBackoffMax()
	for i := 1; i < n && d < limit; i++ {
		d *= 2
	}
	return min(d, limit)
}

// EventKind says what happened.
type EventKind uint8

const (
	// EventStartup starts the router (RFC 9568 §6.4.1): Backup, or Master
	// for the owner, or Fault if a fault was reported and not cleared.
	EventStartup EventKind = iota
	// EventAdvert is an advert that passed the receive checks of
	// RFC 9568 §7.1.
	EventAdvert
	// EventTimer is delivered at or after Deadline.
	EventTimer
	// EventPriority carries the priority the health checks leave: the base
	// priority lowered by failing checks (Status.CheckPriority).
	EventPriority
	// EventLinkDown is EventFault with Cause FaultLinkDown, whatever
	// Event.Cause says.
	EventLinkDown
	// EventLinkUp says the interface is usable again: it exists, has its
	// link and a source address. It clears the fault and, in Fault, starts
	// the router as EventStartup would.
	EventLinkUp
	// EventShutdown stops the router (RFC 9568 §6.4.2, §6.4.3).
	EventShutdown
	// EventFault says the interface is unusable, for Event.Cause. From
	// Backup and Master it goes to Fault; in Fault the Reason follows the
	// cause; in Initialize it is remembered for EventStartup.
	EventFault
	// EventAnnounceFailed says the round of announcements of the last
	// ActAnnounce did not go out (ENETDOWN right after link up, say). The
	// round is sent again after AnnounceRetryDelay, at most
	// AnnounceRetries times in a row.
	EventAnnounceFailed
	// EventAddFailed says ActAddVIPs left one or more addresses off the
	// interface. The effective priority drops to PriorityAddFailed. In
	// Master, ActAddVIPs is retried with backoff; outside Master the
	// penalty lasts until the router is Master again and an add works, so
	// that it never preempts a router that can hold every address.
	EventAddFailed
	// EventAddOK says every address is on the interface after ActAddVIPs.
	// It ends the penalty and resets the backoff.
	EventAddOK
	// EventRemoveFailed says ActRemoveVIPs left one or more addresses on
	// the interface. ActRemoveVIPs is retried with backoff while not
	// Master.
	EventRemoveFailed
	// EventRemoveOK says no address is left on the interface after
	// ActRemoveVIPs (an interface that is gone holds none).
	EventRemoveOK
	// EventVIPsMissing says an address disappeared from the interface
	// while it should be there (someone ran ip addr del). A Master adds the
	// addresses back and announces them; other states ignore it.
	EventVIPsMissing
	// EventHardwareChanged says the interface's MAC changed (bond
	// fail-over, ip link set address): a Master announces again with a
	// fresh burst, since every neighbour has the old MAC.
	EventHardwareChanged
	// EventResign asks a Master to hand its role off with zero loss
	// (Handoff) and to go on as Backup; it may take the role back later
	// by the usual rules. Other states ignore it.
	EventResign
	// EventConfirmed reports the outcome of ActConfirm: Event.On is true
	// when the router's own checks still pass. A Backup waiting to preempt
	// then takes over; otherwise it accepts the Master again for a
	// Master_Down_Interval.
	EventConfirmed
	// EventMaintenance turns maintenance mode on (Event.On) or off. On:
	// the effective priority is PriorityMaintenance, and a Master resigns
	// as for EventResign. Off: the priority the checks leave applies
	// again.
	EventMaintenance
)

var eventNames = [...]string{
	EventStartup:         "startup",
	EventAdvert:          "advert",
	EventTimer:           "timer",
	EventPriority:        "priority",
	EventLinkDown:        "link-down",
	EventLinkUp:          "link-up",
	EventShutdown:        "shutdown",
	EventFault:           "fault",
	EventAnnounceFailed:  "announce-failed",
	EventAddFailed:       "add-failed",
	EventAddOK:           "add-ok",
	EventRemoveFailed:    "remove-failed",
	EventRemoveOK:        "remove-ok",
	EventVIPsMissing:     "vips-missing",
	EventHardwareChanged: "hardware-changed",
	EventResign:          "resign",
	EventConfirmed:       "confirmed",
	EventMaintenance:     "maintenance",
}

func (k EventKind) String() string {
	if int(k) < len(eventNames) {
		return eventNames[k]
	}
	return fmt.Sprintf("EventKind(%d)", k)
}

// Event is one input to Machine.Step.
type Event struct {
	Kind EventKind
	// From is the sender's primary address (EventAdvert).
	From netip.Addr
	// Priority is the advert's priority (EventAdvert), or the priority the
	// health checks leave (EventPriority): 1..254, or 255 for the owner. An
	// EventPriority of 0 is taken as 1, since 0 on the wire means shutdown.
	Priority uint8
	// Interval is the advert's (Max) Advertisement Interval (EventAdvert).
	// Version 3 Backups learn it as Master_Adver_Interval; zero is ignored.
	Interval time.Duration
	// Cause is why the interface is unusable (EventFault). FaultNone, or a
	// value outside the FaultCause constants, is taken as FaultLinkDown.
	Cause FaultCause
	// On turns maintenance mode on or off (EventMaintenance), or says the
	// checks passed (EventConfirmed).
	On bool
}

func (e Event) String() string {
	switch e.Kind {
	case EventAdvert:
		return fmt.Sprintf("advert from=%v prio=%d interval=%v", e.From, e.Priority, e.Interval)
	case EventPriority:
		return fmt.Sprintf("priority prio=%d", e.Priority)
	case EventFault:
		return fmt.Sprintf("fault cause=%v", e.Cause)
	case EventMaintenance:
		return fmt.Sprintf("maintenance on=%v", e.On)
	}
	return e.Kind.String()
}

// ActionKind says what the caller must do.
type ActionKind uint8

const (
	// ActSendAdvert: send one advert with Action.Priority, now.
	ActSendAdvert ActionKind = iota
	// ActAddVIPs: add every virtual address to the interface, then report
	// EventAddOK or EventAddFailed. The caller skips it for the owner,
	// whose virtual addresses are its own, and reports nothing then.
	ActAddVIPs
	// ActRemoveVIPs: remove every virtual address from the interface, then
	// report EventRemoveOK or EventRemoveFailed. The caller skips it for
	// the owner.
	ActRemoveVIPs
	// ActAnnounce: send ONE round of gratuitous ARP / unsolicited NA for
	// every virtual address, now (RFC 9568 §6.4.1, §6.4.2; RFC 5227 §3,
	// RFC 4861 §7.2.6), and report EventAnnounceFailed if it did not go
	// out. The machine schedules the rounds; it emits ActAnnounce only in
	// Master, after ActAddVIPs.
	ActAnnounce
	// ActConfirm: probe the router's own health checks once, now, and
	// report EventConfirmed (Config.ConfirmPreempt). Emitted by a Backup
	// about to preempt a live Master.
	ActConfirm
)

var actionNames = [...]string{
	ActSendAdvert: "send-advert",
	ActAddVIPs:    "add-vips",
	ActRemoveVIPs: "remove-vips",
	ActAnnounce:   "announce",
	ActConfirm:    "confirm",
}

func (k ActionKind) String() string {
	if int(k) < len(actionNames) {
		return actionNames[k]
	}
	return fmt.Sprintf("ActionKind(%d)", k)
}

// Action is one output of Machine.Step. Actions are to be carried out in
// the order given, and the outcomes they ask for reported in that order.
type Action struct {
	Kind ActionKind
	// Priority is the priority to advertise (ActSendAdvert); 0 resigns.
	Priority uint8
}

func (a Action) String() string {
	if a.Kind == ActSendAdvert {
		return fmt.Sprintf("send-advert(prio=%d)", a.Priority)
	}
	return a.Kind.String()
}

// Status is a snapshot of a Machine, for the status document and logs.
type Status struct {
	State State
	// Reason is why State was entered; in Fault, the current cause.
	Reason Reason
	Since  time.Time // when State was entered; zero before the first transition
	// Fault is the interface's condition as last reported (EventFault,
	// EventLinkUp), in every state; FaultNone when usable.
	Fault FaultCause

	// Master is this router's Address when Master, the Master whose advert
	// was last accepted when Backup, and invalid when unknown.
	Master         netip.Addr
	MasterPriority uint8

	// Priority is Config.Priority. CheckPriority is what the health checks
	// leave of it: the latest EventPriority, else Priority.
	// EffectivePriority is the one advertised and compared:
	// PriorityAddFailed while AddFailing, else CheckPriority. A change of
	// EffectivePriority is due to the checks if CheckPriority changed with
	// it, else to AddFailing.
	Priority          uint8
	CheckPriority     uint8
	EffectivePriority uint8

	// MasterAdverInterval is Master_Adver_Interval: for version 3 learned by
	// a Backup from accepted adverts, else Config.AdvertInterval.
	MasterAdverInterval time.Duration
	// MasterDownInterval is Master_Down_Interval,
	// 3 * Master_Adver_Interval + Skew_Time (RFC 9568 §6.1), and
	// 3 * Advertisement_Interval + Skew_Time for version 2 (RFC 3768 §6.1).
	MasterDownInterval time.Duration
	// SkewTime is Skew_Time from the effective priority:
	// ((256 - priority) * Master_Adver_Interval) / 256 for version 3
	// (RFC 9568 §6.1) and (256 - priority) / 256 seconds for version 2
	// (RFC 3768 §6.1). It is kept at nanosecond precision, not rounded to
	// centiseconds.
	SkewTime time.Duration

	// AnnounceRoundsLeft is how many rounds of the current burst are still
	// to be sent (a round being retried counts); 0 when none is under way.
	AnnounceRoundsLeft int
	// AnnounceFailures counts consecutive failures of the latest round.
	AnnounceFailures int

	// AddFailing is true from EventAddFailed until EventAddOK.
	// AddFailures counts consecutive failed adds (reset by EventAddOK
	// only). AddRetry is when ActAddVIPs is retried, in Master; zero
	// otherwise.
	AddFailing  bool
	AddFailures int
	AddRetry    time.Time

	// RemovePending is true from EventRemoveFailed until EventRemoveOK or
	// the next takeover: addresses may be left on the interface.
	// RemoveFailures counts consecutive failed removes; RemoveRetry is when
	// ActRemoveVIPs is retried, zero when none is due.
	RemovePending  bool
	RemoveFailures int
	RemoveRetry    time.Time

	// Maintenance is maintenance mode (EventMaintenance): the router
	// advertises PriorityMaintenance. HandoffUntil is, in Handoff, when
	// the wait for a new Master ends.
	Maintenance  bool
	HandoffUntil time.Time
}
