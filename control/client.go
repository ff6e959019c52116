package control

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
)

// ErrUnreachable means no daemon answered on the control socket.
var ErrUnreachable = errors.New("vipd is not reachable")

// Fetch reads the status document from the daemon listening on the socket at path.
func Fetch(ctx context.Context, path string) (Status, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://vipd/status", nil)
	if err != nil {
		return Status{}, fmt.Errorf("control: %w", err)
	}
	resp, err := client(path).Do(req)
	if err != nil {
		return Status{}, fmt.Errorf("control: %s: %w: %v", path, ErrUnreachable, unwrapDial(err))
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return Status{}, fmt.Errorf("control: reading status: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return Status{}, fmt.Errorf("control: daemon answered %s: %s", resp.Status, body)
	}
	var st Status
	if err := json.Unmarshal(body, &st); err != nil {
		return Status{}, fmt.Errorf("control: decoding status: %w", err)
	}
	return st, nil
}

func unwrapDial(err error) error {
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		return op.Err
	}
	return err
}

// client talks HTTP over the unix socket at path.
func client(path string) *http.Client {
	return &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		},
	}}
}
