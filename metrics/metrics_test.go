package metrics

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/vipd/vipd/control"
)

var update = flag.Bool("update", false, "rewrite testdata/vipd.txt")

func status() control.Status {
	return control.Status{Instances: []control.Instance{{
		Name: "api", Interface: "eth0", VRID: 51, State: "MASTER", Priority: 150, EffectivePriority: 100,
		VIPs: []string{"198.18.0.100", "2001:db8::100"}, VIPsPresent: []string{"198.18.0.100"},
		AdvertsSent: 7, AdvertsReceived: 3, Announcements: 10,
		Drops:         map[string]uint64{"ttl": 2, "vrid": 0},
		ChecksumForms: map[string]uint64{"pseudo-header": 3},
		Transitions:   map[string]uint64{"startup": 1, "master-down-timer": 1},
		Peers:         []control.Peer{{Address: "198.18.0.12", Priority: 120, LastSeen: time.Unix(1700000000, 0)}},
		Checks: []control.Check{{Name: "apiserver", Kind: "https", Up: false, LastOK: false, LastAt: time.Unix(1700000000, 0),
			Duration: 250 * time.Millisecond, Weight: 50, Penalty: 50}},
	}}}
}

// richStatus has every metric vipd writes, two instances (one in FAULT),
// and a check name that needs escaping.
func richStatus() control.Status {
	st := status()
	st.Reloads = control.Reloads{Applied: 2, Rejected: 1}
	st.Interfaces = []control.Interface{
		{Name: "eth1", Family: "ipv6", Drops: map[string]uint64{"vrid": 4, "auth": 1}},
		{Name: "eth0", Family: "ipv4", Drops: map[string]uint64{"vrid": 9}},
	}
	in := &st.Instances[0]
	in.LastAdvertSent = time.Unix(1700000001, 500000000)
	in.AddErrors, in.RemoveErrors, in.AnnounceErrors = 1, 0, 3
	in.ConflictsTotal = map[string]uint64{"split-brain": 2, "one-way": 1}
	in.Conflicts = []control.Conflict{{Kind: "split-brain", Active: true}, {Kind: "one-way"}}
	in.Checks = append(in.Checks, control.Check{Name: oddName, Up: true, LastOK: true, LastAt: time.Unix(1, 0), Duration: time.Millisecond / 3})
	st.Instances = append(st.Instances, control.Instance{
		Name: "db", Interface: "eth1", VRID: 7, State: "FAULT", Reason: "link-down", Priority: 100, EffectivePriority: 100,
		Maintenance: true, AddFailing: true, SendErrors: 12345678901,
	})
	return st
}

// oddName holds each character a label value must escape.
const oddName = "x\"y\\z\nw"

func get(t *testing.T, h http.Handler, path string) (int, string) {
	t.Helper()
	code, _, body := getHeader(t, h, path)
	return code, body
}

func getHeader(t *testing.T, h http.Handler, path string) (int, http.Header, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	b, _ := io.ReadAll(rec.Body)
	return rec.Code, rec.Header(), string(b)
}

