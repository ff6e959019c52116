package health

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// probeWithin runs p with the given timeout.
func probeWithin(t *testing.T, p probeFunc, timeout time.Duration) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), timeout)
	defer cancel()
	return p(ctx)
}

func wantErr(t *testing.T, err error, parts ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("err = nil, want one containing %q", parts)
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Errorf("err = %v, want it to contain %q", err, p)
		}
	}
}

func TestHTTPProbe(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "" {
			t.Errorf("probe sent credentials")
		}
		w.Write([]byte("ok"))
	})
	mux.HandleFunc("/unready", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "[-]etcd failed: reason withheld\n"+strings.Repeat("x", 2000), http.StatusInternalServerError)
	})
	mux.HandleFunc("/moved", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/readyz", http.StatusFound)
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()

	probe := func(path string) error {
		return probeWithin(t, newProbe(Spec{Kind: KindHTTP, Target: srv.URL + path}), time.Second)
	}
	if err := probe("/readyz"); err != nil {
		t.Errorf("200: %v", err)
	}
	err := probe("/unready")
	wantErr(t, err, "status 500", "etcd failed", "(truncated)")
	if len(err.Error()) > 2*maxOutput {
		t.Errorf("error is %d bytes long, want the body truncated", len(err.Error()))
	}
	wantErr(t, probe("/moved"), "status 302")

	srv.Close()
	wantErr(t, probe("/readyz"), "connection refused")
}

// testPKI is a CA that signs the certificates of a test: the cluster CA of
// kubeadm, or the client CA of an apiserver.
type testPKI struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	file string // the CA certificate, PEM
}

func newPKI(t *testing.T, name string) *testPKI {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	f := filepath.Join(t.TempDir(), name+".crt")
	if err := os.WriteFile(f, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	return &testPKI{cert: cert, key: key, file: f}
}

// issue signs a leaf certificate for cn with the given SANs, for a server
// or, with client set, a client.
func (ca *testPKI) issue(t *testing.T, cn string, client bool, dns []string, ips ...net.IP) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	usage := x509.ExtKeyUsageServerAuth
	if client {
		usage = x509.ExtKeyUsageClientAuth
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage},
		DNSNames: dns, IPAddresses: ips,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// writeKeyPair writes c as PEM certificate and key files.
func writeKeyPair(t *testing.T, c tls.Certificate) (certFile, keyFile string) {
	t.Helper()
	dir := t.TempDir()
	kder, err := x509.MarshalPKCS8PrivateKey(c.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "client.crt"), filepath.Join(dir, "client.key")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Certificate[0]}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

// serveTLS starts an https server on 127.0.0.1 with cert; tc, when not
// nil, adds to its TLS configuration (client authentication).
func serveTLS(t *testing.T, cert tls.Certificate, tc *tls.Config, h http.HandlerFunc) *httptest.Server {
	t.Helper()
	if h == nil {
		h = func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) }
	}
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the handshakes the tests make fail
	if tc == nil {
		tc = &tls.Config{}
	}
	tc.Certificates = []tls.Certificate{cert}
	srv.TLS = tc
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

// withHost is srv's URL with its host replaced.
func withHost(srv *httptest.Server, host, path string) string {
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	return "https://" + net.JoinHostPort(host, port) + path
}

