package control

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files")

var now = time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)

func sample() Status {
	return Status{Version: "test", Instances: []Instance{
		{
			Name: "api", Interface: "eth0", VRID: 51, Family: "ipv4", VRRPVersion: 3, Mode: "multicast",
			State: "MASTER", Since: now.Add(-90 * time.Second), Reason: "master-down-timer",
			Priority: 150, EffectivePriority: 100, Master: "198.18.0.11",
			VIPs: []string{"198.18.0.100", "2001:db8::100"}, VIPsPresent: []string{"198.18.0.100"},
			AdvertsSent: 90, AdvertsReceived: 3, Drops: map[string]uint64{"vrid": 12, "ttl": 0, "checksum": 1},
			Checks: []Check{{Name: "apiserver", Kind: "https", Up: false, Streak: -4, LastOK: false,
				LastError: "connection refused", LastAt: now, Weight: 50, Penalty: 50}},
		},
		{
			Name: "ingress", Interface: "eth1", VRID: 52, State: "BACKUP", Since: now.Add(-2 * time.Hour),
			Reason: "startup", Priority: 100, EffectivePriority: 100, Master: "198.18.1.12",
			VIPs: []string{"198.18.1.200"}, AdvertsReceived: 7200, Drops: map[string]uint64{},
		},
		{Name: "idle", Interface: "eth2", VRID: 9, State: "FAULT", Reason: "link-down", Priority: 90,
			EffectivePriority: 90, VIPs: []string{"198.18.2.1"}, LastError: "adding VIP 198.18.2.1: no such device"},
	}}
}

func TestWriteTableGolden(t *testing.T) {
	var b bytes.Buffer
	if err := WriteTable(&b, sample(), now); err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "status.golden")
	if *update {
		if err := os.WriteFile(golden, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if b.String() != string(want) {
		t.Errorf("table differs from %s (run with -update after checking):\n--- want\n%s\n--- got\n%s", golden, want, b.String())
	}
	for _, s := range []string{"198.18.0.100(up)", "2001:db8::100(absent)", "checksum=1,vrid=12", "-50 of 50", "connection refused", "no such device"} {
		if !strings.Contains(b.String(), s) {
			t.Errorf("table lacks %q", s)
		}
	}
}

func TestServeAndFetch(t *testing.T) {
	path := filepath.Join(t.TempDir(), "run", "vipd.sock")
	l, err := Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("socket mode %v, %v; want 0600 (root only)", fi.Mode().Perm(), err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		done <- Serve(ctx, l, Handler(func(context.Context) (Status, error) { return sample(), nil }))
	}()
	st, err := Fetch(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Instances) != 3 || st.Instances[0].Drops["vrid"] != 12 || st.Instances[0].Checks[0].Streak != -4 {
		t.Errorf("fetched %+v", st)
	}
	// A second daemon must not steal a live socket.
	if _, err := Listen(path); !errors.Is(err, ErrInUse) {
		t.Errorf("second Listen: %v, want ErrInUse", err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	// A socket left by a killed daemon is replaced.
	l2, err := Listen(path)
	if err != nil {
		t.Fatalf("Listen over a stale socket: %v", err)
	}
	l2.Close()
}

func TestFetchUnreachable(t *testing.T) {
	_, err := Fetch(t.Context(), filepath.Join(t.TempDir(), "none.sock"))
	if !errors.Is(err, ErrUnreachable) || !strings.Contains(err.Error(), "no such file") {
		t.Errorf("got %v", err)
	}
}

func TestHandlerReportsSourceErrors(t *testing.T) {
	h := Handler(func(context.Context) (Status, error) { return Status{}, errors.New("instance api did not answer") })
	path := filepath.Join(t.TempDir(), "vipd.sock")
	l, err := Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	go (&http.Server{Handler: h}).Serve(l)
	defer l.Close()
	if _, err := Fetch(t.Context(), path); err == nil || !strings.Contains(err.Error(), "did not answer") {
		t.Errorf("got %v", err)
	}
}

// A typo in --control-socket that names an operator's file must never delete it.
func TestListenNeverRemovesAFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "precious.conf")
	if err := os.WriteFile(path, []byte("keep me"), 0o600); err != nil {
		t.Fatal(err)
	}
	if l, err := Listen(path); !errors.Is(err, ErrNotSocket) {
		if l != nil {
			l.Close()
		}
		t.Fatalf("Listen on a regular file: %v, want ErrNotSocket", err)
	}
	if b, err := os.ReadFile(path); err != nil || string(b) != "keep me" {
		t.Fatalf("file after Listen: %q, %v", b, err)
	}
}

// A socket left by a killed daemon is replaced.
func TestListenReplacesStaleSocket(t *testing.T) {
	path := filepath.Join(t.TempDir(), "vipd.sock")
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	l.(*net.UnixListener).SetUnlinkOnClose(false)
	l.Close()
	l2, err := Listen(path)
	if err != nil {
		t.Fatalf("stale socket: %v", err)
	}
	l2.Close()
}
