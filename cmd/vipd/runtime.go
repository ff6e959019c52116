package main

import (
	"os"
	"runtime"
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
//
// Set GOMAXPROCS in the environment to override.
func setRuntimeDefaults() {
	if os.Getenv("GOMAXPROCS") == "" {
		runtime.GOMAXPROCS(1)
	}
}
