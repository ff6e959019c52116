//go:build integration

package integration

// Helpers for the vipd scenario tests (vipd_test.go): starting vipd with the
// flags a scenario needs, reading its full status document, and the checks
// every scenario repeats (who holds the VIP, who is master).

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vipd/vipd/control"
)

// vipdInterval is the advert interval of most scenarios: short enough for a
// fast suite, long enough for a loaded CI machine.
const vipdInterval = 100 * time.Millisecond

// vipdSpec is one vipd start.
type vipdSpec struct {
	VRID     int           // default 51
	Priority int           // required unless Config is set
	Interval time.Duration // default vipdInterval
	VIPs     []netip.Addr  // default the lab's VIP4
	Args     []string      // more flags
	// Config, when set, is written to a file and given as --config instead
	// of the instance flags.
	Config string
}

// masterDown is Master_Down_Interval of a router of priority prio that has
// learned interval (RFC 9568 §6.1).
func masterDown(interval time.Duration, prio int) time.Duration {
	return 3*interval + skew(interval, prio)
}

// skew is Skew_Time (RFC 9568 §6.1).
func skew(interval time.Duration, prio int) time.Duration {
	return time.Duration(int64(256-prio) * int64(interval) / 256)
}

// startVipd starts bin/vipd on host i.
func startVipd(l *lab, i int, s vipdSpec) *vipd {
	l.t.Helper()
	bin := vipdBinaries(l)
	n := l.host(i)
	if s.VRID == 0 {
		s.VRID = 51
	}
	if s.Interval == 0 {
		s.Interval = vipdInterval
	}
	if len(s.VIPs) == 0 {
		s.VIPs = []netip.Addr{l.VIP4}
	}
	sock := filepath.Join(l.dir, fmt.Sprintf("vipd-%s-%d.sock", n.Name, l.logSeq.Add(1)))
	args := []string{filepath.Join(bin, "vipd"), "--control-socket", sock}
	if s.Config != "" {
		path := filepath.Join(l.dir, fmt.Sprintf("vipd-%s-%d.yaml", n.Name, l.logSeq.Add(1)))
		if err := os.WriteFile(path, []byte(s.Config), 0o644); err != nil {
			l.t.Fatalf("%v", err)
		}
		args = append(args, "--config", path)
	} else {
		args = append(args, "--interface", hostIf,
			"--vrid", strconv.Itoa(s.VRID),
			"--priority", strconv.Itoa(s.Priority),
			"--advert-interval", s.Interval.String())
		for _, v := range s.VIPs {
			args = append(args, "--vip", v.String())
		}
	}
	args = append(args, s.Args...)
	v := &vipd{lab: l, node: n, vrid: s.VRID, sock: sock, vipctl: filepath.Join(bin, "vipctl")}
	v.pid = n.Start("vipd", args...)
	return v
}

// doc is `vipctl status --json`, decoded into the daemon's own type.
func (v *vipd) doc() (control.Status, error) {
	var st control.Status
	out, err := exec.Command(v.vipctl, "--socket", v.sock, "status", "--json").Output()
	if err != nil {
		return st, fmt.Errorf("vipctl status on %s: %w", v.node.Name, err)
	}
	if err := json.Unmarshal(out, &st); err != nil {
		return st, fmt.Errorf("vipctl status on %s: %w: %s", v.node.Name, err, out)
	}
	return st, nil
}

// inst returns the status of v's instance (its VRID), or of the one named.
func (v *vipd) inst(name ...string) (control.Instance, error) {
	st, err := v.doc()
	if err != nil {
		return control.Instance{}, err
	}
	for _, in := range st.Instances {
		if (len(name) == 0 && in.VRID == v.vrid) || (len(name) > 0 && in.Name == name[0]) {
			return in, nil
		}
	}
	return control.Instance{}, fmt.Errorf("%s: no instance vrid %d %v in status", v.node.Name, v.vrid, name)
}

// mustInst is inst that fails the test.
func (v *vipd) mustInst(t testing.TB, name ...string) control.Instance {
	t.Helper()
	in, err := v.inst(name...)
	if err != nil {
		t.Fatalf("%v", err)
	}
	return in
}

// logText returns everything vipd wrote so far.
func (v *vipd) logText() string {
	b, _ := os.ReadFile(v.lab.LogPath(v.pid))
	return string(b)
}

// kill9 kills vipd with SIGKILL and waits for it to be gone.
func (v *vipd) kill9(t testing.TB) {
	t.Helper()
	v.lab.Stop(v.pid, syscall.SIGKILL, 5*time.Second, "vipd on "+v.node.Name)
}

// holders returns the names of the lab's nodes (hosts and client) whose eth0
// carries a, read from the kernel.
func holders(l *lab, a netip.Addr) []string {
	var out []string
	for _, n := range l.nodes() {
		if n.HasAddr(a) {
			out = append(out, n.Name)
		}
	}
	return out
}

