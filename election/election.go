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
	// Initialize waits for a Startup event (RFC 9568 §6.4.1). A Machine is in
	// Initialize before EventStartup and after EventShutdown; after
	// EventShutdown only EventStartup starts it again.
	Initialize State = iota
	// Backup monitors the Master (RFC 9568 §6.4.2).
	Backup
	// Master holds the virtual addresses and advertises (RFC 9568 §6.4.3).
	Master
	// Fault means the link is down: no advertisements are sent or accepted
	// and the virtual addresses are not held. EventLinkDown enters it from
	// any state (from Initialize too, for a link down at startup) and
	// EventLinkUp leaves it as EventStartup would. It is not an RFC 9568
	// state; RFC 9568 §6.4 leaves interface failure to the implementation.
	Fault
)

var stateNames = [...]string{
	Initialize: "INIT",
	Backup:     "BACKUP",
	Master:     "MASTER",
	Fault:      "FAULT",
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
	// ReasonLinkDown: the link went down (Fault).
	ReasonLinkDown
	// ReasonLinkUp: the link came back and the router started again, as
	// at EventStartup.
	ReasonLinkUp
	// ReasonShutdown: EventShutdown (RFC 9568 §6.4.2, §6.4.3).
	ReasonShutdown
	// ReasonPriorityChanged: a Backup's effective priority became 255, the
	// owner's, and it took over as at startup (RFC 9568 §6.4.1).
	ReasonPriorityChanged
)

var reasonNames = [...]string{
	ReasonNone:            "none",
	ReasonStartup:         "startup",
	ReasonOwnerStartup:    "owner-startup",
	ReasonMasterDown:      "master-down-timer",
	ReasonHigherPriority:  "higher-priority-advert",
	ReasonHigherAddress:   "equal-priority-higher-address",
	ReasonPriorityZero:    "priority-zero-advert",
	ReasonPreempt:         "preempt",
	ReasonLinkDown:        "link-down",
	ReasonLinkUp:          "link-up",
	ReasonShutdown:        "shutdown",
	ReasonPriorityChanged: "priority-changed",
}

func (r Reason) String() string {
	if int(r) < len(reasonNames) {
		return reasonNames[r]
	}
	return fmt.Sprintf("Reason(%d)", r)
}

// Priority values with a meaning of their own (RFC 9568 §5.2.4).
const (
	// PriorityShutdown in an advert means its sender stops being Master.
	PriorityShutdown uint8 = 0
	// PriorityOwner is the priority of the router that owns the virtual
	// addresses.
	PriorityOwner uint8 = 255
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
	return nil
}

// EventKind says what happened.
type EventKind uint8

const (
	// EventStartup starts the router (RFC 9568 §6.4.1).
	EventStartup EventKind = iota
	// EventAdvert is an advert that passed the receive checks of
	// RFC 9568 §7.1.
	EventAdvert
	// EventTimer is delivered at or after Deadline.
	EventTimer
	// EventPriority carries a new effective priority.
	EventPriority
	// EventLinkDown says the interface lost its link.
	EventLinkDown
	// EventLinkUp says the interface has its link again.
	EventLinkUp
	// EventShutdown stops the router (RFC 9568 §6.4.2, §6.4.3).
	EventShutdown
)

var eventNames = [...]string{
	EventStartup:  "startup",
	EventAdvert:   "advert",
	EventTimer:    "timer",
	EventPriority: "priority",
	EventLinkDown: "link-down",
	EventLinkUp:   "link-up",
	EventShutdown: "shutdown",
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
	// Priority is the advert's priority (EventAdvert), or the new effective
	// priority (EventPriority): 1..254, or 255 for the owner. An
	// EventPriority of 0 is taken as 1, since 0 on the wire means shutdown.
	Priority uint8
	// Interval is the advert's (Max) Advertisement Interval (EventAdvert).
	// Version 3 Backups learn it as Master_Adver_Interval; zero is ignored.
	Interval time.Duration
}

func (e Event) String() string {
	switch e.Kind {
	case EventAdvert:
		return fmt.Sprintf("advert from=%v prio=%d interval=%v", e.From, e.Priority, e.Interval)
	case EventPriority:
		return fmt.Sprintf("priority prio=%d", e.Priority)
	}
	return e.Kind.String()
}

// ActionKind says what the caller must do.
type ActionKind uint8

const (
	// ActSendAdvert: send one advert with Action.Priority.
	ActSendAdvert ActionKind = iota
	// ActAddVIPs: add the virtual addresses to the interface.
	ActAddVIPs
	// ActRemoveVIPs: remove the virtual addresses from the interface.
	ActRemoveVIPs
	// ActAnnounce: start a burst of gratuitous ARP / unsolicited NA for the
	// virtual addresses (RFC 9568 §6.4.2).
	ActAnnounce
	// ActCancelAnnounce: stop any burst under way.
	ActCancelAnnounce
)

var actionNames = [...]string{
	ActSendAdvert:     "send-advert",
	ActAddVIPs:        "add-vips",
	ActRemoveVIPs:     "remove-vips",
	ActAnnounce:       "announce",
	ActCancelAnnounce: "cancel-announce",
}

func (k ActionKind) String() string {
	if int(k) < len(actionNames) {
		return actionNames[k]
	}
	return fmt.Sprintf("ActionKind(%d)", k)
}

// Action is one output of Machine.Step. Actions are to be carried out in
// the order given.
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
	State  State
	Reason Reason    // why State was entered
	Since  time.Time // when State was entered; zero before the first transition

	// Master is this router's Address when Master, the Master whose advert
	// was last accepted when Backup, and invalid when unknown.
	Master         netip.Addr
	MasterPriority uint8

	Priority          uint8 // Config.Priority
	EffectivePriority uint8 // the latest EventPriority, else Config.Priority

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
}
