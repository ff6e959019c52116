package metrics

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/vipd/vipd/control"
)

// States are the values of the vipd_state metric's state label.
var States = []string{"INIT", "BACKUP", "MASTER", "FAULT"}

var (
	labels      = []string{"instance", "interface", "vrid"}
	descState   = prometheus.NewDesc("vipd_state", "1 for the instance's current VRRP state, 0 for the others.", append(labels, "state"), nil)
	descPrio    = prometheus.NewDesc("vipd_priority", "Base VRRP priority.", labels, nil)
	descEff     = prometheus.NewDesc("vipd_effective_priority", "Priority advertised: base minus failing health checks.", labels, nil)
	descTrans   = prometheus.NewDesc("vipd_transitions_total", "State transitions by reason.", append(labels, "reason"), nil)
	descSent    = prometheus.NewDesc("vipd_adverts_sent_total", "VRRP advertisements sent.", labels, nil)
	descRecv    = prometheus.NewDesc("vipd_adverts_received_total", "VRRP advertisements accepted.", labels, nil)
	descDrops   = prometheus.NewDesc("vipd_adverts_dropped_total", "VRRP packets dropped, by RFC 9568 §7.1 reason.", append(labels, "reason"), nil)
	descForms   = prometheus.NewDesc("vipd_adverts_checksum_form_total", "Accepted VRRP advertisements by the checksum form that matched.", append(labels, "form"), nil)
	descAnn     = prometheus.NewDesc("vipd_announcements_total", "Gratuitous ARP and unsolicited NA announcements sent.", labels, nil)
	descVIP     = prometheus.NewDesc("vipd_vip_present", "1 if the VIP is on the interface now.", append(labels, "vip"), nil)
	descPeer    = prometheus.NewDesc("vipd_peer_last_seen_timestamp_seconds", "When an advertisement from the peer was last accepted.", append(labels, "peer"), nil)
	descPeerPri = prometheus.NewDesc("vipd_peer_priority", "Priority the peer last advertised.", append(labels, "peer"), nil)
	descCheck   = prometheus.NewDesc("vipd_health_check_up", "1 while the health check counts as up (after rise/fall).", append(labels, "check"), nil)
	descCheckOK = prometheus.NewDesc("vipd_health_check_last_success", "1 if the last run of the health check succeeded.", append(labels, "check"), nil)
	descCheckD  = prometheus.NewDesc("vipd_health_check_duration_seconds", "Duration of the last run of the health check.", append(labels, "check"), nil)
	descCheckP  = prometheus.NewDesc("vipd_health_check_penalty", "Priority the health check takes off now.", append(labels, "check"), nil)
	descSendErr = prometheus.NewDesc("vipd_advert_send_errors_total", "VRRP advertisements that failed to go out.", labels, nil)
	descLastTx  = prometheus.NewDesc("vipd_advert_last_sent_timestamp_seconds", "When an advertisement last went out.", labels, nil)
	descStalled = prometheus.NewDesc("vipd_stalled", "1 while the instance is MASTER but has sent no advertisement for three intervals.", labels, nil)
	descOpErr   = prometheus.NewDesc("vipd_vip_operation_errors_total", "Failed VIP operations, by operation (add, remove, announce).", append(labels, "op"), nil)
	descAddFail = prometheus.NewDesc("vipd_vip_add_failing", "1 while adding a VIP keeps failing (the instance then advertises priority 1).", labels, nil)
	descFault   = prometheus.NewDesc("vipd_fault_reason", "1 for the reason the instance is in FAULT (link-down, interface-missing, no-source-address, ...).", append(labels, "reason"), nil)
	descReload  = prometheus.NewDesc("vipd_config_reloads_total", "Configuration reloads (SIGHUP), by result: applied or rejected (the running configuration went on).", []string{"result"}, nil)
	descMaint   = prometheus.NewDesc("vipd_maintenance", "1 while the instance is in maintenance mode (vipctl maintenance on).", labels, nil)
	descIfDrops = prometheus.NewDesc("vipd_interface_adverts_dropped_total", "VRRP packets the interface's shared socket dropped before any instance saw them, by reason (vrid: a VRID no instance serves).", []string{"interface", "family", "reason"}, nil)
	// Issue 13: conflicts seen on the wire (they never move the VIPs).
	descConflicts = prometheus.NewDesc("vipd_conflicts_total", "Conflicts seen on the wire that started, by kind (split-brain, vrid-collision, foreign-answer, one-way); see vipctl status.", append(labels, "kind"), nil)
	descConflictA = prometheus.NewDesc("vipd_conflict_active", "Conflicts of the kind active now.", append(labels, "kind"), nil)
	descUp        = prometheus.NewDesc("vipd_status_up", "1 if every instance answered the scrape.", nil, nil)
	descInfo      = prometheus.NewDesc("vipd_build_info", "vipd's version.", []string{"version"}, nil)
)

