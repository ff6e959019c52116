package health

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
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

// newTLSServer is an httptest TLS server that does not log the handshakes
// the tests make fail.
func newTLSServer(t *testing.T) *httptest.Server {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

// otherCA writes a CA file holding a self-signed certificate that signed
// nothing the tests serve.
func otherCA(t *testing.T) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "other-ca"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(t.TempDir(), "other-ca.crt")
	if err := os.WriteFile(f, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	return f
}

// writeCA writes the certificate of srv as a PEM CA file.
func writeCA(t *testing.T, srv *httptest.Server) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "ca.crt")
	b := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	if err := os.WriteFile(f, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return f
}

func TestHTTPSProbe(t *testing.T) {
	srv := newTLSServer(t)
	garbage := filepath.Join(t.TempDir(), "garbage.crt")
	if err := os.WriteFile(garbage, []byte("not a certificate"), 0o644); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name, caFile, serverName string
		want                     string // in the error; "" for success
	}{
		{"right CA", writeCA(t, srv), "", ""},
		// httptest's certificate covers example.com, as kubeadm's covers "kubernetes".
		{"right CA and server name", writeCA(t, srv), "example.com", ""},
		{"right CA, wrong server name", writeCA(t, srv), "kubernetes", "not kubernetes"},
		{"wrong CA", otherCA(t), "", "unknown authority"},
		{"system roots", "", "", "unknown authority"},
		// Before kubeadm init: no cluster CA yet, nothing to verify with.
		{"CA file missing", filepath.Join(t.TempDir(), "pki", "ca.crt"), "", ""},
		{"CA file is not PEM", garbage, "", "no PEM certificate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := Spec{Name: "api", Kind: KindHTTPS, Target: srv.URL + "/readyz", CAFile: tt.caFile, ServerName: tt.serverName}
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

// TestHTTPSProbeCAAppears follows the CA file from absent (skip
// verification) to written by kubeadm (verify), without a new probe.
func TestHTTPSProbeCAAppears(t *testing.T) {
	srv := newTLSServer(t)

	ca := filepath.Join(t.TempDir(), "ca.crt")
	p := newProbe(Spec{Kind: KindHTTPS, Target: srv.URL, CAFile: ca})
	if err := probeWithin(t, p, 5*time.Second); err != nil {
		t.Fatalf("no CA yet: %v", err)
	}
	if err := os.Rename(otherCA(t), ca); err != nil {
		t.Fatal(err)
	}
	wantErr(t, probeWithin(t, p, 5*time.Second), "unknown authority")
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
