//go:build integration

package integration

// The rolling migration of issue 10: a kubeadm cluster's three masters run
// keepalived 2.2.7 with the kubeadm HA guide's configuration (VRRPv2, auth_type
// PASS, one VIP, the check_apiserver.sh vrrp_script), and are moved to vipd
// one at a time, as an operator would: keepalived stopped gracefully, vipd
// started with exactly what `vipd convert keepalived` printed from that
// node's /etc/keepalived/keepalived.conf. A client probes the VIP every 10 ms
// throughout, and every namespace's addresses are read every 20 ms.
//
// Each master is a lab host with an /etc of its own: an overlay of the
// host's /etc with <dir>/root-hN/etc on top, mounted in the mount namespace
// `ip netns exec` gives each process, so that keepalived reads the guide's
// paths (/etc/keepalived/keepalived.conf, check_apiserver.sh) and vipd's
// converted check finds the cluster CA at /etc/kubernetes/pki/ca.crt, where
// kubeadm puts it. Nothing is written to the host's /etc. keepalived, the
// converter and vipd never run at the same time on one master, so one
// overlay upper directory is never mounted twice at once.
//
// The "apiserver" is a TLS server on 127.0.0.1:6443 and [::1]:6443 in each
// master's namespace that answers 200 to every path (the guide's script
// curls /healthz, vipd's check asks /readyz), with a certificate for
// "kubernetes" signed by the cluster CA.

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"text/template"
	"time"
)

// migrationOverlay is the wrapper every process of a master runs under: it
// mounts the master's /etc ($1) over the host's in the process's own mount
// namespace (`ip netns exec` made it a slave of the host's, so nothing
// propagates back) and execs the command.
const migrationOverlay = `mount -t overlay vipd-migration-etc -o "lowerdir=/etc,upperdir=$1/etc,workdir=$1/etc.work,index=off" /etc && shift && exec "$@"`

// migrationMaster is one master of the migration.
type migrationMaster struct {
	l    *lab
	h    int
	root string // its /etc is root/etc (the overlay's upper directory)
	prio int
	conf string // keepalived.conf as written
}

// wrap is the argv prefix that runs a command under the master's /etc.
func (m *migrationMaster) wrap() []string {
	return []string{"sh", "-c", migrationOverlay, "sh", m.root}
}

// write puts a file at path (absolute, inside the master's /etc) with mode.
func (m *migrationMaster) write(path string, data []byte, mode os.FileMode) {
	m.l.t.Helper()
	if !strings.HasPrefix(path, "/etc/") {
		m.l.t.Fatalf("migration: %s is not below /etc", path)
	}
	p := filepath.Join(m.root, path)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		m.l.t.Fatalf("%v", err)
	}
	if err := os.WriteFile(p, data, mode); err != nil {
		m.l.t.Fatalf("%v", err)
	}
}

// read reads a file of the master's /etc.
func (m *migrationMaster) read(path string) []byte {
	m.l.t.Helper()
	b, err := os.ReadFile(filepath.Join(m.root, path))
	if err != nil {
		m.l.t.Fatalf("%v", err)
	}
	return b
}

// exec runs a short command on the master (its namespace and its /etc) and
// returns stdout and stderr apart.
func (m *migrationMaster) exec(args ...string) (stdout, stderr string, err error) {
	argv := append(append([]string{"ip", "netns", "exec", m.l.host(m.h).NS}, m.wrap()...), args...)
	cmd := exec.Command(argv[0], argv[1:]...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err = cmd.Run()
	return o.String(), e.String(), err
}

// renderTemplate fills testdata/migration/<name> with data.
func renderTemplate(t testing.TB, name string, data any) []byte {
	t.Helper()
	tmpl, err := template.ParseFiles(filepath.Join("testdata", "migration", name))
	if err != nil {
		t.Fatalf("%v", err)
	}
	var b bytes.Buffer
	if err := tmpl.Execute(&b, data); err != nil {
		t.Fatalf("%v", err)
	}
	return b.Bytes()
}

// startAnyPathAPIServer serves 200 on every path over TLS, on 127.0.0.1:6443
// and [::1]:6443 in the node's namespace (curl tries localhost as ::1 first).
func startAnyPathAPIServer(t *testing.T, n *node, ca testCA) {
	t.Helper()
	var ls []net.Listener
	if err := inNetns(n.NS, func() error {
		for _, a := range []string{"127.0.0.1:6443", "[::1]:6443"} {
			l, err := net.Listen("tcp", a)
			if err != nil {
				return err
			}
			ls = append(ls, l)
		}
		return nil
	}); err != nil {
		t.Fatalf("apiserver in %s: %v", n.Name, err)
	}
	srv := &http.Server{
		Handler:   http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("ok")) }),
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{ca.cert}},
	}
	for _, l := range ls {
		go srv.ServeTLS(l, "", "")
	}
	t.Cleanup(func() { srv.Close() })
}