// electedAmong reports whether, among the hosts in live, winner is MASTER and
// holds every VIP, and every other is BACKUP with winner as its master and no
// VIP. Hosts not in live (crashed, cut off) are not looked at.
func electedAmong(l *lab, vs []*vipd, live []int, winner int, vips ...netip.Addr) (bool, string) {
	if len(vips) == 0 {
		vips = []netip.Addr{l.VIP4}
	}
	w, err := vs[winner].inst()
	if err != nil {
		return false, err.Error()
	}
	if w.State != "MASTER" {
		return false, fmt.Sprintf("h%d is %s (%s)", winner, w.State, w.Reason)
	}
	for _, i := range live {
		for _, a := range vips {
			if has := l.host(i).HasAddr(a); has != (i == winner) {
				return false, fmt.Sprintf("h%d has %v: %v", i, a, has)
			}
		}
		if i == winner {
			continue
		}
		in, err := vs[i].inst()
		if err != nil {
			return false, err.Error()
		}
		if in.State != "BACKUP" || in.Master != w.Master {
			return false, fmt.Sprintf("h%d is %s with master %q, want BACKUP with master %q", i, in.State, in.Master, w.Master)
		}
	}
	return true, ""
}

// all returns 0..n-1.
func all(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i
	}
	return out
}

// without returns s less x.
func without(s []int, x int) []int {
	return slices.DeleteFunc(slices.Clone(s), func(i int) bool { return i == x })
}

// waitElected waits until electedAmong holds.
func waitElected(t testing.TB, l *lab, vs []*vipd, live []int, winner int, timeout time.Duration, vips ...netip.Addr) {
	t.Helper()
	waitFor(t, timeout, fmt.Sprintf("h%d elected", winner), func() (bool, string) {
		return electedAmong(l, vs, live, winner, vips...)
	})
}

// checkStatusMatchesKernel checks, for every vipd, that vips_present in its
// status is exactly the configured VIPs the kernel shows on its eth0.
func checkStatusMatchesKernel(t testing.TB, l *lab, vs []*vipd) {
	t.Helper()
	for _, v := range vs {
		st, err := v.doc()
		if err != nil {
			t.Errorf("%v", err)
			continue
		}
		for _, in := range st.Instances {
			var kernel []string
			for _, s := range in.VIPs {
				if v.node.HasAddr(netip.MustParseAddr(s)) {
					kernel = append(kernel, s)
				}
			}
			got := slices.Sorted(slices.Values(in.VIPsPresent))
			slices.Sort(kernel)
			if !slices.Equal(got, kernel) {
				t.Errorf("%s %s: vipctl says vips_present %v, the kernel has %v", v.node.Name, in.Name, got, kernel)
			}
		}
	}
}

// firstAdvert returns the first advert host sent at or after since that
// matches pred (nil: any).
func firstAdvert(s *advertSniffer, host string, since time.Time, pred func(wireAdvert) bool) (wireAdvert, bool) {
	for _, a := range s.Since(since) {
		if a.Host == host && (pred == nil || pred(a)) {
			return a, true
		}
	}
	return wireAdvert{}, false
}

// lastAdvertBefore returns host's last advert before t.
func lastAdvertBefore(s *advertSniffer, host string, t time.Time) (wireAdvert, bool) {
	var last wireAdvert
	var ok bool
	for _, a := range s.Adverts() {
		if a.Host == host && a.At.Before(t) {
			last, ok = a, true
		}
	}
	return last, ok
}

// waitNeigh waits until the client's neighbour entry for a names host's MAC.
func waitNeigh(t testing.TB, l *lab, a netip.Addr, host int, timeout time.Duration) time.Duration {
	t.Helper()
	want := l.host(host).MAC()
	start := time.Now()
	waitFor(t, timeout, fmt.Sprintf("client's neighbour entry for %v to be h%d (%v)", a, host, want), func() (bool, string) {
		mac, state, err := l.ArpEntry(a)
		if err != nil {
			return false, err.Error()
		}
		return mac.String() == want.String(), fmt.Sprintf("%v %s", mac, state)
	})
	return time.Since(start)
}

// httpGetIn does an HTTP GET from inside namespace ns: the connection is
// opened there (inNetns), then used by an ordinary client.
func httpGetIn(ns, rawURL string) (int, string, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return 0, "", err
	}
	var conn net.Conn
	if err := inNetns(ns, func() error {
		c, err := net.DialTimeout("tcp", u.Host, 2*time.Second)
		conn = c
		return err
	}); err != nil {
		return 0, "", err
	}
	used := false
	cl := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		DisableKeepAlives: true,
		DialContext: func(context.Context, string, string) (net.Conn, error) {
			if used {
				return nil, fmt.Errorf("one connection only")
			}
			used = true
			return conn, nil
		},
	}}
	resp, err := cl.Get(rawURL)
	if err != nil {
		conn.Close()
		return 0, "", err
	}
	defer resp.Body.Close()
	var b strings.Builder
	buf := make([]byte, 32*1024)
	for {
		n, err := resp.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			break
		}
	}
	return resp.StatusCode, b.String(), nil
}

func writeFile(path, body string) error { return os.WriteFile(path, []byte(body), 0o644) }
