package control

import "time"

// Status is the document served at /status and printed by `vipctl status --json`.
// Field names are a stable interface: add fields, never rename them.
type Status struct {
	Version   string     `json:"version"`
	Instances []Instance `json:"instances"`
	// Reloads counts configuration reloads (SIGHUP) applied and rejected.
	Reloads Reloads `json:"reloads"`
	// Interfaces are the shared VRRP sockets (one per interface and
	// family) and what they dropped before any instance saw it: "vrid" (a
	// VRID no instance here serves: another cluster on the segment?),
	// "short", "queue_full".
	Interfaces []Interface `json:"interfaces"`
}

// Interface is one shared VRRP socket's counters.
type Interface struct {
	Name   string            `json:"name"`
	Family string            `json:"family"`
	Drops  map[string]uint64 `json:"drops"`
}

// Reloads counts configuration reloads.
type Reloads struct {
	Applied  uint64 `json:"applied"`
	Rejected uint64 `json:"rejected"`
}

// Instance is the status of one VRRP instance.
type Instance struct {
	Name      string `json:"name"`
	Interface string `json:"interface"`
	VRID      int    `json:"vrid"`
	// Family is the address family the election runs over: "ipv4" or "ipv6".
	Family      string `json:"family"`
	VRRPVersion int    `json:"vrrp_version"`
	// Mode is "multicast" or "unicast".
	Mode string `json:"mode"`
	// State is one of INIT, BACKUP, MASTER, FAULT.
	State             string    `json:"state"`
	Since             time.Time `json:"since"`
	Reason            string    `json:"reason"`
	Priority          int       `json:"priority"`
	EffectivePriority int       `json:"effective_priority"`
	// Master is the address of the current master: this host's when MASTER, the
	// learned one when BACKUP, empty when unknown.
	Master         string        `json:"master"`
	MasterPriority int           `json:"master_priority"`
	AdvertInterval time.Duration `json:"advert_interval_ns"`
	// MasterAdverInterval is the interval learned from the master (RFC 9568 §6.1).
	MasterAdverInterval time.Duration `json:"master_adver_interval_ns"`
	MasterDownInterval  time.Duration `json:"master_down_interval_ns"`
	SkewTime            time.Duration `json:"skew_time_ns"`
	VIPs                []string      `json:"vips"`
	// VIPsPresent lists the VIPs found on the interface when the status was taken.
	VIPsPresent     []string          `json:"vips_present"`
	AdvertsSent     uint64            `json:"adverts_sent"`
	AdvertsReceived uint64            `json:"adverts_received"`
	Drops           map[string]uint64 `json:"drops"`
	// ChecksumForms counts accepted adverts by the checksum form that matched:
	// "pseudo-header" (keepalived, FRR) or "message-only" (RFC 9568 §5.2.8 text).
	ChecksumForms     map[string]uint64 `json:"checksum_forms"`
	AddressMismatches uint64            `json:"address_mismatches"`
	Announcements     uint64            `json:"announcements"`
	Transitions       map[string]uint64 `json:"transitions"`
	Peers             []Peer            `json:"peers"`
	Checks            []Check           `json:"checks"`
	LastError         string            `json:"last_error,omitempty"`

	// Source is the address adverts are sent from; empty while unbound.
	Source string `json:"source,omitempty"`
	// IfIndex and HardwareAddr are the interface as the kernel has it now:
	// both change when the interface is recreated or its MAC changes.
	IfIndex      int    `json:"ifindex,omitempty"`
	HardwareAddr string `json:"hardware_addr,omitempty"`
	// Problem says why the instance cannot use its interface yet, in FAULT
	// (interface-missing, no-source-address): what is missing.
	Problem string `json:"problem,omitempty"`
	// SendErrors counts adverts that failed to go out (a firewall dropping
	// protocol 112, a full socket buffer); LastAdvertSent is the last that did.
	SendErrors     uint64    `json:"send_errors"`
	LastAdvertSent time.Time `json:"last_advert_sent"`
	// Stalled is true for a MASTER that has not sent an advert for three
	// intervals: its backups will take over. /healthz fails while it is.
	Stalled bool `json:"stalled,omitempty"`
	// AddErrors, RemoveErrors and AnnounceErrors count failed VIP adds,
	// removals and announcement rounds.
	AddErrors      uint64 `json:"add_errors"`
	RemoveErrors   uint64 `json:"remove_errors"`
	AnnounceErrors uint64 `json:"announce_errors"`
	// AddFailing is true while adding a VIP keeps failing: the router then
	// advertises priority 1, so a router that can hold every VIP wins.
	AddFailing bool `json:"add_failing,omitempty"`
	// Maintenance is true while the instance is drained (vipctl maintenance
	// on): it advertises priority 1 and holds the VIPs only when no other
	// router is left. It survives restarts.
	Maintenance bool `json:"maintenance"`

	// Conflicts (issue 13) is what else on the wire is wrong for this
	// virtual router, active ones first: split-brain, vrid-collision,
	// foreign-answer, one-way. They never move the VIPs; they explain.
	// ConflictsTotal counts the episodes started, by kind (every kind).
	Conflicts      []Conflict        `json:"conflicts"`
	ConflictsTotal map[string]uint64 `json:"conflicts_total,omitempty"`
}

// Conflict is one conflict seen on the wire: a kind and who (an address, a
// MAC, or both). An episode starts with the first evidence and ends when the
// evidence stops; Events counts the episodes, Count the pieces of evidence.
type Conflict struct {
	// Kind is split-brain, vrid-collision, foreign-answer or one-way.
	Kind string `json:"kind"`
	Peer string `json:"peer,omitempty"`
	MAC  string `json:"mac,omitempty"`
	// VIPs are the foreign router's addresses (vrid-collision) or the VIP
	// another host answers for (foreign-answer).
	VIPs []string `json:"vips,omitempty"`
	// Priority is the other router's, as last advertised.
	Priority  int       `json:"priority,omitempty"`
	Active    bool      `json:"active"`
	FirstSeen time.Time `json:"first_seen"`
	LastSeen  time.Time `json:"last_seen"`
	Count     uint64    `json:"count"`
	Events    uint64    `json:"events"`
	// Explanation is one line: what the evidence shows and the likely fix.
	Explanation string `json:"explanation"`
	// Ended says how the last episode ended (who stepped down), when it
	// has.
	Ended string `json:"ended,omitempty"`
}

// Peer is another router heard on this instance.
type Peer struct {
	Address  string    `json:"address"`
	Priority int       `json:"priority"`
	LastSeen time.Time `json:"last_seen"`
}

// Check is the state of one health check.
type Check struct {
	Name string `json:"name"`
	Kind string `json:"kind"`
	Up   bool   `json:"up"`
	// Streak counts consecutive results: positive for successes, negative for failures.
	Streak    int           `json:"streak"`
	LastOK    bool          `json:"last_ok"`
	LastError string        `json:"last_error,omitempty"`
	LastAt    time.Time     `json:"last_at"`
	Duration  time.Duration `json:"duration_ns"`
	Weight    int           `json:"weight"`
	Penalty   int           `json:"penalty"`
	// Fault is set for a fault check (weight 0): while it is down the
	// instance is in FAULT instead of losing priority.
	Fault bool `json:"fault,omitempty"`
	// Since is when the check last changed state; Cause is the error of the
	// probe that took it down.
	Since time.Time `json:"since"`
	Cause string    `json:"cause,omitempty"`
	// Result is the last probe's outcome: ok, failed, unauthorized or
	// forbidden (an apiserver refusing anonymous /readyz).
	Result string `json:"result,omitempty"`
}
