package netlink

import (
	"errors"
	"net"
	"runtime"
	"strings"
	"sync"
	"testing"
)

// goroutineID is the caller's goroutine number, from its stack header.
func goroutineID() string {
	b := make([]byte, 64)
	b = b[:runtime.Stack(b, false)]
	id, _, _ := strings.Cut(strings.TrimPrefix(string(b), "goroutine "), " ")
	return id
}

func newServing() *sysRTNL {
	r := &sysRTNL{calls: make(chan rtnlCall), closed: make(chan struct{})}
	go r.serve()
	return r
}

// Every request runs on the one request goroutine, whoever makes it, and
// its error comes back to the caller (issue 12: only that goroutine needs
// the stack vishvananda/netlink's replies take).
func TestRequestsRunOnOneGoroutine(t *testing.T) {
	r := newServing()
	defer close(r.closed)
	var mu sync.Mutex
	ran := map[string]bool{}
	callers := map[string]bool{}
	errWant := errors.New("EEXIST, say")
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			mu.Lock()
			callers[goroutineID()] = true
			mu.Unlock()
			err := r.do(func() error {
				mu.Lock()
				ran[goroutineID()] = true
				mu.Unlock()
				return errWant
			})
			if !errors.Is(err, errWant) {
				t.Errorf("do returned %v, want the request's error", err)
			}
		})
	}
	wg.Wait()
	if len(ran) != 1 {
		t.Fatalf("requests ran on %d goroutines, want 1", len(ran))
	}
	for id := range ran {
		if callers[id] {
			t.Errorf("a request ran on its caller's goroutine %s", id)
		}
	}
}

// A panic in a request is raised again in the caller, where the instance's
// recovery hands off; the request goroutine serves on.
func TestRequestPanicReachesCaller(t *testing.T) {
	r := newServing()
	defer close(r.closed)
	func() {
		defer func() {
			p := recover()
			if p == nil || !strings.Contains(p.(string), "boom") {
				t.Errorf("caller recovered %v, want the request's panic", p)
			}
		}()
		_ = r.do(func() error { panic("boom") })
		t.Error("do returned after a panic")
	}()
	if err := r.do(func() error { return nil }); err != nil {
		t.Errorf("after a panic, the next request: %v", err)
	}
}

// After close, a request fails at once instead of waiting for a goroutine
// that is gone.
func TestRequestAfterClose(t *testing.T) {
	r := newServing()
	close(r.closed)
	if err := r.do(func() error { t.Error("a request ran after close"); return nil }); !errors.Is(err, net.ErrClosed) {
		t.Errorf("do after close: %v, want net.ErrClosed", err)
	}
}
