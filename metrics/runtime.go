package metrics

import (
	"bufio"
	"bytes"
	"os"
	"runtime"
	rtmetrics "runtime/metrics"
	"strconv"
	"strings"
)

// The Go and process metrics: a few of client_golang's Go and process
// collectors, with their names, help texts and types.
var (
	descGoroutines = gauge("go_goroutines", "Number of goroutines that currently exist.", nil)
	descThreads    = gauge("go_threads", "Number of OS threads created.", nil)
	descGoInfo     = gauge("go_info", "Information about the Go environment.", []string{"version"})
	descAlloc      = gauge("go_memstats_alloc_bytes", "Number of bytes allocated in heap and currently in use. Equals to /memory/classes/heap/objects:bytes.", nil)
	descSys        = gauge("go_memstats_sys_bytes", "Number of bytes obtained from system. Equals to /memory/classes/total:byte.", nil)
	descHeapInuse  = gauge("go_memstats_heap_inuse_bytes", "Number of heap bytes that are in use. Equals to /memory/classes/heap/objects:bytes + /memory/classes/heap/unused:bytes", nil)
	descCPU        = counter("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.", nil)
	descRSS        = gauge("process_resident_memory_bytes", "Resident memory size in bytes.", nil)
	descVSize      = gauge("process_virtual_memory_bytes", "Virtual memory size in bytes.", nil)
	descStart      = gauge("process_start_time_seconds", "Start time of the process since unix epoch in seconds.", nil)
	descOpenFDs    = gauge("process_open_fds", "Number of open file descriptors.", nil)
	descMaxFDs     = gauge("process_max_fds", "Maximum number of open file descriptors.", nil)
)

// addGo adds the Go runtime's metrics, read without stopping the world.
func (s *scrape) addGo() {
	s.add(descGoroutines, float64(runtime.NumGoroutine()))
	threads, _ := runtime.ThreadCreateProfile(nil)
	s.add(descThreads, float64(threads))
	s.add(descGoInfo, 1, runtime.Version())
	rs := []rtmetrics.Sample{
		{Name: "/memory/classes/heap/objects:bytes"},
		{Name: "/memory/classes/heap/unused:bytes"},
		{Name: "/memory/classes/total:bytes"},
	}
	rtmetrics.Read(rs)
	for _, r := range rs {
		if r.Value.Kind() != rtmetrics.KindUint64 {
			return
		}
	}
	objects, unused, total := rs[0].Value.Uint64(), rs[1].Value.Uint64(), rs[2].Value.Uint64()
	s.add(descAlloc, float64(objects))
	s.add(descSys, float64(total))
	s.add(descHeapInuse, float64(objects+unused))
}

// userHZ is the unit of /proc/self/stat's times, the kernel's USER_HZ; it is
// 100 on every Linux architecture (procfs assumes the same).
const userHZ = 100

// addProcess adds the process metrics from /proc/self (proc(5)), leaving out
// each one whose source cannot be read.
func (s *scrape) addProcess() {
	if f := procStat(); f != nil {
		// Fields 14 (utime), 15 (stime), 22 (starttime), 23 (vsize) and
		// 24 (rss) of proc(5), counted from 1; f starts at field 3.
		field := func(n int) (float64, bool) {
			v, err := strconv.ParseUint(f[n-3], 10, 64)
			return float64(v), err == nil
		}
		utime, ok1 := field(14)
		stime, ok2 := field(15)
		if ok1 && ok2 {
			s.add(descCPU, (utime+stime)/userHZ)
		}
		if v, ok := field(23); ok {
			s.add(descVSize, v)
		}
		if v, ok := field(24); ok {
			s.add(descRSS, v*float64(os.Getpagesize()))
		}
		if start, ok := field(22); ok {
			if boot, ok := bootTime(); ok {
				s.add(descStart, boot+start/userHZ)
			}
		}
	}
	if fds, err := os.ReadDir("/proc/self/fd"); err == nil {
		s.add(descOpenFDs, float64(len(fds)))
	}
	if v, ok := maxFDs(); ok {
		s.add(descMaxFDs, v)
	}
}

// procStat returns the fields of /proc/self/stat after the command name
// (which may hold spaces and parentheses), or nil.
func procStat() []string {
	b, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return nil
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return nil
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 24-2 {
		return nil
	}
	return f
}

// bootTime is /proc/stat's btime, the boot time in seconds since the epoch.
func bootTime() (float64, bool) {
	v, ok := procLine("/proc/stat", "btime")
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseUint(v[0], 10, 64)
	return float64(n), err == nil
}

// maxFDs is the soft limit on open files in /proc/self/limits.
func maxFDs() (float64, bool) {
	v, ok := procLine("/proc/self/limits", "Max open files")
	if !ok {
		return 0, false
	}
	if v[0] == "unlimited" {
		return float64(^uint64(0)), true
	}
	n, err := strconv.ParseUint(v[0], 10, 64)
	return float64(n), err == nil
}

// procLine returns the fields after prefix on the first line of file that
// starts with it.
func procLine(file, prefix string) ([]string, bool) {
	f, err := os.Open(file)
	if err != nil {
		return nil, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), prefix); ok {
			fields := strings.Fields(rest)
			return fields, len(fields) > 0
		}
	}
	return nil, false
}
