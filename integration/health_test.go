//go:build integration

package integration

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// fakeAPIServer serves GET /readyz with 200 over TLS on 127.0.0.1:6443 inside a
// host's namespace, with a certificate for "kubernetes" signed by a CA of its own,
// as kubeadm's apiserver is. Close stops it (the apiserver dies).
type fakeAPIServer struct {
	srv *http.Server
}

type testCA struct {
	file string
	cert tls.Certificate
}

// newTestCA writes a CA to a file and returns a serving certificate for the SAN
// "kubernetes", which the apiserver check verifies against (health.DefaultTLSServerName).
func newTestCA(t *testing.T) testCA {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "kubernetes-ca"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "kube-apiserver"},
		DNSNames: []string{"kubernetes", "kubernetes.default"}, NotBefore: time.Now().Add(-time.Hour),
		NotAfter: time.Now().Add(time.Hour), ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "ca.crt")
	if err := os.WriteFile(file, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o644); err != nil {
		t.Fatal(err)
	}
	return testCA{file: file, cert: tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}}
}

func startFakeAPIServer(t *testing.T, n *node, ca testCA) *fakeAPIServer {
	t.Helper()
	var l net.Listener
	if err := inNetns(n.NS, func() (err error) {
		l, err = net.Listen("tcp", "127.0.0.1:6443")
		return err
	}); err != nil {
		t.Fatalf("apiserver in %s: %v", n.Name, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("ok")) })
	s := &fakeAPIServer{srv: &http.Server{Handler: mux, TLSConfig: &tls.Config{Certificates: []tls.Certificate{ca.cert}}}}
	go s.srv.ServeTLS(l, "", "")
	t.Cleanup(s.Close)
	return s
}

func (s *fakeAPIServer) Close() { s.srv.Close() }

// healthStatus reads one instance's status, with its checks.
func healthStatus(t *testing.T, vipctl, sock string) (state string, eff int, checkUp bool) {
	t.Helper()
	out, err := exec.Command(vipctl, "--socket", sock, "status", "--json").Output()
	if err != nil {
		return "", 0, false
	}
	var st struct {
		Instances []struct {
			State             string `json:"state"`
			EffectivePriority int    `json:"effective_priority"`
			Checks            []struct {
				Up bool `json:"up"`
			} `json:"checks"`
		} `json:"instances"`
	}
	if json.Unmarshal(out, &st) != nil || len(st.Instances) != 1 || len(st.Instances[0].Checks) != 1 {
		return "", 0, false
	}
	in := st.Instances[0]
	return in.State, in.EffectivePriority, in.Checks[0].Up
}

