package control

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"

	"golang.org/x/sys/unix"
)

// The control socket's write operations: planned moves an operator asks for.
// The socket is root-only (Listen); every operation is logged with who asked,
// from the socket's peer credentials (SO_PEERCRED).

// Caller is who asked for an operation: the peer credentials of the
// connection, or zero values if the kernel gave none.
type Caller struct {
	PID, UID, GID int
}

func (c Caller) String() string { return fmt.Sprintf("pid=%d uid=%d gid=%d", c.PID, c.UID, c.GID) }

// Ops carries out write operations. An empty instance name means every
// instance. The result lists what was done, one line per instance.
type Ops interface {
	// Maintenance turns maintenance mode on or off (persisted).
	Maintenance(ctx context.Context, who Caller, instance string, on bool) ([]string, error)
	// Resign hands the VIPs of a Master off with zero loss, once.
	Resign(ctx context.Context, who Caller, instance string) ([]string, error)
}

// ErrNoInstance is wrapped when an operation names an instance that does not exist.
var ErrNoInstance = errors.New("no such instance")

// ErrNotApplicable is wrapped when an operation cannot apply to an instance
// (resigning a Backup, maintenance for the address owner).
var ErrNotApplicable = errors.New("not applicable")

type callerKey struct{}

// connContext records the peer credentials of a unix connection.
func connContext(ctx context.Context, c net.Conn) context.Context {
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return ctx
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return ctx
	}
	var cred *unix.Ucred
	_ = raw.Control(func(fd uintptr) {
		cred, _ = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	})
	if cred == nil {
		return ctx
	}
	return context.WithValue(ctx, callerKey{}, Caller{PID: int(cred.Pid), UID: int(cred.Uid), GID: int(cred.Gid)})
}

func callerOf(ctx context.Context) Caller {
	c, _ := ctx.Value(callerKey{}).(Caller)
	return c
}

// OpResult is the answer to a write operation.
type OpResult struct {
	Done  []string `json:"done"`
	Error string   `json:"error,omitempty"`
}

func serveOp(w http.ResponseWriter, r *http.Request, op func(ctx context.Context, who Caller, instance string) ([]string, error)) {
	done, err := op(r.Context(), callerOf(r.Context()), r.URL.Query().Get("instance"))
	res := OpResult{Done: done}
	code := http.StatusOK
	if err != nil {
		res.Error = err.Error()
		switch {
		case errors.Is(err, ErrNoInstance):
			code = http.StatusNotFound
		case errors.Is(err, ErrNotApplicable):
			code = http.StatusConflict
		default:
			code = http.StatusInternalServerError
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(res)
}

// Maintenance asks the daemon at path to turn maintenance mode on or off.
func Maintenance(ctx context.Context, path, instance string, on bool) (OpResult, error) {
	q := url.Values{"on": {strconv.FormatBool(on)}}
	if instance != "" {
		q.Set("instance", instance)
	}
	return post(ctx, path, "/maintenance?"+q.Encode())
}

// Resign asks the daemon at path to hand off the VIPs it holds.
func Resign(ctx context.Context, path, instance string) (OpResult, error) {
	q := url.Values{}
	if instance != "" {
		q.Set("instance", instance)
	}
	return post(ctx, path, "/resign?"+q.Encode())
}

func post(ctx context.Context, path, target string) (OpResult, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://vipd"+target, nil)
	if err != nil {
		return OpResult{}, fmt.Errorf("control: %w", err)
	}
	resp, err := client(path).Do(req)
	if err != nil {
		return OpResult{}, fmt.Errorf("control: %s: %w: %v", path, ErrUnreachable, unwrapDial(err))
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return OpResult{}, fmt.Errorf("control: reading the answer: %w", err)
	}
	var res OpResult
	if err := json.Unmarshal(body, &res); err != nil {
		return OpResult{}, fmt.Errorf("control: daemon answered %s: %s", resp.Status, body)
	}
	if res.Error != "" {
		return res, fmt.Errorf("control: %s", res.Error)
	}
	return res, nil
}