// TestHTTPSServerName checks the name an https check verifies: kubeadm's
// "kubernetes" for a loopback address only, the URL's own host otherwise,
// and an explicit ServerName always.
func TestHTTPSServerName(t *testing.T) {
	ca := newPKI(t, "kubernetes-ca")
	// kubeadm's apiserver certificate: no 127.0.0.1, no localhost.
	kubeadm := serveTLS(t, ca.issue(t, "kube-apiserver", false,
		[]string{"kubernetes", "kubernetes.default", "kubernetes.default.svc"}, net.ParseIP("10.96.0.1")), nil, nil)
	// A service whose certificate covers localhost only.
	local := serveTLS(t, ca.issue(t, "local", false, []string{"localhost"}), nil, nil)

	tests := []struct {
		name, url, serverName string
		want                  string // in the error; "" for success
	}{
		{"loopback address verifies kubernetes", withHost(kubeadm, "127.0.0.1", "/readyz"), "", ""},
		{"DNS name verifies itself, not kubernetes", withHost(kubeadm, "localhost", "/readyz"), "", "not localhost"},
		{"DNS name verifies itself", withHost(local, "localhost", "/"), "", ""},
		{"loopback address of a non-apiserver", withHost(local, "127.0.0.1", "/"), "", "not kubernetes"},
		{"explicit name wins over the DNS name", withHost(kubeadm, "localhost", "/readyz"), "kubernetes.default", ""},
		{"explicit name wins over loopback", withHost(local, "127.0.0.1", "/"), "localhost", ""},
		{"explicit wrong name", withHost(kubeadm, "127.0.0.1", "/readyz"), "etcd", "not etcd"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := Spec{Name: "api", Kind: KindHTTPS, Target: tt.url, CAFile: ca.file, ServerName: tt.serverName}
			err := probeWithin(t, newProbe(s), 5*time.Second)
			if tt.want == "" {
				if err != nil {
					t.Errorf("err = %v, want nil", err)
				}
				return
			}
			wantErr(t, err, tt.want)
		})
	}
}

func TestHTTPSProbe(t *testing.T) {
	ca := newPKI(t, "kubernetes-ca")
	srv := serveTLS(t, ca.issue(t, "kube-apiserver", false, []string{"kubernetes"}), nil, nil)
	garbage := filepath.Join(t.TempDir(), "garbage.crt")
	if err := os.WriteFile(garbage, []byte("not a certificate"), 0o644); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(t.TempDir(), "pki", "ca.crt")

	tests := []struct {
		name, caFile string
		want         []string // in the error; nil for success
	}{
		{"right CA", ca.file, nil},
		{"wrong CA", newPKI(t, "other-ca").file, []string{"unknown authority"}},
		{"system roots", "", []string{"unknown authority"}},
		// Before kubeadm init: no cluster CA yet. Never skip verification.
		{"CA file missing", missing, []string{"CA file " + missing + " not readable yet", "no such file"}},
		{"CA file is not PEM", garbage, []string{"CA file " + garbage + ": no PEM certificate"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := Spec{Name: "api", Kind: KindHTTPS, Target: srv.URL + "/readyz", CAFile: tt.caFile}
			err := probeWithin(t, newProbe(s), 5*time.Second)
			if tt.want == nil {
				if err != nil {
					t.Errorf("err = %v, want nil", err)
				}
				return
			}
			wantErr(t, err, tt.want...)
		})
	}
}

