package metrics

import (
	"bytes"
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/vipd/vipd/control"
)

// States are the values of the vipd_state metric's state label.
var States = []string{"INIT", "BACKUP", "MASTER", "FAULT"}

var (
	labels      = []string{"instance", "interface", "vrid"}
	descState   = gauge("vipd_state", "1 for the instance's current VRRP state, 0 for the others.", append(labels, "state"))
	descPrio    = gauge("vipd_priority", "Base VRRP priority.", labels)
	descEff     = gauge("vipd_effective_priority", "Priority advertised: base minus failing health checks.", labels)
	descTrans   = counter("vipd_transitions_total", "State transitions by reason.", append(labels, "reason"))
	descSent    = counter("vipd_adverts_sent_total", "VRRP advertisements sent.", labels)
	descRecv    = counter("vipd_adverts_received_total", "VRRP advertisements accepted.", labels)
	descDrops   = counter("vipd_adverts_dropped_total", "VRRP packets dropped, by RFC 9568 §7.1 reason.", append(labels, "reason"))
	descForms   = counter("vipd_adverts_checksum_form_total", "Accepted VRRP advertisements by the checksum form that matched.", append(labels, "form"))
	descAnn     = counter("vipd_announcements_total", "Gratuitous ARP and unsolicited NA announcements sent.", labels)
	descVIP     = gauge("vipd_vip_present", "1 if the VIP is on the interface now.", append(labels, "vip"))
	descPeer    = gauge("vipd_peer_last_seen_timestamp_seconds", "When an advertisement from the peer was last accepted.", append(labels, "peer"))
	descPeerPri = gauge("vipd_peer_priority", "Priority the peer last advertised.", append(labels, "peer"))
	descCheck   = gauge("vipd_health_check_up", "1 while the health check counts as up (after rise/fall).", append(labels, "check"))
	descCheckOK = gauge("vipd_health_check_last_success", "1 if the last run of the health check succeeded.", append(labels, "check"))
	descCheckD  = gauge("vipd_health_check_duration_seconds", "Duration of the last run of the health check.", append(labels, "check"))
	descCheckP  = gauge("vipd_health_check_penalty", "Priority the health check takes off now.", append(labels, "check"))
	descSendErr = counter("vipd_advert_send_errors_total", "VRRP advertisements that failed to go out.", labels)
	descLastTx  = gauge("vipd_advert_last_sent_timestamp_seconds", "When an advertisement last went out.", labels)
	descStalled = gauge("vipd_stalled", "1 while the instance is MASTER but has sent no advertisement for three intervals.", labels)
	descOpErr   = counter("vipd_vip_operation_errors_total", "Failed VIP operations, by operation (add, remove, announce).", append(labels, "op"))
	descAddFail = gauge("vipd_vip_add_failing", "1 while adding a VIP keeps failing (the instance then advertises priority 1).", labels)
	descFault   = gauge("vipd_fault_reason", "1 for the reason the instance is in FAULT (link-down, interface-missing, no-source-address, ...).", append(labels, "reason"))
	descReload  = counter("vipd_config_reloads_total", "Configuration reloads (SIGHUP), by result: applied or rejected (the running configuration went on).", []string{"result"})
	descMaint   = gauge("vipd_maintenance", "1 while the instance is in maintenance mode (vipctl maintenance on).", labels)
	descIfDrops = counter("vipd_interface_adverts_dropped_total", "VRRP packets the interface's shared socket dropped before any instance saw them, by reason (vrid: a VRID no instance serves).", []string{"interface", "family", "reason"})
	// Issue 13: conflicts seen on the wire (they never move the VIPs).
	descConflicts = counter("vipd_conflicts_total", "Conflicts seen on the wire that started, by kind (split-brain, vrid-collision, foreign-answer, one-way); see vipctl status.", append(labels, "kind"))
	descConflictA = gauge("vipd_conflict_active", "Conflicts of the kind active now.", append(labels, "kind"))
	descUp        = gauge("vipd_status_up", "1 if every instance answered the scrape.", nil)
	descInfo      = gauge("vipd_build_info", "vipd's version.", []string{"version"})
)

