package daemon

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vipd/vipd/config"
)

// A vipd proves it is the only copy serving a virtual router before it touches
// an address: it holds an exclusive flock(2) on one file per interface, family
// and VRID under <state-dir>/locks for its whole life. The kernel drops the lock
// when the process dies, however it dies, so a lock file is never stale; the
// file itself stays behind and records the holder's PID and VIPs, which tells
// a later vipd which marked addresses on the interface are still someone's.
// (keepalived takes a pidfile lock the same way since 2.3.2.)

// lockDirName is the directory under the state directory that holds the locks.
const lockDirName = "locks"

// ErrLocked is wrapped when another live vipd holds a virtual router's lock.
var ErrLocked = errors.New("daemon: another vipd serves this virtual router")

// instanceLock is one held lock: the flock on the file, and a bound abstract
// unix socket named for the virtual router. Abstract sockets belong to the
// network namespace, whatever the filesystem: two copies with different
// --state-dir (a pod without the hostPath, a debugging run) still exclude
// each other.
type instanceLock struct {
	f    *os.File
	path string
	abs  net.Listener
}

// abstractName is the virtual router's abstract socket ("@" is the
// abstract namespace in Go's unix addresses).
func abstractName(ifname string, family, vrid int) string {
	return fmt.Sprintf("@vipd/%s/ipv%d/vrid%d", ifname, family, vrid)
}

// lockName is the file name of a virtual router's lock. It names the network
// namespace too: an interface name and a VRID mean one virtual router only
// within one namespace, and copies in other namespaces (containers, test
// labs) that share the state directory do not contend.
func lockName(ifname string, family, vrid int) string {
	return fmt.Sprintf("%s%s.ipv%d.vrid%d.lock", netnsPrefix(), ifname, family, vrid)
}

// netnsPrefix identifies the network namespace of the process by the inode of
// /proc/self/ns/net, as "net<inode>.".
func netnsPrefix() string {
	fi, err := os.Stat("/proc/self/ns/net")
	if err != nil {
		return "net0."
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return "net0."
	}
	return fmt.Sprintf("net%d.", st.Ino)
}

// lockInstances takes the lock of every instance, in a fixed order so that two
// copies started at the same moment contend for the same first lock and exactly
// one goes on, and returns them in the order of ins. On any failure it
// releases what it took.
func lockInstances(dir string, ins []config.Instance) ([]*instanceLock, error) {
	ldir := filepath.Join(dir, lockDirName)
	if err := os.MkdirAll(ldir, 0o700); err != nil && !dirExists(ldir) {
		return nil, config.NewFieldError("--state-dir", "give a writable directory (the pod mounts it as a hostPath)", "%v", err)
	}
	order := make([]int, len(ins))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int {
		return strings.Compare(lockName(ins[a].Interface, ins[a].Family(), ins[a].VRID), lockName(ins[b].Interface, ins[b].Family(), ins[b].VRID))
	})
	var held []*instanceLock
	out := make([]*instanceLock, len(ins))
	for _, i := range order {
		in := ins[i]
		l, err := lockOne(filepath.Join(ldir, lockName(in.Interface, in.Family(), in.VRID)), in.VIPs)
		if err == nil {
			if l.abs, err = net.Listen("unix", abstractName(in.Interface, in.Family(), in.VRID)); err != nil {
				l.release()
				if errors.Is(err, unix.EADDRINUSE) {
					err = fmt.Errorf("%w (a vipd in this network namespace holds %s; its --state-dir is another)",
						ErrLocked, abstractName(in.Interface, in.Family(), in.VRID))
				} else {
					err = fmt.Errorf("daemon: binding %s: %w", abstractName(in.Interface, in.Family(), in.VRID), err)
				}
			}
		}
		if err != nil {
			unlockAll(held)
			if errors.Is(err, ErrLocked) {
				return nil, config.NewFieldError(in.Field("vrid"),
					"stop the other vipd first (a second copy would fight it for the VIP), or give this virtual router another VRID",
					"VRID %d on %s: %v", in.VRID, in.Interface, err)
			}
			return nil, fmt.Errorf("daemon: instance %s: %w", in.Name, err)
		}
		held = append(held, l)
		out[i] = l
	}
	return out, nil
}

