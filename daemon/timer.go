package daemon

import (
	"fmt"
	"os"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// deadlineTimer is the instance's one-shot timer for the machine's next
// deadline (loop.go armDeadline). Reset and Stop are called by the loop
// only. A Reset may let an expiry of the time before it through: the loop
// treats an early EventTimer as nothing (election.Machine.Deadline) and
// arms the timer again.
type deadlineTimer interface {
	C() <-chan time.Time
	Reset(d time.Duration)
	Stop()
}

// runtimeTimer is a deadlineTimer on the Go runtime's timers: what tests use
// (testing/synctest runs them on its fake clock) and what an instance falls
// back to when no timerfd can be opened.
type runtimeTimer struct{ t *time.Timer }

func newRuntimeTimer() runtimeTimer { return runtimeTimer{newStoppedTimer()} }

func (r runtimeTimer) C() <-chan time.Time { return r.t.C }

// Reset never delivers a stale expiry (Go 1.23 timers).
func (r runtimeTimer) Reset(d time.Duration) { r.t.Reset(d) }

func (r runtimeTimer) Stop() { r.t.Stop() }

// fdTimer is a deadlineTimer on a Linux timerfd (timerfd_create(2)) that the
// netpoller waits on, for the idle cost (issue 12): every expiry of a Go
// runtime timer also wakes the runtime's sysmon thread, which sleeps until
// the next timer of the process, so a Master at 10 ms adverts woke two
// threads per advert where keepalived wakes one. A timerfd is a file to
// the runtime: sysmon sleeps on, and only the thread in epoll_pwait wakes.
// Its calls are raw (no runtime syscall entry, which would wake sysmon as
// well): each is a non-blocking call that returns at once.
//
// One goroutine (wait) reads the timerfd and delivers each expiry to C. If
// a read ever fails for another reason than the file being closed, the
// timer carries on as a runtimeTimer, so that the machine never loses its
// deadline.
type fdTimer struct {
	f  *os.File
	rc syscall.RawConn
	c  chan time.Time

	// The loop's side.
	spec    unix.ItimerSpec
	setErr  syscall.Errno
	setFn   func(fd uintptr)
	broken  atomic.Bool
	runtime *time.Timer // delivers to c once broken

	// wait's side.
	buf    [8]byte
	rerr   syscall.Errno
	readFn func(fd uintptr) bool
}

// openFDTimer opens a disarmed timer. Its goroutine is wait, which the
// caller starts; Close ends it.
func openFDTimer() (*fdTimer, error) {
	fd, err := unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_NONBLOCK|unix.TFD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("daemon: timerfd_create: %w", err)
	}
	f := os.NewFile(uintptr(fd), "timerfd")
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("daemon: timerfd: %w", err)
	}
	t := &fdTimer{f: f, rc: rc, c: make(chan time.Time, 1)}
	t.runtime = time.AfterFunc(time.Hour, t.deliver)
	t.runtime.Stop()
	t.setFn = func(fd uintptr) {
		_, _, t.setErr = unix.RawSyscall6(unix.SYS_TIMERFD_SETTIME, fd, 0, uintptr(unsafe.Pointer(&t.spec)), 0, 0, 0)
	}
	t.readFn = func(fd uintptr) bool {
		for {
			_, _, e := unix.RawSyscall(unix.SYS_READ, fd, uintptr(unsafe.Pointer(&t.buf[0])), uintptr(len(t.buf)))
			switch e {
			case unix.EINTR:
				continue
			case unix.EAGAIN:
				return false // not expired yet: wait until readable
			}
			t.rerr = e
			return true
		}
	}
	return t, nil
}

func (t *fdTimer) C() <-chan time.Time { return t.c }

// Reset arms the timer to fire once, d from now (at once if d ≤ 0).
func (t *fdTimer) Reset(d time.Duration) {
	t.drain()
	if t.broken.Load() || !t.set(max(d, time.Nanosecond)) {
		t.runtime.Reset(d)
	}
}

// Stop disarms the timer.
func (t *fdTimer) Stop() {
	if !t.set(0) {
		t.runtime.Stop()
	}
	t.drain()
}

// set arms the timerfd (0 disarms it); false if it could not, after which
// the runtime timer serves.
func (t *fdTimer) set(d time.Duration) bool {
	if t.broken.Load() {
		return false
	}
	t.spec = unix.ItimerSpec{Value: unix.NsecToTimespec(int64(d))}
	t.setErr = 0
	if err := t.rc.Control(t.setFn); err != nil || t.setErr != 0 {
		t.broken.Store(true)
		return false
	}
	return true
}

func (t *fdTimer) drain() {
	select {
	case <-t.c:
	default:
	}
}

// deliver hands one expiry to the loop; one pending is enough.
func (t *fdTimer) deliver() {
	select {
	case t.c <- time.Now():
	default:
	}
}

// wait delivers expiries until Close. A read that fails (other than the
// file closing) breaks the timerfd: it delivers one expiry, which makes the
// loop arm the timer again, now as a runtime timer.
func (t *fdTimer) wait() {
	for {
		if err := t.rc.Read(t.readFn); err != nil {
			if !t.closed() {
				t.broken.Store(true)
				t.deliver()
			}
			return
		}
		if t.rerr != 0 {
			t.broken.Store(true)
			t.deliver()
			return
		}
		t.deliver()
	}
}

func (t *fdTimer) closed() bool {
	return t.rc.Control(func(uintptr) {}) != nil
}

// Close ends wait and stops the timer.
func (t *fdTimer) Close() error {
	t.runtime.Stop()
	return t.f.Close()
}

// noteTimerBroken logs, once, that the instance's timerfd failed and its
// deadlines went over to the runtime's timers: the election is the same,
// only the idle cost is what it was before issue 12.
func (in *instance) noteTimerBroken() {
	ft, ok := in.deadline.(*fdTimer)
	if !ok || in.timerBroken || !ft.broken.Load() {
		return
	}
	in.timerBroken = true
	in.log.Warn("the deadline timer (timerfd) failed; using the runtime's timers from now on (the election is unchanged; idle CPU is higher)")
}
