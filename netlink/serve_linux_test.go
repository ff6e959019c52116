package netlink

import (
	"errors"
	"net"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// goroutineID is the caller's goroutine number, from its stack header.
func goroutineID() string {
	b := make([]byte, 64)
	b = b[:runtime.Stack(b, false)]
	id, _, _ := strings.Cut(strings.TrimPrefix(string(b), "goroutine "), " ")
	return id
}

func newServing() *sysRTNL {
	r := &sysRTNL{reads: make(chan rtnlCall), writes: make(chan rtnlCall), closed: make(chan struct{})}
	go r.serve(r.reads)
	go r.serve(r.writes)
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
			err := r.read(func() error {
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
		_ = r.read(func() error { panic("boom") })
		t.Error("do returned after a panic")
	}()
	if err := r.read(func() error { return nil }); err != nil {
		t.Errorf("after a panic, the next request: %v", err)
	}
}

// After close, a request fails at once instead of waiting for a goroutine
// that is gone.
func TestRequestAfterClose(t *testing.T) {
	r := newServing()
	close(r.closed)
	if err := r.read(func() error { t.Error("a request ran after close"); return nil }); !errors.Is(err, net.ErrClosed) {
		t.Errorf("do after close: %v, want net.ErrClosed", err)
	}
}

// A change (a VIP added at a takeover) never waits behind a read (a status
// request's dump of a host with thousands of addresses): the lanes are
// separate.
func TestChangeDoesNotWaitForRead(t *testing.T) {
	r := newServing()
	defer close(r.closed)
	release := make(chan struct{})
	reading := make(chan struct{})
	go func() {
		_ = r.read(func() error { close(reading); <-release; return nil })
	}()
	<-reading
	done := make(chan error, 1)
	go func() { done <- r.change(func() error { return nil }) }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("change: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Error("a change waited for a read in progress")
	}
	close(release)
}
