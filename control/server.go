package control

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// Source produces a status document on demand.
type Source func(ctx context.Context) (Status, error)

// Handler serves the status document at /status, and, when ops is not nil,
// the write operations POST /maintenance?on=BOOL[&instance=NAME] and
// POST /resign[?instance=NAME].
func Handler(src Source, ops ...Ops) http.Handler {
	mux := http.NewServeMux()
	if len(ops) > 0 && ops[0] != nil {
		o := ops[0]
		mux.HandleFunc("POST /maintenance", func(w http.ResponseWriter, r *http.Request) {
			on, err := strconv.ParseBool(r.URL.Query().Get("on"))
			if err != nil {
				http.Error(w, `{"error":"on must be true or false"}`, http.StatusBadRequest)
				return
			}
			serveOp(w, r, func(ctx context.Context, who Caller, instance string) ([]string, error) {
				return o.Maintenance(ctx, who, instance, on)
			})
		})
		mux.HandleFunc("POST /resign", func(w http.ResponseWriter, r *http.Request) {
			serveOp(w, r, o.Resign)
		})
	}
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, r *http.Request) {
		st, err := src(r.Context())
		if err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(st)
	})
	return mux
}

// Listen creates the unix socket at path, readable and writable by its owner (root)
// only. A stale socket left by a killed daemon is replaced; a live one is an error,
// so that two daemons never share one socket.
func Listen(path string) (net.Listener, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("control: creating socket directory: %w", err)
	}
	if c, err := net.DialTimeout("unix", path, 200*time.Millisecond); err == nil {
		c.Close()
		return nil, fmt.Errorf("control: %s: %w", path, ErrInUse)
	}
	// Only a socket is ever replaced: a regular file (or anything else) at the
	// path is the operator's, and a typo in --control-socket must not delete it.
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode().Type() != os.ModeSocket {
			return nil, fmt.Errorf("control: %s exists and is not a socket (%s): %w", path, fi.Mode().Type(), ErrNotSocket)
		}
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("control: removing the stale socket %s: %w", path, err)
		}
	}
	// Create with a restrictive umask effect by chmod before anyone can connect:
	// the socket is created, then narrowed, before Accept is ever called.
	// Created under umask 077, so that it is never connectable by others,
	// not even between its creation and the chmod below.
	old := syscall.Umask(0o077)
	l, err := net.Listen("unix", path)
	syscall.Umask(old)
	if err != nil {
		return nil, fmt.Errorf("control: listening on %s: %w", path, err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		l.Close()
		return nil, fmt.Errorf("control: restricting %s: %w", path, err)
	}
	return l, nil
}

// ErrNotSocket means the control socket's path holds something else, which is
// left alone.
var ErrNotSocket = errors.New("not a socket")

// ErrInUse means another daemon already answers on the control socket.
var ErrInUse = errors.New("socket is in use by a running vipd")

// Serve serves h on l until ctx ends.
func Serve(ctx context.Context, l net.Listener, h http.Handler) error {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second, ConnContext: connContext}
	done := make(chan struct{})
	go func() {
		defer close(done)
		<-ctx.Done()
		_ = srv.Close()
	}()
	err := srv.Serve(l)
	<-done
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}
