package metrics

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vipd/vipd/control"
)

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

func get(t *testing.T, h http.Handler, path string) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	b, _ := io.ReadAll(rec.Body)
	return rec.Code, string(b)
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
