package main

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vipd/vipd/control"
)

func vipctl(args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := run(args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestUnreachableDaemon(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "vipd.sock")
	code, _, stderr := vipctl("--socket", sock, "status")
	if code != 1 || !strings.Contains(stderr, "cannot read vipd's status") || !strings.Contains(stderr, sock) {
		t.Errorf("exit %d: %s", code, stderr)
	}
}

func TestUsage(t *testing.T) {
	for _, args := range [][]string{nil, {"stats"}, {"status", "extra"}, {"--nope"}} {
		if code, _, _ := vipctl(args...); code != 2 {
			t.Errorf("vipctl %q: exit %d, want 2", args, code)
		}
	}
}

func TestStatusTableAndJSON(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "vipd.sock")
	l, err := control.Listen(sock)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	st := control.Status{Version: "t", Instances: []control.Instance{{
		Name: "api", Interface: "eth0", VRID: 51, State: "MASTER", Priority: 150, EffectivePriority: 150,
		Master: "198.18.0.11", VIPs: []string{"198.18.0.100"}, VIPsPresent: []string{"198.18.0.100"},
		Since: time.Now(), Drops: map[string]uint64{"ttl": 2},
	}}}
	go control.Serve(ctx, l, control.Handler(func(context.Context) (control.Status, error) { return st, nil }))

	code, out, stderr := vipctl("--socket", sock, "status")
	if code != 0 || !strings.Contains(out, "MASTER") || !strings.Contains(out, "198.18.0.100(up)") || !strings.Contains(out, "ttl=2") {
		t.Errorf("table (exit %d, %s):\n%s", code, stderr, out)
	}
	code, out, _ = vipctl("status", "--json", "--socket", sock)
	var doc map[string]any
	if code != 0 || json.Unmarshal([]byte(out), &doc) != nil {
		t.Fatalf("json (exit %d):\n%s", code, out)
	}
	inst := doc["instances"].([]any)[0].(map[string]any)
	for _, k := range []string{"name", "interface", "vrid", "state", "priority", "effective_priority", "master",
		"vips", "vips_present", "adverts_sent", "adverts_received", "drops"} {
		if _, ok := inst[k]; !ok {
			t.Errorf("JSON instance lacks %q", k)
		}
	}
}

// fakeOps records the write operations vipctl asks for.
type fakeOps struct {
	calls []string
	err   error
}

func (f *fakeOps) Maintenance(_ context.Context, who control.Caller, instance string, on bool) ([]string, error) {
	f.calls = append(f.calls, "maintenance "+instance+" "+map[bool]string{true: "on", false: "off"}[on]+" "+who.String())
	return []string{"api: maintenance"}, f.err
}

func (f *fakeOps) Resign(_ context.Context, who control.Caller, instance string) ([]string, error) {
	f.calls = append(f.calls, "resign "+instance+" "+who.String())
	return []string{"api: handing off"}, f.err
}

func TestWriteCommands(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "vipd.sock")
	l, err := control.Listen(sock)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	ops := &fakeOps{}
	go control.Serve(ctx, l, control.Handler(func(context.Context) (control.Status, error) { return control.Status{}, nil }, ops))

	if code, out, stderr := vipctl("--socket", sock, "maintenance", "on", "--instance", "api"); code != 0 || !strings.Contains(out, "api: maintenance") {
		t.Errorf("maintenance on: exit %d %q %q", code, out, stderr)
	}
	if code, _, _ := vipctl("--socket", sock, "resign"); code != 0 {
		t.Errorf("resign: exit %d", code)
	}
	if len(ops.calls) != 2 || !strings.HasPrefix(ops.calls[0], "maintenance api on pid=") || !strings.HasPrefix(ops.calls[1], "resign  pid=") {
		t.Errorf("calls %q: want maintenance of api, then resign of all, each with the caller's credentials", ops.calls)
	}
	// The caller's credentials are the kernel's: this test process.
	if !strings.Contains(ops.calls[0], "uid=") || strings.Contains(ops.calls[0], "pid=0 ") {
		t.Errorf("caller %q", ops.calls[0])
	}
	ops.err = control.ErrNotApplicable
	if code, _, stderr := vipctl("--socket", sock, "resign"); code != 1 || !strings.Contains(stderr, "not applicable") {
		t.Errorf("failed resign: exit %d %q", code, stderr)
	}
	for _, args := range [][]string{{"maintenance"}, {"maintenance", "maybe"}, {"resign", "now"}} {
		if code, _, _ := vipctl(append([]string{"--socket", sock}, args...)...); code != 2 {
			t.Errorf("vipctl %q: exit %d, want 2", args, code)
		}
	}
}