func TestMetricsFollowStatus(t *testing.T) {
	h := Handler(func(context.Context) (control.Status, error) { return status(), nil }, func() bool { return true }, "v1")
	code, body := get(t, h, "/metrics")
	if code != 200 {
		t.Fatalf("/metrics: %d", code)
	}
	m := func(name string, extra ...string) string {
		labels := append([]string{`instance="api"`, `interface="eth0"`, `vrid="51"`}, extra...)
		slices.Sort(labels)
		return name + "{" + strings.Join(labels, ",") + "}"
	}
	for _, want := range []string{
		m("vipd_state", `state="MASTER"`) + " 1",
		m("vipd_state", `state="BACKUP"`) + " 0",
		m("vipd_priority") + " 150",
		m("vipd_effective_priority") + " 100",
		m("vipd_transitions_total", `reason="master-down-timer"`) + " 1",
		m("vipd_adverts_sent_total") + " 7",
		m("vipd_adverts_received_total") + " 3",
		m("vipd_adverts_dropped_total", `reason="ttl"`) + " 2",
		m("vipd_adverts_checksum_form_total", `form="pseudo-header"`) + " 3",
		m("vipd_announcements_total") + " 10",
		m("vipd_vip_present", `vip="198.18.0.100"`) + " 1",
		m("vipd_vip_present", `vip="2001:db8::100"`) + " 0",
		m("vipd_peer_last_seen_timestamp_seconds", `peer="198.18.0.12"`) + " 1.7e+09",
		m("vipd_health_check_up", `check="apiserver"`) + " 0",
		m("vipd_health_check_duration_seconds", `check="apiserver"`) + " 0.25",
		m("vipd_health_check_penalty", `check="apiserver"`) + " 50",
		`vipd_build_info{version="v1"} 1`,
		`vipd_status_up 1`,
		`go_goroutines`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

func TestHealthz(t *testing.T) {
	ok := func(context.Context) (control.Status, error) { return status(), nil }
	stuck := func(ctx context.Context) (control.Status, error) {
		return control.Status{}, errors.New("instance api did not answer")
	}
	for _, tc := range []struct {
		name  string
		src   control.Source
		alive bool
		want  int
	}{
		{"alive", ok, true, 200},
		{"an instance stopped", ok, false, 503},
		{"a loop is wedged", stuck, true, 503},
	} {
		h := Handler(tc.src, func() bool { return tc.alive }, "v1")
		if code, body := get(t, h, "/healthz"); code != tc.want {
			t.Errorf("%s: /healthz %d (%s), want %d", tc.name, code, body, tc.want)
		}
	}
	h := Handler(stuck, func() bool { return true }, "v1")
	if _, body := get(t, h, "/metrics"); !strings.Contains(body, "vipd_status_up 0") {
		t.Error("a failed scrape does not show vipd_status_up 0")
	}
}

// TestGolden compares the vipd_ families with testdata/vipd.txt, which
// client_golang's promhttp wrote for richStatus before vipd wrote the format
// itself.
func TestGolden(t *testing.T) {
	h := Handler(func(context.Context) (control.Status, error) { return richStatus(), nil }, func() bool { return true }, "v1")
	_, body := get(t, h, "/metrics")
	var got strings.Builder
	keep := false
	for _, ln := range strings.SplitAfter(body, "\n") {
		if f := strings.Fields(ln); len(f) > 2 && f[0] == "#" && f[1] == "HELP" {
			keep = strings.HasPrefix(f[2], "vipd_")
		}
		if keep {
			got.WriteString(ln)
		}
	}
	const golden = "testdata/vipd.txt"
	if *update {
		if err := os.WriteFile(golden, []byte(got.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if got.String() != string(want) {
		t.Errorf("vipd_ families differ from %s (-want +got):\n%s", golden, lineDiff(string(want), got.String()))
	}
}

// lineDiff lists the lines only in want (-) and only in got (+).
func lineDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	var b strings.Builder
	for _, ln := range w {
		if !slices.Contains(g, ln) {
			b.WriteString("-" + ln + "\n")
		}
	}
	for _, ln := range g {
		if !slices.Contains(w, ln) {
			b.WriteString("+" + ln + "\n")
		}
	}
	if b.Len() == 0 {
		return "(the same lines in another order)"
	}
	return b.String()
}

// TestParse reads the whole of /metrics with Prometheus's own parser.
func TestParse(t *testing.T) {
	ok := func(context.Context) (control.Status, error) { return richStatus(), nil }
	failed := func(context.Context) (control.Status, error) {
		return control.Status{}, errors.New("instance api did not answer")
	}
	for _, tc := range []struct {
		name string
		src  control.Source
		up   float64
	}{{"answered", ok, 1}, {"failed", failed, 0}} {
		t.Run(tc.name, func(t *testing.T) {
			code, hdr, body := getHeader(t, Handler(tc.src, func() bool { return true }, "v1"), "/metrics")
			if code != 200 {
				t.Fatalf("/metrics: %d", code)
			}
			if got := hdr.Get("Content-Type"); got != "text/plain; version=0.0.4; charset=utf-8" {
				t.Errorf("Content-Type %q", got)
			}
			p := expfmt.NewTextParser(model.LegacyValidation)
			fams, err := p.TextToMetricFamilies(strings.NewReader(body))
			if err != nil {
				t.Fatalf("parse: %v\n%s", err, body)
			}

			// Each family once, in order, its samples sorted by label values.
			var names []string
			for _, ln := range strings.Split(body, "\n") {
				if f := strings.Fields(ln); len(f) > 2 && f[1] == "TYPE" {
					names = append(names, f[2])
				}
			}
			if !slices.IsSorted(names) || len(slices.Compact(slices.Clone(names))) != len(names) {
				t.Errorf("families not sorted or repeated: %v", names)
			}
			if len(names) != len(fams) {
				t.Errorf("%d # TYPE lines for %d families", len(names), len(fams))
			}
			for name, f := range fams {
				key := func(m *dto.Metric) []string {
					var v []string
					for _, l := range m.GetLabel() {
						v = append(v, l.GetValue())
					}
					return v
				}
				if !slices.IsSortedFunc(f.GetMetric(), func(a, b *dto.Metric) int { return slices.Compare(key(a), key(b)) }) {
					t.Errorf("%s: samples not sorted by label values", name)
				}
				for _, m := range f.GetMetric() {
					if !slices.IsSortedFunc(m.GetLabel(), func(a, b *dto.LabelPair) int { return strings.Compare(a.GetName(), b.GetName()) }) {
						t.Errorf("%s: labels not sorted by name: %v", name, m.GetLabel())
					}
				}
			}

			// Every family has the type client_golang gave it.
			want := map[string]dto.MetricType{"process_cpu_seconds_total": dto.MetricType_COUNTER}
			for _, name := range []string{"go_goroutines", "go_threads", "go_info", "go_memstats_alloc_bytes",
				"go_memstats_sys_bytes", "go_memstats_heap_inuse_bytes", "process_resident_memory_bytes",
				"process_virtual_memory_bytes", "process_start_time_seconds", "process_open_fds", "process_max_fds",
				"vipd_build_info", "vipd_status_up"} {
				want[name] = dto.MetricType_GAUGE
			}
			if tc.up == 1 {
				for _, d := range []*desc{descState, descPrio, descEff, descTrans, descSent, descRecv, descDrops,
					descForms, descAnn, descVIP, descPeer, descPeerPri, descCheck, descCheckOK, descCheckD, descCheckP,
					descSendErr, descLastTx, descStalled, descOpErr, descAddFail, descFault, descReload, descMaint,
					descIfDrops, descConflicts, descConflictA} {
					want[d.name] = map[string]dto.MetricType{"gauge": dto.MetricType_GAUGE, "counter": dto.MetricType_COUNTER}[d.typ]
				}
			}
			for name, typ := range want {
				if f, ok := fams[name]; !ok {
					t.Errorf("no %s", name)
				} else if f.GetType() != typ {
					t.Errorf("%s is a %v, want %v", name, f.GetType(), typ)
				}
			}
			for name := range fams {
				if _, ok := want[name]; !ok {
					t.Errorf("unexpected family %s", name)
				}
			}
			if got := fams["vipd_status_up"].GetMetric()[0].GetGauge().GetValue(); got != tc.up {
				t.Errorf("vipd_status_up %v, want %v", got, tc.up)
			}
			if tc.up == 0 {
				return
			}

			// A label value with ", \ and a newline comes back as it went in.
			var found bool
			for _, m := range fams["vipd_health_check_up"].GetMetric() {
				for _, l := range m.GetLabel() {
					found = found || l.GetName() == "check" && l.GetValue() == oddName
				}
			}
			if !found {
				t.Errorf("no vipd_health_check_up{check=%q}", oddName)
			}
		})
	}
}

func TestFormatValue(t *testing.T) {
	for v, want := range map[float64]string{
		0: "0", 1: "1", -1: "-1", 0.25: "0.25", 150: "150", 1.7e9: "1.7e+09", 12345678901: "1.2345678901e+10",
		math.Inf(1): "+Inf", math.Inf(-1): "-Inf", math.NaN(): "NaN", math.Copysign(0, -1): "0",
	} {
		if got := formatValue(v); got != want {
			t.Errorf("formatValue(%v) = %q, want %q", v, got, want)
		}
	}
}

// TestWriteText: families by name, samples by label values in label-name
// order, help escaped; a family without samples (a_c) is not written.
func TestWriteText(t *testing.T) {
	d := gauge("a_b", "Help with \\ and\na newline.", []string{"z", "a"})
	e := counter("a_a_total", "Counted.", nil)
	_ = gauge("a_c", "Never written.", nil)
	var s scrape
	s.add(d, 2, "1", "b")
	s.add(d, 3, "0", "b")
	s.add(d, 4, "2", "a")
	s.add(e, 5)
	var b bytes.Buffer
	s.writeText(&b)
	want := `# HELP a_a_total Counted.
# TYPE a_a_total counter
a_a_total 5
# HELP a_b Help with \\ and\na newline.
# TYPE a_b gauge
a_b{a="a",z="2"} 4
a_b{a="b",z="0"} 3
a_b{a="b",z="1"} 2
`
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
}

// Label values that differ only in invalid UTF-8 are one series once
// repaired: written once, never as the duplicate that makes Prometheus
// reject the scrape's second sample.
func TestWriteTextInvalidUTF8Duplicates(t *testing.T) {
	d := gauge("a_b", "Help.", []string{"check"})
	var s scrape
	s.add(d, 1, "x\xff")
	s.add(d, 2, "x\xfe")
	s.add(d, 3, "y")
	var b bytes.Buffer
	s.writeText(&b)
	want := "# HELP a_b Help.\n# TYPE a_b gauge\na_b{check=\"x\uFFFD\"} 1\na_b{check=\"y\"} 3\n"
	if b.String() != want {
		t.Errorf("got\n%q\nwant\n%q", b.String(), want)
	}
}
