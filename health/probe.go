package health

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"time"
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
		p := &httpProbe{url: s.Target, caFile: s.CAFile, serverName: s.ServerName}
		return p.probe
	case KindTCP:
		return tcpProbe(s.Target)
	default:
		return execProbe(s.Command)
	}
}

type httpProbe struct {
	url, caFile, serverName string
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
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %d: %s", resp.StatusCode, truncate(body))
	}
	return nil
}

// tlsConfig reads the CA file on every probe so that verification starts as
// soon as kubeadm writes it, and follows its rotation.
func (p *httpProbe) tlsConfig() (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: p.serverName}
	if p.caFile == "" {
		return tc, nil
	}
	pem, err := os.ReadFile(p.caFile)
	if errors.Is(err, fs.ErrNotExist) {
		// The cluster CA does not exist yet (before kubeadm init). The
		// probe sends no credentials and reads only a status code; see
		// the package documentation.
		tc.InsecureSkipVerify = true
		return tc, nil
	}
	if err != nil {
		return nil, fmt.Errorf("ca file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("ca file %s: no PEM certificate", p.caFile)
	}
	tc.RootCAs = pool
	return tc, nil
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
