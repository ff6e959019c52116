package election

import (
	"errors"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"
)

func validConfig() Config {
	return Config{
		Version:        3,
		Priority:       100,
		AdvertInterval: time.Second,
		Preempt:        true,
		Address:        netip.MustParseAddr("198.18.0.2"),

		AnnounceCount:    5,
		AnnounceInterval: time.Second,
	}
}

func TestNewValidates(t *testing.T) {
	tests := []struct {
		name  string
		edit  func(*Config)
		field string // named in the error; "" for no error
	}{
		{"valid v3", func(*Config) {}, ""},
		{"valid v3 IPv6", func(c *Config) { c.Address = netip.MustParseAddr("2001:db8::2") }, ""},
		{"valid v3 10ms", func(c *Config) { c.AdvertInterval = 10 * time.Millisecond }, ""},
		{"valid v3 40.95s", func(c *Config) { c.AdvertInterval = 40950 * time.Millisecond }, ""},
		{"valid v2", func(c *Config) { c.Version = 2; c.AdvertInterval = 255 * time.Second }, ""},
		{"valid owner", func(c *Config) { c.Priority = 255 }, ""},
		{"version 0", func(c *Config) { c.Version = 0 }, "Version"},
		{"version 4", func(c *Config) { c.Version = 4 }, "Version"},
		{"priority 0", func(c *Config) { c.Priority = 0 }, "Priority"},
		{"v3 interval 0", func(c *Config) { c.AdvertInterval = 0 }, "AdvertInterval"},
		{"v3 interval 5ms", func(c *Config) { c.AdvertInterval = 5 * time.Millisecond }, "AdvertInterval"},
		{"v3 interval 15ms", func(c *Config) { c.AdvertInterval = 15 * time.Millisecond }, "AdvertInterval"},
		{"v3 interval 41s", func(c *Config) { c.AdvertInterval = 41 * time.Second }, "AdvertInterval"},
		{"v2 interval 500ms", func(c *Config) { c.Version = 2; c.AdvertInterval = 500 * time.Millisecond }, "AdvertInterval"},
		{"v2 interval 256s", func(c *Config) { c.Version = 2; c.AdvertInterval = 256 * time.Second }, "AdvertInterval"},
		{"negative delay", func(c *Config) { c.PreemptDelay = -time.Second }, "PreemptDelay"},
		{"no address", func(c *Config) { c.Address = netip.Addr{} }, "Address"},
		{"v2 IPv6", func(c *Config) { c.Version = 2; c.Address = netip.MustParseAddr("2001:db8::2") }, "Address"},
		{"valid one round", func(c *Config) { c.AnnounceCount = 1 }, ""},
		{"valid refresh", func(c *Config) { c.AnnounceRefresh = time.Minute }, ""},
		{"valid backoff", func(c *Config) { c.RetryBackoff, c.RetryBackoffMax = time.Second, time.Second }, ""},
		{"valid backoff alone", func(c *Config) { c.RetryBackoff = 2 * time.Minute }, ""},
		{"no rounds", func(c *Config) { c.AnnounceCount = 0 }, "AnnounceCount"},
		{"negative rounds", func(c *Config) { c.AnnounceCount = -1 }, "AnnounceCount"},
		{"no round interval", func(c *Config) { c.AnnounceInterval = 0 }, "AnnounceInterval"},
		{"negative refresh", func(c *Config) { c.AnnounceRefresh = -time.Second }, "AnnounceRefresh"},
		{"negative backoff", func(c *Config) { c.RetryBackoff = -time.Second }, "RetryBackoff"},
		{"negative backoff max", func(c *Config) { c.RetryBackoffMax = -time.Second }, "RetryBackoffMax"},
		{"backoff max below backoff", func(c *Config) { c.RetryBackoff, c.RetryBackoffMax = 2*time.Second, time.Second }, "RetryBackoffMax"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := validConfig()
			tt.edit(&cfg)
			m, err := New(cfg)
			if tt.field == "" {
				if err != nil || m == nil {
					t.Fatalf("New() = %v, %v; want a Machine", m, err)
				}
				if st := m.Status(); st.State != Initialize || st.Reason != ReasonNone {
					t.Errorf("new Machine in %v/%v, want INIT/none", st.State, st.Reason)
				}
				return
			}
			if !errors.Is(err, ErrConfig) {
				t.Fatalf("New() error = %v, want ErrConfig", err)
			}
			if !strings.Contains(err.Error(), tt.field+":") {
				t.Errorf("New() error = %q, want it to name %s", err, tt.field)
			}
		})
	}
}