func lockOne(path string, vips []netip.Addr) (*instanceLock, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|unix.O_CLOEXEC, 0o600)
	if err != nil && (errors.Is(err, unix.EROFS) || errors.Is(err, unix.EACCES)) {
		// A read-only state dir: flock needs no write access to a lock
		// file that exists (it only cannot record the holder).
		f, err = os.OpenFile(path, os.O_RDONLY|unix.O_CLOEXEC, 0)
	}
	if err != nil {
		return nil, fmt.Errorf("daemon: opening lock %s: %w", path, err)
	}
	// A sweep by another starting vipd (liveVIPs) holds a shared lock for a
	// moment; a real holder holds it for good. Try a few times.
	for try := 0; try < 5; try++ {
		if err = unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); !errors.Is(err, unix.EWOULDBLOCK) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		holder, _ := readLock(f)
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			if holder.pid > 0 {
				return nil, fmt.Errorf("%w (pid %d holds %s)", ErrLocked, holder.pid, path)
			}
			return nil, fmt.Errorf("%w (%s is held)", ErrLocked, path)
		}
		return nil, fmt.Errorf("daemon: locking %s: %w", path, err)
	}
	// What the file says is information for others, not the lock itself: a full
	// disk that keeps it from being written costs only that information.
	_ = writeLock(f, os.Getpid(), vips)
	return &instanceLock{f: f, path: path}, nil
}

// release drops the lock. The file stays: removing it would race with a
// newcomer that opened it and waits on the old inode.
func (l *instanceLock) release() {
	if l == nil {
		return
	}
	if l.abs != nil {
		_ = l.abs.Close()
		l.abs = nil
	}
	if l.f != nil {
		_ = l.f.Close()
		l.f = nil
	}
}

func unlockAll(ls []*instanceLock) {
	for _, l := range ls {
		l.release()
	}
}

// lockInfo is what a lock file records.
type lockInfo struct {
	pid  int
	vips []netip.Addr
}

func writeLock(f *os.File, pid int, vips []netip.Addr) error {
	var b strings.Builder
	fmt.Fprintf(&b, "pid=%d\n", pid)
	for _, v := range vips {
		fmt.Fprintf(&b, "vip=%s\n", v)
	}
	if err := f.Truncate(0); err != nil {
		return err
	}
	if _, err := f.WriteAt([]byte(b.String()), 0); err != nil {
		return err
	}
	return f.Sync()
}

func readLock(f *os.File) (lockInfo, error) {
	var info lockInfo
	b := make([]byte, 4096)
	n, err := f.ReadAt(b, 0)
	if n == 0 && err != nil {
		return info, err
	}
	for _, line := range strings.Split(string(b[:n]), "\n") {
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		switch k {
		case "pid":
			info.pid, _ = strconv.Atoi(v)
		case "vip":
			if a, err := netip.ParseAddr(v); err == nil {
				info.vips = append(info.vips, a)
			}
		}
	}
	return info, nil
}

// liveVIPs returns the VIPs that other live vipd processes hold locks for on
// ifname: marked addresses a stale-VIP sweep must leave alone. A lock file
// that can be locked belongs to nobody; one of our own is skipped.
func liveVIPs(dir, ifname string, ours []*instanceLock) []netip.Addr {
	ldir := filepath.Join(dir, lockDirName)
	ents, err := os.ReadDir(ldir)
	if err != nil {
		return nil
	}
	var out []netip.Addr
	for _, e := range ents {
		if !strings.HasPrefix(e.Name(), netnsPrefix()+ifname+".ipv") || !strings.HasSuffix(e.Name(), ".lock") {
			continue
		}
		path := filepath.Join(ldir, e.Name())
		if slices.ContainsFunc(ours, func(l *instanceLock) bool { return l.path == path }) {
			continue
		}
		f, err := os.Open(path)
		if err != nil {
			continue
		}
		if unix.Flock(int(f.Fd()), unix.LOCK_SH|unix.LOCK_NB) == nil {
			f.Close() // nobody holds it
			continue
		}
		info, _ := readLock(f)
		f.Close()
		out = append(out, info.vips...)
	}
	return out
}

func dirExists(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}