// TestHTTPSProbeCAFollowed follows the CA file from absent (a failure
// naming it) to written by kubeadm (verified) to rotated, re-reading it
// only when its modification time or size changes.
func TestHTTPSProbeCAFollowed(t *testing.T) {
	ca := newPKI(t, "kubernetes-ca")
	srv := serveTLS(t, ca.issue(t, "kube-apiserver", false, []string{"kubernetes"}), nil, nil)
	b, err := os.ReadFile(ca.file)
	if err != nil {
		t.Fatal(err)
	}

	file := filepath.Join(t.TempDir(), "ca.crt")
	p := newProbe(Spec{Kind: KindHTTPS, Target: srv.URL, CAFile: file})
	wantErr(t, probeWithin(t, p, 5*time.Second), "CA file "+file+" not readable yet")

	// kubeadm init writes the cluster CA.
	if err := os.WriteFile(file, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := probeWithin(t, p, 5*time.Second); err != nil {
		t.Fatalf("CA written: %v", err)
	}

	// Same size, same modification time: not re-read, still verifies.
	fi, err := os.Stat(file)
	if err != nil {
		t.Fatal(err)
	}
	junk := []byte(strings.Repeat("x", len(b)))
	if err := os.WriteFile(file, junk, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(file, fi.ModTime(), fi.ModTime()); err != nil {
		t.Fatal(err)
	}
	if err := probeWithin(t, p, 5*time.Second); err != nil {
		t.Errorf("unchanged mtime and size: %v, want the cached CA", err)
	}
	// A new modification time: re-read.
	if err := os.Chtimes(file, fi.ModTime().Add(time.Second), fi.ModTime().Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	wantErr(t, probeWithin(t, p, 5*time.Second), "no PEM certificate")

	// Rotated to another CA: verification follows.
	other, err := os.ReadFile(newPKI(t, "other-ca").file)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, other, 0o644); err != nil {
		t.Fatal(err)
	}
	wantErr(t, probeWithin(t, p, 5*time.Second), "unknown authority")

	// Removed: a failure naming it, never an unverified probe.
	if err := os.Remove(file); err != nil {
		t.Fatal(err)
	}
	wantErr(t, probeWithin(t, p, 5*time.Second), "CA file "+file+" not readable yet")
}

// TestHTTPSClientCertificate is an apiserver with --anonymous-auth=false:
// 401 without a client certificate, 200 with one it accepts, 403 for an
// identity it does not authorise.
func TestHTTPSClientCertificate(t *testing.T) {
	serving, clients := newPKI(t, "kubernetes-ca"), newPKI(t, "client-ca")
	pool := x509.NewCertPool()
	pool.AddCert(clients.cert)
	srv := serveTLS(t, serving.issue(t, "kube-apiserver", false, []string{"kubernetes"}),
		&tls.Config{ClientAuth: tls.VerifyClientCertIfGiven, ClientCAs: pool},
		func(w http.ResponseWriter, r *http.Request) {
			switch {
			case len(r.TLS.PeerCertificates) == 0:
				http.Error(w, `{"kind":"Status","reason":"Unauthorized","code":401}`, http.StatusUnauthorized)
			case r.TLS.PeerCertificates[0].Subject.CommonName != "vipd":
				http.Error(w, `forbidden: User "intruder" cannot get path "/readyz"`, http.StatusForbidden)
			default:
				w.Write([]byte("ok"))
			}
		})
	run := func(t *testing.T, certFile, keyFile string) Result {
		t.Helper()
		s := Spec{Name: "apiserver", Kind: KindHTTPS, Target: srv.URL + "/readyz", CAFile: serving.file,
			CertFile: certFile, KeyFile: keyFile, Timeout: 5 * time.Second}
		return (&check{spec: s, probe: newProbe(s)}).run(t.Context())
	}

	r := run(t, "", "")
	if r.OK || r.Status != OutcomeUnauthorized {
		t.Errorf("anonymous: %+v, want status %q", r, OutcomeUnauthorized)
	}
	wantErr(t, errors.New(r.Err), "status 401", "refuses anonymous /readyz", "cert=, key=", "anonymous.conditions")

	cert, key := writeKeyPair(t, clients.issue(t, "vipd", true, nil))
	if r := run(t, cert, key); !r.OK || r.Status != OutcomeOK {
		t.Errorf("with the client certificate: %+v, want OK", r)
	}

	bad, badKey := writeKeyPair(t, clients.issue(t, "intruder", true, nil))
	r = run(t, bad, badKey)
	if r.OK || r.Status != OutcomeForbidden {
		t.Errorf("unauthorised identity: %+v, want status %q", r, OutcomeForbidden)
	}
	wantErr(t, errors.New(r.Err), "status 403", bad, "may not get /readyz")

	missing := filepath.Join(t.TempDir(), "apiserver-health.crt")
	r = run(t, missing, key)
	if r.OK || r.Status != OutcomeFailed {
		t.Errorf("missing certificate: %+v, want a failure", r)
	}
	wantErr(t, errors.New(r.Err), "client certificate file "+missing+" not readable yet")

	// A key that is not the certificate's fails until the pair matches.
	s := Spec{Name: "apiserver", Kind: KindHTTPS, Target: srv.URL + "/readyz", CAFile: serving.file, CertFile: cert, KeyFile: badKey}
	p := newProbe(s)
	wantErr(t, probeWithin(t, p, 5*time.Second), "client certificate "+cert+" and key "+badKey)
	goodKey, err := os.ReadFile(key)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(badKey, goodKey, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := probeWithin(t, p, 5*time.Second); err != nil {
		t.Errorf("after the key was replaced: %v", err)
	}
}

// fakeLinks answers net.InterfaceByName from a table.
type fakeLinks map[string]net.Flags

func (f fakeLinks) byName(name string) (*net.Interface, error) {
	fl, ok := f[name]
	if !ok {
		return nil, &net.OpError{Op: "route", Net: "ip+net", Err: errors.New("no such network interface")}
	}
	return &net.Interface{Name: name, Flags: fl}, nil
}

func TestInterfaceProbe(t *testing.T) {
	links := fakeLinks{
		"eth0":  net.FlagUp | net.FlagRunning | net.FlagBroadcast,
		"eth1":  net.FlagBroadcast,              // ip link set eth1 down
		"bond0": net.FlagUp | net.FlagBroadcast, // up, no carrier
	}
	tests := []struct{ name, want string }{
		{"eth0", ""},
		{"eth1", "interface eth1 is administratively down (IFF_UP clear)"},
		{"bond0", "interface bond0 has no carrier (IFF_RUNNING clear)"},
		{"eth9", "interface eth9 is missing"},
	}
	for _, tt := range tests {
		err := probeWithin(t, interfaceProbe(tt.name, links.byName), time.Second)
		if tt.want == "" {
			if err != nil {
				t.Errorf("%s: %v, want up", tt.name, err)
			}
			continue
		}
		wantErr(t, err, tt.want)
	}
	wantErr(t, probeWithin(t, interfaceProbe("eth0", func(string) (*net.Interface, error) {
		return nil, errors.New("netlink: message truncated")
	}), time.Second), "interface eth0: reading its state", "truncated")

	// The real lookup: loopback exists and is up in every namespace.
	if err := probeWithin(t, newProbe(Spec{Kind: KindInterface, Target: "lo"}), time.Second); err != nil &&
		!strings.Contains(err.Error(), "no carrier") {
		t.Errorf("lo: %v", err)
	}
	wantErr(t, probeWithin(t, newProbe(Spec{Kind: KindInterface, Target: "vipdnosuch0"}), time.Second), "is missing")
}

func TestTCPProbe(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	p := newProbe(Spec{Kind: KindTCP, Target: addr})
	if err := probeWithin(t, p, time.Second); err != nil {
		t.Errorf("listening: %v", err)
	}
	ln.Close()
	wantErr(t, probeWithin(t, p, time.Second), "connection refused")
}

func TestExecProbe(t *testing.T) {
	exec := func(argv ...string) probeFunc { return newProbe(Spec{Kind: KindExec, Command: argv}) }
	if err := probeWithin(t, exec("true"), 5*time.Second); err != nil {
		t.Errorf("true: %v", err)
	}
	wantErr(t, probeWithin(t, exec("sh", "-c", "echo not ready; echo to stderr >&2; exit 3"), 5*time.Second),
		"exit status 3", "not ready", "to stderr")
	err := probeWithin(t, exec("sh", "-c", "yes | head -c 100000; exit 1"), 5*time.Second)
	wantErr(t, err, "exit status 1", "(truncated)")
	if len(err.Error()) > 2*maxOutput {
		t.Errorf("error is %d bytes long, want the output truncated", len(err.Error()))
	}
	wantErr(t, probeWithin(t, exec("/nonexistent/check"), 5*time.Second), "no such file")
}

// TestExecProbeTimeout checks that a command that outlives its timeout is
// killed with its whole process group, promptly.
func TestExecProbeTimeout(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "pid")
	script := `sleep 60 & echo $! > "$1"; echo started; wait`
	start := time.Now()
	err := probeWithin(t, newProbe(Spec{Kind: KindExec, Command: []string{"sh", "-c", script, "sh", pidFile}}), 300*time.Millisecond)
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("probe took %v with a 300ms timeout", took)
	}
	wantErr(t, err, "timed out, process group killed", "started")

	b, rerr := os.ReadFile(pidFile)
	if rerr != nil {
		t.Fatal(rerr)
	}
	pid, rerr := strconv.Atoi(strings.TrimSpace(string(b)))
	if rerr != nil {
		t.Fatal(rerr)
	}
	// The grandchild must be gone or a zombie awaiting its reaper.
	deadline := time.Now().Add(5 * time.Second)
	for {
		stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if err != nil {
			break // gone
		}
		if f := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:])); len(f) > 0 && f[0] == "Z" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("grandchild %d still running after the probe timed out: %s", pid, stat)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
