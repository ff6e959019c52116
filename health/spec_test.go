package health

import (
	"strings"
	"testing"
	"time"
)

func TestDefaultAPIServerValid(t *testing.T) {
	s := DefaultAPIServer("")
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	if s.Target != DefaultAPIServerURL || s.CAFile != DefaultCAFile || s.Kind != KindHTTPS {
		t.Errorf("DefaultAPIServer(\"\") = %+v", s)
	}
	if got := DefaultAPIServer("https://10.0.0.1:6443/readyz").Target; got != "https://10.0.0.1:6443/readyz" {
		t.Errorf("url not kept: %q", got)
	}
	// The hysteresis must outlast VRRP's own failure detection and an etcd
	// leader election; see the package documentation.
	if down := time.Duration(s.Fall-1)*s.Interval + s.Timeout; down < 3*time.Second {
		t.Errorf("a down apiserver is noticed after %v, sooner than VRRP notices a dead master", down)
	}
	if s.Rise <= s.Fall {
		t.Errorf("rise %d <= fall %d: coming back must be slower than going away", s.Rise, s.Fall)
	}
}

func TestWithDefaults(t *testing.T) {
	s := Spec{Name: "kubelet", Kind: KindTCP, Target: "127.0.0.1:10250"}.WithDefaults()
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	s = Spec{Name: "x", Kind: KindTCP, Target: "h:1", Interval: 500 * time.Millisecond, Weight: 3}.WithDefaults()
	if s.Timeout != 500*time.Millisecond || s.Weight != 3 {
		t.Errorf("WithDefaults = %+v: want timeout capped at the interval, weight kept", s)
	}
}

func TestValidate(t *testing.T) {
	good := Spec{Name: "c", Kind: KindTCP, Target: "127.0.0.1:10250", Interval: time.Second, Timeout: time.Second, Rise: 1, Fall: 1, Weight: 1}
	tests := []struct {
		name string
		mod  func(*Spec)
		want string // in the error; "" for valid
	}{
		{"good", func(*Spec) {}, ""},
		{"no name", func(s *Spec) { s.Name = "" }, "name is empty"},
		{"no kind", func(s *Spec) { s.Kind = "" }, "kind is empty"},
		{"bad kind", func(s *Spec) { s.Kind = "icmp" }, `kind "icmp" is unknown`},
		{"tcp no port", func(s *Spec) { s.Target = "127.0.0.1" }, "want host:port"},
		{"tcp port 0", func(s *Spec) { s.Target = "h:0" }, "numeric port"},
		{"tcp port name", func(s *Spec) { s.Target = "h:https" }, "numeric port"},
		{"tcp command", func(s *Spec) { s.Command = []string{"x"} }, "command is set"},
		{"http", func(s *Spec) { s.Kind, s.Target = KindHTTP, "http://127.0.0.1:10248/healthz" }, ""},
		{"http wrong scheme", func(s *Spec) { s.Kind, s.Target = KindHTTP, "https://h/" }, "http:// URL"},
		{"https relative", func(s *Spec) { s.Kind, s.Target = KindHTTPS, "/readyz" }, "https:// URL"},
		{"https ca", func(s *Spec) { s.Kind, s.Target, s.CAFile = KindHTTPS, "https://h/", "/ca" }, ""},
		{"tcp ca", func(s *Spec) { s.CAFile = "/ca" }, "https checks only"},
		{"exec", func(s *Spec) { s.Kind, s.Target, s.Command = KindExec, "", []string{"/bin/true"} }, ""},
		{"exec no command", func(s *Spec) { s.Kind, s.Target = KindExec, "" }, "command is empty"},
		{"exec target", func(s *Spec) { s.Kind, s.Command = KindExec, []string{"true"} }, "target is set"},
		{"interval", func(s *Spec) { s.Interval = 0 }, "interval 0s"},
		{"timeout 0", func(s *Spec) { s.Timeout = 0 }, "timeout 0s"},
		{"timeout > interval", func(s *Spec) { s.Timeout = 2 * time.Second }, "no longer than the interval"},
		{"rise", func(s *Spec) { s.Rise = 0 }, "rise 0"},
		{"fall", func(s *Spec) { s.Fall = -1 }, "fall -1"},
		{"weight 0", func(s *Spec) { s.Weight = 0 }, "weight 0"},
		{"weight 255", func(s *Spec) { s.Weight = 255 }, "weight 255: set a weight from 1 to 254"},
		{"weight 254", func(s *Spec) { s.Weight = 254 }, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := good
			tt.mod(&s)
			err := s.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("Validate() = %v, want nil", err)
			case tt.want != "" && err == nil:
				t.Errorf("Validate() = nil, want %q", tt.want)
			case tt.want != "" && (!strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), "health: check ")):
				t.Errorf("Validate() = %v, want %q prefixed with \"health: check \"", err, tt.want)
			}
		})
	}
}