// collect reads the status document at scrape time, so the metrics and
// `vipctl status` can never disagree. A status that cannot be read gives
// vipd_status_up 0 and no instance metrics.
func collect(ctx context.Context, s *scrape, src control.Source, version string) {
	s.add(descInfo, 1, version)
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	st, err := src(ctx)
	if err != nil {
		s.add(descUp, 0)
		return
	}
	s.add(descUp, 1)
	s.add(descReload, float64(st.Reloads.Applied), "applied")
	s.add(descReload, float64(st.Reloads.Rejected), "rejected")
	for _, i := range st.Interfaces {
		for r, n := range i.Drops {
			s.add(descIfDrops, float64(n), i.Name, i.Family, r)
		}
	}
	for _, in := range st.Instances {
		l := []string{in.Name, in.Interface, strconv.Itoa(in.VRID)}
		with := func(extra string) []string { return append(append([]string{}, l...), extra) }
		for _, state := range States {
			s.add(descState, b2f(in.State == state), with(state)...)
		}
		s.add(descPrio, float64(in.Priority), l...)
		s.add(descEff, float64(in.EffectivePriority), l...)
		for r, n := range in.Transitions {
			s.add(descTrans, float64(n), with(r)...)
		}
		s.add(descSent, float64(in.AdvertsSent), l...)
		s.add(descRecv, float64(in.AdvertsReceived), l...)
		for r, n := range in.Drops {
			s.add(descDrops, float64(n), with(r)...)
		}
		for f, n := range in.ChecksumForms {
			s.add(descForms, float64(n), with(f)...)
		}
		s.add(descAnn, float64(in.Announcements), l...)
		s.add(descSendErr, float64(in.SendErrors), l...)
		if !in.LastAdvertSent.IsZero() {
			s.add(descLastTx, float64(in.LastAdvertSent.UnixNano())/1e9, l...)
		}
		s.add(descStalled, b2f(in.Stalled), l...)
		s.add(descOpErr, float64(in.AddErrors), with("add")...)
		s.add(descOpErr, float64(in.RemoveErrors), with("remove")...)
		s.add(descOpErr, float64(in.AnnounceErrors), with("announce")...)
		s.add(descAddFail, b2f(in.AddFailing), l...)
		s.add(descMaint, b2f(in.Maintenance), l...)
		if in.State == "FAULT" {
			s.add(descFault, 1, with(in.Reason)...)
		}
		for k, n := range in.ConflictsTotal {
			active := 0
			for _, c := range in.Conflicts {
				if c.Kind == k && c.Active {
					active++
				}
			}
			s.add(descConflicts, float64(n), with(k)...)
			s.add(descConflictA, float64(active), with(k)...)
		}
		for _, v := range in.VIPs {
			present := false
			for _, p := range in.VIPsPresent {
				present = present || p == v
			}
			s.add(descVIP, b2f(present), with(v)...)
		}
		for _, p := range in.Peers {
			s.add(descPeer, float64(p.LastSeen.UnixNano())/1e9, with(p.Address)...)
			s.add(descPeerPri, float64(p.Priority), with(p.Address)...)
		}
		for _, ck := range in.Checks {
			s.add(descCheck, b2f(ck.Up), with(ck.Name)...)
			s.add(descCheckOK, b2f(ck.LastOK && !ck.LastAt.IsZero()), with(ck.Name)...)
			s.add(descCheckD, ck.Duration.Seconds(), with(ck.Name)...)
			s.add(descCheckP, float64(ck.Penalty), with(ck.Name)...)
		}
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// Handler serves /metrics and /healthz. /healthz answers 200 only while alive
// reports true, every instance's loop answers a status request within a second
// (a wedged loop fails the kubelet's liveness probe), and no MASTER is stalled
// (has sent no advertisement for three intervals).
func Handler(src control.Source, alive func() bool, version string) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, r *http.Request) {
		var s scrape
		collect(r.Context(), &s, src, version)
		s.addGo()
		s.addProcess()
		var b bytes.Buffer
		s.writeText(&b)
		w.Header().Set("Content-Type", contentType)
		_, _ = w.Write(b.Bytes())
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), time.Second)
		defer cancel()
		if !alive() {
			http.Error(w, "an instance has stopped", http.StatusServiceUnavailable)
			return
		}
		st, err := src(ctx)
		if err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		for _, in := range st.Instances {
			if in.Stalled {
				http.Error(w, "instance "+in.Name+" is MASTER but has sent no advertisement for three intervals (send errors: "+strconv.FormatUint(in.SendErrors, 10)+")", http.StatusServiceUnavailable)
				return
			}
		}
		_, _ = w.Write([]byte("ok\n"))
	})
	return mux
}
