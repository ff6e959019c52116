//go:build unix

package health

import (
	"os/exec"
	"syscall"
)

// killGroupOnCancel runs the command in a process group of its own and, when
// the probe's context ends, kills the whole group, so that a shell script's
// children die with it.
func killGroupOnCancel(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error {
		return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
}
