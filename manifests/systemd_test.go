package manifests

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// TestUnitSystemdVerify has systemd itself load the rendered units, when
// systemd-analyze is installed: any quoting or directive it would warn
// about fails the test.
func TestUnitSystemdVerify(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze is not installed")
	}
	bin, err := exec.LookPath("true")
	if err != nil {
		t.Skip("no true(1) to stand in for vipd")
	}
	for name, args := range map[string][]string{"default": typicalArgs, "quoting": quotingArgs} {
		b, err := Unit{BinaryPath: bin, Args: args}.Render()
		if err != nil {
			t.Fatal(err)
		}
		f := filepath.Join(t.TempDir(), "vipd-"+name+".service")
		if err := os.WriteFile(f, b, 0o644); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
		out, err := exec.CommandContext(ctx, analyze, "verify", "--man=no", f).CombinedOutput()
		cancel()
		if err != nil || len(out) > 0 {
			t.Errorf("systemd-analyze verify %s: %v\n%s", name, err, out)
		}
	}
}