func TestEffectivePriority(t *testing.T) {
	tests := []struct {
		base    uint8
		penalty int
		want    uint8
	}{
		{100, 0, 100},
		{100, 50, 50},
		{100, 99, 1},
		{100, 100, 1}, // never 0: 0 means "master is leaving" (RFC 9568 §6.1)
		{100, 1000, 1},
		{100, -5, 100}, // a negative penalty never raises the priority
		{254, 0, 254},
		{255, 0, 255}, // the owner stays the owner
		{255, 254, 255},
		{0, 0, 1},
		{1, 0, 1},
	}
	for _, tt := range tests {
		if got := EffectivePriority(tt.base, tt.penalty); got != tt.want {
			t.Errorf("EffectivePriority(%d, %d) = %d, want %d", tt.base, tt.penalty, got, tt.want)
		}
	}
}

func TestValidateFaultAndTLS(t *testing.T) {
	https := Spec{Name: "api", Kind: KindHTTPS, Target: "https://127.0.0.1:6443/readyz", Interval: time.Second, Timeout: time.Second, Rise: 1, Fall: 1, Weight: 1}
	iface := Spec{Name: "uplink", Kind: KindInterface, Target: "eth1", Fault: true}.WithDefaults()
	tests := []struct {
		name string
		s    Spec
		mod  func(*Spec)
		want string // in the error; "" for valid
	}{
		{"fault weight 0", https, func(s *Spec) { s.Fault, s.Weight = true, 0 }, ""},
		{"fault with weight", https, func(s *Spec) { s.Fault = true }, "weight 1 on a fault check"},
		{"weight 0 without fault", https, func(s *Spec) { s.Weight = 0 }, "weight 0: set a weight from 1 to 254, or make it a fault check"},
		{"cert and key", https, func(s *Spec) { s.CertFile, s.KeyFile = "/c", "/k" }, ""},
		{"cert without key", https, func(s *Spec) { s.CertFile = "/c" }, "give both the client certificate and its key"},
		{"key without cert", https, func(s *Spec) { s.KeyFile = "/k" }, "give both"},
		{"interface", iface, func(*Spec) {}, ""},
		{"interface with weight", iface, func(s *Spec) { s.Fault, s.Weight = false, 20 }, ""},
		{"interface empty", iface, func(s *Spec) { s.Target = "" }, "not an interface name"},
		{"interface too long", iface, func(s *Spec) { s.Target = "abcdefghijklmnop" }, "not an interface name"},
		{"interface slash", iface, func(s *Spec) { s.Target = "a/b" }, "not an interface name"},
		{"interface command", iface, func(s *Spec) { s.Command = []string{"x"} }, "command is set"},
		{"interface ca", iface, func(s *Spec) { s.CAFile = "/ca" }, "https checks only"},
		{"tcp cert", iface, func(s *Spec) { s.Kind, s.Target, s.CertFile, s.KeyFile = KindTCP, "h:1", "/c", "/k" }, "https checks only"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := tt.s
			tt.mod(&s)
			err := s.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("Validate() = %v, want nil", err)
			case tt.want != "" && err == nil:
				t.Errorf("Validate() = nil, want %q", tt.want)
			case tt.want != "" && !strings.Contains(err.Error(), tt.want):
				t.Errorf("Validate() = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestInterfaceDefaults(t *testing.T) {
	s := Spec{Name: "uplink", Kind: KindInterface, Target: "eth1", Fault: true}.WithDefaults()
	if s.Interval != time.Second || s.Rise != 1 || s.Fall != 1 || s.Timeout != DefaultInterfaceTimeout || s.Weight != 0 {
		t.Errorf("WithDefaults = %+v: want 1s, rise 1, fall 1, a short timeout, weight 0 (fault)", s)
	}
	if s := (Spec{Name: "x", Kind: KindTCP, Target: "h:1"}).WithDefaults(); s.Weight != DefaultAPIServerWeight || s.Rise != DefaultRise {
		t.Errorf("tcp WithDefaults = %+v: want the apiserver defaults", s)
	}
	if s := DefaultAPIServer(""); s.ServerName != "" {
		t.Errorf("DefaultAPIServer sets ServerName %q; want it derived from the URL", s.ServerName)
	}
}
