package health

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"time"
)

// Sentinels of the probes, wrapped in the errors they return.
var (
	// ErrUnauthorized: the server answered 401 (an apiserver with
	// --anonymous-auth=false, or a client certificate it does not accept).
	ErrUnauthorized = errors.New("unauthorized")
	// ErrForbidden: the server answered 403 (the identity, anonymous or the
	// client certificate's, may not get the URL).
	ErrForbidden = errors.New("forbidden")
)

// maxOutput is how much of a failed probe's output (an HTTP body, a
// command's stdout and stderr) goes into Result.Err.
const maxOutput = 512

// probeFunc runs one probe; ctx carries the probe's timeout. nil is success.
type probeFunc func(ctx context.Context) error

// newProbe returns the probe of a valid spec.
func newProbe(s Spec) probeFunc {
	switch s.Kind {
	case KindHTTP, KindHTTPS:
		return newHTTPProbe(s).probe
	case KindTCP:
		return tcpProbe(s.Target)
	case KindInterface:
		return interfaceProbe(s.Target, net.InterfaceByName)
	default:
		return execProbe(s.Command)
	}
}

type httpProbe struct {
	url, path  string
	serverName string
	ca         *watchedFile // nil: the system roots
	cert, key  *watchedFile // nil: no client certificate

	pool    *x509.CertPool  // parsed from ca's current contents
	keyPair tls.Certificate // parsed from cert's and key's current contents
}

// newHTTPProbe returns the probe of a valid http or https spec. The probe
// is called from one goroutine at a time.
func newHTTPProbe(s Spec) *httpProbe {
	p := &httpProbe{url: s.Target, serverName: s.ServerName}
	u, _ := url.Parse(s.Target) // valid: Validate parsed it
	p.path = u.Path
	if p.path == "" {
		p.path = "/"
	}
	if s.Kind != KindHTTPS {
		return p
	}
	if p.serverName == "" {
		if a, err := netip.ParseAddr(u.Hostname()); err == nil && a.Unmap().IsLoopback() {
			// kubeadm's apiserver certificate has no 127.0.0.1 SAN.
			p.serverName = DefaultTLSServerName
		}
	}
	if s.CAFile != "" {
		p.ca = &watchedFile{path: s.CAFile, what: "CA file"}
	}
	if s.CertFile != "" {
		p.cert = &watchedFile{path: s.CertFile, what: "client certificate file"}
		p.key = &watchedFile{path: s.KeyFile, what: "client key file"}
	}
	return p
}

func (p *httpProbe) probe(ctx context.Context) error {
	tc, err := p.tlsConfig()
	if err != nil {
		return err
	}
	c := &http.Client{
		Transport: &http.Transport{
			Proxy:             nil, // a local probe never goes through HTTP(S)_PROXY
			DialContext:       (&net.Dialer{}).DialContext,
			TLSClientConfig:   tc,
			DisableKeepAlives: true, // every probe exercises a new connection
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.url, nil)
	if err != nil {
		return err
	}
	req.Header.Set("User-Agent", "vipd-health")
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxOutput+1))
	switch resp.StatusCode {
	case http.StatusOK:
		return nil
	case http.StatusUnauthorized:
		return fmt.Errorf("status 401: %w: %s: %s", ErrUnauthorized, p.unauthorizedFix(), truncate(body))
	case http.StatusForbidden:
		return fmt.Errorf("status 403: %w: %s: %s", ErrForbidden, p.forbiddenFix(), truncate(body))
	}
	return fmt.Errorf("status %d: %s", resp.StatusCode, truncate(body))
}

// unauthorizedFix says why a 401 happened and how to fix it.
func (p *httpProbe) unauthorizedFix() string {
	if p.cert != nil {
		return fmt.Sprintf("the apiserver does not accept the client certificate %s: give the check a certificate signed by the apiserver's client CA (--client-ca-file)", p.cert.path)
	}
	return fmt.Sprintf("the apiserver refuses anonymous %s: give the check a client certificate (cert=, key=) of an identity allowed to get %s, "+
		"or allow anonymous access to the health endpoints (Kubernetes 1.32 AuthenticationConfiguration anonymous.conditions)", p.path, p.path)
}

// forbiddenFix says why a 403 happened and how to fix it.
func (p *httpProbe) forbiddenFix() string {
	if p.cert != nil {
		return fmt.Sprintf("the identity of the client certificate %s may not get %s: grant it get on the nonResourceURL %s (RBAC)", p.cert.path, p.path, p.path)
	}
	return fmt.Sprintf("anonymous requests may not get %s: give the check a client certificate (cert=, key=) of an identity allowed to get %s, "+
		"or restore the system:public-info-viewer binding for system:unauthenticated", p.path, p.path)
}