// TestTimerFormulas checks Skew_Time and Master_Down_Interval: RFC 9568 §6.1
// for version 3 (with the learned Master_Adver_Interval) and RFC 3768 §6.1
// for version 2.
func TestTimerFormulas(t *testing.T) {
	tests := []struct {
		version  int
		prio     uint8
		interval time.Duration // Master_Adver_Interval
		skew     time.Duration
		down     time.Duration
	}{
		{3, 100, time.Second, 609375 * time.Microsecond, 3609375 * time.Microsecond},
		{3, 255, time.Second, 3906250, 3003906250},
		{3, 1, 10 * time.Millisecond, 9960937, 39960937},
		{3, 200, 2 * time.Second, 437500 * time.Microsecond, 6437500 * time.Microsecond},
		{2, 100, 3 * time.Second, 609375 * time.Microsecond, 9609375 * time.Microsecond},
		{2, 254, time.Second, 7812500, 3007812500},
	}
	for _, tt := range tests {
		cfg := validConfig()
		cfg.Version, cfg.Priority, cfg.AdvertInterval = tt.version, tt.prio, tt.interval
		m, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		st := m.Status()
		if st.SkewTime != tt.skew || st.MasterDownInterval != tt.down {
			t.Errorf("v%d priority %d interval %v: skew %v down %v, want %v %v",
				tt.version, tt.prio, tt.interval, st.SkewTime, st.MasterDownInterval, tt.skew, tt.down)
		}
	}
}

// TestNames pins the strings that logs, metrics and the status document use.
func TestNames(t *testing.T) {
	got := []string{
		Initialize.String(), Backup.String(), Master.String(), Fault.String(), Handoff.String(), State(9).String(),
	}
	for r := ReasonNone; r <= ReasonMaintenance+1; r++ {
		got = append(got, r.String())
	}
	for c := FaultNone; c <= FaultCheck+1; c++ {
		got = append(got, c.String())
	}
	for k := EventStartup; k <= EventMaintenance+1; k++ {
		got = append(got, k.String())
	}
	for k := ActSendAdvert; k <= ActConfirm+1; k++ {
		got = append(got, k.String())
	}
	want := []string{
		"INIT", "BACKUP", "MASTER", "FAULT", "HANDOFF", "State(9)",
		"none", "startup", "owner-startup", "master-down-timer", "higher-priority-advert",
		"equal-priority-higher-address", "priority-zero-advert", "preempt", "link-down",
		"link-up", "shutdown", "priority-changed", "interface-missing", "no-source-address",
		"check-fault", "resign", "handoff-done", "handoff-timeout", "maintenance", "Reason(19)",
		"none", "link-down", "interface-missing", "no-source-address", "check-fault", "FaultCause(5)",
		"startup", "advert", "timer", "priority", "link-down", "link-up", "shutdown", "fault",
		"announce-failed", "add-failed", "add-ok", "remove-failed", "remove-ok", "vips-missing",
		"hardware-changed", "resign", "confirmed", "maintenance", "EventKind(18)",
		"send-advert", "add-vips", "remove-vips", "announce", "confirm", "ActionKind(5)",
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("names:\n got %q\nwant %q", got, want)
	}
}

// TestBackoff checks the retry backoff of failed adds and removes: 1s
// doubling to 60s by default, or the configured bounds.
func TestBackoff(t *testing.T) {
	def := validConfig()
	var got []time.Duration
	for n := 1; n <= 9; n++ {
		got = append(got, def.backoff(n))
	}
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second,
		16 * time.Second, 32 * time.Second, time.Minute, time.Minute, time.Minute}
	if !slices.Equal(got, want) {
		t.Errorf("default backoff %v, want %v", got, want)
	}
	c := validConfig()
	c.RetryBackoff, c.RetryBackoffMax = 300*time.Millisecond, time.Second
	got = got[:0]
	for n := 1; n <= 4; n++ {
		got = append(got, c.backoff(n))
	}
	want = []time.Duration{300 * time.Millisecond, 600 * time.Millisecond, time.Second, time.Second}
	if !slices.Equal(got, want) {
		t.Errorf("configured backoff %v, want %v", got, want)
	}
	if d := def.backoff(1 << 20); d != time.Minute {
		t.Errorf("backoff after many failures %v, want 1m", d)
	}
}