// TestHealthBootstrapAndAPIServerTracking is issue 5's bootstrap: before
// `kubeadm init` no apiserver answers anywhere, every master is penalised equally
// from its first second, so the highest base priority holds the VIP and keeps it.
// When one master's apiserver comes up (verified against the cluster CA), that
// master takes the VIP; when it dies, the VIP leaves it again.
func TestHealthBootstrapAndAPIServerTracking(t *testing.T) {
	l := newLab(t, 3, withoutIPv6())
	bin := vipdBinaries(l)
	ca := newTestCA(t)
	prios := []int{110, 100, 105}
	socks := make([]string, 3)
	for i := range 3 {
		socks[i] = filepath.Join(l.dir, "health-"+strconv.Itoa(i)+".sock")
		l.host(i).Start("vipd", filepath.Join(bin, "vipd"), "--interface", hostIf, "--vip", l.VIP4.String(),
			"--vrid", "60", "--priority", strconv.Itoa(prios[i]), "--advert-interval", "100ms",
			"--control-socket", socks[i],
			"--track-apiserver", "https://127.0.0.1:6443/readyz,interval=200ms,timeout=150ms,rise=3,fall=2,ca="+ca.file)
	}
	vipctl := filepath.Join(bin, "vipctl")
	state := func(i int) string { s, _, _ := healthStatus(t, vipctl, socks[i]); return s }
	waitFor(t, 10*time.Second, "h0 (highest base) master during bootstrap", func() (bool, string) {
		return state(0) == "MASTER" && l.host(0).HasAddr(l.VIP4), "h0 " + state(0)
	})
	// Nothing answers anywhere: all rank in the lower half (tierPriority),
	// in the order of their base priorities; nobody moves.
	for end := time.Now().Add(3 * time.Second); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		for i := range 3 {
			s, eff, up := healthStatus(t, vipctl, socks[i])
			if want := map[int]string{0: "MASTER", 1: "BACKUP", 2: "BACKUP"}[i]; s != want || eff != tierPriority(prios[i], false) || up {
				t.Fatalf("bootstrap: h%d is %s with effective priority %d (check up %v); want %s, %d, down", i, s, eff, up, want, tierPriority(prios[i], false))
			}
		}
		if l.host(1).HasAddr(l.VIP4) || l.host(2).HasAddr(l.VIP4) {
			t.Fatal("bootstrap: a backup holds the VIP")
		}
	}

	// kubeadm init ran on h1: its apiserver is ready. After rise successes h1
	// ranks in the upper half, above every failing master, and preempts.
	api := startFakeAPIServer(t, l.host(1), ca)
	waitFor(t, 10*time.Second, "h1 master once its apiserver is ready", func() (bool, string) {
		s, eff, up := healthStatus(t, vipctl, socks[1])
		return s == "MASTER" && l.host(1).HasAddr(l.VIP4) && !l.host(0).HasAddr(l.VIP4) && eff == tierPriority(100, true) && up,
			"h1 " + s + " eff " + strconv.Itoa(eff)
	})

	// The apiserver dies: after fall failures h1 drops to the lower half and
	// h0 (the highest base there) takes over.
	api.Close()
	waitFor(t, 10*time.Second, "h0 master after h1's apiserver died", func() (bool, string) {
		return state(0) == "MASTER" && l.host(0).HasAddr(l.VIP4) && !l.host(1).HasAddr(l.VIP4), "h0 " + state(0) + " h1 " + state(1)
	})
}

// TestHealthWrongCAFails: an apiserver whose certificate the cluster CA did not
// sign counts as down (the check verifies; it does not trust any server).
func TestHealthWrongCAFails(t *testing.T) {
	l := newLab(t, 1, withoutIPv6())
	bin := vipdBinaries(l)
	trusted, other := newTestCA(t), newTestCA(t)
	startFakeAPIServer(t, l.host(0), other)
	sock := filepath.Join(l.dir, "ca.sock")
	l.host(0).Start("vipd", filepath.Join(bin, "vipd"), "--interface", hostIf, "--vip", l.VIP4.String(),
		"--vrid", "61", "--priority", "100", "--advert-interval", "100ms", "--control-socket", sock,
		"--track-apiserver", "https://127.0.0.1:6443/readyz,interval=100ms,rise=1,fall=1,ca="+trusted.file)
	vipctl := filepath.Join(bin, "vipctl")
	waitFor(t, 5*time.Second, "master", func() (bool, string) {
		s, _, _ := healthStatus(t, vipctl, sock)
		return s == "MASTER", s
	})
	for end := time.Now().Add(time.Second); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		if _, eff, up := healthStatus(t, vipctl, sock); up || eff != tierPriority(100, false) {
			t.Fatalf("check up %v, effective priority %d: a certificate from another CA was trusted", up, eff)
		}
	}
}

// tierPriority is the effective priority vipd gives a base priority with the
// apiserver check's default (a tier check, daemon.effectivePriority): every
// master whose apiserver answers ranks above every one whose apiserver does
// not, and within each half the base priorities keep their order.
func tierPriority(base int, up bool) int {
	if up {
		return 127 + (base+1)/2
	}
	return (base + 1) / 2
}