// tlsConfig verifies the server with the CA file's current contents and
// presents the client certificate's; it re-reads a file only when its
// modification time or size changed. A file that is missing or unreadable
// fails the probe, naming the file: the check never skips verification.
func (p *httpProbe) tlsConfig() (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: p.serverName}
	if p.ca != nil {
		b, changed, err := p.ca.read()
		if err != nil {
			return nil, err
		}
		if changed || p.pool == nil {
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(b) {
				p.ca.forget()
				return nil, fmt.Errorf("CA file %s: no PEM certificate", p.ca.path)
			}
			p.pool = pool
		}
		tc.RootCAs = p.pool
	}
	if p.cert != nil {
		cb, cchanged, err := p.cert.read()
		if err != nil {
			return nil, err
		}
		kb, kchanged, err := p.key.read()
		if err != nil {
			return nil, err
		}
		if cchanged || kchanged || p.keyPair.Certificate == nil {
			kp, err := tls.X509KeyPair(cb, kb)
			if err != nil {
				// Retry on the next probe: the pair may be mid-rotation.
				p.cert.forget()
				p.key.forget()
				return nil, fmt.Errorf("client certificate %s and key %s: %w", p.cert.path, p.key.path, err)
			}
			p.keyPair = kp
		}
		tc.Certificates = []tls.Certificate{p.keyPair}
	}
	return tc, nil
}

// watchedFile caches a file's contents and re-reads it when its
// modification time or size changes. Only successful reads are cached, so
// a file that could not be read or parsed is tried again on every probe.
type watchedFile struct {
	path, what string // what names the file in errors: "CA file"

	read1   bool
	modTime time.Time
	size    int64
	data    []byte
}

// read returns the file's contents and whether they are new since the
// last read.
func (f *watchedFile) read() ([]byte, bool, error) {
	fi, err := os.Stat(f.path)
	if err != nil {
		f.forget()
		return nil, false, fmt.Errorf("%s %s not readable yet: %w", f.what, f.path, err)
	}
	if f.read1 && fi.ModTime().Equal(f.modTime) && fi.Size() == f.size {
		return f.data, false, nil
	}
	b, err := os.ReadFile(f.path)
	if err != nil {
		f.forget()
		return nil, false, fmt.Errorf("%s %s not readable yet: %w", f.what, f.path, err)
	}
	f.read1, f.modTime, f.size, f.data = true, fi.ModTime(), fi.Size(), b
	return b, true, nil
}

// forget drops the cache: the next read reads the file.
func (f *watchedFile) forget() { f.read1, f.data = false, nil }

// interfaceProbe is up while the interface exists, is administratively up
// and has carrier. byName is net.InterfaceByName outside tests.
func interfaceProbe(name string, byName func(string) (*net.Interface, error)) probeFunc {
	return func(ctx context.Context) error {
		type answer struct {
			ifi *net.Interface
			err error
		}
		ch := make(chan answer, 1)
		go func() {
			defer func() {
				if r := recover(); r != nil {
					ch <- answer{nil, fmt.Errorf("interface %s: internal error: %v", name, r)}
				}
			}()
			ifi, err := byName(name)
			ch <- answer{ifi, err}
		}()
		var a answer
		select {
		case a = <-ch:
		case <-ctx.Done():
			return fmt.Errorf("interface %s: reading its state: %w", name, context.Cause(ctx))
		}
		switch {
		case a.err != nil && strings.Contains(a.err.Error(), "no such network interface"):
			return fmt.Errorf("interface %s is missing: %w", name, a.err)
		case a.err != nil:
			return fmt.Errorf("interface %s: reading its state: %w", name, a.err)
		case a.ifi.Flags&net.FlagUp == 0:
			return fmt.Errorf("interface %s is administratively down (IFF_UP clear): ip link set %s up", name, name)
		case a.ifi.Flags&net.FlagRunning == 0:
			return fmt.Errorf("interface %s has no carrier (IFF_RUNNING clear): check the cable, switch port or peer", name)
		}
		return nil
	}
}

func tcpProbe(addr string) probeFunc {
	return func(ctx context.Context) error {
		c, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
		if err != nil {
			return err
		}
		return c.Close()
	}
}

func execProbe(argv []string) probeFunc {
	return func(ctx context.Context) error {
		cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
		var out limitedBuffer
		cmd.Stdout, cmd.Stderr = &out, &out
		killGroupOnCancel(cmd)
		// A child that leaves a grandchild holding its output open must
		// not hold the probe past its timeout.
		cmd.WaitDelay = 500 * time.Millisecond
		err := cmd.Run()
		if ctx.Err() != nil {
			err = fmt.Errorf("timed out, process group killed: %w", context.Cause(ctx))
		}
		if err != nil {
			if b := out.Bytes(); len(b) > 0 {
				return fmt.Errorf("%w: %s", err, truncate(b))
			}
			return err
		}
		return nil
	}
}

// limitedBuffer keeps the first maxOutput+1 bytes written to it and
// accepts, without keeping, the rest: the command must never block or fail
// on a full pipe.
type limitedBuffer struct{ bytes.Buffer }

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if room := maxOutput + 1 - b.Len(); room > 0 {
		b.Buffer.Write(p[:min(room, len(p))])
	}
	return len(p), nil
}

// truncate renders probe output for Result.Err: at most maxOutput bytes,
// trimmed, marked when cut.
func truncate(b []byte) string {
	cut := len(b) > maxOutput
	b = bytes.TrimSpace(b[:min(len(b), maxOutput)])
	if cut {
		return fmt.Sprintf("%q (truncated)", b)
	}
	return fmt.Sprintf("%q", b)
}
