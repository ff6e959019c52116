package main

import (
	"os"
	"runtime"
	"runtime/debug"
	"time"
)

// setRuntimeDefaults tunes the Go runtime for a daemon that is idle almost
// all the time and whose heap is tiny (issue 12), unless the environment
// says otherwise:
//
//   - GOMAXPROCS=1. vipd's work is a few goroutines handing each other a
//     packet or a timer at a time; with more than one P, every hand-off can
//     wake a spinning thread on another P (futex wake, spin, sleep), which at
//     10 ms adverts costs more than the work. Measured in
//     bench/results/idle.md: about a third less CPU at 16 VRIDs. Network I/O
//     is on the netpoller and blocking syscalls hand the P off, so one P
//     does not stall the adverts.
//   - GOGC and GOMEMLIMIT keep Go's defaults: the receive path allocates
//     nothing, the heap stays under the runtime's 4 MB floor, and a
//     collection is rare; a lower GOGC would buy nothing but more of them.
//   - Start-up's garbage is given back at once (returnStartupMemory).
//
// Set GOMAXPROCS in the environment to override.
func setRuntimeDefaults() {
	if os.Getenv("GOMAXPROCS") == "" {
		runtime.GOMAXPROCS(1)
	}
}

// returnStartupMemory collects and returns to the kernel, 10 s and 1 min
// after start, the garbage of start-up: the first link and address dumps,
// the configuration, the first takeover, which is most of the garbage a
// vipd ever makes, since the receive path allocates nothing. Left to the
// runtime, it stays resident until the forced collection of the second
// minute and the scavenger's pace after it: 2–3 MB more RSS for the first
// minutes with 16 VRIDs (bench/results/idle.md). Each call is one
// collection of a heap of a few MB.
func returnStartupMemory() {
	for _, after := range []time.Duration{10 * time.Second, time.Minute} {
		time.AfterFunc(after, debug.FreeOSMemory)
	}
}
