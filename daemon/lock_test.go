package daemon

import (
	"errors"
	"net/netip"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/vipd/vipd/config"
)

func lockTestInstance(ifname string, vrid int, vips ...string) config.Instance {
	in := config.Instance{Name: "api", Interface: ifname, VRID: vrid}
	for _, v := range vips {
		in.VIPs = append(in.VIPs, netip.MustParseAddr(v))
	}
	return in
}

func TestSecondCopyIsRefused(t *testing.T) {
	dir := t.TempDir()
	ins := []config.Instance{lockTestInstance("eth0", 51, "198.18.0.100")}
	first, err := lockInstances(dir, ins)
	if err != nil {
		t.Fatal(err)
	}
	_, err = lockInstances(dir, ins)
	if !errors.Is(err, config.ErrConfig) || !strings.Contains(err.Error(), "vrid:") ||
		!strings.Contains(err.Error(), "pid ") {
		t.Fatalf("second copy: %v; want a config error naming vrid and the holder's pid", err)
	}
	unlockAll(first)
	again, err := lockInstances(dir, ins)
	if err != nil {
		t.Fatalf("after the first copy let go: %v", err)
	}
	unlockAll(again)
}

// Two copies at the same moment: exactly one wins, however they interleave.
func TestConcurrentCopiesOneWins(t *testing.T) {
	dir := t.TempDir()
	ins := []config.Instance{
		lockTestInstance("eth0", 51, "198.18.0.100"),
		lockTestInstance("eth0", 52, "198.18.0.101"),
	}
	for round := 0; round < 20; round++ {
		var wg sync.WaitGroup
		results := make([][]*instanceLock, 8)
		for i := range results {
			wg.Go(func() { results[i], _ = lockInstances(dir, ins) })
		}
		wg.Wait()
		winners := 0
		for _, r := range results {
			if r != nil {
				winners++
				unlockAll(r)
			}
		}
		if winners != 1 {
			t.Fatalf("round %d: %d copies won, want exactly 1", round, winners)
		}
	}
}

func TestLiveVIPsSeesOnlyHeldLocks(t *testing.T) {
	dir := t.TempDir()
	other, err := lockInstances(dir, []config.Instance{lockTestInstance("eth0", 7, "198.18.0.7")})
	if err != nil {
		t.Fatal(err)
	}
	dead, err := lockInstances(dir, []config.Instance{lockTestInstance("eth0", 8, "198.18.0.8")})
	if err != nil {
		t.Fatal(err)
	}
	unlockAll(dead) // its process died: the file stays, the lock is gone
	elsewhere, err := lockInstances(dir, []config.Instance{lockTestInstance("eth1", 9, "198.18.0.9")})
	if err != nil {
		t.Fatal(err)
	}
	ours, err := lockInstances(dir, []config.Instance{lockTestInstance("eth0", 10, "198.18.0.10")})
	if err != nil {
		t.Fatal(err)
	}
	got := liveVIPs(dir, "eth0", ours)
	if len(got) != 1 || got[0] != netip.MustParseAddr("198.18.0.7") {
		t.Fatalf("live VIPs on eth0: %v, want only 198.18.0.7 (held by another copy)", got)
	}
	unlockAll(other)
	unlockAll(elsewhere)
	unlockAll(ours)
}

func TestUnwritableStateDirNamesTheFlag(t *testing.T) {
	file := t.TempDir() + "/not-a-dir"
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := lockInstances(file, []config.Instance{lockTestInstance("eth0", 51, "198.18.0.100")})
	if !errors.Is(err, config.ErrConfig) || !strings.Contains(err.Error(), "--state-dir") {
		t.Fatalf("state dir that is a file: %v", err)
	}
}

// Two copies with different state directories still exclude each other in
// one network namespace: the abstract socket is the namespace's.
func TestCopiesWithOtherStateDirsAreRefused(t *testing.T) {
	ins := []config.Instance{lockTestInstance("eth9", 77, "198.18.0.77")}
	first, err := lockInstances(t.TempDir(), ins)
	if err != nil {
		t.Fatal(err)
	}
	_, err = lockInstances(t.TempDir(), ins)
	if !errors.Is(err, config.ErrConfig) || !strings.Contains(err.Error(), "network namespace") {
		t.Fatalf("second copy with its own state dir: %v", err)
	}
	unlockAll(first)
	again, err := lockInstances(t.TempDir(), ins)
	if err != nil {
		t.Fatalf("after the first let go: %v", err)
	}
	unlockAll(again)
}
