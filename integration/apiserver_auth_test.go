//go:build integration

package integration

// A hardened apiserver (issue 10): with --anonymous-auth=false, /readyz
// answers 401 to a request without a client certificate. The apiserver here
// is a TLS server on 127.0.0.1:6443 in the master's namespace that verifies
// client certificates against the cluster CA: no certificate is 401, a
// certificate of an identity without RBAC rights ("nobody") is 403, the
// health identity's certificate is 200. bin/vipd's --track-apiserver with
// cert= and key= sees the check up; without them the check is down with the
// result "unauthorized" in `vipctl status --json` and the fix in the log.

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// hardenedPKI is a cluster CA, the apiserver's serving certificate and two
// client certificates, as files.
type hardenedPKI struct {
	CA      string // ca.crt
	pool    *x509.CertPool
	serving tls.Certificate
	// Health is the least-privilege identity allowed to get /readyz; Nobody
	// authenticates but may not.
	HealthCert, HealthKey string
	NobodyCert, NobodyKey string
}

func newHardenedPKI(t *testing.T) hardenedPKI {
	t.Helper()
	dir := t.TempDir()
	write := func(name, typ string, der []byte) string {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "kubernetes"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	p := hardenedPKI{CA: write("ca.crt", "CERTIFICATE", caDER), pool: x509.NewCertPool()}
	p.pool.AddCert(ca)
	issue := func(serial int64, tmpl *x509.Certificate) ([]byte, *ecdsa.PrivateKey) {
		t.Helper()
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		tmpl.SerialNumber, tmpl.NotBefore, tmpl.NotAfter = big.NewInt(serial), now.Add(-time.Hour), now.Add(time.Hour)
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		return der, key
	}
	der, key := issue(2, &x509.Certificate{Subject: pkix.Name{CommonName: "kube-apiserver"},
		DNSNames: []string{"kubernetes", "kubernetes.default"}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
	p.serving = tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
	client := func(serial int64, cn string) (string, string) {
		der, key := issue(serial, &x509.Certificate{Subject: pkix.Name{CommonName: cn},
			ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
		kder, err := x509.MarshalECPrivateKey(key)
		if err != nil {
			t.Fatal(err)
		}
		return write(cn+".crt", "CERTIFICATE", der), write(cn+".key", "EC PRIVATE KEY", kder)
	}
	p.HealthCert, p.HealthKey = client(3, "vipd-health")
	p.NobodyCert, p.NobodyKey = client(4, "nobody")
	return p
}

// startHardenedAPIServer serves /readyz on 127.0.0.1:6443 in n's namespace
// as an apiserver with --anonymous-auth=false and RBAC that lets only
// vipd-health get /readyz.
func startHardenedAPIServer(t *testing.T, n *node, p hardenedPKI) {
	t.Helper()
	var l net.Listener
	if err := inNetns(n.NS, func() (err error) {
		l, err = net.Listen("tcp", "127.0.0.1:6443")
		return err
	}); err != nil {
		t.Fatalf("apiserver in %s: %v", n.Name, err)
	}
	status := func(w http.ResponseWriter, code int, reason string) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		w.Write([]byte(`{"kind":"Status","apiVersion":"v1","status":"Failure","message":"` + reason + `","code":` + strconv.Itoa(code) + `}`))
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.TLS == nil || len(r.TLS.VerifiedChains) == 0:
			status(w, http.StatusUnauthorized, "Unauthorized")
		case r.TLS.VerifiedChains[0][0].Subject.CommonName != "vipd-health":
			status(w, http.StatusForbidden, `forbidden: User \"`+r.TLS.VerifiedChains[0][0].Subject.CommonName+`\" cannot get path \"/readyz\"`)
		default:
			w.Write([]byte("ok"))
		}
	})
	srv := &http.Server{Handler: mux, TLSConfig: &tls.Config{
		Certificates: []tls.Certificate{p.serving},
		ClientAuth:   tls.VerifyClientCertIfGiven,
		ClientCAs:    p.pool,
	}}
	go srv.ServeTLS(l, "", "")
	t.Cleanup(func() { srv.Close() })
}

// TestHardenedAPIServer runs vipd on h0 three times against the hardened
// apiserver: with the health identity's certificate (check up, result ok),
// without a certificate (down, unauthorized, the fix in the log) and with
// nobody's (down, forbidden, the RBAC fix in the log).
func TestHardenedAPIServer(t *testing.T) {
	l := newLab(t, 1, withoutIPv6())
	p := newHardenedPKI(t)
	startHardenedAPIServer(t, l.host(0), p)
	const check = "https://127.0.0.1:6443/readyz,interval=200ms,timeout=150ms,rise=1,fall=1"

	type want struct {
		up            bool
		result        string
		logs          []string // what the log must say
		effectivePrio int
	}
	cases := []struct {
		name  string
		extra string
		want  want
	}{
		{"client certificate", ",cert=" + p.HealthCert + ",key=" + p.HealthKey,
			want{up: true, result: "ok", logs: []string{"health check up"}, effectivePrio: tierPriority(100, true)}},
		{"no client certificate", "",
			want{result: "unauthorized", effectivePrio: tierPriority(100, false), logs: []string{
				"health check down", "status 401", "refuses anonymous /readyz", "cert=, key=", "anonymous.conditions"}}},
		{"identity without RBAC", ",cert=" + p.NobodyCert + ",key=" + p.NobodyKey,
			want{result: "forbidden", effectivePrio: tierPriority(100, false), logs: []string{
				"health check down", "status 403", p.NobodyCert, "may not get /readyz", "RBAC"}}},
	}
	for _, c := range cases {
		v := startVipd(l, 0, vipdSpec{Priority: 100, Args: []string{"--track-apiserver", check + ",ca=" + p.CA + c.extra}})
		var last string
		waitFor(t, 5*time.Second, c.name+": check "+c.want.result, func() (bool, string) {
			in, err := v.inst()
			if err != nil || len(in.Checks) != 1 {
				return false, last
			}
			ch := in.Checks[0]
			last = ch.Result + " " + ch.LastError
			return ch.Result == c.want.result && ch.Up == c.want.up && in.EffectivePriority == c.want.effectivePrio &&
				ch.LastAt.After(time.Time{}), last
		})
		in := v.mustInst(t)
		ch := in.Checks[0]
		t.Logf("%s: check %s up=%v result %s, effective priority %d, last error %q, cause %q",
			c.name, ch.Name, ch.Up, ch.Result, in.EffectivePriority, ch.LastError, ch.Cause)
		// The log says it, within ten probes.
		if msg, ok := poll(2*time.Second, func() (bool, string) {
			text := v.logText()
			for _, s := range c.want.logs {
				if !strings.Contains(text, s) {
					return false, fmt.Sprintf("no %q", s)
				}
			}
			return true, ""
		}); !ok {
			t.Errorf("%s: the check is %s in the status, but vipd's log does not say so (%s); its log:\n%s", c.name, ch.Result, msg, v.logText())
		}
		if !c.want.up && !strings.Contains(ch.LastError, c.want.result) {
			t.Errorf("%s: status last_error %q does not say %s", c.name, ch.LastError, c.want.result)
		}
		v.Stop()
	}
}