// holderWatch reads every namespace's IPv4 addresses every 20 ms and keeps
// the set of hosts holding the VIP over time.
type holderWatch struct {
	vip     netip.Addr
	names   []string
	readers []*addrReader

	mu      sync.Mutex
	samples []holderSample
	err     error
	stop    chan struct{}
	done    chan struct{}
}

type holderSample struct {
	At      time.Time
	Holders []string
}

func startHolderWatch(l *lab, vip netip.Addr) *holderWatch {
	l.t.Helper()
	w := &holderWatch{vip: vip, stop: make(chan struct{}), done: make(chan struct{})}
	for _, n := range l.nodes() {
		r, err := openAddrReader(n.NS)
		if err != nil {
			l.t.Fatalf("%v", err)
		}
		w.readers = append(w.readers, r)
		w.names = append(w.names, n.Name)
	}
	go w.loop()
	l.onTeardown(w.Stop)
	return w
}

func (w *holderWatch) loop() {
	defer close(w.done)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		s := holderSample{At: time.Now()}
		for i, r := range w.readers {
			addrs, err := r.IPv4()
			if err != nil {
				w.mu.Lock()
				w.err = fmt.Errorf("%s: %w", w.names[i], err)
				w.mu.Unlock()
				continue
			}
			for _, a := range addrs {
				if a == w.vip {
					s.Holders = append(s.Holders, w.names[i])
				}
			}
		}
		w.mu.Lock()
		w.samples = append(w.samples, s)
		w.mu.Unlock()
		select {
		case <-w.stop:
			return
		case <-tick.C:
		}
	}
}

// Stop ends the watch (idempotent).
func (w *holderWatch) Stop() {
	select {
	case <-w.stop:
	default:
		close(w.stop)
	}
	<-w.done
	for _, r := range w.readers {
		r.Close()
	}
}