// collector reads the status document at scrape time, so the metrics and
// `vipctl status` can never disagree.
type collector struct {
	src     control.Source
	version string
}

func (c collector) Describe(ch chan<- *prometheus.Desc) {
	prometheus.DescribeByCollect(c, ch)
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.MustNewConstMetric(descInfo, prometheus.GaugeValue, 1, c.version)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	st, err := c.src(ctx)
	if err != nil {
		ch <- prometheus.MustNewConstMetric(descUp, prometheus.GaugeValue, 0)
		return
	}
	ch <- prometheus.MustNewConstMetric(descUp, prometheus.GaugeValue, 1)
	ch <- prometheus.MustNewConstMetric(descReload, prometheus.CounterValue, float64(st.Reloads.Applied), "applied")
	ch <- prometheus.MustNewConstMetric(descReload, prometheus.CounterValue, float64(st.Reloads.Rejected), "rejected")
	for _, i := range st.Interfaces {
		for r, n := range i.Drops {
			ch <- prometheus.MustNewConstMetric(descIfDrops, prometheus.CounterValue, float64(n), i.Name, i.Family, r)
		}
	}
	for _, in := range st.Instances {
		l := []string{in.Name, in.Interface, strconv.Itoa(in.VRID)}
		with := func(extra string) []string { return append(append([]string{}, l...), extra) }
		gauge := func(d *prometheus.Desc, v float64, lv []string) {
			ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, lv...)
		}
		counter := func(d *prometheus.Desc, v uint64, lv []string) {
			ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), lv...)
		}
		for _, s := range States {
			gauge(descState, b2f(in.State == s), with(s))
		}
		gauge(descPrio, float64(in.Priority), l)
		gauge(descEff, float64(in.EffectivePriority), l)
		for r, n := range in.Transitions {
			counter(descTrans, n, with(r))
		}
		counter(descSent, in.AdvertsSent, l)
		counter(descRecv, in.AdvertsReceived, l)
		for r, n := range in.Drops {
			counter(descDrops, n, with(r))
		}
		for f, n := range in.ChecksumForms {
			counter(descForms, n, with(f))
		}
		counter(descAnn, in.Announcements, l)
		counter(descSendErr, in.SendErrors, l)
		if !in.LastAdvertSent.IsZero() {
			gauge(descLastTx, float64(in.LastAdvertSent.UnixNano())/1e9, l)
		}
		gauge(descStalled, b2f(in.Stalled), l)
		counter(descOpErr, in.AddErrors, with("add"))
		counter(descOpErr, in.RemoveErrors, with("remove"))
		counter(descOpErr, in.AnnounceErrors, with("announce"))
		gauge(descAddFail, b2f(in.AddFailing), l)
		gauge(descMaint, b2f(in.Maintenance), l)
		if in.State == "FAULT" {
			gauge(descFault, 1, with(in.Reason))
		}
		for k, n := range in.ConflictsTotal {
			active := 0
			for _, c := range in.Conflicts {
				if c.Kind == k && c.Active {
					active++
				}
			}
			counter(descConflicts, n, with(k))
			gauge(descConflictA, float64(active), with(k))
		}
		for _, v := range in.VIPs {
			present := false
			for _, p := range in.VIPsPresent {
				present = present || p == v
			}
			gauge(descVIP, b2f(present), with(v))
		}
		for _, p := range in.Peers {
			gauge(descPeer, float64(p.LastSeen.UnixNano())/1e9, with(p.Address))
			gauge(descPeerPri, float64(p.Priority), with(p.Address))
		}
		for _, ck := range in.Checks {
			gauge(descCheck, b2f(ck.Up), with(ck.Name))
			gauge(descCheckOK, b2f(ck.LastOK && !ck.LastAt.IsZero()), with(ck.Name))
			gauge(descCheckD, ck.Duration.Seconds(), with(ck.Name))
			gauge(descCheckP, float64(ck.Penalty), with(ck.Name))
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
	reg := prometheus.NewRegistry()
	reg.MustRegister(collector{src: src, version: version},
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
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
