package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vipd/vipd/config"
)

func TestConvertKeepalived(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("keepalived.conf", "vrrp_instance VI_1 {\n  state MASTER\n  interface eth0\n  virtual_router_id 51\n  nopreempt\n  virtual_ipaddress {\n    198.18.0.100/24\n  }\n}\n")
	code, out, stderr := vipd("convert", "keepalived", good)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if _, err := config.Load("out.yaml", []byte(out)); err != nil {
		t.Errorf("stdout does not load: %v\n%s", err, out)
	}
	for _, want := range []string{"keepalived.conf:2: state MASTER: dropped", "keepalived.conf:5: nopreempt → preempt: false",
		"keepalived.conf:7: virtual_ipaddress 198.18.0.100/24 → 198.18.0.100 (vipd adds VIPs as /32)"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}

	bad := write("bad.conf", "vrrp_instance VI_1 {\n  interface eth0\n")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"convert", "keepalived", bad}, "bad.conf:1:"},
		{[]string{"convert", "keepalived", filepath.Join(dir, "missing.conf")}, "missing.conf"},
		{[]string{"convert", "keepalived"}, "usage: vipd convert keepalived"},
		{[]string{"convert", "frr", good}, "usage: vipd convert keepalived"},
		{[]string{"convert", "keepalived", "--bogus", good}, "--bogus"},
	} {
		code, out, stderr := vipd(tc.args...)
		if code != 2 || out != "" || !strings.Contains(stderr, tc.want) {
			t.Errorf("vipd %q: exit %d, stdout %q, stderr %q; want exit 2 naming %q", tc.args, code, out, stderr, tc.want)
		}
	}
}