// report returns the longest stretch with two or more holders (from the
// first sample that saw them to the first that did not), when it began,
// the longest stretch with none, and the changes of the holder set.
func (w *holderWatch) report() (dual time.Duration, dualAt time.Time, none time.Duration, changes []string, err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	var dualFrom, noneFrom time.Time
	prev := "-"
	for _, s := range w.samples {
		set := strings.Join(s.Holders, "+")
		if set != prev {
			changes = append(changes, fmt.Sprintf("%s %s", s.At.Format("15:04:05.000"), cmpOr(set, "none")))
			prev = set
		}
		switch {
		case len(s.Holders) >= 2 && dualFrom.IsZero():
			dualFrom = s.At
		case len(s.Holders) < 2 && !dualFrom.IsZero():
			if d := s.At.Sub(dualFrom); d > dual {
				dual, dualAt = d, dualFrom
			}
			dualFrom = time.Time{}
		}
		switch {
		case len(s.Holders) == 0 && noneFrom.IsZero():
			noneFrom = s.At
		case len(s.Holders) > 0 && !noneFrom.IsZero():
			none = max(none, s.At.Sub(noneFrom))
			noneFrom = time.Time{}
		}
	}
	if n := len(w.samples); n > 0 && !dualFrom.IsZero() {
		if d := w.samples[n-1].At.Sub(dualFrom); d > dual {
			dual, dualAt = d, dualFrom
		}
	}
	return dual, dualAt, none, changes, w.err
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

var (
	// keepalivedScriptOKRE: keepalived ran the guide's check script against
	// the fake apiserver and it passed.
	keepalivedScriptOKRE  = regexp.MustCompile(`Script\(check_apiserver\) succeeded`)
	keepalivedScriptBadRE = regexp.MustCompile(`Script\(check_apiserver\) failed`)
)

// TestMigrationKubeadmGuide is the rolling migration: keepalived on h2 (99),
// then h1 (100), then the Master h0 (101, state MASTER) replaced by vipd with
// the converted config. The client's longest gap over the whole migration is
// at most 1 s, two hosts never hold the VIP for longer than one advert
// interval, vipd counts no auth drops, and the end is three vipd with the VIP
// on h0 alone.
func TestMigrationKubeadmGuide(t *testing.T) {
	const (
		advertInterval = time.Second // the guide's advert_int (keepalived's default)
		maxGap         = time.Second
		vrid           = 51
	)
	l := newLab(t, 3, withoutIPv6())
	bin := vipdBinaries(l)
	vip := l.VIP4
	ca := newTestCA(t)
	caPEM, err := os.ReadFile(ca.file)
	if err != nil {
		t.Fatal(err)
	}

	prios := []int{101, 100, 99}
	ms := make([]*migrationMaster, 3)
	ks := make([]*keepalived, 3)
	for h, p := range prios {
		m := &migrationMaster{l: l, h: h, prio: p, root: filepath.Join(l.dir, "root-"+l.host(h).Name)}
		ms[h] = m
		state := "BACKUP"
		if h == 0 {
			state = "MASTER"
		}
		conf := renderTemplate(t, "keepalived.conf.tmpl", map[string]any{
			"State": state, "Interface": hostIf, "RouterID": vrid, "Priority": p, "AuthPass": authPass, "VIP": vip,
		})
		m.conf = string(conf)
		m.write("/etc/keepalived/keepalived.conf", conf, 0o644)
		m.write("/etc/keepalived/check_apiserver.sh", renderTemplate(t, "check_apiserver.sh.tmpl", map[string]any{"Port": 6443}), 0o755)
		m.write("/etc/kubernetes/pki/ca.crt", caPEM, 0o644) // kubeadm's cluster CA
		if err := os.MkdirAll(filepath.Join(m.root, "etc.work"), 0o755); err != nil {
			t.Fatal(err)
		}
		startAnyPathAPIServer(t, l.host(h), ca)
	}
	for h, m := range ms {
		ks[h] = startKeepalivedConf(l, h, "VI_1", "", "/etc/keepalived/keepalived.conf", m.wrap())
	}
	defer func() { interopCheckKeepalived(t, ks...) }()
	ks[0].waitState("MASTER", 10*time.Second)
	ks[1].waitState("BACKUP", 5*time.Second)
	ks[2].waitState("BACKUP", 5*time.Second)
	for h, k := range ks {
		// The guide's script ran and passed against the fake apiserver
		// (interval 3, rise 2: within about 6 s), and never failed.
		waitFor(t, 10*time.Second, fmt.Sprintf("keepalived on h%d: check_apiserver succeeded", h), func() (bool, string) {
			return k.interopLogged(keepalivedScriptOKRE), tail(l.LogPath(k.pid), 5)
		})
		if k.interopLogged(keepalivedScriptBadRE) {
			t.Fatalf("keepalived on h%d: check_apiserver failed; its log:\n%s", h, tail(l.LogPath(k.pid), 30))
		}
	}
	waitFor(t, 3*time.Second, "VIP on h0 only", func() (bool, string) {
		hs := holders(l, vip)
		return len(hs) == 1 && hs[0] == "h0", fmt.Sprint(hs)
	})

	hw := startHolderWatch(l, vip)
	pr := l.startProber(vip)
	waitFor(t, 5*time.Second, "client answered by h0", func() (bool, string) {
		h, _ := pr.LastHost()
		return pr.StableOn("h0", 300*time.Millisecond), "last answer from " + h
	})
	migrationStart := time.Now()

	vs := make([]*vipd, 3)
	migrate := func(h int) {
		t.Helper()
		m, n := ms[h], l.host(h)
		stepStart := time.Now()
		// 1. keepalived's graceful stop (systemctl stop keepalived: SIGTERM).
		ks[h].Stop()
		// 2. vipd convert keepalived /etc/keepalived/keepalived.conf > /etc/vipd/vipd.yaml
		out, notes, err := m.exec(filepath.Join(bin, "vipd"), "convert", "keepalived", "/etc/keepalived/keepalived.conf")
		if err != nil {
			t.Fatalf("migration: vipd convert keepalived on %s: %v\n%s", n.Name, err, notes)
		}
		t.Logf("migration: %s: vipd convert keepalived printed:\n%s\nnotes on stderr:\n%s", n.Name, out, notes)
		for _, want := range []string{`authPass: "42"`, "vrrpVersion: 2", "https://127.0.0.1:6443/readyz", fmt.Sprintf("priority: %d", m.prio)} {
			if !strings.Contains(out, want) {
				t.Errorf("migration: %s: the converted config lacks %q", n.Name, want)
			}
		}
		if !strings.Contains(notes, "built-in apiserver check") {
			t.Errorf("migration: %s: no note about the check script becoming the built-in apiserver check", n.Name)
		}
		m.write("/etc/vipd/vipd.yaml", []byte(out), 0o644)
		// 3. vipd --config /etc/vipd/vipd.yaml, with its own control socket
		// and state directory in the lab.
		sock := filepath.Join(l.dir, fmt.Sprintf("vipd-%s.sock", n.Name))
		args := append(m.wrap(), filepath.Join(bin, "vipd"), "--config", "/etc/vipd/vipd.yaml",
			"--control-socket", sock, "--state-dir", filepath.Join(m.root, "var-lib-vipd"))
		v := &vipd{lab: l, node: n, vrid: vrid, sock: sock, vipctl: filepath.Join(bin, "vipctl")}
		v.pid = n.Start("vipd", args...)
		vs[h] = v
		// 4. Wait until vipd is Backup, hears the Master, and its apiserver
		// check is up (rise 2 at interval 3 s), before the next master.
		waitFor(t, 20*time.Second, fmt.Sprintf("vipd on %s: check up, hearing the Master", n.Name), func() (bool, string) {
			in, err := v.inst()
			if err != nil {
				return false, err.Error()
			}
			up := len(in.Checks) == 1 && in.Checks[0].Up
			return up && in.AdvertsReceived >= 3 && (in.State == "BACKUP" || in.State == "MASTER"),
				fmt.Sprintf("%s (%s) eff %d received %d checks %+v", in.State, in.Reason, in.EffectivePriority, in.AdvertsReceived, in.Checks)
		})
		t.Logf("migration: %s replaced in %v", n.Name, time.Since(stepStart).Round(time.Millisecond))
	}

	// Backups first, lowest priority first: the VIP stays on h0's keepalived.
	for _, h := range []int{2, 1} {
		migrate(h)
		if s := ks[0].State(); s != "MASTER" {
			t.Fatalf("migration: keepalived on h0 is %s after h%d's replacement, want MASTER", s, h)
		}
		if s := vs[h].State(); s != "BACKUP" {
			t.Fatalf("migration: vipd on h%d is %s under keepalived's Master, want BACKUP", h, s)
		}
	}
	// The Master last: keepalived's priority 0 advert hands the VIP to vipd
	// on h1 (100) after Skew_Time; vipd on h0 (101) then preempts it once its
	// check is up.
	migrate(0)
	waitFor(t, 20*time.Second, "vipd on h0 Master, h1 and h2 Backup, VIP on h0 only", func() (bool, string) {
		s0, s1, s2 := vs[0].State(), vs[1].State(), vs[2].State()
		hs := holders(l, vip)
		return s0 == "MASTER" && s1 == "BACKUP" && s2 == "BACKUP" && len(hs) == 1 && hs[0] == "h0",
			fmt.Sprintf("h0 %s h1 %s h2 %s, VIP on %v", s0, s1, s2, hs)
	})
	waitFor(t, 5*time.Second, "client answered by h0", func() (bool, string) {
		h, _ := pr.LastHost()
		return pr.StableOn("h0", time.Second), "last answer from " + h
	})
	// Settled: three advert intervals with the VIP on h0 alone.
	for end := time.Now().Add(3 * advertInterval); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		if hs := holders(l, vip); len(hs) != 1 || hs[0] != "h0" {
			t.Fatalf("migration: after the last step the VIP is on %v, want h0 alone", hs)
		}
	}
	r := pr.Stop()
	hw.Stop()

	t.Logf("migration: took %v; client: %v", time.Since(migrationStart).Round(time.Millisecond), r)
	if r.LongestGap > maxGap {
		t.Errorf("migration: the client's longest gap was %v (from %v into the run), limit %v",
			r.LongestGap.Round(time.Millisecond), r.GapStart.Sub(r.Start).Round(time.Millisecond), maxGap)
	}
	if r.DupAnswers > 0 {
		t.Errorf("migration: %d probes answered by two hosts", r.DupAnswers)
	}
	dual, dualAt, none, changes, err := hw.report()
	if err != nil {
		t.Errorf("migration: reading addresses: %v", err)
	}
	t.Logf("migration: VIP holders: %s", strings.Join(changes, ", "))
	t.Logf("migration: longest time with two holders %v, with none %v", dual, none)
	if dual > advertInterval {
		t.Errorf("migration: two hosts held the VIP for %v from %s, longer than one advert interval (%v)",
			dual, dualAt.Format("15:04:05.000"), advertInterval)
	}
	for h, v := range vs {
		in := v.mustInst(t)
		t.Logf("migration: vipd on h%d: %s (%s) eff %d, received %d, drops %v, transitions %v",
			h, in.State, in.Reason, in.EffectivePriority, in.AdvertsReceived, in.Drops, in.Transitions)
		if in.Drops["auth"] != 0 {
			t.Errorf("migration: vipd on h%d counted %d auth drops", h, in.Drops["auth"])
		}
		interopCheckVipd(t, v, "message-only")
	}
}
