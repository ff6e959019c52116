package main

import (
	"bytes"
	"strings"
	"testing"
)

func vipd(args ...string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	code = run(args, &out, &errb)
	return code, out.String(), errb.String()
}

// Bad input: exit 2 and one line naming the field; never a panic. These fail
// before any socket or address is touched, so they need no root.
func TestBadInputExitsTwoWithOneLine(t *testing.T) {
	base := []string{"--interface", "eth0", "--vip", "198.18.0.100", "--vrid", "51"}
	for _, tc := range []struct {
		args  []string
		field string
	}{
		{nil, "--interface"},
		{[]string{"--vrid", "abc"}, "--vrid"},
		{[]string{"--bogus"}, "--bogus"},
		{append(base, "--priority", "300"), "--priority"},
		{append(base, "--vrid", "0"), "--vrid"},
		{append(base, "--vip", "not-an-ip"), "--vip"},
		{append(base, "--advert-interval", "5ms"), "--advert-interval"},
		{append(base, "--vrrp-version", "2", "--vip", "2001:db8::1"), "--vrrp-version"},
		{[]string{"stray"}, "stray"},
		{[]string{"manifest", "pod"}, "--image"},
		{append([]string{"manifest", "pod", "--image", "x"}, append(base, "--vrid", "900")...), "--vrid"},
		{[]string{"manifest", "helm"}, "usage"},
	} {
		code, _, stderr := vipd(tc.args...)
		if code != 2 {
			t.Errorf("vipd %q: exit %d, want 2", tc.args, code)
		}
		if !strings.Contains(stderr, tc.field) {
			t.Errorf("vipd %q: stderr %q does not name %s", tc.args, stderr, tc.field)
		}
		if strings.Contains(stderr, "goroutine") || (tc.field != "usage" && strings.Count(strings.TrimSpace(stderr), "\n") > 0) {
			t.Errorf("vipd %q: stderr is not one line:\n%s", tc.args, stderr)
		}
	}
}

func TestVersion(t *testing.T) {
	if code, out, _ := vipd("--version"); code != 0 || !strings.HasPrefix(out, "vipd ") {
		t.Errorf("exit %d, %q", code, out)
	}
}

func TestManifestCarriesTheFlags(t *testing.T) {
	code, out, stderr := vipd("manifest", "pod", "--image", "localhost/vipd:dev", "--interface", "eth0",
		"--vip", "198.18.0.100", "--vrid", "51", "--priority", "150")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, s := range []string{"image: localhost/vipd:dev", "--vrid=51", "--priority=150", "--vip=198.18.0.100",
		"--track-apiserver=https://127.0.0.1:6443/readyz", "hostNetwork: true", "NET_ADMIN"} {
		if !strings.Contains(out, s) {
			t.Errorf("pod manifest lacks %q:\n%s", s, out)
		}
	}
	if strings.Contains(out, "--image") {
		t.Errorf("--image leaked into the daemon's arguments:\n%s", out)
	}
	code, out, _ = vipd("manifest", "systemd", "--no-track-apiserver", "--interface", "eth0", "--vip", "198.18.0.100", "--vrid", "51")
	if code != 0 || !strings.Contains(out, "ExecStart=/usr/local/bin/vipd") || strings.Contains(out, "track-apiserver") {
		t.Errorf("systemd unit (exit %d):\n%s", code, out)
	}
}

// The generated pod and unit let the zero-loss hand-off finish: their stop
// grace covers Master_Down_Interval of the longest advert interval.
func TestManifestGraceCoversTheHandoff(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"manifest", "pod", "--image", "x", "--interface", "eth0", "--vip", "198.18.0.100", "--vrid", "5"}, "terminationGracePeriodSeconds: 10\n"},
		{[]string{"manifest", "pod", "--image", "x", "--interface", "eth0", "--vip", "198.18.0.100", "--vrid", "5", "--advert-interval", "10s"}, "terminationGracePeriodSeconds: 46\n"},
		{[]string{"manifest", "systemd", "--interface", "eth0", "--vip", "198.18.0.100", "--vrid", "5", "--advert-interval", "10s"}, "TimeoutStopSec=46\n"},
		{[]string{"manifest", "pod", "--image", "x", "--interface", "eth0", "--vip", "198.18.0.100", "--vrid", "5", "--notify-stop", "/bin/true"}, "terminationGracePeriodSeconds: 72\n"},
	} {
		code, out, stderr := vipd(tc.args...)
		if code != 0 || !strings.Contains(out, tc.want) {
			t.Errorf("vipd %q: exit %d %s; want %q in:\n%s", tc.args, code, stderr, tc.want, out)
		}
	}
}
